//! Where the kernel runs and where the host's DTB goes: pure, overflow-safe arithmetic
//! over RAM banks minus the ranges to avoid.
//!
//! Kernel (booting.rst: "The Image must be placed text_offset bytes from a 2MB aligned
//! base address anywhere in usable system RAM and called there ... At least image_size
//! bytes from the start of the image must be free for use by the kernel"):
//! * The kernel owns `[base + text_offset, + image_size)`; that range must be free RAM.
//!   The gap between `base` and the image start "has no special significance" and may be
//!   anything, even non-RAM.
//! * Flags bit 3 = 1 (Linux 4.6+): **boot in place** when the loader already put the
//!   Image at a valid spot; otherwise copy it to the lowest valid spot. The image must end
//!   below 2^48.
//! * Flags bit 3 = 0 (3.17-4.5): the base "should be as close as possible to the base of
//!   DRAM, since memory below it is not accessible via the linear mapping". We read that as:
//!   the base must be the *lowest* 2 MiB-aligned one whose image range is free RAM, i.e.
//!   nothing usable is wasted below it. In place is used only if it is that spot;
//!   otherwise the Image is copied down. The 2^48 limit is applied here too.
//! * A copy may overlap the kernel's own source bytes: the hypervisor must copy with
//!   memmove semantics (`core::ptr::copy`), which is safe because nothing else lives in
//!   the source range (it is checked against the carve-out, initrd and DTB) and the source
//!   is dead once copied. [`KernelLoad::Copy::overlaps_source`] says when it happens.
//!
//! DTB (booting.rst: 8-byte aligned, at most 2 MiB, not in a 2 MiB region needing special
//! attributes): written back in place when the patched blob fits in the original's
//! `totalsize` and the original is 8-byte aligned; otherwise moved to a whole free 2 MiB
//! block (so no other mapping attribute can share its 2 MiB region), preferably the first
//! one above the kernel image (old kernels only map memory above their base).

use alloc::vec::Vec;
use core::fmt;

use crate::{
    image::{ImageHeader, PhysPlacement},
    region::{Region, SZ_1G, SZ_2M, align_up, is_aligned},
};

/// Image end limit for both placement modes (booting.rst flag bit 3).
pub const PA_LIMIT: u64 = 1 << 48;
/// booting.rst: "The device tree blob (dtb) ... must not exceed 2 megabytes in size."
pub const MAX_DTB_SIZE: u64 = SZ_2M;
/// booting.rst: the initrd and the kernel Image within a 1 GiB-aligned window of 32 GiB.
pub const INITRD_WINDOW: u64 = 32 * SZ_1G;

/// Where the kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelPlacement {
    /// The 2 MiB-aligned base; `image.base - base == text_offset`.
    pub base: u64,
    /// `[base + text_offset, + image_size)`: the Image start (= entry point) and all the
    /// memory the kernel owns from there.
    pub image: Region,
    /// Whether the bytes must move first.
    pub load: KernelLoad,
}

/// What the hypervisor does with the kernel's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelLoad {
    /// Already at `image.base`.
    InPlace,
    /// Copy `from.size` bytes from `from.base` to `image.base` with memmove semantics,
    /// then clean the destination to the PoC and invalidate the I-cache.
    Copy {
        /// The kernel module as loaded.
        from: Region,
        /// Whether destination and source share bytes (so memcpy would be wrong).
        overlaps_source: bool,
    },
}

/// Where the patched DTB goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtbPlacement {
    /// Its address (x0 for the kernel).
    pub addr: u64,
    /// Its size (the patched blob's length).
    pub size: u64,
    /// True when it overwrites the original blob.
    pub in_place: bool,
}

/// Why nothing can be placed, or a layout is inconsistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlacementError {
    /// An input range whose end overflows 64 bits.
    Overflow {
        /// What it is.
        what: &'static str,
        /// The range.
        region: Region,
    },
    /// No valid base for the kernel.
    KernelDoesNotFit {
        /// Where the kernel module was loaded.
        module: u64,
        /// Bytes needed from the image start.
        image_size: u64,
        /// Offset from the 2 MiB base.
        text_offset: u64,
        /// Flag bit 3.
        placement: PhysPlacement,
        /// Largest free RAM range, for the message.
        largest_free: u64,
    },
    /// The firmware's or the patched DTB exceeds booting.rst's 2 MiB.
    DtbTooLarge {
        /// Its size.
        size: u64,
    },
    /// The patched DTB does not fit in place and no free 2 MiB block exists.
    DtbDoesNotFit {
        /// Its size.
        size: u64,
        /// The original blob.
        original: Region,
    },
    /// Kernel and initrd are not within one 1 GiB-aligned 32 GiB window.
    InitrdWindow {
        /// Kernel image range.
        kernel: Region,
        /// Initrd range.
        initrd: Region,
    },
    /// Something that must be in RAM is not.
    NotInRam {
        /// What it is.
        what: &'static str,
        /// The range.
        region: Region,
    },
    /// Two things that must be disjoint overlap.
    Overlap {
        /// First thing.
        what: &'static str,
        /// Its range.
        region: Region,
        /// Second thing.
        other: &'static str,
        /// Its range.
        other_region: Region,
    },
    /// The carve-out is empty or not a whole number of 4 KiB pages, so `no-map` cannot
    /// keep the host out of it page-exactly.
    CarveoutUnaligned {
        /// The carve-out.
        region: Region,
    },
}

impl core::error::Error for PlacementError {}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Overflow { what, region } => write!(f, "{what} {region} overflows 64 bits"),
            Self::KernelDoesNotFit {
                module,
                image_size,
                text_offset,
                placement,
                largest_free,
            } => write!(
                f,
                "kernel Image at {module:#x} does not fit: no 2 MiB-aligned base + text_offset {text_offset:#x} \
                 with {image_size:#x} bytes of free RAM{} (largest free range {largest_free:#x} \
                 bytes)",
                match placement {
                    PhysPlacement::Anywhere48Bit => " below 2^48",
                    PhysPlacement::NearDramStart => "",
                }
            ),
            Self::DtbTooLarge { size } => write!(
                f,
                "device tree of {size:#x} bytes exceeds booting.rst's 2 MiB limit"
            ),
            Self::DtbDoesNotFit { size, original } => write!(
                f,
                "patched device tree ({size:#x} bytes) does not fit in the original at \
                 {original} and no free 2 MiB block of RAM is left for it"
            ),
            Self::InitrdWindow { kernel, initrd } => write!(
                f,
                "initrd {initrd} and kernel Image {kernel} are not within one 1 GiB-aligned \
                 32 GiB window (booting.rst)"
            ),
            Self::NotInRam { what, region } => write!(f, "{what} {region} is not inside RAM"),
            Self::Overlap {
                what,
                region,
                other,
                other_region,
            } => write!(f, "{what} {region} overlaps {other} {other_region}"),
            Self::CarveoutUnaligned { region } => write!(
                f,
                "hypervisor carve-out {region} is empty or not 4 KiB-aligned"
            ),
        }
    }
}

/// Sorts `(start, end)` pairs: an insertion sort, because the lists are a few dozen
/// regions and `sort_unstable` would add several KiB of code to the firmware image.
fn sort_pairs(v: &mut [(u64, u64)]) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && v[j - 1] > v[j] {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Sorted, merged, non-empty `[start, end)` pairs; an overflowing range is an error.
fn normalize(regions: &[Region], what: &'static str) -> Result<Vec<(u64, u64)>, PlacementError> {
    let mut v = regions
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.end()
                .map(|e| (r.base, e))
                .ok_or(PlacementError::Overflow { what, region: *r })
        })
        .collect::<Result<Vec<_>, _>>()?;
    sort_pairs(&mut v);
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    Ok(out)
}

/// Free RAM: `ram` minus `avoid`, as sorted disjoint `[start, end)` pairs.
pub fn free_ram(ram: &[Region], avoid: &[Region]) -> Result<Vec<(u64, u64)>, PlacementError> {
    let ram = normalize(ram, "RAM bank")?;
    let avoid = normalize(avoid, "reserved range")?;
    let mut free = Vec::new();
    for (rs, re) in ram {
        let mut cur = rs;
        for &(a_start, a_end) in &avoid {
            if a_end <= cur || a_start >= re {
                continue;
            }
            if a_start > cur {
                free.push((cur, a_start));
            }
            cur = a_end;
            if cur >= re {
                break;
            }
        }
        if cur < re {
            free.push((cur, re));
        }
    }
    Ok(free)
}

/// True when `r` lies entirely inside (merged) RAM.
pub fn in_ram(ram: &[Region], r: &Region) -> Result<bool, PlacementError> {
    let Some(end) = r.end() else {
        return Ok(false);
    };
    Ok(normalize(ram, "RAM bank")?
        .iter()
        .any(|&(s, e)| r.base >= s && end <= e))
}

/// The lowest `start >= min` with `(start - offset) % align == 0`, `start >= offset` and
/// `[start, start + size)` inside one free range and below `limit`.
fn lowest_fit(
    free: &[(u64, u64)],
    size: u64,
    align: u64,
    offset: u64,
    min: u64,
    limit: u64,
) -> Option<u64> {
    free.iter().find_map(|&(fs, fe)| {
        let lo = fs.max(min);
        let base = match lo.checked_sub(offset) {
            Some(from) => align_up(from, align)?,
            None => 0,
        };
        let start = base.checked_add(offset)?;
        let end = start.checked_add(size)?;
        (end <= fe && end <= limit).then_some(start)
    })
}

/// Decide where the kernel runs (see the module doc for the policy).
///
/// `module` is where the loader put the Image; `avoid` lists everything that must stay
/// intact (carve-out, initrd, DTB, reserved memory) but not the module itself.
pub fn place_kernel(
    module: Region,
    header: &ImageHeader,
    ram: &[Region],
    avoid: &[Region],
) -> Result<KernelPlacement, PlacementError> {
    let free = free_ram(ram, avoid)?;
    let (text_offset, image_size) = (header.text_offset, header.image_size);
    let fits_free = |start: u64| {
        start
            .checked_add(image_size)
            .is_some_and(|end| end <= PA_LIMIT && free.iter().any(|&(s, e)| start >= s && end <= e))
    };
    let in_place = module
        .base
        .checked_sub(text_offset)
        .is_some_and(|base| is_aligned(base, SZ_2M) && fits_free(module.base));
    let lowest = lowest_fit(&free, image_size, SZ_2M, text_offset, 0, PA_LIMIT);
    let placement = header.flags.placement();
    let start = match placement {
        PhysPlacement::Anywhere48Bit if in_place => module.base,
        PhysPlacement::NearDramStart if in_place && lowest == Some(module.base) => module.base,
        _ => lowest.ok_or(PlacementError::KernelDoesNotFit {
            module: module.base,
            image_size,
            text_offset,
            placement,
            largest_free: free.iter().map(|&(s, e)| e - s).max().unwrap_or(0),
        })?,
    };
    let load = if start == module.base {
        KernelLoad::InPlace
    } else {
        KernelLoad::Copy {
            from: module,
            overlaps_source: Region::new(start, module.size).overlaps(&module),
        }
    };
    Ok(KernelPlacement {
        base: start - text_offset,
        image: Region::new(start, image_size),
        load,
    })
}

/// Decide where the patched DTB (`size` bytes) goes; `original` is the firmware's blob
/// (address and totalsize), `avoid` everything that must stay intact (including the
/// kernel's image range), `prefer_above` the kernel image end.
pub fn place_dtb(
    original: Region,
    size: u64,
    ram: &[Region],
    avoid: &[Region],
    prefer_above: u64,
) -> Result<DtbPlacement, PlacementError> {
    if size > MAX_DTB_SIZE {
        return Err(PlacementError::DtbTooLarge { size });
    }
    if size <= original.size && is_aligned(original.base, 8) {
        return Ok(DtbPlacement {
            addr: original.base,
            size,
            in_place: true,
        });
    }
    let free = free_ram(ram, avoid)?;
    let slot = lowest_fit(&free, SZ_2M, SZ_2M, 0, prefer_above, u64::MAX)
        .or_else(|| lowest_fit(&free, SZ_2M, SZ_2M, 0, 0, u64::MAX))
        .ok_or(PlacementError::DtbDoesNotFit { size, original })?;
    Ok(DtbPlacement {
        addr: slot,
        size,
        in_place: false,
    })
}

/// booting.rst: the initrd "must reside entirely within a 1 GB aligned physical memory
/// window of up to 32 GB in size that fully covers the kernel Image as well".
pub fn check_initrd_window(kernel: Region, initrd: Region) -> Result<(), PlacementError> {
    let err = PlacementError::InitrdWindow { kernel, initrd };
    let (Some(k_end), Some(i_end)) = (kernel.end(), initrd.end()) else {
        return Err(err);
    };
    let lo = kernel.base.min(initrd.base) & !(SZ_1G - 1);
    let hi = k_end.max(i_end);
    if hi - lo > INITRD_WINDOW {
        return Err(err);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{ImageHeader, tests::header};

    const RAM: [Region; 1] = [Region::new(0x4000_0000, 0x4000_0000)];
    const DTB: Region = Region::new(0x4000_0000, 0x10_0000);
    const HYP: Region = Region::new(0x6000_0000, 0x200_0000);
    const MODERN: u64 = 0b1010;

    fn hdr(text_offset: u64, image_size: u64, flags: u64) -> ImageHeader {
        ImageHeader::parse(&header(text_offset, image_size, flags), 0, 0x1000).unwrap()
    }

    #[test]
    fn aligned_free_kernel_boots_in_place() {
        let module = Region::new(0x4800_0000, 0x200_0000);
        let p = place_kernel(module, &hdr(0, 0x300_0000, MODERN), &RAM, &[DTB, HYP]).unwrap();
        assert_eq!(p.load, KernelLoad::InPlace);
        assert_eq!(p.base, 0x4800_0000);
        assert_eq!(p.image, Region::new(0x4800_0000, 0x300_0000));
    }

    #[test]
    fn text_offset_is_added_to_an_aligned_base() {
        let module = Region::new(0x4808_0000, 0x100_0000);
        let p = place_kernel(module, &hdr(0x8_0000, 0x200_0000, MODERN), &RAM, &[DTB]).unwrap();
        assert_eq!(p.load, KernelLoad::InPlace);
        assert_eq!(p.base, 0x4800_0000);
    }

    #[test]
    fn unaligned_load_address_needs_a_copy_to_the_lowest_free_base() {
        let module = Region::new(0x4810_0000, 0x100_0000);
        let p = place_kernel(module, &hdr(0, 0x200_0000, MODERN), &RAM, &[DTB, HYP]).unwrap();
        // DTB occupies the first MiB, so the first free 2 MiB-aligned base is 0x40200000.
        assert_eq!(p.image.base, 0x4020_0000);
        assert_eq!(
            p.load,
            KernelLoad::Copy {
                from: module,
                overlaps_source: false
            }
        );
    }

    #[test]
    fn copy_that_overlaps_its_source_is_flagged() {
        let ram = [Region::new(0x4000_0000, 0x80_0000)];
        let module = Region::new(0x4010_0000, 0x40_0000);
        let p = place_kernel(module, &hdr(0, 0x60_0000, MODERN), &ram, &[]).unwrap();
        assert_eq!(p.image.base, 0x4000_0000);
        assert_eq!(
            p.load,
            KernelLoad::Copy {
                from: module,
                overlaps_source: true
            }
        );
    }

    #[test]
    fn kernel_over_the_carve_out_is_moved() {
        // Loaded right below the hypervisor; image_size (with BSS) runs into it.
        let module = Region::new(0x5fe0_0000, 0x10_0000);
        let p = place_kernel(module, &hdr(0, 0x100_0000, MODERN), &RAM, &[DTB, HYP]).unwrap();
        assert!(!p.image.overlaps(&HYP));
        assert!(matches!(p.load, KernelLoad::Copy { .. }));
        assert_eq!(p.image.base, 0x4020_0000);
    }

    #[test]
    fn bit3_clear_moves_kernel_down_to_dram_start() {
        let module = Region::new(0x4808_0000, 0x100_0000);
        let p = place_kernel(module, &hdr(0x8_0000, 0x200_0000, 0), &RAM, &[]).unwrap();
        assert_eq!(p.base, 0x4000_0000);
        assert_eq!(p.image.base, 0x4008_0000);
        assert!(matches!(p.load, KernelLoad::Copy { .. }));
        // Already lowest: stays.
        let low = Region::new(0x4008_0000, 0x100_0000);
        let p = place_kernel(low, &hdr(0x8_0000, 0x200_0000, 0), &RAM, &[]).unwrap();
        assert_eq!(p.load, KernelLoad::InPlace);
    }

    #[test]
    fn bit3_set_keeps_a_valid_high_load_address() {
        let module = Region::new(0x7000_0000, 0x100_0000);
        let p = place_kernel(module, &hdr(0, 0x200_0000, MODERN), &RAM, &[]).unwrap();
        assert_eq!(p.load, KernelLoad::InPlace);
    }

    #[test]
    fn image_above_2_pow_48_is_moved_or_refused() {
        let ram = [Region::new(PA_LIMIT - 0x100_0000, 0x1000_0000)];
        let module = Region::new(PA_LIMIT - 0x100_0000, 0x10_0000);
        let err = place_kernel(module, &hdr(0, 0x200_0000, MODERN), &ram, &[]).unwrap_err();
        assert!(matches!(err, PlacementError::KernelDoesNotFit { .. }));
    }

    #[test]
    fn kernel_that_does_not_fit_is_an_error() {
        let ram = [Region::new(0x4000_0000, 0x400_0000)];
        let module = Region::new(0x4000_0000, 0x100_0000);
        let err = place_kernel(module, &hdr(0, 0x800_0000, MODERN), &ram, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel Image at 0x40000000 does not fit: no 2 MiB-aligned base + text_offset 0x0 \
             with 0x8000000 bytes of free RAM below 2^48 (largest free range 0x4000000 bytes)"
        );
    }

    #[test]
    fn fragmented_ram_is_searched_across_banks() {
        let ram = [
            Region::new(0x4000_0000, 0x100_0000),
            Region::new(0x8_8000_0000, 0x1000_0000),
        ];
        let module = Region::new(0x4000_0000, 0x80_0000);
        let p = place_kernel(module, &hdr(0, 0x400_0000, MODERN), &ram, &[]).unwrap();
        assert_eq!(p.image.base, 0x8_8000_0000);
    }

    #[test]
    fn adjacent_banks_merge() {
        let ram = [
            Region::new(0x4000_0000, 0x200_0000),
            Region::new(0x4200_0000, 0x200_0000),
        ];
        let module = Region::new(0x4000_0000, 0x10_0000);
        let p = place_kernel(module, &hdr(0, 0x300_0000, MODERN), &ram, &[]).unwrap();
        assert_eq!(p.load, KernelLoad::InPlace);
    }

    #[test]
    fn overflowing_reg_values_do_not_panic() {
        let hostile = [Region::new(u64::MAX - 0x1000, 0x10_0000)];
        let module = Region::new(0x4800_0000, 0x100_0000);
        let h = hdr(0, 0x200_0000, MODERN);
        assert!(matches!(
            place_kernel(module, &h, &hostile, &[]),
            Err(PlacementError::Overflow {
                what: "RAM bank",
                ..
            })
        ));
        assert!(matches!(
            place_kernel(module, &h, &RAM, &hostile),
            Err(PlacementError::Overflow {
                what: "reserved range",
                ..
            })
        ));
        // A module near the top of the address space: the image range cannot be formed.
        let top = Region::new(u64::MAX - 0xfff, 0x1000);
        let ram = [Region::new(0, u64::MAX)];
        let p = place_kernel(top, &h, &ram, &[]).unwrap();
        assert_eq!(p.image.base, 0);
        // Largest text_offset with an image_size that only just misses the 2^48 limit.
        let h = hdr(0x1f_f000, 0xffff_ffff_0000, MODERN);
        assert!(matches!(
            place_kernel(top, &h, &ram, &[]),
            Err(PlacementError::KernelDoesNotFit { .. })
        ));
    }

    #[test]
    fn lowest_fit_never_wraps() {
        let free = [(u64::MAX - 0x10_0000, u64::MAX)];
        assert_eq!(lowest_fit(&free, 0x1000, SZ_2M, 0, 0, u64::MAX), None);
        assert_eq!(lowest_fit(&free, u64::MAX, 1, 0, 0, u64::MAX), None);
    }

    #[test]
    fn dtb_stays_in_place_when_it_fits() {
        let d = place_dtb(DTB, 0x8000, &RAM, &[DTB, HYP], 0x4a00_0000).unwrap();
        assert_eq!(
            d,
            DtbPlacement {
                addr: DTB.base,
                size: 0x8000,
                in_place: true
            }
        );
    }

    #[test]
    fn grown_dtb_moves_to_a_free_2m_block_above_the_kernel() {
        let orig = Region::new(0x4000_0000, 0x1000);
        let kernel = Region::new(0x4800_0000, 0x300_0000);
        let d = place_dtb(orig, 0x1100, &RAM, &[orig, HYP, kernel], 0x4b00_0000).unwrap();
        assert_eq!(
            d,
            DtbPlacement {
                addr: 0x4b00_0000,
                size: 0x1100,
                in_place: false
            }
        );
    }

    #[test]
    fn oversized_dtb_is_refused() {
        assert_eq!(
            place_dtb(DTB, MAX_DTB_SIZE + 1, &RAM, &[], 0),
            Err(PlacementError::DtbTooLarge {
                size: MAX_DTB_SIZE + 1
            })
        );
    }

    #[test]
    fn initrd_window_is_checked() {
        let kernel = Region::new(0x4800_0000, 0x300_0000);
        assert!(check_initrd_window(kernel, Region::new(0x5800_0000, 0x80_0000)).is_ok());
        let far = Region::new(0x10_0000_0000, 0x1000);
        assert!(matches!(
            check_initrd_window(kernel, far),
            Err(PlacementError::InitrdWindow { .. })
        ));
        assert!(check_initrd_window(kernel, Region::new(u64::MAX, 2)).is_err());
    }

    #[test]
    fn free_ram_subtracts_overlapping_and_unsorted_ranges() {
        let avoid = [
            Region::new(0x4800_0000, 0x100_0000),
            Region::new(0x3000_0000, 0x1100_0000),
            Region::new(0x4880_0000, 0x100_0000),
            Region::new(0x7fff_f000, 0x10_0000),
        ];
        assert_eq!(
            free_ram(&RAM, &avoid).unwrap(),
            [(0x4100_0000, 0x4800_0000), (0x4980_0000, 0x7fff_f000)]
        );
    }
}
