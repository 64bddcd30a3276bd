//! Unit tests: lookups and edits, round trips, and corrupted blobs (every truncation,
//! every flipped byte, lying headers, hostile nesting and counts) giving typed errors,
//! never a panic. Test blobs are written with `vm-fdt`, an independent writer, so the
//! parser is not only tested against this crate's own emitter.

use alloc::{format, string::ToString, vec, vec::Vec};

use vm_fdt::{FdtReserveEntry, FdtWriter};

use super::*;

/// A QEMU-virt-like tree as a boot loader leaves it: RAM, PSCI, a UART, `/chosen` with a
/// command line and two multiboot module nodes (the second one's `bootargs` holds two
/// strings), and the given `/memreserve/` entries.
fn qemu_like(memreserve: &[(u64, u64)]) -> Vec<u8> {
    let rsv: Vec<_> = memreserve
        .iter()
        .map(|&(a, s)| FdtReserveEntry::new(a, s).unwrap())
        .collect();
    let mut w = FdtWriter::new_with_mem_reserv(&rsv).unwrap();
    let root = w.begin_node("").unwrap();
    w.property_string("compatible", "linux,dummy-virt").unwrap();
    w.property_u32("#address-cells", 2).unwrap();
    w.property_u32("#size-cells", 2).unwrap();
    let mem = w.begin_node("memory@40000000").unwrap();
    w.property_string("device_type", "memory").unwrap();
    w.property_array_u32("reg", &[0, 0x4000_0000, 0, 0x4000_0000])
        .unwrap();
    w.end_node(mem).unwrap();
    let psci = w.begin_node("psci").unwrap();
    w.property_string_list(
        "compatible",
        vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()],
    )
    .unwrap();
    w.property_string("method", "smc").unwrap();
    w.end_node(psci).unwrap();
    let uart = w.begin_node("pl011@9000000").unwrap();
    w.property_array_u32("reg", &[0, 0x900_0000, 0, 0x1000])
        .unwrap();
    w.end_node(uart).unwrap();
    let chosen = w.begin_node("chosen").unwrap();
    w.property_string("stdout-path", "/pl011@9000000").unwrap();
    w.property_string("bootargs", "a b").unwrap();
    let kernel = w.begin_node("module@48000000").unwrap();
    w.property_string_list(
        "compatible",
        vec!["multiboot,kernel".into(), "multiboot,module".into()],
    )
    .unwrap();
    w.property_array_u32("reg", &[0, 0x4800_0000, 0, 0x200_0000])
        .unwrap();
    w.property_string("bootargs", "console=ttyAMA0").unwrap();
    w.end_node(kernel).unwrap();
    let ramdisk = w.begin_node("module@58000000").unwrap();
    w.property_string_list(
        "compatible",
        vec!["multiboot,ramdisk".into(), "multiboot,module".into()],
    )
    .unwrap();
    w.property_array_u32("reg", &[0, 0x5800_0000, 0, 0x80_0000])
        .unwrap();
    w.property("bootargs", b"x\0y\0").unwrap();
    w.end_node(ramdisk).unwrap();
    w.end_node(chosen).unwrap();
    w.end_node(root).unwrap();
    w.finish().unwrap()
}

/// Parse, make an edit that touches every part of the writer, and write the blob again:
/// the whole pipeline a caller runs on an untrusted tree.
fn parse_edit_emit(blob: &[u8]) -> Result<Vec<u8>, DtError> {
    let mut tree = Tree::parse(blob)?;
    let root = tree.root();
    let rm = tree.add_child(root, "reserved-memory".into());
    tree.set_prop(rm, "ranges", Vec::new());
    if let Some(chosen) = tree.child(root, "chosen") {
        tree.set_prop(chosen, "bootargs", b"x\0".to_vec());
        tree.remove_prop(chosen, "stdout-path");
    }
    tree.to_blob()
}

#[test]
fn reg_entries_decode_one_and_two_cells_and_reject_ragged_lengths() {
    let two = [0, 0, 0, 1, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0];
    assert_eq!(
        reg_entries(&two, 2, 2),
        Some(vec![(0x1_4000_0000, 0x10_0000)])
    );
    assert_eq!(
        reg_entries(&two, 1, 1),
        Some(vec![(1, 0x4000_0000), (0, 0x10_0000)])
    );
    assert_eq!(reg_entries(&two[..12], 2, 2), None);
    assert_eq!(reg_entries(&two, 3, 1), None);
    assert_eq!(reg_entries(&[], 2, 2), None);
}

#[test]
fn encode_cells_refuses_values_too_wide() {
    assert_eq!(encode_cells(0x4000_0000, 1), Some(vec![0x40, 0, 0, 0]));
    assert_eq!(encode_cells(0x1_0000_0000, 1), None);
    assert_eq!(encode_cells(1, 3), None);
}

#[test]
fn name_string_keeps_ascii_and_replaces_other_bytes() {
    assert_eq!(name_string(b"module@48000000"), "module@48000000");
    assert_eq!(name_string(b"a\xffb"), "a\u{FFFD}b");
}

#[test]
fn lookups_paths_and_string_properties() {
    let blob = qemu_like(&[]);
    let tree = Tree::parse(&blob).unwrap();
    let chosen = tree.find("/chosen").unwrap();
    assert_eq!(tree.path(chosen), "/chosen");
    assert_eq!(tree.path(tree.root()), "/");
    assert_eq!(tree.prop_str(chosen, "bootargs").unwrap(), Some("a b"));
    let m = tree.find("/chosen/module@58000000").unwrap();
    assert_eq!(
        tree.prop_str(m, "bootargs").unwrap_err().to_string(),
        "/chosen/module@58000000: property bootargs holds more than one string"
    );
    assert_eq!(
        tree.prop_u32(m, "reg").unwrap_err().to_string(),
        "/chosen/module@58000000: property reg is not a single 32-bit cell"
    );
    assert!(tree.is_compatible(m, &["multiboot,module"]));
    assert_eq!(tree.find("/nope"), None);
    assert_eq!(tree.find("/"), Some(tree.root()));
}

#[test]
fn edits_replace_remove_and_append() {
    let blob = qemu_like(&[]);
    let mut tree = Tree::parse(&blob).unwrap();
    let chosen = tree.find("/chosen").unwrap();
    tree.set_prop(chosen, "bootargs", b"new\0".to_vec());
    assert!(tree.remove_prop(chosen, "stdout-path"));
    assert!(!tree.remove_prop(chosen, "stdout-path"));
    let n = tree.add_child(chosen, "extra".into());
    tree.set_prop(n, "flag", Vec::new());
    let out = Tree::parse(&tree.to_blob().unwrap())
        .unwrap()
        .to_blob()
        .unwrap();
    let again = Tree::parse(&out).unwrap();
    let chosen = again.find("/chosen").unwrap();
    assert_eq!(again.prop_str(chosen, "bootargs").unwrap(), Some("new"));
    assert_eq!(again.prop(chosen, "stdout-path"), None);
    assert_eq!(
        again.prop(again.find("/chosen/extra").unwrap(), "flag"),
        Some(&[][..])
    );
}

#[test]
fn untouched_tree_round_trips_byte_for_byte() {
    // vm-fdt lays blobs out as libfdt does, so a parse + rebuild must reproduce them.
    let input = qemu_like(&[(0x4000_0000, 0x1000)]);
    let tree = Tree::parse(&input).unwrap();
    assert_eq!(tree.to_blob().unwrap(), input);
}

#[test]
fn memreserve_entries_are_read_and_kept() {
    let input = qemu_like(&[(0x4800_0000, 0x1000), (0x4900_0000, 0x10)]);
    let tree = Tree::parse(&input).unwrap();
    let want = [
        ReserveEntry {
            address: 0x4800_0000,
            size: 0x1000,
        },
        ReserveEntry {
            address: 0x4900_0000,
            size: 0x10,
        },
    ];
    assert_eq!(tree.mem_reserve(), want);
    let out = parse_edit_emit(&input).unwrap();
    assert_eq!(Tree::parse(&out).unwrap().mem_reserve(), want);
    assert_eq!(
        totalsize(&input).unwrap(),
        u32::try_from(input.len()).unwrap()
    );
    assert_eq!(tree.original_totalsize(), totalsize(&input).unwrap());
}

#[test]
fn every_truncation_of_a_dtb_is_an_error_not_a_panic() {
    let input = qemu_like(&[(0x4000_0000, 0x1000)]);
    for len in 0..input.len() {
        let mut cut = input[..len].to_vec();
        if len >= 8 {
            // Keep the header consistent with the cut, so the walkers see the damage.
            let total = u32::try_from(len).unwrap().to_be_bytes();
            cut[4..8].copy_from_slice(&total);
        }
        assert!(Tree::parse(&cut).is_err(), "truncated to {len}");
    }
}

#[test]
fn every_shortened_structure_block_is_an_error() {
    let input = qemu_like(&[]);
    let size_dt_struct = u32::from_be_bytes(input[36..40].try_into().unwrap());
    for size in (0..size_dt_struct).step_by(4) {
        let mut cut = input.clone();
        cut[36..40].copy_from_slice(&size.to_be_bytes());
        assert!(
            matches!(Tree::parse(&cut), Err(DtError::Struct { .. })),
            "size_dt_struct {size:#x}"
        );
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    // Flip every byte of the blob in turn (deterministic fuzz); what parses must also
    // survive an edit and a rebuild, and the rebuilt blob must parse again.
    let input = qemu_like(&[(0x4000_0000, 0x1000)]);
    for i in 0..input.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut bad = input.clone();
            bad[i] ^= x;
            if let Ok(out) = parse_edit_emit(&bad) {
                assert!(Tree::parse(&out).is_ok(), "byte {i} ^ {x:#x}");
            }
        }
    }
}

#[test]
fn malformed_headers_give_typed_errors() {
    let input = qemu_like(&[]);
    let set = |i: usize, v: u32| {
        let mut b = input.clone();
        b[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
        b
    };
    let cases: Vec<(Vec<u8>, DtError)> = vec![
        (
            set(0, 0x1234_5678),
            DtError::BadMagic { found: 0x1234_5678 },
        ),
        (
            set(1, u32::MAX),
            DtError::TotalSize {
                totalsize: u32::MAX,
                available: input.len(),
            },
        ),
        (
            set(5, 16),
            DtError::Version {
                version: 16,
                last_comp_version: 16,
            },
        ),
        (
            set(2, 42),
            DtError::Misaligned {
                block: "structure",
                offset: 42,
            },
        ),
    ];
    for (blob, want) in cases {
        assert_eq!(Tree::parse(&blob).unwrap_err(), want);
    }
    assert_eq!(
        Tree::parse(&input[..10]).unwrap_err().to_string(),
        "blob is 10 bytes, shorter than the 40-byte header"
    );
    assert_eq!(totalsize(&input[..7]), Err(DtError::TooShort { len: 7 }));
    assert_eq!(
        totalsize(&set(0, 0x000d_feed)),
        Err(DtError::BadMagic { found: 0x000d_feed })
    );
    let huge_strings = set(8, u32::MAX - 4);
    assert!(matches!(
        Tree::parse(&huge_strings),
        Err(DtError::Block {
            block: "strings",
            ..
        })
    ));
}

#[test]
fn deep_nesting_is_refused() {
    // vm-fdt refuses to write this, so grow the chain with our own editor.
    let base = qemu_like(&[]);
    let mut tree = Tree::parse(&base).unwrap();
    let mut id = tree.root();
    for _ in 0..MAX_DEPTH {
        id = tree.add_child(id, "n".into());
    }
    let deep = tree.to_blob().unwrap();
    assert!(matches!(
        Tree::parse(&deep),
        Err(DtError::Struct {
            problem: StructProblem::TooDeep,
            ..
        })
    ));
}

#[test]
fn node_count_is_capped() {
    let base = qemu_like(&[]);
    let mut tree = Tree::parse(&base).unwrap();
    let root = tree.root();
    for i in 0..MAX_NODES {
        tree.add_child(root, format!("n{i}"));
    }
    let wide = tree.to_blob().unwrap();
    assert!(matches!(
        Tree::parse(&wide),
        Err(DtError::Struct {
            problem: StructProblem::TooManyNodes,
            ..
        })
    ));
}

#[test]
fn property_count_is_capped() {
    let base = qemu_like(&[]);
    let mut tree = Tree::parse(&base).unwrap();
    let root = tree.root();
    // Under the node cap, but five properties a node: more than MAX_PROPS in all.
    let nodes = MAX_PROPS / 5 + 1;
    assert!(nodes < MAX_NODES);
    for i in 0..nodes {
        let n = tree.add_child(root, format!("n{i}"));
        for name in ["a", "b", "c", "d", "e"] {
            tree.set_prop(n, name, Vec::new());
        }
    }
    let many = tree.to_blob().unwrap();
    assert!(matches!(
        Tree::parse(&many),
        Err(DtError::Struct {
            problem: StructProblem::TooManyProperties,
            ..
        })
    ));
}

#[test]
fn structure_errors_name_the_offset() {
    let input = qemu_like(&[]);
    let off_struct = u32::from_be_bytes(input[8..12].try_into().unwrap()) as usize;
    let mut bad = input.clone();
    // The root's BEGIN_NODE becomes an unknown token.
    bad[off_struct..off_struct + 4].copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(
        Tree::parse(&bad).unwrap_err().to_string(),
        "structure block offset 0x0: unknown token 0x00000007"
    );
}

/// A blob from raw structure tokens: `struct_words` (big-endian) and the strings block.
fn raw_blob(struct_words: &[u32], strings: &[u8]) -> Vec<u8> {
    let structure: Vec<u8> = struct_words.iter().flat_map(|w| w.to_be_bytes()).collect();
    let off_rsv = HEADER_LEN;
    let off_struct = off_rsv + 16;
    let off_strings = off_struct + structure.len();
    let total = off_strings + strings.len();
    let header = [
        FDT_MAGIC,
        total as u32,
        off_struct as u32,
        off_strings as u32,
        off_rsv as u32,
        17,
        16,
        0,
        strings.len() as u32,
        structure.len() as u32,
    ];
    let mut blob: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
    blob.extend_from_slice(&[0; 16]);
    blob.extend_from_slice(&structure);
    blob.extend_from_slice(strings);
    blob
}

#[test]
fn properties_after_a_child_stay_with_their_node_in_blob_order() {
    // / { a; c1 { x; }; b = <7>; c2 { }; c; }: DTSpec puts properties first, but a blob
    // that interleaves them is read as written, not reordered across nodes.
    let (a, b, c, x) = (0u32, 2, 4, 6);
    let strings = b"a\0b\0c\0x\0";
    let words = [
        1,
        0, // root, empty name
        3,
        0,
        a, // a (empty)
        1,
        u32::from_be_bytes(*b"c1\0\0"),
        3,
        0,
        x,
        2,
        3,
        4,
        b,
        7, // b = <7>
        1,
        u32::from_be_bytes(*b"c2\0\0"),
        2,
        3,
        0,
        c,
        2,
        9,
    ];
    let blob = raw_blob(&words, strings);
    let mut tree = Tree::parse(&blob).unwrap();
    let root = tree.root();
    let names: Vec<&[u8]> = tree.prop_names(root).collect();
    assert_eq!(names, [&b"a"[..], b"b", b"c"]);
    assert_eq!(tree.prop(root, "b"), Some(&[0, 0, 0, 7][..]));
    let c1 = tree.child(root, "c1").unwrap();
    let c2 = tree.child(root, "c2").unwrap();
    assert_eq!(tree.children(root), [c1, c2]);
    assert_eq!(tree.prop_names(c1).collect::<Vec<_>>(), [&b"x"[..]]);
    assert_eq!(tree.prop_names(c2).count(), 0);

    // Edits grow spans that are not at the end of their list.
    tree.set_prop(c1, "y", vec![1]);
    tree.set_prop(root, "d", vec![2]);
    tree.set_prop(c1, "x", vec![3]);
    let c3 = tree.add_child(c1, "c3".into());
    let c4 = tree.add_child(root, "c4".into());
    tree.set_prop(c3, "z", vec![4]);
    assert!(tree.remove_prop(root, "b"));
    tree.remove_child(root, c2);
    let out = tree.to_blob().unwrap();
    let tree = Tree::parse(&out).unwrap();
    let root = tree.root();
    let names: Vec<&[u8]> = tree.prop_names(root).collect();
    assert_eq!(names, [&b"a"[..], b"c", b"d"]);
    let kids: Vec<&[u8]> = tree.children(root).iter().map(|&k| tree.name(k)).collect();
    assert_eq!(kids, [&b"c1"[..], b"c4"]);
    let c1 = tree.child(root, "c1").unwrap();
    assert_eq!(tree.prop(c1, "x"), Some(&[3][..]));
    assert_eq!(tree.prop(c1, "y"), Some(&[1][..]));
    let c3 = tree.child(c1, "c3").unwrap();
    assert_eq!(tree.prop(c3, "z"), Some(&[4][..]));
    assert_eq!(tree.path(c3), "/c1/c3");
    let _ = c4;
}
