#!/bin/bash
# Assemble QEMU's flash image (-bios) from the cached TF-A build and a BL33 (the hypervisor):
#
#   ci/mkflash.sh <bl33.bin> <out/flash.bin>
#
#   flash.bin = bl1.bin at offset 0 + fip.bin at 256 KiB (TF-A PLAT=qemu reads the FIP there:
#   PLAT_QEMU_FIP_BASE = 0x40000 in flash0). The FIP is a copy of $STACK_DIR/tfa/fip.bin whose
#   NT firmware (BL33) is replaced with `fiptool update --nt-fw`. TF-A BL2 loads BL33 to
#   0x6000_0000 (HYP_ADDR) and enters it at EL2 with x0 = 0 (see ci/build-secure-world.sh).
# Takes well under a second: rebuilding the hypervisor never rebuilds TF-A.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

[ $# -eq 2 ] || die "usage: $0 <bl33.bin> <out/flash.bin>"
BL33=$1; OUT=$2
FIP_OFFSET=$((256 * 1024))
need_file "$BL33" "the BL33 image given on the command line"
for f in bl1.bin fip.bin fiptool; do
    need_file "$TFA_DIR/$f" "TF-A build output, run ci/build-secure-world.sh (or ci/stack.sh)"
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
step "$OUT: bl1 + fip with BL33 $(basename "$BL33") ($(stat -c %s "$BL33") bytes) at 0x40000"
