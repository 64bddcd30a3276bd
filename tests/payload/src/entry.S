/*
 * All of the payload's assembly: the arm64 Image header, the primary and secondary entries,
 * the EL1 exception vectors and the few instructions Rust cannot express (SMC/HVC,
 * system registers, the carve-out probes). Rust names these symbols in `arch.rs`.
 *
 * Included by `global_asm!` with these operands (shared with Rust, so they cannot drift):
 *   MAX_CPUS, STACK_SIZE  per-CPU stacks in .bss, CPU index i uses stack i
 *   FRAME_SIZE            size of `exceptions::Frame`
 *   MPIDR_HI              bits 39:32 of the MPIDR affinity mask (Aff3)
 *
 * Boot protocol (booting.rst): EL1 (here) or EL2, MMU off, x0 = DTB, DAIF masked. The
 * payload keeps its MMU off for the whole run: every data access is Device-nGnRnE, which
 * is why the target is built with strict alignment and the Rust code never uses exclusive
 * or atomic read-modify-write instructions.
 */

.equ R_AARCH64_RELATIVE, 1027
.equ CPACR_FPEN_ON, (3 << 20)          /* FP/SIMD not trapped at EL1/EL0: Rust uses NEON */

.section .text.head, "ax"
.global _start
_start:
    b       primary_entry               /* code0 */
    nop                                 /* code1 */
    .quad   0                           /* text_offset: relocates itself, any 2 MiB base */
    .quad   __payload_size              /* image_size: image + BSS + stacks */
    .quad   0xa                         /* flags: LE (bit 0 = 0), 4K (bits 2:1 = 1), anywhere (bit 3) */
    .quad   0, 0, 0                     /* res2..res4 */
    .ascii  "ARM\x64"                   /* magic */
    .long   0                           /* res5: no PE/COFF header */

.section .text.entry, "ax"
primary_entry:
    mov     x19, x0                     /* DTB */

    /* Apply our own relocations: *(base + r_offset) = base + r_addend. Only
     * R_AARCH64_RELATIVE can appear (mkimage.sh checks the ELF before it becomes an Image). */
    adrp    x20, _start
    add     x20, x20, :lo12:_start      /* load address; the link address is 0 */
    adrp    x9, __rela_start
    add     x9, x9, :lo12:__rela_start
    adrp    x10, __rela_end
    add     x10, x10, :lo12:__rela_end
1:  cmp     x9, x10
    b.hs    2f
    ldp     x11, x12, [x9], #16         /* r_offset, r_info */
    ldr     x13, [x9], #8               /* r_addend */
    cmp     x12, #R_AARCH64_RELATIVE
    b.ne    park
    add     x13, x13, x20
    str     x13, [x20, x11]
    b       1b
2:
    /* Clear BSS (16-byte aligned at both ends by the linker script). */
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
3:  cmp     x9, x10
    b.hs    4f
    stp     xzr, xzr, [x9], #16
    b       3b
4:
    msr     tpidr_el1, xzr              /* CPU index 0 */
    mov     x0, xzr
    bl      cpu_setup                   /* FP on, vectors, SP_EL1 = stack 0 */
    mov     x0, x19
    mov     x1, x20
    bl      payload_primary_main
    b       park

/*
 * Entry of every CPU the payload starts with PSCI CPU_ON: EL1 (if the hypervisor and the
 * firmware did their job), MMU off, x0 = context_id. The primary filled PAYLOAD_CPU_MPIDRS
 * before the call; the CPU finds its index (and so its stack) by its own MPIDR. A CPU that
 * is not in the table parks, and the primary reports it as never having come online.
 */
.global secondary_entry
secondary_entry:
    mov     x19, x0                     /* context_id, untouched until Rust reports it */
    mrs     x9, mpidr_el1
    movz    x10, #0xffff                /* affinity mask 0xff_00ff_ffff: Aff3..Aff0 */
    movk    x10, #0xff, lsl #16
    movk    x10, #{MPIDR_HI}, lsl #32
    and     x9, x9, x10
    adrp    x10, PAYLOAD_CPU_MPIDRS
    add     x10, x10, :lo12:PAYLOAD_CPU_MPIDRS
    mov     x11, #0
5:  cmp     x11, #{MAX_CPUS}
    b.hs    park
    ldr     x12, [x10, x11, lsl #3]
    cmp     x12, x9
    b.eq    6f
    add     x11, x11, #1
    b       5b
6:  msr     tpidr_el1, x11
    mov     x20, x11
    mov     x0, x11
    bl      cpu_setup
    mov     x0, x19
    mov     x1, x20
    bl      payload_secondary_main
    b       park

/* Per-CPU setup shared by both entries. x0 = CPU index. Uses x9-x12 only; keeps x30. */
cpu_setup:
    mov     x9, #CPACR_FPEN_ON
    msr     cpacr_el1, x9
    adrp    x9, el1_vectors
    add     x9, x9, :lo12:el1_vectors
    msr     vbar_el1, x9
    msr     spsel, #1
    isb
    adrp    x10, payload_stacks
    add     x10, x10, :lo12:payload_stacks
    add     x11, x0, #1
    mov     x12, #{STACK_SIZE}
    madd    x10, x11, x12, x10          /* top of stack `index` */
    mov     sp, x10
    mov     x29, xzr
    ret

/* A CPU with nothing left to do (also the end of every fatal path). */
.global park
park:
    wfe
    b       park

/* ---------------------------------------------------------------------------------------
 * EL1 exception vectors. Each entry saves x0/x1, puts its vector number (0..15) in x1 and
 * joins the common path, which saves the full frame (x0-x30, ELR, SPSR, ESR, FAR; layout =
 * `exceptions::Frame`) on the current stack and calls
 * `payload_el1_exception(frame, vector)`. The handler may change the frame (ELR); the
 * common path restores everything from the frame and returns with ERET.
 */
.macro ventry number
    .balign 0x80
    sub     sp, sp, #{FRAME_SIZE}
    stp     x0, x1, [sp, #0]
    mov     x1, #\number
    b       el1_exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global el1_vectors
el1_vectors:
    ventry 0                            /* current EL, SP_EL0: sync */
    ventry 1                            /*                     IRQ */
    ventry 2                            /*                     FIQ */
    ventry 3                            /*                     SError */
    ventry 4                            /* current EL, SP_ELx: sync (the probes land here) */
    ventry 5                            /*                     IRQ */
    ventry 6                            /*                     FIQ */
    ventry 7                            /*                     SError */
    ventry 8                            /* lower EL, AArch64:  sync */
    ventry 9
    ventry 10
    ventry 11
    ventry 12                           /* lower EL, AArch32 */
    ventry 13
    ventry 14
    ventry 15

el1_exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x9, elr_el1
    stp     x30, x9, [sp, #240]
    mrs     x9, spsr_el1
    mrs     x10, esr_el1
    stp     x9, x10, [sp, #256]
    mrs     x9, far_el1
    str     x9, [sp, #272]
    mov     x0, sp
    bl      payload_el1_exception
    ldp     x30, x9, [sp, #240]
    msr     elr_el1, x9
    ldr     x9, [sp, #256]
    msr     spsr_el1, x9
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    add     sp, sp, #{FRAME_SIZE}
    eret

/* ---------------------------------------------------------------------------------------
 * SMCCC calls: x0 = function ID, x1..x3 = arguments; returns x0. The DSB makes every
 * earlier store (the CPU table a CPU_ON target reads with its MMU off) complete first.
 * SMCCC lets the callee clobber x4-x17, which the C ABI already treats as caller-saved.
 */
.section .text, "ax"
.global payload_smc
payload_smc:
    dsb     sy
    smc     #0
    ret

.global payload_hvc
payload_hvc:
    dsb     sy
    hvc     #0
    ret

/* System registers (x0 = value). */
.global payload_read_current_el
payload_read_current_el:
    mrs     x0, CurrentEL
    ret

.global payload_read_mpidr
payload_read_mpidr:
    mrs     x0, mpidr_el1
    ret

.global payload_read_cpu_index
payload_read_cpu_index:
    mrs     x0, tpidr_el1
    ret

.global payload_read_vbar
payload_read_vbar:
    mrs     x0, vbar_el1
    ret

.global payload_read_cntvct
payload_read_cntvct:
    isb
    mrs     x0, cntvct_el0
    ret

.global payload_read_cntfrq
payload_read_cntfrq:
    mrs     x0, cntfrq_el0
    ret

/* Marks the start of phase x0 for the el-counter QEMU plugin: `hint #0x7b` is a NOP for the
 * CPU (an unallocated hint), which the plugin watches for at EL1 and reads x0 at. */
.global payload_mark_phase
payload_mark_phase:
    hint    #0x7b
    ret

/* Sleeps until an event (SEV from another CPU, an interrupt) or returns at once if one is pending. */
.global payload_wait_event
payload_wait_event:
    wfe
    ret

/* Wakes the CPUs waiting in payload_wait_event (after the store they are to see). */
.global payload_send_event
payload_send_event:
    dsb     ish
    sev
    ret

/*
 * Carve-out probes. Each touches one address with exactly one instruction whose address is
 * exported, so the abort handler and the cases can check ELR_EL1 against it.
 *   probe_load(addr) -> value   (0 if the load was skipped by the handler)
 *   probe_store(addr, value)
 *   probe_exec(addr)            branch-with-link to addr; the handler returns to x30
 */
.global probe_load
.global probe_load_insn
probe_load:
    mov     x1, x0
    mov     x0, xzr
probe_load_insn:
    ldr     x0, [x1]
    ret

.global probe_store
.global probe_store_insn
probe_store:
probe_store_insn:
    str     x1, [x0]
    ret

.global probe_exec
probe_exec:
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    blr     x0
    ldp     x29, x30, [sp], #16
    ret

/* Per-CPU stacks: index i owns [payload_stacks + i * STACK_SIZE, + STACK_SIZE). */
.section .bss.stacks, "aw", %nobits
.balign 16
.global payload_stacks
payload_stacks:
    .space  {MAX_CPUS} * {STACK_SIZE}
