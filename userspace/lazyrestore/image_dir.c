// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "image_dir.h"

int image_dir_make(struct image_dir *d, const char *given, struct err *e)
{
	const char *tmp = getenv("TMPDIR");

	d->created = 0;
	if (given) {
		if (snprintf(d->path, sizeof(d->path), "%s", given) >= (int)sizeof(d->path))
			return err_set(e, ENAMETOOLONG, "--images: a path of %zu bytes at most",
				       sizeof(d->path) - 1);
		if (mkdir(d->path, 0700)) {
			if (errno == EEXIST)
				return err_set(e, EEXIST, "--images %s: exists; give a path that does "
					       "not (the run creates it and removes it)", d->path);
			return err_sys(e, "--images %s: cannot create it", d->path);
		}
	} else {
		snprintf(d->path, sizeof(d->path), "%s/lazyrestore-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(d->path))
			return err_sys(e, "a directory for the images (%s)", d->path);
	}
	d->created = 1;
	return 0;
}

struct linux_dirent64 {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Everything in @dir_fd, @depth levels down at most: ours never go deeper than 6. */
static int empty_dir(int dir_fd, int depth)
{
	char buf[1024];
	long n;
	int ret = 0;

	if (depth > 8)
		return -ELOOP;
	while ((n = syscall(SYS_getdents64, dir_fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n; ) {
			struct linux_dirent64 *de = (struct linux_dirent64 *)(buf + off);
			const char *name = de->d_name;

			off += de->d_reclen;
			if (!strcmp(name, ".") || !strcmp(name, ".."))
				continue;
			if (de->d_type == DT_DIR) {
				int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);

				if (fd < 0) {
					ret = -errno;
					continue;
				}
				if (!ret)
					ret = empty_dir(fd, depth + 1);
				close(fd);
				if (unlinkat(dir_fd, name, AT_REMOVEDIR) && !ret)
					ret = -errno;
			} else if (unlinkat(dir_fd, name, 0) && !ret) {
				ret = -errno;
			}
		}
	}
	return n < 0 ? -errno : ret;
}

int image_dir_remove(struct image_dir *d)
{
	int fd, ret;

	if (!d->created)
		return 0;
	/* A pass may miss entries that moved under a reader deleting: three at most. */
	for (int pass = 0; pass < 3; pass++) {
		fd = open(d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? (d->created = 0) : -errno;
		ret = empty_dir(fd, 0);
		close(fd);
		if (!ret && rmdir(d->path))
			ret = -errno;
		if (ret != -ENOTEMPTY)
			break;
	}
	if (!ret)
		d->created = 0;
	return ret;
}

void image_dir_remove_hook(void *d)
{
	image_dir_remove(d);
}
