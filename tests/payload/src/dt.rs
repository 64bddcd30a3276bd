//! The facts the payload needs from the device tree the hypervisor hands it.
//!
//! - the PSCI conduit: `method` of the `arm,psci*` node (`/psci`);
//! - the CPUs: `reg` of each `/cpus/cpu@*` (the MPIDR affinity value);
//! - RAM: `reg` of each `/memory@*`;
//! - the carve-out: `reg` and `no-map` of `/reserved-memory/hypervisor@*`;
//! - the console: the node `/chosen/stdout-path` names (options after `:` dropped).
//!
//! Parsing never fails as a whole: what is missing stays `None`/empty and the case that
//! needs it reports that.
//!
//! The `fdt` crate (0.1.5) stops looking for a node when an `FDT_NOP` token sits between
//! siblings, and QEMU leaves dozens of them at the root of a `-dtb` blob (it NOPs out the
//! memory nodes it replaces; libfdt editors such as TF-A's and the hypervisor's may add
//! more). [`strip_nops`] therefore copies the blob without them before it is parsed.

use fdt::Fdt;
use fdt::node::FdtNode;

use crate::MAX_CPUS;
use crate::psci::Conduit;

/// RAM regions kept (QEMU virt has one).
pub const MAX_RAM: usize = 8;

/// A physical address range.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Region {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Region {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// Whether `other` lies entirely inside.
    pub fn covers(&self, other: &Region) -> bool {
        self.base <= other.base && other.end() <= self.end()
    }

    /// Whether the two ranges share a byte.
    pub fn overlaps(&self, other: &Region) -> bool {
        self.base < other.end() && other.base < self.end()
    }
}

/// The hypervisor's `/reserved-memory/hypervisor@*` node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Carveout {
    /// Its first `reg` entry.
    pub region: Region,
    /// Whether it has the `no-map` property.
    pub no_map: bool,
}

/// Everything [`Platform::parse`] found.
#[derive(Clone, Copy, Debug)]
pub struct Platform {
    /// PSCI conduit, if the PSCI node has a known `method`.
    pub conduit: Option<Conduit>,
    /// MPIDRs of the first `cpu_count` CPUs in `/cpus`.
    pub cpus: [u64; MAX_CPUS],
    /// CPUs kept in `cpus`.
    pub cpu_count: usize,
    /// CPUs in the DT (more than `MAX_CPUS` are counted but not kept).
    pub cpus_in_dt: usize,
    /// RAM regions.
    pub ram: [Region; MAX_RAM],
    /// RAM regions kept in `ram`.
    pub ram_count: usize,
    /// The carve-out, if the DT has a `hypervisor@` reserved-memory node with a `reg`.
    pub carveout: Option<Carveout>,
    /// How many `hypervisor@` nodes `/reserved-memory` has (exactly 1 expected).
    pub carveout_nodes: usize,
    /// Base of the console UART.
    pub uart: Option<usize>,
}

impl Platform {
    /// Reads the facts out of `fdt`.
    pub fn parse(fdt: &Fdt) -> Self {
        let mut platform = Platform {
            conduit: None,
            cpus: [0; MAX_CPUS],
            cpu_count: 0,
            cpus_in_dt: 0,
            ram: [Region::default(); MAX_RAM],
            ram_count: 0,
            carveout: None,
            carveout_nodes: 0,
            uart: None,
        };
        platform.conduit = fdt
            .find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
            .or_else(|| fdt.find_node("/psci"))
            .and_then(|psci| psci.property("method"))
            .and_then(|method| method.as_str())
            .and_then(Conduit::from_method);

        if let Some(cpus) = fdt.find_node("/cpus") {
            for cpu in cpus.children().filter(|n| base_name(n) == "cpu") {
                if let Some(mpidr) = first_reg(&cpu).map(|r| r.base) {
                    if platform.cpu_count < MAX_CPUS {
                        platform.cpus[platform.cpu_count] = mpidr;
                        platform.cpu_count += 1;
                    }
                    platform.cpus_in_dt += 1;
                }
            }
        }

        for memory in fdt.find_all_nodes("/memory") {
            for region in memory.reg().into_iter().flatten() {
                let region = Region {
                    base: region.starting_address as u64,
                    size: region.size.unwrap_or(0) as u64,
                };
                if platform.ram_count < MAX_RAM && region.size != 0 {
                    platform.ram[platform.ram_count] = region;
                    platform.ram_count += 1;
                }
            }
        }

        if let Some(reserved) = fdt.find_node("/reserved-memory") {
            for node in reserved.children().filter(|n| base_name(n) == "hypervisor") {
                platform.carveout_nodes += 1;
                if platform.carveout.is_none() {
                    platform.carveout = first_reg(&node).map(|region| Carveout {
                        region,
                        no_map: node.property("no-map").is_some(),
                    });
                }
            }
        }

        platform.uart = fdt
            .find_node("/chosen")
            .and_then(|chosen| chosen.property("stdout-path"))
            .and_then(|path| path.as_str())
            .and_then(|path| fdt.find_node(path.split(':').next().unwrap_or(path)))
            .and_then(|uart| first_reg(&uart))
            .map(|r| r.base as usize);
        platform
    }

    /// The CPUs as a slice.
    pub fn cpus(&self) -> &[u64] {
        &self.cpus[..self.cpu_count]
    }

    /// The RAM regions as a slice.
    pub fn ram(&self) -> &[Region] {
        &self.ram[..self.ram_count]
    }

    /// One past the highest RAM byte: the lowest address above all RAM.
    pub fn ram_end(&self) -> u64 {
        self.ram().iter().map(Region::end).max().unwrap_or(0)
    }
}

/// Why a blob could not be copied by [`strip_nops`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StripError {
    /// Not a flattened device tree (magic, version or offsets).
    NotADtb,
    /// A token or block runs past the end of the blob.
    Truncated,
    /// An unknown structure token.
    BadToken(u32),
    /// The copy does not fit the destination.
    TooBig,
}

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const HEADER_SIZE: usize = 40;

fn be32(blob: &[u8], at: usize) -> Result<u32, StripError> {
    blob.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(StripError::Truncated)
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Copies the device tree `src` into `dst` without its `FDT_NOP` tokens (and without free
/// space), returning the copy's size. Header fields other than sizes and offsets are kept;
/// the layout is header, memory reservation map, structure block, strings block.
pub fn strip_nops(src: &[u8], dst: &mut [u8]) -> Result<usize, StripError> {
    if be32(src, 0)? != FDT_MAGIC || be32(src, 20)? < 16 {
        return Err(StripError::NotADtb);
    }
    let field = |n: usize| be32(src, 4 * n).map(|v| v as usize);
    let (total, off_struct, off_strings, off_rsvmap) = (field(1)?, field(2)?, field(3)?, field(4)?);
    let (size_strings, size_struct) = (field(8)?, field(9)?);
    let src = src.get(..total).ok_or(StripError::Truncated)?;

    let mut out = HEADER_SIZE;
    let put = |dst: &mut [u8], out: &mut usize, bytes: &[u8]| {
        let to = dst
            .get_mut(*out..*out + bytes.len())
            .ok_or(StripError::TooBig)?;
        to.copy_from_slice(bytes);
        *out += bytes.len();
        Ok::<(), StripError>(())
    };

    // Memory reservation map: 16-byte entries up to and including the (0, 0) terminator.
    let new_rsvmap = out;
    let mut at = off_rsvmap;
    loop {
        let entry = src.get(at..at + 16).ok_or(StripError::Truncated)?;
        put(dst, &mut out, entry)?;
        at += 16;
        if entry.iter().all(|&b| b == 0) {
            break;
        }
    }

    // Structure block, token by token.
    let new_struct = out;
    let block = src
        .get(off_struct..off_struct + size_struct)
        .ok_or(StripError::Truncated)?;
    let mut at = 0;
    loop {
        let token = be32(block, at)?;
        let len = match token {
            FDT_BEGIN_NODE => {
                let name = block.get(at + 4..).ok_or(StripError::Truncated)?;
                let nul = name
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(StripError::Truncated)?;
                4 + align4(nul + 1)
            }
            FDT_PROP => 12 + align4(be32(block, at + 4)? as usize),
            FDT_END_NODE | FDT_NOP | FDT_END => 4,
            other => return Err(StripError::BadToken(other)),
        };
        let bytes = block.get(at..at + len).ok_or(StripError::Truncated)?;
        if token != FDT_NOP {
            put(dst, &mut out, bytes)?;
        }
        at += len;
        if token == FDT_END {
            break;
        }
    }
    let new_size_struct = out - new_struct;

    let new_strings = out;
    let strings = src
        .get(off_strings..off_strings + size_strings)
        .ok_or(StripError::Truncated)?;
    put(dst, &mut out, strings)?;

    let header = dst.get_mut(..HEADER_SIZE).ok_or(StripError::TooBig)?;
    header.copy_from_slice(&src[..HEADER_SIZE]);
    for (index, value) in [
        (1, out),
        (2, new_struct),
        (3, new_strings),
        (4, new_rsvmap),
        (8, size_strings),
        (9, new_size_struct),
    ] {
        header[4 * index..4 * index + 4].copy_from_slice(&(value as u32).to_be_bytes());
    }
    Ok(out)
}

/// The node name without its unit address.
fn base_name<'a>(node: &FdtNode<'_, 'a>) -> &'a str {
    node.name.split('@').next().unwrap_or(node.name)
}

/// The first `reg` entry (size 0 when the parent has `#size-cells = <0>`).
fn first_reg(node: &FdtNode) -> Option<Region> {
    node.reg()?.next().map(|r| Region {
        base: r.starting_address as u64,
        size: r.size.unwrap_or(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_fdt::FdtWriter;

    /// A DT shaped like QEMU virt's after the hypervisor patched it.
    fn qemu_like(method: &str, with_carveout: bool, stdout: &str) -> Vec<u8> {
        let mut w = FdtWriter::new().unwrap();
        let root = w.begin_node("").unwrap();
        w.property_u32("#address-cells", 2).unwrap();
        w.property_u32("#size-cells", 2).unwrap();

        let chosen = w.begin_node("chosen").unwrap();
        w.property_string("stdout-path", stdout).unwrap();
        w.end_node(chosen).unwrap();

        let memory = w.begin_node("memory@40000000").unwrap();
        w.property_string("device_type", "memory").unwrap();
        w.property_array_u64("reg", &[0x4000_0000, 0x4000_0000])
            .unwrap();
        w.end_node(memory).unwrap();

        let uart = w.begin_node("pl011@9000000").unwrap();
        w.property_array_u64("reg", &[0x0900_0000, 0x1000]).unwrap();
        w.end_node(uart).unwrap();

        let psci = w.begin_node("psci").unwrap();
        w.property_string_list(
            "compatible",
            vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()],
        )
        .unwrap();
        w.property_string("method", method).unwrap();
        w.end_node(psci).unwrap();

        let cpus = w.begin_node("cpus").unwrap();
        w.property_u32("#address-cells", 1).unwrap();
        w.property_u32("#size-cells", 0).unwrap();
        for mpidr in [0u32, 1, 2, 3] {
            let cpu = w.begin_node(&format!("cpu@{mpidr}")).unwrap();
            w.property_string("device_type", "cpu").unwrap();
            w.property_u32("reg", mpidr).unwrap();
            w.end_node(cpu).unwrap();
        }
        let map = w.begin_node("cpu-map").unwrap();
        w.end_node(map).unwrap();
        w.end_node(cpus).unwrap();

        if with_carveout {
            let reserved = w.begin_node("reserved-memory").unwrap();
            w.property_u32("#address-cells", 2).unwrap();
            w.property_u32("#size-cells", 2).unwrap();
            w.property_null("ranges").unwrap();
            let optee = w.begin_node("optee_shm@42000000").unwrap();
            w.property_array_u64("reg", &[0x4200_0000, 0x20_0000])
                .unwrap();
            w.end_node(optee).unwrap();
            let hyp = w.begin_node("hypervisor@60000000").unwrap();
            w.property_array_u64("reg", &[0x6000_0000, 0x20_0000])
                .unwrap();
            w.property_null("no-map").unwrap();
            w.end_node(hyp).unwrap();
            w.end_node(reserved).unwrap();
        }
        w.end_node(root).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn hypervisor_dt_gives_smc_cpus_ram_carveout_and_console() {
        let blob = qemu_like("smc", true, "/pl011@9000000:115200n8");
        let p = Platform::parse(&Fdt::new(&blob).unwrap());
        assert_eq!(p.conduit, Some(Conduit::Smc));
        assert_eq!(p.cpus(), &[0, 1, 2, 3]);
        assert_eq!(
            p.ram(),
            &[Region {
                base: 0x4000_0000,
                size: 0x4000_0000
            }]
        );
        assert_eq!(p.ram_end(), 0x8000_0000);
        assert_eq!(p.carveout_nodes, 1);
        assert_eq!(
            p.carveout,
            Some(Carveout {
                region: Region {
                    base: 0x6000_0000,
                    size: 0x20_0000
                },
                no_map: true
            })
        );
        assert_eq!(p.uart, Some(0x0900_0000));
    }

    #[test]
    fn plain_qemu_dt_has_hvc_and_no_carveout() {
        let blob = qemu_like("hvc", false, "/pl011@9000000");
        let p = Platform::parse(&Fdt::new(&blob).unwrap());
        assert_eq!(p.conduit, Some(Conduit::Hvc));
        assert_eq!(p.carveout, None);
        assert_eq!(p.carveout_nodes, 0);
        assert_eq!(p.uart, Some(0x0900_0000));
    }

    #[test]
    fn unknown_method_and_missing_console_stay_unknown() {
        let blob = qemu_like("magic", false, "/nowhere");
        let p = Platform::parse(&Fdt::new(&blob).unwrap());
        assert_eq!(p.conduit, None);
        assert_eq!(p.uart, None);
    }

    /// `blob` with an FDT_NOP before every node but the root and before every property,
    /// the way libfdt's `fdt_nop_node`/`fdt_nop_property` leave them.
    fn with_nops(blob: &[u8]) -> Vec<u8> {
        let field = |n: usize| be32(blob, 4 * n).unwrap() as usize;
        let (off_struct, off_strings, size_strings, size_struct) =
            (field(2), field(3), field(8), field(9));
        let block = &blob[off_struct..off_struct + size_struct];
        let mut nopped = Vec::new();
        let mut at = 0;
        loop {
            let token = be32(block, at).unwrap();
            let len = match token {
                FDT_BEGIN_NODE => {
                    4 + align4(block[at + 4..].iter().position(|&b| b == 0).unwrap() + 1)
                }
                FDT_PROP => 12 + align4(be32(block, at + 4).unwrap() as usize),
                _ => 4,
            };
            if (token == FDT_BEGIN_NODE && at != 0) || token == FDT_PROP {
                nopped.extend_from_slice(&FDT_NOP.to_be_bytes());
            }
            nopped.extend_from_slice(&block[at..at + len]);
            at += len;
            if token == FDT_END {
                break;
            }
        }
        // Rebuild: same header and rsvmap, the new structure block, then the strings.
        let mut out = blob[..off_struct].to_vec();
        let new_struct_size = nopped.len();
        out.extend_from_slice(&nopped);
        let new_strings = out.len();
        out.extend_from_slice(&blob[off_strings..off_strings + size_strings]);
        let total = out.len();
        for (index, value) in [(1, total), (3, new_strings), (9, new_struct_size)] {
            out[4 * index..4 * index + 4].copy_from_slice(&(value as u32).to_be_bytes());
        }
        out
    }

    #[test]
    fn nops_hide_nodes_from_the_fdt_crate_and_strip_nops_brings_them_back() {
        let clean = qemu_like("smc", true, "/pl011@9000000");
        let nopped = with_nops(&clean);
        let lost = Platform::parse(&Fdt::new(&nopped).unwrap());
        assert_eq!(
            lost.cpu_count, 0,
            "fdt 0.1.5 misses nodes after an FDT_NOP (if this fails, the workaround may be unnecessary)"
        );

        let mut copy = vec![0u8; nopped.len()];
        let len = strip_nops(&nopped, &mut copy).unwrap();
        assert_eq!(
            &copy[..len],
            &clean[..len],
            "the stripped copy is the clean blob"
        );
        let found = Platform::parse(&Fdt::new(&copy[..len]).unwrap());
        assert_eq!(found.cpus(), &[0, 1, 2, 3]);
        assert!(found.carveout.is_some());
    }

    /// The DT as BL33 receives it on the real stack (QEMU -dtb, TF-A BL2, OP-TEE), captured
    /// by `ci/capture-fixture-dtb.sh`: it carries FDT_NOPs, which is why `strip_nops` exists.
    #[test]
    fn real_stack_dt_parses_after_strip_nops() {
        let blob = include_bytes!("../../fixtures/qemu-virt-tfa-optee.dtb");
        assert!(
            Platform::parse(&Fdt::new(blob).unwrap()).cpu_count < 4,
            "NOPs hide CPUs"
        );
        let mut copy = vec![0u8; blob.len()];
        let len = strip_nops(blob, &mut copy).unwrap();
        let p = Platform::parse(&Fdt::new(&copy[..len]).unwrap());
        assert_eq!(
            p.conduit,
            Some(Conduit::Smc),
            "TF-A BL2 writes method = \"smc\""
        );
        assert_eq!(p.cpus(), &[0, 1, 2, 3]);
        assert_eq!(p.ram_end(), 0x8000_0000);
        assert_eq!(p.uart, Some(0x0900_0000));
        assert_eq!(p.carveout, None, "the hypervisor adds its node later");
    }

    #[test]
    fn strip_nops_rejects_what_it_cannot_copy() {
        let clean = qemu_like("smc", false, "/pl011@9000000");
        let mut small = [0u8; 64];
        assert_eq!(strip_nops(&clean, &mut small), Err(StripError::TooBig));
        let mut big = vec![0u8; clean.len()];
        assert_eq!(
            strip_nops(&clean[..20], &mut big),
            Err(StripError::Truncated)
        );
        assert_eq!(strip_nops(&[0u8; 64], &mut big), Err(StripError::NotADtb));
    }

    #[test]
    fn region_arithmetic() {
        let r = Region {
            base: 0x1000,
            size: 0x1000,
        };
        assert_eq!(r.end(), 0x2000);
        assert!(r.overlaps(&Region {
            base: 0x1fff,
            size: 1
        }));
        assert!(!r.overlaps(&Region {
            base: 0x2000,
            size: 1
        }));
        assert!(r.covers(&Region {
            base: 0x1800,
            size: 0x800
        }));
    }
}
