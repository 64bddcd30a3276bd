//! SMC Calling Convention plumbing shared by every SMC service (PSCI relay, FF-A proxy).
//!
//! Services never execute `smc` themselves: they hand a register set to an [`SmcConduit`],
//! which the firmware implements with the real instruction (`arch`) and tests implement
//! with a scripted mock.
//!
//! The standard values come from the `smccc` crate where it has them (return codes, the
//! Arm architecture call IDs; the PSCI IDs in `crate::psci`). It has no function-ID field
//! helpers (fast-call and SMC64 bits, the SVE hint, owning entity), so those are declared
//! here from SMCCC (DEN0028) §2.5. Its `Call` trait does not replace [`SmcConduit`]: `Call`
//! has no receiver, so a test double could not keep a script or a log, and it has no
//! in-place form for the trap path.

/// x0..x17 of an SMCCC v1.2 call or reply (function ID / status in index 0).
pub type SmcRegs = [u64; 18];

/// Something that can issue an SMC to the next-higher exception level.
pub trait SmcConduit {
    /// Issues an SMC with x0..x17 = `regs` and returns x0..x17 as the firmware left them.
    fn smc(&mut self, regs: &SmcRegs) -> SmcRegs;

    /// The same SMC on a register set in place, for the trap path (no copy of the array):
    /// x0 = `x0`, x1..x7 = `regs[1..8]`, and x8..x17 as `high` says ([`High`]). Returns the
    /// firmware's x0..x7 and leaves `regs[..8]` as they were, so that the caller can filter
    /// the reply before storing it.
    ///
    /// The default goes through [`SmcConduit::smc`], so a mock sees exactly the call the
    /// firmware would; the firmware's conduit passes the registers as asm operands.
    #[inline]
    fn smc_in_place(&mut self, x0: u64, regs: &mut SmcRegs, high: High) -> [u64; 8] {
        let mut call = *regs;
        call[0] = x0;
        let reply = self.smc(&call);
        if high == High::Full {
            regs[8..].copy_from_slice(&reply[8..]);
        }
        let mut low = [0; 8];
        low.copy_from_slice(&reply[..8]);
        low
    }
}

/// x8..x17 of an in-place SMC ([`SmcConduit::smc_in_place`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum High {
    /// Sent from `regs[8..]`, and the firmware's x8..x17 written back there.
    Full,
    /// Sent from `regs[8..]`; the firmware's x8..x17 are dropped, `regs[8..]` keeps the
    /// call's.
    Keep,
}

/// SMCCC return value NOT_SUPPORTED (-1), as the 64-bit register value. The crate's
/// constant is an `i32` (what an SMC32 call returns in w0); the cast sign-extends it to the
/// value a 64-bit register holds.
pub const NOT_SUPPORTED: u64 = smccc::arch::error::NOT_SUPPORTED as u64;

/// SMCCC_VERSION, SMCCC_ARCH_FEATURES and SMCCC_ARCH_WORKAROUND_1 function IDs.
pub use smccc::arch::{SMCCC_ARCH_FEATURES, SMCCC_ARCH_WORKAROUND_1, SMCCC_VERSION};

/// Bit 31 of a function ID: fast call.
pub const FAST_CALL: u32 = 1 << 31;
/// Bit 30 of a function ID: SMC64/HVC64 calling convention.
pub const SMC64: u32 = 1 << 30;
/// Bit 16 of a function ID: the SMCCC v1.3 SVE live-state hint, which callers may set and
/// services must ignore when matching IDs.
pub const CALL_HINT_SVE_NOT_LIVE: u32 = 1 << 16;
/// Bits \[23:17\] of a function ID: reserved by SMCCC, MBZ.
pub const RESERVED_FUNCTION_ID_BITS: u32 = 0x00fe_0000;

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
