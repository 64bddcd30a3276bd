//! The host's stage-2 translation: an identity map of a [`HostMap`] with the largest blocks
//! that fit (1 GiB, 2 MiB), plus the VTCR_EL2 value that matches it. The tables are
//! aarch64-paging's `Stage2` regime; the boot map is written into them directly (as the
//! crate's `map_range` would write it, without its per-chunk iteration), and so are the hot
//! changes (a LEND's split, a RECLAIM's fold).
//!
//! The IPA space is 40 bits wherever the CPUs' PARange allows it (less only below 40 bits
//! of PA). With a PARange of 44 bits or more the walk starts at a level-0 root (VTCR_EL2.SL0
//! = 2 with 4 KiB pages, only valid from 44 bits). Below that (Cortex-A53: 40 bits) it
//! starts at level 1 with two concatenated level-1 tables as the root (8 KiB, 8 KiB-aligned,
//! indexed by IPA bits [39:30] across their 1024 entries; SL0 = 1, T0SZ = 24), which the Arm
//! ARM allows at the initial lookup level of a stage-2 walk. aarch64-paging has one root
//! table per tree, so such tables are built as a level-0 tree whose first two entries point
//! at the pair: the level-0 page exists only for the crate's walks, the hardware (VTTBR_EL2
//! and the SMMU's S2TTB) is given the pair. One VTCR_EL2 and one table serve every CPU: on
//! big.LITTLE systems (Juno: Cortex-A57 or A72 with 44 bits, A53 with 40) the geometry must
//! suit the smallest core, not just the boot CPU ([`Geometry::for_system`]).

use alloc::boxed::Box;
use core::fmt;
use core::ops::Range;

use aarch64_paging::descriptor::{Descriptor, PhysicalAddress, Stage2Attributes, VirtualAddress};
use aarch64_paging::paging::{Constraints, MemoryRegion, Stage2, Translation};
use aarch64_paging::{MapError, Mapping};

use super::ownership::{Stage2Error, Stage2Hook};
use super::pool::TablePool;
use crate::budget::STAGE2_TABLE_PAGES;
use crate::memmap::HostMap;

/// Normal memory, inner/outer write-back, inner shareable, read-write, executable.
pub const S2_NORMAL: Stage2Attributes = Stage2Attributes::VALID
    .union(Stage2Attributes::MEMATTR_NORMAL_OUTER_WB)
    .union(Stage2Attributes::MEMATTR_NORMAL_INNER_WB)
    .union(Stage2Attributes::SH_INNER)
    .union(Stage2Attributes::S2AP_ACCESS_RW)
    .union(Stage2Attributes::ACCESS_FLAG);

/// Host MMIO: Device-nGnRE, read-write, execute-never. A stage-2 Device type overrides the
/// host's own stage-1 attributes, so a framebuffer or PCIe BAR the host maps write-combining
/// becomes Device too (pKVM maps host MMIO stage-2 Normal instead, leaving the type to the
/// host); we keep Device, which the boot-chain design asks for, until a board needs
/// write-combining MMIO.
pub const S2_MMIO: Stage2Attributes = Stage2Attributes::VALID
    .union(Stage2Attributes::MEMATTR_DEVICE_nGnRE)
    .union(Stage2Attributes::S2AP_ACCESS_RW)
    .union(Stage2Attributes::ACCESS_FLAG)
    .union(Stage2Attributes::XN);

/// The largest IPA size we build tables for: 1 TiB covers every board we support and
/// keeps the tables to a handful of pages.
pub const MAX_IPA_BITS: u32 = 40;

/// IPA size and walk geometry derived from the CPU's PARange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Bits of IPA space the tables cover.
    pub ipa_bits: u32,
    /// Level of the hardware's initial lookup (0 or 1). A 40-bit space at level 1 has two
    /// concatenated root tables ([`root_tables`](Self::root_tables)).
    pub root_level: usize,
    /// ID_AA64MMFR0_EL1.PARange, for VTCR_EL2.PS.
    pub parange: u64,
}

/// The PARange every Armv8-A core Arm has made reaches (Cortex-A35/A53/A55/A510/A520 have
/// 40 bits; the big cores have more): what a system of mixed cores is capped to.
pub const COMMON_PARANGE: u64 = 2;

/// Physical address bits for each PARange encoding.
pub fn parange_bits(parange: u64) -> u32 {
    match parange & 0xf {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

impl Geometry {
    /// Geometry for a CPU whose ID_AA64MMFR0_EL1.PARange is `parange`.
    pub fn from_parange(parange: u64) -> Self {
        let ipa_bits = parange_bits(parange).min(MAX_IPA_BITS);
        Self {
            ipa_bits,
            // A level-0 start needs PARange >= 44 bits; below that, level 1 (with two
            // concatenated root tables for 40 bits).
            root_level: if parange_bits(parange) >= 44 { 0 } else { 1 },
            parange: (parange & 0xf).min(6),
        }
    }

    /// Tables concatenated at the initial lookup level: 2 for a 40-bit space starting at
    /// level 1 (one level-1 table resolves 39 bits), else 1.
    pub fn root_tables(&self) -> usize {
        let one_table_bits = 12 + 9 * (4 - self.root_level as u32);
        1 << self.ipa_bits.saturating_sub(one_table_bits)
    }

    /// Geometry for every CPU of a system whose boot CPU reports `boot_parange`. When the
    /// DT lists more than one core type (`mixed_cpus`, `SystemInfo::mixed_cpus`), the other
    /// cores' PARange is unknown until they run, and a Cortex-A53 cannot walk the level-0
    /// root a 44-bit Cortex-A57 would get: PARange is capped at [`COMMON_PARANGE`].
    pub fn for_system(boot_parange: u64, mixed_cpus: bool) -> Self {
        let parange = boot_parange & 0xf;
        Self::from_parange(if mixed_cpus {
            parange.min(COMMON_PARANGE)
        } else {
            parange
        })
    }

    /// Whether a CPU whose ID_AA64MMFR0_EL1.PARange is `parange` can use these tables: its
    /// physical address size covers the IPA space, and a level-0 start needs 44 bits
    /// (concatenated level-1 roots need nothing more than the IPA size).
    pub fn valid_for(&self, parange: u64) -> bool {
        let pa_bits = parange_bits(parange);
        pa_bits >= self.ipa_bits && (self.root_level != 0 || pa_bits >= 44)
    }

    /// VTCR_EL2: T0SZ, SL0 (start level), inner-shareable write-back walks, 4K granule,
    /// PS = PARange, 8-bit VMID (the host is VMID 0), RES1 bit 31.
    pub fn vtcr(&self) -> u64 {
        let t0sz = 64 - u64::from(self.ipa_bits);
        // With a 4K granule: SL0 = 2 starts at level 0, SL0 = 1 at level 1 (T0SZ = 24 there
        // means two concatenated tables).
        let sl0 = if self.root_level == 0 { 2 } else { 1 };
        (1 << 31) | (self.parange << 16) | (3 << 12) | (1 << 10) | (1 << 8) | (sl0 << 6) | t0sz
    }
}

/// Leaf descriptors per block size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockCounts {
    /// 1 GiB blocks (level 1).
    pub g1: usize,
    /// 2 MiB blocks (level 2).
    pub m2: usize,
    /// 4 KiB pages (level 3).
    pub k4: usize,
}

impl BlockCounts {
    /// Adds `n` (possibly negative) leaves at `level` (1 or 2; others are not blocks).
    fn add(&mut self, level: usize, n: isize) {
        let count = match level {
            1 => &mut self.g1,
            2 => &mut self.m2,
            _ => return,
        };
        *count = count.wrapping_add_signed(n);
    }
}

impl fmt::Display for BlockCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1G={} 2M={} 4K={}", self.g1, self.m2, self.k4)
    }
}

/// Why the stage-2 tables could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// The table pool of this many pages could not be allocated, or ran out while mapping.
    Pool(usize),
    /// aarch64-paging refused to map a range.
    Map {
        /// The range being mapped.
        range: Range<u64>,
        /// aarch64-paging's reason.
        error: MapError,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Pool(pages) => write!(
                f,
                "the host stage-2 table pool ({pages} pages) cannot hold the host's map"
            ),
            BuildError::Map { range, error } => write!(
                f,
                "cannot map {:#x}..{:#x} in the host stage-2: {}",
                range.start,
                range.end,
                crate::stage1::map_error_text(error)
            ),
        }
    }
}

/// What [`HostStage2`]'s walks call for each leaf: the range it covers, the descriptor, its
/// level; `Err` stops the walk.
type LeafVisitor<'a> =
    dyn FnMut(&MemoryRegion, &Descriptor<Stage2Attributes>, usize) -> Result<(), ()> + 'a;

/// Entries in a table (4 KiB granule).
const ENTRIES: usize = 512;
/// A page's bytes, as the descriptors count them.
const PAGE_SIZE: u64 = 4096;
/// The output-address bits of a descriptor (4 KiB granule, up to 48-bit addresses).
const OA_MASK: u64 = 0x0000_FFFF_FFFF_F000;
/// Bits [1:0] of a descriptor: its type.
const DESC_TYPE_MASK: u64 = 0b11;
/// A table descriptor above level 3 (a page descriptor at level 3 has the same type).
const DESC_TABLE: u64 = 0b11;
/// A page descriptor (level 3).
const DESC_PAGE: u64 = 0b11;
/// A block descriptor (levels 1 and 2).
const DESC_BLOCK: u64 = 0b01;

/// Bytes one descriptor maps at `level` (4 KiB granule): 4 KiB at 3, 2 MiB at 2, 1 GiB at 1.
const fn block_size(level: usize) -> u64 {
    1 << (12 + 9 * (3 - level))
}

/// The host's stage-2 tables, every page of them from one [`TablePool`].
///
/// Never freed: once built they may be live (VTTBR_EL2 names them, or aarch64-paging has
/// been told they are active, and it panics when an active mapping is dropped). A boot that
/// fails after building them returns its error through values that own them; leaking the
/// pool on the way to power-off is the right outcome, a panic is not.
///
/// # Table pages
/// A change that may split blocks is preceded by [`tables_needed`](Self::tables_needed),
/// the worst case of table pages it takes from the pool, which the caller compares with
/// [`tables_free`](Self::tables_free) before changing anything; a block whose pages all
/// map the same way again is folded back ([`map_ram`](Self::map_ram)), so the pages in use
/// return to what the boot map needs once every lent page is back.
pub struct HostStage2 {
    mapping: core::mem::ManuallyDrop<Mapping<TablePool, Stage2>>,
    geometry: Geometry,
    /// Physical address of the hardware's root: aarch64-paging's root table, or with
    /// concatenated roots the pair its level-0 root points to (see the module docs).
    root: u64,
    /// One bit per 1 GiB of IPA space whose level-1 entry was a table in the boot map. Such
    /// a table never folds: the boot map used the largest blocks that fit, and changes only
    /// unmap and map back pages of it, so once every page is back it is the boot map again,
    /// which was not one block there. Its fold check (up to 512 entries on every RECLAIM
    /// near the carve-out) is skipped.
    boot_tables_1g: [u64; GIB_WORDS],
    /// The leaves the boot map wrote, counted while writing them.
    boot_counts: BlockCounts,
}

/// What the boot map's build records as it writes the tables.
struct BootTally {
    /// The valid leaves by level.
    counts: BlockCounts,
    /// One bit per 1 GiB of IPA space whose level-1 entry is a table.
    tables_1g: [u64; GIB_WORDS],
}

/// Words of [`HostStage2`]'s `boot_tables_1g`: one bit per 1 GiB of the largest IPA space.
const GIB_WORDS: usize = 1 << (MAX_IPA_BITS - 30) >> 6;

impl HostStage2 {
    /// Builds the identity map of `map` (RAM as Normal, MMIO as Device, nothing else) in a
    /// pool of [`STAGE2_TABLE_PAGES`].
    pub fn build(map: &HostMap, geometry: Geometry) -> Result<Self, BuildError> {
        Self::build_in(map, geometry, STAGE2_TABLE_PAGES)
    }

    /// [`build`](Self::build) in a pool of `pages`.
    ///
    /// The entries are written directly ([`fill`](Self::fill)), as aarch64-paging's
    /// `map_range` would write them for each range in turn (the unit tests compare the two
    /// entry for entry), without its per-chunk iteration and callbacks: the host's map is a
    /// handful of ranges, mostly whole blocks.
    pub fn build_in(map: &HostMap, geometry: Geometry, pages: usize) -> Result<Self, BuildError> {
        let (mut s2, per_range) = Self::empty(geometry, pages)?;
        let mut boot = BootTally {
            counts: BlockCounts::default(),
            tables_1g: [0; GIB_WORDS],
        };
        for (ranges, attrs) in [(&map.ram, S2_NORMAL), (&map.mmio, S2_MMIO)] {
            for r in ranges {
                if s2.tables_free() < per_range {
                    return Err(BuildError::Pool(pages));
                }
                // As aarch64-paging's `MemoryRegion`: whole pages.
                let (start, end) = (
                    r.start & !(PAGE_SIZE - 1),
                    r.end.next_multiple_of(PAGE_SIZE),
                );
                if end > 1 << geometry.ipa_bits || start > end {
                    return Err(BuildError::Map {
                        range: r.clone(),
                        error: MapError::AddressRange(VirtualAddress(end as usize)),
                    });
                }
                let root = s2.table_at(s2.root);
                let bits = attrs.bits() as u64;
                s2.fill(
                    root,
                    geometry.root_level,
                    start..end,
                    start,
                    bits,
                    &mut boot,
                )
                .ok_or(BuildError::Pool(pages))?;
            }
        }
        s2.boot_counts = boot.counts;
        s2.boot_tables_1g = boot.tables_1g;
        Ok(s2)
    }

    /// Empty tables of `geometry` in a pool of `pages`, and the most table pages mapping
    /// one range can take.
    fn empty(geometry: Geometry, pages: usize) -> Result<(Self, usize), BuildError> {
        // Mapping one range adds at most two tables per level below the root (its two ends;
        // a level-0 root holds no blocks, but 40 bits span two of its entries at most).
        let per_range = 2 * (3 - geometry.root_level);
        let pool = TablePool::new(pages)
            .filter(|p| p.capacity() > per_range + geometry.root_tables())
            .ok_or(BuildError::Pool(pages))?;
        // Concatenated roots: the pair first (the fresh pool's lowest pages, aligned to
        // their size), zeroed, then a level-0 root for aarch64-paging that points at them.
        let concatenated = geometry.root_tables() > 1;
        let pair = match concatenated {
            true => Some(
                pool.take_aligned(geometry.root_tables())
                    .ok_or(BuildError::Pool(pages))?,
            ),
            false => None,
        };
        let crate_root_level = geometry.root_level - usize::from(concatenated);
        let mapping = core::mem::ManuallyDrop::new(Mapping::new(pool, crate_root_level, Stage2));
        let root = match pair {
            Some(base) => {
                let level0 = mapping.root_address().0 as *mut u64;
                for i in 0..geometry.root_tables() {
                    let table = base + i * PAGE_SIZE as usize;
                    // SAFETY: `table` is one of the pool pages just taken, nothing refers to
                    // it; `level0` is the crate's zeroed root page, not live yet, and `i` < 2
                    // of its 512 entries.
                    unsafe {
                        (table as *mut u64).write_bytes(0, ENTRIES);
                        level0.add(i).write(table as u64 | DESC_TABLE);
                    }
                }
                base as u64
            }
            None => mapping.root_address().0 as u64,
        };
        let s2 = Self {
            mapping,
            geometry,
            root,
            boot_tables_1g: [0; GIB_WORDS],
            boot_counts: BlockCounts::default(),
        };
        Ok((s2, per_range))
    }

    /// Maps `range` (page-aligned, inside the table's span) onto `pa` with the descriptor
    /// attribute bits `attrs` in `table`, a table at `level` (not live yet), as
    /// aarch64-paging's `map_range` does: for each piece of `range` one entry covers, a
    /// block (a page at level 3) where the piece is the entry's whole span and the entry is
    /// not a table already; nothing where the entry is a block that maps it so already;
    /// otherwise the entry's table, made if needed (a zeroed pool page, or one that maps the
    /// block the entry held), and the piece mapped in it. `None`: the pool ran out.
    /// `boot` follows the valid leaves (each written counted, each replaced uncounted) and
    /// the level-1 entries that are tables.
    fn fill(
        &self,
        table: *mut u64,
        level: usize,
        range: Range<u64>,
        pa: u64,
        attrs: u64,
        boot: &mut BootTally,
    ) -> Option<()> {
        if level == 3 {
            // Pages: one run of consecutive descriptors (the range lies inside this table).
            let first = self.index(range.start, 3);
            let count = ((range.end - range.start) / PAGE_SIZE) as usize;
            let mut desc = pa | attrs | DESC_PAGE;
            let mut replaced = 0;
            for i in first..first + count {
                // SAFETY: `table` is a level-3 table page of the pool and the range's pages
                // are entries `first..first + count` of it (`count` <= 512 - `first`).
                unsafe {
                    replaced += table.add(i).read() & 1;
                    table.add(i).write(desc);
                }
                desc += PAGE_SIZE;
            }
            boot.counts.k4 += count - replaced as usize;
            return Some(());
        }
        let size = block_size(level);
        let mut start = range.start;
        while start < range.end {
            let base = start & !(size - 1);
            let end = range.end.min(base + size);
            let out = pa + (start - range.start);
            // SAFETY: `table` is a table page of the pool (or the root), and `index` is
            // inside it (see `index`); nothing walks the tables before the build returns.
            let entry = unsafe { table.add(self.index(start, level)) };
            // SAFETY: as above.
            let desc = unsafe { entry.read() };
            let is_table = level < 3 && desc & DESC_TYPE_MASK == DESC_TABLE;
            let new = if level == 3 {
                Some(out | attrs | DESC_PAGE)
            } else if !is_table
                && desc & !OA_MASK == attrs
                && desc & OA_MASK == out - (start - base)
            {
                None
            } else if start == base && end == base + size && !is_table && level > 0 {
                // A block, and the whole blocks after it over empty entries, in one run.
                let (mut next, mut slot, mut written) = (start, entry, 0);
                loop {
                    // SAFETY: `slot` is this entry or one after it that the range covers
                    // whole, inside `table` (a range never leaves its table).
                    unsafe { slot.write((out + (next - start)) | attrs) };
                    written += 1;
                    next += size;
                    if range.end - next < size {
                        break;
                    }
                    // SAFETY: as above: the range covers the next entry whole.
                    slot = unsafe { slot.add(1) };
                    // SAFETY: as above.
                    if unsafe { slot.read() } != 0 {
                        break;
                    }
                }
                // The first entry may have been a valid block; the others were empty.
                boot.counts.add(level, written - (desc & 1) as isize);
                start = next;
                continue;
            } else {
                let sub = if is_table {
                    self.table_at(desc & OA_MASK)
                } else {
                    let page = self.mapping.translation().take()?;
                    let sub = page as *mut u64;
                    // SAFETY: a pool page just taken: nothing else refers to it.
                    unsafe { sub.write_bytes(0, ENTRIES) };
                    if desc != 0 {
                        // A block: its whole span again, one level down.
                        boot.counts.add(level, -((desc & 1) as isize));
                        self.fill(
                            sub,
                            level + 1,
                            base..base + size,
                            desc & OA_MASK,
                            desc & !OA_MASK,
                            boot,
                        )?;
                    }
                    // SAFETY: as above.
                    unsafe { entry.write(page as u64 | DESC_TABLE) };
                    sub
                };
                if level == 1 {
                    let gib = (start >> 30) as usize;
                    boot.tables_1g[gib / 64] |= 1 << (gib % 64);
                }
                self.fill(sub, level + 1, start..end, out, attrs, boot)?;
                None
            };
            if let Some(new) = new {
                // SAFETY: as above.
                unsafe { entry.write(new) };
            }
            start = end;
        }
        Some(())
    }

    /// Records which 1 GiB regions the boot map holds as tables (`boot_tables_1g`) from the
    /// tables (the direct build records them as it writes).
    #[cfg(test)]
    fn record_boot_tables(&mut self) {
        // A pass over each level-1 table's entries (a level-0 entry without one covers no
        // table either).
        let gibs = 1usize << (self.geometry.ipa_bits - 30);
        let mut gib = 0;
        while gib < gibs {
            let in_table = (gibs - gib).min(ENTRIES - gib % ENTRIES);
            if let Some(slot) = self.slot((gib as u64) << 30, 1) {
                for k in 0..in_table {
                    // SAFETY: `slot` is entry `gib % 512` of a level-1 table page; `k` stays
                    // inside that page (`in_table` <= 512 - gib % 512).
                    let desc = unsafe { slot.add(k).read_volatile() };
                    if desc & DESC_TYPE_MASK == DESC_TABLE {
                        self.boot_tables_1g[(gib + k) / 64] |= 1 << ((gib + k) % 64);
                    }
                }
            }
            gib += in_table;
        }
    }

    /// Whether the 1 GiB block holding `ipa` was a table in the boot map (see
    /// `boot_tables_1g`).
    fn boot_table_1g(&self, ipa: u64) -> bool {
        let gib = (ipa >> 30) as usize;
        gib < GIB_WORDS * 64 && self.boot_tables_1g[gib / 64] & 1 << (gib % 64) != 0
    }

    /// Physical address of the hardware's root table (the first of a concatenated pair),
    /// for VTTBR_EL2 (VMID 0) and the SMMU's S2TTB.
    pub fn root_address(&self) -> u64 {
        self.root
    }

    /// The geometry the tables were built for.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Table pages in use (the root included).
    pub fn table_pages(&self) -> usize {
        self.mapping.translation().in_use()
    }

    /// Table pages the pool still has.
    pub fn tables_free(&self) -> usize {
        self.mapping.translation().free()
    }

    /// Pages in the pool.
    pub fn pool_pages(&self) -> usize {
        self.mapping.translation().capacity()
    }

    /// The valid leaf descriptors by level that the boot map wrote (counted as it wrote
    /// them: the same as [`block_counts`](Self::block_counts) before any change).
    pub fn boot_counts(&self) -> BlockCounts {
        self.boot_counts
    }

    /// Counts valid leaf descriptors by level over the whole IPA space: a direct pass over
    /// the tables (the crate's walk costs a callback per entry).
    pub fn block_counts(&self) -> BlockCounts {
        let mut counts = BlockCounts::default();
        let entries = ENTRIES * self.geometry.root_tables();
        self.count_leaves(
            self.table_at(self.root),
            self.geometry.root_level,
            entries,
            &mut counts,
        );
        counts
    }

    /// Adds the valid leaves of the `entries` entries of `table` (at `level`) and of the
    /// tables below them to `counts`.
    fn count_leaves(
        &self,
        table: *mut u64,
        level: usize,
        entries: usize,
        counts: &mut BlockCounts,
    ) {
        // SAFETY: `table` is a table page of the pool (or the root, `entries` long); only
        // this struct writes the tables, under the memory lock or before they are live.
        let table = unsafe { core::slice::from_raw_parts(table.cast_const(), entries) };
        if level == 3 {
            // Valid pages: bit 0 of each entry, summed eight entries a step.
            let (eights, rest) = table.as_chunks::<8>();
            let mut valid = 0;
            for e in eights {
                valid += (e[0] & 1)
                    + (e[1] & 1)
                    + (e[2] & 1)
                    + (e[3] & 1)
                    + (e[4] & 1)
                    + (e[5] & 1)
                    + (e[6] & 1)
                    + (e[7] & 1);
            }
            valid += rest.iter().map(|&d| d & 1).sum::<u64>();
            counts.k4 += valid as usize;
            return;
        }
        for &desc in table {
            if desc & 1 == 0 {
                continue;
            }
            match level {
                _ if desc & DESC_TYPE_MASK == DESC_TABLE => {
                    self.count_leaves(self.table_at(desc & OA_MASK), level + 1, ENTRIES, counts)
                }
                2 => counts.m2 += 1,
                1 => counts.g1 += 1,
                _ => {}
            }
        }
    }

    /// The leaf covering `ipa`: its attributes and level, if mapped.
    pub fn lookup(&self, ipa: u64) -> Option<(Stage2Attributes, usize)> {
        let mut found = None;
        let _ = self.walk(
            &MemoryRegion::new(ipa as usize, ipa as usize + 1),
            &mut |_, d, level| {
                if d.is_valid() && (level == 3 || !d.is_table_or_page()) {
                    found = Some((d.flags(), level));
                }
                Ok(())
            },
        );
        found
    }

    /// aarch64-paging's `walk_range` over `region` with one callback type for every caller
    /// (each closure type would be another copy of the crate's recursive walk in the image).
    fn walk(&self, region: &MemoryRegion, f: &mut LeafVisitor<'_>) -> Result<(), MapError> {
        self.mapping
            .walk_range(region, &mut |mr, d, level| f(mr, d, level))
    }

    /// The level of the descriptor that ends the walk for `ipa` (a block, a page or an
    /// invalid entry), or `None` outside the IPA space.
    fn leaf_level(&self, ipa: u64) -> Option<usize> {
        self.leaf(ipa).map(|(_, level)| level)
    }

    /// The descriptor slot for `ipa` at `level` (1..=3), following table descriptors from
    /// the root, or `None` if a level above ends the walk (a block or an invalid entry) or
    /// `ipa` is outside the IPA space.
    ///
    /// A direct read of the tables, for the hot paths (one LEND or RECLAIM of a page): the
    /// crate's walk costs a callback per entry, and a fold check reads 512 of them. The
    /// tables are the pool's pages, reached through the pool's own translation; only this
    /// struct writes them, under the memory lock.
    fn slot(&self, ipa: u64, level: usize) -> Option<*mut u64> {
        if ipa >> self.geometry.ipa_bits != 0 || level < self.geometry.root_level {
            return None;
        }
        let mut table = self.table_at(self.root);
        let mut l = self.geometry.root_level;
        loop {
            let index = self.index(ipa, l);
            // SAFETY: `table` is a live table page of the pool (the root, or the target of
            // a table descriptor read below), 512 entries long, or the concatenated root;
            // `index` is inside it (`index`).
            let entry = unsafe { table.add(index) };
            if l == level {
                return Some(entry);
            }
            // SAFETY: as above; a volatile read because the MMU's walks share the page.
            let desc = unsafe { entry.read_volatile() };
            if l == 3 || desc & DESC_TYPE_MASK != DESC_TABLE {
                return None;
            }
            table = self.table_at(desc & OA_MASK);
            l += 1;
        }
    }

    /// The entry for `ipa` (inside the IPA space) in its table at `level`: at the root, IPA
    /// bits from the level's shift up to `ipa_bits` (across the 1024 entries of a
    /// concatenated pair: bits [39:30]), below it 9 bits.
    fn index(&self, ipa: u64, level: usize) -> usize {
        let index = (ipa >> (12 + 9 * (3 - level))) as usize;
        if level == self.geometry.root_level {
            index
        } else {
            index & (ENTRIES - 1)
        }
    }

    /// The address of the table page at physical address `pa` (a pool page).
    fn table_at(&self, pa: u64) -> *mut u64 {
        self.mapping
            .translation()
            .physical_to_virtual(PhysicalAddress(pa as usize))
            .as_ptr()
            .cast()
    }

    /// The table a table descriptor at `level` for `ipa` points to, if that entry is one.
    fn subtable(&self, ipa: u64, level: usize) -> Option<*mut u64> {
        let slot = self.slot(ipa, level)?;
        // SAFETY: `slot` is an entry of a live table page (see `slot`).
        let desc = unsafe { slot.read_volatile() };
        (desc & DESC_TYPE_MASK == DESC_TABLE).then(|| self.table_at(desc & OA_MASK))
    }

    /// The most table pages that [`unmap`](Self::unmap) of the `count` ranges `range(0)`,
    /// `range(1)`, ... (one after the other, as one LEND does) can take from the pool, given
    /// the tables as they are now. Empty ranges count nothing.
    ///
    /// Only the blocks a range cuts (overlaps without covering) are split, and those hold
    /// its first or its last page: for each such page inside a block at level L < 3, a new
    /// table for every block around it from level L down to 2 that the range does not cover
    /// whole. A table is counted once, at the first range end that needs it (two ends in one
    /// block share its table; both ends lie in the same block at every level down to the one
    /// they need, so no walk is needed for the earlier end). Unmapping only ever frees tables
    /// otherwise, and mapping back what was unmapped writes into the tables the split made,
    /// so this bounds the whole claim, its rollback included.
    ///
    /// At most 2 x `count` walks, plus a scan of the earlier ends for each table counted.
    pub fn tables_needed(&self, count: usize, range: &dyn Fn(usize) -> Range<u64>) -> usize {
        let end = |t: usize| {
            let r = range(t / 2);
            let page = if t.is_multiple_of(2) {
                r.start
            } else {
                r.end.wrapping_sub(1)
            };
            (r, page)
        };
        let cuts =
            |r: &Range<u64>, block: &Range<u64>| !(r.start <= block.start && block.end <= r.end);
        let mut needed = 0;
        for t in 0..2 * count {
            let (r, page) = end(t);
            if r.start >= r.end {
                continue;
            }
            let Some(leaf) = self.leaf_level(page) else {
                continue;
            };
            for level in leaf..3 {
                let start = page & !(block_size(level) - 1);
                let block = start..start.saturating_add(block_size(level));
                if !cuts(&r, &block) {
                    break;
                }
                let counted = (0..t).any(|u| {
                    let (q, other) = end(u);
                    q.start < q.end && block.contains(&other) && cuts(&q, &block)
                });
                if !counted {
                    needed += 1;
                }
            }
        }
        needed
    }

    /// Removes `range` (page-aligned host RAM) from the host's stage 2 (FFA_MEM_LEND).
    ///
    /// On live tables aarch64-paging refuses to split a valid block (that needs
    /// break-before-make), so each 1 GiB or 2 MiB block that `range` cuts is broken here:
    /// the whole block is made invalid (the crate issues `tlbi ipas2e1is` for it), the
    /// TLBs drop the host's entries with `flush_tlb` (`tlbi vmalls12e1is`, stage 1 and 2 of
    /// VMID 0, which the crate does not issue), and the block's other pages are mapped
    /// again, now as a table. A host CPU touching the block in between takes a stage-2
    /// fault that the trap handler retries ([`super::MemProtect::host_access`]). Then
    /// `range` itself is unmapped, and flushed again.
    ///
    /// The new tables come from the pool; the caller made sure it holds
    /// [`tables_needed`](Self::tables_needed) pages for the range first.
    pub fn unmap(
        &mut self,
        range: Range<u64>,
        flush_tlb: &mut impl FnMut(),
    ) -> Result<(), MapError> {
        let region = MemoryRegion::new(range.start as usize, range.end as usize);
        // The blocks that `range` cuts (not those it covers whole) hold its first or its last
        // page; after the first is rebuilt, the second lookup finds 4 KiB pages there.
        let mut inside_split = false;
        for addr in [range.start, range.end - 1] {
            let Some((desc, level)) = self.leaf(addr) else {
                continue;
            };
            let size = block_size(level);
            let (start, end) = (addr & !(size - 1), (addr & !(size - 1)) + size);
            if level == 3 || desc & 1 == 0 || (range.start <= start && end <= range.end) {
                continue;
            }
            if level == 2 && self.split_into_pages(start, &range, desc, flush_tlb) {
                // The new table already leaves `range`'s pages in this block out.
                inside_split |= start <= range.start && range.end <= end;
                continue;
            }
            let flags = Stage2Attributes::from_bits_retain((desc & !OA_MASK) as usize);
            let block = MemoryRegion::new(start as usize, end as usize);
            // Break.
            self.mapping.map_range(
                &block,
                PhysicalAddress(start as usize),
                Stage2Attributes::empty(),
                Constraints::empty(),
            )?;
            flush_tlb();
            // Make: the block's pages outside `range`, as a table.
            self.map_invalid(
                &[start..range.start.max(start), range.end.min(end)..end],
                flags,
            )?;
        }
        if inside_split {
            // Broken, flushed and made without `range`: nothing of it is left to remove. The
            // flush's barrier publishes the new table to the other CPUs' walks (and the
            // shared walker's) before the caller reports the change.
            flush_tlb();
            return Ok(());
        }
        // The output address is ignored for invalid entries, but aarch64-paging writes an
        // invalid block only where it is block-aligned; with 0 it would give every whole
        // block inside `range` a table of invalid pages instead.
        self.mapping.map_range(
            &region,
            PhysicalAddress(range.start as usize),
            Stage2Attributes::empty(),
            Constraints::empty(),
        )?;
        flush_tlb();
        Ok(())
    }

    /// The descriptor that ends the walk for `ipa` (a block, a page or an invalid entry)
    /// and its level, read directly; `None` outside the IPA space.
    fn leaf(&self, ipa: u64) -> Option<(u64, usize)> {
        if ipa >> self.geometry.ipa_bits != 0 {
            return None;
        }
        let mut table = self.table_at(self.root);
        let mut level = self.geometry.root_level;
        loop {
            let index = self.index(ipa, level);
            // SAFETY: `table` is a live table page of the pool (the root, or the target of
            // a table descriptor read here), 512 entries long, or the concatenated root;
            // `index` is inside it (`index`).
            let desc = unsafe { table.add(index).read_volatile() };
            if level == 3 || desc & DESC_TYPE_MASK != DESC_TABLE {
                return Some((desc, level));
            }
            table = self.table_at(desc & OA_MASK);
            level += 1;
        }
    }

    /// Splits the valid 2 MiB block descriptor `desc` at `start` into a table of 4 KiB
    /// pages that leaves `range` out, with break-before-make: the table is filled whole in a
    /// page taken from the pool (the one [`tables_needed`](Self::tables_needed) counted for
    /// this block) before anything can reach it, the block entry is made invalid,
    /// `flush_tlb` drops the host's cached entries and walks, then the entry points to the
    /// table. A host CPU touching the block in between takes a stage-2 fault that is
    /// retried ([`super::MemProtect::host_access`]). False, with nothing changed, if the
    /// pool is empty (not counted: the caller's slow path then fails as before).
    ///
    /// One pass of plain stores: aarch64-paging's `map_range` costs some 50 instructions
    /// per entry, and zeroes the page first.
    fn split_into_pages(
        &mut self,
        start: u64,
        range: &Range<u64>,
        desc: u64,
        flush_tlb: &mut impl FnMut(),
    ) -> bool {
        let Some(slot) = self.slot(start, 2) else {
            return false;
        };
        let Some(page) = self.mapping.translation().take() else {
            return false;
        };
        // SAFETY: `page` is a pool page just taken, so nothing else refers to it or can
        // reach it until the table descriptor below; 4 KiB, 8-byte aligned.
        let entries = unsafe { &mut *(page as *mut [u64; ENTRIES]) };
        let bits = (desc & !OA_MASK) | DESC_PAGE;
        let mut want = start | bits;
        // Eight entries a step (fewer loop instructions per entry).
        for eight in entries.as_chunks_mut::<8>().0 {
            *eight = [
                want,
                want + PAGE_SIZE,
                want + 2 * PAGE_SIZE,
                want + 3 * PAGE_SIZE,
                want + 4 * PAGE_SIZE,
                want + 5 * PAGE_SIZE,
                want + 6 * PAGE_SIZE,
                want + 7 * PAGE_SIZE,
            ];
            want += 8 * PAGE_SIZE;
        }
        let first = (range.start.max(start) - start) / PAGE_SIZE;
        let last = (range.end.min(start + block_size(2)) - start) / PAGE_SIZE;
        for entry in &mut entries[first as usize..last as usize] {
            *entry = 0;
        }
        // Break.
        // SAFETY: `slot` is an entry of a live table page (see `slot`); the memory lock
        // serialises every writer of the tables.
        unsafe { slot.write_volatile(0) };
        flush_tlb();
        // Make: the table (the flush's barrier ordered its stores before this one).
        // SAFETY: as above.
        unsafe { slot.write_volatile(page as u64 | DESC_TABLE) };
        true
    }

    /// Whether the table under the level-`level` entry for the block at `start` maps the
    /// whole block as one block at `level` would: every entry a valid leaf one level down,
    /// with the same attributes, onto consecutive output addresses from a block-aligned one.
    /// If so, the block's output address and attributes. One pass over the 512 entries,
    /// stopping at the first that differs.
    fn foldable(&self, start: u64, level: usize) -> Option<(usize, Stage2Attributes)> {
        let table = self.subtable(start, level)?;
        let leaf = if level + 1 == 3 {
            DESC_PAGE
        } else {
            DESC_BLOCK
        };
        let step = block_size(level + 1);
        // SAFETY: `table` is a live table page of the pool, 512 entries; only this struct
        // writes it, under the memory lock we hold, and the MMU only reads it (VTCR_EL2
        // enables no hardware update of the access or dirty state).
        let entries = unsafe { &*(table as *const [u64; ENTRIES]) };
        let first = entries[0];
        let base = first & OA_MASK;
        if first & DESC_TYPE_MASK != leaf || !base.is_multiple_of(block_size(level)) {
            return None;
        }
        // Eight entries a step: their differences from the expected descriptors OR-ed.
        let mut want = first;
        for e in entries.as_chunks::<8>().0 {
            let differs = (e[0] ^ want)
                | (e[1] ^ (want + step))
                | (e[2] ^ (want + 2 * step))
                | (e[3] ^ (want + 3 * step))
                | (e[4] ^ (want + 4 * step))
                | (e[5] ^ (want + 5 * step))
                | (e[6] ^ (want + 6 * step))
                | (e[7] ^ (want + 7 * step));
            if differs != 0 {
                return None;
            }
            want += 8 * step;
        }
        let flags = Stage2Attributes::from_bits_retain((first & !OA_MASK) as usize)
            - Stage2Attributes::TABLE_OR_PAGE;
        Some((base as usize, flags))
    }

    /// Maps `range` (page-aligned host RAM, unmapped by [`unmap`](Self::unmap)) back into
    /// the host's stage 2 as Normal memory (invalid to valid needs no break-before-make),
    /// then folds the tables around its ends back into blocks where it can
    /// (`fold`). Takes nothing from the pool: the unmap split every block the
    /// range cuts, and blocks it covered whole are written as blocks again.
    pub fn map_ram(
        &mut self,
        range: Range<u64>,
        flush_tlb: &mut impl FnMut(),
    ) -> Result<(), MapError> {
        let block = range.start & !(block_size(2) - 1);
        match self.subtable(block, 2) {
            // Inside one 2 MiB block mapped by a table (what a LEND of a few pages left):
            // the entries are written here, invalid to valid.
            Some(table) if range.end <= block + block_size(2) => {
                let first = ((range.start - block) / PAGE_SIZE) as usize;
                let last = ((range.end - block) / PAGE_SIZE) as usize;
                let bits = (S2_NORMAL | Stage2Attributes::TABLE_OR_PAGE).bits() as u64;
                for i in first..last.min(ENTRIES) {
                    let desc = (block + i as u64 * PAGE_SIZE) | (bits & !OA_MASK);
                    // SAFETY: `table` is the live level-3 table of this block (a pool page of
                    // 512 entries), `i` < 512; the memory lock serialises every writer.
                    unsafe { table.add(i).write_volatile(desc) };
                }
            }
            _ => self.map_invalid(core::slice::from_ref(&range), S2_NORMAL)?,
        }
        for page in [range.start, range.end - 1] {
            let block = page & !(block_size(2) - 1);
            let folded = self.fold(block, 2, flush_tlb);
            // The 1 GiB block can only fold once the page's 2 MiB block is one, and only
            // changes if that block just became one (folded, or written whole by this map):
            // otherwise it was checked when that happened.
            let whole = range.start <= block && block + block_size(2) <= range.end;
            if (folded || whole) && !self.boot_table_1g(page) && self.subtable(page, 1).is_some() {
                self.fold(page & !(block_size(1) - 1), 1, flush_tlb);
            }
        }
        Ok(())
    }

    /// Folds the table under the level-`level` entry for the block at `start` back into one
    /// block if its entries map the whole block as that block would: every entry a valid
    /// leaf one level down, with the same attributes, onto consecutive output addresses
    /// from a block-aligned one ([`foldable`](Self::foldable)). Otherwise leaves it.
    /// Whether it folded.
    ///
    /// Break-before-make, written here directly: the entry is made invalid, `flush_tlb`
    /// drops every cached translation and walk through it (`tlbi vmalls12e1is`: one
    /// broadcast, where aarch64-paging would issue one `tlbi ipas2e1is` per page), the block
    /// is written (the caller's barrier publishes it), and the table goes back to the pool. The freed page cannot be
    /// handed out again before the flush: the pool is only reached under the memory lock,
    /// which this change holds throughout. A host CPU touching the block in between takes a
    /// stage-2 fault that is retried, as for a split.
    fn fold(&mut self, start: u64, level: usize, flush_tlb: &mut impl FnMut()) -> bool {
        let Some((base, flags)) = self.foldable(start, level) else {
            return false;
        };
        let (Some(slot), Some(table)) = (self.slot(start, level), self.subtable(start, level))
        else {
            return false;
        };
        // Break: the entry invalid; the flush drops every cached walk through the table.
        // SAFETY: `slot` is an entry of a live table page (see `slot`); the memory lock
        // serialises every writer of the tables.
        unsafe { slot.write_volatile(0) };
        flush_tlb();
        // Make: the block, with the attributes its pages had.
        let block = base as u64 | (flags.bits() as u64 & !OA_MASK) | DESC_BLOCK;
        // SAFETY: as above.
        unsafe { slot.write_volatile(block) };
        // Nothing refers to the table now: no descriptor, no TLB entry (flushed above).
        self.mapping.translation().release(table as usize);
        true
    }

    /// Identity-maps `pieces` (currently invalid in the live tables) with `flags`.
    ///
    /// Invalid to valid needs neither break-before-make nor TLB invalidation (TLBs hold no
    /// invalid entries), but on live tables aarch64-paging invalidates every new 4 KiB leaf
    /// with a broadcast `tlbi ipas2e1is` (hundreds for the rest of a 2 MiB block, each of
    /// which stops every CPU under QEMU). So the writes are made with the crate's live
    /// checks off; the caller's barrier (`dsb ish`) publishes them.
    fn map_invalid(
        &mut self,
        pieces: &[Range<u64>],
        flags: Stage2Attributes,
    ) -> Result<(), MapError> {
        self.mapping.mark_inactive();
        let mut result = Ok(());
        for piece in pieces.iter().filter(|p| p.start < p.end) {
            let r = MemoryRegion::new(piece.start as usize, piece.end as usize);
            result = self.mapping.map_range(
                &r,
                PhysicalAddress(piece.start as usize),
                flags,
                Constraints::empty(),
            );
            if result.is_err() {
                break;
            }
        }
        self.mapping.mark_active();
        result
    }

    /// Marks the tables live: from now on aarch64-paging checks break-before-make rules.
    pub fn mark_active(&self) {
        self.mapping.mark_active();
    }
}

/// The live host stage 2 as [`super::MemProtect`] changes it: the tables plus the arch hook
/// that makes a change visible to every CPU. aarch64-paging issues `tlbi ipas2e1is` for
/// each entry it invalidates while live; `flush_tlb` drops all of the host's stage-1 and
/// stage-2 entries (`tlbi vmalls12e1is` with its barriers). [`HostStage2::unmap`] calls it
/// after each break and after the final unmap, a fold after its break, and a map back
/// once at the end, so the new entries are visible to the other CPUs' walks before the
/// caller reports success. A [`SharedWalker`] (the SMMU, which walks these same tables) is
/// invalidated, and waited for, after every flush but the map back's, which only publishes
/// new entries: so before a LEND returns, and the SPMC hears of it, no device can reach
/// its pages either.
pub struct LiveStage2 {
    tables: HostStage2,
    flush_tlb: fn(),
    walker: Option<Box<dyn SharedWalker>>,
}

/// Another agent that walks the host's stage-2 tables (an SMMU sharing them) and caches
/// their entries and walks as the CPUs' TLBs do.
pub trait SharedWalker: Send {
    /// Drops every cached entry and walk of the host's stage 2 and waits (bounded) until
    /// that is done. `Err`: not confirmed; the change that asked for it is undone.
    fn invalidate(&mut self) -> Result<(), Stage2Error>;
}

// SAFETY: the tables are only reached through the memory lock of `MemProtect`; the raw
// pointers inside aarch64-paging's mapping point into the table pool, valid on every CPU.
unsafe impl Send for LiveStage2 {}

impl LiveStage2 {
    /// The active tables `tables` and the TLB maintenance to run after a change.
    pub fn new(tables: HostStage2, flush_tlb: fn()) -> Self {
        LiveStage2 {
            tables,
            flush_tlb,
            walker: None,
        }
    }

    /// The same, with `walker` invalidated after every flush that removes entries.
    pub fn with_walker(mut self, walker: Box<dyn SharedWalker>) -> Self {
        self.walker = Some(walker);
        self
    }

    /// The tables.
    pub fn tables(&self) -> &HostStage2 {
        &self.tables
    }
}

impl Stage2Hook for LiveStage2 {
    fn unmap(&mut self, range: Range<u64>) -> Result<(), Stage2Error> {
        let (flush_tlb, walker) = (self.flush_tlb, &mut self.walker);
        let mut confirmed = true;
        let mut flush = || {
            flush_tlb();
            if let Some(w) = walker.as_mut() {
                confirmed &= w.invalidate().is_ok();
            }
        };
        let unmapped = self.tables.unmap(range.clone(), &mut flush);
        unmapped.map_err(|_| Stage2Error)?;
        if !confirmed {
            // A device may still reach the range: give it back to the host (which owns it
            // until the claim succeeds) and fail the claim.
            let _ = self.map(range);
            return Err(Stage2Error);
        }
        Ok(())
    }

    fn map(&mut self, range: Range<u64>) -> Result<(), Stage2Error> {
        let (flush_tlb, walker) = (self.flush_tlb, &mut self.walker);
        // Only a fold (a table freed) needs the walker: its failure cannot undo the fold,
        // and the walker that failed refuses every later claim.
        let mut flush = || {
            flush_tlb();
            if let Some(w) = walker.as_mut() {
                let _ = w.invalidate();
            }
        };
        let mapped = self
            .tables
            .map_ram(range, &mut flush)
            .map_err(|_| Stage2Error);
        // Invalid to valid needs no TLB maintenance; the barrier makes the entries visible
        // to the other CPUs' walks before the host hears SUCCESS.
        (self.flush_tlb)();
        mapped
    }

    fn tables_needed(&self, count: usize, range: &dyn Fn(usize) -> Range<u64>) -> usize {
        self.tables.tables_needed(count, range)
    }

    fn tables_free(&self) -> usize {
        self.tables.tables_free()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dt::SystemInfo;

    const QEMU_DTB: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-tfa-optee.dtb");

    fn qemu() -> (HostMap, HostStage2) {
        let info = SystemInfo::parse(QEMU_DTB).unwrap();
        let geometry = Geometry::from_parange(5); // 48-bit CPU, capped at 40 bits
        let map = HostMap::new(&info, &(0x6000_0000..0x6020_0000), geometry.ipa_bits);
        let s2 = HostStage2::build(&map, geometry).unwrap();
        (map, s2)
    }

    #[test]
    fn unmap_splits_live_blocks_with_break_before_make_and_map_restores() {
        let (_, mut s2) = qemu();
        s2.mark_active();
        let page = 0x4820_3000u64; // inside a 2 MiB block inside a 1 GiB block of RAM
        let before = s2.lookup(page).unwrap();
        let mut flushes = 0;
        s2.unmap(page..page + 0x2000, &mut || flushes += 1).unwrap();
        assert!(s2.lookup(page).is_none() && s2.lookup(page + 0x1000).is_none());
        // The neighbours keep their mapping, now 4 KiB pages, same attributes.
        assert_eq!(
            s2.lookup(page - 0x1000),
            Some((before.0 | Stage2Attributes::TABLE_OR_PAGE, 3))
        );
        assert_eq!(s2.lookup(page + 0x2000).map(|m| m.1), Some(3));
        // Far away: still the big block it was.
        assert_eq!(s2.lookup(0x7000_0000), Some(before));
        // One flush per broken block (the 2 MiB block was a 1 GiB block first) and one at the end.
        assert!(flushes >= 2, "{flushes}");
        s2.map_ram(page..page + 0x2000, &mut || ()).unwrap();
        // Every page of the block is mapped again: folded back into the 2 MiB block.
        assert_eq!(s2.lookup(page), Some(before));
        assert_eq!(
            s2.lookup(page + 0x1000).map(|m| m.0),
            s2.lookup(page - 0x1000).map(|m| m.0)
        );
        s2.mapping.mark_inactive(); // aarch64-paging refuses to drop live tables
    }

    /// The split writes the block's other 511 entries itself: every page of the block but
    /// the unmapped ones keeps its identity mapping and attributes, wherever the range
    /// starts and ends inside the block, and the reclaim folds it back.
    #[test]
    fn a_split_block_maps_every_other_page_as_before() {
        let (_, mut s2) = qemu();
        s2.mark_active();
        let block = 0x4840_0000u64;
        let before = s2.lookup(block).unwrap();
        for (first, pages) in [(0u64, 1u64), (511, 1), (7, 3), (1, 510), (200, 100)] {
            let range = block + first * 0x1000..block + (first + pages) * 0x1000;
            s2.unmap(range.clone(), &mut || ()).unwrap();
            let mut seen = 0;
            let region = MemoryRegion::new(block as usize, (block + 0x20_0000) as usize);
            s2.walk(&region, &mut |mr, d, level| {
                let addr = mr.start().0 as u64;
                if range.contains(&addr) {
                    assert!(!d.is_valid(), "{addr:#x} still mapped");
                } else {
                    assert_eq!(level, 3);
                    assert_eq!(d.output_address().0 as u64, addr, "identity at {addr:#x}");
                    assert_eq!(d.flags(), before.0 | Stage2Attributes::TABLE_OR_PAGE);
                }
                seen += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, 512);
            // Another page of the block unmapped meanwhile: the map back cannot fold, and the
            // pages it wrote read as the split's do.
            let other = if first == 0 { block + 0x1f_f000 } else { block };
            s2.unmap(other..other + 0x1000, &mut || ()).unwrap();
            s2.map_ram(range.clone(), &mut || ()).unwrap();
            for page in range.clone().step_by(0x1000) {
                assert_eq!(
                    s2.lookup(page),
                    Some((before.0 | Stage2Attributes::TABLE_OR_PAGE, 3)),
                    "{page:#x}"
                );
            }
            s2.map_ram(other..other + 0x1000, &mut || ()).unwrap();
            assert_eq!(
                s2.lookup(block + first * 0x1000),
                Some(before),
                "folded back"
            );
        }
        s2.mapping.mark_inactive();
    }

    #[test]
    fn vtcr_for_40_and_39_bits() {
        let g = Geometry::from_parange(5);
        assert_eq!((g.ipa_bits, g.root_level), (40, 0));
        // RES1 | PS=48-bit | SH0 inner | ORGN0/IRGN0 WB-WA | SL0=2 | T0SZ=24
        assert_eq!(g.vtcr(), 0x8005_3598);
        let g = Geometry::from_parange(1);
        assert_eq!((g.ipa_bits, g.root_level), (36, 1));
        assert_eq!(g.vtcr(), 0x8001_3540 | 28);
        // A 40-bit CPU (Cortex-A53): SL0 = 2 would be invalid, so level 1 with two
        // concatenated root tables: SL0 = 1, T0SZ = 24. A 42-bit CPU the same.
        let g = Geometry::from_parange(2);
        assert_eq!((g.ipa_bits, g.root_level, g.root_tables()), (40, 1, 2));
        assert_eq!(g.vtcr(), 0x8002_3540 | 24);
        let g = Geometry::from_parange(3);
        assert_eq!((g.ipa_bits, g.root_level, g.root_tables()), (40, 1, 2));
        assert_eq!(g.vtcr(), 0x8003_3540 | 24);
        // 36, 44 and 48 bits: one root table, as before.
        for (parange, bits, level, vtcr) in [
            (1, 36, 1, 0x8001_3540 | 28),
            (4, 40, 0, 0x8004_3598),
            (5, 40, 0, 0x8005_3598),
        ] {
            let g = Geometry::from_parange(parange);
            assert_eq!(
                (g.ipa_bits, g.root_level, g.root_tables()),
                (bits, level, 1)
            );
            assert_eq!(g.vtcr(), vtcr, "PARange {parange}");
        }
    }

    #[test]
    fn mixed_cores_get_a_geometry_every_core_can_walk() {
        const A53: u64 = 2; // 40 bits
        const A57_A72: u64 = 4; // 44 bits
        // Juno booted on its big cluster: the boot CPU's own PARange would give a level-0
        // root, which the A53s cannot walk.
        let boot_cpu_only = Geometry::from_parange(A57_A72);
        assert_eq!((boot_cpu_only.ipa_bits, boot_cpu_only.root_level), (40, 0));
        assert!(!boot_cpu_only.valid_for(A53));
        for boot in [A57_A72, A53] {
            let g = Geometry::for_system(boot, true);
            assert_eq!(g, Geometry::from_parange(A53));
            assert!(g.valid_for(A53) && g.valid_for(A57_A72));
            assert_eq!(g.vtcr() >> 16 & 7, 2, "PS = 40 bits");
        }
        // Homogeneous systems keep the boot CPU's PARange (up to the 40-bit cap).
        assert_eq!(Geometry::for_system(5, false), Geometry::from_parange(5));
        assert_eq!(Geometry::for_system(1, true), Geometry::from_parange(1));
        assert!(Geometry::from_parange(5).valid_for(5));
        assert!(!Geometry::from_parange(5).valid_for(3), "42 bits, level 0");
        assert!(
            !Geometry::from_parange(2).valid_for(1),
            "36 bits < 40-bit IPA"
        );
    }

    #[test]
    fn qemu_ram_uses_blocks_and_the_carveout_is_absent() {
        let (_, s2) = qemu();
        let counts = s2.block_counts();
        // RAM 0x4000_0000..0x8000_0000 minus 2 MiB at 0x6000_0000: all 2 MiB blocks.
        assert!(
            counts.k4 > 0,
            "MMIO around Secure RAM needs pages: {counts}"
        );
        assert!(counts.m2 >= 511, "RAM mapped with 2 MiB blocks: {counts}");
        assert!(counts.g1 >= 1, "high MMIO uses 1 GiB blocks: {counts}");
        assert!(s2.lookup(0x6000_0000).is_none(), "carve-out start mapped");
        assert!(s2.lookup(0x601f_f000).is_none(), "carve-out end mapped");
        let (attrs, level) = s2.lookup(0x4800_0000).expect("RAM mapped");
        assert_eq!(attrs & Stage2Attributes::XN, Stage2Attributes::empty());
        assert_eq!(level, 2, "RAM is a 2 MiB block");
        assert!(s2.table_pages() < 16, "{} table pages", s2.table_pages());
    }

    #[test]
    fn qemu_mmio_is_device_and_execute_never() {
        let (_, s2) = qemu();
        let (attrs, _) = s2.lookup(0x0900_0000).expect("UART mapped");
        assert!(attrs.contains(Stage2Attributes::XN));
        assert_eq!(
            attrs.bits() & (0xf << 2),
            Stage2Attributes::MEMATTR_DEVICE_nGnRE.bits(),
            "stage-2 Device-nGnRE"
        );
        assert!(s2.lookup(0x0e10_0000).is_none(), "Secure RAM mapped");
    }

    /// QEMU's map with a pool of `pages`, live.
    fn qemu_in(pages: usize) -> HostStage2 {
        let info = SystemInfo::parse(QEMU_DTB).unwrap();
        let geometry = Geometry::from_parange(5);
        let map = HostMap::new(&info, &(0x6000_0000..0x6020_0000), geometry.ipa_bits);
        let s2 = HostStage2::build_in(&map, geometry, pages).unwrap();
        s2.mark_active();
        s2
    }

    /// RAM in whole 1 GiB blocks (0x4000_0000..0xc000_0000), nothing else, live.
    fn gigabytes() -> HostStage2 {
        let map = HostMap {
            ram: alloc::vec![0x4000_0000..0xc000_0000],
            mmio: alloc::vec![],
            withheld: alloc::vec![],
        };
        let s2 = HostStage2::build_in(&map, Geometry::from_parange(5), 16).unwrap();
        s2.mark_active();
        s2
    }

    /// The 1 GiB regions whose boot map is a table (never foldable) are known from the
    /// build: QEMU's first GiB of RAM holds the carve-out and MMIO is below it; whole
    /// gigabytes of RAM are blocks, and stay foldable after a split.
    #[test]
    fn boot_tables_of_1g_are_recorded_at_build() {
        let (_, s2) = qemu();
        assert!(s2.boot_table_1g(0x4000_0000) && s2.boot_table_1g(0x0900_0000));
        assert!(!s2.boot_table_1g(0x0010_0000_0000), "no table beyond RAM");
        let mut s2 = gigabytes();
        assert!(!s2.boot_table_1g(0x4000_0000) && !s2.boot_table_1g(0x8000_0000));
        let boot = (s2.table_pages(), s2.block_counts());
        let page = 0x8000_0000u64 + 0x1234_5000;
        s2.unmap(page..page + 0x1000, &mut || ()).unwrap();
        assert!(!s2.boot_table_1g(page), "a split is not a boot table");
        s2.map_ram(page..page + 0x1000, &mut || ()).unwrap();
        assert_eq!(
            (s2.table_pages(), s2.block_counts()),
            boot,
            "folded to 1 GiB again"
        );
        s2.mapping.mark_inactive();
    }

    /// `unmap` of `r` after checking the pool covers its count; returns the pages it took.
    fn counted_unmap(s2: &mut HostStage2, r: Range<u64>) -> usize {
        let needed = s2.tables_needed(1, &|_| r.clone());
        assert!(needed <= s2.tables_free(), "{r:x?}: {needed} needed");
        let before = s2.table_pages();
        s2.unmap(r.clone(), &mut || ()).unwrap();
        let taken = s2.table_pages().saturating_sub(before);
        assert!(taken <= needed, "{r:x?}: took {taken}, counted {needed}");
        taken
    }

    fn release(s2: &mut HostStage2) {
        s2.mapping.mark_inactive(); // aarch64-paging refuses to drop live tables
    }

    #[test]
    fn the_worst_case_count_is_exact_for_simple_cuts_and_shared_blocks() {
        let mut s2 = qemu_in(32);
        const M: u64 = 0x20_0000;
        let p = 0x4820_3000u64;
        // One page in a 2 MiB block of a level-2 table: one table.
        assert_eq!(s2.tables_needed(1, &|_| p..p + 0x1000), 1);
        // A whole 2 MiB block: nothing to split; nor an empty range.
        assert_eq!(s2.tables_needed(1, &|_| 0x4820_0000..0x4820_0000 + M), 0);
        assert_eq!(s2.tables_needed(1, &|_| p..p), 0);
        // Across a 2 MiB boundary: both blocks; from a boundary into the next block: one.
        assert_eq!(s2.tables_needed(1, &|_| 0x483f_f000..0x4840_1000), 2);
        assert_eq!(s2.tables_needed(1, &|_| 0x4820_0000..0x4860_1000), 1);
        // Two ranges in one block share its table; in two blocks they do not.
        let same = [p..p + 0x1000, p + 0x5000..p + 0x6000];
        assert_eq!(s2.tables_needed(2, &|i| same[i].clone()), 1);
        let two = [p..p + 0x1000, p + M..p + M + 0x1000];
        assert_eq!(s2.tables_needed(2, &|i| two[i].clone()), 2);
        assert_eq!(counted_unmap(&mut s2, two[0].clone()), 1);
        // Already a table there: free; the other block still costs one.
        assert_eq!(s2.tables_needed(2, &|i| two[i].clone()), 1);
        assert_eq!(s2.tables_needed(1, &|_| p + 0x1000..p + 0x2000), 0);
        s2.map_ram(two[0].clone(), &mut || ()).unwrap();
        release(&mut s2);

        // A 1 GiB block: a level-2 table, then a level-3 table for the page's 2 MiB block.
        let mut g = gigabytes();
        let boot = g.table_pages();
        assert_eq!(g.lookup(0x4800_0000).map(|m| m.1), Some(1));
        assert_eq!(g.tables_needed(1, &|_| p..p + 0x1000), 2);
        // A 2 MiB-aligned cut of it: only the level-2 table.
        assert_eq!(g.tables_needed(1, &|_| 0x4820_0000..0x4860_0000), 1);
        // Both ends in one 1 GiB block, in two 2 MiB blocks: 1 + 2.
        assert_eq!(g.tables_needed(1, &|_| p..p + 3 * M), 3);
        assert_eq!(counted_unmap(&mut g, p..p + 3 * M), 3);
        g.map_ram(p..p + 3 * M, &mut || ()).unwrap();
        assert_eq!(g.table_pages(), boot, "folded back to the 1 GiB block");
        assert_eq!(g.lookup(0x4800_0000).map(|m| m.1), Some(1));
        release(&mut g);
    }

    #[test]
    fn folding_restores_the_block_mapping_once_every_page_is_back() {
        let mut s2 = qemu_in(32);
        let boot = (s2.table_pages(), s2.block_counts());
        let block = 0x4a00_0000u64;
        let before = s2.lookup(block).unwrap();
        assert_eq!(before.1, 2);
        let (a, b) = (
            block + 0x3000..block + 0x4000,
            block + 0x10_0000..block + 0x10_2000,
        );
        counted_unmap(&mut s2, a.clone());
        counted_unmap(&mut s2, b.clone());
        assert_eq!(s2.table_pages(), boot.0 + 1, "one table for the block");
        // One range back: the other still cuts the block, which stays a table.
        let mut flushes = 0;
        s2.map_ram(a.clone(), &mut || flushes += 1).unwrap();
        assert_eq!(flushes, 0, "nothing folded");
        assert_eq!(s2.lookup(a.start).map(|m| m.1), Some(3));
        assert!(s2.lookup(b.start).is_none());
        // The last one back: break (one flush), then the block, with the boot attributes.
        s2.map_ram(b.clone(), &mut || flushes += 1).unwrap();
        assert_eq!(flushes, 1, "the break before the block");
        for page in [block, a.start, b.start, block + 0x1f_f000] {
            assert_eq!(s2.lookup(page), Some(before), "{page:#x}");
        }
        assert_eq!((s2.table_pages(), s2.block_counts()), boot);
        // A table whose pages map differently is left alone: here a block that was a table
        // at boot (the UART's neighbourhood is not uniform).
        let tables = s2.table_pages();
        assert!(!s2.fold(0x0900_0000, 2, &mut || flushes += 1), "not folded");
        assert_eq!((s2.table_pages(), flushes), (tables, 1));
        release(&mut s2);
    }

    #[test]
    fn lend_reclaim_cycles_over_scattered_pages_leave_the_pool_where_it_started() {
        // Before the pool and the folding, every block a LEND cut kept its table: 200
        // distinct blocks left 200 table pages behind (the heap ran out at about 400).
        let mut s2 = qemu_in(64);
        let boot = (s2.table_pages(), s2.tables_free(), s2.block_counts());
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % n
        };
        let ram = |a: u64| {
            !(0x6000_0000..0x6020_0000).contains(&a) && (0x4000_0000..0x8000_0000).contains(&a)
        };
        let mut cycles = 0;
        while cycles < 2000 {
            // 1 to 4 ranges anywhere in RAM: mostly a few pages, sometimes up to 1 100 (whole
            // blocks); some across 2 MiB boundaries.
            let mut ranges: Vec<Range<u64>> = Vec::new();
            for _ in 0..next(4) + 1 {
                let start = 0x4000_0000 + next(0x4_0000) * 0x1000;
                let len = if next(8) == 0 { next(1100) } else { next(8) } + 1;
                let r = start..start + len * 0x1000;
                if ram(r.start)
                    && ram(r.end - 1)
                    && !(r.start < 0x6020_0000 && 0x6000_0000 < r.end)
                    && ranges.iter().all(|q| r.end <= q.start || q.end <= r.start)
                {
                    ranges.push(r);
                }
            }
            if ranges.is_empty() {
                continue;
            }
            let needed = s2.tables_needed(ranges.len(), &|i| ranges[i].clone());
            let before = s2.table_pages();
            for r in &ranges {
                s2.unmap(r.clone(), &mut || ()).unwrap();
            }
            assert!(s2.table_pages() - before <= needed, "{ranges:x?}");
            // Refused or reclaimed: every range back, in any order.
            if next(2) == 0 {
                ranges.reverse();
            }
            for r in &ranges {
                s2.map_ram(r.clone(), &mut || ()).unwrap();
            }
            assert_eq!(
                (s2.table_pages(), s2.tables_free()),
                (boot.0, boot.1),
                "cycle {cycles}: {ranges:x?}"
            );
            cycles += 1;
        }
        assert_eq!(s2.block_counts(), boot.2, "every block folded back");
        release(&mut s2);
    }

    #[test]
    fn a_pool_too_small_for_the_boot_map_is_a_build_error() {
        let info = SystemInfo::parse(QEMU_DTB).unwrap();
        let geometry = Geometry::from_parange(5);
        let map = HostMap::new(&info, &(0x6000_0000..0x6020_0000), geometry.ipa_bits);
        for pages in [0, 3, 8] {
            assert!(
                matches!(HostStage2::build_in(&map, geometry, pages), Err(BuildError::Pool(p)) if p == pages),
                "{pages}"
            );
        }
        let s2 = HostStage2::build(&map, geometry).unwrap();
        assert_eq!((s2.pool_pages(), s2.table_pages()), (STAGE2_TABLE_PAGES, 6));
    }

    /// The translation the hardware makes of `ipa` from `root` (VTTBR_EL2 or S2TTB) with
    /// `geometry`'s VTCR_EL2: T0SZ and SL0 only, the root index taking every IPA bit above
    /// the level's shift (concatenated tables included). The leaf's descriptor and level.
    fn hardware_walk(root: u64, geometry: Geometry, ipa: u64) -> Option<(u64, usize)> {
        let vtcr = geometry.vtcr();
        let ipa_bits = 64 - (vtcr & 0x3f) as u32;
        let mut level = match (vtcr >> 6) & 3 {
            2 => 0,
            1 => 1,
            _ => unreachable!(),
        };
        assert!(ipa >> ipa_bits == 0);
        let mut table = root;
        loop {
            let shift = 12 + 9 * (3 - level);
            let mut index = ipa >> shift;
            if table != root {
                index &= 511;
            }
            // SAFETY: tests run with the pool's pages identity-mapped (heap addresses).
            let desc = unsafe { ((table + index * 8) as *const u64).read() };
            if desc & 1 == 0 {
                return None;
            }
            if level == 3 || desc & 2 == 0 {
                return Some((desc, level));
            }
            table = desc & OA_MASK;
            level += 1;
        }
    }

    /// RAM and device memory on both sides of 2^39.
    fn both_halves() -> HostMap {
        HostMap {
            ram: alloc::vec![0x4000_0000..0x8000_0000, 0x80_4000_0000..0x80_8000_0000],
            mmio: alloc::vec![0x0900_0000..0x0900_1000, 0x80_0000_0000..0x80_4000_0000],
            withheld: alloc::vec![],
        }
    }

    /// A 40-bit CPU (Cortex-A53) gets a 40-bit IPA space with two concatenated level-1
    /// roots: the PCIe window at 2^39 is reachable, and what the hardware walks from the
    /// pair (VTTBR_EL2) is what the tables say.
    #[test]
    fn a_40_bit_cpu_gets_40_bits_with_concatenated_roots() {
        let geometry = Geometry::from_parange(2);
        let info = SystemInfo::parse(QEMU_DTB).unwrap();
        let map = HostMap::new(&info, &(0x6000_0000..0x6020_0000), geometry.ipa_bits);
        let s2 = HostStage2::build(&map, geometry).unwrap();
        let root = s2.root_address();
        assert_eq!(root % 0x2000, 0, "the pair is 8 KiB-aligned");
        let (ram, level) = s2.lookup(0x4800_0000).expect("RAM");
        assert_eq!(
            (ram & Stage2Attributes::XN, level),
            (Stage2Attributes::empty(), 2)
        );
        let both = HostStage2::build(&both_halves(), geometry).unwrap();
        let (pcie, level) = both.lookup(0x80_0000_0000).expect("PCIe window mapped");
        assert!(pcie.contains(Stage2Attributes::XN) && level == 1);
        for s2 in [&s2, &both] {
            for ipa in [
                0x0900_0000u64,
                0x4800_0000,
                0x6000_0000,
                0x7fff_f000,
                0x7f_ffff_f000,
                0x80_0000_0000,
                0x80_4000_1000,
                0x80_7fff_f000,
                0x80_8000_0000,
                0xff_ffff_f000,
            ] {
                let hw = hardware_walk(s2.root_address(), geometry, ipa);
                let sw = s2.lookup(ipa);
                assert_eq!(hw.map(|h| h.1), sw.map(|m| m.1), "{ipa:#x}");
                if let (Some((desc, level)), Some((flags, _))) = (hw, sw) {
                    let size = block_size(level);
                    assert_eq!(desc & OA_MASK, ipa & !(size - 1), "identity at {ipa:#x}");
                    assert_eq!(desc & !OA_MASK, flags.bits() as u64, "{ipa:#x}");
                }
            }
        }
        // The direct walks land in the same entries as the crate's: the pair's second page
        // holds 2^39..2^40.
        let upper = both.slot(0x80_4000_0000, 1).unwrap() as u64;
        assert_eq!(upper, both.root_address() + 0x1000 + 8);
    }

    /// LEND and RECLAIM (split, unmap, map back, fold) work in both halves of a
    /// concatenated root, and the hardware sees each step.
    #[test]
    fn lend_reclaim_and_fold_in_both_halves_of_a_concatenated_root() {
        let geometry = Geometry::from_parange(2);
        let mut s2 = HostStage2::build_in(&both_halves(), geometry, 32).unwrap();
        s2.mark_active();
        let boot = (s2.table_pages(), s2.block_counts());
        for page in [0x4820_3000u64, 0x80_4820_3000, 0x80_7fff_f000] {
            let before = s2.lookup(page).unwrap();
            let needed = s2.tables_needed(1, &|_| page..page + 0x1000);
            assert_eq!(needed, 2, "a 1 GiB block cut: two tables ({page:#x})");
            s2.unmap(page..page + 0x1000, &mut || ()).unwrap();
            assert!(s2.lookup(page).is_none());
            assert!(hardware_walk(s2.root_address(), geometry, page).is_none());
            let neighbour = page ^ 0x1000;
            assert_eq!(
                hardware_walk(s2.root_address(), geometry, neighbour).map(|h| h.1),
                Some(3),
                "{neighbour:#x} split to pages"
            );
            s2.map_ram(page..page + 0x1000, &mut || ()).unwrap();
            assert_eq!(s2.lookup(page), Some(before), "folded back at {page:#x}");
            assert_eq!((s2.table_pages(), s2.block_counts()), boot, "{page:#x}");
        }
        release(&mut s2);
    }

    /// The tables aarch64-paging's `map_range` builds for `map`, range by range, as the
    /// boot built them before [`HostStage2::fill`].
    fn build_with_crate(map: &HostMap, geometry: Geometry, pages: usize) -> HostStage2 {
        let (mut s2, _) = HostStage2::empty(geometry, pages).unwrap();
        for (ranges, attrs) in [(&map.ram, S2_NORMAL), (&map.mmio, S2_MMIO)] {
            for r in ranges {
                let region = MemoryRegion::new(r.start as usize, r.end as usize);
                let pa = PhysicalAddress(r.start as usize);
                s2.mapping
                    .map_range(&region, pa, attrs, Constraints::empty())
                    .unwrap();
            }
        }
        s2.record_boot_tables();
        s2
    }

    /// Compares two tables at `level` entry for entry, their subtables by content.
    fn same_tables(ta: u64, tb: u64, level: usize, n: usize) {
        for i in 0..n {
            // SAFETY: tests run with the pool's pages identity-mapped; both are table pages.
            let (da, db) = unsafe {
                (
                    ((ta + 8 * i as u64) as *const u64).read(),
                    ((tb + 8 * i as u64) as *const u64).read(),
                )
            };
            if level < 3 && da & 3 == DESC_TABLE && db & 3 == DESC_TABLE {
                same_tables(da & OA_MASK, db & OA_MASK, level + 1, ENTRIES);
            } else {
                assert_eq!(da, db, "entry {i} of a level-{level} table");
            }
        }
    }

    /// The direct build writes what aarch64-paging wrote, entry for entry, on every board's
    /// map and geometry, and on ranges that cut a block another range mapped first.
    #[test]
    fn the_direct_build_equals_the_crates() {
        let fixture = |dtb: &[u8], carve: Range<u64>, parange: u64| {
            let info = SystemInfo::parse(dtb).unwrap();
            let g = Geometry::for_system(parange, info.mixed_cpus());
            (HostMap::new(&info, &carve, g.ipa_bits), g)
        };
        const JUNO: &[u8] = include_bytes!("../../../tests/fixtures/juno-r2.dtb");
        const RDN2: &[u8] = include_bytes!("../../../tests/fixtures/rdn2-fvp.dtb");
        let carve = 0xe000_0000..0xe020_0000;
        let overlapping = HostMap {
            ram: alloc::vec![0x4000_0000..0x8000_0000, 0x80_4000_0000..0x80_8000_0000],
            mmio: alloc::vec![
                0x4000_1000..0x4000_3000,
                0x4020_0000..0x4080_0000,
                0x80_4000_0000..0x80_4000_1000
            ],
            withheld: alloc::vec![],
        };
        let cases = [
            fixture(QEMU_DTB, 0x6000_0000..0x6020_0000, 5),
            fixture(QEMU_DTB, 0x6000_0000..0x6020_0000, 2),
            fixture(QEMU_DTB, 0x6000_0000..0x6020_0000, 1),
            fixture(JUNO, carve.clone(), 4),
            fixture(RDN2, carve.clone(), 5),
            fixture(RDN2, carve, 3),
            (overlapping.clone(), Geometry::from_parange(2)),
            (overlapping, Geometry::from_parange(5)),
        ];
        for (map, g) in &cases {
            let direct = HostStage2::build_in(map, *g, 64).unwrap();
            let crate_built = build_with_crate(map, *g, 64);
            let n = ENTRIES * g.root_tables();
            same_tables(direct.root, crate_built.root, g.root_level, n);
            assert_eq!(direct.table_pages(), crate_built.table_pages(), "{g:?}");
            assert_eq!(direct.boot_tables_1g, crate_built.boot_tables_1g, "{g:?}");
            // The direct count agrees with the crate's walk.
            let mut walked = BlockCounts::default();
            let top = 1usize << g.ipa_bits;
            direct
                .walk(&MemoryRegion::new(0, top), &mut |_, d, level| {
                    if d.is_valid() && (level == 3 || !d.is_table_or_page()) {
                        match level {
                            1 => walked.g1 += 1,
                            2 => walked.m2 += 1,
                            _ => walked.k4 += 1,
                        }
                    }
                    Ok(())
                })
                .unwrap();
            assert_eq!(direct.block_counts(), walked, "{g:?}");
            assert_eq!(direct.boot_counts(), walked, "counted while built: {g:?}");
            assert!(walked.g1 + walked.m2 + walked.k4 > 0);
        }
    }
}
