//! The trap handlers on the firmware target: the entries `vectors.S` calls for the host's
//! SMCs, its other synchronous exceptions and the exceptions nobody expects, with their
//! rate-limited console lines and the FF-A audit printed at SYSTEM_OFF / SYSTEM_RESET.
//!
//! The routing decisions they apply are the portable, host-tested functions of `crate::trap`
//! (`src/trap.rs`).

use crate::abort::ec;
use crate::firmware::arch;
use crate::firmware::hyp;
use crate::firmware::{el2_setup, power};
use crate::frame::{HostFrame, SmcFrame};
use crate::mm::HostAccess;
use crate::psci;
use crate::smccc::{CALL_HINT_SVE_NOT_LIVE, High, SmcRegs};
use crate::trap::{SmcRoute, Trap, Unexpected, decode, first_to_stop, not_supported, route_smc};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

static ABORTS: AtomicU64 = AtomicU64::new(0);
/// FF-A rejections so far, for the console's rate limit; the vector's fast path reads and
/// counts it too (a rejection it would print goes to Rust instead).
#[unsafe(export_name = "hyp_ffa_rejections")]
static FFA_REJECTIONS: AtomicU64 = AtomicU64::new(0);
/// The FF-A fast path's table (`crate::ffa::fast`) once the proxy may use it, else 0: read by
/// the vector (`vectors.S`, `ffa_fast`). Set once, by the Rust path, after the per-CPU
/// counters are attached; never cleared (a settled negotiation is final).
#[unsafe(export_name = "hyp_ffa_fast")]
static FFA_FAST: AtomicU64 = AtomicU64::new(0);
/// The address of the proxy's bitmap of functions the SPMC refused (D-FEATURES-LEARNED), for
/// the vector's `FFA_FEATURES`; set before [`FFA_FAST`] (the vector, which reads them without
/// ordering, takes a 0 here for "not yet" and leaves the call to Rust).
#[unsafe(export_name = "hyp_ffa_learned")]
static FFA_LEARNED: AtomicU64 = AtomicU64::new(0);
/// Non-zero when the vector's fast path must call [`hyp_ffa_fast_poll`] before returning
/// (there is an SMMU whose faults every trap polls).
#[unsafe(export_name = "hyp_ffa_poll")]
static FFA_POLL: AtomicU32 = AtomicU32::new(0);
static REFUSED_SMCS: AtomicU64 = AtomicU64::new(0);
/// Redistributor table bases refused or ignored, and LPIs held off.
static GIC_EVENTS: AtomicU64 = AtomicU64::new(0);
/// Set by the first CPU on its way to SYSTEM_OFF after an exception nobody handles.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Rate limit of the console lines: the first 8, then every power of two.
fn worth_a_line(n: u64) -> bool {
    n < 8 || n.is_power_of_two()
}

/// An FF-A call: the proxy answers in place; a rejection gets one rate-limited line. The
/// proxy names the offending field only for the lines that will be printed.
#[inline(always)]
fn ffa_call(regs: &mut SmcRegs, imm: u16) {
    let hyp = hyp::get();
    let outcome = hyp.ffa.handle_explained(
        regs,
        imm,
        &hyp.mm,
        &mut crate::firmware::ffa_port::FfaPlatform,
        || worth_a_line(FFA_REJECTIONS.load(Ordering::Relaxed)),
    );
    count_rejection(outcome);
    if FFA_FAST.load(Ordering::Relaxed) == 0 {
        publish_fast_path(hyp, regs as *const SmcRegs as u64);
    }
    // The SMMU's faults, e.g. a device's DMA to a page this call lent.
    crate::firmware::smmu::poll();
}

/// A rejection's console line, rate-limited.
#[inline(always)]
fn count_rejection(outcome: crate::ffa::Outcome) {
    if let Some(rejection) = outcome.rejection() {
        let n = FFA_REJECTIONS.fetch_add(1, Ordering::Relaxed);
        if worth_a_line(n) {
            log_rejection(rejection, n);
        }
    }
}

/// Turns the vector's FF-A fast path on once the proxy allows it (negotiation settled at
/// v1.2): the per-CPU counters first, so that the audit includes every call it counts.
/// `frame` is this trap's SMC frame: the vector finds its counters from SP on the promise
/// that the host traps with SP at the top of its CPU's stack (`percpu::Stack`), checked here
/// (if it did not hold, the fast path would stay off).
#[cold]
#[inline(never)]
fn publish_fast_path(hyp: &hyp::Hyp, frame: u64) {
    let Some(table) = hyp.ffa.fast_table() else {
        return;
    };
    let top = crate::percpu::stack_top(arch::cpu_index());
    if frame + core::mem::size_of::<SmcFrame>() as u64 != top {
        return;
    }
    hyp.ffa.counters().attach(&crate::percpu::FFA_CPU_COUNTS);
    let poll = crate::firmware::smmu::stats().is_some();
    FFA_POLL.store(u32::from(poll), Ordering::Relaxed);
    let learned = hyp.ffa.spmc_refused_bitmap() as *const _ as u64;
    FFA_LEARNED.store(learned, Ordering::Relaxed);
    FFA_FAST.store(table as *const _ as u64, Ordering::Release);
}

/// From the vector's fast path: a call it forwarded (and counted) whose reply it does not
/// take (see `crate::ffa::fast`); `frame` holds the SPMC's x0..x7 and the call's x8..x17
/// (zero), `x0` is the host's x0.
#[unsafe(no_mangle)]
extern "C" fn hyp_ffa_fast_finish(frame: *mut SmcFrame, x0: u64) {
    // SAFETY: the vector passes the SMC frame it saved on this CPU's stack; nothing else
    // refers to it until it is restored.
    let frame = unsafe { &mut *frame };
    let outcome = hyp::get().ffa.fast_finish(&mut frame.regs, x0);
    count_rejection(outcome);
    crate::firmware::smmu::poll();
}

/// From the vector's fast path when [`FFA_POLL`] is set: the SMMU's faults, as every trap
/// polls them.
#[unsafe(no_mangle)]
extern "C" fn hyp_ffa_fast_poll() {
    crate::firmware::smmu::poll();
}

#[cold]
#[inline(never)]
fn log_rejection(rejection: &crate::ffa::Rejection, n: u64) {
    crate::firmware::console::warning!("{rejection} [#{}]", n + 1);
}

/// Debug level: Linux probes services it may not have (the vendor hypervisor UID over
/// SMC, standard services the firmware lacks) as a matter of course.
#[cold]
#[inline(never)]
fn refuse_smc(regs: &mut SmcRegs, imm: u16) {
    let x0 = regs[0];
    let n = REFUSED_SMCS.fetch_add(1, Ordering::Relaxed);
    if worth_a_line(n) {
        crate::firmware::console::debug!(
            "host SMC {x0:#x} (immediate {imm:#x}) refused: not a service the host may call [#{}]",
            n + 1
        );
    }
    not_supported(regs);
}

/// A PSCI call: the audit goes to the console before the host powers off or resets.
#[inline(never)]
fn psci_call(regs: &mut SmcRegs) {
    let function = regs[0] as u32 & !CALL_HINT_SVE_NOT_LIVE;
    if matches!(function, psci::fid::SYSTEM_OFF | psci::fid::SYSTEM_RESET) {
        report_ffa_audit();
    }
    match hyp::get().psci_call(regs) {
        psci::Relayed::Reply => {}
        psci::Relayed::ReplyAndWake => arch::send_event(),
        psci::Relayed::HoldOff => crate::firmware::boot::hold_off(arch::cpu_index()),
    }
}

/// The FF-A audit on the console, at the host's SYSTEM_OFF or SYSTEM_RESET: one line per
/// function that was called, the totals, and the memory side.
fn report_ffa_audit() {
    let ffa = &hyp::get().ffa;
    for (id, name, counts) in ffa.counters().iter() {
        if counts != crate::ffa::Counts::default() {
            crate::firmware::console::info!("FF-A audit: {name} {id:#x}: {counts}");
        }
    }
    let unknown = ffa.counters().unknown();
    if unknown != crate::ffa::Counts::default() {
        crate::firmware::console::info!("FF-A audit: unknown IDs: {unknown}");
    }
    crate::firmware::console::info!("FF-A audit: total: {}", ffa.counters().total());
    let m = ffa.memory_status(&hyp::get().mm);
    match m.host_mailbox {
        Some((tx, rx, full)) => crate::firmware::console::info!(
            "FF-A audit: host mailbox TX {tx:#x} RX {rx:#x} ({})",
            if full { "RX full" } else { "RX free" }
        ),
        None => crate::firmware::console::info!("FF-A audit: host mailbox none"),
    }
    crate::firmware::console::info!(
        "FF-A audit: live transactions {}, shared pages {}, lent pages {}, ownership runs {}/{}",
        m.transactions,
        m.shared_pages,
        m.lent_pages,
        m.runs.0,
        m.runs.1
    );
    if let Some(gicr) = &hyp::get().gicr {
        crate::firmware::console::info!(
            "GIC audit: LPI table pages pinned {}, table bases refused or ignored and EnableLPIs held off {}",
            gicr.pinned_pages(),
            GIC_EVENTS.load(Ordering::Relaxed)
        );
    }
    for its in &hyp::get().its {
        let (refused, pages) = its.audit();
        crate::firmware::console::info!(
            "GIC audit: ITS {:#x}: commands refused {refused}, host pages the ITS may write {pages}",
            its.pages().start
        );
    }
    crate::firmware::console::flush();
}

/// Entry from `vectors.S` for the host's SMCs, with ESR_EL2 (the vector has already
/// advanced ELR_EL2 past the SMC).
///
/// The hot path (every FF-A call): it works on the saved frame's x0..x17 in place and
/// keeps everything else (PSCI, refusals, logging) out of line, so that a forwarded call
/// costs only its checks and the SMC itself.
#[inline(always)]
pub fn handle_host_smc(frame: &mut SmcFrame, esr: u64) {
    let imm = esr as u16;
    let regs = &mut frame.regs;
    // The common FF-A calls first: the proxy's short path needs no other routing.
    if crate::ffa::Proxy::short_path_number(regs[0], imm).is_some() {
        return ffa_call(regs, imm);
    }
    match route_smc(regs[0], imm) {
        SmcRoute::Ffa => ffa_call(regs, imm),
        SmcRoute::Forward => {
            let low = arch::Smc.call_in_place(regs[0], regs, High::Full);
            regs[..8].copy_from_slice(&low);
        }
        SmcRoute::Psci => psci_call(regs),
        SmcRoute::Refuse => refuse_smc(regs, imm),
    }
}

/// Entry from `vectors.S` for every synchronous exception from the host but an SMC
/// (those go to [`handle_host_smc`]), with the full register frame.
#[inline(always)]
pub fn handle_host_sync(frame: &mut HostFrame) {
    crate::firmware::smmu::poll();
    let trap = decode(frame.esr);
    handle_other(frame, trap)
}

/// Every trap other than an SMC.
#[inline(never)]
fn handle_other(frame: &mut HostFrame, trap: Trap) {
    match trap {
        Trap::Hvc => {
            let hyp = hyp::get();
            let dma = crate::firmware::smmu::stats();
            crate::hvc::handle(
                frame.smc_regs_mut(),
                hyp.carveout.start,
                hyp.ffa.counters(),
                dma.as_ref(),
            );
        }
        Trap::Stage2Abort => inject_abort(frame),
        // The vectors send SMCs to `handle_host_smc`: one here is a bug, so it is
        // reported like any other trap nobody handles.
        Trap::Smc(_) | Trap::Unexpected(_) => stop_machine(Unexpected {
            cpu: arch::cpu_index(),
            slot: Unexpected::HOST_SYNC,
            esr: frame.esr,
            elr: frame.elr,
            far: frame.far,
            spsr: frame.spsr,
        }),
    }
}

/// A host stage-2 abort: an emulated register page (the access is performed for the host),
/// a page whose change is in flight (retried), or memory the host may not touch (an
/// external abort).
fn inject_abort(frame: &mut HostFrame) {
    if frame.exception_class() == ec::DABT_LOW
        && let Some(emulated) = emulate_mmio(frame)
    {
        if !emulated {
            inject_sea(frame);
        }
        return;
    }
    // A page the host owns faulted only because a LEND or RECLAIM on another CPU was
    // breaking the block around it (the mapping is back now), or a LEND on another CPU is
    // waiting for the SPMC's answer (it will be the host's again, or lent): retry the access.
    match hyp::get()
        .mm
        .host_access(crate::addr::Ipa(frame.fault_ipa()))
    {
        HostAccess::Allowed | HostAccess::Undecided => return,
        HostAccess::Denied => {}
    }
    let n = ABORTS.fetch_add(1, Ordering::Relaxed);
    // Rate limit: the first 8, then every power of two.
    if n < 8 || n.is_power_of_two() {
        crate::firmware::console::warning!(
            "host {} abort at IPA {:#x} (VA {:#x}, PC {:#x}): not the host's memory (the hypervisor's, Secure, or lent), injecting an external abort [#{}]",
            if frame.exception_class() == ec::DABT_LOW {
                "data"
            } else {
                "instruction"
            },
            frame.fault_ipa(),
            frame.far,
            frame.elr,
            n + 1
        );
    }
    inject_sea(frame);
}

/// A data abort on a page the hypervisor emulates: `None` if it is no such page, else
/// whether the access was emulated (`false`: refused, the caller injects the abort). Each
/// refusal, and each table base refused or ignored, gets one rate-limited line.
#[inline(never)]
fn emulate_mmio(frame: &mut HostFrame) -> Option<bool> {
    let hyp = hyp::get();
    let ipa = frame.fault_ipa();
    let result = if let Some(its) = hyp.its.iter().find(|i| i.pages().contains(&ipa)) {
        let device = its.with(&hyp.mm);
        let result = crate::mmio::emulate(&device, frame);
        if let Some(event) = device.event() {
            gic_event(&event);
        }
        result
    } else {
        let device = hyp.gicr.as_ref()?.with(&hyp.mm);
        if !crate::mmio::MmioDevice::claims(&device, ipa) {
            return None;
        }
        let result = crate::mmio::emulate(&device, frame);
        if let Some(event) = device.event() {
            gic_event(&event);
        }
        result
    };
    if let Err(refusal) = result {
        let n = ABORTS.fetch_add(1, Ordering::Relaxed);
        if worth_a_line(n) {
            crate::firmware::console::warning!(
                "host access at IPA {:#x} (PC {:#x}) to an emulated register refused: {}, injecting an external abort [#{}]",
                frame.fault_ipa(),
                frame.elr,
                refusal.name(),
                n + 1
            );
        }
    }
    Some(result.is_ok())
}

/// One rate-limited console line for something the GIC emulation refused or held off.
fn gic_event(event: &dyn core::fmt::Display) {
    let n = GIC_EVENTS.fetch_add(1, Ordering::Relaxed);
    if worth_a_line(n) {
        crate::firmware::console::warning!("{event} [#{}]", n + 1);
    }
}

/// Delivers a synchronous external abort for the host's faulting access at its EL1 vector.
fn inject_sea(frame: &mut HostFrame) {
    let inj = crate::abort::sea_injection(
        frame.esr,
        frame.far,
        frame.elr,
        frame.spsr,
        arch::vbar_el1(),
        arch::sctlr_el1(),
        el2_setup::entry_features(),
    );
    arch::set_el1_exception_regs(inj.esr_el1, inj.far_el1, inj.elr_el1, inj.spsr_el1);
    frame.elr = inj.elr_el2;
    frame.spsr = inj.spsr_el2;
}

/// Entry from `vectors.S` for every exception the hypervisor does not expect.
pub fn unexpected(kind: u64, frame: &HostFrame) -> ! {
    stop_machine(Unexpected {
        cpu: arch::cpu_index(),
        slot: kind,
        esr: frame.esr,
        elr: frame.elr,
        far: frame.far,
        spsr: frame.spsr,
    })
}

/// One console line naming the exception, then PSCI SYSTEM_OFF, as a panic does (see
/// [`Unexpected`] for why the machine and not the CPU). Nothing here waits for a lock this
/// CPU may hold but the console's, whose wait is bounded; a fault on the way down goes
/// straight to SYSTEM_OFF.
#[cold]
#[inline(never)]
fn stop_machine(unexpected: Unexpected) -> ! {
    if first_to_stop(&STOPPING) {
        crate::firmware::console::error!("{unexpected}");
        crate::firmware::console::flush();
    }
    power::system_off()
}
