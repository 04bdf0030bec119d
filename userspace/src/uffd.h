/* SPDX-License-Identifier: GPL-2.0 */
/* Every userfaultfd ioctl lazyrestore makes. */
#ifndef LAZYRESTORE_UFFD_H
#define LAZYRESTORE_UFFD_H

#include <stdbool.h>
#include <stdint.h>

#ifndef MADV_CLR_HUGEPAGE
#define MADV_CLR_HUGEPAGE 26
#endif

int uffd_create(char *why, size_t len);
int uffd_register_missing(int uffd, uint64_t start, uint64_t len);
/* Copy @len bytes from @src to @dst; pages already there are skipped. */
int uffd_copy(int uffd, uint64_t dst, const void *src, uint64_t len, bool wake);
int uffd_wake(int uffd, uint64_t start, uint64_t len);
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
