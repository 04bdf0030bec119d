// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dirty_track.h"
#include "procfs.h"
#include "proto.h"
#include "task.h"
#include "workload.h"

int workload_run(const struct layout *l, uint64_t hot_pages, bool arm, int ready_fd)
{
	struct workload_ready r = { .armed = 0 };
	struct task_state *s = task_of(l);
	struct dirty_range ranges[LAYOUT_MAX];
	struct vma_info *v;
	struct err e;
	size_t nv;
	int fd;

	if (task_map(l, hot_pages, &e)) {
		proto_send(ready_fd, PROTO_ERROR, e.msg, strlen(e.msg), &e);
		return 1;
	}
	v = proc_vmas(getpid(), l->vma[LAYOUT_HG].start, l->vma[LAYOUT_HG].end, &nv);
	for (size_t i = 0; v && i < nv; i++)
		r.thp_hg_kb += v[i].anon_huge_kb;
	free(v);
	for (int i = 0; i < l->n; i++)
		ranges[i] = (struct dirty_range){ l->vma[i].start, l->vma[i].end };
	if (arm)
		fd = dirty_track_arm(ranges, l->n, &e);
	else
		fd = -1, snprintf(r.why, sizeof(r.why), "soft-dirty asked for (--tracker soft-dirty)");
	r.armed = fd >= 0;
	if (arm && fd < 0)
		snprintf(r.why, sizeof(r.why), "%.*s", (int)sizeof(r.why) - 1, e.msg);
	if (proto_send(ready_fd, PROTO_READY, &r, sizeof(r), &e))
		return 1;
	close(ready_fd);
	/* No hot set: an idle task, nothing written after the first round. */
	while (!hot_pages)
		pause();
	for (;;)
		task_step(s);
}
