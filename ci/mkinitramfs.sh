#!/bin/bash
# Build the host's initramfs: busybox (static arm64) as PID 1 with /etc/inittab, plus the FF-A
# and OP-TEE modules from ci/fetch-kernel.sh and virtio-rng (the driver of the virtio-rng PCI
# device, `ci/qemu.sh --rng`), taken from the cached linux-modules package.
#
#   ci/mkinitramfs.sh <out.cpio.gz>
#
# Boot behaviour (rcS):
#   - mount proc, sysfs, devtmpfs; insmod ffa-core ffa-module tee optee virtio-rng
#     (modules/order); print "HOST-INIT: modules loaded" (or "HOST-INIT: module load FAILED:
#     <names>")
#   - kernel command line contains "autotest": print the facts for the system tests between
#     "HOST-CHECK-BEGIN" and "HOST-CHECK-END" (one "key: value" line each: CPUs, /proc/iomem,
#     FF-A and TEE devices, the PCI devices and their drivers, 64 bytes read from /dev/hwrng
#     (a DMA of the virtio-rng device through the SMMU), /proc/interrupts), then `poweroff -f`
#   - kernel command line contains "teebench=N": run /bin/teebench N (tests/teebench/teebench.c:
#     N requests to OP-TEE through /dev/tee0, one FFA_MSG_SEND_DIRECT_REQ each) between
#     "TEEBENCH-START" and "TEEBENCH-END rc=<exit code>", then `poweroff -f`
#   - otherwise: print "HOST-INIT: shell on the console, type poweroff to leave" and init
#     respawns a login shell on the console (cttyhack => job control, ^C works).
#   `poweroff` (or `poweroff -f`) -> PSCI SYSTEM_OFF -> TF-A powers QEMU off -> QEMU exits 0.
#
# The archive is reproducible (fixed mtimes, owners, order; gzip -n) and cached: it is rebuilt
# only when busybox, the modules or this script change.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"
stack_lock

[ $# -eq 1 ] || die "usage: $0 <out.cpio.gz>"
OUT=$1
BUSYBOX=$STACK_DIR/busybox/busybox
MODDIR=$KERNEL_DIR/modules

need_cmd cpio cpio
need_cmd aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
TEEBENCH_SRC=$ROOT_DIR/tests/teebench/teebench.c
need_file "$TEEBENCH_SRC" "the teebench source"
need_cmd gzip gzip
need_file "$BUSYBOX" "busybox-static:arm64, run ci/fetch-kernel.sh"
need_file "$MODDIR/order" "kernel modules, run ci/fetch-kernel.sh"
mapfile -t MODS < "$MODDIR/order"
for m in "${MODS[@]}"; do need_file "$MODDIR/$m" "kernel module, run ci/fetch-kernel.sh"; done
# virtio-rng.ko from the linux-modules package ci/fetch-kernel.sh cached (extracted once per
# package into this tree's build/; the kernel has virtio-pci built in, the rng driver as a module).
need_cmd dpkg-deb dpkg
need_cmd xz xz-utils
MODDEB=$(ls "$KERNEL_DIR"/debs/linux-modules-*.deb 2>/dev/null | head -1 || true)
[ -n "$MODDEB" ] || die "no linux-modules package in $KERNEL_DIR/debs (run ci/fetch-kernel.sh)"
EXTRA_DIR=$BUILD_DIR/initramfs-modules/$(basename "$MODDEB" .deb)
RNG_KO=$EXTRA_DIR/virtio-rng.ko
if [ ! -s "$RNG_KO" ]; then
    mkdir -p "$EXTRA_DIR"
    dpkg-deb --fsys-tarfile "$MODDEB" | tar -x -O --wildcards '*/kernel/drivers/char/hw_random/virtio-rng.ko*' |
        xz -dc > "$RNG_KO.tmp" || die "no virtio-rng.ko in $MODDEB"
    mv "$RNG_KO.tmp" "$RNG_KO"
fi
grep -aq "$(grep -ao 'vermagic=[^ ]* ' "$MODDIR/${MODS[0]}" | head -1)" "$RNG_KO" ||
    die "$RNG_KO is not built for the kernel of $MODDIR"

key=$( (sha256sum "$BUSYBOX" "${BASH_SOURCE[0]}" "$TEEBENCH_SRC" "$RNG_KO"; aarch64-linux-gnu-gcc --version | head -1; for m in "${MODS[@]}"; do sha256sum "$MODDIR/$m"; done) |
       awk '{print $1}' | sha256sum | cut -c1-32)
if [ -f "$OUT" ] && [ -f "$OUT.key" ] && [ "$(cat "$OUT.key")" = "$key" ]; then
    step "initramfs $OUT: up to date"
    exit 0
fi

step "building initramfs $OUT (busybox init + ${MODS[*]})"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
R=$T/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,proc,sys,dev,tmp,root,lib/modules}
cp "$BUSYBOX" "$R/bin/busybox"
chmod 755 "$R/bin/busybox"
# The applets init needs before rcS runs `busybox --install -s` for the rest.
ln -s busybox "$R/bin/sh"
ln -s ../bin/busybox "$R/sbin/init"
ln -s bin/busybox "$R/init"                   # the kernel runs /init: busybox's init applet
mknod -m 600 "$R/dev/console" c 5 1           # stdio of PID 1 before devtmpfs is mounted
mknod -m 666 "$R/dev/null" c 1 3
for m in "${MODS[@]}"; do cp "$MODDIR/$m" "$R/lib/modules/"; done
cp "$MODDIR/order" "$R/lib/modules/order"
cp "$RNG_KO" "$R/lib/modules/"
echo virtio-rng.ko >> "$R/lib/modules/order"
# A static arm64 program without libc (a few KiB); see its header for why it is C.
aarch64-linux-gnu-gcc -static -nostdlib -ffreestanding -fno-stack-protector -O2 -Wall -Wextra -Werror \
    -Wl,--build-id=none -o "$R/bin/teebench" "$TEEBENCH_SRC"

cat > "$R/etc/inittab" <<'EOF'
# busybox init (PID 1). rcS prints HOST-INIT/HOST-CHECK lines; in autotest mode it powers off
# before the respawn line is ever reached.
::sysinit:/etc/init.d/rcS
::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
EOF

cat > "$R/etc/init.d/rcS" <<'EOF'
#!/bin/sh
/bin/busybox --install -s
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
hostname host

failed=""
for m in $(cat /lib/modules/order); do
    insmod "/lib/modules/$m" || failed="$failed ${m%.ko}"
done
if [ -z "$failed" ]; then
    echo "HOST-INIT: modules loaded"
else
    echo "HOST-INIT: module load FAILED:$failed"
fi

for arg in $(cat /proc/cmdline); do
    case $arg in
        teebench=*)
            echo "TEEBENCH-START n=${arg#teebench=}"
            /bin/teebench "${arg#teebench=}"
            echo "TEEBENCH-END rc=$?"
            poweroff -f ;;
    esac
done

if grep -qw autotest /proc/cmdline; then
    echo "HOST-CHECK-BEGIN"
    echo "cpu-online: $(cat /sys/devices/system/cpu/online)"
    echo "uname: $(uname -r)"
    echo "cmdline: $(cat /proc/cmdline)"
    grep -E 'System RAM|reserved' /proc/iomem | sed 's/^/iomem: /'
    echo "ffa-devices: $(ls /sys/bus/arm_ffa/devices 2>/dev/null | tr '\n' ' ')"
    echo "tee-devices: $(ls /dev/tee* 2>/dev/null | tr '\n' ' ')"
    echo "modules-failed:$failed"
    for d in /sys/bus/pci/devices/*; do
        [ -e "$d" ] || continue
        drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
        echo "pci: ${d##*/} $(cat "$d/vendor"):$(cat "$d/device") driver=${drv:-none}"
    done
    echo "hwrng-current: $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
    # 64 bytes from the virtio-rng device: its driver hands the device a buffer, which the
    # device fills by DMA (through the SMMU); an empty line means the read failed.
    echo "hwrng-bytes: $(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | od -An -v -tx1 | tr -d ' \n')"
    sed 's/^/interrupts: /' /proc/interrupts
    dmesg | grep -iE 'ffa|optee|psci|EL1|EL2|CPU' | sed 's/^/dmesg: /'
    sed 's/^/interrupts: /' /proc/interrupts
    echo "HOST-CHECK-END"
    poweroff -f
fi
echo "HOST-INIT: shell on the console, type poweroff to leave"
EOF
chmod 755 "$R/etc/init.d/rcS"

cat > "$R/etc/profile" <<'EOF'
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
export PS1='host:\w# '
EOF

mkdir -p "$(dirname "$OUT")"
find "$R" -exec touch -h -d @0 {} +
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
    gzip -9 -n > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
printf '%s\n' "$key" > "$OUT.key"
step "initramfs ready: $OUT ($(stat -c %s "$OUT") bytes)"
