//! The fast path's table: one precomputed entry per (function, convention) at the negotiated
//! version v1.2 for the calls the trap vector answers without entering Rust (`vectors.S`,
//! `ffa_fast`): the calls forwarded from the host's registers in place
//! ([`super::abi::fast::IN_PLACE`]), `FFA_FEATURES` for them, and `FFA_ID_GET`.
//!
//! A call takes the fast path when its SMC immediate is 0, its x0 (call hint and convention
//! bit cleared) is `0x8400_0060 + n` with n < 0xA0, x8..x17 are zero, negotiation has settled
//! at v1.2 (the proxy publishes the table then), and [`FastTable::index`] has an entry for
//! (convention, n). The entry carries everything the vector needs:
//! - the carried bits of x1..x7 and the must-be-one bits of x1 (validation: one OR of
//!   `x_i & !carried_i` and `ones & !x1`), and the conditional field if the row has one
//!   (checked only when its flag, in the same register, is clear);
//! - where its audit counters are in a CPU's block ([`super::audit::CpuCounts`]);
//! - the two replies it expects from the SPMC and their masks (any other reply, `FFA_ERROR`
//!   included, is finished in Rust by [`super::Proxy::fast_finish`], which applies the full
//!   reply filter and learns from NOT_SUPPORTED);
//! - whether it is `FFA_ID_GET` (answered at EL2: SUCCESS, w2 = the host's ID 0) or
//!   `FFA_FEATURES` (forwarded in place when its w1 is a function forwarded on this path
//!   that the SPMC has not refused; every other query is answered by the general path).
//!
//! A call whose fields are invalid is rejected in the vector (INVALID_PARAMETERS, counted per
//! CPU) unless the console's rate limit says it gets a line: then, as every call that is not
//! in the table, it goes to the general Rust path, which names the field. The Rust model of
//! the vector's code, [`model`], is tested against the general path on random input.

use super::abi::{
    COMPILED, Class, Conv, Handler, LAYOUTS, REPLY_IDS, REPLY_MASKS, ReplyMasks, TABLE,
    VERSION_ROW, fast, fid,
};
#[cfg(test)]
use super::audit::{CPU_EMULATED, CPU_FORWARDED, CPU_REJECTED, CpuBlocks};
#[cfg(test)]
use crate::smccc::{CALL_HINT_SVE_NOT_LIVE, High, SmcConduit, SmcRegs};

/// Index bytes per convention in [`FastTable::index`] (by x0\[7:0\]).
pub const INDEX_STRIDE: usize = 0x100;

/// [`FastEntry::counter`] bit: not a plain forward: `FFA_ID_GET` (answered at EL2), or
/// `FFA_FEATURES` with [`FEATURES`] set.
pub const SPECIAL: u64 = 1 << 63;
/// [`FastEntry::counter`] bits of `FFA_ID_GET`.
pub const ID_GET: u64 = SPECIAL;
/// [`FastEntry::counter`] bits of `FFA_FEATURES`: forwarded in place when its w1 names a
/// function forwarded on this path that the SPMC has not refused (D-FEATURES-LEARNED);
/// anything else to the general path.
pub const FEATURES: u64 = SPECIAL | 1 << 62;
/// [`FastEntry::counter`] bit: the row has a conditional field.
pub const CONDITIONAL: u64 = 1 << 61;
/// [`FastEntry::counter`] bits of `FFA_VERSION` once negotiation has settled (at v1.2, as the
/// table's publication implies): `1.minor` with minor >= 2 gets 1.2, anything else SMCCC
/// NOT_SUPPORTED, counted emulated; its fields are checked against the v1.0 schema, and a
/// call that fails them goes to the general path (its answer is NOT_SUPPORTED in w0, not
/// INVALID_PARAMETERS).
pub const VERSION: u64 = SPECIAL | 1 << 60;

/// One (function, convention) at v1.2. `#[repr(C)]`: `vectors.S` reads it at the offsets
/// checked below.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(128))]
pub struct FastEntry {
    /// The carried bits of x1..x7; every other bit must be zero.
    pub carried: [u64; 7],
    /// Bits of x1 that must be one (Secure endpoint IDs).
    pub ones: u64,
    /// Bits \[31:0\]: byte offset of this function's forwarded counter in a CPU's block
    /// (`(2 * row + conv) * 8`); [`ID_GET`] or [`FEATURES`], and [`CONDITIONAL`].
    pub counter: u64,
    /// The SPMC's expected replies (x0) and the registers each defines, in order of
    /// preference (the second the same as the first when one is expected).
    pub(crate) expect: [(u64, &'static ReplyMasks); 2],
    /// The conditional field's register (its flag is in the same register), as a byte
    /// offset in the register frame (x_i at `8 * i`).
    pub cond_at: u64,
    /// The flag's mask (bits \[31:0\]) and the bits that must be zero unless the flag is set
    /// (bits \[63:32\], shifted up by 32; both in a w register).
    pub cond: u64,
    /// Pads the entry to 128 bytes.
    pub pad: u64,
}

/// The vector's whole table.
#[repr(C, align(128))]
pub struct FastTable {
    /// `conv * 0x100 + x0[7:0]` -> entry number k (`entries[k - 1]`), 0: not on the fast path.
    pub index: [u8; 2 * INDEX_STRIDE],
    /// The entries.
    pub entries: [FastEntry; N_ENTRIES],
}

/// Byte offset of [`FastTable::entries`].
pub const ENTRIES_AT: usize = core::mem::offset_of!(FastTable, entries);
/// Bytes per entry.
pub const ENTRY_SIZE: usize = core::mem::size_of::<FastEntry>();
const _: () = assert!(ENTRY_SIZE == 128, "vectors.S computes k * 128 as k << 7");
const _: () = assert!(core::mem::offset_of!(FastEntry, ones) == 56);
const _: () = assert!(core::mem::offset_of!(FastEntry, counter) == 64);
const _: () = assert!(core::mem::offset_of!(FastEntry, expect) == 72);
const _: () = assert!(core::mem::offset_of!(FastEntry, cond_at) == 104);
const _: () = assert!(core::mem::offset_of!(FastEntry, cond) == 112);

/// The kind index of a reply ID in [`super::abi::Compiled::reply`].
const fn kind_of(id: u32) -> usize {
    let mut k = 0;
    while k < REPLY_IDS.len() {
        if REPLY_IDS[k] == id {
            return k + 1;
        }
        k += 1;
    }
    panic!("not a reply ID")
}

/// Whether (row, conv) at v1.2 is on the fast path, and as what.
const fn class_of(row: usize, cv: usize) -> Option<u64> {
    let c = &COMPILED[row];
    let f = c.fast[cv][2];
    // A conditional field is checked in the vector only when its flag is in its register.
    if row == VERSION_ROW {
        return if cv == 0 { Some(VERSION) } else { None };
    }
    if (c.predicates && c.flag_reg != c.cond_reg) || f & fast::HIGH_MBZ == 0 {
        return None;
    }
    match c.class[2] {
        Class::Forward
            if f & fast::IN_PLACE != 0
                && f & fast::CLASS == fast::FORWARD
                && expected(row, cv).1 > 0 =>
        {
            Some(0)
        }
        Class::Emulate(Handler::IdGet) if f & fast::CLASS == fast::ID_GET => Some(ID_GET),
        Class::Emulate(Handler::Features)
            if f & fast::IN_PLACE != 0
                && f & fast::CLASS == fast::FEATURES
                && expected(row, cv).1 > 0 =>
        {
            Some(FEATURES)
        }
        _ => None,
    }
}

/// The replies a forwarded (row, conv) expects on the fast path, in order of preference
/// (the call's own convention first), and how many there are (at most 2).
const fn expected(row: usize, cv: usize) -> ([(u64, &'static ReplyMasks); 2], usize) {
    let c = &COMPILED[row];
    let prefs: [u32; 4] = if cv == 0 {
        [
            fid::MSG_SEND_DIRECT_RESP_32,
            fid::SUCCESS_32,
            fid::MSG_SEND_DIRECT_RESP_64,
            fid::SUCCESS_64,
        ]
    } else {
        [
            fid::MSG_SEND_DIRECT_RESP_64,
            fid::SUCCESS_64,
            fid::MSG_SEND_DIRECT_RESP_32,
            fid::SUCCESS_32,
        ]
    };
    let mut expect = [(0u64, &REPLY_MASKS[0]); 2];
    let mut n = 0;
    let mut i = 0;
    while i < prefs.len() {
        let r = c.reply[kind_of(prefs[i])];
        if r & super::abi::REPLY_ALLOWED != 0 && n < 2 {
            expect[n] = (prefs[i] as u64, &REPLY_MASKS[(r & 15) as usize]);
            n += 1;
        }
        i += 1;
    }
    // One expected reply: both slots hold it (the vector compares both).
    if n == 1 {
        expect[1] = expect[0];
    }
    (expect, n)
}

const fn entry(row: usize, cv: usize, flags: u64) -> FastEntry {
    let c = &COMPILED[row];
    // FFA_VERSION is checked against the v1.0 schema at every version.
    let v = if row == VERSION_ROW { 0 } else { 2 };
    let l = &LAYOUTS[(c.fast[cv][v] & fast::LAYOUT) as usize];
    let conditional = if c.predicates { CONDITIONAL } else { 0 };
    FastEntry {
        carried: l.carried,
        ones: c.ones_mask as u64,
        counter: ((2 * row + cv) * 8) as u64 | flags | conditional,
        // FFA_ID_GET expects none: its slots are never read.
        expect: expected(row, cv).0,
        cond_at: if c.predicates {
            c.cond_reg as u64 * 8
        } else {
            0
        },
        cond: if c.predicates {
            c.flag_mask as u64 | (c.cond_mask as u64) << 32
        } else {
            0
        },
        pad: 0,
    }
}

/// How many (row, conv) are on the fast path.
const N_ENTRIES: usize = {
    let mut n = 0;
    let mut row = 0;
    while row < TABLE.len() {
        let mut cv = 0;
        while cv < 2 {
            if TABLE[row]
                .convs
                .has(if cv == 0 { Conv::Smc32 } else { Conv::Smc64 })
                && class_of(row, cv).is_some()
            {
                n += 1;
            }
            cv += 1;
        }
        row += 1;
    }
    n
};

const _: () = assert!(N_ENTRIES < 256, "entry numbers are bytes");

/// The table, built from the ABI table at compile time.
pub static FAST_TABLE: FastTable = {
    let none = FastEntry {
        carried: [0; 7],
        ones: 0,
        counter: 0,
        expect: [(0, &REPLY_MASKS[0]); 2],
        cond_at: 0,
        cond: 0,
        pad: 0,
    };
    let mut t = FastTable {
        index: [0; 2 * INDEX_STRIDE],
        entries: [none; N_ENTRIES],
    };
    let mut k = 0;
    let mut row = 0;
    while row < TABLE.len() {
        let mut cv = 0;
        while cv < 2 {
            let conv = if cv == 0 { Conv::Smc32 } else { Conv::Smc64 };
            if TABLE[row].convs.has(conv)
                && let Some(flags) = class_of(row, cv)
            {
                t.entries[k] = entry(row, cv, flags);
                k += 1;
                t.index[cv * INDEX_STRIDE + TABLE[row].number as usize] = k as u8;
            }
            cv += 1;
        }
        row += 1;
    }
    t
};

/// What the vector's fast path did with a call ([`model`]).
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fast {
    /// Not on the fast path: the registers are untouched, the Rust path takes the call.
    General,
    /// Answered (forwarded, or `FFA_ID_GET`); the registers hold the reply.
    Done,
    /// Rejected quietly (INVALID_PARAMETERS).
    Rejected,
    /// Forwarded, and the SPMC's reply (x0..x7 in the registers) is one the vector does not
    /// take: [`super::Proxy::fast_finish`] with the host's x0 (given) finishes the call.
    Finish(u64),
}

/// The vector's fast path, instruction for instruction in Rust (`vectors.S`, `ffa_fast`):
/// `quiet` is the console's rate limit (false: this rejection gets a line, so the general
/// path takes it), `cpu` the CPU's index.
#[cfg(test)]
#[expect(clippy::too_many_arguments, reason = "the vector's inputs")]
pub(crate) fn model(
    table: &FastTable,
    counts: &dyn CpuBlocks,
    learned: &[core::sync::atomic::AtomicU64; 2],
    cpu: usize,
    quiet: bool,
    regs: &mut SmcRegs,
    imm: u16,
    conduit: &mut impl SmcConduit,
) -> Fast {
    let x0 = regs[0];
    // The vector: ESR_EL2 is exactly an SMC64 with immediate 0.
    if imm != 0 {
        return Fast::General;
    }
    let y = x0 & !u64::from(CALL_HINT_SVE_NOT_LIVE);
    if (y >> 8) & !(1 << 22) != 0x84_0000 {
        return Fast::General;
    }
    let index = ((x0 >> 30 & 1) << 8 | (y & 0xFF)) as usize;
    // `ffa_fast`.
    let k = table.index[index];
    if k == 0 {
        return Fast::General;
    }
    if regs[8..].iter().fold(0, |a, x| a | x) != 0 {
        return Fast::General;
    }
    let e = &table.entries[usize::from(k) - 1];
    let mut bad = !regs[1] & e.ones;
    for (x, carried) in regs[1..8].iter().zip(e.carried) {
        bad |= x & !carried;
    }
    if e.counter & CONDITIONAL != 0 {
        let x = regs[e.cond_at as usize / 8];
        if x & e.cond == 0 {
            bad |= x & e.cond >> 32;
        }
    }
    let slot = (e.counter & 0xFFFF_FFFF) as usize / 8;
    if bad != 0 {
        if !quiet || e.counter & VERSION == VERSION {
            return Fast::General;
        }
        counts.bump(cpu, CPU_REJECTED, slot);
        *regs = [0; 18];
        regs[0] = fid::ERROR.into();
        regs[2] = super::abi::Status::InvalidParameters.w();
        return Fast::Rejected;
    }
    if e.counter & FEATURES == FEATURES {
        // `ffa_fast_features`: w1 (valid: x1[63:32] clear) is 0x840000nn or 0xC40000nn ...
        let sel = regs[1];
        if sel & 1 << 31 == 0 || (sel >> 8) & !(1 << 22) != 0x84_0000 {
            return Fast::General;
        }
        // ... a function forwarded on this path ...
        let qk = table.index[((sel >> 30 & 1) << 8 | sel & 0xFF) as usize];
        if qk == 0 {
            return Fast::General;
        }
        let q = table.entries[usize::from(qk) - 1].counter;
        if q & SPECIAL != 0 {
            return Fast::General;
        }
        // ... that the SPMC has not refused.
        let (row, conv) = (q >> 4 & 0x3F, (q >> 3 & 1) as usize);
        if learned[conv].load(core::sync::atomic::Ordering::Relaxed) >> row & 1 != 0 {
            return Fast::General;
        }
    } else if e.counter & VERSION == VERSION {
        counts.bump(cpu, CPU_EMULATED, slot);
        let w0 = if regs[1] >> 16 == 1 && regs[1] & 0xFFFF >= 2 {
            0x1_0002
        } else {
            u64::MAX
        };
        regs[..8].copy_from_slice(&[w0, 0, 0, 0, 0, 0, 0, 0]);
        return Fast::Done;
    } else if e.counter & ID_GET != 0 {
        counts.bump(cpu, CPU_EMULATED, slot);
        regs[..8].copy_from_slice(&[fid::SUCCESS_32.into(), 0, 0, 0, 0, 0, 0, 0]);
        return Fast::Done;
    }
    counts.bump(cpu, CPU_FORWARDED, slot);
    let reply = conduit.smc_in_place(x0 & !u64::from(CALL_HINT_SVE_NOT_LIVE), regs, High::Keep);
    for (want, m) in e.expect {
        if reply[0] == want {
            regs[0] = reply[0];
            for ((r, x), mask) in regs[1..8].iter_mut().zip(&reply[1..]).zip(m.low) {
                *r = x & mask;
            }
            return Fast::Done;
        }
    }
    regs[..8].copy_from_slice(&reply);
    Fast::Finish(x0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `vectors.S` hard-codes the table's and the counters' geometry: they must agree.
    #[test]
    fn the_vector_agrees_with_the_table_geometry() {
        let asm = include_str!("../../../boot/src/vectors.S");
        let equ = |name: &str| -> u64 {
            let line = asm
                .lines()
                .find(|l| l.trim_start().starts_with(&format!(".equ {name},")))
                .unwrap_or_else(|| panic!(".equ {name} missing"));
            let v = line.split(',').nth(1).unwrap().trim();
            let v = v.split_whitespace().next().unwrap();
            match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).unwrap(),
                None => v.parse().unwrap(),
            }
        };
        use super::super::audit::CPU_SLOTS;
        assert_eq!(equ("FFA_FAST_ENTRIES"), (ENTRIES_AT - ENTRY_SIZE) as u64);
        assert_eq!(equ("FFA_FAST_ENTRY_SIZE"), ENTRY_SIZE as u64);
        assert_eq!(equ("FFA_FAST_INDEX_STRIDE"), INDEX_STRIDE as u64);
        assert_eq!(equ("SMC_FRAME_SIZE"), 160);
        // The counters sit at the stack's top; SP is the top less the SMC frame.
        assert_eq!(
            equ("FFA_COUNTERS_AT"),
            core::mem::size_of::<crate::frame::SmcFrame>() as u64
        );
        assert_eq!(
            core::mem::offset_of!(crate::percpu::Stack, ffa_counts),
            crate::percpu::STACK_SIZE
        );
        assert_eq!(equ("FFA_EVENT_STRIDE"), (CPU_SLOTS * 8) as u64);
        assert_eq!(
            core::mem::size_of::<ReplyMasks>(),
            64,
            "the vector loads x1..x7's masks at 0..56"
        );
        assert_eq!(equ("FFA_ERROR"), u64::from(fid::ERROR));
        assert_eq!(equ("FFA_SUCCESS_32"), u64::from(fid::SUCCESS_32));
        assert_eq!(
            equ("FFA_INVALID_PARAMETERS"),
            super::super::abi::Status::InvalidParameters.w()
        );
    }

    /// The calls the bench measures are on the fast path, and nothing with a conditional
    /// field, nothing emulated but `FFA_ID_GET`, nothing before v1.2's register file is.
    #[test]
    fn the_table_holds_the_hot_calls() {
        let has = |id: u32| {
            let conv = (id >> 30 & 1) as usize;
            FAST_TABLE.index[conv * INDEX_STRIDE + (id & 0xFF) as usize] != 0
        };
        assert!(has(fid::MSG_SEND_DIRECT_REQ_32));
        assert!(has(fid::MSG_SEND_DIRECT_REQ_64));
        assert!(has(fid::NOTIFICATION_GET));
        assert!(has(fid::NOTIFICATION_SET));
        assert!(has(fid::ID_GET));
        assert!(has(fid::VERSION));
        assert!(!has(fid::VERSION | 1 << 30));
        assert!(has(fid::FEATURES));
        assert!(!has(fid::MEM_SHARE_64));
        assert!(!has(fid::RXTX_MAP_64));
        assert!(!has(fid::NOTIFICATION_BITMAP_CREATE));
        let direct = &FAST_TABLE.entries
            [usize::from(FAST_TABLE.index[(fid::MSG_SEND_DIRECT_REQ_32 & 0xFF) as usize]) - 1];
        assert_eq!(direct.expect[0].0, u64::from(fid::MSG_SEND_DIRECT_RESP_32));
        assert_eq!(direct.counter & (ID_GET | CONDITIONAL), 0);
        // Nothing below the FF-A range.
        assert!(FAST_TABLE.index[..0x60].iter().all(|&k| k == 0));
        assert!(FAST_TABLE.index[0x100..0x160].iter().all(|&k| k == 0));
    }
}
