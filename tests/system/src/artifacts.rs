//! The images a system test boots, from the environment the Makefile sets.
//!
//! | variable | what |
//! |---|---|
//! | `HYP_FLASH` | `flash.bin`: TF-A BL1 + FIP with OP-TEE and the hypervisor as BL33 |
//! | `HYP_PAYLOAD_DTB` | DTB whose `/chosen` kernel module names the EL1 test payload |
//! | `HYP_PAYLOAD_IMAGE` | the EL1 test payload Image (`tests/payload/mkimage.sh`) |
//! | `HYP_PAYLOAD_DTB_SMP2` | the payload's DTB for a 2-CPU machine (run with one host thread per CPU) |
//! | `HYP_LINUX_DTB` | DTB whose `/chosen` modules name the Linux Image and initrd |
//! | `HYP_LINUX_IMAGE` | the Linux Image |
//! | `HYP_INITRD` | the initrd |
//! | `HYP_BAD_STUB_IMAGE` | `ci/mkbadinputs.sh`'s 4 KiB stub Image, loaded at `KERNEL_ADDR` in every bad-input case |
//! | `HYP_BAD_NO_MODULE_DTB` | DTB whose `/chosen` has no module node |
//! | `HYP_BAD_MAGIC_DTB` | DTB whose kernel module (at `INITRD_ADDR`) is `HYP_BAD_MAGIC_MODULE` |
//! | `HYP_BAD_MAGIC_MODULE` | an initramfs (gzip), not an arm64 Image |
//! | `HYP_BAD_TOO_LARGE_DTB` | DTB whose kernel module (at `INITRD_ADDR`) is `HYP_BAD_TOO_LARGE_IMAGE` |
//! | `HYP_BAD_TOO_LARGE_IMAGE` | 4 KiB with a valid Image header whose `image_size` is 2 GiB |
//! | `HYP_BAD_NO_CPUS_DTB` | a bootable DTB whose `/cpus` has no cpu nodes |
//! | `HYP_BAD_CPU_REG_DTB` | a bootable DTB whose `/cpus/cpu@1` `reg` is three cells |
//! | `HYP_UBOOT_FLASH` | `ci/mkuboot.sh`'s flash: TF-A BL1 + FIP with OP-TEE and U-Boot as BL33 |
//! | `HYP_UBOOT_DISK` | `ci/mkuboot.sh`'s disk: `boot.scr`, the hypervisor, `HYP_LINUX_IMAGE`, `HYP_INITRD` (bootargs with `autotest`) |
//! | `HYP_IMAGE` | the hypervisor image (`build/hypervisor.bin`), booted without firmware as QEMU's `-kernel` |
//! | `HYP_DIRECT_DTB` | DTB for booting without firmware (`ci/mkdtb.sh -`): kernel module at `DIRECT_KERNEL_ADDR` |
//! | `HYP_GICV2_FLASH` | flash of the GICv2 build of TF-A + OP-TEE, hypervisor as BL33 |
//! | `HYP_GICV2_DTB` | DTB of the `gic-version=2` machine with the Linux modules |
//! | `HYP_XTEST_INITRD` | `ci/mkinitramfs-xtest.sh`'s initramfs: OP-TEE's xtest, run by `/init` with the command line's words after ` -- ` |
//! | `HYP_XTEST_DTB` | DTB whose `/chosen` modules name `HYP_LINUX_IMAGE` and `HYP_XTEST_INITRD`, bootargs with the `make test` xtest subset |
//! | `HYP_XTEST_FULL_DTB` | the same with no xtest arguments: xtest's full default run (`make xtest` only) |
//!
//! A relative path is taken from the repository's top directory (cargo runs tests from the
//! crate's directory). A variable that is unset, empty, or names no file is a test failure
//! (a panic whose message says to run `make test`), never a silent pass or skip.

use std::path::PathBuf;

/// The path in `$var`, or a panic telling the reader to run `make test`.
pub fn require(var: &str) -> PathBuf {
    match std::env::var_os(var).filter(|value| !value.is_empty()) {
        None => panic!(
            "{var} is not set. The system tests boot images that `make test` builds and \
             names in HYP_* variables: run `make test` (or set {var} by hand)."
        ),
        Some(value) => {
            let path = crate::repo_root().join(value);
            assert!(
                path.is_file(),
                "{var}={} is not a file. Run `make test` to build it.",
                path.display()
            );
            path
        }
    }
}

/// What the payload test boots.
#[derive(Clone, Debug)]
pub struct Payload {
    /// `HYP_FLASH`.
    pub flash: PathBuf,
    /// `HYP_PAYLOAD_DTB`.
    pub dtb: PathBuf,
    /// `HYP_PAYLOAD_IMAGE`.
    pub image: PathBuf,
    /// `HYP_PAYLOAD_DTB_SMP2`: the same for a 2-CPU machine (the two-thread run).
    pub dtb_smp2: PathBuf,
}

impl Payload {
    /// Reads the variables (panics as [`require`] does).
    pub fn from_env() -> Self {
        Self {
            flash: require("HYP_FLASH"),
            dtb: require("HYP_PAYLOAD_DTB"),
            image: require("HYP_PAYLOAD_IMAGE"),
            dtb_smp2: require("HYP_PAYLOAD_DTB_SMP2"),
        }
    }
}

/// What the Linux boot test boots.
#[derive(Clone, Debug)]
pub struct Linux {
    /// `HYP_FLASH`.
    pub flash: PathBuf,
    /// `HYP_LINUX_DTB`.
    pub dtb: PathBuf,
    /// `HYP_LINUX_IMAGE`.
    pub image: PathBuf,
    /// `HYP_INITRD`.
    pub initrd: PathBuf,
}

impl Linux {
    /// Reads the variables (panics as [`require`] does).
    pub fn from_env() -> Self {
        Self {
            flash: require("HYP_FLASH"),
            dtb: require("HYP_LINUX_DTB"),
            image: require("HYP_LINUX_IMAGE"),
            initrd: require("HYP_INITRD"),
        }
    }
}

/// What the bad-input tests boot (`ci/mkbadinputs.sh`): one crafted input per case, each
/// with the same flash and the stub Image at `KERNEL_ADDR`.
#[derive(Clone, Debug)]
pub struct BadInputs {
    /// `HYP_FLASH`.
    pub flash: PathBuf,
    /// `HYP_BAD_STUB_IMAGE`: what QEMU loads at `KERNEL_ADDR` (`ci/qemu.sh --kernel`).
    pub stub_image: PathBuf,
    /// `HYP_BAD_NO_MODULE_DTB`.
    pub no_module_dtb: PathBuf,
    /// `HYP_BAD_MAGIC_DTB`.
    pub bad_magic_dtb: PathBuf,
    /// `HYP_BAD_MAGIC_MODULE`: loaded at `INITRD_ADDR` with [`BadInputs::bad_magic_dtb`].
    pub bad_magic_module: PathBuf,
    /// `HYP_BAD_TOO_LARGE_DTB`.
    pub too_large_dtb: PathBuf,
    /// `HYP_BAD_TOO_LARGE_IMAGE`: loaded at `INITRD_ADDR` with [`BadInputs::too_large_dtb`].
    pub too_large_image: PathBuf,
    /// `HYP_BAD_NO_CPUS_DTB`.
    pub no_cpus_dtb: PathBuf,
    /// `HYP_BAD_CPU_REG_DTB`.
    pub cpu_reg_dtb: PathBuf,
}

impl BadInputs {
    /// Reads the variables (panics as [`require`] does).
    pub fn from_env() -> Self {
        Self {
            flash: require("HYP_FLASH"),
            stub_image: require("HYP_BAD_STUB_IMAGE"),
            no_module_dtb: require("HYP_BAD_NO_MODULE_DTB"),
            bad_magic_dtb: require("HYP_BAD_MAGIC_DTB"),
            bad_magic_module: require("HYP_BAD_MAGIC_MODULE"),
            too_large_dtb: require("HYP_BAD_TOO_LARGE_DTB"),
            too_large_image: require("HYP_BAD_TOO_LARGE_IMAGE"),
            no_cpus_dtb: require("HYP_BAD_NO_CPUS_DTB"),
            cpu_reg_dtb: require("HYP_BAD_CPU_REG_DTB"),
        }
    }
}

/// The U-Boot chain (`tests/chains.rs`): TF-A -> U-Boot -> `boot.scr` on a disk.
#[derive(Clone, Debug)]
pub struct UBootChain {
    /// `HYP_UBOOT_FLASH`.
    pub flash: PathBuf,
    /// `HYP_UBOOT_DISK`.
    pub disk: PathBuf,
}

impl UBootChain {
    /// Reads the variables (panics as [`require`] does).
    pub fn from_env() -> Self {
        Self {
            flash: require("HYP_UBOOT_FLASH"),
            disk: require("HYP_UBOOT_DISK"),
        }
    }
}

/// The boot without firmware (`tests/chains.rs`): the hypervisor as QEMU's `-kernel`.
#[derive(Clone, Debug)]
pub struct NoFirmware {
    /// `HYP_IMAGE`.
    pub hypervisor: PathBuf,
    /// `HYP_DIRECT_DTB`.
    pub dtb: PathBuf,
    /// `HYP_LINUX_IMAGE`.
    pub image: PathBuf,
    /// `HYP_INITRD`.
    pub initrd: PathBuf,
}

impl NoFirmware {
    /// Reads the variables (panics as [`require`] does).
    pub fn from_env() -> Self {
        Self {
            hypervisor: require("HYP_IMAGE"),
            dtb: require("HYP_DIRECT_DTB"),
            image: require("HYP_LINUX_IMAGE"),
            initrd: require("HYP_INITRD"),
        }
    }
}

/// The GICv2 boot (`tests/chains.rs`): the TF-A chain on `gic-version=2`.
#[derive(Clone, Debug)]
pub struct GicV2 {
    /// `HYP_GICV2_FLASH`.
    pub flash: PathBuf,
    /// `HYP_GICV2_DTB`.
    pub dtb: PathBuf,
    /// `HYP_LINUX_IMAGE`.
    pub image: PathBuf,
    /// `HYP_INITRD`.
    pub initrd: PathBuf,
}

impl GicV2 {
    /// Reads the variables (panics as [`require`] does).
    pub fn from_env() -> Self {
        Self {
            flash: require("HYP_GICV2_FLASH"),
            dtb: require("HYP_GICV2_DTB"),
            image: require("HYP_LINUX_IMAGE"),
            initrd: require("HYP_INITRD"),
        }
    }
}

/// What the xtest tests boot (`tests/xtest.rs`): Linux with the xtest initramfs.
#[derive(Clone, Debug)]
pub struct Xtest {
    /// `HYP_FLASH`.
    pub flash: PathBuf,
    /// `HYP_XTEST_DTB` or `HYP_XTEST_FULL_DTB`: the bootargs carry xtest's arguments.
    pub dtb: PathBuf,
    /// `HYP_LINUX_IMAGE`.
    pub image: PathBuf,
    /// `HYP_XTEST_INITRD`.
    pub initrd: PathBuf,
}

impl Xtest {
    /// Reads the variables, the DTB from `dtb_var` (panics as [`require`] does).
    pub fn from_env(dtb_var: &str) -> Self {
        Self {
            flash: require("HYP_FLASH"),
            dtb: require(dtb_var),
            image: require("HYP_LINUX_IMAGE"),
            initrd: require("HYP_XTEST_INITRD"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::require;

    #[test]
    #[should_panic(expected = "run `make test`")]
    fn unset_variable_fails_and_says_make_test() {
        require("HYP_SYSTEM_TESTS_SURELY_UNSET_VARIABLE");
    }

    #[test]
    #[should_panic(expected = "Run `make test` to build it")]
    fn a_variable_naming_no_file_fails_and_says_make_test() {
        // `cargo test` sets CARGO_MANIFEST_DIR to a directory: set, but not a file.
        require("CARGO_MANIFEST_DIR");
    }
}
