/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sets of pages as sorted runs: which pages were pre-copied, which are
 * dirty and so post-copied lazily. Pure bookkeeping, no I/O.
 */
#ifndef LAZYRESTORE_RUNS_H
#define LAZYRESTORE_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pages [start, start + len), in page numbers (address / page size). */
struct run {
	uint64_t start;
	uint64_t len;
};

/* Sorted by start, never overlapping nor adjacent (adjacent runs merge). */
struct runs {
	struct run *v;
	size_t n;
	size_t cap;
};

#define RUNS_INIT { NULL, 0, 0 }

int runs_add(struct runs *r, uint64_t start, uint64_t len);
int runs_subtract(const struct runs *from, const struct runs *drop, struct runs *out);
int runs_intersect(const struct runs *a, const struct runs *b, struct runs *out);
bool runs_contains(const struct runs *r, uint64_t page);
uint64_t runs_pages(const struct runs *r);
void runs_free(struct runs *r);

#endif
