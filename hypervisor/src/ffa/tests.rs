//! Unit tests of the proxy against the test kit's scripted SPMC ([`Spmc::new`]: serves
//! every call, no memory).
//!
//! The expected register layouts here are written by hand from DEN0077 (v1.0-v1.2: each
//! ABI's register usage, its SBZ/MBZ fields and the IDs that name the caller) and from what
//! Linux's FF-A driver sends, not read from `abi/`: a test that asked the production table
//! what to expect would prove nothing. Only the `Proxy` API and the kit are shared with
//! production code.

use super::abi::{self, Conv, Version};
use super::validate::{Rule, Violation, rebuild};
use super::{Counts, Outcome, Proxy, Reason, State};
use crate::smccc::SmcRegs;
pub(super) use crate::testkit::r;
use crate::testkit::{Spmc, no_memory};
use ffa_spec::{fid, status};

// ---------------------------------------------------------------------------------------
// DEN0077 function IDs and status codes (from `ffa_spec`, as 64-bit register values)
// ---------------------------------------------------------------------------------------

const FFA_ERROR: u64 = fid::ERROR as u64;
const FFA_SUCCESS_32: u64 = fid::SUCCESS_32 as u64;
const FFA_SUCCESS_64: u64 = fid::SUCCESS_64 as u64;
const FFA_INTERRUPT: u64 = fid::INTERRUPT as u64;
const FFA_VERSION: u64 = fid::VERSION as u64;
const FFA_FEATURES: u64 = fid::FEATURES as u64;
const FFA_ID_GET: u64 = fid::ID_GET as u64;
const FFA_YIELD: u64 = fid::YIELD as u64;
const FFA_RUN: u64 = fid::RUN as u64;
const DIRECT_REQ_32: u64 = fid::MSG_SEND_DIRECT_REQ_32 as u64;
const DIRECT_REQ_64: u64 = fid::MSG_SEND_DIRECT_REQ_64 as u64;
const DIRECT_RESP_32: u64 = fid::MSG_SEND_DIRECT_RESP_32 as u64;
const DIRECT_RESP_64: u64 = fid::MSG_SEND_DIRECT_RESP_64 as u64;
const DIRECT_REQ2: u64 = fid::MSG_SEND_DIRECT_REQ2 as u64;
const DIRECT_RESP2: u64 = fid::MSG_SEND_DIRECT_RESP2 as u64;
const BITMAP_CREATE: u64 = fid::NOTIFICATION_BITMAP_CREATE as u64;
const BITMAP_DESTROY: u64 = fid::NOTIFICATION_BITMAP_DESTROY as u64;
const NOTIF_BIND: u64 = fid::NOTIFICATION_BIND as u64;
const NOTIF_UNBIND: u64 = fid::NOTIFICATION_UNBIND as u64;
const NOTIF_SET: u64 = fid::NOTIFICATION_SET as u64;
const NOTIF_GET: u64 = fid::NOTIFICATION_GET as u64;
const INFO_GET_32: u64 = fid::NOTIFICATION_INFO_GET_32 as u64;
const INFO_GET_64: u64 = fid::NOTIFICATION_INFO_GET_64 as u64;
const SPM_ID_GET: u64 = fid::SPM_ID_GET as u64;
const RX_RELEASE: u64 = fid::RX_RELEASE as u64;
const RXTX_MAP_32: u64 = fid::RXTX_MAP_32 as u64;
const RXTX_MAP_64: u64 = fid::RXTX_MAP_64 as u64;
const RXTX_UNMAP: u64 = fid::RXTX_UNMAP as u64;
const PART_INFO_GET: u64 = fid::PARTITION_INFO_GET as u64;
const MEM_LEND_32: u64 = fid::MEM_LEND_32 as u64;
const MEM_SHARE_32: u64 = fid::MEM_SHARE_32 as u64;
const MEM_SHARE_64: u64 = fid::MEM_SHARE_64 as u64;
const MEM_RECLAIM: u64 = fid::MEM_RECLAIM as u64;
const PART_INFO_GET_REGS: u64 = fid::PARTITION_INFO_GET_REGS as u64;

/// The mailbox and memory ABIs: emulated with a memory configuration, NOT_SUPPORTED
/// without one.
pub(super) const MEMORY_IDS: &[(u64, &str)] = &[
    (RX_RELEASE, "FFA_RX_RELEASE"),
    (RXTX_MAP_32, "FFA_RXTX_MAP_32"),
    (RXTX_MAP_64, "FFA_RXTX_MAP_64"),
    (RXTX_UNMAP, "FFA_RXTX_UNMAP"),
    (PART_INFO_GET, "FFA_PARTITION_INFO_GET"),
    (MEM_SHARE_32, "FFA_MEM_SHARE_32"),
    (MEM_SHARE_64, "FFA_MEM_SHARE_64"),
    (MEM_RECLAIM, "FFA_MEM_RECLAIM"),
];

/// SMCCC NOT_SUPPORTED as a 64-bit register.
const SMCCC_NOT_SUPPORTED: u64 = u64::MAX;
/// FFA_ERROR codes as w2 (32-bit, zero-extended).
const NOT_SUPPORTED_W: u64 = status::NOT_SUPPORTED as u32 as u64;
const INVALID_PARAMETERS_W: u64 = status::INVALID_PARAMETERS as u32 as u64;
const ABORTED_W: u64 = status::ABORTED as u32 as u64;
const DENIED_W: u64 = status::DENIED as u32 as u64;

const W: u64 = 0xFFFF_FFFF;
const X: u64 = u64::MAX;

/// IDs a proxy without memory answers NOT_SUPPORTED and never forwards (both conventions
/// where they exist): the ones the host must never send (responses, SP-only ABIs,
/// FFA_MEM_FRAG_RX), the memory ABIs the proxy does not implement (DONATE, RETRIEVE,
/// RELINQUISH, OP_PAUSE/RESUME, SEND2), and FFA_MEM_LEND and FFA_MEM_FRAG_TX, which are
/// emulated only with a memory configuration (`mailbox_tests.rs`).
pub(super) const BLOCKED_IDS: &[(u64, &str)] = &[
    (fid::ERROR as u64, "FFA_ERROR"),
    (fid::SUCCESS_32 as u64, "FFA_SUCCESS_32"),
    (fid::SUCCESS_64 as u64, "FFA_SUCCESS_64"),
    (fid::INTERRUPT as u64, "FFA_INTERRUPT"),
    (fid::MSG_WAIT as u64, "FFA_MSG_WAIT"),
    (fid::YIELD as u64, "FFA_YIELD"),
    (
        fid::MSG_SEND_DIRECT_RESP_32 as u64,
        "FFA_MSG_SEND_DIRECT_RESP_32",
    ),
    (
        fid::MSG_SEND_DIRECT_RESP_64 as u64,
        "FFA_MSG_SEND_DIRECT_RESP_64",
    ),
    (fid::MEM_DONATE_32 as u64, "FFA_MEM_DONATE_32"),
    (fid::MEM_DONATE_64 as u64, "FFA_MEM_DONATE_64"),
    (fid::MEM_LEND_32 as u64, "FFA_MEM_LEND_32"),
    (fid::MEM_LEND_64 as u64, "FFA_MEM_LEND_64"),
    (fid::MEM_RETRIEVE_REQ_32 as u64, "FFA_MEM_RETRIEVE_REQ_32"),
    (fid::MEM_RETRIEVE_REQ_64 as u64, "FFA_MEM_RETRIEVE_REQ_64"),
    (fid::MEM_RETRIEVE_RESP as u64, "FFA_MEM_RETRIEVE_RESP"),
    (fid::MEM_RELINQUISH as u64, "FFA_MEM_RELINQUISH"),
    (fid::MEM_OP_PAUSE as u64, "FFA_MEM_OP_PAUSE"),
    (fid::MEM_OP_RESUME as u64, "FFA_MEM_OP_RESUME"),
    (fid::MEM_FRAG_RX as u64, "FFA_MEM_FRAG_RX"),
    (fid::MEM_FRAG_TX as u64, "FFA_MEM_FRAG_TX"),
    (fid::NORMAL_WORLD_RESUME as u64, "FFA_NORMAL_WORLD_RESUME"),
    (fid::RX_ACQUIRE as u64, "FFA_RX_ACQUIRE"),
    (fid::MSG_SEND2 as u64, "FFA_MSG_SEND2"),
    (
        fid::SECONDARY_EP_REGISTER_32 as u64,
        "FFA_SECONDARY_EP_REGISTER_32",
    ),
    (
        fid::SECONDARY_EP_REGISTER_64 as u64,
        "FFA_SECONDARY_EP_REGISTER_64",
    ),
    (fid::MEM_PERM_GET_32 as u64, "FFA_MEM_PERM_GET_32"),
    (fid::MEM_PERM_GET_64 as u64, "FFA_MEM_PERM_GET_64"),
    (fid::MEM_PERM_SET_32 as u64, "FFA_MEM_PERM_SET_32"),
    (fid::MEM_PERM_SET_64 as u64, "FFA_MEM_PERM_SET_64"),
    (fid::CONSOLE_LOG_32 as u64, "FFA_CONSOLE_LOG_32"),
    (fid::CONSOLE_LOG_64 as u64, "FFA_CONSOLE_LOG_64"),
    (fid::EL3_INTR_HANDLE as u64, "FFA_EL3_INTR_HANDLE"),
    (
        fid::MSG_SEND_DIRECT_RESP2 as u64,
        "FFA_MSG_SEND_DIRECT_RESP2",
    ),
];

/// One ABI the proxy validates, as DEN0077 lays it out. `carried[i]` are the bits of
/// x(i+1) that the ABI defines as values; every other bit of x1..x7, and of x8..x17 at v1.2,
/// must be zero. `fields` names the ID and MBZ fields, for messages and for splitting the
/// sweep at field boundaries.
pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) id: u64,
    /// Minor version that introduced it.
    pub(super) since: u16,
    pub(super) carried: [u64; 17],
    pub(super) fields: &'static [(usize, u64, &'static str)],
    /// Bits of w1 that must be set: bit 15 of each endpoint ID that must name a Secure
    /// endpoint (the host is the only normal-world one).
    pub(super) ones: u64,
    /// Forwarded (true) or emulated (false).
    pub(super) forwarded: bool,
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

/// The forwarded (and the two emulated, argument-checked) ABIs, from DEN0077's register
/// tables.
pub(super) const SPECS: &[Spec] = &[
    Spec {
        name: "FFA_RUN",
        id: FFA_RUN,
        since: 0,
        // w1 [31:16] target endpoint, [15:0] target vCPU; w2-w7 SBZ.
        carried: regs7([W, 0, 0, 0, 0, 0, 0]),
        fields: &[(2, W, "w2 (SBZ)")],
        ones: 1 << 31,
        forwarded: true,
    },
    Spec {
        name: "FFA_MSG_SEND_DIRECT_REQ_32",
        id: DIRECT_REQ_32,
        since: 0,
        // w1 [31:16] sender (must be 0), [15:0] receiver; w2 flags MBZ; w3-w7 payload.
        carried: regs7([0xFFFF, 0, W, W, W, W, W]),
        fields: &[(1, 0xFFFF_0000, "sender"), (2, W, "flags")],
        ones: 1 << 15,
        forwarded: true,
    },
    Spec {
        name: "FFA_MSG_SEND_DIRECT_REQ_64",
        id: DIRECT_REQ_64,
        since: 0,
        carried: regs7([0xFFFF, 0, X, X, X, X, X]),
        fields: &[(1, 0xFFFF_0000, "sender"), (2, W, "flags")],
        ones: 1 << 15,
        forwarded: true,
    },
    Spec {
        name: "FFA_MSG_SEND_DIRECT_REQ2",
        id: DIRECT_REQ2,
        since: 2,
        // x1 sender/receiver, x2/x3 UUID, x4-x17 payload.
        carried: [0xFFFF, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X],
        fields: &[(1, 0xFFFF_0000, "sender")],
        ones: 1 << 15,
        forwarded: true,
    },
    Spec {
        name: "FFA_NOTIFICATION_BITMAP_CREATE",
        id: BITMAP_CREATE,
        since: 1,
        // w1[15:0] VM ID (must be 0), w1[31:16] MBZ, w2 vCPU count.
        carried: regs7([0, W, 0, 0, 0, 0, 0]),
        fields: &[(1, 0xFFFF, "VM ID"), (1, 0xFFFF_0000, "w1[31:16]")],
        ones: 0,
        forwarded: true,
    },
    Spec {
        name: "FFA_NOTIFICATION_BITMAP_DESTROY",
        id: BITMAP_DESTROY,
        since: 1,
        carried: regs7([0, 0, 0, 0, 0, 0, 0]),
        fields: &[(1, 0xFFFF, "VM ID"), (1, 0xFFFF_0000, "w1[31:16]")],
        ones: 0,
        forwarded: true,
    },
    Spec {
        name: "FFA_NOTIFICATION_BIND",
        id: NOTIF_BIND,
        since: 1,
        // w1 [31:16] sender, [15:0] receiver (0); w2 bit0 per-vCPU; w3/w4 bitmap.
        carried: regs7([0xFFFF_0000, 1, W, W, 0, 0, 0]),
        fields: &[(1, 0xFFFF, "receiver"), (2, 0xFFFF_FFFE, "flags[31:1]")],
        ones: 1 << 31,
        forwarded: true,
    },
    Spec {
        name: "FFA_NOTIFICATION_UNBIND",
        id: NOTIF_UNBIND,
        since: 1,
        carried: regs7([0xFFFF_0000, 0, W, W, 0, 0, 0]),
        fields: &[(1, 0xFFFF, "receiver"), (2, W, "flags")],
        ones: 1 << 31,
        forwarded: true,
    },
    Spec {
        name: "FFA_NOTIFICATION_SET",
        id: NOTIF_SET,
        since: 1,
        // w1 [31:16] sender (0), [15:0] receiver; w2 bit0 per-vCPU, bit1 delay SRI (refused),
        // [15:2] MBZ, [31:16] vCPU ID (only with per-vCPU); w3/w4 bitmap.
        carried: regs7([0xFFFF, 0xFFFF_0001, W, W, 0, 0, 0]),
        fields: &[
            (1, 0xFFFF_0000, "sender"),
            (2, 0b10, "delay SRI"),
            (2, 0xFFFC, "flags[15:2]"),
        ],
        ones: 1 << 15,
        forwarded: true,
    },
    Spec {
        name: "FFA_NOTIFICATION_GET",
        id: NOTIF_GET,
        since: 1,
        // w1 [31:16] vCPU, [15:0] receiver (0); w2 bit0 SP, bit1 VM (refused), bit2 SPM,
        // bit3 hypervisor (refused), [31:4] MBZ.
        carried: regs7([0xFFFF_0000, 0b0101, 0, 0, 0, 0, 0]),
        fields: &[
            (1, 0xFFFF, "receiver"),
            (2, 0b0010, "VM bitmap flag"),
            (2, 0b1000, "hypervisor bitmap flag"),
            (2, 0xFFFF_FFF0, "flags[31:4]"),
        ],
        ones: 0,
        forwarded: true,
    },
    Spec {
        name: "FFA_NOTIFICATION_INFO_GET_32",
        id: INFO_GET_32,
        since: 1,
        carried: regs7([0; 7]),
        fields: &[],
        ones: 0,
        forwarded: true,
    },
    Spec {
        name: "FFA_NOTIFICATION_INFO_GET_64",
        id: INFO_GET_64,
        since: 1,
        carried: regs7([0; 7]),
        fields: &[],
        ones: 0,
        forwarded: true,
    },
    Spec {
        name: "FFA_SPM_ID_GET",
        id: SPM_ID_GET,
        since: 1,
        carried: regs7([0; 7]),
        fields: &[],
        ones: 0,
        forwarded: true,
    },
    Spec {
        name: "FFA_PARTITION_INFO_GET_REGS",
        id: PART_INFO_GET_REGS,
        since: 2,
        // x1/x2 UUID halves, x3[15:0] start index, x3[31:16] tag; x3[63:32], x4-x17 SBZ.
        carried: regs7([X, X, W, 0, 0, 0, 0]),
        fields: &[],
        ones: 0,
        forwarded: true,
    },
    Spec {
        name: "FFA_RXTX_MAP_32",
        id: RXTX_MAP_32,
        since: 0,
        // w1 TX, w2 RX, w3[5:0] page count; w3[31:6], w4-w7 MBZ.
        carried: regs7([W, W, 0x3F, 0, 0, 0, 0]),
        fields: &[],
        ones: 0,
        forwarded: false,
    },
    Spec {
        name: "FFA_RXTX_MAP_64",
        id: RXTX_MAP_64,
        since: 0,
        carried: regs7([X, X, 0x3F, 0, 0, 0, 0]),
        fields: &[],
        ones: 0,
        forwarded: false,
    },
    Spec {
        name: "FFA_RXTX_UNMAP",
        id: RXTX_UNMAP,
        since: 0,
        // w1[31:16] ID (must be 0), [15:0] MBZ.
        carried: regs7([0; 7]),
        fields: &[(1, 0xFFFF_0000, "ID")],
        ones: 0,
        forwarded: false,
    },
    Spec {
        name: "FFA_RX_RELEASE",
        id: RX_RELEASE,
        since: 0,
        // w1[15:0] VM ID (must be 0 from the host), [31:16] MBZ.
        carried: regs7([0; 7]),
        fields: &[(1, 0xFFFF, "VM ID")],
        ones: 0,
        forwarded: false,
    },
    Spec {
        name: "FFA_PARTITION_INFO_GET",
        id: PART_INFO_GET,
        since: 0,
        // w1-w4 UUID, w5 bit 0 count-only (v1.1), w5[31:1] MBZ.
        carried: regs7([W, W, W, W, 1, 0, 0]),
        fields: &[],
        ones: 0,
        forwarded: false,
    },
    Spec {
        name: "FFA_MEM_SHARE_32",
        id: MEM_SHARE_32,
        since: 0,
        // w1 total length, w2 fragment length, x3/w4 MBZ (TX buffer only).
        carried: regs7([W, W, 0, 0, 0, 0, 0]),
        fields: &[(3, X, "buffer address"), (4, W, "page count")],
        ones: 0,
        forwarded: false,
    },
    Spec {
        name: "FFA_MEM_SHARE_64",
        id: MEM_SHARE_64,
        since: 0,
        carried: regs7([W, W, 0, 0, 0, 0, 0]),
        fields: &[(3, X, "buffer address"), (4, W, "page count")],
        ones: 0,
        forwarded: false,
    },
    Spec {
        name: "FFA_MEM_RECLAIM",
        id: MEM_RECLAIM,
        since: 0,
        // w1/w2 handle, w3[0] zero-memory flag; w3[1] time slicing refused (MEM_OP_PAUSE and
        // MEM_OP_RESUME are blocked, so a time-sliced reclaim could never be resumed);
        // w3[31:2] MBZ.
        carried: regs7([W, W, 0b01, 0, 0, 0, 0]),
        fields: &[(3, 0b10, "time slicing flag")],
        ones: 0,
        forwarded: false,
    },
    Spec {
        name: "FFA_ID_GET",
        id: FFA_ID_GET,
        since: 0,
        carried: regs7([0; 7]),
        fields: &[],
        ones: 0,
        forwarded: false,
    },
    Spec {
        name: "FFA_FEATURES",
        id: FFA_FEATURES,
        since: 0,
        // w1 function/feature ID; w2 input properties (MBZ: only MEM_RETRIEVE_REQ has any).
        carried: regs7([W, 0, 0, 0, 0, 0, 0]),
        fields: &[(2, W, "input properties")],
        ones: 0,
        forwarded: false,
    },
];

// ---------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------

/// A proxy probed against an SPMC at v1.2, with the host negotiated at 1.`minor`; the mock's
/// record is cleared.
/// Creates the host's notification bitmap through a scripted SPMC of its own, so that a
/// following BITMAP_DESTROY is forwarded (D-NOTIF-BITMAP).
pub(super) fn create_bitmap(proxy: &Proxy) {
    let mut regs = r(&[BITMAP_CREATE, 0, 4]);
    let outcome = proxy.handle(&mut regs, 0, no_memory(), &mut Spmc::new());
    assert_eq!((outcome, regs[0]), (Outcome::Forwarded, FFA_SUCCESS_32));
}

pub(super) fn proxy_at(minor: u16) -> (Proxy, Spmc) {
    let mut spmc = Spmc::new();
    let proxy = Proxy::probe(&mut spmc, 0x1_0002);
    assert!(matches!(proxy.state(), State::On { .. }), "probe failed");
    let mut regs = r(&[FFA_VERSION, 0x1_0000 | u64::from(minor)]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Emulated
    );
    assert_eq!(
        regs[0],
        0x1_0000 | u64::from(minor),
        "negotiating v1.{minor}"
    );
    spmc.calls.clear();
    (proxy, spmc)
}

fn counts(proxy: &Proxy, id: u64) -> Counts {
    proxy.counters().get(id as u32).expect("known ID")
}

fn error_reply(code: u64) -> SmcRegs {
    r(&[FFA_ERROR, 0, code])
}

/// Sends `regs` and asserts the call is rejected with INVALID_PARAMETERS, that nothing
/// reached the SPMC, and that the record names register `reg`.
fn assert_rejected(proxy: &Proxy, spmc: &mut Spmc, mut regs: SmcRegs, reg: u8, what: &str) {
    let before = counts(proxy, regs[0]);
    let host = regs;
    let outcome = proxy.handle(&mut regs, 0, no_memory(), spmc);
    let Outcome::Rejected(rec) = outcome else {
        panic!("{what}: expected rejection, got {outcome:?} for x0..x17 = {host:#x?}");
    };
    assert!(
        spmc.calls.is_empty(),
        "{what}: rejected call reached the SPMC: {:#x?}",
        spmc.calls
    );
    let Reason::Field(v) = rec.reason else {
        panic!("{what}: expected a field violation, got {rec}");
    };
    assert_eq!(v.reg, reg, "{what}: record names the wrong register: {rec}");
    assert_eq!(
        regs[..8],
        error_reply(INVALID_PARAMETERS_W)[..8],
        "{what}: reply is not FFA_ERROR(INVALID_PARAMETERS)"
    );
    let after = counts(proxy, host[0]);
    assert_eq!(
        after.rejected,
        before.rejected + 1,
        "{what}: rejected counter"
    );
    assert_eq!(
        after.forwarded, before.forwarded,
        "{what}: forwarded counter moved"
    );
}

/// Sends `regs` and asserts it reached the SPMC exactly as `expected`.
fn assert_forwarded_as(proxy: &Proxy, spmc: &mut Spmc, mut regs: SmcRegs, expected: SmcRegs) {
    let host = regs;
    let outcome = proxy.handle(&mut regs, 0, no_memory(), spmc);
    assert_eq!(
        outcome,
        Outcome::Forwarded,
        "{:#x}: not forwarded; host x0..x17 = {host:#x?}",
        host[0]
    );
    assert_eq!(
        spmc.calls.len(),
        1,
        "{:#x}: forwarded {} times",
        host[0],
        spmc.calls.len()
    );
    assert_eq!(
        spmc.calls[0], expected,
        "{:#x}: forwarded registers differ from the layout",
        host[0]
    );
    spmc.calls.clear();
}

fn assert_not_supported(proxy: &Proxy, spmc: &mut Spmc, mut regs: SmcRegs, what: &str) {
    let outcome = proxy.handle(&mut regs, 0, no_memory(), spmc);
    assert_eq!(outcome, Outcome::Unsupported, "{what}");
    assert_eq!(
        regs[..3],
        error_reply(NOT_SUPPORTED_W)[..3],
        "{what}: reply"
    );
    assert!(spmc.calls.is_empty(), "{what}: reached the SPMC");
}

// ---------------------------------------------------------------------------------------
// Sweep over every field of every validated ABI at every version
// ---------------------------------------------------------------------------------------

/// Contiguous runs of forbidden bits of one register, split at bit 32 and at the named
/// fields' edges, so that each run is one field (or one reserved stretch).
fn forbidden_runs(forbidden: u64, fields: &[u64]) -> Vec<(u8, u8)> {
    let mut cuts: Vec<u64> = Vec::from([0xFFFF_FFFF, !0xFFFF_FFFF]);
    cuts.extend_from_slice(fields);
    let mut runs = Vec::new();
    let mut bit = 0u8;
    while bit < 64 {
        if forbidden & (1 << bit) == 0 {
            bit += 1;
            continue;
        }
        let group = |b: u8| cuts.iter().map(|m| m & (1 << b) != 0).collect::<Vec<_>>();
        let g = group(bit);
        let lo = bit;
        while bit < 63 && forbidden & (1 << (bit + 1)) != 0 && group(bit + 1) == g {
            bit += 1;
        }
        runs.push((lo, bit));
        bit += 1;
    }
    runs
}

/// A valid call of `spec`: every carried bit set to a recognisable pattern.
fn valid_call(spec: &Spec) -> SmcRegs {
    let mut regs = [0; 18];
    regs[0] = spec.id;
    for (x, carried) in regs[1..].iter_mut().zip(spec.carried) {
        *x = carried & 0xA5A5_A5A5_A5A5_A5A5;
    }
    if spec.id == FFA_FEATURES {
        regs[1] = DIRECT_REQ_64; // a forwarded ID
    }
    if spec.id == PART_INFO_GET {
        regs[5] = 0; // the count-only flag exists from v1.1 (tested in mailbox_tests.rs)
    }
    regs
}

#[test]
fn every_id_and_reserved_field_of_every_validated_abi_is_rejected_at_every_version() {
    let mut cases = 0;
    for spec in SPECS {
        for minor in spec.since..=2 {
            let checked_regs = if minor >= 2 { 17 } else { 7 };
            for reg in 1..=checked_regs {
                let forbidden = !spec.carried[reg - 1];
                let named: Vec<u64> = spec
                    .fields
                    .iter()
                    .filter(|f| f.0 == reg)
                    .map(|f| f.1)
                    .collect();
                for (lo, hi) in forbidden_runs(forbidden, &named) {
                    let run = (u64::MAX >> (63 - (hi - lo))) << lo;
                    for value in [1u64 << lo, 1u64 << hi, run] {
                        let (proxy, mut spmc) = proxy_at(minor);
                        let mut regs = valid_call(spec);
                        regs[reg] |= value;
                        let field = spec
                            .fields
                            .iter()
                            .find(|f| f.0 == reg && f.1 & value != 0)
                            .map_or("reserved", |f| f.2);
                        let what = format!(
                            "{} at v1.{minor}: x{reg}[{hi}:{lo}] ({field}) = {value:#x}",
                            spec.name
                        );
                        assert_rejected(&proxy, &mut spmc, regs, reg as u8, &what);
                        cases += 1;
                    }
                }
            }
        }
    }
    assert!(cases > 500, "sweep ran only {cases} cases");
}

#[test]
fn every_forwarded_abi_forwards_exactly_its_fields_at_every_version() {
    for spec in SPECS.iter().filter(|s| s.forwarded) {
        for minor in spec.since..=2 {
            let (proxy, mut spmc) = proxy_at(minor);
            let mut call = valid_call(spec);
            let mut expected = call;
            if minor < 2 {
                // Before v1.2, x8-x17 are not part of the call: ignored and not forwarded.
                for x in &mut call[8..] {
                    *x = 0xDEAD_BEEF;
                }
                for x in &mut expected[8..] {
                    *x = 0;
                }
            }
            let host = call;
            if spec.id == BITMAP_DESTROY {
                create_bitmap(&proxy);
            }
            if spec.id == FFA_RUN {
                // Forwarded only to a target seen preempted (D-RUN-STATE).
                proxy.allow_run(call[1]);
            }
            let outcome = proxy.handle(&mut call, 0, no_memory(), &mut spmc);
            assert_eq!(
                outcome,
                Outcome::Forwarded,
                "{} at v1.{minor}: {host:#x?}",
                spec.name
            );
            assert_eq!(
                spmc.calls,
                [expected],
                "{} at v1.{minor}: forwarded registers",
                spec.name
            );
            assert_eq!(
                counts(&proxy, spec.id).forwarded,
                1,
                "{} counter",
                spec.name
            );
        }
    }
}

#[test]
fn abis_newer_than_the_negotiated_version_are_not_supported() {
    for spec in SPECS.iter().filter(|s| s.since > 0) {
        for minor in 0..spec.since {
            let (proxy, mut spmc) = proxy_at(minor);
            let what = format!("{} at v1.{minor}", spec.name);
            assert_not_supported(&proxy, &mut spmc, valid_call(spec), &what);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Caller IDs, named by behaviour
// ---------------------------------------------------------------------------------------

#[test]
fn direct_req_with_sender_not_host_is_rejected() {
    let (proxy, mut spmc) = proxy_at(2);
    // The spoof that OP-TEE answers normally (test-stack: w1 = 0x0001_8001).
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[DIRECT_REQ_32, 0x0001_8001]),
        1,
        "DIRECT_REQ_32 sender 1",
    );
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[DIRECT_REQ_64, 0x8002_8001]),
        1,
        "DIRECT_REQ_64 sender 0x8002",
    );
}

#[test]
fn direct_req2_with_sender_not_host_is_rejected() {
    let (proxy, mut spmc) = proxy_at(2);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[DIRECT_REQ2, 0xFFFF_8001]),
        1,
        "DIRECT_REQ2 sender 0xffff",
    );
}

#[test]
fn bind_with_receiver_not_host_is_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[NOTIF_BIND, 0x8001_0001, 0, 1]),
        1,
        "BIND receiver 1",
    );
}

#[test]
fn bind_with_a_sender_that_is_not_a_secure_endpoint_is_rejected() {
    // FF-A endpoint IDs with bit 15 clear are normal-world ones; only a Secure partition
    // may be bound as the sender of the host's notifications.
    for (w1, what) in [
        (0x0000_0000, "BIND sender 0 (the host)"),
        (0x0001_0000, "BIND sender 1 (a VM)"),
        (0x7fff_0000, "BIND sender 0x7fff"),
    ] {
        assert_peer_refused(r(&[NOTIF_BIND, w1, 0, 1]), 16, what);
    }
}

#[test]
fn set_to_a_receiver_that_is_not_a_secure_endpoint_is_rejected() {
    for (w1, what) in [
        (0x0000_0000, "SET receiver 0"),
        (0x0000_7fff, "SET receiver 0x7fff"),
    ] {
        assert_peer_refused(r(&[NOTIF_SET, w1, 0, 1]), 0, what);
    }
}

#[test]
fn direct_req_to_a_receiver_that_is_not_a_secure_endpoint_is_rejected() {
    // The host is the only normal-world endpoint, so a direct request to anything but a
    // Secure endpoint (bit 15 set) is addressed to no one the SPMC serves: receiver 0 is
    // the host itself, 1..0x7fff would be other VMs.
    for id in [DIRECT_REQ_32, DIRECT_REQ_64, DIRECT_REQ2] {
        for (w1, what) in [
            (0x0000, "receiver 0 (the host)"),
            (0x0001, "receiver 1 (a VM)"),
            (0x7fff, "receiver 0x7fff"),
        ] {
            assert_peer_refused_at(2, r(&[id, w1, 0, 1]), 0, &format!("{id:#x} {what}"));
        }
    }
    // At v1.0 too: the rule has no version.
    assert_peer_refused_at(0, r(&[DIRECT_REQ_32, 0, 0, 1]), 0, "DIRECT_REQ_32 at v1.0");
}

#[test]
fn run_of_a_target_that_is_not_a_secure_endpoint_is_rejected() {
    // FFA_RUN resumes a Secure partition's vCPU; w1[31:16] names it.
    for (w1, what) in [
        (0x0000_0000, "RUN target 0 (the host)"),
        (0x0001_0002, "RUN target 1 (a VM), vCPU 2"),
        (0x7fff_0000, "RUN target 0x7fff"),
    ] {
        assert_peer_refused_at(0, r(&[FFA_RUN, w1]), 16, what);
        assert_peer_refused_at(2, r(&[FFA_RUN, w1]), 16, what);
    }
}

#[test]
fn unbind_with_a_sender_that_is_not_a_secure_endpoint_is_rejected() {
    // As BIND: the sender of the host's notifications is a Secure partition.
    for (w1, what) in [
        (0x0000_0000, "UNBIND sender 0 (the host)"),
        (0x0001_0000, "UNBIND sender 1 (a VM)"),
        (0x7fff_0000, "UNBIND sender 0x7fff"),
    ] {
        assert_peer_refused(r(&[NOTIF_UNBIND, w1, 0, 1]), 16, what);
    }
}

/// A notification peer that is not a Secure endpoint: the record names the 16-bit ID field of
/// w1 at bit `lsb` and its value, the reply is FFA_ERROR(INVALID_PARAMETERS), nothing is
/// forwarded, the rejection is counted.
fn assert_peer_refused(regs: SmcRegs, lsb: u8, what: &str) {
    assert_peer_refused_at(1, regs, lsb, what);
}

/// [`assert_peer_refused`] with the host negotiated at 1.`minor`.
fn assert_peer_refused_at(minor: u16, mut regs: SmcRegs, lsb: u8, what: &str) {
    let (proxy, mut spmc) = proxy_at(minor);
    let host = regs;
    let before = counts(&proxy, host[0]);
    let outcome = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
    let Outcome::Rejected(rec) = outcome else {
        panic!("{what}: expected rejection, got {outcome:?}");
    };
    let id = (host[1] >> lsb) & 0xFFFF;
    assert!(
        matches!(
            rec.reason,
            Reason::Field(Violation { reg: 1, lsb: l, width: 16, rule: Rule::NotSecure, value, .. })
                if l == lsb && value == id
        ),
        "{what}: {rec}"
    );
    assert!(
        rec.to_string().contains("Secure endpoint"),
        "{what}: the line does not say why: {rec}"
    );
    assert!(spmc.calls.is_empty(), "{what}: reached the SPMC");
    assert_eq!(
        regs[..8],
        error_reply(INVALID_PARAMETERS_W)[..8],
        "{what}: reply is not FFA_ERROR(INVALID_PARAMETERS)"
    );
    let after = counts(&proxy, host[0]);
    assert_eq!(
        after.rejected,
        before.rejected + 1,
        "{what}: rejected counter"
    );
    assert_eq!(
        after.forwarded, before.forwarded,
        "{what}: forwarded counter"
    );
}

#[test]
fn unbind_with_receiver_not_host_is_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[NOTIF_UNBIND, 0x8001_8000, 0, 1]),
        1,
        "UNBIND receiver 0x8000",
    );
}

#[test]
fn get_with_receiver_not_host_is_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[NOTIF_GET, 0x0000_0001, 0b101]),
        1,
        "GET receiver 1",
    );
}

#[test]
fn set_with_sender_not_host_is_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[NOTIF_SET, 0x0001_8001, 0, 1]),
        1,
        "SET sender 1",
    );
}

#[test]
fn bitmap_create_and_destroy_with_vm_id_not_host_are_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[BITMAP_CREATE, 1, 4]),
        1,
        "CREATE VM 1",
    );
    // SP-ID bits: OP-TEE rejects these itself, the proxy must too (Will Deacon's example).
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[BITMAP_CREATE, 0x0001_0000, 4]),
        1,
        "CREATE w1[31:16]",
    );
    // x1[63:32]: OP-TEE ignores the upper half and treats it as VM 0.
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[BITMAP_CREATE, 1 << 32, 4]),
        1,
        "CREATE x1[32]",
    );
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[BITMAP_DESTROY, 0x8000]),
        1,
        "DESTROY VM 0x8000",
    );
    // DESTROY w2: OP-TEE does not check it.
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[BITMAP_DESTROY, 0, 5]),
        2,
        "DESTROY w2 = 5",
    );
}

// ---------------------------------------------------------------------------------------
// Flags, named by behaviour
// ---------------------------------------------------------------------------------------

#[test]
fn bind_with_flags_other_than_per_vcpu_is_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[NOTIF_BIND, 0x8001_0000, 2, 1]),
        2,
        "BIND flags bit 1",
    );
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[NOTIF_BIND, 0x8001_0000, 1 << 31, 1]),
        2,
        "BIND flags bit 31",
    );
}

#[test]
fn bind_with_per_vcpu_flag_is_forwarded_for_the_spmc_to_judge() {
    let (proxy, mut spmc) = proxy_at(1);
    let call = r(&[NOTIF_BIND, 0x8001_0000, 1, 0x1, 0x8000_0000]);
    assert_forwarded_as(&proxy, &mut spmc, call, call);
}

#[test]
fn set_with_delay_sri_from_the_host_is_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[NOTIF_SET, 0x8001, 0b10, 1]),
        2,
        "SET delay SRI",
    );
}

#[test]
fn set_with_reserved_flags_is_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    for bit in 2..16 {
        let what = format!("SET flags bit {bit}");
        assert_rejected(
            &proxy,
            &mut spmc,
            r(&[NOTIF_SET, 0x8001, 1 << bit, 1]),
            2,
            &what,
        );
    }
}

#[test]
fn set_with_vcpu_id_but_no_per_vcpu_flag_is_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[NOTIF_SET, 0x8001, 3 << 16, 1]),
        2,
        "SET global with vCPU 3",
    );
    let per_vcpu = r(&[NOTIF_SET, 0x8001, (3 << 16) | 1, 1]);
    assert_forwarded_as(&proxy, &mut spmc, per_vcpu, per_vcpu);
}

#[test]
fn get_with_vm_or_hypervisor_bitmap_flag_is_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[NOTIF_GET, 0, 0b0010]),
        2,
        "GET VM flag",
    );
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[NOTIF_GET, 0, 0b1000]),
        2,
        "GET hypervisor flag",
    );
    // Linux's flags (SP | SPM) pass.
    let linux = r(&[NOTIF_GET, 3 << 16, 0b0101]);
    assert_forwarded_as(&proxy, &mut spmc, linux, linux);
}

#[test]
fn get_with_reserved_flags_is_rejected() {
    let (proxy, mut spmc) = proxy_at(1);
    for bit in [4, 17, 31] {
        let what = format!("GET flags bit {bit}");
        assert_rejected(&proxy, &mut spmc, r(&[NOTIF_GET, 0, 1 << bit]), 2, &what);
    }
}

#[test]
fn direct_req_with_framework_message_flag_is_rejected() {
    let (proxy, mut spmc) = proxy_at(2);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[DIRECT_REQ_64, 0x8001, 1 << 31]),
        2,
        "DIRECT_REQ framework bit",
    );
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[DIRECT_REQ_32, 0x8001, 0x8]),
        2,
        "DIRECT_REQ message type",
    );
}

// ---------------------------------------------------------------------------------------
// Register widths and x8-x17
// ---------------------------------------------------------------------------------------

#[test]
fn smc32_call_with_upper_register_bits_is_rejected() {
    let (proxy, mut spmc) = proxy_at(2);
    for reg in 3..=7 {
        let mut call = r(&[DIRECT_REQ_32, 0x8001]);
        call[reg] = 1 << 32;
        assert_rejected(
            &proxy,
            &mut spmc,
            call,
            reg as u8,
            "DIRECT_REQ_32 upper half",
        );
    }
    let mut call = r(&[NOTIF_BIND, 0x8001_0000, 0, 1]);
    call[4] = 0xFFFF_FFFF_0000_0000;
    assert_rejected(&proxy, &mut spmc, call, 4, "BIND x4 upper half");
}

#[test]
fn smc64_w_register_upper_bits_are_rejected() {
    let (proxy, mut spmc) = proxy_at(2);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[DIRECT_REQ_64, 0x8001 | 1 << 40]),
        1,
        "DIRECT_REQ_64 x1[40]",
    );
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[DIRECT_REQ2, 0x8001 | 1 << 63]),
        1,
        "DIRECT_REQ2 x1[63]",
    );
}

#[test]
fn x8_to_x17_are_checked_at_v1_2_and_dropped_before() {
    for reg in 8..18 {
        let (proxy, mut spmc) = proxy_at(2);
        let mut call = r(&[DIRECT_REQ_64, 0x8001, 0, 1]);
        call[reg] = 1;
        assert_rejected(
            &proxy,
            &mut spmc,
            call,
            reg as u8,
            "DIRECT_REQ_64 at v1.2 with xN != 0",
        );

        let (proxy, mut spmc) = proxy_at(1);
        assert_forwarded_as(&proxy, &mut spmc, call, r(&[DIRECT_REQ_64, 0x8001, 0, 1]));
    }
}

#[test]
fn smc32_reply_keeps_the_callers_x8_to_x17_and_smc64_reply_clears_them() {
    let (proxy, mut spmc) = proxy_at(1);
    let mut call = r(&[DIRECT_REQ_32, 0x8001, 0, 7]);
    call[9] = 0x1234;
    spmc.then(r(&[
        DIRECT_RESP_32,
        0x8001_0000,
        0,
        1,
        2,
        3,
        4,
        5,
        0x5EC,
        0x5EC,
    ]));
    assert_eq!(
        proxy.handle(&mut call, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(call[9], 0x1234, "SMC32: x9 preserved");
    assert_eq!(call[8], 0, "SMC32: x8 preserved (was 0), not the SPMC's");

    let mut call = r(&[DIRECT_REQ_64, 0x8001, 0, 7]);
    call[9] = 0x1234;
    spmc.then(r(&[
        DIRECT_RESP_64,
        0x8001_0000,
        0,
        1,
        2,
        3,
        4,
        5,
        0x5EC,
        0x5EC,
    ]));
    assert_eq!(
        proxy.handle(&mut call, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(call[8..], [0; 10], "SMC64: x8-x17 cleared");
}

// ---------------------------------------------------------------------------------------
// What Linux sends, forwarded exactly
// ---------------------------------------------------------------------------------------

#[test]
fn linux_notification_setup_is_forwarded_exactly() {
    let (proxy, mut spmc) = proxy_at(2);
    // BITMAP_CREATE w1 = vm_id (0), w2 = nr_cpu_ids.
    assert_forwarded_as(
        &proxy,
        &mut spmc,
        r(&[BITMAP_CREATE, 0, 4]),
        r(&[BITMAP_CREATE, 0, 4]),
    );
    // BIND w1 = sp << 16 | 0, w2 = 0, w3/w4 bitmap.
    let bind = r(&[NOTIF_BIND, 0x8001_0000, 0, 0x8, 0]);
    assert_forwarded_as(&proxy, &mut spmc, bind, bind);
    // SET w1 = 0 << 16 | sp.
    let set = r(&[NOTIF_SET, 0x8001, 0, 0x8, 0]);
    assert_forwarded_as(&proxy, &mut spmc, set, set);
    // GET w1 = cpu << 16 | 0, w2 = SP | SPM.
    let get = r(&[NOTIF_GET, 2 << 16, 0x5]);
    assert_forwarded_as(&proxy, &mut spmc, get, get);
    // INFO_GET_64, no arguments.
    assert_forwarded_as(&proxy, &mut spmc, r(&[INFO_GET_64]), r(&[INFO_GET_64]));
    // UNBIND w2 = 0.
    let unbind = r(&[NOTIF_UNBIND, 0x8001_0000, 0, 0x8, 0]);
    assert_forwarded_as(&proxy, &mut spmc, unbind, unbind);
    assert_forwarded_as(
        &proxy,
        &mut spmc,
        r(&[BITMAP_DESTROY]),
        r(&[BITMAP_DESTROY]),
    );
}

/// Sends `regs` and expects FFA_ERROR(DENIED) from EL2 with nothing forwarded.
fn assert_denied_at_el2(proxy: &Proxy, spmc: &mut Spmc, mut regs: SmcRegs, what: &str) {
    let id = regs[0];
    let before = counts(proxy, id);
    let outcome = proxy.handle(&mut regs, 0, no_memory(), spmc);
    assert_eq!(outcome, Outcome::Emulated, "{what}");
    assert_eq!(regs, error_reply(DENIED_W), "{what}");
    let after = counts(proxy, id);
    assert_eq!(
        (
            after.emulated - before.emulated,
            after.unsupported - before.unsupported
        ),
        (1, 0),
        "{what}: counted as answered at EL2"
    );
    assert!(
        spmc.calls.is_empty(),
        "{what}: forwarded {:#x?}",
        spmc.calls
    );
}

#[test]
fn bitmap_destroy_without_a_bitmap_and_create_with_one_are_denied() {
    let (proxy, mut spmc) = proxy_at(2);
    // Nothing created yet: DESTROY is DENIED (the SPMC would have said SUCCESS).
    assert_denied_at_el2(&proxy, &mut spmc, r(&[BITMAP_DESTROY]), "first DESTROY");
    // A CREATE the SPMC refuses creates nothing.
    let mut regs = r(&[BITMAP_CREATE, 0, 4]);
    spmc.then(error_reply(status::NO_MEMORY as u32 as u64));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    spmc.calls.clear();
    assert_denied_at_el2(&proxy, &mut spmc, r(&[BITMAP_DESTROY]), "after refusal");
    // Created: a second CREATE is DENIED, one DESTROY forwarded, the next DENIED again.
    create_bitmap(&proxy);
    assert_denied_at_el2(&proxy, &mut spmc, r(&[BITMAP_CREATE, 0, 4]), "CREATE twice");
    assert_forwarded_as(
        &proxy,
        &mut spmc,
        r(&[BITMAP_DESTROY]),
        r(&[BITMAP_DESTROY]),
    );
    spmc.calls.clear();
    assert_denied_at_el2(&proxy, &mut spmc, r(&[BITMAP_DESTROY]), "DESTROY twice");
    // Both ABIs' FFA_FEATURES stay the SPMC's answer.
    for id in [BITMAP_CREATE, BITMAP_DESTROY] {
        let mut regs = r(&[FFA_FEATURES, id]);
        spmc.then(error_reply(NOT_SUPPORTED_W));
        let _ = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
        assert_eq!(spmc.calls.pop(), Some(r(&[FFA_FEATURES, id])));
        assert_eq!(regs, error_reply(NOT_SUPPORTED_W));
    }
}

#[test]
fn linux_direct_messages_are_forwarded_exactly() {
    let (proxy, mut spmc) = proxy_at(2);
    let req64 = r(&[DIRECT_REQ_64, 0x8001, 0, u64::MAX, 2, 3, 4, 1 << 63]);
    assert_forwarded_as(&proxy, &mut spmc, req64, req64);
    let req32 = r(&[DIRECT_REQ_32, 0x8001, 0, W, 2, 3, 4, 5]);
    assert_forwarded_as(&proxy, &mut spmc, req32, req32);
    let mut req2 = [0xC0FFEE; 18];
    req2[0] = DIRECT_REQ2;
    req2[1] = 0x8001;
    spmc.then(r(&[DIRECT_RESP2, 0x8001_0000]));
    assert_forwarded_as(&proxy, &mut spmc, req2, req2);
    // FFA_RUN of a vCPU the SPMC reported preempted (D-RUN-STATE).
    let mut preempted = r(&[DIRECT_REQ_64, 0x8001]);
    spmc.then(r(&[FFA_INTERRUPT, 0x8001_0003, 9]));
    assert_eq!(
        proxy.handle(&mut preempted, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    spmc.calls.clear();
    let run = r(&[FFA_RUN, 0x8001_0003]);
    assert_forwarded_as(&proxy, &mut spmc, run, run);
}

// ---------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------

#[test]
fn direct_resp_reply_is_filtered_to_its_registers() {
    let (proxy, mut spmc) = proxy_at(2);
    let mut regs = r(&[DIRECT_REQ_32, 0x8001, 0, 9]);
    spmc.then(r(&[
        DIRECT_RESP_32,
        0xAAAA_8001_0000,
        0,
        1,
        2,
        3,
        4,
        1 << 40 | 5,
        0x5EC,
    ]));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(
        regs,
        r(&[DIRECT_RESP_32, 0x8001_0000, 0, 1, 2, 3, 4, 5]),
        "DIRECT_RESP_32 reply: w1..w7, upper halves and x8 dropped"
    );

    let mut regs = r(&[DIRECT_REQ_64, 0x8001]);
    spmc.then(r(&[DIRECT_RESP_64, 0x8001_0000, 0, X, X, X, X, X, 0x5EC]));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(regs, r(&[DIRECT_RESP_64, 0x8001_0000, 0, X, X, X, X, X]));
}

#[test]
fn direct_resp2_reply_passes_x4_to_x17_and_drops_x2_x3() {
    let (proxy, mut spmc) = proxy_at(2);
    let mut regs = r(&[DIRECT_REQ2, 0x8001, 1, 2]);
    let mut reply = [0x77; 18];
    reply[0] = DIRECT_RESP2;
    reply[1] = 0x8001_0000;
    spmc.then(reply);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    let mut expected = reply;
    expected[2] = 0;
    expected[3] = 0;
    assert_eq!(regs, expected);
}

#[test]
fn interrupt_and_yield_replies_reach_the_host_which_resumes_with_run() {
    let (proxy, mut spmc) = proxy_at(2);
    let mut regs = r(&[DIRECT_REQ_64, 0x8001, 0, 1]);
    spmc.then(r(&[FFA_INTERRUPT, 0x8001_0002, 33, 0xBAD]));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(
        regs,
        r(&[FFA_INTERRUPT, 0x8001_0002, 33]),
        "INTERRUPT: w1, w2 only"
    );

    spmc.calls.clear();
    let mut run = r(&[FFA_RUN, 0x8001_0002]);
    spmc.then(r(&[FFA_YIELD, 0x8001_0002, 10, 20, 0xBAD]));
    assert_eq!(
        proxy.handle(&mut run, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(spmc.calls, [r(&[FFA_RUN, 0x8001_0002])]);
    assert_eq!(
        run,
        r(&[FFA_YIELD, 0x8001_0002, 10, 20]),
        "YIELD: w1..w3 only"
    );

    let mut run = r(&[FFA_RUN, 0x8001_0002]);
    spmc.then(r(&[DIRECT_RESP_64, 0x8001_0000, 0, 42]));
    assert_eq!(
        proxy.handle(&mut run, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(
        run,
        r(&[DIRECT_RESP_64, 0x8001_0000, 0, 42]),
        "resumed request completes"
    );

    // FFA_RUN is checked like any call.
    let (proxy, mut spmc) = proxy_at(2);
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[FFA_RUN, 0x8001_0002, 1]),
        2,
        "RUN w2",
    );
    let mut bad = r(&[FFA_RUN, 0x8001_0002]);
    bad[8] = 1;
    assert_rejected(&proxy, &mut spmc, bad, 8, "RUN x8 at v1.2");
}

/// Sends FFA_RUN(`w1`) and asserts it was DENIED at EL2: nothing forwarded, counted
/// rejected, a record naming the state (D-RUN-STATE).
fn assert_run_denied(proxy: &Proxy, spmc: &mut Spmc, w1: u64, what: &str) {
    spmc.calls.clear();
    let before = counts(proxy, FFA_RUN);
    let mut regs = r(&[FFA_RUN, w1]);
    let outcome = proxy.handle(&mut regs, 0, no_memory(), spmc);
    let Outcome::Rejected(rec) = outcome else {
        panic!("{what}: expected DENIED, got {outcome:?}");
    };
    assert!(
        matches!(
            rec.reason,
            Reason::Refused {
                status: abi::Status::Denied,
                value,
                ..
            } if value == w1
        ),
        "{what}: {rec:?}"
    );
    assert_eq!(regs, r(&[FFA_ERROR, 0, DENIED_W]), "{what}: reply");
    assert!(spmc.calls.is_empty(), "{what}: reached the SPMC");
    let after = counts(proxy, FFA_RUN);
    assert_eq!(
        after.rejected,
        before.rejected + 1,
        "{what}: rejected counter"
    );
    assert_eq!(
        after.forwarded, before.forwarded,
        "{what}: forwarded counter"
    );
}

/// Sends FFA_RUN(`w1`), the SPMC answering `reply`, and asserts it was forwarded exactly.
fn assert_run_forwarded(proxy: &Proxy, spmc: &mut Spmc, w1: u64, reply: SmcRegs) {
    spmc.calls.clear();
    spmc.then(reply);
    let mut regs = r(&[FFA_RUN, w1]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), spmc),
        Outcome::Forwarded,
        "FFA_RUN {w1:#x}"
    );
    assert_eq!(
        spmc.calls,
        [r(&[FFA_RUN, w1])],
        "FFA_RUN {w1:#x} forwarded once"
    );
    spmc.calls.clear();
}

#[test]
fn run_without_a_recorded_state_is_denied_and_reaches_nothing() {
    for minor in 0..=2 {
        let (proxy, mut spmc) = proxy_at(minor);
        // A valid call to OP-TEE's partition, vCPU 0: what hangs TF-A's EL3 SPMC.
        assert_run_denied(&proxy, &mut spmc, 0x8001_0000, "RUN of a waiting partition");
        assert_run_denied(&proxy, &mut spmc, 0x8001_0002, "RUN vCPU 2");
        // The fields are checked first: a malformed RUN is INVALID_PARAMETERS.
        assert_rejected(
            &proxy,
            &mut spmc,
            r(&[FFA_RUN, 0x8001_0000, 1]),
            2,
            "RUN w2",
        );
    }
}

#[test]
fn run_is_forwarded_once_after_an_interrupt_reply_names_its_vcpu() {
    for (request, reply_to) in [
        (r(&[DIRECT_REQ_32, 0x8001, 0, 1]), "DIRECT_REQ_32"),
        (r(&[DIRECT_REQ_64, 0x8001, 0, 1]), "DIRECT_REQ_64"),
        (r(&[DIRECT_REQ2, 0x8001, 1, 2]), "DIRECT_REQ2"),
    ] {
        let (proxy, mut spmc) = proxy_at(2);
        let mut regs = request;
        spmc.then(r(&[FFA_INTERRUPT, 0x8001_0002, 33]));
        assert_eq!(
            proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
            Outcome::Forwarded,
            "{reply_to}"
        );
        assert_eq!(regs[0], FFA_INTERRUPT);
        // Another vCPU, another partition: still DENIED.
        assert_run_denied(&proxy, &mut spmc, 0x8001_0003, "another vCPU");
        assert_run_denied(&proxy, &mut spmc, 0x8002_0002, "another partition");
        assert_run_forwarded(
            &proxy,
            &mut spmc,
            0x8001_0002,
            r(&[DIRECT_RESP_64, 0x8001_0000]),
        );
        assert_run_denied(&proxy, &mut spmc, 0x8001_0002, "the second RUN");
    }
}

#[test]
fn run_state_follows_the_answers_to_run() {
    let (proxy, mut spmc) = proxy_at(2);
    proxy.allow_run(0x8001_0001);
    // Preempted again: the RUN's own FFA_INTERRUPT answer records the vCPU again.
    assert_run_forwarded(
        &proxy,
        &mut spmc,
        0x8001_0001,
        r(&[FFA_INTERRUPT, 0x8001_0001, 5]),
    );
    // Blocked: FFA_YIELD records it too.
    assert_run_forwarded(
        &proxy,
        &mut spmc,
        0x8001_0001,
        r(&[FFA_YIELD, 0x8001_0001, 1, 2]),
    );
    // BUSY: the SPMC ran nothing, the record stays.
    assert_run_forwarded(
        &proxy,
        &mut spmc,
        0x8001_0001,
        error_reply(status::BUSY as u32 as u64),
    );
    // Waiting again (MSG_WAIT) or an error: consumed.
    assert_run_forwarded(
        &proxy,
        &mut spmc,
        0x8001_0001,
        r(&[fid::MSG_WAIT as u64, 0x8001_0000]),
    );
    assert_run_denied(&proxy, &mut spmc, 0x8001_0001, "after MSG_WAIT");
    proxy.allow_run(0x8001_0001);
    assert_run_forwarded(&proxy, &mut spmc, 0x8001_0001, error_reply(ABORTED_W));
    assert_run_denied(&proxy, &mut spmc, 0x8001_0001, "after ABORTED");
    // A YIELD answer to a direct request records its vCPU.
    let mut regs = r(&[DIRECT_REQ_64, 0x8001]);
    spmc.then(r(&[FFA_YIELD, 0x8001_0004, 0, 0]));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_run_forwarded(
        &proxy,
        &mut spmc,
        0x8001_0004,
        r(&[DIRECT_RESP_64, 0x8001_0000]),
    );
    // A normal-world ID in an FFA_INTERRUPT is never recorded.
    let mut regs = r(&[DIRECT_REQ_64, 0x8001]);
    spmc.then(r(&[FFA_INTERRUPT, 0x0001_0000, 0]));
    let _ = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
    assert!(!proxy.may_run(0x0001_0000));
}

#[test]
fn run_is_forwarded_for_what_notification_info_get_lists() {
    let (proxy, mut spmc) = proxy_at(2);
    // SMC64: one list, 0x8001 alone (a global notification): any vCPU, once.
    spmc.then(r(&[FFA_SUCCESS_64, 0, 1 << 7, 0x8001]));
    let mut regs = r(&[INFO_GET_64]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(spmc.calls, [r(&[INFO_GET_64])]);
    assert_run_forwarded(&proxy, &mut spmc, 0x8001_0000, r(&[fid::MSG_WAIT as u64]));
    assert_run_denied(&proxy, &mut spmc, 0x8001_0000, "listed once, run once");
    // SMC32: one list of 0x8002 with vCPU 1 (two IDs).
    spmc.then(r(&[FFA_SUCCESS_32, 0, 1 << 7 | 1 << 12, 1 << 16 | 0x8002]));
    let mut regs = r(&[INFO_GET_32]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_run_denied(&proxy, &mut spmc, 0x8002_0000, "vCPU 0 not listed");
    assert_run_forwarded(&proxy, &mut spmc, 0x8002_0001, r(&[fid::MSG_WAIT as u64]));
    // NO_DATA records nothing.
    spmc.then(error_reply(status::NO_DATA as u32 as u64));
    let mut regs = r(&[INFO_GET_64]);
    let _ = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
    assert_run_denied(&proxy, &mut spmc, 0x8001_0000, "after NO_DATA");
}

#[test]
fn run_state_is_bounded_and_a_full_table_denies() {
    let (proxy, mut spmc) = proxy_at(2);
    let slots = super::RUN_STATES as u64;
    for i in 0..slots {
        proxy.allow_run(0x8000_0000 | (i / 16) << 16 | (i % 16));
    }
    // One more preemption does not fit: its RUN is DENIED (documented in D-RUN-STATE).
    let mut regs = r(&[DIRECT_REQ_64, 0x80FF]);
    spmc.then(r(&[FFA_INTERRUPT, 0x80FF_0000, 1]));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(
        regs[..2],
        [FFA_INTERRUPT, 0x80FF_0000],
        "the host still sees it"
    );
    assert_run_denied(&proxy, &mut spmc, 0x80FF_0000, "table full");
    // Every recorded one still runs.
    assert_run_forwarded(&proxy, &mut spmc, 0x8000_0000, r(&[fid::MSG_WAIT as u64]));
}

#[test]
fn features_of_run_stay_the_spmcs_answer() {
    let (proxy, mut spmc) = proxy_at(2);
    for id in [FFA_RUN, INFO_GET_32, INFO_GET_64] {
        spmc.calls.clear();
        spmc.then(r(&[FFA_SUCCESS_32]));
        let mut regs = r(&[FFA_FEATURES, id]);
        let _ = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
        assert_eq!(spmc.calls, [r(&[FFA_FEATURES, id])], "FEATURES({id:#x})");
        assert_eq!(regs[0], FFA_SUCCESS_32);
    }
}

#[test]
fn notification_replies_keep_only_defined_registers() {
    let (proxy, mut spmc) = proxy_at(2);
    let mut regs = r(&[BITMAP_CREATE, 0, 4]);
    spmc.then(r(&[FFA_SUCCESS_32, 0, 1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(
        regs,
        r(&[FFA_SUCCESS_32]),
        "BITMAP_CREATE defines no return registers"
    );

    let mut regs = r(&[NOTIF_GET, 0, 5]);
    spmc.then(r(&[FFA_SUCCESS_32, 9, 1, 2, 3, 4, 5 | 1 << 35, 6, 7]));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(
        regs,
        r(&[FFA_SUCCESS_32, 0, 1, 2, 3, 4, 5, 6]),
        "GET: w2..w7"
    );

    let mut regs = r(&[INFO_GET_64]);
    spmc.then(r(&[FFA_SUCCESS_64, 0, X, X, X, X, X, X, 8]));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(
        regs,
        r(&[FFA_SUCCESS_64, 0, X, X, X, X, X, X]),
        "INFO_GET_64: x2..x7"
    );

    let mut regs = r(&[INFO_GET_32]);
    spmc.then(r(&[FFA_ERROR, 0, 0xFFFF_FFF7, 0xBAD]));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(
        regs,
        r(&[FFA_ERROR, 0, 0xFFFF_FFF7]),
        "NO_DATA error passes"
    );
}

#[test]
fn unexpected_reply_becomes_aborted_and_is_counted() {
    let (proxy, mut spmc) = proxy_at(2);
    let mut regs = r(&[DIRECT_REQ_64, 0x8001]);
    spmc.then(r(&[MEM_LEND_32, 1, 2]));
    let outcome = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
    let Outcome::ReplyRefused(rec) = outcome else {
        panic!("expected ReplyRefused, got {outcome:?}");
    };
    assert_eq!(rec.reason, Reason::UnexpectedReply(MEM_LEND_32));
    assert_eq!(regs, error_reply(ABORTED_W));
    let c = counts(&proxy, DIRECT_REQ_64);
    assert_eq!((c.forwarded, c.bad_replies), (1, 1));

    create_bitmap(&proxy);
    let mut regs = r(&[BITMAP_DESTROY]);
    spmc.then(r(&[DIRECT_RESP_32, 0, 0, 1]));
    assert!(matches!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::ReplyRefused(_)
    ));
}

#[test]
fn smccc_not_supported_from_firmware_is_passed_on() {
    let (proxy, mut spmc) = proxy_at(2);
    let mut regs = r(&[SPM_ID_GET]);
    spmc.then(r(&[SMCCC_NOT_SUPPORTED, 5, 5]));
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    assert_eq!(regs, r(&[SMCCC_NOT_SUPPORTED]));
}

// ---------------------------------------------------------------------------------------
// Blocked and unknown
// ---------------------------------------------------------------------------------------

#[test]
fn blocked_abis_get_not_supported_and_never_reach_the_spmc() {
    for minor in 0..=2 {
        let (proxy, mut spmc) = proxy_at(minor);
        for &(id, name) in BLOCKED_IDS {
            let what = format!("{name} ({id:#x}) at v1.{minor}");
            assert_not_supported(&proxy, &mut spmc, r(&[id, 0, 0, 0]), &what);
            assert_eq!(counts(&proxy, id).unsupported, 1, "{what}: counter");
        }
    }
}

#[test]
fn memory_abis_without_a_memory_configuration_are_not_supported() {
    for minor in 0..=2 {
        let (proxy, mut spmc) = proxy_at(minor);
        for &(id, name) in MEMORY_IDS {
            let what = format!("{name} ({id:#x}) at v1.{minor}");
            assert_not_supported(&proxy, &mut spmc, r(&[id, 0, 0, 0]), &what);
            assert_eq!(counts(&proxy, id).unsupported, 1, "{what}: counter");
            assert_not_supported_features(&proxy, &mut spmc, id, &format!("FEATURES({what})"));
        }
    }
}

#[test]
fn direct_resp_from_the_host_is_blocked() {
    let (proxy, mut spmc) = proxy_at(2);
    assert_not_supported(
        &proxy,
        &mut spmc,
        r(&[DIRECT_RESP_32, 0x8001]),
        "DIRECT_RESP_32",
    );
    assert_not_supported(
        &proxy,
        &mut spmc,
        r(&[DIRECT_RESP_64, 0x8001]),
        "DIRECT_RESP_64",
    );
    assert_not_supported(
        &proxy,
        &mut spmc,
        r(&[DIRECT_RESP2, 0x8001]),
        "DIRECT_RESP2",
    );
}

#[test]
fn unknown_ffa_ids_get_not_supported() {
    let (proxy, mut spmc) = proxy_at(2);
    for id in [
        0x8400_008F,
        0x8400_0090,
        0x8400_00FF,
        0xC400_0063,
        0xC400_0060,
        0x8400_008D,
    ] {
        assert_not_supported(&proxy, &mut spmc, r(&[id]), &format!("{id:#x}"));
    }
    assert_eq!(proxy.counters().unknown().unsupported, 6);
}

#[test]
fn rx_release_and_rxtx_unmap_schemas_refuse_a_nonzero_w1() {
    // Emulated rows (with a memory configuration): their schemas refuse a non-zero w1 (the
    // caller's ID must be 0), so the handlers start from checked registers.
    let row = |id: u32| abi::lookup(id).expect("row").0;
    for (id, name) in [
        (fid::RX_RELEASE, "RX_RELEASE"),
        (fid::RXTX_UNMAP, "RXTX_UNMAP"),
    ] {
        for v in [Version::V1_0, Version::V1_1, Version::V1_2] {
            for w1 in [1, 0x8000, 0x1_0000, 0x8000_0000, 0xFFFF_FFFF] {
                let err =
                    rebuild(row(id), Conv::Smc32, v, id, &r(&[id.into(), w1])).expect_err(name);
                assert_eq!(err.reg, 1, "{name} w1 = {w1:#x} at v{v}");
            }
            assert!(rebuild(row(id), Conv::Smc32, v, id, &r(&[id.into()])).is_ok());
        }
    }
    let unmap = rebuild(
        row(fid::RXTX_UNMAP),
        Conv::Smc32,
        Version::V1_1,
        fid::RXTX_UNMAP,
        &r(&[0, 0x1_0000]),
    );
    assert_eq!(
        unmap.expect_err("UNMAP").rule,
        Rule::Caller,
        "UNMAP ID is w1[31:16]"
    );
    let release = rebuild(
        row(fid::RX_RELEASE),
        Conv::Smc32,
        Version::V1_1,
        fid::RX_RELEASE,
        &r(&[0, 1]),
    );
    assert_eq!(
        release.expect_err("RELEASE").rule,
        Rule::Caller,
        "RELEASE ID is w1[15:0]"
    );
    let send2 = rebuild(
        row(fid::MSG_SEND2),
        Conv::Smc32,
        Version::V1_2,
        fid::MSG_SEND2,
        &r(&[0, 0x1_0000]),
    );
    assert_eq!(
        send2.expect_err("SEND2").rule,
        Rule::Caller,
        "MSG_SEND2 sender"
    );
    let share = rebuild(
        row(fid::MEM_SHARE_64),
        Conv::Smc64,
        Version::V1_2,
        fid::MEM_SHARE_64,
        &r(&[0, 64, 64, 0x8000_0000]),
    );
    assert_eq!(
        share.expect_err("MEM_SHARE").reg,
        3,
        "MEM_SHARE x3 (TX buffer only)"
    );
}

// ---------------------------------------------------------------------------------------
// FFA_FEATURES and FFA_ID_GET
// ---------------------------------------------------------------------------------------

#[test]
fn features_of_blocked_abis_are_not_supported_in_both_conventions() {
    let (proxy, mut spmc) = proxy_at(2);
    for &(id, name) in BLOCKED_IDS {
        let mut regs = r(&[FFA_FEATURES, id]);
        assert_eq!(
            proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
            Outcome::Emulated,
            "FEATURES({name})"
        );
        assert_eq!(regs, error_reply(NOT_SUPPORTED_W), "FEATURES({name}) reply");
    }
    assert!(
        spmc.calls.is_empty(),
        "a FEATURES query of a blocked ABI reached the SPMC"
    );
}

#[test]
fn features_of_forwarded_abis_are_forwarded() {
    let forwarded: &[(u64, u16)] = &[
        (FFA_RUN, 0),
        (DIRECT_REQ_32, 0),
        (DIRECT_REQ_64, 0),
        (DIRECT_REQ2, 2),
        (BITMAP_CREATE, 1),
        (BITMAP_DESTROY, 1),
        (NOTIF_BIND, 1),
        (NOTIF_UNBIND, 1),
        (NOTIF_SET, 1),
        (NOTIF_GET, 1),
        (INFO_GET_32, 1),
        (INFO_GET_64, 1),
        (SPM_ID_GET, 1),
        (PART_INFO_GET_REGS, 2),
    ];
    for minor in 0..=2 {
        let (proxy, mut spmc) = proxy_at(minor);
        for &(id, since) in forwarded {
            let mut regs = r(&[FFA_FEATURES, id]);
            spmc.then(r(&[FFA_SUCCESS_32, 0, 0x3, 0x4, 0xBAD]));
            let outcome = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
            if minor >= since {
                assert_eq!(
                    outcome,
                    Outcome::Forwarded,
                    "FEATURES({id:#x}) at v1.{minor}"
                );
                assert_eq!(spmc.calls, [r(&[FFA_FEATURES, id])], "FEATURES({id:#x})");
                assert_eq!(
                    regs,
                    r(&[FFA_SUCCESS_32, 0, 0x3, 0x4]),
                    "FEATURES reply w2/w3"
                );
            } else {
                spmc.script.clear();
                assert_eq!(
                    regs,
                    error_reply(NOT_SUPPORTED_W),
                    "FEATURES({id:#x}) at v1.{minor}"
                );
                assert!(spmc.calls.is_empty());
            }
            spmc.calls.clear();
        }
    }
}

/// FFA_FEATURES(`id`) through `proxy`: the outcome, the reply and whether it reached `spmc`.
fn features_of(proxy: &Proxy, spmc: &mut Spmc, id: u64) -> (Outcome, SmcRegs, bool) {
    spmc.calls.clear();
    let mut regs = r(&[FFA_FEATURES, id]);
    let outcome = proxy.handle(&mut regs, 0, no_memory(), spmc);
    let forwarded = !spmc.calls.is_empty();
    spmc.calls.clear();
    (outcome, regs, forwarded)
}

/// D-FEATURES-LEARNED: OP-TEE 4.10 answers SUCCESS to FFA_FEATURES(NOTIFICATION_SET) from
/// the normal world and then NOT_SUPPORTED to a valid NOTIFICATION_SET. Once a validated call
/// came back NOT_SUPPORTED, FFA_FEATURES for that function answers NOT_SUPPORTED at EL2 and
/// never asks the SPMC again; the call itself is still forwarded (the SPMC's to answer).
#[test]
fn features_stop_promising_a_function_the_spmc_refused() {
    // v1.1 (calls forwarded from a rebuilt copy) and v1.2 (from the host's registers).
    for minor in [1, 2] {
        let (proxy, mut spmc) = proxy_at(minor);
        let set = r(&[NOTIF_SET, 0x8001, 0, 1]);
        // Before: the SPMC's answer, forwarded.
        spmc.then(r(&[FFA_SUCCESS_32]));
        let (outcome, regs, forwarded) = features_of(&proxy, &mut spmc, NOTIF_SET);
        assert_eq!(
            (outcome, regs[0], forwarded),
            (Outcome::Forwarded, FFA_SUCCESS_32, true)
        );
        // Other errors teach nothing.
        for code in [INVALID_PARAMETERS_W, DENIED_W, ABORTED_W] {
            spmc.then(r(&[FFA_ERROR, 0, code]));
            let mut call = set;
            assert_eq!(
                proxy.handle(&mut call, 0, no_memory(), &mut spmc),
                Outcome::Forwarded
            );
            assert_eq!(call, error_reply(code));
            spmc.then(r(&[FFA_SUCCESS_32]));
            let (_, regs, forwarded) = features_of(&proxy, &mut spmc, NOTIF_SET);
            assert_eq!(
                (regs[0], forwarded),
                (FFA_SUCCESS_32, true),
                "after {code:#x}"
            );
        }
        // The SPMC refuses a valid SET.
        spmc.then(error_reply(NOT_SUPPORTED_W));
        let mut call = set;
        assert_eq!(
            proxy.handle(&mut call, 0, no_memory(), &mut spmc),
            Outcome::Forwarded
        );
        assert_eq!(call, error_reply(NOT_SUPPORTED_W));
        // From now on FEATURES says so, at EL2, counted emulated.
        let before = counts(&proxy, FFA_FEATURES);
        spmc.then(r(&[FFA_SUCCESS_32]));
        let (outcome, regs, forwarded) = features_of(&proxy, &mut spmc, NOTIF_SET);
        spmc.script.clear();
        assert_eq!(
            (outcome, regs, forwarded),
            (Outcome::Emulated, error_reply(NOT_SUPPORTED_W), false),
            "v1.{minor}"
        );
        assert_eq!(counts(&proxy, FFA_FEATURES).emulated, before.emulated + 1);
        // The call itself is still the SPMC's to answer.
        let mut call = set;
        spmc.then(error_reply(NOT_SUPPORTED_W));
        assert_eq!(
            proxy.handle(&mut call, 0, no_memory(), &mut spmc),
            Outcome::Forwarded
        );
        // Only that function: its neighbours are still forwarded.
        for id in [NOTIF_BIND, NOTIF_GET, DIRECT_REQ_64] {
            spmc.then(r(&[FFA_SUCCESS_32]));
            let (_, regs, forwarded) = features_of(&proxy, &mut spmc, id);
            assert_eq!((regs[0], forwarded), (FFA_SUCCESS_32, true), "{id:#x}");
        }
    }
}

/// The record is per function ID: an SPMC that serves only the SMC64 convention of
/// NOTIFICATION_INFO_GET (Hafnium) loses only the SMC32 one. A rejected call, or a FEATURES
/// query the SPMC answers NOT_SUPPORTED, teaches nothing.
#[test]
fn features_learn_per_convention_and_only_from_forwarded_calls() {
    let (proxy, mut spmc) = proxy_at(2);
    spmc.then(error_reply(NOT_SUPPORTED_W));
    let mut call = r(&[INFO_GET_32]);
    assert_eq!(
        proxy.handle(&mut call, 0, no_memory(), &mut spmc),
        Outcome::Forwarded
    );
    let (_, regs, forwarded) = features_of(&proxy, &mut spmc, INFO_GET_32);
    assert_eq!((regs, forwarded), (error_reply(NOT_SUPPORTED_W), false));
    spmc.then(r(&[FFA_SUCCESS_32]));
    let (_, regs, forwarded) = features_of(&proxy, &mut spmc, INFO_GET_64);
    assert_eq!((regs[0], forwarded), (FFA_SUCCESS_32, true), "SMC64 twin");
    // A rejected DIRECT_REQ (non-Secure receiver) never reaches the SPMC.
    let mut bad = r(&[DIRECT_REQ_64, 1]);
    assert!(matches!(
        proxy.handle(&mut bad, 0, no_memory(), &mut spmc),
        Outcome::Rejected(_)
    ));
    // FEATURES(RUN) answered NOT_SUPPORTED by the SPMC is its answer, not a refused call.
    spmc.then(error_reply(NOT_SUPPORTED_W));
    let (_, _, forwarded) = features_of(&proxy, &mut spmc, FFA_RUN);
    assert!(forwarded);
    for id in [DIRECT_REQ_64, FFA_RUN, FFA_FEATURES] {
        spmc.then(error_reply(NOT_SUPPORTED_W));
        let (_, _, forwarded) = features_of(&proxy, &mut spmc, id);
        spmc.script.clear();
        assert_eq!(
            forwarded,
            id != FFA_FEATURES,
            "FEATURES({id:#x}) still asks the SPMC"
        );
    }
}

#[test]
fn features_of_emulated_abis_succeed_without_the_spmc() {
    let (proxy, mut spmc) = proxy_at(2);
    for id in [FFA_VERSION, FFA_FEATURES, FFA_ID_GET] {
        let mut regs = r(&[FFA_FEATURES, id]);
        assert_eq!(
            proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
            Outcome::Emulated
        );
        assert_eq!(regs, r(&[FFA_SUCCESS_32]), "FEATURES({id:#x})");
    }
    for id in [0x8400_00F0, 0x8401_006F, 0xC400_0063, 0x8400_008D] {
        let mut regs = r(&[FFA_FEATURES, id]);
        assert_eq!(
            proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
            Outcome::Emulated
        );
        assert_eq!(
            regs,
            error_reply(NOT_SUPPORTED_W),
            "FEATURES of unknown {id:#x}"
        );
    }
    assert!(spmc.calls.is_empty());
}

#[test]
fn features_of_notification_interrupts_are_forwarded_with_reserved_bits_checked() {
    let (proxy, mut spmc) = proxy_at(2);
    for feature in [1, 2] {
        let mut regs = r(&[FFA_FEATURES, feature]);
        spmc.then(r(&[FFA_SUCCESS_32, 0, 8]));
        assert_eq!(
            proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
            Outcome::Forwarded
        );
        assert_eq!(spmc.calls, [r(&[FFA_FEATURES, feature])]);
        assert_eq!(regs, r(&[FFA_SUCCESS_32, 0, 8]), "SRI/NPI interrupt ID");
        spmc.calls.clear();
    }
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[FFA_FEATURES, 1 << 8 | 2]),
        1,
        "feature ID bit 8",
    );
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[FFA_FEATURES, 1 << 30 | 2]),
        1,
        "feature ID bit 30",
    );
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[FFA_FEATURES, 2, 1]),
        2,
        "feature ID with w2",
    );
    assert_rejected(
        &proxy,
        &mut spmc,
        r(&[FFA_FEATURES, DIRECT_REQ_64, 1]),
        2,
        "FID with w2",
    );
    for feature in [0, 3, 4, 0xFF] {
        let mut regs = r(&[FFA_FEATURES, feature]);
        assert_eq!(
            proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
            Outcome::Emulated
        );
        assert_eq!(regs, error_reply(NOT_SUPPORTED_W), "feature {feature}");
    }
    let (proxy, mut spmc) = proxy_at(0);
    assert_not_supported_features(&proxy, &mut spmc, 2, "SRI at v1.0");
}

fn assert_not_supported_features(proxy: &Proxy, spmc: &mut Spmc, sel: u64, what: &str) {
    let mut regs = r(&[FFA_FEATURES, sel]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), spmc),
        Outcome::Emulated,
        "{what}"
    );
    assert_eq!(regs, error_reply(NOT_SUPPORTED_W), "{what}");
    assert!(spmc.calls.is_empty(), "{what}");
}

#[test]
fn id_get_is_emulated_as_zero() {
    let (proxy, mut spmc) = proxy_at(2);
    let mut regs = r(&[FFA_ID_GET]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Emulated
    );
    assert_eq!(regs, r(&[FFA_SUCCESS_32, 0, 0]));
    assert!(spmc.calls.is_empty());
    assert_eq!(counts(&proxy, FFA_ID_GET).emulated, 1);
}

// ---------------------------------------------------------------------------------------
// Version
// ---------------------------------------------------------------------------------------

#[test]
fn probe_asks_version_1_2_then_id_get_then_spm_id_get() {
    let mut spmc = Spmc::new();
    let proxy = Proxy::probe(&mut spmc, 0x1_0002);
    assert_eq!(
        proxy.state(),
        State::On {
            firmware: 0x1_0002,
            max: Version::V1_2,
            spmc_id: Some(0x8000),
        }
    );
    assert_eq!(
        spmc.calls,
        [
            r(&[FFA_VERSION, 0x1_0002]),
            r(&[FFA_ID_GET]),
            r(&[SPM_ID_GET])
        ]
    );
    assert_eq!(proxy.negotiated(), None);
}

/// Every FF-A call gets SMCCC NOT_SUPPORTED and nothing is forwarded.
fn assert_off(proxy: &Proxy, spmc: &mut Spmc, what: &str) {
    assert!(
        matches!(proxy.state(), State::Off(_)),
        "{what}: {:?}",
        proxy.state()
    );
    spmc.calls.clear();
    for id in [
        FFA_VERSION,
        FFA_ID_GET,
        DIRECT_REQ_64,
        BITMAP_CREATE,
        MEM_SHARE_32,
        0x8400_00F0,
    ] {
        let mut regs = r(&[id, 0x1_0002]);
        assert_eq!(
            proxy.handle(&mut regs, 0, no_memory(), spmc),
            Outcome::Unsupported,
            "{what}: {id:#x}"
        );
        assert_eq!(
            regs[..8],
            r(&[SMCCC_NOT_SUPPORTED])[..8],
            "{what}: {id:#x} reply"
        );
    }
    assert!(spmc.calls.is_empty(), "{what}: something was forwarded");
}

#[test]
fn proxy_is_off_without_smccc_1_2() {
    for smccc in [0x1_0001, 0x1_0000, 0xFFFF_FFFF] {
        let mut spmc = Spmc::new();
        let proxy = Proxy::probe(&mut spmc, smccc);
        assert!(spmc.calls.is_empty(), "SMCCC {smccc:#x}: probed anyway");
        assert_off(&proxy, &mut spmc, &format!("SMCCC {smccc:#x}"));
    }
}

#[test]
fn proxy_is_off_without_an_spmc() {
    for reply in [SMCCC_NOT_SUPPORTED, 0xFFFF_FFFF, 0x2_0000] {
        let mut spmc = Spmc::new();
        spmc.version = reply;
        let proxy = Proxy::probe(&mut spmc, 0x1_0002);
        assert_off(&proxy, &mut spmc, &format!("FFA_VERSION -> {reply:#x}"));
    }
}

#[test]
fn proxy_is_off_when_the_spmc_does_not_see_id_0() {
    let mut spmc = Spmc::new();
    spmc.then(r(&[0x1_0002])).then(r(&[FFA_SUCCESS_32, 0, 5]));
    let proxy = Proxy::probe(&mut spmc, 0x1_0002);
    assert_off(&proxy, &mut spmc, "ID_GET -> 5");
    assert_eq!(
        Proxy::disabled().state(),
        State::Off(super::OffReason::NotProbed)
    );
}

#[test]
fn version_is_emulated_per_spec() {
    let (proxy, mut spmc) = proxy_at(2);
    // Same major, newer minor: the proxy's version.
    let mut regs = r(&[FFA_VERSION, 0x1_0003]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Emulated
    );
    assert_eq!(regs, r(&[0x1_0002]));
    // Another major: NOT_SUPPORTED in w0, not FFA_ERROR.
    for req in [0x2_0000, 0x0_0009, 0x7FFF_0002] {
        let mut regs = r(&[FFA_VERSION, req]);
        assert_eq!(
            proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
            Outcome::Emulated,
            "{req:#x}"
        );
        assert_eq!(
            regs,
            r(&[SMCCC_NOT_SUPPORTED]),
            "{req:#x}: w0 = NOT_SUPPORTED"
        );
    }
    assert!(spmc.calls.is_empty());
}

#[test]
fn version_with_reserved_bits_is_rejected_with_not_supported_in_w0() {
    let (proxy, mut spmc) = proxy_at(2);
    for (reg, val) in [
        (1, 1u64 << 31 | 0x1_0002),
        (1, 1 << 32 | 0x1_0002),
        (2, 1),
        (7, 1 << 31),
    ] {
        let mut regs = r(&[FFA_VERSION, 0x1_0002]);
        regs[reg] = val;
        let outcome = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
        assert!(
            matches!(outcome, Outcome::Rejected(rec) if matches!(rec.reason, Reason::Field(v) if v.reg == reg as u8)),
            "FFA_VERSION x{reg} = {val:#x}: {outcome:?}"
        );
        assert_eq!(
            regs,
            r(&[SMCCC_NOT_SUPPORTED]),
            "FFA_VERSION x{reg} = {val:#x}"
        );
    }
}

#[test]
fn call_before_version_gets_not_supported() {
    let mut spmc = Spmc::new();
    let proxy = Proxy::probe(&mut spmc, 0x1_0002);
    spmc.calls.clear();
    assert_not_supported(
        &proxy,
        &mut spmc,
        r(&[DIRECT_REQ_64, 0x8001]),
        "DIRECT_REQ before VERSION",
    );
    assert_not_supported(
        &proxy,
        &mut spmc,
        r(&[FFA_FEATURES, DIRECT_REQ_64]),
        "FEATURES before VERSION",
    );
    assert_eq!(
        proxy.negotiated(),
        None,
        "a refused call must not negotiate"
    );
}

#[test]
fn downgrade_is_asked_of_the_spmc_first() {
    let mut spmc = Spmc::new();
    let proxy = Proxy::probe(&mut spmc, 0x1_0002);
    spmc.calls.clear();
    let mut regs = r(&[FFA_VERSION, 0x1_0001]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Emulated
    );
    assert_eq!(regs, r(&[0x1_0001]));
    assert_eq!(spmc.calls, [r(&[FFA_VERSION, 0x1_0001])]);

    let mut spmc = Spmc::new();
    let proxy = Proxy::probe(&mut spmc, 0x1_0002);
    spmc.then(r(&[SMCCC_NOT_SUPPORTED]));
    let mut regs = r(&[FFA_VERSION, 0x1_0000]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Emulated
    );
    assert_eq!(regs, r(&[SMCCC_NOT_SUPPORTED]), "SPMC refused v1.0");
    assert_eq!(proxy.negotiated(), None);
}

#[test]
fn version_renegotiates_until_the_first_other_call_then_is_final() {
    let mut spmc = Spmc::new();
    let proxy = Proxy::probe(&mut spmc, 0x1_0002);
    spmc.calls.clear();
    let ask = |proxy: &Proxy, spmc: &mut Spmc, req: u64| {
        let mut regs = r(&[FFA_VERSION, req]);
        let _ = proxy.handle(&mut regs, 0, no_memory(), spmc);
        regs[0]
    };
    assert_eq!(ask(&proxy, &mut spmc, 0x1_0001), 0x1_0001);
    assert_eq!(
        ask(&proxy, &mut spmc, 0x1_0002),
        0x1_0002,
        "renegotiated up"
    );
    assert_eq!(
        spmc.calls,
        [r(&[FFA_VERSION, 0x1_0001]), r(&[FFA_VERSION, 0x1_0002])],
        "the SPMC is told each change"
    );
    assert_eq!(
        ask(&proxy, &mut spmc, 0x1_0001),
        0x1_0001,
        "renegotiated down"
    );
    assert_eq!(proxy.negotiated(), Some((Version::V1_1, false)));

    let mut regs = r(&[FFA_ID_GET]);
    let _ = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
    assert_eq!(
        proxy.negotiated(),
        Some((Version::V1_1, true)),
        "final after ID_GET"
    );
    spmc.calls.clear();
    assert_eq!(
        ask(&proxy, &mut spmc, 0x1_0002),
        0x1_0001,
        "higher request: negotiated"
    );
    assert_eq!(ask(&proxy, &mut spmc, 0x1_0001), 0x1_0001, "same request");
    assert_eq!(
        ask(&proxy, &mut spmc, 0x1_0000),
        SMCCC_NOT_SUPPORTED,
        "downgrade after final"
    );
    assert_eq!(
        ask(&proxy, &mut spmc, 0x2_0000),
        SMCCC_NOT_SUPPORTED,
        "other major"
    );
    assert!(spmc.calls.is_empty(), "no SPMC traffic after final");
    // The v1.1 schema now applies: REQ2 does not exist, x8-x17 are ignored.
    assert_not_supported(&proxy, &mut spmc, r(&[DIRECT_REQ2, 0x8001]), "REQ2 at v1.1");
}

#[test]
fn firmware_1_1_caps_the_proxy_version() {
    let mut spmc = Spmc::new();
    spmc.version = 0x1_0001;
    let proxy = Proxy::probe(&mut spmc, 0x1_0002);
    assert_eq!(
        proxy.state(),
        State::On {
            firmware: 0x1_0001,
            max: Version::V1_1,
            spmc_id: Some(0x8000),
        }
    );
    spmc.calls.clear();
    let mut regs = r(&[FFA_VERSION, 0x1_0002]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Emulated
    );
    assert_eq!(regs, r(&[0x1_0001]));
    assert!(
        spmc.calls.is_empty(),
        "no need to ask: the SPMC already speaks 1.1"
    );
}

// ---------------------------------------------------------------------------------------
// SMCCC hygiene
// ---------------------------------------------------------------------------------------

fn assert_hygiene_rejected(x0: u64, imm: u16, reason: Reason) {
    let (proxy, mut spmc) = proxy_at(2);
    let mut regs = r(&[x0, 0x8001]);
    let outcome = proxy.handle(&mut regs, imm, no_memory(), &mut spmc);
    assert!(
        matches!(outcome, Outcome::Rejected(rec) if rec.reason == reason),
        "x0 {x0:#x} imm {imm}: {outcome:?}"
    );
    assert_eq!(
        regs,
        r(&[SMCCC_NOT_SUPPORTED]),
        "x0 {x0:#x} imm {imm}: reply"
    );
    assert!(spmc.calls.is_empty(), "x0 {x0:#x} imm {imm}: forwarded");
}

#[test]
fn smc_with_nonzero_immediate_is_rejected() {
    assert_hygiene_rejected(DIRECT_REQ_64, 1, Reason::Immediate(1));
    assert_hygiene_rejected(FFA_VERSION, 0xFFFF, Reason::Immediate(0xFFFF));
}

#[test]
fn function_id_with_upper_bits_is_rejected() {
    assert_hygiene_rejected(1 << 32 | DIRECT_REQ_64, 0, Reason::FunctionIdUpperBits);
    assert_hygiene_rejected(
        0xFFFF_FFFF_0000_0000 | FFA_VERSION,
        0,
        Reason::FunctionIdUpperBits,
    );
}

#[test]
fn malformed_function_ids_are_rejected() {
    assert_hygiene_rejected(0x8402_006F, 0, Reason::ReservedIdBits);
    assert_hygiene_rejected(0x8480_0063, 0, Reason::ReservedIdBits);
    assert_hygiene_rejected(0x0400_006F, 0, Reason::YieldingCall);
}

#[test]
fn call_hint_is_stripped_and_the_canonical_id_forwarded() {
    let (proxy, mut spmc) = proxy_at(2);
    assert_forwarded_as(
        &proxy,
        &mut spmc,
        r(&[0xC401_006F, 0x8001, 0, 5]),
        r(&[DIRECT_REQ_64, 0x8001, 0, 5]),
    );
    let mut regs = r(&[0x8401_0063, 0x1_0002]);
    assert_eq!(
        proxy.handle(&mut regs, 0, no_memory(), &mut spmc),
        Outcome::Emulated,
        "VERSION with hint"
    );
    assert_eq!(regs[0], 0x1_0002);
}

#[test]
fn is_ffa_call_claims_the_whole_ffa_range() {
    for id in [
        0x8400_0060,
        0x8400_0063,
        0xC400_006F,
        0x8400_00FF,
        0x8401_0063,
        0x0400_0063,
    ] {
        assert!(Proxy::is_ffa_call(id), "{id:#x} is in the FF-A range");
    }
    for id in [
        0x8400_005F,
        0x8400_0100,
        0x8500_0063,
        0x8400_0000,
        0xC400_0003,
        0x8600_0063,
    ] {
        assert!(!Proxy::is_ffa_call(id), "{id:#x} is not FF-A");
    }
}

// ---------------------------------------------------------------------------------------
// Audit trail
// ---------------------------------------------------------------------------------------

#[test]
fn counters_prove_rejected_calls_never_reached_the_spmc() {
    let (proxy, mut spmc) = proxy_at(2);
    let calls = [
        r(&[DIRECT_REQ_64, 0x8001]),
        r(&[DIRECT_REQ_64, 0x0001_8001]),
        r(&[DIRECT_REQ_64, 0x8001, 1]),
        r(&[NOTIF_BIND, 0x8001_0001, 0, 1]),
        r(&[NOTIF_BIND, 0x8001_0000, 0, 1]),
        r(&[MEM_SHARE_32]),
        r(&[FFA_ID_GET]),
    ];
    for mut c in calls {
        let _ = proxy.handle(&mut c, 0, no_memory(), &mut spmc);
    }
    assert_eq!(
        counts(&proxy, DIRECT_REQ_64),
        Counts {
            forwarded: 1,
            rejected: 2,
            ..Counts::default()
        }
    );
    assert_eq!(
        counts(&proxy, NOTIF_BIND),
        Counts {
            forwarded: 1,
            rejected: 1,
            ..Counts::default()
        }
    );
    assert_eq!(counts(&proxy, MEM_SHARE_32).unsupported, 1);
    assert_eq!(counts(&proxy, FFA_ID_GET).emulated, 1);
    let total = proxy.counters().total();
    assert_eq!(
        total.forwarded as usize,
        spmc.calls.len(),
        "forwarded == SPMC calls"
    );
    let listed: Vec<(u32, &str, Counts)> = proxy.counters().iter().collect();
    assert!(
        listed
            .iter()
            .any(|(id, name, c)| *id == fid::MSG_SEND_DIRECT_REQ_64
                && *name == "FFA_MSG_SEND_DIRECT_REQ"
                && c.rejected == 2)
    );
}

#[test]
fn rejection_record_names_function_register_and_field() {
    let (proxy, mut spmc) = proxy_at(1);
    let mut regs = r(&[NOTIF_BIND, 0x8001_0001, 0, 1]);
    let outcome = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
    let line = outcome.rejection().expect("rejected").to_string();
    assert_eq!(
        line,
        "ffa: FFA_NOTIFICATION_BIND (0x8400007f) rejected: x1[15:0] receiver endpoint ID = \
         0x1: must be the host's endpoint ID 0"
    );
    let mut regs = r(&[DIRECT_REQ_32, 0x8001, 0, 0, 0, 1 << 33]);
    let line = proxy
        .handle(&mut regs, 0, no_memory(), &mut spmc)
        .rejection()
        .expect("rejected")
        .to_string();
    assert!(
        line.contains("x5[63:32] upper half (SMC32 call) = 0x2"),
        "{line}"
    );
    let mut regs = r(&[NOTIF_GET, 0, 0b10]);
    let line = proxy
        .handle(&mut regs, 0, no_memory(), &mut spmc)
        .rejection()
        .expect("rejected")
        .to_string();
    assert!(
        line.contains("x2[1] VM notification bitmap flag = 0x1"),
        "{line}"
    );
    let mut regs = r(&[NOTIF_SET, 0x8001, 5 << 16, 1]);
    let line = proxy
        .handle(&mut regs, 0, no_memory(), &mut spmc)
        .rejection()
        .expect("rejected")
        .to_string();
    assert!(
        line.contains("x2[31:16] vCPU ID = 0x5: must be zero unless x2[0] is set"),
        "{line}"
    );
    let mut regs = r(&[NOTIF_BIND, 0x8001_0000, 0, 1, 0, 0, 0, 9]);
    let line = proxy
        .handle(&mut regs, 0, no_memory(), &mut spmc)
        .rejection()
        .expect("rejected")
        .to_string();
    assert!(line.contains("x7[31:0] reserved = 0x9"), "{line}");
}

// ---------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------

#[test]
fn proxy_is_shared_by_cpus_without_losing_counts() {
    fn assert_sync<T: Sync>() {}
    assert_sync::<Proxy>();
    let (proxy, _) = proxy_at(2);
    std::thread::scope(|s| {
        for cpu in 0..4u64 {
            let proxy = &proxy;
            s.spawn(move || {
                let mut spmc = Spmc::new();
                for i in 0..500 {
                    let mut ok = r(&[DIRECT_REQ_64, 0x8001, 0, cpu, i]);
                    let _ = proxy.handle(&mut ok, 0, no_memory(), &mut spmc);
                    let mut bad = r(&[DIRECT_REQ_64, 0x0001_8001]);
                    let _ = proxy.handle(&mut bad, 0, no_memory(), &mut spmc);
                }
                assert_eq!(spmc.calls.len(), 500);
            });
        }
    });
    assert_eq!(
        counts(&proxy, DIRECT_REQ_64),
        Counts {
            forwarded: 2000,
            rejected: 2000,
            ..Counts::default()
        }
    );
}

#[test]
fn racing_version_and_calls_settle_on_one_final_version() {
    let mut spmc = Spmc::new();
    let proxy = Proxy::probe(&mut spmc, 0x1_0002);
    std::thread::scope(|s| {
        for cpu in 0..4u64 {
            let proxy = &proxy;
            s.spawn(move || {
                let mut spmc = Spmc::new();
                for i in 0..200u64 {
                    let mut v = r(&[FFA_VERSION, 0x1_0000 | ((cpu + i) % 3)]);
                    let _ = proxy.handle(&mut v, 0, no_memory(), &mut spmc);
                    let mut c = r(&[FFA_ID_GET]);
                    let outcome = proxy.handle(&mut c, 0, no_memory(), &mut spmc);
                    assert!(
                        matches!(
                            outcome,
                            Outcome::Emulated | Outcome::Busy | Outcome::Unsupported
                        ),
                        "{outcome:?}"
                    );
                }
            });
        }
    });
    let (v, is_final) = proxy.negotiated().expect("negotiated");
    assert!(is_final);
    let mut regs = r(&[FFA_VERSION, 0x1_0002]);
    let _ = proxy.handle(&mut regs, 0, no_memory(), &mut spmc);
    assert_eq!(regs[0], u64::from(v.bits()), "final version is stable");
}

// ---------------------------------------------------------------------------------------
// docs/ffa-policy.md
// ---------------------------------------------------------------------------------------

#[test]
fn policy_doc_is_up_to_date() {
    let mut generated = String::new();
    abi::write_policy_markdown(&mut generated).expect("formatting into a String");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ffa-policy.md");
    if std::env::var_os("UPDATE_FFA_POLICY").is_some_and(|v| v == "1") {
        std::fs::write(path, &generated).expect("writing docs/ffa-policy.md");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/ffa-policy.md is stale; regenerate it with\n    \
         UPDATE_FFA_POLICY=1 cargo test -p hypervisor policy_doc_is_up_to_date"
    );
}
