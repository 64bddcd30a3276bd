//! `el1-payload`: a bare-metal EL1 test payload that the hypervisor boots in place of Linux.
//!
//! It is an arm64 Image (booting.rst header, position-independent, relocates itself), so the
//! hypervisor's host loader treats it exactly like a kernel. Entered at EL1 with x0 = DTB
//! and the MMU off, it reads the DT the hypervisor patched (PSCI conduit, CPUs, RAM, the
//! `/reserved-memory/hypervisor@*` carve-out, the console from `/chosen/stdout-path`) and
//! runs the cases in [`cases`], printing one line per case:
//!
//! ```text
//! PAYLOAD: <case-name> PASS|FAIL|SKIP <details>
//! PAYLOAD-DONE pass=<n> fail=<m>
//! ```
//!
//! The last of them is the FF-A conformance matrix ([`ffa_cases`]): `PAYLOAD: ffa <name> ...`
//! lines, a per-ABI tally and `FFA-CONFORMANCE: <n> passed, <m> failed, <k> skipped`, all
//! before `PAYLOAD-DONE` (whose counts include the FF-A cases).
//!
//! The payload then powers the machine off with PSCI SYSTEM_OFF through the DT's conduit.
//! With `system-reset` in its bootargs it runs no cases: it calls PSCI SYSTEM_RESET instead
//! (the system test of the reset relay); `ffa-version=1.0` or `1.1` runs the FF-A calls of a
//! host at that version instead ([`ffa_cases::run_legacy`]); `bench` runs `make bench`'s
//! workload ([`bench`]); `dma-attack` programs QEMU's edu PCI device to DMA into the
//! payload's own pages, the carve-out and Secure memory ([`dma`]); `spmc=el3` judges the FF-A
//! matrix by what TF-A's EL3 SPMC with OP-TEE as its partition answers (`docs/spmc.md`).
//! Every wait is bounded by the generic timer, so a CPU that never comes online or a PSCI
//! call that never takes effect becomes a FAIL line.
//!
//! Without the hypervisor (plain `qemu-system-aarch64 -M virt -kernel`), QEMU's own PSCI
//! answers over HVC and there is no carve-out node: the carve-out cases, the entry-point
//! checks and the FF-A matrix SKIP, and the CPU_ON cases still run.
//!
//! Only the modules free of hardware access ([`dt`], [`esr`], [`psci`] constants,
//! [`report::Line`], the FF-A matrix's data in [`ffa_spec`]) build for the host, where their
//! unit tests run.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

// First, so that its `println!` is visible to the modules below.
#[cfg(target_os = "none")]
#[macro_use]
mod console;
#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod bench;
#[cfg(target_os = "none")]
mod cases;
#[cfg(target_os = "none")]
mod dma;
#[cfg(target_os = "none")]
mod dma_cases;
mod dt;
mod esr;
#[cfg(target_os = "none")]
mod exceptions;
#[cfg(target_os = "none")]
mod ffa_call;
#[cfg(target_os = "none")]
mod ffa_cases;
mod ffa_spec;
#[cfg(target_os = "none")]
mod gicr;
#[cfg(target_os = "none")]
mod its;
mod psci;
#[cfg(target_os = "none")]
mod race;
mod report;
#[cfg(target_os = "none")]
mod soak;
#[cfg(target_os = "none")]
mod time;

/// CPUs the payload can drive: the size of the per-CPU stack and report tables.
pub const MAX_CPUS: usize = 8;
/// Bytes of stack per CPU.
pub const STACK_SIZE: usize = 0x8000;
/// The affinity fields of MPIDR_EL1 (Aff3 in 39:32, Aff2..Aff0 in 23:0), the form the DT's
/// `/cpus/cpu@*/reg` uses.
pub const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;

#[cfg(target_os = "none")]
mod entry {
    //! The Rust side of the entry points: the primary's main, the secondaries' main and the
    //! panic handler.

    use core::cell::UnsafeCell;
    use core::panic::PanicInfo;
    use core::sync::atomic::{AtomicU64, Ordering};

    use crate::{MAX_CPUS, arch, cases, console, dt, psci, report};

    /// Value of an unused slot in [`PAYLOAD_CPU_MPIDRS`] (no MPIDR has bits 63:40 set).
    pub const NO_CPU: u64 = u64::MAX;

    /// MPIDR of the CPU that owns each per-CPU index (index 0 = the boot CPU). Written by
    /// the primary before CPU_ON; read by `secondary_entry` in `entry.S` to find its stack.
    #[unsafe(no_mangle)]
    pub static PAYLOAD_CPU_MPIDRS: [AtomicU64; MAX_CPUS] =
        [const { AtomicU64::new(NO_CPU) }; MAX_CPUS];

    /// Room for the NOP-free copy of the DT (QEMU virt's is about 40 KiB once packed).
    const DT_COPY_SIZE: usize = 256 * 1024;

    /// The NOP-free copy of the DT that the payload parses (see `dt::strip_nops`).
    struct DtCopy(UnsafeCell<[u8; DT_COPY_SIZE]>);

    // SAFETY: written once, by the boot CPU, before any other CPU is started; only read after.
    unsafe impl Sync for DtCopy {}

    static DT_COPY: DtCopy = DtCopy(UnsafeCell::new([0; DT_COPY_SIZE]));

    /// The DT at `dtb` as a byte slice of its header's `totalsize`, if the magic is there.
    fn dtb_bytes(dtb: u64) -> Option<&'static [u8]> {
        if dtb == 0 || !dtb.is_multiple_of(8) {
            return None;
        }
        // SAFETY: x0 of the boot protocol is the DTB's physical address (8-byte aligned,
        // checked above); with the MMU off every address is accessible, and the header's
        // first two words are read before anything else.
        let header = unsafe { core::slice::from_raw_parts(dtb as *const u8, 8) };
        if header[..4] != 0xd00d_feed_u32.to_be_bytes() {
            return None;
        }
        let total = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        // SAFETY: the blob spans `totalsize` bytes by definition; nothing writes it while the
        // payload runs.
        Some(unsafe { core::slice::from_raw_parts(dtb as *const u8, total) })
    }

    /// The boot CPU's Rust entry: relocated, BSS clear, stack and vectors set.
    #[unsafe(no_mangle)]
    extern "C" fn payload_primary_main(dtb: u64, load_address: u64) -> ! {
        PAYLOAD_CPU_MPIDRS[0].store(arch::mpidr(), Ordering::SeqCst);
        let Some(blob) = dtb_bytes(dtb) else {
            println!("PAYLOAD: device-tree FAIL no DTB (magic 0xd00dfeed) at x0={dtb:#x}");
            report::finish_without_psci()
        };
        // SAFETY: the boot CPU is the only CPU running, and this is the only reference to
        // the buffer ever made (see `DtCopy`).
        let copy = unsafe { &mut *DT_COPY.0.get() };
        let parsed = match dt::strip_nops(blob, copy) {
            Ok(len) => fdt::Fdt::new(&copy[..len]),
            Err(e) => {
                println!("PAYLOAD: warning DT not repacked ({e:?}): parsing it as it is");
                fdt::Fdt::new(blob)
            }
        };
        let fdt = match parsed {
            Ok(fdt) => fdt,
            Err(e) => {
                println!("PAYLOAD: device-tree FAIL bad DTB at x0={dtb:#x}: {e:?}");
                report::finish_without_psci()
            }
        };
        let platform = dt::Platform::parse(&fdt);
        if let Some(uart) = platform.uart {
            console::set_uart(uart);
        }
        if let Some(conduit) = platform.conduit {
            psci::set_conduit(conduit);
        }
        let (_, end) = arch::image_range();
        println!(
            "PAYLOAD: el1-payload at EL{} load={load_address:#x}..{end:#x} dtb={dtb:#x} \
             boot-cpu={:#x} cpus={} conduit={} console={:#x}",
            arch::current_el(),
            arch::mpidr(),
            platform.cpu_count,
            platform.conduit.map_or("none", psci::Conduit::name),
            console::uart(),
        );
        if platform.cpus_in_dt > platform.cpu_count {
            println!(
                "PAYLOAD: warning {} CPUs in the DT, only the first {} are used",
                platform.cpus_in_dt, platform.cpu_count
            );
        }
        // `bench` in bootargs: `make bench`'s workload instead of the cases (bench.rs).
        if crate::bench::requested(&fdt) {
            crate::bench::run()
        }
        // `dma-attack` in bootargs: a DMA master the payload programs, behind the SMMU
        // (dma.rs), instead of the cases.
        if has_bootarg(&fdt, "dma-attack") {
            crate::dma::run(&fdt, &platform)
        }
        // `system-reset` in bootargs: PSCI SYSTEM_RESET through the hypervisor instead of
        // the cases; the machine resets (QEMU's -no-reboot then exits), so nothing follows.
        if has_bootarg(&fdt, "system-reset") {
            println!("PAYLOAD: system-reset: calling PSCI SYSTEM_RESET");
            let ret = psci::system_reset();
            println!("PAYLOAD: system-reset FAIL SYSTEM_RESET returned {ret}");
            report::finish_fatal()
        }
        // `ffa-version=1.0|1.1`: the FF-A calls of a host that negotiates that version
        // (its descriptor layouts) instead of the cases and the v1.2 matrix.
        if let Some(version) = bootarg_value(&fdt, "ffa-version=") {
            match version {
                "1.0" => crate::ffa_cases::run_legacy(&platform, crate::ffa_spec::VERSION_1_0),
                "1.1" => crate::ffa_cases::run_legacy(&platform, crate::ffa_spec::VERSION_1_1),
                other => report::record(
                    "ffa-version",
                    &report::Outcome::Fail(report::text(format_args!(
                        "ffa-version={other}: 1.0 or 1.1"
                    ))),
                ),
            }
            report::finish()
        }
        // `spmc=el3`: the Secure world is TF-A's EL3 SPMC (docs/spmc.md), whose answers
        // differ from OP-TEE's as SPMC in the cases `ffa_cases::SPMC_EL3` names.
        match bootarg_value(&fdt, "spmc=") {
            Some("el3") => crate::ffa_cases::SPMC_EL3.store(true, Ordering::Relaxed),
            Some("el1") | None => {}
            Some(other) => println!("PAYLOAD: warning spmc={other}: el1 or el3, ignored"),
        }
        if let Some(n) = bootarg_value(&fdt, "race-batches=") {
            match n.parse::<u32>() {
                Ok(n @ 1..=256) => crate::ffa_cases::RACE_BATCHES.store(n, Ordering::Relaxed),
                _ => println!("PAYLOAD: warning race-batches={n}: not 1..=256, ignored"),
            }
        }
        // `soak[=<rounds>]`: `make soak`'s workload on every CPU instead of the cases (soak.rs).
        if let Some(options) = crate::soak::requested(&fdt) {
            crate::soak::run(&platform, &fdt, options)
        }
        // The first redistributor (RD_base: the start of the first GICR region).
        let rd = fdt
            .find_compatible(&["arm,gic-v3"])
            .and_then(|gic| gic.reg()?.nth(1))
            .map(|r| r.starting_address as u64);
        cases::run_all(&platform, dtb, blob.len() as u64, rd);
        report::finish()
    }

    /// Whether `word` is one of the words of `/chosen/bootargs`.
    fn has_bootarg(fdt: &fdt::Fdt<'_>, word: &str) -> bool {
        fdt.chosen()
            .bootargs()
            .is_some_and(|args| args.split_ascii_whitespace().any(|w| w == word))
    }

    /// The rest of the first word of `/chosen/bootargs` that starts with `prefix`.
    fn bootarg_value<'a>(fdt: &fdt::Fdt<'a>, prefix: &str) -> Option<&'a str> {
        fdt.chosen()
            .bootargs()?
            .split_ascii_whitespace()
            .find_map(|w| w.strip_prefix(prefix))
    }

    /// Rust entry of a CPU started by CPU_ON, on its own stack.
    #[unsafe(no_mangle)]
    extern "C" fn payload_secondary_main(context_id: u64, index: u64) -> ! {
        if crate::soak::is_soak_context(context_id) {
            crate::soak::secondary(index as usize)
        }
        cases::secondary_report(context_id, index as usize)
    }

    #[panic_handler]
    fn panic(info: &PanicInfo) -> ! {
        println!(
            "PAYLOAD: panic FAIL on cpu {:#x}: {}",
            arch::mpidr(),
            info.message()
        );
        if let Some(location) = info.location() {
            println!("PAYLOAD: panic at {}:{}", location.file(), location.line());
        }
        report::finish_fatal()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("el1-payload is a bare-metal image: build it with --target aarch64-unknown-none");
    std::process::exit(1);
}
