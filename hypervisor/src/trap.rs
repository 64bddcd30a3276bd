//! Trap dispatch: the decoding of ESR_EL2 and the routing of each trap to its service (PSCI
//! relay, SMC forwarding, the HVC ABI, abort injection). The register frames are in `frame.rs`.
//!
//! The routing decisions are plain functions tested on the development host; the handlers
//! that touch registers are in `firmware/trap_entry.rs`, compiled for the firmware target
//! only.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::abort::ec;
use crate::psci;
use crate::smccc::{
    CALL_HINT_SVE_NOT_LIVE, FAST_CALL, NOT_SUPPORTED, RESERVED_FUNCTION_ID_BITS, SmcRegs, owner,
    owners,
};

/// What to do with a trapped SMC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmcRoute {
    /// A PSCI call: relay it.
    Psci,
    /// An FF-A call (standard service, functions 0x60-0xff, whatever the other bits): the
    /// proxy decides, including SMCCC hygiene, so that every FF-A-numbered call is counted.
    Ffa,
    /// An Arm architecture call or TRNG: forward x0..x17 unchanged and return the firmware's
    /// x0..x17.
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
/// over HVC, and trusted application and trusted OS calls (owners 48-63, fast or yielding):
/// with a non-FF-A dispatcher in EL3 (OP-TEE's own SMC ABI through `opteed`, Trusty) they
/// reach the trusted OS unchecked, and the host could register carve-out pages with it; an
/// FF-A system reaches its SPMC through FF-A alone. Forwarded: Arm architecture calls
/// (SMCCC_VERSION, ARCH_FEATURES, SOC_ID, workarounds) and TRNG. Also refused: a non-zero
/// SMC immediate (SMCCC reserves it), a function ID with bits \[63:32\] set (SMCCC: W0
/// only), as the newest pKVM does, and one with any reserved bit \[23:17\] set (SMCCC: MBZ;
/// the firmware might mask them off and serve a call the allowlist never matched). The SMCCC
/// v1.3 SVE hint (bit 16) is ignored for matching.
///
/// PSCI is matched first, then every call whose low 32 bits are in the FF-A range goes to
/// the proxy, even with a non-zero immediate, x0\[63:32\] set or the yielding bit: the proxy
/// applies the same hygiene (SMCCC NOT_SUPPORTED, nothing forwarded) and records the
/// rejection in its audit counters.
#[inline(always)]
pub fn route_smc(x0: u64, imm: u16) -> SmcRoute {
    let function = (x0 as u32) & !CALL_HINT_SVE_NOT_LIVE;
    // FF-A first, the hot case: the FF-A and PSCI function numbers do not overlap.
    if crate::ffa::Proxy::is_ffa_call(function) {
        return SmcRoute::Ffa;
    }
    let clean = imm == 0 && x0 >> 32 == 0 && function & RESERVED_FUNCTION_ID_BITS == 0;
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

/// An exception nobody handles, as its one console line names it before the machine stops:
/// any vector but the host's SMCs, HVCs and stage-2 aborts, above all a fault in EL2 itself.
///
/// It stops the whole machine (PSCI SYSTEM_OFF), as a panic does, never just its CPU: a CPU
/// that faulted in EL2 may hold a lock (memory protection, the FF-A state) that every other
/// CPU would then wait for forever, and a host that lost a CPU without being told would hang
/// on it as well. The way down takes no lock but the console's, which is bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unexpected {
    /// The CPU that took it.
    pub cpu: usize,
    /// Its vector slot, 0..15 as `vectors.S` numbers them: (origin * 4 + kind), the origin
    /// being EL2 with SP_EL0, EL2 with SP_EL2, the host in AArch64, the host in AArch32, and
    /// the kind synchronous, IRQ, FIQ, SError.
    pub slot: u64,
    /// ESR_EL2, ELR_EL2, FAR_EL2 and SPSR_EL2 as saved on entry.
    pub esr: u64,
    /// See `esr`.
    pub elr: u64,
    /// See `esr`.
    pub far: u64,
    /// See `esr`.
    pub spsr: u64,
}

impl Unexpected {
    /// The slot of a synchronous exception from the host in AArch64: the one that carries
    /// SMCs, HVCs and stage-2 aborts, and any other exception class the host may cause.
    pub const HOST_SYNC: u64 = 8;
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match self.slot / 4 {
            0 => "EL2 with SP_EL0",
            1 => "EL2 (hypervisor fault)",
            2 => "the host (AArch64)",
            _ => "the host (AArch32)",
        };
        let what = ["synchronous", "IRQ", "FIQ", "SError"][(self.slot % 4) as usize];
        write!(
            f,
            "CPU {}: unexpected {what} exception from {origin}: ESR {:#x} ELR {:#x} FAR {:#x} SPSR {:#x}; powering off",
            self.cpu, self.esr, self.elr, self.far, self.spsr
        )
    }
}

/// Whether this is the first stop of the machine: only the first prints its line; a fault
/// on the way down (the stop path faulting again) goes straight to SYSTEM_OFF instead of
/// recursing.
pub fn first_to_stop(stopping: &AtomicBool) -> bool {
    !stopping.swap(true, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ffa_spec::fid;

    #[test]
    fn smc_routing() {
        assert_eq!(route_smc(0x8400_0003, 0), SmcRoute::Psci);
        assert_eq!(
            route_smc(0xc400_0003 | 1 << 16, 0),
            SmcRoute::Psci,
            "SVE hint ignored"
        );
        assert_eq!(route_smc(fid::VERSION.into(), 0), SmcRoute::Ffa);
        assert_eq!(
            route_smc(fid::MSG_SEND_DIRECT_REQ_64.into(), 0),
            SmcRoute::Ffa
        );
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
            route_smc(fid::VERSION.into(), 1),
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

    /// SMCCC reserves function-ID bits \[23:17\] (MBZ): a forwarded or relayed call with any of
    /// them set is refused, nothing forwarded, whatever the service would otherwise get. The
    /// FF-A proxy has its own hygiene for FF-A-numbered calls.
    #[test]
    fn reserved_function_id_bits_are_refused_outside_ff_a() {
        for bit in 17..=23 {
            let reserved = 1u64 << bit;
            for (x0, what) in [
                (0x8000_0000u64, "SMCCC_VERSION"),
                (0x8000_0001, "SMCCC_ARCH_FEATURES"),
                (0x8000_8000, "ARCH_WORKAROUND_1"),
                (0x8400_0050, "TRNG_VERSION"),
                (0xc400_0053, "TRNG_RND64"),
                (0x8400_0000, "PSCI_VERSION"),
                (0xc400_0003, "PSCI CPU_ON"),
            ] {
                assert_ne!(
                    route_smc(x0, 0),
                    SmcRoute::Refuse,
                    "{what} is served without reserved bits"
                );
                assert_eq!(
                    route_smc(x0 | reserved, 0),
                    SmcRoute::Refuse,
                    "{what} with bit {bit}"
                );
                assert_eq!(
                    route_smc(x0 | reserved | u64::from(CALL_HINT_SVE_NOT_LIVE), 0),
                    SmcRoute::Refuse,
                    "{what} with bit {bit} and the SVE hint"
                );
            }
            assert_eq!(
                route_smc(u64::from(fid::VERSION) | reserved, 0),
                SmcRoute::Ffa,
                "FF-A keeps its own hygiene (bit {bit})"
            );
        }
    }

    /// Trusted OS and trusted application calls (owners 48-63) reach a non-FF-A dispatcher
    /// unchecked: refused, fast or yielding, SMC32 or SMC64 (D-NO-TOS-SMC).
    #[test]
    fn trusted_os_calls_are_refused() {
        // OP-TEE's own SMC ABI: OPTEE_SMC_CALLS_UID, GET_OS_UUID, EXCHANGE_CAPABILITIES,
        // and the yielding CALL_WITH_ARG / RPC return.
        for x0 in [
            0xbf00_ff01u64,
            0xb200_0000,
            0xb200_0009,
            0xb200_000f,
            0x3200_0004,
            0x3200_0003,
        ] {
            assert_eq!(route_smc(x0, 0), SmcRoute::Refuse, "{x0:#x}");
        }
        for owner in 48u64..=63 {
            for conv in [0x8000_0000u64, 0xc000_0000, 0x0000_0000, 0x4000_0000] {
                let x0 = conv | owner << 24 | 0x1234;
                assert_eq!(route_smc(x0, 0), SmcRoute::Refuse, "{x0:#x}");
            }
        }
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
    fn an_el2_fault_is_named_on_one_line() {
        let fault = Unexpected {
            cpu: 3,
            slot: 4,
            esr: 0x9600_0045,
            elr: 0x4020_1234,
            far: 0xdead_0000,
            spsr: 0x3c9,
        };
        assert_eq!(
            std::format!("{fault}"),
            "CPU 3: unexpected synchronous exception from EL2 (hypervisor fault): \
             ESR 0x96000045 ELR 0x40201234 FAR 0xdead0000 SPSR 0x3c9; powering off"
        );
        let host = Unexpected {
            slot: Unexpected::HOST_SYNC,
            ..fault
        };
        assert!(std::format!("{host}").contains("synchronous exception from the host (AArch64)"));
        let names = [
            (0, "synchronous exception from EL2 with SP_EL0"),
            (7, "SError exception from EL2 (hypervisor fault)"),
            (9, "IRQ exception from the host (AArch64)"),
            (14, "FIQ exception from the host (AArch32)"),
        ];
        for (slot, name) in names {
            let line = std::format!("{}", Unexpected { slot, ..fault });
            assert!(line.contains(name), "{line}");
            assert!(!line.contains('\n'), "one line");
        }
    }

    /// The firmware entries (compiled for the firmware target only, so checked here by their
    /// source) stop the machine on an exception nobody handles, never only the CPU that took
    /// it: that CPU may hold a lock the others wait for.
    #[test]
    fn no_unhandled_exception_stops_only_its_cpu() {
        let entries = include_str!("firmware/trap_entry.rs");
        assert!(!entries.contains("stop_this_cpu"));
        assert!(entries.contains("power::system_off()"));
    }

    #[test]
    fn only_the_first_stop_prints() {
        let stopping = AtomicBool::new(false);
        assert!(first_to_stop(&stopping));
        assert!(!first_to_stop(&stopping), "a fault on the way down");
        assert!(!first_to_stop(&stopping));
    }
}
