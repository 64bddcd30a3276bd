//! The proxy's memory-side state: the two mailboxes, the hypervisor-private copy buffer, the
//! count of live transactions and the fragmented transaction in progress. It lives behind
//! the proxy's state lock (`dispatch.rs`), which the handlers get as `&mut MemState`.
//!
//! Page ownership is not here: it belongs to [`MemProtect`], which the handlers are given
//! beside this state (in the lock order [`crate::mm`] states).

use alloc::vec::Vec;

use super::descriptor::Declared;
use crate::addr::{PAGE, PhysAddr};
use crate::budget::MAILBOX_SIZE;
use crate::mm::{MemProtect, PageState};

/// Tag of the host's mailbox pages in the ownership map.
pub const MAILBOX_TAG: u64 = 0;
/// Tag of pages whose SHARE or LEND is in flight (never a handle the proxy accepts): the
/// memory core's undecided tag, so that a host fault on a page being lent waits for the
/// SPMC's answer instead of aborting.
pub const PENDING: u64 = crate::mm::TAG_UNDECIDED;
/// Tag of pages the SPMC may hold without a usable handle (never reclaimable by the host).
pub const LOST: u64 = u64::MAX - 1;

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
pub struct HypMailbox {
    /// TX page.
    pub tx: u64,
    /// RX page.
    pub rx: u64,
    /// Registered with the SPMC (FFA_RXTX_MAP_64).
    pub registered: bool,
    /// The SPMC has filled our RX and we have not released it.
    pub rx_held: bool,
}

/// The host's pair.
#[derive(Clone, Copy, Debug)]
pub struct HostMailbox {
    /// TX page.
    pub tx: u64,
    /// RX page.
    pub rx: u64,
    /// The host owns its RX (data in it, not yet released).
    pub rx_full: bool,
}

/// The host's fragmented SHARE or LEND in progress: what the SPMC has so far.
#[derive(Clone, Copy, Debug)]
pub struct Fragmented {
    /// The SPMC's handle (from its FFA_MEM_FRAG_RX); the pages claimed so far carry it.
    pub handle: u64,
    /// `SharedWithSecure` or `LentToSecure`.
    pub state: PageState,
    /// The transaction's total length.
    pub total: usize,
    /// The bytes forwarded so far.
    pub received: usize,
    /// What the composite declared.
    pub declared: Declared,
    /// The pages of the constituents forwarded so far.
    pub pages: u64,
}

/// Everything behind the proxy's state lock.
pub struct MemState {
    /// The hypervisor's pair, if configured.
    pub hyp: Option<HypMailbox>,
    /// The host's pair, if mapped.
    pub host: Option<HostMailbox>,
    /// Hypervisor-private copy of a descriptor or of partition information (one page,
    /// allocated once at boot).
    pub scratch: Vec<u8>,
    /// Live SHARE and LEND transactions.
    pub transactions: usize,
    /// The one fragmented SHARE or LEND in progress.
    pub fragmented: Option<Fragmented>,
    /// Transactions whose pages are withheld from the host for good ([`MemState::withhold`]).
    pub lost_transactions: usize,
    /// Their pages.
    pub lost_pages: u64,
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
    /// Transactions whose pages are withheld from the host for good (D-LOST-PAGES); they
    /// count against [`crate::budget::MAX_TRANSACTIONS`] like live ones.
    pub lost_transactions: usize,
    /// Their pages (also counted in `shared_pages` or `lent_pages`).
    pub lost_pages: u64,
}

impl MemState {
    /// No mailbox: the memory ABIs are NOT_SUPPORTED.
    pub const fn new() -> Self {
        MemState {
            hyp: None,
            host: None,
            scratch: Vec::new(),
            transactions: 0,
            fragmented: None,
            lost_transactions: 0,
            lost_pages: 0,
        }
    }

    /// The configured state, or `None` if the configuration is unusable (the hypervisor's
    /// pages must be page-aligned, distinct, and not host RAM in `mm`).
    pub fn configured(config: MemConfig, mm: &MemProtect) -> Option<Self> {
        let page_ok = |pa: u64| {
            pa.is_multiple_of(PAGE)
                && mm.state(PhysAddr(pa)).is_none()
                && mm.state(PhysAddr(pa.saturating_add(PAGE - 1))).is_none()
        };
        if !page_ok(config.hyp_tx) || !page_ok(config.hyp_rx) || config.hyp_tx == config.hyp_rx {
            return None;
        }
        Some(MemState {
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
            lost_transactions: 0,
            lost_pages: 0,
        })
    }

    /// The hypervisor's (TX, RX), if configured.
    pub fn hyp_pages(&self) -> Option<(u64, u64)> {
        self.hyp.map(|h| (h.tx, h.rx))
    }

    /// A snapshot, with `mm`'s page counts (this state's lock is held: lock order).
    pub fn status(&self, mm: &MemProtect) -> MemStatus {
        MemStatus {
            host_mailbox: self.host.map(|h| (h.tx, h.rx, h.rx_full)),
            hyp_registered: self.hyp.is_some_and(|h| h.registered),
            transactions: self.transactions,
            shared_pages: mm.pages_in(PageState::SharedWithSecure),
            lent_pages: mm.pages_in(PageState::LentToSecure),
            runs: mm.usage(),
            lost_transactions: self.lost_transactions,
            lost_pages: self.lost_pages,
        }
    }

    /// Transactions that hold a slot of [`crate::budget::MAX_TRANSACTIONS`]: the live ones
    /// and the lost ones, so that what an SPMC's unexpected replies can take from the host
    /// is bounded.
    pub fn slots_used(&self) -> usize {
        self.transactions + self.lost_transactions
    }

    /// Withholds the `pages` pages in `state` tagged `tag` from the host for good, after a
    /// reply that leaves unknown whether the SPMC holds them (D-LOST-PAGES): they take the
    /// "lost" tag, which no handle names, and are counted.
    #[inline(never)]
    pub fn withhold(&mut self, mm: &MemProtect, state: PageState, tag: u64, pages: u64) {
        mm.retag(state, tag, LOST);
        self.lost_transactions += 1;
        self.lost_pages += pages;
    }
}

impl Default for MemState {
    fn default() -> Self {
        Self::new()
    }
}
