/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How a restore keeps THP away from partially filled memory until it is
 * registered with userfaultfd. One table entry per strategy; the
 * destination calls the hooks in this order: process_before, for each
 * VMA before_fill, (fill), (register), for each VMA after_register,
 * process_after.
 */
#ifndef LAZYRESTORE_STRATEGY_H
#define LAZYRESTORE_STRATEGY_H

#include <stdbool.h>

#include "image.h"

struct strategy {
	const char *name;
	const char *how;
	bool register_first;	/* fill through UFFDIO_COPY (or UFFDIO_MOVE) */
	bool fill_move;		/* read into a staging copy, UFFDIO_MOVE from there */
	bool needs_clr;		/* needs MADV_CLR_HUGEPAGE in the kernel */
	bool needs_move;	/* needs UFFDIO_MOVE in the kernel (6.8) */
	const char *criu;	/* not ours: CRIU's lazy restore, "page-server" or "local" */
	int (*process_before)(void);
	int (*before_fill)(const struct vma_rec *v);
	int (*after_register)(const struct vma_rec *v);
	int (*process_after)(void);
};

const struct strategy *strategy_find(const char *name);
const struct strategy *strategy_at(int i);	/* NULL past the last */
/*
 * What this kernel lacks for @st, or NULL when it can run here.
 * @hide_move: test hook, behave as a kernel without UFFDIO_MOVE.
 */
const char *strategy_missing(const struct strategy *st, bool hide_move);

#endif
