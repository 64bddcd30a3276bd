//! The boot chain's "bad input" rule, end to end on the real stack (TF-A, OP-TEE, the
//! hypervisor as BL33, same flash as the other tests): a missing or malformed DTB, no kernel
//! module node, a bad Image magic or an image that does not fit give one clear console line
//! naming what is wrong and where, then PSCI SYSTEM_OFF. The missing and the corrupt DTB
//! boot a flash whose BL33 is a shim (`ci/bad-dtb-bl33.S`) that damages the DTB in memory
//! after the firmware is done with it, then enters the hypervisor (a damaged `-dtb` file never
//! reaches the hypervisor: QEMU refuses it, TF-A and OP-TEE rewrite the tree). Never a hang, a panic loop or
//! silence. (host-loader and `hypervisor/src/dt.rs` unit-test the same errors; this proves
//! the line reaches the console and the machine really powers off.)
//!
//! Each case boots one crafted input from `ci/mkbadinputs.sh` (the manifest's `bad_*` keys,
//! written by `make test`) and checks:
//! - the hypervisor's banner;
//! - exactly two `hyp: ERROR:` lines: the problem (asserted word for word on what and where),
//!   then `hyp: ERROR: cannot boot the host; powering off`, the hypervisor's last line;
//! - the host is never entered, and no `panic` anywhere on the console;
//! - QEMU exits with status 0 (TF-A's SYSTEM_OFF: "QEMU System Power off: with GPIO"), all
//!   within bounded timeouts (QEMU is killed by PID on any timeout).
//!
//! QEMU always loads the 4 KiB stub Image at `KERNEL_ADDR` (a valid header whose code is
//! `b .`): a wrongly accepted input spins there and the test times out instead of passing.
//!
//! Console: `build/logs/bad_input_<case>.log`.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use regex::Regex;
use system_tests::artifacts::BadInputs;
use system_tests::host_check::hex;
use system_tests::{Boot, QemuArgs};

/// TF-A + OP-TEE to the hypervisor's banner (about a second here; CI machines are slower).
const BANNER_TIMEOUT: Duration = Duration::from_secs(60);
/// From the banner to the power-off line: the hypervisor refuses before it enters anything.
const ERROR_TIMEOUT: Duration = Duration::from_secs(60);
/// From the power-off line to QEMU's exit (PSCI SYSTEM_OFF through TF-A's GPIO power-off).
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The hypervisor's last words on every fatal boot error (`hypervisor/src/firmware/boot.rs`, `fatal`).
const POWER_OFF_LINE: &str = "hyp: ERROR: cannot boot the host; powering off";
/// Where QEMU virt puts the DTB when firmware boots (the base of RAM), and so where the
/// hypervisor reads it (TF-A enters BL33 with x0 = 0: the board default).
const DTB_ADDR: u64 = 0x4000_0000;
/// The arm64 Image magic, "ARM\x64" little-endian at offset 0x38.
const IMAGE_MAGIC: u32 = 0x644d_5241;

/// A load address from `ci/config.sh` (`NAME=0x...`), so the test follows the stack's layout.
fn config_addr(name: &str) -> u64 {
    let path = system_tests::repo_root().join("ci/config.sh");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let prefix = format!("{name}=");
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{} has no {name}=", path.display()));
    let value = value.split_whitespace().next().unwrap_or_default();
    u64::from_str_radix(value.trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("{name}={value} in {}: {e}", path.display()))
}

/// `len` little-endian bytes at `offset` of `file`.
fn le_at(file: &Path, offset: usize, len: usize) -> u64 {
    let bytes = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let field = bytes
        .get(offset..offset + len)
        .unwrap_or_else(|| panic!("{} is shorter than {:#x}", file.display(), offset + len));
    field
        .iter()
        .rev()
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

/// Boots `dtb` (with `at_initrd` loaded at `INITRD_ADDR`), checks that the hypervisor refuses
/// it by the rule, and returns its one problem line.
fn refused(test_name: &str, images: &BadInputs, dtb: &Path, at_initrd: Option<&Path>) -> String {
    refused_on(test_name, &images.flash, images, dtb, at_initrd)
}

/// [`refused`] with another flash (a BL33 shim before the hypervisor).
fn refused_on(
    test_name: &str,
    flash: &Path,
    images: &BadInputs,
    dtb: &Path,
    at_initrd: Option<&Path>,
) -> String {
    let mut args = QemuArgs::new(flash, dtb, &images.stub_image);
    args.initrd = at_initrd.map(Path::to_path_buf);
    let started = Instant::now();
    let mut boot = Boot::start(test_name, &args);

    boot.banner(BANNER_TIMEOUT);
    // Either way it ends quickly: a wrongly accepted input fails here, not after a timeout.
    let verdict = boot.expect(
        &format!("{}|hyp: entering host", regex::escape(POWER_OFF_LINE)),
        ERROR_TIMEOUT,
        "the hypervisor did not refuse the input",
    );
    assert_eq!(
        verdict.line,
        POWER_OFF_LINE,
        "the hypervisor accepted the input; log: {}",
        boot.log()
    );
    let status = boot.exit(EXIT_TIMEOUT, "no power-off after the error");
    let log = boot.log();
    assert!(
        status.success(),
        "QEMU exited with {status} after the hypervisor's SYSTEM_OFF, want 0; log: {log}"
    );
    eprintln!(
        "{test_name}: refused and powered off in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let output = boot.output();
    let lines: Vec<&str> = output.lines().map(|l| l.trim_end_matches('\r')).collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("hyp: ERROR:"))
        .collect();
    assert_eq!(
        errors.len(),
        2,
        "want exactly one problem line, then {POWER_OFF_LINE:?}; got {errors:#?}; log: {log}"
    );
    assert_eq!(errors[1], POWER_OFF_LINE, "log: {log}");
    // The problem line, the power-off line, and nothing more from the hypervisor.
    let hyp: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("hyp: "))
        .collect();
    assert_eq!(
        hyp[hyp.len().saturating_sub(2)..],
        [errors[0], POWER_OFF_LINE],
        "the problem line must come right before the power-off line, and be the \
         hypervisor's last words; log: {log}"
    );
    assert!(
        !output.contains("hyp: entering host"),
        "the hypervisor entered the host anyway; log: {log}"
    );
    assert!(
        !output.to_lowercase().contains("panic"),
        "console mentions a panic; log: {log}"
    );
    errors[0].to_string()
}

/// `line` matches `pattern`; returns the capture groups 1...
fn assert_names(line: &str, pattern: &str, what: &str) -> Vec<String> {
    let re = Regex::new(pattern).unwrap_or_else(|e| panic!("bad pattern {pattern:?}: {e}"));
    let caps = re.captures(line).unwrap_or_else(|| {
        panic!("the error line does not name {what}:\n  {line}\nwant /{pattern}/")
    });
    caps.iter()
        .skip(1)
        .map(|g| g.map_or_else(String::new, |g| g.as_str().to_string()))
        .collect()
}

/// (1) `/chosen` without any module node: the error names `/chosen` and what it lacks.
#[test]
fn no_kernel_module_node() {
    let images = BadInputs::load();
    let line = refused(
        "bad_input_no_kernel_module",
        &images,
        &images.no_module_dtb,
        None,
    );
    assert_names(
        &line,
        &format!(
            r#"^hyp: ERROR: device tree at {DTB_ADDR:#x}: /chosen: no kernel module \(a child with compatible "multiboot,kernel", or a plain "multiboot,module"\)$"#
        ),
        "/chosen and the missing kernel module",
    );
}

/// (2) The kernel module is the initramfs (gzip): the error names the module's address and
/// the word actually found at offset 0x38, which must be the file's.
#[test]
fn kernel_module_is_not_an_image() {
    let images = BadInputs::load();
    let line = refused(
        "bad_input_bad_magic",
        &images,
        &images.bad_magic_dtb,
        Some(&images.bad_magic_module),
    );
    let at = config_addr("INITRD_ADDR");
    let groups = assert_names(
        &line,
        &format!(
            r"^hyp: ERROR: kernel Image at {at:#x}: bad magic (0x[0-9a-f]{{8}}) \(expected {IMAGE_MAGIC:#010x}\)$"
        ),
        "the module address and the bad magic",
    );
    let in_file = le_at(&images.bad_magic_module, 0x38, 4);
    assert_eq!(
        hex(&groups[0]),
        in_file,
        "the magic reported is not the word at offset 0x38 of {}",
        images.bad_magic_module.display()
    );
}

/// (3) A valid header whose image_size (2 GiB) exceeds any free RAM (1 GiB of RAM): the error
/// says it does not fit, with the image_size from the header and the largest free range.
///
/// Not asserted, because the hypervisor does not print it: *which* module does not fit (its
/// address, `INITRD_ADDR` here, or its node `/chosen/module@58000000`).
#[test]
fn kernel_image_does_not_fit() {
    let images = BadInputs::load();
    let line = refused(
        "bad_input_does_not_fit",
        &images,
        &images.too_large_dtb,
        Some(&images.too_large_image),
    );
    let groups = assert_names(
        &line,
        r"^hyp: ERROR: kernel Image at 0x58000000 does not fit: .*with (0x[0-9a-f]+) bytes of free RAM.*\(largest free range (0x[0-9a-f]+) bytes\)",
        "that the kernel Image does not fit, its image_size and the largest free range",
    );
    let image_size = le_at(&images.too_large_image, 0x10, 8);
    assert_eq!(
        image_size, 0x8000_0000,
        "ci/mkbadinputs.sh's too-large.Image"
    );
    assert_eq!(hex(&groups[0]), image_size, "image_size in the error line");
    let largest = hex(&groups[1]);
    assert!(
        largest > 0 && largest < image_size,
        "largest free range {largest:#x} vs image_size {image_size:#x}"
    );
}

/// (4a) A device tree whose /cpus has no cpu nodes (QEMU, TF-A and OP-TEE all pass it on):
/// the error names the device tree's address and what is missing.
#[test]
fn device_tree_without_cpus() {
    let images = BadInputs::load();
    let line = refused("bad_input_no_cpus", &images, &images.no_cpus_dtb, None);
    assert_names(
        &line,
        &format!(
            r"^hyp: ERROR: device tree at {DTB_ADDR:#x}: missing or malformed /cpus/cpu nodes$"
        ),
        "the device tree's address and the missing /cpus/cpu nodes",
    );
}

/// (4b) A device tree whose /cpus/cpu@1 reg is three cells (#address-cells is 1): malformed,
/// not missing. The error names the device tree's address and the bad property.
///
/// Not asserted, because the hypervisor does not print it: *which* cpu node (`/cpus/cpu@1`).
#[test]
fn device_tree_with_malformed_cpu_reg() {
    let images = BadInputs::load();
    let line = refused("bad_input_cpu_reg", &images, &images.cpu_reg_dtb, None);
    assert_names(
        &line,
        &format!(
            r"^hyp: ERROR: device tree at {DTB_ADDR:#x}: /cpus/cpu@[0-9a-f]+: malformed cpu reg\b"
        ),
        "the device tree's address and the malformed cpu reg",
    );
}

/// (5a) No device tree where the hypervisor looks (TF-A enters BL33 with x0 = 0, so the
/// board's address; the shim zeroed the magic there): the error names the address and the
/// magic found.
#[test]
fn device_tree_missing() {
    let images = BadInputs::load();
    let line = refused_on(
        "bad_input_missing_dtb",
        &images.missing_dtb_flash,
        &images,
        &images.bootable_dtb,
        None,
    );
    assert_names(
        &line,
        &format!(
            r"^hyp: ERROR: no usable device tree: device tree at {DTB_ADDR:#x}: bad magic 0x00000000 \(expected 0xd00dfeed\)$"
        ),
        "that there is no device tree, where it looked and what it found",
    );
}

/// (5b) A device tree whose header is intact but whose structure block starts with an
/// invalid token: the error names the device tree's address and what is broken.
#[test]
fn device_tree_corrupt() {
    let images = BadInputs::load();
    let line = refused_on(
        "bad_input_corrupt_dtb",
        &images.corrupt_dtb_flash,
        &images,
        &images.bootable_dtb,
        None,
    );
    assert_names(
        &line,
        &format!(r"^hyp: ERROR: device tree at {DTB_ADDR:#x}: structure block offset 0x0: .+$"),
        "the device tree's address and the broken structure block",
    );
}
