#!/bin/bash
# The ONE QEMU command line of the project, used by `make run` and by every system test.
#
#   ci/qemu.sh --flash F --dtb D --kernel K [--initrd I] [--smp N] [--mem MiB]
#              [--secure-log FILE] [--interactive] [-- extra qemu args...]
#
#   --flash F        flash image from ci/mkflash.sh (bl1 + fip with the hypervisor as BL33), -bios
#   --dtb D          DTB from ci/mkdtb.sh (QEMU's own, plus the /chosen module nodes)
#   --kernel K       host kernel Image, loaded raw at KERNEL_ADDR (ci/config.sh)
#   --initrd I       host initrd, loaded raw at INITRD_ADDR
#   --smp N          vCPUs (default QEMU_SMP=$QEMU_SMP; TF-A/OP-TEE on qemu support at most 4)
#   --mem MiB        RAM (default QEMU_MEM); RAM starts at 0x4000_0000
#   --secure-log F   secure console (UART1, 0x0904_0000: OP-TEE's log) to file F (default: dropped)
#   --interactive    NS console is `-serial mon:stdio` (Ctrl-A x quits QEMU, Ctrl-A c monitor)
#
# The script `exec`s qemu-system-aarch64: the caller's PID is QEMU's PID (kill it by that PID).
# NS console (UART0, 0x0900_0000) is on stdout. QEMU exits 0 when the guest powers off (PSCI
# SYSTEM_OFF through TF-A); `-no-reboot` turns a reset/panic-reboot into an exit as well.
# `-accel tcg,thread=single`: with MTTCG, 4 vCPUs on a 2-core host are ~10x slower (secondaries
# spin in TF-A's holding pen). `-cpu max,sme=off,sve=off`: TF-A is built with SME for NS/SWD
# off, and SVE traps secure FP (see docs/test-stack.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

usage() { die "usage: $0 --flash F --dtb D --kernel K [--initrd I] [--smp N] [--mem M] [--secure-log FILE] [--interactive] [-- extra qemu args]"; }
FLASH='' DTB='' KERNEL='' INITRD='' SECLOG='' INTERACTIVE=0
SMP=$QEMU_SMP MEM=$QEMU_MEM
while [ $# -gt 0 ]; do
    case $1 in
        --flash) FLASH=${2:?}; shift 2 ;;
        --dtb) DTB=${2:?}; shift 2 ;;
        --kernel) KERNEL=${2:?}; shift 2 ;;
        --initrd) INITRD=${2:?}; shift 2 ;;
        --smp) SMP=${2:?}; shift 2 ;;
        --mem) MEM=${2:?}; shift 2 ;;
        --secure-log) SECLOG=${2:?}; shift 2 ;;
        --interactive) INTERACTIVE=1; shift ;;
        --) shift; break ;;
        *) usage ;;
    esac
done
[ -n "$FLASH" ] && [ -n "$DTB" ] && [ -n "$KERNEL" ] || usage
need_cmd qemu-system-aarch64 qemu-system-arm
need_file "$FLASH" "flash image (ci/mkflash.sh)"
need_file "$DTB" "device tree (ci/mkdtb.sh)"
need_file "$KERNEL" "kernel Image (ci/fetch-kernel.sh)"
[ -z "$INITRD" ] || need_file "$INITRD" "initrd (ci/mkinitramfs.sh)"
[[ $SMP =~ ^[1-4]$ ]] || die "--smp $SMP: TF-A and OP-TEE on qemu support 1..4 CPUs"
[[ $MEM =~ ^[0-9]+$ ]] || die "--mem $MEM: a number of MiB"

# The preloaded images must not overlap each other nor the hypervisor at HYP_ADDR.
ram_end=$((0x40000000 + MEM * 1024 * 1024))
[ "$ram_end" -gt $((HYP_ADDR + 0x1000000)) ] || die "--mem $MEM MiB: RAM ends below HYP_ADDR+16 MiB"
# For an arm64 Image (magic "ARM\x64" at 0x38) the header's image_size (le64 at 16) covers the
# BSS beyond the file size; any other payload counts with its file size.
ksize=$(stat -c %s "$KERNEL")
if [ "$(od -An -tx1 -j 56 -N 4 "$KERNEL" | tr -d ' \n')" = 41524d64 ]; then
    isz=$(od -An -t u4 -j 16 -N 4 "$KERNEL" | tr -d ' ')
    if [ "$isz" -gt "$ksize" ]; then ksize=$isz; fi
fi
[ $((KERNEL_ADDR + ksize)) -le $((INITRD_ADDR)) ] ||
    die "kernel $KERNEL (image_size $ksize) at $KERNEL_ADDR overlaps INITRD_ADDR $INITRD_ADDR"
if [ -n "$INITRD" ]; then
    [ $((INITRD_ADDR + $(stat -c %s "$INITRD"))) -le $((HYP_ADDR)) ] ||
        die "initrd $INITRD at $INITRD_ADDR overlaps HYP_ADDR $HYP_ADDR"
fi

args=(
    -nographic -nic none -monitor none -no-reboot
    -machine "$QEMU_MACHINE" -cpu "$QEMU_CPU" -smp "$SMP" -m "$MEM"
    -accel tcg,thread=single
    -bios "$FLASH" -dtb "$DTB"
    -device "loader,file=$KERNEL,addr=$KERNEL_ADDR,force-raw=on"
)
[ -z "$INITRD" ] || args+=(-device "loader,file=$INITRD,addr=$INITRD_ADDR,force-raw=on")
if [ "$INTERACTIVE" = 1 ]; then
    args+=(-serial mon:stdio)
else
    args+=(-serial stdio)
fi
if [ -n "$SECLOG" ]; then
    mkdir -p "$(dirname "$SECLOG")"
    args+=(-serial "file:$SECLOG")
else
    args+=(-serial null)
fi
exec qemu-system-aarch64 "${args[@]}" "$@"
