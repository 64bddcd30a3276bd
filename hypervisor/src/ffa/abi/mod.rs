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

mod compile;
#[cfg(not(target_os = "none"))]
mod doc;
mod table;
mod types;

pub(crate) use compile::{
    CField, COMPILED, Class, Compiled, FEATURES_ROW, LAYOUTS, Layout, REPLY_ALLOWED, REPLY_MASKS,
    ROWS, ReplyMasks, VERSION_ROW, fast, reply_kind, row_name, row_of,
};
pub use compile::{FIRST_NUMBER, lookup};
#[cfg(not(target_os = "none"))]
pub use doc::{DECISIONS, write_policy_markdown};
pub use table::TABLE;
pub use types::*;
