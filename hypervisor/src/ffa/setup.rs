//! The setup ABIs answered at EL2: `FFA_VERSION` (negotiation) and `FFA_FEATURES`.
//!
//! Free functions over explicit state returning [`Reply`] or [`Refusal`]; `dispatch.rs`
//! validates the call before and writes the answer after.

use super::abi::{self, COMPILED, Class, Conv, Handler, Version};
use super::handler::{Refusal, Reply};
use super::validate::{Rule, Violation};
use super::version::Negotiation;
use crate::smccc::{NOT_SUPPORTED, SmcConduit};

/// Feature ID of the notification pending interrupt (FFA_FEATURES, bit 31 clear).
const FEATURE_NPI: u32 = 1;
/// Feature ID of the schedule receiver interrupt.
const FEATURE_SRI: u32 = 2;

/// `FFA_VERSION(w1)`, already checked against the v1.0 schema (w1 is the carried
/// major.minor and nothing else): negotiated against the proxy's version `max`. The answer
/// is a bare w0, the version or NOT_SUPPORTED: the ABI has no FFA_ERROR return.
pub fn version(
    negotiation: &Negotiation,
    w1: u64,
    max: Version,
    conduit: &mut impl SmcConduit,
) -> Result<Reply, Refusal> {
    let major = (w1 >> 16) as u16;
    let minor = w1 as u16;
    Ok(Reply::W0(
        match negotiation.negotiate(major, minor, max, conduit) {
            Some(v) => v.bits().into(),
            None => NOT_SUPPORTED,
        },
    ))
}

/// `FFA_FEATURES(w1 = selector)`, already validated, at the negotiated version `ver`;
/// `memory` says whether the proxy has its mailbox (the mailbox and memory ABIs are offered
/// only then). [`Reply::Forward`] for what the SPMC answers (the ABIs it serves, its
/// notification interrupt IDs), unless `spmc_refused(row, conv)` says the SPMC already
/// answered a valid call of that function NOT_SUPPORTED (D-FEATURES-LEARNED).
pub fn features(
    selector: u32,
    ver: Version,
    memory: bool,
    spmc_refused: impl Fn(usize, Conv) -> bool,
) -> Result<Reply, Refusal> {
    if selector & (1 << 31) == 0 {
        if selector & 0x7FFF_FF00 != 0 {
            return Err(Refusal::Field(Violation {
                reg: 1,
                lsb: 8,
                width: 23,
                field: "feature ID bits [30:8]",
                rule: Rule::Reserved,
                value: u64::from((selector >> 8) & 0x7F_FFFF),
            }));
        }
        // Notification interrupts exist from v1.1; the SPMC owns their IDs.
        return Ok(
            if ver >= Version::V1_1 && matches!(selector, FEATURE_NPI | FEATURE_SRI) {
                Reply::Forward
            } else {
                Reply::NotSupported
            },
        );
    }
    let found = abi::lookup(selector);
    let queried = found.and_then(|(row, _)| COMPILED.get(row));
    let class = queried.map_or(Class::Unsupported, |c| c.class[ver.index()]);
    let learned = |reply| match found {
        Some((row, conv)) if spmc_refused(row, conv) => Reply::NotSupported,
        _ => reply,
    };
    // Tested apart from the match below, first: the common query (an ABI the SPMC serves)
    // then costs one comparison on the trap path, where the match tests the other classes
    // first.
    if class == Class::Forward {
        return Ok(learned(Reply::Forward));
    }
    Ok(match class {
        // The SPMC decides whether it serves notifications; the proxy only keeps state.
        // FFA_RUN: the call exists; whether a target may be run is the proxy's state.
        Class::Forward
        | Class::Emulate(Handler::NotifBitmap | Handler::Run | Handler::NotifInfoGet) => {
            learned(Reply::Forward)
        }
        Class::Emulate(h) if !h.needs_memory() || memory => {
            // RXTX_MAP: 4 KiB minimum (w2[1:0] = 0) and, from v1.2, at most one page
            // (w2[31:16]). MEM_SHARE: w2 bit 0 clear, no dynamic buffers.
            let w2 = match h {
                Handler::RxTxMap if ver >= Version::V1_2 => 1 << 16,
                _ => 0,
            };
            Reply::Emulated { w2, w3: 0 }
        }
        Class::Emulate(_) | Class::Unsupported => Reply::NotSupported,
    })
}
