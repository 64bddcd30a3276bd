#!/bin/bash
# Make the crafted boot inputs of the "bad input" system tests (tests/system/tests/bad_input.rs):
# each names one thing the hypervisor must refuse with one `hyp: ERROR:` line and SYSTEM_OFF.
#
#   ci/mkbadinputs.sh <flash.bin> <outdir> [<hypervisor.bin>]
#
# Writes into <outdir> (the system tests get each path from the artifacts manifest, bad_* keys):
#   stub.Image               a 4 KiB arm64 Image: valid header (image_size 64 KiB), code0 `b .`.
#                            QEMU loads it at KERNEL_ADDR in every case; it is never entered
#                            unless the hypervisor wrongly accepts an input (then it spins, and
#                            the test times out).
#   no-kernel-module.dtb     /chosen has no module node at all.
#   not-an-Image.cpio.gz     the stack's initramfs (ci/stack.sh), to be loaded at INITRD_ADDR...
#   bad-magic.dtb            ...where /chosen/module@<INITRD_ADDR> names it as the kernel.
#   too-large.Image          4 KiB, a valid header whose image_size is 2 GiB (RAM is 1 GiB),
#                            to be loaded at INITRD_ADDR...
#   too-large.dtb            ...where /chosen/module@<INITRD_ADDR> names it as the kernel.
#                            (Not at KERNEL_ADDR: ci/qemu.sh refuses an Image whose image_size
#                            runs into INITRD_ADDR before QEMU even starts.)
#   no-cpus.dtb              a bootable tree (stub.Image as kernel) whose /cpus has no cpu nodes.
#   bad-cpu-reg.dtb          a bootable tree whose /cpus/cpu@1 reg is three cells.
#   bootable.dtb             a tree with nothing wrong (stub.Image as kernel), for the two
#                            flashes below, which damage the DTB in memory themselves:
#   missing-dtb.flash.bin    with <hypervisor.bin>: TF-A's flash whose BL33 is the shim
#                            ci/bad-dtb-bl33.S (MODE 1) and, 2 MiB after it, the hypervisor:
#                            the shim zeroes the DTB's magic before entering the hypervisor,
#                            so there is no device tree where the hypervisor looks;
#   corrupt-dtb.flash.bin    the same with MODE 2: the DTB's header is intact but its
#                            structure block starts with an invalid token.
#                            (A -dtb file that is itself damaged never gets that far: QEMU
#                            refuses to load it, and TF-A and OP-TEE rewrite the tree.)
#
# Why these DT corruptions: the hypervisor reads the DTB at 0x4000_0000 after QEMU, TF-A BL2 and
# OP-TEE have been through it. QEMU replaces every /memory node of a -dtb with its own (so a
# broken /memory never reaches the hypervisor); TF-A (libfdt: fdt_open_into/fdt_pack) repacks
# the blob, so header and block-layout damage either stops TF-A or is repaired. /cpus is read
# by neither firmware in a way that fails: TF-A only adds enable-method to the cpu nodes it
# finds, and OP-TEE does not look. Both trees are well-formed FDTs (dtc round trip below).
#
# QEMU_SMP / QEMU_MEM: as for ci/mkdtb.sh, they must match what the tests boot (ci/qemu.sh's
# defaults, from ci/config.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

[ $# -eq 2 ] || [ $# -eq 3 ] || die "usage: $0 <flash.bin> <outdir> [<hypervisor.bin>]"
FLASH=$1 OUT=$2 HYP=${3:-}
need_cmd fdtput device-tree-compiler
need_cmd fdtget device-tree-compiler
need_cmd dtc device-tree-compiler
need_file "$FLASH" "flash image (ci/mkflash.sh)"
need_file "$STACK_ENV" "the test stack's paths: run ci/stack.sh (make stack)"
# shellcheck disable=SC1090
source "$STACK_ENV"
need_file "$INITRAMFS" "the stack's initramfs (ci/stack.sh)"

mkdir -p "$OUT"
tmp=$(mktemp -d "$OUT/.mkbadinputs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- arm64 Image headers (Documentation/arch/arm64/booting.rst) ----------------------------
le32() {
    local v=$(($1))
    # shellcheck disable=SC2059
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((v & 255)) $((v >> 8 & 255)) \
        $((v >> 16 & 255)) $((v >> 24 & 255)))"
}
le64() { le32 $(($1 & 0xffffffff)); le32 $((($1 >> 32) & 0xffffffff)); }
# image FILE IMAGE_SIZE: a FILE of 4 KiB, header with code0 = `b .`, text_offset 0, the given
# image_size, flags 0xa (LE, 4 KiB pages, anywhere), magic "ARM\x64", no PE header.
image() {
    local file=$1 image_size=$2
    {
        le32 0x14000000                 # code0: b .
        le32 0                          # code1
        le64 0                          # text_offset
        le64 "$image_size"              # image_size
        le64 0xa                        # flags
        le64 0; le64 0; le64 0          # res2..res4
        le32 0x644d5241                 # magic "ARM\x64"
        le32 0                          # res5 (PE/COFF offset)
    } >"$file"
    truncate -s 4096 "$file"
    # Read back what ci/qemu.sh and the hypervisor read.
    [ "$(od -An -t x4 -j 56 -N 4 "$file" | tr -d ' ')" = 644d5241 ] || die "$file: magic"
    [ "$(od -An -t u8 -j 16 -N 8 "$file" | tr -d ' ')" = "$((image_size))" ] ||
        die "$file: image_size"
}

# --- DT helpers -------------------------------------------------------------------------------
# kernel_in_initrd_slot DTB: the tree from `mkdtb.sh stub X` has module@KERNEL_ADDR (kernel) and
# module@INITRD_ADDR (ramdisk); drop the former and make the latter the kernel.
kernel_in_initrd_slot() {
    fdtput -r "$1" "/chosen/module@$(hex "$KERNEL_ADDR")"
    fdtput -t s "$1" "/chosen/module@$(hex "$INITRD_ADDR")" compatible \
        multiboot,kernel multiboot,module
}
# finish DTB OUT: validate and pack through dtc (as ci/mkdtb.sh does), then move into place.
finish() {
    dtc -q -I dtb -O dtb -o "$tmp/packed.dtb" "$1" || die "dtc rejects $1"
    mv "$tmp/packed.dtb" "$2"
}
mkdtb() { bash "$CI_DIR/mkdtb.sh" "$FLASH" "$@" >/dev/null; }

# --- the inputs -------------------------------------------------------------------------------
image "$OUT/stub.Image" 0x10000
image "$OUT/too-large.Image" 0x80000000
cp "$INITRAMFS" "$OUT/not-an-Image.cpio.gz"
magic=$(od -An -t x4 -j 56 -N 4 "$OUT/not-an-Image.cpio.gz" | tr -d ' ')
[ "$magic" != 644d5241 ] || die "$INITRAMFS has the arm64 Image magic at 0x38"

# 1. No kernel module node.
mkdtb "$OUT/stub.Image" - "bad-input" "$tmp/base.dtb"
cp "$tmp/base.dtb" "$tmp/no-module.dtb"
fdtput -r "$tmp/no-module.dtb" "/chosen/module@$(hex "$KERNEL_ADDR")"
[ -z "$(fdtget -l "$tmp/no-module.dtb" /chosen)" ] || die "no-kernel-module.dtb: /chosen has children"
finish "$tmp/no-module.dtb" "$OUT/no-kernel-module.dtb"

# 2. The kernel module is an initramfs (gzip), not an Image.
mkdtb "$OUT/stub.Image" "$OUT/not-an-Image.cpio.gz" "bad-input" "$tmp/bad-magic.dtb"
kernel_in_initrd_slot "$tmp/bad-magic.dtb"
finish "$tmp/bad-magic.dtb" "$OUT/bad-magic.dtb"

# 3. A valid header whose image_size (2 GiB) exceeds all of RAM.
mkdtb "$OUT/stub.Image" "$OUT/too-large.Image" "bad-input" "$tmp/too-large.dtb"
kernel_in_initrd_slot "$tmp/too-large.dtb"
finish "$tmp/too-large.dtb" "$OUT/too-large.dtb"

# 4a. /cpus without a single cpu node (cpu-map goes too: its phandles would dangle).
cp "$tmp/base.dtb" "$tmp/no-cpus.dtb"
for node in $(fdtget -l "$tmp/no-cpus.dtb" /cpus); do
    fdtput -r "$tmp/no-cpus.dtb" "/cpus/$node"
done
[ -z "$(fdtget -l "$tmp/no-cpus.dtb" /cpus)" ] || die "no-cpus.dtb: /cpus still has children"
finish "$tmp/no-cpus.dtb" "$OUT/no-cpus.dtb"

# 4b. One cpu node's reg is three cells (/cpus has #address-cells 1, #size-cells 0).
cp "$tmp/base.dtb" "$tmp/bad-cpu-reg.dtb"
fdtget "$tmp/bad-cpu-reg.dtb" /cpus/cpu@1 reg >/dev/null || die "QEMU's DTB has no /cpus/cpu@1"
fdtput -t x "$tmp/bad-cpu-reg.dtb" /cpus/cpu@1 reg 0 1 0
finish "$tmp/bad-cpu-reg.dtb" "$OUT/bad-cpu-reg.dtb"

# 5. A bootable tree, and the flashes whose BL33 shim damages it in memory.
finish "$tmp/base.dtb" "$OUT/bootable.dtb"
shims=""
if [ -n "$HYP" ]; then
    need_file "$HYP" "the hypervisor image (make hypervisor)"
    need_cmd aarch64-linux-gnu-as binutils-aarch64-linux-gnu
    need_cmd aarch64-linux-gnu-objcopy binutils-aarch64-linux-gnu
    for case in 1:missing 2:corrupt; do
        mode=${case%%:*} name=${case#*:}
        aarch64-linux-gnu-as --defsym MODE="$mode" -o "$tmp/shim-$name.o" "$CI_DIR/bad-dtb-bl33.S"
        aarch64-linux-gnu-objcopy -O binary "$tmp/shim-$name.o" "$tmp/shim-$name.bin"
        [ "$(stat -c %s "$tmp/shim-$name.bin")" -le 4096 ] || die "shim-$name.bin is larger than 4 KiB"
        # The shim, zeros up to 2 MiB, then the hypervisor image.
        truncate -s $((0x200000)) "$tmp/shim-$name.bin"
        cat "$tmp/shim-$name.bin" "$HYP" > "$tmp/bl33-$name.bin"
        bash "$CI_DIR/mkflash.sh" "$tmp/bl33-$name.bin" "$OUT/$name-dtb.flash.bin" >/dev/null
    done
    shims=", bootable.dtb with missing-dtb.flash.bin and corrupt-dtb.flash.bin"
fi

step "$OUT: stub.Image, no-kernel-module.dtb, bad-magic.dtb (+ not-an-Image.cpio.gz, magic" \
    "0x$magic), too-large.dtb (+ too-large.Image, image_size 0x80000000), no-cpus.dtb," \
    "bad-cpu-reg.dtb$shims"
