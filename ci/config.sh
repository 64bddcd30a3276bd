# Shared settings for the QEMU test stack: sourced by every script under ci/.
# One place for the load addresses, so the DTB module nodes, the QEMU loaders and the
# hypervisor's expectations cannot drift apart.

CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$CI_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT_DIR/build}
STACK_DIR=$BUILD_DIR/stack            # cached: packages' sources, TF-A, OP-TEE, kernel, busybox

# Toolchains from Debian must win over any pyenv/venv shim (pyelftools lives in /usr/lib/python3).
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

# QEMU virt machine, with EL3 (TF-A) and EL2 (us). QEMU_GIC: 3, or 2 (the GIC-400 path; needs the
# GICv2 build of TF-A and OP-TEE, `ci/build-secure-world.sh --gic 2`). The -machine value comes
# from qemu_machine (ci/lib.sh): "virt,secure=on,virtualization=on,gic-version=$QEMU_GIC", or
# without firmware (no EL3, QEMU's own PSCI over SMC) "virt,virtualization=on,gic-version=...".
QEMU_GIC=${QEMU_GIC:-3}
QEMU_MACHINE=virt,secure=on,virtualization=on,gic-version=$QEMU_GIC
QEMU_CPU=${QEMU_CPU:-max,sme=off,sve=off}
# The SMMUv3 in front of the PCIe root complex is on in every configuration (ci/qemu.sh, the
# DTB dumps): the hypervisor owns it and translates the host's DMA through the host stage 2.
# QEMU_IOMMU=none (or empty) is the machine without it (ci/qemu.sh --iommu none); its DTB must
# be dumped the same way.
QEMU_IOMMU=${QEMU_IOMMU-smmuv3}
[ "$QEMU_IOMMU" != none ] || QEMU_IOMMU=
# qemu_cpu MODEL: the -cpu value for a QEMU CPU model, with what the firmware needs: TF-A is built
# without SME for either world (ENABLE_SME_FOR_NS=0: Linux's SME probe traps to EL3 and hangs),
# and SVE traps OP-TEE's FP at S-EL1; so max and neoverse-n2 run with those off.
qemu_cpu() {
    case $1 in
        max) echo "max,sme=off,sve=off" ;;
        neoverse-n2|neoverse-v1) echo "$1,sve=off" ;;
        *) echo "$1" ;;
    esac
}
QEMU_SMP=${QEMU_SMP:-4}
QEMU_MEM=${QEMU_MEM:-1024}

# Physical load addresses on QEMU virt (RAM starts at 0x4000_0000):
#   0x4000_0000  DTB (QEMU places it; TF-A BL2 and OP-TEE patch it in place; 1 MiB max)
#   0x4200_0000  OP-TEE's non-secure shared memory (2 MiB, no-map in the DTB)
#   0x4800_0000  host kernel Image (loaded raw by QEMU, named by /chosen/module@48000000)
#   0x5800_0000  host initrd       (named by /chosen/module@58000000)
#   0x6000_0000  the hypervisor image (TF-A's BL33 slot); its carve-out starts here
KERNEL_ADDR=0x48000000
INITRD_ADDR=0x58000000
HYP_ADDR=0x60000000
# The U-Boot chain (ci/mkuboot.sh) loads the same three at the same addresses from its disk, and
# U-Boot's fdt commands copy its control DT to UBOOT_DTB_ADDR to add the /chosen module nodes
# (booti then copies the DTB near the top of RAM: qemu_arm64's fdt_high=0xffffffff means "in
# place" only on 32-bit U-Boot; x0 tells the hypervisor where).
UBOOT_DTB_ADDR=0x44000000
# Without firmware (ci/qemu.sh --hypervisor: QEMU -kernel, no EL3): QEMU loads the hypervisor at
# RAM + 2 MiB (its rule for an Image whose text_offset is 0; the bottom 2 MiB hold QEMU's boot
# stub) and the -dtb at RAM + 128 MiB (its initrd slot, unused: there is no -initrd), and enters
# the hypervisor at EL2 with x0 = DTB. So the kernel goes above the DTB; the initrd stays put.
#   0x4020_0000  the hypervisor image, carve-out 0x4020_0000-0x4040_0000
#   0x4800_0000  DTB (QEMU places it, at most DIRECT_KERNEL_ADDR - DIRECT_DTB_ADDR bytes)
#   0x4a00_0000  host kernel Image (named by /chosen/module@4a000000)
#   0x5800_0000  host initrd (INITRD_ADDR)
DIRECT_HYP_ADDR=0x40200000
DIRECT_DTB_ADDR=0x48000000
DIRECT_KERNEL_ADDR=0x4a000000
