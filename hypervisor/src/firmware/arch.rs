//! The thin hardware layer: system registers, the SMC conduit, TLB and cache maintenance.
//! Everything here is one instruction or a short fixed sequence that returns or writes raw
//! values and decides nothing: the values come from the portable modules, through the rest
//! of the firmware glue. It imports no policy module (only the SMCCC register vocabulary).

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::smccc::{High, SmcConduit, SmcRegs};

macro_rules! sysreg_read {
    ($(#[$m:meta])* $name:ident, $reg:literal) => {
        $(#[$m])*
        #[inline(always)]
        pub fn $name() -> u64 {
            let v: u64;
            // SAFETY: reading this system register at EL2 has no side effects.
            unsafe { asm!(concat!("mrs {}, ", $reg), out(reg) v, options(nomem, nostack, preserves_flags)) };
            v
        }
    };
}

macro_rules! sysreg_write {
    ($(#[$m:meta])* $name:ident, $reg:literal) => {
        $(#[$m])*
        ///
        /// # Safety
        ///
        /// The caller must know what the new value does to the current or the host's
        /// execution state.
        #[inline(always)]
        pub unsafe fn $name(v: u64) {
            // SAFETY: the caller upholds this function's contract.
            unsafe { asm!(concat!("msr ", $reg, ", {}"), in(reg) v, options(nostack, preserves_flags)) };
        }
    };
}

sysreg_read!(/// ID_AA64PFR0_EL1.
    id_aa64pfr0, "id_aa64pfr0_el1");
sysreg_read!(/// ID_AA64PFR1_EL1.
    id_aa64pfr1, "id_aa64pfr1_el1");
sysreg_read!(/// ID_AA64DFR0_EL1.
    id_aa64dfr0, "id_aa64dfr0_el1");
sysreg_read!(/// ID_AA64MMFR0_EL1.
    id_aa64mmfr0, "id_aa64mmfr0_el1");
sysreg_read!(/// ID_AA64MMFR1_EL1.
    id_aa64mmfr1, "id_aa64mmfr1_el1");
sysreg_read!(/// ID_AA64MMFR3_EL1.
    id_aa64mmfr3, "S3_0_C0_C7_3");
sysreg_read!(/// ID_AA64MMFR4_EL1 (RAZ before Armv8.7: an unallocated ID register).
    id_aa64mmfr4, "S3_0_C0_C7_4");
sysreg_read!(/// ID_AA64ISAR1_EL1.
    id_aa64isar1, "id_aa64isar1_el1");
sysreg_read!(/// ID_AA64SMFR0_EL1.
    id_aa64smfr0, "S3_0_C0_C4_5");
sysreg_read!(/// MPAMIDR_EL1.
    mpamidr_el1, "S3_0_C10_C4_4");
sysreg_read!(/// PMCR_EL0.
    pmcr_el0, "pmcr_el0");
sysreg_read!(/// MIDR_EL1.
    midr_el1, "midr_el1");
sysreg_read!(/// MPIDR_EL1.
    mpidr_el1, "mpidr_el1");
sysreg_read!(/// VBAR_EL1 (the host's vectors).
    vbar_el1, "vbar_el1");
sysreg_read!(/// SCTLR_EL1 (the host's).
    sctlr_el1, "sctlr_el1");
sysreg_read!(/// TPIDR_EL2: this CPU's index.
    tpidr_el2, "tpidr_el2");
sysreg_read!(/// MAIR_EL2.
    mair_el2, "mair_el2");
sysreg_read!(/// TCR_EL2.
    tcr_el2, "tcr_el2");
sysreg_read!(/// SCTLR_EL2.
    sctlr_el2, "sctlr_el2");
sysreg_read!(/// CurrentEL.
    current_el, "CurrentEL");

sysreg_write!(/// HCR_EL2.
    set_hcr_el2, "hcr_el2");
sysreg_write!(/// HCRX_EL2.
    set_hcrx_el2, "S3_4_C1_C2_2");
sysreg_write!(/// CPTR_EL2.
    set_cptr_el2, "cptr_el2");
sysreg_write!(/// MDCR_EL2.
    set_mdcr_el2, "mdcr_el2");
sysreg_write!(/// CNTHCTL_EL2.
    set_cnthctl_el2, "cnthctl_el2");
sysreg_write!(/// CNTVOFF_EL2.
    set_cntvoff_el2, "cntvoff_el2");
sysreg_write!(/// HSTR_EL2.
    set_hstr_el2, "hstr_el2");
sysreg_write!(/// VPIDR_EL2.
    set_vpidr_el2, "vpidr_el2");
sysreg_write!(/// VMPIDR_EL2.
    set_vmpidr_el2, "vmpidr_el2");
sysreg_write!(/// VTCR_EL2.
    set_vtcr_el2, "vtcr_el2");
sysreg_write!(/// VTTBR_EL2.
    set_vttbr_el2, "vttbr_el2");
sysreg_write!(/// ICC_SRE_EL2.
    set_icc_sre_el2, "S3_4_C12_C9_5");
sysreg_write!(/// ICH_HCR_EL2.
    set_ich_hcr_el2, "S3_4_C12_C11_0");
sysreg_write!(/// HFGRTR_EL2.
    set_hfgrtr_el2, "S3_4_C1_C1_4");
sysreg_write!(/// HFGWTR_EL2.
    set_hfgwtr_el2, "S3_4_C1_C1_5");
sysreg_write!(/// HFGITR_EL2.
    set_hfgitr_el2, "S3_4_C1_C1_6");
sysreg_write!(/// HDFGRTR_EL2.
    set_hdfgrtr_el2, "S3_4_C3_C1_4");
sysreg_write!(/// HDFGWTR_EL2.
    set_hdfgwtr_el2, "S3_4_C3_C1_5");
sysreg_write!(/// HAFGRTR_EL2.
    set_hafgrtr_el2, "S3_4_C3_C1_6");
sysreg_write!(/// ZCR_EL2.
    set_zcr_el2, "S3_4_C1_C2_0");
sysreg_write!(/// SMCR_EL2.
    set_smcr_el2, "S3_4_C1_C2_6");
sysreg_write!(/// MPAM2_EL2.
    set_mpam2_el2, "S3_4_C10_C5_0");
sysreg_write!(/// MPAMHCR_EL2.
    set_mpamhcr_el2, "S3_4_C10_C4_0");
sysreg_write!(/// PMSCR_EL2.
    set_pmscr_el2, "S3_4_C9_C9_0");
sysreg_write!(/// TRFCR_EL2.
    set_trfcr_el2, "S3_4_C1_C2_1");
sysreg_write!(/// BRBCR_EL2 (op0 = 2: BRBE registers sit in the debug encoding space).
    set_brbcr_el2, "S2_4_C9_C0_0");
sysreg_write!(/// GCSCR_EL1.
    set_gcscr_el1, "S3_0_C2_C5_0");
sysreg_write!(/// GCSCRE0_EL1.
    set_gcscre0_el1, "S3_0_C2_C5_1");
sysreg_write!(/// SCTLR_EL1 (the host's).
    set_sctlr_el1, "sctlr_el1");
sysreg_write!(/// TPIDR_EL2.
    set_tpidr_el2, "tpidr_el2");
sysreg_write!(/// ESR_EL1.
    set_esr_el1, "esr_el1");
sysreg_write!(/// FAR_EL1.
    set_far_el1, "far_el1");
sysreg_write!(/// ELR_EL1.
    set_elr_el1, "elr_el1");
sysreg_write!(/// SPSR_EL1.
    set_spsr_el1, "spsr_el1");

/// An instruction synchronization barrier: earlier system-register writes take effect.
#[inline(always)]
pub fn isb() {
    // SAFETY: a barrier.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
}

/// Whether every stage-2 invalidation repeats its last TLBI and DSB: set when any CPU of the
/// system is on the broken-TLBI-completion list (`errata::repeat_tlbi`), decided by the glue.
static REPEAT_TLBI: AtomicBool = AtomicBool::new(false);

/// From now on, every stage-2 invalidation below ends with a second TLBI and DSB.
pub fn enable_repeat_tlbi() {
    REPEAT_TLBI.store(true, Ordering::Relaxed);
}

/// Whether [`enable_repeat_tlbi`] was called.
pub fn repeat_tlbi() -> bool {
    REPEAT_TLBI.load(Ordering::Relaxed)
}

/// Drops this CPU's stage-1 and stage-2 TLB entries for the current VMID (`tlbi vmalls12e1`)
/// and waits for it (twice on a CPU with the TLBI-completion erratum).
#[inline(always)]
pub fn flush_stage1_and_2_tlb_local() {
    // SAFETY: TLB maintenance only; it changes no memory and no translation.
    unsafe {
        asm!(
            "tlbi vmalls12e1",
            "dsb nsh",
            options(nostack, preserves_flags)
        )
    };
    if repeat_tlbi() {
        // SAFETY: as above.
        unsafe {
            asm!(
                "tlbi vmalls12e1",
                "dsb nsh",
                options(nostack, preserves_flags)
            )
        };
    }
    isb();
}

/// Drops every CPU's TLB entries for the host's translations under VMID 0, stage 1 and
/// stage 2 (the combined stage-1+2 entries that `tlbi ipas2e1is` leaves, and the stage-2
/// walks through a table that a fold frees), after a change to the live host stage 2:
/// `dsb ishst; tlbi vmalls12e1is; dsb ish; isb`. With the TLBI-completion erratum, one more
/// `tlbi vmalls12e1is; dsb ish` before the `isb`: it also covers the `tlbi ipas2e1is` that
/// the page-table crate issued before this flush, so every stage-2 change (LEND, a fold)
/// completes on every CPU before the caller goes on to tell the SPMC.
pub fn flush_host_tlb() {
    // SAFETY: TLB maintenance only; it changes no memory and no translation.
    unsafe {
        asm!(
            "dsb ishst",
            "tlbi vmalls12e1is",
            "dsb ish",
            options(nostack, preserves_flags)
        );
    }
    if repeat_tlbi() {
        // SAFETY: as above.
        unsafe {
            asm!(
                "tlbi vmalls12e1is",
                "dsb ish",
                options(nostack, preserves_flags)
            )
        };
    }
    isb();
}

/// Writes the EL1 exception registers for an injected exception.
pub fn set_el1_exception_regs(esr: u64, far: u64, elr: u64, spsr: u64) {
    // SAFETY: these are the host's own exception-syndrome registers, written exactly as
    // the architecture would on a real exception entry to EL1.
    unsafe {
        set_esr_el1(esr);
        set_far_el1(far);
        set_elr_el1(elr);
        set_spsr_el1(spsr);
    }
}

/// This CPU's index (set in TPIDR_EL2 by the boot code).
pub fn cpu_index() -> usize {
    tpidr_el2() as usize
}

/// Switches EL2 stage 1 to the table at `ttbr0`, which must identity-map everything the
/// hypervisor uses with the same attributes as before.
///
/// # Safety
///
/// `ttbr0` must be a valid EL2 translation table covering all code, data and stacks.
pub unsafe fn switch_el2_tables(ttbr0: u64) {
    // Break before make: the old and new tables map the same addresses with different
    // block sizes and attributes, so the MMU goes off (no memory accesses in between; code
    // keeps running from the same physical addresses), the TLB is emptied, the new root
    // goes in, and the MMU comes back on.
    // SAFETY: the caller guarantees the new table maps everything we use identically.
    unsafe {
        asm!(
            "dsb ish",
            "mrs {s}, sctlr_el2",
            "bic {o}, {s}, #1",
            "msr sctlr_el2, {o}",
            "isb",
            "tlbi alle2",
            "dsb nsh",
            "msr ttbr0_el2, {t}",
            "isb",
            "msr sctlr_el2, {s}",
            "isb",
            "ic iallu",
            "dsb nsh",
            "isb",
            t = in(reg) ttbr0,
            s = out(reg) _,
            o = out(reg) _,
            options(nostack, preserves_flags)
        );
    }
}

/// Cleans `[start, start + len)` to the point of coherency, so a CPU with its MMU and
/// caches off (a CPU coming up through the warm entry) reads what we wrote.
pub fn clean_dcache_range(start: u64, len: u64) {
    let line = 4u64 << ((ctr_el0() >> 16) & 0xf);
    let mut addr = start & !(line - 1);
    let end = start.saturating_add(len);
    while addr < end {
        // SAFETY: `dc cvac` only writes dirty lines back; it has no other effect.
        unsafe { asm!("dc cvac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    // SAFETY: a barrier.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Invalidates the instruction cache to the point of unification (after writing code,
/// e.g. the host kernel we copied).
pub fn sync_icache() {
    // SAFETY: cache maintenance with no effect on program state.
    unsafe {
        asm!(
            "dsb ish",
            "ic iallu",
            "dsb ish",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}

sysreg_read!(/// CTR_EL0.
    ctr_el0, "ctr_el0");

/// The SMC conduit to EL3: x0..x17 in, x0..x17 out (SMCCC v1.2).
pub struct Smc;

impl Smc {
    /// Issues the SMC.
    #[inline(always)]
    pub fn call(&self, regs: &SmcRegs) -> SmcRegs {
        // The registers go in and come out as asm operands, not through a copy of the block
        // (a copy in and out would be two `memcpy` calls on the FF-A memory path).
        let [
            x0,
            x1,
            x2,
            x3,
            x4,
            x5,
            x6,
            x7,
            x8,
            x9,
            x10,
            x11,
            x12,
            x13,
            x14,
            x15,
            x16,
            x17,
        ] = *regs;
        let (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9);
        let (r10, r11, r12, r13, r14, r15, r16, r17);
        // SAFETY: an SMC to the firmware; SMCCC v1.2 lets it use x0..x17 and preserves
        // everything else, which the operands describe.
        unsafe {
            asm!(
                "smc #0",
                inout("x0") x0 => r0, inout("x1") x1 => r1, inout("x2") x2 => r2,
                inout("x3") x3 => r3, inout("x4") x4 => r4, inout("x5") x5 => r5,
                inout("x6") x6 => r6, inout("x7") x7 => r7, inout("x8") x8 => r8,
                inout("x9") x9 => r9, inout("x10") x10 => r10, inout("x11") x11 => r11,
                inout("x12") x12 => r12, inout("x13") x13 => r13,
                inout("x14") x14 => r14, inout("x15") x15 => r15,
                inout("x16") x16 => r16, inout("x17") x17 => r17,
                options(nostack)
            );
        }
        [
            r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15, r16, r17,
        ]
    }
}

impl Smc {
    /// Issues the SMC on `regs` in place (see [`SmcConduit::smc_in_place`]). The registers
    /// go in and out as asm operands, not through a copy of the array: inlined into the
    /// trap path, the compiler feeds the SMC from the values it already loaded to validate
    /// them, and filters the reply before it ever reaches memory.
    #[inline(always)]
    pub fn call_in_place(&self, x0: u64, regs: &mut SmcRegs, high: High) -> [u64; 8] {
        let [
            _,
            x1,
            x2,
            x3,
            x4,
            x5,
            x6,
            x7,
            x8,
            x9,
            x10,
            x11,
            x12,
            x13,
            x14,
            x15,
            x16,
            x17,
        ] = *regs;
        let out: [u64; 8];
        // SAFETY: an SMC to the firmware; SMCCC v1.2 lets it use x0..x17 and preserves
        // everything else, which the operands describe.
        unsafe {
            let (r0, r1, r2, r3, r4, r5, r6, r7);
            match high {
                High::Full => {
                    let (r8, r9, r10, r11, r12, r13, r14, r15, r16, r17);
                    asm!(
                        "smc #0",
                        inout("x0") x0 => r0, inout("x1") x1 => r1, inout("x2") x2 => r2,
                        inout("x3") x3 => r3, inout("x4") x4 => r4, inout("x5") x5 => r5,
                        inout("x6") x6 => r6, inout("x7") x7 => r7, inout("x8") x8 => r8,
                        inout("x9") x9 => r9, inout("x10") x10 => r10, inout("x11") x11 => r11,
                        inout("x12") x12 => r12, inout("x13") x13 => r13,
                        inout("x14") x14 => r14, inout("x15") x15 => r15,
                        inout("x16") x16 => r16, inout("x17") x17 => r17,
                        options(nostack)
                    );
                    regs[8..].copy_from_slice(&[r8, r9, r10, r11, r12, r13, r14, r15, r16, r17]);
                }
                High::Keep => asm!(
                    "smc #0",
                    inout("x0") x0 => r0, inout("x1") x1 => r1, inout("x2") x2 => r2,
                    inout("x3") x3 => r3, inout("x4") x4 => r4, inout("x5") x5 => r5,
                    inout("x6") x6 => r6, inout("x7") x7 => r7, inout("x8") x8 => _,
                    inout("x9") x9 => _, inout("x10") x10 => _, inout("x11") x11 => _,
                    inout("x12") x12 => _, inout("x13") x13 => _, inout("x14") x14 => _,
                    inout("x15") x15 => _, inout("x16") x16 => _, inout("x17") x17 => _,
                    options(nostack)
                ),
            }
            out = [r0, r1, r2, r3, r4, r5, r6, r7];
        }
        out
    }
}

impl SmcConduit for Smc {
    fn smc(&mut self, regs: &SmcRegs) -> SmcRegs {
        self.call(regs)
    }

    #[inline(always)]
    fn smc_in_place(&mut self, x0: u64, regs: &mut SmcRegs, high: High) -> [u64; 8] {
        self.call_in_place(x0, regs, high)
    }
}

/// Waits for an event (WFE): a SEV from another CPU, or any of the architecture's other
/// wake-ups; callers re-check their condition.
pub fn wait_for_event() {
    // SAFETY: waiting for an event has no effect on program state.
    unsafe { asm!("wfe", options(nomem, nostack, preserves_flags)) };
}

/// Makes this CPU's stores visible to the others, then sends an event (SEV) that wakes
/// CPUs waiting in [`wait_for_event`].
pub fn send_event() {
    // SAFETY: a barrier and an event have no effect on program state.
    unsafe { asm!("dsb ish", "sev", options(nostack, preserves_flags)) };
}

/// Waits for events forever.
pub fn park() -> ! {
    loop {
        // SAFETY: waiting for an event has no effect on program state.
        unsafe { asm!("wfe", options(nomem, nostack, preserves_flags)) };
    }
}
