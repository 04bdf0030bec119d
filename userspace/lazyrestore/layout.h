/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where the workload's memory lives: one VMA per THP state, at fixed
 * addresses so that the destination can map it at the same place.
 */
#ifndef LAZYRESTORE_LAYOUT_H
#define LAZYRESTORE_LAYOUT_H

#include <stdint.h>

#include "image.h"

#define LAYOUT_BASE	0x200000000000ULL	/* above ASan's shadow memory */
#define LAYOUT_MAX	3
#define PMD_BYTES	(2ULL << 20)
#define LAYOUT_HG	1	/* index of the MADV_HUGEPAGE VMA */

struct layout {
	struct vma_rec vma[LAYOUT_MAX];
	int n;
	unsigned int seed;		/* the task's RNG starts from it */
};

static inline void layout_init(struct layout *l, uint64_t region_bytes, unsigned int seed)
{
	static const uint32_t advice[LAYOUT_MAX] = {
		THP_ADVICE_NONE, THP_ADVICE_HUGEPAGE, THP_ADVICE_NOHUGEPAGE,
	};
	uint64_t at = LAYOUT_BASE;

	l->n = LAYOUT_MAX;
	l->seed = seed;
	for (int i = 0; i < l->n; i++) {
		/* A 2 MiB gap: neighbouring VMAs never merge. */
		l->vma[i] = (struct vma_rec){ .start = at, .end = at + region_bytes, .prot = 3,
					      .thp = advice[i] };
		at += region_bytes + PMD_BYTES;
	}
}

/*
 * --numa: the default-THP VMA bound to node 1, the MADV_HUGEPAGE one
 * interleaved over nodes 0-1, the MADV_NOHUGEPAGE one left to the default.
 * Values of MPOL_BIND and MPOL_INTERLEAVE (uapi/linux/mempolicy.h).
 */
static inline void layout_set_numa(struct layout *l)
{
	l->vma[0].mpol = 2;		/* MPOL_BIND */
	l->vma[0].nodes = 1ULL << 1;
	l->vma[LAYOUT_HG].mpol = 3;	/* MPOL_INTERLEAVE */
	l->vma[LAYOUT_HG].nodes = 3;
}

#endif
