/*
 * teebench: N requests to OP-TEE from Linux user space, each one FFA_MSG_SEND_DIRECT_REQ
 * from the kernel's OP-TEE FF-A driver through the hypervisor (`make bench` workload (b),
 * docs/bench.md, and the system test that Linux's requests pass the proxy).
 *
 *   teebench N
 *
 * Opens /dev/tee0, opens a session to OP-TEE's device-enumeration pseudo TA (built into
 * every OP-TEE, open to any client, PTA_DEVICE_UUID), then invokes command 0xbe0c N times:
 * the PTA answers an unknown command with TEE_ERROR_NOT_IMPLEMENTED at once, so each
 * invoke is one yielding call, with no RPC and no shared-memory registration after the
 * first. Prints
 *
 *   TEEBENCH: n=<N> expected=<count answered TEE_ERROR_NOT_IMPLEMENTED> other=<count>
 *
 * and exits 0 only if every invoke got that answer.
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
#define NR_exit_group 94
#define NR_ioctl 29
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

static void run(int argc, char **argv)
{
	/* PTA_DEVICE_UUID 7011a688-ddde-4053-a5a9-7b3c4ddf13b8, as the TEE ABI lays it out. */
	static const u8 device_pta[16] = { 0x70, 0x11, 0xa6, 0x88, 0xdd, 0xde, 0x40, 0x53,
					   0xa5, 0xa9, 0x7b, 0x3c, 0x4d, 0xdf, 0x13, 0xb8 };
	struct tee_open open = { 0 };
	struct tee_invoke invoke;
	struct tee_buf buf;
	u64 n = 0, expected = 0, other = 0, i;
	char b[24];
	long fd, r;

	if (argc < 2 || !argv[1][0])
		fail("usage: teebench N; argc", argc);
	for (const char *s = argv[1]; *s; s++) {
		if (*s < '0' || *s > '9')
			fail("N is not a decimal number; first byte", *s);
		n = n * 10 + (u64)(*s - '0');
	}
	fd = syscall4(NR_openat, AT_FDCWD, (long)"/dev/tee0", O_RDWR, 0);
	if (fd < 0)
		fail("open /dev/tee0: errno", -fd);
	for (i = 0; i < 16; i++)
		open.uuid[i] = device_pta[i];
	open.clnt_login = TEE_IOCTL_LOGIN_PUBLIC;
	buf.ptr = (u64)&open;
	buf.len = sizeof(open);
	r = syscall4(NR_ioctl, fd, TEE_IOC_OPEN_SESSION, (long)&buf, 0);
	if (r < 0)
		fail("TEE_IOC_OPEN_SESSION: errno", -r);
	if (open.ret)
		fail("open session to the device PTA: TEE result", open.ret);
	for (i = 0; i < n; i++) {
		invoke = (struct tee_invoke){ .func = UNKNOWN_COMMAND, .session = open.session };
		buf.ptr = (u64)&invoke;
		buf.len = sizeof(invoke);
		r = syscall4(NR_ioctl, fd, TEE_IOC_INVOKE, (long)&buf, 0);
		if (r == 0 && invoke.ret == TEE_ERROR_NOT_IMPLEMENTED)
			expected++;
		else
			other++;
	}
	r = syscall4(NR_ioctl, fd, TEE_IOC_CLOSE_SESSION, (long)&open.session, 0);
	if (r < 0)
		fail("TEE_IOC_CLOSE_SESSION: errno", -r);
	syscall4(NR_close, fd, 0, 0, 0);
	out("TEEBENCH: n=");
	out(num(n, 0, b));
	out(" expected=");
	out(num(expected, 0, b));
	out(" other=");
	out(num(other, 0, b));
	out("\n");
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
