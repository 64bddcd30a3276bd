//! The FF-A conformance matrix on the real stack: the payload, as
//! the host, calls OP-TEE 4.10 through the hypervisor's FF-A proxy and checks every answer.
//!
//! One line per case, one line at the end of each phase, then a per-ABI tally and the
//! summary:
//!
//! ```text
//! PAYLOAD: ffa <name> PASS|FAIL|SKIP <details>
//! FFA-PHASE: <phase> id=<n> cases=<c> passed=<p> failed=<f> skipped=<s>
//! FFA-ABI: <abi> <n> cases, <p> passed, <f> failed, <s> skipped
//! FFA-CONFORMANCE: <n> passed, <m> failed, <k> skipped
//! ```
//!
//! Each phase ([`crate::ffa_spec::PHASES`]) starts with the el-counter plugin's marker
//! ([`arch::mark_phase`]), so that QEMU can count, outside the hypervisor, the SMCs EL2 makes
//! during it; the system test counts each phase's cases exactly.
//!
//! Phases, in this order (the good calls need a fresh SPMC state; the bad calls come last so
//! that a wrongly forwarded one cannot disturb a good one):
//!
//! | group | what must hold |
//! |---|---|
//! | `good.*` | version negotiation, ID_GET, SPM_ID_GET, the mailbox (RXTX_MAP/UNMAP, PARTITION_INFO_GET, RX_RELEASE), MEM_SHARE/RECLAIM, direct requests to OP-TEE, FFA_RUN, notifications: each answered as OP-TEE 4.10 answers (`thread_spmc.c`), or as the proxy must answer when it emulates |
//! | `features.*` | FFA_FEATURES for every function (both conventions) and feature ID: emulated ones SUCCESS, forwarded ones OP-TEE's answer, blocked and undefined ones NOT_SUPPORTED without reaching OP-TEE |
//! | `hygiene.*` | non-zero SMC immediates, x0[63:32], yielding and reserved-bit IDs: SMCCC NOT_SUPPORTED, nothing forwarded; the SVE hint is ignored; FF-A over HVC is not FF-A |
//! | `not-supported.*` | return interfaces, Secure-only and unimplemented ABIs, IDs not in v1.2: FFA_ERROR(NOT_SUPPORTED), nothing forwarded |
//! | `good.mem-lend-*` | FFA_MEM_LEND to OP-TEE: SUCCESS; the lent page is gone from the payload's stage 2 (a load and a store take a synchronous external abort at the payload's own EL1 vector, and the store does not land); a second LEND or SHARE of it is DENIED; after RECLAIM the page is back with its contents |
//! | `good.mem-frag-*` | a share sent in two fragments (FFA_MEM_SHARE with the fragment length below the total, the SPMC's FFA_MEM_FRAG_RX, FFA_MEM_FRAG_TX): SUCCESS with the handle of the FRAG_RX, then RECLAIM; FRAG_TX without a transaction in progress: INVALID_PARAMETERS from EL2 |
//! | `attack.*` | the TX-rewrite race (D-COPY-ONCE in `docs/ffa-decisions.md`): CPU 1 rewrites the descriptor while the boot CPU shares; every answer SUCCESS or a refusal, the audit counters match them exactly, and the page shares cleanly afterwards |
//! | `good.mem-lend-64.across-2mib*` | two pages straddling a 2 MiB boundary lent in one constituent: both gone from the host, the second not shareable while lent, both back after RECLAIM |
//! | `bad.*` | every MBZ field of every validated ABI ([`crate::ffa_spec::BAD_ABIS`]) at its lowest bit, highest bit and all ones: FFA_ERROR(INVALID_PARAMETERS), nothing forwarded |
//!
//! With `ffa-version=1.0|1.1` in the bootargs, [`run_legacy`] runs instead: a host that
//! negotiates that version, with its descriptor layouts (`legacy.*`, one phase).
//!
//! With `spmc=el3` ([`SPMC_EL3`]) the Secure world is TF-A 2.12's EL3 SPMC with OP-TEE as its
//! S-EL1 partition, and the cases whose answer is the SPMC's are judged by that SPMC's answers
//! (`docs/spmc.md` lists each difference): FFA_FEATURES of the notification calls and of the
//! schedule-receiver interrupt NOT_SUPPORTED and of FFA_RUN SUCCESS; PARTITION_INFO_GET of an
//! unknown UUID INVALID_PARAMETERS; the `notifications` phase is [`notifications_el3`] (every
//! forwarded notification call NOT_SUPPORTED, the proxy's own checks unchanged); the
//! `memory` phase is [`memory_el3`] (this SPMC serves fragmented SHARE and LEND, which OP-TEE at
//! S-EL1 refuses; TF-A 2.12 unpatched refuses every memory transaction of a v1.2 caller: either
//! way the proxy must pass the answer on and the pages must be the host's again afterwards;
//! `tests/system/tests/spmc_el3.rs` requires the served outcome). `good.run.optee` is made
//! against both: DENIED at EL2 (this SPMC would hand the FFA_RUN to OP-TEE, which panics), and
//! a direct request after it is answered. The phases answered at EL2 are the same for both SPMCs.
//!
//! **Proof that nothing bad was forwarded.** Around every case the payload reads the proxy's
//! audit counters over the hypervisor's HVC ABI (0xc600_0001, x1 = the function ID; x0 = 0,
//! x1 = forwarded, x2 = emulated, x3 = rejected, x4 = not supported, x5 = refused SPMC
//! replies; x1 = 0 for the totals) and checks the change: a refused call must leave
//! `forwarded` alone (for its ID and in total) and move `rejected` (or `not supported`); a
//! forwarded good call must move `forwarded`. Without that HVC the answers are still checked
//! but a case that needs the counters is a SKIP, which the system test counts as a failure.
//!
//! The expected answers are written from the spec notes and OP-TEE's source, never read from
//! the proxy's table at run time.
//!
//! The RX/TX pages are read and written with the MMU off (Device-nGnRnE, uncached), and the
//! hypervisor writes the RX page through its cacheable map: fine under QEMU TCG, which models
//! no caches; on hardware the proxy would have to clean the RX page to the PoC.

use core::cell::UnsafeCell;
use core::fmt::{self, Write};

use crate::arch;
use crate::dt::Platform;
use crate::esr::{self, EC_DABT_CURRENT};
use crate::exceptions::{ProbeKind, run_probe};
use crate::ffa_call::{self, Conduit};
use crate::ffa_spec::{
    self as spec, BAD_ABIS, BadAnswer, Ctx, FEATURE_QUERIES, FeatureAnswer, NOT_SUPPORTED_CALLS,
    NOTIFICATION_BIT, OPTEE_ENDPOINT_FALLBACK, OPTEE_FFA_EXCHANGE_CAPABILITIES,
    OPTEE_FFA_GET_API_VERSION, OPTEE_FFA_GET_OS_VERSION, Regs, VERSION_1_0, VERSION_1_2, fid,
    status,
};
use crate::race;
use crate::report::{self, Line, Outcome, text};

/// Batches of the TX-rewrite race at most (`race-batches=N` in the bootargs, 1..=256; see
/// `tx_rewrite_race`).
pub static RACE_BATCHES: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(4);

/// Whether the SPMC is TF-A's EL3 SPMC (`spmc=el3` in the bootargs) instead of OP-TEE at S-EL1.
pub static SPMC_EL3: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn el3() -> bool {
    SPMC_EL3.load(core::sync::atomic::Ordering::Relaxed)
}

/// FFA_FEATURES answers of TF-A 2.12's EL3 SPMC where they differ from OP-TEE 4.10's
/// (`spmc_main.c`, `ffa_features_handler`): it implements no notification call and has no
/// schedule-receiver interrupt, and it lists FFA_RUN.
/// Only forwarded queries change: the proxy's own answers are the same for both SPMCs.
fn el3_feature_answer(key: &str, answer: FeatureAnswer) -> FeatureAnswer {
    let forwarded = matches!(
        answer,
        FeatureAnswer::ForwardedSuccess | FeatureAnswer::ForwardedNotSupported
    );
    match key {
        _ if !forwarded => answer,
        k if k.starts_with("notif-") => FeatureAnswer::ForwardedNotSupported,
        "feature-sri" => FeatureAnswer::ForwardedNotSupported,
        "run" => FeatureAnswer::ForwardedSuccess,
        _ => answer,
    }
}

/// The hypervisor's HVC ABI (`hypervisor/src/hvc.rs`): identify.
const HVC_IDENTIFY: u64 = 0xC600_0000;
/// FF-A audit counters of one function (x1 = ID) or of all (x1 = 0).
const HVC_FFA_AUDIT: u64 = 0xC600_0001;
/// "FFAHYP" in x1 of the identify answer.
const HYP_MAGIC: u64 = u64::from_le_bytes(*b"FFAHYP\0\0");
/// SMCCC NOT_SUPPORTED in w0.
const SMCCC_NOT_SUPPORTED: u32 = 0xFFFF_FFFF;
/// The SMCCC v1.3 "SVE state not live" hint (bit 16 of the function ID).
const SVE_HINT: u32 = 1 << 16;
/// OP-TEE's SPMC endpoint ID (`optee_spmc_lsp.sp_id`, FFA_SPM_ID_GET's answer).
const OPTEE_SPMC_ID: u64 = 0x8000;
/// OP-TEE's FF-A ABI version (`OPTEE_FFA_VERSION_MAJOR/MINOR`).
const OPTEE_FFA_ABI: (u64, u64) = (1, 0);
/// OP-TEE's release (`CFG_OPTEE_REVISION_MAJOR/MINOR` of the 4.10 build).
const OPTEE_RELEASE: (u64, u64) = (4, 10);
/// FF-A v1.1+ partition information descriptor size.
const PARTITION_INFO_SIZE: u64 = 24;
/// FF-A memory attributes: Normal memory, write-back, inner shareable (v1.1 encoding).
const MEM_NORMAL_WB_INNER: u32 = 0x2F;
/// FF-A data access permission read-write.
const MEM_RW: u32 = 2;
/// A receiver that no partition has (OP-TEE 4.10 has no S-EL0 SPs on this stack).
const UNKNOWN_SP: u16 = 0x8005;
/// A UUID no partition has (w1-w4).
const UNKNOWN_UUID: [u64; 4] = [0x1234_5678, 0x9abc_def0, 0x0fed_cba9, 0x8765_4321];

/// A 4 KiB page of the payload's memory the proxy may see (host RAM, page-aligned).
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; 4096]>);

// SAFETY: only the boot CPU runs the FF-A cases; the secondaries are parked.
unsafe impl Sync for Page {}

impl Page {
    const fn new() -> Self {
        Page(UnsafeCell::new([0; 4096]))
    }

    fn addr(&self) -> u64 {
        self.0.get() as u64
    }

    /// The aligned word at `offset` (the MMU is off: Device memory, aligned accesses only).
    fn read32(&self, offset: usize) -> u32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= 4096);
        // SAFETY: in bounds and aligned (checked); a volatile read because the hypervisor
        // writes the page behind the compiler's back.
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

    fn clear(&self) {
        for offset in (0..4096).step_by(4) {
            self.write32(offset, 0);
        }
    }
}

/// The payload's TX buffer.
static TX: Page = Page::new();
/// The payload's RX buffer.
static RX: Page = Page::new();
/// The page the MEM_SHARE cases share with OP-TEE.
static SHARED: Page = Page::new();

/// One function's (or all functions') audit counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    forwarded: u64,
    emulated: u64,
    rejected: u64,
    unsupported: u64,
    bad_replies: u64,
}

impl Counts {
    fn delta(self, before: Counts) -> Counts {
        Counts {
            forwarded: self.forwarded.wrapping_sub(before.forwarded),
            emulated: self.emulated.wrapping_sub(before.emulated),
            rejected: self.rejected.wrapping_sub(before.rejected),
            unsupported: self.unsupported.wrapping_sub(before.unsupported),
            bad_replies: self.bad_replies.wrapping_sub(before.bad_replies),
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fwd+{} emu+{} rej+{} uns+{} bad+{}",
            self.forwarded as i64,
            self.emulated as i64,
            self.rejected as i64,
            self.unsupported as i64,
            self.bad_replies as i64
        )
    }
}

/// Reads the audit counters of `id` (0: all functions). `Err(x0)` if the hypervisor does
/// not answer (or does not know the ID: SMCCC INVALID_PARAMETER).
fn audit(id: u32) -> Result<Counts, u64> {
    let mut r = [0; 18];
    r[0] = HVC_FFA_AUDIT;
    r[1] = id.into();
    let r = ffa_call::call(Conduit::Hvc, &r);
    if r[0] != 0 {
        return Err(r[0]);
    }
    Ok(Counts {
        forwarded: r[1],
        emulated: r[2],
        rejected: r[3],
        unsupported: r[4],
        bad_replies: r[5],
    })
}

/// The counters around a case: the function's own (if the hypervisor knows the ID) and the
/// totals.
#[derive(Clone, Copy)]
struct Snapshot {
    id: Option<Counts>,
    total: Counts,
}

fn snapshot(id: Option<u32>) -> Option<Snapshot> {
    let total = audit(0).ok()?;
    Some(Snapshot {
        id: id.and_then(|id| audit(id).ok()),
        total,
    })
}

/// What the audit counters must show after a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Audit {
    /// The host's call reached the SPMC: the function's `forwarded` +1, nothing refused.
    Forwarded,
    /// A valid call answered at EL2: the function's `emulated` +1; nothing forwarded at all.
    Emulated,
    /// A valid call answered at EL2 with an error or NOT_SUPPORTED (a FEATURES query of a
    /// blocked function, a refused FFA_VERSION): nothing forwarded, nothing rejected.
    NotForwarded,
    /// A valid mailbox or memory call (emulated, possibly with the proxy's own SMCs):
    /// nothing rejected or refused.
    Handled,
    /// Refused at EL2 for a field or SMCCC hygiene: `rejected` +1, nothing forwarded.
    Rejected,
    /// Refused at EL2 (`rejected` or `not supported` +1), nothing forwarded.
    Refused,
    /// Not an FF-A call at all (HVC): no counter moves.
    Untouched,
    /// The answer alone decides (the SPMC may legitimately give the same answer).
    Any,
}

fn check_audit(audit: Audit, before: &Snapshot, after: &Snapshot) -> Verdict {
    let total = after.total.delta(before.total);
    let id = match (before.id, after.id) {
        (Some(b), Some(a)) => Some(a.delta(b)),
        _ => None,
    };
    // The function's own counters where the hypervisor has them, else the totals.
    let own = id.unwrap_or(total);
    let scope = if id.is_some() { "id" } else { "total" };
    let summary = text(format_args!(
        "audit {scope} {own}, total fwd+{}",
        total.forwarded
    ));
    let ok = match audit {
        Audit::Forwarded => {
            id.is_some()
                && own.forwarded == 1
                && own.rejected == 0
                && own.unsupported == 0
                && own.bad_replies == 0
        }
        Audit::Emulated => own.emulated == 1 && own.forwarded == 0 && total.forwarded == 0,
        Audit::NotForwarded => {
            own.forwarded == 0 && total.forwarded == 0 && own.rejected == 0 && own.bad_replies == 0
        }
        Audit::Handled => own.rejected == 0 && own.unsupported == 0 && own.bad_replies == 0,
        Audit::Rejected => own.rejected == 1 && own.forwarded == 0 && total.forwarded == 0,
        Audit::Refused => {
            own.rejected + own.unsupported == 1 && own.forwarded == 0 && total.forwarded == 0
        }
        Audit::Untouched => total == Counts::default(),
        Audit::Any => true,
    };
    if ok {
        Verdict::Pass(summary)
    } else {
        Verdict::Fail(text(format_args!("{summary}: want {audit:?}")))
    }
}

/// The registers that are not zero, `x<n>=<hex>`.
struct Nonzero<'a>(&'a Regs);

impl fmt::Display for Nonzero<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (n, value) in self.0.iter().enumerate() {
            if *value != 0 || n == 0 {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "x{n}={value:#x}")?;
                first = false;
            }
        }
        Ok(())
    }
}

/// A judge's verdict on a reply (or on the audit counters).
enum Verdict {
    /// What was seen.
    Pass(Line),
    /// What was wrong.
    Fail(Line),
}

/// `FFA_ERROR` with w2 = `code`, w1 and w3-w7 zero.
fn error(r: &Regs, code: i32) -> Verdict {
    let got = r[2] as u32 as i32;
    let clean = r[1] == 0 && r[3..8].iter().all(|&x| x == 0);
    if r[0] == u64::from(fid::ERROR) && got == code && clean {
        Verdict::Pass(text(format_args!(
            "FFA_ERROR({code} {})",
            spec::status_name(code)
        )))
    } else {
        Verdict::Fail(text(format_args!(
            "want FFA_ERROR({code} {}) with w1, w3-w7 zero",
            spec::status_name(code)
        )))
    }
}

/// `FFA_ERROR` with any of `codes`.
fn error_of(r: &Regs, codes: &[i32]) -> Verdict {
    for &code in codes {
        if let Verdict::Pass(seen) = error(r, code) {
            return Verdict::Pass(seen);
        }
    }
    let mut want = Line::new();
    for &code in codes {
        want.separate();
        let _ = write!(want, "{code} {}", spec::status_name(code));
    }
    Verdict::Fail(text(format_args!("want FFA_ERROR of: {want}")))
}

/// SMCCC NOT_SUPPORTED (-1) in w0.
fn smccc_not_supported(r: &Regs) -> Verdict {
    if r[0] as u32 == SMCCC_NOT_SUPPORTED {
        Verdict::Pass(text(format_args!("SMCCC NOT_SUPPORTED (-1)")))
    } else {
        Verdict::Fail(text(format_args!("want SMCCC NOT_SUPPORTED (-1) in w0")))
    }
}

/// `FFA_SUCCESS` (SMC32), then `more` on the reply.
fn success(r: &Regs, more: impl FnOnce(&Regs) -> Verdict) -> Verdict {
    if r[0] != u64::from(fid::SUCCESS_32) {
        return Verdict::Fail(text(format_args!(
            "want FFA_SUCCESS ({:#x})",
            fid::SUCCESS_32
        )));
    }
    more(r)
}

/// A bare w0 answer (FFA_VERSION).
fn w0(r: &Regs, want: u32) -> Verdict {
    if r[0] as u32 == want {
        Verdict::Pass(text(format_args!("w0={want:#x}")))
    } else {
        Verdict::Fail(text(format_args!("want w0={want:#x}")))
    }
}

/// The direct response of OP-TEE (`resp` = the DIRECT_RESP ID for the request's
/// convention): w1 = OP-TEE -> host, w2 = 0, x8-x17 zero (DIRECT_RESP defines x3-x7 only and
/// the request's x8-x17 were zero: nothing else may reach the host), then `more`.
fn direct_resp(r: &Regs, resp: u32, sp: u16, more: impl FnOnce(&Regs) -> Verdict) -> Verdict {
    let ids = u64::from(sp) << 16;
    if r[0] != u64::from(resp) || r[1] != ids || r[2] != 0 {
        return Verdict::Fail(text(format_args!(
            "want DIRECT_RESP {resp:#x} w1={ids:#x} w2=0"
        )));
    }
    if r[8..].iter().any(|&x| x != 0) {
        return Verdict::Fail(text(format_args!(
            "want x8-x17 zero in a DIRECT_RESP (the reply is filtered to its ABI)"
        )));
    }
    more(r)
}

/// Per-ABI tally (for the `FFA-ABI:` lines): passed, failed, skipped per key.
struct Tally {
    keys: [Option<&'static str>; MAX_KEYS],
    counts: [[u32; 3]; MAX_KEYS],
}

impl Tally {
    /// Passed, failed and skipped over every key.
    fn totals(&self) -> [u32; 3] {
        let mut total = [0; 3];
        for counts in &self.counts {
            for (t, c) in total.iter_mut().zip(counts) {
                *t += c;
            }
        }
        total
    }
}

const MAX_KEYS: usize = 64;

/// The matrix's state: what was learnt about the platform, and the tallies.
struct Matrix {
    ctx: Ctx,
    /// Whether the audit HVC answers.
    audit: bool,
    carveout: Option<(u64, u64)>,
    ram_end: u64,
    tally: Tally,
}

impl Matrix {
    /// Runs one phase of the matrix ([`spec::PHASES`]): marks it for the el-counter plugin,
    /// runs it, and prints `FFA-PHASE: <name> id=<n> cases=<c> passed=<p> failed=<f>
    /// skipped=<s>` for the cases it recorded.
    fn phase<R>(&mut self, name: &'static str, run: impl FnOnce(&mut Matrix) -> R) -> R {
        let id = spec::PHASES
            .iter()
            .chain([spec::PHASE_LEGACY].iter())
            .find(|(_, n)| *n == name)
            .map_or(0, |(id, _)| *id);
        let before = self.tally.totals();
        arch::mark_phase(id);
        let result = run(self);
        let after = self.tally.totals();
        let [p, f, s] = [0, 1, 2].map(|i| after[i] - before[i]);
        println!(
            "FFA-PHASE: {name} id={id} cases={} passed={p} failed={f} skipped={s}",
            p + f + s
        );
        result
    }

    fn slot(&mut self, key: &'static str) -> usize {
        let free = self.tally.keys.iter().position(Option::is_none);
        match self.tally.keys.iter().position(|k| *k == Some(key)) {
            Some(i) => i,
            None => {
                let i = free.unwrap_or(MAX_KEYS - 1);
                self.tally.keys[i] = Some(key);
                i
            }
        }
    }

    /// Runs one case: audit, call, audit, judge; prints and counts it. Returns the reply.
    #[allow(clippy::too_many_arguments)]
    fn case(
        &mut self,
        key: &'static str,
        name: fmt::Arguments,
        conduit: Conduit,
        regs: Regs,
        audit_id: Option<u32>,
        audit: Audit,
        judge: impl FnOnce(&Regs) -> Verdict,
    ) -> Regs {
        let name = text(name);
        let before = if self.audit { snapshot(audit_id) } else { None };
        let reply = ffa_call::call(conduit, &regs);
        let after = if self.audit { snapshot(audit_id) } else { None };
        let verdict = judge(&reply);
        let audited = match (before, after) {
            (Some(b), Some(a)) => Some(check_audit(audit, &b, &a)),
            _ => None,
        };
        let outcome = match (verdict, audited) {
            (Verdict::Pass(seen), Some(Verdict::Pass(counters))) => {
                Outcome::Pass(text(format_args!("{seen}; {counters}")))
            }
            (Verdict::Pass(seen), None) if audit == Audit::Any => Outcome::Pass(seen),
            (Verdict::Pass(seen), None) => Outcome::Skip(text(format_args!(
                "{seen}; not proven {audit:?}: the FF-A audit HVC {HVC_FFA_AUDIT:#x} does not answer"
            ))),
            (verdict, audited) => {
                let mut why = Line::new();
                if let Verdict::Fail(e) = &verdict {
                    let _ = write!(why, "{e}");
                }
                if let Some(Verdict::Fail(e) | Verdict::Pass(e)) = &audited {
                    why.separate();
                    let _ = write!(why, "{e}");
                }
                Outcome::Fail(text(format_args!(
                    "{}: sent {} ({}); got {}",
                    why,
                    Nonzero(&regs),
                    conduit.name(),
                    Nonzero(&reply)
                )))
            }
        };
        self.record(key, &name, &outcome);
        reply
    }

    /// Prints a case's outcome and counts it under `key`.
    fn record(&mut self, key: &'static str, name: &Line, outcome: &Outcome) {
        report::record(format_args!("ffa {name}"), outcome);
        let slot = self.slot(key);
        let column = match outcome {
            Outcome::Pass(_) => 0,
            Outcome::Fail(_) => 1,
            Outcome::Skip(_) => 2,
        };
        self.tally.counts[slot][column] += 1;
    }

    /// A case over `smc #0` whose audit scope is its own function ID.
    fn smc(
        &mut self,
        key: &'static str,
        name: fmt::Arguments,
        regs: Regs,
        audit: Audit,
        judge: impl FnOnce(&Regs) -> Verdict,
    ) -> Regs {
        let id = (regs[0] as u32) & !SVE_HINT;
        self.case(key, name, Conduit::Smc, regs, Some(id), audit, judge)
    }
}

fn call(x0: u32, args: &[u64]) -> Regs {
    let mut r = [0; 18];
    r[0] = x0.into();
    r[1..=args.len()].copy_from_slice(args);
    r
}

/// Runs the matrix (under the hypervisor only: without it an FF-A SMC has no EL2 to trap
/// to and the SPMC would see the payload's raw calls).
pub fn run_all(platform: &Platform) {
    if !under_hypervisor(platform) {
        return;
    }
    let mut m = new_matrix(platform);

    if !m.phase("negotiate", negotiate) {
        println!(
            "PAYLOAD: warning FFA_VERSION(1.2) failed: the proxy is off, no further FF-A cases"
        );
    } else {
        m.phase("features", features);
        m.phase("mailbox", mailbox);
        m.phase("memory", |m| {
            if el3() {
                memory_el3(m);
            } else {
                memory(m);
            }
            lend_scattered_blocks(m);
        });
        m.phase("direct", direct);
        m.phase("notifications", |m| {
            if el3() {
                notifications_el3(m);
            } else {
                notifications(m);
            }
        });
        m.phase("hygiene", hygiene);
        m.phase("not-supported", not_supported);
        m.phase("bad", bad_calls);
    }
    arch::mark_phase(spec::PHASE_END);
    summary(&m);
}

/// The matrix's state for a run on `platform`, after checking the audit HVC answers.
fn new_matrix(platform: &Platform) -> Matrix {
    let audit_ok = audit(0).is_ok();
    if !audit_ok {
        println!(
            "PAYLOAD: warning the FF-A audit HVC {HVC_FFA_AUDIT:#x} does not answer: cases that must prove what was forwarded SKIP"
        );
    }
    Matrix {
        ctx: Ctx {
            sp: OPTEE_ENDPOINT_FALLBACK,
            tx: TX.addr(),
            rx: RX.addr(),
        },
        audit: audit_ok,
        carveout: platform.carveout.map(|c| (c.region.base, c.region.end())),
        ram_end: platform.ram_end(),
        tally: Tally {
            keys: [None; MAX_KEYS],
            counts: [[0; 3]; MAX_KEYS],
        },
    }
}

/// Whether the payload runs under the hypervisor (the carve-out node and the identify HVC);
/// if not, one SKIP line and the summary.
fn under_hypervisor(platform: &Platform) -> bool {
    let identify = ffa_call::call(Conduit::Hvc, &call(HVC_IDENTIFY as u32, &[]));
    if platform.carveout.is_none() || identify[0] != 0 || identify[1] != HYP_MAGIC {
        report::record(
            "ffa",
            &Outcome::Skip(text(format_args!(
                "not under the hypervisor (no carve-out node, or HVC identify answered x0={:#x} x1={:#x})",
                identify[0], identify[1]
            ))),
        );
        println!("FFA-CONFORMANCE: 0 passed, 0 failed, 1 skipped");
        return false;
    }
    true
}

/// The FF-A calls of a host that negotiates an older version (`ffa-version=1.0` or `1.1` in
/// the bootargs; `version` is 0x1_0000 or 0x1_0001) against OP-TEE through the proxy, with
/// that version's descriptor layouts: negotiation (the proxy asks the SPMC, then answers the
/// old version for good), the mailbox and partition discovery, a direct request, FFA_MEM_SHARE
/// and FFA_MEM_LEND (the page leaves the host, then comes back) in the old layout, and the
/// v1.2 layout refused at this version. Runs instead of the full matrix (which is v1.2's).
pub fn run_legacy(platform: &Platform, version: u32) {
    if !under_hypervisor(platform) {
        return;
    }
    let mut m = new_matrix(platform);
    let (major, minor) = (version >> 16, version & 0xFFFF);
    m.phase("legacy", |m| legacy(m, version));
    arch::mark_phase(spec::PHASE_END);
    println!("PAYLOAD: ffa legacy run at v{major}.{minor} done");
    summary(&m);
}

fn legacy(m: &mut Matrix, version: u32) {
    let sp = m.ctx.sp;
    let v = u64::from(version);
    // The proxy asks the SPMC for the lower version first (OP-TEE accepts it), then answers it
    // itself: an emulated call in the audit.
    let r = m.smc(
        "version",
        format_args!("legacy.version"),
        call(fid::VERSION, &[v]),
        Audit::Emulated,
        |r| w0(r, version),
    );
    if r[0] as u32 != version {
        return;
    }
    m.smc(
        "id-get",
        format_args!("legacy.id-get"),
        call(fid::ID_GET, &[]),
        Audit::Emulated,
        |r| {
            success(r, |r| {
                if r[2] == 0 {
                    Verdict::Pass(text(format_args!("FFA_SUCCESS ID 0")))
                } else {
                    Verdict::Fail(text(format_args!("want ID 0 in w2")))
                }
            })
        },
    );
    // Final now: asking for v1.2 gets the negotiated version (D-VERSION-FINAL).
    m.smc(
        "version",
        format_args!("legacy.version.1-2-after-final"),
        call(fid::VERSION, &[VERSION_1_2.into()]),
        Audit::Emulated,
        |r| w0(r, version),
    );
    let (tx, rx) = (m.ctx.tx, m.ctx.rx);
    m.smc(
        "rxtx-map-64",
        format_args!("legacy.rxtx-map-64"),
        call(fid::RXTX_MAP_64, &[tx, rx, 1]),
        Audit::Emulated,
        |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
    );
    // Partition discovery in this version's descriptor: OP-TEE's endpoint first.
    let entry_size = if version == VERSION_1_0 {
        8
    } else {
        PARTITION_INFO_SIZE
    };
    m.smc(
        "partition-info-get",
        format_args!("legacy.partition-info-get"),
        call(fid::PARTITION_INFO_GET, &[]),
        Audit::Forwarded,
        |r| {
            success(r, |r| {
                let id = RX.read32(0) & 0xFFFF;
                let size_ok = version == VERSION_1_0 || r[3] == entry_size;
                if r[2] >= 1 && id == u32::from(sp) && size_ok {
                    Verdict::Pass(text(format_args!(
                        "FFA_SUCCESS {} partition(s), first {id:#x}, {entry_size}-byte entries",
                        r[2]
                    )))
                } else {
                    Verdict::Fail(text(format_args!(
                        "want at least one partition, the first {sp:#x}, w3 = {entry_size} from v1.1 (RX word 0 {:#x})",
                        RX.read32(0)
                    )))
                }
            })
        },
    );
    m.smc(
        "rx-release",
        format_args!("legacy.rx-release"),
        call(fid::RX_RELEASE, &[]),
        Audit::Emulated,
        |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
    );
    m.smc(
        "direct-req-32",
        format_args!("legacy.direct-req-32.api-version"),
        call(
            fid::MSG_SEND_DIRECT_REQ_32,
            &[sp.into(), 0, OPTEE_FFA_GET_API_VERSION],
        ),
        Audit::Forwarded,
        |r| {
            direct_resp(r, fid::MSG_SEND_DIRECT_RESP_32, sp, |r| {
                if (r[3], r[4]) == OPTEE_FFA_ABI {
                    Verdict::Pass(text(format_args!("OP-TEE FF-A ABI {}.{}", r[3], r[4])))
                } else {
                    Verdict::Fail(text(format_args!("want OP-TEE's ABI version in w3/w4")))
                }
            })
        },
    );
    let page = SHARED.addr();
    let length = Share::of(sp, page).write_for(version);
    let r = m.smc(
        "mem-share-64",
        format_args!("legacy.mem-share-64"),
        share_call(fid::MEM_SHARE_64, length),
        Audit::Forwarded,
        |r| {
            success(r, |r| {
                Verdict::Pass(text(format_args!(
                    "FFA_SUCCESS handle {:#x} ({length}-byte descriptor)",
                    handle_of(r)
                )))
            })
        },
    );
    if r[0] == u64::from(fid::SUCCESS_32) {
        let handle = handle_of(&r);
        m.smc(
            "mem-reclaim",
            format_args!("legacy.mem-reclaim.after-share"),
            call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
            Audit::Forwarded,
            |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
        );
    }
    legacy_lend(m, version, page);
    // The v1.2 layout is not this version's: refused at EL2, never forwarded.
    let length = Share::of(sp, page).write();
    m.smc(
        "mem-share-64",
        format_args!("legacy.mem-share-64.v1-2-layout-refused"),
        share_call(fid::MEM_SHARE_64, length),
        Audit::Refused,
        |r| error(r, status::INVALID_PARAMETERS),
    );
    TX.clear();
    m.smc(
        "rxtx-unmap",
        format_args!("legacy.rxtx-unmap"),
        call(fid::RXTX_UNMAP, &[]),
        Audit::Emulated,
        |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
    );
}

/// FFA_MEM_LEND_64 of `page` in the layout of `version`: SUCCESS, the page aborts for the
/// host while lent, RECLAIM, the page readable again with its contents.
fn legacy_lend(m: &mut Matrix, version: u32, page: u64) {
    const PATTERN: u64 = 0x01d_1a7e_5ca1_ab1e;
    let sp = m.ctx.sp;
    SHARED.write64(8, PATTERN);
    let lend = Share {
        attributes: 0,
        ..Share::of(sp, page)
    };
    let length = lend.write_for(version);
    let r = m.smc(
        "mem-lend-64",
        format_args!("legacy.mem-lend-64"),
        share_call(fid::MEM_LEND_32 | fid::SMC64, length),
        Audit::Forwarded,
        |r| {
            success(r, |r| {
                Verdict::Pass(text(format_args!("FFA_SUCCESS handle {:#x}", handle_of(r))))
            })
        },
    );
    if r[0] != u64::from(fid::SUCCESS_32) {
        return;
    }
    let handle = handle_of(&r);
    let addr = page + 8;
    // SAFETY: the handler is armed for a data abort and skips the load.
    let (value, seen) = run_probe(ProbeKind::Data, || unsafe { arch::load(addr) });
    let outcome = match seen {
        None => Outcome::Fail(text(format_args!(
            "load at {addr:#x} completed while lent (read {value:#x})"
        ))),
        Some(seen) => {
            match esr::check_sea(&seen, EC_DABT_CURRENT, addr, arch::probe_load_address()) {
                Ok(()) => Outcome::Pass(text(format_args!(
                    "load at {addr:#x} took an SEA while lent"
                ))),
                Err(e) => Outcome::Fail(text(format_args!("load at {addr:#x}: {e}"))),
            }
        }
    };
    m.record(
        "mem-lend-64",
        &text(format_args!("legacy.mem-lend-64.host-access-aborts")),
        &outcome,
    );
    m.smc(
        "mem-reclaim",
        format_args!("legacy.mem-reclaim.after-lend"),
        call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
        Audit::Forwarded,
        |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
    );
    // SAFETY: armed; the page should be mapped again, so nothing faults.
    let (value, seen) = run_probe(ProbeKind::Data, || unsafe { arch::load(addr) });
    let outcome = match seen {
        Some(seen) => Outcome::Fail(text(format_args!(
            "load at {addr:#x} after RECLAIM faulted ({:#x})",
            seen.esr
        ))),
        None if value != PATTERN => Outcome::Fail(text(format_args!(
            "after RECLAIM {addr:#x} holds {value:#x}, want {PATTERN:#x}"
        ))),
        None => Outcome::Pass(text(format_args!(
            "{addr:#x} readable again, contents intact"
        ))),
    };
    m.record(
        "mem-lend-64",
        &text(format_args!("legacy.mem-lend-64.after-reclaim")),
        &outcome,
    );
    SHARED.clear();
}

fn summary(m: &Matrix) {
    let mut total = [0u32; 3];
    for (key, counts) in m.tally.keys.iter().zip(&m.tally.counts) {
        let Some(key) = key else { continue };
        let [p, f, s] = *counts;
        println!(
            "FFA-ABI: {key} {} cases, {p} passed, {f} failed, {s} skipped",
            p + f + s
        );
        total[0] += p;
        total[1] += f;
        total[2] += s;
    }
    println!(
        "FFA-CONFORMANCE: {} passed, {} failed, {} skipped",
        total[0], total[1], total[2]
    );
}

/// FFA_VERSION and the first calls. Returns whether v1.2 was negotiated.
fn negotiate(m: &mut Matrix) -> bool {
    // D-BEFORE-VERSION (as Xen): a call before any FFA_VERSION gets NOT_SUPPORTED.
    m.smc(
        "id-get",
        format_args!("good.id-get.before-version"),
        call(fid::ID_GET, &[]),
        Audit::Refused,
        |r| error(r, status::NOT_SUPPORTED),
    );
    let r = m.smc(
        "version",
        format_args!("good.version.1-2"),
        call(fid::VERSION, &[VERSION_1_2.into()]),
        Audit::Emulated,
        |r| w0(r, VERSION_1_2),
    );
    if r[0] as u32 != VERSION_1_2 {
        return false;
    }
    // Not final until another FF-A call: asking again is allowed (D-VERSION-FINAL).
    m.smc(
        "version",
        format_args!("good.version.1-2-again"),
        call(fid::VERSION, &[VERSION_1_2.into()]),
        Audit::Emulated,
        |r| w0(r, VERSION_1_2),
    );
    m.smc(
        "id-get",
        format_args!("good.id-get"),
        call(fid::ID_GET, &[]),
        Audit::Emulated,
        |r| {
            success(r, |r| {
                if r[2] == 0 && r[1] == 0 {
                    Verdict::Pass(text(format_args!("FFA_SUCCESS ID 0")))
                } else {
                    Verdict::Fail(text(format_args!("want ID 0 in w2, w1 = 0")))
                }
            })
        },
    );
    // Negotiation is final now (D-VERSION-FINAL). A higher minor gets the proxy's version
    // (the caller then speaks 1.2); a lower minor and any other major get NOT_SUPPORTED
    // (docs/ffa-policy.md "Version negotiation").
    m.smc(
        "version",
        format_args!("good.version.1-3-after-final"),
        call(fid::VERSION, &[0x1_0003]),
        Audit::Emulated,
        |r| w0(r, VERSION_1_2),
    );
    m.smc(
        "version",
        format_args!("good.version.1-2-after-final"),
        call(fid::VERSION, &[VERSION_1_2.into()]),
        Audit::Emulated,
        |r| w0(r, VERSION_1_2),
    );
    for (label, version) in [("1-1", 0x1_0001u64), ("1-0", 0x1_0000)] {
        m.smc(
            "version",
            format_args!("good.version.{label}-after-final"),
            call(fid::VERSION, &[version]),
            Audit::NotForwarded,
            |r| w0(r, SMCCC_NOT_SUPPORTED),
        );
    }
    for (label, version) in [
        ("2-0", 0x2_0000u64),
        ("0-1", 0x0_0001),
        ("7fff-0", 0x7FFF_0000),
    ] {
        m.smc(
            "version",
            format_args!("good.version.{label}"),
            call(fid::VERSION, &[version]),
            Audit::NotForwarded,
            |r| w0(r, SMCCC_NOT_SUPPORTED),
        );
    }
    m.smc(
        "spm-id-get",
        format_args!("good.spm-id-get"),
        call(fid::SPM_ID_GET, &[]),
        Audit::Forwarded,
        |r| {
            success(r, |r| {
                if r[2] == OPTEE_SPMC_ID {
                    Verdict::Pass(text(format_args!("FFA_SUCCESS SPMC ID {:#x}", r[2])))
                } else {
                    Verdict::Fail(text(format_args!("want SPMC ID {OPTEE_SPMC_ID:#x} in w2")))
                }
            })
        },
    );
    true
}

fn features(m: &mut Matrix) {
    for &(key, queried, answer) in FEATURE_QUERIES {
        let answer = if el3() {
            el3_feature_answer(key, answer)
        } else {
            answer
        };
        let regs = call(fid::FEATURES, &[queried.into()]);
        let audit = match answer {
            FeatureAnswer::Emulated => Audit::Emulated,
            FeatureAnswer::ForwardedSuccess | FeatureAnswer::ForwardedNotSupported => {
                Audit::Forwarded
            }
            FeatureAnswer::Blocked => Audit::NotForwarded,
        };
        let rxtx_map = queried == fid::RXTX_MAP_32 || queried == fid::RXTX_MAP_64;
        m.smc(
            "features",
            format_args!("features.{key}"),
            regs,
            audit,
            |r| match answer {
                FeatureAnswer::Emulated | FeatureAnswer::ForwardedSuccess => success(r, |r| {
                    // RXTX_MAP: w2[1:0] is the minimum buffer size; 0 = 4 KiB, the payload's.
                    if rxtx_map && r[2] & 3 != 0 {
                        return Verdict::Fail(text(format_args!(
                            "want w2[1:0] = 0 (4 KiB buffers)"
                        )));
                    }
                    Verdict::Pass(text(format_args!(
                        "FFA_SUCCESS w2={:#x} w3={:#x}",
                        r[2], r[3]
                    )))
                }),
                FeatureAnswer::ForwardedNotSupported | FeatureAnswer::Blocked => {
                    error(r, status::NOT_SUPPORTED)
                }
            },
        );
    }
}

/// An address range that cannot be a host buffer, for the RXTX_MAP and MEM_SHARE cases.
fn carveout_page(m: &Matrix) -> u64 {
    m.carveout.map_or(0x6000_0000, |(base, _)| base)
}

fn mailbox(m: &mut Matrix) {
    let (tx, rx) = (m.ctx.tx, m.ctx.rx);
    // Nothing mapped yet.
    m.smc(
        "rx-release",
        format_args!("good.rx-release.nothing-mapped"),
        call(fid::RX_RELEASE, &[]),
        Audit::Refused,
        |r| error(r, status::DENIED),
    );
    m.smc(
        "rxtx-unmap",
        format_args!("good.rxtx-unmap.nothing-mapped"),
        call(fid::RXTX_UNMAP, &[]),
        Audit::Refused,
        |r| error(r, status::INVALID_PARAMETERS),
    );
    // D-NO-RX: BUSY (pKVM) or DENIED (Xen) without an RX buffer.
    m.smc(
        "partition-info-get",
        format_args!("good.partition-info-get.nothing-mapped"),
        call(fid::PARTITION_INFO_GET, &[]),
        Audit::Refused,
        |r| error_of(r, &[status::DENIED, status::BUSY]),
    );

    // Buffers the host may not give: refused at EL2, never registered anywhere. DEN0077
    // RXTX_MAP: INVALID_PARAMETERS for a bad address or count; DENIED for memory the caller
    // may not use this way. Either, but nothing forwarded.
    let carve = carveout_page(m);
    let bad_maps: [(&str, u64, u64, u64); 10] = [
        ("tx-in-carveout", carve, rx, 1),
        ("rx-in-carveout", tx, carve, 1),
        ("tx-above-ram", m.ram_end, rx, 1),
        ("rx-mmio-uart", tx, 0x0900_0000, 1),
        ("tx-zero", 0, rx, 1),
        ("tx-unaligned", tx + 0x800, rx, 1),
        ("rx-unaligned", tx, rx + 8, 1),
        ("tx-equals-rx", tx, tx, 1),
        ("count-0", tx, rx, 0),
        ("count-63", tx, rx, 63),
    ];
    for (label, t, r, pages) in bad_maps {
        m.smc(
            "rxtx-map-64",
            format_args!("good.rxtx-map-64.refused.{label}"),
            call(fid::RXTX_MAP_64, &[t, r, pages]),
            Audit::Refused,
            |r| error_of(r, &[status::INVALID_PARAMETERS, status::DENIED]),
        );
    }

    m.smc(
        "rxtx-map-64",
        format_args!("good.rxtx-map-64"),
        call(fid::RXTX_MAP_64, &[tx, rx, 1]),
        Audit::Handled,
        |r| {
            success(r, |_| {
                Verdict::Pass(text(format_args!("FFA_SUCCESS TX {tx:#x} RX {rx:#x}")))
            })
        },
    );
    m.smc(
        "rxtx-map-64",
        format_args!("good.rxtx-map-64.again"),
        call(fid::RXTX_MAP_64, &[tx, rx, 1]),
        Audit::Refused,
        |r| error(r, status::DENIED),
    );
    m.smc(
        "rxtx-map-32",
        format_args!("good.rxtx-map-32.again"),
        call(fid::RXTX_MAP_32, &[tx, rx, 1]),
        Audit::Refused,
        |r| error(r, status::DENIED),
    );

    m.smc(
        "partition-info-get",
        format_args!("good.partition-info-get.count-only"),
        call(fid::PARTITION_INFO_GET, &[0, 0, 0, 0, 1]),
        Audit::Handled,
        |r| {
            success(r, |r| {
                if r[2] == 1 {
                    Verdict::Pass(text(format_args!("FFA_SUCCESS count {}", r[2])))
                } else {
                    Verdict::Fail(text(format_args!("want 1 partition (OP-TEE) in w2")))
                }
            })
        },
    );
    RX.clear();
    let r = m.smc(
        "partition-info-get",
        format_args!("good.partition-info-get.all"),
        call(fid::PARTITION_INFO_GET, &[]),
        Audit::Handled,
        |r| {
            success(r, |r| {
                let id = RX.read32(0) as u16;
                if r[2] != 1 || r[3] != PARTITION_INFO_SIZE {
                    Verdict::Fail(text(format_args!(
                        "want count 1 and descriptor size {PARTITION_INFO_SIZE} in w2/w3"
                    )))
                } else if id & 0x8000 == 0 {
                    Verdict::Fail(text(format_args!(
                        "RX descriptor 0: endpoint {id:#x} is not a Secure ID"
                    )))
                } else {
                    Verdict::Pass(text(format_args!(
                        "FFA_SUCCESS count 1 size 24; RX: endpoint {id:#x}, {} execution contexts, properties {:#x}, UUID {:08x}-{:08x}-{:08x}-{:08x}",
                        RX.read32(0) >> 16,
                        RX.read32(4),
                        RX.read32(8),
                        RX.read32(12),
                        RX.read32(16),
                        RX.read32(20)
                    )))
                }
            })
        },
    );
    let found = r[0] == u64::from(fid::SUCCESS_32) && r[2] >= 1 && RX.read32(0) & 0x8000 != 0;
    let uuid = [8, 12, 16, 20].map(|o| u64::from(RX.read32(o)));
    if found {
        m.ctx.sp = RX.read32(0) as u16;
    }
    println!(
        "PAYLOAD: ffa OP-TEE endpoint {:#x} ({})",
        m.ctx.sp,
        if found {
            "from FFA_PARTITION_INFO_GET"
        } else {
            "fallback"
        }
    );
    // The RX is the host's until it releases it (D-RX-OWNERSHIP).
    m.smc(
        "partition-info-get",
        format_args!("good.partition-info-get.rx-still-full"),
        call(fid::PARTITION_INFO_GET, &[]),
        Audit::Refused,
        |r| error(r, status::BUSY),
    );
    m.smc(
        "rx-release",
        format_args!("good.rx-release"),
        call(fid::RX_RELEASE, &[]),
        Audit::Emulated,
        |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
    );
    m.smc(
        "rx-release",
        format_args!("good.rx-release.again"),
        call(fid::RX_RELEASE, &[]),
        Audit::Refused,
        |r| error(r, status::DENIED),
    );
    if found {
        m.smc(
            "partition-info-get",
            format_args!("good.partition-info-get.optee-uuid-count"),
            call(
                fid::PARTITION_INFO_GET,
                &[uuid[0], uuid[1], uuid[2], uuid[3], 1],
            ),
            Audit::Handled,
            |r| {
                success(r, |r| {
                    if r[2] == 1 {
                        Verdict::Pass(text(format_args!("FFA_SUCCESS count 1")))
                    } else {
                        Verdict::Fail(text(format_args!("want count 1 for OP-TEE's UUID")))
                    }
                })
            },
        );
        RX.clear();
        let sp = m.ctx.sp;
        m.smc(
            "partition-info-get",
            format_args!("good.partition-info-get.optee-uuid"),
            call(
                fid::PARTITION_INFO_GET,
                &[uuid[0], uuid[1], uuid[2], uuid[3]],
            ),
            Audit::Handled,
            |r| {
                success(r, |r| {
                    let id = RX.read32(0) as u16;
                    if r[2] == 1 && id == sp {
                        Verdict::Pass(text(format_args!(
                            "FFA_SUCCESS count 1, RX endpoint {id:#x}"
                        )))
                    } else {
                        Verdict::Fail(text(format_args!(
                            "want count 1 and endpoint {sp:#x} in the RX (RX has {id:#x})"
                        )))
                    }
                })
            },
        );
        m.smc(
            "rx-release",
            format_args!("good.rx-release.second"),
            call(fid::RX_RELEASE, &[]),
            Audit::Emulated,
            |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
        );
    }
    // OP-TEE 4.10 counts the partitions that match: none, SUCCESS with count 0 (DEN0077
    // would have INVALID_PARAMETERS for an unknown UUID; the proxy passes OP-TEE's answer on).
    m.smc(
        "partition-info-get",
        format_args!("good.partition-info-get.unknown-uuid-count"),
        call(
            fid::PARTITION_INFO_GET,
            &[
                UNKNOWN_UUID[0],
                UNKNOWN_UUID[1],
                UNKNOWN_UUID[2],
                UNKNOWN_UUID[3],
                1,
            ],
        ),
        Audit::Handled,
        |r| {
            // TF-A's EL3 SPMC answers as DEN0077 does.
            if el3() {
                return error(r, status::INVALID_PARAMETERS);
            }
            success(r, |r| {
                if r[2] == 0 {
                    Verdict::Pass(text(format_args!("FFA_SUCCESS count 0 (OP-TEE 4.10)")))
                } else {
                    Verdict::Fail(text(format_args!("want count 0")))
                }
            })
        },
    );
}

/// A memory transaction descriptor for FFA_MEM_SHARE, as the host would build it.
#[derive(Clone, Copy)]
struct Share {
    /// Sender endpoint ID (must be the host's, 0).
    sender: u16,
    /// The one receiver.
    receiver: u16,
    /// Memory region attributes (v1.1 encoding, bit 6 = NS).
    attributes: u32,
    /// Handle (MBZ: the SPMC allocates it).
    handle: u64,
    /// (address, page count) of the constituents: the first `count` entries.
    ranges: [(u64, u32); 2],
    /// How many constituents.
    count: usize,
}

impl Share {
    /// One page at `address` shared read-write with `receiver` by the host.
    fn of(receiver: u16, address: u64) -> Self {
        Share {
            sender: 0,
            receiver,
            attributes: MEM_NORMAL_WB_INNER,
            handle: 0,
            ranges: [(address, 1), (0, 0)],
            count: 1,
        }
    }

    /// Writes the descriptor into the TX buffer in the layout of FF-A `version` and returns
    /// its length: v1.2 as [`Share::write`]; v1.1 the same with a 16-byte endpoint memory
    /// access descriptor (composite at 64, constituents from 80); v1.0 a 32-byte header
    /// (attributes one byte at 2, a reserved word at 24, the receiver count at 28), the
    /// 16-byte receiver at 32, the composite at 48, constituents from 64.
    fn write_for(&self, version: u32) -> u64 {
        if version == VERSION_1_2 {
            return self.write();
        }
        let v1_0 = version == VERSION_1_0;
        let (receiver, composite) = if v1_0 { (32, 48) } else { (48, 64) };
        TX.clear();
        let attributes = if v1_0 {
            self.attributes & 0xFF
        } else {
            self.attributes
        };
        TX.write32(0, u32::from(self.sender) | (attributes << 16));
        TX.write64(8, self.handle);
        if v1_0 {
            TX.write32(28, 1); // receiver count
        } else {
            TX.write32(24, 16); // endpoint memory access descriptor size
            TX.write32(28, 1); // endpoint count
            TX.write32(32, 48); // offset of the first endpoint memory access descriptor
        }
        TX.write32(receiver, u32::from(self.receiver) | (MEM_RW << 16));
        TX.write32(receiver + 4, composite as u32);
        let ranges = &self.ranges[..self.count];
        let pages: u32 = ranges.iter().map(|r| r.1).sum();
        TX.write32(composite, pages);
        TX.write32(composite + 4, ranges.len() as u32);
        for (i, &(address, count)) in ranges.iter().enumerate() {
            TX.write64(composite + 16 + 16 * i, address);
            TX.write32(composite + 24 + 16 * i, count);
        }
        (composite + 16 + 16 * ranges.len()) as u64
    }

    /// Writes the descriptor into the TX buffer in the v1.2 layout (DEN0077 v1.2 §10.11:
    /// 48-byte header, one 32-byte endpoint memory access descriptor at 48, the composite
    /// descriptor at 80, 16-byte constituents from 96) and returns its length.
    fn write(&self) -> u64 {
        TX.clear();
        TX.write32(0, u32::from(self.sender) | (self.attributes << 16));
        // flags (4): zero.
        TX.write64(8, self.handle);
        // tag (16): zero.
        TX.write32(24, 32); // endpoint memory access descriptor size
        TX.write32(28, 1); // endpoint count
        TX.write32(32, 48); // offset of the first endpoint memory access descriptor
        TX.write32(48, u32::from(self.receiver) | (MEM_RW << 16)); // receiver, permissions
        TX.write32(52, 80); // composite descriptor offset
        let ranges = &self.ranges[..self.count];
        let pages: u32 = ranges.iter().map(|r| r.1).sum();
        TX.write32(80, pages); // total page count
        TX.write32(84, ranges.len() as u32); // address range count
        for (i, &(address, count)) in ranges.iter().enumerate() {
            TX.write64(96 + 16 * i, address);
            TX.write32(104 + 16 * i, count);
        }
        96 + 16 * ranges.len() as u64
    }
}

/// FFA_MEM_SHARE of the descriptor in the TX buffer (`length` bytes, one fragment).
fn share_call(function: u32, length: u64) -> Regs {
    call(function, &[length, length, 0, 0])
}

fn handle_of(r: &Regs) -> u64 {
    (r[2] & 0xFFFF_FFFF) | (r[3] << 32)
}

fn memory(m: &mut Matrix) {
    let sp = m.ctx.sp;
    let page = SHARED.addr();
    for (share, key) in [
        (fid::MEM_SHARE_64, "mem-share-64"),
        (fid::MEM_SHARE_32, "mem-share-32"),
    ] {
        let length = Share::of(sp, page).write();
        let r = m.smc(
            key,
            format_args!("good.{key}"),
            share_call(share, length),
            Audit::Handled,
            |r| {
                success(r, |r| {
                    Verdict::Pass(text(format_args!(
                        "FFA_SUCCESS handle {:#x} (page {page:#x} with {sp:#x})",
                        handle_of(r)
                    )))
                })
            },
        );
        let shared = r[0] == u64::from(fid::SUCCESS_32);
        let handle = handle_of(&r);
        // The same page again while OP-TEE has it: DENIED (the page is not the host's alone).
        let length = Share::of(sp, page).write();
        m.smc(
            key,
            format_args!("good.{key}.same-page-again"),
            share_call(share, length),
            Audit::Refused,
            |r| error_of(r, &[status::DENIED, status::INVALID_PARAMETERS]),
        );
        if shared {
            m.smc(
                "mem-reclaim",
                format_args!("good.mem-reclaim.after-{key}"),
                call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
                Audit::Handled,
                |r| {
                    success(r, |_| {
                        Verdict::Pass(text(format_args!("FFA_SUCCESS handle {handle:#x}")))
                    })
                },
            );
            // The handle is gone: INVALID_PARAMETERS (DEN0077 MEM_RECLAIM), from EL2.
            m.smc(
                "mem-reclaim",
                format_args!("good.mem-reclaim.again-after-{key}"),
                call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
                Audit::Refused,
                |r| error(r, status::INVALID_PARAMETERS),
            );
        }
    }
    tx_rewrite_race(m, page);
    lend_and_reclaim(m, page);
    lend_across_2mib(m);
    fragmented_share(m);
    refused_descriptors_and_unmap(m);
}

/// The descriptors the proxy refuses at EL2 whatever the SPMC, then the mailbox unmapped (twice),
/// mapped with the SMC32 call and unmapped again: the end of both memory phases.
fn refused_descriptors_and_unmap(m: &mut Matrix) {
    let sp = m.ctx.sp;
    let page = SHARED.addr();
    // Descriptors the host may not send: refused at EL2 (the descriptor names memory the
    // host does not own exclusively, another sender, no Secure receiver, a handle the host
    // may not choose, Secure memory attributes, or a page twice).
    let carve = carveout_page(m);
    let rx = m.ctx.rx;
    let ram_end = m.ram_end;
    let one = Share::of;
    let either = &[status::INVALID_PARAMETERS, status::DENIED][..];
    let invalid = &[status::INVALID_PARAMETERS][..];
    let bad: [(&str, Share, &[i32]); 8] = [
        ("carveout-page", one(sp, carve), either),
        ("rx-buffer-page", one(sp, rx), either),
        ("above-ram", one(sp, ram_end), either),
        (
            "page-twice",
            Share {
                ranges: [(page, 1), (page, 1)],
                count: 2,
                ..one(sp, page)
            },
            either,
        ),
        (
            "sender-not-host",
            Share {
                sender: 1,
                ..one(sp, page)
            },
            invalid,
        ),
        ("receiver-host", one(0, page), invalid),
        (
            "handle-nonzero",
            Share {
                handle: 0x1234,
                ..one(sp, page)
            },
            invalid,
        ),
        // Xen edf036fa: the NS bit (6) is the SPMC's to set, never the sender's.
        (
            "ns-attribute",
            Share {
                attributes: MEM_NORMAL_WB_INNER | 1 << 6,
                ..one(sp, page)
            },
            invalid,
        ),
    ];
    for (label, share, codes) in bad {
        let length = share.write();
        m.smc(
            "mem-share-64",
            format_args!("good.mem-share-64.refused.{label}"),
            share_call(fid::MEM_SHARE_64, length),
            Audit::Refused,
            |r| error_of(r, codes),
        );
    }
    TX.clear();
    // RX/TX unmap, twice; then the SMC32 map and unmap.
    m.smc(
        "rxtx-unmap",
        format_args!("good.rxtx-unmap"),
        call(fid::RXTX_UNMAP, &[]),
        Audit::Emulated,
        |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
    );
    m.smc(
        "rxtx-unmap",
        format_args!("good.rxtx-unmap.again"),
        call(fid::RXTX_UNMAP, &[]),
        Audit::Refused,
        |r| error(r, status::INVALID_PARAMETERS),
    );
    let (tx, rx) = (m.ctx.tx, m.ctx.rx);
    m.smc(
        "rxtx-map-32",
        format_args!("good.rxtx-map-32"),
        call(fid::RXTX_MAP_32, &[tx, rx, 1]),
        Audit::Handled,
        |r| {
            success(r, |_| {
                Verdict::Pass(text(format_args!("FFA_SUCCESS TX {tx:#x} RX {rx:#x}")))
            })
        },
    );
    m.smc(
        "rxtx-unmap",
        format_args!("good.rxtx-unmap.after-map-32"),
        call(fid::RXTX_UNMAP, &[]),
        Audit::Emulated,
        |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
    );
}

fn direct(m: &mut Matrix) {
    let sp = m.ctx.sp;
    let api = |r: &Regs| {
        if (r[3], r[4]) == OPTEE_FFA_ABI {
            Verdict::Pass(text(format_args!(
                "DIRECT_RESP {:#x}: OP-TEE FF-A ABI {}.{}",
                r[0], r[3], r[4]
            )))
        } else {
            Verdict::Fail(text(format_args!(
                "want OP-TEE's ABI version {}.{} in w3/w4",
                OPTEE_FFA_ABI.0, OPTEE_FFA_ABI.1
            )))
        }
    };
    for (req, resp, key) in [
        (
            fid::MSG_SEND_DIRECT_REQ_64,
            fid::MSG_SEND_DIRECT_RESP_64,
            "direct-req-64",
        ),
        (
            fid::MSG_SEND_DIRECT_REQ_32,
            fid::MSG_SEND_DIRECT_RESP_32,
            "direct-req-32",
        ),
    ] {
        m.smc(
            key,
            format_args!("good.{key}.api-version"),
            call(req, &[sp.into(), 0, OPTEE_FFA_GET_API_VERSION]),
            Audit::Forwarded,
            |r| direct_resp(r, resp, sp, api),
        );
        m.smc(
            key,
            format_args!("good.{key}.os-version"),
            call(req, &[sp.into(), 0, OPTEE_FFA_GET_OS_VERSION]),
            Audit::Forwarded,
            |r| {
                direct_resp(r, resp, sp, |r| {
                    if (r[3], r[4]) == OPTEE_RELEASE {
                        Verdict::Pass(text(format_args!(
                            "OP-TEE {}.{} (build ID {:#x})",
                            r[3], r[4], r[5]
                        )))
                    } else {
                        Verdict::Fail(text(format_args!(
                            "want OP-TEE {}.{} in w3/w4",
                            OPTEE_RELEASE.0, OPTEE_RELEASE.1
                        )))
                    }
                })
            },
        );
        m.smc(
            key,
            format_args!("good.{key}.capabilities"),
            call(req, &[sp.into(), 0, OPTEE_FFA_EXCHANGE_CAPABILITIES]),
            Audit::Forwarded,
            |r| {
                direct_resp(r, resp, sp, |r| {
                    if r[3] == 0 {
                        Verdict::Pass(text(format_args!(
                            "OK, {} RPC parameters, capabilities {:#x}",
                            r[4] & 0xFF,
                            r[5]
                        )))
                    } else {
                        Verdict::Fail(text(format_args!("want w3 = 0 (OK)")))
                    }
                })
            },
        );
        // No partition with this ID: OP-TEE answers INVALID_PARAMETERS, but it was a valid
        // call, so the proxy forwards it.
        m.smc(
            key,
            format_args!("good.{key}.unknown-partition"),
            call(req, &[UNKNOWN_SP.into(), 0, OPTEE_FFA_GET_API_VERSION]),
            Audit::Forwarded,
            |r| error(r, status::INVALID_PARAMETERS),
        );
        // The host sending to itself or to a VM that does not exist (it is the only normal-
        // world endpoint): INVALID_PARAMETERS from EL2, nothing forwarded (D-SECURE-PEER).
        for (label, receiver) in [("receiver-host", 0u64), ("receiver-vm-1", 1)] {
            m.smc(
                key,
                format_args!("good.{key}.{label}"),
                call(req, &[receiver, 0, OPTEE_FFA_GET_API_VERSION]),
                Audit::Rejected,
                |r| error(r, status::INVALID_PARAMETERS),
            );
        }
    }
    // The SMCCC v1.3 SVE hint is ignored for the lookup and the call forwarded.
    m.smc(
        "direct-req-64",
        format_args!("good.direct-req-64.sve-hint"),
        call(
            fid::MSG_SEND_DIRECT_REQ_64 | SVE_HINT,
            &[sp.into(), 0, OPTEE_FFA_GET_API_VERSION],
        ),
        Audit::Forwarded,
        |r| direct_resp(r, fid::MSG_SEND_DIRECT_RESP_64, sp, api),
    );
    // OP-TEE 4.10 does not implement DIRECT_REQ2: forwarded, NOT_SUPPORTED.
    // x4-x17 carry a payload; the FFA_ERROR reply defines none of them, so none of it (nor
    // anything of the Secure world's) may come back.
    let mut req2 = call(fid::MSG_SEND_DIRECT_REQ2, &[sp.into(), 0x1234, 0x5678]);
    for (n, x) in req2.iter_mut().enumerate().skip(4) {
        *x = 0x5a5a_0000_0000_0000 | n as u64;
    }
    m.smc(
        "direct-req2",
        format_args!("good.direct-req2"),
        req2,
        Audit::Forwarded,
        |r| match error(r, status::NOT_SUPPORTED) {
            Verdict::Pass(seen) if r[8..].iter().all(|&x| x == 0) => {
                Verdict::Pass(text(format_args!("{seen}, x4-x17 cleared")))
            }
            Verdict::Pass(_) => Verdict::Fail(text(format_args!(
                "want x8-x17 zero in the FFA_ERROR reply to an SMC64 call (filtered reply)"
            ))),
            fail => fail,
        },
    );
    // The host never responds: FFA_MSG_SEND_DIRECT_RESP is blocked.
    for (key, resp, flags) in [
        ("direct-resp-32", fid::MSG_SEND_DIRECT_RESP_32, 0u64),
        ("direct-resp-64", fid::MSG_SEND_DIRECT_RESP_64, 0),
        ("direct-resp-32", fid::MSG_SEND_DIRECT_RESP_32, 0x8000_0009),
        ("direct-resp-64", fid::MSG_SEND_DIRECT_RESP_64, 0x8000_0009),
        ("direct-resp2", fid::MSG_SEND_DIRECT_RESP2, 0),
    ] {
        let kind = if flags == 0 { "" } else { ".framework" };
        m.smc(
            key,
            format_args!("good.{key}.from-host{kind}"),
            call(resp, &[sp.into(), flags]),
            Audit::Refused,
            |r| error(r, status::NOT_SUPPORTED),
        );
    }
    // FFA_RUN of OP-TEE's partition, vCPU 0, which the SPMC never reported preempted,
    // blocked or with notifications pending: DENIED at EL2, nothing forwarded (D-RUN-STATE).
    // Forwarded, OP-TEE at S-EL2 answered INVALID_PARAMETERS, but TF-A's EL3 SPMC resumes
    // OP-TEE's waiting context, which OP-TEE 4.10 cannot handle: it panics and the SMC never
    // returns (docs/spmc.md). Both SPMCs make the call; a direct request after it proves the
    // Secure world is still there.
    m.smc(
        "run",
        format_args!("good.run.optee"),
        call(fid::RUN, &[u64::from(sp) << 16]),
        Audit::Refused,
        |r| error(r, status::DENIED),
    );
    m.smc(
        "direct-req-64",
        format_args!("good.run.optee.then-direct-req-64"),
        call(
            fid::MSG_SEND_DIRECT_REQ_64,
            &[sp.into(), 0, OPTEE_FFA_GET_API_VERSION],
        ),
        Audit::Forwarded,
        |r| direct_resp(r, fid::MSG_SEND_DIRECT_RESP_64, sp, api),
    );
}

fn notifications(m: &mut Matrix) {
    let sp = u64::from(m.ctx.sp);
    let ok = |r: &Regs| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS"))));
    let create = call(fid::NOTIFICATION_BITMAP_CREATE, &[0, 4]);
    let destroy = call(fid::NOTIFICATION_BITMAP_DESTROY, &[]);
    let bind = |flags: u64, bitmap: u64| {
        call(
            fid::NOTIFICATION_BIND,
            &[sp << 16, flags, bitmap & 0xFFFF_FFFF, bitmap >> 32],
        )
    };
    let unbind = call(
        fid::NOTIFICATION_UNBIND,
        &[sp << 16, 0, NOTIFICATION_BIT, 0],
    );

    m.smc(
        "notif-bitmap-create",
        format_args!("good.notif-bitmap-create"),
        create,
        Audit::Forwarded,
        ok,
    );
    // A second create is DENIED at EL2: the proxy knows the bitmap exists (D-NOTIF-BITMAP).
    m.smc(
        "notif-bitmap-create",
        format_args!("good.notif-bitmap-create.again"),
        create,
        Audit::Emulated,
        |r| error(r, status::DENIED),
    );
    m.smc(
        "notif-bind",
        format_args!("good.notif-bind"),
        bind(0, NOTIFICATION_BIT),
        Audit::Forwarded,
        ok,
    );
    m.smc(
        "notif-bind",
        format_args!("good.notif-bind.high-word"),
        bind(0, 1 << 40),
        Audit::Forwarded,
        ok,
    );
    // OP-TEE: a bound bit cannot be bound again; per-vCPU binds are DENIED (D-NOTIF-VCPU: the
    // flag is the spec's, so the proxy forwards it and the SPMC decides).
    m.smc(
        "notif-bind",
        format_args!("good.notif-bind.again"),
        bind(0, NOTIFICATION_BIT),
        Audit::Forwarded,
        |r| error(r, status::DENIED),
    );
    m.smc(
        "notif-bind",
        format_args!("good.notif-bind.per-vcpu"),
        bind(1, 1 << 9),
        Audit::Forwarded,
        |r| error(r, status::DENIED),
    );
    // The sender of a host-bound notification can only be a Secure partition: the host is
    // the only normal-world endpoint. OP-TEE does not check this, so the proxy must:
    // INVALID_PARAMETERS from EL2 (Hafnium's SPMC rule; D-SECURE-PEER).
    // One bit each, so that a wrongly forwarded bind cannot turn the next case into DENIED.
    let sender_bits = [("host", 0u64, 11), ("vm-1", 1, 12), ("vm-7fff", 0x7FFF, 13)];
    for (label, sender, bit) in sender_bits {
        m.smc(
            "notif-bind",
            format_args!("good.notif-bind.sender-{label}"),
            call(fid::NOTIFICATION_BIND, &[sender << 16, 0, 1 << bit, 0]),
            Audit::Rejected,
            |r| error(r, status::INVALID_PARAMETERS),
        );
    }
    // Whatever those did, the bits are unbound again (OP-TEE clears bound bits whoever the
    // sender), so the teardown below sees only the good binds.
    m.smc(
        "notif-unbind",
        format_args!("good.notif-unbind.sender-case-bits"),
        call(
            fid::NOTIFICATION_UNBIND,
            &[sp << 16, 0, sender_bits.iter().map(|b| 1 << b.2).sum(), 0],
        ),
        Audit::Forwarded,
        ok,
    );
    m.smc(
        "notif-bitmap-destroy",
        format_args!("good.notif-bitmap-destroy.while-bound"),
        destroy,
        Audit::Forwarded,
        |r| error(r, status::DENIED),
    );
    let empty = |r: &Regs| {
        success(r, |r| {
            if r[2..8].iter().all(|&x| x == 0) {
                Verdict::Pass(text(format_args!("FFA_SUCCESS, no notification pending")))
            } else {
                Verdict::Fail(text(format_args!("want empty bitmaps in w2-w7")))
            }
        })
    };
    for (label, w1, flags) in [
        ("sp-and-spm", 0u64, 0x5u64),
        ("sp", 0, 0x1),
        ("spm", 0, 0x4),
        ("vcpu-1", 1 << 16, 0x5),
    ] {
        m.smc(
            "notif-get",
            format_args!("good.notif-get.{label}"),
            call(fid::NOTIFICATION_GET, &[w1, flags]),
            Audit::Forwarded,
            empty,
        );
    }
    for (key, function) in [
        ("notif-info-get-64", fid::NOTIFICATION_INFO_GET_64),
        ("notif-info-get-32", fid::NOTIFICATION_INFO_GET_32),
    ] {
        m.smc(
            key,
            format_args!("good.{key}"),
            call(function, &[]),
            Audit::Forwarded,
            |r| error(r, status::NO_DATA),
        );
    }
    // OP-TEE 4.10 has no FFA_NOTIFICATION_SET from the normal world: NOT_SUPPORTED, but the
    // call is valid and must have been forwarded.
    for (label, flags) in [("global", 0u64), ("per-vcpu", 1 | 1 << 16)] {
        m.smc(
            "notif-set",
            format_args!("good.notif-set.{label}"),
            call(fid::NOTIFICATION_SET, &[sp, flags, NOTIFICATION_BIT, 0]),
            Audit::Forwarded,
            |r| error(r, status::NOT_SUPPORTED),
        );
    }
    // Signalling itself or a VM that does not exist: INVALID_PARAMETERS (HF: sender ==
    // receiver; the receiver must be a partition). The proxy says so itself, without asking
    // the SPMC: the receiver must be a Secure endpoint (D-SECURE-PEER).
    for (label, receiver) in [("host", 0u64), ("vm-1", 1)] {
        m.smc(
            "notif-set",
            format_args!("good.notif-set.receiver-{label}"),
            call(fid::NOTIFICATION_SET, &[receiver, 0, NOTIFICATION_BIT, 0]),
            Audit::Rejected,
            |r| error(r, status::INVALID_PARAMETERS),
        );
    }
    m.smc(
        "notif-unbind",
        format_args!("good.notif-unbind"),
        unbind,
        Audit::Forwarded,
        ok,
    );
    m.smc(
        "notif-unbind",
        format_args!("good.notif-unbind.high-word"),
        call(fid::NOTIFICATION_UNBIND, &[sp << 16, 0, 0, 1 << 8]),
        Audit::Forwarded,
        ok,
    );
    // OP-TEE 4.10 clears bits whether or not they were bound: SUCCESS.
    m.smc(
        "notif-unbind",
        format_args!("good.notif-unbind.again"),
        unbind,
        Audit::Forwarded,
        ok,
    );
    m.smc(
        "notif-bitmap-destroy",
        format_args!("good.notif-bitmap-destroy"),
        destroy,
        Audit::Forwarded,
        ok,
    );
    // OP-TEE 4.10 would answer SUCCESS to a second destroy; DEN0077 says DENIED, and the
    // proxy, which knows no bitmap exists, answers it at EL2 (D-NOTIF-BITMAP).
    m.smc(
        "notif-bitmap-destroy",
        format_args!("good.notif-bitmap-destroy.again"),
        destroy,
        Audit::Emulated,
        |r| error(r, status::DENIED),
    );
    m.smc(
        "notif-bitmap-create",
        format_args!("good.notif-bitmap-create.after-destroy"),
        create,
        Audit::Forwarded,
        ok,
    );
    m.smc(
        "notif-bitmap-destroy",
        format_args!("good.notif-bitmap-destroy.final"),
        destroy,
        Audit::Forwarded,
        ok,
    );
}

fn hygiene(m: &mut Matrix) {
    let sp = u64::from(m.ctx.sp);
    let id_get = call(fid::ID_GET, &[]);
    let req = call(
        fid::MSG_SEND_DIRECT_REQ_64,
        &[sp, 0, OPTEE_FFA_GET_API_VERSION],
    );
    let bind = call(fid::NOTIFICATION_BIND, &[sp << 16, 0, 1 << 12, 0]);
    // SMCCC reserves non-zero SMC immediates: SMCCC NOT_SUPPORTED, nothing forwarded
    // (D-SMCCC-HYGIENE; the newest pKVM).
    for (conduit, imm) in [
        (Conduit::SmcImm1, "1"),
        (Conduit::SmcImmTop, "8000"),
        (Conduit::SmcImmAll, "ffff"),
    ] {
        for (what, regs) in [
            ("id-get", id_get),
            ("direct-req-64", req),
            ("notif-bind", bind),
        ] {
            m.case(
                "hygiene",
                format_args!("hygiene.smc-imm-{imm}.{what}"),
                conduit,
                regs,
                None,
                Audit::Rejected,
                smccc_not_supported,
            );
        }
    }
    // A function ID is w0: x0[63:32] set is not a valid call.
    for (label, high) in [
        ("bit32", 1u64 << 32),
        ("bit63", 1 << 63),
        ("all", 0xFFFF_FFFF << 32),
    ] {
        for (what, regs) in [("id-get", id_get), ("direct-req-64", req)] {
            let mut r = regs;
            r[0] |= high;
            m.case(
                "hygiene",
                format_args!("hygiene.x0-upper-{label}.{what}"),
                Conduit::Smc,
                r,
                None,
                Audit::Rejected,
                smccc_not_supported,
            );
        }
    }
    // FF-A calls are fast calls; bits [23:17] of a function ID are reserved (SMCCC).
    for (label, x0) in [
        ("yielding.id-get", fid::ID_GET & !0x8000_0000),
        (
            "yielding.direct-req-64",
            fid::MSG_SEND_DIRECT_REQ_64 & !0x8000_0000,
        ),
        ("reserved-bit17.id-get", fid::ID_GET | 1 << 17),
        (
            "reserved-bit23.direct-req-64",
            fid::MSG_SEND_DIRECT_REQ_64 | 1 << 23,
        ),
        (
            "reserved-bits23-17.notif-bind",
            fid::NOTIFICATION_BIND | 0x7F << 17,
        ),
    ] {
        let mut r = if label.ends_with("id-get") {
            id_get
        } else if label.ends_with("bind") {
            bind
        } else {
            req
        };
        r[0] = x0.into();
        m.case(
            "hygiene",
            format_args!("hygiene.{label}"),
            Conduit::Smc,
            r,
            None,
            Audit::Rejected,
            smccc_not_supported,
        );
    }
    // The SMCCC v1.3 SVE hint (bit 16) is not part of the function: ignored.
    m.smc(
        "hygiene",
        format_args!("hygiene.sve-hint.id-get"),
        call(fid::ID_GET | SVE_HINT, &[]),
        Audit::Emulated,
        |r| {
            success(r, |r| {
                if r[2] == 0 {
                    Verdict::Pass(text(format_args!("FFA_SUCCESS ID 0")))
                } else {
                    Verdict::Fail(text(format_args!("want ID 0")))
                }
            })
        },
    );
    // FF-A's conduit is SMC: over HVC it is not FF-A and reaches nothing (hvc.rs).
    for (what, regs) in [
        ("id-get", id_get),
        ("direct-req-64", req),
        ("version", call(fid::VERSION, &[VERSION_1_2.into()])),
    ] {
        m.case(
            "hygiene",
            format_args!("hygiene.hvc.{what}"),
            Conduit::Hvc,
            regs,
            None,
            Audit::Untouched,
            smccc_not_supported,
        );
    }
}

fn not_supported(m: &mut Matrix) {
    for &(key, function, x1) in NOT_SUPPORTED_CALLS {
        m.smc(
            "not-supported",
            format_args!("not-supported.{key}"),
            call(function, &[x1]),
            Audit::Refused,
            |r| error(r, status::NOT_SUPPORTED),
        );
    }
}

fn bad_calls(m: &mut Matrix) {
    // Nothing a wrongly accepted MEM_SHARE could share, no mailbox a wrong RXTX_MAP could
    // leave behind that the other cases would notice.
    TX.clear();
    let ctx = m.ctx;
    spec::for_each_bad_case(|case| {
        let abi = &BAD_ABIS[case.abi];
        let regs = case.regs(&ctx);
        let mut name = Line::new();
        let _ = spec::write_case_name(&mut name, &case);
        let field = case.field;
        m.case(
            abi.key,
            format_args!("{name}"),
            Conduit::Smc,
            regs,
            Some(abi.fid),
            Audit::Rejected,
            |r| {
                let verdict = match abi.answer {
                    BadAnswer::InvalidParameters => error(r, status::INVALID_PARAMETERS),
                    BadAnswer::VersionNotSupported => w0(r, SMCCC_NOT_SUPPORTED),
                };
                match verdict {
                    Verdict::Pass(seen) => Verdict::Pass(text(format_args!(
                        "x{} |= {:#x} ({}): {seen}",
                        field.reg, case.value, field.what
                    ))),
                    Verdict::Fail(e) => Verdict::Fail(text(format_args!(
                        "x{} |= {:#x} ({}; {}): {e}",
                        field.reg, case.value, field.what, abi.source
                    ))),
                }
            },
        );
    });
}

/// D-COPY-ONCE on the real stack: while the boot CPU shares `page` with OP-TEE again and again, CPU 1
/// rewrites the descriptor's constituent address in the TX buffer between `page` and a
/// carve-out page. The hypervisor copies the fragment once and checks only the copy, so each
/// call is answered as one consistent descriptor: SUCCESS (the copy named `page`; reclaimed
/// at once) or a refusal at EL2 (it named the carve-out); never anything else, never a hang.
/// The audit counters must show exactly the successful shares forwarded and exactly the
/// refused ones rejected; afterwards, with the writer stopped, `page` shares and reclaims
/// cleanly, so no ownership was left behind by a raced call.
///
/// Whether the race really happened (some answer decided by CPU 1's value rather than the
/// boot CPU's own last store) depends on the two vCPUs running at the same instant, which a
/// busy host may not grant for a while: the shares go on in batches of `ROUNDS` until one
/// is, at most [`RACE_BATCHES`] batches (`race-batches=N` in the bootargs; the two-thread
/// run's DTB asks for 64) or `BUDGET_MS`. The line says how many batches ran; the two-thread
/// system test requires a race, the one-thread run (where CPU 1 only runs when CPU 0's time
/// slice ends, and the race never shows) reports it.
fn tx_rewrite_race(m: &mut Matrix, page: u64) {
    const ROUNDS: u32 = 256;
    const BUDGET_MS: u64 = 20_000;
    let max_batches = RACE_BATCHES.load(core::sync::atomic::Ordering::Relaxed);
    let key = "mem-share-64";
    let name = text(format_args!("attack.mem-share-64.tx-rewritten-by-cpu1"));
    let sp = m.ctx.sp;
    let carve = carveout_page(m);
    // The low word of constituent 0's address (the high words of both addresses are 0).
    let word = TX.addr() + 96;
    if page >> 32 != 0 || carve >> 32 != 0 {
        let why = text(format_args!(
            "page {page:#x} or carve-out {carve:#x} above 4 GiB"
        ));
        m.record(key, &name, &Outcome::Skip(why));
        return;
    }
    let length = Share::of(sp, page).write();
    let before = m
        .audit
        .then(|| audit(fid::MEM_SHARE_64))
        .and_then(Result::ok);
    if !race::start(word, page as u32, carve as u32) {
        let why = text(format_args!(
            "no parked secondary CPU to race with (cpu-on-all)"
        ));
        m.record(key, &name, &Outcome::Skip(why));
        TX.clear();
        return;
    }
    let (mut shared, mut refused) = (0u64, 0u64);
    let mut wrong: Option<(Regs, Regs)> = None;
    // Rounds whose answer is not what the boot CPU's own last store asked for: the copy the
    // hypervisor checked held CPU 1's value (the race really happened).
    let mut raced = 0u64;
    let budget = crate::time::Deadline::after_ms(BUDGET_MS);
    let mut batches = 0u32;
    let mut sent_total = 0u32;
    'batches: while batches < max_batches {
        batches += 1;
        for round in 0..ROUNDS {
            // The boot CPU itself stores the good and the bad address in turn just before each
            // call, so both answers occur even when CPU 1 is not running at that moment (under
            // one TCG thread, or a busy host).
            let good = round % 2 == 1;
            sent_total += 1;
            TX.write32(96, if good { page } else { carve } as u32);
            let sent = share_call(fid::MEM_SHARE_64, length);
            let r = ffa_call::call(Conduit::Smc, &sent);
            let code = r[2] as u32 as i32;
            let accepted = r[0] == u64::from(fid::SUCCESS_32);
            raced += u64::from(accepted != good);
            if accepted {
                shared += 1;
                let handle = handle_of(&r);
                let reclaim = call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]);
                let rr = ffa_call::call(Conduit::Smc, &reclaim);
                if rr[0] != u64::from(fid::SUCCESS_32) {
                    wrong = Some((reclaim, rr));
                    break 'batches;
                }
            } else if r[0] == u64::from(fid::ERROR)
                && (code == status::INVALID_PARAMETERS || code == status::DENIED)
            {
                refused += 1;
            } else {
                wrong = Some((sent, r));
                break 'batches;
            }
        }
        if raced > 0 || budget.expired() {
            break;
        }
    }
    let flips = race::stop();
    let after = m
        .audit
        .then(|| audit(fid::MEM_SHARE_64))
        .and_then(Result::ok);
    TX.clear();
    let mut outcome = if let Some((sent, got)) = wrong {
        Outcome::Fail(text(format_args!(
            "sent {} got {} (after {shared} shared, {refused} refused)",
            Nonzero(&sent),
            Nonzero(&got)
        )))
    } else if flips.is_none() {
        Outcome::Fail(text(format_args!("CPU 1 did not stop writing within 1 s")))
    } else {
        let seen = text(format_args!(
            "{sent_total} shares in {batches} batches while CPU 1 made {} rewrites: {shared} SUCCESS (reclaimed), {refused} refused, {raced} decided by CPU 1's value",
            flips.unwrap_or(0)
        ));
        match (before, after) {
            (Some(b), Some(a)) => {
                let d = a.delta(b);
                if d.forwarded == shared && d.rejected == refused && d.bad_replies == 0 {
                    Outcome::Pass(text(format_args!("{seen}; audit {d}")))
                } else {
                    Outcome::Fail(text(format_args!(
                        "{seen}; audit {d}: want fwd+{shared} rej+{refused}"
                    )))
                }
            }
            _ => Outcome::Skip(text(format_args!("{seen}; audit HVC does not answer"))),
        }
    };
    // With the writer stopped: the page is the host's alone again (shares, then reclaims).
    if let Outcome::Pass(_) = outcome {
        let length = Share::of(sp, page).write();
        let r = ffa_call::call(Conduit::Smc, &share_call(fid::MEM_SHARE_64, length));
        let handle = handle_of(&r);
        let clean = r[0] == u64::from(fid::SUCCESS_32)
            && ffa_call::call(
                Conduit::Smc,
                &call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
            )[0] == u64::from(fid::SUCCESS_32);
        TX.clear();
        if !clean {
            outcome = Outcome::Fail(text(format_args!(
                "after the race, sharing {page:#x} again got {}",
                Nonzero(&r)
            )));
        }
    }
    m.record(key, &name, &outcome);
}

/// FFA_MEM_LEND_32/64 of `page` to OP-TEE, then the payload's own access to it, then
/// RECLAIM: while lent, a load and a store each take a synchronous external abort at the
/// payload's EL1 vector (the hypervisor unmapped the page from its stage 2 and injects the
/// stage-2 fault), the store does not land; after RECLAIM the page reads back as before.
fn lend_and_reclaim(m: &mut Matrix, page: u64) {
    const PATTERN: u64 = 0x1e4d_5eed_0bad_cafe;
    let sp = m.ctx.sp;
    for (function, key) in [
        (fid::MEM_LEND_32 | fid::SMC64, "mem-lend-64"),
        (fid::MEM_LEND_32, "mem-lend-32"),
    ] {
        SHARED.write64(8, PATTERN);
        // A lend to one borrower leaves the memory type to the borrower (DEN0077 v1.2
        // §10.10.4: "not specified"), which OP-TEE 4.10 requires (`mem_op_init`).
        let lend = Share {
            attributes: 0,
            ..Share::of(sp, page)
        };
        let length = lend.write();
        let r = m.smc(
            key,
            format_args!("good.{key}"),
            share_call(function, length),
            Audit::Handled,
            |r| {
                success(r, |r| {
                    Verdict::Pass(text(format_args!(
                        "FFA_SUCCESS handle {:#x} (page {page:#x} lent to {sp:#x})",
                        handle_of(r)
                    )))
                })
            },
        );
        if r[0] != u64::from(fid::SUCCESS_32) {
            continue;
        }
        let handle = handle_of(&r);
        // The payload's own access, while OP-TEE has the page.
        let addr = page + 8;
        // SAFETY: the handler is armed for a data abort and skips the load.
        let (value, load) = run_probe(ProbeKind::Data, || unsafe { arch::load(addr) });
        // SAFETY: armed likewise; were the page still mapped, the store would land in the
        // payload's own page, which this case then reports.
        let ((), store) = run_probe(ProbeKind::Data, || unsafe { arch::store(addr, !PATTERN) });
        let checks = [
            (load, arch::probe_load_address(), "load"),
            (store, arch::probe_store_address(), "store"),
        ];
        let mut outcome = Outcome::Pass(text(format_args!(
            "load and store at {addr:#x} took an SEA at EL1 while lent"
        )));
        for (seen, insn, verb) in checks {
            let problem = match seen {
                None => Some(text(format_args!(
                    "{verb} at {addr:#x} completed while the page was lent (load read {value:#x})"
                ))),
                Some(seen) => esr::check_sea(&seen, EC_DABT_CURRENT, addr, insn)
                    .err()
                    .map(|e| text(format_args!("{verb} at {addr:#x}: {e}"))),
            };
            if let Some(problem) = problem {
                outcome = Outcome::Fail(problem);
                break;
            }
        }
        m.record(
            key,
            &text(format_args!("good.{key}.host-access-aborts")),
            &outcome,
        );
        // Lent pages are OP-TEE's alone: the same page again is DENIED.
        let length = Share::of(sp, page).write();
        m.smc(
            "mem-share-64",
            format_args!("good.{key}.then-share-same-page"),
            share_call(fid::MEM_SHARE_64, length),
            Audit::Refused,
            |r| error(r, status::DENIED),
        );
        m.smc(
            "mem-reclaim",
            format_args!("good.mem-reclaim.after-{key}"),
            call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
            Audit::Handled,
            |r| {
                success(r, |_| {
                    Verdict::Pass(text(format_args!("FFA_SUCCESS handle {handle:#x}")))
                })
            },
        );
        // Back: readable, its contents as before the lend, and writable.
        // SAFETY: armed; the page should be mapped again, so nothing faults.
        let (value, seen) = run_probe(ProbeKind::Data, || unsafe { arch::load(addr) });
        let outcome = match seen {
            Some(seen) => Outcome::Fail(text(format_args!(
                "load at {addr:#x} after RECLAIM faulted ({:#x})",
                seen.esr
            ))),
            None if value != PATTERN => Outcome::Fail(text(format_args!(
                "after RECLAIM {addr:#x} holds {value:#x}, want {PATTERN:#x}"
            ))),
            None => Outcome::Pass(text(format_args!(
                "{addr:#x} readable again after RECLAIM, contents intact"
            ))),
        };
        m.record(
            key,
            &text(format_args!("good.{key}.after-reclaim")),
            &outcome,
        );
        SHARED.clear();
    }
}

/// FFA_MEM_LEND_64 of two pages that straddle a 2 MiB boundary (the first 2 MiB boundary
/// above the payload's image: free RAM of the host's), one constituent of two pages, so
/// that the hypervisor unmaps the last page of one 2 MiB block and the first of the next:
/// OP-TEE takes the lend (SUCCESS); both pages are gone from the host (a load from each takes
/// an SEA at the payload's EL1 vector); the page past the boundary cannot be shared while
/// lent (DENIED); after RECLAIM both pages read back as before the lend and take stores.
fn lend_across_2mib(m: &mut Matrix) {
    const BLOCK: u64 = 2 << 20;
    const PATTERN: u64 = 0x2b10_c4ed_9e55_0001;
    let key = "mem-lend-64";
    let sp = m.ctx.sp;
    let (_, image_end) = arch::image_range();
    let boundary = image_end.next_multiple_of(BLOCK);
    let start = boundary - 4096;
    let pages = [start, boundary];
    let in_carveout = m
        .carveout
        .is_some_and(|(base, end)| start < end && boundary + 4096 > base);
    if boundary + 4096 > m.ram_end || in_carveout {
        let why = text(format_args!(
            "no free RAM at {start:#x}..{:#x} (RAM ends at {:#x})",
            boundary + 4096,
            m.ram_end
        ));
        m.record(
            key,
            &text(format_args!("good.{key}.across-2mib")),
            &Outcome::Skip(why),
        );
        return;
    }
    for (n, &page) in pages.iter().enumerate() {
        // SAFETY: free RAM of the host's above the payload's image (checked above), which
        // nothing else uses; the MMU is off, so the address is the physical page.
        unsafe { core::ptr::write_volatile((page + 8) as *mut u64, PATTERN + n as u64) };
    }
    let lend = Share {
        attributes: 0,
        ranges: [(start, 2), (0, 0)],
        ..Share::of(sp, start)
    };
    let length = lend.write();
    let r = m.smc(
        key,
        format_args!("good.{key}.across-2mib"),
        share_call(fid::MEM_LEND_32 | fid::SMC64, length),
        Audit::Forwarded,
        |r| {
            success(r, |r| {
                Verdict::Pass(text(format_args!(
                    "FFA_SUCCESS handle {:#x} (pages {start:#x} and {boundary:#x} lent to {sp:#x})",
                    handle_of(r)
                )))
            })
        },
    );
    if r[0] != u64::from(fid::SUCCESS_32) {
        return;
    }
    let handle = handle_of(&r);
    let mut outcome = Outcome::Pass(text(format_args!(
        "loads at {:#x} and {:#x} took an SEA at EL1 while lent",
        pages[0] + 8,
        pages[1] + 8
    )));
    for page in pages {
        let addr = page + 8;
        // SAFETY: the handler is armed for a data abort and skips the load.
        let (value, seen) = run_probe(ProbeKind::Data, || unsafe { arch::load(addr) });
        let problem = match seen {
            None => Some(text(format_args!(
                "load at {addr:#x} completed while lent (read {value:#x})"
            ))),
            Some(seen) => esr::check_sea(&seen, EC_DABT_CURRENT, addr, arch::probe_load_address())
                .err()
                .map(|e| text(format_args!("load at {addr:#x}: {e}"))),
        };
        if let Some(problem) = problem {
            outcome = Outcome::Fail(problem);
            break;
        }
    }
    m.record(
        key,
        &text(format_args!("good.{key}.across-2mib.host-access-aborts")),
        &outcome,
    );
    let length = Share::of(sp, boundary).write();
    m.smc(
        "mem-share-64",
        format_args!("good.{key}.across-2mib.then-share-second-page"),
        share_call(fid::MEM_SHARE_64, length),
        Audit::Refused,
        |r| error(r, status::DENIED),
    );
    m.smc(
        "mem-reclaim",
        format_args!("good.mem-reclaim.after-{key}-across-2mib"),
        call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
        Audit::Forwarded,
        |r| {
            success(r, |_| {
                Verdict::Pass(text(format_args!("FFA_SUCCESS handle {handle:#x}")))
            })
        },
    );
    let mut outcome = Outcome::Pass(text(format_args!(
        "{start:#x} and {boundary:#x} readable again after RECLAIM, contents intact, writable"
    )));
    for (n, page) in pages.into_iter().enumerate() {
        let addr = page + 8;
        let want = PATTERN + n as u64;
        // SAFETY: armed; the page should be mapped again, so nothing faults.
        let (value, seen) = run_probe(ProbeKind::Data, || unsafe { arch::load(addr) });
        // SAFETY: armed likewise; the page is the host's free RAM again.
        let ((), stored) = run_probe(ProbeKind::Data, || unsafe { arch::store(addr, !want) });
        // SAFETY: armed likewise.
        let (back, _) = run_probe(ProbeKind::Data, || unsafe { arch::load(addr) });
        let problem = match (seen, stored) {
            (Some(seen), _) | (None, Some(seen)) => Some(text(format_args!(
                "access to {addr:#x} after RECLAIM faulted ({:#x})",
                seen.esr
            ))),
            (None, None) if value != want => Some(text(format_args!(
                "after RECLAIM {addr:#x} holds {value:#x}, want {want:#x}"
            ))),
            (None, None) if back != !want => Some(text(format_args!(
                "after RECLAIM a store to {addr:#x} did not land (read {back:#x})"
            ))),
            (None, None) => None,
        };
        if let Some(problem) = problem {
            outcome = Outcome::Fail(problem);
            break;
        }
    }
    m.record(
        key,
        &text(format_args!("good.{key}.across-2mib.after-reclaim")),
        &outcome,
    );
}

/// A share of four pages near the top of RAM sent as two fragments: the first holds the
/// header, the receiver, the composite and two constituents, the second the other two.
/// OP-TEE answers the first with FFA_MEM_FRAG_RX (its handle, offset 128) and the second
/// with SUCCESS and the same handle; then RECLAIM.
fn fragmented_share(m: &mut Matrix) {
    let sp = m.ctx.sp;
    // No transaction in progress: refused at EL2.
    m.smc(
        "mem-frag-tx",
        format_args!("good.mem-frag-tx.no-transaction"),
        call(fid::MEM_FRAG_TX, &[0x1234, 0, 32]),
        Audit::Refused,
        |r| error(r, status::INVALID_PARAMETERS),
    );
    let base = (m.ram_end - 0x10_0000) & !0xFFF;
    let pages = [base, base + 0x2000, base + 0x4000, base + 0x6000];
    // The descriptor as `Share::write` lays it out, with four constituents.
    let total = Share::of(sp, pages[0]).write() + 3 * 16;
    TX.write32(80, 4); // total page count
    TX.write32(84, 4); // address range count
    for (i, &page) in pages.iter().enumerate() {
        TX.write64(96 + 16 * i, page);
        TX.write32(104 + 16 * i, 1);
        TX.write32(108 + 16 * i, 0);
    }
    let first = 96 + 2 * 16;
    // OP-TEE 4.10 refuses every fragmented transaction sent through its RX buffer with
    // INVALID_PARAMETERS: `handle_mem_op_rxbuf` passes (frag_len, tot_len) to
    // `spmc_read_mem_transaction(..., tot_len, frag_len, ...)`, whose `frag_len > tot_len`
    // check then fails. The proxy checked and forwarded the first fragment; on that refusal
    // its pages must be the host's again (checked below).
    let r = m.smc(
        "mem-share-64",
        format_args!("good.mem-frag.first-fragment"),
        call(fid::MEM_SHARE_64, &[total, first, 0, 0]),
        Audit::Forwarded,
        |r| {
            if r[0] == u64::from(fid::MEM_FRAG_RX) && r[3] == first {
                Verdict::Pass(text(format_args!(
                    "FFA_MEM_FRAG_RX handle {:#x} offset {first}",
                    r[1] | r[2] << 32
                )))
            } else if r[0] == u64::from(fid::ERROR)
                && r[2] as u32 as i32 == status::INVALID_PARAMETERS
            {
                Verdict::Pass(text(format_args!(
                    "forwarded; OP-TEE 4.10 answers FFA_ERROR(INVALID_PARAMETERS) to any fragmented transaction (its argument-order bug)"
                )))
            } else {
                Verdict::Fail(text(format_args!(
                    "want FFA_MEM_FRAG_RX offset {first}, or OP-TEE 4.10's INVALID_PARAMETERS"
                )))
            }
        },
    );
    if r[0] != u64::from(fid::MEM_FRAG_RX) {
        // The refused transaction left nothing behind: its first pages share again.
        let length = Share::of(sp, pages[0]).write();
        let r = m.smc(
            "mem-share-64",
            format_args!("good.mem-frag.pages-back-after-refusal"),
            share_call(fid::MEM_SHARE_64, length),
            Audit::Handled,
            |r| {
                success(r, |_| {
                    Verdict::Pass(text(format_args!(
                        "FFA_SUCCESS: the pages are the host's again"
                    )))
                })
            },
        );
        if r[0] == u64::from(fid::SUCCESS_32) {
            let h = handle_of(&r);
            ffa_call::call(
                Conduit::Smc,
                &call(fid::MEM_RECLAIM, &[h & 0xFFFF_FFFF, h >> 32, 0]),
            );
        }
        TX.clear();
        return;
    }
    let handle = r[1] | r[2] << 32;
    // The second fragment: the last two constituents, at the start of the TX buffer.
    TX.clear();
    for (i, &page) in pages[2..].iter().enumerate() {
        TX.write64(16 * i, page);
        TX.write32(8 + 16 * i, 1);
    }
    m.smc(
        "mem-frag-tx",
        format_args!("good.mem-frag.second-fragment"),
        call(
            fid::MEM_FRAG_TX,
            &[handle & 0xFFFF_FFFF, handle >> 32, 32, 0],
        ),
        Audit::Handled,
        |r| {
            success(r, |r| {
                let got = handle_of(r);
                if got == handle {
                    Verdict::Pass(text(format_args!("FFA_SUCCESS handle {got:#x}")))
                } else {
                    Verdict::Fail(text(format_args!(
                        "SUCCESS with handle {got:#x}, want {handle:#x}"
                    )))
                }
            })
        },
    );
    TX.clear();
    m.smc(
        "mem-reclaim",
        format_args!("good.mem-reclaim.after-mem-frag"),
        call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
        Audit::Handled,
        |r| {
            success(r, |_| {
                Verdict::Pass(text(format_args!("FFA_SUCCESS handle {handle:#x}")))
            })
        },
    );
}

/// The memory phase against TF-A's EL3 SPMC, which serves FFA_MEM_SHARE and FFA_MEM_LEND,
/// fragmented ones included (TF-A 2.12 unpatched refuses every one from a normal-world endpoint
/// that negotiated FF-A v1.2 with INVALID_PARAMETERS: `docs/spmc.md`; the test stack's build is
/// patched, and `tests/system/tests/spmc_el3.rs` requires the served answers). Every case here
/// passes with either answer and checks the proxy's part, with the same number of cases either
/// way, so the payload also runs against an unpatched TF-A 2.12:
/// - one-page SHARE and LEND, 64 and 32: forwarded; then either its RECLAIM (accepted) or the
///   same transaction forwarded again (refused: the proxy gave the page back rather than
///   keeping it, which would make it DENIED at EL2); after a LEND the page is readable and
///   writable again;
/// - a SHARE and a LEND of four pages in two fragments: the first forwarded; then either the
///   second fragment (FFA_MEM_FRAG_TX, SUCCESS with the handle of the SPMC's FFA_MEM_FRAG_RX)
///   and RECLAIM, or, refused, FFA_MEM_FRAG_TX refused at EL2 (nothing in progress) and the
///   four pages forwarded again in one fragment; after both, the pages are readable and
///   writable.
fn memory_el3(m: &mut Matrix) {
    const PATTERN: u64 = 0x5afe_1e4d_0e13_0001;
    let sp = m.ctx.sp;
    // SUCCESS (its handle) or this SPMC's refusal of a v1.2 caller, passed on unchanged.
    let accepted_or_refused = |r: &Regs| {
        if r[0] == u64::from(fid::SUCCESS_32) {
            success(r, |r| {
                Verdict::Pass(text(format_args!("FFA_SUCCESS handle {:#x}", handle_of(r))))
            })
        } else {
            error(r, status::INVALID_PARAMETERS)
        }
    };
    let reclaim = |m: &mut Matrix, name: fmt::Arguments, handle: u64| {
        m.smc(
            "mem-reclaim",
            name,
            call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
            Audit::Handled,
            |r| {
                success(r, |_| {
                    Verdict::Pass(text(format_args!("FFA_SUCCESS handle {handle:#x}")))
                })
            },
        );
    };
    let page = SHARED.addr();
    for (function, key) in [
        (fid::MEM_SHARE_64, "mem-share-64"),
        (fid::MEM_SHARE_32, "mem-share-32"),
        (fid::MEM_LEND_32 | fid::SMC64, "mem-lend-64"),
        (fid::MEM_LEND_32, "mem-lend-32"),
    ] {
        let lend = key.starts_with("mem-lend");
        let share = Share {
            attributes: if lend { 0 } else { MEM_NORMAL_WB_INNER },
            ..Share::of(sp, page)
        };
        let length = share.write();
        let r = m.smc(
            key,
            format_args!("good.{key}.el3-spmc"),
            share_call(function, length),
            Audit::Forwarded,
            accepted_or_refused,
        );
        if r[0] == u64::from(fid::SUCCESS_32) {
            reclaim(
                m,
                format_args!("good.{key}.el3-spmc.pages-back"),
                handle_of(&r),
            );
        } else {
            let length = share.write();
            m.smc(
                key,
                format_args!("good.{key}.el3-spmc.pages-back"),
                share_call(function, length),
                Audit::Forwarded,
                |r| error(r, status::INVALID_PARAMETERS),
            );
        }
        TX.clear();
        if lend {
            page_is_the_hosts(
                m,
                key,
                format_args!("good.{key}.el3-spmc.page-mapped"),
                page + 8,
                PATTERN,
            );
        }
    }
    // Four pages near the top of RAM in two fragments (header, receiver, composite and two
    // constituents; then the other two), as SHARE and as LEND.
    let base = (m.ram_end - 0x10_0000) & !0xFFF;
    let pages = [base, base + 0x2000, base + 0x4000, base + 0x6000];
    let first = 96 + 2 * 16;
    for (function, key, attributes) in [
        (fid::MEM_SHARE_64, "mem-share-64", MEM_NORMAL_WB_INNER),
        (fid::MEM_LEND_32 | fid::SMC64, "mem-lend-64", 0),
    ] {
        let write_all = || {
            let one = Share {
                attributes,
                ..Share::of(sp, pages[0])
            };
            let total = one.write() + 3 * 16;
            TX.write32(80, 4); // total page count
            TX.write32(84, 4); // address range count
            for (i, &p) in pages.iter().enumerate() {
                TX.write64(96 + 16 * i, p);
                TX.write32(104 + 16 * i, 1);
                TX.write32(108 + 16 * i, 0);
            }
            total
        };
        let total = write_all();
        let r = m.smc(
            key,
            format_args!("good.mem-frag.{key}.first-fragment"),
            call(function, &[total, first, 0, 0]),
            Audit::Forwarded,
            |r| {
                if r[0] == u64::from(fid::MEM_FRAG_RX) && r[3] == first {
                    Verdict::Pass(text(format_args!(
                        "FFA_MEM_FRAG_RX handle {:#x} offset {first}",
                        r[1] | r[2] << 32
                    )))
                } else {
                    error(r, status::INVALID_PARAMETERS)
                }
            },
        );
        TX.clear();
        if r[0] == u64::from(fid::MEM_FRAG_RX) {
            let handle = r[1] | r[2] << 32;
            // The second fragment: the last two constituents, at the start of the TX buffer.
            for (i, &p) in pages[2..].iter().enumerate() {
                TX.write64(16 * i, p);
                TX.write32(8 + 16 * i, 1);
            }
            m.smc(
                "mem-frag-tx",
                format_args!("good.mem-frag.{key}.second-fragment"),
                call(
                    fid::MEM_FRAG_TX,
                    &[handle & 0xFFFF_FFFF, handle >> 32, 32, 0],
                ),
                Audit::Handled,
                |r| {
                    success(r, |r| {
                        let got = handle_of(r);
                        if got == handle {
                            Verdict::Pass(text(format_args!("FFA_SUCCESS handle {got:#x}")))
                        } else {
                            Verdict::Fail(text(format_args!(
                                "SUCCESS with handle {got:#x}, want {handle:#x}"
                            )))
                        }
                    })
                },
            );
            TX.clear();
            reclaim(m, format_args!("good.mem-frag.{key}.pages-back"), handle);
        } else {
            // Nothing in progress: the second fragment has no transaction to continue.
            m.smc(
                "mem-frag-tx",
                format_args!("good.mem-frag.{key}.second-fragment"),
                call(fid::MEM_FRAG_TX, &[0, 0, 32, 0]),
                Audit::Refused,
                |r| error(r, status::INVALID_PARAMETERS),
            );
            // The four pages in one fragment: forwarded again, so the proxy gave them back.
            let total = write_all();
            m.smc(
                key,
                format_args!("good.mem-frag.{key}.pages-back"),
                share_call(function, total),
                Audit::Forwarded,
                |r| error(r, status::INVALID_PARAMETERS),
            );
            TX.clear();
        }
        page_is_the_hosts(
            m,
            key,
            format_args!("good.mem-frag.{key}.page-mapped"),
            pages[3] + 8,
            PATTERN,
        );
    }
    refused_descriptors_and_unmap(m);
}

/// One case: the payload loads and stores at `addr` without a fault and reads its store
/// back: the page is mapped for the host again.
fn page_is_the_hosts(
    m: &mut Matrix,
    key: &'static str,
    name: fmt::Arguments,
    addr: u64,
    pattern: u64,
) {
    // SAFETY: armed for a data abort, which would skip the access and be reported.
    let ((), first) = run_probe(ProbeKind::Data, || unsafe { arch::store(addr, pattern) });
    // SAFETY: armed likewise.
    let (value, load) = run_probe(ProbeKind::Data, || unsafe { arch::load(addr) });
    // SAFETY: armed likewise.
    let ((), store) = run_probe(ProbeKind::Data, || unsafe { arch::store(addr, !pattern) });
    let after = if first.is_none() && load.is_none() && store.is_none() {
        // SAFETY: none of the accesses above faulted, so the page is mapped.
        unsafe { arch::load(addr) }
    } else {
        0
    };
    let outcome = if value == pattern && after == !pattern {
        Outcome::Pass(text(format_args!(
            "load and store at {addr:#x} without a fault: the page is the host's"
        )))
    } else {
        Outcome::Fail(text(format_args!(
            "at {addr:#x}: faults store {} load {} store {}, read {value:#x} then {after:#x}",
            first.is_some(),
            load.is_some(),
            store.is_some()
        )))
    };
    let name = text(name);
    m.record(key, &name, &outcome);
}

/// The notifications phase against TF-A 2.12's EL3 SPMC, which implements no notification
/// call: every one the proxy forwards comes back NOT_SUPPORTED, passed on as such; the proxy's
/// own answers are those of the OP-TEE run (DENIED for a DESTROY without a bitmap, which it
/// knows was never created; INVALID_PARAMETERS for a sender or receiver that is not a Secure
/// endpoint).
fn notifications_el3(m: &mut Matrix) {
    let sp = u64::from(m.ctx.sp);
    let not_supported = |r: &Regs| error(r, status::NOT_SUPPORTED);
    let create = call(fid::NOTIFICATION_BITMAP_CREATE, &[0, 4]);
    for label in ["", ".again"] {
        // Not created, so a second CREATE is forwarded too (D-NOTIF-BITMAP).
        m.smc(
            "notif-bitmap-create",
            format_args!("good.notif-bitmap-create{label}.spmc-not-supported"),
            create,
            Audit::Forwarded,
            not_supported,
        );
    }
    m.smc(
        "notif-bitmap-destroy",
        format_args!("good.notif-bitmap-destroy.none-created"),
        call(fid::NOTIFICATION_BITMAP_DESTROY, &[]),
        Audit::Emulated,
        |r| error(r, status::DENIED),
    );
    m.smc(
        "notif-bind",
        format_args!("good.notif-bind.spmc-not-supported"),
        call(fid::NOTIFICATION_BIND, &[sp << 16, 0, NOTIFICATION_BIT, 0]),
        Audit::Forwarded,
        not_supported,
    );
    for (label, sender, bit) in [("host", 0u64, 11), ("vm-1", 1, 12), ("vm-7fff", 0x7FFF, 13)] {
        m.smc(
            "notif-bind",
            format_args!("good.notif-bind.sender-{label}"),
            call(fid::NOTIFICATION_BIND, &[sender << 16, 0, 1 << bit, 0]),
            Audit::Rejected,
            |r| error(r, status::INVALID_PARAMETERS),
        );
    }
    m.smc(
        "notif-unbind",
        format_args!("good.notif-unbind.spmc-not-supported"),
        call(
            fid::NOTIFICATION_UNBIND,
            &[sp << 16, 0, NOTIFICATION_BIT, 0],
        ),
        Audit::Forwarded,
        not_supported,
    );
    m.smc(
        "notif-get",
        format_args!("good.notif-get.spmc-not-supported"),
        call(fid::NOTIFICATION_GET, &[0, 0x5]),
        Audit::Forwarded,
        not_supported,
    );
    for (key, function) in [
        ("notif-info-get-64", fid::NOTIFICATION_INFO_GET_64),
        ("notif-info-get-32", fid::NOTIFICATION_INFO_GET_32),
    ] {
        m.smc(
            key,
            format_args!("good.{key}.spmc-not-supported"),
            call(function, &[]),
            Audit::Forwarded,
            not_supported,
        );
    }
    m.smc(
        "notif-set",
        format_args!("good.notif-set.spmc-not-supported"),
        call(fid::NOTIFICATION_SET, &[sp, 0, NOTIFICATION_BIT, 0]),
        Audit::Forwarded,
        not_supported,
    );
    for (label, receiver) in [("host", 0u64), ("vm-1", 1)] {
        m.smc(
            "notif-set",
            format_args!("good.notif-set.receiver-{label}"),
            call(fid::NOTIFICATION_SET, &[receiver, 0, NOTIFICATION_BIT, 0]),
            Audit::Rejected,
            |r| error(r, status::INVALID_PARAMETERS),
        );
    }
}

/// The stage-2 table pool under attack: two FFA_MEM_LEND_64 of 200 one-page constituents,
/// each in its own 2 MiB block (200 block splits, more than the hypervisor's pool of table
/// pages can cover), refused with NO_MEMORY at EL2 before anything changes and never
/// forwarded (D-LEND-TABLES in `docs/ffa-decisions.md`); then a LEND of one page and its
/// RECLAIM are still served. Before the pool, each such LEND took 200 table pages from the
/// EL2 heap for good, and the second exhausted it.
fn lend_scattered_blocks(m: &mut Matrix) {
    const BLOCKS: u64 = 200;
    const BLOCK: u64 = 0x20_0000;
    let (sp, tx, rx) = (m.ctx.sp, m.ctx.tx, m.ctx.rx);
    let (carveout_start, carveout_end) = m.carveout.unwrap_or((0, 0));
    // The memory cases end with the mailbox unmapped: map it for these, unmap it after.
    m.smc(
        "rxtx-map-64",
        format_args!("attack.rxtx-map-64.for-scattered-lends"),
        call(fid::RXTX_MAP_64, &[tx, rx, 1]),
        Audit::Handled,
        |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
    );
    let lend = Share {
        attributes: 0,
        ..Share::of(sp, SHARED.addr())
    };
    for round in 1..=2 {
        let length = lend.write() + (BLOCKS - 1) * 16;
        // One page per 2 MiB block, from the top of RAM down, past the carve-out.
        let mut block = m.ram_end & !(BLOCK - 1);
        for i in 0..BLOCKS {
            block -= BLOCK;
            while block < carveout_end && carveout_start < block + BLOCK {
                block -= BLOCK;
            }
            let at = 96 + 16 * i as usize;
            TX.write64(at, block + 0x1000 * (1 + i % 255));
            TX.write32(at + 8, 1);
            TX.write32(at + 12, 0);
        }
        TX.write32(80, BLOCKS as u32); // total page count
        TX.write32(84, BLOCKS as u32); // address range count
        m.smc(
            "mem-lend-64",
            format_args!("attack.mem-lend-64.200-scattered-blocks-{round}"),
            share_call(fid::MEM_LEND_32 | fid::SMC64, length),
            Audit::Refused,
            |r| error(r, status::NO_MEMORY),
        );
    }
    let length = lend.write();
    let r = m.smc(
        "mem-lend-64",
        format_args!("attack.mem-lend-64.one-page-after-scattered"),
        share_call(fid::MEM_LEND_32 | fid::SMC64, length),
        Audit::Handled,
        |r| {
            // Still forwarded; the EL3 SPMC may refuse it as every LEND of a v1.2 caller
            // (memory_el3).
            if el3() && r[0] != u64::from(fid::SUCCESS_32) {
                return error(r, status::INVALID_PARAMETERS);
            }
            success(r, |r| {
                Verdict::Pass(text(format_args!(
                    "FFA_SUCCESS handle {:#x}: still served",
                    handle_of(r)
                )))
            })
        },
    );
    TX.clear();
    if r[0] == u64::from(fid::SUCCESS_32) {
        let handle = handle_of(&r);
        m.smc(
            "mem-reclaim",
            format_args!("attack.mem-reclaim.after-scattered"),
            call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
            Audit::Handled,
            |r| {
                success(r, |_| {
                    Verdict::Pass(text(format_args!("FFA_SUCCESS handle {handle:#x}")))
                })
            },
        );
    }
    m.smc(
        "rxtx-unmap",
        format_args!("attack.rxtx-unmap.after-scattered-lends"),
        call(fid::RXTX_UNMAP, &[]),
        Audit::Emulated,
        |r| success(r, |_| Verdict::Pass(text(format_args!("FFA_SUCCESS")))),
    );
}

/// For the DMA cases (`dma.rs`): negotiates v1.2, maps the payload's mailbox and lends
/// `page` to OP-TEE (FFA_MEM_LEND_64, one page, as `lend_and_reclaim` does); the handle, or
/// the FFA_ERROR status.
pub fn lend_to_optee(page: u64) -> Result<u64, u64> {
    let smc = |r: Regs| ffa_call::call(Conduit::Smc, &r);
    smc(call(fid::VERSION, &[VERSION_1_2.into()]));
    smc(call(fid::RXTX_MAP_64, &[TX.addr(), RX.addr(), 1]));
    let lend = Share {
        attributes: 0,
        ..Share::of(OPTEE_ENDPOINT_FALLBACK, page)
    };
    let length = lend.write();
    let r = smc(share_call(fid::MEM_LEND_32 | fid::SMC64, length));
    if r[0] == u64::from(fid::SUCCESS_32) {
        Ok(handle_of(&r))
    } else {
        Err(r[2])
    }
}

/// FFA_MEM_RECLAIM of `handle`: whether it succeeded.
pub fn reclaim(handle: u64) -> bool {
    let r = ffa_call::call(
        Conduit::Smc,
        &call(fid::MEM_RECLAIM, &[handle & 0xFFFF_FFFF, handle >> 32, 0]),
    );
    r[0] == u64::from(fid::SUCCESS_32)
}
