// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "numa.h"
#include "workload.h"

int madvise_advice(uint64_t start, uint64_t len, uint32_t advice)
{
	if (advice == THP_ADVICE_HUGEPAGE)
		return madvise((void *)start, len, MADV_HUGEPAGE);
	if (advice == THP_ADVICE_NOHUGEPAGE)
		return madvise((void *)start, len, MADV_NOHUGEPAGE);
	return 0;
}

int workload_map(const struct layout *l)
{
	long ps = getpagesize();

	for (int i = 0; i < l->n; i++) {
		const struct vma_rec *v = &l->vma[i];

		if (mmap((void *)v->start, v->end - v->start, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != (void *)v->start) {
			fprintf(stderr, "lazyrestore: workload: mmap at %#llx: %s\n",
				(unsigned long long)v->start, strerror(errno));
			return 1;
		}
		if (madvise_advice(v->start, v->end - v->start, v->thp)) {
			fprintf(stderr, "lazyrestore: workload: madvise: %s\n", strerror(errno));
			return 1;
		}
		if (numa_apply(v)) {
			fprintf(stderr, "lazyrestore: workload: mbind %s: %s\n",
				numa_policy_name(v->mpol), strerror(errno));
			return 1;
		}
		for (uint64_t a = v->start; a < v->end; a += ps)
			page_write(a, 0, ps);
	}
	return 0;
}

int workload_run(const struct layout *l, int ready_fd)
{
	long ps = getpagesize();
	uint64_t gen = 1;

	if (workload_map(l))
		return 1;
	if (write(ready_fd, "r", 1) != 1)
		return 1;
	for (;;) {
		for (int i = 0; i < l->n; i++)
			for (uint64_t a = l->vma[i].start; a < l->vma[i].end; a += ps)
				if (layout_is_hot(l, a))
					page_write(a, gen, ps);
		gen++;
	}
}
