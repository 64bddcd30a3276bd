//! The FF-A ABI table: the single source of truth of the proxy.
//!
//! One row per FF-A function number the proxy knows. A row gives both calling conventions
//! (SMC32 `0x84xx_xxxx`, SMC64 `0xC4xx_xxxx`), the version that introduced the function, its
//! register schema (which bits of which register carry which field, which must be zero, which
//! name the caller), its policy (forward after checks, emulate at EL2, block) and the spec
//! section it follows. Where the sources disagree (reference §4.1) the row's `note` records the
//! decision and its reason.
//!
//! Everything else derives from this table: validation ([`super::validate`]) runs on masks
//! compiled from it at build time, `FFA_FEATURES` answers from it, and `docs/ffa-policy.md` is
//! generated from it by [`write_policy_markdown`].
//!
//! # Reading a schema
//! Registers are numbered as in the spec: `x1`..`x17`. A field of width 64 is "the whole
//! register": 32 bits in an SMC32 call (`wN`), 64 bits in an SMC64 call (`xN`). Every bit of
//! `x1`..`x7` that no carried field covers must be zero; so must `x8`..`x17` at v1.2 unless a
//! field covers them (before v1.2 they are not part of an FF-A call: ignored and never
//! forwarded). Reserved and refused fields are listed explicitly so that a reader can check a
//! row against DEN0077 and so that a rejection can name the field; listing them changes nothing
//! in the masks.
//!
//! Section names, not numbers: the spec text was not at hand when this table was written (the
//! team reference marks such rules "[spec, unverified]"). Each ABI has its own section in
//! DEN0077 titled with its name; `spec` names it and the implementations the row was checked
//! against (tags of `ffa-reference.md` §0).

use core::fmt;

/// The host's FF-A endpoint ID. The host is the only normal-world endpoint and shares ID 0 with
/// the hypervisor at the SPMC (reference T1).
pub const HOST_ID: u16 = 0;

// The validator checks "names the caller" fields with the same masks as MBZ fields, which is
// only right because the host's ID is 0. Changing HOST_ID needs a comparison in `validate`.
const _: () = assert!(HOST_ID == 0);

/// Well-known function IDs that the proxy's own code uses (replies, probing, emulation).
pub mod fid {
    /// `FFA_ERROR` (SMC32 only up to v1.2).
    pub const ERROR: u32 = 0x8400_0060;
    /// `FFA_SUCCESS`, SMC32 convention.
    pub const SUCCESS_32: u32 = 0x8400_0061;
    /// `FFA_SUCCESS`, SMC64 convention.
    pub const SUCCESS_64: u32 = 0xC400_0061;
    /// `FFA_INTERRUPT`.
    pub const INTERRUPT: u32 = 0x8400_0062;
    /// `FFA_VERSION`.
    pub const VERSION: u32 = 0x8400_0063;
    /// `FFA_FEATURES`.
    pub const FEATURES: u32 = 0x8400_0064;
    /// `FFA_RX_RELEASE`.
    pub const RX_RELEASE: u32 = 0x8400_0065;
    /// `FFA_RXTX_MAP`, SMC64.
    pub const RXTX_MAP_64: u32 = 0xC400_0066;
    /// `FFA_ID_GET`.
    pub const ID_GET: u32 = 0x8400_0069;
    /// `FFA_MSG_WAIT` (as a reply to `FFA_RUN`).
    pub const MSG_WAIT: u32 = 0x8400_006B;
    /// `FFA_YIELD`.
    pub const YIELD: u32 = 0x8400_006C;
    /// `FFA_MSG_SEND_DIRECT_RESP`, SMC32.
    pub const DIRECT_RESP_32: u32 = 0x8400_0070;
    /// `FFA_MSG_SEND_DIRECT_RESP`, SMC64.
    pub const DIRECT_RESP_64: u32 = 0xC400_0070;
    /// `FFA_MSG_SEND_DIRECT_RESP2` (v1.2, SMC64 only).
    pub const DIRECT_RESP2: u32 = 0xC400_008E;
    /// `FFA_MEM_LEND`, SMC32 convention (SMC64: bit 30 set).
    pub const MEM_LEND_32: u32 = 0x8400_0072;
    /// `FFA_MEM_RECLAIM`.
    pub const MEM_RECLAIM: u32 = 0x8400_0077;
    /// `FFA_MEM_FRAG_RX` (a reply to a fragmented transaction).
    pub const MEM_FRAG_RX: u32 = 0x8400_007A;
    /// `FFA_SPM_ID_GET`.
    pub const SPM_ID_GET: u32 = 0x8400_0085;
}

/// FF-A status codes carried in `w2` of `FFA_ERROR` (and, for `FFA_VERSION`, in `w0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// The ABI or feature is not implemented, not offered to this caller, or not in its version.
    NotSupported = -1,
    /// A field check failed.
    InvalidParameters = -2,
    /// Out of memory.
    NoMemory = -3,
    /// Try again: the proxy is in the middle of a version negotiation on another CPU.
    Busy = -4,
    /// Interrupted.
    Interrupted = -5,
    /// Denied.
    Denied = -6,
    /// Retry.
    Retry = -7,
    /// The SPMC's reply did not fit the ABI; the proxy dropped it.
    Aborted = -8,
    /// No data.
    NoData = -9,
}

impl Status {
    /// The status as the 32-bit register value `w2` of `FFA_ERROR` carries (upper half zero).
    pub const fn w(self) -> u64 {
        self as i32 as u32 as u64
    }

    /// The spec's name.
    pub const fn name(self) -> &'static str {
        match self {
            Status::NotSupported => "NOT_SUPPORTED",
            Status::InvalidParameters => "INVALID_PARAMETERS",
            Status::NoMemory => "NO_MEMORY",
            Status::Busy => "BUSY",
            Status::Interrupted => "INTERRUPTED",
            Status::Denied => "DENIED",
            Status::Retry => "RETRY",
            Status::Aborted => "ABORTED",
            Status::NoData => "NO_DATA",
        }
    }
}

/// The FF-A versions this proxy speaks. Ordered: `V1_0 < V1_1 < V1_2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// v1.0 (DEN0077A 1.0).
    V1_0 = 0,
    /// v1.1: notifications, `FFA_MSG_SEND2`, `FFA_SPM_ID_GET`.
    V1_1 = 1,
    /// v1.2: SMCCC v1.2 register file (`x8`..`x17`), `FFA_MSG_SEND_DIRECT_REQ2`.
    V1_2 = 2,
}

impl Version {
    /// All versions, oldest first (index = `self as usize`).
    pub const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    /// The newest version this proxy implements.
    pub const LATEST: Version = Version::V1_2;

    /// The minor number (major is always 1).
    pub const fn minor(self) -> u16 {
        self as u16
    }

    /// The `FFA_VERSION` encoding: `major << 16 | minor`.
    pub const fn bits(self) -> u32 {
        (1 << 16) | self as u32
    }

    /// The version 1.`minor`, or `None` if the proxy does not speak it.
    pub const fn from_minor(minor: u16) -> Option<Self> {
        match minor {
            0 => Some(Version::V1_0),
            1 => Some(Version::V1_1),
            2 => Some(Version::V1_2),
            _ => None,
        }
    }

    /// Index into per-version arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor())
    }
}

/// SMCCC calling convention of one function ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv {
    /// SMC32: `w0`..`w7`; the upper halves of `x1`..`x7` must be zero.
    Smc32 = 0,
    /// SMC64: `x0`..`x7` (and `x8`..`x17` at v1.2).
    Smc64 = 1,
}

impl Conv {
    /// The convention a function ID's bit 30 selects.
    pub const fn of(function_id: u32) -> Self {
        if function_id & (1 << 30) != 0 {
            Conv::Smc64
        } else {
            Conv::Smc32
        }
    }

    /// The bits of `x1`..`x7` the convention can carry.
    pub const fn width_mask(self) -> u64 {
        match self {
            Conv::Smc32 => 0xFFFF_FFFF,
            Conv::Smc64 => u64::MAX,
        }
    }
}

/// Which calling conventions a row defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convs {
    /// Only `0x84xx_xxxx`.
    Smc32,
    /// Only `0xC4xx_xxxx`.
    Smc64,
    /// Both.
    Both,
}

impl Convs {
    /// Whether `conv` is defined.
    pub const fn has(self, conv: Conv) -> bool {
        matches!(
            (self, conv),
            (Convs::Both, _) | (Convs::Smc32, Conv::Smc32) | (Convs::Smc64, Conv::Smc64)
        )
    }
}

/// What the proxy does with a field of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Carried to the SPMC unchanged.
    Value,
    /// Names the caller: must be the host's endpoint ID ([`HOST_ID`], 0).
    CallerId,
    /// Reserved by the spec (SBZ/MBZ): must be zero.
    Reserved,
    /// Defined by the spec, but not valid from the normal world or refused by this proxy's
    /// policy (see the row's note): must be zero.
    Refused,
    /// Carried only when bit `bit` of register `reg` is set; otherwise must be zero.
    ValueIf {
        /// Register of the enabling flag.
        reg: u8,
        /// Bit of the enabling flag.
        bit: u8,
    },
    /// A 16-bit endpoint ID, carried, that must name a Secure endpoint: its bit 15 (the
    /// field's top bit) must be set. Compiled into a must-be-one mask ([`Compiled::ones_mask`]).
    SecureId,
}

/// One field of a call's register schema.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// Register number, 1..=17.
    pub reg: u8,
    /// Lowest bit.
    pub lsb: u8,
    /// Width in bits; 64 means the whole register (32 bits in an SMC32 call).
    pub width: u8,
    /// The rule.
    pub kind: Kind,
    /// The spec's name of the field.
    pub name: &'static str,
    /// The first version that defines the field; before it the bits are reserved.
    pub since: Version,
}

impl Field {
    const fn new(reg: u8, hi: u8, lo: u8, kind: Kind, name: &'static str) -> Self {
        Field {
            reg,
            lsb: lo,
            width: hi - lo + 1,
            kind,
            name,
            since: Version::V1_0,
        }
    }

    const fn from(self, since: Version) -> Self {
        Field { since, ..self }
    }

    /// The bits this field covers in a call of convention `conv`.
    pub const fn mask(&self, conv: Conv) -> u64 {
        let m = if self.width >= 64 {
            u64::MAX
        } else {
            ((1u64 << self.width) - 1) << self.lsb
        };
        if self.reg <= 7 {
            m & conv.width_mask()
        } else {
            m
        }
    }

    /// Whether the field exists at version `v`.
    pub const fn defined_at(&self, v: Version) -> bool {
        v as u8 >= self.since as u8
    }
}

/// The whole register `reg` is a value (`wN` in SMC32, `xN` in SMC64).
const fn reg(reg: u8, name: &'static str) -> Field {
    Field {
        reg,
        lsb: 0,
        width: 64,
        kind: Kind::Value,
        name,
        since: Version::V1_0,
    }
}

/// Bits `hi..=lo` of `reg` are a value.
const fn val(reg: u8, hi: u8, lo: u8, name: &'static str) -> Field {
    Field::new(reg, hi, lo, Kind::Value, name)
}

/// Bits `hi..=lo` of `reg` name the caller.
const fn caller(reg: u8, hi: u8, lo: u8, name: &'static str) -> Field {
    Field::new(reg, hi, lo, Kind::CallerId, name)
}

/// Bits `hi..=lo` of `reg` are reserved.
const fn rsv(reg: u8, hi: u8, lo: u8, name: &'static str) -> Field {
    Field::new(reg, hi, lo, Kind::Reserved, name)
}

/// Bits `hi..=lo` of `reg` are an endpoint ID that must be a Secure endpoint's (bit 15 set).
const fn secure(reg: u8, hi: u8, lo: u8, name: &'static str) -> Field {
    Field::new(reg, hi, lo, Kind::SecureId, name)
}

/// Bits `hi..=lo` of `reg` are refused from the host.
const fn refused(reg: u8, hi: u8, lo: u8, name: &'static str) -> Field {
    Field::new(reg, hi, lo, Kind::Refused, name)
}

/// An ABI that the proxy answers at EL2 (possibly with its own SMCs to the SPMC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    /// `FFA_VERSION`: negotiation, see `version.rs`.
    Version,
    /// `FFA_FEATURES`: answered from this table, forwarded for what the proxy forwards.
    Features,
    /// `FFA_ID_GET`: the host is endpoint 0.
    IdGet,
    /// `FFA_RXTX_MAP`: the host's buffers are recorded and pinned; the SPMC only ever sees
    /// the hypervisor's own (`mailbox.rs`).
    RxTxMap,
    /// `FFA_RXTX_UNMAP`: the host's buffers are unpinned.
    RxTxUnmap,
    /// `FFA_RX_RELEASE`: the host's RX buffer becomes free again.
    RxRelease,
    /// `FFA_PARTITION_INFO_GET`: asked into the hypervisor's RX, copied to the host's.
    PartitionInfoGet,
    /// `FFA_MEM_SHARE`: copy, validate, pin, forward through the hypervisor's TX (`mem.rs`).
    MemShare,
    /// `FFA_MEM_RECLAIM`: forwarded for a handle the host holds; pages unpinned on SUCCESS.
    MemReclaim,
    /// `FFA_MEM_FRAG_TX`: the next fragment of the host's SHARE or LEND in progress: copied,
    /// validated, its pages claimed, forwarded through the hypervisor's TX (`mem.rs`).
    MemFragTx,
}

impl Handler {
    /// Whether the handler needs the hypervisor's mailbox and the ownership map
    /// (`Proxy::with_memory`); without them the ABI is NOT_SUPPORTED.
    pub const fn needs_memory(self) -> bool {
        !matches!(self, Handler::Version | Handler::Features | Handler::IdGet)
    }
}

/// What the proxy does with a call that passed (or, for `Block`, never reaches) validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Validate, rebuild from the schema, forward, filter the reply.
    Forward,
    /// Validate, then answer at EL2 through the handler.
    Emulate(Handler),
    /// `FFA_ERROR(NOT_SUPPORTED)`; `FFA_FEATURES` says the same.
    Block,
}

/// The replies the SPMC may give to a forwarded call, and which registers of `FFA_SUCCESS`
/// the call defines. Anything else becomes `FFA_ERROR(ABORTED)` for the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replies {
    /// Bit set of `Replies::ERROR` ... `Replies::MSG_WAIT`.
    pub kinds: u8,
    /// Bit `n` set: `xN` of `FFA_SUCCESS` is defined for this call.
    pub success_regs: u32,
}

impl Replies {
    /// `FFA_ERROR`: `w1` target info, `w2` status.
    pub const ERROR: u8 = 1 << 0;
    /// `FFA_SUCCESS_32/64` with `success_regs`.
    pub const SUCCESS: u8 = 1 << 1;
    /// `FFA_MSG_SEND_DIRECT_RESP_32/64`: `w1` IDs, `w2` flags, `x3`..`x7` payload.
    pub const DIRECT_RESP: u8 = 1 << 2;
    /// `FFA_MSG_SEND_DIRECT_RESP2`: `w1` IDs, `x4`..`x17` payload.
    pub const DIRECT_RESP2: u8 = 1 << 3;
    /// `FFA_INTERRUPT`: `w1` target info, `w2` interrupt ID.
    pub const INTERRUPT: u8 = 1 << 4;
    /// `FFA_YIELD`: `w1` target info, `w2`/`w3` timeout.
    pub const YIELD: u8 = 1 << 5;
    /// `FFA_MSG_WAIT_32`: `w1` target info (an SP that waits after `FFA_RUN`).
    pub const MSG_WAIT: u8 = 1 << 6;

    const NONE: Replies = Replies {
        kinds: 0,
        success_regs: 0,
    };

    /// `FFA_ERROR` or `FFA_SUCCESS` with registers `regs` (bit n = xN).
    const fn success(regs: u32) -> Replies {
        Replies {
            kinds: Replies::ERROR | Replies::SUCCESS,
            success_regs: regs,
        }
    }
}

/// Bits x2..=x7.
const X2_X7: u32 = 0b1111_1100;

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct Abi {
    /// The spec's name, without `_32`/`_64`.
    pub name: &'static str,
    /// Function number, bits [7:0] of the function ID (0x60..=0xFF).
    pub number: u8,
    /// Which of `0x8400_00nn` (SMC32) and `0xC400_00nn` (SMC64) exist.
    pub convs: Convs,
    /// The version that introduced it.
    pub since: Version,
    /// The last version that defines it (`None`: still defined in v1.2).
    pub until: Option<Version>,
    /// The spec section it follows, and the implementations it was checked against.
    /// (Documentation only: not in the firmware image.)
    #[cfg(not(target_os = "none"))]
    pub spec: &'static str,
    /// Register schema of the call.
    pub fields: &'static [Field],
    /// What the proxy does.
    pub policy: Policy,
    /// Replies accepted from the SPMC (forwarded rows only).
    pub replies: Replies,
    /// Decisions and their reasons. (Documentation only: not in the firmware image.)
    #[cfg(not(target_os = "none"))]
    pub note: &'static str,
}

impl Abi {
    /// The function ID in convention `conv`.
    pub const fn function_id(&self, conv: Conv) -> u32 {
        match conv {
            Conv::Smc32 => 0x8400_0000 | self.number as u32,
            Conv::Smc64 => 0xC400_0000 | self.number as u32,
        }
    }

    /// Whether the function exists at version `v`.
    pub const fn defined_at(&self, v: Version) -> bool {
        let after_start = v as u8 >= self.since as u8;
        match self.until {
            Some(u) => after_start && v as u8 <= u as u8,
            None => after_start,
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per table column, so that each call site reads as a table row"
)]
#[cfg_attr(target_os = "none", allow(unused_variables))]
const fn row(
    name: &'static str,
    number: u8,
    convs: Convs,
    since: Version,
    spec: &'static str,
    fields: &'static [Field],
    policy: Policy,
    replies: Replies,
    note: &'static str,
) -> Abi {
    Abi {
        name,
        number,
        convs,
        since,
        until: None,
        // The firmware never prints these (only the generated documentation does, on the
        // development host): keep the ~20 KB of text, and the fields, out of the image.
        #[cfg(not(target_os = "none"))]
        spec,
        fields,
        policy,
        replies,
        #[cfg(not(target_os = "none"))]
        note,
    }
}

use Convs::{Both, Smc32, Smc64};
use Version::{V1_0, V1_1, V1_2};

const MEM_XFER_FIELDS: &[Field] = &[
    val(1, 31, 0, "total length"),
    val(2, 31, 0, "fragment length"),
    refused(3, 63, 0, "buffer address"),
    refused(4, 31, 0, "page count"),
];

const MEM_LEND_NOTE: &str = "x3/w4 carry a separate buffer; MBZ when the TX buffer is used \
    (only TX-buffer transfers are accepted: pKVM; Linux sets use_txbuf). As FFA_MEM_SHARE \
    (same copy, validation and bounds), but the pages go Owned -> LentToSecure and leave the \
    host's stage 2 before the call is forwarded (break-before-make on the blocks the range \
    cuts, tlbi ipas2e1is + vmalle1is); a host access to them is a stage-2 fault the \
    hypervisor turns into a synchronous external abort at the host's EL1 vector. They are \
    mapped back only when the SPMC refuses the LEND or answers RECLAIM with SUCCESS (pKVM \
    treats LEND as SHARE and leaves the host access). A stage-2 change that fails: \
    NO_MEMORY, nothing forwarded.";

const DIRECT_FIELDS: &[Field] = &[
    caller(1, 31, 16, "sender endpoint ID"),
    val(1, 15, 0, "receiver endpoint ID"),
    refused(
        2,
        31,
        0,
        "flags (bit 31 framework message, [7:0] message type)",
    ),
    reg(3, "payload 0"),
    reg(4, "payload 1"),
    reg(5, "payload 2"),
    reg(6, "payload 3"),
    reg(7, "payload 4"),
];

const DIRECT2_FIELDS: &[Field] = &[
    caller(1, 31, 16, "sender endpoint ID"),
    val(1, 15, 0, "receiver endpoint ID"),
    reg(2, "receiver protocol UUID, low 64 bits"),
    reg(3, "receiver protocol UUID, high 64 bits"),
    reg(4, "payload 0"),
    reg(5, "payload 1"),
    reg(6, "payload 2"),
    reg(7, "payload 3"),
    reg(8, "payload 4").from(V1_2),
    reg(9, "payload 5").from(V1_2),
    reg(10, "payload 6").from(V1_2),
    reg(11, "payload 7").from(V1_2),
    reg(12, "payload 8").from(V1_2),
    reg(13, "payload 9").from(V1_2),
    reg(14, "payload 10").from(V1_2),
    reg(15, "payload 11").from(V1_2),
    reg(16, "payload 12").from(V1_2),
    reg(17, "payload 13").from(V1_2),
];

const BIND_IDS: [Field; 2] = [
    val(1, 31, 16, "sender endpoint ID (an SP)"),
    caller(1, 15, 0, "receiver endpoint ID"),
];

const HANDLE_FIELDS: [Field; 2] = [
    reg(1, "handle, low 32 bits"),
    reg(2, "handle, high 32 bits"),
];

/// The table, ordered by function number.
pub const TABLE: &[Abi] = &[
    row(
        "FFA_ERROR",
        0x60,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_ERROR (status reporting interfaces); CRATE, HF",
        &[reg(1, "target information"), reg(2, "error code")],
        Policy::Block,
        Replies::NONE,
        "A return interface: the SPMC answers with it; the host never sends it to the Secure \
         world. The SMC64 variant is v1.3 and unknown here.",
    ),
    row(
        "FFA_SUCCESS",
        0x61,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_SUCCESS (status reporting interfaces); CRATE",
        &[],
        Policy::Block,
        Replies::NONE,
        "A return interface; never sent by the host.",
    ),
    row(
        "FFA_INTERRUPT",
        0x62,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_INTERRUPT (CPU cycle management interfaces); CRATE, HF",
        &[reg(1, "target information"), reg(2, "interrupt ID")],
        Policy::Block,
        Replies::NONE,
        "Returned to the host when an SP is preempted; the host resumes it with FFA_RUN. The \
         host never sends it.",
    ),
    row(
        "FFA_VERSION",
        0x63,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_VERSION (setup and discovery interfaces); PKVM-1.2 do_ffa_version, \
         HF api_ffa_version, XEN",
        &[
            rsv(1, 31, 31, "bit 31 (MBZ)"),
            val(1, 30, 16, "major version"),
            val(1, 15, 0, "minor version"),
        ],
        Policy::Emulate(Handler::Version),
        Replies::NONE,
        "Emulated. Checked against this v1.0 schema at every version, because the caller's \
         version is what is being negotiated (x8-x17 are therefore not checked). A violation \
         answers NOT_SUPPORTED in w0: FFA_VERSION has no FFA_ERROR return. Negotiation rules \
         (§4.1 #3, #4) are in the Version section.",
    ),
    row(
        "FFA_FEATURES",
        0x64,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_FEATURES (setup and discovery interfaces); HF api_ffa_features, \
         PKVM-1.2, XEN, LNX-DRV",
        &[
            reg(1, "function ID or feature ID"),
            refused(2, 31, 0, "input properties").from(V1_1),
        ],
        Policy::Emulate(Handler::Features),
        Replies {
            kinds: Replies::ERROR | Replies::SUCCESS,
            success_regs: 0b1100,
        },
        "Answered from this table: NOT_SUPPORTED for blocked, unknown and not-yet-defined IDs \
         (both conventions), SUCCESS for emulated ones, forwarded for forwarded ones (reply: \
         w2/w3 interface properties). Feature IDs (bit 31 clear): bits [30:8] MBZ, checked \
         like every other field (INVALID_PARAMETERS; Hafnium answers NOT_SUPPORTED, the issue \
         asks for one rule); NPI (1) and SRI (2) forwarded from v1.1, anything else \
         NOT_SUPPORTED. w2 input properties: only MEM_RETRIEVE_REQ defines them and it is \
         blocked, so MBZ for every query (Xen does not check w2, Linux sends 0).",
    ),
    row(
        "FFA_RX_RELEASE",
        0x65,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_RX_RELEASE (setup and discovery interfaces); HF, EDK2 #12563, XEN",
        &[
            caller(1, 15, 0, "VM ID").from(V1_1),
            rsv(1, 31, 16, "bits [31:16]"),
        ],
        Policy::Emulate(Handler::RxRelease),
        Replies::success(0),
        "§4.1 #1: the ID is in w1[15:0] (HF, CRATE, XEN) and names the caller, the other half \
         is reserved, so w1 must be 0 in full (EDK2 #12563, HF at a virtual instance). \
         Emulated, never forwarded: a forwarded RX_RELEASE would release the hypervisor's RX \
         buffer at the SPMC, not the host's (T1, T10; pKVM's bug). The host's RX becomes free; \
         DENIED if no buffers are mapped or the host's RX is not full (Xen). The hypervisor \
         releases its own RX itself, right after copying out of it.",
    ),
    row(
        "FFA_RXTX_MAP",
        0x66,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_RXTX_MAP (setup and discovery interfaces); PKVM-1.2, XEN, CRATE",
        &[
            reg(1, "TX buffer address"),
            reg(2, "RX buffer address"),
            val(3, 5, 0, "page count (4 KiB units)"),
            rsv(3, 31, 6, "bits [31:6]"),
        ],
        Policy::Emulate(Handler::RxTxMap),
        Replies::success(0),
        "Emulated (T1): the host's buffers are recorded and pinned as SharedWithHyp; the SPMC \
         only ever sees the hypervisor's own pair, registered with FFA_RXTX_MAP_64 at the \
         host's first map. Both buffers must be one 4 KiB page (what FFA_FEATURES reports: \
         w2[1:0] = 0, and at v1.2 a maximum of 1 page in w2[31:16]), page-aligned, distinct, \
         Owned host RAM (not the carve-out, Secure memory, MMIO, a shared page or the other \
         buffer): else INVALID_PARAMETERS, or DENIED for a page in use or a second map \
         (pKVM, Xen). SMC32 is the same call with 32-bit addresses (Xen): it costs nothing, \
         the checks are the same, and the SPMC still gets only the hypervisor's SMC64 map.",
    ),
    row(
        "FFA_RXTX_UNMAP",
        0x67,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_RXTX_UNMAP (setup and discovery interfaces); HF, PKVM-1.2, XEN, \
         CRATE",
        &[
            caller(1, 31, 16, "endpoint ID"),
            rsv(1, 15, 0, "bits [15:0]"),
        ],
        Policy::Emulate(Handler::RxTxUnmap),
        Replies::success(0),
        "§4.1 #1: the ID is in w1[31:16] (HF, CRATE, XEN) and names the caller, the other half \
         is reserved, so w1 must be 0 in full (pKVM, EDK2). Emulated: the host's pages go back \
         to Owned; INVALID_PARAMETERS if none are mapped (pKVM). Allowed while the host's RX \
         is full (it gives up its own buffer; nothing in the Secure world refers to it). The \
         hypervisor's pair stays registered at the SPMC for its own use.",
    ),
    row(
        "FFA_PARTITION_INFO_GET",
        0x68,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_PARTITION_INFO_GET (setup and discovery interfaces); HF, XEN, \
         PKVM-1.2, LNX-DRV",
        &[
            reg(1, "UUID word 0"),
            reg(2, "UUID word 1"),
            reg(3, "UUID word 2"),
            reg(4, "UUID word 3"),
            val(5, 0, 0, "return count only").from(V1_1),
            rsv(5, 31, 1, "flags [31:1]"),
        ],
        Policy::Emulate(Handler::PartitionInfoGet),
        Replies::success(0b1100),
        "Count-only (v1.1+, w5 bit 0) touches no buffer and is forwarded as is. Otherwise the \
         SPMC writes the descriptors into the hypervisor's RX (T1); the proxy checks the \
         descriptor size (8 bytes at v1.0, 24 from v1.1) and that count x size fits 4 KiB \
         (else ABORTED), copies them into the host's RX, releases its own RX at the SPMC, and \
         keeps the host's RX full until the host's FFA_RX_RELEASE (T10). Errors: §4.1 #9 in \
         the Decisions. The list is passed on unchanged (§4.1 #7).",
    ),
    row(
        "FFA_ID_GET",
        0x69,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_ID_GET (setup and discovery interfaces); PKVM-ANDROID, XEN, \
         LNX-DRV",
        &[],
        Policy::Emulate(Handler::IdGet),
        Replies::NONE,
        "Emulated: SUCCESS with w2 = 0, the host's ID. The proxy checks at boot that the SPMC \
         also sees ID 0 (Proxy::probe), as pKVM's post-init does.",
    ),
    Abi {
        until: Some(V1_0),
        ..row(
            "FFA_MSG_POLL",
            0x6A,
            Smc32,
            V1_0,
            "DEN0077 v1.0, FFA_MSG_POLL (indirect messaging, removed in v1.1)",
            &[],
            Policy::Block,
            Replies::NONE,
            "v1.0 indirect messaging, removed in v1.1; the SPMC reads ID 0's mailbox (T12).",
        )
    },
    row(
        "FFA_MSG_WAIT",
        0x6B,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MSG_WAIT (CPU cycle management interfaces); HF api_ffa_msg_wait",
        &[val(2, 0, 0, "retain RX buffer ownership").from(V1_2)],
        Policy::Block,
        Replies::NONE,
        "Only an SP waits for messages; the normal world never calls it. (SMC64 is v1.3.)",
    ),
    row(
        "FFA_YIELD",
        0x6C,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_YIELD (CPU cycle management interfaces); CRATE, HF",
        &[
            reg(2, "timeout, low 32 bits").from(V1_1),
            reg(3, "timeout, high 32 bits").from(V1_1),
        ],
        Policy::Block,
        Replies::NONE,
        "Sent by SPs; the host receives it as a reply and resumes the SP with FFA_RUN.",
    ),
    row(
        "FFA_RUN",
        0x6D,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_RUN (CPU cycle management interfaces); HF handler.c (x8-x17 MBZ \
         at v1.2), LNX-DRV",
        &[
            val(1, 31, 16, "target endpoint ID"),
            val(1, 15, 0, "target vCPU ID"),
        ],
        Policy::Forward,
        Replies {
            kinds: Replies::ERROR
                | Replies::SUCCESS
                | Replies::DIRECT_RESP
                | Replies::DIRECT_RESP2
                | Replies::INTERRUPT
                | Replies::YIELD
                | Replies::MSG_WAIT,
            success_regs: 0,
        },
        "Forwarded: how the host resumes an SP after FFA_INTERRUPT or FFA_YIELD (T17). w1 \
         names the target, not the caller, so it is not an ID check. The reply may be the \
         resumed direct response, hence DIRECT_RESP/RESP2 are accepted.",
    ),
    Abi {
        until: Some(V1_0),
        ..row(
            "FFA_MSG_SEND",
            0x6E,
            Smc32,
            V1_0,
            "DEN0077 v1.0, FFA_MSG_SEND (indirect messaging, removed in v1.1)",
            &[
                caller(1, 31, 16, "sender endpoint ID"),
                val(1, 15, 0, "receiver endpoint ID"),
                reg(3, "message size"),
                reg(4, "flags"),
            ],
            Policy::Block,
            Replies::NONE,
            "v1.0 indirect messaging, removed in v1.1; the SPMC reads ID 0's TX buffer (T12).",
        )
    },
    row(
        "FFA_MSG_SEND_DIRECT_REQ",
        0x6F,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MSG_SEND_DIRECT_REQ (direct messaging interfaces); HF api.c, \
         PKVM-ANDROID, XEN, LNX-DRV",
        DIRECT_FIELDS,
        Policy::Forward,
        Replies {
            kinds: Replies::ERROR | Replies::DIRECT_RESP | Replies::INTERRUPT | Replies::YIELD,
            success_regs: 0,
        },
        "Sender must be the host (T17; OP-TEE trusts it). §4.1 #8: w2 MBZ (HF) rather than \
         forwarded unchecked (pKVM, Xen): partition messages define no flags, and framework \
         messages (VM created/destroyed, power management) belong to the hypervisor and the \
         SPMD, so the host may not send them. At v1.2, x8-x17 MBZ (HF); the arm-ffa crate \
         decodes x3-x17 as payload for SMC64, but FFA_MSG_SEND_DIRECT_REQ2 is the v1.2 \
         extended-payload ABI and Linux uses x3-x7 only.",
    ),
    row(
        "FFA_MSG_SEND_DIRECT_RESP",
        0x70,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MSG_SEND_DIRECT_RESP (direct messaging interfaces); PKVM-1.2, HF",
        DIRECT_FIELDS,
        Policy::Block,
        Replies::NONE,
        "The host is never the target of a direct request, so it never responds (pKVM blocks \
         both conventions).",
    ),
    row(
        "FFA_MEM_DONATE",
        0x71,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_DONATE (memory management interfaces); PKVM-1.2",
        MEM_XFER_FIELDS,
        Policy::Block,
        Replies::success(0b1100),
        "Blocked for good in pKVM: the host may not give pages away to the Secure world. \
         x3/w4 as for FFA_MEM_SHARE.",
    ),
    row(
        "FFA_MEM_LEND",
        0x72,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_LEND (memory management interfaces); PKVM-1.2, XEN, LNX-DRV",
        MEM_XFER_FIELDS,
        Policy::Emulate(Handler::MemShare),
        Replies::success(0b1100),
        MEM_LEND_NOTE,
    ),
    row(
        "FFA_MEM_SHARE",
        0x73,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_SHARE (memory management interfaces); PKVM-1.2, XEN, LNX-DRV",
        MEM_XFER_FIELDS,
        Policy::Emulate(Handler::MemShare),
        Replies::success(0b1100),
        "x3/w4 (a separate buffer) MBZ: only TX-buffer transfers (pKVM; Linux sets \
         use_txbuf). The fragment is copied from the host's TX into hypervisor memory, \
         validated there for the negotiated version (descriptor.rs), its pages claimed \
         Owned -> SharedWithSecure all or nothing, and the copy forwarded through the \
         hypervisor's TX. SUCCESS records handle -> pages; an error rolls the pages back. \
         A first fragment below the total length (FFA_MEM_FRAG_TX for the rest) must hold \
         the header, the receivers, the composite and whole constituents; the SPMC's \
         FRAG_RX goes back to the host. At most 8 384 bytes (512 constituents) and 256 live \
         transactions: NO_MEMORY beyond.",
    ),
    row(
        "FFA_MEM_RETRIEVE_REQ",
        0x74,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_RETRIEVE_REQ (memory management interfaces); PKVM-1.2",
        MEM_XFER_FIELDS,
        Policy::Block,
        Replies::NONE,
        "The host never borrows Secure memory; the hypervisor issues it itself on reclaim \
         (pKVM).",
    ),
    row(
        "FFA_MEM_RETRIEVE_RESP",
        0x75,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_RETRIEVE_RESP (memory management interfaces)",
        &[reg(1, "total length"), reg(2, "fragment length")],
        Policy::Block,
        Replies::NONE,
        "A reply from the SPMC to a borrower; never sent by the host.",
    ),
    row(
        "FFA_MEM_RELINQUISH",
        0x76,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_RELINQUISH (memory management interfaces)",
        &[],
        Policy::Block,
        Replies::NONE,
        "Borrower side; the host never borrows.",
    ),
    row(
        "FFA_MEM_RECLAIM",
        0x77,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_RECLAIM (memory management interfaces); PKVM-1.2, LNX-DRV, \
         CRATE",
        &[
            HANDLE_FIELDS[0],
            HANDLE_FIELDS[1],
            val(3, 1, 0, "flags (zero memory, time slicing)"),
            rsv(3, 31, 2, "flags [31:2]"),
        ],
        Policy::Emulate(Handler::MemReclaim),
        Replies::success(0),
        "Forwarded only for a handle the proxy recorded for the host (else \
         INVALID_PARAMETERS, nothing forwarded); the pages go back to Owned only when the \
         SPMC answers SUCCESS, and they are the pages the proxy recorded, never what the host \
         claims.",
    ),
    row(
        "FFA_MEM_OP_PAUSE",
        0x78,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_OP_PAUSE (memory management interfaces); PKVM-1.2",
        &[HANDLE_FIELDS[0], HANDLE_FIELDS[1]],
        Policy::Block,
        Replies::NONE,
        "Blocked (pKVM): the proxy does not support time-sliced transactions.",
    ),
    row(
        "FFA_MEM_OP_RESUME",
        0x79,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_OP_RESUME (memory management interfaces); PKVM-1.2",
        &[HANDLE_FIELDS[0], HANDLE_FIELDS[1]],
        Policy::Block,
        Replies::NONE,
        "Blocked (pKVM): the proxy does not support time-sliced transactions.",
    ),
    row(
        "FFA_MEM_FRAG_RX",
        0x7A,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_FRAG_RX (memory management interfaces); HF, CRATE, PKVM-1.2",
        &[
            HANDLE_FIELDS[0],
            HANDLE_FIELDS[1],
            reg(3, "fragment offset"),
            caller(4, 31, 16, "sender endpoint ID (hypervisor-filled)"),
            rsv(4, 15, 0, "bits [15:0]"),
        ],
        Policy::Block,
        Replies::NONE,
        "Blocked (pKVM): only the hypervisor's own reclaim path reads fragments.",
    ),
    row(
        "FFA_MEM_FRAG_TX",
        0x7B,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_FRAG_TX (memory management interfaces); HF, CRATE, PKVM-1.2",
        &[
            HANDLE_FIELDS[0],
            HANDLE_FIELDS[1],
            reg(3, "fragment length"),
            caller(4, 31, 16, "sender endpoint ID (hypervisor-filled)"),
            rsv(4, 15, 0, "bits [15:0]"),
        ],
        Policy::Emulate(Handler::MemFragTx),
        Replies::NONE,
        "w4[31:16] is filled by a hypervisor for its VMs and MBZ from an endpoint (pKVM \
         forwards it unchecked; here it names the caller). The next fragment of the host's \
         one fragmented SHARE or LEND in progress (its handle, from the SPMC's FFA_MEM_FRAG_RX): \
         copied from the host's TX, whole constituents only, validated, its pages claimed, \
         forwarded through the hypervisor's TX; the SPMC's FRAG_RX (offset checked) or final \
         SUCCESS goes back to the host. A later fragment that is refused aborts the whole \
         transaction with FFA_MEM_RECLAIM (OP-TEE 4.10 cannot reclaim an incomplete \
         transaction: its pages then stay pinned, never the host's to reuse). At most 512 \
         constituents per transaction (NO_MEMORY beyond).",
    ),
    row(
        "FFA_NORMAL_WORLD_RESUME",
        0x7C,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_NORMAL_WORLD_RESUME (CPU cycle management interfaces); CRATE",
        &[],
        Policy::Block,
        Replies::NONE,
        "Secure-world only (an SP hands the CPU back after a secure interrupt).",
    ),
    row(
        "FFA_NOTIFICATION_BITMAP_CREATE",
        0x7D,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_BITMAP_CREATE (notification interfaces); HF spmc, \
         CRATE, PKVM-NOTIF, LNX-DRV",
        &[
            caller(1, 15, 0, "VM ID"),
            rsv(1, 31, 16, "bits [31:16]"),
            reg(2, "vCPU count"),
        ],
        Policy::Forward,
        Replies::success(0),
        "The VM ID must be the host's own; w1[31:16] MBZ (Will Deacon's example; OP-TEE does \
         not check the upper half of x1). The Hafnium/OP-TEE SPMC accepts it only from the NS \
         physical instance, which the proxy is.",
    ),
    row(
        "FFA_NOTIFICATION_BITMAP_DESTROY",
        0x7E,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_BITMAP_DESTROY (notification interfaces); HF, CRATE",
        &[caller(1, 15, 0, "VM ID"), rsv(1, 31, 16, "bits [31:16]")],
        Policy::Forward,
        Replies::success(0),
        "As BITMAP_CREATE; w2 MBZ (OP-TEE does not check it, so the proxy must).",
    ),
    row(
        "FFA_NOTIFICATION_BIND",
        0x7F,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_BIND (notification interfaces); HF \
         api_ffa_notification_update_bindings, PKVM-NOTIF, LNX-DRV",
        &[
            secure(1, 31, 16, "sender endpoint ID (an SP)"),
            BIND_IDS[1],
            val(2, 0, 0, "per-vCPU notification flag"),
            rsv(2, 31, 1, "flags [31:1]"),
            reg(3, "notification bitmap, low 32 bits"),
            reg(4, "notification bitmap, high 32 bits"),
        ],
        Policy::Forward,
        Replies::success(0),
        "§4.1 #5: the per-vCPU flag is defined by the spec, so it is forwarded and the SPMC \
         decides (OP-TEE: DENIED, Hafnium: INVALID_PARAMETERS), as in pKVM-NOTIF; flags \
         [31:1] MBZ. The receiver is the caller. The sender (w1[31:16]) must be a Secure \
         endpoint (bit 15 set): OP-TEE 4.10 binds a normal-world sender, so the proxy refuses \
         it (INVALID_PARAMETERS; the field's kind, a must-be-one mask beside the MBZ masks).",
    ),
    row(
        "FFA_NOTIFICATION_UNBIND",
        0x80,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_UNBIND (notification interfaces); HF, XEN, PKVM-NOTIF",
        &[
            BIND_IDS[0],
            BIND_IDS[1],
            rsv(2, 31, 0, "flags (MBZ for UNBIND)"),
            reg(3, "notification bitmap, low 32 bits"),
            reg(4, "notification bitmap, high 32 bits"),
        ],
        Policy::Forward,
        Replies::success(0),
        "w2 MBZ (HF forwards 0, pKVM-NOTIF and OP-TEE check it).",
    ),
    row(
        "FFA_NOTIFICATION_SET",
        0x81,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_SET (notification interfaces); HF \
         api_ffa_notification_set, PKVM-NOTIF",
        &[
            caller(1, 31, 16, "sender endpoint ID"),
            secure(1, 15, 0, "receiver endpoint ID"),
            val(2, 0, 0, "per-vCPU notification flag"),
            refused(2, 1, 1, "delay schedule receiver interrupt"),
            rsv(2, 15, 2, "flags [15:2]"),
            Field::new(2, 31, 16, Kind::ValueIf { reg: 2, bit: 0 }, "vCPU ID"),
            reg(3, "notification bitmap, low 32 bits"),
            reg(4, "notification bitmap, high 32 bits"),
        ],
        Policy::Forward,
        Replies::success(0),
        "§4.1 #5: per-vCPU flag forwarded (SPMC decides); delay-SRI refused (invalid from the \
         normal world, HF); flags [15:2] MBZ; the vCPU ID must be 0 unless the per-vCPU flag \
         is set (HF, T4), which pKVM-NOTIF does not check. OP-TEE answers NOT_SUPPORTED to SET \
         from the normal world; the proxy still forwards it so a future SPMC can answer. The \
         receiver (w1[15:0]) must be a Secure endpoint (bit 15 set), as Hafnium requires from \
         the normal world (INVALID_PARAMETERS; the field's kind, a must-be-one mask).",
    ),
    row(
        "FFA_NOTIFICATION_GET",
        0x82,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_GET (notification interfaces); HF, OPTEE #6518, \
         LNX-DRV, PKVM-NOTIF",
        &[
            val(1, 31, 16, "receiver vCPU ID"),
            caller(1, 15, 0, "receiver endpoint ID"),
            val(2, 0, 0, "SP notification bitmap flag"),
            refused(2, 1, 1, "VM notification bitmap flag"),
            val(2, 2, 2, "SPM framework bitmap flag"),
            refused(2, 3, 3, "hypervisor framework bitmap flag"),
            rsv(2, 31, 4, "flags [31:4]"),
        ],
        Policy::Forward,
        Replies::success(X2_X7),
        "The receiver is in w1[15:0] (OPTEE #6518). The VM and hypervisor bitmaps are \
         invalid from the normal world (HF SPMC; Linux sends 0x5). Reply: w2/w3 SP bitmap, \
         w4/w5 VM bitmap, w6 SPM bitmap, w7 hypervisor bitmap.",
    ),
    row(
        "FFA_NOTIFICATION_INFO_GET",
        0x83,
        Both,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_INFO_GET (notification interfaces); HF, XEN, LNX-DRV",
        &[],
        Policy::Forward,
        Replies::success(X2_X7),
        "§4.1 #6: both conventions are in the table and forwarded (T11: pKVM once blocked \
         only the SMC32 ID); an SPMC that implements only SMC64 (Hafnium) answers \
         NOT_SUPPORTED itself. No arguments: x1-x7 MBZ.",
    ),
    row(
        "FFA_RX_ACQUIRE",
        0x84,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_RX_ACQUIRE (setup and discovery interfaces); XEN, CRATE",
        &[caller(1, 15, 0, "VM ID"), rsv(1, 31, 16, "bits [31:16]")],
        Policy::Block,
        Replies::NONE,
        "Hypervisor-only (a hypervisor acquires a VM's RX buffer from the SPMC); §4.1 #1 as \
         RX_RELEASE.",
    ),
    row(
        "FFA_SPM_ID_GET",
        0x85,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_SPM_ID_GET (setup and discovery interfaces); HF, CRATE, PKVM-1.2",
        &[],
        Policy::Forward,
        Replies::success(0b100),
        "Forwarded (pKVM); reply w2[15:0] SPMC ID.",
    ),
    row(
        "FFA_MSG_SEND2",
        0x86,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_MSG_SEND2 (indirect messaging interfaces); HF api_ffa_msg_send2, \
         XEN, LNX-DRV",
        &[
            caller(1, 31, 16, "sender VM ID"),
            rsv(1, 15, 0, "bits [15:0]"),
            refused(2, 31, 0, "flags (SP only)"),
        ],
        Policy::Block,
        Replies::success(0),
        "Blocked (T12): the SPMC would read the ID-0 TX buffer, which is the hypervisor's. \
         Emulating it means copying and checking the message header (v1.1 and v1.2 layouts) \
         and the RX-full framework notification on the way back; no SP on this stack sends \
         or receives indirect messages, so it stays blocked until one does.",
    ),
    row(
        "FFA_SECONDARY_EP_REGISTER",
        0x87,
        Both,
        V1_1,
        "DEN0077 v1.2, FFA_SECONDARY_EP_REGISTER (setup and discovery interfaces); CRATE",
        &[reg(1, "entry point address")],
        Policy::Block,
        Replies::NONE,
        "Secure-world only (an SP registers its secondary entry point).",
    ),
    row(
        "FFA_MEM_PERM_GET",
        0x88,
        Both,
        V1_1,
        "DEN0077 v1.2, FFA_MEM_PERM_GET (memory management interfaces); CRATE",
        &[reg(1, "base address")],
        Policy::Block,
        Replies::NONE,
        "Secure-world only (S-EL0 partitions).",
    ),
    row(
        "FFA_MEM_PERM_SET",
        0x89,
        Both,
        V1_1,
        "DEN0077 v1.2, FFA_MEM_PERM_SET (memory management interfaces); CRATE",
        &[
            reg(1, "base address"),
            reg(2, "page count"),
            reg(3, "attributes"),
        ],
        Policy::Block,
        Replies::NONE,
        "Secure-world only (S-EL0 partitions).",
    ),
    row(
        "FFA_CONSOLE_LOG",
        0x8A,
        Both,
        V1_2,
        "DEN0077 v1.2, FFA_CONSOLE_LOG (setup and discovery interfaces); CRATE, PKVM-1.2",
        &[
            val(1, 7, 0, "character count"),
            reg(2, "characters"),
            reg(3, "characters"),
            reg(4, "characters"),
            reg(5, "characters"),
            reg(6, "characters"),
            reg(7, "characters"),
        ],
        Policy::Block,
        Replies::NONE,
        "Version: v1.2 (CRATE, and pKVM lists it among the optional v1.2 calls) rather than \
         v1.1 as the reference table's header says. A partition debug channel, not for the \
         host: blocked (pKVM blocks it; T11: both conventions).",
    ),
    row(
        "FFA_PARTITION_INFO_GET_REGS",
        0x8B,
        Smc64,
        V1_2,
        "DEN0077 v1.2, FFA_PARTITION_INFO_GET_REGS (setup and discovery interfaces); XEN, \
         LNX-DRV, CRATE",
        &[
            reg(1, "UUID, low 64 bits"),
            reg(2, "UUID, high 64 bits"),
            val(3, 15, 0, "start index"),
            val(3, 31, 16, "information tag (MBZ when start index is 0)"),
        ],
        Policy::Forward,
        Replies::success(0x3_FFFC),
        "Registers only, no buffer: forwarded after the checks (x3[63:32] and x4-x17 MBZ); the \
         SPMC applies the start index and tag rules (RETRY on a stale tag). Reply: x2 (sizes, \
         tag, indices) and x3-x17 (up to five 3-register descriptors). An SPMC without it \
         (OP-TEE 4.10) answers NOT_SUPPORTED, to FFA_FEATURES too, and Linux falls back to \
         FFA_PARTITION_INFO_GET.",
    ),
    row(
        "FFA_EL3_INTR_HANDLE",
        0x8C,
        Smc32,
        V1_2,
        "DEN0077 v1.2, FFA_EL3_INTR_HANDLE (CPU cycle management interfaces); CRATE",
        &[],
        Policy::Block,
        Replies::NONE,
        "Between the SPMC and the SPMD only.",
    ),
    row(
        "FFA_MSG_SEND_DIRECT_REQ2",
        0x8D,
        Smc64,
        V1_2,
        "DEN0077 v1.2, FFA_MSG_SEND_DIRECT_REQ2 (direct messaging interfaces); LNX-DRV, XEN, \
         PKVM-ANDROID, CRATE",
        DIRECT2_FIELDS,
        Policy::Forward,
        Replies {
            kinds: Replies::ERROR | Replies::DIRECT_RESP2 | Replies::INTERRUPT | Replies::YIELD,
            success_regs: 0,
        },
        "Forwarded from v1.2 with the sender checked (Android pKVM, Xen); mainline pKVM \
         blocks it as optional. The UUID is carried as two 64-bit halves.",
    ),
    row(
        "FFA_MSG_SEND_DIRECT_RESP2",
        0x8E,
        Smc64,
        V1_2,
        "DEN0077 v1.2, FFA_MSG_SEND_DIRECT_RESP2 (direct messaging interfaces); XEN, CRATE",
        &[
            caller(1, 31, 16, "sender endpoint ID"),
            val(1, 15, 0, "receiver endpoint ID"),
        ],
        Policy::Block,
        Replies::NONE,
        "The host never responds to direct requests.",
    ),
];

/// Lowest FF-A function number.
pub const FIRST_NUMBER: u8 = 0x60;

/// [`INDEX`] entry bit: the row defines the SMC32 ID (the SMC64 bit is this shifted by 1).
const IN_SMC32: u8 = 1 << 6;

/// Function number - 0x60 -> row index (bits [5:0]) and the conventions the row defines
/// ([`IN_SMC32`], `IN_SMC32 << 1`); 0 for "no row". O(1) lookup, 160 bytes.
static INDEX: [u8; 160] = {
    let mut index = [0; 160];
    let mut i = 0;
    assert!(TABLE.len() <= 64, "row indices are 6 bits");
    while i < TABLE.len() {
        let n = TABLE[i].number;
        assert!(n >= FIRST_NUMBER, "function number below the FF-A range");
        assert!(index[(n - FIRST_NUMBER) as usize] == 0, "duplicate row");
        let convs = TABLE[i].convs;
        let mut e = i as u8;
        if convs.has(Conv::Smc32) {
            e |= IN_SMC32;
        }
        if convs.has(Conv::Smc64) {
            e |= IN_SMC32 << 1;
        }
        index[(n - FIRST_NUMBER) as usize] = e;
        i += 1;
    }
    index
};

/// Finds the row of a canonical FF-A function ID (call hint already stripped). Returns `None`
/// for anything else, including a convention the row does not define.
#[inline]
pub fn lookup(function_id: u32) -> Option<(usize, Conv)> {
    let conv = Conv::of(function_id);
    let number = function_id & 0xFF;
    if function_id & !(1 << 30) != 0x8400_0000 | number || number < FIRST_NUMBER as u32 {
        return None;
    }
    let e = *INDEX.get((number - FIRST_NUMBER as u32) as usize)?;
    (e & (IN_SMC32 << conv as u8) != 0).then_some(((e & 0x3F) as usize, conv))
}

/// The row of function number 0x60 + `n` (any convention; row 0 when there is none, whose
/// [`Compiled::fast`] entries of undefined conventions are 0): the trap path's [`lookup`]
/// once the ID is known to be canonical.
#[inline(always)]
pub(crate) fn row_of(n: usize) -> usize {
    INDEX.get(n).map_or(0, |e| usize::from(e & 0x3F))
}

/// What the proxy does with a call of a row at one version: the row's policy folded with
/// [`Abi::defined_at`], precomputed so the trap path reads one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Not defined at this version, or [`Policy::Block`]: NOT_SUPPORTED.
    Unsupported,
    /// [`Policy::Forward`].
    Forward,
    /// [`Policy::Emulate`].
    Emulate(Handler),
}

/// The validation masks of one (row, convention, version), deduplicated in [`LAYOUTS`]: the
/// carried bits of x1..x7, already cut to the convention's width; every other bit must be
/// zero. (Whether x8..x17 must be zero is [`Compiled::high_mbz`].)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Layout {
    /// Carried bits of x1..x7.
    pub carried: [u64; 7],
}

/// The registers a reply defines, as masks: `low` for x1..x7 (0, the low 32 bits, or all of
/// each), `high` for each of x8..x17 (the replies define all or none of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub(crate) struct ReplyMasks {
    /// x1..x7.
    pub low: [u64; 7],
    /// Each of x8..x17.
    pub high: u64,
}

/// The reply kinds a forwarded call may get, in the order of [`Compiled::reply`].
const REPLY_IDS: [u32; 9] = [
    fid::ERROR,
    fid::SUCCESS_32,
    fid::SUCCESS_64,
    fid::DIRECT_RESP_32,
    fid::DIRECT_RESP_64,
    fid::DIRECT_RESP2,
    fid::INTERRUPT,
    fid::YIELD,
    fid::MSG_WAIT,
];

/// Registers x1..x17 defined by each reply kind to a call with `replies`: (defined, 64-bit
/// wide) bit sets, bit n = xN; `None` if the ABI does not allow this reply.
const fn reply_regs(replies: Replies, kind: usize) -> Option<(u32, u32)> {
    let (needs, regs) = match kind {
        0 => (Replies::ERROR, (0b110, 0)),
        1 => (Replies::SUCCESS, (replies.success_regs, 0)),
        2 => (
            Replies::SUCCESS,
            (replies.success_regs, replies.success_regs),
        ),
        3 => (Replies::DIRECT_RESP, (0xFE, 0)),
        4 => (Replies::DIRECT_RESP, (0xFE, 0xF8)),
        5 => (Replies::DIRECT_RESP2, (0x3_FFF2, 0x3_FFF0)),
        6 => (Replies::INTERRUPT, (0b110, 0)),
        7 => (Replies::YIELD, (0b1110, 0)),
        _ => (Replies::MSG_WAIT, (0b10, 0)),
    };
    if replies.kinds & needs != 0 {
        Some(regs)
    } else {
        None
    }
}

const fn reply_masks(defined: u32, wide: u32) -> ReplyMasks {
    const fn mask(defined: u32, wide: u32, reg: u32) -> u64 {
        if defined & (1 << reg) == 0 {
            0
        } else if wide & (1 << reg) == 0 {
            0xFFFF_FFFF
        } else {
            u64::MAX
        }
    }
    let all = 0x3_FF00;
    assert!(
        defined & all == 0 || defined & all == all,
        "x8-x17 all or none"
    );
    assert!(wide & all == 0 || wide & all == all, "x8-x17 all or none");
    let mut m = ReplyMasks {
        low: [0; 7],
        high: mask(defined, wide, 8),
    };
    let mut i = 0;
    while i < 7 {
        m.low[i] = mask(defined, wide, i as u32 + 1);
        i += 1;
    }
    m
}

/// A row's schema and policy compiled for the trap path. Built at compile time from [`TABLE`].
#[derive(Clone, Copy)]
pub(crate) struct Compiled {
    /// What to do, per version.
    pub class: [Class; 3],
    /// Per reply kind ([`reply_kind`]: 1 + the [`REPLY_IDS`] index; 0 and 10..15 are no
    /// reply): [`REPLY_ALLOWED`] | index into [`REPLY_MASKS`], or 0 if the ABI does not
    /// allow that reply.
    pub reply: [u8; 16],
    /// Some allowed reply defines x8..x17.
    pub reply_high: bool,
    /// Per convention and version ([`fast`]): the index into [`LAYOUTS`], whether x8..x17
    /// must be zero, how they travel when forwarded, and (for the trap path's short path)
    /// what to do; the class bits are 0 for "take the general path".
    pub fast: [[u16; 3]; 2],
    /// Whether the row has a conditional field or a must-be-one mask (the trap path's one
    /// test before it looks at either).
    pub predicates: bool,
    /// A conditional field (`Kind::ValueIf`): register 0 means none.
    pub cond_reg: u8,
    /// The register whose [`Compiled::ones_mask`] bits must be set (`Kind::SecureId`):
    /// 0 means none.
    pub ones_reg: u8,
    /// Register of the enabling flag.
    pub flag_reg: u8,
    /// Bits of `cond_reg` that must be zero unless the flag is set (a w-register field).
    pub cond_mask: u32,
    /// The enabling flag's bit mask.
    pub flag_mask: u32,
    /// Bits of `ones_reg` that must be one (a w-register mask: bit 15 of each Secure
    /// endpoint ID field).
    pub ones_mask: u32,
}

const NO_LAYOUT: Layout = Layout { carried: [0; 7] };

/// Whether calls of `abi` in convention `conv` carry x8..x17 (at v1.2: only SMC64 calls
/// can, and then all ten, as payload).
const fn carries_high(abi: &Abi, conv: Conv) -> bool {
    let mut high = 0u16;
    let mut i = 0;
    while i < abi.fields.len() {
        let f = &abi.fields[i];
        if f.reg >= 8 && matches!(f.kind, Kind::Value) {
            // x8..x17 only ever carry whole 64-bit payload registers, from v1.2.
            assert!(f.width == 64, "x8-x17 fields are whole registers");
            assert!(
                f.since as u8 == Version::V1_2 as u8,
                "x8-x17 exist from v1.2"
            );
            high |= 1 << (f.reg - 8);
        }
        assert!(
            f.reg < 8 || matches!(f.kind, Kind::Value),
            "x8-x17 fields are values"
        );
        i += 1;
    }
    assert!(high == 0 || high == 0x3FF, "x8-x17 carried all or none");
    high != 0 && matches!(conv, Conv::Smc64)
}

/// The layout of `abi` in convention `conv` at version `v`.
const fn layout_of(abi: &Abi, conv: Conv, v: usize) -> Layout {
    let ver = Version::ALL[v];
    let mut l = Layout { carried: [0; 7] };
    let mut i = 0;
    while i < abi.fields.len() {
        let f = &abi.fields[i];
        assert!(f.reg >= 1 && f.reg <= 17, "register out of range");
        assert!(
            f.width == 64 || f.lsb as u32 + f.width as u32 <= 32,
            "w field past bit 31"
        );
        let carried = match f.kind {
            Kind::Value | Kind::ValueIf { .. } | Kind::SecureId => true,
            Kind::CallerId | Kind::Reserved | Kind::Refused => false,
        };
        if carried && f.defined_at(ver) && f.reg <= 7 {
            l.carried[f.reg as usize - 1] |= f.mask(conv);
        }
        i += 1;
    }
    l
}

const fn same_layout(a: &Layout, b: &Layout) -> bool {
    let mut i = 0;
    while i < 7 {
        if a.carried[i] != b.carried[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn same_masks(a: &ReplyMasks, b: &ReplyMasks) -> bool {
    let mut i = 0;
    while i < 7 {
        if a.low[i] != b.low[i] {
            return false;
        }
        i += 1;
    }
    a.high == b.high
}

/// Every distinct layout of the table (its defined conventions, all versions), in order of
/// first appearance, `NO_LAYOUT` first: writes the first `N` into `out`, returns how many
/// there are.
const fn collect_layouts<const N: usize>(out: &mut [Layout; N]) -> usize {
    if N > 0 {
        out[0] = NO_LAYOUT;
    }
    let mut n = 1;
    let mut seen = [NO_LAYOUT; 6 * 64];
    let mut row = 0;
    while row < TABLE.len() {
        let mut c = 0;
        while c < 2 {
            let conv = if c == 0 { Conv::Smc32 } else { Conv::Smc64 };
            let mut v = 0;
            while TABLE[row].convs.has(conv) && v < 3 {
                let l = layout_of(&TABLE[row], conv, v);
                let mut k = 0;
                while k < n && !same_layout(&seen[k], &l) {
                    k += 1;
                }
                if k == n {
                    seen[n] = l;
                    if N > 0 {
                        out[n] = l;
                    }
                    n += 1;
                }
                v += 1;
            }
            c += 1;
        }
        row += 1;
    }
    n
}

/// Every distinct reply mask set of the table, `NONE` (no register) first: writes the first
/// `N` into `out`, returns how many there are.
const fn collect_reply_masks<const N: usize>(out: &mut [ReplyMasks; N]) -> usize {
    const NONE: ReplyMasks = reply_masks(0, 0);
    let mut seen = [NONE; 10 * 64];
    let mut n = 1;
    let mut row = 0;
    while row < TABLE.len() {
        let mut kind = 0;
        while kind < REPLY_IDS.len() {
            if let Some((defined, wide)) = reply_regs(TABLE[row].replies, kind) {
                let m = reply_masks(defined, wide);
                let mut k = 0;
                while k < n && !same_masks(&seen[k], &m) {
                    k += 1;
                }
                if k == n {
                    seen[n] = m;
                    n += 1;
                }
            }
            kind += 1;
        }
        row += 1;
    }
    let mut i = 0;
    while i < N && i < n {
        out[i] = seen[i];
        i += 1;
    }
    n
}

const N_LAYOUTS: usize = collect_layouts::<0>(&mut []);

/// [`REPLY_MASKS`] has this many entries (a power of two: indices are masked, not checked).
const N_REPLY_MASKS: usize = 16;

const _: () = assert!(
    collect_reply_masks::<0>(&mut []) <= N_REPLY_MASKS,
    "more reply layouts than REPLY_MASKS holds"
);

/// [`Compiled::reply`] entry bit: the reply is allowed (the low bits index [`REPLY_MASKS`]).
pub(crate) const REPLY_ALLOWED: u8 = 0x80;

/// The distinct validation layouts of the table ([`Compiled::layout`] indexes it).
pub(crate) static LAYOUTS: [Layout; N_LAYOUTS] = {
    let mut out = [NO_LAYOUT; N_LAYOUTS];
    collect_layouts(&mut out);
    out
};

/// The distinct reply masks of the table; entry 0 defines no register (SMCCC
/// NOT_SUPPORTED from the firmware); unused entries at the end define none either.
pub(crate) static REPLY_MASKS: [ReplyMasks; N_REPLY_MASKS] = {
    let mut out = [reply_masks(0, 0); N_REPLY_MASKS];
    collect_reply_masks(&mut out);
    out
};

const fn compile(row: usize) -> Compiled {
    let abi = &TABLE[row];
    let mut c = Compiled {
        class: [Class::Unsupported; 3],
        reply: [0; 16],
        reply_high: false,
        fast: [[0; 3]; 2],
        predicates: false,
        cond_reg: 0,
        ones_reg: 0,
        flag_reg: 0,
        cond_mask: 0,
        flag_mask: 0,
        ones_mask: 0,
    };
    let layouts = &LAYOUTS;
    // Index into LAYOUTS; bit `3 * conv + version`: x8..x17 must be zero (v1.2, the call
    // carries none of them; before v1.2 they are not part of the call).
    let mut layout = [[0u8; 3]; 2];
    let mut high_mbz = 0u8;
    let mut v = 0;
    while v < 3 {
        let mut cv = 0;
        while cv < 2 {
            let conv = if cv == 0 { Conv::Smc32 } else { Conv::Smc64 };
            if abi.convs.has(conv) {
                let l = layout_of(abi, conv, v);
                let mut k = 0;
                while !same_layout(&layouts[k], &l) {
                    k += 1;
                }
                assert!(k < 256);
                layout[cv][v] = k as u8;
                if v == Version::V1_2 as usize && !carries_high(abi, conv) {
                    high_mbz |= 1 << (3 * cv + v);
                }
            }
            cv += 1;
        }
        c.class[v] = if !abi.defined_at(Version::ALL[v]) {
            Class::Unsupported
        } else {
            match abi.policy {
                Policy::Block => Class::Unsupported,
                Policy::Forward => Class::Forward,
                Policy::Emulate(h) => Class::Emulate(h),
            }
        };
        v += 1;
    }
    let masks = &REPLY_MASKS;
    let mut kind = 0;
    while kind < REPLY_IDS.len() {
        if let Some((defined, wide)) = reply_regs(abi.replies, kind) {
            let m = reply_masks(defined, wide);
            let mut k = 0;
            while !same_masks(&masks[k], &m) {
                k += 1;
            }
            c.reply[kind + 1] = REPLY_ALLOWED | k as u8;
            if m.high != 0 {
                c.reply_high = true;
            }
        }
        kind += 1;
    }
    let mut v = 0;
    while v < 3 {
        let mut cv = 0;
        while cv < 2 {
            let conv = if cv == 0 { Conv::Smc32 } else { Conv::Smc64 };
            let class = match c.class[v] {
                Class::Forward => fast::FORWARD,
                Class::Emulate(Handler::Features) => fast::FEATURES,
                Class::Emulate(Handler::IdGet) => fast::ID_GET,
                Class::Emulate(_) | Class::Unsupported => 0,
            };
            let l = layout[cv][v];
            let mbz = high_mbz & (1 << (3 * cv + v)) != 0;
            // In place: v1.2, and nothing in x8..x17 either way (they are zero in the call
            // and no allowed reply defines them).
            let send = if v == Version::V1_2 as usize && mbz && !c.reply_high {
                fast::IN_PLACE
            } else {
                0
            };
            assert!((l as u16) < fast::LAYOUT + 1);
            if abi.convs.has(conv) {
                let short = if row == VERSION_ROW { 0 } else { class };
                c.fast[cv][v] = l as u16 | short | send | if mbz { fast::HIGH_MBZ } else { 0 };
            }
            cv += 1;
        }
        v += 1;
    }
    let mut i = 0;
    while i < abi.fields.len() {
        let f = &abi.fields[i];
        if let Kind::ValueIf { reg, bit } = f.kind {
            assert!(
                c.cond_reg == 0 || c.cond_reg == f.reg,
                "one conditional field per row"
            );
            assert!(f.reg <= 7 && reg <= 7 && reg >= 1);
            c.cond_reg = f.reg;
            assert!(
                f.mask(Conv::Smc64) >> 32 == 0 && bit < 32,
                "w-register fields"
            );
            c.cond_mask = f.mask(Conv::Smc64) as u32;
            c.flag_reg = reg;
            c.flag_mask = 1 << bit;
        }
        if let Kind::SecureId = f.kind {
            // An endpoint ID is 16 bits wide; its bit 15 says Secure. The field is carried
            // (layout_of), and the top bit must also be one.
            assert!(
                f.width == 16 && f.lsb + 16 <= 32,
                "endpoint IDs are w-register halves"
            );
            // The mask applies at every version the row exists in.
            assert!(
                f.since as u8 == Version::V1_0 as u8,
                "Secure IDs in every version"
            );
            assert!(
                c.ones_reg == 0 || c.ones_reg == f.reg,
                "must-be-one bits in one register per row"
            );
            assert!(f.reg >= 1 && f.reg <= 7);
            c.ones_reg = f.reg;
            c.ones_mask |= 1 << (f.lsb + 15);
        }
        i += 1;
    }
    c.predicates = c.cond_reg != 0 || c.ones_reg != 0;
    c
}

impl Compiled {
    /// Whether [`Compiled::cond_reg`] or [`Compiled::ones_reg`] is in use.
    #[inline(always)]
    pub(crate) fn has_predicates(&self) -> bool {
        self.predicates
    }
}

/// The bits of [`Compiled::fast`].
pub(crate) mod fast {
    /// Bits [5:0]: the index into [`super::LAYOUTS`].
    pub const LAYOUT: u16 = 0x3F;
    /// Bits [7:6]: what the trap path's short path does (0: take the general path).
    pub const CLASS: u16 = 3 << 6;
    /// Validate and forward.
    pub const FORWARD: u16 = 1 << 6;
    /// Validate, then `FFA_FEATURES`.
    pub const FEATURES: u16 = 2 << 6;
    /// Validate, then answer `FFA_ID_GET`.
    pub const ID_GET: u16 = 3 << 6;
    /// Bit 8: a forwarded call can go from the host's registers in place (v1.2, x8..x17
    /// zero in the call and defined by no allowed reply: `smccc::High::Keep`); else the
    /// proxy forwards a rebuilt copy.
    pub const IN_PLACE: u16 = 1 << 8;
    /// Bit 10: x8..x17 must be zero ([`super::Compiled::high_mbz`]).
    pub const HIGH_MBZ: u16 = 1 << 10;
}

// `row_of` answers row 0 for a number without a row: row 0 must take the general path.
const _: () = {
    let c = compile(0);
    assert!((c.fast[0][0] | c.fast[0][1] | c.fast[0][2]) & fast::CLASS == 0);
    assert!((c.fast[1][0] | c.fast[1][1] | c.fast[1][2]) & fast::CLASS == 0);
};

/// [`TABLE`] compiled for the trap path.
pub(crate) static COMPILED: [Compiled; TABLE.len()] = {
    let mut out = [compile(0); TABLE.len()];
    let mut i = 1;
    while i < TABLE.len() {
        out[i] = compile(i);
        i += 1;
    }
    out
};

/// The reply kind of a reply's x0 (index into [`Compiled::reply`]): 1 + its index in
/// [`REPLY_IDS`], or 0 for anything that is no reply of any forwarded call.
#[inline(always)]
pub(crate) fn reply_kind(x0: u64) -> usize {
    // Bit 6: SMC64; bits [5:0]: function number - 0x60 -> kind (0: not a reply).
    static KIND: [u8; 128] = {
        let mut t = [0; 128];
        let mut k = 0;
        while k < REPLY_IDS.len() {
            let id = REPLY_IDS[k];
            let slot = (id >> 24) as usize & 0x40 | ((id & 0xFF) as usize - 0x60);
            t[slot] = k as u8 + 1;
            k += 1;
        }
        t
    };
    // x0 = 0x8400_0060 + n or 0xC400_0060 + n with n < 64, nothing else.
    let n = (x0 & !(1 << 30)).wrapping_sub(0x8400_0060);
    if n >= 64 {
        return 0;
    }
    usize::from(KIND[(n as usize | (x0 >> 24) as usize & 0x40) & 127])
}

/// A field as the firmware keeps it: [`Field`] without the string pointer (its name is a
/// range of [`NAMES`]). With the row data in [`ROWS`], the firmware never refers to
/// [`TABLE`] itself, whose pointers would cost the image 5 KiB of relocated data.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CField {
    reg: u8,
    lsb: u8,
    width: u8,
    kind: Kind,
    since: Version,
    name_at: u16,
    name_len: u8,
}

impl CField {
    /// The [`Field`] back.
    pub(crate) fn field(&self) -> Field {
        Field {
            reg: self.reg,
            lsb: self.lsb,
            width: self.width,
            kind: self.kind,
            name: name_at(self.name_at, self.name_len),
            since: self.since,
        }
    }
}

/// A row as the firmware keeps it (see [`CField`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CRow {
    name_at: u16,
    name_len: u8,
    number: u8,
    convs: Convs,
    first_field: u16,
    fields: u8,
}

/// The fields the firmware keeps of a row: all of them on the development host; in the
/// image, none for rows the proxy blocks, which are refused before any field is looked at.
const fn kept_fields(abi: &Abi) -> &'static [Field] {
    if cfg!(target_os = "none") && matches!(abi.policy, Policy::Block) {
        &[]
    } else {
        abi.fields
    }
}

const N_FIELDS: usize = {
    let mut n = 0;
    let mut row = 0;
    while row < TABLE.len() {
        n += kept_fields(&TABLE[row]).len();
        row += 1;
    }
    n
};

/// Each name once: returns the blob's length, and fills `blob` (if long enough) and the
/// offsets.
const fn collect_names<const N: usize>(
    blob: &mut [u8; N],
    rows: &mut [CRow; TABLE.len()],
    fields: &mut [CField; N_FIELDS],
) -> usize {
    // (offset, length) of every name added so far.
    let mut seen = [(0u16, 0u8); 64 + N_FIELDS];
    let mut n_seen = 0;
    let mut len = 0;
    let mut row = 0;
    let mut f = 0;
    while row < TABLE.len() {
        let abi = &TABLE[row];
        let kept = kept_fields(abi);
        let mut i = 0;
        while i <= kept.len() {
            let name = if i == 0 {
                abi.name.as_bytes()
            } else {
                kept[i - 1].name.as_bytes()
            };
            assert!(name.len() < 256, "names fit a byte");
            // Already in the blob?
            let mut k = 0;
            let mut at = usize::MAX;
            while k < n_seen && at == usize::MAX {
                let (o, l) = seen[k];
                if l as usize == name.len() {
                    let mut j = 0;
                    while j < name.len() && (N == 0 || blob[o as usize + j] == name[j]) {
                        j += 1;
                    }
                    if j == name.len() && N != 0 {
                        at = o as usize;
                    }
                }
                k += 1;
            }
            if at == usize::MAX {
                at = len;
                let mut j = 0;
                while j < name.len() {
                    if N != 0 {
                        blob[len + j] = name[j];
                    }
                    j += 1;
                }
                len += name.len();
                seen[n_seen] = (at as u16, name.len() as u8);
                n_seen += 1;
            }
            assert!(at < u16::MAX as usize);
            if i == 0 {
                rows[row] = CRow {
                    name_at: at as u16,
                    name_len: name.len() as u8,
                    number: abi.number,
                    convs: abi.convs,
                    first_field: f as u16,
                    fields: kept.len() as u8,
                };
            } else {
                let fl = &kept[i - 1];
                fields[f] = CField {
                    reg: fl.reg,
                    lsb: fl.lsb,
                    width: fl.width,
                    kind: fl.kind,
                    since: fl.since,
                    name_at: at as u16,
                    name_len: name.len() as u8,
                };
                f += 1;
            }
            i += 1;
        }
        row += 1;
    }
    len
}

const NO_CROW: CRow = CRow {
    name_at: 0,
    name_len: 0,
    number: 0,
    convs: Convs::Smc32,
    first_field: 0,
    fields: 0,
};

const NO_CFIELD: CField = CField {
    reg: 0,
    lsb: 0,
    width: 0,
    kind: Kind::Reserved,
    since: Version::V1_0,
    name_at: 0,
    name_len: 0,
};

/// An upper bound for the blob while counting (names are only compared once stored).
const N_NAME_BYTES: usize = {
    let mut probe = [0u8; 8192];
    let mut rows = [NO_CROW; TABLE.len()];
    let mut fields = [NO_CFIELD; N_FIELDS];
    let n = collect_names(&mut probe, &mut rows, &mut fields);
    assert!(n <= 8192);
    n
};

/// The firmware's table: names, rows and fields without pointers (see [`CField`]).
const COMPACT: ([u8; N_NAME_BYTES], [CRow; TABLE.len()], [CField; N_FIELDS]) = {
    let mut blob = [0u8; N_NAME_BYTES];
    let mut rows = [NO_CROW; TABLE.len()];
    let mut fields = [NO_CFIELD; N_FIELDS];
    collect_names(&mut blob, &mut rows, &mut fields);
    (blob, rows, fields)
};

/// Every row and field name, each once.
static NAMES: &str = match core::str::from_utf8(&COMPACT.0) {
    Ok(s) => s,
    Err(_) => panic!("names are UTF-8"),
};

/// [`TABLE`]'s rows without pointers.
pub(crate) static ROWS: [CRow; TABLE.len()] = COMPACT.1;

/// [`TABLE`]'s fields without pointers, row after row.
static FIELDS: [CField; N_FIELDS] = COMPACT.2;

fn name_at(at: u16, len: u8) -> &'static str {
    let at = usize::from(at);
    NAMES.get(at..at + usize::from(len)).unwrap_or("?")
}

impl CRow {
    /// The spec's name.
    pub(crate) fn name(&self) -> &'static str {
        name_at(self.name_at, self.name_len)
    }

    /// The function ID in convention `conv`, if the row defines it.
    pub(crate) fn function_id(&self, conv: Conv) -> Option<u32> {
        let base = match conv {
            Conv::Smc32 => 0x8400_0000,
            Conv::Smc64 => 0xC400_0000,
        };
        self.convs
            .has(conv)
            .then_some(base | u32::from(self.number))
    }

    /// The row's fields.
    pub(crate) fn fields(&self) -> &'static [CField] {
        let first = usize::from(self.first_field);
        FIELDS
            .get(first..first + usize::from(self.fields))
            .unwrap_or(&[])
    }
}

/// The name of row `row`, or "unknown".
pub(crate) fn row_name(row: usize) -> &'static str {
    ROWS.get(row).map_or("unknown", CRow::name)
}

/// Index of the `FFA_VERSION` row (used by the negotiation path, which bypasses the version
/// gate).
pub(crate) const VERSION_ROW: usize = row_index(0x63);

/// Index of the `FFA_FEATURES` row.
pub(crate) const FEATURES_ROW: usize = row_index(0x64);

const fn row_index(number: u8) -> usize {
    let mut i = 0;
    while i < TABLE.len() {
        if TABLE[i].number == number {
            return i;
        }
        i += 1;
    }
    panic!("no such row")
}

/// Decisions that are not tied to a single row (reference §4.1 and the hygiene rules).
pub const DECISIONS: &[(&str, &str)] = &[
    (
        "§4.1 #1 buffer-ABI ID field",
        "RXTX_UNMAP names the caller in w1[31:16], RX_RELEASE/RX_ACQUIRE in w1[15:0]; the \
         other half is reserved, so w1 must be 0 in full for all three (pKVM, EDK2 #12563, HF \
         at a virtual instance).",
    ),
    (
        "§4.1 #2 call before FFA_VERSION",
        "FFA_ERROR(NOT_SUPPORTED) (Xen), not INVALID_PARAMETERS (pKVM): no schema can be \
         chosen before a version exists, and INVALID_PARAMETERS is kept for failed field \
         checks so the audit trail means one thing.",
    ),
    (
        "§4.1 #3 when negotiation is final",
        "At the first FF-A call other than FFA_VERSION (Xen, Hafnium; the spec lets a caller \
         probe several times). Before that, a new FFA_VERSION renegotiates. After it, a \
         request with major 1 and minor >= the negotiated one gets the negotiated version; a \
         lower minor or another major gets NOT_SUPPORTED, because the proxy forwards \
         structures unchanged and cannot translate between versions (pKVM f4142693).",
    ),
    (
        "§4.1 #4 FFA_VERSION return value",
        "The negotiated version (pKVM), not always 1.2 (Xen): it is the only version the proxy \
         will speak to this caller, and after negotiation is final a higher request must not \
         be told of a version it cannot get. It satisfies the spec's compatibility rule (same \
         major, minor >= the caller's when the proxy accepted the caller's minor).",
    ),
    (
        "§4.1 #5 per-vCPU flags",
        "BIND: flag forwarded, [31:1] MBZ. SET: flag forwarded, delay-SRI refused, [15:2] \
         MBZ, vCPU ID MBZ unless per-vCPU. The proxy refuses what is invalid from the normal \
         world; whether per-vCPU notifications are supported is the SPMC's answer.",
    ),
    (
        "§4.1 #6 INFO_GET width",
        "Both FFA_NOTIFICATION_INFO_GET_32 and _64 are rows and both are forwarded.",
    ),
    (
        "§4.1 #7 partition list includes the caller",
        "Passed on as the SPMC gives it: the SPMC lists Secure partitions only, and Linux adds \
         its own ID-0 entry when it is missing.",
    ),
    (
        "§4.1 #8 DIRECT_REQ w2",
        "MBZ (Hafnium): no partition-message flags exist and framework messages are not the \
         host's to send.",
    ),
    (
        "§4.1 #9 no-RX-buffer error",
        "FFA_PARTITION_INFO_GET without mapped buffers: DENIED (Xen; the caller cannot \
         receive); with the host's RX still full: BUSY (the spec's error for an RX buffer that \
         is not free; pKVM uses BUSY for both). Count-only calls need no buffer.",
    ),
    (
        "SMC32 upper halves",
        "Bits [63:32] of x1-x7 in an SMC32 call must be zero (the callee would ignore them; \
         the proxy rejects, per the issue). A register the spec names wN carries nothing in \
         bits [63:32] in an SMC64 call either.",
    ),
    (
        "x8-x17",
        "v1.2 (SMCCC v1.2 register file): MBZ for every ABI that does not define them, in both \
         conventions (HF checks them for FFA_RUN, MSG_WAIT and DIRECT_RESP). v1.0/v1.1: not \
         part of an FF-A call, so neither checked nor forwarded (the SPMC gets zeros). In \
         replies, x8-x17 carry the reply's defined registers (DIRECT_RESP2); otherwise an \
         SMC32 caller gets its own x8-x17 back (SMCCC: preserved) and an SMC64 caller gets \
         zeros.",
    ),
    (
        "SMCCC hygiene",
        "As the newest pKVM hyp-main: an SMC with a non-zero immediate, or with x0[63:32] \
         set, gets SMCCC NOT_SUPPORTED (-1 in x0) and nothing is forwarded. The SMCCC v1.3 \
         call hint (bit 16, SVE state not live) is stripped before lookup; the forwarded x0 is \
         the canonical ID without it, which is always safe (the firmware then assumes live \
         SVE state). Bits [23:17] set, or a yielding call (bit 31 clear) with an FF-A \
         function number, get SMCCC NOT_SUPPORTED too: they are not valid FF-A IDs, but the \
         SPMD would decode them by function number.",
    ),
    (
        "Proxy off",
        "No SPMC (FFA_VERSION answers NOT_SUPPORTED), an FF-A major other than 1, SMCCC below \
         v1.2, or an SPMC that does not see the proxy as ID 0: every FF-A call gets SMCCC \
         NOT_SUPPORTED (-1 in x0), exactly what firmware without an SPMD answers.",
    ),
    (
        "Replies",
        "A forwarded call's reply is rebuilt from the registers its ABI defines for that reply \
         (FFA_ERROR w1/w2, FFA_SUCCESS per row, DIRECT_RESP w1/w2/x3-x7, DIRECT_RESP2 \
         w1/x4-x17, INTERRUPT w1/w2, YIELD w1-w3, MSG_WAIT w1); anything else is zero. A \
         reply the ABI does not allow becomes FFA_ERROR(ABORTED) (Xen) and is counted. SMCCC \
         NOT_SUPPORTED from the firmware is passed on as is.",
    ),
];

#[cfg(not(target_os = "none"))]
pub use policy_doc::write_policy_markdown;

/// The generator of `docs/ffa-policy.md` (development host only: its text is not in the
/// firmware image).
#[cfg(not(target_os = "none"))]
mod policy_doc {
    use core::fmt;

    use super::*;

    /// Writes `docs/ffa-policy.md` (the whole file) from the table.
    pub fn write_policy_markdown(w: &mut impl fmt::Write) -> fmt::Result {
        writeln!(w, "# FF-A proxy policy")?;
        writeln!(w)?;
        writeln!(
            w,
            "<!-- Generated from hypervisor/src/ffa/abi.rs by ffa::abi::write_policy_markdown. \
         Do not edit: change the table, then run\n     \
         UPDATE_FFA_POLICY=1 cargo test -p hypervisor policy_doc_is_up_to_date -->"
        )?;
        writeln!(w)?;
        w.write_str(INTRO)?;
        writeln!(w)?;
        writeln!(w, "## Summary")?;
        writeln!(w)?;
        writeln!(w, "| Function | SMC32 | SMC64 | Since | Policy |")?;
        writeln!(w, "|---|---|---|---|---|")?;
        for abi in TABLE {
            let id = |c| {
                if abi.convs.has(c) {
                    Hex(abi.function_id(c))
                } else {
                    Hex(0)
                }
            };
            writeln!(
                w,
                "| {} | {} | {} | {}{} | {} |",
                abi.name,
                id(Conv::Smc32),
                id(Conv::Smc64),
                abi.since,
                Until(abi.until),
                PolicyName(abi.policy)
            )?;
        }
        writeln!(w)?;
        writeln!(w, "## Decisions")?;
        writeln!(w)?;
        for (what, why) in DECISIONS {
            writeln!(w, "- **{what}.** {}", Squash(why))?;
        }
        writeln!(w)?;
        w.write_str(VERSION_TEXT)?;
        writeln!(w)?;
        w.write_str(MEMORY_TEXT)?;
        writeln!(w)?;
        writeln!(w, "## Functions")?;
        for abi in TABLE {
            writeln!(w)?;
            writeln!(w, "### {} ({:#04x})", abi.name, abi.number)?;
            writeln!(w)?;
            writeln!(w, "- Spec: {}", Squash(abi.spec))?;
            writeln!(
                w,
                "- IDs: {}; since v{}{}",
                Ids(abi),
                abi.since,
                Until(abi.until)
            )?;
            writeln!(w, "- Policy: {}", PolicyName(abi.policy))?;
            if abi.policy == Policy::Forward {
                writeln!(w, "- Replies accepted: {}", ReplyNames(abi.replies))?;
            }
            writeln!(w, "- Note: {}", Squash(abi.note))?;
            writeln!(w)?;
            if abi.fields.is_empty() {
                writeln!(
                    w,
                    "No fields: x1-x7 MBZ (and x8-x17 at v1.2, SMCCC v1.2 calls)."
                )?;
                continue;
            }
            writeln!(w, "| Register | Bits | Field | Rule | Since |")?;
            writeln!(w, "|---|---|---|---|---|")?;
            for f in abi.fields {
                writeln!(
                    w,
                    "| x{} | {} | {} | {} | {} |",
                    f.reg,
                    Bits(f),
                    f.name,
                    KindName(f.kind),
                    f.since
                )?;
            }
            writeln!(w)?;
            let high = if abi.policy == Policy::Emulate(Handler::Version) {
                "x8-x17 not checked (see the note)"
            } else {
                "x8-x17 MBZ at v1.2 unless listed"
            };
            writeln!(
                w,
                "Every other bit of x1-x7 MBZ (SMC32: bits [63:32] of x1-x7 too); {high}."
            )?;
        }
        writeln!(w)?;
        w.write_str(TESTING_TEXT)
    }

    const INTRO: &str = "\
The hypervisor sits between the host (Linux at EL1, FF-A endpoint 0) and the SPMC (OP-TEE at
S-EL1 behind TF-A's SPMD). Every FF-A SMC the host makes traps to EL2 and goes through
`hypervisor::ffa::Proxy::handle`:

1. SMCCC hygiene (immediate, x0[63:32], call hint, reserved ID bits).
2. Lookup in the table below (O(1)); unknown IDs get FFA_ERROR(NOT_SUPPORTED).
3. Version gate: the negotiated version decides which functions and fields exist.
4. Policy: `Block` answers NOT_SUPPORTED; `Forward` and `Emulate` validate first.
5. Validation: every field that names the caller must be 0, every reserved or refused bit must
   be 0. A violation answers FFA_ERROR(INVALID_PARAMETERS), forwards nothing, and yields a
   rejection record naming the function, the register and the field.
6. Forward: the outgoing registers are rebuilt from the schema's carried fields alone
   (everything else zero); the reply is filtered to the registers the ABI defines for it.

Per-function counters (forwarded, emulated, rejected, not supported, refused replies) are
kept for every ID (`Proxy::counters`).
";

    const VERSION_TEXT: &str = "\
## Version negotiation

- At boot `Proxy::probe` asks the SPMC FFA_VERSION(1.2), then FFA_ID_GET (must be SUCCESS
  with ID 0), then, from v1.1, FFA_SPM_ID_GET (for the console line `hyp: FF-A: proxy on,
  SPMC v1.2 (ID 0x8000), offering v1.2`; a failure is not fatal). The proxy's version is
  min(firmware, 1.2). Nothing else at boot: FFA_FEATURES queries are the host's, and the
  hypervisor's mailbox is registered at the host's first FFA_RXTX_MAP. A strict SPMC
  (Hafnium) takes ID_GET as the end of version negotiation for ID 0, so there a later host
  downgrade below the SPMC's version is refused and the host gets NOT_SUPPORTED; OP-TEE
  accepts it.
- The host's FFA_VERSION(1.x): minor >= the proxy's gives the proxy's version; a lower minor
  is first asked of the SPMC (pKVM) and, if the SPMC accepts, becomes the negotiated version.
  Major other than 1, or bit 31 set: NOT_SUPPORTED in w0.
- Negotiation is final at the host's first other FF-A call. After that: same major, minor >=
  negotiated: the negotiated version; lower minor: NOT_SUPPORTED.
- State: one atomic word (negotiated version + final bit) read lock-free on every call; the
  rare negotiation path is serialised by a spin lock. A call racing with a negotiation on
  another CPU gets FFA_ERROR(BUSY).

## Concurrency

`Proxy` is `Sync`: the negotiated version is an `AtomicU32`, the counters are `AtomicU64`
(relaxed: they are statistics, each increment is atomic). FFA_VERSION takes the negotiation
spin lock; the mailbox and memory ABIs take the memory spin lock (mailboxes, ownership map,
live transactions) for the whole call, SPMC calls included, so two CPUs never interleave in
the mailboxes. Forwarded ABIs (direct messages, notifications, FFA_RUN) take no lock. The
validation path allocates nothing; the ownership map and the descriptor buffer are allocated
once at boot. The SMC conduit is per call (`&mut`), so each CPU uses its own.
";

    const MEMORY_TEXT: &str = "\
## Mailbox, partition discovery and memory sharing

Code: `ffa/mailbox.rs`, `ffa/mem.rs`, `ffa/descriptor.rs`, `ownership.rs`.

**Two instances, one ID (T1).** The host and the hypervisor are both endpoint 0 at the
SPMC, which knows one RX/TX pair for ID 0: the hypervisor's, two 4 KiB pages in the
carve-out (`ffa_platform.rs`, in BSS; the host cannot reach them). The host's pair is
never given to the SPMC; the proxy copies between the pairs. The SPMC never sees a host
buffer address and never reads a buffer the host can still write.

**When the hypervisor's pair is registered.** At the host's first FFA_RXTX_MAP (after
FFA_FEATURES(FFA_RXTX_MAP_64) says the SPMC accepts 4 KiB buffers), not at boot: the host's
FFA_VERSION has happened by then, so the SPMC sees VERSION first from ID 0, and an SPMC that
wants bigger buffers fails the host's map (NO_MEMORY) instead of the boot. The pair stays
registered for good; a host FFA_RXTX_UNMAP only unpins the host's pages.

**The host's pair.** FFA_RXTX_MAP_64 and _32 (the same call with 32-bit addresses; it costs
nothing). FFA_FEATURES(FFA_RXTX_MAP) answers w2[1:0] = 0 (4 KiB) and, from v1.2, w2[31:16]
= 1 (at most one page): each buffer must be exactly one page (page count 1), 4 KiB-aligned,
TX != RX, Owned host RAM that the EL2 map covers (not the carve-out, Secure or firmware
memory, MMIO, a shared page). INVALID_PARAMETERS for a bad address, size or alignment;
DENIED for a page in use or a second map. The pages become SharedWithHyp (pinned) until
FFA_RXTX_UNMAP (w1 = 0; INVALID_PARAMETERS if nothing is mapped). A host with 16 KiB or 64
KiB pages maps 4 or 16 pages and is refused: not supported.

**RX ownership (T10).** The host's RX is full after a successful non-count
FFA_PARTITION_INFO_GET until the host's FFA_RX_RELEASE, which is emulated and never
forwarded (DENIED if nothing is mapped or the RX is not full). The hypervisor's RX is
released at the SPMC right after the copy, and only when the SPMC filled it. OP-TEE 4.10
also leaves the caller's RX full after a failed PARTITION_INFO_GET; the proxy releases
nothing after an error, and when the SPMC later answers BUSY it releases its RX once and
retries.

**FFA_PARTITION_INFO_GET.** Count-only (v1.1+, w5 bit 0) needs no buffer and is forwarded.
Otherwise: DENIED without mapped buffers, BUSY while the host's RX is full; the SPMC's
descriptors (8 bytes at v1.0, 24 from v1.1, count x size <= 4 KiB, else ABORTED) are copied
into the host's RX. FFA_PARTITION_INFO_GET_REGS (v1.2) is registers only and forwarded after
the checks.

**FFA_MEM_SHARE / FFA_MEM_RECLAIM.** The fragment is copied from the host's TX into
hypervisor memory once and only the copy is validated (T6) for the negotiated version:
sender 0, handle 0, flags 0, Normal WB/NC memory with the NS bit clear, 1-4 Secure
receivers with RO/RW access, offsets and lengths inside the fragment with overflow-safe
arithmetic, 1-255 page-aligned, non-empty, non-wrapping constituents whose sum is the total
page count. The constituents are claimed Owned -> SharedWithSecure all or nothing (a page
that is not host RAM: INVALID_PARAMETERS; in use, the mailbox, or named twice: DENIED), then
the copy is written to the hypervisor's TX and the call forwarded. SUCCESS records handle ->
pages in the ownership map (the pages' tag); an error returns them to Owned. RECLAIM is
forwarded only for a recorded handle (else INVALID_PARAMETERS) and returns the recorded
pages to Owned only when the SPMC answers SUCCESS.

**Fragments.** A SHARE or LEND whose fragment length is below its total length is checked
fragment by fragment: the first must hold the header, the receivers, the composite and whole
constituents; each FFA_MEM_FRAG_TX whole constituents only; every fragment is copied,
validated and its pages claimed before it is forwarded through the hypervisor's TX, and the
composite's page total is checked before the last one goes. A refused later fragment aborts
the transaction with FFA_MEM_RECLAIM. One fragmented transaction at a time (BUSY); RECLAIM of
it before it is complete: DENIED.

**Bounds.** Fragments of at most 4 KiB, transactions of at most 8 384 bytes, at most 256 live
transactions, 4 receivers, 512 constituents, 1024 ownership runs:
NO_MEMORY beyond. Host RAM on QEMU is 262 144 pages; the ownership map stores only runs of
non-Owned pages (a sorted vector of fixed capacity, about 32 KiB).

**FFA_MEM_LEND** takes the same path as SHARE, but its pages become LentToSecure and leave
the host's stage 2 (break-before-make, `tlbi ipas2e1is` + `tlbi vmalle1is`) before the SPMC
hears of them; a host access is a stage-2 fault injected as a synchronous external abort;
they come back on RECLAIM SUCCESS or a refused LEND.

**Not implemented, blocked (NOT_SUPPORTED, FFA_FEATURES agrees).** FFA_MEM_DONATE,
FFA_MEM_FRAG_RX from the host (it is the receiver's side), FFA_MEM_RETRIEVE_*, FFA_MSG_SEND2 (the SPMC would read ID 0's TX: needs a checked copy of
the message header).

**Audit.** HVC 0xc600_0001 with an FF-A function ID in x1 (0 for all) returns forwarded,
emulated, rejected, not supported and refused replies in x1-x5 (`hvc.rs`); the hypervisor
prints the same per function at the host's SYSTEM_OFF or SYSTEM_RESET.

**What Linux 7.2 does through the proxy** (Debian's arm64 kernel and OP-TEE 4.10, measured):
FFA_VERSION(1.2) -> 1.2; FFA_ID_GET -> 0; FFA_FEATURES(RXTX_MAP_64) -> 4 KiB, 1 page;
FFA_RXTX_MAP_64(1 page) -> SUCCESS; FFA_FEATURES of MEM_LEND_64 (not supported), MEM_SHARE_64
(SUCCESS), DIRECT_REQ2 and DIRECT_RESP2 (not supported), NOTIFICATION_BITMAP_CREATE
(forwarded, SUCCESS); FFA_NOTIFICATION_BITMAP_CREATE(0, 4 vCPUs); FFA_FEATURES of SRI (SGI 8)
and NPI (not supported), PARTITION_INFO_GET_REGS (not supported by OP-TEE);
FFA_PARTITION_INFO_GET count-only -> 1, then the full call -> 1 x 24 bytes, FFA_RX_RELEASE;
then the OP-TEE driver: FFA_MSG_SEND_DIRECT_REQ (version, capabilities), FFA_NOTIFICATION_BIND,
two FFA_MEM_SHARE_64 of one page each (112-byte v1.2 descriptors, SPMC handles
0x1000_0000_0000 and _0001), FFA_MEM_RECLAIM of the first. No rejection.
";

    const TESTING_TEXT: &str = "\
## Tests

- `cargo test -p hypervisor ffa`: unit tests against a scripted mock SPMC, written from the
  reference's register layouts (not from this table), and property tests (proptest, 4096
  cases; `PROPTEST_CASES=1000000 cargo test -p hypervisor proptests` for a long run).
- `cargo test -p hypervisor mailbox_tests`, `descriptor`, `ownership`: the mailbox, partition
  discovery and memory sharing against a model of OP-TEE's SPMC with a simulated physical
  memory (descriptors built as Linux builds them), the descriptor parser (both layouts,
  every truncation, mutations), and the ownership map (transitions, rollback, a random
  sequence checked page by page against a byte-per-page model).
- `fuzz/run.sh 10`: 10 seconds each of the cargo-fuzz targets `ffa_handle` (decode +
  validate + the whole `Proxy::handle` path with a fuzzed SPMC reply) and `ffa_memory`
  (sequences of mailbox and memory calls with a fuzzed host TX descriptor and fuzzed SPMC
  replies; memory only touched at the mailbox pages or host RAM, the SPMC only ever sees the
  hypervisor's mailbox addresses and descriptors that parse).
- Long run: `cd fuzz && cargo +nightly fuzz run ffa_handle corpus/ffa_handle seeds/ffa_handle
  -- -max_len=292 -max_total_time=3600 -jobs=4 -workers=4`, and the same with `ffa_memory`
  and `-max_len=4096` (crashes in `fuzz/artifacts/<target>/`).
";

    /// Collapses the runs of spaces that line continuations leave in the string constants.
    struct Squash<'a>(&'a str);

    impl fmt::Display for Squash<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mut first = true;
            for word in self.0.split_whitespace() {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(word)?;
                first = false;
            }
            Ok(())
        }
    }

    struct Hex(u32);

    impl fmt::Display for Hex {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.0 == 0 {
                f.write_str("-")
            } else {
                write!(f, "`{:#010x}`", self.0)
            }
        }
    }

    struct Until(Option<Version>);

    impl fmt::Display for Until {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Some(v) => write!(f, " (until v{v})"),
                None => Ok(()),
            }
        }
    }

    struct Ids<'a>(&'a Abi);

    impl fmt::Display for Ids<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let abi = self.0;
            match abi.convs {
                Convs::Smc32 => write!(f, "SMC32 {}", Hex(abi.function_id(Conv::Smc32))),
                Convs::Smc64 => write!(f, "SMC64 {}", Hex(abi.function_id(Conv::Smc64))),
                Convs::Both => write!(
                    f,
                    "SMC32 {}, SMC64 {}",
                    Hex(abi.function_id(Conv::Smc32)),
                    Hex(abi.function_id(Conv::Smc64))
                ),
            }
        }
    }

    struct PolicyName(Policy);

    impl fmt::Display for PolicyName {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Policy::Forward => f.write_str("forward after checks"),
                Policy::Emulate(h) => write!(f, "emulate ({h:?})"),
                Policy::Block => f.write_str("block (NOT_SUPPORTED)"),
            }
        }
    }

    struct ReplyNames(Replies);

    impl fmt::Display for ReplyNames {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            const NAMES: [&str; 7] = [
                "FFA_ERROR",
                "FFA_SUCCESS",
                "FFA_MSG_SEND_DIRECT_RESP",
                "FFA_MSG_SEND_DIRECT_RESP2",
                "FFA_INTERRUPT",
                "FFA_YIELD",
                "FFA_MSG_WAIT",
            ];
            let mut first = true;
            for (i, name) in NAMES.iter().enumerate() {
                if self.0.kinds & (1 << i) == 0 {
                    continue;
                }
                if !first {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
                if i == 1 {
                    write!(f, " (")?;
                    let mut any = false;
                    for r in 1..18 {
                        if self.0.success_regs & (1 << r) != 0 {
                            write!(f, "{}x{r}", if any { " " } else { "" })?;
                            any = true;
                        }
                    }
                    if !any {
                        f.write_str("no registers")?;
                    }
                    f.write_str(")")?;
                }
                first = false;
            }
            Ok(())
        }
    }

    /// `[hi:lo]`, `[n]`, or `all` for a whole register.
    pub(crate) struct Bits<'a>(pub &'a Field);

    impl fmt::Display for Bits<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let fl = self.0;
            if fl.width >= 64 {
                f.write_str("all (w in SMC32)")
            } else if fl.width == 1 {
                write!(f, "[{}]", fl.lsb)
            } else {
                write!(f, "[{}:{}]", fl.lsb + fl.width - 1, fl.lsb)
            }
        }
    }

    struct KindName(Kind);

    impl fmt::Display for KindName {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Kind::Value => f.write_str("carried"),
                Kind::CallerId => f.write_str("caller: must be 0 (host)"),
                Kind::Reserved => f.write_str("reserved: MBZ"),
                Kind::Refused => f.write_str("refused from the host: MBZ"),
                Kind::ValueIf { reg, bit } => write!(f, "carried if x{reg}[{bit}] set, else MBZ"),
                Kind::SecureId => f.write_str("carried: must be a Secure endpoint ID (bit 15 set)"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the firmware reads of the table, as text: the compiled rows, the layouts,
    /// the reply masks, the lookup index and the pointer-free rows, fields and names.
    fn compiled_snapshot() -> String {
        use core::fmt::Write;
        let mut s = String::new();
        for (i, c) in COMPILED.iter().enumerate() {
            writeln!(
                s,
                "{i}: {:?} {:?} {} {:?} {} {} {} {} {:#x} {:#x} {:#x}",
                c.class,
                c.reply,
                c.reply_high,
                c.fast,
                c.predicates,
                c.cond_reg,
                c.ones_reg,
                c.flag_reg,
                c.cond_mask,
                c.flag_mask,
                c.ones_mask
            )
            .unwrap();
        }
        writeln!(s, "{LAYOUTS:x?}").unwrap();
        writeln!(s, "{REPLY_MASKS:x?}").unwrap();
        writeln!(s, "{INDEX:?}").unwrap();
        writeln!(s, "{ROWS:?}").unwrap();
        writeln!(s, "{FIELDS:?}").unwrap();
        writeln!(s, "{NAMES}").unwrap();
        writeln!(s, "{VERSION_ROW} {FEATURES_ROW} {REPLY_IDS:x?}").unwrap();
        s
    }

    /// FNV-1a, 64 bits.
    fn digest(s: &str) -> u64 {
        s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// The compiled tables are what the trap path runs on: a change of the table's source
    /// form (layout of the rows, helpers, modules) must leave them bit for bit as they are.
    /// A deliberate change of a row changes this digest: print the snapshot, review it, and
    /// update the number.
    #[test]
    fn compiled_tables_are_pinned() {
        let snapshot = compiled_snapshot();
        assert_eq!(
            digest(&snapshot),
            10_043_975_462_829_314_991,
            "the compiled FF-A tables changed:\n{snapshot}"
        );
    }

    #[test]
    fn lookup_finds_both_conventions_and_nothing_else() {
        assert!(matches!(lookup(0x8400_006F), Some((_, Conv::Smc32))));
        assert!(matches!(lookup(0xC400_006F), Some((_, Conv::Smc64))));
        assert_eq!(lookup(0x8400_008D), None, "DIRECT_REQ2 has no SMC32 ID");
        assert_eq!(lookup(0xC400_0063), None, "FFA_VERSION has no SMC64 ID");
        assert_eq!(
            lookup(0x8401_0063),
            None,
            "call hint must be stripped first"
        );
        assert_eq!(lookup(0x0400_0063), None, "yielding call");
        assert_eq!(lookup(0x8400_005F), None);
        assert_eq!(lookup(0x8400_00FF), None);
        assert_eq!(lookup(0x8500_0063), None, "another owner");
    }

    #[test]
    fn table_rows_are_sorted_and_named() {
        for pair in TABLE.windows(2) {
            assert!(
                pair[0].number < pair[1].number,
                "{} out of order",
                pair[1].name
            );
        }
        for abi in TABLE {
            assert!(
                abi.spec.starts_with("DEN0077"),
                "{} names no spec section",
                abi.name
            );
            assert!(!abi.note.is_empty(), "{} has no note", abi.name);
        }
    }
}
