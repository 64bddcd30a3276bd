//! Thin, typed wrappers around the assembly in `entry.S`, the payload's only assembly.
//!
//! Everything that needs an instruction Rust cannot express (SMC/HVC, system registers,
//! the one-instruction carve-out probes) is a tiny assembly function there; this module
//! gives each a Rust signature and states why calling it is sound.

use core::arch::global_asm;

use crate::exceptions::FRAME_SIZE;
use crate::{MAX_CPUS, STACK_SIZE};

global_asm!(
    include_str!("entry.S"),
    MAX_CPUS = const MAX_CPUS,
    STACK_SIZE = const STACK_SIZE,
    FRAME_SIZE = const FRAME_SIZE,
    MPIDR_HI = const (crate::MPIDR_AFFINITY_MASK >> 32),
);

unsafe extern "C" {
    fn payload_smc(x0: u64, x1: u64, x2: u64, x3: u64) -> u64;
    fn payload_hvc(x0: u64, x1: u64, x2: u64, x3: u64) -> u64;
    fn payload_read_current_el() -> u64;
    fn payload_read_mpidr() -> u64;
    fn payload_read_cpu_index() -> u64;
    fn payload_read_vbar() -> u64;
    fn payload_read_cntvct() -> u64;
    fn payload_read_cntfrq() -> u64;
    fn payload_mark_phase(phase: u64);
    fn probe_load(addr: u64) -> u64;
    fn probe_store(addr: u64, value: u64);
    fn probe_exec(addr: u64);
    fn park() -> !;
    fn payload_wait_event();
    fn payload_send_event();
    /// First instruction of a CPU started by CPU_ON (x0 = context_id).
    fn secondary_entry();
    /// The `ldr` inside `probe_load`.
    fn probe_load_insn();
    /// The `str` inside `probe_store`.
    fn probe_store_insn();
    /// The Image header: the first byte of the payload as loaded.
    static _start: u8;
    /// The end of the payload's memory footprint (image, BSS, stacks).
    static __payload_end: u8;
}

/// Issues `smc #0` with x0..x3 and returns x0.
pub fn smc(x0: u64, x1: u64, x2: u64, x3: u64) -> u64 {
    // SAFETY: an SMCCC call: the callee may clobber x0-x17, all caller-saved in the C ABI the
    // declaration uses. Which calls are harmless is the caller's business (PSCI only).
    unsafe { payload_smc(x0, x1, x2, x3) }
}

/// Issues `hvc #0` with x0..x3 and returns x0.
pub fn hvc(x0: u64, x1: u64, x2: u64, x3: u64) -> u64 {
    // SAFETY: as for `smc`: an SMCCC call that clobbers only caller-saved registers.
    unsafe { payload_hvc(x0, x1, x2, x3) }
}

/// The exception level this code runs at (CurrentEL bits 3:2).
pub fn current_el() -> u64 {
    // SAFETY: reads CurrentEL, no side effects.
    (unsafe { payload_read_current_el() } >> 2) & 3
}

/// MPIDR_EL1 with only the affinity fields (Aff3..Aff0), as the DT's /cpus reg holds it.
pub fn mpidr() -> u64 {
    // SAFETY: reads MPIDR_EL1, no side effects.
    unsafe { payload_read_mpidr() & crate::MPIDR_AFFINITY_MASK }
}

/// This CPU's index into the per-CPU tables (TPIDR_EL1, written by the entry code).
pub fn cpu_index() -> usize {
    // SAFETY: reads TPIDR_EL1, no side effects.
    let index = unsafe { payload_read_cpu_index() } as usize;
    index.min(MAX_CPUS - 1)
}

/// VBAR_EL1 as the entry code set it.
pub fn vbar() -> u64 {
    // SAFETY: reads VBAR_EL1, no side effects.
    unsafe { payload_read_vbar() }
}

/// The virtual counter (CNTVCT_EL0), after an ISB so it is not read early.
pub fn counter() -> u64 {
    // SAFETY: reads CNTVCT_EL0, always accessible at EL1.
    unsafe { payload_read_cntvct() }
}

/// The counter frequency in Hz (CNTFRQ_EL0, programmed by firmware).
pub fn counter_frequency() -> u64 {
    // SAFETY: reads CNTFRQ_EL0, no side effects.
    unsafe { payload_read_cntfrq() }
}

/// Marks the start of phase `phase` for the el-counter QEMU plugin (a NOP for the CPU; see
/// `crate::ffa_spec::PHASES`).
pub fn mark_phase(phase: u64) {
    // SAFETY: a hint instruction and a return; no memory, no system state.
    unsafe { payload_mark_phase(phase) }
}

/// Loads a doubleword from `addr` with the `ldr` at [`probe_load_address`].
///
/// # Safety
/// `addr` must be 8-byte aligned, and either readable without side effects or guarded by an
/// armed probe (`exceptions::run_probe`) whose handler skips the instruction.
pub unsafe fn load(addr: u64) -> u64 {
    // SAFETY: forwarded to the caller.
    unsafe { probe_load(addr) }
}

/// Stores `value` to `addr` with the `str` at [`probe_store_address`].
///
/// # Safety
/// As for [`load`], and the store must not break anything the payload relies on.
pub unsafe fn store(addr: u64, value: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { probe_store(addr, value) }
}

/// Branches with link to `addr`.
///
/// # Safety
/// `addr` must be code that returns to x30, or an armed exec probe must be in place whose
/// handler resumes at x30.
pub unsafe fn branch_to(addr: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { probe_exec(addr) }
}

/// Address of the probe's `ldr`: ELR_EL1 of a load abort must point here.
pub fn probe_load_address() -> u64 {
    probe_load_insn as *const () as u64
}

/// Address of the probe's `str`: ELR_EL1 of a store abort must point here.
pub fn probe_store_address() -> u64 {
    probe_store_insn as *const () as u64
}

/// Runtime address of the secondary entry (the CPU_ON entry point).
pub fn secondary_entry_address() -> u64 {
    secondary_entry as *const () as u64
}

/// Where the payload was loaded, and where its footprint (image + BSS + stacks) ends.
pub fn image_range() -> (u64, u64) {
    // Only the addresses of the linker-provided symbols are taken (PC-relative); the bytes
    // are never read through them.
    (&raw const _start as u64, &raw const __payload_end as u64)
}

/// Waits for an event (`wfe`): another CPU's [`send_event`], or a spurious wake-up.
pub fn wait_event() {
    // SAFETY: `wfe` only waits; it touches no memory.
    unsafe { payload_wait_event() }
}

/// Wakes every CPU in [`wait_event`] (`dsb ish; sev`), after this CPU's earlier stores.
pub fn send_event() {
    // SAFETY: a barrier and `sev`; no memory is touched.
    unsafe { payload_send_event() }
}

/// Stops this CPU for good (WFE loop).
pub fn halt() -> ! {
    // SAFETY: `park` never returns and touches no memory.
    unsafe { park() }
}
