#!/bin/bash
# The project's numbers, each next to its goal (reported, not asserted):
#   1. the flashed hypervisor image (BL33), bytes/KiB             goal <= 128 KiB
#   2. the carve-out the hypervisor reserves for itself            goal <= 4 MiB
#   3. the host stage-2 table pages (and the block mix)           no goal yet
#   4. EL2 instructions from hypervisor entry to the first host   goal <= 2,000,000
#      (NS-EL1) instruction, counted by the el-counter QEMU plugin
#   5. EL2 instructions per trapped call, per function ID (count, mean, min, max), beside
#      pKVM's figures on this stack and the goal (<= 100 per forwarded DIRECT_REQ), for
#      (a) the EL1 test payload's bench workload (tests/payload/src/bench.rs: FF-A calls
#      Linux does not make at boot, a rejected call, PSCI and SMCCC) and (b) Linux booting,
#      issuing BENCH_TEEBENCH direct requests to OP-TEE from user space (tests/teebench: one
#      FFA_MSG_SEND_DIRECT_REQ each through /dev/tee0) and powering off
#
#   ci/bench.sh                       # `make bench`; see docs/bench.md
#
# It boots the real stack through ci/qemu.sh (TF-A + OP-TEE + the hypervisor + the host
# kernel), with tools/el-counter loaded, then the payload the same way, and reads the
# hypervisor's console lines
#   hyp: image <N> bytes
#   hyp: carve-out 0x<start>-0x<end> (<N> KiB)
#   hyp: stage-2 <N> table pages, blocks 1G=<a> 2M=<b> 4K=<c>
#   hyp: entering host at EL1 pc=0x<pc>
# and the plugin's "el-counter: boot vcpu=0 ..." line. Outputs stay in build/bench/.
#
# Environment (all optional):
#   BENCH_RUN=full|boot   full (default): let the host run until it powers off (or the
#                         timeout), and list its trapped calls; boot: stop QEMU as soon as the
#                         host's first instruction has run (figures 1-4 only)
#   BENCH_PAYLOAD         the EL1 payload image for workload (a) (default build/payload.bin,
#                         `make payload`); 0: skip workload (a)
#   BENCH_TRAP_PROFILE=ID also profile the trap windows of function ID (e.g. 0x8400006f): the
#                         NS-EL2 instructions per hypervisor function, as the boot profile
#   BENCH_TIMEOUT=60|300  seconds (boot|full run) before QEMU is stopped (SIGTERM, then SIGKILL)
#   BENCH_TEEBENCH=1000   requests teebench makes in workload (b) (0: none; the initramfs then
#                         prints its checks and powers off)
#   BENCH_BOOTARGS        host command line in the DTB (default "console=ttyAMA0
#                         teebench=$BENCH_TEEBENCH", or "console=ttyAMA0 autotest" for 0)
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
RUN=${BENCH_RUN:-full}
TIMEOUT=${BENCH_TIMEOUT:-$([ "$RUN" = boot ] && echo 60 || echo 300)}
TEEBENCH=${BENCH_TEEBENCH:-1000}
[[ $TEEBENCH =~ ^[0-9]+$ ]] || die "BENCH_TEEBENCH=$TEEBENCH: a number of requests"
if [ "$TEEBENCH" -gt 0 ]; then
    BOOTARGS=${BENCH_BOOTARGS:-console=ttyAMA0 teebench=$TEEBENCH}
else
    BOOTARGS=${BENCH_BOOTARGS:-console=ttyAMA0 autotest}
fi
SMP=${BENCH_SMP:-1}
ICOUNT=${BENCH_ICOUNT:-1}
MODE=${BENCH_MODE:-tb}
STRICT=${BENCH_STRICT:-0}
HOT=${BENCH_HOT:-10}
TRAP_PROFILE=${BENCH_TRAP_PROFILE:-}
PAYLOAD=${BENCH_PAYLOAD:-$BUILD_DIR/payload.bin}
PLUGIN=$BUILD_DIR/plugins/libel-counter.so
QEMU_SH=${BENCH_QEMU_SH:-$CI_DIR/qemu.sh}

GOAL_IMAGE_KIB=128
GOAL_CARVEOUT_KIB=4096
GOAL_BOOT_EL2=2000000

missing() { printf '[bench.sh] MISSING: %s\n' "$*" >&2; exit 2; }
case $RUN in boot|full) ;; *) missing "BENCH_RUN must be boot or full, not '$RUN'" ;; esac
case $MODE in tb|insn) ;; *) missing "BENCH_MODE must be tb or insn, not '$MODE'" ;; esac
[ -z "$TRAP_PROFILE" ] || [[ $TRAP_PROFILE =~ ^0x[0-9a-fA-F]{1,8}$ ]] ||
    missing "BENCH_TRAP_PROFILE must be a function ID like 0x8400006f, not '$TRAP_PROFILE'"

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

# --- 2. the boots with the plugin -------------------------------------------------------------
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
qpid=""
stop_qemu() {
    [ -n "$qpid" ] || return 0
    local sig target=$qpid
    [ "$(ps -o pgid= -p "$qpid" 2>/dev/null | tr -d ' ')" = "$qpid" ] && target=-$qpid
    for sig in TERM KILL; do
        alive "$qpid" || return 0
        kill -s "$sig" -- "$target" 2>/dev/null || true
        for _ in $(seq 50); do alive "$qpid" || return 0; sleep 0.2; done
    done
}
trap 'stop_qemu' EXIT INT TERM

# boot_once LABEL CONSOLE PLOG CMDFILE STOP(boot|full) TIMEOUT -- ci/qemu.sh arguments...
# Runs one QEMU with the plugin; sets `ended` to why the run ended.
boot_once() {
    local label=$1 console=$2 plog=$3 cmdfile=$4 stop=$5 timeout=$6; shift 7
    rm -f "$console" "$plog"
    local popts=mode=$MODE
    [ "$HOT" -gt 0 ] && [ "$stop" != payload ] && popts+=,hot=1000000
    [ -n "$TRAP_PROFILE" ] && popts+=,tid=$TRAP_PROFILE
    local extra=(-plugin "$PLUGIN,$popts" -d plugin -D "$plog")
    if [ "$ICOUNT" = 1 ] && ! grep -q -- '-icount' "$QEMU_SH"; then
        extra+=(-icount shift=0,sleep=off)
    fi
    printf '%q ' bash "$QEMU_SH" "$@" -- "${extra[@]}" > "$cmdfile"
    step "booting $label (timeout ${timeout}s): $(cat "$cmdfile")"
    # setsid: QEMU (ci/qemu.sh execs it) leads its own process group, so stopping it stops
    # exactly what this script started, wrapper included, and nothing else.
    setsid bash "$QEMU_SH" "$@" -- "${extra[@]}" </dev/null >"$console" 2>&1 &
    qpid=$!
    local t0=$SECONDS rc=0
    ended=""
    while alive "$qpid"; do
        if [ "$stop" = boot ] && grep -q '^el-counter: boot vcpu=0 ' "$plog" 2>/dev/null; then
            ended="host entered"; break
        fi
        if [ $((SECONDS - t0)) -ge "$timeout" ]; then ended="timeout after ${timeout}s"; break; fi
        sleep 0.2
    done
    stop_qemu
    wait "$qpid" 2>/dev/null || rc=$?
    qpid=""
    [ -n "$ended" ] || ended="QEMU exited (status $rc)"
    note "run ended: $ended, $((SECONDS - t0)) s wall"
    tr -d '\r' < "$console" > "$console.txt" && mv "$console.txt" "$console"
}

CONSOLE=$OUT/console.log PLOG=$OUT/el-counter.log SECLOG=$OUT/secure.log
rm -f "$SECLOG"
qargs=(--flash "$FLASH" --dtb "$DTB" --kernel "$KERNEL" --smp "$SMP" --secure-log "$SECLOG")
[ -n "$INITRD" ] && qargs+=(--initrd "$INITRD")
boot_once "the host ($RUN run)" "$CONSOLE" "$PLOG" "$OUT/command.txt" "$RUN" "$TIMEOUT" -- "${qargs[@]}"

# Workload (a): the payload's bench mode, same flash, its own DTB (bootargs "bench").
PCONSOLE=$OUT/payload-console.log PPLOG=$OUT/payload-el-counter.log payload_why=""
if [ "$RUN" != full ]; then
    payload_why="BENCH_RUN=$RUN"
elif [ "$PAYLOAD" = 0 ]; then
    payload_why="BENCH_PAYLOAD=0"
elif [ ! -s "$PAYLOAD" ]; then
    payload_why="no payload image $PAYLOAD (make payload, or set BENCH_PAYLOAD)"
elif ! QEMU_SMP=$SMP "$CI_DIR/mkdtb.sh" "$FLASH" "$PAYLOAD" - "console=ttyAMA0 bench" \
        "$OUT/payload-bench.dtb" >/dev/null; then
    payload_why="could not make the payload's DTB (ci/mkdtb.sh)"
else
    boot_once "the payload's bench workload" "$PCONSOLE" "$PPLOG" "$OUT/payload-command.txt" \
        payload 60 -- --flash "$FLASH" --dtb "$OUT/payload-bench.dtb" --kernel "$PAYLOAD" \
        --smp "$SMP" --secure-log "$OUT/payload-secure.log"
    grep -q '^PAYLOAD-BENCH rounds=' "$PCONSOLE" ||
        payload_why="the payload printed no PAYLOAD-BENCH line (its run ended: $ended; see $PCONSOLE)"
fi
trap - EXIT INT TERM

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

# The ELF's symbols, for the profiles: the plugin's code segments summed per function of the
# hypervisor ELF (linked at 0, loaded at HYP_ADDR; EL2 runs it at VA = PA).
ELF=$(first_set BENCH_HYP_ELF HYP_ELF)
ELF=${ELF:-$ROOT_DIR/target/aarch64-unknown-none-softfloat/release/hypervisor-image}
syms=/dev/null
if [ -f "$ELF" ] && command -v aarch64-linux-gnu-nm >/dev/null; then
    syms=$OUT/symbols.txt
    aarch64-linux-gnu-nm -C --defined-only -n "$ELF" | awk '$2 ~ /^[tTwW]$/' |
        sed -E 's/::h[0-9a-f]{16}$//' > "$syms"
fi
symbolize() {   # "pc insns" lines on stdin -> "insns<TAB>function", most first
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
        END { for (k in sum) printf "%d\t%s\n", sum[k], k }' | sort -k1,1nr
}

# Where the boot's EL2 instructions go.
if [ "$HOT" -gt 0 ] && grep -q '^el-counter: hot pc=' "$PLOG" 2>/dev/null; then
    echo
    echo "boot profile: NS-EL2 instructions per function, top $HOT (symbols: $([ "$syms" = /dev/null ] && echo "none, $ELF not found" || echo "${ELF#"$ROOT_DIR"/}"))"
    grep '^el-counter: hot pc=' "$PLOG" | sed -E 's/.*pc=(0x[0-9a-f]+) insns=([0-9]+).*/\1 \2/' |
    symbolize |
    awk -F'\t' -v total="${b_el2:-0}" -v top="$HOT" \
        'NR <= top { printf "  %10d  %5.1f%%  %s\n", $1, total ? 100 * $1 / total : 0, $2 }'
fi
# Figure 5: EL2 instructions per trapped call, per function ID. The FF-A names come from
# lib/ffa-spec/src/lib.rs, the one place the function IDs are typed (its `pub const NAME: u32 =
# 0x....;` lines, read here without a build); the other names, pKVM's figures (measured on this
# stack) and the goals are in the table below.
FFA_SPEC=$ROOT_DIR/lib/ffa-spec/src/lib.rs
trap_table() {   # plugin-log title
    local log=$1 title=$2
    echo
    echo "$title"
    printf '  %-34s %-10s %6s %8s %6s %6s %9s  %-9s %s\n' function id count mean min max el3+sec \
        pKVM goal
    sed -n 's/^el-counter: trap from=EL1 kind=\(SMC\|HVC\) //p' "$log" | awk '
        BEGIN {
            n["0x80000000"] = "SMCCC_VERSION"; n["0x80000001"] = "SMCCC_ARCH_FEATURES"
            n["0x84000000"] = "PSCI_VERSION"; n["0x84000006"] = "PSCI_MIGRATE_INFO_TYPE"
            n["0x8400000a"] = "PSCI_FEATURES"; n["0x84000050"] = "TRNG_VERSION"
            p["0x8400006f"] = "258"; p["0xc400006f"] = "258"; p["0x84000064"] = "255-269"
            p["0x84000063"] = "367"
            g["0x8400006f"] = "<= 100"; g["0xc400006f"] = "<= 100"
        }
        FILENAME == spec {   # "    pub const MEM_SHARE_64: u32 = 0xC400_0073;"
            if ($1 == "pub" && $2 == "const" && $3 ~ /:$/ && $4 == "u32" && $6 ~ /^0x[8C]4/) {
                id = tolower($6); gsub(/[_;]/, "", id); name = $3; sub(/:$/, "", name)
                n[id] = "FFA_" name
            }
            next
        }
        {
            for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            id = v["id"]; name = (id in n) ? n[id] : "refused or other"
            if (rejected != "" && id == rejected) { name = name " (rejected)"; goal = "< DIRECT_REQ" }
            else goal = (id in g) ? g[id] : "-"
            printf "  %-34s %-10s %6d %8.1f %6d %6d %9.1f  %-9s %s\n", name, id, v["count"], v["el2_mean"],
                v["el2_min"], v["el2_max"], v["el3_mean"] + v["sec_mean"], (id in p) ? p[id] : "-", goal
        }' rejected="${3:-}" spec="$FFA_SPEC" "$FFA_SPEC" -
}

if [ "$RUN" = full ]; then
    if [ -z "$payload_why" ]; then
        trap_table "$PPLOG" "EL2 instructions per trapped call, workload (a): the payload's bench mode ($(sed -n 's/^PAYLOAD-BENCH //p' "$PCONSOLE" | tail -1)):" 0x84000081
        echo "  (FFA_NOTIFICATION_SET is sent with a sender ID other than 0: rejected at EL2, never forwarded;"
        echo "   its max and mean include the rate-limited console lines, min is the steady state)"
    else
        echo
        echo "workload (a), the payload's bench mode: not run ($payload_why)"
    fi
    if grep -q '^el-counter: traps ' "$PLOG" 2>/dev/null; then
        trap_table "$PLOG" "EL2 instructions per trapped call, workload (b): Linux boots, user space makes $TEEBENCH requests to OP-TEE (teebench), power-off ($(sed -n 's/^el-counter: traps //p' "$PLOG")):"
        echo "  (NS-EL2 instructions from the vector to the ERET; el3+sec: firmware and OP-TEE work inside"
        echo "   the window; pKVM: its cost on this stack; see docs/bench.md)"
        if [ "$TEEBENCH" -gt 0 ]; then
            echo "  teebench: $(grep -a -m1 '^TEEBENCH: ' "$CONSOLE" | tr -d '\r' || echo 'no result line (see the console)')"
        fi
    fi
fi

# The trap profile (BENCH_TRAP_PROFILE=ID): where that call's EL2 instructions go.
if [ -n "$TRAP_PROFILE" ]; then
    for log in "$PPLOG" "$PLOG"; do
        [ -f "$log" ] || continue
        head=$(grep -m1 '^el-counter: thot id=' "$log" || true)
        [ -n "$head" ] || continue
        count=$(grep -m1 -i "^el-counter: trap .* id=$TRAP_PROFILE count=" "$log" | sed 's/.* count=\([0-9]*\).*/\1/')
        echo
        echo "trap profile of $TRAP_PROFILE in $(basename "$log") (${count:-0} calls): NS-EL2 instructions per call, per function"
        grep '^el-counter: thot pc=' "$log" | sed -E 's/.*pc=(0x[0-9a-f]+) insns=([0-9]+).*/\1 \2/' |
            symbolize |
            awk -F'\t' -v c="${count:-1}" '{ printf "  %10.1f  %s\n", $1 / (c ? c : 1), $2 }'
    done
fi
echo "files: $CONSOLE (console), $PLOG (plugin), $OUT/command.txt$([ -z "$payload_why" ] && echo ", $PCONSOLE, $PPLOG")"
{
    echo "image_bytes=$img"
    echo "image_bytes_console=${img_con:-}"
    echo "carveout_kib=${c_kib:-}"
    echo "stage2_table_pages=${s2_pages:-}"
    echo "boot_el2_insns=${b_el2:-}"
    # Figure 5, per workload and function ID: trap_<payload|linux>_<id>_<count|mean|min|max>.
    for w in payload linux; do
        log=$PLOG
        [ "$w" = payload ] && log=$PPLOG
        { [ "$RUN" = full ] && [ -f "$log" ]; } || continue
        [ "$w" = payload ] && [ -n "$payload_why" ] && continue
        sed -n 's/^el-counter: trap from=EL1 kind=[A-Z]* id=\(0x[0-9a-f]*\) count=\([0-9]*\) .*el2_min=\([0-9]*\) el2_max=\([0-9]*\) el2_mean=\([0-9.]*\) .*/\1 \2 \5 \3 \4/p' "$log" |
        while read -r id c mean min max; do
            printf 'trap_%s_%s_count=%s\ntrap_%s_%s_mean=%s\ntrap_%s_%s_min=%s\ntrap_%s_%s_max=%s\n' \
                "$w" "$id" "$c" "$w" "$id" "$mean" "$w" "$id" "$min" "$w" "$id" "$max"
        done
    done
} > "$OUT/results.env"

if [ "$unmeasured" -gt 0 ]; then
    echo "[bench.sh] $unmeasured figure(s) not measured; console tail:" >&2
    tail -n 15 "$CONSOLE" >&2
    exit 1
fi
[ "$STRICT" = 1 ] && [ "$over" -gt 0 ] && exit 3
exit 0
