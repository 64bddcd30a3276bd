//! The SMMUv3 the hypervisor owns: every DMA a host-programmed device makes is translated by
//! the host's own stage-2 tables, so a device reaches exactly what the host's CPUs reach.
//!
//! Portable: the register accesses and cache maintenance go through [`SmmuHw`], which the
//! firmware glue implements over the SMMU's MMIO and the unit tests over a simulated SMMU.
//!
//! - [`regs`]: register offsets, the ID registers decoded ([`regs::Features`]) and the check
//!   that the SMMU can walk the host stage 2's geometry ([`regs::check_geometry`]).
//! - [`ste`]: stream table entries (stage-2-only translation; invalid for unknown streams)
//!   and the stream table's formats: 2-level when the SMMU has it (level-2 tables for the
//!   first spans the DT names, built at boot), else linear.
//! - [`cmd`]: commands and the queues' wrap-bit arithmetic.
//! - [`event`]: event records decoded for the fault counters and the console.
//!
//! **Shared tables, not a mirror.** Each STE's S2TTB is the root that VTTBR_EL2 names. One
//! set of tables means one truth (a device and a CPU can never disagree on what the host
//! owns) and no second table pool (the carve-out could not hold one). It needs the SMMU's
//! walks to be coherent with the CPUs' caches (IDR0.COHACC; aarch64-paging writes the tables
//! with plain cached stores): an SMMU without it is refused at boot. The rule of
//! break-before-make holds for the SMMU as for the CPUs because every TLB invalidation the
//! memory core issues after a break, an unmap or a fold is followed by
//! [`Smmu::invalidate_host`] (CMD_TLBI_S12_VMALL of VMID 0, which also drops cached walks,
//! then CMD_SYNC, waited for), under the memory lock, before the change is reported done;
//! so a table page freed by a fold is not reused while the SMMU may still walk it.
//!
//! Every wait on the SMMU is bounded ([`crate::budget::SMMU_POLLS`]); a timeout is an error,
//! and after one the SMMU is treated as failed ([`SmmuError::Failed`]): no invalidation can
//! be confirmed any more, so every change that needs one is refused.

pub mod cmd;
pub mod event;
pub mod node;
pub mod regs;
pub mod ste;

#[cfg(test)]
mod tests;

use alloc::alloc::{Layout, alloc_zeroed};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use crate::budget::{
    SMMU_CMDQ_LOG2, SMMU_EVTQ_LOG2, SMMU_L2_TABLES, SMMU_POLLS, SMMU_STREAMS, SMMU_STRTAB_MAX_LOG2,
    SMMU_STRTAB_SPLIT,
};
use crate::mm::stage2::Geometry;
use cmd::{Cmd, Ring};
use event::{Event, Kind, Record};
use regs::{Features, Mismatch, S2Config, cr0, gbpa, gerror, off};

/// The SMMU's registers and the memory it reads, as the core needs them.
pub trait SmmuHw {
    /// Reads the 32-bit register at `offset` from the SMMU's base.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes the 32-bit register at `offset`.
    fn write32(&mut self, offset: usize, value: u32);
    /// Writes the 64-bit register at `offset`.
    fn write64(&mut self, offset: usize, value: u64);
    /// Makes the CPU's writes to `[addr, addr + len)` visible to the SMMU before the next
    /// register write (a barrier; a clean to the point of coherency if not coherent).
    fn sync_for_device(&mut self, addr: u64, len: usize);
    /// Makes the SMMU's writes to `[addr, addr + len)` visible to the CPU's next reads.
    fn sync_for_cpu(&mut self, addr: u64, len: usize);
}

/// Why the SMMU could not be set up or did not confirm a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmmuError {
    /// The SMMU cannot walk the host's stage 2.
    Mismatch(Mismatch),
    /// The heap could not hold the stream table or a queue.
    NoMemory,
    /// A bounded wait ran out: what was waited for.
    Timeout(&'static str),
    /// The SMMU refused a command (CMDQ_CONS.ERR: 1 illegal, 2 abort on fetch).
    Command(u32),
    /// An earlier wait ran out: nothing the SMMU does can be trusted to complete.
    Failed,
    /// More SMMUs than [`crate::budget::MAX_SMMUS`].
    Budget,
}

impl fmt::Display for SmmuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmmuError::Mismatch(m) => write!(f, "cannot translate the host's stage 2: {m}"),
            SmmuError::NoMemory => f.write_str("no memory for the stream table and queues"),
            SmmuError::Timeout(what) => write!(f, "no answer ({what})"),
            SmmuError::Command(code) => write!(f, "command refused (CMDQ_CONS.ERR = {code})"),
            SmmuError::Failed => f.write_str("failed earlier; no invalidation can be confirmed"),
            SmmuError::Budget => write!(
                f,
                "beyond the {} SMMUs the hypervisor drives",
                crate::budget::MAX_SMMUS
            ),
        }
    }
}

impl From<Mismatch> for SmmuError {
    fn from(m: Mismatch) -> Self {
        SmmuError::Mismatch(m)
    }
}

/// Zeroed memory the SMMU reads or writes, aligned to its size, never freed (the SMMU
/// keeps using it for as long as it runs).
struct DmaBuf {
    base: *mut u64,
    words: usize,
}

// SAFETY: the buffer is owned by one `Smmu` for ever; the CPU reaches it only through that
// `Smmu` (behind its lock in the firmware), and its address is valid on every CPU.
unsafe impl Send for DmaBuf {}

impl DmaBuf {
    fn new(bytes: usize) -> Result<Self, SmmuError> {
        let bytes = bytes.max(64);
        let layout = Layout::from_size_align(bytes, bytes).map_err(|_| SmmuError::NoMemory)?;
        // SAFETY: `layout` has a non-zero size.
        let base = unsafe { alloc_zeroed(layout) }.cast::<u64>();
        if base.is_null() {
            return Err(SmmuError::NoMemory);
        }
        Ok(DmaBuf {
            base,
            words: bytes / 8,
        })
    }

    /// Physical address (EL2 maps its RAM at the identity).
    fn addr(&self) -> u64 {
        self.base as u64
    }

    fn write(&mut self, word: usize, values: &[u64]) {
        assert!(word + values.len() <= self.words);
        for (i, v) in values.iter().enumerate() {
            // SAFETY: in bounds (checked above) of memory this buffer owns; volatile, as
            // the SMMU reads it behind the compiler's back.
            unsafe { self.base.add(word + i).write_volatile(*v) };
        }
    }

    fn read(&self, word: usize) -> u64 {
        assert!(word < self.words);
        // SAFETY: in bounds of memory this buffer owns; the SMMU writes it.
        unsafe { self.base.add(word).read_volatile() }
    }
}

/// Fault counts since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Events by [`Kind::counter`].
    pub events: [u64; Kind::NAMED + 1],
    /// Event-queue overflows seen (events were lost).
    pub overflows: u64,
    /// Global errors seen (SMMU_GERROR bits that became active).
    pub global_errors: u64,
}

impl FaultStats {
    /// Adds `other`'s counts (another SMMU's) to these.
    pub fn add(&mut self, other: &FaultStats) {
        for (mine, theirs) in self.events.iter_mut().zip(other.events) {
            *mine += theirs;
        }
        self.overflows += other.overflows;
        self.global_errors += other.global_errors;
    }

    /// Every event counted.
    pub fn total(&self) -> u64 {
        self.events.iter().sum()
    }

    /// Translation faults: F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION (a device's
    /// access the host stage 2 does not allow).
    pub fn translation_faults(&self) -> u64 {
        [
            Kind::Translation,
            Kind::AddrSize,
            Kind::Access,
            Kind::Permission,
        ]
        .iter()
        .map(|k| self.events[k.counter()])
        .sum()
    }

    /// Transactions of streams the hypervisor does not translate: C_BAD_STREAMID, C_BAD_STE.
    pub fn refused_streams(&self) -> u64 {
        self.events[Kind::BadStreamId.counter()] + self.events[Kind::BadSte.counter()]
    }
}

/// What one poll found, for the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// One event record.
    Event(Event),
    /// The event queue overflowed: the SMMU dropped events since the last poll.
    Overflow,
    /// SMMU_GERROR bits that became active (acknowledged).
    GlobalError(u32),
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Event(e) => write!(f, "{e}"),
            Report::Overflow => f.write_str("event queue overflow: events lost"),
            Report::GlobalError(bits) => write!(f, "global error {bits:#x} (SMMU_GERROR)"),
        }
    }
}

/// The VMID of the host's stage 2 (VTTBR_EL2.VMID).
const HOST_VMID: u16 = 0;

/// CMD_TLBI_S2_IPA commands one range may take before a whole-VMID invalidation is
/// cheaper.
const MAX_IPA_TLBIS: u64 = 16;

/// The SMMU, set up to translate every known stream through the host's stage 2.
pub struct Smmu<H: SmmuHw> {
    hw: H,
    features: Features,
    s2: S2Config,
    /// The linear table, or the level-1 table of a 2-level one.
    strtab: DmaBuf,
    /// log2 of the stream IDs the table spans (STRTAB_BASE_CFG.LOG2SIZE).
    strtab_log2: u32,
    /// 2-level only: STRTAB_BASE_CFG.SPLIT.
    split: Option<u32>,
    /// 2-level only: the level-2 tables, each with its level-1 index.
    l2: Vec<(u32, DmaBuf)>,
    translated: u32,
    beyond: u64,
    cmdq: DmaBuf,
    cmdq_ring: Ring,
    cmdq_prod: u32,
    evtq: DmaBuf,
    evtq_ring: Ring,
    evtq_cons: u32,
    stats: FaultStats,
    failed: bool,
}

/// How many stream IDs in `known` lie at or above `streams` (the table's size) and below
/// 2^`sid_bits` (what the SMMU can receive); overlapping ranges count once each.
#[cfg(test)]
fn named_beyond(known: &[Range<u32>], streams: u32, sid_bits: u32) -> u64 {
    named_uncovered(known, &[0..u64::from(streams)], sid_bits)
}

/// How many stream IDs in `known` below 2^`sid_bits` (what the SMMU can receive) have no
/// STE: they lie in none of the disjoint spans `covered`; overlapping ranges count once each.
fn named_uncovered(known: &[Range<u32>], covered: &[Range<u64>], sid_bits: u32) -> u64 {
    let top = 1u64 << sid_bits.min(32);
    let overlap =
        |a: &Range<u64>, b: &Range<u64>| b.end.min(a.end).saturating_sub(b.start.max(a.start));
    known
        .iter()
        .map(|r| {
            let r = u64::from(r.start)..u64::from(r.end).min(top);
            let inside: u64 = covered.iter().map(|c| overlap(&r, c)).sum();
            r.end.saturating_sub(r.start) - inside
        })
        .sum()
}

/// The bits a stream ID needs to reach every one `known` names (0 when none).
fn sid_bits_named(known: &[Range<u32>]) -> u32 {
    let end = known
        .iter()
        .filter(|r| r.start < r.end)
        .map(|r| r.end)
        .max();
    end.map_or(0, |e| 32 - (e - 1).leading_zeros())
}

impl<H: SmmuHw> Smmu<H> {
    /// Reads the ID registers, checks them against the host stage 2 (`geometry`, rooted at
    /// `root`), and builds the stream table and queues in the heap: a stage-2 STE for each
    /// stream ID in `known` (those the DT says a bus masters with), an invalid one for
    /// every other. The SMMU itself is not touched beyond its ID registers.
    pub fn probe(
        mut hw: H,
        geometry: &Geometry,
        root: u64,
        known: &[Range<u32>],
    ) -> Result<Self, SmmuError> {
        let features = Features::decode(
            hw.read32(off::IDR0),
            hw.read32(off::IDR1),
            hw.read32(off::IDR5),
        );
        let s2 = regs::check_geometry(&features, geometry, root)?;
        let entry = ste::stage2(&s2);
        let linear_log2 = ste::table_log2(features.sid_bits, SMMU_STREAMS);
        let spanned_log2 = features
            .sid_bits
            .min(SMMU_STRTAB_MAX_LOG2)
            .min(sid_bits_named(known));
        let split = SMMU_STRTAB_SPLIT;
        let two_level =
            features.two_level_streams && spanned_log2 > linear_log2 && spanned_log2 > split;
        let (strtab, strtab_log2, l2, translated, beyond) = if two_level {
            Self::build_two_level(
                &mut hw,
                &entry,
                spanned_log2,
                split,
                known,
                features.sid_bits,
            )?
        } else {
            let mut strtab = DmaBuf::new(64 << linear_log2)?;
            let translated = fill(&mut strtab, &entry, 0..1 << linear_log2, known);
            let beyond = named_uncovered(known, &[0..1 << linear_log2], features.sid_bits);
            hw.sync_for_device(strtab.addr(), 64 << linear_log2);
            (strtab, linear_log2, Vec::new(), translated, beyond)
        };
        let cmdq_ring = Ring {
            log2: features.cmdq_log2.min(SMMU_CMDQ_LOG2),
        };
        let evtq_ring = Ring {
            log2: features.evtq_log2.min(SMMU_EVTQ_LOG2),
        };
        let cmdq = DmaBuf::new(16 << cmdq_ring.log2)?;
        let evtq = DmaBuf::new(32 << evtq_ring.log2)?;
        Ok(Smmu {
            hw,
            features,
            s2,
            strtab,
            strtab_log2,
            split: two_level.then_some(split),
            l2,
            translated,
            beyond,
            cmdq,
            cmdq_ring,
            cmdq_prod: 0,
            evtq,
            evtq_ring,
            evtq_cons: 0,
            stats: FaultStats::default(),
            failed: false,
        })
    }

    /// A 2-level table spanning 2^`log2` stream IDs: the level-1 table, and a level-2 table
    /// of 2^`split` STEs for each of the first [`SMMU_L2_TABLES`] spans `known` names (fewer
    /// if the heap runs out: their streams then abort like the others'), each made visible
    /// to the SMMU before the level-1 descriptor that points at it. Returns the level-1
    /// table, `log2`, the level-2 tables, the streams translated and those named uncovered.
    #[allow(clippy::type_complexity)]
    fn build_two_level(
        hw: &mut H,
        entry: &ste::Ste,
        log2: u32,
        split: u32,
        known: &[Range<u32>],
        sid_bits: u32,
    ) -> Result<(DmaBuf, u32, Vec<(u32, DmaBuf)>, u32, u64), SmmuError> {
        let l1_entries = 1u32 << (log2 - split);
        let mut l1 = DmaBuf::new(8 << (log2 - split))?;
        let mut l2 = Vec::with_capacity(SMMU_L2_TABLES);
        let mut covered = Vec::with_capacity(SMMU_L2_TABLES);
        let mut translated = 0;
        for index in 0..l1_entries {
            if l2.len() == SMMU_L2_TABLES {
                break;
            }
            let span = index << split..(index + 1) << split;
            if !known
                .iter()
                .any(|r| r.start < span.end && span.start < r.end)
            {
                continue;
            }
            let Ok(mut table) = DmaBuf::new(64 << split) else {
                break;
            };
            translated += fill(&mut table, entry, span.clone(), known);
            hw.sync_for_device(table.addr(), 64 << split);
            l1.write(index as usize, &[ste::l1_desc(table.addr(), split)]);
            covered.push(u64::from(span.start)..u64::from(span.end));
            l2.push((index, table));
        }
        hw.sync_for_device(l1.addr(), 8 << (log2 - split));
        let beyond = named_uncovered(known, &covered, sid_bits);
        Ok((l1, log2, l2, translated, beyond))
    }

    /// Where stream `sid`'s STE is: the table (`None` the linear one, else the position in
    /// `l2`) and the STE's index in it; `None` if it has no STE.
    fn ste_slot(&self, sid: u32) -> Option<(Option<usize>, usize)> {
        match self.split {
            None => (sid < 1 << self.strtab_log2).then_some((None, sid as usize)),
            Some(split) => {
                let index = sid >> split;
                let at = self.l2.iter().position(|(i, _)| *i == index)?;
                Some((Some(at), (sid & ((1 << split) - 1)) as usize))
            }
        }
    }

    fn table_mut(&mut self, which: Option<usize>) -> &mut DmaBuf {
        match which {
            None => &mut self.strtab,
            Some(at) => &mut self.l2[at].1,
        }
    }

    /// Whether the stream table is 2-level.
    pub fn two_level(&self) -> bool {
        self.split.is_some()
    }

    /// What the ID registers said.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The stage-2 fields every translated STE holds.
    pub fn s2(&self) -> &S2Config {
        &self.s2
    }

    /// STEs in the stream table (stream IDs it can translate): the linear table's entries,
    /// or those of the level-2 tables built.
    pub fn streams(&self) -> u32 {
        match self.split {
            None => 1 << self.strtab_log2,
            Some(split) => (self.l2.len() as u32) << split,
        }
    }

    /// Stream IDs translated through the host's stage 2.
    pub fn translated(&self) -> u32 {
        self.translated
    }

    /// Stream IDs the DT names that the SMMU can emit (below 2^SIDSIZE) but that have no STE
    /// (beyond the linear table, or in a span without a level-2 table): their transactions end with C_BAD_STREAMID (aborted, recorded).
    /// Non-zero means a device there cannot DMA: the boot line says how many.
    pub fn named_beyond_table(&self) -> u64 {
        self.beyond
    }

    /// Fault counts since boot.
    pub fn stats(&self) -> &FaultStats {
        &self.stats
    }

    /// Polls `offset` until `done` holds of its value, at most [`SMMU_POLLS`] reads.
    fn wait(
        &mut self,
        offset: usize,
        what: &'static str,
        done: impl Fn(u32) -> bool,
    ) -> Result<u32, SmmuError> {
        for _ in 0..SMMU_POLLS {
            let v = self.hw.read32(offset);
            if done(v) {
                return Ok(v);
            }
        }
        self.failed = true;
        Err(SmmuError::Timeout(what))
    }

    /// Writes CR0 and waits for CR0ACK to match.
    fn set_cr0(&mut self, value: u32) -> Result<(), SmmuError> {
        self.hw.write32(off::CR0, value);
        self.wait(off::CR0ACK, "CR0ACK", |v| v == value).map(|_| ())
    }

    /// The init sequence: abort everything while disabled (GBPA), disable, program the
    /// table and queue bases and attributes, enable the command queue, invalidate every
    /// cached configuration and TLB entry, enable the event queue with interrupts off (the
    /// host owns the GIC; the hypervisor polls), then translation. Each step is waited for,
    /// with a bound; GBPA.ABORT stays set, so disabling the SMMU later aborts every DMA.
    pub fn enable(&mut self) -> Result<(), SmmuError> {
        self.hw.write32(off::GBPA, gbpa::UPDATE | gbpa::ABORT);
        self.wait(off::GBPA, "GBPA update", |v| v & gbpa::UPDATE == 0)?;
        self.set_cr0(0)?;
        // Tables and queues: inner shareable (SH = 3), write-back (IC/OC = 1).
        self.hw.write32(
            off::CR1,
            (3 << 10) | (1 << 8) | (1 << 6) | (3 << 4) | (1 << 2) | 1,
        );
        // PTM: only our commands invalidate (no broadcast TLBI); RECINVSID: record stream
        // IDs beyond the table (C_BAD_STREAMID).
        self.hw.write32(off::CR2, (1 << 2) | (1 << 1));
        const RA_WA: u64 = 1 << 62;
        self.hw
            .write64(off::STRTAB_BASE, RA_WA | self.strtab.addr());
        let cfg = match self.split {
            None => ste::linear_base_cfg(self.strtab_log2),
            Some(split) => ste::two_level_base_cfg(self.strtab_log2, split),
        };
        self.hw.write32(off::STRTAB_BASE_CFG, cfg);
        self.hw.write64(
            off::CMDQ_BASE,
            RA_WA | self.cmdq.addr() | u64::from(self.cmdq_ring.log2),
        );
        self.hw.write32(off::CMDQ_PROD, 0);
        self.hw.write32(off::CMDQ_CONS, 0);
        self.cmdq_prod = 0;
        self.hw.write64(
            off::EVENTQ_BASE,
            RA_WA | self.evtq.addr() | u64::from(self.evtq_ring.log2),
        );
        self.hw.write32(off::EVENTQ_PROD, 0);
        self.hw.write32(off::EVENTQ_CONS, 0);
        self.evtq_cons = 0;
        self.set_cr0(cr0::CMDQEN)?;
        let cmds = [cmd::cfgi_all(), cmd::tlbi_nsnh_all(), cmd::tlbi_el2_all()];
        let n = if self.features.hyp { 3 } else { 2 };
        self.submit(&cmds[..n])?;
        self.sync()?;
        self.set_cr0(cr0::CMDQEN | cr0::EVTQEN)?;
        self.hw.write32(off::IRQ_CTRL, 0);
        self.wait(off::IRQ_CTRLACK, "IRQ_CTRLACK", |v| v == 0)?;
        let errors = self.hw.read32(off::GERROR);
        self.hw.write32(off::GERRORN, errors);
        self.set_cr0(cr0::CMDQEN | cr0::EVTQEN | cr0::SMMUEN)
    }

    /// Writes `cmds` at the producer index, waiting (bounded) for room, and publishes them.
    fn submit(&mut self, cmds: &[Cmd]) -> Result<(), SmmuError> {
        if self.failed {
            return Err(SmmuError::Failed);
        }
        let ring = self.cmdq_ring;
        for c in cmds.iter() {
            if ring.full(self.cmdq_prod, self.hw.read32(off::CMDQ_CONS)) {
                self.publish();
                let prod = self.cmdq_prod;
                self.wait(off::CMDQ_CONS, "command queue space", |v| {
                    !ring.full(prod, v)
                })?;
            }
            let slot = ring.slot(self.cmdq_prod);
            self.cmdq.write(slot * 2, c);
            self.hw
                .sync_for_device(self.cmdq.addr() + 16 * slot as u64, 16);
            self.cmdq_prod = ring.next(self.cmdq_prod);
        }
        self.publish();
        Ok(())
    }

    /// Tells the SMMU about the commands written (each made visible to it as written).
    fn publish(&mut self) {
        self.hw.write32(off::CMDQ_PROD, self.cmdq_prod);
    }

    /// Issues CMD_SYNC and waits (bounded) until the SMMU has consumed it, so every earlier
    /// command has completed. A command the SMMU refused is replaced by a CMD_SYNC, the
    /// error acknowledged, and reported.
    fn sync(&mut self) -> Result<(), SmmuError> {
        self.submit(&[cmd::sync()])?;
        let ring = self.cmdq_ring;
        let prod = self.cmdq_prod;
        let cons = self.wait(off::CMDQ_CONS, "CMD_SYNC", |v| {
            ring.index(v) == prod || (v >> 24) & 0x7f != 0
        })?;
        let code = (cons >> 24) & 0x7f;
        if code == 0 {
            return Ok(());
        }
        // The SMMU stopped at the refused command: make it harmless and restart the queue
        // by acknowledging CMDQ_ERR (toggling GERRORN's bit to match GERROR's).
        self.cmdq.write(ring.slot(cons) * 2, &cmd::sync());
        self.hw
            .sync_for_device(self.cmdq.addr() + 16 * ring.slot(cons) as u64, 16);
        let errn = self.hw.read32(off::GERRORN);
        self.hw.write32(off::GERRORN, errn ^ gerror::CMDQ_ERR);
        // Ours are well-formed: a refusal means the SMMU is not what it said it was.
        self.failed = true;
        Err(SmmuError::Command(code))
    }

    /// After a change that removed or replaced entries of the host's stage 2 (a break, an
    /// unmap, a fold): CMD_TLBI_S12_VMALL for the host's VMID (TLB entries and cached
    /// walks), then CMD_SYNC, waited for.
    pub fn invalidate_host(&mut self) -> Result<(), SmmuError> {
        self.submit(&[cmd::tlbi_s12_vmall(HOST_VMID)])?;
        self.sync()
    }

    /// After `range` (page-aligned IPAs) alone was unmapped: one CMD_TLBI_S2_IPA per page
    /// (with their cached walks) up to a few pages, else the whole VMID; then CMD_SYNC,
    /// waited for.
    pub fn invalidate_range(&mut self, range: Range<u64>) -> Result<(), SmmuError> {
        let pages = (range.end.saturating_sub(range.start)).div_ceil(crate::addr::PAGE);
        if pages > MAX_IPA_TLBIS {
            return self.invalidate_host();
        }
        for page in 0..pages {
            let ipa = range.start + page * crate::addr::PAGE;
            self.submit(&[cmd::tlbi_s2_ipa(HOST_VMID, ipa)])?;
        }
        self.sync()
    }

    /// The state [`PollState::quiet`] compares the registers with, as this poll left it.
    pub fn poll_state(&self) -> PollState {
        let mask = ((2u32 << self.evtq_ring.log2) - 1) | 1 << 31;
        PollState(u64::from(mask) << 32 | u64::from(self.evtq_cons))
    }

    /// Reads what the SMMU reported since the last poll: at most one queue's worth of
    /// events, an overflow, new global errors; counts each and passes it to `report`.
    /// Called on the hypervisor's own entries (the host owns the interrupt controller).
    pub fn poll(&mut self, report: &mut dyn FnMut(Report)) {
        let active = self.hw.read32(off::GERROR) ^ self.hw.read32(off::GERRORN);
        // CMDQ_ERR is the command path's own to acknowledge (`sync`).
        let new = active & gerror::ALL & !gerror::CMDQ_ERR;
        if new != 0 {
            self.stats.global_errors += 1;
            let errn = self.hw.read32(off::GERRORN);
            self.hw.write32(off::GERRORN, errn ^ new);
            report(Report::GlobalError(new));
        }
        let ring = self.evtq_ring;
        let prod_reg = self.hw.read32(off::EVENTQ_PROD);
        let prod = ring.index(prod_reg);
        let overflow = prod_reg >> 31;
        if overflow != self.evtq_cons >> 31 {
            self.stats.overflows += 1;
            report(Report::Overflow);
        }
        let mut cons = ring.index(self.evtq_cons);
        if cons != prod {
            self.hw.sync_for_cpu(self.evtq.addr(), 32 << ring.log2);
        }
        for _ in 0..ring.entries() {
            if cons == prod {
                break;
            }
            let w = ring.slot(cons) * 4;
            let record: Record = [
                self.evtq.read(w),
                self.evtq.read(w + 1),
                self.evtq.read(w + 2),
                self.evtq.read(w + 3),
            ];
            let e = Event::decode(&record);
            self.stats.events[e.kind.counter()] += 1;
            report(Report::Event(e));
            cons = ring.next(cons);
        }
        // Free the entries read and acknowledge the overflow (OVACKFLG = OVFLG).
        self.evtq_cons = cons | (overflow << 31);
        self.hw.write32(off::EVENTQ_CONS, self.evtq_cons);
    }
}

/// What the last poll left, packed for a lock-free look before the next one: the event
/// queue's consumer state (index with its wrap bit, the overflow acknowledged in bit 31) in
/// the low word, the bits of EVENTQ_PROD it is compared with in the high word. A trap that
/// finds nothing new (the common case) then costs three register reads, not the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollState(pub u64);

impl PollState {
    /// Whether a poll would find nothing: no global error other than the command path's own
    /// (`CMDQ_ERR`, acknowledged by `sync`), and EVENTQ_PROD (index, wrap and overflow
    /// flag) equal to what the last poll consumed and acknowledged.
    pub const fn quiet(self, gerror: u32, gerrorn: u32, prod_reg: u32) -> bool {
        let mask = (self.0 >> 32) as u32;
        (gerror ^ gerrorn) & gerror::ALL & !gerror::CMDQ_ERR == 0
            && prod_reg & mask == self.0 as u32
    }
}

impl<H: SmmuHw> Smmu<H> {
    /// Makes stream `sid` translate through the host's stage 2 on a running SMMU: the STE
    /// written with its valid bit last, then CMD_CFGI_STE and CMD_SYNC, waited for. A stream
    /// without an STE (beyond the linear table, or in a span without a level-2 table) is
    /// refused: it keeps aborting.
    pub fn translate_stream(&mut self, sid: u32) -> Result<(), SmmuError> {
        let Some((which, index)) = self.ste_slot(sid) else {
            return Err(SmmuError::NoMemory);
        };
        let entry = ste::stage2(&self.s2);
        let at = index * 8;
        let table = self.table_mut(which);
        let addr = table.addr() + index as u64 * 64;
        if table.read(at) & 1 == 0 {
            table.write(at + 1, &entry[1..]);
            self.hw.sync_for_device(addr, 64);
            self.translated += 1;
        }
        self.table_mut(which).write(at, &entry[..1]);
        self.hw.sync_for_device(addr, 64);
        self.submit(&[cmd::cfgi_ste(sid)])?;
        self.sync()
    }
}

/// Writes `entry` into `table` (whose first STE is stream `sids.start`'s) for every stream
/// of `sids` that `known` names; returns how many.
fn fill(table: &mut DmaBuf, entry: &ste::Ste, sids: Range<u32>, known: &[Range<u32>]) -> u32 {
    let mut written = 0;
    for sid in sids.clone() {
        if known.iter().any(|r| r.contains(&sid)) {
            table.write((sid - sids.start) as usize * 8, entry);
            written += 1;
        }
    }
    written
}
