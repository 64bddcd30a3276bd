//! The DMA policy: which device-tree nodes can master memory, and what the host keeps of them.
//!
//! Stage 2 stops the host's CPUs, not the devices it programs: a device that writes memory
//! by itself (a bus master) could write the carve-out, a lent page or Secure-world buffers.
//! So every node that can master memory gets one of these classes at boot ([`DmaClass`]):
//!
//! * behind an IOMMU the hypervisor owns: kept, its DMA translated through the host's
//!   stage 2 by that IOMMU. An IOMMU driver claims IOMMU nodes through
//!   [`DmaOptions::owned_iommus`]; the claimed IOMMU itself is withheld from the host;
//! * emulated: the GICv3 redistributors, whose LPI property and pending table bases the
//!   hypervisor traps and checks before the GIC uses them (`crate::gicr`), and the GICv3
//!   ITS, whose control frame is trapped and whose command queue is shadowed so that every
//!   table and ITT address is checked (`crate::its`);
//! * trusted by a board option ([`DmaOptions::trusted`]): kept and unprotected, a hole the
//!   board documents;
//! * withheld: its MMIO (`reg`, and a PCI host's address windows) is left out of the host's
//!   stage 2 and its node (with its subtree) is removed from the host's device tree.
//!   Everything not in another class is withheld: unknown DMA-capable devices included,
//!   and IOMMUs the hypervisor does not own (the host would program them).
//!
//! A node can master memory when its compatible is in [`MASTERS`], when it is a PCI host
//! (`device_type = "pci"`) or an IOMMU or DMA controller (`#iommu-cells`, `#dma-cells`), or
//! when it carries a DMA property (`dma-coherent`, `iommus`, `iommu-map`, `dma-ranges`) and
//! is neither a bus nor in [`NOT_MASTERS`] (devices that only answer accesses). Secure-only
//! nodes are already withheld by the host map and are left alone here.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use fdt_rw::{NodeId, Tree};

use crate::dt::{DtError, PhysRange, cells};

/// Why a node can master memory: the console and the docs name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A PCI host bridge: every device behind it can be a bus master.
    PciHost,
    /// A virtio-mmio transport: the device reads and writes the queues' buffers.
    Virtio,
    /// QEMU's fw_cfg: its DMA register copies to any address.
    FwCfg,
    /// A DMA controller.
    DmaController,
    /// A display controller: scans out (reads) and on some writes back frame buffers.
    Display,
    /// A USB host controller.
    Usb,
    /// A network controller with its own DMA.
    Ethernet,
    /// A storage controller with its own DMA (AHCI, SDHCI's ADMA).
    Storage,
    /// A GPU.
    Gpu,
    /// A trace sink that writes trace to memory (CoreSight TMC as ETR, CATU).
    Trace,
    /// An IOMMU: who programs it decides what its masters reach.
    Iommu,
    /// The GICv3 ITS: writes its device and collection tables and the ITTs.
    Its,
    /// The GICv3 redistributors: read and write the LPI property and pending tables.
    Redistributors,
    /// A node with DMA properties and a compatible this policy does not know.
    Unknown,
}

impl Kind {
    fn text(self) -> &'static str {
        match self {
            Self::PciHost => "PCI host bridge",
            Self::Virtio => "virtio-mmio transport",
            Self::FwCfg => "fw_cfg DMA",
            Self::DmaController => "DMA controller",
            Self::Display => "display controller",
            Self::Usb => "USB controller",
            Self::Ethernet => "network controller",
            Self::Storage => "storage controller",
            Self::Gpu => "GPU",
            Self::Trace => "trace sink",
            Self::Iommu => "IOMMU",
            Self::Its => "GICv3 ITS",
            Self::Redistributors => "GICv3 redistributor LPI tables",
            Self::Unknown => "unknown device with DMA properties",
        }
    }
}

/// What the host keeps of a node that can master memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaClass {
    /// Every stream of the node goes through IOMMUs the hypervisor owns: kept.
    BehindOwnedIommu,
    /// An IOMMU the hypervisor owns: withheld (MMIO out of stage 2, node removed).
    OwnedIommu,
    /// The hypervisor traps and checks the table addresses the device uses: kept.
    Emulated,
    /// A board option declares it trusted: kept, unprotected.
    Trusted,
    /// MMIO out of stage 2, node removed from the host's device tree.
    Withheld,
}

impl DmaClass {
    /// Whether the node's MMIO leaves the host's stage 2 and the node its device tree.
    pub fn withheld(self) -> bool {
        matches!(self, Self::Withheld | Self::OwnedIommu)
    }
}

/// The decision for one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The node's path.
    pub path: String,
    /// Why it can master memory.
    pub kind: Kind,
    /// What the host keeps.
    pub class: DmaClass,
    /// Its MMIO in CPU physical addresses: `reg` (and its subtree's), a PCI host's windows.
    pub mmio: Vec<PhysRange>,
}

impl fmt::Display for Decision {
    /// One console line: `withheld /pcie@10000000 (PCI host bridge): 0x...-0x..., ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.class {
            DmaClass::BehindOwnedIommu => "behind the hypervisor's IOMMU",
            DmaClass::OwnedIommu => "owned by the hypervisor",
            DmaClass::Emulated => "emulated",
            DmaClass::Trusted => "TRUSTED by the board option, unprotected",
            DmaClass::Withheld => "withheld",
        };
        write!(f, "DMA: {class} {} ({})", self.path, self.kind.text())?;
        if self.class.withheld() {
            for (i, r) in self.mmio.iter().enumerate() {
                let sep = if i == 0 { ": " } else { ", " };
                write!(f, "{sep}{:#x}-{:#x}", r.start, r.end)?;
            }
        }
        Ok(())
    }
}

/// What a board or an IOMMU driver adds to the policy.
#[derive(Clone, Copy, Debug, Default)]
pub struct DmaOptions<'a> {
    /// Paths of IOMMU nodes the hypervisor owns (an IOMMU driver claims them): their
    /// masters are kept, the IOMMUs withheld. The SMMUv3 driver claims every `arm,smmu-v3`
    /// node it drives (`smmu::node`).
    pub owned_iommus: &'a [&'a str],
    /// Paths of masters a board option declares trusted: kept, unprotected.
    pub trusted: &'a [&'a str],
}

/// Compatibles of devices that master memory, by why: each list NUL-separated (one string
/// per kind keeps the table small in the image).
pub const MASTERS: &[(Kind, &str)] = &[
    (Kind::PciHost, "pci-host-ecam-generic\0pci-host-cam-generic"),
    (Kind::Virtio, "virtio,mmio"),
    (Kind::FwCfg, "qemu,fw-cfg-mmio"),
    (Kind::DmaController, "arm,pl330\0arm,pl080\0arm,pl081"),
    (
        Kind::Display,
        "arm,hdlcd\0arm,mali-dp500\0arm,mali-dp550\0arm,mali-dp650\0arm,pl110\0arm,pl111",
    ),
    (
        Kind::Usb,
        "generic-ohci\0generic-ehci\0generic-xhci\0snps,dwc2\0snps,dwc3",
    ),
    (
        Kind::Ethernet,
        "snps,dwmac\0snps,dwxgmac\0cdns,macb\0cdns,gem",
    ),
    (Kind::Storage, "generic-ahci\0snps,dwc-ahci"),
    (
        Kind::Gpu,
        "arm,mali-t624\0arm,mali-t628\0arm,mali-midgard\0arm,mali-bifrost\0\
         arm,mali-valhall-jm\0arm,mali-valhall-csf",
    ),
    (Kind::Trace, "arm,coresight-tmc\0arm,coresight-catu"),
    (
        Kind::Iommu,
        "arm,smmu-v3\0arm,smmu-v2\0arm,smmu-v1\0arm,mmu-500",
    ),
    (Kind::Its, "arm,gic-v3-its"),
    (Kind::Redistributors, "arm,gic-v3"),
];

/// Compatibles of devices that only answer accesses and never master memory, kept with the
/// host even when a DT gives them a DMA property (NUL-separated): UARTs (PL011: DMA goes
/// through an external controller's request lines), the PL031 RTC, the PL061 GPIO, watchdog
/// and timers (SP805, SP804, the memory-mapped generic timer), the SP810 system controller,
/// the PL050 KMI, the PL180 MMC (its DMA is an external controller's), the GICv2 and its v2m
/// MSI frames (no LPIs: nothing is read from memory), NOR flash (a memory that only
/// answers), the LAN9118 network controller (frames move through its FIFOs by CPU
/// accesses), the MHU and SRAM.
pub const NOT_MASTERS: &str = "arm,pl011\0arm,sbsa-uart\0arm,pl031\0arm,pl061\0arm,sp805\0\
    arm,sp804\0arm,sp810\0arm,pl050\0arm,pl180\0arm,gic-400\0arm,cortex-a15-gic\0\
    arm,gic-v2m-frame\0arm,armv7-timer-mem\0cfi-flash\0smsc,lan9118\0arm,mhu\0mmio-sram";

/// Buses describe their children's addresses, DMA ones included; they master nothing.
const BUSES: &str = "simple-bus\0simple-mfd\0simple-pm-bus\0arm,amba-bus";

/// What a compatible string is to the policy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listed {
    /// In [`MASTERS`] at this index.
    Master(usize),
    /// In [`NOT_MASTERS`].
    NotMaster,
    /// In [`BUSES`].
    Bus,
}

/// Every compatible of [`MASTERS`], [`NOT_MASTERS`] and [`BUSES`], split out of the
/// NUL-separated lists once per walk rather than once per node and list: a node's
/// compatibles are then each compared with the entries of one flat list, lengths first.
struct Known(Vec<(&'static [u8], Listed)>);

impl Known {
    fn new() -> Self {
        let split = |list: &'static str, listed: Listed| {
            list.as_bytes()
                .split(|&b| b == 0)
                .map(move |name| (name, listed))
        };
        let mut all = Vec::new();
        for (i, &(_, list)) in MASTERS.iter().enumerate() {
            all.extend(split(list, Listed::Master(i)));
        }
        all.extend(split(NOT_MASTERS, Listed::NotMaster));
        all.extend(split(BUSES, Listed::Bus));
        Self(all)
    }

    /// How the compatibles in `compatible` (a raw `compatible` value) are listed: the first
    /// [`MASTERS`] kind any of them names, and whether any is a non-master or a bus.
    fn of(&self, compatible: &[u8]) -> (Option<Kind>, bool, bool) {
        let (mut master, mut not_master, mut bus) = (None::<usize>, false, false);
        for c in compatible.split(|&b| b == 0).filter(|c| !c.is_empty()) {
            for &(name, listed) in &self.0 {
                if name.len() != c.len() || name != c {
                    continue;
                }
                match listed {
                    Listed::Master(i) => master = Some(master.map_or(i, |m| m.min(i))),
                    Listed::NotMaster => not_master = true,
                    Listed::Bus => bus = true,
                }
            }
        }
        (master.map(|i| MASTERS[i].0), not_master, bus)
    }
}

/// The policy's decisions for every node that can master memory, in DT order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DmaPolicy {
    /// One per node that can master memory (withheld subtrees count once).
    pub decisions: Vec<Decision>,
}

/// How a node's `reg` addresses reach CPU physical addresses.
#[derive(Clone, Debug)]
enum Xlate {
    /// The same as the CPU's.
    Identity,
    /// Through these windows: (bus address, CPU address, size).
    Windows(Vec<(u64, u64, u64)>),
    /// Not memory-mapped (a parent without `ranges`).
    None,
}

impl Xlate {
    fn range(&self, addr: u64, size: u64) -> Option<PhysRange> {
        let end = addr.checked_add(size)?;
        match self {
            Self::Identity => Some(addr..end),
            Self::Windows(w) => w.iter().find_map(|&(bus, cpu, len)| {
                let off = addr.checked_sub(bus)?;
                let start = cpu.checked_add(off)?;
                (end - bus <= len).then_some(start..start.checked_add(size)?)
            }),
            Self::None => None,
        }
    }
}

/// A big-endian value of up to two cells; a third (leading) cell, as in PCI addresses,
/// is dropped.
fn cells_value(bytes: &[u8]) -> u64 {
    let tail = bytes.len().saturating_sub(8);
    bytes[tail..]
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// `(child address, parent address, size)` entries of a `ranges`-shaped property.
fn triples(value: &[u8], child: u32, parent: u32, size: u32) -> Vec<(u64, u64, u64)> {
    let (c, p, s) = (4 * child as usize, 4 * parent as usize, 4 * size as usize);
    if child > 3 || parent > 2 || size > 2 || c + p + s == 0 {
        return Vec::new();
    }
    value
        .chunks_exact(c + p + s)
        .map(|e| {
            (
                cells_value(&e[..c]),
                cells_value(&e[c..c + p]),
                cells_value(&e[c + p..]),
            )
        })
        .collect()
}

/// One node of the walk: its cells (its parent's, which its `reg` uses) and translation.
struct At {
    id: NodeId,
    parent_cells: (u32, u32),
    xlate: Xlate,
}

/// The CPU ranges of `at`'s `reg`.
fn regs(tree: &Tree<'_>, at: &At) -> Vec<PhysRange> {
    let (ac, sc) = at.parent_cells;
    tree.prop(at.id, "reg")
        .map(|v| triples(v, ac, 0, sc))
        .unwrap_or_default()
        .into_iter()
        .filter(|&(_, _, size)| size != 0)
        .filter_map(|(addr, _, size)| at.xlate.range(addr, size))
        .collect()
}

/// The translation `at`'s children's `reg` use.
fn child_xlate(tree: &Tree<'_>, at: &At, is_root: bool) -> Xlate {
    if is_root {
        return Xlate::Identity;
    }
    match tree.prop(at.id, "ranges") {
        None => Xlate::None,
        Some([]) => at.xlate.clone(),
        Some(v) => {
            let (child_ac, size) = cells(tree, at.id);
            let windows = triples(v, child_ac, at.parent_cells.0, size)
                .into_iter()
                .filter_map(|(bus, parent, len)| {
                    let cpu = at.xlate.range(parent, len)?;
                    Some((bus, cpu.start, len))
                })
                .collect();
            Xlate::Windows(windows)
        }
    }
}

/// Why `id` can master memory, or `None`.
fn master_kind(tree: &Tree<'_>, id: NodeId, known: &Known) -> Option<Kind> {
    let (master, not_master, bus) = known.of(tree.prop(id, "compatible").unwrap_or(&[]));
    if let Some(kind) = master {
        return Some(kind);
    }
    if tree.prop_str(id, "device_type").ok().flatten() == Some("pci") {
        return Some(Kind::PciHost);
    }
    if tree.prop(id, "#iommu-cells").is_some() {
        return Some(Kind::Iommu);
    }
    if tree.prop(id, "#dma-cells").is_some() {
        return Some(Kind::DmaController);
    }
    let dma_props = ["dma-coherent", "iommus", "iommu-map", "dma-ranges"];
    let has_dma_prop = dma_props.iter().any(|p| tree.prop(id, p).is_some());
    (has_dma_prop && !not_master && !bus).then_some(Kind::Unknown)
}

/// The phandles in `iommus` (phandle + `#iommu-cells` each) and `iommu-map` (4 cells each).
fn iommu_refs(tree: &Tree<'_>, id: NodeId, cells_of: impl Fn(u32) -> Option<u32>) -> Vec<u32> {
    let words = |name| -> Vec<u32> {
        tree.prop(id, name)
            .unwrap_or(&[])
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let mut refs = Vec::new();
    let iommus = words("iommus");
    let mut i = 0;
    while let Some(&ph) = iommus.get(i) {
        refs.push(ph);
        // An unknown phandle ends the list: the caller then sees a reference it cannot own.
        let Some(n) = cells_of(ph) else { break };
        i += 1 + n as usize;
    }
    refs.extend(words("iommu-map").chunks_exact(4).map(|e| e[1]));
    refs
}

impl DmaPolicy {
    /// Classifies every node of the device tree `blob` that can master memory.
    pub fn classify(blob: &[u8], options: &DmaOptions<'_>) -> Result<Self, DtError> {
        Ok(Self::classify_tree(
            &Tree::parse(blob).map_err(DtError::Blob)?,
            options,
        ))
    }

    /// [`DmaPolicy::classify`] on an already parsed tree.
    pub fn classify_tree(tree: &Tree<'_>, options: &DmaOptions<'_>) -> Self {
        // Phandles of owned IOMMUs, and #iommu-cells of every IOMMU.
        let mut owned: Vec<u32> = Vec::new();
        let mut iommu_cells: Vec<(u32, u32)> = Vec::new();
        let mut all = alloc::vec![tree.root()];
        while let Some(id) = all.pop() {
            all.extend_from_slice(tree.children(id));
            let Some(ph) = tree.prop_u32(id, "phandle").ok().flatten() else {
                continue;
            };
            if let Some(n) = tree.prop_u32(id, "#iommu-cells").ok().flatten() {
                iommu_cells.push((ph, n));
                if options.owned_iommus.contains(&tree.path(id).as_str()) {
                    owned.push(ph);
                }
            }
        }
        let cells_of = |ph| iommu_cells.iter().find(|&&(p, _)| p == ph).map(|&(_, n)| n);
        let known = Known::new();

        let mut decisions = Vec::new();
        let root = tree.root();
        let mut stack = alloc::vec![At {
            id: root,
            parent_cells: cells(tree, root),
            xlate: Xlate::Identity,
        }];
        while let Some(at) = stack.pop() {
            let id = at.id;
            let is_root = id == root;
            let status = tree.prop_str(id, "status").ok().flatten();
            let secure_only = status == Some("disabled")
                && tree.prop_str(id, "secure-status").ok().flatten() == Some("okay");
            let kind = (!is_root && !secure_only)
                .then(|| master_kind(tree, id, &known))
                .flatten();
            let descend = match kind {
                None => true,
                Some(kind) => {
                    let path = tree.path(id);
                    let refs = iommu_refs(tree, id, cells_of);
                    let class = if options.trusted.contains(&path.as_str()) {
                        DmaClass::Trusted
                    } else if matches!(kind, Kind::Redistributors | Kind::Its) {
                        DmaClass::Emulated
                    } else if kind == Kind::Iommu && options.owned_iommus.contains(&path.as_str()) {
                        DmaClass::OwnedIommu
                    } else if kind != Kind::Iommu
                        && !refs.is_empty()
                        && refs.iter().all(|r| owned.contains(r))
                    {
                        DmaClass::BehindOwnedIommu
                    } else {
                        DmaClass::Withheld
                    };
                    let mut mmio = regs(tree, &at);
                    if class.withheld() {
                        mmio.extend(subtree_mmio(tree, &at, kind));
                        crate::ranges::sort_by_start(&mut mmio);
                    }
                    decisions.push(Decision {
                        path,
                        kind,
                        class,
                        mmio,
                    });
                    !class.withheld()
                }
            };
            if descend {
                let child_cells = cells(tree, id);
                let xlate = child_xlate(tree, &at, is_root);
                // Reversed, so that the stack pops children in DT order.
                for &child in tree.children(id).iter().rev() {
                    stack.push(At {
                        id: child,
                        parent_cells: child_cells,
                        xlate: xlate.clone(),
                    });
                }
            }
        }
        Self { decisions }
    }

    /// The MMIO of every withheld node, for the host map.
    pub fn withheld_mmio(&self) -> Vec<PhysRange> {
        self.withheld()
            .flat_map(|d| d.mmio.iter().cloned())
            .collect()
    }

    /// The withheld nodes, whose paths the host's device tree loses.
    pub fn withheld(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| d.class.withheld())
    }
}

/// A withheld node's MMIO beyond its own `reg`: a PCI host's address windows (the CPU side
/// of its `ranges`), and for any other node its descendants' `reg`.
fn subtree_mmio(tree: &Tree<'_>, at: &At, kind: Kind) -> Vec<PhysRange> {
    if kind == Kind::PciHost {
        let (child_ac, size) = cells(tree, at.id);
        return tree
            .prop(at.id, "ranges")
            .map(|v| triples(v, child_ac, at.parent_cells.0, size))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, parent, len)| at.xlate.range(parent, len))
            .collect();
    }
    let mut out = Vec::new();
    let mut stack = alloc::vec![At {
        id: at.id,
        parent_cells: at.parent_cells,
        xlate: at.xlate.clone(),
    }];
    while let Some(node) = stack.pop() {
        let child_cells = cells(tree, node.id);
        let xlate = child_xlate(tree, &node, false);
        for &child in tree.children(node.id) {
            let child_at = At {
                id: child,
                parent_cells: child_cells,
                xlate: xlate.clone(),
            };
            out.extend(regs(tree, &child_at));
            stack.push(child_at);
        }
    }
    out
}

#[cfg(test)]
mod tests;
