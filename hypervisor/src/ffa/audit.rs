//! The audit trail: per-function counters and rejection records.
//!
//! Counters are relaxed `AtomicU64`s, one set per function ID (each row, each convention),
//! plus one set for IDs that are not in the table. They are statistics: every increment is
//! atomic, but a reader on another CPU may see the counters of one call before another's.
//! A test can still prove that a rejected call never reached the SPMC: `forwarded` only moves
//! when the conduit was used.
//!
//! The trap path's fast path counts its calls (forwarded, emulated, rejected) in a per-CPU
//! block instead ([`CpuBlock`], attached once with [`Counters::attach`]): each CPU writes only
//! its own block, with a plain load and store (no exclusive pair, no shared cache line); the
//! readers add the blocks to the shared counters.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::abi::{Conv, ROWS, Status, TABLE};
use super::validate::Violation;
use crate::budget::MAX_CPUS;

/// A snapshot of one function's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls rebuilt and sent to the SPMC (including those whose reply was refused).
    pub forwarded: u64,
    /// Calls answered at EL2.
    pub emulated: u64,
    /// Calls that failed validation or SMCCC hygiene; nothing was forwarded.
    pub rejected: u64,
    /// Calls answered NOT_SUPPORTED (blocked, unknown, not in the negotiated version, not
    /// negotiated yet, proxy off) or BUSY; nothing was forwarded.
    pub unsupported: u64,
    /// Forwarded calls whose reply did not fit the ABI (the host got ABORTED).
    pub bad_replies: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.forwarded += other.forwarded;
        self.emulated += other.emulated;
        self.rejected += other.rejected;
        self.unsupported += other.unsupported;
        self.bad_replies += other.bad_replies;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "forwarded {} emulated {} rejected {} unsupported {} bad-replies {}",
            self.forwarded, self.emulated, self.rejected, self.unsupported, self.bad_replies
        )
    }
}

/// What happened to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Forwarded,
    Emulated,
    Rejected,
    Unsupported,
    BadReply,
}

struct Slot {
    forwarded: AtomicU64,
    emulated: AtomicU64,
    rejected: AtomicU64,
    unsupported: AtomicU64,
    bad_replies: AtomicU64,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            forwarded: AtomicU64::new(0),
            emulated: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            unsupported: AtomicU64::new(0),
            bad_replies: AtomicU64::new(0),
        }
    }

    fn bump(&self, event: Event) {
        let c = match event {
            Event::Forwarded => &self.forwarded,
            Event::Emulated => &self.emulated,
            Event::Rejected => &self.rejected,
            Event::Unsupported => &self.unsupported,
            Event::BadReply => &self.bad_replies,
        };
        c.fetch_add(1, Relaxed);
    }

    fn load(&self) -> Counts {
        Counts {
            forwarded: self.forwarded.load(Relaxed),
            emulated: self.emulated.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            unsupported: self.unsupported.load(Relaxed),
            bad_replies: self.bad_replies.load(Relaxed),
        }
    }
}

/// Slots of one event in one CPU's block of [`CpuCounts`] (at least the table's
/// `2 * rows`).
pub const CPU_SLOTS: usize = 96;
const _: () = assert!(TABLE.len() * 2 <= CPU_SLOTS);

/// The events the fast path counts per CPU, in the order of a CPU's block.
pub const CPU_EVENTS: usize = 3;
/// Index of `forwarded` among a CPU's block's events.
pub const CPU_FORWARDED: usize = 0;
/// Index of `emulated`.
pub const CPU_EMULATED: usize = 1;
/// Index of `rejected`.
pub const CPU_REJECTED: usize = 2;

/// One CPU's fast-path counters: per event ([`CPU_FORWARDED`], [`CPU_EMULATED`],
/// [`CPU_REJECTED`]), per slot `2 * row + conv`. Written only by that CPU (a relaxed load and
/// store: never two writers), read by anyone. The trap vector writes a counter at
/// `(event * CPU_SLOTS + slot) * 8` bytes into its CPU's block.
#[repr(C, align(64))]
pub struct CpuBlock(pub [[AtomicU64; CPU_SLOTS]; CPU_EVENTS]);

const _: () = assert!(core::mem::size_of::<CpuBlock>() == CPU_EVENTS * CPU_SLOTS * 8);

impl CpuBlock {
    /// All zero.
    pub const fn new() -> Self {
        CpuBlock([const { [const { AtomicU64::new(0) }; CPU_SLOTS] }; CPU_EVENTS])
    }
}

impl Default for CpuBlock {
    fn default() -> Self {
        Self::new()
    }
}

/// Where each CPU's [`CpuBlock`] is (the firmware keeps them above the CPUs' EL2 stacks, so
/// that the trap vector finds its own from SP).
pub trait CpuBlocks: Sync {
    /// CPU `cpu`'s block, if there is such a CPU.
    fn block(&self, cpu: usize) -> Option<&CpuBlock>;

    /// Counts one event of slot `slot` on CPU `cpu`: a relaxed load and store, no atomic
    /// read-modify-write (only CPU `cpu` writes its block; an index out of range is ignored).
    #[inline(always)]
    fn bump(&self, cpu: usize, event: usize, slot: usize) {
        if let Some(c) = self
            .block(cpu)
            .and_then(|b| b.0.get(event))
            .and_then(|e| e.get(slot))
        {
            c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
        }
    }

    /// The sum over CPUs of one event of one slot.
    fn sum(&self, event: usize, slot: usize) -> u64 {
        (0..MAX_CPUS)
            .filter_map(|cpu| self.block(cpu))
            .filter_map(|b| b.0.get(event).and_then(|e| e.get(slot)))
            .map(|c| c.load(Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// Per-CPU blocks side by side (for tests and tools; the firmware's are above its stacks).
pub struct CpuCounts(pub [CpuBlock; MAX_CPUS]);

impl CpuCounts {
    /// All zero.
    pub const fn new() -> Self {
        CpuCounts([const { CpuBlock::new() }; MAX_CPUS])
    }
}

impl Default for CpuCounts {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBlocks for CpuCounts {
    fn block(&self, cpu: usize) -> Option<&CpuBlock> {
        self.0.get(cpu)
    }
}

/// Per-function counters of the proxy. Read them with [`Counters::get`] or
/// [`Counters::iter`].
pub struct Counters {
    /// Slot `2 * row + conv`.
    slots: [Slot; TABLE.len() * 2],
    unknown: Slot,
    /// Memory transactions whose pages are withheld from the host for good (D-LOST-PAGES).
    lost_transactions: AtomicU64,
    /// Their pages.
    lost_pages: AtomicU64,
    /// The fast path's per-CPU counters, once attached.
    per_cpu: spin::Once<&'static dyn CpuBlocks>,
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters {
            slots: [const { Slot::new() }; TABLE.len() * 2],
            unknown: Slot::new(),
            lost_transactions: AtomicU64::new(0),
            lost_pages: AtomicU64::new(0),
            per_cpu: spin::Once::new(),
        }
    }

    /// Attaches the fast path's per-CPU counters (once; a second call is ignored) and
    /// returns the ones attached. From then on the readers include them.
    pub fn attach(&self, per_cpu: &'static dyn CpuBlocks) -> &'static dyn CpuBlocks {
        *self.per_cpu.call_once(|| per_cpu)
    }

    /// The per-CPU counters, if attached.
    pub fn per_cpu(&self) -> Option<&'static dyn CpuBlocks> {
        self.per_cpu.get().copied()
    }

    /// Slot `i`'s counts, the per-CPU ones included.
    fn load_slot(&self, i: usize) -> Counts {
        let mut c = self.slots.get(i).map_or(Counts::default(), Slot::load);
        if let Some(p) = self.per_cpu() {
            c.forwarded += p.sum(CPU_FORWARDED, i);
            c.emulated += p.sum(CPU_EMULATED, i);
            c.rejected += p.sum(CPU_REJECTED, i);
        }
        c
    }

    /// The slot index of a found function (`None` for unknown IDs).
    fn index(found: Option<(usize, Conv)>) -> Option<usize> {
        found
            .map(|(row, conv)| 2 * row + conv as usize)
            .filter(|&i| i < TABLE.len() * 2)
    }

    fn slot(&self, found: Option<(usize, Conv)>) -> &Slot {
        found
            .and_then(|(row, conv)| self.slots.get(2 * row + conv as usize))
            .unwrap_or(&self.unknown)
    }

    pub(crate) fn record(&self, found: Option<(usize, Conv)>, event: Event) {
        self.slot(found).bump(event);
    }

    /// The counters of one function ID (canonical: `0x84xx_xxxx` or `0xC4xx_xxxx`), or
    /// `None` if the table has no such ID.
    pub fn get(&self, function_id: u32) -> Option<Counts> {
        super::abi::lookup(function_id)
            .and_then(|found| Self::index(Some(found)))
            .map(|i| self.load_slot(i))
    }

    /// Calls whose ID is not in the table (unknown FF-A numbers, wrong convention, hygiene
    /// failures with unusable IDs).
    pub fn unknown(&self) -> Counts {
        self.unknown.load()
    }

    /// Every function ID with its name and counters, in table order (SMC32 before SMC64).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &'static str, Counts)> + '_ {
        ROWS.iter().enumerate().flat_map(move |(row, abi)| {
            [Conv::Smc32, Conv::Smc64].into_iter().filter_map(move |c| {
                Some((
                    abi.function_id(c)?,
                    abi.name(),
                    self.load_slot(2 * row + c as usize),
                ))
            })
        })
    }

    pub(crate) fn record_lost(&self, transactions: u64, pages: u64) {
        self.lost_transactions.fetch_add(transactions, Relaxed);
        self.lost_pages.fetch_add(pages, Relaxed);
    }

    /// Memory transactions whose pages the proxy withholds from the host for good after an
    /// unexpected SPMC reply, and their pages: (transactions, pages) (D-LOST-PAGES).
    pub fn lost(&self) -> (u64, u64) {
        (
            self.lost_transactions.load(Relaxed),
            self.lost_pages.load(Relaxed),
        )
    }

    /// The sum over all functions, unknown IDs included.
    pub fn total(&self) -> Counts {
        let mut sum = self.unknown.load();
        for i in 0..self.slots.len() {
            sum.add(&self.load_slot(i));
        }
        sum
    }
}

/// Why a call was rejected or its reply refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A field check failed (INVALID_PARAMETERS, or NOT_SUPPORTED for FFA_VERSION).
    Field(Violation),
    /// A field check failed (INVALID_PARAMETERS), and the caller of
    /// [`super::Proxy::handle_explained`] did not ask which field (the trap path asks only
    /// for the rejections it prints).
    Unexplained,
    /// `smc #imm` with a non-zero immediate (SMCCC NOT_SUPPORTED).
    Immediate(u16),
    /// x0 bits [63:32] set (SMCCC NOT_SUPPORTED).
    FunctionIdUpperBits,
    /// Function ID bits [23:17] set (SMCCC NOT_SUPPORTED).
    ReservedIdBits,
    /// A yielding call (bit 31 clear) with an FF-A function number (SMCCC NOT_SUPPORTED).
    YieldingCall,
    /// The SPMC answered a forwarded call with a reply the ABI does not allow; the value is
    /// the reply's x0. The host got FFA_ERROR(ABORTED).
    UnexpectedReply(u64),
    /// The fields were valid but the call was refused at EL2 for what it asks (an address
    /// that is not the host's, a page in use, a malformed descriptor, the wrong mailbox
    /// state): the host got FFA_ERROR(`status`).
    Refused {
        /// The error the host got.
        status: Status,
        /// What was wrong.
        what: &'static str,
        /// The offending value (an address, a handle, a field).
        value: u64,
    },
}

/// One rejection, for the console: `Display` gives one line naming the function, the register
/// and the field. The lead rate-limits the printing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// x0 as the host sent it.
    pub x0: u64,
    /// The function's name, or `"unknown"` (`"FF-A call"` for [`Reason::Unexplained`], a
    /// record nobody prints).
    pub name: &'static str,
    /// What was wrong.
    pub reason: Reason,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ffa: {} ({:#x}) ", self.name, self.x0)?;
        match &self.reason {
            Reason::Field(v) => write!(f, "rejected: {v}"),
            Reason::Unexplained => f.write_str("rejected: a field is invalid"),
            // As u32: a `u16` would bring its own LowerHex into the image.
            Reason::Immediate(imm) => write!(
                f,
                "rejected: smc #{:#x}, only #0 is accepted",
                u32::from(*imm)
            ),
            Reason::FunctionIdUpperBits => f.write_str("rejected: x0[63:32] must be zero"),
            Reason::ReservedIdBits => {
                f.write_str("rejected: function ID bits [23:17] are reserved")
            }
            Reason::YieldingCall => f.write_str("rejected: FF-A calls are fast calls (bit 31)"),
            Reason::UnexpectedReply(x0) => {
                write!(f, "reply refused: SPMC answered {x0:#x}, host gets ABORTED")
            }
            Reason::Refused {
                status,
                what,
                value,
            } => write!(f, "refused ({}): {what} ({value:#x})", status.name()),
        }
    }
}
