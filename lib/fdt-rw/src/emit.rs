//! [`Tree`] → blob: header, memory reservations, structure block, strings block.
//!
//! The layout is dtc's and libfdt's: the reservation map right after the 40-byte header
//! (8-byte aligned), then the structure block, then the strings block with each property
//! name stored once. The walk is iterative so an edited tree cannot recurse deeply either.

use alloc::{vec, vec::Vec};

use super::{
    DtError, FDT_MAGIC, NodeId, Tree,
    parse::{FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_PROP, HEADER_LEN},
};

/// Property names, each stored once.
///
/// A list searched from the newest name back, not a map: a device tree has a few dozen
/// distinct names, consecutive properties often share one, and a `BTreeMap` would add
/// more than a KiB of code to the firmware image for no gain at this size.
#[derive(Default)]
struct Strings<'t> {
    bytes: Vec<u8>,
    offsets: Vec<(&'t [u8], u32)>,
}

impl<'t> Strings<'t> {
    fn offset_of(&mut self, name: &'t [u8]) -> Result<u32, DtError> {
        if let Some(&(_, off)) = self.offsets.iter().rev().find(|(n, _)| *n == name) {
            return Ok(off);
        }
        let off = u32::try_from(self.bytes.len()).map_err(|_| DtError::TooLarge)?;
        self.bytes.extend_from_slice(name);
        self.bytes.push(0);
        self.offsets.push((name, off));
        Ok(off)
    }
}

fn push32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// BEGIN_NODE, the name, and all properties of `id` (children and END_NODE come later).
fn open_node<'t>(
    tree: &'t Tree<'_>,
    id: NodeId,
    out: &mut Vec<u8>,
    strings: &mut Strings<'t>,
) -> Result<(), DtError> {
    let Some(node) = tree.node(id) else {
        return Ok(());
    };
    push32(out, FDT_BEGIN_NODE);
    out.extend_from_slice(&node.name);
    out.push(0);
    pad4(out);
    for prop in tree.props_of(id) {
        let len = u32::try_from(prop.value.len()).map_err(|_| DtError::TooLarge)?;
        push32(out, FDT_PROP);
        push32(out, len);
        push32(out, strings.offset_of(prop.name)?);
        out.extend_from_slice(&prop.value);
        pad4(out);
    }
    Ok(())
}

pub(super) fn emit(tree: &Tree<'_>) -> Result<Vec<u8>, DtError> {
    // The rebuilt blob is about the size of the parsed one: reserve that (and room for
    // edits) so the buffer does not grow and copy itself as it fills.
    let mut out = Vec::with_capacity(tree.totalsize as usize + 1024);
    out.resize(HEADER_LEN, 0);
    let off_mem_rsvmap = out.len();
    for r in tree.mem_reserve() {
        out.extend_from_slice(&r.address.to_be_bytes());
        out.extend_from_slice(&r.size.to_be_bytes());
    }
    out.extend_from_slice(&[0; 16]);

    let off_dt_struct = out.len();
    let mut strings = Strings::default();
    // Each entry: a node already opened, and the index of its next child to visit.
    let mut stack: Vec<(NodeId, usize)> = vec![(tree.root(), 0)];
    open_node(tree, tree.root(), &mut out, &mut strings)?;
    while let Some(&(id, next)) = stack.last() {
        match tree.children(id).get(next).copied() {
            Some(child) => {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                open_node(tree, child, &mut out, &mut strings)?;
                stack.push((child, 0));
            }
            None => {
                push32(&mut out, FDT_END_NODE);
                stack.pop();
            }
        }
    }
    push32(&mut out, FDT_END);
    let size_dt_struct = out.len() - off_dt_struct;

    let off_dt_strings = out.len();
    out.extend_from_slice(&strings.bytes);

    let word = |v: usize| u32::try_from(v).map_err(|_| DtError::TooLarge);
    let fields = [
        FDT_MAGIC,
        word(out.len())?,
        word(off_dt_struct)?,
        word(off_dt_strings)?,
        word(off_mem_rsvmap)?,
        17, // version
        16, // last_comp_version: v17 readers and v16 readers alike
        tree.boot_cpuid_phys,
        word(strings.bytes.len())?,
        word(size_dt_struct)?,
    ];
    for (slot, value) in out.chunks_exact_mut(4).zip(fields) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}
