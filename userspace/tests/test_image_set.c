// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_set.h"
#include "tap.h"

#define PS 4096
#define NPAGES 32	/* pages 0x100-0x10f and 0x200-0x20f */

static const struct vma_rec vmas[2] = {
	{ .start = 0x100000, .end = 0x110000, .prot = 3 },
	{ .start = 0x200000, .end = 0x210000, .prot = 3 },
};

struct round_spec {
	struct run data[4];
	struct run lazy[4];
	size_t nvmas;		/* of vmas[]: 0 means both */
};

/*
 * Rounds 1-3 carry data, each overlapping the earlier ones; round 4 is
 * what the freeze left: lazy entries only.
 */
static const struct round_spec chain[] = {
	{ .data = { { 0x100, 16 }, { 0x200, 8 }, { 0x208, 8 } } },
	{ .data = { { 0x102, 4 }, { 0x200, 2 }, { 0x20a, 1 } } },
	{ .data = { { 0x104, 4 }, { 0x201, 1 }, { 0x20f, 1 } } },
	{ .lazy = { { 0x100, 1 }, { 0x105, 2 }, { 0x20a, 1 } } },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NCHAIN ARRAY_SIZE(chain)

struct fixture {
	char base[64];
	char set[80];
};

/* Each (round, page) has its own contents: a page filled from the wrong round shows. */
static void pattern(unsigned int round, uint64_t page, char *p)
{
	uint32_t *w = (uint32_t *)p;

	for (size_t i = 0; i < PS / sizeof(*w); i++)
		w[i] = (round << 24) ^ (uint32_t)(page << 10) ^ (uint32_t)i;
}

static int slot_of(uint64_t page)
{
	if (page >= 0x100 && page < 0x110)
		return page - 0x100;
	if (page >= 0x200 && page < 0x210)
		return 16 + page - 0x200;
	return -1;
}

static uint64_t page_of(int slot)
{
	return slot < 16 ? 0x100 + slot : 0x200 + slot - 16;
}

static bool spec_has(const struct run *v, uint64_t page)
{
	for (size_t i = 0; i < 4 && v[i].len; i++)
		if (page >= v[i].start && page < v[i].start + v[i].len)
			return true;
	return false;
}

static int write_round(const char *set, unsigned int round, const struct round_spec *s)
{
	struct img_writer w;
	struct err err;
	char *buf = malloc(16 * PS);
	int ret = img_set_round_open(&w, set, round, PS, &err);

	for (size_t i = 0; !ret && i < 4 && s->data[i].len; i++) {
		for (uint64_t p = 0; p < s->data[i].len; p++)
			pattern(round, s->data[i].start + p, buf + p * PS);
		ret = img_writer_add(&w, s->data[i].start, s->data[i].len, buf, &err);
	}
	for (size_t i = 0; !ret && i < 4 && s->lazy[i].len; i++)
		ret = img_writer_add_lazy(&w, s->lazy[i].start, s->lazy[i].len, &err);
	if (!ret)
		ret = img_writer_finish(&w, vmas, s->nvmas ? s->nvmas : 2, &err);
	else
		img_writer_abort(&w);
	if (ret)
		printf("# writing round %u: %s: %s\n", round, err.file, err.msg);
	free(buf);
	return ret;
}

static void setup(struct tap *t, struct fixture *f)
{
	strcpy(f->base, "/tmp/lazyrestore-test-set.XXXXXX");
	CHECK(t, mkdtemp(f->base) != NULL);
	snprintf(f->set, sizeof(f->set), "%s/set", f->base);
}

static void make_chain(struct tap *t, struct fixture *f, size_t n)
{
	setup(t, f);
	for (size_t r = 0; r < n; r++)
		CHECK(t, write_round(f->set, r + 1, &chain[r]) == 0);
}

static void teardown(struct tap *t, struct fixture *f)
{
	struct err err;

	CHECK(t, img_set_remove(f->set, &err) == 0);
	CHECK(t, rmdir(f->base) == 0);
}

static void set_path(const struct fixture *f, const char *rel, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", f->set, rel);
}

static void poke(const struct fixture *f, const char *rel, off_t off)
{
	char path[160], c;
	int fd;

	set_path(f, rel, path, sizeof(path));
	fd = open(path, O_RDWR);
	if (pread(fd, &c, 1, off) != 1)
		abort();
	c ^= 0x5a;
	if (pwrite(fd, &c, 1, off) != 1)
		abort();
	close(fd);
}

static void shorten(const struct fixture *f, const char *rel, off_t by)
{
	char path[160];
	int fd;

	set_path(f, rel, path, sizeof(path));
	fd = open(path, O_RDWR);
	if (ftruncate(fd, lseek(fd, 0, SEEK_END) - by))
		abort();
	close(fd);
}

static bool runs_are(const struct runs *r, const struct run *want, size_t n)
{
	if (r->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (r->v[i].start != want[i].start || r->v[i].len != want[i].len)
			return false;
	return true;
}

/*
 * What dest.c does, into a buffer: rounds in order, each run read and
 * checked, its pages not in the round's skip copied. @writes counts how
 * often each page was written.
 */
static int fill(const struct image_set *set, char *mem, int *writes, struct err *err)
{
	char *bounce = malloc(16 * PS);
	int ret = 0;

	for (size_t r = 0; !ret && r < set->n; r++) {
		const struct img_round *rd = &set->round[r];

		for (size_t i = 0; !ret && i < rd->img.n; i++) {
			const struct page_entry *e = &rd->img.e[i];

			ret = img_read_entry(&rd->img, i, bounce, err);
			for (uint64_t p = 0; !ret && p < e->nr_pages; p++) {
				uint64_t page = e->start_page + p;
				int s = slot_of(page);

				if (runs_contains(&rd->skip, page))
					continue;
				if (s < 0)
					abort();	/* outside every VMA: the skip is wrong */
				memcpy(mem + s * PS, bounce + p * PS, PS);
				writes[s]++;
			}
		}
	}
	free(bounce);
	return ret;
}

static void skip_sets_exact(struct tap *t)
{
	static const struct run skip1[] = { { 0x100, 1 }, { 0x102, 6 }, { 0x200, 2 }, { 0x20a, 1 },
					    { 0x20f, 1 } };
	static const struct run skip2[] = { { 0x104, 2 }, { 0x201, 1 }, { 0x20a, 1 } };
	static const struct run skip3[] = { { 0x105, 2 } };
	static const struct run lazy[] = { { 0x100, 1 }, { 0x105, 2 }, { 0x20a, 1 } };
	struct fixture f;
	struct image_set set;
	struct err err;

	make_chain(t, &f, NCHAIN);
	CHECK(t, img_set_open(&set, f.set, &err) == 0);
	CHECK(t, set.n == 4 && set.nvmas == 2 && set.vmas[1].end == 0x210000);
	CHECK(t, runs_are(&set.round[0].skip, skip1, 5));
	CHECK(t, runs_are(&set.round[1].skip, skip2, 3));
	CHECK(t, runs_are(&set.round[2].skip, skip3, 1));
	CHECK(t, set.round[3].skip.n == 0);
	CHECK(t, runs_are(set.lazy, lazy, 3));
	CHECK(t, set.round[0].data_pages == 32 && set.round[1].data_pages == 7 &&
		 set.round[2].data_pages == 6 && set.round[3].data_pages == 0);
	CHECK(t, set.round[1].data_bytes == 7 * PS && set.round[3].data_bytes == 0);
	CHECK(t, set.round[0].fill_pages == 21 && set.round[1].fill_pages == 3 &&
		 set.round[2].fill_pages == 4 && set.round[3].fill_pages == 0);
	CHECK(t, set.data_pages == 45 && set.data_bytes == 45 * PS);
	CHECK(t, set.lazy_pages == 4 && set.fill_pages == NPAGES - 4);
	img_set_close(&set);
	teardown(t, &f);
}

static void fill_gives_newest(struct tap *t)
{
	struct fixture f;
	struct image_set set;
	struct err err;
	char *mem = malloc(NPAGES * PS), *want = malloc(PS), untouched[PS];
	int writes[NPAGES] = { 0 };

	memset(mem, 0xee, NPAGES * PS);
	memset(untouched, 0xee, PS);
	make_chain(t, &f, NCHAIN);
	CHECK(t, img_set_open(&set, f.set, &err) == 0);
	CHECK(t, fill(&set, mem, writes, &err) == 0);
	/* The newest round holding each page, worked out from the spec, not the library. */
	for (int s = 0; s < NPAGES; s++) {
		uint64_t page = page_of(s);
		unsigned int newest = 0;

		for (unsigned int r = 0; r < NCHAIN; r++)
			if (spec_has(chain[r].data, page))
				newest = r + 1;
		if (spec_has(chain[NCHAIN - 1].lazy, page)) {
			CHECK(t, writes[s] == 0 && !memcmp(mem + s * PS, untouched, PS));
			continue;
		}
		pattern(newest, page, want);
		CHECK(t, writes[s] == 1 && !memcmp(mem + s * PS, want, PS));
	}
	img_set_close(&set);
	teardown(t, &f);
	free(mem);
	free(want);
}

/* A VMA gone by the last round: the older data there is left, not written to nowhere. */
static void vma_gone_skipped(struct tap *t)
{
	static const struct round_spec r2 = { .data = { { 0x101, 1 } }, .nvmas = 1 };
	static const struct run skip1[] = { { 0x101, 1 }, { 0x200, 16 } };
	struct fixture f;
	struct image_set set;
	struct err err;

	make_chain(t, &f, 1);
	CHECK(t, write_round(f.set, 2, &r2) == 0);
	CHECK(t, img_set_open(&set, f.set, &err) == 0);
	CHECK(t, set.nvmas == 1 && set.lazy->n == 0);
	CHECK(t, runs_are(&set.round[0].skip, skip1, 2));
	CHECK(t, set.fill_pages == 16);
	img_set_close(&set);
	teardown(t, &f);
}

/*
 * Found with fuzz_image: a last VMA within a page of the top of the address
 * space made the rounding up of its first page wrap to 0, so every earlier
 * page counted as inside it and the fill would write pages nothing maps.
 */
static void vma_at_top_skips(struct tap *t)
{
	static const struct vma_rec top = {
		.start = 0xffffffffffffff00, .end = 0xffffffffffffffff
	};
	static const struct run skip1[] = { { 0x100, 16 }, { 0x200, 16 } };
	struct fixture f;
	struct img_writer w;
	struct image_set set;
	struct err err;

	make_chain(t, &f, 1);
	CHECK(t, img_set_round_open(&w, f.set, 2, PS, &err) == 0);
	CHECK(t, img_writer_finish(&w, &top, 1, &err) == 0);
	CHECK(t, img_set_open(&set, f.set, &err) == 0);
	CHECK(t, runs_are(&set.round[0].skip, skip1, 2));
	CHECK(t, set.fill_pages == 0 && set.data_pages == 32);
	img_set_close(&set);
	teardown(t, &f);
}

/* img_set_open fails naming @file. */
static bool refused(const struct fixture *f, const char *file, struct err *err)
{
	struct image_set set;

	if (!img_set_open(&set, f->set, err)) {
		img_set_close(&set);
		return false;
	}
	return !strcmp(err->file, file) && err->msg[0];
}

static void gap_refused(struct tap *t)
{
	struct fixture f;
	struct err err;
	char from[160], to[160];

	make_chain(t, &f, 2);
	set_path(&f, "2", from, sizeof(from));
	set_path(&f, "3", to, sizeof(to));
	CHECK(t, rename(from, to) == 0);
	CHECK(t, refused(&f, "2", &err) && strstr(err.msg, "missing"));
	teardown(t, &f);
}

static void empty_set_refused(struct tap *t)
{
	struct fixture f;
	struct err err;

	setup(t, &f);
	CHECK(t, mkdir(f.set, 0700) == 0);
	CHECK(t, refused(&f, ".", &err) && strstr(err.msg, "no rounds"));
	teardown(t, &f);
}

static void corrupt_round_refused(struct tap *t)
{
	struct fixture f;
	struct image_set set;
	struct err err;
	char *mem = malloc(NPAGES * PS);
	int writes[NPAGES] = { 0 };

	/* Round 2's pages.img: 0x102-0x105 at 0, 0x200-0x201 at 4 pages, 0x20a at 6. */
	make_chain(t, &f, NCHAIN);
	poke(&f, "2/pages.img", 5 * PS + 100);
	CHECK(t, img_set_open(&set, f.set, &err) == 0);	/* the data is checked as it is read */
	CHECK(t, fill(&set, mem, writes, &err) != 0);
	CHECK(t, !strcmp(err.file, "2/pages.img") && err.offset == 4 * PS);
	CHECK(t, strstr(err.msg, "corrupt") != NULL);
	img_set_close(&set);
	teardown(t, &f);
	free(mem);

	make_chain(t, &f, NCHAIN);
	poke(&f, "2/pagemap.img", sizeof(struct img_header) + 3);
	CHECK(t, refused(&f, "2/pagemap.img", &err) && strstr(err.msg, "checksum"));
	teardown(t, &f);

	make_chain(t, &f, NCHAIN);
	poke(&f, "3/mm.img", 0);
	CHECK(t, refused(&f, "3/mm.img", &err) && strstr(err.msg, "magic"));
	teardown(t, &f);
}

static void truncated_round_refused(struct tap *t)
{
	struct fixture f;
	struct err err;
	char path[160];

	make_chain(t, &f, NCHAIN);
	shorten(&f, "2/pages.img", 10);
	CHECK(t, refused(&f, "2/pages.img", &err) && strstr(err.msg, "truncated"));
	CHECK(t, err.offset == 6 * PS);		/* the run cut short */
	teardown(t, &f);

	make_chain(t, &f, NCHAIN);
	set_path(&f, "4/mm.img", path, sizeof(path));
	CHECK(t, unlink(path) == 0);			/* as if the last round never finished */
	CHECK(t, refused(&f, "4/mm.img", &err) && strstr(err.msg, "cannot open"));
	teardown(t, &f);
}

static void lazy_before_last_refused(struct tap *t)
{
	static const struct round_spec r1 = { .data = { { 0x100, 2 }, { 0x104, 2 } },
					      .lazy = { { 0x102, 2 } } };
	static const struct round_spec r2 = { .data = { { 0x101, 1 } } };
	struct fixture f;
	struct err err;

	setup(t, &f);
	CHECK(t, write_round(f.set, 1, &r1) == 0);
	CHECK(t, write_round(f.set, 2, &r2) == 0);
	CHECK(t, refused(&f, "1/pagemap.img", &err) && strstr(err.msg, "only the last round"));
	/* Index of round 1: 0x100 data, 0x102 lazy, 0x104 data. */
	CHECK(t, err.offset == sizeof(struct img_header) + sizeof(struct page_entry));
	teardown(t, &f);
}

static void writer_keeps_order(struct tap *t)
{
	struct fixture f;
	struct img_writer w;
	struct err err;

	setup(t, &f);
	CHECK(t, img_set_round_open(&w, f.set, 2, PS, &err) != 0 && !strcmp(err.file, "."));
	CHECK(t, mkdir(f.set, 0700) == 0);
	CHECK(t, img_set_round_open(&w, f.set, 2, PS, &err) != 0 && !strcmp(err.file, "1/mm.img"));
	CHECK(t, img_set_round_open(&w, f.set, 0, PS, &err) != 0);
	CHECK(t, write_round(f.set, 1, &chain[0]) == 0);
	CHECK(t, img_set_round_open(&w, f.set, 1, PS, &err) != 0 && !strcmp(err.file, "."));
	CHECK(t, img_set_round_open(&w, f.set, 3, PS, &err) != 0 && !strcmp(err.file, "2/mm.img"));
	/* An unfinished round is not one to build on, and img_set_remove() cleans it up. */
	CHECK(t, img_set_round_open(&w, f.set, 2, PS, &err) == 0);
	img_writer_abort(&w);
	CHECK(t, img_set_round_open(&w, f.set, 3, PS, &err) != 0 && !strcmp(err.file, "2/mm.img"));
	CHECK(t, img_set_round_open(&w, f.set, 2, PS, &err) != 0 && !strcmp(err.file, "2"));
	CHECK(t, refused(&f, "2/mm.img", &err));
	teardown(t, &f);
}

static void remove_leaves_nothing(struct tap *t)
{
	struct fixture f;
	struct err err;
	struct stat st;

	make_chain(t, &f, NCHAIN);
	CHECK(t, img_set_remove(f.set, &err) == 0);
	CHECK(t, stat(f.set, &st) != 0);
	CHECK(t, img_set_remove(f.set, &err) == 0);	/* gone already */
	CHECK(t, rmdir(f.base) == 0);			/* nothing else left behind */
}

static void remove_refuses_foreign(struct tap *t)
{
	struct fixture f;
	struct image_set set;
	struct err err;
	char path[160], link[160];
	int fd;

	make_chain(t, &f, NCHAIN);
	set_path(&f, "2/notes.txt", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	CHECK(t, img_set_remove(f.set, &err) != 0 && !strcmp(err.file, "2/notes.txt"));
	/* Nothing went: the set still opens whole. */
	CHECK(t, img_set_open(&set, f.set, &err) == 0 && set.n == NCHAIN);
	img_set_close(&set);
	CHECK(t, unlink(path) == 0);

	set_path(&f, "README", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	CHECK(t, img_set_remove(f.set, &err) != 0 && !strcmp(err.file, "README"));
	CHECK(t, unlink(path) == 0);

	/* A round that is a symlink is not followed. */
	set_path(&f, "5", link, sizeof(link));
	CHECK(t, symlink(f.base, link) == 0);
	CHECK(t, img_set_remove(f.set, &err) != 0 && !strcmp(err.file, "5"));
	CHECK(t, unlink(link) == 0);
	teardown(t, &f);
}

int main(void)
{
	struct tap t = { 0 };

	RUN(&t, skip_sets_exact);
	RUN(&t, fill_gives_newest);
	RUN(&t, vma_gone_skipped);
	RUN(&t, vma_at_top_skips);
	RUN(&t, gap_refused);
	RUN(&t, empty_set_refused);
	RUN(&t, corrupt_round_refused);
	RUN(&t, truncated_round_refused);
	RUN(&t, lazy_before_last_refused);
	RUN(&t, writer_keeps_order);
	RUN(&t, remove_leaves_nothing);
	RUN(&t, remove_refuses_foreign);
	return tap_done(&t);
}
