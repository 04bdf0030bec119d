// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "strategy.h"
#include "uffd.h"
#include "uffd_uapi.h"
#include "thp_advice.h"

static int source_advice(const struct vma_rec *v)
{
	return madvise_advice(v->start, v->end - v->start, v->thp);
}

static int nohugepage(const struct vma_rec *v)
{
	return madvise((void *)v->start, v->end - v->start, MADV_NOHUGEPAGE);
}

static int clear_then_source_advice(const struct vma_rec *v)
{
	if (madvise((void *)v->start, v->end - v->start, MADV_CLR_HUGEPAGE))
		return -1;
	return source_advice(v);
}

static int hugepage(const struct vma_rec *v)
{
	return madvise((void *)v->start, v->end - v->start, MADV_HUGEPAGE);
}

static int thp_disable(void)
{
	return prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
}

/* The source's own state: the workload never sets PR_SET_THP_DISABLE. */
static int thp_enable(void)
{
	return prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0);
}

static const struct strategy strategies[] = {
	{ .name = "clr", .how = "MADV_NOHUGEPAGE, fill, register, MADV_CLR_HUGEPAGE + source advice",
	  .needs_clr = true, .before_fill = nohugepage, .after_register = clear_then_source_advice },
	{ .name = "prctl", .how = "PR_SET_THP_DISABLE around fill and register (CRIU)",
	  .process_before = thp_disable, .before_fill = source_advice, .process_after = thp_enable },
	{ .name = "uffd-copy", .how = "register first, fill with UFFDIO_COPY",
	  .register_first = true, .before_fill = source_advice },
	{ .name = "uffd-move", .how = "register first, read into a staging copy, UFFDIO_MOVE (6.8)",
	  .register_first = true, .fill_move = true, .needs_move = true, .before_fill = source_advice },
	{ .name = "nohuge-huge", .how = "MADV_NOHUGEPAGE, fill, register, MADV_HUGEPAGE (QEMU)",
	  .before_fill = nohugepage, .after_register = hugepage },
	{ .name = "none", .how = "source advice, fill, register: no protection",
	  .before_fill = source_advice },
	{ .name = "criu-ps", .how = "CRIU: pre-dump, dump --lazy-pages with a page server, restore --lazy-pages",
	  .criu = "page-server" },
	{ .name = "criu-local", .how = "CRIU: pre-dump, dump, lazy-pages from the local images",
	  .criu = "local" },
};

const struct strategy *strategy_at(int i)
{
	return i >= 0 && i < (int)(sizeof(strategies) / sizeof(strategies[0])) ? &strategies[i] : NULL;
}

const struct strategy *strategy_find(const char *name)
{
	for (int i = 0; strategy_at(i); i++)
		if (!strcmp(strategy_at(i)->name, name))
			return strategy_at(i);
	return NULL;
}

const char *strategy_missing(const struct strategy *st, bool hide_move)
{
	if (st->needs_clr && !madv_clr_hugepage_supported())
		return "MADV_CLR_HUGEPAGE not supported by this kernel (EINVAL)";
	/* Where userfaultfd itself cannot be had, the run says why. */
	if (st->needs_move && (hide_move || uffd_has_feature(UFFD_FEATURE_MOVE) == 0))
		return "UFFDIO_MOVE not supported by this kernel (needs 6.8)";
	return NULL;
}
