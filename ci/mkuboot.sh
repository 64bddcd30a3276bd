#!/bin/bash
# The U-Boot boot chain's inputs: TF-A -> U-Boot (BL33) -> boot.scr on a disk -> booti the
# hypervisor -> Linux. What a user with an SD card or a USB stick does, with nothing typed.
#
#   ci/mkuboot.sh [--gic 2|3] <hypervisor.bin> <kernel-image> <initrd|-> "<bootargs>" <outdir>
#
# Writes into <outdir>:
#   flash.bin   TF-A BL1 + FIP (OP-TEE as SPMC) with BL33 = Debian's U-Boot for QEMU
#               (/usr/lib/u-boot/qemu_arm64/u-boot.bin, package u-boot-qemu), by ci/mkflash.sh
#               from the cached TF-A build of that GIC version. BL2 loads U-Boot at 0x6000_0000;
#               U-Boot relocates itself to the top of RAM, so HYP_ADDR is free again for booti.
#   disk.img    a raw disk: MBR, one bootable FAT32 partition (1 MiB in) holding
#               hypervisor.bin, Image, initrd.img (unless "-"), boot.scr and boot.cmd.
#               Made without root: mkfs.vfat --offset + mtools on the file (no loop mount).
#   boot.cmd    the script's source (also on the disk); boot.scr = `mkimage -T script` of it.
#
# ci/qemu.sh --flash <outdir>/flash.bin --disk <outdir>/disk.img [--gic N] boots it: the disk is
# a virtio-blk device, U-Boot's default `bootcmd` (distro boot: qfw usb0 scsi0 virtio0 ...) finds
# /boot.scr on virtio 0:1 after its 2 s autoboot countdown and runs it. The script loads the
# three images at KERNEL_ADDR / INITRD_ADDR / HYP_ADDR (ci/config.sh), copies U-Boot's control
# DT (${fdtcontroladdr}: QEMU's DT as TF-A and OP-TEE patched it) to UBOOT_DTB_ADDR, adds the
# /chosen module nodes with `fdt` commands (Xen's multiboot convention, as ci/mkdtb.sh does) and
# runs `booti HYP_ADDR - UBOOT_DTB_ADDR`: U-Boot enters the hypervisor at EL2 with x0 = the DTB
# (which booti first moves near the top of RAM). No U-Boot environment is saved or changed.
#
# Takes well under a second (no caching needed): the FAT image is written sparsely.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

usage="usage: $0 [--gic 2|3] <hypervisor.bin> <kernel-image> <initrd|-> \"<bootargs>\" <outdir>"
GIC=3
if [ "${1:-}" = --gic ]; then [ $# -ge 2 ] || die "$usage"; GIC=$2; shift 2; fi
[ $# -eq 5 ] || die "$usage"
HYP=$1 KERNEL=$2 INITRD=$3 BOOTARGS=$4 OUT=$5
UBOOT=${UBOOT_BIN:-/usr/lib/u-boot/qemu_arm64/u-boot.bin}

need_cmd mkimage u-boot-tools
need_cmd mkfs.vfat dosfstools
need_cmd mcopy mtools
need_file "$UBOOT" "U-Boot for QEMU arm64 (Debian package 'u-boot-qemu': run ci/install-packages.sh)"
need_file "$HYP" "the hypervisor image (make hypervisor)"
need_file "$KERNEL" "kernel Image"
[ "$INITRD" = - ] || need_file "$INITRD" "initrd (or '-' for none)"
# The script's strings are U-Boot hush double-quoted strings: keep them literal.
case $BOOTARGS in *[\"\$\\]*|*$'\n'*) die "bootargs may not contain \", \$, \\ or a newline: $BOOTARGS" ;; esac

# --- what goes where: the same checks as ci/qemu.sh's for the QEMU loaders -----------------
is_image() { [ "$(od -An -tx1 -j 56 -N 4 "$1" | tr -d ' \n')" = 41524d64 ]; }
span() {   # FILE: bytes once loaded (an arm64 Image's image_size covers its BSS)
    local size isz
    size=$(stat -c %s "$1")
    if is_image "$1"; then
        isz=$(od -An -t u8 -j 16 -N 8 "$1" | tr -d ' ')
        if [ "$isz" -gt "$size" ]; then size=$isz; fi
    fi
    echo "$size"
}
is_image "$HYP" || die "$HYP is not an arm64 Image (booti needs the header)"
is_image "$KERNEL" || die "$KERNEL is not an arm64 Image"
[ $((KERNEL_ADDR + $(span "$KERNEL"))) -le $((INITRD_ADDR)) ] ||
    die "kernel $KERNEL (image_size $(span "$KERNEL")) at $KERNEL_ADDR overlaps INITRD_ADDR $INITRD_ADDR"
if [ "$INITRD" != - ]; then
    [ $((INITRD_ADDR + $(stat -c %s "$INITRD"))) -le $((HYP_ADDR)) ] ||
        die "initrd $INITRD at $INITRD_ADDR overlaps HYP_ADDR $HYP_ADDR"
fi
[ $((UBOOT_DTB_ADDR + 0x100000)) -le $((KERNEL_ADDR)) ] || die "UBOOT_DTB_ADDR + 1 MiB overlaps KERNEL_ADDR"

mkdir -p "$OUT"
tmp=$(mktemp -d "$OUT/.mkuboot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- 1. flash: TF-A with U-Boot as BL33 ----------------------------------------------------
"$CI_DIR/mkflash.sh" --gic "$GIC" "$UBOOT" "$tmp/flash.bin" >/dev/null

# --- 2. boot.cmd / boot.scr ----------------------------------------------------------------
# U-Boot's distro boot sets devtype, devnum, distro_bootpart and prefix before `source`.
kmod=/chosen/module@$(hex "$KERNEL_ADDR") imod=/chosen/module@$(hex "$INITRD_ADDR")
# shellcheck disable=SC2016  # U-Boot expands these, not bash
from='${devtype} ${devnum}:${distro_bootpart}'
{
    cat <<EOF
# ffa-hyp boot script, made by ci/mkuboot.sh; U-Boot's distro boot runs it as boot.scr.
# Loads the hypervisor, the host kernel and initrd from this partition, adds the /chosen
# module nodes (Xen's multiboot convention) to U-Boot's own DT and boots the hypervisor.
# (U-Boot 2023.01's hush ignores `exit` in a script: a failed load clears ffa_hyp_loaded.)
echo "ffa-hyp boot.scr: loading from $from"
setenv ffa_hyp_loaded 1
load $from $HYP_ADDR \${prefix}hypervisor.bin || setenv ffa_hyp_loaded 0
load $from $KERNEL_ADDR \${prefix}Image || setenv ffa_hyp_loaded 0
setenv ffa_hyp_kernel_size 0x\${filesize}
EOF
    if [ "$INITRD" != - ]; then
        cat <<EOF
load $from $INITRD_ADDR \${prefix}initrd.img || setenv ffa_hyp_loaded 0
setenv ffa_hyp_initrd_size 0x\${filesize}
EOF
    fi
    cat <<EOF
fdt addr \${fdtcontroladdr}
fdt move \${fdtcontroladdr} $UBOOT_DTB_ADDR 0x100000
fdt set /chosen '#address-cells' <2>
fdt set /chosen '#size-cells' <2>
fdt mknode /chosen module@$(hex "$KERNEL_ADDR")
fdt set $kmod compatible "multiboot,kernel" "multiboot,module"
fdt set $kmod reg <0x0 $KERNEL_ADDR 0x0 \${ffa_hyp_kernel_size}>
fdt set $kmod bootargs "$BOOTARGS"
EOF
    if [ "$INITRD" != - ]; then
        cat <<EOF
fdt mknode /chosen module@$(hex "$INITRD_ADDR")
fdt set $imod compatible "multiboot,ramdisk" "multiboot,module"
fdt set $imod reg <0x0 $INITRD_ADDR 0x0 \${ffa_hyp_initrd_size}>
EOF
    fi
    cat <<EOF
if test "\${ffa_hyp_loaded}" = 1; then echo "ffa-hyp boot.scr: booti $HYP_ADDR - $UBOOT_DTB_ADDR"; else echo "ffa-hyp boot.scr: ERROR: a file did not load (above), not booting"; fi
if test "\${ffa_hyp_loaded}" = 1; then booti $HYP_ADDR - $UBOOT_DTB_ADDR; fi
EOF
} > "$tmp/boot.cmd"
SOURCE_DATE_EPOCH=0 mkimage -A arm64 -O linux -T script -C none -n "ffa-hyp boot" \
    -d "$tmp/boot.cmd" "$tmp/boot.scr" >/dev/null || die "mkimage failed on $tmp/boot.cmd"

# --- 3. disk: MBR + FAT32 partition, written as a sparse file -------------------------------
files=("$HYP" "$KERNEL" "$tmp/boot.scr" "$tmp/boot.cmd")
[ "$INITRD" = - ] || files+=("$INITRD")
total=0
for f in "${files[@]}"; do total=$((total + $(stat -c %s "$f"))); done
part_mib=$(( total / 1048576 + 16 ))
[ "$part_mib" -ge 64 ] || part_mib=64          # FAT32 wants >= 65525 clusters
part_sectors=$((part_mib * 2048))
le32() {
    local v=$(($1))
    # shellcheck disable=SC2059
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((v & 255)) $((v >> 8 & 255)) \
        $((v >> 16 & 255)) $((v >> 24 & 255)))"
}
disk=$tmp/disk.img
truncate -s $(( (part_mib + 1) * 1048576 )) "$disk"
{
    head -c 440 /dev/zero
    le32 0x70796866; printf '\x00\x00'           # disk signature "ffyp", reserved
    # partition 1: active, CHS unused (LBA only), type 0x0c (FAT32 LBA), LBA 2048, size
    printf '\x80\xfe\xff\xff\x0c\xfe\xff\xff'; le32 2048; le32 "$part_sectors"
    head -c 48 /dev/zero                          # partitions 2..4: empty
    printf '\x55\xaa'
} | dd of="$disk" conv=notrunc status=none
run_logged "$tmp/mkfs.log" mkfs.vfat -F 32 --invariant -n FFA-HYP --offset 2048 "$disk" $((part_mib * 1024))
export MTOOLS_SKIP_CHECK=1
img="$disk@@1M"
mcopy -i "$img" "$HYP" ::hypervisor.bin
mcopy -i "$img" "$KERNEL" ::Image
[ "$INITRD" = - ] || mcopy -i "$img" "$INITRD" ::initrd.img
mcopy -i "$img" "$tmp/boot.scr" "$tmp/boot.cmd" ::
mdir -i "$img" -b :: | grep -q 'boot.scr' || die "boot.scr is not on $disk"

mv "$tmp/flash.bin" "$OUT/flash.bin"
mv "$tmp/boot.cmd" "$OUT/boot.cmd"
mv "$disk" "$OUT/disk.img"
ver=$(set +o pipefail; strings "$UBOOT" | grep -m1 -o 'U-Boot 20[^ ]*')
step "$OUT/{flash.bin,disk.img,boot.cmd}: TF-A (GICv$GIC) -> ${ver:-U-Boot} -> boot.scr -> booti $(basename "$HYP") @$HYP_ADDR (kernel @$KERNEL_ADDR$([ "$INITRD" = - ] || echo ", initrd @$INITRD_ADDR"), bootargs \"$BOOTARGS\")"
