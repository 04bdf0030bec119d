/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a lazy-pages handler still has to send one process: extents of
 * (destination address, source address, length), sorted by destination,
 * never overlapping. The source address of a page never changes once
 * set: mremap() moves an extent's destination and keeps where its data
 * comes from. Pure bookkeeping, no I/O, no locking.
 *
 * Kept in blocks of a few dozen extents, so that taking one page out of
 * the middle of a set of 100000 scattered pages (a fault) costs a binary
 * search and a short memmove, not a memmove of the whole set.
 */
#ifndef LAZYRESTORE_LAZY_SET_H
#define LAZYRESTORE_LAZY_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes, page aligned: destination [dst, dst + len) gets source [src, src + len). */
struct lazy_extent {
	uint64_t dst;
	uint64_t src;
	uint64_t len;
};

struct lazy_set_block;

struct lazy_set {
	struct lazy_set_block **b;
	size_t nb, cap;
	size_t n;		/* extents */
	uint64_t bytes;		/* their total length */
};

#define LAZY_SET_INIT { NULL, 0, 0, 0, 0 }

/* A growable array of extents: what lazy_set_cut() took out. */
struct lazy_extents {
	struct lazy_extent *v;
	size_t n, cap;
};

#define LAZY_EXTENTS_INIT { NULL, 0, 0 }

/*
 * Add [dst, dst + len) from @src, merged with a neighbour that continues
 * it in both address spaces. -EEXIST if it overlaps what is there (and
 * nothing is added), -EINVAL if it wraps, -ENOMEM.
 */
int lazy_set_add(struct lazy_set *s, uint64_t dst, uint64_t src, uint64_t len);
/* Whether @addr is in the set; if so, *src (may be NULL) is its source address. */
bool lazy_set_find(const struct lazy_set *s, uint64_t addr, uint64_t *src);
/*
 * Take [start, end) out of the set, appending what was there to @out
 * (may be NULL). 0 or -ENOMEM (a split needed a block; then the set may
 * have lost part of the range already).
 */
int lazy_set_cut(struct lazy_set *s, uint64_t start, uint64_t end, struct lazy_extents *out);
/*
 * mremap(): what is in [from, from + len) moves to [to, to + len), keeping
 * its source; whatever the set had in [to, to + len) is dropped first and
 * *dropped (may be NULL) says how many bytes that was.
 */
int lazy_set_move(struct lazy_set *s, uint64_t from, uint64_t to, uint64_t len,
		  uint64_t *dropped);
/*
 * Take up to @max_bytes from the lowest addresses, as at most @max_out
 * extents into @out (the last one split if need be). Returns how many.
 */
size_t lazy_set_take_front(struct lazy_set *s, uint64_t max_bytes, struct lazy_extent *out,
			   size_t max_out);
/* @to (empty) becomes a copy of @from. 0 or -ENOMEM (then @to stays empty). */
int lazy_set_copy(struct lazy_set *to, const struct lazy_set *from);
/* Every extent in order. */
void lazy_set_walk(const struct lazy_set *s, void (*fn)(void *arg, const struct lazy_extent *e),
		   void *arg);
void lazy_set_free(struct lazy_set *s);

int lazy_extents_push(struct lazy_extents *v, uint64_t dst, uint64_t src, uint64_t len);
void lazy_extents_free(struct lazy_extents *v);

#endif
