//! Glue between the boot path and the `host-loader` crate: reads the kernel's header from
//! memory, asks host-loader for a plan, copies the kernel if the plan says so, and writes
//! the host's device tree.

use alloc::string::String;
use core::ops::Range;

use crate::dt::SystemInfo;
use crate::memmap::HostMap;

/// Where the host starts.
pub struct HostEntryPoint {
    /// First instruction.
    pub pc: u64,
    /// The host's DTB, for x0.
    pub dtb: u64,
}

/// Finds, checks and places the host kernel and writes the host's DTB.
pub fn load_host(
    _info: &SystemInfo,
    _dtb_addr: u64,
    _dtb: &[u8],
    _host_map: &HostMap,
    _carveout: &Range<u64>,
) -> Result<HostEntryPoint, String> {
    Err(String::from("host loading is being wired up"))
}
