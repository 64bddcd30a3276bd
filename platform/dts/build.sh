#!/bin/bash
# Compiles the host device trees kept in the project (dtc, from device-tree-compiler).
#
#   platform/dts/build.sh
#       rdn2-fvp.dts -> tests/fixtures/rdn2-fvp.dtb, the fixture the unit tests read.
#       Rerun after editing the .dts and commit both.
#
#   platform/dts/build.sh --host KERNEL INITRD|- "BOOTARGS" OUT.dtb
#       The RD-N2 FVP host DT with the /chosen module nodes ffa-hyp boots from, for the
#       load addresses docs/boards.md gives the FVP (--data): kernel Image at 0x88000000,
#       initrd at 0x98000000 ("-": none). It goes into TF-A's FIP as NT_FW_CONFIG
#       (make ... NT_FW_CONFIG=OUT.dtb, or fiptool update --nt-fw-config OUT.dtb fip.bin):
#       BL2 loads it at 0xfef00000 and BL31 passes that address to the hypervisor in x0.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
KERNEL_ADDR=0x88000000
INITRD_ADDR=0x98000000

compile() { # dts out
    dtc -q -I dts -O dtb -o "$2" "$1"
}

if [[ $# -eq 0 ]]; then
    compile "$here/rdn2-fvp.dts" "$root/tests/fixtures/rdn2-fvp.dtb"
    echo "tests/fixtures/rdn2-fvp.dtb: $(stat -c %s "$root/tests/fixtures/rdn2-fvp.dtb") bytes"
    exit 0
fi

if [[ $# -ne 5 || "$1" != "--host" ]]; then
    echo "usage: $0 [--host KERNEL INITRD|- BOOTARGS OUT.dtb]" >&2
    exit 2
fi
kernel="$2" initrd="$3" bootargs="$4" out="$5"
[[ -f "$kernel" ]] || { echo "$0: no kernel Image at '$kernel'" >&2; exit 1; }
[[ "$initrd" == - || -f "$initrd" ]] || { echo "$0: no initrd at '$initrd'" >&2; exit 1; }

size_of() { printf '%x' "$(stat -c %s "$1")"; }
module() { # addr file compatible...
    local addr="$1" file="$2" node="/chosen/module@${1#0x}"
    shift 2
    fdtput -c "$out" "$node"
    fdtput -t s "$out" "$node" compatible "$@"
    fdtput -t x "$out" "$node" reg 0 "${addr#0x}" 0 "$(size_of "$file")"
}

compile "$here/rdn2-fvp.dts" "$out"
if (( $(stat -c %s "$kernel") > INITRD_ADDR - KERNEL_ADDR )); then
    echo "$0: the kernel does not fit below the initrd at $INITRD_ADDR" >&2
    exit 1
fi
module "$KERNEL_ADDR" "$kernel" multiboot,kernel multiboot,module
fdtput -t s "$out" "/chosen/module@${KERNEL_ADDR#0x}" bootargs "$bootargs"
if [[ "$initrd" != - ]]; then
    module "$INITRD_ADDR" "$initrd" multiboot,ramdisk multiboot,module
fi
echo "$out: kernel at $KERNEL_ADDR, initrd $( [[ "$initrd" == - ]] && echo none || echo "at $INITRD_ADDR"); put it in the FIP as NT_FW_CONFIG"
