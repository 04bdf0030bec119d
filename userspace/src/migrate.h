/* SPDX-License-Identifier: GPL-2.0 */
/* One pre-copy + post-copy migration of a live workload, measured. */
#ifndef LAZYRESTORE_MIGRATE_H
#define LAZYRESTORE_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "strategy.h"

struct config {
	uint64_t region_bytes;		/* per VMA of the layout */
	unsigned int hot_permille;	/* pages the workload keeps dirtying */
	unsigned int seed;
	bool wait_khugepaged;		/* give it 2 scans between fill and register */
	const char *image_dir;
	const char *inject;		/* test hook: kill-source-before-freeze, kill-source-lazy,
					   damage-flip, damage-truncate */
};

struct vma_side {
	int vmas;			/* VMAs of the layout's span */
	uint64_t thp_kb;		/* AnonHugePages of the span */
};

struct result {
	const struct strategy *st;
	char error[200];		/* empty when the migration ran */
	uint64_t pages, precopied, lazy;
	bool soft_dirty;		/* the kernel tracks soft-dirty bits */
	uint64_t soft_dirty_pages;	/* pages soft-dirty at freeze */
	uint64_t corrupted, zero_filled;	/* pages that differ; of those, read as zeros */
	int flag_mismatches;		/* VMAs whose VmFlags differ from the source's */
	char first_mismatch[200];
	struct vma_side src, dst;
	uint64_t faults, background;
	double precopy_ms, fill_ms, downtime_ms, lazy_ms, total_ms;
	double fault_p50_us, fault_p99_us;
};

void migrate(const struct config *cfg, const struct strategy *st, struct result *res);

#endif
