//! The FF-A proxy between the host (Linux at EL1, endpoint 0) and the SPMC.
//!
//! Every FF-A SMC the host makes traps to EL2 and reaches [`Proxy::handle`], which
//! 1. applies SMCCC hygiene (immediate, x0[63:32], call hint, reserved ID bits),
//! 2. looks the function up in [`abi::TABLE`], the single source of truth,
//! 3. gates it on the negotiated version ([`version`]),
//! 4. validates every field against the row's schema ([`validate`]): IDs that name the caller
//!    must be 0, every SBZ/MBZ bit must be 0, else `FFA_ERROR(INVALID_PARAMETERS)` and a
//!    [`Rejection`] record,
//! 5. forwards a register set rebuilt from the schema alone, or emulates, or blocks (a valid
//!    call's carried fields are all the host set, so the common calls go to the SPMC from the
//!    host's own registers in place, which is the same set without the copies),
//! 6. filters the SPMC's reply to the registers the ABI defines,
//! 7. counts what it did per function ([`audit`]).
//!
//! The module is pure policy: no `asm!`, no `unsafe`, no allocation after boot; hardware goes
//! through [`crate::smccc::SmcConduit`] and [`PhysMem`]. `docs/ffa-policy.md` is generated
//! from the table.
//!
//! # Memory
//! The mailbox and memory ABIs are `Policy::Emulate` rows with their own [`abi::Handler`]:
//! RX/TX and partition discovery in `mailbox.rs`, SHARE/RECLAIM in `mem.rs`, descriptor
//! parsing in [`descriptor`], page ownership in [`crate::mm`]. They share one lock
//! (mailboxes, ownership map, transaction count) and reach memory only through
//! [`PhysMem`] (by physical address, for pages the proxy checked). The validation path
//! allocates nothing: the ownership map and the descriptor copy are allocated once, in
//! [`Proxy::with_memory`].

pub mod abi;
pub mod audit;
pub mod descriptor;
mod dispatch;
mod mailbox;
mod mem;
pub mod validate;
mod version;

pub use audit::{Counters, Counts, Reason, Rejection};
pub use dispatch::{OffReason, Outcome, Proxy, State};
pub use mailbox::{
    MAILBOX_SIZE, MAX_TRANSACTIONS, MemConfig, MemStatus, OWNERSHIP_RUNS, PhysMem, Platform,
};
pub use validate::{Rule, Violation};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod mailbox_tests;

#[cfg(test)]
mod proptests;
