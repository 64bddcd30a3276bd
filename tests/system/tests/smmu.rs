//! The EL1 test payload on QEMU's virt board with an SMMUv3 that offers stage 2
//! (`-machine iommu=smmuv3 -global arm-smmuv3.stage=2`, as `ci/qemu.sh --iommu smmuv3`
//! passes them; the manifest's `payload_smmu_dtb`, dumped with `QEMU_IOMMU=smmuv3`, 1 CPU):
//! the hypervisor finds the SMMU in the DT, checks it against the host stage 2, sets it up
//! over the host's own stage-2 tables (one boot line), and the payload runs every case as
//! without it, each LEND of its memory phase invalidating the SMMU before the SPMC hears of
//! it (an invalidation the SMMU did not confirm would be an ERROR line and a refused LEND).
//!
//! Console: `build/logs/payload_smmuv3.log`.

use std::time::Duration;

use system_tests::artifacts::Manifest;
use system_tests::boot::assert_no_problem_lines;
use system_tests::{Boot, QemuArgs};

/// TF-A + OP-TEE + hypervisor boot under TCG takes a few seconds; CI machines are slower.
const BANNER_TIMEOUT: Duration = Duration::from_secs(60);
/// From the banner to the host's entry, and from `PAYLOAD-DONE` to QEMU's exit.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// The payload's cases (see `tests/payload.rs`).
const CASES_TIMEOUT: Duration = Duration::from_secs(120);
/// The payload's probes of the carve-out and its refused FF-A calls.
const EXPECTED_WARNINGS: [&str; 2] = [
    r"^hyp: WARN: ffa: ",
    r"^hyp: WARN: host (data|instruction) abort at IPA 0x[0-9a-f]+ ",
];

#[test]
fn payload_smmuv3() {
    let m = Manifest::load();
    let mut args = QemuArgs::new(
        m.require("flash"),
        m.require("payload_smmu_dtb"),
        m.require("payload_image"),
    )
    .with_smp(1);
    args.extra = ["-machine", "iommu=smmuv3", "-global", "arm-smmuv3.stage=2"]
        .map(String::from)
        .to_vec();
    let mut boot = Boot::start("payload_smmuv3", &args);

    boot.banner(BANNER_TIMEOUT);
    let line = boot.expect(
        r"hyp: smmu at 0x9050000: 256 streams \((\d+) translated\), stage 2 shared, 44-bit output, coherent",
        STEP_TIMEOUT,
        "no SMMU boot line",
    );
    assert_eq!(
        line.groups[0].as_deref(),
        Some("256"),
        "the root complex's iommu-map covers every stream of the table: {}",
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
