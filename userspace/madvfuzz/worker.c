// SPDX-License-Identifier: GPL-2.0
/* A worker's operations on its arena, each followed by the model's checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "server.h"
#include "uffd.h"
#include "worker.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define PMD_PAGES(w) ((size_t)(2UL << 20) / (size_t)(w)->a.ps)

const char *const fuzz_op_name[OP_N] = {
#define X(op, name, weight) [OP_##op] = name,
	FUZZ_OPS(X)
#undef X
};

static const unsigned int op_weight[OP_N] = {
#define X(op, name, weight) [OP_##op] = weight,
	FUZZ_OPS(X)
#undef X
};

uint64_t fuzz_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t below(struct worker *w, size_t n)
{
	return n ? fuzz_rand(&w->rng) % n : 0;
}

static struct page_model *pg(struct worker *w, size_t p)
{
	return &w->a.pg[p];
}

static void *addr_of(struct worker *w, size_t p)
{
	return (void *)(uintptr_t)arena_addr(&w->a, p);
}

/* A violation: said with the seed and the operation that showed it, and every worker stops. */
static int violation(struct worker *w, const char *op, size_t start, size_t len,
		     const struct finding *f)
{
	/* A child's is counted once, by its parent's finding on its exit. */
	if (!w->child)
		atomic_fetch_add(&w->cnt->violations, 1);
	fprintf(stderr, "madvfuzz: VIOLATION seed %llu worker %u%s op %lu (%s %#lx +%zu pages): %s",
		(unsigned long long)w->cfg->seed, w->a.id, w->child ? " (forked child)" : "",
		w->opno, op, (unsigned long)arena_addr(&w->a, start), len, f->what);
	if (f->n > 1)
		fprintf(stderr, " (and %u more)", f->n - 1);
	fputc('\n', stderr);
	atomic_store(w->stop, true);
	return 1;
}

/* Pages [start, start + len) of the pagemap into w->pm: 0, or -1 said in @f. */
static int read_pagemap(struct worker *w, size_t start, size_t len, struct finding *f)
{
	ssize_t want = len * sizeof(uint64_t);

	if (pread(w->pagemap, w->pm, want, arena_addr(&w->a, start) / w->a.ps * sizeof(uint64_t)) ==
	    want)
		return 0;
	finding_add(f, "reading /proc/self/pagemap: %s", strerror(errno));
	return -1;
}

/* The kernel against the model: VMAs, the page table, every readable page's contents. */
static void check_all(struct worker *w, struct finding *f)
{
	struct arena *a = &w->a;
	struct vma_info *v;
	size_t n, nvmas;

	errno = 0;
	v = proc_vmas(getpid(), a->base, arena_addr(a, a->npages), &n);
	/* NULL is "no VMA there" too: said as the read's failure where there is an errno. */
	if (!v && errno) {
		for (size_t p = 0; p < a->npages; p++)
			if (pg(w, p)->state != P_UNMAPPED) {
				finding_add(f, "/proc/self/smaps has no VMA in the arena (%s)",
					    strerror(errno));
				return;
			}
	}
	model_check_vmas(a, v, n, f, &nvmas);
	free(v);
	if (read_pagemap(w, 0, a->npages, f))
		return;
	model_check_lazy(a, w->pm, f);
	for (size_t p = 0; p < a->npages; p++) {
		const struct page_model *m = pg(w, p);

		if (m->state == P_FILLED && !(w->pm[p] & (PM_PRESENT | PM_SWAP)))
			finding_add(f, "page %#lx: filled, but neither present nor swapped",
				    (unsigned long)arena_addr(a, p));
		/* A hole is read only where it is mapped already: a read would map the zero page. */
		if ((m->state == P_FILLED || (m->state == P_ZERO && (w->pm[p] & PM_PRESENT))) &&
		    (m->prot & PROT_READ) &&
		    pattern_check(addr_of(w, p), a->ps, a->id, m->state == P_FILLED ? m->key : 0, false))
			finding_add(f, "page %#lx: does not hold %s", (unsigned long)arena_addr(a, p),
				    m->state == P_FILLED ? "its last pattern" : "zeros");
	}
	if (atomic_load(&w->server_bad))
		finding_add(f, "%s", w->server_what);
}

/*
 * A range of 1 to 2 PMDs' worth of pages, half of them (all, @aligned)
 * PMD-aligned: without those the arena splits into VMAs too small for
 * any collapse.
 */
static void pick_range(struct worker *w, bool aligned, size_t *start, size_t *len)
{
	size_t np = w->a.npages, pmd = PMD_PAGES(w);

	switch (aligned ? 2 : below(w, 4)) {
	case 0:
		*start = below(w, np);
		*len = 1 + below(w, 16);
		break;
	case 1:
		*start = below(w, np);
		*len = 1 + below(w, pmd);
		break;
	default:
		*start = below(w, np / pmd) * pmd;
		*len = pmd * (1 + below(w, 2));
		break;
	}
	if (*start + *len > np)
		*len = np - *start;
}

/* The stretch around a random page of @want: mapped (true) or not. False when there is none. */
static bool pick_stretch(struct worker *w, bool want, size_t *s, size_t *e)
{
	size_t np = w->a.npages, p = below(w, np);

	for (size_t i = 0; i < np; i++, p = (p + 1) % np) {
		if ((pg(w, p)->state != P_UNMAPPED) != want)
			continue;
		*s = *e = p;
		while (*s > 0 && (pg(w, *s - 1)->state != P_UNMAPPED) == want)
			(*s)--;
		while (*e < np && (pg(w, *e)->state != P_UNMAPPED) == want)
			(*e)++;
		return true;
	}
	return false;
}

/* A sub-range of [s, e): at most @max pages. */
static void pick_within(struct worker *w, size_t s, size_t e, size_t max, size_t *start,
			size_t *len)
{
	*len = 1 + below(w, e - s < max ? e - s : max);
	*start = s + below(w, e - s - *len + 1);
}

/* Up to 2 PMDs' worth of the stretch around a random page, mapped or not. False: none. */
static bool pick_in_stretch(struct worker *w, bool mapped, size_t *start, size_t *len)
{
	size_t s, e;

	if (!pick_stretch(w, mapped, &s, &e))
		return false;
	pick_within(w, s, e, 2 * PMD_PAGES(w), start, len);
	return true;
}

static bool range_mapped(struct worker *w, size_t start, size_t len)
{
	for (size_t p = start; p < start + len; p++)
		if (pg(w, p)->state == P_UNMAPPED)
			return false;
	return true;
}

static void expect_rc(struct finding *f, const char *call, int rc, int want_errno)
{
	int got = rc ? errno : 0;

	if (got != want_errno)
		finding_add(f, "%s: %s, expected %s", call, got ? strerror(got) : "success",
			    want_errno ? strerror(want_errno) : "success");
}

static void write_page(struct worker *w, size_t p)
{
	struct page_model *m = pg(w, p);
	uint32_t key = arena_new_key(&w->a);

	pattern_fill(addr_of(w, p), w->a.ps, w->a.id, key);
	m->state = P_FILLED;
	m->key = key;
}

static void new_mapping(struct worker *w, size_t start, size_t len)
{
	uint32_t seg = w->a.next_seg++;

	for (size_t p = start; p < start + len; p++)
		*pg(w, p) = (struct page_model){ .state = P_ZERO, .prot = PROT_READ | PROT_WRITE,
						 .seg = seg };
	/*
	 * One anon_vma for the whole mapping before anything splits it:
	 * pieces faulted first apart could not merge again.
	 */
	write_page(w, start);
}

static int op_mmap(struct worker *w, size_t *start, size_t *len, struct finding *f)
{
	size_t s, e, pmd = PMD_PAGES(w);
	void *want, *got;

	if (!pick_stretch(w, false, &s, &e))
		return 1;
	pick_within(w, s, e, 2 * pmd, start, len);
	/* Half of them whole PMDs where the hole has one. */
	if (below(w, 2) && (s + pmd - 1) / pmd * pmd + pmd <= e) {
		*start = (s + pmd - 1) / pmd * pmd;
		*len = pmd;
	}
	want = addr_of(w, *start);
	got = mmap(want, *len * w->a.ps, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (got != want) {
		finding_add(f, "mmap at %p: %s", want, got == MAP_FAILED ? strerror(errno) : "elsewhere");
		if (got != MAP_FAILED)
			munmap(got, *len * w->a.ps);
		return 0;
	}
	new_mapping(w, *start, *len);
	return 0;
}

static void op_munmap(struct worker *w, size_t start, size_t len, struct finding *f)
{
	expect_rc(f, "munmap", munmap(addr_of(w, start), len * w->a.ps), 0);
	for (size_t p = start; p < start + len; p++)
		*pg(w, p) = (struct page_model){ 0 };
}

static void op_fill(struct worker *w, size_t start, size_t len)
{
	for (size_t p = start; p < start + len; p++)
		if (pg(w, p)->state != P_UNMAPPED && (pg(w, p)->prot & PROT_WRITE) && below(w, 2))
			write_page(w, p);
}

static void op_read(struct worker *w, size_t start, size_t len, struct finding *f)
{
	for (size_t p = start; p < start + len; p++) {
		struct page_model *m = pg(w, p);
		uint32_t key = m->state == P_ZERO ? 0 : m->key;

		if (m->state == P_UNMAPPED || !(m->prot & PROT_READ) || !below(w, 2))
			continue;
		if (pattern_check(addr_of(w, p), w->a.ps, w->a.id, key, true))
			finding_add(f, "page %#lx reads other than the %s the model says",
				    (unsigned long)arena_addr(&w->a, p),
				    m->state == P_LAZY ? "lazy content served" :
				    key ? "pattern written" : "zeros");
		if (m->state == P_LAZY)
			m->state = P_FILLED;
	}
}

static int madvise_expect(struct worker *w, size_t start, size_t len, int advice, const char *name,
			  struct finding *f)
{
	bool all = range_mapped(w, start, len);
	int rc = madvise(addr_of(w, start), len * w->a.ps, advice);

	expect_rc(f, name, rc, all ? 0 : ENOMEM);
	return rc;
}

static void op_dontneed(struct worker *w, size_t start, size_t len, struct finding *f)
{
	madvise_expect(w, start, len, MADV_DONTNEED, "MADV_DONTNEED", f);
	for (size_t p = start; p < start + len; p++) {
		struct page_model *m = pg(w, p);

		if (m->state == P_UNMAPPED)
			continue;
		/* A zapped registered page faults to the server again. */
		m->state = m->uffd ? P_LAZY : P_ZERO;
		m->key = m->uffd ? arena_new_key(&w->a) : 0;
	}
}

static void op_advise(struct worker *w, size_t start, size_t len, int advice, int adv,
		      const char *name, struct finding *f)
{
	madvise_expect(w, start, len, advice, name, f);
	for (size_t p = start; p < start + len; p++)
		if (pg(w, p)->state != P_UNMAPPED)
			pg(w, p)->adv = adv;
}

static void op_collapse(struct worker *w, size_t start, size_t len, struct finding *f)
{
	size_t pmd = PMD_PAGES(w), hs = (start + pmd - 1) / pmd * pmd, he = (start + len) / pmd * pmd;
	bool any_nh = false;
	int rc;

	for (size_t p = start; p < start + len; p++)
		any_nh |= pg(w, p)->state != P_UNMAPPED && pg(w, p)->adv == ADV_NH;
	/*
	 * Each VMA is refused with EINVAL if it is VM_NOHUGEPAGE, and the walk
	 * stops at the first VMA refused: one such page fails the call.
	 */
	rc = madvise(addr_of(w, start), len * w->a.ps, MADV_COLLAPSE);
	if (!rc && any_nh)
		finding_add(f, "MADV_COLLAPSE succeeded on a range with VM_NOHUGEPAGE pages");
	if (!rc && he > hs)
		atomic_fetch_add(&w->cnt->collapsed, (he - hs) / pmd);
	if (rc)
		atomic_fetch_add(&w->cnt->collapse_err[errno == EINVAL ? 0 : errno == EAGAIN ? 1 :
						       errno == ENOMEM ? 2 : errno == EBUSY ? 3 : 4], 1);
}

static const int prots[] = { PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ, PROT_NONE };

static int op_mprotect(struct worker *w, size_t *start, size_t *len, int *prot,
		       struct finding *f)
{
	if (!pick_in_stretch(w, true, start, len))
		return 1;
	*prot = prots[below(w, 4)];
	expect_rc(f, "mprotect", mprotect(addr_of(w, *start), *len * w->a.ps, *prot), 0);
	for (size_t p = *start; p < *start + *len; p++)
		pg(w, p)->prot = *prot;
	return 0;
}

/* Part of one VMA (by the model) moved into a hole: a mapping of its own there. */
static int op_mremap(struct worker *w, size_t *start, size_t *len, size_t *dst,
		     struct finding *f)
{
	size_t s, e, hs, he, np = w->a.npages, p = below(w, np);
	uint32_t seg = w->a.next_seg++;
	void *got;

	for (size_t i = 0; i < np && pg(w, p)->state == P_UNMAPPED; i++)
		p = (p + 1) % np;
	if (pg(w, p)->state == P_UNMAPPED)
		return 1;
	s = e = p;
	while (s > 0 && pg(w, s - 1)->state != P_UNMAPPED && pg(w, s - 1)->seg == pg(w, p)->seg &&
	       same_vma_flags(pg(w, s - 1), pg(w, p)))
		s--;
	while (e < np && pg(w, e)->state != P_UNMAPPED && pg(w, e)->seg == pg(w, p)->seg &&
	       same_vma_flags(pg(w, e), pg(w, p)))
		e++;
	pick_within(w, s, e, 2 * PMD_PAGES(w), start, len);
	if (!pick_stretch(w, false, &hs, &he) || he - hs < *len)
		return 1;
	*dst = hs + below(w, he - hs - *len + 1);
	got = mremap(addr_of(w, *start), *len * w->a.ps, *len * w->a.ps,
		     MREMAP_MAYMOVE | MREMAP_FIXED, addr_of(w, *dst));
	if (got != addr_of(w, *dst)) {
		finding_add(f, "mremap to %p: %s", addr_of(w, *dst),
			    got == MAP_FAILED ? strerror(errno) : "elsewhere");
		return 0;
	}
	for (size_t i = 0; i < *len; i++) {
		struct page_model m = *pg(w, *start + i);

		/* No UFFD_FEATURE_EVENT_REMAP: the moved VMA is no longer registered. */
		if (m.state == P_LAZY)
			m.state = P_ZERO;
		m.uffd = 0;
		m.key = m.state == P_FILLED ? m.key : 0;
		m.seg = seg;
		*pg(w, *dst + i) = m;
		*pg(w, *start + i) = (struct page_model){ 0 };
	}
	return 0;
}

static int op_register(struct worker *w, size_t *start, size_t *len, struct finding *f)
{
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };

	if (!pick_in_stretch(w, true, start, len))
		return 1;
	reg.range.start = arena_addr(&w->a, *start);
	reg.range.len = *len * w->a.ps;
	if (ioctl(w->uffd, UFFDIO_REGISTER, &reg)) {
		finding_add(f, "UFFDIO_REGISTER: %s", strerror(errno));
		return 0;
	}
	/* Registered first, then looked at: from here on nothing fills a hole but the server. */
	if (read_pagemap(w, *start, *len, f))
		return 0;
	for (size_t i = 0; i < *len; i++) {
		struct page_model *m = pg(w, *start + i);

		m->uffd = 1;
		if (m->state != P_ZERO)
			continue;
		if (w->pm[i] & (PM_PRESENT | PM_SWAP)) {
			atomic_fetch_add(&w->cnt->populated_before_register, 1);
			continue;
		}
		m->state = P_LAZY;
		m->key = arena_new_key(&w->a);
	}
	return 0;
}

static int op_unregister(struct worker *w, size_t *start, size_t *len, struct finding *f)
{
	struct uffdio_range r;

	if (!pick_in_stretch(w, true, start, len))
		return 1;
	r.start = arena_addr(&w->a, *start);
	r.len = *len * w->a.ps;
	expect_rc(f, "UFFDIO_UNREGISTER", ioctl(w->uffd, UFFDIO_UNREGISTER, &r), 0);
	for (size_t p = *start; p < *start + *len; p++) {
		struct page_model *m = pg(w, p);

		m->uffd = 0;
		if (m->state == P_LAZY) {
			m->state = P_ZERO;
			m->key = 0;
		}
	}
	return 0;
}

static int run_ops(struct worker *w, unsigned long n);

static void op_fork(struct worker *w, struct finding *f)
{
	uint64_t child_seed = fuzz_rand(&w->rng);
	unsigned long n = 10 + below(w, 40);
	int status;
	pid_t pid;

	if (w->trace)
		fflush(w->trace);
	pid = fork();
	if (pid < 0) {
		finding_add(f, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		w->child = true;
		w->rng = child_seed;
		w->opno = 0;
		w->server_started = false;
		/* The fd opened /proc/self of the parent. */
		close(w->pagemap);
		w->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (w->pagemap < 0)
			_exit(2);
		model_after_fork(&w->a);
		status = run_ops(w, n);
		if (w->trace)
			fflush(w->trace);
		_exit(status ? 1 : 0);
	}
	atomic_fetch_add(&w->cnt->children, 1);
	if (waitpid(pid, &status, 0) != pid)
		finding_add(f, "waitpid: %s", strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		finding_add(f, "the forked child %s %d (its finding is above)",
			    WIFEXITED(status) ? "exited" : "was killed by signal",
			    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static enum fuzz_op pick_op(struct worker *w)
{
	unsigned int total = 0, r;

	for (int op = 0; op < OP_N; op++)
		total += op_weight[op];
	r = below(w, total);
	for (int op = 0; op < OP_N; op++) {
		if (r < op_weight[op])
			return op;
		r -= op_weight[op];
	}
	return OP_READ;
}

/* Operations a forked child (one thread, no server) or a kernel without CLR leaves out. */
static bool op_allowed(struct worker *w, enum fuzz_op op)
{
	if (op == OP_CLR && !w->cfg->clr)
		return false;
	if (op == OP_FORK && !w->cfg->fork_children)
		return false;
	return !w->child || (op != OP_FORK && op != OP_REGISTER && op != OP_UNREGISTER &&
			     op != OP_PRCTL);
}

/* One operation and the checks after it: 0, or 1 after a violation. */
static int step(struct worker *w)
{
	struct finding f = { 0 };
	enum fuzz_op op;
	size_t start = 0, len = 0, dst = 0;
	int arg = 0, skipped = 0;

	do
		op = pick_op(w);
	while (!op_allowed(w, op));
	if (op != OP_MMAP && op != OP_MPROTECT && op != OP_MREMAP && op != OP_REGISTER &&
	    op != OP_UNREGISTER)
		pick_range(w, op == OP_COLLAPSE, &start, &len);
	switch (op) {
	case OP_MMAP: skipped = op_mmap(w, &start, &len, &f); break;
	case OP_MUNMAP: op_munmap(w, start, len, &f); break;
	case OP_FILL: op_fill(w, start, len); break;
	case OP_READ: op_read(w, start, len, &f); break;
	case OP_DONTNEED: op_dontneed(w, start, len, &f); break;
	case OP_HUGEPAGE:
		op_advise(w, start, len, MADV_HUGEPAGE, ADV_HG, "MADV_HUGEPAGE", &f);
		break;
	case OP_NOHUGEPAGE:
		op_advise(w, start, len, MADV_NOHUGEPAGE, ADV_NH, "MADV_NOHUGEPAGE", &f);
		break;
	case OP_CLR:
		op_advise(w, start, len, MADV_CLR_HUGEPAGE, ADV_NONE, "MADV_CLR_HUGEPAGE", &f);
		break;
	case OP_COLLAPSE: op_collapse(w, start, len, &f); break;
	case OP_MPROTECT: skipped = op_mprotect(w, &start, &len, &arg, &f); break;
	case OP_MREMAP: skipped = op_mremap(w, &start, &len, &dst, &f); break;
	case OP_FORK: op_fork(w, &f); break;
	case OP_REGISTER: skipped = op_register(w, &start, &len, &f); break;
	case OP_UNREGISTER: skipped = op_unregister(w, &start, &len, &f); break;
	case OP_PRCTL:
		/* On a quarter of the time: MADV_COLLAPSE fails for all while it is. */
		arg = !below(w, 4);
		expect_rc(&f, "PR_SET_THP_DISABLE", prctl(PR_SET_THP_DISABLE, arg, 0, 0, 0), 0);
		break;
	case OP_N: break;
	}
	w->opno++;
	atomic_fetch_add(skipped ? &w->cnt->skipped[op] : &w->cnt->ops[op], 1);
	if (w->trace)
		fprintf(w->trace, "%s%lu %s %zu +%zu %d %zu\n", w->child ? "  child " : "",
			w->opno, fuzz_op_name[op], start, len, arg, dst);
	if (!f.n)
		check_all(w, &f);
	return f.n ? violation(w, fuzz_op_name[op], start, len, &f) : 0;
}

/* @n operations, or until the deadline or another worker's violation when @n is 0. */
static int run_ops(struct worker *w, unsigned long n)
{
	for (unsigned long i = 0; !n || i < n; i++) {
		if (atomic_load(w->stop) || (!w->child && now_ms() / 1e3 > w->deadline))
			break;
		if (step(w))
			return 1;
	}
	return 0;
}

void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->result = run_ops(w, w->cfg->max_ops);
	return NULL;
}

int worker_init(struct worker *w, const struct fuzz_cfg *cfg, struct fuzz_counts *cnt,
		unsigned int id, uint64_t base, atomic_bool *stop, double deadline)
{
	struct finding f = { 0 };
	long ps = sysconf(_SC_PAGESIZE);
	size_t np = cfg->arena_pages, third = np / 3, n;
	char why[160];

	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->cnt = cnt;
	w->stop = stop;
	w->deadline = deadline;
	w->uffd = w->pagemap = w->stop_pipe[0] = w->stop_pipe[1] = -1;
	/* Each worker's own stream: worker K replays alone (--only K) as in the full run. */
	w->rng = cfg->seed ^ (0x5851f42d4c957f2dULL * (id + 1));
	if (arena_init(&w->a, id, base, np, ps) || !(w->pm = calloc(np, sizeof(uint64_t))) ||
	    !(w->page = aligned_alloc(ps, ps))) {
		fprintf(stderr, "madvfuzz: worker %u: out of memory\n", id);
		return -1;
	}
	w->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (w->pagemap < 0) {
		fprintf(stderr, "madvfuzz: /proc/self/pagemap: %s\n", strerror(errno));
		return -1;
	}
	w->uffd = uffd_create(why, sizeof(why));
	if (w->uffd < 0) {
		fprintf(stderr, "madvfuzz: userfaultfd: %s\n", why);
		return -1;
	}
	if (cfg->trace) {
		char path[4096];

		snprintf(path, sizeof(path), "%s.%u", cfg->trace, id);
		w->trace = fopen(path, "we");
		if (!w->trace) {
			fprintf(stderr, "madvfuzz: --trace %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	if (server_start(w))
		return -1;
	free(proc_vmas(getpid(), base, arena_addr(&w->a, np), &n));
	if (n) {
		fprintf(stderr, "madvfuzz: worker %u: something is mapped at %#lx-%#lx already\n", id,
			(unsigned long)base, (unsigned long)arena_addr(&w->a, np));
		return -1;
	}
	w->owns_arena = true;
	/* Three mappings, half of each page filled: what a restore finds after its pre-dump. */
	for (size_t m = 0; m < 3; m++) {
		size_t s = m * third + (m ? 1 : 0), len = third - (m ? 1 : 0);
		void *want = addr_of(w, s);

		if (mmap(want, len * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != want) {
			fprintf(stderr, "madvfuzz: worker %u: mmap at %p: %s\n", id, want, strerror(errno));
			return -1;
		}
		new_mapping(w, s, len);
		for (size_t p = s + 1; p < s + len; p++)
			if (below(w, 2))
				write_page(w, p);
	}
	check_all(w, &f);
	if (f.n) {
		fprintf(stderr, "madvfuzz: worker %u: the arena as set up already differs from the "
			"model: %s\n", id, f.what);
		return -1;
	}
	return 0;
}

void worker_free(struct worker *w)
{
	server_stop(w);
	if (w->owns_arena)
		munmap(addr_of(w, 0), w->a.npages * w->a.ps);
	if (w->trace)
		fclose(w->trace);
	if (w->uffd >= 0)
		close(w->uffd);
	if (w->pagemap >= 0)
		close(w->pagemap);
	free(w->pm);
	free(w->page);
	arena_free(&w->a);
}
