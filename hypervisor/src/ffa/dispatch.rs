//! The proxy: SMCCC hygiene, lookup, version gate, policy, and the EL2 answers.
//!
//! `Proxy::handle` is the one entry point from the trap path. It takes the host's x0..x17,
//! the SMC immediate and the conduit, and leaves the reply in the same registers.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::abi::{
    self, COMPILED, Class, Compiled, Conv, FEATURES_ROW, HOST_ID, Handler, LAYOUTS, Status,
    VERSION_ROW, Version, fast, fid,
};
use super::audit::{Counters, Event, Reason, Rejection};
use super::handler::{self, Call, Platform, Refusal, Reply};
use super::run_state::RunState;
use super::state::{MemConfig, MemState, MemStatus};
use super::validate::{self, Violation};
use super::version::{Gate, Negotiation};
use super::{memory, rxtx, setup};
use crate::mm::MemProtect;
use crate::smccc::{self, CALL_HINT_SVE_NOT_LIVE, High, NOT_SUPPORTED, SmcConduit, SmcRegs};

/// The bits of x0 ^ FAST_CALL that SMCCC hygiene wants clear: x0[63:32], the fast-call bit
/// (set in x0, so clear after the XOR) and function ID bits [23:17] (see [`hygiene`]).
const HYGIENE_MASK: u64 = 0xFFFF_FFFF_0000_0000 | smccc::FAST_CALL as u64 | 0x00FE_0000;

/// What `handle` did with a call. The registers always hold the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// Rebuilt from the schema, sent to the SPMC, reply filtered.
    Forwarded,
    /// Answered at EL2 (possibly after the proxy's own SMCs, e.g. a version downgrade).
    Emulated,
    /// Failed SMCCC hygiene or validation; nothing was forwarded. Log the record.
    Rejected(Rejection),
    /// NOT_SUPPORTED: blocked, unknown, not in the negotiated version, not negotiated yet,
    /// or the proxy is off; or DENIED for the notification bitmap's state. Nothing was
    /// forwarded.
    Unsupported,
    /// FFA_ERROR(BUSY): a version negotiation is in flight on another CPU.
    Busy,
    /// Forwarded, but the SPMC's reply did not fit the ABI: the host got FFA_ERROR(ABORTED).
    ReplyRefused(Rejection),
}

impl Outcome {
    /// The record to log, if any.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Outcome::Rejected(r) | Outcome::ReplyRefused(r) => Some(r),
            _ => None,
        }
    }
}

/// Why the proxy is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffReason {
    /// Built with [`Proxy::disabled`].
    NotProbed,
    /// The firmware's SMCCC version (given) is below 1.2.
    SmcccTooOld(u32),
    /// `FFA_VERSION` answered NOT_SUPPORTED (x0 given): no SPMC.
    NoSpmc(u64),
    /// The SPMC's FF-A major version (given) is not 1.
    UnsupportedMajor(u32),
    /// `FFA_ID_GET` did not answer SUCCESS with ID 0 (x0, x2 given): the SPMC would not see
    /// the proxy as the host's ID.
    IdGet(u64, u64),
}

/// Whether the proxy is working.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Every FF-A call gets SMCCC NOT_SUPPORTED.
    Off(OffReason),
    /// Proxying.
    On {
        /// The SPMC's `FFA_VERSION` answer.
        firmware: u32,
        /// The proxy's version: min(firmware, 1.2).
        max: Version,
        /// The SPMC's endpoint ID (`FFA_SPM_ID_GET`, v1.1+), if it answered.
        spmc_id: Option<u16>,
    },
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::On {
                firmware,
                max,
                spmc_id,
            } => {
                write!(
                    f,
                    "FF-A: proxy on, SPMC v{}.{}",
                    firmware >> 16,
                    firmware & 0xFFFF
                )?;
                if let Some(id) = spmc_id {
                    // As u32: a `u16` would bring its own LowerHex into the image.
                    write!(f, " (ID {:#06x})", u32::from(*id))?;
                }
                write!(f, ", offering v{max}")
            }
            State::Off(OffReason::NotProbed) => f.write_str("FF-A: proxy off (not probed)"),
            State::Off(OffReason::SmcccTooOld(v)) if v & (1 << 31) != 0 => write!(
                f,
                "FF-A: proxy off: the firmware does not answer SMCCC_VERSION ({v:#x})"
            ),
            State::Off(OffReason::SmcccTooOld(v)) => write!(
                f,
                "FF-A: proxy off: SMCCC {}.{} is below 1.2",
                v >> 16,
                v & 0xFFFF
            ),
            State::Off(OffReason::NoSpmc(x0)) => {
                write!(f, "FF-A: proxy off: no SPMC (FFA_VERSION -> {x0:#x})")
            }
            State::Off(OffReason::UnsupportedMajor(v)) => {
                write!(
                    f,
                    "FF-A: proxy off: SPMC FF-A version {v:#x} has major != 1"
                )
            }
            State::Off(OffReason::IdGet(x0, x2)) => write!(
                f,
                "FF-A: proxy off: FFA_ID_GET -> x0 {x0:#x} x2 {x2:#x}, expected SUCCESS with ID 0"
            ),
        }
    }
}

/// The FF-A proxy. One instance serves all CPUs (`Sync`: atomics and two spin locks, one
/// for version negotiation, one for the mailboxes and the transactions).
pub struct Proxy {
    state: State,
    negotiation: Negotiation,
    counters: Counters,
    /// Whether [`Proxy::with_memory`] configured the mailbox (immutable afterwards).
    memory: bool,
    /// Mailboxes, live transactions (page ownership is the memory core's, given per call).
    mem: spin::Mutex<MemState>,
    /// Whether the host's notification bitmap exists at the SPMC (D-NOTIF-BITMAP); held
    /// across the forwarded CREATE/DESTROY so two CPUs cannot both pass the check.
    notif_bitmap: spin::Mutex<bool>,
    /// Per convention, bit `row`: a validated call of that function came back from the SPMC
    /// as FFA_ERROR(NOT_SUPPORTED), so FFA_FEATURES no longer promises it (D-FEATURES-LEARNED).
    spmc_refused: [AtomicU64; 2],
    /// The (Secure partition, vCPU) pairs the host may resume with FFA_RUN (D-RUN-STATE).
    runnable: spin::Mutex<RunState>,
}

impl Proxy {
    /// A proxy that is off: every FF-A call gets SMCCC NOT_SUPPORTED. `const`, so it can
    /// initialise a static before probing.
    pub const fn disabled() -> Self {
        Self::with_state(State::Off(OffReason::NotProbed))
    }

    const fn with_state(state: State) -> Self {
        let told = match state {
            State::On { max, .. } => Some(max),
            State::Off(_) => None,
        };
        Proxy {
            state,
            negotiation: Negotiation::new(told),
            counters: Counters::new(),
            memory: false,
            mem: spin::Mutex::new(MemState::new()),
            notif_bitmap: spin::Mutex::new(false),
            spmc_refused: [AtomicU64::new(0), AtomicU64::new(0)],
            runnable: spin::Mutex::new(RunState::new()),
        }
    }

    /// Gives the proxy its mailbox (see [`MemConfig`]); without this the mailbox and memory
    /// ABIs answer NOT_SUPPORTED. The host's pages are `mm`'s, which every call that needs
    /// them is given. A configuration whose mailbox pages are unaligned, equal, or host RAM
    /// in `mm` is ignored (the proxy stays without memory).
    pub fn with_memory(mut self, config: MemConfig, mm: &MemProtect) -> Self {
        if let Some(mem) = MemState::configured(config, mm) {
            self.mem = spin::Mutex::new(mem);
            self.memory = true;
        }
        self
    }

    /// The hypervisor's own (TX, RX) pages, if configured.
    pub fn mailbox(&self) -> Option<(u64, u64)> {
        self.mem.lock().hyp_pages()
    }

    /// Probes the SPMC at boot: `FFA_VERSION(1.2)`, then `FFA_ID_GET` (must be SUCCESS with
    /// ID 0), then, from v1.1, `FFA_SPM_ID_GET` for the console (its failure is not fatal).
    /// `smccc_version` is the firmware's `SMCCC_VERSION` answer; below 1.2 (or
    /// NOT_SUPPORTED) the proxy is off without any FF-A SMC.
    ///
    /// No `FFA_FEATURES` and no mailbox registration here: the host's queries are forwarded
    /// at run time, and the hypervisor's mailbox is registered at the host's first
    /// `FFA_RXTX_MAP`, after the host's `FFA_VERSION` (`rxtx.rs`).
    pub fn probe(conduit: &mut impl SmcConduit, smccc_version: u32) -> Self {
        if smccc_version & (1 << 31) != 0 || smccc_version < 0x1_0002 {
            return Self::with_state(State::Off(OffReason::SmcccTooOld(smccc_version)));
        }
        let mut call: SmcRegs = [0; 18];
        call[0] = fid::VERSION.into();
        call[1] = Version::LATEST.bits().into();
        let reply = conduit.smc(&call);
        let w0 = reply[0] as u32;
        if w0 & (1 << 31) != 0 || reply[0] >> 32 != 0 {
            return Self::with_state(State::Off(OffReason::NoSpmc(reply[0])));
        }
        if w0 >> 16 != 1 {
            return Self::with_state(State::Off(OffReason::UnsupportedMajor(w0)));
        }
        let max = Version::from_minor((w0 & 0xFFFF) as u16).unwrap_or(Version::LATEST);

        let mut call: SmcRegs = [0; 18];
        call[0] = fid::ID_GET.into();
        let reply = conduit.smc(&call);
        if reply[0] != u64::from(fid::SUCCESS_32) || reply[2] & 0xFFFF != u64::from(HOST_ID) {
            return Self::with_state(State::Off(OffReason::IdGet(reply[0], reply[2])));
        }
        let spmc_id = if max >= Version::V1_1 {
            let mut call: SmcRegs = [0; 18];
            call[0] = fid::SPM_ID_GET.into();
            let reply = conduit.smc(&call);
            (reply[0] == u64::from(fid::SUCCESS_32)).then_some(reply[2] as u16)
        } else {
            None
        };
        Self::with_state(State::On {
            firmware: w0,
            max,
            spmc_id,
        })
    }

    /// Whether `function_id` (w0) is in the FF-A range: owner Standard Secure Service (4) and
    /// function number 0x60..=0xFF, whatever the call type, convention, hint or reserved
    /// bits. The router must send all of these to [`Proxy::handle`] (never forward them
    /// raw): the SPMD decodes by function number, so a malformed ID must not reach it.
    pub const fn is_ffa_call(function_id: u32) -> bool {
        let number = function_id & 0xFFFF;
        smccc::owner(function_id) == smccc::owners::STANDARD && number >= 0x60 && number <= 0xFF
    }

    /// The short path's one test for SMCCC hygiene and the table's range: with the call
    /// hint and the convention bit cleared, x0 must be 0x8400_0060 + n, n < 0xA0 (so x0[63:32]
    /// clear, a fast call, ID bits [23:17] clear, owner 4, a function number 0x60..=0xFF),
    /// and the immediate 0. `Some(n)` for such a call: the trap path sends these to
    /// [`Proxy::handle_explained`] before any other routing.
    #[inline(always)]
    pub fn short_path_number(x0: u64, smc_imm: u16) -> Option<usize> {
        let n = (x0 & !u64::from(CALL_HINT_SVE_NOT_LIVE | smccc::SMC64)).wrapping_sub(0x8400_0060);
        (smc_imm == 0 && n < 0xA0).then_some(n as usize)
    }

    /// Whether the proxy is on, and why not.
    pub fn state(&self) -> State {
        self.state
    }

    /// The negotiated version and whether negotiation is final.
    pub fn negotiated(&self) -> Option<(Version, bool)> {
        self.negotiation.current()
    }

    /// The audit trail.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// A snapshot of the memory side (this proxy's state, then `mm`'s: lock order).
    pub fn memory_status(&self, mm: &MemProtect) -> MemStatus {
        self.mem.lock().status(mm)
    }

    /// Handles one trapped FF-A SMC: `regs` holds the host's x0..x17 on entry and the reply on
    /// return; `smc_imm` is the immediate of the `smc` instruction (ESR_EL2.ISS[15:0]).
    /// Never panics, never allocates; the conduit is used only for calls that passed every
    /// check, and its memory side only for pages the proxy checked (the host's pinned
    /// mailbox, the hypervisor's own).
    pub fn handle(
        &self,
        regs: &mut SmcRegs,
        smc_imm: u16,
        mm: &MemProtect,
        conduit: &mut impl Platform,
    ) -> Outcome {
        self.handle_explained(regs, smc_imm, mm, conduit, || true)
    }

    /// [`Proxy::handle`] for the trap path: `explain` is asked (once) only when a field check
    /// fails, and says whether the record should name the field ([`Reason::Field`]) or only
    /// say that one failed ([`Reason::Unexplained`]). The trap path passes its console rate
    /// limit, so that a rejection it will not print costs no search through the schema.
    /// Replies, counters and everything sent to the SPMC are the same either way.
    ///
    /// The common calls take a short path: the host's registers are checked in place against
    /// the row's precompiled masks, and a forwarded call goes to the SPMC from the same
    /// registers (a valid call's carried fields are all the host set, so the register set
    /// "rebuilt from the schema" is the host's, with the canonical function ID in x0), the
    /// reply filtered in place.
    #[inline(always)]
    pub fn handle_explained(
        &self,
        regs: &mut SmcRegs,
        smc_imm: u16,
        mm: &MemProtect,
        conduit: &mut impl Platform,
        explain: impl Fn() -> bool,
    ) -> Outcome {
        let x0 = regs[0];
        // SMCCC hygiene and the table's range in one test ([`Proxy::short_path_number`]).
        // Anything else, and anything but the common cases below, takes the general path,
        // which decides in the order the module documentation gives.
        let Some(n) = Self::short_path_number(x0, smc_imm) else {
            return self.handle_general(regs, smc_imm, mm, conduit, explain);
        };
        let conv = if x0 & u64::from(smccc::SMC64) != 0 {
            Conv::Smc64
        } else {
            Conv::Smc32
        };
        let row = abi::row_of(n);
        // A settled negotiation implies the proxy is on: the version gate and FFA_VERSION
        // are only reached once `handle_general` has seen `State::On` (an off proxy's
        // negotiation stays NONE), so this one load is the state test too.
        let (Some(c), Some(ver)) = (COMPILED.get(row), self.negotiation.settled()) else {
            return self.handle_general(regs, smc_imm, mm, conduit, explain);
        };
        // Class bits zero unless the row defines this convention, the function exists at `ver`
        // and the short path handles its policy (forward, FFA_FEATURES, FFA_ID_GET).
        let f = c.fast[conv as usize][ver.index()];
        let found = Some((row, conv));
        if f & fast::CLASS == 0 {
            return self.memory_short(regs, smc_imm, found, c, f, ver, mm, conduit, explain);
        }
        let layout = LAYOUTS
            .get(usize::from(f & fast::LAYOUT))
            .unwrap_or(&LAYOUTS[0]);
        let mbz = if f & fast::HIGH_MBZ != 0 { u64::MAX } else { 0 };
        if validate::bad_bits(c, layout, mbz, regs) != 0 {
            return if explain() {
                self.reject_explained(regs, found, conv, ver)
            } else {
                self.reject_quiet(regs, found, conv)
            };
        }
        match f & fast::CLASS {
            fast::FORWARD => self.forward_in_place(regs, found, c, f, ver, conduit),
            fast::FEATURES => self.features(regs, ver, conduit),
            _ => {
                self.counters.record(found, Event::Emulated);
                reply_success(regs, conv, u64::from(HOST_ID), 0);
                Outcome::Emulated
            }
        }
    }

    /// The mailbox and memory ABIs from [`Proxy::handle_explained`]'s short path, which has
    /// done what [`Proxy::handle_general`] does before its validation (hygiene, the lookup, a
    /// settled version gate, so the proxy is on): a valid call goes to the same handler
    /// without doing those again. Any other call the short path does not take goes to
    /// [`Proxy::handle_general`].
    #[inline(never)]
    #[expect(clippy::too_many_arguments, reason = "the call's decoded parts")]
    fn memory_short(
        &self,
        regs: &mut SmcRegs,
        smc_imm: u16,
        found: Option<(usize, Conv)>,
        c: &Compiled,
        f: u16,
        ver: Version,
        mm: &MemProtect,
        conduit: &mut impl Platform,
        explain: impl Fn() -> bool,
    ) -> Outcome {
        let layout = LAYOUTS
            .get(usize::from(f & fast::LAYOUT))
            .unwrap_or(&LAYOUTS[0]);
        let mbz = if f & fast::HIGH_MBZ != 0 { u64::MAX } else { 0 };
        // A rejection, like any call but a valid memory one, takes the general path (which
        // checks again: the same answer, and no second copy of its code here).
        let (Some((_, conv)), Class::Emulate(h)) = (found, c.class[ver.index()]) else {
            return self.handle_general(regs, smc_imm, mm, conduit, explain);
        };
        if !h.needs_memory() || validate::bad_bits(c, layout, mbz, regs) != 0 {
            return self.handle_general(regs, smc_imm, mm, conduit, explain);
        }
        let function_id = (regs[0] as u32) & !CALL_HINT_SVE_NOT_LIVE;
        self.memory_call(regs, found, conv, ver, function_id, h, mm, conduit)
    }

    /// Everything [`Proxy::handle_explained`]'s short path does not take, in the documented
    /// order: hygiene, proxy state, lookup, FFA_VERSION, version gate, policy, validation.
    #[inline(never)]
    fn handle_general(
        &self,
        regs: &mut SmcRegs,
        smc_imm: u16,
        mm: &MemProtect,
        conduit: &mut impl Platform,
        explain: impl Fn() -> bool,
    ) -> Outcome {
        let x0 = regs[0];
        // SMCCC hygiene in one test: no immediate, x0[63:32] clear, a fast call, ID bits
        // [23:17] clear (the call hint, bit 16, is ignored). The details in `hygiene`.
        if smc_imm != 0 || (x0 ^ u64::from(smccc::FAST_CALL)) & HYGIENE_MASK != 0 {
            return self.reject_hygiene(regs, smc_imm);
        }
        let function_id = (x0 as u32) & !CALL_HINT_SVE_NOT_LIVE;
        let found = abi::lookup(function_id);
        let State::On { max, .. } = self.state else {
            return self.unsupported(regs, found, Conv::of(function_id), None);
        };
        let Some((row, conv)) = found else {
            // Unknown: still the version gate first (it may freeze negotiation), as for any
            // call other than FFA_VERSION.
            return self.unknown(regs, function_id);
        };
        if row == VERSION_ROW {
            return self.version(regs, max, conduit);
        }
        let ver = match self.negotiation.for_call() {
            Gate::Ready(v) => v,
            gate => return self.not_ready(regs, found, conv, gate),
        };
        let Some(c) = COMPILED.get(row) else {
            return self.unsupported(regs, None, conv, Some(Status::NotSupported));
        };
        let class = c.class[ver.index()];
        if class == Class::Unsupported {
            return self.unsupported(regs, found, conv, Some(Status::NotSupported));
        }
        let layout = validate::layout(c, conv, ver);
        if validate::bad_bits(c, layout, validate::high_mbz(c, conv, ver), regs) != 0 {
            return if explain() {
                self.reject_explained(regs, found, conv, ver)
            } else {
                self.reject_quiet(regs, found, conv)
            };
        }
        match class {
            // The short path forwards in place; here (the first call after negotiation, and
            // the rare cases) the rebuilt copy is forwarded: the same registers either way.
            Class::Forward => self.forward_copy(regs, found, conv, ver, conduit),
            Class::Emulate(Handler::Features) => self.features(regs, ver, conduit),
            Class::Emulate(Handler::IdGet) => {
                self.counters.record(found, Event::Emulated);
                reply_success(regs, conv, u64::from(HOST_ID), 0);
                Outcome::Emulated
            }
            // FFA_VERSION was dispatched above, Unsupported refused above.
            Class::Emulate(Handler::Version) | Class::Unsupported => {
                self.unsupported(regs, found, conv, Some(Status::NotSupported))
            }
            Class::Emulate(Handler::NotifBitmap) => {
                self.notif_bitmap(regs, found, conv, ver, function_id, conduit)
            }
            Class::Emulate(Handler::Run) => self.run(regs, found, conv, ver, conduit),
            Class::Emulate(Handler::NotifInfoGet) => {
                let outcome = self.forward_copy(regs, found, conv, ver, conduit);
                if matches!(outcome, Outcome::Forwarded) && handler::is_success(regs[0]) {
                    self.runnable.lock().notifications_pending(regs);
                }
                outcome
            }
            Class::Emulate(h) => {
                self.memory_call(regs, found, conv, ver, function_id, h, mm, conduit)
            }
        }
    }

    /// A call that fails SMCCC hygiene: SMCCC NOT_SUPPORTED, counted as rejected.
    #[cold]
    #[inline(never)]
    fn reject_hygiene(&self, regs: &mut SmcRegs, smc_imm: u16) -> Outcome {
        let x0 = regs[0];
        let function_id = (x0 as u32) & !CALL_HINT_SVE_NOT_LIVE;
        let found = abi::lookup(function_id);
        let reason = hygiene(x0, smc_imm).unwrap_or(Reason::ReservedIdBits);
        self.counters.record(found, Event::Rejected);
        reply_smccc_not_supported(regs, Conv::of(function_id));
        Outcome::Rejected(Rejection {
            x0,
            name: name_of(found),
            reason,
        })
    }

    /// Nothing forwarded, counted as unsupported: SMCCC NOT_SUPPORTED (`status` `None`: the
    /// proxy is off) or `FFA_ERROR(status)`.
    #[cold]
    #[inline(never)]
    fn unsupported(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        status: Option<Status>,
    ) -> Outcome {
        self.counters.record(found, Event::Unsupported);
        match status {
            None => reply_smccc_not_supported(regs, conv),
            Some(status) => reply_error(regs, conv, status),
        }
        if status == Some(Status::Busy) {
            Outcome::Busy
        } else {
            Outcome::Unsupported
        }
    }

    /// An FF-A-numbered ID that is not in the table: the version gate still applies.
    #[cold]
    #[inline(never)]
    fn unknown(&self, regs: &mut SmcRegs, function_id: u32) -> Outcome {
        let conv = Conv::of(function_id);
        match self.negotiation.for_call() {
            Gate::Ready(_) => self.unsupported(regs, None, conv, Some(Status::NotSupported)),
            gate => self.not_ready(regs, None, conv, gate),
        }
    }

    /// The version gate said no: NOT_SUPPORTED before negotiation, BUSY during one.
    #[cold]
    #[inline(never)]
    fn not_ready(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        gate: Gate,
    ) -> Outcome {
        let status = match gate {
            Gate::Busy => Status::Busy,
            Gate::NotNegotiated | Gate::Ready(_) => Status::NotSupported,
        };
        self.unsupported(regs, found, conv, Some(status))
    }

    /// A call whose fields fail validation: INVALID_PARAMETERS, nothing forwarded, and a
    /// record that names the field.
    #[cold]
    #[inline(never)]
    fn reject_explained(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        ver: Version,
    ) -> Outcome {
        let x0 = regs[0];
        let Some((row, _)) = found else {
            return self.reject_quiet(regs, found, conv);
        };
        self.counters.record(found, Event::Rejected);
        let v = validate::explain(row, conv, ver, regs);
        reply_error(regs, conv, Status::InvalidParameters);
        Outcome::Rejected(Rejection {
            x0,
            name: name_of(found),
            reason: Reason::Field(v),
        })
    }

    /// [`Proxy::reject_explained`] for a record nobody prints ([`Reason::Unexplained`]): the
    /// same counters and answer, without the search through the schema. What a rejected call
    /// costs on the trap path, once the console's rate limit is reached.
    #[inline(always)]
    fn reject_quiet(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
    ) -> Outcome {
        let x0 = regs[0];
        self.counters.record(found, Event::Rejected);
        reply_error(regs, conv, Status::InvalidParameters);
        Outcome::Rejected(Rejection {
            x0,
            name: "FF-A call",
            reason: Reason::Unexplained,
        })
    }

    /// FFA_NOTIFICATION_BITMAP_CREATE/_DESTROY (validated): DENIED at EL2 when the bitmap
    /// already exists (CREATE) or does not (DESTROY), as DEN0077 asks and the SPMC may not
    /// check; otherwise forwarded, and a SUCCESS reply records the new state.
    #[inline(always)]
    fn notif_bitmap(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        ver: Version,
        function_id: u32,
        conduit: &mut impl SmcConduit,
    ) -> Outcome {
        let create = function_id == fid::NOTIFICATION_BITMAP_CREATE;
        let mut exists = self.notif_bitmap.lock();
        if *exists == create {
            // The spec's answer for the bitmap's state, given at EL2: counted emulated, as
            // every answer EL2 gives for a valid call is; nothing forwarded.
            self.counters.record(found, Event::Emulated);
            reply_error(regs, conv, Status::Denied);
            return Outcome::Emulated;
        }
        let outcome = self.forward_copy(regs, found, conv, ver, conduit);
        if matches!(outcome, Outcome::Forwarded) && handler::is_success(regs[0]) {
            *exists = create;
        }
        outcome
    }

    /// The mailbox and memory ABIs (validated): they keep the rebuilt call while they work.
    #[inline(never)]
    #[expect(clippy::too_many_arguments, reason = "the call's decoded parts")]
    fn memory_call(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        ver: Version,
        function_id: u32,
        h: Handler,
        mm: &MemProtect,
        conduit: &mut impl Platform,
    ) -> Outcome {
        if found.is_none() {
            return self.unsupported(regs, None, conv, Some(Status::NotSupported));
        }
        if !self.memory {
            self.counters.record(found, Event::Unsupported);
            reply_error(regs, conv, Status::NotSupported);
            return Outcome::Unsupported;
        }
        // What `validate::rebuild` would return, without checking again (the caller did).
        let out = rebuilt_call(regs, function_id, ver);
        let call = Call {
            found,
            conv,
            // Looked up from `found` only if a refusal needs it (`Proxy::refused`).
            name: "",
            ver,
            out: &out,
        };
        // The proxy's state lock for the handler (it takes the memory lock inside: lock
        // order), released before the answer is written.
        let (result, lost) = {
            let mut guard = self.mem.lock();
            let mem = &mut *guard;
            let lost_before = (mem.lost_transactions, mem.lost_pages);
            let result = match h {
                Handler::RxTxMap => rxtx::rxtx_map(mem, mm, &call, conduit),
                Handler::RxTxUnmap => rxtx::rxtx_unmap(mem, mm),
                Handler::RxRelease => rxtx::rx_release(mem),
                Handler::PartitionInfoGet => rxtx::partition_info_get(mem, &call, conduit),
                Handler::MemShare => memory::mem_share(mem, mm, &call, conduit),
                Handler::MemReclaim => memory::mem_reclaim(mem, mm, &call, conduit),
                Handler::MemFragTx => memory::mem_frag_tx(mem, mm, &call, conduit),
                // Dispatched by the caller.
                Handler::Version
                | Handler::Features
                | Handler::IdGet
                | Handler::NotifBitmap
                | Handler::Run
                | Handler::NotifInfoGet => {
                    Err(Refusal::refused(Status::NotSupported, "unreachable", 0))
                }
            };
            let lost = (
                (mem.lost_transactions - lost_before.0) as u64,
                mem.lost_pages - lost_before.1,
            );
            (result, lost)
        };
        if lost.0 != 0 {
            // D-LOST-PAGES: counted here; the record's text says so (`memory.rs`).
            self.counters.record_lost(lost.0, lost.1);
        }
        self.answer(regs, &call, result, |regs| {
            self.forward(regs, found, conv, &out, conduit)
        })
    }

    /// The one place an emulated ABI's result becomes the host's registers, the audit
    /// counters and the [`Outcome`]. `forward` sends the call on for [`Reply::Forward`].
    fn answer(
        &self,
        regs: &mut SmcRegs,
        call: &Call<'_>,
        result: Result<Reply, Refusal>,
        forward: impl FnOnce(&mut SmcRegs) -> Outcome,
    ) -> Outcome {
        let (found, conv) = (call.found, call.conv);
        let event = match result {
            Ok(Reply::Forward) => return forward(regs),
            Ok(Reply::Emulated { w2, w3 }) => {
                reply_success(regs, conv, w2, w3);
                Event::Emulated
            }
            Ok(Reply::NotSupported) => {
                reply_error(regs, conv, Status::NotSupported);
                Event::Emulated
            }
            Ok(Reply::W0(w0)) => {
                reply_w0(regs, w0);
                Event::Emulated
            }
            Ok(Reply::Success { w2, w3 }) => {
                reply_success(regs, conv, w2, w3);
                Event::Forwarded
            }
            Ok(Reply::Error(code)) => {
                reply_error_code(regs, conv, code);
                Event::Forwarded
            }
            Ok(Reply::FragRx { handle, offset }) => {
                reply_frag_rx(regs, handle, offset);
                Event::Forwarded
            }
            Err(refusal) => return self.refused(regs, call, refusal),
        };
        self.counters.record(found, event);
        if event == Event::Emulated {
            Outcome::Emulated
        } else {
            Outcome::Forwarded
        }
    }

    /// [`Proxy::answer`] for a refusal: nothing of the host's forwarded (counted rejected),
    /// or a forwarded call whose reply did not fit (counted forwarded and as a bad reply).
    ///
    /// Inlined, though cold: out of line, its `&Call` and `Refusal` would need a stack frame
    /// in every caller, which `FFA_FEATURES`'s forwarded path would pay (two instructions);
    /// inlined, each caller keeps only the arms its handlers can return (the same image size).
    #[inline(always)]
    fn refused(&self, regs: &mut SmcRegs, call: &Call<'_>, refusal: Refusal) -> Outcome {
        let x0 = regs[0];
        let (found, conv) = (call.found, call.conv);
        let name = if call.name.is_empty() {
            name_of(found)
        } else {
            call.name
        };
        match refusal {
            Refusal::Field(v) => self.reject(regs, found, conv, name, v),
            Refusal::Refused {
                status,
                what,
                value,
            } => {
                self.counters.record(found, Event::Rejected);
                reply_error(regs, conv, status);
                Outcome::Rejected(Rejection {
                    x0,
                    name,
                    reason: Reason::Refused {
                        status,
                        what,
                        value,
                    },
                })
            }
            Refusal::BadReply { what, value } => {
                self.counters.record(found, Event::Forwarded);
                self.counters.record(found, Event::BadReply);
                reply_error_code(regs, conv, Status::Aborted.w());
                Outcome::ReplyRefused(Rejection {
                    x0,
                    name,
                    reason: Reason::Refused {
                        status: Status::Aborted,
                        what,
                        value,
                    },
                })
            }
        }
    }

    fn reject(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        name: &'static str,
        v: Violation,
    ) -> Outcome {
        let x0 = regs[0];
        self.counters.record(found, Event::Rejected);
        reply_error(regs, conv, Status::InvalidParameters);
        Outcome::Rejected(Rejection {
            x0,
            name,
            reason: Reason::Field(v),
        })
    }

    /// Sends the rebuilt `out` and filters the reply into `regs` (the emulated ABIs'
    /// [`Reply::Forward`], and calls [`Proxy::forward_in_place`] does not take).
    fn forward(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        out: &SmcRegs,
        conduit: &mut impl SmcConduit,
    ) -> Outcome {
        let Some((c, x0)) = found
            .and_then(|(row, _)| COMPILED.get(row))
            .map(|c| (c, regs[0]))
        else {
            return Outcome::Unsupported;
        };
        self.counters.record(found, Event::Forwarded);
        let reply = conduit.smc(out);
        match validate::filter_reply(c, conv, &reply, regs) {
            Ok(()) => {
                if regs[0] == u64::from(fid::ERROR) {
                    self.learn(found, regs[2]);
                } else if regs[0] == u64::from(fid::INTERRUPT) || regs[0] == u64::from(fid::YIELD) {
                    self.preempted(regs[1]);
                }
                Outcome::Forwarded
            }
            Err(()) => self.bad_reply_to(regs, found, conv, name_of(found), x0, reply[0]),
        }
    }

    /// Forwards a validated call of row `c` (with `f`, its [`Compiled::fast`] entry at `ver`)
    /// from the host's registers in place, when `f` allows ([`fast::IN_PLACE`]: v1.2,
    /// nothing in x8..x17 either way): x0 becomes the canonical function ID, x1..x17 are the
    /// host's (all carried or zero, as validation showed), the SPMC's x0..x7 are filtered
    /// into place. Exactly what [`Proxy::forward`] does with the rebuilt call, without the
    /// copies. The other calls (x8..x17 carried or defined in a reply, calls before v1.2)
    /// take the copying path, [`Proxy::forward_copy`].
    #[inline(always)]
    fn forward_in_place(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        c: &Compiled,
        f: u16,
        ver: Version,
        conduit: &mut impl SmcConduit,
    ) -> Outcome {
        let Some((_, conv)) = found else {
            return Outcome::Unsupported;
        };
        if f & fast::IN_PLACE == 0 {
            return self.forward_copy(regs, found, conv, ver, conduit);
        }
        let x0 = regs[0];
        self.counters.record(found, Event::Forwarded);
        let canonical = x0 & !u64::from(CALL_HINT_SVE_NOT_LIVE);
        let reply = conduit.smc_in_place(canonical, regs, High::Keep);
        self.filter_in_place(regs, found, conv, c, x0, &reply)
    }

    /// The SPMC's `reply` (x0..x7) to a call forwarded in place, filtered into `regs`; `x0` is
    /// the host's. Out of line: the trap vector forwards the hot calls itself, and this code is
    /// shared with [`Proxy::fast_finish`].
    #[inline(never)]
    fn filter_in_place(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        c: &Compiled,
        x0: u64,
        reply: &[u64; 8],
    ) -> Outcome {
        match validate::filter_low(c, reply) {
            Some(low) => {
                store_low(regs, &low);
                // The one test the forwarded fast path pays for D-FEATURES-LEARNED.
                if low[0] == u64::from(fid::ERROR) {
                    self.learn(found, low[2]);
                } else if low[0] == u64::from(fid::INTERRUPT) || low[0] == u64::from(fid::YIELD) {
                    // The vector passes these on to here (they are never a fast entry's
                    // expected reply): D-RUN-STATE must see them.
                    self.preempted(low[1]);
                }
                Outcome::Forwarded
            }
            None => self.bad_reply_to(regs, found, conv, name_of(found), x0, reply[0]),
        }
    }

    /// The fast path's table ([`super::fast`]) once this proxy may use it: on, negotiation
    /// settled at v1.2. Settled is final, so once `Some`, always `Some`.
    pub fn fast_table(&self) -> Option<&'static super::fast::FastTable> {
        let on = matches!(self.state, State::On { .. });
        (on && self.negotiation.settled() == Some(Version::V1_2))
            .then_some(&super::fast::FAST_TABLE)
    }

    /// Finishes a call the fast path forwarded in place (it counted it) whose reply it did not
    /// take: `regs[..8]` hold the SPMC's x0..x7 (x8..x17 the call's, zero), `x0` is the
    /// host's x0. Exactly the end of the general path's forwarding: the full reply filter,
    /// learning from NOT_SUPPORTED, ABORTED for a reply the ABI does not allow.
    pub fn fast_finish(&self, regs: &mut SmcRegs, x0: u64) -> Outcome {
        let found = abi::lookup((x0 as u32) & !CALL_HINT_SVE_NOT_LIVE);
        let Some(c) = found.and_then(|(row, _)| COMPILED.get(row)) else {
            return self.unsupported(regs, None, Conv::Smc32, Some(Status::NotSupported));
        };
        let conv = Conv::of(x0 as u32);
        let [r0, r1, r2, r3, r4, r5, r6, r7, ..] = *regs;
        let reply = [r0, r1, r2, r3, r4, r5, r6, r7];
        self.filter_in_place(regs, found, conv, c, x0, &reply)
    }

    /// [`Proxy::forward`] with the call rebuilt here.
    #[inline(never)]
    fn forward_copy(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        ver: Version,
        conduit: &mut impl SmcConduit,
    ) -> Outcome {
        if found.is_none() {
            return Outcome::Unsupported;
        }
        // Every caller validated the call: `validate::rebuild` would return this.
        let function_id = (regs[0] as u32) & !CALL_HINT_SVE_NOT_LIVE;
        let out = rebuilt_call(regs, function_id, ver);
        self.forward(regs, found, conv, &out, conduit)
    }

    /// A forwarded call came back FFA_INTERRUPT or FFA_YIELD (filtered; `w1` names the
    /// partition's vCPU preempted or blocked): the host may resume it with FFA_RUN.
    #[cold]
    #[inline(never)]
    fn preempted(&self, w1: u64) {
        self.runnable.lock().preempted(w1);
    }

    /// `FFA_RUN` (validated): forwarded only to a (partition, vCPU) the proxy saw left in a
    /// state FFA_RUN resumes (D-RUN-STATE), which the forward consumes; anything else is
    /// DENIED at EL2 with nothing forwarded. A BUSY answer (the SPMC ran nothing) puts the
    /// pair back; an FFA_INTERRUPT or FFA_YIELD answer records it again (`forward`).
    #[inline(never)]
    fn run(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        ver: Version,
        conduit: &mut impl SmcConduit,
    ) -> Outcome {
        let target = regs[1] as u32;
        // The lock is released before the SMC: a long FFA_RUN holds up no other CPU.
        let taken = self.runnable.lock().take(target);
        let Some(taken) = taken else {
            let call = Call {
                found,
                conv,
                name: "FFA_RUN",
                ver,
                out: &[0; 18],
            };
            let refusal = Refusal::refused(
                Status::Denied,
                "FFA_RUN target not preempted, blocked or with notifications pending",
                u64::from(target),
            );
            return self.refused(regs, &call, refusal);
        };
        let outcome = self.forward_copy(regs, found, conv, ver, conduit);
        if matches!(outcome, Outcome::Forwarded)
            && regs[0] == u64::from(fid::ERROR)
            && regs[2] == Status::Busy.w()
        {
            self.runnable.lock().put_back(taken);
        }
        outcome
    }

    /// Whether the host may resume `w1` (`endpoint << 16 | vCPU`) with FFA_RUN now.
    #[cfg(test)]
    pub(crate) fn may_run(&self, w1: u32) -> bool {
        self.runnable.lock().may_run(w1)
    }

    /// The resumable pairs, for tests comparing two proxies.
    #[cfg(test)]
    pub(crate) fn runnable_snapshot(&self) -> alloc::vec::Vec<u64> {
        self.runnable.lock().snapshot()
    }

    /// Records `w1` as resumable, as an FFA_INTERRUPT reply naming it would.
    #[cfg(test)]
    pub(crate) fn allow_run(&self, w1: u64) {
        self.runnable.lock().preempted(w1);
    }

    /// A validated, forwarded call came back FFA_ERROR with status `w2`: NOT_SUPPORTED means
    /// the SPMC does not implement the function for this caller, whatever its FFA_FEATURES
    /// said, so from now on FFA_FEATURES for it answers NOT_SUPPORTED (D-FEATURES-LEARNED).
    /// FFA_FEATURES's own forwarded queries teach nothing.
    #[cold]
    #[inline(never)]
    fn learn(&self, found: Option<(usize, Conv)>, w2: u64) {
        if let Some((row, conv)) = found
            && w2 == Status::NotSupported.w()
            && row != FEATURES_ROW
            && row < 64
        {
            self.spmc_refused[conv as usize].fetch_or(1 << row, Relaxed);
        }
    }

    /// The bitmap of [`Proxy::learn`] (word `conv`, bit `row`), for the trap vector's
    /// `FFA_FEATURES` (see [`super::fast`]).
    pub fn spmc_refused_bitmap(&self) -> &[AtomicU64; 2] {
        &self.spmc_refused
    }

    /// Whether the SPMC refused a validated call of function `row` in `conv` with
    /// NOT_SUPPORTED (D-FEATURES-LEARNED).
    fn spmc_refused(&self, row: usize, conv: Conv) -> bool {
        row < 64 && self.spmc_refused[conv as usize].load(Relaxed) & (1 << row) != 0
    }

    /// Counts a refused reply and answers FFA_ERROR(ABORTED); `x0` is the host's call,
    /// `reply0` the SPMC's x0.
    #[cold]
    fn bad_reply_to(
        &self,
        regs: &mut SmcRegs,
        found: Option<(usize, Conv)>,
        conv: Conv,
        name: &'static str,
        x0: u64,
        reply0: u64,
    ) -> Outcome {
        self.counters.record(found, Event::BadReply);
        reply_error(regs, conv, Status::Aborted);
        Outcome::ReplyRefused(Rejection {
            x0,
            name,
            reason: Reason::UnexpectedReply(reply0),
        })
    }

    /// `FFA_VERSION`: checked against the v1.0 schema, then negotiated. Errors are
    /// NOT_SUPPORTED in w0: the ABI has no FFA_ERROR return.
    #[inline(never)]
    fn version(&self, regs: &mut SmcRegs, max: Version, conduit: &mut impl SmcConduit) -> Outcome {
        let found = Some((VERSION_ROW, Conv::Smc32));
        let x0 = regs[0];
        let c = &COMPILED[VERSION_ROW];
        let layout = validate::layout(c, Conv::Smc32, Version::V1_0);
        if validate::bad_bits(c, layout, 0, regs) != 0 {
            let v = validate::explain(VERSION_ROW, Conv::Smc32, Version::V1_0, regs);
            self.counters.record(found, Event::Rejected);
            reply_w0(regs, NOT_SUPPORTED);
            return Outcome::Rejected(Rejection {
                x0,
                name: "FFA_VERSION",
                reason: Reason::Field(v),
            });
        }
        // Valid: w1 is the carried major.minor and nothing else.
        let call = Call {
            found,
            conv: Conv::Smc32,
            name: "FFA_VERSION",
            ver: max,
            out: &[0; 18],
        };
        let result = setup::version(&self.negotiation, regs[1], max, conduit);
        self.answer(regs, &call, result, |_| Outcome::Unsupported)
    }

    /// `FFA_FEATURES`, already validated (so `regs` holds exactly the carried fields).
    #[inline(never)]
    fn features(&self, regs: &mut SmcRegs, ver: Version, conduit: &mut impl SmcConduit) -> Outcome {
        let found = Some((FEATURES_ROW, Conv::Smc32));
        let call = Call {
            found,
            conv: Conv::Smc32,
            name: "FFA_FEATURES",
            ver,
            out: &[0; 18],
        };
        let result = setup::features(regs[1] as u32, ver, self.memory, |row, conv| {
            self.spmc_refused(row, conv)
        });
        self.answer(regs, &call, result, |regs| {
            let c = &COMPILED[FEATURES_ROW];
            let f = c.fast[Conv::Smc32 as usize][ver.index()];
            self.forward_in_place(regs, found, c, f, ver, conduit)
        })
    }
}

/// The row's name for a record, or "unknown".
fn name_of(found: Option<(usize, Conv)>) -> &'static str {
    found.map_or("unknown", |(row, _)| abi::row_name(row))
}

/// The register set [`validate::rebuild`] returns for a call that passed
/// [`validate::bad_bits`] (which the caller checked): a valid call's x1..x7 are all carried
/// bits, so they are the host's; x8..x17 are the host's at v1.2 (carried, or checked zero) and
/// dropped before (not part of an FF-A call); x0 is `function_id`. Written out, so that the
/// copy is register moves and stores, not a `memset` and a `memcpy` of the whole block.
#[inline(always)]
fn rebuilt_call(regs: &SmcRegs, function_id: u32, ver: Version) -> SmcRegs {
    let high = if ver >= Version::V1_2 { u64::MAX } else { 0 };
    let [
        _,
        x1,
        x2,
        x3,
        x4,
        x5,
        x6,
        x7,
        x8,
        x9,
        x10,
        x11,
        x12,
        x13,
        x14,
        x15,
        x16,
        x17,
    ] = *regs;
    [
        u64::from(function_id),
        x1,
        x2,
        x3,
        x4,
        x5,
        x6,
        x7,
        x8 & high,
        x9 & high,
        x10 & high,
        x11 & high,
        x12 & high,
        x13 & high,
        x14 & high,
        x15 & high,
        x16 & high,
        x17 & high,
    ]
}

/// SMCCC checks made before anything else, as the newest pKVM's hyp-main makes them.
fn hygiene(x0: u64, smc_imm: u16) -> Option<Reason> {
    let id = (x0 as u32) & !CALL_HINT_SVE_NOT_LIVE;
    if smc_imm != 0 {
        Some(Reason::Immediate(smc_imm))
    } else if x0 >> 32 != 0 {
        Some(Reason::FunctionIdUpperBits)
    } else if id & smccc::FAST_CALL == 0 {
        Some(Reason::YieldingCall)
    } else if id & 0x00FE_0000 != 0 {
        Some(Reason::ReservedIdBits)
    } else {
        None
    }
}

/// x8..x17 of a reply that defines none of them: an SMC32 caller keeps its own (SMCCC
/// preserves them), an SMC64 caller gets zeros.
#[inline(always)]
fn clear_high(regs: &mut SmcRegs, conv: Conv) {
    if conv == Conv::Smc64 {
        // Written out: five pair stores, where `fill(0)` may become a `memset` call and a
        // loop is not unrolled at opt-level "z".
        let [x8, x9, x10, x11, x12, x13, x14, x15, x16, x17] = &mut regs[8..] else {
            return;
        };
        (*x8, *x9, *x10, *x11, *x12) = (0, 0, 0, 0, 0);
        (*x13, *x14, *x15, *x16, *x17) = (0, 0, 0, 0, 0);
    }
}

/// `low` into x0..x7: written out, eight stores where `copy_from_slice` is a `memcpy` call.
#[inline(always)]
fn store_low(regs: &mut SmcRegs, low: &[u64; 8]) {
    let [x0, x1, x2, x3, x4, x5, x6, x7, ..] = regs;
    (*x0, *x1, *x2, *x3) = (low[0], low[1], low[2], low[3]);
    (*x4, *x5, *x6, *x7) = (low[4], low[5], low[6], low[7]);
}

/// x0..x7 of an EL2 answer.
#[inline(always)]
fn set_low(regs: &mut SmcRegs, x0: u64, x2: u64, x3: u64) {
    regs[0] = x0;
    regs[1] = 0;
    regs[2] = x2;
    regs[3] = x3;
    regs[4] = 0;
    regs[5] = 0;
    regs[6] = 0;
    regs[7] = 0;
}

/// `FFA_ERROR(status)`, w1 = 0.
fn reply_error(regs: &mut SmcRegs, conv: Conv, status: Status) {
    reply_error_code(regs, conv, status.w());
}

/// `FFA_ERROR` with the status register `w2` (already known to be a valid code), w1 = 0.
fn reply_error_code(regs: &mut SmcRegs, conv: Conv, w2: u64) {
    set_low(regs, fid::ERROR.into(), w2, 0);
    store_barrier(regs);
    clear_high(regs, conv);
}

/// `FFA_SUCCESS_32` with w2, w3.
fn reply_success(regs: &mut SmcRegs, conv: Conv, w2: u64, w3: u64) {
    set_low(regs, fid::SUCCESS_32.into(), w2, w3);
    store_barrier(regs);
    clear_high(regs, conv);
}

/// Keeps the zero stores before and after it apart: merged, x4..x17 of an SMC64 answer
/// become one `memset` call of 112 bytes (about 65 instructions where the stores are 7).
#[inline(always)]
fn store_barrier(regs: &mut SmcRegs) {
    core::hint::black_box(regs);
}

/// A bare w0 answer (FFA_VERSION, an SMC32 call).
fn reply_w0(regs: &mut SmcRegs, w0: u64) {
    set_low(regs, w0, 0, 0);
}

/// SMCCC NOT_SUPPORTED (-1 in x0), as firmware answers an unknown function.
fn reply_smccc_not_supported(regs: &mut SmcRegs, conv: Conv) {
    reply_w0(regs, NOT_SUPPORTED);
    clear_high(regs, conv);
}

/// FFA_MEM_FRAG_RX to the host: send the fragment at `offset` of transaction `handle`.
fn reply_frag_rx(regs: &mut SmcRegs, handle: u64, offset: usize) {
    regs.fill(0);
    regs[0] = fid::MEM_FRAG_RX.into();
    regs[1] = handle & 0xFFFF_FFFF;
    regs[2] = handle >> 32;
    regs[3] = offset as u64;
}

#[cfg(test)]
mod rebuilt_call_tests {
    use super::*;

    /// [`rebuilt_call`] is what [`validate::rebuild`] returns, for every row, convention and
    /// version, on register sets that pass validation (random bits inside the carried masks,
    /// the must-be-one bits set, x8..x17 random unless they must be zero), and on sets that
    /// differ only where rebuild drops registers.
    #[test]
    fn rebuilt_call_is_validate_rebuild_for_valid_calls() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut checked = 0;
        for (row, c) in COMPILED.iter().enumerate() {
            for conv in [Conv::Smc32, Conv::Smc64] {
                let Some(function_id) = abi::ROWS[row].function_id(conv) else {
                    continue;
                };
                for ver in Version::ALL {
                    let layout = validate::layout(c, conv, ver);
                    let mbz = validate::high_mbz(c, conv, ver);
                    for _ in 0..64 {
                        let mut regs = [0u64; 18];
                        regs[0] = u64::from(function_id);
                        for (r, carried) in regs[1..8].iter_mut().zip(layout.carried) {
                            *r = next() & carried;
                        }
                        regs[1] |= u64::from(c.ones_mask) & layout.carried[0];
                        for r in &mut regs[8..] {
                            *r = next() & !mbz;
                        }
                        if validate::bad_bits(c, layout, mbz, &regs) != 0 {
                            continue; // a conditional field: not a valid call
                        }
                        let want = validate::rebuild(row, conv, ver, function_id, &regs);
                        assert_eq!(
                            want,
                            Ok(rebuilt_call(&regs, function_id, ver)),
                            "{} {conv:?} {ver:?} {regs:x?}",
                            abi::row_name(row)
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000, "only {checked} valid calls generated");
    }
}
