//! Glue between the boot path and the `host-loader` crate: host-loader decides (pure
//! policy, unit-tested there); this module does the memory accesses it cannot: reading the
//! kernel's header, moving the kernel, writing the host's DTB, cleaning both to the point
//! of coherency for a kernel that starts with its MMU and caches off.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use fdt_rw::Tree;
use host_loader::modules::ModuleError;
use host_loader::placement::KernelLoad;
use host_loader::{LoadError, Region, image::HEADER_LEN};

use crate::firmware::arch;
use crate::firmware::console::info;
use crate::memmap::HostMap;

/// The EL2 stage-1 map covers a 39-bit address space.
const EL2_VA_LIMIT: u64 = 1 << 39;

/// Why the host cannot be loaded: each is one console line. Kept as values and written
/// straight to the console when reported, rather than formatted into a `String` at each
/// place of failure (boot-only code, but every `format!` costs the image).
#[derive(Debug)]
pub enum HostLoadError {
    /// host-loader refused the device tree, the kernel's header or the placement.
    Load(LoadError),
    /// `/chosen` in the device tree at this address does not name a usable kernel (and
    /// initrd).
    Modules(u64, ModuleError),
    /// The kernel module (or the source of its copy) at this address is not host RAM.
    KernelNotRam(u64),
    /// A write the plan asks for would not be in host RAM.
    WriteNotRam {
        /// What would be written.
        what: &'static str,
        /// Where.
        base: u64,
        /// How many bytes.
        size: u64,
    },
}

impl fmt::Display for HostLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Load(e) => e.fmt(f),
            // Name the device tree, as the other device-tree errors do.
            Self::Modules(dtb, e) => write!(f, "device tree at {dtb:#x}: {e}"),
            Self::KernelNotRam(base) => write!(f, "kernel module at {base:#x}: not in host RAM"),
            Self::WriteNotRam { what, base, size } => write!(
                f,
                "host {what} at {base:#x} (+{size:#x}) would not be in host RAM"
            ),
        }
    }
}

/// `, initrd <start>-<end>` or `, no initrd`: the end of the host kernel's console line.
struct InitrdNote(Option<Region>);

impl fmt::Display for InitrdNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(i) => write!(f, ", initrd {:#x}-{:#x}", i.base, i.base + i.size),
            None => f.write_str(", no initrd"),
        }
    }
}

/// Where the host starts.
pub struct HostEntryPoint {
    /// First instruction.
    pub pc: u64,
    /// The host's DTB, for x0.
    pub dtb: u64,
}

/// Finds, checks and places the host kernel and writes the host's DTB, without the nodes at
/// the paths in `remove` (the devices the DMA policy withholds). `tree` is the parsed heap
/// copy of the firmware's blob found at `dtb_addr`; it becomes the host's.
pub fn load_host(
    dtb_addr: u64,
    tree: Tree<'_>,
    host_map: &HostMap,
    carveout: &Range<u64>,
    remove: &[String],
) -> Result<HostEntryPoint, HostLoadError> {
    let modules = host_loader::find_modules_in(&tree).map_err(|e| match e {
        LoadError::Module(e) => HostLoadError::Modules(dtb_addr, e),
        e => HostLoadError::Load(e),
    })?;
    let kernel = modules.kernel.region;
    if !host_map.is_host_ram(kernel.base, HEADER_LEN as u64) {
        return Err(HostLoadError::KernelNotRam(kernel.base));
    }
    let mut header = [0u8; HEADER_LEN];
    // SAFETY: [kernel.base, +64) is host RAM, which the EL2 stage-1 maps as Normal memory
    // (checked just above); the loader put the kernel there and nothing runs concurrently.
    unsafe {
        core::ptr::copy_nonoverlapping(kernel.base as *const u8, header.as_mut_ptr(), HEADER_LEN)
    };
    // Only RAM the EL2 stage-1 maps (below 2^39) may receive the kernel or the DTB.
    let ram: Vec<Region> = host_map
        .ram
        .iter()
        .filter(|r| r.start < EL2_VA_LIMIT)
        .map(|r| Region::new(r.start, r.end.min(EL2_VA_LIMIT) - r.start))
        .collect();
    let plan = host_loader::plan_removing_tree(
        tree,
        dtb_addr,
        &header,
        &ram,
        Region::new(carveout.start, carveout.end - carveout.start),
        remove,
    )
    .map_err(HostLoadError::Load)?;

    // Every byte we are about to write must be host RAM: never the carve-out.
    let writes = [
        (plan.kernel.image.base, plan.kernel.image.size, "kernel"),
        (plan.dtb.addr, plan.dtb.size, "device tree"),
    ];
    for (base, size, what) in writes {
        if !host_map.is_host_ram(base, size) || base.saturating_add(size) > EL2_VA_LIMIT {
            return Err(HostLoadError::WriteNotRam { what, base, size });
        }
    }

    if let KernelLoad::Copy { from, .. } = plan.kernel.load {
        if !host_map.is_host_ram(from.base, from.size) {
            return Err(HostLoadError::KernelNotRam(from.base));
        }
        // SAFETY: source and destination are host RAM mapped Normal at EL2 (checked
        // above); `copy` has memmove semantics, so an overlap is fine.
        unsafe {
            core::ptr::copy(
                from.base as *const u8,
                plan.kernel.image.base as *mut u8,
                from.size as usize,
            )
        };
        arch::clean_dcache_range(plan.kernel.image.base, from.size);
        arch::sync_icache();
        info!(
            "kernel moved from {:#x} to {:#x} ({} bytes)",
            from.base, plan.kernel.image.base, from.size
        );
    }
    // SAFETY: [plan.dtb.addr, +size) is host RAM mapped Normal at EL2 (checked above), and
    // host-loader placed it clear of the kernel, the initrd and the carve-out.
    unsafe {
        core::ptr::copy_nonoverlapping(
            plan.dtb_blob.as_ptr(),
            plan.dtb.addr as *mut u8,
            plan.dtb_blob.len(),
        )
    };
    arch::clean_dcache_range(plan.dtb.addr, plan.dtb.size);

    info!(
        "host kernel: Image at {:#x}, {} bytes (image_size {:#x}){}",
        plan.kernel.image.base,
        kernel.size,
        plan.header.image_size,
        InitrdNote(plan.initrd)
    );
    info!(
        "host device tree at {:#x} ({} bytes{}), /reserved-memory/hypervisor@{:x} no-map",
        plan.dtb.addr,
        plan.dtb.size,
        if plan.dtb.in_place { ", in place" } else { "" },
        carveout.start
    );
    if let Some(args) = &plan.bootargs {
        info!("host bootargs: {args}");
    }
    Ok(HostEntryPoint {
        pc: plan.entry.pc,
        dtb: plan.entry.x0,
    })
}
