// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "image.h"
#include "tap.h"

#define PS 4096

struct fixture {
	char dir[64];
	struct vma_rec vmas[2];
	char *data;	/* 6 pages: runs of 1, 2 and 3 pages */
};

static void make_image(struct tap *t, struct fixture *f)
{
	struct img_writer w;
	struct err err;

	strcpy(f->dir, "/tmp/lazyrestore-test-image.XXXXXX");
	CHECK(t, mkdtemp(f->dir) != NULL);
	f->vmas[0] = (struct vma_rec){ .start = 0x100000, .end = 0x110000, .prot = 3,
				      .thp = THP_ADVICE_HUGEPAGE, .mpol = 2, .nodes = 2 };
	f->vmas[1] = (struct vma_rec){ .start = 0x200000, .end = 0x210000, .prot = 3,
				      .thp = THP_ADVICE_NONE };
	f->data = malloc(6 * PS);
	for (int i = 0; i < 6 * PS; i++)
		f->data[i] = (char)(i * 7 + i / PS);
	CHECK(t, img_writer_open(&w, f->dir, PS, &err) == 0);
	CHECK(t, img_writer_add(&w, 0x100, 1, f->data, &err) == 0);
	CHECK(t, img_writer_add(&w, 0x102, 2, f->data + PS, &err) == 0);
	CHECK(t, img_writer_add(&w, 0x200, 3, f->data + 3 * PS, &err) == 0);
	CHECK(t, img_writer_finish(&w, f->vmas, 2, &err) == 0);
}

static void drop_image(struct fixture *f)
{
	char path[128];

	for (const char *n = "mm.img\0pagemap.img\0pages.img\0"; *n; n += strlen(n) + 1) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, n);
		unlink(path);
	}
	rmdir(f->dir);
	free(f->data);
}

static void poke(struct fixture *f, const char *file, off_t off)
{
	char path[128], c;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, file);
	fd = open(path, O_RDWR);
	if (pread(fd, &c, 1, off) == 1) {
		c ^= 0x5a;
		if (pwrite(fd, &c, 1, off) != 1)
			abort();
	}
	close(fd);
}

static void shorten(struct fixture *f, const char *file, off_t by)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, file);
	fd = open(path, O_RDWR);
	if (ftruncate(fd, lseek(fd, 0, SEEK_END) - by))
		abort();
	close(fd);
}

/* Entry @i of pagemap.img changed by @edit, its CRCs made right again: only the checks see it. */
static void edit_index(struct fixture *f, size_t i, void (*edit)(struct page_entry *e,
								  struct img_header *h))
{
	char path[128], buf[4096];
	struct img_header *h = (struct img_header *)buf;
	struct page_entry *e = (struct page_entry *)(buf + sizeof(*h));
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/pagemap.img", f->dir);
	fd = open(path, O_RDWR);
	len = pread(fd, buf, sizeof(buf), 0);
	if (len < (ssize_t)(sizeof(*h) + (i + 1) * sizeof(*e)))
		abort();
	edit(&e[i], h);
	h->entries_crc = crc32(0, (const void *)e, h->count * sizeof(*e));
	h->header_crc = crc32(0, (const void *)h, offsetof(struct img_header, header_crc));
	if (pwrite(fd, buf, len, 0) != len)
		abort();
	close(fd);
}

/* img_open fails, naming @file. */
static int refused(struct fixture *f, const char *file, struct err *err)
{
	struct image img;

	if (!img_open(&img, f->dir, err)) {
		img_close(&img);
		return 0;
	}
	return !strcmp(err->file, file) && err->msg[0];
}

static void round_trip(struct tap *t)
{
	struct fixture f;
	struct image img;
	struct err err;
	char buf[3 * PS];

	make_image(t, &f);
	CHECK(t, img_open(&img, f.dir, &err) == 0);
	CHECK(t, img.n == 3 && img.nvmas == 2 && img.page_size == PS);
	CHECK(t, img.vmas[0].thp == THP_ADVICE_HUGEPAGE && img.vmas[1].end == 0x210000);
	CHECK(t, img.vmas[0].mpol == 2 && img.vmas[0].nodes == 2 && img.vmas[1].mpol == 0);
	CHECK(t, img_read_entry(&img, 1, buf, &err) == 0 && !memcmp(buf, f.data + PS, 2 * PS));
	CHECK(t, img_read_entry(&img, 2, buf, &err) == 0 && !memcmp(buf, f.data + 3 * PS, 3 * PS));
	img_close(&img);
	drop_image(&f);
}

static void truncated_pages_refused(struct tap *t)
{
	struct fixture f;
	struct err err;

	make_image(t, &f);
	shorten(&f, "pages.img", 100);
	CHECK(t, refused(&f, "pages.img", &err));
	CHECK(t, err.offset == 3 * PS);		/* where the cut run starts */
	CHECK(t, strstr(err.msg, "truncated") != NULL);
	drop_image(&f);
}

static void corrupt_page_data_refused_on_read(struct tap *t)
{
	struct fixture f;
	struct image img;
	struct err err;
	char buf[3 * PS];

	make_image(t, &f);
	poke(&f, "pages.img", PS + 17);
	CHECK(t, img_open(&img, f.dir, &err) == 0);
	CHECK(t, img_read_entry(&img, 0, buf, &err) == 0);
	CHECK(t, img_read_entry(&img, 1, buf, &err) != 0);
	CHECK(t, !strcmp(err.file, "pages.img") && err.offset == PS && strstr(err.msg, "corrupt"));
	img_close(&img);
	drop_image(&f);
}

static void corrupt_index_refused(struct tap *t)
{
	struct fixture f;
	struct err err;

	make_image(t, &f);
	poke(&f, "pagemap.img", 40);			/* inside the first entry */
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "checksum"));
	drop_image(&f);
	make_image(t, &f);
	poke(&f, "mm.img", 12);				/* the header's page size */
	CHECK(t, refused(&f, "mm.img", &err) && strstr(err.msg, "header checksum"));
	drop_image(&f);
	make_image(t, &f);
	poke(&f, "mm.img", 0);
	CHECK(t, refused(&f, "mm.img", &err) && strstr(err.msg, "magic"));
	drop_image(&f);
}

static void truncated_index_refused(struct tap *t)
{
	struct fixture f;
	struct err err;

	make_image(t, &f);
	shorten(&f, "pagemap.img", 8);
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "does not hold"));
	drop_image(&f);
	make_image(t, &f);
	shorten(&f, "mm.img", 2 * sizeof(struct vma_rec) + 10);	/* into the header */
	CHECK(t, refused(&f, "mm.img", &err) && strstr(err.msg, "truncated header"));
	drop_image(&f);
}

static void run_outside_vma_refused(struct tap *t)
{
	struct fixture f;
	struct img_writer w;
	struct err err;

	make_image(t, &f);
	CHECK(t, img_writer_open(&w, f.dir, PS, &err) == 0);
	CHECK(t, img_writer_add(&w, 0x10f, 2, f.data, &err) == 0);	/* crosses 0x110000 */
	CHECK(t, img_writer_finish(&w, f.vmas, 2, &err) == 0);
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "not inside one VMA"));
	drop_image(&f);
}

static void missing_file_named(struct tap *t)
{
	struct fixture f;
	struct err err;
	char path[128];

	make_image(t, &f);
	snprintf(path, sizeof(path), "%s/pages.img", f.dir);
	unlink(path);
	CHECK(t, refused(&f, "pages.img", &err) && strstr(err.msg, "cannot open"));
	drop_image(&f);
}

/* Found by fuzz_image: only VMAs after the first were checked for being empty. */
static void empty_first_vma_refused(struct tap *t)
{
	const struct vma_rec bad[][2] = {
		{ { .start = 0x100000, .end = 0x100000 }, { .start = 0x200000, .end = 0x210000 } },
		{ { .start = 0x300000, .end = 0x3 } },
	};
	struct fixture f;
	struct img_writer w;
	struct err err;

	make_image(t, &f);
	for (size_t i = 0; i < 2; i++) {
		CHECK(t, img_writer_open(&w, f.dir, PS, &err) == 0);
		CHECK(t, img_writer_finish(&w, bad[i], 2 - i, &err) == 0);
		CHECK(t, refused(&f, "mm.img", &err) &&
			 strstr(err.msg, "VMAs out of order, overlapping or empty"));
		CHECK(t, err.offset == sizeof(struct img_header));
	}
	drop_image(&f);
}

/* Data and lazy entries added out of order, with lazy runs touching: a sorted index comes back. */
static void make_lazy_image(struct tap *t, struct fixture *f)
{
	struct img_writer w;
	struct err err;

	make_image(t, f);
	CHECK(t, img_writer_open(&w, f->dir, PS, &err) == 0);
	CHECK(t, img_writer_add_lazy(&w, 0x20a, 2, &err) == 0);
	CHECK(t, img_writer_add(&w, 0x200, 3, f->data + 3 * PS, &err) == 0);
	CHECK(t, img_writer_add_lazy(&w, 0x101, 1, &err) == 0);
	CHECK(t, img_writer_add(&w, 0x100, 1, f->data, &err) == 0);
	CHECK(t, img_writer_add_lazy(&w, 0x20c, 1, &err) == 0);
	CHECK(t, img_writer_add(&w, 0x102, 2, f->data + PS, &err) == 0);
	CHECK(t, img_writer_finish(&w, f->vmas, 2, &err) == 0);
}

static void lazy_round_trip(struct tap *t)
{
	struct fixture f;
	struct image img;
	struct err err;
	char buf[3 * PS];

	make_lazy_image(t, &f);
	CHECK(t, img_open(&img, f.dir, &err) == 0);
	/* img->e is the data only, sorted: old consumers read pages.img as before. */
	CHECK(t, img.n == 3);
	CHECK(t, img.e[0].start_page == 0x100 && img.e[1].start_page == 0x102 &&
		 img.e[2].start_page == 0x200);
	CHECK(t, img.e[0].flags == 0 && img.e[1].flags == 0 && img.e[2].flags == 0);
	CHECK(t, img_read_entry(&img, 0, buf, &err) == 0 && !memcmp(buf, f.data, PS));
	CHECK(t, img_read_entry(&img, 1, buf, &err) == 0 && !memcmp(buf, f.data + PS, 2 * PS));
	CHECK(t, img_read_entry(&img, 2, buf, &err) == 0 && !memcmp(buf, f.data + 3 * PS, 3 * PS));
	/* 0x20a-0x20b and 0x20c touch: one run of the set. */
	CHECK(t, img.lazy.n == 2 && runs_pages(&img.lazy) == 4);
	CHECK(t, img.lazy.v[0].start == 0x101 && img.lazy.v[0].len == 1);
	CHECK(t, img.lazy.v[1].start == 0x20a && img.lazy.v[1].len == 3);
	img_close(&img);
	drop_image(&f);
}

static void lazy_only_image(struct tap *t)
{
	struct fixture f;
	struct img_writer w;
	struct image img;
	struct err err;

	make_image(t, &f);
	CHECK(t, img_writer_open(&w, f.dir, PS, &err) == 0);
	CHECK(t, img_writer_add_lazy(&w, 0x100, 16, &err) == 0);
	CHECK(t, img_writer_finish(&w, f.vmas, 2, &err) == 0);
	CHECK(t, img_open(&img, f.dir, &err) == 0);
	CHECK(t, img.n == 0 && img.lazy.n == 1 && runs_pages(&img.lazy) == 16);
	img_close(&img);
	drop_image(&f);
}

static void lazy_overlap_refused(struct tap *t)
{
	struct fixture f;
	struct img_writer w;
	struct err err;

	make_image(t, &f);
	CHECK(t, img_writer_open(&w, f.dir, PS, &err) == 0);
	CHECK(t, img_writer_add(&w, 0x100, 3, f.data, &err) == 0);
	CHECK(t, img_writer_add_lazy(&w, 0x102, 2, &err) == 0);
	CHECK(t, img_writer_finish(&w, f.vmas, 2, &err) == 0);
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "lazy run overlaps data run"));
	CHECK(t, err.offset == sizeof(struct img_header) + sizeof(struct page_entry));
	drop_image(&f);
	/* Both at one page: the data one sorts first, the lazy one is refused after it. */
	make_image(t, &f);
	CHECK(t, img_writer_open(&w, f.dir, PS, &err) == 0);
	CHECK(t, img_writer_add(&w, 0x200, 1, f.data, &err) == 0);
	CHECK(t, img_writer_add_lazy(&w, 0x200, 1, &err) == 0);
	CHECK(t, img_writer_finish(&w, f.vmas, 2, &err) == 0);
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "lazy run overlaps data run"));
	drop_image(&f);
	make_image(t, &f);
	CHECK(t, img_writer_open(&w, f.dir, PS, &err) == 0);
	CHECK(t, img_writer_add_lazy(&w, 0x200, 4, &err) == 0);
	CHECK(t, img_writer_add_lazy(&w, 0x203, 1, &err) == 0);
	CHECK(t, img_writer_finish(&w, f.vmas, 2, &err) == 0);
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "lazy run overlaps lazy run"));
	drop_image(&f);
}

static void lazy_outside_vma_refused(struct tap *t)
{
	struct fixture f;
	struct img_writer w;
	struct err err;

	make_image(t, &f);
	CHECK(t, img_writer_open(&w, f.dir, PS, &err) == 0);
	CHECK(t, img_writer_add_lazy(&w, 0x20f, 2, &err) == 0);	/* crosses 0x210000 */
	CHECK(t, img_writer_finish(&w, f.vmas, 2, &err) == 0);
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "not inside one VMA"));
	drop_image(&f);
}

static void set_flag_2(struct page_entry *e, struct img_header *h)
{
	(void)h;
	e->flags |= 2;
}

static void set_offset(struct page_entry *e, struct img_header *h)
{
	(void)h;
	e->offset = PS;
}

static void set_version_2(struct page_entry *e, struct img_header *h)
{
	(void)e;
	h->version = 2;
}

static void zero_pages(struct page_entry *e, struct img_header *h)
{
	(void)h;
	e->nr_pages = 0;
}

static void unknown_flags_refused(struct tap *t)
{
	struct fixture f;
	struct err err;

	make_lazy_image(t, &f);
	edit_index(&f, 3, set_flag_2);		/* index: 0x100 0x101L 0x102 0x200 ... */
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "unknown flags 0x2"));
	CHECK(t, err.offset == sizeof(struct img_header) + 3 * sizeof(struct page_entry));
	drop_image(&f);
	make_lazy_image(t, &f);
	edit_index(&f, 1, set_flag_2);		/* a lazy one */
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "unknown flags"));
	drop_image(&f);
}

static void bad_lazy_entry_refused(struct tap *t)
{
	struct fixture f;
	struct err err;

	make_lazy_image(t, &f);
	edit_index(&f, 1, set_offset);
	CHECK(t, refused(&f, "pagemap.img", &err) &&
		 strstr(err.msg, "lazy run 1 has a data offset"));
	drop_image(&f);
	make_lazy_image(t, &f);
	edit_index(&f, 1, zero_pages);
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "empty"));
	drop_image(&f);
}

static void corrupt_lazy_entry_refused(struct tap *t)
{
	struct fixture f;
	struct err err;

	/* Entry 1 is the lazy 0x101: flip a byte of its page count, then of its flags. */
	make_lazy_image(t, &f);
	poke(&f, "pagemap.img", sizeof(struct img_header) + sizeof(struct page_entry) + 8);
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "entries checksum mismatch"));
	drop_image(&f);
	make_lazy_image(t, &f);
	poke(&f, "pagemap.img", sizeof(struct img_header) + 2 * sizeof(struct page_entry) - 4);
	CHECK(t, refused(&f, "pagemap.img", &err) && strstr(err.msg, "entries checksum mismatch"));
	drop_image(&f);
}

static void version_2_refused(struct tap *t)
{
	struct fixture f;
	struct err err;

	make_image(t, &f);
	edit_index(&f, 0, set_version_2);
	CHECK(t, refused(&f, "pagemap.img", &err) &&
		 strstr(err.msg, "version 2, this program reads 3"));
	CHECK(t, err.offset == offsetof(struct img_header, version));
	drop_image(&f);
}

int main(void)
{
	struct tap t = { 0 };

	RUN(&t, round_trip);
	RUN(&t, truncated_pages_refused);
	RUN(&t, corrupt_page_data_refused_on_read);
	RUN(&t, corrupt_index_refused);
	RUN(&t, truncated_index_refused);
	RUN(&t, run_outside_vma_refused);
	RUN(&t, missing_file_named);
	RUN(&t, empty_first_vma_refused);
	RUN(&t, lazy_round_trip);
	RUN(&t, lazy_only_image);
	RUN(&t, lazy_overlap_refused);
	RUN(&t, lazy_outside_vma_refused);
	RUN(&t, unknown_flags_refused);
	RUN(&t, bad_lazy_entry_refused);
	RUN(&t, corrupt_lazy_entry_refused);
	RUN(&t, version_2_refused);
	return tap_done(&t);
}
