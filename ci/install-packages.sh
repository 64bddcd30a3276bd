#!/bin/bash
# Install the host packages of the QEMU test stack from Debian's archive (apt only).
#
#   ci/install-packages.sh          # idempotent; a fast no-op when everything is present
#
# - /etc/apt/sources.list.d/hyp-stack.sources: bookworm-backports (deb, amd64: QEMU 10.x),
#   trixie + sid (deb-src: TF-A 2.12 and OP-TEE 4.10 sources), sid (deb, arm64 only: the Linux
#   kernel with FF-A and busybox). /etc/apt/preferences.d/hyp-stack pins sid to priority 1 so it
#   never upgrades anything by itself.
# - `dpkg --add-architecture arm64` (needed to `apt-get download foo:arm64`).
# - apt-get update only when the sources/pin/architectures changed or an index is missing.
# - QEMU comes from bookworm-backports (10.x): bookworm's 7.2 cannot be installed next to the
#   image's backported qemu-utils (Breaks), and 7.2 does not exit on PSCI SYSTEM_OFF under OP-TEE.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"
stack_lock

SOURCES=/etc/apt/sources.list.d/hyp-stack.sources
PREFS=/etc/apt/preferences.d/hyp-stack
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The packages and where they come from ("pkg" = default release, "pkg/suite" = that suite).
PACKAGES=(
    qemu-system-arm/bookworm-backports
    gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu device-tree-compiler
    python3-pyelftools python3-cryptography cpio xz-utils bc make build-essential patch
    libglib2.0-dev pkg-config u-boot-tools
    u-boot-qemu mtools dosfstools
)
QEMU_MIN_VERSION=1:10      # qemu-system-arm must be at least this (backports 10.0.x)

[ "$(id -u)" = 0 ] || die "must run as root (apt-get install, dpkg --add-architecture)"
need_cmd apt-get apt
need_file "$KEYRING" "Debian package 'debian-archive-keyring'"

changed=0

# --- 1. apt sources + pin ------------------------------------------------------------------
want_sources="# Managed by ci/install-packages.sh (hypervisor QEMU test stack). Do not edit.
Types: deb
URIs: $MIRROR
Suites: bookworm-backports
Components: main
Architectures: amd64
Signed-By: $KEYRING

# Sources: arm-trusted-firmware (trixie, 2.12.x) and optee-os (sid, 4.10).
Types: deb-src
URIs: $MIRROR
Suites: trixie sid
Components: main
Signed-By: $KEYRING

# arm64 binaries from sid, only for apt-get download of the Linux kernel (7.x has FF-A) + busybox.
Types: deb
URIs: $MIRROR
Suites: sid
Components: main
Architectures: arm64
Signed-By: $KEYRING
"
want_prefs="# Managed by ci/install-packages.sh. sid is only downloaded from, never installed from.
Package: *
Pin: release n=sid
Pin-Priority: 1

Package: *
Pin: release n=trixie
Pin-Priority: 1
"
write_if_changed() {   # file content
    if ! printf '%s' "$2" | cmp -s - "$1"; then
        printf '%s' "$2" > "$1"
        step "wrote $1"
        changed=1
    fi
}
write_if_changed "$SOURCES" "$want_sources"
write_if_changed "$PREFS" "$want_prefs"

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    step "dpkg --add-architecture arm64"
    dpkg --add-architecture arm64
    changed=1
fi

# --- 2. which packages are missing? --------------------------------------------------------
missing=()
for spec in "${PACKAGES[@]}"; do
    pkg=${spec%%/*}
    st=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$pkg" 2>/dev/null || true)
    case $st in
        "installed "*)
            if [ "$pkg" = qemu-system-arm ] &&
               ! dpkg --compare-versions "${st#installed }" ge "$QEMU_MIN_VERSION"; then
                missing+=("$spec")
            fi ;;
        *) missing+=("$spec") ;;
    esac
done

# --- 3. apt-get update only when needed ----------------------------------------------------
lists_present() {
    local L=/var/lib/apt/lists p
    for p in '*_dists_bookworm-backports_main_binary-amd64_Packages*' \
             '*_dists_trixie_main_source_Sources*' \
             '*_dists_sid_main_source_Sources*' \
             '*_dists_sid_main_binary-arm64_Packages*'; do
        compgen -G "$L/$p" >/dev/null || return 1
    done
}
if [ "$changed" = 1 ] || ! lists_present; then
    step "apt-get update (sources changed or indexes missing)"
    t0=$(now)
    run_logged "$STACK_DIR/logs/apt-update.log" apt-get update -q
    lists_present || die "apt-get update did not produce the indexes of $SOURCES (see $STACK_DIR/logs/apt-update.log)"
    note "done in $(since "$t0")"
fi

if [ ${#missing[@]} -eq 0 ]; then
    step "all ${#PACKAGES[@]} host packages present ($(dpkg-query -W -f='qemu-system-arm ${Version}' qemu-system-arm))"
    exit 0
fi

# --- 4. install -----------------------------------------------------------------------------
step "apt-get install ${missing[*]}"
t0=$(now)
export DEBIAN_FRONTEND=noninteractive
# "pkg/suite" does not carry the suite over to pkg's dependencies (qemu-system-common/-data
# must come from backports too), so such packages get their own `apt-get install -t suite`.
plain=() ; declare -A by_suite=()
for spec in "${missing[@]}"; do
    case $spec in
        */*) by_suite[${spec#*/}]+="${spec%%/*} " ;;
        *) plain+=("$spec") ;;
    esac
done
for suite in "${!by_suite[@]}"; do
    # shellcheck disable=SC2086
    run_logged "$STACK_DIR/logs/apt-install-$suite.log" \
        apt-get install -y -q --no-install-recommends -t "$suite" ${by_suite[$suite]}
done
if [ ${#plain[@]} -gt 0 ]; then
    run_logged "$STACK_DIR/logs/apt-install.log" \
        apt-get install -y -q --no-install-recommends "${plain[@]}"
fi
note "done in $(since "$t0")"

# Check the result, naming whatever is still missing.
for spec in "${PACKAGES[@]}"; do
    pkg=${spec%%/*}
    dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed ||
        die "Debian package '$pkg' is not installed after apt-get install (see $STACK_DIR/logs/apt-install*.log)"
done
v=$(dpkg-query -W -f='${Version}' qemu-system-arm)
dpkg --compare-versions "$v" ge "$QEMU_MIN_VERSION" ||
    die "qemu-system-arm $v is older than $QEMU_MIN_VERSION (needs bookworm-backports)"
need_cmd qemu-system-aarch64 qemu-system-arm
step "installed; $(qemu-system-aarch64 --version | head -1)"
