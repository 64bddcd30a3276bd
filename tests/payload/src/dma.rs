//! `dma-attack` in bootargs: the payload as a host that programs a DMA master, QEMU's
//! `edu` PCI device (`-device edu,dma_mask=0xffffffffff`, so it reaches all RAM), behind the
//! SMMUv3 the hypervisor owns, instead of the cases.
//!
//! It finds the device on bus 0 of the ECAM root complex (`pci-host-ecam-generic`), gives
//! BAR0 the start of the 32-bit MMIO window of the node's `ranges`, enables memory decoding
//! and bus mastering, and then uses the device's DMA engine (registers at BAR0 + 0x80: source,
//! destination, count, command; its 4 KiB buffer at device address 0x40000):
//!
//! - `dma.own-page`: a pattern from one payload page to the device and back into another
//!   payload page arrives (the positive control: the SMMU translates the host's own RAM);
//! - `dma.carve-out`, `dma.secure`: the device's buffer written to the first page of the
//!   hypervisor's carve-out and of OP-TEE's memory: the hypervisor still answers its HVC
//!   afterwards (had its vectors been overwritten, the call would never return), its DMA
//!   audit HVC counts more translation faults than before, and the console shows its SMMU
//!   fault line (the system test checks it);
//! - `dma.lent-page`: a page the payload lent to OP-TEE (FFA_MEM_LEND) is out of the
//!   device's reach too: the DMA into it gives the fault line, and after FFA_MEM_RECLAIM the
//!   page still holds what it held before the lend;
//! - `dma.reclaimed-page`: after the RECLAIM, a DMA into that page arrives again;
//! - `dma.own-page-after`: the device still works after its faults.

use core::ptr::{read_volatile, write_volatile};

use fdt::Fdt;

use crate::report::{self, Outcome, text};
use crate::{arch, dt, time};

/// QEMU's edu device: vendor 0x1234, device 0x11e8.
const EDU_ID: u32 = 0x11e8_1234;
/// Its DMA registers (8 bytes each) and its buffer in the device's address space.
const DMA_SRC: u64 = 0x80;
const DMA_DST: u64 = 0x88;
const DMA_COUNT: u64 = 0x90;
const DMA_CMD: u64 = 0x98;
const DMA_BUFFER: u64 = 0x4_0000;
/// DMA_CMD bits: start (cleared when done), direction (1: device buffer to RAM).
const CMD_START: u64 = 1;
const CMD_TO_RAM: u64 = 2;
/// Bytes moved in every transfer.
const LEN: u64 = 64;
/// The hypervisor's identify HVC (`hypervisor/src/hvc.rs`).
const HVC_IDENTIFY: u64 = 0xC600_0000;
/// Its DMA audit HVC: x2 = the SMMU's translation faults so far.
const HVC_DMA_AUDIT: u64 = 0xC600_0002;

#[repr(align(4096))]
struct Page([u8; 4096]);

static mut SOURCE: Page = Page([0; 4096]);
static mut TARGET: Page = Page([0; 4096]);
static mut LENT: Page = Page([0; 4096]);

fn read32(addr: u64) -> u32 {
    // SAFETY: a configuration-space or BAR register (MMU off: Device memory).
    unsafe { read_volatile(addr as *const u32) }
}

fn write32(addr: u64, value: u32) {
    // SAFETY: as for `read32`.
    unsafe { write_volatile(addr as *mut u32, value) }
}

fn write64(addr: u64, value: u64) {
    // SAFETY: as for `read32`; the edu DMA registers take 8-byte accesses.
    unsafe { write_volatile(addr as *mut u64, value) }
}

fn read64(addr: u64) -> u64 {
    // SAFETY: as for `read32`.
    unsafe { read_volatile(addr as *const u64) }
}

/// The edu device, ready for DMA: its BAR0.
fn setup(fdt: &Fdt) -> Result<u64, &'static str> {
    let pci = fdt
        .find_compatible(&["pci-host-ecam-generic"])
        .ok_or("no pci-host-ecam-generic node")?;
    let ecam = pci
        .reg()
        .and_then(|mut r| r.next())
        .map(|r| r.starting_address as u64)
        .ok_or("no ECAM reg")?;
    // `ranges`: <space(3) cpu(2) size(2)> cells; 0x02000000 is 32-bit memory space.
    let ranges = pci.property("ranges").map(|p| p.value).ok_or("no ranges")?;
    let cell = |i: usize| {
        ranges
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64)
    };
    let window = (0..ranges.len() / 28)
        .find(|e| cell(7 * e).map(|c| (c >> 24) & 3) == Some(2))
        .and_then(|e| Some((cell(7 * e + 3)? << 32) | cell(7 * e + 4)?))
        .ok_or("no 32-bit memory window in ranges")?;
    let device = (0..32u64)
        .map(|d| ecam + (d << 15))
        .find(|&cfg| read32(cfg) == EDU_ID)
        .ok_or("no edu device on bus 0 (-device edu?)")?;
    write32(device + 0x10, window as u32); // BAR0
    write32(device + 0x04, 0x6); // memory space, bus master
    // The liveness register answers the complement of what is written.
    write32(window + 4, 0x1234_5678);
    if read32(window + 4) != !0x1234_5678 {
        return Err("the edu device does not answer at its BAR0");
    }
    Ok(window)
}

/// One transfer, waited for (the device takes about 100 ms of virtual time).
fn transfer(bar: u64, src: u64, dst: u64, to_ram: bool) -> bool {
    write64(bar + DMA_SRC, src);
    write64(bar + DMA_DST, dst);
    write64(bar + DMA_COUNT, LEN);
    write64(
        bar + DMA_CMD,
        CMD_START | if to_ram { CMD_TO_RAM } else { 0 },
    );
    time::wait_until(5000, || read64(bar + DMA_CMD) & CMD_START == 0)
}

/// The hypervisor's identify HVC answers (it also polls the SMMU's event queue).
fn hypervisor_answers() -> bool {
    arch::hvc(HVC_IDENTIFY, 0, 0, 0) == 0
}

/// The SMMU's translation faults as the hypervisor counted them (its DMA audit HVC), if it
/// answers.
fn translation_faults() -> Option<u64> {
    let mut regs = [0; 18];
    regs[0] = HVC_DMA_AUDIT;
    let r = crate::ffa_call::call(crate::ffa_call::Conduit::Hvc, &regs);
    (r[0] == 0).then_some(r[2])
}

/// Writes the pattern into the device's buffer, then the buffer to `target`.
fn attack(bar: u64, case: &str, target: u64) {
    let before = translation_faults();
    // SAFETY: only this function's CPU touches the page; the device reads it by DMA.
    let source = core::ptr::addr_of!(SOURCE) as u64;
    let filled = transfer(bar, source, DMA_BUFFER, false);
    let done = filled && transfer(bar, DMA_BUFFER, target, true);
    let outcome = if !done {
        Outcome::Fail(text(format_args!("the device did not finish")))
    } else if !hypervisor_answers() {
        Outcome::Fail(text(format_args!(
            "the hypervisor's HVC fails after a DMA to {target:#x}"
        )))
    } else {
        match (before, translation_faults()) {
            (Some(before), Some(after)) if after > before => Outcome::Pass(text(format_args!(
                "DMA to {target:#x} stopped: {} SMMU translation faults counted; the hypervisor still answers",
                after - before
            ))),
            (Some(before), Some(_)) => Outcome::Fail(text(format_args!(
                "DMA to {target:#x}: no SMMU fault counted (still {before})"
            ))),
            _ => Outcome::Fail(text(format_args!("no DMA audit HVC (no SMMU?)"))),
        }
    };
    report::record(case, &outcome);
    println!("PAYLOAD: dma: wrote {LEN} bytes at {target:#x} by DMA");
}

/// The positive control: a pattern moves from one payload page to another by DMA.
fn own_page(bar: u64, case: &str, seed: u8) {
    // SAFETY: the payload runs on one CPU here; the device accesses the page by DMA only
    // between this and the reads after the transfer is done.
    let target = unsafe { (*core::ptr::addr_of_mut!(TARGET)).0.as_mut_ptr() } as u64;
    dma_arrives(bar, case, seed, target);
}

/// Fills the source page with a pattern from `seed`; whether it reaches `target` (zeroed
/// first) by DMA.
fn dma_arrives(bar: u64, case: &str, seed: u8, target: u64) {
    // SAFETY: the payload runs on one CPU here; the device accesses the pages by DMA only
    // between the writes below and the reads after the transfer is done; `target` is a
    // page of the payload's own.
    let source = unsafe {
        let s = &mut *core::ptr::addr_of_mut!(SOURCE);
        for (i, b) in s.0.iter_mut().enumerate() {
            *b = seed.wrapping_add(i as u8);
        }
        core::ptr::write_bytes(target as *mut u8, 0, LEN as usize);
        s.0.as_ptr() as u64
    };
    let done = transfer(bar, source, DMA_BUFFER, false) && transfer(bar, DMA_BUFFER, target, true);
    // SAFETY: the transfer is over (or timed out); volatile reads of the page it wrote.
    let arrived = (0..LEN as usize).all(
        |i| unsafe { read_volatile((target as *const u8).add(i)) } == seed.wrapping_add(i as u8),
    );
    let outcome = match (done, arrived) {
        (true, true) => Outcome::Pass(text(format_args!(
            "{LEN} bytes from {source:#x} to {target:#x} by DMA"
        ))),
        (false, _) => Outcome::Fail(text(format_args!("the device did not finish"))),
        (true, false) => Outcome::Fail(text(format_args!(
            "the DMA to the payload's own page {target:#x} did not arrive"
        ))),
    };
    report::record(case, &outcome);
}

/// The cases above, then the summary and SYSTEM_OFF.
pub fn run(fdt: &Fdt, platform: &dt::Platform) -> ! {
    let bar = match setup(fdt) {
        Ok(bar) => bar,
        Err(why) => {
            report::record("dma.setup", &Outcome::Fail(text(format_args!("{why}"))));
            report::finish()
        }
    };
    own_page(bar, "dma.own-page", 0x5a);
    match platform.carveout {
        Some(c) => attack(bar, "dma.carve-out", c.region.base),
        None => report::record(
            "dma.carve-out",
            &Outcome::Skip(text(format_args!("no carve-out in the DT"))),
        ),
    }
    let secure = fdt.find_node("/reserved-memory").and_then(|r| {
        r.children()
            .find(|n| n.name.starts_with("optee_core"))
            .and_then(|n| n.reg()?.next())
            .map(|r| r.starting_address as u64)
    });
    match secure {
        Some(addr) => attack(bar, "dma.secure", addr),
        None => report::record(
            "dma.secure",
            &Outcome::Skip(text(format_args!("no optee_core reserved-memory node"))),
        ),
    }
    lent_page(bar);
    own_page(bar, "dma.own-page-after", 0xa5);
    report::finish()
}

/// A page lent to OP-TEE: the DMA into it is stopped; after RECLAIM it arrives.
fn lent_page(bar: u64) {
    // SAFETY: as in `dma_arrives`; the page is the payload's until it lends it below.
    let page = unsafe {
        let p = &mut *core::ptr::addr_of_mut!(LENT);
        p.0.fill(0x11);
        p.0.as_ptr() as u64
    };
    let handle = match crate::ffa_cases::lend_to_optee(page) {
        Ok(handle) => handle,
        Err(status) => {
            let why = text(format_args!(
                "FFA_MEM_LEND of {page:#x} failed ({status:#x})"
            ));
            report::record("dma.lent-page", &Outcome::Fail(why));
            return;
        }
    };
    attack(bar, "dma.lent-page.dma", page);
    let reclaimed = crate::ffa_cases::reclaim(handle);
    // SAFETY: the page is the payload's again (or the read takes an abort, which fails the
    // run as it should).
    let intact = (0..4096).all(|i| unsafe { read_volatile((page as *const u8).add(i)) } == 0x11);
    let outcome = match (reclaimed, intact) {
        (false, _) => Outcome::Fail(text(format_args!("FFA_MEM_RECLAIM of {handle:#x} failed"))),
        (true, false) => Outcome::Fail(text(format_args!(
            "the DMA reached {page:#x} while it was lent"
        ))),
        (true, true) => Outcome::Pass(text(format_args!(
            "{page:#x} unchanged by the DMA while lent (handle {handle:#x})"
        ))),
    };
    report::record("dma.lent-page", &outcome);
    if reclaimed {
        dma_arrives(bar, "dma.reclaimed-page", 0x3c, page);
    }
}
