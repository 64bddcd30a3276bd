//! Memory sharing and lending: `FFA_MEM_SHARE`, `FFA_MEM_LEND` and `FFA_MEM_RECLAIM` under
//! page ownership.
//!
//! SHARE and LEND take the same path; SHARE moves pages to `SharedWithSecure` (the host keeps
//! access), LEND to `LentToSecure`, which also takes them out of the host's stage 2 (through
//! [`PhysMem::unmap_from_host`]: break-before-make and the TLB maintenance) before the SPMC
//! hears of them, and puts them back only after the SPMC answers RECLAIM with SUCCESS (or
//! refuses the LEND). Under the memory lock:
//! 1. register checks (the schema already refused x3/w4 and reserved bits): the host has a
//!    TX buffer; 0 < fragment length <= total length; one fragment of at most 4 KiB
//!    (NO_MEMORY otherwise: `FFA_MEM_FRAG_TX` is not implemented); fewer than
//!    [`MAX_TRANSACTIONS`] live transactions (NO_MEMORY);
//! 2. copy the fragment from the host's TX into hypervisor memory, once; everything after
//!    this reads the copy only (T6: another CPU rewriting the host's TX changes nothing);
//! 3. validate the copy for the negotiated version (`descriptor.rs`): INVALID_PARAMETERS;
//! 4. claim every constituent `Owned -> SharedWithSecure` (or `LentToSecure`, unmapped from
//!    the host) under a pending tag, all or nothing (not host RAM: INVALID_PARAMETERS; a page
//!    in use or named twice: DENIED; table full or stage 2 refused: NO_MEMORY);
//! 5. write the copy into the hypervisor's TX and forward the call (the host's function ID,
//!    total and fragment length; x3/w4 zero);
//! 6. SUCCESS: the pending pages take the handle as their tag (the handle table is the
//!    ownership map itself). FFA_ERROR: the pages go back to `Owned`, the host gets the
//!    error. MEM_FRAG_RX (impossible for one fragment): the transaction is aborted with
//!    FFA_MEM_RECLAIM, and the pages go back only if that succeeds. Anything else, or a
//!    handle that is already live: the host gets ABORTED and the pages stay pinned under a
//!    "lost" tag, because the SPMC may have them and no handle can reclaim them.
//!
//! RECLAIM: only for a handle the proxy recorded (else INVALID_PARAMETERS, nothing
//! forwarded); forwarded as rebuilt; on SUCCESS the recorded pages go back to `Owned`.
//! Nothing the host says about pages is used.

use super::abi::Status;
use super::abi::fid;
use super::audit::Event;
use super::descriptor::parse_transfer;
use super::dispatch::{Call, Outcome, Proxy, reply_error_code, reply_success};
use super::mailbox::{
    HostView, MAILBOX_SIZE, MAX_TRANSACTIONS, Platform, error_code, is_success, own_smc,
    ownership_refusal,
};
use crate::ownership::{NoStage2, Ownership, OwnershipError, PageState};
use crate::smccc::SmcRegs;

/// Tag of pages whose SHARE is in flight (never a handle the proxy accepts).
const PENDING: u64 = u64::MAX;
/// Tag of pages the SPMC may hold without a usable handle (never reclaimable by the host).
const LOST: u64 = u64::MAX - 1;

impl Proxy {
    /// `FFA_MEM_SHARE_32/64` and `FFA_MEM_LEND_32/64`.
    pub(super) fn mem_share(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        p: &mut impl Platform,
    ) -> Outcome {
        let state = if call.out[0] as u32 & !(1 << 30) == fid::MEM_LEND_32 {
            PageState::LentToSecure
        } else {
            PageState::SharedWithSecure
        };
        let total = call.out[1] as u32 as usize;
        let frag = call.out[2] as u32 as usize;
        let mut guard = self.mem.lock();
        let mem = &mut *guard;
        let (Some(hyp), Some(host)) = (mem.hyp, mem.host) else {
            let what = "no TX buffer mapped (FFA_RXTX_MAP first)";
            return self.refuse(regs, call, Status::InvalidParameters, what, 0);
        };
        if frag == 0 || frag > total {
            let what = "fragment length is 0 or above the total length";
            return self.refuse(regs, call, Status::InvalidParameters, what, frag as u64);
        }
        if total > MAILBOX_SIZE {
            let what = "descriptor larger than one 4 KiB fragment";
            return self.refuse(regs, call, Status::NoMemory, what, total as u64);
        }
        if frag != total {
            let what = "fragmented descriptor (FFA_MEM_FRAG_TX is not supported)";
            return self.refuse(regs, call, Status::NoMemory, what, frag as u64);
        }
        if mem.transactions >= MAX_TRANSACTIONS {
            let what = "too many live memory transactions";
            return self.refuse(regs, call, Status::NoMemory, what, mem.transactions as u64);
        }
        let Some(copy) = mem.scratch.get_mut(..frag) else {
            return self.refuse(regs, call, Status::NoMemory, "no scratch buffer", 0);
        };
        // The one read of the host's TX: everything below works on the copy.
        p.read(host.tx, copy);
        let lend = state == PageState::LentToSecure;
        let share = match parse_transfer(copy, call.ver, lend) {
            Ok(s) => s,
            Err(e) => {
                return self.refuse(
                    regs,
                    call,
                    Status::InvalidParameters,
                    e.what,
                    e.offset as u64,
                );
            }
        };
        if let Err((_, e)) = claim(&mut mem.ownership, &share, state, p) {
            let (status, what, value) = ownership_refusal(e, "constituent");
            return self.refuse(regs, call, status, what, value);
        }
        p.write(hyp.tx, copy);
        self.counters.record(call.found, Event::Forwarded);
        let reply = p.smc(call.out);
        let ownership = &mut mem.ownership;
        if is_success(reply[0]) {
            let (lo, hi) = (reply[2] as u32, reply[3] as u32);
            let handle = u64::from(lo) | u64::from(hi) << 32;
            if handle == PENDING || handle == LOST || live_state(ownership, handle).is_some() {
                ownership.retag(state, PENDING, LOST);
                let what = "SPMC returned a handle that is already live";
                return self.bad_reply(regs, call, what, handle);
            }
            ownership.retag(state, PENDING, handle);
            mem.transactions += 1;
            reply_success(regs, call.conv, lo.into(), hi.into());
            return Outcome::Forwarded;
        }
        if let Some(code) = error_code(&reply) {
            release(ownership, state, PENDING, p);
            reply_error_code(regs, call.conv, code);
            return Outcome::Forwarded;
        }
        if reply[0] == u64::from(fid::MEM_FRAG_RX) {
            // The SPMC wants more fragments of a one-fragment transaction: abort it.
            let handle = u64::from(reply[1] as u32) | u64::from(reply[2] as u32) << 32;
            let reclaim = own_smc(
                p,
                [
                    fid::MEM_RECLAIM.into(),
                    reply[1] & 0xFFFF_FFFF,
                    reply[2] & 0xFFFF_FFFF,
                    0,
                    0,
                ],
            );
            if is_success(reclaim[0]) {
                release(ownership, state, PENDING, p);
            } else {
                ownership.retag(state, PENDING, LOST);
            }
            let what = "SPMC asked for more fragments of a one-fragment transaction";
            return self.bad_reply(regs, call, what, handle);
        }
        ownership.retag(state, PENDING, LOST);
        self.bad_reply(
            regs,
            call,
            "SPMC answered neither SUCCESS nor ERROR",
            reply[0],
        )
    }

    /// `FFA_MEM_RECLAIM`.
    pub(super) fn mem_reclaim(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        p: &mut impl Platform,
    ) -> Outcome {
        let handle = (call.out[1] & 0xFFFF_FFFF) | (call.out[2] & 0xFFFF_FFFF) << 32;
        let mut guard = self.mem.lock();
        let mem = &mut *guard;
        let known = match handle {
            PENDING | LOST => None,
            _ => live_state(&mem.ownership, handle),
        };
        let Some(state) = known else {
            let what = "not a memory handle the host holds";
            return self.refuse(regs, call, Status::InvalidParameters, what, handle);
        };
        self.counters.record(call.found, Event::Forwarded);
        let reply = p.smc(call.out);
        if is_success(reply[0]) {
            release(&mut mem.ownership, state, handle, p);
            mem.transactions = mem.transactions.saturating_sub(1);
            reply_success(regs, call.conv, 0, 0);
            return Outcome::Forwarded;
        }
        if let Some(code) = error_code(&reply) {
            reply_error_code(regs, call.conv, code);
            return Outcome::Forwarded;
        }
        self.bad_reply(
            regs,
            call,
            "SPMC answered neither SUCCESS nor ERROR",
            reply[0],
        )
    }
}

/// The state the pages of a live transaction `handle` are in, if the host holds it.
fn live_state(ownership: &Ownership, handle: u64) -> Option<PageState> {
    [PageState::SharedWithSecure, PageState::LentToSecure]
        .into_iter()
        .find(|&state| ownership.has_tag(state, handle))
}

/// Claims the descriptor's constituents `Owned -> state` under the pending tag, all or
/// nothing; lent pages leave the host's stage 2 (and come back on a rollback).
fn claim(
    ownership: &mut Ownership,
    share: &super::descriptor::Share<'_>,
    state: PageState,
    p: &mut impl Platform,
) -> Result<(), (usize, OwnershipError)> {
    if state.unmapped_from_host() {
        ownership.claim(share, state, PENDING, &mut HostView(p))
    } else {
        ownership.claim(share, state, PENDING, &mut NoStage2)
    }
}

/// Returns the pages of `tag` in `state` to `Owned` (lent pages back into the host's
/// stage 2 first; a range that cannot be mapped back stays lent, never reachable by the
/// host and never reclaimable again: the power-off audit counts it in the lent pages).
fn release(ownership: &mut Ownership, state: PageState, tag: u64, p: &mut impl Platform) {
    if state.unmapped_from_host() {
        ownership.release_tag(state, tag, &mut HostView(p));
    } else {
        ownership.release_tag(state, tag, &mut NoStage2);
    }
}
