#!/bin/bash
# The ONE QEMU command line of the project, used by `make run` and by every system test.
#
#   TF-A chain (default):  ci/qemu.sh --flash F --dtb D --kernel K [--initrd I] [common...]
#   U-Boot chain:          ci/qemu.sh --flash F --disk IMG [common...]
#   without firmware:      ci/qemu.sh --hypervisor H --dtb D --kernel K [--initrd I] [common...]
#   common:                [--gic 2|3|4] [--iommu smmuv3|none] [--cpu MODEL] [--smp N] [--mem MiB]
#                          [--disk IMG] [--rng] [--secure-log FILE] [--mttcg] [--edu] [--interactive]
#                          [-- extra qemu args...]
#
#   --flash F        flash image (-bios): TF-A BL1 + FIP from ci/mkflash.sh, whose BL33 is the
#                    hypervisor (TF-A chain) or U-Boot (ci/mkuboot.sh, U-Boot chain)
#   --dtb D          DTB from ci/mkdtb.sh (QEMU's own, plus the /chosen module nodes)
#   --kernel K       host kernel Image, loaded raw at KERNEL_ADDR (ci/config.sh), or at
#                    DIRECT_KERNEL_ADDR with --hypervisor
#   --initrd I       host initrd, loaded raw at INITRD_ADDR
#   --disk IMG       raw disk image on a virtio-blk PCI device (behind the SMMU; the hypervisor
#                    withholds every virtio-mmio transport from the host), read-only; with --flash
#                    and no --dtb/--kernel, U-Boot's distro boot finds boot.scr on it
#   --hypervisor H   no firmware: no -bios, no EL3 (secure=off), QEMU's own PSCI (conduit SMC)
#                    answers the hypervisor's SMCs; H (an arm64 Image, text_offset 0) is QEMU's
#                    -kernel, loaded at DIRECT_HYP_ADDR and entered at EL2 with x0 = the -dtb,
#                    which QEMU places at DIRECT_DTB_ADDR
#   --gic 2|3|4      GIC version (default QEMU_GIC=$QEMU_GIC); must match the flash's TF-A/OP-TEE
#                    build (ci/build-secure-world.sh --gic 2) and the DTB (QEMU_GIC for mkdtb.sh).
#                    4 (GICv4) runs on the GICv3 flash with one CPU only: its TF-A is built without
#                    GIC_ENABLE_V4_EXTN, walks redistributors 128 KiB apart, and BL31 hangs looking
#                    for the second CPU's (GICv4's are 256 KiB apart)
#   --iommu smmuv3|none  an SMMUv3 in front of the PCIe root complex (`-machine iommu=smmuv3`;
#                    from QEMU 9.2 virt's SMMU has stage 1 and 2, before it stage 1 only, which the
#                    hypervisor refuses). Default QEMU_IOMMU=smmuv3 (ci/config.sh): every test
#                    configuration has it; `none` is the machine without (the DMA policy's
#                    withheld-root-complex case). The DTB must be dumped with the same value
#                    (QEMU_IOMMU for ci/mkdtb.sh)
#   --cpu MODEL      QEMU CPU model: max (default), cortex-a53, cortex-a57, neoverse-n2, or any
#                    other QEMU name (passed as is). The firmware's needs are added: max runs with
#                    sme=off,sve=off and neoverse-n2 with sve=off (TF-A is built without SME
#                    for either world, and SVE traps OP-TEE's FP; docs/test-stack.md)
#   --rng            a virtio-rng PCI device (`-device virtio-rng-pci`) behind the SMMU: the host's
#                    entropy source, and the Linux tests' witness that DMA through the SMMU works
#   --smp N          vCPUs (default QEMU_SMP=$QEMU_SMP; TF-A/OP-TEE on qemu support at most 4)
#   --mem MiB        RAM (default QEMU_MEM); RAM starts at 0x4000_0000
#   --secure-log F   secure console (UART1, 0x0904_0000: OP-TEE's log) to file F (default:
#                    dropped); not with --hypervisor (there is no Secure world)
#   --mttcg          one host thread per vCPU (`-accel tcg,thread=multi`) instead of one for all;
#                    with --smp 1 or 2: OP-TEE's xtest runs 3x faster at --smp 2 (80 s
#                    instead of 230 s for the `make test` subset), and two vCPUs really make
#                    SMCs at the same time; with --smp 3 or 4 only for a workload that keeps
#                    every CPU busy from the start (`make soak`'s payload: 20x faster than
#                    one thread, where a vCPU spinning on a lock holds the thread for a whole
#                    100 ms slice), else see -accel below
#   --edu            add QEMU's PCI DMA test device (`-device edu,dma_mask=0xffffffffff`: its DMA
#                    engine reaches all of the 40-bit address space) behind the PCIe root
#                    complex: the hostile-host DMA test's device (the hypervisor withholds the
#                    root complex, so the host cannot program it)
#   --interactive    NS console is `-serial mon:stdio` (Ctrl-A x quits QEMU, Ctrl-A c monitor)
#
# The script `exec`s qemu-system-aarch64: the caller's PID is QEMU's PID (kill it by that PID).
# NS console (UART0, 0x0900_0000) is on stdout. QEMU exits 0 when the guest powers off (PSCI
# SYSTEM_OFF, through TF-A or QEMU's own PSCI); `-no-reboot` turns a reset/panic-reboot into an
# exit as well.
# `-accel tcg,thread=single`: with MTTCG, 4 vCPUs on a 2-core host are ~10x slower (secondaries
# spin in TF-A's holding pen). `-cpu max,sme=off,sve=off`: TF-A is built with SME for NS/SWD
# off, and SVE traps secure FP (see docs/test-stack.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

usage() {
    die "usage: $0 (--flash F (--dtb D --kernel K [--initrd I] | --disk IMG) | --hypervisor H --dtb D --kernel K [--initrd I]) [--gic 2|3|4] [--iommu smmuv3|none] [--cpu MODEL] [--smp N] [--mem M] [--disk IMG] [--rng] [--secure-log FILE] [--mttcg] [--edu] [--interactive] [-- extra qemu args]"
}
FLASH='' HYP='' DTB='' KERNEL='' INITRD='' DISK='' SECLOG='' INTERACTIVE=0 TCG_THREAD=single
SMP=$QEMU_SMP MEM=$QEMU_MEM EDU=0 RNG=0
while [ $# -gt 0 ]; do
    case $1 in
        --flash) FLASH=${2:?}; shift 2 ;;
        --hypervisor) HYP=${2:?}; shift 2 ;;
        --dtb) DTB=${2:?}; shift 2 ;;
        --kernel) KERNEL=${2:?}; shift 2 ;;
        --initrd) INITRD=${2:?}; shift 2 ;;
        --disk) DISK=${2:?}; shift 2 ;;
        --gic) QEMU_GIC=${2:?}; shift 2 ;;
        --iommu) QEMU_IOMMU=${2:?}; [ "$QEMU_IOMMU" != none ] || QEMU_IOMMU=; shift 2 ;;
        --cpu) QEMU_CPU=$(qemu_cpu "${2:?}"); shift 2 ;;
        --rng) RNG=1; shift ;;
        --smp) SMP=${2:?}; shift 2 ;;
        --mem) MEM=${2:?}; shift 2 ;;
        --secure-log) SECLOG=${2:?}; shift 2 ;;
        --mttcg) TCG_THREAD=multi; shift ;;
        --edu) EDU=1; shift ;;
        --interactive) INTERACTIVE=1; shift ;;
        --) shift; break ;;
        *) usage ;;
    esac
done
# Exactly one of --flash / --hypervisor. --dtb and --kernel go together; a firmware boot without
# them needs a disk to boot from (U-Boot); --hypervisor needs them.
if [ -n "$FLASH" ] && [ -n "$HYP" ]; then die "--flash and --hypervisor exclude each other"; fi
if [ -z "$FLASH" ] && [ -z "$HYP" ]; then usage; fi
if { [ -n "$DTB" ] && [ -z "$KERNEL" ]; } || { [ -z "$DTB" ] && [ -n "$KERNEL" ]; }; then
    die "--dtb and --kernel go together"
fi
if [ -z "$DTB" ] && { [ -n "$HYP" ] || [ -z "$DISK" ]; }; then
    die "no --dtb/--kernel: only a --flash with a boot loader (U-Boot) and a --disk boots without them"
fi
if [ -n "$INITRD" ] && [ -z "$KERNEL" ]; then die "--initrd needs --kernel"; fi
[ -z "$HYP" ] || [ -z "$SECLOG" ] || die "--secure-log: there is no Secure world without firmware (--hypervisor)"
case $QEMU_GIC in 2|3|4) ;; *) die "--gic $QEMU_GIC: 2, 3 or 4" ;; esac
need_cmd qemu-system-aarch64 qemu-system-arm
[ -z "$FLASH" ] || need_file "$FLASH" "flash image (ci/mkflash.sh or ci/mkuboot.sh)"
[ -z "$HYP" ] || need_file "$HYP" "hypervisor image (make hypervisor)"
[ -z "$DTB" ] || need_file "$DTB" "device tree (ci/mkdtb.sh)"
[ -z "$KERNEL" ] || need_file "$KERNEL" "kernel Image (ci/fetch-kernel.sh)"
[ -z "$INITRD" ] || need_file "$INITRD" "initrd (ci/mkinitramfs.sh)"
[ -z "$DISK" ] || need_file "$DISK" "disk image (ci/mkuboot.sh)"
[[ $SMP =~ ^[1-4]$ ]] || die "--smp $SMP: TF-A and OP-TEE on qemu support 1..4 CPUs"
[[ $MEM =~ ^[0-9]+$ ]] || die "--mem $MEM: a number of MiB"

# The preloaded images must not overlap each other nor the hypervisor (at HYP_ADDR, or at
# DIRECT_HYP_ADDR with the DTB at DIRECT_DTB_ADDR without firmware).
ram_end=$((0x40000000 + MEM * 1024 * 1024))
[ "$ram_end" -gt $((HYP_ADDR + 0x1000000)) ] || die "--mem $MEM MiB: RAM ends below HYP_ADDR+16 MiB"
# For an arm64 Image (magic "ARM\x64" at 0x38) the header's image_size (le64 at 16) covers the
# BSS beyond the file size; any other payload counts with its file size.
is_image() { [ "$(od -An -tx1 -j 56 -N 4 "$1" | tr -d ' \n')" = 41524d64 ]; }
span() {   # FILE: bytes the image occupies once loaded
    local size isz
    size=$(stat -c %s "$1")
    if is_image "$1"; then
        isz=$(od -An -t u4 -j 16 -N 4 "$1" | tr -d ' ')
        if [ "$isz" -gt "$size" ]; then size=$isz; fi
    fi
    echo "$size"
}
kaddr=$KERNEL_ADDR initrd_limit=$HYP_ADDR initrd_limit_what="HYP_ADDR $HYP_ADDR"
if [ -n "$HYP" ]; then
    kaddr=$DIRECT_KERNEL_ADDR initrd_limit=$ram_end initrd_limit_what="the end of RAM"
    is_image "$HYP" || die "--hypervisor $HYP is not an arm64 Image (no ARM\\x64 magic)"
    [ "$(od -An -t u8 -j 8 -N 8 "$HYP" | tr -d ' ')" = 0 ] ||
        die "--hypervisor $HYP: text_offset is not 0, QEMU would not load it at $DIRECT_HYP_ADDR"
    [ $((DIRECT_HYP_ADDR + $(span "$HYP"))) -le $((DIRECT_DTB_ADDR)) ] ||
        die "hypervisor $HYP at $DIRECT_HYP_ADDR overlaps the DTB at $DIRECT_DTB_ADDR"
    # QEMU loads the -dtb with 10000 bytes of room to patch it (load_device_tree).
    [ $((DIRECT_DTB_ADDR + $(stat -c %s "$DTB") + 10000)) -le $((DIRECT_KERNEL_ADDR)) ] ||
        die "DTB $DTB at $DIRECT_DTB_ADDR overlaps DIRECT_KERNEL_ADDR $DIRECT_KERNEL_ADDR"
    # A DTB made for the firmware chains names the kernel at KERNEL_ADDR, where this DTB lands.
    if command -v fdtget >/dev/null && fdtget -l "$DTB" /chosen 2>/dev/null | grep -qx "module@$(hex "$KERNEL_ADDR")"; then
        die "DTB $DTB names a module at $KERNEL_ADDR (a firmware chain's DTB?); without firmware the kernel is at DIRECT_KERNEL_ADDR: make it with ci/mkdtb.sh -"
    fi
fi
if [ -n "$KERNEL" ]; then
    ksize=$(span "$KERNEL")
    [ $((kaddr + ksize)) -le $((INITRD_ADDR)) ] ||
        die "kernel $KERNEL (image_size $ksize) at $kaddr overlaps INITRD_ADDR $INITRD_ADDR"
fi
if [ -n "$INITRD" ]; then
    [ $((INITRD_ADDR + $(stat -c %s "$INITRD"))) -le $((initrd_limit)) ] ||
        die "initrd $INITRD at $INITRD_ADDR overlaps $initrd_limit_what"
fi

if [ -n "$HYP" ]; then machine=$(qemu_machine none); else machine=$(qemu_machine); fi
args=(
    -nographic -nic none -monitor none -no-reboot
    -machine "$machine"
    -cpu "$QEMU_CPU" -smp "$SMP" -m "$MEM"
    -accel "tcg,thread=$TCG_THREAD"
)
if [ -n "$HYP" ]; then
    args+=(-kernel "$HYP")
else
    args+=(-bios "$FLASH")
fi
[ -z "$DTB" ] || args+=(-dtb "$DTB")
[ -z "$KERNEL" ] || args+=(-device "loader,file=$KERNEL,addr=$kaddr,force-raw=on")
[ -z "$INITRD" ] || args+=(-device "loader,file=$INITRD,addr=$INITRD_ADDR,force-raw=on")
[ -z "$DISK" ] || args+=(-drive "if=none,file=$DISK,format=raw,readonly=on,id=disk0"
                         -device virtio-blk-pci,drive=disk0)
[ "$RNG" = 0 ] || args+=(-device virtio-rng-pci)
[ "$EDU" = 0 ] || args+=(-device edu,dma_mask=0xffffffffff)
if [ "$INTERACTIVE" = 1 ]; then
    args+=(-serial mon:stdio)
else
    args+=(-serial stdio)
fi
# UART1 is the Secure world's console; without firmware there is none (and no second UART).
if [ -n "$SECLOG" ]; then
    mkdir -p "$(dirname "$SECLOG")"
    args+=(-serial "file:$SECLOG")
elif [ -z "$HYP" ]; then
    args+=(-serial null)
fi
exec qemu-system-aarch64 "${args[@]}" "$@"
