//! Reading what the initramfs prints between `HOST-CHECK-BEGIN` and `HOST-CHECK-END`
//! (ci/mkinitramfs.sh), shared by the Linux boot tests.

/// A hex number as the console prints it (with or without `0x`); panics with the text.
pub fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("not a hex number {s:?}: {e}"))
}

/// `/proc/iomem` top-level lines named `name`, as inclusive-exclusive ranges.
pub fn iomem_ranges(block: &str, name: &str) -> Vec<(u64, u64)> {
    block
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("iomem: "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| {
            let (range, what) = l.split_once(" : ")?;
            let (start, end) = range.split_once('-')?;
            (what.trim() == name).then(|| (hex(start), hex(end) + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iomem_top_level_ranges_are_read_exclusive() {
        let block = "iomem: 40000000-5fffffff : System RAM\n\
                     iomem:   4a510000-4a8dffff : reserved\n\
                     iomem: 60000000-601fffff : reserved\r\n";
        assert_eq!(
            iomem_ranges(block, "System RAM"),
            [(0x4000_0000, 0x6000_0000)]
        );
        assert_eq!(
            iomem_ranges(block, "reserved"),
            [(0x6000_0000, 0x6020_0000)]
        );
    }
}
