//! The GICv3 ITS as the hypervisor itself reaches it: the port of the ITS emulation
//! (`crate::its`: Device loads and stores of its control frame through the EL2 map, the
//! host's command queue read through the EL2 map of host RAM, the shadow queue written in
//! the carve-out) and the boot step that takes every emulated ITS over.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use crate::dma::{DmaClass, DmaPolicy, Kind};
use crate::firmware::arch;
use crate::firmware::gic::GicMmio;
use crate::gicr::{GICR_TYPER, GicPort, Redistributors};
use crate::its::{CONTROL_FRAME, GITS_TYPER, Its, ItsPort, SHADOW_BYTES};

/// The ITS's registers and queues.
///
/// Register accesses reach only the control frames the EL2 map maps as Device memory
/// ([`frames`]); command reads only the host queue the emulation accepted (pinned host RAM,
/// mapped Normal by the EL2 map); command writes only the shadow queue [`start`] allocated.
pub struct ItsMmio;

impl ItsPort for ItsMmio {
    fn read(&self, addr: u64, size: u8) -> u64 {
        GicMmio.read(addr, size)
    }

    fn write(&self, addr: u64, size: u8, value: u64) {
        GicMmio.write(addr, size, value);
    }

    fn read_command(&self, addr: u64) -> [u64; 4] {
        let p = addr as *const u64;
        // SAFETY: `addr` is a 32-byte-aligned command inside the host queue the emulation
        // accepted: host RAM, pinned (nothing can lend or unmap it), mapped by the EL2 map.
        unsafe { core::array::from_fn(|i| core::ptr::read_volatile(p.add(i))) }
    }

    fn write_command(&self, addr: u64, command: [u64; 4]) {
        let p = addr as *mut u64;
        for (i, dw) in command.into_iter().enumerate() {
            // SAFETY: `addr` is a command slot of the shadow queue, a page of the heap that
            // [`start`] allocated for this ITS and nothing else uses.
            unsafe { core::ptr::write_volatile(p.add(i), dw) };
        }
        // The ITS may read the queue without snooping the CPU's caches.
        arch::clean_dcache_range(addr, 32);
    }
}

/// An ITS node: its path and register frames.
pub type ItsNode = (String, Range<u64>);

/// The ITSes the DMA policy emulates.
pub fn emulated(dma: &DmaPolicy) -> Vec<ItsNode> {
    dma.decisions
        .iter()
        .filter(|d| d.kind == Kind::Its && d.class == DmaClass::Emulated)
        .filter_map(|d| Some((d.path.clone(), d.mmio.first()?.clone())))
        .collect()
}

/// The control frames the EL2 map must map as Device memory for [`start`].
pub fn frames(its: &[ItsNode]) -> Vec<Range<u64>> {
    its.iter()
        .map(|(_, r)| r.start..r.start + CONTROL_FRAME)
        .collect()
}

/// Takes every ITS in `its` over (the EL2 map must map [`frames`]): its shadow queue, its
/// tables cleared. The ones that cannot be emulated (no redistributor with LPIs, or an ITS
/// that does not quiesce) are returned apart, to be withheld.
pub fn start(
    its: &[ItsNode],
    gicr: Option<&Redistributors<GicMmio>>,
) -> (Vec<Its<ItsMmio>>, Vec<ItsNode>) {
    let mut taken = Vec::new();
    let mut failed = Vec::new();
    for (path, regs) in its {
        let Some(gicr) = gicr else {
            crate::firmware::console::warning!("ITS {path}: no redistributor LPIs: withheld");
            failed.push((path.clone(), regs.clone()));
            continue;
        };
        let base = regs.start;
        // GITS_TYPER.PTA: RDbase is an RD_base address (in 64 KiB units), else the
        // redistributor's processor number (GICR_TYPER[23:8]).
        let pta = GicMmio.read(base + GITS_TYPER, 8) & (1 << 19) != 0;
        let targets: Vec<u64> = gicr
            .pages()
            .map(|p| {
                if pta {
                    p.start >> 16
                } else {
                    (GicMmio.read(p.start + GICR_TYPER, 8) >> 8) & 0xffff
                }
            })
            .collect();
        let layout = core::alloc::Layout::from_size_align(SHADOW_BYTES as usize, 4096);
        // SAFETY: a non-zero size; the page is leaked below and used by this ITS only.
        let shadow = layout.map_or(core::ptr::null_mut(), |l| unsafe {
            alloc::alloc::alloc_zeroed(l)
        });
        if shadow.is_null() {
            crate::firmware::console::warning!(
                "ITS {path}: no heap for its command queue: withheld"
            );
            failed.push((path.clone(), regs.clone()));
            continue;
        }
        // The heap is in the carve-out, mapped at its physical address.
        let shadow = shadow as u64;
        arch::clean_dcache_range(shadow, SHADOW_BYTES);
        match Its::new(ItsMmio, base, shadow, targets) {
            Some(its) => {
                crate::firmware::console::info!(
                    "ITS {path} at {base:#x}: control frame trapped, command queue shadowed at {shadow:#x}"
                );
                taken.push(its);
            }
            None => {
                crate::firmware::console::warning!("ITS {path}: does not quiesce: withheld");
                failed.push((path.clone(), regs.clone()));
            }
        }
    }
    (taken, failed)
}
