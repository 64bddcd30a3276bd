//! The soak (`make soak`, README "Soak"): long runs that prove the hypervisor keeps serving
//! when every CPU uses it at once and when it is booted again and again. The long tests here
//! are `#[ignore]`d, so that `make test` does not run them; `make soak` (`ci/soak.sh`) runs them
//! with `--ignored`, one at a time. One short one is in `make test`.
//!
//! - [`soak_payload_all_cpus`]: the EL1 payload's soak (`tests/payload/src/soak.rs`) on 4
//!   CPUs, one host thread each (`ci/qemu.sh --mttcg`: the CPUs really call at the same
//!   time, and it runs 20x faster than with one thread for all, where a vCPU spinning on a
//!   lock keeps the thread for a whole time slice): every CPU makes FF-A calls (version, features, ID,
//!   partition info, direct requests to OP-TEE), shares and lends its own pages and reclaims
//!   them, and calls PSCI (CPU_ON, AFFINITY_INFO, CPU_SUSPEND to standby, and on the
//!   secondaries CPU_OFF, after which the boot CPU starts them again) for `soak=<n>`
//!   rounds. The payload checks every answer, the proxy's audit counters against its own
//!   counts, and that every page is the host's again; here: progress lines at most
//!   [`PROGRESS_TIMEOUT`] apart (no deadlock), `SOAK-DONE ... failures=0` and the three soak
//!   cases PASS.
//! - [`soak_linux_boots_in_a_row`]: Linux booted to user space and powered off `SOAK_BOOTS`
//!   times (default [`DEFAULT_BOOTS`]), each finding FF-A v1.2 and OP-TEE, each with no call
//!   rejected and no SPMC reply refused; each boot's time is recorded and a failed boot's
//!   console tail saved to `build/logs/soak-linux-boot-failures.log`.
//! - [`soak_teebench_threads`]: Linux user space with several threads making requests to
//!   OP-TEE at once (`teebench=<n>:<threads>`): every request answered as expected, the
//!   proxy's audit at power-off with nothing rejected and no bad reply.
//! - [`cpu_off_and_on_again_under_load`] (in `make test`): the same soak for 128 rounds,
//!   each secondary going off twice and being started again. Forwarded to this firmware,
//!   CPU_OFF came back with the caller's EL1 registers rolled back and EL3's PSCI locks held,
//!   so the PSCI relay holds an off CPU at EL2 instead (`docs/psci.md`); this is its test.
//!
//! Each test writes one line to `build/logs/soak-<name>.result` (what it measured), which
//! `ci/soak.sh` gathers into `build/logs/soak-summary.txt`.
//!
//! Needs the manifest's `flash`, `payload_image`, `soak_payload_dtb`, `linux_image`,
//! `initrd`, `linux_dtb`, `soak_initrd` and `soak_teebench_dtb` (`make soak`).

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use regex::Regex;
use system_tests::artifacts::{Linux, Manifest};
use system_tests::boot::audit_line;
use system_tests::{Boot, Match, QemuArgs, logs_dir};

/// The payload's CPU_OFF period on the secondaries (`tests/payload/src/soak.rs` `EVERY_OFF`).
const EVERY_OFF: u64 = 64;

/// TF-A + OP-TEE + hypervisor to the payload's start line.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest time between two progress lines of the payload's soak (a tenth of its rounds):
/// about 40 s here for 600 rounds on 4 CPUs; far longer means a CPU is stuck.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(600);
/// From the last progress line to `PAYLOAD-DONE` (the payload's own stall limit is 60 s).
const DONE_TIMEOUT: Duration = Duration::from_secs(180);
/// From the end of a run to QEMU's exit (PSCI SYSTEM_OFF through TF-A's GPIO power-off).
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
/// Linux to user space with four CPUs under TCG (about 10 s here when the host is busy).
const LINUX_TIMEOUT: Duration = Duration::from_secs(300);
/// Boots in a row when `SOAK_BOOTS` is not set.
const DEFAULT_BOOTS: usize = 20;
/// Console lines kept from a failed boot.
const TAIL_LINES: usize = 60;

/// Writes the test's one-line result for `ci/soak.sh`.
fn write_result(name: &str, line: &str) {
    let dir = logs_dir();
    fs::create_dir_all(&dir).expect("create build/logs");
    fs::write(dir.join(format!("soak-{name}.result")), format!("{line}\n"))
        .expect("write the soak result");
    println!("{line}");
}

/// The numbers of a match's capture groups (`u64::MAX` if one is missing).
fn numbers(m: &Match) -> Vec<u64> {
    m.groups
        .iter()
        .map(|g| g.as_deref().unwrap_or("").parse().unwrap_or(u64::MAX))
        .collect()
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The payload's soak: start, progress lines (each within [`PROGRESS_TIMEOUT`]), the end
/// line; returns the numbers of `SOAK-DONE` and the run's wall time.
fn payload_soak(name: &str, dtb_key: &str) -> (Vec<u64>, Duration, String) {
    let m = Manifest::load();
    let args = QemuArgs::new(
        m.require("flash"),
        m.require(dtb_key),
        m.require("payload_image"),
    )
    .with_smp(4)
    .with_mttcg();
    let started = Instant::now();
    let mut boot = Boot::start(name, &args);
    let start = boot.expect(
        r"SOAK: start rounds=(\d+) cpus=(\d+)",
        START_TIMEOUT,
        "the payload's soak did not start",
    );
    let [rounds, cpus] = numbers(&start)[..] else {
        unreachable!("two groups")
    };
    assert_eq!(cpus, 4, "{}", start.line);
    // Each progress line, or the end: a stuck CPU stops the lines.
    loop {
        let line = boot.expect(
            r"SOAK: progress round=(\d+)|SOAK: cpu \d+ FAIL|PAYLOAD-DONE",
            PROGRESS_TIMEOUT,
            "no soak progress: a CPU is stuck (deadlock?)",
        );
        assert!(
            line.line.starts_with("SOAK: progress"),
            "{} before the last round\nconsole: {}",
            line.line,
            boot.log()
        );
        if line.groups[0].as_deref() == Some(rounds.to_string().as_str()) {
            break;
        }
    }
    let done = boot.expect(
        r"SOAK-DONE rounds=(\d+) cpus=(\d+) ffa-calls=(\d+) psci-calls=(\d+) suspends=(\d+) failures=(\d+) ms=(\d+)",
        DONE_TIMEOUT,
        "no SOAK-DONE line",
    );
    let payload_done = boot.expect(
        r"PAYLOAD-DONE pass=(\d+) fail=(\d+)",
        DONE_TIMEOUT,
        "no PAYLOAD-DONE",
    );
    let status = boot.exit(EXIT_TIMEOUT, "after the soak");
    let output = boot.output();
    let cases: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("PAYLOAD: soak-"))
        .collect();
    let values = numbers(&done);
    assert_eq!(values[0], rounds, "{}", done.line);
    assert_eq!(
        values[5],
        0,
        "{}\n{}\nconsole: {}",
        done.line,
        cases.join("\n"),
        boot.log()
    );
    assert_eq!(
        numbers(&payload_done),
        [3, 0],
        "{}\n{}",
        payload_done.line,
        cases.join("\n")
    );
    for case in ["soak-rounds", "soak-audit", "soak-ownership"] {
        assert!(
            cases
                .iter()
                .any(|l| l.starts_with(&format!("PAYLOAD: {case} PASS"))),
            "{case} did not pass:\n{}",
            cases.join("\n")
        );
    }
    assert!(status.success(), "QEMU exited with {status}, want 0");
    boot.assert_console_lacks(&["hyp: ERROR", "PAYLOAD: panic", "PAYLOAD: exception"]);
    (values, started.elapsed(), output)
}

#[test]
#[ignore = "the soak: `make soak`"]
fn soak_payload_all_cpus() {
    let (v, wall, output) = payload_soak("soak_payload_all_cpus", "soak_payload_dtb");
    assert_every_secondary_went_off(&output, v[0]);
    write_result(
        "payload",
        &format!(
            "payload on {} CPUs: {} rounds, {} FF-A calls, {} PSCI calls ({} CPU_SUSPEND), \
             audit exact, every page back; payload time {:.1} s, wall {:.1} s: PASS",
            v[1],
            v[0],
            v[2],
            v[3],
            v[4],
            v[6] as f64 / 1000.0,
            wall.as_secs_f64()
        ),
    );
}

/// Every secondary called CPU_OFF once per [`EVERY_OFF`] rounds, never saw it return, and was
/// started again by the boot CPU as often.
fn assert_every_secondary_went_off(output: &str, rounds: u64) {
    let want = rounds / EVERY_OFF;
    assert!(want > 0, "{rounds} rounds: no CPU_OFF");
    let per_cpu = Regex::new(
        r"SOAK: cpu (\d+) rounds=\d+ .* cpu-off=(\d+) \(answer 0x([0-9a-f]+)\) restarts=(\d+)",
    )
    .expect("regex");
    let mut secondaries = 0;
    for c in output.lines().filter_map(|l| per_cpu.captures(l)) {
        let [cpu, off, answer, restarts] = [1, 2, 3, 4].map(|i| c[i].to_string());
        if cpu == "0" {
            continue;
        }
        secondaries += 1;
        assert_eq!(
            (off.as_str(), restarts.as_str(), answer.as_str()),
            (want.to_string().as_str(), want.to_string().as_str(), "0"),
            "CPU {cpu}: want {want} CPU_OFFs that never returned, each started again: {}",
            &c[0]
        );
    }
    assert_eq!(secondaries, 3, "per-CPU lines of the 3 secondaries");
}

#[test]
fn cpu_off_and_on_again_under_load() {
    let (v, wall, output) = payload_soak("cpu_off_and_on_again_under_load", "soak_cpu_off_dtb");
    assert_every_secondary_went_off(&output, v[0]);
    write_result(
        "cpu-off",
        &format!(
            "payload with CPU_OFF: {} rounds in {:.1} s: PASS",
            v[0],
            wall.as_secs_f64()
        ),
    );
}

/// One Linux boot to user space and power-off, checked; panics on any failure.
fn linux_boot(name: &str, images: &Linux) {
    let args = QemuArgs::new(&images.flash, &images.dtb, &images.image).with_initrd(&images.initrd);
    let mut boot = Boot::start(name, &args);
    let markers = [
        r"CPU: All CPU\(s\) started at EL1",
        r"SMP: Total of 4 processors activated",
        r"ARM FF-A: Firmware version 1\.2 found",
        r"optee: initialized driver",
        r"HOST-CHECK-END",
    ];
    boot.expect_all(&markers, LINUX_TIMEOUT, "Linux did not come up as expected");
    boot.linux_powered_off(EXIT_TIMEOUT);
    let output = boot.output();
    let total = audit_line(&output, "total:", &boot.log());
    assert!(
        total.contains(" rejected 0 ") && total.ends_with(" bad-replies 0"),
        "{total}"
    );
    boot.assert_console_lacks(&[
        "hyp: ERROR",
        "hyp: WARN",
        "Unable to handle kernel",
        "Internal error",
        "Kernel panic",
    ]);
}

#[test]
#[ignore = "the soak: `make soak`"]
fn soak_linux_boots_in_a_row() {
    let boots: usize = std::env::var("SOAK_BOOTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_BOOTS);
    let images = Linux::load();
    let failures_log = logs_dir().join("soak-linux-boot-failures.log");
    let _ = fs::remove_file(&failures_log);
    let mut times = Vec::new();
    let mut failed = Vec::new();
    let mut report = String::new();
    for i in 1..=boots {
        let name = format!("soak_linux_boot_{i:02}");
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| linux_boot(&name, &images)));
        let took = started.elapsed();
        let verdict = match &result {
            Ok(()) => "PASS".to_string(),
            Err(e) => {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let log = logs_dir().join(format!("{name}.log"));
                let console = fs::read_to_string(&log).unwrap_or_default();
                let entry = format!(
                    "== boot {i} FAILED after {:.1} s: {}\n-- console tail ({log:?}):\n{}\n",
                    took.as_secs_f64(),
                    why.lines().next().unwrap_or(""),
                    tail(&console, TAIL_LINES)
                );
                let mut all = fs::read_to_string(&failures_log).unwrap_or_default();
                all.push_str(&entry);
                fs::write(&failures_log, all).expect("write the failures log");
                failed.push(i);
                "FAIL".to_string()
            }
        };
        let line = format!("boot {i:2}/{boots}: {:.1} s {verdict}", took.as_secs_f64());
        println!("{line}");
        report.push_str(&line);
        report.push('\n');
        times.push(took.as_secs_f64());
    }
    fs::write(logs_dir().join("soak-linux-boots.txt"), &report).expect("write the boot times");
    let (min, max) = times
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
    let total: f64 = times.iter().sum();
    let verdict = if failed.is_empty() { "PASS" } else { "FAIL" };
    write_result(
        "linux-boots",
        &format!(
            "Linux boot + power-off with FF-A v1.2 and OP-TEE found: {}/{boots}, each {min:.1}-{max:.1} s \
             (mean {:.1} s), {total:.0} s in all: {verdict}",
            boots - failed.len(),
            total / boots.max(1) as f64
        ),
    );
    assert!(
        failed.is_empty(),
        "boots {failed:?} failed; console tails in {failures_log:?}"
    );
}

#[test]
#[ignore = "the soak: `make soak`"]
fn soak_teebench_threads() {
    let m = Manifest::load();
    let args = QemuArgs::new(
        m.require("flash"),
        m.require("soak_teebench_dtb"),
        m.require("linux_image"),
    )
    .with_initrd(m.require("soak_initrd"));
    let started = Instant::now();
    let mut boot = Boot::start("soak_teebench_threads", &args);
    let start = boot.expect(
        r"TEEBENCH-START n=(\d+):(\d+)",
        LINUX_TIMEOUT,
        "teebench did not start",
    );
    let [per_thread, threads] = numbers(&start)[..] else {
        unreachable!("two groups")
    };
    assert!(threads > 1, "{}: want several threads", start.line);
    let bench_started = Instant::now();
    let result = boot.expect(
        r"TEEBENCH: n=(\d+) expected=(\d+) other=(\d+)",
        PROGRESS_TIMEOUT,
        "no teebench result",
    );
    let bench_time = bench_started.elapsed();
    let n = per_thread * threads;
    assert_eq!(numbers(&result), [n, n, 0], "{}", result.text);
    boot.expect(
        r"TEEBENCH-END rc=0",
        EXIT_TIMEOUT,
        "teebench did not exit 0",
    );
    let status = boot.exit(EXIT_TIMEOUT, "after teebench");
    assert!(status.success(), "QEMU exited with {status}, want 0");
    let output = boot.output();
    let thread_lines = output
        .lines()
        .filter(|l| l.starts_with("TEEBENCH: thread="))
        .count() as u64;
    assert_eq!(thread_lines, threads, "one result line per thread");
    let log = boot.log();
    let total = audit_line(&output, "total:", &log);
    assert!(
        total.contains(" rejected 0 ") && total.ends_with(" bad-replies 0"),
        "{total}"
    );
    let direct = audit_line(&output, "FFA_MSG_SEND_DIRECT_REQ ", &log);
    let forwarded: u64 = direct
        .split("forwarded ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no forwarded count in {direct:?}"));
    assert!(forwarded >= n, "{direct}: want at least {n} forwarded");
    boot.assert_console_lacks(&[
        "hyp: ERROR",
        "hyp: WARN",
        "Kernel panic",
        "TEEBENCH: FAILED",
    ]);
    write_result(
        "teebench",
        &format!(
            "teebench: {threads} threads x {per_thread} requests to OP-TEE at once: {n}/{n} answered, \
             {forwarded} direct requests forwarded, audit rejected 0 bad-replies 0; requests {:.1} s, \
             wall {:.1} s: PASS",
            bench_time.as_secs_f64(),
            started.elapsed().as_secs_f64()
        ),
    );
}

/// The console tail saved for a failed boot (runs in `make test`: no QEMU).
#[test]
fn a_console_tail_is_its_last_lines() {
    assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
    assert_eq!(tail("a\nb", 5), "a\nb");
    assert_eq!(tail("", 3), "");
}
