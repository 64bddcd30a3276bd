//! Turning a host stage-2 abort into a synchronous external abort at the host's own EL1
//! vector: the host touched memory it does not own (the carve-out, Secure memory), so it
//! sees exactly what a bus error would give it, and the hypervisor keeps running.
//!
//! Abort injection is a client of the memory-protection core: before injecting, the trap
//! path asks [`crate::mm::MemProtect::host_access`], and a fault on a page the host may
//! access (its block was being rebuilt by a LEND or RECLAIM on another CPU), or on a page
//! whose LEND the SPMC has not answered yet, is retried instead.

/// Exception classes of ESR_ELx.
pub mod ec {
    /// HVC from AArch64.
    pub const HVC64: u64 = 0x16;
    /// SMC from AArch64.
    pub const SMC64: u64 = 0x17;
    /// SMC from AArch32.
    pub const SMC32: u64 = 0x13;
    /// HVC from AArch32.
    pub const HVC32: u64 = 0x12;
    /// Instruction abort from a lower EL.
    pub const IABT_LOW: u64 = 0x20;
    /// Instruction abort from the current EL.
    pub const IABT_CUR: u64 = 0x21;
    /// Data abort from a lower EL.
    pub const DABT_LOW: u64 = 0x24;
    /// Data abort from the current EL.
    pub const DABT_CUR: u64 = 0x25;
}

/// Fault status code: synchronous external abort, not on a translation table walk.
pub const FSC_SEA: u64 = 0x10;
/// Fault status code: synchronous external abort on a translation table walk, levels 0-3
/// in bits \[1:0\] (0b0101LL).
pub const FSC_SEA_WALK: u64 = 0x14;
/// Fault status code: the same, at level -1 (FEAT_LPA2).
const FSC_SEA_WALK_LEVEL_MINUS_1: u64 = 0x13;
/// Fault status codes of ESR_EL2 that name level -1: translation fault, address size fault.
const FSC_LEVEL_MINUS_1_TRANSLATION: u64 = 0x2b;
const FSC_LEVEL_MINUS_1_ADDRESS_SIZE: u64 = 0x29;
/// ESR.IL: 32-bit instruction.
const ESR_IL: u64 = 1 << 25;
/// ISS bit 6 of a data abort: the access was a write.
const ISS_WNR: u64 = 1 << 6;
/// ISS bit 7 of an abort: the fault was on a stage-1 translation table walk.
const ISS_S1PTW: u64 = 1 << 7;
/// ISS bit 8 of a data abort: the access was a cache-maintenance instruction.
const ISS_CM: u64 = 1 << 8;

/// The EL1 register values that deliver a synchronous external abort to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    /// ESR_EL1.
    pub esr_el1: u64,
    /// FAR_EL1.
    pub far_el1: u64,
    /// ELR_EL1: the faulting instruction.
    pub elr_el1: u64,
    /// SPSR_EL1: the host's PSTATE when it faulted.
    pub spsr_el1: u64,
    /// Where to return at EL2: the host's vector for this exception.
    pub elr_el2: u64,
    /// PSTATE to return with: EL1h, all of DAIF masked.
    pub spsr_el2: u64,
}

/// CPU features that change PSTATE on exception entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryFeatures {
    /// FEAT_PAN.
    pub pan: bool,
    /// FEAT_MTE (PSTATE.TCO is set on exception entry).
    pub mte: bool,
}

/// Computes the injection for the stage-2 abort described by `esr_el2` (EC 0x20 or 0x24),
/// taken with the host at `host_spsr` / `host_pc`, faulting address `far`, given the
/// host's VBAR_EL1 and SCTLR_EL1.
pub fn sea_injection(
    esr_el2: u64,
    far: u64,
    host_pc: u64,
    host_spsr: u64,
    vbar_el1: u64,
    sctlr_el1: u64,
    features: EntryFeatures,
) -> Injection {
    let class = (esr_el2 >> 26) & 0x3f;
    let mode = host_spsr & 0x1f;
    let from_el1 = matches!(mode, 0b0100 | 0b0101);
    let is_data = class == ec::DABT_LOW;
    let new_class = match (is_data, from_el1) {
        (true, true) => ec::DABT_CUR,
        (true, false) => ec::DABT_LOW,
        (false, true) => ec::IABT_CUR,
        (false, false) => ec::IABT_LOW,
    };
    let mut iss = if esr_el2 & ISS_S1PTW == 0 {
        FSC_SEA
    } else {
        // The host's own stage-1 walk read a table it may not access: to the host, an
        // external abort on that walk, at the level of the walk step that faulted
        // (ESR_EL2's FSC level); level -1 (FEAT_LPA2) has its own code.
        match esr_el2 & 0x3f {
            FSC_LEVEL_MINUS_1_TRANSLATION | FSC_LEVEL_MINUS_1_ADDRESS_SIZE => {
                FSC_SEA_WALK_LEVEL_MINUS_1
            }
            fsc => FSC_SEA_WALK | (fsc & 0b11),
        }
    };
    if is_data {
        iss |= esr_el2 & (ISS_WNR | ISS_CM);
    }
    let offset = match mode {
        0b0100 => 0x000,             // EL1t: current EL with SP_EL0
        0b0101 => 0x200,             // EL1h: current EL with SP_ELx
        m if m & 0x10 == 0 => 0x400, // EL0, AArch64
        _ => 0x600,                  // EL0, AArch32
    };
    // PSTATE on exception entry to EL1 (ARM ARM, AArch64.TakeException): EL1h with D, A,
    // I, F set; PAN set if SCTLR_EL1.SPAN is 0, else kept; SSBS from SCTLR_EL1.DSSBS; DIT
    // kept; TCO set with MTE; BTYPE, SS, IL, UAO cleared.
    let mut pstate = 0x3c5u64;
    if features.pan {
        if sctlr_el1 & (1 << 23) == 0 {
            pstate |= 1 << 22;
        } else {
            pstate |= host_spsr & (1 << 22);
        }
    }
    if sctlr_el1 & (1 << 44) != 0 {
        pstate |= 1 << 12; // SSBS
    }
    pstate |= host_spsr & (1 << 24); // DIT
    if features.mte {
        pstate |= 1 << 25; // TCO
    }
    Injection {
        esr_el1: (new_class << 26) | ESR_IL | iss,
        far_el1: far,
        elr_el1: host_pc,
        spsr_el1: host_spsr,
        elr_el2: vbar_el1.wrapping_add(offset),
        spsr_el2: pstate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VBAR: u64 = 0x4800_0800;
    const PAN: EntryFeatures = EntryFeatures {
        pan: true,
        mte: false,
    };

    #[test]
    fn el1_data_write_becomes_current_el_data_abort() {
        // DABT_LOW, WnR set, DFSC = stage-2 translation fault level 3.
        let esr = (ec::DABT_LOW << 26) | ESR_IL | ISS_WNR | 0x07;
        let inj = sea_injection(esr, 0x6000_0008, 0x4800_1234, 0x3c5, VBAR, 0x30d0_0800, PAN);
        assert_eq!(inj.esr_el1, (0x25 << 26) | (1 << 25) | (1 << 6) | 0x10);
        assert_eq!(inj.far_el1, 0x6000_0008);
        assert_eq!(inj.elr_el1, 0x4800_1234);
        assert_eq!(inj.spsr_el1, 0x3c5);
        assert_eq!(inj.elr_el2, VBAR + 0x200);
        assert_eq!(inj.spsr_el2 & 0x3cf, 0x3c5);
    }

    #[test]
    fn el1_instruction_fetch_becomes_current_el_instruction_abort() {
        let esr = (ec::IABT_LOW << 26) | ESR_IL | 0x07;
        let inj = sea_injection(esr, 0x6000_0000, 0x6000_0000, 0x3c5, VBAR, 0, PAN);
        assert_eq!(inj.esr_el1 >> 26, 0x21);
        assert_eq!(inj.esr_el1 & 0x3f, FSC_SEA);
        assert_eq!(inj.spsr_el2 & (1 << 22), 1 << 22, "PAN set when SPAN is 0");
    }

    #[test]
    fn el0_fault_uses_the_lower_el_vector_and_class() {
        let esr = (ec::DABT_LOW << 26) | ESR_IL;
        let inj = sea_injection(esr, 0x1000, 0x40_0000, 0x0, VBAR, 1 << 23, PAN);
        assert_eq!(inj.esr_el1 >> 26, 0x24);
        assert_eq!(inj.elr_el2, VBAR + 0x400);
        assert_eq!(inj.spsr_el2 & (1 << 22), 0, "SPAN set: PAN kept (was 0)");
        let inj = sea_injection(esr, 0x1000, 0x40_0000, 1 << 22, VBAR, 1 << 23, PAN);
        assert_eq!(
            inj.spsr_el2 & (1 << 22),
            1 << 22,
            "SPAN set: PAN kept (was 1)"
        );
        let inj = sea_injection(esr, 0x1000, 0x40_0000, 0x10, VBAR, 0, PAN);
        assert_eq!(inj.elr_el2, VBAR + 0x600, "AArch32 EL0");
    }

    /// A stage-2 fault on the host's own stage-1 table walk (ISS.S1PTW) is, to the host, an
    /// external abort on that walk: FSC 0b0101LL with the level of the fault, 0x13 for level
    /// -1; a fault on the access itself stays FSC 0x10.
    #[test]
    fn stage_1_walk_faults_report_the_walk_abort_with_its_level() {
        for (fsc, level) in [
            (0x04, 0),
            (0x05, 1),
            (0x06, 2),
            (0x07, 3),
            (0x0d, 1),
            (0x0b, 3),
        ] {
            let esr = (ec::DABT_LOW << 26) | ESR_IL | ISS_S1PTW | fsc;
            let inj = sea_injection(esr, 0x1000, 0x4800_0000, 0x3c5, VBAR, 0, PAN);
            assert_eq!(
                inj.esr_el1 & 0x3f,
                0x14 + level,
                "data, stage-2 FSC {fsc:#x}"
            );
            let esr = (ec::IABT_LOW << 26) | ESR_IL | ISS_S1PTW | fsc;
            let inj = sea_injection(esr, 0x1000, 0x4800_0000, 0x3c5, VBAR, 0, PAN);
            assert_eq!(
                inj.esr_el1 & 0x3f,
                0x14 + level,
                "fetch, stage-2 FSC {fsc:#x}"
            );
        }
        // Level -1 (FEAT_LPA2): translation fault 0x2b, address size fault 0x29.
        for fsc in [0x2b, 0x29] {
            let esr = (ec::DABT_LOW << 26) | ESR_IL | ISS_S1PTW | fsc;
            let inj = sea_injection(esr, 0x1000, 0x4800_0000, 0x3c5, VBAR, 0, PAN);
            assert_eq!(inj.esr_el1 & 0x3f, 0x13, "level -1 ({fsc:#x})");
        }
        let esr = (ec::DABT_LOW << 26) | ESR_IL | 0x07;
        let inj = sea_injection(esr, 0x1000, 0x4800_0000, 0x3c5, VBAR, 0, PAN);
        assert_eq!(inj.esr_el1 & 0x3f, FSC_SEA, "not on a walk");
    }

    /// A cache-maintenance instruction that faulted says so (ISS.CM), as a real external
    /// abort on it would; instruction aborts have no CM bit.
    #[test]
    fn cache_maintenance_is_kept() {
        let esr = (ec::DABT_LOW << 26) | ESR_IL | ISS_CM | ISS_WNR | 0x07;
        let inj = sea_injection(esr, 0x1000, 0x4800_0000, 0x3c5, VBAR, 0, PAN);
        assert_eq!(
            inj.esr_el1,
            (ec::DABT_CUR << 26) | ESR_IL | ISS_CM | ISS_WNR | FSC_SEA
        );
        let esr = (ec::IABT_LOW << 26) | ESR_IL | ISS_CM | 0x07;
        let inj = sea_injection(esr, 0x1000, 0x4800_0000, 0x3c5, VBAR, 0, PAN);
        assert_eq!(inj.esr_el1 & ISS_CM, 0, "instruction abort: bit 8 is RES0");
    }

    #[test]
    fn el1t_uses_the_sp0_vector() {
        let esr = ec::DABT_LOW << 26;
        let inj = sea_injection(esr, 0, 0, 0x3c4, VBAR, 0, PAN);
        assert_eq!(inj.elr_el2, VBAR);
    }

    #[test]
    fn tco_is_set_with_mte_and_dit_is_kept() {
        let esr = ec::DABT_LOW << 26;
        let mte = EntryFeatures {
            pan: false,
            mte: true,
        };
        let inj = sea_injection(esr, 0, 0, 0x3c5 | 1 << 24, VBAR, 0, mte);
        assert_eq!(inj.spsr_el2 & (1 << 25), 1 << 25, "TCO");
        assert_eq!(inj.spsr_el2 & (1 << 24), 1 << 24, "DIT kept");
        assert_eq!(inj.spsr_el2 & (1 << 22), 0, "no FEAT_PAN: PAN stays 0");
    }
}
