//! The SMMUv3's hardware port: its MMIO registers and cache maintenance for the portable
//! core (`crate::smmu`), the one SMMU the boot sets up, the memory core's walker that
//! invalidates it, and the poll of its event queue on the hypervisor's own entries (the
//! host owns the interrupt controller, so no interrupt reaches EL2).

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::{Mutex, Once};

use crate::firmware::arch;
use crate::mm::Stage2Error;
use crate::mm::stage2::{Geometry, SharedWalker};
use crate::smmu::node::SmmuNode;
use crate::smmu::{Report, Smmu, SmmuError, SmmuHw};

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

/// The SMMU, once the boot has set it up.
static SMMU: Once<Mutex<Smmu<Mmio>>> = Once::new();

/// Events, overflows and global errors seen, for the console's rate limit.
static REPORTS: AtomicU64 = AtomicU64::new(0);

/// Sets up the SMMU the DT describes (`node`), mapped in EL2's stage 1, to translate every
/// stream the DT names through the host's stage 2 (`geometry`, rooted at `root`), and
/// returns the memory core's walker for it. One boot line says what it found.
pub fn start(
    node: &SmmuNode,
    geometry: &Geometry,
    root: u64,
) -> Result<Box<dyn SharedWalker>, SmmuError> {
    let hw = Mmio {
        base: node.regs.start,
    };
    let mut smmu = Smmu::probe(hw, geometry, root, &node.streams)?;
    smmu.enable()?;
    log::info!(
        "smmu at {:#x}: {} streams ({} translated), stage 2 shared, {}-bit output, {}",
        node.regs.start,
        smmu.streams(),
        smmu.translated(),
        smmu.features().oas_bits(),
        if node.dma_coherent {
            "coherent"
        } else {
            "coherent by IDR0 (the DT omits dma-coherent)"
        }
    );
    SMMU.call_once(|| Mutex::new(smmu));
    Ok(Box::new(Walker))
}

/// The memory core's view of the SMMU: CMD_TLBI_S12_VMALL + CMD_SYNC after every change
/// that removes host stage-2 entries. Takes the SMMU's lock inside the memory lock (the
/// poll takes it alone).
struct Walker;

impl SharedWalker for Walker {
    fn invalidate(&mut self) -> Result<(), Stage2Error> {
        let smmu = SMMU.get().ok_or(Stage2Error)?;
        let result = smmu.lock().invalidate_host();
        result.map_err(|e| {
            log::error!("smmu: invalidation not confirmed: {e}");
            Stage2Error
        })
    }
}

/// The SMMU's fault counts, if there is one (for the DMA audit HVC).
pub fn stats() -> Option<crate::smmu::FaultStats> {
    SMMU.get().map(|smmu| *smmu.lock().stats())
}

/// Reads the SMMU's event queue and global errors, if no other CPU is doing so: one
/// console line per report, rate-limited (the first 8, then every power of two).
pub fn poll() {
    let Some(smmu) = SMMU.get() else {
        return;
    };
    let Some(mut smmu) = smmu.try_lock() else {
        return;
    };
    smmu.poll(&mut |report| {
        let n = REPORTS.fetch_add(1, Ordering::Relaxed);
        if n < 8 || n.is_power_of_two() {
            log_report(report, n);
        }
    });
}

#[cold]
#[inline(never)]
fn log_report(report: Report, n: u64) {
    log::warn!("smmu: {report} [#{}]", n + 1);
}
