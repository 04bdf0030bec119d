// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>

#include "result_json.h"
#include "scenario.h"

bool scenario_takes(const struct strategy *st)
{
	return !st->criu;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * part / whole : 0;
}

void scenario_print_table(const struct result *r, int n, uint64_t running_bytes)
{
	printf("\nrunning region: %llu MiB, MADV_HUGEPAGE, faulted in by a thread of the destination\n"
	       "during the restore window (strategy setup .. registration and advice reset or prctl\n"
	       "back); THP = its AnonHugePages at the end of the window:\n",
	       (unsigned long long)(running_bytes >> 20));
	printf("%-12s %11s %19s %10s %8s\n", "strategy", "running THP", "THP kB/touched kB",
	       "corrupted", "VmFlags");
	for (int i = 0; i < n; i++) {
		if (r[i].error[0]) {
			printf("%-12s %s: %s\n", r[i].st->name,
			       r[i].unavailable ? "unavailable" : "error", r[i].error);
			continue;
		}
		printf("%-12s %10.1f%% %9llu/%-9llu %10llu %8s\n", r[i].st->name,
		       pct(r[i].running_thp_kb, r[i].running_kb),
		       (unsigned long long)r[i].running_thp_kb, (unsigned long long)r[i].running_kb,
		       (unsigned long long)r[i].corrupted, r[i].flag_mismatches ? "DIFFER" : "same");
	}
}

void scenario_print_json(const struct result *r, int n, uint64_t running_bytes)
{
	printf("[");
	for (int i = 0; i < n; i++) {
		if (result_json_begin(&r[i], i))
			continue;
		printf("\"running_region_kb\": %llu, ", (unsigned long long)(running_bytes >> 10));
		printf("\"running_kb\": %llu, \"running_thp_kb\": %llu, \"running_thp_pct\": %.1f, "
		       "\"pages\": %llu, \"lazy\": %llu, \"corrupted\": %llu, \"zero_filled\": %llu, "
		       "\"faults\": %llu, \"background\": %llu, \"vmflags_identical\": %s, "
		       "\"vma_mismatches\": %d}",
		       (unsigned long long)r[i].running_kb, (unsigned long long)r[i].running_thp_kb,
		       pct(r[i].running_thp_kb, r[i].running_kb), (unsigned long long)r[i].pages,
		       (unsigned long long)r[i].lazy, (unsigned long long)r[i].corrupted,
		       (unsigned long long)r[i].zero_filled, (unsigned long long)r[i].faults,
		       (unsigned long long)r[i].background, r[i].flag_mismatches ? "false" : "true",
		       r[i].flag_mismatches);
	}
	printf("\n]\n");
}
