#!/bin/bash
# Run the soak (`make soak`, README "Soak"): the three soak system tests of
# tests/system/tests/soak.rs one after the other (each #[ignore]d, so `make test` skips them),
# then a summary on the terminal and in <summary-file>.
#
#   ci/soak.sh <summary-file>
#
# Every test runs even if one before it failed; the script exits non-zero if any failed. Each
# test writes its measured line to build/logs/soak-<name>.result; a test that fails writes
# none, and the summary points at its log instead. QEMU runs under `nice -n 10` (the machine
# may be shared). SOAK_BOOTS (the Linux boots in a row) is read by the test itself.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

[ $# -eq 1 ] || die "usage: $0 <summary-file>"
SUMMARY=$1
LOGS=$BUILD_DIR/logs
mkdir -p "$LOGS" "$(dirname "$SUMMARY")"

# test name, result file, what it is
TESTS=(
    "soak_payload_all_cpus payload payload on 4 CPUs: FF-A, memory share/lend/reclaim, PSCI at once"
    "soak_linux_boots_in_a_row linux-boots Linux booted and powered off ${SOAK_BOOTS:-20} times in a row"
    "soak_teebench_threads teebench Linux user-space threads making requests to OP-TEE at once"
)

# Build the test binary first, so that its time is not counted in the first test's.
nice -n 10 cargo test -p system-tests --test soak --no-run >/dev/null 2>&1 ||
    nice -n 10 cargo test -p system-tests --test soak --no-run

started=$(date +%s)
failed=0
lines=()
for entry in "${TESTS[@]}"; do
    read -r name result what <<<"$entry"
    rm -f "$LOGS/soak-$result.result"
    step "soak: $name ($what)"
    t0=$(date +%s)
    if nice -n 10 cargo test -p system-tests --test soak -- --ignored --exact "$name" \
        --nocapture --test-threads=1; then
        verdict=PASS
    else
        verdict=FAIL
        failed=$((failed + 1))
    fi
    secs=$(( $(date +%s) - t0 ))
    if [ -f "$LOGS/soak-$result.result" ]; then
        line=$(cat "$LOGS/soak-$result.result")
    else
        line="$what: no result (see build/logs/$name*.log and the output above)"
    fi
    lines+=("$verdict ${secs}s  $line")
done
total=$(( $(date +%s) - started ))

{
    echo "make soak: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //' || echo '?')), load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
    for l in "${lines[@]}"; do echo "  $l"; done
    if [ "$failed" -eq 0 ]; then
        echo "soak: all ${#TESTS[@]} passed in ${total}s"
    else
        echo "soak: $failed of ${#TESTS[@]} FAILED in ${total}s"
    fi
} | tee "$SUMMARY"
[ "$failed" -eq 0 ]
