//! Full-register SMCCC v1.2 calls for the FF-A cases: x0-x17 in, x0-x17 out, over SMC with
//! a chosen immediate or over HVC.
//!
//! `arch::smc` passes four registers; FF-A v1.2 defines x8-x17 and the matrix must set every
//! one of them, so these calls carry the whole SMCCC v1.2 register file. The immediate is a
//! const generic because it is encoded in the instruction.

use core::arch::asm;

use crate::ffa_spec::Regs;

/// How a call is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `smc #0`: the FF-A conduit.
    Smc,
    /// `smc #1`: SMCCC reserves non-zero immediates.
    SmcImm1,
    /// `smc #0x8000`.
    SmcImmTop,
    /// `smc #0xffff`.
    SmcImmAll,
    /// `hvc #0`: the hypervisor's own ABI, never FF-A.
    Hvc,
}

impl Conduit {
    /// The instruction, for case details.
    pub fn name(self) -> &'static str {
        match self {
            Conduit::Smc => "smc #0",
            Conduit::SmcImm1 => "smc #1",
            Conduit::SmcImmTop => "smc #0x8000",
            Conduit::SmcImmAll => "smc #0xffff",
            Conduit::Hvc => "hvc #0",
        }
    }
}

/// Makes the call with x0-x17 from `regs` and returns x0-x17 as the callee left them.
pub fn call(conduit: Conduit, regs: &Regs) -> Regs {
    let mut r = *regs;
    match conduit {
        Conduit::Smc => smc::<0>(&mut r),
        Conduit::SmcImm1 => smc::<1>(&mut r),
        Conduit::SmcImmTop => smc::<0x8000>(&mut r),
        Conduit::SmcImmAll => smc::<0xffff>(&mut r),
        Conduit::Hvc => hvc(&mut r),
    }
    r
}

/// One `$insn` with the whole register file: x0-x17 in from `$r`, out to `$r`.
macro_rules! call_with_all_registers {
    ($r:expr, $insn:literal $(, $name:ident = const $value:expr)?) => {{
        let r: &mut Regs = $r;
        let [
            mut x0, mut x1, mut x2, mut x3, mut x4, mut x5, mut x6, mut x7, mut x8, mut x9,
            mut x10, mut x11, mut x12, mut x13, mut x14, mut x15, mut x16, mut x17,
        ] = *r;
        // SAFETY: an SMCCC v1.2 call: the callee may change x0-x17 (all declared as
        // outputs) and preserves everything else; it may write memory the payload gave it
        // (the RX buffer), which the default memory clobber covers. Which calls are
        // harmless is the caller's business: the cases only send calls whose effects they
        // expect.
        unsafe {
            asm!(
                $insn,
                $($name = const $value,)?
                inout("x0") x0, inout("x1") x1, inout("x2") x2, inout("x3") x3,
                inout("x4") x4, inout("x5") x5, inout("x6") x6, inout("x7") x7,
                inout("x8") x8, inout("x9") x9, inout("x10") x10, inout("x11") x11,
                inout("x12") x12, inout("x13") x13, inout("x14") x14, inout("x15") x15,
                inout("x16") x16, inout("x17") x17,
                options(nostack),
            );
        }
        *r = [
            x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17,
        ];
    }};
}

/// One `smc #IMM` with the whole register file.
fn smc<const IMM: u16>(r: &mut Regs) {
    call_with_all_registers!(r, "smc #{imm}", imm = const IMM);
}

/// One `hvc #0` with the whole register file.
fn hvc(r: &mut Regs) {
    call_with_all_registers!(r, "hvc #0");
}
