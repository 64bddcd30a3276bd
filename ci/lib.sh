# shellcheck shell=bash
# Helpers shared by the ci/ scripts. Sourced after config.sh:
#   source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
#   source "$CI_DIR/lib.sh"
# Nothing here runs anything by itself.

# Versions and locations of the cached stack (all under $STACK_DIR, i.e. build/stack, git-ignored).
TFA_SUITE=${TFA_SUITE:-trixie}          # arm-trusted-firmware 2.12.x source
OPTEE_SUITE=${OPTEE_SUITE:-sid}         # optee-os 4.10 source (trixie's 4.5.0 pool files 404)
KERNEL_SUITE=${KERNEL_SUITE:-sid}       # the only Debian kernel with CONFIG_ARM_FFA_TRANSPORT
SRC_DIR=$STACK_DIR/src
TFA_DIR=$STACK_DIR/tfa                  # bl1.bin, fip.bin, fiptool, tfa.env (GICv3)
OPTEE_DIR=$STACK_DIR/optee              # build tree of OP-TEE
KERNEL_DIR=$STACK_DIR/kernel            # Image, modules/, debs/, kernel.env
STAMP_DIR=$STACK_DIR/stamps
STACK_ENV=$STACK_DIR/stack.env
CROSS=aarch64-linux-gnu-

# tfa_dir GIC [SPMC]: where ci/build-secure-world.sh keeps the TF-A build for that GIC version
# (3: $TFA_DIR, the default stack; 2: $STACK_DIR/tfa-gicv2, built by `--gic 2`) and SPMC (el1,
# the default: OP-TEE at S-EL1; el3: TF-A's EL3 SPMC, patched (ci/patches/),
# $STACK_DIR/tfa-el3spmc-patched, `--spmc el3`).
tfa_dir() {
    case $1/${2:-el1} in
        3/el1) echo "$TFA_DIR" ;;
        2/el1) echo "$STACK_DIR/tfa-gicv2" ;;
        3/el3) echo "$STACK_DIR/tfa-el3spmc-patched" ;;
        *) die "GIC version '$1' with SPMC '${2:-el1}': GIC 2 or 3 with el1, GIC 3 with el3" ;;
    esac
}

_ci_script=$(basename "${0:-ci}")

# One clear line per step, prefixed by the script's name.
step() { printf '[%s] %s\n' "$_ci_script" "$*"; }
note() { printf '[%s]   %s\n' "$_ci_script" "$*"; }
die()  { printf '[%s] ERROR: %s\n' "$_ci_script" "$*" >&2; exit 1; }

# need_cmd CMD PACKAGE : fail naming the Debian package that provides CMD.
need_cmd() {
    command -v "$1" >/dev/null 2>&1 ||
        die "command '$1' not found (Debian package '$2' missing: run ci/install-packages.sh)"
}
# need_file FILE WHAT : fail naming the file that is missing.
need_file() { [ -e "$1" ] || die "missing file: $1 ($2)"; }

# Stamps: a stamp records that a step finished for a given "key" (versions, flags, input hashes).
# stamp_ok NAME KEY -> 0 when the stamp exists with exactly this key.
stamp_ok()  { [ -f "$STAMP_DIR/$1" ] && [ "$(cat "$STAMP_DIR/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMP_DIR"; printf '%s\n' "$2" > "$STAMP_DIR/$1"; }
stamp_clear() { rm -f "$STAMP_DIR/$1"; }

# Run a long command with its output in a log; on failure show the log's tail and stop.
run_logged() {
    local log=$1; shift
    mkdir -p "$(dirname "$log")"
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "command failed (full log: $log): $*"
    fi
}

# Elapsed seconds since a start taken with `t0=$(now)`.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }

# Hex without 0x, lower case: hex 0x48000000 -> 48000000
hex() { printf '%x' "$(($1))"; }

# apt_retry LOG CMD... : run an apt command that downloads from the archive (apt-get source /
# download). If it fails (typically a 404 because the local indexes are older than the mirror:
# sid rolls fast), run `apt-get update` once and try again.
apt_retry() {
    local log=$1; shift
    mkdir -p "$(dirname "$log")"
    if "$@" >"$log" 2>&1; then return 0; fi
    note "'$*' failed; refreshing the apt indexes (apt-get update) and retrying"
    run_logged "$STACK_DIR/logs/apt-update.log" apt-get update -q
    run_logged "$log" "$@"
}

# A build's source: `apt-get source PKG/SUITE` into $SRC_DIR/PKG (Debian patches applied),
# downloaded once and cached. Prints nothing; sets SRC_VERSION (Debian version) and SRC_PATH.
fetch_source() {
    local pkg=$1 suite=$2 dl=$SRC_DIR/dl-$1 dst=$SRC_DIR/$1
    if stamp_ok "src-$pkg" "$suite" && [ -d "$dst" ] && [ -f "$SRC_DIR/$pkg.version" ]; then
        SRC_VERSION=$(cat "$SRC_DIR/$pkg.version"); SRC_PATH=$dst
        step "source $pkg $SRC_VERSION ($suite): cached in $dst"
        return 0
    fi
    need_cmd dpkg-source dpkg-dev
    step "apt-get source $pkg/$suite"
    local t0; t0=$(now)
    rm -rf "$dl" "$dst"; mkdir -p "$dl"
    (cd "$dl" && apt_retry "$STACK_DIR/logs/source-$pkg.log" \
        apt-get source --download-only -q "$pkg/$suite")
    local dsc; dsc=$(ls "$dl"/*.dsc 2>/dev/null | head -1)
    [ -n "$dsc" ] || die "apt-get source $pkg/$suite produced no .dsc (see $STACK_DIR/logs/source-$pkg.log)"
    run_logged "$STACK_DIR/logs/source-$pkg-extract.log" dpkg-source -x "$dsc" "$dst"
    SRC_VERSION=$(awk '/^Version:/ { print $2; exit }' "$dsc")
    printf '%s\n' "$SRC_VERSION" > "$SRC_DIR/$pkg.version"
    SRC_PATH=$dst
    stamp_set "src-$pkg" "$suite"
    note "$pkg $SRC_VERSION in $dst ($(since "$t0"))"
}

# qemu_machine [none]: the -machine value for QEMU_GIC, with firmware (TF-A at EL3: secure=on) or,
# given "none", without (no EL3: QEMU's own PSCI answers SMCs, the hypervisor enters at EL2).
# QEMU_IOMMU=smmuv3 adds the SMMUv3 in front of the PCIe root complex (and to the dumped DTB).
qemu_machine() {
    case $QEMU_GIC in 2|3|4) ;; *) die "QEMU_GIC=$QEMU_GIC: 2, 3 or 4" ;; esac
    case ${QEMU_IOMMU:-} in ''|smmuv3) ;; *) die "QEMU_IOMMU=$QEMU_IOMMU: empty or smmuv3" ;; esac
    local iommu=${QEMU_IOMMU:+,iommu=$QEMU_IOMMU}
    if [ "${1:-}" = none ]; then
        echo "virt,virtualization=on,gic-version=$QEMU_GIC$iommu"
    else
        echo "virt,secure=on,virtualization=on,gic-version=$QEMU_GIC$iommu"
    fi
}

# qemu_dumpdtb FLASH|- OUT: QEMU virt's generated DTB, with the same -bios, -machine, -cpu, -smp
# (QEMU_SMP), -m (QEMU_MEM), GIC (QEMU_GIC) and accelerator as ci/qemu.sh. FLASH "-": the
# machine without firmware (ci/qemu.sh --hypervisor), dumped without -bios.
# Pitfall: without -bios (secure=on) the DTB carries the NS pl061 GPIO at 0x0903_0000, which QEMU
# leaves out when firmware owns it; Linux then dies probing it (synchronous external abort).
# Without firmware the NS pl061 is real (Linux's gpio-keys power button) and belongs in the DTB.
qemu_dumpdtb() {
    local flash=$1 out=$2 log machine fw=()
    need_cmd qemu-system-aarch64 qemu-system-arm
    if [ "$flash" = - ]; then
        machine=$(qemu_machine none)
    else
        need_file "$flash" "flash image (ci/mkflash.sh)"
        machine=$(qemu_machine)
        fw=(-bios "$flash")
    fi
    log=$(mktemp)
    rm -f "$out"
    qemu-system-aarch64 -nographic -nic none -monitor none -serial null \
        -machine "$machine,dumpdtb=$out" -cpu "$QEMU_CPU" \
        -smp "$QEMU_SMP" -m "$QEMU_MEM" -accel tcg,thread=single \
        "${fw[@]}" >"$log" 2>&1 || true
    if [ ! -s "$out" ]; then cat "$log" >&2; rm -f "$log"; die "QEMU did not dump its DTB (dumpdtb)"; fi
    rm -f "$log"
}

# dtb_totalsize FILE: the FDT header's totalsize (big-endian u32 at offset 4); dies if the
# magic (0xd00dfeed) is wrong.
dtb_totalsize() {
    local magic
    magic=$(od -An -tx1 -N4 "$1" | tr -d ' \n')
    [ "$magic" = d00dfeed ] || die "$1 is not a flattened device tree (magic $magic)"
    od -An -tx1 -j4 -N4 "$1" | tr -d ' \n' | { read -r h; echo $((16#$h)); }
}

# stack_lock: serialize the scripts that write build/stack (several engineers and `make test`
# may run ci/stack.sh at the same time in one tree; two fetch-kernel.sh runs would share its tmp
# dir). The lock (flock on $STACK_DIR/.lock, fd 9) is held until the script exits; scripts
# started by a holder inherit it (HYP_STACK_LOCKED) instead of waiting for themselves.
stack_lock() {
    [ -n "${HYP_STACK_LOCKED:-}" ] && return 0
    need_cmd flock util-linux
    mkdir -p "$STACK_DIR"
    exec 9>>"$STACK_DIR/.lock"
    if ! flock -n 9; then
        step "waiting for another ci/ stack job to finish (lock $STACK_DIR/.lock)"
        flock 9
    fi
    export HYP_STACK_LOCKED=1
}
