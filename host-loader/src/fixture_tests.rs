//! Tests against a real device tree: QEMU virt (secure=on, virtualization=on, GICv3) as
//! BL33 sees it after TF-A BL2 added /psci and OP-TEE added /reserved-memory, with the CI's
//! /chosen modules (ci/mkdtb.sh): kernel at 0x48000000, initrd at 0x58000000. It contains
//! FDT_NOP tokens left by the in-place edits, a /secure-chosen node and no /memreserve/.

use alloc::{string::String, vec, vec::Vec};

use fdt_rw::Tree;

use crate::{
    Region, dtpatch, find_modules, image::tests::header, memmap, placement::KernelLoad, plan,
};

static QEMU_DTB: &[u8] = include_bytes!("../../tests/fixtures/qemu-virt-tfa-optee.dtb");

/// ci/config.sh: the DTB is at the start of RAM, the hypervisor at 0x60000000.
const DTB_ADDR: u64 = 0x4000_0000;
const HYP: Region = Region::new(0x6000_0000, 0x200_0000);
const KERNEL: Region = Region::new(0x4800_0000, 0x2e0_8fc0);
const INITRD: Region = Region::new(0x5800_0000, 0x10_77f6);
/// A modern kernel header for the fixture's 46 MiB Image (image_size includes BSS).
fn kernel_header() -> Vec<u8> {
    header(0, 0x320_0000, crate::image::tests::MODERN)
}

/// A node's path and its (property, value) list.
type FlatNode<'a> = (String, Vec<(&'a str, &'a [u8])>);

/// Every node, sorted by path, through the independent `fdt` crate.
fn flatten(blob: &[u8]) -> Vec<FlatNode<'_>> {
    let fdt = fdt::Fdt::new(blob).unwrap();
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), fdt.find_node("/").unwrap())];
    while let Some((path, node)) = stack.pop() {
        let props = node.properties().map(|p| (p.name, p.value)).collect();
        for child in node.children() {
            stack.push((alloc::format!("{path}/{}", child.name), child));
        }
        out.push((path, props));
    }
    out.sort();
    out
}

#[test]
fn fixture_parses_and_rebuilds_to_the_same_tree() {
    let tree = Tree::parse(QEMU_DTB).unwrap();
    let rebuilt = tree.to_blob().unwrap();
    assert_eq!(flatten(&rebuilt), flatten(QEMU_DTB));
    // The NOPs are gone, nothing else: the rebuild is no larger, and stable.
    assert!(rebuilt.len() <= QEMU_DTB.len());
    assert_eq!(Tree::parse(&rebuilt).unwrap().to_blob().unwrap(), rebuilt);
}

#[test]
fn fixture_modules_memory_and_reservations() {
    let m = find_modules(QEMU_DTB, DTB_ADDR).unwrap();
    assert_eq!(m.kernel.region, KERNEL);
    assert_eq!(m.kernel.node, "/chosen/module@48000000");
    assert_eq!(m.initrd.unwrap().region, INITRD);
    assert_eq!(m.bootargs.as_deref(), Some("console=ttyAMA0 autotest"));

    let tree = Tree::parse(QEMU_DTB).unwrap();
    assert_eq!(
        memmap::ram_regions(&tree).unwrap(),
        [Region::new(0x4000_0000, 0x4000_0000)]
    );
    assert_eq!(
        memmap::reserved_regions(&tree).unwrap(),
        [
            Region::new(0x0e10_0000, 0xf0_0000),
            Region::new(0x4200_0000, 0x20_0000)
        ]
    );
    assert!(tree.mem_reserve().is_empty());
}

#[test]
fn fixture_plan_boots_in_place_with_patched_tree() {
    let tree = Tree::parse(QEMU_DTB).unwrap();
    let ram = memmap::ram_regions(&tree).unwrap();
    let p = plan(QEMU_DTB, DTB_ADDR, &kernel_header(), &ram, HYP).unwrap();
    assert_eq!(p.kernel.load, KernelLoad::InPlace);
    assert_eq!(p.kernel.image, Region::new(0x4800_0000, 0x320_0000));
    assert_eq!(p.initrd, Some(INITRD));
    assert_eq!(p.entry.pc, 0x4800_0000);
    assert_eq!(p.entry.x0, p.dtb.addr);
    assert_eq!(p.entry.spsr, 0x3c5);
    // Two module nodes out, one reservation in: the blob shrinks and is written back.
    assert!(dtpatch::fits_in_place(
        tree.original_totalsize(),
        p.dtb_blob.len()
    ));
    assert!(p.dtb.in_place);
    assert_eq!(p.dtb.addr, DTB_ADDR);

    let fdt = fdt::Fdt::new(&p.dtb_blob).unwrap();
    let hyp = fdt
        .find_node("/reserved-memory/hypervisor@60000000")
        .unwrap();
    assert!(hyp.property("no-map").is_some());
    let reg: Vec<_> = hyp.reg().unwrap().collect();
    assert_eq!(reg[0].starting_address as u64, HYP.base);
    assert_eq!(reg[0].size, Some(HYP.size as usize));
    assert!(
        fdt.find_node("/reserved-memory/optee_shm@42000000")
            .is_some()
    );
    assert!(
        fdt.find_node("/reserved-memory/optee_core@e100000")
            .is_some()
    );

    let chosen = fdt.find_node("/chosen").unwrap();
    assert_eq!(chosen.children().count(), 0);
    assert_eq!(fdt.chosen().bootargs(), Some("console=ttyAMA0 autotest"));
    assert_eq!(fdt.chosen().stdout().unwrap().name, "pl011@9000000");
    let be = |name| {
        let v = chosen.property(name).unwrap().value;
        u64::from_be_bytes(v.try_into().unwrap())
    };
    assert_eq!(be("linux,initrd-start"), 0x5800_0000);
    assert_eq!(be("linux,initrd-end"), 0x5810_77f6);
    assert!(fdt.find_node("/secure-chosen").is_some());
    assert_eq!(
        fdt.find_node("/psci")
            .unwrap()
            .property("method")
            .unwrap()
            .as_str(),
        Some("smc")
    );

    // Everything outside /chosen and /reserved-memory is unchanged.
    let untouched = |blob| {
        flatten(blob)
            .into_iter()
            .filter(|(p, _)| !p.starts_with("/chosen") && !p.starts_with("/reserved-memory"))
            .filter(|(p, _)| !p.is_empty())
            .collect::<Vec<_>>()
    };
    assert_eq!(untouched(&p.dtb_blob), untouched(QEMU_DTB));
}

#[test]
fn fixture_truncated_or_corrupted_is_an_error_not_a_panic() {
    for len in (0..QEMU_DTB.len()).step_by(7) {
        assert!(
            find_modules(&QEMU_DTB[..len], DTB_ADDR).is_err(),
            "cut at {len}"
        );
    }
    let ram = [Region::new(0x4000_0000, 0x4000_0000)];
    let hdr = kernel_header();
    for i in (0..QEMU_DTB.len()).step_by(3) {
        let mut bad = QEMU_DTB.to_vec();
        bad[i] ^= 0xa5;
        let _ = plan(&bad, DTB_ADDR, &hdr, &ram, HYP);
    }
}
