/*
 * teebench: N requests to OP-TEE from Linux user space, each one FFA_MSG_SEND_DIRECT_REQ
 * from the kernel's OP-TEE FF-A driver through the hypervisor (`make bench` workload (b),
 * docs/bench.md, and the system test that Linux's requests pass the proxy).
 *
 *   teebench N        one thread
 *   teebench N:T      T threads at once (at most MAX_THREADS), N requests each (`make soak`)
 *
 * Each thread opens /dev/tee0, opens its own session to OP-TEE's device-enumeration pseudo
 * TA (built into every OP-TEE, open to any client, PTA_DEVICE_UUID), then invokes command
 * 0xbe0c N times: the PTA answers an unknown command with TEE_ERROR_NOT_IMPLEMENTED at once,
 * so each invoke is one yielding call, with no RPC and no shared-memory registration after
 * the first. Own sessions, so that the threads' requests really are in OP-TEE at the same
 * time (one session serves one request at a time). With T threads, one line per thread
 *
 *   TEEBENCH: thread=<i> n=<N> expected=<k> other=<m>
 *
 * then, always, the totals over every thread
 *
 *   TEEBENCH: n=<N*T> expected=<count answered TEE_ERROR_NOT_IMPLEMENTED> other=<count>
 *
 * and it exits 0 only if every invoke got that answer.
 *
 * With one thread, the loop of invokes is bracketed by the marker instruction `hint #0x7c`
 * (x0 = 1 before the first invoke, x0 = 0 after the last): a NOP for the CPU, it tells the
 * bench's instruction-counting QEMU plugin (tools/el-counter) which instructions, at every
 * exception level, the N requests cost (docs/bench.md: all-EL instructions per request). A thread that cannot open the device
 * or its session counts its N requests as `other` and names the failure on its own line.
 *
 * No libc: raw arm64 Linux system calls, so the binary is a few KiB and static.
 * Why C and not Rust: the workspace's bare-metal target is configured position-independent
 * for the firmware (.cargo/config.toml), and a Linux user target is not pinned in
 * rust-toolchain.toml; Debian's aarch64-linux-gnu-gcc (installed for TF-A) builds this
 * one file (ci/mkinitramfs.sh).
 */
typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned char u8;

#define NR_openat 56
#define NR_close 57
#define NR_write 64
#define NR_exit 93
#define NR_exit_group 94
#define NR_futex 98
#define NR_clone 220
#define NR_nanosleep 101
#define NR_ioctl 29
#define FUTEX_WAIT 0
/* A thread of this process: shared memory, files, signal handlers; the kernel clears the
 * child TID word and wakes its futex when the thread exits (how the main thread joins). */
#define CLONE_THREAD_FLAGS (0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x200000 | 0x1000000)
#define MAX_THREADS 16
#define THREAD_STACK 16384
#define AT_FDCWD (-100)
#define O_RDWR 2

/* linux/tee.h: _IOR(0xa4, nr, struct tee_ioctl_buf_data) (16 bytes), close: a u32. */
#define TEE_IOC_OPEN_SESSION 0x8010a402UL
#define TEE_IOC_INVOKE 0x8010a403UL
#define TEE_IOC_CLOSE_SESSION 0x8004a405UL
#define TEE_IOCTL_LOGIN_PUBLIC 0
#define TEE_ERROR_NOT_IMPLEMENTED 0xffff0009U
#define UNKNOWN_COMMAND 0xbe0cU

struct tee_buf { u64 ptr, len; };
struct tee_open { u8 uuid[16], clnt_uuid[16]; u32 clnt_login, cancel_id, session, ret, ret_origin, num_params; };
struct tee_invoke { u32 func, session, cancel_id, ret, ret_origin, num_params; };

static long syscall4(long nr, long a, long b, long c, long d)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}

static void out(const char *s)
{
	u64 n = 0;
	while (s[n])
		n++;
	syscall4(NR_write, 1, (long)s, (long)n, 0);
}

/* Decimal (or 0x-hex) text of v into buf (at least 21 bytes). */
static const char *num(u64 v, int hex, char *buf)
{
	char *p = buf + 20;
	*p = 0;
	do {
		*--p = "0123456789abcdef"[v % (hex ? 16 : 10)];
		v /= hex ? 16 : 10;
	} while (v);
	if (hex) {
		*--p = 'x';
		*--p = '0';
	}
	return p;
}

static __attribute__((noreturn)) void leave(int code)
{
	syscall4(NR_exit_group, code, 0, 0, 0);
	for (;;)
		;
}

static void fail(const char *what, long value)
{
	char b[24];
	out("TEEBENCH: FAILED ");
	out(what);
	out(" ");
	out(num((u64)value, 1, b));
	out("\n");
	leave(1);
}

/* One thread's work and result. `alive` is the child TID word: 1 before the thread starts,
 * its TID while it runs, 0 once it has exited (CLONE_CHILD_CLEARTID). */
struct worker {
	u64 n, expected, other;
	const char *failure;
	long failure_value;
	int mark;
	volatile int alive;
};

static struct worker workers[MAX_THREADS];
static u8 stacks[MAX_THREADS][THREAD_STACK] __attribute__((aligned(16)));

/* The plugin's span marker: x0 = 1 opens the span, x0 = 0 closes it. */
static void span_mark(long open)
{
	register long x0 __asm__("x0") = open;
	__asm__ volatile("hint #0x7c" : : "r"(x0) : "memory");
}

/* N invokes on a session of its own; never exits the process. */
void work(struct worker *w);
__attribute__((used)) void work(struct worker *w)
{
	/* PTA_DEVICE_UUID 7011a688-ddde-4053-a5a9-7b3c4ddf13b8, as the TEE ABI lays it out. */
	static const u8 device_pta[16] = { 0x70, 0x11, 0xa6, 0x88, 0xdd, 0xde, 0x40, 0x53,
					   0xa5, 0xa9, 0x7b, 0x3c, 0x4d, 0xdf, 0x13, 0xb8 };
	struct tee_open open = { 0 };
	struct tee_invoke invoke;
	struct tee_buf buf;
	long fd, r;
	u64 i;

	fd = syscall4(NR_openat, AT_FDCWD, (long)"/dev/tee0", O_RDWR, 0);
	if (fd < 0) {
		w->failure = "open /dev/tee0: errno";
		w->failure_value = -fd;
		w->other = w->n;
		return;
	}
	for (i = 0; i < 16; i++)
		open.uuid[i] = device_pta[i];
	open.clnt_login = TEE_IOCTL_LOGIN_PUBLIC;
	buf.ptr = (u64)&open;
	buf.len = sizeof(open);
	r = syscall4(NR_ioctl, fd, TEE_IOC_OPEN_SESSION, (long)&buf, 0);
	if (r < 0 || open.ret) {
		w->failure = r < 0 ? "TEE_IOC_OPEN_SESSION: errno" :
				     "open session to the device PTA: TEE result";
		w->failure_value = r < 0 ? -r : (long)open.ret;
		w->other = w->n;
		syscall4(NR_close, fd, 0, 0, 0);
		return;
	}
	if (w->mark) {
		/* Let the work the boot left behind (the modules' deferred probes, the OP-TEE
		 * driver's device enumeration) finish first: it would otherwise run inside the span. */
		static const struct { long sec, nsec; } settle = { 1, 0 };
		syscall4(NR_nanosleep, (long)&settle, 0, 0, 0);
		span_mark(1);
	}
	for (i = 0; i < w->n; i++) {
		invoke = (struct tee_invoke){ .func = UNKNOWN_COMMAND, .session = open.session };
		buf.ptr = (u64)&invoke;
		buf.len = sizeof(invoke);
		r = syscall4(NR_ioctl, fd, TEE_IOC_INVOKE, (long)&buf, 0);
		if (r == 0 && invoke.ret == TEE_ERROR_NOT_IMPLEMENTED)
			w->expected++;
		else
			w->other++;
	}
	if (w->mark)
		span_mark(0);
	r = syscall4(NR_ioctl, fd, TEE_IOC_CLOSE_SESSION, (long)&open.session, 0);
	if (r < 0) {
		w->failure = "TEE_IOC_CLOSE_SESSION: errno";
		w->failure_value = -r;
	}
	syscall4(NR_close, fd, 0, 0, 0);
}

/*
 * clone(flags, stack, parent_tid = 0, tls = 0, child_tid = &w->alive): the parent gets the
 * TID (or -errno); the child starts on `stack_top` with every other register as the parent's,
 * runs work(w) and exits the thread (not the process). Assembly because the child must not
 * return through the parent's stack frame.
 */
long spawn(u64 flags, u8 *stack_top, volatile int *child_tid, struct worker *w);
__asm__(".global spawn\n"
	"spawn:\n"
	"    mov x10, x3\n" /* w: kept by the kernel for the child */
	"    mov x4, x2\n" /* child_tid */
	"    mov x2, #0\n" /* parent_tid */
	"    mov x3, #0\n" /* tls */
	"    mov x8, #220\n" /* NR_clone */
	"    svc #0\n"
	"    cbnz x0, 1f\n"
	"    mov x0, x10\n"
	"    bl work\n"
	"    mov x0, #0\n"
	"    mov x8, #93\n" /* NR_exit: this thread only */
	"    svc #0\n"
	"1:  ret\n");

/* Parses "N" or "N:T" (T threads, 1 without it). */
static void parse(const char *s, u64 *n, u64 *threads)
{
	*n = 0;
	*threads = 0;
	for (; *s && *s != ':'; s++) {
		if (*s < '0' || *s > '9')
			fail("N is not a decimal number; first byte", *s);
		*n = *n * 10 + (u64)(*s - '0');
	}
	if (!*s) {
		*threads = 1;
		return;
	}
	for (s++; *s; s++) {
		if (*s < '0' || *s > '9')
			fail("T is not a decimal number; first byte", *s);
		*threads = *threads * 10 + (u64)(*s - '0');
	}
	if (*threads < 1 || *threads > MAX_THREADS)
		fail("T must be 1..16; T", (long)*threads);
}

static void run(int argc, char **argv)
{
	u64 n, threads, expected = 0, other = 0, i;
	char b[24];
	long r;

	if (argc < 2 || !argv[1][0])
		fail("usage: teebench N[:T]; argc", argc);
	parse(argv[1], &n, &threads);
	for (i = 0; i < threads; i++) {
		workers[i].n = n;
		workers[i].alive = 1;
	}
	if (threads == 1) {
		workers[0].mark = 1;
		work(&workers[0]);
		workers[0].alive = 0;
	} else {
		for (i = 0; i < threads; i++) {
			r = spawn(CLONE_THREAD_FLAGS, stacks[i] + THREAD_STACK, &workers[i].alive,
				  &workers[i]);
			if (r < 0)
				fail("clone: errno", -r);
		}
	}
	for (i = 0; i < threads; i++) {
		int alive;

		while ((alive = workers[i].alive) != 0)
			syscall4(NR_futex, (long)&workers[i].alive, FUTEX_WAIT, alive, 0);
		if (threads > 1) {
			out("TEEBENCH: thread=");
			out(num(i, 0, b));
			out(" n=");
			out(num(workers[i].n, 0, b));
			out(" expected=");
			out(num(workers[i].expected, 0, b));
			out(" other=");
			out(num(workers[i].other, 0, b));
			out("\n");
		}
		if (workers[i].failure) {
			out("TEEBENCH: FAILED ");
			out(workers[i].failure);
			out(" ");
			out(num((u64)workers[i].failure_value, 1, b));
			out("\n");
		}
		expected += workers[i].expected;
		other += workers[i].other;
	}
	out("TEEBENCH: n=");
	out(num(n * threads, 0, b));
	out(" expected=");
	out(num(expected, 0, b));
	out(" other=");
	out(num(other, 0, b));
	out("\n");
	for (i = 0; i < threads; i++)
		if (workers[i].failure)
			leave(1);
	leave(other ? 1 : 0);
}

/* The process entry: sp points at argc, then the argv pointers. */
__attribute__((noreturn, used)) void teebench_start(long *sp)
{
	run((int)sp[0], (char **)(sp + 1));
	leave(0);
}

__asm__(".global _start\n"
	"_start:\n"
	"    mov x0, sp\n"
	"    bl teebench_start\n");
