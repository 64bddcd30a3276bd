//! Per-CPU memory: EL2 stacks, the warm-boot contexts that CPUs read with their MMU off,
//! the frames used to enter the host for the first time, and the FF-A fast path's audit
//! counters.

use crate::ffa::audit::{CpuBlock, CpuBlocks};
use crate::frame::HostFrame;
use crate::sync::{AddressOnly, PerCpu, SetOnce};

pub use crate::budget::{MAX_CPUS, STACK_SIZE};

/// One EL2 stack, page-aligned, and right above its top this CPU's FF-A fast-path counters:
/// the host traps with SP at the stack's top (the hypervisor returns to the host only from an
/// empty stack), so the trap vector finds them from SP (`FFA_COUNTERS_AT` in `vectors.S`).
/// An overflow grows away from them.
#[repr(C, align(4096))]
pub struct Stack {
    /// The stack (grows down from `STACK_SIZE`).
    pub stack: [u8; STACK_SIZE],
    /// The FF-A fast path's counters of this CPU.
    pub ffa_counts: CpuBlock,
}

const _: () = assert!(core::mem::align_of::<Stack>() as u64 == crate::addr::PAGE);
const _: () = assert!(core::mem::offset_of!(Stack, ffa_counts) == STACK_SIZE);

/// The boot CPU's stack until it enters the host (`entry.S` uses it by name).
#[repr(C, align(4096))]
pub struct BootStack(pub [u8; STACK_SIZE]);

/// Stack of the boot CPU before it has an index: only `entry.S` uses it.
#[unsafe(no_mangle)]
pub static HYP_BOOT_STACK: AddressOnly<BootStack> = AddressOnly::new(BootStack([0; STACK_SIZE]));

/// One EL2 stack per CPU index (with the CPU's FF-A audit counters just above it); Rust only
/// computes their tops. In its own section, which the image's link map puts after BSS so
/// that boot does not zero it: a stack needs no initial value, and each is used only with the
/// MMU and caches on.
#[cfg_attr(target_os = "none", unsafe(link_section = ".stacks"))]
pub static CPU_STACKS: PerCpu<Stack, MAX_CPUS> = PerCpu::new(
    [const {
        Stack {
            stack: [0; STACK_SIZE],
            ffa_counts: CpuBlock::new(),
        }
    }; MAX_CPUS],
);

/// Top of CPU `index`'s EL2 stack.
pub fn stack_top(index: usize) -> u64 {
    CPU_STACKS.slot_ptr(index) as u64 + STACK_SIZE as u64
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

/// Warm-boot contexts, one per CPU index: set once by the boot CPU before any other CPU
/// runs, then read-only (read by `entry.S` with the MMU off, hence the cache clean after
/// [`publish_warm_contexts`]).
static WARM_CONTEXTS: SetOnce<[WarmBootContext; MAX_CPUS]> = SetOnce::new();

/// Publishes the warm-boot contexts (boot CPU, once) and returns them where they live, for
/// their addresses; `None` if they were published already.
pub fn publish_warm_contexts(
    contexts: [WarmBootContext; MAX_CPUS],
) -> Option<&'static [WarmBootContext; MAX_CPUS]> {
    WARM_CONTEXTS.set(contexts).ok()
}

/// Frames from which each CPU first enters the host; slot `i` is only touched by CPU `i`.
pub static ENTRY_FRAMES: PerCpu<HostFrame, MAX_CPUS> = PerCpu::new([HostFrame::ZERO; MAX_CPUS]);

/// The FF-A fast path's per-CPU counters, as the blocks above the EL2 stacks.
pub struct StackCounters;

impl CpuBlocks for StackCounters {
    fn block(&self, cpu: usize) -> Option<&CpuBlock> {
        if cpu >= MAX_CPUS {
            return None;
        }
        let stack = CPU_STACKS.slot_ptr(cpu);
        // SAFETY: `slot_ptr` of an index in range points into the static; only the counter
        // field is referenced (never the stack bytes the CPU writes through SP), and its
        // counters are atomics, which may be shared.
        Some(unsafe { &*core::ptr::addr_of!((*stack).ffa_counts) })
    }
}

/// The fast path's counters, to attach to the proxy's audit.
pub static FFA_CPU_COUNTS: StackCounters = StackCounters;

/// Zeroes every CPU's FF-A counter block. The stacks' section is not zeroed at entry (see
/// [`CPU_STACKS`]), and RAM keeps its contents across a warm reset, so the boot CPU clears the
/// blocks before any CPU can count (called once, before the host runs).
pub fn clear_ffa_counts() {
    for cpu in 0..MAX_CPUS {
        if let Some(block) = FFA_CPU_COUNTS.block(cpu) {
            for counter in block.0.iter().flatten() {
                counter.store(0, core::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}
