//! The firmware glue, compiled for the firmware target only: register access and SMC
//! ([`arch`]), the boot path ([`boot`]), the console, the FF-A proxy's hardware port
//! ([`ffa_port`]), the global state ([`hyp`]), the host kernel's loading ([`loader`]) and
//! the trap entries `vectors.S` calls ([`trap_entry`]).
//!
//! Nothing outside this folder imports it: the portable modules beside it decide, this
//! folder reads and writes the hardware for them.

pub mod arch;
pub mod boot;
pub mod console;
pub mod el2_setup;
pub mod ffa_port;
pub mod hyp;
pub mod loader;
pub mod power;
pub mod trap_entry;
