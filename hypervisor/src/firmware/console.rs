//! The console: a polled PL011 transmitter, written to by [`info`], [`warning`] and [`error`].
//!
//! Why our own driver rather than `arm-pl011-uart`: the hypervisor only ever transmits,
//! polled, on a UART the firmware has already configured, and it moves from the platform's
//! early UART to the one `/chosen/stdout-path` names once the device tree is parsed. That is
//! two registers; a typed-MMIO driver would add a dependency tree for no gain.
//!
//! The host owns that UART too, so no wait on it and no wait for the console lock is
//! unbounded: the budgets and the drop policy are `crate::uart`'s; this file is the MMIO.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::uart::{self, LOCK_TRIES, Line, Tx};

const UARTDR: u64 = 0x00;
const UARTFR: u64 = 0x18;
const FR_TXFF: u32 = 1 << 5;
const FR_BUSY: u32 = 1 << 3;

static BASE: AtomicU64 = AtomicU64::new(0);
static LOCK: Mutex<()> = Mutex::new(());

struct Pl011(u64);

impl Pl011 {
    fn flags(&self) -> u32 {
        // SAFETY: `BASE` only ever holds the MMIO base of a PL011 that is mapped
        // Device-nGnRnE/nGnRE in the hypervisor's stage-1 tables; FR is its flag register.
        unsafe { core::ptr::read_volatile((self.0 + UARTFR) as *const u32) }
    }
}

impl Tx for Pl011 {
    fn full(&mut self) -> bool {
        self.flags() & FR_TXFF != 0
    }

    fn busy(&mut self) -> bool {
        self.flags() & FR_BUSY != 0
    }

    fn send(&mut self, byte: u8) {
        // SAFETY: as in `flags`; DR is the PL011's data register.
        unsafe { core::ptr::write_volatile((self.0 + UARTDR) as *mut u32, u32::from(byte)) }
    }
}

/// Writes one console line, `tag` (`hyp: `, `hyp: WARN: ` or `hyp: ERROR: `) before
/// `args`: what [`info`], [`warning`] and [`error`] end in.
///
/// Not the `log` crate: a `log` call site carries a `Record` (target, module path, file and
/// line, about 60 bytes of relocated data each) that this console never prints, and the
/// crate's logger indirection; the console prints every level it is given.
#[inline(never)]
pub fn line(tag: &str, args: fmt::Arguments<'_>) {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    // A lock held past its tries (its holder faulted mid-line): drop this line.
    let Some(_guard) = uart::lock_within(&LOCK, LOCK_TRIES) else {
        return;
    };
    let mut out = Line(Pl011(base));
    // An error is a UART that stopped taking bytes: the rest of the line is dropped.
    let _ = out
        .write_str(tag)
        .and_then(|()| out.write_fmt(args))
        .and_then(|()| out.write_str("\n"));
}

/// [`line`] without a tag. One function per tag, so that a call site passes only its
/// `Arguments` (a tag costs each of the 70-odd call sites two or three instructions).
#[inline(never)]
pub fn info_line(args: fmt::Arguments<'_>) {
    line("hyp: ", args);
}

/// [`line`] tagged `WARN: ` (see [`info_line`]).
#[inline(never)]
pub fn warning_line(args: fmt::Arguments<'_>) {
    line("hyp: WARN: ", args);
}

/// [`line`] tagged `ERROR: ` (see [`info_line`]).
#[inline(never)]
pub fn error_line(args: fmt::Arguments<'_>) {
    line("hyp: ERROR: ", args);
}

/// A console line at the info level (no tag).
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::firmware::console::info_line(format_args!($($arg)+))
    };
}

/// A console line tagged `WARN: `.
macro_rules! warning {
    ($($arg:tt)+) => {
        $crate::firmware::console::warning_line(format_args!($($arg)+))
    };
}

/// A console line tagged `ERROR: `.
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::firmware::console::error_line(format_args!($($arg)+))
    };
}

/// A debug line: type-checked, never printed (the console prints info and above), so it
/// costs the image nothing.
macro_rules! debug {
    ($($arg:tt)+) => {
        if false {
            $crate::firmware::console::line("hyp: debug: ", format_args!($($arg)+))
        }
    };
}

pub(crate) use {debug, error, info, warning};

/// Starts logging to the PL011 at `base`.
///
/// # Safety
///
/// `base` must be the MMIO base of a configured PL011, mapped as Device memory for as long
/// as the console is used.
pub unsafe fn init(base: u64) {
    BASE.store(base, Ordering::Relaxed);
}

/// Moves the console to another PL011.
///
/// # Safety
///
/// As for [`init`].
pub unsafe fn switch(base: u64) {
    // Only the boot CPU logs at this point: the lock is free unless it faulted mid-line.
    let _guard = uart::lock_within(&LOCK, LOCK_TRIES);
    uart::drain(&mut Pl011(BASE.load(Ordering::Relaxed)));
    BASE.store(base, Ordering::Relaxed);
}

/// Waits until everything logged has left the UART, or until the UART has had its time.
pub fn flush() {
    let base = BASE.load(Ordering::Relaxed);
    if base != 0 {
        uart::drain(&mut Pl011(base));
    }
}
