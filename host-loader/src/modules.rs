//! Finding the host kernel and initrd: boot modules under `/chosen`, Xen's convention
//! (Xen `docs/misc/arm/device-tree/booting.txt`, `xen/common/device-tree/bootfdt.c`), so
//! the U-Boot `fdt mknode`/`fdt set` scripts people already use for Xen work unchanged:
//!
//! ```text
//! chosen {
//!     module@48000000 { compatible = "multiboot,kernel", "multiboot,module";
//!                       reg = <0x0 0x48000000 0x0 0x2000000>; bootargs = "console=ttyAMA0"; };
//!     module@58000000 { compatible = "multiboot,ramdisk", "multiboot,module";
//!                       reg = <0x0 0x58000000 0x0 0x800000>; };
//! };
//! ```
//!
//! Rules, and where they differ from Xen:
//! * A direct child of `/chosen` is a module if its `compatible` lists a kernel, ramdisk,
//!   generic or other multiboot string (legacy `xen,*` names included). Xen also looks two
//!   levels down and at `xen,domain` nodes; a single-host hypervisor has no use for that.
//! * `multiboot,kernel` (or `xen,linux-zimage`) is the kernel, `multiboot,ramdisk` (or
//!   `xen,linux-initrd`) the initrd; two of either is an error (Xen silently keeps both).
//! * Modules with only the generic `multiboot,module` fill the missing roles in DT order,
//!   kernel first, then ramdisk, as Xen's "first unknown is the kernel, second the
//!   ramdisk". Unlike Xen, a generic module never becomes a *second* kernel: with a specific
//!   kernel present, the first generic one is taken as the ramdisk. Extra ones are ignored.
//! * `reg` is one `<address size>` entry in `/chosen`'s `#address-cells`/`#size-cells`.
//!   When `/chosen` lacks them, they are inherited from the root and then default to 2/1:
//!   that is what Xen does (`device_tree_for_each_node` passes the parent's values down)
//!   and what Linux's `of_n_addr_cells` does. The DT spec's "absent means 2/1" would
//!   misread QEMU-style trees (root 2/2, /chosen without cells) written for Xen.
//! * The kernel module's `bootargs` win; otherwise `/chosen/bootargs` is kept.

use alloc::string::{String, ToString};
use core::fmt;

use fdt_rw::{DtError, NodeId, Tree};

use crate::region::Region;

/// `compatible` strings naming the kernel.
pub const KERNEL_COMPATIBLE: &[&str] = &["multiboot,kernel", "xen,linux-zimage"];
/// `compatible` strings naming the initrd.
pub const RAMDISK_COMPATIBLE: &[&str] = &["multiboot,ramdisk", "xen,linux-initrd"];
/// `compatible` strings marking a module of unspecified role.
pub const GENERIC_COMPATIBLE: &[&str] = &["multiboot,module", "xen,multiboot-module"];
/// Module roles the host does not use; still removed from the host's tree.
const OTHER_COMPATIBLE: &[&str] = &["multiboot,device-tree", "xen,xsm-policy"];

/// The role a `/chosen` child declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    /// `multiboot,kernel`.
    Kernel,
    /// `multiboot,ramdisk`.
    Ramdisk,
    /// Another specific role (a guest DT, an XSM policy).
    Other,
    /// Only `multiboot,module`: role decided by order.
    Generic,
}

/// The role of node `id`, or `None` when it is not a boot module at all.
pub fn classify(tree: &Tree<'_>, id: NodeId) -> Option<ModuleKind> {
    let is = |list| tree.is_compatible(id, list);
    if is(KERNEL_COMPATIBLE) {
        Some(ModuleKind::Kernel)
    } else if is(RAMDISK_COMPATIBLE) {
        Some(ModuleKind::Ramdisk)
    } else if is(OTHER_COMPATIBLE) {
        Some(ModuleKind::Other)
    } else if is(GENERIC_COMPATIBLE) {
        Some(ModuleKind::Generic)
    } else {
        None
    }
}

/// One boot module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Node path, for messages, e.g. `/chosen/module@48000000`.
    pub node: String,
    /// Where the loader put it.
    pub region: Region,
}

/// What `/chosen` says the host is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootModules {
    /// The kernel Image module.
    pub kernel: Module,
    /// The initrd module, if any.
    pub initrd: Option<Module>,
    /// The host command line: the kernel module's `bootargs`, else `/chosen/bootargs`.
    pub bootargs: Option<String>,
}

/// Why the boot modules cannot be determined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleError {
    /// There is no `/chosen` node.
    NoChosen,
    /// No module is (or can be taken as) the kernel.
    NoKernel,
    /// Two nodes claim the kernel role.
    TwoKernels {
        /// First node path.
        first: String,
        /// Second node path.
        second: String,
    },
    /// Two nodes claim the ramdisk role.
    TwoRamdisks {
        /// First node path.
        first: String,
        /// Second node path.
        second: String,
    },
    /// The module has no `reg`.
    MissingReg {
        /// Node path.
        node: String,
    },
    /// `reg` is not exactly one `<address size>` entry.
    BadReg {
        /// Node path.
        node: String,
        /// Its length in bytes.
        len: usize,
        /// `#address-cells` used.
        address_cells: u32,
        /// `#size-cells` used.
        size_cells: u32,
    },
    /// `reg` size is 0.
    ZeroSize {
        /// Node path.
        node: String,
        /// Its address.
        base: u64,
    },
    /// `reg` address + size does not fit in 64 bits.
    RegOverflow {
        /// Node path.
        node: String,
        /// Its address.
        base: u64,
        /// Its size.
        size: u64,
    },
    /// `/chosen`'s (possibly inherited) cell counts are not 1 or 2.
    UnsupportedCells {
        /// `#address-cells`.
        address_cells: u32,
        /// `#size-cells`.
        size_cells: u32,
    },
    /// A property (cells, bootargs) is malformed.
    Property(DtError),
}

impl From<DtError> for ModuleError {
    fn from(e: DtError) -> Self {
        Self::Property(e)
    }
}

impl core::error::Error for ModuleError {}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoChosen => f.write_str("device tree has no /chosen node, so no boot modules"),
            Self::NoKernel => f.write_str(
                "/chosen: no kernel module (a child with compatible \"multiboot,kernel\", or a \
                 plain \"multiboot,module\")",
            ),
            Self::TwoKernels { first, second } => {
                write!(f, "{first} and {second} are both kernel modules")
            }
            Self::TwoRamdisks { first, second } => {
                write!(f, "{first} and {second} are both ramdisk modules")
            }
            Self::MissingReg { node } => write!(f, "{node}: module has no reg property"),
            Self::BadReg {
                node,
                len,
                address_cells,
                size_cells,
            } => write!(
                f,
                "{node}: reg is {len} bytes, expected {} (one entry of #address-cells \
                 {address_cells} + #size-cells {size_cells})",
                4 * (address_cells + size_cells)
            ),
            Self::ZeroSize { node, base } => {
                write!(f, "{node}: module at {base:#x} has size 0")
            }
            Self::RegOverflow { node, base, size } => write!(
                f,
                "{node}: reg {base:#x} + {size:#x} overflows the 64-bit address space"
            ),
            Self::UnsupportedCells {
                address_cells,
                size_cells,
            } => write!(
                f,
                "/chosen: #address-cells {address_cells} / #size-cells {size_cells} not \
                 supported for module reg (each must be 1 or 2)"
            ),
            Self::Property(e) => e.fmt(f),
        }
    }
}

/// `/chosen`'s cell counts, inherited from the root, then 2/1 (see the module doc).
fn chosen_cells(tree: &Tree<'_>, chosen: NodeId) -> Result<(u32, u32), ModuleError> {
    let root = tree.root();
    let mut cells = [2, 1];
    for (slot, name) in cells.iter_mut().zip(["#address-cells", "#size-cells"]) {
        if let Some(v) = tree.prop_u32(chosen, name)? {
            *slot = v;
        } else if let Some(v) = tree.prop_u32(root, name)? {
            *slot = v;
        }
    }
    let [address_cells, size_cells] = cells;
    if !(1..=2).contains(&address_cells) || !(1..=2).contains(&size_cells) {
        return Err(ModuleError::UnsupportedCells {
            address_cells,
            size_cells,
        });
    }
    Ok((address_cells, size_cells))
}

fn read_module(
    tree: &Tree<'_>,
    id: NodeId,
    (address_cells, size_cells): (u32, u32),
) -> Result<Module, ModuleError> {
    let node = tree.path(id);
    let Some(reg) = tree.prop(id, "reg") else {
        return Err(ModuleError::MissingReg { node });
    };
    let entries = fdt_rw::reg_entries(reg, address_cells, size_cells);
    let Some(&[(base, size)]) = entries.as_deref() else {
        return Err(ModuleError::BadReg {
            node,
            len: reg.len(),
            address_cells,
            size_cells,
        });
    };
    if size == 0 {
        return Err(ModuleError::ZeroSize { node, base });
    }
    let region = Region::new(base, size);
    if region.end().is_none() {
        return Err(ModuleError::RegOverflow { node, base, size });
    }
    Ok(Module { node, region })
}

/// Find the kernel, the initrd and the command line in `/chosen`.
pub fn find(tree: &Tree<'_>) -> Result<BootModules, ModuleError> {
    let chosen = tree.find("/chosen").ok_or(ModuleError::NoChosen)?;
    let cells = chosen_cells(tree, chosen)?;
    let mut kernel: Option<(NodeId, Module)> = None;
    let mut ramdisk: Option<Module> = None;
    let mut generic = alloc::vec::Vec::new();
    for &child in tree.children(chosen) {
        match classify(tree, child) {
            Some(ModuleKind::Kernel) => {
                let m = read_module(tree, child, cells)?;
                if let Some((_, first)) = &kernel {
                    return Err(ModuleError::TwoKernels {
                        first: first.node.clone(),
                        second: m.node,
                    });
                }
                kernel = Some((child, m));
            }
            Some(ModuleKind::Ramdisk) => {
                let m = read_module(tree, child, cells)?;
                if let Some(first) = &ramdisk {
                    return Err(ModuleError::TwoRamdisks {
                        first: first.node.clone(),
                        second: m.node,
                    });
                }
                ramdisk = Some(m);
            }
            Some(ModuleKind::Generic) => generic.push(child),
            Some(ModuleKind::Other) | None => {}
        }
    }
    let mut generic = generic.into_iter();
    if kernel.is_none()
        && let Some(id) = generic.next()
    {
        kernel = Some((id, read_module(tree, id, cells)?));
    }
    if ramdisk.is_none()
        && let Some(id) = generic.next()
    {
        ramdisk = Some(read_module(tree, id, cells)?);
    }
    let (kernel_id, kernel) = kernel.ok_or(ModuleError::NoKernel)?;
    let bootargs = match tree.prop_str(kernel_id, "bootargs")? {
        Some(args) => Some(args),
        None => tree.prop_str(chosen, "bootargs")?,
    };
    Ok(BootModules {
        kernel,
        initrd: ramdisk,
        bootargs: bootargs.map(ToString::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdt::{DtBuilder, ModuleSpec};

    fn find_in(blob: &[u8]) -> Result<BootModules, ModuleError> {
        find(&Tree::parse(blob).unwrap())
    }

    #[test]
    fn xen_style_kernel_and_ramdisk_with_2_cells() {
        let dtb = DtBuilder::qemu()
            .chosen_bootargs("hyp-args")
            .module(ModuleSpec::kernel(0x4800_0000, 0x200_0000).bootargs("console=ttyAMA0"))
            .module(ModuleSpec::ramdisk(0x5800_0000, 0x80_0000))
            .build();
        let m = find_in(&dtb).unwrap();
        assert_eq!(m.kernel.region, Region::new(0x4800_0000, 0x200_0000));
        assert_eq!(m.kernel.node, "/chosen/module@48000000");
        assert_eq!(
            m.initrd.unwrap().region,
            Region::new(0x5800_0000, 0x80_0000)
        );
        assert_eq!(m.bootargs.as_deref(), Some("console=ttyAMA0"));
    }

    #[test]
    fn reg_with_one_address_cell_and_one_size_cell() {
        let dtb = DtBuilder::qemu()
            .chosen_cells(1, 1)
            .module(ModuleSpec::kernel(0x4800_0000, 0x200_0000))
            .build();
        let m = find_in(&dtb).unwrap();
        assert_eq!(m.kernel.region, Region::new(0x4800_0000, 0x200_0000));
        assert_eq!(m.initrd, None);
    }

    #[test]
    fn cells_are_inherited_from_root_when_chosen_has_none() {
        // QEMU's root is 2/2 and /chosen carries no cells: Xen reads 4-cell reg here.
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x1_4800_0000, 0x1_0000_0000))
            .build();
        let m = find_in(&dtb).unwrap();
        assert_eq!(m.kernel.region, Region::new(0x1_4800_0000, 0x1_0000_0000));
    }

    #[test]
    fn falls_back_to_chosen_bootargs() {
        let dtb = DtBuilder::qemu()
            .chosen_bootargs("root=/dev/vda")
            .module(ModuleSpec::kernel(0x4800_0000, 0x200_0000))
            .build();
        assert_eq!(
            find_in(&dtb).unwrap().bootargs.as_deref(),
            Some("root=/dev/vda")
        );
    }

    #[test]
    fn generic_modules_are_kernel_then_ramdisk_in_order() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::generic(0x4800_0000, 0x200_0000))
            .module(ModuleSpec::generic(0x5800_0000, 0x1000))
            .module(ModuleSpec::generic(0x5900_0000, 0x1000))
            .build();
        let m = find_in(&dtb).unwrap();
        assert_eq!(m.kernel.region.base, 0x4800_0000);
        assert_eq!(m.initrd.unwrap().region.base, 0x5800_0000);
    }

    #[test]
    fn generic_module_fills_only_the_missing_role() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::generic(0x5800_0000, 0x1000))
            .module(ModuleSpec::kernel(0x4800_0000, 0x200_0000))
            .build();
        let m = find_in(&dtb).unwrap();
        assert_eq!(m.kernel.region.base, 0x4800_0000);
        assert_eq!(m.initrd.unwrap().region.base, 0x5800_0000);
    }

    #[test]
    fn missing_kernel_is_a_clear_error() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::ramdisk(0x5800_0000, 0x1000))
            .build();
        let err = find_in(&dtb).unwrap_err();
        assert_eq!(err, ModuleError::NoKernel);
        assert!(err.to_string().contains("no kernel module"));
    }

    #[test]
    fn no_chosen_is_a_clear_error() {
        let dtb = DtBuilder::qemu().no_chosen().build();
        assert_eq!(find_in(&dtb), Err(ModuleError::NoChosen));
    }

    #[test]
    fn two_kernels_are_rejected() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x4800_0000, 0x200_0000))
            .module(ModuleSpec::kernel(0x5000_0000, 0x200_0000))
            .build();
        let err = find_in(&dtb).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/chosen/module@48000000 and /chosen/module@50000000 are both kernel modules"
        );
    }

    #[test]
    fn two_ramdisks_are_rejected() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x4800_0000, 0x200_0000))
            .module(ModuleSpec::ramdisk(0x5800_0000, 0x1000))
            .module(ModuleSpec::ramdisk(0x5900_0000, 0x1000))
            .build();
        assert!(matches!(
            find_in(&dtb),
            Err(ModuleError::TwoRamdisks { .. })
        ));
    }

    #[test]
    fn zero_size_module_is_rejected() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x4800_0000, 0))
            .build();
        assert_eq!(
            find_in(&dtb).unwrap_err().to_string(),
            "/chosen/module@48000000: module at 0x48000000 has size 0"
        );
    }

    #[test]
    fn malformed_reg_is_rejected() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x4800_0000, 0x1000).raw_reg(&[0, 0x4800_0000, 0]))
            .build();
        let err = find_in(&dtb).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/chosen/module@48000000: reg is 12 bytes, expected 16 (one entry of \
             #address-cells 2 + #size-cells 2)"
        );
        let two_entries = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x4800_0000, 0x1000).raw_reg(&[0, 1, 0, 1, 0, 2, 0, 2]))
            .build();
        assert!(matches!(
            find_in(&two_entries),
            Err(ModuleError::BadReg { len: 32, .. })
        ));
        let none = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x4800_0000, 0x1000).raw_reg(&[]))
            .build();
        assert!(matches!(
            find_in(&none),
            Err(ModuleError::BadReg { len: 0, .. })
        ));
    }

    #[test]
    fn overflowing_reg_is_rejected() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::kernel(u64::MAX - 0xfff, 0x2000))
            .build();
        assert!(matches!(
            find_in(&dtb),
            Err(ModuleError::RegOverflow { .. })
        ));
    }

    #[test]
    fn unsupported_cells_are_rejected() {
        let dtb = DtBuilder::qemu()
            .chosen_cells(3, 1)
            .module(ModuleSpec::kernel(0x4800_0000, 0x1000).raw_reg(&[0, 0, 0x4800_0000, 1]))
            .build();
        assert_eq!(
            find_in(&dtb),
            Err(ModuleError::UnsupportedCells {
                address_cells: 3,
                size_cells: 1
            })
        );
    }

    #[test]
    fn non_module_chosen_children_are_ignored() {
        let dtb = DtBuilder::qemu()
            .chosen_child("framebuffer@0", "simple-framebuffer")
            .module(ModuleSpec::kernel(0x4800_0000, 0x1000))
            .module(ModuleSpec::other(
                0x5000_0000,
                0x1000,
                "multiboot,device-tree",
            ))
            .build();
        let m = find_in(&dtb).unwrap();
        assert_eq!(m.kernel.region.base, 0x4800_0000);
        assert_eq!(m.initrd, None);
    }

    #[test]
    fn non_string_bootargs_are_rejected() {
        let dtb = DtBuilder::qemu()
            .module(ModuleSpec::kernel(0x4800_0000, 0x1000).raw_bootargs(b"abc"))
            .build();
        assert_eq!(
            find_in(&dtb).unwrap_err().to_string(),
            "/chosen/module@48000000: property bootargs is not NUL-terminated"
        );
    }
}
