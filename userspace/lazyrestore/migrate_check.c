// SPDX-License-Identifier: GPL-2.0
/*
 * After post-copy, the restored process against the source: VmFlags and
 * VMA layout, THP coverage as it comes back, NUMA placement, and (off
 * the clock, the source still frozen) the lazy set against what the task
 * really wrote since the last pre-copy round.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "checksum.h"
#include "clock.h"
#include "migrate_run.h"
#include "numa_policy.h"
#include "procfs.h"
#include "vmacompare.h"

#define CHUNK_PAGES 256
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/*
 * Off the clock, the source frozen: every page against its last
 * pre-copied version. What changed is what the task wrote since the last
 * round; a changed page missing from the lazy set would be lost.
 */
static int verify_lazy_set(struct run_state *s)
{
	char *buf = malloc(CHUNK_PAGES * s->ps);
	struct runs changed = RUNS_INIT, missed = RUNS_INIT;
	int ret = 0;

	if (!buf)
		return run_fail(s, "out of memory");
	for (int i = 0; i < s->l.n && !ret; i++) {
		for (uint64_t a = s->l.vma[i].start; a < s->l.vma[i].end && !ret;
		     a += CHUNK_PAGES * s->ps) {
			uint64_t k = source_page_index(s, a);

			if (source_read(s, a, buf, CHUNK_PAGES * s->ps))
				ret = run_fail(s, "reading the frozen workload: %s", strerror(errno));
			for (int p = 0; !ret && p < CHUNK_PAGES; p++)
				if (page_checksum(buf + p * s->ps, s->ps) != s->pre_sums[k + p] &&
				    runs_add(&changed, a / s->ps + p, 1))
					ret = run_fail(s, "out of memory");
		}
	}
	free(buf);
	s->res->written = runs_pages(&changed);
	if (!ret && runs_subtract(&changed, &s->dirty, &missed))
		ret = run_fail(s, "out of memory");
	/* Reported and judged, not an error: the task's own verdict shows what it cost. */
	s->res->missed = runs_pages(&missed);
	runs_free(&changed);
	runs_free(&missed);
	return ret;
}

static int compare_nodes(struct run_state *s)
{
	struct err e;
	int *a = vma_nodes(s->source, &s->l, s->res->pages, &e), *b = NULL;

	if (a)
		b = vma_nodes(s->dest, &s->l, s->res->pages, &e);
	if (b)
		vma_nodes_differ(s->res, &s->l, a, b);
	free(a);
	free(b);
	return b ? 0 : run_fail(s, "--numa: %s", e.msg);
}

/*
 * After lazy completion: MADV_COLLAPSE, from here through process_madvise(),
 * the destination's 2 MiB ranges that the source had as THPs. Every page
 * is in by now, so nothing collapses over a hole.
 */
static int collapse_like_source(struct run_state *s)
{
	uint64_t lo = s->l.vma[0].start, hi = s->l.vma[s->l.n - 1].end;
	size_t max = (hi - lo) / PMD_BYTES + 1, n = 0, k = 0;
	uint64_t *pmds = calloc(max, sizeof(*pmds));
	struct iovec *iov = calloc(max, sizeof(*iov));
	int pidfd = syscall(SYS_pidfd_open, s->dest, 0), ret = 0;
	double t0;

	if (!pmds || !iov || pidfd < 0) {
		ret = run_fail(s, "--collapse: %s", pidfd < 0 ? strerror(errno) : "out of memory");
		goto out;
	}
	ret = proc_huge_pmds(s->source, lo, hi, pmds, max, &n);
	if (ret) {
		ret = run_fail(s, "--collapse: finding the source's THPs in /proc/kpageflags: %s",
			    strerror(-ret));
		goto out;
	}
	/* Neighbouring PMDs go in one iovec: fewer, longer ranges. */
	for (size_t i = 0; i < n; i++) {
		if (k && (uint64_t)iov[k - 1].iov_base + iov[k - 1].iov_len == pmds[i])
			iov[k - 1].iov_len += PMD_BYTES;
		else
			iov[k++] = (struct iovec){ (void *)pmds[i], PMD_BYTES };
	}
	s->res->collapse_pmds = n;
	t0 = now_ms();
	for (size_t i = 0; i < k; i += IOV_MAX) {
		size_t m = k - i < IOV_MAX ? k - i : IOV_MAX;

		/* EAGAIN: some range could not be collapsed now; coverage shows it. */
		if (syscall(SYS_process_madvise, pidfd, &iov[i], m, MADV_COLLAPSE, 0) < 0 &&
		    errno != EAGAIN) {
			ret = run_fail(s, "--collapse: process_madvise(MADV_COLLAPSE): %s%s",
				       strerror(errno), errno == EINVAL ?
				       " (a VMA refusing THP, VM_NOHUGEPAGE left on? or a kernel "
				       "without MADV_COLLAPSE, 6.1+)" : "");
			break;
		}
	}
	s->res->collapse_ms = now_ms() - t0;
out:
	if (pidfd >= 0)
		close(pidfd);
	free(pmds);
	free(iov);
	return ret;
}

int check_against_source(struct run_state *s, double t_lazy_done)
{
	struct vma_info *sv = NULL, *dv = NULL;
	size_t nsv = 0, ndv = 0;
	int ret = 0;

	vma_side_of(s->source, &s->l, &s->res->src, &sv, &nsv);
	vma_side_of(s->dest, &s->l, &s->res->dst, &dv, &ndv);
	vma_compare(s->res, sv, nsv, dv, ndv);
	s->res->thp_hg_lazy_kb = vma_thp_in(dv, ndv, s->l.vma[LAYOUT_HG].start,
					    s->l.vma[LAYOUT_HG].end);
	if (s->cfg->numa)
		ret = compare_nodes(s);
	if (!ret && s->cfg->collapse)
		ret = collapse_like_source(s);
	vma_watch_thp(s->res, s->dest, s->l.vma[LAYOUT_HG].start, s->l.vma[LAYOUT_HG].end,
		      s->res->thp_hg_src_kb, t_lazy_done, s->cfg->thp_watch_ms);
	/* Reads all of the source: after the watch, so that it does not delay it. */
	if (!ret)
		ret = verify_lazy_set(s);
	free(sv);
	free(dv);
	return ret;
}
