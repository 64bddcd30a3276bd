//! The Linux host boot: Debian's arm64 kernel and the project's initramfs, booted by the
//! hypervisor at EL1 on the full stack (TF-A, OP-TEE as SPMC, the hypervisor as BL33).
//!
//! The machine has QEMU's SMMUv3 in front of the PCIe root complex (every configuration does)
//! and a virtio-rng PCI device behind it (`ci/qemu.sh --rng`): the hypervisor owns the SMMU
//! and translates the host's DMA through the host's stage 2.
//!
//! The initramfs sees `autotest` on its command line, prints its facts between
//! `HOST-CHECK-BEGIN` and `HOST-CHECK-END` (CPUs online, `/proc/iomem`, FF-A and TEE
//! devices, the PCI devices, 64 bytes from `/dev/hwrng`, `/proc/interrupts`) and powers off. Needs the manifest's `flash`, `linux_dtb`, `linux_image` and
//! `initrd` (`make test`). Console: `build/logs/linux_boots_as_host.log`.

use std::time::Duration;

use system_tests::artifacts::Linux;
use system_tests::boot::audit_line;
use system_tests::host_check::{
    assert_carve_out_not_host_ram, assert_virtio_rng_works, check_block,
};
use system_tests::{Boot, QemuArgs};

/// TF-A + OP-TEE + hypervisor to the hypervisor's last line.
const HYP_TIMEOUT: Duration = Duration::from_secs(60);
/// Linux to user space with four CPUs under TCG (about 5 s here; CI machines are slower).
const LINUX_TIMEOUT: Duration = Duration::from_secs(180);
/// From `HOST-CHECK-END` to QEMU's exit (PSCI SYSTEM_OFF through TF-A's GPIO power-off).
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn linux_boots_as_host() {
    let images = Linux::load();
    let args = QemuArgs::new(&images.flash, &images.dtb, &images.image)
        .with_initrd(&images.initrd)
        .with_rng();
    let mut boot = Boot::start("linux_boots_as_host", &args);

    // The hypervisor: its carve-out (not empty), then the hand-over to the host at EL1.
    let carve_out = boot.carve_out(HYP_TIMEOUT);
    // It owns the SMMU: every stream of the root complex translated by the host's stage 2.
    boot.expect(
        r"hyp: smmu at 0x9050000: 2048 streams \(2048 translated, 2-level table\), stage 2 shared",
        HYP_TIMEOUT,
        "no SMMU boot line",
    );
    // The FF-A proxy is in the path: every FF-A call Linux makes goes through it.
    boot.proxy_on(HYP_TIMEOUT);
    boot.entered_host(HYP_TIMEOUT);

    // The kernel's own view: booted at EL1 on four CPUs, FF-A v1.2, OP-TEE up.
    let markers = [
        r"CPU: All CPU\(s\) started at EL1",
        r"SMP: Total of 4 processors activated",
        r"ARM FF-A: Firmware version 1\.2 found",
        r"optee: initialized driver",
        r"HOST-CHECK-BEGIN",
    ];
    boot.expect_all(&markers, LINUX_TIMEOUT, "Linux did not come up as expected");
    let block = &check_block(boot.qemu(), LINUX_TIMEOUT);

    assert!(
        block.contains("cpu-online: 0-3"),
        "four CPUs online in the host; check block:\n{block}"
    );
    assert!(
        block.contains("ffa-devices: arm-ffa-"),
        "FF-A partitions probed:\n{block}"
    );
    assert!(
        block.contains("/dev/tee0"),
        "OP-TEE device present:\n{block}"
    );

    // The virtio-rng device's DMA went through the SMMU and arrived.
    assert_virtio_rng_works(block);

    // The carve-out is not the host's RAM: no System RAM range touches it, and Linux
    // reserved exactly it (the hypervisor's /reserved-memory no-map node).
    assert_carve_out_not_host_ram(block, carve_out);

    // A clean power-off: the kernel's, then QEMU's exit status.
    boot.linux_powered_off(EXIT_TIMEOUT);

    let output = boot.output();
    let log = boot.log();
    // The proxy's audit at SYSTEM_OFF: Linux's calls went through it (partition discovery
    // into the host's RX, memory shared with OP-TEE) and none was rejected.
    let audit = |what: &str| audit_line(&output, what, &log);
    let total = audit("total:");
    assert!(total.contains(" rejected 0 "), "{total}");
    for (abi, counted) in [
        ("FFA_RXTX_MAP ", "emulated 1 "),
        ("FFA_PARTITION_INFO_GET ", "forwarded 2 "),
        ("FFA_RX_RELEASE ", "emulated 1 "),
    ] {
        let line = audit(abi);
        assert!(line.contains(counted), "{line}: want {counted}");
    }
    let share = audit("FFA_MEM_SHARE ");
    assert!(
        !share.contains("forwarded 0 "),
        "OP-TEE got no shared memory: {share}"
    );
    // No SMMU event (a fault of the device's DMA would be a `smmu:` line) and no warning.
    boot.assert_console_lacks(&[
        "smmu:",
        "hyp: ERROR",
        "hyp: WARN",
        "Unable to handle kernel",
        "Internal error",
        "Kernel panic",
    ]);
}
