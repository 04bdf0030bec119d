/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAZYRESTORE_DEST_H
#define LAZYRESTORE_DEST_H

#include <stdbool.h>

#include "runs.h"
#include "strategy.h"

struct dest_args {
	const char *image_dir;
	const struct strategy *st;
	const struct runs *lazy;	/* pages served later, not from the image */
	int sock;			/* to the orchestrator */
	bool wait_khugepaged;		/* let it scan between fill and register */
};

/*
 * Child side: restore the image at its addresses with the strategy, pass
 * the userfaultfd over @sock, wait for "go", then read every page (the
 * lazy ones fault) and send their checksums back. Returns the exit code.
 */
int dest_run(const struct dest_args *a);

#endif
