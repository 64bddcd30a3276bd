//! The hypervisor's global state, set once by the boot CPU before any other CPU runs and
//! read-only afterwards (interior state that changes, such as the PSCI relay's per-CPU
//! slots, is atomic).

use alloc::boxed::Box;
use core::ops::Range;

use spin::Once;

use crate::dt::SystemInfo;
use crate::ffa::Proxy;
use crate::firmware::arch;
use crate::memmap::HostMap;
use crate::mm::MemProtect;
use crate::mm::stage2::Geometry;
use crate::psci::{PsciRelay, Relayed};
use crate::smccc::SmcRegs;

/// Checks a host entry point.
pub type EntryCheck = Box<dyn Fn(u64) -> bool + Send + Sync>;

/// Everything the trap handlers need.
pub struct Hyp {
    /// The hypervisor's own memory.
    pub carveout: Range<u64>,
    /// What the device tree said.
    pub info: SystemInfo,
    /// The host's physical address map.
    pub host_map: HostMap,
    /// PSCI relay.
    pub psci: PsciRelay<EntryCheck>,
    /// The FF-A proxy (on or off, with its mailbox); a client of `mm`.
    pub ffa: Proxy,
    /// Memory protection: the host's page ownership and its live stage-2 tables, one lock.
    pub mm: MemProtect,
    /// The GICv3 redistributors whose LPI table registers are trapped and checked (a
    /// client of `mm`), if the GIC has LPIs.
    pub gicr: Option<crate::gicr::Redistributors<crate::firmware::gic::GicMmio>>,
    /// The GICv3 ITSes whose control frame is trapped and command queue shadowed (clients
    /// of `mm`).
    pub its: alloc::vec::Vec<crate::its::Its<crate::firmware::its::ItsMmio>>,
    /// The host stage 2's geometry (every CPU must be able to walk it).
    pub geometry: Geometry,
    /// VTCR_EL2 for every CPU.
    pub vtcr: u64,
    /// VTTBR_EL2 for every CPU (VMID 0).
    pub vttbr: u64,
}

static HYP: Once<Hyp> = Once::new();

/// Publishes the global state (boot CPU, once).
pub fn set(hyp: Hyp) -> &'static Hyp {
    HYP.call_once(|| hyp)
}

/// The global state. Only called from trap handlers and warm boots, which run after
/// [`set`]; anything else is a bug and stops the CPU.
#[inline(always)]
pub fn get() -> &'static Hyp {
    match HYP.get() {
        Some(h) => h,
        None => not_booted(),
    }
}

#[cold]
#[inline(never)]
fn not_booted() -> ! {
    crate::firmware::console::error!("trap before the hypervisor finished booting");
    crate::firmware::power::stop_this_cpu()
}

impl Hyp {
    /// A PSCI call from the host on this CPU; what to do next.
    pub fn psci_call(&self, regs: &mut SmcRegs) -> Relayed {
        self.psci.handle(regs, arch::cpu_index(), &mut arch::Smc)
    }
}
