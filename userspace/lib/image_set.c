// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_set.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What an image writer leaves in a round, its temporaries too: all img_set_remove() deletes. */
static const char *const round_files[] = {
	"mm.img", "pagemap.img", "pages.img", ".mm.img.tmp", ".pagemap.img.tmp",
};

static int fail(struct err *err, const char *file, uint64_t offset, int code,
		const char *fmt, ...)
{
	va_list ap;

	snprintf(err->file, sizeof(err->file), "%s", file);
	err->offset = offset;
	err->code = code < 0 ? -code : 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* "1", "2", ...: no sign, no leading zero, so each round has one name only. */
static bool round_name(const char *name, unsigned int *round)
{
	unsigned long v = 0;

	if (name[0] < '1' || name[0] > '9')
		return false;
	for (const char *p = name; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
		if (v > UINT_MAX)
			return false;
	}
	*round = v;
	return true;
}

static bool round_file(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(round_files); i++)
		if (!strcmp(name, round_files[i]))
			return true;
	return false;
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

/* Every entry of round directory @name is a regular file a writer makes? */
static int check_round_dir(int dir_fd, const char *name, struct err *err)
{
	char what[2 * sizeof(((struct dirent *)0)->d_name) + 2];
	struct dirent *d;
	struct stat st;
	int fd, ret = 0;
	DIR *dir;

	fd = openat(dir_fd, name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(err, name, 0, -errno, "cannot open: %s", strerror(errno));
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return fail(err, name, 0, -errno, "cannot read: %s", strerror(errno));
	}
	errno = 0;
	while (!ret && (d = readdir(dir))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		snprintf(what, sizeof(what), "%s/%s", name, d->d_name);
		if (!round_file(d->d_name) || fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode))
			ret = fail(err, what, 0, -ENOTEMPTY,
				   "not a file an image writer makes: the set is left as it is");
		errno = 0;
	}
	if (!ret && errno)
		ret = fail(err, name, 0, -errno, "cannot read: %s", strerror(errno));
	closedir(dir);
	return ret;
}

/*
 * The round numbers in the set @dir_fd, sorted. Other names are let be
 * unless @strict, which wants nothing but round directories holding
 * nothing but a writer's files.
 */
static int list_rounds(int dir_fd, bool strict, unsigned int **rounds, size_t *n,
		       struct err *err)
{
	size_t cap = 0;
	struct dirent *d;
	struct stat st;
	int fd, ret = 0;
	DIR *dir;

	*rounds = NULL;
	*n = 0;
	fd = openat(dir_fd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir) {
		ret = fail(err, ".", 0, -errno, "cannot read: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	errno = 0;
	while (!ret && (d = readdir(dir))) {
		unsigned int r;

		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (!round_name(d->d_name, &r)) {
			if (strict)
				ret = fail(err, d->d_name, 0, -ENOTEMPTY,
					   "not a round of an image set: the set is left as it is");
			errno = 0;
			continue;
		}
		if (strict && (fstatat(dir_fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
			       !S_ISDIR(st.st_mode)))
			ret = fail(err, d->d_name, 0, -ENOTEMPTY,
				   "a round that is not a directory: the set is left as it is");
		if (!ret && strict)
			ret = check_round_dir(dir_fd, d->d_name, err);
		if (!ret && *n == cap) {
			unsigned int *v = realloc(*rounds, (cap ? 2 * cap : 16) * sizeof(*v));

			if (!v)
				ret = fail(err, ".", 0, -ENOMEM, "out of memory");
			else
				*rounds = v, cap = cap ? 2 * cap : 16;
		}
		if (!ret)
			(*rounds)[(*n)++] = r;
		errno = 0;
	}
	if (!ret && errno)
		ret = fail(err, ".", 0, -errno, "cannot read: %s", strerror(errno));
	closedir(dir);
	if (ret) {
		free(*rounds);
		*rounds = NULL;
		*n = 0;
		return ret;
	}
	if (*n)
		qsort(*rounds, *n, sizeof(**rounds), cmp_uint);
	return 0;
}

int img_set_round_open(struct img_writer *w, const char *dir, unsigned int round,
		       uint32_t page_size, struct err *err)
{
	char name[IMG_LABEL_MAX], label[IMG_LABEL_MAX], prev[IMG_LABEL_MAX + 8];
	unsigned int *rounds;
	char *path = NULL;
	struct stat st;
	int dir_fd, ret = 0;
	size_t n;

	if (!round)
		return fail(err, ".", 0, -EINVAL, "rounds are numbered from 1");
	if (round == 1 && mkdir(dir, 0700) && errno != EEXIST)
		return fail(err, ".", 0, -errno, "cannot create: %s", strerror(errno));
	dir_fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dir_fd < 0)
		return fail(err, ".", 0, -errno, "cannot open: %s", strerror(errno));
	snprintf(name, sizeof(name), "%u", round);
	snprintf(label, sizeof(label), "%u/", round);
	/* Stale rounds of an older set would be read as this one's: start from nothing. */
	if (round == 1) {
		ret = list_rounds(dir_fd, false, &rounds, &n, err);
		free(rounds);
		if (!ret && n)
			ret = fail(err, ".", 0, -ENOTEMPTY,
				   "holds rounds of an older set: img_set_remove() it first");
	} else {
		snprintf(prev, sizeof(prev), "%u/mm.img", round - 1);
		if (fstatat(dir_fd, prev, &st, 0))
			ret = fail(err, prev, 0, -errno, "round %u is not finished: %s",
				   round - 1, "rounds are written in order");
	}
	if (!ret && mkdirat(dir_fd, name, 0700))
		ret = fail(err, name, 0, -errno, "cannot create: %s", strerror(errno));
	close(dir_fd);
	if (!ret && asprintf(&path, "%s/%u", dir, round) < 0)
		return fail(err, name, 0, -ENOMEM, "out of memory");
	if (!ret)
		ret = img_writer_open_as(w, path, label, page_size, err);
	free(path);
	return ret;
}

/* @a and @b merged: runs_add() at the end of @out is cheap, in the middle it moves the rest. */
static int runs_union(const struct runs *a, const struct runs *b, struct runs *out)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		const struct run *r = j == b->n || (i < a->n && a->v[i].start <= b->v[j].start) ?
				      &a->v[i++] : &b->v[j++];

		if (runs_add(out, r->start, r->len))
			return -ENOMEM;
	}
	return 0;
}

/* Pages lying wholly inside the VMAs: where a run may be (img_open() checks). */
static int vma_pages(const struct vma_rec *v, size_t n, uint64_t ps, struct runs *out)
{
	for (size_t i = 0; i < n; i++) {
		/* Rounded up without (start + ps - 1): that wraps in the top page. */
		uint64_t first = v[i].start / ps + !!(v[i].start % ps), end = v[i].end / ps;

		if (end > first && runs_add(out, first, end - first))
			return -ENOMEM;
	}
	return 0;
}

/*
 * From the last round back: what a round keeps is what it holds inside
 * the final VMAs less what any later round holds; its skip is the rest.
 */
static int compute_skips(struct image_set *set)
{
	const struct image *last = &set->round[set->n - 1].img;
	struct runs later = RUNS_INIT, final = RUNS_INIT;
	uint64_t ps = last->page_size;
	int ret;

	ret = vma_pages(last->vmas, last->nvmas, ps, &final);
	for (size_t i = 0; !ret && i < last->lazy.n; i++)
		ret = runs_add(&later, last->lazy.v[i].start, last->lazy.v[i].len);
	for (size_t r = set->n; !ret && r-- > 0;) {
		struct img_round *rd = &set->round[r];
		struct runs held = RUNS_INIT, inside = RUNS_INIT, keep = RUNS_INIT;
		struct runs more = RUNS_INIT;

		for (size_t i = 0; !ret && i < rd->img.n; i++)
			ret = runs_add(&held, rd->img.e[i].start_page, rd->img.e[i].nr_pages);
		if (!ret)
			ret = runs_intersect(&held, &final, &inside);
		if (!ret)
			ret = runs_subtract(&inside, &later, &keep);
		if (!ret)
			ret = runs_subtract(&held, &keep, &rd->skip);
		if (!ret)
			ret = runs_union(&later, &held, &more);
		if (!ret) {
			runs_free(&later);
			later = more;
			more = (struct runs)RUNS_INIT;
			/* Entries of one image never overlap: held counts each page once. */
			rd->data_pages = runs_pages(&held);
			rd->data_bytes = rd->data_pages * ps;
			rd->fill_pages = runs_pages(&keep);
			set->data_pages += rd->data_pages;
			set->data_bytes += rd->data_bytes;
			set->fill_pages += rd->fill_pages;
		}
		runs_free(&held);
		runs_free(&inside);
		runs_free(&keep);
		runs_free(&more);
	}
	runs_free(&later);
	runs_free(&final);
	return ret ? -ENOMEM : 0;
}

/* Where in pagemap.img the first lazy entry of @img is: its index counts the data ones before. */
static uint64_t first_lazy_offset(const struct image *img)
{
	size_t i = 0;

	while (i < img->n && img->e[i].start_page < img->lazy.v[0].start)
		i++;
	return sizeof(struct img_header) + i * sizeof(struct page_entry);
}

int img_set_open(struct image_set *set, const char *dir, struct err *err)
{
	unsigned int *rounds = NULL;
	size_t n = 0, i;
	int dir_fd, ret;

	memset(set, 0, sizeof(*set));
	dir_fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dir_fd < 0)
		return fail(err, ".", 0, -errno, "cannot open: %s", strerror(errno));
	ret = list_rounds(dir_fd, false, &rounds, &n, err);
	close(dir_fd);
	if (!ret && !n)
		ret = fail(err, ".", 0, -ENOENT, "holds no rounds (1/, 2/, ...)");
	for (i = 0; !ret && i < n; i++) {
		char name[IMG_LABEL_MAX];

		snprintf(name, sizeof(name), "%u", (unsigned int)(i + 1));
		if (rounds[i] != i + 1)
			ret = fail(err, name, 0, -ENOENT,
				   "missing: the set goes up to round %u, a gap loses pages",
				   rounds[n - 1]);
	}
	free(rounds);
	if (!ret) {
		set->round = calloc(n, sizeof(*set->round));
		if (!set->round)
			ret = fail(err, ".", 0, -ENOMEM, "out of memory");
	}
	for (i = 0; !ret && i < n; i++) {
		struct image *img = &set->round[i].img;
		char label[IMG_LABEL_MAX], *path;

		/* Round numbers are unsigned ints (round_name()): so is i + 1. */
		snprintf(label, sizeof(label), "%u/", (unsigned int)(i + 1));
		if (asprintf(&path, "%s/%zu", dir, i + 1) < 0) {
			ret = fail(err, label, 0, -ENOMEM, "out of memory");
			break;
		}
		ret = img_open_as(img, path, label, err);
		free(path);
		if (ret)
			break;
		set->n++;
		/* The handler serves what the freeze left: an older lazy set is stale. */
		if (i + 1 < n && img->lazy.n) {
			char file[IMG_LABEL_MAX + 16];

			snprintf(file, sizeof(file), "%spagemap.img", label);
			ret = fail(err, file, first_lazy_offset(img), -EBADMSG,
				   "lazy entries in round %zu of %zu: only the last round has them",
				   i + 1, n);
		}
	}
	if (!ret) {
		const struct image *last = &set->round[n - 1].img;

		set->vmas = last->vmas;
		set->nvmas = last->nvmas;
		set->lazy = &last->lazy;
		set->lazy_pages = runs_pages(&last->lazy);
		ret = compute_skips(set);
		if (ret)
			fail(err, ".", 0, ret, "out of memory");
	}
	if (ret)
		img_set_close(set);
	return ret;
}

void img_set_close(struct image_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		img_close(&set->round[i].img);
		runs_free(&set->round[i].skip);
	}
	free(set->round);
	memset(set, 0, sizeof(*set));
}

int img_set_remove(const char *dir, struct err *err)
{
	unsigned int *rounds;
	size_t n;
	int dir_fd, ret;

	dir_fd = open(dir, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0 && errno == ENOENT)
		return 0;
	if (dir_fd < 0)
		return fail(err, ".", 0, -errno, "cannot open: %s", strerror(errno));
	/* All checked before anything goes: a refused set is left whole. */
	ret = list_rounds(dir_fd, true, &rounds, &n, err);
	for (size_t i = 0; !ret && i < n; i++) {
		char name[IMG_LABEL_MAX], path[IMG_LABEL_MAX + 24];

		snprintf(name, sizeof(name), "%u", rounds[i]);
		for (size_t f = 0; !ret && f < ARRAY_SIZE(round_files); f++) {
			snprintf(path, sizeof(path), "%s/%s", name, round_files[f]);
			if (unlinkat(dir_fd, path, 0) && errno != ENOENT)
				ret = fail(err, path, 0, -errno, "cannot delete: %s",
					   strerror(errno));
		}
		if (!ret && unlinkat(dir_fd, name, AT_REMOVEDIR))
			ret = fail(err, name, 0, -errno, "cannot delete: %s", strerror(errno));
	}
	free(rounds);
	close(dir_fd);
	if (!ret && rmdir(dir))
		ret = fail(err, ".", 0, -errno, "cannot delete: %s", strerror(errno));
	return ret;
}
