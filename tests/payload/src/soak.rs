//! The soak workload: `soak` or `soak=<rounds>` on the payload's command line
//! (`/chosen/bootargs`) replaces the cases with every CPU of the machine hammering the
//! hypervisor at once, for `make soak` (`tests/system/tests/soak.rs`).
//!
//! The boot CPU negotiates FF-A v1.2, maps the mailbox, finds OP-TEE with
//! PARTITION_INFO_GET, reads the proxy's audit counters, then starts every other CPU with
//! PSCI CPU_ON. Each CPU (the boot CPU included) then runs the same rounds, and checks every
//! answer:
//!
//! | step | calls | answer wanted |
//! |---|---|---|
//! | discovery | FFA_VERSION(1.2), FFA_ID_GET, FFA_FEATURES(VERSION, DIRECT_REQ_32), PARTITION_INFO_GET (count only) | 0x10002; SUCCESS ID 0; SUCCESS; SUCCESS with the count found at start |
//! | direct | FFA_MSG_SEND_DIRECT_REQ_32 and _64 to OP-TEE ("get API version") | DIRECT_RESP from OP-TEE to the host, ABI 1.0 |
//! | mailbox (every 4th round) | PARTITION_INFO_GET into RX, RX_RELEASE (under the mailbox lock) | SUCCESS, OP-TEE's ID in the first entry; SUCCESS |
//! | share | FFA_MEM_SHARE_64 of one of the CPU's own pages to OP-TEE (under the mailbox lock), FFA_MEM_RECLAIM | SUCCESS with a handle; SUCCESS; the page readable and writable, contents kept |
//! | lend | FFA_MEM_LEND_64 of another own page, FFA_MEM_RECLAIM | SUCCESS; (boot CPU) a load from the lent page takes a synchronous external abort; SUCCESS; the page back with its contents |
//! | refused | FFA_NOTIFICATION_SET with a sender other than the host | FFA_ERROR(INVALID_PARAMETERS) from EL2 |
//! | PSCI | PSCI_VERSION, AFFINITY_INFO(self), CPU_ON(self), CPU_ON(next CPU) with an entry in the carve-out | 1.x; ON; ALREADY_ON; INVALID_ADDRESS |
//! | suspend (every 4th round) | CPU_SUSPEND to standby, woken by this CPU's virtual timer | SUCCESS |
//! | off (`soak-cpu-off` only: secondaries, every 64th round) | CPU_OFF, with SP_EL1, TPIDR_EL1 and VBAR_EL1 compared across the call | the CPU powered off (the boot CPU sees AFFINITY_INFO OFF and starts it again with CPU_ON; it goes on with its next round), or the call refused with this CPU's EL1 state as it was. Under the hypervisor it never returns: the PSCI relay holds the CPU at EL2 until the CPU_ON (forwarded to this firmware it came back with SP_EL1 rolled back, `docs/psci.md`) |
//!
//! **No deadlock.** Every CPU stamps the time at each step; the boot CPU, between its own
//! rounds and after them, fails the run if any CPU has not moved for [`STALL_MS`], naming the
//! CPU, its round and its step. Every lock wait is bounded. The boot CPU prints
//! `SOAK: progress` lines as it goes, so the host side can bound the time between them.
//!
//! **Audit.** Each CPU counts the calls it made per function (answered, and refused on
//! purpose); at the end the boot CPU reads the proxy's audit counters over the hypervisor's
//! HVC (0xc600_0001) and the change since the start must match exactly: per function,
//! forwarded + emulated = the calls answered, rejected = the calls refused on purpose, no
//! call unsupported, no SPMC reply refused; the same for the totals.
//!
//! **Ownership.** At the end every page a CPU shared or lent is read and written by the boot
//! CPU (under an armed probe, so a page still lent is a FAIL line, not a crash) and must hold
//! what its CPU last wrote.
//!
//! Lines: `SOAK: start ...`, `SOAK: progress ...`, `SOAK: cpu <i> FAIL ...` (the first few
//! per CPU), `SOAK: cpu <i> ...` counts, `SOAK: audit ...`, then three cases
//! (`soak-rounds`, `soak-audit`, `soak-ownership`) and
//! `SOAK-DONE rounds=<n> cpus=<c> ffa-calls=<f> psci-calls=<p> suspends=<s> failures=<k> ms=<t>`
//! before `PAYLOAD-DONE` and power-off.
//!
//! The MMU is off (Device memory): the locks are Lamport's bakery, with sequentially
//! consistent loads and stores only, as the console's.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};

use ::ffa_spec::{fid, status};

use crate::dt::Platform;
use crate::entry::PAYLOAD_CPU_MPIDRS;
use crate::esr::{self, EC_DABT_CURRENT};
use crate::exceptions::{ProbeKind, run_probe};
use crate::ffa_call::{self, Conduit};
use crate::ffa_spec::Regs;
use crate::report::{self, Outcome, text};
use crate::time::{self, Deadline};
use crate::{MAX_CPUS, arch, psci};

/// Rounds when the command line says `soak` without a number.
pub const DEFAULT_ROUNDS: u64 = 6000;
/// A CPU that has not moved from one step to the next for this long is stuck.
const STALL_MS: u64 = 60_000;
/// Longest wait for the mailbox lock.
const LOCK_TIMEOUT_MS: u64 = STALL_MS / 2;
/// Longest wait for a started CPU to report.
const ONLINE_TIMEOUT_MS: u64 = 20_000;
/// Own pages per CPU for SHARE and LEND.
const PAGES_PER_CPU: usize = 8;
/// The boot CPU prints a progress line every this many of its rounds (at least).
const PROGRESS_LINES: u64 = 10;
/// Failure lines printed per CPU (the count goes on).
const FAILURE_LINES: u64 = 4;
/// CPU_SUSPEND, PARTITION_INFO_GET into RX: every this many rounds.
const EVERY_SUSPEND: u64 = 4;
const EVERY_MAILBOX: u64 = 4;
/// CPU_OFF (secondaries only): every this many rounds.
const EVERY_OFF: u64 = 64;
/// How long the virtual timer that wakes a CPU from standby waits.
const WAKE_US: u64 = 200;

/// context_id of a CPU started by the soak: this tag in bits 63:40, the per-CPU index below.
const SOAK_TAG: u64 = 0x50_a4_50 << 40;
const TAG_MASK: u64 = 0xff_ffff << 40;

const HVC_IDENTIFY: u64 = 0xC600_0000;
const HVC_FFA_AUDIT: u64 = 0xC600_0001;
const HYP_MAGIC: u64 = u64::from_le_bytes(*b"FFAHYP\0\0");
const VERSION_1_2: u64 = 0x1_0002;
/// OP-TEE's FF-A ABI version, answered to "get API version" (w3 = 0) in w3/w4.
const OPTEE_FFA_ABI: (u64, u64) = (1, 0);
/// MEM_SHARE's memory attributes: Normal, write-back, inner shareable; LEND leaves them 0.
const MEM_NORMAL_WB_INNER: u32 = 0x2F;
const MEM_RW: u32 = 2;
/// PSCI CPU_SUSPEND (SMC64), CPU_OFF.
const CPU_SUSPEND: u64 = 0xC400_0001;
/// CPU_SUSPEND's power_state for standby at level 0 in the original format (DEN0022 §5.4.2:
/// StateType bit 16 = 0, PowerLevel 0) with StateID 0x01: TF-A's QEMU platform accepts only
/// the states of its idle-state table (`qemu_pm_idle_states`), where 0x01 is "CPU in
/// retention, cluster running"; StateID 0 is INVALID_PARAMETERS there.
const POWER_STATE_STANDBY: u64 = 0x01;
const CPU_OFF: u64 = 0x8400_0002;
/// What CPU_OFF returned on this firmware without the relay holding it (`docs/psci.md`): the
/// SPMD passed OP-TEE's FFA_ERROR function ID back as the PSCI answer.
const CPU_OFF_SECURE_REFUSAL: u64 = fid::ERROR as u64;
/// PSCI DENIED: the only failure CPU_OFF may return (DEN0022).
const PSCI_DENIED: u64 = -3i64 as u32 as u64;
/// The virtual timer's PPI (INTID 27 on every GIC with the Arm generic timer).
const VTIMER_INTID: u32 = 27;

/// The functions the rounds call, in the order of the per-CPU counters.
const FUNCTIONS: [(u32, &str); 11] = [
    (fid::VERSION, "FFA_VERSION"),
    (fid::ID_GET, "FFA_ID_GET"),
    (fid::FEATURES, "FFA_FEATURES"),
    (fid::PARTITION_INFO_GET, "FFA_PARTITION_INFO_GET"),
    (fid::RX_RELEASE, "FFA_RX_RELEASE"),
    (fid::MSG_SEND_DIRECT_REQ_32, "FFA_MSG_SEND_DIRECT_REQ_32"),
    (fid::MSG_SEND_DIRECT_REQ_64, "FFA_MSG_SEND_DIRECT_REQ_64"),
    (fid::MEM_SHARE_64, "FFA_MEM_SHARE_64"),
    (fid::MEM_LEND_64, "FFA_MEM_LEND_64"),
    (fid::MEM_RECLAIM, "FFA_MEM_RECLAIM"),
    (fid::NOTIFICATION_SET, "FFA_NOTIFICATION_SET"),
];
const NFUN: usize = FUNCTIONS.len();

/// A 4 KiB page of the payload's memory (host RAM, page-aligned).
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; 4096]>);

// SAFETY: the TX/RX pages are used under the mailbox lock; each pool page by its own CPU
// only, and by the boot CPU at the end, after every other CPU has stopped.
unsafe impl Sync for Page {}

impl Page {
    const fn new() -> Self {
        Page(UnsafeCell::new([0; 4096]))
    }

    fn addr(&self) -> u64 {
        self.0.get() as u64
    }

    fn read32(&self, offset: usize) -> u32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= 4096);
        // SAFETY: in bounds and aligned (checked); volatile because the hypervisor writes
        // the RX page behind the compiler's back.
        unsafe { (self.0.get().cast::<u8>().add(offset).cast::<u32>()).read_volatile() }
    }

    fn write32(&self, offset: usize, value: u32) {
        assert!(offset.is_multiple_of(4) && offset + 4 <= 4096);
        // SAFETY: in bounds and aligned (checked); volatile so that every word reaches
        // memory before the SMC that makes the hypervisor read it.
        unsafe { (self.0.get().cast::<u8>().add(offset).cast::<u32>()).write_volatile(value) }
    }

    fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }
}

static TX: Page = Page::new();
static RX: Page = Page::new();
/// The pages the CPUs share and lend: CPU `i` owns `POOL[i * PAGES_PER_CPU..][..PAGES_PER_CPU]`.
static POOL: [Page; MAX_CPUS * PAGES_PER_CPU] = [const { Page::new() }; MAX_CPUS * PAGES_PER_CPU];
/// What each pool page's first and last doublewords hold, as its CPU last wrote them.
static EXPECTED: [AtomicU64; MAX_CPUS * PAGES_PER_CPU] =
    [const { AtomicU64::new(0) }; MAX_CPUS * PAGES_PER_CPU];

/// Set once by the boot CPU before any other CPU starts.
static ROUNDS: AtomicU64 = AtomicU64::new(0);
static OPTEE: AtomicU64 = AtomicU64::new(0);
static PARTITIONS: AtomicU64 = AtomicU64::new(0);
static CARVEOUT: AtomicU64 = AtomicU64::new(0);
static CPUS: AtomicU64 = AtomicU64::new(0);
static GICR: AtomicU64 = AtomicU64::new(0);
static GICR_END: AtomicU64 = AtomicU64::new(0);
/// `soak-cpu-off` was on the command line.
static WITH_CPU_OFF: AtomicBool = AtomicBool::new(false);
/// Set by the boot CPU to make every CPU stop after its current round (a stall was found).
static STOP: AtomicBool = AtomicBool::new(false);

/// A worker's lifecycle.
const IDLE: u64 = 0;
const RUNNING: u64 = 1;
/// In CPU_OFF: may be powered off; the boot CPU starts it again if so.
const OFFING: u64 = 2;
const DONE: u64 = 3;

/// One CPU's state and counts; each field written by that CPU only (the boot CPU writes
/// `state` when it restarts a CPU that went off).
struct Worker {
    state: AtomicU64,
    /// Rounds completed.
    round: AtomicU64,
    /// The step in progress, and when it began (counter ticks).
    step: AtomicU64,
    stamp: AtomicU64,
    failures: AtomicU64,
    /// Per function of [`FUNCTIONS`]: calls answered, and calls refused on purpose.
    answered: [AtomicU64; NFUN],
    refused: [AtomicU64; NFUN],
    psci_calls: AtomicU64,
    suspends: AtomicU64,
    off_calls: AtomicU64,
    /// CPU_OFF's answer when it returned (the last one).
    off_answer: AtomicU64,
    /// Times the boot CPU started this CPU again after it went off.
    restarts: AtomicU64,
    lend_probes: AtomicU64,
    /// Counter ticks spent in each step (index = step), for where the time goes.
    spent: [AtomicU64; STEPS],
}

static WORKERS: [Worker; MAX_CPUS] = [const {
    Worker {
        state: AtomicU64::new(IDLE),
        round: AtomicU64::new(0),
        step: AtomicU64::new(0),
        stamp: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        answered: [const { AtomicU64::new(0) }; NFUN],
        refused: [const { AtomicU64::new(0) }; NFUN],
        psci_calls: AtomicU64::new(0),
        suspends: AtomicU64::new(0),
        off_calls: AtomicU64::new(0),
        off_answer: AtomicU64::new(0),
        restarts: AtomicU64::new(0),
        lend_probes: AtomicU64::new(0),
        spent: [const { AtomicU64::new(0) }; STEPS],
    }
}; MAX_CPUS];

/// The steps of a round, for stall reports.
const STEP_NAMES: [&str; 12] = [
    "start",
    "version",
    "id-get",
    "features",
    "info-count",
    "direct",
    "mailbox",
    "share",
    "lend",
    "refused",
    "psci",
    "suspend",
];
const STEP_OFF: u64 = 12;
const STEPS: usize = 13;

fn bump(counter: &AtomicU64) {
    counter.store(counter.load(SeqCst) + 1, SeqCst);
}

/// What the command line asks of the soak.
#[derive(Clone, Copy)]
pub struct Options {
    /// `soak=<n>`, or [`DEFAULT_ROUNDS`] for a bare `soak`.
    pub rounds: u64,
    /// `soak-cpu-off`: the secondaries also call CPU_OFF every [`EVERY_OFF`] rounds.
    pub cpu_off: bool,
}

/// The soak's options, if the command line asks for the soak.
pub fn requested(fdt: &fdt::Fdt<'_>) -> Option<Options> {
    let args = fdt.chosen().bootargs()?;
    let words = || args.split_ascii_whitespace();
    let rounds = words().find_map(|word| match word {
        "soak" => Some(DEFAULT_ROUNDS),
        w => w
            .strip_prefix("soak=")
            .map(|n| n.parse().unwrap_or(DEFAULT_ROUNDS).max(1)),
    })?;
    Some(Options {
        rounds,
        cpu_off: words().any(|w| w == "soak-cpu-off"),
    })
}

/// CPU_OFF, keeping this CPU's SP_EL1, TPIDR_EL1 and VBAR_EL1 in registers the call
/// preserves (x20-x25: SMCCC and the hypervisor keep x18-x30) and comparing them when it
/// returns. Returns x0 and, if one changed, its name, value before and after; all three are
/// put back either way, so that the CPU can go on (the CPU's own stack, index and vectors).
fn cpu_off_keeping_el1_state() -> (u64, Option<(&'static str, u64, u64)>) {
    let x0: u64;
    let (sp0, tp0, vb0, sp1, tp1, vb1): (u64, u64, u64, u64, u64, u64);
    // SAFETY: an SMCCC call (x0-x17 declared clobbered). SP is read before and restored to
    // that same value after, TPIDR_EL1 and VBAR_EL1 likewise, so the asm leaves the CPU as
    // it found it even if the firmware returns with other values in them.
    unsafe {
        asm!(
            "mov x20, sp",
            "mrs x21, tpidr_el1",
            "mrs x22, vbar_el1",
            "dsb sy",
            "smc #0",
            "mov x23, sp",
            "mrs x24, tpidr_el1",
            "mrs x25, vbar_el1",
            "mov sp, x20",
            "msr tpidr_el1, x21",
            "msr vbar_el1, x22",
            "isb",
            inout("x0") CPU_OFF => x0,
            out("x1") _, out("x2") _, out("x3") _, out("x4") _, out("x5") _, out("x6") _,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
            out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
            out("x20") sp0, out("x21") tp0, out("x22") vb0,
            out("x23") sp1, out("x24") tp1, out("x25") vb1,
        );
    }
    let changed = [
        ("SP_EL1", sp0, sp1),
        ("TPIDR_EL1", tp0, tp1),
        ("VBAR_EL1", vb0, vb1),
    ]
    .into_iter()
    .find(|&(_, before, after)| before != after);
    (x0, changed)
}

/// Whether a CPU_ON context_id is the soak's (the secondary then runs [`secondary`]).
pub fn is_soak_context(context_id: u64) -> bool {
    context_id & TAG_MASK == SOAK_TAG
}

/// A call with x0 = `function`, x1.. = `args`, the rest zero, over `smc #0`.
fn smc(function: u64, args: &[u64]) -> Regs {
    let mut r = [0; 18];
    r[0] = function;
    r[1..=args.len()].copy_from_slice(args);
    ffa_call::call(Conduit::Smc, &r)
}

/// The proxy's audit counters of `id` (0: all): forwarded, emulated, rejected, unsupported,
/// bad replies.
fn audit(id: u32) -> Option<[u64; 5]> {
    let mut r = [0; 18];
    r[0] = HVC_FFA_AUDIT;
    r[1] = id.into();
    let r = ffa_call::call(Conduit::Hvc, &r);
    (r[0] == 0).then(|| [r[1], r[2], r[3], r[4], r[5]])
}

/// Lamport's bakery lock over the per-CPU indices, waits bounded (the mailbox is one per
/// host, as in Linux, where a mutex guards it).
struct Bakery {
    choosing: [AtomicBool; MAX_CPUS],
    number: [AtomicU32; MAX_CPUS],
}

static MAILBOX: Bakery = Bakery {
    choosing: [const { AtomicBool::new(false) }; MAX_CPUS],
    number: [const { AtomicU32::new(0) }; MAX_CPUS],
};

struct Guard(usize);

impl Drop for Guard {
    fn drop(&mut self) {
        MAILBOX.number[self.0].store(0, SeqCst);
    }
}

/// Takes the mailbox lock; `None` if another CPU held it for [`LOCK_TIMEOUT_MS`].
fn lock_mailbox(me: usize) -> Option<Guard> {
    let lock = &MAILBOX;
    lock.choosing[me].store(true, SeqCst);
    let ticket = 1 + lock
        .number
        .iter()
        .map(|n| n.load(SeqCst))
        .max()
        .unwrap_or(0);
    lock.number[me].store(ticket, SeqCst);
    lock.choosing[me].store(false, SeqCst);
    let deadline = Deadline::after_ms(LOCK_TIMEOUT_MS);
    for other in (0..MAX_CPUS).filter(|&j| j != me) {
        loop {
            let theirs = lock.number[other].load(SeqCst);
            let waiting = lock.choosing[other].load(SeqCst)
                || (theirs != 0 && (theirs, other) < (ticket, me));
            if !waiting {
                break;
            }
            if deadline.expired() {
                lock.number[me].store(0, SeqCst);
                return None;
            }
            relax();
        }
    }
    Some(Guard(me))
}

/// One pass of a bounded wait: `yield`, which under single-threaded TCG hands the host
/// thread to the next vCPU (the one being waited for) and is a mere hint elsewhere. Not
/// `wfe`: a CPU waiting for one that is stuck must go on checking its deadline, and no
/// event may ever come.
fn relax() {
    // SAFETY: a hint instruction; no memory, no registers.
    unsafe { asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// One CPU's view while it runs its rounds.
struct Ctx {
    me: usize,
    round: u64,
    optee: u64,
}

impl Ctx {
    fn worker(&self) -> &'static Worker {
        &WORKERS[self.me]
    }

    fn step(&self, step: u64) {
        let w = self.worker();
        let now = arch::counter();
        let previous = (w.step.load(SeqCst) as usize).min(STEPS - 1);
        let spent = &w.spent[previous];
        spent.store(
            spent.load(SeqCst) + now.wrapping_sub(w.stamp.load(SeqCst)),
            SeqCst,
        );
        w.step.store(step, SeqCst);
        w.stamp.store(now, SeqCst);
    }

    fn fail(&self, args: core::fmt::Arguments) {
        let w = self.worker();
        let n = w.failures.load(SeqCst);
        w.failures.store(n + 1, SeqCst);
        if n < FAILURE_LINES {
            println!(
                "SOAK: cpu {} FAIL round {} step {}: {args}",
                self.me,
                self.round,
                STEP_NAMES
                    .get(w.step.load(SeqCst) as usize)
                    .copied()
                    .unwrap_or("off")
            );
        }
    }

    /// Counts a call of `FUNCTIONS[f]`: answered (`refused` false) or refused on purpose.
    fn count(&self, function: u32, refused: bool) {
        let Some(f) = FUNCTIONS.iter().position(|&(id, _)| id == function) else {
            return;
        };
        let w = self.worker();
        bump(if refused {
            &w.refused[f]
        } else {
            &w.answered[f]
        });
    }

    /// An FF-A call the proxy must answer; `ok` judges the reply.
    fn ffa(&self, function: u32, args: &[u64], what: &str, ok: impl FnOnce(&Regs) -> bool) -> Regs {
        let r = smc(function.into(), args);
        self.count(function, false);
        if !ok(&r) {
            self.fail(format_args!(
                "{what}: unexpected answer x0={:#x} x1={:#x} x2={:#x} x3={:#x} x4={:#x}",
                r[0], r[1], r[2], r[3], r[4]
            ));
        }
        r
    }

    fn psci(&self, function: u64, args: &[u64], what: &str, want: u64) -> u64 {
        bump(&self.worker().psci_calls);
        let r = smc(function, args)[0];
        if r as u32 as u64 != want {
            self.fail(format_args!("{what}: x0={r:#x}, want {want:#x}"));
        }
        r
    }
}

fn success(r: &Regs) -> bool {
    r[0] == u64::from(fid::SUCCESS_32)
}

fn handle_of(r: &Regs) -> u64 {
    (r[2] & 0xFFFF_FFFF) | (r[3] << 32)
}

/// Writes a one-receiver, one-page memory transaction descriptor (v1.2 layout, DEN0077 v1.2
/// §10.11) for `page` to OP-TEE into TX; returns its length. Under the mailbox lock.
fn write_descriptor(optee: u64, page: u64, attributes: u32) -> u64 {
    for offset in (0..112).step_by(4) {
        TX.write32(offset, 0);
    }
    TX.write32(0, attributes << 16); // sender 0 (the host), memory attributes
    TX.write32(24, 32); // endpoint memory access descriptor size
    TX.write32(28, 1); // one receiver
    TX.write32(32, 48); // its offset
    TX.write32(48, optee as u32 | (MEM_RW << 16));
    TX.write32(52, 80); // composite descriptor offset
    TX.write32(80, 1); // total pages
    TX.write32(84, 1); // one address range
    TX.write64(96, page);
    TX.write32(104, 1);
    112
}

/// The pattern a page holds after its CPU's `round` (never zero).
fn pattern(me: usize, page: usize, round: u64) -> u64 {
    0x50a4_0000_0000_0000 | (me as u64) << 40 | (page as u64) << 32 | (round & 0xffff_ffff)
}

/// Checks then rewrites the first and last doubleword of pool page `index`.
fn touch(ctx: &Ctx, index: usize, what: &str) {
    let page = &POOL[index];
    let want = EXPECTED[index].load(SeqCst);
    // SAFETY: the page is this CPU's own and mapped (it was just reclaimed); an abort would
    // be the bug the soak reports, through the fatal handler.
    let (first, last) = unsafe { (arch::load(page.addr()), arch::load(page.addr() + 4088)) };
    if first != want || last != want {
        ctx.fail(format_args!(
            "{what}: page {:#x} holds {first:#x}/{last:#x}, want {want:#x}",
            page.addr()
        ));
    }
    let next = pattern(ctx.me, index, ctx.round);
    page.write64(0, next);
    page.write64(4088, next);
    EXPECTED[index].store(next, SeqCst);
}

/// SHARE or LEND of own page `index`, the lent-page probe (boot CPU), RECLAIM, touch.
fn memory_round(ctx: &Ctx, function: u32, index: usize) {
    let page = POOL[index].addr();
    let lend = function == fid::MEM_LEND_64;
    let r = {
        let Some(_guard) = lock_mailbox(ctx.me) else {
            ctx.fail(format_args!(
                "mailbox lock not taken in {LOCK_TIMEOUT_MS} ms"
            ));
            return;
        };
        let length = write_descriptor(ctx.optee, page, if lend { 0 } else { MEM_NORMAL_WB_INNER });
        ctx.ffa(function, &[length, length, 0, 0], "share/lend", success)
    };
    if !success(&r) {
        return;
    }
    let handle = handle_of(&r);
    if lend && ctx.me == 0 {
        bump(&ctx.worker().lend_probes);
        // SAFETY: the handler is armed for a data abort and skips the load.
        let (_, seen) = run_probe(ProbeKind::Data, || unsafe { arch::load(page) });
        let ok = seen.is_some_and(|s| {
            esr::check_sea(&s, EC_DABT_CURRENT, page, arch::probe_load_address()).is_ok()
        });
        if !ok {
            ctx.fail(format_args!("load from lent page {page:#x}: no SEA at EL1"));
        }
    }
    ctx.ffa(
        fid::MEM_RECLAIM,
        &[handle & 0xFFFF_FFFF, handle >> 32, 0],
        "reclaim",
        success,
    );
    touch(ctx, index, if lend { "after lend" } else { "after share" });
}

/// Arms this CPU's virtual timer to fire in [`WAKE_US`] (its PPI wakes a standby WFI).
fn arm_wake_timer() {
    let ticks = (arch::counter_frequency().max(1_000_000) / 1_000_000) * WAKE_US;
    let at = arch::counter() + ticks;
    // SAFETY: EL1 owns its virtual timer (CNTHCTL_EL2 does not trap it); enabled, unmasked.
    unsafe {
        asm!("msr cntv_cval_el0, {at}", "msr cntv_ctl_el0, {on}", "isb",
             at = in(reg) at, on = in(reg) 1u64, options(nostack));
    }
}

fn disarm_wake_timer() {
    // SAFETY: as above; disabled, so its PPI drops.
    unsafe { asm!("msr cntv_ctl_el0, xzr", "isb", options(nostack)) };
}

/// GICv3 CPU interface and this CPU's redistributor, so the virtual timer's PPI can wake it
/// from standby: the PPI enabled (Group 1 Non-secure, as TF-A leaves it), priority mask
/// open, Group 1 enabled. PSTATE.I stays masked: the interrupt wakes `wfi` and is never
/// taken. False if this CPU's redistributor is not found.
fn gic_cpu_init() -> bool {
    let me = arch::mpidr();
    let affinity = (me & 0xff_ffff) | ((me >> 32) & 0xff) << 24;
    let (mut frame, end) = (GICR.load(SeqCst), GICR_END.load(SeqCst));
    while frame != 0 && frame + 0x20000 <= end {
        // SAFETY: a redistributor frame inside the DT's GICR region: GICR_TYPER (offset 8)
        // reads have no side effects.
        let typer = unsafe { core::ptr::read_volatile((frame + 8) as *const u64) };
        if typer >> 32 == affinity {
            let sgi = frame + 0x10000;
            // SAFETY: this CPU's own redistributor (SGI frame): IPRIORITYR byte of the PPI
            // (0xa0: low, any open mask lets it through), then its ISENABLER0 bit.
            unsafe {
                core::ptr::write_volatile((sgi + 0x400 + u64::from(VTIMER_INTID)) as *mut u8, 0xa0);
                core::ptr::write_volatile((sgi + 0x100) as *mut u32, 1 << VTIMER_INTID);
            }
            // SAFETY: ICC_PMR_EL1 = 0xff and ICC_IGRPEN1_EL1 = 1 through their encodings
            // (system register interface: the hypervisor sets ICC_SRE_EL2.Enable, QEMU
            // keeps SRE on); they only let the GIC signal this CPU.
            unsafe {
                asm!("msr S3_0_C4_C6_0, {pmr}", "msr S3_0_C12_C12_7, {en}", "isb",
                     pmr = in(reg) 0xffu64, en = in(reg) 1u64, options(nostack));
            }
            return true;
        }
        if typer & (1 << 4) != 0 {
            break; // GICR_TYPER.Last
        }
        frame += 0x20000;
    }
    false
}

/// Enables Group 1 Non-secure interrupts at the distributor (GICD_CTLR.EnableGrp1A in the
/// Non-secure view), which TF-A leaves to the normal world.
fn gic_distributor_init(gicd: u64) {
    // SAFETY: the DT's GICD; GICD_CTLR read-modify-write of the enable bit, then wait for
    // RWP (bit 31) to clear, bounded.
    unsafe {
        let ctlr = core::ptr::read_volatile(gicd as *const u32);
        core::ptr::write_volatile(gicd as *mut u32, ctlr | 2);
    }
    time::wait_until(100, || {
        // SAFETY: as above.
        unsafe { core::ptr::read_volatile(gicd as *const u32) & (1 << 31) == 0 }
    });
}

/// One round of one CPU.
fn round(ctx: &Ctx) {
    let r = ctx.round;
    let me = ctx.me;
    ctx.step(1);
    ctx.ffa(fid::VERSION, &[VERSION_1_2], "FFA_VERSION", |r| {
        r[0] == VERSION_1_2
    });
    ctx.step(2);
    ctx.ffa(fid::ID_GET, &[], "FFA_ID_GET", |r| success(r) && r[2] == 0);
    ctx.step(3);
    for queried in [fid::VERSION, fid::MSG_SEND_DIRECT_REQ_32] {
        ctx.ffa(fid::FEATURES, &[queried.into()], "FFA_FEATURES", success);
    }
    ctx.step(4);
    let partitions = PARTITIONS.load(SeqCst);
    ctx.ffa(
        fid::PARTITION_INFO_GET,
        &[0, 0, 0, 0, 1],
        "PARTITION_INFO_GET (count)",
        |r| success(r) && r[2] == partitions,
    );
    ctx.step(5);
    let ids = ctx.optee << 16;
    for (req, resp) in [
        (fid::MSG_SEND_DIRECT_REQ_32, fid::MSG_SEND_DIRECT_RESP_32),
        (fid::MSG_SEND_DIRECT_REQ_64, fid::MSG_SEND_DIRECT_RESP_64),
    ] {
        ctx.ffa(req, &[ctx.optee, 0, 0], "DIRECT_REQ", |r| {
            r[0] == u64::from(resp) && r[1] == ids && r[2] == 0 && (r[3], r[4]) == OPTEE_FFA_ABI
        });
    }
    if (r + me as u64).is_multiple_of(EVERY_MAILBOX) {
        ctx.step(6);
        match lock_mailbox(me) {
            None => ctx.fail(format_args!(
                "mailbox lock not taken in {LOCK_TIMEOUT_MS} ms"
            )),
            Some(_guard) => {
                let r = ctx.ffa(fid::PARTITION_INFO_GET, &[], "PARTITION_INFO_GET", |r| {
                    success(r) && r[2] == partitions
                });
                if success(&r) {
                    let id = u64::from(RX.read32(0) & 0xffff);
                    if id != ctx.optee {
                        ctx.fail(format_args!("RX entry 0 is endpoint {id:#x}"));
                    }
                    ctx.ffa(fid::RX_RELEASE, &[], "RX_RELEASE", success);
                }
            }
        }
    }
    let base = me * PAGES_PER_CPU;
    ctx.step(7);
    memory_round(ctx, fid::MEM_SHARE_64, base + (r as usize) % PAGES_PER_CPU);
    ctx.step(8);
    memory_round(
        ctx,
        fid::MEM_LEND_64,
        base + (r as usize + PAGES_PER_CPU / 2) % PAGES_PER_CPU,
    );
    ctx.step(9);
    let refused = smc(fid::NOTIFICATION_SET.into(), &[1 << 16, 0, 1]);
    ctx.count(fid::NOTIFICATION_SET, true);
    if refused[0] != u64::from(fid::ERROR) || refused[2] as u32 as i32 != status::INVALID_PARAMETERS
    {
        ctx.fail(format_args!(
            "NOTIFICATION_SET from sender 1: x0={:#x} x2={:#x}, want INVALID_PARAMETERS",
            refused[0], refused[2]
        ));
    }
    ctx.step(10);
    let mpidr = arch::mpidr();
    let v = {
        bump(&ctx.worker().psci_calls);
        smc(psci::PSCI_VERSION.into(), &[])[0]
    };
    if v as u32 >> 16 != 1 {
        ctx.fail(format_args!("PSCI_VERSION {v:#x}"));
    }
    ctx.psci(
        psci::AFFINITY_INFO.into(),
        &[mpidr, 0],
        "AFFINITY_INFO(self)",
        0,
    );
    let entry = arch::secondary_entry_address();
    ctx.psci(
        psci::CPU_ON.into(),
        &[mpidr, entry, 0],
        "CPU_ON(self)",
        psci::Ret::ALREADY_ON.0 as u32 as u64,
    );
    let cpus = CPUS.load(SeqCst) as usize;
    let next = PAYLOAD_CPU_MPIDRS[(me + 1) % cpus].load(SeqCst);
    ctx.psci(
        psci::CPU_ON.into(),
        &[next, CARVEOUT.load(SeqCst), 0],
        "CPU_ON(next, entry in the carve-out)",
        psci::Ret::INVALID_ADDRESS.0 as u32 as u64,
    );
    if (r + me as u64).is_multiple_of(EVERY_SUSPEND) && GICR.load(SeqCst) != 0 {
        ctx.step(11);
        arm_wake_timer();
        ctx.psci(
            CPU_SUSPEND,
            &[POWER_STATE_STANDBY, 0, 0],
            "CPU_SUSPEND(standby)",
            0,
        );
        disarm_wake_timer();
        bump(&ctx.worker().suspends);
    }
    if me != 0 && WITH_CPU_OFF.load(SeqCst) && r % EVERY_OFF == EVERY_OFF - 1 {
        ctx.step(STEP_OFF);
        let w = ctx.worker();
        w.state.store(OFFING, SeqCst);
        bump(&w.off_calls);
        bump(&w.psci_calls);
        // Returns only if the CPU stays on; otherwise the boot CPU starts it again and it
        // resumes at its next round (`secondary`).
        w.round.store(r + 1, SeqCst);
        let (answer, kept) = cpu_off_keeping_el1_state();
        if let Some((what, before, after)) = kept {
            ctx.fail(format_args!(
                "CPU_OFF returned {answer:#x} with {what} changed from {before:#x} to {after:#x} (restored to go on)"
            ));
        }
        w.state.store(RUNNING, SeqCst);
        w.off_answer.store(answer, SeqCst);
        if answer != CPU_OFF_SECURE_REFUSAL && answer as u32 as u64 != PSCI_DENIED {
            ctx.fail(format_args!("CPU_OFF returned {answer:#x}"));
        }
    }
}

/// Runs this CPU's rounds from where its counter stands, then marks it done.
fn work(me: usize) {
    let w = &WORKERS[me];
    if GICR.load(SeqCst) != 0 && !gic_cpu_init() {
        println!(
            "SOAK: cpu {me} FAIL no redistributor for MPIDR {:#x}",
            arch::mpidr()
        );
        bump(&w.failures);
    }
    w.state.store(RUNNING, SeqCst);
    let rounds = ROUNDS.load(SeqCst);
    let optee = OPTEE.load(SeqCst);
    let progress_every = (rounds / PROGRESS_LINES).max(1);
    let start = arch::counter();
    loop {
        let r = w.round.load(SeqCst);
        if r >= rounds || STOP.load(SeqCst) {
            break;
        }
        let ctx = Ctx {
            me,
            round: r,
            optee,
        };
        round(&ctx);
        ctx.step(0);
        // CPU_OFF may have moved the counter already (then it equals r + 1).
        w.round.store(r + 1, SeqCst);
        if me == 0 {
            watch();
            if (r + 1).is_multiple_of(progress_every) || r + 1 == rounds {
                println!(
                    "SOAK: progress round={} of {rounds} elapsed={}ms",
                    r + 1,
                    time::ms_since(start)
                );
            }
        }
    }
    w.state.store(DONE, SeqCst);
}

/// The boot CPU's watch over the others: a CPU that went off is started again; a CPU that
/// has not moved for [`STALL_MS`] stops the run. False once a stall was found.
fn watch() -> bool {
    let cpus = CPUS.load(SeqCst) as usize;
    let now = arch::counter();
    for (i, w) in WORKERS.iter().enumerate().take(cpus).skip(1) {
        let state = w.state.load(SeqCst);
        if state == OFFING {
            let mpidr = PAYLOAD_CPU_MPIDRS[i].load(SeqCst);
            if psci::affinity_info(mpidr) == psci::AFFINITY_OFF {
                w.state.store(IDLE, SeqCst);
                bump(&w.restarts);
                let ret = psci::cpu_on(mpidr, arch::secondary_entry_address(), SOAK_TAG | i as u64);
                if ret != psci::Ret::SUCCESS {
                    println!("SOAK: cpu {i} FAIL went off; CPU_ON to restart it returned {ret}");
                    bump(&w.failures);
                }
                w.stamp.store(now, SeqCst);
            }
            continue;
        }
        // IDLE too: a CPU that was started and never reported.
        if state != DONE && time::ms_since(w.stamp.load(SeqCst)) > STALL_MS {
            let step = w.step.load(SeqCst) as usize;
            println!(
                "SOAK: cpu {i} FAIL stalled: no progress for {STALL_MS} ms in round {} step {} (deadlock?)",
                w.round.load(SeqCst),
                STEP_NAMES.get(step).copied().unwrap_or("off")
            );
            bump(&w.failures);
            STOP.store(true, SeqCst);
            return false;
        }
    }
    true
}

/// Entry of a CPU the soak started (from `payload_secondary_main`): its rounds, then park.
pub fn secondary(index: usize) -> ! {
    work(index.min(MAX_CPUS - 1));
    arch::halt()
}

/// The GIC's distributor and redistributor regions from the DT (`arm,gic-v3`).
fn gic_regions(fdt: &fdt::Fdt<'_>) -> Option<(u64, u64, u64)> {
    let node = fdt.find_compatible(&["arm,gic-v3"])?;
    let mut reg = node.reg()?;
    let gicd = reg.next()?;
    let gicr = reg.next()?;
    let gicr_base = gicr.starting_address as u64;
    Some((
        gicd.starting_address as u64,
        gicr_base,
        gicr_base + gicr.size? as u64,
    ))
}

/// Runs the soak on every CPU and powers off.
pub fn run(platform: &Platform, fdt: &fdt::Fdt<'_>, options: Options) -> ! {
    let rounds = options.rounds;
    WITH_CPU_OFF.store(options.cpu_off, SeqCst);
    let started = arch::counter();
    let identify = ffa_call::call(Conduit::Hvc, &{
        let mut r = [0; 18];
        r[0] = HVC_IDENTIFY;
        r
    });
    let Some(carveout) = platform.carveout else {
        report::record(
            "soak",
            &Outcome::Fail(text(format_args!(
                "no carve-out node: not under the hypervisor"
            ))),
        );
        report::finish()
    };
    if identify[0] != 0 || identify[1] != HYP_MAGIC || audit(0).is_none() {
        report::record(
            "soak",
            &Outcome::Fail(text(format_args!(
                "the hypervisor's HVC identify/audit does not answer"
            ))),
        );
        report::finish()
    }
    // Setup on the boot CPU alone: version, mailbox, OP-TEE's ID.
    let v = smc(fid::VERSION.into(), &[VERSION_1_2]);
    let map = smc(fid::RXTX_MAP_64.into(), &[TX.addr(), RX.addr(), 1]);
    let info = smc(fid::PARTITION_INFO_GET.into(), &[]);
    let optee = u64::from(RX.read32(0) & 0xffff);
    let release = smc(fid::RX_RELEASE.into(), &[]);
    if v[0] != VERSION_1_2
        || !success(&map)
        || !success(&info)
        || info[2] == 0
        || !success(&release)
    {
        report::record(
            "soak",
            &Outcome::Fail(text(format_args!(
                "setup: FFA_VERSION {:#x}, RXTX_MAP {:#x}, PARTITION_INFO_GET {:#x} count {}, RX_RELEASE {:#x}",
                v[0], map[0], info[0], info[2], release[0]
            ))),
        );
        report::finish()
    }
    ROUNDS.store(rounds, SeqCst);
    OPTEE.store(optee, SeqCst);
    PARTITIONS.store(info[2], SeqCst);
    CARVEOUT.store(carveout.region.base, SeqCst);
    let cpus = platform.cpu_count.min(MAX_CPUS);
    CPUS.store(cpus as u64, SeqCst);
    match gic_regions(fdt) {
        Some((gicd, gicr, end)) => {
            gic_distributor_init(gicd);
            GICR.store(gicr, SeqCst);
            GICR_END.store(end, SeqCst);
        }
        None => println!(
            "SOAK: warning no arm,gic-v3 node: no CPU_SUSPEND (nothing would wake the CPU)"
        ),
    }
    for (i, page) in POOL.iter().enumerate() {
        let first = pattern(i / PAGES_PER_CPU, i % PAGES_PER_CPU, 0xffff_ffff);
        page.write64(0, first);
        page.write64(4088, first);
        EXPECTED[i].store(first, SeqCst);
    }
    let before: [Option<[u64; 5]>; NFUN] = core::array::from_fn(|f| audit(FUNCTIONS[f].0));
    let total_before = audit(0);
    println!(
        "SOAK: start rounds={rounds} cpus={cpus} optee={optee:#x} partitions={} stall-limit={STALL_MS}ms cpu-off={}",
        info[2], options.cpu_off
    );

    // The other CPUs, in DT order after the boot CPU.
    let me = arch::mpidr();
    let others = platform.cpus().iter().filter(|&&m| m != me);
    for (index, &mpidr) in (1..cpus).zip(others) {
        PAYLOAD_CPU_MPIDRS[index].store(mpidr, SeqCst);
        WORKERS[index].stamp.store(arch::counter(), SeqCst);
        let ret = psci::cpu_on(
            mpidr,
            arch::secondary_entry_address(),
            SOAK_TAG | index as u64,
        );
        if ret != psci::Ret::SUCCESS {
            println!("SOAK: cpu {index} FAIL CPU_ON returned {ret}");
            bump(&WORKERS[index].failures);
        }
    }
    let online = time::wait_until(ONLINE_TIMEOUT_MS, || {
        (1..cpus)
            .all(|i| WORKERS[i].state.load(SeqCst) != IDLE || WORKERS[i].failures.load(SeqCst) != 0)
    });
    if !online {
        println!("SOAK: FAIL not every CPU came online within {ONLINE_TIMEOUT_MS} ms");
    }

    work(0);
    // The others' last rounds, watched.
    let all_done = || (1..cpus).all(|i| WORKERS[i].state.load(SeqCst) == DONE);
    while !all_done() && !STOP.load(SeqCst) {
        if !watch() {
            break;
        }
        relax();
    }
    let elapsed = time::ms_since(started);
    report_results(rounds, cpus, elapsed, &before, total_before);
    report::finish()
}

/// The per-CPU lines, the audit comparison, the ownership check and the summary.
fn report_results(
    rounds: u64,
    cpus: usize,
    elapsed: u64,
    before: &[Option<[u64; 5]>; NFUN],
    total_before: Option<[u64; 5]>,
) {
    let mut failures = 0;
    let (mut psci_calls, mut suspends) = (0, 0);
    let mut rounds_ok = true;
    for (i, w) in WORKERS.iter().enumerate().take(cpus) {
        let answered: u64 = w.answered.iter().map(|a| a.load(SeqCst)).sum();
        let refused: u64 = w.refused.iter().map(|a| a.load(SeqCst)).sum();
        let done = w.round.load(SeqCst);
        failures += w.failures.load(SeqCst);
        psci_calls += w.psci_calls.load(SeqCst);
        suspends += w.suspends.load(SeqCst);
        rounds_ok &= done >= rounds && w.state.load(SeqCst) == DONE;
        println!(
            "SOAK: cpu {i} rounds={done} ffa-calls={} refused-on-purpose={refused} psci-calls={} suspends={} cpu-off={} (answer {:#x}) restarts={} lend-probes={} failures={}",
            answered + refused,
            w.psci_calls.load(SeqCst),
            w.suspends.load(SeqCst),
            w.off_calls.load(SeqCst),
            w.off_answer.load(SeqCst),
            w.restarts.load(SeqCst),
            w.lend_probes.load(SeqCst),
            w.failures.load(SeqCst),
        );
    }
    // Where the boot CPU's time went, per step (ms).
    let freq = arch::counter_frequency().max(1000) / 1000;
    let mut line = crate::report::Line::new();
    for (step, spent) in WORKERS[0].spent.iter().enumerate() {
        let name = STEP_NAMES.get(step).copied().unwrap_or("off");
        let _ = core::fmt::Write::write_fmt(
            &mut line,
            format_args!(" {name}={}", spent.load(SeqCst) / freq),
        );
    }
    println!("SOAK: cpu 0 ms per step:{line}");
    let outcome = if rounds_ok && failures == 0 && !STOP.load(SeqCst) {
        Outcome::Pass(text(format_args!(
            "{cpus} CPUs x {rounds} rounds, every answer as expected, no CPU stalled"
        )))
    } else {
        Outcome::Fail(text(format_args!(
            "{failures} failures; every CPU done: {rounds_ok}; stopped on a stall: {}",
            STOP.load(SeqCst)
        )))
    };
    report::record("soak-rounds", &outcome);

    // Audit: per function and in total.
    let mut audit_problems = 0;
    let mut sum = [0u64; 2];
    for (f, &(id, name)) in FUNCTIONS.iter().enumerate() {
        let answered: u64 = WORKERS
            .iter()
            .take(cpus)
            .map(|w| w.answered[f].load(SeqCst))
            .sum();
        let refused: u64 = WORKERS
            .iter()
            .take(cpus)
            .map(|w| w.refused[f].load(SeqCst))
            .sum();
        sum[0] += answered;
        sum[1] += refused;
        let (Some(b), Some(a)) = (before[f], audit(id)) else {
            println!("SOAK: audit {name} FAIL the audit HVC does not know {id:#x}");
            audit_problems += 1;
            continue;
        };
        let d: [u64; 5] = core::array::from_fn(|k| a[k].wrapping_sub(b[k]));
        let ok = d[0] + d[1] == answered && d[2] == refused && d[3] == 0 && d[4] == 0;
        audit_problems += u64::from(!ok);
        println!(
            "SOAK: audit {name} calls={answered} refused-on-purpose={refused}: forwarded+{} emulated+{} rejected+{} unsupported+{} bad-replies+{} {}",
            d[0],
            d[1],
            d[2],
            d[3],
            d[4],
            if ok { "OK" } else { "FAIL" }
        );
    }
    match (total_before, audit(0)) {
        (Some(b), Some(a)) => {
            let d: [u64; 5] = core::array::from_fn(|k| a[k].wrapping_sub(b[k]));
            let ok = d[0] + d[1] == sum[0] && d[2] == sum[1] && d[3] == 0 && d[4] == 0;
            audit_problems += u64::from(!ok);
            println!(
                "SOAK: audit total calls={} refused-on-purpose={}: forwarded+{} emulated+{} rejected+{} unsupported+{} bad-replies+{} {}",
                sum[0],
                sum[1],
                d[0],
                d[1],
                d[2],
                d[3],
                d[4],
                if ok { "OK" } else { "FAIL" }
            );
        }
        _ => audit_problems += 1,
    }
    let outcome = if audit_problems == 0 {
        Outcome::Pass(text(format_args!(
            "the proxy counted exactly the {} calls made ({} refused on purpose), nothing unsupported, no bad reply",
            sum[0] + sum[1],
            sum[1]
        )))
    } else {
        Outcome::Fail(text(format_args!("{audit_problems} audit mismatches")))
    };
    report::record("soak-audit", &outcome);

    // Ownership: every pool page of every CPU is the host's again, with its contents.
    let mut bad_pages = 0;
    for (i, page) in POOL.iter().enumerate().take(cpus * PAGES_PER_CPU) {
        let want = EXPECTED[i].load(SeqCst);
        // SAFETY: armed; a page that is the host's again does not fault.
        let (first, seen) = run_probe(ProbeKind::Data, || unsafe { arch::load(page.addr()) });
        // SAFETY: as above; the store writes the value the page already holds.
        let ((), seen_store) = run_probe(ProbeKind::Data, || unsafe {
            arch::store(page.addr() + 4088, want)
        });
        if seen.is_some() || seen_store.is_some() || first != want {
            bad_pages += 1;
            println!(
                "SOAK: ownership FAIL page {:#x} (cpu {}): load {} store {} holds {first:#x} want {want:#x}",
                page.addr(),
                i / PAGES_PER_CPU,
                if seen.is_some() { "aborted" } else { "ok" },
                if seen_store.is_some() {
                    "aborted"
                } else {
                    "ok"
                },
            );
        }
    }
    let pages = cpus * PAGES_PER_CPU;
    let outcome = if bad_pages == 0 {
        Outcome::Pass(text(format_args!(
            "all {pages} shared/lent pages readable and writable by the host, contents as last written"
        )))
    } else {
        Outcome::Fail(text(format_args!("{bad_pages} of {pages} pages not back")))
    };
    report::record("soak-ownership", &outcome);
    println!(
        "SOAK-DONE rounds={rounds} cpus={cpus} ffa-calls={} psci-calls={psci_calls} suspends={suspends} failures={} ms={elapsed}",
        sum[0] + sum[1],
        failures + audit_problems + bad_pages
    );
}
