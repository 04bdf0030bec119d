/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A workload that checks its own memory: what it expects of every page
 * lives in its own state, so a copy restored by any tool (CRIU) can say
 * whether the restore lost or mixed up pages, with no help from outside.
 */
#ifndef LAZYRESTORE_SELFCHECK_H
#define LAZYRESTORE_SELFCHECK_H

#include "layout.h"

/*
 * Map and fill the layout, create @ready_path, then rewrite the hot pages
 * pass after pass, checking each page before rewriting it. On SIGUSR1,
 * check every page, write the counts to @verdict_path and exit 0.
 */
int selfcheck_run(const struct layout *l, const char *ready_path, const char *verdict_path);

/* What a verdict file says; -1 when it cannot be read or parsed. */
struct selfcheck_verdict {
	unsigned long long pages, wrong, zero, rewrites_wrong, first_bad;
};
int selfcheck_read_verdict(const char *path, struct selfcheck_verdict *v);

#endif
