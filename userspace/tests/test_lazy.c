// SPDX-License-Identifier: GPL-2.0
/*
 * The lazy-pages handler against real processes: a source that wrote a
 * pattern and stopped, a destination that has the same mapping with the
 * lazy pages missing, registered with a userfaultfd that reports fork,
 * mremap, MADV_DONTNEED and munmap. The destination runs commands from
 * the test (touch, fork, mremap, discard, unmap, verify) while the
 * handler fills it, and says how many pages it found wrong.
 *
 * Source and destination are this program again (--source, --dest),
 * exec'd so that under valgrind, which has no userfaultfd, they run
 * natively while the handler runs under it (and LAZY_TEST_HELPER can
 * name a plain build for them when the test is built with TSan).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "lazy.h"
#include "proto.h"
#include "runs.h"
#include "uffd.h"
#include "tap.h"

#define BASE	0x340000000000ULL	/* the destination's region, above ASan's shadow */
#define DELTA	0x010000000000ULL	/* the source has it this much higher: src_delta */
#define MOVED	0x360000000000ULL	/* where the mremap case moves a part of it */
#define MAXP	8			/* processes the copy log follows */

enum { LAZY_MIXED, LAZY_ALL };
enum { ST_V1, ST_ZERO, ST_V2, ST_GONE };

static char self[PATH_MAX];
static long ps;

/* --- the pattern: a function of the page's original destination address --- */

static uint64_t word(uint64_t addr, unsigned int version)
{
	uint64_t x = addr * 0x9E3779B97F4A7C15ULL ^ version * 0xC2B2AE3D27D4EB4FULL;

	x ^= x >> 29;
	return x | 1;		/* never 0: a zero page never passes for data */
}

static void fill_page(void *p, uint64_t addr, unsigned int version)
{
	uint64_t *w = p;

	for (long i = 0; i < ps / 8; i++)
		w[i] = word(addr + 8 * i, version);
}

static bool page_is(const void *p, uint64_t addr, unsigned int version)
{
	const volatile uint64_t *w = p;

	for (long i = 0; i < ps / 8; i++)
		if (w[i] != (version ? word(addr + 8 * i, version) : 0))
			return false;
	return true;
}

/* Every 7th page, a range, and the tail: single pages and runs both. */
static void lazy_pages(uint64_t npages, int kind, struct runs *r)
{
	uint64_t base = BASE / ps;

	if (kind == LAZY_ALL) {
		runs_add(r, base, npages);
		return;
	}
	for (uint64_t p = 3; p < npages; p += 7)
		runs_add(r, base + p, 1);
	runs_add(r, base + 100, 80);
	runs_add(r, base + npages - 50, 50);
}

static uint64_t lazy_in(const struct runs *r, uint64_t first, uint64_t n)
{
	uint64_t c = 0;

	for (uint64_t p = first; p < first + n; p++)
		c += runs_contains(r, BASE / ps + p);
	return c;
}

static void shuffle(uint64_t *v, uint64_t n, unsigned int seed)
{
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = rand_r(&seed) % i, t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* --- the source --- */

static int run_source(uint64_t npages)
{
	char *m = mmap((void *)(BASE + DELTA), npages * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (m == MAP_FAILED)
		return 2;
	for (uint64_t p = 0; p < npages; p++)
		fill_page(m + p * ps, BASE + p * ps, 1);
	raise(SIGSTOP);
	for (;;)
		pause();
}

/* --- the destination --- */

struct cmd {
	uint32_t op;
	uint32_t pad;
	uint64_t a, b, c;	/* pages [a, a + b); c: a seed or a delay */
};

struct reply {
	int64_t bad;		/* pages found wrong, or -errno */
	int64_t x;
};

/* The rig's commands and replies ride in frames of lazyrestore's own protocol. */
#define RIG_CMD		PROTO_GO
#define RIG_REPLY	PROTO_VERDICT

struct dest {
	uint64_t npages;
	uint8_t *state;		/* per original page */
	uint64_t *addr;		/* where it is now */
	struct runs lazy;
};

static bool dest_page_ok(const struct dest *d, uint64_t i)
{
	const void *p = (const void *)d->addr[i];

	switch (d->state[i]) {
	case ST_V1:
		return page_is(p, BASE + i * ps, 1);
	case ST_V2:
		return page_is(p, BASE + i * ps, 2);
	case ST_ZERO:
		return page_is(p, 0, 0);
	default:
		return true;
	}
}

/* Every page (or the lazy ones) in an order of @seed's; 0: in address order. */
static int64_t dest_verify(const struct dest *d, bool lazy_only, unsigned int seed)
{
	uint64_t *v = malloc(d->npages * sizeof(*v)), n = 0;
	int64_t bad = 0;

	for (uint64_t i = 0; i < d->npages; i++)
		if (!lazy_only || runs_contains(&d->lazy, BASE / ps + i))
			v[n++] = i;
	if (seed)
		shuffle(v, n, seed);
	for (uint64_t k = 0; k < n; k++) {
		if (dest_page_ok(d, v[k]))
			continue;
		if (bad++ < 3)
			fprintf(stderr, "# dest %d: page %llu (state %d) at %#llx is wrong%s\n",
				(int)getpid(), (unsigned long long)v[k], d->state[v[k]],
				(unsigned long long)d->addr[v[k]],
				d->state[v[k]] != ST_ZERO && page_is((void *)d->addr[v[k]], 0, 0) ?
				" (zeros)" : d->state[v[k]] == ST_ZERO ? " (stale data)" : "");
	}
	free(v);
	return bad;
}

static void dest_cmd(struct dest *d, const struct cmd *c, struct reply *r)
{
	uint64_t start = d->addr[c->a], len = c->b * ps;

	switch (c->op) {
	case 'T':
		r->bad = dest_verify(d, true, c->c);
		break;
	case 'V':
		r->bad = dest_verify(d, false, c->c);
		break;
	case 'P':
		r->bad = !dest_page_ok(d, c->a);
		break;
	case 'F': {
		int status;
		pid_t pid;

		for (uint64_t until = now_ns() + c->b; now_ns() < until;)
			;
		pid = fork();
		if (!pid)
			_exit(dest_verify(d, false, c->c) ? 1 : 0);
		r->bad = dest_verify(d, false, c->c + 1);
		r->x = pid < 0 || waitpid(pid, &status, 0) != pid ? -1 :
		       WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
		break;
	}
	case 'M':
		for (uint64_t until = now_ns() + c->c; now_ns() < until;)
			;
		if (mremap((void *)start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
			   (void *)MOVED) == MAP_FAILED) {
			r->bad = -errno;
			break;
		}
		for (uint64_t i = c->a; i < c->a + c->b; i++)
			d->addr[i] = MOVED + (i - c->a) * ps;
		break;
	case 'D': {
		uint64_t until = now_ns() + c->c;

		while (now_ns() < until)
			;
		if (madvise((void *)start, len, MADV_DONTNEED)) {
			r->bad = -errno;
			break;
		}
		memset(&d->state[c->a], ST_ZERO, c->b);
		r->bad = 0;
		for (uint64_t i = c->a; i < c->a + c->b; i++)
			r->bad += !dest_page_ok(d, i);
		break;
	}
	case 'W':
		for (uint64_t i = c->a; i < c->a + c->b; i++) {
			fill_page((void *)d->addr[i], BASE + i * ps, 2);
			d->state[i] = ST_V2;
		}
		for (uint64_t i = c->a; i < c->a + c->b; i++)
			r->bad += !dest_page_ok(d, i);
		break;
	case 'U':
		if (munmap((void *)start, len)) {
			r->bad = -errno;
			break;
		}
		memset(&d->state[c->a], ST_GONE, c->b);
		break;
	default:
		r->bad = -EINVAL;
	}
}

static int run_dest(int sock, uint64_t npages, int kind)
{
	struct dest d = { .npages = npages, .lazy = RUNS_INIT };
	struct err e;
	char *m;
	int uffd;

	m = mmap((void *)BASE, npages * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	d.state = calloc(npages, 1);
	d.addr = calloc(npages, sizeof(*d.addr));
	if (m == MAP_FAILED || !d.state || !d.addr)
		return 2;
	/* A huge page would fill the lazy pages around the ones written, with zeros. */
	madvise(m, npages * ps, MADV_NOHUGEPAGE);
	lazy_pages(npages, kind, &d.lazy);
	for (uint64_t p = 0; p < npages; p++) {
		d.addr[p] = BASE + p * ps;
		if (!runs_contains(&d.lazy, BASE / ps + p))
			fill_page(m + p * ps, BASE + p * ps, 1);
	}
	uffd = uffd_open_events(&e);
	if (uffd < 0 || uffd_register_missing(uffd, BASE, npages * ps)) {
		fprintf(stderr, "# dest: %s\n", uffd < 0 ? e.msg : strerror(errno));
		return 2;
	}
	if (proto_send_fd(sock, PROTO_UFFD, uffd, NULL, 0, &e))
		return 2;
	close(uffd);
	for (;;) {
		struct cmd c;
		struct reply r = { 0, 0 };

		if (proto_recv(sock, RIG_CMD, &c, sizeof(c), 600000, NULL, &e))
			return 3;
		if (c.op == 'Q')
			break;
		dest_cmd(&d, &c, &r);
		if (proto_send(sock, RIG_REPLY, &r, sizeof(r), &e))
			return 3;
	}
	free(d.state);
	free(d.addr);
	runs_free(&d.lazy);
	return 0;
}

/* --- the test's side --- */

struct rig {
	uint64_t npages;
	int kind;
	pid_t src, dst;
	int sock, uffd;
	struct runs lazy;
	struct lazy lz;
	bool started;
	/* The copy log: per process, how often each source page was copied. */
	uint8_t *seen[MAXP];
	uint64_t dups, outside;
	/* inflight case */
	atomic_bool hook_fired, hook_ok;
	uint64_t hook_page;
	unsigned int slow_us;
};

static void log_copy(void *arg, unsigned int proc, uint64_t src, uint64_t len, bool fault)
{
	struct rig *r = arg;

	(void)fault;
	for (uint64_t a = src; a < src + len; a += ps) {
		uint64_t i = (a - BASE - DELTA) / ps;

		if (proc >= MAXP || a < BASE + DELTA || i >= r->npages) {
			r->outside++;
			continue;
		}
		if (!r->seen[proc])
			r->seen[proc] = calloc(r->npages, 1);
		if (r->seen[proc] && r->seen[proc][i]++)
			r->dups++;
	}
}

static pid_t spawn(const char *role, const char *a1, const char *a2, const char *a3)
{
	pid_t pid = fork();

	if (!pid) {
		execl(self, self, role, a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int rig_open(struct rig *r, uint64_t npages, int kind)
{
	char n[32], k[16], s[16];
	int sv[2], status;
	struct err e;

	memset(r, 0, sizeof(*r));
	r->npages = npages;
	r->kind = kind;
	r->uffd = r->sock = -1;
	lazy_pages(npages, kind, &r->lazy);
	snprintf(n, sizeof(n), "%llu", (unsigned long long)npages);
	snprintf(k, sizeof(k), "%d", kind);
	r->src = spawn("--source", n, NULL, NULL);
	if (r->src < 0 || waitpid(r->src, &status, WUNTRACED) != r->src || !WIFSTOPPED(status))
		return -1;
	/* The destination's end is inherited across exec, ours is not. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	snprintf(s, sizeof(s), "%d", sv[1]);
	r->dst = spawn("--dest", s, n, k);
	close(sv[1]);
	r->sock = sv[0];
	if (r->dst < 0)
		return -1;
	r->uffd = proto_recv_fd(r->sock, PROTO_UFFD, NULL, 0, 30000, &e);
	return r->uffd < 0 ? -1 : 0;
}

static int rig_go(struct rig *r, struct lazy_cfg *cfg)
{
	struct lazy_cfg def = { 0 };

	if (!cfg)
		cfg = &def;
	cfg->uffd = r->uffd;
	cfg->source = r->src;
	cfg->src_delta = DELTA;
	cfg->pages = &r->lazy;
	cfg->copied = log_copy;
	cfg->hook_arg = r;
	if (lazy_start(&r->lz, cfg))
		return -1;
	r->started = true;
	return 0;
}

static int rig_send(struct rig *r, int op, uint64_t a, uint64_t b, uint64_t c)
{
	struct cmd cmd = { .op = op, .a = a, .b = b, .c = c };
	struct err e;

	return proto_send(r->sock, RIG_CMD, &cmd, sizeof(cmd), &e);
}

/*
 * Until the destination waits on the handler (a fault or an event is
 * pending on its userfaultfd): what it does next happens before any page
 * is sent.
 */
static bool rig_pending(struct rig *r)
{
	struct pollfd p = { .fd = r->uffd, .events = POLLIN };

	return poll(&p, 1, 30000) == 1;
}

/* The destination's answer: pages it found wrong (or -errno); -1000: it did not answer. */
static int64_t rig_reply(struct rig *r, int64_t *x)
{
	struct reply rep;
	struct err e;

	if (proto_recv(r->sock, RIG_REPLY, &rep, sizeof(rep), 60000, NULL, &e)) {
		fprintf(stderr, "# rig: %s\n", e.msg);
		return -1000;
	}
	if (x)
		*x = rep.x;
	return rep.bad;
}

static int64_t rig_cmd(struct rig *r, int op, uint64_t a, uint64_t b, uint64_t c, int64_t *x)
{
	return rig_send(r, op, a, b, c) ? -1000 : rig_reply(r, x);
}

static void reap(pid_t *pid, bool kill_it)
{
	if (*pid <= 0)
		return;
	if (kill_it)
		kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

/* The destination quits (or is killed), the source is killed; 0: the destination exited 0. */
static int rig_close(struct rig *r)
{
	int status = -1, ret = 0;

	if (r->dst > 0) {
		rig_send(r, 'Q', 0, 0, 0);
		if (waitpid(r->dst, &status, 0) == r->dst)
			r->dst = 0;
		ret = WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
	}
	reap(&r->dst, true);
	reap(&r->src, true);
	if (r->started)
		lazy_free(&r->lz);
	if (r->uffd >= 0)
		close(r->uffd);
	if (r->sock >= 0)
		close(r->sock);
	runs_free(&r->lazy);
	for (int i = 0; i < MAXP; i++)
		free(r->seen[i]);
	return ret;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void print_stats(const char *name, const struct lazy_stats *s)
{
	printf("# %s: lazy %llu inherited %llu faults %llu "
	       "(copied %llu, in flight %llu, zero %llu) "
	       "background %llu dropped %llu abandoned %llu eexist %llu/%llu eagain %llu "
	       "events fork %llu remap %llu remove %llu unmap %llu procs %llu/%llu exited\n", name,
	       (unsigned long long)s->lazy, (unsigned long long)s->inherited,
	       (unsigned long long)s->faults, (unsigned long long)s->fault_copied,
	       (unsigned long long)s->fault_inflight, (unsigned long long)s->zero_pages,
	       (unsigned long long)s->bg_copied, (unsigned long long)s->dropped,
	       (unsigned long long)s->abandoned, (unsigned long long)s->eexist,
	       (unsigned long long)s->zero_eexist, (unsigned long long)s->eagain,
	       (unsigned long long)s->ev_fork, (unsigned long long)s->ev_remap,
	       (unsigned long long)s->ev_remove, (unsigned long long)s->ev_unmap,
	       (unsigned long long)s->procs_seen, (unsigned long long)s->procs_exited);
}

/* Every lazy page of every process went exactly one way, and none twice. */
static void check_books(struct tap *t, struct rig *r, const struct lazy_stats *s)
{
	CHECK(t, s->fault_copied + s->bg_copied + s->dropped + s->abandoned ==
		 s->lazy + s->inherited);
	CHECK(t, s->eexist == 0);
	CHECK(t, r->dups == 0);
	CHECK(t, r->outside == 0);
}

static bool wait_exited(struct rig *r, uint64_t n, struct lazy_stats *s)
{
	for (int i = 0; i < 300; i++) {
		lazy_get_stats(&r->lz, s);
		if (s->procs_exited >= n)
			return true;
		usleep(10000);
	}
	return false;
}

/* (a) lazy pages touched in random order while the background fills. */
static void faults_in_random_order(struct tap *t)
{
	struct rig r;
	struct lazy_stats s;
	uint64_t done_ns;
	int fds = count_fds();

	CHECK(t, rig_open(&r, 4096, LAZY_MIXED) == 0);
	/*
	 * Touching before the handler starts. Even that first fault may be
	 * served by the filler: its copy wakes the faulter and takes the
	 * message off the queue before the reader gets to read it.
	 */
	CHECK(t, rig_send(&r, 'T', 0, 0, 42) == 0);
	CHECK(t, rig_pending(&r));
	CHECK(t, rig_go(&r, NULL) == 0);
	CHECK(t, rig_reply(&r, NULL) == 0);
	CHECK(t, lazy_wait(&r.lz, 10000, &done_ns) == LAZY_DONE);
	CHECK(t, rig_cmd(&r, 'V', 0, 0, 0, NULL) == 0);
	CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
	lazy_get_stats(&r.lz, &s);
	print_stats("random faults", &s);
	printf("# fault latency p50 %.1f us p99 %.1f us (%llu samples)\n",
	       lazy_latency_percentile(&r.lz, 50) / 1e3, lazy_latency_percentile(&r.lz, 99) / 1e3,
	       (unsigned long long)s.nlat);
	check_books(t, &r, &s);
	/* The filler is quick: the touches meet it mostly on pages it has in flight. */
	CHECK(t, s.lazy == runs_pages(&r.lazy) && s.dropped == 0);
	CHECK(t, s.fault_copied + s.fault_inflight == s.faults && s.zero_pages == 0);
	CHECK(t, rig_close(&r) == 0);
	CHECK(t, count_fds() == fds);
}

/* No background fill: every lazy page comes by its fault, once. */
static void faults_only(struct tap *t)
{
	struct rig r;
	struct lazy_stats s;
	struct lazy_cfg cfg = { .faults_only = true };

	CHECK(t, rig_open(&r, 4096, LAZY_MIXED) == 0);
	CHECK(t, rig_go(&r, &cfg) == 0);
	CHECK(t, rig_cmd(&r, 'T', 0, 0, 43, NULL) == 0);
	CHECK(t, lazy_wait(&r.lz, 10000, NULL) == LAZY_DONE);
	CHECK(t, rig_cmd(&r, 'V', 0, 0, 0, NULL) == 0);
	CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
	lazy_get_stats(&r.lz, &s);
	print_stats("faults only", &s);
	printf("# fault latency p50 %.1f us p99 %.1f us (%llu samples)\n",
	       lazy_latency_percentile(&r.lz, 50) / 1e3, lazy_latency_percentile(&r.lz, 99) / 1e3,
	       (unsigned long long)s.nlat);
	check_books(t, &r, &s);
	CHECK(t, s.faults == s.lazy && s.fault_copied == s.lazy && s.bg_copied == 0);
	CHECK(t, s.nlat == s.lazy);
	CHECK(t, rig_close(&r) == 0);
}

/* (b) a child forked before the pages came misses them too, and gets its own. */
static void fork_child_gets_its_own_pages(struct tap *t)
{
	struct rig r;
	struct lazy_stats s;
	int64_t child = -1;

	CHECK(t, rig_open(&r, 2048, LAZY_MIXED) == 0);
	/* The fork waits for the handler to read its event: all lazy pages are still missing. */
	CHECK(t, rig_send(&r, 'F', 0, 0, 7) == 0);
	CHECK(t, rig_pending(&r));
	CHECK(t, rig_go(&r, NULL) == 0);
	CHECK(t, rig_reply(&r, &child) == 0);
	CHECK(t, child == 0);
	CHECK(t, lazy_wait(&r.lz, 10000, NULL) == LAZY_DONE);
	CHECK(t, wait_exited(&r, 1, &s));
	CHECK(t, rig_cmd(&r, 'V', 0, 0, 3, NULL) == 0);
	CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
	lazy_get_stats(&r.lz, &s);
	print_stats("fork", &s);
	check_books(t, &r, &s);
	CHECK(t, s.ev_fork == 1 && s.procs_seen == 2 && s.procs_exited == 1);
	CHECK(t, s.inherited == s.lazy && s.abandoned == 0);
	CHECK(t, !s.dest_exited);
	CHECK(t, rig_close(&r) == 0);
}

/* (b) again, the fork at a random moment of the fill: a chunk may be in flight. */
static void fork_race(struct tap *t)
{
	const char *env = getenv("LAZY_TEST_RACES");
	int iters = (env ? atoi(env) : 200) / 4, wrong = 0, it;
	unsigned int seed = 99;
	uint64_t inherited = 0;

	for (it = 0; it < iters; it++) {
		struct lazy_stats s;
		struct rig r;
		int64_t child = -1, bad;

		CHECK(t, rig_open(&r, 2048, LAZY_MIXED) == 0);
		CHECK(t, rig_go(&r, NULL) == 0);
		bad = rig_cmd(&r, 'F', 0, rand_r(&seed) % 1000000, it + 1, &child);
		CHECK(t, bad == 0 && child == 0);
		wrong += bad || child;
		CHECK(t, lazy_wait(&r.lz, 10000, NULL) == LAZY_DONE);
		CHECK(t, wait_exited(&r, 1, &s));
		CHECK(t, rig_cmd(&r, 'V', 0, 0, 0, NULL) == 0);
		CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
		lazy_get_stats(&r.lz, &s);
		check_books(t, &r, &s);
		CHECK(t, s.ev_fork == 1 && s.abandoned == 0);
		inherited += s.inherited;
		CHECK(t, rig_close(&r) == 0);
		if (t->case_failed) {
			it++;
			break;
		}
	}
	printf("# %d iterations: %d with wrong pages, %llu pages inherited in all\n", it, wrong,
	       (unsigned long long)inherited);
}

/* (c) a 2 MiB region with lazy pages moves; they arrive at its new place. */
static void mremap_moves_pages(struct tap *t, bool race)
{
	struct rig r;
	struct lazy_stats s;

	CHECK(t, rig_open(&r, 2048, LAZY_MIXED) == 0);
	if (race) {
		CHECK(t, rig_go(&r, NULL) == 0);
		CHECK(t, rig_cmd(&r, 'M', 512, 512, 0, NULL) == 0);
	} else {
		CHECK(t, rig_send(&r, 'M', 512, 512, 0) == 0);
		CHECK(t, rig_pending(&r));
		CHECK(t, rig_go(&r, NULL) == 0);
		CHECK(t, rig_reply(&r, NULL) == 0);
	}
	CHECK(t, rig_cmd(&r, 'V', 0, 0, 5, NULL) == 0);
	CHECK(t, lazy_wait(&r.lz, 10000, NULL) == LAZY_DONE);
	CHECK(t, rig_cmd(&r, 'V', 0, 0, 0, NULL) == 0);
	CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
	lazy_get_stats(&r.lz, &s);
	print_stats(race ? "mremap while filling" : "mremap before filling", &s);
	check_books(t, &r, &s);
	CHECK(t, s.ev_remap == 1 && s.dropped == 0);
	CHECK(t, rig_close(&r) == 0);
}

static void mremap_before_fill(struct tap *t)
{
	mremap_moves_pages(t, false);
}

static void mremap_during_fill(struct tap *t)
{
	mremap_moves_pages(t, true);
}

/* (d) discarded memory reads zeros, also after the background went over it. */
static void dontneed_reads_zeros(struct tap *t)
{
	struct rig r;
	struct lazy_stats s;

	CHECK(t, rig_open(&r, 2048, LAZY_MIXED) == 0);
	CHECK(t, rig_send(&r, 'D', 90, 200, 0) == 0);
	CHECK(t, rig_pending(&r));
	CHECK(t, rig_go(&r, NULL) == 0);
	CHECK(t, rig_reply(&r, NULL) == 0);
	CHECK(t, lazy_wait(&r.lz, 10000, NULL) == LAZY_DONE);
	CHECK(t, rig_cmd(&r, 'V', 0, 0, 0, NULL) == 0);
	CHECK(t, rig_cmd(&r, 'W', 90, 200, 0, NULL) == 0);
	CHECK(t, rig_cmd(&r, 'V', 0, 0, 9, NULL) == 0);
	CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
	lazy_get_stats(&r.lz, &s);
	print_stats("dontneed", &s);
	check_books(t, &r, &s);
	/* Discarded before anything was sent: every lazy page there is dropped. */
	CHECK(t, s.ev_remove == 1 && s.dropped == lazy_in(&r.lazy, 90, 200));
	/* The discarded lazy pages read as zeros, by fault: zero pages. */
	CHECK(t, s.zero_pages >= s.dropped);
	CHECK(t, rig_close(&r) == 0);
}

/*
 * (d) again, racing the background: the destination discards a range at a
 * random moment while the filler copies there. Stale data must never
 * come back: not right after the discard, not after completion.
 */
static void dontneed_race(struct tap *t)
{
	const char *env = getenv("LAZY_TEST_RACES");
	int iters = env ? atoi(env) : 200, stale = 0, dropped_some = 0, it;
	unsigned int seed = 1234;
	uint64_t dropped = 0, eagain = 0;

	for (it = 0; it < iters; it++) {
		uint64_t a = rand_r(&seed) % 192, b = 16 + rand_r(&seed) % 49;
		uint64_t delay = rand_r(&seed) % 300000;
		struct lazy_stats s;
		struct rig r;
		int64_t bad1, bad2, bad3;

		if (a + b > 256)
			b = 256 - a;
		CHECK(t, rig_open(&r, 256, LAZY_ALL) == 0);
		CHECK(t, rig_go(&r, NULL) == 0);
		bad1 = rig_cmd(&r, 'D', a, b, delay, NULL);
		CHECK(t, lazy_wait(&r.lz, 10000, NULL) == LAZY_DONE);
		bad2 = rig_cmd(&r, 'V', 0, 0, 0, NULL);
		bad3 = rig_cmd(&r, 'W', a, b, 0, NULL);
		if (!bad3)
			bad3 = rig_cmd(&r, 'V', 0, 0, 0, NULL);
		CHECK(t, bad1 == 0 && bad2 == 0 && bad3 == 0);
		stale += bad1 || bad2 || bad3;
		CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
		lazy_get_stats(&r.lz, &s);
		check_books(t, &r, &s);
		dropped += s.dropped;
		eagain += s.eagain;
		dropped_some += s.dropped > 0;
		CHECK(t, rig_close(&r) == 0);
		if (t->case_failed && stale) {
			it++;
			break;
		}
	}
	printf("# %d iterations: %d with wrong pages; %d dropped undelivered pages "
	       "(%llu in all), %llu copies put off for an event\n", it, stale, dropped_some,
	       (unsigned long long)dropped, (unsigned long long)eagain);
	/* Enough rounds hit the filler before it was done: the race was run. */
	if (iters >= 50)
		CHECK(t, dropped_some > 0);
}

/*
 * (c) again, racing the background: a part of a region the filler is
 * filling moves at a random moment. Every page must arrive where it is
 * now, none where it was.
 */
static void mremap_race(struct tap *t)
{
	const char *env = getenv("LAZY_TEST_RACES");
	int iters = env ? atoi(env) : 200, wrong = 0, it;
	unsigned int seed = 4321;
	uint64_t eagain = 0;

	for (it = 0; it < iters; it++) {
		/* Single lazy pages: one UFFDIO_COPY each, the filler is mostly in one. */
		uint64_t a = rand_r(&seed) % 1024, b = 64 + rand_r(&seed) % 449;
		uint64_t delay = rand_r(&seed) % 1000000;
		struct lazy_stats s;
		struct rig r;
		int64_t bad1, bad2;

		CHECK(t, rig_open(&r, 2048, LAZY_MIXED) == 0);
		CHECK(t, rig_go(&r, NULL) == 0);
		CHECK(t, rig_cmd(&r, 'M', a, b, delay, NULL) == 0);
		bad1 = rig_cmd(&r, 'V', 0, 0, it + 1, NULL);
		CHECK(t, lazy_wait(&r.lz, 10000, NULL) == LAZY_DONE);
		bad2 = rig_cmd(&r, 'V', 0, 0, 0, NULL);
		CHECK(t, bad1 == 0 && bad2 == 0);
		wrong += bad1 || bad2;
		CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
		lazy_get_stats(&r.lz, &s);
		check_books(t, &r, &s);
		CHECK(t, s.dropped == 0 && s.ev_remap == 1);
		eagain += s.eagain;
		CHECK(t, rig_close(&r) == 0);
		if (t->case_failed) {
			it++;
			break;
		}
	}
	printf("# %d iterations: %d with wrong pages, %llu copies put off for an event\n", it,
	       wrong, (unsigned long long)eagain);
}

/* (e) munmap: what the range still missed is dropped, the rest arrives. */
static void munmap_drops(struct tap *t)
{
	struct rig r;
	struct lazy_stats s;

	CHECK(t, rig_open(&r, 2048, LAZY_MIXED) == 0);
	CHECK(t, rig_send(&r, 'U', 1024, 256, 0) == 0);
	CHECK(t, rig_pending(&r));
	CHECK(t, rig_go(&r, NULL) == 0);
	CHECK(t, rig_reply(&r, NULL) == 0);
	CHECK(t, rig_cmd(&r, 'V', 0, 0, 11, NULL) == 0);
	CHECK(t, lazy_wait(&r.lz, 10000, NULL) == LAZY_DONE);
	CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
	lazy_get_stats(&r.lz, &s);
	print_stats("munmap", &s);
	check_books(t, &r, &s);
	CHECK(t, s.ev_unmap == 1 && s.dropped == lazy_in(&r.lazy, 1024, 256));
	CHECK(t, rig_close(&r) == 0);
}

/*
 * The filler has read a chunk and not copied it yet: the destination
 * faults on its last page. The fault must be left to the filler, whose
 * copy wakes the faulter: one copy, no EEXIST, no fault copy.
 */
static void inflight_hook(void *arg, unsigned int proc, const struct lazy_extent *v, size_t n)
{
	struct rig *r = arg;
	struct lazy_stats s;

	if (proc || atomic_exchange(&r->hook_fired, true))
		return;
	r->hook_page = (v[n - 1].dst + v[n - 1].len - ps - BASE) / ps;
	if (rig_send(r, 'P', r->hook_page, 1, 0))
		return;
	for (int i = 0; i < 2000; i++) {
		lazy_get_stats(&r->lz, &s);
		if (s.fault_inflight) {
			atomic_store(&r->hook_ok, true);
			return;
		}
		usleep(1000);
	}
}

static void fault_in_flight_served_once(struct tap *t)
{
	struct rig r;
	struct lazy_stats s;
	struct lazy_cfg cfg = { .after_read = inflight_hook };

	CHECK(t, rig_open(&r, 2048, LAZY_MIXED) == 0);
	CHECK(t, rig_go(&r, &cfg) == 0);
	for (int i = 0; i < 5000 && !atomic_load(&r.hook_fired); i++)
		usleep(1000);
	CHECK(t, atomic_load(&r.hook_fired));
	/* The faulter was woken, by the filler's copy, and read the right data. */
	CHECK(t, rig_reply(&r, NULL) == 0);
	CHECK(t, atomic_load(&r.hook_ok));
	CHECK(t, lazy_wait(&r.lz, 10000, NULL) == LAZY_DONE);
	CHECK(t, rig_cmd(&r, 'V', 0, 0, 0, NULL) == 0);
	CHECK(t, lazy_stop(&r.lz) == LAZY_DONE);
	lazy_get_stats(&r.lz, &s);
	print_stats("fault in flight", &s);
	check_books(t, &r, &s);
	CHECK(t, s.faults == 1 && s.fault_inflight == 1 && s.fault_copied == 0);
	CHECK(t, s.zero_pages == 0 && s.zero_eexist == 0);
	CHECK(t, s.bg_copied == s.lazy && s.nlat == 1);
	CHECK(t, r.seen[0] && r.seen[0][r.hook_page] == 1);
	CHECK(t, rig_close(&r) == 0);
}

static void slow_hook(void *arg, unsigned int proc, const struct lazy_extent *v, size_t n)
{
	struct rig *r = arg;

	(void)proc;
	(void)v;
	(void)n;
	usleep(r->slow_us);
}

/* Killed mid post-copy: a clean "destination exited", quickly, nothing left behind. */
static void dest_killed(struct tap *t)
{
	struct rig r;
	struct lazy_stats s;
	struct lazy_cfg cfg = { .after_read = slow_hook };
	int fds = count_fds();
	uint64_t t0;
	int ret;

	CHECK(t, rig_open(&r, 16384, LAZY_ALL) == 0);
	r.slow_us = 5000;
	CHECK(t, rig_go(&r, &cfg) == 0);
	CHECK(t, rig_send(&r, 'T', 0, 0, 5) == 0);
	usleep(30000);
	t0 = now_ns();
	kill(r.dst, SIGKILL);
	ret = lazy_wait(&r.lz, 1000, NULL);
	CHECK(t, ret == LAZY_DEST_EXITED);
	ret = lazy_stop(&r.lz);
	CHECK(t, ret == LAZY_DEST_EXITED);
	printf("# destination killed: handler ended %.1f ms later\n", (now_ns() - t0) / 1e6);
	CHECK(t, now_ns() - t0 < 1000000000ULL);
	lazy_get_stats(&r.lz, &s);
	print_stats("destination killed", &s);
	CHECK(t, s.dest_exited && s.procs_exited == 1 && s.abandoned > 0);
	check_books(t, &r, &s);
	reap(&r.dst, false);
	rig_close(&r);
	CHECK(t, count_fds() == fds);
}

/* The source gone: a failure that says so, not a hang. */
static void source_killed(struct tap *t)
{
	struct rig r;
	char what[128];
	uint64_t t0;
	pid_t src;
	int ret;

	CHECK(t, rig_open(&r, 2048, LAZY_MIXED) == 0);
	/* Killed and reaped: its pid names no process any more. */
	src = r.src;
	reap(&r.src, true);
	r.src = src;
	CHECK(t, rig_send(&r, 'P', 3, 1, 0) == 0);	/* page 3 is lazy */
	CHECK(t, rig_pending(&r));
	t0 = now_ns();
	CHECK(t, rig_go(&r, NULL) == 0);
	ret = lazy_wait(&r.lz, 5000, NULL);
	CHECK(t, ret == -ESRCH);
	CHECK(t, atomic_load(&r.lz.failed));
	CHECK(t, lazy_error(&r.lz, what, sizeof(what)) == ESRCH);
	printf("# source killed: \"%s\" after %.1f ms\n", what, (now_ns() - t0) / 1e6);
	CHECK(t, strstr(what, "the source process is gone") != NULL);
	/* Its fault will not be served: the caller stops the destination. */
	reap(&r.dst, true);
	CHECK(t, lazy_stop(&r.lz) == -ESRCH);
	r.src = 0;
	rig_close(&r);
}

int main(int argc, char **argv)
{
	struct tap t = { 0 };
	int status;
	pid_t probe;
	ssize_t n;

	ps = sysconf(_SC_PAGESIZE);
	if (argc == 2 && !strcmp(argv[1], "--probe")) {
		struct err e;
		int fd = uffd_open_events(&e);

		if (fd < 0)
			printf("# %s\n", e.msg);
		return fd < 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--source"))
		return run_source(strtoull(argv[2], NULL, 0));
	if (argc == 5 && !strcmp(argv[1], "--dest"))
		return run_dest(atoi(argv[2]), strtoull(argv[3], NULL, 0), atoi(argv[4]));
	/*
	 * LAZY_TEST_HELPER: another build of this test to run the source and
	 * the destination, for sanitizers (TSan) that refuse their fixed mappings.
	 */
	if (getenv("LAZY_TEST_HELPER")) {
		snprintf(self, sizeof(self), "%s", getenv("LAZY_TEST_HELPER"));
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return 2;
		self[n] = '\0';
	}
	/* Asked of a child: valgrind has no userfaultfd, the exec'd children run natively. */
	probe = spawn("--probe", NULL, NULL, NULL);
	if (probe < 0 || waitpid(probe, &status, 0) != probe || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		printf("1..0 # SKIP no userfaultfd with events here\n");
		return 0;
	}
	RUN(&t, faults_in_random_order);
	RUN(&t, faults_only);
	RUN(&t, fork_child_gets_its_own_pages);
	RUN(&t, mremap_before_fill);
	RUN(&t, mremap_during_fill);
	RUN(&t, dontneed_reads_zeros);
	RUN(&t, munmap_drops);
	RUN(&t, fault_in_flight_served_once);
	RUN(&t, dest_killed);
	RUN(&t, source_killed);
	RUN(&t, dontneed_race);
	RUN(&t, mremap_race);
	RUN(&t, fork_race);
	return tap_done(&t);
}
