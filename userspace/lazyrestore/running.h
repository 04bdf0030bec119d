/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The running region: memory the destination process keeps using while
 * one of its regions is restored, as a VMM or a database loading one
 * snapshot region in place does. A thread faults it in during the restore
 * window; its THP coverage at the end of the window shows what the
 * strategy's scope costs the rest of the process: PR_SET_THP_DISABLE is
 * process-wide, MADV_NOHUGEPAGE/MADV_CLR_HUGEPAGE and registering first
 * touch only the restored VMAs.
 */
#ifndef LAZYRESTORE_RUNNING_H
#define LAZYRESTORE_RUNNING_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct running_region {
	uint64_t bytes;
	char *map;		/* the reservation: the region between two PROT_NONE guards */
	size_t map_len;
	char *start;		/* 2 MiB aligned */
	pthread_t thread;
	bool started;
};

struct running_report {
	uint64_t touched_kb;	/* what the worker faulted in: the region's Rss (smaps) */
	uint64_t thp_kb;	/* AnonHugePages of the region (smaps) at the end of the window */
};

/* Map @bytes (a multiple of 2 MiB), MADV_HUGEPAGE: before the window. */
int running_region_map(struct running_region *r, uint64_t bytes);
/* The window opens: a thread starts faulting the region in. */
int running_region_start(struct running_region *r);
/* The window is about to close: wait until every page is in, then read smaps. */
int running_region_finish(struct running_region *r, struct running_report *rep);
void running_region_unmap(struct running_region *r);

#endif
