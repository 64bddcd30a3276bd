//! Per-CPU memory: EL2 stacks, the warm-boot contexts that CPUs read with their MMU off,
//! and the frames used to enter the host for the first time.

use core::cell::UnsafeCell;

use crate::trap::HostFrame;

pub use crate::budget::{MAX_CPUS, STACK_SIZE};

/// A static the hypervisor shares with assembly or with other CPUs under its own rules.
#[repr(transparent)]
pub struct SharedCell<T>(UnsafeCell<T>);

// SAFETY: every user states why its accesses cannot race (per-CPU slots, or writes
// finished before other CPUs are started).
unsafe impl<T> Sync for SharedCell<T> {}

impl<T> SharedCell<T> {
    /// Wraps a value.
    pub const fn new(v: T) -> Self {
        Self(UnsafeCell::new(v))
    }

    /// Raw pointer to the value.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// Page-aligned stacks.
#[repr(C, align(4096))]
pub struct Stacks(pub [[u8; STACK_SIZE]; MAX_CPUS]);

/// The boot CPU's stack until it enters the host (`entry.S` uses it by name).
#[repr(C, align(4096))]
pub struct BootStack(pub [u8; STACK_SIZE]);

/// Stack of the boot CPU before it has an index.
#[unsafe(no_mangle)]
pub static HYP_BOOT_STACK: SharedCell<BootStack> = SharedCell::new(BootStack([0; STACK_SIZE]));

/// One EL2 stack per CPU index.
pub static CPU_STACKS: SharedCell<Stacks> = SharedCell::new(Stacks([[0; STACK_SIZE]; MAX_CPUS]));

/// Top of CPU `index`'s EL2 stack.
pub fn stack_top(index: usize) -> u64 {
    assert!(index < MAX_CPUS);
    // SAFETY: only the address is computed; nothing is read or written.
    let base = unsafe { (*CPU_STACKS.get()).0.as_ptr().add(index) } as u64;
    base + STACK_SIZE as u64
}

/// What `hyp_warm_entry` reads, with the MMU off, at fixed offsets: keep in sync with
/// `entry.S`.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default)]
pub struct WarmBootContext {
    /// MAIR_EL2 (offset 0).
    pub mair: u64,
    /// TCR_EL2 (offset 8).
    pub tcr: u64,
    /// TTBR0_EL2 (offset 16).
    pub ttbr0: u64,
    /// SCTLR_EL2 with the MMU on (offset 24).
    pub sctlr: u64,
    /// Top of this CPU's EL2 stack (offset 32).
    pub stack_top: u64,
    /// This CPU's index (offset 40).
    pub cpu_index: u64,
}

/// Warm-boot contexts, one per CPU index. Written by the boot CPU before any other CPU
/// runs, then read-only.
pub static WARM_CONTEXTS: SharedCell<[WarmBootContext; MAX_CPUS]> = SharedCell::new(
    [WarmBootContext {
        mair: 0,
        tcr: 0,
        ttbr0: 0,
        sctlr: 0,
        stack_top: 0,
        cpu_index: 0,
    }; MAX_CPUS],
);

/// Address of CPU `index`'s warm-boot context.
pub fn warm_context(index: usize) -> u64 {
    assert!(index < MAX_CPUS);
    // SAFETY: only the address is computed.
    unsafe { (WARM_CONTEXTS.get() as *mut WarmBootContext).add(index) as u64 }
}

/// Frames from which each CPU first enters the host; slot `i` is only touched by CPU `i`.
pub static ENTRY_FRAMES: SharedCell<[HostFrame; MAX_CPUS]> =
    SharedCell::new([HostFrame::ZERO; MAX_CPUS]);
