#!/bin/bash
# Behaviour test of ci/bench.sh's report, without booting anything (a few seconds):
#
#   ci/bench-selftest.sh
#
# ci/bench.sh runs with BENCH_QEMU_SH = a stand-in for ci/qemu.sh that writes, for each of the
# bench's runs (told apart by the DTB's file name), a console and a plugin log with known
# figures. The real parts stay real: the flash images (ci/mkflash.sh), the DTBs (ci/mkdtb.sh,
# QEMU's dump), BL33 (ci/bench-bl33.S), the plugin build. Two cases:
#   partial   the payload run has no injected abort and no FFA_MEM_LEND: the goal table says
#             NOT MEASURED for those two rows, and the bench exits 1
#   complete  both present: every row measured, exit 0
# and in both, the figures the bench must derive: ours beside pKVM's, "refused" and
# "not called", the all-EL ratios, the SMMU rows.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

T=$BUILD_DIR/bench-selftest
rm -rf "$T"
# The bench writes under $T/build; the cached stack and plugin are the real ones.
mkdir -p "$T/build" "$BUILD_DIR/plugins"
ln -s "$(cd "$STACK_DIR" && pwd)" "$T/build/stack"
ln -s "$BUILD_DIR/plugins" "$T/build/plugins"
need_cmd aarch64-linux-gnu-as binutils-aarch64-linux-gnu

# A hypervisor ELF with two functions (linked at 0, run at HYP_ADDR), for the boot profile.
cat > "$T/hyp.S" <<'EOF'
    .text
    .global primary_main, smmu_probe
primary_main:
    .rept 64
    nop
    .endr
smmu_probe:
    .rept 64
    nop
    .endr
EOF
aarch64-linux-gnu-as -o "$T/hyp.o" "$T/hyp.S"
aarch64-linux-gnu-ld -Ttext=0 -e primary_main -o "$T/hyp.elf" "$T/hyp.o"
head -c 4096 /dev/zero > "$T/hyp.bin"
head -c 4096 /dev/zero > "$T/kernel"
head -c 4096 /dev/zero > "$T/initrd"
head -c 4096 /dev/zero > "$T/payload.bin"
smmu_pc=$(printf '0x%x' $((HYP_ADDR + 256)))
main_pc=$(printf '0x%x' $((HYP_ADDR)))

# The stand-in for ci/qemu.sh: the same arguments; -D names the plugin log.
cat > "$T/qemu.sh" <<EOF
#!/bin/bash
dtb="" log=""
while [ \$# -gt 0 ]; do
    case \$1 in --dtb) dtb=\$2; shift 2 ;; -D) log=\$2; shift 2 ;; *) shift ;; esac
done
run=\$(basename "\$dtb" .dtb)
[ -f "$T/\$run.console" ] && cat "$T/\$run.console"
[ -f "$T/\$run.plugin" ] && cp "$T/\$run.plugin" "\$log"
exit 0
EOF

span() {   # NS-EL1 NS-EL2 secure entries, for 10 requests
    echo "el-counter: span vcpu=0 count=1 NS-EL0=200 NS-EL1=$1 NS-EL2=$2 EL3=9000 S-EL0=0 S-EL1=$3 S-EL2=0 total=$((200 + $1 + $2 + 9000 + $3)) el2_entries=$4 open_at_exit=0"
}
trap_line() {   # kind id count mean el3 sec
    echo "el-counter: trap from=EL1 kind=$1 id=$2 count=$3 el2_sum=$(($3 * $4)) el2_min=$4 el2_max=$4 el2_mean=$4.0 el3_mean=$5.0 sec_mean=$6.0"
}
write_fixtures() {   # complete(0|1)
    cat > "$T/bench.console" <<'EOF'
hyp: image 4096 bytes
hyp: carve-out 0x60000000-0x60200000 (2048 KiB)
hyp: stage-2 8 table pages, blocks 1G=1022 2M=980 4K=1464, IPA 40 bits, pool 128 pages
hyp: entering host at EL1 pc=0x48000000 dtb=0x40000000 on CPU 0 (1 CPUs)
TEEBENCH: n=10 expected=10 other=0
EOF
    {
        echo "el-counter: boot vcpu=0 NS-EL0=0 NS-EL1=0 NS-EL2=1000 EL3=5 S-EL0=0 S-EL1=0 S-EL2=0 host_pc=0x48000000"
        echo "el-counter: insns vcpu=all NS-EL0=1 NS-EL1=1 NS-EL2=1 EL3=1 S-EL0=0 S-EL1=1 S-EL2=0 total=5"
        span 17000 3000 250000 10
        echo "el-counter: traps closed=40 open_at_exit=1 unclosed=0"
        trap_line SMC 0x84000063 1 300 0 0
        trap_line SMC 0x84000064 8 350 100 200
        trap_line SMC 0x84000069 1 280 0 0
        trap_line SMC 0x8400006f 20 300 900 25000
        trap_line SMC 0x8400007f 1 310 900 1000
        trap_line SMC 0xc4000066 1 2000 900 50000
        trap_line SMC 0xc4000073 2 3800 900 2900
        trap_line SYNC 0x00000024 9 380 0 0
        echo "el-counter: tret from=EL1 kind=SMC id=0x8400007f count=1 ffa_error=0"
        echo "el-counter: hot segments=2 insns=1000 (NS-EL2, boot window)"
        echo "el-counter: hot pc=$main_pc insns=900 execs=9 size=100"
        echo "el-counter: hot pc=$smmu_pc insns=100 execs=1 size=100"
        echo "el-counter: end"
    } > "$T/bench.plugin"
    echo "PAYLOAD-BENCH rounds=100 calls=802 unexpected=0" > "$T/payload-bench.console"
    {
        trap_line SMC 0x84000064 100 380 1000 700
        trap_line SMC 0x8400006f 100 300 900 900
        trap_line SMC 0x84000081 100 290 0 0
        trap_line SMC 0xc400006f 100 302 900 900
        if [ "$1" = 1 ]; then
            trap_line INJECT 0x00000024 1 550 0 0
            trap_line SMC 0xc4000072 1 2500 900 3000
        fi
    } > "$T/payload-bench.plugin"
    {
        span 17000 2500 250000 10
        trap_line HVC 0xc6000001 1 7000000 1000 900
        trap_line SMC 0x84000063 1 367 1100 800
        trap_line SMC 0x84000064 8 260 300 300
        trap_line SMC 0x84000069 1 258 240 0
        trap_line SMC 0x8400006f 20 258 900 25000
        trap_line SMC 0x8400007f 1 261 0 0
        trap_line SMC 0xc4000066 1 2688 900 50000
        trap_line SMC 0xc4000073 2 621 900 2900
        trap_line SYNC 0x00000024 600 1770 0 0
        echo "el-counter: tret from=EL1 kind=SMC id=0x8400007f count=1 ffa_error=1"
        echo "el-counter: tret from=EL1 kind=SMC id=0x8400006f count=20 ffa_error=0"
    } > "$T/pkvm.plugin"
    echo "[    1.9] kvm [1]: Protected hVHE mode initialized successfully" > "$T/pkvm.console"
    span 17000 0 250000 0 > "$T/nohyp.plugin"
    echo "el-counter: boot vcpu=0 NS-EL0=0 NS-EL1=0 NS-EL2=900 EL3=5 S-EL0=0 S-EL1=0 S-EL2=0 host_pc=0x48000000" > "$T/nosmmu.plugin"
    trap_line SMC 0x8400006f 100 215 900 900 > "$T/nosmmu-payload.plugin"
}

failed=0
check() {   # case pattern: the report must have a line matching the extended regex
    if ! grep -qE -- "$2" "$T/$1.out"; then
        printf 'FAIL  %s: no line matching /%s/ in %s\n' "$1" "$2" "$T/$1.out"
        failed=$((failed + 1))
    fi
}
run_case() {   # case complete(0|1) expected-status
    local name=$1 rc=0
    write_fixtures "$2"
    BENCH_QEMU_SH=$T/qemu.sh BENCH_NO_STACK=1 BENCH_TEEBENCH=10 BENCH_ICOUNT=0 \
        BENCH_HYP_BIN=$T/hyp.bin BENCH_HYP_ELF=$T/hyp.elf BENCH_KERNEL=$T/kernel \
        BENCH_INITRD=$T/initrd BENCH_PAYLOAD=$T/payload.bin BUILD_DIR=$T/build \
        bash "$CI_DIR/bench.sh" > "$T/$name.out" 2>&1 || rc=$?
    if [ "$rc" != "$3" ]; then
        printf 'FAIL  %s: exit status %s, expected %s (%s)\n' "$name" "$rc" "$3" "$T/$name.out"
        failed=$((failed + 1))
    fi
    # ours beside pKVM's, per call, with the ratio; refused and not called
    check "$name" '^  FFA_MSG_SEND_DIRECT_REQ_32 +SMC +0x8400006f +20 +300\.0 .* 258\.0 +1\.16$'
    check "$name" '^  FFA_NOTIFICATION_BIND +SMC +0x8400007f .* refused \(261\.0\) +-$'
    check "$name" '^  FFA_MSG_SEND_DIRECT_REQ_64 +SMC +0xc400006f .* not called +-$'
    check "$name" '^  data abort, resumed +SYNC +0x00000024 +9 +380\.0 .* 1770\.0 +-$'
    # per request, all ELs: totals / 10; ratios to run (d)
    check "$name" '^  \(b\) the hypervisor +20\.0 +1700\.0 +300\.0 +900\.0 +25000\.0 +27920\.0 +1\.0109 +1\.000$'
    check "$name" '^  \(c\) pKVM .* 27870\.0 +1\.0091 '
    # the goal table
    check "$name" '^forwarded DIRECT_REQ_32 / _64 +300\.0 / 302\.0 \(a\) +258\.0 / not called +<= 100 +over$'
    check "$name" '^FFA_FEATURES / _VERSION / _ID_GET +350\.0 / 300\.0 / 280\.0 +260\.0 / 367\.0 / 258\.0 '
    check "$name" '^rejected call, steady state \(min\) +290 +261\.0 \(id 0x8400007f\) +< 150 \(half DREQ\) +over$'
    check "$name" '^FFA_MEM_SHARE_64 / FFA_RXTX_MAP_64 +3800\.0 / 2000\.0 +621\.0 / 2688\.0 '
    check "$name" '^boot: EL2 insns to the host.s first +1000 +7000000 \(__pkvm_init\) +<= 1000000 +ok$'
    check "$name" '^all-EL insns per request, with / without 1\.0109 +1\.0091 +<= 1\.01 +over$'
    check "$name" '^  the same, 1 \+ EL2 per request / \(d\) +1\.0109 +1\.0091 '
    check "$name" '^SMMU.s share of boot, smmu fns +100 \(10\.0%\)'
    check "$name" '^SMMU.s share of boot, with - without +100 \(10\.0%\)'
    check "$name" '^SMMU.s cost per trap \(DIRECT_REQ_32\) +85\.0 \(300\.0 - 215\.0\)'
    check "$name" '^emulated MMIO access \(data abort\) +380\.0 x9 \(b\)'
    if [ "$2" = 1 ]; then
        check "$name" '^  data abort, injected +INJECT +0x00000024 +1 +550\.0 .* 1770\.0 +-$'
        check "$name" '^host stage-2 abort, injected +550\.0 +1770\.0, min 1770, x600 +<= 600 +ok$'
        check "$name" '^FFA_MEM_LEND, SMMU smmuv3 +2500\.0 \(a\) +not called '
    else
        check "$name" '^host stage-2 abort, injected +NOT MEASURED +1770\.0, '
        check "$name" '^NOT MEASURED, FFA_MEM_LEND, SMMU smmuv3: no FFA_MEM_LEND window'
    fi
}
run_case partial 0 1
run_case complete 1 0
if [ "$failed" = 0 ]; then
    echo "bench selftest: 2 cases passed"
else
    echo "bench selftest: $failed check(s) failed"
    exit 1
fi
