//! The EL1 test payload on QEMU's virt board with an SMMUv3 (`-machine iommu=smmuv3`, as
//! `ci/qemu.sh --iommu smmuv3` passes it; from QEMU 9.2 virt's SMMU has both stages; the
//! manifest's `payload_smmu_dtb`, dumped with `QEMU_IOMMU=smmuv3`, 1 CPU):
//! the hypervisor finds the SMMU in the DT, checks it against the host stage 2, sets it up
//! over the host's own stage-2 tables (one boot line), and the payload runs every case as
//! without it, each LEND of its memory phase invalidating the SMMU before the SPMC hears of
//! it (an invalidation the SMMU did not confirm would be an ERROR line and a refused LEND).
//!
//! With `dma-attack` (the manifest's `payload_dma_dtb`, plus `-device edu,dma_mask=
//! 0xffffffffff`), the payload programs QEMU's edu PCI device instead (`tests/payload/src/
//! dma.rs`): a DMA between its own pages arrives, before and after; DMAs into the
//! hypervisor's carve-out, OP-TEE's memory and a page the payload lent to OP-TEE each give
//! the hypervisor's SMMU fault line (stream 0x8, the edu device's requester ID,
//! F_TRANSLATION, the write's address) and the hypervisor still answers its HVC afterwards;
//! the lent page is unchanged after RECLAIM, and a DMA into it then arrives.
//!
//! With Linux as the host and a virtio-rng device behind a PCIe root port (`-device
//! pcie-root-port` on bus 0, the device on bus 1: stream ID 0x100), the device's DMA
//! translates through a level-2 stream table: `/dev/hwrng` gives bytes and the SMMU reports
//! nothing (a linear 256-entry table would abort it with C_BAD_STREAMID).
//!
//! On the `virt-9.1` machine, whose SMMU has stage 1 only, the boot stops with one line
//! naming the missing stage 2.
//!
//! Consoles: `build/logs/payload_smmuv3.log`, `build/logs/payload_dma_attack.log`,
//! `build/logs/smmu_without_stage2.log`, `build/logs/linux_dma_behind_a_root_port.log`.

use std::time::Duration;

use regex::Regex;

use system_tests::artifacts::{Linux, Manifest};
use system_tests::boot::assert_no_problem_lines;
use system_tests::host_check::{assert_virtio_rng_works, check_block};
use system_tests::{Boot, QemuArgs};

/// TF-A + OP-TEE + hypervisor boot under TCG takes a few seconds; CI machines are slower.
const BANNER_TIMEOUT: Duration = Duration::from_secs(60);
/// From the banner to the host's entry, and from `PAYLOAD-DONE` to QEMU's exit.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// The payload's cases (see `tests/payload.rs`).
const CASES_TIMEOUT: Duration = Duration::from_secs(120);
/// The payload's probes of the carve-out, its refused FF-A calls and the redistributor table
/// bases its `gicr-tables` case and the ITS bases its `its-lpi` case point at the carve-out
/// (as in `tests/payload.rs`).
const EXPECTED_WARNINGS: [&str; 4] = [
    r"^hyp: WARN: ffa: ",
    r"^hyp: WARN: host (data|instruction) abort at IPA 0x[0-9a-f]+ ",
    r"^hyp: WARN: redistributor 0x[0-9a-f]+: ",
    r"^hyp: WARN: ITS: ",
];

#[test]
fn payload_smmuv3() {
    let args = smmu_args("payload_smmu_dtb");
    let mut boot = Boot::start("payload_smmuv3", &args);

    boot.banner(BANNER_TIMEOUT);
    let line = boot.expect(
        r"hyp: smmu at 0x9050000: 2048 streams \((\d+) translated, 2-level table\), stage 2 shared, 44-bit output, coherent",
        STEP_TIMEOUT,
        "no SMMU boot line",
    );
    assert_eq!(
        line.groups[0].as_deref(),
        Some("2048"),
        "the root complex's iommu-map covers every stream of the level-2 tables (buses 0-7): {}",
        line.line
    );
    boot.entered_host(STEP_TIMEOUT);
    let done = boot.expect(
        r"PAYLOAD-DONE pass=(\d+) fail=(\d+)",
        CASES_TIMEOUT,
        "no PAYLOAD-DONE line",
    );
    assert_eq!(done.groups[1].as_deref(), Some("0"), "{}", done.line);
    let status = boot.exit(STEP_TIMEOUT, "after PAYLOAD-DONE");
    assert!(
        status.success(),
        "QEMU exited with {status}; log: {}",
        boot.log()
    );
    let output = boot.output();
    assert!(
        !output.contains("smmu:"),
        "the SMMU reported an event or an unconfirmed invalidation; log: {}",
        boot.log()
    );
    assert_no_problem_lines(&output, &EXPECTED_WARNINGS, &boot.log());
}

/// The SMMU's fault lines the DMA attack causes (the edu device writes 4 bytes at a time).
const SMMU_FAULT: &str =
    r"^hyp: WARN: smmu: stream 0x8: F_TRANSLATION \(write at 0x[0-9a-f]+\) \[#\d+\]";

fn smmu_args(dtb: &str) -> QemuArgs {
    let m = Manifest::load();
    let mut args = QemuArgs::new(
        m.require("flash"),
        m.require(dtb),
        m.require("payload_image"),
    )
    .with_smp(1);
    args.extra = ["-machine", "iommu=smmuv3"].map(String::from).to_vec();
    args
}

#[test]
fn payload_dma_attack() {
    let mut args = smmu_args("payload_dma_dtb");
    args.extra
        .extend(["-device", "edu,dma_mask=0xffffffffff"].map(String::from));
    let mut boot = Boot::start("payload_dma_attack", &args);

    boot.banner(BANNER_TIMEOUT);
    boot.entered_host(STEP_TIMEOUT);
    let done = boot.expect(
        r"PAYLOAD-DONE pass=(\d+) fail=(\d+)",
        CASES_TIMEOUT,
        "no PAYLOAD-DONE line",
    );
    let status = boot.exit(STEP_TIMEOUT, "after PAYLOAD-DONE");
    let output = boot.output();
    let log = boot.log();
    assert_eq!(
        (done.groups[0].as_deref(), done.groups[1].as_deref()),
        (Some("7"), Some("0")),
        "{}; log: {log}",
        done.line
    );
    for case in [
        "dma.own-page",
        "dma.carve-out",
        "dma.secure",
        "dma.own-page-after",
    ] {
        assert!(
            output.contains(&format!("PAYLOAD: {case} PASS")),
            "{case} did not pass; log: {log}"
        );
    }
    // Each target the payload names is the address of an SMMU fault line.
    let wrote = Regex::new(r"(?m)^PAYLOAD: dma: wrote \d+ bytes at (0x[0-9a-f]+) by DMA").unwrap();
    let targets: Vec<&str> = wrote
        .captures_iter(&output)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(
        targets.len(),
        3,
        "carve-out, Secure memory, lent page; log: {log}"
    );
    for target in targets {
        let line = format!("smmu: stream 0x8: F_TRANSLATION (write at {target})");
        assert!(
            output.contains(&line),
            "no {line:?}: the DMA was not stopped; log: {log}"
        );
    }
    assert!(status.success(), "QEMU exited with {status}; log: {log}");
    assert_no_problem_lines(
        &output,
        &[
            EXPECTED_WARNINGS[0],
            EXPECTED_WARNINGS[1],
            EXPECTED_WARNINGS[2],
            EXPECTED_WARNINGS[3],
            SMMU_FAULT,
        ],
        &log,
    );
}

/// QEMU's SMMUv3 without stage 2 (virt-9.1's: stage 1 only) cannot translate the host's
/// DMA through the host stage 2: the boot stops with one line naming why, then the usual
/// power-off line, and the host never runs.
#[test]
fn an_smmu_without_stage2_stops_the_boot() {
    let mut args = smmu_args("payload_smmu_dtb");
    args.extra = ["-machine", "virt-9.1,iommu=smmuv3"]
        .map(String::from)
        .to_vec();
    let mut boot = Boot::start("smmu_without_stage2", &args);
    boot.banner(BANNER_TIMEOUT);
    boot.expect(
        r"(?m)^hyp: ERROR: SMMU at 0x9050000: cannot translate the host's stage 2: no stage-2 translation \(IDR0\.S2P = 0\)\r?$",
        STEP_TIMEOUT,
        "no SMMU refusal line",
    );
    boot.expect(
        r"hyp: ERROR: cannot boot the host; powering off",
        STEP_TIMEOUT,
        "no power-off line",
    );
    let status = boot.exit(STEP_TIMEOUT, "after the refusal");
    let output = boot.output();
    assert!(
        status.success(),
        "QEMU exited with {status}; log: {}",
        boot.log()
    );
    assert!(
        !output.contains("entering host") && !output.contains("PAYLOAD"),
        "the host ran; log: {}",
        boot.log()
    );
}

/// A virtio-rng device on bus 1 (behind a PCIe root port) DMAs through the SMMU's 2-level
/// stream table: Linux reads `/dev/hwrng` and the SMMU records no event.
#[test]
fn linux_dma_behind_a_root_port() {
    let images = Linux::load();
    let mut args =
        QemuArgs::new(&images.flash, &images.dtb, &images.image).with_initrd(&images.initrd);
    args.extra = [
        "-device",
        "pcie-root-port,id=rp0,chassis=1",
        "-device",
        "virtio-rng-pci,bus=rp0",
    ]
    .map(String::from)
    .to_vec();
    let mut boot = Boot::start("linux_dma_behind_a_root_port", &args);
    boot.expect(
        r"hyp: smmu at 0x9050000: 2048 streams \(2048 translated, 2-level table\)",
        LINUX_STEP_TIMEOUT,
        "no SMMU boot line",
    );
    boot.entered_host(LINUX_STEP_TIMEOUT);
    boot.expect_all(
        &[r"HOST-CHECK-BEGIN"],
        LINUX_TIMEOUT,
        "Linux did not reach its checks",
    );
    let block = check_block(boot.qemu(), LINUX_TIMEOUT);
    assert!(
        block
            .lines()
            .any(|l| l.contains("pci: ") && l.contains("0000:01:00.0")),
        "the device is not on bus 1:\n{block}"
    );
    assert_virtio_rng_works(&block);
    boot.linux_powered_off(STEP_TIMEOUT);
    boot.assert_console_lacks(&["smmu:", "hyp: ERROR", "Kernel panic"]);
}

/// Linux to user space under TCG (seconds here; CI machines are slower).
const LINUX_TIMEOUT: Duration = Duration::from_secs(180);
/// The hypervisor's boot up to the host's entry, with TF-A and OP-TEE before it.
const LINUX_STEP_TIMEOUT: Duration = Duration::from_secs(60);
