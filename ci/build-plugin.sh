#!/bin/bash
# Build the el-counter QEMU TCG plugin: build/plugins/libel-counter.so
#
#   ci/build-plugin.sh            # cached: a no-op when the .so is up to date
#
# Debian ships no QEMU plugins and no qemu-plugin.h, so the header comes from Debian's `qemu`
# source package, of the same major.minor as the installed qemu-system-aarch64 (the plugin API
# version and the exported symbols follow the QEMU release; a 10.1+ header would make a plugin
# that QEMU 10.0 refuses). The version is resolved at run time: the installed package's own
# source version first, then every other version of the same major.minor that the deb-src
# indexes list, newest first, until one downloads (some pool files return 404 on the mirror).
# Only include/qemu/qemu-plugin.h is extracted and kept; the downloaded tarballs are deleted.
#
# Environment:
#   QEMU_PLUGIN_HEADER=/path/qemu-plugin.h   use this header, download nothing
#   QEMU_SRC_VERSION=1:10.0.13+ds-0+deb13u1  try only this source version
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

SRC=$ROOT_DIR/tools/el-counter/el-counter.c
OUT_DIR=$BUILD_DIR/plugins
OUT=$OUT_DIR/libel-counter.so
HDR_DIR=$OUT_DIR/include            # qemu-plugin.h + its version note
QEMU=${QEMU:-qemu-system-aarch64}

need_cmd "$QEMU" qemu-system-arm
need_cmd gcc gcc
need_cmd pkg-config pkg-config
pkg-config --exists glib-2.0 ||
    die "glib-2.0 development files not found (Debian package 'libglib2.0-dev' missing: run ci/install-packages.sh)"
need_file "$SRC" "the plugin's source"
mkdir -p "$OUT_DIR"

# One build at a time (make test and make bench may both call us).
exec 9>"$OUT_DIR/.lock"
flock 9

# "10.0" from "QEMU emulator version 10.0.2 (Debian ...)"
qemu_mm=$("$QEMU" --version | sed -n '1s/^QEMU emulator version \([0-9]*\.[0-9]*\).*/\1/p')
[ -n "$qemu_mm" ] || die "cannot parse the version of $QEMU: $("$QEMU" --version | head -1)"

# --- 1. the header -----------------------------------------------------------------------------
upstream_mm() {   # 1:10.0.13+ds-0+deb13u1 -> 10.0
    local v=${1#*:}
    v=${v%%[+~-]*}
    echo "${v%.*}"
}

fetch_header() {   # -> $HDR_DIR/qemu-plugin.h, $HDR_DIR/VERSION
    need_cmd apt-get apt
    local installed candidates=() v tmp tarball
    installed=$(dpkg-query -W -f='${source:Version}' qemu-system-arm 2>/dev/null || true)
    if [ -n "${QEMU_SRC_VERSION:-}" ]; then
        candidates=("$QEMU_SRC_VERSION")
    else
        local listed
        listed=$(apt-cache showsrc qemu 2>/dev/null | sed -n 's/^Version: //p' | sort -u)
        [ -n "$listed" ] ||
            die "apt knows no source package 'qemu': the deb-src entries (trixie/sid) are missing or apt-get update has not run (run ci/install-packages.sh)"
        [ -n "$installed" ] && [ "$(upstream_mm "$installed")" = "$qemu_mm" ] && candidates+=("$installed")
        while read -r v; do
            [ "$(upstream_mm "$v")" = "$qemu_mm" ] && [ "$v" != "$installed" ] && candidates+=("$v")
        done < <(printf '%s\n' "$listed" | sort -rV)
        [ ${#candidates[@]} -gt 0 ] ||
            die "no qemu $qemu_mm.x source package in the deb-src indexes (listed: $(echo $listed)); set QEMU_PLUGIN_HEADER or QEMU_SRC_VERSION"
    fi
    tmp=$(mktemp -d "$OUT_DIR/src.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    for v in "${candidates[@]}"; do
        note "apt-get source --download-only qemu=$v"
        if (cd "$tmp" && apt-get source -q --download-only "qemu=$v" >"$tmp/apt.log" 2>&1); then
            tarball=$(ls "$tmp"/qemu_*.orig.tar.* 2>/dev/null | head -1)
            [ -n "$tarball" ] || die "apt-get source qemu=$v downloaded no .orig tarball (see $tmp/apt.log)"
            mkdir -p "$HDR_DIR"
            tar -xOf "$tarball" --wildcards '*/include/qemu/qemu-plugin.h' > "$HDR_DIR/qemu-plugin.h.new" ||
                die "no include/qemu/qemu-plugin.h in $(basename "$tarball")"
            mv "$HDR_DIR/qemu-plugin.h.new" "$HDR_DIR/qemu-plugin.h"
            printf 'source=qemu=%s qemu=%s\n' "$v" "$qemu_mm" > "$HDR_DIR/VERSION"
            rm -rf "$tmp"
            trap - EXIT
            return 0
        fi
        note "  failed: $(grep -m1 -E '^(E|Err):' "$tmp/apt.log" || tail -n1 "$tmp/apt.log")"
        rm -f "$tmp"/qemu_*
    done
    die "could not download any qemu $qemu_mm.x source from Debian (tried: ${candidates[*]}); set QEMU_PLUGIN_HEADER=/path/qemu-plugin.h"
}

if [ -n "${QEMU_PLUGIN_HEADER:-}" ]; then
    need_file "$QEMU_PLUGIN_HEADER" "QEMU_PLUGIN_HEADER"
    hdr=$QEMU_PLUGIN_HEADER
    hdr_version="file=$QEMU_PLUGIN_HEADER"
else
    hdr=$HDR_DIR/qemu-plugin.h
    if [ ! -f "$hdr" ] || ! grep -q " qemu=$qemu_mm\$" "$HDR_DIR/VERSION" 2>/dev/null; then
        step "fetching qemu-plugin.h for QEMU $qemu_mm from Debian's qemu source package"
        fetch_header
    fi
    hdr_version=$(cat "$HDR_DIR/VERSION")
fi
api=$(sed -n 's/^#define QEMU_PLUGIN_VERSION \([0-9]*\).*/\1/p' "$hdr")
[ -n "$api" ] || die "$hdr does not define QEMU_PLUGIN_VERSION"

# --- 2. the plugin ------------------------------------------------------------------------------
CFLAGS=(-O2 -g -Wall -Wextra -Wno-unused-parameter -shared -fPIC)
cflags_glib=$(pkg-config --cflags glib-2.0)
libs_glib=$(pkg-config --libs glib-2.0)
key="$(sha256sum "$SRC" "$hdr" | awk '{print $1}' | tr '\n' ' ')${CFLAGS[*]} $cflags_glib $libs_glib $(gcc -dumpfullversion)"
if [ -f "$OUT" ] && [ "$(cat "$OUT.key" 2>/dev/null)" = "$key" ]; then
    step "up to date: ${OUT#"$ROOT_DIR"/} (plugin API $api, $hdr_version)"
    exit 0
fi
step "building ${OUT#"$ROOT_DIR"/} (plugin API $api, $hdr_version)"
# shellcheck disable=SC2086
gcc "${CFLAGS[@]}" -I"$(dirname "$hdr")" $cflags_glib "$SRC" -o "$OUT.tmp" $libs_glib
mv "$OUT.tmp" "$OUT"
printf '%s\n' "$key" > "$OUT.key"
