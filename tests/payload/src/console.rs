//! The console: a PL011's transmit path, shared by all CPUs under a bakery lock.
//!
//! The UART is the one `/chosen/stdout-path` names (QEMU virt: 0x0900_0000, which is also
//! the fallback until the DT is parsed). Firmware has already configured it; the payload
//! only writes the data register.
//!
//! The payload runs with its MMU off, where memory is Device-nGnRnE and exclusive/atomic
//! read-modify-write instructions are not guaranteed to work. Lamport's bakery lock needs
//! only sequentially consistent loads and stores (LDAR/STLR), so it is used to keep the
//! lines of concurrently running CPUs whole. Its waits are bounded: a CPU that dies while
//! holding the lock costs the others [`LOCK_TIMEOUT_MS`], not the run.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};

use crate::time::Deadline;
use crate::{MAX_CPUS, arch};

/// QEMU virt's PL011 (UART0), used when the DT names no console.
pub const DEFAULT_UART: usize = 0x0900_0000;
/// Longest wait for the console lock before printing anyway.
const LOCK_TIMEOUT_MS: u64 = 2000;
/// PL011 data register.
const UARTDR: usize = 0x00;
/// PL011 flag register, and its "transmit FIFO full" bit.
const UARTFR: usize = 0x18;
const UARTFR_TXFF: u32 = 1 << 5;
/// Polls of a full FIFO before a byte is dropped (the console must never hang a CPU).
const TX_SPIN_LIMIT: u32 = 1_000_000;

static UART: AtomicUsize = AtomicUsize::new(DEFAULT_UART);

/// Sends the console to the PL011 at `base`.
pub fn set_uart(base: usize) {
    UART.store(base, SeqCst);
}

/// The PL011 in use.
pub fn uart() -> usize {
    UART.load(SeqCst)
}

fn put_byte(byte: u8) {
    let base = uart();
    for _ in 0..TX_SPIN_LIMIT {
        // SAFETY: `base` is the PL011 from the DT (or QEMU virt's); with the MMU off its
        // registers are accessed as Device memory, and reading FR has no side effects.
        let flags = unsafe { core::ptr::read_volatile((base + UARTFR) as *const u32) };
        if flags & UARTFR_TXFF == 0 {
            break;
        }
        core::hint::spin_loop();
    }
    // SAFETY: as above; writing DR queues one character and nothing else.
    unsafe { core::ptr::write_volatile((base + UARTDR) as *mut u32, u32::from(byte)) };
}

/// The UART as a `fmt::Write` (LF becomes CRLF). Use [`print_line`] to print.
struct Uart;

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                put_byte(b'\r');
            }
            put_byte(byte);
        }
        Ok(())
    }
}

/// Lamport's bakery lock over the per-CPU indices.
struct Bakery {
    choosing: [AtomicBool; MAX_CPUS],
    number: [AtomicU32; MAX_CPUS],
}

static LOCK: Bakery = Bakery {
    choosing: [const { AtomicBool::new(false) }; MAX_CPUS],
    number: [const { AtomicU32::new(0) }; MAX_CPUS],
};

/// Holds the console lock for CPU index `.0` until dropped.
struct Guard(usize);

impl Drop for Guard {
    fn drop(&mut self) {
        LOCK.number[self.0].store(0, SeqCst);
    }
}

fn lock() -> Guard {
    let me = arch::cpu_index();
    LOCK.choosing[me].store(true, SeqCst);
    let ticket = 1 + LOCK
        .number
        .iter()
        .map(|n| n.load(SeqCst))
        .max()
        .unwrap_or(0);
    LOCK.number[me].store(ticket, SeqCst);
    LOCK.choosing[me].store(false, SeqCst);
    let deadline = Deadline::after_ms(LOCK_TIMEOUT_MS);
    for other in (0..MAX_CPUS).filter(|&j| j != me) {
        while LOCK.choosing[other].load(SeqCst) && !deadline.expired() {
            core::hint::spin_loop();
        }
        loop {
            let theirs = LOCK.number[other].load(SeqCst);
            if theirs == 0 || (theirs, other) > (ticket, me) || deadline.expired() {
                break;
            }
            core::hint::spin_loop();
        }
    }
    Guard(me)
}

/// Prints one line (a newline is appended) without interleaving with other CPUs' lines.
pub fn print_line(args: fmt::Arguments) {
    let _guard = lock();
    let _ = Uart.write_fmt(args);
    let _ = Uart.write_str("\n");
}

/// `println!` for the payload console.
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}
