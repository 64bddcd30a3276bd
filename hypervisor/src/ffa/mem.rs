//! Memory sharing and lending: `FFA_MEM_SHARE`, `FFA_MEM_LEND` and `FFA_MEM_RECLAIM` under
//! page ownership.
//!
//! SHARE and LEND take the same path; SHARE moves pages to `SharedWithSecure` (the host keeps
//! access), LEND to `LentToSecure`, which also takes them out of the host's stage 2 (through
//! [`PhysMem::unmap_from_host`]: break-before-make and the TLB maintenance) before the SPMC
//! hears of them, and puts them back only after the SPMC answers RECLAIM with SUCCESS (or
//! refuses the LEND). Under the memory lock:
//! 1. register checks (the schema already refused x3/w4 and reserved bits): the host has a
//!    TX buffer; 0 < fragment length <= total length, the fragment at most 4 KiB
//!    (INVALID_PARAMETERS), the whole at most [`MAX_DESCRIPTOR`] (NO_MEMORY); no other
//!    fragmented transaction in progress if this one is (BUSY); fewer than
//!    [`MAX_TRANSACTIONS`] live transactions (NO_MEMORY);
//! 2. copy the fragment from the host's TX into hypervisor memory, once; everything after
//!    this reads the copy only (T6: another CPU rewriting the host's TX changes nothing);
//! 3. validate the copy for the negotiated version (`descriptor.rs`): INVALID_PARAMETERS
//!    (a first fragment: header, receivers, composite and whole constituents in it);
//! 4. claim every constituent `Owned -> SharedWithSecure` (or `LentToSecure`, unmapped from
//!    the host) under a pending tag, all or nothing (not host RAM: INVALID_PARAMETERS; a page
//!    in use or named twice: DENIED; table full or stage 2 refused: NO_MEMORY);
//! 5. write the copy into the hypervisor's TX and forward the call (the host's function ID,
//!    total and fragment length; x3/w4 zero);
//! 6. SUCCESS: the pending pages take the handle as their tag (the handle table is the
//!    ownership map itself). FFA_ERROR: the pages go back to `Owned`, the host gets the
//!    error. MEM_FRAG_RX to a whole transaction: aborted with FFA_MEM_RECLAIM, and the
//!    pages go back only if that succeeds; to a first fragment (offset checked): the pages
//!    take the SPMC's handle and the host gets the FRAG_RX. Anything else, or a
//!    handle that is already live: the host gets ABORTED and the pages stay pinned under a
//!    "lost" tag, because the SPMC may have them and no handle can reclaim them.
//!
//! FRAG_TX (the next fragment, for the handle of the transaction in progress only): the same
//! copy, validation (whole constituents; the composite's page total before the last one),
//! claim under the handle and forward; the SPMC's next FRAG_RX or final SUCCESS goes back to
//! the host. A refused fragment aborts the whole transaction with FFA_MEM_RECLAIM
//! ([`Proxy::abort_fragmented`]): its pages go back to the host only if that succeeds.
//!
//! RECLAIM: only for a handle the proxy recorded (else INVALID_PARAMETERS, nothing
//! forwarded); forwarded as rebuilt; on SUCCESS the recorded pages go back to `Owned`.
//! Nothing the host says about pages is used.

use super::abi::Status;
use super::abi::fid;
use super::audit::Event;
use super::descriptor::{Declared, parse_constituents, parse_first_fragment, parse_transfer};
use super::dispatch::{Call, Outcome, Proxy, reply_error_code, reply_success};
use super::mailbox::{
    MAILBOX_SIZE, MAX_TRANSACTIONS, Platform, error_code, is_success, own_smc, ownership_refusal,
};
use crate::mm::{MemProtect, PageState};
use crate::smccc::SmcRegs;

pub use crate::budget::MAX_DESCRIPTOR;

/// The host's fragmented SHARE or LEND in progress: what the SPMC has so far.
#[derive(Clone, Copy, Debug)]
pub struct Fragmented {
    /// The SPMC's handle (from its FFA_MEM_FRAG_RX); the pages claimed so far carry it.
    handle: u64,
    /// `SharedWithSecure` or `LentToSecure`.
    state: PageState,
    /// The transaction's total length, and the bytes forwarded so far.
    total: usize,
    received: usize,
    /// What the composite declared, and the pages of the constituents forwarded so far.
    declared: Declared,
    pages: u64,
}

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
        mm: &MemProtect,
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
        if frag > MAILBOX_SIZE {
            let what = "fragment larger than the 4 KiB TX buffer";
            return self.refuse(regs, call, Status::InvalidParameters, what, frag as u64);
        }
        if total > MAX_DESCRIPTOR {
            let what = "descriptor larger than 8 384 bytes (512 constituents)";
            return self.refuse(regs, call, Status::NoMemory, what, total as u64);
        }
        let fragmented = frag != total;
        if fragmented && mem.fragmented.is_some() {
            let what = "another fragmented transaction is in progress";
            return self.refuse(regs, call, Status::Busy, what, frag as u64);
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
        let parsed = if fragmented {
            parse_first_fragment(copy, total, call.ver, lend).map(|(s, d)| (s, Some(d)))
        } else {
            parse_transfer(copy, call.ver, lend).map(|s| (s, None))
        };
        let (share, declared) = match parsed {
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
        if let Err((_, e)) = mm.transfer(&share, state, PENDING) {
            let (status, what, value) = ownership_refusal(e, "constituent");
            return self.refuse(regs, call, status, what, value);
        }
        p.write(hyp.tx, copy);
        self.counters.record(call.found, Event::Forwarded);
        let reply = p.smc(call.out);
        if let Some(declared) = declared {
            // The first fragment: the SPMC must ask for the next one at the right offset.
            let handle = u64::from(reply[1] as u32) | u64::from(reply[2] as u32) << 32;
            let asks = reply[0] == u64::from(fid::MEM_FRAG_RX) && reply[3] as u32 as usize == frag;
            if asks && handle != PENDING && handle != LOST && mm.transfer_state(handle).is_none() {
                mm.retag(state, PENDING, handle);
                mem.fragmented = Some(Fragmented {
                    handle,
                    state,
                    total,
                    received: frag,
                    declared,
                    pages: share.total_pages,
                });
                reply_frag_rx(regs, handle, frag);
                return Outcome::Forwarded;
            }
            if let Some(code) = error_code(&reply) {
                mm.reclaim(state, PENDING);
                reply_error_code(regs, call.conv, code);
                return Outcome::Forwarded;
            }
            // Anything else: the SPMC may hold a partial transaction; the pages stay pinned.
            mm.retag(state, PENDING, LOST);
            let what = "SPMC answered a first fragment with neither FRAG_RX nor ERROR";
            return self.bad_reply(regs, call, what, reply[0]);
        }
        if is_success(reply[0]) {
            let (lo, hi) = (reply[2] as u32, reply[3] as u32);
            let handle = u64::from(lo) | u64::from(hi) << 32;
            if handle == PENDING || handle == LOST || mm.transfer_state(handle).is_some() {
                mm.retag(state, PENDING, LOST);
                let what = "SPMC returned a handle that is already live";
                return self.bad_reply(regs, call, what, handle);
            }
            mm.retag(state, PENDING, handle);
            mem.transactions += 1;
            reply_success(regs, call.conv, lo.into(), hi.into());
            return Outcome::Forwarded;
        }
        if let Some(code) = error_code(&reply) {
            mm.reclaim(state, PENDING);
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
                mm.reclaim(state, PENDING);
            } else {
                mm.retag(state, PENDING, LOST);
            }
            let what = "SPMC asked for more fragments of a one-fragment transaction";
            return self.bad_reply(regs, call, what, handle);
        }
        mm.retag(state, PENDING, LOST);
        self.bad_reply(
            regs,
            call,
            "SPMC answered neither SUCCESS nor ERROR",
            reply[0],
        )
    }

    /// `FFA_MEM_FRAG_TX`: the next fragment of the host's fragmented SHARE or LEND.
    pub(super) fn mem_frag_tx(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        mm: &MemProtect,
        p: &mut impl Platform,
    ) -> Outcome {
        let handle = (call.out[1] & 0xFFFF_FFFF) | (call.out[2] & 0xFFFF_FFFF) << 32;
        let frag = call.out[3] as u32 as usize;
        let mut guard = self.mem.lock();
        let mem = &mut *guard;
        let Some(mut f) = mem.fragmented.filter(|f| f.handle == handle) else {
            let what = "no fragmented transaction in progress with this handle";
            return self.refuse(regs, call, Status::InvalidParameters, what, handle);
        };
        // From here on a refusal breaks the transaction the SPMC holds part of: abort it.
        let (Some(hyp), Some(host)) = (mem.hyp, mem.host) else {
            let what = "no TX buffer mapped (unmapped in the middle of a transaction)";
            return self.abort_fragmented(
                regs,
                call,
                mm,
                p,
                mem,
                f,
                Status::InvalidParameters,
                what,
                0,
            );
        };
        if frag == 0 || frag > MAILBOX_SIZE || frag > f.total - f.received {
            let what = "fragment length is 0, above 4 KiB or past the total length";
            let value = frag as u64;
            return self.abort_fragmented(
                regs,
                call,
                mm,
                p,
                mem,
                f,
                Status::InvalidParameters,
                what,
                value,
            );
        }
        let Some(copy) = mem.scratch.get_mut(..frag) else {
            return self.abort_fragmented(
                regs,
                call,
                mm,
                p,
                mem,
                f,
                Status::NoMemory,
                "no scratch buffer",
                0,
            );
        };
        // The one read of the host's TX for this fragment.
        p.read(host.tx, copy);
        let share = match parse_constituents(copy) {
            Ok(s) => s,
            Err(e) => {
                let (what, value) = (e.what, e.offset as u64);
                return self.abort_fragmented(
                    regs,
                    call,
                    mm,
                    p,
                    mem,
                    f,
                    Status::InvalidParameters,
                    what,
                    value,
                );
            }
        };
        let complete = f.received + frag == f.total;
        let pages = f.pages + share.total_pages;
        if complete && let Err(e) = f.declared.check_complete(pages) {
            let (what, value) = (e.what, e.value);
            return self.abort_fragmented(
                regs,
                call,
                mm,
                p,
                mem,
                f,
                Status::InvalidParameters,
                what,
                value,
            );
        }
        if let Err((_, e)) = mm.transfer(&share, f.state, f.handle) {
            let (status, what, value) = ownership_refusal(e, "constituent");
            return self.abort_fragmented(regs, call, mm, p, mem, f, status, what, value);
        }
        p.write(hyp.tx, copy);
        self.counters.record(call.found, Event::Forwarded);
        let reply = p.smc(call.out);
        f.received += frag;
        f.pages = pages;
        let reply_handle = |lo: u64, hi: u64| (lo & 0xFFFF_FFFF) | (hi & 0xFFFF_FFFF) << 32;
        if !complete
            && reply[0] == u64::from(fid::MEM_FRAG_RX)
            && reply_handle(reply[1], reply[2]) == f.handle
            && reply[3] as u32 as usize == f.received
        {
            mem.fragmented = Some(f);
            reply_frag_rx(regs, f.handle, f.received);
            return Outcome::Forwarded;
        }
        if complete && is_success(reply[0]) && reply_handle(reply[2], reply[3]) == f.handle {
            mem.fragmented = None;
            mem.transactions += 1;
            reply_success(
                regs,
                call.conv,
                reply[2] & 0xFFFF_FFFF,
                reply[3] & 0xFFFF_FFFF,
            );
            return Outcome::Forwarded;
        }
        mem.fragmented = None;
        if let Some(code) = error_code(&reply) {
            // The SPMC dropped the transaction: every page of it is the host's again.
            mm.reclaim(f.state, f.handle);
            reply_error_code(regs, call.conv, code);
            return Outcome::Forwarded;
        }
        mm.retag(f.state, f.handle, LOST);
        let what = "SPMC answered a fragment with neither the next offset, SUCCESS nor ERROR";
        self.bad_reply(regs, call, what, reply[0])
    }

    /// Ends the fragmented transaction `f` after a refused fragment: FFA_MEM_RECLAIM of its
    /// handle at the SPMC; its pages go back to the host only if that succeeds, else they
    /// stay pinned under the "lost" tag. The host gets `status`.
    #[allow(clippy::too_many_arguments)]
    fn abort_fragmented(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        mm: &MemProtect,
        p: &mut impl Platform,
        mem: &mut super::mailbox::Mem,
        f: Fragmented,
        status: Status,
        what: &'static str,
        value: u64,
    ) -> Outcome {
        mem.fragmented = None;
        let reclaim = own_smc(
            p,
            [
                fid::MEM_RECLAIM.into(),
                f.handle & 0xFFFF_FFFF,
                f.handle >> 32,
                0,
                0,
            ],
        );
        if is_success(reclaim[0]) {
            mm.reclaim(f.state, f.handle);
        } else {
            mm.retag(f.state, f.handle, LOST);
        }
        self.refuse(regs, call, status, what, value)
    }

    /// `FFA_MEM_RECLAIM`.
    pub(super) fn mem_reclaim(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        mm: &MemProtect,
        p: &mut impl Platform,
    ) -> Outcome {
        let handle = (call.out[1] & 0xFFFF_FFFF) | (call.out[2] & 0xFFFF_FFFF) << 32;
        let mut guard = self.mem.lock();
        let mem = &mut *guard;
        let known = match handle {
            PENDING | LOST => None,
            _ => mm.transfer_state(handle),
        };
        if mem.fragmented.is_some_and(|f| f.handle == handle) {
            let what = "the transaction is still being sent (FFA_MEM_FRAG_TX)";
            return self.refuse(regs, call, Status::Denied, what, handle);
        }
        let Some(state) = known else {
            let what = "not a memory handle the host holds";
            return self.refuse(regs, call, Status::InvalidParameters, what, handle);
        };
        self.counters.record(call.found, Event::Forwarded);
        let reply = p.smc(call.out);
        if is_success(reply[0]) {
            mm.reclaim(state, handle);
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

/// FFA_MEM_FRAG_RX to the host: send the fragment at `offset` of transaction `handle`.
fn reply_frag_rx(regs: &mut SmcRegs, handle: u64, offset: usize) {
    regs.fill(0);
    regs[0] = fid::MEM_FRAG_RX.into();
    regs[1] = handle & 0xFFFF_FFFF;
    regs[2] = handle >> 32;
    regs[3] = offset as u64;
}
