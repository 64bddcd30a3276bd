#!/bin/bash
# Build the secure world of the QEMU test stack, once, from Debian's source packages:
#   OP-TEE OS 4.10 (sid)  as the FF-A S-EL1 SPMC   (CFG_CORE_SEL1_SPMC=y, vexpress-qemu_armv8a, GICv3)
#   TF-A 2.12.x (trixie)  PLAT=qemu, SPD=spmd SPMD_SPM_AT_SEL2=0 SPMC_OPTEE=1 + ci/spmc_el1_manifest.dts
# and keep in $STACK_DIR/tfa/:  bl1.bin  fip.bin (placeholder BL33)  fiptool  tfa.env
#
#   ci/build-secure-world.sh            # cached: a second run only checks its stamps
#   ci/build-secure-world.sh --gic 2    # the GICv2 (GIC-400) variant, for `-machine gic-version=2`:
#                                       # TF-A QEMU_USE_GIC_DRIVER=QEMU_GICV2, OP-TEE CFG_ARM_GICV3=n,
#                                       # cached apart in $STACK_DIR/{optee,tfa}-gicv2/ (own stamps)
#
#   ci/build-secure-world.sh --spmc el3 # the second SPMC: TF-A's EL3 SPMC (SPD=spmd SPMC_AT_EL3=1)
#                                       # with OP-TEE as its one S-EL1 FF-A partition
#                                       # (CFG_CORE_EL3_SPMC=y) + ci/spmc_el3_sp_manifest.dts,
#                                       # GICv3 only, cached apart in $STACK_DIR/optee-el3spmc/ and
#                                       # $STACK_DIR/tfa-el3spmc-patched/ (own stamps; TF-A from a
#                                       # patched source, see below); docs/spmc.md compares the two SPMCs
#
# ci/mkflash.sh then swaps the BL33 in a copy of fip.bin, so the hypervisor never rebuilds TF-A.
#
# Where BL2 loads BL33 and what it passes (checked in TF-A 2.12.1, plat/qemu):
#   - plat/qemu/qemu/include/platform_def.h: NS_IMAGE_OFFSET = NS_DRAM0_BASE + 0x2000_0000
#     = 0x6000_0000 (= HYP_ADDR in ci/config.sh); qemu_bl2_mem_params_desc.c loads BL33 there
#     from the FIP (ep_info.pc = image_base = NS_IMAGE_OFFSET; max NS_IMAGE_MAX_SIZE).
#   - plat/qemu/common/qemu_bl2_setup.c, case BL33_IMAGE_ID: with ARM_LINUX_KERNEL_AS_BL33=0
#     and TRANSFER_LIST=0 (both defaults for PLAT=qemu, and what we build) it sets
#     arg0 = read_mpidr() & 0xffff, i.e. x0 = 0 on the primary CPU, NOT the DTB address;
#     x1..x3 are not set (0). The DTB is at a fixed address instead: QEMU writes it at
#     0x4000_0000 (PLAT_QEMU_DT_BASE = NS_DRAM0_BASE, max PLAT_QEMU_DT_MAX_SIZE = 1 MiB), BL2 adds
#     the /psci node and OP-TEE adds its /reserved-memory and /firmware/optee nodes in place.
#   - SPSR (qemu_get_spsr_for_bl33_entry): EL2h when EL2 exists (virtualization=on), all of
#     DAIF masked. Only the primary CPU enters BL33; the others wait in TF-A for PSCI CPU_ON.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

GIC=3 SPMC=el1
while [ $# -gt 0 ]; do
    case $1 in
        --gic) GIC=${2:-}; shift 2 || die "--gic needs 2 or 3" ;;
        --spmc) SPMC=${2:-}; shift 2 || die "--spmc needs el1 or el3" ;;
        *) die "usage: $0 [--gic 2|3] [--spmc el1|el3]" ;;
    esac
done
case $SPMC/$GIC in
    el1/3) VARIANT='' ;;          # the default stack: build/stack/{optee,tfa}, stamps optee, tfa
    el1/2) VARIANT=-gicv2 ;;      # build/stack/{optee,tfa}-gicv2, stamps optee-gicv2, tfa-gicv2
    el3/3) VARIANT=-el3spmc ;;    # build/stack/optee-el3spmc + tfa-el3spmc-patched (own stamps)
    el3/2) die "--spmc el3 is built for GICv3 only" ;;
    *) die "--gic $GIC --spmc $SPMC: GIC 2 or 3, SPMC el1 or el3" ;;
esac
TFA_DIR=$(tfa_dir "$GIC" "$SPMC")
OPTEE_DIR=$OPTEE_DIR$VARIANT
# el3's TF-A is built from a patched source (below): its directory and stamp are its own, not
# those of an unpatched el3 build (tfa-el3spmc), so trees with and without the patch that share
# build/stack never rebuild each other's TF-A.
TFA_VARIANT=$VARIANT
[ "$SPMC" = el1 ] || TFA_VARIANT=$VARIANT-patched
stack_lock

JOBS=$(nproc)
# Bump when the recipe changes in a way the stamps below cannot see (forces a rebuild).
RECIPE=2
# The sources live inside this project's work tree: without a ceiling, TF-A's and OP-TEE's
# `git describe` find the project's .git and stamp its commit into their version strings.
export GIT_CEILING_DIRECTORIES=$SRC_DIR
# el1: the SPMC manifest the SPMD reads; el3: the manifest of OP-TEE as the EL3 SPMC's partition.
if [ "$SPMC" = el1 ]; then MANIFEST=$CI_DIR/spmc_el1_manifest.dts; else MANIFEST=$CI_DIR/spmc_el3_sp_manifest.dts; fi
TFA_LOG_LEVEL=${TFA_LOG_LEVEL:-30}     # 30 = warnings+notices; 40 floods the console at SYSTEM_OFF

need_cmd ${CROSS}gcc gcc-aarch64-linux-gnu
need_cmd ${CROSS}objcopy binutils-aarch64-linux-gnu
need_cmd dtc device-tree-compiler
need_cmd make make
python3 -c 'import elftools' 2>/dev/null || die "python3 module 'elftools' missing (Debian package 'python3-pyelftools')"
python3 -c 'import cryptography' 2>/dev/null || die "python3 module 'cryptography' missing (Debian package 'python3-cryptography')"
need_file "$MANIFEST" "the SPMC manifest kept in the project"
mkdir -p "$SRC_DIR" "$TFA_DIR" "$OPTEE_DIR" "$STACK_DIR/logs"

# --- 1. sources ----------------------------------------------------------------------------
fetch_source arm-trusted-firmware "$TFA_SUITE"; TFA_SRC=$SRC_PATH; TFA_VERSION=$SRC_VERSION
fetch_source optee-os "$OPTEE_SUITE";           OPTEE_SRC=$SRC_PATH; OPTEE_VERSION=$SRC_VERSION

# --- 2. OP-TEE OS as S-EL1 SPMC (el1) or as the EL3 SPMC's S-EL1 partition (el3) -------------
if [ "$GIC" = 3 ]; then OPTEE_GICV3=y; else OPTEE_GICV3=n; fi
# el3: as a partition OP-TEE gets the SP manifest as its boot information, not the NS DTB, so
# CFG_DT_ADDR names where QEMU puts the DTB (0x4000_0000) for OP-TEE's DT edits; without a
# reserved static SHM (CFG_CORE_RESERVED_SHM=n) all shared memory comes through FF-A transactions.
if [ "$SPMC" = el1 ]; then
    OPTEE_ROLE=(CFG_CORE_SEL1_SPMC=y)
    OPTEE_WHAT="S-EL1 SPMC"
else
    OPTEE_ROLE=(CFG_CORE_EL3_SPMC=y CFG_DT_ADDR=0x40000000 CFG_CORE_RESERVED_SHM=n)
    OPTEE_WHAT="S-EL1 partition of the EL3 SPMC"
fi
OPTEE_FLAGS=(
    PLATFORM=vexpress-qemu_armv8a
    CROSS_COMPILE=$CROSS CROSS_COMPILE_core=$CROSS CROSS_COMPILE_ta_arm64=$CROSS
    CFG_ARM64_core=y CFG_USER_TA_TARGETS=ta_arm64 CFG_ARM_GICV3=$OPTEE_GICV3
    "${OPTEE_ROLE[@]}"
    CFG_TEE_CORE_LOG_LEVEL=3 DEBUG=0 CFG_TEE_BENCHMARK=n
)
OPTEE_OUT=$OPTEE_DIR/build
OPTEE_CORE=$OPTEE_OUT/core
optee_key="recipe=$RECIPE optee-os $OPTEE_VERSION ${OPTEE_FLAGS[*]}"
if stamp_ok "optee$VARIANT" "$optee_key" && [ -f "$OPTEE_CORE/tee-pager_v2.bin" ]; then
    step "OP-TEE $OPTEE_VERSION ($OPTEE_WHAT, GICv$GIC): cached"
else
    step "building OP-TEE $OPTEE_VERSION ($OPTEE_WHAT, vexpress-qemu_armv8a, GICv$GIC), about 40 s"
    t0=$(now)
    stamp_clear "optee$VARIANT"; stamp_clear "tfa$TFA_VARIANT"
    rm -rf "$OPTEE_OUT"
    run_logged "$STACK_DIR/logs/optee$VARIANT-build.log" \
        make -C "$OPTEE_SRC" -j"$JOBS" O="$OPTEE_OUT" "${OPTEE_FLAGS[@]}" all
    for f in tee-header_v2.bin tee-pager_v2.bin tee-pageable_v2.bin; do
        need_file "$OPTEE_CORE/$f" "OP-TEE build output, see $STACK_DIR/logs/optee$VARIANT-build.log"
    done
    stamp_set "optee$VARIANT" "$optee_key"
    note "done in $(since "$t0")"
fi

# --- 3. TF-A with SPMD + OP-TEE (el1) or EL3 SPMC + OP-TEE (el3), placeholder BL33 -----------
# The placeholder BL33 is one instruction, `b .` (0x14000000): ci/mkflash.sh replaces it.
PLACEHOLDER=$TFA_DIR/placeholder-bl33.bin
printf '\x00\x00\x00\x14' > "$PLACEHOLDER.tmp"
cmp -s "$PLACEHOLDER.tmp" "$PLACEHOLDER" 2>/dev/null || mv "$PLACEHOLDER.tmp" "$PLACEHOLDER"
rm -f "$PLACEHOLDER.tmp"

TFA_BUILD=$TFA_DIR/build
# el3: TF-A 2.12's EL3 SPMC answers FFA_VERSION with v1.2 but its memory sharing refuses a
# normal-world caller that negotiated v1.2 (FFA_MEM_SHARE/LEND: "bad FF-A version",
# INVALID_PARAMETERS), so OP-TEE's driver under the proxy, which passes the host's v1.2 on,
# could not register shared memory. ci/patches/tfa-2.12-el3spmc-ffa-v1.2-memory.patch lets
# v1.2 callers use the v1.1 descriptor layout that v1.2 keeps (TF-A 2.13 does the same). It is
# applied to a copy of the source ($SRC_DIR/arm-trusted-firmware-el3spmc), so the default and
# GICv2 builds keep Debian's source as it is; its hash is in the key below (docs/spmc.md).
TFA_BUILD_SRC=$TFA_SRC TFA_PATCHES=() patches_hash=none
if [ "$SPMC" = el3 ]; then
    TFA_PATCHES=("$CI_DIR/patches/tfa-2.12-el3spmc-ffa-v1.2-memory.patch")
    need_file "${TFA_PATCHES[0]}" "the EL3 SPMC's patch kept in the project"
    need_cmd patch patch
    TFA_BUILD_SRC=$SRC_DIR/arm-trusted-firmware-el3spmc
    patches_hash=$(cat "${TFA_PATCHES[@]}" | sha256sum | cut -c1-16)
fi
TFA_FLAGS=(
    CROSS_COMPILE=$CROSS PLAT=qemu QEMU_USE_GIC_DRIVER=QEMU_GICV$GIC
    DEBUG=0 LOG_LEVEL=$TFA_LOG_LEVEL
    BL32_RAM_LOCATION=tdram
    SPD=spmd SPMD_SPM_AT_SEL2=0
)
# el1: OP-TEE is the SPMC, loaded as a pager split in three (header + pager + pageable).
# el3: BL31 is the SPMC; BL2 loads OP-TEE's one flat image as BL32, the partition.
if [ "$SPMC" = el1 ]; then
    TFA_FLAGS+=(SPMC_OPTEE=1)
    TFA_BL32=(BL32="$OPTEE_CORE/tee-header_v2.bin" BL32_EXTRA1="$OPTEE_CORE/tee-pager_v2.bin"
              BL32_EXTRA2="$OPTEE_CORE/tee-pageable_v2.bin")
    FIP_PARTS=(--tos-fw-config --tos-fw --tos-fw-extra1 --nt-fw)
    TFA_WHAT="SPMD + OP-TEE SPMC"
else
    TFA_FLAGS+=(SPMC_AT_EL3=1)
    TFA_BL32=(BL32="$OPTEE_CORE/tee-pager_v2.bin")
    FIP_PARTS=(--tos-fw-config --tos-fw --nt-fw)
    TFA_WHAT="SPMD + EL3 SPMC, OP-TEE partition"
fi
TFA_FLAGS+=(CTX_INCLUDE_EL2_REGS=0 ENABLE_SME_FOR_NS=0 ENABLE_SME_FOR_SWD=0)
manifest_hash=$(sha256sum "$MANIFEST" | cut -c1-16)
tfa_key="recipe=$RECIPE tfa $TFA_VERSION ${TFA_FLAGS[*]} manifest=$manifest_hash optee=$(cat "$STAMP_DIR/optee$VARIANT")"
# Only the el3 key names its patches: the other builds' keys, and so their caches, stay as they were.
[ "$SPMC" = el1 ] || tfa_key+=" patches=$patches_hash"
if stamp_ok "tfa$TFA_VARIANT" "$tfa_key" && [ -f "$TFA_DIR/bl1.bin" ] && [ -f "$TFA_DIR/fip.bin" ] && [ -x "$TFA_DIR/fiptool" ]; then
    step "TF-A $TFA_VERSION ($TFA_WHAT, GICv$GIC, LOG_LEVEL=$TFA_LOG_LEVEL): cached"
else
    step "building TF-A $TFA_VERSION (PLAT=qemu, GICv$GIC, $TFA_WHAT, LOG_LEVEL=$TFA_LOG_LEVEL) + fiptool"
    t0=$(now)
    stamp_clear "tfa$TFA_VARIANT"
    # TF-A does not rebuild fdts/ or fip.bin when the manifest changes: always start clean.
    rm -rf "$TFA_BUILD" "$TFA_DIR/bl1.bin" "$TFA_DIR/fip.bin" "$TFA_DIR/fiptool"
    if [ "$TFA_BUILD_SRC" != "$TFA_SRC" ]; then
        rm -rf "$TFA_BUILD_SRC" "$TFA_BUILD_SRC.tmp"
        cp -a "$TFA_SRC" "$TFA_BUILD_SRC.tmp"
        for p in "${TFA_PATCHES[@]}"; do
            patch -d "$TFA_BUILD_SRC.tmp" -p1 --forward --batch --quiet < "$p" ||
                die "$p does not apply to TF-A $TFA_VERSION"
        done
        mv "$TFA_BUILD_SRC.tmp" "$TFA_BUILD_SRC"
        note "TF-A source patched: ${TFA_PATCHES[*]##*/}"
    fi
    run_logged "$STACK_DIR/logs/tfa$TFA_VARIANT-build.log" \
        make -C "$TFA_BUILD_SRC" -j"$JOBS" "${TFA_FLAGS[@]}" BUILD_BASE="$TFA_BUILD" \
            "${TFA_BL32[@]}" \
            QEMU_TOS_FW_CONFIG_DTS="$MANIFEST" \
            BL33="$PLACEHOLDER" \
            all fip
    R=$TFA_BUILD/qemu/release
    need_file "$R/bl1.bin" "TF-A build output, see $STACK_DIR/logs/tfa$TFA_VARIANT-build.log"
    need_file "$R/fip.bin" "TF-A build output, see $STACK_DIR/logs/tfa$TFA_VARIANT-build.log"
    need_file "$TFA_BUILD_SRC/tools/fiptool/fiptool" "TF-A fiptool (needs libssl-dev), see $STACK_DIR/logs/tfa$TFA_VARIANT-build.log"
    cp "$R/bl1.bin" "$R/fip.bin" "$TFA_DIR/"
    cp "$TFA_BUILD_SRC/tools/fiptool/fiptool" "$TFA_DIR/fiptool"
    # The FIP must carry the SPMC (el1) or SP (el3) manifest (TOS_FW_CONFIG) and OP-TEE (BL32,
    # plus its extras for el1).
    "$TFA_DIR/fiptool" info "$TFA_DIR/fip.bin" > "$TFA_DIR/fip-info.txt"
    for what in "${FIP_PARTS[@]}"; do
        grep -q "cmdline=\"$what\"" "$TFA_DIR/fip-info.txt" ||
            die "fip.bin lacks its '$what' image (see $TFA_DIR/fip-info.txt)"
    done
    stamp_set "tfa$TFA_VARIANT" "$tfa_key"
    note "done in $(since "$t0")"
fi

cat > "$TFA_DIR/tfa.env" <<EOF
# Written by ci/build-secure-world.sh
TFA_VERSION=$TFA_VERSION
OPTEE_VERSION=$OPTEE_VERSION
TFA_LOG_LEVEL=$TFA_LOG_LEVEL
GIC_VERSION=$GIC
EOF
step "secure world ready: $TFA_DIR/{bl1.bin,fip.bin,fiptool} (TF-A $TFA_VERSION, OP-TEE $OPTEE_VERSION, GICv$GIC, SPMC $SPMC)"
