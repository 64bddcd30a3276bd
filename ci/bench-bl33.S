/*
 * BL33 for the bench's runs without this project's hypervisor (ci/bench.sh): TF-A enters it
 * at HYP_ADDR at EL2 (MMU off, interrupts masked, x0 = 0); it enters the Linux Image that
 * QEMU preloaded at KERNEL_ADDR, at EL2, as the arm64 boot protocol asks: x0 = the DTB's
 * physical address, x1..x3 = 0. The DTB is the board's, at the bottom of RAM, as QEMU, TF-A
 * and OP-TEE left it; ci/bench.sh writes the kernel's command line and initrd into its
 * /chosen (bootargs, linux,initrd-start, linux,initrd-end) before the run.
 *
 * Linux then owns EL2: with `kvm-arm.mode=protected` it installs pKVM there (hVHE on a core
 * with VHE) and runs itself at EL1; with `kvm-arm.mode=none id_aa64mmfr1.vh=0` it runs at
 * EL1 with only its own hypervisor stub at EL2 (no hypervisor at all: the baseline).
 * Built by ci/bench.sh with aarch64-linux-gnu-gcc -c (preprocessed): -DKERNEL_ADDR=... -DDTB_ADDR=...
 */
    .text
    .global bench_bl33
bench_bl33:
    ldr   x0, =DTB_ADDR
    mov   x1, xzr
    mov   x2, xzr
    mov   x3, xzr
    ldr   x4, =KERNEL_ADDR
    br    x4
    .ltorg
