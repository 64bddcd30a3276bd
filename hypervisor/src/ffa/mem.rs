//! Memory sharing: `FFA_MEM_SHARE` and `FFA_MEM_RECLAIM` under page ownership.
//!
//! SHARE, under the memory lock:
//! 1. register checks (the schema already refused x3/w4 and reserved bits): the host has a
//!    TX buffer; 0 < fragment length <= total length; one fragment of at most 4 KiB
//!    (NO_MEMORY otherwise: `FFA_MEM_FRAG_TX` is not implemented); fewer than
//!    [`MAX_TRANSACTIONS`] live transactions (NO_MEMORY);
//! 2. copy the fragment from the host's TX into hypervisor memory, once; everything after
//!    this reads the copy only (T6: another CPU rewriting the host's TX changes nothing);
//! 3. validate the copy for the negotiated version (`descriptor.rs`): INVALID_PARAMETERS;
//! 4. claim every constituent `Owned -> SharedWithSecure` under a pending tag, all or nothing
//!    (not host RAM: INVALID_PARAMETERS; a page in use or named twice: DENIED; table full:
//!    NO_MEMORY);
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
use super::descriptor::parse_share;
use super::dispatch::{Call, Outcome, Proxy, reply_error_code, reply_success};
use super::mailbox::{
    MAILBOX_SIZE, MAX_TRANSACTIONS, Platform, error_code, is_success, own_smc, ownership_refusal,
};
use crate::ownership::{NoStage2, PageState};
use crate::smccc::SmcRegs;

/// Tag of pages whose SHARE is in flight (never a handle the proxy accepts).
const PENDING: u64 = u64::MAX;
/// Tag of pages the SPMC may hold without a usable handle (never reclaimable by the host).
const LOST: u64 = u64::MAX - 1;

impl Proxy {
    /// `FFA_MEM_SHARE_32/64`.
    pub(super) fn mem_share(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        p: &mut impl Platform,
    ) -> Outcome {
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
        let share = match parse_share(copy, call.ver) {
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
        if let Err((_, e)) =
            mem.ownership
                .claim(&share, PageState::SharedWithSecure, PENDING, &mut NoStage2)
        {
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
            let live = handle == PENDING
                || handle == LOST
                || ownership.has_tag(PageState::SharedWithSecure, handle);
            if live {
                ownership.retag(PageState::SharedWithSecure, PENDING, LOST);
                let what = "SPMC returned a handle that is already live";
                return self.bad_reply(regs, call, what, handle);
            }
            ownership.retag(PageState::SharedWithSecure, PENDING, handle);
            mem.transactions += 1;
            reply_success(regs, call.conv, lo.into(), hi.into());
            return Outcome::Forwarded;
        }
        if let Some(code) = error_code(&reply) {
            ownership.release_tag(PageState::SharedWithSecure, PENDING, &mut NoStage2);
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
                ownership.release_tag(PageState::SharedWithSecure, PENDING, &mut NoStage2);
            } else {
                ownership.retag(PageState::SharedWithSecure, PENDING, LOST);
            }
            let what = "SPMC asked for more fragments of a one-fragment transaction";
            return self.bad_reply(regs, call, what, handle);
        }
        ownership.retag(PageState::SharedWithSecure, PENDING, LOST);
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
        let known = handle != PENDING
            && handle != LOST
            && mem.ownership.has_tag(PageState::SharedWithSecure, handle);
        if !known {
            let what = "not a memory handle the host holds";
            return self.refuse(regs, call, Status::InvalidParameters, what, handle);
        }
        self.counters.record(call.found, Event::Forwarded);
        let reply = p.smc(call.out);
        if is_success(reply[0]) {
            mem.ownership
                .release_tag(PageState::SharedWithSecure, handle, &mut NoStage2);
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
