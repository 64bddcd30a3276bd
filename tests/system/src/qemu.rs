//! The QEMU runner: start `bash ci/qemu.sh`, watch its console, stop it for sure.
//!
//! ```no_run
//! use std::time::Duration;
//! use system_tests::{Qemu, QemuArgs};
//!
//! let args = QemuArgs::new("flash.bin", "payload.dtb", "payload.bin");
//! let mut qemu = Qemu::spawn("my_test", &args)?;
//! qemu.expect(r"(?i)hypervisor", Duration::from_secs(60))?;
//! let status = qemu.wait_exit(Duration::from_secs(30))?;
//! assert!(status.success());
//! # Ok::<(), system_tests::Error>(())
//! ```
//!
//! - The child runs in a process group of its own (`setpgid(0, 0)`), so its PID is also the
//!   group's ID. `ci/qemu.sh` execs QEMU, so that PID is QEMU's.
//! - Its stdout and stderr are read by two threads into one buffer (what `expect` searches)
//!   and into `build/logs/<test-name>.log`.
//! - Stopping: SIGKILL to the process group, then to the PID (`Child::kill`), then reap. This
//!   happens on drop, on any timeout, and never by process name.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use regex::bytes::Regex;

/// How long to wait, after the child exited, for the last console bytes.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Lines of console output quoted in an error.
const TAIL_LINES: usize = 40;

/// What QEMU starts first (`ci/qemu.sh --flash` or `--hypervisor`).
#[derive(Clone, Debug)]
pub enum Firmware {
    /// `--flash`: TF-A's flash image (BL1 + FIP with OP-TEE); its BL33 is the hypervisor
    /// (`ci/mkflash.sh`) or U-Boot (`ci/mkuboot.sh`).
    Flash(PathBuf),
    /// `--hypervisor`: no firmware. QEMU's `-kernel` is this hypervisor image (entered at EL2
    /// with x0 = the DTB) and QEMU's own PSCI answers its SMCs; there is no Secure world.
    None(PathBuf),
}

/// The arguments of `ci/qemu.sh`.
#[derive(Clone, Debug)]
pub struct QemuArgs {
    /// `--flash F` or `--hypervisor H`.
    pub firmware: Firmware,
    /// `--dtb`: the device tree (with [`QemuArgs::kernel`]; `None` when a boot loader on
    /// [`QemuArgs::disk`] brings its own).
    pub dtb: Option<PathBuf>,
    /// `--kernel`: the host kernel or payload Image (with [`QemuArgs::dtb`]).
    pub kernel: Option<PathBuf>,
    /// `--initrd`.
    pub initrd: Option<PathBuf>,
    /// `--disk`: a raw disk image on virtio-blk (the U-Boot chain boots from it).
    pub disk: Option<PathBuf>,
    /// `--gic` (the script's default, 3, otherwise; it must match the flash and the DTB).
    pub gic: Option<u32>,
    /// `--smp` (the script's default otherwise; it must match the DTB's CPUs).
    pub smp: Option<u32>,
    /// `--mttcg`: one host thread per vCPU (only with `smp` 1 or 2; see `ci/qemu.sh`).
    pub mttcg: bool,
    /// `--edu`: QEMU's PCI DMA test device behind the PCIe root complex.
    pub edu: bool,
    /// `--rng`: a virtio-rng PCI device behind the SMMU (the host's entropy source).
    pub rng: bool,
    /// `--iommu` (the script's default, `smmuv3`, otherwise; it must match the DTB).
    pub iommu: Option<String>,
    /// `--cpu`: the QEMU CPU model (the script's default, `max`, otherwise).
    pub cpu: Option<String>,
    /// `--secure-log`: the Secure world's UART. Default: `build/logs/<test>.secure.log`;
    /// never passed with [`Firmware::None`] (there is no Secure world).
    pub secure_log: Option<PathBuf>,
    /// Passed to QEMU after `--`.
    pub extra: Vec<String>,
}

impl QemuArgs {
    /// The TF-A chain: flash, DTB and kernel; everything else at its default.
    pub fn new(
        flash: impl Into<PathBuf>,
        dtb: impl Into<PathBuf>,
        kernel: impl Into<PathBuf>,
    ) -> Self {
        Self {
            firmware: Firmware::Flash(flash.into()),
            dtb: Some(dtb.into()),
            kernel: Some(kernel.into()),
            initrd: None,
            disk: None,
            gic: None,
            smp: None,
            mttcg: false,
            edu: false,
            rng: false,
            iommu: None,
            cpu: None,
            secure_log: None,
            extra: Vec::new(),
        }
    }

    /// With `--initrd`.
    pub fn with_initrd(mut self, initrd: impl Into<PathBuf>) -> Self {
        self.initrd = Some(initrd.into());
        self
    }

    /// With `--smp` (it must match the DTB's CPUs).
    pub fn with_smp(mut self, smp: u32) -> Self {
        self.smp = Some(smp);
        self
    }

    /// With `--mttcg`: one host thread per vCPU.
    pub fn with_mttcg(mut self) -> Self {
        self.mttcg = true;
        self
    }

    /// With `--edu`: QEMU's PCI DMA test device (the hostile host's DMA engine).
    pub fn with_edu(mut self) -> Self {
        self.edu = true;
        self
    }

    /// With `--rng`: a virtio-rng PCI device behind the SMMU.
    pub fn with_rng(mut self) -> Self {
        self.rng = true;
        self
    }

    /// With `--iommu none`: the machine without the SMMU (its DTB dumped the same way).
    pub fn without_iommu(mut self) -> Self {
        self.iommu = Some("none".into());
        self
    }

    /// With `--cpu MODEL`: a QEMU CPU model (`ci/qemu.sh` adds what the firmware needs).
    pub fn with_cpu(mut self, model: &str) -> Self {
        self.cpu = Some(model.into());
        self
    }

    /// With `--gic` (it must match the flash and the DTB).
    pub fn with_gic(mut self, gic: u32) -> Self {
        self.gic = Some(gic);
        self
    }

    /// The U-Boot chain: a flash whose BL33 is U-Boot and the disk its `boot.scr` is on.
    pub fn uboot(flash: impl Into<PathBuf>, disk: impl Into<PathBuf>) -> Self {
        Self {
            dtb: None,
            kernel: None,
            disk: Some(disk.into()),
            ..Self::new(flash, "", "")
        }
    }

    /// No firmware: the hypervisor as QEMU's `-kernel`, with a DTB and kernel.
    pub fn no_firmware(
        hypervisor: impl Into<PathBuf>,
        dtb: impl Into<PathBuf>,
        kernel: impl Into<PathBuf>,
    ) -> Self {
        Self {
            firmware: Firmware::None(hypervisor.into()),
            ..Self::new("", dtb, kernel)
        }
    }

    fn to_args(&self, default_secure_log: &Path) -> Vec<String> {
        let path = |p: &Path| p.display().to_string();
        let mut args = match &self.firmware {
            Firmware::Flash(flash) => vec!["--flash".into(), path(flash)],
            Firmware::None(hypervisor) => vec!["--hypervisor".into(), path(hypervisor)],
        };
        for (option, value) in [
            ("--dtb", &self.dtb),
            ("--kernel", &self.kernel),
            ("--initrd", &self.initrd),
            ("--disk", &self.disk),
        ] {
            if let Some(value) = value {
                args.extend([option.into(), path(value)]);
            }
        }
        if let Some(gic) = self.gic {
            args.extend(["--gic".into(), gic.to_string()]);
        }
        if let Some(smp) = self.smp {
            args.extend(["--smp".into(), smp.to_string()]);
        }
        if self.mttcg {
            args.push("--mttcg".into());
        }
        if self.edu {
            args.push("--edu".into());
        }
        if self.rng {
            args.push("--rng".into());
        }
        if let Some(iommu) = &self.iommu {
            args.extend(["--iommu".into(), iommu.clone()]);
        }
        if let Some(cpu) = &self.cpu {
            args.extend(["--cpu".into(), cpu.clone()]);
        }
        if let Firmware::Flash(_) = self.firmware {
            let secure_log = self.secure_log.as_deref().unwrap_or(default_secure_log);
            args.extend(["--secure-log".into(), path(secure_log)]);
        }
        if !self.extra.is_empty() {
            args.push("--".into());
            args.extend(self.extra.iter().cloned());
        }
        args
    }
}

/// Why a runner call failed. Every variant names the log and quotes the console's tail.
pub enum Error {
    /// The child could not be started, or the log not created.
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        source: io::Error,
    },
    /// A pattern or the exit did not come in time (QEMU has been killed).
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
        /// The log file.
        log: PathBuf,
        /// The console's last lines.
        tail: String,
    },
    /// QEMU's console closed before the awaited pattern appeared.
    Exited {
        /// What was awaited.
        what: String,
        /// The exit status, if it was collected.
        status: Option<ExitStatus>,
        /// The log file.
        log: PathBuf,
        /// The console's last lines.
        tail: String,
    },
    /// A pattern is not a valid regular expression.
    Regex(regex::Error),
    /// Writing to QEMU's stdin failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spawn { command, source } => write!(f, "cannot start `{command}`: {source}"),
            Error::Timeout {
                what,
                after,
                log,
                tail,
            } => write!(
                f,
                "timed out after {:.1} s waiting for {what} (QEMU killed); log: {}\n\
                 --- last console lines ---\n{tail}",
                after.as_secs_f64(),
                log.display()
            ),
            Error::Exited {
                what,
                status,
                log,
                tail,
            } => write!(
                f,
                "QEMU's console closed ({}) while waiting for {what}; log: {}\n\
                 --- last console lines ---\n{tail}",
                status.map_or_else(|| "status unknown".to_string(), |s| s.to_string()),
                log.display()
            ),
            Error::Regex(e) => write!(f, "bad pattern: {e}"),
            Error::Io(e) => write!(f, "QEMU stdin: {e}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// One match of [`Qemu::expect`].
#[derive(Clone, Debug)]
pub struct Match {
    /// The matched text.
    pub text: String,
    /// Capture groups 1.. (`None` for a group that did not take part).
    pub groups: Vec<Option<String>>,
    /// The whole console line the match starts on (without the line end).
    pub line: String,
    /// Byte offset of the match in the console output.
    pub start: usize,
    /// Byte offset just past the match.
    pub end: usize,
}

/// The console as the reader threads fill it.
struct Console {
    state: Mutex<ConsoleState>,
    changed: Condvar,
}

struct ConsoleState {
    bytes: Vec<u8>,
    /// Streams (stdout, stderr) not yet at end of file.
    open: usize,
    log: File,
}

impl Console {
    fn lock(&self) -> MutexGuard<'_, ConsoleState> {
        // A reader thread that panicked leaves valid bytes behind: keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn pump(self: Arc<Self>, mut stream: impl Read + Send + 'static) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                let n = match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                let mut state = self.lock();
                if n == 0 {
                    state.open -= 1;
                    self.changed.notify_all();
                    return;
                }
                state.bytes.extend_from_slice(&chunk[..n]);
                let _ = state.log.write_all(&chunk[..n]);
                let _ = state.log.flush();
                self.changed.notify_all();
            }
        })
    }
}

/// A running `ci/qemu.sh`.
pub struct Qemu {
    child: Child,
    stdin: Option<ChildStdin>,
    console: Arc<Console>,
    /// Where the next `expect` starts searching.
    cursor: usize,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Qemu {
    /// Starts `bash ci/qemu.sh <args>` from the repository root, logging to
    /// `build/logs/<test_name>.log`, and notes the configuration for the table of tested
    /// configurations ([`crate::tested::note`]).
    pub fn spawn(test_name: &str, args: &QemuArgs) -> Result<Self, Error> {
        let root = crate::repo_root();
        let secure_log = crate::logs_dir().join(format!("{test_name}.secure.log"));
        let mut command = vec!["ci/qemu.sh".to_string()];
        command.extend(args.to_args(&secure_log));
        let qemu = Self::spawn_command(test_name, "bash", &command, &root)?;
        // What this boots counts as tested if the calling test passes (`crate::tested`).
        crate::tested::note(args);
        Ok(qemu)
    }

    /// Starts any `program args...` in `dir` under the same supervision as [`Qemu::spawn`].
    /// (The runner's own tests use it with small shell scripts.)
    pub fn spawn_command(
        test_name: &str,
        program: &str,
        args: &[String],
        dir: &Path,
    ) -> Result<Self, Error> {
        let shown = format!("{program} {}", args.join(" "));
        let spawn_error = |source| Error::Spawn {
            command: shown.clone(),
            source,
        };
        let log_path = crate::logs_dir().join(format!("{test_name}.log"));
        fs::create_dir_all(log_path.parent().unwrap_or(Path::new("."))).map_err(spawn_error)?;
        let mut log = File::create(&log_path).map_err(spawn_error)?;
        writeln!(log, "# system-tests: {shown} (in {})", dir.display()).map_err(spawn_error)?;

        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(spawn_error)?;
        let console = Arc::new(Console {
            state: Mutex::new(ConsoleState {
                bytes: Vec::new(),
                open: 2,
                log,
            }),
            changed: Condvar::new(),
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        // The threads end at end of file, which killing the process group guarantees.
        Arc::clone(&console).pump(stdout);
        Arc::clone(&console).pump(stderr);
        Ok(Self {
            stdin: child.stdin.take(),
            child,
            console,
            cursor: 0,
            log: log_path,
            status: None,
        })
    }

    /// QEMU's PID (also its process group's ID).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the console printed so far (lossy UTF-8).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.console.lock().bytes).into_owned()
    }

    /// Waits up to `timeout` for `pattern` (a regex) in the output after the previous match,
    /// and moves past it. On timeout QEMU is killed.
    pub fn expect(&mut self, pattern: &str, timeout: Duration) -> Result<Match, Error> {
        let mut matches = self.expect_all(&[pattern], timeout)?;
        Ok(matches.remove(0))
    }

    /// Waits up to `timeout` until every pattern has matched (in any order) after the
    /// previous match; returns the matches in pattern order and moves past the last one.
    pub fn expect_all(
        &mut self,
        patterns: &[&str],
        timeout: Duration,
    ) -> Result<Vec<Match>, Error> {
        let regexes = patterns
            .iter()
            .map(|p| Regex::new(p).map_err(Error::Regex))
            .collect::<Result<Vec<_>, _>>()?;
        let deadline = Instant::now() + timeout;
        let console = Arc::clone(&self.console);
        let mut state = console.lock();
        loop {
            let found: Vec<Option<Match>> = regexes
                .iter()
                .map(|re| find(re, &state.bytes, self.cursor))
                .collect();
            if found.iter().all(Option::is_some) {
                let found: Vec<Match> = found.into_iter().flatten().collect();
                self.cursor = found.iter().map(|m| m.end).max().unwrap_or(self.cursor);
                return Ok(found);
            }
            let missing = patterns
                .iter()
                .zip(&found)
                .filter(|(_, m)| m.is_none())
                .map(|(p, _)| format!("/{p}/"))
                .collect::<Vec<_>>()
                .join(", ");
            if state.open == 0 {
                let tail = tail(&state.bytes);
                drop(state);
                let status = self.child.try_wait().ok().flatten();
                return Err(Error::Exited {
                    what: missing,
                    status,
                    log: self.log.clone(),
                    tail,
                });
            }
            let now = Instant::now();
            if now >= deadline {
                let tail = tail(&state.bytes);
                drop(state);
                self.kill();
                return Err(Error::Timeout {
                    what: missing,
                    after: timeout,
                    log: self.log.clone(),
                    tail,
                });
            }
            state = console
                .changed
                .wait_timeout(state, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// The exit status, polling for up to `limit` (without killing).
    fn poll_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while self.status.is_none() {
            match self.child.try_wait() {
                Ok(Some(status)) => self.status = Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) | Err(_) => break,
            }
        }
        self.status
    }

    /// Waits up to `timeout` for QEMU to exit and its console to drain; on timeout QEMU is
    /// killed.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        let Some(status) = self.poll_exit(timeout) else {
            let tail = tail(&self.console.lock().bytes);
            self.kill();
            return Err(Error::Timeout {
                what: "QEMU to exit".into(),
                after: timeout,
                log: self.log.clone(),
                tail,
            });
        };
        // The exit closed QEMU's ends of the pipes: let the readers catch up.
        let console = Arc::clone(&self.console);
        let drained = console.lock();
        let _ = console
            .changed
            .wait_timeout_while(drained, DRAIN_GRACE, |s| s.open > 0);
        Ok(status)
    }

    /// Sends `line` and a newline to QEMU's stdin (the guest's console input).
    pub fn send(&mut self, line: &str) -> Result<(), Error> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| Error::Io(io::Error::new(io::ErrorKind::BrokenPipe, "stdin closed")))?;
        stdin.write_all(line.as_bytes()).map_err(Error::Io)?;
        stdin.write_all(b"\n").map_err(Error::Io)?;
        stdin.flush().map_err(Error::Io)
    }

    /// Stops QEMU now: SIGKILL to its process group (anything `ci/qemu.sh` left behind goes
    /// too) and to its PID, then reaps it. Does nothing once it has been reaped: its PID
    /// and group ID may belong to someone else by then.
    pub fn kill(&mut self) {
        if self.status.is_some() {
            return;
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the process group this runner created for its own child, which
        // has not been reaped yet, so the group ID cannot have been reused. No memory involved.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
        let mut state = self.console.lock();
        let _ = writeln!(
            state.log,
            "\n# system-tests: stopped QEMU (pid {pid}) with SIGKILL"
        );
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.stdin.take();
        self.kill();
    }
}

/// The first match of `re` at or after `from`, with its line.
fn find(re: &Regex, bytes: &[u8], from: usize) -> Option<Match> {
    let caps = re.captures_at(bytes, from)?;
    let whole = caps.get(0)?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let line_start = bytes[..whole.start()]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line_end = bytes[whole.start()..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| whole.start() + i);
    Some(Match {
        text: text(whole.as_bytes()),
        groups: caps
            .iter()
            .skip(1)
            .map(|g| g.map(|g| text(g.as_bytes())))
            .collect(),
        line: text(&bytes[line_start..line_end])
            .trim_end_matches('\r')
            .to_string(),
        start: whole.start(),
        end: whole.end(),
    })
}

/// The last [`TAIL_LINES`] lines of the console.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    //! The runner against small shell scripts (no QEMU needed).

    use super::*;

    fn sh(name: &str, script: &str) -> Qemu {
        Qemu::spawn_command(
            name,
            "bash",
            &["-c".to_string(), script.to_string()],
            &crate::repo_root(),
        )
        .expect("bash starts")
    }

    /// Whether process `pid` (or, negative, any member of process group `-pid`) exists.
    fn alive(pid: i64) -> bool {
        // SAFETY: signal 0 only checks for existence; nothing is delivered.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }

    #[test]
    fn expect_finds_patterns_in_order_and_captures() {
        let mut q = sh(
            "runner-selftest-expect",
            "echo 'boot hypervisor v1'; echo 'x=41'; echo 'x=42'",
        );
        let banner = q
            .expect(r"(?i)HYPERVISOR v(\d+)", Duration::from_secs(10))
            .unwrap();
        assert_eq!(banner.groups, vec![Some("1".to_string())]);
        assert_eq!(banner.line, "boot hypervisor v1");
        let first = q.expect(r"x=(\d+)", Duration::from_secs(10)).unwrap();
        let second = q.expect(r"x=(\d+)", Duration::from_secs(10)).unwrap();
        assert_eq!(
            (first.text.as_str(), second.text.as_str()),
            ("x=41", "x=42")
        );
        assert!(q.wait_exit(Duration::from_secs(10)).unwrap().success());
        let log = fs::read_to_string(q.log_path()).unwrap();
        assert!(log.contains("x=42"), "console is teed to the log");
    }

    #[test]
    fn expect_all_accepts_any_order() {
        let mut q = sh("runner-selftest-expect-all", "echo b; echo a; echo c");
        let found = q
            .expect_all(&["a", "b", "c"], Duration::from_secs(10))
            .unwrap();
        assert!(found[0].start > found[1].start);
        assert!(
            q.expect("b", Duration::from_millis(500)).is_err(),
            "cursor moved past all"
        );
    }

    #[test]
    fn exit_before_the_pattern_fails_fast_with_the_tail() {
        let mut q = sh("runner-selftest-exited", "echo something else; exit 3");
        let started = Instant::now();
        let err = q
            .expect("never printed", Duration::from_secs(30))
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(matches!(err, Error::Exited { .. }), "{err}");
        assert!(err.to_string().contains("something else"), "{err}");
        assert_eq!(
            q.wait_exit(Duration::from_secs(10)).unwrap().code(),
            Some(3)
        );
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        // bash runs `sleep` as a child: both must go (group kill), bash by its PID.
        let mut q = sh("runner-selftest-timeout", "sleep 60 & echo started; wait");
        q.expect("started", Duration::from_secs(10)).unwrap();
        let pid = i64::from(q.pid());
        assert!(alive(-pid), "the child leads its own process group");
        let err = q.expect("never", Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(!alive(pid), "the child was killed and reaped");
        // The killed `sleep` is reaped by init, asynchronously: allow it a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(-pid) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(-pid), "no member of its process group is left");
    }

    #[test]
    fn drop_kills_and_wait_exit_times_out() {
        let mut q = sh("runner-selftest-drop", "sleep 60");
        let pid = i64::from(q.pid());
        assert!(q.wait_exit(Duration::from_millis(200)).is_err());
        assert!(!alive(pid));
        let q = sh("runner-selftest-drop2", "sleep 60");
        let pid = i64::from(q.pid());
        drop(q);
        assert!(!alive(pid) && !alive(-pid));
    }

    #[test]
    fn send_reaches_stdin() {
        let mut q = sh("runner-selftest-send", "read line; echo \"got:$line\"");
        q.send("poweroff").unwrap();
        q.expect("got:poweroff", Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn qemu_args_follow_the_script_options() {
        let mut args = QemuArgs::new("f.bin", "d.dtb", "k.bin");
        args.initrd = Some("i.cpio".into());
        args.smp = Some(2);
        args.mttcg = true;
        args.extra = vec!["-d".into(), "unimp".into()];
        assert_eq!(
            args.to_args(Path::new("s.log")).join(" "),
            "--flash f.bin --dtb d.dtb --kernel k.bin --initrd i.cpio --smp 2 --mttcg \
             --secure-log s.log -- -d unimp"
        );
    }

    #[test]
    fn qemu_args_builders_set_the_fields() {
        let args = QemuArgs::new("f.bin", "d.dtb", "k.bin")
            .with_initrd("i.cpio")
            .with_smp(2)
            .with_mttcg()
            .with_gic(2);
        assert_eq!(
            args.to_args(Path::new("s.log")).join(" "),
            "--flash f.bin --dtb d.dtb --kernel k.bin --initrd i.cpio --gic 2 --smp 2 --mttcg \
             --secure-log s.log"
        );
    }

    #[test]
    fn qemu_args_with_edu() {
        let args = QemuArgs::new("f.bin", "d.dtb", "k.bin").with_edu();
        assert_eq!(
            args.to_args(Path::new("s.log")).join(" "),
            "--flash f.bin --dtb d.dtb --kernel k.bin --edu --secure-log s.log"
        );
    }

    #[test]
    fn qemu_args_with_rng_iommu_and_cpu() {
        let args = QemuArgs::new("f.bin", "d.dtb", "k.bin")
            .with_rng()
            .without_iommu()
            .with_cpu("cortex-a53");
        assert_eq!(
            args.to_args(Path::new("s.log")).join(" "),
            "--flash f.bin --dtb d.dtb --kernel k.bin --rng --iommu none --cpu cortex-a53 \
             --secure-log s.log"
        );
    }

    #[test]
    fn qemu_args_for_the_uboot_chain_and_without_firmware() {
        let mut uboot = QemuArgs::uboot("u.bin", "disk.img");
        uboot.gic = Some(2);
        assert_eq!(
            uboot.to_args(Path::new("s.log")).join(" "),
            "--flash u.bin --disk disk.img --gic 2 --secure-log s.log"
        );
        let mut direct = QemuArgs::no_firmware("hyp.bin", "d.dtb", "k.bin");
        direct.initrd = Some("i.cpio".into());
        direct.secure_log = Some("ignored.log".into());
        assert_eq!(
            direct.to_args(Path::new("s.log")).join(" "),
            "--hypervisor hyp.bin --dtb d.dtb --kernel k.bin --initrd i.cpio"
        );
    }
}
