/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One migration's state, shared by its parts: the source and its
 * pre-copy (migrate_source.c), the destination and its post-copy
 * (migrate_dest.c), the checks against the source (migrate_check.c).
 */
#ifndef LAZYRESTORE_MIGRATE_RUN_H
#define LAZYRESTORE_MIGRATE_RUN_H

#include <sys/types.h>

#include "dirty_track.h"
#include "layout.h"
#include "migrate.h"
#include "runs.h"
#include "task.h"

struct run_state {
	const struct config *cfg;
	struct result *res;
	struct layout l;
	long ps;
	pid_t source, dest;
	int source_mem;		/* /proc/SOURCE/mem */
	int sock;		/* to the destination */
	uint64_t hot_pages;
	struct dirty_track track;
	bool tracking;
	struct runs dirty;	/* the lazy set */
	uint64_t *pre_sums;	/* each page as last pre-copied */
	struct task_verdict verdict;
};

/* The run's first error, into its result; returns -1. */
int run_fail(struct run_state *s, const char *fmt, ...) ERR_PRINTF(2, 3);
/* "exit status 1", "killed by signal 9". */
const char *exit_text(int status, char *buf, size_t len);

/* migrate_source.c */
int source_start(struct run_state *s);
int source_precopy(struct run_state *s);
void source_damage_image(struct run_state *s);
int source_freeze(struct run_state *s);
int source_lazy_round(struct run_state *s);
int source_read(struct run_state *s, uint64_t addr, void *buf, uint64_t len);
uint64_t source_page_index(const struct run_state *s, uint64_t addr);

/* migrate_dest.c */
int dest_early_fill(struct run_state *s);
int dest_restore_and_serve(struct run_state *s, double t_freeze, double *t_lazy_done);
void dest_stop(struct run_state *s);

/* migrate_check.c */
int check_against_source(struct run_state *s, double t_lazy_done);

#endif
