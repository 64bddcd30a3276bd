//! The SMMUv3s in the device tree: every `arm,smmu-v3` node that is not disabled, its
//! registers, and the stream IDs the DT says its masters use (`iommu-map` of a PCI root
//! complex: `<rid-base &smmu sid-base length>` entries; `iommus = <&smmu sid>` of other
//! devices, with `#iommu-cells = <1>`).

use alloc::vec::Vec;
use core::ops::Range;

use fdt_rw::{DtError, NodeId, Tree};

/// What the DT says of the SMMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmmuNode {
    /// Its full path in the DT: the DMA policy withholds it and keeps its masters.
    pub path: alloc::string::String,
    /// Its registers (two 64 KiB pages).
    pub regs: Range<u64>,
    /// The DT's `dma-coherent`.
    pub dma_coherent: bool,
    /// Stream IDs its masters use.
    pub streams: Vec<Range<u32>>,
}

fn be32(v: &[u8], i: usize) -> Option<u32> {
    let b = v.get(4 * i..4 * i + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Finds every SMMUv3 in the DT blob, in DT order (none: an empty list).
pub fn find_all(blob: &[u8]) -> Result<Vec<SmmuNode>, DtError> {
    find_all_in(&Tree::parse(blob)?)
}

/// [`find_all`] in an already parsed tree.
pub fn find_all_in(tree: &Tree<'_>) -> Result<Vec<SmmuNode>, DtError> {
    // Depth-first over every node, with the `#address-cells`/`#size-cells` of its parent.
    let cells = |id: NodeId| {
        (
            tree.prop_u32(id, "#address-cells")
                .ok()
                .flatten()
                .unwrap_or(2),
            tree.prop_u32(id, "#size-cells").ok().flatten().unwrap_or(1),
        )
    };
    let mut stack: Vec<(NodeId, (u32, u32))> = alloc::vec![(tree.root(), (2, 1))];
    let mut found = Vec::new();
    let mut all = Vec::new();
    while let Some((id, parent_cells)) = stack.pop() {
        all.push(id);
        let disabled = tree.prop_str(id, "status").ok().flatten() == Some("disabled");
        if !disabled && tree.is_compatible(id, &["arm,smmu-v3"]) {
            let reg = tree
                .prop(id, "reg")
                .and_then(|v| fdt_rw::reg_entries(v, parent_cells.0, parent_cells.1))
                .and_then(|r| r.first().copied())
                .filter(|&(_, size)| size >= super::regs::off::SIZE)
                .ok_or_else(|| tree.bad_prop(id, "reg", "not two 64 KiB register pages"))?;
            let phandle = tree.prop_u32(id, "phandle").ok().flatten();
            found.push((id, reg, phandle));
        }
        let mine = cells(id);
        stack.extend(tree.children(id).iter().rev().map(|&c| (c, mine)));
    }
    Ok(found
        .into_iter()
        .map(|(id, (base, size), phandle)| SmmuNode {
            path: tree.path(id),
            regs: base..base.saturating_add(size),
            dma_coherent: tree.prop(id, "dma-coherent").is_some(),
            streams: phandle.map_or_else(Vec::new, |p| streams_of(tree, &all, p)),
        })
        .collect())
}

/// The stream IDs that the `iommu-map` and `iommus` properties of `nodes` give the SMMU
/// whose phandle is `phandle`.
fn streams_of(tree: &Tree<'_>, nodes: &[NodeId], phandle: u32) -> Vec<Range<u32>> {
    let mut streams = Vec::new();
    for &node in nodes {
        if let Some(map) = tree.prop(node, "iommu-map") {
            for e in 0..map.len() / 16 {
                let cell = |k| be32(map, 4 * e + k).unwrap_or(0);
                if cell(1) == phandle {
                    let end = cell(2).saturating_add(cell(3));
                    streams.push(cell(2)..end);
                }
            }
        }
        if let Some(iommus) = tree.prop(node, "iommus") {
            for e in 0..iommus.len() / 8 {
                if be32(iommus, 2 * e) == Some(phandle)
                    && let Some(sid) = be32(iommus, 2 * e + 1)
                {
                    streams.push(sid..sid.saturating_add(1));
                }
            }
        }
    }
    streams
}

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU_DTB: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-tfa-optee.dtb");

    fn cells(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// QEMU's DT as `-machine virt,iommu=smmuv3` makes it: the SMMU node at 0x0905_0000
    /// and the PCI root complex's `iommu-map` to it.
    fn with_smmu(status: Option<&'static str>) -> Vec<u8> {
        let mut tree = Tree::parse(QEMU_DTB).unwrap();
        let root = tree.root();
        let smmu = tree.add_child(root, "smmuv3@9050000".into());
        tree.set_prop(smmu, "compatible", b"arm,smmu-v3\0".to_vec());
        tree.set_prop(smmu, "reg", cells(&[0, 0x0905_0000, 0, 0x2_0000]));
        tree.set_prop(smmu, "phandle", cells(&[0x8004]));
        tree.set_prop(smmu, "#iommu-cells", cells(&[1]));
        tree.set_prop(smmu, "dma-coherent", Vec::new());
        if let Some(s) = status {
            tree.set_prop(smmu, "status", [s.as_bytes(), b"\0"].concat());
        }
        let pcie = tree
            .children(root)
            .iter()
            .copied()
            .find(|&c| tree.name(c).starts_with(b"pcie@"))
            .unwrap();
        tree.set_prop(pcie, "iommu-map", cells(&[0, 0x8004, 0, 0x1_0000]));
        let dev = tree.add_child(root, "dma@a000000".into());
        tree.set_prop(dev, "iommus", cells(&[0x8004, 0x2_0001]));
        tree.to_blob().unwrap()
    }

    #[test]
    fn qemus_smmu_and_its_streams_are_found() {
        let nodes = find_all(&with_smmu(None)).unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].regs, 0x0905_0000..0x0907_0000);
        assert!(nodes[0].dma_coherent);
        assert_eq!(nodes[0].streams, [0..0x1_0000, 0x2_0001..0x2_0002]);
    }

    #[test]
    fn no_smmu_or_a_disabled_one_is_none() {
        assert_eq!(find_all(QEMU_DTB).unwrap(), []);
        assert_eq!(find_all(&with_smmu(Some("disabled"))).unwrap(), []);
    }

    #[test]
    fn every_smmu_gets_the_streams_that_name_it() {
        let one = with_smmu(None);
        let mut tree = Tree::parse(&one).unwrap();
        let root = tree.root();
        let second = tree.add_child(root, "smmuv3@9070000".into());
        tree.set_prop(second, "compatible", b"arm,smmu-v3\0".to_vec());
        tree.set_prop(second, "reg", cells(&[0, 0x0907_0000, 0, 0x2_0000]));
        tree.set_prop(second, "phandle", cells(&[0x9000]));
        let dev = tree.add_child(root, "dma@b000000".into());
        tree.set_prop(dev, "iommus", cells(&[0x9000, 7, 0x9000, 9]));
        let nodes = find_all(&tree.to_blob().unwrap()).unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].streams, [0..0x1_0000, 0x2_0001..0x2_0002]);
        assert_eq!(nodes[1].regs, 0x0907_0000..0x0909_0000);
        assert!(!nodes[1].dma_coherent);
        assert_eq!(nodes[1].streams, [7..8, 9..10]);
    }
}
