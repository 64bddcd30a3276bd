//! The host's physical address map: which ranges it gets as Normal memory, which as
//! Device memory, and which it never gets (the carve-out, Secure memory, firmware
//! memory, the GIC's hypervisor frames). Pure range arithmetic over [`SystemInfo`].

use alloc::vec::Vec;

use crate::dt::{Gic, PhysRange, SystemInfo};

/// Granule every host mapping is aligned to.
pub const PAGE: u64 = 4096;

/// The host's view of the physical address space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMap {
    /// RAM the host owns: mapped Normal, read-write-execute.
    pub ram: Vec<PhysRange>,
    /// Everything else below the IPA limit that is not withheld: mapped Device-nGnRE,
    /// execute-never. Like pKVM, the host owns all MMIO it is not explicitly denied.
    pub mmio: Vec<PhysRange>,
    /// Withheld ranges (carve-out, Secure and firmware memory, GIC hypervisor frames),
    /// for the console and for tests.
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
    out.sort_by_key(|r| r.start);
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

/// GIC frames the host must never reach: GICv2's GICH/GICV (hypervisor control and
/// virtual CPU interface), and the same legacy frames of a GICv3.
fn gic_hyp_frames(gic: &Gic) -> Vec<PhysRange> {
    match gic {
        // reg = GICD, GICC, GICH, GICV.
        Gic::V2 { regs } => regs.iter().skip(2).cloned().collect(),
        // reg = GICD, GICR x #redistributor-regions, then optional GICC, GICH, GICV.
        Gic::V3 {
            regs,
            redistributor_regions,
        } => regs
            .iter()
            .skip(1 + *redistributor_regions as usize + 1)
            .cloned()
            .collect(),
    }
}

impl HostMap {
    /// Builds the host map for an IPA space of `ipa_bits`, withholding `carveout`.
    pub fn new(info: &SystemInfo, carveout: &PhysRange, ipa_bits: u32) -> Self {
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
        withheld.retain(below_limit);
        withheld.sort_by_key(|r| r.start);

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
