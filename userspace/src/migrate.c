// SPDX-License-Identifier: GPL-2.0
/*
 * Source workload -> pre-copy into images -> freeze -> destination
 * restored with a strategy -> dirty pages post-copied on demand -> every
 * page, VmFlags, VMA layout and THP coverage compared with the source.
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
#include "image.h"
#include "layout.h"
#include "lazy.h"
#include "migrate.h"
#include "numa.h"
#include "procfs.h"
#include "proto.h"
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
	struct runs dirty;
	uint64_t *pre_sums;	/* each page as pre-copied */
	uint64_t *src_sums;	/* each page at freeze */
};

void result_start(const struct config *cfg, const struct strategy *st, struct result *res,
		  struct layout *l)
{
	memset(res, 0, sizeof(*res));
	res->st = st;
	res->numa_misplaced = -1;
	layout_init(l, cfg->region_bytes, cfg->hot_permille, cfg->seed);
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
	char c, buf[64];
	int p[2], status;

	if (pipe2(p, O_CLOEXEC))
		return failf(s, "pipe: %s", strerror(errno));
	s->source = fork();
	if (s->source < 0)
		return failf(s, "fork: %s", strerror(errno));
	if (s->source == 0) {
		close(p[0]);
		_exit(workload_run(&s->l, p[1]));
	}
	close(p[1]);
	if (proto_read_all(p[0], &c, 1, 60000)) {
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
	return 0;
}

/* Through /proc/PID/mem: works without CONFIG_CROSS_MEMORY_ATTACH too. */
static int read_source(struct run_state *s, uint64_t addr, void *buf, uint64_t len)
{
	return pread(s->source_mem, buf, len, addr) == (ssize_t)len ? 0 : -1;
}

/* Live: soft-dirty cleared, then every page into the images. */
static int precopy(struct run_state *s)
{
	struct vma_rec recs[LAYOUT_MAX];
	struct runs first_page = RUNS_INIT;
	struct img_writer w;
	struct img_error err;
	struct vma_info *v;
	size_t nv;
	char *buf;
	int ret = 0;

	/* Every page was just written: none soft-dirty means no soft-dirty. */
	if (proc_pages_with(s->source, s->l.vma[0].start, s->l.vma[0].start + s->ps,
			    PM_SOFT_DIRTY_BIT, &first_page))
		return failf(s, "reading the workload's pagemap: %s", strerror(errno));
	s->res->soft_dirty = first_page.n > 0;
	runs_free(&first_page);
	if (s->res->soft_dirty && proc_clear_soft_dirty(s->source))
		return failf(s, "clearing soft-dirty bits: %s", strerror(errno));
	v = proc_vmas(s->source, s->l.vma[0].start, s->l.vma[s->l.n - 1].end, &nv);
	if (!v || nv != (size_t)s->l.n) {
		free(v);
		return failf(s, "the workload's VMAs are not its layout's");
	}
	for (int i = 0; i < s->l.n; i++) {
		recs[i] = s->l.vma[i];
		recs[i].thp = v[i].hg ? THP_ADVICE_HUGEPAGE : v[i].nh ? THP_ADVICE_NOHUGEPAGE :
			      THP_ADVICE_NONE;
		/* What the source says, not what the layout meant: as a real dump would. */
		if (numa_policy_of(s->source, recs[i].start, &recs[i].mpol, &recs[i].nodes))
			recs[i].mpol = 0, recs[i].nodes = 0;
	}
	free(v);
	buf = malloc(CHUNK_PAGES * s->ps);
	s->pre_sums = malloc(s->res->pages * sizeof(*s->pre_sums));
	if (!buf || !s->pre_sums) {
		free(buf);
		return failf(s, "out of memory");
	}
	if (img_writer_open(&w, s->cfg->image_dir, s->ps, &err)) {
		free(buf);
		return failf(s, "%s/%s: %s", s->cfg->image_dir, err.file, err.msg);
	}
	for (int i = 0; i < s->l.n && !ret; i++) {
		for (uint64_t a = recs[i].start; a < recs[i].end && !ret; a += CHUNK_PAGES * s->ps) {
			uint64_t len = recs[i].end - a < CHUNK_PAGES * (uint64_t)s->ps ?
				       recs[i].end - a : CHUNK_PAGES * (uint64_t)s->ps;

			if (read_source(s, a, buf, len))
				ret = failf(s, "reading the workload's memory: %s", strerror(errno));
			else if (img_writer_add(&w, a / s->ps, len / s->ps, buf, &err))
				ret = failf(s, "%s: %s", err.file, err.msg);
			for (uint64_t p = 0; !ret && p < len / s->ps; p++)
				s->pre_sums[s->res->precopied++] = page_checksum(buf + p * s->ps, s->ps);
		}
	}
	free(buf);
	if (ret) {
		img_writer_abort(&w);
		return ret;
	}
	if (img_writer_finish(&w, recs, s->l.n, &err))
		return failf(s, "%s: %s", err.file, err.msg);
	return 0;
}

/* Test hook: flip a byte inside pages.img, or cut its end off. */
static void damage_image(struct run_state *s)
{
	char path[512], c;
	int fd;

	snprintf(path, sizeof(path), "%s/pages.img", s->cfg->image_dir);
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

/*
 * The frozen source: every page's checksum (for the final comparison),
 * and into @changed the pages that changed since the pre-copy.
 */
static int record_source(struct run_state *s, struct runs *changed)
{
	uint64_t lo = s->l.vma[0].start, hi = s->l.vma[s->l.n - 1].end, k = 0;
	char *buf = malloc(CHUNK_PAGES * s->ps);
	int ret = 0;

	struct runs soft = RUNS_INIT, missed = RUNS_INIT;

	if (!buf || (s->res->soft_dirty &&
		     proc_pages_with(s->source, lo, hi, PM_SOFT_DIRTY_BIT, &soft))) {
		free(buf);
		runs_free(&soft);
		return failf(s, "reading the workload's pagemap: %s", strerror(errno));
	}
	s->src_sums = malloc(s->res->pages * sizeof(*s->src_sums));
	for (int i = 0; s->src_sums && i < s->l.n && !ret; i++) {
		for (uint64_t a = s->l.vma[i].start; a < s->l.vma[i].end && !ret; a += CHUNK_PAGES * s->ps) {
			if (read_source(s, a, buf, CHUNK_PAGES * s->ps))
				ret = failf(s, "reading the frozen workload: %s", strerror(errno));
			for (int p = 0; !ret && p < CHUNK_PAGES; p++, k++) {
				s->src_sums[k] = page_checksum(buf + p * s->ps, s->ps);
				/*
				 * Lazy: the pages that changed since the pre-copy.
				 * Soft-dirty alone would do, but it marks a whole
				 * THP when one of its pages is written, and that
				 * hides partially filled PMD ranges.
				 */
				if (s->src_sums[k] != s->pre_sums[k] &&
				    runs_add(changed, a / s->ps + p, 1))
					ret = failf(s, "out of memory");
			}
		}
	}
	free(buf);
	s->res->soft_dirty_pages = runs_pages(&soft);
	/* Every changed page must have been written since the pre-copy. */
	if (!ret && s->res->soft_dirty && runs_subtract(changed, &soft, &missed) == 0 && missed.n)
		ret = failf(s, "soft-dirty missed %llu changed pages, first at %#llx",
			    (unsigned long long)runs_pages(&missed),
			    (unsigned long long)(missed.v[0].start * s->ps));
	runs_free(&soft);
	runs_free(&missed);
	if (!s->src_sums)
		return failf(s, "out of memory");
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
		.image_dir = s->cfg->image_dir, .st = s->res->st, .lazy = &s->dirty,
		.wait_khugepaged = s->cfg->wait_khugepaged, .early = s->cfg->early_fill,
		.running_bytes = s->cfg->running_bytes,
	};
	int sv_pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv_pair))
		return failf(s, "socketpair: %s", strerror(errno));
	s->dest = fork();
	if (s->dest < 0)
		return failf(s, "fork: %s", strerror(errno));
	if (s->dest == 0) {
		close(sv_pair[0]);
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

/*
 * --early-fill, in the downtime: the lazy set, then the destination
 * discards it. With soft-dirty that is a pagemap read, whatever the size;
 * without, every page of the frozen source is read and compared.
 */
static int send_lazy_set(struct run_state *s)
{
	uint64_t lo = s->l.vma[0].start, hi = s->l.vma[s->l.n - 1].end, n;

	if (s->res->soft_dirty) {
		if (proc_pages_with(s->source, lo, hi, PM_SOFT_DIRTY_BIT, &s->dirty))
			return failf(s, "reading the workload's pagemap: %s", strerror(errno));
	} else if (record_source(s, &s->dirty)) {
		return -1;
	}
	s->res->lazy = runs_pages(&s->dirty);
	n = s->dirty.n;
	if (proto_write_all(s->sock, &n, sizeof(n)) ||
	    proto_write_all(s->sock, s->dirty.v, n * sizeof(*s->dirty.v)))
		return failf(s, "sending the lazy set: %s", strerror(errno));
	return 0;
}

static int restore_and_serve(struct run_state *s, double t_freeze)
{
	struct vma_info *sv = NULL, *dv = NULL;
	size_t nsv = 0, ndv = 0;
	struct dest_report rep;
	uint64_t *sums, zero_sum;
	double t_go, t_lazy_done;
	char *zero;
	struct lazy lz;
	int uffd, ret = 0;

	if (!s->cfg->early_fill && start_dest(s))
		return -1;
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
	if (s->cfg->inject && !strcmp(s->cfg->inject, "kill-source-lazy")) {
		kill(s->source, SIGKILL);
		waitpid(s->source, NULL, 0);
		s->source = 0;
	}
	if (lazy_start(&lz, uffd, s->source_mem, &s->dirty)) {
		close(uffd);
		return failf(s, "starting the lazy-pages handler");
	}
	t_go = now_ms();
	if (proto_write_all(s->sock, "g", 1))
		ret = failf(s, "resuming the destination: %s", strerror(errno));
	s->res->downtime_ms = t_go - t_freeze;
	/* Early fill with soft-dirty: the comparison's data, now that it runs. */
	if (!ret && s->cfg->early_fill && !s->src_sums) {
		struct runs changed = RUNS_INIT;

		ret = record_source(s, &changed);
		runs_free(&changed);
	}
	sums = malloc(s->res->pages * sizeof(*sums));
	/* Watch the handler while waiting: if it fails, no fault gets served. */
	if (!ret && (!sums || proto_read_all_unless(s->sock, sums, s->res->pages * sizeof(*sums),
						    300000, &lz.stop))) {
		if (lz.error) {
			kill(s->dest, SIGKILL);
			ret = failf(s, "the lazy-pages handler failed %s: %s%s; destination stopped",
				    lz.what, strerror(lz.error),
				    kill(s->source, 0) || lz.error == ESRCH || lz.error == EIO ?
				    " (the workload is gone)" : "");
		} else {
			ret = failf(s, "the destination did not report its pages: %s", strerror(errno));
		}
	}
	if (lazy_stop(&lz))
		ret = failf(s, "lazy-pages handler: %s: %s", lz.what, strerror(lz.error));
	t_lazy_done = now_ms();
	s->res->lazy_ms = t_lazy_done - t_go;
	s->res->faults = lz.faults;
	s->res->background = lz.filled;
	s->res->fault_p50_us = lazy_latency_percentile(&lz, 50) / 1e3;
	s->res->fault_p99_us = lazy_latency_percentile(&lz, 99) / 1e3;
	free(lz.lat_ns);
	close(uffd);
	zero = calloc(1, s->ps);
	zero_sum = zero ? page_checksum(zero, s->ps) : 0;
	free(zero);
	for (uint64_t i = 0; !ret && i < s->res->pages; i++) {
		if (sums[i] == s->src_sums[i])
			continue;
		s->res->corrupted++;
		s->res->zero_filled += sums[i] == zero_sum;
	}
	free(sums);
	if (!ret) {
		vma_side_of(s->source, &s->l, &s->res->src, &sv, &nsv);
		vma_side_of(s->dest, &s->l, &s->res->dst, &dv, &ndv);
		vma_compare(s->res, sv, nsv, dv, ndv);
		s->res->thp_hg_src_kb = vma_thp_in(sv, nsv, s->l.vma[LAYOUT_HG].start,
						   s->l.vma[LAYOUT_HG].end);
		s->res->thp_hg_lazy_kb = vma_thp_in(dv, ndv, s->l.vma[LAYOUT_HG].start,
						    s->l.vma[LAYOUT_HG].end);
		if (s->cfg->numa)
			ret = compare_nodes(s);
		if (!ret && s->cfg->collapse)
			ret = collapse_like_source(s);
		vma_watch_thp(s->res, s->dest, s->l.vma[LAYOUT_HG].start, s->l.vma[LAYOUT_HG].end,
			      s->res->thp_hg_src_kb, t_lazy_done, s->cfg->thp_watch_ms);
		free(sv);
		free(dv);
	}
	return ret;
}

static void cleanup(struct run_state *s)
{
	char path[512];

	if (s->sock >= 0) {
		if (proto_write_all(s->sock, "b", 1) == 0 && s->dest > 0)
			waitpid(s->dest, NULL, 0), s->dest = 0;
		close(s->sock);
	}
	if (s->dest > 0) {
		kill(s->dest, SIGKILL);
		waitpid(s->dest, NULL, 0);
	}
	if (s->source_mem >= 0)
		close(s->source_mem);
	if (s->source > 0) {
		kill(s->source, SIGKILL);
		waitpid(s->source, NULL, 0);
	}
	for (const char *n = "mm.img\0pagemap.img\0pages.img\0"; *n; n += strlen(n) + 1) {
		snprintf(path, sizeof(path), "%s/%s", s->cfg->image_dir, n);
		unlink(path);
	}
	rmdir(s->cfg->image_dir);
	runs_free(&s->dirty);
	free(s->pre_sums);
	free(s->src_sums);
}

void migrate(const struct config *cfg, const struct strategy *st, struct result *res)
{
	struct run_state s = { .cfg = cfg, .res = res, .ps = getpagesize(), .sock = -1,
			       .source_mem = -1, .dirty = RUNS_INIT };
	double t0, t_freeze;

	result_start(cfg, st, res, &s.l);
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
	if (cfg->early_fill) {
		if (send_lazy_set(&s))
			goto out;
	} else {
		if (record_source(&s, &s.dirty))
			goto out;
		res->lazy = runs_pages(&s.dirty);
	}
	restore_and_serve(&s, t_freeze);
	res->total_ms = now_ms() - t0;
out:
	cleanup(&s);
}
