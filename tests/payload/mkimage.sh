#!/usr/bin/env bash
# Turn the EL1 test payload's ELF into a raw arm64 Image, after checking what the entry code
# relies on.
#
#   tests/payload/mkimage.sh [ELF [OUT]]
#
# ELF defaults to the release build (built first when no ELF is given):
#   cargo build -p el1-payload --release --target aarch64-unknown-none
# OUT defaults to build/payload.bin (the Makefile's PAYLOAD_BIN).
#
# Checks, each fatal:
# - every dynamic relocation is R_AARCH64_RELATIVE (the only kind the entry code applies);
# - the Image header: branch in code0, text_offset 0, image_size >= file size, flags 0xa
#   (LE, 4K, anywhere), magic "ARM\x64" at 0x38.
#
# Tools: aarch64-linux-gnu-objcopy/-readelf from Debian's binutils-aarch64-linux-gnu
# (installed by ci/install-packages.sh). Override with OBJCOPY=... READELF=... (for example
# llvm-objcopy / llvm-readelf).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET=aarch64-unknown-none
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OBJCOPY=${OBJCOPY:-aarch64-linux-gnu-objcopy}
READELF=${READELF:-aarch64-linux-gnu-readelf}

die() { echo "mkimage.sh: $*" >&2; exit 1; }

for tool in "$OBJCOPY" "$READELF"; do
    command -v "$tool" >/dev/null ||
        die "'$tool' not found: install Debian's binutils-aarch64-linux-gnu (bash ci/install-packages.sh), or set OBJCOPY/READELF"
done

if [ $# -ge 1 ]; then
    ELF=$1
else
    (cd "$ROOT" && cargo build -p el1-payload --release --target "$TARGET")
    ELF=$TARGET_DIR/$TARGET/release/el1-payload
fi
OUT=${2:-${BUILD_DIR:-$ROOT/build}/payload.bin}
[ -f "$ELF" ] || die "no ELF at $ELF"

# 1. Relocations: only R_AARCH64_RELATIVE, or the entry code parks the CPU before printing.
bad=$("$READELF" -rW "$ELF" 2>/dev/null | awk '/^[0-9a-f]+ +[0-9a-f]+ +R_/ && $3 != "R_AARCH64_RELATIVE" { print $3 }' | sort -u)
[ -z "$bad" ] || die "$ELF has relocations the entry code cannot apply: $bad"

mkdir -p "$(dirname "$OUT")"
"$OBJCOPY" -O binary "$ELF" "$OUT.tmp"

# 2. The Image header (booting.rst), read back from the flat binary.
le64() { od -An -t u8 -j "$1" -N 8 "$OUT.tmp" | tr -d ' '; }
size=$(stat -c %s "$OUT.tmp")
code0=$(od -An -t x4 -j 0 -N 4 "$OUT.tmp" | tr -d ' ')
text_offset=$(le64 8)
image_size=$(le64 16)
flags=$(le64 24)
magic=$(od -An -c -j 56 -N 4 "$OUT.tmp" | tr -d ' ')
[ $(( 0x$code0 >> 26 )) -eq 5 ] || die "code0 ($code0) is not a branch"
[ "$text_offset" -eq 0 ] || die "text_offset is $text_offset, want 0"
[ "$image_size" -ge "$size" ] || die "image_size $image_size < file size $size"
[ "$flags" -eq 10 ] || die "flags are $flags, want 0xa (LE, 4K pages, anywhere)"
[ "$magic" = 'ARMd' ] || die "no ARM\\x64 magic at 0x38 (got '$magic')"

mv "$OUT.tmp" "$OUT"
printf 'mkimage.sh: %s (%d bytes, image_size %#x)\n' "$OUT" "$size" "$image_size"
