/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userfaultfd uapi newer than Debian 12's <linux/userfaultfd.h> (6.1):
 * write-protect of unpopulated (6.4) and async (6.7), UFFDIO_MOVE (6.8). Copied as
 * it is in include/uapi/linux/userfaultfd.h of 6.12 and only defined where
 * the system header lacks it, so a newer header wins.
 */
#ifndef LAZYRESTORE_UFFD_UAPI_H
#define LAZYRESTORE_UFFD_UAPI_H

#include <linux/userfaultfd.h>

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM		(1<<12)
#endif

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED		(1<<13)
#endif

#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC			(1<<15)
#endif

#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE			(1<<16)
#endif

#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE			(0x05)
#endif

#ifndef UFFDIO_MOVE
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
	/*
	 * Especially if used to atomically remove memory from the
	 * address space the wake on the dst range is not needed.
	 */
#define UFFDIO_MOVE_MODE_DONTWAKE		((__u64)1<<0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES	((__u64)1<<1)
	__u64 mode;
	/*
	 * "move" is written by the ioctl and must be at the end: the
	 * copy_from_user will not read the last 8 bytes.
	 */
	__s64 move;
};

#define UFFDIO_MOVE		_IOWR(UFFDIO, _UFFDIO_MOVE,	\
				      struct uffdio_move)
#endif

#endif
