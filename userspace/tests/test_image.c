// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/image.h"
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
	struct img_error err;

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

/* img_open fails, naming @file. */
static int refused(struct fixture *f, const char *file, struct img_error *err)
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
	struct img_error err;
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
	struct img_error err;

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
	struct img_error err;
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
	struct img_error err;

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
	struct img_error err;

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
	struct img_error err;

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
	struct img_error err;
	char path[128];

	make_image(t, &f);
	snprintf(path, sizeof(path), "%s/pages.img", f.dir);
	unlink(path);
	CHECK(t, refused(&f, "pages.img", &err) && strstr(err.msg, "cannot open"));
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
	return tap_done(&t);
}
