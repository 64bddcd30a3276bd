//! The RX/TX mailboxes: the host's (emulated) and the hypervisor's own (registered with the
//! SPMC), and partition discovery through them.
//!
//! # Two instances, one ID
//! At the SPMC the host and the hypervisor are both endpoint 0, and the SPMC knows one RX/TX
//! pair for ID 0. That pair is the hypervisor's: two 4 KiB pages in the carve-out, which the
//! host cannot read or write. The host's own pair is never given to the SPMC; the proxy
//! copies between the two:
//! - `FFA_PARTITION_INFO_GET`: the SPMC writes into the hypervisor's RX, the proxy copies the
//!   descriptors into the host's RX and releases its own RX at the SPMC;
//! - `FFA_MEM_SHARE` and `FFA_MEM_LEND` (`memory.rs`): the proxy copies the host's TX into
//!   hypervisor memory, validates the copy, and writes it into the hypervisor's TX for the SPMC to read. So the
//!   SPMC never reads a buffer the host can still write, and never sees a host address.
//!
//! # When the hypervisor's pair is registered
//! At the host's first `FFA_RXTX_MAP`, not at boot: by then the host has called
//! `FFA_VERSION` and negotiation is final, so the SPMC sees calls from ID 0 in the order a
//! strict SPMC expects (VERSION first, then the rest), and an SPMC that needs larger buffers
//! (`FFA_FEATURES(FFA_RXTX_MAP_64)` w2[1:0] != 0) fails the host's map rather than the
//! boot. The pair then stays registered for the hypervisor's lifetime: a host
//! `FFA_RXTX_UNMAP` only unpins the host's pages, so the SPMC's state for ID 0 never churns
//! and nothing is left half-unmapped.
//!
//! # The host's pair
//! `FFA_RXTX_MAP` (both conventions): one 4 KiB page each, page-aligned, distinct, `Owned`
//! host RAM; claimed as `SharedWithHyp` (pinned: no SHARE, LEND or second map can take them)
//! until `FFA_RXTX_UNMAP`. The host's RX has an owner, as in the spec: after a successful
//! non-count `FFA_PARTITION_INFO_GET` it is full (the host's) until the host's
//! `FFA_RX_RELEASE`, and the proxy writes into it only when it is free. The hypervisor's RX
//! has its own owner at the SPMC: the proxy releases it right after copying out of it, and
//! only when it holds it (pKVM passes the host's RX_RELEASE to the SPMC instead, which frees
//! the wrong buffer).
//!
//! OP-TEE 4.10's SPMC marks the caller's RX full after every non-count PARTITION_INFO_GET,
//! errors included. The proxy does not release after an error (the spec says an error
//! transfers nothing); if the SPMC later answers BUSY for the hypervisor's RX, the proxy
//! releases it once and retries, which is the SPMC telling us we hold it.
//!
//! Every handler here runs with the proxy's state lock held (it gets `&mut MemState`), so
//! two CPUs never interleave in the mailboxes; the host's pages are pinned and unpinned
//! through [`MemProtect`]. Copies go through [`PhysMem`](super::handler::PhysMem):
//! volatile accesses by physical address in the firmware, a simulated memory in tests.

use super::abi::{Status, Version, fid};
use super::handler::{
    Call, Platform, Refusal, Reply, error_code, is_success, own_smc, ownership_refusal,
};
use super::state::{HostMailbox, HypMailbox, MAILBOX_TAG, MemState};
use crate::addr::PAGE;
use crate::budget::MAILBOX_SIZE;
use crate::mm::MemProtect;
use crate::smccc::SmcConduit;

/// `FFA_RXTX_MAP_32/64`.
pub fn rxtx_map(
    mem: &mut MemState,
    mm: &MemProtect,
    call: &Call<'_>,
    p: &mut impl Platform,
) -> Result<Reply, Refusal> {
    let (tx, rx, pages) = (call.out[1], call.out[2], call.out[3]);
    let Some(hyp) = mem.hyp.as_mut() else {
        return Err(Refusal::refused(Status::NotSupported, "no mailbox", 0));
    };
    if mem.host.is_some() {
        let what = "RX/TX buffers already mapped";
        return Err(Refusal::refused(Status::Denied, what, tx));
    }
    if pages != 1 {
        let what = "page count must be 1 (4 KiB buffers, as FFA_FEATURES says)";
        return Err(Refusal::refused(Status::InvalidParameters, what, pages));
    }
    if !tx.is_multiple_of(PAGE) {
        let what = "TX buffer not 4 KiB-aligned";
        return Err(Refusal::refused(Status::InvalidParameters, what, tx));
    }
    if !rx.is_multiple_of(PAGE) {
        let what = "RX buffer not 4 KiB-aligned";
        return Err(Refusal::refused(Status::InvalidParameters, what, rx));
    }
    if tx == rx {
        let what = "TX and RX are the same page";
        return Err(Refusal::refused(Status::InvalidParameters, what, tx));
    }
    // A buffer in the last page of the address space would wrap: not host RAM either.
    let pair = [tx..tx.saturating_add(PAGE), rx..rx.saturating_add(PAGE)];
    if let Err((i, e)) = mm.pin(&pair[..], MAILBOX_TAG) {
        return Err(ownership_refusal(e, if i == 0 { "TX" } else { "RX" }));
    }
    if !hyp.registered {
        if let Err((status, what)) = register(p, hyp) {
            for r in pair {
                let _ = mm.unpin(r, MAILBOX_TAG);
            }
            return Err(Refusal::refused(status, what, hyp.tx));
        }
        hyp.registered = true;
    }
    mem.host = Some(HostMailbox {
        tx,
        rx,
        rx_full: false,
    });
    Ok(Reply::Emulated { w2: 0, w3: 0 })
}

/// `FFA_RXTX_UNMAP`.
pub fn rxtx_unmap(mem: &mut MemState, mm: &MemProtect) -> Result<Reply, Refusal> {
    let Some(host) = mem.host else {
        let what = "no RX/TX buffers mapped";
        return Err(Refusal::refused(Status::InvalidParameters, what, 0));
    };
    for r in [host.tx..host.tx + PAGE, host.rx..host.rx + PAGE] {
        // Cannot fail: the pages were pinned with this tag at map time, and a release of a
        // whole pinned page never needs room.
        let _ = mm.unpin(r, MAILBOX_TAG);
    }
    mem.host = None;
    Ok(Reply::Emulated { w2: 0, w3: 0 })
}

/// `FFA_RX_RELEASE`: the host's RX becomes free. Never forwarded.
pub fn rx_release(mem: &mut MemState) -> Result<Reply, Refusal> {
    let Some(host) = mem.host.as_mut() else {
        let what = "no RX/TX buffers mapped";
        return Err(Refusal::refused(Status::Denied, what, 0));
    };
    if !host.rx_full {
        let what = "the host's RX buffer is not full";
        return Err(Refusal::refused(Status::Denied, what, host.rx));
    }
    host.rx_full = false;
    Ok(Reply::Emulated { w2: 0, w3: 0 })
}

/// `FFA_PARTITION_INFO_GET`.
pub fn partition_info_get(
    mem: &mut MemState,
    call: &Call<'_>,
    p: &mut impl Platform,
) -> Result<Reply, Refusal> {
    let count_only = call.ver >= Version::V1_1 && call.out[5] & 1 != 0;
    if count_only {
        // Registers only: the SPMC touches no buffer.
        return Ok(Reply::Forward);
    }
    let (Some(hyp), Some(host)) = (mem.hyp.as_mut(), mem.host.as_mut()) else {
        let what = "no RX/TX buffers mapped (FFA_RXTX_MAP first)";
        return Err(Refusal::refused(Status::Denied, what, 0));
    };
    if host.rx_full {
        let what = "the host's RX buffer is full (FFA_RX_RELEASE first)";
        return Err(Refusal::refused(Status::Busy, what, host.rx));
    }
    if hyp.rx_held {
        release_hyp_rx(p, hyp);
    }
    let mut reply = p.smc(call.out);
    if error_code(&reply) == Some(Status::Busy.w()) && release_hyp_rx(p, hyp) {
        // The SPMC still had our RX (OP-TEE keeps it after a failed call): now released.
        reply = p.smc(call.out);
    }
    if let Some(code) = error_code(&reply) {
        return Ok(Reply::Error(code));
    }
    if !is_success(reply[0]) {
        let what = "SPMC answered neither SUCCESS nor ERROR";
        return Err(Refusal::BadReply {
            what,
            value: reply[0],
        });
    }
    // The SPMC filled our RX: it is ours until we release it.
    hyp.rx_held = true;
    let count = u64::from(reply[2] as u32);
    let size = match call.ver {
        Version::V1_0 => 8,
        _ => u64::from(reply[3] as u32),
    };
    let expected = if call.ver == Version::V1_0 { 8 } else { 24 };
    let bytes = count
        .checked_mul(size)
        .filter(|&n| n <= MAILBOX_SIZE as u64);
    let result = match bytes {
        Some(n) if size == expected => {
            // The entries go from our RX straight into the host's, and the rest of the host's
            // RX is zeroed, not left as it was (D-RX-TAIL). No copy through the scratch
            // buffer: the whole page went through memory three times (read, clear, write).
            let n = n as usize;
            p.copy(host.rx, hyp.rx, n);
            p.zero(host.rx + n as u64, MAILBOX_SIZE - n);
            host.rx_full = true;
            let w3 = if call.ver == Version::V1_0 { 0 } else { size };
            Ok(Reply::Success { w2: count, w3 })
        }
        _ if size != expected => Err(Refusal::BadReply {
            what: "SPMC's partition descriptor size is not the version's",
            value: size,
        }),
        _ => Err(Refusal::BadReply {
            what: "SPMC's partition descriptors do not fit 4 KiB",
            value: count,
        }),
    };
    release_hyp_rx(p, hyp);
    result
}

/// Registers the hypervisor's pair with the SPMC: FFA_FEATURES(FFA_RXTX_MAP_64) first (the
/// SPMC's minimum must be 4 KiB; an error answer means 4 KiB, as Linux reads it), then
/// FFA_RXTX_MAP_64(TX, RX, 1 page).
fn register(p: &mut impl SmcConduit, hyp: &HypMailbox) -> Result<(), (Status, &'static str)> {
    let features = own_smc(p, [fid::FEATURES.into(), fid::RXTX_MAP_64.into(), 0, 0, 0]);
    if is_success(features[0]) && features[2] & 0b11 != 0 {
        return Err((
            Status::NoMemory,
            "the SPMC needs RX/TX buffers larger than 4 KiB",
        ));
    }
    let map = own_smc(p, [fid::RXTX_MAP_64.into(), hyp.tx, hyp.rx, 1, 0]);
    if is_success(map[0]) {
        return Ok(());
    }
    let status = match error_code(&map).map(|w| w as u32 as i32) {
        Some(-1) => Status::NotSupported,
        Some(-3) => Status::NoMemory,
        Some(-6) => Status::Denied,
        _ => Status::Aborted,
    };
    Err((status, "the SPMC refused the hypervisor's RX/TX buffers"))
}

/// Releases the hypervisor's RX at the SPMC. True if it was ours and is now free; a DENIED
/// answer (the SPMC thinks it is free already) also clears `rx_held`.
fn release_hyp_rx(p: &mut impl SmcConduit, hyp: &mut HypMailbox) -> bool {
    let reply = own_smc(p, [fid::RX_RELEASE.into(), 0, 0, 0, 0]);
    if is_success(reply[0]) {
        hyp.rx_held = false;
        return true;
    }
    if error_code(&reply) == Some(Status::Denied.w()) {
        hyp.rx_held = false;
    }
    false
}
