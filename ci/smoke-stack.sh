#!/bin/bash
# Smoke test of the test stack WITHOUT the hypervisor: TF-A + OP-TEE boot a tiny BL33 trampoline
# that enters the Debian kernel at EL2 (x0 = DTB at 0x4000_0000), Linux loads the FF-A and OP-TEE
# modules, prints the HOST-CHECK block and powers off. If this fails, the problem is in the stack
# (packages, TF-A, OP-TEE, kernel, initramfs, DTB, QEMU line), not in the hypervisor.
#
#   ci/smoke-stack.sh [--smp N]          # default QEMU_SMP; runs ci/stack.sh first (cached)
#
# Output in build/smoke/: tramp.bin, flash.bin, smoke.dtb, linux.log, secure.log.
# Checks: "BL33 trampoline: EL2", "HOST-INIT: modules loaded", "ARM FF-A: Firmware version 1.2 found",
# "optee: initialized driver", HOST-CHECK-BEGIN ... HOST-CHECK-END, and QEMU's exit status 0
# after `poweroff -f` (PSCI SYSTEM_OFF), all within a bounded timeout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

SMP=$QEMU_SMP
[ "${1:-}" = --smp ] && { SMP=${2:?}; shift 2; }
export QEMU_SMP=$SMP
TIMEOUT=${SMOKE_TIMEOUT:-120}
OUT=$BUILD_DIR/smoke
mkdir -p "$OUT"

"$CI_DIR/stack.sh" --quiet
# shellcheck disable=SC1090
source "$STACK_ENV"

# --- 1. the trampoline BL33 -------------------------------------------------------------------
step "assembling the BL33 trampoline (jumps to $KERNEL_ADDR at EL2 with x0 = 0x40000000)"
need_cmd ${CROSS}as binutils-aarch64-linux-gnu
cat > "$OUT/tramp.S" <<EOF
/* BL33 stand-in for the hypervisor: print the EL, then enter Linux (booting.rst: x0 = DTB,
 * x1..x3 = 0, MMU off) at KERNEL_ADDR. Only the primary CPU comes here; the secondaries stay in
 * TF-A until Linux starts them with PSCI CPU_ON. */
    .equ KERNEL_ADDR, $KERNEL_ADDR
    .equ DTB_ADDR, 0x40000000
    .equ UART0, 0x09000000
    .text
    .global _start
_start:
    adr  x1, msg
    ldr  x2, =UART0
1:  ldrb w3, [x1], #1
    cbz  w3, 2f
3:  ldr  w4, [x2, #0x18]          /* UARTFR: wait while TXFF */
    tbnz w4, #5, 3b
    str  w3, [x2]
    b    1b
2:  mrs  x3, CurrentEL
    lsr  x3, x3, #2
    add  w3, w3, #'0'
    str  w3, [x2]
    mov  w3, #'\n'
    str  w3, [x2]
    ldr  x0, =DTB_ADDR
    mov  x1, xzr
    mov  x2, xzr
    mov  x3, xzr
    ldr  x4, =KERNEL_ADDR
    br   x4
msg: .asciz "BL33 trampoline: EL"
    .balign 8
    .ltorg
EOF
${CROSS}as -o "$OUT/tramp.o" "$OUT/tramp.S"
${CROSS}ld -Ttext="$HYP_ADDR" --build-id=none -o "$OUT/tramp.elf" "$OUT/tramp.o"
${CROSS}objcopy -O binary "$OUT/tramp.elf" "$OUT/tramp.bin"

# --- 2. flash + DTB (with linux,initrd-* and /chosen/bootargs: there is no hypervisor to add them)
"$CI_DIR/mkflash.sh" "$OUT/tramp.bin" "$OUT/flash.bin"
BOOTARGS="console=ttyAMA0 autotest"
"$CI_DIR/mkdtb.sh" "$OUT/flash.bin" "$KERNEL_IMAGE" "$INITRAMFS" "$BOOTARGS" "$OUT/smoke.dtb"
isize=$(stat -c %s "$INITRAMFS")
fdtput -t s "$OUT/smoke.dtb" /chosen bootargs "$BOOTARGS"
fdtput -t x "$OUT/smoke.dtb" /chosen linux,initrd-start 0 "$(hex "$INITRD_ADDR")"
fdtput -t x "$OUT/smoke.dtb" /chosen linux,initrd-end 0 "$(hex $((INITRD_ADDR + isize)))"
note "trampoline DTB: /chosen bootargs + linux,initrd-start/end added"

# --- 3. boot ------------------------------------------------------------------------------------
step "booting TF-A + OP-TEE -> trampoline -> Linux $KERNEL_VERSION (smp $SMP, timeout ${TIMEOUT}s)"
t0=$(now)
rc=0
# ci/qemu.sh execs QEMU, so timeout's child IS QEMU: on expiry timeout kills exactly that PID.
timeout -k 5 "$TIMEOUT" "$CI_DIR/qemu.sh" --flash "$OUT/flash.bin" --dtb "$OUT/smoke.dtb" \
    --kernel "$KERNEL_IMAGE" --initrd "$INITRAMFS" --smp "$SMP" \
    --secure-log "$OUT/secure.log" </dev/null >"$OUT/linux.log" 2>&1 || rc=$?
elapsed=$(since "$t0")
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    tail -n 30 "$OUT/linux.log" >&2
    die "QEMU timed out after ${TIMEOUT}s (killed by timeout; log: $OUT/linux.log)"
fi

fail=0
check() {   # description pattern
    if grep -qF -- "$2" "$OUT/linux.log"; then note "ok: $1"; else note "MISSING: $1 ('$2')"; fail=1; fi
}
check "trampoline entered at EL2"      "BL33 trampoline: EL2"
check "modules loaded"                 "HOST-INIT: modules loaded"
check "FF-A v1.2 negotiated"           "ARM FF-A: Firmware version 1.2 found"
check "OP-TEE driver over FF-A"        "optee: initialized driver"
check "HOST-CHECK block begins"        "HOST-CHECK-BEGIN"
check "HOST-CHECK block ends"          "HOST-CHECK-END"
if [ "$rc" = 0 ]; then note "ok: QEMU exited 0 after poweroff -f"; else note "QEMU exit status $rc (expected 0)"; fail=1; fi
if [ "$fail" != 0 ]; then
    tail -n 40 "$OUT/linux.log" >&2
    die "smoke test failed (logs: $OUT/linux.log, $OUT/secure.log)"
fi
sed -n '/HOST-CHECK-BEGIN/,/HOST-CHECK-END/p' "$OUT/linux.log" | grep -E '^(cpu-online|ffa-devices|tee-devices|iomem)' | sed 's/^/    /'
step "smoke test passed in $elapsed (log: $OUT/linux.log)"
