// SPDX-License-Identifier: GPL-2.0
/*
 * The lazy-pages handler when copies go wrong: its two threads (the
 * reader serving faults, the filler copying in the background) failing
 * one after the other or at once, while a third thread reads lazy_error()
 * all along; and a background copy cut short by a page that is there.
 *
 * As tests/test_lazy.c does, the source and the destination are this
 * program again (--source, --dest), exec'd so that under valgrind, which
 * has no userfaultfd, they run natively while the handler runs under it.
 * Their memory is wherever mmap() puts it (src_delta bridges the two),
 * which sanitizers with fixed layouts (TSan) accept too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "lazy.h"
#include "runs.h"
#include "uffd.h"
#include "tap.h"
#include "word_sock.h"

#define TIMEOUT_MS	30000
#define WHAT_LEN	128		/* lazy.c keeps that much of a message */

static char self[PATH_MAX];
static long ps;
/*
 * Whether this process can make a userfaultfd itself: not under valgrind,
 * which also holds all threads while one waits in process_vm_readv().
 */
static bool own_uffd;

/* Every byte of source page @i: never 0, so a zero page never passes for data. */
static char pattern(uint64_t i)
{
	return (char)(i % 251 + 1);
}

static bool page_ok(const char *p, uint64_t i)
{
	const volatile char *v = (const volatile char *)p;

	for (long k = 0; k < ps; k++)
		if (v[k] != pattern(i))
			return false;
	return true;
}

/* Commands: an op in the low byte, two page numbers above it. */
static uint64_t cmd(int op, uint64_t a, uint64_t b)
{
	return (uint64_t)op | a << 8 | b << 36;
}

/* --- the source: [0, trap) missing under a userfaultfd the test holds, [hole, n) PROT_NONE --- */

static int run_source(int sock, uint64_t n, uint64_t trap, uint64_t hole)
{
	char *m = mmap(NULL, n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = -1;
	uint64_t c;
	struct err e;

	if (m == MAP_FAILED)
		return 2;
	madvise(m, n * ps, MADV_NOHUGEPAGE);
	for (uint64_t i = trap; i < hole; i++)
		memset(m + i * ps, pattern(i), ps);
	if (hole < n && mprotect(m + hole * ps, (n - hole) * ps, PROT_NONE))
		return 2;
	if (trap) {
		uffd = uffd_open(0, &e);
		if (uffd < 0 || uffd_register_missing(uffd, (uint64_t)m, trap * ps))
			return 3;
	}
	if (send_word(sock, uffd, (uint64_t)m))
		return 4;
	if (uffd >= 0)
		close(uffd);
	while (!recv_word(sock, &c, NULL, -1)) {
		/* 'U': the trapped pages go, and a read waiting on them fails when woken. */
		if ((c & 0xff) == 'U' && munmap(m, trap * ps))
			return 5;
		if (send_word(sock, -1, 0))
			return 4;
	}
	return 0;
}

/* --- the destination: @n pages all missing but page @present, registered with events --- */

static int run_dest(int sock, uint64_t n, uint64_t present)
{
	char *m = mmap(NULL, n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct err e;
	uint64_t c;
	int uffd;

	if (m == MAP_FAILED)
		return 2;
	/* A huge page would fill the missing pages around @present with zeros. */
	madvise(m, n * ps, MADV_NOHUGEPAGE);
	if (present < n)
		memset(m + present * ps, pattern(present), ps);
	uffd = uffd_open_events(&e);
	if (uffd < 0 || uffd_register_missing(uffd, (uint64_t)m, n * ps)) {
		fprintf(stderr, "# dest: %s\n", uffd < 0 ? e.msg : strerror(errno));
		return 3;
	}
	if (send_word(sock, uffd, (uint64_t)m))
		return 4;
	close(uffd);
	while (!recv_word(sock, &c, NULL, -1)) {
		uint64_t a = c >> 8 & 0xfffffff, b = c >> 36, bad = 0;

		/* 'T' a b: read pages [a, b) in order, each waiting on the handler. */
		for (uint64_t i = a; (c & 0xff) == 'T' && i < b && i < n; i++)
			bad += !page_ok(m + i * ps, i);
		if (send_word(sock, -1, bad))
			return 4;
	}
	return 0;
}

/* --- the test's side --- */

struct proc {
	pid_t pid;
	int sock;
	int uffd;		/* the one it sent, or -1 */
	uint64_t addr;		/* its memory */
};

static int spawn(struct proc *p, const char *role, uint64_t a, uint64_t b, uint64_t c)
{
	char s[16], x[24], y[24], z[24];
	int sv[2];

	p->pid = 0;
	p->sock = p->uffd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	p->pid = fork();
	if (!p->pid) {
		/* Only the child's end survives the exec. */
		fcntl(sv[1], F_SETFD, 0);
		snprintf(s, sizeof(s), "%d", sv[1]);
		snprintf(x, sizeof(x), "%llu", (unsigned long long)a);
		snprintf(y, sizeof(y), "%llu", (unsigned long long)b);
		snprintf(z, sizeof(z), "%llu", (unsigned long long)c);
		execl(self, self, role, s, x, y, z, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	p->sock = sv[0];
	if (p->pid < 0)
		return -1;
	return recv_word(p->sock, &p->addr, &p->uffd, TIMEOUT_MS);
}

static void reap(struct proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	if (p->sock >= 0)
		close(p->sock);
	if (p->uffd >= 0)
		close(p->uffd);
	p->pid = 0;
	p->sock = p->uffd = -1;
}

/* Reads lazy_error() all along: every value it ever gives, whole. */
struct poller {
	struct lazy *lz;
	pthread_t th;
	atomic_bool stop;
	unsigned long reads;
	int changes;		/* times the error went from one value to another */
	bool incoherent;	/* an errno without a message, or a message without one */
	int first_err;
	char first[WHAT_LEN];
};

static void *poll_errors(void *arg)
{
	struct poller *p = arg;
	char what[WHAT_LEN], last[WHAT_LEN] = "";
	int last_err = 0;

	/* One more read once told to stop: the last value is always seen. */
	for (bool done = false; !done;) {
		int err;

		done = atomic_load(&p->stop);
		err = lazy_error(p->lz, what, sizeof(what));
		p->reads++;
		if (!err != !what[0])
			p->incoherent = true;
		if (err != last_err || strcmp(what, last)) {
			if (!p->changes++) {
				p->first_err = err;
				memcpy(p->first, what, sizeof(what));
			}
			last_err = err;
			memcpy(last, what, sizeof(what));
		}
		sched_yield();
	}
	return NULL;
}

static int poller_start(struct poller *p, struct lazy *lz)
{
	memset(p, 0, sizeof(*p));
	p->lz = lz;
	atomic_init(&p->stop, false);
	return pthread_create(&p->th, NULL, poll_errors, p) ? -1 : 0;
}

static void poller_stop(struct poller *p)
{
	atomic_store(&p->stop, true);
	pthread_join(p->th, NULL);
}

struct rig {
	struct proc src, dst;
	struct runs pages;
	struct lazy lz;
	bool started;
	atomic_int reads_ok;		/* chunks the filler read whole */
	atomic_bool killed;
	int hook_calls;
};

static int rig_open(struct rig *r, uint64_t n, uint64_t trap, uint64_t hole, uint64_t present)
{
	memset(r, 0, sizeof(*r));
	r->src.sock = r->src.uffd = r->dst.sock = r->dst.uffd = -1;
	if (spawn(&r->src, "--source", n, trap, hole) ||
	    spawn(&r->dst, "--dest", n, present, 0) || r->dst.uffd < 0)
		return -1;
	return runs_add(&r->pages, r->dst.addr / ps, n);
}

static int rig_go(struct rig *r, struct lazy_cfg *cfg)
{
	cfg->uffd = r->dst.uffd;
	cfg->source = r->src.pid;
	cfg->src_delta = r->src.addr - r->dst.addr;
	cfg->pages = &r->pages;
	cfg->hook_arg = r;
	if (lazy_start(&r->lz, cfg))
		return -1;
	r->started = true;
	return 0;
}

/* The source first: closing its userfaultfd frees a read of the handler's still waiting there. */
static void rig_close(struct rig *r)
{
	reap(&r->src);
	if (r->started)
		lazy_free(&r->lz);
	reap(&r->dst);
	runs_free(&r->pages);
}

static void count_read(void *arg, unsigned int proc, const struct lazy_extent *v, size_t n)
{
	struct rig *r = arg;

	(void)proc;
	(void)v;
	(void)n;
	atomic_fetch_add(&r->reads_ok, 1);
}

/*
 * The reader fails first, the filler after it, with another message:
 * the first stays. Forced in that order: the filler's read of the source
 * waits on a page missing under a userfaultfd the test holds; meanwhile
 * a fault has the reader read a PROT_NONE page of the source (EFAULT);
 * then the page the filler waits on is unmapped and the filler woken,
 * and its read fails too (EFAULT, at another address).
 */
static void first_error_kept(struct tap *t)
{
	const uint64_t n = 64, trap = 32, fault = 40;
	struct lazy_cfg cfg = { .after_read = count_read };
	struct poller pl;
	struct uffd_msg msg;
	struct pollfd p;
	struct rig r;
	char what[WHAT_LEN], want[WHAT_LEN];
	uint64_t word;

	if (!own_uffd) {
		printf("# skipped: the filler's read would wait holding every thread (valgrind)\n");
		return;
	}
	CHECK(t, rig_open(&r, n, trap, trap, n) == 0);
	CHECK(t, r.src.uffd >= 0);
	if (r.src.uffd < 0) {
		rig_close(&r);
		return;
	}
	CHECK(t, rig_go(&r, &cfg) == 0);
	CHECK(t, poller_start(&pl, &r.lz) == 0);

	/* The filler's first chunk starts at page 0: its read waits there. */
	p = (struct pollfd){ .fd = r.src.uffd, .events = POLLIN };
	CHECK(t, poll(&p, 1, TIMEOUT_MS) == 1);
	CHECK(t, read(r.src.uffd, &msg, sizeof(msg)) == sizeof(msg));
	CHECK(t, msg.event == UFFD_EVENT_PAGEFAULT &&
	      (msg.arg.pagefault.address & ~(uint64_t)(ps - 1)) == r.src.addr);

	/* The destination faults on a page whose source is PROT_NONE: never answered. */
	CHECK(t, send_word(r.dst.sock, -1, cmd('T', fault, fault + 1)) == 0);
	CHECK(t, lazy_wait(&r.lz, TIMEOUT_MS, NULL) == -EFAULT);
	snprintf(want, sizeof(want), "reading the source (pid %d) at %#llx", (int)r.src.pid,
		 (unsigned long long)(r.src.addr + fault * ps));
	CHECK(t, lazy_error(&r.lz, what, sizeof(what)) == EFAULT);
	CHECK(t, !strcmp(what, want));

	/* Now the filler's read fails as well, and it reports it. */
	CHECK(t, send_word(r.src.sock, -1, cmd('U', 0, 0)) == 0);
	CHECK(t, recv_word(r.src.sock, &word, NULL, TIMEOUT_MS) == 0);
	CHECK(t, uffd_wake(r.src.uffd, r.src.addr, trap * ps) == 0);
	CHECK(t, lazy_stop(&r.lz) == -EFAULT);
	CHECK(t, atomic_load(&r.reads_ok) == 0);

	poller_stop(&pl);
	printf("# kept \"%s\"; %lu reads by the poller\n", what, pl.reads);
	CHECK(t, lazy_error(&r.lz, what, sizeof(what)) == EFAULT);
	CHECK(t, !strcmp(what, want));
	CHECK(t, !pl.incoherent);
	CHECK(t, pl.changes == 1 && pl.first_err == EFAULT && !strcmp(pl.first, want));
	rig_close(&r);
}

/*
 * The filler's second chunk is read: once faults were served too, the
 * source is killed. The filler still has pages to read (the destination
 * touches only the upper half), the destination goes on faulting: both
 * threads run into the dead source, and the one error they leave says so.
 */
static void kill_source(void *arg, unsigned int proc, const struct lazy_extent *v, size_t n)
{
	struct rig *r = arg;
	struct lazy_stats s;

	(void)proc;
	(void)v;
	(void)n;
	if (++r->hook_calls != 2)
		return;
	for (int i = 0; i < TIMEOUT_MS; i++) {
		lazy_get_stats(&r->lz, &s);
		if (s.fault_copied >= 8)
			break;
		usleep(1000);
	}
	kill(r->src.pid, SIGKILL);
	atomic_store(&r->killed, true);
}

static void source_dies_mid_copy(struct tap *t)
{
	const uint64_t n = 8192;
	struct lazy_cfg cfg = { .after_read = kill_source };
	struct lazy_stats s;
	struct poller pl;
	struct rig r;
	char what[WHAT_LEN], want[WHAT_LEN];
	int ret;

	CHECK(t, rig_open(&r, n, 0, n, n) == 0);
	CHECK(t, rig_go(&r, &cfg) == 0);
	CHECK(t, poller_start(&pl, &r.lz) == 0);
	CHECK(t, send_word(r.dst.sock, -1, cmd('T', n / 2, n)) == 0);
	ret = lazy_wait(&r.lz, TIMEOUT_MS, NULL);
	CHECK(t, ret == -ESRCH);
	CHECK(t, lazy_stop(&r.lz) == -ESRCH);
	/* Stopped, the filler is joined: its hook is over. */
	CHECK(t, atomic_load(&r.killed));
	poller_stop(&pl);
	lazy_get_stats(&r.lz, &s);
	printf("# source killed after %llu fault and %llu background copies; %lu reads by the "
	       "poller\n", (unsigned long long)s.fault_copied, (unsigned long long)s.bg_copied,
	       pl.reads);
	snprintf(want, sizeof(want), "the source process is gone (pid %d)", (int)r.src.pid);
	CHECK(t, lazy_error(&r.lz, what, sizeof(what)) == ESRCH);
	CHECK(t, !strcmp(what, want));
	CHECK(t, !pl.incoherent);
	CHECK(t, pl.changes == 1 && pl.first_err == ESRCH && !strcmp(pl.first, want));
	rig_close(&r);
}

/*
 * A background copy stopped short by a page the destination had already
 * (-EAGAIN with part copied): the filler goes on at once to find that
 * page there, and waits for no event: none is coming.
 */
static void short_copy_goes_on(struct tap *t)
{
	const uint64_t n = 64, present = 5;
	struct lazy_cfg cfg = { 0 };
	struct lazy_stats s;
	struct rig r;
	uint64_t bad = 1;

	CHECK(t, rig_open(&r, n, 0, n, present) == 0);
	CHECK(t, rig_go(&r, &cfg) == 0);
	CHECK(t, lazy_wait(&r.lz, TIMEOUT_MS, NULL) == LAZY_DONE);
	CHECK(t, send_word(r.dst.sock, -1, cmd('T', 0, n)) == 0);
	CHECK(t, recv_word(r.dst.sock, &bad, NULL, TIMEOUT_MS) == 0 && bad == 0);
	CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
	lazy_get_stats(&r.lz, &s);
	printf("# background %llu, eexist %llu, eagain %llu\n", (unsigned long long)s.bg_copied,
	       (unsigned long long)s.eexist, (unsigned long long)s.eagain);
	CHECK(t, s.bg_copied == n - 1 && s.eexist == 1);
	CHECK(t, s.eagain == 0);
	rig_close(&r);
}

int main(int argc, char **argv)
{
	struct tap t = { 0 };
	struct err e;
	int status, fd;
	pid_t probe;
	ssize_t n;

	ps = sysconf(_SC_PAGESIZE);
	if (argc == 2 && !strcmp(argv[1], "--probe")) {
		fd = uffd_open_events(&e);
		if (fd < 0)
			printf("# %s\n", e.msg);
		return fd < 0;
	}
	if (argc == 6 && !strcmp(argv[1], "--source"))
		return run_source(atoi(argv[2]), strtoull(argv[3], NULL, 0),
				  strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0));
	if (argc == 6 && !strcmp(argv[1], "--dest"))
		return run_dest(atoi(argv[2]), strtoull(argv[3], NULL, 0),
				strtoull(argv[4], NULL, 0));
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 2;
	self[n] = '\0';
	/* Asked of a child: valgrind has no userfaultfd, the exec'd children run natively. */
	probe = fork();
	if (!probe) {
		execl(self, self, "--probe", (char *)NULL);
		_exit(127);
	}
	if (probe < 0 || waitpid(probe, &status, 0) != probe || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		printf("1..0 # SKIP no userfaultfd with events here\n");
		return 0;
	}
	fd = uffd_open(0, &e);
	own_uffd = fd >= 0;
	if (own_uffd)
		close(fd);
	RUN(&t, first_error_kept);
	RUN(&t, source_dies_mid_copy);
	RUN(&t, short_copy_goes_on);
	return tap_done(&t);
}
