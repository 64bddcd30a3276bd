/*
 * Entry of the hypervisor image: the arm64 Image header, the primary CPU's cold entry and
 * the warm entry used by CPUs that the PSCI relay starts or resumes.
 *
 * Cold entry (booting.rst): EL2, MMU off, caches off or clean, x0 = DTB or whatever the
 * loader passes (TF-A on QEMU passes its own argument; the DTB is then found by the
 * platform's default address). The steps below are the minimum that must happen before
 * Rust code can run: relocate ourselves, clear BSS, take a stack, map the carve-out with a
 * bootstrap identity table so caches and atomics work, then call `hyp_primary_main`.
 */

/* A 64-bit constant into a register (literal pool; numbers only, never addresses). */
.macro mov_q reg, val
    ldr     \reg, =\val
.endm

.equ HYP_STACK_SIZE, 0x4000             /* must match hypervisor::percpu::STACK_SIZE */
.equ R_AARCH64_RELATIVE, 1027

/* SCTLR_EL2 RES1 bits (nVHE): 4, 5, 11, 16, 18, 22, 23, 28, 29. MMU, caches off. */
.equ SCTLR_EL2_RES1, 0x30c50830
/* ... plus M (0), C (2), SA (3), I (12). No A: the strict-align target never needs it. */
.equ SCTLR_EL2_ON, (SCTLR_EL2_RES1 | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 12))

/* MAIR: 0 = Device-nGnRnE, 1 = Device-nGnRE, 2 = Normal WB-WA inner/outer. */
.equ BOOT_MAIR, 0x0000000000ff0400
/* TCR_EL2: T0SZ = 25 (39-bit VA, level-1 root), IRGN0/ORGN0 WB-WA, inner shareable, 4K;
 * RES1 bits 23 and 31; PS is filled in from ID_AA64MMFR0_EL1.PARange. */
.equ BOOT_TCR, (25 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (1 << 31))
/* Block descriptors (1 GiB at level 1, 2 MiB at level 2): AF, AP[1] (RES1 at EL2), attr. */
.equ BLOCK_NORMAL, (1 | (2 << 2) | (1 << 6) | (3 << 8) | (1 << 10))
.equ BLOCK_DEVICE_XN, (1 | (0 << 2) | (1 << 6) | (1 << 10) | (1 << 54))
.equ TABLE_DESC, 3
/* HCR_EL2 before the host is configured: AArch64 EL1, E2H = 0, so the EL2 translation
 * regime and SCTLR/TCR layouts are the non-VHE ones whatever the firmware left. */
.equ HCR_EL2_BOOT, (1 << 31)

.section .text.head, "ax"
.global _head
_head:
    b       primary_entry               /* code0 */
    .long   0                           /* code1 */
    .quad   0                           /* text_offset: we relocate ourselves */
    .quad   __carveout_size             /* image_size: the whole carve-out */
    .quad   0xa                         /* flags: LE, 4K pages, place anywhere */
    .quad   0, 0, 0                     /* res2..res4 */
    .ascii  "ARM\x64"                   /* magic */
    .long   0                           /* res5 (no PE header) */

.section .text.entry, "ax"
primary_entry:
    msr     daifset, #0xf
    mov     x19, x0                     /* loader's x0..x3, for hyp_primary_main */
    mov     x20, x1
    mov     x21, x2
    mov     x22, x3

    mrs     x9, CurrentEL
    ubfx    x9, x9, #2, #2
    cmp     x9, #2
    b.ne    park                        /* not at EL2: nothing we can do safely */

    mov_q   x9, HCR_EL2_BOOT
    msr     hcr_el2, x9
    isb
    mov_q   x9, SCTLR_EL2_RES1          /* MMU and caches off, known state */
    msr     sctlr_el2, x9
    isb
    msr     spsel, #1
    adrp    x23, _head                  /* x23 = load address = carve-out base */
    tst     x23, #0x1fffff              /* booting.rst: 2 MiB aligned (text_offset 0) */
    b.ne    park
    lsr     x9, x23, #39                /* the bootstrap map covers 39 bits */
    cbnz    x9, park

    /* Drop stale cache lines for the image and BSS before writing them with the MMU off:
     * a dirty line evicted later would overwrite what we write now. */
    adrp    x0, _head
    adrp    x1, __bss_end
    add     x1, x1, :lo12:__bss_end
    bl      dcache_inval_range

    /* Apply our own relocations: *(base + offset) = base + addend. */
    adrp    x9, __rela_start
    add     x9, x9, :lo12:__rela_start
    adrp    x10, __rela_end
    add     x10, x10, :lo12:__rela_end
1:  cmp     x9, x10
    b.hs    2f
    ldp     x11, x12, [x9], #16         /* r_offset, r_info */
    ldr     x13, [x9], #8               /* r_addend */
    cmp     x12, #R_AARCH64_RELATIVE
    b.ne    park                        /* the linker produced something we cannot apply */
    add     x13, x13, x23
    str     x13, [x23, x11]
    b       1b
2:
    /* And the packed ones (RELR, the linker's -z pack-relative-relocs): an even word is the
     * offset of a word to relocate, and sets the cursor just past it; an odd word is a
     * bitmap whose bit n (1..63) relocates the word n - 1 places after the cursor, and
     * moves the cursor 63 words on. Relocating a word adds the load address to it. */
    adrp    x9, __relr_start
    add     x9, x9, :lo12:__relr_start
    adrp    x10, __relr_end
    add     x10, x10, :lo12:__relr_end
    mov     x14, #0                     /* cursor: offset of the next word a bitmap covers */
5:  cmp     x9, x10
    b.hs    8f
    ldr     x11, [x9], #8
    tbnz    x11, #0, 6f
    ldr     x13, [x23, x11]             /* an address entry */
    add     x13, x13, x23
    str     x13, [x23, x11]
    add     x14, x11, #8
    b       5b
6:  mov     x15, x14                    /* a bitmap entry */
7:  lsr     x11, x11, #1
    cbz     x11, 9f
    tbz     x11, #0, 10f
    ldr     x13, [x23, x15]
    add     x13, x13, x23
    str     x13, [x23, x15]
10: add     x15, x15, #8
    b       7b
9:  add     x14, x14, #(63 * 8)
    b       5b
8:
    /* Clear BSS. */
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
3:  cmp     x9, x10
    b.hs    4f
    stp     xzr, xzr, [x9], #16
    b       3b
4:
    /* Everything above was written with the MMU off, straight to memory: drop any stale
     * cache lines again before the caches come on. (The heap after BSS is only ever written
     * with caches on, so stale lines there are harmless.) */
    adrp    x0, _head
    adrp    x1, __bss_end
    add     x1, x1, :lo12:__bss_end
    bl      dcache_inval_range

    /* Bootstrap identity map: everything Device-nGnRnE and execute-never (1 GiB blocks),
     * except the 2 MiB carve-out, which is Normal memory (a level-2 table for its GiB).
     * Nothing else is Normal, so nothing else can be fetched speculatively. Rust replaces
     * this with a precise map as soon as it has parsed the device tree. */
    adrp    x9, boot_l1
    add     x9, x9, :lo12:boot_l1
    mov     x10, #0                     /* index */
    mov_q   x11, BLOCK_DEVICE_XN
5:  lsl     x12, x10, #30
    orr     x12, x12, x11
    str     x12, [x9, x10, lsl #3]
    add     x10, x10, #1
    cmp     x10, #512
    b.lo    5b
    adrp    x13, boot_l2
    add     x13, x13, :lo12:boot_l2
    lsr     x14, x23, #30               /* carve-out's GiB */
    lsl     x15, x14, #30               /* its base address */
    mov     x10, #0
7:  lsl     x12, x10, #21
    orr     x12, x12, x15
    orr     x12, x12, x11
    str     x12, [x13, x10, lsl #3]
    add     x10, x10, #1
    cmp     x10, #512
    b.lo    7b
    ubfx    x10, x23, #21, #9           /* carve-out's 2 MiB slot in that GiB */
    mov_q   x12, BLOCK_NORMAL
    orr     x12, x12, x23
    str     x12, [x13, x10, lsl #3]
    orr     x12, x13, #TABLE_DESC
    str     x12, [x9, x14, lsl #3]
    dsb     sy
    /* The tables were written with the MMU off too. */
    mov     x0, x9
    add     x1, x9, #0x2000
    bl      dcache_inval_range

    mov_q   x10, BOOT_MAIR
    msr     mair_el2, x10
    mrs     x10, id_aa64mmfr0_el1
    and     x10, x10, #7                /* PARange, capped to the 3-bit PS field */
    cmp     x10, #5
    mov     x11, #5
    csel    x10, x10, x11, ls
    mov_q   x11, BOOT_TCR
    orr     x11, x11, x10, lsl #16
    msr     tcr_el2, x11
    msr     ttbr0_el2, x9
    isb
    tlbi    alle2
    dsb     nsh
    isb
    mov_q   x10, SCTLR_EL2_ON
    msr     sctlr_el2, x10
    isb

    adrp    x9, hyp_vectors
    add     x9, x9, :lo12:hyp_vectors
    msr     vbar_el2, x9
    isb

    adrp    x9, HYP_BOOT_STACK
    add     x9, x9, :lo12:HYP_BOOT_STACK
    add     sp, x9, #HYP_STACK_SIZE     /* CPU 0's stack */
    mov     x29, xzr
    mov     x30, xzr

    mov     x0, x19
    mov     x1, x20
    mov     x2, x21
    mov     x3, x22
    mov     x4, x23                     /* carve-out base */
    bl      hyp_primary_main
    b       park

/*
 * Warm entry, for CPU_ON and for wake-up from a power-down CPU_SUSPEND. Firmware enters at
 * EL2 with the MMU off and x0 = the context ID we gave it: the CPU's `WarmBootContext`
 * (hypervisor::percpu), which the primary cleaned to the point of coherency. It holds the
 * final EL2 translation registers and this CPU's stack.
 */
.global hyp_warm_entry
hyp_warm_entry:
    msr     daifset, #0xf
    mrs     x9, CurrentEL
    ubfx    x9, x9, #2, #2
    cmp     x9, #2
    b.ne    park
    mov_q   x9, HCR_EL2_BOOT
    msr     hcr_el2, x9
    isb
    msr     spsel, #1
    mov_q   x9, SCTLR_EL2_RES1
    msr     sctlr_el2, x9
    isb
    ldp     x9, x10, [x0, #0]           /* mair, tcr */
    msr     mair_el2, x9
    msr     tcr_el2, x10
    ldp     x9, x10, [x0, #16]          /* ttbr0, sctlr */
    msr     ttbr0_el2, x9
    isb
    tlbi    alle2
    dsb     nsh
    isb
    msr     sctlr_el2, x10
    isb
    adrp    x9, hyp_vectors
    add     x9, x9, :lo12:hyp_vectors
    msr     vbar_el2, x9
    isb
    ldr     x9, [x0, #32]               /* stack top */
    mov     sp, x9
    mov     x29, xzr
    mov     x30, xzr
    bl      hyp_warm_main
    b       park

/* A CPU with nothing left to do. */
.global park
park:
    wfe
    b       park

/* Invalidate data cache lines by VA over [x0, x1) to the point of coherency. */
dcache_inval_range:
    dmb     sy                          /* order earlier MMU-off stores before the dc ivac */
    mrs     x3, ctr_el0
    ubfx    x3, x3, #16, #4             /* DminLine: log2(words) */
    mov     x2, #4
    lsl     x2, x2, x3                  /* line size in bytes */
    sub     x3, x2, #1
    bic     x0, x0, x3
6:  dc      ivac, x0
    add     x0, x0, x2
    cmp     x0, x1
    b.lo    6b
    dsb     sy
    ret

.section .bss.boot_pt, "aw", %nobits
.balign 4096
boot_l1:
    .space  4096
boot_l2:
    .space  4096
