// SPDX-License-Identifier: GPL-2.0
/* See uffd-common.h. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "uffd-common.h"

int uffd = -1;

int userfaultfd_open(uint64_t *features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = *features };
	int err;

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		return -1;
	if (ioctl(uffd, UFFDIO_API, &api)) {
		err = errno;
		close(uffd);
		uffd = -1;
		errno = err;
		return -1;
	}
	*features = api.features;
	return 0;
}
