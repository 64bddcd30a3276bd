//! The FF-A ABI table: the single source of truth of the proxy.
//!
//! One row per FF-A function number the proxy knows ([`TABLE`], in `table.rs`). A row gives
//! both calling conventions (SMC32 `0x84xx_xxxx`, SMC64 `0xC4xx_xxxx`), the version that
//! introduced the function, its register schema (which bits of which register carry which
//! field, which must be zero, which name the caller), its policy (forward after checks,
//! emulate at EL2, block), the replies it accepts, the DEN0077 section it follows, and a
//! one-line note naming the decisions behind it (`D-...`, stated in `docs/ffa-decisions.md`).
//!
//! - `types.rs`: the vocabulary (versions, conventions, status codes, field kinds, policies,
//!   the row type); the FF-A numbers themselves come from the `ffa-spec` crate.
//! - `table.rs`: the rows.
//! - `compile.rs`: everything the firmware reads, built from the rows by `const` evaluation:
//!   the O(1) lookup, the validation layouts (`LAYOUTS`), the reply masks, the per-row
//!   `COMPILED` entries of the trap path and a pointer-free copy of names and fields.
//! - `doc.rs` (tests only): the generator of `docs/ffa-policy.md`.
//!
//! Validation ([`super::validate`]) runs on the compiled masks, `FFA_FEATURES` answers from
//! them, and `docs/ffa-policy.md` is generated from the rows and the limits in
//! [`crate::budget`], so the documentation cannot disagree with the code.
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
//! Each ABI has its own section in DEN0077 titled with its name; a row's `spec` names it (by
//! title: the rows were written from the v1.2 text without fixing section numbers) and the
//! implementations the row was checked against.

mod compile;
#[cfg(test)]
mod doc;
mod table;
mod types;

pub(crate) use compile::{
    CField, COMPILED, Class, Compiled, FEATURES_ROW, LAYOUTS, Layout, REPLY_ALLOWED, REPLY_IDS,
    REPLY_MASKS, ROWS, ReplyMasks, VERSION_ROW, fast, reply_kind, row_name, row_of,
};
pub use compile::{FIRST_NUMBER, lookup};
#[cfg(test)]
pub use doc::write_policy_markdown;
pub use table::TABLE;
pub use types::*;
