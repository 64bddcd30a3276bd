//! The hypervisor's own HVC ABI, in the SMCCC vendor-specific hypervisor range (owner 6).
//! Everything else the host sends with HVC gets SMCCC NOT_SUPPORTED: there is no hypervisor
//! above us for it to reach.
//!
//! | Function ID | Call | Returns |
//! |---|---|---|
//! | 0x8600_ff01 | Call UID | x0..x3: this hypervisor's UUID |
//! | 0x8600_ff03 | Revision | x0 = major, x1 = minor |
//! | 0xc600_0000 | Identify | x0 = 0, x1 = "FFAHYP\0\0" magic, x2 = version (major << 16 \| minor), x3 = carve-out base |

use crate::smccc::{NOT_SUPPORTED, SmcRegs};

/// Call UID query.
pub const CALL_UID: u32 = 0x8600_ff01;
/// Revision query.
pub const REVISION: u32 = 0x8600_ff03;
/// Identify.
pub const IDENTIFY: u32 = 0xc600_0000;

/// ASCII "FFAHYP" in a register (little-endian bytes).
pub const MAGIC: u64 = u64::from_le_bytes(*b"FFAHYP\0\0");
/// This hypervisor's UUID, as SMCCC returns UIDs: four 32-bit words.
pub const UUID: [u32; 4] = [0x4c3f_7a21, 0x9d5e_4b6a, 0x8e11_27c0, 0x6a0f_f0a5];
/// ABI revision.
pub const VERSION: (u16, u16) = (0, 1);

/// Answers an HVC from the host in place. Only the result registers change: SMCCC v1.1+
/// says the others are preserved.
pub fn handle(regs: &mut SmcRegs, carveout_base: u64) {
    match regs[0] {
        f if f == u64::from(CALL_UID) => {
            for (r, w) in regs.iter_mut().zip(UUID) {
                *r = u64::from(w);
            }
        }
        f if f == u64::from(REVISION) => {
            regs[0] = u64::from(VERSION.0);
            regs[1] = u64::from(VERSION.1);
        }
        f if f == u64::from(IDENTIFY) => {
            regs[0] = 0;
            regs[1] = MAGIC;
            regs[2] = (u64::from(VERSION.0) << 16) | u64::from(VERSION.1);
            regs[3] = carveout_base;
        }
        _ => regs[0] = NOT_SUPPORTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identify_answers_magic_and_version() {
        let mut r = [0u64; 18];
        r[0] = u64::from(IDENTIFY);
        r[5] = 0xdead;
        handle(&mut r, 0x6000_0000);
        assert_eq!(r[0], 0);
        assert_eq!(r[1], MAGIC);
        assert_eq!(r[3], 0x6000_0000);
        assert_eq!(r[5], 0xdead, "registers beyond the result are preserved");
    }

    #[test]
    fn unknown_hvc_is_not_supported() {
        for f in [0u64, 0x8400_0000, 0xc600_0001, 0xffff_ffff_c600_0000] {
            let mut r = [0u64; 18];
            r[0] = f;
            handle(&mut r, 0);
            assert_eq!(r[0], NOT_SUPPORTED, "function {f:#x}");
        }
    }
}
