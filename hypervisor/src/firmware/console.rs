//! The console: a polled PL011 transmitter behind the `log` crate.
//!
//! Why our own driver rather than `arm-pl011-uart`: the hypervisor only ever transmits,
//! polled, on a UART the firmware has already configured, and it moves from the platform's
//! early UART to the one `/chosen/stdout-path` names once the device tree is parsed. That is
//! two registers; a typed-MMIO driver would add a dependency tree for no gain.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use log::{Level, LevelFilter, Metadata, Record};
use spin::Mutex;

const UARTDR: u64 = 0x00;
const UARTFR: u64 = 0x18;
const FR_TXFF: u32 = 1 << 5;
const FR_BUSY: u32 = 1 << 3;

static BASE: AtomicU64 = AtomicU64::new(0);
static LOCK: Mutex<()> = Mutex::new(());

struct Pl011(u64);

impl Pl011 {
    fn put(&self, byte: u8) {
        let fr = (self.0 + UARTFR) as *const u32;
        let dr = (self.0 + UARTDR) as *mut u32;
        // SAFETY: `BASE` only ever holds the MMIO base of a PL011 that is mapped
        // Device-nGnRnE/nGnRE in the hypervisor's stage-1 tables; FR and DR are its flag
        // and data registers.
        unsafe {
            while core::ptr::read_volatile(fr) & FR_TXFF != 0 {}
            core::ptr::write_volatile(dr, u32::from(byte));
        }
    }

    fn flush(&self) {
        let fr = (self.0 + UARTFR) as *const u32;
        // SAFETY: as in `put`.
        unsafe { while core::ptr::read_volatile(fr) & FR_BUSY != 0 {} }
    }
}

impl Write for Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
        Ok(())
    }
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        let base = BASE.load(Ordering::Relaxed);
        if base == 0 || !self.enabled(record.metadata()) {
            return;
        }
        let _guard = LOCK.lock();
        let mut uart = Pl011(base);
        let tag = match record.level() {
            Level::Error => "ERROR: ",
            Level::Warn => "WARN: ",
            Level::Info => "",
            Level::Debug => "debug: ",
            Level::Trace => "trace: ",
        };
        let _ = writeln!(uart, "hyp: {tag}{}", record.args());
    }

    fn flush(&self) {
        let base = BASE.load(Ordering::Relaxed);
        if base != 0 {
            Pl011(base).flush();
        }
    }
}

static LOGGER: Logger = Logger;

/// Starts logging to the PL011 at `base`.
///
/// # Safety
///
/// `base` must be the MMIO base of a configured PL011, mapped as Device memory for as long
/// as the console is used.
pub unsafe fn init(base: u64, level: LevelFilter) {
    BASE.store(base, Ordering::Relaxed);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Moves the console to another PL011.
///
/// # Safety
///
/// As for [`init`].
pub unsafe fn switch(base: u64) {
    let _guard = LOCK.lock();
    Pl011(BASE.load(Ordering::Relaxed)).flush();
    BASE.store(base, Ordering::Relaxed);
}

/// Waits until everything logged has left the UART.
pub fn flush() {
    log::logger().flush();
}
