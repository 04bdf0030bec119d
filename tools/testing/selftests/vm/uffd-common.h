/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userfaultfd_open() of 6.12's selftests/mm/uffd-common.h, for the
 * MADV_CLR_HUGEPAGE tests on 6.1, where userfaultfd.c keeps its helpers
 * to itself. Unlike 6.12's it does not ask for UFFD_USER_MODE_ONLY, so an
 * unprivileged run needs vm.unprivileged_userfaultfd=1, as the tests'
 * skip message says.
 */
#ifndef __UFFD_COMMON_H__
#define __UFFD_COMMON_H__

#include <stdint.h>
#include <stdio.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"
#include "vm_util.h"

/* The descriptor userfaultfd_open() opened, or -1. */
extern int uffd;

/*
 * Open a userfaultfd (O_CLOEXEC | O_NONBLOCK) into uffd and do UFFDIO_API
 * with *features, which gets what the kernel granted. 0, or -1 with errno
 * set.
 */
int userfaultfd_open(uint64_t *features);

#endif /* __UFFD_COMMON_H__ */
