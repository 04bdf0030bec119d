/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazybench: the pieces of a restore measured one at a time, each next
 * to the machine's own limit measured in the same run. Results go out
 * as JSON lines for scripts/bench-report.
 */
#ifndef LAZYRESTORE_BENCH_H
#define LAZYRESTORE_BENCH_H

#include <stdint.h>
#include <stdio.h>

#define BENCH_BASE	0x300000000000ULL	/* above ASan's shadow, apart from lazyrestore's */
#define BENCH_REPEAT	3

struct bench_opts {
	const char *dir;	/* for the image files */
	uint64_t fill_mib;
	uint64_t fault_pages;
	const char *method;	/* fill: only this one (for a profiler), NULL: all */
	FILE *out;		/* JSON lines */
};

void bench_note(const struct bench_opts *o, const char *part, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* One fill method: @secs of each repetition; the report takes the median. */
void bench_fill_row(const struct bench_opts *o, const char *name, const char *what, int cold,
		    int reference, uint64_t bytes, const double *secs, int n);
int bench_fill(const struct bench_opts *o);
int bench_faults(const struct bench_opts *o);

#endif
