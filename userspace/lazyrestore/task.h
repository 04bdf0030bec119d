/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The migrated task: a loop that reads and rewrites random pages of a hot
 * set, and whose whole state (loop position, RNG, each hot page's
 * generation) lives in the memory it migrates. The destination resumes
 * the same loop on the restored memory, so its accesses come in the
 * task's own order, and every access first checks the page it touches,
 * as CRIU's zdtm tests do: a lost, stale or mixed-up page is caught by
 * the task itself. The same task runs under lazyrestore's strategies and
 * under CRIU, so "corrupted" means one thing everywhere.
 */
#ifndef LAZYRESTORE_TASK_H
#define LAZYRESTORE_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "layout.h"

#define TASK_MAGIC	0x6b7361747a616cULL	/* "lazytsk" */
#define TASK_GEN_ZERO	UINT32_MAX		/* MADV_DONTNEED'd: reads as zeros */

struct task_verdict {
	uint64_t checked;	/* page checks */
	uint64_t wrong;		/* pages not as the task left them */
	uint64_t zero;		/* of those, read as zeros */
	uint64_t first_bad;	/* the first such page's address */
	uint64_t child_checked, child_wrong, child_zero;	/* the child forked in post-copy */
	uint64_t steps;		/* accesses after the resume */
	uint64_t discarded;	/* pages its MADV_DONTNEED dropped */
	int64_t error;		/* -errno of a post-copy action that failed */
};

/* At the start of the layout's first VMA; the rest of memory is data. */
struct task_state {
	uint64_t magic;
	uint64_t rng;
	uint64_t steps;		/* accesses since the task started */
	uint64_t sweep;		/* the page the sweep checks next */
	uint64_t npages;	/* of the layout, the state's own included */
	uint64_t state_pages;
	uint64_t hot;		/* hot pages, scattered one per stride */
	uint64_t stride;
	int nvma;
	uint64_t vma_start[LAYOUT_MAX], vma_pages[LAYOUT_MAX];
	/* A write the freeze interrupted: the resume redoes it. */
	uint64_t pending;	/* hot index + 1; 0: none */
	uint32_t pending_gen;
	uint32_t pad;
	/* What the post-copy actions did, so that the checks expect it. */
	uint64_t moved_from, moved_to, moved_len;
	uint64_t zeroed_start, zeroed_end;
	struct task_verdict v;	/* since the last resume */
	uint32_t gen[];		/* per hot page */
};

/* What the resumed task does during the post-copy phase. */
struct task_plan {
	uint64_t steps;		/* accesses before the closing check */
	bool actions;		/* fork a child, mremap a region away and back, MADV_DONTNEED a range */
};

/* Hot pages when @hot_bytes is 0: @permille of the data pages. */
uint64_t task_hot_pages(const struct layout *l, unsigned int permille, uint64_t hot_bytes);
/*
 * Map the layout at its addresses with its advice (and NUMA policy), write
 * every page, and set the state up. The state is at l->vma[0].start.
 */
int task_map(const struct layout *l, uint64_t hot_pages, struct err *e);
static inline struct task_state *task_of(const struct layout *l)
{
	return (struct task_state *)l->vma[0].start;
}
static inline struct task_state *task_of_vma(const struct vma_rec *first)
{
	return (struct task_state *)first->start;
}
/* One access: check a random hot page, rewrite it, check the sweep's page. */
void task_step(struct task_state *s);
/*
 * The destination's side: redo an interrupted write, run @p on the
 * restored memory, then check every page. The verdict covers only what
 * this resume saw. Returns 0, or -errno when an action failed.
 */
int task_resume(struct task_state *s, const struct task_plan *p, struct task_verdict *out);
/* Every page of the layout, checked once. */
void task_check_all(struct task_state *s);
/* Where hot page @k is in the layout. */
uint64_t task_hot_addr(const struct task_state *s, uint64_t k);
/* The address the task's page @logical lives at now (after an mremap). */
uint64_t task_phys(const struct task_state *s, uint64_t logical);

#endif
