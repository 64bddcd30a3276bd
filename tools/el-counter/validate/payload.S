/*
 * Known-answer payload for el-counter. It plays every part of the real stack in a few
 * hundred instructions: firmware at EL3, a secure partition at S-EL1, a hypervisor at
 * NS-EL2 and a host at NS-EL1.
 *
 * Run it as the flash image of virt,secure=on,virtualization=on (`-bios payload.bin`):
 * the CPU resets into EL3 at address 0, and the code runs from flash with every MMU off.
 *
 *   EL3 reset   -> S-EL1 "secure init" (like OP-TEE's init before BL33)
 *   S-EL1 SMC   -> EL3 hands off to NS-EL2 (like TF-A entering BL33)
 *   NS-EL2 boot: loop, UART output, one SMC to EL3 (like the hypervisor's
 *                FFA_VERSION), then ERET to NS-EL1 (the host)
 *   NS-EL1: four loops of host calls, then a trapped PSCI SYSTEM_OFF, which EL3
 *           turns into a semihosting exit (QEMU needs -semihosting). Each part starts
 *           with el-counter's phase marker (`hint #0x7b`, x0 = phase): 4 the HVCs, 1 the
 *           FFA_VERSION SMCs, 2 the direct requests, 3 the power-off. The loop of direct
 *           requests is also a span: el-counter's span marker (`hint #0x7c`) with x0 = 1
 *           before it and x0 = 0 after it. After the HVCs, one ID register read traps to
 *           EL2 (HCR_EL2.TID3), which injects it back into the host's own vector table
 *           (el-counter's kind=INJECT).
 *
 * Every path below has a fixed length (comments count instructions). The expected
 * numbers are derived in validate.sh; change both together.
 */
    .equ  N_A, 1000   /* HVC 0x1111: fixed EL2 path */
    .equ  N_B, 100   /* HVC 0x2222: EL2 path length depends on x1 = i & 3 */
    .equ  N_C, 100   /* SMC FFA_VERSION: forwarded by EL2 to EL3 */
    .equ  N_D, 50   /* SMC FFA_MSG_SEND_DIRECT_REQ: EL2 -> EL3 -> S-EL1 and back */
    .equ  SINIT, 50   /* S-EL1 init loop iterations */
    .equ  SP_LOOP, 20   /* S-EL1 work per direct request */
    .equ  EL2_LOOP, 100   /* hypervisor boot loop iterations */

    .equ  UART0, 0x09000000   /* PL011, Non-secure */

    .text
    .global _start
/* ---------------------------------------------------------------- EL3, at reset */
_start:
    adr   x1, el3_vectors           // 1
    msr   vbar_el3, x1              // 2
    mov   x1, #(1 << 10)            // 3  SCR_EL3: RW, NS=0 -> next ERET goes to S-EL1
    msr   scr_el3, x1               // 4
    mov   x14, #0                   // 5  0 until the normal world has been entered
    mov   x1, #0x3c5                // 6  EL1h, DAIF masked
    msr   spsr_el3, x1              // 7
    adr   x1, sel1_init             // 8
    msr   elr_el3, x1               // 9
    eret                            // 10

/* ---------------------------------------------------------------- S-EL1 */
sel1_init:
    mov   x2, #SINIT                // 1
1:  subs  x2, x2, #1                // 2 per iteration
    b.ne  1b
    smc   #0                        // 1    total 2 + 2*SINIT

sel1_direct_req:
    mov   x2, #SP_LOOP              // 1
1:  subs  x2, x2, #1                // 2 per iteration
    b.ne  1b
    movz  x0, #0x0070               // FFA_MSG_SEND_DIRECT_RESP
    movk  x0, #0x8400, lsl #16
    smc   #0                        // 3    total 4 + 2*SP_LOOP

/* ---------------------------------------------------------------- NS-EL2 */
el2_entry:
    adr   x1, el2_vectors           // 1
    msr   vbar_el2, x1              // 2
    mov   x1, #(1 << 31)            // 3  HCR_EL2.RW
    orr   x1, x1, #(3 << 18)        // 4  HCR_EL2.TSC (EL1 SMCs trap to EL2), TID3 (ID reads)
    msr   hcr_el2, x1               // 5
    msr   vttbr_el2, xzr            // 6
    mov   x2, #EL2_LOOP             // 7
1:  subs  x2, x2, #1                // 2 per iteration
    b.ne  1b
    movz  x3, #(UART0 >> 16), lsl #16   // 8   MMIO in the middle of a TB, like a
    mov   w4, #'V'                  // 9       console line
    str   w4, [x3]                  // 10
    mov   w4, #10                  // 11
    str   w4, [x3]                  // 12
    movz  x0, #0x0063               // 13  FFA_VERSION to EL3 (EL3 path: 12)
    movk  x0, #0x8400, lsl #16      // 14
    smc   #0                        // 15
    mov   x1, #0x3c5                // 16  EL1h, DAIF masked
    msr   spsr_el2, x1              // 17
    adr   x1, el1_entry             // 18
    msr   elr_el2, x1               // 19
    eret                            // 20   total 20 + 2*EL2_LOOP

/* ---------------------------------------------------------------- NS-EL1 */
el1_entry:
    mov   x0, #4                    // 1   phase 4: the HVCs (no SMC reaches EL3)
    hint  #0x7b                     // 2   el-counter's phase marker (a NOP)
    mov   x19, #N_A                 // 3
2:  mov   x0, #0x1111               // 4 per iteration
    hvc   #0
    subs  x19, x19, #1
    b.ne  2b
    mov   x19, #N_B                 // 1
3:  and   x1, x19, #3               // 5 per iteration
    mov   x0, #0x2222
    hvc   #0
    subs  x19, x19, #1
    b.ne  3b
    adr   x1, el1_vectors           // 1   still phase 4: one exception injected by EL2
    msr   vbar_el1, x1              // 2
    mrs   x1, id_aa64pfr0_el1       // 3   traps (TID3); EL2 sends it to el1_vectors + 0x200
el1_injected:
    mov   x0, #1                    // 1   phase 1: FFA_VERSION, forwarded to EL3
    hint  #0x7b                     // 2
    mov   x19, #N_C                 // 3
4:  movz  x0, #0x0063               // 5 per iteration
    movk  x0, #0x8400, lsl #16
    smc   #0
    subs  x19, x19, #1
    b.ne  4b
    mov   x0, #2                    // 1   phase 2: direct requests, forwarded to EL3
    hint  #0x7b                     // 2
    mov   x0, #1                    // 3   the span opens (counted before it: 1..4)
    hint  #0x7c                     // 4
    mov   x19, #N_D                 // 5   span: 1
5:  movz  x0, #0x006f               // 5 per iteration
    movk  x0, #0x8400, lsl #16
    smc   #0
    subs  x19, x19, #1
    b.ne  5b
    mov   x0, #0                    // 1   the span closes: 1 + 5*N_D + 2 in it
    hint  #0x7c                     // 2
    mov   x0, #3                    // 1   phase 3: the power-off
    hint  #0x7b                     // 2
    movz  x0, #0x0008               // 3   PSCI SYSTEM_OFF, never returns
    movk  x0, #0x8400, lsl #16
    smc   #0
6:  b     6b

/* ---------------------------------------------------------------- EL2 vectors */
    .balign 0x800
el2_vectors:
    .rept 8                         // current EL: never taken
    b     .
    .balign 0x80
    .endr
    /* +0x400: synchronous, from a lower EL in AArch64 */
    mrs   x9, esr_el2               // 1
    lsr   x9, x9, #26               // 2
    cmp   x9, #0x17                 // 3   EC 0x17: SMC64
    b.eq  8f                        // 4
    cmp   x9, #0x18                 // 5   EC 0x18: the ID register read
    b.eq  9f                        // 6
    mov   x10, #0x2222              // 7   HVC
    cmp   x0, x10                   // 8
    b.ne  7f                        // 9
6:  cbz   x1, 7f                    // HVC 0x2222: x1 extra rounds of 3, then 1
    sub   x1, x1, #1
    b     6b
7:  mov   x0, #0                    // HVC 0x1111: 11; HVC 0x2222: 12 + 3*x1
    eret
9:  mrs   x9, vbar_el1              // 7   inject: the host resumes at its vector for a
    add   x9, x9, #0x200            // 8   synchronous exception from its own EL
    msr   elr_el2, x9               // 9
    mov   x9, #0x3c5                // 10  EL1h, DAIF masked
    msr   spsr_el2, x9              // 11
    eret                            // 12
8:  smc   #0                        // 5   forward the SMC to EL3
    mrs   x9, elr_el2               // 6   a trapped SMC returns past itself
    add   x9, x9, #4                // 7
    msr   elr_el2, x9               // 8
    eret                            // 9
    .balign 0x80
    .rept 7
    b     .
    .balign 0x80
    .endr

/* ---------------------------------------------------------------- EL1 vectors */
    .balign 0x800
el1_vectors:
    .rept 4                         // from EL0 with SP_EL0: never taken
    b     .
    .balign 0x80
    .endr
    b     el1_injected              // +0x200, the injected exception: 1
    .balign 0x80
    .rept 11
    b     .
    .balign 0x80
    .endr

/* ---------------------------------------------------------------- EL3 vectors */
    .balign 0x800
el3_vectors:
    .rept 8
    b     .
    .balign 0x80
    .endr
    /* +0x400: synchronous, from a lower EL in AArch64 (only SMCs here) */
    mrs   x10, scr_el3              // 1
    tbz   x10, #0, 3f               // 2   NS=0: from S-EL1
    movz  x11, #0x0008              // 3   from the normal world (NS-EL2)
    movk  x11, #0x8400, lsl #16     // 4
    cmp   x0, x11                   // 5
    b.eq  5f                        // 6   PSCI SYSTEM_OFF
    movz  x11, #0x006f              // 7
    movk  x11, #0x8400, lsl #16     // 8
    cmp   x0, x11                   // 9
    b.eq  2f                        // 10  FFA_MSG_SEND_DIRECT_REQ: to S-EL1
    mov   x0, #2                    // 11  other calls: answered here
    eret                            // 12
2:  mrs   x12, elr_el3              // 11  save the NS-EL2 return state
    mrs   x13, spsr_el3             // 12
    bic   x10, x10, #1              // 13  NS=0
    msr   scr_el3, x10              // 14
    adr   x11, sel1_direct_req      // 15
    msr   elr_el3, x11              // 16
    mov   x11, #0x3c5               // 17
    msr   spsr_el3, x11             // 18
    eret                            // 19
3:  cbz   x14, 4f                   // 3   from S-EL1: boot hand-off or a response?
    orr   x10, x10, #1              // 4   response: back to NS-EL2
    msr   scr_el3, x10              // 5
    msr   elr_el3, x12              // 6
    msr   spsr_el3, x13             // 7
    eret                            // 8   direct request at EL3: 19 + 8 = 27
4:  mov   x14, #1                   // 4   boot hand-off to the hypervisor
    mov   x10, #0x501               // 5   SCR_EL3: RW | HCE | NS
    msr   scr_el3, x10              // 6
    mov   x10, #0x3c9               // 7   EL2h, DAIF masked
    msr   spsr_el3, x10             // 8
    adr   x10, el2_entry            // 9
    msr   elr_el3, x10              // 10
    eret                            // 11
5:  adr   x1, exit_block            // 7   power off: semihosting SYS_EXIT, which
    mov   x0, #0x18                 // 8   QEMU carries out at once in this vCPU, so
    hlt   #0xf000                   // 9   nothing runs after it (a GPIO power-off is
                                    //     asynchronous: one more instruction may run)
    .balign 0x80
    .rept 7
    b     .
    .balign 0x80
    .endr

    .balign 8
exit_block:                         // SYS_EXIT: ADP_Stopped_ApplicationExit, status 0
    .quad 0x20026, 0
