//! PSCI (Arm DEN0022) as the payload uses it: function IDs, return codes, the conduit.
//!
//! Values are the spec's, not the hypervisor's: function IDs from DEN0022 §5.1, return
//! codes from §5.2.2 (the same numbers as TF-A's `PSCI_E_*` in `include/lib/psci/psci.h`).

use core::fmt;

/// PSCI_VERSION (SMC32).
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// CPU_ON (SMC64).
pub const CPU_ON: u32 = 0xC400_0003;
/// AFFINITY_INFO (SMC64).
pub const AFFINITY_INFO: u32 = 0xC400_0004;
/// SYSTEM_OFF (SMC32).
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// SYSTEM_RESET (SMC32).
pub const SYSTEM_RESET: u32 = 0x8400_0009;

/// AFFINITY_INFO answer (DEN0022 §5.7.2): the CPU is off.
pub const AFFINITY_OFF: i32 = 1;
/// AFFINITY_INFO: the CPU is on.
pub const AFFINITY_ON: i32 = 0;

/// Names an AFFINITY_INFO answer: a state (0 ON, 1 OFF, 2 ON_PENDING) or an error code.
pub fn affinity_name(answer: i32) -> &'static str {
    match answer {
        0 => "ON",
        AFFINITY_OFF => "OFF",
        2 => "ON_PENDING",
        error => Ret(error).name(),
    }
}

/// A PSCI return value: the signed 32-bit value in w0.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ret(pub i32);

impl Ret {
    /// SUCCESS.
    pub const SUCCESS: Ret = Ret(0);
    /// NOT_SUPPORTED.
    pub const NOT_SUPPORTED: Ret = Ret(-1);
    /// ALREADY_ON.
    pub const ALREADY_ON: Ret = Ret(-4);
    /// INVALID_ADDRESS.
    pub const INVALID_ADDRESS: Ret = Ret(-9);

    /// Decodes x0 of a PSCI call (only w0 is defined).
    pub fn from_x0(x0: u64) -> Self {
        Ret(x0 as u32 as i32)
    }

    /// The spec's name for the code, if it has one.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "SUCCESS",
            -1 => "NOT_SUPPORTED",
            -2 => "INVALID_PARAMETERS",
            -3 => "DENIED",
            -4 => "ALREADY_ON",
            -5 => "ON_PENDING",
            -6 => "INTERNAL_FAILURE",
            -7 => "NOT_PRESENT",
            -8 => "DISABLED",
            -9 => "INVALID_ADDRESS",
            _ => "?",
        }
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            "?" => write!(f, "{:#x} (not a PSCI return code)", self.0 as u32),
            name => write!(f, "{} ({name})", self.0),
        }
    }
}

/// How PSCI is called: the DT's `/psci` `method` property.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Conduit {
    /// `smc #0` (firmware, or the hypervisor trapping SMC).
    Smc,
    /// `hvc #0` (QEMU's built-in PSCI when it emulates no EL2/EL3).
    Hvc,
}

impl Conduit {
    /// Parses the `method` string.
    pub fn from_method(method: &str) -> Option<Self> {
        match method {
            "smc" => Some(Conduit::Smc),
            "hvc" => Some(Conduit::Hvc),
            _ => None,
        }
    }

    /// The `method` string.
    pub fn name(self) -> &'static str {
        match self {
            Conduit::Smc => "smc",
            Conduit::Hvc => "hvc",
        }
    }
}

/// A PSCI_VERSION answer: major in bits 30:16, minor in 15:0, bit 31 zero.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Version(pub u32);

impl Version {
    /// Bit 31 set means the call failed (e.g. NOT_SUPPORTED, 0xffff_ffff).
    pub fn is_error(self) -> bool {
        self.0 & (1 << 31) != 0
    }

    /// The major version.
    pub fn major(self) -> u32 {
        self.0 >> 16
    }

    /// The minor version.
    pub fn minor(self) -> u32 {
        self.0 & 0xffff
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

#[cfg(target_os = "none")]
pub use calls::*;

#[cfg(target_os = "none")]
mod calls {
    //! The calls themselves, through the conduit the DT names.

    use core::sync::atomic::{AtomicU8, Ordering};

    use super::{
        AFFINITY_INFO, CPU_ON, Conduit, PSCI_VERSION, Ret, SYSTEM_OFF, SYSTEM_RESET, Version,
    };
    use crate::arch;

    /// 0 = not known yet, 1 = SMC, 2 = HVC.
    static CONDUIT: AtomicU8 = AtomicU8::new(0);

    /// Sets the conduit for all CPUs (from the DT, before any call).
    pub fn set_conduit(conduit: Conduit) {
        let value = match conduit {
            Conduit::Smc => 1,
            Conduit::Hvc => 2,
        };
        CONDUIT.store(value, Ordering::SeqCst);
    }

    /// The conduit, if the DT named one.
    pub fn conduit() -> Option<Conduit> {
        match CONDUIT.load(Ordering::SeqCst) {
            1 => Some(Conduit::Smc),
            2 => Some(Conduit::Hvc),
            _ => None,
        }
    }

    fn call(function: u32, x1: u64, x2: u64, x3: u64) -> u64 {
        match conduit() {
            Some(Conduit::Smc) => arch::smc(u64::from(function), x1, x2, x3),
            Some(Conduit::Hvc) => arch::hvc(u64::from(function), x1, x2, x3),
            None => Ret::NOT_SUPPORTED.0 as u64,
        }
    }

    /// PSCI_VERSION.
    pub fn version() -> Version {
        Version(call(PSCI_VERSION, 0, 0, 0) as u32)
    }

    /// CPU_ON(target MPIDR, entry point, context_id).
    pub fn cpu_on(mpidr: u64, entry: u64, context_id: u64) -> Ret {
        Ret::from_x0(call(CPU_ON, mpidr, entry, context_id))
    }

    /// AFFINITY_INFO(target MPIDR, lowest affinity level 0): an `AFFINITY_*` state or an
    /// error code.
    pub fn affinity_info(mpidr: u64) -> i32 {
        Ret::from_x0(call(AFFINITY_INFO, mpidr, 0, 0)).0
    }

    /// SYSTEM_OFF: returns only on failure.
    pub fn system_off() -> Ret {
        Ret::from_x0(call(SYSTEM_OFF, 0, 0, 0))
    }

    /// SYSTEM_RESET: returns only on failure.
    pub fn system_reset() -> Ret {
        Ret::from_x0(call(SYSTEM_RESET, 0, 0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_codes_decode_from_w0_only() {
        assert_eq!(Ret::from_x0(0xffff_ffff_ffff_fff7), Ret::INVALID_ADDRESS);
        assert_eq!(Ret::from_x0(0x0000_0000_ffff_fffc), Ret::ALREADY_ON);
        assert_eq!(Ret::INVALID_ADDRESS.to_string(), "-9 (INVALID_ADDRESS)");
        // What TF-A's SPMD hands back for CPU_OFF when OP-TEE answers FFA_ERROR.
        assert_eq!(
            Ret::from_x0(0x8400_0060).to_string(),
            "0x84000060 (not a PSCI return code)"
        );
    }

    #[test]
    fn version_1_1_and_not_supported() {
        let v = Version(0x0001_0001);
        assert!(!v.is_error());
        assert_eq!((v.major(), v.minor()), (1, 1));
        assert!(Version(Ret::NOT_SUPPORTED.0 as u32).is_error());
    }

    #[test]
    fn method_strings() {
        assert_eq!(Conduit::from_method("smc"), Some(Conduit::Smc));
        assert_eq!(Conduit::from_method("hvc"), Some(Conduit::Hvc));
        assert_eq!(Conduit::from_method("SMC"), None);
    }
}
