//! FF-A version negotiation between the host and the proxy.
//!
//! Rules (DEN0077 FFA_VERSION; the choices are D-VERSION-FINAL, D-VERSION-RETURN and
//! D-VERSION-SCHEMA in `docs/ffa-decisions.md`):
//! - The proxy's own version `max` is min(SPMC, 1.2), fixed at probe.
//! - Before negotiation is final, each host `FFA_VERSION(1.minor)` (re)negotiates:
//!   `minor >= max` gives `max`; a lower minor gives 1.minor if the SPMC accepts
//!   `FFA_VERSION(1.minor)` when asked (the proxy forwards structures unchanged, so the SPMC
//!   must speak the host's version), else NOT_SUPPORTED.
//! - Negotiation becomes final at the host's first FF-A call other than `FFA_VERSION`. After
//!   that, `1.minor` with `minor >= negotiated` returns the negotiated version and anything
//!   else gets NOT_SUPPORTED: a downgrade would need structure translation.
//!
//! Concurrency: the state is one `AtomicU32`, read without a lock on every call. The
//! negotiation path (rare) is serialised by a spin lock that also guards "which version the
//! SPMC was last told". While a negotiation that asks the SPMC is in flight the state is
//! `NEGOTIATING`, and a racing call on another CPU gets BUSY instead of freezing a version
//! that is about to change.

use core::sync::atomic::{
    AtomicU32,
    Ordering::{AcqRel, Acquire, Release},
};

use super::abi::{Version, fid};
use crate::smccc::{SmcConduit, SmcRegs};

/// Nothing negotiated yet.
const NONE: u32 = 0;
/// A negotiation is asking the SPMC; not a version.
const NEGOTIATING: u32 = 0x40;
/// Negotiation is final.
const FINAL: u32 = 1 << 31;

/// State word for a (tentative) version: index + 1, so that 0 stays "none".
const fn encode(v: Version) -> u32 {
    v.index() as u32 + 1
}

#[inline(always)]
fn decode(state: u32) -> Option<Version> {
    // Arithmetic rather than a table: this runs on every FF-A call.
    match state & !FINAL {
        1 => Some(Version::V1_0),
        2 => Some(Version::V1_1),
        3 => Some(Version::V1_2),
        _ => None,
    }
}

const _: () =
    assert!(encode(Version::V1_0) == 1 && encode(Version::V1_1) == 2 && encode(Version::V1_2) == 3);

/// What the version gate says about a non-`FFA_VERSION` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Use this version's schema.
    Ready(Version),
    /// The host has not called `FFA_VERSION`.
    NotNegotiated,
    /// A negotiation is in flight on another CPU.
    Busy,
}

/// The negotiation state machine.
pub(crate) struct Negotiation {
    state: AtomicU32,
    /// The version the SPMC was last told with `FFA_VERSION` (`None`: never).
    told: spin::Mutex<Option<Version>>,
}

impl Negotiation {
    /// Fresh state; `told` is what probing told the SPMC.
    pub(crate) const fn new(told: Option<Version>) -> Self {
        Negotiation {
            state: AtomicU32::new(NONE),
            told: spin::Mutex::new(told),
        }
    }

    /// The negotiated version and whether it is final, for status reporting.
    pub(crate) fn current(&self) -> Option<(Version, bool)> {
        let s = self.state.load(Acquire);
        decode(s).map(|v| (v, s & FINAL != 0))
    }

    /// The negotiated version once negotiation is final, else `None` (one load, no side
    /// effect: where it answers, [`Negotiation::for_call`] would answer the same).
    #[inline(always)]
    pub(crate) fn settled(&self) -> Option<Version> {
        let s = self.state.load(Acquire);
        if s & FINAL == 0 {
            return None;
        }
        decode(s)
    }

    /// The version gate for a call other than `FFA_VERSION`; makes negotiation final.
    #[inline]
    pub(crate) fn for_call(&self) -> Gate {
        let s = self.state.load(Acquire);
        if s & FINAL != 0 {
            return decode(s).map_or(Gate::NotNegotiated, Gate::Ready);
        }
        match s {
            NONE => Gate::NotNegotiated,
            NEGOTIATING => Gate::Busy,
            _ => match self.state.compare_exchange(s, s | FINAL, AcqRel, Acquire) {
                Ok(_) => decode(s).map_or(Gate::NotNegotiated, Gate::Ready),
                // Another CPU froze the same or a newer tentative version first.
                Err(now) if now & FINAL != 0 => {
                    decode(now).map_or(Gate::NotNegotiated, Gate::Ready)
                }
                // A negotiation started between our load and our CAS.
                Err(_) => Gate::Busy,
            },
        }
    }

    /// Handles the host's `FFA_VERSION(major.minor)` against the proxy's version `max`.
    /// Returns the version to report, or `None` for NOT_SUPPORTED.
    pub(crate) fn negotiate(
        &self,
        major: u16,
        minor: u16,
        max: Version,
        conduit: &mut impl SmcConduit,
    ) -> Option<Version> {
        if major != 1 {
            return None;
        }
        let mut told = self.told.lock();
        // Only `for_call` changes the state without the lock, and only from tentative to
        // final, so a failed CAS is followed by a pass that sees FINAL: two passes suffice.
        for _ in 0..2 {
            let s = self.state.load(Acquire);
            if s & FINAL != 0 {
                let v = decode(s)?;
                return (minor >= v.minor()).then_some(v);
            }
            let target = if minor >= max.minor() {
                max
            } else {
                Version::from_minor(minor)?
            };
            if *told != Some(target) {
                if self
                    .state
                    .compare_exchange(s, NEGOTIATING, AcqRel, Acquire)
                    .is_err()
                {
                    continue;
                }
                if !spmc_accepts(conduit, target) {
                    self.state.store(s, Release);
                    return None;
                }
                *told = Some(target);
                self.state.store(encode(target), Release);
                return Some(target);
            }
            if self
                .state
                .compare_exchange(s, encode(target), AcqRel, Acquire)
                .is_ok()
            {
                return Some(target);
            }
        }
        None
    }
}

/// Asks the SPMC `FFA_VERSION(v)`; true if it answers a compatible version (major 1, minor
/// at least `v`'s).
fn spmc_accepts(conduit: &mut impl SmcConduit, v: Version) -> bool {
    let mut call: SmcRegs = [0; 18];
    call[0] = fid::VERSION.into();
    call[1] = v.bits().into();
    let w0 = conduit.smc(&call)[0] as u32;
    w0 & (1 << 31) == 0 && w0 >> 16 == 1 && (w0 & 0xFFFF) as u16 >= v.minor()
}
