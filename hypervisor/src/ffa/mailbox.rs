//! The RX/TX mailboxes: the host's (emulated) and the hypervisor's own (registered with the
//! SPMC), and partition discovery through them.
//!
//! # Two instances, one ID (reference T1)
//! At the SPMC the host and the hypervisor are both endpoint 0, and the SPMC knows one RX/TX
//! pair for ID 0. That pair is the hypervisor's: two 4 KiB pages in the carve-out, which the
//! host cannot read or write. The host's own pair is never given to the SPMC; the proxy
//! copies between the two:
//! - `FFA_PARTITION_INFO_GET`: the SPMC writes into the hypervisor's RX, the proxy copies the
//!   descriptors into the host's RX and releases its own RX at the SPMC;
//! - `FFA_MEM_SHARE` (`mem.rs`): the proxy copies the host's TX into hypervisor memory,
//!   validates the copy, and writes it into the hypervisor's TX for the SPMC to read. So the
//!   SPMC never reads a buffer the host can still write, and never sees a host address.
//!
//! # When the hypervisor's pair is registered
//! At the host's first `FFA_RXTX_MAP`, not at boot: by then the host has called
//! `FFA_VERSION` and negotiation is final, so the SPMC sees calls from ID 0 in the order a
//! strict SPMC expects (VERSION first, then the rest), and an SPMC that needs larger buffers
//! (`FFA_FEATURES(FFA_RXTX_MAP_64)` w2[1:0] != 0) fails the host's map rather than the
//! boot. The pair then stays registered for the hypervisor's lifetime: a host
//! `FFA_RXTX_UNMAP` only unpins the host's pages, so the SPMC's state for ID 0 never churns
//! and nothing is left half-unmapped (T20).
//!
//! # The host's pair
//! `FFA_RXTX_MAP` (both conventions): one 4 KiB page each, page-aligned, distinct, `Owned`
//! host RAM; claimed as `SharedWithHyp` (pinned: no SHARE, LEND or second map can take them)
//! until `FFA_RXTX_UNMAP`. The host's RX has an owner, as in the spec: after a successful
//! non-count `FFA_PARTITION_INFO_GET` it is full (the host's) until the host's
//! `FFA_RX_RELEASE`, and the proxy writes into it only when it is free. The hypervisor's RX
//! has its own owner at the SPMC: the proxy releases it right after copying out of it, and
//! only when it holds it (T10; pKVM passes the host's RX_RELEASE to the SPMC instead, which
//! frees the wrong buffer).
//!
//! OP-TEE 4.10's SPMC marks the caller's RX full after every non-count PARTITION_INFO_GET,
//! errors included. The proxy does not release after an error (the spec says an error
//! transfers nothing); if the SPMC later answers BUSY for the hypervisor's RX, the proxy
//! releases it once and retries, which is the SPMC telling us we hold it.
//!
//! Everything here runs under the proxy's memory lock, so two CPUs never interleave in the
//! mailboxes. Copies go through [`PhysMem`]: volatile accesses by physical address in the
//! firmware, a simulated memory in tests.

use alloc::vec::Vec;

use super::abi::{Status, Version, fid};
use super::audit::{Event, Reason, Rejection};
use super::dispatch::{Call, Outcome, Proxy, reply_error_code, reply_success};
use crate::addr::PAGE;
use crate::mm::{MemProtect, OwnershipError, PageState};
use crate::smccc::{NOT_SUPPORTED, SmcConduit, SmcRegs};

pub use crate::budget::{MAILBOX_SIZE, MAX_TRANSACTIONS, OWNERSHIP_RUNS};

/// Tag of the host's mailbox pages in the ownership map.
pub(super) const MAILBOX_TAG: u64 = 0;

/// Physical memory as the proxy sees it: copies to and from pages it has checked (the
/// host's pinned mailbox pages and the hypervisor's own). The host's stage 2 is not here: it
/// belongs to [`MemProtect`].
pub trait PhysMem {
    /// Copies `dst.len()` bytes starting at physical address `pa` into `dst`.
    fn read(&mut self, pa: u64, dst: &mut [u8]);
    /// Copies `src` to physical address `pa`.
    fn write(&mut self, pa: u64, src: &[u8]);
}

/// What [`Proxy::handle`] needs from the platform: the SMC conduit and physical memory.
pub trait Platform: SmcConduit + PhysMem {}

impl<T: SmcConduit + PhysMem> Platform for T {}

/// The proxy's memory configuration, given once at boot.
#[derive(Clone, Debug)]
pub struct MemConfig {
    /// The hypervisor's TX page (physical address, 4 KiB-aligned, not host RAM).
    pub hyp_tx: u64,
    /// The hypervisor's RX page.
    pub hyp_rx: u64,
}

/// The hypervisor's own pair at the SPMC.
#[derive(Clone, Copy, Debug)]
pub(super) struct HypMailbox {
    pub(super) tx: u64,
    pub(super) rx: u64,
    /// Registered with the SPMC (FFA_RXTX_MAP_64).
    pub(super) registered: bool,
    /// The SPMC has filled our RX and we have not released it.
    pub(super) rx_held: bool,
}

/// The host's pair.
#[derive(Clone, Copy, Debug)]
pub(super) struct HostMailbox {
    pub(super) tx: u64,
    pub(super) rx: u64,
    /// The host owns its RX (data in it, not yet released).
    pub(super) rx_full: bool,
}

/// Everything behind the proxy's memory lock.
pub struct Mem {
    pub(super) hyp: Option<HypMailbox>,
    pub(super) host: Option<HostMailbox>,
    /// Hypervisor-private copy of a descriptor or of partition information (one page,
    /// allocated once at boot).
    pub(super) scratch: Vec<u8>,
    /// Live SHARE and LEND transactions.
    pub(super) transactions: usize,
    /// The one fragmented SHARE or LEND in progress (`mem.rs`).
    pub(super) fragmented: Option<super::mem::Fragmented>,
}

/// A snapshot of the memory side, for the console and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemStatus {
    /// The host's (TX, RX), if mapped, and whether its RX is full.
    pub host_mailbox: Option<(u64, u64, bool)>,
    /// Whether the hypervisor's pair is registered with the SPMC.
    pub hyp_registered: bool,
    /// Live SHARE and LEND transactions.
    pub transactions: usize,
    /// Pages shared with the Secure world.
    pub shared_pages: u64,
    /// Pages lent to the Secure world (not mapped for the host).
    pub lent_pages: u64,
    /// Ownership runs in use and the capacity.
    pub runs: (usize, usize),
}

impl Mem {
    /// No mailbox, no RAM: the memory ABIs are NOT_SUPPORTED.
    pub(super) const fn new() -> Self {
        Mem {
            hyp: None,
            host: None,
            scratch: Vec::new(),
            transactions: 0,
            fragmented: None,
        }
    }

    /// The configured state, or `None` if the configuration is unusable (the hypervisor's
    /// pages must be page-aligned, distinct, and not host RAM in `mm`).
    pub(super) fn configured(config: MemConfig, mm: &MemProtect) -> Option<Self> {
        let page_ok = |pa: u64| {
            pa.is_multiple_of(PAGE)
                && mm.state(pa).is_none()
                && mm.state(pa.saturating_add(PAGE - 1)).is_none()
        };
        if !page_ok(config.hyp_tx) || !page_ok(config.hyp_rx) || config.hyp_tx == config.hyp_rx {
            return None;
        }
        Some(Mem {
            hyp: Some(HypMailbox {
                tx: config.hyp_tx,
                rx: config.hyp_rx,
                registered: false,
                rx_held: false,
            }),
            host: None,
            scratch: alloc::vec![0; MAILBOX_SIZE],
            transactions: 0,
            fragmented: None,
        })
    }

    pub(super) fn hyp_pages(&self) -> Option<(u64, u64)> {
        self.hyp.map(|h| (h.tx, h.rx))
    }

    pub(super) fn status(&self, mm: &MemProtect) -> MemStatus {
        MemStatus {
            host_mailbox: self.host.map(|h| (h.tx, h.rx, h.rx_full)),
            hyp_registered: self.hyp.is_some_and(|h| h.registered),
            transactions: self.transactions,
            shared_pages: mm.pages_in(PageState::SharedWithSecure),
            lent_pages: mm.pages_in(PageState::LentToSecure),
            runs: mm.usage(),
        }
    }
}

/// An SMC of the proxy's own with x0..x4 = `x`.
pub(super) fn own_smc(p: &mut impl SmcConduit, x: [u64; 5]) -> SmcRegs {
    let mut call: SmcRegs = [0; 18];
    call[..5].copy_from_slice(&x);
    p.smc(&call)
}

/// Whether x0 is FFA_SUCCESS (either convention).
pub(super) fn is_success(x0: u64) -> bool {
    x0 == u64::from(fid::SUCCESS_32) || x0 == u64::from(fid::SUCCESS_64)
}

/// The status register of an error reply, as the host may get it: the SPMC's w2 if it is
/// one of the spec's codes, ABORTED otherwise; SMCCC NOT_SUPPORTED in x0 counts as
/// NOT_SUPPORTED. `None` if the reply is not an error.
pub(super) fn error_code(reply: &SmcRegs) -> Option<u64> {
    if reply[0] == NOT_SUPPORTED || reply[0] == 0xFFFF_FFFF {
        return Some(Status::NotSupported.w());
    }
    if reply[0] != u64::from(fid::ERROR) {
        return None;
    }
    let code = reply[2] as u32 as i32;
    Some(if (-10..=-1).contains(&code) {
        u64::from(code as u32)
    } else {
        Status::Aborted.w()
    })
}

/// The status an ownership refusal answers, and what to log.
pub(super) fn ownership_refusal(
    e: OwnershipError,
    buffer: &'static str,
) -> (Status, &'static str, u64) {
    match e {
        OwnershipError::BadRange { start, .. } => (
            Status::InvalidParameters,
            match buffer {
                "TX" => "TX buffer is empty, unaligned or wraps",
                "RX" => "RX buffer is empty, unaligned or wraps",
                _ => "constituent is empty, unaligned or wraps",
            },
            start,
        ),
        OwnershipError::NotHostRam { start, .. } => (
            Status::InvalidParameters,
            match buffer {
                "TX" => "TX buffer is not host RAM",
                "RX" => "RX buffer is not host RAM",
                _ => "constituent is not host RAM",
            },
            start,
        ),
        OwnershipError::WrongState { page, .. } => (
            Status::Denied,
            match buffer {
                "TX" => "TX buffer page is in use (shared, lent or a mailbox)",
                "RX" => "RX buffer page is in use (shared, lent or a mailbox)",
                _ => "constituent page is in use (shared, lent, a mailbox, or named twice)",
            },
            page,
        ),
        OwnershipError::NoRoom => (Status::NoMemory, "ownership table full", 0),
        OwnershipError::Stage2 { start } => (Status::NoMemory, "stage-2 change failed", start),
    }
}

impl Proxy {
    /// A snapshot of the memory side (the proxy's state, then `mm`'s: lock order).
    pub fn memory_status(&self, mm: &MemProtect) -> MemStatus {
        self.mem.lock().status(mm)
    }

    /// Counts an emulated SUCCESS with w2, w3.
    fn emulated(&self, regs: &mut SmcRegs, call: &Call<'_>, w2: u64, w3: u64) -> Outcome {
        self.counters.record(call.found, Event::Emulated);
        reply_success(regs, call.conv, w2, w3);
        Outcome::Emulated
    }

    /// The SPMC's reply to a forwarded call did not fit: the host gets ABORTED.
    pub(super) fn bad_reply(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        what: &'static str,
        value: u64,
    ) -> Outcome {
        let x0 = regs[0];
        self.counters.record(call.found, Event::BadReply);
        reply_error_code(regs, call.conv, Status::Aborted.w());
        Outcome::ReplyRefused(Rejection {
            x0,
            name: call.name,
            reason: Reason::Refused {
                status: Status::Aborted,
                what,
                value,
            },
        })
    }

    /// `FFA_RXTX_MAP_32/64`.
    pub(super) fn rxtx_map(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        mm: &MemProtect,
        p: &mut impl Platform,
    ) -> Outcome {
        let (tx, rx, pages) = (call.out[1], call.out[2], call.out[3]);
        let mut guard = self.mem.lock();
        let mem = &mut *guard;
        let Some(hyp) = mem.hyp.as_mut() else {
            return self.refuse(regs, call, Status::NotSupported, "no mailbox", 0);
        };
        if mem.host.is_some() {
            return self.refuse(
                regs,
                call,
                Status::Denied,
                "RX/TX buffers already mapped",
                tx,
            );
        }
        if pages != 1 {
            return self.refuse(
                regs,
                call,
                Status::InvalidParameters,
                "page count must be 1 (4 KiB buffers, as FFA_FEATURES says)",
                pages,
            );
        }
        if !tx.is_multiple_of(PAGE) {
            let what = "TX buffer not 4 KiB-aligned";
            return self.refuse(regs, call, Status::InvalidParameters, what, tx);
        }
        if !rx.is_multiple_of(PAGE) {
            let what = "RX buffer not 4 KiB-aligned";
            return self.refuse(regs, call, Status::InvalidParameters, what, rx);
        }
        if tx == rx {
            let what = "TX and RX are the same page";
            return self.refuse(regs, call, Status::InvalidParameters, what, tx);
        }
        // A buffer in the last page of the address space would wrap: not host RAM either.
        let pair = [tx..tx.saturating_add(PAGE), rx..rx.saturating_add(PAGE)];
        if let Err((i, e)) = mm.pin(&pair[..], MAILBOX_TAG) {
            let (status, what, value) = ownership_refusal(e, if i == 0 { "TX" } else { "RX" });
            return self.refuse(regs, call, status, what, value);
        }
        if !hyp.registered {
            if let Err((status, what)) = register(p, hyp) {
                for r in pair {
                    let _ = mm.unpin(r, MAILBOX_TAG);
                }
                return self.refuse(regs, call, status, what, hyp.tx);
            }
            hyp.registered = true;
        }
        mem.host = Some(HostMailbox {
            tx,
            rx,
            rx_full: false,
        });
        drop(guard);
        self.emulated(regs, call, 0, 0)
    }

    /// `FFA_RXTX_UNMAP`.
    pub(super) fn rxtx_unmap(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        mm: &MemProtect,
    ) -> Outcome {
        let mut guard = self.mem.lock();
        let mem = &mut *guard;
        let Some(host) = mem.host else {
            return self.refuse(
                regs,
                call,
                Status::InvalidParameters,
                "no RX/TX buffers mapped",
                0,
            );
        };
        for r in [host.tx..host.tx + PAGE, host.rx..host.rx + PAGE] {
            // Cannot fail: the pages were claimed with this state and tag at map time, and a
            // release of a whole claimed page never needs room.
            let _ = mm.unpin(r, MAILBOX_TAG);
        }
        mem.host = None;
        drop(guard);
        self.emulated(regs, call, 0, 0)
    }

    /// `FFA_RX_RELEASE`: the host's RX becomes free. Never forwarded.
    pub(super) fn rx_release(&self, regs: &mut SmcRegs, call: &Call<'_>) -> Outcome {
        let mut guard = self.mem.lock();
        let Some(host) = guard.host.as_mut() else {
            return self.refuse(regs, call, Status::Denied, "no RX/TX buffers mapped", 0);
        };
        if !host.rx_full {
            let what = "the host's RX buffer is not full";
            return self.refuse(regs, call, Status::Denied, what, host.rx);
        }
        host.rx_full = false;
        drop(guard);
        self.emulated(regs, call, 0, 0)
    }

    /// `FFA_PARTITION_INFO_GET`.
    pub(super) fn partition_info_get(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        p: &mut impl Platform,
    ) -> Outcome {
        let count_only = call.ver >= Version::V1_1 && call.out[5] & 1 != 0;
        if count_only {
            // Registers only: the SPMC touches no buffer.
            return self.forward(regs, call.found, call.conv, call.out, p);
        }
        let mut guard = self.mem.lock();
        let mem = &mut *guard;
        let (Some(hyp), Some(host)) = (mem.hyp.as_mut(), mem.host.as_mut()) else {
            let what = "no RX/TX buffers mapped (FFA_RXTX_MAP first)";
            return self.refuse(regs, call, Status::Denied, what, 0);
        };
        if host.rx_full {
            let what = "the host's RX buffer is full (FFA_RX_RELEASE first)";
            return self.refuse(regs, call, Status::Busy, what, host.rx);
        }
        if hyp.rx_held {
            release_hyp_rx(p, hyp);
        }
        self.counters.record(call.found, Event::Forwarded);
        let mut reply = p.smc(call.out);
        if error_code(&reply) == Some(Status::Busy.w()) && release_hyp_rx(p, hyp) {
            // The SPMC still had our RX (OP-TEE keeps it after a failed call): now released.
            reply = p.smc(call.out);
        }
        if let Some(code) = error_code(&reply) {
            reply_error_code(regs, call.conv, code);
            return Outcome::Forwarded;
        }
        if !is_success(reply[0]) {
            return self.bad_reply(
                regs,
                call,
                "SPMC answered neither SUCCESS nor ERROR",
                reply[0],
            );
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
        let outcome = match bytes {
            Some(n) if size == expected => {
                let n = n as usize;
                if let Some(buf) = mem.scratch.get_mut(..n) {
                    p.read(hyp.rx, buf);
                    p.write(host.rx, buf);
                }
                host.rx_full = true;
                let w3 = if call.ver == Version::V1_0 { 0 } else { size };
                reply_success(regs, call.conv, count, w3);
                Outcome::Forwarded
            }
            _ if size != expected => {
                let what = "SPMC's partition descriptor size is not the version's";
                self.bad_reply(regs, call, what, size)
            }
            _ => {
                let what = "SPMC's partition descriptors do not fit 4 KiB";
                self.bad_reply(regs, call, what, count)
            }
        };
        release_hyp_rx(p, hyp);
        outcome
    }
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
pub(super) fn release_hyp_rx(p: &mut impl SmcConduit, hyp: &mut HypMailbox) -> bool {
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
