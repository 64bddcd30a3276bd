//! Validation of one call against its row's compiled schema, the rebuilt register set that goes
//! to the SPMC, and the filter applied to the SPMC's reply.
//!
//! The fast path is branch-light mask arithmetic over x1..x17 (no allocation, no lock, no
//! panic path). Only when a bit is out of place does [`explain`] walk the row's fields to name
//! the register and field for the rejection record.

use core::fmt;

use super::abi::{
    CField, COMPILED, Compiled, Conv, Field, Kind, LAYOUTS, Layout, REPLY_ALLOWED, REPLY_MASKS,
    ROWS, ReplyMasks, TABLE, Version, fast, lookup, reply_kind,
};
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
    /// An endpoint ID that must name a Secure endpoint (bit 15 set) and does not.
    NotSecure,
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
        // Numbers are printed as u32: a `u8` would bring its own Display into the image.
        let (reg, lsb) = (u32::from(self.reg), u32::from(self.lsb));
        if self.width >= 64 {
            write!(f, "x{reg}")?;
        } else if self.width == 1 {
            write!(f, "x{reg}[{lsb}]")?;
        } else {
            write!(f, "x{reg}[{}:{lsb}]", lsb + u32::from(self.width) - 1)?;
        }
        write!(f, " {} = {:#x}: ", self.field, self.value)?;
        match self.rule {
            Rule::Caller => f.write_str("must be the host's endpoint ID 0"),
            Rule::Reserved => f.write_str("reserved, must be zero"),
            Rule::Refused => f.write_str("not accepted from the host, must be zero"),
            Rule::NotBefore(v) => write!(f, "not defined before v{v}, must be zero"),
            Rule::OnlyWithFlag { reg, bit } => write!(
                f,
                "must be zero unless x{}[{}] is set",
                u32::from(reg),
                u32::from(bit)
            ),
            Rule::NotSecure => f.write_str("must be a Secure endpoint ID (bit 15 set)"),
        }
    }
}

/// The validation layout of a row (from [`COMPILED`]) in convention `conv` at version `ver`.
#[inline(always)]
pub(crate) fn layout(c: &Compiled, conv: Conv, ver: Version) -> &'static Layout {
    let i = c.fast[conv as usize][ver.index()] & fast::LAYOUT;
    // The index is in range by construction; entry 0 (nothing carried) is a safe fallback.
    LAYOUTS.get(usize::from(i)).unwrap_or(&LAYOUTS[0])
}

/// All ones if x8..x17 must be zero in a call of row `c` in `conv` at `ver`, else zero.
#[inline(always)]
pub(crate) fn high_mbz(c: &Compiled, conv: Conv, ver: Version) -> u64 {
    if c.fast[conv as usize][ver.index()] & fast::HIGH_MBZ != 0 {
        u64::MAX
    } else {
        0
    }
}

/// The bits of x1..x17 that break row `c`'s layout `l` (and `high_mbz`, from [`high_mbz`]):
/// zero for a valid call. Straight-line mask arithmetic over the host's registers in place
/// (no copy, no allocation): this runs on every FF-A call. The must-be-one bits of `w1`
/// (Secure endpoint IDs, [`Compiled::ones_mask`]; zero for most rows) cost one AND-NOT; the
/// few rows with a conditional field ([`Compiled::has_predicates`]) add one masked compare.
#[inline(always)]
pub(crate) fn bad_bits(c: &Compiled, l: &Layout, high_mbz: u64, regs: &SmcRegs) -> u64 {
    // Written out: a loop would not be unrolled at opt-level "s".
    let c1 = &l.carried;
    let mut bad = (regs[1] & !c1[0])
        | (!regs[1] & u64::from(c.ones_mask))
        | (regs[2] & !c1[1])
        | (regs[3] & !c1[2])
        | (regs[4] & !c1[3])
        | (regs[5] & !c1[4])
        | (regs[6] & !c1[5])
        | (regs[7] & !c1[6]);
    let high = regs[8]
        | regs[9]
        | regs[10]
        | regs[11]
        | regs[12]
        | regs[13]
        | regs[14]
        | regs[15]
        | regs[16]
        | regs[17];
    bad |= high & high_mbz;
    if c.has_predicates() {
        bad |= predicate_bits(c, regs);
    }
    bad
}

/// The bits that break row `c`'s conditional field (zero for rows without one: register 0
/// and an empty mask select nothing). Inlined: a call here would make the trap path move its
/// live registers around it.
#[inline(always)]
fn predicate_bits(c: &Compiled, regs: &SmcRegs) -> u64 {
    if regs[usize::from(c.flag_reg & 7)] & u64::from(c.flag_mask) == 0 {
        regs[usize::from(c.cond_reg & 7)] & u64::from(c.cond_mask)
    } else {
        0
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
///
/// For a valid call the carried fields are all the host set, so the result is the host's
/// x1..x7 (and, at v1.2, x8..x17) unchanged: the trap path forwards the host's registers in
/// place ([`super::Proxy::handle`]) and only the memory handlers, which keep the call while
/// they work, build this copy.
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
    let l = layout(c, conv, ver);
    let mbz = high_mbz(c, conv, ver);
    if bad_bits(c, l, mbz, regs) != 0 {
        return Err(explain(row, conv, ver, regs));
    }
    let mut out = [0; 18];
    out[0] = u64::from(function_id);
    for i in 1..=7 {
        out[i] = regs[i] & l.carried[i - 1];
    }
    if ver >= Version::V1_2 && mbz == 0 {
        out[8..].copy_from_slice(&regs[8..]);
    }
    Ok(out)
}

/// Names the first invalid field of a call that [`rebuild`] refused. Slow path.
pub(crate) fn explain(row: usize, conv: Conv, ver: Version, regs: &SmcRegs) -> Violation {
    let (Some(abi), Some(c)) = (ROWS.get(row), COMPILED.get(row)) else {
        return Violation {
            reg: 0,
            lsb: 0,
            width: 64,
            field: "function ID",
            rule: Rule::Reserved,
            value: regs[0],
        };
    };
    let l = layout(c, conv, ver);
    let last = if ver >= Version::V1_2 { 17 } else { 7 };
    for r in 1..=last {
        let x = regs[r];
        let keep = if r <= 7 {
            l.carried[r - 1]
        } else if high_mbz(c, conv, ver) == 0 {
            u64::MAX
        } else {
            0
        };
        let mut bits = x & !keep;
        if r == usize::from(c.cond_reg)
            && regs[usize::from(c.flag_reg & 7)] & u64::from(c.flag_mask) == 0
        {
            bits |= x & u64::from(c.cond_mask);
        }
        if r == 1 {
            bits |= !x & u64::from(c.ones_mask);
        }
        if bits == 0 {
            continue;
        }
        let low = bits.trailing_zeros() as u8;
        if let Some(f) = abi
            .fields()
            .iter()
            .map(CField::field)
            .find(|f| usize::from(f.reg) == r && f.mask(conv) & (1 << low) != 0)
        {
            return field_violation(&f, conv, ver, x);
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
        // Carried, so only its must-be-one bit can have failed.
        Kind::SecureId => Rule::NotSecure,
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

/// The masks of the registers the SPMC's reply (its x0 given) defines for a call of row `c`,
/// and the x0 the host gets; `None`: the ABI does not allow this reply.
#[inline(always)]
fn reply_masks(c: &Compiled, x0: u64) -> Option<(u64, &'static ReplyMasks)> {
    let i = c.reply[reply_kind(x0) & 15];
    if i & REPLY_ALLOWED != 0 {
        return Some((x0, &REPLY_MASKS[usize::from(i) & (REPLY_MASKS.len() - 1)]));
    }
    if x0 == NOT_SUPPORTED || x0 == W {
        // SMCCC "unknown function" from the firmware: pass it on as firmware would.
        return Some((NOT_SUPPORTED, &REPLY_MASKS[0]));
    }
    None
}

/// Writes the host's view of the SPMC's `reply` into `regs` (which hold the host's call):
/// only the registers the ABI defines for that reply, everything else zero, except that an
/// SMC32 caller keeps its own x8..x17 (SMCCC: preserved) when the reply does not define
/// them. `Err(())`: the reply is not one the ABI allows; `regs` is untouched.
pub(crate) fn filter_reply(
    c: &Compiled,
    conv: Conv,
    reply: &SmcRegs,
    regs: &mut SmcRegs,
) -> Result<(), ()> {
    let (out0, m) = reply_masks(c, reply[0]).ok_or(())?;
    let preserve = match conv {
        Conv::Smc32 => u64::MAX,
        Conv::Smc64 => 0,
    };
    regs[0] = out0;
    for i in 1..=7 {
        regs[i] = reply[i] & m.low[i - 1];
    }
    for i in 8..18 {
        regs[i] = (reply[i] & m.high) | (regs[i] & !m.high & preserve);
    }
    Ok(())
}

/// [`filter_reply`] for a call forwarded in place ([`crate::smccc::SmcConduit::smc_in_place`]
/// with [`crate::smccc::High::Keep`]: v1.2, x8..x17 zero in the call and defined by no
/// allowed reply): the host's x0..x7 from the SPMC's `reply`, `None` if the ABI does not
/// allow this reply. x8..x17 need nothing: the host's, still in place, are zero, which is
/// what [`filter_reply`] would leave in both conventions.
#[inline(always)]
pub(crate) fn filter_low(c: &Compiled, reply: &[u64; 8]) -> Option<[u64; 8]> {
    let (out0, m) = reply_masks(c, reply[0])?;
    let l = &m.low;
    // Written out: a loop would not be unrolled at opt-level "s" or "z".
    Some([
        out0,
        reply[1] & l[0],
        reply[2] & l[1],
        reply[3] & l[2],
        reply[4] & l[3],
        reply[5] & l[4],
        reply[6] & l[5],
        reply[7] & l[6],
    ])
}
