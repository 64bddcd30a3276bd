//! What the system tests booted and passed: the source of the table of tested configurations.
//!
//! [`crate::Qemu::spawn`] notes, for the test that calls it, the configuration it starts. The
//! configuration is derived from the [`QemuArgs`] that go to `ci/qemu.sh` and from the
//! artifacts manifest (which flash, which kernel), never stated by the test, so a test cannot
//! claim a configuration it did not boot. libtest runs every test on a thread of its own, named
//! after the test; when that thread ends without having panicked (the test passed), its notes
//! are appended to `build/tested-configurations.txt` ([`records_path`]), one line per boot:
//!
//! ```text
//! spmc=el1 cpu=max chain=tf-a gic=3 smmu=on host=linux suite=chains test=uboot_chain_boots_linux_as_host
//! ```
//!
//! | field | values |
//! |---|---|
//! | `spmc` | `el1` (OP-TEE at S-EL1 under TF-A's SPMD), `el3` (TF-A's EL3 SPMC, OP-TEE its S-EL1 partition), `none` (no firmware) |
//! | `cpu` | the QEMU CPU model (`ci/qemu.sh --cpu`, default `max`) |
//! | `chain` | `tf-a` (the hypervisor is TF-A's BL33), `u-boot` (U-Boot is BL33 and `booti`s it), `none` (QEMU's `-kernel`) |
//! | `gic` | `ci/qemu.sh --gic` (default 3) |
//! | `smmu` | `on` (QEMU's SMMUv3 in front of the PCIe root complex, the default) or `off` (`--iommu none`) |
//! | `host` | what the hypervisor hands EL1: `linux`, `payload` (the EL1 test program), `stub` (the bad-input runs' 4 KiB Image) |
//! | `suite` | the test file (`tests/system/tests/<suite>.rs`) |
//! | `test` | the test's name |
//!
//! A value the runner cannot tell (a flash or kernel that is not in the manifest) is written
//! `unknown`, so it shows in the table rather than being guessed. The defaults follow
//! `ci/config.sh`: `QEMU_GIC`, `QEMU_CPU` and `QEMU_IOMMU` from the environment when set.
//! A test that catches a panic of its own is not recorded (the thread saw a panic).
//!
//! `make test-system` removes the file before the run and renders it afterwards with
//! `ci/tested-configs.sh` (README.md's table, `docs/tested-configurations.md`).

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;

use crate::artifacts::Manifest;
use crate::{Firmware, QemuArgs};

/// The artifacts manifest's flashes: the Secure world each holds and what its BL33 starts.
/// (`every_flash_of_the_manifest_is_known` keeps it complete.)
const FLASHES: [(&str, Spmc, Chain); 6] = [
    ("flash", Spmc::El1, Chain::TfA),
    ("gicv2_flash", Spmc::El1, Chain::TfA),
    ("el3spmc_flash", Spmc::El3, Chain::TfA),
    ("uboot_flash", Spmc::El1, Chain::UBoot),
    // A BL33 shim that breaks the DTB, then the hypervisor: still TF-A's BL33.
    ("bad_missing_dtb_flash", Spmc::El1, Chain::TfA),
    ("bad_corrupt_dtb_flash", Spmc::El1, Chain::TfA),
];

/// The manifest's kernels (and U-Boot's disk, which holds Linux): what runs at EL1.
const HOSTS: [(&str, &str); 4] = [
    ("linux_image", "linux"),
    ("payload_image", "payload"),
    ("bad_stub_image", "stub"),
    ("uboot_disk", "linux"),
];

/// The Secure world in the flash.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Spmc {
    El1,
    El3,
    None,
    Unknown,
}

/// What starts the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Chain {
    TfA,
    UBoot,
    None,
    Unknown,
}

impl Spmc {
    fn name(self) -> &'static str {
        match self {
            Spmc::El1 => "el1",
            Spmc::El3 => "el3",
            Spmc::None => "none",
            Spmc::Unknown => "unknown",
        }
    }
}

impl Chain {
    fn name(self) -> &'static str {
        match self {
            Chain::TfA => "tf-a",
            Chain::UBoot => "u-boot",
            Chain::None => "none",
            Chain::Unknown => "unknown",
        }
    }
}

/// The file the notes of passing tests are appended to: `$BUILD_DIR/tested-configurations.txt`,
/// else `build/tested-configurations.txt`.
pub fn records_path() -> PathBuf {
    crate::build_dir().join("tested-configurations.txt")
}

/// The environment `ci/config.sh` reads its defaults from (a function, for the unit tests).
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The configuration line (without test and suite) for `args`, looking flashes and kernels up
/// in `manifest`.
fn configuration(args: &QemuArgs, manifest: Option<&Manifest>, env: Env) -> String {
    let key = |path: &Path| manifest.and_then(|m| m.key_of(path));
    let (spmc, chain) = match &args.firmware {
        Firmware::None(_) => (Spmc::None, Chain::None),
        Firmware::Flash(flash) => key(flash)
            .and_then(|k| FLASHES.iter().find(|(name, ..)| *name == k))
            .map_or((Spmc::Unknown, Chain::Unknown), |&(_, spmc, chain)| {
                (spmc, chain)
            }),
    };
    let cpu = args
        .cpu
        .clone()
        .or_else(|| env("QEMU_CPU").filter(|c| !c.is_empty()))
        .map_or_else(|| "max".to_string(), |c| model(&c));
    let gic = args
        .gic
        .map(|g| g.to_string())
        .or_else(|| env("QEMU_GIC").filter(|g| !g.is_empty()))
        .unwrap_or_else(|| "3".into());
    // `ci/config.sh`: QEMU_IOMMU=${QEMU_IOMMU-smmuv3}; empty or `none` is the machine without.
    let iommu = args
        .iommu
        .clone()
        .or_else(|| env("QEMU_IOMMU"))
        .unwrap_or_else(|| "smmuv3".into());
    let smmu = if iommu.is_empty() || iommu == "none" {
        "off"
    } else {
        "on"
    };
    let booted = args.kernel.as_deref().or(args.disk.as_deref());
    let host = booted
        .and_then(key)
        .and_then(|k| HOSTS.iter().find(|(name, _)| *name == k))
        .map_or("unknown", |(_, host)| host);
    format!(
        "spmc={} cpu={} chain={} gic={} smmu={smmu} host={host}",
        spmc.name(),
        word(&cpu),
        chain.name(),
        word(&gic)
    )
}

/// A `-cpu` value's model (`max,sve=off` -> `max`).
fn model(cpu: &str) -> String {
    cpu.split(',').next().unwrap_or(cpu).to_string()
}

/// `value` as one word of the line (no spaces; empty as `unknown`).
fn word(value: &str) -> String {
    let word: String = value
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    if word.is_empty() {
        "unknown".into()
    } else {
        word
    }
}

/// The test file a test binary was built from (`.../deps/chains-0123456789abcdef` ->
/// `chains`).
fn suite_of(exe: &Path) -> String {
    let stem = exe
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suite = match stem.rsplit_once('-') {
        Some((name, hash)) if !hash.is_empty() && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => stem,
    };
    word(&suite)
}

/// The notes of the current thread (one test), written when it ends without a panic.
struct Notes {
    /// The file they go to ([`records_path`]; another in the unit tests).
    path: Option<PathBuf>,
    lines: Vec<String>,
    panicked: bool,
}

impl Drop for Notes {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        if self.panicked || self.lines.is_empty() {
            return;
        }
        let text: String = self.lines.iter().map(|l| format!("{l}\n")).collect();
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| OpenOptions::new().create(true).append(true).open(&path))
            .and_then(|mut file| file.write_all(text.as_bytes()));
        if let Err(e) = written {
            // The rendered table then lacks this test, so it differs from the committed one.
            let _ = writeln!(
                std::io::stderr(),
                "system-tests: cannot append to {}: {e}",
                path.display()
            );
        }
    }
}

thread_local! {
    static NOTES: RefCell<Notes> = const {
        RefCell::new(Notes { path: None, lines: Vec::new(), panicked: false })
    };
}

/// Marks the panicking thread's notes, then runs the hook that was there (libtest's output).
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = NOTES.try_with(|notes| {
                if let Ok(mut notes) = notes.try_borrow_mut() {
                    notes.panicked = true;
                }
            });
            previous(info);
        }));
    });
}

/// Notes that the current test boots `args` (called by [`crate::Qemu::spawn`] once QEMU is
/// started); the line is written if the test passes.
pub fn note(args: &QemuArgs) {
    let env = |var: &str| std::env::var(var).ok();
    let line = format!(
        "{} suite={} test={}",
        configuration(args, Manifest::try_load().as_ref(), &env),
        std::env::current_exe().map_or_else(|_| "unknown".into(), |exe| suite_of(&exe)),
        word(std::thread::current().name().unwrap_or("unknown"))
    );
    note_line(records_path(), line);
}

/// Adds `line` to the current thread's notes, to be appended to `path`.
fn note_line(path: PathBuf, line: String) {
    install_panic_hook();
    let _ = NOTES.try_with(|notes| {
        if let Ok(mut notes) = notes.try_borrow_mut() {
            notes.path.get_or_insert(path);
            notes.lines.push(line);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(
            Path::new("m"),
            "flash=/b/flash.bin\nel3spmc_flash=/b/flash-el3spmc.bin\ngicv2_flash=/b/flash-gicv2.bin\n\
             uboot_flash=/b/uboot/flash.bin\nuboot_disk=/b/uboot/disk.img\n\
             linux_image=/s/Image\npayload_image=/b/payload.bin\nbad_stub_image=/b/bad/stub.bin\n",
        )
        .unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn config(args: &QemuArgs) -> String {
        configuration(args, Some(&manifest()), &no_env)
    }

    #[test]
    fn the_configuration_comes_from_the_arguments_and_the_manifest() {
        assert_eq!(
            config(&QemuArgs::new("/b/flash.bin", "/b/x.dtb", "/s/Image")),
            "spmc=el1 cpu=max chain=tf-a gic=3 smmu=on host=linux"
        );
        assert_eq!(
            config(
                &QemuArgs::new("/b/flash-el3spmc.bin", "/b/x.dtb", "/b/payload.bin")
                    .with_cpu("cortex-a53")
                    .without_iommu()
            ),
            "spmc=el3 cpu=cortex-a53 chain=tf-a gic=3 smmu=off host=payload"
        );
        assert_eq!(
            config(&QemuArgs::new("/b/flash-gicv2.bin", "/b/x.dtb", "/s/Image").with_gic(2)),
            "spmc=el1 cpu=max chain=tf-a gic=2 smmu=on host=linux"
        );
        assert_eq!(
            config(&QemuArgs::uboot("/b/uboot/flash.bin", "/b/uboot/disk.img")),
            "spmc=el1 cpu=max chain=u-boot gic=3 smmu=on host=linux"
        );
        assert_eq!(
            config(&QemuArgs::no_firmware(
                "/b/hyp.bin",
                "/b/direct.dtb",
                "/s/Image"
            )),
            "spmc=none cpu=max chain=none gic=3 smmu=on host=linux"
        );
        assert_eq!(
            config(&QemuArgs::new(
                "/b/bad/stub.bin",
                "/b/x.dtb",
                "/b/bad/stub.bin"
            )),
            "spmc=unknown cpu=max chain=unknown gic=3 smmu=on host=stub",
            "a flash the manifest does not name is not guessed"
        );
        assert_eq!(
            configuration(
                &QemuArgs::new("/b/flash.bin", "/b/x.dtb", "/s/Image"),
                None,
                &no_env
            ),
            "spmc=unknown cpu=max chain=unknown gic=3 smmu=on host=unknown"
        );
    }

    #[test]
    fn defaults_follow_the_environment_as_ci_config_does() {
        let env = |var: &str| match var {
            "QEMU_CPU" => Some("neoverse-n2,sve=off".to_string()),
            "QEMU_GIC" => Some("2".to_string()),
            "QEMU_IOMMU" => Some(String::new()),
            _ => None,
        };
        let args = QemuArgs::new("/b/flash.bin", "/b/x.dtb", "/b/payload.bin");
        assert_eq!(
            configuration(&args, Some(&manifest()), &env),
            "spmc=el1 cpu=neoverse-n2 chain=tf-a gic=2 smmu=off host=payload"
        );
        // The arguments win over the environment.
        let args = args.with_cpu("cortex-a57").with_gic(3);
        let mut args = args;
        args.iommu = Some("smmuv3".into());
        assert_eq!(
            configuration(&args, Some(&manifest()), &env),
            "spmc=el1 cpu=cortex-a57 chain=tf-a gic=3 smmu=on host=payload"
        );
    }

    #[test]
    fn the_suite_is_the_test_file() {
        assert_eq!(
            suite_of(Path::new("/t/debug/deps/cpu_matrix-0123456789abcdef")),
            "cpu_matrix"
        );
        assert_eq!(suite_of(Path::new("/t/debug/deps/spmc_el3")), "spmc_el3");
        assert_eq!(suite_of(Path::new("/t/x-y")), "x-y");
    }

    #[test]
    fn every_flash_of_the_manifest_is_known() {
        // A new flash in the Makefile's ARTIFACTS_LIST needs its row in FLASHES, or its
        // tests would show `unknown` in the table.
        let keys = crate::artifacts::makefile_keys();
        let flashes: Vec<&String> = keys.iter().filter(|k| k.ends_with("flash")).collect();
        assert!(flashes.len() >= 2, "{keys:?}");
        for key in flashes {
            assert!(
                FLASHES.iter().any(|(name, ..)| name == key),
                "manifest key {key} is a flash that tests/system/src/tested.rs FLASHES lacks"
            );
        }
        for (name, _) in HOSTS {
            assert!(keys.iter().any(|k| k == name), "{name} not in the manifest");
        }
    }

    #[test]
    fn a_passing_thread_appends_its_notes_and_a_panicking_one_does_not() {
        // The notes are written by the thread-local's destructor when the thread ends, as
        // libtest's thread for a test ends.
        let path = crate::build_dir().join(format!("tested-selftest-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let run = |name: &'static str, fail: bool| {
            let path = path.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    note_line(path.clone(), format!("first of {name}"));
                    note_line(path, format!("second of {name}"));
                    assert!(!fail, "{name} fails on purpose");
                })
                .unwrap()
                .join()
                .is_ok()
        };
        assert!(run("passes", false));
        assert!(!run("fails", true));
        assert!(run("passes_too", false));
        let written = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            written,
            "first of passes\nsecond of passes\nfirst of passes_too\nsecond of passes_too\n"
        );
    }
}
