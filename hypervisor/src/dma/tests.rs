//! The DMA policy on the board fixtures (QEMU virt with and without an SMMUv3, Juno r0-r2,
//! RD-N2), on synthetic nodes for each rule, and the host device tree it leads to.

use super::*;
use crate::dt::SystemInfo;
use crate::memmap::HostMap;
use alloc::string::ToString;
use alloc::vec;
use host_loader::Region;
use host_loader::dtpatch::{PatchSpec, patch};

const QEMU: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-tfa-optee.dtb");
const QEMU_DUMP: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-dumpdtb.dtb");
const QEMU_SMMUV3: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-smmuv3-dumpdtb.dtb");
const JUNOS: [(&str, &[u8]); 3] = [
    ("r0", include_bytes!("../../../tests/fixtures/juno.dtb")),
    ("r1", include_bytes!("../../../tests/fixtures/juno-r1.dtb")),
    ("r2", include_bytes!("../../../tests/fixtures/juno-r2.dtb")),
];
const RDN2: &[u8] = include_bytes!("../../../tests/fixtures/rdn2-fvp.dtb");

fn classify(blob: &[u8]) -> DmaPolicy {
    DmaPolicy::classify(blob, &DmaOptions::default()).unwrap()
}

fn paths(policy: &DmaPolicy, class: DmaClass) -> Vec<&str> {
    policy
        .decisions
        .iter()
        .filter(|d| d.class == class)
        .map(|d| d.path.as_str())
        .collect()
}

fn decision<'p>(policy: &'p DmaPolicy, path: &str) -> &'p Decision {
    policy
        .decisions
        .iter()
        .find(|d| d.path == path)
        .unwrap_or_else(|| panic!("no decision for {path}: {:#?}", policy.decisions))
}

fn overlaps(a: &PhysRange, b: &PhysRange) -> bool {
    a.start < b.end && b.start < a.end
}

/// QEMU virt's withheld nodes: fw_cfg, the 32 virtio-mmio transports and the PCIe root
/// complex (ECAM and its three windows); the GICv3's redistributors and its ITS are
/// emulated.
fn check_qemu(policy: &DmaPolicy) {
    let withheld = paths(policy, DmaClass::Withheld);
    assert_eq!(withheld.len(), 1 + 32 + 1, "{withheld:#?}");
    assert!(withheld.contains(&"/fw-cfg@9020000"));
    assert!(withheld.contains(&"/virtio_mmio@a000000"));
    assert!(withheld.contains(&"/virtio_mmio@a003e00"));
    assert_eq!(
        paths(policy, DmaClass::Emulated),
        ["/intc@8000000", "/intc@8000000/its@8080000"]
    );
    assert!(paths(policy, DmaClass::Trusted).is_empty());

    let pcie = decision(policy, "/pcie@10000000");
    assert_eq!((pcie.kind, pcie.class), (Kind::PciHost, DmaClass::Withheld));
    assert_eq!(
        pcie.mmio,
        [
            0x1000_0000..0x3eff_0000,           // 32-bit memory window
            0x3eff_0000..0x3f00_0000,           // I/O window
            0x40_1000_0000..0x40_2000_0000,     // ECAM (high)
            0x80_0000_0000..0x100_0000_0000u64, // 64-bit memory window
        ]
    );
    let its = decision(policy, "/intc@8000000/its@8080000");
    assert_eq!((its.kind, its.class), (Kind::Its, DmaClass::Emulated));
    assert_eq!(its.mmio, [0x0808_0000..0x080a_0000]);
    let fw_cfg = decision(policy, "/fw-cfg@9020000");
    assert_eq!(fw_cfg.kind, Kind::FwCfg);
    assert_eq!(fw_cfg.mmio, [0x0902_0000..0x0902_0018]);

    // Devices that cannot master memory are not in the policy at all.
    for kept in [
        "/pl011@9000000",
        "/pl031@9010000",
        "/flash@4000000",
        "/platform-bus@c000000",
    ] {
        assert!(
            policy.decisions.iter().all(|d| d.path != kept),
            "{kept} is not a master"
        );
    }
}

#[test]
fn qemu_withholds_pcie_virtio_fw_cfg_and_emulates_the_its() {
    check_qemu(&classify(QEMU));
    check_qemu(&classify(QEMU_DUMP));
}

#[test]
fn qemu_withheld_mmio_leaves_the_host_map_and_the_rest_stays() {
    let info = SystemInfo::parse(QEMU).unwrap();
    let policy = classify(QEMU);
    let carve = 0x6000_0000..0x6020_0000;
    let map = HostMap::with_withheld(&info, &carve, 40, &policy.withheld_mmio());
    // Before this policy the host got all of these as Device memory.
    let denied = [
        0x0902_0000..0x0902_1000,       // fw_cfg (its DMA register at +0x10)
        0x0a00_0000..0x0a00_4000,       // every virtio-mmio transport
        0x1000_0000..0x3f00_0000,       // PCIe memory and I/O windows
        0x40_1000_0000..0x40_2000_0000, // PCIe ECAM
        0x80_0000_0000..0x100_0000_0000,
    ];
    for r in map.mmio.iter().chain(map.ram.iter()) {
        for d in &denied {
            assert!(!overlaps(r, d), "host gets {r:#x?}, inside {d:#x?}");
        }
    }
    for d in &denied {
        let left = crate::memmap::subtract(core::slice::from_ref(d), &map.withheld);
        assert!(left.is_empty(), "{left:#x?} of {d:#x?} not withheld");
    }
    // The host keeps its UART, RTC, flash, GIC distributor, ITS (its control frame is
    // trapped by the firmware, not withheld) and redistributors, and RAM.
    for kept in [
        0x0900_0000..0x0900_1000,
        0x0901_0000..0x0901_1000,
        0x0400_0000..0x0800_0000,
        0x0800_0000..0x0801_0000,
        0x0808_0000..0x080a_0000,
        0x080a_0000..0x0900_0000,
    ] {
        assert!(
            map.mmio
                .iter()
                .any(|r| r.start <= kept.start && kept.end <= r.end),
            "host lost {kept:#x?}"
        );
    }
    assert_eq!(map.ram, HostMap::new(&info, &carve, 40).ram);
}

#[test]
fn qemu_smmuv3_is_withheld_until_the_hypervisor_owns_it() {
    let policy = classify(QEMU_SMMUV3);
    let smmu = decision(&policy, "/smmuv3@9050000");
    assert_eq!((smmu.kind, smmu.class), (Kind::Iommu, DmaClass::Withheld));
    assert_eq!(smmu.mmio, [0x0905_0000..0x0907_0000]);
    assert_eq!(
        decision(&policy, "/pcie@10000000").class,
        DmaClass::Withheld
    );

    // Once an SMMU driver claims it, the root complex behind it stays with the host.
    let owned = DmaPolicy::classify(
        QEMU_SMMUV3,
        &DmaOptions {
            owned_iommus: &["/smmuv3@9050000"],
            trusted: &[],
        },
    )
    .unwrap();
    assert_eq!(
        decision(&owned, "/smmuv3@9050000").class,
        DmaClass::OwnedIommu
    );
    let pcie = decision(&owned, "/pcie@10000000");
    assert_eq!(pcie.class, DmaClass::BehindOwnedIommu);
    assert!(!owned.withheld_mmio().iter().any(|r| r.start == 0x1000_0000));
    assert!(owned.withheld_mmio().contains(&(0x0905_0000..0x0907_0000)));
    // The ITS is emulated, and virtio-mmio has no IOMMU in front of it.
    assert_eq!(
        decision(&owned, "/intc@8000000/its@8080000").class,
        DmaClass::Emulated
    );
    assert_eq!(
        decision(&owned, "/virtio_mmio@a000000").class,
        DmaClass::Withheld
    );
}

#[test]
fn juno_withholds_every_master_and_its_smmus() {
    for (rev, blob) in JUNOS {
        let policy = classify(blob);
        let withheld = paths(&policy, DmaClass::Withheld);
        // Every revision: the PCIe root complex, the PL330, both HDLCDs, both USB
        // controllers, the GPU, the trace sinks, and all seven MMU-40x (the host would
        // program them).
        for path in [
            "/pcie@40000000",
            "/dma-controller@7ff00000",
            "/hdlcd@7ff50000",
            "/hdlcd@7ff60000",
            "/usb@7ffb0000",
            "/usb@7ffc0000",
            "/gpu@2d000000",
            "/etf@20010000",
            "/etr@20070000",
            "/iommu@2b400000",
            "/iommu@2b500000",
            "/iommu@2b600000",
            "/iommu@7fb00000",
            "/iommu@7fb10000",
            "/iommu@7fb20000",
            "/iommu@7fb30000",
        ] {
            assert!(withheld.contains(&path), "{rev}: {path} in {withheld:#?}");
        }
        assert!(
            paths(&policy, DmaClass::Emulated).is_empty(),
            "{rev}: GICv2"
        );
        let pcie = decision(&policy, "/pcie@40000000");
        assert!(
            pcie.mmio.contains(&(0x4000_0000..0x5000_0000)),
            "{rev}: ECAM"
        );
        assert!(
            pcie.mmio
                .contains(&(0x50_0000_0000 - 0x10_0000_0000..0x41_0000_0000))
        );
        // Slaves the host keeps: UART, the motherboard's LAN9118 (under two translating
        // buses), MMC, KMI, RTC, GPIO, the GIC-400 and its v2m MSI frames.
        for d in &policy.decisions {
            for kept in [
                "serial@",
                "ethernet@",
                "mmc@",
                "kmi@",
                "rtc@",
                "gpio@",
                "v2m@",
                "interrupt-controller@",
            ] {
                assert!(!d.path.contains(kept), "{rev}: {} is a slave", d.path);
            }
        }
    }
}

#[test]
fn rdn2_has_no_described_master_but_the_gic() {
    let policy = classify(RDN2);
    assert_eq!(
        paths(&policy, DmaClass::Emulated),
        ["/interrupt-controller@30000000"]
    );
    assert_eq!(policy.decisions.len(), 1);
    // Its six ITSes are not in the DT: the board withholds them.
    let its = platform::RDN2_FVP.dma_undescribed;
    assert_eq!(its, [("GICv3 ITS x6", 0x3004_0000..0x301c_0000)]);
    let info = SystemInfo::parse(RDN2).unwrap();
    let map = HostMap::with_withheld(&info, &(0xe000_0000..0xe020_0000), 44, &[its[0].1.clone()]);
    assert!(
        !map.mmio
            .iter()
            .any(|r| overlaps(r, &(0x3004_0000..0x301c_0000)))
    );
    assert!(platform::BOARDS.iter().all(|b| b.dma_trusted.is_empty()));
}

#[test]
fn a_trusted_master_is_kept_and_named() {
    let policy = DmaPolicy::classify(
        QEMU,
        &DmaOptions {
            owned_iommus: &[],
            trusted: &["/fw-cfg@9020000"],
        },
    )
    .unwrap();
    let fw_cfg = decision(&policy, "/fw-cfg@9020000");
    assert_eq!(fw_cfg.class, DmaClass::Trusted);
    assert!(!policy.withheld().any(|d| d.path == "/fw-cfg@9020000"));
    assert!(!policy.withheld_mmio().contains(&(0x0902_0000..0x0902_0018)));
    assert_eq!(
        fw_cfg.to_string(),
        "DMA: TRUSTED by the board option, unprotected /fw-cfg@9020000 (fw_cfg DMA)"
    );
}

#[test]
fn console_lines_name_node_kind_and_mmio() {
    let policy = classify(QEMU);
    assert_eq!(
        decision(&policy, "/intc@8000000/its@8080000").to_string(),
        "DMA: emulated /intc@8000000/its@8080000 (GICv3 ITS)"
    );
    assert_eq!(
        decision(&policy, "/intc@8000000").to_string(),
        "DMA: emulated /intc@8000000 (GICv3 redistributor LPI tables)"
    );
}

/// A synthetic node's properties: `(name, value)`.
type Props<'p> = &'p [(&'static str, Vec<u8>)];
/// A synthetic node: name, properties, children (name and properties).
type Node<'p> = (&'p str, Props<'p>, &'p [(&'p str, Props<'p>)]);

/// The QEMU fixture with extra nodes under the root: `(name, props)`, each prop a
/// `(name, value)`; a child list nests one level.
fn with_nodes(nodes: &[Node<'_>]) -> Vec<u8> {
    let mut tree = fdt_rw::Tree::parse(QEMU).unwrap();
    let root = tree.root();
    for (name, props, children) in nodes {
        let id = tree.add_child(root, name.to_string());
        for (p, v) in props.iter() {
            tree.set_prop(id, p, v.clone());
        }
        for (cname, cprops) in children.iter() {
            let c = tree.add_child(id, cname.to_string());
            for (p, v) in cprops.iter() {
                tree.set_prop(c, p, v.clone());
            }
        }
    }
    tree.to_blob().unwrap()
}

fn cells(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|c| c.to_be_bytes()).collect()
}

fn s(text: &str) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    v.push(0);
    v
}

#[test]
fn each_rule_on_synthetic_nodes() {
    let blob = with_nodes(&[
        // An unknown device with a DMA property, under a bus that translates.
        (
            "bus@20000000",
            &[
                ("compatible", s("simple-bus")),
                ("#address-cells", cells(&[1])),
                ("#size-cells", cells(&[1])),
                ("ranges", cells(&[0, 0, 0x2000_0000, 0x10_0000])),
                ("dma-ranges", cells(&[])),
            ],
            &[
                (
                    "thing@1000",
                    &[
                        ("compatible", s("acme,thing")),
                        ("reg", cells(&[0x1000, 0x100])),
                        ("dma-coherent", vec![]),
                    ],
                ),
                (
                    "uart@2000",
                    &[
                        ("compatible", s("arm,pl011")),
                        ("reg", cells(&[0x2000, 0x1000])),
                        ("dma-coherent", vec![]),
                    ],
                ),
                (
                    "quiet@3000",
                    &[
                        ("compatible", s("acme,quiet")),
                        ("reg", cells(&[0x3000, 0x1000])),
                    ],
                ),
            ],
        ),
        // A disabled master: the hardware is still there.
        (
            "dma@21000000",
            &[
                ("compatible", s("arm,pl330")),
                ("reg", cells(&[0, 0x2100_0000, 0, 0x1000])),
                ("status", s("disabled")),
            ],
            &[],
        ),
        // A Secure-only master: the host map withholds it already.
        (
            "sdma@22000000",
            &[
                ("compatible", s("arm,pl330")),
                ("reg", cells(&[0, 0x2200_0000, 0, 0x1000])),
                ("status", s("disabled")),
                ("secure-status", s("okay")),
            ],
            &[],
        ),
        // An unknown DMA controller provider, with a child that is withheld with it.
        (
            "mover@23000000",
            &[
                ("compatible", s("acme,mover")),
                ("#dma-cells", cells(&[1])),
                ("reg", cells(&[0, 0x2300_0000, 0, 0x1000])),
                ("#address-cells", cells(&[2])),
                ("#size-cells", cells(&[2])),
                ("ranges", vec![]),
            ],
            &[(
                "engine@23001000",
                &[
                    ("compatible", s("virtio,mmio")),
                    ("reg", cells(&[0, 0x2300_1000, 0, 0x200])),
                ],
            )],
        ),
    ]);
    let policy = classify(&blob);
    let thing = decision(&policy, "/bus@20000000/thing@1000");
    assert_eq!(
        (thing.kind, thing.class),
        (Kind::Unknown, DmaClass::Withheld)
    );
    assert_eq!(
        thing.mmio,
        [0x2000_1000..0x2000_1100],
        "translated by the bus"
    );
    for kept in [
        "/bus@20000000",
        "/bus@20000000/uart@2000",
        "/bus@20000000/quiet@3000",
        "/sdma@22000000",
    ] {
        assert!(policy.decisions.iter().all(|d| d.path != kept), "{kept}");
    }
    assert_eq!(decision(&policy, "/dma@21000000").class, DmaClass::Withheld);
    let mover = decision(&policy, "/mover@23000000");
    assert_eq!(
        (mover.kind, mover.class),
        (Kind::DmaController, DmaClass::Withheld)
    );
    assert_eq!(
        mover.mmio,
        [0x2300_0000..0x2300_1000, 0x2300_1000..0x2300_1200]
    );
    assert!(
        policy
            .decisions
            .iter()
            .all(|d| d.path != "/mover@23000000/engine@23001000"),
        "a withheld subtree counts once"
    );
}

/// Every phandle a node's `prop` names, with the target's `cells_name` argument cells.
fn phandle_list(
    tree: &fdt_rw::Tree<'_>,
    id: fdt_rw::NodeId,
    prop: &str,
    cells_name: &str,
    by: &dyn Fn(u32) -> Option<fdt_rw::NodeId>,
) -> Vec<u32> {
    let words: Vec<u32> = tree
        .prop(id, prop)
        .unwrap_or(&[])
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&ph) = words.get(i) {
        out.push(ph);
        let Some(target) = by(ph) else { break };
        i += 1 + tree.prop_u32(target, cells_name).unwrap().unwrap_or(0) as usize;
    }
    out
}

/// Fails when any node of `blob` names a phandle no node holds, or an alias names a path
/// that is gone.
fn assert_no_dangling_references(blob: &[u8], what: &str) {
    let tree = fdt_rw::Tree::parse(blob).unwrap();
    let mut nodes = vec![tree.root()];
    let mut i = 0;
    while let Some(&id) = nodes.get(i) {
        nodes.extend_from_slice(tree.children(id));
        i += 1;
    }
    let by = |ph: u32| {
        nodes
            .iter()
            .copied()
            .find(|&n| tree.prop_u32(n, "phandle").unwrap() == Some(ph))
    };
    for &id in &nodes {
        let mut named = Vec::new();
        for (prop, cells_name) in [
            ("iommus", "#iommu-cells"),
            ("msi-parent", "#msi-cells"),
            ("dmas", "#dma-cells"),
        ] {
            named.extend(phandle_list(&tree, id, prop, cells_name, &by));
        }
        for prop in ["iommu-map", "msi-map"] {
            let v = tree.prop(id, prop).unwrap_or(&[]);
            assert_eq!(v.len() % 16, 0);
            named.extend(
                v.chunks_exact(16)
                    .map(|e| u32::from_be_bytes(e[4..8].try_into().unwrap())),
            );
        }
        for prop in ["remote-endpoint", "interrupt-parent"] {
            named.extend(tree.prop_u32(id, prop).unwrap());
        }
        for ph in named {
            assert!(
                by(ph).is_some(),
                "{what}: {} names phandle {ph:#x}, which is gone",
                tree.path(id)
            );
        }
    }
    if let Some(aliases) = tree.find("/aliases") {
        for name in tree.prop_names(aliases) {
            let name = core::str::from_utf8(name).unwrap();
            let path = tree.prop_str(aliases, name).unwrap().unwrap();
            assert!(
                tree.find(path).is_some(),
                "{what}: alias {name} = {path} is gone"
            );
        }
    }
}

fn host_dt(blob: &[u8], policy: &DmaPolicy) -> Vec<u8> {
    let removed: Vec<String> = policy.withheld().map(|d| d.path.clone()).collect();
    let spec = PatchSpec {
        carveout: Region::new(0x6000_0000, 0x20_0000),
        initrd: None,
        bootargs: None,
        remove: &removed,
    };
    patch(blob, &spec).unwrap()
}

#[test]
fn the_host_dt_loses_withheld_nodes_and_every_reference_to_them() {
    let smmu_owned = DmaPolicy::classify(
        QEMU_SMMUV3,
        &DmaOptions {
            owned_iommus: &["/smmuv3@9050000"],
            trusted: &[],
        },
    )
    .unwrap();
    let mut cases: Vec<(&str, &[u8], DmaPolicy)> = vec![
        ("qemu", QEMU, classify(QEMU)),
        ("qemu-smmuv3", QEMU_SMMUV3, classify(QEMU_SMMUV3)),
        ("qemu-smmuv3-owned", QEMU_SMMUV3, smmu_owned),
    ];
    for (rev, blob) in JUNOS {
        cases.push((rev, blob, classify(blob)));
    }
    for (what, blob, policy) in &cases {
        // The fixtures themselves reference the nodes the policy removes.
        let out = host_dt(blob, policy);
        assert_no_dangling_references(&out, what);
        let tree = fdt_rw::Tree::parse(&out).unwrap();
        for d in policy.withheld() {
            assert!(
                tree.find(&d.path).is_none(),
                "{what}: {} still there",
                d.path
            );
        }
        for d in policy.decisions.iter().filter(|d| !d.class.withheld()) {
            assert!(tree.find(&d.path).is_some(), "{what}: {} lost", d.path);
        }
        // Nothing else goes: the console and the GIC stay.
        let uart = SystemInfo::parse(&out).unwrap().uart.unwrap();
        assert_eq!(
            uart.base,
            SystemInfo::parse(blob).unwrap().uart.unwrap().base
        );
    }
    // With the SMMU owned, the root complex stays and probes without an IOMMU: its
    // iommu-map (the removed SMMU) is gone with its mask; its msi-map still names the ITS
    // (emulated, kept), so MSIs reach it.
    let out = host_dt(QEMU_SMMUV3, &cases[2].2);
    let tree = fdt_rw::Tree::parse(&out).unwrap();
    let pcie = tree.find("/pcie@10000000").unwrap();
    for gone in ["iommu-map", "iommu-map-mask"] {
        assert!(tree.prop(pcie, gone).is_none(), "{gone}");
    }
    assert!(tree.prop(pcie, "msi-map").is_some());
    assert!(tree.find("/intc@8000000/its@8080000").is_some());
    assert!(tree.prop(pcie, "ranges").is_some());
    // Juno's trace graph: the replicator's endpoint lost its link to the removed ETR.
    let out = host_dt(JUNOS[2].1, &cases[5].2);
    assert_no_dangling_references(&out, "r2 again");
    let tree = fdt_rw::Tree::parse(&out).unwrap();
    assert!(tree.find("/replicator@20120000").is_some());
}

#[test]
fn a_dangling_reference_is_caught_by_the_check() {
    // The check itself: removing the ITS without fixing the references must fail it.
    let mut tree = fdt_rw::Tree::parse(QEMU_SMMUV3).unwrap();
    let intc = tree.find("/intc@8000000").unwrap();
    let its = tree.find("/intc@8000000/its@8080000").unwrap();
    tree.remove_child(intc, its);
    let blob = tree.to_blob().unwrap();
    let caught = std::panic::catch_unwind(|| assert_no_dangling_references(&blob, "raw"));
    assert!(caught.is_err());
}

#[test]
fn patching_twice_removes_nothing_more() {
    let policy = classify(QEMU);
    let once = host_dt(QEMU, &policy);
    assert_eq!(host_dt(&once, &policy), once);
    assert!(once.len() < QEMU.len(), "33 nodes fewer");
}

#[test]
fn every_single_byte_corruption_is_an_error_or_a_policy_never_a_panic() {
    for i in 0..QEMU.len() {
        let mut b = QEMU.to_vec();
        b[i] ^= 0xff;
        let _ = DmaPolicy::classify(&b, &DmaOptions::default());
    }
}

#[test]
fn compatible_tables_hold_clean_names() {
    let lists = MASTERS
        .iter()
        .map(|(_, list)| *list)
        .chain([NOT_MASTERS, BUSES]);
    let mut count = 0;
    for list in lists {
        for name in list.split('\0') {
            assert!(
                !name.is_empty() && !name.contains(char::is_whitespace),
                "{name:?} in {list:?}"
            );
            count += 1;
        }
    }
    assert_eq!(count, 38 + 17 + 4);
}
