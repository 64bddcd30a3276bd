#!/bin/bash
# Fetch OP-TEE's test suite and the user space it needs (Debian sid, arm64) with `apt-get download`,
# for the xtest initramfs (ci/mkinitramfs-xtest.sh).
#
#   ci/fetch-xtest-debs.sh        # resolves sid's current versions on the first run, then cached
#
# Output in $STACK_DIR/xtest/ (sid rolls and old versions vanish from the mirror, so the .debs are
# kept and a cached stack keeps working; `rm -rf build/stack/xtest` moves to sid's newest):
#   debs/*.deb      one .deb per package below, all from sid (one consistent suite: glibc, OpenSSL)
#   debs.list       "package version file" per line, written last (its presence = the cache is whole)
#
# Packages: optee-test-qemu (xtest, its 20 trusted applications signed with OP-TEE's default
# development key, which our OP-TEE build accepts, and the supplicant plugin xtest 1033 loads),
# tee-supplicant, libteec2, libckteec0t64 (PKCS#11 client), and their run-time closure: libssl3t64
# (xtest needs libcrypto.so.3), zlib1g and libzstd1 (libcrypto's NEEDED), libc6, libgcc-s1.
# Every Depends/Pre-Depends of every fetched package must be met by another fetched package (with
# its version constraint) or be one of NOT_NEEDED (packages without files the initramfs uses);
# anything else stops the script, naming the package: a new dependency in sid must be looked at,
# not silently left out.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"
stack_lock

XTEST_SUITE=${XTEST_SUITE:-sid}
XTEST_DIR=$STACK_DIR/xtest
DEBS=$XTEST_DIR/debs
LIST=$XTEST_DIR/debs.list
PACKAGES=(optee-test-qemu tee-supplicant libteec2 libckteec0t64 libssl3t64 zlib1g libzstd1 libc6 libgcc-s1)
# Declared dependencies with nothing the initramfs needs at run time:
#   gcc-N-base (libgcc-s1: docs only), libc-gconv-modules-extra (libc6: iconv modules, unused),
#   openssl-provider-legacy (libssl3t64: the legacy provider module, loaded only on request).
NOT_NEEDED_RE='^(gcc-[0-9]+-base|libc-gconv-modules-extra|openssl-provider-legacy)$'

mkdir -p "$DEBS" "$STACK_DIR/logs"
need_cmd apt-get apt
need_cmd dpkg-deb dpkg
dpkg --print-foreign-architectures | grep -qx arm64 ||
    die "dpkg has no arm64 architecture: run ci/install-packages.sh first"

cache_ok() {
    [ -f "$LIST" ] || return 1
    local pkg ver file n=0
    while read -r pkg ver file; do
        [ -f "$DEBS/$file" ] || return 1
        n=$((n + 1))
    done < "$LIST"
    [ "$n" = ${#PACKAGES[@]} ]
}
if cache_ok; then
    step "xtest packages: cached in $DEBS ($(awk '$1 == "optee-test-qemu" { print $1, $2 }' "$LIST"))"
    exit 0
fi

# --- 1. versions: the newest of each package in $XTEST_SUITE's arm64 index ------------------------
t0=$(now)
declare -A VERSION=()
# One apt-cache call for all (each call reads the whole index: ~2 s). madison lists the newest
# version of each package first.
while read -r pkg v; do
    [ -n "${VERSION[$pkg]:-}" ] || VERSION[$pkg]=$v
done < <(apt-cache madison "${PACKAGES[@]/%/:arm64}" |
         awk -F'|' -v s=" $XTEST_SUITE/" 'index($3, s) { gsub(/ /, "", $1); gsub(/ /, "", $2); sub(/:arm64$/, "", $1); print $1, $2 }')
for pkg in "${PACKAGES[@]}"; do
    [ -n "${VERSION[$pkg]:-}" ] || die "no $pkg:arm64 from $XTEST_SUITE in the apt indexes (run ci/install-packages.sh: it adds sid's arm64 index)"
done
step "xtest packages from $XTEST_SUITE: optee-test-qemu ${VERSION[optee-test-qemu]}, tee-supplicant ${VERSION[tee-supplicant]}, libc6 ${VERSION[libc6]}"

# --- 2. download (explicit =version: sid is pinned to priority 1 and never chosen by itself) -------
rm -f "$LIST"
# apt-get download names the file pkg_version_arch.deb (the epoch's ':' as '%3a').
cached_deb() {   # pkg -> the cached .deb of VERSION[pkg], if any (others are removed)
    local f
    f=$(ls "$DEBS/${1}_"*_arm64.deb 2>/dev/null | head -1 || true)
    if [ -n "$f" ] && [ "$(dpkg-deb -f "$f" Version)" != "${VERSION[$1]}" ]; then
        rm -f "$f"; f=
    fi
    printf '%s' "$f"
}
missing=()
for pkg in "${PACKAGES[@]}"; do
    [ -n "$(cached_deb "$pkg")" ] || missing+=("$pkg:arm64=${VERSION[$pkg]}")
done
if [ ${#missing[@]} -gt 0 ]; then
    # One call: apt reads its indexes once (~2 s per call).
    note "apt-get download ${missing[*]}"
    (cd "$DEBS" && apt_retry "$STACK_DIR/logs/download-xtest.log" apt-get download -q "${missing[@]}")
fi
declare -A FILE=()
for pkg in "${PACKAGES[@]}"; do
    f=$(cached_deb "$pkg")
    [ -n "$f" ] || die "apt-get download $pkg:arm64=${VERSION[$pkg]} produced no .deb (see $STACK_DIR/logs/download-xtest.log)"
    FILE[$pkg]=$(basename "$f")
done

# --- 3. the closure: every dependency met by a fetched package (or deliberately left out) --------
satisfied() {   # "name (op ver)" -> 0 when a fetched package meets it or it is NOT_NEEDED
    local dep=$1 name op ver
    name=$(sed -E 's/^ *([^ (:]+).*/\1/' <<<"$dep")
    [[ $name =~ $NOT_NEEDED_RE ]] && return 0
    [ -n "${VERSION[$name]:-}" ] || return 1
    if [[ $dep =~ \((<<|<=|=|>=|>>)\ *([^\)]+)\) ]]; then
        op=${BASH_REMATCH[1]} ver=${BASH_REMATCH[2]}
        case $op in '<<') op=lt ;; '<=') op=le ;; '=') op=eq ;; '>=') op=ge ;; '>>') op=gt ;; esac
        dpkg --compare-versions "${VERSION[$name]}" "$op" "$ver" || return 1
    fi
}
for pkg in "${PACKAGES[@]}"; do
    deps=$( (dpkg-deb -f "$DEBS/${FILE[$pkg]}" Pre-Depends; dpkg-deb -f "$DEBS/${FILE[$pkg]}" Depends) |
            tr ',' '\n' | sed '/^ *$/d')
    while IFS= read -r dep; do
        ok=1
        IFS='|' read -ra alternatives <<<"$dep"
        for alt in "${alternatives[@]}"; do satisfied "$alt" && { ok=0; break; }; done
        [ "$ok" = 0 ] || die "$pkg ${VERSION[$pkg]} depends on '$(sed 's/^ *//' <<<"$dep")', which is neither fetched nor known to be unneeded: add it to PACKAGES (and to ci/mkinitramfs-xtest.sh if it has run-time files) or to NOT_NEEDED_RE"
    done <<<"$deps"
done

# Drop .debs of packages or versions no longer wanted, then write the list (the cache's seal).
for f in "$DEBS"/*.deb; do
    keep=0
    for pkg in "${PACKAGES[@]}"; do [ "$(basename "$f")" = "${FILE[$pkg]}" ] && keep=1; done
    [ "$keep" = 1 ] || rm -f "$f"
done
for pkg in "${PACKAGES[@]}"; do printf '%s %s %s\n' "$pkg" "${VERSION[$pkg]}" "${FILE[$pkg]}"; done > "$LIST.tmp"
mv "$LIST.tmp" "$LIST"
step "xtest packages ready in $DEBS: ${#PACKAGES[@]} .debs, $(du -sh "$DEBS" | cut -f1) ($(since "$t0"))"
