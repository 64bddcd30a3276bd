//! Tests of the memory core over the real host stage-2 tables (aarch64-paging, in host
//! memory, from a [`TablePool`](super::pool::TablePool)): the worst-case table count before a
//! LEND, the pool after thousands of LENDs refused or reclaimed, through the FF-A proxy and
//! from several threads at once.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::stage2::{Geometry, HostStage2, LiveStage2};
use super::{HostAccess, MemProtect, OwnershipError, PageState, TAG_UNDECIDED};
use crate::addr::{Ipa, PhysAddr};
use crate::budget::{OWNERSHIP_RUNS, STAGE2_TABLE_PAGES};
use crate::dt::SystemInfo;
use crate::ffa::abi::Version;
use crate::ffa::descriptor::tests::linux_share;
use crate::ffa::{MemConfig, Outcome, Proxy};
use crate::memmap::HostMap;
use crate::testkit::{Hyp, Spmc, r};
use ffa_spec::{fid, status};

const QEMU_DTB: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-tfa-optee.dtb");
/// QEMU's RAM minus the carve-out.
const RAM: [Range<u64>; 2] = [0x4000_0000..0x6000_0000, 0x6020_0000..0x8000_0000];
const P: u64 = crate::addr::PAGE;
const M: u64 = 0x20_0000;

/// Counts the TLB flushes of every live stage 2 in these tests (they only ever grow).
static FLUSHES: AtomicUsize = AtomicUsize::new(0);

fn flush() {
    FLUSHES.fetch_add(1, Ordering::Relaxed);
}

/// QEMU's host stage 2 with a pool of `pages`, live.
fn tables(pages: usize) -> HostStage2 {
    let info = SystemInfo::parse(QEMU_DTB).unwrap();
    let geometry = Geometry::from_parange(5);
    let map = HostMap::new(&info, &(0x6000_0000..0x6020_0000), geometry.ipa_bits);
    let s2 = HostStage2::build_in(&map, geometry, pages).unwrap();
    s2.mark_active();
    s2
}

/// A memory core over QEMU's RAM and the real tables with a pool of `pages`.
fn core(pages: usize) -> MemProtect {
    MemProtect::new(
        &RAM,
        OWNERSHIP_RUNS,
        Box::new(LiveStage2::new(tables(pages), flush)),
    )
}

/// Page `k` of the 2 MiB block `b` of RAM (blocks 0..256 below the carve-out).
fn page(b: u64, k: u64) -> u64 {
    0x4000_0000 + b * M + k * P
}

#[test]
fn a_lend_the_pool_cannot_cover_is_refused_before_anything_changes() {
    let mm = core(16);
    let free = mm.stage2_tables_free();
    assert_eq!(free, 10, "16 pages, 6 for the boot map");
    // Ten pages in ten blocks: ten tables at worst, exactly what is free.
    let ten: Vec<Range<u64>> = (0..10).map(|b| page(b, 3)..page(b, 4)).collect();
    mm.lend(&ten[..], 1).unwrap();
    assert_eq!(mm.stage2_tables_free(), 0);
    // One more block: refused whole, though its first range would fit an existing table.
    let more = [page(0, 7)..page(0, 8), page(20, 0)..page(20, 1)];
    assert_eq!(
        mm.lend(&more[..], 2),
        Err((0, OwnershipError::NoTables { needed: 1, free: 0 }))
    );
    assert_eq!(mm.state(PhysAddr(page(0, 7))), Some(PageState::Owned));
    assert_eq!(mm.host_access(Ipa(page(20, 0))), HostAccess::Allowed);
    assert_eq!(mm.usage().0, 10);
    // Pages inside the tables already there cost nothing: still accepted.
    let inside = [page(0, 7)..page(0, 9), page(9, 100)..page(9, 101)];
    mm.lend(&inside[..], 3).unwrap();
    // Shares and pins never touch the stage 2: not limited by the pool.
    mm.share(&[page(30, 0)..page(30, 1)][..], 4).unwrap();
    mm.pin(&[page(31, 0)..page(31, 1)][..], 0).unwrap();
    // Everything back: every table folded, the pool full again.
    assert_eq!(mm.reclaim(PageState::LentToSecure, 1), 10);
    assert_eq!(mm.reclaim(PageState::LentToSecure, 3), 3);
    assert_eq!(mm.reclaim(PageState::SharedWithSecure, 4), 1);
    mm.unpin(page(31, 0)..page(31, 1), 0).unwrap();
    assert_eq!((mm.stage2_tables_free(), mm.usage().0), (free, 0));
    mm.lend(&more[..], 2).unwrap();
}

#[test]
fn a_failed_claim_rolls_back_and_gives_its_tables_back() {
    let mm = core(32);
    let free = mm.stage2_tables_free();
    mm.pin(&[page(5, 0)..page(5, 1)][..], 0).unwrap();
    // Three blocks split, then the pinned page: all mapped back, the tables folded.
    let ranges = [
        page(1, 1)..page(1, 2),
        page(2, 1)..page(2, 2),
        page(3, 1)..page(3, 2),
        page(5, 0)..page(5, 1),
    ];
    assert!(matches!(
        mm.lend(&ranges[..], 7),
        Err((3, OwnershipError::WrongState { .. }))
    ));
    assert_eq!(mm.stage2_tables_free(), free);
    for r in &ranges[..3] {
        assert_eq!(mm.host_access(Ipa(r.start)), HostAccess::Allowed);
    }
}

/// A proxy over `mm`'s real tables, the host at v1.2 with its mailbox mapped.
fn proxy(mm: MemProtect) -> (Hyp, Spmc) {
    const HOST_TX: u64 = 0x4800_0000;
    const HOST_RX: u64 = 0x4800_1000;
    let mut fw = Spmc::optee();
    let ffa = Proxy::probe(&mut fw, 0x1_0002).with_memory(
        MemConfig {
            hyp_tx: 0x6000_8000,
            hyp_rx: 0x6000_9000,
        },
        &mm,
    );
    let hyp = Hyp { ffa, mm };
    for call in [
        r(&[fid::VERSION.into(), 0x1_0002]),
        r(&[fid::RXTX_MAP_64.into(), HOST_TX, HOST_RX, 1]),
    ] {
        let mut regs = call;
        assert_eq!(hyp.handle(&mut regs, 0, &mut fw), Outcome::Emulated);
    }
    fw.calls.clear();
    (hyp, fw)
}

/// FFA_MEM_LEND_64 of one-page `pages` to OP-TEE, written in the host's TX.
fn lend(hyp: &Hyp, fw: &mut Spmc, pages: &[u64]) -> (Outcome, crate::smccc::SmcRegs) {
    let ranges: Vec<(u64, u32)> = pages.iter().map(|&a| (a, 1)).collect();
    let mut d = linux_share(Version::V1_2, &[0x8001], &ranges);
    // LEND: the memory attributes are left to the receiver.
    d[2] = 0;
    d[3] = 0;
    fw.poke(0x4800_0000, &d);
    let len = d.len() as u64;
    let mut regs = r(&[fid::MEM_LEND_64.into(), len, len]);
    let outcome = hyp.handle(&mut regs, 0, fw);
    (outcome, regs)
}

const FFA_ERROR: u64 = fid::ERROR as u64;
const SUCCESS_32: u64 = fid::SUCCESS_32 as u64;
const NO_MEMORY: u64 = status::NO_MEMORY as u32 as u64;
const DENIED: u64 = status::DENIED as u32 as u64;

#[test]
fn two_refused_lends_of_200_scattered_pages_leave_the_pool_as_it_was() {
    // Before the pool: each LEND split 200 blocks into tables from the heap and the refusal
    // left them there; the heap held about 400, and the next split powered the machine off.
    let (hyp, mut fw) = proxy(core(STAGE2_TABLE_PAGES));
    let free = hyp.mm.stage2_tables_free();
    assert_eq!(free, STAGE2_TABLE_PAGES - 6);
    let scattered: Vec<u64> = (0..200).map(|b| page(b + 8, 1 + b % 500)).collect();
    // The whole 200 cannot be covered: NO_MEMORY at EL2, nothing forwarded, nothing changed.
    for _ in 0..2 {
        let status = hyp.memory_status();
        let (outcome, reply) = lend(&hyp, &mut fw, &scattered);
        assert!(matches!(outcome, Outcome::Rejected(_)), "{outcome:?}");
        assert_eq!(reply, r(&[FFA_ERROR, 0, NO_MEMORY]));
        assert!(fw.calls.is_empty(), "forwarded: {:x?}", fw.calls);
        assert_eq!(hyp.memory_status(), status);
        assert_eq!(hyp.mm.stage2_tables_free(), free);
    }
    // What fits is forwarded; the SPMC refuses it (twice): every table comes back.
    for _ in 0..2 {
        fw.script.push_back(r(&[FFA_ERROR, 0, DENIED]));
        let (outcome, reply) = lend(&hyp, &mut fw, &scattered[..free]);
        assert_eq!(outcome, Outcome::Forwarded);
        assert_eq!(reply, r(&[FFA_ERROR, 0, DENIED]));
        assert_eq!(fw.calls.len(), 1);
        fw.calls.clear();
        assert_eq!(hyp.mm.stage2_tables_free(), free);
        assert_eq!(hyp.memory_status().lent_pages, 0);
    }
    // And the proxy keeps serving: a lend that fits is accepted and reclaimed.
    let (_, reply) = lend(&hyp, &mut fw, &scattered[..free]);
    assert_eq!(reply[0], SUCCESS_32);
    assert_eq!(hyp.mm.stage2_tables_free(), 0);
    let mut regs = r(&[fid::MEM_RECLAIM.into(), reply[2], reply[3]]);
    assert_eq!(hyp.handle(&mut regs, 0, &mut fw), Outcome::Forwarded);
    assert_eq!(regs, r(&[SUCCESS_32]));
    assert_eq!(hyp.mm.stage2_tables_free(), free);
}

#[test]
fn thousands_of_lends_refused_or_reclaimed_leave_the_pool_where_it_started() {
    let (hyp, mut fw) = proxy(core(64));
    let free = hyp.mm.stage2_tables_free();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % n
    };
    let mut live: Vec<(u64, u64)> = Vec::new();
    let (mut refused, mut reclaimed, mut no_memory) = (0, 0, 0);
    for _ in 0..2000 {
        // 1 to 8 pages in random blocks (the mailbox's block left alone); some land in the
        // same block, some in blocks a live lend already split.
        let mut pages: Vec<u64> = (0..next(8) + 1)
            .map(|_| page(next(250) + 1, next(512)))
            .filter(|&a| !(0x4800_0000..0x4800_2000).contains(&a))
            .collect();
        pages.sort_unstable();
        pages.dedup();
        if pages.is_empty() {
            continue;
        }
        let refuse = next(2) == 0;
        if refuse {
            fw.script.push_back(r(&[FFA_ERROR, 0, DENIED]));
        }
        let (outcome, reply) = lend(&hyp, &mut fw, &pages);
        match (outcome, reply[0]) {
            (Outcome::Forwarded, SUCCESS_32) => live.push((reply[2], reply[3])),
            (Outcome::Forwarded, FFA_ERROR) => refused += 1,
            (Outcome::Rejected(_), FFA_ERROR) if reply[2] == NO_MEMORY => no_memory += 1,
            // A page a live lend holds: DENIED at EL2.
            (Outcome::Rejected(_), FFA_ERROR) if reply[2] == DENIED => {}
            other => panic!("{other:x?}"),
        }
        if refuse && !matches!(outcome, Outcome::Forwarded) {
            fw.script.clear();
        }
        // Reclaim some of the live ones, in any order.
        while !live.is_empty() && (live.len() > 6 || next(3) == 0) {
            let (lo, hi) = live.swap_remove(next(live.len() as u64) as usize);
            let mut regs = r(&[fid::MEM_RECLAIM.into(), lo, hi]);
            assert_eq!(hyp.handle(&mut regs, 0, &mut fw), Outcome::Forwarded);
            assert_eq!(regs, r(&[SUCCESS_32]));
            reclaimed += 1;
        }
        fw.calls.clear();
    }
    for (lo, hi) in live.drain(..) {
        let mut regs = r(&[fid::MEM_RECLAIM.into(), lo, hi]);
        assert_eq!(hyp.handle(&mut regs, 0, &mut fw), Outcome::Forwarded);
        reclaimed += 1;
    }
    assert!(
        refused > 500 && reclaimed > 500,
        "{refused} refused, {reclaimed} reclaimed, {no_memory} NO_MEMORY"
    );
    let status = hyp.memory_status();
    assert_eq!((status.lent_pages, status.transactions), (0, 0));
    assert_eq!(hyp.mm.stage2_tables_free(), free, "every table folded back");
}

#[test]
fn concurrent_share_lend_and_reclaim_end_where_they_started() {
    // Four CPUs share, lend (some under a pending tag first, retagged after, as a LEND in
    // flight is) and reclaim pages in the same 16 blocks at once, while a fifth takes host
    // faults on them. A claim that finds a page taken fails whole; every claim that
    // succeeded is reclaimed exactly once, with the number of pages it claimed.
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 500;
    let mm = core(STAGE2_TABLE_PAGES);
    let free = mm.stage2_tables_free();
    let claimed = AtomicUsize::new(0);
    let released = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (mm, claimed, released, done) = (&mm, &claimed, &released, &done);
            s.spawn(move || {
                let mut seed = 0x1234_5678 + t * 0x9e37_79b9;
                let mut next = |n: u64| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (seed >> 33) % n
                };
                // (tag, state, pages) this thread holds.
                let mut held: Vec<(u64, PageState, usize)> = Vec::new();
                for round in 0..ROUNDS {
                    let tag = (t + 1) << 32 | round;
                    let ranges: Vec<Range<u64>> = (0..next(3) + 1)
                        .map(|_| {
                            let start = page(100 + next(16), next(510));
                            start..start + (next(3) + 1) * P
                        })
                        .collect();
                    let pages: u64 = ranges.iter().map(|r| (r.end - r.start) / P).sum();
                    let state = if next(2) == 0 {
                        PageState::SharedWithSecure
                    } else {
                        PageState::LentToSecure
                    };
                    let undecided = state == PageState::LentToSecure && next(2) == 0;
                    let first = if undecided {
                        TAG_UNDECIDED - 1 - t
                    } else {
                        tag
                    };
                    match mm.transfer(&ranges[..], state, first) {
                        Ok(()) => {
                            claimed.fetch_add(pages as usize, Ordering::Relaxed);
                            // While held, the pages are nobody else's.
                            for r in &ranges {
                                assert_eq!(mm.state(PhysAddr(r.start)), Some(state));
                                let access = mm.host_access(Ipa(r.end - P));
                                assert_eq!(
                                    access == HostAccess::Allowed,
                                    state == PageState::SharedWithSecure
                                );
                            }
                            if undecided {
                                mm.retag(state, first, tag);
                            }
                            held.push((tag, state, pages as usize));
                        }
                        Err((_, OwnershipError::WrongState { .. })) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                    while !held.is_empty() && (held.len() > 4 || next(2) == 0) {
                        let (tag, state, pages) =
                            held.swap_remove(next(held.len() as u64) as usize);
                        assert_eq!(mm.reclaim(state, tag) as usize, pages, "tag {tag:#x}");
                        released.fetch_add(pages, Ordering::Relaxed);
                    }
                }
                for (tag, state, pages) in held {
                    assert_eq!(mm.reclaim(state, tag) as usize, pages);
                    released.fetch_add(pages, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Release);
            });
        }
        // Host faults on those blocks meanwhile: never a deadlock, never a page that is both.
        let (mm, done) = (&mm, &done);
        s.spawn(move || {
            let mut i = 0u64;
            while done.load(Ordering::Acquire) < THREADS as usize {
                let a = page(100 + i % 16, (i * 7) % 512);
                let _ = mm.host_access(Ipa(a));
                i += 1;
                std::thread::yield_now();
            }
        });
    });
    let claimed = claimed.into_inner();
    assert!(claimed > 1000, "{claimed} pages claimed");
    assert_eq!(released.into_inner(), claimed, "an operation was lost");
    assert_eq!(mm.usage().0, 0, "every page Owned again");
    for b in 100..116 {
        for k in (0..512).step_by(37) {
            assert_eq!(mm.host_access(Ipa(page(b, k))), HostAccess::Allowed);
        }
    }
    assert_eq!(mm.stage2_tables_free(), free, "every table folded back");
    assert!(FLUSHES.load(Ordering::Relaxed) > 0);
}
