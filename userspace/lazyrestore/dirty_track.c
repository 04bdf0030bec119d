// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "dirty_track.h"
#include "pagemap_uapi.h"
#include "uffd_uapi.h"

#define PM_SOFT_DIRTY	55	/* Documentation/admin-guide/mm/pagemap.rst */

/* Above every user address, below x86-64's [vsyscall] page. */
#define USER_TOP	(1ULL << 57)

static int uffd_open(void)
{
	/*
	 * Async write-protect never hands a fault to userspace, so faults
	 * from kernel mode lose nothing under UFFD_USER_MODE_ONLY, and it
	 * spares B CAP_SYS_PTRACE when vm.unprivileged_userfaultfd is 0.
	 */
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0 && errno == EINVAL)	/* before 5.11: no such flag, and no WP_ASYNC either */
		fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* UFFDIO_API can be done once per fd, so asking what exists costs an fd. */
static int uffd_features(uint64_t *features)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = uffd_open(), ret = 0;

	if (fd < 0)
		return fd;
	if (ioctl(fd, UFFDIO_API, &api))
		ret = -errno;
	*features = api.features;
	close(fd);
	return ret;
}

/* Registers and write-protects one range; on failure says why. */
static int arm_range(int fd, const struct dirty_range *r, struct err *e)
{
	unsigned long long s = r->start, end = r->end;
	struct uffdio_register reg = {
		.range = { .start = s, .len = end - s },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = { .start = s, .len = end - s },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	int err;

	if (ioctl(fd, UFFDIO_REGISTER, &reg)) {
		err = errno;
		err_set(e, err, "UFFDIO_REGISTER_MODE_WP [%#llx, %#llx): %s%s", s, end,
			 strerror(err), err == EBUSY ? " (registered to another uffd)" : "");
		return -err;
	}
	if (!(reg.ioctls & (1ULL << _UFFDIO_WRITEPROTECT))) {
		err_set(e, 0, "UFFDIO_WRITEPROTECT not offered for [%#llx, %#llx)", s, end);
		return -EOPNOTSUPP;
	}
	/*
	 * Registering only marks the VMA. This protects the present PTEs
	 * and, with WP_UNPOPULATED, puts markers in the empty ones, so that
	 * a first touch of a page B never had counts as a write too.
	 */
	if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp)) {
		err = errno;
		err_set(e, err, "UFFDIO_WRITEPROTECT [%#llx, %#llx): %s", s, end, strerror(err));
		return -err;
	}
	return 0;
}

int dirty_track_arm(const struct dirty_range *ranges, size_t n, struct err *e)
{
	long ps = sysconf(_SC_PAGESIZE);
	struct uffdio_api api = { .api = UFFD_API };
	uint64_t have;
	int fd, ret;

	err_set(e, 0, "%s", "");
	for (size_t i = 0; i < n; i++) {
		const struct dirty_range *r = &ranges[i];

		if (r->start % ps || r->end % ps || r->end <= r->start) {
			err_set(e, 0, "range [%#llx, %#llx) empty or not page-aligned",
				 (unsigned long long)r->start, (unsigned long long)r->end);
			return -EINVAL;
		}
	}
	ret = uffd_features(&have);
	if (ret) {
		err_set(e, 0, "userfaultfd: %s%s", strerror(-ret), ret == -EPERM ?
			 " (vm.unprivileged_userfaultfd=0, kernel before 5.11)" : "");
		return ret;
	}
	if (!(have & UFFD_FEATURE_WP_ASYNC)) {
		err_set(e, 0, "UFFD_FEATURE_WP_ASYNC not supported by this kernel %s",
			 have & UFFD_FEATURE_PAGEFAULT_FLAG_WP ? "(needs 6.7)" :
			 "(needs 6.7 and uffd-wp in the arch)");
		return -EOPNOTSUPP;
	}
	/* WP_ASYNC implies WP_UNPOPULATED since 6.7; asked for in case a backport differs. */
	api.features = UFFD_FEATURE_WP_ASYNC | (have & UFFD_FEATURE_WP_UNPOPULATED);
	fd = uffd_open();
	if (fd < 0) {
		err_set(e, 0, "userfaultfd: %s", strerror(-fd));
		return fd;
	}
	if (ioctl(fd, UFFDIO_API, &api)) {
		ret = -errno;
		err_set(e, 0, "UFFDIO_API(WP_ASYNC): %s", strerror(-ret));
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		ret = arm_range(fd, &ranges[i], e);
		if (ret)
			goto fail;
	}
	return fd;
fail:
	close(fd);	/* the last reference: unregisters whatever was registered */
	return ret;
}

/* Regions returned, or -errno. */
static long pm_scan(struct dirty_track *t, struct pm_scan_arg *arg)
{
	long n;

	arg->size = sizeof(*arg);
	t->ioctls++;
	n = ioctl(t->pagemap_fd, PAGEMAP_SCAN, arg);
	return n < 0 ? -errno : n;
}

/*
 * The kernel keeps soft-dirty bits only with CONFIG_MEM_SOFT_DIRTY; without
 * it clear_refs still accepts "4" and pagemap still reads, bit 55 always
 * clear, so only a page known to be dirty tells. A fresh mapping is one:
 * its VMA starts VM_SOFTDIRTY.
 */
static bool soft_dirty_works(long ps)
{
	uint64_t e = 0;
	bool ok = false;
	char *p;
	int fd;

	p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	*(volatile char *)p = 1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ok = pread(fd, &e, 8, (uintptr_t)p / ps * 8) == 8 && (e >> PM_SOFT_DIRTY & 1);
		close(fd);
	}
	munmap(p, ps);
	return ok;
}

static int clear_soft_dirty(struct dirty_track *t)
{
	ssize_t n = pwrite(t->clear_refs_fd, "4", 1, 0);

	return n == 1 ? 0 : n < 0 ? -errno : -EIO;
}

/*
 * Reads B's maps through the fd held since open: how many VMAs meet [lo, hi),
 * and in *top the end of the highest one ([vsyscall] aside), where a walk of
 * the whole mm can stop. An empty collect needs the first, to tell
 * "nothing written" from "nothing mapped".
 */
static int maps_scan(struct dirty_track *t, uint64_t lo, uint64_t hi, uint64_t *top)
{
	int fd = fcntl(t->maps_fd, F_DUPFD_CLOEXEC, 0), meet = 0, lines = 0, ret;
	unsigned long long s, e;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (fd < 0)
		return -errno;
	/* The dup shares the offset: rewind to read a fresh snapshot. */
	if (lseek(fd, 0, SEEK_SET) < 0 || !(f = fdopen(fd, "r"))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*top = 0;
	errno = 0;
	while (getline(&line, &cap, f) > 0) {
		lines++;
		if (sscanf(line, "%llx-%llx", &s, &e) != 2 || e > USER_TOP)
			continue;
		meet += s < hi && e > lo;
		if (e > *top)
			*top = e;
	}
	/* An exited task's maps fails ESRCH (or reads empty). */
	ret = ferror(f) ? -(errno ? errno : EIO) : !lines ? -ESRCH : meet;
	free(line);
	fclose(f);
	return ret;
}

static int open_proc(pid_t pid, const char *what, int flags, struct err *e)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		fd = errno == ENOENT ? -ESRCH : -errno;
		err_set(e, 0, "%s: %s", path, strerror(-fd));
	}
	return fd;
}

/*
 * Protects every written page of every armed VMA of B, skipping the others
 * (no PM_SCAN_CHECK_WPASYNC), and returns none (no vec: the kernel's fast
 * path for this). Makes "written since open" mean the same for both methods,
 * whatever B wrote between arming and now.
 */
static int wp_reset(struct dirty_track *t)
{
	struct pm_scan_arg arg = { .flags = PM_SCAN_WP_MATCHING };
	uint64_t top;
	long ret = maps_scan(t, 0, 0, &top);

	if (ret < 0)
		return ret;
	arg.end = top;
	while (arg.start < top) {
		ret = pm_scan(t, &arg);
		if (ret < 0)
			return ret;
		if (arg.walk_end <= arg.start)
			return -EIO;
		arg.start = arg.walk_end;
	}
	return 0;
}

int dirty_track_open(struct dirty_track *t, pid_t pid, bool armed, struct err *e)
{
	char scan_why[128] = "";
	int ret;

	*t = (struct dirty_track){
		.pid = pid, .pagemap_fd = -1, .clear_refs_fd = -1, .maps_fd = -1,
		.page_size = sysconf(_SC_PAGESIZE), .vec_len = DIRTY_TRACK_VEC,
	};
	err_set(e, 0, "%s", "");
	ret = t->pagemap_fd = open_proc(pid, "pagemap", O_RDONLY, e);
	if (ret < 0)
		goto fail;
	ret = t->maps_fd = open_proc(pid, "maps", O_RDONLY, e);
	if (ret < 0)
		goto fail;
	if (armed) {
		/* An empty range: 0 where PAGEMAP_SCAN exists, ENOTTY before 6.7. */
		struct pm_scan_arg probe = { 0 };

		ret = pm_scan(t, &probe);
		if (!ret) {
			t->vec = calloc(DIRTY_TRACK_VEC, sizeof(*t->vec));
			ret = t->vec ? wp_reset(t) : -ENOMEM;
			if (ret) {
				err_set(e, 0, "PAGEMAP_SCAN of pid %d: %s", (int)pid,
					 strerror(-ret));
				goto fail;
			}
			t->ioctls = 0;	/* the stats are the collects' */
			t->method = DIRTY_WP_ASYNC;
			return 0;
		}
		snprintf(scan_why, sizeof(scan_why), ret == -ENOTTY ?
			 "PAGEMAP_SCAN not supported by this kernel (needs 6.7)" :
			 "PAGEMAP_SCAN: %s", strerror(-ret));
	} else {
		snprintf(scan_why, sizeof(scan_why), "not armed by the tracked process");
	}
	if (!soft_dirty_works(t->page_size)) {
		err_set(e, 0, "%s; soft-dirty not supported by this kernel %s", scan_why,
			 "(CONFIG_MEM_SOFT_DIRTY unset)");
		ret = -EOPNOTSUPP;
		goto fail;
	}
	ret = t->clear_refs_fd = open_proc(pid, "clear_refs", O_WRONLY, e);
	if (ret < 0)
		goto fail;
	ret = clear_soft_dirty(t);
	if (ret) {
		err_set(e, 0, "/proc/%d/clear_refs: %s", (int)pid, strerror(-ret));
		goto fail;
	}
	t->method = DIRTY_SOFT_DIRTY;
	err_set(e, 0, "%s", scan_why);
	return 0;
fail:
	dirty_track_close(t);
	return ret;
}

static int add_pages(struct dirty_track *t, struct runs *out, uint64_t start, uint64_t end)
{
	uint64_t n = (end - start) / t->page_size;

	t->pages += n;
	return runs_add(out, start / t->page_size, n);
}

static int collect_wp(struct dirty_track *t, uint64_t lo, uint64_t hi, struct runs *out)
{
	struct pm_scan_arg arg = {
		/* Abort on an unarmed VMA: skipping it would call it clean. */
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = lo,
		.end = hi,
		.vec = (uintptr_t)t->vec,
		.vec_len = t->vec_len,
		/*
		 * Only these exact masks take the kernel's fast path
		 * (pagemap_scan_pmd_entry()), which also counts an empty
		 * PTE as written: in an armed VMA that is a page B zapped
		 * (MADV_DONTNEED), whose content did change.
		 */
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	long n;

	if (!arg.vec_len || arg.vec_len > DIRTY_TRACK_VEC)
		arg.vec_len = DIRTY_TRACK_VEC;
	/*
	 * A call stops at vec_len regions, or earlier, and says where in
	 * walk_end; the pages it returned are protected again already, so
	 * the next call goes on from there.
	 */
	while (arg.start < hi) {
		/*
		 * On error the kernel has still copied out what it protected;
		 * zeroes mark where that ends (no region ends at 0).
		 */
		memset(t->vec, 0, arg.vec_len * sizeof(*t->vec));
		n = pm_scan(t, &arg);
		if (n < 0) {
			for (size_t i = 0; i < arg.vec_len && t->vec[i].end; i++)
				if (add_pages(t, out, t->vec[i].start, t->vec[i].end))
					return -ENOMEM;
			return n;
		}
		for (long i = 0; i < n; i++)
			if (add_pages(t, out, t->vec[i].start, t->vec[i].end))
				return -ENOMEM;
		if (arg.walk_end <= arg.start || arg.walk_end > hi)
			return -EIO;
		arg.start = arg.walk_end;
	}
	return 0;
}

static int collect_soft_dirty(struct dirty_track *t, uint64_t lo, uint64_t hi, struct runs *out)
{
	uint64_t buf[512], page = lo / t->page_size, end = hi / t->page_size;

	while (page < end) {
		size_t want = end - page < 512 ? end - page : 512;
		ssize_t got = pread(t->pagemap_fd, buf, want * 8, page * 8);

		if (got < 0)
			return -errno;
		if (got != (ssize_t)(want * 8)) {
			uint64_t top;
			int gone = maps_scan(t, lo, hi, &top);

			/* EOF: B's mm is gone, or [lo, hi) goes past the user address space. */
			return gone == -ESRCH ? -ESRCH : -EINVAL;
		}
		for (size_t i = 0; i < want; i++) {
			if (!(buf[i] >> PM_SOFT_DIRTY & 1))
				continue;
			t->pages++;
			if (runs_add(out, page + i, 1))
				return -ENOMEM;
		}
		page += want;
	}
	/* Only now: an error above leaves the bits set, to be reported again. */
	return clear_soft_dirty(t);
}

int dirty_track_collect(struct dirty_track *t, uint64_t lo, uint64_t hi, struct runs *out)
{
	uint64_t t0 = now_ns(), before = t->pages, top;
	int ret;

	if (lo % t->page_size || hi % t->page_size || hi < lo)
		return -EINVAL;
	t->scans++;
	if (t->method == DIRTY_WP_ASYNC)
		ret = collect_wp(t, lo, hi, out);
	else
		ret = collect_soft_dirty(t, lo, hi, out);
	if (!ret && t->pages == before && lo < hi) {
		ret = maps_scan(t, lo, hi, &top);
		ret = ret < 0 ? ret : ret ? 0 : -ENOENT;
	}
	t->ns += now_ns() - t0;
	return ret;
}

const char *dirty_track_method(const struct dirty_track *t)
{
	return t->method == DIRTY_WP_ASYNC ? "uffd-wp-async" : "soft-dirty";
}

void dirty_track_close(struct dirty_track *t)
{
	if (t->pagemap_fd >= 0)
		close(t->pagemap_fd);
	if (t->clear_refs_fd >= 0)
		close(t->clear_refs_fd);
	if (t->maps_fd >= 0)
		close(t->maps_fd);
	free(t->vec);
	t->vec = NULL;
	t->pagemap_fd = t->clear_refs_fd = t->maps_fd = -1;
}
