//! Addresses: the one page size, physical addresses and the host's intermediate physical
//! addresses as distinct types, and page-range helpers.
//!
//! The host's stage 2 is an identity map, so an IPA the host names and the physical address
//! behind it are equal in value; the types keep apart "what the host said" from "what the
//! hypervisor checked", as Hafnium's `paddr_t`/`ipaddr_t` do. Conversions are explicit.

use core::fmt;
use core::ops::Range;

/// The granule of every mapping and of page ownership: 4 KiB.
pub const PAGE: u64 = 4096;

/// A physical address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct PhysAddr(pub u64);

/// An intermediate physical address in the host's stage 2 (what the host calls physical).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Ipa(pub u64);

impl PhysAddr {
    /// The address as a number.
    pub const fn bits(self) -> u64 {
        self.0
    }
    /// Whether the address is page-aligned.
    pub const fn is_page_aligned(self) -> bool {
        self.0.is_multiple_of(PAGE)
    }
}

impl Ipa {
    /// The address as a number.
    pub const fn bits(self) -> u64 {
        self.0
    }
    /// The physical address the host's identity stage 2 maps this IPA to.
    pub const fn identity(self) -> PhysAddr {
        PhysAddr(self.0)
    }
}

impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Display for Ipa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// `addr` rounded down to its page.
pub const fn page_down(addr: u64) -> u64 {
    addr & !(PAGE - 1)
}

/// `addr` rounded up to a page boundary, or `None` if that overflows.
pub const fn page_up(addr: u64) -> Option<u64> {
    match addr.checked_add(PAGE - 1) {
        Some(a) => Some(a & !(PAGE - 1)),
        None => None,
    }
}

/// The pages of `[base, base + pages * PAGE)`, or `None` if the range is unaligned or
/// wraps.
pub const fn page_range(base: u64, pages: u64) -> Option<Range<u64>> {
    if !base.is_multiple_of(PAGE) {
        return None;
    }
    match pages.checked_mul(PAGE) {
        Some(len) => match base.checked_add(len) {
            Some(end) => Some(base..end),
            None => None,
        },
        None => None,
    }
}

/// Whether `r` is non-empty and page-aligned at both ends.
pub const fn is_page_range(r: &Range<u64>) -> bool {
    r.start < r.end && r.start.is_multiple_of(PAGE) && r.end.is_multiple_of(PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_helpers() {
        assert_eq!(page_down(0x1fff), 0x1000);
        assert_eq!(page_up(0x1001), Some(0x2000));
        assert_eq!(page_up(u64::MAX), None);
        assert_eq!(page_range(0x1000, 2), Some(0x1000..0x3000));
        assert_eq!(page_range(0x1001, 1), None);
        assert_eq!(page_range(!(PAGE - 1), 2), None);
        assert!(is_page_range(&(0x1000..0x2000)));
        assert!(!is_page_range(&(0x1000..0x1000)));
        assert_eq!(Ipa(0x4000).identity(), PhysAddr(0x4000));
    }
}
