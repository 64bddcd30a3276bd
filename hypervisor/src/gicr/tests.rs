//! The redistributor emulation against a simulated GIC (registers as memory, every store
//! recorded) and the test kit's memory core over QEMU virt's RAM.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::vec::Vec;

use super::*;
use crate::abort::ec;
use crate::frame::HostFrame;
use crate::mm::PageState;
use crate::testkit::SimStage2;

/// QEMU virt's RAM minus the carve-out (0x6000_0000..0x6020_0000).
const RAM: [Range<u64>; 2] = [0x4000_0000..0x6000_0000, 0x6020_0000..0x8000_0000];
const CARVEOUT: u64 = 0x6000_0000;
/// OP-TEE's Secure RAM on QEMU virt: not host RAM.
const SECURE: u64 = 0x0e10_0000;
/// Two redistributors, GICv3 layout (128 KiB apart), as on QEMU virt.
const RD0: u64 = 0x080a_0000;
const RD1: u64 = 0x080c_0000;
/// QEMU's GICD_TYPER.IDbits = 15: 16 ID bits.
const GICD_BITS: u32 = 16;
/// The property table for 16 ID bits: 2^16 - 8192 bytes = 14 pages.
const PROP_PAGES: u64 = 14;
/// The pending table for 16 ID bits: 2^16 / 8 bytes = 2 pages.
const PEND_PAGES: u64 = 2;
/// A base as Linux writes it: IDbits = 15, inner-shareable, write-back.
fn propbaser(pa: u64) -> u64 {
    pa | 15 | 1 << 10 | 7 << 7
}
fn pendbaser(pa: u64) -> u64 {
    pa | 1 << 10 | 7 << 7
}

/// Registers as memory (by 8-byte word), every store recorded.
#[derive(Default)]
struct SimGic {
    regs: Mutex<BTreeMap<u64, u64>>,
    stores: Mutex<Vec<(u64, u8, u64)>>,
}

impl SimGic {
    fn set(&self, addr: u64, value: u64) {
        self.regs.lock().unwrap().insert(addr, value);
    }
    fn get(&self, addr: u64) -> u64 {
        self.read(addr, 8)
    }
    fn stores(&self) -> Vec<(u64, u8, u64)> {
        self.stores.lock().unwrap().clone()
    }
}

impl GicPort for &SimGic {
    fn read(&self, addr: u64, size: u8) -> u64 {
        let word = self.regs.lock().unwrap().get(&(addr & !7)).copied();
        (word.unwrap_or(0) >> ((addr & 7) * 8)) & size_mask(size)
    }
    fn write(&self, addr: u64, size: u8, value: u64) {
        self.stores.lock().unwrap().push((addr, size, value));
        let shift = (addr & 7) * 8;
        let mut regs = self.regs.lock().unwrap();
        let word = regs.entry(addr & !7).or_default();
        *word = (*word & !(size_mask(size) << shift)) | (value & size_mask(size)) << shift;
    }
}

fn setup(gic: &SimGic) -> (Redistributors<&SimGic>, MemProtect, SimStage2) {
    let s2 = SimStage2::default();
    let mm = crate::testkit::memory(&RAM, &s2);
    (Redistributors::new(gic, vec![RD1, RD0], GICD_BITS), mm, s2)
}

/// One 64-bit store through the device interface; the event it left.
fn store(rds: &Redistributors<&SimGic>, mm: &MemProtect, addr: u64, value: u64) -> Option<Event> {
    let dev = rds.with(mm);
    dev.write(addr, 8, value).unwrap();
    dev.event()
}

fn pinned(mm: &MemProtect) -> u64 {
    mm.pages_in(PageState::PinnedForDevice)
}

#[test]
fn redistributors_are_found_by_typer_last_and_vlpis() {
    // GICv3 layout: 128 KiB apart, the third is the last.
    let typers = |base: u64| if base == 0x080e_0000 { 1 << 4 } else { 0 };
    assert_eq!(
        discover(&[0x080a_0000..0x0900_0000], typers),
        [0x080a_0000, 0x080c_0000, 0x080e_0000]
    );
    // GICv4 (VLPIS): 256 KiB apart; a region that ends stops the walk without Last; two
    // regions.
    let v4 = |_| 1 << 1;
    assert_eq!(
        discover(&[0x1000_0000..0x1008_0000, 0x2000_0000..0x2004_0000], v4),
        [0x1000_0000, 0x1004_0000, 0x2000_0000]
    );
    // A region too small for one redistributor, or wrapping: nothing.
    assert!(discover(&[0x1000_0000..0x1001_0000], |_| 0).is_empty());
    assert!(discover(&[u64::MAX - 0xffff..u64::MAX], |_| 0).is_empty());
}

#[test]
fn the_frames_come_from_the_dt() {
    let info = crate::dt::SystemInfo::parse(include_bytes!(
        "../../../tests/fixtures/qemu-virt-tfa-optee.dtb"
    ))
    .unwrap();
    let (gicd, gicr) = gicv3_frames(info.gic.as_ref().unwrap()).unwrap();
    assert_eq!(gicd, 0x0800_0000..0x0801_0000);
    assert_eq!(gicr, [0x080a_0000..0x0900_0000]);
    let v2 = Gic::V2 {
        regs: vec![0x2c01_0000..0x2c01_1000],
    };
    assert!(gicv3_frames(&v2).is_none());
    let short = Gic::V3 {
        regs: vec![0x0800_0000..0x0801_0000],
        redistributor_regions: 1,
    };
    assert!(gicv3_frames(&short).is_none());
    assert!(gicd_has_lpis(1 << 17) && !gicd_has_lpis(!(1 << 17)));
}

#[test]
fn table_sizes_follow_the_id_bits() {
    assert_eq!(gicd_id_bits(15 << 19), 16);
    assert_eq!(gicd_id_bits(23 << 19), 24);
    let p = 0x4810_0000;
    assert_eq!(property_table(p | 15, 16), Some(p..p + PROP_PAGES * PAGE));
    // IDbits above the distributor's: the distributor's apply.
    assert_eq!(property_table(p | 31, 16), Some(p..p + PROP_PAGES * PAGE));
    // 14 ID bits: 8192 LPIs, 2 pages; fewer: no LPI, no page.
    assert_eq!(property_table(p | 13, 16), Some(p..p + 2 * PAGE));
    assert_eq!(property_table(p | 12, 16), Some(p..p));
    // 24 ID bits: 16 MiB - 8 KiB.
    assert_eq!(property_table(p | 23, 24), Some(p..p + (1 << 24) - 8192));
    assert_eq!(property_table(15, 16), None, "address zero: no table");
    // Pending: one bit per ID, from a 64 KiB-aligned base (low address bits are not the
    // address).
    assert_eq!(
        pending_table(0x4820_0000 | 0xf000, 16),
        Some(0x4820_0000..0x4820_2000)
    );
    assert_eq!(
        pending_table(0x4820_0000, 24),
        Some(0x4820_0000..0x4840_0000)
    );
    assert_eq!(
        pending_table(0x4820_0000, 13),
        Some(0x4820_0000..0x4820_0000)
    );
    assert_eq!(pending_table(0xffff, 16), None);
}

/// Host RAM is accepted: the device gets the write, the pages are pinned; a re-base
/// unpins the old table.
#[test]
fn host_ram_is_accepted_pinned_and_unpinned_on_rebase() {
    let gic = SimGic::default();
    let (rds, mm, s2) = setup(&gic);
    assert_eq!(store(&rds, &mm, RD0 + 0x70, propbaser(0x4810_0000)), None);
    assert_eq!(gic.get(RD0 + 0x70), propbaser(0x4810_0000));
    assert_eq!(pinned(&mm), PROP_PAGES);
    assert_eq!(store(&rds, &mm, RD0 + 0x78, pendbaser(0x4820_0000)), None);
    assert_eq!(gic.get(RD0 + 0x78), pendbaser(0x4820_0000));
    assert_eq!(pinned(&mm), PROP_PAGES + PEND_PAGES);
    assert_eq!(
        mm.state(crate::addr::PhysAddr(0x4820_1000)),
        Some(PageState::PinnedForDevice)
    );
    assert!(s2.view().unmapped.is_empty(), "pinned pages stay mapped");
    // Re-base both: the old pages are the host's again, the new ones pinned.
    store(&rds, &mm, RD0 + 0x70, propbaser(0x4900_0000));
    store(&rds, &mm, RD0 + 0x78, pendbaser(0x4910_0000));
    assert_eq!(pinned(&mm), PROP_PAGES + PEND_PAGES);
    assert_eq!(
        mm.state(crate::addr::PhysAddr(0x4810_0000)),
        Some(PageState::Owned)
    );
    assert_eq!(
        mm.state(crate::addr::PhysAddr(0x4820_0000)),
        Some(PageState::Owned)
    );
    assert_eq!(
        mm.state(crate::addr::PhysAddr(0x4900_d000)),
        Some(PageState::PinnedForDevice)
    );
    // Writing the same base again changes nothing.
    store(&rds, &mm, RD0 + 0x70, propbaser(0x4900_0000));
    assert_eq!(pinned(&mm), PROP_PAGES + PEND_PAGES);
    assert_eq!(rds.pinned_pages(), PROP_PAGES + PEND_PAGES);
    // Address zero: no table, accepted, unpins.
    store(&rds, &mm, RD0 + 0x70, 15);
    store(&rds, &mm, RD0 + 0x78, 0);
    assert_eq!(pinned(&mm), 0);
    assert_eq!(mm.usage().0, 0);
}

/// The carve-out, Secure memory, a table running past the end of host RAM and a lent page
/// are refused: the device never sees the write, the register reads back its old value,
/// nothing is pinned, and the event names the register.
#[test]
fn bases_outside_the_hosts_ram_are_refused_and_never_reach_the_device() {
    let gic = SimGic::default();
    let (rds, mm, _s2) = setup(&gic);
    // An accepted table first, so "the old value" is not just zero.
    store(&rds, &mm, RD0 + 0x70, propbaser(0x4810_0000));
    let stores = gic.stores().len();
    let lent = [0x5000_0000..0x5000_1000];
    mm.lend(&lent[..], 7).unwrap();
    let shared = [0x5100_0000..0x5100_1000];
    mm.share(&shared[..], 8).unwrap();
    for (reg, base, what) in [
        (0x70, propbaser(CARVEOUT), "carve-out"),
        (0x78, pendbaser(CARVEOUT), "carve-out"),
        (0x70, propbaser(SECURE), "Secure memory"),
        (0x70, propbaser(0x5fff_f000), "runs into the carve-out"),
        (0x70, propbaser(0x5000_0000), "lent"),
        (0x78, pendbaser(0x5000_0000), "lent"),
        (0x70, propbaser(0x50ff_f000), "shared with the Secure world"),
        (0x70, propbaser(0x1_0000_0000), "beyond RAM"),
    ] {
        let event = store(&rds, &mm, RD0 + reg, base);
        let Some(Event::Refused {
            rd,
            register,
            value,
            ..
        }) = event
        else {
            panic!("{what}: {event:?}");
        };
        assert_eq!((rd, value), (RD0, base), "{what}");
        assert_eq!(
            register,
            if reg == 0x70 {
                "GICR_PROPBASER"
            } else {
                "GICR_PENDBASER"
            }
        );
        assert_eq!(
            gic.stores().len(),
            stores,
            "{what}: never reached the device"
        );
        let dev = rds.with(&mm);
        let old = if reg == 0x70 {
            propbaser(0x4810_0000)
        } else {
            0
        };
        assert_eq!(
            dev.read(RD0 + reg, 8),
            Ok(old),
            "{what}: reads back the old value"
        );
        assert_eq!(pinned(&mm), PROP_PAGES, "{what}");
    }
    let line = format!(
        "{}",
        store(&rds, &mm, RD0 + 0x70, propbaser(CARVEOUT)).unwrap()
    );
    assert_eq!(
        line,
        "redistributor 0x80a0000: GICR_PROPBASER 0x6000078f refused \
         (0x60000000-0x6000e000 is not host RAM); the register keeps its old value"
    );
    assert_eq!(
        mm.pages_in(PageState::LentToSecure),
        1,
        "the lent page stays lent"
    );
}

/// A pinned table's pages cannot be lent or shared through FF-A (DENIED, nothing reaches
/// the SPMC) while the table is the redistributor's; once re-based away, they can.
#[test]
fn ffa_cannot_lend_or_share_a_pinned_table() {
    use crate::ffa::abi::Version;
    use crate::ffa::descriptor::tests::linux_share;
    use crate::ffa::{Outcome, Proxy};
    use crate::testkit::{Hyp, Spmc, r};
    use ffa_spec::{fid, status};

    let mut fw = Spmc::optee();
    let hyp = Hyp::with_memory(
        Proxy::probe(&mut fw, 0x1_0002),
        (0x6000_8000, 0x6000_9000),
        &RAM,
        &fw.stage2,
    );
    let mut regs = r(&[fid::VERSION.into(), 0x1_0002]);
    let _ = hyp.handle(&mut regs, 0, &mut fw);
    let mut regs = r(&[fid::RXTX_MAP_64.into(), 0x4800_0000, 0x4800_1000, 1]);
    let _ = hyp.handle(&mut regs, 0, &mut fw);
    assert_eq!(regs[0], u64::from(fid::SUCCESS_32));

    let gic = SimGic::default();
    let rds = Redistributors::new(&gic, vec![RD0], GICD_BITS);
    assert_eq!(
        store(&rds, &hyp.mm, RD0 + 0x70, propbaser(0x4810_0000)),
        None
    );
    for function in [fid::MEM_LEND_64, fid::MEM_SHARE_64] {
        let mut d = linux_share(Version::V1_2, &[0x8001], &[(0x4810_d000, 1)]);
        if function == fid::MEM_LEND_64 {
            d[2] = 0;
            d[3] = 0;
        }
        fw.poke(0x4800_0000, &d);
        fw.calls.clear();
        let len = d.len() as u64;
        let mut regs = r(&[function.into(), len, len]);
        assert!(matches!(
            hyp.handle(&mut regs, 0, &mut fw),
            Outcome::Rejected(_)
        ));
        assert_eq!(regs[0], u64::from(fid::ERROR));
        assert_eq!(regs[2], status::DENIED as u32 as u64, "{function:#x}");
        assert!(fw.calls.is_empty(), "nothing reached the SPMC");
    }
    assert!(fw.stage2.view().unmapped.is_empty());
    // Re-based away: the page can be shared again.
    store(&rds, &hyp.mm, RD0 + 0x70, propbaser(0x4900_0000));
    let d = linux_share(Version::V1_2, &[0x8001], &[(0x4810_d000, 1)]);
    fw.poke(0x4800_0000, &d);
    let len = d.len() as u64;
    let mut regs = r(&[fid::MEM_SHARE_64.into(), len, len]);
    let _ = hyp.handle(&mut regs, 0, &mut fw);
    assert_eq!(regs[0], u64::from(fid::SUCCESS_32));
}

/// A property table shared by every redistributor is pinned once and unpinned only when the
/// last base naming it moves; a table overlapping another one without being it is refused.
#[test]
fn a_shared_property_table_is_pinned_once_until_the_last_base_moves() {
    let gic = SimGic::default();
    let (rds, mm, _s2) = setup(&gic);
    store(&rds, &mm, RD0 + 0x70, propbaser(0x4810_0000));
    assert_eq!(store(&rds, &mm, RD1 + 0x70, propbaser(0x4810_0000)), None);
    assert_eq!(pinned(&mm), PROP_PAGES);
    assert_eq!(gic.get(RD1 + 0x70), propbaser(0x4810_0000));
    store(&rds, &mm, RD0 + 0x70, propbaser(0x4900_0000));
    assert_eq!(
        mm.state(crate::addr::PhysAddr(0x4810_0000)),
        Some(PageState::PinnedForDevice),
        "RD1 still names it"
    );
    store(&rds, &mm, RD1 + 0x70, propbaser(0x4900_0000));
    assert_eq!(
        mm.state(crate::addr::PhysAddr(0x4810_0000)),
        Some(PageState::Owned)
    );
    assert_eq!(pinned(&mm), PROP_PAGES);
    // A pending table overlapping the property table without being it is refused.
    let event = store(&rds, &mm, RD1 + 0x78, pendbaser(0x4900_0000));
    assert!(
        matches!(
            event,
            Some(Event::Refused {
                error: OwnershipError::WrongState {
                    found: PageState::PinnedForDevice,
                    ..
                },
                ..
            })
        ),
        "{event:?}"
    );
    assert_eq!(pinned(&mm), PROP_PAGES);
}

/// Writes of either base while LPIs are on (or still turning off: RWP) are ignored, as the
/// architecture leaves them UNPREDICTABLE; nothing is pinned or unpinned.
#[test]
fn bases_are_ignored_while_lpis_are_enabled() {
    let gic = SimGic::default();
    let (rds, mm, _s2) = setup(&gic);
    store(&rds, &mm, RD0 + 0x70, propbaser(0x4810_0000));
    for ctlr in [1u64, 1 << 3] {
        gic.set(RD0, ctlr);
        let stores = gic.stores().len();
        for (reg, register) in [(0x70, "GICR_PROPBASER"), (0x78, "GICR_PENDBASER")] {
            assert_eq!(
                store(&rds, &mm, RD0 + reg, propbaser(0x4900_0000)),
                Some(Event::Ignored { rd: RD0, register })
            );
        }
        assert_eq!(gic.stores().len(), stores);
        assert_eq!(gic.get(RD0 + 0x70), propbaser(0x4810_0000));
        assert_eq!(pinned(&mm), PROP_PAGES);
    }
    // The other redistributor is not affected.
    assert_eq!(store(&rds, &mm, RD1 + 0x70, propbaser(0x4900_0000)), None);
}

/// GICR_CTLR.EnableLPIs reaches the device only once both tables of that redistributor were
/// accepted; the rest of the write always does.
#[test]
fn lpis_stay_off_until_both_tables_are_accepted() {
    let gic = SimGic::default();
    let (rds, mm, _s2) = setup(&gic);
    let dev = rds.with(&mm);
    dev.write(RD0, 4, 1 | 1 << 1).unwrap();
    assert_eq!(dev.event(), Some(Event::LpisHeldOff { rd: RD0 }));
    assert_eq!(gic.get(RD0) & 3, 1 << 1, "EnableLPIs cleared, CES written");
    store(&rds, &mm, RD0 + 0x70, propbaser(0x4810_0000));
    dev.write(RD0, 4, 1).unwrap();
    assert_eq!(gic.get(RD0) & 1, 0, "no pending table yet");
    // A refused pending table does not count.
    store(&rds, &mm, RD0 + 0x78, pendbaser(CARVEOUT));
    dev.write(RD0, 4, 1).unwrap();
    assert_eq!(gic.get(RD0) & 1, 0);
    store(&rds, &mm, RD0 + 0x78, pendbaser(0x4820_0000));
    dev.write(RD0, 4, 1).unwrap();
    assert_eq!(dev.event(), None);
    assert_eq!(gic.get(RD0) & 1, 1);
    // RD1 is still off.
    dev.write(RD1, 4, 1).unwrap();
    assert_eq!(gic.get(RD1) & 1, 0);
}

/// A property table with more ID bits than the pending table was checked for drops the
/// pending table's acceptance: unpinned, and LPIs stay off until PENDBASER is written again.
#[test]
fn a_larger_property_table_drops_a_pending_table_checked_for_fewer_bits() {
    let gic = SimGic::default();
    let (rds, mm, _s2) = setup(&gic);
    store(&rds, &mm, RD0 + 0x70, 0x4810_0000 | 13); // 14 bits
    store(&rds, &mm, RD0 + 0x78, pendbaser(0x4820_0000));
    assert_eq!(pinned(&mm), 2 + 1, "2 KiB of pending bits: one page");
    store(&rds, &mm, RD0 + 0x70, propbaser(0x4810_0000)); // 16 bits
    assert_eq!(pinned(&mm), PROP_PAGES, "the pending table was dropped");
    let dev = rds.with(&mm);
    dev.write(RD0, 4, 1).unwrap();
    assert_eq!(gic.get(RD0) & 1, 0);
    store(&rds, &mm, RD0 + 0x78, pendbaser(0x4820_0000));
    assert_eq!(pinned(&mm), PROP_PAGES + PEND_PAGES);
    dev.write(RD0, 4, 1).unwrap();
    assert_eq!(gic.get(RD0) & 1, 1);
    // Without a property table, the pending table is checked for the distributor's bits.
    store(&rds, &mm, RD1 + 0x78, pendbaser(0x4830_0000));
    assert_eq!(pinned(&mm), PROP_PAGES + 2 * PEND_PAGES);
}

/// 32-bit halves are merged with the device's other half and checked as the whole value
/// they make; 8- and 16-bit writes of the bases are refused (external abort); every other
/// register passes through with its own size.
#[test]
fn access_sizes() {
    let gic = SimGic::default();
    let (rds, mm, _s2) = setup(&gic);
    let dev = rds.with(&mm);
    dev.write(RD0 + 0x70, 4, propbaser(0x4810_0000) & 0xffff_ffff)
        .unwrap();
    assert_eq!(dev.event(), None);
    assert_eq!(gic.get(RD0 + 0x70), propbaser(0x4810_0000));
    assert_eq!(pinned(&mm), PROP_PAGES);
    dev.write(RD0 + 0x74, 4, 0).unwrap();
    assert_eq!(pinned(&mm), PROP_PAGES, "high half zero: the same table");
    // A high half that moves the table beyond RAM: refused.
    dev.write(RD0 + 0x74, 4, 1).unwrap();
    assert!(
        matches!(dev.event(), Some(Event::Refused { value, .. }) if value == propbaser(0x4810_0000) | 1 << 32)
    );
    assert_eq!(gic.get(RD0 + 0x70), propbaser(0x4810_0000));
    for (addr, size) in [
        (0x70, 1),
        (0x70, 2),
        (0x72, 2),
        (0x7c, 2),
        (0x78, 1),
        (0x74, 8),
    ] {
        assert_eq!(
            dev.write(RD0 + addr, size, 0),
            Err(Refusal::Size),
            "{addr:#x}/{size}"
        );
    }
    assert_eq!(
        dev.read(RD0 + 0x70, 4),
        Ok(propbaser(0x4810_0000) & 0xffff_ffff)
    );
    assert_eq!(dev.read(RD0 + 0x74, 4), Ok(0));
    // Pass-through: WAKER (0x14) as a word, a byte of STATUSR, TYPER as 64 bits.
    gic.set(RD0 + 8, 0x0000_0001_0000_0011);
    assert_eq!(dev.read(RD0 + 8, 8), Ok(0x0000_0001_0000_0011));
    assert_eq!(dev.read(RD0 + 0xc, 4), Ok(1));
    let before = gic.stores().len();
    dev.write(RD0 + 0x14, 4, 0x2).unwrap();
    dev.write(RD0 + 0x10, 1, 0xff).unwrap();
    assert_eq!(
        gic.stores()[before..],
        [(RD0 + 0x14, 4, 0x2), (RD0 + 0x10, 1, 0xff)]
    );
    // Outside the trapped pages: not this device's.
    assert_eq!(dev.read(RD0 + 0x1000, 4), Err(Refusal::NotEmulated));
    assert_eq!(dev.write(RD0 + 0x1_0000, 4, 0), Err(Refusal::NotEmulated));
    assert!(dev.claims(RD1 + 0xffc) && !dev.claims(RD1 + 0x1000) && !dev.claims(RD0 - 4));
    assert_eq!(
        rds.pages().collect::<Vec<_>>(),
        [RD0..RD0 + PAGE, RD1..RD1 + PAGE]
    );
}

/// The whole path as the firmware runs it: the host's `str x5, [x1]` to GICR_PROPBASER and
/// `ldr x7, [x1]` back, decoded from the syndrome.
#[test]
fn the_host_programs_propbaser_through_the_mmio_path() {
    let gic = SimGic::default();
    let (rds, mm, _s2) = setup(&gic);
    let mut f = HostFrame::el1_entry(0x4008_0000, 0, 0x3c5);
    f.hpfar = (RD0 >> 12) << 4;
    f.far = 0xffff_8000_1000_0070;
    let iss = |srt: u64, wnr: u64| {
        (ec::DABT_LOW << 26) | 1 << 25 | 1 << 24 | 3 << 22 | srt << 16 | 1 << 15 | wnr << 6 | 7
    };
    f.esr = iss(5, 1);
    f.x[5] = propbaser(CARVEOUT);
    let dev = rds.with(&mm);
    crate::mmio::emulate(&dev, &mut f).unwrap();
    assert!(matches!(dev.event(), Some(Event::Refused { .. })));
    assert_eq!(
        f.elr, 0x4008_0004,
        "a refused base is not an abort: the host goes on"
    );
    f.esr = iss(7, 0);
    crate::mmio::emulate(&dev, &mut f).unwrap();
    assert_eq!(f.x[7], 0, "reads back the old value");
    f.esr = iss(5, 1);
    f.x[5] = propbaser(0x4810_0000);
    crate::mmio::emulate(&dev, &mut f).unwrap();
    f.esr = iss(7, 0);
    crate::mmio::emulate(&dev, &mut f).unwrap();
    assert_eq!(f.x[7], propbaser(0x4810_0000));
    assert_eq!(f.elr, 0x4008_0010);
}

/// The RD-N2 FVP's GIC-700: its distributor and redistributor regions as the DT gives them,
/// and a GICv2 board (Juno's GIC-400) has nothing to trap.
#[test]
fn board_dts_give_the_frames_to_map_and_walk() {
    let rdn2 = crate::dt::SystemInfo::parse(include_bytes!("../../../tests/fixtures/rdn2-fvp.dtb"))
        .unwrap();
    let (gicd, gicr) = gicv3_frames(rdn2.gic.as_ref().unwrap()).unwrap();
    assert!(gicd.end - gicd.start >= 0x1_0000, "{gicd:x?}");
    assert!(!gicr.is_empty());
    for region in gicr {
        assert!(region.end - region.start >= 2 * FRAME, "{region:x?}");
        assert!(region.start >= gicd.end || region.end <= gicd.start);
    }
    let juno =
        crate::dt::SystemInfo::parse(include_bytes!("../../../tests/fixtures/juno.dtb")).unwrap();
    assert!(gicv3_frames(juno.gic.as_ref().unwrap()).is_none());
}

/// Two GICv4 redistributors (`GICR_TYPER.VLPIS`: 256 KiB apart, VLPI_base at +128 KiB), the
/// second the last; each VLPI frame's GICR_VPENDBASER holds a value the host must not see.
fn gicv4(gic: &SimGic) -> (Redistributors<&SimGic>, MemProtect, SimStage2) {
    const V4_RD1: u64 = RD0 + 4 * FRAME;
    gic.set(RD0 + GICR_TYPER, 1 << 1);
    gic.set(V4_RD1 + GICR_TYPER, 1 << 1 | 1 << 4);
    gic.set(RD0 + VLPI_BASE + GICR_VPENDBASER, 0x4830_0000);
    let s2 = SimStage2::default();
    let mm = crate::testkit::memory(&RAM, &s2);
    let frames = discover(&[RD0..RD0 + 8 * FRAME], |a| gic.get(a + GICR_TYPER));
    assert_eq!(frames, [RD0, V4_RD1], "the walk uses the real GICR_TYPER");
    (Redistributors::new(gic, frames, GICD_BITS), mm, s2)
}

#[test]
fn gicv4_vlpi_pages_are_trapped_read_as_zero_and_ignore_writes() {
    let gic = SimGic::default();
    let (rds, mm, _s2) = gicv4(&gic);
    let (v0, v1) = (RD0 + VLPI_BASE, RD0 + 4 * FRAME + VLPI_BASE);
    assert_eq!(
        rds.vlpi_pages().collect::<Vec<_>>(),
        [v0..v0 + PAGE, v1..v1 + PAGE]
    );
    assert_eq!(
        rds.trapped_pages().collect::<Vec<_>>(),
        [
            RD0..RD0 + PAGE,
            RD0 + 4 * FRAME..RD0 + 4 * FRAME + PAGE,
            v0..v0 + PAGE,
            v1..v1 + PAGE
        ]
    );
    // RD_base stays as the ITS and the walk need it: the host sees the real VLPIS.
    assert_eq!(rds.pages().count(), 2);
    let dev = rds.with(&mm);
    assert!(dev.claims(v0 + GICR_VPENDBASER) && dev.claims(v1 + 0x80));
    assert!(
        !dev.claims(v0 + PAGE),
        "only the page with the table registers"
    );
    assert!(!dev.claims(RD0 + FRAME), "SGI_base is not trapped");
    assert_eq!(dev.read(RD0 + GICR_TYPER, 8), Ok(1 << 1));
    // RAZ, whatever the device holds.
    assert_eq!(dev.read(v0 + GICR_VPENDBASER, 8), Ok(0));
    assert_eq!(dev.read(v0 + GICR_VPENDBASER + 4, 4), Ok(0));
    // WI: a vPE pending table in the carve-out, made valid, never reaches the device and
    // is named; Linux's own writes (IDbits only, Valid clear) pass silently.
    let carve_valid = CARVEOUT | 1 << 63;
    dev.write(v0 + GICR_VPENDBASER, 8, carve_valid).unwrap();
    assert_eq!(
        dev.event(),
        Some(Event::VlpiRefused {
            rd: RD0,
            register: "GICR_VPENDBASER",
            value: carve_valid
        })
    );
    dev.write(v1 + GICR_VPROPBASER, 8, CARVEOUT | 1 << 63 | 15)
        .unwrap();
    assert!(matches!(
        dev.event(),
        Some(Event::VlpiRefused {
            register: "GICR_VPROPBASER",
            ..
        })
    ));
    // Valid in the upper 32-bit half.
    dev.write(v0 + GICR_VPENDBASER + 4, 4, 1 << 31).unwrap();
    assert!(matches!(dev.event(), Some(Event::VlpiRefused { .. })));
    dev.write(v0 + GICR_VPENDBASER, 4, CARVEOUT).unwrap();
    assert_eq!(dev.event(), None, "the low half holds no Valid bit");
    dev.write(v0 + GICR_VPROPBASER, 8, 15).unwrap();
    assert_eq!(dev.event(), None);
    dev.write(v0 + 0x80, 4, 1).unwrap();
    assert_eq!(dev.event(), None, "GICR_VSGIR: ignored too");
    assert!(gic.stores().is_empty(), "nothing reached the device");
    assert_eq!(gic.get(v0 + GICR_VPENDBASER), 0x4830_0000);
    assert_eq!(pinned(&mm), 0);
    assert!(
        Event::VlpiRefused {
            rd: RD0,
            register: "GICR_VPENDBASER",
            value: carve_valid
        }
        .to_string()
        .contains("GICR_VPENDBASER 0x8000000060000000 refused")
    );
}

#[test]
fn a_gicv3_redistributor_has_no_vlpi_page() {
    // GICv3 layout: RD0's +128 KiB is the next redistributor's RD_base, emulated as such.
    let gic = SimGic::default();
    let (rds, mm, _s2) = setup(&gic);
    assert_eq!(rds.vlpi_pages().count(), 0);
    assert!(rds.trapped_pages().eq(rds.pages()));
    gic.set(RD1 + 0x70, 0x1234_0000);
    assert_eq!(
        rds.with(&mm).read(RD0 + VLPI_BASE + 0x70, 8),
        Ok(0x1234_0000)
    );
}

/// The host's `str x5, [x1]` to GICR_VPENDBASER through the MMIO path: emulated (the host
/// goes on, no abort) and ignored.
#[test]
fn the_host_writes_vpendbaser_through_the_mmio_path() {
    let gic = SimGic::default();
    let (rds, mm, _s2) = gicv4(&gic);
    let mut f = HostFrame::el1_entry(0x4008_0000, 0, 0x3c5);
    let vpend = RD0 + VLPI_BASE + GICR_VPENDBASER;
    f.hpfar = (vpend >> 12) << 4;
    f.far = 0xffff_8000_1000_0078;
    let iss = |srt: u64, wnr: u64| {
        (ec::DABT_LOW << 26) | 1 << 25 | 1 << 24 | 3 << 22 | srt << 16 | 1 << 15 | wnr << 6 | 7
    };
    f.esr = iss(5, 1);
    f.x[5] = CARVEOUT | 1 << 63;
    let dev = rds.with(&mm);
    crate::mmio::emulate(&dev, &mut f).unwrap();
    assert!(matches!(dev.event(), Some(Event::VlpiRefused { .. })));
    f.esr = iss(7, 0);
    f.x[7] = 0xdead;
    crate::mmio::emulate(&dev, &mut f).unwrap();
    assert_eq!(f.x[7], 0);
    assert_eq!(f.elr, 0x4008_0008);
    assert!(gic.stores().is_empty());
}

/// RD-N2's GIC-700 is a GICv4.1: 16 redistributors of four frames in the DT's 4 MiB region,
/// each with a VLPI page trapped beside its RD_base page.
#[test]
fn rdn2_gicv4_redistributors_get_their_vlpi_pages_trapped() {
    let rdn2 = crate::dt::SystemInfo::parse(include_bytes!("../../../tests/fixtures/rdn2-fvp.dtb"))
        .unwrap();
    let (_, regions) = gicv3_frames(rdn2.gic.as_ref().unwrap()).unwrap();
    let gic = SimGic::default();
    let region = regions[0].clone();
    // GICR_TYPER as the GIC-700 gives it: VLPIS on each, Last on the sixteenth.
    for n in 0..16 {
        let last = if n == 15 { 1 << 4 } else { 0 };
        gic.set(region.start + n * 4 * FRAME + GICR_TYPER, 1 << 1 | last);
    }
    let frames = discover(regions, |a| gic.get(a + GICR_TYPER));
    assert_eq!(frames.len(), 16);
    assert_eq!(*frames.last().unwrap() + 4 * FRAME, region.end);
    let rds = Redistributors::new(&gic, frames.clone(), 16);
    let vlpi: Vec<u64> = rds.vlpi_pages().map(|p| p.start).collect();
    assert_eq!(
        vlpi,
        frames.iter().map(|f| f + VLPI_BASE).collect::<Vec<_>>()
    );
    assert_eq!(rds.trapped_pages().count(), 32);
    assert!(
        rds.trapped_pages()
            .all(|p| region.start <= p.start && p.end <= region.end)
    );
}
