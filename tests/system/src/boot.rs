//! Boot one stack configuration and expect console lines: the helper every system test uses.
//!
//! [`Boot::start`] runs `ci/qemu.sh` with the given [`QemuArgs`] through [`Qemu`] (its own
//! process group; killed by PID on drop and on any timeout). Every wait has a bound, and every
//! failure is a panic that says what was awaited, with the log path and the console's last
//! lines. The hypervisor's and Linux's milestone lines, which several tests wait for, are here
//! once ([`Boot::banner`], [`Boot::carve_out`], [`Boot::proxy_on`], [`Boot::entered_host`],
//! [`Boot::linux_powered_off`]).

use std::process::ExitStatus;
use std::time::Duration;

use crate::host_check::hex;
use crate::{Match, Qemu, QemuArgs};

/// The hypervisor's first line (`hypervisor/src/firmware/boot.rs`).
pub const BANNER: &str = r"hyp: ffa-hyp \S+ on \S+: running at EL2";
/// The carve-out line: `[start, end)` in groups 1 and 2. It runs to the space after the end
/// address, so a half-delivered line cannot match with a truncated number.
pub const CARVE_OUT: &str = r"hyp: carve-out (0x[0-9a-f]+)-(0x[0-9a-f]+) ";
/// The FF-A proxy is in the path (the Secure world answered FFA_VERSION with v1.2).
pub const PROXY_ON: &str = r"hyp: FF-A: proxy on, SPMC v1\.2";
/// The hand-over to the host.
pub const ENTERING_HOST: &str = r"hyp: entering host at EL1 pc=0x[0-9a-f]+";
/// Linux's last line before PSCI SYSTEM_OFF.
pub const POWER_DOWN: &str = r"reboot: Power down";

/// A running boot under `ci/qemu.sh`.
pub struct Boot {
    qemu: Qemu,
}

impl Boot {
    /// Starts `args` under `ci/qemu.sh`, logging to `build/logs/<name>.log`.
    pub fn start(name: &str, args: &QemuArgs) -> Self {
        let qemu = Qemu::spawn(name, args).unwrap_or_else(|e| panic!("{e}"));
        Self { qemu }
    }

    /// Waits up to `timeout` for `pattern` after the previous match; on failure panics with
    /// `failure: <what went wrong>`.
    pub fn expect(&mut self, pattern: &str, timeout: Duration, failure: &str) -> Match {
        self.qemu
            .expect(pattern, timeout)
            .unwrap_or_else(|e| panic!("{failure}: {e}"))
    }

    /// Waits up to `timeout` for every pattern (in any order); panics as [`Boot::expect`].
    pub fn expect_all(
        &mut self,
        patterns: &[&str],
        timeout: Duration,
        failure: &str,
    ) -> Vec<Match> {
        self.qemu
            .expect_all(patterns, timeout)
            .unwrap_or_else(|e| panic!("{failure}: {e}"))
    }

    /// The hypervisor's banner.
    pub fn banner(&mut self, timeout: Duration) -> Match {
        self.expect(BANNER, timeout, "no hypervisor banner")
    }

    /// The carve-out `[start, end)` the hypervisor reports; it must not be empty.
    pub fn carve_out(&mut self, timeout: Duration) -> (u64, u64) {
        let carve = self.expect(CARVE_OUT, timeout, "no carve-out line from the hypervisor");
        let range = (
            hex(carve.groups[0].as_deref().unwrap_or_default()),
            hex(carve.groups[1].as_deref().unwrap_or_default()),
        );
        assert!(range.0 < range.1, "empty carve-out {:?}", carve.text);
        range
    }

    /// The FF-A proxy is on.
    pub fn proxy_on(&mut self, timeout: Duration) {
        self.expect(PROXY_ON, timeout, "the FF-A proxy is not on");
    }

    /// The hypervisor entered the host at EL1.
    pub fn entered_host(&mut self, timeout: Duration) {
        self.expect(
            ENTERING_HOST,
            timeout,
            "the hypervisor did not enter the host",
        );
    }

    /// Linux powered off cleanly: its `reboot: Power down`, then QEMU's exit with status 0
    /// (PSCI SYSTEM_OFF through the firmware), each within `timeout`.
    pub fn linux_powered_off(&mut self, timeout: Duration) {
        self.expect(POWER_DOWN, timeout, "no power-off");
        let status = self.exit(timeout, "after power-off");
        assert!(status.success(), "QEMU exited with {status}, want 0");
    }

    /// Waits up to `timeout` for QEMU to exit; panics with `failure: ...` otherwise.
    pub fn exit(&mut self, timeout: Duration, failure: &str) -> ExitStatus {
        self.qemu
            .wait_exit(timeout)
            .unwrap_or_else(|e| panic!("{failure}: {e}"))
    }

    /// Asserts that the console so far contains none of `bad`, naming the log.
    pub fn assert_console_lacks(&self, bad: &[&str]) {
        let output = self.qemu.output();
        for bad in bad {
            assert!(
                !output.contains(bad),
                "console has {bad:?}; log: {}",
                self.log()
            );
        }
    }

    /// Everything the console printed so far.
    pub fn output(&self) -> String {
        self.qemu.output()
    }

    /// The log file, for messages.
    pub fn log(&self) -> String {
        self.qemu.log_path().display().to_string()
    }

    /// The runner itself, for helpers that take one (e.g. [`crate::host_check::check_block`]).
    pub fn qemu(&mut self) -> &mut Qemu {
        &mut self.qemu
    }
}

/// TF-A's own line when the machine powers off through its GPIO (TF-A prints it at ERROR
/// level): expected at the end of every run that powers off.
pub const TFA_POWER_OFF: &str = r"^ERROR:\s+QEMU System Power off: with GPIO\.$";

/// The console lines that report a problem, except those matching one of `expected`
/// (regexes, besides [`TFA_POWER_OFF`]): the hypervisor's `hyp: ERROR:` and `hyp: WARN:`,
/// TF-A's `ERROR:` and `WARNING:`, the payload's `PAYLOAD: warning` and FAIL lines, Linux's
/// `WARNING:`, `BUG:` and `Oops` (after its `[ time]` stamp), and any line that mentions a
/// panic.
pub fn problem_lines(output: &str, expected: &[&str]) -> Vec<String> {
    let expected: Vec<regex::Regex> = std::iter::once(TFA_POWER_OFF)
        .chain(expected.iter().copied())
        .map(|p| regex::Regex::new(p).unwrap_or_else(|e| panic!("bad pattern {p:?}: {e}")))
        .collect();
    let problem = regex::Regex::new(
        r"^(\[\s*[0-9.]+\] )?(hyp: (ERROR|WARN):|ERROR:|WARNING:|PAYLOAD: warning|PAYLOAD: .* FAIL |BUG:|Oops)|(?i)panic",
    )
    .expect("the problem pattern");
    output
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| problem.is_match(l) && !expected.iter().any(|e| e.is_match(l)))
        .map(str::to_string)
        .collect()
}

/// Asserts that the console has no [`problem_lines`] but `expected`, quoting the first ones.
pub fn assert_no_problem_lines(output: &str, expected: &[&str], log: &str) {
    let problems = problem_lines(output, expected);
    assert!(
        problems.is_empty(),
        "{} unexpected error/warning/panic line(s) on the console; log: {log}\n{}",
        problems.len(),
        problems[..problems.len().min(20)].join("\n")
    );
}

/// The proxy's audit line (printed at SYSTEM_OFF: `hyp: FF-A audit: <what>...`) containing
/// `what`, without its line end; panics naming `log` when there is none.
pub fn audit_line(output: &str, what: &str, log: &str) -> String {
    output
        .lines()
        .find(|l| l.starts_with("hyp: FF-A audit: ") && l.contains(what))
        .unwrap_or_else(|| panic!("no FF-A audit line for {what}; log: {log}"))
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_lines_are_found_by_name() {
        let output = "hyp: FF-A audit: FFA_RXTX_MAP 0xc4000066: forwarded 0 emulated 1\r\n\
                      hyp: FF-A audit: total: forwarded 9 rejected 0 \n";
        assert_eq!(
            audit_line(output, "FFA_RXTX_MAP ", "l"),
            "hyp: FF-A audit: FFA_RXTX_MAP 0xc4000066: forwarded 0 emulated 1"
        );
        assert_eq!(
            audit_line(output, "total:", "l"),
            "hyp: FF-A audit: total: forwarded 9 rejected 0"
        );
    }

    #[test]
    #[should_panic(expected = "no FF-A audit line for FFA_MEM_SHARE ; log: l")]
    fn a_missing_audit_line_names_the_log() {
        audit_line(
            "hyp: FF-A audit: total: forwarded 9\n",
            "FFA_MEM_SHARE ",
            "l",
        );
    }

    #[test]
    fn problem_lines_are_found_and_expected_ones_let_through() {
        let output = "hyp: ffa-hyp 0.1 on qemu-virt: running at EL2\r\n\
                      hyp: WARN: ffa: FFA_RXTX_MAP refused [#1]\n\
                      hyp: ERROR: trap before the hypervisor finished booting\n\
                      PAYLOAD: ffa good.x PASS FFA_ERROR(-2 INVALID_PARAMETERS)\n\
                      PAYLOAD: ffa bad.x FAIL want FFA_ERROR\n\
                      PAYLOAD: warning DT not repacked\n\
                      [    1.0] WARNING: CPU: 0 PID: 1 at x\n\
                      WARNING: CPU: 0 PID: 1 at x\n\
                      Kernel panic - not syncing\n\
                      ERROR:   QEMU System Power off: with GPIO.\r\n";
        assert_eq!(
            problem_lines(output, &[r"^hyp: WARN: ffa: "]),
            [
                "hyp: ERROR: trap before the hypervisor finished booting",
                "PAYLOAD: ffa bad.x FAIL want FFA_ERROR",
                "PAYLOAD: warning DT not repacked",
                "[    1.0] WARNING: CPU: 0 PID: 1 at x",
                "WARNING: CPU: 0 PID: 1 at x",
                "Kernel panic - not syncing",
            ]
        );
        assert!(problem_lines("ERROR:   QEMU System Power off: with GPIO.\n", &[]).is_empty());
    }

    #[test]
    fn milestones_match_the_lines_the_hypervisor_prints() {
        let re = |p: &str| regex::Regex::new(p).unwrap();
        assert!(re(BANNER).is_match("hyp: ffa-hyp 0.1.0 on qemu-virt: running at EL2"));
        let carve = re(CARVE_OUT)
            .captures("hyp: carve-out 0x60000000-0x62000000 (32 MiB)")
            .unwrap();
        assert_eq!((&carve[1], &carve[2]), ("0x60000000", "0x62000000"));
        assert!(!re(CARVE_OUT).is_match("hyp: carve-out 0x60000000-0x6200"));
        assert!(re(PROXY_ON).is_match("hyp: FF-A: proxy on, SPMC v1.2 (0x10002)"));
        assert!(re(ENTERING_HOST).is_match("hyp: entering host at EL1 pc=0x48000000"));
    }
}
