//! System tests: boot the QEMU stack (TF-A, OP-TEE, the hypervisor as BL33, a host kernel)
//! and check what appears on the console.
//!
//! - [`qemu`]: the runner. It starts `bash ci/qemu.sh <args>` (which execs QEMU, so the
//!   child's PID is QEMU's) in its own process group, copies its console into
//!   `build/logs/<test-name>.log` and a buffer the test can [`Qemu::expect`] against, and
//!   kills QEMU by its PID (and that process group) on drop or timeout.
//! - [`boot`]: the one boot-and-expect helper every test uses: [`Boot`] starts a stack
//!   configuration ([`QemuArgs`]) under the runner and waits, each wait bounded, for the
//!   console lines the test expects, panicking with what was awaited and the log.
//! - [`artifacts`]: the images the Makefile builds, read from the one manifest it writes
//!   (`build/artifacts.manifest`, `make artifacts`). A missing manifest, key or file fails
//!   the test with a message saying to run `make test`; nothing passes silently.
//!
//! - [`payload_spec`]: the payload's FF-A matrix data, for exact case counts.
//! - [`tested`]: what each passing test booted (derived from its [`QemuArgs`]), appended to
//!   `build/tested-configurations.txt`, from which `ci/tested-configs.sh` renders the table of
//!   tested configurations (README.md, `docs/tested-configurations.md`).
//!
//! The tests themselves live in `tests/`: `payload.rs` (the EL1 payload's cases),
//! `linux_boot.rs` (the Linux host boot), `bad_input.rs` (boot inputs the hypervisor must
//! refuse with one error line and a power-off), `chains.rs` (the same Linux boot through
//! U-Boot, without firmware, and on GICv2), `teebench.rs` (Linux user space making 200
//! requests to OP-TEE through `/dev/tee0` and the proxy), `xtest.rs` (OP-TEE's own test
//! suite run by Linux through the hypervisor: the subset in `make test`, the full run in
//! `make xtest`) and `soak.rs` (`make soak` only: every CPU at once, Linux booted again and
//! again, threads hammering OP-TEE).

pub mod artifacts;
pub mod boot;
pub mod host_check;
pub mod qemu;
pub mod tested;

/// The payload's FF-A conformance matrix as data (`tests/payload/src/ffa_spec.rs`, the same
/// file the payload builds): the system tests derive the exact case counts of its generated
/// phases and the phases' names and numbers from it, rather than typing them.
#[path = "../../payload/src/ffa_spec.rs"]
#[allow(dead_code)]
pub mod payload_spec;

pub use boot::Boot;
pub use qemu::{Error, Firmware, Match, Qemu, QemuArgs};

use std::path::PathBuf;

/// The repository's top directory (where `ci/` and `build/` are).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The build directory: `$BUILD_DIR` (as in `ci/config.sh`), else `build`.
pub fn build_dir() -> PathBuf {
    std::env::var_os("BUILD_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| repo_root().join("build"), PathBuf::from)
}

/// Where the logs go: `$BUILD_DIR/logs` (as in `ci/config.sh`), else `build/logs`.
pub fn logs_dir() -> PathBuf {
    build_dir().join("logs")
}
