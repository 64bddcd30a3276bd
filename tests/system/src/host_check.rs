//! Reading what the initramfs prints between `HOST-CHECK-BEGIN` and `HOST-CHECK-END`
//! (ci/mkinitramfs.sh), shared by the Linux boot tests.

use std::time::Duration;

use crate::Qemu;

/// Waits for `HOST-CHECK-END` (its begin marker must already have been matched) and returns
/// the text between the two markers.
pub fn check_block(qemu: &mut Qemu, timeout: Duration) -> String {
    let end = qemu
        .expect(r"HOST-CHECK-END", timeout)
        .unwrap_or_else(|e| panic!("the initramfs checks did not finish: {e}"));
    let output = qemu.output();
    let begin = output
        .find("HOST-CHECK-BEGIN")
        .unwrap_or_else(|| panic!("no HOST-CHECK-BEGIN before HOST-CHECK-END"));
    output[begin..end.start].to_string()
}

/// The hypervisor's carve-out `[start, end)` is not the host's RAM: no `System RAM` range of
/// `/proc/iomem` touches it, and Linux reserved exactly it (the hypervisor's
/// `/reserved-memory` no-map node).
pub fn assert_carve_out_not_host_ram(block: &str, (start, end): (u64, u64)) {
    let ram = iomem_ranges(block, "System RAM");
    assert!(
        !ram.is_empty(),
        "no System RAM lines in /proc/iomem:\n{block}"
    );
    for (r_start, r_end) in &ram {
        assert!(
            *r_end <= start || *r_start >= end,
            "System RAM {r_start:#x}-{r_end:#x} overlaps the carve-out {start:#x}-{end:#x}:\n{block}"
        );
    }
    assert!(
        iomem_ranges(block, "reserved").contains(&(start, end)),
        "the carve-out {start:#x}-{end:#x} is not a reserved range:\n{block}"
    );
}

/// The virtio-rng PCI device (`ci/qemu.sh --rng`) works through the hypervisor's SMMU: the
/// host's PCI bus has it bound to virtio-pci, the kernel's current hwrng is virtio-rng, and 64
/// bytes read from `/dev/hwrng` (which the device wrote by DMA, translated by the SMMU over
/// the host's stage 2) arrived and are not all zero; `/proc/interrupts` names the device's
/// interrupt (`virtio0`: INTx, while the ITS is withheld and MSIs cannot be had).
pub fn assert_virtio_rng_works(block: &str) {
    let line = |key: &str| {
        block
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    let pci = line("pci: ");
    assert!(
        pci.iter().any(
            |l| (l.contains(" 0x1af4:0x1005 ") || l.contains(" 0x1af4:0x1044 "))
                && l.ends_with("driver=virtio-pci")
        ),
        "no virtio-rng PCI device bound to virtio-pci:\n{block}"
    );
    assert!(
        line("hwrng-current: ")
            .first()
            .is_some_and(|c| c.starts_with("virtio_rng")),
        "the current hwrng is not virtio-rng:\n{block}"
    );
    let bytes = line("hwrng-bytes: ").first().copied().unwrap_or_default();
    assert!(
        bytes.len() == 128 && bytes.bytes().all(|b| b.is_ascii_hexdigit()),
        "not 64 bytes from /dev/hwrng: {bytes:?}\n{block}"
    );
    assert!(
        bytes.bytes().any(|b| b != b'0'),
        "64 zero bytes from /dev/hwrng (the device's DMA did not arrive):\n{block}"
    );
    assert!(
        line("interrupts: ").iter().any(|l| l.contains("virtio")),
        "no virtio interrupt in /proc/interrupts:\n{block}"
    );
}

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
