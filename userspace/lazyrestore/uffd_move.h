/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The uffd-move fill: the image is read by ordinary I/O into an anonymous
 * staging copy of each VMA, then UFFDIO_MOVEd into the registered target.
 * A 2 MiB target range whose every page comes from the image goes in one
 * move once all of it has landed, so a THP the read got in the staging
 * copy arrives whole; the pages of a range with lazy holes move as they
 * land. Where the kernel refuses to move (a read-only VMA, a pinned or
 * shared page), the pages are copied with UFFDIO_COPY instead.
 */
#ifndef LAZYRESTORE_UFFD_MOVE_H
#define LAZYRESTORE_UFFD_MOVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

struct uffd_stage {
	uint64_t start, end;	/* the target VMA */
	char *map;		/* the staging mapping, with room to align it */
	size_t map_len;
	char *at;		/* the staged copy of start: at == start modulo 2 MiB */
	bool move;		/* writable target: moved, else copied */
	uint32_t thp;		/* the VMA's enum thp_advice */
};

struct uffd_move_stats {
	uint64_t pmd_moves;	/* whole 2 MiB ranges moved by one ioctl */
	uint64_t pages_moved;	/* pages moved in smaller moves */
	uint64_t pages_copied;	/* pages the kernel would not move, copied */
};

struct uffd_mover {
	int uffd;
	long ps;
	struct uffd_stage *st;
	size_t n;
	uint64_t lo;			/* the first 2 MiB range of the span */
	uint32_t *want, *landed;	/* per 2 MiB range: pages from the image, landed so far */
	size_t nranges;
	struct uffd_move_stats stats;
};

/*
 * Staging for the VMAs @v (sorted, already mapped and registered with
 * @uffd), each copy with the VMA's NUMA policy: the pages the read
 * allocates there are placed as a fault of the VMA would place them.
 */
int uffd_mover_init(struct uffd_mover *m, int uffd, const struct vma_rec *v, size_t n);
/* [addr, addr + len) will come from the image. */
void uffd_mover_expect(struct uffd_mover *m, uint64_t addr, uint64_t len);
/*
 * Once every page is expected, before the first is read: THP advice of
 * the staging copy, the VMA's where a whole 2 MiB range comes from the
 * image, MADV_NOHUGEPAGE where the range has lazy holes.
 */
int uffd_mover_advise(struct uffd_mover *m);
/* Where the data of target @addr is to be read to; NULL outside the VMAs. */
void *uffd_mover_stage(const struct uffd_mover *m, uint64_t addr);
/* The pages [addr, addr + len), expected, are in the staging copy: move what is complete. */
int uffd_mover_land(struct uffd_mover *m, uint64_t addr, uint64_t len);
void uffd_mover_free(struct uffd_mover *m);

#endif
