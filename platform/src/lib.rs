//! Board facts the device tree cannot give early enough: where the early console is before
//! the DT has been parsed, where the DTB is when the loader passes none, and quirks.
//!
//! One `Board` per supported platform; `BOOT` is the one this image was built for. The
//! device tree's root `compatible` is checked against it once parsed.
#![cfg_attr(not(test), no_std)]

/// A supported board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Board {
    /// Short name, as used by `make PLATFORM=...`.
    pub name: &'static str,
    /// Root `compatible` strings of device trees for this board.
    pub compatible: &'static [&'static str],
    /// PL011 the hypervisor writes to before it has read `/chosen/stdout-path`.
    pub early_uart: u64,
    /// Where the DTB is when the loader's x0 holds none (TF-A on QEMU passes none: BL2
    /// patches QEMU's DTB in place at the start of RAM).
    pub default_dtb: Option<u64>,
}

/// QEMU's `virt` machine (with TF-A as firmware: `secure=on,virtualization=on`).
pub const QEMU_VIRT: Board = Board {
    name: "qemu-virt",
    compatible: &["linux,dummy-virt"],
    early_uart: 0x0900_0000,
    default_dtb: Some(0x4000_0000),
};

/// Every board this build knows.
pub const BOARDS: &[Board] = &[QEMU_VIRT];

/// The board this image boots on.
pub const BOOT: &Board = &QEMU_VIRT;

/// The known board whose `compatible` list contains `compatible`.
pub fn by_compatible(compatible: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.compatible.contains(&compatible))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_virt_is_found_by_its_compatible() {
        assert_eq!(by_compatible("linux,dummy-virt"), Some(&QEMU_VIRT));
        assert_eq!(by_compatible("arm,juno"), None);
    }

    #[test]
    fn boot_board_is_known() {
        assert!(BOARDS.contains(BOOT));
    }
}
