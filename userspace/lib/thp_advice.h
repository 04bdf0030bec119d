/* SPDX-License-Identifier: GPL-2.0 */
/* A VMA's THP advice (enum thp_advice, as an image records it) applied. */
#ifndef LAZYRESTORE_THP_ADVICE_H
#define LAZYRESTORE_THP_ADVICE_H

#include <stdint.h>

/* madvise() for @advice; THP_ADVICE_NONE does nothing. 0 or -1 with errno. */
int madvise_advice(uint64_t start, uint64_t len, uint32_t advice);

#endif
