#!/usr/bin/env bash
# Runs the FF-A proxy fuzz targets for a few seconds each: fuzz/run.sh [SECONDS] (default 10).
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

mkdir -p target
# ffa_handle: one call through the whole proxy (292-byte inputs, see its header);
# ffa_memory: sequences of mailbox and memory calls with a fuzzed host TX and SPMC replies.
# The committed seeds are valid Linux-style inputs; corpus/ is local and ignored by git.
for target in ffa_handle ffa_memory; do
    case "$target" in
        ffa_handle) max_len=292 ;;
        *) max_len=4096 ;;
    esac
    mkdir -p "corpus/$target"
    log="target/$target-run.log"
    set +e
    cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$secs" -max_len="$max_len" -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "fuzz/run.sh: $target failed (exit $status); full log in fuzz/$log" >&2
        exit "$status"
    fi
    echo "$target:"
    grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)" "$log"
done
