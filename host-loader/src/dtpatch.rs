//! The host's device tree, derived from the firmware's:
//! * `/reserved-memory/hypervisor@<addr> { reg = <carve-out>; no-map; }`, so Linux neither
//!   allocates nor linear-maps hypervisor memory (stage 2 still enforces it). A missing
//!   `/reserved-memory` is created with the root's `#address-cells`/`#size-cells` (2/2 on
//!   QEMU virt) and an empty `ranges`: Linux's `__reserved_mem_check_root` ignores the whole
//!   node unless its cells equal the root's and `ranges` exists. An existing node whose cells
//!   differ is an error; missing cells or `ranges` on it are added.
//! * `/chosen`: `linux,initrd-start`/`-end` (64-bit, end exclusive) set, or removed when
//!   there is no initrd (they would describe the hypervisor's own boot, not the host's);
//!   `bootargs` set when the modules give a command line; every multiboot module node
//!   removed (Linux must not see, or try to use, them).
//! * The nodes the hypervisor's DMA policy withholds are removed with their subtrees, and so
//!   is every reference to them: entries of `iommus`, `msi-parent`, `iommu-map` and `msi-map`
//!   naming a removed node (the property, and its `-mask`, when no entry is left), `dmas`
//!   and `dma-names` when a removed DMA controller is among them, `remote-endpoint` graph
//!   links, and `/aliases` and `/__symbols__` entries naming a removed path. Linux then
//!   neither probes the devices nor waits for a removed IOMMU or MSI controller.
//! * Everything else is kept byte for byte, including `/memreserve/` and `boot_cpuid_phys`.
//!
//! The tree is parsed, edited and rebuilt with `fdt-rw`, which never panics on malformed
//! input (its crate doc says why no published FDT crate serves for untrusted blobs).

use alloc::{string::String, vec::Vec};

use fdt_rw::{DtError, NodeId, Tree, encode_cells};

use crate::{modules::classify, region::Region};

/// What to change in the firmware's tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchSpec<'s> {
    /// The hypervisor's memory, to become a `no-map` reservation.
    pub carveout: Region,
    /// The host's initrd, if any.
    pub initrd: Option<Region>,
    /// The host's command line; `None` leaves `/chosen/bootargs` as it is.
    pub bootargs: Option<&'s str>,
    /// Paths of nodes to remove with their subtrees and every reference to them (a path
    /// the tree does not hold is skipped, so patching twice changes nothing more).
    pub remove: &'s [String],
}

/// Parse `fdt`, apply `spec`, and return the new blob (its length is the size to report
/// and to check with [`fits_in_place`]).
pub fn patch(fdt: &[u8], spec: &PatchSpec<'_>) -> Result<Vec<u8>, DtError> {
    patch_tree(Tree::parse(fdt)?, spec)
}

/// True when a `patched_len`-byte blob can overwrite the original one, whose header says
/// `original_totalsize` (the bytes beyond that are not known to be ours to use).
pub fn fits_in_place(original_totalsize: u32, patched_len: usize) -> bool {
    u64::try_from(patched_len).is_ok_and(|len| len <= u64::from(original_totalsize))
}

/// [`patch`] on an already parsed tree.
pub fn patch_tree(mut tree: Tree<'_>, spec: &PatchSpec<'_>) -> Result<Vec<u8>, DtError> {
    remove_nodes(&mut tree, spec.remove);
    reserve_carveout(&mut tree, spec.carveout)?;
    let root = tree.root();
    let chosen = match tree.child(root, "chosen") {
        Some(c) => c,
        None => tree.add_child(root, "chosen".into()),
    };
    let modules: Vec<NodeId> = tree
        .children(chosen)
        .iter()
        .copied()
        .filter(|&c| classify(&tree, c).is_some())
        .collect();
    for m in modules {
        tree.remove_child(chosen, m);
    }
    match spec.initrd {
        Some(initrd) => {
            let end = initrd.end().ok_or_else(|| DtError::CellsOverflow {
                node: "/chosen".into(),
                value: initrd.base,
                cells: 2,
            })?;
            tree.set_prop(
                chosen,
                "linux,initrd-start",
                initrd.base.to_be_bytes().to_vec(),
            );
            tree.set_prop(chosen, "linux,initrd-end", end.to_be_bytes().to_vec());
        }
        None => {
            tree.remove_prop(chosen, "linux,initrd-start");
            tree.remove_prop(chosen, "linux,initrd-end");
        }
    }
    if let Some(args) = spec.bootargs {
        let mut value = Vec::with_capacity(args.len() + 1);
        value.extend_from_slice(args.as_bytes());
        value.push(0);
        tree.set_prop(chosen, "bootargs", value);
    }
    tree.to_blob()
}

/// Phandle-list properties whose entries are a phandle and the target's `cells` cells (a
/// graph link is one phandle: no node has the empty property name, so zero cells).
const PHANDLE_LISTS: [(&str, &str); 4] = [
    ("iommus", "#iommu-cells"),
    ("msi-parent", "#msi-cells"),
    ("dmas", "#dma-cells"),
    ("remote-endpoint", ""),
];

/// `(id-base, phandle, target-base, length)` maps (Linux reads exactly 4 cells an entry).
const ID_MAPS: [(&str, &str); 2] = [("iommu-map", "iommu-map-mask"), ("msi-map", "msi-map-mask")];

fn words(value: &[u8]) -> Vec<u32> {
    value
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// Every node, depth first from the root.
fn all_nodes(tree: &Tree<'_>, from: NodeId) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = alloc::vec![from];
    while let Some(id) = stack.pop() {
        out.push(id);
        stack.extend_from_slice(tree.children(id));
    }
    out
}

fn phandle(tree: &Tree<'_>, id: NodeId) -> Option<u32> {
    ["phandle", "linux,phandle"]
        .iter()
        .find_map(|p| tree.prop_u32(id, p).ok().flatten())
}

/// Remove the nodes at `paths` and every reference to them (see the module doc).
fn remove_nodes(tree: &mut Tree<'_>, paths: &[String]) {
    if paths.is_empty() {
        return;
    }
    // Each phandle's node, looked up before anything is removed.
    let nodes = all_nodes(tree, tree.root());
    let by_phandle: Vec<(u32, NodeId)> = nodes
        .iter()
        .filter_map(|&id| Some((phandle(tree, id)?, id)))
        .collect();
    let target = |ph: u32| {
        by_phandle
            .iter()
            .find(|&&(p, _)| p == ph)
            .map(|&(_, id)| id)
    };

    let mut removed: Vec<u32> = Vec::new();
    let mut removed_paths: Vec<&str> = Vec::new();
    for path in paths {
        let Some(id) = tree.find(path) else { continue };
        let parent_path = path.rfind('/').map_or("", |i| &path[..i]);
        let Some(parent) = tree.find(parent_path) else {
            continue;
        };
        if id == tree.root() {
            continue;
        }
        removed.extend(all_nodes(tree, id).iter().filter_map(|&n| phandle(tree, n)));
        removed_paths.push(path.as_str());
        tree.remove_child(parent, id);
    }
    let is_removed = |ph: u32| removed.contains(&ph);

    for id in all_nodes(tree, tree.root()) {
        for (name, cells_name) in PHANDLE_LISTS {
            let Some(value) = tree.prop(id, name) else {
                continue;
            };
            let list = words(value);
            let mut kept = Vec::with_capacity(list.len());
            let mut dropped = false;
            let mut i = 0;
            while let Some(&ph) = list.get(i) {
                let Some(cells) = target(ph)
                    .map(|t| tree.prop_u32(t, cells_name).ok().flatten().unwrap_or(0) as usize)
                else {
                    // A phandle this tree does not hold: keep the rest as it is.
                    kept.extend_from_slice(&list[i..]);
                    break;
                };
                let end = (i + 1 + cells).min(list.len());
                if is_removed(ph) {
                    dropped = true;
                } else {
                    kept.extend_from_slice(&list[i..end]);
                }
                i = end;
            }
            if !dropped {
                continue;
            }
            if name == "dmas" || kept.is_empty() {
                // `dma-names` runs parallel to `dmas`: both go, the driver falls back to PIO.
                tree.remove_prop(id, name);
                if name == "dmas" {
                    tree.remove_prop(id, "dma-names");
                }
            } else {
                tree.set_prop(id, name, bytes(&kept));
            }
        }
        for (name, mask) in ID_MAPS {
            let Some(value) = tree.prop(id, name) else {
                continue;
            };
            let list = words(value);
            let kept: Vec<u32> = list
                .chunks_exact(4)
                .filter(|e| !is_removed(e[1]))
                .flatten()
                .copied()
                .collect();
            if kept.len() == list.len() {
                continue;
            }
            if kept.is_empty() {
                tree.remove_prop(id, name);
                tree.remove_prop(id, mask);
            } else {
                tree.set_prop(id, name, bytes(&kept));
            }
        }
    }

    // Aliases and symbols naming a removed node, or a node inside one.
    for table in ["/aliases", "/__symbols__"] {
        let Some(id) = tree.find(table) else { continue };
        let stale: Vec<String> = tree
            .prop_names(id)
            .filter_map(|name| core::str::from_utf8(name).ok())
            .filter(|name| {
                tree.prop_str(id, name).ok().flatten().is_some_and(|value| {
                    removed_paths.iter().any(|p| {
                        value == *p
                            || value
                                .strip_prefix(p)
                                .is_some_and(|rest| rest.starts_with('/'))
                    })
                })
            })
            .map(String::from)
            .collect();
        for name in stale {
            tree.remove_prop(id, &name);
        }
    }
}

/// Add `/reserved-memory/hypervisor@<base>` (see the module doc for the cell rules).
fn reserve_carveout(tree: &mut Tree<'_>, carveout: Region) -> Result<(), DtError> {
    let root = tree.root();
    let (Some(rac), Some(rsc)) = (
        tree.prop_u32(root, "#address-cells")?,
        tree.prop_u32(root, "#size-cells")?,
    ) else {
        return Err(DtError::MissingRootCells);
    };
    let rm = match tree.child(root, "reserved-memory") {
        Some(rm) => {
            let ac = tree.prop_u32(rm, "#address-cells")?;
            let sc = tree.prop_u32(rm, "#size-cells")?;
            if ac.is_some_and(|v| v != rac) || sc.is_some_and(|v| v != rsc) {
                return Err(DtError::ReservedMemoryCells {
                    address_cells: ac.unwrap_or(rac),
                    size_cells: sc.unwrap_or(rsc),
                    root_address_cells: rac,
                    root_size_cells: rsc,
                });
            }
            rm
        }
        None => tree.add_child(root, "reserved-memory".into()),
    };
    if tree.prop(rm, "#address-cells").is_none() {
        tree.set_prop(rm, "#address-cells", rac.to_be_bytes().to_vec());
    }
    if tree.prop(rm, "#size-cells").is_none() {
        tree.set_prop(rm, "#size-cells", rsc.to_be_bytes().to_vec());
    }
    if tree.prop(rm, "ranges").is_none() {
        tree.set_prop(rm, "ranges", Vec::new());
    }

    let name = String::from("hypervisor@") + &crate::region::hex(carveout.base);
    if let Some(old) = tree.child(rm, &name) {
        tree.remove_child(rm, old);
    }
    let path = String::from("/reserved-memory/") + &name;
    let overflow = |value, cells| DtError::CellsOverflow {
        node: path.clone(),
        value,
        cells,
    };
    let mut reg = encode_cells(carveout.base, rac).ok_or_else(|| overflow(carveout.base, rac))?;
    reg.extend(encode_cells(carveout.size, rsc).ok_or_else(|| overflow(carveout.size, rsc))?);
    let node = tree.add_child(rm, name);
    tree.set_prop(node, "reg", reg);
    tree.set_prop(node, "no-map", Vec::new());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdt::{DtBuilder, ModuleSpec};
    use alloc::vec;

    const HYP: Region = Region::new(0x6000_0000, 0x200_0000);
    const INITRD: Region = Region::new(0x5800_0000, 0x80_0000);

    fn spec(initrd: Option<Region>, bootargs: Option<&str>) -> PatchSpec<'_> {
        PatchSpec {
            carveout: HYP,
            initrd,
            bootargs,
            remove: &[],
        }
    }

    fn xen_style() -> DtBuilder {
        DtBuilder::qemu()
            .chosen_bootargs("hyp")
            .module(ModuleSpec::kernel(0x4800_0000, 0x200_0000).bootargs("console=ttyAMA0"))
            .module(ModuleSpec::ramdisk(0x5800_0000, 0x80_0000))
    }

    /// Read a big-endian integer property through the independent `fdt` crate.
    fn be(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
    }

    #[test]
    fn patched_tree_reparses_with_fdt_crate_and_has_all_changes() {
        let input = xen_style().memreserve(0x4000_0000, 0x1_0000).build();
        let out = patch(&input, &spec(Some(INITRD), Some("console=ttyAMA0"))).unwrap();
        let fdt = fdt::Fdt::new(&out).unwrap();

        let hyp = fdt
            .find_node("/reserved-memory/hypervisor@60000000")
            .unwrap();
        assert!(hyp.property("no-map").is_some());
        let reg: Vec<_> = hyp.reg().unwrap().collect();
        assert_eq!(reg.len(), 1);
        assert_eq!(reg[0].starting_address as u64, 0x6000_0000);
        assert_eq!(reg[0].size, Some(0x200_0000));
        let rm = fdt.find_node("/reserved-memory").unwrap();
        assert_eq!(rm.property("#address-cells").unwrap().as_usize(), Some(2));
        assert_eq!(rm.property("#size-cells").unwrap().as_usize(), Some(2));
        assert_eq!(rm.property("ranges").unwrap().value, &[] as &[u8]);

        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(
            be(chosen.property("linux,initrd-start").unwrap().value),
            0x5800_0000
        );
        assert_eq!(
            be(chosen.property("linux,initrd-end").unwrap().value),
            0x5880_0000
        );
        assert_eq!(fdt.chosen().bootargs(), Some("console=ttyAMA0"));
        assert_eq!(chosen.children().count(), 0, "module nodes must be gone");
        assert_eq!(fdt.chosen().stdout().unwrap().name, "pl011@9000000");

        let rsv: Vec<_> = fdt.memory_reservations().collect();
        assert_eq!(rsv.len(), 1);
        assert_eq!(rsv[0].address() as u64, 0x4000_0000);
        assert_eq!(rsv[0].size(), 0x1_0000);
        assert_eq!(
            fdt.memory().regions().next().unwrap().size,
            Some(0x4000_0000)
        );
    }

    /// Big-endian cells.
    fn cells(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|c| c.to_be_bytes()).collect()
    }

    /// A tree with two IOMMUs, two MSI controllers and a DMA controller (phandles 1-5), a
    /// device naming all of them, a graph link and aliases.
    fn with_references() -> Vec<u8> {
        let base = xen_style().build();
        let mut tree = Tree::parse(&base).unwrap();
        let root = tree.root();
        let provider =
            |tree: &mut Tree<'_>, name: &str, ph: u32, cells_name: &'static str, n: u32| {
                let id = tree.add_child(root, name.into());
                tree.set_prop(id, "phandle", cells(&[ph]));
                tree.set_prop(id, cells_name, cells(&[n]));
                id
            };
        provider(&mut tree, "iommu@1000", 1, "#iommu-cells", 1);
        provider(&mut tree, "iommu@2000", 2, "#iommu-cells", 1);
        provider(&mut tree, "msi@3000", 3, "#msi-cells", 0);
        let its = provider(&mut tree, "msi@4000", 4, "#msi-cells", 1);
        provider(&mut tree, "dma@5000", 5, "#dma-cells", 1);
        let ep = tree.add_child(its, "endpoint".into());
        tree.set_prop(ep, "phandle", cells(&[6]));
        let dev = tree.add_child(root, "dev@6000".into());
        tree.set_prop(dev, "iommus", cells(&[1, 0x10, 2, 0x20]));
        tree.set_prop(dev, "msi-parent", cells(&[3, 4, 0x7]));
        tree.set_prop(
            dev,
            "iommu-map",
            cells(&[0, 1, 0, 0x100, 0x100, 2, 0, 0x100]),
        );
        tree.set_prop(dev, "iommu-map-mask", cells(&[0xff]));
        tree.set_prop(dev, "msi-map", cells(&[0, 4, 0, 0x1_0000]));
        tree.set_prop(dev, "msi-map-mask", cells(&[0xff]));
        tree.set_prop(dev, "dmas", cells(&[5, 1, 5, 2]));
        tree.set_prop(dev, "dma-names", b"tx\0rx\0".to_vec());
        let port = tree.add_child(dev, "endpoint".into());
        tree.set_prop(port, "remote-endpoint", cells(&[6]));
        let aliases = tree.add_child(root, "aliases".into());
        tree.set_prop(aliases, "serial0", b"/pl011@9000000\0".to_vec());
        tree.set_prop(aliases, "msi1", b"/msi@4000\0".to_vec());
        tree.set_prop(aliases, "msi1ep", b"/msi@4000/endpoint\0".to_vec());
        tree.set_prop(aliases, "msi40", b"/msi@40\0".to_vec());
        let symbols = tree.add_child(root, "__symbols__".into());
        tree.set_prop(symbols, "smmu", b"/iommu@2000\0".to_vec());
        tree.to_blob().unwrap()
    }

    #[test]
    fn removed_nodes_take_every_reference_to_them_along() {
        let input = with_references();
        let remove = [
            String::from("/iommu@2000"),
            String::from("/msi@4000"),
            String::from("/dma@5000"),
        ];
        let out = patch(
            &input,
            &PatchSpec {
                remove: &remove,
                ..spec(None, None)
            },
        )
        .unwrap();
        let tree = Tree::parse(&out).unwrap();
        for gone in [
            "/iommu@2000",
            "/msi@4000",
            "/msi@4000/endpoint",
            "/dma@5000",
        ] {
            assert!(tree.find(gone).is_none(), "{gone}");
        }
        let dev = tree.find("/dev@6000").unwrap();
        // Entries naming kept nodes stay, with their arguments.
        assert_eq!(tree.prop(dev, "iommus"), Some(&cells(&[1, 0x10])[..]));
        assert_eq!(tree.prop(dev, "msi-parent"), Some(&cells(&[3])[..]));
        assert_eq!(
            tree.prop(dev, "iommu-map"),
            Some(&cells(&[0, 1, 0, 0x100])[..])
        );
        assert!(tree.prop(dev, "iommu-map-mask").is_some());
        // A map with nothing left goes with its mask; `dmas` goes whole, with its names.
        for gone in ["msi-map", "msi-map-mask", "dmas", "dma-names"] {
            assert!(tree.prop(dev, gone).is_none(), "{gone}");
        }
        let port = tree.find("/dev@6000/endpoint").unwrap();
        assert!(tree.prop(port, "remote-endpoint").is_none());
        let aliases = tree.find("/aliases").unwrap();
        let names: Vec<&[u8]> = tree.prop_names(aliases).collect();
        assert_eq!(
            names,
            [&b"serial0"[..], b"msi40"],
            "a path prefix is not a parent"
        );
        let symbols = tree.find("/__symbols__").unwrap();
        assert_eq!(tree.prop_names(symbols).count(), 0);
        // Patching again changes nothing more; no removal leaves the tree as it was.
        let again = patch(
            &out,
            &PatchSpec {
                remove: &remove,
                ..spec(None, None)
            },
        )
        .unwrap();
        assert_eq!(again, out);
        let kept = patch(&input, &spec(None, None)).unwrap();
        let tree = Tree::parse(&kept).unwrap();
        let dev = tree.find("/dev@6000").unwrap();
        assert_eq!(
            tree.prop(dev, "iommus"),
            Some(&cells(&[1, 0x10, 2, 0x20])[..])
        );
    }

    #[test]
    fn no_initrd_removes_stale_initrd_properties() {
        let input = xen_style().chosen_initrd(0x4400_0000, 0x4500_0000).build();
        let out = patch(&input, &spec(None, None)).unwrap();
        let tree = Tree::parse(&out).unwrap();
        let chosen = tree.find("/chosen").unwrap();
        assert_eq!(tree.prop(chosen, "linux,initrd-start"), None);
        assert_eq!(tree.prop(chosen, "linux,initrd-end"), None);
        // bootargs: None keeps what /chosen had.
        assert_eq!(tree.prop_str(chosen, "bootargs").unwrap(), Some("hyp"));
    }

    #[test]
    fn existing_reserved_memory_is_extended_not_replaced() {
        let input = xen_style()
            .reserved("optee_shm@42000000", 0x4200_0000, 0x20_0000, true)
            .build();
        let out = patch(&input, &spec(None, None)).unwrap();
        let fdt = fdt::Fdt::new(&out).unwrap();
        let names: Vec<_> = fdt
            .find_node("/reserved-memory")
            .unwrap()
            .children()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["optee_shm@42000000", "hypervisor@60000000"]);
    }

    #[test]
    fn reserved_memory_without_cells_or_ranges_is_completed() {
        let input = xen_style().reserved_memory_node(None, false).build();
        let out = patch(&input, &spec(None, None)).unwrap();
        let tree = Tree::parse(&out).unwrap();
        let rm = tree.find("/reserved-memory").unwrap();
        assert_eq!(tree.prop_u32(rm, "#address-cells").unwrap(), Some(2));
        assert_eq!(tree.prop_u32(rm, "#size-cells").unwrap(), Some(2));
        assert_eq!(tree.prop(rm, "ranges"), Some(&[][..]));
    }

    #[test]
    fn reserved_memory_cells_differing_from_root_are_an_error() {
        let input = xen_style().reserved_memory_node(Some((1, 1)), true).build();
        let err = patch(&input, &spec(None, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/reserved-memory has #address-cells 1/#size-cells 1 but the root has 2/2: \
             Linux would ignore it"
        );
    }

    #[test]
    fn one_cell_root_encodes_reg_in_one_cell_or_fails_clearly() {
        let input = xen_style()
            .root_cells(Some((1, 1)))
            .chosen_cells(1, 1)
            .build();
        let out = patch(&input, &spec(None, None)).unwrap();
        let tree = Tree::parse(&out).unwrap();
        let hyp = tree.find("/reserved-memory/hypervisor@60000000").unwrap();
        assert_eq!(
            tree.prop(hyp, "reg"),
            Some(&[0x60, 0, 0, 0, 0x02, 0, 0, 0][..])
        );

        let high = PatchSpec {
            carveout: Region::new(0x1_0000_0000, 0x1000),
            ..spec(None, None)
        };
        assert_eq!(
            patch(&input, &high).unwrap_err().to_string(),
            "/reserved-memory/hypervisor@100000000: value 0x100000000 does not fit in 1 cell(s)"
        );
    }

    #[test]
    fn root_without_cells_is_an_error() {
        let input = xen_style().root_cells(None).chosen_cells(2, 2).build();
        assert_eq!(
            patch(&input, &spec(None, None)),
            Err(DtError::MissingRootCells)
        );
    }

    #[test]
    fn other_module_kinds_are_removed_too_and_other_children_kept() {
        let input = xen_style()
            .chosen_child("framebuffer@0", "simple-framebuffer")
            .module(ModuleSpec::generic(0x5900_0000, 0x1000))
            .module(ModuleSpec::other(
                0x5a00_0000,
                0x1000,
                "multiboot,device-tree",
            ))
            .build();
        let out = patch(&input, &spec(None, None)).unwrap();
        let fdt = fdt::Fdt::new(&out).unwrap();
        let kids: Vec<_> = fdt
            .find_node("/chosen")
            .unwrap()
            .children()
            .map(|c| c.name)
            .collect();
        assert_eq!(kids, ["framebuffer@0"]);
    }

    #[test]
    fn patching_twice_keeps_one_hypervisor_node_and_shared_strings() {
        let input = xen_style().build();
        let once = patch(&input, &spec(Some(INITRD), Some("a"))).unwrap();
        let twice = patch(&once, &spec(Some(INITRD), Some("a"))).unwrap();
        assert_eq!(once, twice, "patching is idempotent");
        // "reg" appears in the strings block exactly once.
        let tree_strings = strings_block(&once);
        assert_eq!(
            tree_strings
                .split(|&b| b == 0)
                .filter(|s| *s == b"reg")
                .count(),
            1
        );
    }

    fn strings_block(blob: &[u8]) -> &[u8] {
        let word = |i: usize| u32::from_be_bytes(blob[4 * i..4 * i + 4].try_into().unwrap());
        let (off, len) = (word(3) as usize, word(8) as usize);
        &blob[off..off + len]
    }

    #[test]
    fn output_size_and_fit_helper() {
        let input = xen_style().build();
        let out = patch(&input, &spec(Some(INITRD), Some("console=ttyAMA0"))).unwrap();
        let total = fdt_rw::totalsize(&input).unwrap();
        assert_eq!(fits_in_place(total, out.len()), out.len() <= input.len());
        assert!(fits_in_place(100, 100));
        assert!(!fits_in_place(100, 101));
    }

    // The parser's own corruption tests (shortened blocks, nesting and count caps, round
    // trips) live with it in fdt-rw; these check that `patch` passes every error through.

    #[test]
    fn every_truncation_of_a_dtb_is_an_error_not_a_panic() {
        let input = xen_style().memreserve(0x4000_0000, 0x1000).build();
        for len in 0..input.len() {
            let mut cut = input[..len].to_vec();
            if len >= 8 {
                // Keep the header consistent with the cut, so the walkers see the damage.
                let total = u32::try_from(len).unwrap().to_be_bytes();
                cut[4..8].copy_from_slice(&total);
            }
            assert!(
                patch(&cut, &spec(None, None)).is_err(),
                "truncated to {len}"
            );
        }
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        // Flip every byte of the header and structure block in turn (deterministic fuzz).
        let input = xen_style().build();
        for i in 0..input.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut bad = input.clone();
                bad[i] ^= x;
                let _ = patch(&bad, &spec(Some(INITRD), Some("x")));
            }
        }
    }

    #[test]
    fn malformed_headers_give_typed_errors() {
        let input = xen_style().build();
        let set = |i: usize, v: u32| {
            let mut b = input.clone();
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
            b
        };
        let cases: Vec<(Vec<u8>, DtError)> = vec![
            (
                set(0, 0x1234_5678),
                DtError::BadMagic { found: 0x1234_5678 },
            ),
            (
                set(1, u32::MAX),
                DtError::TotalSize {
                    totalsize: u32::MAX,
                    available: input.len(),
                },
            ),
            (
                set(5, 16),
                DtError::Version {
                    version: 16,
                    last_comp_version: 16,
                },
            ),
            (
                set(2, 42),
                DtError::Misaligned {
                    block: "structure",
                    offset: 42,
                },
            ),
        ];
        for (blob, want) in cases {
            assert_eq!(patch(&blob, &spec(None, None)), Err(want));
        }
        assert_eq!(
            patch(&input[..10], &spec(None, None))
                .unwrap_err()
                .to_string(),
            "blob is 10 bytes, shorter than the 40-byte header"
        );
        let huge_strings = set(8, u32::MAX - 4);
        assert!(matches!(
            patch(&huge_strings, &spec(None, None)),
            Err(DtError::Block {
                block: "strings",
                ..
            })
        ));
    }

    #[test]
    fn structure_errors_name_the_offset() {
        let input = xen_style().build();
        let off_struct = u32::from_be_bytes(input[8..12].try_into().unwrap()) as usize;
        let mut bad = input.clone();
        // The root's BEGIN_NODE becomes an unknown token.
        bad[off_struct..off_struct + 4].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(
            patch(&bad, &spec(None, None)).unwrap_err().to_string(),
            "structure block offset 0x0: unknown token 0x00000007"
        );
    }
}
