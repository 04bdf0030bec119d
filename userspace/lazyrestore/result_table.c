// SPDX-License-Identifier: GPL-2.0
/* The results side by side, for a reader: lazyrestore run's table. */
#include <stdio.h>

#include "result_table.h"

void result_table_print(const struct result *r, int n)
{
	printf("\n%-12s %9s %7s %7s %8s %9s %11s %9s %8s %8s %9s\n", "strategy", "corrupted",
	       "lazy", "faults", "VmFlags", "VMAs s/d", "THP kB s/d", "fill ms", "down ms",
	       "lazy ms", "p99 us");
	for (int i = 0; i < n; i++) {
		if (r[i].error[0]) {
			printf("%-12s %s: %s\n", r[i].st->name,
			       r[i].unavailable ? "unavailable" : "error", r[i].error);
			continue;
		}
		printf("%-12s %9llu %7llu %7llu %8s %4d/%-4d %5llu/%-5llu %9.1f %8.1f %8.1f %9.1f\n",
		       r[i].st->name, (unsigned long long)r[i].corrupted,
		       (unsigned long long)r[i].lazy, (unsigned long long)r[i].faults,
		       r[i].flag_mismatches ? "DIFFER" : "same", r[i].src.vmas, r[i].dst.vmas,
		       (unsigned long long)r[i].src.thp_kb, (unsigned long long)r[i].dst.thp_kb,
		       r[i].fill_ms, r[i].downtime_ms, r[i].lazy_ms, r[i].fault_p99_us);
	}
	for (int i = 0; i < n; i++) {
		if (r[i].error[0] || r[i].st->criu)
			continue;
		printf("  %-12s lazy set by %s%s%s: %llu pages for %llu the task wrote since "
		       "round %d (x%.2f), %llu missed; rounds", r[i].st->name, r[i].tracker,
		       r[i].tracker_why[0] ? " -- " : "", r[i].tracker_why,
		       (unsigned long long)r[i].lazy, (unsigned long long)r[i].written, r[i].rounds,
		       r[i].written ? (double)r[i].lazy / r[i].written : 0.0,
		       (unsigned long long)r[i].missed);
		for (int k = 0; k < r[i].rounds; k++)
			printf(" %llu", (unsigned long long)r[i].round_pages[k]);
		printf("\n  %-12s task: %llu steps, %llu page checks (child %llu); handler: "
		       "%llu faults, %llu background, %llu zero, %llu copied twice; events fork %llu "
		       "remap %llu remove %llu unmap %llu\n", "",
		       (unsigned long long)r[i].task_steps, (unsigned long long)r[i].task_checked,
		       (unsigned long long)r[i].child_checked, (unsigned long long)r[i].faults,
		       (unsigned long long)r[i].background, (unsigned long long)r[i].zero_pages,
		       (unsigned long long)r[i].copied_twice, (unsigned long long)r[i].ev_fork,
		       (unsigned long long)r[i].ev_remap, (unsigned long long)r[i].ev_remove,
		       (unsigned long long)r[i].ev_unmap);
	}
	for (int i = 0, head = 0; i < n; i++) {
		if (r[i].error[0])
			continue;
		if (!head++)
			printf("THP kB of the MADV_HUGEPAGE VMA from lazy completion, every %d ms\n"
			       "(the source's before write tracking split it, in []; sampling starts "
			       "once the task has sent its verdict):\n", THP_SAMPLE_MS);
		printf("  %-12s [%llu] from +%.0f ms:", r[i].st->name,
		       (unsigned long long)r[i].thp_hg_src_kb, r[i].thp_first_ms);
		for (int k = 0; k < r[i].thp_samples && k < 12; k++)
			printf(" %llu", (unsigned long long)r[i].thp_hg_kb[k]);
		if (r[i].thp_back_ms >= 0)
			printf("%s: back in %.0f ms\n", r[i].thp_samples > 12 ? " ..." : "",
			       r[i].thp_back_ms);
		else
			printf("%s: not back in %d ms\n", r[i].thp_samples > 12 ? " ..." : "",
			       (r[i].thp_samples - 1) * THP_SAMPLE_MS);
	}
	for (int i = 0; i < n; i++)
		if (!r[i].error[0] && r[i].numa_misplaced >= 0)
			printf("  %s: %lld of %llu pages on another NUMA node than in the source "
			       "(per VMA: %lld %lld %lld)\n", r[i].st->name, r[i].numa_misplaced,
			       (unsigned long long)r[i].pages, r[i].numa_misplaced_vma[0],
			       r[i].numa_misplaced_vma[1], r[i].numa_misplaced_vma[2]);
	for (int i = 0; i < n; i++)
		if (!r[i].error[0] && !r[i].st->criu && !r[i].task_steps && r[i].corrupted)
			printf("  %s: the task's own state was lost (read as zeros): it could not "
			       "resume\n", r[i].st->name);
	for (int i = 0; i < n; i++)
		if (!r[i].error[0] && r[i].flag_mismatches)
			printf("  %s: %d VMA(s) differ, first %s\n", r[i].st->name,
			       r[i].flag_mismatches, r[i].first_mismatch);
}
