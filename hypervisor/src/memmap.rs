//! The host's physical address map: which ranges it gets as Normal memory, which as
//! Device memory, and which it never gets (the carve-out, Secure memory, firmware
//! memory, the GIC's hypervisor frames, and the MMIO of devices the DMA policy withholds,
//! `dma.rs`). Pure range arithmetic over [`SystemInfo`].

use alloc::vec::Vec;

use crate::dt::{Gic, PhysRange, SystemInfo};

pub use crate::addr::PAGE;

/// The host's view of the physical address space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMap {
    /// RAM the host owns: mapped Normal, read-write-execute.
    pub ram: Vec<PhysRange>,
    /// Everything else below the IPA limit that is not withheld: mapped Device-nGnRE,
    /// execute-never. Like pKVM, the host owns all MMIO it is not explicitly denied.
    pub mmio: Vec<PhysRange>,
    /// Withheld ranges (carve-out, Secure and firmware memory, GIC hypervisor frames, the
    /// DMA policy's withheld MMIO), sorted, overlapping ranges merged, for the
    /// console and for tests.
    pub withheld: Vec<PhysRange>,
}

/// Subtracts every range in `holes` from every range in `from`; the result is sorted and
/// holds no empty ranges.
pub fn subtract(from: &[PhysRange], holes: &[PhysRange]) -> Vec<PhysRange> {
    let mut out: Vec<PhysRange> = from.iter().filter(|r| r.start < r.end).cloned().collect();
    for hole in holes.iter().filter(|h| h.start < h.end) {
        let mut next = Vec::with_capacity(out.len() + 1);
        for r in out {
            if hole.end <= r.start || r.end <= hole.start {
                next.push(r);
                continue;
            }
            if r.start < hole.start {
                next.push(r.start..hole.start);
            }
            if hole.end < r.end {
                next.push(hole.end..r.end);
            }
        }
        out = next;
    }
    crate::ranges::sort_by_start(&mut out);
    out
}

/// Merges overlapping ranges of a list sorted by start (touching ones stay apart).
fn merge(sorted: Vec<PhysRange>) -> Vec<PhysRange> {
    let mut out: Vec<PhysRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

fn align_out(r: &PhysRange) -> PhysRange {
    (r.start & !(PAGE - 1))..r.end.saturating_add(PAGE - 1) & !(PAGE - 1)
}

fn align_in(r: &PhysRange) -> PhysRange {
    let start = r.start.saturating_add(PAGE - 1) & !(PAGE - 1);
    let end = r.end & !(PAGE - 1);
    start..end.max(start)
}

/// Window over which a GIC-400 integrated with one register page per 64 KiB (the SBSA
/// layout for 64 KiB-page OSes, as on Juno) repeats each 4 KiB page.
const GIC_ALIAS_WINDOW: u64 = 0x1_0000;

/// GIC frames the host must never reach: GICv2's GICH/GICV (hypervisor control and
/// virtual CPU interface), and the same legacy frames of a GICv3.
///
/// A frame that starts in the last 4 KiB page of a 64 KiB window (Juno's GICH at
/// 0x2c04_f000, GICV at 0x2c06_f000) only makes sense on such a 64 KiB-aliased GIC: the
/// DT names the last alias of the first page so that the frame's pages are contiguous.
/// Every other alias reaches the same registers, so the whole 64 KiB windows the frame
/// touches are withheld, unless they would take in a frame the host keeps (GICD, GICC,
/// GICR), in which case only the DT's range is.
fn gic_hyp_frames(gic: &Gic) -> Vec<PhysRange> {
    let (regs, host_frames) = match gic {
        // reg = GICD, GICC, GICH, GICV.
        Gic::V2 { regs } => (regs, 2),
        // reg = GICD, GICR x #redistributor-regions, then optional GICC, GICH, GICV.
        Gic::V3 {
            regs,
            redistributor_regions,
        } => (regs, 1 + *redistributor_regions as usize + 1),
    };
    let (keep, hyp) = regs.split_at(host_frames.min(regs.len()));
    hyp.iter().map(|frame| aliased_span(frame, keep)).collect()
}

/// `frame` widened to the 64 KiB windows it touches when it has the 64 KiB-aliased shape
/// and the widened span stays clear of `keep`; otherwise `frame` itself.
fn aliased_span(frame: &PhysRange, keep: &[PhysRange]) -> PhysRange {
    let mask = GIC_ALIAS_WINDOW - 1;
    if frame.start & mask != GIC_ALIAS_WINDOW - PAGE {
        return frame.clone();
    }
    let Some(end) = frame.end.checked_add(mask).map(|e| e & !mask) else {
        return frame.clone();
    };
    let span = (frame.start & !mask)..end;
    if keep
        .iter()
        .any(|k| k.start < span.end && span.start < k.end)
    {
        frame.clone()
    } else {
        span
    }
}

impl HostMap {
    /// Builds the host map for an IPA space of `ipa_bits`, withholding `carveout`.
    pub fn new(info: &SystemInfo, carveout: &PhysRange, ipa_bits: u32) -> Self {
        Self::with_withheld(info, carveout, ipa_bits, &[])
    }

    /// [`HostMap::new`], also withholding `devices` (the MMIO of devices the DMA policy
    /// withholds), each widened to whole pages: stage 2 cannot give the host part of a page.
    pub fn with_withheld(
        info: &SystemInfo,
        carveout: &PhysRange,
        ipa_bits: u32,
        devices: &[PhysRange],
    ) -> Self {
        let limit = 1u64.checked_shl(ipa_bits).unwrap_or(u64::MAX);
        let below_limit = |r: &PhysRange| r.start < limit;
        let clip = |r: &PhysRange| r.start..r.end.min(limit);

        let mut withheld: Vec<PhysRange> = Vec::new();
        withheld.push(align_out(carveout));
        withheld.extend(info.secure.iter().map(align_out));
        // Reserved regions outside RAM are firmware memory (e.g. OP-TEE's core).
        withheld.extend(
            info.reserved
                .iter()
                .filter(|r| !info.is_ram(&r.range))
                .map(|r| align_out(&r.range)),
        );
        if let Some(gic) = &info.gic {
            withheld.extend(gic_hyp_frames(gic).iter().map(align_out));
        }
        withheld.extend(devices.iter().map(align_out));
        withheld.retain(|r| below_limit(r) && r.start < r.end);
        crate::ranges::sort_by_start(&mut withheld);
        let withheld = merge(withheld);

        let memory: Vec<PhysRange> = info
            .memory
            .iter()
            .filter(|r| below_limit(r))
            .map(|r| align_in(&clip(r)))
            .collect();
        let ram = subtract(&memory, &withheld);
        let mut not_mmio = memory.clone();
        not_mmio.extend(withheld.iter().cloned());
        let mmio = subtract(core::slice::from_ref(&(0..limit)), &not_mmio);
        Self {
            ram,
            mmio,
            withheld,
        }
    }

    /// Leaves the device register pages `pages` out of the host's MMIO: the hypervisor
    /// traps and emulates them (`crate::mmio`), so a host access faults into EL2 instead
    /// of reaching the device. Pages outside the MMIO map are ignored.
    pub fn trap_emulated(&mut self, pages: &[PhysRange]) {
        let pages: Vec<PhysRange> = pages.iter().map(align_out).collect();
        self.mmio = subtract(&self.mmio, &pages);
    }

    /// Whether the host may use `[addr, addr + len)` as its own RAM.
    pub fn is_host_ram(&self, addr: u64, len: u64) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        len != 0 && self.ram.iter().any(|r| r.start <= addr && end <= r.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dt::SystemInfo;

    const QEMU_DTB: &[u8] = include_bytes!("../../tests/fixtures/qemu-virt-tfa-optee.dtb");

    #[test]
    fn subtract_splits_and_drops() {
        assert_eq!(subtract(&[0..100], &[10..20, 50..200]), [0..10, 20..50]);
        assert_eq!(subtract(&[0..100], &[0..100]), Vec::<PhysRange>::new());
        assert_eq!(subtract(&[0..10, 20..30], &[5..25]), [0..5, 25..30]);
    }

    #[test]
    fn aliased_gic_400_frames_are_withheld_with_every_alias() {
        // Juno's GIC-400 reg: GICD, GICC, GICH, GICV, each page repeated over 64 KiB.
        let juno = Gic::V2 {
            regs: alloc::vec![
                0x2c01_0000..0x2c01_1000,
                0x2c02_f000..0x2c03_1000,
                0x2c04_f000..0x2c05_1000,
                0x2c06_f000..0x2c07_1000,
            ],
        };
        assert_eq!(
            gic_hyp_frames(&juno),
            [0x2c04_0000..0x2c06_0000, 0x2c06_0000..0x2c08_0000]
        );
        // QEMU's GICv2 frames are 64 KiB apart and 64 KiB aligned: taken as they are.
        let qemu = Gic::V2 {
            regs: alloc::vec![
                0x0800_0000..0x0801_0000,
                0x0801_0000..0x0802_0000,
                0x0803_0000..0x0804_0000,
                0x0804_0000..0x0805_0000,
            ],
        };
        assert_eq!(
            gic_hyp_frames(&qemu),
            [0x0803_0000..0x0804_0000, 0x0804_0000..0x0805_0000]
        );
        // A packed 4 KiB layout whose GICH happens to sit at ...f000 would take in GICD
        // if widened: the DT's ranges are kept.
        let packed = Gic::V2 {
            regs: alloc::vec![
                0x1000_e000..0x1000_f000,
                0x1001_0000..0x1001_2000,
                0x1000_f000..0x1001_0000,
                0x1001_2000..0x1001_4000,
            ],
        };
        assert_eq!(
            gic_hyp_frames(&packed),
            [0x1000_f000..0x1001_0000, 0x1001_2000..0x1001_4000]
        );
        // GICv3 legacy frames after GICD, two GICR regions and GICC.
        let v3 = Gic::V3 {
            regs: alloc::vec![
                0x3000_0000..0x3001_0000,
                0x301c_0000..0x305c_0000,
                0x3100_0000..0x3110_0000,
                0x2c00_0000..0x2c00_2000,
                0x2c01_f000..0x2c02_1000,
            ],
            redistributor_regions: 2,
        };
        assert_eq!(gic_hyp_frames(&v3), [0x2c01_0000..0x2c03_0000]);
        // Fewer reg entries than the frames the host keeps: nothing to withhold.
        let short = Gic::V2 {
            regs: alloc::vec![0x2c01_0000..0x2c01_1000],
        };
        assert!(gic_hyp_frames(&short).is_empty());
    }

    /// Emulated register pages leave the host's MMIO map (and nothing else): the pages
    /// around them stay Device for the host.
    #[test]
    fn emulated_pages_leave_the_mmio_map() {
        let info = SystemInfo::parse(QEMU_DTB).unwrap();
        let mut map = HostMap::new(&info, &(0x6000_0000..0x6020_0000), 40);
        let before = map.clone();
        map.trap_emulated(&[0x080a_0000..0x080a_1000, 0x080c_0000..0x080c_0800]);
        let covered = |m: &HostMap, a: u64| m.mmio.iter().any(|r| r.contains(&a));
        for page in [0x080a_0000, 0x080a_0ffc, 0x080c_0000, 0x080c_0fff] {
            assert!(covered(&before, page) && !covered(&map, page), "{page:#x}");
        }
        for kept in [0x0809_fffc, 0x080a_1000, 0x080b_0000, 0x080c_1000] {
            assert!(covered(&map, kept), "{kept:#x}");
        }
        assert_eq!(
            (map.ram.clone(), map.withheld.clone()),
            (before.ram, before.withheld)
        );
    }

    #[test]
    fn qemu_host_map_withholds_carveout_and_secure_memory() {
        let info = SystemInfo::parse(QEMU_DTB).unwrap();
        let carve = 0x6000_0000..0x6020_0000;
        let map = HostMap::new(&info, &carve, 40);
        assert_eq!(
            map.ram,
            [0x4000_0000..0x6000_0000, 0x6020_0000..0x8000_0000]
        );
        assert!(!map.is_host_ram(0x6000_0000, 1));
        assert!(map.is_host_ram(0x4800_0000, 0x1000));
        // OP-TEE's Secure memory at 0x0e10_0000 is neither RAM nor MMIO for the host.
        for r in map.ram.iter().chain(map.mmio.iter()) {
            assert!(
                r.end <= 0x0e10_0000 || r.start >= 0x0f00_0000,
                "{r:x?} touches Secure RAM"
            );
            assert!(
                r.end <= carve.start || r.start >= carve.end,
                "{r:x?} touches the carve-out"
            );
        }
        // The UART and the GIC distributor are host MMIO.
        assert!(
            map.mmio
                .iter()
                .any(|r| r.start <= 0x0900_0000 && 0x0900_1000 <= r.end)
        );
        assert!(
            map.mmio
                .iter()
                .any(|r| r.start <= 0x0800_0000 && 0x0801_0000 <= r.end)
        );
        // Nothing above the IPA limit.
        assert!(map.mmio.iter().all(|r| r.end <= 1 << 40));
    }
}
