//! SMC Calling Convention plumbing shared by every SMC service (PSCI relay, FF-A proxy).
//!
//! Services never execute `smc` themselves: they hand a register set to an [`SmcConduit`],
//! which the firmware implements with the real instruction (`arch`) and tests implement
//! with a scripted mock.

/// x0..x17 of an SMCCC v1.2 call or reply (function ID / status in index 0).
pub type SmcRegs = [u64; 18];

/// Something that can issue an SMC to the next-higher exception level.
pub trait SmcConduit {
    /// Issues an SMC with x0..x17 = `regs` and returns x0..x17 as the firmware left them.
    fn smc(&mut self, regs: &SmcRegs) -> SmcRegs;
}

/// SMCCC return value NOT_SUPPORTED (-1), as the 64-bit register value.
pub const NOT_SUPPORTED: u64 = -1i64 as u64;

/// Bit 31 of a function ID: fast call.
pub const FAST_CALL: u32 = 1 << 31;
/// Bit 30 of a function ID: SMC64/HVC64 calling convention.
pub const SMC64: u32 = 1 << 30;
/// Bit 16 of a function ID: the SMCCC v1.3 SVE live-state hint, which callers may set and
/// services must ignore when matching IDs.
pub const CALL_HINT_SVE_NOT_LIVE: u32 = 1 << 16;

/// The owning entity number of a function ID (bits 29:24).
pub const fn owner(function_id: u32) -> u32 {
    (function_id >> 24) & 0x3f
}

/// Owning entity numbers (SMCCC table 6-4) that this hypervisor routes.
pub mod owners {
    /// Arm architecture calls (SMCCC_VERSION, ARCH_FEATURES, workarounds).
    pub const ARCH: u32 = 0;
    /// Standard secure services: PSCI (functions 0x00-0x1f) and FF-A (0x60-0xff).
    pub const STANDARD: u32 = 4;
    /// Standard hypervisor services.
    pub const STANDARD_HYP: u32 = 5;
    /// Vendor-specific hypervisor services: this hypervisor's own HVC ABI.
    pub const VENDOR_HYP: u32 = 6;
}
