//! The arm64 Linux `Image` header (Documentation/arch/arm64/booting.rst, "Call the kernel
//! image").
//!
//! ```text
//! off  field         notes
//! 0x00 code0/code1   executable; ignored here
//! 0x08 text_offset   LE u64: image start = 2 MiB-aligned base + text_offset
//! 0x10 image_size    LE u64: bytes from image start the kernel may use (incl. BSS)
//! 0x18 flags         LE u64: bit 0 BE, bits 1-2 page size, bit 3 physical placement
//! 0x20 res2..res4    reserved
//! 0x38 magic         LE u32 0x644d5241 ("ARM\x64")
//! 0x3c res5          PE/COFF header offset; ignored here
//! ```
//!
//! Policy decisions, each rejecting what we cannot boot safely:
//! * `image_size == 0` marks a pre-3.17 kernel. booting.rst then says to assume
//!   `text_offset = 0x80000`, but the kernel's memory footprint (BSS, early page tables)
//!   is unknown and `flags` is not defined, so we cannot check placement against the
//!   carve-out, initrd or DTB. Such kernels (2014 and older) are **rejected**.
//! * Big-endian kernels (flags bit 0) are rejected: the hypervisor enters EL1 with
//!   little-endian data accesses and the host interface is LE only.
//! * Page size (bits 1-2) is accepted whatever it says; the kernel checks the CPU itself.
//! * Bit 3 is reported as [`PhysPlacement`] and honoured by [`crate::placement`].
//! * Bits 4-63 are reserved; they are ignored (future kernels may define them).
//! * `text_offset` must be 4 KiB-aligned and below 2 MiB: every kernel used 0x80000, a
//!   page-aligned random offset (RANDOMIZE_TEXT_OFFSET), or 0 (since 5.8). Anything else
//!   would start the kernel at a misaligned address or outside its 2 MiB slot.
//! * `image_size` above 2^48 cannot fit any physical address space we boot on.

use core::fmt;

/// Bytes of header the hypervisor must read from the start of the kernel module.
pub const HEADER_LEN: usize = 64;
/// "ARM\x64" little-endian at offset 0x38.
pub const MAGIC: u32 = 0x644d_5241;
/// Largest `text_offset` accepted (exclusive).
pub const MAX_TEXT_OFFSET: u64 = 2 << 20;
/// Largest `image_size` accepted: the 48-bit physical limit of booting.rst's flag bit 3.
pub const MAX_IMAGE_SIZE: u64 = 1 << 48;

const FLAG_BE: u64 = 1 << 0;
const FLAG_PAGE_SIZE_SHIFT: u64 = 1;
const FLAG_PHYS_ANYWHERE: u64 = 1 << 3;

/// A checked arm64 Image header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    /// Offset of the image from its 2 MiB-aligned base.
    pub text_offset: u64,
    /// Bytes from the image start that the kernel owns once running (never 0 here).
    pub image_size: u64,
    /// The flags word.
    pub flags: ImageFlags,
}

/// The header's `flags` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageFlags(pub u64);

/// Kernel page size from flags bits 1-2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    /// 0: not specified.
    Unspecified,
    /// 1: 4 KiB.
    K4,
    /// 2: 16 KiB.
    K16,
    /// 3: 64 KiB.
    K64,
}

/// Where the kernel may be placed, from flags bit 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhysPlacement {
    /// Bit 3 = 0: the base "should be as close as possible to the base of DRAM, since
    /// memory below it is not accessible via the linear mapping" (kernels 3.17-4.5).
    NearDramStart,
    /// Bit 3 = 1: anywhere, as long as the whole image lies below 2^48 (4.6 and later).
    Anywhere48Bit,
}

impl ImageFlags {
    /// Bit 0: the kernel is big-endian.
    pub const fn big_endian(self) -> bool {
        self.0 & FLAG_BE != 0
    }

    /// Bits 1-2.
    pub const fn page_size(self) -> PageSize {
        match (self.0 >> FLAG_PAGE_SIZE_SHIFT) & 3 {
            1 => PageSize::K4,
            2 => PageSize::K16,
            3 => PageSize::K64,
            _ => PageSize::Unspecified,
        }
    }

    /// Bit 3.
    pub const fn placement(self) -> PhysPlacement {
        if self.0 & FLAG_PHYS_ANYWHERE != 0 {
            PhysPlacement::Anywhere48Bit
        } else {
            PhysPlacement::NearDramStart
        }
    }
}

/// Why a kernel Image is refused; every variant carries the module address it was at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Fewer than [`HEADER_LEN`] header bytes were supplied.
    Truncated {
        /// Kernel module address.
        at: u64,
        /// Bytes supplied.
        len: usize,
    },
    /// The kernel module itself is shorter than the header.
    ModuleTooSmall {
        /// Kernel module address.
        at: u64,
        /// Module size from the DT.
        module_size: u64,
    },
    /// No "ARM\x64" magic: not an arm64 Image (a zImage, an ELF, a compressed Image...).
    BadMagic {
        /// Kernel module address.
        at: u64,
        /// Word found at offset 0x38.
        found: u32,
    },
    /// `image_size` is 0: a pre-3.17 kernel (see the module doc).
    PreV3_17 {
        /// Kernel module address.
        at: u64,
    },
    /// Flags bit 0 is set.
    BigEndian {
        /// Kernel module address.
        at: u64,
    },
    /// `text_offset` is not 4 KiB-aligned.
    TextOffsetUnaligned {
        /// Kernel module address.
        at: u64,
        /// The value.
        text_offset: u64,
    },
    /// `text_offset` is 2 MiB or more.
    TextOffsetTooLarge {
        /// Kernel module address.
        at: u64,
        /// The value.
        text_offset: u64,
    },
    /// `image_size` is above [`MAX_IMAGE_SIZE`].
    ImageSizeTooLarge {
        /// Kernel module address.
        at: u64,
        /// The value.
        image_size: u64,
    },
    /// `image_size` is smaller than the module: the header lies, or the module is
    /// something else with a stale header in front.
    ImageSizeBelowFile {
        /// Kernel module address.
        at: u64,
        /// The value.
        image_size: u64,
        /// Module size from the DT.
        module_size: u64,
    },
}

impl core::error::Error for ImageError {}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { at, len } => write!(
                f,
                "kernel Image at {at:#x}: header truncated ({len} bytes, need {HEADER_LEN})"
            ),
            Self::ModuleTooSmall { at, module_size } => write!(
                f,
                "kernel Image at {at:#x}: module is {module_size:#x} bytes, smaller than the \
                 {HEADER_LEN}-byte header"
            ),
            Self::BadMagic { at, found } => write!(
                f,
                "kernel Image at {at:#x}: bad magic {found:#010x} (expected {MAGIC:#010x})"
            ),
            Self::PreV3_17 { at } => write!(
                f,
                "kernel Image at {at:#x}: image_size is 0 (pre-3.17 kernel), not supported"
            ),
            Self::BigEndian { at } => write!(
                f,
                "kernel Image at {at:#x}: big-endian kernel (flags bit 0), not supported"
            ),
            Self::TextOffsetUnaligned { at, text_offset } => write!(
                f,
                "kernel Image at {at:#x}: text_offset {text_offset:#x} is not 4 KiB-aligned"
            ),
            Self::TextOffsetTooLarge { at, text_offset } => write!(
                f,
                "kernel Image at {at:#x}: text_offset {text_offset:#x} is not below 2 MiB"
            ),
            Self::ImageSizeTooLarge { at, image_size } => write!(
                f,
                "kernel Image at {at:#x}: image_size {image_size:#x} exceeds the 48-bit \
                 physical address space"
            ),
            Self::ImageSizeBelowFile {
                at,
                image_size,
                module_size,
            } => write!(
                f,
                "kernel Image at {at:#x}: image_size {image_size:#x} is smaller than the \
                 {module_size:#x}-byte module"
            ),
        }
    }
}

/// Little-endian word at a fixed offset of the (length-checked) header.
fn le64(hdr: &[u8], off: usize) -> u64 {
    hdr.get(off..off + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn le32(hdr: &[u8], off: usize) -> u32 {
    hdr.get(off..off + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

impl ImageHeader {
    /// Parse and check the first bytes of the kernel module at `at`, `module_size` bytes
    /// long. `bytes` may be longer than [`HEADER_LEN`]; only the header is read.
    pub fn parse(bytes: &[u8], at: u64, module_size: u64) -> Result<Self, ImageError> {
        let Some(hdr) = bytes.get(..HEADER_LEN) else {
            return Err(ImageError::Truncated {
                at,
                len: bytes.len(),
            });
        };
        if module_size < HEADER_LEN as u64 {
            return Err(ImageError::ModuleTooSmall { at, module_size });
        }
        let magic = le32(hdr, 0x38);
        if magic != MAGIC {
            return Err(ImageError::BadMagic { at, found: magic });
        }
        let text_offset = le64(hdr, 0x08);
        let image_size = le64(hdr, 0x10);
        let flags = ImageFlags(le64(hdr, 0x18));
        // Checked before the flags: in a pre-3.17 header they are not defined.
        if image_size == 0 {
            return Err(ImageError::PreV3_17 { at });
        }
        if flags.big_endian() {
            return Err(ImageError::BigEndian { at });
        }
        if text_offset >= MAX_TEXT_OFFSET {
            return Err(ImageError::TextOffsetTooLarge { at, text_offset });
        }
        if !text_offset.is_multiple_of(4096) {
            return Err(ImageError::TextOffsetUnaligned { at, text_offset });
        }
        if image_size > MAX_IMAGE_SIZE {
            return Err(ImageError::ImageSizeTooLarge { at, image_size });
        }
        if image_size < module_size {
            return Err(ImageError::ImageSizeBelowFile {
                at,
                image_size,
                module_size,
            });
        }
        Ok(Self {
            text_offset,
            image_size,
            flags,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::{string::ToString, vec::Vec};

    const AT: u64 = 0x4800_0000;

    /// A header as `make Image` writes it (code words, fields, magic, PE offset).
    pub(crate) fn header(text_offset: u64, image_size: u64, flags: u64) -> Vec<u8> {
        let mut h = alloc::vec![0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&0xfa40_5a4du32.to_le_bytes()); // "MZ" + branch, as Linux
        h[0x08..0x10].copy_from_slice(&text_offset.to_le_bytes());
        h[0x10..0x18].copy_from_slice(&image_size.to_le_bytes());
        h[0x18..0x20].copy_from_slice(&flags.to_le_bytes());
        h[0x38..0x3c].copy_from_slice(&MAGIC.to_le_bytes());
        h[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        h
    }

    /// Flags of a modern 4K-page kernel: LE, 4K, place anywhere.
    pub(crate) const MODERN: u64 = 0b1010;

    #[test]
    fn modern_kernel_header_parses() {
        let h = ImageHeader::parse(&header(0, 0x2c9_0000, MODERN), AT, 0x21f_0000).unwrap();
        assert_eq!(h.text_offset, 0);
        assert_eq!(h.image_size, 0x2c9_0000);
        assert_eq!(h.flags.page_size(), PageSize::K4);
        assert_eq!(h.flags.placement(), PhysPlacement::Anywhere48Bit);
        assert!(!h.flags.big_endian());
    }

    #[test]
    fn old_style_text_offset_and_bit3_clear_parse() {
        let h = ImageHeader::parse(&header(0x8_0000, 0x100_0000, 0), AT, 0x80_0000).unwrap();
        assert_eq!(h.text_offset, 0x8_0000);
        assert_eq!(h.flags.page_size(), PageSize::Unspecified);
        assert_eq!(h.flags.placement(), PhysPlacement::NearDramStart);
    }

    #[test]
    fn every_page_size_is_accepted() {
        for (bits, size) in [(1, PageSize::K4), (2, PageSize::K16), (3, PageSize::K64)] {
            let h = ImageHeader::parse(&header(0, 0x10_0000, bits << 1), AT, 0x1000).unwrap();
            assert_eq!(h.flags.page_size(), size, "flags bits 1-2 = {bits}");
        }
    }

    #[test]
    fn reserved_flag_bits_are_ignored() {
        let flags = MODERN | 0xffff_ffff_ffff_fff0;
        assert!(ImageHeader::parse(&header(0, 0x10_0000, flags), AT, 0x1000).is_ok());
    }

    #[test]
    fn bad_magic_is_named_with_address_and_values() {
        let mut h = header(0, 0x10_0000, MODERN);
        h[0x38..0x3c].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        let err = ImageHeader::parse(&h, AT, 0x1000).unwrap_err();
        assert_eq!(
            err,
            ImageError::BadMagic {
                at: AT,
                found: 0x1234_5678
            }
        );
        assert_eq!(
            err.to_string(),
            "kernel Image at 0x48000000: bad magic 0x12345678 (expected 0x644d5241)"
        );
    }

    #[test]
    fn big_endian_flag_is_rejected() {
        let err = ImageHeader::parse(&header(0, 0x10_0000, MODERN | 1), AT, 0x1000).unwrap_err();
        assert_eq!(err, ImageError::BigEndian { at: AT });
    }

    #[test]
    fn truncated_header_is_rejected() {
        let h = header(0, 0x10_0000, MODERN);
        let err = ImageHeader::parse(&h[..63], AT, 0x1000).unwrap_err();
        assert_eq!(err, ImageError::Truncated { at: AT, len: 63 });
        assert!(
            err.to_string()
                .contains("header truncated (63 bytes, need 64)")
        );
        assert_eq!(
            ImageHeader::parse(&[], AT, 0x1000),
            Err(ImageError::Truncated { at: AT, len: 0 })
        );
    }

    #[test]
    fn module_smaller_than_header_is_rejected() {
        let h = header(0, 0x10_0000, MODERN);
        assert_eq!(
            ImageHeader::parse(&h, AT, 32),
            Err(ImageError::ModuleTooSmall {
                at: AT,
                module_size: 32
            })
        );
    }

    #[test]
    fn image_size_zero_is_a_pre_3_17_kernel_and_rejected() {
        // Pre-3.17 headers: text_offset 0x80000, image_size 0, flags 0.
        let err = ImageHeader::parse(&header(0x8_0000, 0, 0), AT, 0x1000).unwrap_err();
        assert_eq!(err, ImageError::PreV3_17 { at: AT });
        assert!(err.to_string().contains("pre-3.17"));
    }

    #[test]
    fn unaligned_text_offset_is_rejected() {
        let err = ImageHeader::parse(&header(0x8_0010, 0x10_0000, MODERN), AT, 0x1000);
        assert_eq!(
            err,
            Err(ImageError::TextOffsetUnaligned {
                at: AT,
                text_offset: 0x8_0010
            })
        );
    }

    #[test]
    fn huge_values_are_rejected_not_wrapped() {
        let to = ImageHeader::parse(&header(u64::MAX, 0x10_0000, MODERN), AT, 0x1000);
        assert_eq!(
            to,
            Err(ImageError::TextOffsetTooLarge {
                at: AT,
                text_offset: u64::MAX
            })
        );
        let is = ImageHeader::parse(&header(0, u64::MAX, MODERN), AT, 0x1000);
        assert_eq!(
            is,
            Err(ImageError::ImageSizeTooLarge {
                at: AT,
                image_size: u64::MAX
            })
        );
        // Exactly 2 MiB is outside the 2 MiB slot too.
        assert!(matches!(
            ImageHeader::parse(&header(2 << 20, 0x10_0000, MODERN), AT, 0x1000),
            Err(ImageError::TextOffsetTooLarge { .. })
        ));
    }

    #[test]
    fn image_size_smaller_than_module_is_rejected() {
        let err = ImageHeader::parse(&header(0, 0x1000, MODERN), AT, 0x2000).unwrap_err();
        assert_eq!(
            err,
            ImageError::ImageSizeBelowFile {
                at: AT,
                image_size: 0x1000,
                module_size: 0x2000
            }
        );
        assert_eq!(
            err.to_string(),
            "kernel Image at 0x48000000: image_size 0x1000 is smaller than the 0x2000-byte module"
        );
    }
}
