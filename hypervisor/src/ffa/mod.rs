//! The FF-A proxy between the host (Linux at EL1, endpoint 0) and the SPMC.
//!
//! Every FF-A SMC the host makes traps to EL2 and reaches [`Proxy::handle`], which
//! 1. applies SMCCC hygiene (immediate, x0[63:32], call hint, reserved ID bits),
//! 2. looks the function up in [`abi::TABLE`], the single source of truth,
//! 3. gates it on the negotiated version ([`version`]),
//! 4. validates every field against the row's schema ([`validate`]): IDs that name the caller
//!    must be 0, every SBZ/MBZ bit must be 0, else `FFA_ERROR(INVALID_PARAMETERS)` and a
//!    [`Rejection`] record,
//! 5. forwards a register set rebuilt from the schema alone, or emulates, or blocks,
//! 6. filters the SPMC's reply to the registers the ABI defines,
//! 7. counts what it did per function ([`audit`]).
//!
//! The module is pure policy: no `asm!`, no `unsafe`, no allocation; hardware goes through
//! [`crate::smccc::SmcConduit`]. `docs/ffa-policy.md` is generated from the table.
//!
//! # Plugging in the memory-sharing issue
//! The mailbox and memory ABIs already have rows (schema, spec, note) with `Policy::Block`.
//! To implement one: add a [`abi::Handler`] variant, switch the row to
//! `Policy::Emulate(Handler::…)`, and handle the variant in `dispatch.rs`, next to
//! `Handler::Features`. Validation against the row's schema runs before the handler, so the
//! handler starts from checked, rebuilt registers. State the handler needs (the hypervisor's
//! RX/TX pages, the handle table, a stage-2 trait) becomes a field of [`Proxy`] behind its
//! own lock.

pub mod abi;
pub mod audit;
mod dispatch;
pub mod validate;
mod version;

pub use audit::{Counters, Counts, Reason, Rejection};
pub use dispatch::{OffReason, Outcome, Proxy, State};
pub use validate::{Rule, Violation};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
