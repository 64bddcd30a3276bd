//! The FF-A proxy's hardware side on the firmware target: the SMC conduit, the
//! hypervisor's own RX/TX pages, and EL2 copies to and from physical memory.
//!
//! The EL2 stage-1 map (`crate::stage1`, built in `firmware/boot.rs`) identity-maps the
//! carve-out and all RAM outside it read-write (Normal, write-back, inner shareable, like the
//! host's and the SPMC's mappings of the same pages, so no cache maintenance is needed), so a
//! physical address is also the virtual address to use. The proxy names only pages it has checked:
//! its own mailbox pages below, and host mailbox pages inside the ownership map's RAM, which
//! `firmware/boot.rs` limits to RAM the EL2 map covers.

use core::ptr;

use crate::budget::MAILBOX_SIZE;
use crate::ffa::PhysMem;
use crate::firmware::arch;
use crate::smccc::{High, SmcConduit, SmcRegs};
use crate::sync::AddressOnly;

/// One mailbox buffer: a 4 KiB page, page-aligned.
#[repr(C, align(4096))]
pub struct MailboxPage([u8; MAILBOX_SIZE]);

const _: () = assert!(core::mem::size_of::<MailboxPage>() as u64 == crate::addr::PAGE);

/// The hypervisor's TX (index 0) and RX (index 1) pages, registered with the SPMC for
/// endpoint 0. In the carve-out's BSS: the host cannot reach them. Only their addresses are
/// taken; their contents are read and written with volatile accesses through [`FfaPlatform`]
/// (the SPMC writes the RX page during our SMCs).
static MAILBOX: AddressOnly<[MailboxPage; 2]> = AddressOnly::new([
    MailboxPage([0; MAILBOX_SIZE]),
    MailboxPage([0; MAILBOX_SIZE]),
]);

/// Physical (= EL2 virtual) addresses of the hypervisor's (TX, RX) pages.
pub fn mailbox_pages() -> (u64, u64) {
    let base = MAILBOX.as_ptr() as u64;
    (base, base + MAILBOX_SIZE as u64)
}

/// The conduit and memory the proxy uses on this CPU.
pub struct FfaPlatform;

impl SmcConduit for FfaPlatform {
    #[inline(always)]
    fn smc(&mut self, regs: &SmcRegs) -> SmcRegs {
        arch::Smc.call(regs)
    }

    #[inline(always)]
    fn smc_in_place(&mut self, x0: u64, regs: &mut SmcRegs, high: High) -> [u64; 8] {
        arch::Smc.call_in_place(x0, regs, high)
    }
}

impl PhysMem for FfaPlatform {
    fn read(&mut self, pa: u64, dst: &mut [u8]) {
        let mut i = 0;
        // Whole words while the source is aligned (descriptors and pages always are).
        if pa.is_multiple_of(8) && dst.as_ptr().cast::<u64>().is_aligned() {
            // Whole words on both sides (the target forbids unaligned stores, so a word into
            // a byte array would otherwise be eight byte stores).
            let words = dst.len() / 8;
            let to = dst.as_mut_ptr().cast::<u64>();
            for k in 0..words {
                // SAFETY: `pa + 8k` is inside a page the proxy checked (see the module docs),
                // mapped read-write at EL2, and 8-byte aligned; a volatile read of memory that
                // another agent may write has no other effect. `to + k` is inside `dst`
                // (k < len / 8) and aligned (checked above).
                unsafe {
                    let w = ptr::read_volatile((pa + 8 * k as u64) as *const u64);
                    to.add(k).write(w);
                }
            }
            i = words * 8;
        } else if pa.is_multiple_of(8) {
            let (words, _) = dst.as_chunks_mut::<8>();
            for word in words {
                // SAFETY: as above, for `pa + i`.
                *word = unsafe { ptr::read_volatile((pa + i as u64) as *const u64) }.to_le_bytes();
                i += 8;
            }
        }
        for b in &mut dst[i..] {
            // SAFETY: as above, one byte.
            *b = unsafe { ptr::read_volatile((pa + i as u64) as *const u8) };
            i += 1;
        }
    }

    /// Whole words when both sides are aligned (the mailbox pages always are), else bytes.
    fn copy(&mut self, dst: u64, src: u64, len: usize) {
        let mut i = 0;
        if dst.is_multiple_of(8) && src.is_multiple_of(8) {
            while i + 8 <= len as u64 {
                // SAFETY: `src + i` and `dst + i` are inside pages the proxy checked (see the
                // module docs), mapped read-write at EL2, and 8-byte aligned; nothing in Rust
                // holds a reference to them.
                unsafe {
                    let w = ptr::read_volatile((src + i) as *const u64);
                    ptr::write_volatile((dst + i) as *mut u64, w);
                }
                i += 8;
            }
        }
        while i < len as u64 {
            // SAFETY: as above, one byte.
            unsafe {
                let b = ptr::read_volatile((src + i) as *const u8);
                ptr::write_volatile((dst + i) as *mut u8, b);
            }
            i += 1;
        }
    }

    /// `DC ZVA` over the whole blocks (64 bytes on QEMU's CPUs: 64 instructions for 4 KiB
    /// where word stores take 512), word and byte stores around them.
    fn zero(&mut self, pa: u64, len: usize) {
        let end = pa + len as u64;
        let mut at = pa;
        let dczid: u64;
        // SAFETY: reading DCZID_EL0 has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags))
        };
        // DCZID_EL0.DZP (bit 4) prohibits DC ZVA; BS (bits 3:0) is log2 of the block in words.
        let block = if dczid & (1 << 4) == 0 {
            4u64 << (dczid & 0xF)
        } else {
            0
        };
        while at < end && !at.is_multiple_of(8) {
            // SAFETY: `at` is inside the range the caller named, in a page the proxy checked
            // (see the module docs), mapped read-write at EL2.
            unsafe { ptr::write_volatile(at as *mut u8, 0) };
            at += 1;
        }
        if block != 0 {
            while at + 8 <= end && !at.is_multiple_of(block) {
                // SAFETY: as above, an aligned word.
                unsafe { ptr::write_volatile(at as *mut u64, 0) };
                at += 8;
            }
            while at + block <= end {
                // SAFETY: `at..at + block` is inside the range (as above), block-aligned, and
                // Normal memory (the EL2 map's RAM), as DC ZVA requires.
                unsafe { core::arch::asm!("dc zva, {}", in(reg) at, options(nostack)) };
                at += block;
            }
        }
        while at + 8 <= end {
            // SAFETY: as above, an aligned word.
            unsafe { ptr::write_volatile(at as *mut u64, 0) };
            at += 8;
        }
        while at < end {
            // SAFETY: as above, one byte.
            unsafe { ptr::write_volatile(at as *mut u8, 0) };
            at += 1;
        }
    }

    fn write(&mut self, pa: u64, src: &[u8]) {
        let mut i = 0;
        if pa.is_multiple_of(8) && src.as_ptr().cast::<u64>().is_aligned() {
            let words = src.len() / 8;
            let from = src.as_ptr().cast::<u64>();
            for k in 0..words {
                // SAFETY: `pa + 8k` is inside a page the proxy checked (see the module docs),
                // mapped read-write at EL2, and 8-byte aligned; nothing in Rust holds a
                // reference to it. `from + k` is inside `src` and aligned (checked above).
                unsafe {
                    ptr::write_volatile((pa + 8 * k as u64) as *mut u64, from.add(k).read());
                }
            }
            i = words * 8;
        } else if pa.is_multiple_of(8) {
            let (words, _) = src.as_chunks::<8>();
            for word in words {
                // SAFETY: as above, for `pa + i`.
                unsafe {
                    ptr::write_volatile((pa + i as u64) as *mut u64, u64::from_le_bytes(*word))
                };
                i += 8;
            }
        }
        for b in &src[i..] {
            // SAFETY: as above, one byte.
            unsafe { ptr::write_volatile((pa + i as u64) as *mut u8, *b) };
            i += 1;
        }
    }
}
