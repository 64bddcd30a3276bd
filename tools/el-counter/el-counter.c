/*
 * el-counter: QEMU TCG plugin (plugin API v4, QEMU 10.0) for qemu-system-aarch64.
 *
 * Counts guest instructions per exception level and security state, and the
 * EL2 cost of every host trap into the hypervisor.  Written for the bench of
 * this project (ci/bench.sh, docs/bench.md explains the output).
 *
 * How it counts
 *   A translation block always runs in the state it was translated for: the EL
 *   is part of the TB flags, and Secure and Non-secure code never share a
 *   physical page on our stack.  So the state is read once, when the TB is
 *   translated (PSTATE.EL from "cpsr", world from SCR_EL3.NS), and baked into
 *   the TB as cheap operations:
 *     1. a conditional callback  if (last != S) transition(S)   -- state changes only
 *     2. an inline store         last = S
 *     3. inline adds             insns[S] += k, one per segment of the TB
 *   Everything lives in a per-vCPU scoreboard; no helper runs on the fast path.
 *   The transition callback runs before the TB's own inline ops, so it sees the
 *   previous state and the counters as they were before this TB.
 *
 *   Segments: a TB can be left before its end, at an instruction that raises a
 *   synchronous exception or does MMIO (QEMU rewinds the TB to the MMIO access
 *   and replays it alone, see cpu_io_recompile).  One add per TB would then count
 *   instructions that never ran, e.g. after every UART write.  So a segment ends
 *   after each load/store or system instruction, and its length is added before
 *   its first instruction: exact, at the cost of one add every few instructions.
 *
 * What it reports
 *   - instructions per state, per vCPU and in total;
 *   - "boot": per vCPU, the instructions executed from the first NS-EL2 TB
 *     (hypervisor entry) to the first NS-EL1 TB (first host instruction), by
 *     state, with the host's entry pc.  Printed at the moment it happens.
 *   - "phase" lines: the guest marks phases of its own work with the marker
 *     instruction `hint #0x7b` (a NOP for the CPU) at NS-EL1, x0 = the phase number
 *     (0-63; 0 is also "before the first mark").  Per phase, the plugin counts the
 *     NS-EL1/EL0 -> NS-EL2 traps, every entry into EL3 from NS-EL2 and among them the
 *     SMCs (with the first function IDs, w0), and every entry into EL3 straight from
 *     NS-EL1/EL0 and among them the SMCs.  An SMC is an entry at VBAR_EL3 + 0x400 (lower
 *     EL, AArch64, synchronous) with ESR_EL3.EC = 0x17; the other entries are interrupts
 *     routed to EL3 (ESR_EL3 then still holds the last synchronous exception's syndrome,
 *     so the vector offset decides).  It is the witness, outside the hypervisor, of which
 *     calls reached the firmware: the system tests assert that the payload's bad-call
 *     phase made no SMC from EL2 at all.  The phase is global (the last mark of any
 *     vCPU), so a phase's counts include every vCPU's entries while it lasts.
 *   - "trap" windows: every NS-EL1 -> NS-EL2 entry (and NS-EL0 -> NS-EL2 when
 *     HCR_EL2.TGE == 0) opens a window, closed by the next return to NS-EL1 or
 *     NS-EL0.  The window is classified when it opens: HVC/SMC keyed by w0 (the
 *     function ID), other synchronous exceptions by ESR_EL2.EC, IRQ/FIQ/SError by
 *     the vector offset from VBAR_EL2 (ESR is not written for interrupts).  Per
 *     key: count, and sum/min/max/mean of NS-EL2 instructions, plus the mean of
 *     EL3 and Secure instructions spent inside the window (forwarded calls).
 *     The key is from=EL1|EL0, kind, and id = w0 for HVC/SMC (SMCCC function ID).
 *     A synchronous exception other than HVC/SMC (a stage-2 abort, a trapped system
 *     register) is kind=SYNC when the hypervisor returns to the host's code (emulated,
 *     or mapped and retried), and kind=INJECT when it returns into the host's own vector
 *     table at VBAR_EL1 (an exception injected into the host, e.g. an abort on a page
 *     the host gave away); id is ESR_EL2.EC either way (0x24: data abort from a lower EL).
 *     For HVC/SMC, "tret" lines count the windows whose return value (w0 when the host
 *     resumes) is FFA_ERROR: the call was refused (at EL2 when no EL3/Secure instruction
 *     ran in it) or failed.
 *   - "span" lines: the guest brackets work it wants counted at every EL with the
 *     marker `hint #0x7c` at NS-EL0 or NS-EL1: x0 = 1 opens a span, x0 = 0 closes it.
 *     Per vCPU, the instructions of every state between the two marks are added up over
 *     all spans, with the number of entries into NS-EL2 from NS-EL1/EL0 among them
 *     (Linux user space brackets its loop of requests to OP-TEE: the bench divides by the
 *     number of requests).
 *
 * vCPUs: exact with one vCPU, or with MTTCG.  Under round-robin TCG (thread=single,
 * or -icount) with several vCPUs, QEMU 9.2+ runs every TB's inline ops and callbacks
 * for the vCPU that translated it; the plugin warns when -smp > 1.
 *
 * Options (-plugin libel-counter.so,opt=val,...)
 *   mode=tb|insn   tb (default): one add per segment (see above), exact for
 *                  A64.  insn: one add per instruction, the simple cross-check.
 *   trace=N        also print the first N closed trap windows one by one.
 *   hot=N          profile the boot window: at exit, print the N NS-EL2 code segments
 *                  (see above) that ran the most instructions between hypervisor entry
 *                  and the host's first instruction.  They add up to the boot figure.
 *   tid=ID         profile the trap windows of HVC/SMC function ID (w0) ID: at exit,
 *                  print every NS-EL2 segment run inside those windows ("thot" lines,
 *                  most instructions first).  They add up to that ID's el2_sum.
 *
 * Build: see ci/build-plugin.sh.  Output goes to QEMU's log: run with
 *   -plugin libel-counter.so -d plugin -D file
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/* Execution states.  EL3 has no world; S-EL2 exists only with FEAT_SEL2. */
enum { NS_EL0, NS_EL1, NS_EL2, EL3, S_EL0, S_EL1, S_EL2, NSTATES };
#define ST_NONE NSTATES /* "no TB executed yet" */
static const char *const state_name[NSTATES] = {
    "NS-EL0", "NS-EL1", "NS-EL2", "EL3", "S-EL0", "S-EL1", "S-EL2",
};

enum trap_kind { K_HVC, K_SMC, K_SYNC, K_IRQ, K_FIQ, K_SERROR, K_OTHER, K_INJECT };
static const char *const kind_name[] = {
    "HVC", "SMC", "SYNC", "IRQ", "FIQ", "SERROR", "OTHER", "INJECT",
};
#define FFA_ERROR 0x84000060u

/* Per-vCPU state, in the scoreboard.  Inline ops write insns[] and last; hot=N reads
 * boot_done; the rest belongs to the transition callback. */
typedef struct {
    uint64_t insns[NSTATES];
    uint64_t last;              /* state of the last TB executed, or ST_NONE */
    /* boot window: first NS-EL2 TB .. first NS-EL1 TB */
    uint64_t hyp_entered;
    uint64_t boot_done;
    uint64_t boot_snap[NSTATES];
    /* trap window */
    uint64_t trap_open;
    uint64_t trap_key;
    uint64_t trap_snap[NSTATES];
    uint64_t traps_unclosed;    /* windows replaced by a new entry before closing */
    uint64_t tprof;             /* 1 inside a trap window of function ID tid= */
    uint64_t el2_entries;       /* NS-EL1/EL0 -> NS-EL2 entries, all of them */
    /* span: between the marks x0 = 1 and x0 = 0 of `hint #0x7c` */
    uint64_t span_open;
    uint64_t span_snap[NSTATES];
    uint64_t span_entries_snap;
    uint64_t span_count;
    uint64_t span_sum[NSTATES];
    uint64_t span_entries;
} VCpu;

typedef struct {
    uint64_t count;
    uint64_t el2_sum, el2_min, el2_max;
    uint64_t el3_sum, sec_sum;  /* EL3, and S-EL0+S-EL1+S-EL2, inside the window */
    uint64_t ffa_err;           /* HVC/SMC windows that returned w0 = FFA_ERROR */
} TrapStat;

static struct qemu_plugin_scoreboard *score;
static qemu_plugin_u64 sb_insns[NSTATES];
static qemu_plugin_u64 sb_last;
static qemu_plugin_u64 sb_boot_done;
static qemu_plugin_u64 sb_tprof;

static bool mode_insn;
static long trace_left;
static long hot_top;            /* hot=N: 0 = off */
static int64_t trap_id = -1;    /* tid=ID: -1 = off */

/* hot=N: executions of each NS-EL2 segment during the boot window */
typedef struct {
    uint64_t key;               /* vaddr << 10 | n_insns */
    uint64_t vaddr;
    uint64_t n_insns;
    uint64_t execs;             /* in the boot window (hot=N) */
    uint64_t texecs;            /* in a trap window of tid=ID */
} HotSeg;
static GHashTable *hot_segs;    /* key -> HotSeg */

/* Phases (see "phase" lines above). */
#define PHASE_MARK 0xd5032f7fu      /* hint #0x7b */
#define SPAN_MARK 0xd5032f9fu       /* hint #0x7c */
#define NPHASES 64
#define PHASE_IDS 4                 /* SMC function IDs remembered per phase */
typedef struct {
    uint64_t marks;                 /* times the phase was entered */
    uint64_t el1_traps;             /* NS-EL1/EL0 -> NS-EL2 entries */
    uint64_t el2_el3;               /* NS-EL2 -> EL3 entries, any cause */
    uint64_t el2_smc;               /* ... of which SMCs (ESR_EL3.EC = 0x17) */
    uint64_t lower_el3;             /* NS-EL1/EL0 -> EL3 entries (no EL2 in between) */
    uint64_t lower_smc;             /* ... of which SMCs */
    uint32_t ids[PHASE_IDS];        /* first SMC function IDs (w0) from NS-EL2 */
} PhaseStat;
static PhaseStat phases[NPHASES];
static uint32_t cur_phase;          /* atomic: the last phase marked by any vCPU */

static GMutex stats_lock;
static GHashTable *trap_stats;  /* uint64 key -> TrapStat */

/* Register handles; identical for all vCPUs of one CPU model. */
static struct qemu_plugin_register *reg_x0, *reg_pc, *reg_cpsr, *reg_scr_el3,
    *reg_hcr_el2, *reg_esr_el2, *reg_vbar_el2, *reg_pfr0, *reg_esr_el3, *reg_vbar_el3,
    *reg_vbar_el1;
static int have_el3 = -1;       /* ID_AA64PFR0_EL1.EL3 != 0; -1 until known */

static struct qemu_plugin_register *lookup_reg(GArray *regs, const char *name)
{
    for (guint i = 0; i < regs->len; i++) {
        qemu_plugin_reg_descriptor *d =
            &g_array_index(regs, qemu_plugin_reg_descriptor, i);
        if (g_ascii_strcasecmp(d->name, name) == 0) {
            return d->handle;
        }
    }
    return NULL;
}

/* Read a register of the current vCPU (little-endian host); *ok says if it worked. */
static uint64_t read_reg(struct qemu_plugin_register *reg, bool *ok)
{
    uint64_t val = 0;
    bool good = false;
    if (reg) {
        g_autoptr(GByteArray) buf = g_byte_array_sized_new(16);
        int len = qemu_plugin_read_register(reg, buf);
        if (len > 0) {
            memcpy(&val, buf->data, MIN(len, 8));
            good = true;
        }
    }
    if (ok) {
        *ok = good;
    }
    return val;
}

static void vcpu_init(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    VCpu *v = qemu_plugin_scoreboard_find(score, vcpu_index);
    v->last = ST_NONE;
    if (reg_cpsr) {
        return;
    }
    g_autoptr(GArray) regs = qemu_plugin_get_registers();
    reg_x0 = lookup_reg(regs, "x0");
    reg_pc = lookup_reg(regs, "pc");
    reg_cpsr = lookup_reg(regs, "cpsr");
    reg_scr_el3 = lookup_reg(regs, "SCR_EL3");
    reg_hcr_el2 = lookup_reg(regs, "HCR_EL2");
    reg_esr_el2 = lookup_reg(regs, "ESR_EL2");
    reg_vbar_el2 = lookup_reg(regs, "VBAR_EL2");
    reg_pfr0 = lookup_reg(regs, "ID_AA64PFR0_EL1");
    reg_esr_el3 = lookup_reg(regs, "ESR_EL3");
    reg_vbar_el3 = lookup_reg(regs, "VBAR_EL3");
    /* QEMU names VBAR_EL1 by its register definition, shared with AArch32: "VBAR". */
    reg_vbar_el1 = lookup_reg(regs, "VBAR_EL1");
    if (!reg_vbar_el1) {
        reg_vbar_el1 = lookup_reg(regs, "VBAR");
    }
    if (!reg_cpsr || !reg_x0 || !reg_pc) {
        qemu_plugin_outs("el-counter: ERROR: registers cpsr/x0/pc not found; "
                         "counts will be attributed to NS-EL0\n");
    }
}

/* State of the current vCPU; called at translation time. */
static uint64_t current_state(bool *aarch32)
{
    bool ok;
    uint32_t cpsr = read_reg(reg_cpsr, &ok);
    *aarch32 = ok && (cpsr & 0x10);
    if (!ok) {
        return NS_EL0;
    }
    unsigned el;
    if (cpsr & 0x10) {                  /* AArch32: map the mode to its EL */
        switch (cpsr & 0x1f) {
        case 0x10: el = 0; break;       /* usr */
        case 0x1a: el = 2; break;       /* hyp */
        case 0x16: el = 3; break;       /* mon */
        default:   el = 1; break;
        }
    } else {
        el = (cpsr >> 2) & 3;
    }
    if (el == 3) {
        return EL3;
    }
    if (have_el3 < 0) {
        /* Without EL3 everything is Non-secure, whatever SCR_EL3 reads. */
        bool pok;
        uint64_t pfr0 = read_reg(reg_pfr0, &pok);
        have_el3 = pok ? ((pfr0 >> 12) & 0xf) != 0 : reg_scr_el3 != NULL;
    }
    if (have_el3) {
        bool sok;
        uint64_t scr = read_reg(reg_scr_el3, &sok);
        if (sok && !(scr & 1)) {
            return S_EL0 + el;
        }
    }
    return NS_EL0 + el;
}

static uint64_t trap_key(unsigned from_el, unsigned kind, uint32_t id)
{
    return ((uint64_t)from_el << 40) | ((uint64_t)kind << 32) | id;
}

/* Classify an entry into NS-EL2 from a lower EL; we are at the vector. */
static uint64_t classify_entry(unsigned from_el)
{
    uint64_t pc = read_reg(reg_pc, NULL);
    uint64_t vbar = read_reg(reg_vbar_el2, NULL) & ~0x7ffULL;
    uint64_t off = pc - vbar;
    if (off < 0x400 || off >= 0x800) {
        return trap_key(from_el, K_OTHER, (uint32_t)off);
    }
    switch (off & 0x180) {          /* lower EL, AArch64 (0x400) or AArch32 (0x600) */
    case 0x000: {
        uint32_t ec = (read_reg(reg_esr_el2, NULL) >> 26) & 0x3f;
        uint32_t w0 = read_reg(reg_x0, NULL);
        if (ec == 0x16 || ec == 0x12) {
            return trap_key(from_el, K_HVC, w0);
        }
        if (ec == 0x17 || ec == 0x13) {
            return trap_key(from_el, K_SMC, w0);
        }
        return trap_key(from_el, K_SYNC, ec);
    }
    case 0x080: return trap_key(from_el, K_IRQ, 0);
    case 0x100: return trap_key(from_el, K_FIQ, 0);
    default:    return trap_key(from_el, K_SERROR, 0);
    }
}

static void format_key(GString *s, uint64_t key)
{
    g_string_append_printf(s, "from=EL%u kind=%s id=0x%08" PRIx32,
                           (unsigned)(key >> 40) & 0xff,
                           kind_name[(key >> 32) & 0xff], (uint32_t)key);
}

/* The host resumes (we are at its first TB): the window's final key. A synchronous
 * exception that resumes in the host's vector table was injected into the host. */
static uint64_t final_key(uint64_t key)
{
    if (((key >> 32) & 0xff) != K_SYNC || !reg_vbar_el1) {
        return key;
    }
    bool ok;
    uint64_t vbar = read_reg(reg_vbar_el1, &ok) & ~0x7ffULL;
    uint64_t pc = read_reg(reg_pc, NULL);
    if (ok && pc >= vbar && pc - vbar < 0x800) {
        return (key & ~(0xffULL << 32)) | ((uint64_t)K_INJECT << 32);
    }
    return key;
}

static void close_trap(unsigned int vcpu_index, VCpu *v)
{
    uint64_t d[NSTATES];
    unsigned kind = (v->trap_key >> 32) & 0xff;
    bool ffa_err = (kind == K_HVC || kind == K_SMC) &&
                   (uint32_t)read_reg(reg_x0, NULL) == FFA_ERROR;
    v->trap_key = final_key(v->trap_key);
    for (int i = 0; i < NSTATES; i++) {
        d[i] = v->insns[i] - v->trap_snap[i];
    }
    uint64_t sec = d[S_EL0] + d[S_EL1] + d[S_EL2];
    bool trace = false;

    g_mutex_lock(&stats_lock);
    TrapStat *t = g_hash_table_lookup(trap_stats, &v->trap_key);
    if (!t) {
        uint64_t *k = g_new(uint64_t, 1);
        *k = v->trap_key;
        t = g_new0(TrapStat, 1);
        t->el2_min = UINT64_MAX;
        g_hash_table_insert(trap_stats, k, t);
    }
    t->count++;
    t->el2_sum += d[NS_EL2];
    t->el2_min = MIN(t->el2_min, d[NS_EL2]);
    t->el2_max = MAX(t->el2_max, d[NS_EL2]);
    t->el3_sum += d[EL3];
    t->sec_sum += sec;
    t->ffa_err += ffa_err;
    if (trace_left > 0) {
        trace_left--;
        trace = true;
    }
    g_mutex_unlock(&stats_lock);

    if (trace) {
        g_autoptr(GString) s = g_string_new("el-counter: trace vcpu=");
        g_string_append_printf(s, "%u ", vcpu_index);
        format_key(s, v->trap_key);
        g_string_append_printf(s, " el2=%" PRIu64 " el3=%" PRIu64 " sec=%" PRIu64 "\n",
                               d[NS_EL2], d[EL3], sec);
        qemu_plugin_outs(s->str);
    }
    v->trap_open = 0;
}

/* Runs before the first TB of a new state; v->last is still the old state. */
static void on_transition(unsigned int vcpu_index, void *udata)
{
    uint64_t to = (uintptr_t)udata;
    /*
     * A vCPU's plugin init runs asynchronously, and with single-threaded TCG a secondary
     * can execute (in the firmware's holding pen) before it; scoreboard_find() asserts on
     * such a vCPU.  Its inline counts are safe (scoreboards start with room for 16 vCPUs)
     * and go on; only its transitions before the init are not looked at.
     */
    if (vcpu_index >= (unsigned)qemu_plugin_num_vcpus()) {
        return;
    }
    VCpu *v = qemu_plugin_scoreboard_find(score, vcpu_index);
    uint64_t from = v->last;

    /* boot window */
    if (to == NS_EL2 && !v->hyp_entered) {
        v->hyp_entered = 1;
        memcpy(v->boot_snap, v->insns, sizeof(v->insns));
    }
    if (to == NS_EL1 && v->hyp_entered && !v->boot_done) {
        v->boot_done = 1;
        g_autoptr(GString) s = g_string_new("");
        g_string_append_printf(s, "el-counter: boot vcpu=%u", vcpu_index);
        for (int i = 0; i < NSTATES; i++) {
            g_string_append_printf(s, " %s=%" PRIu64, state_name[i],
                                   v->insns[i] - v->boot_snap[i]);
        }
        g_string_append_printf(s, " host_pc=0x%" PRIx64 "\n", read_reg(reg_pc, NULL));
        qemu_plugin_outs(s->str);
    }

    /* phase witness: entries into EL3 from the Non-secure world, and traps into EL2 */
    if (to == EL3 && (from == NS_EL2 || from == NS_EL1 || from == NS_EL0)) {
        bool esr_ok, vbar_ok;
        uint32_t ec = (read_reg(reg_esr_el3, &esr_ok) >> 26) & 0x3f;
        uint64_t off = read_reg(reg_pc, NULL) - (read_reg(reg_vbar_el3, &vbar_ok) & ~0x7ffULL);
        bool smc = esr_ok && vbar_ok && off == 0x400 && ec == 0x17;
        uint32_t w0 = read_reg(reg_x0, NULL);
        uint32_t p = __atomic_load_n(&cur_phase, __ATOMIC_RELAXED);
        g_mutex_lock(&stats_lock);
        PhaseStat *ph = &phases[p];
        if (from == NS_EL2) {
            ph->el2_el3++;
            if (smc) {
                if (ph->el2_smc < PHASE_IDS) {
                    ph->ids[ph->el2_smc] = w0;
                }
                ph->el2_smc++;
            }
        } else {
            ph->lower_el3++;
            ph->lower_smc += smc;
        }
        g_mutex_unlock(&stats_lock);
    }
    if (to == NS_EL2 && (from == NS_EL1 || from == NS_EL0)) {
        v->el2_entries++;
        uint32_t p = __atomic_load_n(&cur_phase, __ATOMIC_RELAXED);
        __atomic_fetch_add(&phases[p].el1_traps, 1, __ATOMIC_RELAXED);
    }

    /* trap window */
    if (v->trap_open && (to == NS_EL1 || to == NS_EL0)) {
        close_trap(vcpu_index, v);
        v->tprof = 0;
    }
    if (to == NS_EL2 && (from == NS_EL1 || from == NS_EL0)) {
        /* With HCR_EL2.TGE set, EL0 -> EL2 is a syscall into a VHE host, not a trap. */
        if (from == NS_EL1 || !(read_reg(reg_hcr_el2, NULL) & (1ULL << 27))) {
            if (v->trap_open) {
                v->traps_unclosed++;
            }
            v->trap_key = classify_entry(from == NS_EL1 ? 1 : 0);
            memcpy(v->trap_snap, v->insns, sizeof(v->insns));
            v->trap_open = 1;
            unsigned kind = (v->trap_key >> 32) & 0xff;
            v->tprof = trap_id >= 0 && (kind == K_HVC || kind == K_SMC) &&
                       (uint32_t)v->trap_key == (uint32_t)trap_id;
        }
    }
}

/*
 * Can execution leave the TB at this A64 instruction, before the TB's end?  Loads and
 * stores can: a data abort, or an MMIO access, which QEMU replays on its own in a one-
 * instruction TB that plugins only see the memory accesses of (cpu_io_recompile).  So
 * can system instructions (a system register access that traps at run time), and SVE/SME
 * memory accesses.  Everything else either cannot fault or ends the TB anyway (branches,
 * exception-generating instructions, traps that QEMU decides at translation time).
 */
static bool a64_may_leave_tb(uint32_t w)
{
    return (w & 0x0a000000) == 0x08000000 ||   /* loads and stores */
           (w & 0x1c000000) == 0x14000000 ||   /* branches, exceptions, system */
           (w & 0x1e000000) == 0x04000000 ||   /* SVE */
           (w & 0x1e000000) == 0x00000000;     /* SME, reserved */
}

/* The phase marker ran: x0 is the new phase. */
static void on_mark(unsigned int vcpu_index, void *udata)
{
    uint32_t p = (uint32_t)read_reg(reg_x0, NULL) % NPHASES;
    __atomic_store_n(&cur_phase, p, __ATOMIC_RELAXED);
    __atomic_fetch_add(&phases[p].marks, 1, __ATOMIC_RELAXED);
}

/* The span marker ran: x0 = 1 opens a span, x0 = 0 closes it (see "span" lines above). */
static void on_span(unsigned int vcpu_index, void *udata)
{
    if (vcpu_index >= (unsigned)qemu_plugin_num_vcpus()) {
        return;
    }
    VCpu *v = qemu_plugin_scoreboard_find(score, vcpu_index);
    uint64_t x0 = read_reg(reg_x0, NULL);
    if (x0 == 1) {
        memcpy(v->span_snap, v->insns, sizeof(v->insns));
        v->span_entries_snap = v->el2_entries;
        v->span_open = 1;
    } else if (x0 == 0 && v->span_open) {
        for (int i = 0; i < NSTATES; i++) {
            v->span_sum[i] += v->insns[i] - v->span_snap[i];
        }
        v->span_entries += v->el2_entries - v->span_entries_snap;
        v->span_count++;
        v->span_open = 0;
    }
}

static void hot_exec(unsigned int vcpu_index, void *udata)
{
    HotSeg *h = udata;
    __atomic_fetch_add(&h->execs, 1, __ATOMIC_RELAXED);
}

static void thot_exec(unsigned int vcpu_index, void *udata)
{
    HotSeg *h = udata;
    __atomic_fetch_add(&h->texecs, 1, __ATOMIC_RELAXED);
}

/* Profile one NS-EL2 segment: a callback before its first instruction, in the boot window
 * (hot=N) and in the trap windows of tid=ID. */
static void hot_register(struct qemu_plugin_insn *first, size_t n)
{
    uint64_t vaddr = qemu_plugin_insn_vaddr(first);
    uint64_t key = vaddr << 10 | n;
    g_mutex_lock(&stats_lock);
    HotSeg *h = g_hash_table_lookup(hot_segs, &key);
    if (!h) {
        h = g_new0(HotSeg, 1);
        h->key = key;
        h->vaddr = vaddr;
        h->n_insns = n;
        g_hash_table_insert(hot_segs, &h->key, h);
    }
    g_mutex_unlock(&stats_lock);
    if (hot_top > 0) {
        qemu_plugin_register_vcpu_insn_exec_cond_cb(first, hot_exec, QEMU_PLUGIN_CB_NO_REGS,
                                                    QEMU_PLUGIN_COND_EQ, sb_boot_done, 0, h);
    }
    if (trap_id >= 0) {
        qemu_plugin_register_vcpu_insn_exec_cond_cb(first, thot_exec, QEMU_PLUGIN_CB_NO_REGS,
                                                    QEMU_PLUGIN_COND_EQ, sb_tprof, 1, h);
    }
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    bool aarch32;
    uint64_t st = current_state(&aarch32);
    size_t n = qemu_plugin_tb_n_insns(tb);

    qemu_plugin_register_vcpu_tb_exec_cond_cb(tb, on_transition, QEMU_PLUGIN_CB_R_REGS,
                                              QEMU_PLUGIN_COND_NE, sb_last, st,
                                              (void *)(uintptr_t)st);
    qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_STORE_U64,
                                                      sb_last, st);
    /*
     * Count by segments: each segment ends at an instruction that may leave the TB early
     * (or at the TB's end), and its length is added before its first instruction.  A TB
     * left early is then counted up to and including the instruction that left it, and
     * what comes after that is counted when it really runs.  mode=insn: segments of one.
     */
    size_t seg = 0;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint32_t w = 0;
        bool have_w = !aarch32 && qemu_plugin_insn_data(insn, &w, sizeof(w)) == sizeof(w);
        if (have_w && w == PHASE_MARK && st == NS_EL1) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_R_REGS, NULL);
        }
        if (have_w && w == SPAN_MARK && (st == NS_EL0 || st == NS_EL1)) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_span, QEMU_PLUGIN_CB_R_REGS, NULL);
        }
        bool end = mode_insn || aarch32 || i == n - 1;
        if (!end) {
            end = !have_w || a64_may_leave_tb(w);
        }
        if (end) {
            qemu_plugin_register_vcpu_insn_exec_inline_per_vcpu(
                qemu_plugin_tb_get_insn(tb, seg), QEMU_PLUGIN_INLINE_ADD_U64,
                sb_insns[st], i + 1 - seg);
            if ((hot_top > 0 || trap_id >= 0) && st == NS_EL2) {
                hot_register(qemu_plugin_tb_get_insn(tb, seg), i + 1 - seg);
            }
            seg = i + 1;
        }
    }
}

static gint cmp_u64_ptr(gconstpointer a, gconstpointer b)
{
    uint64_t x = **(const uint64_t *const *)a, y = **(const uint64_t *const *)b;
    return x < y ? -1 : x > y;
}

static gint cmp_hot(gconstpointer a, gconstpointer b)
{
    const HotSeg *x = *(const HotSeg *const *)a, *y = *(const HotSeg *const *)b;
    uint64_t cx = x->execs * x->n_insns, cy = y->execs * y->n_insns;
    return cx > cy ? -1 : cx < cy ? 1 : (x->vaddr > y->vaddr) - (x->vaddr < y->vaddr);
}

static gint cmp_thot(gconstpointer a, gconstpointer b)
{
    const HotSeg *x = *(const HotSeg *const *)a, *y = *(const HotSeg *const *)b;
    uint64_t cx = x->texecs * x->n_insns, cy = y->texecs * y->n_insns;
    return cx > cy ? -1 : cx < cy ? 1 : (x->vaddr > y->vaddr) - (x->vaddr < y->vaddr);
}

static void append_insns(GString *s, const char *who, const uint64_t *c)
{
    uint64_t total = 0;
    g_string_append_printf(s, "el-counter: insns vcpu=%s", who);
    for (int i = 0; i < NSTATES; i++) {
        g_string_append_printf(s, " %s=%" PRIu64, state_name[i], c[i]);
        total += c[i];
    }
    g_string_append_printf(s, " total=%" PRIu64 "\n", total);
}

static void plugin_exit(qemu_plugin_id_t id, void *p)
{
    g_autoptr(GString) s = g_string_new("");
    int nvcpus = qemu_plugin_num_vcpus();
    uint64_t all[NSTATES] = { 0 };
    uint64_t open = 0, unclosed = 0, closed = 0;

    g_string_append_printf(s, "el-counter: summary mode=%s vcpus=%d el3=%s\n",
                           mode_insn ? "insn" : "tb", nvcpus,
                           have_el3 > 0 ? "yes" : "no");
    for (int c = 0; c < nvcpus; c++) {
        VCpu *v = qemu_plugin_scoreboard_find(score, c);
        g_autofree char *who = g_strdup_printf("%d", c);
        append_insns(s, who, v->insns);
        for (int i = 0; i < NSTATES; i++) {
            all[i] += v->insns[i];
        }
        open += v->trap_open;
        unclosed += v->traps_unclosed;
    }
    append_insns(s, "all", all);
    for (int c = 0; c < nvcpus; c++) {
        VCpu *v = qemu_plugin_scoreboard_find(score, c);
        uint64_t total = 0;
        if (!v->span_count && !v->span_open) {
            continue;
        }
        g_string_append_printf(s, "el-counter: span vcpu=%d count=%" PRIu64, c, v->span_count);
        for (int i = 0; i < NSTATES; i++) {
            g_string_append_printf(s, " %s=%" PRIu64, state_name[i], v->span_sum[i]);
            total += v->span_sum[i];
        }
        g_string_append_printf(s, " total=%" PRIu64 " el2_entries=%" PRIu64 " open_at_exit=%"
                               PRIu64 "\n", total, v->span_entries, v->span_open);
    }

    g_mutex_lock(&stats_lock);
    g_autoptr(GPtrArray) keys = g_ptr_array_new();
    GHashTableIter it;
    gpointer k, val;
    g_hash_table_iter_init(&it, trap_stats);
    while (g_hash_table_iter_next(&it, &k, &val)) {
        g_ptr_array_add(keys, k);
        closed += ((TrapStat *)val)->count;
    }
    g_ptr_array_sort(keys, cmp_u64_ptr);
    g_string_append_printf(s, "el-counter: traps closed=%" PRIu64 " open_at_exit=%" PRIu64
                           " unclosed=%" PRIu64 "\n", closed, open, unclosed);
    for (guint i = 0; i < keys->len; i++) {
        uint64_t key = *(uint64_t *)g_ptr_array_index(keys, i);
        TrapStat *t = g_hash_table_lookup(trap_stats, &key);
        double n = t->count;
        g_string_append(s, "el-counter: trap ");
        format_key(s, key);
        g_string_append_printf(s, " count=%" PRIu64 " el2_sum=%" PRIu64 " el2_min=%" PRIu64
                               " el2_max=%" PRIu64 " el2_mean=%.1f el3_mean=%.1f"
                               " sec_mean=%.1f\n",
                               t->count, t->el2_sum, t->el2_min, t->el2_max,
                               t->el2_sum / n, t->el3_sum / n, t->sec_sum / n);
    }
    for (guint i = 0; i < keys->len; i++) {
        uint64_t key = *(uint64_t *)g_ptr_array_index(keys, i);
        unsigned kind = (key >> 32) & 0xff;
        TrapStat *t = g_hash_table_lookup(trap_stats, &key);
        if (kind == K_HVC || kind == K_SMC) {
            g_string_append(s, "el-counter: tret ");
            format_key(s, key);
            g_string_append_printf(s, " count=%" PRIu64 " ffa_error=%" PRIu64 "\n",
                                   t->count, t->ffa_err);
        }
    }
    if (hot_top > 0) {
        g_autoptr(GPtrArray) hs = g_ptr_array_new();
        uint64_t total = 0;
        g_hash_table_iter_init(&it, hot_segs);
        while (g_hash_table_iter_next(&it, &k, &val)) {
            HotSeg *h = val;
            if (h->execs) {
                g_ptr_array_add(hs, h);
                total += h->execs * h->n_insns;
            }
        }
        g_ptr_array_sort(hs, cmp_hot);
        g_string_append_printf(s, "el-counter: hot segments=%u insns=%" PRIu64
                               " (NS-EL2, boot window)\n", hs->len, total);
        for (guint i = 0; i < hs->len && i < (guint)hot_top; i++) {
            HotSeg *h = g_ptr_array_index(hs, i);
            g_string_append_printf(s, "el-counter: hot pc=0x%" PRIx64 " insns=%" PRIu64
                                   " execs=%" PRIu64 " size=%" PRIu64 "\n", h->vaddr,
                                   h->execs * h->n_insns, h->execs, h->n_insns);
        }
    }
    if (trap_id >= 0) {
        g_autoptr(GPtrArray) hs = g_ptr_array_new();
        uint64_t total = 0;
        g_hash_table_iter_init(&it, hot_segs);
        while (g_hash_table_iter_next(&it, &k, &val)) {
            HotSeg *h = val;
            if (h->texecs) {
                g_ptr_array_add(hs, h);
                total += h->texecs * h->n_insns;
            }
        }
        g_ptr_array_sort(hs, cmp_thot);
        g_string_append_printf(s, "el-counter: thot id=0x%08" PRIx32 " segments=%u insns=%"
                               PRIu64 " (NS-EL2, trap windows)\n", (uint32_t)trap_id,
                               hs->len, total);
        for (guint i = 0; i < hs->len; i++) {
            HotSeg *h = g_ptr_array_index(hs, i);
            g_string_append_printf(s, "el-counter: thot pc=0x%" PRIx64 " insns=%" PRIu64
                                   " execs=%" PRIu64 " size=%" PRIu64 "\n", h->vaddr,
                                   h->texecs * h->n_insns, h->texecs, h->n_insns);
        }
    }
    for (int p = 0; p < NPHASES; p++) {
        PhaseStat *ph = &phases[p];
        if (!ph->marks && !ph->el1_traps && !ph->el2_el3 && !ph->lower_el3) {
            continue;
        }
        g_string_append_printf(s, "el-counter: phase id=%d marks=%" PRIu64 " el1_traps=%"
                               PRIu64 " el2_to_el3=%" PRIu64 " el2_smc=%" PRIu64
                               " lower_to_el3=%" PRIu64 " lower_smc=%" PRIu64
                               " smc_regs=%s smc_ids=",
                               p, ph->marks, ph->el1_traps, ph->el2_el3, ph->el2_smc,
                               ph->lower_el3, ph->lower_smc,
                               reg_esr_el3 && reg_vbar_el3 ? "yes" : "no");
        for (uint64_t i = 0; i < MIN(ph->el2_smc, (uint64_t)PHASE_IDS); i++) {
            g_string_append_printf(s, "%s0x%08" PRIx32, i ? "," : "", ph->ids[i]);
        }
        g_string_append(s, ph->el2_smc ? "\n" : "-\n");
    }
    g_mutex_unlock(&stats_lock);
    g_string_append(s, "el-counter: end\n");
    qemu_plugin_outs(s->str);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        g_auto(GStrv) kv = g_strsplit(argv[i], "=", 2);
        if (g_strcmp0(kv[0], "mode") == 0 && kv[1] &&
            (!strcmp(kv[1], "tb") || !strcmp(kv[1], "insn"))) {
            mode_insn = !strcmp(kv[1], "insn");
        } else if (g_strcmp0(kv[0], "trace") == 0 && kv[1]) {
            trace_left = strtol(kv[1], NULL, 0);
        } else if (g_strcmp0(kv[0], "hot") == 0 && kv[1]) {
            hot_top = strtol(kv[1], NULL, 0);
        } else if (g_strcmp0(kv[0], "tid") == 0 && kv[1]) {
            trap_id = (uint32_t)strtoul(kv[1], NULL, 0);
        } else {
            fprintf(stderr, "el-counter: bad option '%s' (mode=tb|insn, trace=N, hot=N, "
                    "tid=ID)\n", argv[i]);
            return -1;
        }
    }
    if (!info->system_emulation || strcmp(info->target_name, "aarch64") != 0) {
        fprintf(stderr, "el-counter: needs qemu-system-aarch64\n");
        return -1;
    }
    score = qemu_plugin_scoreboard_new(sizeof(VCpu));
    for (int i = 0; i < NSTATES; i++) {
        sb_insns[i] = (qemu_plugin_u64){
            .score = score, .offset = offsetof(VCpu, insns) + i * sizeof(uint64_t)
        };
    }
    sb_last = qemu_plugin_scoreboard_u64_in_struct(score, VCpu, last);
    sb_boot_done = qemu_plugin_scoreboard_u64_in_struct(score, VCpu, boot_done);
    sb_tprof = qemu_plugin_scoreboard_u64_in_struct(score, VCpu, tprof);
    hot_segs = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
    if (info->system.smp_vcpus > 1) {
        /*
         * QEMU 9.2+ bakes the translating vCPU's index into inline ops and callbacks
         * when TBs are not CF_PARALLEL, i.e. under round-robin TCG (-accel
         * tcg,thread=single, and always with -icount), while all vCPUs share the TBs.
         */
        g_autofree char *w = g_strdup_printf(
            "el-counter: WARNING: %d vCPUs: per-vCPU figures are only right with MTTCG "
            "(-accel tcg,thread=multi, no -icount); under round-robin TCG QEMU counts each "
            "TB for the vCPU that translated it. Use -smp 1 for exact figures.\n",
            info->system.smp_vcpus);
        qemu_plugin_outs(w);
    }
    trap_stats = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
