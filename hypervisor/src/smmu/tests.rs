//! The SMMU core against a simulated SMMUv3 (registers, a command queue it executes, an
//! event queue the test fills, acknowledgements it can withhold), and the coupling to the
//! memory core: the SMMU is invalidated before a LEND reaches the SPMC.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ops::Range;
use std::sync::{Arc, Mutex};

use super::regs::{Mismatch, off};
use super::*;
use crate::addr::{Ipa, PhysAddr};
use crate::dt::SystemInfo;
use crate::ffa::abi::Version;
use crate::ffa::descriptor::tests::linux_share;
use crate::ffa::{MemConfig, Outcome, Proxy};
use crate::memmap::HostMap;
use crate::mm::stage2::{HostStage2, LiveStage2, SharedWalker};
use crate::mm::{HostAccess, MemProtect, PageState, Stage2Error};
use crate::testkit::{Hyp, Spmc, r};
use ffa_spec::fid;

const QEMU_IDR0: u32 = 1
    | 2
    | (2 << 2)
    | (1 << 4)
    | (1 << 12)
    | (1 << 18)
    | (2 << 21)
    | (1 << 24)
    | (1 << 26)
    | (1 << 27);
const QEMU_IDR1: u32 = 16 | (19 << 16) | (19 << 21);
const QEMU_IDR5: u32 = 4 | (1 << 4) | (1 << 6);
const ROOT: u64 = 0x6010_0000;

/// The simulated SMMU's state.
struct SimState {
    idr: [u32; 3],
    regs: std::collections::BTreeMap<usize, u32>,
    bases: std::collections::BTreeMap<usize, u64>,
    cmdq_prod: u32,
    cmdq_cons: u32,
    evtq_prod: u32,
    gerror: u32,
    gerrorn: u32,
    /// CR0ACK follows CR0.
    ack_cr0: bool,
    /// The command queue is consumed.
    consume: bool,
    /// The next command with this opcode is refused (CERROR_ILL).
    refuse: Option<u64>,
    /// Every command executed, in order.
    executed: Vec<Cmd>,
    /// Register writes, in order, by name.
    writes: Vec<String>,
    /// Memory ranges made visible to the SMMU since it last consumed commands.
    synced: Vec<Range<u64>>,
    /// Commands the SMMU read that were not made visible to it first.
    unsynced: usize,
}

#[derive(Clone)]
struct Sim(Arc<Mutex<SimState>>);

impl Sim {
    fn new(idr0: u32, idr1: u32, idr5: u32) -> Self {
        Sim(Arc::new(Mutex::new(SimState {
            idr: [idr0, idr1, idr5],
            regs: Default::default(),
            bases: Default::default(),
            cmdq_prod: 0,
            cmdq_cons: 0,
            evtq_prod: 0,
            gerror: 0,
            gerrorn: 0,
            ack_cr0: true,
            consume: true,
            refuse: None,
            executed: Vec::new(),
            writes: Vec::new(),
            synced: Vec::new(),
            unsynced: 0,
        })))
    }

    fn qemu() -> Self {
        Self::new(QEMU_IDR0, QEMU_IDR1, QEMU_IDR5)
    }

    /// QEMU's SMMU without 2-level stream tables (IDR0.ST_LEVEL = 0).
    fn linear_only() -> Self {
        Self::new(QEMU_IDR0 & !(3 << 27), QEMU_IDR1, QEMU_IDR5)
    }

    /// The STE the SMMU finds for `sid` by walking the stream table its registers name
    /// (linear or 2-level), or `None` where it would record C_BAD_STREAMID: beyond the
    /// table, or a level-1 descriptor with Span = 0.
    fn walk(&self, sid: u32) -> Option<[u64; 8]> {
        let s = self.state();
        let cfg = s.regs[&off::STRTAB_BASE_CFG];
        let base = s.bases[&off::STRTAB_BASE] & 0x000f_ffff_ffff_ffc0;
        let log2 = cfg & 0x3f;
        if u64::from(sid) >= 1u64 << log2 {
            return None;
        }
        let ste_addr = match (cfg >> 16) & 3 {
            0 => base + u64::from(sid) * 64,
            1 => {
                let split = (cfg >> 6) & 0x1f;
                assert!([6, 8, 10].contains(&split), "SPLIT {split}");
                assert_eq!(base % (8u64 << (log2 - split)).max(64), 0, "L1 aligned");
                // SAFETY: the level-1 table the core allocated, at the address it gave.
                let desc =
                    unsafe { ((base + 8 * u64::from(sid >> split)) as *const u64).read_volatile() };
                let span = (desc & 0x1f) as u32;
                if span == 0 {
                    return None;
                }
                assert!(span - 1 <= split, "Span {span} beyond SPLIT");
                let l2 = desc & 0x000f_ffff_ffff_ffc0;
                assert_eq!(l2 % (64u64 << (span - 1)), 0, "L2 aligned to its size");
                let index = sid & ((1 << split) - 1);
                if index >= 1 << (span - 1) {
                    return None;
                }
                l2 + u64::from(index) * 64
            }
            fmt => panic!("STRTAB_BASE_CFG.FMT {fmt}"),
        };
        // SAFETY: an STE of a table the core allocated.
        Some(core::array::from_fn(|i| unsafe {
            ((ste_addr + 8 * i as u64) as *const u64).read_volatile()
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.0.lock().unwrap()
    }

    /// The SMMU writes `record` into its event queue.
    fn raise(&self, record: Record) {
        let mut s = self.state();
        let base = s.bases[&off::EVENTQ_BASE];
        let ring = Ring {
            log2: (base & 0x1f) as u32,
        };
        let slot = ring.slot(s.evtq_prod);
        let at = (base & 0x000f_ffff_ffff_ffe0) as *mut u64;
        for (i, w) in record.iter().enumerate() {
            // SAFETY: the queue the core allocated, at the address it gave the SMMU.
            unsafe { at.add(slot * 4 + i).write_volatile(*w) };
        }
        let flags = s.evtq_prod & (1 << 31);
        s.evtq_prod = ring.next(s.evtq_prod) | flags;
    }

    /// The SMMU's event queue overflows (EVENTQ_PROD.OVFLG toggles).
    fn overflow(&self) {
        self.state().evtq_prod ^= 1 << 31;
    }
}

impl SimState {
    /// Executes commands from CONS to PROD, as a running command queue does.
    fn process(&mut self) {
        let enabled = self.regs.get(&off::CR0).copied().unwrap_or(0) & cr0::CMDQEN != 0;
        let halted = (self.gerror ^ self.gerrorn) & gerror::CMDQ_ERR != 0;
        if !enabled || !self.consume || halted {
            return;
        }
        self.cmdq_cons &= !(0x7f << 24);
        let base = self.bases[&off::CMDQ_BASE];
        let ring = Ring {
            log2: (base & 0x1f) as u32,
        };
        let at = (base & 0x000f_ffff_ffff_ffe0) as *const u64;
        while ring.index(self.cmdq_cons) != ring.index(self.cmdq_prod) {
            let slot = ring.slot(self.cmdq_cons);
            let addr = (base & 0x000f_ffff_ffff_ffe0) + 16 * slot as u64;
            if !self
                .synced
                .iter()
                .any(|r| r.start <= addr && addr + 16 <= r.end)
            {
                self.unsynced += 1;
            }
            // SAFETY: the queue the core allocated, at the address it gave the SMMU.
            let c = unsafe {
                [
                    at.add(slot * 2).read_volatile(),
                    at.add(slot * 2 + 1).read_volatile(),
                ]
            };
            if self.refuse == Some(c[0] & 0xff) {
                self.refuse = None;
                self.cmdq_cons |= 1 << 24; // CERROR_ILL
                self.gerror ^= gerror::CMDQ_ERR;
                return;
            }
            self.executed.push(c);
            self.cmdq_cons = ring.next(self.cmdq_cons);
        }
        self.synced.clear();
    }
}

fn name(offset: usize) -> &'static str {
    match offset {
        off::CR0 => "CR0",
        off::CR1 => "CR1",
        off::CR2 => "CR2",
        off::GBPA => "GBPA",
        off::IRQ_CTRL => "IRQ_CTRL",
        off::GERRORN => "GERRORN",
        off::STRTAB_BASE => "STRTAB_BASE",
        off::STRTAB_BASE_CFG => "STRTAB_BASE_CFG",
        off::CMDQ_BASE => "CMDQ_BASE",
        off::CMDQ_PROD => "CMDQ_PROD",
        off::CMDQ_CONS => "CMDQ_CONS",
        off::EVENTQ_BASE => "EVENTQ_BASE",
        off::EVENTQ_PROD => "EVENTQ_PROD",
        off::EVENTQ_CONS => "EVENTQ_CONS",
        _ => "?",
    }
}

impl SmmuHw for Sim {
    fn read32(&mut self, offset: usize) -> u32 {
        let s = self.state();
        match offset {
            off::IDR0 => s.idr[0],
            off::IDR1 => s.idr[1],
            off::IDR5 => s.idr[2],
            off::CMDQ_CONS => s.cmdq_cons,
            off::EVENTQ_PROD => s.evtq_prod,
            off::GERROR => s.gerror,
            off::GERRORN => s.gerrorn,
            off::IRQ_CTRLACK => s.regs.get(&off::IRQ_CTRL).copied().unwrap_or(0),
            other => s.regs.get(&other).copied().unwrap_or(0),
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        let mut s = self.state();
        let entry = match offset {
            off::CR0 => format!("CR0={value:#x}"),
            off::CMDQ_PROD => String::from("CMDQ_PROD"),
            other => String::from(name(other)),
        };
        s.writes.push(entry);
        match offset {
            off::CR0 => {
                s.regs.insert(off::CR0, value);
                if s.ack_cr0 {
                    s.regs.insert(off::CR0ACK, value);
                }
            }
            off::GBPA => {
                s.regs.insert(off::GBPA, value & !gbpa::UPDATE);
            }
            off::CMDQ_PROD => {
                s.cmdq_prod = value;
                s.process();
            }
            off::CMDQ_CONS => s.cmdq_cons = value,
            off::EVENTQ_PROD => s.evtq_prod = value,
            off::GERRORN => {
                s.gerrorn = value;
                s.process();
            }
            other => {
                s.regs.insert(other, value);
            }
        }
    }

    fn write64(&mut self, offset: usize, value: u64) {
        let mut s = self.state();
        s.writes.push(String::from(name(offset)));
        s.bases.insert(offset, value);
    }

    fn sync_for_device(&mut self, addr: u64, len: usize) {
        self.state().synced.push(addr..addr + len as u64);
    }

    fn sync_for_cpu(&mut self, _: u64, _: usize) {}
}

fn geometry() -> Geometry {
    Geometry::from_parange(5)
}

fn running(sim: &Sim) -> Smmu<Sim> {
    let mut smmu = Smmu::probe(sim.clone(), &geometry(), ROOT, &[0..0x100]).unwrap();
    smmu.enable().unwrap();
    smmu
}

fn ste_at(smmu: &Smmu<Sim>, sid: usize) -> [u64; 8] {
    core::array::from_fn(|i| smmu.strtab.read(sid * 8 + i))
}

#[test]
fn init_aborts_first_programs_the_tables_invalidates_then_enables() {
    let sim = Sim::qemu();
    let smmu = Smmu::probe(sim.clone(), &geometry(), ROOT, &[0..0x20, 0x40..0x41]).unwrap();
    assert_eq!(smmu.streams(), 256, "the budget, below 2^SIDSIZE");
    assert_eq!(smmu.translated(), 0x21);
    assert_eq!(smmu.named_beyond_table(), 0);
    assert!(
        sim.state().writes.is_empty(),
        "probe only reads the ID registers"
    );
    let mut smmu = smmu;
    smmu.enable().unwrap();
    let s = sim.state();
    let order: Vec<&str> = s.writes.iter().map(String::as_str).collect();
    assert_eq!(
        order,
        [
            "GBPA",
            "CR0=0x0",
            "CR1",
            "CR2",
            "STRTAB_BASE",
            "STRTAB_BASE_CFG",
            "CMDQ_BASE",
            "CMDQ_PROD",
            "CMDQ_CONS",
            "EVENTQ_BASE",
            "EVENTQ_PROD",
            "EVENTQ_CONS",
            "CR0=0x8",
            "CMDQ_PROD",
            "CMDQ_PROD",
            "CR0=0xc",
            "IRQ_CTRL",
            "GERRORN",
            "CR0=0xd",
        ]
    );
    assert_eq!(
        s.regs[&off::GBPA],
        gbpa::ABORT,
        "unknown traffic aborts while disabled"
    );
    assert_eq!(s.regs[&off::CR2], 0b110, "PTM and RECINVSID");
    assert_eq!(
        s.regs[&off::CR1],
        0xd75,
        "tables and queues WB, inner shareable"
    );
    assert_eq!(s.regs[&off::STRTAB_BASE_CFG], 8, "linear, 256 entries");
    assert_eq!(s.regs[&off::IRQ_CTRL], 0, "no interrupts: polled");
    assert_eq!(s.bases[&off::STRTAB_BASE], (1 << 62) | smmu.strtab.addr());
    assert_eq!(s.bases[&off::CMDQ_BASE] & 0x1f, 8);
    assert_eq!(s.bases[&off::EVENTQ_BASE] & 0x1f, 7);
    assert_eq!(smmu.strtab.addr() % (64 << 8), 0, "aligned to its size");
    assert_eq!(
        s.executed,
        [cmd::cfgi_all(), cmd::tlbi_nsnh_all(), cmd::sync()],
        "no CMD_TLBI_EL2_ALL without IDR0.HYP"
    );
    drop(s);
    let s2 = ste::stage2(smmu.s2());
    assert_eq!(ste_at(&smmu, 0), s2);
    assert_eq!(ste_at(&smmu, 0x1f), s2);
    assert_eq!(ste_at(&smmu, 0x20), ste::INVALID, "not a known stream");
    assert_eq!(ste_at(&smmu, 0x40), s2);
    assert_eq!(ste_at(&smmu, 0xff), ste::INVALID);
    assert_eq!(s2[3], ROOT, "the CPUs' own root table");
}

#[test]
fn an_smmu_that_cannot_walk_the_host_stage2_is_refused_at_probe() {
    let no_s2 = Sim::new(QEMU_IDR0 & !1, QEMU_IDR1, QEMU_IDR5);
    let err = Smmu::probe(no_s2.clone(), &geometry(), ROOT, &[0..1]).err();
    assert_eq!(err, Some(SmmuError::Mismatch(Mismatch::NoStage2)));
    let small = Sim::new(QEMU_IDR0, QEMU_IDR1, 1 | (1 << 4));
    let err = Smmu::probe(small, &geometry(), ROOT, &[0..1])
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "cannot translate the host's stage 2: output size 36 bits (IDR5.OAS) below the host \
         stage 2's 40-bit IPA space"
    );
    assert!(no_s2.state().writes.is_empty(), "the SMMU is left alone");
}

#[test]
fn a_small_stream_id_space_gives_a_small_table_and_hyp_adds_el2_invalidation() {
    let sim = Sim::new(QEMU_IDR0 | (1 << 9), (QEMU_IDR1 & !0x3f) | 5, QEMU_IDR5);
    let mut smmu = Smmu::probe(sim.clone(), &geometry(), ROOT, &[0..u32::MAX]).unwrap();
    smmu.enable().unwrap();
    assert_eq!((smmu.streams(), smmu.translated()), (32, 32));
    assert_eq!(
        smmu.named_beyond_table(),
        0,
        "stream IDs the SMMU cannot receive are not missing"
    );
    assert_eq!(sim.state().regs[&off::STRTAB_BASE_CFG], 5);
    assert_eq!(
        sim.state().executed[..3],
        [cmd::cfgi_all(), cmd::tlbi_nsnh_all(), cmd::tlbi_el2_all()]
    );
}

#[test]
fn every_wait_is_bounded_and_a_timeout_fails_the_smmu_for_good() {
    let sim = Sim::qemu();
    sim.state().ack_cr0 = false;
    let mut smmu = Smmu::probe(sim.clone(), &geometry(), ROOT, &[0..1]).unwrap();
    assert_eq!(smmu.enable(), Err(SmmuError::Timeout("CR0ACK")));
    assert_eq!(smmu.invalidate_host(), Err(SmmuError::Failed));

    let sim = Sim::qemu();
    let mut smmu = running(&sim);
    sim.state().consume = false;
    let before = sim.state().executed.len();
    assert_eq!(smmu.invalidate_host(), Err(SmmuError::Timeout("CMD_SYNC")));
    assert_eq!(
        smmu.invalidate_range(0x4000_0000..0x4000_1000),
        Err(SmmuError::Failed)
    );
    sim.state().consume = true;
    assert_eq!(
        smmu.invalidate_host(),
        Err(SmmuError::Failed),
        "still failed"
    );
    assert_eq!(sim.state().executed.len(), before);
    assert_eq!(
        SmmuError::Failed.to_string(),
        "failed earlier; no invalidation can be confirmed"
    );
}

#[test]
fn invalidations_are_synced_and_the_queue_wraps() {
    let sim = Sim::qemu();
    let mut smmu = running(&sim);
    sim.state().executed.clear();
    smmu.invalidate_host().unwrap();
    smmu.invalidate_range(0x4820_3000..0x4820_5000).unwrap();
    assert_eq!(
        sim.state().executed,
        [
            cmd::tlbi_s12_vmall(0),
            cmd::sync(),
            cmd::tlbi_s2_ipa(0, 0x4820_3000),
            cmd::tlbi_s2_ipa(0, 0x4820_4000),
            cmd::sync(),
        ]
    );
    // A long range: one whole-VMID invalidation instead of a command per page.
    sim.state().executed.clear();
    smmu.invalidate_range(0x4000_0000..0x4100_0000).unwrap();
    assert_eq!(sim.state().executed, [cmd::tlbi_s12_vmall(0), cmd::sync()]);
    // 256 entries: 400 more invalidations wrap it three times.
    for _ in 0..400 {
        smmu.invalidate_host().unwrap();
    }
    let s = sim.state();
    assert_eq!(s.executed.len(), 2 + 800);
    assert_eq!(s.cmdq_prod, smmu.cmdq_prod);
    assert_eq!(s.cmdq_prod, (3 + 5 + 2 + 800) % 512, "index and wrap bit");
    assert_eq!(s.unsynced, 0, "every command made visible before PROD");
}

#[test]
fn a_batch_longer_than_the_queue_waits_for_room() {
    // A four-entry command queue (CMDQS = 2): 17 commands go through in chunks.
    let sim = Sim::new(
        QEMU_IDR0,
        (QEMU_IDR1 & !(0x1f << 21)) | (2 << 21),
        QEMU_IDR5,
    );
    let mut smmu = running(&sim);
    sim.state().executed.clear();
    smmu.invalidate_range(0x4000_0000..0x4001_0000).unwrap();
    let s = sim.state();
    assert_eq!(s.executed.len(), 17);
    assert_eq!(s.executed[15], cmd::tlbi_s2_ipa(0, 0x4000_f000));
    assert_eq!(s.executed[16], cmd::sync());
    assert_eq!(s.unsynced, 0);
}

#[test]
fn a_refused_command_is_reported_the_queue_restarted_and_the_smmu_failed() {
    let sim = Sim::qemu();
    let mut smmu = running(&sim);
    sim.state().refuse = Some(0x28);
    assert_eq!(smmu.invalidate_host(), Err(SmmuError::Command(1)));
    let s = sim.state();
    assert_eq!(s.gerror, s.gerrorn, "CMDQ_ERR acknowledged");
    assert_eq!(
        s.executed.last(),
        Some(&cmd::sync()),
        "the refused entry became a CMD_SYNC and the queue ran on"
    );
    assert_eq!(s.unsynced, 0, "the rewritten entry too");
    assert_eq!(s.cmdq_cons & 0xfff, s.cmdq_prod);
    drop(s);
    assert_eq!(smmu.invalidate_host(), Err(SmmuError::Failed));
}

#[test]
fn events_are_decoded_counted_and_consumed_with_overflow_reported() {
    let sim = Sim::qemu();
    let mut smmu = running(&sim);
    let mut seen = Vec::new();
    smmu.poll(&mut |r| seen.push(r));
    assert!(seen.is_empty());
    sim.raise([0x0000_0008_0000_0010, 1 << 39, 0x6000_0000, 0]);
    sim.raise([0x0000_0300_0000_0004, 0, 0, 0]);
    smmu.poll(&mut |r| seen.push(r));
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].to_string(),
        "stream 0x8: F_TRANSLATION (write at 0x60000000)"
    );
    assert_eq!(seen[1].to_string(), "stream 0x300: C_BAD_STE");
    assert_eq!(smmu.stats().events[Kind::Translation.counter()], 1);
    assert_eq!(smmu.stats().events[Kind::BadSte.counter()], 1);
    assert_eq!(sim.state().regs[&off::EVENTQ_CONS], 2, "entries freed");
    // An overflow: reported once, acknowledged (OVACKFLG = OVFLG).
    seen.clear();
    sim.overflow();
    smmu.poll(&mut |r| seen.push(r));
    smmu.poll(&mut |r| seen.push(r));
    assert_eq!(seen, [Report::Overflow]);
    assert_eq!(sim.state().regs[&off::EVENTQ_CONS], (1 << 31) | 2);
    assert_eq!(smmu.stats().overflows, 1);
    // A full queue's worth more, wrapping: all read, in order, none twice.
    seen.clear();
    for i in 0..300u64 {
        sim.raise([0x13 | (i << 32), 0, 0x1000 * i, 0]);
        if i % 100 == 99 {
            smmu.poll(&mut |r| seen.push(r));
        }
    }
    assert_eq!(seen.len(), 300);
    assert!(seen.iter().enumerate().all(
        |(i, r)| matches!(r, Report::Event(e) if e.sid == i as u32 && e.kind == Kind::Permission)
    ));
    assert_eq!(smmu.stats().total(), 302);
}

#[test]
fn a_full_event_queue_is_read_once_per_poll_and_no_more() {
    let sim = Sim::qemu();
    let mut smmu = running(&sim);
    // 128 records: producer and consumer on the same slot, wrap bits apart.
    for i in 0..128u64 {
        sim.raise([0x10 | (i << 32), 0, 0, 0]);
    }
    assert_eq!(sim.state().evtq_prod, 128, "slot 0, wrap set");
    let mut n = 0;
    smmu.poll(&mut |_| n += 1);
    assert_eq!(n, 128, "the whole queue, once");
    smmu.poll(&mut |_| n += 1);
    assert_eq!(n, 128, "nothing twice");
    assert_eq!(sim.state().regs[&off::EVENTQ_CONS], 128);
}

#[test]
fn global_errors_are_reported_once_and_acknowledged() {
    let sim = Sim::qemu();
    let mut smmu = running(&sim);
    sim.state().gerror ^= gerror::EVTQ_ABT_ERR | gerror::SFM_ERR;
    let mut seen = Vec::new();
    smmu.poll(&mut |r| seen.push(r));
    smmu.poll(&mut |r| seen.push(r));
    assert_eq!(seen, [Report::GlobalError(0x104)]);
    assert_eq!(seen[0].to_string(), "global error 0x104 (SMMU_GERROR)");
    let s = sim.state();
    assert_eq!(s.gerror, s.gerrorn);
    assert_eq!(smmu.stats().global_errors, 1);
}

#[test]
fn a_stream_learnt_late_gets_its_ste_then_a_cfgi() {
    let sim = Sim::qemu();
    let mut smmu = Smmu::probe(sim.clone(), &geometry(), ROOT, &[]).unwrap();
    smmu.enable().unwrap();
    assert_eq!(smmu.translated(), 0);
    sim.state().executed.clear();
    smmu.translate_stream(0x18).unwrap();
    assert_eq!(ste_at(&smmu, 0x18), ste::stage2(smmu.s2()));
    assert_eq!(sim.state().executed, [cmd::cfgi_ste(0x18), cmd::sync()]);
    assert_eq!(smmu.translated(), 1);
    assert_eq!(smmu.translate_stream(0x100), Err(SmmuError::NoMemory));
}

// The coupling: the memory core invalidates the SMMU before a LEND reaches the SPMC.

std::thread_local! {
    /// What happened, in order, on this test's thread.
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn note(what: impl Into<String>) {
    LOG.with(|l| l.borrow_mut().push(what.into()));
}

fn take_log() -> Vec<String> {
    LOG.with(|l| core::mem::take(&mut *l.borrow_mut()))
}

fn cpu_flush() {
    note("cpu tlbi");
}

/// A walker that records its invalidations, and fails them when told to.
struct Recorder {
    fail: Arc<Mutex<bool>>,
}

impl SharedWalker for Recorder {
    fn invalidate(&mut self) -> Result<(), Stage2Error> {
        note("smmu invalidate");
        if *self.fail.lock().unwrap() {
            Err(Stage2Error)
        } else {
            Ok(())
        }
    }
}

const QEMU_DTB: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-tfa-optee.dtb");
const RAM: [Range<u64>; 2] = [0x4000_0000..0x6000_0000, 0x6020_0000..0x8000_0000];

fn host_stage2() -> HostStage2 {
    let info = SystemInfo::parse(QEMU_DTB).unwrap();
    let map = HostMap::new(&info, &(0x6000_0000..0x6020_0000), geometry().ipa_bits);
    let s2 = HostStage2::build(&map, geometry()).unwrap();
    s2.mark_active();
    s2
}

fn core_with(walker: Box<dyn SharedWalker>) -> MemProtect {
    let live = LiveStage2::new(host_stage2(), cpu_flush).with_walker(walker);
    MemProtect::new(&RAM, crate::budget::OWNERSHIP_RUNS, Box::new(live))
}

#[test]
fn a_lend_invalidates_the_smmu_after_each_cpu_flush_and_before_the_spmc_hears() {
    let fail = Arc::new(Mutex::new(false));
    let mm = core_with(Box::new(Recorder { fail: fail.clone() }));
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
        r(&[fid::RXTX_MAP_64.into(), 0x4800_0000, 0x4800_1000, 1]),
    ] {
        let mut regs = call;
        assert_eq!(hyp.handle(&mut regs, 0, &mut fw), Outcome::Emulated);
    }
    fw.respond = Some(Box::new(|regs, _, _| {
        note(format!("spmc {:#x}", regs[0]));
        r(&[fid::SUCCESS_32.into(), 0, 0x77, 0])
    }));
    take_log();
    // One page inside a 2 MiB block inside a 1 GiB block: two breaks, then the unmap.
    let page = 0x4820_3000;
    let mut d = linux_share(Version::V1_2, &[0x8001], &[(page, 1)]);
    d[2] = 0;
    d[3] = 0;
    fw.poke(0x4800_0000, &d);
    let len = d.len() as u64;
    let mut regs = r(&[fid::MEM_LEND_64.into(), len, len]);
    assert_eq!(hyp.handle(&mut regs, 0, &mut fw), Outcome::Forwarded);
    let log = take_log();
    let lend = format!("spmc {:#x}", u64::from(fid::MEM_LEND_64));
    let flushes = log.iter().filter(|e| *e == "cpu tlbi").count();
    let expected: Vec<String> = core::iter::repeat_n(["cpu tlbi", "smmu invalidate"], flushes)
        .flatten()
        .map(String::from)
        .chain([lend])
        .collect();
    assert!(flushes >= 2, "a break and the unmap: {log:?}");
    assert_eq!(
        log, expected,
        "each CPU flush followed by the SMMU's, all before the SPMC"
    );
    assert_eq!(hyp.mm.host_access(Ipa(page)), HostAccess::Denied);

    // RECLAIM maps back: no SMMU invalidation needed unless a table folds (this one does,
    // its block being whole again, and the fold's break is invalidated too).
    let mut regs = r(&[fid::MEM_RECLAIM.into(), 0x77, 0, 0]);
    assert_eq!(hyp.handle(&mut regs, 0, &mut fw), Outcome::Forwarded);
    let log = take_log();
    let reclaim = format!("spmc {:#x}", u64::from(fid::MEM_RECLAIM));
    assert_eq!(
        log,
        [&reclaim, "cpu tlbi", "smmu invalidate", "cpu tlbi"],
        "the SPMC gives the page back, the fold's break is invalidated in both, the map \
         back's barrier is the CPUs' alone"
    );
    assert_eq!(hyp.mm.state(PhysAddr(page)), Some(PageState::Owned));
}

#[test]
fn an_unconfirmed_smmu_invalidation_fails_the_lend_and_keeps_the_pages_the_hosts() {
    let fail = Arc::new(Mutex::new(true));
    let mm = core_with(Box::new(Recorder { fail: fail.clone() }));
    let page = 0x4820_3000;
    assert!(mm.lend(&[page..page + 0x1000][..], 1).is_err());
    assert_eq!(mm.state(PhysAddr(page)), Some(PageState::Owned));
    assert_eq!(mm.host_access(Ipa(page)), HostAccess::Allowed);
    assert!(take_log().contains(&String::from("smmu invalidate")));
    // Mapped back: the host can use the page, and its neighbours, again.
    *fail.lock().unwrap() = false;
    mm.lend(&[page..page + 0x1000][..], 2).unwrap();
    assert_eq!(mm.host_access(Ipa(page)), HostAccess::Denied);
}

/// The real core over the simulated SMMU as the memory core's walker.
struct SimWalker(Arc<Mutex<Smmu<Sim>>>);

impl SharedWalker for SimWalker {
    fn invalidate(&mut self) -> Result<(), Stage2Error> {
        self.0
            .lock()
            .unwrap()
            .invalidate_host()
            .map_err(|_| Stage2Error)
    }
}

#[test]
fn a_lend_through_the_smmu_core_issues_vmall_and_sync_per_flush() {
    let sim = Sim::qemu();
    let smmu = Arc::new(Mutex::new(running(&sim)));
    let mm = core_with(Box::new(SimWalker(smmu.clone())));
    sim.state().executed.clear();
    let page = 0x4820_3000;
    mm.lend(&[page..page + 0x1000][..], 1).unwrap();
    let flushes = take_log().iter().filter(|e| *e == "cpu tlbi").count();
    let executed = sim.state().executed.clone();
    assert_eq!(executed.len(), 2 * flushes);
    assert!(
        executed
            .chunks(2)
            .all(|c| c == [cmd::tlbi_s12_vmall(0), cmd::sync()])
    );
    // A SMMU that stops answering: the next lend is refused, the page stays the host's.
    sim.state().consume = false;
    let other = 0x5000_0000;
    assert!(mm.lend(&[other..other + 0x1000][..], 2).is_err());
    assert_eq!(mm.host_access(Ipa(other)), HostAccess::Allowed);
}

/// The lock-free look before a poll says "quiet" exactly when the poll would report nothing.
#[test]
fn the_quiet_look_agrees_with_the_poll_it_saves() {
    let sim = Sim::qemu();
    let mut smmu = running(&sim);
    let look = |smmu: &Smmu<Sim>| {
        let s = sim.state();
        smmu.poll_state().quiet(s.gerror, s.gerrorn, s.evtq_prod)
    };
    let check = |smmu: &mut Smmu<Sim>, what: &str| {
        let quiet = look(smmu);
        let mut reports = 0;
        smmu.poll(&mut |_| reports += 1);
        assert_eq!(
            quiet,
            reports == 0,
            "{what}: look {quiet}, poll saw {reports}"
        );
        assert!(look(smmu), "{what}: quiet after the poll");
    };
    check(&mut smmu, "at boot");
    sim.raise([0x10, 0, 0, 0]);
    check(&mut smmu, "one event");
    sim.overflow();
    check(&mut smmu, "an overflow");
    sim.overflow();
    check(&mut smmu, "a second overflow");
    sim.state().gerror ^= gerror::SFM_ERR;
    check(&mut smmu, "a global error");
    sim.state().gerror ^= gerror::CMDQ_ERR;
    assert!(
        look(&smmu),
        "the command path's own error is not the poll's"
    );
    sim.state().gerror ^= gerror::CMDQ_ERR;
    for round in 0..5 {
        for i in 0..100u64 {
            sim.raise([0x13 | (i << 32), 0, 0, 0]);
        }
        check(&mut smmu, &format!("a wrapping queue, round {round}"));
    }
}

/// QEMU virt's DT (`iommu=smmuv3`) names stream IDs 0..0x10000 for the PCIe root complex
/// (every requester ID) and one beyond 2^16: on an SMMU without 2-level stream tables the
/// linear table covers PCI bus 0; the boot line counts the other 255 buses' stream IDs,
/// which abort.
#[test]
fn streams_the_dt_names_beyond_the_linear_table_are_counted() {
    let nodes = super::node::find_all(include_bytes!(
        "../../../tests/fixtures/qemu-virt-smmuv3-dumpdtb.dtb"
    ))
    .unwrap();
    assert_eq!(nodes.len(), 1);
    let sim = Sim::linear_only();
    let smmu = Smmu::probe(sim, &geometry(), ROOT, &nodes[0].streams).unwrap();
    assert_eq!((smmu.streams(), smmu.translated()), (256, 256));
    assert_eq!(smmu.named_beyond_table(), 0x1_0000 - 0x100);
    assert_eq!(named_beyond(&[0x80..0x180, 0x1ff..0x200], 0x100, 16), 0x81);
    assert_eq!(named_beyond(&[0..u32::MAX], 0x100, 32), 0xffff_ff00 - 1);
    assert_eq!(named_beyond(&[0..0x100], 0x100, 32), 0);
}

/// `vectors.S`'s fast path repeats the quiet look with these numbers written out; they must
/// stay the registers' and the poll's.
#[test]
fn the_vectors_quiet_look_uses_the_registers_and_mask_of_the_poll() {
    assert_eq!(off::GERROR, 0x60);
    assert_eq!(off::GERRORN, 0x64);
    assert_eq!(off::EVENTQ_PROD, 0x1_0000 + 0xa8);
    assert_eq!(gerror::ALL & !gerror::CMDQ_ERR, 0x1fc);
    let vectors = include_str!("../../../boot/src/vectors.S");
    let look = &vectors[vectors.find("ffa_fast_poll:").expect("the poll's label")..];
    for line in [
        "ldr     w12, [x10, #0x60]",
        "ldr     w13, [x10, #0x64]",
        "tst     w12, #0x1fc",
        "add     x10, x10, #0x10, lsl #12",
        "ldr     w13, [x10, #0xa8]",
    ] {
        assert!(look.contains(line), "vectors.S's look: {line}");
    }
}

/// QEMU's SMMU has 2-level stream tables: its DT's 2^16 stream IDs get a level-1 table of
/// 256 descriptors, a level-2 table of 256 STEs for each of buses 0..SMMU_L2_TABLES, and an
/// invalid descriptor for every other bus, whose streams abort and are counted.
#[test]
fn a_two_level_table_translates_the_first_buses_and_refuses_the_rest() {
    use crate::budget::{SMMU_L2_TABLES, SMMU_STRTAB_SPLIT};
    let nodes = super::node::find_all(include_bytes!(
        "../../../tests/fixtures/qemu-virt-smmuv3-dumpdtb.dtb"
    ))
    .unwrap();
    let sim = Sim::qemu();
    let mut smmu = Smmu::probe(sim.clone(), &geometry(), ROOT, &nodes[0].streams).unwrap();
    assert!(smmu.two_level());
    let covered = (SMMU_L2_TABLES as u32) << SMMU_STRTAB_SPLIT;
    assert_eq!((smmu.streams(), smmu.translated()), (covered, covered));
    assert_eq!(smmu.named_beyond_table(), 0x1_0000 - u64::from(covered));
    smmu.enable().unwrap();
    let cfg = sim.state().regs[&off::STRTAB_BASE_CFG];
    assert_eq!(
        cfg,
        (1 << 16) | (8 << 6) | 16,
        "2-level, SPLIT 8, LOG2SIZE 16"
    );
    assert_eq!(smmu.strtab.addr() % (8 << 8), 0, "L1 aligned to its size");
    for (i, desc) in (0..256).map(|i| (i, smmu.strtab.read(i))) {
        if i < SMMU_L2_TABLES {
            assert_eq!(desc & 0x1f, 9, "bus {i}: 256 STEs");
            assert_eq!((desc & !0x3f) % (64 << 8), 0, "bus {i}: L2 aligned");
        } else {
            assert_eq!(desc, ste::L1_INVALID, "bus {i}: no level-2 table");
        }
    }
    let s2 = ste::stage2(smmu.s2());
    assert_eq!(sim.walk(0x0008), Some(s2), "bus 0");
    assert_eq!(sim.walk(0x0318), Some(s2), "a stream on bus 3 translates");
    assert_eq!(sim.walk(covered - 1), Some(s2));
    assert_eq!(
        sim.walk(covered),
        None,
        "beyond the buses built: C_BAD_STREAMID"
    );
    assert_eq!(sim.walk(0xff00), None);
    assert_eq!(sim.walk(0x1_0000), None, "beyond LOG2SIZE");
    sim.state().executed.clear();
    assert_eq!(smmu.translate_stream(covered), Err(SmmuError::NoMemory));
    assert!(sim.state().executed.is_empty(), "it keeps aborting");
    // The L1 table and every L2 table were made visible before the SMMU was enabled.
    assert_eq!(smmu.l2.len(), SMMU_L2_TABLES);
}

/// Level-2 tables are built only for spans the DT names, and a stream learnt late in one of
/// them gets its STE (valid bit last) and a CMD_CFGI_STE.
#[test]
fn a_stream_learnt_late_on_bus_1_gets_its_ste_then_a_cfgi() {
    let sim = Sim::qemu();
    let known = [0x0..0x8, 0x100..0x101, 0x2000..0x2001, 0xfe00..0xfe01];
    let mut smmu = Smmu::probe(sim.clone(), &geometry(), ROOT, &known).unwrap();
    smmu.enable().unwrap();
    assert!(smmu.two_level());
    assert_eq!(smmu.streams(), 4 * 256, "buses 0, 1, 0x20, 0xfe");
    assert_eq!((smmu.translated(), smmu.named_beyond_table()), (11, 0));
    let s2 = ste::stage2(smmu.s2());
    assert_eq!(sim.walk(0x2000), Some(s2));
    assert_eq!(sim.walk(0xfe00), Some(s2));
    assert_eq!(sim.walk(0x118), Some(ste::INVALID), "not named: C_BAD_STE");
    assert_eq!(sim.walk(0x300), None, "bus 3 not named: no table");
    sim.state().executed.clear();
    smmu.translate_stream(0x118).unwrap();
    assert_eq!(sim.walk(0x118), Some(s2));
    assert_eq!(sim.state().executed, [cmd::cfgi_ste(0x118), cmd::sync()]);
    assert_eq!(smmu.translated(), 12);
    smmu.translate_stream(0x118).unwrap();
    assert_eq!(smmu.translated(), 12, "counted once");
    assert_eq!(smmu.translate_stream(0x300), Err(SmmuError::NoMemory));
}

/// Every table is made visible to the SMMU at probe, before its base is programmed; the
/// level-1 table spans only the stream ID bits the DT needs (10 for 0..0x300: 4 buses).
#[test]
fn the_two_level_tables_are_synced_for_the_device_at_probe() {
    let sim = Sim::qemu();
    let mut smmu = Smmu::probe(sim.clone(), &geometry(), ROOT, &[0..0x300]).unwrap();
    let synced = sim.state().synced.clone();
    assert!(synced.contains(&(smmu.strtab.addr()..smmu.strtab.addr() + 8 * 4)));
    assert_eq!(smmu.strtab.read(3), ste::L1_INVALID, "bus 3 not named");
    for (_, table) in &smmu.l2 {
        assert!(synced.contains(&(table.addr()..table.addr() + 64 * 256)));
    }
    assert_eq!(smmu.l2.len(), 3);
    smmu.enable().unwrap();
    assert_eq!(
        sim.state().regs[&off::STRTAB_BASE_CFG],
        (1 << 16) | (8 << 6) | 10
    );
    assert_eq!(sim.walk(0x2ff), Some(ste::stage2(smmu.s2())));
    assert_eq!(sim.walk(0x300), None);
    assert_eq!(sim.walk(0x400), None, "beyond LOG2SIZE");
}

/// Without IDR0.ST_LEVEL the table stays linear, whatever the DT names.
#[test]
fn without_two_level_support_the_table_is_linear() {
    let sim = Sim::linear_only();
    let mut smmu = Smmu::probe(sim.clone(), &geometry(), ROOT, &[0..0x1_0000]).unwrap();
    smmu.enable().unwrap();
    assert!(!smmu.two_level());
    assert_eq!(
        sim.state().regs[&off::STRTAB_BASE_CFG],
        8,
        "linear, 256 entries"
    );
    assert_eq!(sim.walk(0xff), Some(ste::stage2(smmu.s2())));
    assert_eq!(sim.walk(0x100), None);
    assert_eq!(smmu.named_beyond_table(), 0x1_0000 - 0x100);
    assert_eq!(smmu.translate_stream(0x100), Err(SmmuError::NoMemory));
}
