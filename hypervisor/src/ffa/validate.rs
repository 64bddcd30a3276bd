//! Validation of one call against its row's compiled schema, the rebuilt register set that goes
//! to the SPMC, and the filter applied to the SPMC's reply.
//!
//! The fast path is branch-light mask arithmetic over x1..x17 (no allocation, no lock, no
//! panic path). Only when a bit is out of place does [`explain`] walk the row's fields to name
//! the register and field for the rejection record.

use core::fmt;

use super::abi::{COMPILED, Conv, Field, Kind, Replies, TABLE, Version, fid, lookup};
use crate::smccc::{CALL_HINT_SVE_NOT_LIVE, NOT_SUPPORTED, SmcRegs};

/// Why one field of a call is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The field names the caller and is not the host's ID (0).
    Caller,
    /// Reserved (SBZ/MBZ) bits are set.
    Reserved,
    /// A field the spec defines but the normal world may not use (or the proxy refuses).
    Refused,
    /// A field that only exists from a later version than the negotiated one.
    NotBefore(Version),
    /// A field that may only be non-zero when a flag is set.
    OnlyWithFlag {
        /// Register of the flag.
        reg: u8,
        /// Bit of the flag.
        bit: u8,
    },
}

/// The first invalid field of a call: register, bit range, the field's name and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Register number (1..=17).
    pub reg: u8,
    /// Lowest bit of the field.
    pub lsb: u8,
    /// Width of the field in bits.
    pub width: u8,
    /// The field's name.
    pub field: &'static str,
    /// The rule it breaks.
    pub rule: Rule,
    /// The field's value (shifted down to bit 0).
    pub value: u64,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.width >= 64 {
            write!(f, "x{}", self.reg)?;
        } else if self.width == 1 {
            write!(f, "x{}[{}]", self.reg, self.lsb)?;
        } else {
            write!(
                f,
                "x{}[{}:{}]",
                self.reg,
                self.lsb + self.width - 1,
                self.lsb
            )?;
        }
        write!(f, " {} = {:#x}: ", self.field, self.value)?;
        match self.rule {
            Rule::Caller => f.write_str("must be the host's endpoint ID 0"),
            Rule::Reserved => f.write_str("reserved, must be zero"),
            Rule::Refused => f.write_str("not accepted from the host, must be zero"),
            Rule::NotBefore(v) => write!(f, "not defined before v{v}, must be zero"),
            Rule::OnlyWithFlag { reg, bit } => {
                write!(f, "must be zero unless x{reg}[{bit}] is set")
            }
        }
    }
}

/// All ones if bit `n` of `bits` is set, else zero (one `sbfx`).
#[inline(always)]
const fn bit_mask(bits: u64, n: usize) -> u64 {
    0u64.wrapping_sub((bits >> n) & 1)
}

/// The carried bits of x`i` (1..=17): the compiled mask for x1..x7 (cut to the convention's
/// width), all or nothing for the payload registers x8..x17 (`high`, bit i-8).
#[inline(always)]
fn keep(carried: &[u64; 7], width: u64, high: u64, i: usize) -> u64 {
    if i <= 7 {
        carried[i - 1] & width
    } else {
        bit_mask(high, i - 8)
    }
}

/// Decode and validate without a proxy (for fuzzing and tools): looks x0 up in the table and
/// checks x1..x17 at version `ver`, as [`super::Proxy::handle`] does before forwarding or
/// emulating. `None`: x0 (call hint stripped) is not a function of the table at `ver`.
/// `Some(Ok(regs))`: the register set that would be forwarded. Policy is not applied.
pub fn check(ver: Version, regs: &SmcRegs) -> Option<Result<SmcRegs, Violation>> {
    if regs[0] >> 32 != 0 {
        return None;
    }
    let function_id = (regs[0] as u32) & !CALL_HINT_SVE_NOT_LIVE;
    let (row, conv) = lookup(function_id)?;
    if !TABLE.get(row)?.defined_at(ver) {
        return None;
    }
    Some(rebuild(row, conv, ver, function_id, regs))
}

/// Checks `regs` against row `row` at version `ver` and returns the register set to forward:
/// x0 = `function_id`, the carried fields of x1..x17, everything else zero.
///
/// x8..x17 are checked (and may be carried) only at v1.2; before, they are not part of an
/// FF-A call and are dropped.
#[inline(always)]
pub(crate) fn rebuild(
    row: usize,
    conv: Conv,
    ver: Version,
    function_id: u32,
    regs: &SmcRegs,
) -> Result<SmcRegs, Violation> {
    let Some(c) = COMPILED.get(row) else {
        // Unreachable with indices from `abi::lookup`; refuse rather than panic.
        return Err(Violation {
            reg: 0,
            lsb: 0,
            width: 64,
            field: "function ID",
            rule: Rule::Reserved,
            value: function_id.into(),
        });
    };
    let v = ver.index();
    let width = conv.width_mask();
    let v12 = ver >= Version::V1_2;
    // x8..x17: checked only at v1.2, carried only as SMC64 payload registers.
    let high = match conv {
        Conv::Smc64 if v12 => c.high[v],
        _ => 0,
    };
    let check_high = if v12 { u64::MAX } else { 0 };
    let carried = &c.carried[v];
    let high = u64::from(high);
    // Straight-line code over the 17 registers (no loop, no memset/memcpy of the register
    // file): this is the hot path of every forwarded call.
    macro_rules! bad_bits {
        ($i:literal) => {
            regs[$i] & !keep(carried, width, high, $i) & if $i <= 7 { u64::MAX } else { check_high }
        };
    }
    macro_rules! kept {
        ($i:literal) => {
            regs[$i] & keep(carried, width, high, $i)
        };
    }
    let mut bad = bad_bits!(1)
        | bad_bits!(2)
        | bad_bits!(3)
        | bad_bits!(4)
        | bad_bits!(5)
        | bad_bits!(6)
        | bad_bits!(7)
        | bad_bits!(8)
        | bad_bits!(9)
        | bad_bits!(10)
        | bad_bits!(11)
        | bad_bits!(12)
        | bad_bits!(13)
        | bad_bits!(14)
        | bad_bits!(15)
        | bad_bits!(16)
        | bad_bits!(17);
    if c.cond_reg != 0 && regs[usize::from(c.flag_reg & 7)] & c.flag_mask == 0 {
        bad |= regs[usize::from(c.cond_reg & 7)] & c.cond_mask;
    }
    if bad != 0 {
        return Err(explain(row, conv, ver, regs));
    }
    Ok([
        u64::from(function_id),
        kept!(1),
        kept!(2),
        kept!(3),
        kept!(4),
        kept!(5),
        kept!(6),
        kept!(7),
        kept!(8),
        kept!(9),
        kept!(10),
        kept!(11),
        kept!(12),
        kept!(13),
        kept!(14),
        kept!(15),
        kept!(16),
        kept!(17),
    ])
}

/// Names the first invalid field of a call that [`rebuild`] refused. Slow path.
fn explain(row: usize, conv: Conv, ver: Version, regs: &SmcRegs) -> Violation {
    let (Some(abi), Some(c)) = (TABLE.get(row), COMPILED.get(row)) else {
        return Violation {
            reg: 0,
            lsb: 0,
            width: 64,
            field: "function ID",
            rule: Rule::Reserved,
            value: regs[0],
        };
    };
    let v = ver.index();
    let width = conv.width_mask();
    let last = if ver >= Version::V1_2 { 17 } else { 7 };
    for r in 1..=last {
        let x = regs[r];
        let keep = if r <= 7 {
            c.carried[v][r - 1] & width
        } else if conv == Conv::Smc64 && c.high[v] & (1 << (r - 8)) != 0 {
            u64::MAX
        } else {
            0
        };
        let mut bits = x & !keep;
        if r == usize::from(c.cond_reg) && regs[usize::from(c.flag_reg & 7)] & c.flag_mask == 0 {
            bits |= x & c.cond_mask;
        }
        if bits == 0 {
            continue;
        }
        let low = bits.trailing_zeros() as u8;
        if let Some(f) = abi
            .fields
            .iter()
            .find(|f| usize::from(f.reg) == r && f.mask(conv) & (1 << low) != 0)
        {
            return field_violation(f, conv, ver, x);
        }
        if r >= 8 {
            return Violation {
                reg: r as u8,
                lsb: 0,
                width: 64,
                field: "unused register (SMCCC v1.2)",
                rule: Rule::Reserved,
                value: x,
            };
        }
        if conv == Conv::Smc32 && low >= 32 {
            return Violation {
                reg: r as u8,
                lsb: 32,
                width: 32,
                field: "upper half (SMC32 call)",
                rule: Rule::Reserved,
                value: x >> 32,
            };
        }
        // An unlisted reserved run: widen around the lowest bad bit while bits stay
        // forbidden, without crossing into the other half of an SMC32 register.
        let top = if conv == Conv::Smc32 { 31 } else { 63 };
        let forbidden = !keep;
        let mut lo = low;
        while lo > 0 && forbidden & (1 << (lo - 1)) != 0 {
            lo -= 1;
        }
        let mut hi = low;
        while hi < top && forbidden & (1 << (hi + 1)) != 0 {
            hi += 1;
        }
        let width = hi - lo + 1;
        return Violation {
            reg: r as u8,
            lsb: lo,
            width,
            field: "reserved",
            rule: Rule::Reserved,
            value: (x >> lo) & ones(width),
        };
    }
    // `rebuild` found a bad bit, so the loop returns; keep a defined answer anyway.
    Violation {
        reg: 0,
        lsb: 0,
        width: 64,
        field: "function ID",
        rule: Rule::Reserved,
        value: regs[0],
    }
}

fn field_violation(f: &Field, conv: Conv, ver: Version, x: u64) -> Violation {
    let mask = f.mask(conv);
    let width = if f.width >= 64 {
        match conv {
            Conv::Smc32 if f.reg <= 7 => 32,
            _ => 64,
        }
    } else {
        f.width
    };
    let rule = match f.kind {
        Kind::CallerId => Rule::Caller,
        Kind::Reserved => Rule::Reserved,
        Kind::Refused => Rule::Refused,
        Kind::ValueIf { reg, bit } => Rule::OnlyWithFlag { reg, bit },
        // A carried field only fails when the negotiated version predates it.
        Kind::Value if !f.defined_at(ver) => Rule::NotBefore(f.since),
        Kind::Value => Rule::Reserved,
    };
    Violation {
        reg: f.reg,
        lsb: f.lsb,
        width,
        field: f.name,
        rule,
        value: (x & mask) >> f.lsb,
    }
}

/// `width` low bits set.
const fn ones(width: u8) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1 << width) - 1
    }
}

const W: u64 = 0xFFFF_FFFF;

/// Registers x1..x17 defined by reply `reply_fid` to a call with `replies`: (defined, 64-bit
/// wide) bit sets, bit n = xN. `None`: the ABI does not allow this reply.
#[inline(always)]
fn reply_layout(replies: Replies, reply_fid: u32) -> Option<(u32, u32)> {
    let allows = |kind: u8| replies.kinds & kind != 0;
    match reply_fid {
        fid::ERROR if allows(Replies::ERROR) => Some((0b110, 0)),
        fid::SUCCESS_32 if allows(Replies::SUCCESS) => Some((replies.success_regs, 0)),
        fid::SUCCESS_64 if allows(Replies::SUCCESS) => {
            Some((replies.success_regs, replies.success_regs))
        }
        fid::DIRECT_RESP_32 if allows(Replies::DIRECT_RESP) => Some((0xFE, 0)),
        fid::DIRECT_RESP_64 if allows(Replies::DIRECT_RESP) => Some((0xFE, 0xF8)),
        fid::DIRECT_RESP2 if allows(Replies::DIRECT_RESP2) => Some((0x3_FFF2, 0x3_FFF0)),
        fid::INTERRUPT if allows(Replies::INTERRUPT) => Some((0b110, 0)),
        fid::YIELD if allows(Replies::YIELD) => Some((0b1110, 0)),
        fid::MSG_WAIT if allows(Replies::MSG_WAIT) => Some((0b10, 0)),
        _ => None,
    }
}

/// Writes the host's view of the SPMC's `reply` into `regs` (which hold the host's call):
/// only the registers the ABI defines for that reply, everything else zero, except that an
/// SMC32 caller keeps its own x8..x17 (SMCCC: preserved) when the reply does not define
/// them. `Err(())`: the reply is not one the ABI allows; `regs` is untouched.
#[inline(always)]
pub(crate) fn filter_reply(
    replies: Replies,
    conv: Conv,
    reply: &SmcRegs,
    regs: &mut SmcRegs,
) -> Result<(), ()> {
    let x0 = reply[0];
    let (defined, wide, out0) = if x0 == NOT_SUPPORTED || x0 == W {
        // SMCCC "unknown function" from the firmware: pass it on as firmware would.
        (0, 0, NOT_SUPPORTED)
    } else if x0 >> 32 != 0 {
        return Err(());
    } else {
        let (d, w) = reply_layout(replies, x0 as u32).ok_or(())?;
        (d, w, x0)
    };
    let preserve = match conv {
        Conv::Smc32 => u64::MAX,
        Conv::Smc64 => 0,
    };
    let (defined, wide) = (u64::from(defined), u64::from(wide));
    // Straight-line, branch-free lanes (this runs on every forwarded call).
    macro_rules! low {
        ($i:literal) => {
            regs[$i] = reply[$i] & bit_mask(defined, $i) & (bit_mask(wide, $i) | W);
        };
    }
    macro_rules! high {
        ($i:literal) => {
            let mask = bit_mask(defined, $i) & (bit_mask(wide, $i) | W);
            regs[$i] = (reply[$i] & mask) | (regs[$i] & !mask & preserve);
        };
    }
    regs[0] = out0;
    low!(1);
    low!(2);
    low!(3);
    low!(4);
    low!(5);
    low!(6);
    low!(7);
    if defined >> 8 == 0 {
        // The common case: the reply defines nothing in x8..x17.
        for x in &mut regs[8..] {
            *x &= preserve;
        }
    } else {
        high!(8);
        high!(9);
        high!(10);
        high!(11);
        high!(12);
        high!(13);
        high!(14);
        high!(15);
        high!(16);
        high!(17);
    }
    Ok(())
}
