// SPDX-License-Identifier: GPL-2.0
/*
 * The image reader on whatever a damaged or hostile image directory could
 * hold. The input is a set directory in a small container:
 *
 *	u8 fix;			FIX_* bits: checksums and counts made right
 *	{ u8 id; u16 len (LE); u8 data[len]; } ...
 *
 * id & 3 picks the file (mm.img, pagemap.img, pages.img, or a writer's
 * temporary), id >> 2 & 7 the directory it goes in (rounds "1".."4" and
 * names a round must not have); a later record for the same file replaces
 * it. Without the FIX_* bits nearly every mutation dies at a CRC, so the
 * fuzzer may have the harness repair them and reach the checks behind.
 *
 * Each round is opened alone (img_open(), every entry read and checked),
 * then the whole set (img_set_open()), then removed (img_set_remove()).
 * Every outcome must be a refusal with a message, or an image that keeps
 * the promises image.h and image_set.h make; a broken promise aborts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "image.h"
#include "image_set.h"

#define FIX_INDEX_CRC	(1u << 0)	/* header_crc and entries_crc of both indexes */
#define FIX_COUNT	(1u << 1)	/* header count from the file's size */
#define FIX_RUN_CRC	(1u << 2)	/* each data run's crc from pages.img */

#define NFILES 4
#define NDIRS 8

static const char *const files[NFILES] = {
	"mm.img", "pagemap.img", "pages.img", ".pagemap.img.tmp",
};
/* Rounds 1-4, then names img_set_open() must pass over or refuse as a gap. */
static const char *const dirs[NDIRS] = { "1", "2", "3", "4", "01", "0", "x", "4294967295" };

/* Made once per process: a set directory "set" inside it is made and removed each run. */
static char base[64];
static char set_dir[sizeof(base) + 8];

static void cleanup_base(void)
{
	rmdir(set_dir);
	rmdir(base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	/* tmpfs: the files are written and read at every run. */
	if (!tmp || strlen(tmp) > sizeof(base) - 24)
		tmp = "/dev/shm";
	snprintf(base, sizeof(base), "%s/fuzz_image.XXXXXX", tmp);
	if (!mkdtemp(base))
		abort();
	snprintf(set_dir, sizeof(set_dir), "%s/set", base);
	atexit(cleanup_base);
	return 0;
}

struct file {
	uint8_t *data;
	size_t len;
	bool there;
};

static uint16_t get16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

/* Header and entry CRCs, and the count, as the writer would have made them. */
static void fix_index(struct file *f, size_t entry_size, unsigned int fix)
{
	struct img_header h;
	size_t n;

	if (f->len < sizeof(h))
		return;
	memcpy(&h, f->data, sizeof(h));
	n = (f->len - sizeof(h)) / entry_size;
	if (fix & FIX_COUNT)
		h.count = n;
	if (fix & FIX_INDEX_CRC) {
		if (h.count <= n)
			h.entries_crc = crc32(0, f->data + sizeof(h), h.count * entry_size);
		h.header_crc = crc32(0, (const void *)&h, offsetof(struct img_header, header_crc));
	}
	memcpy(f->data, &h, sizeof(h));
}

static void fix_run_crcs(struct file *pagemap, const struct file *pages)
{
	const size_t size = sizeof(struct page_entry);
	uint32_t ps = getpagesize();

	for (size_t off = sizeof(struct img_header); off + size <= pagemap->len; off += size) {
		struct page_entry e;

		memcpy(&e, pagemap->data + off, sizeof(e));
		if ((e.flags & IMG_PE_LAZY) || e.nr_pages > pages->len / ps ||
		    e.offset > pages->len || e.nr_pages * ps > pages->len - e.offset)
			continue;
		e.crc = crc32(0, pages->data + e.offset, e.nr_pages * ps);
		memcpy(pagemap->data + off, &e, sizeof(e));
	}
}

static void write_file(const char *dir, const char *name, const struct file *f)
{
	char path[sizeof(set_dir) + 32];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, f->data, f->len) != (ssize_t)f->len)
		abort();
	close(fd);
}

/* A refusal names its file and says why. */
static void check_refusal(int ret, const struct err *e)
{
	if (ret >= 0 || !e->msg[0] || !e->file[0])
		abort();
}

/* Pages [a, b) each lie wholly inside a VMA of @img (VMAs sorted, data pages never wrap). */
static bool inside_vmas(const struct image *img, uint64_t a, uint64_t b)
{
	uint64_t ps = img->page_size;

	for (size_t v = 0; v < img->nvmas && a < b; v++)
		if (img->vmas[v].start <= a * ps && a * ps + ps <= img->vmas[v].end)
			a = b < img->vmas[v].end / ps ? b : img->vmas[v].end / ps;
	return a >= b;
}

/* What image.h promises of an image img_open() accepted. */
static void check_image(const struct image *img)
{
	size_t v = 0, j = 0;

	if (img->page_size != (uint32_t)getpagesize() || img->pages_fd < 0)
		abort();
	for (size_t i = 0; i < img->nvmas; i++)
		if (img->vmas[i].start >= img->vmas[i].end ||
		    (i && img->vmas[i].start < img->vmas[i - 1].end))
			abort();
	for (size_t i = 0; i < img->n; i++) {
		const struct page_entry *e = &img->e[i];
		uint64_t start = e->start_page * img->page_size;
		uint64_t end = start + e->nr_pages * img->page_size;

		if (!e->nr_pages || e->flags || end <= start ||
		    (i && e->start_page < img->e[i - 1].start_page + img->e[i - 1].nr_pages))
			abort();
		while (v < img->nvmas && img->vmas[v].end <= start)
			v++;
		if (v == img->nvmas || img->vmas[v].start > start || img->vmas[v].end < end)
			abort();
		/* No data page is lazy too: both sorted, one walk. */
		while (j < img->lazy.n && img->lazy.v[j].start + img->lazy.v[j].len <= e->start_page)
			j++;
		if (j < img->lazy.n && img->lazy.v[j].start < e->start_page + e->nr_pages)
			abort();
	}
	/* Merged where they touch, a lazy run may span VMAs that touch too. */
	for (size_t j = 0; j < img->lazy.n; j++) {
		const struct run *l = &img->lazy.v[j];

		if (!l->len || !inside_vmas(img, l->start, l->start + l->len))
			abort();
	}
}

static void read_image(const char *dir)
{
	struct image img;
	struct err e = { 0 };
	int ret = img_open(&img, dir, &e);

	if (ret) {
		check_refusal(ret, &e);
		return;
	}
	check_image(&img);
	for (size_t i = 0; i < img.n; i++) {
		size_t len = img.e[i].nr_pages * img.page_size;
		void *buf = malloc(len);

		if (!buf)
			abort();
		memset(&e, 0, sizeof(e));
		ret = img_read_entry(&img, i, buf, &e);
		if (ret)
			check_refusal(ret, &e);
		/* What a reader by other means (io_uring) could hand it: short, failed. */
		if (!ret && !img_check_entry(&img, i, buf, len - 1, &e))
			abort();
		if (!img_check_entry(&img, i, buf, -EIO, &e))
			abort();
		free(buf);
	}
	img_close(&img);
}

/* No page of [a, b) lies wholly inside a VMA of @img. */
static bool outside_vmas(const struct image *img, uint64_t a, uint64_t b)
{
	uint64_t ps = img->page_size;

	for (size_t v = 0; v < img->nvmas; v++) {
		const struct vma_rec *m = &img->vmas[v];
		uint64_t first = m->start / ps + (m->start % ps != 0), end = m->end / ps;

		if (first < end && first < b && a < end)
			return false;
	}
	return true;
}

static void runs_or_abort(int ret)
{
	if (ret)
		abort();
}

/*
 * What image_set.h promises of a set img_set_open() accepted: the fill
 * writes each page once, from the last round holding it, never a lazy
 * page, never one outside the last round's VMAs, and leaves no page
 * that is inside them behind.
 */
static void check_set(const struct image_set *set)
{
	const struct image *last;
	struct runs later = RUNS_INIT;
	uint64_t data = 0, fill = 0;

	if (!set->n || set->vmas != set->round[set->n - 1].img.vmas ||
	    set->lazy != &set->round[set->n - 1].img.lazy || set->round[set->n - 1].skip.n)
		abort();
	last = &set->round[set->n - 1].img;
	if (set->nvmas != last->nvmas || set->lazy_pages != runs_pages(&last->lazy))
		abort();
	for (size_t i = 0; i < last->lazy.n; i++)
		runs_or_abort(runs_add(&later, last->lazy.v[i].start, last->lazy.v[i].len));
	for (size_t r = set->n; r-- > 0;) {
		const struct img_round *rd = &set->round[r];
		struct runs held = RUNS_INIT, keep = RUNS_INIT, both = RUNS_INIT;
		struct runs left = RUNS_INIT, more = RUNS_INIT;

		check_image(&rd->img);
		if (r + 1 < set->n && rd->img.lazy.n)
			abort();
		for (size_t i = 0; i < rd->img.n; i++)
			runs_or_abort(runs_add(&held, rd->img.e[i].start_page,
					       rd->img.e[i].nr_pages));
		runs_or_abort(runs_subtract(&held, &rd->skip, &keep));
		runs_or_abort(runs_intersect(&rd->skip, &held, &both));
		/* The skip is data pages of the round, the rest it keeps. */
		if (runs_pages(&both) != runs_pages(&rd->skip))
			abort();
		if (rd->data_pages != runs_pages(&held) || rd->fill_pages != runs_pages(&keep) ||
		    rd->data_bytes != rd->data_pages * last->page_size)
			abort();
		runs_free(&both);
		/* Kept: inside the final VMAs, and no later round (nor the lazy set) has it. */
		for (size_t i = 0; i < keep.n; i++)
			if (!inside_vmas(last, keep.v[i].start, keep.v[i].start + keep.v[i].len))
				abort();
		runs_or_abort(runs_intersect(&keep, &later, &both));
		if (both.n)
			abort();
		/* Skipped: a later round has it, or it is outside the final VMAs. */
		runs_or_abort(runs_subtract(&rd->skip, &later, &left));
		for (size_t i = 0; i < left.n; i++)
			if (!outside_vmas(last, left.v[i].start, left.v[i].start + left.v[i].len))
				abort();
		for (size_t i = 0; i < held.n; i++)
			runs_or_abort(runs_add(&more, held.v[i].start, held.v[i].len));
		for (size_t i = 0; i < later.n; i++)
			runs_or_abort(runs_add(&more, later.v[i].start, later.v[i].len));
		runs_free(&later);
		later = more;
		data += rd->data_pages;
		fill += rd->fill_pages;
		runs_free(&held);
		runs_free(&keep);
		runs_free(&both);
		runs_free(&left);
	}
	runs_free(&later);
	if (set->data_pages != data || set->fill_pages != fill ||
	    set->data_bytes != data * last->page_size)
		abort();
}

/* Whatever img_set_remove() refused to delete (it refuses names it does not know). */
static void remove_all(void)
{
	char path[sizeof(set_dir) + 32];

	for (size_t d = 0; d < NDIRS; d++) {
		for (size_t f = 0; f < NFILES; f++) {
			snprintf(path, sizeof(path), "%s/%s/%s", set_dir, dirs[d], files[f]);
			unlink(path);
		}
		snprintf(path, sizeof(path), "%s/%s", set_dir, dirs[d]);
		rmdir(path);
	}
	if (rmdir(set_dir) && errno != ENOENT)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct file f[NDIRS][NFILES] = { 0 };
	char path[sizeof(set_dir) + 16];
	struct image_set set;
	struct err e = { 0 };
	unsigned int fix;
	int ret;

	if (size < 1 || size > (1 << 20))
		return 0;
	fix = data[0] & (FIX_INDEX_CRC | FIX_COUNT | FIX_RUN_CRC);
	for (size_t off = 1; off + 3 <= size;) {
		uint8_t id = data[off];
		size_t len = get16(data + off + 1);

		off += 3;
		if (len > size - off)
			len = size - off;
		f[id >> 2 & 7][id & 3] = (struct file){ (uint8_t *)data + off, len, true };
		off += len;
	}
	if (mkdir(set_dir, 0700))
		abort();
	for (size_t d = 0; d < NDIRS; d++) {
		struct file *mm = &f[d][0], *pagemap = &f[d][1], *pages = &f[d][2];
		uint8_t *copy[2] = { NULL, NULL };
		bool any = false;

		for (size_t i = 0; i < NFILES; i++)
			any |= f[d][i].there;
		if (!any)
			continue;
		snprintf(path, sizeof(path), "%s/%s", set_dir, dirs[d]);
		if (mkdir(path, 0700))
			abort();
		/* The input is const: the indexes are repaired in copies. */
		for (size_t i = 0; i < 2; i++) {
			struct file *x = &f[d][i];

			if (!x->there || !fix)
				continue;
			copy[i] = malloc(x->len + 1);
			if (!copy[i])
				abort();
			memcpy(copy[i], x->data, x->len);
			x->data = copy[i];
		}
		if ((fix & FIX_RUN_CRC) && pagemap->there && pages->there)
			fix_run_crcs(pagemap, pages);
		if (fix && mm->there)
			fix_index(mm, sizeof(struct vma_rec), fix);
		if (fix && pagemap->there)
			fix_index(pagemap, sizeof(struct page_entry), fix);
		for (size_t i = 0; i < NFILES; i++)
			if (f[d][i].there)
				write_file(path, files[i], &f[d][i]);
		free(copy[0]);
		free(copy[1]);
		read_image(path);
	}
	memset(&e, 0, sizeof(e));
	ret = img_set_open(&set, set_dir, &e);
	if (ret) {
		check_refusal(ret, &e);
	} else {
		check_set(&set);
		img_set_close(&set);
	}
	/* Refuses, deleting nothing, when a name is not a round's: then by hand. */
	memset(&e, 0, sizeof(e));
	if (img_set_remove(set_dir, &e))
		check_refusal(-1, &e);
	remove_all();
	return 0;
}
