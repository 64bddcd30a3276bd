//! The GIC as the hypervisor itself reaches it: the port of the redistributor emulation
//! (`crate::gicr`), single Device loads and stores through the EL2 map, and the boot step
//! that finds the redistributors whose LPI table registers (and GICv4 vPE table registers)
//! are trapped.

use alloc::vec::Vec;
use core::ops::Range;

use crate::dt::SystemInfo;
use crate::gicr::{
    self, GICD_TYPER, GICR_CTLR, GICR_TYPER, GICR_VPENDBASER, GicPort, Redistributors,
};

/// Device loads and stores of the GIC's registers.
///
/// Only addresses inside the GIC frames the EL2 map maps as Device memory reach it: the
/// redistributor emulation calls it for its trapped pages only, the boot step for the
/// distributor's `GICD_TYPER` and each redistributor's `GICR_TYPER`/`GICR_CTLR` (and a
/// GICv4's `GICR_VPENDBASER`, read once).
pub struct GicMmio;

impl GicPort for GicMmio {
    fn read(&self, addr: u64, size: u8) -> u64 {
        // SAFETY: `addr` is a GIC register in a frame the EL2 map maps as Device memory
        // (see the type's documentation), aligned to `size` (the MMIO path refuses
        // unaligned accesses); a load has no effect on memory the hypervisor uses.
        unsafe {
            match size {
                1 => u64::from(core::ptr::read_volatile(addr as *const u8)),
                2 => u64::from(core::ptr::read_volatile(addr as *const u16)),
                4 => u64::from(core::ptr::read_volatile(addr as *const u32)),
                _ => core::ptr::read_volatile(addr as *const u64),
            }
        }
    }

    fn write(&self, addr: u64, size: u8, value: u64) {
        // SAFETY: as for `read`; a store to a GIC register changes the device only, and the
        // emulation has checked every store that names memory.
        unsafe {
            match size {
                1 => core::ptr::write_volatile(addr as *mut u8, value as u8),
                2 => core::ptr::write_volatile(addr as *mut u16, value as u16),
                4 => core::ptr::write_volatile(addr as *mut u32, value as u32),
                _ => core::ptr::write_volatile(addr as *mut u64, value),
            }
        }
    }
}

/// The GIC frames the EL2 map must map as Device memory for [`start`]: a GICv3's
/// distributor and redistributor regions (nothing for a GICv2).
pub fn frames(info: &SystemInfo) -> Vec<Range<u64>> {
    let Some((gicd, gicr)) = info.gic.as_ref().and_then(gicr::gicv3_frames) else {
        return Vec::new();
    };
    let mut frames = alloc::vec![gicd];
    frames.extend(gicr.iter().cloned());
    frames
}

/// Finds the redistributors of a GICv3 with LPIs (the EL2 map must map [`frames`]): their
/// RD_base pages are to be left out of the host's stage 2 and emulated. `None` without a
/// GICv3, or without LPIs (no table to check).
pub fn start(info: &SystemInfo) -> Option<Redistributors<GicMmio>> {
    let (gicd, regions) = info.gic.as_ref().and_then(gicr::gicv3_frames)?;
    let typer = GicMmio.read(gicd.start + GICD_TYPER, 4) as u32;
    if !gicr::gicd_has_lpis(typer) {
        crate::firmware::console::info!("GICv3 without LPIs: no redistributor table to check");
        return None;
    }
    let rds = gicr::discover(regions, |rd| GicMmio.read(rd + GICR_TYPER, 8));
    for &rd in &rds {
        if GicMmio.read(rd + GICR_CTLR, 4) & 1 != 0 {
            crate::firmware::console::warning!(
                "redistributor {rd:#x}: LPIs already enabled before the hypervisor: its tables were never checked"
            );
        }
    }
    crate::firmware::console::info!(
        "GICv3: {} redistributors, {} LPI ID bits; GICR_PROPBASER/PENDBASER trapped and checked",
        rds.len(),
        gicr::gicd_id_bits(typer)
    );
    let rds = Redistributors::new(GicMmio, rds, gicr::gicd_id_bits(typer));
    let mut vlpi = 0;
    for page in rds.vlpi_pages() {
        vlpi += 1;
        if GicMmio.read(page.start + GICR_VPENDBASER, 8) >> 63 != 0 {
            crate::firmware::console::warning!(
                "redistributor {:#x}: a vPE already valid before the hypervisor: its tables were never checked",
                page.start - gicr::VLPI_BASE
            );
        }
    }
    if vlpi != 0 {
        crate::firmware::console::info!(
            "GICv4: {vlpi} VLPI frames: GICR_VPROPBASER/VPENDBASER read as zero, writes ignored"
        );
    }
    Some(rds)
}
