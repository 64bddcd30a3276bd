//! The host's EL2 configuration on each CPU: the raw ID registers read through [`arch`], the
//! values computed by `el2config`, written back through [`arch`] in the order the
//! architecture needs; and the boot CPU's check that it has what the hypervisor needs, its
//! banner line, and the errata (`errata`) its MIDR calls for.

use crate::firmware::console::info;

use crate::abort::EntryFeatures;
use crate::el2config::{CpuFeatures, MissingFeature};
use crate::errata;
use crate::firmware::arch;

/// The boot CPU, before anything else depends on it: one banner line with what it found
/// (`el2config::CpuSummary`), the first feature the hypervisor needs and it lacks as an
/// error, and the TLBI workaround turned on if its MIDR calls for it.
pub fn check_boot_cpu() -> Result<(), MissingFeature> {
    let f = cpu_features();
    info!("CPU: {}", f.summary());
    if let Some(missing) = f.missing() {
        return Err(missing);
    }
    note_errata(f.midr);
    Ok(())
}

/// Turns the repeated TLBI on (for every CPU's invalidations, once) when this CPU is on the
/// broken-TLBI-completion list, and says so once.
fn note_errata(midr: u64) {
    if let Some(e) = errata::repeat_tlbi(midr)
        && !arch::repeat_tlbi()
    {
        arch::enable_repeat_tlbi();
        info!(
            "errata: {} erratum {}: every stage-2 TLB invalidation repeats its TLBI and DSB",
            errata::Midr(midr).name().unwrap_or("this CPU"),
            e.erratum
        );
    }
}

/// The ID register values the host configuration depends on. Registers that only exist with
/// a feature (ID_AA64SMFR0_EL1 is RAZ without SME, PMCR_EL0 and MPAMIDR_EL1 are UNDEFINED
/// without a PMUv3 or MPAM) are read only when the feature is there.
pub fn cpu_features() -> CpuFeatures {
    let mut f = CpuFeatures {
        pfr0: arch::id_aa64pfr0(),
        pfr1: arch::id_aa64pfr1(),
        dfr0: arch::id_aa64dfr0(),
        mmfr0: arch::id_aa64mmfr0(),
        mmfr1: arch::id_aa64mmfr1(),
        mmfr3: arch::id_aa64mmfr3(),
        isar1: arch::id_aa64isar1(),
        smfr0: 0,
        pmu_counters: 0,
        mpamidr: 0,
        mmfr4: arch::id_aa64mmfr4(),
        midr: arch::midr_el1(),
    };
    if f.has_sme() {
        f.smfr0 = arch::id_aa64smfr0();
    }
    if f.has_pmuv3() {
        f.pmu_counters = (arch::pmcr_el0() >> 11) & 0x1f;
    }
    if f.has_mpam() {
        f.mpamidr = arch::mpamidr_el1();
    }
    f
}

/// The features that shape PSTATE on an exception entry to EL1 (two ID registers only: this
/// runs on every injected abort).
pub fn entry_features() -> EntryFeatures {
    CpuFeatures {
        pfr1: arch::id_aa64pfr1(),
        mmfr1: arch::id_aa64mmfr1(),
        ..CpuFeatures::default()
    }
    .entry_features()
}

/// Programs every EL2 register that shapes the host's EL1 world, and turns stage 2 on with
/// `vttbr`/`vtcr`. Called on each CPU before its first entry to the host.
pub fn configure_host_el2(vtcr: u64, vttbr: u64) {
    // A secondary CPU of another part (big.LITTLE) may need the workaround the boot CPU did
    // not: from its first entry on, every CPU's invalidations repeat.
    note_errata(arch::midr_el1());
    let v = cpu_features().host_el2();
    // SAFETY: these registers only govern lower ELs; the host is not running on this CPU
    // yet, and the values are el2config's, which follow Linux's own EL2 setup.
    unsafe {
        arch::set_cptr_el2(v.cptr);
        arch::set_mdcr_el2(v.mdcr);
        arch::set_cnthctl_el2(v.cnthctl);
        arch::set_cntvoff_el2(0);
        arch::set_hstr_el2(0);
        arch::set_vpidr_el2(arch::midr_el1());
        arch::set_vmpidr_el2(arch::mpidr_el1());
        if let Some(hcrx) = v.hcrx {
            arch::set_hcrx_el2(hcrx);
        }
        if let Some(fgt) = v.hfgxtr {
            arch::set_hfgrtr_el2(fgt);
            arch::set_hfgwtr_el2(fgt);
        }
        if let Some(itr) = v.hfgitr {
            arch::set_hfgitr_el2(itr);
        }
        if let Some((read, write)) = v.hdfgxtr {
            arch::set_hdfgrtr_el2(read);
            arch::set_hdfgwtr_el2(write);
        }
        if let Some(afg) = v.hafgrtr {
            arch::set_hafgrtr_el2(afg);
        }
        if let Some(zcr) = v.zcr {
            // ZCR_EL2 is reachable once the CPTR_EL2 write above has taken effect.
            arch::isb();
            arch::set_zcr_el2(zcr);
        }
        if let Some(smcr) = v.smcr {
            arch::isb();
            arch::set_smcr_el2(smcr);
        }
        if let Some(gcscr) = v.gcscr {
            arch::set_gcscr_el1(gcscr);
            arch::set_gcscre0_el1(gcscr);
        }
        if let Some(mpam2) = v.mpam2 {
            arch::set_mpam2_el2(mpam2);
        }
        if let Some(mpamhcr) = v.mpamhcr {
            arch::set_mpamhcr_el2(mpamhcr);
        }
        if let Some(pmscr) = v.pmscr {
            arch::set_pmscr_el2(pmscr);
        }
        if let Some(trfcr) = v.trfcr {
            arch::set_trfcr_el2(trfcr);
        }
        if let Some(brbcr) = v.brbcr {
            arch::set_brbcr_el2(brbcr);
        }
        if let Some(sre) = v.icc_sre {
            arch::set_icc_sre_el2(sre);
            arch::isb();
            arch::set_ich_hcr_el2(0);
        }
        arch::set_sctlr_el1(v.sctlr_el1);
        arch::set_vtcr_el2(vtcr);
        arch::set_vttbr_el2(vttbr);
        arch::isb();
        // Nothing cached for VMID 0 may survive from before stage 2 existed.
        arch::flush_stage1_and_2_tlb_local();
        arch::set_hcr_el2(v.hcr);
        arch::isb();
    }
}
