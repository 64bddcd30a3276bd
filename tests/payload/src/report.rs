//! Case results: the `PAYLOAD: <case> PASS|FAIL|SKIP <details>` lines, the tally, and the
//! final `PAYLOAD-DONE pass=<n> fail=<m>` followed by PSCI SYSTEM_OFF.
//!
//! Only the boot CPU runs cases, so the tallies are updated with plain loads and stores
//! (no read-modify-write: see `console` for why).

use core::fmt::{self, Write};

/// Capacity of one details text; longer texts are cut and end in `...`.
const LINE_CAPACITY: usize = 400;

/// A fixed-capacity text (no allocator in the payload).
#[derive(Clone, Copy)]
pub struct Line {
    buf: [u8; LINE_CAPACITY],
    len: usize,
    truncated: bool,
}

impl Line {
    /// An empty text.
    pub const fn new() -> Self {
        Self {
            buf: [0; LINE_CAPACITY],
            len: 0,
            truncated: false,
        }
    }

    /// The text, with `...` if it was cut.
    pub fn as_str(&self) -> &str {
        // Only whole `str`s (or their UTF-8-safe prefixes) are ever copied in.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<bad utf-8>")
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `"; "` unless empty: separates the findings of one case.
    pub fn separate(&mut self) {
        if !self.is_empty() {
            let _ = self.write_str("; ");
        }
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.truncated {
            return Ok(());
        }
        let room = LINE_CAPACITY - 3 - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            self.buf[self.len..self.len + 3].copy_from_slice(b"...");
            self.len += 3;
            self.truncated = true;
        }
        Ok(())
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Formats into a new [`Line`].
pub fn text(args: fmt::Arguments) -> Line {
    let mut line = Line::new();
    let _ = line.write_fmt(args);
    line
}

/// The result of one case.
pub enum Outcome {
    /// Everything the case promises was checked and held.
    Pass(Line),
    /// Something did not hold (details say what).
    Fail(Line),
    /// The case could not run here (details say why); it is not a pass.
    Skip(Line),
}

#[cfg(target_os = "none")]
pub use tally::*;

#[cfg(target_os = "none")]
mod tally {
    //! Printing results and ending the run.

    use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};

    use super::Outcome;
    use crate::{arch, psci};

    static PASSED: AtomicU32 = AtomicU32::new(0);
    static FAILED: AtomicU32 = AtomicU32::new(0);
    static SKIPPED: AtomicU32 = AtomicU32::new(0);
    static FINISHING: AtomicBool = AtomicBool::new(false);

    fn bump(counter: &AtomicU32) {
        counter.store(counter.load(SeqCst) + 1, SeqCst);
    }

    /// Prints the case's line and counts it.
    pub fn record(case: impl core::fmt::Display, outcome: &Outcome) {
        let (verdict, details, counter) = match outcome {
            Outcome::Pass(d) => ("PASS", d, &PASSED),
            Outcome::Fail(d) => ("FAIL", d, &FAILED),
            Outcome::Skip(d) => ("SKIP", d, &SKIPPED),
        };
        println!("PAYLOAD: {case} {verdict} {details}");
        bump(counter);
    }

    fn print_done() {
        println!("PAYLOAD: skipped={}", SKIPPED.load(SeqCst));
        println!(
            "PAYLOAD-DONE pass={} fail={}",
            PASSED.load(SeqCst),
            FAILED.load(SeqCst)
        );
    }

    /// Ends the run normally: the summary, then SYSTEM_OFF.
    pub fn finish() -> ! {
        if already_finishing() {
            arch::halt();
        }
        print_done();
        power_off()
    }

    /// Ends the run after something fatal (an unexpected exception, a panic): counts one more
    /// failure, prints the summary and powers off. Re-entered (a fault while finishing), it
    /// stops the CPU instead.
    pub fn finish_fatal() -> ! {
        if already_finishing() {
            arch::halt();
        }
        bump(&FAILED);
        print_done();
        power_off()
    }

    /// Ends the run when there is no DT, so no conduit to power off with: the summary with
    /// one failure, then the CPU stops (the host side's timeout ends QEMU).
    pub fn finish_without_psci() -> ! {
        bump(&FAILED);
        print_done();
        println!("PAYLOAD: no PSCI conduit known: cannot power off, stopping");
        arch::halt()
    }

    fn power_off() -> ! {
        if psci::conduit().is_none() {
            println!("PAYLOAD: no PSCI conduit in the DT: cannot power off, stopping");
            arch::halt();
        }
        let ret = psci::system_off();
        println!("PAYLOAD: SYSTEM_OFF returned {ret}: stopping");
        arch::halt()
    }

    /// Whether a finish is already under way; marks one as started. A load and a store, not
    /// an atomic swap: enough to catch re-entry on one CPU (a fault while finishing), which
    /// is the case that matters.
    fn already_finishing() -> bool {
        let was = FINISHING.load(SeqCst);
        FINISHING.store(true, SeqCst);
        was
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let long = "x".repeat(2 * LINE_CAPACITY);
        let line = text(format_args!("{long}"));
        assert_eq!(line.as_str().len(), LINE_CAPACITY);
        assert!(line.as_str().ends_with("..."));
    }

    #[test]
    fn findings_are_separated() {
        let mut line = Line::new();
        line.separate();
        let _ = write!(line, "a");
        line.separate();
        let _ = write!(line, "b");
        assert_eq!(line.as_str(), "a; b");
    }

    #[test]
    fn cut_respects_utf8() {
        let mut line = Line::new();
        let _ = line.write_str(&"é".repeat(LINE_CAPACITY));
        assert!(line.as_str().ends_with("..."));
    }
}
