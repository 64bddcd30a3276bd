//! The GICv3 ITS: its control frame trapped, its command queue shadowed, every address it
//! would write checked.
//!
//! An ITS writes memory by DMA at addresses the host gives it: the device and collection
//! tables (`GITS_BASER<n>`), and each device's interrupt translation table (ITT, the
//! address in every `MAPD` command). Left alone, a host could point any of them at the
//! carve-out, Secure memory or a lent page. So the ITS's control frame (its first 64 KiB:
//! `GITS_CTLR`, `TYPER`, `CBASER`, `CWRITER`, `CREADR`, `BASER<n>`) is left out of the
//! host's stage 2 and every access to it comes here through the MMIO emulation path
//! ([`crate::mmio`]); the translation frame (`GITS_TRANSLATER`, the second 64 KiB) stays
//! mapped: devices and the host write it, and it only raises interrupts.
//!
//! - **Command queue.** The ITS reads commands only from the hypervisor's own queue (the
//!   shadow, in the carve-out, programmed into the real `GITS_CBASER` at boot). The host's
//!   `GITS_CBASER` is emulated: accepted only if every page of the queue it names is
//!   host-owned RAM, which is then pinned ([`crate::mm::PageState::PinnedForDevice`]: the
//!   hypervisor reads it, so it must stay the host's). A write of `GITS_CWRITER` copies the
//!   host's new commands, each checked (below), into the shadow, advances the real
//!   `CWRITER`, and waits a bounded time for the real `CREADR`; the host's `GITS_CREADR`
//!   advances by whole batches the ITS has finished. Work per trap is bounded by the host's
//!   queue size; an ITS that does not finish in time leaves the batch in flight (the host
//!   sees no progress, `GITS_CREADR.Stalled` if the ITS says it stalled) and every later
//!   access to `CWRITER`/`CREADR` checks again.
//! - **Commands.** `MAPD` with V=1 is forwarded only if its ITT (`2^(Size+1)` entries of
//!   `GITS_TYPER.ITT_entry_size` bytes) is host-owned RAM: its pages are pinned, counted per
//!   page (ITTs are small and share pages), and a later `MAPD` of the same device (another
//!   ITT, or V=0) unpins the old ITT once the ITS has finished the batch that replaced it.
//!   `MAPC`, `SYNC` and `MOVALL` must name a real redistributor (by processor number or by
//!   address, as `GITS_TYPER.PTA` says); DeviceIDs, EventIDs and ICIDs must be in the ranges
//!   the accepted tables and ITTs cover. The GICv4 commands (`VMAPP`, `VMAPTI`, `VMOVI`, ...)
//!   are refused: the host gets no virtual LPIs (their tables are more DMA targets), and
//!   `GITS_TYPER.Virtual` reads as zero. A refused command is never forwarded: a `SYNC` to
//!   the first redistributor takes its slot, and the console says so once (rate-limited).
//! - **`GITS_BASER<n>`.** The device and collection tables are accepted only if every page
//!   is host-owned RAM, and are then taken from the host (state
//!   [`crate::mm::PageState::Hyp`]: unmapped from its stage 2, so from its SMMU-translated
//!   devices too) until the host clears Valid or moves the table: their entries hold ITT
//!   and redistributor addresses, which a host that could write them would forge. Linux
//!   never touches a flat table after programming it. Two-level tables are not offered:
//!   `Indirect` is RAZ/WI (the architecture allows it), so Linux falls back to flat tables.
//!   A vPE table (`Type` 2) is refused, and its register reads as zero (Type 0, no table),
//!   so Linux does not try one. A refused write never reaches the ITS: the register keeps,
//!   and reads back, its old value.
//! - **`GITS_CTLR`.** `Enabled` reaches the ITS only once the host's queue was accepted;
//!   `GITS_CBASER` and `GITS_BASER<n>` writes while the ITS is enabled or not quiescent are
//!   ignored (the architecture makes them UNPREDICTABLE).
//! - Every other register passes straight through.
//!
//! `arm-gic` has no ITS register block, so the layout is written here (GICv3 architecture,
//! the ITS register map and command formats).
//!
//! Lock order: this module's lock, then the memory lock (inside the pin calls).

use alloc::vec::Vec;
use core::cell::Cell;
use core::ops::Range;

use spin::Mutex;

use crate::addr::PAGE;
use crate::mm::{MemProtect, OwnershipError, PageState};
use crate::mmio::{MmioDevice, Refusal, size_mask};

/// `GITS_CTLR`.
pub const GITS_CTLR: u64 = 0x0;
/// `GITS_TYPER`.
pub const GITS_TYPER: u64 = 0x8;
/// `GITS_CBASER`.
pub const GITS_CBASER: u64 = 0x80;
/// `GITS_CWRITER`.
pub const GITS_CWRITER: u64 = 0x88;
/// `GITS_CREADR`.
pub const GITS_CREADR: u64 = 0x90;
/// `GITS_BASER0`; `BASER<n>` is 8 bytes further per n, up to 7.
pub const GITS_BASER: u64 = 0x100;
/// The control frame, trapped; the translation frame follows it.
pub const CONTROL_FRAME: u64 = 0x1_0000;

/// `GITS_CTLR.Enabled`.
const CTLR_ENABLED: u64 = 1;
/// `GITS_CTLR.Quiescent`.
const CTLR_QUIESCENT: u64 = 1 << 31;
/// `GITS_TYPER.Virtual`: GICv4 virtual LPIs.
const TYPER_VIRTUAL: u64 = 1 << 1;
/// `GITS_TYPER.CIL`: `CIDbits` is valid.
const TYPER_CIL: u64 = 1 << 36;
/// `GITS_CBASER`/`GITS_BASER<n>`.Valid.
const VALID: u64 = 1 << 63;
/// `GITS_BASER<n>.Indirect`: two-level table (RAZ/WI here).
const BASER_INDIRECT: u64 = 1 << 62;
/// `GITS_CBASER.Physical_Address`, bits \[51:12\].
const CBASER_ADDRESS: u64 = ((1 << 52) - 1) & !0xfff;
/// `GITS_CWRITER.Offset`/`GITS_CREADR.Offset`, bits \[19:5\].
const QUEUE_OFFSET: u64 = 0xf_ffe0;
/// `GITS_CWRITER.Retry`.
const CWRITER_RETRY: u64 = 1;
/// `GITS_CREADR.Stalled`.
const CREADR_STALLED: u64 = 1;
/// One command: four doublewords.
const COMMAND: u64 = 32;
/// The first LPI's interrupt ID.
const FIRST_LPI: u64 = 8192;
/// Reads of the real `GITS_CREADR` per batch before the batch is left in flight.
pub const WAIT_READS: u32 = 100_000;
/// The shadow queue: one page, 128 commands (a batch is at most 127).
pub const SHADOW_BYTES: u64 = PAGE;
/// Devices mapped at once (MAPD V=1), and distinct ITT pages pinned.
pub const MAX_DEVICES: usize = 256;
/// The largest ITT accepted (Linux's are a few KiB: 2 048 MSI-X vectors of 8 bytes is
/// 16 KiB): it bounds the pages one `MAPD` walks.
pub const MAX_ITT_BYTES: u64 = 0x10_0000;

/// `GITS_BASER<n>.Type` of a device table.
const TYPE_DEVICES: u64 = 1;
/// `GITS_BASER<n>.Type` of a vPE table.
const TYPE_VPES: u64 = 2;
/// `GITS_BASER<n>.Type` of a collection table.
const TYPE_COLLECTIONS: u64 = 4;

/// The ITS commands (GICv3 architecture, the ITS command set).
mod cmd {
    pub const MOVI: u8 = 0x01;
    pub const INT: u8 = 0x03;
    pub const CLEAR: u8 = 0x04;
    pub const SYNC: u8 = 0x05;
    pub const MAPD: u8 = 0x08;
    pub const MAPC: u8 = 0x09;
    pub const MAPTI: u8 = 0x0a;
    pub const MAPI: u8 = 0x0b;
    pub const INV: u8 = 0x0c;
    pub const INVALL: u8 = 0x0d;
    pub const MOVALL: u8 = 0x0e;
    pub const DISCARD: u8 = 0x0f;
}

/// The ITS's registers and the memory its queues live in, as the firmware reaches them
/// (tests give a simulation). Never waits.
pub trait ItsPort {
    /// A load of `size` bytes of the register at physical address `addr`.
    fn read(&self, addr: u64, size: u8) -> u64;
    /// A store of `size` bytes to the register at physical address `addr`.
    fn write(&self, addr: u64, size: u8, value: u64);
    /// The command at `addr` in the host's queue (pinned host RAM).
    fn read_command(&self, addr: u64) -> [u64; 4];
    /// Writes a command at `addr` in the shadow queue, visible to the ITS once this returns.
    fn write_command(&self, addr: u64, command: [u64; 4]);
}

/// Something an access did that the console should say (rate-limited by the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A base naming memory the host may not hand to the ITS: not written.
    Refused {
        /// The register's name.
        register: &'static str,
        /// The 64-bit value the write would have made.
        value: u64,
        /// Why the table's pages could not be taken or pinned.
        error: OwnershipError,
    },
    /// A `GITS_BASER<n>` naming a table the host may not have (a vPE table): not written.
    Unsupported {
        /// The register's name.
        register: &'static str,
        /// The value.
        value: u64,
    },
    /// A base written while the ITS is enabled or not quiescent: ignored.
    Ignored {
        /// The register's name.
        register: &'static str,
    },
    /// `GITS_CTLR.Enabled` before the host's command queue was accepted: kept off.
    EnableHeldOff,
    /// `GITS_CWRITER` beyond the host's queue, or with no queue: ignored.
    BadCwriter {
        /// The value written.
        value: u64,
    },
    /// A command refused and replaced by a `SYNC`.
    BadCommand {
        /// Its offset in the host's queue.
        offset: u64,
        /// Its command number.
        command: u8,
        /// Why.
        why: &'static str,
    },
    /// The ITS did not finish a batch in time.
    Stalled,
}

impl core::fmt::Display for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Event::Refused {
                register,
                value,
                error,
            } => write!(
                f,
                "ITS: {register} {value:#x} refused ({error}); the register keeps its old value"
            ),
            Event::Unsupported { register, value } => write!(
                f,
                "ITS: {register} {value:#x} refused (vPE tables are not offered); the register keeps its old value"
            ),
            Event::Ignored { register } => write!(
                f,
                "ITS: {register} written while the ITS is enabled: ignored"
            ),
            Event::EnableHeldOff => {
                f.write_str("ITS: GITS_CTLR.Enabled before a command queue was accepted: kept off")
            }
            Event::BadCwriter { value } => write!(
                f,
                "ITS: GITS_CWRITER {value:#x} outside the command queue: ignored"
            ),
            Event::BadCommand {
                offset,
                command,
                why,
            } => write!(
                f,
                "ITS: command {command:#04x} at queue offset {offset:#x} refused ({why}): replaced by a SYNC"
            ),
            Event::Stalled => f.write_str("ITS: the command queue did not advance in time"),
        }
    }
}

/// A device mapped by a forwarded `MAPD` with V=1.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Device {
    id: u32,
    /// Its ITT, exactly (bytes).
    itt: Range<u64>,
    /// EventID bits its ITT covers.
    event_bits: u32,
}

/// A batch of commands copied to the shadow queue and not yet finished by the ITS.
#[derive(Clone, Copy, Debug)]
struct Batch {
    /// The host's queue offset after the batch.
    host_end: u64,
    /// The shadow queue offset after the batch.
    shadow_end: u64,
}

/// The emulator's state, behind its lock.
struct State {
    /// The host's `GITS_CBASER`, as written (accepted).
    cbaser: u64,
    /// The host's queue, pinned while `cbaser` is valid.
    queue: Option<Range<u64>>,
    /// The host's `GITS_CWRITER` offset.
    cwriter: u64,
    /// The host's `GITS_CREADR` offset: what the ITS has finished.
    creadr: u64,
    /// The next free offset in the shadow queue.
    shadow_write: u64,
    in_flight: Option<Batch>,
    stalled: bool,
    /// Per `GITS_BASER<n>`: the accepted table (taken from the host, tagged with its base).
    tables: [Option<Range<u64>>; 8],
    devices: Vec<Device>,
    /// Pinned ITT pages and how many ITTs use each.
    itt_pages: Vec<(u64, u32)>,
    /// ITTs replaced in the batch in flight: unpinned when it finishes.
    retired: Vec<Range<u64>>,
    /// Commands refused since boot.
    refused_commands: u64,
}

/// One ITS's trapped control frame, its shadow queue and the host memory it was allowed.
pub struct Its<P> {
    port: P,
    /// The ITS's base (its control frame).
    base: u64,
    /// The shadow queue (physical, in the carve-out), [`SHADOW_BYTES`] long.
    shadow: u64,
    /// `GITS_TYPER` as read at boot.
    typer: u64,
    /// `GITS_BASER<n>.Type` and entry size of each register, as read at boot.
    baser_types: [(u64, u64); 8],
    /// Every redistributor, in the form RDbase takes (`GITS_TYPER.PTA`): processor
    /// numbers, or RD_base addresses shifted right by 16.
    targets: Vec<u64>,
    state: Mutex<State>,
}

/// The real `GITS_CBASER` for the shadow queue at `shadow`: Valid, Inner Shareable, Inner
/// Write-Back read/write-allocate, one page.
pub fn shadow_cbaser(shadow: u64) -> u64 {
    const INNER_WB_RAWA: u64 = 0b111 << 59;
    const INNER_SHAREABLE: u64 = 0b01 << 10;
    VALID | INNER_WB_RAWA | INNER_SHAREABLE | (shadow & CBASER_ADDRESS) | (SHADOW_BYTES / PAGE - 1)
}

/// The host queue `cbaser` names: `Size + 1` pages from its address.
pub fn queue_of(cbaser: u64) -> Range<u64> {
    let base = cbaser & CBASER_ADDRESS;
    base..base + ((cbaser & 0xff) + 1) * PAGE
}

/// The table a `GITS_BASER<n>` value names: `Size + 1` pages of `Page_Size` from its
/// address (for 64 KiB pages, address bits \[51:48\] are in bits \[15:12\]).
pub fn table_of(baser: u64) -> Range<u64> {
    let (page, base) = match (baser >> 8) & 3 {
        0 => (0x1000, baser & 0x0000_ffff_ffff_f000),
        1 => (0x4000, baser & 0x0000_ffff_ffff_c000),
        _ => (
            0x1_0000,
            (baser & 0x0000_ffff_ffff_0000) | ((baser >> 12) & 0xf) << 48,
        ),
    };
    base..base + ((baser & 0xff) + 1) * page
}

fn pages(range: &Range<u64>) -> impl Iterator<Item = u64> {
    let start = range.start & !(PAGE - 1);
    (start..range.end).step_by(PAGE as usize)
}

impl<P: ItsPort> Its<P> {
    /// The ITS at `base`, reached through `port`, with its shadow queue at `shadow` (one
    /// page of the carve-out) and the redistributors `targets` (see the field). Takes the
    /// ITS over: disables it if it was on (waiting a bounded time for it to be quiescent),
    /// clears every `GITS_BASER<n>.Valid` and points the real queue at the shadow. `None`
    /// if the ITS does not become quiescent.
    pub fn new(port: P, base: u64, shadow: u64, targets: Vec<u64>) -> Option<Self> {
        let ctlr = port.read(base + GITS_CTLR, 4);
        if ctlr & CTLR_ENABLED != 0 {
            port.write(base + GITS_CTLR, 4, ctlr & !CTLR_ENABLED);
        }
        if !(0..WAIT_READS).any(|_| port.read(base + GITS_CTLR, 4) & CTLR_QUIESCENT != 0) {
            return None;
        }
        let mut baser_types = [(0, 0); 8];
        for (n, t) in baser_types.iter_mut().enumerate() {
            let reg = base + GITS_BASER + 8 * n as u64;
            let v = port.read(reg, 8);
            port.write(reg, 8, v & !VALID);
            *t = ((v >> 56) & 7, ((v >> 48) & 0x1f) + 1);
        }
        port.write(base + GITS_CBASER, 8, shadow_cbaser(shadow));
        port.write(base + GITS_CWRITER, 8, 0);
        let typer = port.read(base + GITS_TYPER, 8);
        Some(Its {
            port,
            base,
            shadow,
            typer,
            baser_types,
            targets,
            state: Mutex::new(State {
                cbaser: 0,
                queue: None,
                cwriter: 0,
                creadr: 0,
                shadow_write: 0,
                in_flight: None,
                stalled: false,
                tables: Default::default(),
                devices: Vec::with_capacity(MAX_DEVICES),
                itt_pages: Vec::with_capacity(MAX_DEVICES),
                retired: Vec::with_capacity((SHADOW_BYTES / COMMAND) as usize),
                refused_commands: 0,
            }),
        })
    }

    /// The trapped pages: the control frame.
    pub fn pages(&self) -> Range<u64> {
        self.base..self.base + CONTROL_FRAME
    }

    /// Commands refused since boot, and host pages the ITS may write (ITT pages pinned,
    /// tables taken).
    pub fn audit(&self) -> (u64, u64) {
        let st = self.state.lock();
        let tables: u64 = st
            .tables
            .iter()
            .flatten()
            .map(|r| (r.end - r.start) / PAGE)
            .sum();
        (st.refused_commands, st.itt_pages.len() as u64 + tables)
    }

    /// This emulator bound to the memory core, as the MMIO path calls it for one access.
    pub fn with<'a>(&'a self, mm: &'a MemProtect) -> Emulated<'a, P> {
        Emulated {
            its: self,
            mm,
            event: Cell::new(None),
        }
    }

    fn reg(&self, offset: u64) -> u64 {
        self.base + offset
    }

    fn hw_quiet(&self) -> bool {
        let ctlr = self.port.read(self.reg(GITS_CTLR), 4);
        ctlr & CTLR_ENABLED == 0 && ctlr & CTLR_QUIESCENT != 0
    }

    fn read(&self, mm: &MemProtect, offset: u64, size: u8, ev: &Cell<Option<Event>>) -> u64 {
        let reg = offset & !7;
        let shift = (offset & 7) * 8;
        let whole = match reg {
            GITS_TYPER => self.port.read(self.reg(GITS_TYPER), 8) & !TYPER_VIRTUAL,
            GITS_CBASER => self.state.lock().cbaser,
            GITS_CWRITER => self.state.lock().cwriter,
            // A vPE table's register reads as unimplemented (Type 0): Linux sets up every
            // table whose Type it sees, whatever GITS_TYPER.Virtual says, and fails its whole
            // ITS probe when the refused base does not stick.
            r if (GITS_BASER..GITS_BASER + 64).contains(&r) => {
                let v = self.port.read(self.reg(r), 8);
                if (v >> 56) & 7 == TYPE_VPES { 0 } else { v }
            }
            GITS_CREADR => {
                let mut st = self.state.lock();
                self.advance(&mut st, mm, ev);
                let stalled =
                    st.stalled && self.port.read(self.reg(GITS_CREADR), 8) & CREADR_STALLED != 0;
                st.creadr | u64::from(stalled)
            }
            _ => return self.port.read(self.reg(offset), size),
        };
        (whole >> shift) & size_mask(size)
    }

    fn write(
        &self,
        mm: &MemProtect,
        offset: u64,
        size: u8,
        value: u64,
        ev: &Cell<Option<Event>>,
    ) -> Result<(), Refusal> {
        let reg = offset & !7;
        let emulated = matches!(reg, GITS_CBASER | GITS_CWRITER | GITS_CREADR)
            || (GITS_BASER..GITS_BASER + 64).contains(&reg);
        if offset == GITS_CTLR {
            self.write_ctlr(mm, size, value, ev);
            return Ok(());
        }
        if !emulated {
            self.port.write(self.reg(offset), size, value);
            return Ok(());
        }
        if !matches!((size, offset & 7), (8, 0) | (4, 0 | 4)) {
            return Err(Refusal::Size);
        }
        let shift = (offset & 7) * 8;
        let merge = |old: u64| {
            if size == 8 {
                value
            } else {
                (old & !(size_mask(4) << shift)) | (value & size_mask(4)) << shift
            }
        };
        let mut st = self.state.lock();
        match reg {
            GITS_CREADR => {} // read-only
            GITS_CWRITER => {
                let v = merge(st.cwriter);
                let ok = st
                    .queue
                    .as_ref()
                    .is_some_and(|q| v & QUEUE_OFFSET < q.end - q.start);
                if !ok {
                    note(ev, Event::BadCwriter { value: v });
                    return Ok(());
                }
                st.cwriter = v & QUEUE_OFFSET;
                if v & CWRITER_RETRY != 0 {
                    self.port
                        .write(self.reg(GITS_CWRITER), 8, st.shadow_write | CWRITER_RETRY);
                }
                self.advance(&mut st, mm, ev);
            }
            GITS_CBASER => {
                let v = merge(st.cbaser);
                self.write_cbaser(&mut st, mm, v, ev);
            }
            _ => {
                let n = ((reg - GITS_BASER) / 8) as usize;
                let v = merge(self.port.read(self.reg(reg), 8));
                self.write_baser(&mut st, mm, n, v, ev);
            }
        }
        Ok(())
    }

    fn write_ctlr(&self, mm: &MemProtect, size: u8, mut value: u64, ev: &Cell<Option<Event>>) {
        let mut st = self.state.lock();
        if value & CTLR_ENABLED != 0 && st.queue.is_none() {
            value &= !CTLR_ENABLED;
            note(ev, Event::EnableHeldOff);
        }
        self.port.write(self.reg(GITS_CTLR), size, value);
        if value & CTLR_ENABLED != 0 {
            self.advance(&mut st, mm, ev);
        }
    }

    fn write_cbaser(&self, st: &mut State, mm: &MemProtect, v: u64, ev: &Cell<Option<Event>>) {
        const REGISTER: &str = "GITS_CBASER";
        if !self.hw_quiet() {
            note(ev, Event::Ignored { register: REGISTER });
            return;
        }
        let new = (v & VALID != 0).then(|| queue_of(v));
        if new != st.queue {
            if let Some(n) = &new
                && let Err(error) = mm.pin_for_device(n.clone(), n.start)
            {
                note(
                    ev,
                    Event::Refused {
                        register: REGISTER,
                        value: v,
                        error,
                    },
                );
                return;
            }
            if let Some(o) = st.queue.take() {
                // Pinned under this tag when accepted: the release cannot fail.
                let _ = mm.unpin_for_device(o.clone(), o.start);
            }
            st.queue = new;
        }
        st.cbaser = v;
        // Writing CBASER resets the queue (the architecture sets CREADR to zero); the ITS
        // is quiescent, so nothing in flight can still use a retired ITT.
        st.cwriter = 0;
        st.creadr = 0;
        st.in_flight = None;
        st.stalled = false;
        st.shadow_write = 0;
        self.port
            .write(self.reg(GITS_CBASER), 8, shadow_cbaser(self.shadow));
        self.port.write(self.reg(GITS_CWRITER), 8, 0);
        self.release_retired(st, mm);
    }

    fn write_baser(
        &self,
        st: &mut State,
        mm: &MemProtect,
        n: usize,
        v: u64,
        ev: &Cell<Option<Event>>,
    ) {
        const NAMES: [&str; 8] = [
            "GITS_BASER0",
            "GITS_BASER1",
            "GITS_BASER2",
            "GITS_BASER3",
            "GITS_BASER4",
            "GITS_BASER5",
            "GITS_BASER6",
            "GITS_BASER7",
        ];
        let register = NAMES.get(n).copied().unwrap_or("GITS_BASER");
        if !self.hw_quiet() {
            note(ev, Event::Ignored { register });
            return;
        }
        let reg = self.reg(GITS_BASER + 8 * n as u64);
        let old = self.port.read(reg, 8);
        let want = v & !BASER_INDIRECT;
        // What the ITS keeps of the fields (page size, address width), learnt with Valid
        // clear so that it reads nothing meanwhile.
        self.port.write(reg, 8, want & !VALID);
        let held = self.port.read(reg, 8);
        let kind = (held >> 56) & 7;
        let new = (want & VALID != 0 && kind != 0).then(|| table_of(held));
        let restore = |e: Event| {
            self.port.write(reg, 8, old);
            note(ev, e);
        };
        if new.is_some() && kind == TYPE_VPES {
            return restore(Event::Unsupported { register, value: v });
        }
        let Some(slot) = st.tables.get_mut(n) else {
            return;
        };
        if new != *slot {
            if let Some(t) = &new
                && let Err((_, error)) =
                    mm.transfer(core::slice::from_ref(t), PageState::Hyp, t.start)
            {
                return restore(Event::Refused {
                    register,
                    value: v,
                    error,
                });
            }
            if let Some(o) = slot.take() {
                mm.reclaim(PageState::Hyp, o.start);
            }
            *slot = new;
        }
        self.port.write(reg, 8, want);
    }

    /// Whether the table of `kind` covers `id`: yes if no `GITS_BASER<n>` has that type (the
    /// ITS holds it), else only inside the accepted table.
    fn table_covers(&self, st: &State, kind: u64, id: u64) -> bool {
        let mut any = false;
        for (n, &(t, esz)) in self.baser_types.iter().enumerate() {
            if t != kind {
                continue;
            }
            any = true;
            if let Some(Some(r)) = st.tables.get(n)
                && id < (r.end - r.start) / esz
            {
                return true;
            }
        }
        !any
    }

    fn icid_ok(&self, st: &State, icid: u64) -> bool {
        let bits = if self.typer & TYPER_CIL != 0 {
            ((self.typer >> 32) & 0xf) + 1
        } else {
            16
        };
        let hcc = (self.typer >> 24) & 0xff;
        icid < 1 << bits && (icid < hcc || self.table_covers(st, TYPE_COLLECTIONS, icid))
    }

    fn rd_ok(&self, rdbase: u64) -> bool {
        self.targets.contains(&rdbase)
    }

    fn device_ok(&self, st: &State, device: u64, event: u64) -> bool {
        st.devices
            .iter()
            .any(|d| u64::from(d.id) == device && event < 1 << d.event_bits)
    }

    fn sync_command(&self) -> [u64; 4] {
        let rd = self.targets.first().copied().unwrap_or(0);
        [u64::from(cmd::SYNC), 0, (rd & ((1 << 35) - 1)) << 16, 0]
    }

    /// Checks one command; `Err` says why it is refused. A `MAPD` that is accepted has
    /// pinned its ITT and updated the device list.
    fn check(&self, st: &mut State, mm: &MemProtect, c: [u64; 4]) -> Result<(), &'static str> {
        let code = c[0] as u8;
        let device = c[0] >> 32;
        let event = c[1] & 0xffff_ffff;
        let icid = c[2] & 0xffff;
        let rdbase = |dw: u64| (dw >> 16) & ((1 << 35) - 1);
        match code {
            cmd::MAPD => self.check_mapd(st, mm, c),
            cmd::MAPC => {
                if !self.icid_ok(st, icid) {
                    Err("ICID out of range")
                } else if c[2] & VALID != 0 && !self.rd_ok(rdbase(c[2])) {
                    Err("not a redistributor")
                } else {
                    Ok(())
                }
            }
            cmd::MAPTI | cmd::MAPI | cmd::MOVI => {
                let pintid = if code == cmd::MAPTI {
                    c[1] >> 32
                } else {
                    event
                };
                if !self.device_ok(st, device, event) {
                    Err("device or EventID not mapped")
                } else if code != cmd::MOVI && pintid < FIRST_LPI {
                    Err("not an LPI")
                } else if !self.icid_ok(st, icid) {
                    Err("ICID out of range")
                } else {
                    Ok(())
                }
            }
            cmd::INT | cmd::CLEAR | cmd::DISCARD | cmd::INV => {
                if self.device_ok(st, device, event) {
                    Ok(())
                } else {
                    Err("device or EventID not mapped")
                }
            }
            cmd::INVALL => {
                if self.icid_ok(st, icid) {
                    Ok(())
                } else {
                    Err("ICID out of range")
                }
            }
            cmd::SYNC => {
                if self.rd_ok(rdbase(c[2])) {
                    Ok(())
                } else {
                    Err("not a redistributor")
                }
            }
            cmd::MOVALL => {
                if self.rd_ok(rdbase(c[2])) && self.rd_ok(rdbase(c[3])) {
                    Ok(())
                } else {
                    Err("not a redistributor")
                }
            }
            0x20..=0x2f => Err("GICv4 command: no virtual LPIs for the host"),
            _ => Err("unknown command"),
        }
    }

    fn check_mapd(&self, st: &mut State, mm: &MemProtect, c: [u64; 4]) -> Result<(), &'static str> {
        let device = c[0] >> 32;
        let devbits = ((self.typer >> 13) & 0x1f) + 1;
        if device >= 1 << devbits || !self.table_covers(st, TYPE_DEVICES, device) {
            return Err("DeviceID out of range");
        }
        if st.retired.len() == st.retired.capacity() {
            return Err("too many ITTs replaced in one batch");
        }
        let old = st.devices.iter().position(|d| u64::from(d.id) == device);
        if c[2] & VALID == 0 {
            if let Some(i) = old {
                let d = st.devices.swap_remove(i);
                Self::retire(st, d.itt);
            }
            return Ok(());
        }
        let size = c[1] & 0x1f;
        let id_bits = ((self.typer >> 8) & 0x1f) + 1;
        if size + 1 > id_bits {
            return Err("ITT size beyond GITS_TYPER.ID_bits");
        }
        let entry = ((self.typer >> 4) & 0xf) + 1;
        if entry << (size + 1) > MAX_ITT_BYTES {
            return Err("ITT larger than 1 MiB");
        }
        let start = c[2] & ((1 << 52) - 1) & !0xff;
        let itt = start..start + (entry << (size + 1));
        let event_bits = (size + 1) as u32;
        if let Some(i) = old
            && let Some(d) = st.devices.get_mut(i)
            && d.itt == itt
        {
            d.event_bits = event_bits;
            return Ok(());
        }
        if old.is_none() && st.devices.len() == st.devices.capacity() {
            return Err("too many devices");
        }
        self.pin_itt(st, mm, &itt)
            .map_err(|_| "ITT not host-owned RAM")?;
        let new = Device {
            id: device as u32,
            itt,
            event_bits,
        };
        match old {
            Some(i) => {
                if let Some(slot) = st.devices.get_mut(i) {
                    let old = core::mem::replace(slot, new);
                    Self::retire(st, old.itt);
                }
            }
            None => st.devices.push(new),
        }
        Ok(())
    }

    /// Pins every page of `itt`, counted; all or nothing.
    fn pin_itt(
        &self,
        st: &mut State,
        mm: &MemProtect,
        itt: &Range<u64>,
    ) -> Result<(), OwnershipError> {
        let fresh = pages(itt)
            .filter(|p| !st.itt_pages.iter().any(|(q, _)| q == p))
            .count();
        if st.itt_pages.len() + fresh > st.itt_pages.capacity() {
            return Err(OwnershipError::NoRoom);
        }
        for (k, page) in pages(itt).enumerate() {
            if let Some((_, n)) = st.itt_pages.iter_mut().find(|(q, _)| *q == page) {
                *n += 1;
                continue;
            }
            if let Err(e) = mm.pin_for_device(page..page + PAGE, page) {
                for p in pages(itt).take(k) {
                    unpin_page(st, mm, p);
                }
                return Err(e);
            }
            st.itt_pages.push((page, 1));
        }
        Ok(())
    }

    /// An ITT the ITS may still use until the batch in flight finishes (room checked
    /// before every `MAPD`; a batch holds fewer commands than the list has room for).
    fn retire(st: &mut State, itt: Range<u64>) {
        st.retired.push(itt);
    }

    fn release_retired(&self, st: &mut State, mm: &MemProtect) {
        while let Some(itt) = st.retired.pop() {
            for p in pages(&itt) {
                unpin_page(st, mm, p);
            }
        }
    }

    /// Moves the queue on: finishes the batch in flight if the ITS has, then copies the
    /// host's next commands (checked) into the shadow, a batch at a time, each waited for
    /// a bounded time. At most the host queue's size in commands per call.
    fn advance(&self, st: &mut State, mm: &MemProtect, ev: &Cell<Option<Event>>) {
        let Some(queue) = st.queue.clone() else {
            return;
        };
        let qsize = queue.end - queue.start;
        let slots = SHADOW_BYTES / COMMAND - 1;
        let mut budget = qsize / COMMAND;
        loop {
            if let Some(b) = st.in_flight {
                if !self.wait(b.shadow_end) {
                    if !st.stalled {
                        note(ev, Event::Stalled);
                    }
                    st.stalled = true;
                    return;
                }
                st.stalled = false;
                st.creadr = b.host_end;
                st.in_flight = None;
                self.release_retired(st, mm);
            }
            if st.creadr == st.cwriter
                || budget == 0
                || self.port.read(self.reg(GITS_CTLR), 4) & CTLR_ENABLED == 0
            {
                return;
            }
            let mut pos = st.creadr;
            let mut n = 0;
            while pos != st.cwriter && n < slots && budget > 0 {
                let c = self.port.read_command(queue.start + pos);
                let out = match self.check(st, mm, c) {
                    Ok(()) => c,
                    Err(why) => {
                        st.refused_commands += 1;
                        note(
                            ev,
                            Event::BadCommand {
                                offset: pos,
                                command: c[0] as u8,
                                why,
                            },
                        );
                        self.sync_command()
                    }
                };
                self.port.write_command(self.shadow + st.shadow_write, out);
                st.shadow_write = (st.shadow_write + COMMAND) % SHADOW_BYTES;
                pos = (pos + COMMAND) % qsize;
                n += 1;
                budget -= 1;
            }
            self.port.write(self.reg(GITS_CWRITER), 8, st.shadow_write);
            st.in_flight = Some(Batch {
                host_end: pos,
                shadow_end: st.shadow_write,
            });
        }
    }

    /// Waits a bounded time for the real `GITS_CREADR` to reach `end`; `false` if it did
    /// not, or the ITS stalled.
    fn wait(&self, end: u64) -> bool {
        for _ in 0..WAIT_READS {
            let r = self.port.read(self.reg(GITS_CREADR), 8);
            if r & QUEUE_OFFSET == end {
                return true;
            }
            if r & CREADR_STALLED != 0 {
                return false;
            }
        }
        false
    }
}

/// Keeps the first event of an access: the one the console line names.
fn note(ev: &Cell<Option<Event>>, event: Event) {
    if ev.get().is_none() {
        ev.set(Some(event));
    }
}

fn unpin_page(st: &mut State, mm: &MemProtect, page: u64) {
    let Some(i) = st.itt_pages.iter().position(|(q, _)| *q == page) else {
        return;
    };
    let last = st.itt_pages.get(i).is_some_and(|(_, n)| *n <= 1);
    if last {
        st.itt_pages.swap_remove(i);
        // Pinned under this tag by `pin_itt`: the release cannot fail.
        let _ = mm.unpin_for_device(page..page + PAGE, page);
    } else if let Some((_, n)) = st.itt_pages.get_mut(i) {
        *n -= 1;
    }
}

/// [`Its`] bound to the memory core for one trapped access; the event the access caused,
/// if any, is left in [`Emulated::event`].
pub struct Emulated<'a, P> {
    its: &'a Its<P>,
    mm: &'a MemProtect,
    event: Cell<Option<Event>>,
}

impl<P> Emulated<'_, P> {
    /// What the access did that the console should say.
    pub fn event(&self) -> Option<Event> {
        self.event.get()
    }
}

impl<P: ItsPort> MmioDevice for Emulated<'_, P> {
    fn claims(&self, ipa: u64) -> bool {
        self.its.pages().contains(&ipa)
    }

    fn read(&self, ipa: u64, size: u8) -> Result<u64, Refusal> {
        if !self.claims(ipa) {
            return Err(Refusal::NotEmulated);
        }
        let offset = ipa - self.its.base;
        Ok(self.its.read(self.mm, offset, size, &self.event) & size_mask(size))
    }

    fn write(&self, ipa: u64, size: u8, value: u64) -> Result<(), Refusal> {
        if !self.claims(ipa) {
            return Err(Refusal::NotEmulated);
        }
        let offset = ipa - self.its.base;
        self.its.write(self.mm, offset, size, value, &self.event)
    }
}

#[cfg(test)]
mod tests;
