#!/bin/bash
# Make the DTB given to QEMU (-dtb): QEMU virt's own DTB plus the boot modules the hypervisor
# reads, following Xen's multiboot convention.
#
#   ci/mkdtb.sh <flash.bin|-> <kernel-image> <initrd|-> "<bootargs>" <out.dtb>
#
#   QEMU_SMP / QEMU_MEM / QEMU_GIC / QEMU_IOMMU (env, defaults in ci/config.sh) must match
#   ci/qemu.sh's --smp / --mem / --gic / --iommu: the DTB's cpu, memory, GIC and SMMU nodes come
#   from them (QEMU_IOMMU=none: the machine without the SMMUv3). The CPU model (--cpu) is not
#   in the dump: one DTB serves every model (only the cpu nodes' compatible would differ).
#   flash "-": the DTB for booting without firmware (ci/qemu.sh --hypervisor): QEMU's machine
#   without EL3, dumped without -bios, and the kernel module at DIRECT_KERNEL_ADDR (QEMU puts
#   this DTB itself at DIRECT_DTB_ADDR, where the kernel would otherwise be; see ci/config.sh).
#
# 1. Dump QEMU's DTB with the SAME -bios, -machine, -cpu, -smp, -m as ci/qemu.sh.
#    Pitfall: dumped without -bios (secure=on) the DTB has the NS pl061 GPIO at 0x0903_0000, which
#    QEMU leaves out when firmware owns it; Linux then dies probing it (external abort).
# 2. Add under /chosen (#address-cells = #size-cells = <2>):
#      module@<KERNEL_ADDR> { compatible = "multiboot,kernel", "multiboot,module";
#                             reg = <addr_hi addr_lo size_hi size_lo>;   (real file size)
#                             bootargs = "<bootargs>"; };
#      module@<INITRD_ADDR> { compatible = "multiboot,ramdisk", "multiboot,module"; reg = <...>; };
#    The initrd node is left out when the initrd argument is "-".
# At run time TF-A BL2 adds /psci and OP-TEE adds /reserved-memory + /firmware/optee in place
# (see tests/fixtures/qemu-virt-tfa-optee.dtb for the result as BL33 sees it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

[ $# -eq 5 ] || die "usage: $0 <flash.bin|-> <kernel-image> <initrd|-> \"<bootargs>\" <out.dtb>"
FLASH=$1 KERNEL=$2 INITRD=$3 BOOTARGS=$4 OUT=$5
need_cmd fdtput device-tree-compiler
need_cmd fdtget device-tree-compiler
if [ "$FLASH" = - ]; then
    KERNEL_ADDR=$DIRECT_KERNEL_ADDR    # QEMU's -dtb sits at KERNEL_ADDR without firmware
    FIRMWARE="no firmware"
else
    need_file "$FLASH" "flash image (ci/mkflash.sh)"
    FIRMWARE=$(basename "$FLASH")
fi
need_file "$KERNEL" "kernel Image"
[ "$INITRD" = - ] || need_file "$INITRD" "initrd (or '-' for none)"

mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp -d "$(dirname "$OUT")/.mkdtb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- 1. QEMU's own DTB, same options as ci/qemu.sh -----------------------------------------
qemu_dumpdtb "$FLASH" "$tmp/qemu.dtb"
fdtget -p "$tmp/qemu.dtb" /chosen >/dev/null 2>&1 || die "QEMU's DTB has no /chosen node"

# --- 2. /chosen module nodes ---------------------------------------------------------------
dtb=$tmp/qemu.dtb
hi() { printf '0x%x' $(( ($1 >> 32) & 0xffffffff )); }
lo() { printf '0x%x' $(( $1 & 0xffffffff )); }
add_module() {   # addr file compatible...
    local addr=$(($1)) file=$2; shift 2
    local size node
    size=$(stat -c %s "$file")
    node=/chosen/module@$(hex "$addr")
    fdtput -c "$dtb" "$node"
    fdtput -t s "$dtb" "$node" compatible "$@"
    fdtput -t x "$dtb" "$node" reg "$(hi "$addr")" "$(lo "$addr")" "$(hi "$size")" "$(lo "$size")"
    printf '%s' "$node"
}
fdtput -t x "$dtb" /chosen '#address-cells' 2
fdtput -t x "$dtb" /chosen '#size-cells' 2
knode=$(add_module "$KERNEL_ADDR" "$KERNEL" multiboot,kernel multiboot,module)
fdtput -t s "$dtb" "$knode" bootargs "$BOOTARGS"
desc="$knode ($(stat -c %s "$KERNEL") bytes, bootargs \"$BOOTARGS\")"
if [ "$INITRD" != - ]; then
    inode=$(add_module "$INITRD_ADDR" "$INITRD" multiboot,ramdisk multiboot,module)
    desc="$desc, $inode ($(stat -c %s "$INITRD") bytes)"
fi
# Round trip through dtc: validates the tree and packs it (no free space left behind).
dtc -q -I dtb -O dtb -o "$tmp/out.dtb" "$dtb" || die "dtc rejects the generated DTB"
mv "$tmp/out.dtb" "$OUT"
step "$OUT: QEMU DTB ($FIRMWARE, GICv$QEMU_GIC, smp $QEMU_SMP, $QEMU_MEM MiB) + $desc"
