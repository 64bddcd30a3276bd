#!/bin/bash
# Build the xtest initramfs: OP-TEE's own test suite (Debian's optee-test-qemu) as a real client of
# OP-TEE through Linux's FF-A driver, run by /init, then `poweroff -f`.
#
#   ci/mkinitramfs-xtest.sh <out.cpio.gz>
#
# Inputs (all cached under build/stack; the script fails naming the one that is missing):
#   $STACK_DIR/xtest/debs      Debian sid .debs (ci/fetch-xtest-debs.sh): xtest + 20 TAs, the
#                              supplicant and its plugin, libteec, libckteec, libcrypto, glibc
#   $STACK_DIR/busybox/busybox static arm64 busybox (ci/fetch-kernel.sh): shell and applets
#   $KERNEL_DIR/modules        ffa-core ffa-module tee optee (ci/fetch-kernel.sh), insmod order
#   $OPTEE_DIR/build/ta/pkcs11/<uuid>.ta
#                              the PKCS#11 TA from our OP-TEE build (ci/build-secure-world.sh):
#                              optee-test-qemu does not ship it, and xtest's default suite
#                              (regression+pkcs11) fails every pkcs11 case without it
#
# Layout: Debian's merged /usr with `/lib -> usr/lib`: the ELF interpreter is
# /lib/ld-linux-aarch64.so.1 and tee-supplicant loads TAs from /lib/optee_armtz (its
# TEEC_LOAD_PATH is /lib), while the packages put them under /usr/lib. Only what runs is copied:
# xtest, tee-supplicant, its plugins, the TAs, and the shared libraries they need (their ELF
# NEEDED entries, followed recursively; a library that cannot be found stops the build).
# Secure storage (REE FS) lives in /var/lib/optee-client/data/tee, Debian's
# CFG_TEE_FS_PARENT_PATH.
#
# /init (busybox sh, PID 1):
#   mount proc, sysfs, devtmpfs, tmpfs on /tmp; bring `lo` up (the 2000 series talks to sockets
#   on 127.0.0.1 through the supplicant); insmod the four modules; wait for /dev/teepriv0; start
#   tee-supplicant; run `xtest ARGS` where ARGS are init's arguments, i.e. everything after " -- "
#   on the kernel command line (none: xtest's default, regression+pkcs11, level 0). xtest's
#   output goes to /tmp/xtest.log and to the console only when xtest is done: the hypervisor
#   shares the UART, and its lines must not be cut by xtest's (`xtest_live=1` on the command
#   line, before " -- ", shows it live instead, e.g. to see where a run hangs). Markers:
#     XTEST-INIT: kernel <release>, <n> CPUs, xtest args: <args>
#     XTEST-ERROR: <what>                       (setup failed; xtest is not run)
#     XTEST-START: uptime <s> s: xtest <args>
#     XTEST-LOG-BEGIN / xtest's output / XTEST-LOG-END   (live instead with xtest_live=1)
#     XTEST-RESULT rc=<rc> cases=<n> cases-failed=<n> skipped=<n> subtests=<n> subtests-failed=<n> seconds=<s>
#   (counts from xtest's summary; "?" when xtest printed none, e.g. it crashed), then `poweroff -f`
#   (PSCI SYSTEM_OFF; QEMU exits 0). Kernel command lines carry at most 32 init arguments.
#
# The archive is reproducible (fixed mtimes, owners, order; gzip -n) and cached: rebuilt only when
# an input or this script changes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"
stack_lock

[ $# -eq 1 ] || die "usage: $0 <out.cpio.gz>"
OUT=$1
XTEST_DIR=$STACK_DIR/xtest
LIST=$XTEST_DIR/debs.list
BUSYBOX=$STACK_DIR/busybox/busybox
MODDIR=$KERNEL_DIR/modules
PKCS11_UUID=fd02c9da-306c-48c7-a49c-bbd827ae86ee
PKCS11_TA=$OPTEE_DIR/build/ta/pkcs11/$PKCS11_UUID.ta
READELF=${CROSS}readelf

need_cmd cpio cpio
need_cmd gzip gzip
need_cmd dpkg-deb dpkg
need_cmd "$READELF" binutils-aarch64-linux-gnu
need_file "$LIST" "the xtest .debs, run ci/fetch-xtest-debs.sh"
need_file "$BUSYBOX" "busybox-static:arm64, run ci/fetch-kernel.sh"
need_file "$MODDIR/order" "kernel modules, run ci/fetch-kernel.sh"
need_file "$PKCS11_TA" "the PKCS#11 TA of the OP-TEE build, run ci/build-secure-world.sh"
mapfile -t MODS < "$MODDIR/order"
for m in "${MODS[@]}"; do need_file "$MODDIR/$m" "kernel module, run ci/fetch-kernel.sh"; done
DEBFILES=()
while read -r _pkg _ver file; do
    need_file "$XTEST_DIR/debs/$file" "a .deb named in $LIST, run ci/fetch-xtest-debs.sh"
    DEBFILES+=("$XTEST_DIR/debs/$file")
done < "$LIST"

key=$( (sha256sum "$BUSYBOX" "$PKCS11_TA" "${BASH_SOURCE[0]}" "${DEBFILES[@]}"
        for m in "${MODS[@]}"; do sha256sum "$MODDIR/$m"; done) |
       awk '{print $1}' | sha256sum | cut -c1-32)
if [ -f "$OUT" ] && [ -f "$OUT.key" ] && [ "$(cat "$OUT.key")" = "$key" ]; then
    step "xtest initramfs $OUT: up to date"
    exit 0
fi

t0=$(now)
step "building the xtest initramfs $OUT ($(awk '$1 == "optee-test-qemu" { print $1, $2 }' "$LIST"))"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
P=$T/pkgs            # every .deb unpacked: where files are taken from
R=$T/root            # the initramfs
mkdir -p "$P"
for d in "${DEBFILES[@]}"; do dpkg-deb -x "$d" "$P"; done

mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,usr/lib/aarch64-linux-gnu,usr/lib/modules,proc,sys,dev,tmp,run}
mkdir -p "$R/var/lib/optee-client/data/tee" "$R/usr/lib/optee_armtz" "$R/usr/lib/tee-supplicant/plugins"
ln -s usr/lib "$R/lib"
cp "$BUSYBOX" "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
mknod -m 600 "$R/dev/console" c 5 1           # stdio of PID 1 before devtmpfs is mounted
mknod -m 666 "$R/dev/null" c 1 3
for m in "${MODS[@]}"; do cp "$MODDIR/$m" "$R/usr/lib/modules/"; done
cp "$MODDIR/order" "$R/usr/lib/modules/order"

install -m 755 "$P/usr/bin/xtest" "$R/usr/bin/xtest"
install -m 755 "$P/usr/sbin/tee-supplicant" "$R/usr/sbin/tee-supplicant"
plugins=("$P"/usr/lib/tee-supplicant/plugins/*.plugin)
[ -e "${plugins[0]}" ] || die "no tee-supplicant plugin in the .debs (xtest 1033 needs it)"
cp "${plugins[@]}" "$R/usr/lib/tee-supplicant/plugins/"
tas=("$P"/usr/lib/optee_armtz/*.ta)
[ -e "${tas[0]}" ] || die "no trusted applications in /usr/lib/optee_armtz of the .debs"
cp "${tas[@]}" "$R/usr/lib/optee_armtz/"
cp "$PKCS11_TA" "$R/usr/lib/optee_armtz/"

# Shared libraries: the ELF interpreter plus the NEEDED closure of every ELF copied so far. Each is
# looked up where the packages put it (multiarch dir first) and copied as a regular file under
# its SONAME (symlinks resolved).
libdirs=("$P/usr/lib/aarch64-linux-gnu" "$P/usr/lib")
copy_lib() {   # soname -> 0 when newly copied
    local name=$1 d
    [ -e "$R/usr/lib/aarch64-linux-gnu/$name" ] && return 1
    for d in "${libdirs[@]}"; do
        if [ -e "$d/$name" ]; then
            cp -L "$d/$name" "$R/usr/lib/aarch64-linux-gnu/$name"
            return 0
        fi
    done
    die "shared library $name (NEEDED by the xtest user space) is in none of the .debs: add its package to ci/fetch-xtest-debs.sh"
}
interp=$("$READELF" -l "$R/usr/bin/xtest" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[ "$interp" = /lib/ld-linux-aarch64.so.1 ] || die "xtest's ELF interpreter is '$interp', expected /lib/ld-linux-aarch64.so.1"
copy_lib ld-linux-aarch64.so.1 || true
ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$R/usr/lib/ld-linux-aarch64.so.1"
# glibc dlopen()s libgcc_s for stack unwinding (pthread_exit, pthread_cancel: xtest's threads);
# no ELF names it in NEEDED.
copy_lib libgcc_s.so.1 || true
queue=("$R/usr/bin/xtest" "$R/usr/sbin/tee-supplicant" "$R"/usr/lib/tee-supplicant/plugins/*.plugin)
while [ ${#queue[@]} -gt 0 ]; do
    elf=${queue[0]}; queue=("${queue[@]:1}")
    for name in $("$READELF" -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        if copy_lib "$name"; then queue+=("$R/usr/lib/aarch64-linux-gnu/$name"); fi
    done
done

cat > "$R/init" <<'EOF'
#!/bin/sh
# PID 1 of the xtest initramfs (ci/mkinitramfs-xtest.sh). "$@" = the kernel command line's words
# after " -- ", passed to xtest as they are.
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
hostname xtest
echo "XTEST-INIT: kernel $(uname -r), $(grep -c '^processor' /proc/cpuinfo) CPUs, xtest args: $*"

# The end, whatever happened: one result line, then PSCI SYSTEM_OFF.
finish() {
    echo "XTEST-RESULT $1"
    sync
    poweroff -f
    sleep 10
}
error() { echo "XTEST-ERROR: $*"; finish "rc=none cases=? cases-failed=? skipped=? subtests=? subtests-failed=? seconds=0"; }

# The 2000 series (sockets) connects to servers on 127.0.0.1 through the supplicant.
ip link set lo up || error "cannot bring lo up"
failed=""
for m in $(cat /lib/modules/order); do
    insmod "/lib/modules/$m" || failed="$failed ${m%.ko}"
done
[ -z "$failed" ] || error "insmod failed:$failed"
i=0
while [ ! -e /dev/teepriv0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /dev/tee0 ] && [ -e /dev/teepriv0 ] ||
    error "no /dev/tee0 + /dev/teepriv0 after 10 s (OP-TEE's driver did not probe over FF-A): $(dmesg | grep -iE 'ffa|optee' | tail -5 | tr '\n' ' ')"
tee-supplicant &
sleep 0.2
kill -0 $! 2>/dev/null || error "tee-supplicant exited at start"

start=$(cut -d' ' -f1 /proc/uptime)
echo "XTEST-START: uptime $start s: xtest $*"
if [ "${xtest_live:-0}" = 1 ]; then
    { xtest "$@"; echo $? > /tmp/xtest.rc; } 2>&1 | tee /tmp/xtest.log
else
    # The console stays quiet while xtest runs: the hypervisor writes to the same UART, and its
    # lines would be cut by xtest's where two CPUs print at once.
    xtest "$@" > /tmp/xtest.log 2>&1
    echo $? > /tmp/xtest.rc
fi
end=$(cut -d' ' -f1 /proc/uptime)
if [ "${xtest_live:-0}" != 1 ]; then
    echo "XTEST-LOG-BEGIN"
    cat /tmp/xtest.log
    echo "XTEST-LOG-END"
fi
rc=$(cat /tmp/xtest.rc 2>/dev/null || echo none)
# xtest's summary: "N subtests of which F failed", "N test cases of which F failed",
# "N test cases were skipped" (singular forms for 1).
count() { sed -n "s/^\([0-9][0-9]*\) $1.*/\1/p" /tmp/xtest.log | tail -1; }
fails() { sed -n "s/^[0-9][0-9]* $1 of which \([0-9][0-9]*\) failed.*/\1/p" /tmp/xtest.log | tail -1; }
v() { if [ -n "$1" ]; then echo "$1"; else echo "?"; fi; }
finish "rc=$rc cases=$(v "$(count 'test cases* of which')") cases-failed=$(v "$(fails 'test cases*')") skipped=$(v "$(count 'test cases* w[a-z]* skipped')") subtests=$(v "$(count 'subtests* of which')") subtests-failed=$(v "$(fails 'subtests*')") seconds=$(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }')"
EOF
chmod 755 "$R/init"

mkdir -p "$(dirname "$OUT")"
find "$R" -exec touch -h -d @0 {} +
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
    gzip -9 -n > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
printf '%s\n' "$key" > "$OUT.key"
step "xtest initramfs ready: $OUT ($(stat -c %s "$OUT") bytes; $(find "$R" -type f | wc -l) files, $(du -sm "$R" | cut -f1) MiB unpacked; $(ls "$R/usr/lib/optee_armtz" | wc -l) TAs; libraries: $(ls "$R/usr/lib/aarch64-linux-gnu" | tr '\n' ' ')) ($(since "$t0"))"
