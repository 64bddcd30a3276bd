#!/usr/bin/env bash
# Runs the FF-A proxy fuzz targets on the project's pinned stable toolchain (no nightly):
#
#   fuzz/run.sh [SECONDS] [TARGET...]      # each target for SECONDS (default 10)
#   fuzz/run.sh --runs N [TARGET...]       # each target for N executions (the long run)
#   fuzz/run.sh --cmin [TARGET...]         # minimise the committed corpus (see below)
#
# Targets: ffa_handle, ffa_memory (default: both, one after the other). cargo-fuzz comes
# from ci/install-fuzz.sh (pinned, cached under build/tools/). RUSTC_BOOTSTRAP=1 lets the
# pinned stable rustc accept the one unstable flag cargo-fuzz passes, -Zsanitizer=address
# (docs/fuzzing.md says why that is sound here); FUZZ_SANITIZER=none builds without
# AddressSanitizer and without RUSTC_BOOTSTRAP. Always with debug assertions: an arithmetic
# overflow is a crash here, though the firmware's release build would wrap silently.
#
# Inputs: fuzz/seeds/<target> (hand-written, named) and fuzz/corpus/<target> (the committed
# minimised corpus) are read; what a run finds goes to fuzz/target/corpus/<target> (ignored),
# and --cmin folds it into fuzz/corpus/<target>. Crashes land in fuzz/artifacts/<target>/.
# Exits non-zero if a target fails to build, crashes, times out or the tool is missing.
set -euo pipefail

cd "$(dirname "$0")"
root=$(cd .. && pwd)

mode=time
secs=10
runs=0
case "${1:-}" in
    --runs) mode=runs; runs="${2:?--runs N}"; shift 2 ;;
    --cmin) mode=cmin; shift ;;
    ''|-*) ;;
    *[!0-9]*) ;;
    *) secs="$1"; shift ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ffa_handle ffa_memory)

cargo_fuzz=$("$root/ci/install-fuzz.sh")
sanitizer=${FUZZ_SANITIZER:-address}
case "$sanitizer" in
    address) export RUSTC_BOOTSTRAP=1 ;;
    none) ;;
    *) echo "fuzz/run.sh: FUZZ_SANITIZER=$sanitizer: address or none" >&2; exit 2 ;;
esac
echo "fuzz/run.sh: $("$cargo_fuzz" --version), $(rustc --version), sanitizer $sanitizer${RUSTC_BOOTSTRAP:+ (RUSTC_BOOTSTRAP=1)}"

max_len_of() {
    case "$1" in
        ffa_handle) echo 292 ;;   # one call: 4 header bytes, the call's and the reply's x0..x17
        ffa_memory) echo 4096 ;;  # 99 records of 41 bytes
        *) echo "fuzz/run.sh: unknown target $1" >&2; exit 2 ;;
    esac
}

mkdir -p target
for target in "${targets[@]}"; do
    max_len=$(max_len_of "$target")
    found="target/corpus/$target"
    mkdir -p "$found" "corpus/$target"
    log="target/$target-$mode.log"
    case "$mode" in
        cmin)
            # Everything known so far (committed corpus, seeds, a run's finds), merged into a
            # fresh directory keeping only inputs that add a covered edge (-use_counters=0:
            # hit-count buckets would keep several times more files for the same edges);
            # then it replaces corpus/<target>. The seeds stay where they are.
            merged="target/cmin/$target"
            rm -rf "$merged"
            mkdir -p "$merged"
            "$cargo_fuzz" run --debug-assertions --sanitizer "$sanitizer" "$target" "$merged" "corpus/$target" "$found" "seeds/$target" -- \
                -merge=1 -use_counters=0 -max_len="$max_len" >"$log" 2>&1 || {
                tail -n 40 "$log" >&2
                echo "fuzz/run.sh: $target: merge failed; full log in fuzz/$log" >&2
                exit 1
            }
            # libFuzzer names what it keeps by SHA-1: drop the copies of the seeds.
            for seed in "seeds/$target"/*; do
                rm -f "$merged/$(sha1sum <"$seed" | cut -d' ' -f1)"
            done
            rm -rf "corpus/$target"
            mv "$merged" "corpus/$target"
            echo "$target: $(ls "corpus/$target" | wc -l) inputs in fuzz/corpus/$target"
            continue
            ;;
        runs) limit=(-runs="$runs") ;;
        *) limit=(-max_total_time="$secs") ;;
    esac
    set +e
    "$cargo_fuzz" run --debug-assertions --sanitizer "$sanitizer" "$target" "$found" "corpus/$target" "seeds/$target" -- \
        "${limit[@]}" -max_len="$max_len" -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "fuzz/run.sh: $target failed (exit $status); full log in fuzz/$log" >&2
        exit "$status"
    fi
    echo "$target:"
    grep -E "^#[0-9]+.*cov:" "$log" | tail -n 1 || true
    grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)" "$log"
done
