#!/usr/bin/env bash
# Runs the FF-A proxy fuzz target for a few seconds: fuzz/run.sh [SECONDS] (default 10).
# Needs the nightly toolchain; installs cargo-fuzz from crates.io if it is missing.
# A long run is documented in docs/ffa-policy.md.
set -euo pipefail

secs="${1:-10}"
cd "$(dirname "$0")"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo +nightly install cargo-fuzz --locked
fi

mkdir -p corpus/ffa_handle target
log=target/ffa_handle-run.log
# Inputs are 292 bytes (see fuzz_targets/ffa_handle.rs); the committed seeds are valid
# Linux-style calls, the corpus directory is local and ignored by git.
set +e
cargo +nightly fuzz run ffa_handle corpus/ffa_handle seeds/ffa_handle -- \
    -max_total_time="$secs" -max_len=292 -print_final_stats=1 >"$log" 2>&1
status=$?
set -e
if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz/run.sh: ffa_handle failed (exit $status); full log in fuzz/$log" >&2
    exit "$status"
fi
grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)" "$log"
