//! The firmware glue, compiled for the firmware target only: the thin hardware layer
//! ([`arch`]: system registers, SMC, TLB and cache maintenance, raw values only), the boot
//! path as named steps ([`boot`]), the console, the host's EL2 setup written through `arch`
//! ([`el2_setup`]), the FF-A proxy's hardware port ([`ffa_port`]), the GIC registers the
//! redistributor emulation reaches ([`gic`]), the global state
//! ([`hyp`]), the ITS emulation's port ([`its`]), the host kernel's loading ([`loader`]), the PSCI calls the hypervisor makes
//! for itself ([`power`]), the SMMU's port ([`smmu`]) and the trap entries `vectors.S` calls ([`trap_entry`]).
//!
//! Nothing outside this folder imports it: the portable modules beside it decide, this
//! folder reads and writes the hardware for them (`tests/layering.rs` checks both, and that
//! `arch` imports no policy).

pub mod arch;
pub mod boot;
pub mod console;
pub mod el2_setup;
pub mod ffa_port;
pub mod gic;
pub mod hyp;
pub mod its;
pub mod loader;
pub mod power;
pub mod smmu;
pub mod trap_entry;
