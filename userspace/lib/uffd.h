/* SPDX-License-Identifier: GPL-2.0 */
/* Every userfaultfd ioctl lazyrestore makes. */
#ifndef LAZYRESTORE_UFFD_H
#define LAZYRESTORE_UFFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifndef MADV_CLR_HUGEPAGE
#define MADV_CLR_HUGEPAGE 26
#endif

/*
 * A userfaultfd (O_CLOEXEC | O_NONBLOCK) with all of @features
 * (UFFD_FEATURE_*, 0 for none): the fd, or -errno and why in @e. A
 * feature this kernel lacks is -EINVAL and named ("UFFD_FEATURE_MOVE",
 * "feature bit 40" for one this program has no name for).
 */
int uffd_open(uint64_t features, struct err *e);
/*
 * For a task that keeps running while a handler fills it: fork, mremap,
 * MADV_DONTNEED/MADV_REMOVE and munmap are reported (UFFD_EVENT_*), so
 * the handler never writes stale data over what the task changed.
 */
int uffd_open_events(struct err *e);
/* The same three with the message in @why: the fd, or -1. */
int uffd_create(char *why, size_t len);
int uffd_create_features(uint64_t features, char *why, size_t len);
int uffd_create_events(char *why, size_t len);
int uffd_register_missing(int uffd, uint64_t start, uint64_t len);
/*
 * Copy @len bytes from @src to @dst; pages already there are skipped. A
 * range no registered VMA covers whole is -ENOENT and nothing copied.
 */
int uffd_copy(int uffd, uint64_t dst, const void *src, uint64_t len, bool wake);
int uffd_wake(int uffd, uint64_t start, uint64_t len);
/*
 * One UFFDIO_COPY, no retry: 0 or -errno, and *copied how much went in
 * either way, from @dst on. The caller judges and goes on after *copied:
 *  - a short copy is -EAGAIN with *copied > 0, whatever stopped it (a
 *    page already there, an mm change): copy the rest to learn what;
 *  - -EAGAIN with nothing copied: a fork, mremap, munmap or MADV_DONTNEED
 *    event is raised and not read yet; the kernel refuses every copy,
 *    wherever it goes, until the handler read it;
 *  - -EEXIST, nothing copied: the page at @dst is there already;
 *  - -ENOENT, nothing copied: no registered VMA covers the whole range:
 *    for good, or the copy began just as an mremap/munmap took the VMA
 *    away, before its event was raised (it will be): the kernel says the
 *    same for both, uffd.c cannot tell them apart;
 *  - -ESRCH: the process behind @uffd exited (-ENOSPC before 4.18).
 * uffd_copy() above retries and skips pages that are there.
 */
int uffd_copy_once(int uffd, uint64_t dst, const void *src, uint64_t len, bool wake,
		   uint64_t *copied);
/*
 * One UFFDIO_ZEROPAGE: 0 or -errno as uffd_copy_once(), without the count:
 * use one page at a time where a short one matters.
 */
int uffd_zeropage(int uffd, uint64_t dst, uint64_t len, bool wake);
/*
 * Whether the process behind @uffd still has its memory: 1, or 0 once it
 * exited. @addr: a page-aligned user address, best one the process maps
 * anonymous (the probe is an UFFDIO_CONTINUE, which anonymous memory
 * refuses without touching it).
 */
int uffd_alive(int uffd, uint64_t addr);
/* One page, waking its faulters; -EEXIST when it is already there. */
int uffd_copy_page(int uffd, uint64_t dst, const void *src, long ps);
bool madv_clr_hugepage_supported(void);
/*
 * UFFDIO_MOVE (6.8) of @len bytes of our own pages at @src to @dst, without
 * waking (no one waits on a range still being filled). *moved says how far
 * it got, also on failure; -EBUSY: a page the kernel will not move (pinned,
 * or shared with another process).
 */
int uffd_move(int uffd, uint64_t dst, void *src, uint64_t len, uint64_t *moved);
/* Whether this kernel's userfaultfd reports @feature (UFFD_FEATURE_*): 1, 0, or -errno. */
int uffd_has_feature(uint64_t feature);

#endif
