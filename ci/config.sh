# Shared settings for the QEMU test stack: sourced by every script under ci/.
# One place for the load addresses, so the DTB module nodes, the QEMU loaders and the
# hypervisor's expectations cannot drift apart.

CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$CI_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT_DIR/build}
STACK_DIR=$BUILD_DIR/stack            # cached: packages' sources, TF-A, OP-TEE, kernel, busybox

# Toolchains from Debian must win over any pyenv/venv shim (pyelftools lives in /usr/lib/python3).
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

# QEMU virt machine, with EL3 (TF-A) and EL2 (us).
QEMU_MACHINE=${QEMU_MACHINE:-virt,secure=on,virtualization=on,gic-version=3}
QEMU_CPU=${QEMU_CPU:-max,sme=off,sve=off}
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
