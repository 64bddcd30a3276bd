//! Fuzzes the FF-A proxy's memory side: a sequence of mailbox and memory calls
//! (RXTX_MAP/UNMAP, RX_RELEASE, PARTITION_INFO_GET, MEM_SHARE, MEM_LEND, MEM_RECLAIM) with fuzzed
//! registers, a fuzzed host TX page (a Linux-style share descriptor with fuzzed bytes
//! written over it) and fuzzed SPMC replies.
//!
//! Input: [0] negotiated minor (mod 3); [1..3] descriptor mutations count and seed; then
//! records of 41 bytes: [0] operation, [1..9] x1, [9..17] x2, [17..25] x3, [25..33] SPMC
//! reply selector and value, [33..41] descriptor mutation (offset, value).
//!
//! The SPMC is the test kit's, answering with fuzzed replies ([`Spmc::respond`]).
//!
//! Invariants: no panic; memory is only touched at the hypervisor's mailbox pages or in host
//! RAM; the SPMC only ever gets the hypervisor's mailbox addresses in FFA_RXTX_MAP; every
//! FFA_MEM_SHARE or FFA_MEM_LEND the SPMC receives has x3 = w4 = 0 and the hypervisor's TX
//! holds, at that moment, a descriptor that parses for the negotiated version, names host
//! RAM only and is its own rebuild from the validated fields (no unvalidated byte; the same
//! for every FFA_MEM_FRAG_TX fragment); every page of a LEND is out of the host's stage 2 by then; the stage 2 (modelled
//! as a set of unmapped pages, whose changes fail at a fuzzed page) never unmaps a page twice
//! nor maps back one it did not unmap, and the proxy never copies to or from an unmapped page;
//! the lent-page count always equals the model's unmapped pages.
#![no_main]

use std::cell::Cell;
use std::ops::Range;
use std::rc::Rc;

use ffa_spec::fid;
use hypervisor::ffa::Proxy;
use hypervisor::ffa::abi::Version;
use hypervisor::ffa::descriptor::{parse_constituents, parse_first_fragment, rebuild};
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

/// The fuzzed SPMC's answer to `regs` (`reply` is the current record's selector and value),
/// after checking what reached it: only the hypervisor's mailbox addresses, only checked
/// descriptors naming host RAM, lent pages already out of the host's stage 2.
fn answer(
    regs: &SmcRegs,
    memory: &mut SimMemory,
    stage2: &SimStage2,
    ver: Version,
    reply: (u8, u64),
) -> SmcRegs {
    let mut r = [0u64; 18];
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
        }
        _ => {}
    }
    let (sel, value) = reply;
    match sel % 6 {
        0 => r[0] = SUCCESS_32,
        1 => {
            r[0] = SUCCESS_32;
            r[2] = value & 0xFFFF_FFFF;
            r[3] = value >> 32;
        }
        2 => {
            r[0] = FFA_ERROR;
            r[2] = value;
        }
        3 => {
            r[0] = MEM_FRAG_RX;
            r[1] = value & 0xFFFF_FFFF;
            r[2] = value >> 32;
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
    r
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

/// A Linux-style v`ver` share of `pages` pages at `addr`.
fn linux_share(ver: Version, addr: u64, pages: u32) -> Vec<u8> {
    let (header, emad) = match ver {
        Version::V1_0 => (32, 16),
        Version::V1_1 => (48, 16),
        Version::V1_2 => (48, 32),
    };
    let mut d = vec![0u8; header + emad + 32];
    d[2] = 0x2f;
    d[28] = 1;
    if ver != Version::V1_0 {
        d[24] = emad as u8;
        d[32] = header as u8;
    }
    d[header..header + 2].copy_from_slice(&0x8001u16.to_le_bytes());
    d[header + 2] = 2;
    let composite = header + emad;
    d[header + 4..header + 8].copy_from_slice(&(composite as u32).to_le_bytes());
    d[composite..composite + 4].copy_from_slice(&pages.to_le_bytes());
    d[composite + 4] = 1;
    d[composite + 16..composite + 24].copy_from_slice(&addr.to_le_bytes());
    d[composite + 24..composite + 28].copy_from_slice(&pages.to_le_bytes());
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
    let reply = Rc::new(Cell::new((0u8, 0u64)));
    let mut fw = Spmc::optee();
    fw.mem().blank = |a| (a as u8) ^ 0x5A;
    fw.mem().allowed = [HYP_TX..HYP_TX + 0x1000, HYP_RX..HYP_RX + 0x1000]
        .into_iter()
        .chain(RAM)
        .collect();
    let current = Rc::clone(&reply);
    fw.respond = Some(Box::new(move |regs, memory, stage2| {
        answer(regs, memory, stage2, ver, current.get())
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
    for rec in rest.chunks(41) {
        let op = OPS[usize::from(rec[0]) % OPS.len()];
        let (x1, x2, x3) = (u64_at(rec, 1), u64_at(rec, 9), u64_at(rec, 17));
        reply.set((rec.get(25).copied().unwrap_or(0), u64_at(rec, 26)));
        let mut regs = [0u64; 18];
        regs[0] = op;
        // Mostly well-formed calls, sometimes raw registers.
        let raw = rec.get(34).is_some_and(|b| b & 0x80 != 0);
        match op {
            RXTX_MAP_64 | RXTX_MAP_32 if !raw => {
                host_tx = 0x4000_0000 + (x1 % 0x4000_0000) & !0xFFF;
                regs[1] = host_tx;
                regs[2] = 0x4000_0000 + (x2 % 0x4000_0000) & !0xFFF;
                regs[3] = 1;
            }
            MEM_SHARE_64 | MEM_SHARE_32 | MEM_LEND_64 | MEM_LEND_32 if !raw => {
                let addr = 0x3000_0000 + (x1 % 0x5800_0000) & !0xFFF;
                let mut d = linux_share(ver, addr, (x2 % 64) as u32 + 1);
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
                // Sometimes only the first fragment (a whole number of constituents or not).
                if let Some(&cut) = rec.get(37).filter(|b| **b & 0x80 != 0) {
                    regs[2] = (d.len() as u64).saturating_sub(u64::from(cut & 0x3f));
                }
            }
            FFA_FEATURES => regs[1] = OPS[(x1 % OPS.len() as u64) as usize],
            MEM_FRAG_TX if !raw => {
                // The handle of an SPMC FRAG_RX (reply selector 3 answers with `value`), and
                // a fragment of whole or partial constituents from the host's TX.
                regs[1] = x1 & 0xFFFF_FFFF;
                regs[2] = x1 >> 32;
                regs[3] = x2 % 80;
                let c: Vec<u8> = (0..80u64).map(|i| (x3 >> (i % 8 * 8)) as u8).collect();
                fw.poke(host_tx, &c);
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
        let _ = proxy.handle(&mut regs, 0, &mut fw);
        let status = proxy.memory_status();
        assert!(status.runs.0 <= status.runs.1);
        assert_eq!(
            status.lent_pages,
            fw.stage2.view().unmapped.len() as u64,
            "lent pages vs the host's stage 2"
        );
    }
});
