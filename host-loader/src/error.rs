//! The one error type the hypervisor sees from this crate. Its `Display` is a single line
//! that says what is wrong and where (an address or a node path): the hypervisor prints it
//! and powers off, so it must be enough to fix the boot setup without a debugger.

use core::fmt;

use fdt_rw::DtError;

use crate::{image::ImageError, modules::ModuleError, placement::PlacementError};

/// Why the host cannot be booted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The firmware's device tree blob is malformed, or cannot be patched.
    Dt {
        /// Where the blob is.
        dtb: u64,
        /// What is wrong.
        err: DtError,
    },
    /// `/chosen` does not name a usable kernel (and initrd).
    Module(ModuleError),
    /// The kernel Image header is refused.
    Image(ImageError),
    /// The pieces do not fit in memory, or overlap.
    Placement(PlacementError),
}

impl From<ModuleError> for LoadError {
    fn from(e: ModuleError) -> Self {
        Self::Module(e)
    }
}

impl From<ImageError> for LoadError {
    fn from(e: ImageError) -> Self {
        Self::Image(e)
    }
}

impl From<PlacementError> for LoadError {
    fn from(e: PlacementError) -> Self {
        Self::Placement(e)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dt { dtb, err } => write!(f, "device tree at {dtb:#x}: {err}"),
            Self::Module(e) => e.fmt(f),
            Self::Image(e) => e.fmt(f),
            Self::Placement(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for LoadError {}
