//! GICv3 redistributors: the LPI table registers, trapped and checked.
//!
//! A redistributor reads and writes two tables in memory by DMA, at addresses the host writes
//! into its registers: the LPI Configuration (property) table at `GICR_PROPBASER` and the LPI
//! Pending table at `GICR_PENDBASER`. Left alone, a host could point them at the carve-out,
//! Secure memory or a lent page and have the GIC write there. So the first 4 KiB page of each
//! redistributor's RD_base frame (`GICR_CTLR`, `TYPER`, `WAKER`, `PROPBASER` at 0x70,
//! `PENDBASER` at 0x78) is left out of the host's stage 2, and every access to it comes here
//! through the MMIO emulation path ([`crate::mmio`]):
//!
//! (and, on a GICv4, the first page of its VLPI_base frame: see below)
//!
//! - every register but the three below passes straight through to the device, with the
//!   same size, no wait;
//! - a write of `GICR_PROPBASER` or `GICR_PENDBASER` (64 bits, or either 32-bit half) is
//!   accepted only if every page of the table it describes is host-owned RAM; those pages
//!   are then pinned ([`crate::mm::PageState::PinnedForDevice`]: the host keeps access, but
//!   cannot share, lend or unmap them) until the host replaces the base, and the old table is
//!   unpinned. A refused write never reaches the device: the register keeps, and reads back,
//!   its old value (the architecture has no invalid value for these registers, and a host
//!   that reads back what it wrote sees that it did not take). A base whose address field is
//!   zero describes no table: accepted, it unpins the old one;
//! - while `GICR_CTLR.EnableLPIs` (or `RWP`, a disable still in progress) is set, writes of
//!   the two bases are ignored: the architecture makes them UNPREDICTABLE then, and the
//!   device may be using the tables;
//! - a write of `GICR_CTLR` that sets `EnableLPIs` reaches the device with the bit cleared
//!   unless both bases were accepted here: the reset values are UNKNOWN, and the device must
//!   never start on tables nobody checked.
//!
//! Table sizes (GICv3 architecture, the LPI tables): the property table has one byte per LPI,
//! `2^(IDbits+1) - 8192` bytes from the base (LPIs start at ID 8192), where IDbits is
//! `GICR_PROPBASER.IDbits` or `GICD_TYPER.IDbits` if smaller, and no LPI at all below 14 ID
//! bits; the pending table has one bit per interrupt ID, `2^(IDbits+1) / 8` bytes from a 64
//! KiB-aligned base, sized by the accepted property table's IDbits (by `GICD_TYPER`'s if
//! none yet). A property table accepted later with more ID bits than the pending table was
//! checked for drops the pending table's acceptance (unpinned; `EnableLPIs` stays off until
//! the host writes `GICR_PENDBASER` again).
//!
//! A property table is commonly shared by every redistributor (`GICR_TYPER.CommonLPIAff`):
//! pins are counted per exact range, so the same table accepted on several redistributors is
//! pinned once and unpinned when the last one moves away. A table overlapping another one
//! without being it is refused.
//!
//! **GICv4 vLPIs.** A redistributor with `GICR_TYPER.VLPIS` has two more 64 KiB frames
//! (VLPI_base, then a reserved one): its stride is 256 KiB instead of 128 KiB. The first page
//! of VLPI_base holds `GICR_VPROPBASER` (0x70) and `GICR_VPENDBASER` (0x78), which take the
//! addresses of a vPE's property and pending tables (GICv4.1: the vPE configuration table),
//! which the redistributor reads and writes by DMA once `GICR_VPENDBASER.Valid` is set; and
//! `GICR_VSGIR`/`GICR_VSGIPENDR` (GICv4.1), which make it read them. The ITS emulation
//! refuses every virtual command and reports `GITS_TYPER.Virtual` as 0, so the host has no
//! legitimate use of a vLPI: that page is trapped too and reads as zero, writes ignored
//! (RAZ/WI; a write that sets a `Valid` bit, bit 63, gets one console line). `GICR_TYPER`
//! itself is left alone: Linux derives the stride from `VLPIS`, so hiding the bit would
//! make it walk the frames wrong; a Linux that sees `VLPIS` only clears `VPENDBASER.Valid`
//! and, on GICv4.1, offers `VPROPBASER` a table, which is ignored harmlessly.
//!
//! Register offsets and `GICR_CTLR`, `GICR_TYPER`, `GICD_TYPER` fields come from `arm-gic`;
//! the fields of `GICR_PROPBASER`/`GICR_PENDBASER` are written here because `arm-gic` keeps
//! those registers as plain `u64`.
//!
//! Lock order: this module's lock, then the memory lock (inside the pin calls); nothing here
//! is called with the memory lock held.

use alloc::vec::Vec;
use core::cell::Cell;
use core::mem::offset_of;
use core::ops::Range;

use arm_gic::gicv3::registers::{Gicd, Gicr, GicrCtlr, GicrTyper, Typer};
use spin::Mutex;

use crate::addr::PAGE;
use crate::dt::Gic;
use crate::mm::{MemProtect, OwnershipError};
use crate::mmio::{MmioDevice, Refusal, size_mask};

/// `GICR_CTLR`'s offset in RD_base.
pub const GICR_CTLR: u64 = offset_of!(Gicr, ctlr) as u64;
/// `GICR_TYPER`'s offset in RD_base.
pub const GICR_TYPER: u64 = offset_of!(Gicr, typer) as u64;
/// `GICR_PROPBASER`'s offset in RD_base.
pub const GICR_PROPBASER: u64 = offset_of!(Gicr, propbaser) as u64;
/// `GICR_PENDBASER`'s offset in RD_base.
pub const GICR_PENDBASER: u64 = offset_of!(Gicr, pendbaser) as u64;
/// `GICD_TYPER`'s offset in the distributor.
pub const GICD_TYPER: u64 = offset_of!(Gicd, typer) as u64;
const _: () = assert!(GICR_CTLR == 0 && GICR_TYPER == 8 && GICD_TYPER == 4);
const _: () = assert!(GICR_PROPBASER == 0x70 && GICR_PENDBASER == 0x78);
/// `GICR_VPROPBASER`'s offset in VLPI_base (`arm-gic` has no VLPI frame).
pub const GICR_VPROPBASER: u64 = 0x70;
/// `GICR_VPENDBASER`'s offset in VLPI_base.
pub const GICR_VPENDBASER: u64 = 0x78;
/// VLPI_base's offset from RD_base: after RD_base and SGI_base.
pub const VLPI_BASE: u64 = 2 * FRAME;
/// `GICR_VPENDBASER.Valid` (and GICv4.1's `GICR_VPROPBASER.Valid`), bit 63.
const VBASER_VALID: u64 = 1 << 63;

/// `GICR_PROPBASER.IDbits`, bits \[4:0\]: ID bits minus one.
const PROPBASER_IDBITS: u64 = 0x1f;
/// `GICR_PROPBASER.Physical_Address`, bits \[51:12\].
const PROPBASER_ADDRESS: u64 = ((1 << 52) - 1) & !0xfff;
/// `GICR_PENDBASER.Physical_Address`, bits \[51:16\] (the table is 64 KiB-aligned).
const PENDBASER_ADDRESS: u64 = ((1 << 52) - 1) & !0xffff;
/// The first LPI's interrupt ID.
const FIRST_LPI: u64 = 8192;
/// The fewest ID bits that reach an LPI.
const LPI_MIN_ID_BITS: u32 = 14;
/// The redistributor frames: RD_base and SGI_base are 64 KiB each (GICv3), and GICv4's
/// VLPI_base and a reserved frame follow when `GICR_TYPER.VLPIS` is set.
const FRAME: u64 = 0x1_0000;

/// The GIC's registers as the firmware reaches them (tests give a simulation). Accesses are
/// single device loads and stores, never waits.
pub trait GicPort {
    /// A load of `size` bytes at physical address `addr`.
    fn read(&self, addr: u64, size: u8) -> u64;
    /// A store of `size` bytes at physical address `addr`.
    fn write(&self, addr: u64, size: u8, value: u64);
}

/// The RD_base addresses of the redistributors in the DT's GICR `regions`, walked as the
/// architecture lays them out: one after the other, 128 KiB apart (256 KiB with
/// `GICR_TYPER.VLPIS`), until the one whose `GICR_TYPER.Last` is set or the region ends.
/// `typer` reads `GICR_TYPER` of the redistributor at an address.
pub fn discover(regions: &[Range<u64>], typer: impl Fn(u64) -> u64) -> Vec<u64> {
    let mut frames = Vec::new();
    for region in regions {
        let mut base = region.start;
        while base
            .checked_add(2 * FRAME)
            .is_some_and(|end| end <= region.end)
        {
            frames.push(base);
            let t: GicrTyper = zerocopy::transmute!(typer(base));
            if t.last_redistributor() {
                break;
            }
            base += if t.virtual_lpis_supported() {
                4 * FRAME
            } else {
                2 * FRAME
            };
        }
    }
    crate::ranges::sort_addresses(&mut frames);
    frames.dedup();
    frames
}

/// A GICv3's distributor frame and redistributor regions, from its DT `reg` (GICD, then
/// `#redistributor-regions` GICR regions); `None` for a GICv2 or a `reg` too short.
pub fn gicv3_frames(gic: &Gic) -> Option<(Range<u64>, &[Range<u64>])> {
    let Gic::V3 {
        regs,
        redistributor_regions,
    } = gic
    else {
        return None;
    };
    let gicd = regs.first()?.clone();
    let gicr = regs.get(1..1 + *redistributor_regions as usize)?;
    Some((gicd, gicr))
}

/// Whether `GICD_TYPER` says the GIC supports LPIs (bit 17): without them the
/// redistributors read no table and nothing needs trapping.
pub fn gicd_has_lpis(gicd_typer: u32) -> bool {
    let t: Typer = zerocopy::transmute!(gicd_typer);
    t.lpis_supported()
}

/// The number of interrupt ID bits `GICD_TYPER` gives (its IDbits field plus one).
pub fn gicd_id_bits(gicd_typer: u32) -> u32 {
    let t: Typer = zerocopy::transmute!(gicd_typer);
    t.id_bits()
}

/// The ID bits in effect for `propbaser`: its IDbits plus one, or the distributor's if fewer.
pub fn lpi_id_bits(propbaser: u64, gicd_bits: u32) -> u32 {
    ((propbaser & PROPBASER_IDBITS) as u32 + 1).min(gicd_bits)
}

fn page_up(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE) * PAGE
}

/// The pages of the property table `propbaser` describes (empty: no LPI in range), or `None`
/// for a zero address (no table).
pub fn property_table(propbaser: u64, gicd_bits: u32) -> Option<Range<u64>> {
    let base = propbaser & PROPBASER_ADDRESS;
    let bits = lpi_id_bits(propbaser, gicd_bits);
    if base == 0 {
        return None;
    }
    let bytes = if bits < LPI_MIN_ID_BITS {
        0
    } else {
        (1u64 << bits) - FIRST_LPI
    };
    Some(base..base + page_up(bytes))
}

/// The pages of the pending table `pendbaser` describes for `bits` ID bits (empty below the
/// first LPI), or `None` for a zero address (no table).
pub fn pending_table(pendbaser: u64, bits: u32) -> Option<Range<u64>> {
    let base = pendbaser & PENDBASER_ADDRESS;
    if base == 0 {
        return None;
    }
    let bytes = if bits < LPI_MIN_ID_BITS {
        0
    } else {
        (1u64 << bits) / 8
    };
    Some(base..base + page_up(bytes))
}

/// What one redistributor's accepted bases describe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Tables {
    /// The property table of the `GICR_PROPBASER` accepted here, if any.
    prop: Option<Range<u64>>,
    /// Its ID bits (0 if none).
    prop_bits: u32,
    /// The pending table of the `GICR_PENDBASER` accepted here, if any.
    pend: Option<Range<u64>>,
    /// The ID bits it was sized for.
    pend_bits: u32,
}

/// Whether the redistributor whose `GICR_TYPER` reads `typer` has the GICv4 VLPI frame.
pub fn has_vlpis(typer: u64) -> bool {
    let t: GicrTyper = zerocopy::transmute!(typer);
    t.virtual_lpis_supported()
}

/// The emulator's state, behind its lock.
struct State {
    /// Per redistributor, in the order of `Redistributors::frames`.
    tables: Vec<Tables>,
    /// Pinned tables and how many bases name each (capacity fixed at boot: two per
    /// redistributor, so pinning never allocates).
    pins: Vec<(Range<u64>, u32)>,
}

/// The redistributors' trapped pages and the tables accepted on them.
pub struct Redistributors<P> {
    port: P,
    /// RD_base of every redistributor, sorted.
    frames: Vec<u64>,
    /// VLPI_base of every redistributor with `GICR_TYPER.VLPIS`, sorted.
    vlpi: Vec<u64>,
    /// `GICD_TYPER`'s ID bits.
    gicd_bits: u32,
    state: Mutex<State>,
}

/// Something a write did that the console should say (rate-limited by the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A base naming memory the host may not hand to a device: not written.
    Refused {
        /// RD_base of the redistributor.
        rd: u64,
        /// The register's name.
        register: &'static str,
        /// The 64-bit value the write would have made.
        value: u64,
        /// Why the table's pages could not be pinned.
        error: OwnershipError,
    },
    /// A base written while LPIs are on (or being turned off): ignored.
    Ignored {
        /// RD_base of the redistributor.
        rd: u64,
        /// The register's name.
        register: &'static str,
    },
    /// `GICR_CTLR.EnableLPIs` set before both bases were accepted: the bit was cleared.
    LpisHeldOff {
        /// RD_base of the redistributor.
        rd: u64,
    },
    /// A write that would make a GICv4 vPE table valid: ignored, as every VLPI register.
    VlpiRefused {
        /// RD_base of the redistributor.
        rd: u64,
        /// The register's name.
        register: &'static str,
        /// The value written (the half written, for a 32-bit access).
        value: u64,
    },
}

impl core::fmt::Display for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Event::Refused {
                rd,
                register,
                value,
                error,
            } => write!(
                f,
                "redistributor {rd:#x}: {register} {value:#x} refused ({error}); the register keeps its old value"
            ),
            Event::Ignored { rd, register } => write!(
                f,
                "redistributor {rd:#x}: {register} written while LPIs are enabled: ignored"
            ),
            Event::LpisHeldOff { rd } => write!(
                f,
                "redistributor {rd:#x}: EnableLPIs before both LPI tables were accepted: kept off"
            ),
            Event::VlpiRefused {
                rd,
                register,
                value,
            } => write!(
                f,
                "redistributor {rd:#x}: {register} {value:#x} refused (no vLPIs for the host); reads as zero"
            ),
        }
    }
}

impl<P: GicPort> Redistributors<P> {
    /// The redistributors at `frames` (RD_base addresses) of a GIC whose `GICD_TYPER` gives
    /// `gicd_bits` ID bits, reached through `port`. Allocates its state now, and reads each
    /// `GICR_TYPER` to find the redistributors with a VLPI frame.
    pub fn new(port: P, mut frames: Vec<u64>, gicd_bits: u32) -> Self {
        crate::ranges::sort_addresses(&mut frames);
        frames.dedup();
        let n = frames.len();
        // Sorted as `frames`: each VLPI frame lies between its RD_base and the next one.
        let vlpi = frames
            .iter()
            .filter(|&&rd| has_vlpis(port.read(rd + GICR_TYPER, 8)))
            .map(|&rd| rd + VLPI_BASE)
            .collect();
        Redistributors {
            port,
            vlpi,
            state: Mutex::new(State {
                tables: alloc::vec![Tables::default(); n],
                pins: Vec::with_capacity(2 * n),
            }),
            frames,
            gicd_bits,
        }
    }

    /// The first page of each RD_base frame, one per redistributor, in address order.
    pub fn pages(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.frames.iter().map(|&f| f..f + PAGE)
    }

    /// The first page of each VLPI_base frame (GICv4 redistributors only).
    pub fn vlpi_pages(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.vlpi.iter().map(|&f| f..f + PAGE)
    }

    /// Every page to leave out of the host's stage 2: [`Self::pages`], then
    /// [`Self::vlpi_pages`].
    pub fn trapped_pages(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.pages().chain(self.vlpi_pages())
    }

    /// The redistributor whose trapped VLPI page holds `addr`: its RD_base.
    fn vlpi_of(&self, addr: u64) -> Option<u64> {
        let page = addr & !(PAGE - 1);
        self.vlpi
            .binary_search(&page)
            .ok()
            .map(|_| page - VLPI_BASE)
    }

    /// A write to a VLPI page: ignored; one event if it sets a `Valid` bit.
    fn write_vlpi(rd: u64, offset: u64, size: u8, value: u64) -> Option<Event> {
        let register = match offset & !7 {
            GICR_VPROPBASER => "GICR_VPROPBASER",
            GICR_VPENDBASER => "GICR_VPENDBASER",
            _ => return None,
        };
        // Bit 63 of the register, wherever the access put it (aligned: shift <= 56).
        let shift = (offset & 7) * 8;
        let valid = (value & size_mask(size)) << shift & VBASER_VALID != 0;
        valid.then_some(Event::VlpiRefused {
            rd,
            register,
            value: value & size_mask(size),
        })
    }

    /// The redistributor whose trapped page holds `addr`: its index and RD_base.
    fn frame_of(&self, addr: u64) -> Option<(usize, u64)> {
        let page = addr & !(PAGE - 1);
        self.frames
            .binary_search(&page)
            .ok()
            .map(|i| (i, self.frames[i]))
    }

    /// Pages pinned for these redistributors' tables (each table once).
    pub fn pinned_pages(&self) -> u64 {
        let state = self.state.lock();
        state
            .pins
            .iter()
            .map(|(r, _)| (r.end - r.start) / PAGE)
            .sum()
    }

    /// This emulator bound to the memory core, as the MMIO path calls it for one access.
    pub fn with<'a>(&'a self, mm: &'a MemProtect) -> Emulated<'a, P> {
        Emulated {
            rds: self,
            mm,
            event: Cell::new(None),
        }
    }

    fn write(
        &self,
        mm: &MemProtect,
        addr: u64,
        size: u8,
        value: u64,
    ) -> Result<Option<Event>, Refusal> {
        let Some((i, rd)) = self.frame_of(addr) else {
            return Err(Refusal::NotEmulated);
        };
        let offset = addr - rd;
        let register = match offset & !7 {
            GICR_PROPBASER => "GICR_PROPBASER",
            GICR_PENDBASER => "GICR_PENDBASER",
            _ if offset == GICR_CTLR => return Ok(self.write_ctlr(i, rd, size, value)),
            _ => {
                self.port.write(addr, size, value);
                return Ok(None);
            }
        };
        let reg = rd + (offset & !7);
        if !matches!((size, offset & 7), (8, 0) | (4, 0 | 4)) {
            return Err(Refusal::Size);
        }
        let mut state = self.state.lock();
        // 64 bits at once, or either 32-bit half merged with the device's other half.
        let whole = if size == 8 {
            value
        } else {
            let shift = (offset & 7) * 8;
            let old = self.port.read(reg, 8);
            (old & !(size_mask(4) << shift)) | (value & size_mask(4)) << shift
        };
        let ctlr = GicrCtlr::from_bits_retain(self.port.read(rd + GICR_CTLR, 4) as u32);
        if ctlr.intersects(GicrCtlr::EnableLPIs | GicrCtlr::RWP) {
            return Ok(Some(Event::Ignored { rd, register }));
        }
        let State { tables, pins } = &mut *state;
        let Some(t) = tables.get_mut(i) else {
            return Err(Refusal::NotEmulated);
        };
        let is_prop = reg - rd == GICR_PROPBASER;
        let (new, bits) = if is_prop {
            let bits = lpi_id_bits(whole, self.gicd_bits);
            (property_table(whole, self.gicd_bits), bits)
        } else {
            let bits = if t.prop.is_some() {
                t.prop_bits
            } else {
                self.gicd_bits
            };
            (pending_table(whole, bits), bits)
        };
        let old = if is_prop { &t.prop } else { &t.pend };
        if let Err(error) = swap_pins(mm, pins, old.clone(), new.clone()) {
            return Ok(Some(Event::Refused {
                rd,
                register,
                value: whole,
                error,
            }));
        }
        self.port.write(addr, size, value);
        if is_prop {
            t.prop_bits = bits;
            t.prop = new;
        } else {
            t.pend_bits = bits;
            t.pend = new;
        }
        // A pending table checked for fewer ID bits than the property table now gives
        // is no longer known to be big enough.
        if is_prop && t.pend.is_some() && t.pend_bits < t.prop_bits {
            let _ = swap_pins(mm, pins, t.pend.take(), None);
        }
        Ok(None)
    }

    /// `GICR_CTLR`: through, but `EnableLPIs` only once both tables were accepted.
    fn write_ctlr(&self, i: usize, rd: u64, size: u8, mut value: u64) -> Option<Event> {
        let state = self.state.lock();
        let mut event = None;
        let ready = state
            .tables
            .get(i)
            .is_some_and(|t| t.prop.is_some() && t.pend.is_some());
        let enable = u64::from(GicrCtlr::EnableLPIs.bits());
        if value & enable != 0 && !ready {
            value &= !enable;
            event = Some(Event::LpisHeldOff { rd });
        }
        self.port.write(rd + GICR_CTLR, size, value);
        event
    }
}

/// One base moves from the table `old` to the table `new` (either may be none or empty):
/// pins are counted per exact range, so a table another base still names stays pinned, and
/// a table that is the last user of its pages is replaced in one step under the memory lock
/// (it may grow or move over its own pages). Nothing changes on failure.
fn swap_pins(
    mm: &MemProtect,
    pins: &mut Vec<(Range<u64>, u32)>,
    old: Option<Range<u64>>,
    new: Option<Range<u64>>,
) -> Result<(), OwnershipError> {
    let old = old.filter(|r| !r.is_empty());
    let new = new.filter(|r| !r.is_empty());
    if old == new {
        return Ok(());
    }
    let old_at = old
        .as_ref()
        .and_then(|o| pins.iter().position(|(r, _)| r == o));
    let new_at = new
        .as_ref()
        .and_then(|n| pins.iter().position(|(r, _)| r == n));
    let old_last = old_at
        .and_then(|i| pins.get(i))
        .is_some_and(|(_, n)| *n == 1);
    match (&new, new_at) {
        (None, _) => {}
        (Some(_), Some(i)) => {
            if let Some((_, n)) = pins.get_mut(i) {
                *n += 1;
            }
        }
        (Some(n), None) => {
            if pins.len() == pins.capacity() && !old_last {
                return Err(OwnershipError::NoRoom);
            }
            match (&old, old_last) {
                (Some(o), true) => mm.repin_for_device(o.clone(), n.clone())?,
                _ => mm.pin_for_device(n.clone(), n.start)?,
            }
        }
    }
    // The old base's count drops; its pages were released above if it was the last.
    if let Some(i) = old_at {
        if old_last {
            let (range, _) = pins.swap_remove(i);
            if new.is_none() || new_at.is_some() {
                // Pinned under this tag by an earlier swap: the release cannot fail.
                let _ = mm.unpin_for_device(range.clone(), range.start);
            }
        } else if let Some((_, n)) = pins.get_mut(i) {
            *n -= 1;
        }
    }
    if let (Some(n), None) = (new, new_at) {
        pins.push((n, 1));
    }
    Ok(())
}

/// [`Redistributors`] bound to the memory core for one trapped access; the event the access
/// caused, if any, is left in [`Emulated::event`].
pub struct Emulated<'a, P> {
    rds: &'a Redistributors<P>,
    mm: &'a MemProtect,
    event: Cell<Option<Event>>,
}

impl<P> Emulated<'_, P> {
    /// What the last write did that the console should say.
    pub fn event(&self) -> Option<Event> {
        self.event.get()
    }
}

impl<P: GicPort> MmioDevice for Emulated<'_, P> {
    fn claims(&self, ipa: u64) -> bool {
        self.rds.frame_of(ipa).is_some() || self.rds.vlpi_of(ipa).is_some()
    }

    fn read(&self, ipa: u64, size: u8) -> Result<u64, Refusal> {
        if self.rds.vlpi_of(ipa).is_some() {
            return Ok(0);
        }
        if self.rds.frame_of(ipa).is_none() {
            return Err(Refusal::NotEmulated);
        }
        Ok(self.rds.port.read(ipa, size) & size_mask(size))
    }

    fn write(&self, ipa: u64, size: u8, value: u64) -> Result<(), Refusal> {
        if let Some(rd) = self.rds.vlpi_of(ipa) {
            let offset = ipa - rd - VLPI_BASE;
            self.event
                .set(Redistributors::<P>::write_vlpi(rd, offset, size, value));
            return Ok(());
        }
        let event = self.rds.write(self.mm, ipa, size, value)?;
        self.event.set(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
