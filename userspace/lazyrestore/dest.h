/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAZYRESTORE_DEST_H
#define LAZYRESTORE_DEST_H

#include <stdbool.h>
#include <stdint.h>

#include "running.h"
#include "strategy.h"
#include "task.h"

struct dest_args {
	const char *image_dir;
	const struct strategy *st;
	int sock;			/* to the orchestrator */
	bool wait_khugepaged;		/* let it scan between fill and register */
	bool early;			/* fill while the source runs, then discard the lazy set */
	uint64_t running_bytes;		/* > 0: a running region faulted in during the window */
	struct task_plan plan;		/* what the resumed task does */
};

/* What the destination says with the userfaultfd, once restored. */
struct dest_report {
	uint64_t fill_ns;
	struct running_report running;	/* at the end of the restore window */
	uint64_t move_pmds;		/* uffd-move: whole 2 MiB ranges moved */
	uint64_t move_pages;		/* pages moved in smaller moves */
	uint64_t move_copied;		/* pages the kernel would not move, copied */
};

/*
 * Child side: restore the image set (image_set.h) at its addresses with
 * the strategy, leaving the lazy pages its last round marks missing; pass
 * the userfaultfd (with fork, remap, remove and unmap events) over @sock,
 * wait for "go", then resume the task (task.h) on the restored memory and
 * send its verdict (struct task_verdict). Returns the exit code.
 * The restore window runs from the strategy's process setup to its
 * teardown; with @running_bytes a thread faults in a running region of
 * that size throughout it (struct running_region).
 * @early: fill the pre-copy rounds before the source is frozen, say so
 * (the fill time) on @sock, wait for the freeze's round (a byte on
 * @sock) and discard its lazy pages (MADV_DONTNEED) before registering:
 * only that and the registration are left for the downtime.
 */
int dest_run(const struct dest_args *a);

#endif
