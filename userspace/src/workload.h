/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAZYRESTORE_WORKLOAD_H
#define LAZYRESTORE_WORKLOAD_H

#include "layout.h"

/* Child side: map the layout, write every page, say so on @ready_fd, then
 * keep rewriting the hot pages until killed. Returns only on error. */
int workload_run(const struct layout *l, int ready_fd);
int madvise_advice(uint64_t start, uint64_t len, uint32_t advice);

#endif
