#!/bin/bash
# The table of tested configurations, rendered from what the passing system tests booted.
#
#   ci/tested-configs.sh [RECORDS]          # default: $BUILD_DIR/tested-configurations.txt
#   UPDATE_TESTED_CONFIGS=1 ci/tested-configs.sh [RECORDS]
#
# RECORDS has one line per boot of a system test that passed, written by the tests themselves
# (tests/system/src/tested.rs: the configuration comes from the arguments given to ci/qemu.sh and
# the artifacts manifest, not from the test), e.g.
#   spmc=el1 cpu=max chain=tf-a gic=3 smmu=on host=linux suite=chains test=gicv2_boots_linux_as_host
# `make test-system` removes the file before it runs the whole suite and calls this script after
# it passed, so the table covers exactly the tests of `make test` (an #[ignore]d test is in it
# only while it runs there).
#
# Renders build/tested-configurations.md (docs/tested-configurations.md: the summary per SPMC,
# CPU, boot chain and GIC, and every test with what it booted) and the summary table between
# README.md's `<!-- tested-configurations:begin -->` and `<!-- tested-configurations:end -->`
# lines. Without UPDATE_TESTED_CONFIGS=1 it compares them with the committed files and fails
# on a difference, showing it: after an intended change (a test added, a configuration gained
# or lost) take the run's version with `UPDATE_TESTED_CONFIGS=1 bash ci/tested-configs.sh`
# (no new run needed: the records stay in build/) and commit both files.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

records=${1:-$BUILD_DIR/tested-configurations.txt}
doc=$ROOT_DIR/docs/tested-configurations.md
readme=$ROOT_DIR/README.md
begin='<!-- tested-configurations:begin -->'
end='<!-- tested-configurations:end -->'
new_doc=$BUILD_DIR/tested-configurations.md
new_readme=$BUILD_DIR/tested-configurations.README.md

[ -s "$records" ] || die "no system test recorded a configuration in $records: run \`make test-system\` (it writes the file)"
[ "$(grep -cxF "$begin" "$readme")" = 1 ] && [ "$(grep -cxF "$end" "$readme")" = 1 ] ||
    die "README.md needs exactly one '$begin' line and one '$end' line"
mkdir -p "$BUILD_DIR"

# The records as tab-separated columns: spmc cpu chain gic smmu host suite test, sorted, each
# once (a test that boots the same configuration twice counts once).
tsv=$(mktemp)
summary=$(mktemp)
trap 'rm -f "$tsv" "$summary"' EXIT
awk '
    BEGIN { n = split("spmc cpu chain gic smmu host suite test", want, " ") }
    /^[[:space:]]*$/ { next }
    {
        delete v
        for (i = 1; i <= NF; i++) {
            at = index($i, "=")
            if (at > 1) v[substr($i, 1, at - 1)] = substr($i, at + 1)
        }
        line = ""
        for (i = 1; i <= n; i++) {
            if (!(want[i] in v) || v[want[i]] == "") {
                printf "%s:%d: no %s= in \"%s\"\n", FILENAME, FNR, want[i], $0 > "/dev/stderr"
                bad = 1
                exit 1
            }
            line = line (i > 1 ? "\t" : "") v[want[i]]
        }
        print line
    }
    END { if (bad) exit 1 }
' "$records" | LC_ALL=C sort -u >"$tsv"

# How the tables name an SPMC and a boot chain (awk functions for both tables).
labels='
    function spmc(s) {
        if (s == "el1") return "OP-TEE at S-EL1"
        if (s == "el3") return "TF-A EL3 SPMC"
        return s
    }
    function chain(c) {
        if (c == "tf-a") return "TF-A"
        if (c == "u-boot") return "TF-A, U-Boot"
        if (c == "none") return "none (QEMU `-kernel`)"
        return c
    }
'

# The summary: one row per (SPMC, CPU, boot chain, GIC), with the hosts, SMMU settings and test
# files that passed on it, and how many tests.
LC_ALL=C sort -t "$(printf '\t')" -k1,4 -k7,8 "$tsv" | awk -F '\t' "$labels"'
    # Adds item to the sorted ", "-separated list.
    function add(list, item,    parts, n, i, out, placed) {
        n = split(list, parts, ", ")
        out = ""; placed = 0
        for (i = 1; i <= n; i++) {
            if (parts[i] == item) return list
            if (!placed && item < parts[i]) { out = out (out == "" ? "" : ", ") item; placed = 1 }
            out = out (out == "" ? "" : ", ") parts[i]
        }
        if (!placed) out = out (out == "" ? "" : ", ") item
        return out
    }
    function flush() {
        if (group == "") return
        printf "| %s | `%s` | %s | v%s | %s | %s | %s | %d |\n", spmc(g[1]), g[2], chain(g[3]), g[4], hosts, smmus, suites, tests
    }
    {
        key = $1 "\t" $2 "\t" $3 "\t" $4
        if (key != group) {
            flush()
            group = key; split(key, g, "\t")
            hosts = ""; smmus = ""; suites = ""; tests = 0
            delete seen
        }
        hosts = add(hosts, $6)
        smmus = add(smmus, $5)
        suites = add(suites, "`" $7 "`")
        if (!(($7 "::" $8) in seen)) { seen[$7 "::" $8] = 1; tests++ }
    }
    END { flush() }
' >"$summary"

configs=$(wc -l <"$summary")
tests=$(cut -f7,8 "$tsv" | LC_ALL=C sort -u | wc -l)
table_head='| SPMC | CPU (`--cpu`) | boot chain | GIC | host | SMMU | suites (`tests/system/tests/`) | tests |
|---|---|---|---|---|---|---|---|'
total="$configs combinations of SPMC, CPU, boot chain and GIC, $tests system tests."

{
    cat <<EOF
# Tested configurations

<!-- Generated by ci/tested-configs.sh from what the passing tests of \`make test\` booted; do not
edit. \`make test\` fails when this file differs from its run: after an intended change,
\`UPDATE_TESTED_CONFIGS=1 bash ci/tested-configs.sh\` takes the run's version. -->

Each line below is a configuration that a system test of \`make test\` booted under the hypervisor,
and the test passed. The configuration is not written by the test: \`tests/system/src/tested.rs\`
derives it from the arguments the test gave \`ci/qemu.sh\` and from the artifacts manifest (which
flash, which kernel), and records it when the test's thread ends without a panic; \`make
test-system\` clears the records before the run and renders this page after it
(\`ci/tested-configs.sh\`).

- SPMC: the Secure world in the flash. OP-TEE at S-EL1 is the SPMC under TF-A's SPMD; the TF-A
  EL3 SPMC has OP-TEE as its S-EL1 partition (\`docs/spmc.md\`); none: no firmware, no FF-A.
- CPU: QEMU's CPU model (\`ci/qemu.sh --cpu\`; \`max\` runs with SVE and SME off).
- boot chain: TF-A (the hypervisor is its BL33), TF-A then U-Boot (\`booti\` from a disk), or
  none (the hypervisor is QEMU's \`-kernel\`).
- GIC: QEMU virt's \`gic-version\`.
- host: what the hypervisor starts at EL1: \`linux\`, \`payload\` (the EL1 test program), \`stub\`
  (the bad-input runs' 4 KiB Image, which the hypervisor must refuse to start).
- SMMU: QEMU's SMMUv3 in front of the PCIe root complex (\`on\`), or the machine without it.
- suites: the test files under \`tests/system/tests/\` whose tests passed there.

## By SPMC, CPU, boot chain and GIC

$table_head
EOF
    cat "$summary"
    cat <<EOF

$total

## Every test and what it booted

| test | SPMC | CPU | boot chain | GIC | SMMU | host |
|---|---|---|---|---|---|---|
EOF
    LC_ALL=C sort -t "$(printf '\t')" -k7,8 -k1,6 "$tsv" |
        awk -F '\t' "$labels"'{ printf "| `%s::%s` | %s | `%s` | %s | v%s | %s | %s |\n", $7, $8, spmc($1), $2, chain($3), $4, $5, $6 }'
} >"$new_doc"

{
    awk -v begin="$begin" '{ print } $0 == begin { exit }' "$readme"
    cat <<EOF
<!-- Generated by ci/tested-configs.sh from what the passing tests of \`make test\` booted; do not edit. -->

$table_head
EOF
    cat "$summary"
    cat <<EOF

$total Every test and what it booted: [docs/tested-configurations.md](docs/tested-configurations.md).
EOF
    awk -v end="$end" '$0 == end { on = 1 } on { print }' "$readme"
} >"$new_readme"

if [ "${UPDATE_TESTED_CONFIGS:-}" = 1 ]; then
    cp "$new_doc" "$doc"
    cp "$new_readme" "$readme"
    echo "tested configurations: wrote docs/tested-configurations.md and README.md's table ($total)"
    exit 0
fi
stale=0
diff -u "$doc" "$new_doc" || stale=1
diff -u "$readme" "$new_readme" || stale=1
if [ "$stale" = 1 ]; then
    die "the committed table of tested configurations (docs/tested-configurations.md, README.md) is not what this run tested (diff above). If the change is intended: UPDATE_TESTED_CONFIGS=1 bash ci/tested-configs.sh $records (this run's records; no new run needed), then commit both files."
fi
echo "tested configurations: docs/tested-configurations.md and README.md match this run ($total)"
