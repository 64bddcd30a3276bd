#!/bin/bash
# Installs the fuzzing tool, cargo-fuzz, at a pinned version from crates.io, built with the
# project's pinned stable toolchain, into build/tools/ (ignored by git; kept between runs).
#
#   ci/install-fuzz.sh        # idempotent; prints the path of the cargo-fuzz binary
#
# No other toolchain is needed: fuzz/run.sh builds the targets with the pinned stable rustc
# and RUSTC_BOOTSTRAP=1 for the two unstable flags cargo-fuzz passes (docs/fuzzing.md says
# why). libFuzzer itself is C++, compiled by libfuzzer-sys's build script: it needs a C++
# compiler (Debian's build-essential, installed by ci/install-packages.sh).
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${BUILD_DIR:-$ROOT_DIR/build}/tools
INSTALL_ROOT=$TOOLS_DIR/cargo-fuzz-$CARGO_FUZZ_VERSION
BIN=$INSTALL_ROOT/bin/cargo-fuzz

die() { printf '[install-fuzz] ERROR: %s\n' "$*" >&2; exit 1; }

if [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "$BIN"
    exit 0
fi

command -v cargo >/dev/null || die "cargo not found (install rustup; the toolchain is pinned by rust-toolchain.toml)"
command -v c++ >/dev/null || die "no C++ compiler for libFuzzer (Debian package 'build-essential': run ci/install-packages.sh)"

# From the repository root, so rustup picks the toolchain rust-toolchain.toml pins.
cd "$ROOT_DIR"
echo "[install-fuzz] cargo install cargo-fuzz $CARGO_FUZZ_VERSION into $INSTALL_ROOT" >&2
cargo install --locked --version "$CARGO_FUZZ_VERSION" --root "$INSTALL_ROOT" cargo-fuzz >&2
[ -x "$BIN" ] || die "cargo install did not produce $BIN"
echo "$BIN"
