// SPDX-License-Identifier: GPL-2.0
/*
 * dirty_track against a real process: a forked child B maps memory, arms
 * (or not) and writes pages on command; the parent A collects each round
 * and compares with what it told B to write. Root, for /proc/kpageflags.
 *
 * With --measure [MiB] it times a collect instead (not a test).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "dirty_track.h"
#include "procfs.h"
#include "runs.h"
#include "tap.h"

/* The tracker's errors as text, as these tests look at them. */
static int arm_why(const struct dirty_range *r, size_t n, char *why, size_t len)
{
	struct err e = { .code = 0 };
	int ret = dirty_track_arm(r, n, &e);

	snprintf(why, len, "%s", e.msg);
	return ret;
}

static int open_why(struct dirty_track *t, pid_t pid, bool armed, char *why, size_t len)
{
	struct err e = { .code = 0 };
	int ret = dirty_track_open(t, pid, armed, &e);

	snprintf(why, len, "%s", e.msg);
	return ret;
}

#define PS		4096UL
#define PMD		(2UL << 20)
#define NPAGES		2560		/* 10 MiB tracked */
#define THP_PAGES	1024		/* the first 4 MiB MADV_HUGEPAGE: two THPs */
#define TAIL		512		/* last 2 MiB: MADV_HUGEPAGE, untouched before arming */
#define MAXP		4096
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Pages B leaves alone before arming, and pages it only reads (zero page). */
static const uint32_t untouched[] = { 1300, 1301, 1900 };
static const uint32_t read_only[] = { 1400, 1401, 1950 };

enum op { OP_ARM, OP_WRITE, OP_READ, OP_DONTNEED, OP_WRITE_RANDOM, OP_EXIT };

struct cmd {
	int op;
	uint32_t n;
	uint32_t seed;
	uint64_t lo, hi;	/* OP_ARM: this range instead of the tracked mapping */
	uint32_t pages[MAXP];
};

struct reply {
	int ret;
	uint64_t base, len, side;	/* tracked mapping, and an unarmed one */
	uint64_t ns;
	char why[256];
};

struct child {
	pid_t pid;
	int sock;
	struct reply hello;
};

static bool listed(const uint32_t *v, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* Distinct pseudo-random pages of [0, npages), the same in A and B for a seed. */
static void random_pages(uint32_t *out, uint32_t n, uint32_t npages, uint32_t seed)
{
	unsigned char *seen = calloc(npages / 8 + 1, 1);

	for (uint32_t i = 0; i < n && seen; ) {
		uint32_t p = (uint32_t)(rand_r(&seed) ^ (uint32_t)rand_r(&seed) << 15) % npages;

		if (seen[p / 8] >> (p % 8) & 1)
			continue;
		seen[p / 8] |= 1 << (p % 8);
		out[i++] = p;
	}
	free(seen);
}

static void __attribute__((noreturn))
child_main(int sock, uint64_t npages, uint64_t thp_pages, uint64_t tail)
{
	uint64_t len = npages * PS;
	struct reply r = { .len = len };
	struct cmd *c = malloc(sizeof(*c));
	volatile char *p;
	char *raw, *side;
	int uffd = -1;

	/* PMD-aligned, so that the MADV_HUGEPAGE part is whole THPs. */
	raw = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	side = mmap(NULL, 16 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!c || raw == MAP_FAILED || side == MAP_FAILED)
		_exit(2);
	p = (char *)(((uintptr_t)raw + PMD - 1) & ~(PMD - 1));
	if (thp_pages)
		madvise((char *)p, thp_pages * PS, MADV_HUGEPAGE);
	if (tail)
		madvise((char *)p + (npages - tail) * PS, tail * PS, MADV_HUGEPAGE);
	for (uint64_t i = 0; i < npages - tail; i++) {
		if (listed(untouched, 3, i))
			continue;
		if (listed(read_only, 3, i))
			(void)p[i * PS];
		else
			p[i * PS] = 1;
	}
	memset(side, 1, 16 * PS);
	r.base = (uintptr_t)p;
	r.side = (uintptr_t)side;
	send(sock, &r, sizeof(r), 0);

	while (recv(sock, c, sizeof(*c), 0) > 0) {
		uint64_t t0 = now_ns();

		r.ret = 0;
		switch (c->op) {
		case OP_ARM: {
			struct dirty_range range = { r.base, r.base + len };

			if (c->hi)
				range = (struct dirty_range){ c->lo, c->hi };
			r.ret = arm_why(&range, 1, r.why, sizeof(r.why));
			if (r.ret >= 0)
				uffd = r.ret;
			break;
		}
		case OP_WRITE:
			for (uint32_t i = 0; i < c->n; i++)
				p[c->pages[i] * PS + c->pages[i] % PS]++;
			break;
		case OP_READ:
			for (uint32_t i = 0; i < c->n; i++)
				(void)p[c->pages[i] * PS];
			break;
		case OP_DONTNEED:
			for (uint32_t i = 0; i < c->n; i++)
				madvise((char *)p + c->pages[i] * PS, PS, MADV_DONTNEED);
			break;
		case OP_WRITE_RANDOM: {
			uint32_t *v = malloc(c->n * sizeof(*v));

			random_pages(v, c->n, npages, c->seed);
			for (uint32_t i = 0; i < c->n; i++)
				p[v[i] * PS]++;
			free(v);
			break;
		}
		case OP_EXIT:
			free(c);
			_exit(0);
		}
		r.ns = now_ns() - t0;
		send(sock, &r, sizeof(r), 0);
	}
	(void)uffd;	/* held open for B's whole life, as the parasite's would be */
	free(c);
	_exit(0);
}

/*
 * B is this program again, exec'ed: valgrind (3.19) has no userfaultfd()
 * and does not follow an exec by default, so B runs natively under it.
 * Valgrind answers readlink of /proc/self/exe with our path, but an exec
 * of it would be of valgrind itself.
 */
static int spawn(struct child *b, uint64_t npages, uint64_t thp_pages, uint64_t tail)
{
	char fd[16], np[24], tp[24], tl[24], exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int sv[2];

	if (n <= 0)
		return -errno;
	exe[n] = 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv))
		return -errno;
	fflush(stdout);		/* or a child's exit may flush our buffer too */
	b->pid = fork();
	if (b->pid < 0)
		return -errno;
	if (!b->pid) {
		snprintf(fd, sizeof(fd), "%d", sv[1]);
		snprintf(np, sizeof(np), "%llu", (unsigned long long)npages);
		snprintf(tp, sizeof(tp), "%llu", (unsigned long long)thp_pages);
		snprintf(tl, sizeof(tl), "%llu", (unsigned long long)tail);
		close(sv[0]);
		execl(exe, "test_dirty_track", "--child", fd, np, tp, tl, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	b->sock = sv[0];
	return recv(b->sock, &b->hello, sizeof(b->hello), 0) == sizeof(b->hello) ? 0 : -EIO;
}

/* One command; B's reply in *r (may be NULL). */
static int ask_arm(struct child *b, int op, const uint32_t *pages, uint32_t n, uint32_t seed,
		   uint64_t lo, uint64_t hi, struct reply *r)
{
	struct cmd *c = calloc(1, sizeof(*c));
	struct reply tmp;
	int ret = -EIO;

	if (!c || (pages && n > MAXP))
		goto out;
	c->op = op;
	c->n = n;
	c->seed = seed;
	c->lo = lo;
	c->hi = hi;
	if (pages)
		memcpy(c->pages, pages, n * sizeof(*pages));
	if (send(b->sock, c, sizeof(*c), 0) == sizeof(*c) &&
	    recv(b->sock, r ? r : &tmp, sizeof(tmp), 0) == sizeof(tmp))
		ret = 0;
out:
	free(c);
	return ret;
}

static int ask(struct child *b, int op, const uint32_t *pages, uint32_t n, uint32_t seed,
	       struct reply *r)
{
	return ask_arm(b, op, pages, n, seed, 0, 0, r);
}

static int reap(struct child *b)
{
	int status = -1;

	ask(b, OP_EXIT, NULL, 0, 0, NULL);	/* no reply: B is gone */
	close(b->sock);
	waitpid(b->pid, &status, 0);
	return status;
}

/* The pages @v of B's tracked mapping, as runs. */
static void expect(const struct child *b, const uint32_t *v, size_t n, struct runs *out)
{
	for (size_t i = 0; i < n; i++)
		runs_add(out, b->hello.base / PS + v[i], 1);
}

static bool same(const struct runs *a, const struct runs *b)
{
	return a->n == b->n && (!a->n || !memcmp(a->v, b->v, a->n * sizeof(*a->v)));
}

static void dump(const char *what, const struct child *b, const struct runs *r)
{
	printf("# %s:", what);
	for (size_t i = 0; i < r->n && i < 16; i++)
		printf(" %llu+%llu", (unsigned long long)(r->v[i].start - b->hello.base / PS),
		       (unsigned long long)r->v[i].len);
	printf("%s\n", r->n > 16 ? " ..." : "");
}

/* Collects all of B's tracked mapping and checks it is exactly @want. */
static void round_exact(struct tap *t, struct dirty_track *dt, const struct child *b,
			const uint32_t *want, size_t n)
{
	struct runs got = RUNS_INIT, exp = RUNS_INIT;

	expect(b, want, n, &exp);
	CHECK(t, dirty_track_collect(dt, b->hello.base, b->hello.base + b->hello.len, &got) == 0);
	CHECK(t, same(&got, &exp));
	if (!same(&got, &exp)) {
		dump("wanted", b, &exp);
		dump("got   ", b, &got);
	}
	runs_free(&got);
	runs_free(&exp);
}

/* PMD-mapped THP in pages [from, to) of B (smaps AnonHugePages), and large folios there. */
static void thp_state(const struct child *b, uint64_t from, uint64_t to, uint64_t *pmd_kb,
		      size_t *folios)
{
	uint64_t lo = b->hello.base + from * PS, hi = b->hello.base + to * PS, addrs[8];
	struct vma_info *v;
	size_t n;

	*pmd_kb = 0;
	v = proc_vmas(b->pid, lo, hi, &n);
	for (size_t i = 0; v && i < n; i++)
		*pmd_kb += v[i].anon_huge_kb;
	free(v);
	if (proc_huge_pmds(b->pid, lo, hi, addrs, 8, folios))
		*folios = 0;
}

#define RUN_OR_SKIP(t, fn) do {						\
	char skip_[256] = "";						\
	(t)->case_failed = 0;						\
	fn(t, skip_, sizeof(skip_));					\
	if (skip_[0] && !(t)->case_failed) {				\
		printf("ok %d %s # SKIP %s\n", ++(t)->n, #fn, skip_);	\
	} else {							\
		printf("%sok %d %s\n", (t)->case_failed ? "not " : "", ++(t)->n, #fn); \
		(t)->failed += (t)->case_failed;			\
	}								\
} while (0)

static void arm_rejects_bad_ranges(struct tap *t, char *skip, size_t len)
{
	struct dirty_range unaligned = { PS, 2 * PS + 1 };
	struct reply r = { 0 };
	struct child b;
	char why[256];

	/* Checked before any syscall, so also here, in A. */
	CHECK(t, arm_why(&unaligned, 1, why, sizeof(why)) == -EINVAL);
	CHECK(t, strstr(why, "page-aligned") != NULL);
	CHECK(t, spawn(&b, NPAGES, 0, 0) == 0);
	if (t->case_failed)
		return;
	/* Below any mmap(NULL): no VMA. */
	CHECK(t, ask_arm(&b, OP_ARM, NULL, 0, 0, 0x10000, 0x20000, &r) == 0);
	printf("# arm of an unmapped range: %d \"%s\"\n", r.ret, r.why);
	if (r.ret == -EOPNOTSUPP || r.ret == -ENOSYS) {
		snprintf(skip, len, "%s", r.why);
		goto out;
	}
	CHECK(t, r.ret == -EINVAL && strstr(r.why, "UFFDIO_REGISTER_MODE_WP [0x10000, 0x20000)"));
	CHECK(t, ask(&b, OP_ARM, NULL, 0, 0, &r) == 0 && r.ret >= 0);
	/* A second userfaultfd on the same range: the kernel allows one. */
	CHECK(t, ask(&b, OP_ARM, NULL, 0, 0, &r) == 0 && r.ret == -EBUSY);
	printf("# arm twice: %d \"%s\"\n", r.ret, r.why);
out:
	CHECK(t, WIFEXITED(reap(&b)));
}

static void wp_async_exact(struct tap *t, char *skip, size_t len)
{
	/* Singles inside both THPs, the last page, runs, pages new since arming. */
	static const uint32_t w1[] = { 3, 1023, 1024, 1100, 1101, 1500, 2047, 1300, 1400, 2055 };
	static const uint32_t r1[] = { 1301, 1401, 2100 };
	static const uint32_t w2[] = { 3, 5, 600, 1101, 1800 };
	static const uint32_t z2[] = { 1200 };		/* zapped: reads as zeroes now */
	static const uint32_t w2z[] = { 3, 5, 600, 1101, 1200, 1800 };
	static const uint32_t w3[] = { 10, 1030 };
	uint32_t *every_other = malloc(512 * sizeof(*every_other));
	struct dirty_track dt;
	struct child b;
	struct reply r = { 0 };
	uint64_t kb0, kb1, kb2, tail_kb;
	size_t f0, f1, f2, tail_f;
	char why[256];

	CHECK(t, every_other && spawn(&b, NPAGES, THP_PAGES, TAIL) == 0);
	if (t->case_failed)
		goto out_free;
	thp_state(&b, 0, THP_PAGES, &kb0, &f0);
	CHECK(t, ask(&b, OP_ARM, NULL, 0, 0, &r) == 0);
	if (r.ret < 0) {
		snprintf(skip, len, "%s", r.why);
		goto out;
	}
	/* Between B's arming and A's open: open restarts the tracking. */
	ask(&b, OP_WRITE, w3, 2, 0, NULL);
	CHECK(t, open_why(&dt, b.pid, true, why, sizeof(why)) == 0);
	if (t->case_failed)
		goto out;
	CHECK(t, !strcmp(dirty_track_method(&dt), "uffd-wp-async") && !why[0]);
	thp_state(&b, 0, THP_PAGES, &kb1, &f1);

	/* Written, read, never touched before arming or written before open: none counts. */
	round_exact(t, &dt, &b, NULL, 0);
	ask(&b, OP_READ, r1, ARRAY_SIZE(r1), 0, NULL);
	round_exact(t, &dt, &b, NULL, 0);

	ask(&b, OP_WRITE, w1, ARRAY_SIZE(w1), 0, NULL);
	ask(&b, OP_READ, r1, ARRAY_SIZE(r1), 0, NULL);
	thp_state(&b, 0, THP_PAGES, &kb2, &f2);
	thp_state(&b, NPAGES - TAIL, NPAGES, &tail_kb, &tail_f);
	round_exact(t, &dt, &b, w1, ARRAY_SIZE(w1));
	/* The markers fill its page table: the first write there faults a 4 KiB page. */
	CHECK(t, tail_kb == 0);
	printf("# untouched MADV_HUGEPAGE block after a write in it: AnonHugePages %llu kB, "
	       "large folios %zu\n", (unsigned long long)tail_kb, tail_f);
	printf("# THP part: AnonHugePages %llu kB before arming, %llu kB armed, %llu kB after "
	       "one 4 KiB write in each THP; large folios there %zu, %zu, %zu\n",
	       (unsigned long long)kb0, (unsigned long long)kb1, (unsigned long long)kb2,
	       f0, f1, f2);
	if (!kb0)
		printf("# no THP obtained: the THP part was tested as small pages only\n");

	/* Round 2: nothing of round 1 unless written again; a zapped page counts. */
	ask(&b, OP_WRITE, w2, ARRAY_SIZE(w2), 0, NULL);
	ask(&b, OP_DONTNEED, z2, 1, 0, NULL);
	round_exact(t, &dt, &b, w2z, ARRAY_SIZE(w2z));
	round_exact(t, &dt, &b, NULL, 0);

	/* One round in two collects: WP is per page, so any split is exact. */
	{
		struct runs lo = RUNS_INIT, hi = RUNS_INIT, e = RUNS_INIT;
		uint64_t mid = b.hello.base + 1027 * PS;

		ask(&b, OP_WRITE, w3, 2, 0, NULL);
		CHECK(t, dirty_track_collect(&dt, b.hello.base, mid, &lo) == 0);
		CHECK(t, dirty_track_collect(&dt, mid, b.hello.base + b.hello.len, &hi) == 0);
		expect(&b, w3, 1, &e);
		CHECK(t, same(&lo, &e));
		runs_free(&e);
		expect(&b, w3 + 1, 1, &e);
		CHECK(t, same(&hi, &e));
		runs_free(&lo);
		runs_free(&hi);
		runs_free(&e);
	}

	/* More regions than a call returns: walk_end carries the scan on. */
	{
		uint64_t calls = dt.ioctls;

		for (uint32_t i = 0; i < 512; i++)
			every_other[i] = 1024 + 2 * i;
		ask(&b, OP_WRITE, every_other, 512, 0, NULL);
		dt.vec_len = 7;
		round_exact(t, &dt, &b, every_other, 512);
		CHECK(t, dt.ioctls - calls >= 512 / 7);
		printf("# 512 regions, 7 per call: %llu PAGEMAP_SCAN calls\n",
		       (unsigned long long)(dt.ioctls - calls));
		dt.vec_len = DIRTY_TRACK_VEC;
		calls = dt.ioctls;
		ask(&b, OP_WRITE, every_other, 512, 0, NULL);
		round_exact(t, &dt, &b, every_other, 512);
		printf("# 512 regions, %d per call: %llu PAGEMAP_SCAN calls\n", DIRTY_TRACK_VEC,
		       (unsigned long long)(dt.ioctls - calls));
	}

	/* Errors, not crashes. */
	{
		struct runs out = RUNS_INIT;

		CHECK(t, dirty_track_collect(&dt, b.hello.base + 1, b.hello.base + PS, &out) ==
		      -EINVAL);
		CHECK(t, dirty_track_collect(&dt, 0x10000, 0x20000, &out) == -ENOENT);
		CHECK(t, dirty_track_collect(&dt, b.hello.side, b.hello.side + 16 * PS, &out) ==
		      -EPERM);
		CHECK(t, out.n == 0);
		CHECK(t, WIFEXITED(reap(&b)));
		b.pid = 0;
		CHECK(t, dirty_track_collect(&dt, b.hello.base, b.hello.base + b.hello.len, &out) ==
		      -ESRCH);
		runs_free(&out);
	}
	printf("# %llu collects, %llu PAGEMAP_SCAN calls, %llu pages, %.3f ms\n",
	       (unsigned long long)dt.scans, (unsigned long long)dt.ioctls,
	       (unsigned long long)dt.pages, dt.ns / 1e6);
	dirty_track_close(&dt);
out:
	if (b.pid)
		reap(&b);
out_free:
	free(every_other);
}

/* Pages of @r inside B's THP part, and the rest. */
static void split_thp(const struct child *b, const struct runs *r, struct runs *in,
		      struct runs *out)
{
	struct runs thp = RUNS_INIT;

	runs_add(&thp, b->hello.base / PS, THP_PAGES);
	runs_intersect(r, &thp, in);
	runs_subtract(r, &thp, out);
	runs_free(&thp);
}

/* Collected must hold every written page; beyond them, only pages of THPs. */
static void round_superset(struct tap *t, struct dirty_track *dt, const struct child *b,
			   const uint32_t *want, size_t n)
{
	struct runs got = RUNS_INIT, exp = RUNS_INIT, missing = RUNS_INIT, extra = RUNS_INIT;
	struct runs in = RUNS_INIT, rest = RUNS_INIT;

	expect(b, want, n, &exp);
	CHECK(t, dirty_track_collect(dt, b->hello.base, b->hello.base + b->hello.len, &got) == 0);
	runs_subtract(&exp, &got, &missing);
	runs_subtract(&got, &exp, &extra);
	split_thp(b, &extra, &in, &rest);
	CHECK(t, missing.n == 0);
	CHECK(t, rest.n == 0);
	printf("# soft-dirty round: %llu written, %llu reported, %llu of them extra in THPs\n",
	       (unsigned long long)runs_pages(&exp), (unsigned long long)runs_pages(&got),
	       (unsigned long long)runs_pages(&in));
	runs_free(&got);
	runs_free(&exp);
	runs_free(&missing);
	runs_free(&extra);
	runs_free(&in);
	runs_free(&rest);
}

/* Past a tracker's last round: no VMA is -ENOENT, and once B is reaped, -ESRCH. */
static void ends_cleanly(struct tap *t, struct dirty_track *dt, struct child *b)
{
	struct runs out = RUNS_INIT;

	CHECK(t, dirty_track_collect(dt, 0x10000, 0x20000, &out) == -ENOENT);
	CHECK(t, WIFEXITED(reap(b)));
	b->pid = 0;
	CHECK(t, dirty_track_collect(dt, b->hello.base, b->hello.base + b->hello.len, &out) ==
	      -ESRCH);
	runs_free(&out);
}

/*
 * A tracker of B by soft-dirty even where the kernel keeps no soft-dirty
 * bits: opened armed (B's pages are there to read), then only the method
 * is forced, with the clear_refs fd an unarmed open would have taken.
 */
static int open_forced_soft_dirty(struct dirty_track *dt, const struct child *b)
{
	char why[256];

	if (open_why(dt, b->pid, true, why, sizeof(why)))
		return -1;
	dt->method = DIRTY_SOFT_DIRTY;
	snprintf(why, sizeof(why), "/proc/%d/clear_refs", (int)b->pid);
	dt->clear_refs_fd = open(why, O_WRONLY | O_CLOEXEC);
	if (dt->clear_refs_fd < 0) {
		dirty_track_close(dt);
		return -1;
	}
	return 0;
}

static void soft_dirty_superset(struct tap *t, char *skip, size_t len)
{
	static const uint32_t w1[] = { 3, 1023, 1024, 1100, 1101, 1500, 2047, 1300, 1400 };
	static const uint32_t w2[] = { 3, 5, 1101, 1800 };
	struct dirty_track dt;
	struct child b;
	char why[256];
	int ret;

	CHECK(t, spawn(&b, NPAGES, THP_PAGES, TAIL) == 0);
	if (t->case_failed)
		return;
	/* Not armed: soft-dirty, or a named reason why not. */
	ret = open_why(&dt, b.pid, false, why, sizeof(why));
	if (ret == -EOPNOTSUPP) {
		CHECK(t, strstr(why, "soft-dirty") && strstr(why, "not armed"));
		snprintf(skip, len, "%s", why);
		goto out;
	}
	CHECK(t, ret == 0 && !strcmp(dirty_track_method(&dt), "soft-dirty"));
	if (t->case_failed)
		goto out;
	round_superset(t, &dt, &b, NULL, 0);
	ask(&b, OP_WRITE, w1, ARRAY_SIZE(w1), 0, NULL);
	round_superset(t, &dt, &b, w1, ARRAY_SIZE(w1));
	ask(&b, OP_WRITE, w2, ARRAY_SIZE(w2), 0, NULL);
	round_superset(t, &dt, &b, w2, ARRAY_SIZE(w2));
	ends_cleanly(t, &dt, &b);
	dirty_track_close(&dt);
out:
	if (b.pid)
		reap(&b);
}

/*
 * Where the kernel keeps no soft-dirty bits, the soft-dirty code still runs:
 * a tracker forced to it reads pagemap and writes clear_refs through the
 * held fds, reports nothing (bit 55 never set) and -ESRCH once B is gone.
 */
static void soft_dirty_plumbing(struct tap *t, char *skip, size_t len)
{
	static const uint32_t w[] = { 3, 1500 };
	struct runs out = RUNS_INIT;
	struct dirty_track dt;
	struct child b;
	char why[256];
	int ret;

	CHECK(t, spawn(&b, NPAGES, THP_PAGES, TAIL) == 0);
	if (t->case_failed)
		return;
	ret = open_why(&dt, b.pid, false, why, sizeof(why));
	if (ret != -EOPNOTSUPP) {
		snprintf(skip, len, "soft-dirty works here: soft_dirty_superset covers it");
		if (!ret)
			dirty_track_close(&dt);
		goto out;
	}
	CHECK(t, open_forced_soft_dirty(&dt, &b) == 0);
	if (t->case_failed)
		goto out;
	ask(&b, OP_WRITE, w, ARRAY_SIZE(w), 0, NULL);
	CHECK(t, dirty_track_collect(&dt, b.hello.base, b.hello.base + b.hello.len, &out) == 0);
	CHECK(t, out.n == 0);
	runs_free(&out);
	ends_cleanly(t, &dt, &b);
	dirty_track_close(&dt);
out:
	if (b.pid)
		reap(&b);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Not a test: collect time over @mib MiB, 1/32 of it written as scattered
 * 4 KiB pages, against a soft-dirty style read of the same pagemap.
 */
static int measure(uint64_t mib, bool thp)
{
	enum { ROUNDS = 11 };
	uint64_t npages = mib << 8, dirty = npages / 32, wp[ROUNDS], sd[ROUNDS];
	uint64_t t0, empty;
	struct dirty_track dt, sdt;
	struct child b;
	struct reply r;
	char why[256];
	int ret;

	if (spawn(&b, npages, thp ? npages : 0, 0))
		return 1;
	{
		uint64_t kb = 0;
		size_t n;
		struct vma_info *v = proc_vmas(b.pid, b.hello.base, b.hello.base + b.hello.len, &n);

		for (size_t i = 0; v && i < n; i++)
			kb += v[i].anon_huge_kb;
		free(v);
		printf("AnonHugePages of the mapping before arming: %llu kB\n",
		       (unsigned long long)kb);
	}
	ask(&b, OP_ARM, NULL, 0, 0, &r);
	if (r.ret < 0) {
		printf("arm: %s\n", r.why);
		reap(&b);
		return 1;
	}
	printf("%llu MiB%s, %llu pages written per round; arm took %.2f ms in B\n",
	       (unsigned long long)mib, thp ? " (MADV_HUGEPAGE)" : "",
	       (unsigned long long)dirty, r.ns / 1e6);
	t0 = now_ns();
	ret = open_why(&dt, b.pid, true, why, sizeof(why));
	printf("open (re-protects all): %.2f ms\n", (now_ns() - t0) / 1e6);
	if (ret || open_forced_soft_dirty(&sdt, &b)) {
		printf("open: %s\n", ret ? why : "a soft-dirty tracker beside it failed");
		if (!ret)
			dirty_track_close(&dt);
		reap(&b);
		return 1;
	}
	for (int i = 0; i < ROUNDS; i++) {
		struct runs out = RUNS_INIT;
		uint64_t calls = dt.ioctls;

		ask(&b, OP_WRITE_RANDOM, NULL, dirty, 1000 + i, &r);
		t0 = now_ns();
		ret = dirty_track_collect(&dt, b.hello.base, b.hello.base + b.hello.len, &out);
		wp[i] = now_ns() - t0;
		if (ret || runs_pages(&out) != dirty)
			printf("round %d: ret %d, %llu pages\n", i, ret,
			       (unsigned long long)runs_pages(&out));
		printf("round %2d: B's writes %6.2f ms, collect %6.3f ms in %llu PAGEMAP_SCAN "
		       "calls (%zu runs)\n", i, r.ns / 1e6, wp[i] / 1e6,
		       (unsigned long long)(dt.ioctls - calls), out.n);
		runs_free(&out);

		/* Where bit 55 is never set, the pagemap read and clear_refs are the cost. */
		t0 = now_ns();
		dirty_track_collect(&sdt, b.hello.base, b.hello.base + b.hello.len, &out);
		sd[i] = now_ns() - t0;
		runs_free(&out);
	}
	{
		struct runs out = RUNS_INIT;

		t0 = now_ns();
		dirty_track_collect(&dt, b.hello.base, b.hello.base + b.hello.len, &out);
		empty = now_ns() - t0;
		runs_free(&out);
	}
	qsort(wp, ROUNDS, 8, cmp_u64);
	qsort(sd, ROUNDS, 8, cmp_u64);
	printf("median of %d: PAGEMAP_SCAN collect %.3f ms (min %.3f, max %.3f); "
	       "with nothing written %.3f ms\n", ROUNDS, wp[ROUNDS / 2] / 1e6, wp[0] / 1e6,
	       wp[ROUNDS - 1] / 1e6, empty / 1e6);
	printf("median of %d: soft-dirty collect (pagemap read + clear_refs 4) %.3f ms "
	       "(min %.3f, max %.3f)\n", ROUNDS, sd[ROUNDS / 2] / 1e6, sd[0] / 1e6,
	       sd[ROUNDS - 1] / 1e6);
	{
		struct runs out = RUNS_INIT;
		uint32_t *v = malloc(dirty * sizeof(*v));

		/* What soft-dirty adds on top when its bits are set: the runs. */
		random_pages(v, dirty, npages, 1);
		qsort(v, dirty, sizeof(*v), cmp_u32);
		t0 = now_ns();
		for (uint64_t i = 0; i < dirty; i++)
			runs_add(&out, b.hello.base / PS + v[i], 1);
		printf("runs_add of %llu pages in pagemap order would add < %.3f ms\n",
		       (unsigned long long)dirty, (now_ns() - t0) / 1e6);
		free(v);
		runs_free(&out);
	}
	dirty_track_close(&sdt);
	dirty_track_close(&dt);
	reap(&b);
	return 0;
}

int main(int argc, char **argv)
{
	struct tap t = { 0 };

	if (argc > 5 && !strcmp(argv[1], "--child"))
		child_main(atoi(argv[2]), strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
			   strtoull(argv[5], NULL, 0));
	if (argc > 1 && !strcmp(argv[1], "--measure"))
		return measure(argc > 2 ? strtoull(argv[2], NULL, 0) : 1024,
			       argc > 3 && !strcmp(argv[3], "thp"));
	RUN_OR_SKIP(&t, arm_rejects_bad_ranges);
	RUN_OR_SKIP(&t, wp_async_exact);
	RUN_OR_SKIP(&t, soft_dirty_superset);
	RUN_OR_SKIP(&t, soft_dirty_plumbing);
	return tap_done(&t);
}
