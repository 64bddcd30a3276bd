//! ESR_EL1 decoding and the check that an exception is the synchronous external abort the
//! hypervisor promises for a host access to its carve-out.
//!
//! Field positions are the Arm ARM's (DDI 0487, ESR_ELx): EC in bits 31:26, IL in 25, ISS in
//! 24:0; for data and instruction aborts the fault status code (DFSC/IFSC) is ISS 5:0, FnV
//! (FAR not valid) is ISS 10, WnR is ISS 6 (data aborts only).

use core::fmt;

/// Instruction abort taken without a change in exception level.
pub const EC_IABT_CURRENT: u8 = 0x21;
/// Data abort taken without a change in exception level.
pub const EC_DABT_CURRENT: u8 = 0x25;
/// Fault status code: synchronous external abort, not on a translation table walk.
pub const FSC_SEA: u8 = 0x10;

/// A syndrome value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Esr(pub u64);

impl Esr {
    /// Exception class.
    pub fn ec(self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }

    /// Fault status code of an abort (ISS 5:0).
    pub fn fsc(self) -> u8 {
        (self.0 & 0x3f) as u8
    }

    /// FnV: FAR_EL1 does not hold the faulting address.
    pub fn far_not_valid(self) -> bool {
        self.0 & (1 << 10) != 0
    }

    /// WnR of a data abort: the access was a write.
    pub fn write_not_read(self) -> bool {
        self.0 & (1 << 6) != 0
    }

    /// A short name for the exception class.
    pub fn ec_name(self) -> &'static str {
        match self.ec() {
            0x00 => "unknown/undefined",
            0x01 => "WFI/WFE",
            0x07 => "FP/SIMD access",
            0x15 => "SVC64",
            0x16 => "HVC64",
            0x17 => "SMC64",
            0x18 => "MSR/MRS",
            0x20 => "instruction abort (lower EL)",
            EC_IABT_CURRENT => "instruction abort (current EL)",
            0x22 => "PC alignment",
            0x24 => "data abort (lower EL)",
            EC_DABT_CURRENT => "data abort (current EL)",
            0x26 => "SP alignment",
            0x2f => "SError",
            0x3c => "BRK",
            _ => "other",
        }
    }
}

/// What the exception handler saw for one probe.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Observed {
    /// ESR_EL1.
    pub esr: u64,
    /// FAR_EL1.
    pub far: u64,
    /// ELR_EL1.
    pub elr: u64,
}

/// The first way an abort differs from the expected synchronous external abort.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mismatch {
    /// Wrong exception class.
    Ec { got: u8, want: u8 },
    /// Right class, but not a synchronous external abort.
    Fsc { got: u8 },
    /// FAR is valid (FnV = 0) but is not the probed address.
    Far { got: u64, want: u64 },
    /// ELR does not point at the faulting instruction (data) or target (instruction).
    Elr { got: u64, want: u64 },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Mismatch::Ec { got, want } => write!(
                f,
                "EC={got:#x} ({}), want {want:#x}",
                Esr(u64::from(got) << 26).ec_name()
            ),
            Mismatch::Fsc { got } => write!(f, "FSC={got:#x}, want {FSC_SEA:#x} (SEA)"),
            Mismatch::Far { got, want } => write!(f, "FAR={got:#x} (FnV=0), want {want:#x}"),
            Mismatch::Elr { got, want } => write!(f, "ELR={got:#x}, want {want:#x}"),
        }
    }
}

/// Checks `seen` against a synchronous external abort of class `ec` on `addr`, taken with
/// ELR_EL1 = `elr`. FAR is only compared when the syndrome says it is valid.
pub fn check_sea(seen: &Observed, ec: u8, addr: u64, elr: u64) -> Result<(), Mismatch> {
    let esr = Esr(seen.esr);
    if esr.ec() != ec {
        return Err(Mismatch::Ec {
            got: esr.ec(),
            want: ec,
        });
    }
    if esr.fsc() != FSC_SEA {
        return Err(Mismatch::Fsc { got: esr.fsc() });
    }
    if !esr.far_not_valid() && seen.far != addr {
        return Err(Mismatch::Far {
            got: seen.far,
            want: addr,
        });
    }
    if seen.elr != elr {
        return Err(Mismatch::Elr {
            got: seen.elr,
            want: elr,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: u64 = 0x6000_0000;
    const PC: u64 = 0x4800_1234;
    /// EC 0x25, IL, ISS = WnR | DFSC 0x10: a store that took an SEA.
    const DABT_SEA_WRITE: u64 = (0x25 << 26) | (1 << 25) | (1 << 6) | 0x10;

    #[test]
    fn data_abort_sea_with_valid_far_passes() {
        let seen = Observed {
            esr: DABT_SEA_WRITE,
            far: ADDR,
            elr: PC,
        };
        assert_eq!(check_sea(&seen, EC_DABT_CURRENT, ADDR, PC), Ok(()));
        assert!(Esr(DABT_SEA_WRITE).write_not_read());
    }

    #[test]
    fn far_is_ignored_when_fnv_is_set() {
        let seen = Observed {
            esr: DABT_SEA_WRITE | (1 << 10),
            far: 0,
            elr: PC,
        };
        assert_eq!(check_sea(&seen, EC_DABT_CURRENT, ADDR, PC), Ok(()));
    }

    #[test]
    fn wrong_far_when_valid_is_reported() {
        let seen = Observed {
            esr: DABT_SEA_WRITE,
            far: ADDR + 8,
            elr: PC,
        };
        assert_eq!(
            check_sea(&seen, EC_DABT_CURRENT, ADDR, PC),
            Err(Mismatch::Far {
                got: ADDR + 8,
                want: ADDR
            })
        );
    }

    #[test]
    fn translation_fault_is_not_an_sea() {
        // DFSC 0x07: translation fault, level 3 (what a missing stage-1 entry would give).
        let seen = Observed {
            esr: (0x25 << 26) | 0x07,
            far: ADDR,
            elr: PC,
        };
        assert_eq!(
            check_sea(&seen, EC_DABT_CURRENT, ADDR, PC),
            Err(Mismatch::Fsc { got: 0x07 })
        );
    }

    #[test]
    fn instruction_abort_is_not_a_data_abort() {
        let seen = Observed {
            esr: (0x21 << 26) | (1 << 25) | 0x10,
            far: ADDR,
            elr: ADDR,
        };
        assert_eq!(check_sea(&seen, EC_IABT_CURRENT, ADDR, ADDR), Ok(()));
        assert_eq!(
            check_sea(&seen, EC_DABT_CURRENT, ADDR, ADDR),
            Err(Mismatch::Ec {
                got: 0x21,
                want: 0x25
            })
        );
    }

    #[test]
    fn elr_must_be_the_faulting_instruction() {
        let seen = Observed {
            esr: DABT_SEA_WRITE,
            far: ADDR,
            elr: PC + 4,
        };
        assert_eq!(
            check_sea(&seen, EC_DABT_CURRENT, ADDR, PC),
            Err(Mismatch::Elr {
                got: PC + 4,
                want: PC
            })
        );
    }
}
