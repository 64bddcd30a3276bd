//! Page ownership of host RAM: who may use each 4 KiB page, beside the host's stage-2 tables
//! (the map itself; [`super::MemProtect`] is the one lock and the operations around it).
//!
//! | State | Host access | Reached by |
//! |---|---|---|
//! | [`PageState::Owned`] | RWX | boot; every page of host RAM starts here |
//! | [`PageState::SharedWithHyp`] | RW, pinned | `FFA_RXTX_MAP` (the host's mailbox) |
//! | [`PageState::SharedWithSecure`] | RW, pinned | `FFA_MEM_SHARE`, until `FFA_MEM_RECLAIM` succeeds |
//! | [`PageState::LentToSecure`] | none (unmapped) | `FFA_MEM_LEND`, until `FFA_MEM_RECLAIM` succeeds |
//! | [`PageState::PinnedForDevice`] | RWX, pinned | a device table the hypervisor accepted (a redistributor's LPI tables, an ITS's command queue and ITTs), until the host replaces it |
//! | [`PageState::Hyp`] | none | taken by the hypervisor: a GICv3 ITS's device or collection table, until the host clears or moves it |
//!
//! Rules, checked on every transition before anything changes:
//! - only `Owned` pages can become anything else ([`Ownership::claim`]), and only pages in the
//!   named state and transaction go back to `Owned` ([`Ownership::release`],
//!   [`Ownership::release_tag`]); so a page in a live transaction or a mailbox can join
//!   nothing else;
//! - every page must be host RAM that the hypervisor's EL2 map covers (not the carve-out,
//!   Secure memory, firmware memory or MMIO), page-aligned, and the range must not wrap;
//! - a multi-range claim completes whole or rolls back whole: ranges are applied one by one
//!   and the first failure undoes the earlier ones in reverse order. Overlapping ranges in
//!   one request therefore fail (the second finds its pages no longer `Owned`).
//!
//! # Representation
//! `Owned` is implicit. The pages in any other state are a sorted vector of runs
//! `[start, end)` with a state and a tag (the FF-A memory handle for Secure transactions, 0
//! for the mailbox), canonical: adjacent runs with the same state and tag are merged. Host
//! RAM on QEMU is 262 144 pages; the map holds a few runs per live transaction, so a byte
//! (or even a bit) per page would be wasteful in a 1.5 MiB heap.
//!
//! The vector's capacity is reserved once ([`Ownership::new`]) and never grows: a
//! transition that would need more runs fails with [`OwnershipError::NoRoom`] before
//! changing anything, so no transition allocates, and a rollback never needs more room than
//! the state it restores (canonical form: every intermediate state of the rollback existed
//! during the forward pass).
//!
//! Lookups are a binary search; an insert or removal moves the tail of the vector (a few
//! hundred runs at most, so a `memmove` of a few KiB at worst).
//!
//! # Stage 2
//! `SharedWithHyp` and `SharedWithSecure` leave the host's stage-2 mapping alone (the host
//! keeps access). `LentToSecure` (FFA_MEM_LEND) must take the pages out of the host's stage
//! 2: the claim and release of such pages call a [`Stage2Hook`] per range (unmap after the
//! checks, map back before the pages become `Owned`). [`super::MemProtect`] owns this map
//! and the hook behind one lock; the firmware's hook is [`super::stage2::LiveStage2`]
//! (break-before-make, `tlbi ipas2e1is` + `tlbi vmalls12e1is`). A claim into such a state
//! first asks the hook for the worst case of stage-2 table pages its unmaps may take
//! ([`Stage2Hook::tables_needed`]) and fails whole with [`OwnershipError::NoTables`] before
//! changing anything if the hook's pool cannot cover it.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

pub use crate::addr::PAGE;

/// Who may use a page of host RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageState {
    /// The host's, exclusively.
    Owned,
    /// The host's mailbox page (FFA_RXTX_MAP): the host keeps access, the hypervisor copies
    /// from and to it, and it cannot be shared, lent or mapped again until unmapped.
    SharedWithHyp,
    /// Shared with the Secure world (FFA_MEM_SHARE): the host keeps access.
    SharedWithSecure,
    /// Lent to the Secure world (FFA_MEM_LEND): unmapped from the host's stage 2.
    LentToSecure,
    /// A table a device the host programs reads and writes by DMA (a redistributor's LPI
    /// property or pending table), accepted by the hypervisor: the host keeps access, and
    /// the pages cannot be shared, lent or unmapped while the device may write them.
    PinnedForDevice,
    /// The hypervisor's: unmapped from the host.
    Hyp,
}

impl PageState {
    /// The state's name, as `Debug` would print it (without the derive's code in the image).
    pub const fn name(self) -> &'static str {
        match self {
            PageState::Owned => "Owned",
            PageState::SharedWithHyp => "SharedWithHyp",
            PageState::SharedWithSecure => "SharedWithSecure",
            PageState::LentToSecure => "LentToSecure",
            PageState::PinnedForDevice => "PinnedForDevice",
            PageState::Hyp => "Hyp",
        }
    }

    /// Whether the host's stage-2 mapping must be removed in this state.
    pub const fn unmapped_from_host(self) -> bool {
        matches!(self, PageState::LentToSecure | PageState::Hyp)
    }
}

/// Why a transition was refused. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnershipError {
    /// Empty, not page-aligned, or wrapping around the address space.
    BadRange {
        /// Start of the range as given.
        start: u64,
        /// End of the range as given.
        end: u64,
    },
    /// Not (entirely) host RAM that the hypervisor maps: carve-out, Secure or firmware
    /// memory, MMIO, or beyond the EL2 map.
    NotHostRam {
        /// Start of the range.
        start: u64,
        /// End of the range.
        end: u64,
    },
    /// A page is not in the state (or transaction) the transition starts from.
    WrongState {
        /// The first such page.
        page: u64,
        /// Its state.
        found: PageState,
    },
    /// The run table is full (its capacity is fixed at construction).
    NoRoom,
    /// The stage-2 table pool cannot cover the table pages the change may need at worst.
    NoTables {
        /// Table pages the change may need.
        needed: usize,
        /// Table pages free.
        free: usize,
    },
    /// The stage-2 hook refused the range.
    Stage2 {
        /// Start of the range.
        start: u64,
    },
}

impl fmt::Display for OwnershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            OwnershipError::BadRange { start, end } => {
                write!(f, "{start:#x}-{end:#x} is empty, unaligned or wraps")
            }
            OwnershipError::NotHostRam { start, end } => {
                write!(f, "{start:#x}-{end:#x} is not host RAM")
            }
            OwnershipError::WrongState { page, found } => {
                write!(f, "page {page:#x} is {}", found.name())
            }
            OwnershipError::NoRoom => f.write_str("ownership table full"),
            OwnershipError::NoTables { needed, free } => {
                write!(f, "needs up to {needed} stage-2 table pages, {free} free")
            }
            OwnershipError::Stage2 { start } => write!(f, "stage-2 change at {start:#x} failed"),
        }
    }
}

/// A stage-2 change that could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage2Error;

/// The stage-2 side of a transition into or out of a state the host may not access.
pub trait Stage2Hook {
    /// Removes `range` from the host's stage 2 (claim into an unmapped state).
    fn unmap(&mut self, range: Range<u64>) -> Result<(), Stage2Error>;
    /// Maps `range` back into the host's stage 2 (release from an unmapped state).
    fn map(&mut self, range: Range<u64>) -> Result<(), Stage2Error>;
    /// The most table pages that unmapping the `count` ranges `range(0)`, `range(1)`, ...
    /// one after the other can take (empty ranges count nothing). None by default: a hook
    /// without tables.
    fn tables_needed(&self, count: usize, range: &dyn Fn(usize) -> Range<u64>) -> usize {
        let _ = (count, range);
        0
    }
    /// Table pages the hook can still take.
    fn tables_free(&self) -> usize {
        usize::MAX
    }
}

/// For transitions that never touch stage 2 (mailbox, SHARE): any call is a bug, refused.
pub struct NoStage2;

impl Stage2Hook for NoStage2 {
    fn unmap(&mut self, _: Range<u64>) -> Result<(), Stage2Error> {
        Err(Stage2Error)
    }
    fn map(&mut self, _: Range<u64>) -> Result<(), Stage2Error> {
        Err(Stage2Error)
    }
}

/// An indexed list of ranges, iterated more than once (forward, then backward on rollback)
/// without being collected: a slice, or a view over a descriptor's constituents.
pub trait Ranges {
    /// Number of ranges.
    fn count(&self) -> usize;
    /// Range `i` (`i < count()`).
    fn range(&self, i: usize) -> Range<u64>;
}

impl Ranges for [Range<u64>] {
    fn count(&self) -> usize {
        self.len()
    }
    fn range(&self, i: usize) -> Range<u64> {
        self.get(i).cloned().unwrap_or(0..0)
    }
}

/// One run of non-`Owned` pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    start: u64,
    end: u64,
    state: PageState,
    tag: u64,
}

impl Run {
    fn joins(&self, state: PageState, tag: u64) -> bool {
        self.state == state && self.tag == tag
    }
}

/// The ownership map of host RAM. See the module documentation.
pub struct Ownership {
    /// Host RAM the hypervisor maps, sorted, page-aligned, non-overlapping.
    ram: Vec<Range<u64>>,
    /// Non-`Owned` runs, sorted, non-overlapping, canonical.
    runs: Vec<Run>,
    /// Fixed capacity of `runs`.
    cap: usize,
}

impl Ownership {
    /// A map with no host RAM: every claim fails with `NotHostRam`.
    pub const fn empty() -> Self {
        Ownership {
            ram: Vec::new(),
            runs: Vec::new(),
            cap: 0,
        }
    }

    /// A map of `ram` (all `Owned`) with room for `capacity` runs, allocated now.
    pub fn new(ram: &[Range<u64>], capacity: usize) -> Self {
        let mut ram: Vec<Range<u64>> = ram
            .iter()
            .map(|r| r.start.saturating_add(PAGE - 1) & !(PAGE - 1)..r.end & !(PAGE - 1))
            .filter(|r| r.start < r.end)
            .collect();
        crate::ranges::sort_by_start(&mut ram);
        Ownership {
            ram,
            runs: Vec::with_capacity(capacity),
            cap: capacity,
        }
    }

    /// The host RAM the map covers.
    pub fn ram(&self) -> &[Range<u64>] {
        &self.ram
    }

    /// Runs in use and the fixed capacity.
    pub fn usage(&self) -> (usize, usize) {
        (self.runs.len(), self.cap)
    }

    /// The state of the page holding `addr`, or `None` if it is not host RAM.
    pub fn state(&self, addr: u64) -> Option<PageState> {
        if !self.ram.iter().any(|r| r.contains(&addr)) {
            return None;
        }
        let i = self.runs.partition_point(|r| r.end <= addr);
        Some(match self.runs.get(i) {
            Some(run) if run.start <= addr => run.state,
            _ => PageState::Owned,
        })
    }

    /// The tag of the page holding `addr` if it is not `Owned`.
    pub fn tag(&self, addr: u64) -> Option<u64> {
        let i = self.runs.partition_point(|r| r.end <= addr);
        self.runs
            .get(i)
            .filter(|run| run.start <= addr)
            .map(|run| run.tag)
    }

    /// Whether any page is in `state` with `tag`.
    pub fn has_tag(&self, state: PageState, tag: u64) -> bool {
        self.runs.iter().any(|r| r.joins(state, tag))
    }

    /// Pages in `state` (any tag).
    pub fn pages_in(&self, state: PageState) -> u64 {
        self.runs
            .iter()
            .filter(|r| r.state == state)
            .map(|r| (r.end - r.start) / PAGE)
            .sum()
    }

    /// Every non-`Owned` run: range, state, tag.
    pub fn runs(&self) -> impl Iterator<Item = (Range<u64>, PageState, u64)> + '_ {
        self.runs.iter().map(|r| (r.start..r.end, r.state, r.tag))
    }

    /// Checks that `range` is a well-formed range of host RAM.
    fn check_range(&self, range: &Range<u64>) -> Result<(), OwnershipError> {
        let (start, end) = (range.start, range.end);
        if start >= end || !start.is_multiple_of(PAGE) || !end.is_multiple_of(PAGE) {
            return Err(OwnershipError::BadRange { start, end });
        }
        if !self.ram.iter().any(|r| r.start <= start && end <= r.end) {
            return Err(OwnershipError::NotHostRam { start, end });
        }
        Ok(())
    }

    /// Moves every page of every range from `Owned` to `to` (tagged `tag`), all or nothing.
    /// `hook` is called for each range when `to` is unmapped from the host. On failure,
    /// returns the index of the failing range and why; nothing changed.
    pub fn claim<R: Ranges + ?Sized>(
        &mut self,
        ranges: &R,
        to: PageState,
        tag: u64,
        hook: &mut dyn Stage2Hook,
    ) -> Result<(), (usize, OwnershipError)> {
        if to == PageState::Owned {
            return Err((
                0,
                OwnershipError::WrongState {
                    page: ranges.range(0).start,
                    found: PageState::Owned,
                },
            ));
        }
        if to.unmapped_from_host() {
            // Before anything changes: the stage-2 tables the unmaps may need at worst, over
            // the ranges that pass the checks (the others fail below, before their unmap).
            let valid = |i: usize| {
                let r = ranges.range(i);
                if self.check_range(&r).is_ok() {
                    r
                } else {
                    0..0
                }
            };
            let needed = hook.tables_needed(ranges.count(), &valid);
            let free = hook.tables_free();
            if needed > free {
                return Err((0, OwnershipError::NoTables { needed, free }));
            }
        }
        for i in 0..ranges.count() {
            if let Err(e) = self.claim_one(ranges.range(i), to, tag, hook) {
                for j in (0..i).rev() {
                    // Restores an earlier state, which fit: cannot fail (see module docs).
                    let _ = self.release_one(ranges.range(j), to, tag, hook);
                }
                return Err((i, e));
            }
        }
        Ok(())
    }

    /// Moves every page of `range` from `from` (tagged `tag`) back to `Owned`.
    pub fn release(
        &mut self,
        range: Range<u64>,
        from: PageState,
        tag: u64,
        hook: &mut dyn Stage2Hook,
    ) -> Result<(), OwnershipError> {
        self.release_one(range, from, tag, hook)
    }

    /// Moves every page in `from` with `tag` back to `Owned` (e.g. all pages of one memory
    /// handle) and returns how many pages that was. For an unmapped state, a range whose
    /// stage-2 mapping cannot be restored stays in `from`.
    pub fn release_tag(&mut self, from: PageState, tag: u64, hook: &mut dyn Stage2Hook) -> u64 {
        let mut pages = 0;
        let mut i = 0;
        while i < self.runs.len() {
            let run = self.runs[i];
            if !run.joins(from, tag) {
                i += 1;
                continue;
            }
            if from.unmapped_from_host() && hook.map(run.start..run.end).is_err() {
                i += 1;
                continue;
            }
            pages += (run.end - run.start) / PAGE;
            self.runs.remove(i);
        }
        pages
    }

    /// Changes the tag of every run in `state` tagged `from` to `to` (e.g. a pending
    /// transaction gets the handle the SPMC chose). Never needs room.
    pub fn retag(&mut self, state: PageState, from: u64, to: u64) {
        // One pass: retag, and re-canonicalise as it goes (a retagged run may now join its
        // left neighbour); a run is copied only when a merge before it moved it down. It
        // starts at the first run with the tag: the map is canonical, so nothing before it
        // merges or moves (a plain search there costs a third of the pass).
        let Some(first) = self.runs.iter().position(|run| run.joins(state, from)) else {
            return;
        };
        let mut w = first;
        for r in first..self.runs.len() {
            let mut run = self.runs[r];
            if run.joins(state, from) {
                run.tag = to;
            }
            if w > 0 {
                let prev = &mut self.runs[w - 1];
                if prev.end == run.start && prev.joins(run.state, run.tag) {
                    prev.end = run.end;
                    continue;
                }
            }
            if w == r {
                self.runs[w].tag = run.tag;
            } else {
                self.runs[w] = run;
            }
            w += 1;
        }
        self.runs.truncate(w);
    }

    /// The Secure state (`SharedWithSecure` or `LentToSecure`) of the pages tagged `tag`, if
    /// any page carries it in either: one pass over the runs.
    pub fn secure_state_of(&self, tag: u64) -> Option<PageState> {
        self.runs
            .iter()
            .find(|r| {
                r.tag == tag
                    && matches!(
                        r.state,
                        PageState::SharedWithSecure | PageState::LentToSecure
                    )
            })
            .map(|r| r.state)
    }

    fn claim_one(
        &mut self,
        range: Range<u64>,
        to: PageState,
        tag: u64,
        hook: &mut dyn Stage2Hook,
    ) -> Result<(), OwnershipError> {
        self.check_range(&range)?;
        let (start, end) = (range.start, range.end);
        // First run that ends after `start`: the only one that can overlap from the left.
        let i = self.runs.partition_point(|r| r.end <= start);
        if let Some(run) = self.runs.get(i).filter(|r| r.start < end) {
            return Err(OwnershipError::WrongState {
                page: run.start.max(start),
                found: run.state,
            });
        }
        let left = i
            .checked_sub(1)
            .and_then(|l| self.runs.get(l))
            .is_some_and(|r| r.end == start && r.joins(to, tag));
        let right = self
            .runs
            .get(i)
            .is_some_and(|r| r.start == end && r.joins(to, tag));
        if !left && !right && self.runs.len() >= self.cap {
            return Err(OwnershipError::NoRoom);
        }
        if to.unmapped_from_host() && hook.unmap(range).is_err() {
            return Err(OwnershipError::Stage2 { start });
        }
        match (left, right) {
            (true, true) => {
                let right_end = self.runs[i].end;
                self.runs[i - 1].end = right_end;
                self.runs.remove(i);
            }
            (true, false) => self.runs[i - 1].end = end,
            (false, true) => self.runs[i].start = start,
            (false, false) => self.runs.insert(
                i,
                Run {
                    start,
                    end,
                    state: to,
                    tag,
                },
            ),
        }
        Ok(())
    }

    fn release_one(
        &mut self,
        range: Range<u64>,
        from: PageState,
        tag: u64,
        hook: &mut dyn Stage2Hook,
    ) -> Result<(), OwnershipError> {
        self.check_range(&range)?;
        let (start, end) = (range.start, range.end);
        let i = self.runs.partition_point(|r| r.end <= start);
        let Some(run) = self.runs.get(i).copied().filter(|r| r.start <= start) else {
            // The first page is Owned (no run covers it).
            return Err(OwnershipError::WrongState {
                page: start,
                found: PageState::Owned,
            });
        };
        if !run.joins(from, tag) {
            return Err(OwnershipError::WrongState {
                page: start,
                found: run.state,
            });
        }
        if run.end < end {
            // Canonical runs: the pages after `run.end` are in another state or tag.
            let found = self
                .runs
                .get(i + 1)
                .filter(|r| r.start == run.end)
                .map_or(PageState::Owned, |r| r.state);
            return Err(OwnershipError::WrongState {
                page: run.end,
                found,
            });
        }
        let split = run.start < start && end < run.end;
        if split && self.runs.len() >= self.cap {
            return Err(OwnershipError::NoRoom);
        }
        if from.unmapped_from_host() && hook.map(range).is_err() {
            return Err(OwnershipError::Stage2 { start });
        }
        match (run.start < start, end < run.end) {
            (false, false) => {
                self.runs.remove(i);
            }
            (true, false) => self.runs[i].end = start,
            (false, true) => self.runs[i].start = end,
            (true, true) => {
                self.runs[i].end = start;
                self.runs.insert(
                    i + 1,
                    Run {
                        start: end,
                        end: run.end,
                        state: from,
                        tag,
                    },
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const RAM: [Range<u64>; 2] = [0x4000_0000..0x6000_0000, 0x6020_0000..0x8000_0000];
    const P: u64 = PAGE;

    fn map(cap: usize) -> Ownership {
        Ownership::new(&RAM, cap)
    }

    fn pages(start: u64, n: u64) -> Range<u64> {
        start..start + n * P
    }

    /// Records the stage-2 calls; fails the `fail_at`th call (0-based) if set.
    #[derive(Default)]
    struct Hook {
        calls: Vec<(bool, Range<u64>)>,
        fail_at: Option<usize>,
    }

    impl Stage2Hook for Hook {
        fn unmap(&mut self, r: Range<u64>) -> Result<(), Stage2Error> {
            self.calls.push((false, r));
            if self.fail_at == Some(self.calls.len() - 1) {
                return Err(Stage2Error);
            }
            Ok(())
        }
        fn map(&mut self, r: Range<u64>) -> Result<(), Stage2Error> {
            self.calls.push((true, r));
            if self.fail_at == Some(self.calls.len() - 1) {
                return Err(Stage2Error);
            }
            Ok(())
        }
    }

    fn snapshot(o: &Ownership) -> Vec<(Range<u64>, PageState, u64)> {
        o.runs().collect()
    }

    #[test]
    fn every_page_starts_owned_and_only_ram_is_tracked() {
        let o = map(8);
        assert_eq!(o.state(0x4000_0000), Some(PageState::Owned));
        assert_eq!(o.state(0x7fff_f000), Some(PageState::Owned));
        assert_eq!(o.state(0x6000_0000), None, "carve-out");
        assert_eq!(o.state(0x0e10_0000), None, "Secure RAM");
        assert_eq!(o.state(0x0900_0000), None, "MMIO");
        assert_eq!(o.state(0x8000_0000), None, "past the end of RAM");
    }

    #[test]
    fn claim_and_release_round_trip() {
        let mut o = map(8);
        let rx = pages(0x4800_0000, 1);
        let tx = pages(0x4800_1000, 1);
        o.claim(
            &[tx.clone(), rx.clone()][..],
            PageState::SharedWithHyp,
            0,
            &mut NoStage2,
        )
        .unwrap();
        assert_eq!(o.state(tx.start), Some(PageState::SharedWithHyp));
        assert_eq!(o.state(rx.start), Some(PageState::SharedWithHyp));
        assert_eq!(
            o.usage().0,
            1,
            "adjacent runs with the same state and tag merge"
        );
        o.release(tx.clone(), PageState::SharedWithHyp, 0, &mut NoStage2)
            .unwrap();
        assert_eq!(o.state(tx.start), Some(PageState::Owned));
        assert_eq!(o.state(rx.start), Some(PageState::SharedWithHyp));
        o.release(rx, PageState::SharedWithHyp, 0, &mut NoStage2)
            .unwrap();
        assert!(snapshot(&o).is_empty());
    }

    #[test]
    fn only_owned_pages_can_be_claimed() {
        let mut o = map(8);
        let a = pages(0x4800_0000, 4);
        o.claim(
            &[a.clone()][..],
            PageState::SharedWithSecure,
            7,
            &mut NoStage2,
        )
        .unwrap();
        for (to, tag) in [
            (PageState::SharedWithHyp, 0),
            (PageState::SharedWithSecure, 7),
            (PageState::SharedWithSecure, 8),
            (PageState::Hyp, 0),
        ] {
            let before = snapshot(&o);
            let err = o
                .claim(&[pages(0x4800_2000, 1)][..], to, tag, &mut Hook::default())
                .unwrap_err();
            assert_eq!(
                err,
                (
                    0,
                    OwnershipError::WrongState {
                        page: 0x4800_2000,
                        found: PageState::SharedWithSecure
                    }
                ),
                "{to:?}"
            );
            assert_eq!(snapshot(&o), before, "{to:?}: nothing changed");
        }
        // A range that starts Owned and runs into the shared pages fails on the first shared
        // page.
        let err = o
            .claim(
                &[pages(0x47ff_e000, 3)][..],
                PageState::SharedWithHyp,
                0,
                &mut NoStage2,
            )
            .unwrap_err();
        assert_eq!(
            err.1,
            OwnershipError::WrongState {
                page: 0x4800_0000,
                found: PageState::SharedWithSecure
            }
        );
        assert_eq!(o.state(0x47ff_e000), Some(PageState::Owned));
    }

    #[test]
    fn claiming_into_owned_is_refused() {
        let mut o = map(8);
        assert!(
            o.claim(
                &[pages(0x4800_0000, 1)][..],
                PageState::Owned,
                0,
                &mut NoStage2
            )
            .is_err()
        );
    }

    #[test]
    fn ranges_outside_host_ram_or_malformed_are_refused() {
        let mut o = map(8);
        let cases = [
            (0x6000_0000..0x6000_1000, "carve-out"),
            (0x5fff_f000..0x6000_1000, "straddles RAM and the carve-out"),
            (0x0e10_0000..0x0e10_1000, "Secure RAM"),
            (0x0900_0000..0x0900_1000, "MMIO"),
            (0x7fff_f000..0x8000_1000, "runs past RAM"),
        ];
        for (r, what) in cases {
            let err = o
                .claim(
                    &[r.clone()][..],
                    PageState::SharedWithSecure,
                    1,
                    &mut NoStage2,
                )
                .unwrap_err();
            assert_eq!(
                err.1,
                OwnershipError::NotHostRam {
                    start: r.start,
                    end: r.end
                },
                "{what}"
            );
        }
        for r in [
            0x4800_0800..0x4800_1800,
            0x4800_0000..0x4800_0800,
            0x4800_0000..0x4800_0000,
            Range {
                start: 0x4800_1000,
                end: 0x4800_0000,
            },
            u64::MAX - 0xfff..u64::MAX,
        ] {
            let err = o
                .claim(
                    &[r.clone()][..],
                    PageState::SharedWithSecure,
                    1,
                    &mut NoStage2,
                )
                .unwrap_err();
            assert!(
                matches!(
                    err.1,
                    OwnershipError::BadRange { .. } | OwnershipError::NotHostRam { .. }
                ),
                "{r:x?}: {err:?}"
            );
        }
        assert!(snapshot(&o).is_empty());
    }

    #[test]
    fn a_failing_multi_range_claim_rolls_back_whole() {
        let mut o = map(16);
        o.claim(
            &[pages(0x5000_0000, 1)][..],
            PageState::SharedWithHyp,
            0,
            &mut NoStage2,
        )
        .unwrap();
        let before = snapshot(&o);
        let ranges = [
            pages(0x4800_0000, 2),
            pages(0x4800_2000, 1), // adjacent: merges with the first
            pages(0x4900_0000, 3),
            pages(0x5000_0000, 1), // the mailbox: fails here
            pages(0x4a00_0000, 1),
        ];
        let err = o
            .claim(&ranges[..], PageState::SharedWithSecure, 9, &mut NoStage2)
            .unwrap_err();
        assert_eq!(err.0, 3);
        assert_eq!(snapshot(&o), before, "rolled back");
        for r in &ranges[..3] {
            assert_eq!(o.state(r.start), Some(PageState::Owned));
        }
    }

    #[test]
    fn overlapping_ranges_in_one_claim_fail_and_roll_back() {
        let mut o = map(16);
        let ranges = [pages(0x4800_0000, 4), pages(0x4800_3000, 2)];
        let err = o
            .claim(&ranges[..], PageState::SharedWithSecure, 1, &mut NoStage2)
            .unwrap_err();
        assert_eq!(
            err,
            (
                1,
                OwnershipError::WrongState {
                    page: 0x4800_3000,
                    found: PageState::SharedWithSecure
                }
            )
        );
        assert!(snapshot(&o).is_empty());
        // The same range twice.
        let ranges = [pages(0x4800_0000, 1), pages(0x4800_0000, 1)];
        assert!(
            o.claim(&ranges[..], PageState::SharedWithSecure, 1, &mut NoStage2)
                .is_err()
        );
        assert!(snapshot(&o).is_empty());
    }

    #[test]
    fn a_full_table_refuses_with_no_room_and_changes_nothing() {
        let mut o = map(2);
        o.claim(
            &[pages(0x4800_0000, 1), pages(0x4900_0000, 1)][..],
            PageState::SharedWithSecure,
            1,
            &mut NoStage2,
        )
        .unwrap();
        let before = snapshot(&o);
        let err = o
            .claim(
                &[pages(0x4a00_0000, 1)][..],
                PageState::SharedWithSecure,
                2,
                &mut NoStage2,
            )
            .unwrap_err();
        assert_eq!(err.1, OwnershipError::NoRoom);
        assert_eq!(snapshot(&o), before);
        // A range adjacent to a run with the same state and tag needs no room.
        o.claim(
            &[pages(0x4800_1000, 1)][..],
            PageState::SharedWithSecure,
            1,
            &mut NoStage2,
        )
        .unwrap();
        // Releasing the middle of a run needs a split: no room.
        o.claim(
            &[pages(0x4800_2000, 1)][..],
            PageState::SharedWithSecure,
            1,
            &mut NoStage2,
        )
        .unwrap();
        assert_eq!(
            o.release(
                pages(0x4800_1000, 1),
                PageState::SharedWithSecure,
                1,
                &mut NoStage2
            ),
            Err(OwnershipError::NoRoom)
        );
        // A claim that fills the table, then fails later, rolls back within the capacity.
        let mut o = map(3);
        let ranges = [
            pages(0x4800_0000, 1),
            pages(0x4900_0000, 1),
            pages(0x4a00_0000, 1),
            pages(0x4b00_0000, 1),
        ];
        let err = o
            .claim(&ranges[..], PageState::SharedWithSecure, 1, &mut NoStage2)
            .unwrap_err();
        assert_eq!(err, (3, OwnershipError::NoRoom));
        assert!(snapshot(&o).is_empty());
    }

    #[test]
    fn release_checks_state_tag_and_coverage() {
        let mut o = map(8);
        o.claim(
            &[pages(0x4800_0000, 4)][..],
            PageState::SharedWithSecure,
            5,
            &mut NoStage2,
        )
        .unwrap();
        let before = snapshot(&o);
        // Wrong tag, wrong state, Owned pages, range running past the run.
        assert!(
            o.release(
                pages(0x4800_0000, 1),
                PageState::SharedWithSecure,
                6,
                &mut NoStage2
            )
            .is_err()
        );
        assert!(
            o.release(
                pages(0x4800_0000, 1),
                PageState::SharedWithHyp,
                5,
                &mut NoStage2
            )
            .is_err()
        );
        assert_eq!(
            o.release(
                pages(0x4900_0000, 1),
                PageState::SharedWithSecure,
                5,
                &mut NoStage2
            ),
            Err(OwnershipError::WrongState {
                page: 0x4900_0000,
                found: PageState::Owned
            })
        );
        assert_eq!(
            o.release(
                pages(0x4800_2000, 4),
                PageState::SharedWithSecure,
                5,
                &mut NoStage2
            ),
            Err(OwnershipError::WrongState {
                page: 0x4800_4000,
                found: PageState::Owned
            })
        );
        assert_eq!(snapshot(&o), before);
        // The middle: split in two.
        o.release(
            pages(0x4800_1000, 2),
            PageState::SharedWithSecure,
            5,
            &mut NoStage2,
        )
        .unwrap();
        assert_eq!(
            snapshot(&o),
            vec![
                (pages(0x4800_0000, 1), PageState::SharedWithSecure, 5),
                (pages(0x4800_3000, 1), PageState::SharedWithSecure, 5),
            ]
        );
    }

    #[test]
    fn release_tag_frees_exactly_one_transaction() {
        let mut o = map(8);
        o.claim(
            &[pages(0x4800_0000, 2), pages(0x4900_0000, 1)][..],
            PageState::SharedWithSecure,
            1,
            &mut NoStage2,
        )
        .unwrap();
        o.claim(
            &[pages(0x4800_2000, 1)][..],
            PageState::SharedWithSecure,
            2,
            &mut NoStage2,
        )
        .unwrap();
        o.claim(
            &[pages(0x4a00_0000, 1)][..],
            PageState::SharedWithHyp,
            1,
            &mut NoStage2,
        )
        .unwrap();
        assert_eq!(
            o.release_tag(PageState::SharedWithSecure, 1, &mut NoStage2),
            3
        );
        assert_eq!(
            snapshot(&o),
            vec![
                (pages(0x4800_2000, 1), PageState::SharedWithSecure, 2),
                (pages(0x4a00_0000, 1), PageState::SharedWithHyp, 1),
            ]
        );
        assert_eq!(
            o.release_tag(PageState::SharedWithSecure, 1, &mut NoStage2),
            0
        );
        assert!(o.has_tag(PageState::SharedWithSecure, 2));
        assert!(!o.has_tag(PageState::SharedWithSecure, 1));
    }

    #[test]
    fn retag_keeps_the_map_canonical() {
        let mut o = map(8);
        o.claim(
            &[pages(0x4800_0000, 1)][..],
            PageState::SharedWithSecure,
            1,
            &mut NoStage2,
        )
        .unwrap();
        o.claim(
            &[pages(0x4800_1000, 1)][..],
            PageState::SharedWithSecure,
            u64::MAX,
            &mut NoStage2,
        )
        .unwrap();
        assert_eq!(o.usage().0, 2);
        o.retag(PageState::SharedWithSecure, u64::MAX, 1);
        assert_eq!(
            snapshot(&o),
            vec![(pages(0x4800_0000, 2), PageState::SharedWithSecure, 1)]
        );
        assert_eq!(o.tag(0x4800_1000), Some(1));
    }

    #[test]
    fn lending_calls_the_stage2_hook_and_rolls_it_back() {
        let mut o = map(8);
        let ranges = [
            pages(0x4800_0000, 1),
            pages(0x4900_0000, 2),
            pages(0x4a00_0000, 1),
        ];
        let mut hook = Hook {
            fail_at: Some(2),
            ..Hook::default()
        };
        let err = o
            .claim(&ranges[..], PageState::LentToSecure, 3, &mut hook)
            .unwrap_err();
        assert_eq!(err, (2, OwnershipError::Stage2 { start: 0x4a00_0000 }));
        assert!(snapshot(&o).is_empty());
        assert_eq!(
            hook.calls,
            vec![
                (false, ranges[0].clone()),
                (false, ranges[1].clone()),
                (false, ranges[2].clone()),
                (true, ranges[1].clone()),
                (true, ranges[0].clone()),
            ]
        );
        let mut hook = Hook::default();
        o.claim(&ranges[..], PageState::LentToSecure, 3, &mut hook)
            .unwrap();
        assert_eq!(o.pages_in(PageState::LentToSecure), 4);
        assert_eq!(o.release_tag(PageState::LentToSecure, 3, &mut hook), 4);
        assert_eq!(hook.calls.len(), 6, "three unmaps, three maps");
        // Shared pages never touch stage 2 (NoStage2 refuses every call).
        o.claim(&ranges[..], PageState::SharedWithSecure, 4, &mut NoStage2)
            .unwrap();
        assert_eq!(
            o.release_tag(PageState::SharedWithSecure, 4, &mut NoStage2),
            4
        );
    }

    #[test]
    fn the_run_table_never_grows_past_its_capacity() {
        let mut o = map(64);
        let cap = o.runs.capacity();
        // Every other page of a stretch, then the rest, then release them in a scattered
        // order.
        for i in (0..200u64).step_by(2) {
            let _ = o.claim(
                &[pages(0x4800_0000 + i * P, 1)][..],
                PageState::SharedWithSecure,
                i,
                &mut NoStage2,
            );
        }
        assert_eq!(o.usage().0, 64);
        for i in (0..200u64).step_by(3) {
            let _ = o.release(
                pages(0x4800_0000 + i * P, 1),
                PageState::SharedWithSecure,
                i,
                &mut NoStage2,
            );
        }
        assert!(o.usage().0 <= 64);
        assert_eq!(o.runs.capacity(), cap, "no reallocation");
    }

    /// Claims, releases, retags and whole-tag releases in random order: after each, every
    /// page is what a page-by-page model says, the map is canonical (the one-pass retag
    /// merges what it must), and a lookup by tag agrees with the pages.
    #[test]
    fn retag_and_release_tag_match_a_page_by_page_model() {
        let base = 0x4800_0000u64;
        let mut o = map(16);
        let mut model = [(PageState::Owned, 0u64); 64];
        let mut seed = 0x0bad_cafe_1234_5678u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % n
        };
        let states = [PageState::SharedWithHyp, PageState::SharedWithSecure];
        for _ in 0..20_000 {
            let state = states[next(2) as usize];
            let tag = next(4);
            let s = next(64);
            let r = base + s * P..base + (s + next(4) + 1).min(64) * P;
            let page_range = (r.start - base) / P..(r.end - base) / P;
            match next(4) {
                0 => {
                    if o.claim(core::slice::from_ref(&r), state, tag, &mut NoStage2)
                        .is_ok()
                    {
                        for p in page_range {
                            model[p as usize] = (state, tag);
                        }
                    }
                }
                1 => {
                    if o.release(r.clone(), state, tag, &mut NoStage2).is_ok() {
                        for p in page_range {
                            model[p as usize] = (PageState::Owned, 0);
                        }
                    }
                }
                2 => {
                    let to = next(4);
                    o.retag(state, tag, to);
                    for m in model.iter_mut().filter(|m| **m == (state, tag)) {
                        m.1 = to;
                    }
                }
                _ => {
                    let released = o.release_tag(state, tag, &mut NoStage2);
                    let mut n = 0;
                    for m in model.iter_mut().filter(|m| **m == (state, tag)) {
                        *m = (PageState::Owned, 0);
                        n += 1;
                    }
                    assert_eq!(released, n);
                }
            }
            for (p, m) in model.iter().enumerate() {
                let addr = base + p as u64 * P;
                assert_eq!(o.state(addr), Some(m.0), "{addr:#x}");
                if m.0 != PageState::Owned {
                    assert_eq!(o.tag(addr), Some(m.1), "{addr:#x}");
                }
            }
            for w in o.runs.windows(2) {
                assert!(
                    !(w[0].end == w[1].start && w[0].joins(w[1].state, w[1].tag)),
                    "not canonical: {:x?}",
                    o.runs
                );
            }
            for tag in 0..4 {
                for state in states {
                    assert_eq!(o.has_tag(state, tag), model.contains(&(state, tag)));
                }
            }
        }
    }

    #[test]
    fn random_operations_match_a_page_by_page_model() {
        // A small deterministic LCG drives claims and releases over 64 pages; a byte-per-page
        // model says what every page must be after each step.
        let base = 0x4800_0000u64;
        let mut o = map(12);
        let mut model = [(PageState::Owned, 0u64); 64];
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % n
        };
        let states = [PageState::SharedWithHyp, PageState::SharedWithSecure];
        for _ in 0..5000 {
            let k = next(3) as usize + 1;
            let mut ranges = Vec::new();
            for _ in 0..k {
                let s = next(64);
                let n = next(4) + 1;
                ranges.push(base + s * P..base + (s + n).min(64) * P);
            }
            let state = states[next(2) as usize];
            let tag = next(3);
            let before = snapshot(&o);
            if next(2) == 0 {
                let ok = o.claim(&ranges[..], state, tag, &mut NoStage2).is_ok();
                let mut m = model;
                let mut expect = true;
                for r in &ranges {
                    for p in (r.start - base) / P..(r.end - base) / P {
                        if m[p as usize].0 != PageState::Owned {
                            expect = false;
                        }
                        m[p as usize] = (state, tag);
                    }
                }
                if ok {
                    assert!(
                        expect,
                        "claim of {ranges:x?} succeeded over non-Owned pages"
                    );
                    model = m;
                } else {
                    assert_eq!(snapshot(&o), before, "failed claim changed the map");
                }
            } else {
                let r = ranges[0].clone();
                let ok = o.release(r.clone(), state, tag, &mut NoStage2).is_ok();
                let all = ((r.start - base) / P..(r.end - base) / P)
                    .all(|p| model[p as usize] == (state, tag));
                if ok {
                    assert!(all, "release of {r:x?} succeeded over other pages");
                    for p in (r.start - base) / P..(r.end - base) / P {
                        model[p as usize] = (PageState::Owned, 0);
                    }
                } else {
                    assert_eq!(snapshot(&o), before, "failed release changed the map");
                }
            }
            for (p, (s, t)) in model.iter().enumerate() {
                let a = base + p as u64 * P;
                assert_eq!(o.state(a), Some(*s), "page {p}");
                if *s != PageState::Owned {
                    assert_eq!(o.tag(a), Some(*t), "page {p} tag");
                }
            }
            // Canonical: no two adjacent runs that could merge.
            for w in o.runs.windows(2) {
                assert!(w[0].end <= w[1].start);
                assert!(!(w[0].end == w[1].start && w[0].joins(w[1].state, w[1].tag)));
            }
        }
    }
}
