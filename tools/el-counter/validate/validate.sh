#!/bin/bash
# Known-answer test of the el-counter plugin (about 1 s; fails on any wrong count).
#
#   tools/el-counter/validate/validate.sh
#
# Builds the plugin (ci/build-plugin.sh, cached) and payload.S, boots the payload on QEMU
# virt four ways, and compares every figure the plugin prints with the answer derived below
# from payload.S's constants (the phase lines too: the system tests' witness of which calls
# reached EL3 counts with them):
#   tb         secure=on (EL3 + S-EL1 + NS-EL2 + NS-EL1), mode=tb, with the hot=N profile and
#              the tid=ID trap profile (HVC 0x2222: it must add up to that key's el2_sum)
#   insn       the same, mode=insn: one count per instruction, the cross-check of tb
#   tb-icount  the same as tb under -icount shift=0,sleep=off (what the bench may use)
#   no-el3     secure=off: the payload starts at its NS-EL2 entry, QEMU's PSCI answers SMCs
# Each run must end by itself within the timeout: EL3 exits through semihosting, or QEMU's
# PSCI powers off (no-el3).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../../ci/config.sh"
source "$CI_DIR/lib.sh"

HERE=$ROOT_DIR/tools/el-counter/validate
OUT=$BUILD_DIR/el-counter-validate
PLUGIN=$BUILD_DIR/plugins/libel-counter.so
LOAD=0x40200000                 # RAM; QEMU's DTB sits at 0x40000000
TIMEOUT=${VALIDATE_TIMEOUT:-30}

need_cmd qemu-system-aarch64 qemu-system-arm
need_cmd aarch64-linux-gnu-as binutils-aarch64-linux-gnu
bash "$CI_DIR/build-plugin.sh"
mkdir -p "$OUT"

# --- the payload -------------------------------------------------------------------------------
aarch64-linux-gnu-as -o "$OUT/payload.o" "$HERE/payload.S"
aarch64-linux-gnu-ld -Ttext=$LOAD -e _start -o "$OUT/payload.elf" "$OUT/payload.o"
aarch64-linux-gnu-objcopy -O binary "$OUT/payload.elf" "$OUT/payload.bin"
sym() { printf '0x%x' "0x$(aarch64-linux-gnu-nm "$OUT/payload.elf" | awk -v s="$1" '$3 == s { print $1 }')"; }
EL1_ENTRY=$(sym el1_entry)
EL2_ENTRY=$(sym el2_entry)

# --- the known answer --------------------------------------------------------------------------
const() { awk -v n="$1" '$1 == ".equ" && $2 == n"," { print $3 }' "$HERE/payload.S"; }
N_A=$(const N_A) N_B=$(const N_B) N_C=$(const N_C) N_D=$(const N_D)
SINIT=$(const SINIT) SP_LOOP=$(const SP_LOOP) EL2_LOOP=$(const EL2_LOOP)
for v in N_A N_B N_C N_D SINIT SP_LOOP EL2_LOOP; do
    [ -n "${!v}" ] || die "constant $v not found in payload.S"
done

# Path lengths, counted in payload.S's comments:
BOOT_EL2=$((20 + 2 * EL2_LOOP))     # NS-EL2 entry .. ERET to the host
HVC_A=11                            # EL2, HVC 0x1111
INJECT=12                           # EL2, the ID register read sent back to the host's vector
SMC_EL2=9                           # EL2, any forwarded SMC
SMC_EL3=12                          # EL3, FFA_VERSION (also the hypervisor's boot SMC)
DREQ_EL3=27                         # EL3, direct request: to S-EL1 (19) and back (8)
DREQ_SEL1=$((4 + 2 * SP_LOOP))      # S-EL1 per direct request
# HVC 0x2222: 12 + 3*k at EL2, k = i & 3 for i = N_B .. 1
read -r B_SUM B_MIN B_MAX < <(awk -v n="$N_B" 'BEGIN { min = 1e18; max = 0
    for (i = n; i >= 1; i--) { c = 12 + 3 * (i % 4); s += c; if (c < min) min = c; if (c > max) max = c }
    print s, min, max }')
NS_EL1=$((23 + 4 * N_A + 5 * (N_B + N_C + N_D)))   # 23: 7 + four phase marks of 2 + two span marks of 2 + the injection's 4
SPAN_EL1=$((1 + 5 * N_D + 2))       # the span around the direct requests: mov, the loop, the close
NS_EL2=$((BOOT_EL2 + HVC_A * N_A + B_SUM + INJECT + SMC_EL2 * (N_C + N_D) + 5))   # +5: the last SMC's entry
SEL1_SECURE=$((2 + 2 * SINIT + N_D * DREQ_SEL1))
EL3_SECURE=$((10 + 11 + SMC_EL3 + SMC_EL3 * N_C + DREQ_EL3 * N_D + 9))   # reset, hand-off, boot SMC, calls, exit
mean() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.1f", s / n }'; }

expected() {   # secure(1|0) mode -> the plugin's output, line by line
    local secure=$1 mode=$2 el3=0 sel1=0 boot_el3=0 e3c=0 e3d=0 secd=0 el3flag=no
    if [ "$secure" = 1 ]; then
        el3=$EL3_SECURE sel1=$SEL1_SECURE boot_el3=$SMC_EL3 e3c=$SMC_EL3 e3d=$DREQ_EL3 secd=$DREQ_SEL1 el3flag=yes
    fi
    local total=$((NS_EL1 + NS_EL2 + el3 + sel1))
    local counts="NS-EL0=0 NS-EL1=$NS_EL1 NS-EL2=$NS_EL2 EL3=$el3 S-EL0=0 S-EL1=$sel1 S-EL2=0 total=$total"
    cat <<EOF
el-counter: boot vcpu=0 NS-EL0=0 NS-EL1=0 NS-EL2=$BOOT_EL2 EL3=$boot_el3 S-EL0=0 S-EL1=0 S-EL2=0 host_pc=$EL1_ENTRY
el-counter: summary mode=$mode vcpus=1 el3=$el3flag
el-counter: insns vcpu=0 $counts
el-counter: insns vcpu=all $counts
el-counter: span vcpu=0 count=1 NS-EL0=0 NS-EL1=$SPAN_EL1 NS-EL2=$((SMC_EL2 * N_D)) EL3=$((e3d * N_D)) S-EL0=0 S-EL1=$((secd * N_D)) S-EL2=0 total=$((SPAN_EL1 + (SMC_EL2 + e3d + secd) * N_D)) el2_entries=$N_D open_at_exit=0
el-counter: traps closed=$((N_A + N_B + N_C + N_D + 1)) open_at_exit=1 unclosed=0
el-counter: trap from=EL1 kind=HVC id=0x00001111 count=$N_A el2_sum=$((HVC_A * N_A)) el2_min=$HVC_A el2_max=$HVC_A el2_mean=$(mean $((HVC_A * N_A)) "$N_A") el3_mean=0.0 sec_mean=0.0
el-counter: trap from=EL1 kind=HVC id=0x00002222 count=$N_B el2_sum=$B_SUM el2_min=$B_MIN el2_max=$B_MAX el2_mean=$(mean "$B_SUM" "$N_B") el3_mean=0.0 sec_mean=0.0
el-counter: trap from=EL1 kind=SMC id=0x84000063 count=$N_C el2_sum=$((SMC_EL2 * N_C)) el2_min=$SMC_EL2 el2_max=$SMC_EL2 el2_mean=$SMC_EL2.0 el3_mean=$e3c.0 sec_mean=0.0
el-counter: trap from=EL1 kind=SMC id=0x8400006f count=$N_D el2_sum=$((SMC_EL2 * N_D)) el2_min=$SMC_EL2 el2_max=$SMC_EL2 el2_mean=$SMC_EL2.0 el3_mean=$e3d.0 sec_mean=$secd.0
el-counter: trap from=EL1 kind=INJECT id=0x00000018 count=1 el2_sum=$INJECT el2_min=$INJECT el2_max=$INJECT el2_mean=$INJECT.0 el3_mean=0.0 sec_mean=0.0
el-counter: tret from=EL1 kind=HVC id=0x00001111 count=$N_A ffa_error=0
el-counter: tret from=EL1 kind=SMC id=0x84000063 count=$N_C ffa_error=0
el-counter: end
EOF
    # The phases payload.S marks: without EL3 no SMC enters EL3 (QEMU's PSCI answers).
    local regs=no c=0 d=0 o=0 ids_c=- ids_d=- ids_o=-
    if [ "$secure" = 1 ]; then
        regs=yes c=$N_C d=$N_D o=1
        ids_c=0x84000063,0x84000063,0x84000063,0x84000063
        ids_d=0x8400006f,0x8400006f,0x8400006f,0x8400006f
        ids_o=0x84000008
        echo "el-counter: phase id=0 marks=0 el1_traps=0 el2_to_el3=1 el2_smc=1 lower_to_el3=0 lower_smc=0 smc_regs=yes smc_ids=0x84000063"
    fi
    echo "el-counter: phase id=1 marks=1 el1_traps=$N_C el2_to_el3=$c el2_smc=$c lower_to_el3=0 lower_smc=0 smc_regs=$regs smc_ids=$ids_c"
    echo "el-counter: phase id=2 marks=1 el1_traps=$N_D el2_to_el3=$d el2_smc=$d lower_to_el3=0 lower_smc=0 smc_regs=$regs smc_ids=$ids_d"
    echo "el-counter: phase id=3 marks=1 el1_traps=1 el2_to_el3=$o el2_smc=$o lower_to_el3=0 lower_smc=0 smc_regs=$regs smc_ids=$ids_o"
    echo "el-counter: phase id=4 marks=1 el1_traps=$((N_A + N_B + 1)) el2_to_el3=0 el2_smc=0 lower_to_el3=0 lower_smc=0 smc_regs=$regs smc_ids=-"
}

# --- the runs ----------------------------------------------------------------------------------
passed=0 failed=0
run_case() {   # name secure(1|0) plugin-options [extra qemu args...]
    local name=$1 secure=$2 opts=$3 mode; shift 3
    mode=$(echo "$opts" | sed -n 's/.*mode=\([a-z]*\).*/\1/p')
    local log=$OUT/$name.plugin.log con=$OUT/$name.console.txt err=$OUT/$name.stderr.txt machine start rc=0
    if [ "$secure" = 1 ]; then
        machine=virt,secure=on,virtualization=on,gic-version=3
        start=(-device "loader,file=$OUT/payload.bin,addr=$LOAD,force-raw=on,cpu-num=0")
    else
        machine=virt,virtualization=on,gic-version=3
        start=(-device "loader,file=$OUT/payload.bin,addr=$LOAD,force-raw=on"
               -device "loader,addr=$EL2_ENTRY,cpu-num=0")
    fi
    rm -f "$log"
    timeout "$TIMEOUT" qemu-system-aarch64 -nographic -nic none -monitor none \
        -M "$machine" -cpu max,sme=off,sve=off -smp 1 -m 256 "${start[@]}" \
        -semihosting-config enable=on,target=native -serial "file:$con" -plugin "$PLUGIN,$opts" -d plugin -D "$log" "$@" \
        </dev/null >"$err" 2>&1 || rc=$?
    local problems=()
    [ "$rc" = 0 ] || problems+=("QEMU exit status $rc (124 = timeout after ${TIMEOUT}s; stderr: $err)")
    [ "$(cat "$con" 2>/dev/null)" = V ] || problems+=("console should read 'V', got '$(head -c 40 "$con" 2>/dev/null)'")
    local line
    while IFS= read -r line; do
        if ! grep -qxF -- "$line" "$log" 2>/dev/null; then
            local what=${line#el-counter: }
            local got
            got=$(grep -F -- "el-counter: $(echo "$what" | awk '{ if ($1 == "trap") print $1, $2, $3, $4; else if ($1 == "insns" || $1 == "boot") print $1, $2; else print $1 }')" "$log" 2>/dev/null | head -1 || true)
            problems+=("expected: $line" "measured: ${got:-<missing>}")
        fi
    done < <(expected "$secure" "$mode")
    if [[ $opts == *hot=* ]]; then
        # the profile adds up to the boot figure; its top segment is the boot loop's body
        grep -qE "^el-counter: hot segments=[0-9]+ insns=$BOOT_EL2 " "$log" ||
            problems+=("expected: el-counter: hot segments=... insns=$BOOT_EL2" "measured: $(grep -m1 '^el-counter: hot segments' "$log")")
        local top="el-counter: hot pc=$(printf '0x%x' $((EL2_ENTRY + 0x1c))) insns=$((2 * (EL2_LOOP - 1))) execs=$((EL2_LOOP - 1)) size=2"
        [ "$(grep -m1 '^el-counter: hot pc=' "$log")" = "$top" ] ||
            problems+=("expected: $top" "measured: $(grep -m1 '^el-counter: hot pc=' "$log")")
    fi
    if [[ $opts == *tid=* ]]; then
        # the trap profile of HVC 0x2222 adds up to that key's el2_sum
        grep -qE "^el-counter: thot id=0x00002222 segments=[0-9]+ insns=$B_SUM " "$log" ||
            problems+=("expected: el-counter: thot id=0x00002222 segments=... insns=$B_SUM" "measured: $(grep -m1 '^el-counter: thot id' "$log")")
    fi
    if [ ${#problems[@]} -eq 0 ]; then
        printf 'ok    %-10s boot NS-EL2=%s, NS-EL1=%s NS-EL2=%s, %s traps\n' \
            "$name" "$BOOT_EL2" "$NS_EL1" "$NS_EL2" "$((N_A + N_B + N_C + N_D + 1))"
        passed=$((passed + 1))
    else
        printf 'FAIL  %s (plugin log: %s)\n' "$name" "$log"
        printf '        %s\n' "${problems[@]}"
        failed=$((failed + 1))
    fi
}

run_case tb 1 mode=tb,hot=5,tid=0x2222
run_case insn 1 mode=insn
run_case tb-icount 1 mode=tb -icount shift=0,sleep=off
run_case no-el3 0 mode=tb

echo "el-counter validate: $passed passed, $failed failed"
[ "$failed" = 0 ]
