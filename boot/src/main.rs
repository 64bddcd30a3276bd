//! The firmware image: the arm64 Image header, EL2 entry, exception vectors and the glue
//! from assembly into the `hypervisor` library.
//!
//! All assembly of the product lives in `entry.S` and `vectors.S` beside this file; the
//! Rust here only names the symbols they call.
#![no_std]
#![no_main]

use core::arch::global_asm;

global_asm!(include_str!("entry.S"));
global_asm!(include_str!("vectors.S"));

/// First Rust code on the boot CPU: MMU on with the bootstrap map, stack set, BSS clear.
/// `x0..x3` are the loader's registers; `carveout_base` is where we were loaded.
#[unsafe(no_mangle)]
extern "C" fn hyp_primary_main(x0: u64, x1: u64, x2: u64, x3: u64, carveout_base: u64) -> ! {
    hypervisor::firmware::boot::primary_main([x0, x1, x2, x3], carveout_base)
}

/// First Rust code on a CPU started or resumed through the PSCI relay.
#[unsafe(no_mangle)]
extern "C" fn hyp_warm_main(context: u64) -> ! {
    hypervisor::firmware::boot::warm_main(context)
}

/// An SMC from the host (the hot path): the SMC frame is on this CPU's stack, `esr` is
/// ESR_EL2.
#[unsafe(no_mangle)]
extern "C" fn hyp_host_smc(frame: *mut hypervisor::frame::SmcFrame, esr: u64) {
    // SAFETY: `vectors.S` passes a pointer to the SMC frame it just saved on this CPU's
    // stack; nothing else refers to it until the handler returns and the frame is restored.
    let frame = unsafe { &mut *frame };
    hypervisor::firmware::trap_entry::handle_host_smc(frame, esr);
}

/// Any other synchronous exception from the host: the saved frame is on this CPU's stack.
#[unsafe(no_mangle)]
extern "C" fn hyp_host_sync(frame: *mut hypervisor::frame::HostFrame) {
    // SAFETY: `vectors.S` passes a pointer to the frame it just saved on this CPU's stack;
    // nothing else refers to it until the handler returns and the frame is restored.
    let frame = unsafe { &mut *frame };
    hypervisor::firmware::trap_entry::handle_host_sync(frame);
}

/// Any exception the hypervisor does not expect (kind = vector slot 0..15).
#[unsafe(no_mangle)]
extern "C" fn hyp_unexpected(kind: u64, frame: *const hypervisor::frame::HostFrame) -> ! {
    // SAFETY: `vectors.S` passes a pointer to the frame it just saved on this CPU's stack.
    let frame = unsafe { &*frame };
    hypervisor::firmware::trap_entry::unexpected(kind, frame)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hypervisor::firmware::boot::panic(info)
}
