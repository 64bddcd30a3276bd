//! The second SPMC: TF-A 2.12's EL3 SPMC (`SPD=spmd SPMC_AT_EL3=1`) with OP-TEE 4.10 as its one
//! S-EL1 FF-A partition (`CFG_CORE_EL3_SPMC=y`), the hypervisor as BL33, built by
//! `ci/build-secure-world.sh --spmc el3` (`make spmc-el3`). `docs/spmc.md` lists where the two
//! SPMCs answer differently and what the proxy does about it.
//!
//! - `el3_linux_boots_as_host`: Debian's Linux as the host: FF-A v1.2 found, OP-TEE's driver up
//!   (its FF-A devices probed), `/dev/tee0`, four CPUs, a clean
//!   power-off; no call of Linux's rejected and no bad reply from the SPMC.
//! - `el3_payload_matrix`: the payload's FF-A matrix with `spmc=el3`, phase by phase with
//!   exactly the cases counted here, none failed or skipped; every memory transaction
//!   (a SHARE and a LEND in two fragments included) forwarded, then either refused by this
//!   SPMC (TF-A 2.12 with the proxy's v1.2: today) or served and reclaimed, and in both cases its
//!   pages the host's again (nothing live, nothing lost at power-off).
//! - `el3_teebench` and `el3_xtest_subset` (ignored): Linux's requests to OP-TEE from user
//!   space. Both need shared memory, which TF-A 2.12's EL3 SPMC refuses to a normal-world
//!   endpoint that negotiated FF-A v1.2, as the proxy does (`docs/spmc.md`, "Memory
//!   transactions"); they pass once the proxy announces v1.1 to this SPMC.
//!
//! Console: `build/logs/<test>.log`; the Secure world's: `build/logs/<test>.secure.log`.

use std::time::Duration;

use regex::Regex;
use system_tests::artifacts::El3Spmc;
use system_tests::boot::{POWER_DOWN, assert_no_problem_lines, audit_line};
use system_tests::host_check::check_block;
use system_tests::payload_spec::{FEATURE_QUERIES, NOT_SUPPORTED_CALLS, PHASES, bad_case_count};
use system_tests::{Boot, QemuArgs};

/// TF-A + OP-TEE + hypervisor to the hand-over to the host.
const HYP_TIMEOUT: Duration = Duration::from_secs(60);
/// Linux to user space with four CPUs under TCG (about 7 s here; CI machines are slower).
const LINUX_TIMEOUT: Duration = Duration::from_secs(180);
/// The payload's cases and matrix (about 15 s here).
const CASES_TIMEOUT: Duration = Duration::from_secs(180);
/// From the last marker to QEMU's exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The EL3 SPMC's console lines (TF-A's BL31 shares UART0 with the host) that the runs provoke
/// on purpose: a memory transaction from a v1.2 endpoint, and an FF-A call it does not
/// implement (the notification calls, FFA_MSG_SEND_DIRECT_REQ2).
const EL3_SPMC_WARNINGS: [&str; 2] = [
    r"^WARNING: spmc_ffa_mem_send: bad FF-A version\.$",
    r"^WARNING: Unsupported FF-A call 0x[0-9a-f]+\.$",
];

/// The hypervisor's warnings a payload run provokes on purpose (as in `tests/payload.rs`).
const HYP_WARNINGS: [&str; 4] = [
    r"^hyp: WARN: ffa: ",
    r"^hyp: WARN: host (data|instruction) abort at IPA 0x[0-9a-f]+ ",
    r"^hyp: WARN: redistributor 0x[0-9a-f]+: ",
    r"^hyp: WARN: ITS: ",
];

/// The payload's own cases before the FF-A matrix (`tests/payload.rs` `CASES`), all passed.
const PAYLOAD_OWN_CASES: usize = 11;

/// The matrix's phases whose cases `tests/payload/src/ffa_cases.rs` writes one by one, in the
/// `spmc=el3` run: `negotiate`, `mailbox` and `hygiene` as against OP-TEE; `memory` is
/// `memory_el3` plus the scattered-lend attack; `direct` without `good.run.optee`;
/// `notifications` is `notifications_el3`.
const HAND_WRITTEN_CASES: [(&str, usize); 6] = [
    ("negotiate", 12),
    ("mailbox", 25),
    ("memory", MEMORY_REFUSED),
    ("direct", 19),
    ("notifications", 14),
    ("hygiene", 24),
];
/// The `memory` phase's cases when the SPMC refuses the proxy's memory transactions (TF-A
/// 2.12 with a proxy that negotiated v1.2: `docs/spmc.md`).
const MEMORY_REFUSED: usize = 35;
/// The same phase when the SPMC serves them: every `memory_el3` case has its counterpart, and
/// the scattered-lend attack's one-page LEND, now served, is reclaimed (one case more).
const MEMORY_SERVED: usize = 36;

/// The exact number of cases of phase `name` in the `spmc=el3` run; `served`: whether the SPMC
/// served the memory transactions (the payload's first one says so).
fn expected_cases(name: &str, served: bool) -> usize {
    match name {
        "memory" if served => MEMORY_SERVED,
        "features" => FEATURE_QUERIES.len(),
        "not-supported" => NOT_SUPPORTED_CALLS.len(),
        "bad" => bad_case_count(),
        _ => HAND_WRITTEN_CASES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, count)| *count)
            .unwrap_or_else(|| panic!("phase {name} has no expected case count")),
    }
}

/// The numbers a marker's groups captured.
fn numbers(groups: &[Option<String>]) -> Vec<usize> {
    groups
        .iter()
        .map(|g| g.as_deref().unwrap_or("").parse().unwrap_or(usize::MAX))
        .collect()
}

/// The FAIL and SKIP lines of the payload, for failure messages.
fn failures(output: &str) -> String {
    output
        .lines()
        .filter(|l| l.starts_with("PAYLOAD: ") && (l.contains(" FAIL") || l.contains(" SKIP")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn el3_linux_boots_as_host() {
    let images = El3Spmc::load();
    let args = QemuArgs::new(&images.flash, &images.linux_dtb, &images.linux_image)
        .with_initrd(&images.initrd);
    let mut boot = Boot::start("el3_linux_boots_as_host", &args);
    boot.proxy_on(HYP_TIMEOUT);
    boot.entered_host(HYP_TIMEOUT);
    let markers = [
        r"CPU: All CPU\(s\) started at EL1",
        r"SMP: Total of 4 processors activated",
        r"ARM FF-A: Firmware version 1\.2 found",
        // This SPMC has no notifications: Linux's driver goes on without them.
        r"ARM FF-A: Notification setup failed -95, not enabled",
        r"optee: initialized driver",
        r"HOST-CHECK-BEGIN",
    ];
    boot.expect_all(&markers, LINUX_TIMEOUT, "Linux did not come up as expected");
    let block = &check_block(boot.qemu(), LINUX_TIMEOUT);
    assert!(
        block.contains("cpu-online: 0-3"),
        "four CPUs online:\n{block}"
    );
    assert!(
        block.contains("ffa-devices: arm-ffa-"),
        "FF-A partitions probed:\n{block}"
    );
    assert!(
        block.contains("/dev/tee0"),
        "OP-TEE device present:\n{block}"
    );
    boot.linux_powered_off(EXIT_TIMEOUT);

    let output = boot.output();
    let log = boot.log();
    let total = audit_line(&output, "total:", &log);
    assert!(total.contains(" rejected 0 "), "{total}");
    assert!(total.ends_with(" bad-replies 0"), "{total}");
    assert_no_problem_lines(&output, &EL3_SPMC_WARNINGS, &log);
}

#[test]
fn el3_payload_matrix() {
    let images = El3Spmc::load();
    let args = QemuArgs::new(&images.flash, &images.payload_dtb, &images.payload_image);
    let mut boot = Boot::start("el3_payload_matrix", &args);
    boot.proxy_on(HYP_TIMEOUT);

    let summary = boot.expect(
        r"FFA-CONFORMANCE: (\d+) passed, (\d+) failed, (\d+) skipped",
        CASES_TIMEOUT,
        "no FFA-CONFORMANCE summary",
    );
    let [passed, failed, skipped] = numbers(&summary.groups)[..] else {
        panic!("bad summary {:?}", summary.line)
    };
    let served = boot
        .output()
        .contains("PAYLOAD: ffa good.mem-share-64.el3-spmc PASS FFA_SUCCESS");
    let want: usize = PHASES
        .iter()
        .map(|(_, name)| expected_cases(name, served))
        .sum();
    assert!(
        (passed, failed, skipped) == (want, 0, 0),
        "{:?}: want exactly {want} passed, 0 failed, 0 skipped\n{}",
        summary.line,
        failures(&boot.output())
    );
    let done = boot.expect(
        r"PAYLOAD-DONE pass=(\d+) fail=(\d+)",
        CASES_TIMEOUT,
        "no PAYLOAD-DONE line",
    );
    assert_eq!(
        numbers(&done.groups),
        [PAYLOAD_OWN_CASES + passed, 0],
        "{}\n{}",
        done.text,
        failures(&boot.output())
    );
    let status = boot.exit(EXIT_TIMEOUT, "after PAYLOAD-DONE");
    assert!(status.success(), "QEMU exited with {status}, want 0");

    let output = boot.output();
    let log = boot.log();
    assert!(
        output.contains("PAYLOAD: skipped=0"),
        "a payload case was skipped; log: {log}"
    );
    // Every phase, in order, with exactly its cases, all passed.
    let phase = Regex::new(
        r"(?m)^FFA-PHASE: (\S+) id=(\d+) cases=(\d+) passed=(\d+) failed=(\d+) skipped=(\d+)\r?$",
    )
    .expect("pattern");
    let seen: Vec<(String, u64, usize, usize)> = phase
        .captures_iter(&output)
        .map(|c| {
            let n = |i: usize| c[i].parse::<usize>().unwrap_or(usize::MAX);
            (c[1].to_string(), n(2) as u64, n(3), n(4))
        })
        .collect();
    let names: Vec<&str> = seen.iter().map(|(n, ..)| n.as_str()).collect();
    let want_names: Vec<&str> = PHASES.iter().map(|(_, n)| *n).collect();
    assert_eq!(names, want_names, "the matrix's phases, in order");
    for ((name, id, cases, passed), (want_id, _)) in seen.iter().zip(PHASES) {
        let want = expected_cases(name, served);
        assert_eq!(*id, want_id, "phase {name}'s number");
        assert_eq!(
            (*cases, *passed),
            (want, want),
            "phase {name}: want {want} cases, all passed"
        );
    }
    // The SPMC refused every memory transaction: the proxy holds nothing and lost nothing.
    let total = audit_line(&output, "total:", &log);
    assert!(total.ends_with(" bad-replies 0"), "{total}");
    let live = audit_line(&output, "live transactions", &log);
    assert!(
        live.contains("live transactions 0, shared pages 0, lent pages 0"),
        "{live}"
    );
    assert!(
        !output.contains("pages withheld"),
        "the proxy withheld pages it could not account for; log: {log}"
    );
    let expected: Vec<&str> = EL3_SPMC_WARNINGS
        .iter()
        .chain(HYP_WARNINGS.iter())
        .copied()
        .collect();
    assert_no_problem_lines(&output, &expected, &log);
}

/// Linux's requests to OP-TEE from user space (`tests/teebench.rs`), against the EL3 SPMC.
#[test]
#[ignore = "TF-A 2.12's EL3 SPMC refuses memory from a v1.2 endpoint (docs/spmc.md)"]
fn el3_teebench() {
    const N: u64 = 200;
    let images = El3Spmc::load();
    let args = QemuArgs::new(&images.flash, &images.teebench_dtb, &images.linux_image)
        .with_initrd(&images.initrd);
    let mut boot = Boot::start("el3_teebench", &args);
    boot.expect(
        &format!("TEEBENCH-START n={N}"),
        LINUX_TIMEOUT,
        "teebench did not start",
    );
    let result = boot.expect(
        r"TEEBENCH: n=(\d+) expected=(\d+) other=(\d+)",
        CASES_TIMEOUT,
        "no teebench result",
    );
    let counts: Vec<u64> = numbers(&result.groups).iter().map(|&n| n as u64).collect();
    assert_eq!(counts, [N, N, 0], "{:?}", result.text);
    let status = boot.exit(EXIT_TIMEOUT, "after teebench");
    assert!(status.success(), "QEMU exited with {status}, want 0");
    let output = boot.output();
    let log = boot.log();
    let total = audit_line(&output, "total:", &log);
    assert!(total.contains(" rejected 0 "), "{total}");
    assert!(total.ends_with(" bad-replies 0"), "{total}");
}

/// OP-TEE's xtest subset (`tests/xtest.rs`, the `make test` subset), against the EL3 SPMC.
#[test]
#[ignore = "TF-A 2.12's EL3 SPMC refuses memory from a v1.2 endpoint (docs/spmc.md)"]
fn el3_xtest_subset() {
    let images = El3Spmc::load();
    let args = QemuArgs::new(&images.flash, &images.xtest_dtb, &images.linux_image)
        .with_initrd(&images.xtest_initrd)
        .with_smp(2)
        .with_mttcg();
    let mut boot = Boot::start("el3_xtest_subset", &args);
    boot.proxy_on(HYP_TIMEOUT);
    let result = boot.expect(
        r"XTEST-RESULT ([^\n]*)\n",
        Duration::from_secs(900),
        "xtest did not finish",
    );
    let summary = result.groups[0].clone().unwrap_or_default();
    let fields: Vec<(&str, &str)> = summary
        .split_whitespace()
        .filter_map(|word| word.split_once('='))
        .collect();
    for want in [
        ("cases", "56"),
        ("cases-failed", "0"),
        ("subtests-failed", "0"),
        ("rc", "0"),
    ] {
        assert!(
            fields.contains(&want),
            "xtest: {summary}; want {}={}",
            want.0,
            want.1
        );
    }
    boot.expect(POWER_DOWN, EXIT_TIMEOUT, "no power-off after xtest");
    let status = boot.exit(EXIT_TIMEOUT, "after power-off");
    assert!(status.success(), "QEMU exited with {status}, want 0");
    let output = boot.output();
    let total = audit_line(&output, "total:", &boot.log());
    assert!(total.ends_with(" bad-replies 0"), "{total}");
}
