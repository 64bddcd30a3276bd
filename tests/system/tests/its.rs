//! Linux with the GICv3 ITS emulated and a PCI device behind the hypervisor's SMMUv3: the
//! ITS driver probes through the trapped control frame and the shadowed command queue, the
//! device's MSIs arrive, and the hypervisor refuses nothing Linux does.
//!
//! The machine is QEMU virt with `-machine iommu=smmuv3` (the PCIe root complex stays the
//! host's, its DMA translated by the SMMU) and a `virtio-serial-pci` with one `virtconsole`
//! port: the built-in virtio console driver takes MSI-X vectors from the ITS at probe and
//! the device raises them while the driver adds its port. The initramfs is built from this
//! tree's `ci/mkinitramfs.sh` (its check block lists `/proc/interrupts`; cached by the
//! script's key, a few seconds otherwise) and the DTB dumped for this machine at test time
//! (`QEMU_IOMMU=smmuv3 ci/mkdtb.sh`, about a second), with the manifest's `flash` and
//! `linux_image`. Console: `build/logs/linux_its_msi.log`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use system_tests::artifacts::Linux;
use system_tests::host_check::check_block;
use system_tests::{Boot, QemuArgs, repo_root};

/// TF-A + OP-TEE + hypervisor to the hypervisor's last line.
const HYP_TIMEOUT: Duration = Duration::from_secs(60);
/// Linux to user space with four CPUs under TCG.
const LINUX_TIMEOUT: Duration = Duration::from_secs(180);
/// From `HOST-CHECK-END` to QEMU's exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The initramfs of this tree's `ci/mkinitramfs.sh`.
fn initramfs() -> PathBuf {
    let out = repo_root().join("build/linux-its.cpio.gz");
    let status = Command::new("bash")
        .current_dir(repo_root())
        .arg("ci/mkinitramfs.sh")
        .arg(&out)
        .status()
        .expect("ci/mkinitramfs.sh runs");
    assert!(status.success(), "ci/mkinitramfs.sh failed: {status}");
    out
}

/// The Linux DTB for QEMU virt with an SMMUv3, four CPUs.
fn smmu_dtb(images: &Linux) -> PathBuf {
    let out = repo_root().join("build/linux-its-smmuv3.dtb");
    let status = Command::new("bash")
        .current_dir(repo_root())
        .env("QEMU_IOMMU", "smmuv3")
        .env("QEMU_SMP", "4")
        .arg("ci/mkdtb.sh")
        .arg(&images.flash)
        .arg(&images.image)
        .arg(&images.initrd)
        .arg("console=ttyAMA0 autotest")
        .arg(&out)
        .status()
        .expect("ci/mkdtb.sh runs");
    assert!(status.success(), "ci/mkdtb.sh failed: {status}");
    out
}

/// The MSI counts of `/proc/interrupts` lines (`interrupts: ` in the check block) whose
/// controller is the ITS: the sum over CPUs, per line.
fn its_msi_counts(block: &str) -> Vec<(u64, String)> {
    block
        .lines()
        .filter_map(|l| l.strip_prefix("interrupts: "))
        .filter(|l| l.contains("ITS-"))
        .map(|l| {
            let counts: u64 = l
                .split_whitespace()
                .skip(1)
                .map_while(|w| w.parse::<u64>().ok())
                .sum();
            (counts, l.to_string())
        })
        .collect()
}

#[test]
fn linux_its_msi() {
    let mut images = Linux::load();
    images.initrd = initramfs();
    let dtb = smmu_dtb(&images);
    let mut args = QemuArgs::new(&images.flash, &dtb, &images.image).with_initrd(&images.initrd);
    args.extra = [
        "-machine",
        "iommu=smmuv3",
        "-device",
        "virtio-serial-pci",
        "-chardev",
        "null,id=its-vc0",
        "-device",
        "virtconsole,chardev=its-vc0",
    ]
    .map(String::from)
    .to_vec();
    let mut boot = Boot::start("linux_its_msi", &args);
    boot.expect(
        r"hyp: DMA: emulated /intc@8000000/its@8080000 \(GICv3 ITS\)",
        HYP_TIMEOUT,
        "the ITS is not emulated",
    );
    boot.expect(
        r"hyp: ITS /intc@8000000/its@8080000 at 0x8080000: control frame trapped, command queue shadowed",
        HYP_TIMEOUT,
        "the ITS was not taken over",
    );
    boot.entered_host(HYP_TIMEOUT);
    boot.expect_all(
        &[
            r"ITS@0x0000000008080000: allocated \d+ Devices @[0-9a-f]+ \(flat",
            r"ITS@0x0000000008080000: allocated \d+ Interrupt Collections",
            r"CPU: All CPU\(s\) started at EL1",
            r"HOST-CHECK-BEGIN",
        ],
        LINUX_TIMEOUT,
        "Linux did not probe the ITS",
    );
    let block = &check_block(boot.qemu(), LINUX_TIMEOUT);
    let msis = its_msi_counts(block);
    assert!(
        !msis.is_empty(),
        "no ITS MSI in /proc/interrupts; check block:\n{block}"
    );
    assert!(
        msis.iter().any(|(n, _)| *n > 0),
        "no ITS MSI ever arrived: {msis:#?}"
    );
    boot.linux_powered_off(EXIT_TIMEOUT);

    let output = boot.output();
    let log = boot.log();
    let its = output
        .lines()
        .find(|l| l.starts_with("hyp: GIC audit: ITS 0x8080000:"))
        .unwrap_or_else(|| panic!("no ITS audit line; log: {log}"));
    assert!(its.contains("commands refused 0,"), "{its}");
    boot.assert_console_lacks(&[
        "hyp: ERROR",
        "hyp: WARN",
        "Unable to handle kernel",
        "Internal error",
        "Kernel panic",
        "ITS queue timeout",
        "doesn't stick",
    ]);
}
