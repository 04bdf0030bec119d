/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAZYRESTORE_CHECKSUM_H
#define LAZYRESTORE_CHECKSUM_H

#include <stdint.h>
#include <xxhash.h>

/*
 * The page checksum that source and destination contents are compared by:
 * XXH3 (libxxhash), in which every input bit reaches every output bit. The
 * hand-written FNV-1a over 64-bit words it replaces let bit k of the hash
 * depend only on bits <= k of the words, so flipping the top bit of any two
 * words went unnoticed.
 */
static inline uint64_t page_checksum(const void *page, long ps)
{
	return XXH3_64bits(page, (size_t)ps);
}

#endif
