// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <sys/mman.h>

#include "image.h"
#include "thp_advice.h"

int madvise_advice(uint64_t start, uint64_t len, uint32_t advice)
{
	if (advice == THP_ADVICE_HUGEPAGE)
		return madvise((void *)start, len, MADV_HUGEPAGE);
	if (advice == THP_ADVICE_NOHUGEPAGE)
		return madvise((void *)start, len, MADV_NOHUGEPAGE);
	return 0;
}
