//! Memory sharing and lending: `FFA_MEM_SHARE`, `FFA_MEM_LEND` and `FFA_MEM_RECLAIM` under
//! page ownership.
//!
//! SHARE and LEND take the same path; SHARE moves pages to `SharedWithSecure` (the host keeps
//! access), LEND to `LentToSecure`, which also takes them out of the host's stage 2 (through
//! [`MemProtect::lend`]: break-before-make and the TLB maintenance) before the SPMC
//! hears of them, and puts them back only after the SPMC answers RECLAIM with SUCCESS (or
//! refuses the LEND). With the proxy's state lock held (each handler gets `&mut MemState`):
//! 1. register checks (the schema already refused x3/w4 and reserved bits): the host has a
//!    TX buffer; 0 < fragment length <= total length, the fragment at most 4 KiB
//!    (INVALID_PARAMETERS), the whole at most [`MAX_DESCRIPTOR`] (NO_MEMORY); no other
//!    fragmented transaction in progress if this one is (BUSY); fewer than
//!    [`MAX_TRANSACTIONS`] live transactions (NO_MEMORY);
//! 2. copy the fragment from the host's TX into hypervisor memory, once; everything after
//!    this reads the copy only (another CPU rewriting the host's TX changes nothing);
//! 3. validate the copy for the negotiated version (`descriptor.rs`): INVALID_PARAMETERS
//!    (a first fragment: header, receivers, composite and whole constituents in it);
//! 4. claim every constituent `Owned -> SharedWithSecure` (or `LentToSecure`, unmapped from
//!    the host) under a pending tag through [`MemProtect`], all or nothing (not host RAM:
//!    INVALID_PARAMETERS; a page in use or named twice: DENIED; table full, a LEND whose
//!    block splits the stage-2 table pool cannot cover (checked first), or stage 2 refused:
//!    NO_MEMORY);
//! 5. rebuild the copy from the validated fields only (`descriptor::rebuild`: the layout the
//!    parser demands, every reserved and implementation-defined byte zero), write it into the
//!    hypervisor's TX and forward the call (the host's function ID, total and fragment
//!    length, unchanged because the layout is; x3/w4 zero);
//! 6. SUCCESS: the pending pages take the handle as their tag (the handle table is the
//!    ownership map itself). FFA_ERROR: the pages go back to `Owned`, the host gets the
//!    error. MEM_FRAG_RX to a whole transaction: aborted with FFA_MEM_RECLAIM, and the
//!    pages go back only if that succeeds; to a first fragment (offset checked): the pages
//!    take the SPMC's handle and the host gets the FRAG_RX. Anything else, or a
//!    handle that is already live: the host gets ABORTED and the pages stay withheld from
//!    the host under a "lost" tag for the rest of the boot, because the SPMC may have them
//!    and no handle can reclaim them (D-LOST-PAGES: counted, and each such transaction
//!    keeps its slot of [`MAX_TRANSACTIONS`]).
//!
//! FRAG_TX (the next fragment, for the handle of the transaction in progress only): the same
//! copy, validation (whole constituents; the composite's page total before the last one),
//! claim under the handle, rebuild and forward; the SPMC's next FRAG_RX or final SUCCESS goes back to
//! the host. A refused fragment aborts the whole transaction with FFA_MEM_RECLAIM
//! (`abort_fragmented`): its pages go back to the host only if that succeeds.
//!
//! RECLAIM: only for a handle the proxy recorded (else INVALID_PARAMETERS, nothing
//! forwarded); forwarded as rebuilt; on SUCCESS the recorded pages go back to `Owned`.
//! Nothing the host says about pages is used.

use super::abi::{Status, fid};
use super::descriptor::{parse_constituents, parse_first_fragment, parse_transfer, rebuild};
use super::handler::{
    Call, Platform, Refusal, Reply, error_code, is_success, own_smc, ownership_refusal,
};
use super::state::{Fragmented, LOST, MemState, PENDING};
use crate::budget::{MAILBOX_SIZE, MAX_DESCRIPTOR, MAX_TRANSACTIONS};
use crate::mm::{MemProtect, PageState};

/// `FFA_MEM_SHARE_32/64` and `FFA_MEM_LEND_32/64`.
pub fn mem_share(
    mem: &mut MemState,
    mm: &MemProtect,
    call: &Call<'_>,
    p: &mut impl Platform,
) -> Result<Reply, Refusal> {
    let state = if call.out[0] as u32 & !(1 << 30) == fid::MEM_LEND_32 {
        PageState::LentToSecure
    } else {
        PageState::SharedWithSecure
    };
    let total = call.out[1] as u32 as usize;
    let frag = call.out[2] as u32 as usize;
    let (Some(hyp), Some(host)) = (mem.hyp, mem.host) else {
        let what = "no TX buffer mapped (FFA_RXTX_MAP first)";
        return Err(Refusal::refused(Status::InvalidParameters, what, 0));
    };
    if frag == 0 || frag > total {
        let what = "fragment length is 0 or above the total length";
        return Err(Refusal::refused(
            Status::InvalidParameters,
            what,
            frag as u64,
        ));
    }
    if frag > MAILBOX_SIZE {
        let what = "fragment larger than the 4 KiB TX buffer";
        return Err(Refusal::refused(
            Status::InvalidParameters,
            what,
            frag as u64,
        ));
    }
    if total > MAX_DESCRIPTOR {
        let what = "descriptor larger than 8 384 bytes (512 constituents)";
        return Err(Refusal::refused(Status::NoMemory, what, total as u64));
    }
    let fragmented = frag != total;
    if fragmented && mem.fragmented.is_some() {
        let what = "another fragmented transaction is in progress";
        return Err(Refusal::refused(Status::Busy, what, frag as u64));
    }
    if mem.slots_used() >= MAX_TRANSACTIONS {
        let what = "too many live (or lost) memory transactions";
        return Err(Refusal::refused(
            Status::NoMemory,
            what,
            mem.slots_used() as u64,
        ));
    }
    let Some(copy) = mem.scratch.get_mut(..frag) else {
        return Err(Refusal::refused(Status::NoMemory, "no scratch buffer", 0));
    };
    // The one read of the host's TX: everything below works on the copy.
    p.read(host.tx, copy);
    let lend = state == PageState::LentToSecure;
    let parsed = if fragmented {
        parse_first_fragment(copy, total, call.ver, lend).map(|(s, d)| (s, Some(d)))
    } else {
        parse_transfer(copy, call.ver, lend).map(|s| (s, None))
    };
    let (share, declared) =
        parsed.map_err(|e| Refusal::refused(Status::InvalidParameters, e.what, e.offset as u64))?;
    if let Err((_, e)) = mm.transfer(&share, state, PENDING) {
        return Err(ownership_refusal(e, "constituent"));
    }
    let pages = share.total_pages;
    // What the SPMC reads is rebuilt from the validated fields, not the host's bytes.
    rebuild(copy, call.ver, true);
    p.write(hyp.tx, copy);
    let reply = p.smc(call.out);
    if let Some(declared) = declared {
        // The first fragment: the SPMC must ask for the next one at the right offset.
        let handle = u64::from(reply[1] as u32) | u64::from(reply[2] as u32) << 32;
        let asks = reply[0] == u64::from(fid::MEM_FRAG_RX) && reply[3] as u32 as usize == frag;
        if asks && handle != PENDING && handle != LOST && mm.adopt(state, PENDING, handle) {
            mem.fragmented = Some(Fragmented {
                handle,
                state,
                total,
                received: frag,
                declared,
                pages,
            });
            return Ok(Reply::FragRx {
                handle,
                offset: frag,
            });
        }
        if let Some(code) = error_code(&reply) {
            mm.reclaim(state, PENDING);
            return Ok(Reply::Error(code));
        }
        // Anything else: the SPMC may hold a partial transaction; the pages stay pinned.
        mem.withhold(mm, state, PENDING, pages);
        let what = "SPMC answered a first fragment with neither FRAG_RX nor ERROR; pages withheld";
        return Err(Refusal::BadReply {
            what,
            value: reply[0],
        });
    }
    if is_success(reply[0]) {
        let (lo, hi) = (reply[2] as u32, reply[3] as u32);
        let handle = u64::from(lo) | u64::from(hi) << 32;
        if handle == PENDING || handle == LOST || !mm.adopt(state, PENDING, handle) {
            mem.withhold(mm, state, PENDING, pages);
            let what = "SPMC returned a handle that is already live; pages withheld";
            return Err(Refusal::BadReply {
                what,
                value: handle,
            });
        }
        mem.transactions += 1;
        return Ok(Reply::Success {
            w2: lo.into(),
            w3: hi.into(),
        });
    }
    if let Some(code) = error_code(&reply) {
        mm.reclaim(state, PENDING);
        return Ok(Reply::Error(code));
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
        let what = if is_success(reclaim[0]) {
            mm.reclaim(state, PENDING);
            "SPMC asked for more fragments of a one-fragment transaction"
        } else {
            mem.withhold(mm, state, PENDING, pages);
            "SPMC asked for more fragments of one, refused its reclaim; pages withheld"
        };
        return Err(Refusal::BadReply {
            what,
            value: handle,
        });
    }
    mem.withhold(mm, state, PENDING, pages);
    Err(Refusal::BadReply {
        what: "SPMC answered neither SUCCESS nor ERROR; pages withheld",
        value: reply[0],
    })
}

/// `FFA_MEM_FRAG_TX`: the next fragment of the host's fragmented SHARE or LEND.
pub fn mem_frag_tx(
    mem: &mut MemState,
    mm: &MemProtect,
    call: &Call<'_>,
    p: &mut impl Platform,
) -> Result<Reply, Refusal> {
    let handle = (call.out[1] & 0xFFFF_FFFF) | (call.out[2] & 0xFFFF_FFFF) << 32;
    let frag = call.out[3] as u32 as usize;
    let Some(f) = mem.fragmented.filter(|f| f.handle == handle) else {
        let what = "no fragmented transaction in progress with this handle";
        return Err(Refusal::refused(Status::InvalidParameters, what, handle));
    };
    // From here on a refusal breaks the transaction the SPMC holds part of: abort it.
    next_fragment(mem, mm, call, p, f, frag).map_err(|refusal| match refusal {
        Refusal::BadReply { .. } => refusal,
        _ => abort_fragmented(mem, mm, p, f, refusal),
    })
}

/// [`mem_frag_tx`] for the transaction `f` in progress: checks, copies, claims and forwards
/// the fragment of `frag` bytes. A [`Refusal::BadReply`] is final (the transaction was
/// forwarded and dealt with); any other refusal leaves `f` for the caller to abort.
fn next_fragment(
    mem: &mut MemState,
    mm: &MemProtect,
    call: &Call<'_>,
    p: &mut impl Platform,
    mut f: Fragmented,
    frag: usize,
) -> Result<Reply, Refusal> {
    let (Some(hyp), Some(host)) = (mem.hyp, mem.host) else {
        let what = "no TX buffer mapped (unmapped in the middle of a transaction)";
        return Err(Refusal::refused(Status::InvalidParameters, what, 0));
    };
    if frag == 0 || frag > MAILBOX_SIZE || frag > f.total - f.received {
        let what = "fragment length is 0, above 4 KiB or past the total length";
        return Err(Refusal::refused(
            Status::InvalidParameters,
            what,
            frag as u64,
        ));
    }
    let Some(copy) = mem.scratch.get_mut(..frag) else {
        return Err(Refusal::refused(Status::NoMemory, "no scratch buffer", 0));
    };
    // The one read of the host's TX for this fragment.
    p.read(host.tx, copy);
    let share = parse_constituents(copy)
        .map_err(|e| Refusal::refused(Status::InvalidParameters, e.what, e.offset as u64))?;
    let complete = f.received + frag == f.total;
    let pages = f.pages + share.total_pages;
    if complete && let Err(e) = f.declared.check_complete(pages) {
        return Err(Refusal::refused(Status::InvalidParameters, e.what, e.value));
    }
    if let Err((_, e)) = mm.transfer(&share, f.state, f.handle) {
        return Err(ownership_refusal(e, "constituent"));
    }
    rebuild(copy, call.ver, false);
    p.write(hyp.tx, copy);
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
        return Ok(Reply::FragRx {
            handle: f.handle,
            offset: f.received,
        });
    }
    if complete && is_success(reply[0]) && reply_handle(reply[2], reply[3]) == f.handle {
        mem.fragmented = None;
        mem.transactions += 1;
        return Ok(Reply::Success {
            w2: reply[2] & 0xFFFF_FFFF,
            w3: reply[3] & 0xFFFF_FFFF,
        });
    }
    mem.fragmented = None;
    if let Some(code) = error_code(&reply) {
        // The SPMC dropped the transaction: every page of it is the host's again.
        mm.reclaim(f.state, f.handle);
        return Ok(Reply::Error(code));
    }
    mem.withhold(mm, f.state, f.handle, f.pages);
    let what =
        "SPMC answered a fragment with neither the next offset, SUCCESS nor ERROR; pages withheld";
    Err(Refusal::BadReply {
        what,
        value: reply[0],
    })
}

/// Ends the fragmented transaction `f` after a refused fragment: FFA_MEM_RECLAIM of its
/// handle at the SPMC; its pages go back to the host only if that succeeds, else they stay
/// withheld under the "lost" tag (D-LOST-PAGES). The host gets `refusal`.
fn abort_fragmented(
    mem: &mut MemState,
    mm: &MemProtect,
    p: &mut impl Platform,
    f: Fragmented,
    refusal: Refusal,
) -> Refusal {
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
        return refusal;
    }
    mem.withhold(mm, f.state, f.handle, f.pages);
    // The transaction is gone and its pages with it: ABORTED, and the record says so.
    let _ = refusal;
    let status = Status::Aborted;
    let what = "refused fragment, SPMC refused its reclaim; pages withheld";
    Refusal::refused(status, what, f.handle)
}

/// `FFA_MEM_RECLAIM`.
pub fn mem_reclaim(
    mem: &mut MemState,
    mm: &MemProtect,
    call: &Call<'_>,
    p: &mut impl Platform,
) -> Result<Reply, Refusal> {
    let handle = (call.out[1] & 0xFFFF_FFFF) | (call.out[2] & 0xFFFF_FFFF) << 32;
    let known = match handle {
        PENDING | LOST => None,
        _ => mm.transfer_state(handle),
    };
    if mem.fragmented.is_some_and(|f| f.handle == handle) {
        let what = "the transaction is still being sent (FFA_MEM_FRAG_TX)";
        return Err(Refusal::refused(Status::Denied, what, handle));
    }
    let Some(state) = known else {
        let what = "not a memory handle the host holds";
        return Err(Refusal::refused(Status::InvalidParameters, what, handle));
    };
    let reply = p.smc(call.out);
    if is_success(reply[0]) {
        mm.reclaim(state, handle);
        mem.transactions = mem.transactions.saturating_sub(1);
        return Ok(Reply::Success { w2: 0, w3: 0 });
    }
    if let Some(code) = error_code(&reply) {
        return Ok(Reply::Error(code));
    }
    Err(Refusal::BadReply {
        what: "SPMC answered neither SUCCESS nor ERROR",
        value: reply[0],
    })
}
