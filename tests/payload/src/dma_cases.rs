//! The payload as a hostile host going for the devices that can write memory by themselves
//! (bus masters), which the hypervisor's DMA policy withholds on QEMU `virt`:
//!
//! | case | what must hold |
//! |---|---|
//! | `dma-nodes-removed` | the DT the hypervisor handed over has no PCIe root complex, virtio-mmio transport or fw_cfg node (the GICv3 ITS stays: it is emulated, see `its.rs`) |
//! | `dma-mmio-withheld` | a load from each of their registers, at QEMU virt's fixed addresses, raises a synchronous external abort at this EL1 (EC 0x25, FSC 0x10, FAR = address if valid, ELR = the load): the PCIe ECAM (the host bridge, and device 00:01.0, QEMU's `edu` DMA test device when the run adds it), the PCIe 32-bit window (where a BAR such as edu's would be assigned), the I/O window and the 64-bit window, the first virtio-mmio transport and fw_cfg's DMA register |
//!
//! With `dma-behind-iommu` in the bootargs (runs with `-machine iommu=smmuv3`, whose SMMU the
//! hypervisor owns) the PCIe root complex is the host's again, behind the SMMU: its node must
//! be there without any `iommu-map`/`iommus` reference, its ECAM and windows
//! readable, and instead the SMMU (`arm,smmu-v3` node, registers at 0x0905_0000) gone and
//! withheld.
//!
//! The addresses are QEMU virt's memory map (`hw/arm/virt.c`, `base_memmap` and the high
//! ECAM/MMIO regions), not read from the DT: the nodes are gone from it. Without a carve-out
//! node (not under the hypervisor) both cases SKIP.

use crate::arch;
use crate::dt::{Platform, Region};
use crate::esr::{self, EC_DABT_CURRENT};
use crate::exceptions::{ProbeKind, run_probe};
use crate::report::{self, Outcome, text};

/// Compatibles of QEMU virt's bus masters, which the host's DT must no longer hold (the
/// first only without an SMMU the hypervisor owns).
const REMOVED: [&str; 3] = ["pci-host-ecam-generic", "virtio,mmio", "qemu,fw-cfg-mmio"];

/// One register of each withheld device: (what, address). Run before the carve-out cases,
/// these are the boot's first seven host aborts, so the hypervisor names each on the console
/// (it prints the first eight, then every power of two).
const PROBES: [(&str, u64); 7] = [
    ("PCIe ECAM 00:00.0", 0x40_1000_0000),
    ("PCIe ECAM 00:01.0 (edu)", 0x40_1000_8000),
    ("PCIe 32-bit window", 0x1000_0000),
    ("PCIe I/O window", 0x3eff_0000),
    ("PCIe 64-bit window", 0x80_0000_0000),
    ("virtio-mmio 0", 0x0a00_0000),
    ("fw_cfg DMA register", 0x0902_0010),
];

/// How many of [`PROBES`] (the first) are the PCIe root complex's.
const PCIE_PROBES: usize = 5;

/// QEMU virt's SMMUv3 registers (`VIRT_SMMU`), withheld when the hypervisor owns it.
const SMMU_PROBE: (&str, u64) = ("SMMU_IDR0", 0x0905_0000);

/// Runs both cases. `dtb`/`dtb_size` locate the DT the hypervisor wrote.
pub fn run_all(platform: &Platform, dtb: u64, dtb_size: u64) {
    let dtb = Region {
        base: dtb,
        size: dtb_size,
    };
    // SAFETY: the DT lies in RAM at [base, base + size) (the boot protocol's x0, checked by
    // main before any case runs), the MMU is off so the address is the physical one, and
    // nothing writes it while the payload runs.
    let blob = unsafe { core::slice::from_raw_parts(dtb.base as *const u8, dtb.size as usize) };
    let fdt = fdt::Fdt::new(blob).ok();
    let behind_iommu = fdt.as_ref().is_some_and(|f| {
        f.chosen()
            .bootargs()
            .is_some_and(|a| a.split_ascii_whitespace().any(|w| w == "dma-behind-iommu"))
    });
    report::record(
        "dma-nodes-removed",
        &nodes_removed(platform, fdt.as_ref(), behind_iommu),
    );
    report::record("dma-mmio-withheld", &mmio_withheld(platform, behind_iommu));
}

fn nodes_removed(platform: &Platform, fdt: Option<&fdt::Fdt<'_>>, behind_iommu: bool) -> Outcome {
    if platform.carveout.is_none() {
        return Outcome::Skip(text(format_args!("not running under the hypervisor")));
    }
    let Some(fdt) = fdt else {
        return Outcome::Fail(text(format_args!("the DT does not parse")));
    };
    let removed: &[&str] = if behind_iommu {
        &["virtio,mmio", "qemu,fw-cfg-mmio", "arm,smmu-v3"]
    } else {
        &REMOVED
    };
    let mut pcie_kept = false;
    for node in fdt.all_nodes() {
        let Some(compatible) = node.compatible() else {
            continue;
        };
        if let Some(c) = compatible.all().find(|c| removed.contains(c)) {
            return Outcome::Fail(text(format_args!(
                "node {} ({c}) is still in the host's DT",
                node.name
            )));
        }
        if behind_iommu && compatible.all().any(|c| c == REMOVED[0]) {
            pcie_kept = true;
            if let Some(p) = ["iommu-map", "iommus"]
                .into_iter()
                .find(|p| node.property(p).is_some())
            {
                return Outcome::Fail(text(format_args!(
                    "node {} keeps `{p}`, which names a removed node",
                    node.name
                )));
            }
        }
    }
    if behind_iommu && !pcie_kept {
        return Outcome::Fail(text(format_args!(
            "the PCIe root complex behind the hypervisor's SMMU is not in the host's DT"
        )));
    }
    Outcome::Pass(text(format_args!(
        "no node compatible with any of {removed:?}{}",
        if behind_iommu {
            "; the PCIe root complex kept without IOMMU references"
        } else {
            ""
        }
    )))
}

fn mmio_withheld(platform: &Platform, behind_iommu: bool) -> Outcome {
    if platform.carveout.is_none() {
        return Outcome::Skip(text(format_args!("not running under the hypervisor")));
    }
    if behind_iommu {
        for (what, addr) in &PROBES[..PCIE_PROBES] {
            // SAFETY: as below; here the load must complete (the device is the host's).
            let (_, seen) = run_probe(ProbeKind::Data, || unsafe { arch::load(*addr) });
            if seen.is_some() {
                return Outcome::Fail(text(format_args!(
                    "{what}: load from {addr:#x} aborted, but the root complex is behind the hypervisor's SMMU"
                )));
            }
        }
    }
    let withheld = PROBES
        .iter()
        .skip(if behind_iommu { PCIE_PROBES } else { 0 })
        .chain(behind_iommu.then_some(&SMMU_PROBE));
    for &(what, addr) in withheld {
        // SAFETY: the handler is armed for a data abort and skips the load. Were the device
        // reachable, a load from these registers starts nothing (reads have no side effect
        // on ECAM, fw_cfg's DMA register or virtio-mmio's magic value).
        let (value, seen) = run_probe(ProbeKind::Data, || unsafe { arch::load(addr) });
        let Some(seen) = seen else {
            return Outcome::Fail(text(format_args!(
                "{what}: load from {addr:#x} completed without an abort (value {value:#x})"
            )));
        };
        if let Err(mismatch) =
            esr::check_sea(&seen, EC_DABT_CURRENT, addr, arch::probe_load_address())
        {
            return Outcome::Fail(text(format_args!(
                "{what}: load from {addr:#x}: {mismatch} (ESR={:#x} FAR={:#x})",
                seen.esr, seen.far
            )));
        }
    }
    Outcome::Pass(text(format_args!(
        "SEA at EL1 for all {} withheld registers, resumed{}",
        if behind_iommu {
            PROBES.len() - PCIE_PROBES + 1
        } else {
            PROBES.len()
        },
        if behind_iommu {
            "; the PCIe root complex's read"
        } else {
            ""
        }
    )))
}
