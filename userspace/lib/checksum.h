/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAZYRESTORE_CHECKSUM_H
#define LAZYRESTORE_CHECKSUM_H

#include <stdint.h>

/* FNV-1a over 64-bit words: source and destination pages compared. */
static inline uint64_t page_checksum(const void *page, long ps)
{
	const uint64_t *w = page;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (long i = 0; i < ps / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return h;
}

#endif
