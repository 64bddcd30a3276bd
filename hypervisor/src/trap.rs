//! Trap dispatch: the host's saved register frame, the decoding of ESR_EL2, and the routing
//! of each trap to its service (PSCI relay, SMC forwarding, the HVC ABI, abort injection).
//!
//! The routing decisions are plain functions tested on the development host; the handlers
//! that touch registers are compiled for the firmware target only.

use crate::abort::ec;
use crate::psci;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use crate::smccc::High;
use crate::smccc::{CALL_HINT_SVE_NOT_LIVE, FAST_CALL, NOT_SUPPORTED, SmcRegs, owner, owners};

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
    /// HPFAR_EL2: the faulting IPA, bits [47:12] in [43:4] (stage-2 aborts only).
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
    /// x1..x3 = 0, EL1h with D, A, I, F masked, at `pc`.
    pub fn el1_entry(pc: u64, x0: u64) -> Self {
        let mut f = Self::ZERO;
        f.x[0] = x0;
        f.elr = pc;
        f.spsr = crate::el2config::SPSR_EL1H_MASKED;
        f
    }

    /// x0..x17 of the frame, in place: the SMC and HVC services read the call from them and
    /// leave the reply there (no copy in or out).
    #[inline(always)]
    pub fn smc_regs_mut(&mut self) -> &mut SmcRegs {
        let Some(regs) = self.x.first_chunk_mut::<18>() else {
            unreachable!("x has 31 registers")
        };
        regs
    }

    /// The exception class.
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
    /// x0..x17: the call on entry, the reply on return.
    pub regs: SmcRegs,
    /// x18 (caller-saved on this target: the handler may use it).
    x18: u64,
    /// x30.
    x30: u64,
}

const _: () = assert!(
    core::mem::size_of::<SmcFrame>() == 160,
    "must match SMC_FRAME_SIZE in vectors.S"
);

/// What to do with a trapped SMC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmcRoute {
    /// A PSCI call: relay it.
    Psci,
    /// An FF-A call (standard service, functions 0x60-0xff, whatever the other bits): the
    /// proxy decides, including SMCCC hygiene, so that every FF-A-numbered call is counted.
    Ffa,
    /// An allowed service: forward x0..x17 unchanged and return the firmware's x0..x17.
    Forward,
    /// Refused with SMCCC NOT_SUPPORTED, nothing forwarded.
    Refuse,
}

/// Routes an SMC by its x0 and immediate, by allowlist.
///
/// The firmware sees every forwarded call as coming from EL2, so anything that would make
/// EL3 act on the caller's behalf with an address the host chose is refused: SiP and OEM
/// services (TF-A's Arm SiP EXE_STATE_SWITCH restarts the *caller's* EL in AArch32 at a
/// given PC), standard services other than PSCI, TRNG and FF-A (SDEI registers handlers the
/// firmware would enter at EL2; DRTM, MM), and hypervisor-service owners, which are ours
/// over HVC. Forwarded: Arm architecture calls (SMCCC_VERSION, ARCH_FEATURES, SOC_ID,
/// workarounds), TRNG, trusted applications and trusted OS calls. Also refused: a non-zero
/// SMC immediate (SMCCC reserves it) and a function ID with bits [63:32] set (SMCCC: W0
/// only), as the newest pKVM does. The SMCCC v1.3 SVE hint (bit 16) is ignored for
/// matching.
///
/// PSCI is matched first, then every call whose low 32 bits are in the FF-A range goes to
/// the proxy, even with a non-zero immediate, x0[63:32] set or the yielding bit: the proxy
/// applies the same hygiene (SMCCC NOT_SUPPORTED, nothing forwarded) and records the
/// rejection in its audit counters.
#[inline(always)]
pub fn route_smc(x0: u64, imm: u16) -> SmcRoute {
    let function = (x0 as u32) & !CALL_HINT_SVE_NOT_LIVE;
    // FF-A first, the hot case: the FF-A and PSCI function numbers do not overlap.
    if crate::ffa::Proxy::is_ffa_call(function) {
        return SmcRoute::Ffa;
    }
    let clean = imm == 0 && x0 >> 32 == 0;
    if clean && psci::is_psci(function) {
        return SmcRoute::Psci;
    }
    if !clean {
        return SmcRoute::Refuse;
    }
    let fast = function & FAST_CALL != 0;
    let number = function & 0xffff;
    match owner(function) {
        owners::ARCH if fast => SmcRoute::Forward,
        owners::STANDARD if fast && (0x50..=0x53).contains(&number) => SmcRoute::Forward,
        48..=63 => SmcRoute::Forward,
        _ => SmcRoute::Refuse,
    }
}

/// The reply to a refused call, in place: NOT_SUPPORTED in x0, x1..x17 zero.
pub fn not_supported(regs: &mut SmcRegs) {
    regs[0] = NOT_SUPPORTED;
    // A mask rather than `fill(0)`: a few stores instead of a `memset` call.
    for x in &mut regs[1..] {
        *x &= 0;
    }
}

/// What the trap is, from ESR_EL2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// SMC (AArch64), with its immediate.
    Smc(u16),
    /// HVC (AArch64).
    Hvc,
    /// Stage-2 instruction or data abort from the host.
    Stage2Abort,
    /// Anything else: a bug or a host doing something impossible.
    Unexpected(u64),
}

/// Decodes ESR_EL2.
pub fn decode(esr: u64) -> Trap {
    match (esr >> 26) & 0x3f {
        ec::SMC64 => Trap::Smc(esr as u16),
        ec::HVC64 => Trap::Hvc,
        ec::IABT_LOW | ec::DABT_LOW => Trap::Stage2Abort,
        other => Trap::Unexpected(other),
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use firmware::{handle_host_smc, handle_host_sync, unexpected};

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod firmware {
    use super::*;
    use crate::arch;
    use crate::hyp;
    use core::sync::atomic::{AtomicU64, Ordering};

    static ABORTS: AtomicU64 = AtomicU64::new(0);
    static FFA_REJECTIONS: AtomicU64 = AtomicU64::new(0);
    static REFUSED_SMCS: AtomicU64 = AtomicU64::new(0);

    /// Rate limit of the console lines: the first 8, then every power of two.
    fn worth_a_line(n: u64) -> bool {
        n < 8 || n.is_power_of_two()
    }

    /// An FF-A call: the proxy answers in place; a rejection gets one rate-limited line. The
    /// proxy names the offending field only for the lines that will be printed.
    #[inline(always)]
    fn ffa_call(regs: &mut SmcRegs, imm: u16) {
        let hyp = hyp::get();
        let outcome = hyp.ffa.handle_explained(
            regs,
            imm,
            &hyp.mm,
            &mut crate::ffa_platform::FfaPlatform,
            || worth_a_line(FFA_REJECTIONS.load(Ordering::Relaxed)),
        );
        if let Some(rejection) = outcome.rejection() {
            let n = FFA_REJECTIONS.fetch_add(1, Ordering::Relaxed);
            if worth_a_line(n) {
                log_rejection(rejection, n);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn log_rejection(rejection: &crate::ffa::Rejection, n: u64) {
        log::warn!("{rejection} [#{}]", n + 1);
    }

    /// Debug level: Linux probes services it may not have (the vendor hypervisor UID over
    /// SMC, standard services the firmware lacks) as a matter of course.
    #[cold]
    #[inline(never)]
    fn refuse_smc(regs: &mut SmcRegs, imm: u16) {
        let x0 = regs[0];
        let n = REFUSED_SMCS.fetch_add(1, Ordering::Relaxed);
        if worth_a_line(n) {
            log::debug!(
                "host SMC {x0:#x} (immediate {imm:#x}) refused: not a service the host may call [#{}]",
                n + 1
            );
        }
        not_supported(regs);
    }

    /// A PSCI call: the audit goes to the console before the host powers off or resets.
    #[inline(never)]
    fn psci_call(regs: &mut SmcRegs) {
        let function = regs[0] as u32 & !CALL_HINT_SVE_NOT_LIVE;
        if matches!(function, psci::fid::SYSTEM_OFF | psci::fid::SYSTEM_RESET) {
            report_ffa_audit();
        }
        hyp::get().psci_call(regs)
    }

    /// The FF-A audit on the console, at the host's SYSTEM_OFF or SYSTEM_RESET: one line per
    /// function that was called, the totals, and the memory side.
    fn report_ffa_audit() {
        let ffa = &hyp::get().ffa;
        for (id, name, counts) in ffa.counters().iter() {
            if counts != crate::ffa::Counts::default() {
                log::info!("FF-A audit: {name} {id:#x}: {counts}");
            }
        }
        let unknown = ffa.counters().unknown();
        if unknown != crate::ffa::Counts::default() {
            log::info!("FF-A audit: unknown IDs: {unknown}");
        }
        log::info!("FF-A audit: total: {}", ffa.counters().total());
        let m = ffa.memory_status(&hyp::get().mm);
        match m.host_mailbox {
            Some((tx, rx, full)) => log::info!(
                "FF-A audit: host mailbox TX {tx:#x} RX {rx:#x} ({})",
                if full { "RX full" } else { "RX free" }
            ),
            None => log::info!("FF-A audit: host mailbox none"),
        }
        log::info!(
            "FF-A audit: live transactions {}, shared pages {}, lent pages {}, ownership runs {}/{}",
            m.transactions,
            m.shared_pages,
            m.lent_pages,
            m.runs.0,
            m.runs.1
        );
        crate::console::flush();
    }

    /// Entry from `vectors.S` for the host's SMCs, with ESR_EL2 (the vector has already
    /// advanced ELR_EL2 past the SMC).
    ///
    /// The hot path (every FF-A call): it works on the saved frame's x0..x17 in place and
    /// keeps everything else (PSCI, refusals, logging) out of line, so that a forwarded call
    /// costs only its checks and the SMC itself.
    #[inline(always)]
    pub fn handle_host_smc(frame: &mut SmcFrame, esr: u64) {
        let imm = esr as u16;
        let regs = &mut frame.regs;
        // The common FF-A calls first: the proxy's short path needs no other routing.
        if crate::ffa::Proxy::short_path_number(regs[0], imm).is_some() {
            return ffa_call(regs, imm);
        }
        match route_smc(regs[0], imm) {
            SmcRoute::Ffa => ffa_call(regs, imm),
            SmcRoute::Forward => {
                let low = arch::Smc.call_in_place(regs[0], regs, High::Full);
                regs[..8].copy_from_slice(&low);
            }
            SmcRoute::Psci => psci_call(regs),
            SmcRoute::Refuse => refuse_smc(regs, imm),
        }
    }

    /// Entry from `vectors.S` for every synchronous exception from the host but an SMC
    /// (those go to [`handle_host_smc`]), with the full register frame.
    #[inline(always)]
    pub fn handle_host_sync(frame: &mut HostFrame) {
        let trap = decode(frame.esr);
        handle_other(frame, trap)
    }

    /// Every trap other than an SMC.
    #[inline(never)]
    fn handle_other(frame: &mut HostFrame, trap: Trap) {
        match trap {
            Trap::Hvc => {
                let hyp = hyp::get();
                crate::hvc::handle(frame.smc_regs_mut(), hyp.carveout.start, hyp.ffa.counters());
            }
            Trap::Stage2Abort => inject_abort(frame),
            // The vectors send SMCs to `handle_host_smc`: one here is a bug, so it is
            // reported like any other trap nobody handles.
            Trap::Smc(_) => {
                log::error!(
                    "CPU {}: SMC on the full-frame path: ESR {:#x} ELR {:#x}; stopping this CPU",
                    arch::cpu_index(),
                    frame.esr,
                    frame.elr
                );
                arch::stop_this_cpu()
            }
            Trap::Unexpected(class) => {
                log::error!(
                    "CPU {}: unexpected trap from the host: EC {class:#x} ESR {:#x} ELR {:#x} FAR {:#x}; stopping this CPU",
                    arch::cpu_index(),
                    frame.esr,
                    frame.elr,
                    frame.far
                );
                arch::stop_this_cpu()
            }
        }
    }

    fn inject_abort(frame: &mut HostFrame) {
        // A page the host owns faulted only because a LEND or RECLAIM on another CPU was
        // breaking the block around it: the mapping is back now, retry the access.
        if hyp::get()
            .mm
            .host_may_access(crate::addr::Ipa(frame.fault_ipa()))
        {
            return;
        }
        let n = ABORTS.fetch_add(1, Ordering::Relaxed);
        // Rate limit: the first 8, then every power of two.
        if n < 8 || n.is_power_of_two() {
            log::warn!(
                "host {} abort at IPA {:#x} (VA {:#x}, PC {:#x}): not the host's memory (the hypervisor's, Secure, or lent), injecting an external abort [#{}]",
                if frame.exception_class() == ec::DABT_LOW {
                    "data"
                } else {
                    "instruction"
                },
                frame.fault_ipa(),
                frame.far,
                frame.elr,
                n + 1
            );
        }
        let inj = crate::abort::sea_injection(
            frame.esr,
            frame.far,
            frame.elr,
            frame.spsr,
            arch::vbar_el1(),
            arch::sctlr_el1(),
            arch::entry_features(),
        );
        arch::set_el1_exception_regs(inj.esr_el1, inj.far_el1, inj.elr_el1, inj.spsr_el1);
        frame.elr = inj.elr_el2;
        frame.spsr = inj.spsr_el2;
    }

    /// Entry from `vectors.S` for every exception the hypervisor does not expect.
    pub fn unexpected(kind: u64, frame: &HostFrame) -> ! {
        let origin = match kind / 4 {
            0 => "EL2 with SP_EL0",
            1 => "EL2 (hypervisor fault)",
            2 => "the host (AArch64)",
            _ => "the host (AArch32)",
        };
        let what = ["synchronous", "IRQ", "FIQ", "SError"][(kind % 4) as usize];
        log::error!(
            "CPU {}: unexpected {what} exception from {origin}: ESR {:#x} ELR {:#x} FAR {:#x} SPSR {:#x}; stopping this CPU",
            arch::cpu_index(),
            frame.esr,
            frame.elr,
            frame.far,
            frame.spsr
        );
        arch::stop_this_cpu()
    }
}

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
    fn smc_routing() {
        assert_eq!(route_smc(0x8400_0003, 0), SmcRoute::Psci);
        assert_eq!(
            route_smc(0xc400_0003 | 1 << 16, 0),
            SmcRoute::Psci,
            "SVE hint ignored"
        );
        assert_eq!(route_smc(0x8400_0063, 0), SmcRoute::Ffa);
        assert_eq!(route_smc(0xc400_006f, 0), SmcRoute::Ffa);
        assert_eq!(
            route_smc(0x8000_0000, 0),
            SmcRoute::Forward,
            "SMCCC_VERSION"
        );
        assert_eq!(
            route_smc(0x8000_8000, 0),
            SmcRoute::Forward,
            "ARCH_WORKAROUND_1"
        );
        assert_eq!(route_smc(0xc400_0053, 0), SmcRoute::Forward, "TRNG_RND64");
        assert_eq!(route_smc(0xbf00_0000, 0), SmcRoute::Forward, "trusted OS");
        assert_eq!(
            route_smc(0x8400_0000, 1),
            SmcRoute::Refuse,
            "non-zero immediate"
        );
        assert_eq!(
            route_smc(0x1_8400_0000, 0),
            SmcRoute::Refuse,
            "upper bits of x0"
        );
    }

    #[test]
    fn services_that_act_on_the_caller_are_refused() {
        // Arm SiP EXE_STATE_SWITCH would restart EL2 in AArch32 at a host-chosen PC.
        assert_eq!(route_smc(0x8200_0020, 0), SmcRoute::Refuse);
        assert_eq!(route_smc(0xc200_0020, 0), SmcRoute::Refuse);
        assert_eq!(route_smc(0x8300_0000, 0), SmcRoute::Refuse, "OEM");
        // SDEI_EVENT_REGISTER would have the firmware enter a host handler at EL2.
        assert_eq!(route_smc(0xc400_0021, 0), SmcRoute::Refuse);
        assert_eq!(
            route_smc(0x8500_0000, 0),
            SmcRoute::Refuse,
            "standard hypervisor"
        );
        assert_eq!(
            route_smc(0x8600_0000, 0),
            SmcRoute::Refuse,
            "vendor hypervisor"
        );
        // FF-A-numbered calls that fail SMCCC hygiene go to the proxy, which refuses them
        // (SMCCC NOT_SUPPORTED, nothing forwarded) and counts them.
        assert_eq!(route_smc(0x0400_0063, 0), SmcRoute::Ffa, "yielding FF-A");
        assert_eq!(
            route_smc(0x8400_0063, 1),
            SmcRoute::Ffa,
            "FF-A with an immediate"
        );
        assert_eq!(
            route_smc(0x1_8400_0063, 0),
            SmcRoute::Ffa,
            "FF-A with x0[63:32]"
        );
        assert_eq!(
            route_smc(0x8440_0063, 0),
            SmcRoute::Ffa,
            "FF-A with reserved bits"
        );
        assert_eq!(
            route_smc(0x8400_0002, 1),
            SmcRoute::Refuse,
            "PSCI with an immediate"
        );
        assert_eq!(route_smc(0x8100_0000, 0), SmcRoute::Refuse, "CPU service");
    }

    #[test]
    fn esr_decoding() {
        assert_eq!(decode(0x5e00_0000), Trap::Smc(0));
        assert_eq!(decode(0x5e00_0007), Trap::Smc(7));
        assert_eq!(decode(0x5a00_0000), Trap::Hvc);
        assert_eq!(decode(0x9200_0007), Trap::Stage2Abort);
        assert_eq!(decode(0x8200_0007), Trap::Stage2Abort);
        assert_eq!(decode(0x6000_0000), Trap::Unexpected(0x18));
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
}
