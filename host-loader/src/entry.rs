//! The CPU state in which the host kernel is entered at EL1 (booting.rst, "Call the kernel
//! image"): the hypervisor loads it into ELR_EL2, SPSR_EL2 and x0-x3, then ERETs.
//!
//! booting.rst asks for: x0 = physical address of the DTB, x1 = x2 = x3 = 0 ("reserved
//! for future use"), all of D, A, I, F masked, MMU off; the PC is the Image's first byte
//! (base + text_offset), not the 2 MiB base.

/// SPSR_EL2.M\[3:0\] for EL1 using SP_EL1 ("EL1h").
pub const SPSR_M_EL1H: u64 = 0b0101;
/// SPSR_EL2.F: FIQ masked.
pub const SPSR_F: u64 = 1 << 6;
/// SPSR_EL2.I: IRQ masked.
pub const SPSR_I: u64 = 1 << 7;
/// SPSR_EL2.A: SError masked.
pub const SPSR_A: u64 = 1 << 8;
/// SPSR_EL2.D: debug exceptions masked.
pub const SPSR_D: u64 = 1 << 9;
/// EL1h with D, A, I and F masked: Linux's own `INIT_PSTATE_EL1`.
pub const SPSR_EL1H_DAIF_MASKED: u64 = SPSR_D | SPSR_A | SPSR_I | SPSR_F | SPSR_M_EL1H;

/// Registers for the first ERET into the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryState {
    /// ELR_EL2: the kernel Image's first byte.
    pub pc: u64,
    /// x0: the DTB's physical address.
    pub x0: u64,
    /// x1: 0.
    pub x1: u64,
    /// x2: 0.
    pub x2: u64,
    /// x3: 0.
    pub x3: u64,
    /// SPSR_EL2: [`SPSR_EL1H_DAIF_MASKED`].
    pub spsr: u64,
}

impl EntryState {
    /// The boot-protocol state for an Image starting at `image_start` with its DTB at `dtb`.
    pub const fn linux(image_start: u64, dtb: u64) -> Self {
        Self {
            pc: image_start,
            x0: dtb,
            x1: 0,
            x2: 0,
            x3: 0,
            spsr: SPSR_EL1H_DAIF_MASKED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spsr_is_el1h_with_daif_masked() {
        assert_eq!(SPSR_EL1H_DAIF_MASKED, 0x3c5);
    }

    #[test]
    fn linux_entry_passes_dtb_in_x0_and_zeroes_x1_to_x3() {
        let e = EntryState::linux(0x4808_0000, 0x4000_0000);
        assert_eq!(
            e,
            EntryState {
                pc: 0x4808_0000,
                x0: 0x4000_0000,
                x1: 0,
                x2: 0,
                x3: 0,
                spsr: 0x3c5
            }
        );
    }
}
