#!/bin/bash
# Fetch the host kernel (Debian sid, arm64) and busybox-static:arm64 with `apt-get download`.
#
#   ci/fetch-kernel.sh              # resolves sid's current kernel on the first run, then cached
#   KERNEL_ABI=7.2.13+deb14-arm64 ci/fetch-kernel.sh   # force one ABI (must be in the indexes)
#
# Output in $STACK_DIR/kernel/ (the .debs are cached in debs/: sid rolls and old versions vanish
# from the mirror, so a cached stack keeps working):
#   Image           uncompressed arm64 Image (magic "ARM\x64" at 0x38)
#   config          the kernel's .config
#   modules/*.ko    ffa-core ffa-module tee optee (decompressed), modules/order = insmod order
#   kernel.env      KERNEL_ABI KERNEL_VERSION KERNEL_FFA ...
# and $STACK_DIR/busybox/busybox (static arm64).
#
# Why sid: Debian 6.1 (bookworm) and 6.12 (trixie) have CONFIG_ARM_FFA_TRANSPORT unset; sid 7.x
# has it =m. sid's kernel is split into linux-image-<abi> (meta) -> linux-binary-<abi> (vmlinuz,
# config) + linux-modules-<abi>; a classic linux-image-<abi> that carries everything is handled too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"
stack_lock

DEBS=$KERNEL_DIR/debs
BB_DIR=$STACK_DIR/busybox
KENV=$KERNEL_DIR/kernel.env
mkdir -p "$DEBS" "$BB_DIR" "$STACK_DIR/logs"
need_cmd apt-get apt
need_cmd dpkg-deb dpkg
need_cmd xz xz-utils
dpkg --print-foreign-architectures | grep -qx arm64 ||
    die "dpkg has no arm64 architecture: run ci/install-packages.sh first"

# Modules for FF-A + OP-TEE, in insmod order (dependencies read from their .modinfo).
#   name         path under kernel/                            config symbol
MODULES=(
    "ffa-core    drivers/firmware/arm_ffa/ffa-core.ko          CONFIG_ARM_FFA_TRANSPORT"
    "ffa-module  drivers/firmware/arm_ffa/ffa-module.ko        CONFIG_ARM_FFA_TRANSPORT"
    "tee         drivers/tee/tee.ko                            CONFIG_TEE"
    "optee       drivers/tee/optee/optee.ko                    CONFIG_OPTEE"
)

# ------------------------------------------------------------------------------------------
# 1. busybox-static:arm64 (cached .deb)
# ------------------------------------------------------------------------------------------
if [ -x "$BB_DIR/busybox" ] && [ -f "$BB_DIR/version" ]; then
    step "busybox-static:arm64 $(cat "$BB_DIR/version"): cached"
else
    step "apt-get download busybox-static:arm64"
    rm -f "$BB_DIR"/busybox-static_*.deb
    (cd "$BB_DIR" && apt_retry "$STACK_DIR/logs/download-busybox.log" apt-get download -q busybox-static:arm64)
    deb=$(ls "$BB_DIR"/busybox-static_*_arm64.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || die "apt-get download busybox-static:arm64 produced no .deb (see $STACK_DIR/logs/download-busybox.log)"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO ./bin/busybox > "$BB_DIR/busybox.tmp" ||
        die "$deb has no ./bin/busybox"
    chmod +x "$BB_DIR/busybox.tmp" && mv "$BB_DIR/busybox.tmp" "$BB_DIR/busybox"
    dpkg-deb -f "$deb" Version > "$BB_DIR/version"
    note "busybox $(cat "$BB_DIR/version") -> $BB_DIR/busybox"
fi

# ------------------------------------------------------------------------------------------
# 2. Kernel: cached?
# ------------------------------------------------------------------------------------------
kernel_ready() {
    [ -f "$KENV" ] && [ -f "$KERNEL_DIR/Image" ] && [ -f "$KERNEL_DIR/modules/order" ] || return 1
    # shellcheck disable=SC1090
    ( source "$KENV"; [ -z "${KERNEL_ABI_WANTED:-}" ] || [ "$KERNEL_ABI_WANTED" = "$KERNEL_ABI" ] )
}
KERNEL_ABI_WANTED=${KERNEL_ABI:-}
if kernel_ready; then
    # shellcheck disable=SC1090
    source "$KENV"
    step "kernel $KERNEL_ABI ($KERNEL_VERSION, ARM_FFA_TRANSPORT=$KERNEL_FFA): cached in $KERNEL_DIR"
    exit 0
fi

# ------------------------------------------------------------------------------------------
# 3. Resolve the ABI: sid's linux-image-arm64 -> linux-image-<abi> -> its parts
# ------------------------------------------------------------------------------------------
t0=$(now)
if [ -n "$KERNEL_ABI_WANTED" ]; then
    abi=$KERNEL_ABI_WANTED
    kver=$(apt-cache madison "linux-image-$abi:arm64" | awk -F'|' '{gsub(/ /, "", $2); print $2; exit}')
    [ -n "$kver" ] || die "package linux-image-$abi:arm64 not found in the apt indexes"
else
    step "resolving Debian $KERNEL_SUITE's current arm64 kernel (linux-image-arm64)"
    meta=$(apt-cache madison linux-image-arm64:arm64 |
           awk -F'|' -v s=" $KERNEL_SUITE/" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }')
    [ -n "$meta" ] || die "no linux-image-arm64:arm64 from $KERNEL_SUITE in the apt indexes (run ci/install-packages.sh; is the sid arm64 source in /etc/apt/sources.list.d/hyp-stack.sources?)"
    dep=$(apt-cache show "linux-image-arm64:arm64=$meta" | sed -n 's/^Depends: //p' | head -1 |
          tr ',' '\n' | sed -n 's/^ *\(linux-image-[^ ]*\).*/\1/p' | head -1)
    [ -n "$dep" ] || die "cannot find the linux-image-<abi> dependency of linux-image-arm64=$meta"
    abi=${dep#linux-image-}; abi=${abi%:arm64}
    kver=$meta
fi
deps=$(apt-cache show "linux-image-$abi:arm64=$kver" | sed -n 's/^Depends: //p' | head -1)
parts=()        # packages that carry vmlinuz / config (small)
mod_pkg=        # package that carries the modules (large, downloaded after the config check)
if grep -q "linux-binary-$abi" <<<"$deps"; then
    # split packaging (sid 7.x): linux-binary (vmlinuz), linux-base (config, System.map, dtbs),
    # linux-modules (modules)
    layout=split
    grep -q "linux-base-$abi" <<<"$deps" && parts+=("linux-base-$abi")
    parts+=("linux-binary-$abi")
    mod_pkg=linux-modules-$abi
else
    layout=classic                                       # one linux-image-<abi> with everything
    parts=("linux-image-$abi")
    mod_pkg=linux-image-$abi
fi
step "kernel ABI $abi, version $kver ($layout packaging: ${parts[*]} $([ "$layout" = split ] && echo "$mod_pkg"))"

# ------------------------------------------------------------------------------------------
# 4. Download (cached .debs) and check the config first (before the big modules package)
# ------------------------------------------------------------------------------------------
download() {   # pkg -> path of the cached .deb
    local pkg=$1 f
    f=$(ls "$DEBS/${pkg}_"*_arm64.deb 2>/dev/null | head -1 || true)
    if [ -z "$f" ]; then
        note "apt-get download $pkg:arm64=$kver" >&2
        (cd "$DEBS" && apt_retry "$STACK_DIR/logs/download-$pkg.log" apt-get download -q "$pkg:arm64=$kver") >&2
        f=$(ls "$DEBS/${pkg}_"*_arm64.deb 2>/dev/null | head -1 || true)
        [ -n "$f" ] || die "apt-get download $pkg:arm64=$kver produced no .deb (see $STACK_DIR/logs/download-$pkg.log)"
    fi
    printf '%s\n' "$f"
}
extract() {    # deb pattern... : extract only the matching members into $WORK (missing ones are fine)
    local deb=$1; shift
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$WORK" --wildcards "$@" 2>/dev/null || true
}
WORK=$KERNEL_DIR/tmp
rm -rf "$WORK"; mkdir -p "$WORK"
for p in "${parts[@]}"; do
    deb=$(download "$p")
    extract "$deb" "*/modules/$abi/config" "*/modules/$abi/vmlinuz" "./boot/config-$abi" "./boot/vmlinuz-$abi"
done

config=$(ls "$WORK"/usr/lib/modules/"$abi"/config "$WORK"/lib/modules/"$abi"/config \
             "$WORK"/boot/config-"$abi" 2>/dev/null | head -1 || true)
[ -n "$config" ] || die "no kernel config in ${parts[*]} (looked for /usr/lib/modules/$abi/config and /boot/config-$abi)"
cfg() { sed -n "s/^$1=//p" "$config" | head -1; }
ffa=$(cfg CONFIG_ARM_FFA_TRANSPORT)
case $ffa in
    y|m) note "CONFIG_ARM_FFA_TRANSPORT=$ffa, CONFIG_TEE=$(cfg CONFIG_TEE), CONFIG_OPTEE=$(cfg CONFIG_OPTEE)" ;;
    *) die "kernel $abi has CONFIG_ARM_FFA_TRANSPORT not set: Linux cannot talk FF-A to OP-TEE. Pin a kernel that has it with KERNEL_ABI=..." ;;
esac
for sym in CONFIG_TEE CONFIG_OPTEE; do
    case $(cfg $sym) in y|m) ;; *) die "kernel $abi has $sym not set" ;; esac
done

vmlinuz=$(ls "$WORK"/usr/lib/modules/"$abi"/vmlinuz "$WORK"/boot/vmlinuz-"$abi" 2>/dev/null | head -1 || true)
[ -n "$vmlinuz" ] || die "no vmlinuz in ${parts[*]} (looked for /usr/lib/modules/$abi/vmlinuz and /boot/vmlinuz-$abi)"

# The arm64 Image: Debian ships it uncompressed (EFI stub); accept gzip too.
case $(head -c 2 "$vmlinuz" | od -An -tx1 | tr -d ' ') in
    1f8b) gzip -dc "$vmlinuz" > "$WORK/Image" ;;
    *)    cp "$vmlinuz" "$WORK/Image" ;;
esac
magic=$(dd if="$WORK/Image" bs=1 skip=56 count=4 status=none | od -An -tx1 | tr -d ' ')
[ "$magic" = 41524d64 ] ||
    die "$vmlinuz is not an uncompressed arm64 Image (magic at 0x38 is '$magic', expected 41524d64 'ARM\\x64'; EFI zboot is not supported)"

# ------------------------------------------------------------------------------------------
# 5. Modules (only those that are =m), decompressed
# ------------------------------------------------------------------------------------------
mod_deb=$(download "$mod_pkg")
mkdir -p "$WORK/modules"
: > "$WORK/modules/order"
wanted=()
for m in "${MODULES[@]}"; do
    read -r name path sym <<<"$m"
    [ "$(cfg "$sym")" = m ] || { note "$name: $sym=$(cfg "$sym") (built in, no module)"; continue; }
    wanted+=("*/modules/$abi/kernel/$path*")
done
if [ ${#wanted[@]} -gt 0 ]; then
    extract "$mod_deb" "${wanted[@]}"
fi
for m in "${MODULES[@]}"; do
    read -r name path sym <<<"$m"
    [ "$(cfg "$sym")" = m ] || continue
    f=$(ls "$WORK"/{usr/,}lib/modules/"$abi"/kernel/"$path"* 2>/dev/null | head -1 || true)
    [ -n "$f" ] || die "module $path(.xz) not found in $mod_deb"
    case $f in
        *.ko.xz) xz -dc "$f" > "$WORK/modules/$name.ko" ;;
        *.ko)    cp "$f" "$WORK/modules/$name.ko" ;;
        *) die "module $f has an unsupported compression (only .ko and .ko.xz)" ;;
    esac
    grep -aq "vermagic=$abi " "$WORK/modules/$name.ko" || die "module $name.ko is not built for $abi"
    echo "$name.ko" >> "$WORK/modules/order"
done

# ------------------------------------------------------------------------------------------
# 6. Install into $KERNEL_DIR atomically-ish, write kernel.env
# ------------------------------------------------------------------------------------------
rm -rf "$KERNEL_DIR/modules" "$KERNEL_DIR/Image" "$KENV"
mv "$WORK/modules" "$KERNEL_DIR/modules"
cp "$config" "$KERNEL_DIR/config"
mv "$WORK/Image" "$KERNEL_DIR/Image"
# Remove .debs of other ABIs (a KERNEL_ABI switch), keep the ones in use.
for f in "$DEBS"/*.deb; do
    case $(basename "$f") in *"$abi"_*) ;; *) rm -f "$f" ;; esac
done
rm -rf "$WORK"
cat > "$KENV" <<EOF
# Written by ci/fetch-kernel.sh
KERNEL_ABI=$abi
KERNEL_VERSION=$kver
KERNEL_PACKAGES="${parts[*]}$([ "$layout" = split ] && echo " $mod_pkg")"
KERNEL_FFA=$ffa
BUSYBOX_VERSION=$(cat "$BB_DIR/version")
EOF
step "kernel $abi ready: $KERNEL_DIR/Image ($(stat -c %s "$KERNEL_DIR/Image") bytes), modules: $(tr '\n' ' ' < "$KERNEL_DIR/modules/order")($(since "$t0"))"
