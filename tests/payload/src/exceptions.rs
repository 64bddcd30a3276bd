//! The EL1 exception handler: probes expect exactly one synchronous exception and resume;
//! anything else is reported and ends the run.
//!
//! A probe arms the handler with the kind of abort it provokes, then touches the carve-out
//! through `arch` (one instruction at a known address). The handler records ESR/FAR/ELR,
//! disarms, and resumes: after the faulting instruction for a data access (ELR + 4), at the
//! link register for a branch (the probe branched with `blr`). A case then judges the record
//! with [`crate::esr::check_sea`].

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering::SeqCst};

use crate::esr::{Esr, Observed};
use crate::{arch, report};

/// Bytes of [`Frame`], shared with `entry.S`.
pub const FRAME_SIZE: usize = core::mem::size_of::<Frame>();

/// The registers `entry.S` saves on exception entry, in its layout. The handler may change
/// `elr` (and general registers); they are restored from here before `eret`.
#[repr(C)]
pub struct Frame {
    /// x0..x30.
    pub x: [u64; 31],
    /// ELR_EL1: where `eret` returns.
    pub elr: u64,
    /// SPSR_EL1.
    pub spsr: u64,
    /// ESR_EL1 (read only: restoring it has no meaning).
    pub esr: u64,
    /// FAR_EL1 (read only).
    pub far: u64,
    _pad: u64,
}

const _: () = assert!(FRAME_SIZE == 288); // 16-byte multiple: SP stays aligned

/// Vector offset / 0x80 of "current EL with SP_ELx, synchronous": where the probes land.
const VECTOR_SYNC_CURRENT_SPX: u64 = 4;

/// What an armed probe provokes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// A load or store: resume after the faulting instruction.
    Data = 1,
    /// A branch-with-link: resume at the link register.
    Exec = 2,
}

/// 0 = disarmed, else a `ProbeKind`.
static ARMED: AtomicU8 = AtomicU8::new(0);
static HITS: AtomicU64 = AtomicU64::new(0);
static SEEN_ESR: AtomicU64 = AtomicU64::new(0);
static SEEN_FAR: AtomicU64 = AtomicU64::new(0);
static SEEN_ELR: AtomicU64 = AtomicU64::new(0);

/// Runs `probe` with the handler armed for `kind`; returns its result and the exception it
/// raised, if any. Boot CPU only (the handler ignores probes' state on other CPUs).
pub fn run_probe<T>(kind: ProbeKind, probe: impl FnOnce() -> T) -> (T, Option<Observed>) {
    HITS.store(0, SeqCst);
    ARMED.store(kind as u8, SeqCst);
    let value = probe();
    ARMED.store(0, SeqCst);
    let seen = (HITS.load(SeqCst) != 0).then(|| Observed {
        esr: SEEN_ESR.load(SeqCst),
        far: SEEN_FAR.load(SeqCst),
        elr: SEEN_ELR.load(SeqCst),
    });
    (value, seen)
}

/// Called by `entry.S` for every exception taken to EL1.
#[unsafe(no_mangle)]
extern "C" fn payload_el1_exception(frame: &mut Frame, vector: u64) {
    let armed = ARMED.load(SeqCst);
    if vector == VECTOR_SYNC_CURRENT_SPX && armed != 0 && arch::cpu_index() == 0 {
        ARMED.store(0, SeqCst); // one exception per probe: a second one is fatal
        SEEN_ESR.store(frame.esr, SeqCst);
        SEEN_FAR.store(frame.far, SeqCst);
        SEEN_ELR.store(frame.elr, SeqCst);
        HITS.store(1, SeqCst);
        frame.elr = if armed == ProbeKind::Exec as u8 {
            frame.x[30]
        } else {
            frame.elr + 4
        };
        return;
    }
    let esr = Esr(frame.esr);
    println!(
        "PAYLOAD: exception FAIL unexpected {} on cpu {:#x}: ESR={:#x} (EC={:#x} {}) FAR={:#x} \
         ELR={:#x} SPSR={:#x} x30={:#x}",
        vector_name(vector),
        arch::mpidr(),
        frame.esr,
        esr.ec(),
        esr.ec_name(),
        frame.far,
        frame.elr,
        frame.spsr,
        frame.x[30],
    );
    report::finish_fatal()
}

fn vector_name(vector: u64) -> &'static str {
    const NAMES: [&str; 16] = [
        "sync (current EL, SP_EL0)",
        "IRQ (current EL, SP_EL0)",
        "FIQ (current EL, SP_EL0)",
        "SError (current EL, SP_EL0)",
        "sync (current EL, SP_EL1)",
        "IRQ (current EL, SP_EL1)",
        "FIQ (current EL, SP_EL1)",
        "SError (current EL, SP_EL1)",
        "sync (lower EL, AArch64)",
        "IRQ (lower EL, AArch64)",
        "FIQ (lower EL, AArch64)",
        "SError (lower EL, AArch64)",
        "sync (lower EL, AArch32)",
        "IRQ (lower EL, AArch32)",
        "FIQ (lower EL, AArch32)",
        "SError (lower EL, AArch32)",
    ];
    NAMES
        .get(vector as usize)
        .copied()
        .unwrap_or("exception (bad vector number)")
}
