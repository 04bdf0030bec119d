/* SPDX-License-Identifier: GPL-2.0 */
/* The restored process's VMAs and THP coverage against the source's. */
#ifndef LAZYRESTORE_VMACOMPARE_H
#define LAZYRESTORE_VMACOMPARE_H

#include <sys/types.h>

#include "err.h"
#include "layout.h"
#include "migrate.h"
#include "procfs.h"

/* VMAs of @pid over the layout's span and their AnonHugePages. Caller frees *v. */
void vma_side_of(pid_t pid, const struct layout *l, struct vma_side *side,
		 struct vma_info **v, size_t *n);
/* Count, into @res, the source VMAs not found with the same bounds and VmFlags. */
void vma_compare(struct result *res, const struct vma_info *src, size_t nsrc,
		 const struct vma_info *dst, size_t ndst);
/* AnonHugePages of the VMAs of @v that intersect [start, end). */
uint64_t vma_thp_in(const struct vma_info *v, size_t n, uint64_t start, uint64_t end);
/* The same read from @pid's smaps now; -1 when it has no VMA there. */
long long vma_thp_kb(pid_t pid, uint64_t start, uint64_t end);
/*
 * Sample @pid's AnonHugePages of [start, end) every THP_SAMPLE_MS into
 * res->thp_hg_kb until it reaches @target_kb or @watch_ms passed; the
 * time it took, from @t0_ms (CLOCK_MONOTONIC), in res->thp_back_ms.
 */
void vma_watch_thp(struct result *res, pid_t pid, uint64_t start, uint64_t end,
		   uint64_t target_kb, double t0_ms, unsigned int watch_ms);
/* move_pages() node of every page of the layout; caller frees; NULL with @e saying why. */
int *vma_nodes(pid_t pid, const struct layout *l, uint64_t pages, struct err *e);
/* Pages whose node differs between @a and @b, in all and per VMA of @l, into @res. */
void vma_nodes_differ(struct result *res, const struct layout *l, const int *a, const int *b);

#endif
