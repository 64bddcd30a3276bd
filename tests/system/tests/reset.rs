//! PSCI SYSTEM_RESET through the hypervisor on the real stack: the payload, booted with
//! `system-reset` in its bootargs (the manifest's `payload_reset_dtb`, 1 CPU), calls
//! SYSTEM_RESET instead of running its cases; the hypervisor relays it to TF-A, which resets
//! the machine (its GPIO reset line). QEMU runs with `-no-reboot` (`ci/qemu.sh`), so the
//! reset ends QEMU with status 0, and the console shows TF-A's reset line, not its power-off
//! line, and nothing after the payload's call (a call that returned is a FAIL line).
//!
//! Console: `build/logs/payload_system_reset.log`.

use std::time::Duration;

use system_tests::artifacts::{Manifest, Payload};
use system_tests::boot::assert_no_problem_lines;
use system_tests::{Boot, QemuArgs};

/// TF-A + OP-TEE + hypervisor boot under TCG takes a few seconds; CI machines are slower.
const BANNER_TIMEOUT: Duration = Duration::from_secs(60);
/// From the banner to the payload's call, and from the call to QEMU's exit.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// TF-A's line when it resets the machine (`qemu_system_reset`; printed at ERROR level).
const TFA_RESET: &str = r"^ERROR:\s+QEMU System Reset: with GPIO\.$";

#[test]
fn payload_system_reset() {
    let images = Payload::load();
    let dtb = Manifest::load().require("payload_reset_dtb");
    let args = QemuArgs::new(&images.flash, &dtb, &images.image).with_smp(1);
    let mut boot = Boot::start("payload_system_reset", &args);

    boot.banner(BANNER_TIMEOUT);
    boot.entered_host(STEP_TIMEOUT);
    boot.expect(
        r"PAYLOAD: system-reset: calling PSCI SYSTEM_RESET",
        STEP_TIMEOUT,
        "the payload did not call SYSTEM_RESET",
    );
    boot.expect(
        r"(?m)^ERROR:\s+QEMU System Reset: with GPIO\.\r?$",
        STEP_TIMEOUT,
        "TF-A did not reset the machine",
    );
    let status = boot.exit(STEP_TIMEOUT, "QEMU did not end at the reset (-no-reboot)");
    let log = boot.log();
    assert!(
        status.success(),
        "QEMU exited with {status}, want 0; log: {log}"
    );
    let output = boot.output();
    let after_call = output
        .split("PAYLOAD: system-reset: calling PSCI SYSTEM_RESET")
        .nth(1)
        .unwrap_or_default();
    assert!(
        !after_call.contains("PAYLOAD"),
        "the payload went on after SYSTEM_RESET; log: {log}"
    );
    assert!(
        !output.contains("Power off"),
        "the machine powered off instead of resetting; log: {log}"
    );
    assert_no_problem_lines(&output, &[TFA_RESET], &log);
}
