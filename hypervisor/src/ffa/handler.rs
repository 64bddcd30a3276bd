//! What every emulated ABI gets and returns: the call ([`Call`]), the answer ([`Reply`]) or
//! the refusal ([`Refusal`]), and the platform it may use ([`Platform`]: the SMC conduit and
//! [`PhysMem`]).
//!
//! The handlers (`setup.rs`, `rxtx.rs`, `memory.rs`) are free functions over explicit state
//! returning `Result<Reply, Refusal>`; they write no register and count nothing. `dispatch.rs`
//! alone turns the result into the host's registers, the audit counters and an
//! `Outcome`, in one place. This module is a leaf of `ffa/`:
//! the handlers import it, and only `dispatch.rs` imports the handlers.

use super::abi::{Conv, Status, Version, fid};
use super::validate::Violation;
use crate::mm::OwnershipError;
use crate::smccc::{NOT_SUPPORTED, SmcConduit, SmcRegs};

/// Physical memory as the proxy sees it: copies to and from pages it has checked (the
/// host's pinned mailbox pages and the hypervisor's own). The host's stage 2 is not here: it
/// belongs to [`crate::mm::MemProtect`].
pub trait PhysMem {
    /// Copies `dst.len()` bytes starting at physical address `pa` into `dst`.
    fn read(&mut self, pa: u64, dst: &mut [u8]);
    /// Copies `src` to physical address `pa`.
    fn write(&mut self, pa: u64, src: &[u8]);

    /// Copies `len` bytes from physical address `src` to physical address `dst` (distinct,
    /// non-overlapping pages). Through a small buffer unless the platform does better.
    fn copy(&mut self, dst: u64, src: u64, len: usize) {
        let mut buf = [0u8; 256];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len());
            self.read(src + done as u64, &mut buf[..n]);
            self.write(dst + done as u64, &buf[..n]);
            done += n;
        }
    }

    /// Writes `len` zero bytes at physical address `pa`. Through [`PhysMem::write`] unless
    /// the platform does better.
    fn zero(&mut self, pa: u64, len: usize) {
        const ZEROS: [u8; 256] = [0; 256];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(ZEROS.len());
            self.write(pa + done as u64, &ZEROS[..n]);
            done += n;
        }
    }
}

/// What [`Proxy::handle`](super::Proxy::handle) needs from the platform: the SMC conduit
/// and physical memory.
pub trait Platform: SmcConduit + PhysMem {}

impl<T: SmcConduit + PhysMem> Platform for T {}

/// The validated call an emulated ABI handles.
pub struct Call<'a> {
    /// Row and convention, for the counters.
    pub found: Option<(usize, Conv)>,
    /// The call's convention.
    pub conv: Conv,
    /// The row's name; empty for the name of `found`'s row (looked up only for a record).
    pub name: &'static str,
    /// The negotiated version.
    pub ver: Version,
    /// The validated, rebuilt registers (what is forwarded, if anything is).
    pub out: &'a SmcRegs,
}

/// What an emulated ABI answers. The first three are answered at EL2 (counted emulated),
/// the others after the SPMC answered the call (counted forwarded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `FFA_SUCCESS_32` with w2, w3, answered at EL2.
    Emulated {
        /// w2.
        w2: u64,
        /// w3.
        w3: u64,
    },
    /// `FFA_ERROR(NOT_SUPPORTED)`, answered at EL2 (an `FFA_FEATURES` query of something the
    /// proxy does not offer).
    NotSupported,
    /// A bare w0 (`FFA_VERSION`), answered at EL2.
    W0(u64),
    /// Forward the rebuilt call as it is and filter the SPMC's reply.
    Forward,
    /// The SPMC's `FFA_SUCCESS`, passed on as `FFA_SUCCESS_32` with w2, w3.
    Success {
        /// w2.
        w2: u64,
        /// w3.
        w3: u64,
    },
    /// The SPMC's error, passed on: `FFA_ERROR` with this status register (a code of the
    /// spec's, see [`error_code`]).
    Error(u64),
    /// The SPMC's `FFA_MEM_FRAG_RX`, passed on: send the fragment at `offset` of `handle`.
    FragRx {
        /// The transaction's handle.
        handle: u64,
        /// Bytes of the descriptor the SPMC has.
        offset: usize,
    },
}

/// Why an emulated ABI refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A field the schema cannot check (e.g. reserved feature ID bits): INVALID_PARAMETERS,
    /// counted rejected, nothing forwarded.
    Field(Violation),
    /// Refused at EL2 for a reason other than a field (state, address, descriptor):
    /// `FFA_ERROR(status)`, counted rejected, nothing of the host's forwarded.
    Refused {
        /// The answer's status.
        status: Status,
        /// What was wrong, for the record.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
    /// The call was forwarded but the SPMC's reply did not fit: the host gets ABORTED,
    /// counted forwarded and as a bad reply.
    BadReply {
        /// What was wrong, for the record.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
}

impl Refusal {
    /// [`Refusal::Refused`].
    pub const fn refused(status: Status, what: &'static str, value: u64) -> Self {
        Refusal::Refused {
            status,
            what,
            value,
        }
    }
}

/// An SMC of the proxy's own with x0..x4 = `x`.
pub fn own_smc(p: &mut impl SmcConduit, x: [u64; 5]) -> SmcRegs {
    let mut call: SmcRegs = [0; 18];
    call[..5].copy_from_slice(&x);
    p.smc(&call)
}

/// Whether x0 is FFA_SUCCESS (either convention).
pub fn is_success(x0: u64) -> bool {
    x0 == u64::from(fid::SUCCESS_32) || x0 == u64::from(fid::SUCCESS_64)
}

/// The status register of an error reply, as the host may get it: the SPMC's w2 if it is
/// one of the spec's codes, ABORTED otherwise; SMCCC NOT_SUPPORTED in x0 counts as
/// NOT_SUPPORTED. `None` if the reply is not an error.
pub fn error_code(reply: &SmcRegs) -> Option<u64> {
    if reply[0] == NOT_SUPPORTED || reply[0] == 0xFFFF_FFFF {
        return Some(Status::NotSupported.w());
    }
    if reply[0] != u64::from(fid::ERROR) {
        return None;
    }
    let code = reply[2] as u32 as i32;
    Some(if (-10..=-1).contains(&code) {
        u64::from(code as u32)
    } else {
        Status::Aborted.w()
    })
}

/// The refusal for a page-ownership error on `buffer` ("TX", "RX" or a constituent).
pub fn ownership_refusal(e: OwnershipError, buffer: &'static str) -> Refusal {
    let (status, what, value) = match e {
        OwnershipError::BadRange { start, .. } => (
            Status::InvalidParameters,
            match buffer {
                "TX" => "TX buffer is empty, unaligned or wraps",
                "RX" => "RX buffer is empty, unaligned or wraps",
                _ => "constituent is empty, unaligned or wraps",
            },
            start,
        ),
        OwnershipError::NotHostRam { start, .. } => (
            Status::InvalidParameters,
            match buffer {
                "TX" => "TX buffer is not host RAM",
                "RX" => "RX buffer is not host RAM",
                _ => "constituent is not host RAM",
            },
            start,
        ),
        OwnershipError::WrongState { page, .. } => (
            Status::Denied,
            match buffer {
                "TX" => "TX buffer page is in use (shared, lent or a mailbox)",
                "RX" => "RX buffer page is in use (shared, lent or a mailbox)",
                _ => "constituent page is in use (shared, lent, a mailbox, or named twice)",
            },
            page,
        ),
        OwnershipError::NoRoom => (Status::NoMemory, "ownership table full", 0),
        OwnershipError::NoTables { needed, .. } => (
            Status::NoMemory,
            "stage-2 table pool cannot cover the worst case",
            needed as u64,
        ),
        OwnershipError::Stage2 { start } => (Status::NoMemory, "stage-2 change failed", start),
    };
    Refusal::refused(status, what, value)
}
