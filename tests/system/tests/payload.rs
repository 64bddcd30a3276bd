//! The EL1 test payload (`tests/payload`) booted by the hypervisor in place of Linux, on
//! the full stack (TF-A, OP-TEE, the hypervisor as BL33): its own cases, then the FF-A
//! conformance matrix against OP-TEE 4.10 through the proxy (`tests/payload/src/ffa_cases.rs`),
//! which must pass in full: exactly the cases it is made of, phase by phase (see
//! [`expected_cases`]), none failed, none skipped (a SKIP there means the audit counters could
//! not prove what was forwarded). Every run's console must be free of error, warning and panic
//! lines but the hypervisor's expected ones (a refused call, an injected abort), and the
//! proxy's audit must count no bad reply from the SPMC.
//!
//! Three runs:
//! - `payload_cases_all_pass` on 4 CPUs (one TCG thread, as every other system test);
//! - `payload_cases_two_threads` on 2 CPUs with one host thread each (`ci/qemu.sh --mttcg`),
//!   where the TX-rewrite attack (`attack.mem-share-64.tx-rewritten-by-cpu1`) runs with CPU 1
//!   really executing beside CPU 0: CPU 1 rewrites the descriptor while CPU 0's SHAREs go
//!   through the hypervisor. The race must be seen to happen (some answer decided by CPU 1's
//!   value); the payload retries in batches, bounded, until it is;
//! - `payload_bad_calls_reach_no_smc`, the same 2-CPU run with the el-counter QEMU plugin
//!   (`tools/el-counter`): the witness, outside the hypervisor and without its audit
//!   counters, that the matrix's `hygiene`, `not-supported` and `bad` phases made no SMC from
//!   EL2 to EL3
//!   (the plugin counts EL3 entries per phase the payload marks), while the phases with
//!   forwarded calls did.
//!
//! Needs the manifest's `flash`, `payload_dtb`, `payload_dtb_smp2`, `payload_image` and
//! `el_counter_plugin` (`make test`). Console: `build/logs/<test>.log`; Secure world console:
//! `build/logs/<test>.secure.log`; the plugin's report: `build/logs/<test>.el-counter.log`.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use system_tests::artifacts::Payload;
use system_tests::boot::{assert_no_problem_lines, audit_line};
use system_tests::payload_spec::{
    FEATURE_QUERIES, NOT_SUPPORTED_CALLS, PHASE_END, PHASES, bad_case_count,
};
use system_tests::{Boot, Match, QemuArgs};

/// The payload's cases, as it names them (`tests/payload/src/cases.rs`). Each must PASS:
/// a SKIP (e.g. no carve-out node in the DT) fails this test like a FAIL does.
const CASES: [&str; 11] = [
    "psci-version",
    "dma-nodes-removed",
    "dma-mmio-withheld",
    "carveout-node",
    "carveout-read",
    "carveout-write",
    "carveout-exec",
    "cpu-on-all",
    "cpu-on-bad-entry",
    "gicr-tables",
    "its-lpi",
];

/// The FF-A matrix's phases whose cases are written one by one in
/// `tests/payload/src/ffa_cases.rs` (no generator to count them from): the exact number each
/// has. A case added there or removed changes this table, on purpose.
const HAND_WRITTEN_CASES: [(&str, usize); 6] = [
    ("negotiate", NEGOTIATE),
    ("mailbox", MAILBOX),
    ("memory", MEMORY),
    ("direct", DIRECT),
    ("notifications", NOTIFICATIONS),
    ("hygiene", HYGIENE),
];
const NEGOTIATE: usize = 12;
const MAILBOX: usize = 25;
const MEMORY: usize = 45;
const DIRECT: usize = 21;
const NOTIFICATIONS: usize = 28;
const HYGIENE: usize = 24;

/// The exact number of cases of the matrix's phase `name`: from the generator's tables for
/// the generated phases (the `FFA_FEATURES` queries, the not-supported calls, the bad-field
/// cases), from [`HAND_WRITTEN_CASES`] for the others.
fn expected_cases(name: &str) -> usize {
    match name {
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

/// The hypervisor's warnings a payload run provokes on purpose: a refused FF-A call, and the
/// external abort injected for a probe of memory that is not the host's (the carve-out cases,
/// the lent page), and the redistributor table bases the `gicr-tables` case points at the
/// carve-out (refused, EnableLPIs held off), and the ITS bases and commands the `its-lpi`
/// case points at the carve-out.
const EXPECTED_WARNINGS: [&str; 4] = [
    r"^hyp: WARN: ffa: ",
    r"^hyp: WARN: host (data|instruction) abort at IPA 0x[0-9a-f]+ ",
    r"^hyp: WARN: redistributor 0x[0-9a-f]+: ",
    r"^hyp: WARN: ITS: ",
];

/// TF-A + OP-TEE + hypervisor boot under TCG takes a few seconds; CI machines are slower.
const BANNER_TIMEOUT: Duration = Duration::from_secs(60);
/// From the banner to `PAYLOAD-DONE`: the cases take well under a second when they pass
/// (the FF-A matrix, about 1 800 calls plus 4 audit HVCs each, about a second more); the
/// payload's own waits add at most 10 s (CPUs coming online) + 5 s per CPU (going off).
const CASES_TIMEOUT: Duration = Duration::from_secs(120);
/// From `PAYLOAD-DONE` to QEMU's exit (PSCI SYSTEM_OFF through TF-A's GPIO power-off).
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The `PAYLOAD: <case> PASS|FAIL|SKIP ...` lines printed so far, for failure messages:
/// every line of the payload's own cases, only the FAIL and SKIP lines of the FF-A matrix
/// (its PASS lines number in the thousands), and its per-ABI tally.
fn case_lines(output: &str) -> String {
    let verdicts = [" PASS", " FAIL", " SKIP"];
    output
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| {
            let case = l.starts_with("PAYLOAD: ") && verdicts.iter().any(|v| l.contains(v));
            let ffa_pass =
                l.starts_with("PAYLOAD: ffa ") && !l.contains(" FAIL") && !l.contains(" SKIP");
            (case && !ffa_pass) || l.starts_with("FFA-")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The numbers of a regex match's capture groups (`usize::MAX` if one is missing).
fn numbers(m: &Match) -> Vec<usize> {
    m.groups
        .iter()
        .map(|g| {
            g.as_deref()
                .unwrap_or("")
                .parse::<usize>()
                .unwrap_or(usize::MAX)
        })
        .collect()
}

#[test]
fn payload_cases_all_pass() {
    let images = Payload::load();
    let args = QemuArgs::new(&images.flash, &images.dtb, &images.image);
    let output = run_payload("payload_cases_all_pass", &args);
    // The `its-lpi` case's carve-out queue, table and ITT were refused, each with a line.
    for what in [
        r"GITS_CBASER 0x[0-9a-f]+ refused \(0x[0-9a-f]+-0x[0-9a-f]+ is not host RAM\)",
        r"GITS_BASER\d 0x[0-9a-f]+ refused \(0x[0-9a-f]+-0x[0-9a-f]+ is not host RAM\)",
        r"GITS_CTLR\.Enabled before a command queue was accepted: kept off",
        r"command 0x08 at queue offset 0x0 refused \(ITT not host-owned RAM\)",
    ] {
        let line = Regex::new(&format!(r"(?m)^hyp: WARN: ITS: {what}")).expect("pattern");
        assert!(line.is_match(&output), "no ITS line {what}");
    }
    // The `gicr-tables` case's carve-out bases were refused by the hypervisor, which said so.
    for register in ["GICR_PROPBASER", "GICR_PENDBASER"] {
        let refused = Regex::new(&format!(
            r"(?m)^hyp: WARN: redistributor 0x[0-9a-f]+: {register} 0x[0-9a-f]+ refused \(0x[0-9a-f]+-0x[0-9a-f]+ is not host RAM\)"
        ))
        .expect("pattern");
        assert!(
            refused.is_match(&output),
            "no refusal line for {register} in the hypervisor's output"
        );
    }
}

/// The hostile host with a DMA engine: QEMU's `edu` device (`--edu`, its DMA mask wide enough
/// for all RAM) behind the PCIe root complex of the machine without an SMMU (`--iommu none`).
/// The hypervisor names every bus master it withholds at boot, and each of the payload's
/// probes of them (the `dma-*` cases, among all
/// the others, which must pass as in every run) is a stage-2 fault the hypervisor answers
/// with an external abort, one console line per address.
#[test]
fn payload_dma_attacker_with_edu() {
    let images = Payload::load();
    // The machine without the SMMU (every other configuration has it): the root complex has
    // no IOMMU the hypervisor owns, so the DMA policy withholds it.
    let dtb = system_tests::artifacts::require("payload_nosmmu_dtb");
    let args = QemuArgs::new(&images.flash, &dtb, &images.image)
        .with_edu()
        .without_iommu();
    let output = run_payload("payload_dma_attacker_with_edu", &args);
    for node in [
        r"/pcie@10000000 \(PCI host bridge\): 0x10000000-0x3eff0000, 0x3eff0000-0x3f000000, 0x4010000000-0x4020000000, 0x8000000000-0x10000000000",
        r"/fw-cfg@9020000 \(fw_cfg DMA\): 0x9020000-0x9020018",
        r"/virtio_mmio@a000000 \(virtio-mmio transport\): 0xa000000-0xa000200",
        r"/virtio_mmio@a003e00 \(virtio-mmio transport\): 0xa003e00-0xa004000",
    ] {
        let line = Regex::new(&format!(r"(?m)^hyp: DMA: withheld {node}\r?$")).unwrap();
        assert!(line.is_match(&output), "no boot line for {node}");
    }
    assert_eq!(
        output.matches("hyp: DMA: withheld ").count(),
        1 + 32 + 1,
        "fw_cfg, 32 virtio-mmio transports and the root complex"
    );
    assert!(output.contains("hyp: DMA: emulated /intc@8000000 (GICv3 redistributor LPI tables)"));
    assert!(output.contains("hyp: DMA: emulated /intc@8000000/its@8080000 (GICv3 ITS)"));
    for ipa in [
        "0x4010000000",
        "0x4010008000",
        "0x10000000",
        "0x3eff0000",
        "0x8000000000",
        "0xa000000",
        "0x9020010",
    ] {
        let line = format!("hyp: WARN: host data abort at IPA {ipa} ");
        assert!(output.contains(&line), "no injected abort for {ipa}");
    }
}

#[test]
fn payload_cases_two_threads() {
    let images = Payload::load();
    let args = QemuArgs::new(&images.flash, &images.dtb_smp2, &images.image)
        .with_smp(2)
        .with_mttcg();
    let output = run_payload("payload_cases_two_threads", &args);
    assert_race_happened(&output);
}

/// The TX-rewrite case ran on two CPUs at once, judged every answer itself (consistent with
/// one copy, audit counters exact, the page clean afterwards), and the race really happened:
/// at least one answer was decided by CPU 1's value, not by the boot CPU's own last store
/// (the payload shares in batches until one is, bounded, and fails nothing if none is: this
/// test does).
fn assert_race_happened(output: &str) {
    let race = output
        .lines()
        .find(|l| l.contains("attack.mem-share-64.tx-rewritten-by-cpu1"))
        .expect("no TX-rewrite race case in the payload's output");
    println!("{race}");
    let decided = Regex::new(r" PASS .*\b(\d+) decided by CPU 1's value")
        .expect("pattern")
        .captures(race)
        .and_then(|c| c[1].parse::<u64>().ok())
        .unwrap_or_else(|| panic!("TX-rewrite race case did not pass: {race:?}"));
    assert!(
        decided > 0,
        "the race never happened (no answer decided by CPU 1's value in every batch the payload \
         tried): {race:?}"
    );
}

/// One `el-counter: phase ...` line of the plugin's report.
#[derive(Debug, Default)]
struct PhaseCount {
    marks: u64,
    el1_traps: u64,
    el2_smc: u64,
    lower_smc: u64,
    line: String,
}

/// The plugin's per-phase counts, by phase number.
fn plugin_phases(report: &str) -> BTreeMap<u64, PhaseCount> {
    let re = Regex::new(
        r"(?m)^el-counter: phase id=(\d+) marks=(\d+) el1_traps=(\d+) el2_to_el3=\d+ el2_smc=(\d+) lower_to_el3=\d+ lower_smc=(\d+) smc_regs=(yes|no) smc_ids=\S+$",
    )
    .expect("pattern");
    re.captures_iter(report)
        .map(|c| {
            let n = |i: usize| c[i].parse::<u64>().unwrap_or(u64::MAX);
            assert_eq!(
                &c[6], "yes",
                "the plugin cannot read ESR_EL3 and VBAR_EL3 to tell an SMC: {}",
                &c[0]
            );
            (
                n(1),
                PhaseCount {
                    marks: n(2),
                    el1_traps: n(3),
                    el2_smc: n(4),
                    lower_smc: n(5),
                    line: c[0].to_string(),
                },
            )
        })
        .collect()
}

/// The witness that a rejected call reached nothing, outside the hypervisor: QEMU counts,
/// with the el-counter plugin, every entry into EL3 from the Non-secure world per phase the
/// payload marks (`hint #0x7b`, x0 = the phase). During the `hygiene`, `not-supported` and
/// `bad` phases (every call refused at EL2) EL2 made no SMC to EL3; no phase made an SMC from
/// EL1 straight to EL3 (every host SMC traps to EL2); and the phases with forwarded calls
/// show SMCs from EL2, so the witness does see them. The same run passes every case, as
/// the others.
#[test]
fn payload_bad_calls_reach_no_smc() {
    let name = "payload_bad_calls_reach_no_smc";
    let images = Payload::load();
    let report_path = system_tests::logs_dir().join(format!("{name}.el-counter.log"));
    let _ = std::fs::remove_file(&report_path);
    let mut args = QemuArgs::new(&images.flash, &images.dtb_smp2, &images.image)
        .with_smp(2)
        .with_mttcg();
    args.extra = vec![
        "-plugin".into(),
        format!("{},mode=tb", images.el_counter.display()),
        "-d".into(),
        "plugin".into(),
        "-D".into(),
        report_path.display().to_string(),
    ];
    let output = run_payload(name, &args);

    // The plugin writes its report when QEMU exits (which run_payload waited for).
    let report = std::fs::read_to_string(&report_path)
        .unwrap_or_else(|e| panic!("no el-counter report {}: {e}", report_path.display()));
    assert!(
        report.contains("el-counter: end"),
        "the el-counter report {} is incomplete",
        report_path.display()
    );
    let phases = plugin_phases(&report);
    let all = report
        .lines()
        .filter(|l| l.starts_with("el-counter: phase "))
        .collect::<Vec<_>>()
        .join("\n");
    println!("{all}");
    for (id, count) in &phases {
        assert_eq!(
            count.lower_smc, 0,
            "phase {id}: an SMC reached EL3 from EL1 without EL2: {}",
            count.line
        );
    }
    let phase = |id: u64, what: &str| {
        phases
            .get(&id)
            .unwrap_or_else(|| panic!("the plugin saw no phase {id} ({what}); its phases:\n{all}"))
    };
    for (id, name) in PHASES {
        let count = phase(id, name);
        assert_eq!(count.marks, 1, "phase {name} marked once: {}", count.line);
        assert!(
            count.el1_traps > 0,
            "phase {name}: no trap into EL2 seen: {}",
            count.line
        );
    }
    assert_eq!(phase(PHASE_END, "end").marks, 1);
    // Each bad case is one trapped SMC (plus the audit HVCs around it).
    let (bad, _) = PHASES.iter().find(|(_, n)| *n == "bad").expect("phase");
    assert!(phase(*bad, "bad").el1_traps >= bad_case_count() as u64);
    for refused in ["hygiene", "not-supported", "bad"] {
        let (id, _) = PHASES.iter().find(|(_, n)| *n == refused).expect("phase");
        let count = phase(*id, refused);
        assert_eq!(
            count.el2_smc, 0,
            "phase {refused}: calls the hypervisor refused reached EL3: {}",
            count.line
        );
    }
    for forwarding in ["features", "memory", "direct"] {
        let (id, _) = PHASES
            .iter()
            .find(|(_, n)| *n == forwarding)
            .expect("phase");
        let count = phase(*id, forwarding);
        assert!(
            count.el2_smc > 0,
            "phase {forwarding} forwards calls, but the witness saw no SMC from EL2: {}",
            count.line
        );
    }
    drop(output);
}

/// Boots the payload, checks every case and the FF-A matrix, waits for QEMU's exit; returns
/// the console output.
fn run_payload(name: &str, args: &QemuArgs) -> String {
    let mut boot = Boot::start(name, args);

    // The hypervisor's banner, before the payload says anything.
    let banner = boot.expect(r"(?i)hypervisor", BANNER_TIMEOUT, "no hypervisor banner");
    let before = &boot.output()[..banner.start];
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
    if let Err(e) = boot.qemu().expect_all(&patterns, CASES_TIMEOUT) {
        panic!(
            "not every case passed: {e}\n\n--- case results ---\n{}",
            case_lines(&boot.output())
        );
    }

    // The FF-A matrix: every case passed, none skipped, enough of them.
    let ffa = boot
        .qemu()
        .expect(
            r"FFA-CONFORMANCE: (\d+) passed, (\d+) failed, (\d+) skipped",
            CASES_TIMEOUT,
        )
        .unwrap_or_else(|e| {
            panic!(
                "no FFA-CONFORMANCE summary: {e}\n--- case results ---\n{}",
                case_lines(&boot.output())
            )
        });
    let [passed, failed, skipped] = numbers(&ffa)[..] else {
        panic!("bad FFA-CONFORMANCE line {:?}", ffa.line)
    };
    let want: usize = PHASES.iter().map(|(_, name)| expected_cases(name)).sum();
    assert!(
        failed == 0 && skipped == 0 && passed == want,
        "{:?}: want exactly {want} passed, 0 failed, 0 skipped\n--- case results (FF-A: FAIL and SKIP only) ---\n{}",
        ffa.line,
        case_lines(&boot.output())
    );
    assert_phases(&boot.output());

    let done = boot.expect(
        r"PAYLOAD-DONE pass=(\d+) fail=(\d+)",
        CASES_TIMEOUT,
        "no PAYLOAD-DONE line",
    );
    let counts = numbers(&done);
    assert_eq!(
        counts[..],
        [CASES.len() + passed, 0],
        "summary {:?}: want pass={} ({} cases + {passed} FF-A cases) fail=0\n--- case results ---\n{}",
        done.text,
        CASES.len() + passed,
        CASES.len(),
        case_lines(&boot.output())
    );
    assert!(
        boot.output().contains("PAYLOAD: skipped=0"),
        "a payload case was skipped\n--- case results ---\n{}",
        case_lines(&boot.output())
    );

    let status = boot.exit(EXIT_TIMEOUT, "after PAYLOAD-DONE");
    assert!(
        status.success(),
        "QEMU exited with {status} after SYSTEM_OFF, want 0; log: {}",
        boot.log()
    );
    let output = boot.output();
    assert_no_problem_lines(&output, &EXPECTED_WARNINGS, &boot.log());
    let total = audit_line(&output, "total:", &boot.log());
    assert!(
        total.ends_with(" bad-replies 0"),
        "the SPMC sent replies the proxy refused: {total}"
    );
    output
}

/// Every phase of the matrix ran, in order, with exactly its cases, all passed.
fn assert_phases(output: &str) {
    let re = Regex::new(
        r"(?m)^FFA-PHASE: (\S+) id=(\d+) cases=(\d+) passed=(\d+) failed=(\d+) skipped=(\d+)\r?$",
    )
    .expect("pattern");
    let seen: Vec<(String, u64, usize, usize)> = re
        .captures_iter(output)
        .map(|c| {
            let n = |i: usize| c[i].parse::<usize>().unwrap_or(usize::MAX);
            (c[1].to_string(), n(2) as u64, n(3), n(4))
        })
        .collect();
    let names: Vec<&str> = seen.iter().map(|(name, ..)| name.as_str()).collect();
    let want: Vec<&str> = PHASES.iter().map(|(_, name)| *name).collect();
    assert_eq!(names, want, "the matrix's phases, in order");
    for ((name, id, cases, passed), (want_id, _)) in seen.iter().zip(PHASES) {
        let want = expected_cases(name);
        assert_eq!(*id, want_id, "phase {name}'s number");
        assert_eq!(
            (*cases, *passed),
            (want, want),
            "phase {name}: want exactly {want} cases, all passed"
        );
    }
}
