//! Linux's own requests to OP-TEE through the proxy, from user space: the initramfs sees
//! `teebench=N` on its command line and runs `tests/teebench/teebench.c`, which opens a
//! session to OP-TEE's device pseudo TA through `/dev/tee0` and invokes an unknown command
//! N times (each one FFA_MSG_SEND_DIRECT_REQ from the kernel's OP-TEE driver, answered
//! TEE_ERROR_NOT_IMPLEMENTED without any RPC). Every invoke must get that answer, and the
//! hypervisor's audit at power-off must show at least N direct requests forwarded, no call of
//! Linux's rejected and no bad reply from the SPMC, and the console no error, warning or panic
//! line. The same boot is `make bench`'s workload (b).
//!
//! Needs the manifest's `flash`, `teebench_dtb`, `linux_image` and `initrd` (`make test`). Console: `build/logs/linux_teebench_through_the_proxy.log`.

use std::time::Duration;

use system_tests::artifacts::Linux;
use system_tests::boot::{assert_no_problem_lines, audit_line};
use system_tests::{Boot, QemuArgs};

/// The `teebench=N` the Makefile puts in this DTB's bootargs.
const N: u64 = 200;
/// TF-A + OP-TEE + hypervisor + Linux to user space (about 5 s here; CI machines are slower).
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// The N requests (well under a second here) and the power-off.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn linux_teebench_through_the_proxy() {
    let images = Linux::load_with("teebench_dtb");
    let args = QemuArgs::new(&images.flash, &images.dtb, &images.image).with_initrd(&images.initrd);
    let mut boot = Boot::start("linux_teebench_through_the_proxy", &args);

    boot.expect(
        &format!(r"TEEBENCH-START n={N}"),
        BOOT_TIMEOUT,
        "teebench did not start",
    );
    let result = boot.expect(
        r"TEEBENCH: n=(\d+) expected=(\d+) other=(\d+)",
        RUN_TIMEOUT,
        "no teebench result",
    );
    let counts: Vec<u64> = result
        .groups
        .iter()
        .map(|g| g.as_deref().unwrap_or("").parse().unwrap_or(u64::MAX))
        .collect();
    assert_eq!(counts, [N, N, 0], "{:?}", result.text);
    boot.expect(r"TEEBENCH-END rc=0", RUN_TIMEOUT, "teebench did not exit 0");
    let status = boot.exit(RUN_TIMEOUT, "after teebench");
    assert!(status.success(), "QEMU exited with {status}, want 0");

    let output = boot.output();
    let log = boot.log();
    let audit = |what: &str| audit_line(&output, what, &log);
    let total = audit("total:");
    assert!(total.contains(" rejected 0 "), "{total}");
    assert!(
        total.ends_with(" bad-replies 0"),
        "the SPMC sent replies the proxy refused: {total}"
    );
    // Nothing on the console reports a problem: no error, warning or panic line from the
    // firmware, the hypervisor or Linux.
    assert_no_problem_lines(&output, &[], &log);
    let direct = audit("FFA_MSG_SEND_DIRECT_REQ ");
    let forwarded: u64 = direct
        .split("forwarded ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no forwarded count in {direct:?}"));
    assert!(
        forwarded >= N,
        "{direct}: want at least {N} forwarded (one per invoke, plus Linux's own)"
    );
}
