//! Trap-and-emulate of MMIO: a host data abort on a page the hypervisor left out of the host's
//! stage 2 on purpose (an emulated device register page) is decoded from its syndrome,
//! performed on the device's behalf, and the host resumes after the instruction, as if the
//! access had reached the device.
//!
//! Only what the syndrome describes is emulated (Arm ARM D24.2.41, ESR_EL2 ISS for a data
//! abort): ISS.ISV = 1 means a single load or store of one general-purpose register without
//! writeback, with the access size (SAS), sign extension (SSE), the register (SRT; 31 is
//! XZR for these instructions), the register width (SF) and the direction (WnR). Anything
//! else is refused with an external abort, as an access the device cannot take would give:
//! no valid syndrome (pairs, SIMD registers, writeback forms, atomics), an access from
//! AArch32, a cache-maintenance or stage-1 walk fault, a fault whose FAR is not valid (FnV:
//! the offset in the page is unknown), an unaligned address, and any size a device refuses.
//!
//! A device is an [`MmioDevice`]; [`emulate`] is the whole path, from the syndrome to the
//! register file and the return address. The firmware calls it with the host's saved frame
//! and injects the abort (`crate::abort`) when it answers [`Refusal`].

use crate::frame::HostFrame;

/// ISS.ISV: the syndrome's bits \[23:14\] are valid.
const ISS_ISV: u64 = 1 << 24;
/// ISS.SAS: access size, log2 of the bytes.
const ISS_SAS_SHIFT: u64 = 22;
/// ISS.SSE: sign-extend the loaded value.
const ISS_SSE: u64 = 1 << 21;
/// ISS.SRT: the register transferred.
const ISS_SRT_SHIFT: u64 = 16;
/// ISS.SF: the register is 64 bits wide (Xt), else 32 (Wt).
const ISS_SF: u64 = 1 << 15;
/// ISS.FnV: FAR_EL2 is not valid (the register offset within the page is unknown).
const ISS_FNV: u64 = 1 << 10;
/// ISS.CM: a cache-maintenance instruction.
const ISS_CM: u64 = 1 << 8;
/// ISS.S1PTW: a stage-1 translation table walk.
const ISS_S1PTW: u64 = 1 << 7;
/// ISS.WnR: a write.
const ISS_WNR: u64 = 1 << 6;
/// ESR.IL: a 32-bit instruction (else a 16-bit T32 one).
const ESR_IL: u64 = 1 << 25;
/// SPSR.M\[4\]: the host was in AArch32.
const SPSR_AARCH32: u64 = 1 << 4;
/// The register number that reads as zero and ignores writes in these instructions.
const XZR: u8 = 31;

/// One decoded access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// The faulting IPA.
    pub ipa: u64,
    /// Bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// A store (else a load).
    pub write: bool,
    /// The register, 0..=30, or 31 for XZR.
    pub reg: u8,
    /// A load sign-extends the value to the register's width.
    pub sign_extend: bool,
    /// The register is 64 bits wide (Xt); a 32-bit one (Wt) gets its upper half zeroed.
    pub wide: bool,
}

/// Why an access is refused (the host gets an external abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No valid syndrome (ISS.ISV = 0): not a single general-register load or store.
    NoSyndrome,
    /// From AArch32, a cache-maintenance instruction, a stage-1 walk, or no valid FAR.
    NotEmulated,
    /// The address is not a multiple of the size.
    Unaligned,
    /// The device does not take this size at this register.
    Size,
}

impl Refusal {
    /// The refusal's name for the console.
    pub const fn name(self) -> &'static str {
        match self {
            Refusal::NoSyndrome => "no valid syndrome",
            Refusal::NotEmulated => "not a plain load or store",
            Refusal::Unaligned => "unaligned",
            Refusal::Size => "size not supported by the register",
        }
    }
}

/// Decodes the data abort `esr` at `ipa`, the host having been in PSTATE `spsr`.
pub fn decode(esr: u64, ipa: u64, spsr: u64) -> Result<Access, Refusal> {
    if esr & ISS_ISV == 0 {
        return Err(Refusal::NoSyndrome);
    }
    // AArch32 registers map onto the X registers by mode (banked R13/R14): not worth it for
    // device registers only the kernel touches.
    if spsr & SPSR_AARCH32 != 0 || esr & (ISS_FNV | ISS_CM | ISS_S1PTW) != 0 {
        return Err(Refusal::NotEmulated);
    }
    let size = 1u8 << ((esr >> ISS_SAS_SHIFT) & 3);
    if ipa & (u64::from(size) - 1) != 0 {
        return Err(Refusal::Unaligned);
    }
    Ok(Access {
        ipa,
        size,
        write: esr & ISS_WNR != 0,
        reg: ((esr >> ISS_SRT_SHIFT) & 0x1f) as u8,
        sign_extend: esr & ISS_SSE != 0,
        wide: esr & ISS_SF != 0,
    })
}

/// The mask of an access's `size` bytes.
pub const fn size_mask(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size as u32 * 8)) - 1
    }
}

impl Access {
    /// The value a store writes: the register's low `size` bytes (XZR: zero).
    pub fn store_value(&self, x: &[u64; 31]) -> u64 {
        match x.get(usize::from(self.reg)) {
            Some(&v) if self.reg != XZR => v & size_mask(self.size),
            _ => 0,
        }
    }

    /// What a load leaves in its register from the device's `value`: the low `size` bytes,
    /// sign-extended if asked, the upper half cleared for a 32-bit register.
    pub fn load_result(&self, value: u64) -> u64 {
        let bits = u32::from(self.size) * 8;
        let mut v = value & size_mask(self.size);
        if self.sign_extend && bits < 64 {
            let shift = 64 - bits;
            v = (((v << shift) as i64) >> shift) as u64;
        }
        if !self.wide {
            v &= 0xffff_ffff;
        }
        v
    }

    /// Writes a load's result into the register file (a load into XZR is discarded).
    pub fn write_back(&self, x: &mut [u64; 31], value: u64) {
        if let Some(r) = x.get_mut(usize::from(self.reg)) {
            *r = self.load_result(value);
        }
    }
}

/// An emulated device: its registers, reached by IPA (the host's stage 2 is an identity map,
/// so the IPA is the register's physical address).
pub trait MmioDevice {
    /// Whether `ipa` is one of this device's trapped pages.
    fn claims(&self, ipa: u64) -> bool;
    /// A load of `size` bytes at `ipa` (aligned): the value, in its low bytes.
    fn read(&self, ipa: u64, size: u8) -> Result<u64, Refusal>;
    /// A store of `size` bytes of `value` at `ipa` (aligned).
    fn write(&self, ipa: u64, size: u8, value: u64) -> Result<(), Refusal>;
}

/// The whole path for a data abort on `device`'s page: decode, access, write a load's result
/// back, and step the host past the instruction (ESR.IL: 4 or 2 bytes). On a refusal nothing
/// changed: the caller injects the external abort.
pub fn emulate<D: MmioDevice + ?Sized>(device: &D, frame: &mut HostFrame) -> Result<(), Refusal> {
    let access = decode(frame.esr, frame.fault_ipa(), frame.spsr)?;
    if access.write {
        device.write(access.ipa, access.size, access.store_value(&frame.x))?;
    } else {
        let value = device.read(access.ipa, access.size)?;
        access.write_back(&mut frame.x, value);
    }
    frame.elr = frame
        .elr
        .wrapping_add(if frame.esr & ESR_IL != 0 { 4 } else { 2 });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abort::ec;
    use core::cell::RefCell;
    use std::vec::Vec;

    /// A data abort syndrome with a valid ISS.
    fn esr(sas: u64, sse: bool, srt: u64, sf: bool, wnr: bool) -> u64 {
        (ec::DABT_LOW << 26)
            | ESR_IL
            | ISS_ISV
            | sas << ISS_SAS_SHIFT
            | if sse { ISS_SSE } else { 0 }
            | srt << ISS_SRT_SHIFT
            | if sf { ISS_SF } else { 0 }
            | if wnr { ISS_WNR } else { 0 }
            | 0x07 // stage-2 translation fault, level 3
    }

    /// A device of one page at 0x1000 that answers `value` and records every access.
    struct Recorder {
        value: u64,
        sizes: u8,
        log: RefCell<Vec<(bool, u64, u8, u64)>>,
    }

    impl Recorder {
        fn new(value: u64) -> Self {
            Recorder {
                value,
                sizes: 0b1111,
                log: RefCell::new(Vec::new()),
            }
        }
        fn check(&self, size: u8) -> Result<(), Refusal> {
            if self.sizes & (1 << size.trailing_zeros()) == 0 {
                return Err(Refusal::Size);
            }
            Ok(())
        }
    }

    impl MmioDevice for Recorder {
        fn claims(&self, ipa: u64) -> bool {
            ipa & !0xfff == 0x1000
        }
        fn read(&self, ipa: u64, size: u8) -> Result<u64, Refusal> {
            self.check(size)?;
            self.log.borrow_mut().push((false, ipa, size, 0));
            Ok(self.value)
        }
        fn write(&self, ipa: u64, size: u8, value: u64) -> Result<(), Refusal> {
            self.check(size)?;
            self.log.borrow_mut().push((true, ipa, size, value));
            Ok(())
        }
    }

    fn frame(esr: u64, offset: u64) -> HostFrame {
        let mut f = HostFrame::el1_entry(0x4000_0000, 0, 0x3c5);
        f.esr = esr;
        f.hpfar = (0x1000 >> 12) << 4;
        f.far = 0xffff_8000_0000_0000 | offset;
        for (i, x) in f.x.iter_mut().enumerate() {
            *x = 0x1111_1111_1111_1111 * (i as u64 % 15 + 1);
        }
        f
    }

    /// Every size, each sign-extension and width choice, every register including XZR:
    /// the loaded register holds exactly what the instruction would, the others and the
    /// device are untouched, and the host steps 4 bytes on.
    #[test]
    fn loads_write_back_with_sign_extension_and_32_bit_zeroing() {
        let value = 0x8899_aabb_ccdd_eeffu64; // every byte's top bit set
        for sas in 0..4u64 {
            let size = 1u8 << sas;
            let bits = 8 * u32::from(size);
            let low = size_mask(size) & value;
            for sse in [false, true] {
                for sf in [false, true] {
                    for srt in 0..32u64 {
                        let dev = Recorder::new(value);
                        let mut f = frame(esr(sas, sse, srt, sf, false), 0x70);
                        let before = f.x;
                        emulate(&dev, &mut f).unwrap();
                        let extended = if sse && bits < 64 {
                            ((low << (64 - bits)) as i64 >> (64 - bits)) as u64
                        } else {
                            low
                        };
                        let want = if sf { extended } else { extended & 0xffff_ffff };
                        for (r, (&now, &was)) in f.x.iter().zip(&before).enumerate() {
                            if r as u64 == srt {
                                assert_eq!(now, want, "size {size} sse {sse} sf {sf} x{r}");
                            } else {
                                assert_eq!(now, was, "x{r} untouched (srt {srt})");
                            }
                        }
                        assert_eq!(f.elr, 0x4000_0004);
                        assert_eq!(*dev.log.borrow(), [(false, 0x1070, size, 0)]);
                    }
                }
            }
        }
    }

    /// A load of a value whose top bit is clear is never sign-extended into ones.
    #[test]
    fn sign_extension_of_positive_values_keeps_zeros() {
        for sas in 0..3u64 {
            let dev = Recorder::new(0x7f7f_7f7f_7f7f_7f7f);
            let mut f = frame(esr(sas, true, 3, true, false), 0);
            emulate(&dev, &mut f).unwrap();
            assert_eq!(f.x[3], size_mask(1 << sas) & 0x7f7f_7f7f_7f7f_7f7f);
        }
    }

    /// Stores send the register's low bytes (XZR sends zero) and change no register.
    #[test]
    fn stores_send_the_low_bytes_and_xzr_sends_zero() {
        for sas in 0..4u64 {
            let size = 1u8 << sas;
            for srt in 0..32u64 {
                let dev = Recorder::new(0);
                let mut f = frame(esr(sas, false, srt, sas == 3, true), 0x78);
                let before = f.x;
                emulate(&dev, &mut f).unwrap();
                let want = if srt == 31 {
                    0
                } else {
                    before[srt as usize] & size_mask(size)
                };
                assert_eq!(*dev.log.borrow(), [(true, 0x1078, size, want)]);
                assert_eq!(f.x, before);
                assert_eq!(f.elr, 0x4000_0004);
            }
        }
    }

    /// A 16-bit T32 instruction (ESR.IL = 0) steps 2 bytes, were one ever emulated.
    #[test]
    fn the_return_address_follows_the_instruction_length() {
        let dev = Recorder::new(5);
        let mut f = frame(esr(2, false, 1, false, false) & !ESR_IL, 0);
        emulate(&dev, &mut f).unwrap();
        assert_eq!(f.elr, 0x4000_0002);
    }

    /// Everything that is not a plain aligned load or store of a general register is refused,
    /// and then nothing changed: no device access, no register, no return address.
    #[test]
    fn refusals_change_nothing() {
        let valid = esr(3, false, 1, true, true);
        let cases = [
            (valid & !ISS_ISV, 0, 0x3c5, Refusal::NoSyndrome),
            (valid | ISS_CM, 0, 0x3c5, Refusal::NotEmulated),
            (valid | ISS_FNV, 0, 0x3c5, Refusal::NotEmulated),
            (valid | ISS_S1PTW, 0, 0x3c5, Refusal::NotEmulated),
            (valid, 0, 0x10, Refusal::NotEmulated), // AArch32 EL0
            (valid, 4, 0x3c5, Refusal::Unaligned),
            (esr(2, false, 1, false, false), 2, 0x3c5, Refusal::Unaligned),
            (esr(1, false, 1, false, false), 1, 0x3c5, Refusal::Unaligned),
        ];
        for (e, offset, spsr, why) in cases {
            let dev = Recorder::new(0);
            let mut f = frame(e, offset);
            f.spsr = spsr;
            let before = f;
            assert_eq!(emulate(&dev, &mut f), Err(why), "{e:#x} at +{offset}");
            assert_eq!(f, before);
            assert!(dev.log.borrow().is_empty());
        }
        // Byte accesses are never unaligned.
        for offset in 0..8 {
            let dev = Recorder::new(0);
            let mut f = frame(esr(0, false, 1, false, false), offset);
            assert!(emulate(&dev, &mut f).is_ok());
        }
    }

    /// A size the device refuses is refused whole: the register and ELR stay.
    #[test]
    fn a_size_the_device_refuses_changes_nothing() {
        let mut dev = Recorder::new(0x1234);
        dev.sizes = 0b1100; // 4 and 8 bytes only
        for (sas, ok) in [(0, false), (1, false), (2, true), (3, true)] {
            for wnr in [false, true] {
                let mut f = frame(esr(sas, false, 2, true, wnr), 0);
                let before = f;
                let r = emulate(&dev, &mut f);
                if ok {
                    assert!(r.is_ok());
                } else {
                    assert_eq!(r, Err(Refusal::Size));
                    assert_eq!(f, before);
                }
            }
        }
    }

    #[test]
    fn decode_reads_every_field() {
        let a = decode(esr(3, true, 17, true, true), 0x1078, 0x3c5).unwrap();
        assert_eq!(
            a,
            Access {
                ipa: 0x1078,
                size: 8,
                write: true,
                reg: 17,
                sign_extend: true,
                wide: true
            }
        );
        assert_eq!(size_mask(1), 0xff);
        assert_eq!(size_mask(2), 0xffff);
        assert_eq!(size_mask(4), 0xffff_ffff);
        assert_eq!(size_mask(8), u64::MAX);
    }
}
