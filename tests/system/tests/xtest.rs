//! OP-TEE's own test suite, xtest, as a real client of OP-TEE through the hypervisor: TF-A ->
//! OP-TEE (S-EL1 SPMC) -> the hypervisor (BL33) -> Debian's Linux at EL1 with the xtest
//! initramfs (`ci/mkinitramfs-xtest.sh`: Debian sid's `optee-test-qemu`, `tee-supplicant`,
//! `libteec2`, `libckteec0t64`). Every FF-A call the OP-TEE driver makes for xtest (tens of
//! thousands of direct requests, thousands of memory shares and reclaims, notification rounds)
//! goes through the proxy.
//!
//! - `xtest_subset_passes_through_the_proxy` (in `make test`): `xtest -t regression _10 _20
//!   4001 4002 4003 4004 4005 _600`, 56 cases, about 1.5 minutes.
//! - `xtest_full_run` (ignored; `make xtest`): xtest's default run, regression+pkcs11 level 0,
//!   143 cases, about 7 minutes.
//!
//! The case counts and the lower bounds on forwarded calls below were measured on the same
//! stack without a hypervisor (`ci/xtest-direct.sh`: Linux at EL2 talks FF-A to the SPMD
//! directly; its FF-A calls counted with kprobes on the kernel's FF-A driver).
//!
//! Both on two vCPUs with one host thread each (see [`SMP`]).
//!
//! Each asserts: the proxy is on and Linux runs at EL1; `/init` ran xtest with exactly the
//! arguments the test expects (they are in the DTB's bootargs, written by the Makefile); xtest's
//! summary has the expected case count, 0 failed cases, 0 failed subtests and exit status 0;
//! QEMU exits 0 after the power-off; and the proxy's audit (printed at SYSTEM_OFF) shows the
//! traffic went through it: DIRECT_REQ, MEM_SHARE and MEM_RECLAIM forwarded in quantity, every
//! forwarded share reclaimed (shares forwarded - reclaims forwarded = live transactions, but for
//! shares OP-TEE refused for lack of memory where xtest says it tolerated that), the
//! notification calls forwarded, no reply the proxy had to refuse (bad-replies 0), no call it
//! does not support, and no call from Linux rejected, with one explained exception below.
//!
//! The exception: libteec registers each temporary memory reference of an invocation as its own
//! shared memory, so two small buffers in one page (xtest 1004's `crypt_in` and `crypt_out` on
//! the stack) make Linux share the same page twice while the first share is live. The proxy
//! refuses the second FFA_MEM_SHARE with DENIED: FF-A lets an owner share only memory it has
//! exclusive access to (DEN0077 "ownership and access states"; pKVM and Hafnium refuse the same
//! way). libteec then falls back to a bounce buffer, and the case passes. So MEM_SHARE alone may
//! count rejections, each with its `hyp: WARN` line naming exactly that refusal; any other
//! rejection or warning fails the test.
//!
//! Inputs (the manifest `make test` / `make xtest` writes, see `system_tests::artifacts`):
//! `flash`, `linux_image`, `xtest_initrd`, `xtest_dtb` / `xtest_full_dtb`. Console:
//! `build/logs/<test>.log`, Secure world's console `build/logs/<test>.secure.log`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ffa_spec::fid;
use system_tests::artifacts::Xtest;
use system_tests::boot::POWER_DOWN;
use system_tests::{Boot, QemuArgs};

/// TF-A + OP-TEE + hypervisor to the hand-over to the host.
const HYP_TIMEOUT: Duration = Duration::from_secs(60);
/// Linux to `/init` and the FF-A/OP-TEE driver up (about 5 s here; CI machines are slower).
const LINUX_TIMEOUT: Duration = Duration::from_secs(180);
/// From the power-off to QEMU's exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
/// vCPUs, one host thread each (`ci/qemu.sh --smp 2 --mttcg`): xtest runs 3x faster than with
/// four vCPUs on one thread (the subset: ~80 s instead of ~230 s), and two CPUs really make FF-A
/// calls at the same time. The DTBs are made for it (the Makefile's `XTEST_SMP`).
const SMP: u32 = 2;

/// FF-A function IDs, as the audit prints them: the
/// calls Linux's OP-TEE driver makes for every xtest case.
const FFA_MSG_SEND_DIRECT_REQ_32: u32 = fid::MSG_SEND_DIRECT_REQ_32;
const FFA_MEM_SHARE_64: u32 = fid::MEM_SHARE_64;
const FFA_MEM_RECLAIM: u32 = fid::MEM_RECLAIM;
const FFA_NOTIFICATION_GET: u32 = fid::NOTIFICATION_GET;
const FFA_NOTIFICATION_INFO_GET_64: u32 = fid::NOTIFICATION_INFO_GET_64;

/// The one rejection the test accepts (see the module documentation).
const SHARED_PAGE_IN_USE: &str =
    "FFA_MEM_SHARE (0xc4000073) refused (DENIED): constituent page is in use";

/// One xtest run and what the test expects of it.
struct Run {
    /// Test (and log) name.
    name: &'static str,
    /// The DTB's manifest key (its bootargs carry the xtest arguments).
    dtb_key: &'static str,
    /// xtest's arguments, as `/init` must echo them.
    args: &'static str,
    /// Cases xtest must report (measured without the hypervisor).
    cases: u64,
    /// Lower bounds on the proxy's forwarded counts: about 3/4 of what Linux's FF-A driver
    /// issued for the same xtest run without a hypervisor (see the module documentation).
    min_direct_req: u64,
    min_mem_share: u64,
    /// From `XTEST-START` to `XTEST-RESULT`.
    timeout: Duration,
}

#[test]
fn xtest_subset_passes_through_the_proxy() {
    // Without a hypervisor: 56 cases, 9755 subtests, ~54 400 DIRECT_REQ_32, ~8 530 MEM_SHARE_64
    // + MEM_RECLAIM, ~135 notification rounds; 65-150 s wall with -smp 2.
    run(&Run {
        name: "xtest_subset_passes_through_the_proxy",
        dtb_key: "xtest_dtb",
        args: "-t regression _10 _20 4001 4002 4003 4004 4005 _600",
        cases: 56,
        min_direct_req: 40_000,
        min_mem_share: 6_000,
        timeout: Duration::from_secs(600),
    });
}

#[test]
#[ignore = "about 10 minutes: `make xtest`"]
fn xtest_full_run() {
    // Without a hypervisor: 143 cases, ~41 350 subtests, 171 290 DIRECT_REQ_32, 21 419
    // MEM_SHARE_64 + MEM_RECLAIM; 335-476 s wall with -smp 2.
    run(&Run {
        name: "xtest_full_run",
        dtb_key: "xtest_full_dtb",
        args: "",
        cases: 143,
        min_direct_req: 128_000,
        min_mem_share: 16_000,
        timeout: Duration::from_secs(2400),
    });
}

fn run(run: &Run) {
    let images = Xtest::load(run.dtb_key);
    let args = QemuArgs::new(&images.flash, &images.dtb, &images.image)
        .with_initrd(&images.initrd)
        .with_smp(SMP)
        .with_mttcg();
    let started = Instant::now();
    let mut boot = Boot::start(run.name, &args);

    boot.proxy_on(HYP_TIMEOUT);
    boot.entered_host(HYP_TIMEOUT);
    let markers = [
        r"CPU: All CPU\(s\) started at EL1",
        r"ARM FF-A: Firmware version 1\.2 found",
        r"optee: initialized driver",
        r"XTEST-INIT: [^\n]*\n",
    ];
    let init = boot.expect_all(
        &markers,
        LINUX_TIMEOUT,
        "Linux did not reach the xtest /init",
    )[3]
    .line
    .trim_end()
    .to_string();
    assert!(
        init.contains(&format!(", {SMP} CPUs, ")),
        "Linux should see {SMP} CPUs (the DTB's: the Makefile's XTEST_SMP): {init}"
    );
    let echoed = init
        .split_once("xtest args: ")
        .map_or("", |(_, a)| a.trim());
    assert_eq!(
        echoed, run.args,
        "/init got other xtest arguments than this test expects (the DTB's bootargs: see \
         the Makefile's XTEST_* variables): {init}"
    );
    let start = boot.expect(
        r"XTEST-(START|ERROR): [^\n]*\n",
        LINUX_TIMEOUT,
        "xtest did not start",
    );
    assert_eq!(
        start.groups[0].as_deref(),
        Some("START"),
        "the xtest initramfs could not set up: {}",
        start.line
    );
    let result = boot.expect(
        r"XTEST-RESULT ([^\n]*)\n",
        run.timeout,
        "xtest did not finish",
    );
    let summary = result.groups[0].as_deref().unwrap_or_default().trim_end();
    let fields = key_values(summary);
    let field = |key: &str| -> u64 {
        fields
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("XTEST-RESULT has no number for {key}: {summary}"))
    };

    boot.expect(POWER_DOWN, EXIT_TIMEOUT, "no power-off after xtest");
    let status = boot.exit(EXIT_TIMEOUT, "after power-off");
    let wall = started.elapsed();
    let output = boot.output();
    let log = boot.log();

    let failed_cases: Vec<&str> = output
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("regression_") || l.trim_start().starts_with("pkcs11_")
        })
        .filter(|l| l.contains("FAILED"))
        .collect();
    assert!(
        field("cases-failed") == 0
            && field("subtests-failed") == 0
            && fields.get("rc") == Some(&"0"),
        "xtest failed under the hypervisor: {summary}; failing lines: {failed_cases:?}; log: {log}"
    );
    assert_eq!(field("cases"), run.cases, "xtest case count: {summary}");
    assert!(field("subtests") > 0, "no subtests ran: {summary}");
    assert!(status.success(), "QEMU exited with {status}, want 0");

    // The proxy's audit at SYSTEM_OFF.
    let audit = Audit::parse(&output);
    let count = |fid: u32, what: &str| audit.get(fid, what, &log);
    let direct = count(FFA_MSG_SEND_DIRECT_REQ_32, "forwarded");
    let shares = count(FFA_MEM_SHARE_64, "forwarded");
    let reclaims = count(FFA_MEM_RECLAIM, "forwarded");
    assert!(
        direct >= run.min_direct_req,
        "FFA_MSG_SEND_DIRECT_REQ_32 forwarded {direct}, want >= {}",
        run.min_direct_req
    );
    assert!(
        shares >= run.min_mem_share,
        "FFA_MEM_SHARE_64 forwarded {shares}, want >= {}",
        run.min_mem_share
    );
    // A share the SPMC refuses is counted forwarded but never becomes live: OP-TEE refuses
    // one when it runs out of memory, which xtest tolerates for its large-TA case and prints
    // as "TEEC_ERROR_OUT_OF_MEMORY - ignored". Only those may leave a share unaccounted for.
    let tolerated_oom = output.matches("OUT_OF_MEMORY - ignored").count() as u64;
    let unaccounted = (shares - reclaims.min(shares)).checked_sub(audit.live_transactions);
    assert!(
        unaccounted.is_some_and(|n| n <= tolerated_oom),
        "every share xtest made must have been reclaimed through the proxy: shares {shares}, \
         reclaims {reclaims}, live transactions at power-off {}, shares OP-TEE refused for \
         lack of memory (tolerated by xtest) at most {tolerated_oom}; log: {log}",
        audit.live_transactions
    );
    for fid in [FFA_NOTIFICATION_INFO_GET_64, FFA_NOTIFICATION_GET] {
        assert!(
            count(fid, "forwarded") > 0,
            "no notification round went through the proxy ({fid:#x}); log: {log}"
        );
    }
    for (name, line) in &audit.lines {
        for (what, allowed) in [("unsupported", 0), ("bad-replies", 0)] {
            assert_eq!(
                line[what], allowed,
                "{name}: {what} {}; log: {log}",
                line[what]
            );
        }
        if name != "total" && line["fid"] != u64::from(FFA_MEM_SHARE_64) {
            assert_eq!(
                line["rejected"], 0,
                "{name}: calls from Linux rejected; log: {log}"
            );
        }
    }
    let share_rejections = count(FFA_MEM_SHARE_64, "rejected");
    assert_eq!(
        audit
            .lines
            .iter()
            .find(|(n, _)| n == "total")
            .map(|(_, l)| l["rejected"]),
        Some(share_rejections),
        "rejections other than FFA_MEM_SHARE's; log: {log}"
    );
    let warnings: Vec<&str> = output.lines().filter(|l| l.contains("hyp: WARN")).collect();
    for warning in &warnings {
        assert!(
            warning.contains(SHARED_PAGE_IN_USE),
            "a warning from the hypervisor other than the explained shared-page refusal: \
             {warning}; log: {log}"
        );
    }
    assert_eq!(
        share_rejections == 0,
        warnings.is_empty(),
        "MEM_SHARE rejections ({share_rejections}) and their warning lines ({}) disagree",
        warnings.len()
    );
    boot.assert_console_lacks(&[
        "hyp: ERROR",
        "Unable to handle kernel",
        "Internal error",
        "Kernel panic",
        "BUG:",
        "rcu_sched self-detected stall",
    ]);

    println!(
        "{}: {summary}; wall {:.0} s; proxy forwarded DIRECT_REQ_32 {direct}, MEM_SHARE_64 \
         {shares} (refused {share_rejections}: page already shared), MEM_RECLAIM {reclaims}, \
         NOTIFICATION_INFO_GET_64 {}; log: {log}",
        run.name,
        wall.as_secs_f64(),
        count(FFA_NOTIFICATION_INFO_GET_64, "forwarded"),
    );
}

/// `key=value` words of a marker line.
fn key_values(text: &str) -> HashMap<&str, &str> {
    text.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .collect()
}

/// The proxy's audit lines, as printed at SYSTEM_OFF:
/// `hyp: FF-A audit: <NAME> <fid>: forwarded N emulated N rejected N unsupported N bad-replies N`,
/// `hyp: FF-A audit: total: forwarded N ...`, `hyp: FF-A audit: live transactions N, ...`.
struct Audit {
    /// Name (or `total`) -> counts by word, plus `fid` (0 for the total).
    lines: Vec<(String, HashMap<String, u64>)>,
    /// Memory-sharing transactions still live at power-off.
    live_transactions: u64,
}

impl Audit {
    fn parse(output: &str) -> Self {
        let mut lines = Vec::new();
        let mut live_transactions = None;
        for line in output.lines() {
            let Some(rest) = line.trim_end().strip_prefix("hyp: FF-A audit: ") else {
                continue;
            };
            if let Some(live) = rest.strip_prefix("live transactions ") {
                live_transactions = live.split(',').next().and_then(|n| n.trim().parse().ok());
                continue;
            }
            let Some((head, counts)) = rest.split_once(": ") else {
                continue;
            };
            let mut words = head.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let fid = words
                .next()
                .and_then(|f| u64::from_str_radix(f.trim_start_matches("0x"), 16).ok())
                .unwrap_or(0);
            let mut map: HashMap<String, u64> = counts
                .split_whitespace()
                .collect::<Vec<_>>()
                .chunks(2)
                .filter_map(|kv| Some((kv[0].to_string(), kv.get(1)?.parse().ok()?)))
                .collect();
            if !map.contains_key("forwarded") {
                continue;
            }
            map.insert("fid".into(), fid);
            lines.push((name, map));
        }
        assert!(
            lines.iter().any(|(n, _)| n == "total"),
            "no FF-A audit total line at power-off"
        );
        Self {
            lines,
            live_transactions: live_transactions
                .unwrap_or_else(|| panic!("no FF-A audit 'live transactions' line")),
        }
    }

    /// The `what` count of function `fid`'s line (a missing line counts 0: the audit prints
    /// only functions that were called).
    fn get(&self, fid: u32, what: &str, log: &str) -> u64 {
        self.lines
            .iter()
            .find(|(_, l)| l["fid"] == u64::from(fid))
            .map_or(0, |(name, l)| {
                *l.get(what).unwrap_or_else(|| {
                    panic!("audit line {name} has no '{what}' count; log: {log}")
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_lines_are_read() {
        let output = "hyp: FF-A audit: FFA_MEM_SHARE 0xc4000073: forwarded 22 emulated 0 rejected 2 unsupported 0 bad-replies 0\r\n\
                      hyp: FF-A audit: total: forwarded 1582 emulated 8 rejected 2 unsupported 0 bad-replies 0\n\
                      hyp: FF-A audit: host mailbox TX 0x42b5f000 RX 0x42b0b000 (RX free)\n\
                      hyp: FF-A audit: live transactions 1, shared pages 1, ownership runs 3/1024\n";
        let audit = Audit::parse(output);
        assert_eq!(audit.get(FFA_MEM_SHARE_64, "forwarded", ""), 22);
        assert_eq!(audit.get(FFA_MEM_SHARE_64, "rejected", ""), 2);
        assert_eq!(audit.get(FFA_MEM_RECLAIM, "forwarded", ""), 0);
        assert_eq!(audit.live_transactions, 1);
        let total = &audit.lines.iter().find(|(n, _)| n == "total").unwrap().1;
        assert_eq!(total["forwarded"], 1582);
    }

    #[test]
    fn result_fields_are_read() {
        let fields = key_values("rc=0 cases=4 cases-failed=0 skipped=108 subtests=18 seconds=6.4");
        assert_eq!(fields["cases"], "4");
        assert_eq!(fields["rc"], "0");
    }
}
