// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "procfs.h"
#include "running.h"

int running_region_map(struct running_region *r, uint64_t bytes)
{
	memset(r, 0, sizeof(*r));
	r->bytes = bytes;
	/* A guard of at least 2 MiB each side: the region is a VMA of its own, and aligned. */
	r->map_len = bytes + 3 * PMD_BYTES;
	r->map = mmap(NULL, r->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -errno;
	}
	r->start = (char *)(((uint64_t)r->map + 2 * PMD_BYTES - 1) & ~(PMD_BYTES - 1));
	/*
	 * MADV_HUGEPAGE: the region asks for THP whatever the system's
	 * "enabled" (always in the guest, madvise on many hosts), and
	 * defrag=madvise compacts for it, so a THP missing here is the
	 * strategy's doing, not the setting's or fragmentation's.
	 */
	if (mprotect(r->start, bytes, PROT_READ | PROT_WRITE) ||
	    madvise(r->start, bytes, MADV_HUGEPAGE))
		return -errno;
	return 0;
}

static void *fault_in(void *arg)
{
	struct running_region *r = arg;
	long ps = getpagesize();

	/* Fresh memory, written as a running program would: one fault per page or per THP. */
	for (uint64_t off = 0; off < r->bytes; off += ps)
		r->start[off] = 1;
	return NULL;
}

int running_region_start(struct running_region *r)
{
	int ret = pthread_create(&r->thread, NULL, fault_in, r);

	r->started = !ret;
	return -ret;
}

int running_region_finish(struct running_region *r, struct running_report *rep)
{
	struct vma_info *v;
	size_t n;

	memset(rep, 0, sizeof(*rep));
	if (!r->started)
		return -ESRCH;
	/* Joined, not timed: the window does not close before the worker is done. */
	pthread_join(r->thread, NULL);
	r->started = false;
	v = proc_vmas(getpid(), (uint64_t)r->start, (uint64_t)r->start + r->bytes, &n);
	if (!v)
		return -EIO;
	/* What is resident is what the worker touched: the region was fresh. */
	for (size_t i = 0; i < n; i++) {
		rep->touched_kb += v[i].rss_kb;
		rep->thp_kb += v[i].anon_huge_kb;
	}
	free(v);
	return 0;
}

void running_region_unmap(struct running_region *r)
{
	if (r->started)
		pthread_join(r->thread, NULL);
	r->started = false;
	if (r->map)
		munmap(r->map, r->map_len);
	r->map = NULL;
}
