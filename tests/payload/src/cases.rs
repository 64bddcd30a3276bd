//! The cases, run in this order on the boot CPU:
//!
//! | case | what must hold |
//! |---|---|
//! | `psci-version` | PSCI_VERSION answers >= 1.0 through the DT's conduit |
//! | `dma-*` | the DMA policy's withheld devices, as a hostile host sees them ([`crate::dma_cases`]) |
//! | `carveout-node` | exactly one `/reserved-memory/hypervisor@*` with `reg` and `no-map`, page-aligned, inside RAM, clear of this payload and its DTB |
//! | `carveout-read` | loads from the first and last doubleword of the carve-out each raise a synchronous external abort at this EL1 (EC 0x25, FSC 0x10, FAR = address if valid, ELR = the load) |
//! | `carveout-write` | the same for stores |
//! | `carveout-exec` | a branch to the carve-out's last word raises an instruction abort (EC 0x21, FSC 0x10, ELR = FAR = target) |
//! | `cpu-on-all` | CPU_ON of every other DT CPU succeeds; each reports from EL1 with its context_id in x0 and parks; AFFINITY_INFO then says ON (CPU_OFF is broken in this Secure world, see `secondary_report`) |
//! | `cpu-on-bad-entry` | CPU_ON with an entry in the carve-out or above RAM gets INVALID_ADDRESS (-9); CPU_ON of the calling CPU gets ALREADY_ON (-4) |
//! | `gicr-tables` | the first redistributor's LPI table registers refuse the carve-out (old values kept, EnableLPIs held off) and take this payload's own RAM ([`crate::gicr`]) |
//! | `its-lpi` | the ITS refuses the carve-out for its queue, tables and an ITT (old values kept, nothing reaches the ITS) and delivers an LPI through tables in this payload's RAM ([`crate::its`]) |
//! | `ffa *` | the FF-A conformance matrix against OP-TEE through the hypervisor's proxy, about 1 800 cases with their own summary line ([`crate::ffa_cases`]) |
//!
//! Without a carve-out node (not under the hypervisor) the carve-out cases,
//! `cpu-on-bad-entry` and the FF-A matrix SKIP: nothing is there to probe, and plain QEMU's PSCI does not
//! validate entry points (`target/arm/arm-powerctl.c`, `arm_set_cpu_on`).

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use crate::dt::{Carveout, Platform, Region};
use crate::entry::{NO_CPU, PAYLOAD_CPU_MPIDRS};
use crate::esr::{self, EC_DABT_CURRENT, EC_IABT_CURRENT, Esr, Observed};
use crate::exceptions::{ProbeKind, run_probe};
use crate::psci::{self, AFFINITY_ON, Ret};
use crate::report::{self, Line, Outcome, text};
use crate::{MAX_CPUS, arch, time};

/// How long all secondaries together get to come online and report.
const ONLINE_TIMEOUT_MS: u64 = 10_000;
/// A recognisable value for the store probe (it lands in hypervisor memory if protection
/// is broken, which the case then reports).
const STORE_PATTERN: u64 = 0x5afe_c0de_dead_beef;
/// context_id for CPU_ON: this tag in bits 63:40, the target's MPIDR below, so a context
/// that arrives for the wrong CPU is caught as well as a lost one.
const CONTEXT_TAG: u64 = 0xc0_ffee << 40;

const WHY_NO_CARVEOUT: &str =
    "no /reserved-memory/hypervisor@* node in the DT: not running under the hypervisor";

/// Runs every case and records its result. `dtb`/`dtb_size` locate the DT in memory.
/// `rd` is the first redistributor's RD_base, if the DT has a GICv3.
pub fn run_all(platform: &Platform, dtb: u64, dtb_size: u64, rd: Option<u64>) {
    check_vectors();
    report::record("psci-version", &psci_version(platform));
    crate::dma_cases::run_all(platform, dtb, dtb_size);
    report::record(
        "carveout-node",
        &carveout_node(
            platform,
            Region {
                base: dtb,
                size: dtb_size,
            },
        ),
    );
    report::record("carveout-read", &carveout_access(platform, Access::Read));
    report::record("carveout-write", &carveout_access(platform, Access::Write));
    report::record("carveout-exec", &carveout_exec(platform));
    report::record("cpu-on-all", &cpu_on_all(platform));
    report::record("cpu-on-bad-entry", &cpu_on_bad_entry(platform));
    crate::gicr::run(platform, rd);
    crate::its::run(platform, dtb, dtb_size, rd);
    crate::ffa_cases::run_all(platform);
}

/// VBAR_EL1 ignores bits 10:0: a load address that is not 2 KiB-aligned would misplace the
/// vectors, and every probe would go astray. Booting.rst promises a 2 MiB-aligned base.
fn check_vectors() {
    if arch::vbar() & 0x7ff != 0 {
        println!(
            "PAYLOAD: warning VBAR_EL1={:#x} is not 2 KiB-aligned",
            arch::vbar()
        );
    }
}

fn psci_version(platform: &Platform) -> Outcome {
    let Some(conduit) = platform.conduit else {
        return Outcome::Fail(text(format_args!(
            "no PSCI node with method \"smc\" or \"hvc\" in the DT"
        )));
    };
    let version = psci::version();
    if version.is_error() {
        return Outcome::Fail(text(format_args!(
            "PSCI_VERSION returned {:#x} ({}) via {}",
            version.0,
            Ret(version.0 as i32),
            conduit.name()
        )));
    }
    let details = text(format_args!("version={version} conduit={}", conduit.name()));
    if version.major() >= 1 {
        Outcome::Pass(details)
    } else {
        Outcome::Fail(details)
    }
}

fn carveout_node(platform: &Platform, dtb: Region) -> Outcome {
    let Some(Carveout { region, no_map }) = platform.carveout else {
        return Outcome::Skip(text(format_args!("{WHY_NO_CARVEOUT}")));
    };
    let (load, end) = arch::image_range();
    let image = Region {
        base: load,
        size: end - load,
    };
    let mut problems = Line::new();
    let mut problem = |args: core::fmt::Arguments| {
        problems.separate();
        let _ = problems.write_fmt(args);
    };
    if platform.carveout_nodes != 1 {
        problem(format_args!(
            "{} hypervisor@ nodes, want 1",
            platform.carveout_nodes
        ));
    }
    if region.size == 0 {
        problem(format_args!("reg size is 0"));
    }
    if !no_map {
        problem(format_args!("no `no-map` property"));
    }
    if !region.base.is_multiple_of(4096) || !region.size.is_multiple_of(4096) {
        problem(format_args!("not 4 KiB-aligned"));
    }
    if !platform.ram().iter().any(|ram| ram.covers(&region)) {
        problem(format_args!("not inside one /memory region"));
    }
    if region.overlaps(&image) {
        problem(format_args!(
            "overlaps this payload [{:#x}, {:#x})",
            image.base,
            image.end()
        ));
    }
    if region.overlaps(&dtb) {
        problem(format_args!(
            "overlaps the DTB [{:#x}, {:#x})",
            dtb.base,
            dtb.end()
        ));
    }
    let summary = text(format_args!(
        "[{:#x}, {:#x}) size={:#x}{}",
        region.base,
        region.end(),
        region.size,
        if no_map { " no-map" } else { "" }
    ));
    if problems.is_empty() {
        Outcome::Pass(summary)
    } else {
        Outcome::Fail(text(format_args!("{summary}: {problems}")))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// The first and last doubleword of the carve-out.
fn data_probe_addresses(region: &Region) -> [u64; 2] {
    [region.base, region.end() - 8]
}

fn carveout_access(platform: &Platform, access: Access) -> Outcome {
    let Some(carveout) = platform.carveout.filter(|c| c.region.size >= 8) else {
        return Outcome::Skip(text(format_args!("{WHY_NO_CARVEOUT}")));
    };
    let mut last = None;
    for addr in data_probe_addresses(&carveout.region) {
        let (value, seen, insn) = match access {
            Access::Read => {
                // SAFETY: the handler is armed for a data abort and skips the load; were the
                // carve-out readable, reading it has no side effects.
                let (value, seen) = run_probe(ProbeKind::Data, || unsafe { arch::load(addr) });
                (value, seen, arch::probe_load_address())
            }
            Access::Write => {
                // SAFETY: the handler is armed for a data abort and skips the store. Were the
                // carve-out writable, the store would corrupt hypervisor memory: that is the
                // bug this case exists to report, and it does so before anything else runs.
                let ((), seen) = run_probe(ProbeKind::Data, || unsafe {
                    arch::store(addr, STORE_PATTERN)
                });
                (STORE_PATTERN, seen, arch::probe_store_address())
            }
        };
        let verb = if access == Access::Read {
            "load from"
        } else {
            "store to"
        };
        let Some(seen) = seen else {
            return Outcome::Fail(text(format_args!(
                "{verb} {addr:#x} completed without an abort (value {value:#x})"
            )));
        };
        if let Err(mismatch) = esr::check_sea(&seen, EC_DABT_CURRENT, addr, insn) {
            return Outcome::Fail(text(format_args!(
                "{verb} {addr:#x}: {mismatch} ({})",
                Seen(&seen)
            )));
        }
        last = Some(seen);
    }
    let [first, end] = data_probe_addresses(&carveout.region);
    Outcome::Pass(text(format_args!(
        "SEA at EL1 for {first:#x} and {end:#x}, resumed ({})",
        Seen(&last.unwrap_or(Observed {
            esr: 0,
            far: 0,
            elr: 0
        }))
    )))
}

fn carveout_exec(platform: &Platform) -> Outcome {
    let Some(carveout) = platform.carveout.filter(|c| c.region.size >= 4) else {
        return Outcome::Skip(text(format_args!("{WHY_NO_CARVEOUT}")));
    };
    // The last word rather than the base: should the branch wrongly succeed, it runs
    // whatever lies at the end of hypervisor memory (likely zeros: UDF, which the armed
    // handler catches) instead of the hypervisor's entry code.
    let target = carveout.region.end() - 4;
    // SAFETY: the handler is armed for an exec probe and resumes at x30, the return
    // address `blr` left.
    let ((), seen) = run_probe(ProbeKind::Exec, || unsafe { arch::branch_to(target) });
    let Some(seen) = seen else {
        return Outcome::Fail(text(format_args!(
            "branch to {target:#x} returned without an abort"
        )));
    };
    match esr::check_sea(&seen, EC_IABT_CURRENT, target, target) {
        Ok(()) => Outcome::Pass(text(format_args!(
            "SEA at EL1 for a branch to {target:#x}, resumed at the link register ({})",
            Seen(&seen)
        ))),
        Err(mismatch) => Outcome::Fail(text(format_args!(
            "branch to {target:#x}: {mismatch} ({})",
            Seen(&seen)
        ))),
    }
}

/// Formats a recorded exception for the details text.
struct Seen<'a>(&'a Observed);

impl core::fmt::Display for Seen<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let esr = Esr(self.0.esr);
        write!(
            f,
            "ESR={:#x} EC={:#x} FSC={:#x} FnV={} WnR={} FAR={:#x} ELR={:#x}",
            self.0.esr,
            esr.ec(),
            esr.fsc(),
            u8::from(esr.far_not_valid()),
            u8::from(esr.write_not_read()),
            self.0.far,
            self.0.elr
        )
    }
}

/// What a secondary CPU reports about itself, written by that CPU only.
struct CpuReport {
    /// One of the `STATE_*` values.
    state: AtomicU64,
    mpidr: AtomicU64,
    el: AtomicU64,
    context: AtomicU64,
}

const STATE_IDLE: u64 = 0;
const STATE_REPORTED: u64 = 1;

static REPORTS: [CpuReport; MAX_CPUS] = [const {
    CpuReport {
        state: AtomicU64::new(STATE_IDLE),
        mpidr: AtomicU64::new(0),
        el: AtomicU64::new(0),
        context: AtomicU64::new(0),
    }
}; MAX_CPUS];

fn context_for(mpidr: u64) -> u64 {
    CONTEXT_TAG | mpidr
}

/// Runs on each CPU started by CPU_ON (from `payload_secondary_main`): report, then park.
pub fn secondary_report(context_id: u64, index: usize) -> ! {
    let el = arch::current_el();
    let mpidr = arch::mpidr();
    let slot = &REPORTS[index.min(MAX_CPUS - 1)];
    slot.mpidr.store(mpidr, SeqCst);
    slot.el.store(el, SeqCst);
    slot.context.store(context_id, SeqCst);
    println!("PAYLOAD: cpu {mpidr:#x} online at EL{el} context={context_id:#x}");
    slot.state.store(STATE_REPORTED, SeqCst);
    // Parked at EL1, not CPU_OFF: on this stack (TF-A 2.12 SPMD + OP-TEE 4.10 SPMC) CPU_OFF
    // fails in the Secure world whatever the hypervisor does. The SPMD sends OP-TEE a PSCI
    // framework message, OP-TEE answers FFA_ERROR(NOT_SUPPORTED), and the SPMD returns that
    // to the caller (measured with the payload as BL33, no hypervisor). See docs/psci.md.
    // One of them stays available as the racing writer of the FF-A TX-rewrite case.
    crate::race::park(index)
}

fn cpu_on_all(platform: &Platform) -> Outcome {
    let me = arch::mpidr();
    if platform.cpu_count == 0 {
        return Outcome::Fail(text(format_args!("no CPUs in /cpus")));
    }
    if !platform.cpus().contains(&me) {
        return Outcome::Fail(text(format_args!("the boot CPU {me:#x} is not in /cpus")));
    }
    // Index 0 is the boot CPU; the others get 1.. in DT order.
    let mut targets = [NO_CPU; MAX_CPUS];
    let mut count = 1;
    for &mpidr in platform.cpus().iter().filter(|&&m| m != me) {
        targets[count] = mpidr;
        count += 1;
    }
    if count == 1 {
        return Outcome::Skip(text(format_args!("only one CPU in the DT")));
    }
    for (index, slot) in REPORTS.iter().enumerate() {
        slot.state.store(STATE_IDLE, SeqCst);
        if index > 0 {
            PAYLOAD_CPU_MPIDRS[index].store(targets[index], SeqCst);
        }
    }

    let mut problems = Line::new();
    let entry = arch::secondary_entry_address();
    let mut started = [false; MAX_CPUS];
    for index in 1..count {
        let mpidr = targets[index];
        let ret = psci::cpu_on(mpidr, entry, context_for(mpidr));
        if ret == Ret::SUCCESS {
            started[index] = true;
        } else {
            problems.separate();
            let _ = write!(problems, "cpu {mpidr:#x}: CPU_ON returned {ret}");
        }
    }

    let start = arch::counter();
    time::wait_until(ONLINE_TIMEOUT_MS, || {
        (1..count).all(|i| !started[i] || REPORTS[i].state.load(SeqCst) != STATE_IDLE)
    });
    let mut online = 0;
    for index in (1..count).filter(|&i| started[i]) {
        let mpidr = targets[index];
        let slot = &REPORTS[index];
        if slot.state.load(SeqCst) == STATE_IDLE {
            problems.separate();
            let _ = write!(
                problems,
                "cpu {mpidr:#x} did not report within {ONLINE_TIMEOUT_MS} ms"
            );
            continue;
        }
        let (el, context, seen_mpidr) = (
            slot.el.load(SeqCst),
            slot.context.load(SeqCst),
            slot.mpidr.load(SeqCst),
        );
        if seen_mpidr != mpidr {
            problems.separate();
            let _ = write!(
                problems,
                "cpu {mpidr:#x}: slot taken by MPIDR {seen_mpidr:#x}"
            );
        }
        if el != 1 {
            problems.separate();
            let _ = write!(problems, "cpu {mpidr:#x} started at EL{el}, want EL1");
        }
        if context != context_for(mpidr) {
            problems.separate();
            let _ = write!(
                problems,
                "cpu {mpidr:#x}: x0={context:#x}, want context_id {:#x}",
                context_for(mpidr)
            );
        }
        let state = psci::affinity_info(mpidr);
        if state == AFFINITY_ON {
            online += 1;
        } else {
            problems.separate();
            let _ = write!(
                problems,
                "cpu {mpidr:#x}: AFFINITY_INFO says {} after it reported, want ON",
                psci::affinity_name(state)
            );
        }
    }
    if problems.is_empty() {
        Outcome::Pass(text(format_args!(
            "{online} CPUs came online at EL1 with their context_id and are ON per \
             AFFINITY_INFO ({} ms)",
            time::ms_since(start)
        )))
    } else {
        Outcome::Fail(problems)
    }
}

fn cpu_on_bad_entry(platform: &Platform) -> Outcome {
    let me = arch::mpidr();
    let entry = arch::secondary_entry_address();
    let mut problems = Line::new();
    let mut done = Line::new();
    let mut check = |what: core::fmt::Arguments, mpidr: u64, addr: u64, want: Ret| {
        let ret = psci::cpu_on(mpidr, addr, context_for(mpidr));
        let line = if ret == want {
            &mut done
        } else {
            &mut problems
        };
        line.separate();
        let _ = write!(line, "{what} (cpu {mpidr:#x}, entry {addr:#x}) -> {ret}");
        if ret != want {
            let _ = write!(line, ", want {want}");
            if ret == Ret::SUCCESS {
                let _ = write!(line, " (that CPU now runs from a bad address)");
            }
        }
    };

    // Two different targets where there are two, so that a wrongly accepted first call
    // (which starts that CPU) does not turn the second into ALREADY_ON.
    let mut others = platform.cpus().iter().copied().filter(|&m| m != me);
    let first = others.next();
    let second = others.next().or(first);
    let skipped = match (platform.carveout, first, second) {
        (None, _, _) => Some(WHY_NO_CARVEOUT),
        (Some(carveout), Some(first), Some(second)) => {
            let in_carveout = carveout.region.base;
            check(
                format_args!("entry in the carve-out"),
                first,
                in_carveout,
                Ret::INVALID_ADDRESS,
            );
            let above_ram = platform.ram_end();
            check(
                format_args!("entry above RAM"),
                second,
                above_ram,
                Ret::INVALID_ADDRESS,
            );
            None
        }
        (Some(_), _, _) => Some("only one CPU in the DT: no CPU to start"),
    };
    check(format_args!("the calling CPU"), me, entry, Ret::ALREADY_ON);

    if !problems.is_empty() {
        Outcome::Fail(problems)
    } else if let Some(why) = skipped {
        Outcome::Skip(text(format_args!(
            "entry-point checks not run ({why}); {done}"
        )))
    } else {
        Outcome::Pass(done)
    }
}
