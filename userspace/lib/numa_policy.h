/* SPDX-License-Identifier: GPL-2.0 */
/*
 * NUMA placement carried through a migration: each VMA's memory policy is
 * read from the source, stored in mm.img and applied by the destination
 * before the fill; move_pages() then says where every page landed.
 */
#ifndef LAZYRESTORE_NUMA_POLICY_H
#define LAZYRESTORE_NUMA_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "image.h"

/* 0 when this machine has at least 2 nodes; otherwise -1 and @e says why. */
int numa_check(struct err *e);
/* mbind() @v's range to its recorded policy; MPOL_DEFAULT does nothing. */
int numa_apply(const struct vma_rec *v);
/* The policy of @pid's VMA at @start, from /proc/PID/numa_maps. */
int numa_policy_of(pid_t pid, uint64_t start, uint32_t *mpol, uint64_t *nodes);
/* The node of each page of @pid's [start, end) into @node (negative: errno, e.g. not present). */
int numa_nodes(pid_t pid, uint64_t start, uint64_t end, int *node, struct err *e);
/* "bind:1" etc., for reports. */
const char *numa_policy_name(uint32_t mpol);

#endif
