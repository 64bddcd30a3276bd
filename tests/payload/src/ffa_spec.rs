//! The FF-A conformance matrix as data: function IDs, status codes, and for every ABI the
//! proxy validates, the fields that must be zero, from which the bad-call cases are
//! generated.
//!
//! Everything here is written from DEN0077's register layouts and the proxy's decisions as
//! `docs/ffa-decisions.md` states them (`D-...` below), **not** from the hypervisor's ABI
//! table: a test that asked the proxy's table what to expect would prove nothing. Only the
//! numbers are shared: function IDs and status codes come from the `ffa-spec` crate (DEN0077's
//! numbers, the same as Linux's `arm_ffa.h`, Xen's `ffa_private.h` and Hafnium's `ffa.h`).
//!
//! A bad-call case is a valid call (the ABI's base registers) with exactly one field made
//! non-zero, three times per field: its lowest bit, its highest bit, all its bits (one case
//! for a one-bit field). On top of the listed fields, every SMC32 ABI gets the upper halves
//! of x1-x7 and every ABI that does not define x8-x17 gets those (MBZ at v1.2, the version
//! the payload negotiates). Each must be answered `FFA_ERROR(INVALID_PARAMETERS)` (FFA_VERSION:
//! NOT_SUPPORTED in w0, its only error) and never reach the SPMC.
//!
//! Pure data and arithmetic: builds for the host, where the unit tests below check the
//! table's own consistency (no base sets a bit it declares MBZ, names are unique, the matrix
//! is big enough).

/// x0..x17 of an SMCCC v1.2 call or reply.
pub type Regs = [u64; 18];

/// Function IDs and status codes: DEN0077's numbers, shared with the hypervisor through the
/// `ffa-spec` crate (checked there against the spec's table). Only the numbers are shared;
/// every layout and expectation below is this file's own.
pub use ::ffa_spec::{fid, status};

/// The name of an FF-A status code (0: SUCCESS).
pub fn status_name(code: i32) -> &'static str {
    match code {
        0 => "SUCCESS",
        _ => status::name(code).unwrap_or("?"),
    }
}

/// FF-A version 1.2 as FFA_VERSION encodes it (major in [30:16], minor in [15:0]).
pub const VERSION_1_2: u32 = 0x1_0002;
/// FFA_FEATURES feature IDs (bit 31 clear).
pub use ::ffa_spec::feature::{MEI as FEATURE_MEI, NPI as FEATURE_NPI, SRI as FEATURE_SRI};

/// OP-TEE's FF-A endpoint when PARTITION_INFO_GET cannot tell (OP-TEE's default for its
/// logical partition; the SPMC itself is 0x8000).
pub const OPTEE_ENDPOINT_FALLBACK: u16 = 0x8001;
/// OP-TEE's direct-message service IDs (`optee_ffa.h`, in w3): OPTEE_FFA_GET_API_VERSION.
pub const OPTEE_FFA_GET_API_VERSION: u64 = 0;
/// OPTEE_FFA_GET_OS_VERSION.
pub const OPTEE_FFA_GET_OS_VERSION: u64 = 1;
/// OPTEE_FFA_EXCHANGE_CAPABILITIES.
pub const OPTEE_FFA_EXCHANGE_CAPABILITIES: u64 = 2;
/// The notification the good-call and bad-call bases bind (any of the 64 would do).
pub const NOTIFICATION_BIT: u64 = 1 << 5;
/// The MEM_SHARE length (total = fragment, in the TX buffer) the bad-call bases use: one
/// v1.2 descriptor with one receiver and one constituent (48 + 32 + 16 + 16 bytes).
pub const SHARE_DESCRIPTOR_LEN: u64 = 112;

/// The matrix's phases, in the order they run: the number each is marked with for the
/// el-counter QEMU plugin (the marker instruction `hint #0x7b` with x0 = the number, a NOP for
/// the CPU; `tools/el-counter/el-counter.c`) and the name of its `FFA-PHASE:` line. The
/// plugin counts, per phase and outside the hypervisor, the SMCs EL2 makes to EL3: the system
/// test asserts that `not-supported` and `bad` made none.
pub const PHASES: [(u64, &str); 9] = [
    (1, "negotiate"),
    (2, "features"),
    (3, "mailbox"),
    (4, "memory"),
    (5, "direct"),
    (6, "notifications"),
    (7, "hygiene"),
    (8, "not-supported"),
    (9, "bad"),
];
/// The phase marked when the matrix is over (the power-off's SMCs come after it).
pub const PHASE_END: u64 = 10;
/// The one phase of a run at an older negotiated version (`ffa-version=1.0|1.1`), instead
/// of [`PHASES`].
pub const PHASE_LEGACY: (u64, &str) = (11, "legacy");
/// FF-A version 1.0 and 1.1 as FFA_VERSION encodes them.
pub const VERSION_1_0: u32 = 0x1_0000;
/// FF-A version 1.1.
pub const VERSION_1_1: u32 = 0x1_0001;

/// The number of bad-call cases [`for_each_bad_case`] generates (the `bad` phase's count,
/// which the system test asserts; the payload itself counts as it goes).
#[cfg_attr(target_os = "none", allow(dead_code))]
pub fn bad_case_count() -> usize {
    let mut n = 0;
    for_each_bad_case(|_| n += 1);
    n
}

/// What the bases need to know at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctx {
    /// OP-TEE's endpoint ID.
    pub sp: u16,
    /// The payload's TX buffer (4 KiB, page-aligned).
    pub tx: u64,
    /// The payload's RX buffer.
    pub rx: u64,
}

#[cfg(test)]
impl Ctx {
    /// A context for the host unit tests.
    pub const EXAMPLE: Ctx = Ctx {
        sp: OPTEE_ENDPOINT_FALLBACK,
        tx: 0x4810_0000,
        rx: 0x4810_1000,
    };
}

/// One field that must be zero: bits [hi:lo] of x`reg`.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// Register number (1..=17).
    pub reg: usize,
    /// Lowest bit.
    pub lo: u32,
    /// Highest bit.
    pub hi: u32,
    /// What the spec calls it, and why it must be zero.
    pub what: &'static str,
}

impl Field {
    /// The field's bits.
    pub const fn mask(&self) -> u64 {
        let width = self.hi - self.lo + 1;
        let ones = if width >= 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        ones << self.lo
    }
}

const fn f(reg: usize, hi: u32, lo: u32, what: &'static str) -> Field {
    Field { reg, lo, hi, what }
}

/// The answer every bad call of an ABI must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadAnswer {
    /// `FFA_ERROR` (x0 = 0x84000060) with w2 = INVALID_PARAMETERS.
    InvalidParameters,
    /// NOT_SUPPORTED (-1) in w0: FFA_VERSION has no FFA_ERROR return.
    VersionNotSupported,
}

/// An ABI the proxy must validate, as the bad-call generator sees it.
pub struct BadAbi {
    /// Short name, the first part of each case name.
    pub key: &'static str,
    /// Function ID.
    pub fid: u32,
    /// A valid call: every bad case is this with one field made non-zero.
    pub base: fn(&Ctx) -> Regs,
    /// The fields that must be zero (IDs that name the caller, SBZ/MBZ fields, refused flags).
    pub fields: &'static [Field],
    /// SMC32: bits [63:32] of x1-x7 must be zero too (D-SMC32-UPPER).
    pub upper_halves: bool,
    /// x8-x17 are not defined by this ABI: MBZ at v1.2.
    pub high_regs: bool,
    /// The answer.
    pub answer: BadAnswer,
    /// Where the rules come from.
    pub source: &'static str,
}

/// Bits [31:0] of a register the ABI reserves (SBZ) in full.
const fn w(reg: usize) -> Field {
    f(reg, 31, 0, "reserved (SBZ)")
}

/// All 64 bits of a register an SMC64 ABI reserves.
const fn x(reg: usize) -> Field {
    f(reg, 63, 0, "reserved (SBZ)")
}

fn regs(x0: u32, args: &[u64]) -> Regs {
    let mut r = [0; 18];
    r[0] = x0.into();
    r[1..=args.len()].copy_from_slice(args);
    r
}

fn base_version(_: &Ctx) -> Regs {
    regs(fid::VERSION, &[VERSION_1_2.into()])
}
fn base_features(_: &Ctx) -> Regs {
    regs(fid::FEATURES, &[fid::MSG_SEND_DIRECT_REQ_32.into()])
}
fn base_features_sri(_: &Ctx) -> Regs {
    regs(fid::FEATURES, &[FEATURE_SRI.into()])
}
fn base_id_get(_: &Ctx) -> Regs {
    regs(fid::ID_GET, &[])
}
fn base_spm_id_get(_: &Ctx) -> Regs {
    regs(fid::SPM_ID_GET, &[])
}
fn base_rx_release(_: &Ctx) -> Regs {
    regs(fid::RX_RELEASE, &[])
}
fn base_rxtx_unmap(_: &Ctx) -> Regs {
    regs(fid::RXTX_UNMAP, &[])
}
fn base_rxtx_map(c: &Ctx) -> Regs {
    regs(fid::RXTX_MAP_32, &[c.tx, c.rx, 1])
}
fn base_rxtx_map_64(c: &Ctx) -> Regs {
    regs(fid::RXTX_MAP_64, &[c.tx, c.rx, 1])
}
fn base_partition_info_get(_: &Ctx) -> Regs {
    // Nil UUID, count only (w5 bit 0): touches no buffer.
    regs(fid::PARTITION_INFO_GET, &[0, 0, 0, 0, 1])
}
fn base_partition_info_get_regs(_: &Ctx) -> Regs {
    regs(fid::PARTITION_INFO_GET_REGS, &[])
}
fn base_direct_req(c: &Ctx) -> Regs {
    regs(
        fid::MSG_SEND_DIRECT_REQ_32,
        &[c.sp.into(), 0, OPTEE_FFA_GET_API_VERSION],
    )
}
fn base_direct_req_64(c: &Ctx) -> Regs {
    regs(
        fid::MSG_SEND_DIRECT_REQ_64,
        &[c.sp.into(), 0, OPTEE_FFA_GET_API_VERSION],
    )
}
fn base_direct_req2(c: &Ctx) -> Regs {
    regs(fid::MSG_SEND_DIRECT_REQ2, &[c.sp.into(), 0x1234, 0x5678])
}
fn base_bitmap_create(_: &Ctx) -> Regs {
    regs(fid::NOTIFICATION_BITMAP_CREATE, &[0, 4])
}
fn base_bitmap_destroy(_: &Ctx) -> Regs {
    regs(fid::NOTIFICATION_BITMAP_DESTROY, &[])
}
fn base_bind(c: &Ctx) -> Regs {
    regs(
        fid::NOTIFICATION_BIND,
        &[u64::from(c.sp) << 16, 0, NOTIFICATION_BIT, 0],
    )
}
fn base_unbind(c: &Ctx) -> Regs {
    regs(
        fid::NOTIFICATION_UNBIND,
        &[u64::from(c.sp) << 16, 0, NOTIFICATION_BIT, 0],
    )
}
fn base_set(c: &Ctx) -> Regs {
    regs(
        fid::NOTIFICATION_SET,
        &[c.sp.into(), 0, NOTIFICATION_BIT, 0],
    )
}
fn base_get(_: &Ctx) -> Regs {
    // Receiver 0, vCPU 0; SP and SPM framework bitmaps (what Linux sends for VM ID 0).
    regs(fid::NOTIFICATION_GET, &[0, 0x5])
}
fn base_info_get(_: &Ctx) -> Regs {
    regs(fid::NOTIFICATION_INFO_GET_32, &[])
}
fn base_info_get_64(_: &Ctx) -> Regs {
    regs(fid::NOTIFICATION_INFO_GET_64, &[])
}
fn base_run(c: &Ctx) -> Regs {
    regs(fid::RUN, &[u64::from(c.sp) << 16])
}
fn base_mem_share(_: &Ctx) -> Regs {
    regs(
        fid::MEM_SHARE_32,
        &[SHARE_DESCRIPTOR_LEN, SHARE_DESCRIPTOR_LEN, 0, 0],
    )
}
fn base_mem_share_64(_: &Ctx) -> Regs {
    regs(
        fid::MEM_SHARE_64,
        &[SHARE_DESCRIPTOR_LEN, SHARE_DESCRIPTOR_LEN, 0, 0],
    )
}
fn base_mem_reclaim(_: &Ctx) -> Regs {
    // A handle nobody was given: if the call got past the checks it would fail anyway.
    regs(fid::MEM_RECLAIM, &[0x5eed, 0x7, 0])
}

const W1_TO_W7: &[Field] = &[w(1), w(2), w(3), w(4), w(5), w(6), w(7)];

/// Every ABI whose fields the proxy validates (DEN0077's layouts, the decisions named).
pub static BAD_ABIS: &[BadAbi] = &[
    BadAbi {
        key: "version",
        fid: fid::VERSION,
        base: base_version,
        fields: &[
            f(1, 31, 31, "w1 bit 31 (MBZ)"),
            w(2),
            w(3),
            w(4),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        // A caller of any version may ask: x8-x17 are not part of FFA_VERSION's contract.
        high_regs: false,
        answer: BadAnswer::VersionNotSupported,
        source: "DEN0077 FFA_VERSION: w1[31] MBZ, w2-w7 SBZ; errors in w0 (D-VERSION-SCHEMA)",
    },
    BadAbi {
        key: "features",
        fid: fid::FEATURES,
        base: base_features,
        fields: &[
            f(2, 31, 0, "w2 input properties: none defined for DIRECT_REQ"),
            w(3),
            w(4),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077 FFA_FEATURES: w2 only for MEM_RETRIEVE_REQ, w3-w7 SBZ (D-FEATURES)",
    },
    BadAbi {
        key: "features-feature-id",
        fid: fid::FEATURES,
        base: base_features_sri,
        fields: &[
            f(1, 30, 8, "feature ID bits [30:8] (MBZ)"),
            f(2, 31, 0, "w2 input properties of a feature ID"),
        ],
        upper_halves: false,
        high_regs: false,
        answer: BadAnswer::InvalidParameters,
        source: "D-FEATURES: feature IDs forwarded with bits[30:8] and w2 checked",
    },
    BadAbi {
        key: "id-get",
        fid: fid::ID_GET,
        base: base_id_get,
        fields: W1_TO_W7,
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077 FFA_ID_GET: w1-w7 SBZ (OP-TEE does not check w1)",
    },
    BadAbi {
        key: "spm-id-get",
        fid: fid::SPM_ID_GET,
        base: base_spm_id_get,
        fields: W1_TO_W7,
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077 FFA_SPM_ID_GET: w1-w7 SBZ",
    },
    BadAbi {
        key: "rx-release",
        fid: fid::RX_RELEASE,
        base: base_rx_release,
        fields: &[
            f(1, 15, 0, "w1[15:0] VM ID: the caller's, must be 0"),
            f(1, 31, 16, "w1[31:16] reserved"),
            w(2),
            w(3),
            w(4),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "D-ID-FIELD (EDK2 #12563): w1 MBZ from an endpoint",
    },
    BadAbi {
        key: "rxtx-unmap",
        fid: fid::RXTX_UNMAP,
        base: base_rxtx_unmap,
        fields: &[
            f(1, 31, 16, "w1[31:16] endpoint ID: the caller's, must be 0"),
            f(1, 15, 0, "w1[15:0] reserved"),
            w(2),
            w(3),
            w(4),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "D-ID-FIELD (HF w1[31:16]; pKVM, EDK2): w1 MBZ; w2-w7 SBZ",
    },
    BadAbi {
        key: "rxtx-map-32",
        fid: fid::RXTX_MAP_32,
        base: base_rxtx_map,
        fields: &[
            f(3, 31, 6, "w3[31:6] above the 6-bit page count"),
            w(4),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077 FFA_RXTX_MAP: w3[31:6] MBZ, w4-w7 SBZ",
    },
    BadAbi {
        key: "rxtx-map-64",
        fid: fid::RXTX_MAP_64,
        base: base_rxtx_map_64,
        fields: &[
            f(3, 31, 6, "w3[31:6] above the 6-bit page count"),
            f(3, 63, 32, "x3[63:32]: the page count is w3"),
            x(4),
            x(5),
            x(6),
            x(7),
        ],
        upper_halves: false,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077 FFA_RXTX_MAP: w3[31:6] MBZ, x4-x7 SBZ",
    },
    BadAbi {
        key: "partition-info-get",
        fid: fid::PARTITION_INFO_GET,
        base: base_partition_info_get,
        fields: &[f(5, 31, 1, "w5 flags [31:1] (MBZ from v1.1)"), w(6), w(7)],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077 FFA_PARTITION_INFO_GET: w5[31:1] MBZ (HF), w6-w7 SBZ",
    },
    BadAbi {
        key: "partition-info-get-regs",
        fid: fid::PARTITION_INFO_GET_REGS,
        base: base_partition_info_get_regs,
        fields: &[
            f(3, 63, 32, "x3[63:32] above start index and tag"),
            x(4),
            x(5),
            x(6),
            x(7),
        ],
        upper_halves: false,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077 v1.2 FFA_PARTITION_INFO_GET_REGS: x3[63:32], x4-x17 SBZ",
    },
    BadAbi {
        key: "direct-req-32",
        fid: fid::MSG_SEND_DIRECT_REQ_32,
        base: base_direct_req,
        fields: &[
            f(1, 31, 16, "w1[31:16] sender: the caller, must be 0"),
            f(
                2,
                31,
                0,
                "w2 flags: no partition-message flags; framework messages not the host's",
            ),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "D-SENDER (sender 0), D-DIRECT-FLAGS (w2 MBZ, HF), x8-x17 SBZ at v1.2",
    },
    BadAbi {
        key: "direct-req-64",
        fid: fid::MSG_SEND_DIRECT_REQ_64,
        base: base_direct_req_64,
        fields: &[
            f(1, 31, 16, "w1[31:16] sender: the caller, must be 0"),
            f(1, 63, 32, "x1[63:32]: the IDs are w1"),
            f(
                2,
                31,
                0,
                "w2 flags: no partition-message flags; framework messages not the host's",
            ),
            f(2, 63, 32, "x2[63:32]: the flags are w2"),
        ],
        upper_halves: false,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "D-SENDER (sender 0), D-DIRECT-FLAGS (w2 MBZ, HF), x8-x17 SBZ at v1.2",
    },
    BadAbi {
        key: "direct-req2",
        fid: fid::MSG_SEND_DIRECT_REQ2,
        base: base_direct_req2,
        fields: &[
            f(1, 31, 16, "w1[31:16] sender: the caller, must be 0"),
            f(1, 63, 32, "x1[63:32]: the IDs are w1"),
        ],
        upper_halves: false,
        // x4-x17 are the payload.
        high_regs: false,
        answer: BadAnswer::InvalidParameters,
        source: "D-SENDER: the REQ2 sender is the caller (Xen, Android pKVM)",
    },
    BadAbi {
        key: "notif-bitmap-create",
        fid: fid::NOTIFICATION_BITMAP_CREATE,
        base: base_bitmap_create,
        fields: &[
            f(1, 15, 0, "w1[15:0] VM ID: the caller's, must be 0"),
            f(1, 31, 16, "w1[31:16] MBZ (Will Deacon, CRATE)"),
            w(3),
            w(4),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077, D-NOTIF-VM-ID: VM ID 0 incl. w1[31:16], w3-w7 SBZ",
    },
    BadAbi {
        key: "notif-bitmap-destroy",
        fid: fid::NOTIFICATION_BITMAP_DESTROY,
        base: base_bitmap_destroy,
        fields: &[
            f(1, 15, 0, "w1[15:0] VM ID: the caller's, must be 0"),
            f(1, 31, 16, "w1[31:16] MBZ"),
            w(2),
            w(3),
            w(4),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077, D-NOTIF-VM-ID: VM ID 0 incl. w1[31:16], w2-w7 SBZ (OP-TEE ignores w2)",
    },
    BadAbi {
        key: "notif-bind",
        fid: fid::NOTIFICATION_BIND,
        base: base_bind,
        fields: &[
            f(1, 15, 0, "w1[15:0] receiver: the caller, must be 0"),
            f(
                2,
                31,
                1,
                "w2 flags [31:1] (only bit 0, per-vCPU, is defined)",
            ),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077, D-NOTIF-VCPU: receiver 0, w2[31:1] MBZ, w5-w7 SBZ",
    },
    BadAbi {
        key: "notif-unbind",
        fid: fid::NOTIFICATION_UNBIND,
        base: base_unbind,
        fields: &[
            f(1, 15, 0, "w1[15:0] receiver: the caller, must be 0"),
            f(2, 31, 0, "w2 flags (MBZ for UNBIND)"),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077, D-NOTIF-VCPU: receiver 0, w2 MBZ, w5-w7 SBZ",
    },
    BadAbi {
        key: "notif-set",
        fid: fid::NOTIFICATION_SET,
        base: base_set,
        fields: &[
            f(1, 31, 16, "w1[31:16] sender: the caller, must be 0"),
            f(
                2,
                1,
                1,
                "w2[1] delay SRI: invalid from the normal world (HF)",
            ),
            f(2, 15, 2, "w2 flags [15:2] (MBZ)"),
            f(
                2,
                31,
                16,
                "w2[31:16] vCPU ID of a global notification (MBZ)",
            ),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077, D-NOTIF-VCPU: sender 0, w2[15:2] MBZ, no delay-SRI from NWd",
    },
    BadAbi {
        key: "notif-get",
        fid: fid::NOTIFICATION_GET,
        base: base_get,
        fields: &[
            f(
                1,
                15,
                0,
                "w1[15:0] receiver: the caller, must be 0 (OPTEE #6518)",
            ),
            f(
                2,
                1,
                1,
                "w2[1] VM bitmap flag: invalid from the normal world (HF SPMC)",
            ),
            f(
                2,
                3,
                3,
                "w2[3] hypervisor bitmap flag: invalid from the normal world",
            ),
            f(2, 31, 4, "w2 flags [31:4] (MBZ, v1.1 EAC0)"),
            w(3),
            w(4),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077, D-NOTIF-GET: receiver 0, w2[31:4] MBZ, no VM/HYP flags",
    },
    BadAbi {
        key: "notif-info-get-32",
        fid: fid::NOTIFICATION_INFO_GET_32,
        base: base_info_get,
        fields: W1_TO_W7,
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077: no arguments, w1-w7 SBZ",
    },
    BadAbi {
        key: "notif-info-get-64",
        fid: fid::NOTIFICATION_INFO_GET_64,
        base: base_info_get_64,
        fields: &[x(1), x(2), x(3), x(4), x(5), x(6), x(7)],
        upper_halves: false,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077: no arguments, x1-x17 SBZ",
    },
    BadAbi {
        key: "run",
        fid: fid::RUN,
        base: base_run,
        fields: &[w(2), w(3), w(4), w(5), w(6), w(7)],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077: w2-w7 SBZ, x8-x17 MBZ at v1.2 (HF; D-HIGH-REGS)",
    },
    BadAbi {
        key: "mem-share-32",
        fid: fid::MEM_SHARE_32,
        base: base_mem_share,
        fields: &[w(5), w(6), w(7)],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077 FFA_MEM_SHARE: w5-w7 SBZ (D-TXBUF-ONLY)",
    },
    BadAbi {
        key: "mem-share-64",
        fid: fid::MEM_SHARE_64,
        base: base_mem_share_64,
        fields: &[
            f(1, 63, 32, "x1[63:32]: the total length is w1"),
            f(2, 63, 32, "x2[63:32]: the fragment length is w2"),
            f(4, 63, 32, "x4[63:32]: the page count is w4"),
            x(5),
            x(6),
            x(7),
        ],
        upper_halves: false,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077 FFA_MEM_SHARE: w1/w2/w4 32-bit, x5-x7 SBZ (D-TXBUF-ONLY)",
    },
    BadAbi {
        key: "mem-reclaim",
        fid: fid::MEM_RECLAIM,
        base: base_mem_reclaim,
        fields: &[
            f(
                3,
                31,
                1,
                "w3 flags [31:1] (zero-memory only; time slicing refused)",
            ),
            w(4),
            w(5),
            w(6),
            w(7),
        ],
        upper_halves: true,
        high_regs: true,
        answer: BadAnswer::InvalidParameters,
        source: "DEN0077 FFA_MEM_RECLAIM: w3[31:2] MBZ, w4-w7 SBZ; w3[1] refused (D-RECLAIM)",
    },
];

/// One generated bad call.
#[derive(Clone, Copy, Debug)]
pub struct BadCase {
    /// Index of the ABI in [`BAD_ABIS`].
    pub abi: usize,
    /// The field made non-zero.
    pub field: Field,
    /// "lo", "hi", "all", or "bit" for a one-bit field.
    pub variant: &'static str,
    /// The value ORed into x`field.reg` of the base.
    pub value: u64,
}

impl BadCase {
    /// The registers to send.
    pub fn regs(&self, ctx: &Ctx) -> Regs {
        let mut r = (BAD_ABIS[self.abi].base)(ctx);
        r[self.field.reg] |= self.value;
        r
    }
}

/// The values a field is tried with.
pub fn variants(field: &Field) -> impl Iterator<Item = (&'static str, u64)> {
    let single = field.lo == field.hi;
    let all = [
        ("lo", 1u64 << field.lo),
        ("hi", 1u64 << field.hi),
        ("all", field.mask()),
    ];
    let one = [("bit", 1u64 << field.lo)];
    let (list, n): ([(&'static str, u64); 3], usize) = if single {
        ([one[0], one[0], one[0]], 1)
    } else {
        (all, 3)
    };
    list.into_iter().take(n)
}

/// Every field of an ABI that must be zero: its listed fields, then (SMC32) the upper
/// halves of x1-x7, then (if undefined) x8-x17.
pub fn fields_of(abi: &BadAbi) -> impl Iterator<Item = Field> + '_ {
    const UPPER: &str = "bits [63:32] of an SMC32 argument";
    const HIGH: &str = "x8-x17 not defined by this ABI (MBZ at v1.2)";
    let upper = (1..=7)
        .filter(move |_| abi.upper_halves)
        .map(|reg| f(reg, 63, 32, UPPER));
    let high = (8..=17)
        .filter(move |_| abi.high_regs)
        .map(|reg| f(reg, 63, 0, HIGH));
    abi.fields.iter().copied().chain(upper).chain(high)
}

/// Calls `each` for every bad case of every ABI, in table order.
pub fn for_each_bad_case(mut each: impl FnMut(BadCase)) {
    for (index, abi) in BAD_ABIS.iter().enumerate() {
        for field in fields_of(abi) {
            for (variant, value) in variants(&field) {
                each(BadCase {
                    abi: index,
                    field,
                    variant,
                    value,
                });
            }
        }
    }
}

/// Writes a case name: `<abi>.x<reg>[<hi>:<lo>].<variant>` (`[<bit>]` for one bit).
pub fn write_case_name(out: &mut impl core::fmt::Write, case: &BadCase) -> core::fmt::Result {
    let Field { reg, lo, hi, .. } = case.field;
    let key = BAD_ABIS[case.abi].key;
    if lo == hi {
        write!(out, "bad.{key}.x{reg}[{lo}].{}", case.variant)
    } else {
        write!(out, "bad.{key}.x{reg}[{hi}:{lo}].{}", case.variant)
    }
}

/// How FFA_FEATURES must answer a query, from D-FEATURES and what OP-TEE 4.10 answers
/// (`core/arch/arm/kernel/thread_spmc.c` `handle_features`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureAnswer {
    /// The proxy emulates the function: SUCCESS from EL2, not forwarded.
    Emulated,
    /// Forwarded; OP-TEE answers SUCCESS.
    ForwardedSuccess,
    /// Forwarded; OP-TEE answers NOT_SUPPORTED (it does not list the function).
    ForwardedNotSupported,
    /// Blocked, a return interface, not the host's, or undefined at v1.2: NOT_SUPPORTED
    /// from EL2, whatever OP-TEE would say.
    Blocked,
}

/// FFA_FEATURES queries: (case key, queried ID, expected answer).
pub static FEATURE_QUERIES: &[(&str, u32, FeatureAnswer)] = {
    use FeatureAnswer::*;
    &[
        // Emulated at EL2 (the mailbox and memory-sharing ABIs: D-ONE-ID).
        ("version", fid::VERSION, Emulated),
        ("features", fid::FEATURES, Emulated),
        ("id-get", fid::ID_GET, Emulated),
        ("rx-release", fid::RX_RELEASE, Emulated),
        ("rxtx-map-32", fid::RXTX_MAP_32, Emulated),
        ("rxtx-map-64", fid::RXTX_MAP_64, Emulated),
        ("rxtx-unmap", fid::RXTX_UNMAP, Emulated),
        ("partition-info-get", fid::PARTITION_INFO_GET, Emulated),
        ("mem-share-32", fid::MEM_SHARE_32, Emulated),
        ("mem-share-64", fid::MEM_SHARE_64, Emulated),
        ("mem-lend-32", fid::MEM_LEND_32, Emulated),
        ("mem-lend-64", fid::MEM_LEND_32 | fid::SMC64, Emulated),
        ("mem-reclaim", fid::MEM_RECLAIM, Emulated),
        ("mem-frag-tx", fid::MEM_FRAG_TX, Emulated),
        // Forwarded; OP-TEE lists them.
        ("spm-id-get", fid::SPM_ID_GET, ForwardedSuccess),
        (
            "direct-req-32",
            fid::MSG_SEND_DIRECT_REQ_32,
            ForwardedSuccess,
        ),
        (
            "direct-req-64",
            fid::MSG_SEND_DIRECT_REQ_64,
            ForwardedSuccess,
        ),
        (
            "notif-bitmap-create",
            fid::NOTIFICATION_BITMAP_CREATE,
            ForwardedSuccess,
        ),
        (
            "notif-bitmap-destroy",
            fid::NOTIFICATION_BITMAP_DESTROY,
            ForwardedSuccess,
        ),
        ("notif-bind", fid::NOTIFICATION_BIND, ForwardedSuccess),
        ("notif-unbind", fid::NOTIFICATION_UNBIND, ForwardedSuccess),
        ("notif-set", fid::NOTIFICATION_SET, ForwardedSuccess),
        ("notif-get", fid::NOTIFICATION_GET, ForwardedSuccess),
        (
            "notif-info-get-32",
            fid::NOTIFICATION_INFO_GET_32,
            ForwardedSuccess,
        ),
        (
            "notif-info-get-64",
            fid::NOTIFICATION_INFO_GET_64,
            ForwardedSuccess,
        ),
        // Forwarded; OP-TEE 4.10 does not list them.
        ("run", fid::RUN, ForwardedNotSupported),
        (
            "partition-info-get-regs",
            fid::PARTITION_INFO_GET_REGS,
            ForwardedNotSupported,
        ),
        (
            "direct-req2",
            fid::MSG_SEND_DIRECT_REQ2,
            ForwardedNotSupported,
        ),
        // Blocked: both conventions where both exist (D-BOTH-CONVS).
        ("error", fid::ERROR, Blocked),
        ("success-32", fid::SUCCESS_32, Blocked),
        ("success-64", fid::SUCCESS_64, Blocked),
        ("interrupt", fid::INTERRUPT, Blocked),
        ("msg-poll", fid::MSG_POLL, Blocked),
        ("msg-wait", fid::MSG_WAIT, Blocked),
        ("yield", fid::YIELD, Blocked),
        ("msg-send", fid::MSG_SEND, Blocked),
        ("direct-resp-32", fid::MSG_SEND_DIRECT_RESP_32, Blocked),
        ("direct-resp-64", fid::MSG_SEND_DIRECT_RESP_64, Blocked),
        ("mem-donate-32", fid::MEM_DONATE_32, Blocked),
        ("mem-donate-64", fid::MEM_DONATE_32 | fid::SMC64, Blocked),
        ("mem-retrieve-req-32", fid::MEM_RETRIEVE_REQ_32, Blocked),
        (
            "mem-retrieve-req-64",
            fid::MEM_RETRIEVE_REQ_32 | fid::SMC64,
            Blocked,
        ),
        ("mem-retrieve-resp", fid::MEM_RETRIEVE_RESP, Blocked),
        ("mem-relinquish", fid::MEM_RELINQUISH, Blocked),
        ("mem-op-pause", fid::MEM_OP_PAUSE, Blocked),
        ("mem-op-resume", fid::MEM_OP_RESUME, Blocked),
        ("mem-frag-rx", fid::MEM_FRAG_RX, Blocked),
        ("normal-world-resume", fid::NORMAL_WORLD_RESUME, Blocked),
        ("rx-acquire", fid::RX_ACQUIRE, Blocked),
        ("msg-send2", fid::MSG_SEND2, Blocked),
        (
            "secondary-ep-register-32",
            fid::SECONDARY_EP_REGISTER_32,
            Blocked,
        ),
        (
            "secondary-ep-register-64",
            fid::SECONDARY_EP_REGISTER_32 | fid::SMC64,
            Blocked,
        ),
        ("mem-perm-get-32", fid::MEM_PERM_GET_32, Blocked),
        (
            "mem-perm-get-64",
            fid::MEM_PERM_GET_32 | fid::SMC64,
            Blocked,
        ),
        ("mem-perm-set-32", fid::MEM_PERM_SET_32, Blocked),
        (
            "mem-perm-set-64",
            fid::MEM_PERM_SET_32 | fid::SMC64,
            Blocked,
        ),
        ("console-log-32", fid::CONSOLE_LOG_32, Blocked),
        ("console-log-64", fid::CONSOLE_LOG_32 | fid::SMC64, Blocked),
        ("el3-intr-handle", fid::EL3_INTR_HANDLE, Blocked),
        ("direct-resp2", fid::MSG_SEND_DIRECT_RESP2, Blocked),
        // Conventions that do not exist at v1.2, and IDs past the table.
        ("version-64", fid::VERSION | fid::SMC64, Blocked),
        ("id-get-64", fid::ID_GET | fid::SMC64, Blocked),
        (
            "notif-bind-64",
            fid::NOTIFICATION_BIND | fid::SMC64,
            Blocked,
        ),
        (
            "partition-info-get-regs-32",
            fid::PARTITION_INFO_GET_REGS & !fid::SMC64,
            Blocked,
        ),
        (
            "direct-req2-32",
            fid::MSG_SEND_DIRECT_REQ2 & !fid::SMC64,
            Blocked,
        ),
        ("run-64", fid::RUN | fid::SMC64, Blocked),
        // The SVE hint belongs in x0 only: in w1 it makes an ID no function has.
        (
            "direct-req-64-sve-hint-bit",
            fid::MSG_SEND_DIRECT_REQ_64 | 1 << 16,
            Blocked,
        ),
        ("unknown-0x8f", 0x8400_008F, Blocked),
        ("unknown-0xff", 0x8400_00FF, Blocked),
        // Feature IDs (bit 31 clear): NPI and SRI forwarded (D-FEATURES); MEI is a
        // Secure-partition feature; 0 and 4.. are not defined at v1.2.
        ("feature-npi", FEATURE_NPI, ForwardedNotSupported),
        ("feature-sri", FEATURE_SRI, ForwardedSuccess),
        ("feature-mei", FEATURE_MEI, Blocked),
        ("feature-0", 0, Blocked),
        ("feature-4", 4, Blocked),
        ("feature-0xff", 0xFF, Blocked),
    ]
};

/// Calls the host may never make, or that are not defined at v1.2: (case key, x0, x1).
/// Each must get `FFA_ERROR(NOT_SUPPORTED)` and reach nothing.
pub static NOT_SUPPORTED_CALLS: &[(&str, u32, u64)] = &[
    // Return interfaces and Secure-world-only calls (docs/ffa-policy.md, per function).
    ("error", fid::ERROR, 0),
    ("success-32", fid::SUCCESS_32, 0),
    ("success-64", fid::SUCCESS_64, 0),
    ("interrupt", fid::INTERRUPT, 0),
    ("msg-wait", fid::MSG_WAIT, 0),
    ("yield", fid::YIELD, 0),
    ("normal-world-resume", fid::NORMAL_WORLD_RESUME, 0),
    ("rx-acquire", fid::RX_ACQUIRE, 0),
    (
        "secondary-ep-register-32",
        fid::SECONDARY_EP_REGISTER_32,
        0x4800_0000,
    ),
    (
        "secondary-ep-register-64",
        fid::SECONDARY_EP_REGISTER_32 | fid::SMC64,
        0x4800_0000,
    ),
    ("mem-perm-get-32", fid::MEM_PERM_GET_32, 0x4800_0000),
    (
        "mem-perm-get-64",
        fid::MEM_PERM_GET_32 | fid::SMC64,
        0x4800_0000,
    ),
    ("mem-perm-set-32", fid::MEM_PERM_SET_32, 0x4800_0000),
    (
        "mem-perm-set-64",
        fid::MEM_PERM_SET_32 | fid::SMC64,
        0x4800_0000,
    ),
    ("console-log-32", fid::CONSOLE_LOG_32, 1),
    ("console-log-64", fid::CONSOLE_LOG_32 | fid::SMC64, 1),
    ("el3-intr-handle", fid::EL3_INTR_HANDLE, 0),
    // v1.0 indirect messaging, removed in v1.1.
    ("msg-poll", fid::MSG_POLL, 0),
    ("msg-send", fid::MSG_SEND, 0),
    // The memory and messaging ABIs not implemented (D-NO-INDIRECT for MSG_SEND2).
    ("msg-send2", fid::MSG_SEND2, 0),
    ("mem-donate-32", fid::MEM_DONATE_32, 0),
    ("mem-donate-64", fid::MEM_DONATE_32 | fid::SMC64, 0),
    ("mem-retrieve-req-32", fid::MEM_RETRIEVE_REQ_32, 0),
    (
        "mem-retrieve-req-64",
        fid::MEM_RETRIEVE_REQ_32 | fid::SMC64,
        0,
    ),
    ("mem-retrieve-resp", fid::MEM_RETRIEVE_RESP, 0),
    ("mem-relinquish", fid::MEM_RELINQUISH, 0),
    ("mem-op-pause", fid::MEM_OP_PAUSE, 0),
    ("mem-op-resume", fid::MEM_OP_RESUME, 0),
    ("mem-frag-rx", fid::MEM_FRAG_RX, 0),
    // Not in FF-A v1.2 at all (SMC64 twins of SMC32-only functions, v1.3 additions,
    // numbers past the last function).
    ("version-64", fid::VERSION | fid::SMC64, 0x1_0002),
    ("id-get-64", fid::ID_GET | fid::SMC64, 0),
    (
        "features-64",
        fid::FEATURES | fid::SMC64,
        fid::MSG_SEND_DIRECT_REQ_32 as u64,
    ),
    (
        "notif-bind-64",
        fid::NOTIFICATION_BIND | fid::SMC64,
        0x8001 << 16,
    ),
    ("notif-get-64", fid::NOTIFICATION_GET | fid::SMC64, 0),
    (
        "partition-info-get-regs-32",
        fid::PARTITION_INFO_GET_REGS & !fid::SMC64,
        0,
    ),
    (
        "direct-req2-32",
        fid::MSG_SEND_DIRECT_REQ2 & !fid::SMC64,
        0x8001,
    ),
    (
        "direct-resp2-32",
        fid::MSG_SEND_DIRECT_RESP2 & !fid::SMC64,
        0,
    ),
    ("error-64", fid::ERROR | fid::SMC64, 0),
    ("msg-wait-64", fid::MSG_WAIT | fid::SMC64, 0),
    ("run-64", fid::RUN | fid::SMC64, 0x8001 << 16),
    ("unknown-0x8f", 0x8400_008F, 0),
    ("unknown-0x90", 0x8400_0090, 0),
    ("unknown-0xa0", 0x8400_00A0, 0),
    ("unknown-0xfe", 0x8400_00FE, 0),
    ("unknown-0xff", 0x8400_00FF, 0),
    ("unknown-64-0x8f", 0xC400_008F, 0),
    ("unknown-64-0xff", 0xC400_00FF, 0),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn count() -> usize {
        bad_case_count()
    }

    #[test]
    fn the_matrix_is_big_enough() {
        let total = count() + FEATURE_QUERIES.len() + NOT_SUPPORTED_CALLS.len();
        assert!(total >= 300, "{total} cases");
    }

    #[test]
    fn phases_are_numbered_in_order_and_named_once() {
        for (i, (id, name)) in PHASES.iter().enumerate() {
            assert_eq!(*id, i as u64 + 1, "{name}");
            assert_eq!(PHASES.iter().filter(|(_, n)| n == name).count(), 1);
        }
        assert_eq!(PHASE_END, PHASES.len() as u64 + 1);
        // The plugin keeps 64 phases; 0 is "before the first mark".
        const { assert!(PHASE_END < 64) };
    }

    #[test]
    fn no_base_sets_a_bit_it_declares_zero() {
        for abi in BAD_ABIS {
            let base = (abi.base)(&Ctx::EXAMPLE);
            assert_eq!(base[0], u64::from(abi.fid), "{}", abi.key);
            for field in fields_of(abi) {
                assert_eq!(
                    base[field.reg] & field.mask(),
                    0,
                    "{}: base x{} has bits in {}",
                    abi.key,
                    field.reg,
                    field.what
                );
            }
        }
    }

    #[test]
    fn every_case_changes_the_call_within_its_field() {
        for_each_bad_case(|case| {
            let base = (BAD_ABIS[case.abi].base)(&Ctx::EXAMPLE);
            let sent = case.regs(&Ctx::EXAMPLE);
            assert_ne!(case.value, 0);
            assert_eq!(case.value & !case.field.mask(), 0);
            for (reg, (a, b)) in base.iter().zip(sent.iter()).enumerate() {
                if reg != case.field.reg {
                    assert_eq!(a, b);
                } else {
                    assert_ne!(a, b);
                }
            }
        });
    }

    #[test]
    fn case_names_are_unique() {
        let mut names = std::collections::BTreeSet::new();
        for_each_bad_case(|case| {
            let mut name = String::new();
            write_case_name(&mut name, &case).unwrap();
            assert!(!name.contains(' '), "{name}");
            assert!(names.insert(name.clone()), "duplicate {name}");
        });
        let keys: std::collections::BTreeSet<_> =
            FEATURE_QUERIES.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(keys.len(), FEATURE_QUERIES.len());
        let keys: std::collections::BTreeSet<_> =
            NOT_SUPPORTED_CALLS.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(keys.len(), NOT_SUPPORTED_CALLS.len());
    }

    #[test]
    fn variants_are_lowest_highest_and_all() {
        let field = f(2, 31, 4, "x");
        let v: Vec<_> = variants(&field).collect();
        assert_eq!(v, [("lo", 1 << 4), ("hi", 1 << 31), ("all", 0xFFFF_FFF0)]);
        let bit = f(2, 3, 3, "x");
        assert_eq!(variants(&bit).collect::<Vec<_>>(), [("bit", 8)]);
        let full = f(9, 63, 0, "x");
        assert_eq!(variants(&full).last(), Some(("all", u64::MAX)));
    }

    #[test]
    fn smc32_abis_check_upper_halves_and_smc64_ones_do_not_repeat_them() {
        for abi in BAD_ABIS {
            let smc64 = abi.fid & fid::SMC64 != 0;
            assert_eq!(abi.upper_halves, !smc64 && abi.key != "features-feature-id");
        }
    }

    #[test]
    fn every_validated_abi_is_also_queried_with_ffa_features() {
        for abi in BAD_ABIS {
            assert!(
                FEATURE_QUERIES.iter().any(|(_, id, _)| *id == abi.fid),
                "{} ({:#x}) has no FFA_FEATURES case",
                abi.key,
                abi.fid
            );
        }
    }

    #[test]
    fn per_abi_counts() {
        // Printed with `cargo test -- --nocapture`: the numbers the report quotes.
        for (index, abi) in BAD_ABIS.iter().enumerate() {
            let mut n = 0;
            for_each_bad_case(|case| n += usize::from(case.abi == index));
            println!("{:28} {n}", abi.key);
            assert!(n > 0);
        }
        println!("bad-field cases: {}", count());
    }

    /// Every decision this oracle cites (`D-...`) is stated in `docs/ffa-decisions.md`.
    #[test]
    fn cited_decisions_are_defined() {
        let decisions = include_str!("../../../docs/ffa-decisions.md");
        let mut cited = 0;
        for source in [
            include_str!("ffa_spec.rs"),
            include_str!("ffa_cases.rs"),
            include_str!("race.rs"),
        ] {
            for (at, _) in source.match_indices("D-") {
                let before = source[..at].chars().next_back();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') {
                    continue;
                }
                let id: String = source[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-')
                    .collect();
                let id = id.trim_end_matches('-');
                if id.len() > 2 {
                    assert!(
                        decisions.contains(&format!("\n### {id}\n")),
                        "{id} is not in docs/ffa-decisions.md"
                    );
                    cited += 1;
                }
            }
        }
        assert!(cited > 20, "{cited}");
    }
}
