#!/bin/bash
# Regenerate the device-tree fixtures of the unit tests (tests/fixtures/):
#
#   qemu-virt-dumpdtb.dtb   QEMU virt's own DTB (dumpdtb), same -bios/machine/cpu as ci/qemu.sh,
#                           4 CPUs, 1024 MiB, WITHOUT the SMMU (ci/qemu.sh --iommu none): what
#                           QEMU writes at 0x4000_0000 before any firmware; the DMA policy's
#                           fixture of a board whose root complex has no IOMMU.
#   qemu-virt-smmuv3-dumpdtb.dtb  the same with iommu=smmuv3, as every test configuration runs.
#   qemu-virt-tfa-optee.dtb the DTB exactly as BL33 (the hypervisor) finds it at 0x4000_0000: the
#                           ci/mkdtb.sh DTB (with the two /chosen module nodes) after TF-A BL2 added
#                           /psci and OP-TEE added /reserved-memory and /firmware/optee; without
#                           the SMMU, as the unit tests of the loader expect.
#   Every capture names its QEMU_IOMMU explicitly: the scripts' default (smmuv3, ci/config.sh)
#   must not silently change what a fixture is.
#   README.md               what they are, versions, commands (generated).
#
#   ci/capture-fixture-dtb.sh          # runs ci/stack.sh first (cached); takes a few seconds
#
# Method: BL33 = one `b .` (assembled here), so nothing after the secure firmware touches the DTB.
# QEMU runs with ci/qemu.sh plus an HMP monitor on a unix socket; once OP-TEE reports on the secure
# console that the primary CPU switches to the normal world, `pmemsave 0x40000000 0x100000` dumps
# the DTB area (PLAT_QEMU_DT_MAX_SIZE = 1 MiB), which is then trimmed to the FDT's totalsize.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
source "$CI_DIR/lib.sh"

export QEMU_SMP=4 QEMU_MEM=1024
FIX=$ROOT_DIR/tests/fixtures
OUT=$BUILD_DIR/fixtures
BOOTARGS="console=ttyAMA0 autotest"
TIMEOUT=60
mkdir -p "$FIX" "$OUT"
need_cmd python3 python3
need_cmd dtc device-tree-compiler

"$CI_DIR/stack.sh" --quiet
# shellcheck disable=SC1090
source "$STACK_ENV"

# --- 1. spinning BL33 -------------------------------------------------------------------------
step "assembling the spinning BL33 (b .)"
need_cmd ${CROSS}as binutils-aarch64-linux-gnu
printf '    .text\n    .global _start\n_start:\n    b .\n' > "$OUT/spin.S"
${CROSS}as -o "$OUT/spin.o" "$OUT/spin.S"
${CROSS}objcopy -O binary "$OUT/spin.o" "$OUT/spin.bin"
"$CI_DIR/mkflash.sh" "$OUT/spin.bin" "$OUT/flash.bin"

# --- 2. QEMU's DTB as dumped ------------------------------------------------------------------
step "dumping QEMU's DTB (smp $QEMU_SMP, $QEMU_MEM MiB, same -bios)"
QEMU_IOMMU='' qemu_dumpdtb "$OUT/flash.bin" "$OUT/qemu-virt-dumpdtb-raw.dtb"
# QEMU's blob has totalsize 1 MiB (mostly free space): pack it (dtc keeps nodes, properties,
# order and the memory reservation map; only the free space goes).
dtc -q -I dtb -O dtb -o "$OUT/qemu-virt-dumpdtb.dtb" "$OUT/qemu-virt-dumpdtb-raw.dtb"

# The same machine with an SMMUv3 in front of the PCIe root complex.
step "dumping QEMU's DTB with iommu=smmuv3"
rm -f "$OUT/qemu-virt-smmuv3-raw.dtb"
qemu-system-aarch64 -nographic -nic none -monitor none -serial null \
    -machine "$(QEMU_IOMMU=smmuv3 qemu_machine),dumpdtb=$OUT/qemu-virt-smmuv3-raw.dtb" \
    -cpu "$QEMU_CPU" -smp "$QEMU_SMP" -m "$QEMU_MEM" -accel tcg,thread=single \
    -bios "$OUT/flash.bin" >/dev/null 2>&1 || true
need_file "$OUT/qemu-virt-smmuv3-raw.dtb" "QEMU's DTB with iommu=smmuv3 (dumpdtb)"
dtc -q -I dtb -O dtb -o "$OUT/qemu-virt-smmuv3-dumpdtb.dtb" "$OUT/qemu-virt-smmuv3-raw.dtb"

# --- 3. DTB as BL33 sees it -------------------------------------------------------------------
QEMU_IOMMU='' "$CI_DIR/mkdtb.sh" "$OUT/flash.bin" "$KERNEL_IMAGE" "$INITRAMFS" "$BOOTARGS" "$OUT/input.dtb"
step "booting TF-A + OP-TEE with the spinning BL33 and dumping 0x40000000 (1 MiB)"
SOCK=$OUT/monitor.sock
rm -f "$SOCK" "$OUT/secure.log" "$OUT/mem.bin"
# QEMU runs in $OUT: HMP parses pmemsave's size as an expression, so an absolute file name
# ("0x100000 /path") reads as a division; a relative name avoids that. The subshell execs
# ci/qemu.sh, which execs QEMU: $! is QEMU's PID.
(cd "$OUT" && exec "$CI_DIR/qemu.sh" --flash flash.bin --dtb input.dtb --kernel "$KERNEL_IMAGE" \
    --initrd "$INITRAMFS" --smp "$QEMU_SMP" --mem "$QEMU_MEM" --iommu none --secure-log secure.log \
    -- -monitor "unix:monitor.sock,server=on,wait=off" </dev/null >console.log 2>&1) &
qpid=$!
cleanup() { kill "$qpid" 2>/dev/null || true; wait "$qpid" 2>/dev/null || true; }
trap cleanup EXIT

MEM_BIN=$OUT/mem.bin SOCK=$SOCK SECLOG=$OUT/secure.log QPID=$qpid TIMEOUT=$TIMEOUT python3 - <<'EOF' ||
import os, socket, sys, time
sock, seclog, mem, qpid = os.environ["SOCK"], os.environ["SECLOG"], os.environ["MEM_BIN"], int(os.environ["QPID"])
deadline = time.monotonic() + float(os.environ["TIMEOUT"])
def alive():
    try:
        os.kill(qpid, 0); return True
    except OSError:
        return False
# OP-TEE is done with the DTB once the primary CPU leaves for the normal world.
marker = "Primary CPU switching to normal world boot"
while True:
    if os.path.exists(sock) and os.path.exists(seclog) and marker in open(seclog, errors="replace").read():
        break
    if not alive() or time.monotonic() > deadline:
        sys.exit("OP-TEE never reached '%s' (QEMU %s)" % (marker, "alive" if alive() else "exited"))
    time.sleep(0.05)
time.sleep(0.5)   # BL31 -> BL33 handoff; nothing after that writes the DTB (BL33 spins)
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
s.settimeout(10)
def until_prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("monitor closed")
        buf += chunk
    return buf
until_prompt()
s.sendall(b"pmemsave 0x40000000 0x100000 mem.bin\n")
reply = until_prompt()
if b"rror" in reply or b"nvalid" in reply:
    sys.exit("pmemsave failed: %r" % reply[-200:])
s.sendall(b"quit\n")
time.sleep(0.2)
EOF
    die "capture failed (console: $OUT/console.log, secure: $OUT/secure.log)"
wait "$qpid" 2>/dev/null || true
trap - EXIT
need_file "$OUT/mem.bin" "pmemsave output"
size=$(dtb_totalsize "$OUT/mem.bin")
head -c "$size" "$OUT/mem.bin" > "$OUT/qemu-virt-tfa-optee.dtb"
dtc -q -I dtb -O dts -o "$OUT/qemu-virt-tfa-optee.dts" "$OUT/qemu-virt-tfa-optee.dtb" ||
    die "the captured DTB does not decompile"
dtc -q -I dtb -O dts -o "$OUT/qemu-virt-dumpdtb.dts" "$OUT/qemu-virt-dumpdtb.dtb"

# The capture must show what the firmware added, and our module nodes.
for node in /psci /reserved-memory/optee_core@e100000 /reserved-memory/optee_shm@42000000 \
            "/chosen/module@$(hex "$KERNEL_ADDR")" "/chosen/module@$(hex "$INITRD_ADDR")"; do
    fdtget -p "$OUT/qemu-virt-tfa-optee.dtb" "$node" >/dev/null 2>&1 ||
        die "captured DTB lacks $node (see $OUT/qemu-virt-tfa-optee.dts)"
done
cp "$OUT/qemu-virt-dumpdtb.dtb" "$OUT/qemu-virt-smmuv3-dumpdtb.dtb" "$OUT/qemu-virt-tfa-optee.dtb" "$FIX/"
step "captured: tests/fixtures/qemu-virt-tfa-optee.dtb (totalsize $size), tests/fixtures/qemu-virt-dumpdtb.dtb ($(dtb_totalsize "$FIX/qemu-virt-dumpdtb.dtb"))"

# --- 4. README ----------------------------------------------------------------------------------
F=$FIX/qemu-virt-tfa-optee.dtb
D=$FIX/qemu-virt-dumpdtb.dtb
kn=/chosen/module@$(hex "$KERNEL_ADDR"); in=/chosen/module@$(hex "$INITRD_ADDR")
compat() { fdtget "$F" "$1" compatible | sed 's/ /", "/g; s/^/"/; s/$/"/'; }
cat > "$FIX/README.md" <<EOF
# Device-tree fixtures (QEMU virt + TF-A + OP-TEE)

Generated by \`ci/capture-fixture-dtb.sh\` (do not edit by hand; rerun the script after a change
of QEMU, TF-A, OP-TEE, the load addresses in \`ci/config.sh\` or \`ci/mkdtb.sh\`).
Captured $(date -u +%Y-%m-%d) with:

| component | version |
|---|---|
| QEMU | $QEMU_VERSION (Debian \`qemu-system-arm\` $QEMU_PACKAGE_VERSION, bookworm-backports) |
| TF-A | $TFA_VERSION (Debian trixie source), PLAT=qemu, SPD=spmd SPMD_SPM_AT_SEL2=0 SPMC_OPTEE=1 |
| OP-TEE OS | $OPTEE_VERSION (Debian sid source), vexpress-qemu_armv8a, CFG_CORE_SEL1_SPMC=y, GICv3 |
| module sizes from | kernel $KERNEL_ABI ($KERNEL_VERSION) Image, \`ci/mkinitramfs.sh\` initramfs |

QEMU options (the same as \`ci/qemu.sh --iommu none\`; the smmuv3 dump adds \`iommu=smmuv3\`): \`-machine $QEMU_MACHINE -cpu $QEMU_CPU -smp $QEMU_SMP -m $QEMU_MEM -accel tcg,thread=single -bios flash.bin\`.

## qemu-virt-dumpdtb.dtb ($(stat -c %s "$D") bytes, totalsize $(dtb_totalsize "$D"))

QEMU's own DTB: \`-machine $QEMU_MACHINE,dumpdtb=...\` with the **same -bios** (flash.bin =
TF-A bl1 + fip) and the options above, then packed with \`dtc -I dtb -O dtb\` (QEMU's blob has
totalsize 1 MiB, nearly all free space; packing drops only that). This is what QEMU writes at
0x4000_0000 before any firmware runs: no /psci, no /reserved-memory, no /chosen modules, no NS
pl061 GPIO (QEMU omits it when firmware runs with secure=on).

## qemu-virt-tfa-optee.dtb ($(stat -c %s "$F") bytes, totalsize $(dtb_totalsize "$F"))

The DTB **exactly as BL33 (the hypervisor) finds it at 0x4000_0000**:

1. \`ci/mkdtb.sh flash.bin Image initramfs.cpio.gz "$BOOTARGS" input.dtb\` (QEMU's DTB + the
   /chosen module nodes), passed with \`-dtb\`;
2. TF-A BL2 adds \`/psci\` (method = "smc", PSCI 1.0) and \`enable-method = "psci"\` in every cpu node;
3. OP-TEE adds \`/reserved-memory\` (#address-cells = #size-cells = 2, ranges):
$(for n in $(fdtget -l "$F" /reserved-memory); do printf '   - `%s`: reg = <%s>, no-map\n' "$n" "$(fdtget -t x "$F" "/reserved-memory/$n" reg)"; done)

   OP-TEE in FF-A SPMC mode adds **no** \`/firmware/optee\` node (Linux finds OP-TEE on the FF-A bus).
4. Captured with a BL33 that only spins (\`b .\`): after OP-TEE prints "Primary CPU switching to
   normal world boot" on the secure console, QEMU's monitor (unix socket) runs
   \`pmemsave 0x40000000 0x100000\`, and the dump is cut to the FDT header's totalsize.

/chosen as BL33 sees it: \`#address-cells = <2>\`, \`#size-cells = <2>\`,
\`stdout-path = "$(fdtget "$F" /chosen stdout-path)"\`, \`rng-seed\`, \`kaslr-seed\`, **no** \`bootargs\`
and **no** \`linux,initrd-*\` (the hypervisor adds them for Linux), and:

| node | compatible | reg (hex cells) | bootargs |
|---|---|---|---|
| \`$kn\` | $(compat "$kn") | $(fdtget -t x "$F" "$kn" reg) | "$(fdtget "$F" "$kn" bootargs)" |
| \`$in\` | $(compat "$in") | $(fdtget -t x "$F" "$in" reg) | |

Notes for tests that read these files:
- The blob is packed (TF-A and OP-TEE \`fdt_pack\` it): no free space. Code that edits it must
  first open it into a larger buffer.
- The module nodes appear in reverse order of creation (initrd first); match by compatible.
- \`rng-seed\` differs on every capture: QEMU re-randomizes it at each machine reset.
  \`/secure-chosen\` (stdout-path = the secure UART1) is QEMU's and is still present.

sha256:
\`\`\`
$(cd "$FIX" && sha256sum qemu-virt-dumpdtb.dtb qemu-virt-smmuv3-dumpdtb.dtb qemu-virt-tfa-optee.dtb)
\`\`\`
EOF
step "wrote tests/fixtures/README.md"
