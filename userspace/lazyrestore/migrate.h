/* SPDX-License-Identifier: GPL-2.0 */
/* One pre-copy + post-copy migration of a live workload, measured. */
#ifndef LAZYRESTORE_MIGRATE_H
#define LAZYRESTORE_MIGRATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "inject.h"
#include "layout.h"
#include "strategy.h"

struct config {
	uint64_t region_bytes;		/* per VMA of the layout */
	unsigned int hot_permille;	/* pages the workload keeps dirtying */
	uint64_t hot_bytes;		/* > 0: that many bytes instead */
	uint64_t post_steps;		/* accesses of the resumed task before its closing check */
	unsigned int seed;
	bool wait_khugepaged;		/* give it 2 scans between fill and register */
	bool collapse;			/* MADV_COLLAPSE what was huge, after lazy completion */
	unsigned int thp_watch_ms;	/* how long to watch THP come back */
	bool numa;			/* source VMAs with NUMA policies (layout_set_numa) */
	bool early_fill;		/* the destination fills before the freeze */
	bool soft_dirty;		/* track writes by soft-dirty even where WP_ASYNC is there */
	uint64_t running_bytes;		/* > 0: the destination faults in a running region too */
	const char *image_dir;
	enum inject inject;		/* test hook, INJECT_NONE but in tests */
};

#define MAX_ROUNDS	8	/* pre-copy rounds at most */

/* THP coverage of the MADV_HUGEPAGE VMA after lazy completion, sampled. */
#define THP_SAMPLE_MS	100
#define THP_SAMPLES	600	/* at most a minute */

struct vma_side {
	int vmas;			/* VMAs of the layout's span */
	uint64_t thp_kb;		/* AnonHugePages of the span */
};

struct result {
	const struct strategy *st;
	char error[200];		/* empty when the migration ran */
	bool unavailable;		/* error says what this machine lacks for it */
	uint64_t pages, precopied, lazy;
	uint64_t corrupted, zero_filled;	/* pages that differ; of those, read as zeros */
	int flag_mismatches;		/* VMAs whose VmFlags differ from the source's */
	char first_mismatch[200];
	struct vma_side src, dst;
	uint64_t faults, background;
	double precopy_ms, fill_ms, downtime_ms, lazy_ms, total_ms;
	double fault_p50_us, fault_p99_us;
	uint64_t thp_hg_src_kb;		/* the source's MADV_HUGEPAGE VMA */
	uint64_t thp_hg_lazy_kb;	/* the restored one at lazy completion */
	uint64_t thp_hg_kb[THP_SAMPLES];	/* the restored one, from lazy completion on */
	int thp_samples;
	double thp_back_ms;		/* from lazy completion to thp_hg_src_kb; -1: not seen */
	double thp_first_ms;		/* from lazy completion to the first sample */
	uint64_t collapse_pmds;		/* huge in the source, MADV_COLLAPSEd */
	double collapse_ms;		/* the process_madvise(MADV_COLLAPSE) call */
	long long numa_misplaced;	/* pages on another node than in the source; -1: not asked */
	long long numa_misplaced_vma[LAYOUT_MAX];	/* the same, per VMA of the layout */
	uint64_t running_kb;		/* the running region the destination faulted in */
	uint64_t running_thp_kb;	/* its AnonHugePages at the end of the restore window */
	uint64_t move_pmds, move_pages, move_copied;	/* uffd-move: struct dest_report */
	/* The lazy set: how it was found and how close it is to what the task wrote. */
	char tracker[16];		/* "uffd-wp-async" or "soft-dirty" */
	char tracker_why[160];		/* why not WP_ASYNC, when soft-dirty */
	int rounds;			/* pre-copy rounds */
	uint64_t round_pages[MAX_ROUNDS];
	uint64_t written;		/* pages that changed since the last round (checked after go) */
	uint64_t missed;		/* of those, not in the lazy set: must be 0 */
	double scan_ms;			/* the lazy set's scan, in the downtime */
	double lazy_round_ms;		/* scan + the last round written (smaps read), in the downtime */
	/* The resumed task's own verdict. */
	uint64_t task_checked, task_steps, child_checked;
	uint64_t discarded;		/* pages the task MADV_DONTNEED'd */
	/* The handler. */
	uint64_t zero_pages, copied_twice, dropped;
	uint64_t inherited;		/* lazy pages forked children still missed at their fork */
	uint64_t abandoned;		/* still to send when their process exited */
	uint64_t postcopy_pages;	/* copied from the source after go, forks' included */
	uint64_t ev_fork, ev_remap, ev_remove, ev_unmap;
};

/* Accesses of the resumed task: each hot page four times on average, 1000 at least. */
static inline uint64_t config_post_steps(const struct config *cfg, uint64_t hot_pages)
{
	if (cfg->post_steps)
		return cfg->post_steps;
	return hot_pages > 250 ? 4 * hot_pages : 1000;
}

void migrate(const struct config *cfg, const struct strategy *st, struct result *res);
/* An empty result for @st, and the layout @cfg asks for. */
void result_start(const struct config *cfg, const struct strategy *st, struct result *res,
		  struct layout *l);
/* The first error of a run wins: later ones are its fallout. Returns -1. */
int result_fail(struct result *res, const char *fmt, ...) ERR_PRINTF(2, 3);
int result_failv(struct result *res, const char *fmt, va_list ap);

#endif
