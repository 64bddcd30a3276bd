//! Boot orchestration on the firmware target: the boot CPU's path from the bootstrap map to
//! the host's first instruction, and the warm path of CPUs the PSCI relay starts.
//!
//! The boot CPU's path is a sequence of named steps (`boot_primary`), each returning
//! `Result<_, BootError>`. Every error on the way is fatal and reported in one place
//! (`fatal`): one console line naming what is wrong and where, then PSCI SYSTEM_OFF
//! (never a hang, never a panic loop).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::fmt;
use core::ops::Range;

use buddy_system_allocator::LockedHeap;

use crate::firmware::console::{error, info, warning};

use crate::addr::PAGE;
use crate::budget::MAX_DTB;
use crate::dma::{DmaOptions, DmaPolicy};
use crate::dt::{self, SystemInfo};
use crate::el2config::SPSR_EL1H_MASKED;
use crate::ffa::{MemConfig, Proxy};
use crate::firmware::arch;
use crate::firmware::console;
use crate::firmware::el2_setup;
use crate::firmware::ffa_port::FfaPlatform;
use crate::firmware::hyp::{self, EntryCheck, Hyp};
use crate::firmware::power;
use crate::frame::HostFrame;
use crate::memmap::HostMap;
use crate::mm::MemProtect;
use crate::mm::stage2::{Geometry, HostStage2, LiveStage2, SharedWalker};
use crate::percpu::{self, ENTRY_FRAMES, MAX_CPUS};
use crate::psci::{PsciRelay, WakeReason};
use crate::stage1::{self, ImageLayout};

/// Product name on the console.
pub const NAME: &str = "ffa-hyp";
/// Version on the console.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

unsafe extern "C" {
    static __image_start: u8;
    static __image_end: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __heap_start: u8;
    static __carveout_end: u8;
    fn hyp_warm_entry();
    fn hyp_enter_host(frame: *const HostFrame, stack_top: u64) -> !;
}

fn symbol(s: &u8) -> u64 {
    s as *const u8 as u64
}

/// Why the boot CPU cannot boot the host: each is one console line, naming what is wrong
/// and where, before the system powers off.
#[derive(Debug)]
pub enum BootError {
    /// No candidate address held a usable device tree: the last candidate and its problem,
    /// or `None` if there was no address to try.
    NoDtb(Option<(u64, dt::DtError)>),
    /// The device tree at this address could not be read.
    BadDt(u64, dt::DtError),
    /// The device tree names no board this hypervisor knows: its root `compatible` strings
    /// and the UART `/chosen/stdout-path` names (the platform crate writes the message).
    UnknownBoard(Vec<String>, Option<u64>),
    /// The device tree is for another board than this image was built for.
    WrongBuild(platform::WrongBuild),
    /// The carve-out is not RAM the device tree declares.
    CarveoutNotRam(Range<u64>),
    /// The precise EL2 stage-1 map could not be built.
    El2Map(aarch64_paging::MapError),
    /// The host stage 2 could not be built.
    Stage2(crate::mm::stage2::BuildError),
    /// The boot CPU's MPIDR is not among the device tree's CPUs.
    BootCpuUnknown {
        /// MPIDR_EL1 of the boot CPU.
        mpidr: u64,
        /// The device tree's CPUs.
        cpus: Vec<u64>,
    },
    /// The host kernel could not be found, checked or placed, or its DTB written.
    LoadHost(crate::firmware::loader::HostLoadError),
    /// The SMMU at this address cannot isolate the host's DMA.
    Smmu(u64, crate::smmu::SmmuError),
    /// The boot CPU lacks a feature the hypervisor needs.
    Cpu(crate::el2config::MissingFeature),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDtb(last) => {
                f.write_str("no usable device tree: ")?;
                match last {
                    Some((at, e)) => write!(f, "device tree at {at:#x}: {e}"),
                    None => f.write_str("no DTB address to try"),
                }
            }
            Self::BadDt(at, e) => write!(f, "device tree at {at:#x}: {e}"),
            Self::UnknownBoard(compatible, uart) => {
                let compatible: Vec<&str> = compatible.iter().map(String::as_str).collect();
                platform::UnknownBoard {
                    compatible: &compatible,
                    stdout_path_uart: *uart,
                }
                .fmt(f)
            }
            Self::LoadHost(e) => e.fmt(f),
            Self::WrongBuild(e) => e.fmt(f),
            Self::CarveoutNotRam(c) => write!(
                f,
                "carve-out {:#x}-{:#x} is not inside the device tree's /memory",
                c.start, c.end
            ),
            Self::El2Map(e) => write!(
                f,
                "cannot build the EL2 stage-1 map: {}",
                stage1::map_error_text(e)
            ),
            Self::Stage2(e) => e.fmt(f),
            Self::Smmu(at, e) => write!(f, "SMMU at {at:#x}: {e}"),
            Self::Cpu(missing) => write!(f, "this CPU lacks {missing}"),
            Self::BootCpuUnknown { mpidr, cpus } => write!(
                f,
                "the boot CPU (MPIDR {mpidr:#x}) is not among the device tree's CPUs {}",
                HexList(cpus)
            ),
        }
    }
}

/// Reports a fatal boot error and powers the system off: the one place that does.
fn fatal(e: BootError) -> ! {
    error!("{e}");
    error!("cannot boot the host; powering off");
    console::flush();
    power::system_off()
}

/// The boot CPU, from `entry.S`, with the bootstrap identity map on.
pub fn primary_main(loader_regs: [u64; 4], carveout_base: u64) -> ! {
    match boot_primary(loader_regs, carveout_base) {
        Ok(never) => match never {},
        Err(e) => fatal(e),
    }
}

/// The boot CPU's path, step by step, to the host's first instruction (which does not
/// return) or to the first error.
fn boot_primary(loader_regs: [u64; 4], carveout_base: u64) -> Result<Infallible, BootError> {
    let board = platform::BOOT;
    let image = early_init(board, carveout_base);
    el2_setup::check_boot_cpu().map_err(BootError::Cpu)?;
    let (dtb_addr, dtb) = find_dtb(loader_regs[0], board)?;
    // Parsed once, for every reader below; the host's tree is then made from it.
    let tree =
        fdt_rw::Tree::parse(&dtb).map_err(|e| BootError::BadDt(dtb_addr, dt::DtError::Blob(e)))?;
    let info = read_system(&tree, dtb_addr, &image.carveout)?;
    let smmus = crate::smmu::node::find_all_in(&tree)
        .map_err(|e| BootError::BadDt(dtb_addr, dt::DtError::Blob(e)))?;
    let smmu_regs: Vec<Range<u64>> = smmus.iter().map(|n| n.regs.clone()).collect();
    let owned_iommus: Vec<&str> = smmus.iter().map(|n| n.path.as_str()).collect();
    let (dma, mut dma_mmio) = dma_policy(board, &tree, &owned_iommus);
    let its_nodes = crate::firmware::its::emulated(&dma);
    let mut el2_devices = smmu_regs.clone();
    el2_devices.extend(crate::firmware::its::frames(&its_nodes));
    let (ttbr0, hyp_ram) = switch_to_el2_map(board, &info, &image, &el2_devices)?;
    let gicr = crate::firmware::gic::start(&info);
    let (its, its_withheld) = crate::firmware::its::start(&its_nodes, gicr.as_ref());
    let mut trapped: Vec<Range<u64>> = gicr.iter().flat_map(|g| g.trapped_pages()).collect();
    trapped.extend(its.iter().map(|i| i.pages()));
    dma_mmio.extend(its_withheld.iter().map(|(_, r)| r.clone()));
    let (host_map, stage2, geometry) =
        build_host_stage2(&info, &image.carveout, &dma_mmio, &trapped)?;
    let vtcr = geometry.vtcr();
    let vttbr = stage2.root_address();
    let walker = crate::firmware::smmu::start(&smmus, &geometry, vttbr)
        .map_err(|(at, e)| BootError::Smmu(at, e))?;
    let firmware = probe_firmware();
    let (mm, ffa) = start_ffa(&host_map, &hyp_ram, stage2, walker, firmware.smccc);
    let contexts = publish_warm_contexts(&info, ttbr0);
    let cpu_count = contexts.len();
    let (psci, me) = start_psci_relay(&info, &host_map, contexts, firmware.extended_power_state)?;

    // The host: find, check and place it, patch its DT.
    let removed: Vec<String> = dma
        .withheld()
        .map(|d| d.path.clone())
        .chain(its_withheld.into_iter().map(|(path, _)| path))
        .collect();
    let entry =
        crate::firmware::loader::load_host(dtb_addr, tree, &host_map, &image.carveout, &removed)
            .map_err(BootError::LoadHost)?;
    crate::percpu::clear_ffa_counts();
    let hyp = hyp::set(Hyp {
        carveout: image.carveout,
        info,
        host_map,
        psci,
        ffa,
        mm,
        gicr,
        its,
        geometry,
        vtcr,
        vttbr,
    });
    el2_setup::configure_host_el2(hyp.vtcr, hyp.vttbr);
    info!(
        "entering host at EL1 pc={:#x} dtb={:#x} on CPU {me} ({} CPUs)",
        entry.pc, entry.dtb, cpu_count
    );
    console::flush();
    enter_host(
        me,
        HostFrame::el1_entry(entry.pc, entry.dtb, SPSR_EL1H_MASKED),
    )
}

/// Where the linker put the image, and the carve-out it runs in.
struct Image {
    carveout: Range<u64>,
    text_end: u64,
    rodata_end: u64,
}

/// The early console, this CPU's index, the heap, and the banner.
fn early_init(board: &platform::Board, carveout_base: u64) -> Image {
    // SAFETY: the early UART is in the bootstrap map's Device region, and the firmware
    // has configured it.
    unsafe { console::init(board.early_uart) };
    // SAFETY: TPIDR_EL2 is ours; the boot CPU is index 0 until the DT says otherwise.
    unsafe { arch::set_tpidr_el2(0) };

    // SAFETY: the linker script defines these symbols; only their addresses are used.
    let (image_end, text_end, rodata_end, heap_start, carveout_end) = unsafe {
        (
            symbol(&__image_end),
            symbol(&__text_end),
            symbol(&__rodata_end),
            symbol(&__heap_start),
            symbol(&__carveout_end),
        )
    };
    // SAFETY: [heap_start, carveout_end) is ours (inside the carve-out, after BSS), mapped
    // Normal by the bootstrap map, and nothing else uses it.
    unsafe {
        HEAP.lock()
            .init(heap_start as usize, (carveout_end - heap_start) as usize)
    };
    let carveout = carveout_base..carveout_end;
    info!(
        "{NAME} {VERSION} on {}: running at EL{}",
        board.name,
        (arch::current_el() >> 2) & 3
    );
    // SAFETY: as above, address only.
    let image_start = unsafe { symbol(&__image_start) };
    info!("image {} bytes", image_end - image_start);
    Image {
        carveout,
        text_end,
        rodata_end,
    }
}

/// The system the device tree describes, for the board this image was built for, with the
/// carve-out inside its RAM.
fn read_system(
    tree: &fdt_rw::Tree<'_>,
    dtb_addr: u64,
    carveout: &Range<u64>,
) -> Result<SystemInfo, BootError> {
    let info = SystemInfo::from_tree(tree).map_err(|e| BootError::BadDt(dtb_addr, e))?;
    let compatible: Vec<&str> = info.compatibles.iter().map(String::as_str).collect();
    let dt_board = platform::select(&compatible, info.uart.as_ref().map(|u| u.base))
        .map_err(|e| BootError::UnknownBoard(info.compatibles.clone(), e.stdout_path_uart))?;
    if let Err(e) = platform::check_build(dt_board) {
        // The early console is another board's: say it on the UART this board's DT names.
        if let Some(u) = info.uart.as_ref().filter(|u| is_pl011(&u.compatible)) {
            // SAFETY: the DT is for a known board, whose stdout-path UART is a configured
            // PL011; the bootstrap map maps it Device. No flush of the wrong early UART.
            unsafe { console::init(u.base) };
        }
        return Err(BootError::WrongBuild(e));
    }
    report_system(&info, dtb_addr);
    if !info.is_ram(carveout) {
        return Err(BootError::CarveoutNotRam(carveout.clone()));
    }
    Ok(info)
}

/// Replaces the bootstrap map by the precise EL2 stage 1 (carve-out by section, RAM, the
/// console(s), `devices` such as the SMMU's registers) and moves the console to the DT's UART. Returns TTBR0_EL2 and the RAM
/// outside the carve-out that the map covers.
fn switch_to_el2_map(
    board: &platform::Board,
    info: &SystemInfo,
    image: &Image,
    devices: &[Range<u64>],
) -> Result<(u64, Vec<Range<u64>>), BootError> {
    let carveout = &image.carveout;
    let mut uarts: Vec<Range<u64>> = alloc::vec![board.early_uart..board.early_uart + PAGE];
    if let Some(u) = &info.uart {
        uarts.push(u.base..u.base + PAGE);
    }
    uarts.extend_from_slice(devices);
    // The GIC frames whose registers the redistributor emulation reads and writes.
    uarts.extend(crate::firmware::gic::frames(info));
    let layout = ImageLayout {
        carveout: carveout.clone(),
        text_end: image.text_end,
        rodata_end: image.rodata_end,
    };
    let hyp_ram = crate::memmap::subtract(&info.memory, core::slice::from_ref(carveout));
    let hyp_ram: Vec<_> = hyp_ram.into_iter().filter(|r| r.end <= 1 << 39).collect();
    let mut el2_map = stage1::build(&layout, &hyp_ram, &uarts).map_err(BootError::El2Map)?;
    let ttbr0 = el2_map.root_address().0 as u64;
    // SAFETY: the new table maps the carve-out (code, data, stacks, heap) at the same
    // addresses with the same memory types as the bootstrap map, plus RAM and the UARTs.
    unsafe { arch::switch_el2_tables(ttbr0) };
    el2_map.mark_active();
    core::mem::forget(el2_map); // lives for ever; EL2 tables are never torn down
    if let Some(u) = &info.uart
        && is_pl011(&u.compatible)
        && u.base != board.early_uart
    {
        // SAFETY: the UART named by the DT is mapped Device just above.
        unsafe { console::switch(u.base) };
    }
    Ok((ttbr0, hyp_ram))
}

/// The DMA policy (`dma.rs`): one console line per node that can master memory, and the
/// MMIO to withhold from the host (the withheld nodes' and the board's undescribed masters').
/// No IOMMU is owned yet, so nothing is classified behind one.
fn dma_policy(
    board: &platform::Board,
    tree: &fdt_rw::Tree<'_>,
    owned_iommus: &[&str],
) -> (DmaPolicy, Vec<Range<u64>>) {
    let options = DmaOptions {
        owned_iommus,
        trusted: board.dma_trusted,
    };
    let dma = DmaPolicy::classify_tree(tree, &options);
    for d in &dma.decisions {
        if d.class == crate::dma::DmaClass::Trusted {
            warning!("{d}");
        } else {
            info!("{d}");
        }
    }
    let mut mmio = dma.withheld_mmio();
    for (name, range) in board.dma_undescribed {
        info!(
            "DMA: withheld {name} (board fact, not in the device tree): {:#x}-{:#x}",
            range.start, range.end
        );
        mmio.push(range.clone());
    }
    (dma, mmio)
}

/// The host's address map (withholding `devices` too) and its stage-2 tables, live for the
/// CPUs' walks.
fn build_host_stage2(
    info: &SystemInfo,
    carveout: &Range<u64>,
    devices: &[Range<u64>],
    trapped: &[Range<u64>],
) -> Result<(HostMap, HostStage2, Geometry), BootError> {
    let geometry = Geometry::for_system(arch::id_aa64mmfr0() & 0xf, info.mixed_cpus());
    let mut host_map = HostMap::with_withheld(info, carveout, geometry.ipa_bits, devices);
    host_map.trap_emulated(trapped);
    let stage2 = HostStage2::build(&host_map, geometry).map_err(BootError::Stage2)?;
    info!(
        "carve-out {:#x}-{:#x} ({} KiB)",
        carveout.start,
        carveout.end,
        (carveout.end - carveout.start) / 1024
    );
    for r in &host_map.withheld {
        info!("  withheld from the host: {:#x}-{:#x}", r.start, r.end);
    }
    info!(
        "stage-2 {} table pages, blocks {}, IPA {} bits, pool {} pages",
        stage2.table_pages(),
        stage2.boot_counts(),
        geometry.ipa_bits,
        stage2.pool_pages()
    );
    stage2.mark_active();
    Ok((host_map, stage2, geometry))
}

/// What the firmware below us reported.
struct Firmware {
    /// SMCCC_VERSION's answer (negative: not reported).
    smccc: i64,
    /// PSCI_FEATURES(CPU_SUSPEND) says power states use the extended format.
    extended_power_state: bool,
}

/// A PSCI or SMCCC version as the call returns it: `major.minor`, or `not reported` if
/// negative (an error code).
struct FirmwareVersion(i64);

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            return f.write_str("not reported");
        }
        // Printed as u64 (non-negative here): an `i64` would bring its own Display.
        let v = self.0 as u64;
        write!(f, "{}.{}", (v >> 16) & 0x7fff, v & 0xffff)
    }
}

/// PSCI and SMCCC versions, and which suspend format, so power-down states are recognised.
fn probe_firmware() -> Firmware {
    let psci_version = psci_call(crate::psci::fid::VERSION, 0);
    let ext_state = psci_call(
        crate::psci::fid::FEATURES,
        u64::from(crate::psci::fid::CPU_SUSPEND_64),
    );
    let smccc = psci_call(0x8000_0000, 0);
    info!(
        "firmware: PSCI {}, SMCCC {}",
        FirmwareVersion(psci_version),
        FirmwareVersion(smccc)
    );
    Firmware {
        smccc,
        extended_power_state: ext_state >= 0 && ext_state & 0b10 != 0,
    }
}

/// Memory protection over the host RAM the proxy may hand out (host RAM that the EL2 map
/// covers, so the proxy can copy to and from the host's mailbox), with the live stage 2
/// (and the SMMU that walks it, invalidated with the CPUs' TLBs);
/// and the FF-A proxy, on or off after probing the SPMC (SMCCC 1.2 needed), with its mailbox.
fn start_ffa(
    host_map: &HostMap,
    hyp_ram: &[Range<u64>],
    stage2: HostStage2,
    walker: Option<Box<dyn SharedWalker>>,
    smccc: i64,
) -> (MemProtect, Proxy) {
    let (hyp_tx, hyp_rx) = crate::firmware::ffa_port::mailbox_pages();
    let ffa_ram: Vec<Range<u64>> = host_map
        .ram
        .iter()
        .filter(|r| hyp_ram.iter().any(|h| h.start <= r.start && r.end <= h.end))
        .cloned()
        .collect();
    let mm = MemProtect::new(
        &ffa_ram,
        crate::budget::OWNERSHIP_RUNS,
        Box::new(match walker {
            Some(smmu) => LiveStage2::new(stage2, arch::flush_host_tlb).with_walker(smmu),
            None => LiveStage2::new(stage2, arch::flush_host_tlb),
        }),
    );
    let ffa =
        Proxy::probe(&mut FfaPlatform, smccc as u32).with_memory(MemConfig { hyp_tx, hyp_rx }, &mm);
    info!("{}", ffa.state());
    match ffa.mailbox() {
        Some((tx, rx)) if matches!(ffa.state(), crate::ffa::State::On { .. }) => info!(
            "FF-A: mailbox TX {tx:#x} RX {rx:#x}, registered at the host's first FFA_RXTX_MAP"
        ),
        Some(_) => {}
        None => warning!("FF-A: no mailbox: RX/TX, partition discovery and memory sharing are off"),
    }
    (mm, ffa)
}

/// Warm-boot contexts for every CPU the DT names and the build supports, read by CPUs with
/// their MMU off; returns their addresses.
fn publish_warm_contexts(info: &SystemInfo, ttbr0: u64) -> Vec<u64> {
    let cpu_count = info.cpus.len().min(MAX_CPUS);
    if info.cpus.len() > MAX_CPUS {
        warning!(
            "{} CPUs in the device tree, this build supports {MAX_CPUS}",
            info.cpus.len()
        );
    }
    let mut contexts = [percpu::WarmBootContext::default(); MAX_CPUS];
    for (i, ctx) in contexts.iter_mut().enumerate().take(cpu_count) {
        *ctx = percpu::WarmBootContext {
            mair: arch::mair_el2(),
            tcr: arch::tcr_el2(),
            ttbr0,
            sctlr: arch::sctlr_el2(),
            stack_top: percpu::stack_top(i),
            cpu_index: i as u64,
        };
    }
    let Some(contexts) = percpu::publish_warm_contexts(contexts) else {
        unreachable!("entry.S runs the boot path once")
    };
    arch::clean_dcache_range(
        contexts.as_ptr() as u64,
        core::mem::size_of_val(contexts) as u64,
    );
    contexts[..cpu_count]
        .iter()
        .map(|c| c as *const percpu::WarmBootContext as u64)
        .collect()
}

/// The PSCI relay over the DT's CPUs that have a warm-boot context, and the boot CPU's index
/// among them, which this CPU takes.
fn start_psci_relay(
    info: &SystemInfo,
    host_map: &HostMap,
    contexts: Vec<u64>,
    extended_power_state: bool,
) -> Result<(PsciRelay<EntryCheck>, usize), BootError> {
    let cpu_count = contexts.len();
    let host_ram = host_map.clone();
    let check: EntryCheck = Box::new(move |pc| host_ram.is_host_ram(pc, 4));
    let psci = PsciRelay::new(
        info.cpus[..cpu_count].to_vec(),
        contexts,
        hyp_warm_entry as *const () as u64,
        extended_power_state,
        check,
    );
    let Some(me) = psci.cpu_index(arch::mpidr_el1()) else {
        return Err(BootError::BootCpuUnknown {
            mpidr: arch::mpidr_el1(),
            cpus: info.cpus.clone(),
        });
    };
    // SAFETY: TPIDR_EL2 holds this CPU's index for the trap handlers.
    unsafe { arch::set_tpidr_el2(me as u64) };
    Ok((psci, me))
}

/// The first instruction of a CPU started (or resumed) through the PSCI relay, with the
/// final EL2 map on and its own stack.
pub fn warm_main(context: u64) -> ! {
    // SAFETY: `context` is the address of this CPU's WarmBootContext, which the boot CPU
    // filled in before any CPU_ON, and which is never written again.
    let index = unsafe { (*(context as *const percpu::WarmBootContext)).cpu_index } as usize;
    // SAFETY: TPIDR_EL2 holds this CPU's index for the trap handlers.
    unsafe { arch::set_tpidr_el2(index as u64) };
    let hyp = hyp::get();
    let Some(cpu) = hyp.psci.cpu(index) else {
        error!("warm boot with an unknown CPU index {index}");
        power::stop_this_cpu()
    };
    if hyp.psci.cpu_index(arch::mpidr_el1()) != Some(index) {
        // The firmware started a different CPU than the context (and stack) belongs to.
        error!(
            "warm boot of MPIDR {:#x} with CPU {index}'s context; stopping it",
            arch::mpidr_el1()
        );
        power::stop_this_cpu()
    }
    let geometry = hyp.geometry;
    if !geometry.valid_for(arch::id_aa64mmfr0() & 0xf) {
        error!(
            "CPU {index} (MPIDR {:#x}) cannot walk the host stage 2 (IPA {} bits); stopping it",
            arch::mpidr_el1(),
            geometry.ipa_bits
        );
        power::stop_this_cpu()
    }
    el2_setup::configure_host_el2(hyp.vtcr, hyp.vttbr);
    let (pc, x0) = match cpu.wake_reason() {
        WakeReason::CpuOn => cpu.on.take(),
        WakeReason::SuspendResume => cpu.resume.take(),
    };
    enter_host(index, HostFrame::el1_entry(pc, x0, SPSR_EL1H_MASKED))
}

/// A CPU the host turned off (CPU_OFF, held at EL2 by the PSCI relay): waits here until
/// the host's CPU_ON for it, then enters the host at that entry with the EL2 and EL1 state
/// of a warm boot, as a CPU the firmware had started would.
pub fn hold_off(index: usize) -> ! {
    let hyp = hyp::get();
    let Some(cpu) = hyp.psci.cpu(index) else {
        power::stop_this_cpu()
    };
    while cpu.held_off() {
        arch::wait_for_event();
    }
    el2_setup::configure_host_el2(hyp.vtcr, hyp.vttbr);
    let (pc, x0) = cpu.on.take();
    enter_host(index, HostFrame::el1_entry(pc, x0, SPSR_EL1H_MASKED))
}

fn enter_host(index: usize, frame: HostFrame) -> ! {
    // SAFETY: this is CPU `index`, and no reference to its entry frame outlives the
    // previous entry to the host.
    let slot = unsafe { ENTRY_FRAMES.slot_mut(index) };
    *slot = frame;
    // SAFETY: the frame is a valid EL1 entry state outside this CPU's stack, and the stack
    // top is this CPU's own, unused while the host runs.
    unsafe { hyp_enter_host(slot, percpu::stack_top(index)) }
}

fn psci_call(function: u32, arg: u64) -> i64 {
    let mut regs = [0u64; 18];
    regs[0] = u64::from(function);
    regs[1] = arg;
    arch::Smc.call(&regs)[0] as i64
}

/// Locates the DTB (loader's x0 first, then the board's default address) and copies its
/// used part into the heap, so the rest of boot never reads firmware memory again.
fn find_dtb(x0: u64, board: &platform::Board) -> Result<(u64, Vec<u8>), BootError> {
    let mut last_error = None;
    // The bootstrap map covers 2^39.
    for addr in board.dtb_candidates(x0).filter(|&a| a < 1 << 39) {
        match copy_dtb(addr) {
            Ok(blob) => return Ok((addr, blob)),
            Err(e) => last_error = Some((addr, e)),
        }
    }
    Err(BootError::NoDtb(last_error))
}

fn read_be32(addr: u64) -> u32 {
    // SAFETY: callers only pass 4-byte aligned addresses inside the bootstrap map (all of
    // the 39-bit space is mapped, Device or Normal); a missing device would fault, which
    // the EL2 vectors report.
    u32::from_be(unsafe { core::ptr::read_volatile(addr as *const u32) })
}

fn copy_dtb(addr: u64) -> Result<Vec<u8>, dt::DtError> {
    let mut header = [0u8; 40];
    for (i, chunk) in header.chunks_mut(4).enumerate() {
        chunk.copy_from_slice(&read_be32(addr + 4 * i as u64).to_be_bytes());
    }
    let total = dt::total_size(&header)?;
    let field =
        |i: usize| u32::from_be_bytes(header[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4]));
    // Used part: the end of the last block; QEMU's padding after it is not copied.
    let used = [
        field(2).saturating_add(field(9)),
        field(3).saturating_add(field(8)),
        field(4).saturating_add(16),
    ]
    .into_iter()
    .max()
    .unwrap_or(0) as usize;
    let used = used.min(total);
    if !(40..=MAX_DTB).contains(&used) {
        return Err(dt::DtError::Missing(
            "a totalsize between 40 bytes and 2 MiB",
        ));
    }
    // Word by word (the bootstrap map may have the blob in Device memory, where only
    // aligned accesses are safe), straight into the buffer: an `extend_from_slice` per
    // word cost a `memcpy` call per word.
    let mut blob = alloc::vec![0u8; used.div_ceil(4) * 4];
    for (i, word) in blob.chunks_exact_mut(4).enumerate() {
        word.copy_from_slice(&read_be32(addr + 4 * i as u64).to_be_bytes());
    }
    blob.truncate(used);
    blob[4..8].copy_from_slice(&(used as u32).to_be_bytes());
    Ok(blob)
}

/// Whether a UART's compatible names a PL011 (`"arm,pl011"`):
/// a byte search, because `str::contains` brings a substring searcher of about 2 KiB.
fn is_pl011(compatible: &str) -> bool {
    compatible.as_bytes().windows(5).any(|w| w == b"pl011")
}

/// `[0x0, 0x100]`: a list of numbers in hex, without `{:x?}` (whose Debug machinery would
/// cost the image more than this).
struct HexList<'a>(&'a [u64]);

impl fmt::Display for HexList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, v) in self.0.iter().enumerate() {
            write!(f, "{}{v:#x}", if i == 0 { "" } else { ", " })?;
        }
        f.write_str("]")
    }
}

fn report_system(info: &SystemInfo, dtb_addr: u64) {
    info!(
        "device tree at {dtb_addr:#x}: '{}', {} CPUs, PSCI {}, GIC {}",
        info.compatible,
        info.cpus.len(),
        match info.psci {
            Some(dt::PsciConduit::Smc) => "smc",
            Some(dt::PsciConduit::Hvc) => "hvc",
            None => "none",
        },
        match info.gic {
            Some(dt::Gic::V2 { .. }) => "v2",
            Some(dt::Gic::V3 { .. }) => "v3",
            None => "none",
        }
    );
    for m in &info.memory {
        info!(
            "  memory {:#x}-{:#x} ({} MiB)",
            m.start,
            m.end,
            (m.end - m.start) >> 20
        );
    }
    for r in &info.reserved {
        info!(
            "  reserved {:#x}-{:#x} {}{}",
            r.range.start,
            r.range.end,
            r.name,
            if r.no_map { " (no-map)" } else { "" }
        );
    }
}

/// The boot and trap paths never panic on purpose; if one does, say so and power off.
///
/// The release image names only the CPU: reading `info` at all keeps every panic site's
/// message and source location (their strings, `Location` records and the code that passes
/// them), about 9.5 KiB of an image that must stay under 128 KiB. A debug build prints the
/// message and location; the host unit tests and fuzzers, where panics are hunted, always
/// show them.
pub fn panic(info: &core::panic::PanicInfo) -> ! {
    #[cfg(debug_assertions)]
    error!("panic on CPU {}: {info}", arch::cpu_index());
    #[cfg(not(debug_assertions))]
    {
        let _ = info;
        error!("panic on CPU {}", arch::cpu_index());
    }
    console::flush();
    power::system_off()
}
