//! The payload as a host that negotiates an older FF-A version against OP-TEE 4.10 through
//! the proxy (`ffa-version=1.0` / `1.1` in its bootargs, the manifest's `payload_ffa10_dtb`
//! and `payload_ffa11_dtb`, 1 CPU): `tests/payload/src/ffa_cases.rs` `run_legacy`. The proxy
//! must negotiate the old version for good, copy partition information in that version's
//! entry size (8 bytes at v1.0, 24 from v1.1), take FFA_MEM_SHARE and FFA_MEM_LEND in that
//! version's descriptor layout (32-byte header and no receiver size at v1.0, 16-byte
//! receivers at v1.1) and refuse the v1.2 layout, every case exactly as counted here, none
//! failed or skipped; the console free of error, warning and panic lines but the expected
//! ones; the audit with no bad reply.
//!
//! Console: `build/logs/payload_ffa_v1_0.log`, `build/logs/payload_ffa_v1_1.log`.

use std::time::Duration;

use system_tests::artifacts::{Manifest, Payload};
use system_tests::boot::{assert_no_problem_lines, audit_line};
use system_tests::{Boot, QemuArgs};

/// The cases of `run_legacy`, written one by one (no generator to count them from).
const LEGACY_CASES: usize = 15;
/// TF-A + OP-TEE + hypervisor boot under TCG takes a few seconds; CI machines are slower.
const BANNER_TIMEOUT: Duration = Duration::from_secs(60);
/// The cases take well under a second; then the power-off.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// What these runs provoke on purpose: the refused v1.2 layout, the lent page's abort.
const EXPECTED_WARNINGS: [&str; 2] = [
    r"^hyp: WARN: ffa: FFA_MEM_SHARE \(0xc4000073\) refused \(INVALID_PARAMETERS\): ",
    r"^hyp: WARN: host data abort at IPA 0x[0-9a-f]+ ",
];

/// Boots the payload with `dtb_key`'s DTB and checks the run at `version` (0x1_000m).
fn legacy_run(name: &str, dtb_key: &str, version: u32, entry_size: u32) {
    let images = Payload::load();
    let dtb = Manifest::load().require(dtb_key);
    let args = QemuArgs::new(&images.flash, &dtb, &images.image).with_smp(1);
    let mut boot = Boot::start(name, &args);
    boot.banner(BANNER_TIMEOUT);
    boot.expect(
        &format!(r"PAYLOAD: ffa legacy\.version PASS w0={version:#x};"),
        RUN_TIMEOUT,
        "the old version was not negotiated",
    );
    boot.expect(
        &format!(
            r"PAYLOAD: ffa legacy\.partition-info-get PASS FFA_SUCCESS \d+ partition\(s\), first 0x8001, {entry_size}-byte entries;"
        ),
        RUN_TIMEOUT,
        "partition information not in the version's entry size",
    );
    boot.expect(
        &format!(
            r"FFA-PHASE: legacy id=\d+ cases={LEGACY_CASES} passed={LEGACY_CASES} failed=0 skipped=0"
        ),
        RUN_TIMEOUT,
        "not every case passed",
    );
    boot.expect(
        &format!(r"FFA-CONFORMANCE: {LEGACY_CASES} passed, 0 failed, 0 skipped"),
        RUN_TIMEOUT,
        "bad FFA-CONFORMANCE summary",
    );
    boot.expect(
        &format!(r"PAYLOAD-DONE pass={LEGACY_CASES} fail=0"),
        RUN_TIMEOUT,
        "bad PAYLOAD-DONE summary",
    );
    let status = boot.exit(RUN_TIMEOUT, "after PAYLOAD-DONE");
    let log = boot.log();
    assert!(
        status.success(),
        "QEMU exited with {status}, want 0; log: {log}"
    );
    let output = boot.output();
    assert!(
        !output.contains(" FAIL ") && !output.contains(" SKIP "),
        "a case failed or was skipped; log: {log}"
    );
    assert_no_problem_lines(&output, &EXPECTED_WARNINGS, &log);
    let total = audit_line(&output, "total:", &log);
    assert!(total.ends_with(" bad-replies 0"), "{total}");
}

#[test]
fn payload_ffa_v1_0() {
    legacy_run("payload_ffa_v1_0", "payload_ffa10_dtb", 0x1_0000, 8);
}

#[test]
fn payload_ffa_v1_1() {
    legacy_run("payload_ffa_v1_1", "payload_ffa11_dtb", 0x1_0001, 24);
}
