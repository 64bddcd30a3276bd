//! The ITS emulation against a simulated ITS (registers as memory; the queue it reads is
//! executed on a `GITS_CWRITER` store, as QEMU does, unless told to stall) and the test
//! kit's memory core over QEMU virt's RAM.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::vec::Vec;

use super::*;
use crate::testkit::SimStage2;

/// QEMU virt's RAM minus the carve-out (0x6000_0000..0x6020_0000).
const RAM: [Range<u64>; 2] = [0x4000_0000..0x6000_0000, 0x6020_0000..0x8000_0000];
const CARVEOUT: u64 = 0x6000_0000;
/// OP-TEE's Secure RAM on QEMU virt: not host RAM.
const SECURE: u64 = 0x0e10_0000;
/// QEMU virt's ITS.
const ITS: u64 = 0x0808_0000;
/// The shadow queue (in the carve-out).
const SHADOW: u64 = CARVEOUT + 0x10_0000;
/// QEMU's GITS_TYPER: physical LPIs, 8-byte ITT entries, 16 ID bits, 16 DeviceID bits,
/// RDbase as processor numbers.
const TYPER: u64 = 1 | 7 << 4 | 15 << 8 | 15 << 13;
/// BASER0: device table, BASER1: collection table, BASER2: a vPE table (8-byte entries).
const BASER_RO: [u64; 3] = [1 << 56 | 7 << 48, 4 << 56 | 7 << 48, 2 << 56 | 7 << 48];
/// The host's queue: one page of RAM.
const QUEUE: u64 = 0x4100_0000;
/// A host table, ITTs.
const TABLE: u64 = 0x4200_0000;
const ITT: u64 = 0x4300_0000;

#[derive(Default)]
struct SimIts {
    regs: Mutex<BTreeMap<u64, u64>>,
    mem: Mutex<BTreeMap<u64, [u64; 4]>>,
    /// Commands the ITS executed, in order.
    executed: Mutex<Vec<[u64; 4]>>,
    /// The ITS does not process its queue.
    stall: Mutex<bool>,
    /// Every store to a BASER (address, value).
    baser_stores: Mutex<Vec<(u64, u64)>>,
}

impl SimIts {
    fn new() -> Self {
        let sim = SimIts::default();
        sim.set(ITS + GITS_TYPER, TYPER);
        sim.set(ITS + GITS_CTLR, CTLR_QUIESCENT);
        for (n, ro) in BASER_RO.iter().enumerate() {
            sim.set(ITS + GITS_BASER + 8 * n as u64, *ro);
        }
        sim
    }
    fn set(&self, addr: u64, value: u64) {
        self.regs.lock().unwrap().insert(addr, value);
    }
    fn get(&self, addr: u64) -> u64 {
        self.regs.lock().unwrap().get(&addr).copied().unwrap_or(0)
    }
    fn executed(&self) -> Vec<[u64; 4]> {
        self.executed.lock().unwrap().clone()
    }
    fn run(&self) {
        let ctlr = self.get(ITS + GITS_CTLR);
        if ctlr & CTLR_ENABLED == 0 || *self.stall.lock().unwrap() {
            return;
        }
        let base = self.get(ITS + GITS_CBASER) & CBASER_ADDRESS;
        let w = self.get(ITS + GITS_CWRITER) & QUEUE_OFFSET;
        let mut r = self.get(ITS + GITS_CREADR) & QUEUE_OFFSET;
        while r != w {
            let c = self.mem.lock().unwrap().get(&(base + r)).copied().unwrap();
            self.executed.lock().unwrap().push(c);
            r = (r + COMMAND) % SHADOW_BYTES;
        }
        self.set(ITS + GITS_CREADR, r);
    }
}

impl ItsPort for &SimIts {
    fn read(&self, addr: u64, size: u8) -> u64 {
        (self.get(addr & !7) >> ((addr & 7) * 8)) & size_mask(size)
    }
    fn write(&self, addr: u64, size: u8, value: u64) {
        if matches!(addr - ITS, GITS_CBASER | GITS_CWRITER) {
            assert_eq!(size, 8);
        }
        match addr - ITS {
            GITS_CTLR => {
                let q = if value & CTLR_ENABLED == 0 {
                    CTLR_QUIESCENT
                } else {
                    0
                };
                self.set(addr, value & CTLR_ENABLED | q);
                self.run();
            }
            GITS_CBASER => {
                self.set(addr, value);
                self.set(ITS + GITS_CREADR, 0);
            }
            GITS_CWRITER => {
                self.set(addr, value);
                self.run();
            }
            o if (GITS_BASER..GITS_BASER + 64).contains(&o) => {
                self.baser_stores.lock().unwrap().push((addr, value));
                let ro = 7 << 56 | 0x1f << 48;
                let old = self.get(addr);
                self.set(addr, (old & ro) | (value & !ro));
            }
            _ => self.set(addr, value),
        }
    }
    fn read_command(&self, addr: u64) -> [u64; 4] {
        assert!(!(CARVEOUT..CARVEOUT + 0x20_0000).contains(&addr));
        self.mem
            .lock()
            .unwrap()
            .get(&addr)
            .copied()
            .unwrap_or([0; 4])
    }
    fn write_command(&self, addr: u64, command: [u64; 4]) {
        assert!((SHADOW..SHADOW + SHADOW_BYTES).contains(&addr));
        self.mem.lock().unwrap().insert(addr, command);
    }
}

struct Rig<'a> {
    sim: &'a SimIts,
    its: Its<&'a SimIts>,
    mm: MemProtect,
    s2: SimStage2,
    /// The host's next queue offset.
    next: Mutex<u64>,
}

fn rig(sim: &SimIts) -> Rig<'_> {
    let s2 = SimStage2::default();
    let mm = crate::testkit::memory(&RAM, &s2);
    let its = Its::new(sim, ITS, SHADOW, vec![0, 1]).unwrap();
    Rig {
        sim,
        its,
        mm,
        s2,
        next: Mutex::new(0),
    }
}

impl Rig<'_> {
    fn store(&self, offset: u64, size: u8, value: u64) -> Option<Event> {
        let dev = self.its.with(&self.mm);
        dev.write(ITS + offset, size, value).unwrap();
        dev.event()
    }
    fn load(&self, offset: u64, size: u8) -> u64 {
        self.its.with(&self.mm).read(ITS + offset, size).unwrap()
    }
    /// The host's setup as Linux does it: queue, device and collection tables, enable.
    fn linux_setup(&self) {
        assert_eq!(self.store(GITS_CBASER, 8, VALID | QUEUE), None);
        assert_eq!(self.store(GITS_CWRITER, 4, 0), None);
        assert_eq!(self.store(GITS_BASER, 8, VALID | TABLE | 1), None); // 2 pages
        assert_eq!(
            self.store(GITS_BASER + 8, 8, VALID | (TABLE + 0x10000)),
            None
        );
        assert_eq!(self.store(GITS_CTLR, 4, 1), None);
    }
    /// Queues `commands` in the host's queue and writes CWRITER; the event it left.
    fn send(&self, commands: &[[u64; 4]]) -> Option<Event> {
        let mut next = self.next.lock().unwrap();
        for c in commands {
            self.sim.mem.lock().unwrap().insert(QUEUE + *next, *c);
            *next = (*next + COMMAND) % PAGE;
        }
        let w = *next;
        drop(next);
        self.store(GITS_CWRITER, 4, w)
    }
}

fn mapd(device: u64, itt: u64, size: u64, valid: bool) -> [u64; 4] {
    [
        u64::from(cmd::MAPD) | device << 32,
        size,
        itt | if valid { VALID } else { 0 },
        0,
    ]
}
fn mapc(icid: u64, rd: u64) -> [u64; 4] {
    [u64::from(cmd::MAPC), 0, VALID | rd << 16 | icid, 0]
}
fn mapti(device: u64, event: u64, lpi: u64, icid: u64) -> [u64; 4] {
    [
        u64::from(cmd::MAPTI) | device << 32,
        event | lpi << 32,
        icid,
        0,
    ]
}
fn int(device: u64, event: u64) -> [u64; 4] {
    [u64::from(cmd::INT) | device << 32, event, 0, 0]
}
fn sync(rd: u64) -> [u64; 4] {
    [u64::from(cmd::SYNC), 0, rd << 16, 0]
}
const SYNC0: [u64; 4] = [cmd::SYNC as u64, 0, 0, 0];

#[test]
fn boot_takes_the_its_over() {
    let sim = SimIts::new();
    sim.set(ITS + GITS_CTLR, CTLR_QUIESCENT | 1);
    sim.set(ITS + GITS_BASER, BASER_RO[0] | VALID | CARVEOUT);
    let r = rig(&sim);
    assert_eq!(sim.get(ITS + GITS_CTLR) & CTLR_ENABLED, 0);
    assert_eq!(sim.get(ITS + GITS_BASER) & VALID, 0);
    assert_eq!(sim.get(ITS + GITS_CBASER), shadow_cbaser(SHADOW));
    assert_eq!(r.its.pages(), ITS..ITS + 0x1_0000);
    // The host sees its own (empty) queue and no virtual LPIs.
    assert_eq!(r.load(GITS_CBASER, 8), 0);
    let with_virtual = TYPER | TYPER_VIRTUAL;
    sim.set(ITS + GITS_TYPER, with_virtual);
    assert_eq!(r.load(GITS_TYPER, 8), TYPER);
}

#[test]
fn an_its_that_never_quiesces_is_not_taken() {
    let sim = SimIts::new();
    sim.set(ITS + GITS_CTLR, 0);
    assert!(Its::new(&sim, ITS, SHADOW, vec![0]).is_none());
}

#[test]
fn enabled_is_held_off_until_a_queue_is_accepted() {
    let sim = SimIts::new();
    let r = rig(&sim);
    assert_eq!(r.store(GITS_CTLR, 4, 1), Some(Event::EnableHeldOff));
    assert_eq!(sim.get(ITS + GITS_CTLR) & CTLR_ENABLED, 0);
    r.linux_setup();
    assert_eq!(sim.get(ITS + GITS_CTLR) & CTLR_ENABLED, 1);
    // Other registers pass straight through.
    r.store(0x40, 4, 0x1234);
    assert_eq!(sim.get(ITS + 0x40), 0x1234);
}

#[test]
fn a_queue_outside_host_ram_is_refused_and_the_register_keeps_its_old_value() {
    let sim = SimIts::new();
    let r = rig(&sim);
    for bad in [CARVEOUT, SECURE, CARVEOUT - PAGE] {
        let v = VALID | bad | 1; // two pages: the last one straddles into the carve-out
        match r.store(GITS_CBASER, 8, v) {
            Some(Event::Refused { register, .. }) => assert_eq!(register, "GITS_CBASER"),
            e => panic!("{e:?}"),
        }
        assert_eq!(r.load(GITS_CBASER, 8), 0);
    }
    assert_eq!(sim.get(ITS + GITS_CBASER), shadow_cbaser(SHADOW));
    // A good one is pinned; moving it unpins the old one.
    assert_eq!(r.store(GITS_CBASER, 8, VALID | QUEUE), None);
    assert_eq!(r.load(GITS_CBASER, 8), VALID | QUEUE);
    assert_eq!(
        r.mm.state(crate::addr::PhysAddr(QUEUE)),
        Some(PageState::PinnedForDevice)
    );
    assert!(matches!(
        r.store(GITS_CBASER, 8, VALID | CARVEOUT),
        Some(Event::Refused { .. })
    ));
    assert_eq!(r.load(GITS_CBASER, 8), VALID | QUEUE);
    assert_eq!(r.store(GITS_CBASER, 8, VALID | (QUEUE + PAGE)), None);
    assert_eq!(
        r.mm.state(crate::addr::PhysAddr(QUEUE)),
        Some(PageState::Owned)
    );
    // Written while enabled: ignored.
    r.store(GITS_CTLR, 4, 1);
    assert_eq!(
        r.store(GITS_CBASER, 8, VALID | QUEUE),
        Some(Event::Ignored {
            register: "GITS_CBASER"
        })
    );
    assert_eq!(r.load(GITS_CBASER, 8), VALID | (QUEUE + PAGE));
}

#[test]
fn tables_are_taken_from_the_host_and_bad_ones_never_reach_the_its() {
    let sim = SimIts::new();
    let r = rig(&sim);
    let before = sim.get(ITS + GITS_BASER);
    for bad in [CARVEOUT, SECURE, 0x5fff_f000] {
        let v = VALID | bad | 1;
        assert!(matches!(
            r.store(GITS_BASER, 8, v),
            Some(Event::Refused {
                register: "GITS_BASER0",
                ..
            })
        ));
        assert_eq!(sim.get(ITS + GITS_BASER), before);
        assert_eq!(r.load(GITS_BASER, 8), before);
    }
    // Never did the ITS see Valid with a bad address.
    assert!(
        sim.baser_stores
            .lock()
            .unwrap()
            .iter()
            .all(|&(_, v)| v & VALID == 0 || v & 0xffff_f000 == TABLE)
    );
    // A good table: Indirect is RAZ/WI, the pages leave the host's stage 2.
    assert_eq!(
        r.store(GITS_BASER, 8, VALID | BASER_INDIRECT | TABLE | 1),
        None
    );
    let now = sim.get(ITS + GITS_BASER);
    assert_eq!(now & (VALID | BASER_INDIRECT), VALID);
    assert_eq!(table_of(now), TABLE..TABLE + 2 * PAGE);
    for p in [TABLE, TABLE + PAGE] {
        assert!(r.s2.is_unmapped(p));
        assert_eq!(r.mm.state(crate::addr::PhysAddr(p)), Some(PageState::Hyp));
    }
    // Lending a table page is refused.
    assert!(r.mm.lend(&[TABLE..TABLE + PAGE][..], 7).is_err());
    // Valid cleared: given back.
    assert_eq!(r.store(GITS_BASER, 8, TABLE | 1), None);
    assert!(!r.s2.is_unmapped(TABLE));
    assert_eq!(r.its.audit().1, 0);
    // A vPE table is refused.
    assert!(matches!(
        r.store(GITS_BASER + 16, 8, VALID | TABLE),
        Some(Event::Unsupported { .. })
    ));
    assert_eq!(sim.get(ITS + GITS_BASER + 16), BASER_RO[2]);
}

#[test]
fn table_sizes_follow_the_page_size_field() {
    assert_eq!(table_of(0x4000_0000 | 3), 0x4000_0000..0x4000_4000);
    assert_eq!(table_of(1 << 8 | 0x4000_4000), 0x4000_4000..0x4000_8000);
    assert_eq!(
        table_of(2 << 8 | 0x4001_0000 | 0x1000 | 1),
        0x1_0000_4001_0000..0x1_0000_4003_0000
    );
    assert_eq!(
        queue_of(VALID | 0x4000_0000 | 0xff),
        0x4000_0000..0x4010_0000
    );
}

#[test]
fn linux_commands_are_forwarded_and_creadr_follows() {
    let sim = SimIts::new();
    let r = rig(&sim);
    r.linux_setup();
    let cmds = [
        mapc(0, 0),
        sync(0),
        mapd(5, ITT, 1, true), // 4 events x 8 bytes
        mapti(5, 0, 8192, 0),
        int(5, 0),
        sync(1),
    ];
    assert_eq!(r.send(&cmds), None);
    assert_eq!(sim.executed(), cmds);
    assert_eq!(r.load(GITS_CREADR, 4), 6 * COMMAND);
    assert_eq!(r.load(GITS_CWRITER, 4), 6 * COMMAND);
    assert_eq!(
        r.mm.state(crate::addr::PhysAddr(ITT)),
        Some(PageState::PinnedForDevice)
    );
    // A pinned ITT page cannot be lent or shared.
    assert!(r.mm.lend(&[ITT..ITT + PAGE][..], 9).is_err());
    assert!(r.mm.share(&[ITT..ITT + PAGE][..], 9).is_err());
}

#[test]
fn an_itt_outside_host_ram_or_lent_is_refused_and_replaced() {
    let sim = SimIts::new();
    let r = rig(&sim);
    r.linux_setup();
    let lent = 0x4400_0000;
    r.mm.lend(&[lent..lent + PAGE][..], 3).unwrap();
    // The last: 64 entries of 8 bytes, the second half in the carve-out.
    for (bad, size) in [(CARVEOUT, 3), (SECURE, 3), (lent, 3), (CARVEOUT - 0x100, 5)] {
        let before = sim.executed().len();
        assert!(matches!(
            r.send(&[mapd(1, bad, size, true)]),
            Some(Event::BadCommand { command: 0x08, .. })
        ));
        assert_eq!(sim.executed()[before..], [SYNC0]);
    }
    assert_eq!(r.mm.pages_in(PageState::PinnedForDevice), 1); // the queue only
    // The device is not mapped: its MAPTI is refused too.
    assert!(matches!(
        r.send(&[mapti(1, 0, 8192, 0)]),
        Some(Event::BadCommand { .. })
    ));
    assert_eq!(r.its.audit().0, 5);
}

#[test]
fn itt_pages_are_counted_and_unpinned_after_the_its_finished() {
    let sim = SimIts::new();
    let r = rig(&sim);
    r.linux_setup();
    // Two devices' ITTs share a page, a third spans two.
    r.send(&[
        mapd(1, ITT, 1, true),
        mapd(2, ITT + 0x100, 1, true),
        mapd(3, ITT + PAGE - 0x100, 5, true), // 64 x 8 = 512 bytes: two pages
    ]);
    let pinned = |p: u64| r.mm.state(crate::addr::PhysAddr(p)) == Some(PageState::PinnedForDevice);
    assert!(pinned(ITT) && pinned(ITT + PAGE));
    assert_eq!(r.its.audit().1, 2 + 3); // ITT pages + the two tables' pages
    r.send(&[mapd(1, 0, 0, false)]);
    assert!(pinned(ITT));
    r.send(&[mapd(3, ITT + 4 * PAGE, 1, true)]); // moved
    assert!(pinned(ITT) && !pinned(ITT + PAGE) && pinned(ITT + 4 * PAGE));
    r.send(&[mapd(2, 0, 0, false)]);
    assert!(!pinned(ITT));
    // While the ITS has not finished, the old ITT stays pinned.
    *sim.stall.lock().unwrap() = true;
    assert_eq!(r.send(&[mapd(3, 0, 0, false)]), Some(Event::Stalled));
    assert!(pinned(ITT + 4 * PAGE));
    assert_eq!(r.load(GITS_CREADR, 4), 6 * COMMAND);
    *sim.stall.lock().unwrap() = false;
    sim.run();
    assert_eq!(r.load(GITS_CREADR, 4), 7 * COMMAND);
    assert!(!pinned(ITT + 4 * PAGE));
}

#[test]
fn a_stalled_its_is_reported_and_the_hypervisor_keeps_serving() {
    let sim = SimIts::new();
    let r = rig(&sim);
    r.linux_setup();
    *sim.stall.lock().unwrap() = true;
    assert_eq!(r.send(&[sync(0)]), Some(Event::Stalled));
    assert_eq!(r.load(GITS_CREADR, 8), 0);
    // The ITS says it stalled (a command error): the host sees Stalled.
    sim.set(ITS + GITS_CREADR, CREADR_STALLED);
    assert_eq!(r.load(GITS_CREADR, 8), CREADR_STALLED);
    // More commands wait behind the batch in flight; nothing new reaches the ITS.
    r.send(&[sync(1)]);
    assert_eq!(sim.get(ITS + GITS_CWRITER), COMMAND);
    // The host retries; the ITS resumes: both batches finish.
    sim.set(ITS + GITS_CREADR, 0);
    *sim.stall.lock().unwrap() = false;
    r.store(GITS_CWRITER, 8, (2 * COMMAND) | CWRITER_RETRY);
    assert_eq!(r.load(GITS_CREADR, 8), 2 * COMMAND);
    assert_eq!(sim.executed(), [sync(0), sync(1)]);
}

#[test]
fn both_queues_wrap_around() {
    let sim = SimIts::new();
    let r = rig(&sim);
    r.linux_setup();
    let mut all = Vec::new();
    for round in 0..5u64 {
        let cmds: Vec<[u64; 4]> = (0..100).map(|i| sync((round + i) % 2)).collect();
        assert_eq!(r.send(&cmds), None);
        all.extend(cmds);
        assert_eq!(r.load(GITS_CREADR, 4), (round + 1) * 100 * COMMAND % PAGE);
    }
    assert_eq!(sim.executed(), all);
}

#[test]
fn each_command_is_checked() {
    let sim = SimIts::new();
    let r = rig(&sim);
    r.linux_setup();
    r.send(&[mapd(5, ITT, 1, true)]);
    let bad: &[[u64; 4]] = &[
        mapc(0, 2),                              // no processor 2
        sync(7),                                 // no processor 7
        [u64::from(cmd::MOVALL), 0, 0, 9 << 16], // second target bad
        mapti(5, 4, 8192, 0),                    // EventID beyond the ITT
        mapti(5, 0, 100, 0),                     // not an LPI
        mapti(6, 0, 8192, 0),                    // device not mapped
        int(6, 0),                               // device not mapped
        mapd(1 << 16, ITT, 1, true),             // DeviceID beyond Devbits
        mapd(3 * 512, ITT, 1, true),             // beyond the 2-page device table
        mapd(7, ITT, 16, true),                  // ITT size beyond ID_bits
        mapc(2 * 512, 0),                        // beyond the collection table
        [0x29, 0, 0, 0],                         // VMAPP
        [0x2a, 0, 0, 0],                         // VMAPTI
        [0x25, 0, 0, 0],                         // VSYNC
        [0x42, 0, 0, 0],                         // unknown
    ];
    for c in bad {
        let before = sim.executed().len();
        assert!(
            matches!(r.send(&[*c]), Some(Event::BadCommand { .. })),
            "{c:x?}"
        );
        assert_eq!(sim.executed()[before..], [SYNC0], "{c:x?}");
    }
    let good: &[[u64; 4]] = &[
        mapc(511, 1),
        [u64::from(cmd::MOVALL), 0, 0, 1 << 16],
        [u64::from(cmd::MOVI) | 5 << 32, 3, 1, 0],
        [u64::from(cmd::INV) | 5 << 32, 1, 0, 0],
        [u64::from(cmd::CLEAR) | 5 << 32, 1, 0, 0],
        [u64::from(cmd::DISCARD) | 5 << 32, 1, 0, 0],
        [u64::from(cmd::INVALL), 0, 3, 0],
        mapd(5, 0, 0, false),
    ];
    for c in good {
        let before = sim.executed().len();
        assert_eq!(r.send(&[*c]), None, "{c:x?}");
        assert_eq!(sim.executed()[before..], [*c]);
    }
    // MAPI's pINTID is its EventID: below 8192 it is not an LPI.
    r.send(&[mapd(5, ITT, 1, true)]);
    assert!(
        r.send(&[[u64::from(cmd::MAPI) | 5 << 32, 1, 0, 0]])
            .is_some()
    );
}

#[test]
fn cwriter_outside_the_queue_is_ignored_and_32_bit_halves_work() {
    let sim = SimIts::new();
    let r = rig(&sim);
    assert!(matches!(
        r.store(GITS_CWRITER, 8, COMMAND),
        Some(Event::BadCwriter { .. })
    ));
    r.linux_setup();
    assert!(matches!(
        r.store(GITS_CWRITER, 8, PAGE),
        Some(Event::BadCwriter { .. })
    ));
    assert_eq!(r.load(GITS_CWRITER, 8), 0);
    // The upper halves of CWRITER and CREADR are zero; CBASER in two halves.
    assert_eq!(r.load(GITS_CREADR + 4, 4), 0);
    r.store(GITS_CTLR, 4, 0);
    assert_eq!(r.store(GITS_CBASER + 4, 4, VALID >> 32), None);
    assert_eq!(r.store(GITS_CBASER, 4, QUEUE + PAGE), None);
    assert_eq!(r.load(GITS_CBASER, 8), VALID | (QUEUE + PAGE));
    // A byte store to an emulated 64-bit register is refused.
    assert_eq!(
        r.its.with(&r.mm).write(ITS + GITS_CWRITER, 1, 0),
        Err(Refusal::Size)
    );
}

#[test]
fn a_flooded_queue_is_bounded_by_its_size() {
    let sim = SimIts::new();
    let r = rig(&sim);
    r.store(GITS_CBASER, 8, VALID | QUEUE | 0xff); // 256 pages: 32 768 commands
    r.store(GITS_BASER, 8, VALID | TABLE | 1);
    r.store(GITS_CTLR, 4, 1);
    // Unwritten queue memory reads as zeros: command 0, refused, each a SYNC.
    let last = 256 * PAGE - COMMAND;
    r.store(GITS_CWRITER, 8, last);
    assert_eq!(r.load(GITS_CREADR, 8), last);
    assert_eq!(sim.executed().len() as u64, last / COMMAND);
    assert_eq!(r.its.audit().0, last / COMMAND);
}

#[test]
fn a_batch_with_several_refusals_names_the_first() {
    let sim = SimIts::new();
    let r = rig(&sim);
    r.linux_setup();
    let event = r.send(&[mapd(2, CARVEOUT, 1, true), mapti(2, 0, 8193, 0), int(2, 0)]);
    assert!(
        matches!(
            event,
            Some(Event::BadCommand {
                offset: 0,
                command: 0x08,
                ..
            })
        ),
        "{event:?}"
    );
    assert_eq!(sim.executed(), [SYNC0; 3]);
    assert_eq!(r.its.audit().0, 3);
}

#[test]
fn an_itt_beyond_the_cap_is_refused_before_its_pages_are_walked() {
    let sim = SimIts::new();
    // 32 ID bits: an ITT of 2^32 entries (32 GiB) could be named.
    sim.set(ITS + GITS_TYPER, TYPER | 31 << 8);
    let r = rig(&sim);
    r.linux_setup();
    assert!(matches!(
        r.send(&[mapd(7, ITT, 31, true)]),
        Some(Event::BadCommand {
            why: "ITT larger than 1 MiB",
            ..
        })
    ));
    // The cap itself is accepted: 2^17 entries of 8 bytes.
    assert_eq!(r.send(&[mapd(7, ITT, 16, true)]), None);
    assert_eq!(r.its.audit().1, 256 + 3);
}

#[test]
fn tables_written_while_the_its_is_on_are_ignored() {
    let sim = SimIts::new();
    let r = rig(&sim);
    r.linux_setup();
    let before = sim.get(ITS + GITS_BASER);
    assert_eq!(
        r.store(GITS_BASER, 8, VALID | (TABLE + 0x2_0000)),
        Some(Event::Ignored {
            register: "GITS_BASER0"
        })
    );
    assert_eq!(sim.get(ITS + GITS_BASER), before);
    assert!(r.s2.is_unmapped(TABLE));
    assert!(!r.s2.is_unmapped(TABLE + 0x2_0000));
    // Off (and quiescent): the table moves, the old one is the host's again.
    r.store(GITS_CTLR, 4, 0);
    assert_eq!(r.store(GITS_BASER, 8, VALID | (TABLE + 0x2_0000)), None);
    assert!(!r.s2.is_unmapped(TABLE) && r.s2.is_unmapped(TABLE + 0x2_0000));
}

/// A GICv4 ITS has a vPE table register (QEMU's `gic-version=4`: BASER2, Type 2). Linux sets
/// up every table whose Type it reads, and a refused base that does not stick fails its
/// whole ITS probe: so that register reads as zero (Type 0, no table) and Linux skips it.
#[test]
fn a_vpe_table_register_reads_as_unimplemented() {
    let sim = SimIts::new();
    let r = rig(&sim);
    assert_eq!(r.load(GITS_BASER + 16, 8), 0);
    assert_eq!(
        r.load(GITS_BASER + 16 + 4, 4),
        0,
        "Type is in the upper half"
    );
    assert_eq!(r.load(GITS_BASER + 16 + 7, 1), 0);
    // The device and collection tables still say what they are.
    assert_eq!(r.load(GITS_BASER, 8) >> 56 & 7, 1);
    assert_eq!(r.load(GITS_BASER + 8 + 4, 4) >> 24 & 7, 4);
    // Written anyway: still refused, the ITS never sees Valid.
    assert!(matches!(
        r.store(GITS_BASER + 16, 8, VALID | TABLE),
        Some(Event::Unsupported { .. })
    ));
    assert_eq!(r.load(GITS_BASER + 16, 8), 0);
    assert_eq!(sim.get(ITS + GITS_BASER + 16), BASER_RO[2]);
}
