//! The EL1 test payload (`tests/payload`) booted by the hypervisor in place of Linux, on
//! the full stack (TF-A, OP-TEE, the hypervisor as BL33).
//!
//! Needs `HYP_FLASH`, `HYP_PAYLOAD_DTB` and `HYP_PAYLOAD_IMAGE` (set by `make test`).
//! Console: `build/logs/payload_cases_all_pass.log`; Secure world console:
//! `build/logs/payload_cases_all_pass.secure.log`.

use std::time::Duration;

use system_tests::artifacts::Payload;
use system_tests::{Qemu, QemuArgs};

/// The payload's cases, as it names them (`tests/payload/src/cases.rs`). Each must PASS:
/// a SKIP (e.g. no carve-out node in the DT) fails this test like a FAIL does.
const CASES: [&str; 7] = [
    "psci-version",
    "carveout-node",
    "carveout-read",
    "carveout-write",
    "carveout-exec",
    "cpu-on-all",
    "cpu-on-bad-entry",
];

/// TF-A + OP-TEE + hypervisor boot under TCG takes a few seconds; CI machines are slower.
const BANNER_TIMEOUT: Duration = Duration::from_secs(60);
/// From the banner to `PAYLOAD-DONE`: the cases take well under a second when they pass;
/// the payload's own waits add at most 10 s (CPUs coming online) + 5 s per CPU (going off).
const CASES_TIMEOUT: Duration = Duration::from_secs(120);
/// From `PAYLOAD-DONE` to QEMU's exit (PSCI SYSTEM_OFF through TF-A's GPIO power-off).
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every `PAYLOAD: <case> PASS|FAIL|SKIP ...` line printed so far, for failure messages.
fn case_lines(output: &str) -> String {
    let verdicts = [" PASS", " FAIL", " SKIP"];
    output
        .lines()
        .filter(|l| l.starts_with("PAYLOAD: ") && verdicts.iter().any(|v| l.contains(v)))
        .map(|l| l.trim_end_matches('\r'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn payload_cases_all_pass() {
    let images = Payload::from_env();
    let args = QemuArgs::new(&images.flash, &images.dtb, &images.image);
    let mut qemu = Qemu::spawn("payload_cases_all_pass", &args).unwrap_or_else(|e| panic!("{e}"));

    // The hypervisor's banner, before the payload says anything.
    let banner = qemu
        .expect(r"(?i)hypervisor", BANNER_TIMEOUT)
        .unwrap_or_else(|e| panic!("no hypervisor banner: {e}"));
    let before = &qemu.output()[..banner.start];
    assert!(
        !banner.line.starts_with("PAYLOAD") && !before.contains("PAYLOAD"),
        "the first line naming the hypervisor is the payload's, not a banner: {:?}",
        banner.line
    );

    let pass_patterns: Vec<String> = CASES
        .iter()
        .map(|case| format!(r"PAYLOAD: {} PASS", regex::escape(case)))
        .collect();
    let patterns: Vec<&str> = pass_patterns.iter().map(String::as_str).collect();
    if let Err(e) = qemu.expect_all(&patterns, CASES_TIMEOUT) {
        panic!(
            "not every case passed: {e}\n\n--- case results ---\n{}",
            case_lines(&qemu.output())
        );
    }

    let done = qemu
        .expect(r"PAYLOAD-DONE pass=(\d+) fail=(\d+)", CASES_TIMEOUT)
        .unwrap_or_else(|e| panic!("no PAYLOAD-DONE line: {e}"));
    let count = |i: usize| {
        done.groups[i]
            .as_deref()
            .unwrap_or("")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    };
    assert_eq!(
        (count(0), count(1)),
        (CASES.len(), 0),
        "summary {:?}: want pass={} fail=0\n--- case results ---\n{}",
        done.text,
        CASES.len(),
        case_lines(&qemu.output())
    );

    let status = qemu
        .wait_exit(EXIT_TIMEOUT)
        .unwrap_or_else(|e| panic!("after PAYLOAD-DONE: {e}"));
    assert!(
        status.success(),
        "QEMU exited with {status} after SYSTEM_OFF, want 0; log: {}",
        qemu.log_path().display()
    );
}
