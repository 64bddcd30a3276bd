//! Test-only builder of QEMU-virt-like device trees, written with `vm-fdt` (an independent
//! writer, so our parser is not only tested against our own emitter).

use alloc::{
    string::{String, ToString},
    vec,
    vec::Vec,
};
use vm_fdt::{FdtReserveEntry, FdtWriter};

/// One `/chosen` module node.
#[derive(Clone)]
pub(crate) struct ModuleSpec {
    base: u64,
    size: u64,
    compatible: Vec<&'static str>,
    bootargs: Option<Vec<u8>>,
    raw_reg: Option<Vec<u32>>,
}

impl ModuleSpec {
    fn new(base: u64, size: u64, compatible: Vec<&'static str>) -> Self {
        Self {
            base,
            size,
            compatible,
            bootargs: None,
            raw_reg: None,
        }
    }
    pub(crate) fn kernel(base: u64, size: u64) -> Self {
        Self::new(base, size, vec!["multiboot,kernel", "multiboot,module"])
    }
    pub(crate) fn ramdisk(base: u64, size: u64) -> Self {
        Self::new(base, size, vec!["multiboot,ramdisk", "multiboot,module"])
    }
    pub(crate) fn generic(base: u64, size: u64) -> Self {
        Self::new(base, size, vec!["multiboot,module"])
    }
    pub(crate) fn other(base: u64, size: u64, compatible: &'static str) -> Self {
        Self::new(base, size, vec![compatible, "multiboot,module"])
    }
    pub(crate) fn bootargs(mut self, args: &str) -> Self {
        let mut raw = args.as_bytes().to_vec();
        raw.push(0);
        self.bootargs = Some(raw);
        self
    }
    pub(crate) fn raw_bootargs(mut self, raw: &[u8]) -> Self {
        self.bootargs = Some(raw.to_vec());
        self
    }
    pub(crate) fn raw_reg(mut self, cells: &[u32]) -> Self {
        self.raw_reg = Some(cells.to_vec());
        self
    }
}

/// A `/reserved-memory` child.
#[derive(Clone)]
pub(crate) struct Reserved {
    pub(crate) name: String,
    pub(crate) base: u64,
    pub(crate) size: u64,
    pub(crate) no_map: bool,
}

/// Builder for a QEMU-virt-like tree.
#[derive(Clone)]
pub(crate) struct DtBuilder {
    root_cells: Option<(u32, u32)>,
    chosen: bool,
    chosen_cells: Option<(u32, u32)>,
    chosen_bootargs: Option<String>,
    chosen_initrd: Option<(u64, u64)>,
    chosen_children: Vec<(String, String)>,
    modules: Vec<ModuleSpec>,
    memory: Vec<(u64, u64)>,
    memreserve: Vec<(u64, u64)>,
    reserved_memory: Option<ReservedMemory>,
}

/// `/reserved-memory`: its cells (None: none written), whether it has `ranges`, children.
#[derive(Clone)]
struct ReservedMemory {
    cells: Option<(u32, u32)>,
    ranges: bool,
    children: Vec<Reserved>,
}

fn cells(value: u64, n: u32) -> Vec<u32> {
    match n {
        1 => vec![value as u32],
        _ => vec![(value >> 32) as u32, value as u32],
    }
}

impl DtBuilder {
    /// Root 2/2, 1 GiB of RAM at 0x4000_0000, a UART, PSCI, an empty /chosen.
    pub(crate) fn qemu() -> Self {
        Self {
            root_cells: Some((2, 2)),
            chosen: true,
            chosen_cells: None,
            chosen_bootargs: None,
            chosen_initrd: None,
            chosen_children: Vec::new(),
            modules: Vec::new(),
            memory: vec![(0x4000_0000, 0x4000_0000)],
            memreserve: Vec::new(),
            reserved_memory: None,
        }
    }
    pub(crate) fn root_cells(mut self, cells: Option<(u32, u32)>) -> Self {
        self.root_cells = cells;
        self
    }
    pub(crate) fn no_chosen(mut self) -> Self {
        self.chosen = false;
        self
    }
    pub(crate) fn chosen_cells(mut self, ac: u32, sc: u32) -> Self {
        self.chosen_cells = Some((ac, sc));
        self
    }
    pub(crate) fn chosen_bootargs(mut self, args: &str) -> Self {
        self.chosen_bootargs = Some(args.to_string());
        self
    }
    pub(crate) fn chosen_initrd(mut self, start: u64, end: u64) -> Self {
        self.chosen_initrd = Some((start, end));
        self
    }
    pub(crate) fn chosen_child(mut self, name: &str, compatible: &str) -> Self {
        self.chosen_children
            .push((name.to_string(), compatible.to_string()));
        self
    }
    pub(crate) fn module(mut self, m: ModuleSpec) -> Self {
        self.modules.push(m);
        self
    }
    pub(crate) fn memory(mut self, regions: &[(u64, u64)]) -> Self {
        self.memory = regions.to_vec();
        self
    }
    pub(crate) fn memreserve(mut self, base: u64, size: u64) -> Self {
        self.memreserve.push((base, size));
        self
    }
    /// Create `/reserved-memory` with `cells` (None: no cell properties) and `ranges`.
    pub(crate) fn reserved_memory_node(mut self, cells: Option<(u32, u32)>, ranges: bool) -> Self {
        self.reserved_memory = Some(ReservedMemory {
            cells,
            ranges,
            children: Vec::new(),
        });
        self
    }
    pub(crate) fn reserved(mut self, name: &str, base: u64, size: u64, no_map: bool) -> Self {
        let entry = self.reserved_memory.get_or_insert_with(|| ReservedMemory {
            cells: Some((2, 2)),
            ranges: true,
            children: Vec::new(),
        });
        entry.children.push(Reserved {
            name: name.to_string(),
            base,
            size,
            no_map,
        });
        self
    }

    fn root_or_default(&self) -> (u32, u32) {
        self.root_cells.unwrap_or((2, 1))
    }

    pub(crate) fn build(&self) -> Vec<u8> {
        let rsv: Vec<_> = self
            .memreserve
            .iter()
            .map(|&(a, s)| FdtReserveEntry::new(a, s).unwrap())
            .collect();
        let mut w = FdtWriter::new_with_mem_reserv(&rsv).unwrap();
        let (rac, rsc) = self.root_or_default();
        let reg = |base: u64, size: u64, ac: u32, sc: u32| {
            let mut v = cells(base, ac);
            v.extend(cells(size, sc));
            v
        };

        let root = w.begin_node("").unwrap();
        w.property_string("compatible", "linux,dummy-virt").unwrap();
        if let Some((ac, sc)) = self.root_cells {
            w.property_u32("#address-cells", ac).unwrap();
            w.property_u32("#size-cells", sc).unwrap();
        }
        w.property_u32("interrupt-parent", 0x8002).unwrap();

        for &(base, size) in &self.memory {
            let n = w.begin_node(&format!("memory@{base:x}")).unwrap();
            w.property_string("device_type", "memory").unwrap();
            w.property_array_u32("reg", &reg(base, size, rac, rsc))
                .unwrap();
            w.end_node(n).unwrap();
        }

        if let Some(ReservedMemory {
            cells,
            ranges,
            children,
        }) = &self.reserved_memory
        {
            let n = w.begin_node("reserved-memory").unwrap();
            if let Some((ac, sc)) = cells {
                w.property_u32("#address-cells", *ac).unwrap();
                w.property_u32("#size-cells", *sc).unwrap();
            }
            if *ranges {
                w.property_null("ranges").unwrap();
            }
            let (ac, sc) = cells.unwrap_or((rac, rsc));
            for r in children {
                let c = w.begin_node(&r.name).unwrap();
                w.property_array_u32("reg", &reg(r.base, r.size, ac, sc))
                    .unwrap();
                if r.no_map {
                    w.property_null("no-map").unwrap();
                }
                w.end_node(c).unwrap();
            }
            w.end_node(n).unwrap();
        }

        let psci = w.begin_node("psci").unwrap();
        w.property_string_list(
            "compatible",
            vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()],
        )
        .unwrap();
        w.property_string("method", "smc").unwrap();
        w.end_node(psci).unwrap();

        let uart = w.begin_node("pl011@9000000").unwrap();
        w.property_string_list(
            "compatible",
            vec!["arm,pl011".into(), "arm,primecell".into()],
        )
        .unwrap();
        w.property_array_u32("reg", &reg(0x900_0000, 0x1000, rac, rsc))
            .unwrap();
        w.end_node(uart).unwrap();

        if self.chosen {
            let chosen = w.begin_node("chosen").unwrap();
            w.property_string("stdout-path", "/pl011@9000000").unwrap();
            if let Some((ac, sc)) = self.chosen_cells {
                w.property_u32("#address-cells", ac).unwrap();
                w.property_u32("#size-cells", sc).unwrap();
            }
            if let Some(args) = &self.chosen_bootargs {
                w.property_string("bootargs", args).unwrap();
            }
            if let Some((start, end)) = self.chosen_initrd {
                w.property_u64("linux,initrd-start", start).unwrap();
                w.property_u64("linux,initrd-end", end).unwrap();
            }
            for (name, compatible) in &self.chosen_children {
                let c = w.begin_node(name).unwrap();
                w.property_string("compatible", compatible).unwrap();
                w.end_node(c).unwrap();
            }
            let (ac, sc) = self.chosen_cells.unwrap_or((rac, rsc));
            for m in &self.modules {
                let c = w.begin_node(&format!("module@{:x}", m.base)).unwrap();
                w.property_string_list(
                    "compatible",
                    m.compatible.iter().map(|s| s.to_string()).collect(),
                )
                .unwrap();
                let r = m
                    .raw_reg
                    .clone()
                    .unwrap_or_else(|| reg(m.base, m.size, ac, sc));
                w.property_array_u32("reg", &r).unwrap();
                if let Some(args) = &m.bootargs {
                    w.property("bootargs", args).unwrap();
                }
                w.end_node(c).unwrap();
            }
            w.end_node(chosen).unwrap();
        }
        w.end_node(root).unwrap();
        w.finish().unwrap()
    }
}
