//! The register frames `vectors.S` saves on an exception from the host: their layout is an
//! ABI with the assembly (sizes asserted below, offsets tested), so this module imports
//! nothing from the crate and everything that handles traps imports it.

/// The host's registers as `vectors.S` saves them on an exception from EL1/EL0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostFrame {
    /// x0..x30.
    pub x: [u64; 31],
    /// SP_EL1.
    pub sp_el1: u64,
    /// ELR_EL2: where the host resumes.
    pub elr: u64,
    /// SPSR_EL2: the host's PSTATE.
    pub spsr: u64,
    /// ESR_EL2: why it trapped.
    pub esr: u64,
    /// FAR_EL2: the faulting virtual address (aborts only).
    pub far: u64,
    /// HPFAR_EL2: the faulting IPA, bits \[47:12\] in \[43:4\] (stage-2 aborts only).
    pub hpfar: u64,
    _pad: u64,
}

const _: () = assert!(
    core::mem::size_of::<HostFrame>() == 304,
    "must match vectors.S"
);

impl HostFrame {
    /// All registers zero.
    pub const ZERO: Self = Self {
        x: [0; 31],
        sp_el1: 0,
        elr: 0,
        spsr: 0,
        esr: 0,
        far: 0,
        hpfar: 0,
        _pad: 0,
    };

    /// The state booting.rst asks for at a kernel's first instruction: x0 = `x0`,
    /// x1..x3 = 0, at `pc`, with PSTATE `spsr` (the caller's choice of EL and masks).
    pub fn el1_entry(pc: u64, x0: u64, spsr: u64) -> Self {
        let mut f = Self::ZERO;
        f.x[0] = x0;
        f.elr = pc;
        f.spsr = spsr;
        f
    }

    /// x0..x17 of the frame, in place: the SMC and HVC services read the call from them and
    /// leave the reply there (no copy in or out).
    #[inline(always)]
    pub fn smc_regs_mut(&mut self) -> &mut [u64; 18] {
        let Some(regs) = self.x.first_chunk_mut::<18>() else {
            unreachable!("x has 31 registers")
        };
        regs
    }

    /// The exception class (ESR_EL2.EC).
    pub fn exception_class(&self) -> u64 {
        (self.esr >> 26) & 0x3f
    }

    /// The faulting IPA of a stage-2 abort (page-aligned from HPFAR plus FAR's page offset).
    pub fn fault_ipa(&self) -> u64 {
        ((self.hpfar >> 4) << 12) | (self.far & 0xfff)
    }
}

/// The host's registers as `vectors.S` saves them on an SMC, the hot path: only what the
/// handler can clobber (AAPCS64 caller-saved x0..x18 and x30; x19..x29 survive the call into
/// Rust, ELR_EL2 is advanced by the vector, SPSR_EL2 and SP_EL1 do not change).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmcFrame {
    /// x0..x17: the call on entry, the reply on return (SMCCC v1.2's register set).
    pub regs: [u64; 18],
    /// x18 (caller-saved on this target: the handler may use it).
    x18: u64,
    /// x30.
    x30: u64,
}

const _: () = assert!(
    core::mem::size_of::<SmcFrame>() == 160,
    "must match SMC_FRAME_SIZE in vectors.S"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_matches_the_assembly() {
        let f = HostFrame::default();
        let base = &f as *const _ as usize;
        assert_eq!(&f.sp_el1 as *const _ as usize - base, 31 * 8);
        assert_eq!(&f.elr as *const _ as usize - base, 32 * 8);
        assert_eq!(&f.esr as *const _ as usize - base, 34 * 8);
        assert_eq!(&f.hpfar as *const _ as usize - base, 36 * 8);
    }

    #[test]
    fn smc_frame_layout_matches_the_assembly() {
        let f = SmcFrame::default();
        let base = &f as *const _ as usize;
        assert_eq!(&f.regs as *const _ as usize - base, 0);
        assert_eq!(&f.x18 as *const _ as usize - base, 18 * 8);
        assert_eq!(&f.x30 as *const _ as usize - base, 19 * 8);
    }

    #[test]
    fn fault_ipa_combines_hpfar_and_far() {
        let f = HostFrame {
            hpfar: 0x60000 << 4,
            far: 0xffff_0000_1234_5678,
            ..HostFrame::default()
        };
        assert_eq!(f.fault_ipa(), 0x6000_0678);
    }

    #[test]
    fn el1_entry_sets_only_x0_pc_and_pstate() {
        let f = HostFrame::el1_entry(0x4008_0000, 0x4800_0000, 0x3c5);
        assert_eq!(f.x[0], 0x4800_0000);
        assert!(f.x[1..].iter().all(|&x| x == 0));
        assert_eq!((f.elr, f.spsr, f.sp_el1), (0x4008_0000, 0x3c5, 0));
    }
}
