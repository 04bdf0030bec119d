/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The task (task.h) as a process of its own, for CRIU to dump and restore:
 * what it expects of every page lives in its own memory, so its restored
 * copy says with no help from outside whether the restore lost or mixed up
 * pages.
 */
#ifndef LAZYRESTORE_SELFCHECK_H
#define LAZYRESTORE_SELFCHECK_H

#include "layout.h"
#include "task.h"

/*
 * Map and fill the layout, create @ready_path, then run the task. On
 * SIGUSR1 (sent to the restored copy as soon as it runs) resume it as
 * the destination does (struct task_plan: fork, mremap, MADV_DONTNEED
 * while the lazy pages come in), write the verdict to @verdict_path and
 * wait to be killed, so that its VMAs can still be read.
 */
int selfcheck_run(const struct layout *l, uint64_t hot_pages, uint64_t post_steps,
		  const char *ready_path, const char *verdict_path);

/* What a verdict file says; -1 when it cannot be read or parsed. */
int selfcheck_read_verdict(const char *path, struct task_verdict *v);

#endif
