/*
 * EL2 exception vectors.
 *
 * The host's SMCs (every FF-A and PSCI call: the hot path) save only what the handler can
 * clobber: the caller-saved x0..x18 and x30 (AAPCS64; x19..x29 survive the Rust call, and
 * EL2 code never touches SP_EL1 or the FP/SIMD registers). The SMC's return address is
 * advanced here (TSC traps report the SMC itself). The hot FF-A calls are answered here, by
 * `ffa_fast` (the table and its Rust model are hypervisor/src/ffa/fast.rs); every other SMC,
 * and any call `ffa_fast` does not take, goes to `hyp_host_smc(frame, esr)` with the call in
 * x0..x17 of that frame, and the reply is left there. ELR_EL2 and SPSR_EL2 are not
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
/* ESR_EL2 of an SMC64 with immediate 0: EC 0x17, IL 1, ISS 0. */
.equ ESR_SMC64_IMM0, 0x5e000000

/*
 * The FF-A fast path's geometry (hypervisor/src/ffa/fast.rs, ffa/audit.rs and percpu.rs; a
 * unit test there checks these values): FFA_FAST_ENTRIES: the offset of entry 1 minus one
 * entry's 128 bytes (entry k at k * 128 + this); FFA_FAST_INDEX_STRIDE: index bytes per
 * convention (x0[7:0]); FFA_COUNTERS_AT: this CPU's counter block from SP at the vector (the
 * block sits right above its EL2 stack, and SP is the stack's top when the host traps, less
 * the SMC frame); FFA_EVENT_STRIDE: bytes between a function's forwarded, emulated and
 * rejected counters.
 */
.equ FFA_FAST_ENTRIES, 384
.equ FFA_FAST_ENTRY_SIZE, 128
.equ FFA_FAST_INDEX_STRIDE, 256
.equ FFA_COUNTERS_AT, 160
.equ FFA_EVENT_STRIDE, 768
.equ FFA_ERROR, 0x84000060
.equ FFA_SUCCESS_32, 0x84000061
.equ FFA_INVALID_PARAMETERS, 0xfffffffe

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
    /* Lower EL, AArch64: the host (an SMC with immediate 0 first: the FF-A fast path) */
    .balign 0x80
    stp     x0, x1, [sp, #-SMC_FRAME_SIZE]!
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x30, [sp, #16 * 9]
    mrs     x18, esr_el2
    mov     w30, #ESR_SMC64_IMM0
    cmp     x18, x30
    b.ne    host_not_smc0
    mrs     x30, elr_el2
    add     x30, x30, #4
    msr     elr_el2, x30
    /* x0 must be 0x840000nn or 0xC40000nn, the SVE hint aside; x18 = conv * 256 + nn */
    and     x18, x0, #0xfffffffffffeffff
    lsr     x30, x18, #8
    and     x30, x30, #0xffffffffffbfffff
    cmp     x30, #0x840, lsl #12
    b.ne    smc_general
    ubfx    x30, x0, #30, #1
    and     x18, x18, #0xff
    add     x18, x18, x30, lsl #8
    b       ffa_fast
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

/* Not an SMC with immediate 0: x0..x17 are intact, x18 = ESR_EL2. */
host_not_smc0:
    ubfx    x30, x18, #26, #6
    cmp     x30, #EC_SMC64
    b.ne    host_sync
    mrs     x30, elr_el2
    add     x30, x30, #4
    msr     elr_el2, x30
    /* fall through */

/* An SMC for Rust: the frame holds the host's registers, ELR_EL2 is past the SMC. */
smc_general:
    mov     x0, sp
    mrs     x1, esr_el2
    bl      hyp_host_smc
    b       host_smc_return

/*
 * The FF-A fast path: the vector's part of hypervisor/src/ffa/fast.rs, whose `model` is this
 * code in Rust (tested against the general path). On entry x0..x17 are the host's call (also
 * in the frame), x18 = n, the function number - 0x60, and ELR_EL2 is past the SMC. Anything
 * it does not answer goes to `smc_general` with the frame untouched.
 */
ffa_fast:
    /* the table, published once negotiation has settled at v1.2; x30 = the entry */
    adrp    x30, hyp_ffa_fast
    ldr     x30, [x30, :lo12:hyp_ffa_fast]
    cbz     x30, smc_general
    ldrb    w18, [x30, x18]
    cbz     w18, smc_general
    add     x30, x30, x18, lsl #7
    /* x8..x17 must be zero (v1.2; no call on this path carries them): then they are free */
    orr     x18, x8, x9
    orr     x18, x18, x10
    orr     x18, x18, x11
    orr     x18, x18, x12
    orr     x18, x18, x13
    orr     x18, x18, x14
    orr     x18, x18, x15
    orr     x18, x18, x16
    orr     x18, x18, x17
    cbnz    x18, smc_general
    /* x18 = the counters' offset (bits [31:0]), special (bit 63: FFA_ID_GET, or with bit
       62 FFA_FEATURES, or with bit 60 FFA_VERSION), a conditional field (bit 61) */
    ldr     x18, [x30, #FFA_FAST_ENTRIES + 64]
    /* validation: x_i & ~carried_i for x1..x7, and the must-be-one bits of x1 */
    ldp     x9, x10, [x30, #FFA_FAST_ENTRIES + 0]
    bic     x9, x1, x9
    bic     x10, x2, x10
    orr     x8, x9, x10
    ldp     x9, x10, [x30, #FFA_FAST_ENTRIES + 16]
    bic     x9, x3, x9
    bic     x10, x4, x10
    orr     x8, x8, x9
    orr     x8, x8, x10
    ldp     x9, x10, [x30, #FFA_FAST_ENTRIES + 32]
    bic     x9, x5, x9
    bic     x10, x6, x10
    orr     x8, x8, x9
    orr     x8, x8, x10
    ldp     x9, x10, [x30, #FFA_FAST_ENTRIES + 48]
    bic     x9, x7, x9
    bic     x10, x10, x1
    orr     x8, x8, x9
    orr     x8, x8, x10
    cbnz    x8, ffa_fast_reject
    tbnz    x18, #61, ffa_fast_cond
3:
    /* x8 = this CPU's forwarded counter of this function (the block above its stack) */
    add     x8, sp, w18, uxtw
    tbnz    x18, #63, ffa_fast_special
ffa_fast_forward:
    ldr     x9, [x8, #FFA_COUNTERS_AT]
    add     x9, x9, #1
    str     x9, [x8, #FFA_COUNTERS_AT]
    /* forward in place: the canonical ID, x1..x7 the host's, x8..x17 zero */
    and     x0, x0, #0xfffffffffffeffff
    mov     x8, xzr
    mov     x9, xzr
    mov     x10, xzr
    smc     #0
    /* the reply: one of the entry's two expected x0s, masked; anything else to Rust */
    ldp     x9, x10, [x30, #FFA_FAST_ENTRIES + 72]
    cmp     x0, x9
    b.ne    4f
5:  ldp     x11, x12, [x10, #0]
    ldp     x13, x14, [x10, #16]
    ldp     x15, x16, [x10, #32]
    ldr     x17, [x10, #48]
    and     x1, x1, x11
    and     x2, x2, x12
    and     x3, x3, x13
    and     x4, x4, x14
    and     x5, x5, x15
    and     x6, x6, x16
    and     x7, x7, x17
ffa_fast_done:
    adrp    x8, hyp_ffa_poll
    ldr     w8, [x8, :lo12:hyp_ffa_poll]
    cbnz    w8, ffa_fast_poll
ffa_fast_quiet:
    /* x8..x17 back to the frame's zeros; x18 and x30 the host's */
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x30, [sp, #16 * 9]
    add     sp, sp, #SMC_FRAME_SIZE
    eret
    dsb     nsh
    isb
4:  ldp     x9, x10, [x30, #FFA_FAST_ENTRIES + 88]
    cmp     x0, x9
    b.eq    5b
    b       ffa_fast_finish

/*
 * The conditional field (its flag in the same register, a w register): must be zero unless
 * the flag is set. x9 = its register's frame offset, x10 = the flag's mask | the field's
 * mask << 32 (the other fields passed, so the register's upper half is zero).
 */
ffa_fast_cond:
    ldp     x9, x10, [x30, #FFA_FAST_ENTRIES + 104]
    ldr     x9, [sp, x9]
    tst     x9, x10
    b.ne    3b
    ands    x9, x9, x10, lsr #32
    b.eq    3b
    b       ffa_fast_reject

/*
 * FFA_FEATURES (valid, x8 = its forwarded counter): forwarded in place when w1 is 0x840000nn
 * or 0xC40000nn, a function forwarded on this path, and the SPMC has not refused it
 * (D-FEATURES-LEARNED: bit row of word conv of the proxy's bitmap); else to Rust.
 */
ffa_fast_special:
    tbz     x18, #62, ffa_fast_emulated
    tbz     w1, #31, smc_general
    lsr     x9, x1, #8
    and     x9, x9, #0xffffffffffbfffff
    cmp     x9, #0x840, lsl #12
    b.ne    smc_general
    ubfx    x9, x1, #30, #1
    and     x10, x1, #0xff
    add     x9, x10, x9, lsl #8
    adrp    x10, hyp_ffa_fast
    ldr     x10, [x10, :lo12:hyp_ffa_fast]
    ldrb    w9, [x10, x9]
    cbz     w9, smc_general
    add     x9, x10, x9, lsl #7
    ldr     x9, [x9, #FFA_FAST_ENTRIES + 64]
    tbnz    x9, #63, smc_general
    ubfx    x10, x9, #3, #1
    ubfx    x9, x9, #4, #6
    adrp    x11, hyp_ffa_learned
    ldr     x11, [x11, :lo12:hyp_ffa_learned]
    cbz     x11, smc_general            /* published before the table, but not ordered */
    ldr     x11, [x11, x10, lsl #3]
    lsr     x11, x11, x9
    tbnz    x11, #0, smc_general
    mov     x11, xzr
    b       ffa_fast_forward

/*
 * Answered at EL2, counted emulated (x8 = the forwarded counter): FFA_ID_GET: SUCCESS, w2 =
 * the host's ID 0; FFA_VERSION (bit 60), negotiation settled at v1.2: 1.minor with minor >= 2
 * gets 1.2, anything else NOT_SUPPORTED.
 */
ffa_fast_emulated:
    ldr     x9, [x8, #FFA_COUNTERS_AT + FFA_EVENT_STRIDE]
    add     x9, x9, #1
    str     x9, [x8, #FFA_COUNTERS_AT + FFA_EVENT_STRIDE]
    adr     x9, ffa_reply_id_get
    tbz     x18, #60, ffa_fast_reply
    adr     x9, ffa_reply_not_supported
    lsr     x10, x1, #16
    cmp     x10, #1
    b.ne    ffa_fast_reply
    and     x10, x1, #0xffff
    cmp     x10, #2
    b.lo    ffa_fast_reply
    adr     x9, ffa_reply_version
    b       ffa_fast_reply

/*
 * An invalid field: a rejection the console's rate limit would print goes to Rust (which
 * names the field); the others are answered here: INVALID_PARAMETERS, counted rejected. The
 * rate limit's count is a plain increment: two CPUs rejecting at once may count one (it only
 * chooses which rejections get a line).
 */
ffa_fast_reject:
    tbnz    x18, #60, smc_general       /* FFA_VERSION: Rust answers NOT_SUPPORTED */
    adrp    x8, hyp_ffa_rejections
    ldr     x9, [x8, :lo12:hyp_ffa_rejections]
    sub     x10, x9, #1
    tst     x9, x10                     /* Z: a power of two (or 0) */
    ccmp    x9, #8, #0, ne              /* else C: at least 8 */
    b.lo    smc_general                 /* the first 8, then every power of two */
    add     x9, x9, #1
    str     x9, [x8, :lo12:hyp_ffa_rejections]
    add     x8, sp, w18, uxtw
    ldr     x9, [x8, #FFA_COUNTERS_AT + 2 * FFA_EVENT_STRIDE]
    add     x9, x9, #1
    str     x9, [x8, #FFA_COUNTERS_AT + 2 * FFA_EVENT_STRIDE]
    adr     x9, ffa_reply_invalid
/* An answer from EL2: x0..x7 from the words at x9. */
ffa_fast_reply:
    ldp     x0, x1, [x9, #0]
    ldp     x2, x3, [x9, #16]
    ldp     x4, x5, [x9, #32]
    ldp     x6, x7, [x9, #48]
    b       ffa_fast_done

/* The EL2 answers' x0..x7. */
    .balign 16
ffa_reply_id_get:
    .quad   FFA_SUCCESS_32, 0, 0, 0, 0, 0, 0, 0     /* w2 = the host's ID 0 */
ffa_reply_invalid:
    .quad   FFA_ERROR, 0, FFA_INVALID_PARAMETERS, 0, 0, 0, 0, 0
ffa_reply_version:
    .quad   0x10002, 0, 0, 0, 0, 0, 0, 0
ffa_reply_not_supported:
    .quad   0xffffffffffffffff, 0, 0, 0, 0, 0, 0, 0

/* A reply the fast path does not take: Rust filters it (x0..x7 to the frame). */
ffa_fast_finish:
    ldr     x8, [sp, #16 * 0]           /* the host's x0 */
    stp     x0, x1, [sp, #16 * 0]
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    mov     x0, sp
    mov     x1, x8
    bl      hyp_ffa_fast_finish
    b       host_smc_return

/*
 * An SMMU to poll. With exactly one (hyp_smmu_look: base, PollState), first the look the
 * Rust poll makes, here: GERROR ^ GERRORN without CMDQ_ERR (bits 0x1fc of 0x1fd), and
 * EVENTQ_PROD (page 1, 0xa8) under the state's mask against the consumer state the last poll
 * left. Nothing new: the fast return. Otherwise (or with several SMMUs): the reply to the
 * frame, the Rust poll, the ordinary return. x8..x17 are free here (restored from the frame).
 */
ffa_fast_poll:
    adrp    x9, hyp_smmu_look
    add     x9, x9, :lo12:hyp_smmu_look
    ldp     x10, x11, [x9]
    cbz     x10, 1f
    ldr     w12, [x10, #0x60]
    ldr     w13, [x10, #0x64]
    eor     w12, w12, w13
    tst     w12, #0x1fc
    b.ne    1f
    add     x10, x10, #0x10, lsl #12
    ldr     w13, [x10, #0xa8]
    lsr     x14, x11, #32
    and     w13, w13, w14
    cmp     w13, w11
    b.eq    ffa_fast_quiet
1:  stp     x0, x1, [sp, #16 * 0]
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    bl      hyp_ffa_fast_poll
    b       host_smc_return

/* Not an SMC: drop the SMC frame (x18 and x30 back first) and save the full one. */
host_sync:
    ldp     x18, x30, [sp, #16 * 9]
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
