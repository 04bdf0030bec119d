// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numa_policy.h"

#define MOVE_BATCH 4096

int numa_check(struct err *e)
{
	if (numa_available() < 0) {
		err_set(e, 0, "NUMA not available (kernel without CONFIG_NUMA?)");
		return -1;
	}
	if (numa_max_node() < 1) {
		err_set(e, 0, "--numa needs 2 NUMA nodes; this machine has %d",
			 numa_max_node() + 1);
		return -1;
	}
	return 0;
}

int numa_apply(const struct vma_rec *v)
{
	unsigned long mask = v->nodes;

	if (v->mpol == MPOL_DEFAULT)
		return 0;
	return mbind((void *)v->start, v->end - v->start, v->mpol, &mask, 64, 0) ? -1 : 0;
}

const char *numa_policy_name(uint32_t mpol)
{
	switch (mpol) {
	case MPOL_DEFAULT: return "default";
	case MPOL_PREFERRED: return "prefer";
	case MPOL_BIND: return "bind";
	case MPOL_INTERLEAVE: return "interleave";
	case MPOL_LOCAL: return "local";
	default: return "other";
	}
}

/* "1" or "0-1" or "0,2-3": a node list as numa_maps prints it. */
static uint64_t parse_nodes(const char *s)
{
	uint64_t mask = 0;

	while (*s >= '0' && *s <= '9') {
		char *end;
		unsigned long a = strtoul(s, &end, 10), b = a;

		if (*end == '-')
			b = strtoul(end + 1, &end, 10);
		for (unsigned long n = a; n <= b && n < 64; n++)
			mask |= 1ULL << n;
		s = *end == ',' ? end + 1 : end;
	}
	return mask;
}

int numa_policy_of(pid_t pid, uint64_t start, uint32_t *mpol, uint64_t *nodes)
{
	static const struct { const char *name; uint32_t mode; } modes[] = {
		{ "bind:", MPOL_BIND }, { "interleave:", MPOL_INTERLEAVE },
		{ "prefer:", MPOL_PREFERRED }, { "default", MPOL_DEFAULT }, { "local", MPOL_LOCAL },
	};
	char path[64], *line = NULL;
	size_t n = 0;
	int ret = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/numa_maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (ret == -ENOENT && getline(&line, &n, f) > 0) {
		char *pol = strchr(line, ' ');

		if (strtoull(line, NULL, 16) != start || !pol)
			continue;
		pol++;
		ret = -EINVAL;
		for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (!strncmp(pol, modes[i].name, strlen(modes[i].name))) {
				*mpol = modes[i].mode;
				*nodes = parse_nodes(pol + strlen(modes[i].name));
				ret = 0;
				break;
			}
	}
	free(line);
	fclose(f);
	return ret;
}

int numa_nodes(pid_t pid, uint64_t start, uint64_t end, int *node, struct err *e)
{
	long ps = getpagesize();
	void **pages = calloc(MOVE_BATCH, sizeof(*pages));

	if (!pages) {
		err_set(e, 0, "out of memory");
		return -1;
	}
	for (uint64_t p = start; p < end; p += MOVE_BATCH * ps) {
		unsigned long n = (end - p) / ps < MOVE_BATCH ? (end - p) / ps : MOVE_BATCH;

		for (unsigned long i = 0; i < n; i++)
			pages[i] = (void *)(p + i * ps);
		/* nodes NULL: only ask where each page is */
		if (move_pages(pid, n, pages, NULL, node + (p - start) / ps, 0)) {
			err_set(e, 0, "move_pages: %s", strerror(errno));
			free(pages);
			return -1;
		}
	}
	free(pages);
	return 0;
}
