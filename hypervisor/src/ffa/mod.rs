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
//! # Layout
//! `dispatch.rs` holds [`Proxy`]: the trap path's entry, the short path for forwarded calls,
//! validation, and the one place ([`Proxy`]'s `answer`) where an emulated ABI's result
//! becomes registers, counters and an [`Outcome`]. The emulated ABIs are plain handlers,
//! free functions over explicit state returning `Result<Reply, Refusal>`:
//! `FFA_VERSION` and `FFA_FEATURES` in `setup.rs`, RX/TX and partition discovery in
//! `rxtx.rs`, SHARE/LEND/RECLAIM/FRAG_TX in `memory.rs`. What they share (the call, the
//! reply, the refusal, the platform traits) is in `handler.rs`, their state in `state.rs`;
//! both are leaves. Only `dispatch.rs` imports the handlers, so `ffa/` has no import cycle.
//! `run_state.rs` (a leaf too) holds which Secure partitions' vCPUs the host may resume with
//! `FFA_RUN` (D-RUN-STATE), recorded from the SPMC's replies the proxy filters.
//!
//! # Memory
//! The mailbox and memory ABIs are `Policy::Emulate` rows with their own [`abi::Handler`];
//! descriptor parsing is in [`descriptor`]. Page ownership and the host stage 2 are not the
//! proxy's: they belong to the memory-protection core ([`crate::mm::MemProtect`]), which
//! every call is given. The proxy's own state (mailboxes, transaction count) is behind one
//! lock, taken before the core's (the lock order `crate::mm` states). Memory is reached only
//! through [`PhysMem`] (by physical address, for pages the proxy checked). The validation
//! path allocates nothing: the descriptor copy is allocated once, in
//! [`Proxy::with_memory`], and the ownership map by the core at boot.

pub mod abi;
pub mod audit;
pub mod descriptor;
mod dispatch;
pub mod fast;
mod handler;
mod memory;
mod run_state;
mod rxtx;
mod setup;
mod state;
pub mod validate;
mod version;

pub use crate::budget::{MAILBOX_SIZE, MAX_TRANSACTIONS, OWNERSHIP_RUNS, RUN_STATES};
pub use audit::{Counters, Counts, Reason, Rejection};
pub use dispatch::{OffReason, Outcome, Proxy, State};
pub use handler::{PhysMem, Platform};
pub use state::{MemConfig, MemStatus};
pub use validate::{Rule, Violation};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod mailbox_tests;

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod sweep_tests;
