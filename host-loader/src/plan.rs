//! The whole decision in one call: from the firmware's device tree, the kernel header and
//! the memory map to a [`BootPlan`] the hypervisor only has to carry out.
//!
//! Checks made here, beyond those of each module: the firmware DTB is at most 2 MiB; the
//! carve-out is whole 4 KiB pages; the kernel module, initrd, DTB and carve-out do not
//! overlap each other (the loader would already have clobbered one of them); the initrd is
//! inside RAM and within booting.rst's 32 GiB window around the kernel.

use alloc::{string::String, vec::Vec};

use fdt_rw::Tree;

use crate::{
    dtpatch::{self, PatchSpec},
    entry::EntryState,
    error::LoadError,
    image::ImageHeader,
    memmap,
    modules::{self, BootModules},
    placement::{self, DtbPlacement, KernelLoad, KernelPlacement, MAX_DTB_SIZE, PlacementError},
    region::{Region, SZ_4K, is_aligned},
};

/// Everything the hypervisor needs to start the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// The checked kernel header.
    pub header: ImageHeader,
    /// Where the kernel runs and whether it must be copied there first.
    pub kernel: KernelPlacement,
    /// The initrd, left where the loader put it.
    pub initrd: Option<Region>,
    /// The host command line written into `/chosen/bootargs` (None: left unchanged).
    pub bootargs: Option<String>,
    /// Where to write [`BootPlan::dtb_blob`].
    pub dtb: DtbPlacement,
    /// The host's device tree; `dtb.size == dtb_blob.len()`.
    pub dtb_blob: Vec<u8>,
    /// Registers for the ERET to EL1.
    pub entry: EntryState,
}

/// Parse the firmware blob at `dtb_addr`, refusing more than booting.rst's 2 MiB.
fn parse_dtb(fdt: &[u8], dtb_addr: u64) -> Result<Tree<'_>, LoadError> {
    let at = |err| LoadError::Dt { dtb: dtb_addr, err };
    let total = fdt_rw::totalsize(fdt).map_err(at)?;
    if u64::from(total) > MAX_DTB_SIZE {
        return Err(PlacementError::DtbTooLarge { size: total.into() }.into());
    }
    Tree::parse(fdt).map_err(at)
}

/// Step 1 for the hypervisor: where the kernel module is, so it can read the first
/// [`crate::image::HEADER_LEN`] bytes of it for [`plan`].
pub fn find_modules(fdt: &[u8], dtb_addr: u64) -> Result<BootModules, LoadError> {
    find_modules_in(&parse_dtb(fdt, dtb_addr)?)
}

/// [`find_modules`] in an already parsed tree (a caller that reads the tree for other
/// purposes too parses it once).
pub fn find_modules_in(tree: &Tree<'_>) -> Result<BootModules, LoadError> {
    Ok(modules::find(tree)?)
}

/// Fail if any two of the named, already-loaded ranges overlap.
fn check_disjoint(items: &[(&'static str, Region)]) -> Result<(), PlacementError> {
    for (i, &(what, region)) in items.iter().enumerate() {
        for &(other, other_region) in items.iter().skip(i + 1) {
            if region.overlaps(&other_region) {
                return Err(PlacementError::Overlap {
                    what,
                    region,
                    other,
                    other_region,
                });
            }
        }
    }
    Ok(())
}

/// Step 2: decide everything.
///
/// * `fdt`: the firmware's blob (at least its header's totalsize bytes), found at `dtb_addr`.
/// * `kernel_header`: the first [`crate::image::HEADER_LEN`] bytes of the kernel module.
/// * `ram`: the RAM banks (normally [`memmap::ram_regions`] of the same tree).
/// * `carveout`: all memory the hypervisor keeps for itself (image, heap, stacks, tables).
pub fn plan(
    fdt: &[u8],
    dtb_addr: u64,
    kernel_header: &[u8],
    ram: &[Region],
    carveout: Region,
) -> Result<BootPlan, LoadError> {
    plan_removing(fdt, dtb_addr, kernel_header, ram, carveout, &[])
}

/// [`plan`], also removing the nodes at the paths in `remove` (with their subtrees and every
/// reference to them) from the host's device tree: the devices the hypervisor withholds.
pub fn plan_removing(
    fdt: &[u8],
    dtb_addr: u64,
    kernel_header: &[u8],
    ram: &[Region],
    carveout: Region,
    remove: &[String],
) -> Result<BootPlan, LoadError> {
    let tree = parse_dtb(fdt, dtb_addr)?;
    plan_removing_tree(tree, dtb_addr, kernel_header, ram, carveout, remove)
}

/// [`plan_removing`] from the firmware's tree already parsed (by [`Tree::parse`] of the blob
/// at `dtb_addr`); the tree becomes the host's.
pub fn plan_removing_tree(
    tree: Tree<'_>,
    dtb_addr: u64,
    kernel_header: &[u8],
    ram: &[Region],
    carveout: Region,
    remove: &[String],
) -> Result<BootPlan, LoadError> {
    let total = tree.original_totalsize();
    if u64::from(total) > MAX_DTB_SIZE {
        return Err(PlacementError::DtbTooLarge { size: total.into() }.into());
    }
    let mods = modules::find(&tree)?;
    let module = mods.kernel.region;
    let header = ImageHeader::parse(kernel_header, module.base, module.size)?;
    let initrd = mods.initrd.as_ref().map(|m| m.region);

    if carveout.is_empty()
        || !is_aligned(carveout.base, SZ_4K)
        || !is_aligned(carveout.size, SZ_4K)
        || carveout.end().is_none()
    {
        return Err(PlacementError::CarveoutUnaligned { region: carveout }.into());
    }
    let original = Region::new(dtb_addr, tree.original_totalsize().into());
    if original.end().is_none() {
        return Err(PlacementError::Overflow {
            what: "device tree",
            region: original,
        }
        .into());
    }
    let mut loaded = alloc::vec![
        ("kernel module", module),
        ("device tree", original),
        ("hypervisor carve-out", carveout),
    ];
    if let Some(initrd) = initrd {
        loaded.push(("initrd", initrd));
        if !placement::in_ram(ram, &initrd)? {
            return Err(PlacementError::NotInRam {
                what: "initrd",
                region: initrd,
            }
            .into());
        }
    }
    check_disjoint(&loaded)?;

    let mut avoid =
        memmap::reserved_regions(&tree).map_err(|err| LoadError::Dt { dtb: dtb_addr, err })?;
    avoid.extend([carveout, original]);
    avoid.extend(initrd);
    let kernel = placement::place_kernel(module, &header, ram, &avoid)?;
    if let Some(initrd) = initrd {
        placement::check_initrd_window(kernel.image, initrd)?;
    }

    let spec = PatchSpec {
        carveout,
        initrd,
        bootargs: mods.bootargs.as_deref(),
        remove,
    };
    let dtb_blob =
        dtpatch::patch_tree(tree, &spec).map_err(|err| LoadError::Dt { dtb: dtb_addr, err })?;
    // The kernel's source stays off-limits too, so the copy order does not matter.
    avoid.extend([kernel.image, module]);
    let size = u64::try_from(dtb_blob.len()).unwrap_or(u64::MAX);
    let prefer_above = kernel.image.end().unwrap_or(u64::MAX);
    let dtb = placement::place_dtb(original, size, ram, &avoid, prefer_above)?;

    let entry = EntryState::linux(kernel.image.base, dtb.addr);
    // Display only (no `{:?}`): Debug formatting of these types would cost the firmware
    // image the derives' code and core's pretty-printer.
    log::debug!(
        "host-loader: kernel {} ({}), dtb {:#x} ({:#x} bytes, in place: {}), initrd {}",
        kernel.image,
        LoadLine(&kernel.load),
        dtb.addr,
        dtb.size,
        dtb.in_place,
        OrNone(initrd)
    );
    Ok(BootPlan {
        header,
        kernel,
        initrd,
        bootargs: mods.bootargs,
        dtb,
        dtb_blob,
        entry,
    })
}

/// How the kernel gets to its place, for the log line.
struct LoadLine<'a>(&'a KernelLoad);

impl core::fmt::Display for LoadLine<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            KernelLoad::InPlace => f.write_str("in place"),
            KernelLoad::Copy {
                from,
                overlaps_source,
            } => write!(
                f,
                "copied from {from}{}",
                if *overlaps_source {
                    ", overlapping"
                } else {
                    ""
                }
            ),
        }
    }
}

/// A region, or `none` (for log lines).
struct OrNone(Option<Region>);

impl core::fmt::Display for OrNone {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(r) => write!(f, "{r}"),
            None => f.write_str("none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        image::tests::{MODERN, header},
        placement::KernelLoad,
        testdt::{DtBuilder, ModuleSpec},
    };
    use alloc::string::ToString;

    const DTB_ADDR: u64 = 0x4000_0000;
    const RAM: [Region; 1] = [Region::new(0x4000_0000, 0x4000_0000)];
    const HYP: Region = Region::new(0x6000_0000, 0x200_0000);

    /// The CI layout (ci/config.sh): kernel 0x48000000, initrd 0x58000000, hyp 0x60000000.
    fn qemu_ci() -> DtBuilder {
        DtBuilder::qemu()
            .reserved("optee_shm@42000000", 0x4200_0000, 0x20_0000, true)
            .module(ModuleSpec::kernel(0x4800_0000, 0x200_0000).bootargs("console=ttyAMA0"))
            .module(ModuleSpec::ramdisk(0x5800_0000, 0x80_0000))
    }

    /// Grow a blob's totalsize (as firmware that pads its DTB does).
    fn padded(mut blob: Vec<u8>, extra: usize) -> Vec<u8> {
        blob.resize(blob.len() + extra, 0);
        let total = u32::try_from(blob.len()).unwrap().to_be_bytes();
        blob[4..8].copy_from_slice(&total);
        blob
    }

    #[test]
    fn qemu_ci_layout_boots_in_place() {
        let dtb = padded(qemu_ci().build(), 0x1000);
        let hdr = header(0, 0x300_0000, MODERN);
        let p = plan(&dtb, DTB_ADDR, &hdr, &RAM, HYP).unwrap();
        assert_eq!(p.kernel.load, KernelLoad::InPlace);
        assert_eq!(p.kernel.image, Region::new(0x4800_0000, 0x300_0000));
        assert_eq!(p.initrd, Some(Region::new(0x5800_0000, 0x80_0000)));
        assert_eq!(p.bootargs.as_deref(), Some("console=ttyAMA0"));
        assert!(p.dtb.in_place);
        assert_eq!(p.dtb.size, p.dtb_blob.len() as u64);
        assert_eq!(p.entry, EntryState::linux(0x4800_0000, DTB_ADDR));

        let fdt = fdt::Fdt::new(&p.dtb_blob).unwrap();
        assert!(
            fdt.find_node("/reserved-memory/hypervisor@60000000")
                .is_some()
        );
        assert!(
            fdt.find_node("/reserved-memory/optee_shm@42000000")
                .is_some()
        );
        assert_eq!(fdt.find_node("/chosen").unwrap().children().count(), 0);
    }

    #[test]
    fn grown_dtb_is_relocated_above_the_kernel() {
        // Exact totalsize, and a new /reserved-memory outweighs the one removed module.
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x4800_0000, 0x200_0000))
            .build();
        let p = plan(&dtb, DTB_ADDR, &header(0, 0x300_0000, MODERN), &RAM, HYP).unwrap();
        assert!(!p.dtb.in_place);
        // First whole free 2 MiB block at or above the kernel image end (0x4b000000).
        assert_eq!(p.dtb.addr, 0x4b00_0000);
        assert_eq!(p.entry.x0, 0x4b00_0000);
        assert!(!dtpatch::fits_in_place(dtb.len() as u32, p.dtb_blob.len()));
    }

    #[test]
    fn reserved_memory_in_the_way_moves_the_kernel() {
        let dtb = qemu_ci()
            .reserved("ramoops@49000000", 0x4900_0000, 0x10_0000, false)
            .build();
        let p = plan(&dtb, DTB_ADDR, &header(0, 0x300_0000, MODERN), &RAM, HYP).unwrap();
        assert!(matches!(p.kernel.load, KernelLoad::Copy { .. }));
        // 0x40000000 holds the DTB, 0x42000000 OP-TEE: first 48 MiB gap is at 0x42200000.
        assert_eq!(p.kernel.image.base, 0x4220_0000);
    }

    #[test]
    fn memreserve_entries_are_honoured_and_kept() {
        let dtb = qemu_ci().memreserve(0x4800_0000, 0x1000).build();
        let p = plan(&dtb, DTB_ADDR, &header(0, 0x300_0000, MODERN), &RAM, HYP).unwrap();
        assert!(matches!(p.kernel.load, KernelLoad::Copy { .. }));
        let out = Tree::parse(&p.dtb_blob).unwrap();
        assert_eq!(
            out.mem_reserve(),
            [fdt_rw::ReserveEntry {
                address: 0x4800_0000,
                size: 0x1000
            }]
        );
    }

    #[test]
    fn module_overlapping_the_carve_out_is_refused() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x5f00_0000, 0x200_0000))
            .build();
        let err = plan(&dtb, DTB_ADDR, &header(0, 0x300_0000, MODERN), &RAM, HYP).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel module [0x5f000000, 0x61000000) overlaps hypervisor carve-out \
             [0x60000000, 0x62000000)"
        );
    }

    #[test]
    fn initrd_outside_ram_is_refused() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x4800_0000, 0x200_0000))
            .module(ModuleSpec::ramdisk(0x9000_0000, 0x1000))
            .build();
        let err = plan(&dtb, DTB_ADDR, &header(0, 0x300_0000, MODERN), &RAM, HYP).unwrap_err();
        assert_eq!(
            err.to_string(),
            "initrd [0x90000000, 0x90001000) is not inside RAM"
        );
    }

    #[test]
    fn errors_name_what_and_where() {
        let dtb = qemu_ci().build();
        let mut bad_hdr = header(0, 0x300_0000, MODERN);
        bad_hdr[0x38..0x3c].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        assert_eq!(
            plan(&dtb, DTB_ADDR, &bad_hdr, &RAM, HYP)
                .unwrap_err()
                .to_string(),
            "kernel Image at 0x48000000: bad magic 0x12345678 (expected 0x644d5241)"
        );
        let mut bad_dtb = dtb.clone();
        bad_dtb[0] = 0;
        assert_eq!(
            plan(&bad_dtb, DTB_ADDR, &[], &RAM, HYP)
                .unwrap_err()
                .to_string(),
            "device tree at 0x40000000: bad magic 0x000dfeed (expected 0xd00dfeed)"
        );
        assert_eq!(
            find_modules(&DtBuilder::qemu().build(), DTB_ADDR)
                .unwrap_err()
                .to_string(),
            "/chosen: no kernel module (a child with compatible \"multiboot,kernel\", or a \
             plain \"multiboot,module\")"
        );
    }

    #[test]
    fn firmware_dtb_over_2m_is_refused() {
        let dtb = padded(qemu_ci().build(), 2 << 20);
        assert!(matches!(
            plan(&dtb, DTB_ADDR, &[], &RAM, HYP),
            Err(LoadError::Placement(PlacementError::DtbTooLarge { .. }))
        ));
    }

    #[test]
    fn unaligned_or_empty_carve_out_is_refused() {
        let dtb = qemu_ci().build();
        let hdr = header(0, 0x300_0000, MODERN);
        for bad in [
            Region::new(0x6000_0800, 0x1000),
            Region::new(0x6000_0000, 0),
        ] {
            assert!(matches!(
                plan(&dtb, DTB_ADDR, &hdr, &RAM, bad),
                Err(LoadError::Placement(
                    PlacementError::CarveoutUnaligned { .. }
                ))
            ));
        }
    }

    #[test]
    fn old_kernel_without_bit3_is_moved_to_the_lowest_free_base() {
        // Loaded at a valid in-place spot (base 0x48000000 + text_offset 0x80000)...
        let dtb = DtBuilder::qemu()
            .reserved("optee_shm@42000000", 0x4200_0000, 0x20_0000, true)
            .module(ModuleSpec::kernel(0x4808_0000, 0x200_0000))
            .build();
        let p = plan(&dtb, DTB_ADDR, &header(0x8_0000, 0x300_0000, 0), &RAM, HYP);
        // ...but bit 3 = 0 wants the lowest base. 48 MiB do not fit between the DTB and
        // OP-TEE's shared memory at 0x42000000, so that is right above the latter.
        let p = p.unwrap();
        assert_eq!(p.kernel.base, 0x4220_0000);
        assert_eq!(p.entry.pc, 0x4228_0000);
        assert!(matches!(p.kernel.load, KernelLoad::Copy { .. }));
    }

    #[test]
    fn find_modules_then_plan_agree() {
        let dtb = qemu_ci().build();
        let m = find_modules(&dtb, DTB_ADDR).unwrap();
        assert_eq!(m.kernel.region.base, 0x4800_0000);
        let ram = memmap::ram_regions(&Tree::parse(&dtb).unwrap()).unwrap();
        assert_eq!(ram, RAM);
        let p = plan(&dtb, DTB_ADDR, &header(0, 0x300_0000, MODERN), &ram, HYP).unwrap();
        assert_eq!(p.entry.pc, m.kernel.region.base);
    }

    /// xorshift64*: a fixed-seed generator, so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_corruption_of_dtb_and_header_never_panics() {
        let dtb = qemu_ci().memreserve(0x4400_0000, 0x1000).build();
        let hdr = header(0, 0x300_0000, MODERN);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut errors = 0;
        for _ in 0..20_000 {
            let mut blob = dtb.clone();
            let mut h = hdr.clone();
            for _ in 0..=rng.below(8) {
                let i = rng.below(blob.len());
                blob[i] = rng.next() as u8;
            }
            if rng.below(4) == 0 {
                let i = rng.below(h.len());
                h[i] = rng.next() as u8;
            }
            if rng.below(8) == 0 {
                blob.truncate(rng.below(blob.len()));
            }
            if plan(&blob, DTB_ADDR, &h, &RAM, HYP).is_err() {
                errors += 1;
            }
        }
        // Most mutations hit names, strings or values and still parse; many do not.
        assert!(errors > 1000, "only {errors} mutations were rejected");
    }
}
