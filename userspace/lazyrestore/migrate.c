// SPDX-License-Identifier: GPL-2.0
/*
 * The task running at the source -> pre-copy rounds, each the pages the
 * task wrote since the last (userfaultfd WP_ASYNC + PAGEMAP_SCAN, or
 * soft-dirty) -> freeze -> the lazy set marked in the last round ->
 * destination restored with a strategy -> the task resumed there, its
 * lazy pages post-copied as it meets them and in the background -> the
 * task's own verdict, VmFlags, VMA layout and THP coverage against the
 * source.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checksum.h"
#include "clock.h"
#include "dest.h"
#include "dirty_track.h"
#include "image.h"
#include "image_set.h"
#include "layout.h"
#include "lazy.h"
#include "migrate.h"
#include "numa_policy.h"
#include "procfs.h"
#include "proto.h"
#include "task.h"
#include "vmacompare.h"
#include "workload.h"

#define CHUNK_PAGES 256
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

struct run_state {
	const struct config *cfg;
	struct result *res;
	struct layout l;
	long ps;
	pid_t source, dest;
	int source_mem;		/* /proc/SOURCE/mem */
	int sock;
	uint64_t hot_pages;
	struct dirty_track track;
	bool tracking;
	struct runs dirty;	/* the lazy set */
	uint64_t *pre_sums;	/* each page as last pre-copied */
	struct task_verdict verdict;
};

void result_start(const struct config *cfg, const struct strategy *st, struct result *res,
		  struct layout *l)
{
	memset(res, 0, sizeof(*res));
	res->st = st;
	res->numa_misplaced = -1;
	layout_init(l, cfg->region_bytes, cfg->seed);
	if (cfg->numa)
		layout_set_numa(l);
	for (int i = 0; i < l->n; i++)
		res->pages += (l->vma[i].end - l->vma[i].start) / getpagesize();
}

int result_errorv(struct result *res, const char *fmt, va_list ap)
{
	if (!res->error[0])
		vsnprintf(res->error, sizeof(res->error), fmt, ap);
	return -1;
}

static int failf(struct run_state *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	result_errorv(s->res, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *exit_text(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "status %#x", status);
	return buf;
}

static int start_source(struct run_state *s)
{
	struct workload_ready ready;
	char buf[64];
	int p[2], status;

	if (pipe2(p, O_CLOEXEC))
		return failf(s, "pipe: %s", strerror(errno));
	s->source = fork();
	if (s->source < 0)
		return failf(s, "fork: %s", strerror(errno));
	if (s->source == 0) {
		close(p[0]);
		_exit(workload_run(&s->l, s->hot_pages, !s->cfg->soft_dirty, p[1]));
	}
	close(p[1]);
	if (proto_read_all(p[0], &ready, sizeof(ready), 60000)) {
		close(p[0]);
		if (waitpid(s->source, &status, WNOHANG) == s->source) {
			s->source = 0;
			return failf(s, "the workload died before it was ready (%s)",
				     exit_text(status, buf, sizeof(buf)));
		}
		return failf(s, "the workload did not get ready in 60 s");
	}
	close(p[0]);
	snprintf(buf, sizeof(buf), "/proc/%d/mem", (int)s->source);
	s->source_mem = open(buf, O_RDONLY | O_CLOEXEC);
	if (s->source_mem < 0)
		return failf(s, "%s: %s (needs root or ptrace rights)", buf, strerror(errno));
	ready.why[sizeof(ready.why) - 1] = 0;
	s->res->thp_hg_src_kb = ready.thp_hg_kb;
	if (dirty_track_open(&s->track, s->source, ready.armed, s->res->tracker_why,
			     sizeof(s->res->tracker_why)))
		return failf(s, "tracking the workload's writes: %s", s->res->tracker_why);
	s->tracking = true;
	if (!ready.armed)
		snprintf(s->res->tracker_why, sizeof(s->res->tracker_why), "%s", ready.why);
	snprintf(s->res->tracker, sizeof(s->res->tracker), "%s", dirty_track_method(&s->track));
	return 0;
}

/* Through /proc/PID/mem: works without CONFIG_CROSS_MEMORY_ATTACH too. */
static int read_source(struct run_state *s, uint64_t addr, void *buf, uint64_t len)
{
	return pread(s->source_mem, buf, len, addr) == (ssize_t)len ? 0 : -1;
}

/* Page @addr's place in the layout, counting from the first VMA's first page. */
static uint64_t page_index(const struct run_state *s, uint64_t addr)
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
		return failf(s, "the workload's VMAs are not its layout's");
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
		return failf(s, "out of memory");
	if (img_set_round_open(&w, s->cfg->image_dir, round, s->ps, &err)) {
		free(buf);
		return failf(s, "%s/%s: %s", s->cfg->image_dir, err.file, err.msg);
	}
	for (size_t i = 0; i < pages->n && !ret; i++) {
		const struct run *r = &pages->v[i];

		for (uint64_t p = r->start; p < r->start + r->len && !ret; p += CHUNK_PAGES) {
			uint64_t n = r->start + r->len - p < CHUNK_PAGES ? r->start + r->len - p :
				     CHUNK_PAGES, k = page_index(s, p * s->ps);

			if (read_source(s, p * s->ps, buf, n * s->ps))
				ret = failf(s, "reading the workload's memory: %s", strerror(errno));
			else if (img_writer_add(&w, p, n, buf, &err))
				ret = failf(s, "%s: %s", err.file, err.msg);
			for (uint64_t j = 0; !ret && j < n; j++)
				s->pre_sums[k + j] = page_checksum(buf + j * s->ps, s->ps);
		}
	}
	for (size_t i = 0; lazy && i < lazy->n && !ret; i++)
		if (img_writer_add_lazy(&w, lazy->v[i].start, lazy->v[i].len, &err))
			ret = failf(s, "%s: %s", err.file, err.msg);
	free(buf);
	if (ret) {
		img_writer_abort(&w);
		return ret;
	}
	if (img_writer_finish(&w, recs, s->l.n, &err))
		return failf(s, "%s/%s: %s", s->cfg->image_dir, err.file, err.msg);
	return 0;
}

static int collect(struct run_state *s, struct runs *out)
{
	int ret = dirty_track_collect(&s->track, s->l.vma[0].start, s->l.vma[s->l.n - 1].end, out);

	return ret ? failf(s, "collecting the workload's writes (%s): %s",
			   dirty_track_method(&s->track), strerror(-ret)) : 0;
}

/*
 * Live: every page, then round after round the pages written since the
 * last, until that set stops shrinking (MAX_ROUNDS - 1 at most; the
 * freeze's round is the last).
 */
static int precopy(struct run_state *s)
{
	struct runs all = RUNS_INIT, d = RUNS_INIT;
	uint64_t prev;
	int ret = 0;

	s->pre_sums = malloc(s->res->pages * sizeof(*s->pre_sums));
	if (!s->pre_sums)
		return failf(s, "out of memory");
	for (int i = 0; i < s->l.n && !ret; i++)
		if (runs_add(&all, s->l.vma[i].start / s->ps,
			     (s->l.vma[i].end - s->l.vma[i].start) / s->ps))
			ret = failf(s, "out of memory");
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
static void damage_image(struct run_state *s)
{
	char path[512], c;
	int fd;

	snprintf(path, sizeof(path), "%s/1/pages.img", s->cfg->image_dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	if (!strcmp(s->cfg->inject, "damage-truncate")) {
		if (ftruncate(fd, lseek(fd, 0, SEEK_END) - 1000))
			failf(s, "test hook: truncating %s: %s", path, strerror(errno));
	} else if (pread(fd, &c, 1, 3 * s->ps + 5) == 1) {
		c ^= 0x40;
		if (pwrite(fd, &c, 1, 3 * s->ps + 5) != 1)
			failf(s, "test hook: writing %s: %s", path, strerror(errno));
	}
	close(fd);
}

static int freeze(struct run_state *s)
{
	char buf[64];
	int status;

	if (kill(s->source, SIGSTOP) || waitpid(s->source, &status, WUNTRACED) != s->source)
		return failf(s, "freezing the workload: %s", strerror(errno));
	if (!WIFSTOPPED(status)) {
		s->source = 0;
		return failf(s, "the workload died (%s)", exit_text(status, buf, sizeof(buf)));
	}
	return 0;
}

/* In the downtime: the pages written since the last round, marked lazy in a last round. */
static int lazy_round(struct run_state *s)
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
		return failf(s, "out of memory");
	for (int i = 0; i < s->l.n && !ret; i++) {
		for (uint64_t a = s->l.vma[i].start; a < s->l.vma[i].end && !ret;
		     a += CHUNK_PAGES * s->ps) {
			uint64_t k = page_index(s, a);

			if (read_source(s, a, buf, CHUNK_PAGES * s->ps))
				ret = failf(s, "reading the frozen workload: %s", strerror(errno));
			for (int p = 0; !ret && p < CHUNK_PAGES; p++)
				if (page_checksum(buf + p * s->ps, s->ps) != s->pre_sums[k + p] &&
				    runs_add(&changed, a / s->ps + p, 1))
					ret = failf(s, "out of memory");
		}
	}
	free(buf);
	s->res->written = runs_pages(&changed);
	if (!ret && runs_subtract(&changed, &s->dirty, &missed))
		ret = failf(s, "out of memory");
	/* Reported and judged, not an error: the task's own verdict shows what it cost. */
	s->res->missed = runs_pages(&missed);
	runs_free(&changed);
	runs_free(&missed);
	return ret;
}

static int compare_nodes(struct run_state *s)
{
	char why[160];
	int *a = vma_nodes(s->source, &s->l, s->res->pages, why, sizeof(why)), *b = NULL;

	if (a)
		b = vma_nodes(s->dest, &s->l, s->res->pages, why, sizeof(why));
	if (b)
		vma_nodes_differ(s->res, &s->l, a, b);
	free(a);
	free(b);
	return b ? 0 : failf(s, "--numa: %s", why);
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
		ret = failf(s, "--collapse: %s", pidfd < 0 ? strerror(errno) : "out of memory");
		goto out;
	}
	ret = proc_huge_pmds(s->source, lo, hi, pmds, max, &n);
	if (ret) {
		ret = failf(s, "--collapse: finding the source's THPs in /proc/kpageflags: %s",
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
			ret = failf(s, "--collapse: process_madvise(MADV_COLLAPSE): %s%s",
				    strerror(errno), errno == EINVAL ?
				    " (kernel without MADV_COLLAPSE, 6.1+)" : "");
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

static int start_dest(struct run_state *s)
{
	struct dest_args da = {
		.image_dir = s->cfg->image_dir, .st = s->res->st,
		.wait_khugepaged = s->cfg->wait_khugepaged, .early = s->cfg->early_fill,
		.running_bytes = s->cfg->running_bytes,
		.plan = { .steps = config_post_steps(s->cfg, s->hot_pages),
			  .actions = true },
	};
	int sv_pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv_pair))
		return failf(s, "socketpair: %s", strerror(errno));
	s->dest = fork();
	if (s->dest < 0)
		return failf(s, "fork: %s", strerror(errno));
	if (s->dest == 0) {
		close(sv_pair[0]);
		if (s->source_mem >= 0)
			close(s->source_mem);
		da.sock = sv_pair[1];
		_exit(dest_run(&da));
	}
	close(sv_pair[1]);
	s->sock = sv_pair[0];
	return 0;
}

static int dest_failed(struct run_state *s, const char *waiting_for)
{
	char buf[64];
	int status;

	if (waitpid(s->dest, &status, 0) == s->dest) {
		s->dest = 0;
		return failf(s, "the destination failed (%s; its message is above)",
			     exit_text(status, buf, sizeof(buf)));
	}
	return failf(s, "no %s from the destination: %s", waiting_for, strerror(errno));
}

/* --early-fill, before the freeze: the destination fills while the source runs. */
static int early_fill(struct run_state *s)
{
	uint64_t fill_ns;

	if (start_dest(s))
		return -1;
	if (proto_read_all(s->sock, &fill_ns, sizeof(fill_ns), 600000))
		return dest_failed(s, "end of the fill");
	s->res->fill_ms = fill_ns / 1e6;
	return 0;
}

static void take_handler_stats(struct run_state *s, struct lazy *lz)
{
	struct lazy_stats st;

	lazy_get_stats(lz, &st);
	s->res->faults = st.faults;
	s->res->background = st.bg_copied;
	s->res->zero_pages = st.zero_pages;
	s->res->copied_twice = st.eexist;
	s->res->dropped = st.dropped;
	s->res->postcopy_pages = st.fault_copied + st.bg_copied;
	s->res->ev_fork = st.ev_fork;
	s->res->ev_remap = st.ev_remap;
	s->res->ev_remove = st.ev_remove;
	s->res->ev_unmap = st.ev_unmap;
	s->res->fault_p50_us = lazy_latency_percentile(lz, 50) / 1e3;
	s->res->fault_p99_us = lazy_latency_percentile(lz, 99) / 1e3;
}

static int restore_and_serve(struct run_state *s, double t_freeze)
{
	struct vma_info *sv = NULL, *dv = NULL;
	size_t nsv = 0, ndv = 0;
	struct dest_report rep;
	struct lazy_cfg lc = { .pages = &s->dirty };
	struct lazy lz;
	double t_go, t_lazy_done;
	uint64_t done_ns = 0;
	int uffd, ret = 0;

	if (!s->cfg->early_fill && start_dest(s))
		return -1;
	if (s->cfg->early_fill && proto_write_all(s->sock, "l", 1))
		return failf(s, "telling the destination of the freeze's round: %s", strerror(errno));
	uffd = proto_recv_fd(s->sock, &rep, sizeof(rep), 300000);
	if (uffd < 0)
		return dest_failed(s, "userfaultfd");
	if (!s->cfg->early_fill)
		s->res->fill_ms = rep.fill_ns / 1e6;
	s->res->running_kb = rep.running.touched_kb;
	s->res->running_thp_kb = rep.running.thp_kb;
	s->res->move_pmds = rep.move_pmds;
	s->res->move_pages = rep.move_pages;
	s->res->move_copied = rep.move_copied;
	lc.uffd = uffd;
	lc.source = s->source;
	if (s->cfg->inject && !strcmp(s->cfg->inject, "kill-source-lazy")) {
		kill(s->source, SIGKILL);
		waitpid(s->source, NULL, 0);
		s->source = 0;
	}
	ret = lazy_start(&lz, &lc);
	if (ret) {
		close(uffd);
		return failf(s, "starting the lazy-pages handler: %s", strerror(-ret));
	}
	t_go = now_ms();
	if (proto_write_all(s->sock, "g", 1))
		ret = failf(s, "resuming the destination: %s", strerror(errno));
	s->res->downtime_ms = t_go - t_freeze;
	if (!ret && s->cfg->inject && !strcmp(s->cfg->inject, "kill-dest-lazy")) {
		usleep(20 * 1000);
		kill(s->dest, SIGKILL);
	}
	/* The task's verdict, once it has checked every page; the handler watched meanwhile. */
	if (!ret && proto_read_all_unless(s->sock, &s->verdict, sizeof(s->verdict), 600000,
					  &lz.failed)) {
		char what[160];
		int status;

		if (lazy_error(&lz, what, sizeof(what))) {
			kill(s->dest, SIGKILL);
			ret = failf(s, "the lazy-pages handler failed: %s; destination stopped", what);
		} else if (waitpid(s->dest, &status, 0) == s->dest) {
			char buf[64];

			s->dest = 0;
			ret = failf(s, "the destination died in the post-copy phase (%s); the "
				    "handler ended cleanly", exit_text(status, buf, sizeof(buf)));
		} else {
			ret = failf(s, "no verdict from the resumed task: %s", strerror(errno));
		}
	}
	if (!ret && lazy_wait(&lz, 60000, &done_ns) < 0)
		ret = failf(s, "the lazy pages were not all in 60 s after the task's closing check");
	t_lazy_done = done_ns ? done_ns / 1e6 : now_ms();
	{
		int r = lazy_stop(&lz);
		char what[160];

		if (!ret && r && lazy_error(&lz, what, sizeof(what)))
			ret = failf(s, "lazy-pages handler: %s", what);
	}
	s->res->lazy_ms = t_lazy_done - t_go;
	take_handler_stats(s, &lz);
	lazy_free(&lz);
	close(uffd);
	if (ret)
		return ret;
	if (s->verdict.error)
		return failf(s, "the resumed task's post-copy actions failed: %s",
			     strerror((int)-s->verdict.error));
	s->res->corrupted = s->verdict.wrong + s->verdict.child_wrong;
	s->res->zero_filled = s->verdict.zero + s->verdict.child_zero;
	s->res->task_checked = s->verdict.checked;
	s->res->child_checked = s->verdict.child_checked;
	s->res->task_steps = s->verdict.steps;
	s->res->discarded = s->verdict.discarded;
	vma_side_of(s->source, &s->l, &s->res->src, &sv, &nsv);
	vma_side_of(s->dest, &s->l, &s->res->dst, &dv, &ndv);
	vma_compare(s->res, sv, nsv, dv, ndv);
	s->res->thp_hg_lazy_kb = vma_thp_in(dv, ndv, s->l.vma[LAYOUT_HG].start,
					    s->l.vma[LAYOUT_HG].end);
	if (!ret && s->cfg->numa)
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

static void cleanup(struct run_state *s)
{
	struct err err;

	if (s->sock >= 0) {
		if (proto_write_all(s->sock, "b", 1) == 0 && s->dest > 0)
			waitpid(s->dest, NULL, 0), s->dest = 0;
		close(s->sock);
	}
	if (s->dest > 0) {
		kill(s->dest, SIGKILL);
		waitpid(s->dest, NULL, 0);
	}
	if (s->tracking)
		dirty_track_close(&s->track);
	if (s->source_mem >= 0)
		close(s->source_mem);
	if (s->source > 0) {
		kill(s->source, SIGKILL);
		waitpid(s->source, NULL, 0);
	}
	if (img_set_remove(s->cfg->image_dir, &err) && !s->res->error[0])
		failf(s, "removing the images: %s/%s: %s", s->cfg->image_dir, err.file, err.msg);
	runs_free(&s->dirty);
	free(s->pre_sums);
}

void migrate(const struct config *cfg, const struct strategy *st, struct result *res)
{
	struct run_state s = { .cfg = cfg, .res = res, .ps = getpagesize(), .sock = -1,
			       .source_mem = -1, .dirty = RUNS_INIT };
	double t0, t_freeze;

	result_start(cfg, st, res, &s.l);
	s.hot_pages = task_hot_pages(&s.l, cfg->hot_permille, cfg->hot_bytes);
	if (start_source(&s))
		goto out;
	t0 = now_ms();
	if (precopy(&s))
		goto out;
	res->precopy_ms = now_ms() - t0;
	if (cfg->inject && !strncmp(cfg->inject, "damage-", 7))
		damage_image(&s);
	if (cfg->early_fill && early_fill(&s))
		goto out;
	usleep(200 * 1000);	/* the workload goes on dirtying its hot pages */
	if (cfg->inject && !strcmp(cfg->inject, "kill-source-before-freeze"))
		kill(s.source, SIGKILL);
	if (freeze(&s))
		goto out;
	t_freeze = now_ms();
	if (lazy_round(&s))
		goto out;
	restore_and_serve(&s, t_freeze);
	res->total_ms = now_ms() - t0;
out:
	cleanup(&s);
}
