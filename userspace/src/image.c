// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "image.h"

#define MAGIC_MM	"LZRMM\0\0\1"
#define MAGIC_PAGEMAP	"LZRPMAP\1"

/* Both index files start with this. */
struct img_header {
	char magic[8];
	uint32_t version;
	uint32_t page_size;
	uint64_t count;		/* entries that follow */
	uint32_t entries_crc;
	uint32_t header_crc;	/* of the fields above */
};

static int fail(struct img_error *err, const char *file, uint64_t offset, int code,
		const char *fmt, ...)
{
	va_list ap;

	snprintf(err->file, sizeof(err->file), "%s", file);
	err->offset = offset;
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
		    struct img_error *err)
{
	memset(w, 0, sizeof(*w));
	w->page_size = page_size;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return fail(err, dir, 0, -errno, "cannot create: %s", strerror(errno));
	w->dir_fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (w->dir_fd < 0)
		return fail(err, dir, 0, -errno, "cannot open: %s", strerror(errno));
	w->pages_fd = openat(w->dir_fd, "pages.img", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->pages_fd < 0) {
		int e = -errno;

		close(w->dir_fd);
		return fail(err, "pages.img", 0, e, "cannot create: %s", strerror(-e));
	}
	return 0;
}

int img_writer_add(struct img_writer *w, uint64_t start_page, uint64_t nr_pages,
		   const void *data, struct img_error *err)
{
	uint64_t len = nr_pages * w->page_size;
	int ret;

	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct page_entry *e = realloc(w->e, cap * sizeof(*e));

		if (!e)
			return fail(err, "pagemap.img", 0, -ENOMEM, "out of memory");
		w->e = e;
		w->cap = cap;
	}
	ret = write_all(w->pages_fd, data, len, w->pages_off);
	if (ret)
		return fail(err, "pages.img", w->pages_off, ret, "write: %s", strerror(-ret));
	w->e[w->n++] = (struct page_entry){
		.start_page = start_page, .nr_pages = nr_pages,
		.offset = w->pages_off, .crc = crc(data, len),
	};
	w->pages_off += len;
	return 0;
}

static int write_index(int dir_fd, const char *name, const char *magic, uint32_t page_size,
		       const void *entries, size_t count, size_t size, struct img_error *err)
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
		return fail(err, name, 0, -errno, "cannot create: %s", strerror(errno));
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
		return fail(err, name, 0, ret, "write: %s", strerror(-ret));
	}
	return 0;
}

int img_writer_finish(struct img_writer *w, const struct vma_rec *vmas, size_t nvmas,
		      struct img_error *err)
{
	int ret = 0;

	if (fsync(w->pages_fd))
		ret = fail(err, "pages.img", 0, -errno, "fsync: %s", strerror(errno));
	if (!ret)
		ret = write_index(w->dir_fd, "pagemap.img", MAGIC_PAGEMAP, w->page_size,
				  w->e, w->n, sizeof(*w->e), err);
	if (!ret)
		ret = write_index(w->dir_fd, "mm.img", MAGIC_MM, w->page_size,
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
static int read_index(int dir_fd, const char *name, const char *magic, size_t size,
		      uint32_t *page_size, void **entries, size_t *count, struct img_error *err)
{
	struct img_header h;
	struct stat st;
	ssize_t got;
	void *e;
	int fd;

	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, name, 0, -errno, "cannot open: %s", strerror(errno));
	got = read_all(fd, &h, sizeof(h), 0);
	if (got != (ssize_t)sizeof(h)) {
		close(fd);
		return fail(err, name, got < 0 ? 0 : got, -EBADMSG,
			    "truncated header (%zd of %zu bytes)", got, sizeof(h));
	}
	if (memcmp(h.magic, magic, sizeof(h.magic))) {
		close(fd);
		return fail(err, name, 0, -EBADMSG, "not a %s file (bad magic)", name);
	}
	if (crc(&h, offsetof(struct img_header, header_crc)) != h.header_crc) {
		close(fd);
		return fail(err, name, offsetof(struct img_header, header_crc), -EBADMSG,
			    "header checksum mismatch");
	}
	if (h.version != IMG_VERSION) {
		close(fd);
		return fail(err, name, offsetof(struct img_header, version), -EBADMSG,
			    "version %u, this program reads %u", h.version, IMG_VERSION);
	}
	if (fstat(fd, &st) || h.count > (uint64_t)(st.st_size - sizeof(h)) / size ||
	    (uint64_t)st.st_size != sizeof(h) + h.count * size) {
		close(fd);
		return fail(err, name, sizeof(h), -EBADMSG,
			    "size %lld does not hold the %llu entries the header announces",
			    (long long)st.st_size, (unsigned long long)h.count);
	}
	e = malloc(h.count * size + 1);
	if (!e) {
		close(fd);
		return fail(err, name, 0, -ENOMEM, "out of memory");
	}
	got = read_all(fd, e, h.count * size, sizeof(h));
	close(fd);
	if (got != (ssize_t)(h.count * size) || crc(e, h.count * size) != h.entries_crc) {
		free(e);
		return fail(err, name, sizeof(h), -EBADMSG, "entries checksum mismatch");
	}
	*page_size = h.page_size;
	*entries = e;
	*count = h.count;
	return 0;
}

static int check_entries(const struct image *img, uint64_t pages_size, struct img_error *err)
{
	size_t i, v = 0;

	for (i = 0; i < img->n; i++) {
		const struct page_entry *e = &img->e[i];
		uint64_t off = sizeof(struct img_header) + i * sizeof(*e);
		uint64_t start = e->start_page * img->page_size;
		uint64_t end = start + e->nr_pages * img->page_size;

		if (!e->nr_pages || end <= start)
			return fail(err, "pagemap.img", off, -EBADMSG, "empty or wrapping run");
		if (i && e->start_page < img->e[i - 1].start_page + img->e[i - 1].nr_pages)
			return fail(err, "pagemap.img", off, -EBADMSG, "runs out of order or overlapping");
		if (e->offset > pages_size || e->nr_pages * img->page_size > pages_size - e->offset)
			return fail(err, "pages.img", e->offset, -EBADMSG,
				    "truncated: run %zu needs %llu bytes at this offset, the file has %llu",
				    i, (unsigned long long)(e->nr_pages * img->page_size),
				    (unsigned long long)pages_size);
		while (v < img->nvmas && img->vmas[v].end <= start)
			v++;
		if (v == img->nvmas || img->vmas[v].start > start || img->vmas[v].end < end)
			return fail(err, "pagemap.img", off, -EBADMSG,
				    "run at %#llx is not inside one VMA of mm.img",
				    (unsigned long long)start);
	}
	return 0;
}

int img_open(struct image *img, const char *dir, struct img_error *err)
{
	uint32_t mm_page_size;
	struct stat st;
	size_t i;
	int dir_fd, ret;

	memset(img, 0, sizeof(*img));
	img->pages_fd = -1;
	dir_fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dir_fd < 0)
		return fail(err, dir, 0, -errno, "cannot open: %s", strerror(errno));
	ret = read_index(dir_fd, "mm.img", MAGIC_MM, sizeof(*img->vmas), &mm_page_size,
			 (void **)&img->vmas, &img->nvmas, err);
	if (!ret)
		ret = read_index(dir_fd, "pagemap.img", MAGIC_PAGEMAP, sizeof(*img->e),
				 &img->page_size, (void **)&img->e, &img->n, err);
	if (!ret && (mm_page_size != img->page_size || img->page_size != (uint32_t)getpagesize()))
		ret = fail(err, "pagemap.img", offsetof(struct img_header, page_size), -EBADMSG,
			   "page size %u, this machine's is %d", img->page_size, getpagesize());
	for (i = 1; !ret && i < img->nvmas; i++)
		if (img->vmas[i].start < img->vmas[i - 1].end || img->vmas[i].start >= img->vmas[i].end)
			ret = fail(err, "mm.img", sizeof(struct img_header) + i * sizeof(*img->vmas),
				   -EBADMSG, "VMAs out of order, overlapping or empty");
	if (!ret) {
		img->pages_fd = openat(dir_fd, "pages.img", O_RDONLY | O_CLOEXEC);
		if (img->pages_fd < 0 || fstat(img->pages_fd, &st))
			ret = fail(err, "pages.img", 0, -errno, "cannot open: %s", strerror(errno));
	}
	if (!ret)
		ret = check_entries(img, st.st_size, err);
	close(dir_fd);
	if (ret)
		img_close(img);
	return ret;
}

int img_read_entry(const struct image *img, size_t i, void *dst, struct img_error *err)
{
	const struct page_entry *e = &img->e[i];
	ssize_t got = read_all(img->pages_fd, dst, e->nr_pages * img->page_size, e->offset);

	return img_check_entry(img, i, dst, got, err);
}

int img_check_entry(const struct image *img, size_t i, const void *dst, ssize_t got,
		    struct img_error *err)
{
	const struct page_entry *e = &img->e[i];
	uint64_t len = e->nr_pages * img->page_size;

	if (got < 0)
		return fail(err, "pages.img", e->offset, (int)got, "read: %s", strerror((int)-got));
	if ((uint64_t)got != len)
		return fail(err, "pages.img", e->offset + got, -EBADMSG,
			    "truncated inside run %zu (%zd of %llu bytes)", i, got,
			    (unsigned long long)len);
	if (crc(dst, len) != e->crc)
		return fail(err, "pages.img", e->offset, -EBADMSG,
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
	memset(img, 0, sizeof(*img));
	img->pages_fd = -1;
}
