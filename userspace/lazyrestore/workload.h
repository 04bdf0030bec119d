/* SPDX-License-Identifier: GPL-2.0 */
/* The source side of a migration: the task, running, its writes tracked. */
#ifndef LAZYRESTORE_WORKLOAD_H
#define LAZYRESTORE_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"

/* What the source says once its memory is written and its writes are tracked. */
struct workload_ready {
	int32_t armed;		/* 1: userfaultfd WP_ASYNC armed over the layout */
	int32_t pad;
	/*
	 * AnonHugePages of the MADV_HUGEPAGE VMA before arming: a write to a
	 * write-protected THP splits it, so the tracked source has fewer.
	 */
	uint64_t thp_hg_kb;
	char why[160];		/* otherwise, what the kernel lacks for it */
};

/*
 * Child side: map the layout as the task (task.h), arm write tracking
 * (dirty_track_arm(), as CRIU's parasite would in a real task) unless
 * !@arm (soft-dirty asked for), send a
 * struct workload_ready on @ready_fd, then run the task until killed.
 * Returns only on error.
 */
int workload_run(const struct layout *l, uint64_t hot_pages, bool arm, int ready_fd);

/* A page's contents: its address and generation, spread over the page. */
static inline uint64_t page_word(uint64_t addr, uint64_t gen, long i)
{
	return addr ^ (gen * 0x100000001b3ULL) ^ (uint64_t)i;
}

#endif
