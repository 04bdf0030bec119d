/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The lazy-pages handler: serves the pages a running destination still
 * misses from the frozen source, on demand (its page faults) and in the
 * background, while the destination forks, mremaps, MADV_DONTNEEDs and
 * munmaps. It follows every process the destination forks (each has a
 * userfaultfd of its own, which arrives with UFFD_EVENT_FORK).
 *
 * The destination's userfaultfd must be registered in MISSING mode over
 * anonymous private memory and created with uffd_create_events(): without
 * the REMOVE/UNMAP/REMAP/FORK events the handler cannot know that memory
 * it still has to fill was discarded or moved, and would write stale
 * data there.
 */
#ifndef LAZYRESTORE_LAZY_H
#define LAZYRESTORE_LAZY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lazy_set.h"
#include "runs.h"

struct lazy_cfg {
	int uffd;			/* the destination's; stays the caller's to close
					 * (set O_NONBLOCK if it was not: poll needs it) */
	pid_t source;			/* the frozen source, read with process_vm_readv() */
	/*
	 * Source address of a page = its destination address when the
	 * handler starts (before any mremap) + src_delta.
	 */
	uint64_t src_delta;
	const struct runs *pages;	/* the lazy pages (page numbers); copied at start */
	bool faults_only;		/* no background fill: pages come only when faulted */
	size_t max_lat;			/* latency samples kept; 0: 1 << 20 */

	/*
	 * Test hooks, both optional. @proc: 0 for the destination, then
	 * 1, 2, ... for its forks in the order seen.
	 * after_read: the background thread has read a chunk for @proc
	 * from the source and copied none of it yet. No lock is held: it
	 * may call lazy_get_stats() and lazy_error(), not lazy_stop().
	 * copied: each successful UFFDIO_COPY, with the source range it
	 * came from. Called under the handler's lock: record and return,
	 * call nothing of lazy_*.
	 */
	void (*after_read)(void *arg, unsigned int proc, const struct lazy_extent *v, size_t n);
	void (*copied)(void *arg, unsigned int proc, uint64_t src, uint64_t len, bool fault);
	void *hook_arg;
};

/* Pages unless said otherwise. */
struct lazy_stats {
	uint64_t lazy;			/* the destination's lazy pages at start */
	uint64_t inherited;		/* pages forked children still missed at their fork */
	uint64_t faults;		/* fault messages read */
	uint64_t fault_copied;		/* copied from the source to serve a fault */
	uint64_t fault_inflight;	/* faults on a page the background had in flight */
	uint64_t bg_copied;		/* copied by the background fill */
	uint64_t zero_pages;		/* faults answered with UFFDIO_ZEROPAGE */
	uint64_t eexist;		/* a copy found the page there: it was not missing */
	uint64_t zero_eexist;		/* a zero page found it there: the fault raced its copy */
	uint64_t eagain;		/* copies put off: the mm was changing (EAGAIN, ENOENT) */
	uint64_t dropped;		/* out of a set by REMOVE/UNMAP, or with no VMA for good */
	uint64_t abandoned;		/* still to send when their process exited */
	uint64_t ev_fork, ev_remap, ev_remove, ev_unmap;
	uint64_t procs_seen, procs_exited;
	uint64_t nlat;			/* latency samples kept */
	bool dest_exited;		/* the destination itself (process 0) exited */
};

enum lazy_end {
	LAZY_RUNNING,
	/* Lazy completion: every live process has every page it missed. */
	LAZY_DONE,
	/* The same reached after the destination exited before it was done. */
	LAZY_DEST_EXITED,
	/* lazy_stop() before either. */
	LAZY_STOPPED,
};

struct lazy_state;

struct lazy {
	/* Set once the handler failed: a flag to watch while waiting on something else. */
	atomic_bool failed;
	struct lazy_state *st;		/* private */
};

/* 0, or -errno with nothing left to free. */
int lazy_start(struct lazy *lz, const struct lazy_cfg *cfg);
/*
 * Wait up to @timeout_ms (< 0: for ever) for lazy completion: LAZY_DONE or
 * LAZY_DEST_EXITED with *done_ns (may be NULL) when it happened (now_ns()
 * clock), -ETIMEDOUT, or the handler's failure as -errno (lazy_error()
 * says where). The handler goes on answering faults after completion:
 * memory the destination discards later still faults.
 */
int lazy_wait(struct lazy *lz, int timeout_ms, uint64_t *done_ns);
/*
 * Stop at once (completion or not) and release the userfaultfds of forked
 * children: faults there are then the kernel's (zero pages). Returns
 * the enum lazy_end it ended with, or the failure as -errno. Statistics,
 * error and latencies stay readable until lazy_free().
 */
int lazy_stop(struct lazy *lz);
void lazy_free(struct lazy *lz);

void lazy_get_stats(struct lazy *lz, struct lazy_stats *out);
/* The first failure: its errno (0: none) and where, in @what. */
int lazy_error(struct lazy *lz, char *what, size_t len);
/*
 * Faults served with a copy, from reading the fault message to the copy
 * that woke the faulter (done by the background for a page it had in
 * flight): the @pct-th percentile in ns, 0 without samples.
 */
uint64_t lazy_latency_percentile(struct lazy *lz, int pct);

#endif
