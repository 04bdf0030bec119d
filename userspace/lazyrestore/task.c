// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "numa_policy.h"
#include "task.h"
#include "thp_advice.h"
#include "workload.h"

/* Between the page, its generation and the pending mark: a freeze may fall anywhere. */
#define ORDERED() __atomic_signal_fence(__ATOMIC_SEQ_CST)

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t next_rng(struct task_state *s)
{
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t page_addr(const struct task_state *s, uint64_t i)
{
	int v = 0;

	while (v < s->nvma - 1 && i >= s->vma_pages[v])
		i -= s->vma_pages[v++];
	return s->vma_start[v] + i * getpagesize();
}

uint64_t task_hot_addr(const struct task_state *s, uint64_t k)
{
	return page_addr(s, s->state_pages + k * s->stride + mix(k) % s->stride);
}

/* Is page @i (of the layout) hot, and which one? */
static bool hot_index(const struct task_state *s, uint64_t i, uint64_t *k)
{
	uint64_t d, b;

	if (i < s->state_pages)
		return false;
	d = i - s->state_pages;
	b = d / s->stride;
	if (b >= s->hot || d % s->stride != mix(b) % s->stride)
		return false;
	*k = b;
	return true;
}

uint64_t task_phys(const struct task_state *s, uint64_t logical)
{
	if (s->moved_len && logical >= s->moved_from && logical < s->moved_from + s->moved_len)
		return s->moved_to + (logical - s->moved_from);
	return logical;
}

static uint32_t expected_gen(const struct task_state *s, uint64_t i, uint64_t addr)
{
	uint64_t k;

	if (hot_index(s, i, &k))
		return s->gen[k];
	return addr >= s->zeroed_start && addr < s->zeroed_end ? TASK_GEN_ZERO : 0;
}

/* Every word of a page is a function of its address, generation and place. */
static void expect(struct task_verdict *v, uint64_t phys, uint64_t logical, uint32_t gen)
{
	const uint64_t *w = (const uint64_t *)phys;
	long n = getpagesize() / 8, i;
	bool zero = true;

	v->checked++;
	for (i = 0; i < n; i++)
		if (w[i] != (gen == TASK_GEN_ZERO ? 0 : page_word(logical, gen, i)))
			break;
	if (i == n)
		return;
	for (i = 0; i < n && zero; i++)
		zero = !w[i];
	if (!v->wrong)
		v->first_bad = logical;
	v->wrong++;
	v->zero += zero;
}

static void write_page(uint64_t phys, uint64_t logical, uint32_t gen)
{
	uint64_t *w = (uint64_t *)phys;
	long n = getpagesize() / 8;

	for (long i = 0; i < n; i++)
		w[i] = page_word(logical, gen, i);
}

static void rewrite(struct task_state *s, uint64_t k, uint32_t gen)
{
	uint64_t a = task_hot_addr(s, k);

	s->pending_gen = gen;
	ORDERED();
	s->pending = k + 1;
	ORDERED();
	write_page(task_phys(s, a), a, gen);
	ORDERED();
	s->gen[k] = gen;
	ORDERED();
	s->pending = 0;
}

void task_step(struct task_state *s)
{
	uint64_t a, i;

	if (s->hot) {
		uint64_t k = next_rng(s) % s->hot;
		uint32_t g = s->gen[k];

		/* Read before write: a page lost or stale in the restore shows here. */
		a = task_hot_addr(s, k);
		expect(&s->v, task_phys(s, a), a, g);
		rewrite(s, k, g == TASK_GEN_ZERO || g + 1 == TASK_GEN_ZERO ? 1 : g + 1);
	}
	/* And one page in address order, hot or not, so that no hole goes unseen for long. */
	i = s->sweep;
	s->sweep = i + 1 < s->npages ? i + 1 : s->state_pages;
	a = page_addr(s, i);
	expect(&s->v, task_phys(s, a), a, expected_gen(s, i, a));
	s->steps++;
}

void task_check_all(struct task_state *s)
{
	for (uint64_t i = s->state_pages; i < s->npages; i++) {
		uint64_t a = page_addr(s, i);

		expect(&s->v, task_phys(s, a), a, expected_gen(s, i, a));
	}
}

uint64_t task_hot_pages(const struct layout *l, unsigned int permille, uint64_t hot_bytes)
{
	uint64_t ps = getpagesize(), pages = 0;

	for (int i = 0; i < l->n; i++)
		pages += (l->vma[i].end - l->vma[i].start) / ps;
	return hot_bytes ? hot_bytes / ps : pages * permille / 1000;
}

int task_map(const struct layout *l, uint64_t hot_pages, struct err *e)
{
	uint64_t ps = getpagesize(), pages = 0, state_bytes;
	struct task_state *s = task_of(l);

	for (int i = 0; i < l->n; i++) {
		const struct vma_rec *v = &l->vma[i];

		if (mmap((void *)v->start, v->end - v->start, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != (void *)v->start) {
			return err_sys(e, "task: mmap at %#llx", (unsigned long long)v->start);
		}
		if (madvise_advice(v->start, v->end - v->start, v->thp))
			return err_sys(e, "task: madvise");
		if (numa_apply(v))
			return err_sys(e, "task: mbind %s", numa_policy_name(v->mpol));
		s->vma_start[i] = v->start;
		s->vma_pages[i] = (v->end - v->start) / ps;
		pages += s->vma_pages[i];
	}
	state_bytes = sizeof(*s) + hot_pages * sizeof(s->gen[0]);
	s->nvma = l->n;
	s->npages = pages;
	s->state_pages = (state_bytes + ps - 1) / ps;
	if (s->state_pages >= s->vma_pages[0] ||
	    hot_pages > pages - s->state_pages) {
		fprintf(stderr, "lazyrestore: task: %llu hot pages do not fit in %llu pages\n",
			(unsigned long long)hot_pages, (unsigned long long)pages);
		return -1;
	}
	s->magic = TASK_MAGIC;
	s->rng = mix(l->seed) | 1;
	s->hot = hot_pages;
	s->stride = hot_pages ? (pages - s->state_pages) / hot_pages : 1;
	s->sweep = s->state_pages;
	for (uint64_t i = s->state_pages; i < pages; i++) {
		uint64_t a = page_addr(s, i);

		write_page(a, a, 0);
	}
	return 0;
}

/* The child a running task forks in post-copy: its own copy, checked by itself. */
static int fork_checker(struct task_state *s, uint64_t steps, pid_t *pid, int *fd)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	*pid = fork();
	if (*pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (*pid == 0) {
		close(p[0]);
		memset(&s->v, 0, sizeof(s->v));
		for (uint64_t i = 0; i < steps; i++)
			task_step(s);
		task_check_all(s);
		_exit(write(p[1], &s->v, sizeof(s->v)) == sizeof(s->v) ? 0 : 1);
	}
	close(p[1]);
	*fd = p[0];
	return 0;
}

static int reap_checker(pid_t pid, int fd, struct task_verdict *out)
{
	struct task_verdict cv;
	int status, ret = 0;

	if (read(fd, &cv, sizeof(cv)) != sizeof(cv))
		ret = -EPIPE;
	close(fd);
	/* Its verdict is what counts; a checker under valgrind exits with valgrind's status. */
	if (waitpid(pid, &status, 0) != pid || WIFSIGNALED(status))
		ret = ret ? ret : -ECHILD;
	if (!ret) {
		out->child_checked = cv.checked;
		out->child_wrong = cv.wrong;
		out->child_zero = cv.zero;
	}
	return ret;
}

/* Away past the layout's end, where nothing else is mapped. */
static int move_away(struct task_state *s)
{
	int last = s->nvma - 1;
	uint64_t ps = getpagesize(), len = s->vma_pages[last] / 2 * ps;
	uint64_t end = s->vma_start[last] + s->vma_pages[last] * ps;
	void *to = (void *)(end + 64 * PMD_BYTES);

	s->moved_from = end - len;
	s->moved_to = (uint64_t)to;
	if (mremap((void *)s->moved_from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to) != to)
		return -errno;
	s->moved_len = len;
	return 0;
}

static int move_back(struct task_state *s)
{
	void *from = (void *)s->moved_from;

	if (mremap((void *)s->moved_to, s->moved_len, s->moved_len,
		   MREMAP_MAYMOVE | MREMAP_FIXED, from) != from)
		return -errno;
	s->moved_len = 0;
	return 0;
}

/* The end of the first VMA, away from the state: it reads as zeros from now on. */
static int discard(struct task_state *s)
{
	uint64_t ps = getpagesize(), bytes = s->vma_pages[0] * ps;
	uint64_t len = bytes / 4 < PMD_BYTES ? bytes / 4 : PMD_BYTES;
	uint64_t start = s->vma_start[0] + bytes - len;

	if (madvise((void *)start, len, MADV_DONTNEED))
		return -errno;
	s->zeroed_start = start;
	s->zeroed_end = start + len;
	for (uint64_t a = start; a < start + len; a += ps) {
		uint64_t i = (a - s->vma_start[0]) / ps, k;

		if (hot_index(s, i, &k))
			s->gen[k] = TASK_GEN_ZERO;
	}
	return 0;
}

int task_resume(struct task_state *s, const struct task_plan *p, struct task_verdict *out)
{
	uint64_t part = p->steps / 8, done = 0;
	pid_t child = 0;
	int fd = -1, ret = 0;

	memset(&s->v, 0, sizeof(s->v));
	memset(out, 0, sizeof(*out));
	if (s->magic != TASK_MAGIC) {
		/* The state page itself was lost: nothing else can be trusted. */
		out->wrong = out->zero = 1;
		out->first_bad = (uint64_t)s;
		return 0;
	}
	if (s->pending)
		rewrite(s, s->pending - 1, s->pending_gen);
	/* The actions come early: the lazy pages they touch are mostly still to come. */
	for (int phase = 0; !ret && phase < 8; phase++) {
		if (p->actions && phase == 1)
			ret = fork_checker(s, part, &child, &fd);
		else if (p->actions && phase == 2)
			ret = move_away(s);
		else if (p->actions && phase == 3)
			ret = discard(s);
		else if (p->actions && phase == 5 && s->moved_len)
			ret = move_back(s);
		uint64_t n = phase == 7 ? p->steps - done : part;

		for (uint64_t i = 0; i < n; i++, done++)
			task_step(s);
	}
	if (child > 0) {
		int r = reap_checker(child, fd, out);

		ret = ret ? ret : r;
	}
	task_check_all(s);
	out->checked = s->v.checked;
	out->wrong = s->v.wrong;
	out->zero = s->v.zero;
	out->first_bad = s->v.first_bad;
	out->steps = done;
	out->discarded = (s->zeroed_end - s->zeroed_start) / getpagesize();
	out->error = ret;
	return ret;
}
