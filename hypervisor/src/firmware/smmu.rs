//! The SMMUv3s' hardware port: their MMIO registers and cache maintenance for the portable
//! core (`crate::smmu`), the SMMUs the boot sets up, the memory core's walker that
//! invalidates them, and the poll of their event queues on the hypervisor's own entries (the
//! host owns the interrupt controller, so no interrupt reaches EL2).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::{Mutex, Once};

use crate::budget::MAX_SMMUS;
use crate::firmware::arch;
use crate::mm::Stage2Error;
use crate::mm::stage2::{Geometry, SharedWalker};
use crate::smmu::node::SmmuNode;
use crate::smmu::regs::off;
use crate::smmu::{FaultStats, PollState, Report, Smmu, SmmuError, SmmuHw};

/// The SMMU's two register pages, mapped Device-nGnRE at the identity in EL2's stage 1.
pub struct Mmio {
    base: u64,
}

impl SmmuHw for Mmio {
    fn read32(&mut self, offset: usize) -> u32 {
        // SAFETY: `base` is the SMMU's register frame (from the DT, mapped as Device in
        // EL2's stage 1 before this is built), and `offset` one of its 32-bit registers.
        unsafe { ((self.base + offset as u64) as *const u32).read_volatile() }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        // SAFETY: as for `read32`.
        unsafe { ((self.base + offset as u64) as *mut u32).write_volatile(value) }
    }

    fn write64(&mut self, offset: usize, value: u64) {
        // SAFETY: as for `read32`; the 64-bit registers are 8-byte aligned.
        unsafe { ((self.base + offset as u64) as *mut u64).write_volatile(value) }
    }

    fn sync_for_device(&mut self, addr: u64, len: usize) {
        // Clean to the point of coherency, then `dsb sy`: the writes are visible to the SMMU
        // before the register write that follows (the clean itself only matters for an
        // SMMU without coherent access, which the core refuses).
        arch::clean_dcache_range(addr, len as u64);
    }

    fn sync_for_cpu(&mut self, addr: u64, len: usize) {
        // The SMMU is coherent (IDR0.COHACC, checked): the barrier orders the register read
        // that found the records before the reads of the records.
        arch::clean_dcache_range(addr, len as u64);
    }
}

/// The SMMUs, once the boot has set them up (at most [`MAX_SMMUS`]).
static SMMUS: Once<Vec<Mutex<Smmu<Mmio>>>> = Once::new();

/// Per SMMU, what the poll's lock-free look reads: its register base and the state the last
/// poll left.
struct Look {
    base: u64,
    state: AtomicU64,
}

/// The looks, in the order of [`SMMUS`] (set with it).
static LOOKS: Once<Vec<Look>> = Once::new();

/// The same look for `vectors.S`'s FF-A fast path when there is exactly one SMMU (`base`
/// non-zero), so that a trap with nothing new costs three register reads and two compares
/// there, not a call into Rust; `base` 0 sends the vector to [`poll`]. Layout (`repr(C)`):
/// the register base at 0, the [`PollState`] at 8.
#[repr(C)]
pub struct VectorLook {
    base: AtomicU64,
    state: AtomicU64,
}

#[unsafe(no_mangle)]
static hyp_smmu_look: VectorLook = VectorLook {
    base: AtomicU64::new(0),
    state: AtomicU64::new(0),
};

/// Events, overflows and global errors seen, for the console's rate limit.
static REPORTS: AtomicU64 = AtomicU64::new(0);

/// Sets up every SMMU the DT describes (`nodes`, mapped in EL2's stage 1) to translate the
/// streams the DT names through the host's stage 2 (`geometry`, rooted at `root`), and
/// returns the memory core's walker for them (`None` without an SMMU). One boot line per
/// SMMU says what it found; the error names the SMMU that failed.
pub fn start(
    nodes: &[SmmuNode],
    geometry: &Geometry,
    root: u64,
) -> Result<Option<Box<dyn SharedWalker>>, (u64, SmmuError)> {
    if let Some(extra) = nodes.get(MAX_SMMUS) {
        return Err((extra.regs.start, SmmuError::Budget));
    }
    let mut smmus = Vec::with_capacity(nodes.len());
    for node in nodes {
        let at = node.regs.start;
        let mut smmu =
            Smmu::probe(Mmio { base: at }, geometry, root, &node.streams).map_err(|e| (at, e))?;
        smmu.enable().map_err(|e| (at, e))?;
        crate::firmware::console::info!(
            "smmu at {at:#x}: {} streams ({} translated, {} table), stage 2 shared, {}-bit output, {}",
            smmu.streams(),
            smmu.translated(),
            if smmu.two_level() {
                "2-level"
            } else {
                "linear"
            },
            smmu.features().oas_bits(),
            if node.dma_coherent {
                "coherent"
            } else {
                "coherent by IDR0 (the DT omits dma-coherent)"
            }
        );
        // Not a warning: failing closed is the design (QEMU's DT names every bus).
        if smmu.named_beyond_table() != 0 {
            crate::firmware::console::info!(
                "smmu at {at:#x}: {} more stream IDs the DT names have no STE: their DMA aborts (C_BAD_STREAMID)",
                smmu.named_beyond_table()
            );
        }
        smmus.push(Mutex::new(smmu));
    }
    if smmus.is_empty() {
        return Ok(None);
    }
    let looks = nodes
        .iter()
        .zip(&smmus)
        .map(|(node, smmu)| Look {
            base: node.regs.start,
            state: AtomicU64::new(smmu.lock().poll_state().0),
        })
        .collect();
    SMMUS.call_once(|| smmus);
    let looks = LOOKS.call_once(|| looks);
    if let [only] = looks.as_slice() {
        hyp_smmu_look
            .state
            .store(only.state.load(Ordering::Relaxed), Ordering::Relaxed);
        hyp_smmu_look.base.store(only.base, Ordering::Release);
    }
    Ok(Some(Box::new(Walker)))
}

/// The SMMUs set up at boot (none before).
fn smmus() -> &'static [Mutex<Smmu<Mmio>>] {
    SMMUS.get().map_or(&[], Vec::as_slice)
}

/// The memory core's view of the SMMUs: CMD_TLBI_S12_VMALL + CMD_SYNC on each, after every
/// change that removes host stage-2 entries; confirmed only if every SMMU confirms. Takes
/// each SMMU's lock inside the memory lock (the poll takes them alone).
struct Walker;

impl SharedWalker for Walker {
    fn invalidate(&mut self) -> Result<(), Stage2Error> {
        let mut confirmed = Ok(());
        for smmu in smmus() {
            let result = smmu.lock().invalidate_host();
            if let Err(e) = result {
                crate::firmware::console::error!("smmu: invalidation not confirmed: {e}");
                confirmed = Err(Stage2Error);
            }
        }
        confirmed
    }
}

/// The SMMUs' fault counts added up, if there is one (for the DMA audit HVC).
pub fn stats() -> Option<FaultStats> {
    let smmus = smmus();
    (!smmus.is_empty()).then(|| {
        let mut total = FaultStats::default();
        for smmu in smmus {
            total.add(smmu.lock().stats());
        }
        total
    })
}

/// Reads each SMMU's event queue and global errors when they have news, if no other CPU is
/// doing so: one rate-limited console line per report. Called on every hypervisor entry;
/// without an SMMU it is one load and a branch, with one three register reads per SMMU
/// against what the last poll left ([`PollState::quiet`]), the lock only when there is news.
#[inline(always)]
pub fn poll() {
    if let Some(looks) = LOOKS.get() {
        poll_news(looks);
    }
}

#[inline(never)]
fn poll_news(looks: &[Look]) {
    for (look, smmu) in looks.iter().zip(smmus()) {
        let state = PollState(look.state.load(Ordering::Relaxed));
        let mut hw = Mmio { base: look.base };
        if state.quiet(
            hw.read32(off::GERROR),
            hw.read32(off::GERRORN),
            hw.read32(off::EVENTQ_PROD),
        ) {
            continue;
        }
        let Some(mut smmu) = smmu.try_lock() else {
            continue;
        };
        smmu.poll(&mut |report| {
            let n = REPORTS.fetch_add(1, Ordering::Relaxed);
            if n < 8 || n.is_power_of_two() {
                log_report(report, n);
            }
        });
        let state = smmu.poll_state().0;
        look.state.store(state, Ordering::Relaxed);
        if hyp_smmu_look.base.load(Ordering::Relaxed) == look.base {
            hyp_smmu_look.state.store(state, Ordering::Relaxed);
        }
    }
}

#[cold]
#[inline(never)]
fn log_report(report: Report, n: u64) {
    crate::firmware::console::warning!("smmu: {report} [#{}]", n + 1);
}
