//! What the hypervisor needs from the firmware's device tree: memory, CPUs, the PSCI
//! conduit, the GIC, the console UART, reserved and Secure regions, and `/chosen`.
//!
//! The blob is read with `fdt_rw::Tree`, which checks the whole blob before building
//! anything and never panics on malformed input. We measured two reasons not to use the
//! `fdt` crate here: in fdt 0.1.5 `find_node("/cpus")` returns `None` on the device tree
//! TF-A and OP-TEE have edited in place on QEMU, and a `compatible` property without a
//! string makes `Compatible::first` panic (found by the corruption test below).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use fdt_rw::{NodeId, Tree};

/// Physical address range `[start, end)`.
pub type PhysRange = Range<u64>;

/// Why a device tree blob cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtError {
    /// The blob itself is malformed (header, structure, strings).
    Blob(fdt_rw::DtError),
    /// A required node or property is missing or has the wrong shape.
    Missing(&'static str),
    /// A node's property is missing or has the wrong shape.
    BadNode {
        /// The node's path.
        node: String,
        /// What is wrong.
        what: &'static str,
    },
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blob(e) => write!(f, "{e}"),
            Self::Missing(what) => write!(f, "missing or malformed {what}"),
            Self::BadNode { node, what } => write!(f, "{node}: {what}"),
        }
    }
}

/// The blob's `totalsize`, after checking the magic. Used to learn how much to copy.
pub fn total_size(header: &[u8]) -> Result<usize, DtError> {
    fdt_rw::totalsize(header)
        .map(|t| t as usize)
        .map_err(DtError::Blob)
}

/// How PSCI calls reach the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// `method = "smc"`.
    Smc,
    /// `method = "hvc"` (only meaningful when something runs above us, e.g. QEMU's PSCI).
    Hvc,
}

/// The interrupt controller the host will drive directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gic {
    /// GICv2 (GIC-400): distributor and CPU interface frames (and the hypervisor's own
    /// GICH/GICV frames, which the host must never get).
    V2 {
        /// All `reg` entries in DT order: GICD, GICC, GICH, GICV.
        regs: Vec<PhysRange>,
    },
    /// GICv3/v4: distributor, redistributors, and possibly legacy frames.
    V3 {
        /// All `reg` entries in DT order: GICD, GICR..., then optional GICC, GICH, GICV.
        regs: Vec<PhysRange>,
        /// `#redistributor-regions` (default 1): how many GICR entries follow GICD.
        redistributor_regions: u32,
    },
}

/// A child of `/reserved-memory` or a `/memreserve/` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// Node name (empty for `/memreserve/`).
    pub name: String,
    /// The range.
    pub range: PhysRange,
    /// `no-map`: the OS must not map it at all.
    pub no_map: bool,
}

/// The console the device tree names in `/chosen/stdout-path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uart {
    /// MMIO base.
    pub base: u64,
    /// `compatible`'s first string.
    pub compatible: String,
}

/// Everything the hypervisor reads from the device tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemInfo {
    /// First string of the root `compatible`.
    pub compatible: String,
    /// Every string of the root `compatible`, in DT order (for `platform::select`).
    pub compatibles: Vec<String>,
    /// `/memory` ranges, sorted, as the DT gives them.
    pub memory: Vec<PhysRange>,
    /// MPIDR affinity values of the CPUs, in DT order (the boot CPU is usually first).
    pub cpus: Vec<u64>,
    /// First `compatible` string of each CPU node (empty if it has none), parallel to
    /// `cpus`: tells big.LITTLE systems, whose cores differ in features such as PARange.
    pub cpu_models: Vec<String>,
    /// PSCI conduit, if there is a `/psci` node (method property).
    pub psci: Option<PsciConduit>,
    /// The GIC, if one is described.
    pub gic: Option<Gic>,
    /// The console UART named by `/chosen/stdout-path`.
    pub uart: Option<Uart>,
    /// `/reserved-memory` children and `/memreserve/` entries.
    pub reserved: Vec<Reserved>,
    /// Regions of nodes the firmware marks Secure-only (`secure-status = "okay"` with
    /// `status = "disabled"`): never mapped for the host.
    pub secure: Vec<PhysRange>,
    /// `/chosen/bootargs`, if any.
    pub bootargs: Option<String>,
}

/// A node's `#address-cells` and `#size-cells` for its children (DT spec defaults 2/1);
/// the DMA policy reads them too. Not inlined: one copy for its many callers.
#[inline(never)]
pub(crate) fn cells(tree: &Tree<'_>, id: NodeId) -> (u32, u32) {
    (
        tree.prop_u32(id, "#address-cells")
            .ok()
            .flatten()
            .unwrap_or(2),
        tree.prop_u32(id, "#size-cells").ok().flatten().unwrap_or(1),
    )
}

/// The non-empty, non-overflowing `reg` entries of `id`, read with its parent's cells.
fn regs_of(tree: &Tree<'_>, id: NodeId, parent_cells: (u32, u32)) -> Vec<PhysRange> {
    tree.prop(id, "reg")
        .and_then(|v| fdt_rw::reg_entries(v, parent_cells.0, parent_cells.1))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(start, size)| {
            let end = start.checked_add(size)?;
            (size != 0).then_some(start..end)
        })
        .collect()
}

fn prop_str<'t>(tree: &'t Tree<'_>, id: NodeId, name: &str) -> Option<&'t str> {
    tree.prop_str(id, name).ok().flatten()
}

fn first_compatible(tree: &Tree<'_>, id: NodeId) -> Option<String> {
    let first = tree.compatible(id).next()?;
    core::str::from_utf8(first).ok().map(String::from)
}

fn name_str(tree: &Tree<'_>, id: NodeId) -> String {
    fdt_rw::name_string(tree.name(id))
}

/// Finds a node by path, where components may omit the unit address (`/psci`).
fn node_at(tree: &Tree<'_>, path: &str) -> Option<NodeId> {
    let mut node = tree.root();
    // Split as bytes (the separators are ASCII): `str::split(char)` would bring core's
    // char searcher into the image.
    let components = path.as_bytes().split(|&b| b == b'/');
    for component in components.filter(|c| !c.is_empty()) {
        node = tree.children(node).iter().copied().find(|&c| {
            let name = tree.name(c);
            name == component
                || (!component.contains(&b'@')
                    && name.split(|&b| b == b'@').next() == Some(component))
        })?;
    }
    Some(node)
}

impl SystemInfo {
    /// Parses a device tree blob.
    pub fn parse(blob: &[u8]) -> Result<Self, DtError> {
        Self::from_tree(&Tree::parse(blob).map_err(DtError::Blob)?)
    }

    /// Reads an already parsed device tree (the boot path parses the blob once for all
    /// its readers).
    pub fn from_tree(tree: &Tree<'_>) -> Result<Self, DtError> {
        let root = tree.root();
        let compatible = first_compatible(tree, root).unwrap_or_default();
        let compatibles: Vec<String> = tree
            .compatible(root)
            .filter_map(|c| core::str::from_utf8(c).ok().map(String::from))
            .collect();

        let mut memory = Vec::new();
        let mut secure = Vec::new();
        let mut gic = None;
        // Depth-first walk with each node's parent cells (reg is read with those).
        let mut stack: Vec<(NodeId, (u32, u32))> = tree
            .children(root)
            .iter()
            .map(|&c| (c, cells(tree, root)))
            .collect();
        while let Some((id, parent_cells)) = stack.pop() {
            let status = prop_str(tree, id, "status");
            let enabled = matches!(status, None | Some("okay" | "ok"));
            if enabled && prop_str(tree, id, "device_type") == Some("memory") {
                memory.extend(regs_of(tree, id, parent_cells));
            }
            if prop_str(tree, id, "secure-status") == Some("okay") && status == Some("disabled") {
                secure.extend(regs_of(tree, id, parent_cells));
            }
            if gic.is_none() && tree.prop(id, "interrupt-controller").is_some() {
                if tree.is_compatible(id, &["arm,gic-v3"]) {
                    gic = Some(Gic::V3 {
                        regs: regs_of(tree, id, parent_cells),
                        redistributor_regions: tree
                            .prop_u32(id, "#redistributor-regions")
                            .ok()
                            .flatten()
                            .unwrap_or(1)
                            .clamp(1, 64),
                    });
                } else if tree.is_compatible(
                    id,
                    &["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"],
                ) {
                    gic = Some(Gic::V2 {
                        regs: regs_of(tree, id, parent_cells),
                    });
                }
            }
            let mine = cells(tree, id);
            stack.extend(tree.children(id).iter().map(|&c| (c, mine)));
        }
        if memory.is_empty() {
            return Err(DtError::Missing("/memory node with a reg"));
        }
        crate::ranges::sort_by_start(&mut memory);

        let cpus_node = node_at(tree, "/cpus").ok_or(DtError::Missing("/cpus node"))?;
        let mut cpus = Vec::new();
        let mut cpu_models = Vec::new();
        for &cpu in tree.children(cpus_node) {
            if prop_str(tree, cpu, "device_type") != Some("cpu") {
                continue;
            }
            // MPIDR in reg: one or two address cells, no size cells.
            let bad = |what| DtError::BadNode {
                node: tree.path(cpu),
                what,
            };
            let reg = tree.prop(cpu, "reg").ok_or_else(|| bad("missing reg"))?;
            let mpidr = match reg.len() {
                4 => fdt_rw::reg_entries(reg, 1, 0),
                8 => fdt_rw::reg_entries(reg, 2, 0),
                _ => None,
            }
            .and_then(|e| e.first().map(|&(a, _)| a))
            .ok_or_else(|| bad("malformed cpu reg (one or two cells)"))?;
            cpus.push(mpidr);
            cpu_models.push(first_compatible(tree, cpu).unwrap_or_default());
        }
        if cpus.is_empty() {
            return Err(DtError::Missing("/cpus/cpu nodes"));
        }

        let psci = node_at(tree, "/psci")
            .and_then(|n| prop_str(tree, n, "method"))
            .and_then(|m| match m {
                "smc" => Some(PsciConduit::Smc),
                "hvc" => Some(PsciConduit::Hvc),
                _ => None,
            });

        let chosen = node_at(tree, "/chosen");
        let bootargs = chosen
            .and_then(|c| prop_str(tree, c, "bootargs"))
            .map(String::from);
        let uart = chosen
            .and_then(|c| prop_str(tree, c, "stdout-path"))
            .and_then(|path| {
                // The path ends at the first ':' (options follow), found as a byte.
                let path = match path.bytes().position(|b| b == b':') {
                    Some(end) => path.get(..end).unwrap_or(path),
                    None => path,
                };
                if path.starts_with('/') {
                    node_at(tree, path)
                } else {
                    node_at(tree, "/aliases")
                        .and_then(|a| prop_str(tree, a, path))
                        .and_then(|p| node_at(tree, p))
                }
            })
            .and_then(|node| {
                // The UART's parent: the root on every board we know; read its cells.
                let base = regs_of(tree, node, cells(tree, root)).first()?.start;
                Some(Uart {
                    base,
                    compatible: first_compatible(tree, node)?,
                })
            });

        let mut reserved: Vec<Reserved> = tree
            .mem_reserve()
            .iter()
            .filter(|r| r.size != 0)
            .filter_map(|r| {
                Some(Reserved {
                    name: String::new(),
                    range: r.address..r.address.checked_add(r.size)?,
                    no_map: false,
                })
            })
            .collect();
        if let Some(rm) = node_at(tree, "/reserved-memory") {
            let rm_cells = cells(tree, rm);
            for &child in tree.children(rm) {
                let no_map = tree.prop(child, "no-map").is_some();
                for range in regs_of(tree, child, rm_cells) {
                    reserved.push(Reserved {
                        name: name_str(tree, child),
                        range,
                        no_map,
                    });
                }
            }
        }

        Ok(Self {
            compatible,
            compatibles,
            memory,
            cpus,
            cpu_models,
            psci,
            gic,
            uart,
            reserved,
            secure,
            bootargs,
        })
    }

    /// Whether the CPU nodes name more than one core type (big.LITTLE): then the boot
    /// CPU's ID registers do not speak for the others.
    pub fn mixed_cpus(&self) -> bool {
        let mut models = self.cpu_models.iter().filter(|m| !m.is_empty());
        let first = models.next();
        models.any(|m| Some(m) != first)
    }

    /// Whether `[start, end)` lies entirely inside one `/memory` range.
    pub fn is_ram(&self, range: &PhysRange) -> bool {
        range.start < range.end
            && self
                .memory
                .iter()
                .any(|m| m.start <= range.start && range.end <= m.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU_DTB: &[u8] = include_bytes!("../../tests/fixtures/qemu-virt-tfa-optee.dtb");

    #[test]
    fn qemu_fixture_parses() {
        let info = SystemInfo::parse(QEMU_DTB).expect("fixture parses");
        assert_eq!(info.compatible, "linux,dummy-virt");
        assert_eq!(info.compatibles, ["linux,dummy-virt"]);
        assert_eq!(
            info.memory,
            [0x4000_0000..0x8000_0000],
            "secram is disabled: not RAM"
        );
        assert_eq!(info.cpus, [0, 1, 2, 3]);
        assert_eq!(info.cpu_models.len(), 4);
        assert!(!info.mixed_cpus(), "{:?}", info.cpu_models);
        assert_eq!(info.psci, Some(PsciConduit::Smc));
        assert!(
            matches!(info.gic, Some(Gic::V3 { ref regs, redistributor_regions: 1 }) if regs[0].start == 0x0800_0000)
        );
        let uart = info.uart.as_ref().expect("stdout-path resolves");
        assert_eq!(uart.base, 0x0900_0000);
        assert_eq!(uart.compatible, "arm,pl011");
        assert!(
            info.reserved
                .iter()
                .any(|r| r.no_map && r.range == (0x0e10_0000..0x0f00_0000)),
            "OP-TEE's core is reserved: {:?}",
            info.reserved
        );
        assert!(
            info.secure.contains(&(0x0904_0000..0x0904_1000)),
            "the secure UART is Secure: {:?}",
            info.secure
        );
        assert!(
            info.secure.contains(&(0x0e00_0000..0x0f00_0000)),
            "secram is Secure"
        );
    }

    #[test]
    fn big_little_cpus_are_mixed() {
        // Juno r2: Cortex-A72 x2 (44-bit PARange) + Cortex-A53 x4 (40-bit).
        let info = SystemInfo::parse(include_bytes!("../../tests/fixtures/juno-r2.dtb")).unwrap();
        assert_eq!(
            info.cpu_models[..3],
            ["arm,cortex-a72", "arm,cortex-a72", "arm,cortex-a53"]
        );
        assert!(info.mixed_cpus());
    }

    #[test]
    fn bad_magic_is_named() {
        let mut blob = QEMU_DTB.to_vec();
        blob[0] = 0;
        let err = SystemInfo::parse(&blob).unwrap_err();
        assert!(matches!(
            err,
            DtError::Blob(fdt_rw::DtError::BadMagic { found: 0x000d_feed })
        ));
        assert!(err.to_string().contains("d00dfeed"), "{err}");
    }

    #[test]
    fn truncated_or_empty_blob_is_refused() {
        assert!(SystemInfo::parse(&QEMU_DTB[..100]).is_err());
        assert!(SystemInfo::parse(&[]).is_err());
    }

    #[test]
    fn missing_cpus_is_named() {
        // Rename "cpus" to "cpux" in the structure block.
        let mut blob = QEMU_DTB.to_vec();
        let at = blob
            .windows(5)
            .position(|w| w == b"cpus\0")
            .expect("cpus node name");
        blob[at + 3] = b'x';
        let err = SystemInfo::parse(&blob).unwrap_err();
        assert_eq!(err, DtError::Missing("/cpus node"));
    }

    #[test]
    fn every_single_byte_corruption_is_an_error_or_a_parse_never_a_panic() {
        for i in 0..QEMU_DTB.len() {
            for v in [0x00u8, 0xff] {
                let mut b = QEMU_DTB.to_vec();
                b[i] = v;
                let _ = SystemInfo::parse(&b);
            }
        }
    }
}
