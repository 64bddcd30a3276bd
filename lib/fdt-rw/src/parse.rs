//! Blob → [`Tree`]: header and block checks, then one pass over the structure block.
//!
//! The walk is iterative with an explicit stack, so the only bound on nesting is
//! [`MAX_DEPTH`], and every read goes through `get` so a lying length is an error.

use alloc::{borrow::Cow, vec::Vec};

use super::{DtError, FDT_MAGIC, Node, NodeId, Property, ReserveEntry, Span, StructProblem, Tree};

/// Size of the v17 header.
pub const HEADER_LEN: usize = 40;
/// Deepest nesting accepted; Linux's `FDT_MAX_DEPTH` (drivers/of/fdt.c) is also 64.
pub const MAX_DEPTH: usize = 64;
/// Most nodes accepted. Large SoC trees have a few thousand; the cap bounds the heap a
/// hostile 2 MiB blob can make us allocate (about 90 bytes per node).
pub const MAX_NODES: usize = 8 * 1024;
/// Most properties accepted, for the same reason (about 40 bytes each).
pub const MAX_PROPS: usize = 32 * 1024;

pub(super) const FDT_BEGIN_NODE: u32 = 1;
pub(super) const FDT_END_NODE: u32 = 2;
pub(super) const FDT_PROP: u32 = 3;
pub(super) const FDT_NOP: u32 = 4;
pub(super) const FDT_END: u32 = 9;

/// The header fields this crate uses.
struct Header {
    totalsize: u32,
    off_dt_struct: u32,
    off_dt_strings: u32,
    off_mem_rsvmap: u32,
    boot_cpuid_phys: u32,
    size_dt_strings: u32,
    size_dt_struct: u32,
}

#[inline(never)]
fn be32(bytes: &[u8], off: usize) -> Option<u32> {
    let end = off.checked_add(4)?;
    Some(u32::from_be_bytes(bytes.get(off..end)?.try_into().ok()?))
}

#[inline(never)]
fn be64(bytes: &[u8], off: usize) -> Option<u64> {
    let end = off.checked_add(8)?;
    Some(u64::from_be_bytes(bytes.get(off..end)?.try_into().ok()?))
}

/// `totalsize` from a blob's header, checking only the magic: lets a caller that reads the
/// blob from memory learn how many bytes to hand to [`Tree::parse`] after reading the first
/// [`HEADER_LEN`].
pub fn totalsize(header: &[u8]) -> Result<u32, DtError> {
    let (Some(magic), Some(totalsize)) = (be32(header, 0), be32(header, 4)) else {
        return Err(DtError::TooShort { len: header.len() });
    };
    if magic != FDT_MAGIC {
        return Err(DtError::BadMagic { found: magic });
    }
    Ok(totalsize)
}

impl Header {
    fn read(blob: &[u8]) -> Result<Self, DtError> {
        if blob.len() < HEADER_LEN {
            return Err(DtError::TooShort { len: blob.len() });
        }
        // Length checked above: every field read below succeeds.
        let field = |i: usize| be32(blob, 4 * i).unwrap_or(0);
        if field(0) != FDT_MAGIC {
            return Err(DtError::BadMagic { found: field(0) });
        }
        let (version, last_comp_version) = (field(5), field(6));
        if version < 17 || last_comp_version > 17 {
            return Err(DtError::Version {
                version,
                last_comp_version,
            });
        }
        let header = Self {
            totalsize: field(1),
            off_dt_struct: field(2),
            off_dt_strings: field(3),
            off_mem_rsvmap: field(4),
            boot_cpuid_phys: field(7),
            size_dt_strings: field(8),
            size_dt_struct: field(9),
        };
        if (header.totalsize as usize) < HEADER_LEN || header.totalsize as usize > blob.len() {
            return Err(DtError::TotalSize {
                totalsize: header.totalsize,
                available: blob.len(),
            });
        }
        Ok(header)
    }

    /// The block `[offset, offset + size)`, which must lie after the header and within
    /// totalsize.
    fn block<'a>(
        &self,
        blob: &'a [u8],
        block: &'static str,
        offset: u32,
        size: u32,
    ) -> Result<&'a [u8], DtError> {
        let err = DtError::Block {
            block,
            offset,
            size,
            totalsize: self.totalsize,
        };
        let start = offset as usize;
        let Some(end) = start.checked_add(size as usize) else {
            return Err(err);
        };
        if start < HEADER_LEN || end > self.totalsize as usize {
            return Err(err);
        }
        blob.get(start..end).ok_or(err)
    }
}

pub(super) fn parse(blob: &[u8]) -> Result<Tree<'_>, DtError> {
    let header = Header::read(blob)?;
    let blob = blob.get(..header.totalsize as usize).unwrap_or(blob);
    if !header.off_dt_struct.is_multiple_of(4) {
        return Err(DtError::Misaligned {
            block: "structure",
            offset: header.off_dt_struct,
        });
    }
    let structure = header.block(
        blob,
        "structure",
        header.off_dt_struct,
        header.size_dt_struct,
    )?;
    let strings = header.block(
        blob,
        "strings",
        header.off_dt_strings,
        header.size_dt_strings,
    )?;
    let mem_reserve = read_mem_reserve(blob, &header)?;
    let (nodes, props, kids) = walk(structure, strings)?;
    Ok(Tree {
        nodes,
        props,
        kids,
        mem_reserve,
        boot_cpuid_phys: header.boot_cpuid_phys,
        totalsize: header.totalsize,
    })
}

/// The `/memreserve/` entries up to (not including) the (0, 0) terminator.
fn read_mem_reserve(blob: &[u8], header: &Header) -> Result<Vec<ReserveEntry>, DtError> {
    let offset = header.off_mem_rsvmap;
    let rest = header
        .block(blob, "memory reservation", offset, 0)
        .and_then(|_| {
            blob.get(offset as usize..).ok_or(DtError::Block {
                block: "memory reservation",
                offset,
                size: 0,
                totalsize: header.totalsize,
            })
        })?;
    let mut entries = Vec::new();
    for pos in (0..rest.len()).step_by(16) {
        let (Some(address), Some(size)) = (be64(rest, pos), be64(rest, pos + 8)) else {
            break;
        };
        if address == 0 && size == 0 {
            return Ok(entries);
        }
        entries.push(ReserveEntry { address, size });
    }
    Err(DtError::MemReserveUnterminated { offset })
}

/// Offset of the next 4-byte boundary at or after `pos`.
fn align4(pos: usize) -> Option<usize> {
    Some(pos.checked_add(3)? & !3)
}

/// The arenas of a [`Tree`]: nodes, properties, children.
type Arenas<'a> = (Vec<Node<'a>>, Vec<Property<'a>>, Vec<NodeId>);

/// One pass over the structure block, then the spans: each node's properties and children
/// become one contiguous run of a shared list (a counting sort by owner, blob order kept),
/// so the tree costs a few allocations in all, not two per node.
fn walk<'a>(structure: &'a [u8], strings: &'a [u8]) -> Result<Arenas<'a>, DtError> {
    // Errors are built only on the error path: a `DtError` owns `String`s in some variants,
    // and building one per token to drop it again dominated the parse.
    let fail = |offset, problem| DtError::Struct { offset, problem };
    // Room for a typical tree of this size up front (a node takes 100 bytes or so of the
    // structure block, a property 25), so the lists rarely grow and copy themselves; capped
    // so a large hostile blob reserves no more than it would grow to anyway.
    let mut nodes: Vec<Node<'a>> = Vec::with_capacity((structure.len() / 64).min(1024));
    // Properties in blob order, and each one's owner's index.
    let expected_props = (structure.len() / 16).min(4096);
    let mut props: Vec<Property<'a>> = Vec::with_capacity(expected_props);
    let mut owners: Vec<u32> = Vec::with_capacity(expected_props);
    let mut open: Vec<NodeId> = Vec::new();
    let mut root_closed = false;
    let mut pos = 0usize;
    loop {
        let Some(token) = be32(structure, pos) else {
            return Err(fail(pos, StructProblem::Truncated));
        };
        match token {
            FDT_BEGIN_NODE => {
                if root_closed {
                    return Err(fail(pos, StructProblem::SecondRoot));
                }
                if open.len() >= MAX_DEPTH {
                    return Err(fail(pos, StructProblem::TooDeep));
                }
                if nodes.len() >= MAX_NODES {
                    return Err(fail(pos, StructProblem::TooManyNodes));
                }
                let name_start = pos + 4;
                let tail = structure.get(name_start..).unwrap_or(&[]);
                let Some(len) = tail.iter().position(|&b| b == 0) else {
                    return Err(fail(pos, StructProblem::UnterminatedName));
                };
                let id = NodeId(nodes.len());
                nodes.push(Node {
                    name: Cow::Borrowed(&tail[..len]),
                    parent: open.last().copied(),
                    props: Span::default(),
                    children: Span::default(),
                });
                open.push(id);
                let Some(next) = align4(name_start + len + 1) else {
                    return Err(fail(pos, StructProblem::Truncated));
                };
                pos = next;
            }
            FDT_END_NODE => {
                if open.pop().is_none() {
                    return Err(fail(pos, StructProblem::UnbalancedEndNode));
                }
                root_closed = open.is_empty();
                pos += 4;
            }
            FDT_PROP => {
                let Some(&owner) = open.last() else {
                    return Err(fail(pos, StructProblem::PropertyOutsideNode));
                };
                if props.len() >= MAX_PROPS {
                    return Err(fail(pos, StructProblem::TooManyProperties));
                }
                let (Some(len), Some(nameoff)) =
                    (be32(structure, pos + 4), be32(structure, pos + 8))
                else {
                    return Err(fail(pos, StructProblem::Truncated));
                };
                let start = pos + 12;
                let Some(value) = start
                    .checked_add(len as usize)
                    .and_then(|end| structure.get(start..end))
                else {
                    return Err(fail(pos, StructProblem::PropertyOverrun { len }));
                };
                let Some(name) = strings
                    .get(nameoff as usize..)
                    .and_then(|s| s.iter().position(|&b| b == 0).map(|n| &s[..n]))
                else {
                    return Err(fail(pos, StructProblem::BadNameOffset { nameoff }));
                };
                owners.push(owner.0 as u32);
                props.push(Property {
                    name,
                    value: Cow::Borrowed(value),
                });
                let Some(next) = align4(start + value.len()) else {
                    return Err(fail(pos, StructProblem::Truncated));
                };
                pos = next;
            }
            FDT_NOP => pos += 4,
            FDT_END => {
                if !open.is_empty() {
                    let depth = open.len();
                    return Err(fail(pos, StructProblem::UnclosedNodes { depth }));
                }
                if nodes.is_empty() {
                    return Err(fail(pos, StructProblem::NoRoot));
                }
                break;
            }
            other => return Err(fail(pos, StructProblem::BadToken(other))),
        }
    }
    let props = match place(&mut nodes, &owners, |n| &mut n.props) {
        None => props,
        Some(at) => {
            let mut grouped = props.clone();
            for (prop, &to) in props.into_iter().zip(&at) {
                if let Some(slot) = grouped.get_mut(to as usize) {
                    *slot = prop;
                }
            }
            grouped
        }
    };
    // Every node but the root has a parent (a second root is refused above).
    let parents: Vec<u32> = nodes
        .iter()
        .skip(1)
        .map(|n| n.parent.map_or(0, |p| p.0 as u32))
        .collect();
    let kids = match place(&mut nodes, &parents, |n| &mut n.children) {
        None => (1..nodes.len()).map(NodeId).collect(),
        Some(at) => {
            let mut grouped = alloc::vec![NodeId(0); at.len()];
            for (child, &to) in at.iter().enumerate() {
                if let Some(slot) = grouped.get_mut(to as usize) {
                    *slot = NodeId(child + 1);
                }
            }
            grouped
        }
    };
    Ok((nodes, props, kids))
}

/// Sets each node's span (through `span`) for a list of items whose owners, in list order,
/// are `owners`, grouped by owner in order (stable). Returns where each item goes, or `None`
/// if the list is grouped already: in a well-formed blob every node's properties come
/// before its children, so they arrive grouped; a counting sort handles the rest.
fn place<'a>(
    nodes: &mut [Node<'a>],
    owners: &[u32],
    span: for<'n> fn(&'n mut Node<'a>) -> &'n mut Span,
) -> Option<Vec<u32>> {
    for &owner in owners {
        if let Some(n) = nodes.get_mut(owner as usize) {
            span(n).len += 1;
        }
    }
    let mut start = 0u32;
    for n in nodes.iter_mut() {
        let s = span(n);
        s.start = start;
        start += s.len;
    }
    if owners.is_sorted() {
        return None;
    }
    let mut next: Vec<u32> = nodes.iter_mut().map(|n| span(n).start).collect();
    Some(
        owners
            .iter()
            .map(|&owner| {
                next.get_mut(owner as usize).map_or(0, |at| {
                    *at += 1;
                    *at - 1
                })
            })
            .collect(),
    )
}
