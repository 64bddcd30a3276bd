//! Board facts, and which board a device tree is for.
//!
//! The hypervisor picks its board the way Linux's single Image does: from the device tree's
//! root `compatible` (first match in the DT's own order, most specific string first) and
//! `/chosen/stdout-path` ([`select`]). Everything after that point comes from the DT and is
//! the same code on every board.
//!
//! What the DT cannot give is what happens *before* it has been found: the early console
//! (a PL011 written from the first Rust instruction) and, when the loader's x0 holds no DTB,
//! where to look for one. Writing to another board's UART address is not harmless (on Juno
//! 0x0900_0000, QEMU's UART, is NOR flash; on QEMU 0x7FF8_0000, Juno's, is RAM), so those two
//! facts are per build: [`BOOT`] is the board this image was built for, chosen with a cargo
//! feature of this crate (none: `qemu-virt`; `juno`; `rdn2-fvp`), and a DT for another board
//! is refused with [`check_build`]. See `docs/boards.md` for which board needs which build.
//!
//! The other facts ([`Board::ram`], [`Board::gic`], [`Board::cpus`], [`Board::bl33_base`])
//! are the boards' documented memory maps (TF-A's platform headers, Linux's device trees).
//! The hypervisor does not use them in place of the DT; tests check the DTs against them.
#![cfg_attr(not(test), no_std)]

use core::fmt;
use core::ops::Range;

#[cfg(all(feature = "juno", feature = "rdn2-fvp"))]
compile_error!("platform: enable at most one board feature (juno, rdn2-fvp)");

/// The GIC's MMIO frames in a board's stock configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicFrames {
    /// GICv2 (GIC-400): distributor, CPU interface, and the hypervisor's virtual interface
    /// control (GICH) and virtual CPU interface (GICV), which the host never gets.
    V2 {
        /// GICD.
        gicd: u64,
        /// GICC.
        gicc: u64,
        /// GICH.
        gich: u64,
        /// GICV.
        gicv: u64,
    },
    /// GICv3/v4 (GIC-500/600/700): distributor and the first redistributor.
    V3 {
        /// GICD.
        gicd: u64,
        /// GICR of the first CPU.
        gicr: u64,
    },
}

/// A supported board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Board {
    /// Short name, as used by `make image PLATFORM=...` and the cargo feature.
    pub name: &'static str,
    /// Root `compatible` strings of device trees for this board.
    pub compatible: &'static [&'static str],
    /// The board's console PL011: what its stock DT's `stdout-path` names, and what an
    /// image built for this board writes to before it has read the DT.
    pub early_uart: u64,
    /// Every Non-secure PL011 a DT for this board may name in `stdout-path`.
    pub uarts: &'static [u64],
    /// Where the DTB is when the loader's x0 holds none (TF-A passes none to BL33 on QEMU,
    /// where BL2 edits QEMU's DTB in place at the start of RAM: see `docs/boards.md`).
    pub default_dtb: Option<u64>,
    /// Non-secure DRAM in the stock configuration (TF-A's secure DRAM excluded). A DTB
    /// the loader passes in x0 must lie here.
    pub ram: &'static [Range<u64>],
    /// The GIC in the stock configuration.
    pub gic: GicFrames,
    /// MPIDR affinity values (DT `cpu` `reg`) of the stock configuration, in TF-A's core
    /// order; empty where the user chooses (QEMU's `-smp`).
    pub cpus: &'static [u64],
    /// Where the board's TF-A loads BL33 (`NS_IMAGE_OFFSET` / `PLAT_ARM_NS_IMAGE_BASE`):
    /// the carve-out base when the hypervisor is BL33.
    pub bl33_base: Option<u64>,
    /// Bus masters the board's device trees do not describe, as (name, MMIO): the DMA
    /// policy withholds them as it withholds the masters it finds in the DT.
    pub dma_undescribed: &'static [(&'static str, Range<u64>)],
    /// Paths of device-tree nodes that can master memory which the DMA policy keeps with
    /// the host anyway, unprotected: each is a hole in DMA isolation (`docs/security.md`).
    pub dma_trusted: &'static [&'static str],
}

/// QEMU's `virt` machine (with TF-A as firmware: `secure=on,virtualization=on`).
pub const QEMU_VIRT: Board = Board {
    name: "qemu-virt",
    compatible: &["linux,dummy-virt"],
    early_uart: 0x0900_0000,
    uarts: &[0x0900_0000],
    default_dtb: Some(0x4000_0000),
    // RAM starts at 1 GiB; QEMU allows up to 255 GiB there.
    ram: &[0x4000_0000..0x40_0000_0000],
    // gic-version=3, as `ci/qemu.sh` runs it (gic-version=2: GICD 0x0800_0000,
    // GICC 0x0801_0000, GICH 0x0803_0000, GICV 0x0804_0000).
    gic: GicFrames::V3 {
        gicd: 0x0800_0000,
        gicr: 0x080a_0000,
    },
    cpus: &[],
    // TF-A plat/qemu: NS_IMAGE_OFFSET = NS_DRAM0_BASE + 0x2000_0000.
    bl33_base: Some(0x6000_0000),
    dma_undescribed: &[],
    dma_trusted: &[],
};

/// Arm Juno r0/r1/r2 (Cortex-A57 x2, or Cortex-A72 x2 on r2, + Cortex-A53 x4; GIC-400),
/// from Linux's
/// `arch/arm64/boot/dts/arm/juno*.dts` and TF-A's `plat/arm/board/juno`, `css_def.h`.
pub const JUNO: Board = Board {
    name: "juno",
    compatible: &["arm,juno", "arm,juno-r1", "arm,juno-r2"],
    // SoC UART0.
    early_uart: 0x7ff8_0000,
    uarts: &[0x7ff8_0000],
    // TF-A enters BL33 with x0 = MPIDR[15:0], not a DTB; on Juno only U-Boot (or a debugger)
    // loads the kernel, initrd and DTB, and U-Boot's booti passes the DTB in x0.
    default_dtb: None,
    // DRAM1 minus the top 16 MiB TF-A keeps Secure (ARM_TZC_DRAM1_SIZE), and DRAM2.
    ram: &[0x8000_0000..0xff00_0000, 0x8_8000_0000..0xa_0000_0000],
    // The GIC-400 is mapped with 64 KiB per 4 KiB page (each page aliased across its
    // 64 KiB window); the DT names the last alias of each page pair, hence ...f000.
    gic: GicFrames::V2 {
        gicd: 0x2c01_0000,
        gicc: 0x2c02_f000,
        gich: 0x2c04_f000,
        gicv: 0x2c06_f000,
    },
    // Cluster 0: the two big cores (A57, A72 on r2); cluster 1: four A53.
    cpus: &[0x0, 0x1, 0x100, 0x101, 0x102, 0x103],
    // css_def.h: PLAT_ARM_NS_IMAGE_BASE.
    bl33_base: Some(0xe000_0000),
    dma_undescribed: &[],
    dma_trusted: &[],
};

/// Arm Neoverse RD-N2 FVP, variant 0 (16 Neoverse N2, one per cluster, GIC-700), from
/// TF-A's `plat/arm/board/neoverse_rd` (`nrd_css_def2.h`, `nrd_plat_arm_def2.h`,
/// `rdn2/platform_def.h`). The stock stack boots Linux with ACPI; the host's DT is ours
/// (`platform/dts/rdn2-fvp.dts`).
pub const RDN2_FVP: Board = Board {
    name: "rdn2-fvp",
    compatible: &["arm,rd-n2-fvp", "arm,rd-n2"],
    // NRD_CSS_NSEC_UART_BASE: the CSS Non-secure UART (UEFI's and Linux's console in the
    // stock stack; TF-A writes to the Secure one at 0x2A41_0000).
    early_uart: 0x2a40_0000,
    // ...and the SoC debug UART (the stock stack's DBG2 table).
    uarts: &[0x2a40_0000, 0x0ef7_0000],
    // BL2 loads the FIP's NT_FW_CONFIG (our DT, docs/boards.md) at 0xfef0_0000 and BL31
    // passes its address to BL33 in x0.
    default_dtb: None,
    // ARM_DRAM1 minus the top 16 MiB Secure, and NRD_CSS_DRAM2 (6 GiB).
    ram: &[0x8000_0000..0xff00_0000, 0x80_8000_0000..0x82_0000_0000],
    // PLAT_ARM_GICR_BASE for NRD_PLATFORM_VARIANT 0 (ITS frames lie in between).
    gic: GicFrames::V3 {
        gicd: 0x3000_0000,
        gicr: 0x301c_0000,
    },
    // MT is set (Aff0 = thread), one CPU per cluster: cluster n is Aff2 = n.
    cpus: &[
        0x00000, 0x10000, 0x20000, 0x30000, 0x40000, 0x50000, 0x60000, 0x70000, 0x80000, 0x90000,
        0xa0000, 0xb0000, 0xc0000, 0xd0000, 0xe0000, 0xf0000,
    ],
    // css_def.h: PLAT_ARM_NS_IMAGE_BASE.
    bl33_base: Some(0xe000_0000),
    // The GIC-700's six ITSes (0x3004_0000 + n * 0x4_0000, between GICD and GICR), which
    // our DT does not describe: the host could still program them at these addresses.
    dma_undescribed: &[("GICv3 ITS x6", 0x3004_0000..0x301c_0000)],
    dma_trusted: &[],
};

/// Every board the hypervisor knows.
pub const BOARDS: &[Board] = &[QEMU_VIRT, JUNO, RDN2_FVP];

/// The board this image is built for (its early console and default DTB address).
#[cfg(feature = "juno")]
pub const BOOT: &Board = &JUNO;
/// The board this image is built for (its early console and default DTB address).
#[cfg(all(feature = "rdn2-fvp", not(feature = "juno")))]
pub const BOOT: &Board = &RDN2_FVP;
/// The board this image is built for (its early console and default DTB address).
#[cfg(not(any(feature = "juno", feature = "rdn2-fvp")))]
pub const BOOT: &Board = &QEMU_VIRT;

/// The known board whose `compatible` list contains `compatible`.
pub fn by_compatible(compatible: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.compatible.contains(&compatible))
}

/// A device tree for a board the hypervisor does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownBoard<'a> {
    /// The DT's root `compatible` strings.
    pub compatible: &'a [&'a str],
    /// The UART `/chosen/stdout-path` names, if any.
    pub stdout_path_uart: Option<u64>,
}

fn quoted_list(f: &mut fmt::Formatter<'_>, items: &[&str]) -> fmt::Result {
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str("\"")?;
        escape(f, s)?;
        f.write_str("\"")?;
    }
    Ok(())
}

/// `str::escape_default`, written out: the same as `escape_debug` for every character a DT
/// string can hold, without core's Unicode tables and with less code in the image.
fn escape(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write as _;
    for c in s.chars() {
        match c {
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            '\n' => f.write_str("\\n")?,
            // Two `write_char`s rather than `write!`: no `char` Display in the image.
            '\\' | '\'' | '"' => {
                f.write_char('\\')?;
                f.write_char(c)?
            }
            ' '..='~' => f.write_char(c)?,
            _ => write!(f, "\\u{{{:x}}}", u32::from(c))?,
        }
    }
    Ok(())
}

impl fmt::Display for UnknownBoard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.compatible.is_empty() {
            f.write_str("unknown board: the device tree has no root compatible")?;
        } else {
            f.write_str("unknown board: device tree compatible ")?;
            quoted_list(f, self.compatible)?;
        }
        if let Some(uart) = self.stdout_path_uart {
            write!(f, " (console UART {uart:#x})")?;
        }
        f.write_str("; supported: ")?;
        for (i, board) in BOARDS.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} (", board.name)?;
            quoted_list(f, board.compatible)?;
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl core::error::Error for UnknownBoard<'_> {}

/// The board a device tree describes: the first of its root `compatible` strings (in the
/// DT's order, most specific first) that a known board lists. Should two boards list the
/// same string, the one whose UARTs include `stdout_path_uart` wins, else the first.
///
/// `stdout_path_uart` is the MMIO base of the UART `/chosen/stdout-path` names (what
/// `hypervisor::dt::SystemInfo::uart` holds); it is also quoted in the error.
pub fn select<'a>(
    compatible: &'a [&'a str],
    stdout_path_uart: Option<u64>,
) -> Result<&'static Board, UnknownBoard<'a>> {
    for &c in compatible {
        let mut matching = BOARDS.iter().filter(|b| b.compatible.contains(&c));
        let Some(first) = matching.next() else {
            continue;
        };
        let by_uart = stdout_path_uart.and_then(|u| {
            core::iter::once(first)
                .chain(matching)
                .find(|b| b.uarts.contains(&u))
        });
        return Ok(by_uart.unwrap_or(first));
    }
    Err(UnknownBoard {
        compatible,
        stdout_path_uart,
    })
}

/// A device tree for a known board that this image was not built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongBuild {
    /// The board the DT describes.
    pub dt_board: &'static Board,
    /// The board this image was built for ([`BOOT`]).
    pub built_for: &'static Board,
}

impl fmt::Display for WrongBuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the device tree is for {}, this image is built for {} (early console {:#x}): \
             build it with `make image PLATFORM={}`",
            self.dt_board.name, self.built_for.name, self.built_for.early_uart, self.dt_board.name
        )
    }
}

impl core::error::Error for WrongBuild {}

/// Whether this image may run on `board`: its early console and default DTB address are
/// those of [`BOOT`], so a DT for any other board means the wrong image was loaded.
pub fn check_build(board: &'static Board) -> Result<(), WrongBuild> {
    check_build_for(board, BOOT)
}

fn check_build_for(board: &'static Board, built_for: &'static Board) -> Result<(), WrongBuild> {
    if board.name == built_for.name {
        Ok(())
    } else {
        Err(WrongBuild {
            dt_board: board,
            built_for,
        })
    }
}

impl Board {
    /// Whether `[addr, addr + len)` lies in one of the board's Non-secure DRAM ranges.
    pub fn is_ram(&self, addr: u64, len: u64) -> bool {
        addr.checked_add(len)
            .is_some_and(|end| self.ram.iter().any(|r| r.start <= addr && end <= r.end))
    }

    /// Addresses to try for the DTB, in order: the loader's `x0` when it can be one (not
    /// 0, 8-byte aligned, inside the board's DRAM: TF-A on Arm platforms passes BL33
    /// MPIDR[15:0] in x0, e.g. 0x100 for a Juno A53, which is Secure ROM), then
    /// [`Board::default_dtb`]. The caller still checks that it can read each address.
    pub fn dtb_candidates(&self, x0: u64) -> impl Iterator<Item = u64> {
        let from_loader = (x0 != 0 && x0.is_multiple_of(8) && self.is_ram(x0, 40)).then_some(x0);
        from_loader
            .into_iter()
            .chain(self.default_dtb.filter(|&d| Some(d) != from_loader))
    }

    /// The UART to use once the DT is parsed: the one `/chosen/stdout-path` names, or, if
    /// the DT names none, the board's console.
    pub fn console(&self, stdout_path_uart: Option<u64>) -> u64 {
        stdout_path_uart.unwrap_or(self.early_uart)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_virt_is_found_by_its_compatible() {
        assert_eq!(by_compatible("linux,dummy-virt"), Some(&QEMU_VIRT));
        assert_eq!(by_compatible("arm,juno-r2"), Some(&JUNO));
        assert_eq!(by_compatible("arm,vexpress"), None);
    }

    #[test]
    fn boot_board_is_known() {
        assert!(BOARDS.contains(BOOT));
    }

    #[test]
    fn board_names_and_compatibles_are_unique() {
        for (i, a) in BOARDS.iter().enumerate() {
            for b in &BOARDS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert!(
                    !a.compatible.iter().any(|c| b.compatible.contains(c)),
                    "{} and {} share a compatible",
                    a.name,
                    b.name
                );
            }
            assert!(a.uarts.contains(&a.early_uart), "{}", a.name);
            assert!(a.ram.iter().all(|r| r.start < r.end), "{}", a.name);
            if let Some(d) = a.default_dtb {
                assert!(a.is_ram(d, 0x1000), "{}: default DTB outside RAM", a.name);
            }
            if let Some(b) = a.bl33_base {
                assert!(
                    b.is_multiple_of(0x20_0000),
                    "{}: BL33 not 2 MiB aligned",
                    a.name
                );
                assert!(a.is_ram(b, 0x20_0000), "{}: BL33 slot outside RAM", a.name);
            }
        }
    }

    #[test]
    fn select_follows_the_dt_order_of_compatible_strings() {
        let juno_r1 = ["arm,juno-r1", "arm,juno", "arm,vexpress"];
        assert_eq!(select(&juno_r1, Some(0x7ff8_0000)), Ok(&JUNO));
        assert_eq!(select(&["arm,vexpress", "arm,juno"], None), Ok(&JUNO));
        assert_eq!(
            select(&["linux,dummy-virt"], Some(0x0900_0000)),
            Ok(&QEMU_VIRT)
        );
        assert_eq!(select(&["arm,rd-n2"], Some(0x0ef7_0000)), Ok(&RDN2_FVP));
    }

    #[test]
    fn select_does_not_second_guess_the_console() {
        // stdout-path on a UART the facts do not list: the DT's board still wins.
        assert_eq!(select(&["arm,juno"], Some(0x1c09_0000)), Ok(&JUNO));
    }

    #[test]
    fn unknown_board_names_what_it_saw_and_what_is_supported() {
        let compat = ["acme,widget", "acme,base"];
        let err = select(&compat, Some(0x1c09_0000)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown board: device tree compatible \"acme,widget\", \"acme,base\" \
             (console UART 0x1c090000); supported: qemu-virt (\"linux,dummy-virt\"), \
             juno (\"arm,juno\", \"arm,juno-r1\", \"arm,juno-r2\"), \
             rdn2-fvp (\"arm,rd-n2-fvp\", \"arm,rd-n2\")"
        );
        let err = select(&[], None).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "unknown board: the device tree has no root compatible; supported: qemu-virt"
            ),
            "{err}"
        );
        // A hostile string cannot break the line.
        let err = select(&["a\"\nb"], None).unwrap_err();
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn wrong_build_names_both_boards_and_the_fix() {
        assert_eq!(check_build_for(&JUNO, &JUNO), Ok(()));
        let err = check_build_for(&JUNO, &QEMU_VIRT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the device tree is for juno, this image is built for qemu-virt (early console \
             0x9000000): build it with `make image PLATFORM=juno`"
        );
        assert_eq!(check_build(BOOT), Ok(()));
    }

    #[test]
    fn dtb_candidates_skip_what_cannot_be_a_dtb() {
        let qemu: Vec<u64> = QEMU_VIRT.dtb_candidates(0).collect();
        assert_eq!(qemu, [0x4000_0000]);
        let qemu: Vec<u64> = QEMU_VIRT.dtb_candidates(0x4400_0000).collect();
        assert_eq!(qemu, [0x4400_0000, 0x4000_0000]);
        assert_eq!(
            QEMU_VIRT.dtb_candidates(0x4000_0000).collect::<Vec<_>>(),
            [0x4000_0000]
        );
        // TF-A's BL33 x0 on Juno is MPIDR[15:0]: 0x100 on an A53 is not a DTB.
        assert_eq!(JUNO.dtb_candidates(0x100).count(), 0);
        assert_eq!(JUNO.dtb_candidates(0x8300_0004).count(), 0, "unaligned");
        assert_eq!(JUNO.dtb_candidates(0xff00_0000).count(), 0, "Secure DRAM");
        assert_eq!(
            JUNO.dtb_candidates(0x8300_0000).collect::<Vec<_>>(),
            [0x8300_0000]
        );
        assert_eq!(RDN2_FVP.dtb_candidates(0).count(), 0);
        assert_eq!(
            RDN2_FVP.dtb_candidates(0xfef0_0000).collect::<Vec<_>>(),
            [0xfef0_0000]
        );
    }

    #[test]
    fn console_prefers_stdout_path() {
        assert_eq!(JUNO.console(None), 0x7ff8_0000);
        assert_eq!(RDN2_FVP.console(Some(0x0ef7_0000)), 0x0ef7_0000);
    }
}
