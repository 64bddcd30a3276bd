//! The EL2 core of the hypervisor, as a library.
//!
//! Policy lives here as plain Rust that builds and is unit-tested on the development host:
//! device-tree reading ([`dt`]), the host's address map ([`memmap`]), memory protection
//! ([`mm`]: the host's stage-2 tables and the ownership of its pages), the EL2 register values
//! ([`el2config`]), trap decoding ([`trap`]), the PSCI relay ([`psci`]), the FF-A proxy
//! ([`ffa`]), abort injection ([`abort`]), the HVC ABI ([`hvc`]) and the console's bounded
//! waits on a UART the host shares ([`uart`]). Leaf modules import
//! nothing from the crate: addresses ([`addr`]), budgets ([`budget`]), the register frames
//! of `vectors.S` ([`frame`]), shared statics ([`sync`]) and the SMCCC vocabulary
//! ([`smccc`]).
//!
//! What touches registers, SMC or TLBs is the firmware glue in `firmware/`, compiled for
//! the firmware target only, which no module here imports (`tests/layering.rs` checks it
//! and that modules import each other without cycles; `docs/architecture.md` has the
//! layout).
#![cfg_attr(not(test), no_std)]

extern crate alloc;
#[cfg(all(feature = "testkit", not(test)))]
extern crate std;

pub mod abort;
pub mod addr;
pub mod budget;
pub mod dma;
pub mod dt;
pub mod el2config;
pub mod errata;
pub mod ffa;
pub mod frame;
pub mod gicr;
pub mod hvc;
pub mod its;
pub mod memmap;
pub mod mm;
pub mod mmio;
pub mod percpu;
pub mod psci;
pub mod ranges;
pub mod smccc;
pub mod smmu;
pub mod stage1;
pub mod sync;
pub mod trap;
pub mod uart;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod firmware;
