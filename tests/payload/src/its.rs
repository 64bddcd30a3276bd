//! The `its-lpi` case: the host points the GICv3 ITS at memory it does not own, then sets it
//! up in its own RAM and takes an LPI through it.
//!
//! | step | what must hold |
//! |---|---|
//! | `GITS_CBASER`, then the device table's `GITS_BASER<n>` := the carve-out | refused: each reads back its old value |
//! | `GITS_CTLR.Enabled` := 1 with no queue accepted | held off: reads back 0 |
//! | the first redistributor's LPI tables, the device and collection tables, the command queue := this payload's free RAM | accepted: each reads back its address (and Valid) |
//! | `GITS_CTLR.Enabled` := 1 | takes |
//! | commands: `MAPD` of device 2 with its ITT in the carve-out, `MAPTI` (2, 0) -> LPI 8193, `INT` (2, 0) | never reach the ITS (the hypervisor replaces each by a `SYNC`): LPI 8193 never arrives |
//! | commands: `MAPC` 0 -> this CPU's redistributor, `MAPD` of device 1 with its ITT in this payload's RAM, `MAPTI` (1, 0) -> LPI 8192, `INT` (1, 0), `SYNC` | `GITS_CREADR` reaches `GITS_CWRITER`; LPI 8192 is acknowledged at `ICC_IAR1_EL1` (polled with interrupts masked) |
//! | `MAPD` V=0, `GITS_CTLR.Enabled` := 0, every base cleared | the tables are the host's again |
//!
//! The tables sit 1 MiB above the first 2 MiB boundary past the image (clear of the
//! `gicr-tables` case's and of the FF-A matrix's lend across that boundary). LPIs stay
//! enabled on the first redistributor afterwards (the architecture may not let them be
//! turned off): its two tables stay pinned, and nothing else uses them.

use core::arch::asm;

use crate::arch;
use crate::dt::Platform;
use crate::report::{self, Outcome, text};
use crate::time;

const GITS_CTLR: u64 = 0x0;
const GITS_TYPER: u64 = 0x8;
const GITS_CBASER: u64 = 0x80;
const GITS_CWRITER: u64 = 0x88;
const GITS_CREADR: u64 = 0x90;
const GITS_BASER: u64 = 0x100;
const GICR_PROPBASER: u64 = 0x70;
const GICR_PENDBASER: u64 = 0x78;
const GICR_TYPER: u64 = 0x8;
const VALID: u64 = 1 << 63;
/// Inner Shareable, Inner Write-Back read/write-allocate (as Linux writes its bases).
const ATTRS: u64 = 0b111 << 59 | 0b01 << 10;
/// `GITS_BASER<n>.Page_Size` = 64 KiB.
const PAGE_64K: u64 = 2 << 8;
const TABLE: u64 = 0x1_0000;
const LPI: u64 = 8192;
const BAD_LPI: u64 = 8193;

// Single loads and stores without writeback, as Linux's `readq`/`writeq` are: the
// hypervisor emulates the ITS's registers from the data abort's syndrome, which a
// post-indexed or paired access does not have (it would take an external abort).

fn read64(addr: u64) -> u64 {
    let v: u64;
    // SAFETY: a GIC register or this case's own RAM, 8-byte aligned (the MMU is off: the
    // address is physical).
    unsafe { asm!("ldr {v}, [{a}]", a = in(reg) addr, v = out(reg) v, options(nostack)) };
    v
}

fn write64(addr: u64, value: u64) {
    // SAFETY: as for `read64`: the ITS's and the first redistributor's table registers, and
    // the free RAM this case took for its tables.
    unsafe { asm!("str {v}, [{a}]", a = in(reg) addr, v = in(reg) value, options(nostack)) };
}

fn read32(addr: u64) -> u32 {
    let v: u32;
    // SAFETY: as for `read64`, 4-byte aligned.
    unsafe { asm!("ldr {v:w}, [{a}]", a = in(reg) addr, v = out(reg) v, options(nostack)) };
    v
}

fn write32(addr: u64, value: u32) {
    // SAFETY: as for `write64`.
    unsafe { asm!("str {v:w}, [{a}]", a = in(reg) addr, v = in(reg) value, options(nostack)) };
}

fn zero(base: u64, len: u64) {
    for a in (base..base + len).step_by(8) {
        write64(a, 0);
    }
}

/// `ICC_IAR1_EL1`: acknowledges the highest-priority pending Group 1 interrupt.
fn iar1() -> u64 {
    let v: u64;
    // SAFETY: a GIC CPU interface register read; EL2 leaves the GIC to EL1.
    unsafe { asm!("mrs {}, S3_0_C12_C12_0", out(reg) v, options(nostack)) };
    v
}

fn eoir1(intid: u64) {
    // SAFETY: ends the interrupt just acknowledged.
    unsafe { asm!("msr S3_0_C12_C12_1, {}", "isb", in(reg) intid, options(nostack)) };
}

/// The CPU interface on for Group 1 at every priority: SRE, PMR, IGRPEN1.
fn cpu_interface_on() {
    // SAFETY: GIC CPU interface configuration of this CPU; the payload takes no IRQ
    // (PSTATE.I stays set), it only polls ICC_IAR1_EL1.
    unsafe {
        asm!(
            "mrs {t}, S3_0_C12_C12_5",
            "orr {t}, {t}, #1",
            "msr S3_0_C12_C12_5, {t}",
            "isb",
            "mov {t}, #0xff",
            "msr S3_0_C4_C6_0, {t}",
            "mov {t}, #1",
            "msr S3_0_C12_C12_7, {t}",
            "isb",
            t = out(reg) _,
            options(nostack)
        )
    };
}

/// Runs the case, if the DT has a GICv3 with an ITS.
pub fn run(platform: &Platform, dtb: u64, dtb_size: u64, rd: Option<u64>) {
    report::record("its-lpi", &check(platform, dtb, dtb_size, rd));
}

fn check(platform: &Platform, dtb: u64, dtb_size: u64, rd: Option<u64>) -> Outcome {
    let Some(carveout) = platform.carveout else {
        return Outcome::Skip(text(format_args!("no carve-out: not under the hypervisor")));
    };
    // SAFETY: the DT lies in RAM at [dtb, dtb + size) (checked by main), nothing writes it.
    let blob = unsafe { core::slice::from_raw_parts(dtb as *const u8, dtb_size as usize) };
    let Ok(fdt) = fdt::Fdt::new(blob) else {
        return Outcome::Fail(text(format_args!("the DT does not parse")));
    };
    let reg = |c: &str, n: usize| {
        fdt.find_compatible(&[c])
            .and_then(|node| node.reg()?.nth(n))
            .map(|r| r.starting_address as u64)
    };
    let (Some(its), Some(gicd), Some(rd)) = (reg("arm,gic-v3-its", 0), reg("arm,gic-v3", 0), rd)
    else {
        return Outcome::Skip(text(format_args!("no GICv3 ITS in the DT")));
    };
    let (_, image_end) = arch::image_range();
    let base = image_end.next_multiple_of(2 << 20) + (1 << 20);
    let [prop, pend, queue, devices, collections, itt] =
        core::array::from_fn(|i| base + i as u64 * TABLE);
    let end = itt + TABLE;
    let carve = carveout.region;
    let in_ram = platform.ram[..platform.ram_count]
        .iter()
        .any(|r| r.base <= base && end <= r.base + r.size);
    if !in_ram || (base < carve.base + carve.size && carve.base < end) {
        return Outcome::Skip(text(format_args!("no free RAM at {base:#x}..{end:#x}")));
    }
    zero(base, end - base);

    // The attack on the bases, while the ITS is off.
    let old = read64(its + GITS_CBASER);
    write64(its + GITS_CBASER, VALID | ATTRS | carve.base);
    if read64(its + GITS_CBASER) != old {
        return Outcome::Fail(text(format_args!(
            "GITS_CBASER := carve-out {:#x} took",
            carve.base
        )));
    }
    let typer = |n: u64| (read64(its + GITS_BASER + 8 * n) >> 56) & 7;
    let (Some(dev_n), Some(coll_n)) = (
        (0..8).find(|&n| typer(n) == 1),
        (0..8).find(|&n| typer(n) == 4),
    ) else {
        return Outcome::Fail(text(format_args!("no device or collection table register")));
    };
    let dev_reg = its + GITS_BASER + 8 * dev_n;
    let old = read64(dev_reg);
    write64(dev_reg, VALID | ATTRS | PAGE_64K | carve.base);
    if read64(dev_reg) != old {
        return Outcome::Fail(text(format_args!(
            "GITS_BASER{dev_n} := carve-out took: reads {:#x}, was {old:#x}",
            read64(dev_reg)
        )));
    }
    write32(its + GITS_CTLR, 1);
    if read32(its + GITS_CTLR) & 1 != 0 {
        return Outcome::Fail(text(format_args!("GITS_CTLR.Enabled took with no queue")));
    }

    // This CPU's redistributor: LPI 8192 and 8193 enabled at priority 0xa0.
    write64(prop, 0xa1a1);
    write64(rd + GICR_PROPBASER, prop | ATTRS | 15);
    write64(rd + GICR_PENDBASER, pend | ATTRS);
    write32(rd, read32(rd) | 1);
    if read32(rd) & 1 == 0 {
        return Outcome::Fail(text(format_args!("GICR_CTLR.EnableLPIs did not take")));
    }
    // The distributor's Group 1 on (LPIs are Group 1 Non-secure), then this CPU's interface.
    write32(gicd, read32(gicd) | 0x13);
    cpu_interface_on();

    // The ITS in this payload's RAM.
    for (n, table) in [(dev_n, devices), (coll_n, collections)] {
        let r = its + GITS_BASER + 8 * n;
        write64(r, VALID | ATTRS | PAGE_64K | table);
        let got = read64(r);
        if got & (VALID | 0xffff_ffff_0000) != VALID | table {
            return Outcome::Fail(text(format_args!(
                "GITS_BASER{n} := own RAM {table:#x} refused: reads {got:#x}"
            )));
        }
    }
    write64(its + GITS_CBASER, VALID | ATTRS | queue);
    write64(its + GITS_CWRITER, 0);
    if read64(its + GITS_CBASER) != VALID | ATTRS | queue {
        return Outcome::Fail(text(format_args!(
            "GITS_CBASER := own RAM {queue:#x} refused"
        )));
    }
    write32(its + GITS_CTLR, 1);
    if read32(its + GITS_CTLR) & 1 == 0 {
        return Outcome::Fail(text(format_args!("GITS_CTLR.Enabled did not take")));
    }

    // RDbase: this redistributor's processor number, or its address (GITS_TYPER.PTA).
    let target = if read64(its + GITS_TYPER) & (1 << 19) != 0 {
        rd >> 16
    } else {
        (read64(rd + GICR_TYPER) >> 8) & 0xffff
    };
    let commands: [[u64; 4]; 9] = [
        [0x08 | 2 << 32, 1, VALID | carve.base, 0], // MAPD 2, ITT in the carve-out
        [0x0a | 2 << 32, BAD_LPI << 32, 0, 0],      // MAPTI (2, 0) -> 8193
        [0x03 | 2 << 32, 0, 0, 0],                  // INT (2, 0)
        [0x09, 0, VALID | target << 16, 0],         // MAPC 0 -> this CPU
        [0x05, 0, target << 16, 0],                 // SYNC
        [0x08 | 1 << 32, 1, VALID | itt, 0],        // MAPD 1, 4 events
        [0x0a | 1 << 32, LPI << 32, 0, 0],          // MAPTI (1, 0) -> 8192
        [0x03 | 1 << 32, 0, 0, 0],                  // INT (1, 0)
        [0x05, 0, target << 16, 0],                 // SYNC
    ];
    for (i, c) in commands.iter().enumerate() {
        for (j, dw) in c.iter().enumerate() {
            write64(queue + 32 * i as u64 + 8 * j as u64, *dw);
        }
    }
    let end_offset = 32 * commands.len() as u64;
    write64(its + GITS_CWRITER, end_offset);
    if !time::wait_until(1000, || read64(its + GITS_CREADR) == end_offset) {
        return Outcome::Fail(text(format_args!(
            "GITS_CREADR stuck at {:#x}, CWRITER {end_offset:#x}",
            read64(its + GITS_CREADR)
        )));
    }
    let mut got = None;
    let mut bad = false;
    time::wait_until(1000, || {
        match iar1() & 0xff_ffff {
            1020..=1023 => {}
            id => {
                eoir1(id);
                bad |= id == BAD_LPI;
                if id == LPI {
                    got = Some(id);
                }
            }
        }
        got.is_some()
    });
    // A little longer for the LPI that must not come.
    time::wait_until(50, || {
        let id = iar1() & 0xff_ffff;
        if !(1020..=1023).contains(&id) {
            eoir1(id);
            bad |= id == BAD_LPI;
        }
        false
    });

    // Back to the host: device unmapped, ITS off, bases cleared.
    write64(queue + end_offset, 0x08 | 1 << 32);
    for j in 1..4 {
        write64(queue + end_offset + 8 * j, 0);
    }
    write64(its + GITS_CWRITER, end_offset + 32);
    time::wait_until(1000, || read64(its + GITS_CREADR) == end_offset + 32);
    write32(its + GITS_CTLR, 0);
    time::wait_until(1000, || read32(its + GITS_CTLR) & (1 << 31) != 0);
    for n in [dev_n, coll_n] {
        write64(its + GITS_BASER + 8 * n, 0);
    }
    write64(its + GITS_CBASER, 0);

    if bad {
        return Outcome::Fail(text(format_args!(
            "LPI {BAD_LPI} arrived: the MAPD with its ITT in the carve-out reached the ITS"
        )));
    }
    if got.is_none() {
        return Outcome::Fail(text(format_args!(
            "LPI {LPI} never arrived at ICC_IAR1_EL1"
        )));
    }
    Outcome::Pass(text(format_args!(
        "carve-out refused for GITS_CBASER and GITS_BASER{dev_n} (old values kept), Enabled held off, an ITT in the carve-out never reached the ITS (no LPI {BAD_LPI}), own tables at {base:#x} accepted and LPI {LPI} taken at ICC_IAR1_EL1"
    )))
}
