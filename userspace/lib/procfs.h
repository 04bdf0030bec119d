/* SPDX-License-Identifier: GPL-2.0 */
/* What /proc says of another process's VMAs and pages. */
#ifndef LAZYRESTORE_PROCFS_H
#define LAZYRESTORE_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


struct vma_info {
	uint64_t start, end;
	char flags[128];	/* VmFlags, as smaps prints them, without "sd" */
	bool hg, nh;
	uint64_t anon_huge_kb;
	uint64_t rss_kb;
};

/* The VMAs of @pid that intersect [lo, hi); *n set. Caller frees. */
struct vma_info *proc_vmas(pid_t pid, uint64_t lo, uint64_t hi, size_t *n);
/* PMD-aligned addresses in [lo, hi) that @pid maps with a THP (needs root). */
int proc_huge_pmds(pid_t pid, uint64_t lo, uint64_t hi, uint64_t *addrs, size_t max, size_t *n);

#define PM_PRESENT_BIT 63

#endif
