/*
 * A BL33 shim for the "bad DTB at boot" system tests (ci/mkbadinputs.sh, tests/system/tests/
 * bad_input.rs): TF-A enters it at HYP_ADDR (EL2, MMU off, x0 = 0); it damages the device
 * tree QEMU, TF-A and OP-TEE left at the board's DTB address, then enters the hypervisor
 * image that follows it 2 MiB later (the hypervisor wants a 2 MiB aligned load address),
 * with x0 = 0 as TF-A would. Assembled twice (--defsym MODE=...):
 *   MODE 1, missing: the magic word becomes 0, as if no DTB had been loaded;
 *   MODE 2, corrupt: the header is intact, but the first token of the structure block
 *           (FDT_BEGIN_NODE of the root) becomes 9, which is no token at all.
 *   MODE 0: nothing damaged (to check the shim itself: the host boots).
 * With the MMU off every access is to memory itself; nothing is cached to clean.
 */
    .equ  DTB_ADDR, 0x40000000      /* QEMU virt's DTB under firmware (the board default) */
    .equ  HYP_OFFSET, 0x200000      /* where the hypervisor image follows this shim */

    .text
/* A local label: the assembler resolves `adr` to it in place (objcopy -O binary of the
 * object file applies no relocations). */
shim_start:
    mov   x9, #DTB_ADDR
.if MODE == 1
    str   wzr, [x9]                 /* magic 0xd00dfeed -> 0 */
.elseif MODE == 2
    ldr   w10, [x9, #8]             /* off_dt_struct, big-endian */
    rev   w10, w10
    mov   w11, #0x09000000          /* the bytes 00 00 00 09: token 9, big-endian */
    str   w11, [x9, x10]
.endif
    mov   x0, #0
    adr   x12, shim_start
    add   x12, x12, #HYP_OFFSET
    br    x12
