//! The EL2 console's waiting policy, apart from its MMIO (`firmware/console.rs`).
//!
//! The console's UART is also the host's: the host may disable it, fill its FIFO or hold it
//! busy at any time. So every wait on it is a fixed number of polls of its flag register,
//! and output that cannot leave in that time is dropped: the rest of the line, never the
//! CPU. The console lock is taken the same way (a bounded number of tries, then the line is
//! dropped), so a CPU that faulted while printing cannot hang every CPU that logs after it.

use core::fmt;

/// Polls of the flag register granted to each byte: one character time at 9600 baud
/// (about 1 ms) even if a flag read took only 10 ns.
pub const POLLS_PER_BYTE: u32 = 100_000;

/// Polls granted to the whole transmit FIFO to drain: its 32 bytes (PL011), each with
/// [`POLLS_PER_BYTE`].
pub const POLLS_TO_DRAIN: u32 = 32 * POLLS_PER_BYTE;

/// Tries at the console lock before a line is dropped: far longer than the longest line
/// takes on a working UART, since each byte's wait is itself bounded.
pub const LOCK_TRIES: u32 = 1 << 24;

/// The transmit side of a UART, as the console uses it.
pub trait Tx {
    /// Whether the transmit FIFO is full (one poll of the flag register).
    fn full(&mut self) -> bool;
    /// Whether the UART is still sending (one poll of the flag register).
    fn busy(&mut self) -> bool;
    /// Queues one byte.
    fn send(&mut self, byte: u8);
}

/// Calls `ready` up to `polls` times; whether it said yes.
#[inline]
pub fn wait(polls: u32, mut ready: impl FnMut() -> bool) -> bool {
    (0..polls).any(|_| ready())
}

/// One console line going out: `\n` as `\r\n`; a byte the UART does not take within
/// [`POLLS_PER_BYTE`] polls ends the line (`fmt::Error`), and the rest is dropped.
pub struct Line<T: Tx>(pub T);

impl<T: Tx> Line<T> {
    fn put(&mut self, byte: u8) -> fmt::Result {
        if !wait(POLLS_PER_BYTE, || !self.0.full()) {
            return Err(fmt::Error);
        }
        self.0.send(byte);
        Ok(())
    }
}

impl<T: Tx> fmt::Write for Line<T> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.put(b'\r')?;
            }
            self.put(b)?;
        }
        Ok(())
    }
}

/// Waits until the UART has sent everything, at most [`POLLS_TO_DRAIN`] polls; whether it did.
pub fn drain(tx: &mut impl Tx) -> bool {
    wait(POLLS_TO_DRAIN, || !tx.busy())
}

/// The lock, if it comes free within `tries` tries.
pub fn lock_within<T>(lock: &spin::Mutex<T>, tries: u32) -> Option<spin::MutexGuard<'_, T>> {
    for _ in 0..tries {
        if let Some(guard) = lock.try_lock() {
            return Some(guard);
        }
        core::hint::spin_loop();
    }
    None
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::fmt::Write;
    use std::vec::Vec;

    /// A UART that drains only every `period`-th poll (never, with `period` 0), and counts
    /// the polls. It panics past ten FIFO drains' worth of polls: an unbounded wait.
    struct FakeUart {
        period: u32,
        polls: u32,
        sent: Vec<u8>,
    }

    impl FakeUart {
        fn new(period: u32) -> Self {
            Self {
                period,
                polls: 0,
                sent: Vec::new(),
            }
        }

        fn poll(&mut self) -> bool {
            self.polls += 1;
            assert!(
                self.polls <= 10 * POLLS_TO_DRAIN,
                "the console is still polling a UART that never drains"
            );
            self.period == 0 || !self.polls.is_multiple_of(self.period)
        }
    }

    impl Tx for &mut FakeUart {
        fn full(&mut self) -> bool {
            self.poll()
        }
        fn busy(&mut self) -> bool {
            self.poll()
        }
        fn send(&mut self, byte: u8) {
            self.sent.push(byte);
        }
    }

    #[test]
    fn a_uart_that_never_drains_costs_one_byte_budget_per_line() {
        let mut uart = FakeUart::new(0);
        let n = 7;
        assert!(writeln!(Line(&mut uart), "hyp: ERROR: line {n}").is_err());
        assert_eq!(
            uart.polls, POLLS_PER_BYTE,
            "one byte's budget, then the line is dropped"
        );
        assert!(uart.sent.is_empty());
        // The next line gets its own budget, and is dropped too: nothing blocks.
        assert!(writeln!(Line(&mut uart), "next").is_err());
        assert_eq!(uart.polls, 2 * POLLS_PER_BYTE);
    }

    #[test]
    fn a_uart_that_never_drains_is_flushed_in_bounded_polls() {
        let mut uart = FakeUart::new(0);
        assert!(!drain(&mut &mut uart));
        assert_eq!(uart.polls, POLLS_TO_DRAIN);
    }

    #[test]
    fn a_slow_uart_gets_the_line_unchanged() {
        // Takes a byte every 1000 polls: well within the budget.
        let mut uart = FakeUart::new(1000);
        assert!(writeln!(Line(&mut uart), "hyp: WARN: {}\nx", 42).is_ok());
        assert_eq!(uart.sent, b"hyp: WARN: 42\r\nx\r\n");
        assert!(drain(&mut &mut uart));
    }

    #[test]
    fn a_byte_that_misses_its_budget_drops_the_rest_of_the_line() {
        // A byte every POLLS_PER_BYTE + 1 polls: the first misses its budget by one.
        let mut uart = FakeUart::new(POLLS_PER_BYTE + 1);
        assert!(write!(Line(&mut uart), "ab").is_err());
        assert!(uart.sent.is_empty());
    }

    #[test]
    fn a_held_lock_is_given_up_after_its_tries() {
        let lock = spin::Mutex::new(());
        let held = lock.lock();
        assert!(lock_within(&lock, 1000).is_none());
        drop(held);
        assert!(lock_within(&lock, 1).is_some());
    }
}
