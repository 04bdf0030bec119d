/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAZYRESTORE_DEST_H
#define LAZYRESTORE_DEST_H

#include <stdbool.h>
#include <stdint.h>

#include "runs.h"
#include "running.h"
#include "strategy.h"

struct dest_args {
	const char *image_dir;
	const struct strategy *st;
	const struct runs *lazy;	/* pages served later, not from the image */
	int sock;			/* to the orchestrator */
	bool wait_khugepaged;		/* let it scan between fill and register */
	bool early;			/* fill while the source runs, then discard the lazy set */
	uint64_t running_bytes;		/* > 0: a running region faulted in during the window */
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
 * Child side: restore the image at its addresses with the strategy, pass
 * the userfaultfd over @sock, wait for "go", then read every page (the
 * lazy ones fault) and send their checksums back. Returns the exit code.
 * The restore window runs from the strategy's process setup to its
 * teardown; with @running_bytes a thread faults in a running region of
 * that size throughout it (struct running_region).
 * @early: fill every page of the image before the source is frozen, say
 * so (the fill time) on @sock, then take the lazy set from @sock and
 * discard those pages (MADV_DONTNEED) before registering: only that and
 * the registration are left for the downtime.
 */
int dest_run(const struct dest_args *a);

#endif
