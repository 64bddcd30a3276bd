//! Physical address ranges, with overflow-safe arithmetic.
//!
//! Every address in this crate comes from a device tree or an Image header, i.e. from
//! firmware or a user we do not trust to be sane, so nothing here may wrap or panic:
//! ends are computed with `checked_add` and a range whose end overflows 64 bits is
//! reported instead of silently wrapping to a small address.

use core::fmt;

/// 2 MiB: the kernel base alignment required by booting.rst, and our DTB slot size.
pub const SZ_2M: u64 = 2 << 20;
/// 1 GiB: the alignment of the initrd window in booting.rst.
pub const SZ_1G: u64 = 1 << 30;
/// 4 KiB: the smallest page the host can use; the carve-out must be a whole number of them.
pub const SZ_4K: u64 = 4 << 10;

/// A physical address range `[base, base + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region {
    /// First byte of the range.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Region {
    /// A range of `size` bytes starting at `base` (not checked: see [`Region::end`]).
    pub const fn new(base: u64, size: u64) -> Self {
        Self { base, size }
    }

    /// The exclusive end, or `None` when `base + size` does not fit in 64 bits.
    pub const fn end(&self) -> Option<u64> {
        self.base.checked_add(self.size)
    }

    /// True when the range has no bytes.
    pub const fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// True when the two ranges share at least one byte. Ranges whose end overflows
    /// are treated as reaching the top of the address space, so that a hostile value
    /// errs towards "overlaps" rather than towards "free".
    pub fn overlaps(&self, other: &Region) -> bool {
        if self.is_empty() || other.is_empty() {
            return false;
        }
        self.base < other.end_saturating() && other.base < self.end_saturating()
    }

    /// True when every byte of `inner` lies in `self`. Overflowing ranges contain nothing
    /// and are contained in nothing.
    pub fn contains(&self, inner: &Region) -> bool {
        match (self.end(), inner.end()) {
            (Some(end), Some(inner_end)) => inner.base >= self.base && inner_end <= end,
            _ => false,
        }
    }

    /// The end, clamped to `u64::MAX` (only for conservative overlap tests).
    pub(crate) const fn end_saturating(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end() {
            Some(end) => write!(f, "[{:#x}, {:#x})", self.base, end),
            None => write!(f, "[{:#x}, +{:#x} overflows)", self.base, self.size),
        }
    }
}

/// `value` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) const fn align_up(value: u64, align: u64) -> Option<u64> {
    let mask = align - 1;
    match value.checked_add(mask) {
        Some(v) => Some(v & !mask),
        None => None,
    }
}

/// True when `value` is a multiple of `align` (a power of two).
pub(crate) const fn is_aligned(value: u64, align: u64) -> bool {
    value & (align - 1) == 0
}

/// `value` in lowercase hex without leading zeros, as `{:x}` writes it, for the names this
/// crate builds (`hypervisor@<base>`): without `format!`, which would be the firmware's only
/// user of `alloc`'s formatting into a `String`.
pub(crate) fn hex(value: u64) -> alloc::string::String {
    let digits = (64 - value.leading_zeros()).div_ceil(4).max(1);
    (0..digits)
        .rev()
        .map(|i| char::from(b"0123456789abcdef"[((value >> (4 * i)) & 0xf) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_overflow_is_none_not_a_wrap() {
        assert_eq!(Region::new(u64::MAX, 2).end(), None);
        assert_eq!(Region::new(0x1000, 0x1000).end(), Some(0x2000));
    }

    #[test]
    fn overflowing_region_overlaps_everything_above_its_base() {
        let hostile = Region::new(0xffff_ffff_0000_0000, u64::MAX);
        assert!(hostile.overlaps(&Region::new(0xffff_ffff_8000_0000, 0x1000)));
        assert!(!hostile.overlaps(&Region::new(0x4000_0000, 0x1000)));
    }

    #[test]
    fn empty_regions_overlap_nothing() {
        assert!(!Region::new(0x1000, 0).overlaps(&Region::new(0, 0x10000)));
    }

    #[test]
    fn contains_rejects_overflowing_inner() {
        let ram = Region::new(0, u64::MAX);
        assert!(!ram.contains(&Region::new(1, u64::MAX)));
        assert!(ram.contains(&Region::new(1, 5)));
    }

    #[test]
    fn align_up_is_checked() {
        assert_eq!(align_up(1, SZ_2M), Some(SZ_2M));
        assert_eq!(align_up(SZ_2M, SZ_2M), Some(SZ_2M));
        assert_eq!(align_up(u64::MAX - 5, SZ_2M), None);
    }

    #[test]
    fn display_names_both_ends() {
        assert_eq!(
            Region::new(0x4000_0000, 0x1000).to_string(),
            "[0x40000000, 0x40001000)"
        );
        assert_eq!(
            Region::new(u64::MAX, 2).to_string(),
            "[0xffffffffffffffff, +0x2 overflows)"
        );
    }

    #[test]
    fn hex_is_what_format_writes() {
        for v in [0, 1, 0xf, 0x10, 0x6000_0000, 0xdead_beef_0000, u64::MAX] {
            assert_eq!(super::hex(v), alloc::format!("{v:x}"));
        }
    }
}
