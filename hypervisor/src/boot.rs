//! Boot orchestration on the firmware target: the boot CPU's path from the bootstrap map to
//! the host's first instruction, and the warm path of CPUs the PSCI relay starts.
//!
//! Every error on the way is fatal and reported the same way: one console line naming what
//! is wrong and where, then PSCI SYSTEM_OFF (never a hang, never a panic loop).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use buddy_system_allocator::LockedHeap;
use log::{LevelFilter, error, info, warn};

use crate::arch;
use crate::console;
use crate::dt::{self, SystemInfo};
use crate::ffa::{MemConfig, Proxy};
use crate::ffa_platform::FfaPlatform;
use crate::hyp::{self, Hyp};
use crate::memmap::HostMap;
use crate::mm::MemProtect;
use crate::mm::stage2::{Geometry, HostStage2, LiveStage2};
use crate::percpu::{self, ENTRY_FRAMES, MAX_CPUS, WARM_CONTEXTS};
use crate::psci::{PsciRelay, WakeReason};
use crate::stage1::{self, ImageLayout};
use crate::trap::HostFrame;

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

/// Reports a fatal boot error and powers the system off.
fn fatal(what: fmt::Arguments<'_>) -> ! {
    error!("{what}");
    error!("cannot boot the host; powering off");
    console::flush();
    arch::system_off()
}

/// The boot CPU, from `entry.S`, with the bootstrap identity map on.
pub fn primary_main(loader_regs: [u64; 4], carveout_base: u64) -> ! {
    let board = platform::BOOT;
    // SAFETY: the early UART is in the bootstrap map's Device region, and the firmware
    // has configured it.
    unsafe { console::init(board.early_uart, LevelFilter::Info) };
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

    let (dtb_addr, dtb) = find_dtb(loader_regs[0], board);
    let info = match SystemInfo::parse(&dtb) {
        Ok(i) => i,
        Err(e) => fatal(format_args!("device tree at {dtb_addr:#x}: {e}")),
    };
    let compatible: Vec<&str> = info.compatibles.iter().map(String::as_str).collect();
    let dt_board = match platform::select(&compatible, info.uart.as_ref().map(|u| u.base)) {
        Ok(b) => b,
        Err(e) => fatal(format_args!("{e}")),
    };
    if let Err(e) = platform::check_build(dt_board) {
        // The early console is another board's: say it on the UART this board's DT names.
        if let Some(u) = info.uart.as_ref().filter(|u| is_pl011(&u.compatible)) {
            // SAFETY: the DT is for a known board, whose stdout-path UART is a configured
            // PL011; the bootstrap map maps it Device. No flush of the wrong early UART.
            unsafe { console::init(u.base, LevelFilter::Info) };
        }
        fatal(format_args!("{e}"));
    }
    report_system(&info, dtb_addr);
    if !info.is_ram(&carveout) {
        fatal(format_args!(
            "carve-out {:#x}-{:#x} is not inside the device tree's /memory",
            carveout.start, carveout.end
        ));
    }

    // Precise EL2 stage 1: carve-out by section, RAM, the console(s).
    let mut uarts: Vec<Range<u64>> = alloc::vec![board.early_uart..board.early_uart + 0x1000];
    if let Some(u) = &info.uart {
        uarts.push(u.base..u.base + 0x1000);
    }
    let layout = ImageLayout {
        carveout: carveout.clone(),
        text_end,
        rodata_end,
    };
    let hyp_ram = crate::memmap::subtract(&info.memory, core::slice::from_ref(&carveout));
    let hyp_ram: Vec<_> = hyp_ram.into_iter().filter(|r| r.end <= 1 << 39).collect();
    let mut el2_map = match stage1::build(&layout, &hyp_ram, &uarts) {
        Ok(m) => m,
        Err(e) => fatal(format_args!(
            "cannot build the EL2 stage-1 map: {}",
            stage1::map_error_text(&e)
        )),
    };
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

    // Host stage 2.
    let geometry = Geometry::for_system(arch::id_aa64mmfr0() & 0xf, info.mixed_cpus());
    let host_map = HostMap::new(&info, &carveout, geometry.ipa_bits);
    let stage2 = match HostStage2::build(&host_map, geometry) {
        Ok(s) => s,
        Err(e) => fatal(format_args!("{e}")),
    };
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
        "stage-2 {} table pages, blocks {}, IPA {} bits",
        stage2.table_pages(),
        stage2.block_counts(),
        geometry.ipa_bits
    );
    stage2.mark_active();
    let vtcr = geometry.vtcr();
    let vttbr = stage2.root_address();

    // PSCI: which suspend format, so power-down states are recognised.
    let psci_version = psci_call(crate::psci::fid::VERSION, 0);
    let ext_state = psci_call(
        crate::psci::fid::FEATURES,
        u64::from(crate::psci::fid::CPU_SUSPEND_64),
    );
    let smccc = psci_call(0x8000_0000, 0);
    let version = |v: i64| {
        if v < 0 {
            String::from("not reported")
        } else {
            format!("{}.{}", (v >> 16) & 0x7fff, v & 0xffff)
        }
    };
    info!(
        "firmware: PSCI {}, SMCCC {}",
        version(psci_version),
        version(smccc)
    );
    let extended_power_state = ext_state >= 0 && ext_state & 0b10 != 0;

    // Memory protection over the host RAM the proxy may hand out (host RAM that the EL2 map
    // covers, so the proxy can copy to and from the host's mailbox), with the live stage 2.
    // FF-A: probe the SPMC (SMCCC 1.2 needed), give the proxy its mailbox.
    let (hyp_tx, hyp_rx) = crate::ffa_platform::mailbox_pages();
    let ffa_ram: Vec<Range<u64>> = host_map
        .ram
        .iter()
        .filter(|r| hyp_ram.iter().any(|h| h.start <= r.start && r.end <= h.end))
        .cloned()
        .collect();
    let mm = MemProtect::new(
        &ffa_ram,
        crate::budget::OWNERSHIP_RUNS,
        Box::new(LiveStage2::new(stage2, arch::flush_host_tlb)),
    );
    let ffa =
        Proxy::probe(&mut FfaPlatform, smccc as u32).with_memory(MemConfig { hyp_tx, hyp_rx }, &mm);
    info!("{}", ffa.state());
    match ffa.mailbox() {
        Some((tx, rx)) if matches!(ffa.state(), crate::ffa::State::On { .. }) => info!(
            "FF-A: mailbox TX {tx:#x} RX {rx:#x}, registered at the host's first FFA_RXTX_MAP"
        ),
        Some(_) => {}
        None => warn!("FF-A: no mailbox: RX/TX, partition discovery and memory sharing are off"),
    }

    // Warm-boot contexts for every CPU, read by CPUs with their MMU off.
    let cpu_count = info.cpus.len().min(MAX_CPUS);
    if info.cpus.len() > MAX_CPUS {
        warn!(
            "{} CPUs in the device tree, this build supports {MAX_CPUS}",
            info.cpus.len()
        );
    }
    for i in 0..cpu_count {
        let ctx = percpu::WarmBootContext {
            mair: arch::mair_el2(),
            tcr: arch::tcr_el2(),
            ttbr0,
            sctlr: arch::sctlr_el2(),
            stack_top: percpu::stack_top(i),
            cpu_index: i as u64,
        };
        // SAFETY: no other CPU runs yet; slot i is written once here.
        unsafe { (*WARM_CONTEXTS.get())[i] = ctx };
    }
    arch::clean_dcache_range(
        WARM_CONTEXTS.get() as u64,
        core::mem::size_of_val(&WARM_CONTEXTS) as u64,
    );

    let host_ram = host_map.clone();
    let check: crate::hyp::EntryCheck = Box::new(move |pc| host_ram.is_host_ram(pc, 4));
    let psci = PsciRelay::new(
        info.cpus[..cpu_count].to_vec(),
        (0..cpu_count).map(percpu::warm_context).collect(),
        hyp_warm_entry as *const () as u64,
        extended_power_state,
        check,
    );
    let Some(me) = psci.cpu_index(arch::mpidr_el1()) else {
        fatal(format_args!(
            "the boot CPU (MPIDR {:#x}) is not among the device tree's CPUs {}",
            arch::mpidr_el1(),
            HexList(&info.cpus)
        ))
    };
    // SAFETY: TPIDR_EL2 holds this CPU's index for the trap handlers.
    unsafe { arch::set_tpidr_el2(me as u64) };

    // The host: find, check and place it, patch its DT.
    let entry = match crate::loader::load_host(dtb_addr, &dtb, &host_map, &carveout) {
        Ok(e) => e,
        Err(e) => fatal(format_args!("{e}")),
    };
    let hyp = hyp::set(Hyp {
        carveout,
        info,
        host_map,
        psci,
        ffa,
        mm,
        geometry,
        vtcr,
        vttbr,
    });
    arch::configure_host_el2(hyp.vtcr, hyp.vttbr);
    info!(
        "entering host at EL1 pc={:#x} dtb={:#x} on CPU {me} ({} CPUs)",
        entry.pc, entry.dtb, cpu_count
    );
    console::flush();
    enter_host(me, HostFrame::el1_entry(entry.pc, entry.dtb))
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
        arch::stop_this_cpu()
    };
    if hyp.psci.cpu_index(arch::mpidr_el1()) != Some(index) {
        // The firmware started a different CPU than the context (and stack) belongs to.
        error!(
            "warm boot of MPIDR {:#x} with CPU {index}'s context; stopping it",
            arch::mpidr_el1()
        );
        arch::stop_this_cpu()
    }
    let geometry = hyp.geometry;
    if !geometry.valid_for(arch::id_aa64mmfr0() & 0xf) {
        error!(
            "CPU {index} (MPIDR {:#x}) cannot walk the host stage 2 (IPA {} bits); stopping it",
            arch::mpidr_el1(),
            geometry.ipa_bits
        );
        arch::stop_this_cpu()
    }
    arch::configure_host_el2(hyp.vtcr, hyp.vttbr);
    let (pc, x0) = match cpu.wake_reason() {
        WakeReason::CpuOn => cpu.on.take(),
        WakeReason::SuspendResume => cpu.resume.take(),
    };
    enter_host(index, HostFrame::el1_entry(pc, x0))
}

fn enter_host(index: usize, frame: HostFrame) -> ! {
    // SAFETY: slot `index` of ENTRY_FRAMES belongs to this CPU alone.
    let slot = unsafe { &mut (*ENTRY_FRAMES.get())[index] };
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

use crate::budget::MAX_DTB;

/// Locates the DTB (loader's x0 first, then the board's default address) and copies its
/// used part into the heap, so the rest of boot never reads firmware memory again.
fn find_dtb(x0: u64, board: &platform::Board) -> (u64, Vec<u8>) {
    // The bootstrap map covers 2^39.
    let candidates: Vec<u64> = board.dtb_candidates(x0).filter(|&a| a < 1 << 39).collect();
    let mut last_error = String::from("no DTB address to try");
    for addr in candidates {
        match copy_dtb(addr) {
            Ok(blob) => return (addr, blob),
            Err(e) => last_error = format!("device tree at {addr:#x}: {e}"),
        }
    }
    fatal(format_args!("no usable device tree: {last_error}"))
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
    let words = used.div_ceil(4);
    let mut blob = Vec::with_capacity(words * 4);
    for i in 0..words {
        blob.extend_from_slice(&read_be32(addr + 4 * i as u64).to_be_bytes());
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

/// The boot and trap paths never panic on purpose; if one does, say where and power off.
pub fn panic(info: &core::panic::PanicInfo) -> ! {
    error!("panic on CPU {}: {info}", arch::cpu_index());
    console::flush();
    arch::system_off()
}
