//! The boot path's pure steps run against real board device trees: Debian's Juno DTBs
//! (r0, r1, r2, from the arm64 kernel package) and the RD-N2 FVP host DT written here
//! (`platform/dts/rdn2-fvp.dts`). Each board is taken through what `firmware::boot::primary_main`
//! does with its DT: board selection, DT parsing, the carve-out check, the host map and
//! stage-2 tables for the board's CPU, and host-loader's plan and DT patch.
//!
//! Provenance of the fixtures: `tests/fixtures/BOARDS.md`.

use std::ops::Range;

use aarch64_paging::descriptor::Stage2Attributes;
use fdt_rw::{Tree, encode_cells};
use host_loader::placement::KernelLoad;
use host_loader::{Region, SZ_2M};
use hypervisor::dt::{Gic, PsciConduit, SystemInfo};
use hypervisor::memmap::HostMap;
use hypervisor::mm::stage2::{Geometry, HostStage2};
use hypervisor::percpu::MAX_CPUS;
use platform::{Board, GicFrames, JUNO, RDN2_FVP};

const JUNO_R0: &[u8] = include_bytes!("../../tests/fixtures/juno.dtb");
const JUNO_R1: &[u8] = include_bytes!("../../tests/fixtures/juno-r1.dtb");
const JUNO_R2: &[u8] = include_bytes!("../../tests/fixtures/juno-r2.dtb");
const RDN2: &[u8] = include_bytes!("../../tests/fixtures/rdn2-fvp.dtb");

const JUNOS: [(&str, &[u8]); 3] = [("r0", JUNO_R0), ("r1", JUNO_R1), ("r2", JUNO_R2)];

/// ID_AA64MMFR0_EL1.PARange of Juno's big cores, Cortex-A57 (r0, r1) and Cortex-A72 (r2):
/// 0b0100, 44 bits.
const PARANGE_JUNO_BIG: u64 = 4;
/// ID_AA64MMFR0_EL1.PARange of Juno's LITTLE cores, Cortex-A53: 0b0010, 40 bits.
const PARANGE_A53: u64 = 2;
/// ID_AA64MMFR0_EL1.PARange of Neoverse N2 (RD-N2): 0b0101, 48 bits.
const PARANGE_N2: u64 = 5;
/// Where TF-A's BL2 loads NT_FW_CONFIG on RD-N2 (`rdn2_fw_config.dts`) and so BL33's x0.
const NT_FW_CONFIG_ADDR: u64 = 0xfef0_0000;
/// The EL2 stage-1 map (and so every RAM the loader may write) stops at 2^39.
const EL2_VA_LIMIT: u64 = 1 << 39;

/// Where a board's DT puts us, as `firmware::boot::primary_main` computes it: the board TF-A
/// loads BL33 at, plus the 2 MiB image size.
fn carveout(board: &Board) -> Range<u64> {
    let base = board.bl33_base.expect("board has a BL33 slot");
    base..base + SZ_2M
}

fn parse(blob: &[u8]) -> SystemInfo {
    SystemInfo::parse(blob).expect("fixture parses")
}

fn selected(info: &SystemInfo) -> &'static Board {
    let compat: Vec<&str> = info.compatibles.iter().map(String::as_str).collect();
    platform::select(&compat, info.uart.as_ref().map(|u| u.base)).expect("known board")
}

fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

/// The stage-2 geometry `firmware::boot::primary_main` should pick on a Juno booted on its big
/// cluster: the system's, not the boot CPU's.
fn juno_geometry(info: &SystemInfo) -> Geometry {
    Geometry::for_system(PARANGE_JUNO_BIG, info.mixed_cpus())
}

/// A 64-byte arm64 Image header: text_offset 0, LE, 4K pages, placeable anywhere.
fn image_header(image_size: u64) -> [u8; 64] {
    let mut h = [0u8; 64];
    h[0x10..0x18].copy_from_slice(&image_size.to_le_bytes());
    h[0x18..0x20].copy_from_slice(&0b1010u64.to_le_bytes());
    h[0x38..0x3c].copy_from_slice(&host_loader::image::MAGIC.to_le_bytes());
    h
}

/// `blob` with `/chosen` module nodes for a kernel and an initrd, as U-Boot's `fdt mknode`
/// / `fdt set` (docs/boards.md) or `platform/dts/build.sh --host` add them: `reg` in the
/// cells `/chosen` inherits from the root (2/2 on both boards).
fn with_modules(blob: &[u8], kernel: Region, initrd: Region, bootargs: &str) -> Vec<u8> {
    let mut tree = Tree::parse(blob).unwrap();
    let chosen = tree.find("/chosen").expect("/chosen");
    let reg = |r: Region| {
        let mut v = encode_cells(r.base, 2).unwrap();
        v.extend(encode_cells(r.size, 2).unwrap());
        v
    };
    let k = tree.add_child(chosen, format!("module@{:x}", kernel.base));
    tree.set_prop(
        k,
        "compatible",
        b"multiboot,kernel\0multiboot,module\0".to_vec(),
    );
    tree.set_prop(k, "reg", reg(kernel));
    let mut args = bootargs.as_bytes().to_vec();
    args.push(0);
    tree.set_prop(k, "bootargs", args);
    let i = tree.add_child(chosen, format!("module@{:x}", initrd.base));
    tree.set_prop(
        i,
        "compatible",
        b"multiboot,ramdisk\0multiboot,module\0".to_vec(),
    );
    tree.set_prop(i, "reg", reg(initrd));
    tree.to_blob().unwrap()
}

/// Host RAM the loader may place the kernel and DT in (as `loader::load_host` derives it).
fn loader_ram(map: &HostMap) -> Vec<Region> {
    map.ram
        .iter()
        .filter(|r| r.start < EL2_VA_LIMIT)
        .map(|r| Region::new(r.start, r.end.min(EL2_VA_LIMIT) - r.start))
        .collect()
}

fn is_device_xn(s2: &HostStage2, ipa: u64) -> bool {
    s2.lookup(ipa).is_some_and(|(attrs, _)| {
        attrs.contains(Stage2Attributes::XN)
            && attrs.bits() & (0xf << 2) == Stage2Attributes::MEMATTR_DEVICE_nGnRE.bits()
    })
}

fn is_normal(s2: &HostStage2, ipa: u64) -> bool {
    s2.lookup(ipa).is_some_and(|(attrs, _)| {
        !attrs.contains(Stage2Attributes::XN)
            && attrs.contains(Stage2Attributes::MEMATTR_NORMAL_INNER_WB)
    })
}

// ---------------------------------------------------------------------------------------
// Juno r0/r1/r2

#[test]
fn juno_dts_parse_to_the_boards_facts() {
    for (rev, blob) in JUNOS {
        let info = parse(blob);
        assert_eq!(selected(&info), &JUNO, "{rev}");
        let first = if rev == "r0" {
            "arm,juno".to_string()
        } else {
            format!("arm,juno-{rev}")
        };
        assert_eq!(info.compatible, first);
        assert!(info.compatibles.contains(&"arm,vexpress".to_string()));
        // 2 GiB at 0x8000_0000 minus TF-A's 16 MiB of Secure DRAM, and 6 GiB above.
        assert_eq!(info.memory, JUNO.ram, "{rev}");
        assert_eq!(
            info.memory.iter().map(|m| m.end - m.start).sum::<u64>(),
            0x1_ff00_0000
        );
        // big.LITTLE: two A57 in cluster 0, four A53 in cluster 1, the A57s first.
        assert_eq!(info.cpus, JUNO.cpus, "{rev}");
        let big = if rev == "r2" {
            "arm,cortex-a72"
        } else {
            "arm,cortex-a57"
        };
        assert_eq!(info.cpu_models[..2], [big, big], "{rev}");
        assert!(
            info.cpu_models[2..].iter().all(|m| m == "arm,cortex-a53"),
            "{rev}"
        );
        assert!(info.cpus.len() <= MAX_CPUS);
        assert_eq!(info.psci, Some(PsciConduit::Smc), "{rev}");
        // GIC-400: GICD, GICC, GICH, GICV, in that order, as the facts say.
        let GicFrames::V2 {
            gicd,
            gicc,
            gich,
            gicv,
        } = JUNO.gic
        else {
            panic!("Juno's GIC is a GICv2")
        };
        assert_eq!(
            info.gic,
            Some(Gic::V2 {
                regs: vec![
                    gicd..gicd + 0x1000,
                    gicc..gicc + 0x2000,
                    gich..gich + 0x2000,
                    gicv..gicv + 0x2000,
                ]
            }),
            "{rev}"
        );
        // stdout-path = "serial0:115200n8" through /aliases.
        let uart = info.uart.as_ref().expect("stdout-path resolves");
        assert_eq!(uart.base, JUNO.early_uart);
        assert_eq!(uart.compatible, "arm,pl011");
        assert_eq!(JUNO.console(Some(uart.base)), 0x7ff8_0000);
        // Nothing reserved, nothing Secure described: TF-A's memory is outside /memory.
        assert!(info.reserved.is_empty() && info.secure.is_empty(), "{rev}");
        assert_eq!(info.bootargs, None);
    }
}

#[test]
fn juno_carveout_is_tf_as_bl33_slot_and_must_be_ns_dram() {
    let info = parse(JUNO_R2);
    // TF-A (css_def.h PLAT_ARM_NS_IMAGE_BASE) loads BL33 at 0xe000_0000: 2 MiB aligned, as
    // entry.S requires, and inside /memory, as primary_main checks.
    let carve = carveout(&JUNO);
    assert_eq!(carve, 0xe000_0000..0xe020_0000);
    assert!(carve.start.is_multiple_of(SZ_2M));
    assert!(info.is_ram(&carve));
    // booti may place the image at any 2 MiB slot of DRAM; the last one below TF-A's
    // Secure DRAM is the highest in DRAM1, and the Secure DRAM itself is refused.
    for base in [0x8000_0000, 0xfee0_0000, 0x8_8000_0000, 0x9_ffe0_0000] {
        assert!(info.is_ram(&(base..base + SZ_2M)), "{base:#x}");
    }
    for base in [0xff00_0000u64, 0x1_0000_0000, 0xa_0000_0000] {
        assert!(!info.is_ram(&(base..base + SZ_2M)), "{base:#x}");
    }
}

#[test]
fn juno_ipa_space_is_40_bits_from_concatenated_level_1_roots_whichever_cluster_boots() {
    for (rev, blob) in JUNOS {
        let info = parse(blob);
        // big.LITTLE: the A57s (r0, r1) or A72s (r2) have a 44-bit PARange, the A53s 40.
        assert!(info.mixed_cpus(), "{rev}: {:?}", info.cpu_models);
        // Booted on the big cluster, its own PARange would give a level-0 root (40-bit
        // IPA), which the A53s cannot walk (a level-0 start needs PARange >= 44).
        let boot_cpu_only = Geometry::from_parange(PARANGE_JUNO_BIG);
        assert_eq!(boot_cpu_only.root_level, 0);
        assert!(!boot_cpu_only.valid_for(PARANGE_A53), "{rev}");
        // The system geometry: 40 bits from two concatenated level-1 roots, PS = 40 bits,
        // valid on both clusters, whichever of them the firmware boots on.
        for boot in [PARANGE_JUNO_BIG, PARANGE_A53] {
            let g = Geometry::for_system(boot, info.mixed_cpus());
            assert_eq!((g.ipa_bits, g.root_level, g.parange), (40, 1, 2), "{rev}");
            assert_eq!(g.root_tables(), 2, "{rev}");
            assert!(g.valid_for(PARANGE_A53) && g.valid_for(PARANGE_JUNO_BIG));
            // RES1 | PS=40 bits | SH0/ORGN0/IRGN0 | SL0=1 (level 1) | T0SZ=24.
            assert_eq!(g.vtcr(), 0x8002_3540 | 24);
        }
    }
    // Everything Juno's DT places lies below 2^39: DRAM2 ends at 40 GiB and the PCIe
    // 64-bit window (r1/r2) is 0x40_0000_0000 + 4 GiB.
    let info = parse(JUNO_R2);
    let g = juno_geometry(&info);
    assert!(info.memory.iter().all(|m| m.end <= 1 << 39));
    let pcie = Tree::parse(JUNO_R2).unwrap();
    let node = pcie.find("/pcie@40000000").expect("r2 has PCIe");
    let ranges = pcie.prop(node, "ranges").unwrap();
    // <flags pci-hi pci-lo cpu-hi cpu-lo size-hi size-lo> x 3: I/O, 32-bit and the
    // prefetchable window at a 64-bit CPU address.
    let cells: Vec<u32> = ranges
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect();
    let windows: Vec<(u64, u64)> = cells
        .chunks_exact(7)
        .map(|e| {
            (
                u64::from(e[3]) << 32 | u64::from(e[4]),
                u64::from(e[5]) << 32 | u64::from(e[6]),
            )
        })
        .collect();
    assert!(
        windows.contains(&(0x40_0000_0000, 0x1_0000_0000)),
        "{windows:x?}"
    );
    assert!(
        windows
            .iter()
            .all(|(cpu, size)| cpu + size <= 1 << g.ipa_bits)
    );
}

#[test]
fn juno_host_map_withholds_every_alias_of_gich_and_gicv() {
    for (rev, blob) in JUNOS {
        let info = parse(blob);
        let carve = carveout(&JUNO);
        let g = juno_geometry(&info);
        let map = HostMap::new(&info, &carve, g.ipa_bits);
        // The GIC-400 repeats each 4 KiB page over 64 KiB: GICH is all of
        // 0x2c04_0000..0x2c06_0000 (common and per-CPU views), GICV all of
        // 0x2c06_0000..0x2c08_0000. The DT's 8 KiB at ...f000 are one alias each.
        assert_eq!(
            map.withheld,
            [
                0x2c04_0000..0x2c06_0000,
                0x2c06_0000..0x2c08_0000,
                carve.clone()
            ],
            "{rev}"
        );
        let hyp_frames = [0x2c04_0000..0x2c06_0000, 0x2c06_0000..0x2c08_0000];
        for r in map.mmio.iter().chain(map.ram.iter()) {
            for f in &hyp_frames {
                assert!(!overlaps(r, f), "{rev}: host gets {r:x?}, inside {f:x?}");
            }
        }
        // The host keeps GICD and GICC (both pages of it), and the v2m MSI frames.
        for host in [
            0x2c01_0000..0x2c01_1000,
            0x2c02_f000..0x2c03_1000,
            0x2c1c_0000..0x2c20_0000,
        ] {
            assert!(
                map.mmio
                    .iter()
                    .any(|r| r.start <= host.start && host.end <= r.end),
                "{rev}: {host:x?} not host MMIO"
            );
        }
        assert_eq!(
            map.ram,
            [
                0x8000_0000..0xe000_0000,
                0xe020_0000..0xff00_0000,
                0x8_8000_0000..0xa_0000_0000
            ]
        );
    }
}

#[test]
fn juno_stage2_maps_ram_normal_devices_device_and_nothing_of_ours() {
    let info = parse(JUNO_R1);
    let carve = carveout(&JUNO);
    let g = juno_geometry(&info);
    let map = HostMap::new(&info, &carve, g.ipa_bits);
    let s2 = HostStage2::build(&map, g).expect("stage 2 builds");
    assert_eq!(s2.geometry(), g);
    // RAM: Normal, executable, in 1 GiB/2 MiB blocks; the carve-out absent.
    assert!(is_normal(&s2, 0x8000_0000));
    assert!(is_normal(&s2, 0x8_8000_0000));
    assert_eq!(
        s2.lookup(0x9_0000_0000).map(|(_, l)| l),
        Some(1),
        "1 GiB block"
    );
    assert_eq!(
        s2.lookup(0xdfe0_0000).map(|(_, l)| l),
        Some(2),
        "2 MiB block"
    );
    assert!(s2.lookup(carve.start).is_none());
    assert!(s2.lookup(carve.end - 0x1000).is_none());
    assert!(is_normal(&s2, carve.end));
    // Devices: UART, GICD, GICC, the PCIe 64-bit window and the top of the IPA space.
    for dev in [
        0x7ff8_0000,
        0x2c01_0000,
        0x2c02_f000,
        0x2c03_0000,
        0x40_0000_0000,
        (1 << 39) - 0x1000,
        1 << 39,
        (1 << 40) - 0x1000,
    ] {
        assert!(is_device_xn(&s2, dev), "{dev:#x} is not host Device memory");
    }
    // Every alias of GICH and GICV is unmapped; their neighbours are mapped.
    for ipa in (0x2c04_0000..0x2c08_0000).step_by(0x1000) {
        assert!(s2.lookup(ipa).is_none(), "{ipa:#x} mapped");
    }
    assert!(is_device_xn(&s2, 0x2c03_f000));
    assert!(is_device_xn(&s2, 0x2c08_0000));
    let counts = s2.block_counts();
    assert!(counts.g1 > 0 && counts.m2 > 0 && counts.k4 > 0, "{counts}");
    assert!(s2.table_pages() < 16, "{} table pages", s2.table_pages());
}

#[test]
fn juno_dt_patch_for_the_host() {
    for (rev, blob) in JUNOS {
        // U-Boot (docs/boards.md): DTB at 0x8300_0000, Image at 0x8800_0000, initrd at
        // 0x9800_0000, the hypervisor booti'd at 0xe000_0000.
        let dtb_addr = 0x8300_0000;
        let kernel = Region::new(0x8800_0000, 0x2e0_8fc0);
        let initrd = Region::new(0x9800_0000, 0x10_77f6);
        let bootargs = "console=ttyAMA0,115200 earlycon";
        let fdt = with_modules(blob, kernel, initrd, bootargs);

        let info = parse(&fdt);
        let carve = carveout(&JUNO);
        let map = HostMap::new(&info, &carve, juno_geometry(&info).ipa_bits);
        let mods = host_loader::find_modules(&fdt, dtb_addr).unwrap();
        assert_eq!(mods.kernel.region, kernel);
        assert!(map.is_host_ram(kernel.base, 64));
        let plan = host_loader::plan(
            &fdt,
            dtb_addr,
            &image_header(0x2f0_0000),
            &loader_ram(&map),
            Region::new(carve.start, carve.end - carve.start),
        )
        .unwrap_or_else(|e| panic!("{rev}: {e}"));
        assert_eq!(plan.kernel.load, KernelLoad::InPlace, "{rev}");
        assert_eq!(plan.entry.pc, kernel.base);
        assert_eq!(plan.entry.x0, plan.dtb.addr);
        assert_eq!(plan.initrd, Some(initrd));
        assert!(map.is_host_ram(plan.dtb.addr, plan.dtb.size), "{rev}");
        let dtb = Region::new(plan.dtb.addr, plan.dtb.size);
        assert!(!dtb.overlaps(&plan.kernel.image) && !dtb.overlaps(&initrd));

        // The host's DT: same machine, the carve-out reserved no-map, initrd and bootargs
        // in /chosen, no module nodes left.
        let host = parse(&plan.dtb_blob);
        assert_eq!(host.memory, info.memory);
        assert_eq!(host.cpus, JUNO.cpus);
        assert_eq!(host.gic, info.gic);
        assert_eq!(host.uart, info.uart);
        assert_eq!(host.bootargs.as_deref(), Some(bootargs));
        assert!(
            host.reserved
                .iter()
                .any(|r| r.no_map && r.range == carve && r.name == "hypervisor@e0000000"),
            "{rev}: {:x?}",
            host.reserved
        );
        let tree = Tree::parse(&plan.dtb_blob).unwrap();
        let chosen = tree.find("/chosen").unwrap();
        let be = |name| u64::from_be_bytes(tree.prop(chosen, name).unwrap().try_into().unwrap());
        assert_eq!(be("linux,initrd-start"), initrd.base);
        assert_eq!(be("linux,initrd-end"), initrd.base + initrd.size);
        assert!(host_loader::find_modules(&plan.dtb_blob, plan.dtb.addr).is_err());
        // The patched tree gives the same host map: the reservation lies in RAM.
        assert_eq!(HostMap::new(&host, &carve, 40), map);
    }
}

// ---------------------------------------------------------------------------------------
// RD-N2 FVP

#[test]
fn rdn2_fixture_is_the_compiled_dts() {
    // Guard against editing the .dts without rerunning platform/dts/build.sh.
    let dts = concat!(env!("CARGO_MANIFEST_DIR"), "/../platform/dts/rdn2-fvp.dts");
    let out = std::env::temp_dir().join(format!("rdn2-fvp-{}.dtb", std::process::id()));
    match std::process::Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
        .arg(&out)
        .arg(dts)
        .status()
    {
        Ok(status) => {
            assert!(status.success(), "dtc failed on {dts}");
            let compiled = std::fs::read(&out).unwrap();
            let _ = std::fs::remove_file(&out);
            assert!(
                compiled == RDN2,
                "tests/fixtures/rdn2-fvp.dtb is stale: run platform/dts/build.sh"
            );
        }
        Err(e) => eprintln!("dtc not available ({e}): fixture freshness not checked"),
    }
}

#[test]
fn rdn2_dt_parses_to_tf_as_facts() {
    let info = parse(RDN2);
    assert_eq!(selected(&info), &RDN2_FVP);
    assert_eq!(info.compatibles, ["arm,rd-n2-fvp", "arm,rd-n2"]);
    assert_eq!(info.memory, RDN2_FVP.ram);
    // 16 CPUs, Aff2 = cluster (MT layout), exactly what the hypervisor's per-CPU
    // stacks and warm-boot contexts hold.
    assert_eq!(info.cpus, RDN2_FVP.cpus);
    assert_eq!(info.cpus.len(), MAX_CPUS);
    assert_eq!(info.cpus[15], 0xf_0000);
    assert_eq!(info.psci, Some(PsciConduit::Smc));
    let GicFrames::V3 { gicd, gicr } = RDN2_FVP.gic else {
        panic!("RD-N2's GIC is a GICv3")
    };
    assert_eq!(
        info.gic,
        Some(Gic::V3 {
            regs: vec![gicd..gicd + 0x1_0000, gicr..gicr + 16 * 0x4_0000],
            redistributor_regions: 1,
        })
    );
    let uart = info.uart.as_ref().expect("stdout-path resolves");
    assert_eq!(uart.base, RDN2_FVP.early_uart);
    assert_eq!(uart.base, 0x2a40_0000);
    assert_eq!(uart.compatible, "arm,pl011");
    assert!(info.reserved.is_empty() && info.secure.is_empty());
    // The DT is TF-A's NT_FW_CONFIG: BL33's x0 is where BL2 loaded it.
    assert_eq!(
        RDN2_FVP
            .dtb_candidates(NT_FW_CONFIG_ADDR)
            .collect::<Vec<_>>(),
        [NT_FW_CONFIG_ADDR]
    );
    assert!(info.is_ram(&(NT_FW_CONFIG_ADDR..NT_FW_CONFIG_ADDR + 0x10_0000)));
    assert!(info.is_ram(&carveout(&RDN2_FVP)));
}

#[test]
fn rdn2_dt_has_what_tf_a_bl2_writes_into_nt_fw_config() {
    // nrd_image_load.c panics unless /system-id exists; it sets the three u32 in place and
    // shrinks isolated-cpu-list (count + 16 MPIDRs, 64-bit each) to what the SCP reports.
    let tree = Tree::parse(RDN2).unwrap();
    let node = tree.find("/system-id").expect("/system-id for BL2");
    for prop in ["platform-id", "config-id", "multi-chip-mode"] {
        assert_eq!(tree.prop_u32(node, prop), Ok(Some(0)), "{prop}");
    }
    assert_eq!(
        tree.prop(node, "isolated-cpu-list").map(<[u8]>::len),
        Some(17 * 8)
    );
    // rdn2_fw_config.dts: nt_fw-config max-size 1 MiB.
    assert!(RDN2.len() < 0x10_0000);
}

#[test]
fn rdn2_stage2_covers_dram2_above_2_39_with_a_40_bit_ipa() {
    let info = parse(RDN2);
    // Sixteen Neoverse N2 (PARange 48 bits, capped at 40): level-0 root.
    assert!(!info.mixed_cpus());
    let g = Geometry::for_system(PARANGE_N2, info.mixed_cpus());
    assert!(g.valid_for(PARANGE_N2));
    assert_eq!((g.ipa_bits, g.root_level), (40, 0));
    assert_eq!(g.vtcr(), 0x8005_3598);
    let carve = carveout(&RDN2_FVP);
    let map = HostMap::new(&info, &carve, g.ipa_bits);
    assert_eq!(
        map.withheld,
        std::slice::from_ref(&carve),
        "GICv3 without legacy frames"
    );
    assert_eq!(
        map.ram,
        [
            0x8000_0000..0xe000_0000,
            0xe020_0000..0xff00_0000,
            0x80_8000_0000..0x82_0000_0000
        ]
    );
    let s2 = HostStage2::build(&map, g).expect("stage 2 builds");
    // DRAM2 lies above 2^39: mapped for the host (1 GiB blocks), although the EL2 map
    // (and so the loader) only reaches DRAM1.
    assert!(is_normal(&s2, 0x80_8000_0000));
    assert_eq!(s2.lookup(0x81_0000_0000).map(|(_, l)| l), Some(1));
    assert!(is_normal(&s2, 0x81_ffff_f000));
    assert!(s2.lookup(carve.start).is_none());
    for dev in [
        0x2a40_0000,
        0x0ef7_0000,
        0x3000_0000,
        0x301c_0000,
        0x305b_0000,
    ] {
        assert!(is_device_xn(&s2, dev), "{dev:#x}");
    }
    // PCIe (not described here) and NOR2 of the nrd2 memory map are below 2^40 as well.
    for dev in [0x40_0000_0000, 0x10_1000_0000, 0x10_5400_0000] {
        assert!(is_device_xn(&s2, dev), "{dev:#x}");
    }
    assert!(s2.table_pages() < 16, "{} table pages", s2.table_pages());

    // A CPU model with a 42-bit PARange (below the 44 a level-0 start needs) still reaches
    // DRAM2, through two concatenated level-1 roots.
    let small = HostMap::new(&info, &carve, Geometry::from_parange(3).ipa_bits);
    assert_eq!(small.ram, map.ram);
}

#[test]
fn rdn2_dt_patch_for_the_host() {
    // The FVP layout of docs/boards.md and build.sh --host: DT (NT_FW_CONFIG) 0xfef0_0000,
    // Image 0x8800_0000, initrd 0x9800_0000, hypervisor (BL33) 0xe000_0000.
    let dtb_addr = NT_FW_CONFIG_ADDR;
    let kernel = Region::new(0x8800_0000, 0x2e0_8fc0);
    let initrd = Region::new(0x9800_0000, 0x10_77f6);
    let fdt = with_modules(RDN2, kernel, initrd, "console=ttyAMA0 earlycon");
    let info = parse(&fdt);
    let carve = carveout(&RDN2_FVP);
    let map = HostMap::new(&info, &carve, Geometry::from_parange(PARANGE_N2).ipa_bits);
    let plan = host_loader::plan(
        &fdt,
        dtb_addr,
        &image_header(0x2f0_0000),
        &loader_ram(&map),
        Region::new(carve.start, carve.end - carve.start),
    )
    .unwrap();
    assert_eq!(plan.kernel.load, KernelLoad::InPlace);
    assert_eq!(plan.entry.pc, 0x8800_0000);
    assert!(map.is_host_ram(plan.dtb.addr, plan.dtb.size));
    assert!(plan.dtb.addr + plan.dtb.size <= EL2_VA_LIMIT);
    let host = parse(&plan.dtb_blob);
    assert_eq!(host.cpus.len(), 16);
    assert!(
        host.reserved
            .iter()
            .any(|r| r.no_map && r.range == carve && r.name == "hypervisor@e0000000")
    );
    assert!(host_loader::find_modules(&plan.dtb_blob, plan.dtb.addr).is_err());
}

// ---------------------------------------------------------------------------------------
// Every board

#[test]
fn a_dt_for_an_unknown_board_is_named_in_the_error() {
    // Juno r2's DT with its root compatible changed to a board we do not support.
    let mut tree = Tree::parse(JUNO_R2).unwrap();
    let root = tree.root();
    tree.set_prop(root, "compatible", b"acme,board\0arm,vexpress\0".to_vec());
    let blob = tree.to_blob().unwrap();
    let info = parse(&blob);
    let compat: Vec<&str> = info.compatibles.iter().map(String::as_str).collect();
    let err = platform::select(&compat, info.uart.as_ref().map(|u| u.base)).unwrap_err();
    let line = err.to_string();
    assert!(
        line.starts_with(
            "unknown board: device tree compatible \"acme,board\", \"arm,vexpress\" \
             (console UART 0x7ff80000); supported: qemu-virt"
        ),
        "{line}"
    );
    for board in platform::BOARDS {
        assert!(line.contains(board.name), "{line}");
    }
}

#[test]
fn every_board_dt_selects_its_board_and_fits_the_hypervisor() {
    let qemu: &[u8] = include_bytes!("../../tests/fixtures/qemu-virt-tfa-optee.dtb");
    for (blob, board) in [
        (qemu, &platform::QEMU_VIRT),
        (JUNO_R0, &JUNO),
        (JUNO_R1, &JUNO),
        (JUNO_R2, &JUNO),
        (RDN2, &RDN2_FVP),
    ] {
        let info = parse(blob);
        assert_eq!(selected(&info), board);
        assert!(info.cpus.len() <= MAX_CPUS, "{}", board.name);
        assert!(info.is_ram(&carveout(board)), "{}", board.name);
        let uart = info.uart.as_ref().map(|u| u.base);
        assert!(board.uarts.contains(&board.console(uart)), "{}", board.name);
    }
}
