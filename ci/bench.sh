#!/bin/bash
# The project's numbers, each next to its goal (reported, not asserted):
#   1. the flashed hypervisor image (BL33), bytes/KiB             goal <= 128 KiB
#   2. the carve-out the hypervisor reserves for itself            goal <= 4 MiB
#   3. the host stage-2 table pages (and the block mix)           no goal yet
#   4. EL2 instructions from hypervisor entry to the first host   goal <= 2,000,000
#      (NS-EL1) instruction, counted by the el-counter QEMU plugin
#   5. EL2 instructions per trapped call, per function ID (count, mean, min, max), for
#      (a) the EL1 test payload's bench workload (tests/payload/src/bench.rs: FF-A calls
#      Linux does not make at boot, a rejected call, PSCI and SMCCC) and (b) Linux booting,
#      issuing BENCH_TEEBENCH direct requests to OP-TEE from user space (tests/teebench: one
#      FFA_MSG_SEND_DIRECT_REQ each through /dev/tee0) and powering off; beside each, pKVM's
#      figure for the same function ID from (c), measured live in the same run
#   6. all-EL instructions per OP-TEE request from Linux user space (teebench's loop, which
#      it brackets with the plugin's span marker), with the hypervisor / without any, and the
#      same for pKVM
#   7. the goal table: every goal with ours, pKVM's and the status
#
# The runs, all on the same firmware (TF-A + OP-TEE), kernel and initramfs, one vCPU:
#   (b) the hypervisor as BL33, Linux as its host, teebench N
#   (a) the hypervisor as BL33, the EL1 payload's bench workload as its host
#   (c) pKVM: a six-instruction BL33 (ci/bench-bl33.S) enters Linux at EL2 with
#       kvm-arm.mode=protected (pKVM at EL2, hVHE on -cpu max; Linux at EL1), teebench N
#   (d) no hypervisor: the same BL33, kvm-arm.mode=none id_aa64mmfr1.vh=0 (Linux at EL1,
#       nothing at EL2 but Linux's own stub, KVM off), teebench N
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
#   BENCH_PKVM=1          0: skip runs (c) and (d) (pKVM's column and the all-EL ratios are then
#                         not measured)
#   BENCH_IOMMU=smmuv3    ci/qemu.sh --iommu for every run (and the DTBs); empty: none
#   BENCH_TRAP_PROFILE=ID also profile the trap windows of function ID (e.g. 0x8400006f): the
#                         NS-EL2 instructions per hypervisor function, as the boot profile
#   BENCH_TIMEOUT=60|300  seconds (boot|full run) before QEMU is stopped (SIGTERM, then SIGKILL);
#                         also the limit of runs (c) and (d)
#   BENCH_TEEBENCH=1000   requests teebench makes in workload (b) (0: none; the initramfs then
#                         prints its checks and powers off)
#   BENCH_BOOTARGS        host command line in the DTB (default "console=ttyAMA0
#                         teebench=$BENCH_TEEBENCH", or "console=ttyAMA0 autotest" for 0); runs
#                         (c) and (d) add their kvm-arm.mode options to it
#   BENCH_SMP=1           vCPUs (QEMU_SMP from config.sh is for the tests, not the bench)
#   BENCH_ICOUNT=1        add -icount shift=0,sleep=off (deterministic timers); 0 to leave out
#   BENCH_MODE=tb         el-counter mode (tb or insn; they agree, tb is cheaper)
#   BENCH_STRICT=0        1: exit 3 when a figure is over its goal
#   BENCH_HYP_BIN         the hypervisor image (default: HYP_BIN from stack.env, else
#                         build/hypervisor.bin); it is flashed as BL33 with ci/mkflash.sh
#   BENCH_FLASH, BENCH_DTB, BENCH_KERNEL, BENCH_INITRD: use these instead of making/looking up
#                         (the initramfs is otherwise built from this tree into build/bench/,
#                         with ci/mkinitramfs.sh, so that teebench's span marks are this tree's)
#   BENCH_NO_STACK=1      do not run ci/stack.sh first (it is cached and fast once built)
#   BENCH_HYP_ELF         the hypervisor ELF, for the boot profile's symbols (default: HYP_ELF
#                         from stack.env, else the Makefile's target/.../hypervisor-image)
#   BENCH_HOT=10          functions listed in the boot profile (0: no profile)
#   BENCH_REUSE=1         boot nothing: report from the logs the last run left in build/bench/
#                         (to work on the report itself)
#   BENCH_QEMU_SH         another script with ci/qemu.sh's interface (for testing the bench)
#
# Exit status: 0 every figure measured, 1 a figure could not be measured (the goal table says
# which, and why), 2 something the bench needs is missing, 3 (BENCH_STRICT=1 only) a figure
# is over its goal.
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
PKVM=${BENCH_PKVM:-1}
IOMMU=${BENCH_IOMMU-smmuv3}

GOAL_IMAGE_KIB=128
GOAL_CARVEOUT_KIB=4096
GOAL_BOOT_EL2=1000000
GOAL_FAST=100                   # forwarded DIRECT_REQ, FEATURES, VERSION, ID_GET
GOAL_MEM_SHARE=600
GOAL_RXTX_MAP=1500
GOAL_ABORT=600
GOAL_ALL_EL=1.01                # all-EL instructions per request, with / without

missing() { printf '[bench.sh] MISSING: %s\n' "$*" >&2; exit 2; }
case $RUN in boot|full) ;; *) missing "BENCH_RUN must be boot or full, not '$RUN'" ;; esac
case $MODE in tb|insn) ;; *) missing "BENCH_MODE must be tb or insn, not '$MODE'" ;; esac
case $IOMMU in ''|smmuv3) ;; *) missing "BENCH_IOMMU must be smmuv3 or empty, not '$IOMMU'" ;; esac
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

mkdir -p "$OUT"
if [ -n "${BENCH_INITRD:-}" ]; then
    INITRD=$BENCH_INITRD
else
    # This tree's initramfs (teebench with its span marks), cached by ci/mkinitramfs.sh; the
    # stack's copy may be another tree's when build/stack is shared.
    INITRD=$OUT/initramfs.cpio.gz
    "$CI_DIR/mkinitramfs.sh" "$INITRD" >/dev/null ||
        missing "could not build the initramfs (ci/mkinitramfs.sh; run ci/stack.sh)"
fi
[ -f "$INITRD" ] || missing "initrd file $INITRD"
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
    QEMU_IOMMU=$IOMMU QEMU_SMP=$SMP "$CI_DIR/mkdtb.sh" "$FLASH" "$KERNEL" "${INITRD:--}" "$BOOTARGS" "$DTB" >/dev/null ||
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
    if [ "${BENCH_REUSE:-0}" = 1 ]; then
        ended="reused"
        [ -f "$plog" ] && [ -f "$console" ] || missing "BENCH_REUSE=1: no $plog or $console from an earlier run"
        note "$label: reusing $plog"
        return 0
    fi
    rm -f "$console" "$plog"
    local popts=mode=$MODE
    [ "$HOT" -gt 0 ] && [ "$plog" = "$PLOG" ] && popts+=,hot=1000000
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
        # A panicking Linux waits forever (QEMU's -no-reboot only catches a reset).
        if grep -q -- '---\[ end Kernel panic' "$console" 2>/dev/null; then ended="Linux panicked"; break; fi
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
common=(--smp "$SMP")
[ -z "$IOMMU" ] || common+=(--iommu "$IOMMU")
qargs=(--flash "$FLASH" --dtb "$DTB" --kernel "$KERNEL" "${common[@]}" --secure-log "$SECLOG")
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
elif ! QEMU_IOMMU=$IOMMU QEMU_SMP=$SMP "$CI_DIR/mkdtb.sh" "$FLASH" "$PAYLOAD" - "console=ttyAMA0 bench" \
        "$OUT/payload-bench.dtb" >/dev/null; then
    payload_why="could not make the payload's DTB (ci/mkdtb.sh)"
else
    boot_once "the payload's bench workload" "$PCONSOLE" "$PPLOG" "$OUT/payload-command.txt" \
        payload 60 -- --flash "$FLASH" --dtb "$OUT/payload-bench.dtb" --kernel "$PAYLOAD" \
        "${common[@]}" --secure-log "$OUT/payload-secure.log"
    grep -q '^PAYLOAD-BENCH rounds=' "$PCONSOLE" ||
        payload_why="the payload printed no PAYLOAD-BENCH line (its run ended: $ended; see $PCONSOLE)"
fi

# Runs (c) and (d): Linux without this project's hypervisor. BL33 is ci/bench-bl33.S, which
# enters the kernel at EL2 with x0 = the board's DTB; that DTB carries the command line and the
# initrd in /chosen, where Linux looks for them (the hypervisor's module nodes stay, unread).
linux_direct() {   # name "extra bootargs"; sets the run's why_<name> when it cannot be made
    local name=$1 args="$BOOTARGS $2" dtb=$OUT/$1.dtb isz
    QEMU_IOMMU=$IOMMU QEMU_SMP=$SMP "$CI_DIR/mkdtb.sh" "$LFLASH" "$KERNEL" "$INITRD" "$args" "$dtb" >/dev/null ||
        { printf -v "why_$name" 'could not make its DTB (ci/mkdtb.sh)'; return 0; }
    isz=$(stat -c %s "$INITRD")
    # The seeds of run (b)'s DTB: OP-TEE and Linux take their address-space randomization from
    # /chosen (kaslr-seed, rng-seed), and QEMU's dump draws new ones every time; with the same
    # seeds the runs differ in what runs at EL2, not in where OP-TEE and Linux were placed.
    local prop
    for prop in kaslr-seed rng-seed; do
        # shellcheck disable=SC2046 # one byte a word
        fdtget -t bx "$DTB" /chosen "$prop" >/dev/null 2>&1 &&
            fdtput -t bx "$dtb" /chosen "$prop" $(fdtget -t bx "$DTB" /chosen "$prop")
    done
    fdtput -t s "$dtb" /chosen bootargs "$args" &&
    # shellcheck disable=SC2046 # two cells, two words
    fdtput -t x "$dtb" /chosen linux,initrd-start $(printf '0x%x 0x%x' $((INITRD_ADDR >> 32)) $((INITRD_ADDR & 0xffffffff))) &&
    # shellcheck disable=SC2046
    fdtput -t x "$dtb" /chosen linux,initrd-end $(printf '0x%x 0x%x' $(((INITRD_ADDR + isz) >> 32)) $(((INITRD_ADDR + isz) & 0xffffffff))) ||
        { printf -v "why_$name" 'could not write /chosen (fdtput)'; return 0; }
    boot_once "Linux at EL2 without the hypervisor, $2" "$OUT/$name-console.log" \
        "$OUT/$name-el-counter.log" "$OUT/$name-command.txt" linux "$TIMEOUT" -- \
        --flash "$LFLASH" --dtb "$dtb" --kernel "$KERNEL" --initrd "$INITRD" "${common[@]}" \
        --secure-log "$OUT/$name-secure.log"
    if [ "$TEEBENCH" -gt 0 ] && ! grep -q '^el-counter: span ' "$OUT/$name-el-counter.log" 2>/dev/null; then
        printf -v "why_$name" 'no span of teebench requests in %s (its run ended: %s; see %s)' \
            "$OUT/$name-el-counter.log" "$ended" "$OUT/$name-console.log"
    fi
}
why_pkvm="" why_nohyp=""
if [ "$RUN" != full ]; then
    why_pkvm="BENCH_RUN=$RUN" why_nohyp="BENCH_RUN=$RUN"
elif [ "$PKVM" = 0 ]; then
    why_pkvm="BENCH_PKVM=0" why_nohyp="BENCH_PKVM=0"
else
    command -v fdtput >/dev/null || missing "fdtput (Debian package device-tree-compiler)"
    command -v aarch64-linux-gnu-gcc >/dev/null ||
        missing "aarch64-linux-gnu-gcc (Debian package gcc-aarch64-linux-gnu): run ci/install-packages.sh"
    aarch64-linux-gnu-gcc -c -DKERNEL_ADDR="$KERNEL_ADDR" -DDTB_ADDR=0x40000000 \
        -o "$OUT/bench-bl33.o" "$CI_DIR/bench-bl33.S" &&
        aarch64-linux-gnu-objcopy -O binary "$OUT/bench-bl33.o" "$OUT/bench-bl33.bin" ||
        missing "could not assemble ci/bench-bl33.S"
    LFLASH=$OUT/flash-linux.bin
    "$CI_DIR/mkflash.sh" "$OUT/bench-bl33.bin" "$LFLASH" >/dev/null ||
        missing "could not make a flash image with ci/bench-bl33.S as BL33 (ci/mkflash.sh)"
    linux_direct pkvm "kvm-arm.mode=protected"
    linux_direct nohyp "kvm-arm.mode=none id_aa64mmfr1.vh=0"
fi

# Runs (e) and (f): what the SMMU costs the hypervisor. The same hypervisor on a machine without
# an SMMU: (e) Linux's DTB, stopped at the host's first instruction (the boot figure), (f) the
# payload's bench workload (the cost per trap). A few seconds each.
why_nosmmu=""
if [ -z "$IOMMU" ]; then
    why_nosmmu="BENCH_IOMMU is empty: every run is without an SMMU"
elif [ "$RUN" != full ]; then
    why_nosmmu="BENCH_RUN=$RUN"
elif ! QEMU_IOMMU='' QEMU_SMP=$SMP "$CI_DIR/mkdtb.sh" "$FLASH" "$KERNEL" "$INITRD" "$BOOTARGS" \
        "$OUT/nosmmu.dtb" >/dev/null; then
    why_nosmmu="could not make the DTB without an SMMU (ci/mkdtb.sh)"
else
    nosmmu=(--flash "$FLASH" --smp "$SMP")
    boot_once "the host without an SMMU, to its first instruction" "$OUT/nosmmu-console.log" \
        "$OUT/nosmmu-el-counter.log" "$OUT/nosmmu-command.txt" boot 60 -- "${nosmmu[@]}" \
        --dtb "$OUT/nosmmu.dtb" --kernel "$KERNEL" --initrd "$INITRD"
    if [ -z "$payload_why" ] && QEMU_IOMMU='' QEMU_SMP=$SMP "$CI_DIR/mkdtb.sh" "$FLASH" "$PAYLOAD" - \
            "console=ttyAMA0 bench" "$OUT/nosmmu-payload.dtb" >/dev/null; then
        boot_once "the payload's bench workload without an SMMU" "$OUT/nosmmu-payload-console.log" \
            "$OUT/nosmmu-payload-el-counter.log" "$OUT/nosmmu-payload-command.txt" payload 60 -- \
            "${nosmmu[@]}" --dtb "$OUT/nosmmu-payload.dtb" --kernel "$PAYLOAD"
    fi
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
# 0x....;` lines, read here without a build). pKVM's column is read from run (c)'s plugin log,
# the same function ID (or the same exception class) under pKVM in the same bench run.
FFA_SPEC=$ROOT_DIR/lib/ffa-spec/src/lib.rs
PKLOG=$OUT/pkvm-el-counter.log NHLOG=$OUT/nohyp-el-counter.log
[ -z "$why_pkvm" ] || PKLOG=/dev/null
[ -z "$why_nohyp" ] || NHLOG=/dev/null
# trap_rows LOG: "kind id count el2_mean el2_min el2_max el3+sec ffa_errors" per trap key
trap_rows() {
    awk '$1 == "el-counter:" && ($2 == "trap" || $2 == "tret") && $3 == "from=EL1" {
            delete v
            for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            k = v["kind"] " " v["id"]
            if ($2 == "tret") { err[k] = v["ffa_error"]; next }
            keys[++n] = k
            row[k] = sprintf("%s %s %s %s %s %.1f", k, v["count"], v["el2_mean"], v["el2_min"],
                             v["el2_max"], v["el3_mean"] + v["sec_mean"]) }
         END { for (i = 1; i <= n; i++) print row[keys[i]], (keys[i] in err) ? err[keys[i]] : 0 }' "$1"
}
# tget LOG KIND ID FIELD(count|mean|min|max|sec|err): one figure of one trap key, or empty
tget() {
    trap_rows "$1" | awk -v k="$2" -v id="$3" -v f="$4" '
        BEGIN { c["count"] = 3; c["mean"] = 4; c["min"] = 5; c["max"] = 6; c["sec"] = 7; c["err"] = 8 }
        $1 == k && $2 == id { print $(c[f]); exit }'
}
# pkvm_says ID: pKVM's column for an SMC/HVC function ID: its mean, or "refused" (every call
# answered FFA_ERROR with no EL3 or Secure instruction in the window), or "not called"
pkvm_says() {
    local kind=${2:-SMC} c m s e
    [ "$PKLOG" != /dev/null ] || { echo "-"; return; }
    c=$(tget "$PKLOG" "$kind" "$1" count)
    [ -n "$c" ] || { echo "not called"; return; }
    m=$(tget "$PKLOG" "$kind" "$1" mean) s=$(tget "$PKLOG" "$kind" "$1" sec) e=$(tget "$PKLOG" "$kind" "$1" err)
    if [ "$e" = "$c" ] && [ "$s" = 0.0 ]; then echo "refused ($m)"; else echo "$m"; fi
}
trap_table() {   # plugin-log title [rejected-id]
    local log=$1 title=$2
    echo
    echo "$title"
    printf '  %-34s %-6s %-10s %6s %8s %6s %6s %9s  %-13s %s\n' function kind id count mean min max \
        el3+sec "pKVM (c)" "ours/pKVM"
    { trap_rows "$PKLOG" | sed 's/^/P /'; trap_rows "$log" | sed 's/^/O /'; } | awk '
        BEGIN {
            n["0x80000000"] = "SMCCC_VERSION"; n["0x80000001"] = "SMCCC_ARCH_FEATURES"
            n["0x84000000"] = "PSCI_VERSION"; n["0x84000006"] = "PSCI_MIGRATE_INFO_TYPE"
            n["0x8400000a"] = "PSCI_FEATURES"; n["0x84000050"] = "TRNG_VERSION"
            ec["0x00000024"] = "data abort"; ec["0x00000020"] = "instruction abort"
            ec["0x00000018"] = "system register access"
        }
        FILENAME == spec {   # "    pub const MEM_SHARE_64: u32 = 0xC400_0073;"
            if ($1 == "pub" && $2 == "const" && $3 ~ /:$/ && $4 == "u32" && $6 ~ /^0x[8C]4/) {
                id = tolower($6); gsub(/[_;]/, "", id); sub(/^0x/, "", id)
                id = sprintf("0x%08s", id); name = $3; sub(/:$/, "", name)
                n[id] = "FFA_" name
            }
            next
        }
        $1 == "P" {   # pKVM: kind id count mean min max sec err
            k = $2 " " $3; pc[k] = $4; pm[k] = $5; ps[k] = $8; pe[k] = $9; next
        }
        {
            kind = $2; id = $3; k = kind " " id
            if (kind == "SMC" || kind == "HVC") name = (id in n) ? n[id] : "other"
            else name = ((id in ec) ? ec[id] : "EC " id) (kind == "INJECT" ? ", injected" : (kind == "SYNC" ? ", resumed" : ""))
            if (rejected != "" && id == rejected) name = name " (rejected)"
            # pKVM injects no abort into its host: beside ours, its own abort of that class
            if (kind == "INJECT" && !(k in pc)) k = "SYNC " id
            if (!pk) p = "-"
            else if (!(k in pc)) p = "not called"
            else if (pe[k] == pc[k] && ps[k] == 0 && (kind == "SMC" || kind == "HVC")) p = "refused (" pm[k] ")"
            else p = pm[k]
            # the ratio only for calls: the exception classes differ in cause (see docs/bench.md)
            r = "-"
            if (pk && (k in pm) && pm[k] > 0 && p !~ /refused/ && (kind == "SMC" || kind == "HVC"))
                r = sprintf("%.2f", $5 / pm[k])
            printf "  %-34s %-6s %-10s %6d %8.1f %6d %6d %9.1f  %-13s %s\n", name, kind, id, $4, $5,
                $6, $7, $8, p, r
        }' rejected="${3:-}" pk="$([ "$PKLOG" = /dev/null ] && echo 0 || echo 1)" spec="$FFA_SPEC" "$FFA_SPEC" -
}

if [ "$RUN" = full ]; then
    if [ -z "$payload_why" ]; then
        trap_table "$PPLOG" "EL2 instructions per trapped call, workload (a): the payload's bench mode ($(sed -n 's/^PAYLOAD-BENCH //p' "$PCONSOLE" | tail -1)):" 0x84000081
        echo "  (FFA_NOTIFICATION_SET is sent with a sender ID other than 0: rejected at EL2, never forwarded;"
        echo "   its max and mean include the rate-limited console lines, min is the steady state;"
        echo "   pKVM's column: the same call in its Linux run (c), which is another workload)"
    else
        echo
        echo "workload (a), the payload's bench mode: not run ($payload_why)"
    fi
    if grep -q '^el-counter: traps ' "$PLOG" 2>/dev/null; then
        trap_table "$PLOG" "EL2 instructions per trapped call, workload (b): Linux boots, user space makes $TEEBENCH requests to OP-TEE (teebench), power-off ($(sed -n 's/^el-counter: traps //p' "$PLOG")):"
        echo "  (NS-EL2 instructions from the vector to the ERET; el3+sec: firmware and OP-TEE work inside"
        echo "   the window; pKVM (c): the same key in run (c), pKVM under the same Linux and workload;"
        echo "   \"refused\": pKVM answered FFA_ERROR without forwarding; see docs/bench.md)"
        if [ "$TEEBENCH" -gt 0 ]; then
            echo "  teebench: $(grep -a -m1 '^TEEBENCH: ' "$CONSOLE" | tr -d '\r' || echo 'no result line (see the console)')"
        fi
    fi
    if [ -z "$why_pkvm" ]; then
        echo
        echo "run (c), pKVM: its trapped calls that workload (b) does not make under the hypervisor:"
        { trap_rows "$PLOG" | sed 's/^/O /'; trap_rows "$PKLOG" | sed 's/^/P /'; } | awk '
            $1 == "O" { seen[$2 " " $3] = 1; next }
            !(($2 " " $3) in seen) { printf "  %-6s %-10s %6d %10.1f %8d %8d %9.1f\n", $2, $3, $4, $5, $6, $7, $8 }'
        echo "  (kind id count mean min max el3+sec; HVC 0xc6000001 is __pkvm_init, pKVM's own boot at EL2)"
        echo "  pKVM: $(grep -a -m1 'Protected .* mode initialized\|kvm .*initialized' "$OUT/pkvm-console.log" | tr -d '\r' | sed 's/^\[[^]]*\] //' || echo 'no "kvm ... initialized" line')"
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
# Figure 6: all-EL instructions per OP-TEE request, from teebench's span (its loop of N
# requests, bracketed by `hint #0x7c`), per run; the ratio to run (d), without any hypervisor.
span_of() {   # LOG: "NS-EL0 NS-EL1 NS-EL2 EL3 secure total el2_entries" per request, or empty
    [ "$TEEBENCH" -gt 0 ] || return 0
    awk -v n="$TEEBENCH" '$1 == "el-counter:" && $2 == "span" {
            for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            if (v["count"] != 1 || v["open_at_exit"] != 0) exit
            printf "%.1f %.1f %.1f %.1f %.1f %.1f %.3f\n", v["NS-EL0"] / n, v["NS-EL1"] / n,
                v["NS-EL2"] / n, v["EL3"] / n, (v["S-EL0"] + v["S-EL1"] + v["S-EL2"]) / n,
                v["total"] / n, v["el2_entries"] / n; exit }' "$1" 2>/dev/null
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b }'; }
span_ours=$(span_of "$PLOG") span_pkvm=$(span_of "$PKLOG") span_none=$(span_of "$NHLOG")
tot() { echo "$1" | awk '{ print $6 }'; }
r_ours="" r_pkvm=""
if [ -n "$span_none" ]; then
    [ -z "$span_ours" ] || r_ours=$(ratio "$(tot "$span_ours")" "$(tot "$span_none")")
    [ -z "$span_pkvm" ] || r_pkvm=$(ratio "$(tot "$span_pkvm")" "$(tot "$span_none")")
fi
if [ "$RUN" = full ] && [ "$TEEBENCH" -gt 0 ]; then
    echo
    echo "instructions per OP-TEE request from Linux user space, all ELs (teebench's loop of $TEEBENCH, / $TEEBENCH):"
    printf '  %-34s %8s %9s %8s %7s %9s %9s %9s  %s\n' run NS-EL0 NS-EL1 NS-EL2 EL3 secure total \
        "/ (d)" "EL2 entries"
    for r in "(b) the hypervisor:$span_ours:$r_ours" "(c) pKVM:$span_pkvm:$r_pkvm" \
             "(d) no hypervisor:$span_none:$([ -n "$span_none" ] && echo 1.0000)"; do
        IFS=: read -r label s q <<< "$r"
        if [ -n "$s" ]; then
            read -r e0 e1 e2 e3 sec t ent <<< "$s"
            printf '  %-34s %8s %9s %8s %7s %9s %9s %9s  %s\n' "$label" "$e0" "$e1" "$e2" "$e3" "$sec" \
                "$t" "${q:--}" "$ent"
        else
            printf '  %-34s not measured\n' "$label"
        fi
    done
    echo "  (teebench sleeps 1 s before its loop so that the boot's leftover work does not run inside it;"
    echo "   timer ticks still do, so NS-EL1 and the Secure side move a little from boot to boot: the"
    echo "   NS-EL2 column is the hypervisor's exact cost; EL2 entries: traps per request)"
fi

# --- the goal table -----------------------------------------------------------------------------
# Every goal, ours beside pKVM's from the same run. A figure that could not be measured says why
# (and makes the exit status 1).
grows=() gwhy=() gunmeasured=0 gover=0
grow() {   # figure ours pkvm goal status
    grows+=("$(printf '%-40s %-22s %-22s %-16s %s' "$@")")
    [ "$5" = over ] && gover=$((gover + 1))
    true
}
glost() {   # figure why pkvm goal
    grows+=("$(printf '%-40s %-22s %-22s %-16s %s' "$1" "NOT MEASURED" "$3" "$4" "-")")
    gwhy+=("$1: $2"); gunmeasured=$((gunmeasured + 1))
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "ok" : "over" }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? "ok" : "over" }'; }
maxof() { printf '%s\n' "$@" | sort -g | tail -1; }
# ours_mean KIND ID: the mean in Linux's run (b) if it made the call (the workload pKVM ran
# too), else in the payload's run (a), marked "(a)"; empty if neither
ours_mean() {
    local m
    m=$(tget "$PLOG" "$1" "$2" mean)
    [ -n "$m" ] && { echo "$m"; return; }
    [ -z "$payload_why" ] || return 0
    m=$(tget "$PPLOG" "$1" "$2" mean)
    [ -z "$m" ] || echo "$m (a)"
}
num() { echo "${1%% *}"; }
why_b=""
[ "$RUN" = full ] || why_b="BENCH_RUN=$RUN"
why_a=${payload_why:-}

if [ "$RUN" = full ]; then
    # forwarded DIRECT_REQ, 32 and 64
    d32=$(ours_mean SMC 0x8400006f) d64=$(ours_mean SMC 0xc400006f)
    pk="$(pkvm_says 0x8400006f) / $(pkvm_says 0xc400006f)"
    if [ -n "$d32" ] && [ -n "$d64" ]; then
        grow "forwarded DIRECT_REQ_32 / _64" "$(num "$d32") / $d64" "$pk" "<= $GOAL_FAST" \
            "$(le "$(maxof "$(num "$d32")" "$(num "$d64")")" $GOAL_FAST)"
    else
        glost "forwarded DIRECT_REQ_32 / _64" "no DIRECT_REQ_32 and _64 windows in runs (b)/(a) ${why_a:+($why_a)}" "$pk" "<= $GOAL_FAST"
    fi
    # FEATURES / VERSION / ID_GET
    f=$(ours_mean SMC 0x84000064) v=$(ours_mean SMC 0x84000063) i=$(ours_mean SMC 0x84000069)
    pk="$(pkvm_says 0x84000064) / $(pkvm_says 0x84000063) / $(pkvm_says 0x84000069)"
    if [ -n "$f" ] && [ -n "$v" ] && [ -n "$i" ]; then
        grow "FFA_FEATURES / _VERSION / _ID_GET" "$(num "$f") / $(num "$v") / $(num "$i")" "$pk" \
            "<= $GOAL_FAST each" "$(le "$(maxof "$(num "$f")" "$(num "$v")" "$(num "$i")")" $GOAL_FAST)"
    else
        glost "FFA_FEATURES / _VERSION / _ID_GET" "one of them has no window in runs (b)/(a)" "$pk" "<= $GOAL_FAST each"
    fi
    # rejected call, steady state: ours the payload's NOTIFICATION_SET (min: past the console's
    # rate limit); pKVM's: the calls it refused in run (c)
    pk_ref=$([ "$PKLOG" = /dev/null ] && echo "-" || trap_rows "$PKLOG" |
        awk '($1 == "SMC" || $1 == "HVC") && $8 == $3 && $7 == 0 { printf "%s%s (id %s)", s, $4, $2; s = ", " }')
    rj=""
    [ -n "$why_a" ] || rj=$(tget "$PPLOG" SMC 0x84000081 min)
    if [ -n "$rj" ] && [ -n "$d32" ]; then
        half=$(awk -v d="$(num "$d32")" 'BEGIN { print d / 2 }')
        grow "rejected call, steady state (min)" "$rj" "${pk_ref:-none refused}" "< $half (half DREQ)" "$(lt "$rj" "$half")"
    else
        glost "rejected call, steady state (min)" "no rejected NOTIFICATION_SET in run (a) ${why_a:+($why_a)}" "${pk_ref:--}" "< DIRECT_REQ/2"
    fi
    # MEM_SHARE_64 / RXTX_MAP_64
    ms=$(ours_mean SMC 0xc4000073) rx=$(ours_mean SMC 0xc4000066)
    pk="$(pkvm_says 0xc4000073) / $(pkvm_says 0xc4000066)"
    if [ -n "$ms" ] && [ -n "$rx" ]; then
        st=ok
        [ "$(le "$(num "$ms")" $GOAL_MEM_SHARE)" = ok ] && [ "$(le "$(num "$rx")" $GOAL_RXTX_MAP)" = ok ] || st=over
        grow "FFA_MEM_SHARE_64 / FFA_RXTX_MAP_64" "$(num "$ms") / $rx" "$pk" "<= $GOAL_MEM_SHARE / <= $GOAL_RXTX_MAP" "$st"
    else
        glost "FFA_MEM_SHARE_64 / FFA_RXTX_MAP_64" "no MEM_SHARE_64 or RXTX_MAP_64 window in runs (b)/(a)" "$pk" "<= $GOAL_MEM_SHARE / <= $GOAL_RXTX_MAP"
    fi
    # host stage-2 abort: ours injected into the host (a lent page touched, workload (a));
    # pKVM's: its host stage-2 data aborts in run (c) (lazy mapping of the host: mapped, retried)
    pk="-"
    if [ "$PKLOG" != /dev/null ]; then
        pm=$(tget "$PKLOG" SYNC 0x00000024 mean)
        pk=${pm:+$pm, min $(tget "$PKLOG" SYNC 0x00000024 min), x$(tget "$PKLOG" SYNC 0x00000024 count)}
        pk=${pk:-not called}
    fi
    ab=""
    [ -n "$why_a" ] || ab=$(tget "$PPLOG" INJECT 0x00000024 mean)
    [ -n "$ab" ] || ab=$(tget "$PLOG" INJECT 0x00000024 mean)
    if [ -n "$ab" ]; then
        grow "host stage-2 abort, injected" "$ab" "$pk" "<= $GOAL_ABORT" "$(le "$ab" $GOAL_ABORT)"
    else
        glost "host stage-2 abort, injected" "no data abort injected into the host in runs (a)/(b) (the payload's bench workload touches no lent page)" "$pk" "<= $GOAL_ABORT"
    fi
fi
# image and boot
grow "image" "$img B ($(kib "$img") KiB)" "part of the kernel" "<= $GOAL_IMAGE_KIB KiB" "$(verdict "$img" $((GOAL_IMAGE_KIB * 1024)))"
pk_init="-"
[ "$PKLOG" = /dev/null ] || pk_init=$(tget "$PKLOG" HVC 0xc6000001 mean | awk '{ if ($1 != "") printf "%d (__pkvm_init)", $1 }')
if [ -n "$boot" ]; then
    grow "boot: EL2 insns to the host's first" "$b_el2" "${pk_init:--}" "<= $GOAL_BOOT_EL2" "$(verdict "$b_el2" $GOAL_BOOT_EL2)"
else
    glost "boot: EL2 insns to the host's first" "the plugin saw no NS-EL2 -> NS-EL1 entry" "${pk_init:--}" "<= $GOAL_BOOT_EL2"
fi
if [ "$RUN" = full ]; then
    if [ -n "$r_ours" ]; then
        grow "all-EL insns per request, with / without" "$r_ours" "${r_pkvm:-NOT MEASURED}" "<= $GOAL_ALL_EL" "$(le "$r_ours" $GOAL_ALL_EL)"
    else
        w="${why_nohyp:-}${why_nohyp:+; }"
        [ "$TEEBENCH" -gt 0 ] || w="BENCH_TEEBENCH=0"
        [ -n "$span_ours" ] || w+="no teebench span in run (b); "
        [ -n "$span_none" ] || w+="no teebench span in run (d) ${why_nohyp:+($why_nohyp)}"
        glost "all-EL insns per request, with / without" "$w" "${r_pkvm:--}" "<= $GOAL_ALL_EL"
    fi
    # The same ratio with the other ELs held at run (d)'s: 1 + NS-EL2 per request / (d)'s total.
    # The Secure side and NS-EL1 move by a few hundred instructions a request from boot to boot,
    # as much as the hypervisor's whole cost; EL2's own count is exact.
    if [ -n "$span_none" ] && [ -n "$span_ours" ]; then
        x_ours=$(awk -v e="$(echo "$span_ours" | awk '{ print $3 }')" -v t="$(tot "$span_none")" 'BEGIN { printf "%.4f", 1 + e / t }')
        x_pkvm=$([ -n "$span_pkvm" ] && awk -v e="$(echo "$span_pkvm" | awk '{ print $3 }')" -v t="$(tot "$span_none")" 'BEGIN { printf "%.4f", 1 + e / t }')
        grow "  the same, 1 + EL2 per request / (d)" "$x_ours" "${x_pkvm:--}" "<= $GOAL_ALL_EL" "$(le "$x_ours" $GOAL_ALL_EL)"
    fi
    if [ -n "$why_pkvm" ]; then
        gwhy+=("pKVM's column (run (c)): $why_pkvm"); gunmeasured=$((gunmeasured + 1))
    elif [ -z "$r_pkvm" ]; then
        gwhy+=("pKVM's all-EL ratio: no teebench span in run (c) or (d)"); gunmeasured=$((gunmeasured + 1))
    fi
fi

# DMA isolation: the SMMU's share of the boot, an emulated MMIO access, LEND with the SMMU on.
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", 100 * a / b }'; }
if [ "$HOT" -gt 0 ] && [ -n "$boot" ] && grep -q '^el-counter: hot pc=' "$PLOG" 2>/dev/null && [ "$syms" != /dev/null ]; then
    smmu=$(grep '^el-counter: hot pc=' "$PLOG" | sed -E 's/.*pc=(0x[0-9a-f]+) insns=([0-9]+).*/\1 \2/' |
        symbolize | awk -F'\t' '$2 ~ /smmu/ { s += $1 } END { print s + 0 }')
    grow "SMMU's share of boot, smmu fns" "$smmu ($(pct "$smmu" "$b_el2"))" "-" "-" "-"
else
    glost "SMMU's share of boot, smmu fns" "no boot profile with symbols (BENCH_HOT=0, or no ELF, or no boot window)" "-" "-"
fi
if [ "$RUN" = full ] && [ -n "$IOMMU" ]; then
    nb=$(sed -n 's/^el-counter: boot vcpu=0 .*NS-EL2=\([0-9]*\) .*/\1/p' "$OUT/nosmmu-el-counter.log" 2>/dev/null | head -1)
    if [ -z "$why_nosmmu" ] && [ -n "$nb" ] && [ -n "$boot" ]; then
        grow "SMMU's share of boot, with - without" "$((b_el2 - nb)) ($(pct $((b_el2 - nb)) "$b_el2"))" "-" "-" "-"
    else
        glost "SMMU's share of boot, with - without" "${why_nosmmu:-no boot line in run (e)}" "-" "-"
    fi
    nd=$(tget "$OUT/nosmmu-payload-el-counter.log" SMC 0x8400006f mean 2>/dev/null)
    if [ -z "$why_nosmmu" ] && [ -z "$why_a" ] && [ -n "$nd" ] && [ -n "$d32" ]; then
        grow "SMMU's cost per trap (DIRECT_REQ_32)" "$(awk -v a="$(tget "$PPLOG" SMC 0x8400006f mean)" -v b="$nd" 'BEGIN { printf "%.1f (%.1f - %.1f)", a - b, a, b }')" "-" "-" "-"
    else
        glost "SMMU's cost per trap (DIRECT_REQ_32)" "${why_nosmmu:-${why_a:-no DIRECT_REQ_32 in run (f)}}" "-" "-"
    fi
fi
if [ "$RUN" = full ]; then
    em=""
    for l in "$PLOG" "$([ -z "$why_a" ] && echo "$PPLOG")"; do
        [ -n "$l" ] || continue
        m=$(tget "$l" SYNC 0x00000024 mean)
        [ -z "$m" ] || em+="${em:+, }$m x$(tget "$l" SYNC 0x00000024 count) ($([ "$l" = "$PLOG" ] && echo b || echo a))"
    done
    if [ -n "$em" ]; then
        grow "emulated MMIO access (data abort)" "$em" "-" "-" "-"
    else
        glost "emulated MMIO access (data abort)" "no resumed data-abort window in runs (b)/(a)" "-" "-"
    fi
    ln=$(ours_mean SMC 0xc4000072)
    [ -n "$ln" ] || ln=$(ours_mean SMC 0x84000072)
    if [ -n "$ln" ]; then
        grow "FFA_MEM_LEND, SMMU ${IOMMU:-off}" "$ln" "$(pkvm_says 0xc4000072)" "-" "-"
    else
        glost "FFA_MEM_LEND, SMMU ${IOMMU:-off}" "no FFA_MEM_LEND window in runs (b)/(a) (the payload's bench workload lends no page)" "$(pkvm_says 0xc4000072)" "-"
    fi
fi
echo
echo "goals (ours: Linux's run (b) where it makes the call, else the payload's (a); pKVM: run (c), live):"
printf '%-40s %-22s %-22s %-16s %s\n' figure ours pKVM goal status
printf '%s\n' "${grows[@]}"
[ ${#gwhy[@]} -eq 0 ] || printf 'NOT MEASURED, %s\n' "${gwhy[@]}"
unmeasured=$((unmeasured + gunmeasured)) over=$((over + gover))

echo "files: $CONSOLE (console), $PLOG (plugin), $OUT/command.txt$([ -z "$payload_why" ] && echo ", $PCONSOLE, $PPLOG")$([ -z "$why_pkvm" ] && echo ", $OUT/pkvm-*, $OUT/nohyp-*")"
{
    echo "image_bytes=$img"
    echo "image_bytes_console=${img_con:-}"
    echo "carveout_kib=${c_kib:-}"
    echo "stage2_table_pages=${s2_pages:-}"
    echo "boot_el2_insns=${b_el2:-}"
    # Figure 6: all-EL instructions per request (total) and the ratios to run (d).
    echo "per_request_hyp=$(tot "$span_ours")"
    echo "per_request_pkvm=$(tot "$span_pkvm")"
    echo "per_request_nohyp=$(tot "$span_none")"
    echo "all_el_ratio_hyp=$r_ours"
    echo "all_el_ratio_pkvm=$r_pkvm"
    echo "el2_ratio_hyp=${x_ours:-}"
    echo "el2_ratio_pkvm=${x_pkvm:-}"
    # Figure 5, per workload and function ID: trap_<payload|linux>_<id>_<count|mean|min|max>.
    for w in payload linux pkvm; do
        log=$PLOG
        [ "$w" = payload ] && log=$PPLOG
        [ "$w" = pkvm ] && log=$PKLOG
        { [ "$RUN" = full ] && [ -f "$log" ]; } || continue
        [ "$w" = payload ] && [ -n "$payload_why" ] && continue
        sed -n 's/^el-counter: trap from=EL1 kind=[SH][MV]C id=\(0x[0-9a-f]*\) count=\([0-9]*\) .*el2_min=\([0-9]*\) el2_max=\([0-9]*\) el2_mean=\([0-9.]*\) .*/\1 \2 \5 \3 \4/p' "$log" |
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
