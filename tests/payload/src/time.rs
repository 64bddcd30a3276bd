//! Bounded waits on the generic timer's virtual counter (CNTVCT_EL0 / CNTFRQ_EL0).

use crate::arch;

/// Frequency assumed if firmware left CNTFRQ_EL0 at zero (QEMU's TF-A: 62.5 MHz; QEMU 10
/// itself programs 1 GHz). Only the length of the waits depends on it.
const FALLBACK_HZ: u64 = 62_500_000;

fn ticks_per_ms() -> u64 {
    match arch::counter_frequency() {
        0 => FALLBACK_HZ / 1000,
        hz => (hz / 1000).max(1),
    }
}

/// A point in time after which a wait gives up.
#[derive(Clone, Copy)]
pub struct Deadline {
    end: u64,
}

impl Deadline {
    /// `ms` milliseconds from now.
    pub fn after_ms(ms: u64) -> Self {
        Self {
            end: arch::counter().saturating_add(ms.saturating_mul(ticks_per_ms())),
        }
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        arch::counter() >= self.end
    }
}

/// Polls `done` until it returns true (then true) or `ms` milliseconds pass (then false).
pub fn wait_until(ms: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Deadline::after_ms(ms);
    loop {
        if done() {
            return true;
        }
        if deadline.expired() {
            return done();
        }
        core::hint::spin_loop();
    }
}

/// Milliseconds since `start` (a counter value).
pub fn ms_since(start: u64) -> u64 {
    arch::counter().wrapping_sub(start) / ticks_per_ms()
}
