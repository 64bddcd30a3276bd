//! The hypervisor's own EL2 stage-1 identity map, built with aarch64-paging's `El2` regime
//! once the device tree is known: code read-only and executable, everything else
//! execute-never, RAM as Normal memory, the console as Device memory.

use aarch64_paging::MapError;
use aarch64_paging::descriptor::El23Attributes;
use aarch64_paging::idmap::IdMap;
use aarch64_paging::paging::{El2, MemoryRegion};

use crate::dt::PhysRange;

/// What went wrong in a mapping, in words: the boot's error lines print this rather than
/// the error's `Debug`, whose derive and core's pretty-printer would cost the image a few KiB.
pub fn map_error_text(e: &MapError) -> &'static str {
    match e {
        MapError::AddressRange(_) => "address out of range",
        MapError::InvalidVirtualAddress(_) => "invalid virtual address",
        MapError::RegionBackwards(_) => "region ends before it starts",
        MapError::PteUpdateFault(_) => "page table entry update failed",
        MapError::InvalidFlags(_) => "unsupported attributes",
        MapError::BreakBeforeMakeViolation(_) => "break-before-make violation",
    }
}

/// MAIR_EL2 (same as the bootstrap map in `entry.S`): 0 = Device-nGnRnE,
/// 1 = Device-nGnRE, 2 = Normal write-back.
pub const MAIR: u64 = 0x0000_0000_00ff_0400;

const NORMAL: El23Attributes = El23Attributes::VALID
    .union(El23Attributes::ATTRIBUTE_INDEX_2)
    .union(El23Attributes::INNER_SHAREABLE)
    .union(El23Attributes::USER_RES1)
    .union(El23Attributes::ACCESSED);
/// Hypervisor code.
pub const CODE: El23Attributes = NORMAL.union(El23Attributes::READ_ONLY);
/// Read-only data.
pub const RODATA: El23Attributes = NORMAL
    .union(El23Attributes::READ_ONLY)
    .union(El23Attributes::XN);
/// Data, stacks, heap, and host RAM the hypervisor reads and writes (loading the kernel,
/// patching the DT).
pub const DATA: El23Attributes = NORMAL.union(El23Attributes::XN);
/// MMIO.
pub const DEVICE: El23Attributes = El23Attributes::VALID
    .union(El23Attributes::ATTRIBUTE_INDEX_0)
    .union(El23Attributes::USER_RES1)
    .union(El23Attributes::ACCESSED)
    .union(El23Attributes::XN);

/// Level of the root table: level 1 with TCR_EL2.T0SZ = 25, a 39-bit VA space.
pub const ROOT_LEVEL: usize = 1;

/// Where things are in the carve-out.
#[derive(Clone, Debug)]
pub struct ImageLayout {
    /// The whole carve-out.
    pub carveout: PhysRange,
    /// End of code (start of read-only data).
    pub text_end: u64,
    /// End of read-only data (start of data, BSS, heap).
    pub rodata_end: u64,
}

/// Builds the map: carve-out by section, `ram` (outside the carve-out) as data,
/// `devices` as Device memory.
pub fn build(
    layout: &ImageLayout,
    ram: &[PhysRange],
    devices: &[PhysRange],
) -> Result<IdMap<El2>, MapError> {
    let mut map = IdMap::new(ROOT_LEVEL, El2);
    let region = |r: &PhysRange| MemoryRegion::new(r.start as usize, r.end as usize);
    for r in ram {
        map.map_range(&region(r), DATA)?;
    }
    for r in devices {
        map.map_range(&region(r), DEVICE)?;
    }
    let c = &layout.carveout;
    map.map_range(&region(&(c.start..layout.text_end)), CODE)?;
    map.map_range(&region(&(layout.text_end..layout.rodata_end)), RODATA)?;
    map.map_range(&region(&(layout.rodata_end..c.end)), DATA)?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carveout_sections_get_their_permissions() {
        let layout = ImageLayout {
            carveout: 0x6000_0000..0x6020_0000,
            text_end: 0x6001_0000,
            rodata_end: 0x6001_8000,
        };
        let map = build(
            &layout,
            &[0x4000_0000..0x6000_0000, 0x6020_0000..0x8000_0000],
            &[0x0900_0000..0x0900_1000],
        )
        .unwrap();
        let mut seen = alloc::vec::Vec::new();
        map.walk_range(
            &MemoryRegion::new(0x6000_0000, 0x6002_0000),
            &mut |r, d, _| {
                if d.is_valid() {
                    seen.push((r.start().0, d.flags()));
                }
                Ok(())
            },
        )
        .unwrap();
        let at = |a: usize| seen.iter().rev().find(|(s, _)| *s <= a).unwrap().1;
        assert!(
            !at(0x6000_0000).contains(El23Attributes::XN),
            "code executable"
        );
        assert!(
            at(0x6000_0000).contains(El23Attributes::READ_ONLY),
            "code read-only"
        );
        assert!(at(0x6001_0000).contains(El23Attributes::XN), "rodata XN");
        assert!(
            !at(0x6001_8000).contains(El23Attributes::READ_ONLY),
            "data writable"
        );
        assert!(at(0x6001_8000).contains(El23Attributes::XN), "data XN");
    }
}
