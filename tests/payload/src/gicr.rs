//! The `gicr-tables` case: the host points the first redistributor's LPI table registers at
//! memory it does not own, and at its own RAM.
//!
//! | step | what must hold |
//! |---|---|
//! | `GICR_PROPBASER`, then `GICR_PENDBASER` := the carve-out | refused: each reads back its old value |
//! | `GICR_CTLR.EnableLPIs` := 1 with no table accepted | held off: reads back 0 |
//! | `GICR_PROPBASER` := a 64 KiB-aligned table in this payload's free RAM (16 ID bits) | accepted: reads back its address and IDbits |
//! | `GICR_PENDBASER` := the next 64 KiB | accepted: reads back its address |
//! | both := 0 (no table) | accepted: the pages are the host's again (the FF-A cases after this one share and lend them freely) |
//!
//! | GICv4 only (`GICR_TYPER.VLPIS`): `GICR_VPENDBASER` := the carve-out with Valid, and `GICR_VPROPBASER` := the carve-out | ignored: both read as 0 |
//!
//! LPIs are never enabled, so the GIC never reads or writes the tables: only what the
//! registers take is checked. The hypervisor prints one line per refusal.

use crate::arch;
use crate::dt::Platform;
use crate::report::{self, Outcome, text};

const PROPBASER: u64 = 0x70;
const PENDBASER: u64 = 0x78;
/// IDbits = 15 (16 ID bits), as Linux writes it.
const ID_BITS_16: u64 = 15;
/// The address and IDbits fields of GICR_PROPBASER.
const PROP_FIELDS: u64 = ((1 << 52) - 1) & !0xfe0;
/// The address field of GICR_PENDBASER.
const PEND_ADDRESS: u64 = ((1 << 52) - 1) & !0xffff;
const TABLE_ALIGN: u64 = 0x1_0000;
const TYPER: u64 = 0x8;
/// GICR_TYPER.VLPIS: the redistributor has the GICv4 VLPI frame, 128 KiB above RD_base.
const TYPER_VLPIS: u64 = 1 << 1;
const VLPI_BASE: u64 = 0x2_0000;
const VPROPBASER: u64 = 0x70;
const VPENDBASER: u64 = 0x78;
const VPENDBASER_VALID: u64 = 1 << 63;

// The accessors are single `ldr`/`str` with a plain base register (inline assembly, so the
// compiler cannot pick a writeback or pair form): the hypervisor emulates only accesses whose
// syndrome it can decode (ISV set), as Linux's `readq`/`writeq` are.

fn read64(addr: u64) -> u64 {
    let value: u64;
    // SAFETY: a register of the redistributor the DT names, 8-byte aligned (the MMU is off:
    // Device memory); a load changes nothing.
    unsafe {
        core::arch::asm!("ldr {v}, [{a}]", a = in(reg) addr, v = out(reg) value, options(nostack))
    };
    value
}

fn write64(addr: u64, value: u64) {
    // SAFETY: as for `read64`; the case writes only the LPI table registers, GICR_CTLR and
    // (GICv4) the vPE table registers.
    unsafe {
        core::arch::asm!("str {v}, [{a}]", a = in(reg) addr, v = in(reg) value, options(nostack))
    };
}

fn read32(addr: u64) -> u32 {
    let value: u32;
    // SAFETY: as for `read64`, 4-byte aligned.
    unsafe {
        core::arch::asm!("ldr {v:w}, [{a}]", a = in(reg) addr, v = out(reg) value, options(nostack))
    };
    value
}

fn write32(addr: u64, value: u32) {
    // SAFETY: as for `write64`.
    unsafe {
        core::arch::asm!("str {v:w}, [{a}]", a = in(reg) addr, v = in(reg) value, options(nostack))
    };
}

/// Runs the case on the redistributor at `rd` (RD_base), if the DT has a GICv3.
pub fn run(platform: &Platform, rd: Option<u64>) {
    report::record("gicr-tables", &check(platform, rd));
}

fn check(platform: &Platform, rd: Option<u64>) -> Outcome {
    let Some(rd) = rd else {
        return Outcome::Skip(text(format_args!("no arm,gic-v3 node in the DT")));
    };
    let Some(carveout) = platform.carveout else {
        return Outcome::Skip(text(format_args!("no carve-out: not under the hypervisor")));
    };
    let (_, image_end) = arch::image_range();
    let prop = image_end.next_multiple_of(TABLE_ALIGN);
    let pend = prop + TABLE_ALIGN;
    let end = pend + TABLE_ALIGN;
    let carve = carveout.region;
    let in_ram = platform.ram[..platform.ram_count]
        .iter()
        .any(|r| r.base <= prop && end <= r.base + r.size);
    if !in_ram || (prop < carve.base + carve.size && carve.base < end) {
        return Outcome::Skip(text(format_args!("no free RAM at {prop:#x}..{end:#x}")));
    }
    let (old_prop, old_pend) = (read64(rd + PROPBASER), read64(rd + PENDBASER));

    write64(rd + PROPBASER, carve.base | ID_BITS_16);
    let got = read64(rd + PROPBASER);
    if got != old_prop {
        return Outcome::Fail(text(format_args!(
            "GICR_PROPBASER := carve-out {:#x} took: reads {got:#x}, was {old_prop:#x}",
            carve.base
        )));
    }
    write64(rd + PENDBASER, carve.base);
    let got = read64(rd + PENDBASER);
    if got != old_pend {
        return Outcome::Fail(text(format_args!(
            "GICR_PENDBASER := carve-out took: reads {got:#x}, was {old_pend:#x}"
        )));
    }
    write32(rd, read32(rd) | 1);
    if read32(rd) & 1 != 0 {
        return Outcome::Fail(text(format_args!(
            "GICR_CTLR.EnableLPIs took with no table accepted"
        )));
    }

    write64(rd + PROPBASER, prop | ID_BITS_16);
    let got = read64(rd + PROPBASER);
    if got & PROP_FIELDS != prop | ID_BITS_16 {
        return Outcome::Fail(text(format_args!(
            "GICR_PROPBASER := own RAM {prop:#x} refused: reads {got:#x}"
        )));
    }
    write64(rd + PENDBASER, pend);
    let got = read64(rd + PENDBASER);
    if got & PEND_ADDRESS != pend {
        return Outcome::Fail(text(format_args!(
            "GICR_PENDBASER := own RAM {pend:#x} refused: reads {got:#x}"
        )));
    }

    write64(rd + PROPBASER, 0);
    write64(rd + PENDBASER, 0);
    let (p, q) = (read64(rd + PROPBASER), read64(rd + PENDBASER));
    if p & PROP_FIELDS != 0 || q & PEND_ADDRESS != 0 {
        return Outcome::Fail(text(format_args!(
            "releasing the tables did not take: {p:#x} {q:#x}"
        )));
    }
    let vlpi = if read64(rd + TYPER) & TYPER_VLPIS != 0 {
        let v = rd + VLPI_BASE;
        write64(v + VPROPBASER, carve.base | ID_BITS_16);
        write64(v + VPENDBASER, carve.base | VPENDBASER_VALID);
        let (p, q) = (read64(v + VPROPBASER), read64(v + VPENDBASER));
        if p != 0 || q != 0 {
            return Outcome::Fail(text(format_args!(
                "GICR_VPROPBASER/VPENDBASER := carve-out took: read {p:#x} {q:#x}"
            )));
        }
        "; GICv4 VPROPBASER/VPENDBASER := carve-out ignored (read 0)"
    } else {
        ""
    };
    Outcome::Pass(text(format_args!(
        "carve-out {:#x} refused for both bases (old values kept), EnableLPIs held off, own RAM {prop:#x}/{pend:#x} accepted, then released{vlpi}",
        carve.base
    )))
}
