// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "image.h"

#define MAGIC_MM	"LZRMM\0\0\1"
#define MAGIC_PAGEMAP	"LZRPMAP\1"

/* @label, when a set's round, names which: the caller prints set dir + file. */
static int fail(struct err *err, const char *label, const char *file, uint64_t offset,
		int code, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->file, sizeof(err->file), "%s%s", label, file);
	err->offset = offset;
	err->code = code < 0 ? -code : 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

static uint32_t crc(const void *p, size_t len)
{
	return crc32(0, p, len);
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno ? -errno : -EIO;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Reads exactly @len bytes, or says how many it got: -EIO for a short file. */
static ssize_t read_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, off + got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

int img_writer_open(struct img_writer *w, const char *dir, uint32_t page_size,
		    struct err *err)
{
	return img_writer_open_as(w, dir, "", page_size, err);
}

int img_writer_open_as(struct img_writer *w, const char *dir, const char *label,
		       uint32_t page_size, struct err *err)
{
	/* The directory itself: its label when it has one, a path is too long for err->file. */
	const char *me = label[0] ? label : dir;

	memset(w, 0, sizeof(*w));
	snprintf(w->label, sizeof(w->label), "%s", label);
	w->page_size = page_size;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return fail(err, "", me, 0, -errno, "cannot create: %s", strerror(errno));
	w->dir_fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (w->dir_fd < 0)
		return fail(err, "", me, 0, -errno, "cannot open: %s", strerror(errno));
	w->pages_fd = openat(w->dir_fd, "pages.img", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->pages_fd < 0) {
		int e = -errno;

		close(w->dir_fd);
		return fail(err, label, "pages.img", 0, e, "cannot create: %s", strerror(-e));
	}
	return 0;
}

static struct page_entry *next_entry(struct img_writer *w, struct err *err)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct page_entry *e = realloc(w->e, cap * sizeof(*e));

		if (!e) {
			fail(err, w->label, "pagemap.img", 0, -ENOMEM, "out of memory");
			return NULL;
		}
		w->e = e;
		w->cap = cap;
	}
	return &w->e[w->n];
}

int img_writer_add(struct img_writer *w, uint64_t start_page, uint64_t nr_pages,
		   const void *data, struct err *err)
{
	uint64_t len = nr_pages * w->page_size;
	struct page_entry *e = next_entry(w, err);
	int ret;

	if (!e)
		return -ENOMEM;
	ret = write_all(w->pages_fd, data, len, w->pages_off);
	if (ret)
		return fail(err, w->label, "pages.img", w->pages_off, ret, "write: %s",
			    strerror(-ret));
	*e = (struct page_entry){
		.start_page = start_page, .nr_pages = nr_pages,
		.offset = w->pages_off, .crc = crc(data, len),
	};
	w->n++;
	w->pages_off += len;
	return 0;
}

int img_writer_add_lazy(struct img_writer *w, uint64_t start_page, uint64_t nr_pages,
			struct err *err)
{
	struct page_entry *e = next_entry(w, err);

	if (!e)
		return -ENOMEM;
	*e = (struct page_entry){
		.start_page = start_page, .nr_pages = nr_pages, .flags = IMG_PE_LAZY,
	};
	w->n++;
	return 0;
}

static int by_start_page(const void *a, const void *b)
{
	const struct page_entry *x = a, *y = b;

	if (x->start_page != y->start_page)
		return x->start_page < y->start_page ? -1 : 1;
	/* Equal starts overlap and are refused by the reader; still, one order only. */
	if (x->flags != y->flags)
		return x->flags < y->flags ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int write_index(int dir_fd, const char *label, const char *name, const char *magic,
		       uint32_t page_size, const void *entries, size_t count, size_t size,
		       struct err *err)
{
	struct img_header h = { .version = IMG_VERSION, .page_size = page_size, .count = count };
	char tmp[64];
	int fd, ret;

	memcpy(h.magic, magic, sizeof(h.magic));
	h.entries_crc = crc(entries, count * size);
	h.header_crc = crc(&h, offsetof(struct img_header, header_crc));
	/* Written under another name and renamed: a reader never sees half. */
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(err, label, name, 0, -errno, "cannot create: %s", strerror(errno));
	ret = write_all(fd, &h, sizeof(h), 0);
	if (!ret)
		ret = write_all(fd, entries, count * size, sizeof(h));
	if (!ret && fsync(fd))
		ret = -errno;
	close(fd);
	if (!ret && renameat(dir_fd, tmp, dir_fd, name))
		ret = -errno;
	if (ret) {
		unlinkat(dir_fd, tmp, 0);
		return fail(err, label, name, 0, ret, "write: %s", strerror(-ret));
	}
	return 0;
}

int img_writer_finish(struct img_writer *w, const struct vma_rec *vmas, size_t nvmas,
		      struct err *err)
{
	int ret = 0;

	/* The reader finds overlaps in one pass over a sorted index, as CRIU's pagemap is. */
	if (w->n)
		qsort(w->e, w->n, sizeof(*w->e), by_start_page);
	if (fsync(w->pages_fd))
		ret = fail(err, w->label, "pages.img", 0, -errno, "fsync: %s", strerror(errno));
	/* mm.img last: a round of a set whose mm.img is there is finished. */
	if (!ret)
		ret = write_index(w->dir_fd, w->label, "pagemap.img", MAGIC_PAGEMAP, w->page_size,
				  w->e, w->n, sizeof(*w->e), err);
	if (!ret)
		ret = write_index(w->dir_fd, w->label, "mm.img", MAGIC_MM, w->page_size,
				  vmas, nvmas, sizeof(*vmas), err);
	img_writer_abort(w);
	return ret;
}

void img_writer_abort(struct img_writer *w)
{
	close(w->pages_fd);
	close(w->dir_fd);
	free(w->e);
	memset(w, 0, sizeof(*w));
	w->pages_fd = w->dir_fd = -1;
}

/* Read and check one index file: header, then @size-byte entries. */
static int read_index(int dir_fd, const char *label, const char *name, const char *magic,
		      size_t size, uint32_t *page_size, void **entries, size_t *count,
		      struct err *err)
{
	struct img_header h;
	struct stat st;
	ssize_t got;
	void *e;
	int fd;

	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, label, name, 0, -errno, "cannot open: %s", strerror(errno));
	got = read_all(fd, &h, sizeof(h), 0);
	if (got != (ssize_t)sizeof(h)) {
		close(fd);
		return fail(err, label, name, got < 0 ? 0 : got, -EBADMSG,
			    "truncated header (%zd of %zu bytes)", got, sizeof(h));
	}
	if (memcmp(h.magic, magic, sizeof(h.magic))) {
		close(fd);
		return fail(err, label, name, 0, -EBADMSG, "not a %s file (bad magic)", name);
	}
	if (crc(&h, offsetof(struct img_header, header_crc)) != h.header_crc) {
		close(fd);
		return fail(err, label, name, offsetof(struct img_header, header_crc), -EBADMSG,
			    "header checksum mismatch");
	}
	if (h.version != IMG_VERSION) {
		close(fd);
		return fail(err, label, name, offsetof(struct img_header, version), -EBADMSG,
			    "version %u, this program reads %u only: dump again",
			    h.version, IMG_VERSION);
	}
	if (fstat(fd, &st) || h.count > (uint64_t)(st.st_size - sizeof(h)) / size ||
	    (uint64_t)st.st_size != sizeof(h) + h.count * size) {
		close(fd);
		return fail(err, label, name, sizeof(h), -EBADMSG,
			    "size %lld does not hold the %llu entries the header announces",
			    (long long)st.st_size, (unsigned long long)h.count);
	}
	e = malloc(h.count * size + 1);
	if (!e) {
		close(fd);
		return fail(err, label, name, 0, -ENOMEM, "out of memory");
	}
	got = read_all(fd, e, h.count * size, sizeof(h));
	close(fd);
	if (got != (ssize_t)(h.count * size) || crc(e, h.count * size) != h.entries_crc) {
		free(e);
		return fail(err, label, name, sizeof(h), -EBADMSG, "entries checksum mismatch");
	}
	*page_size = h.page_size;
	*entries = e;
	*count = h.count;
	return 0;
}

static const char *overlap_what(const struct page_entry *e, const struct page_entry *prev)
{
	if ((e->flags | prev->flags) & IMG_PE_LAZY)
		return (e->flags & prev->flags & IMG_PE_LAZY) ? "lazy run overlaps lazy run" :
		       "lazy run overlaps data run";
	return "runs overlap";
}

/*
 * Checks the index as read, @raw in file order (so errors give the
 * entry's offset), and splits it: data entries into img->e, in place,
 * lazy ones into img->lazy.
 */
static int check_entries(struct image *img, struct page_entry *raw, size_t count,
			 uint64_t pages_size, struct err *err)
{
	const char *l = img->label;
	size_t i, v = 0;

	img->e = raw;
	img->n = 0;
	for (i = 0; i < count; i++) {
		struct page_entry e = raw[i];
		const struct page_entry *prev = i ? &raw[i - 1] : NULL;
		uint64_t off = sizeof(struct img_header) + i * sizeof(e);
		uint64_t start = e.start_page * img->page_size;
		uint64_t end = start + e.nr_pages * img->page_size;
		bool lazy = e.flags & IMG_PE_LAZY;

		if (e.flags & ~IMG_PE_KNOWN)
			return fail(err, l, "pagemap.img", off, -EBADMSG,
				    "run %zu has unknown flags %#x", i, e.flags & ~IMG_PE_KNOWN);
		if (!e.nr_pages || end <= start ||
		    end / img->page_size != e.start_page + e.nr_pages)
			return fail(err, l, "pagemap.img", off, -EBADMSG, "empty or wrapping run");
		/* Entry j is moved to raw[n], n <= j: raw[i - 1] still holds entry i - 1. */
		if (prev && e.start_page < prev->start_page + prev->nr_pages)
			return fail(err, l, "pagemap.img", off, -EBADMSG, "%s at %#llx",
				    e.start_page < prev->start_page ? "runs out of order" :
				    overlap_what(&e, prev), (unsigned long long)start);
		if (lazy && (e.offset || e.crc))
			return fail(err, l, "pagemap.img", off, -EBADMSG,
				    "lazy run %zu has a data offset or checksum", i);
		if (!lazy && (e.offset > pages_size ||
			      e.nr_pages * img->page_size > pages_size - e.offset))
			return fail(err, l, "pages.img", e.offset, -EBADMSG,
				    "truncated: run %zu needs %llu bytes at this offset, the file has %llu",
				    i, (unsigned long long)(e.nr_pages * img->page_size),
				    (unsigned long long)pages_size);
		while (v < img->nvmas && img->vmas[v].end <= start)
			v++;
		if (v == img->nvmas || img->vmas[v].start > start || img->vmas[v].end < end)
			return fail(err, l, "pagemap.img", off, -EBADMSG,
				    "run at %#llx is not inside one VMA of mm.img",
				    (unsigned long long)start);
		if (lazy && runs_add(&img->lazy, e.start_page, e.nr_pages))
			return fail(err, l, "pagemap.img", off, -ENOMEM, "out of memory");
		if (!lazy)
			img->e[img->n++] = e;
	}
	return 0;
}

int img_open(struct image *img, const char *dir, struct err *err)
{
	return img_open_as(img, dir, "", err);
}

int img_open_as(struct image *img, const char *dir, const char *label, struct err *err)
{
	struct page_entry *raw = NULL;
	uint32_t mm_page_size;
	struct stat st;
	size_t i, count = 0;
	int dir_fd, ret;
	const char *l;

	memset(img, 0, sizeof(*img));
	img->pages_fd = -1;
	img->lazy = (struct runs)RUNS_INIT;
	snprintf(img->label, sizeof(img->label), "%s", label);
	l = img->label;
	dir_fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dir_fd < 0)
		return fail(err, "", l[0] ? l : dir, 0, -errno, "cannot open: %s", strerror(errno));
	ret = read_index(dir_fd, l, "mm.img", MAGIC_MM, sizeof(*img->vmas), &mm_page_size,
			 (void **)&img->vmas, &img->nvmas, err);
	if (!ret)
		ret = read_index(dir_fd, l, "pagemap.img", MAGIC_PAGEMAP, sizeof(*raw),
				 &img->page_size, (void **)&raw, &count, err);
	if (!ret && (mm_page_size != img->page_size || img->page_size != (uint32_t)getpagesize()))
		ret = fail(err, l, "pagemap.img", offsetof(struct img_header, page_size), -EBADMSG,
			   "page size %u, this machine's is %d", img->page_size, getpagesize());
	for (i = 0; !ret && i < img->nvmas; i++)
		if ((i && img->vmas[i].start < img->vmas[i - 1].end) ||
		    img->vmas[i].start >= img->vmas[i].end)
			ret = fail(err, l, "mm.img",
				   sizeof(struct img_header) + i * sizeof(*img->vmas),
				   -EBADMSG, "VMAs out of order, overlapping or empty");
	if (!ret) {
		img->pages_fd = openat(dir_fd, "pages.img", O_RDONLY | O_CLOEXEC);
		if (img->pages_fd < 0 || fstat(img->pages_fd, &st))
			ret = fail(err, l, "pages.img", 0, -errno, "cannot open: %s",
				   strerror(errno));
	}
	if (!ret)
		ret = check_entries(img, raw, count, st.st_size, err);
	else
		free(raw);
	close(dir_fd);
	if (ret)
		img_close(img);
	return ret;
}

int img_read_entry(const struct image *img, size_t i, void *dst, struct err *err)
{
	const struct page_entry *e = &img->e[i];
	ssize_t got = read_all(img->pages_fd, dst, e->nr_pages * img->page_size, e->offset);

	return img_check_entry(img, i, dst, got, err);
}

int img_check_entry(const struct image *img, size_t i, const void *dst, ssize_t got,
		    struct err *err)
{
	const struct page_entry *e = &img->e[i];
	uint64_t len = e->nr_pages * img->page_size;

	if (got < 0)
		return fail(err, img->label, "pages.img", e->offset, (int)got, "read: %s",
			    strerror((int)-got));
	if ((uint64_t)got != len)
		return fail(err, img->label, "pages.img", e->offset + got, -EBADMSG,
			    "truncated inside run %zu (%zd of %llu bytes)", i, got,
			    (unsigned long long)len);
	if (crc(dst, len) != e->crc)
		return fail(err, img->label, "pages.img", e->offset, -EBADMSG,
			    "run %zu (%llu pages at %#llx) is corrupt: checksum mismatch", i,
			    (unsigned long long)e->nr_pages,
			    (unsigned long long)(e->start_page * img->page_size));
	return 0;
}

void img_close(struct image *img)
{
	if (img->pages_fd >= 0)
		close(img->pages_fd);
	free(img->vmas);
	free(img->e);
	runs_free(&img->lazy);
	memset(img, 0, sizeof(*img));
	img->pages_fd = -1;
}
