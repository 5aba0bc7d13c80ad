/*
 * /init of ferry's Linux guest: a memory-dirtying workload in several processes, built with the
 * kernel's tools/include/nolibc (static, no libc).
 *
 * Parameters come from the kernel command line (the kernel hands unknown `key=value` words to
 * init as environment variables):
 *   procs=N    worker processes (default 2, at most 8)
 *   ws=KiB     working set of each worker in KiB (default 256, at most 4096)
 *   passes=N   passes over the working set (default 8)
 *   every=N    print a checksum line every N passes (default 2)
 *   spin=N     busy-loop iterations between two touched pages: the dirtying rate (default 0)
 *
 * Each worker owns a private copy of a buffer (copy-on-write after fork). In pass p it rewrites
 * every word of every page with a value derived from (worker, p, index) and keeps a running
 * checksum; every `every` passes it prints the checksum. At the end it re-reads the whole buffer
 * and checks it against what the last pass wrote, then exits 0 (or 1 on a mismatch). The parent
 * waits for all workers, prints a verdict, and powers the machine off.
 */
#include "nolibc.h"

/* siginfo_t as waitid fills it for a child exit: signo, errno, code, then pid, uid, status. */
struct child_info {
	int signo, errcode, code;
	int pid, uid, status;
	int pad[26];
};

#define P_ALL 0
#define CLD_EXITED 1
#define WEXITED 4

/* Wait for any child (rv32 has waitid but not wait4). Returns its exit status, or -1. */
static int wait_child(void)
{
	struct child_info info;
	long ret;

	memset(&info, 0, sizeof(info));
	ret = my_syscall5(__NR_waitid, P_ALL, 0, &info, WEXITED, 0);
	if (ret < 0)
		return -1;
	return info.code == CLD_EXITED ? info.status : -1;
}

#define MAX_WS_KIB 4096
#define MAX_PROCS 8
#define PAGE 4096
#define WORDS_PER_PAGE (PAGE / 4)

char **environ;
static unsigned int buffer[MAX_WS_KIB * 1024 / 4];

static unsigned int param(const char *name, unsigned int def, unsigned int max)
{
	const char *v = getenv(name);
	unsigned int n = 0;

	if (!v || !*v)
		return def;
	while (*v >= '0' && *v <= '9')
		n = n * 10 + (unsigned int)(*v++ - '0');
	return n > max ? max : n;
}

static unsigned int value(unsigned int worker, unsigned int pass, unsigned int i)
{
	unsigned int x = (worker + 1) * 0x9e3779b9u ^ (pass + 1) * 0x85ebca6bu ^ i * 0xc2b2ae35u;

	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	return x;
}

static void say(const char *s)
{
	write(1, s, strlen(s));
}

/* A line being built (written with one write() so lines of workers do not mix). */
struct line {
	char buf[128];
	unsigned int len;
};

static void put_str(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *s++;
}

static void put_uint(struct line *l, unsigned int v)
{
	char tmp[12];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n > 0 && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = tmp[--n];
}

static void put_hex8(struct line *l, unsigned int v)
{
	int i;

	for (i = 7; i >= 0 && l->len < sizeof(l->buf) - 1; i--)
		l->buf[l->len++] = "0123456789abcdef"[(v >> (4 * i)) & 15];
}

static void put_end(struct line *l)
{
	l->buf[l->len++] = '\n';
	write(1, l->buf, l->len);
	l->len = 0;
}

static int worker(unsigned int id, unsigned int pages, unsigned int passes, unsigned int every,
		  unsigned int spin)
{
	unsigned int p, pg, w, sum = 0;
	volatile unsigned int sink = 0;
	struct line l = { .len = 0 };

	for (p = 0; p < passes; p++) {
		sum = 0;
		for (pg = 0; pg < pages; pg++) {
			unsigned int *page = buffer + pg * WORDS_PER_PAGE;

			for (w = 0; w < WORDS_PER_PAGE; w++) {
				unsigned int v = value(id, p, pg * WORDS_PER_PAGE + w);

				page[w] = v;
				sum = (sum << 1 | sum >> 31) ^ v;
			}
			for (w = 0; w < spin; w++)
				sink += w;
		}
		if ((p + 1) % every == 0 || p + 1 == passes) {
			put_str(&l, "worker ");
			put_uint(&l, id);
			put_str(&l, " pass ");
			put_uint(&l, p + 1);
			put_str(&l, " checksum ");
			put_hex8(&l, sum);
			put_end(&l);
		}
	}
	/* Verify: every word must still hold what the last pass wrote. */
	for (pg = 0; pg < pages; pg++)
		for (w = 0; w < WORDS_PER_PAGE; w++)
			if (buffer[pg * WORDS_PER_PAGE + w] != value(id, passes - 1, pg * WORDS_PER_PAGE + w)) {
				put_str(&l, "worker ");
				put_uint(&l, id);
				put_str(&l, ": MISMATCH at page ");
				put_uint(&l, pg);
				put_str(&l, " word ");
				put_uint(&l, w);
				put_end(&l);
				return 1;
			}
	put_str(&l, "worker ");
	put_uint(&l, id);
	put_str(&l, " verified ");
	put_uint(&l, pages * 4);
	put_str(&l, " KiB");
	put_end(&l);
	return 0;
}

int main(int argc, char **argv, char **envp)
{
	unsigned int procs, ws, passes, every, spin, i, failed = 0;
	struct line l = { .len = 0 };

	(void)argc;
	(void)argv;
	environ = envp;
	procs = param("procs", 2, MAX_PROCS);
	ws = param("ws", 256, MAX_WS_KIB);
	passes = param("passes", 8, 1000000);
	every = param("every", 2, 1000000);
	spin = param("spin", 0, 100000000);
	if (procs == 0)
		procs = 1;
	if (ws < 4)
		ws = 4;
	if (passes == 0)
		passes = 1;
	if (every == 0)
		every = 1;
	put_str(&l, "ferry-linux-init: ");
	put_uint(&l, procs);
	put_str(&l, " workers, ");
	put_uint(&l, ws);
	put_str(&l, " KiB each, ");
	put_uint(&l, passes);
	put_str(&l, " passes, spin ");
	put_uint(&l, spin);
	put_end(&l);
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid == 0)
			exit(worker(i, ws / 4, passes, every, spin));
		if (pid < 0) {
			say("ferry-linux-init: fork failed\n");
			failed++;
		}
	}
	for (i = 0; i < procs; i++) {
		if (wait_child() != 0)
			failed++;
	}
	if (failed)
		say("ferry-linux-init: FAILED\n");
	else
		say("ferry-linux-init: all workers verified, powering off\n");
	reboot(LINUX_REBOOT_CMD_POWER_OFF);
	return 0;
}
