#!/bin/bash
# Make sure the whole QEMU test stack is ready (the single entry point for make and the tests):
#   1. ci/install-packages.sh   host packages (apt)
#   2. ci/build-secure-world.sh TF-A + OP-TEE (+ fiptool), cached
#   3. ci/fetch-kernel.sh       Debian sid kernel + FF-A/OP-TEE modules + busybox, cached
#   4. ci/mkinitramfs.sh        $STACK_DIR/initramfs.cpio.gz, cached
# then writes $STACK_DIR/stack.env (shell-sourceable paths and versions) and prints a summary.
#
#   ci/stack.sh [--quiet]
#
# Every step keeps its results and stamps under build/stack, so a second run takes well under a
# second. To refresh one part, delete it: build/stack/kernel (new sid kernel), build/stack/src
# (new sources), build/stack/stamps (rebuild TF-A/OP-TEE).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"
stack_lock

QUIET=0
[ "${1:-}" = --quiet ] && QUIET=1
T0=$(now)
mkdir -p "$STACK_DIR"

"$CI_DIR/install-packages.sh"
# The kernel download (network) runs while TF-A/OP-TEE build (CPU); its lines follow the build's.
mkdir -p "$STACK_DIR/logs"
KLOG=$STACK_DIR/logs/fetch-kernel.out
"$CI_DIR/fetch-kernel.sh" >"$KLOG" 2>&1 &
kpid=$!
if ! "$CI_DIR/build-secure-world.sh"; then
    wait "$kpid" || true
    exit 1
fi
if ! wait "$kpid"; then
    cat "$KLOG" >&2
    die "ci/fetch-kernel.sh failed (output above, also in $KLOG)"
fi
cat "$KLOG"
INITRAMFS=$STACK_DIR/initramfs.cpio.gz
"$CI_DIR/mkinitramfs.sh" "$INITRAMFS"

# shellcheck disable=SC1090
source "$TFA_DIR/tfa.env"
# shellcheck disable=SC1090
source "$KERNEL_DIR/kernel.env"
QEMU_VERSION=$(qemu-system-aarch64 --version | sed -n '1s/^QEMU emulator version \([^ ]*\).*/\1/p')
QEMU_PACKAGE_VERSION=$(dpkg-query -W -f='${Version}' qemu-system-arm)

vars=(
    STACK_DIR
    FLASH_BL1="$TFA_DIR/bl1.bin"
    FIP="$TFA_DIR/fip.bin"
    FIPTOOL="$TFA_DIR/fiptool"
    KERNEL_IMAGE="$KERNEL_DIR/Image"
    KERNEL_CONFIG="$KERNEL_DIR/config"
    KERNEL_MODULES_DIR="$KERNEL_DIR/modules"
    INITRAMFS
    SPMC_MANIFEST="$CI_DIR/spmc_el1_manifest.dts"
    KERNEL_VERSION KERNEL_ABI KERNEL_FFA
    TFA_VERSION OPTEE_VERSION TFA_LOG_LEVEL
    QEMU_VERSION QEMU_PACKAGE_VERSION BUSYBOX_VERSION
)
{
    echo "# Written by ci/stack.sh: paths and versions of the QEMU test stack. Source it from bash."
    echo "# Load addresses and QEMU options live in ci/config.sh."
    for v in "${vars[@]}"; do
        name=${v%%=*}
        if [ "$name" != "$v" ]; then val=${v#*=}; else val=${!name}; fi
        printf '%s=%q\n' "$name" "$val"
        # Every path must exist.
        case $val in /*) [ -e "$val" ] || die "stack artifact missing: $name=$val" ;; esac
    done
} > "$STACK_ENV.tmp"
mv "$STACK_ENV.tmp" "$STACK_ENV"

if [ "$QUIET" = 0 ]; then
    cat <<EOF
[stack.sh] ---------------------------------------------------------------------------
[stack.sh] QEMU      $QEMU_VERSION (qemu-system-arm $QEMU_PACKAGE_VERSION, bookworm-backports)
[stack.sh] TF-A      $TFA_VERSION (trixie source; PLAT=qemu SPD=spmd SPMC_OPTEE=1, LOG_LEVEL=$TFA_LOG_LEVEL)
[stack.sh] OP-TEE    $OPTEE_VERSION (sid source; S-EL1 SPMC, FF-A v1.2 manifest)
[stack.sh] kernel    $KERNEL_ABI ($KERNEL_VERSION, sid; ARM_FFA_TRANSPORT=$KERNEL_FFA)
[stack.sh] busybox   $BUSYBOX_VERSION
[stack.sh] bl1       $TFA_DIR/bl1.bin
[stack.sh] fip       $TFA_DIR/fip.bin   (BL33 = placeholder; ci/mkflash.sh swaps it)
[stack.sh] fiptool   $TFA_DIR/fiptool
[stack.sh] Image     $KERNEL_DIR/Image
[stack.sh] initramfs $INITRAMFS
[stack.sh] env       $STACK_ENV
EOF
fi
step "stack ready in $(since "$T0")"
