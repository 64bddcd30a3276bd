//! The exhaustive register sweep: every function ID of the ABI table, at every FF-A version
//! it exists in, with every bit of x1..x17 flipped one at a time on a minimal valid call.
//!
//! The expectation of each case comes from an oracle written from DEN0077's register
//! layouts (the hand-written `SPECS` of `tests.rs`, plus the layouts below for the ABIs that
//! have none there), never from the production table's masks: a wrong mask in the table is a
//! failing case here. For each case:
//! - a bit the oracle says must be zero (SBZ/MBZ, an ID that names the caller, a refused
//!   flag), or a must-be-one bit cleared (a Secure endpoint ID), or a field outside its
//!   enabling flag: `FFA_ERROR(INVALID_PARAMETERS)` (FFA_VERSION: NOT_SUPPORTED in `w0`), the
//!   call counted rejected, and nothing sent to the scripted SPMC;
//! - a bit the oracle says is carried: the validator hands the call on intact
//!   (`validate::check` rebuilds exactly the host's registers), and a forwarded ABI reaches
//!   the SPMC exactly as the host wrote it (x8..x17 zeroed before v1.2, where they are not
//!   part of the call);
//! - a blocked ABI: `FFA_ERROR(NOT_SUPPORTED)`, nothing forwarded, whatever the registers;
//! - an ABI at a version it does not exist in: NOT_SUPPORTED, nothing forwarded.
//!
//! The case count is exact and asserted: 162 145 cases (about 79 000 on the validated ABIs, of
//! which about 44 600 rejected and 13 800 forwarded intact; the rest on the blocked ones),
//! under half a second in a debug build. A table mask changed by one bit (a Secure ID made a
//! plain value, a carried register cut to 16 bits) fails it.

use super::tests::{SPECS, Spec, create_bitmap, proxy_at, r};
use super::validate::check;
use super::{Outcome, Proxy};
use crate::smccc::SmcRegs;
use crate::testkit::{Spmc, no_memory};
use ffa_spec::{fid, status};

const W: u64 = 0xFFFF_FFFF;
const FFA_ERROR: u64 = fid::ERROR as u64;
const INVALID_PARAMETERS: u64 = status::INVALID_PARAMETERS as u32 as u64;
const NOT_SUPPORTED: u64 = status::NOT_SUPPORTED as u32 as u64;
const DENIED: u64 = status::DENIED as u32 as u64;

/// What the proxy does with a valid call of an ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// Forwarded from the host's registers (rebuilt from the layout).
    Forward,
    /// Answered at EL2 (with or without the proxy's own SMCs).
    Emulate,
    /// FFA_VERSION: checked against its v1.0 layout at every version, errors in `w0`.
    Version,
    /// FFA_ERROR(NOT_SUPPORTED) whatever the registers.
    Blocked,
}

/// One function ID as the oracle sees it.
#[derive(Clone, Copy)]
struct Abi {
    name: &'static str,
    id: u64,
    /// First and last minor version that define it.
    since: u16,
    until: u16,
    answer: Answer,
    /// The bits of x1..x17 that carry a value; every other bit must be zero.
    carried: [u64; 17],
    /// Bits of w1 that must be set (bit 15 of a Secure endpoint ID).
    ones: u64,
}

impl Abi {
    fn of(spec: &Spec) -> Abi {
        Abi {
            name: spec.name,
            id: spec.id,
            since: spec.since,
            until: 2,
            answer: if spec.forwarded {
                Answer::Forward
            } else {
                Answer::Emulate
            },
            carried: spec.carried,
            ones: spec.ones,
        }
    }

    const fn blocked(name: &'static str, id: u32, since: u16, until: u16) -> Abi {
        Abi {
            name,
            id: id as u64,
            since,
            until,
            answer: Answer::Blocked,
            carried: [0; 17],
            ones: 0,
        }
    }

    /// The carried bits of x`reg` at v1.`minor`.
    fn carried_at(&self, minor: u16, reg: usize) -> u64 {
        let c = self.carried[reg - 1];
        // FFA_PARTITION_INFO_GET's w5 flags (bit 0, count only) are v1.1.
        if self.id == u64::from(fid::PARTITION_INFO_GET) && reg == 5 && minor == 0 {
            return 0;
        }
        c
    }
}

const fn regs7(r: [u64; 7]) -> [u64; 17] {
    let mut out = [0; 17];
    let mut i = 0;
    while i < 7 {
        out[i] = r[i];
        i += 1;
    }
    out
}

/// The validated ABIs `tests.rs` has no layout for, from DEN0077.
fn extra_abis() -> [Abi; 4] {
    let lend = |name, id: u32| Abi {
        name,
        id: id.into(),
        since: 0,
        until: 2,
        answer: Answer::Emulate,
        // w1 total length, w2 fragment length (32-bit in both conventions); x3 buffer
        // address and w4 page count refused (the TX buffer only); x5-x7 SBZ.
        carried: regs7([W, W, 0, 0, 0, 0, 0]),
        ones: 0,
    };
    [
        lend("FFA_MEM_LEND_32", fid::MEM_LEND_32),
        lend("FFA_MEM_LEND_64", fid::MEM_LEND_64),
        Abi {
            name: "FFA_MEM_FRAG_TX",
            id: fid::MEM_FRAG_TX.into(),
            since: 0,
            until: 2,
            answer: Answer::Emulate,
            // w1/w2 handle, w3 fragment length; w4[31:16] the sender (hypervisor-filled,
            // the caller's own from an endpoint: 0), w4[15:0] SBZ; w5-w7 SBZ.
            carried: regs7([W, W, W, 0, 0, 0, 0]),
            ones: 0,
        },
        Abi {
            name: "FFA_VERSION",
            id: fid::VERSION.into(),
            since: 0,
            until: 2,
            answer: Answer::Version,
            // w1[30:16] major, [15:0] minor, bit 31 MBZ; w2-w7 SBZ.
            carried: regs7([0x7FFF_FFFF, 0, 0, 0, 0, 0, 0]),
            ones: 0,
        },
    ]
}

/// The ABIs the host may never call, with the versions that define them (DEN0077 v1.0-v1.2).
const BLOCKED: &[Abi] = &[
    Abi::blocked("FFA_ERROR", fid::ERROR, 0, 2),
    Abi::blocked("FFA_SUCCESS_32", fid::SUCCESS_32, 0, 2),
    Abi::blocked("FFA_SUCCESS_64", fid::SUCCESS_64, 0, 2),
    Abi::blocked("FFA_INTERRUPT", fid::INTERRUPT, 0, 2),
    Abi::blocked("FFA_MSG_POLL", fid::MSG_POLL, 0, 0),
    Abi::blocked("FFA_MSG_WAIT", fid::MSG_WAIT, 0, 2),
    Abi::blocked("FFA_YIELD", fid::YIELD, 0, 2),
    Abi::blocked("FFA_MSG_SEND", fid::MSG_SEND, 0, 0),
    Abi::blocked(
        "FFA_MSG_SEND_DIRECT_RESP_32",
        fid::MSG_SEND_DIRECT_RESP_32,
        0,
        2,
    ),
    Abi::blocked(
        "FFA_MSG_SEND_DIRECT_RESP_64",
        fid::MSG_SEND_DIRECT_RESP_64,
        0,
        2,
    ),
    Abi::blocked("FFA_MEM_DONATE_32", fid::MEM_DONATE_32, 0, 2),
    Abi::blocked("FFA_MEM_DONATE_64", fid::MEM_DONATE_64, 0, 2),
    Abi::blocked("FFA_MEM_RETRIEVE_REQ_32", fid::MEM_RETRIEVE_REQ_32, 0, 2),
    Abi::blocked("FFA_MEM_RETRIEVE_REQ_64", fid::MEM_RETRIEVE_REQ_64, 0, 2),
    Abi::blocked("FFA_MEM_RETRIEVE_RESP", fid::MEM_RETRIEVE_RESP, 0, 2),
    Abi::blocked("FFA_MEM_RELINQUISH", fid::MEM_RELINQUISH, 0, 2),
    Abi::blocked("FFA_MEM_OP_PAUSE", fid::MEM_OP_PAUSE, 0, 2),
    Abi::blocked("FFA_MEM_OP_RESUME", fid::MEM_OP_RESUME, 0, 2),
    Abi::blocked("FFA_MEM_FRAG_RX", fid::MEM_FRAG_RX, 0, 2),
    Abi::blocked("FFA_NORMAL_WORLD_RESUME", fid::NORMAL_WORLD_RESUME, 0, 2),
    Abi::blocked("FFA_RX_ACQUIRE", fid::RX_ACQUIRE, 1, 2),
    Abi::blocked("FFA_MSG_SEND2", fid::MSG_SEND2, 1, 2),
    Abi::blocked(
        "FFA_SECONDARY_EP_REGISTER_32",
        fid::SECONDARY_EP_REGISTER_32,
        1,
        2,
    ),
    Abi::blocked(
        "FFA_SECONDARY_EP_REGISTER_64",
        fid::SECONDARY_EP_REGISTER_64,
        1,
        2,
    ),
    Abi::blocked("FFA_MEM_PERM_GET_32", fid::MEM_PERM_GET_32, 1, 2),
    Abi::blocked("FFA_MEM_PERM_GET_64", fid::MEM_PERM_GET_64, 1, 2),
    Abi::blocked("FFA_MEM_PERM_SET_32", fid::MEM_PERM_SET_32, 1, 2),
    Abi::blocked("FFA_MEM_PERM_SET_64", fid::MEM_PERM_SET_64, 1, 2),
    Abi::blocked("FFA_CONSOLE_LOG_32", fid::CONSOLE_LOG_32, 2, 2),
    Abi::blocked("FFA_CONSOLE_LOG_64", fid::CONSOLE_LOG_64, 2, 2),
    Abi::blocked("FFA_EL3_INTR_HANDLE", fid::EL3_INTR_HANDLE, 2, 2),
    Abi::blocked(
        "FFA_MSG_SEND_DIRECT_RESP2",
        fid::MSG_SEND_DIRECT_RESP2,
        2,
        2,
    ),
];

fn all_abis() -> Vec<Abi> {
    let mut abis: Vec<Abi> = SPECS.iter().map(Abi::of).collect();
    abis.extend(extra_abis());
    abis.extend(BLOCKED.iter().copied());
    abis
}

/// The oracle: does `regs` pass every field check of `abi` at v1.`minor`?
fn valid(abi: &Abi, minor: u16, regs: &SmcRegs) -> bool {
    // x8..x17 are part of a call from v1.2 (SMCCC v1.2); FFA_VERSION is checked against its
    // v1.0 layout at every version.
    let last = if minor >= 2 && abi.answer != Answer::Version {
        17
    } else {
        7
    };
    let fields = (1..=last).all(|i| regs[i] & !abi.carried_at(minor, i) == 0);
    let ones = regs[1] & abi.ones == abi.ones;
    // FFA_NOTIFICATION_SET: the vCPU ID (w2[31:16]) only with the per-vCPU flag (w2[0]).
    let vcpu = abi.id != u64::from(fid::NOTIFICATION_SET)
        || regs[2] & 1 != 0
        || regs[2] & 0xFFFF_0000 == 0;
    fields && ones && vcpu
}

/// A proxy at v1.`minor` whose negotiation is final, and an SPMC that answers every
/// forwarded call FFA_ERROR(DENIED): an answer every forwarded ABI allows, which changes no
/// state of the proxy's (the notification bitmap, the learned FFA_FEATURES answers).
fn settled_proxy(minor: u16, abi: &Abi) -> (Proxy, Spmc) {
    let (proxy, mut spmc) = proxy_at(minor);
    let mut id_get = r(&[fid::ID_GET.into()]);
    assert_eq!(
        proxy.handle(&mut id_get, 0, no_memory(), &mut spmc),
        Outcome::Emulated
    );
    if abi.id == u64::from(fid::NOTIFICATION_BITMAP_DESTROY) && minor >= 1 {
        // DESTROY is forwarded only while the bitmap exists (D-NOTIF-BITMAP).
        create_bitmap(&proxy);
    }
    spmc.calls.clear();
    spmc.always = Some(r(&[FFA_ERROR, 0, DENIED]));
    (proxy, spmc)
}

/// The minimal valid calls of `abi`: the must-be-one bits set, every other bit clear; for
/// FFA_NOTIFICATION_SET also one with the per-vCPU flag, so that the vCPU ID is carried.
fn bases(abi: &Abi, minor: u16) -> Vec<SmcRegs> {
    let mut base = r(&[abi.id, abi.ones]);
    if minor < 2 {
        // Not part of the call before v1.2: ignored, never forwarded.
        for (i, x) in base[8..].iter_mut().enumerate() {
            *x = 0xDEAD_0000_0000_0000 | i as u64;
        }
    }
    let mut out = Vec::from([base]);
    if abi.id == u64::from(fid::NOTIFICATION_SET) {
        base[2] = 1;
        out.push(base);
    }
    out
}

/// One case: sends `regs`, checks the answer against the oracle. `what` names the case.
fn one_case(abi: &Abi, minor: u16, proxy: &Proxy, spmc: &mut Spmc, regs: SmcRegs, what: &str) {
    let ver = super::abi::Version::from_minor(minor).expect("a version");
    let ok = valid(abi, minor, &regs);
    let mut io = regs;
    if ok && abi.id == u64::from(fid::RUN) {
        // FFA_RUN is forwarded only to a target the SPMC reported preempted (D-RUN-STATE):
        // the valid call's target is recorded first, as an FFA_INTERRUPT reply would, so
        // that its carried bits are still seen forwarded; `every_unprimed_run_is_denied`
        // covers the other half.
        proxy.allow_run(regs[1]);
    }
    spmc.calls.clear();
    let outcome = proxy.handle(&mut io, 0, no_memory(), spmc);
    if abi.answer == Answer::Blocked {
        assert_eq!(outcome, Outcome::Unsupported, "{what}");
        assert_eq!(io[..3], r(&[FFA_ERROR, 0, NOT_SUPPORTED])[..3], "{what}");
        assert!(spmc.calls.is_empty(), "{what}: reached the SPMC");
        return;
    }
    if !ok {
        assert!(
            matches!(outcome, Outcome::Rejected(_)),
            "{what}: expected a rejection, got {outcome:?}"
        );
        if abi.answer == Answer::Version {
            assert_eq!(io[0], crate::smccc::NOT_SUPPORTED, "{what}: w0");
        } else {
            assert_eq!(
                io[..8],
                r(&[FFA_ERROR, 0, INVALID_PARAMETERS])[..8],
                "{what}: reply"
            );
            assert!(check(ver, &regs).is_some_and(|c| c.is_err()), "{what}");
        }
        assert!(spmc.calls.is_empty(), "{what}: reached the SPMC");
        return;
    }
    // Valid: the validator hands on exactly the host's registers.
    let mut expected = regs;
    if minor < 2 {
        expected[8..].fill(0);
    }
    if abi.answer != Answer::Version {
        assert_eq!(
            check(ver, &regs),
            Some(Ok(expected)),
            "{what}: rebuilt call"
        );
    }
    match abi.answer {
        Answer::Forward => {
            assert_eq!(outcome, Outcome::Forwarded, "{what}");
            assert_eq!(spmc.calls, [expected], "{what}: forwarded registers");
        }
        Answer::Version => {
            assert_eq!(outcome, Outcome::Emulated, "{what}");
            assert!(spmc.calls.is_empty(), "{what}: reached the SPMC");
        }
        // Answered at EL2 (without memory: NOT_SUPPORTED for the mailbox and memory ABIs;
        // FFA_FEATURES may ask the SPMC FFA_FEATURES of the carried ID, nothing else).
        _ => {
            assert!(
                !matches!(outcome, Outcome::Rejected(_)) || abi.id == u64::from(fid::FEATURES),
                "{what}: valid call rejected: {outcome:?}"
            );
            for c in &spmc.calls {
                assert_eq!(*c, r(&[fid::FEATURES.into(), regs[1]]), "{what}");
            }
        }
    }
}

#[test]
fn every_bit_of_every_register_of_every_abi_at_every_version() {
    let start = std::time::Instant::now();
    let abis = all_abis();
    let mut cases = 0usize;
    let mut forwarded_intact = 0usize;
    let mut rejected = 0usize;
    for abi in &abis {
        for minor in 0..=2u16 {
            let (proxy, mut spmc) = settled_proxy(minor, abi);
            if minor < abi.since || minor > abi.until {
                // Not defined at this version: NOT_SUPPORTED, nothing forwarded.
                let mut io = bases(abi, minor)[0];
                let outcome = proxy.handle(&mut io, 0, no_memory(), &mut spmc);
                assert_eq!(outcome, Outcome::Unsupported, "{} at v1.{minor}", abi.name);
                assert_eq!(io[..3], r(&[FFA_ERROR, 0, NOT_SUPPORTED])[..3]);
                assert!(spmc.calls.is_empty(), "{} at v1.{minor}", abi.name);
                cases += 1;
                continue;
            }
            for base in bases(abi, minor) {
                for reg in 1..=17 {
                    for bit in 0..64 {
                        let mut regs = base;
                        regs[reg] ^= 1 << bit;
                        let what = format!(
                            "{} at v1.{minor}: x{reg} bit {bit} flipped (x1..x3 = {:#x?})",
                            abi.name,
                            &regs[1..4]
                        );
                        one_case(abi, minor, &proxy, &mut spmc, regs, &what);
                        cases += 1;
                        if valid(abi, minor, &regs) {
                            forwarded_intact += usize::from(abi.answer == Answer::Forward);
                        } else if abi.answer != Answer::Blocked {
                            rejected += 1;
                        }
                    }
                }
            }
        }
    }
    println!(
        "register sweep: {cases} cases ({rejected} rejected, {forwarded_intact} forwarded intact) in {:?}",
        start.elapsed()
    );
    assert_eq!(cases, 162_145, "the sweep's case count");
}

/// FFA_RUN's valid calls without a recorded state, at every version: every bit of the
/// target (endpoint and vCPU) flipped on the minimal call, DENIED at EL2, nothing forwarded,
/// counted rejected (D-RUN-STATE).
#[test]
fn every_unprimed_run_is_denied() {
    let abi = Abi::of(
        SPECS
            .iter()
            .find(|s| s.id == u64::from(fid::RUN))
            .expect("spec"),
    );
    let mut denied = 0;
    for minor in 0..=2u16 {
        let (proxy, mut spmc) = settled_proxy(minor, &abi);
        for bit in 0..32 {
            let mut regs = r(&[abi.id, abi.ones]);
            regs[1] ^= 1 << bit;
            if !valid(&abi, minor, &regs) {
                continue;
            }
            let mut io = regs;
            let outcome = proxy.handle(&mut io, 0, no_memory(), &mut spmc);
            assert!(
                matches!(outcome, Outcome::Rejected(_)),
                "w1 {:#x} at v1.{minor}: {outcome:?}",
                regs[1]
            );
            assert_eq!(io[..8], r(&[FFA_ERROR, 0, DENIED])[..8]);
            assert!(spmc.calls.is_empty(), "w1 {:#x} reached the SPMC", regs[1]);
            denied += 1;
        }
    }
    assert_eq!(
        denied,
        3 * 31,
        "every target bit but the Secure bit, at three versions"
    );
}

/// The sweep covers every function ID of the table (the table is read for its IDs only).
#[test]
fn the_sweep_names_every_function_id_of_the_table() {
    use super::abi::{Conv, TABLE};
    let ours: Vec<u64> = all_abis().iter().map(|a| a.id).collect();
    for row in TABLE {
        for conv in [Conv::Smc32, Conv::Smc64] {
            if row.convs.has(conv) {
                let id = u64::from(row.function_id(conv));
                assert!(ours.contains(&id), "{} {id:#x} is not swept", row.name);
            }
        }
    }
    let mut sorted = ours.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ours.len(), "an ID swept twice");
}
