//! Memory protection: the one owner of the host's page states and of the host stage 2.
//!
//! Every page of host RAM has a state ([`PageState`]: the host's, pinned as a mailbox, shared
//! with or lent to the Secure world) and a host stage-2 mapping that must agree with it. Both
//! live in [`MemProtect`], behind one lock, and change only through its operations, each a
//! check-then-act under that lock that completes whole or changes nothing:
//!
//! | Operation | Pages go | Host stage 2 |
//! |---|---|---|
//! | [`MemProtect::pin`] / [`MemProtect::unpin`] | `Owned` <-> `SharedWithHyp` | untouched |
//! | [`MemProtect::pin_for_device`] / [`MemProtect::unpin_for_device`] | `Owned` <-> `PinnedForDevice` | untouched |
//! | [`MemProtect::share`] | `Owned` -> `SharedWithSecure` | untouched |
//! | [`MemProtect::lend`] | `Owned` -> `LentToSecure` | unmapped (break-before-make, TLB invalidated) |
//! | [`MemProtect::reclaim`] | a transaction's pages -> `Owned` (unshare, unlend) | lent pages mapped back |
//! | [`MemProtect::retag`] / [`MemProtect::adopt`] | a transaction's pages get its handle | untouched |
//! | [`MemProtect::host_access`] | (a question: retry or abort a host fault) | |
//!
//! The clients are the FF-A proxy (the mailbox and memory ABIs: it decides *whether* the
//! host may share, lend or map a mailbox, and asks this core to make the change) and abort
//! injection (a host stage-2 fault on a page the host may access only means a change of the
//! block around it was in progress, and one on a page whose LEND the Secure world has not
//! answered yet ([`TAG_UNDECIDED`]) waits for the answer: both are retried). pKVM's `mem_protect.c` has the same shape: its
//! `__pkvm_host_share_ffa()` checks a range's state and sets it under the host lock, called
//! from `ffa.c`, and the host abort handler asks the same core.
//!
//! # Lock order
//! A client that holds a lock of its own takes it *before* the memory lock, never the
//! reverse: the FF-A proxy's state lock (mailboxes, transactions) is held across a whole
//! FF-A call and takes the memory lock inside it for each change. Nothing here calls out to
//! a client while holding the memory lock, and the abort handler takes the memory lock
//! alone, so the order cannot invert.
//!
//! # The host stage 2
//! Reached through [`Stage2Hook`] (unmap and map back a page-aligned range): the firmware
//! gives [`stage2::LiveStage2`], the aarch64-paging tables with the TLB maintenance hook;
//! tests give a simulation. A lent range is unmapped after every check passed and before its
//! pages change state; a reclaimed one is mapped back before its pages become `Owned`, so
//! at no point may the host reach a page that the map says it may not.
//!
//! The live tables take their pages from a fixed pool ([`pool`]). A LEND first counts the
//! most table pages its block splits can take and is refused whole
//! ([`OwnershipError::NoTables`], NO_MEMORY to the host) if the pool cannot cover them; a
//! table whose block maps as one block again is folded back and its page returned
//! ([`stage2::HostStage2::map_ram`]). So a host that lends and reclaims cannot exhaust the
//! pool, and nothing on the path allocates or panics.

pub mod ownership;
pub mod pool;
pub mod stage2;

#[cfg(test)]
mod pool_tests;

use alloc::boxed::Box;
use core::ops::Range;

use spin::Mutex;

use crate::addr::{Ipa, PhysAddr};
pub use ownership::{
    NoStage2, Ownership, OwnershipError, PageState, Ranges, Stage2Error, Stage2Hook,
};

/// The tag of pages whose change is not decided yet: a client moves pages into a state under
/// this tag, asks a third party (the Secure world), and then retags them or gives them back.
/// A host fault on such an unmapped page is retried, not aborted ([`MemProtect::host_access`]).
pub const TAG_UNDECIDED: u64 = u64::MAX;

/// What a host stage-2 fault on a page means; see [`MemProtect::host_access`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostAccess {
    /// The host may access the page: retry the access.
    Allowed,
    /// The page's change is not decided yet: retry the access until it is.
    Undecided,
    /// The host may not access the page: inject an abort.
    Denied,
}

/// The page-ownership map and the host stage 2, behind one lock. See the module docs.
pub struct MemProtect {
    inner: Mutex<Inner>,
}

/// What the memory lock guards.
struct Inner {
    ownership: Ownership,
    stage2: Box<dyn Stage2Hook + Send>,
}

impl MemProtect {
    /// The core for `host_ram` (every page `Owned`, room for `runs` non-`Owned` runs,
    /// allocated now) over the host stage 2 `stage2`.
    pub fn new(host_ram: &[Range<u64>], runs: usize, stage2: Box<dyn Stage2Hook + Send>) -> Self {
        MemProtect {
            inner: Mutex::new(Inner {
                ownership: Ownership::new(host_ram, runs),
                stage2,
            }),
        }
    }

    /// A core with no host RAM: every change is refused (`NotHostRam`).
    pub fn without_ram() -> Self {
        Self::new(&[], 0, Box::new(NoStage2))
    }

    /// Pins the host's pages `ranges` for the hypervisor (`Owned -> SharedWithHyp`, tagged
    /// `tag`): the host's FF-A mailbox, which nothing may share, lend or map again until
    /// [`MemProtect::unpin`]. All or nothing; on failure, the failing range's index and why.
    pub fn pin<R: Ranges + ?Sized>(
        &self,
        ranges: &R,
        tag: u64,
    ) -> Result<(), (usize, OwnershipError)> {
        let mut inner = self.inner.lock();
        inner
            .ownership
            .claim(ranges, PageState::SharedWithHyp, tag, &mut NoStage2)
    }

    /// Undoes [`MemProtect::pin`] for `range` (pages pinned with `tag`).
    pub fn unpin(&self, range: Range<u64>, tag: u64) -> Result<(), OwnershipError> {
        let mut inner = self.inner.lock();
        inner
            .ownership
            .release(range, PageState::SharedWithHyp, tag, &mut NoStage2)
    }

    /// Pins the host's pages `range` as a table a device reads and writes by DMA (`Owned ->
    /// PinnedForDevice`, tagged `tag`): the host keeps access, but nothing may share, lend
    /// or unmap them until [`MemProtect::unpin_for_device`]. Refused whole unless every page
    /// is host RAM the host owns.
    pub fn pin_for_device(&self, range: Range<u64>, tag: u64) -> Result<(), OwnershipError> {
        let mut inner = self.inner.lock();
        inner
            .ownership
            .claim(
                core::slice::from_ref(&range),
                PageState::PinnedForDevice,
                tag,
                &mut NoStage2,
            )
            .map_err(|(_, e)| e)
    }

    /// Replaces the device table `old` (pinned by [`MemProtect::pin_for_device`] under the
    /// tag `old.start`) by `new` (pinned under the tag `new.start`) in one step under the
    /// memory lock, so that a table may grow or move over its own pages and nothing can take
    /// the old pages in between. On failure the old table stays pinned and nothing changed.
    pub fn repin_for_device(&self, old: Range<u64>, new: Range<u64>) -> Result<(), OwnershipError> {
        let mut inner = self.inner.lock();
        let map = &mut inner.ownership;
        map.release(
            old.clone(),
            PageState::PinnedForDevice,
            old.start,
            &mut NoStage2,
        )?;
        let claimed = map.claim(
            core::slice::from_ref(&new),
            PageState::PinnedForDevice,
            new.start,
            &mut NoStage2,
        );
        if let Err((_, e)) = claimed {
            // The pages were pinned a moment ago under this lock: pinning them again
            // restores the map exactly as it was.
            let _ = map.claim(
                core::slice::from_ref(&old),
                PageState::PinnedForDevice,
                old.start,
                &mut NoStage2,
            );
            return Err(e);
        }
        Ok(())
    }

    /// Undoes [`MemProtect::pin_for_device`] for `range` (pages pinned with `tag`).
    pub fn unpin_for_device(&self, range: Range<u64>, tag: u64) -> Result<(), OwnershipError> {
        let mut inner = self.inner.lock();
        inner
            .ownership
            .release(range, PageState::PinnedForDevice, tag, &mut NoStage2)
    }

    /// Shares the host's pages `ranges` with the Secure world (`Owned -> SharedWithSecure`,
    /// tagged `tag`); the host keeps access. All or nothing.
    pub fn share<R: Ranges + ?Sized>(
        &self,
        ranges: &R,
        tag: u64,
    ) -> Result<(), (usize, OwnershipError)> {
        self.transfer(ranges, PageState::SharedWithSecure, tag)
    }

    /// Lends the host's pages `ranges` to the Secure world (`Owned -> LentToSecure`, tagged
    /// `tag`): each range leaves the host stage 2 once its checks pass. All or nothing: a
    /// failure maps back what was unmapped, and a lend whose block splits the stage-2 table
    /// pool cannot cover fails with [`OwnershipError::NoTables`] before anything changes.
    pub fn lend<R: Ranges + ?Sized>(
        &self,
        ranges: &R,
        tag: u64,
    ) -> Result<(), (usize, OwnershipError)> {
        self.transfer(ranges, PageState::LentToSecure, tag)
    }

    /// [`MemProtect::share`] (`to` = `SharedWithSecure`) or [`MemProtect::lend`] (`to` =
    /// `LentToSecure`).
    pub fn transfer<R: Ranges + ?Sized>(
        &self,
        ranges: &R,
        to: PageState,
        tag: u64,
    ) -> Result<(), (usize, OwnershipError)> {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        if to.unmapped_from_host() {
            inner.ownership.claim(ranges, to, tag, &mut *inner.stage2)
        } else {
            inner.ownership.claim(ranges, to, tag, &mut NoStage2)
        }
    }

    /// Gives every page in `state` tagged `tag` back to the host (unshare, or unlend: lent
    /// ranges are mapped back first) and returns how many pages that was. A lent range that
    /// cannot be mapped back stays lent: never reachable by the host, never reclaimable again.
    pub fn reclaim(&self, state: PageState, tag: u64) -> u64 {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        if state.unmapped_from_host() {
            inner.ownership.release_tag(state, tag, &mut *inner.stage2)
        } else {
            inner.ownership.release_tag(state, tag, &mut NoStage2)
        }
    }

    /// Renames the tag of every page in `state` tagged `from` to `to` (a pending transaction
    /// gets the handle the Secure world chose). Never fails.
    pub fn retag(&self, state: PageState, from: u64, to: u64) {
        self.inner.lock().ownership.retag(state, from, to);
    }

    /// Renames the tag of every page in `state` tagged `from` to `to`, unless `to` already
    /// names a Secure transaction (some page `SharedWithSecure` or `LentToSecure` carries it):
    /// a pending transaction adopts the handle the Secure world chose, checked and changed
    /// under one lock. Whether it did.
    pub fn adopt(&self, state: PageState, from: u64, to: u64) -> bool {
        let mut inner = self.inner.lock();
        let live = inner.ownership.secure_state_of(to).is_some();
        if !live {
            inner.ownership.retag(state, from, to);
        }
        !live
    }

    /// The state of the Secure transaction tagged `tag` (`SharedWithSecure` or
    /// `LentToSecure`), if any page carries it.
    pub fn transfer_state(&self, tag: u64) -> Option<PageState> {
        self.inner.lock().ownership.secure_state_of(tag)
    }

    /// What a host stage-2 fault on the page holding `ipa` means ([`HostAccess`]).
    ///
    /// - [`HostAccess::Allowed`]: host RAM in a state the host keeps access in. The fault
    ///   happened while a LEND or a RECLAIM was rebuilding the block around it
    ///   (break-before-make); the change holds the memory lock throughout, so once this
    ///   answers the mapping is back and the access can simply be retried.
    /// - [`HostAccess::Undecided`]: the page is unmapped for a change tagged
    ///   [`TAG_UNDECIDED`] (a LEND the Secure world has not answered yet). It becomes either
    ///   the host's again (the LEND refused) or lent: retry until it is one or the other, as a
    ///   host CPU would have waited for the lending CPU's call to finish.
    /// - [`HostAccess::Denied`]: not host RAM, or lent (or otherwise taken) for good: inject
    ///   an abort.
    pub fn host_access(&self, ipa: Ipa) -> HostAccess {
        // The host's stage 2 is an identity map: its IPA is the page's physical address.
        let addr = ipa.identity().bits();
        let inner = self.inner.lock();
        match inner.ownership.state(addr) {
            None => HostAccess::Denied,
            Some(state) if !state.unmapped_from_host() => HostAccess::Allowed,
            Some(_) if inner.ownership.tag(addr) == Some(TAG_UNDECIDED) => HostAccess::Undecided,
            Some(_) => HostAccess::Denied,
        }
    }

    /// Whether the host stage 2 should map the page holding `ipa` now
    /// ([`MemProtect::host_access`] answers [`HostAccess::Allowed`]).
    pub fn host_may_access(&self, ipa: Ipa) -> bool {
        self.host_access(ipa) == HostAccess::Allowed
    }

    /// The state of the page holding `addr`, or `None` if it is not host RAM.
    pub fn state(&self, addr: PhysAddr) -> Option<PageState> {
        self.inner.lock().ownership.state(addr.bits())
    }

    /// Pages in `state` (any tag).
    pub fn pages_in(&self, state: PageState) -> u64 {
        self.inner.lock().ownership.pages_in(state)
    }

    /// Ownership runs in use and the fixed capacity.
    pub fn usage(&self) -> (usize, usize) {
        self.inner.lock().ownership.usage()
    }

    /// Stage-2 table pages the host stage 2 can still take (`usize::MAX` for a stage 2
    /// without tables).
    pub fn stage2_tables_free(&self) -> usize {
        self.inner.lock().stage2.tables_free()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::SimStage2;

    const RAM: [Range<u64>; 2] = [0x4000_0000..0x6000_0000, 0x6020_0000..0x8000_0000];
    const P: u64 = crate::addr::PAGE;

    #[test]
    fn lend_unmaps_and_reclaim_maps_back_under_one_lock() {
        let s2 = SimStage2::default();
        let mm = crate::testkit::memory(&RAM, &s2);
        let lent = [0x5000_0000..0x5000_0000 + 2 * P];
        mm.lend(&lent[..], 7).unwrap();
        assert!(s2.is_unmapped(0x5000_0000) && s2.is_unmapped(0x5000_1000));
        assert!(!mm.host_may_access(Ipa(0x5000_1000)));
        assert!(
            mm.host_may_access(Ipa(0x5000_2000)),
            "the neighbour stays the host's"
        );
        assert!(
            !mm.host_may_access(Ipa(0x6000_0000)),
            "the carve-out is not host RAM"
        );
        assert_eq!(mm.transfer_state(7), Some(PageState::LentToSecure));
        assert_eq!(mm.pages_in(PageState::LentToSecure), 2);
        assert_eq!(mm.reclaim(PageState::LentToSecure, 7), 2);
        assert!(s2.view().unmapped.is_empty());
        assert!(mm.host_may_access(Ipa(0x5000_1000)));
        assert_eq!(mm.usage().0, 0);
    }

    #[test]
    fn a_fault_on_a_lend_in_flight_is_retried_until_the_lend_is_decided() {
        let s2 = SimStage2::default();
        let mm = crate::testkit::memory(&RAM, &s2);
        let page = 0x5000_0000;
        let lent = [page..page + P];
        // Refused by the Secure world: undecided while it is asked, then the host's again.
        mm.lend(&lent[..], TAG_UNDECIDED).unwrap();
        assert!(s2.is_unmapped(page));
        assert_eq!(mm.host_access(Ipa(page)), HostAccess::Undecided);
        assert!(!mm.host_may_access(Ipa(page)));
        assert_eq!(mm.reclaim(PageState::LentToSecure, TAG_UNDECIDED), 1);
        assert_eq!(mm.host_access(Ipa(page)), HostAccess::Allowed);
        // Accepted: undecided, then lent for good under the Secure world's handle.
        mm.lend(&lent[..], TAG_UNDECIDED).unwrap();
        assert_eq!(mm.host_access(Ipa(page)), HostAccess::Undecided);
        mm.retag(PageState::LentToSecure, TAG_UNDECIDED, 9);
        assert_eq!(mm.host_access(Ipa(page)), HostAccess::Denied);
        // A share in flight never unmaps anything: the host keeps access throughout.
        let shared = [page + P..page + 2 * P];
        mm.share(&shared[..], TAG_UNDECIDED).unwrap();
        assert_eq!(mm.host_access(Ipa(page + P)), HostAccess::Allowed);
        // Not host RAM at all.
        assert_eq!(mm.host_access(Ipa(0x6000_0000)), HostAccess::Denied);
    }

    #[test]
    fn share_and_pin_leave_the_stage2_alone_and_exclude_each_other() {
        let s2 = SimStage2::default();
        let mm = crate::testkit::memory(&RAM, &s2);
        let page = [0x4800_0000..0x4800_0000 + P];
        mm.pin(&page[..], 0).unwrap();
        assert!(mm.host_may_access(Ipa(0x4800_0000)));
        assert!(matches!(
            mm.share(&page[..], 1),
            Err((0, OwnershipError::WrongState { .. }))
        ));
        assert!(matches!(
            mm.lend(&page[..], 1),
            Err((0, OwnershipError::WrongState { .. }))
        ));
        assert!(
            s2.view().unmapped.is_empty(),
            "a refused lend unmaps nothing"
        );
        mm.unpin(page[0].clone(), 0).unwrap();
        mm.share(&page[..], 1).unwrap();
        assert!(s2.view().unmapped.is_empty());
        assert_eq!(mm.transfer_state(1), Some(PageState::SharedWithSecure));
        mm.retag(PageState::SharedWithSecure, 1, 2);
        assert_eq!(mm.transfer_state(1), None);
        // A second transaction cannot adopt a handle that is live.
        let other = [0x4800_1000..0x4800_1000 + P];
        mm.share(&other[..], 5).unwrap();
        assert!(!mm.adopt(PageState::SharedWithSecure, 5, 2));
        assert_eq!(mm.transfer_state(5), Some(PageState::SharedWithSecure));
        assert!(mm.adopt(PageState::SharedWithSecure, 5, 6));
        assert_eq!(mm.transfer_state(5), None);
        assert_eq!(mm.reclaim(PageState::SharedWithSecure, 6), 1);
        assert_eq!(mm.reclaim(PageState::SharedWithSecure, 2), 1);
    }

    /// A device table's pages stay the host's (mapped, host access allowed) but cannot be
    /// shared, lent, pinned as a mailbox or pinned again until unpinned; only host-owned RAM
    /// can be pinned, and unpinning needs the same range and tag.
    #[test]
    fn device_tables_are_pinned_mapped_and_exclusive() {
        let s2 = SimStage2::default();
        let mm = crate::testkit::memory(&RAM, &s2);
        let table = 0x4810_0000..0x4810_0000 + 14 * P;
        mm.pin_for_device(table.clone(), 0x4810_0000).unwrap();
        assert_eq!(mm.pages_in(PageState::PinnedForDevice), 14);
        assert_eq!(
            mm.state(PhysAddr(0x4810_d000)),
            Some(PageState::PinnedForDevice)
        );
        assert_eq!(mm.host_access(Ipa(0x4810_0000)), HostAccess::Allowed);
        let one = [0x4810_d000..0x4810_e000];
        for refused in [
            mm.share(&one[..], 1),
            mm.lend(&one[..], 1),
            mm.pin(&one[..], 1),
        ] {
            assert!(matches!(
                refused,
                Err((
                    0,
                    OwnershipError::WrongState {
                        page: 0x4810_d000,
                        found: PageState::PinnedForDevice
                    }
                ))
            ));
        }
        assert!(s2.view().unmapped.is_empty(), "never unmapped");
        assert!(matches!(
            mm.pin_for_device(0x4810_c000..0x4811_0000, 2),
            Err(OwnershipError::WrongState { .. })
        ));
        // Neither the carve-out nor a lent page can become a device table.
        assert!(matches!(
            mm.pin_for_device(0x6000_0000..0x6000_1000, 3),
            Err(OwnershipError::NotHostRam { .. })
        ));
        let lent = [0x5000_0000..0x5000_1000];
        mm.lend(&lent[..], 4).unwrap();
        assert!(matches!(
            mm.pin_for_device(0x5000_0000..0x5000_1000, 5),
            Err(OwnershipError::WrongState {
                found: PageState::LentToSecure,
                ..
            })
        ));
        // Unpinning needs the tag it was pinned with.
        assert!(mm.unpin_for_device(table.clone(), 9).is_err());
        // A table grows over its own pages in one step; a move onto a lent page fails and
        // leaves the old table pinned.
        let grown = 0x4810_0000..0x4810_0000 + 16 * P;
        mm.repin_for_device(table.clone(), grown.clone()).unwrap();
        assert_eq!(mm.pages_in(PageState::PinnedForDevice), 16);
        assert!(matches!(
            mm.repin_for_device(grown.clone(), 0x5000_0000..0x5000_1000),
            Err(OwnershipError::WrongState { .. })
        ));
        assert_eq!(mm.pages_in(PageState::PinnedForDevice), 16);
        assert_eq!(
            mm.usage().0,
            2,
            "the device table and the lent page, as before"
        );
        mm.unpin_for_device(grown, 0x4810_0000).unwrap();
        assert_eq!(mm.pages_in(PageState::PinnedForDevice), 0);
        mm.share(&one[..], 1).unwrap();
    }

    #[test]
    fn a_failed_stage2_change_rolls_the_whole_lend_back() {
        let s2 = SimStage2::default();
        s2.view().fails_at = Some(0x5100_0000);
        let mm = crate::testkit::memory(&RAM, &s2);
        let ranges = [0x5000_0000..0x5000_0000 + P, 0x5100_0000..0x5100_0000 + P];
        assert!(matches!(
            mm.lend(&ranges[..], 3),
            Err((1, OwnershipError::Stage2 { .. }))
        ));
        assert!(
            s2.view().unmapped.is_empty(),
            "the first range was mapped back"
        );
        assert_eq!(mm.usage().0, 0);
    }

    #[test]
    fn a_core_without_ram_refuses_everything() {
        let mm = MemProtect::without_ram();
        let page = [0x4800_0000..0x4800_0000 + P];
        assert!(matches!(
            mm.pin(&page[..], 0),
            Err((0, OwnershipError::NotHostRam { .. }))
        ));
        assert!(!mm.host_may_access(Ipa(0x4800_0000)));
    }
}
