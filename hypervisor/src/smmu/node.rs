//! The SMMUv3 in the device tree: the first `arm,smmu-v3` node that is not disabled, its
//! registers, and the stream IDs the DT says its masters use (`iommu-map` of a PCI root
//! complex: `<rid-base &smmu sid-base length>` entries; `iommus = <&smmu sid>` of other
//! devices, with `#iommu-cells = <1>`).

use alloc::vec::Vec;
use core::ops::Range;

use fdt_rw::{DtError, NodeId, Tree};

/// What the DT says of the SMMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmmuNode {
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

/// Finds the SMMU in the DT blob; `Ok(None)` if it has none.
pub fn find(blob: &[u8]) -> Result<Option<SmmuNode>, DtError> {
    let tree = Tree::parse(blob)?;
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
    let mut found = None;
    let mut all = Vec::new();
    while let Some((id, parent_cells)) = stack.pop() {
        all.push(id);
        let disabled = tree.prop_str(id, "status").ok().flatten() == Some("disabled");
        if found.is_none() && !disabled && tree.is_compatible(id, &["arm,smmu-v3"]) {
            let reg = tree
                .prop(id, "reg")
                .and_then(|v| fdt_rw::reg_entries(v, parent_cells.0, parent_cells.1))
                .and_then(|r| r.first().copied())
                .filter(|&(_, size)| size >= super::regs::off::SIZE)
                .ok_or_else(|| tree.bad_prop(id, "reg", "not two 64 KiB register pages"))?;
            let phandle = tree.prop_u32(id, "phandle").ok().flatten();
            found = Some((id, reg, phandle));
        }
        let mine = cells(id);
        stack.extend(tree.children(id).iter().rev().map(|&c| (c, mine)));
    }
    let Some((id, (base, size), phandle)) = found else {
        return Ok(None);
    };
    let mut streams = Vec::new();
    if let Some(phandle) = phandle {
        for &node in &all {
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
    }
    Ok(Some(SmmuNode {
        regs: base..base.saturating_add(size),
        dma_coherent: tree.prop(id, "dma-coherent").is_some(),
        streams,
    }))
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
        let node = find(&with_smmu(None)).unwrap().unwrap();
        assert_eq!(node.regs, 0x0905_0000..0x0907_0000);
        assert!(node.dma_coherent);
        assert_eq!(node.streams, [0..0x1_0000, 0x2_0001..0x2_0002]);
    }

    #[test]
    fn no_smmu_or_a_disabled_one_is_none() {
        assert_eq!(find(QEMU_DTB).unwrap(), None);
        assert_eq!(find(&with_smmu(Some("disabled"))).unwrap(), None);
    }
}
