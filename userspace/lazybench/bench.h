/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazybench: the pieces of a restore measured one at a time, each next
 * to the machine's own limit measured in the same run. Results go out
 * as JSON lines for scripts/bench-report.py.
 */
#ifndef LAZYRESTORE_BENCH_H
#define LAZYRESTORE_BENCH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

#define BENCH_BASE	0x300000000000ULL	/* above ASan's shadow, apart from lazyrestore's */
#define BENCH_REPEAT	3
#define BENCH_MAX_MIB	(1ULL << 20)		/* --fill-mib */
#define BENCH_MAX_PAGES	(1ULL << 20)		/* --fault-pages */
#define BENCH_MAX_VMAS	60000			/* --vma-counts: under vm.max_map_count's 65530 */
#define BENCH_MAX_VMA_COUNTS 8
#define BENCH_MAX_VMA_PAGES 511			/* --vma-pages: below a PMD */

enum bench_cmd { BENCH_FILL, BENCH_FAULTS, BENCH_VMAS };

/*
 * Where the faulting thread and the handler's threads run. Waking a
 * thread on another CPU costs what the machine makes it cost (an IPI; in
 * a VM whose idle vCPUs halt, a trip through the host, tens of us), and
 * left to the scheduler each run draws its own placement: fixed, and the
 * same for the bare handler and lazyrestore's.
 */
enum bench_placement { BENCH_SAME_CPU, BENCH_CROSS_CPU };

struct bench_opts {
	enum bench_cmd cmd;
	const char *dir;	/* made if missing; fill's scratch directory goes in it */
	bool dir_made;		/* @dir did not exist: removed again at the end */
	char scratch[PATH_MAX];	/* fill: its own directory in @dir, "" if none */
	uint64_t fill_mib;
	uint64_t fault_pages;
	const char *method;	/* fill: only this one (for a profiler), NULL: all */
	enum bench_placement placement;
	uint64_t vma_counts[BENCH_MAX_VMA_COUNTS];	/* vmas: ascending */
	size_t nr_vma_counts;
	uint64_t vma_pages;
	FILE *out;		/* JSON lines */
};

/*
 * The command line into @o. Returns 0, 1 for --help, or -EINVAL with
 * *err saying in one line what was wrong.
 */
int bench_parse_args(struct bench_opts *o, int argc, char **argv, struct err *err);
void bench_usage(FILE *f);
/*
 * --dir made if missing, and for fill the scratch directory in it: 0 or
 * -errno (bad usage: it is not a directory, or not one to write in).
 */
int bench_dir_open(struct bench_opts *o, struct err *err);
/* Removes the scratch directory with the image in it, and --dir if it was made. */
void bench_dir_close(struct bench_opts *o);

void bench_note(const struct bench_opts *o, const char *part, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* One fill method: @secs of each repetition; the report takes the median. */
void bench_fill_row(const struct bench_opts *o, const char *name, const char *what, int cold,
		    int reference, uint64_t bytes, const double *secs, int n);
/* The fill methods' names, NULL after the last. */
const char *bench_fill_method(size_t i);
/* 0, or a negative errno with *err saying what failed (a missing kernel feature named). */
int bench_fill(const struct bench_opts *o, struct err *err);
int bench_faults(const struct bench_opts *o, struct err *err);
/* Each strategy's madvise sequence over each of --vma-counts VMAs. */
int bench_vmas(const struct bench_opts *o, struct err *err);

#endif
