//! The pool of host stage-2 table pages: a fixed number of 4 KiB pages reserved once, when
//! the tables are built at boot ([`crate::budget::STAGE2_TABLE_PAGES`]), from which every
//! table of the host stage 2 comes and to which every freed table returns.
//!
//! aarch64-paging asks its [`Translation`] for a table page whenever it splits a block, and
//! its interface has no way to fail: an allocator that runs dry can only panic. So the pool
//! never runs dry by construction. Before a change that may split blocks, its owner counts
//! the worst case of table pages the change needs and refuses the change unless
//! [`TablePool::free`] covers it ([`super::stage2::HostStage2::tables_needed`]); the pool
//! cannot be shared with anything that does not count, and the count and the change are made
//! under one lock ([`super::MemProtect`]). Tables come back when a change frees them (a
//! whole block unmapped) and when a table is folded back into a block
//! ([`super::stage2::HostStage2::map_ram`]).
//!
//! The pages are one allocation from the hypervisor heap (the carve-out), made at boot and
//! never returned; a bitmap says which are in use. The hypervisor's own map is an identity
//! map, so a page's virtual address is its physical address.

use alloc::alloc::{Layout, alloc};
use alloc::vec::Vec;
use core::cell::Cell;
use core::ptr::NonNull;

use aarch64_paging::descriptor::{PhysicalAddress, Stage2Attributes};
use aarch64_paging::paging::{PageTable, Translation};

use crate::addr::PAGE;

/// A fixed pool of page-table pages. See the module documentation.
pub struct TablePool {
    /// Address of the first page (identity-mapped).
    base: usize,
    /// Pages in the pool.
    pages: usize,
    /// One bit per page, set while the page is a table. Cells, so that a table the host
    /// stage 2 folds itself can be given back through the `&TablePool` aarch64-paging lends
    /// ([`TablePool::release`]).
    used: Vec<Cell<u64>>,
    /// Pages not in use.
    free: Cell<usize>,
}

// SAFETY: the pool only hands out addresses of its own pages; the pages and the bitmap are
// reached only through `&mut TablePool`, which the memory lock serialises.
unsafe impl Send for TablePool {}

impl TablePool {
    /// A pool of `pages` pages from the heap, or `None` if the heap cannot hold them.
    ///
    /// Not zeroed here: [`Translation::allocate_table`] zeroes each page as it hands it out,
    /// which is all a table needs, and zeroing the whole pool at boot cost more EL2
    /// instructions than the rest of the stage-2 build.
    pub fn new(pages: usize) -> Option<Self> {
        // Aligned for a concatenated pair of root tables at its start.
        let layout =
            Layout::from_size_align(pages.max(1) * PAGE as usize, 2 * PAGE as usize).ok()?;
        // SAFETY: the layout has a non-zero size.
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            return None;
        }
        Some(TablePool {
            base: base as usize,
            pages,
            used: (0..pages.div_ceil(64)).map(|_| Cell::new(0)).collect(),
            free: Cell::new(pages),
        })
    }

    /// Pages in the pool.
    pub fn capacity(&self) -> usize {
        self.pages
    }

    /// Pages free.
    pub fn free(&self) -> usize {
        self.free.get()
    }

    /// Pages in use as tables.
    pub fn in_use(&self) -> usize {
        self.pages - self.free.get()
    }

    /// The index of the page at `addr`, if it is one of the pool's.
    fn index(&self, addr: usize) -> Option<usize> {
        let offset = addr.checked_sub(self.base)?;
        let i = offset / PAGE as usize;
        (offset % PAGE as usize == 0 && i < self.pages).then_some(i)
    }

    /// Takes a free page for a table the caller fills whole itself (not zeroed): its address,
    /// or `None` if the pool is empty. The lowest free page first.
    pub fn take(&self) -> Option<usize> {
        let i = self.used.iter().enumerate().find_map(|(word, bits)| {
            let bits = bits.get();
            let i = word * 64 + (!bits).trailing_zeros() as usize;
            (bits != !0 && i < self.pages).then_some(i)
        })?;
        let word = &self.used[i / 64];
        word.set(word.get() | 1 << (i % 64));
        self.free.set(self.free.get() - 1);
        Some(self.base + i * PAGE as usize)
    }

    /// Takes `count` consecutive free pages whose first is aligned to their total size (a
    /// concatenated root): the first's address, or `None` if the pool has no such run.
    /// Not zeroed.
    pub fn take_aligned(&self, count: usize) -> Option<usize> {
        let size = count * PAGE as usize;
        let free = |i: usize| self.used[i / 64].get() & 1 << (i % 64) == 0;
        let first = (0..self.pages.saturating_sub(count - 1)).find(|&i| {
            (self.base + i * PAGE as usize).is_multiple_of(size) && (i..i + count).all(free)
        })?;
        for i in first..first + count {
            let word = &self.used[i / 64];
            word.set(word.get() | 1 << (i % 64));
        }
        self.free.set(self.free.get() - count);
        Some(self.base + first * PAGE as usize)
    }

    /// Gives the table page at `addr` back. A page that is not the pool's, or not in use, is
    /// ignored: freeing it twice must not make the count lie. The caller makes sure nothing
    /// refers to the page any more (no descriptor, no TLB entry).
    pub fn release(&self, addr: usize) {
        let Some(i) = self.index(addr) else {
            return;
        };
        let word = &self.used[i / 64];
        let bit = 1 << (i % 64);
        if word.get() & bit != 0 {
            word.set(word.get() & !bit);
            self.free.set(self.free.get() + 1);
        }
    }
}

impl Translation<Stage2Attributes> for TablePool {
    /// A zeroed page of the pool.
    ///
    /// # Panics
    /// If the pool is empty. Every change to the host stage 2 first checks that the pool
    /// covers its worst case (see the module documentation), so this cannot happen; there
    /// is nothing else aarch64-paging's interface allows.
    fn allocate_table(&mut self) -> (NonNull<PageTable<Stage2Attributes>>, PhysicalAddress) {
        let Some(addr) = self.take() else {
            panic!("stage-2 table pool exhausted: a change was not counted");
        };
        let table = addr as *mut PageTable<Stage2Attributes>;
        // SAFETY: `addr` is a page of the pool, not in use until now, so nothing else refers
        // to it; the pool's pages are writable hypervisor memory.
        unsafe { table.write_bytes(0, 1) };
        // SAFETY: `addr` is non-zero (inside the pool's allocation).
        (
            unsafe { NonNull::new_unchecked(table) },
            PhysicalAddress(addr),
        )
    }

    unsafe fn deallocate_table(&mut self, page_table: NonNull<PageTable<Stage2Attributes>>) {
        self.release(page_table.as_ptr() as usize);
    }

    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<Stage2Attributes>> {
        // Table descriptors only ever hold addresses `allocate_table` returned: never 0.
        NonNull::new(pa.0 as *mut PageTable<Stage2Attributes>).expect("a table at address 0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_handed_out_zeroed_once_and_come_back() {
        let mut pool = TablePool::new(70).unwrap();
        assert_eq!((pool.capacity(), pool.free(), pool.in_use()), (70, 70, 0));
        let mut got = Vec::new();
        for _ in 0..70 {
            let (table, pa) = pool.allocate_table();
            assert_eq!(table.as_ptr() as usize, pa.0);
            assert_eq!(pa.0 % PAGE as usize, 0);
            // SAFETY: the page is ours until deallocated.
            let bytes = unsafe { core::slice::from_raw_parts(pa.0 as *const u8, 4096) };
            assert!(bytes.iter().all(|&b| b == 0));
            // SAFETY: as above; dirty it, so the next allocation must zero it.
            unsafe { (pa.0 as *mut u8).write_bytes(0xa5, 4096) };
            got.push(table);
        }
        assert_eq!(pool.free(), 0);
        let distinct: std::collections::BTreeSet<_> = got.iter().map(|t| t.as_ptr()).collect();
        assert_eq!(distinct.len(), 70);
        for t in &got[10..20] {
            // SAFETY: allocated above, freed once.
            unsafe { pool.deallocate_table(*t) };
        }
        // Twice, and a page that is not the pool's: ignored.
        // SAFETY: deallocate ignores pages it does not hold.
        unsafe {
            pool.deallocate_table(got[10]);
            pool.deallocate_table(NonNull::dangling());
        }
        assert_eq!(pool.free(), 10);
        let (table, _) = pool.allocate_table();
        assert_eq!(table, got[10], "the lowest free page first");
        // SAFETY: just allocated.
        let bytes = unsafe { core::slice::from_raw_parts(table.as_ptr() as *const u8, 4096) };
        assert!(bytes.iter().all(|&b| b == 0), "zeroed again");
    }

    #[test]
    #[should_panic(expected = "exhausted")]
    fn an_uncounted_allocation_from_an_empty_pool_panics() {
        let mut pool = TablePool::new(1).unwrap();
        let _ = pool.allocate_table();
        let _ = pool.allocate_table();
    }

    #[test]
    fn an_aligned_run_is_taken_whole_or_not_at_all() {
        let pool = TablePool::new(8).unwrap();
        assert_eq!(pool.base % 0x2000, 0, "the pool starts 8 KiB-aligned");
        // Page 0 taken: the first aligned free pair is pages 2 and 3.
        assert_eq!(pool.take(), Some(pool.base));
        assert_eq!(pool.take_aligned(2), Some(pool.base + 0x2000));
        assert_eq!((pool.free(), pool.take()), (5, Some(pool.base + 0x1000)));
        // 4, 5 free; 6, 7 free: the next pair is 4 and 5; then 6 and 7; then none.
        assert_eq!(pool.take_aligned(2), Some(pool.base + 0x4000));
        pool.release(pool.base + 0x4000);
        assert_eq!(
            pool.take_aligned(2),
            Some(pool.base + 0x6000),
            "4 alone is no pair"
        );
        assert_eq!((pool.take_aligned(2), pool.free()), (None, 1));
    }
}
