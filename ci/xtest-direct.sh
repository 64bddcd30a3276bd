#!/bin/bash
# Run OP-TEE's xtest WITHOUT the hypervisor, on the same TF-A + OP-TEE, kernel and xtest
# initramfs, to tell a failure under the hypervisor from one of OP-TEE, Linux or xtest itself:
# BL33 is ci/smoke-stack.sh's trampoline, which enters Linux at EL2 (Linux then talks FF-A to the
# SPMD directly, nothing in between).
#
#   ci/xtest-direct.sh [--smp N] [--timeout SECONDS] [XTEST ARGS...]   # default: --smp 2 (MTTCG)
#   ci/xtest-direct.sh -t regression 1004          # one case
#   ci/xtest-direct.sh                             # xtest's full default run
#
# Needs `make xtest-inputs` (the xtest initramfs) and runs ci/smoke-stack.sh once for the
# trampoline flash (build/smoke/flash.bin; a ~5 s boot that also checks the stack). Output in
# build/xtest-direct/: direct.dtb, console.log (normal world), secure.log (OP-TEE). Prints the
# XTEST-RESULT line; exit status 0 only when xtest ran with rc=0 and nothing failed.
# Bounded: QEMU is killed after --timeout seconds (default 2400), by its PID (`timeout` runs
# ci/qemu.sh, which execs QEMU).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

SMP=2 TIMEOUT=2400          # as tests/system/tests/xtest.rs: 2 vCPUs, one host thread each
while [ $# -gt 0 ]; do
    case $1 in
        --smp) SMP=${2:?}; shift 2 ;;
        --timeout) TIMEOUT=${2:?}; shift 2 ;;
        *) break ;;
    esac
done
export QEMU_SMP=$SMP
OUT=$BUILD_DIR/xtest-direct
INITRD=$BUILD_DIR/stack/initramfs-xtest.cpio.gz
FLASH=$BUILD_DIR/smoke/flash.bin
need_file "$INITRD" "the xtest initramfs, run make xtest-inputs"
need_file "$STACK_ENV" "the stack, run ci/stack.sh"
# shellcheck disable=SC1090
source "$STACK_ENV"
if [ ! -f "$FLASH" ] || [ "$FLASH" -ot "$FIP" ]; then
    "$CI_DIR/smoke-stack.sh" --smp "$SMP"
fi
need_file "$FLASH" "the trampoline flash of ci/smoke-stack.sh"
mkdir -p "$OUT"

# No hypervisor reads the /chosen modules here: Linux needs bootargs and linux,initrd-* itself.
# xtest_live=1: xtest's output as it runs (no hypervisor shares the console here).
BOOTARGS="console=ttyAMA0 xtest_live=1${*:+ -- $*}"
"$CI_DIR/mkdtb.sh" "$FLASH" "$KERNEL_IMAGE" "$INITRD" "$BOOTARGS" "$OUT/direct.dtb" >/dev/null
fdtput -t s "$OUT/direct.dtb" /chosen bootargs "$BOOTARGS"
fdtput -t x "$OUT/direct.dtb" /chosen linux,initrd-start 0 "$(hex "$INITRD_ADDR")"
fdtput -t x "$OUT/direct.dtb" /chosen linux,initrd-end 0 "$(hex $((INITRD_ADDR + $(stat -c %s "$INITRD"))))"

step "TF-A + OP-TEE -> trampoline -> Linux at EL2 (no hypervisor), smp $SMP: xtest ${*:-(default run)}"
mttcg=(); [ "$SMP" -gt 2 ] || mttcg=(--mttcg)
t0=$(now)
rc=0
timeout -k 5 "$TIMEOUT" "$CI_DIR/qemu.sh" --flash "$FLASH" --dtb "$OUT/direct.dtb" \
    --kernel "$KERNEL_IMAGE" --initrd "$INITRD" --smp "$SMP" "${mttcg[@]}" \
    --secure-log "$OUT/secure.log" \
    </dev/null >"$OUT/console.log" 2>&1 || rc=$?
[ "$rc" != 124 ] && [ "$rc" != 137 ] || die "QEMU timed out after ${TIMEOUT}s (log: $OUT/console.log)"
result=$(grep -a '^XTEST-RESULT ' "$OUT/console.log" | tail -1 || true)
[ -n "$result" ] || { tail -n 30 "$OUT/console.log" >&2; die "no XTEST-RESULT line (QEMU exit $rc; log: $OUT/console.log)"; }
grep -a -E '^ *(regression|pkcs11)_[0-9.a-z_]+ FAILED' "$OUT/console.log" | sed 's/^/    /' || true
step "$result (QEMU exit $rc, $(since "$t0"); log: $OUT/console.log)"
case " $result " in
    *" rc=0 "*" cases-failed=0 "*" subtests-failed=0 "*) [ "$rc" = 0 ] ;;
    *) exit 1 ;;
esac
