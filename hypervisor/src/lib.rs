//! The EL2 core of the hypervisor, as a library.
//!
//! Policy lives here as plain Rust that builds and is unit-tested on the development host;
//! everything that touches registers, SMC or TLBs goes through the thin [`arch`] layer.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod smccc;
