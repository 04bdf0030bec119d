// SPDX-License-Identifier: GPL-2.0
/*
 * One migration: the task running at the source -> pre-copy rounds ->
 * freeze -> the lazy set marked in the last round -> destination restored
 * with a strategy -> the task resumed there, its lazy pages post-copied
 * as it meets them and in the background -> the task's own verdict,
 * VmFlags, VMA layout and THP coverage against the source. The parts:
 * migrate_source.c, migrate_dest.c, migrate_check.c.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "image_set.h"
#include "migrate_run.h"

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

int result_failv(struct result *res, const char *fmt, va_list ap)
{
	if (!res->error[0])
		vsnprintf(res->error, sizeof(res->error), fmt, ap);
	return -1;
}

int result_fail(struct result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	result_failv(res, fmt, ap);
	va_end(ap);
	return -1;
}

int run_fail(struct run_state *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	result_failv(s->res, fmt, ap);
	va_end(ap);
	return -1;
}

const char *exit_text(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "status %#x", status);
	return buf;
}

static void cleanup(struct run_state *s)
{
	struct err err;

	dest_stop(s);
	if (s->tracking)
		dirty_track_close(&s->track);
	if (s->source_mem >= 0)
		close(s->source_mem);
	if (s->source > 0) {
		kill(s->source, SIGKILL);
		waitpid(s->source, NULL, 0);
	}
	if (img_set_remove(s->cfg->image_dir, &err))
		run_fail(s, "removing the images: %s/%s: %s", s->cfg->image_dir, err.file, err.msg);
	runs_free(&s->dirty);
	free(s->pre_sums);
}

void migrate(const struct config *cfg, const struct strategy *st, struct result *res)
{
	struct run_state s = { .cfg = cfg, .res = res, .ps = getpagesize(), .sock = -1,
			       .source_mem = -1, .dirty = RUNS_INIT };
	double t0, t_freeze, t_lazy_done;

	result_start(cfg, st, res, &s.l);
	s.hot_pages = task_hot_pages(&s.l, cfg->hot_permille, cfg->hot_bytes);
	if (source_start(&s))
		goto out;
	t0 = now_ms();
	if (source_precopy(&s))
		goto out;
	res->precopy_ms = now_ms() - t0;
	if (cfg->inject == INJECT_DAMAGE_FLIP || cfg->inject == INJECT_DAMAGE_TRUNCATE)
		source_damage_image(&s);
	if (cfg->early_fill && dest_early_fill(&s))
		goto out;
	usleep(200 * 1000);	/* the workload goes on dirtying its hot pages */
	if (cfg->inject == INJECT_KILL_SOURCE_BEFORE_FREEZE)
		kill(s.source, SIGKILL);
	if (source_freeze(&s))
		goto out;
	t_freeze = now_ms();
	if (source_lazy_round(&s))
		goto out;
	if (dest_restore_and_serve(&s, t_freeze, &t_lazy_done))
		goto out;
	check_against_source(&s, t_lazy_done);
	res->total_ms = now_ms() - t0;
out:
	cleanup(&s);
}
