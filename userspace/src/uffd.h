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

#endif
