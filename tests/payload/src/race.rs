//! A second CPU that rewrites one word of memory in a loop while the boot CPU calls the
//! hypervisor: the racing writer of the TX-rewrite attack (D-COPY-ONCE in
//! `docs/ffa-decisions.md`).
//!
//! The first secondary CPU (per-CPU index 1) does not halt after its CPU_ON report: it
//! waits here in `wfe` for a job. [`start`] hands it an address and two values; it stores
//! them alternately, as fast as it can, until [`stop`]. The boot CPU meanwhile issues
//! FFA_MEM_SHARE on the descriptor that word belongs to (`ffa_cases::tx_rewrite_race`).
//!
//! The MMU is off, so every access is to Device memory: only plain loads and stores of the
//! atomics here (no exclusives, which Device memory does not promise to support).

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::SeqCst;

use crate::{arch, time};

/// The per-CPU index of the CPU that takes the writer's job.
const WRITER_INDEX: usize = 1;

/// The writer's state machine, driven by the boot CPU (IDLE -> RUN -> STOP) and the writer
/// (PARKED once, then STOPPED after each job).
const IDLE: u64 = 0;
const RUN: u64 = 1;
const STOP: u64 = 2;
const STOPPED: u64 = 3;

static STATE: AtomicU64 = AtomicU64::new(IDLE);
/// Set by the writer when it is parked here and able to take a job.
static READY: AtomicU64 = AtomicU64::new(0);
/// The job: the 4-byte-aligned address and the two values stored there in turn.
static ADDRESS: AtomicU64 = AtomicU64::new(0);
static VALUES: AtomicU64 = AtomicU64::new(0);
/// Pairs of stores done during the current job.
static FLIPS: AtomicU64 = AtomicU64::new(0);

/// Where a secondary CPU goes after its CPU_ON report: the writer waits for jobs, the
/// others halt.
pub fn park(index: usize) -> ! {
    if index != WRITER_INDEX {
        arch::halt()
    }
    READY.store(1, SeqCst);
    loop {
        if STATE.load(SeqCst) == RUN {
            let address = ADDRESS.load(SeqCst) as *mut u32;
            let values = VALUES.load(SeqCst);
            let mut stores = 0u64;
            while STATE.load(SeqCst) == RUN {
                // One store per pass, the same bookkeeping after each: both values stay in
                // memory for the same share of the time.
                let value = if stores.is_multiple_of(2) {
                    values
                } else {
                    values >> 32
                };
                // SAFETY: `start` checked the address is 4-byte aligned and the boot CPU
                // lent this word (a field of its own TX buffer) to the writer until `stop`;
                // volatile, so that every store reaches memory.
                unsafe { address.write_volatile(value as u32) };
                stores += 1;
                FLIPS.store(stores / 2, SeqCst);
            }
            STATE.store(STOPPED, SeqCst);
        }
        arch::wait_event();
    }
}

/// Whether the writer CPU is parked and can take a job.
pub fn writer_ready() -> bool {
    READY.load(SeqCst) == 1 && matches!(STATE.load(SeqCst), IDLE | STOPPED)
}

/// Starts the writer storing `a` and `b` alternately at `address` (4-byte aligned, memory
/// the caller owns and does not rely on until [`stop`]). False if no writer is parked.
pub fn start(address: u64, a: u32, b: u32) -> bool {
    if !writer_ready() || !address.is_multiple_of(4) {
        return false;
    }
    ADDRESS.store(address, SeqCst);
    VALUES.store(u64::from(a) | u64::from(b) << 32, SeqCst);
    FLIPS.store(0, SeqCst);
    STATE.store(RUN, SeqCst);
    arch::send_event();
    // Bounded: the writer is a parked CPU of ours, it answers within a time slice.
    time::wait_until(1000, || FLIPS.load(SeqCst) > 0)
}

/// Stops the writer and returns how many pairs of stores it made; `None` if it did not stop
/// within a second (the word may still be changing).
pub fn stop() -> Option<u64> {
    STATE.store(STOP, SeqCst);
    let stopped = time::wait_until(1000, || STATE.load(SeqCst) == STOPPED);
    stopped.then(|| FLIPS.load(SeqCst))
}
