//! The memory transaction descriptor of FFA_MEM_SHARE, parsed and validated from the
//! hypervisor's private copy (never from the host's TX buffer, which another CPU can rewrite).
//!
//! Layouts (little-endian; offsets in bytes), for the version negotiated with the host:
//!
//! | Structure | v1.0 | v1.1 | v1.2 |
//! |---|---|---|---|
//! | transaction header | 32: sender u16 @0, attributes u8 @2 (+u8 reserved), flags u32 @4, handle u64 @8, tag u64 @16, reserved u32 @24, receiver count u32 @28 | 48: sender u16 @0, attributes u16 @2, flags u32 @4, handle u64 @8, tag u64 @16, receiver descriptor size u32 @24, receiver count u32 @28, receiver array offset u32 @32, 12 reserved bytes @36 | as v1.1 |
//! | receiver (EMAD) | 16 at offset 32: endpoint u16 @0, permissions u8 @2, flags u8 @3, composite offset u32 @4, reserved u64 @8 | 16, at the header's offset | 32: as v1.1 with 16 implementation-defined bytes @8 and the reserved u64 @24 |
//! | composite | 16: total page count u32 @0, range count u32 @4, reserved u64 @8 | same | same |
//! | constituent | 16: address u64 @0, page count u32 @8, reserved u32 @12 | same | same |
//!
//! (DEN0077 "Memory transaction descriptor"; Linux `arm_ffa.h` and `driver.c`
//! `ffa_setup_and_transmit`, OP-TEE `ffa.h` and `spmc_read_mem_transaction`.) Only the
//! hypervisor's copy is parsed (D-COPY-ONCE in `docs/ffa-decisions.md`). Every offset and
//! length is checked with overflow-safe arithmetic against the fragment; nothing here panics
//! or allocates. The bounds are those of `crate::budget` (D-MEM-BOUNDS).
//!
//! What a host SHARE or LEND must look like (the proxy's rules, plus what the SPMC would
//! refuse anyway):
//! - sender 0; handle 0 (the SPMC would adopt a host-chosen handle); flags 0 (no zeroing, no
//!   time slicing; the rest reserved);
//! - memory attributes: Normal, write-back or non-cacheable, not the reserved shareability,
//!   NS bit (v1.1+ bit 6) clear, reserved bits clear;
//! - 1..=[`MAX_RECEIVERS`] receivers, each a Secure endpoint (ID bit 15), no duplicates,
//!   data access RO or RW, instruction access "not specified" or NX, flags and reserved zero,
//!   all naming the same composite;
//! - receiver array and composite inside the fragment, with no gap: the receivers right
//!   after the header, the composite right after the receivers (D-DESC-CANONICAL: the layout
//!   Linux writes; a gap could hide bytes the proxy never read from an SPMC that parses
//!   differently, and would change the lengths the SPMC is told); v1.1+: the receiver size
//!   exactly that of the version;
//! - v1.2's 16 implementation-defined receiver bytes: accepted and forwarded as zero (the
//!   proxy cannot vouch for what it does not understand; D-DESC-CANONICAL);
//! - 1..=[`MAX_CONSTITUENTS`] constituents ending exactly at the end of the descriptor, each
//!   page-aligned, at least one page, not wrapping, reserved zero, and the composite's total
//!   page count equal to their sum.
//!
//! The copy forwarded to the SPMC is rebuilt from the validated fields ([`rebuild`]), so no
//! byte the proxy did not validate reaches it.
//!
//! Whether the pages are host RAM, `Owned`, and do not overlap is the ownership map's check
//! ([`crate::mm::Ownership::claim`]).

use core::fmt;
use core::ops::Range;

use super::abi::Version;
use crate::addr::PAGE;
use crate::mm::Ranges;

pub use crate::budget::{MAX_CONSTITUENTS, MAX_RECEIVERS};

// The refusals below spell the bounds out ("not 1..=4", "not 1..=512"): a new budget must
// update them.
const _: () = assert!(MAX_RECEIVERS == 4 && MAX_CONSTITUENTS == 512);

const COMPOSITE_SIZE: usize = 16;
const CONSTITUENT_SIZE: usize = 16;

/// Why a descriptor was refused: the field, its offset in the descriptor and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DescError {
    /// What is wrong.
    pub what: &'static str,
    /// Offset of the field in the descriptor.
    pub offset: usize,
    /// The field's value (or the length that did not fit).
    pub value: u64,
}

impl fmt::Display for DescError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "descriptor @{:#x}: {} ({:#x})",
            self.offset, self.what, self.value
        )
    }
}

fn err(what: &'static str, offset: usize, value: u64) -> DescError {
    DescError {
        what,
        offset,
        value,
    }
}

/// Reads `N` bytes at `offset`, or fails naming `what`.
fn bytes<const N: usize>(
    d: &[u8],
    offset: usize,
    what: &'static str,
) -> Result<[u8; N], DescError> {
    offset
        .checked_add(N)
        .and_then(|end| d.get(offset..end))
        .and_then(|s| s.try_into().ok())
        .ok_or(err(what, offset, d.len() as u64))
}

fn u8_at(d: &[u8], offset: usize, what: &'static str) -> Result<u8, DescError> {
    Ok(bytes::<1>(d, offset, what)?[0])
}

fn u16_at(d: &[u8], offset: usize, what: &'static str) -> Result<u16, DescError> {
    Ok(u16::from_le_bytes(bytes(d, offset, what)?))
}

fn u32_at(d: &[u8], offset: usize, what: &'static str) -> Result<u32, DescError> {
    Ok(u32::from_le_bytes(bytes(d, offset, what)?))
}

fn u64_at(d: &[u8], offset: usize, what: &'static str) -> Result<u64, DescError> {
    Ok(u64::from_le_bytes(bytes(d, offset, what)?))
}

/// `field` must be zero.
fn zero(value: u64, what: &'static str, offset: usize) -> Result<(), DescError> {
    if value == 0 {
        Ok(())
    } else {
        Err(err(what, offset, value))
    }
}

/// Size of a receiver descriptor (EMAD) at `ver`.
pub const fn emad_size(ver: Version) -> usize {
    match ver {
        Version::V1_0 | Version::V1_1 => 16,
        Version::V1_2 => 32,
    }
}

/// Size of the transaction header at `ver`.
pub const fn header_size(ver: Version) -> usize {
    match ver {
        Version::V1_0 => 32,
        Version::V1_1 | Version::V1_2 => 48,
    }
}

/// A validated FFA_MEM_SHARE descriptor: a view over the hypervisor's copy.
#[derive(Clone, Copy, Debug)]
pub struct Share<'a> {
    desc: &'a [u8],
    /// Offset of the first constituent.
    constituents: usize,
    /// Number of constituents.
    count: usize,
    /// Total pages (the sum of the constituents).
    pub total_pages: u64,
    /// The sender's tag.
    pub tag: u64,
    /// Number of receivers.
    pub receivers: usize,
}

impl Share<'_> {
    /// Number of constituents.
    pub fn constituent_count(&self) -> usize {
        self.count
    }
}

impl Ranges for Share<'_> {
    fn count(&self) -> usize {
        self.count
    }

    /// Constituent `i` as a physical range (validated by [`parse_share`]: aligned, no wrap).
    fn range(&self, i: usize) -> Range<u64> {
        let at = self.constituents + i * CONSTITUENT_SIZE;
        let addr = u64_at(self.desc, at, "").unwrap_or(0);
        let pages = u64::from(u32_at(self.desc, at + 8, "").unwrap_or(0));
        addr..addr.saturating_add(pages * PAGE)
    }
}

/// Parses and validates the FFA_MEM_SHARE descriptor `desc` (the whole transaction: one
/// fragment) for version `ver`.
pub fn parse_share(desc: &[u8], ver: Version) -> Result<Share<'_>, DescError> {
    parse_transfer(desc, ver, false)
}

/// As [`parse_share`], for FFA_MEM_SHARE (`lend` false) or FFA_MEM_LEND (`lend` true). A
/// lend to one borrower leaves the memory attributes "not specified" (0: the borrower
/// chooses them when it retrieves; DEN0077 v1.2 §10.10.4, and OP-TEE 4.10 refuses anything
/// else); a lend to several borrowers names them as a share does.
pub fn parse_transfer(desc: &[u8], ver: Version, lend: bool) -> Result<Share<'_>, DescError> {
    let (share, declared) = parse_first_fragment(desc, desc.len(), ver, lend)?;
    declared.check_complete(share.total_pages)?;
    Ok(share)
}

/// What the composite of a transaction declares, to be checked once every fragment is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declared {
    /// Constituents in the whole transaction.
    pub constituents: usize,
    /// Pages in the whole transaction.
    pub pages: u64,
    /// Offset of the composite (where a mismatch is reported).
    composite: usize,
}

impl Declared {
    /// The transaction is complete with `pages` pages in its constituents: they must add up
    /// to the composite's total page count.
    pub fn check_complete(&self, pages: u64) -> Result<(), DescError> {
        if pages == self.pages {
            Ok(())
        } else {
            Err(err(
                "total page count is not the sum of the constituents",
                self.composite,
                self.pages,
            ))
        }
    }
}

/// Parses the first fragment `frag` of a transaction of `total` bytes (FFA_MEM_SHARE/LEND
/// with a fragment length below the total length; `total == frag.len()` for one fragment):
/// the header, the receivers and the composite must be in it, and it must end on a
/// constituent boundary; the constituents it holds are checked and returned, and what the
/// composite declares for the whole transaction comes back beside them.
pub fn parse_first_fragment(
    frag: &[u8],
    total: usize,
    ver: Version,
    lend: bool,
) -> Result<(Share<'_>, Declared), DescError> {
    let desc = frag;
    let len = desc.len();
    let header = header_size(ver);
    if len < header {
        return Err(err("shorter than the transaction header", 0, len as u64));
    }
    zero(
        u16_at(desc, 0, "sender")?.into(),
        "sender is not the host (0)",
        0,
    )?;
    let attributes = if ver == Version::V1_0 {
        zero(u8_at(desc, 3, "reserved")?.into(), "reserved byte", 3)?;
        u16::from(u8_at(desc, 2, "attributes")?)
    } else {
        u16_at(desc, 2, "attributes")?
    };
    let receiver_count = u32_at(desc, 28, "receiver count")?;
    if lend && receiver_count == 1 {
        zero(
            attributes.into(),
            "memory attributes of a lend to one borrower must be 0 (not specified)",
            2,
        )?;
    } else {
        check_share_attributes(attributes, ver)?;
    }
    zero(
        u32_at(desc, 4, "flags")?.into(),
        "flags must be 0 for a share",
        4,
    )?;
    zero(
        u64_at(desc, 8, "handle")?,
        "handle must be 0 (the SPMC allocates it)",
        8,
    )?;
    let tag = u64_at(desc, 16, "tag")?;
    let receivers = u32_at(desc, 28, "receiver count")? as usize;
    let size = emad_size(ver);
    let emads = if ver == Version::V1_0 {
        zero(u32_at(desc, 24, "reserved")?.into(), "reserved word", 24)?;
        header
    } else {
        let given = u32_at(desc, 24, "receiver size")? as usize;
        if given != size {
            return Err(err(
                "receiver descriptor size is not the version's",
                24,
                given as u64,
            ));
        }
        let offset = u32_at(desc, 32, "receiver offset")? as usize;
        if offset < header || !offset.is_multiple_of(16) {
            return Err(err(
                "receiver array offset inside the header or unaligned",
                32,
                offset as u64,
            ));
        }
        for at in (36..48).step_by(4) {
            zero(
                u32_at(desc, at, "reserved")?.into(),
                "reserved header bytes",
                at,
            )?;
        }
        offset
    };
    if receivers == 0 || receivers > MAX_RECEIVERS {
        return Err(err("receiver count not 1..=4", 28, receivers as u64));
    }
    let emads_end = emads
        .checked_add(receivers * size)
        .filter(|&e| e <= len)
        .ok_or(err("receivers run past the descriptor", emads, len as u64))?;
    if emads != header {
        return Err(err(
            "gap between the header and the receivers",
            32,
            emads as u64,
        ));
    }

    let mut composite = 0usize;
    for r in 0..receivers {
        let at = emads + r * size;
        let id = u16_at(desc, at, "receiver ID")?;
        if id & 0x8000 == 0 {
            return Err(err("receiver is not a Secure endpoint", at, id.into()));
        }
        for other in 0..r {
            if u16_at(desc, emads + other * size, "receiver ID")? == id {
                return Err(err("receiver named twice", at, id.into()));
            }
        }
        let perms = u8_at(desc, at + 2, "permissions")?;
        let data = perms & 0b11;
        let instruction = (perms >> 2) & 0b11;
        if !(data == 0b01 || data == 0b10) || instruction > 0b01 || perms >> 4 != 0 {
            return Err(err(
                "permissions not RO/RW with instruction access unspecified or NX",
                at + 2,
                perms.into(),
            ));
        }
        zero(
            u8_at(desc, at + 3, "receiver flags")?.into(),
            "receiver flags",
            at + 3,
        )?;
        let off = u32_at(desc, at + 4, "composite offset")? as usize;
        if r == 0 {
            composite = off;
        } else if off != composite {
            return Err(err(
                "receivers name different composites",
                at + 4,
                off as u64,
            ));
        }
        let reserved_at = at + size - 8;
        zero(
            u64_at(desc, reserved_at, "reserved")?,
            "receiver reserved field",
            reserved_at,
        )?;
    }
    if composite < emads_end || !composite.is_multiple_of(8) {
        return Err(err(
            "composite overlaps the receivers or is unaligned",
            emads + 4,
            composite as u64,
        ));
    }
    let first = composite
        .checked_add(COMPOSITE_SIZE)
        .filter(|&e| e <= len)
        .ok_or(err(
            "composite runs past the descriptor",
            emads + 4,
            composite as u64,
        ))?;
    if composite != emads_end {
        return Err(err(
            "gap between the receivers and the composite",
            emads + 4,
            composite as u64,
        ));
    }
    let total_pages = u32_at(desc, composite, "total page count")?;
    let count = u32_at(desc, composite + 4, "range count")? as usize;
    zero(
        u64_at(desc, composite + 8, "reserved")?,
        "composite reserved field",
        composite + 8,
    )?;
    if count == 0 || count > MAX_CONSTITUENTS {
        return Err(err("range count not 1..=512", composite + 4, count as u64));
    }
    let expected = first + count * CONSTITUENT_SIZE;
    if expected != total {
        return Err(err(
            "constituents do not end at the end of the descriptor",
            first,
            expected as u64,
        ));
    }
    if !(len - first).is_multiple_of(CONSTITUENT_SIZE) {
        return Err(err("fragment ends inside a constituent", first, len as u64));
    }
    let present = (len - first) / CONSTITUENT_SIZE;
    let sum = check_constituents(desc, first, present)?;
    let declared = Declared {
        constituents: count,
        pages: total_pages.into(),
        composite,
    };
    Ok((
        Share {
            desc,
            constituents: first,
            count: present,
            total_pages: sum,
            tag,
            receivers,
        },
        declared,
    ))
}

/// Parses a later fragment of a transaction (FFA_MEM_FRAG_TX): whole constituents only,
/// at least one.
pub fn parse_constituents(frag: &[u8]) -> Result<Share<'_>, DescError> {
    let len = frag.len();
    if len == 0 || !len.is_multiple_of(CONSTITUENT_SIZE) {
        return Err(err(
            "fragment is not a whole number of constituents",
            0,
            len as u64,
        ));
    }
    let count = len / CONSTITUENT_SIZE;
    let sum = check_constituents(frag, 0, count)?;
    Ok(Share {
        desc: frag,
        constituents: 0,
        count,
        total_pages: sum,
        tag: 0,
        receivers: 0,
    })
}

/// Rewrites `frag`, a fragment that [`parse_first_fragment`] (`first`) or
/// [`parse_constituents`] accepted for `ver`, from its validated fields alone: the header
/// with the proxy's offsets, the receivers right after it, the composite right after them,
/// then the constituents; every reserved and implementation-defined byte zero. The copy is
/// the hypervisor's (D-COPY-ONCE) and the parser accepts only this layout, so each field is
/// read where it was validated and the length does not change (D-DESC-CANONICAL).
#[inline(never)]
pub fn rebuild(frag: &mut [u8], ver: Version, first: bool) {
    // In place: every byte that is not a validated field is zeroed and every offset and size
    // is the one the proxy computes, so what remains is a function of the validated fields.
    let mut constituents = 0;
    if first {
        let (header, size) = (header_size(ver), emad_size(ver));
        let receivers = (u32_at(frag, 28, "").unwrap_or(0) as usize).min(MAX_RECEIVERS);
        let composite = header + receivers * size;
        constituents = composite + COMPOSITE_SIZE;
        // The sender (0), then all but the attributes, the tag and the receiver count.
        zeroes::<2>(frag, 0);
        if ver == Version::V1_0 {
            zeroes::<1>(frag, 3);
            zeroes::<12>(frag, 4);
            zeroes::<4>(frag, 24);
        } else {
            zeroes::<12>(frag, 4);
            put32(frag, 24, size as u32);
            put32(frag, 32, header as u32);
            zeroes::<12>(frag, 36);
        }
        // Each receiver keeps its ID and permissions.
        for at in (header..composite).step_by(size) {
            zeroes::<1>(frag, at + 3);
            put32(frag, at + 4, composite as u32);
            if size == 32 {
                zeroes::<24>(frag, at + 8);
            } else {
                zeroes::<8>(frag, at + 8);
            }
        }
        // The composite keeps its two counts.
        zeroes::<8>(frag, composite + 8);
    }
    let rest = frag.get_mut(constituents..).unwrap_or_default();
    for c in rest.chunks_exact_mut(CONSTITUENT_SIZE) {
        zeroes::<4>(c, 12);
    }
}

/// Zeroes the `N` bytes of `d` at `at` (nothing if they are not inside: no panic). A
/// fixed length, so that the compiler writes them in place rather than call `memset` for a
/// dozen bytes (as a `fill` of a range whose length it cannot see does).
fn zeroes<const N: usize>(d: &mut [u8], at: usize) {
    if let Some(s) = d.get_mut(at..).and_then(|s| s.first_chunk_mut::<N>()) {
        *s = [0; N];
    }
}

/// Writes `v` at `at` in `d` (nothing if it is not inside: no panic).
fn put32(d: &mut [u8], at: usize, v: u32) {
    if let Some(s) = d.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// Checks `count` constituents from offset `first`; returns their page sum.
fn check_constituents(desc: &[u8], first: usize, count: usize) -> Result<u64, DescError> {
    let mut sum = 0u64;
    for i in 0..count {
        let at = first + i * CONSTITUENT_SIZE;
        let addr = u64_at(desc, at, "address")?;
        let pages = u32_at(desc, at + 8, "page count")?;
        zero(
            u32_at(desc, at + 12, "reserved")?.into(),
            "constituent reserved field",
            at + 12,
        )?;
        if !addr.is_multiple_of(PAGE) {
            return Err(err("constituent not page-aligned", at, addr));
        }
        if pages == 0 {
            return Err(err("constituent of zero pages", at + 8, 0));
        }
        // pages < 2^32, so pages * PAGE < 2^44: only the addition can overflow.
        if addr.checked_add(u64::from(pages) * PAGE).is_none() {
            return Err(err("constituent wraps the address space", at, addr));
        }
        sum += u64::from(pages);
    }
    Ok(sum)
}

/// Memory region attributes of a share: Normal, WB or NC, shareability not reserved, NS
/// clear, everything else reserved.
fn check_share_attributes(a: u16, ver: Version) -> Result<(), DescError> {
    let memory_type = (a >> 4) & 0b11;
    let cacheability = (a >> 2) & 0b11;
    let shareability = a & 0b11;
    let reserved = if ver == Version::V1_0 { a >> 6 } else { a >> 7 };
    let ns = ver != Version::V1_0 && a & (1 << 6) != 0;
    if ns {
        return Err(err("NS bit set in the memory attributes", 2, a.into()));
    }
    if memory_type != 0b10
        || !(cacheability == 0b01 || cacheability == 0b11)
        || shareability == 0b01
        || reserved != 0
    {
        return Err(err(
            "memory attributes not Normal WB/NC with a valid shareability",
            2,
            a.into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Builds a share descriptor the way Linux's `ffa_setup_and_transmit` does, for `ver`.
    pub(crate) fn linux_share(ver: Version, receivers: &[u16], ranges: &[(u64, u32)]) -> Vec<u8> {
        let mut d = Vec::new();
        let header = header_size(ver);
        let size = emad_size(ver);
        d.resize(header, 0);
        d[2] = 0x2f; // Normal, write-back, inner shareable
        d[16..24].copy_from_slice(&0x1234u64.to_le_bytes()); // tag
        d[28..32].copy_from_slice(&(receivers.len() as u32).to_le_bytes());
        if ver != Version::V1_0 {
            d[24..28].copy_from_slice(&(size as u32).to_le_bytes());
            d[32..36].copy_from_slice(&(header as u32).to_le_bytes());
        }
        let composite = header + receivers.len() * size;
        for &id in receivers {
            let mut e = alloc::vec![0u8; size];
            e[0..2].copy_from_slice(&id.to_le_bytes());
            e[2] = 0b10; // RW
            e[4..8].copy_from_slice(&(composite as u32).to_le_bytes());
            d.extend_from_slice(&e);
        }
        let total: u32 = ranges.iter().map(|r| r.1).sum();
        d.extend_from_slice(&total.to_le_bytes());
        d.extend_from_slice(&(ranges.len() as u32).to_le_bytes());
        d.extend_from_slice(&0u64.to_le_bytes());
        for &(addr, pages) in ranges {
            d.extend_from_slice(&addr.to_le_bytes());
            d.extend_from_slice(&pages.to_le_bytes());
            d.extend_from_slice(&0u32.to_le_bytes());
        }
        d
    }

    const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    fn composite_at(ver: Version, receivers: usize) -> usize {
        header_size(ver) + receivers * emad_size(ver)
    }

    #[test]
    fn linux_descriptors_parse_at_every_version() {
        for ver in ALL {
            let d = linux_share(ver, &[0x8001], &[(0x4800_0000, 2), (0x4900_0000, 1)]);
            let s = parse_share(&d, ver).unwrap_or_else(|e| panic!("v{ver}: {e}"));
            assert_eq!(s.total_pages, 3);
            assert_eq!(s.count(), 2);
            assert_eq!(s.range(0), 0x4800_0000..0x4800_2000);
            assert_eq!(s.range(1), 0x4900_0000..0x4900_1000);
            assert_eq!(s.tag, 0x1234);
            assert_eq!(s.receivers, 1);
        }
        // Two receivers sharing one composite.
        let d = linux_share(Version::V1_2, &[0x8001, 0x8002], &[(0x4800_0000, 1)]);
        assert_eq!(parse_share(&d, Version::V1_2).unwrap().receivers, 2);
    }

    #[test]
    fn a_descriptor_for_another_version_is_refused() {
        let v10 = linux_share(Version::V1_0, &[0x8001], &[(0x4800_0000, 1)]);
        let v12 = linux_share(Version::V1_2, &[0x8001], &[(0x4800_0000, 1)]);
        let v11 = linux_share(Version::V1_1, &[0x8001], &[(0x4800_0000, 1)]);
        assert!(parse_share(&v10, Version::V1_2).is_err());
        assert!(
            parse_share(&v12, Version::V1_1).is_err(),
            "32-byte EMADs at v1.1"
        );
        assert!(
            parse_share(&v11, Version::V1_2).is_err(),
            "16-byte EMADs at v1.2"
        );
        assert!(parse_share(&v12, Version::V1_0).is_err());
    }

    /// Applies `edit` to a good v`ver` descriptor and expects a refusal naming `what`.
    fn refused(ver: Version, what: &str, edit: impl Fn(&mut Vec<u8>)) {
        let mut d = linux_share(ver, &[0x8001], &[(0x4800_0000, 2), (0x4900_0000, 1)]);
        edit(&mut d);
        match parse_share(&d, ver) {
            Ok(_) => panic!("v{ver}: {what}: accepted"),
            Err(e) => assert!(e.what.contains(what), "v{ver}: expected {what:?}, got {e}"),
        }
    }

    fn put32(d: &mut [u8], at: usize, v: u32) {
        d[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put64(d: &mut [u8], at: usize, v: u64) {
        d[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn header_fields_are_checked() {
        for ver in ALL {
            refused(ver, "sender", |d| d[0] = 1);
            refused(ver, "memory attributes", |d| d[2] = 0x1f); // Device
            refused(ver, "memory attributes", |d| d[2] = 0x21); // reserved shareability
            refused(ver, "memory attributes", |d| d[2] = 0x2b); // cacheability 0b10
            refused(ver, "flags", |d| d[4] = 1); // zero memory
            refused(ver, "flags", |d| d[4] = 2); // time slicing
            refused(ver, "handle", |d| d[8] = 1);
            refused(ver, "receiver count", |d| put32(d, 28, 0));
            refused(ver, "receiver count", |d| put32(d, 28, 5));
            refused(ver, "receivers run past", |d| {
                d.truncate(header_size(ver) + 8)
            });
        }
        for ver in [Version::V1_1, Version::V1_2] {
            refused(ver, "NS bit", |d| d[2] = 0x6f);
            refused(ver, "memory attributes", |d| d[3] = 1);
            refused(ver, "receiver descriptor size", |d| put32(d, 24, 24));
            refused(ver, "receiver array offset", |d| put32(d, 32, 16));
            refused(ver, "receiver array offset", |d| put32(d, 32, 52));
            refused(ver, "receivers run past", |d| put32(d, 32, 0xffff_fff0));
            refused(ver, "reserved header", |d| d[40] = 1);
        }
        refused(Version::V1_0, "reserved byte", |d| d[3] = 1);
        refused(Version::V1_0, "reserved word", |d| d[24] = 1);
        refused(Version::V1_0, "memory attributes", |d| d[2] = 0x6f);
    }

    #[test]
    fn a_lend_to_one_borrower_leaves_the_attributes_unspecified() {
        for ver in [Version::V1_0, Version::V1_1, Version::V1_2] {
            let mut d = linux_share(ver, &[0x8001], &[(0x5000_0000, 1)]);
            // linux_share writes Normal WB inner-shareable: a share, not a lend.
            assert!(parse_transfer(&d, ver, false).is_ok());
            let e = parse_transfer(&d, ver, true).unwrap_err();
            assert!(e.what.contains("not specified"), "{ver:?}: {}", e.what);
            d[2] = 0;
            assert!(parse_transfer(&d, ver, true).is_ok(), "{ver:?}");
            assert!(
                parse_transfer(&d, ver, false).is_err(),
                "{ver:?}: a share names them"
            );
            // Two borrowers: the lender names the attributes, as for a share.
            let mut two = linux_share(ver, &[0x8001, 0x8002], &[(0x5000_0000, 1)]);
            assert!(parse_transfer(&two, ver, true).is_ok(), "{ver:?}");
            two[2] = 0;
            assert!(parse_transfer(&two, ver, true).is_err(), "{ver:?}");
        }
    }

    #[test]
    fn receivers_are_checked() {
        for ver in ALL {
            let e = header_size(ver);
            refused(ver, "Secure endpoint", |d| d[e + 1] = 0);
            refused(ver, "permissions", |d| d[e + 2] = 0); // not specified
            refused(ver, "permissions", |d| d[e + 2] = 0b11); // reserved
            refused(ver, "permissions", |d| d[e + 2] = 0b1010); // executable
            refused(ver, "permissions", |d| d[e + 2] = 0b1_0010);
            refused(ver, "receiver flags", |d| d[e + 3] = 1);
            refused(ver, "receiver reserved", |d| d[e + emad_size(ver) - 1] = 1);
        }
        // v1.2's implementation-defined bytes are accepted (and forwarded as zero: see
        // `the_forwarded_copy_is_rebuilt_from_the_validated_fields`).
        let mut d = linux_share(Version::V1_2, &[0x8001], &[(0x4800_0000, 1)]);
        d[48 + 8..48 + 24].fill(0xa5);
        assert!(parse_share(&d, Version::V1_2).is_ok());
        // Duplicates and disagreeing composites.
        let d = linux_share(Version::V1_1, &[0x8001, 0x8001], &[(0x4800_0000, 1)]);
        assert_eq!(
            parse_share(&d, Version::V1_1).unwrap_err().what,
            "receiver named twice"
        );
        let mut d = linux_share(Version::V1_1, &[0x8001, 0x8002], &[(0x4800_0000, 1)]);
        put32(&mut d, 48 + 16 + 4, 0x80);
        assert_eq!(
            parse_share(&d, Version::V1_1).unwrap_err().what,
            "receivers name different composites"
        );
    }

    #[test]
    fn gaps_in_the_layout_are_refused() {
        for ver in ALL {
            let size = emad_size(ver);
            let header = header_size(ver);
            // 16 bytes between the receivers and the composite (a place to hide a
            // composite or a receiver the proxy never read).
            let mut d = linux_share(ver, &[0x8001], &[(0x4800_0000, 1)]);
            let c = header + size;
            d.splice(c..c, [0u8; 16]);
            put32(&mut d, header + 4, (c + 16) as u32);
            let e = parse_share(&d, ver).unwrap_err();
            assert!(
                e.what.contains("receivers and the composite"),
                "v{ver}: {e}"
            );
            if ver == Version::V1_0 {
                continue;
            }
            // 16 bytes between the header and the receivers.
            let mut d = linux_share(ver, &[0x8001], &[(0x4800_0000, 1)]);
            d.splice(header..header, [0u8; 16]);
            put32(&mut d, 32, (header + 16) as u32);
            put32(&mut d, header + 16 + 4, (header + 16 + size) as u32);
            let e = parse_share(&d, ver).unwrap_err();
            assert!(e.what.contains("header and the receivers"), "v{ver}: {e}");
        }
    }

    #[test]
    fn the_forwarded_copy_is_rebuilt_from_the_validated_fields() {
        for ver in ALL {
            let ranges = [(0x4800_0000, 2), (0x4900_0000, 1)];
            let want = linux_share(ver, &[0x8001, 0x8002], &ranges);
            let mut d = want.clone();
            if ver == Version::V1_2 {
                // Both receivers' implementation-defined bytes.
                d[48 + 8..48 + 24].fill(0xa5);
                d[80 + 8..80 + 24].fill(0x5a);
            }
            parse_share(&d, ver).unwrap();
            rebuild(&mut d, ver, true);
            assert_eq!(d, want, "v{ver}");
            // A later fragment: the constituents as they were (reserved already zero).
            let tail = want[want.len() - 32..].to_vec();
            let mut t = tail.clone();
            parse_constituents(&t).unwrap();
            rebuild(&mut t, ver, false);
            assert_eq!(t, tail);
        }
        // A lend to one borrower keeps its unspecified (0) attributes; v1.0 keeps a u8.
        for ver in ALL {
            let mut want = linux_share(ver, &[0x8001], &[(0x5000_0000, 1)]);
            want[2] = 0;
            let mut d = want.clone();
            parse_transfer(&d, ver, true).unwrap();
            rebuild(&mut d, ver, true);
            assert_eq!(d, want, "v{ver}");
        }
    }

    #[test]
    fn composite_and_constituents_are_checked() {
        for ver in ALL {
            let c = composite_at(ver, 1);
            let e = header_size(ver) + 4;
            refused(ver, "composite overlaps", |d| {
                put32(d, e, header_size(ver) as u32)
            });
            refused(ver, "composite overlaps", |d| put32(d, e, c as u32 + 4));
            refused(ver, "composite runs past", |d| put32(d, e, 0xffff_fff8));
            refused(ver, "composite reserved", |d| d[c + 8] = 1);
            refused(ver, "range count", |d| put32(d, c + 4, 0));
            refused(ver, "range count", |d| put32(d, c + 4, 513));
            refused(ver, "do not end", |d| put32(d, c + 4, 1));
            refused(ver, "do not end", |d| put32(d, c + 4, 3));
            refused(ver, "do not end", |d| d.push(0));
            refused(ver, "total page count", |d| put32(d, c, 4));
            refused(ver, "total page count", |d| put32(d, c, 0));
            let k = c + 16;
            refused(ver, "page-aligned", |d| put64(d, k, 0x4800_0800));
            refused(ver, "zero pages", |d| {
                put32(d, k + 8, 0);
                put32(d, c, 1);
            });
            refused(ver, "constituent reserved", |d| d[k + 12] = 1);
            refused(ver, "wraps", |d| {
                put64(d, k, 0xffff_ffff_ffff_f000);
            });
            // A page count that would overflow a 32-bit sum: the sum is 64-bit.
            refused(ver, "total page count", |d| {
                put32(d, k + 8, u32::MAX);
                put32(d, c, 2); // u32::MAX + 1 wraps to 0 in 32 bits, +1 from the second
            });
        }
    }

    #[test]
    fn truncated_descriptors_are_refused_at_every_length() {
        for ver in ALL {
            let d = linux_share(
                ver,
                &[0x8001, 0x8002],
                &[(0x4800_0000, 2), (0x4900_0000, 1)],
            );
            for n in 0..d.len() {
                assert!(
                    parse_share(&d[..n], ver).is_err(),
                    "v{ver}: {n} bytes accepted"
                );
            }
            assert!(parse_share(&d, ver).is_ok());
        }
    }

    #[test]
    fn the_largest_single_fragment_fits_one_page() {
        // v1.2, one receiver: 48 + 32 + 16 bytes before the constituents.
        let ranges: Vec<(u64, u32)> = (0..(4096 - 96) / 16)
            .map(|i| (0x4800_0000 + 2 * i * PAGE, 1))
            .collect();
        let d = linux_share(Version::V1_2, &[0x8001], &ranges);
        assert_eq!(d.len(), 4096);
        let s = parse_share(&d, Version::V1_2).unwrap();
        assert_eq!(s.count(), ranges.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Deterministic pseudo-random mutations of a good descriptor.
        let base = linux_share(
            Version::V1_2,
            &[0x8001],
            &[(0x4800_0000, 2), (0x4900_0000, 1)],
        );
        let mut seed = 42u64;
        for _ in 0..20_000 {
            let mut d = base.clone();
            for _ in 0..3 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let at = (seed >> 33) as usize % d.len();
                d[at] = (seed >> 17) as u8;
            }
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let cut = (seed >> 33) as usize % (d.len() + 1);
            for ver in ALL {
                if let Ok(s) = parse_share(&d[..cut], ver) {
                    for i in 0..s.count() {
                        let r = s.range(i);
                        assert!(r.start < r.end && r.start % PAGE == 0 && r.end % PAGE == 0);
                    }
                    // The rebuilt copy parses to the same transaction and is its own rebuild.
                    let mut rebuilt = d[..cut].to_vec();
                    rebuild(&mut rebuilt, ver, true);
                    let again = parse_share(&rebuilt, ver).expect("the rebuild parses");
                    assert_eq!((again.total_pages, again.tag), (s.total_pages, s.tag));
                    assert_eq!(again.receivers, s.receivers);
                    for i in 0..s.count() {
                        assert_eq!(again.range(i), s.range(i));
                    }
                    let mut twice = rebuilt.clone();
                    rebuild(&mut twice, ver, true);
                    assert_eq!(twice, rebuilt);
                }
            }
        }
    }
}
