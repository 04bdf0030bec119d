// SPDX-License-Identifier: GPL-2.0
/* The page checksum notices the changes a restore can make to a page. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "tap.h"

#define PS 4096

static void fill(uint64_t *w, uint64_t seed)
{
	for (size_t i = 0; i < PS / 8; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		w[i] = seed;
	}
}

/* The FNV-over-words finding: top bits of two words flipped together. */
static void top_bits_of_two_words(struct tap *t)
{
	uint64_t a[PS / 8], b[PS / 8];
	int missed = 0;

	fill(a, 0x9e3779b97f4a7c15ULL);
	for (size_t i = 0; i + 1 < PS / 8; i += 37) {
		memcpy(b, a, sizeof(a));
		b[i] ^= 1ULL << 63;
		b[i + 1] ^= 1ULL << 63;
		missed += page_checksum(a, PS) == page_checksum(b, PS);
	}
	CHECK(t, missed == 0);
}

/* Every single-bit change of a page changes its checksum. */
static void every_single_bit(struct tap *t)
{
	uint64_t a[PS / 8], b[PS / 8];
	uint64_t base;
	int missed = 0;

	fill(a, 42);
	base = page_checksum(a, PS);
	memcpy(b, a, sizeof(a));
	for (size_t bit = 0; bit < PS * 8; bit++) {
		b[bit / 64] ^= 1ULL << (bit % 64);
		missed += page_checksum(b, PS) == base;
		b[bit / 64] ^= 1ULL << (bit % 64);
	}
	CHECK(t, missed == 0);
}

/* Two words swapped, and a zero page against a page of one set byte at its end. */
static void swaps_and_zeros(struct tap *t)
{
	uint64_t a[PS / 8], b[PS / 8];
	static const uint64_t zero[PS / 8];

	fill(a, 7);
	memcpy(b, a, sizeof(a));
	b[3] = a[100];
	b[100] = a[3];
	CHECK(t, page_checksum(a, PS) != page_checksum(b, PS));
	memset(b, 0, sizeof(b));
	((unsigned char *)b)[PS - 1] = 1;
	CHECK(t, page_checksum(zero, PS) != page_checksum(b, PS));
	CHECK(t, page_checksum(a, PS) == page_checksum(a, PS));
}

int main(void)
{
	struct tap t = { 0 };

	RUN(&t, top_bits_of_two_words);
	RUN(&t, every_single_bit);
	RUN(&t, swaps_and_zeros);
	return tap_done(&t);
}
