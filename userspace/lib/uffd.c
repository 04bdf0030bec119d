// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd.h"
#include "uffd_uapi.h"

/* UFFD_FEATURE_* by bit, as include/uapi/linux/userfaultfd.h has them (6.18). */
static const char *const feature_names[] = {
	"PAGEFAULT_FLAG_WP", "EVENT_FORK", "EVENT_REMAP", "EVENT_REMOVE",
	"MISSING_HUGETLBFS", "MISSING_SHMEM", "EVENT_UNMAP", "SIGBUS",
	"THREAD_ID", "MINOR_HUGETLBFS", "MINOR_SHMEM", "EXACT_ADDRESS",
	"WP_HUGETLBFS_SHMEM", "WP_UNPOPULATED", "POISON", "WP_ASYNC", "MOVE",
};

/* "UFFD_FEATURE_MOVE, feature bit 40": what a message can name. */
static void name_features(uint64_t features, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned int b = 0; b < 64 && n < len; b++) {
		if (!(features & (1ULL << b)))
			continue;
		if (b < sizeof(feature_names) / sizeof(feature_names[0]))
			n += snprintf(buf + n, len - n, "%sUFFD_FEATURE_%s", n ? ", " : "",
				      feature_names[b]);
		else
			n += snprintf(buf + n, len - n, "%sfeature bit %u", n ? ", " : "", b);
	}
}

/* The features this kernel has, or 0 when it cannot say. */
static uint64_t kernel_features(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC);
	uint64_t f = 0;

	if (fd < 0)
		return 0;
	if (!ioctl(fd, UFFDIO_API, &api))
		f = api.features;
	close(fd);
	return f;
}

static int api_failed(uint64_t features, struct err *e)
{
	int code = errno;
	uint64_t have, lack;
	char names[160];

	if (code == EPERM && (features & UFFD_FEATURE_EVENT_FORK))
		return err_set(e, EPERM,
			       "UFFDIO_API: UFFD_FEATURE_EVENT_FORK needs CAP_SYS_PTRACE");
	if (code != EINVAL || !features)
		return err_set(e, code, "UFFDIO_API: %s", strerror(code));
	have = kernel_features();
	lack = features & ~have;
	if (!have)
		return err_set(e, EINVAL, "UFFDIO_API: this kernel lacks some of features %#llx",
			       (unsigned long long)features);
	if (!lack)
		return err_set(e, EINVAL, "UFFDIO_API: features %#llx refused together",
			       (unsigned long long)features);
	name_features(lack, names, sizeof(names));
	return err_set(e, EINVAL, "UFFDIO_API: this kernel lacks %s", names);
}

int uffd_open(uint64_t features, struct err *e)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK), ret;

	if (fd < 0) {
		if (errno == EPERM)
			return err_set(e, EPERM, "userfaultfd: not permitted (run as root or set "
				       "vm.unprivileged_userfaultfd=1)");
		return err_sys(e, "userfaultfd (kernel without CONFIG_USERFAULTFD?)");
	}
	if (ioctl(fd, UFFDIO_API, &api)) {
		ret = api_failed(features, e);
		close(fd);
		return ret;
	}
	return fd;
}

int uffd_open_events(struct err *e)
{
	return uffd_open(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |
			 UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP, e);
}

/* The old interface: the message alone, and -1. */
static int with_why(int fd, const struct err *e, char *why, size_t len)
{
	if (fd >= 0)
		return fd;
	if (len)
		snprintf(why, len, "%s", e->msg);
	return -1;
}

int uffd_create(char *why, size_t len)
{
	struct err e;

	return with_why(uffd_open(0, &e), &e, why, len);
}

int uffd_create_events(char *why, size_t len)
{
	struct err e;

	return with_why(uffd_open_events(&e), &e, why, len);
}

int uffd_create_features(uint64_t features, char *why, size_t len)
{
	struct err e;

	return with_why(uffd_open(features, &e), &e, why, len);
}

int uffd_register_missing(int uffd, uint64_t start, uint64_t len)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

int uffd_copy(int uffd, uint64_t dst, const void *src, uint64_t len, bool wake)
{
	long ps = getpagesize();

	while (len) {
		struct uffdio_copy c = {
			.dst = dst, .src = (unsigned long)src, .len = len,
			.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE,
		};

		if (!ioctl(uffd, UFFDIO_COPY, &c))
			return 0;
		if (errno == EAGAIN && c.copy > 0) {
			/* Partial: go on after what was copied. */
		} else if (errno == EEXIST) {
			/* Already there (served by a fault, or never missing): skip one page. */
			c.copy = c.copy > 0 ? c.copy : ps;
		} else if (errno != EAGAIN) {
			return -errno;
		} else {
			continue;
		}
		dst += c.copy;
		src = (const char *)src + c.copy;
		len -= c.copy;
	}
	return 0;
}

int uffd_copy_page(int uffd, uint64_t dst, const void *src, long ps)
{
	struct uffdio_copy c = { .dst = dst, .src = (unsigned long)src, .len = ps };

	while (ioctl(uffd, UFFDIO_COPY, &c))
		if (errno != EAGAIN)
			return -errno;
	return 0;
}

int uffd_wake(int uffd, uint64_t start, uint64_t len)
{
	struct uffdio_range r = { .start = start, .len = len };

	return ioctl(uffd, UFFDIO_WAKE, &r) ? -errno : 0;
}

int uffd_copy_once(int uffd, uint64_t dst, const void *src, uint64_t len, bool wake,
		   uint64_t *copied)
{
	struct uffdio_copy c = {
		.dst = dst, .src = (unsigned long)src, .len = len,
		.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE,
	};

	if (!ioctl(uffd, UFFDIO_COPY, &c)) {
		*copied = len;
		return 0;
	}
	/* On failure .copy is either what went in before it, or -errno. */
	*copied = c.copy > 0 ? c.copy : 0;
	return -errno;
}

int uffd_zeropage(int uffd, uint64_t dst, uint64_t len, bool wake)
{
	struct uffdio_zeropage z = {
		.range = { .start = dst, .len = len },
		.mode = wake ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE,
	};

	return ioctl(uffd, UFFDIO_ZEROPAGE, &z) ? -errno : 0;
}

int uffd_alive(int uffd, uint64_t addr)
{
	long ps = getpagesize();
	struct uffdio_continue c = { .range = { .start = addr & ~(uint64_t)(ps - 1), .len = ps } };

	/*
	 * A process with no mm left makes every ioctl that needs it fail
	 * with ESRCH (ENOSPC before 4.18). On a live one UFFDIO_CONTINUE
	 * fails without side effects: EINVAL on anonymous memory (minor
	 * faults are for shmem and hugetlbfs), ENOENT where nothing is
	 * registered, EAGAIN while its mappings change.
	 */
	if (!ioctl(uffd, UFFDIO_CONTINUE, &c))
		return 1;
	return errno != ESRCH && errno != ENOSPC;
}

bool madv_clr_hugepage_supported(void)
{
	long ps = getpagesize();
	void *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok;

	if (p == MAP_FAILED)
		return false;
	ok = madvise(p, ps, MADV_CLR_HUGEPAGE) == 0;
	munmap(p, ps);
	return ok;
}

int uffd_move(int uffd, uint64_t dst, void *src, uint64_t len, uint64_t *moved)
{
	*moved = 0;
	while (*moved < len) {
		/*
		 * No UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES: every page of @src was
		 * written, so a hole is a bug, and ENOENT says so where a
		 * silently missing page would be served later as a fault.
		 */
		struct uffdio_move m = {
			.dst = dst + *moved, .src = (unsigned long)src + *moved,
			.len = len - *moved,
			.mode = UFFDIO_MOVE_MODE_DONTWAKE,
		};

		if (!ioctl(uffd, UFFDIO_MOVE, &m)) {
			*moved = len;
			return 0;
		}
		if (m.move > 0)		/* short: go on after what was moved */
			*moved += m.move;
		else if (errno != EAGAIN)	/* EAGAIN alone: page tables changed under it */
			return -errno;
	}
	return 0;
}

int uffd_has_feature(uint64_t feature)
{
	/* Asking for no feature: the kernel answers with all it has. */
	struct uffdio_api api = { .api = UFFD_API };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = ioctl(fd, UFFDIO_API, &api) ? -errno : !!(api.features & feature);
	close(fd);
	return ret;
}
