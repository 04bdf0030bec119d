/* SPDX-License-Identifier: GPL-2.0 */
/* One clock for every measurement: CLOCK_MONOTONIC. */
#ifndef LAZYRESTORE_CLOCK_H
#define LAZYRESTORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ULL + t.tv_nsec;
}

static inline double now_ms(void)
{
	return now_ns() / 1e6;
}

#endif
