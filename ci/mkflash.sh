#!/bin/bash
# Assemble QEMU's flash image (-bios) from the cached TF-A build and a BL33 (the hypervisor):
#
#   ci/mkflash.sh [--gic 2|3] [--spmc el1|el3] <bl33.bin> <out/flash.bin>
#
#   --gic 2: from the GICv2 build ($STACK_DIR/tfa-gicv2, `ci/build-secure-world.sh --gic 2`),
#   for `-machine gic-version=2`; default 3 ($STACK_DIR/tfa). --spmc el3: from the build with
#   TF-A's EL3 SPMC and OP-TEE as its partition ($STACK_DIR/tfa-el3spmc-patched,
#   `ci/build-secure-world.sh --spmc el3`); default el1 (OP-TEE as SPMC). BL33 may also be U-Boot
#   (ci/mkuboot.sh: /usr/lib/u-boot/qemu_arm64/u-boot.bin, which relocates itself).
#
#   flash.bin = bl1.bin at offset 0 + fip.bin at 256 KiB (TF-A PLAT=qemu reads the FIP there:
#   PLAT_QEMU_FIP_BASE = 0x40000 in flash0). The FIP is a copy of $STACK_DIR/tfa/fip.bin whose
#   NT firmware (BL33) is replaced with `fiptool update --nt-fw`. TF-A BL2 loads BL33 to
#   0x6000_0000 (HYP_ADDR) and enters it at EL2 with x0 = 0 (see ci/build-secure-world.sh).
# Takes well under a second: rebuilding the hypervisor never rebuilds TF-A.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

usage="usage: $0 [--gic 2|3] [--spmc el1|el3] <bl33.bin> <out/flash.bin>"
GIC=3 SPMC=el1
while [ $# -gt 2 ]; do
    case $1 in
        --gic) GIC=$2; shift 2 ;;
        --spmc) SPMC=$2; shift 2 ;;
        *) die "$usage" ;;
    esac
done
[ $# -eq 2 ] || die "$usage"
BL33=$1; OUT=$2
TFA_DIR=$(tfa_dir "$GIC" "$SPMC")
build_opts=$([ "$GIC" = 3 ] || echo " --gic $GIC")$([ "$SPMC" = el1 ] || echo " --spmc $SPMC")
FIP_OFFSET=$((256 * 1024))
need_file "$BL33" "the BL33 image given on the command line"
for f in bl1.bin fip.bin fiptool; do
    need_file "$TFA_DIR/$f" "TF-A build output, run ci/build-secure-world.sh$build_opts (or ci/stack.sh)"
done
bl1_size=$(stat -c %s "$TFA_DIR/bl1.bin")
[ "$bl1_size" -le "$FIP_OFFSET" ] || die "bl1.bin ($bl1_size bytes) overlaps the FIP at $FIP_OFFSET"
[ -s "$BL33" ] || die "BL33 image $BL33 is empty"

mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp -d "$(dirname "$OUT")/.mkflash.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$TFA_DIR/fip.bin" "$tmp/fip.bin"
"$TFA_DIR/fiptool" update --nt-fw "$BL33" "$tmp/fip.bin" >/dev/null ||
    die "fiptool update --nt-fw $BL33 failed"
# flash = bl1 | zero padding up to 256 KiB | fip
cp "$TFA_DIR/bl1.bin" "$tmp/flash.bin"
truncate -s "$FIP_OFFSET" "$tmp/flash.bin"
cat "$tmp/fip.bin" >> "$tmp/flash.bin"
mv "$tmp/flash.bin" "$OUT"
step "$OUT: bl1 + fip (GICv$GIC, SPMC $SPMC) with BL33 $(basename "$BL33") ($(stat -c %s "$BL33") bytes) at 0x40000"
