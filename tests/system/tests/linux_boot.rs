//! The Linux host boot: Debian's arm64 kernel and the project's initramfs, booted by the
//! hypervisor at EL1 on the full stack (TF-A, OP-TEE as SPMC, the hypervisor as BL33).
//!
//! The initramfs sees `autotest` on its command line, prints its facts between
//! `HOST-CHECK-BEGIN` and `HOST-CHECK-END` (CPUs online, `/proc/iomem`, FF-A and TEE
//! devices) and powers off. Needs the manifest's `flash`, `linux_dtb`, `linux_image` and
//! `initrd` (`make test`). Console: `build/logs/linux_boots_as_host.log`.

use std::time::Duration;

use system_tests::artifacts::Linux;
use system_tests::host_check::{assert_carve_out_not_host_ram, check_block, hex};
use system_tests::{Qemu, QemuArgs};

/// TF-A + OP-TEE + hypervisor to the hypervisor's last line.
const HYP_TIMEOUT: Duration = Duration::from_secs(60);
/// Linux to user space with four CPUs under TCG (about 5 s here; CI machines are slower).
const LINUX_TIMEOUT: Duration = Duration::from_secs(180);
/// From `HOST-CHECK-END` to QEMU's exit (PSCI SYSTEM_OFF through TF-A's GPIO power-off).
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn linux_boots_as_host() {
    let images = Linux::load();
    let mut args = QemuArgs::new(&images.flash, &images.dtb, &images.image);
    args.initrd = Some(images.initrd.clone());
    let mut qemu = Qemu::spawn("linux_boots_as_host", &args).unwrap_or_else(|e| panic!("{e}"));

    // The hypervisor: its carve-out, then the hand-over to the host at EL1.
    let carve = qemu
        .expect(r"hyp: carve-out (0x[0-9a-f]+)-(0x[0-9a-f]+) ", HYP_TIMEOUT)
        .unwrap_or_else(|e| panic!("no carve-out line from the hypervisor: {e}"));
    let (carve_start, carve_end) = (
        hex(carve.groups[0].as_deref().unwrap_or_default()),
        hex(carve.groups[1].as_deref().unwrap_or_default()),
    );
    assert!(carve_start < carve_end, "empty carve-out {:?}", carve.text);
    // The FF-A proxy is in the path: every FF-A call Linux makes goes through it.
    qemu.expect(r"hyp: FF-A: proxy on, SPMC v1\.2", HYP_TIMEOUT)
        .unwrap_or_else(|e| panic!("the FF-A proxy is not on: {e}"));
    qemu.expect(r"hyp: entering host at EL1 pc=0x[0-9a-f]+", HYP_TIMEOUT)
        .unwrap_or_else(|e| panic!("the hypervisor did not enter the host: {e}"));

    // The kernel's own view: booted at EL1 on four CPUs, FF-A v1.2, OP-TEE up.
    let markers = [
        r"CPU: All CPU\(s\) started at EL1",
        r"SMP: Total of 4 processors activated",
        r"ARM FF-A: Firmware version 1\.2 found",
        r"optee: initialized driver",
        r"HOST-CHECK-BEGIN",
    ];
    if let Err(e) = qemu.expect_all(&markers, LINUX_TIMEOUT) {
        panic!("Linux did not come up as expected: {e}");
    }
    let block = &check_block(&mut qemu, LINUX_TIMEOUT);

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

    // The carve-out is not the host's RAM: no System RAM range touches it, and Linux
    // reserved exactly it (the hypervisor's /reserved-memory no-map node).
    assert_carve_out_not_host_ram(block, (carve_start, carve_end));

    // A clean power-off: the kernel's, then QEMU's exit status.
    qemu.expect(r"reboot: Power down", EXIT_TIMEOUT)
        .unwrap_or_else(|e| panic!("no power-off: {e}"));
    let status = qemu
        .wait_exit(EXIT_TIMEOUT)
        .unwrap_or_else(|e| panic!("after power-off: {e}"));
    assert!(status.success(), "QEMU exited with {status}, want 0");

    let output = qemu.output();
    // The proxy's audit at SYSTEM_OFF: Linux's calls went through it (partition discovery
    // into the host's RX, memory shared with OP-TEE) and none was rejected.
    let audit = |what: &str| {
        output
            .lines()
            .find(|l| l.starts_with("hyp: FF-A audit: ") && l.contains(what))
            .unwrap_or_else(|| {
                panic!(
                    "no FF-A audit line for {what}; log: {}",
                    qemu.log_path().display()
                )
            })
            .trim_end()
            .to_string()
    };
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
    for bad in [
        "hyp: ERROR",
        "hyp: WARN",
        "Unable to handle kernel",
        "Internal error",
        "Kernel panic",
    ] {
        assert!(
            !output.contains(bad),
            "console has {bad:?}; log: {}",
            qemu.log_path().display()
        );
    }
}
