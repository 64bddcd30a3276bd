//! The host's stage-2 translation: an identity map built with aarch64-paging's `Stage2`
//! regime from a [`HostMap`], with the largest blocks that fit (1 GiB, 2 MiB), plus the
//! VTCR_EL2 value that matches it.
//!
//! aarch64-paging cannot build concatenated root tables, so a 40-bit IPA space uses a
//! level-0 root (four-level walk) and anything of 39 bits or less a level-1 root. A level-0
//! start (VTCR_EL2.SL0 = 2 with 4 KiB pages) is only valid when PARange is at least 44 bits,
//! so CPUs with a 40- or 42-bit PARange (Cortex-A53) get a 39-bit IPA space. One VTCR_EL2
//! and one table serve every CPU: on big.LITTLE systems (Juno: Cortex-A57 or A72 with 44
//! bits, A53 with 40) the geometry must suit the smallest core, not just the boot CPU
//! ([`Geometry::for_system`]).

use core::fmt;
use core::ptr::NonNull;

use aarch64_paging::descriptor::{PhysicalAddress, Stage2Attributes};
use aarch64_paging::idmap::IdTranslation;
use aarch64_paging::paging::{Constraints, MemoryRegion, PageTable, Stage2, Translation};
use aarch64_paging::{MapError, Mapping};

use super::ownership::{Stage2Error, Stage2Hook};
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
    /// Level of the root table (0 or 1).
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
        let pa_bits = parange_bits(parange);
        // Level-0 start needs PARange >= 44 bits; below that, stay within a level-1 root.
        let ipa_bits = if pa_bits >= 44 {
            pa_bits.min(MAX_IPA_BITS)
        } else {
            pa_bits.min(39)
        };
        Self {
            ipa_bits,
            root_level: if ipa_bits > 39 { 0 } else { 1 },
            parange: (parange & 0xf).min(6),
        }
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
    /// physical address size covers the IPA space, and a level-0 start needs 44 bits.
    pub fn valid_for(&self, parange: u64) -> bool {
        let pa_bits = parange_bits(parange);
        pa_bits >= self.ipa_bits && (self.root_level != 0 || pa_bits >= 44)
    }

    /// VTCR_EL2: T0SZ, SL0 (start level), inner-shareable write-back walks, 4K granule,
    /// PS = PARange, 8-bit VMID (the host is VMID 0), RES1 bit 31.
    pub fn vtcr(&self) -> u64 {
        let t0sz = 64 - u64::from(self.ipa_bits);
        // With a 4K granule: SL0 = 2 starts at level 0, SL0 = 1 at level 1.
        let sl0 = if self.root_level == 0 { 2 } else { 1 };
        (1 << 31) | (self.parange << 16) | (3 << 12) | (1 << 10) | (1 << 8) | (sl0 << 6) | t0sz
    }
}

/// Identity translation that counts the table pages it hands out.
#[derive(Default)]
pub struct CountingTranslation {
    inner: IdTranslation<Stage2Attributes>,
    /// Table pages currently allocated.
    pub table_pages: usize,
}

impl Translation<Stage2Attributes> for CountingTranslation {
    fn allocate_table(&mut self) -> (NonNull<PageTable<Stage2Attributes>>, PhysicalAddress) {
        self.table_pages += 1;
        self.inner.allocate_table()
    }

    unsafe fn deallocate_table(&mut self, page_table: NonNull<PageTable<Stage2Attributes>>) {
        self.table_pages -= 1;
        // SAFETY: our caller guarantees `page_table` came from `allocate_table`, which
        // forwarded to `inner`.
        unsafe { self.inner.deallocate_table(page_table) }
    }

    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<Stage2Attributes>> {
        self.inner.physical_to_virtual(pa)
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

impl fmt::Display for BlockCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1G={} 2M={} 4K={}", self.g1, self.m2, self.k4)
    }
}

/// Why the stage-2 tables could not be built.
#[derive(Debug)]
pub struct BuildError {
    /// The range being mapped.
    pub range: core::ops::Range<u64>,
    /// aarch64-paging's reason.
    pub error: MapError,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot map {:#x}..{:#x} in the host stage-2: {}",
            self.range.start,
            self.range.end,
            crate::stage1::map_error_text(&self.error)
        )
    }
}

/// The host's stage-2 tables.
///
/// Never freed: once built they may be live (VTTBR_EL2 names them, or aarch64-paging has
/// been told they are active, and it panics when an active mapping is dropped). A boot that
/// fails after building them returns its error through values that own them; leaking a few
/// table pages on the way to power-off is the right outcome, a panic is not.
pub struct HostStage2 {
    mapping: core::mem::ManuallyDrop<Mapping<CountingTranslation, Stage2>>,
    geometry: Geometry,
}

impl HostStage2 {
    /// Builds the identity map of `map`: RAM as Normal, MMIO as Device, nothing else.
    pub fn build(map: &HostMap, geometry: Geometry) -> Result<Self, BuildError> {
        let mut mapping = core::mem::ManuallyDrop::new(Mapping::new(
            CountingTranslation::default(),
            geometry.root_level,
            Stage2,
        ));
        let mut add = |ranges: &[core::ops::Range<u64>], attrs| -> Result<(), BuildError> {
            for r in ranges {
                let region = MemoryRegion::new(r.start as usize, r.end as usize);
                mapping
                    .map_range(
                        &region,
                        PhysicalAddress(r.start as usize),
                        attrs,
                        Constraints::empty(),
                    )
                    .map_err(|error| BuildError {
                        range: r.clone(),
                        error,
                    })?;
            }
            Ok(())
        };
        add(&map.ram, S2_NORMAL)?;
        add(&map.mmio, S2_MMIO)?;
        Ok(Self { mapping, geometry })
    }

    /// Physical address of the root table, for VTTBR_EL2 (VMID 0).
    pub fn root_address(&self) -> u64 {
        self.mapping.root_address().0 as u64
    }

    /// The geometry the tables were built for.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Table pages in use.
    pub fn table_pages(&self) -> usize {
        self.mapping.translation().table_pages
    }

    /// Counts valid leaf descriptors by level over the whole IPA space.
    pub fn block_counts(&self) -> BlockCounts {
        let mut counts = BlockCounts::default();
        let top = 1usize << self.geometry.ipa_bits;
        let _ = self
            .mapping
            .walk_range(&MemoryRegion::new(0, top), &mut |_, d, level| {
                if d.is_valid() && (level == 3 || !d.is_table_or_page()) {
                    match level {
                        1 => counts.g1 += 1,
                        2 => counts.m2 += 1,
                        3 => counts.k4 += 1,
                        _ => {}
                    }
                }
                Ok(())
            });
        counts
    }

    /// The leaf covering `ipa`: its attributes and level, if mapped.
    pub fn lookup(&self, ipa: u64) -> Option<(Stage2Attributes, usize)> {
        let mut found = None;
        let _ = self.mapping.walk_range(
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

    /// Removes `range` (page-aligned host RAM) from the host's stage 2 (FFA_MEM_LEND).
    ///
    /// On live tables aarch64-paging refuses to split a valid block (that needs
    /// break-before-make), so each 1 GiB or 2 MiB block that `range` cuts is broken here:
    /// the whole block is made invalid (the crate issues `tlbi ipas2e1is` for it), the
    /// combined stage-1+2 TLB entries go with `flush_stage1` (`tlbi vmalle1is`, which the
    /// crate does not issue), and the block's other pages are mapped again, now as a table.
    /// A host CPU touching the block in between takes a stage-2 fault that the trap
    /// handler retries ([`super::MemProtect::host_access`]). Then `range` itself is
    /// unmapped, and flushed again.
    ///
    /// A table page that cannot be allocated panics inside aarch64-paging, so the caller
    /// keeps the number of live transactions bounded ([`crate::budget::MAX_TRANSACTIONS`]).
    pub fn unmap(
        &mut self,
        range: core::ops::Range<u64>,
        flush_stage1: &mut impl FnMut(),
    ) -> Result<(), MapError> {
        let region = MemoryRegion::new(range.start as usize, range.end as usize);
        // The blocks that `range` cuts (not those it covers whole) hold its first or its last
        // page; after the first is rebuilt, the second lookup finds 4 KiB pages there.
        for addr in [range.start, range.end - 1] {
            let Some((flags, level)) = self.lookup(addr) else {
                continue;
            };
            let size = 1u64 << (12 + 9 * (3 - level));
            let (start, end) = (addr & !(size - 1), (addr & !(size - 1)) + size);
            if level == 3 || (range.start <= start && end <= range.end) {
                continue;
            }
            let block = MemoryRegion::new(start as usize, end as usize);
            // Break.
            self.mapping.map_range(
                &block,
                PhysicalAddress(0),
                Stage2Attributes::empty(),
                Constraints::empty(),
            )?;
            flush_stage1();
            // Make: the block's pages outside `range`, as a table.
            self.map_invalid(
                &[start..range.start.max(start), range.end.min(end)..end],
                flags,
            )?;
        }
        self.mapping.map_range(
            &region,
            PhysicalAddress(0),
            Stage2Attributes::empty(),
            Constraints::empty(),
        )?;
        flush_stage1();
        Ok(())
    }

    /// Maps `range` (page-aligned host RAM, unmapped by [`unmap`](Self::unmap)) back into
    /// the host's stage 2 as Normal memory. Invalid to valid needs no break-before-make.
    pub fn map_ram(&mut self, range: core::ops::Range<u64>) -> Result<(), MapError> {
        self.map_invalid(&[range], S2_NORMAL)
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
        pieces: &[core::ops::Range<u64>],
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
/// each entry it invalidates; `flush_tlb` drops the host's combined stage-1+2 entries
/// (`tlbi vmalle1is` with its barriers). [`HostStage2::unmap`] calls it after each break
/// and after the final unmap, and a map back calls it once, so the new entries are visible
/// to the other CPUs' walks before the caller reports success.
pub struct LiveStage2 {
    tables: HostStage2,
    flush_tlb: fn(),
}

// SAFETY: the tables are only reached through the memory lock of `MemProtect`; the raw
// pointers inside aarch64-paging's mapping point into the hypervisor heap, valid on every
// CPU.
unsafe impl Send for LiveStage2 {}

impl LiveStage2 {
    /// The active tables `tables` and the TLB maintenance to run after a change.
    pub fn new(tables: HostStage2, flush_tlb: fn()) -> Self {
        LiveStage2 { tables, flush_tlb }
    }
}

impl Stage2Hook for LiveStage2 {
    fn unmap(&mut self, range: core::ops::Range<u64>) -> Result<(), Stage2Error> {
        self.tables
            .unmap(range, &mut self.flush_tlb)
            .map_err(|_| Stage2Error)
    }

    fn map(&mut self, range: core::ops::Range<u64>) -> Result<(), Stage2Error> {
        let mapped = self.tables.map_ram(range).map_err(|_| Stage2Error);
        // Invalid to valid needs no TLB maintenance; the barrier makes the entries visible
        // to the other CPUs' walks before the host hears SUCCESS.
        (self.flush_tlb)();
        mapped
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
        s2.map_ram(page..page + 0x2000).unwrap();
        assert_eq!(s2.lookup(page).map(|m| m.1), Some(3));
        assert_eq!(
            s2.lookup(page + 0x1000).map(|m| m.0),
            s2.lookup(page - 0x1000).map(|m| m.0)
        );
        s2.mapping.mark_inactive(); // aarch64-paging refuses to drop live tables
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
        // A 40-bit CPU (Cortex-A53): SL0 = 2 would be invalid, so 39 bits, level 1.
        let g = Geometry::from_parange(2);
        assert_eq!((g.ipa_bits, g.root_level), (39, 1));
        assert_eq!(g.vtcr(), 0x8002_3540 | 25);
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
            "36 bits < 39-bit IPA"
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
}
