// SPDX-License-Identifier: GPL-2.0
/*
 * A restored task can have thousands of VMAs: each strategy's madvise
 * sequence (its hooks in lazyrestore's order: before the fill, fill,
 * register, after the register) over N VMAs, timed per phase, and the
 * VMA layout it leaves next to the source's.
 *
 * The source layout is N adjacent VMAs told apart only by their advice:
 * every other one MADV_HUGEPAGE, the rest none, so that a restore that
 * leaves them all alike merges them and the count shows it. The VMAs
 * are smaller than a PMD: the run measures VMA work (lookups, splits,
 * merges, khugepaged registration), not THP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "clock.h"
#include "procfs.h"
#include "strategy.h"
#include "thp_advice.h"
#include "uffd.h"

#define VMAS_BASE	(BENCH_BASE + (1ULL << 40))	/* apart from fill's and faults' */

enum phase { PH_MMAP, PH_PROCESS_BEFORE, PH_BEFORE_FILL, PH_FILL, PH_REGISTER, PH_AFTER_REGISTER,
	     PH_PROCESS_AFTER, PH_NR };
static const char *const phase_names[PH_NR] = {
	"mmap", "process_before", "before_fill", "fill", "register", "after_register", "process_after",
};

/* The strategies measured: lazyrestore's, by name (uffd-move needs a staging copy: not VMA work). */
static const char *const measured[] = { "clr", "prctl", "uffd-copy", "nohuge-huge", "none" };

struct vmas_run {
	const struct bench_opts *o;
	const struct strategy *st;
	uint64_t n, pages;
	long ps;
	struct vma_rec *v;	/* the source's layout */
	char *page;		/* what the fill writes */
	int uffd;
	double secs[PH_NR];
};

static uint64_t vma_bytes(const struct vmas_run *r)
{
	return r->pages * r->ps;
}

static uint64_t total_bytes(const struct vmas_run *r)
{
	return r->n * vma_bytes(r);
}

/* The VMAs of [VMAS_BASE, +total) as /proc/self/smaps has them now: their count, or -errno. */
static long count_vmas(const struct vmas_run *r, struct vma_info **out)
{
	size_t n = 0;
	struct vma_info *vi = proc_vmas(getpid(), VMAS_BASE, VMAS_BASE + total_bytes(r), &n);

	if (!vi)
		return errno ? -errno : -EIO;
	if (out)
		*out = vi;
	else
		free(vi);
	return (long)n;
}

/* The source: one mapping, its advice set VMA by VMA, checked to be N VMAs. */
static int make_source(struct vmas_run *r, struct err *err)
{
	char *m = mmap((void *)VMAS_BASE, total_bytes(r), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	long got;

	if (m == MAP_FAILED)
		return err_sys(err, "vmas: mmap of %llu MiB at %#llx",
			       (unsigned long long)(total_bytes(r) >> 20), (unsigned long long)VMAS_BASE);
	for (uint64_t i = 0; i < r->n; i++) {
		r->v[i] = (struct vma_rec){ .start = VMAS_BASE + i * vma_bytes(r),
					    .end = VMAS_BASE + (i + 1) * vma_bytes(r),
					    .prot = PROT_READ | PROT_WRITE,
					    .thp = i % 2 ? THP_ADVICE_NONE : THP_ADVICE_HUGEPAGE };
		if (madvise_advice(r->v[i].start, vma_bytes(r), r->v[i].thp)) {
			munmap(m, total_bytes(r));
			return err_sys(err, "vmas: MADV_HUGEPAGE on the source's VMA %llu",
				       (unsigned long long)i);
		}
	}
	got = count_vmas(r, NULL);
	munmap(m, total_bytes(r));
	if (got < 0)
		return err_set(err, (int)-got, "vmas: reading /proc/self/smaps");
	if ((uint64_t)got != r->n)
		return err_set(err, EIO, "vmas: the source layout is %ld VMAs, not %llu", got,
			       (unsigned long long)r->n);
	return 0;
}

static void tick(struct vmas_run *r, enum phase p, uint64_t *t)
{
	uint64_t now = now_ns();

	r->secs[p] = (now - *t) / 1e9;
	*t = now;
}

/* The pre-dump's pages: every other page of each VMA (the rest are the lazy holes). */
static int fill(struct vmas_run *r, struct err *err)
{
	for (uint64_t i = 0; i < r->n; i++)
		for (uint64_t pg = 0; pg < r->pages; pg += 2) {
			uint64_t at = r->v[i].start + pg * r->ps;
			int ret;

			if (!r->st->register_first) {
				memcpy((void *)at, r->page, r->ps);
				continue;
			}
			ret = uffd_copy(r->uffd, at, r->page, r->ps, false);
			if (ret)
				return err_set(err, -ret, "vmas: UFFDIO_COPY at %#llx",
					       (unsigned long long)at);
		}
	return 0;
}

static int register_all(struct vmas_run *r, struct err *err)
{
	for (uint64_t i = 0; i < r->n; i++) {
		int ret = uffd_register_missing(r->uffd, r->v[i].start, vma_bytes(r));

		if (ret)
			return err_set(err, -ret, "vmas: UFFDIO_REGISTER of VMA %llu", (unsigned long long)i);
	}
	return 0;
}

static int each_vma(struct vmas_run *r, int (*hook)(const struct vma_rec *), const char *what,
		    struct err *err)
{
	if (!hook)
		return 0;
	for (uint64_t i = 0; i < r->n; i++)
		if (hook(&r->v[i]))
			return err_sys(err, "vmas: %s: %s on VMA %llu", r->st->name, what,
				       (unsigned long long)i);
	return 0;
}

/* One restore, timed: the destination's hooks in lazyrestore's order. */
static int restore_once(struct vmas_run *r, struct err *err)
{
	const struct strategy *st = r->st;
	uint64_t t;
	int ret = 0;

	memset(r->secs, 0, sizeof(r->secs));
	r->uffd = uffd_open(0, err);
	if (r->uffd < 0)
		return r->uffd;
	t = now_ns();
	for (uint64_t i = 0; i < r->n; i++)
		if (mmap((void *)r->v[i].start, vma_bytes(r), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED) {
			ret = err_sys(err, "vmas: mmap of VMA %llu", (unsigned long long)i);
			goto out;
		}
	tick(r, PH_MMAP, &t);
	if (st->process_before && st->process_before()) {
		ret = err_sys(err, "vmas: %s: before the restore", st->name);
		goto out;
	}
	tick(r, PH_PROCESS_BEFORE, &t);
	ret = each_vma(r, st->before_fill, "before the fill", err);
	if (ret)
		goto out;
	tick(r, PH_BEFORE_FILL, &t);
	/* The fill and the registration, in the strategy's order. */
	for (int step = 0; step < 2; step++) {
		bool registering = (step == 0) == st->register_first;

		ret = registering ? register_all(r, err) : fill(r, err);
		if (ret)
			goto out;
		tick(r, registering ? PH_REGISTER : PH_FILL, &t);
	}
	ret = each_vma(r, st->after_register, "after the register", err);
	if (ret)
		goto out;
	tick(r, PH_AFTER_REGISTER, &t);
	if (st->process_after && st->process_after())
		ret = err_sys(err, "vmas: %s: after the restore", st->name);
	tick(r, PH_PROCESS_AFTER, &t);
out:
	return ret;
}

/* Unmapped, whatever the restore reached; the prctl left as the source had it. */
static void undo(struct vmas_run *r)
{
	munmap((void *)VMAS_BASE, total_bytes(r));
	if (r->uffd >= 0)
		close(r->uffd);
	r->uffd = -1;
	if (r->st->process_after)
		r->st->process_after();
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The restored VMAs against the source's: how many, and how many differ in hg/nh. */
static int judge_layout(struct vmas_run *r, long *count, uint64_t *flag_diffs, struct err *err)
{
	struct vma_info *vi = NULL;
	long n = count_vmas(r, &vi);

	if (n < 0)
		return err_set(err, (int)-n, "vmas: reading /proc/self/smaps");
	*count = n;
	*flag_diffs = 0;
	/* Each source VMA against the restored VMA that holds its first page. */
	for (uint64_t i = 0, j = 0; i < r->n; i++) {
		while (j < (uint64_t)n && vi[j].end <= r->v[i].start)
			j++;
		if (j == (uint64_t)n || vi[j].start > r->v[i].start ||
		    vi[j].hg != (r->v[i].thp == THP_ADVICE_HUGEPAGE) ||
		    vi[j].nh != (r->v[i].thp == THP_ADVICE_NOHUGEPAGE))
			(*flag_diffs)++;
	}
	free(vi);
	return 0;
}

static void row(struct vmas_run *r, double med[PH_NR], long count, uint64_t diffs)
{
	FILE *f = r->o->out;
	double total = 0;

	fprintf(f, "{\"kind\": \"vmas\", \"strategy\": \"%s\", \"vmas\": %llu, \"pages_per_vma\": %llu, "
		"\"source_vmas\": %llu, \"restored_vmas\": %ld, \"flag_differences\": %llu, \"secs\": {",
		r->st->name, (unsigned long long)r->n, (unsigned long long)r->pages,
		(unsigned long long)r->n, count, (unsigned long long)diffs);
	for (int p = 0; p < PH_NR; p++) {
		fprintf(f, "%s\"%s\": %.6f", p ? ", " : "", phase_names[p], med[p]);
		total += med[p];
	}
	fprintf(f, "}, \"total\": %.6f}\n", total);
	fflush(f);
}

static int one(struct vmas_run *r, struct err *err)
{
	double all[PH_NR][BENCH_REPEAT], med[PH_NR];
	long count = 0;
	uint64_t diffs = 0;
	int ret;

	for (int k = 0; k < BENCH_REPEAT; k++) {
		ret = restore_once(r, err);
		/* The layout of the last repetition is the one reported. */
		if (!ret && k == BENCH_REPEAT - 1)
			ret = judge_layout(r, &count, &diffs, err);
		undo(r);
		if (ret)
			return ret;
		for (int p = 0; p < PH_NR; p++)
			all[p][k] = r->secs[p];
	}
	for (int p = 0; p < PH_NR; p++) {
		qsort(all[p], BENCH_REPEAT, sizeof(double), cmp_double);
		med[p] = all[p][BENCH_REPEAT / 2];
	}
	row(r, med, count, diffs);
	return 0;
}

int bench_vmas(const struct bench_opts *o, struct err *err)
{
	struct vmas_run r = { .o = o, .pages = o->vma_pages, .ps = getpagesize(), .uffd = -1 };
	int ret = 0;

	r.page = aligned_alloc(r.ps, r.ps);
	r.v = calloc(o->vma_counts[o->nr_vma_counts - 1], sizeof(*r.v));
	if (!r.page || !r.v) {
		ret = err_set(err, ENOMEM, "vmas: %llu VMA records",
			      (unsigned long long)o->vma_counts[o->nr_vma_counts - 1]);
		goto out;
	}
	memset(r.page, 0x5a, r.ps);
	for (size_t c = 0; c < o->nr_vma_counts && !ret; c++) {
		r.n = o->vma_counts[c];
		ret = make_source(&r, err);
		for (size_t s = 0; s < sizeof(measured) / sizeof(measured[0]) && !ret; s++) {
			const char *why;

			r.st = strategy_find(measured[s]);
			why = strategy_missing(r.st, false);
			if (why) {
				if (c == 0)
					bench_note(o, "vmas", "%s skipped: %s", r.st->name, why);
				continue;
			}
			ret = one(&r, err);
		}
	}
out:
	free(r.v);
	free(r.page);
	return ret;
}
