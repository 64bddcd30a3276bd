//! The images a system test boots, from the artifacts manifest the Makefile writes.
//!
//! `make artifacts` (a prerequisite of `make test-system` and `make xtest`) runs
//! `ci/mkartifacts.sh`, which writes one `key=path` a line to `build/artifacts.manifest`
//! (`#` lines are comments). The tests read it from [`manifest_path`]: `$HYP_ARTIFACTS` when
//! set, else `$BUILD_DIR/artifacts.manifest` (as in `ci/config.sh`), else
//! `build/artifacts.manifest` at the repository's top.
//!
//! | key | what |
//! |---|---|
//! | `flash` | `flash.bin`: TF-A BL1 + FIP with OP-TEE and the hypervisor as BL33 |
//! | `hypervisor_image` | the hypervisor image (`build/hypervisor.bin`), booted without firmware as QEMU's `-kernel` |
//! | `linux_image` | the Linux Image |
//! | `initrd` | the host's initramfs (`ci/mkinitramfs.sh`, built in this tree: `build/initramfs.cpio.gz`) |
//! | `linux_dtb` | DTB whose `/chosen` modules name `linux_image` and `initrd` (bootargs with `autotest`) |
//! | `teebench_dtb` | the same with `teebench=200` in the bootargs |
//! | `payload_image` | the EL1 test payload Image (`tests/payload/mkimage.sh`) |
//! | `payload_dtb` | DTB whose `/chosen` kernel module names the EL1 test payload (bootargs `payload dma-behind-iommu`: every configuration has QEMU's SMMUv3) |
//! | `payload_nosmmu_dtb` | the same for the machine without the SMMU (`QEMU_IOMMU=none`, run with `ci/qemu.sh --iommu none`), bootargs `payload` |
//! | `payload_dtb_smp2` | the payload's DTB for a 2-CPU machine (run with one host thread per CPU), bootargs `race-batches=64` |
//! | `payload_reset_dtb` | the payload's DTB for a 1-CPU machine, bootargs `system-reset`: it calls PSCI SYSTEM_RESET instead of its cases |
//! | `payload_ffa10_dtb` | the payload's DTB for a 1-CPU machine, bootargs `ffa-version=1.0`: the FF-A calls of a v1.0 host |
//! | `payload_ffa11_dtb` | the same with `ffa-version=1.1` |
//! | `payload_smmu_dtb` | the payload's DTB for a 1-CPU machine with an SMMUv3 (`QEMU_IOMMU=smmuv3 ci/mkdtb.sh`), booted with `-machine iommu=smmuv3` |
//! | `payload_dma_dtb` | the same with `dma-attack` in the bootargs: the payload programs QEMU's `edu` device (`-device edu,dma_mask=0xffffffffff`) to DMA instead of running its cases |
//! | `el_counter_plugin` | the el-counter QEMU plugin (`ci/build-plugin.sh`): counts, outside the hypervisor, the SMCs EL2 makes per phase of the payload |
//! | `bad_stub_image` | `ci/mkbadinputs.sh`'s 4 KiB stub Image, loaded at `KERNEL_ADDR` in every bad-input case |
//! | `bad_no_module_dtb` | DTB whose `/chosen` has no module node |
//! | `bad_magic_dtb` | DTB whose kernel module (at `INITRD_ADDR`) is `bad_magic_module` |
//! | `bad_magic_module` | an initramfs (gzip), not an arm64 Image |
//! | `bad_too_large_dtb` | DTB whose kernel module (at `INITRD_ADDR`) is `bad_too_large_image` |
//! | `bad_too_large_image` | 4 KiB with a valid Image header whose `image_size` is 2 GiB |
//! | `bad_no_cpus_dtb` | a bootable DTB whose `/cpus` has no cpu nodes |
//! | `bad_cpu_reg_dtb` | a bootable DTB whose `/cpus/cpu@1` `reg` is three cells |
//! | `bad_bootable_dtb` | a DTB with nothing wrong (the stub Image as kernel), booted with the two flashes below |
//! | `bad_missing_dtb_flash` | flash whose BL33 is `ci/bad-dtb-bl33.S` (zeroes the DTB's magic in memory) then the hypervisor |
//! | `bad_corrupt_dtb_flash` | the same, the shim making the DTB's first structure token invalid |
//! | `uboot_flash` | `ci/mkuboot.sh`'s flash: TF-A BL1 + FIP with OP-TEE and U-Boot as BL33 |
//! | `uboot_disk` | `ci/mkuboot.sh`'s disk: `boot.scr`, the hypervisor, `linux_image`, `initrd` (bootargs with `autotest`) |
//! | `direct_dtb` | DTB for booting without firmware (`ci/mkdtb.sh -`): kernel module at `DIRECT_KERNEL_ADDR` |
//! | `gicv2_flash` | flash of the GICv2 build of TF-A + OP-TEE, hypervisor as BL33 |
//! | `gicv2_dtb` | DTB of the `gic-version=2` machine with the Linux modules |
//! | `xtest_initrd` | `ci/mkinitramfs-xtest.sh`'s initramfs: OP-TEE's xtest, run by `/init` with the command line's words after ` -- ` |
//! | `xtest_dtb` | DTB whose `/chosen` modules name `linux_image` and `xtest_initrd`, bootargs with the `make test` xtest subset |
//! | `xtest_full_dtb` | the same with no xtest arguments: xtest's full default run (`make xtest` only) |
//! | `soak_payload_dtb` | the payload's DTB for 4 CPUs with `soak=<rounds>` in its bootargs (`make soak` only) |
//! | `soak_cpu_off_dtb` | a short soak (128 rounds) with `soak-cpu-off`: CPU_OFF and CPU_ON again under load (in `make test`) |
//! | `soak_initrd` | the soak's initramfs: `ci/mkinitramfs.sh` built from this tree (teebench with threads) |
//! | `cpu_payload_dtb` | the payload's DTB for a 1-CPU machine, booted on each CPU model of the CPU matrix (`ci/qemu.sh --cpu`) |
//! | `cpu_linux_dtb` | DTB whose modules name `linux_image` and `initrd` for a 2-CPU machine (bootargs with `autotest`), for the CPU matrix |
//! | `soak_teebench_dtb` | DTB whose modules name `linux_image` and `soak_initrd`, bootargs with `teebench=<n>:<threads>` (`make soak` only) |
//! | `el3spmc_flash` | flash of the second SPMC: TF-A's EL3 SPMC (`SPMC_AT_EL3=1`) with OP-TEE as its S-EL1 partition (`ci/build-secure-world.sh --spmc el3`), hypervisor as BL33 |
//! | `el3spmc_payload_dtb` | the payload's DTB with `spmc=el3` in its bootargs: the matrix judged by the EL3 SPMC's answers (`docs/spmc.md`) |
//! | `el3spmc_xtest_dtb` | DTB whose modules name `linux_image` and `xtest_initrd`, bootargs with the EL3 SPMC's smaller xtest subset (memrefs and shared memory) |
//!
//! A relative path is taken from the repository's top directory (cargo runs tests from the
//! crate's directory). A missing manifest, a missing key, or a path that names no file is a
//! test failure (a panic whose message says to run `make test`), never a silent pass or skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The variable that overrides where the manifest is.
pub const MANIFEST_VAR: &str = "HYP_ARTIFACTS";

/// Where the manifest is: `$HYP_ARTIFACTS`, else `$BUILD_DIR/artifacts.manifest`, else
/// `build/artifacts.manifest` (relative values from the repository's top).
pub fn manifest_path() -> PathBuf {
    let set = |var: &str| std::env::var_os(var).filter(|value| !value.is_empty());
    match (set(MANIFEST_VAR), set("BUILD_DIR")) {
        (Some(path), _) => crate::repo_root().join(path),
        (None, Some(build)) => crate::repo_root().join(build).join("artifacts.manifest"),
        (None, None) => crate::repo_root().join("build/artifacts.manifest"),
    }
}

/// The manifest's entries, key to path.
#[derive(Clone, Debug)]
pub struct Manifest {
    path: PathBuf,
    entries: BTreeMap<String, String>,
}

impl Manifest {
    /// Reads [`manifest_path`], or panics telling the reader to run `make test`.
    pub fn load() -> Self {
        Self::load_from(&manifest_path())
    }

    /// Reads the manifest at `path` (panics as [`Manifest::load`] does).
    pub fn load_from(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!(
                "cannot read the artifacts manifest {}: {e}. The system tests boot images that \
                 `make test` builds and lists there (`make artifacts`): run `make test` (or \
                 set {MANIFEST_VAR} to another manifest).",
                path.display()
            )
        });
        Self::parse(path, &text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Parses manifest text (`key=path` lines, `#` comments, blank lines); `path` is only for
    /// messages. A line without `=`, an empty key or path, or a key given twice is an error.
    pub fn parse(path: &Path, text: &str) -> Result<Self, String> {
        let mut entries = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("{}:{}", path.display(), number + 1);
            let (key, value) = line
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .ok_or_else(|| format!("{}: not key=path: {line:?}", at()))?;
            if entries.insert(key.to_string(), value.to_string()).is_some() {
                return Err(format!("{}: key {key} given twice", at()));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The manifest at [`manifest_path`] if it can be read and parsed, without a panic (for
    /// [`crate::tested`], which only names what a test booted).
    pub fn try_load() -> Option<Self> {
        let path = manifest_path();
        let text = std::fs::read_to_string(&path).ok()?;
        Self::parse(&path, &text).ok()
    }

    /// The key whose file is `path` (compared as given and, when both exist, canonicalized).
    pub fn key_of(&self, path: &Path) -> Option<&str> {
        let canonical = |p: &Path| p.canonicalize().ok();
        let wanted = canonical(path);
        self.entries
            .iter()
            .find(|(_, value)| {
                let file = crate::repo_root().join(value.as_str());
                file == path || (wanted.is_some() && canonical(&file) == wanted)
            })
            .map(|(key, _)| key.as_str())
    }

    /// The file named by `key`, or a panic telling the reader to run `make test`.
    pub fn require(&self, key: &str) -> PathBuf {
        let Some(value) = self.entries.get(key) else {
            panic!(
                "{} has no {key}=. Run `make test` (its `make artifacts` step lists every \
                 system-test input).",
                self.path.display()
            )
        };
        let path = crate::repo_root().join(value);
        assert!(
            path.is_file(),
            "{key}={} (from {}) is not a file. Run `make test` to build it.",
            path.display(),
            self.path.display()
        );
        path
    }
}

/// The file named by `key` in the manifest (panics as [`Manifest::require`] does).
pub fn require(key: &str) -> PathBuf {
    Manifest::load().require(key)
}

/// What the payload test boots.
#[derive(Clone, Debug)]
pub struct Payload {
    /// `flash`.
    pub flash: PathBuf,
    /// `payload_dtb`.
    pub dtb: PathBuf,
    /// `payload_image`.
    pub image: PathBuf,
    /// `payload_dtb_smp2`: the same for a 2-CPU machine (the two-thread run).
    pub dtb_smp2: PathBuf,
    /// `el_counter_plugin`: the QEMU plugin of the witness run.
    pub el_counter: PathBuf,
}

impl Payload {
    /// Reads the manifest (panics as [`Manifest::require`] does).
    pub fn load() -> Self {
        let m = Manifest::load();
        Self {
            flash: m.require("flash"),
            dtb: m.require("payload_dtb"),
            image: m.require("payload_image"),
            dtb_smp2: m.require("payload_dtb_smp2"),
            el_counter: m.require("el_counter_plugin"),
        }
    }
}

/// What the Linux boot tests boot: the TF-A chain with Linux and the initrd, and a DTB.
#[derive(Clone, Debug)]
pub struct Linux {
    /// `flash`.
    pub flash: PathBuf,
    /// The DTB: `linux_dtb`, or the one named to [`Linux::load_with`].
    pub dtb: PathBuf,
    /// `linux_image`.
    pub image: PathBuf,
    /// `initrd`.
    pub initrd: PathBuf,
}

impl Linux {
    /// Reads the manifest, with `linux_dtb` (panics as [`Manifest::require`] does).
    pub fn load() -> Self {
        Self::load_with("linux_dtb")
    }

    /// Reads the manifest, with the DTB named by `dtb_key` (e.g. `teebench_dtb`).
    pub fn load_with(dtb_key: &str) -> Self {
        let m = Manifest::load();
        Self {
            flash: m.require("flash"),
            dtb: m.require(dtb_key),
            image: m.require("linux_image"),
            initrd: m.require("initrd"),
        }
    }
}

/// What the bad-input tests boot (`ci/mkbadinputs.sh`): one crafted input per case, each
/// with the same flash and the stub Image at `KERNEL_ADDR`.
#[derive(Clone, Debug)]
pub struct BadInputs {
    /// `flash`.
    pub flash: PathBuf,
    /// `bad_stub_image`: what QEMU loads at `KERNEL_ADDR` (`ci/qemu.sh --kernel`).
    pub stub_image: PathBuf,
    /// `bad_no_module_dtb`.
    pub no_module_dtb: PathBuf,
    /// `bad_magic_dtb`.
    pub bad_magic_dtb: PathBuf,
    /// `bad_magic_module`: loaded at `INITRD_ADDR` with [`BadInputs::bad_magic_dtb`].
    pub bad_magic_module: PathBuf,
    /// `bad_too_large_dtb`.
    pub too_large_dtb: PathBuf,
    /// `bad_too_large_image`: loaded at `INITRD_ADDR` with [`BadInputs::too_large_dtb`].
    pub too_large_image: PathBuf,
    /// `bad_no_cpus_dtb`.
    pub no_cpus_dtb: PathBuf,
    /// `bad_cpu_reg_dtb`.
    pub cpu_reg_dtb: PathBuf,
    /// `bad_bootable_dtb`: what QEMU is given with the two flashes below.
    pub bootable_dtb: PathBuf,
    /// `bad_missing_dtb_flash`: its BL33 shim zeroes the DTB's magic before the hypervisor.
    pub missing_dtb_flash: PathBuf,
    /// `bad_corrupt_dtb_flash`: its BL33 shim breaks the DTB's structure block.
    pub corrupt_dtb_flash: PathBuf,
}

impl BadInputs {
    /// Reads the manifest (panics as [`Manifest::require`] does).
    pub fn load() -> Self {
        let m = Manifest::load();
        Self {
            flash: m.require("flash"),
            stub_image: m.require("bad_stub_image"),
            no_module_dtb: m.require("bad_no_module_dtb"),
            bad_magic_dtb: m.require("bad_magic_dtb"),
            bad_magic_module: m.require("bad_magic_module"),
            too_large_dtb: m.require("bad_too_large_dtb"),
            too_large_image: m.require("bad_too_large_image"),
            no_cpus_dtb: m.require("bad_no_cpus_dtb"),
            cpu_reg_dtb: m.require("bad_cpu_reg_dtb"),
            bootable_dtb: m.require("bad_bootable_dtb"),
            missing_dtb_flash: m.require("bad_missing_dtb_flash"),
            corrupt_dtb_flash: m.require("bad_corrupt_dtb_flash"),
        }
    }
}

/// The U-Boot chain (`tests/chains.rs`): TF-A -> U-Boot -> `boot.scr` on a disk.
#[derive(Clone, Debug)]
pub struct UBootChain {
    /// `uboot_flash`.
    pub flash: PathBuf,
    /// `uboot_disk`.
    pub disk: PathBuf,
}

impl UBootChain {
    /// Reads the manifest (panics as [`Manifest::require`] does).
    pub fn load() -> Self {
        let m = Manifest::load();
        Self {
            flash: m.require("uboot_flash"),
            disk: m.require("uboot_disk"),
        }
    }
}

/// The boot without firmware (`tests/chains.rs`): the hypervisor as QEMU's `-kernel`.
#[derive(Clone, Debug)]
pub struct NoFirmware {
    /// `hypervisor_image`.
    pub hypervisor: PathBuf,
    /// `direct_dtb`.
    pub dtb: PathBuf,
    /// `linux_image`.
    pub image: PathBuf,
    /// `initrd`.
    pub initrd: PathBuf,
}

impl NoFirmware {
    /// Reads the manifest (panics as [`Manifest::require`] does).
    pub fn load() -> Self {
        let m = Manifest::load();
        Self {
            hypervisor: m.require("hypervisor_image"),
            dtb: m.require("direct_dtb"),
            image: m.require("linux_image"),
            initrd: m.require("initrd"),
        }
    }
}

/// The GICv2 boot (`tests/chains.rs`): the TF-A chain on `gic-version=2`.
#[derive(Clone, Debug)]
pub struct GicV2 {
    /// `gicv2_flash`.
    pub flash: PathBuf,
    /// `gicv2_dtb`.
    pub dtb: PathBuf,
    /// `linux_image`.
    pub image: PathBuf,
    /// `initrd`.
    pub initrd: PathBuf,
}

impl GicV2 {
    /// Reads the manifest (panics as [`Manifest::require`] does).
    pub fn load() -> Self {
        let m = Manifest::load();
        Self {
            flash: m.require("gicv2_flash"),
            dtb: m.require("gicv2_dtb"),
            image: m.require("linux_image"),
            initrd: m.require("initrd"),
        }
    }
}

/// The runs against the second SPMC (`tests/spmc_el3.rs`): the EL3 SPMC's flash with the
/// payload, with Linux, with teebench and with xtest (the DTBs of the OP-TEE runs and the EL3
/// SPMC's own xtest subset: QEMU's DTB does not depend on the firmware in the flash).
#[derive(Clone, Debug)]
pub struct El3Spmc {
    /// `el3spmc_flash`.
    pub flash: PathBuf,
    /// `el3spmc_payload_dtb`.
    pub payload_dtb: PathBuf,
    /// `payload_image`.
    pub payload_image: PathBuf,
    /// `linux_dtb`.
    pub linux_dtb: PathBuf,
    /// `teebench_dtb`.
    pub teebench_dtb: PathBuf,
    /// `xtest_dtb`.
    pub xtest_dtb: PathBuf,
    /// `el3spmc_xtest_dtb`.
    pub el3_xtest_dtb: PathBuf,
    /// `linux_image`.
    pub linux_image: PathBuf,
    /// `initrd`.
    pub initrd: PathBuf,
    /// `xtest_initrd`.
    pub xtest_initrd: PathBuf,
}

impl El3Spmc {
    /// Reads the manifest (panics as [`Manifest::require`] does).
    pub fn load() -> Self {
        let m = Manifest::load();
        Self {
            flash: m.require("el3spmc_flash"),
            payload_dtb: m.require("el3spmc_payload_dtb"),
            payload_image: m.require("payload_image"),
            linux_dtb: m.require("linux_dtb"),
            teebench_dtb: m.require("teebench_dtb"),
            xtest_dtb: m.require("xtest_dtb"),
            el3_xtest_dtb: m.require("el3spmc_xtest_dtb"),
            linux_image: m.require("linux_image"),
            initrd: m.require("initrd"),
            xtest_initrd: m.require("xtest_initrd"),
        }
    }
}

/// What the xtest tests boot (`tests/xtest.rs`): Linux with the xtest initramfs.
#[derive(Clone, Debug)]
pub struct Xtest {
    /// `flash`.
    pub flash: PathBuf,
    /// `xtest_dtb` or `xtest_full_dtb`: the bootargs carry xtest's arguments.
    pub dtb: PathBuf,
    /// `linux_image`.
    pub image: PathBuf,
    /// `xtest_initrd`.
    pub initrd: PathBuf,
}

impl Xtest {
    /// Reads the manifest, the DTB from `dtb_key` (panics as [`Manifest::require`] does).
    pub fn load(dtb_key: &str) -> Self {
        let m = Manifest::load();
        Self {
            flash: m.require("flash"),
            dtb: m.require(dtb_key),
            image: m.require("linux_image"),
            initrd: m.require("xtest_initrd"),
        }
    }
}

/// The keys of the Makefile's `ARTIFACTS_LIST`, in its order.
#[cfg(test)]
pub(crate) fn makefile_keys() -> Vec<String> {
    let makefile = std::fs::read_to_string(crate::repo_root().join("Makefile")).unwrap();
    let list = makefile
        .split_once("ARTIFACTS_LIST =")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no ARTIFACTS_LIST in the Makefile"));
    // The list's lines, up to the first that does not continue with a backslash.
    let mut listed = Vec::new();
    for line in list.lines().skip(1) {
        listed.extend(
            line.split_whitespace()
                .filter_map(|w| w.split_once('=').map(|(k, _)| k.to_string())),
        );
        if !line.trim_end().ends_with('\\') {
            break;
        }
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest::parse(Path::new("test.manifest"), text).unwrap()
    }

    #[test]
    #[should_panic(expected = "run `make test`")]
    fn a_missing_manifest_fails_and_says_make_test() {
        Manifest::load_from(&crate::repo_root().join("build/no-such-dir/artifacts.manifest"));
    }

    #[test]
    #[should_panic(expected = "Run `make test` (its `make artifacts` step")]
    fn a_missing_key_fails_and_says_make_test() {
        manifest("flash=/nonexistent/flash.bin\n").require("payload_dtb");
    }

    #[test]
    #[should_panic(expected = "Run `make test` to build it")]
    fn a_key_naming_no_file_fails_and_says_make_test() {
        // The crate's directory exists but is not a file.
        manifest(&format!("flash={}\n", env!("CARGO_MANIFEST_DIR"))).require("flash");
    }

    #[test]
    fn keys_comments_and_relative_paths_are_read() {
        let m = manifest("# comment\n\nflash=tests/system/Cargo.toml\n  initrd = x\n");
        assert_eq!(
            m.require("flash"),
            crate::repo_root().join("tests/system/Cargo.toml")
        );
        assert_eq!(m.entries.get("initrd").map(String::as_str), Some("x"));
    }

    #[test]
    fn malformed_lines_and_repeated_keys_are_errors() {
        let parse = |text| Manifest::parse(Path::new("m"), text);
        assert_eq!(
            parse("flash\n").unwrap_err(),
            "m:1: not key=path: \"flash\""
        );
        assert!(parse("=x\n").is_err());
        assert!(parse("flash=\n").is_err());
        assert_eq!(
            parse("a=1\nb=2\na=3\n").unwrap_err(),
            "m:3: key a given twice"
        );
    }

    #[test]
    fn keys_are_found_by_path() {
        let m = manifest("flash=tests/system/Cargo.toml\ninitrd=/nonexistent/i.cpio\n");
        assert_eq!(
            m.key_of(&crate::repo_root().join("tests/system/Cargo.toml")),
            Some("flash")
        );
        assert_eq!(
            m.key_of(&crate::repo_root().join("tests/../tests/system/Cargo.toml")),
            Some("flash"),
            "the same file by another path"
        );
        assert_eq!(m.key_of(Path::new("/nonexistent/i.cpio")), Some("initrd"));
        assert_eq!(m.key_of(Path::new("/nonexistent/other")), None);
    }

    #[test]
    fn the_makefile_lists_every_key_the_tests_read() {
        // Each key documented above is in the Makefile's ARTIFACTS_LIST, and nothing else:
        // the two lists cannot drift apart.
        let doc = include_str!("artifacts.rs");
        let documented: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `"))
            .filter_map(|l| l.split_once('`').map(|(k, _)| k))
            .collect();
        let mut listed = makefile_keys();
        let mut documented_sorted = documented.clone();
        documented_sorted.sort_unstable();
        listed.sort_unstable();
        assert_eq!(documented_sorted, listed);
        assert_eq!(documented.len(), 44);
    }
}
