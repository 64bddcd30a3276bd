//! The Linux host boot through the other boot chains: each boots Debian's kernel and
//! the project's initramfs (`autotest`: it prints its facts and powers off) under the
//! hypervisor, to the same markers as `linux_boot.rs`:
//!
//! - `uboot_chain_boots_linux_as_host`: TF-A -> OP-TEE -> U-Boot (BL33) -> U-Boot's distro boot
//!   finds `boot.scr` on a virtio disk -> `booti` the hypervisor with U-Boot's DT in x0 -> Linux.
//!   FF-A and OP-TEE work.
//! - `no_firmware_boots_linux_as_host`: QEMU's `-kernel` is the hypervisor (no EL3, no SPMC,
//!   QEMU's own PSCI); FF-A is cleanly absent in the host.
//! - `gicv2_boots_linux_as_host`: the TF-A chain on `gic-version=2` with the GICv2 builds of
//!   TF-A and OP-TEE; the GICv2 hypervisor frames (GICH, GICV) are withheld; FF-A works.
//!
//! Inputs (the manifest `make test` writes, see `system_tests::artifacts`): `uboot_flash`,
//! `uboot_disk`, `hypervisor_image`, `direct_dtb`, `gicv2_flash`, `gicv2_dtb`, `linux_image`,
//! `initrd`. Consoles: `build/logs/<test>.log`.

use std::time::Duration;

use system_tests::artifacts::{GicV2, NoFirmware, UBootChain};
use system_tests::host_check::{assert_carve_out_not_host_ram, check_block, hex};
use system_tests::{Boot, QemuArgs};

/// Firmware (+ U-Boot's 2 s autoboot countdown) + hypervisor to the hypervisor's last line.
const HYP_TIMEOUT: Duration = Duration::from_secs(90);
/// Linux to user space with four CPUs under TCG (about 5 s here; CI machines are slower).
const LINUX_TIMEOUT: Duration = Duration::from_secs(180);
/// From `HOST-CHECK-END` to QEMU's exit (PSCI SYSTEM_OFF).
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where TF-A's BL2 finds QEMU's DTB, and the hypervisor looks when x0 holds none.
const DEFAULT_DTB: u64 = 0x4000_0000;
/// `ci/config.sh`: HYP_ADDR (TF-A's BL33 slot; U-Boot's `booti` keeps the image there).
const HYP_ADDR: u64 = 0x6000_0000;
/// `ci/config.sh`: where QEMU puts `-kernel` and `-dtb` without firmware.
const DIRECT_HYP_ADDR: u64 = 0x4020_0000;
const DIRECT_DTB_ADDR: u64 = 0x4800_0000;
/// QEMU virt's GICv2 hypervisor frames (hw/arm/virt.c: VIRT_GIC_HYP, VIRT_GIC_VCPU), 64 KiB each.
const GICH: (u64, u64) = (0x0803_0000, 0x0804_0000);
const GICV: (u64, u64) = (0x0804_0000, 0x0805_0000);

/// Whether the Secure world (TF-A's SPMD + OP-TEE as SPMC) is in the chain.
#[derive(Clone, Copy, PartialEq)]
enum Spmc {
    Present,
    Absent,
}

/// What one boot showed, for the chain-specific checks.
struct LinuxBoot {
    boot: Boot,
    /// `hyp: device tree at <addr>` (where the hypervisor found its DTB).
    dtb_addr: u64,
    /// The hypervisor's `hyp: device tree at ...` line.
    dtb_line: String,
    /// The carve-out `[start, end)`.
    carve_out: (u64, u64),
    /// The initramfs's block between `HOST-CHECK-BEGIN` and `HOST-CHECK-END`.
    block: String,
    /// The whole console.
    output: String,
}

/// Boots `args` and checks what every chain must show, the markers of `linux_boot.rs`: the
/// hypervisor's banner, its carve-out and the hand-over to the host at EL1; Linux at EL1 on
/// four CPUs, all online; the carve-out reserved and not System RAM; FF-A v1.2 with OP-TEE's
/// driver, partitions and /dev/tee0 when `spmc` is present, and no trace of FF-A when it is
/// absent; `reboot: Power down`, QEMU's exit status 0, and no error, warning or oops.
fn boot_linux(name: &str, args: &QemuArgs, spmc: Spmc) -> LinuxBoot {
    let mut boot = Boot::start(name, args);

    boot.banner(HYP_TIMEOUT);
    // Each pattern runs to a character after the number, or up to the line's end, so that a
    // line the console has only half delivered cannot match with a truncated number.
    let dtb = boot.expect(
        r"hyp: device tree at (0x[0-9a-f]+):[^\n]*\n",
        HYP_TIMEOUT,
        "the hypervisor found no device tree",
    );
    let dtb_addr = hex(dtb.groups[0].as_deref().unwrap_or_default());
    let carve_out = boot.carve_out(HYP_TIMEOUT);
    boot.entered_host(HYP_TIMEOUT);

    let mut markers = vec![
        r"CPU: All CPU\(s\) started at EL1",
        r"SMP: Total of 4 processors activated",
        r"HOST-CHECK-BEGIN",
    ];
    if spmc == Spmc::Present {
        markers.extend([
            r"ARM FF-A: Firmware version 1\.2 found",
            r"optee: initialized driver",
        ]);
    }
    boot.expect_all(&markers, LINUX_TIMEOUT, "Linux did not come up as expected");
    let block = check_block(boot.qemu(), LINUX_TIMEOUT);

    assert!(
        block.contains("cpu-online: 0-3"),
        "four CPUs online in the host; check block:\n{block}"
    );
    assert_carve_out_not_host_ram(&block, carve_out);
    let line = |key: &str| {
        block
            .lines()
            .find_map(|l| l.trim_end_matches('\r').strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key:?} line in the check block:\n{block}"))
            .trim()
            .to_string()
    };
    match spmc {
        Spmc::Present => {
            assert!(
                line("ffa-devices:").contains("arm-ffa-"),
                "FF-A partitions probed:\n{block}"
            );
            assert!(
                line("tee-devices:").contains("/dev/tee0"),
                "OP-TEE device present:\n{block}"
            );
        }
        Spmc::Absent => {
            assert_eq!(line("ffa-devices:"), "", "no FF-A partitions:\n{block}");
            assert_eq!(line("tee-devices:"), "", "no TEE devices:\n{block}");
        }
    }

    boot.linux_powered_off(EXIT_TIMEOUT);

    let output = boot.output();
    boot.assert_console_lacks(&[
        "hyp: ERROR",
        "hyp: WARN",
        "Unable to handle kernel",
        "Internal error",
        "Kernel panic",
        "Call trace:",
    ]);
    if spmc == Spmc::Absent {
        for trace in ["ARM FF-A: Firmware version", "optee: initialized driver"] {
            assert!(
                !output.contains(trace),
                "no SPMC in this chain, yet the console has {trace:?}; log: {}",
                boot.log()
            );
        }
    }
    LinuxBoot {
        boot,
        dtb_addr,
        dtb_line: dtb.line,
        carve_out,
        block,
        output,
    }
}

#[test]
fn uboot_chain_boots_linux_as_host() {
    let images = UBootChain::load();
    let args = QemuArgs::uboot(&images.flash, &images.disk);
    let boot = boot_linux("uboot_chain_boots_linux_as_host", &args, Spmc::Present);
    let log = boot.boot.log();

    // U-Boot ran our script from the disk, by itself, and booti'd the hypervisor...
    let uboot = boot
        .output
        .find("U-Boot 20")
        .unwrap_or_else(|| panic!("no U-Boot banner; log: {log}"));
    let script = boot
        .output
        .find("ffa-hyp boot.scr: booti")
        .unwrap_or_else(|| panic!("boot.scr did not reach its booti; log: {log}"));
    let banner = boot
        .output
        .find("hyp: ffa-hyp")
        .expect("matched in boot_linux");
    assert!(
        uboot < script && script < banner,
        "U-Boot, then boot.scr, then the hypervisor; log: {log}"
    );
    assert!(
        boot.output.contains("Scanning virtio 0:1")
            && boot.output.contains("Found U-Boot script /boot.scr"),
        "U-Boot's distro boot found boot.scr on the virtio disk; log: {log}"
    );
    // ...in place at HYP_ADDR, and the DTB came in x0: booti hands over U-Boot's copy (moved
    // near the top of RAM), not the firmware's DTB at its fixed address.
    assert_eq!(
        boot.carve_out.0, HYP_ADDR,
        "booti should run the image in place at {HYP_ADDR:#x}; log: {log}"
    );
    assert_ne!(
        boot.dtb_addr, DEFAULT_DTB,
        "the hypervisor read the DTB at the default address, not U-Boot's from x0: {:?}",
        boot.dtb_line
    );
}

#[test]
fn no_firmware_boots_linux_as_host() {
    let images = NoFirmware::load();
    let args = QemuArgs::no_firmware(&images.hypervisor, &images.dtb, &images.image)
        .with_initrd(&images.initrd);
    let boot = boot_linux("no_firmware_boots_linux_as_host", &args, Spmc::Absent);
    let log = boot.boot.log();

    assert!(
        !boot.output.contains("Trusted Firmware") && !boot.output.contains("U-Boot"),
        "no firmware runs before the hypervisor; log: {log}"
    );
    // QEMU's -kernel placement and its x0 = DTB.
    assert_eq!(
        boot.carve_out.0, DIRECT_HYP_ADDR,
        "QEMU loads -kernel at RAM + 2 MiB; log: {log}"
    );
    assert_eq!(
        boot.dtb_addr, DIRECT_DTB_ADDR,
        "the hypervisor should take QEMU's -dtb from x0: {:?}",
        boot.dtb_line
    );
    // The hypervisor found no FF-A below it (QEMU's PSCI does not even report SMCCC 1.2) and
    // turned its proxy off instead of failing.
    assert!(
        boot.output.contains("hyp: FF-A: proxy off"),
        "the hypervisor should report its FF-A proxy off; log: {log}"
    );
    // QEMU's own PSCI answered the host (through the relay) and started every CPU.
    assert!(
        boot.block.contains("psci: PSCIv1.1 detected in firmware"),
        "PSCI from QEMU:\n{}",
        boot.block
    );
}

#[test]
fn gicv2_boots_linux_as_host() {
    let images = GicV2::load();
    let args = QemuArgs::new(&images.flash, &images.dtb, &images.image)
        .with_initrd(&images.initrd)
        .with_gic(2);
    let boot = boot_linux("gicv2_boots_linux_as_host", &args, Spmc::Present);
    let log = boot.boot.log();

    assert!(
        boot.dtb_line.contains("GIC v2"),
        "the hypervisor sees a GICv2: {:?}",
        boot.dtb_line
    );
    // The host drives the GICv2 distributor and CPU interface itself (the GICv2 driver and
    // QEMU's v2m MSI frame; no GICv3 driver)...
    assert!(
        boot.output.contains("GICv2m: range") && !boot.output.contains("GICv3:"),
        "Linux runs the GICv2 driver; log: {log}"
    );
    // ...and never gets the hypervisor control and virtual CPU interface frames.
    for (frame, (start, end)) in [("GICH", GICH), ("GICV", GICV)] {
        let withheld = format!("hyp:   withheld from the host: {start:#x}-{end:#x}");
        assert!(
            boot.output.contains(&withheld),
            "{frame} {start:#x}-{end:#x} is not withheld from the host; log: {log}"
        );
    }
}
