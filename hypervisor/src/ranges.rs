//! Small helpers on physical address ranges shared by the boot-time modules.

use core::ops::Range;

/// Sorts `ranges` by start address, stably (equal starts keep their order).
///
/// An insertion sort: the lists sorted at boot (RAM banks, reserved regions, withheld MMIO)
/// hold a handful to a few hundred ranges, and one small non-generic function here replaces
/// a full `slice::sort_by_key` instantiation (several KiB of code) per call site.
pub fn sort_by_start(ranges: &mut [Range<u64>]) {
    for i in 1..ranges.len() {
        let mut j = i;
        while j > 0 && ranges[j - 1].start > ranges[j].start {
            ranges.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Sorts addresses in ascending order: an insertion sort, for the same reason as
/// [`sort_by_start`] (`sort_unstable` on `u64` alone brought about 2.5 KiB of code).
pub fn sort_addresses(addresses: &mut [u64]) {
    for i in 1..addresses.len() {
        let mut j = i;
        while j > 0 && addresses[j - 1] > addresses[j] {
            addresses.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn sorts_addresses_as_the_standard_sort_does() {
        let mut v = [7u64, 3, 3, 0x1_0000_0000, 0, 5];
        let mut expected = v;
        expected.sort_unstable();
        sort_addresses(&mut v);
        assert_eq!(v, expected);
        sort_addresses(&mut []);
    }

    #[test]
    fn sorts_by_start_and_keeps_equal_starts_in_order() {
        let mut v = [5..6, 1..9, 3..4, 1..2, 0..1];
        sort_by_start(&mut v);
        assert_eq!(v, [0..1, 1..9, 1..2, 3..4, 5..6]);
        let mut empty: Vec<Range<u64>> = Vec::new();
        sort_by_start(&mut empty);
        assert!(empty.is_empty());
    }

    #[test]
    fn agrees_with_the_standard_stable_sort() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        for len in 0..40 {
            let mut v: Vec<Range<u64>> = (0..len)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 8)..i
                })
                .collect();
            let mut expected = v.clone();
            expected.sort_by_key(|r| r.start);
            sort_by_start(&mut v);
            assert_eq!(v, expected);
        }
    }
}
