//! What the hypervisor needs from the firmware's device tree: memory, CPUs, the PSCI
//! conduit, the GIC, the console UART, reserved and Secure regions, and `/chosen`.
//!
//! Parsing uses the `fdt` crate, which trusts its input and panics on some malformed
//! blobs; [`check_structure`] walks the whole blob first and turns every such defect into
//! a [`DtError`], so a bad DTB becomes one clear console line, never a panic.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use fdt::Fdt;
use fdt::node::FdtNode;

/// Physical address range `[start, end)`.
pub type PhysRange = Range<u64>;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const HEADER_LEN: usize = 40;
/// Deeper trees than this are refused rather than walked.
const MAX_DEPTH: usize = 32;

/// Why a device tree blob cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtError {
    /// The first word is not 0xd00dfeed.
    BadMagic(u32),
    /// The blob is shorter than its header or than `totalsize` says.
    Truncated,
    /// A header offset or size points outside the blob.
    BadHeader(&'static str),
    /// The structure block is malformed at this byte offset.
    BadStructure(usize, &'static str),
    /// A required node or property is missing or has the wrong shape.
    Missing(&'static str),
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic(m) => write!(f, "bad magic {m:#010x} (expected 0xd00dfeed)"),
            Self::Truncated => write!(f, "blob truncated"),
            Self::BadHeader(what) => write!(f, "bad header: {what}"),
            Self::BadStructure(off, what) => {
                write!(f, "malformed structure block at offset {off:#x}: {what}")
            }
            Self::Missing(what) => write!(f, "missing or malformed {what}"),
        }
    }
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    let bytes = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The blob's `totalsize`, after checking the magic. Used to learn how much to copy.
pub fn total_size(header: &[u8]) -> Result<usize, DtError> {
    let magic = be32(header, 0).ok_or(DtError::Truncated)?;
    if magic != FDT_MAGIC {
        return Err(DtError::BadMagic(magic));
    }
    Ok(be32(header, 4).ok_or(DtError::Truncated)? as usize)
}

/// Walks the whole blob and checks everything the `fdt` crate would otherwise trust:
/// header offsets, token stream, nesting, NUL-terminated UTF-8 names, property lengths and
/// name offsets, and 4-byte `#address-cells`/`#size-cells` values.
pub fn check_structure(blob: &[u8]) -> Result<(), DtError> {
    let total = total_size(blob)?;
    if total < HEADER_LEN || blob.len() < total {
        return Err(DtError::Truncated);
    }
    let blob = &blob[..total];
    let field = |i: usize| be32(blob, i * 4).ok_or(DtError::Truncated);
    let (off_struct, off_strings, off_rsv) = (field(2)? as usize, field(3)? as usize, field(4)?);
    let (size_strings, size_struct) = (field(8)? as usize, field(9)? as usize);
    let struct_end = off_struct
        .checked_add(size_struct)
        .filter(|&e| e <= total)
        .ok_or(DtError::BadHeader("structure block outside the blob"))?;
    let strings_end = off_strings
        .checked_add(size_strings)
        .filter(|&e| e <= total)
        .ok_or(DtError::BadHeader("strings block outside the blob"))?;
    if off_struct < HEADER_LEN || off_struct % 4 != 0 {
        return Err(DtError::BadHeader("structure block offset"));
    }
    // The memory reservation map: pairs of u64 ending with a zero pair, inside the blob.
    let mut rsv = off_rsv as usize;
    loop {
        let pair = blob
            .get(rsv..rsv.checked_add(16).ok_or(DtError::Truncated)?)
            .ok_or(DtError::BadHeader("memory reservation map runs off the blob"))?;
        rsv += 16;
        if pair.iter().all(|&b| b == 0) {
            break;
        }
    }
    let strings = &blob[off_strings..strings_end];
    let structure = &blob[off_struct..struct_end];
    let mut pos = 0usize;
    let mut depth = 0usize;
    let mut seen_root = false;
    let bad = |pos: usize, what| DtError::BadStructure(pos, what);
    loop {
        let token = be32(structure, pos).ok_or(bad(pos, "runs off the end without FDT_END"))?;
        let at = pos;
        pos += 4;
        match token {
            FDT_BEGIN_NODE => {
                if depth == 0 && seen_root {
                    return Err(bad(at, "second root node"));
                }
                seen_root = true;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(bad(at, "nodes nested too deeply"));
                }
                let name = c_str(structure, pos).ok_or(bad(at, "node name not terminated"))?;
                core::str::from_utf8(name).map_err(|_| bad(at, "node name not UTF-8"))?;
                pos = align4(pos + name.len() + 1);
            }
            FDT_END_NODE => {
                depth = depth.checked_sub(1).ok_or(bad(at, "unbalanced FDT_END_NODE"))?;
            }
            FDT_PROP => {
                if depth == 0 {
                    return Err(bad(at, "property outside any node"));
                }
                let len = be32(structure, pos).ok_or(bad(at, "truncated property"))? as usize;
                let nameoff = be32(structure, pos + 4).ok_or(bad(at, "truncated property"))?;
                let value_start = pos + 8;
                let value_end = value_start
                    .checked_add(len)
                    .filter(|&e| e <= structure.len())
                    .ok_or(bad(at, "property value runs off the block"))?;
                let name = c_str(strings, nameoff as usize)
                    .ok_or(bad(at, "property name offset outside the strings block"))?;
                let name =
                    core::str::from_utf8(name).map_err(|_| bad(at, "property name not UTF-8"))?;
                if (name == "#address-cells" || name == "#size-cells") && len != 4 {
                    return Err(bad(at, "#address-cells/#size-cells is not one cell"));
                }
                pos = align4(value_end);
            }
            FDT_NOP => {}
            FDT_END => {
                return if depth == 0 && seen_root {
                    Ok(())
                } else {
                    Err(bad(at, "FDT_END inside a node"))
                };
            }
            _ => return Err(bad(at, "unknown token")),
        }
    }
}

fn align4(v: usize) -> usize {
    (v + 3) & !3
}

fn c_str(b: &[u8], off: usize) -> Option<&[u8]> {
    let rest = b.get(off..)?;
    let len = rest.iter().position(|&c| c == 0)?;
    Some(&rest[..len])
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
    /// `/memory` ranges, sorted, as the DT gives them.
    pub memory: Vec<PhysRange>,
    /// MPIDR affinity values of the CPUs, in DT order (the boot CPU is usually first).
    pub cpus: Vec<u64>,
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

fn regs_of(node: FdtNode<'_, '_>) -> Vec<PhysRange> {
    let mut out = Vec::new();
    if let Some(regs) = node.reg() {
        for r in regs {
            let start = r.starting_address as u64;
            let size = r.size.unwrap_or(0) as u64;
            if let Some(end) = start.checked_add(size).filter(|_| size != 0) {
                out.push(start..end);
            }
        }
    }
    out
}

/// Finds a node by absolute path, walking children by name. `Fdt::find_node` in fdt 0.1.5
/// misses nodes in trees that libfdt has edited in place (TF-A and OP-TEE do: measured on
/// the QEMU stack, `/cpus` was not found), so we never use it.
fn node_at<'b, 'a>(fdt: &'b Fdt<'a>, path: &str) -> Option<FdtNode<'b, 'a>> {
    let mut node = fdt.all_nodes().next()?;
    for component in path.split('/').filter(|c| !c.is_empty()) {
        node = node.children().find(|c| {
            c.name == component
                || (!component.contains('@') && c.name.split('@').next() == Some(component))
        })?;
    }
    Some(node)
}

fn prop_str<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    node.property(name).and_then(|p| p.as_str())
}

impl SystemInfo {
    /// Parses a device tree blob. Runs [`check_structure`] first.
    pub fn parse(blob: &[u8]) -> Result<Self, DtError> {
        check_structure(blob)?;
        let fdt = Fdt::new(blob).map_err(|_| DtError::Truncated)?;
        let root = node_at(&fdt, "/").ok_or(DtError::Missing("root node"))?;
        let compatible = root
            .compatible()
            .map(|c| String::from(c.first()))
            .unwrap_or_default();

        let mut memory = Vec::new();
        let mut secure = Vec::new();
        let mut gic = None;
        for node in fdt.all_nodes() {
            let enabled = matches!(prop_str(node, "status"), None | Some("okay" | "ok"));
            if enabled && prop_str(node, "device_type") == Some("memory") {
                memory.extend(regs_of(node));
            }
            if prop_str(node, "secure-status") == Some("okay")
                && prop_str(node, "status") == Some("disabled")
            {
                secure.extend(regs_of(node));
            }
            if gic.is_none()
                && node.property("interrupt-controller").is_some()
                && let Some(c) = node.compatible()
            {
                if c.all().any(|s| s == "arm,gic-v3") {
                    gic = Some(Gic::V3 {
                        regs: regs_of(node),
                    });
                } else if c.all().any(|s| {
                    matches!(s, "arm,cortex-a15-gic" | "arm,gic-400" | "arm,cortex-a9-gic")
                }) {
                    gic = Some(Gic::V2 {
                        regs: regs_of(node),
                    });
                }
            }
        }
        if memory.is_empty() {
            return Err(DtError::Missing("/memory node with a reg"));
        }
        memory.sort_by_key(|r| r.start);

        let cpus_node = node_at(&fdt, "/cpus").ok_or(DtError::Missing("/cpus node"))?;
        let mut cpus = Vec::new();
        for cpu in cpus_node.children() {
            if prop_str(cpu, "device_type") != Some("cpu") {
                continue;
            }
            // MPIDR in reg: one or two address cells, no size cells.
            let reg = cpu.property("reg").ok_or(DtError::Missing("cpu reg"))?;
            let mpidr = match reg.value.len() {
                4 => be32(reg.value, 0).map(u64::from),
                8 => be32(reg.value, 0)
                    .zip(be32(reg.value, 4))
                    .map(|(h, l)| (u64::from(h) << 32) | u64::from(l)),
                _ => None,
            }
            .ok_or(DtError::Missing("cpu reg (one or two cells)"))?;
            cpus.push(mpidr);
        }
        if cpus.is_empty() {
            return Err(DtError::Missing("/cpus/cpu nodes"));
        }

        let psci = node_at(&fdt, "/psci")
            .and_then(|n| prop_str(n, "method"))
            .and_then(|m| match m {
                "smc" => Some(PsciConduit::Smc),
                "hvc" => Some(PsciConduit::Hvc),
                _ => None,
            });

        let chosen = node_at(&fdt, "/chosen");
        let bootargs = chosen
            .and_then(|c| prop_str(c, "bootargs"))
            .map(String::from);
        let uart = chosen
            .and_then(|c| prop_str(c, "stdout-path"))
            .and_then(|path| {
                let path = path.split(':').next().unwrap_or(path);
                if path.starts_with('/') {
                    node_at(&fdt, path)
                } else {
                    node_at(&fdt, "/aliases")
                        .and_then(|a| prop_str(a, path))
                        .and_then(|p| node_at(&fdt, p))
                }
            })
            .and_then(|node| {
                let base = regs_of(node).first()?.start;
                let compatible = node.compatible().map(|c| String::from(c.first()))?;
                Some(Uart { base, compatible })
            });

        let mut reserved: Vec<Reserved> = fdt
            .memory_reservations()
            .filter(|r| r.size() != 0)
            .filter_map(|r| {
                let start = r.address() as u64;
                Some(Reserved {
                    name: String::new(),
                    range: start..start.checked_add(r.size() as u64)?,
                    no_map: false,
                })
            })
            .collect();
        if let Some(rm) = node_at(&fdt, "/reserved-memory") {
            for child in rm.children() {
                let no_map = child.property("no-map").is_some();
                for range in regs_of(child) {
                    reserved.push(Reserved {
                        name: String::from(child.name),
                        range,
                        no_map,
                    });
                }
            }
        }

        Ok(Self {
            compatible,
            memory,
            cpus,
            psci,
            gic,
            uart,
            reserved,
            secure,
            bootargs,
        })
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
        assert_eq!(info.memory, [0x4000_0000..0x8000_0000]);
        assert_eq!(info.cpus, [0, 1, 2, 3]);
        assert_eq!(info.psci, Some(PsciConduit::Smc));
        assert!(matches!(info.gic, Some(Gic::V3 { ref regs }) if regs[0].start == 0x0800_0000));
        let uart = info.uart.as_ref().expect("stdout-path resolves");
        assert_eq!(uart.base, 0x0900_0000);
        assert_eq!(uart.compatible, "arm,pl011");
        assert!(
            info.reserved.iter().any(|r| r.no_map && r.range.start == 0x0e10_0000),
            "OP-TEE's core is reserved: {:?}",
            info.reserved
        );
        assert!(!info.secure.is_empty(), "the secure UART/RAM are marked Secure");
    }

    #[test]
    fn structure_check_accepts_fixture() {
        check_structure(QEMU_DTB).unwrap();
    }

    #[test]
    fn bad_magic_is_named() {
        let mut blob = QEMU_DTB.to_vec();
        blob[0] = 0;
        let err = SystemInfo::parse(&blob).unwrap_err();
        assert_eq!(err, DtError::BadMagic(0x000d_feed));
        assert!(err.to_string().contains("0x000dfeed"));
    }

    #[test]
    fn truncated_blob_is_refused() {
        assert_eq!(
            SystemInfo::parse(&QEMU_DTB[..100]).unwrap_err(),
            DtError::Truncated
        );
        assert_eq!(SystemInfo::parse(&[]).unwrap_err(), DtError::Truncated);
    }

    #[test]
    fn every_single_byte_corruption_is_an_error_or_a_parse_never_a_panic() {
        let size = total_size(QEMU_DTB).unwrap();
        let blob = &QEMU_DTB[..size];
        // Flip bytes across the header and the first part of the structure block.
        for i in (0..blob.len().min(4096)).step_by(3) {
            for v in [0x00u8, 0xff, 0x7f] {
                let mut b = blob.to_vec();
                b[i] = v;
                let _ = SystemInfo::parse(&b);
            }
        }
    }

    #[test]
    fn struct_offset_outside_blob_is_refused() {
        let mut blob = QEMU_DTB.to_vec();
        blob[8..12].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
        assert!(matches!(
            check_structure(&blob),
            Err(DtError::BadHeader(_))
        ));
    }
}
