//! The hypervisor on a GICv4 (QEMU virt `gic-version=4`): each redistributor has a VLPI frame
//! whose `GICR_VPROPBASER`/`GICR_VPENDBASER` would make the GIC read and write vPE tables, so
//! the hypervisor traps that page, reads it as zero and ignores writes (one boot line says
//! so); the ITS's vPE table register reads as unimplemented.
//!
//! - `payload_on_gicv4`: the payload's `gicr-tables` case also points both vPE registers at the
//!   carve-out, `VPENDBASER` with Valid, and reads back zero (the hypervisor names the Valid
//!   write on one line); every other case passes as on a GICv3.
//! - `linux_on_gicv4`: Linux sees a GICv4 redistributor, probes the ITS through the emulation
//!   (device and collection tables, no vPE table), reaches user space with its virtio-rng
//!   PCI device behind the SMMU and powers off, with no hypervisor warning.
//!
//! One CPU only: the test stack's TF-A is built without `GIC_ENABLE_V4_EXTN`, walks the
//! redistributors 128 KiB apart and hangs looking for a second CPU's (256 KiB apart on a
//! GICv4). The DTBs are dumped for this machine at test time (`QEMU_GIC=4 ci/mkdtb.sh`, about a
//! second) with the manifest's `flash`, `payload_image`, `linux_image` and `initrd`. Consoles:
//! `build/logs/payload_on_gicv4.log`, `build/logs/linux_on_gicv4.log`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use system_tests::artifacts::Manifest;
use system_tests::boot::assert_no_problem_lines;
use system_tests::host_check::check_block;
use system_tests::{Boot, QemuArgs, repo_root};

/// TF-A + OP-TEE + hypervisor to the host's entry under TCG.
const HYP_TIMEOUT: Duration = Duration::from_secs(60);
/// The payload's cases.
const CASES_TIMEOUT: Duration = Duration::from_secs(180);
/// Linux to user space with one CPU under TCG.
const LINUX_TIMEOUT: Duration = Duration::from_secs(240);
/// From the last line to QEMU's exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// The payload's probes of the carve-out, its refused FF-A calls and the table bases its
/// `gicr-tables` and `its-lpi` cases point at the carve-out (as in `tests/payload.rs`).
const PAYLOAD_WARNINGS: [&str; 4] = [
    r"^hyp: WARN: ffa: ",
    r"^hyp: WARN: host (data|instruction) abort at IPA 0x[0-9a-f]+ ",
    r"^hyp: WARN: redistributor 0x[0-9a-f]+: ",
    r"^hyp: WARN: ITS: ",
];
/// The VLPI frame's boot line on QEMU's one-redistributor machine.
const VLPI_LINE: &str =
    r"hyp: GICv4: 1 VLPI frames: GICR_VPROPBASER/VPENDBASER read as zero, writes ignored";

/// QEMU's DTB for `gic-version=4`, one CPU, with `kernel` (and `initrd`) as boot modules.
fn gicv4_dtb(
    name: &str,
    flash: &Path,
    kernel: &Path,
    initrd: Option<&Path>,
    args: &str,
) -> PathBuf {
    let out = repo_root().join(format!("build/{name}.dtb"));
    let status = Command::new("bash")
        .current_dir(repo_root())
        .env("QEMU_GIC", "4")
        .env("QEMU_SMP", "1")
        .arg("ci/mkdtb.sh")
        .arg(flash)
        .arg(kernel)
        .arg(initrd.map_or_else(|| PathBuf::from("-"), Path::to_path_buf))
        .arg(args)
        .arg(&out)
        .status()
        .expect("ci/mkdtb.sh runs");
    assert!(status.success(), "ci/mkdtb.sh failed: {status}");
    out
}

#[test]
fn payload_on_gicv4() {
    let m = Manifest::load();
    let (flash, image) = (m.require("flash"), m.require("payload_image"));
    let dtb = gicv4_dtb(
        "payload-gicv4",
        &flash,
        &image,
        None,
        "payload dma-behind-iommu",
    );
    let args = QemuArgs::new(&flash, &dtb, &image).with_gic(4).with_smp(1);
    let mut boot = Boot::start("payload_on_gicv4", &args);
    boot.expect(VLPI_LINE, HYP_TIMEOUT, "the VLPI frame is not trapped");
    boot.entered_host(HYP_TIMEOUT);
    boot.expect(
        r"hyp: WARN: redistributor 0x80a0000: GICR_VPENDBASER 0x8000000060000000 refused \(no vLPIs for the host\); reads as zero",
        CASES_TIMEOUT,
        "the Valid vPE pending table was not named",
    );
    boot.expect(
        r"PAYLOAD: gicr-tables PASS .*; GICv4 VPROPBASER/VPENDBASER := carve-out ignored \(read 0\)",
        CASES_TIMEOUT,
        "gicr-tables did not check the vPE registers",
    );
    let done = boot.expect(
        r"PAYLOAD-DONE pass=(\d+) fail=(\d+)",
        CASES_TIMEOUT,
        "no PAYLOAD-DONE line",
    );
    let status = boot.exit(EXIT_TIMEOUT, "after PAYLOAD-DONE");
    let log = boot.log();
    assert_eq!(
        done.groups[1].as_deref(),
        Some("0"),
        "{}; log: {log}",
        done.line
    );
    assert!(status.success(), "QEMU exited with {status}; log: {log}");
    assert_no_problem_lines(&boot.output(), &PAYLOAD_WARNINGS, &log);
}

#[test]
fn linux_on_gicv4() {
    let m = Manifest::load();
    let (flash, image, initrd) = (
        m.require("flash"),
        m.require("linux_image"),
        m.require("initrd"),
    );
    let dtb = gicv4_dtb(
        "linux-gicv4",
        &flash,
        &image,
        Some(&initrd),
        "console=ttyAMA0 autotest",
    );
    let args = QemuArgs::new(&flash, &dtb, &image)
        .with_initrd(&initrd)
        .with_gic(4)
        .with_smp(1)
        .with_rng();
    let mut boot = Boot::start("linux_on_gicv4", &args);
    boot.expect(VLPI_LINE, HYP_TIMEOUT, "the VLPI frame is not trapped");
    boot.entered_host(HYP_TIMEOUT);
    boot.expect_all(
        &[
            r"GICv3: GICv4 features:",
            r"ITS@0x0000000008080000: allocated \d+ Devices @[0-9a-f]+ \(flat",
            r"ITS@0x0000000008080000: allocated \d+ Interrupt Collections",
            r"CPU: All CPU\(s\) started at EL1",
            r"HOST-CHECK-BEGIN",
        ],
        LINUX_TIMEOUT,
        "Linux did not come up on the GICv4",
    );
    let block = check_block(boot.qemu(), LINUX_TIMEOUT);
    assert!(
        block.contains("hwrng-current: virtio_rng"),
        "no virtio-rng behind the SMMU; check block:\n{block}"
    );
    boot.linux_powered_off(EXIT_TIMEOUT);
    boot.assert_console_lacks(&[
        "hyp: ERROR",
        "hyp: WARN",
        "Unable to handle kernel",
        "Internal error",
        "Kernel panic",
        "doesn't stick",
        "ITS queue timeout",
    ]);
}
