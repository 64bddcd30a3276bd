//! What the device tree says about physical memory: the RAM banks (`/memory` nodes) and
//! the ranges no one may place anything in (`/memreserve/` entries and static
//! `/reserved-memory` regions).
//!
//! Every static `/reserved-memory` region is avoided, `no-map` or not: a region without
//! `no-map` is still `memblock_reserve`d by Linux and typically holds firmware data
//! (OP-TEE shared memory, ramoops, a framebuffer), so overwriting it with the kernel would
//! be just as wrong. Dynamic regions (`size` + `alloc-ranges`, no `reg`) are allocated by
//! Linux later and constrain nothing now.

use alloc::vec::Vec;

use fdt_rw::{DtError, NodeId, Tree, reg_entries};

use crate::region::Region;

/// The root's `#address-cells`/`#size-cells`, defaulting to the DT spec's 2/1.
pub fn root_cells(tree: &Tree<'_>) -> Result<(u32, u32), DtError> {
    let root = tree.root();
    Ok((
        tree.prop_u32(root, "#address-cells")?.unwrap_or(2),
        tree.prop_u32(root, "#size-cells")?.unwrap_or(1),
    ))
}

/// `status` absent, "okay" or "ok" (as Linux's `of_fdt_device_is_available`).
fn available(tree: &Tree<'_>, id: NodeId) -> bool {
    match tree.prop(id, "status") {
        None => true,
        Some(s) => s == b"okay\0" || s == b"ok\0",
    }
}

/// The non-empty `reg` entries of `id` read with the given cells.
fn reg_regions(tree: &Tree<'_>, id: NodeId, cells: (u32, u32)) -> Result<Vec<Region>, DtError> {
    let Some(reg) = tree.prop(id, "reg") else {
        return Ok(Vec::new());
    };
    let entries = reg_entries(reg, cells.0, cells.1).ok_or_else(|| {
        tree.bad_prop(id, "reg", "is not a whole number of <address size> entries")
    })?;
    let mut out = Vec::with_capacity(entries.len());
    for (base, size) in entries {
        let r = Region::new(base, size);
        if r.end().is_none() {
            return Err(tree.bad_prop(id, "reg", "has an entry that overflows 64 bits"));
        }
        if !r.is_empty() {
            out.push(r);
        }
    }
    Ok(out)
}

/// RAM banks: the `reg` of every available root child with `device_type = "memory"`.
pub fn ram_regions(tree: &Tree<'_>) -> Result<Vec<Region>, DtError> {
    let cells = root_cells(tree)?;
    let mut ram = Vec::new();
    for &id in tree.children(tree.root()) {
        if tree.prop(id, "device_type") == Some(b"memory\0") && available(tree, id) {
            ram.extend(reg_regions(tree, id, cells)?);
        }
    }
    Ok(ram)
}

/// `/memreserve/` entries plus every static `/reserved-memory` region (see module doc).
pub fn reserved_regions(tree: &Tree<'_>) -> Result<Vec<Region>, DtError> {
    let mut out = Vec::new();
    for r in tree.mem_reserve().iter().filter(|r| r.size != 0) {
        let r = Region::new(r.address, r.size);
        if r.end().is_none() {
            return Err(DtError::BadProperty {
                node: "/memreserve/".into(),
                prop: alloc::string::String::from("0x") + &crate::region::hex(r.base),
                problem: "size overflows 64 bits",
            });
        }
        out.push(r);
    }
    if let Some(rm) = tree.find("/reserved-memory") {
        // Read with the node's own cells (what its author meant); dtpatch separately
        // insists they equal the root's, as Linux requires.
        let (rac, rsc) = root_cells(tree)?;
        let cells = (
            tree.prop_u32(rm, "#address-cells")?.unwrap_or(rac),
            tree.prop_u32(rm, "#size-cells")?.unwrap_or(rsc),
        );
        for &child in tree.children(rm) {
            if available(tree, child) {
                out.extend(reg_regions(tree, child, cells)?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdt::DtBuilder;

    #[test]
    fn ram_banks_come_from_memory_nodes() {
        let dtb = DtBuilder::qemu()
            .memory(&[(0x4000_0000, 0x4000_0000), (0x1_0000_0000, 0x8000_0000)])
            .build();
        let tree = Tree::parse(&dtb).unwrap();
        assert_eq!(
            ram_regions(&tree).unwrap(),
            [
                Region::new(0x4000_0000, 0x4000_0000),
                Region::new(0x1_0000_0000, 0x8000_0000)
            ]
        );
    }

    #[test]
    fn reserved_regions_include_memreserve_and_all_static_reserved_memory() {
        let dtb = DtBuilder::qemu()
            .memreserve(0x4000_0000, 0x1000)
            .reserved("optee_shm@42000000", 0x4200_0000, 0x20_0000, true)
            .reserved("ramoops@43000000", 0x4300_0000, 0x10_0000, false)
            .build();
        let tree = Tree::parse(&dtb).unwrap();
        assert_eq!(
            reserved_regions(&tree).unwrap(),
            [
                Region::new(0x4000_0000, 0x1000),
                Region::new(0x4200_0000, 0x20_0000),
                Region::new(0x4300_0000, 0x10_0000)
            ]
        );
    }

    #[test]
    fn overflowing_reserved_reg_is_an_error() {
        let dtb = DtBuilder::qemu()
            .reserved(
                "bad@ffffffffffff0000",
                0xffff_ffff_ffff_0000,
                0x10_0000,
                true,
            )
            .build();
        let tree = Tree::parse(&dtb).unwrap();
        let err = reserved_regions(&tree).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/reserved-memory/bad@ffffffffffff0000: property reg has an entry that overflows 64 bits"
        );
    }
}
