// SPDX-License-Identifier: GPL-2.0
/*
 * The source side of a migration: the task started and tracked, pre-copy
 * rounds of the pages it wrote since the last (userfaultfd WP_ASYNC +
 * PAGEMAP_SCAN, or soft-dirty), the freeze, and the lazy set written in
 * the freeze's round.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checksum.h"
#include "clock.h"
#include "image_set.h"
#include "migrate_run.h"
#include "numa_policy.h"
#include "procfs.h"
#include "proto.h"
#include "workload.h"

#define CHUNK_PAGES 256

int source_start(struct run_state *s)
{
	struct workload_ready ready;
	struct err e;
	char buf[64];
	int p[2], status;

	if (pipe2(p, O_CLOEXEC))
		return run_fail(s, "pipe: %s", strerror(errno));
	s->source = fork();
	if (s->source < 0)
		return run_fail(s, "fork: %s", strerror(errno));
	if (s->source == 0) {
		close(p[0]);
		/* Never outlive the orchestrator, whatever ends it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
			_exit(1);
		_exit(workload_run(&s->l, s->hot_pages, !s->cfg->soft_dirty, p[1]));
	}
	close(p[1]);
	if (proto_recv(p[0], PROTO_READY, &ready, sizeof(ready), 60000, NULL, &e)) {
		close(p[0]);
		if (e.code == ECONNABORTED)
			return run_fail(s, "the workload could not start: %s", e.msg);
		if (waitpid(s->source, &status, WNOHANG) == s->source) {
			s->source = 0;
			return run_fail(s, "the workload died before it was ready (%s)",
					exit_text(status, buf, sizeof(buf)));
		}
		return run_fail(s, "the workload did not get ready: %s", e.msg);
	}
	close(p[0]);
	snprintf(buf, sizeof(buf), "/proc/%d/mem", (int)s->source);
	s->source_mem = open(buf, O_RDONLY | O_CLOEXEC);
	if (s->source_mem < 0)
		return run_fail(s, "%s: %s (needs root or ptrace rights)", buf, strerror(errno));
	ready.why[sizeof(ready.why) - 1] = 0;
	s->res->thp_hg_src_kb = ready.thp_hg_kb;
	if (dirty_track_open(&s->track, s->source, ready.armed, &e))
		return run_fail(s, "tracking the workload's writes: %s", e.msg);
	snprintf(s->res->tracker_why, sizeof(s->res->tracker_why), "%.*s",
		 (int)sizeof(s->res->tracker_why) - 1, e.msg);
	s->tracking = true;
	if (!ready.armed)
		snprintf(s->res->tracker_why, sizeof(s->res->tracker_why), "%s", ready.why);
	snprintf(s->res->tracker, sizeof(s->res->tracker), "%s", dirty_track_method(&s->track));
	return 0;
}

/* Through /proc/PID/mem: works without CONFIG_CROSS_MEMORY_ATTACH too. */
int source_read(struct run_state *s, uint64_t addr, void *buf, uint64_t len)
{
	return pread(s->source_mem, buf, len, addr) == (ssize_t)len ? 0 : -1;
}

/* Page @addr's place in the layout, counting from the first VMA's first page. */
uint64_t source_page_index(const struct run_state *s, uint64_t addr)
{
	uint64_t k = 0;

	for (int i = 0; i < s->l.n; i++) {
		if (addr < s->l.vma[i].end)
			return k + (addr - s->l.vma[i].start) / s->ps;
		k += (s->l.vma[i].end - s->l.vma[i].start) / s->ps;
	}
	return k;
}

/* The VMAs as the source has them now: what a real dump would record. */
static int source_vmas(struct run_state *s, struct vma_rec *recs)
{
	struct vma_info *v;
	size_t nv;

	v = proc_vmas(s->source, s->l.vma[0].start, s->l.vma[s->l.n - 1].end, &nv);
	if (!v || nv != (size_t)s->l.n) {
		free(v);
		return run_fail(s, "the workload's VMAs are not its layout's");
	}
	for (int i = 0; i < s->l.n; i++) {
		recs[i] = s->l.vma[i];
		recs[i].thp = v[i].hg ? THP_ADVICE_HUGEPAGE : v[i].nh ? THP_ADVICE_NOHUGEPAGE :
			      THP_ADVICE_NONE;
		/* numa_maps counts every page: read only where a policy was set. */
		if (!s->cfg->numa ||
		    numa_policy_of(s->source, recs[i].start, &recs[i].mpol, &recs[i].nodes))
			recs[i].mpol = 0, recs[i].nodes = 0;
	}
	free(v);
	return 0;
}

/* One round: the pages of @pages from the running source into round @round. */
static int write_round(struct run_state *s, unsigned int round, const struct runs *pages,
		       const struct runs *lazy)
{
	struct vma_rec recs[LAYOUT_MAX];
	struct img_writer w;
	struct err err;
	char *buf;
	int ret = 0;

	if (source_vmas(s, recs))
		return -1;
	buf = malloc(CHUNK_PAGES * s->ps);
	if (!buf)
		return run_fail(s, "out of memory");
	if (img_set_round_open(&w, s->cfg->image_dir, round, s->ps, &err)) {
		free(buf);
		return run_fail(s, "%s/%s: %s", s->cfg->image_dir, err.file, err.msg);
	}
	for (size_t i = 0; i < pages->n && !ret; i++) {
		const struct run *r = &pages->v[i];

		for (uint64_t p = r->start; p < r->start + r->len && !ret; p += CHUNK_PAGES) {
			uint64_t n = r->start + r->len - p < CHUNK_PAGES ? r->start + r->len - p :
				     CHUNK_PAGES, k = source_page_index(s, p * s->ps);

			if (source_read(s, p * s->ps, buf, n * s->ps))
				ret = run_fail(s, "reading the workload's memory: %s", strerror(errno));
			else if (img_writer_add(&w, p, n, buf, &err))
				ret = run_fail(s, "%s: %s", err.file, err.msg);
			for (uint64_t j = 0; !ret && j < n; j++)
				s->pre_sums[k + j] = page_checksum(buf + j * s->ps, s->ps);
		}
	}
	for (size_t i = 0; lazy && i < lazy->n && !ret; i++)
		if (img_writer_add_lazy(&w, lazy->v[i].start, lazy->v[i].len, &err))
			ret = run_fail(s, "%s: %s", err.file, err.msg);
	free(buf);
	if (ret) {
		img_writer_abort(&w);
		return ret;
	}
	if (img_writer_finish(&w, recs, s->l.n, &err))
		return run_fail(s, "%s/%s: %s", s->cfg->image_dir, err.file, err.msg);
	return 0;
}

static int collect(struct run_state *s, struct runs *out)
{
	int ret = dirty_track_collect(&s->track, s->l.vma[0].start, s->l.vma[s->l.n - 1].end, out);

	return ret ? run_fail(s, "collecting the workload's writes (%s): %s",
			   dirty_track_method(&s->track), strerror(-ret)) : 0;
}

/*
 * Live: every page, then round after round the pages written since the
 * last, until that set stops shrinking (MAX_ROUNDS - 1 at most; the
 * freeze's round is the last).
 */
int source_precopy(struct run_state *s)
{
	struct runs all = RUNS_INIT, d = RUNS_INIT;
	uint64_t prev;
	int ret = 0;

	s->pre_sums = malloc(s->res->pages * sizeof(*s->pre_sums));
	if (!s->pre_sums)
		return run_fail(s, "out of memory");
	for (int i = 0; i < s->l.n && !ret; i++)
		if (runs_add(&all, s->l.vma[i].start / s->ps,
			     (s->l.vma[i].end - s->l.vma[i].start) / s->ps))
			ret = run_fail(s, "out of memory");
	if (!ret)
		ret = write_round(s, 1, &all, NULL);
	runs_free(&all);
	s->res->precopied = s->res->pages;
	s->res->round_pages[0] = s->res->pages;
	s->res->rounds = 1;
	for (prev = s->res->pages; !ret && s->res->rounds < MAX_ROUNDS - 1; prev = runs_pages(&d)) {
		d.n = 0;
		ret = collect(s, &d);
		if (ret || !d.n)
			break;
		ret = write_round(s, ++s->res->rounds, &d, NULL);
		s->res->round_pages[s->res->rounds - 1] = runs_pages(&d);
		s->res->precopied += runs_pages(&d);
		if (runs_pages(&d) >= prev)
			break;
	}
	runs_free(&d);
	return ret;
}

/* Test hook: flip a byte inside round 1's pages.img, or cut its end off. */
void source_damage_image(struct run_state *s)
{
	char path[512], c;
	int fd;

	snprintf(path, sizeof(path), "%s/1/pages.img", s->cfg->image_dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	if (s->cfg->inject == INJECT_DAMAGE_TRUNCATE) {
		if (ftruncate(fd, lseek(fd, 0, SEEK_END) - 1000))
			run_fail(s, "test hook: truncating %s: %s", path, strerror(errno));
	} else if (pread(fd, &c, 1, 3 * s->ps + 5) == 1) {
		c ^= 0x40;
		if (pwrite(fd, &c, 1, 3 * s->ps + 5) != 1)
			run_fail(s, "test hook: writing %s: %s", path, strerror(errno));
	}
	close(fd);
}

int source_freeze(struct run_state *s)
{
	char buf[64];
	int status;

	if (kill(s->source, SIGSTOP) || waitpid(s->source, &status, WUNTRACED) != s->source)
		return run_fail(s, "freezing the workload: %s", strerror(errno));
	if (!WIFSTOPPED(status)) {
		s->source = 0;
		return run_fail(s, "the workload died (%s)", exit_text(status, buf, sizeof(buf)));
	}
	return 0;
}

/* In the downtime: the pages written since the last round, marked lazy in a last round. */
int source_lazy_round(struct run_state *s)
{
	struct runs none = RUNS_INIT;
	double t0 = now_ms();
	int ret = collect(s, &s->dirty);

	s->res->scan_ms = now_ms() - t0;
	s->res->lazy = runs_pages(&s->dirty);
	if (!ret)
		ret = write_round(s, s->res->rounds + 1, &none, &s->dirty);
	s->res->lazy_round_ms = now_ms() - t0;
	return ret;
}

