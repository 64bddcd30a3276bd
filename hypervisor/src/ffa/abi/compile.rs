//! The table compiled at build time for the trap path: an O(1) lookup index, per-row
//! validation layouts and reply masks, and a pointer-free copy of the rows' names and fields.
//!
//! All of it is `const` evaluation over [`TABLE`]; the firmware reads only the statics built
//! here, never the table itself (its strings and pointers would cost the image several KiB).

use super::table::TABLE;
use super::types::*;

/// Lowest FF-A function number.
pub const FIRST_NUMBER: u8 = 0x60;

/// [`INDEX`] entry bit: the row defines the SMC32 ID (the SMC64 bit is this shifted by 1).
const IN_SMC32: u8 = 1 << 6;

/// Function number - 0x60 -> row index (bits [5:0]) and the conventions the row defines
/// ([`IN_SMC32`], `IN_SMC32 << 1`); 0 for "no row". O(1) lookup, 160 bytes.
static INDEX: [u8; 160] = {
    let mut index = [0; 160];
    let mut i = 0;
    assert!(TABLE.len() <= 64, "row indices are 6 bits");
    while i < TABLE.len() {
        let n = TABLE[i].number;
        assert!(n >= FIRST_NUMBER, "function number below the FF-A range");
        assert!(index[(n - FIRST_NUMBER) as usize] == 0, "duplicate row");
        let convs = TABLE[i].convs;
        let mut e = i as u8;
        if convs.has(Conv::Smc32) {
            e |= IN_SMC32;
        }
        if convs.has(Conv::Smc64) {
            e |= IN_SMC32 << 1;
        }
        index[(n - FIRST_NUMBER) as usize] = e;
        i += 1;
    }
    index
};

/// Finds the row of a canonical FF-A function ID (call hint already stripped). Returns `None`
/// for anything else, including a convention the row does not define.
#[inline]
pub fn lookup(function_id: u32) -> Option<(usize, Conv)> {
    let conv = Conv::of(function_id);
    let number = function_id & 0xFF;
    if function_id & !(1 << 30) != 0x8400_0000 | number || number < FIRST_NUMBER as u32 {
        return None;
    }
    let e = *INDEX.get((number - FIRST_NUMBER as u32) as usize)?;
    (e & (IN_SMC32 << conv as u8) != 0).then_some(((e & 0x3F) as usize, conv))
}

/// The row of function number 0x60 + `n` (any convention; row 0 when there is none, whose
/// [`Compiled::fast`] entries of undefined conventions are 0): the trap path's [`lookup`]
/// once the ID is known to be canonical.
#[inline(always)]
pub(crate) fn row_of(n: usize) -> usize {
    INDEX.get(n).map_or(0, |e| usize::from(e & 0x3F))
}

/// What the proxy does with a call of a row at one version: the row's policy folded with
/// [`Row::defined_at`], precomputed so the trap path reads one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Not defined at this version, or [`Policy::Block`]: NOT_SUPPORTED.
    Unsupported,
    /// [`Policy::Forward`].
    Forward,
    /// [`Policy::Emulate`].
    Emulate(Handler),
}

/// The validation masks of one (row, convention, version), deduplicated in [`LAYOUTS`]: the
/// carried bits of x1..x7, already cut to the convention's width; every other bit must be
/// zero. (Whether x8..x17 must be zero is [`Compiled::high_mbz`].)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Layout {
    /// Carried bits of x1..x7.
    pub carried: [u64; 7],
}

/// The registers a reply defines, as masks: `low` for x1..x7 (0, the low 32 bits, or all of
/// each), `high` for each of x8..x17 (the replies define all or none of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub(crate) struct ReplyMasks {
    /// x1..x7.
    pub low: [u64; 7],
    /// Each of x8..x17.
    pub high: u64,
}

/// The reply kinds a forwarded call may get, in the order of [`Compiled::reply`].
pub(crate) const REPLY_IDS: [u32; 9] = [
    fid::ERROR,
    fid::SUCCESS_32,
    fid::SUCCESS_64,
    fid::MSG_SEND_DIRECT_RESP_32,
    fid::MSG_SEND_DIRECT_RESP_64,
    fid::MSG_SEND_DIRECT_RESP2,
    fid::INTERRUPT,
    fid::YIELD,
    fid::MSG_WAIT,
];

/// Registers x1..x17 defined by each reply kind to a call with `replies`: (defined, 64-bit
/// wide) bit sets, bit n = xN; `None` if the ABI does not allow this reply.
const fn reply_regs(replies: Replies, kind: usize) -> Option<(u32, u32)> {
    let (needs, regs) = match kind {
        0 => (Replies::ERROR, (0b110, 0)),
        1 => (Replies::SUCCESS, (replies.success_regs, 0)),
        2 => (
            Replies::SUCCESS,
            (replies.success_regs, replies.success_regs),
        ),
        3 => (Replies::DIRECT_RESP, (0xFE, 0)),
        4 => (Replies::DIRECT_RESP, (0xFE, 0xF8)),
        5 => (Replies::DIRECT_RESP2, (0x3_FFF2, 0x3_FFF0)),
        6 => (Replies::INTERRUPT, (0b110, 0)),
        7 => (Replies::YIELD, (0b1110, 0)),
        _ => (Replies::MSG_WAIT, (0b10, 0)),
    };
    if replies.kinds & needs != 0 {
        Some(regs)
    } else {
        None
    }
}

const fn reply_masks(defined: u32, wide: u32) -> ReplyMasks {
    const fn mask(defined: u32, wide: u32, reg: u32) -> u64 {
        if defined & (1 << reg) == 0 {
            0
        } else if wide & (1 << reg) == 0 {
            0xFFFF_FFFF
        } else {
            u64::MAX
        }
    }
    let all = 0x3_FF00;
    assert!(
        defined & all == 0 || defined & all == all,
        "x8-x17 all or none"
    );
    assert!(wide & all == 0 || wide & all == all, "x8-x17 all or none");
    let mut m = ReplyMasks {
        low: [0; 7],
        high: mask(defined, wide, 8),
    };
    let mut i = 0;
    while i < 7 {
        m.low[i] = mask(defined, wide, i as u32 + 1);
        i += 1;
    }
    m
}

/// A row's schema and policy compiled for the trap path. Built at compile time from [`TABLE`].
#[derive(Clone, Copy)]
pub(crate) struct Compiled {
    /// What to do, per version.
    pub class: [Class; 3],
    /// Per reply kind ([`reply_kind`]: 1 + the [`REPLY_IDS`] index; 0 and 10..15 are no
    /// reply): [`REPLY_ALLOWED`] | index into [`REPLY_MASKS`], or 0 if the ABI does not
    /// allow that reply.
    pub reply: [u8; 16],
    /// Some allowed reply defines x8..x17.
    pub reply_high: bool,
    /// Per convention and version ([`fast`]): the index into [`LAYOUTS`], whether x8..x17
    /// must be zero, how they travel when forwarded, and (for the trap path's short path)
    /// what to do; the class bits are 0 for "take the general path".
    pub fast: [[u16; 3]; 2],
    /// Whether the row has a conditional field (the trap path's one test before it looks at
    /// it).
    pub predicates: bool,
    /// A conditional field (`Kind::ValueIf`): register 0 means none.
    pub cond_reg: u8,
    /// Register of the enabling flag.
    pub flag_reg: u8,
    /// Bits of `cond_reg` that must be zero unless the flag is set (a w-register field).
    pub cond_mask: u32,
    /// The enabling flag's bit mask.
    pub flag_mask: u32,
    /// Bits of `w1` that must be one (`Kind::SecureId`: bit 15 of each Secure endpoint ID
    /// field; every such field of the table is in `w1`). Checked on every call without a
    /// branch: one AND-NOT with the host's `x1`, which the layout test loads anyway.
    pub ones_mask: u32,
}

const NO_LAYOUT: Layout = Layout { carried: [0; 7] };

/// Whether calls of `abi` in convention `conv` carry x8..x17 (at v1.2: only SMC64 calls
/// can, and then all ten, as payload).
const fn carries_high(abi: &Row, conv: Conv) -> bool {
    let mut high = 0u16;
    let mut i = 0;
    while i < abi.fields.len() {
        let f = &abi.fields[i];
        if f.reg >= 8 && matches!(f.kind, Kind::Value) {
            // x8..x17 only ever carry whole 64-bit payload registers, from v1.2.
            assert!(f.width == 64, "x8-x17 fields are whole registers");
            assert!(
                f.since as u8 == Version::V1_2 as u8,
                "x8-x17 exist from v1.2"
            );
            high |= 1 << (f.reg - 8);
        }
        assert!(
            f.reg < 8 || matches!(f.kind, Kind::Value),
            "x8-x17 fields are values"
        );
        i += 1;
    }
    assert!(high == 0 || high == 0x3FF, "x8-x17 carried all or none");
    high != 0 && matches!(conv, Conv::Smc64)
}

/// The layout of `abi` in convention `conv` at version `v`.
const fn layout_of(abi: &Row, conv: Conv, v: usize) -> Layout {
    let ver = Version::ALL[v];
    let mut l = Layout { carried: [0; 7] };
    let mut i = 0;
    while i < abi.fields.len() {
        let f = &abi.fields[i];
        assert!(f.reg >= 1 && f.reg <= 17, "register out of range");
        assert!(
            f.width == 64 || f.lsb as u32 + f.width as u32 <= 32,
            "w field past bit 31"
        );
        let carried = match f.kind {
            Kind::Value | Kind::ValueIf { .. } | Kind::SecureId => true,
            Kind::CallerId | Kind::Reserved | Kind::Refused => false,
        };
        if carried && f.defined_at(ver) && f.reg <= 7 {
            l.carried[f.reg as usize - 1] |= f.mask(conv);
        }
        i += 1;
    }
    l
}

const fn same_layout(a: &Layout, b: &Layout) -> bool {
    let mut i = 0;
    while i < 7 {
        if a.carried[i] != b.carried[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn same_masks(a: &ReplyMasks, b: &ReplyMasks) -> bool {
    let mut i = 0;
    while i < 7 {
        if a.low[i] != b.low[i] {
            return false;
        }
        i += 1;
    }
    a.high == b.high
}

/// Every distinct layout of the table (its defined conventions, all versions), in order of
/// first appearance, `NO_LAYOUT` first: writes the first `N` into `out`, returns how many
/// there are.
const fn collect_layouts<const N: usize>(out: &mut [Layout; N]) -> usize {
    if N > 0 {
        out[0] = NO_LAYOUT;
    }
    let mut n = 1;
    let mut seen = [NO_LAYOUT; 6 * 64];
    let mut row = 0;
    while row < TABLE.len() {
        let mut c = 0;
        while c < 2 {
            let conv = if c == 0 { Conv::Smc32 } else { Conv::Smc64 };
            let mut v = 0;
            while TABLE[row].convs.has(conv) && v < 3 {
                let l = layout_of(&TABLE[row], conv, v);
                let mut k = 0;
                while k < n && !same_layout(&seen[k], &l) {
                    k += 1;
                }
                if k == n {
                    seen[n] = l;
                    if N > 0 {
                        out[n] = l;
                    }
                    n += 1;
                }
                v += 1;
            }
            c += 1;
        }
        row += 1;
    }
    n
}

/// Every distinct reply mask set of the table, `NONE` (no register) first: writes the first
/// `N` into `out`, returns how many there are.
const fn collect_reply_masks<const N: usize>(out: &mut [ReplyMasks; N]) -> usize {
    const NONE: ReplyMasks = reply_masks(0, 0);
    let mut seen = [NONE; 10 * 64];
    let mut n = 1;
    let mut row = 0;
    while row < TABLE.len() {
        let mut kind = 0;
        while kind < REPLY_IDS.len() {
            if let Some((defined, wide)) = reply_regs(Replies::of(TABLE[row].replies), kind) {
                let m = reply_masks(defined, wide);
                let mut k = 0;
                while k < n && !same_masks(&seen[k], &m) {
                    k += 1;
                }
                if k == n {
                    seen[n] = m;
                    n += 1;
                }
            }
            kind += 1;
        }
        row += 1;
    }
    let mut i = 0;
    while i < N && i < n {
        out[i] = seen[i];
        i += 1;
    }
    n
}

const N_LAYOUTS: usize = collect_layouts::<0>(&mut []);

/// [`REPLY_MASKS`] has this many entries (a power of two: indices are masked, not checked).
const N_REPLY_MASKS: usize = 16;

const _: () = assert!(
    collect_reply_masks::<0>(&mut []) <= N_REPLY_MASKS,
    "more reply layouts than REPLY_MASKS holds"
);

/// [`Compiled::reply`] entry bit: the reply is allowed (the low bits index [`REPLY_MASKS`]).
pub(crate) const REPLY_ALLOWED: u8 = 0x80;

/// The distinct validation layouts of the table ([`Compiled::layout`] indexes it).
pub(crate) static LAYOUTS: [Layout; N_LAYOUTS] = {
    let mut out = [NO_LAYOUT; N_LAYOUTS];
    collect_layouts(&mut out);
    out
};

/// The distinct reply masks of the table; entry 0 defines no register (SMCCC
/// NOT_SUPPORTED from the firmware); unused entries at the end define none either. The trap
/// path's assembly reads them by this symbol (64 bytes an entry).
#[unsafe(export_name = "hyp_ffa_reply_masks")]
pub(crate) static REPLY_MASKS: [ReplyMasks; N_REPLY_MASKS] = {
    let mut out = [reply_masks(0, 0); N_REPLY_MASKS];
    collect_reply_masks(&mut out);
    out
};

const fn compile(row: usize) -> Compiled {
    let abi = &TABLE[row];
    let mut c = Compiled {
        class: [Class::Unsupported; 3],
        reply: [0; 16],
        reply_high: false,
        fast: [[0; 3]; 2],
        predicates: false,
        cond_reg: 0,
        flag_reg: 0,
        cond_mask: 0,
        flag_mask: 0,
        ones_mask: 0,
    };
    let layouts = &LAYOUTS;
    // Index into LAYOUTS; bit `3 * conv + version`: x8..x17 must be zero (v1.2, the call
    // carries none of them; before v1.2 they are not part of the call).
    let mut layout = [[0u8; 3]; 2];
    let mut high_mbz = 0u8;
    let mut v = 0;
    while v < 3 {
        let mut cv = 0;
        while cv < 2 {
            let conv = if cv == 0 { Conv::Smc32 } else { Conv::Smc64 };
            if abi.convs.has(conv) {
                let l = layout_of(abi, conv, v);
                let mut k = 0;
                while !same_layout(&layouts[k], &l) {
                    k += 1;
                }
                assert!(k < 256);
                layout[cv][v] = k as u8;
                if v == Version::V1_2 as usize && !carries_high(abi, conv) {
                    high_mbz |= 1 << (3 * cv + v);
                }
            }
            cv += 1;
        }
        c.class[v] = if !abi.defined_at(Version::ALL[v]) {
            Class::Unsupported
        } else {
            match abi.policy {
                Policy::Block => Class::Unsupported,
                Policy::Forward => Class::Forward,
                Policy::Emulate(h) => Class::Emulate(h),
            }
        };
        v += 1;
    }
    let masks = &REPLY_MASKS;
    let mut kind = 0;
    while kind < REPLY_IDS.len() {
        if let Some((defined, wide)) = reply_regs(Replies::of(abi.replies), kind) {
            let m = reply_masks(defined, wide);
            let mut k = 0;
            while !same_masks(&masks[k], &m) {
                k += 1;
            }
            c.reply[kind + 1] = REPLY_ALLOWED | k as u8;
            if m.high != 0 {
                c.reply_high = true;
            }
        }
        kind += 1;
    }
    let mut v = 0;
    while v < 3 {
        let mut cv = 0;
        while cv < 2 {
            let conv = if cv == 0 { Conv::Smc32 } else { Conv::Smc64 };
            let class = match c.class[v] {
                Class::Forward => fast::FORWARD,
                Class::Emulate(Handler::Features) => fast::FEATURES,
                Class::Emulate(Handler::IdGet) => fast::ID_GET,
                Class::Emulate(_) | Class::Unsupported => 0,
            };
            let l = layout[cv][v];
            let mbz = high_mbz & (1 << (3 * cv + v)) != 0;
            // In place: v1.2, and nothing in x8..x17 either way (they are zero in the call
            // and no allowed reply defines them).
            let send = if v == Version::V1_2 as usize && mbz && !c.reply_high {
                fast::IN_PLACE
            } else {
                0
            };
            assert!((l as u16) < fast::LAYOUT + 1);
            if abi.convs.has(conv) {
                let short = if row == VERSION_ROW { 0 } else { class };
                c.fast[cv][v] = l as u16 | short | send | if mbz { fast::HIGH_MBZ } else { 0 };
            }
            cv += 1;
        }
        v += 1;
    }
    let mut i = 0;
    while i < abi.fields.len() {
        let f = &abi.fields[i];
        if let Kind::ValueIf { reg, bit } = f.kind {
            assert!(
                c.cond_reg == 0 || c.cond_reg == f.reg,
                "one conditional field per row"
            );
            assert!(f.reg <= 7 && reg <= 7 && reg >= 1);
            c.cond_reg = f.reg;
            assert!(
                f.mask(Conv::Smc64) >> 32 == 0 && bit < 32,
                "w-register fields"
            );
            c.cond_mask = f.mask(Conv::Smc64) as u32;
            c.flag_reg = reg;
            c.flag_mask = 1 << bit;
        }
        if let Kind::SecureId = f.kind {
            // An endpoint ID is 16 bits wide; its bit 15 says Secure. The field is carried
            // (layout_of), and the top bit must also be one.
            assert!(
                f.width == 16 && f.lsb + 16 <= 32,
                "endpoint IDs are w-register halves"
            );
            // The mask applies at every version the row exists in.
            assert!(
                f.since as u8 == Version::V1_0 as u8,
                "Secure IDs in every version"
            );
            assert!(f.reg == 1, "Secure endpoint IDs are in w1");
            c.ones_mask |= 1 << (f.lsb + 15);
        }
        i += 1;
    }
    c.predicates = c.cond_reg != 0;
    c
}

impl Compiled {
    /// Whether [`Compiled::cond_reg`] is in use.
    #[inline(always)]
    pub(crate) fn has_predicates(&self) -> bool {
        self.predicates
    }
}

/// The bits of [`Compiled::fast`].
pub(crate) mod fast {
    /// Bits [5:0]: the index into [`super::LAYOUTS`].
    pub const LAYOUT: u16 = 0x3F;
    /// Bits [7:6]: what the trap path's short path does (0: take the general path).
    pub const CLASS: u16 = 3 << 6;
    /// Validate and forward.
    pub const FORWARD: u16 = 1 << 6;
    /// Validate, then `FFA_FEATURES`.
    pub const FEATURES: u16 = 2 << 6;
    /// Validate, then answer `FFA_ID_GET`.
    pub const ID_GET: u16 = 3 << 6;
    /// Bit 8: a forwarded call can go from the host's registers in place (v1.2, x8..x17
    /// zero in the call and defined by no allowed reply: `smccc::High::Keep`); else the
    /// proxy forwards a rebuilt copy.
    pub const IN_PLACE: u16 = 1 << 8;
    /// Bit 10: x8..x17 must be zero ([`super::Compiled::high_mbz`]).
    pub const HIGH_MBZ: u16 = 1 << 10;
}

// `row_of` answers row 0 for a number without a row: row 0 must take the general path.
const _: () = {
    let c = compile(0);
    assert!((c.fast[0][0] | c.fast[0][1] | c.fast[0][2]) & fast::CLASS == 0);
    assert!((c.fast[1][0] | c.fast[1][1] | c.fast[1][2]) & fast::CLASS == 0);
};

/// [`TABLE`] compiled for the trap path.
pub(crate) static COMPILED: [Compiled; TABLE.len()] = {
    let mut out = [compile(0); TABLE.len()];
    let mut i = 1;
    while i < TABLE.len() {
        out[i] = compile(i);
        i += 1;
    }
    out
};

/// The reply kind of a reply's x0 (index into [`Compiled::reply`]): 1 + its index in
/// [`REPLY_IDS`], or 0 for anything that is no reply of any forwarded call.
#[inline(always)]
pub(crate) fn reply_kind(x0: u64) -> usize {
    // Bit 6: SMC64; bits [5:0]: function number - 0x60 -> kind (0: not a reply).
    static KIND: [u8; 128] = {
        let mut t = [0; 128];
        let mut k = 0;
        while k < REPLY_IDS.len() {
            let id = REPLY_IDS[k];
            let slot = (id >> 24) as usize & 0x40 | ((id & 0xFF) as usize - 0x60);
            t[slot] = k as u8 + 1;
            k += 1;
        }
        t
    };
    // x0 = 0x8400_0060 + n or 0xC400_0060 + n with n < 64, nothing else.
    let n = (x0 & !(1 << 30)).wrapping_sub(0x8400_0060);
    if n >= 64 {
        return 0;
    }
    usize::from(KIND[(n as usize | (x0 >> 24) as usize & 0x40) & 127])
}

/// A field as the firmware keeps it: [`Field`] without the string pointer (its name is a
/// range of [`NAMES`]). With the row data in [`ROWS`], the firmware never refers to
/// [`TABLE`] itself, whose pointers would cost the image 5 KiB of relocated data.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CField {
    reg: u8,
    lsb: u8,
    width: u8,
    kind: Kind,
    since: Version,
    name_at: u16,
    name_len: u8,
}

impl CField {
    /// The [`Field`] back.
    pub(crate) fn field(&self) -> Field {
        Field {
            reg: self.reg,
            lsb: self.lsb,
            width: self.width,
            kind: self.kind,
            name: name_at(self.name_at, self.name_len),
            since: self.since,
        }
    }
}

/// A row as the firmware keeps it (see [`CField`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CRow {
    name_at: u16,
    name_len: u8,
    number: u8,
    convs: Convs,
    first_field: u16,
    fields: u8,
}

/// The fields the firmware keeps of a row: all of them on the development host; in the
/// image, none for rows the proxy blocks, which are refused before any field is looked at.
const fn kept_fields(abi: &Row) -> &'static [Field] {
    if cfg!(target_os = "none") && matches!(abi.policy, Policy::Block) {
        &[]
    } else {
        abi.fields
    }
}

const N_FIELDS: usize = {
    let mut n = 0;
    let mut row = 0;
    while row < TABLE.len() {
        n += kept_fields(&TABLE[row]).len();
        row += 1;
    }
    n
};

/// Each name once: returns the blob's length, and fills `blob` (if long enough) and the
/// offsets.
const fn collect_names<const N: usize>(
    blob: &mut [u8; N],
    rows: &mut [CRow; TABLE.len()],
    fields: &mut [CField; N_FIELDS],
) -> usize {
    // (offset, length) of every name added so far.
    let mut seen = [(0u16, 0u8); 64 + N_FIELDS];
    let mut n_seen = 0;
    let mut len = 0;
    let mut row = 0;
    let mut f = 0;
    while row < TABLE.len() {
        let abi = &TABLE[row];
        let kept = kept_fields(abi);
        let mut i = 0;
        while i <= kept.len() {
            let name = if i == 0 {
                abi.name.as_bytes()
            } else {
                kept[i - 1].name.as_bytes()
            };
            assert!(name.len() < 256, "names fit a byte");
            // Already in the blob?
            let mut k = 0;
            let mut at = usize::MAX;
            while k < n_seen && at == usize::MAX {
                let (o, l) = seen[k];
                if l as usize == name.len() {
                    let mut j = 0;
                    while j < name.len() && (N == 0 || blob[o as usize + j] == name[j]) {
                        j += 1;
                    }
                    if j == name.len() && N != 0 {
                        at = o as usize;
                    }
                }
                k += 1;
            }
            if at == usize::MAX {
                at = len;
                let mut j = 0;
                while j < name.len() {
                    if N != 0 {
                        blob[len + j] = name[j];
                    }
                    j += 1;
                }
                len += name.len();
                seen[n_seen] = (at as u16, name.len() as u8);
                n_seen += 1;
            }
            assert!(at < u16::MAX as usize);
            if i == 0 {
                rows[row] = CRow {
                    name_at: at as u16,
                    name_len: name.len() as u8,
                    number: abi.number,
                    convs: abi.convs,
                    first_field: f as u16,
                    fields: kept.len() as u8,
                };
            } else {
                let fl = &kept[i - 1];
                fields[f] = CField {
                    reg: fl.reg,
                    lsb: fl.lsb,
                    width: fl.width,
                    kind: fl.kind,
                    since: fl.since,
                    name_at: at as u16,
                    name_len: name.len() as u8,
                };
                f += 1;
            }
            i += 1;
        }
        row += 1;
    }
    len
}

const NO_CROW: CRow = CRow {
    name_at: 0,
    name_len: 0,
    number: 0,
    convs: Convs::Smc32,
    first_field: 0,
    fields: 0,
};

const NO_CFIELD: CField = CField {
    reg: 0,
    lsb: 0,
    width: 0,
    kind: Kind::Reserved,
    since: Version::V1_0,
    name_at: 0,
    name_len: 0,
};

/// An upper bound for the blob while counting (names are only compared once stored).
const N_NAME_BYTES: usize = {
    let mut probe = [0u8; 8192];
    let mut rows = [NO_CROW; TABLE.len()];
    let mut fields = [NO_CFIELD; N_FIELDS];
    let n = collect_names(&mut probe, &mut rows, &mut fields);
    assert!(n <= 8192);
    n
};

/// The firmware's table: names, rows and fields without pointers (see [`CField`]).
const COMPACT: ([u8; N_NAME_BYTES], [CRow; TABLE.len()], [CField; N_FIELDS]) = {
    let mut blob = [0u8; N_NAME_BYTES];
    let mut rows = [NO_CROW; TABLE.len()];
    let mut fields = [NO_CFIELD; N_FIELDS];
    collect_names(&mut blob, &mut rows, &mut fields);
    (blob, rows, fields)
};

/// Every row and field name, each once.
static NAMES: &str = match core::str::from_utf8(&COMPACT.0) {
    Ok(s) => s,
    Err(_) => panic!("names are UTF-8"),
};

/// [`TABLE`]'s rows without pointers.
pub(crate) static ROWS: [CRow; TABLE.len()] = COMPACT.1;

/// [`TABLE`]'s fields without pointers, row after row.
static FIELDS: [CField; N_FIELDS] = COMPACT.2;

fn name_at(at: u16, len: u8) -> &'static str {
    let at = usize::from(at);
    NAMES.get(at..at + usize::from(len)).unwrap_or("?")
}

impl CRow {
    /// The spec's name.
    pub(crate) fn name(&self) -> &'static str {
        name_at(self.name_at, self.name_len)
    }

    /// The function ID in convention `conv`, if the row defines it.
    pub(crate) fn function_id(&self, conv: Conv) -> Option<u32> {
        let base = match conv {
            Conv::Smc32 => 0x8400_0000,
            Conv::Smc64 => 0xC400_0000,
        };
        self.convs
            .has(conv)
            .then_some(base | u32::from(self.number))
    }

    /// The row's fields.
    pub(crate) fn fields(&self) -> &'static [CField] {
        let first = usize::from(self.first_field);
        FIELDS
            .get(first..first + usize::from(self.fields))
            .unwrap_or(&[])
    }
}

/// The name of row `row`, or "unknown".
pub(crate) fn row_name(row: usize) -> &'static str {
    ROWS.get(row).map_or("unknown", CRow::name)
}

/// Index of the `FFA_VERSION` row (used by the negotiation path, which bypasses the version
/// gate).
pub(crate) const VERSION_ROW: usize = row_index(0x63);

/// Index of the `FFA_FEATURES` row.
pub(crate) const FEATURES_ROW: usize = row_index(0x64);

const fn row_index(number: u8) -> usize {
    let mut i = 0;
    while i < TABLE.len() {
        if TABLE[i].number == number {
            return i;
        }
        i += 1;
    }
    panic!("no such row")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the firmware reads of the table, as text: the compiled rows, the layouts,
    /// the reply masks, the lookup index and the pointer-free rows, fields and names.
    fn compiled_snapshot() -> String {
        use core::fmt::Write;
        let mut s = String::new();
        for (i, c) in COMPILED.iter().enumerate() {
            writeln!(
                s,
                "{i}: {:?} {:?} {} {:?} {} {} {} {:#x} {:#x} {:#x}",
                c.class,
                c.reply,
                c.reply_high,
                c.fast,
                c.predicates,
                c.cond_reg,
                c.flag_reg,
                c.cond_mask,
                c.flag_mask,
                c.ones_mask
            )
            .unwrap();
        }
        writeln!(s, "{LAYOUTS:x?}").unwrap();
        writeln!(s, "{REPLY_MASKS:x?}").unwrap();
        writeln!(s, "{INDEX:?}").unwrap();
        writeln!(s, "{ROWS:?}").unwrap();
        writeln!(s, "{FIELDS:?}").unwrap();
        writeln!(s, "{NAMES}").unwrap();
        writeln!(s, "{VERSION_ROW} {FEATURES_ROW} {REPLY_IDS:x?}").unwrap();
        s
    }

    /// FNV-1a, 64 bits.
    fn digest(s: &str) -> u64 {
        s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// The compiled tables are what the trap path runs on: a change of the table's source
    /// form (layout of the rows, helpers, modules) must leave them bit for bit as they are.
    /// A deliberate change of a row changes this digest: print the snapshot, review it, and
    /// update the number.
    #[test]
    fn compiled_tables_are_pinned() {
        let snapshot = compiled_snapshot();
        assert_eq!(
            digest(&snapshot),
            18_203_699_953_606_239_736,
            "the compiled FF-A tables changed:\n{snapshot}"
        );
    }

    #[test]
    fn lookup_finds_both_conventions_and_nothing_else() {
        assert!(matches!(
            lookup(ffa_spec::fid::MSG_SEND_DIRECT_REQ_32),
            Some((_, Conv::Smc32))
        ));
        assert!(matches!(
            lookup(ffa_spec::fid::MSG_SEND_DIRECT_REQ_64),
            Some((_, Conv::Smc64))
        ));
        assert_eq!(lookup(0x8400_008D), None, "DIRECT_REQ2 has no SMC32 ID");
        assert_eq!(lookup(0xC400_0063), None, "FFA_VERSION has no SMC64 ID");
        assert_eq!(
            lookup(0x8401_0063),
            None,
            "call hint must be stripped first"
        );
        assert_eq!(lookup(0x0400_0063), None, "yielding call");
        assert_eq!(lookup(0x8400_005F), None);
        assert_eq!(lookup(0x8400_00FF), None);
        assert_eq!(lookup(0x8500_0063), None, "another owner");
    }
}
