/* SPDX-License-Identifier: GPL-2.0 */
/*
 * khugepaged's sysfs knobs, set aggressive for a run and put back after
 * it, whatever ends it: the original values are on disk before any knob
 * changes, with the runs holding them (pid and start time, so a recycled
 * pid is not taken for a live run). Overlapping runs share them: the
 * first saves and sets, the last puts back. A run killed with SIGKILL
 * leaves the file: the next run puts the values back at its start, or
 * `lazyrestore knobs --restore` does.
 *
 *   STATE/knobs.lock    flock()ed around every read and change of:
 *   STATE/knobs.saved   "NAME VALUE" per knob, "holder PID STARTTIME" per run
 */
#ifndef LAZYRESTORE_KNOBS_H
#define LAZYRESTORE_KNOBS_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "err.h"

#define KNOBS_MAX 4
#define KNOBS_HOLDERS 32	/* runs sharing the knobs at once */
#define KNOBS_PATH 256

#define KNOBS_SYSFS "/sys/kernel/mm/transparent_hugepage/khugepaged"
#define KNOBS_STATE "/run/lazyrestore"

/* Where the knobs and the saved file are: fake ones in the tests. */
struct knobs_where {
	const char *sysfs;	/* khugepaged's sysfs directory */
	const char *state;	/* the directory of knobs.lock and knobs.saved */
};

/*
 * What the signal hook needs, ready beforehand: it cannot format or
 * allocate. All zero (= { 0 }) is a struct that holds nothing.
 */
struct knobs {
	char knob[KNOBS_MAX][KNOBS_PATH];
	char lock[KNOBS_PATH], saved[KNOBS_PATH], tmp[KNOBS_PATH];
	pid_t pid;
	unsigned long long start;	/* field 22 of /proc/PID/stat */
	int held;			/* we are a holder in knobs.saved */
	pid_t lock_tid;			/* the thread holding knobs.lock, 0 if none */
};

/* The defaults; LAZYRESTORE_KNOBS_SYSFS and LAZYRESTORE_STATE_DIR override them. */
void knobs_where_env(struct knobs_where *w);

/*
 * khugepaged at full speed (scan_sleep_millisecs 0, alloc_sleep_millisecs 0,
 * pages_to_scan 65536, max_ptes_none 511), @w NULL for knobs_where_env().
 * On failure nothing is changed and nothing is left in STATE.
 */
int knobs_acquire(struct knobs *kn, const struct knobs_where *w, struct err *e);
/* Our hold given up; the last live holder puts the saved values back. 0 when not held. */
int knobs_release(struct knobs *kn, struct err *e);
/* knobs_release() for fatal_signal_on(): async-signal-safe, errors ignored. */
void knobs_release_hook(void *kn);

struct knobs_recovery {
	bool restored;			/* the saved values were put back */
	int knobs;			/* how many */
	int ndead;			/* the dead holders, the runs that left them */
	pid_t dead[KNOBS_HOLDERS];
};

/*
 * `lazyrestore knobs --restore`: the values runs that died left saved put
 * back. Nothing saved is not an error (*restored false); a live holder is
 * -EBUSY ("pid N (lazyrestore run) still holds the knobs").
 */
int knobs_recover(const struct knobs_where *w, bool *restored, struct err *e);
/* The same, saying what it did in @r. */
int knobs_recover_report(const struct knobs_where *w, struct knobs_recovery *r, struct err *e);
/* The current values, the saved ones and their holders, alive or dead, to @out. */
int knobs_status(const struct knobs_where *w, FILE *out, struct err *e);

/* khugepaged's full_scans counter, 0 if unreadable. */
unsigned long khugepaged_full_scans(void);
/* Wait until khugepaged completed @n more full scans; false after @seconds. */
bool khugepaged_wait_scans(unsigned long n, int seconds);

#endif
