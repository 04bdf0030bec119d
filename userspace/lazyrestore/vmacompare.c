// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "numa_policy.h"
#include "vmacompare.h"

void vma_side_of(pid_t pid, const struct layout *l, struct vma_side *side,
		 struct vma_info **v, size_t *n)
{
	*v = proc_vmas(pid, l->vma[0].start, l->vma[l->n - 1].end, n);
	side->vmas = *n;
	side->thp_kb = 0;
	for (size_t i = 0; i < *n; i++)
		side->thp_kb += (*v)[i].anon_huge_kb;
}

void vma_compare(struct result *res, const struct vma_info *a, size_t na,
		 const struct vma_info *b, size_t nb)
{
	for (size_t i = 0; i < na; i++) {
		const struct vma_info *m = NULL;

		for (size_t j = 0; j < nb; j++)
			if (b[j].start == a[i].start && b[j].end == a[i].end)
				m = &b[j];
		if (m && !strcmp(m->flags, a[i].flags))
			continue;
		if (!res->flag_mismatches++)
			snprintf(res->first_mismatch, sizeof(res->first_mismatch),
				 "%#llx-%#llx: source \"%s\", restored %s%s%s",
				 (unsigned long long)a[i].start, (unsigned long long)a[i].end, a[i].flags,
				 m ? "\"" : "split differently", m ? m->flags : "", m ? "\"" : "");
	}
}

uint64_t vma_thp_in(const struct vma_info *v, size_t n, uint64_t start, uint64_t end)
{
	uint64_t kb = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i].start < end && v[i].end > start)
			kb += v[i].anon_huge_kb;
	return kb;
}

long long vma_thp_kb(pid_t pid, uint64_t start, uint64_t end)
{
	struct vma_info *v;
	long long kb;
	size_t n;

	v = proc_vmas(pid, start, end, &n);
	if (!v)
		return -1;
	kb = vma_thp_in(v, n, start, end);
	free(v);
	return kb;
}

int *vma_nodes(pid_t pid, const struct layout *l, uint64_t pages, struct err *e)
{
	int *node = calloc(pages, sizeof(*node));
	uint64_t k = 0;

	if (!node) {
		err_set(e, 0, "out of memory");
		return NULL;
	}
	for (int i = 0; i < l->n; i++) {
		if (numa_nodes(pid, l->vma[i].start, l->vma[i].end, node + k, e)) {
			free(node);
			return NULL;
		}
		k += (l->vma[i].end - l->vma[i].start) / getpagesize();
	}
	return node;
}

void vma_nodes_differ(struct result *res, const struct layout *l, const int *a, const int *b)
{
	uint64_t k = 0;

	res->numa_misplaced = 0;
	for (int v = 0; v < l->n; v++) {
		uint64_t pages = (l->vma[v].end - l->vma[v].start) / getpagesize();

		res->numa_misplaced_vma[v] = 0;
		for (uint64_t i = 0; i < pages; i++, k++)
			res->numa_misplaced_vma[v] += a[k] != b[k];
		res->numa_misplaced += res->numa_misplaced_vma[v];
	}
}

void vma_watch_thp(struct result *res, pid_t pid, uint64_t start, uint64_t end,
		   uint64_t target_kb, double t0_ms, unsigned int watch_ms)
{
	const struct timespec gap = { 0, THP_SAMPLE_MS * 1000000L };
	int max = watch_ms / THP_SAMPLE_MS + 1;

	res->thp_back_ms = -1;
	for (res->thp_samples = 0; res->thp_samples < THP_SAMPLES && res->thp_samples < max;) {
		long long kb = vma_thp_kb(pid, start, end);

		if (kb < 0)
			break;
		if (!res->thp_samples)
			res->thp_first_ms = now_ms() - t0_ms;
		res->thp_hg_kb[res->thp_samples++] = kb;
		if ((uint64_t)kb >= target_kb) {
			res->thp_back_ms = now_ms() - t0_ms;
			break;
		}
		nanosleep(&gap, NULL);
	}
}
