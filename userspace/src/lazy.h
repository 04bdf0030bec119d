/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The lazy-pages handler: owns the destination's userfaultfd, serves its
 * faults from the frozen source, and fills the rest in the background.
 */
#ifndef LAZYRESTORE_LAZY_H
#define LAZYRESTORE_LAZY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "runs.h"

struct lazy {
	int uffd;
	int source_mem;			/* /proc/SOURCE/mem of the frozen source */
	const struct runs *pages;	/* what the handler must deliver */
	uint64_t src_delta;		/* source address = destination address + this */
	long ps;
	pthread_t fault_thread, fill_thread;
	atomic_bool stop;
	atomic_ulong faults, filled;
	uint64_t *lat_ns;		/* per fault served */
	size_t nlat, cap;
	int error;			/* errno of the first failure */
	char what[64];			/* where it happened */
};

int lazy_start(struct lazy *lz, int uffd, int source_mem, const struct runs *pages);
/* The same, with the source's pages @src_delta bytes away from the destination's. */
int lazy_start_at(struct lazy *lz, int uffd, int source_mem, const struct runs *pages,
		  uint64_t src_delta);
int lazy_stop(struct lazy *lz);
uint64_t lazy_latency_percentile(struct lazy *lz, int pct);

#endif
