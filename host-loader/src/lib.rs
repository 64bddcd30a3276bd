//! Policy for starting the host: find the kernel and initrd the boot loader left in memory,
//! check the arm64 Image header, decide where the kernel runs, derive the host's device
//! tree, and describe the EL1 entry state.
//!
//! Pure Rust, `no_std` + `alloc`, no `unsafe`, no raw pointers: the hypervisor does the
//! memory accesses and hands this crate byte slices. The integration is two calls:
//!
//! 1. [`find_modules`]`(fdt, dtb_addr)` names the kernel module; the hypervisor reads its
//!    first [`image::HEADER_LEN`] bytes.
//! 2. [`plan`]`(fdt, dtb_addr, header, ram, carveout)` returns a [`BootPlan`]: copy the
//!    kernel if [`placement::KernelLoad::Copy`] (memmove semantics), write
//!    [`BootPlan::dtb_blob`] at [`BootPlan::dtb`], clean both to the PoC, then ERET with
//!    [`BootPlan::entry`].
//!
//! Device trees are read and rebuilt with the `fdt-rw` crate.
//!
//! Every failure is a [`LoadError`] whose `Display` is one line naming what is wrong and
//! where, for the hypervisor to print before powering off.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod dtpatch;
pub mod entry;
mod error;
pub mod image;
pub mod memmap;
pub mod modules;
pub mod placement;
mod plan;
mod region;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod testdt;

pub use error::LoadError;
pub use plan::{BootPlan, find_modules, find_modules_in, plan, plan_removing, plan_removing_tree};
pub use region::{Region, SZ_1G, SZ_2M, SZ_4K};
