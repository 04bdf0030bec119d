/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAZYRESTORE_WORKLOAD_H
#define LAZYRESTORE_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"

/* Child side: map the layout, write every page, say so on @ready_fd, then
 * keep rewriting the hot pages until killed. Returns only on error. */
int workload_run(const struct layout *l, int ready_fd);
/* Map the layout at its addresses with its advice; every page generation 0. */
int workload_map(const struct layout *l);
int madvise_advice(uint64_t start, uint64_t len, uint32_t advice);

/* A page's contents: its address and generation, spread over the page. */
static inline uint64_t page_word(uint64_t addr, uint64_t gen, long i)
{
	return addr ^ (gen * 0x100000001b3ULL) ^ (uint64_t)i;
}

static inline void page_write(uint64_t addr, uint64_t gen, long ps)
{
	uint64_t *w = (uint64_t *)addr;

	for (long i = 0; i < ps / 8; i++)
		w[i] = page_word(addr, gen, i);
}

enum page_state { PAGE_OK, PAGE_WRONG, PAGE_ZERO };

static inline enum page_state page_check(uint64_t addr, uint64_t gen, long ps)
{
	const uint64_t *w = (const uint64_t *)addr;
	bool zero = true;

	for (long i = 0; i < ps / 8; i++)
		if (w[i] != page_word(addr, gen, i)) {
			for (long j = 0; j < ps / 8 && zero; j++)
				zero = !w[j];
			return zero ? PAGE_ZERO : PAGE_WRONG;
		}
	return PAGE_OK;
}

#endif
