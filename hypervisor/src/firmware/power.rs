//! The PSCI calls the hypervisor makes for itself: stopping a CPU it cannot run, and powering
//! the system off after a fatal error.

use crate::firmware::arch;
use crate::psci::fid;

/// Powers this CPU off through PSCI CPU_OFF; if that fails, parks it forever.
pub fn stop_this_cpu() -> ! {
    let mut regs = [0u64; 18];
    regs[0] = u64::from(fid::CPU_OFF);
    arch::Smc.call(&regs);
    arch::park()
}

/// Asks the firmware to power the system off; parks if it returns.
pub fn system_off() -> ! {
    let mut regs = [0u64; 18];
    regs[0] = u64::from(fid::SYSTEM_OFF);
    arch::Smc.call(&regs);
    arch::park()
}
