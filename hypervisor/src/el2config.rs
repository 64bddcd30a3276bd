//! The EL2 register values that let the host run at EL1 as if no hypervisor were there:
//! the host gets what Linux's own `init_el2_state` gives itself when it boots at EL2
//! (nothing trapped that it could use natively, every feature this CPU has enabled for
//! EL1/EL0), except HCR_EL2.TSC (SMCs trap) and stage 2. Computed from the raw ID-register
//! values the firmware glue reads, as plain values ([`HostEl2`]) unit-tested here; the glue
//! (`firmware/el2_setup.rs`) writes them through `arch`.
//!
//! Every optional register is written only when the ID registers say the CPU has it, so the
//! same image runs on an Armv8.0 Cortex-A53/A57 and on an Armv9 Neoverse-N2 or QEMU's `max`.
//! What the hypervisor cannot run without ([`CpuFeatures::missing`]: AArch64 EL1, stage 2
//! with 4 KiB pages, a PARange it knows, an EL2 that can run with HCR_EL2.E2H = 0) stops the
//! boot with one line naming it; what it found is one banner line ([`CpuSummary`]).

use core::fmt;

/// The ID register fields the host configuration depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    /// ID_AA64PFR0_EL1.
    pub pfr0: u64,
    /// ID_AA64PFR1_EL1.
    pub pfr1: u64,
    /// ID_AA64DFR0_EL1.
    pub dfr0: u64,
    /// ID_AA64MMFR0_EL1.
    pub mmfr0: u64,
    /// ID_AA64MMFR1_EL1.
    pub mmfr1: u64,
    /// ID_AA64MMFR3_EL1.
    pub mmfr3: u64,
    /// ID_AA64ISAR1_EL1.
    pub isar1: u64,
    /// ID_AA64SMFR0_EL1 (SME features; 0 without SME).
    pub smfr0: u64,
    /// PMCR_EL0.N (number of event counters), when a PMUv3 is implemented.
    pub pmu_counters: u64,
    /// MPAMIDR_EL1 (0 without MPAM).
    pub mpamidr: u64,
    /// ID_AA64MMFR4_EL1 (RAZ before Armv8.7).
    pub mmfr4: u64,
    /// MIDR_EL1.
    pub midr: u64,
}

/// A CPU feature the hypervisor needs and this CPU does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingFeature {
    /// ID_AA64PFR0_EL1.EL1 = 0: no AArch64 at EL1 for the host.
    Aarch64El1,
    /// ID_AA64MMFR0_EL1.TGran4_2 (or TGran4 through it): stage 2 cannot use 4 KiB pages.
    Stage2Granule4K,
    /// ID_AA64MMFR0_EL1.PARange holds a reserved value.
    PaRange(u64),
    /// ID_AA64MMFR4_EL1.E2H0 < 0: HCR_EL2.E2H is RES1, there is no non-VHE EL2 to run in.
    NonVheEl2,
}

impl fmt::Display for MissingFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Aarch64El1 => {
                f.write_str("AArch64 at EL1 (ID_AA64PFR0_EL1.EL1 = 0): the host cannot run")
            }
            Self::Stage2Granule4K => f.write_str(
                "stage-2 translation with 4 KiB pages (ID_AA64MMFR0_EL1.TGran4_2): the host stage 2 cannot be built",
            ),
            Self::PaRange(v) => write!(
                f,
                "a known physical address size (ID_AA64MMFR0_EL1.PARange = {v:#x} is reserved): no stage-2 geometry"
            ),
            Self::NonVheEl2 => f.write_str(
                "FEAT_E2H0 (ID_AA64MMFR4_EL1.E2H0 < 0, HCR_EL2.E2H is RES1): the hypervisor runs with E2H = 0",
            ),
        }
    }
}

fn field(reg: u64, shift: u32) -> u64 {
    (reg >> shift) & 0xf
}

/// HCR_EL2 bits.
pub mod hcr {
    /// Stage-2 translation on.
    pub const VM: u64 = 1 << 0;
    /// Trap SMC from EL1.
    pub const TSC: u64 = 1 << 19;
    /// EL1 is AArch64.
    pub const RW: u64 = 1 << 31;
    /// Pointer-authentication key registers not trapped.
    pub const APK: u64 = 1 << 40;
    /// Pointer-authentication instructions not trapped.
    pub const API: u64 = 1 << 41;
    /// MTE tag accesses allowed at EL1/EL0.
    pub const ATA: u64 = 1 << 56;
}

impl CpuFeatures {
    /// FEAT_MTE2 or later.
    pub fn has_mte2(&self) -> bool {
        field(self.pfr1, 8) >= 2
    }
    /// A GICv3+ system-register CPU interface.
    pub fn has_gicv3_sysregs(&self) -> bool {
        field(self.pfr0, 24) != 0
    }
    /// FEAT_SVE.
    pub fn has_sve(&self) -> bool {
        field(self.pfr0, 32) != 0
    }
    /// FEAT_SME.
    pub fn has_sme(&self) -> bool {
        field(self.pfr1, 24) != 0
    }
    /// FEAT_HCX (HCRX_EL2 exists).
    pub fn has_hcx(&self) -> bool {
        field(self.mmfr1, 40) != 0
    }
    /// FEAT_FGT (fine-grained trap registers exist).
    pub fn has_fgt(&self) -> bool {
        field(self.mmfr0, 56) != 0
    }
    /// FEAT_AMU.
    pub fn has_amu(&self) -> bool {
        field(self.pfr0, 44) != 0
    }
    /// A PMUv3 (not absent, not IMPLEMENTATION DEFINED).
    pub fn has_pmuv3(&self) -> bool {
        !matches!(field(self.dfr0, 8), 0 | 0xf)
    }
    /// FEAT_SPE.
    pub fn has_spe(&self) -> bool {
        field(self.dfr0, 32) != 0
    }
    /// FEAT_TRBE.
    pub fn has_trbe(&self) -> bool {
        field(self.dfr0, 44) != 0
    }
    /// FEAT_GCS.
    pub fn has_gcs(&self) -> bool {
        field(self.pfr1, 44) != 0
    }
    /// FEAT_MPAM (any version, including the 0.x "frac" encodings).
    pub fn has_mpam(&self) -> bool {
        field(self.pfr0, 40) != 0 || field(self.pfr1, 16) != 0
    }
    /// FEAT_BRBE.
    pub fn has_brbe(&self) -> bool {
        field(self.dfr0, 52) != 0
    }
    /// FEAT_SPEv1p2 or later (PMSNEVFR_EL1 exists).
    pub fn has_spe_v1p2(&self) -> bool {
        field(self.dfr0, 32) >= 3
    }
    /// FEAT_TRF (trace filter controls, TRFCR_EL2 exists).
    pub fn has_trf(&self) -> bool {
        field(self.dfr0, 40) != 0
    }
    /// PMUv3p1 or later (MDCR_EL2.HPMD exists).
    pub fn has_pmuv3p1(&self) -> bool {
        self.has_pmuv3() && field(self.dfr0, 8) >= 4
    }
    /// FEAT_PMUv3p5 or later (MDCR_EL2.HCCD exists).
    pub fn has_pmuv3p5(&self) -> bool {
        self.has_pmuv3() && field(self.dfr0, 8) >= 6
    }
    /// FEAT_PAN (PSTATE.PAN is set on exception entry when SCTLR_EL1.SPAN is 0).
    pub fn has_pan(&self) -> bool {
        field(self.mmfr1, 20) != 0
    }
    /// FEAT_MTE, any level (PSTATE.TCO is set on exception entry).
    pub fn has_mte(&self) -> bool {
        field(self.pfr1, 8) != 0
    }
    /// MPAMHCR_EL2 exists (MPAMIDR_EL1.HAS_HCR).
    pub fn has_mpam_hcr(&self) -> bool {
        self.has_mpam() && self.mpamidr & (1 << 17) != 0
    }
    /// FEAT_LS64_ACCDATA.
    pub fn has_ls64_accdata(&self) -> bool {
        field(self.isar1, 60) >= 3
    }
    /// FEAT_VHE (HCR_EL2.E2H can be 1; the hypervisor keeps it 0).
    pub fn has_vhe(&self) -> bool {
        field(self.mmfr1, 8) != 0
    }
    /// ID_AA64MMFR0_EL1.PARange.
    pub fn parange(&self) -> u64 {
        field(self.mmfr0, 0)
    }

    /// The first feature the hypervisor needs that this CPU lacks, checked in this order:
    /// AArch64 EL1, a known PARange, stage 2 with 4 KiB pages, a non-VHE EL2.
    pub fn missing(&self) -> Option<MissingFeature> {
        if field(self.pfr0, 4) == 0 {
            return Some(MissingFeature::Aarch64El1);
        }
        if self.parange() > 6 {
            return Some(MissingFeature::PaRange(self.parange()));
        }
        // TGran4_2: 0 = as TGran4 (0 and 1 supported, 0xf not), 1 = no, 2 and 3 = yes.
        let stage2_4k = match field(self.mmfr0, 40) {
            0 => matches!(field(self.mmfr0, 28), 0 | 1),
            2 | 3 => true,
            _ => false,
        };
        if !stage2_4k {
            return Some(MissingFeature::Stage2Granule4K);
        }
        // E2H0 is a signed field: 0 implemented, negative (0xe, 0xf) not.
        if field(self.mmfr4, 24) >= 8 {
            return Some(MissingFeature::NonVheEl2);
        }
        None
    }

    /// The banner's one line about this CPU.
    pub fn summary(&self) -> CpuSummary<'_> {
        CpuSummary(self)
    }

    /// HCR_EL2 for the host: AArch64 EL1, SMC trapped, stage-2 on, pointer authentication
    /// and (with MTE2) tag accesses untrapped. No IMO/FMO/AMO: interrupts go straight to
    /// the host. No TWx, no TID*: WFI/WFE and ID registers are native.
    pub fn hcr(&self) -> u64 {
        let mut v = hcr::RW | hcr::TSC | hcr::VM | hcr::API | hcr::APK;
        if self.has_mte2() {
            v |= hcr::ATA;
        }
        v
    }

    /// HCRX_EL2, if FEAT_HCX: MSCEn, TCR2En and EnFPM (+ GCSEn), as Linux sets for itself,
    /// so the host's use of MOPS, TCR2_EL1, FPMR and GCS does not trap.
    pub fn hcrx(&self) -> Option<u64> {
        if !self.has_hcx() {
            return None;
        }
        let mut v = (1 << 11) | (1 << 14) | (1 << 23);
        if field(self.mmfr3, 4) != 0 {
            v |= 1 << 15; // SCTLR2En
        }
        if self.has_gcs() {
            v |= 1 << 22;
        }
        Some(v)
    }

    /// CPTR_EL2 (nVHE layout): RES1 bits, no FP/SIMD trap (TFP = 0), no SVE/SME traps
    /// when those exist (TZ = 0, TSM = 0), no trace or AMU traps.
    pub fn cptr(&self) -> u64 {
        let mut v: u64 = 0x22ff; // RES1: 13, 9, 7:0
        if !self.has_sve() {
            v |= 1 << 8; // TZ is RES1 without SVE
        }
        if !self.has_sme() {
            v |= 1 << 12; // TSM is RES1 without SME
        }
        v
    }

    /// MDCR_EL2: all PMU counters to EL1 (HPMN = PMCR_EL0.N), none of them counting at EL2
    /// (HPMD, and HCCD for the cycle counter), profiling and trace buffers owned by EL1 when
    /// present (E2PB, E2TB = 0b11); no debug or PMU traps.
    pub fn mdcr(&self) -> u64 {
        let mut v = 0;
        if self.has_pmuv3() {
            v |= self.pmu_counters & 0x1f;
        }
        if self.has_pmuv3p1() {
            v |= 1 << 17; // HPMD: the host's counters do not count at EL2
        }
        if self.has_pmuv3p5() {
            v |= 1 << 23; // HCCD: nor does its cycle counter
        }
        if self.has_spe() {
            v |= 0b11 << 12;
        }
        if self.has_trbe() {
            v |= 0b11 << 24;
        }
        v
    }

    /// CNTHCTL_EL2 (nVHE): EL1 may use the physical counter and timer.
    pub fn cnthctl(&self) -> u64 {
        0b11
    }

    /// HFGRTR_EL2 and HFGWTR_EL2 when FEAT_FGT: zero traps everything-off except the
    /// inverted-polarity "n" bits, which must be 1 not to trap the registers of features
    /// this CPU has.
    pub fn hfgxtr(&self) -> Option<u64> {
        if !self.has_fgt() {
            return None;
        }
        let mut v = 0u64;
        if self.has_sme() {
            v |= (1 << 54) | (1 << 55); // nSMPRI_EL1, nTPIDR2_EL0
        }
        if field(self.mmfr3, 8) != 0 {
            v |= (1 << 57) | (1 << 58); // S1PIE: nPIRE0_EL1, nPIR_EL1
        }
        if field(self.mmfr3, 16) != 0 {
            v |= (1 << 59) | (1 << 60); // S1POE: nPOR_EL0, nPOR_EL1
        }
        if self.has_gcs() {
            v |= (1 << 52) | (1 << 53); // nGCS_EL0, nGCS_EL1
        }
        if field(self.pfr1, 48) != 0 {
            v |= 1 << 56; // THE: nRCWMASK_EL1
        }
        if field(self.mmfr3, 24) != 0 {
            v |= (1 << 62) | (1 << 63); // AIE: nMAIR2_EL1, nAMAIR2_EL1
        }
        if self.has_ls64_accdata() {
            v |= 1 << 50; // nACCDATA_EL1
        }
        Some(v)
    }

    /// HFGITR_EL2 when FEAT_FGT: no instruction traps, with the "n" bits of BRBE and GCS
    /// instructions set when those exist.
    pub fn hfgitr(&self) -> Option<u64> {
        if !self.has_fgt() {
            return None;
        }
        let mut v = 0u64;
        if self.has_brbe() {
            v |= (1 << 55) | (1 << 56); // nBRBINJ, nBRBIALL
        }
        if self.has_gcs() {
            v |= (1 << 57) | (1 << 58) | (1 << 59); // nGCSPUSHM_EL1, nGCSSTR_EL1, nGCSEPP
        }
        Some(v)
    }

    /// HDFGRTR_EL2 and HDFGWTR_EL2 when FEAT_FGT: no debug/PMU traps, with the "n" bits of
    /// SPEv1p2 and BRBE registers set when those exist (nBRBIDR is read-only: 0 in the
    /// write register).
    pub fn hdfgxtr(&self) -> Option<(u64, u64)> {
        if !self.has_fgt() {
            return None;
        }
        let (mut read, mut write) = (0u64, 0u64);
        if self.has_spe_v1p2() {
            read |= 1 << 62; // nPMSNEVFR_EL1
            write |= 1 << 62;
        }
        if self.has_brbe() {
            read |= (1 << 61) | (1 << 60) | (1 << 59); // nBRBDATA, nBRBCTL, nBRBIDR
            write |= (1 << 61) | (1 << 60);
        }
        Some((read, write))
    }

    /// SMCR_EL2 when SME: the largest vector length, and FA64/EZT0 when implemented, so
    /// the host's SME use does not trap (booting.rst).
    pub fn smcr(&self) -> Option<u64> {
        if !self.has_sme() {
            return None;
        }
        let mut v = 0xf;
        if self.smfr0 >> 63 != 0 {
            v |= 1 << 31; // FA64
        }
        if field(self.pfr1, 24) >= 2 {
            v |= 1 << 30; // EZT0 (SME2)
        }
        Some(v)
    }
}

impl CpuFeatures {
    /// The features that shape PSTATE on an exception entry to EL1, for abort injection.
    pub fn entry_features(&self) -> crate::abort::EntryFeatures {
        crate::abort::EntryFeatures {
            pan: self.has_pan(),
            mte: self.has_mte(),
        }
    }

    /// Every EL2 register value that shapes the host's EL1 world on this CPU.
    pub fn host_el2(&self) -> HostEl2 {
        let fgt = self.hfgxtr();
        let dfgt = self.hdfgxtr();
        HostEl2 {
            cptr: self.cptr(),
            mdcr: self.mdcr(),
            cnthctl: self.cnthctl(),
            hcrx: self.hcrx(),
            hfgxtr: fgt,
            hfgitr: self.hfgitr(),
            hdfgxtr: dfgt,
            // No AMU traps (HAFGRTR_EL2 exists with FGT and AMU).
            hafgrtr: (dfgt.is_some() && self.has_amu()).then_some(0),
            // CPTR_EL2.TZ is clear with SVE: give the host every vector length.
            zcr: self.has_sve().then_some(0xf),
            smcr: self.smcr(),
            // The host's GCS starts disabled, as after a reset.
            gcscr: self.has_gcs().then_some(0),
            // No MPAM traps for the host (TRAPMPAM0EL1/TRAPMPAM1EL1/TIDR clear).
            mpam2: self.has_mpam().then_some(0),
            mpamhcr: self.has_mpam_hcr().then_some(0),
            // The host's profiling buffer never samples EL2.
            pmscr: self.has_spe().then_some(0),
            // No trace of EL2.
            trfcr: self.has_trf().then_some(0),
            // No branch records of EL2.
            brbcr: self.has_brbe().then_some(0),
            // SRE | Enable: EL1 uses the system-register interface and may not turn it off.
            icc_sre: self.has_gicv3_sysregs().then_some(0b1001),
            sctlr_el1: SCTLR_EL1_MMU_OFF,
            hcr: self.hcr(),
        }
    }
}

/// What the hypervisor found in a CPU, for the banner: its part (by MIDR), its physical
/// address size, and every optional feature that decides an EL2 register, `+` present or
/// `-` absent:
/// `Neoverse-N2 r0p3 (MIDR 0x410fd493), PA 48 bits: +VHE +HCRX +FGT -MPAM -SVE -SME +PMUv3p5 -BRBE +GICv3`.
pub struct CpuSummary<'a>(&'a CpuFeatures);

impl fmt::Display for CpuSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let midr = crate::errata::Midr(c.midr);
        match midr.name() {
            Some(name) => f.write_str(name)?,
            None => write!(
                f,
                "implementer {:#x} part {:#x}",
                midr.implementer(),
                midr.part()
            )?,
        }
        write!(
            f,
            " r{}p{} (MIDR {:#x}), PA {} bits:",
            midr.variant(),
            midr.revision(),
            c.midr,
            crate::mm::stage2::parange_bits(c.parange())
        )?;
        // Plain string writes: this runs once per boot, and formatting machinery costs image size.
        let sign = |on: bool| if on { " +" } else { " -" };
        for (name, on) in [
            ("VHE", c.has_vhe()),
            ("HCRX", c.has_hcx()),
            ("FGT", c.has_fgt()),
            ("MPAM", c.has_mpam()),
            ("SVE", c.has_sve()),
            ("SME", c.has_sme()),
        ] {
            f.write_str(sign(on))?;
            f.write_str(name)?;
        }
        // PMUVer: 1 PMUv3, 4 v3p1, 5 v3p4, 6 v3p5, 7 v3p7, 8 v3p8, 9 v3p9 (2, 3 reserved).
        f.write_str(match field(c.dfr0, 8) {
            0 | 0xf => " -PMU",
            1..=3 => " +PMUv3",
            4 => " +PMUv3p1",
            5 => " +PMUv3p4",
            6 => " +PMUv3p5",
            7 => " +PMUv3p7",
            8 => " +PMUv3p8",
            _ => " +PMUv3p9",
        })?;
        f.write_str(sign(c.has_brbe()))?;
        f.write_str("BRBE")?;
        f.write_str(sign(c.has_gicv3_sysregs()))?;
        f.write_str("GICv3")
    }
}

/// The EL2 registers the firmware writes before a CPU first enters the host (`None`: the
/// register does not exist on this CPU and is not written). VPIDR/VMPIDR (the CPU's own
/// MIDR/MPIDR), CNTVOFF_EL2 and HSTR_EL2 (zero) and the stage-2 registers are not in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostEl2 {
    /// CPTR_EL2.
    pub cptr: u64,
    /// MDCR_EL2.
    pub mdcr: u64,
    /// CNTHCTL_EL2.
    pub cnthctl: u64,
    /// HCRX_EL2.
    pub hcrx: Option<u64>,
    /// HFGRTR_EL2 and HFGWTR_EL2.
    pub hfgxtr: Option<u64>,
    /// HFGITR_EL2.
    pub hfgitr: Option<u64>,
    /// HDFGRTR_EL2 and HDFGWTR_EL2.
    pub hdfgxtr: Option<(u64, u64)>,
    /// HAFGRTR_EL2.
    pub hafgrtr: Option<u64>,
    /// ZCR_EL2.
    pub zcr: Option<u64>,
    /// SMCR_EL2.
    pub smcr: Option<u64>,
    /// GCSCR_EL1 and GCSCRE0_EL1.
    pub gcscr: Option<u64>,
    /// MPAM2_EL2.
    pub mpam2: Option<u64>,
    /// MPAMHCR_EL2.
    pub mpamhcr: Option<u64>,
    /// PMSCR_EL2.
    pub pmscr: Option<u64>,
    /// TRFCR_EL2.
    pub trfcr: Option<u64>,
    /// BRBCR_EL2.
    pub brbcr: Option<u64>,
    /// ICC_SRE_EL2 (ICH_HCR_EL2 is then zeroed).
    pub icc_sre: Option<u64>,
    /// SCTLR_EL1 at the host's entry.
    pub sctlr_el1: u64,
    /// HCR_EL2, written last (it turns stage 2 on).
    pub hcr: u64,
}

/// SCTLR_EL1 for entering the host: MMU and caches off, RES1 bits, as booting.rst wants.
pub const SCTLR_EL1_MMU_OFF: u64 = 0x30d0_0800;

/// SPSR for the host's first instruction: EL1h with D, A, I and F masked.
pub const SPSR_EL1H_MASKED: u64 = 0x3c5;

#[cfg(test)]
mod tests {
    use super::*;

    /// A CPU shaped like QEMU's `-cpu max,sve=off,sme=off`: PMUv3 with 6 counters, GICv3
    /// system registers, MTE, HCX, FGT, S1PIE/S1POE; no SVE, no SME.
    fn qemu_max() -> CpuFeatures {
        CpuFeatures {
            pfr0: 0x1201_1111_1111_1111 & !(0xf << 32) & !(0xf << 40),
            pfr1: 0x0000_0000_0000_0321,
            dfr0: 0x0000_0001_f210_5609,
            mmfr0: 0x1000_0000_0000_0005 | (0x1 << 56),
            mmfr1: 0x0000_1000_1121_2122 | (1 << 40),
            mmfr3: 0x0000_0000_0001_1111,
            isar1: 0,
            smfr0: 0,
            pmu_counters: 6,
            mpamidr: 0,
            mmfr4: 0,
            midr: 0,
        }
    }

    #[test]
    fn host_hcr_traps_smc_and_nothing_interrupt_related() {
        let f = qemu_max();
        let h = f.hcr();
        assert_eq!(h & hcr::TSC, hcr::TSC);
        assert_eq!(h & hcr::VM, hcr::VM);
        assert_eq!(h & hcr::RW, hcr::RW);
        assert_eq!(h & (0b111 << 3), 0, "IMO/FMO/AMO must be clear");
        assert_eq!(h & (0b11 << 13), 0, "TWI/TWE must be clear");
        assert_eq!(h & (0b1111 << 15), 0, "TID0..TID3 must be clear");
        assert_eq!(h & hcr::ATA, hcr::ATA, "MTE2 present");
        assert_eq!(CpuFeatures::default().hcr() & hcr::ATA, 0);
    }

    #[test]
    fn cptr_never_traps_fp_and_untraps_sve_only_when_present() {
        let f = qemu_max();
        assert_eq!(f.cptr() & (1 << 10), 0, "TFP clear");
        assert_eq!(f.cptr(), 0x33ff, "no SVE/SME: TZ and TSM are RES1");
        let sve = CpuFeatures {
            pfr0: 1 << 32,
            ..CpuFeatures::default()
        };
        assert_eq!(sve.cptr() & (1 << 8), 0, "TZ clear with SVE");
    }

    #[test]
    fn mdcr_gives_all_counters_to_el1() {
        assert_eq!(qemu_max().mdcr() & 0x1f, 6);
        assert_eq!(CpuFeatures::default().mdcr(), 0);
    }

    /// The host's cycle counter must not count at EL2 (MDCR_EL2.HCCD, FEAT_PMUv3p5), and
    /// branch records must not be made at EL2 (BRBCR_EL2 zero, FEAT_BRBE): otherwise the host
    /// sees how long, and where, EL2 ran.
    #[test]
    fn el2_is_invisible_to_the_cycle_counter_and_branch_records() {
        const HCCD: u64 = 1 << 23;
        let pmu = |ver: u64| CpuFeatures {
            dfr0: ver << 8,
            pmu_counters: 4,
            ..CpuFeatures::default()
        };
        assert_eq!(qemu_max().mdcr() & HCCD, HCCD, "QEMU max has PMUv3p5");
        assert_eq!(pmu(6).mdcr() & HCCD, HCCD, "PMUv3p5");
        assert_eq!(pmu(8).mdcr() & HCCD, HCCD, "PMUv3p8");
        assert_eq!(pmu(5).mdcr() & HCCD, 0, "PMUv3p4: HCCD is RES0");
        assert_eq!(pmu(1).mdcr() & HCCD, 0, "PMUv3");
        assert_eq!(pmu(0xf).mdcr() & HCCD, 0, "IMPLEMENTATION DEFINED PMU");
        assert_eq!(CpuFeatures::default().mdcr() & HCCD, 0, "no PMU");

        let brbe = CpuFeatures {
            dfr0: 1 << 52,
            ..CpuFeatures::default()
        };
        assert_eq!(
            brbe.host_el2().brbcr,
            Some(0),
            "BRBE: nothing recorded at EL2"
        );
        assert_eq!(qemu_max().host_el2().brbcr, None, "no BRBE: not written");
        assert_eq!(CpuFeatures::default().host_el2().brbcr, None);
    }

    #[test]
    fn fine_grained_n_bits_follow_features() {
        let v = qemu_max().hfgxtr().unwrap();
        assert_eq!(v & (0b11 << 57), 0b11 << 57, "S1PIE registers untrapped");
        assert_eq!(v & (0b11 << 54), 0, "no SME, no SME bits");
        assert_eq!(CpuFeatures::default().hfgxtr(), None);
        assert!(qemu_max().hcrx().unwrap() & (1 << 14) != 0, "TCR2En");
    }

    #[test]
    fn gcs_and_brbe_instructions_are_not_trapped_when_present() {
        let f = CpuFeatures {
            mmfr0: 1 << 56,
            pfr1: 1 << 44,
            dfr0: 1 << 52,
            ..CpuFeatures::default()
        };
        assert_eq!(f.hfgitr(), Some(0b1_1111 << 55));
        let (read, write) = f.hdfgxtr().unwrap();
        assert_eq!(read, 0b111 << 59);
        assert_eq!(write, 0b11 << 60);
        assert_eq!(
            qemu_max().hfgitr(),
            Some(0),
            "no BRBE, no GCS: nothing to untrap"
        );
    }

    #[test]
    fn mpam_and_sme_are_detected() {
        assert!(
            CpuFeatures {
                pfr0: 1 << 40,
                ..CpuFeatures::default()
            }
            .has_mpam()
        );
        assert!(
            CpuFeatures {
                pfr1: 1 << 16,
                ..CpuFeatures::default()
            }
            .has_mpam()
        );
        assert!(!qemu_max().has_mpam());
        let sme2 = CpuFeatures {
            pfr1: 2 << 24,
            smfr0: 1 << 63,
            ..CpuFeatures::default()
        };
        assert_eq!(sme2.smcr(), Some(0xf | 1 << 31 | 1 << 30));
        assert_eq!(qemu_max().smcr(), None);
    }

    #[test]
    fn host_el2_writes_only_the_registers_this_cpu_has() {
        let f = qemu_max();
        let plan = f.host_el2();
        assert_eq!(plan.hcr, f.hcr());
        assert_eq!(plan.cptr, f.cptr());
        assert_eq!(plan.mdcr, f.mdcr());
        assert_eq!(plan.hcrx, f.hcrx());
        assert!(plan.hfgxtr.is_some() && plan.hfgitr.is_some() && plan.hdfgxtr.is_some());
        assert_eq!(plan.icc_sre, Some(0b1001));
        assert_eq!(plan.sctlr_el1, SCTLR_EL1_MMU_OFF);
        // No SVE, SME, MPAM in this CPU: those registers are left alone.
        assert_eq!(
            (plan.zcr, plan.smcr, plan.mpam2, plan.mpamhcr),
            (None, None, None, None)
        );

        let bare = CpuFeatures::default().host_el2();
        assert_eq!(
            (
                bare.hcrx,
                bare.hfgxtr,
                bare.hdfgxtr,
                bare.hafgrtr,
                bare.icc_sre,
                bare.gcscr
            ),
            (None, None, None, None, None, None)
        );
        assert_eq!((bare.pmscr, bare.trfcr), (None, None));

        let mpam = CpuFeatures {
            pfr0: 1 << 40,
            mpamidr: 1 << 17,
            ..CpuFeatures::default()
        };
        assert_eq!(
            (mpam.host_el2().mpam2, mpam.host_el2().mpamhcr),
            (Some(0), Some(0))
        );
        let mpam_no_hcr = CpuFeatures { mpamidr: 0, ..mpam };
        assert_eq!(mpam_no_hcr.host_el2().mpamhcr, None);
        let sve = CpuFeatures {
            pfr0: 1 << 32,
            ..CpuFeatures::default()
        };
        assert_eq!(sve.host_el2().zcr, Some(0xf));
    }

    /// Cortex-A57 as QEMU models it: Armv8.0, 44-bit PA, PMUv3, no VHE/HCX/FGT/SVE.
    fn cortex_a57() -> CpuFeatures {
        CpuFeatures {
            pfr0: 0x0000_0000_0100_2222,
            dfr0: 0x1010_5106,
            mmfr0: 0x0000_0000_0000_1124,
            midr: 0x411f_d070,
            pmu_counters: 6,
            ..CpuFeatures::default()
        }
    }

    /// Neoverse-N2 as QEMU models it with `sve=off`: Armv9.0, 48-bit PA, VHE, HCX? no
    /// (Armv8.7), FGT, PMUv3p5.
    fn neoverse_n2() -> CpuFeatures {
        CpuFeatures {
            pfr0: 0x1101_0011_1111_1122 & !(0xf << 32),
            pfr1: 0x0000_0000_0000_0221,
            dfr0: 0x0000_0000_1030_5611,
            mmfr0: 0x1100_0000_0021_1125 | (0x2 << 40),
            mmfr1: 0x0000_0000_1012_1122,
            midr: 0x410f_d493,
            pmu_counters: 6,
            ..CpuFeatures::default()
        }
    }

    #[test]
    fn the_banner_names_part_pa_and_every_deciding_feature() {
        assert_eq!(
            cortex_a57().summary().to_string(),
            "Cortex-A57 r1p0 (MIDR 0x411fd070), PA 44 bits: -VHE -HCRX -FGT -MPAM -SVE -SME +PMUv3 -BRBE +GICv3"
        );
        assert_eq!(
            neoverse_n2().summary().to_string(),
            "Neoverse-N2 r0p3 (MIDR 0x410fd493), PA 48 bits: +VHE -HCRX +FGT -MPAM -SVE -SME +PMUv3p5 -BRBE +GICv3"
        );
        let max = CpuFeatures {
            midr: 0x000f_0510,
            ..qemu_max()
        };
        assert_eq!(
            max.summary().to_string(),
            "implementer 0x0 part 0x51 r0p0 (MIDR 0xf0510), PA 48 bits: +VHE +HCRX +FGT -MPAM -SVE -SME +PMUv3p5 -BRBE +GICv3"
        );
        let pmu = |v: u64| {
            CpuFeatures {
                dfr0: v << 8,
                ..CpuFeatures::default()
            }
            .summary()
            .to_string()
        };
        for (v, name) in [
            (0, " -PMU "),
            (0xf, " -PMU "),
            (4, " +PMUv3p1 "),
            (5, " +PMUv3p4 "),
            (7, " +PMUv3p7 "),
            (8, " +PMUv3p8 "),
        ] {
            assert!(pmu(v).contains(name), "{v}: {}", pmu(v));
        }
    }

    #[test]
    fn the_cpus_of_the_matrix_have_everything_the_hypervisor_needs() {
        for f in [cortex_a57(), neoverse_n2(), qemu_max()] {
            assert_eq!(f.missing(), None, "{}", f.summary());
        }
    }

    /// A CPU without what the hypervisor needs is refused with the feature named, in a fixed
    /// order (the boot prints the first and powers off).
    #[test]
    fn a_missing_required_feature_is_named() {
        let a57 = cortex_a57();
        let no_el1 = CpuFeatures {
            pfr0: a57.pfr0 & !(0xf << 4),
            ..a57
        };
        assert_eq!(no_el1.missing(), Some(MissingFeature::Aarch64El1));
        let reserved_pa = CpuFeatures {
            mmfr0: (a57.mmfr0 & !0xf) | 7,
            ..a57
        };
        assert_eq!(reserved_pa.missing(), Some(MissingFeature::PaRange(7)));
        // TGran4_2 = 1: no 4 KiB stage 2, whatever stage 1 has.
        let no_s2_4k = CpuFeatures {
            mmfr0: a57.mmfr0 | (1 << 40),
            ..a57
        };
        assert_eq!(no_s2_4k.missing(), Some(MissingFeature::Stage2Granule4K));
        // TGran4_2 = 0 defers to TGran4: 0xf (no 4 KiB at all) refuses, 1 (52-bit) accepts.
        let no_4k = CpuFeatures {
            mmfr0: a57.mmfr0 | (0xf << 28),
            ..a57
        };
        assert_eq!(no_4k.missing(), Some(MissingFeature::Stage2Granule4K));
        let lpa2 = CpuFeatures {
            mmfr0: a57.mmfr0 | (1 << 28),
            ..a57
        };
        assert_eq!(lpa2.missing(), None);
        for e2h0 in [0xe, 0xf] {
            let vhe_only = CpuFeatures {
                mmfr4: e2h0 << 24,
                ..neoverse_n2()
            };
            assert_eq!(vhe_only.missing(), Some(MissingFeature::NonVheEl2));
        }
        assert!(
            MissingFeature::NonVheEl2
                .to_string()
                .starts_with("FEAT_E2H0"),
            "the line names the feature"
        );
        assert!(
            MissingFeature::Stage2Granule4K
                .to_string()
                .contains("ID_AA64MMFR0_EL1.TGran4_2")
        );
    }

    #[test]
    fn entry_features_follow_pan_and_mte() {
        assert_eq!(
            qemu_max().entry_features(),
            crate::abort::EntryFeatures {
                pan: true,
                mte: true
            }
        );
        assert_eq!(
            CpuFeatures::default().entry_features(),
            crate::abort::EntryFeatures::default()
        );
    }
}
