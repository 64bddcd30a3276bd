#!/bin/bash
# The project's numbers, each next to its goal (reported, not asserted):
#   1. the flashed hypervisor image (BL33), bytes/KiB             goal <= 128 KiB
#   2. the carve-out the hypervisor reserves for itself            goal <= 4 MiB
#   3. the host stage-2 table pages (and the block mix)           no goal yet
#   4. EL2 instructions from hypervisor entry to the first host   goal <= 2,000,000
#      (NS-EL1) instruction, counted by the el-counter QEMU plugin
#
#   ci/bench.sh                       # `make bench`; see docs/bench.md
#
# It boots the real stack once, through ci/qemu.sh (TF-A + OP-TEE + the hypervisor + the host
# kernel), with tools/el-counter loaded, and reads the hypervisor's console lines
#   hyp: image <N> bytes
#   hyp: carve-out 0x<start>-0x<end> (<N> KiB)
#   hyp: stage-2 <N> table pages, blocks 1G=<a> 2M=<b> 4K=<c>
#   hyp: entering host at EL1 pc=0x<pc>
# and the plugin's "el-counter: boot vcpu=0 ..." line. Outputs stay in build/bench/.
#
# Environment (all optional):
#   BENCH_RUN=boot|full   boot (default): stop QEMU as soon as the host's first instruction has
#                         run; full: let the host run until it powers off (or the timeout)
#   BENCH_TIMEOUT=60|300  seconds (boot|full run) before QEMU is stopped (SIGTERM, then SIGKILL)
#   BENCH_BOOTARGS        host command line in the DTB (default "console=ttyAMA0 autotest":
#                         the initramfs prints its checks and powers off)
#   BENCH_SMP=1           vCPUs (QEMU_SMP from config.sh is for the tests, not the bench)
#   BENCH_ICOUNT=1        add -icount shift=0,sleep=off (deterministic timers); 0 to leave out
#   BENCH_MODE=tb         el-counter mode (tb or insn; they agree, tb is cheaper)
#   BENCH_STRICT=0        1: exit 3 when a figure is over its goal
#   BENCH_HYP_BIN         the hypervisor image (default: HYP_BIN from stack.env, else
#                         build/hypervisor.bin); it is flashed as BL33 with ci/mkflash.sh
#   BENCH_FLASH, BENCH_DTB, BENCH_KERNEL, BENCH_INITRD: use these instead of making/looking up
#   BENCH_NO_STACK=1      do not run ci/stack.sh first (it is cached and fast once built)
#   BENCH_HYP_ELF         the hypervisor ELF, for the boot profile's symbols (default: HYP_ELF
#                         from stack.env, else the Makefile's target/.../hypervisor-image)
#   BENCH_HOT=10          functions listed in the boot profile (0: no profile)
#   BENCH_QEMU_SH         another script with ci/qemu.sh's interface (for testing the bench)
#
# Exit status: 0 all four figures measured, 1 a figure could not be measured, 2 something the
# bench needs is missing, 3 (BENCH_STRICT=1 only) a figure is over its goal.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

OUT=$BUILD_DIR/bench
RUN=${BENCH_RUN:-boot}
TIMEOUT=${BENCH_TIMEOUT:-$([ "$RUN" = boot ] && echo 60 || echo 300)}
BOOTARGS=${BENCH_BOOTARGS:-console=ttyAMA0 autotest}
SMP=${BENCH_SMP:-1}
ICOUNT=${BENCH_ICOUNT:-1}
MODE=${BENCH_MODE:-tb}
STRICT=${BENCH_STRICT:-0}
HOT=${BENCH_HOT:-10}
PLUGIN=$BUILD_DIR/plugins/libel-counter.so
QEMU_SH=${BENCH_QEMU_SH:-$CI_DIR/qemu.sh}

GOAL_IMAGE_KIB=128
GOAL_CARVEOUT_KIB=4096
GOAL_BOOT_EL2=2000000

missing() { printf '[bench.sh] MISSING: %s\n' "$*" >&2; exit 2; }
case $RUN in boot|full) ;; *) missing "BENCH_RUN must be boot or full, not '$RUN'" ;; esac
case $MODE in tb|insn) ;; *) missing "BENCH_MODE must be tb or insn, not '$MODE'" ;; esac

# --- 1. what the run needs ---------------------------------------------------------------------
command -v qemu-system-aarch64 >/dev/null ||
    missing "qemu-system-aarch64 (Debian package qemu-system-arm): run ci/install-packages.sh"
[ -f "$QEMU_SH" ] || missing "$QEMU_SH (the project's QEMU command line)"
if [ -x "$CI_DIR/stack.sh" ] && [ -z "${BENCH_NO_STACK:-}" ]; then
    "$CI_DIR/stack.sh" --quiet || missing "the QEMU test stack (ci/stack.sh failed, see above)"
fi
[ -f "$STACK_ENV" ] && source "$STACK_ENV"
first_set() { local v; for v in "$@"; do [ -n "${!v:-}" ] && { echo "${!v}"; return 0; }; done; return 0; }
HYP_BIN=$(first_set BENCH_HYP_BIN HYP_BIN)
HYP_BIN=${HYP_BIN:-$BUILD_DIR/hypervisor.bin}
KERNEL=$(first_set BENCH_KERNEL KERNEL_IMAGE)
INITRD=$(first_set BENCH_INITRD INITRAMFS)
[ -f "$HYP_BIN" ] || missing "the hypervisor image $HYP_BIN: run make (or set BENCH_HYP_BIN)"
[ -s "$HYP_BIN" ] || missing "the hypervisor image $HYP_BIN is empty"
[ -n "$KERNEL" ] || missing "the host kernel: no KERNEL_IMAGE in $STACK_ENV (run ci/stack.sh, or set BENCH_KERNEL)"
[ -f "$KERNEL" ] || missing "kernel file $KERNEL"
[ -z "$INITRD" ] || [ -f "$INITRD" ] || missing "initrd file $INITRD"

mkdir -p "$OUT"
bash "$CI_DIR/build-plugin.sh" || missing "the el-counter plugin could not be built (see above)"
if [ -n "${BENCH_FLASH:-}" ]; then
    FLASH=$BENCH_FLASH
    [ -f "$FLASH" ] || missing "flash image $FLASH (BENCH_FLASH)"
    note "flash: $FLASH (given; its BL33 is assumed to be $HYP_BIN)"
else
    # Flash exactly the image whose size is reported.
    FLASH=$OUT/flash.bin
    "$CI_DIR/mkflash.sh" "$HYP_BIN" "$FLASH" >/dev/null ||
        missing "could not make a flash image from $HYP_BIN (ci/mkflash.sh; run ci/stack.sh)"
fi
if [ -n "${BENCH_DTB:-}" ]; then
    DTB=$BENCH_DTB
    [ -f "$DTB" ] || missing "DTB $DTB (BENCH_DTB)"
else
    DTB=$OUT/bench.dtb
    QEMU_SMP=$SMP "$CI_DIR/mkdtb.sh" "$FLASH" "$KERNEL" "${INITRD:--}" "$BOOTARGS" "$DTB" >/dev/null ||
        missing "could not make the DTB (ci/mkdtb.sh)"
fi

# --- 2. one boot with the plugin ---------------------------------------------------------------
CONSOLE=$OUT/console.log PLOG=$OUT/el-counter.log SECLOG=$OUT/secure.log
rm -f "$CONSOLE" "$PLOG" "$SECLOG"
qargs=(--flash "$FLASH" --dtb "$DTB" --kernel "$KERNEL" --smp "$SMP" --secure-log "$SECLOG")
[ -n "$INITRD" ] && qargs+=(--initrd "$INITRD")
popts=mode=$MODE
[ "$HOT" -gt 0 ] && popts+=,hot=1000000
extra=(-plugin "$PLUGIN,$popts" -d plugin -D "$PLOG")
if [ "$ICOUNT" = 1 ] && ! grep -q -- '-icount' "$QEMU_SH"; then
    extra+=(-icount shift=0,sleep=off)
fi
printf '%q ' bash "$QEMU_SH" "${qargs[@]}" -- "${extra[@]}" > "$OUT/command.txt"
step "booting ($RUN run, timeout ${TIMEOUT}s): $(cat "$OUT/command.txt")"

alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# setsid: QEMU (ci/qemu.sh execs it) leads its own process group, so stopping it stops exactly
# what this script started, wrapper included, and nothing else.
setsid bash "$QEMU_SH" "${qargs[@]}" -- "${extra[@]}" </dev/null >"$CONSOLE" 2>&1 &
qpid=$!
stop_qemu() {
    local sig target=$qpid
    [ "$(ps -o pgid= -p "$qpid" 2>/dev/null | tr -d ' ')" = "$qpid" ] && target=-$qpid
    for sig in TERM KILL; do
        alive "$qpid" || return 0
        kill -s "$sig" -- "$target" 2>/dev/null || true
        for _ in $(seq 50); do alive "$qpid" || return 0; sleep 0.2; done
    done
}
trap 'stop_qemu' EXIT INT TERM
t0=$SECONDS ended=""
while alive "$qpid"; do
    if [ "$RUN" = boot ] && grep -q '^el-counter: boot vcpu=0 ' "$PLOG" 2>/dev/null; then
        ended="host entered"; break
    fi
    if [ $((SECONDS - t0)) -ge "$TIMEOUT" ]; then ended="timeout after ${TIMEOUT}s"; break; fi
    sleep 0.2
done
stop_qemu
rc=0; wait "$qpid" 2>/dev/null || rc=$?
trap - EXIT INT TERM
[ -n "$ended" ] || ended="QEMU exited (status $rc)"
note "run ended: $ended, $((SECONDS - t0)) s wall"
tr -d '\r' < "$CONSOLE" > "$CONSOLE.txt" && mv "$CONSOLE.txt" "$CONSOLE"

# --- 3. the figures ----------------------------------------------------------------------------
con() { grep -o -E "$1" "$CONSOLE" | head -1 || true; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }
verdict() { [ "$1" -le "$2" ] && echo ok || echo over; }   # value goal
unmeasured=0 over=0
rows=() why=()
row() { rows+=("$(printf '%-34s %-42s %-16s %s' "$@")"); [ "$4" = over ] && over=$((over + 1)); true; }
lost() { row "$1" "NOT MEASURED" "$3" "-"; why+=("$1: $2"); unmeasured=$((unmeasured + 1)); }

# 1. image: the file that was flashed; the hypervisor's own figure beside it
img=$(stat -c %s "$HYP_BIN")
row "hypervisor image (flashed BL33)" "$img bytes ($(kib "$img") KiB)" "<= $GOAL_IMAGE_KIB KiB" \
    "$(verdict "$img" $((GOAL_IMAGE_KIB * 1024)))"
img_con=$(con 'hyp: image [0-9]+ bytes' | awk '{ print $3 }')

# 2. carve-out
line=$(con 'hyp: carve-out 0x[0-9a-fA-F]+-0x[0-9a-fA-F]+ \([0-9]+ KiB\)')
if [ -n "$line" ]; then
    read -r c_start c_end c_kib < <(echo "$line" | sed -E 's/hyp: carve-out (0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+) \(([0-9]+) KiB\)/\1 \2 \3/')
    row "carve-out" "$c_kib KiB ($c_start-$c_end)" "<= 4 MiB" "$(verdict "$c_kib" $GOAL_CARVEOUT_KIB)"
    span=$(( c_end - c_start ))
    [ "$span" = $((c_kib * 1024)) ] || [ $((span + 1)) = $((c_kib * 1024)) ] ||
        note "warning: carve-out range $c_start-$c_end spans $span bytes, the line says $c_kib KiB"
else
    lost "carve-out" "no 'hyp: carve-out 0x..-0x.. (N KiB)' line" "<= 4 MiB"
fi

# 3. stage-2
line=$(con 'hyp: stage-2 [0-9]+ table pages, blocks 1G=[0-9]+ 2M=[0-9]+ 4K=[0-9]+')
if [ -n "$line" ]; then
    read -r s2_pages s2_blocks < <(echo "$line" | sed -E 's/hyp: stage-2 ([0-9]+) table pages, blocks (.*)/\1 \2/')
    row "host stage-2 table pages" "$s2_pages ($((s2_pages * 4)) KiB); $s2_blocks" "-" "-"
else
    lost "host stage-2 table pages" "no 'hyp: stage-2 N table pages, blocks ...' line" "-"
fi

# 4. boot instructions
boot=$(grep -m1 '^el-counter: boot vcpu=0 ' "$PLOG" 2>/dev/null || true)
field() { echo "$boot" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
if [ -n "$boot" ]; then
    b_el2=$(field NS-EL2)
    row "boot: EL2 insns, entry -> host" "$b_el2" "<= $GOAL_BOOT_EL2" "$(verdict "$b_el2" $GOAL_BOOT_EL2)"
else
    lost "boot: EL2 insns, entry -> host" "the plugin saw no NS-EL2 -> NS-EL1 entry ($PLOG)" "<= $GOAL_BOOT_EL2"
fi

# --- 4. report ---------------------------------------------------------------------------------
qver=$(qemu-system-aarch64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')
echo
printf '== bench: %s, QEMU %s, el-counter mode=%s%s, smp %s ==\n' "$(basename "$HYP_BIN")" \
    "$qver" "$MODE" "$([ "$ICOUNT" = 1 ] && echo ", icount")" "$SMP"
printf '%-34s %-42s %-16s %s\n' figure value goal status
printf '%s\n' "${rows[@]}"
[ ${#why[@]} -eq 0 ] || printf 'NOT MEASURED, %s\n' "${why[@]}"
echo
[ -z "$img_con" ] || [ "$img_con" = "$img" ] ||
    echo "note: the hypervisor reports 'image $img_con bytes' (in memory); the flashed file is $img bytes"
if [ -n "$boot" ]; then
    echo "boot window (first NS-EL2 -> first NS-EL1 instruction), all states: ${boot#el-counter: boot vcpu=0 }"
    pc_con=$(con 'hyp: entering host at EL1 pc=0x[0-9a-fA-F]+' | sed 's/.*pc=//')
    pc_plug=$(field host_pc)
    if [ -n "$pc_con" ] && [ $((pc_con)) != $((pc_plug)) ]; then
        echo "WARNING: the hypervisor says it enters the host at $pc_con, the first NS-EL1 TB was at $pc_plug"
    fi
fi
[ "$SMP" -gt 1 ] && echo "WARNING: --smp $SMP: ci/qemu.sh runs round-robin TCG, where QEMU 10.0 counts a TB for the vCPU that translated it; the per-vCPU figures (boot included) are only exact with --smp 1"

# Where the boot's EL2 instructions go: the plugin's profile (code segments) summed per function
# of the hypervisor ELF (linked at 0, loaded at HYP_ADDR; EL2 runs it at VA = PA).
if [ "$HOT" -gt 0 ] && grep -q '^el-counter: hot pc=' "$PLOG" 2>/dev/null; then
    ELF=$(first_set BENCH_HYP_ELF HYP_ELF)
    ELF=${ELF:-$ROOT_DIR/target/aarch64-unknown-none-softfloat/release/hypervisor-image}
    syms=/dev/null
    if [ -f "$ELF" ] && command -v aarch64-linux-gnu-nm >/dev/null; then
        syms=$OUT/symbols.txt
        aarch64-linux-gnu-nm -C --defined-only -n "$ELF" | awk '$2 ~ /^[tTwW]$/' |
            sed -E 's/::h[0-9a-f]{16}$//' > "$syms"
    fi
    echo
    echo "boot profile: NS-EL2 instructions per function, top $HOT (symbols: $([ "$syms" = /dev/null ] && echo "none, $ELF not found" || echo "${ELF#"$ROOT_DIR"/}"))"
    grep '^el-counter: hot pc=' "$PLOG" | sed -E 's/.*pc=(0x[0-9a-f]+) insns=([0-9]+).*/\1 \2/' |
    awk -v base=$((HYP_ADDR)) -v symfile="$syms" '
        function hex(x,   i, v) { x = tolower(x); sub(/^0x/, "", x); v = 0
            for (i = 1; i <= length(x); i++) v = v * 16 + index("0123456789abcdef", substr(x, i, 1)) - 1
            return v }
        BEGIN { n = 0
            while ((getline l < symfile) > 0) {
                split(l, f, " "); a[n] = hex(f[1]); sub(/^[^ ]+ [^ ]+ /, "", l); s[n++] = l } }
        { pc = hex($1); off = pc - base; name = sprintf("pc %s", $1)
          if (n > 0 && off >= 0 && off >= a[0]) {
              lo = 0; hi = n - 1
              while (lo < hi) { mid = int((lo + hi + 1) / 2); if (a[mid] <= off) lo = mid; else hi = mid - 1 }
              name = s[lo] }
          sum[name] += $2 }
        END { for (k in sum) printf "%d\t%s\n", sum[k], k }' |
    sort -k1,1nr |
    awk -F'\t' -v total="${b_el2:-0}" -v top="$HOT" \
        'NR <= top { printf "  %10d  %5.1f%%  %s\n", $1, total ? 100 * $1 / total : 0, $2 }'
fi
if [ "$RUN" = full ] && grep -q '^el-counter: traps ' "$PLOG" 2>/dev/null; then
    echo
    echo "host traps into EL2 (NS-EL2 instructions from the vector to the ERET; see docs/bench.md):"
    sed -n 's/^el-counter: \(traps .*\)/  \1/p; s/^el-counter: trap /  /p' "$PLOG"
fi
echo "files: $CONSOLE (console), $PLOG (plugin), $OUT/command.txt"
{
    echo "image_bytes=$img"
    echo "image_bytes_console=${img_con:-}"
    echo "carveout_kib=${c_kib:-}"
    echo "stage2_table_pages=${s2_pages:-}"
    echo "boot_el2_insns=${b_el2:-}"
} > "$OUT/results.env"

if [ "$unmeasured" -gt 0 ]; then
    echo "[bench.sh] $unmeasured figure(s) not measured; console tail:" >&2
    tail -n 15 "$CONSOLE" >&2
    exit 1
fi
[ "$STRICT" = 1 ] && [ "$over" -gt 0 ] && exit 3
exit 0
