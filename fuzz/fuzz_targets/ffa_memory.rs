//! Fuzzes the FF-A proxy's memory side: a sequence of mailbox and memory calls
//! (RXTX_MAP/UNMAP, RX_RELEASE, PARTITION_INFO_GET, MEM_SHARE, MEM_LEND, MEM_RECLAIM) with fuzzed
//! registers, a fuzzed host TX page (a Linux-style share descriptor with fuzzed bytes
//! written over it) and fuzzed SPMC replies.
//!
//! Input: [0] negotiated minor (mod 3); [1..3] descriptor mutations count and seed; then
//! records of 41 bytes: [0] operation, [1..9] x1, [9..17] x2, [17..25] x3, [25..33] SPMC
//! reply selector and value, [33..41] descriptor mutation (offset, value), raw-registers flag,
//! first-fragment cut and protocol flags.
//!
//! The SPMC is the test kit's, answering with fuzzed replies ([`Spmc::respond`]). It keeps
//! the fragmented transaction it holds (handle, total, bytes received) as a real SPMC does,
//! so its `FFA_MEM_FRAG_RX` replies carry the real offset and handle most of the time and a
//! wrong one (offset off by a few bytes, another handle) otherwise; the host side can follow
//! the protocol (send the next fragment of its descriptor under the handle it was given,
//! reclaim a handle it holds), so multi-fragment SHARE and LEND reach their end.
//!
//! Invariants: no panic; memory is only touched at the hypervisor's mailbox pages or in host
//! RAM; the SPMC only ever gets the hypervisor's mailbox addresses in FFA_RXTX_MAP; every
//! FFA_MEM_SHARE or FFA_MEM_LEND the SPMC receives has x3 = w4 = 0 and the hypervisor's TX
//! holds, at that moment, a descriptor that parses for the negotiated version, names host
//! RAM only and is its own rebuild from the validated fields (no unvalidated byte; the same
//! for every FFA_MEM_FRAG_TX fragment); every page of a LEND is out of the host's stage 2 by then; the stage 2 (modelled
//! as a set of unmapped pages, whose changes fail at a fuzzed page) never unmaps a page twice
//! nor maps back one it did not unmap, and the proxy never copies to or from an unmapped page;
//! the lent-page count always equals the model's unmapped pages. The host gets
//! `FFA_MEM_FRAG_RX` only when the SPMC's was right (its handle, the offset the SPMC really
//! holds, a transaction not complete) and then exactly as the SPMC sent it; a wrong one is
//! refused (the host gets FFA_ERROR, one bad reply counted), never passed on; SUCCESS to
//! FFA_MEM_FRAG_TX reaches the host only for the last fragment under the transaction's handle.
#![no_main]

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use ffa_spec::fid;
use hypervisor::ffa::abi::Version;
use hypervisor::ffa::descriptor::{parse_constituents, parse_first_fragment, rebuild};
use hypervisor::ffa::{Outcome, Proxy};
use hypervisor::mm::Ranges;
use hypervisor::smccc::SmcRegs;
use hypervisor::testkit::{Hyp, SimMemory, SimStage2, Spmc};
use libfuzzer_sys::fuzz_target;

const FFA_ERROR: u64 = fid::ERROR as u64;
const SUCCESS_32: u64 = fid::SUCCESS_32 as u64;
const FFA_VERSION: u64 = fid::VERSION as u64;
const FFA_FEATURES: u64 = fid::FEATURES as u64;
const RX_RELEASE: u64 = fid::RX_RELEASE as u64;
const RXTX_MAP_32: u64 = fid::RXTX_MAP_32 as u64;
const RXTX_MAP_64: u64 = fid::RXTX_MAP_64 as u64;
const RXTX_UNMAP: u64 = fid::RXTX_UNMAP as u64;
const PART_INFO_GET: u64 = fid::PARTITION_INFO_GET as u64;
const MEM_LEND_32: u64 = fid::MEM_LEND_32 as u64;
const MEM_LEND_64: u64 = fid::MEM_LEND_64 as u64;
const MEM_SHARE_32: u64 = fid::MEM_SHARE_32 as u64;
const MEM_SHARE_64: u64 = fid::MEM_SHARE_64 as u64;
const MEM_RECLAIM: u64 = fid::MEM_RECLAIM as u64;
const MEM_FRAG_RX: u64 = fid::MEM_FRAG_RX as u64;
const MEM_FRAG_TX: u64 = fid::MEM_FRAG_TX as u64;

const HYP_TX: u64 = 0x6000_8000;
const HYP_RX: u64 = 0x6000_9000;
const RAM: [Range<u64>; 2] = [0x4000_0000..0x6000_0000, 0x6020_0000..0x8000_0000];

const OPS: [u64; 12] = [
    RXTX_MAP_64,
    RXTX_MAP_32,
    RXTX_UNMAP,
    RX_RELEASE,
    PART_INFO_GET,
    MEM_SHARE_64,
    MEM_SHARE_32,
    MEM_RECLAIM,
    FFA_FEATURES,
    MEM_LEND_64,
    MEM_LEND_32,
    MEM_FRAG_TX,
];

fn in_ram(pa: u64, len: usize) -> bool {
    let end = pa.saturating_add(len as u64);
    RAM.iter().any(|r| r.start <= pa && end <= r.end)
}

/// What the fuzzed SPMC holds and how it last answered a SHARE, LEND or FRAG_TX.
#[derive(Default)]
struct Model {
    /// The current record's reply selector and value.
    reply: (u8, u64),
    /// The fragmented transaction the SPMC holds: handle, total length, bytes received.
    held: Option<(u64, u32, u32)>,
    /// Handles the SPMC gave out for fragmented transactions.
    next_handle: u64,
    /// Its answer to the host's last SHARE, LEND or FRAG_TX (cleared before every call).
    last: Option<Last>,
}

/// The SPMC's answer to a SHARE, LEND or FRAG_TX, as the oracle judges it.
#[derive(Clone, Copy, Debug)]
enum Last {
    /// FFA_MEM_FRAG_RX; `right`: a transaction in progress asked for at the offset the SPMC
    /// holds, under its handle.
    FragRx {
        handle: u64,
        offset: u32,
        right: bool,
    },
    /// FFA_SUCCESS to FRAG_TX; `right`: the last fragment, under the transaction's handle.
    FragTxSuccess { right: bool },
    /// Anything else.
    Other,
}

fn handle_of(lo: u64, hi: u64) -> u64 {
    (lo & 0xFFFF_FFFF) | (hi & 0xFFFF_FFFF) << 32
}

/// The fuzzed SPMC's answer to `regs` (`reply` is the current record's selector and value),
/// after checking what reached it: only the hypervisor's mailbox addresses, only checked
/// descriptors naming host RAM, lent pages already out of the host's stage 2.
fn answer(
    regs: &SmcRegs,
    memory: &mut SimMemory,
    stage2: &SimStage2,
    ver: Version,
    model: &mut Model,
) -> SmcRegs {
    let mut r = [0u64; 18];
    // For SHARE, LEND and FRAG_TX: the transaction's handle (if the SPMC holds one), the
    // bytes it holds after this call, the total, and whether this is a first fragment.
    let mut fragment = None;
    match regs[0] {
        RXTX_MAP_64 => {
            assert_eq!(
                (regs[1], regs[2]),
                (HYP_TX, HYP_RX),
                "a host address reached the SPMC"
            );
        }
        MEM_SHARE_32 | MEM_SHARE_64 | MEM_LEND_32 | MEM_LEND_64 => {
            assert_eq!(
                (regs[3], regs[4]),
                (0, 0),
                "MEM_SHARE/LEND with a separate buffer"
            );
            let len = regs[2] as usize;
            assert!(len <= 4096);
            let lend = regs[0] & 0xFF == 0x72;
            let d = memory.peek(HYP_TX, len);
            let total = regs[1] as u32 as usize;
            let (share, _) = parse_first_fragment(&d, total, ver, lend)
                .expect("the SPMC got an unchecked descriptor");
            let mut rebuilt = d.clone();
            rebuild(&mut rebuilt, ver, true);
            assert_eq!(
                rebuilt, d,
                "the SPMC got bytes not rebuilt from validated fields"
            );
            for i in 0..share.count() {
                let c = share.range(i);
                assert!(in_ram(c.start, (c.end - c.start) as usize), "shared {c:x?}");
                if lend {
                    for page in c.clone().step_by(4096) {
                        assert!(
                            stage2.is_unmapped(page),
                            "lent {page:#x} still mapped for the host"
                        );
                    }
                }
            }
            let (total, frag) = (regs[1] as u32, regs[2] as u32);
            fragment = Some((None, frag, total, true));
        }
        MEM_FRAG_TX => {
            assert_eq!(regs[4], 0, "FRAG_TX with a sender ID");
            let len = regs[3] as usize;
            assert!(len <= 4096);
            let d = memory.peek(HYP_TX, len);
            let share = parse_constituents(&d).expect("the SPMC got an unchecked fragment");
            let mut rebuilt = d.clone();
            rebuild(&mut rebuilt, ver, false);
            assert_eq!(
                rebuilt, d,
                "the SPMC got bytes not rebuilt from validated fields"
            );
            for i in 0..share.count() {
                let c = share.range(i);
                assert!(in_ram(c.start, (c.end - c.start) as usize), "shared {c:x?}");
            }
            let held = model.held.take();
            let handle = handle_of(regs[1], regs[2]);
            assert!(
                held.is_some_and(|(h, ..)| h == handle),
                "FRAG_TX forwarded for a transaction the SPMC does not hold"
            );
            let (_, total, received) = held.unwrap_or_default();
            fragment = Some((
                Some(handle),
                received.saturating_add(len as u32),
                total,
                false,
            ));
        }
        // A RECLAIM does not end what the model holds: the proxy aborts a transaction with
        // one (and never sends its FRAG_TX again), but it also reclaims whatever handle a bad
        // FRAG_RX named, which may be the one held; the next first fragment replaces it.
        _ => {}
    }
    let (sel, value) = model.reply;
    match sel % 6 {
        0 => r[0] = SUCCESS_32,
        1 => {
            r[0] = SUCCESS_32;
            // Mostly the handle of the transaction in progress when there is one.
            let handle = match fragment {
                Some((Some(h), ..)) if value & 1 != 0 => h,
                _ => value,
            };
            r[2] = handle & 0xFFFF_FFFF;
            r[3] = handle >> 32;
        }
        2 => {
            r[0] = FFA_ERROR;
            r[2] = value;
        }
        3 => {
            r[0] = MEM_FRAG_RX;
            // The real handle and offset (3 times in 4), or a wrong one.
            let (handle, offset) = match fragment {
                Some((Some(h), received, ..)) => (h, received),
                Some((None, received, ..)) => {
                    model.next_handle += 1;
                    (0x5EC0_0000_0000 | model.next_handle, received)
                }
                None => (value, (value >> 40) as u32),
            };
            let delta = ((value >> 2) & 0xFF) as u32 | 1;
            let (handle, offset) = match (value & 3, (value >> 10) & 3) {
                (1..=3, _) => (handle, offset),
                (_, 0) => (handle, offset.wrapping_add(delta)),
                (_, 1) => (handle, offset.wrapping_sub(delta)),
                (_, 2) => (handle ^ (value >> 12 | 1), offset),
                _ => (value, (value >> 40) as u32),
            };
            r[1] = handle & 0xFFFF_FFFF;
            r[2] = handle >> 32;
            r[3] = u64::from(offset);
        }
        4 => {
            // The SPMC writes partition descriptors into its RX.
            let data: Vec<u8> = (0..256).map(|i| (i as u8) ^ (value as u8)).collect();
            memory.poke(HYP_RX, &data);
            r[0] = SUCCESS_32;
            r[2] = value & 0xFF;
            r[3] = (value >> 8) & 0xFF;
        }
        _ => {
            r[0] = value;
            r[1] = value.rotate_left(7);
        }
    }
    if let Some((held, received, total, first)) = fragment {
        // What the SPMC holds after its answer, and how the oracle judges the answer.
        let handle = handle_of(r[1], r[2]);
        model.last = Some(if r[0] == MEM_FRAG_RX {
            let right =
                received < total && r[3] as u32 == received && held.is_none_or(|h| h == handle);
            if right {
                model.held = Some((handle, total, received));
            }
            Last::FragRx {
                handle,
                offset: r[3] as u32,
                right,
            }
        } else if !first && r[0] == SUCCESS_32 {
            Last::FragTxSuccess {
                right: received == total && held == Some(handle_of(r[2], r[3])),
            }
        } else {
            Last::Other
        });
    }
    r
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

/// A Linux-style v`ver` share of `count` constituents of `pages` pages each, the first at
/// `addr`, one page apart.
fn linux_share(ver: Version, addr: u64, pages: u32, count: u32) -> Vec<u8> {
    let (header, emad) = match ver {
        Version::V1_0 => (32, 16),
        Version::V1_1 => (48, 16),
        Version::V1_2 => (48, 32),
    };
    let composite = header + emad;
    let mut d = vec![0u8; composite + 16 + 16 * count as usize];
    d[2] = 0x2f;
    d[28] = 1;
    if ver != Version::V1_0 {
        d[24] = emad as u8;
        d[32] = header as u8;
    }
    d[header..header + 2].copy_from_slice(&0x8001u16.to_le_bytes());
    d[header + 2] = 2;
    d[header + 4..header + 8].copy_from_slice(&(composite as u32).to_le_bytes());
    d[composite..composite + 4].copy_from_slice(&(pages * count).to_le_bytes());
    d[composite + 4..composite + 8].copy_from_slice(&count.to_le_bytes());
    for i in 0..count as usize {
        let c = composite + 16 + 16 * i;
        let at = addr + i as u64 * (u64::from(pages) + 1) * 4096;
        d[c..c + 8].copy_from_slice(&at.to_le_bytes());
        d[c + 8..c + 12].copy_from_slice(&pages.to_le_bytes());
    }
    d
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let ver = Version::ALL[usize::from(head % 3)];
    // The kit's SPMC with the fuzzed answers, over simulated memory that reads as a pattern
    // where nothing was written, and that the proxy may touch only at the hypervisor's
    // mailbox pages or in host RAM.
    let model = Rc::new(RefCell::new(Model::default()));
    let mut fw = Spmc::optee();
    fw.mem().blank = |a| (a as u8) ^ 0x5A;
    fw.mem().allowed = [HYP_TX..HYP_TX + 0x1000, HYP_RX..HYP_RX + 0x1000]
        .into_iter()
        .chain(RAM)
        .collect();
    let spmc_model = Rc::clone(&model);
    fw.respond = Some(Box::new(move |regs, memory, stage2| {
        answer(regs, memory, stage2, ver, &mut spmc_model.borrow_mut())
    }));
    fw.stage2.view().fails_at = Some(0x4000_0000 + (u64::from(head) << 20));
    let proxy = Hyp::with_memory(
        Proxy::probe(&mut fw, 0x1_0002),
        (HYP_TX, HYP_RX),
        &RAM,
        &fw.stage2,
    );
    let mut v = [0u64; 18];
    v[0] = FFA_VERSION;
    v[1] = 0x1_0000 | u64::from(ver.minor());
    let _ = proxy.handle(&mut v, 0, &mut fw);

    let mut host_tx = 0x4800_0000u64;
    // The host's side of the protocol: its last descriptor, the FRAG_RX it was given, the
    // handles it holds.
    let mut descriptor = Vec::new();
    let mut asked: Option<(u64, usize)> = None;
    let mut handles: Vec<u64> = Vec::new();
    for rec in rest.chunks(41) {
        let op = OPS[usize::from(rec[0]) % OPS.len()];
        let (x1, x2, x3) = (u64_at(rec, 1), u64_at(rec, 9), u64_at(rec, 17));
        {
            let mut m = model.borrow_mut();
            m.reply = (rec.get(25).copied().unwrap_or(0), u64_at(rec, 26));
            m.last = None;
        }
        let mut regs = [0u64; 18];
        regs[0] = op;
        // Mostly well-formed calls, sometimes raw registers.
        let raw = rec.get(34).is_some_and(|b| b & 0x80 != 0);
        // Follow the protocol: FRAG_TX the next fragment under the handle given, RECLAIM a
        // handle held.
        let follow = rec.get(38).is_some_and(|b| b & 1 != 0);
        match op {
            RXTX_MAP_64 | RXTX_MAP_32 if !raw => {
                host_tx = (0x4000_0000 + (x1 % 0x4000_0000)) & !0xFFF;
                regs[1] = host_tx;
                regs[2] = (0x4000_0000 + (x2 % 0x4000_0000)) & !0xFFF;
                regs[3] = 1;
            }
            MEM_SHARE_64 | MEM_SHARE_32 | MEM_LEND_64 | MEM_LEND_32 if !raw => {
                let addr = (0x3000_0000 + (x1 % 0x5800_0000)) & !0xFFF;
                let count = ((x2 >> 8) % 8) as u32 + 1;
                let mut d = linux_share(ver, addr, (x2 % 64) as u32 + 1, count);
                if op & 0xFF == 0x72 {
                    d[2] = 0; // a lend to one borrower: attributes not specified
                }
                // Mutations.
                let (at, value) = (
                    rec.get(33).copied().unwrap_or(0),
                    rec.get(35).copied().unwrap_or(0),
                );
                if rec.get(36).is_some_and(|b| b & 1 != 0) {
                    let at = usize::from(at) % d.len();
                    d[at] = value;
                }
                fw.poke(host_tx, &d);
                regs[1] = d.len() as u64;
                regs[2] = d.len() as u64;
                // Sometimes only the first fragment: whole constituents, or a cut anywhere.
                if let Some(&cut) = rec.get(37).filter(|b| **b & 0x80 != 0) {
                    regs[2] = if cut & 0x40 != 0 {
                        let kept = u64::from(cut & 7) % u64::from(count);
                        (d.len() as u64) - 16 * (u64::from(count) - kept)
                    } else {
                        (d.len() as u64).saturating_sub(u64::from(cut & 0x3f))
                    };
                }
                descriptor = d;
            }
            FFA_FEATURES => regs[1] = OPS[(x1 % OPS.len() as u64) as usize],
            MEM_FRAG_TX if !raw && follow => {
                // The next 1 to 4 constituents of the descriptor, under the handle and from
                // the offset of the FRAG_RX the host was given.
                let (handle, offset) = asked.unwrap_or_default();
                let rest = descriptor.get(offset..).unwrap_or_default();
                let len = rest.len().min(16 * (1 + (x2 % 4) as usize));
                fw.poke(host_tx, &rest[..len]);
                regs[1] = handle & 0xFFFF_FFFF;
                regs[2] = handle >> 32;
                regs[3] = len as u64;
            }
            MEM_FRAG_TX if !raw => {
                // A fuzzed handle, and a fragment of whole or partial constituents.
                regs[1] = x1 & 0xFFFF_FFFF;
                regs[2] = x1 >> 32;
                regs[3] = x2 % 80;
                let c: Vec<u8> = (0..80u64).map(|i| (x3 >> (i % 8 * 8)) as u8).collect();
                fw.poke(host_tx, &c);
            }
            MEM_RECLAIM if !raw && follow && !handles.is_empty() => {
                let handle = handles.swap_remove((x1 % handles.len() as u64) as usize);
                regs[1] = handle & 0xFFFF_FFFF;
                regs[2] = handle >> 32;
            }
            _ => {
                regs[1] = x1;
                regs[2] = x2;
                regs[3] = x3;
                if !raw {
                    regs[1] &= 0xFFFF_FFFF;
                    regs[2] &= 0xFFFF_FFFF;
                    regs[3] &= 0x3;
                }
            }
        }
        let bad_replies = bad_replies_of(&proxy, op);
        let outcome = proxy.handle(&mut regs, 0, &mut fw);
        let last = model.borrow().last;
        check_answer(&proxy, op, &regs, &outcome, last, bad_replies);
        if regs[0] == MEM_FRAG_RX {
            asked = Some((handle_of(regs[1], regs[2]), regs[3] as usize));
        } else if matches!(
            op,
            MEM_SHARE_64 | MEM_SHARE_32 | MEM_LEND_64 | MEM_LEND_32 | MEM_FRAG_TX
        ) && regs[0] == SUCCESS_32
        {
            handles.push(handle_of(regs[2], regs[3]));
        }
        let status = proxy.memory_status();
        assert!(status.runs.0 <= status.runs.1);
        assert_eq!(
            status.lent_pages,
            fw.stage2.view().unmapped.len() as u64,
            "lent pages vs the host's stage 2"
        );
    }
});

/// The bad replies counted for function `op` (one slot: summing them all on every call
/// would cost more than the call).
fn bad_replies_of(proxy: &Hyp, op: u64) -> u64 {
    proxy.counters().get(op as u32).map_or(0, |c| c.bad_replies)
}

/// The oracle for the host's answer to a SHARE, LEND or FRAG_TX (`regs` after the call),
/// given the SPMC's answer `last` and the bad-reply count before the call.
fn check_answer(
    proxy: &Hyp,
    op: u64,
    regs: &SmcRegs,
    outcome: &Outcome,
    last: Option<Last>,
    bad_replies: u64,
) {
    let refused = |what: &str| {
        assert!(
            matches!(outcome, Outcome::ReplyRefused(_)),
            "{what}: not refused ({outcome:?})"
        );
        assert_eq!(regs[0], FFA_ERROR, "{what}: the host got {:#x}", regs[0]);
        assert_eq!(
            bad_replies_of(proxy, op),
            bad_replies + 1,
            "{what}: bad reply not counted"
        );
    };
    if regs[0] == MEM_FRAG_RX {
        let Some(Last::FragRx {
            handle,
            offset,
            right: true,
        }) = last
        else {
            panic!("the host got FRAG_RX after the SPMC answered {last:?}");
        };
        assert_eq!(
            (handle_of(regs[1], regs[2]), regs[3]),
            (handle, u64::from(offset)),
            "FRAG_RX passed on with another handle or offset"
        );
        assert!(regs[4..].iter().all(|&x| x == 0));
    }
    match last {
        Some(Last::FragRx { right: false, .. }) => refused("a wrong FRAG_RX"),
        Some(Last::FragRx {
            handle,
            right: true,
            ..
        }) if regs[0] != MEM_FRAG_RX => {
            // Refused only for a handle the proxy cannot take.
            refused("a right FRAG_RX");
            assert!(
                proxy.mm.transfer_state(handle).is_some() || handle >= u64::MAX - 1,
                "a right FRAG_RX with a fresh handle {handle:#x} refused"
            );
        }
        Some(Last::FragTxSuccess { right }) if op == MEM_FRAG_TX => {
            if right {
                assert_eq!(
                    regs[0], SUCCESS_32,
                    "the last fragment's SUCCESS not passed on"
                );
            } else {
                refused("SUCCESS to a fragment that is not the last, or under another handle");
            }
        }
        _ => {}
    }
}
