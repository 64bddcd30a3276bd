//! A small, panic-free flattened device tree (FDT, DTSpec v0.4 §5) reader and rebuilder.
//!
//! [`Tree::parse`] checks the whole blob up front (header, block bounds, every token of
//! the structure block, every property name offset) and builds an editable tree that
//! borrows names and values from the blob; [`Tree::to_blob`] writes a fresh, compact blob
//! (version 17, strings de-duplicated, `/memreserve/` entries and `boot_cpuid_phys` kept).
//! Any malformation is a [`DtError`] that names the block and offset; nothing indexes
//! without a bounds check, and depth is capped at [`MAX_DEPTH`] (Linux's own limit) so a
//! hostile blob cannot exhaust the caller's stack through nesting; node and property
//! counts are capped ([`MAX_NODES`], [`MAX_PROPS`]) so it cannot exhaust the heap either.
//!
//! `no_std` + `alloc`, no `unsafe`. Used by the hypervisor (to read the firmware's tree)
//! and by host-loader (to derive the host's tree from it).
//!
//! **Own reader rather than an existing crate.** The input is untrusted and a malformed
//! blob must give an error, never a panic and never a silently different tree. Reading the
//! sources of fdt-edit 0.2.3 and its parser fdt-raw 0.3.0 showed: `Bytes::slice` and
//! `reader_at` `assert!` on offsets taken straight from the header, so a hostile
//! `off_dt_struct` or strings size panics; the node iterator logs a parse error and simply
//! *stops*, so `Fdt::from_bytes` returns `Ok` with a truncated tree that would be handed
//! on; its cell and path stacks are 16-entry `heapless::Vec`s whose overflowing pushes
//! are ignored; and encoding recurses once per level. `fdt` 0.1.5 is no alternative for
//! untrusted input either: its node walker `assert!`s and `expect`s on malformed structure
//! blocks, `find_node("/cpus")` returns `None` on the tree TF-A and OP-TEE edit in place
//! on QEMU, and a `compatible` property without a string makes `Compatible::first` panic.
//! It serves only as an independent reader in tests. What is needed is small, so this
//! crate is a few hundred lines of parse-validate-rebuild with typed errors.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod emit;
mod parse;
#[cfg(test)]
mod tests;

use alloc::{
    borrow::Cow,
    string::{String, ToString},
    vec::Vec,
};
use core::fmt;

pub use parse::{HEADER_LEN, MAX_DEPTH, MAX_NODES, MAX_PROPS, totalsize};

/// The FDT header magic, big-endian at offset 0.
pub const FDT_MAGIC: u32 = 0xd00d_feed;

/// One entry of the memory reservation block (`/memreserve/`, DTSpec §5.3): a physical
/// range the client program must not use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReserveEntry {
    /// First byte of the range.
    pub address: u64,
    /// Length in bytes (0 is allowed and kept; it reserves nothing).
    pub size: u64,
}

/// Handle to a node of a [`Tree`]; only meaningful for the tree that issued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeId(usize);

/// An editable device tree, borrowing unchanged names and values from the parsed blob.
///
/// Three arenas rather than two `Vec`s per node: a node's properties and its children are
/// each a [`Span`] of one shared list, so parsing allocates a handful of times for the
/// whole tree instead of twice per node. An edit that grows a span which is not at the end
/// of its list first moves the span to the end (the old slots become unused).
#[derive(Clone, Debug)]
pub struct Tree<'a> {
    /// Index 0 is the root. Removed nodes stay here, detached from their parent.
    nodes: Vec<Node<'a>>,
    /// Every node's properties, each node's in blob order in its [`Node::props`] span.
    props: Vec<Property<'a>>,
    /// Every node's children, each node's in blob order in its [`Node::children`] span.
    kids: Vec<NodeId>,
    mem_reserve: Vec<ReserveEntry>,
    boot_cpuid_phys: u32,
    totalsize: u32,
}

/// `len` entries of an arena from index `start`.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn range(self) -> core::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

#[derive(Clone, Debug)]
struct Node<'a> {
    name: Cow<'a, [u8]>,
    parent: Option<NodeId>,
    props: Span,
    children: Span,
}

#[derive(Clone, Debug)]
struct Property<'a> {
    name: &'a [u8],
    value: Cow<'a, [u8]>,
}

/// Whether two names are equal: lengths first, then a plain byte loop. Names are a few
/// bytes and most candidates differ in length, so this beats a `memcmp` call per candidate
/// (lookups by name are most of the boot path's device tree work).
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Append `item` to the span `span` of `arena`, first moving the span to the arena's end
/// unless it is there already.
fn push_to_span<T: Clone>(arena: &mut Vec<T>, span: &mut Span, item: T) {
    let range = span.range();
    if range.end != arena.len() {
        let start = arena.len();
        arena.extend_from_within(range);
        span.start = start as u32;
    }
    arena.push(item);
    span.len += 1;
}

/// Keep the entries of `span` for which `keep` holds, in order; the span shrinks.
fn retain_in_span<T: Clone>(arena: &mut [T], span: &mut Span, keep: impl Fn(&T) -> bool) {
    let range = span.range();
    let mut kept = range.start;
    for i in range {
        if keep(&arena[i]) {
            arena[kept] = arena[i].clone();
            kept += 1;
        }
    }
    span.len = (kept - span.start as usize) as u32;
}

impl<'a> Tree<'a> {
    /// Parse and fully validate `blob` (which may be longer than the header's totalsize).
    pub fn parse(blob: &'a [u8]) -> Result<Self, DtError> {
        parse::parse(blob)
    }

    /// Write the tree as a new blob.
    pub fn to_blob(&self) -> Result<Vec<u8>, DtError> {
        emit::emit(self)
    }

    /// `totalsize` from the header of the blob this tree was parsed from.
    pub fn original_totalsize(&self) -> u32 {
        self.totalsize
    }

    /// The `/memreserve/` entries, in blob order (kept verbatim, even empty ones).
    pub fn mem_reserve(&self) -> &[ReserveEntry] {
        &self.mem_reserve
    }

    /// The root node.
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// The node's full name (with unit address), e.g. `module@48000000`.
    pub fn name(&self, id: NodeId) -> &[u8] {
        self.node(id).map_or(&[], |n| &n.name)
    }

    /// The node's children, in blob order.
    pub fn children(&self, id: NodeId) -> &[NodeId] {
        self.node(id)
            .and_then(|n| self.kids.get(n.children.range()))
            .unwrap_or(&[])
    }

    /// The child of `id` whose full name is exactly `name`.
    pub fn child(&self, id: NodeId, name: &str) -> Option<NodeId> {
        self.children(id)
            .iter()
            .copied()
            .find(|&c| same(self.name(c), name.as_bytes()))
    }

    /// The node at an absolute path such as `/chosen` or `/reserved-memory`.
    pub fn find(&self, path: &str) -> Option<NodeId> {
        // Split as bytes ('/' is ASCII): `str::split(char)` costs a char searcher.
        path.as_bytes()
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
            .try_fold(self.root(), |id, part| {
                self.children(id)
                    .iter()
                    .copied()
                    .find(|&c| same(self.name(c), part))
            })
    }

    /// The node's path for messages, e.g. `/chosen/module@48000000`.
    pub fn path(&self, id: NodeId) -> String {
        let mut parts = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            let Some(node) = self.node(c) else { break };
            if node.parent.is_none() {
                break;
            }
            parts.push(name_string(&node.name));
            cur = node.parent;
        }
        if parts.is_empty() {
            return "/".to_string();
        }
        parts.iter().rev().fold(String::new(), |mut acc, p| {
            acc.push('/');
            acc.push_str(p);
            acc
        })
    }

    /// The raw value of the node's first property called `name`.
    pub fn prop(&self, id: NodeId, name: &str) -> Option<&[u8]> {
        self.props_of(id)
            .iter()
            .find(|p| same(p.name, name.as_bytes()))
            .map(|p| &*p.value)
    }

    /// The names of the node's properties, in blob order.
    pub fn prop_names(&self, id: NodeId) -> impl Iterator<Item = &[u8]> {
        self.props_of(id).iter().map(|p| p.name)
    }

    /// The node's properties, in blob order.
    fn props_of(&self, id: NodeId) -> &[Property<'a>] {
        self.node(id)
            .and_then(|n| self.props.get(n.props.range()))
            .unwrap_or(&[])
    }

    /// A one-cell property such as `#address-cells`; present but not 4 bytes is an error.
    pub fn prop_u32(&self, id: NodeId, name: &str) -> Result<Option<u32>, DtError> {
        let Some(value) = self.prop(id, name) else {
            return Ok(None);
        };
        <[u8; 4]>::try_from(value)
            .map(|b| Some(u32::from_be_bytes(b)))
            .map_err(|_| self.bad_prop(id, name, "is not a single 32-bit cell"))
    }

    /// A string property; it must be one NUL-terminated UTF-8 string (empty value = "").
    pub fn prop_str(&self, id: NodeId, name: &str) -> Result<Option<&str>, DtError> {
        let Some(value) = self.prop(id, name) else {
            return Ok(None);
        };
        let text = match value.split_last() {
            None => &[][..],
            Some((0, text)) => text,
            Some(_) => return Err(self.bad_prop(id, name, "is not NUL-terminated")),
        };
        if text.contains(&0) {
            return Err(self.bad_prop(id, name, "holds more than one string"));
        }
        core::str::from_utf8(text)
            .map(Some)
            .map_err(|_| self.bad_prop(id, name, "is not UTF-8"))
    }

    /// The entries of the node's `compatible` string list (empty if absent).
    pub fn compatible(&self, id: NodeId) -> impl Iterator<Item = &[u8]> {
        self.prop(id, "compatible")
            .unwrap_or(&[])
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
    }

    /// True when `compatible` lists any of `wanted`.
    pub fn is_compatible(&self, id: NodeId, wanted: &[&str]) -> bool {
        self.compatible(id)
            .any(|c| wanted.iter().any(|w| w.as_bytes() == c))
    }

    /// Set (replace in place, or append) the node's property `name`.
    pub fn set_prop(&mut self, id: NodeId, name: &'a str, value: Vec<u8>) {
        let Some(node) = self.nodes.get_mut(id.0) else {
            return;
        };
        let value = Cow::Owned(value);
        let existing = self
            .props
            .get_mut(node.props.range())
            .and_then(|ps| ps.iter_mut().find(|p| same(p.name, name.as_bytes())));
        match existing {
            Some(p) => p.value = value,
            None => push_to_span(
                &mut self.props,
                &mut node.props,
                Property {
                    name: name.as_bytes(),
                    value,
                },
            ),
        }
    }

    /// Remove every property called `name`; true if there was one.
    pub fn remove_prop(&mut self, id: NodeId, name: &str) -> bool {
        let Some(node) = self.nodes.get_mut(id.0) else {
            return false;
        };
        let before = node.props.len;
        retain_in_span(&mut self.props, &mut node.props, |p| {
            p.name != name.as_bytes()
        });
        node.props.len != before
    }

    /// Append a new, empty child called `name` to `parent`.
    pub fn add_child(&mut self, parent: NodeId, name: String) -> NodeId {
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node {
            name: Cow::Owned(name.into_bytes()),
            parent: Some(parent),
            props: Span::default(),
            children: Span::default(),
        });
        if let Some(p) = self.nodes.get_mut(parent.0) {
            push_to_span(&mut self.kids, &mut p.children, id);
        }
        id
    }

    /// Detach `child` (and its subtree) from `parent`.
    pub fn remove_child(&mut self, parent: NodeId, child: NodeId) {
        if let Some(p) = self.nodes.get_mut(parent.0) {
            retain_in_span(&mut self.kids, &mut p.children, |&c| c != child);
        }
    }

    fn node(&self, id: NodeId) -> Option<&Node<'a>> {
        self.nodes.get(id.0)
    }

    /// A [`DtError::BadProperty`] for `name` on `id`.
    pub fn bad_prop(&self, id: NodeId, name: &str, problem: &'static str) -> DtError {
        DtError::BadProperty {
            node: self.path(id),
            prop: name.to_string(),
            problem,
        }
    }
}

/// A node or property name as text for messages: the name itself when it is UTF-8 (it is
/// ASCII in any real device tree), else each non-ASCII byte as U+FFFD. Cheaper in the image
/// than `String::from_utf8_lossy`, which brings a UTF-8 chunk decoder.
pub fn name_string(bytes: &[u8]) -> String {
    match core::str::from_utf8(bytes) {
        Ok(s) => String::from(s),
        Err(_) => bytes
            .iter()
            .map(|&b| {
                if b.is_ascii() {
                    char::from(b)
                } else {
                    '\u{FFFD}'
                }
            })
            .collect(),
    }
}

/// Decode a `reg`-style list of `(address, size)` pairs with the given cell counts.
///
/// Returns `None` when the cell counts are unsupported (address 1-2 cells, size 0-2) or
/// the length is not a whole number of entries. Entries are not range-checked here.
pub fn reg_entries(value: &[u8], address_cells: u32, size_cells: u32) -> Option<Vec<(u64, u64)>> {
    if !(1..=2).contains(&address_cells) || size_cells > 2 {
        return None;
    }
    let entry = 4 * (address_cells + size_cells) as usize;
    if value.is_empty() || !value.len().is_multiple_of(entry) {
        return None;
    }
    let ac = 4 * address_cells as usize;
    value
        .chunks_exact(entry)
        .map(|e| {
            let (a, s) = e.split_at(ac);
            Some((read_cells(a)?, read_cells(s)?))
        })
        .collect()
}

/// Big-endian value of 0, 1 or 2 cells.
fn read_cells(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        0 => Some(0),
        4 => Some(u32::from_be_bytes(bytes.try_into().ok()?).into()),
        8 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// Encode `value` in `cells` big-endian cells, or `None` if it does not fit.
pub fn encode_cells(value: u64, cells: u32) -> Option<Vec<u8>> {
    match cells {
        1 => u32::try_from(value).ok().map(|v| v.to_be_bytes().to_vec()),
        2 => Some(value.to_be_bytes().to_vec()),
        _ => None,
    }
}

/// What is wrong with a device tree blob, or with a value in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtError {
    /// Fewer bytes than the 40-byte header.
    TooShort {
        /// Bytes available.
        len: usize,
    },
    /// The first word is not [`FDT_MAGIC`].
    BadMagic {
        /// The word found.
        found: u32,
    },
    /// The header's totalsize is smaller than the header or larger than the bytes given.
    TotalSize {
        /// Header totalsize.
        totalsize: u32,
        /// Bytes available.
        available: usize,
    },
    /// A format version this parser does not read (it needs v17's `size_dt_struct`).
    Version {
        /// Header version.
        version: u32,
        /// Header last_comp_version.
        last_comp_version: u32,
    },
    /// A block lies (partly) outside `totalsize`, or overlaps the header.
    Block {
        /// "memory reservation", "structure" or "strings".
        block: &'static str,
        /// Offset from the header.
        offset: u32,
        /// Size from the header (0 when unknown).
        size: u32,
        /// Header totalsize.
        totalsize: u32,
    },
    /// The structure block does not start on a 4-byte boundary.
    Misaligned {
        /// Which block.
        block: &'static str,
        /// Its offset.
        offset: u32,
    },
    /// The memory reservation block runs to the end of the blob without its (0, 0) entry.
    MemReserveUnterminated {
        /// Offset of the block.
        offset: u32,
    },
    /// Malformed structure block.
    Struct {
        /// Offset within the structure block.
        offset: usize,
        /// What is wrong there.
        problem: StructProblem,
    },
    /// A property has the wrong shape for what it is.
    BadProperty {
        /// Node path.
        node: String,
        /// Property name.
        prop: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The root has no `#address-cells`/`#size-cells`, so a new `/reserved-memory` cannot
    /// be given the matching values Linux insists on.
    MissingRootCells,
    /// `/reserved-memory` exists with cell counts other than the root's: Linux's
    /// `__reserved_mem_check_root` would then ignore every reservation in it, ours too.
    ReservedMemoryCells {
        /// `/reserved-memory` #address-cells.
        address_cells: u32,
        /// `/reserved-memory` #size-cells.
        size_cells: u32,
        /// Root #address-cells.
        root_address_cells: u32,
        /// Root #size-cells.
        root_size_cells: u32,
    },
    /// A value to write does not fit the node's cell count.
    CellsOverflow {
        /// Node path.
        node: String,
        /// Value to encode.
        value: u64,
        /// Cells available.
        cells: u32,
    },
    /// The rebuilt blob would exceed the format's 4 GiB limit.
    TooLarge,
}

/// What is wrong at one offset of the structure block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StructProblem {
    /// The block ends in the middle of a token.
    Truncated,
    /// An unknown token.
    BadToken(u32),
    /// A node name without its NUL inside the block.
    UnterminatedName,
    /// A property value running past the end of the block.
    PropertyOverrun {
        /// Its declared length.
        len: u32,
    },
    /// A property name offset outside the strings block, or without a NUL there.
    BadNameOffset {
        /// The offset.
        nameoff: u32,
    },
    /// A property outside any node.
    PropertyOutsideNode,
    /// END_NODE without a matching BEGIN_NODE.
    UnbalancedEndNode,
    /// END (or the end of the block) with nodes still open.
    UnclosedNodes {
        /// How many.
        depth: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// More than [`MAX_NODES`] nodes.
    TooManyNodes,
    /// More than [`MAX_PROPS`] properties.
    TooManyProperties,
    /// A second top-level node after the root closed.
    SecondRoot,
    /// No root node at all.
    NoRoot,
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => {
                write!(
                    f,
                    "blob is {len} bytes, shorter than the {HEADER_LEN}-byte header"
                )
            }
            Self::BadMagic { found } => {
                write!(f, "bad magic {found:#010x} (expected {FDT_MAGIC:#010x})")
            }
            Self::TotalSize {
                totalsize,
                available,
            } => write!(
                f,
                "header totalsize {totalsize:#x} is not within the {available:#x} bytes available"
            ),
            Self::Version {
                version,
                last_comp_version,
            } => write!(
                f,
                "unsupported version {version} (last compatible {last_comp_version}); need 17"
            ),
            Self::Block {
                block,
                offset,
                size,
                totalsize,
            } => write!(
                f,
                "{block} block at offset {offset:#x} size {size:#x} lies outside the header's \
                 {totalsize:#x}-byte blob"
            ),
            Self::Misaligned { block, offset } => {
                write!(f, "{block} block offset {offset:#x} is not 4-byte aligned")
            }
            Self::MemReserveUnterminated { offset } => write!(
                f,
                "memory reservation block at offset {offset:#x} has no terminating entry"
            ),
            Self::Struct { offset, problem } => {
                write!(f, "structure block offset {offset:#x}: {problem}")
            }
            Self::BadProperty {
                node,
                prop,
                problem,
            } => write!(f, "{node}: property {prop} {problem}"),
            Self::MissingRootCells => f.write_str(
                "root node lacks #address-cells/#size-cells, so /reserved-memory cannot match it",
            ),
            Self::ReservedMemoryCells {
                address_cells,
                size_cells,
                root_address_cells,
                root_size_cells,
            } => write!(
                f,
                "/reserved-memory has #address-cells {address_cells}/#size-cells {size_cells} \
                 but the root has {root_address_cells}/{root_size_cells}: Linux would ignore it"
            ),
            Self::CellsOverflow { node, value, cells } => {
                write!(
                    f,
                    "{node}: value {value:#x} does not fit in {cells} cell(s)"
                )
            }
            Self::TooLarge => f.write_str("rebuilt blob would exceed 4 GiB"),
        }
    }
}

impl core::error::Error for DtError {}

impl fmt::Display for StructProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("block ends in the middle of a token"),
            Self::BadToken(t) => write!(f, "unknown token {t:#010x}"),
            Self::UnterminatedName => f.write_str("node name has no terminating NUL"),
            Self::PropertyOverrun { len } => {
                write!(
                    f,
                    "property value of {len:#x} bytes runs past the block end"
                )
            }
            Self::BadNameOffset { nameoff } => {
                write!(
                    f,
                    "property name offset {nameoff:#x} is not a string in the strings block"
                )
            }
            Self::PropertyOutsideNode => f.write_str("property outside any node"),
            Self::UnbalancedEndNode => f.write_str("END_NODE without a matching BEGIN_NODE"),
            Self::UnclosedNodes { depth } => write!(f, "tree ends with {depth} node(s) still open"),
            Self::TooDeep => write!(f, "nodes nested deeper than {MAX_DEPTH}"),
            Self::TooManyNodes => write!(f, "more than {MAX_NODES} nodes"),
            Self::TooManyProperties => write!(f, "more than {MAX_PROPS} properties"),
            Self::SecondRoot => f.write_str("a second root node"),
            Self::NoRoot => f.write_str("no root node"),
        }
    }
}
