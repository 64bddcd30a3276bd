/*
 * EL2 exception vectors.
 *
 * The host's SMCs (every FF-A and PSCI call: the hot path) save only what the handler can
 * clobber: the caller-saved x0..x18 and x30 (AAPCS64; x19..x29 survive the Rust call, and
 * EL2 code never touches SP_EL1 or the FP/SIMD registers). The SMC's return address is
 * advanced here (TSC traps report the SMC itself), and `hyp_host_smc(frame, esr)` gets the
 * call in x0..x17 of that frame and leaves the reply there. ELR_EL2 and SPSR_EL2 are not
 * saved: nothing on the SMC path changes them (the hypervisor takes no exception of its own,
 * and the firmware preserves the caller's EL2 state across an SMC, as pKVM also relies on).
 * PSCI power-down states never return here: the CPU comes back through the warm entry.
 *
 * Everything else from the host (HVC, stage-2 aborts) saves the full register frame on this
 * CPU's EL2 stack, calls `hyp_host_sync(frame)`, restores the frame (which the handler may
 * have changed: abort injection rewrites ELR/SPSR) and returns. Anything unexpected goes to
 * `hyp_unexpected(kind, frame)`, which reports it and powers the machine off.
 *
 * SMC frame (must match hypervisor::frame::SmcFrame): x0..x18, x30: 20 x 8 = 160 bytes.
 * Full frame (must match hypervisor::frame::HostFrame): x0..x30, sp_el1, elr_el2,
 * spsr_el2, esr_el2, far_el2, hpfar_el2, one pad word: 38 x 8 = 304 bytes.
 */
.equ FRAME_SIZE, 304
.equ SMC_FRAME_SIZE, 160
.equ EC_SMC64, 0x17

.macro save_frame
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #16 * 0]
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    mrs     x0, sp_el1
    stp     x30, x0, [sp, #16 * 15]
    mrs     x0, elr_el2
    mrs     x1, spsr_el2
    stp     x0, x1, [sp, #16 * 16]
    mrs     x0, esr_el2
    mrs     x1, far_el2
    stp     x0, x1, [sp, #16 * 17]
    mrs     x0, hpfar_el2
    str     x0, [sp, #16 * 18]
.endm

.macro restore_frame_and_eret
    ldp     x0, x1, [sp, #16 * 16]
    msr     elr_el2, x0
    msr     spsr_el2, x1
    ldp     x30, x0, [sp, #16 * 15]
    msr     sp_el1, x0
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x28, x29, [sp, #16 * 14]
    add     sp, sp, #FRAME_SIZE
    eret
    dsb     nsh                         /* no speculation past ERET */
    isb
.endm

.macro unexpected kind
    .balign 0x80
    save_frame
    mov     x0, #\kind
    mov     x1, sp
    bl      hyp_unexpected
    b       park
.endm

.section .text.vectors, "ax"
.balign 0x800
.global hyp_vectors
hyp_vectors:
    /* Current EL with SP_EL0 */
    unexpected 0
    unexpected 1
    unexpected 2
    unexpected 3
    /* Current EL with SP_ELx: a fault inside the hypervisor */
    unexpected 4
    unexpected 5
    unexpected 6
    unexpected 7
    /* Lower EL, AArch64: the host (SMC first: the whole fast entry fits in the slot) */
    .balign 0x80
    sub     sp, sp, #SMC_FRAME_SIZE
    stp     x0, x1, [sp, #16 * 0]
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x30, [sp, #16 * 9]
    mrs     x1, esr_el2
    ubfx    x2, x1, #26, #6
    cmp     x2, #EC_SMC64
    b.ne    host_sync
    mrs     x2, elr_el2
    add     x2, x2, #4
    msr     elr_el2, x2
    mov     x0, sp
    bl      hyp_host_smc
    b       host_smc_return
    unexpected 9
    unexpected 10
    unexpected 11
    /* Lower EL, AArch32 */
    unexpected 12
    unexpected 13
    unexpected 14
    unexpected 15

/* The SMC path's tail (past the vector slot's 32 instructions). */
host_smc_return:
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x30, [sp, #16 * 9]
    add     sp, sp, #SMC_FRAME_SIZE
    eret
    dsb     nsh                         /* no speculation past ERET */
    isb

/* Not an SMC: drop the SMC frame (x0..x2 back first) and save the full one. */
host_sync:
    ldp     x0, x1, [sp, #16 * 0]
    ldr     x2, [sp, #16 * 1]
    add     sp, sp, #SMC_FRAME_SIZE
    save_frame
    mov     x0, sp
    bl      hyp_host_sync
    restore_frame_and_eret

/*
 * Enter the host for the first time on this CPU, with an empty EL2 stack.
 * x0 = the EL1 entry state (a HostFrame with x0..x3, elr, spsr and sp_el1 filled in; it
 * must not live on this CPU's stack), x1 = this CPU's EL2 stack top. Does not return.
 */
.global hyp_enter_host
hyp_enter_host:
    mov     sp, x1
    ldp     x2, x3, [x0, #16 * 16]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x30, x2, [x0, #16 * 15]
    msr     sp_el1, x2
    ldp     x2, x3, [x0, #16 * 1]
    ldp     x4, x5, [x0, #16 * 2]
    ldp     x6, x7, [x0, #16 * 3]
    ldp     x8, x9, [x0, #16 * 4]
    ldp     x10, x11, [x0, #16 * 5]
    ldp     x12, x13, [x0, #16 * 6]
    ldp     x14, x15, [x0, #16 * 7]
    ldp     x16, x17, [x0, #16 * 8]
    ldp     x18, x19, [x0, #16 * 9]
    ldp     x20, x21, [x0, #16 * 10]
    ldp     x22, x23, [x0, #16 * 11]
    ldp     x24, x25, [x0, #16 * 12]
    ldp     x26, x27, [x0, #16 * 13]
    ldp     x28, x29, [x0, #16 * 14]
    ldp     x0, x1, [x0, #16 * 0]
    eret
    dsb     nsh
    isb
