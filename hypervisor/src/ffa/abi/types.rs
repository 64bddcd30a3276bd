//! The vocabulary of the FF-A ABI table: versions, calling conventions, status codes, the
//! field kinds of a register schema, the policies and the row type itself.

use core::fmt;

use ffa_spec::status;

/// The host's FF-A endpoint ID. The host is the only normal-world endpoint and shares ID 0 with
/// the hypervisor at the SPMC (D-ONE-ID in `docs/ffa-decisions.md`).
pub const HOST_ID: u16 = 0;

// The validator checks "names the caller" fields with the same masks as MBZ fields, which is
// only right because the host's ID is 0. Changing HOST_ID needs a comparison in `validate`.
const _: () = assert!(HOST_ID == 0);

/// FF-A function IDs, from the `ffa-spec` crate (the one place they are typed).
pub use ffa_spec::fid;

/// FF-A status codes carried in `w2` of `FFA_ERROR` (and, for `FFA_VERSION`, in `w0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// The ABI or feature is not implemented, not offered to this caller, or not in its version.
    NotSupported = status::NOT_SUPPORTED,
    /// A field check failed.
    InvalidParameters = status::INVALID_PARAMETERS,
    /// Out of memory.
    NoMemory = status::NO_MEMORY,
    /// Try again: the proxy is in the middle of a version negotiation on another CPU.
    Busy = status::BUSY,
    /// Interrupted.
    Interrupted = status::INTERRUPTED,
    /// Denied.
    Denied = status::DENIED,
    /// Retry.
    Retry = status::RETRY,
    /// The SPMC's reply did not fit the ABI; the proxy dropped it.
    Aborted = status::ABORTED,
    /// No data.
    NoData = status::NO_DATA,
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
        // As u32: a `u16` would bring its own Display into the image.
        write!(f, "1.{}", u32::from(self.minor()))
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
    /// field's top bit) must be set. Compiled into a must-be-one mask (`Compiled::ones_mask`).
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
    pub(super) const fn new(reg: u8, hi: u8, lo: u8, kind: Kind, name: &'static str) -> Self {
        Field {
            reg,
            lsb: lo,
            width: hi - lo + 1,
            kind,
            name,
            since: Version::V1_0,
        }
    }

    pub(super) const fn from(self, since: Version) -> Self {
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
pub(super) const fn reg(reg: u8, name: &'static str) -> Field {
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
pub(super) const fn val(reg: u8, hi: u8, lo: u8, name: &'static str) -> Field {
    Field::new(reg, hi, lo, Kind::Value, name)
}

/// Bits `hi..=lo` of `reg` name the caller.
pub(super) const fn caller(reg: u8, hi: u8, lo: u8, name: &'static str) -> Field {
    Field::new(reg, hi, lo, Kind::CallerId, name)
}

/// Bits `hi..=lo` of `reg` are reserved.
pub(super) const fn rsv(reg: u8, hi: u8, lo: u8, name: &'static str) -> Field {
    Field::new(reg, hi, lo, Kind::Reserved, name)
}

/// Bits `hi..=lo` of `reg` are an endpoint ID that must be a Secure endpoint's (bit 15 set).
pub(super) const fn secure(reg: u8, hi: u8, lo: u8, name: &'static str) -> Field {
    Field::new(reg, hi, lo, Kind::SecureId, name)
}

/// Bits `hi..=lo` of `reg` are refused from the host.
pub(super) const fn refused(reg: u8, hi: u8, lo: u8, name: &'static str) -> Field {
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
    /// the hypervisor's own (`rxtx.rs`).
    RxTxMap,
    /// `FFA_RXTX_UNMAP`: the host's buffers are unpinned.
    RxTxUnmap,
    /// `FFA_RX_RELEASE`: the host's RX buffer becomes free again.
    RxRelease,
    /// `FFA_PARTITION_INFO_GET`: asked into the hypervisor's RX, copied to the host's.
    PartitionInfoGet,
    /// `FFA_MEM_SHARE`: copy, validate, pin, forward through the hypervisor's TX (`memory.rs`).
    MemShare,
    /// `FFA_MEM_RECLAIM`: forwarded for a handle the host holds; pages unpinned on SUCCESS.
    MemReclaim,
    /// `FFA_MEM_FRAG_TX`: the next fragment of the host's SHARE or LEND in progress: copied,
    /// validated, its pages claimed, forwarded through the hypervisor's TX (`memory.rs`).
    MemFragTx,
    /// `FFA_NOTIFICATION_BITMAP_CREATE`/`_DESTROY`: DENIED at EL2 when the host's bitmap
    /// already exists (CREATE) or does not (DESTROY), forwarded otherwise (D-NOTIF-BITMAP).
    NotifBitmap,
    /// `FFA_RUN`: forwarded only to a (Secure partition, vCPU) the proxy saw left preempted,
    /// blocked or with notifications pending; DENIED at EL2 otherwise (D-RUN-STATE).
    Run,
    /// `FFA_NOTIFICATION_INFO_GET`: forwarded; the partitions and vCPUs its reply lists may
    /// then be resumed with `FFA_RUN` (D-RUN-STATE).
    NotifInfoGet,
}

impl Handler {
    /// Whether the handler needs the hypervisor's mailbox and the ownership map
    /// (`Proxy::with_memory`); without them the ABI is NOT_SUPPORTED.
    pub const fn needs_memory(self) -> bool {
        !matches!(
            self,
            Handler::Version
                | Handler::Features
                | Handler::IdGet
                | Handler::NotifBitmap
                | Handler::Run
                | Handler::NotifInfoGet
        )
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

/// A reply the SPMC may give to a forwarded call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `FFA_ERROR`: `w1` target info, `w2` status.
    Error,
    /// `FFA_SUCCESS_32/64` defining these registers (`xN` for `N` in the list).
    Success(&'static [u8]),
    /// `FFA_MSG_SEND_DIRECT_RESP_32/64`: `w1` IDs, `w2` flags, `x3`..`x7` payload.
    DirectResp,
    /// `FFA_MSG_SEND_DIRECT_RESP2`: `w1` IDs, `x4`..`x17` payload.
    DirectResp2,
    /// `FFA_INTERRUPT`: `w1` target info, `w2` interrupt ID.
    Interrupt,
    /// `FFA_YIELD`: `w1` target info, `w2`/`w3` timeout.
    Yield,
    /// `FFA_MSG_WAIT_32`: `w1` target info (an SP that waits after `FFA_RUN`).
    MsgWait,
}

/// A row's [`Reply`] list folded into bit sets, as the compiler uses it. Anything outside
/// it becomes `FFA_ERROR(ABORTED)` for the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replies {
    /// Bit set of `Replies::ERROR` ... `Replies::MSG_WAIT`.
    pub kinds: u8,
    /// Bit `n` set: `xN` of `FFA_SUCCESS` is defined for this call.
    pub success_regs: u32,
}

impl Replies {
    /// [`Reply::Error`].
    pub const ERROR: u8 = 1 << 0;
    /// [`Reply::Success`].
    pub const SUCCESS: u8 = 1 << 1;
    /// [`Reply::DirectResp`].
    pub const DIRECT_RESP: u8 = 1 << 2;
    /// [`Reply::DirectResp2`].
    pub const DIRECT_RESP2: u8 = 1 << 3;
    /// [`Reply::Interrupt`].
    pub const INTERRUPT: u8 = 1 << 4;
    /// [`Reply::Yield`].
    pub const YIELD: u8 = 1 << 5;
    /// [`Reply::MsgWait`].
    pub const MSG_WAIT: u8 = 1 << 6;

    /// The bit sets of a reply list.
    pub const fn of(list: &[Reply]) -> Replies {
        let mut r = Replies {
            kinds: 0,
            success_regs: 0,
        };
        let mut i = 0;
        while i < list.len() {
            r.kinds |= match list[i] {
                Reply::Error => Replies::ERROR,
                Reply::Success(regs) => {
                    let mut k = 0;
                    while k < regs.len() {
                        assert!(regs[k] >= 1 && regs[k] <= 17, "x1..x17");
                        r.success_regs |= 1 << regs[k];
                        k += 1;
                    }
                    Replies::SUCCESS
                }
                Reply::DirectResp => Replies::DIRECT_RESP,
                Reply::DirectResp2 => Replies::DIRECT_RESP2,
                Reply::Interrupt => Replies::INTERRUPT,
                Reply::Yield => Replies::YIELD,
                Reply::MsgWait => Replies::MSG_WAIT,
            };
            i += 1;
        }
        r
    }
}

/// One row of the table: one FF-A function number.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// The spec's name, without `_32`/`_64`.
    pub name: &'static str,
    /// Function number, bits 7..0 of the function ID (0x60..=0xFF).
    pub number: u8,
    /// Which of `0x8400_00nn` (SMC32) and `0xC400_00nn` (SMC64) exist.
    pub convs: Convs,
    /// The version that introduced it.
    pub since: Version,
    /// The last version that defines it (`None`: still defined in v1.2).
    pub until: Option<Version>,
    /// The DEN0077 section it follows, and the implementations it was checked against
    /// (their tags are listed in `docs/ffa-decisions.md`).
    pub spec: &'static str,
    /// Register schema of the call.
    pub fields: &'static [Field],
    /// What the proxy does.
    pub policy: Policy,
    /// Replies accepted from the SPMC.
    pub replies: &'static [Reply],
    /// One line: what the proxy does and the decisions (`D-...` in `docs/ffa-decisions.md`)
    /// behind it.
    pub note: &'static str,
}

impl Row {
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
