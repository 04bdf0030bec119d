/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which 4 KiB pages a running process (B) wrote since the last look, round
 * after round, so that a pre-copy orchestrator (A) resends only those.
 *
 * Primary method, "uffd-wp-async" (Linux 6.7): B holds a userfaultfd with
 * UFFD_FEATURE_WP_ASYNC on its own mm and every tracked range write-protected.
 * A write then only drops the protection of that one PTE, without a message
 * to anyone; A's PAGEMAP_SCAN on /proc/B/pagemap returns the unprotected
 * pages and protects them again under the page table lock, so a write is
 * either in this round's set or in the next one's, never lost. A write to a
 * write-protected THP splits the PMD first (wp_huge_pmd(), mm/memory.c), so
 * the set is exact to the 4 KiB page even where B had THPs.
 *
 * Fallback, "soft-dirty": bit 55 of /proc/B/pagemap, cleared for the whole
 * process by "4" into /proc/B/clear_refs. Coarser: a written PMD-mapped THP
 * reports all its 512 pages, pages of a VMA created since the last clear are
 * all reported, and pinned pages stay dirty. Used when B could not arm the
 * above, or when /proc/B/pagemap has no PAGEMAP_SCAN.
 */
#ifndef LAZYRESTORE_DIRTY_TRACK_H
#define LAZYRESTORE_DIRTY_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "runs.h"

/* Bytes [start, end) of the tracked process; both page-aligned. */
struct dirty_range {
	uint64_t start;
	uint64_t end;
};

/*
 * In the tracked process B, which must be the caller: userfaultfd() binds
 * to the caller's mm, so this is the part that runs in CRIU's parasite.
 * Creates a userfaultfd with UFFD_FEATURE_WP_ASYNC (and WP_UNPOPULATED, so
 * pages B never touched carry a marker and do not count as written), then
 * registers each of @ranges with UFFDIO_REGISTER_MODE_WP and write-protects
 * it. Pages written before this call do not count as written after it.
 *
 * Returns the fd, which B must keep open for as long as it is tracked:
 * closing it unregisters the ranges and the next collect fails -EPERM. On
 * failure -errno, with @e naming what is missing, e.g.
 * -EOPNOTSUPP "UFFD_FEATURE_WP_ASYNC not supported by this kernel (needs
 * 6.7)". Nothing stays registered on failure.
 */
int dirty_track_arm(const struct dirty_range *ranges, size_t n, struct err *e);

enum dirty_method {
	DIRTY_WP_ASYNC,
	DIRTY_SOFT_DIRTY,
};

/*
 * Regions per PAGEMAP_SCAN call. The kernel copies out through a bounce
 * buffer of 512; a call that fills it more than once still finishes, but
 * reports walk_end where the first fill stopped (seen on 6.18), so a bigger
 * vec only buys an extra call.
 */
#define DIRTY_TRACK_VEC	512

struct page_region;

struct dirty_track {
	pid_t pid;
	enum dirty_method method;
	/*
	 * Held open from dirty_track_open(): they name B's process, not its
	 * pid number, so a reused pid never redirects them, and they fail
	 * -ESRCH (read: EOF) once B's mm is gone.
	 */
	int pagemap_fd;
	int clear_refs_fd;	/* soft-dirty only, else -1 */
	int maps_fd;
	long page_size;
	struct page_region *vec;	/* scratch for PAGEMAP_SCAN */
	size_t vec_len;		/* regions per call, <= DIRTY_TRACK_VEC; tests lower it */

	/* Cumulative, for the caller's reports. */
	uint64_t scans;		/* dirty_track_collect() calls */
	uint64_t ioctls;	/* PAGEMAP_SCAN calls */
	uint64_t pages;		/* pages reported written */
	uint64_t ns;		/* CLOCK_MONOTONIC time inside collect */
};

/*
 * In the orchestrator A, for process @pid. @armed: B's dirty_track_arm()
 * succeeded, so use uffd-wp-async; otherwise, or when this kernel has no
 * PAGEMAP_SCAN, soft-dirty. Either way the tracking restarts now: every
 * tracked page counts as clean. Needs ptrace-read access to @pid.
 *
 * Returns 0 with t->method set; @e->msg then says why it is not uffd-wp-async
 * ("" when it is). -errno when neither method works, e.g. -EOPNOTSUPP
 * "soft-dirty not supported by this kernel (CONFIG_MEM_SOFT_DIRTY unset)",
 * or /proc/@pid cannot be opened (-ESRCH, -EACCES). On failure @t needs
 * no dirty_track_close().
 */
int dirty_track_open(struct dirty_track *t, pid_t pid, bool armed, struct err *e);

/*
 * Adds to @out (page numbers: address / page size) the pages of [lo, hi)
 * written since dirty_track_open() or since the collect that last covered
 * them, and restarts their tracking. @lo and @hi page-aligned.
 *
 * uffd-wp-async: exact, and atomic per page (a write racing the scan lands
 * in this round or the next). A page B zapped (MADV_DONTNEED) counts as
 * written: it reads as zeroes now. [lo, hi) may be any part of the tracked
 * ranges, and several collects may split a round.
 *
 * soft-dirty: clear_refs restarts the tracking of the whole process, so
 * call collect once per round over the whole span; anything outside
 * [lo, hi) is forgotten. Reading pagemap then clearing is not atomic: a
 * page first written between the two is lost, so B must be frozen (cgroup
 * freezer, PTRACE_INTERRUPT, as CRIU's pre-dump does) across the collect.
 *
 * Returns 0, or -errno: -ESRCH B's mm is gone; -ENOENT no VMA of B meets
 * [lo, hi); -EPERM (uffd-wp-async) part of [lo, hi) is mapped but not
 * armed (never registered, mapped after arming, or B closed its fd);
 * -EINVAL unaligned. On error, @out still has the pages whose tracking
 * was already restarted, but [lo, hi) was not all scanned: unless the
 * error is -ENOENT, treat all of it as written.
 */
int dirty_track_collect(struct dirty_track *t, uint64_t lo, uint64_t hi, struct runs *out);

/* "uffd-wp-async" or "soft-dirty", for reports. */
const char *dirty_track_method(const struct dirty_track *t);

void dirty_track_close(struct dirty_track *t);

#endif
