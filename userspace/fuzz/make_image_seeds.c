// SPDX-License-Identifier: GPL-2.0
/*
 * Seeds for fuzz_image: image sets written by the real writer
 * (img_set_round_open(), img_writer_*), each packed into fuzz_image's
 * container (see there): a fix byte of 0, then one record per file.
 *	make_image_seeds OUTDIR
 * Not a fuzz target (no fuzz_ prefix): built by hand, see
 * tests/corpus/image/README.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_set.h"

#define MAX_ROUNDS 4
#define MAX_RUNS 8
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct seed_run {
	uint64_t start_page;
	uint64_t nr_pages;
	int lazy;
};

struct seed_round {
	struct vma_rec vmas[4];
	size_t nvmas;
	struct seed_run runs[MAX_RUNS];
	size_t nruns;
};

struct seed {
	const char *name;
	size_t nrounds;
	struct seed_round round[MAX_ROUNDS];
};

#define VMA(s, e) { .start = (s), .end = (e), .prot = 3 }

static const struct seed seeds[] = {
	{ "one-round", 1, { {
		{ VMA(0x100000, 0x110000), VMA(0x200000, 0x210000) }, 2,
		{ { 0x100, 1, 0 }, { 0x102, 2, 0 }, { 0x200, 3, 0 } }, 3 } } },
	{ "data-and-lazy", 1, { {
		{ VMA(0x100000, 0x110000), VMA(0x110000, 0x120000) }, 2,
		{ { 0x101, 1, 0 }, { 0x100, 1, 1 }, { 0x102, 4, 1 }, { 0x10e, 2, 1 },
		  { 0x111, 1, 0 } }, 5 } } },
	{ "lazy-only", 1, { {
		{ VMA(0x400000, 0x800000) }, 1,
		{ { 0x400, 0x200, 1 }, { 0x700, 0x10, 1 } }, 2 } } },
	{ "empty", 1, { { { VMA(0x1000, 0x2000) }, 1, { { 0 } }, 0 } } },
	/* Round 2 rewrites a page of round 1, drops its second VMA, leaves one lazy. */
	{ "two-rounds", 2, { {
		{ VMA(0x100000, 0x104000), VMA(0x200000, 0x202000) }, 2,
		{ { 0x100, 3, 0 }, { 0x200, 1, 0 } }, 2 }, {
		{ VMA(0x100000, 0x104000) }, 1,
		{ { 0x101, 1, 0 }, { 0x103, 1, 1 } }, 2 } } },
	{ "three-rounds", 3, { {
		{ VMA(0x10000, 0x14000) }, 1, { { 0x10, 2, 0 } }, 1 }, {
		{ VMA(0x10000, 0x14000) }, 1, { { 0x11, 2, 0 } }, 1 }, {
		{ VMA(0x10000, 0x14000), VMA(0x20000, 0x21000) }, 2,
		{ { 0x10, 1, 1 }, { 0x20, 1, 0 } }, 2 } } },
};

static int pack_file(FILE *out, const char *dir, unsigned int round, unsigned int file,
		     const char *name)
{
	char path[4096], buf[65536];
	size_t len;
	FILE *in;

	snprintf(path, sizeof(path), "%s/%u/%s", dir, round, name);
	in = fopen(path, "rb");
	if (!in)
		return errno == ENOENT ? 0 : -errno;
	len = fread(buf, 1, sizeof(buf), in);
	if (!feof(in)) {
		fclose(in);
		return -EFBIG;
	}
	fclose(in);
	/* id: file in bits 0-1, directory (round - 1) in bits 2-4. */
	fputc((round - 1) << 2 | file, out);
	fputc(len & 0xff, out);
	fputc(len >> 8, out);
	fwrite(buf, 1, len, out);
	return 0;
}

static int make_seed(const struct seed *s, const char *tmp, const char *outdir, struct err *err)
{
	static const char *const files[] = { "mm.img", "pagemap.img", "pages.img" };
	uint32_t ps = getpagesize();
	char path[4096];
	FILE *out;
	int ret;

	for (size_t r = 0; r < s->nrounds; r++) {
		const struct seed_round *sr = &s->round[r];
		struct img_writer w;

		ret = img_set_round_open(&w, tmp, r + 1, ps, err);
		if (ret)
			return ret;
		for (size_t i = 0; !ret && i < sr->nruns; i++) {
			const struct seed_run *run = &sr->runs[i];
			char *data;

			if (run->lazy) {
				ret = img_writer_add_lazy(&w, run->start_page, run->nr_pages, err);
				continue;
			}
			data = malloc(run->nr_pages * ps);
			if (!data) {
				ret = err_set(err, ENOMEM, "out of memory");
				break;
			}
			/* Pages told apart by round and address, as a pre-copy's would be. */
			for (size_t b = 0; b < run->nr_pages * ps; b++)
				data[b] = (char)(b * 31 + run->start_page + r * 17 + b / ps);
			ret = img_writer_add(&w, run->start_page, run->nr_pages, data, err);
			free(data);
		}
		if (ret) {
			img_writer_abort(&w);
			return ret;
		}
		ret = img_writer_finish(&w, sr->vmas, sr->nvmas, err);
		if (ret)
			return ret;
	}
	snprintf(path, sizeof(path), "%s/%s", outdir, s->name);
	out = fopen(path, "wb");
	if (!out)
		return err_sys(err, "%s", path);
	fputc(0, out);
	ret = 0;
	for (size_t r = 0; !ret && r < s->nrounds; r++)
		for (unsigned int f = 0; !ret && f < 3; f++)
			ret = pack_file(out, tmp, r + 1, f, files[f]);
	if (fclose(out) && !ret)
		ret = -errno;
	if (ret)
		return err_set(err, -ret, "%s: %s", path, strerror(-ret));
	return img_set_remove(tmp, err);
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/make_image_seeds.XXXXXX", set[sizeof(tmp) + 4], buf[512];
	struct err err = { 0 };
	int ret = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(set, sizeof(set), "%s/set", tmp);
	for (size_t i = 0; !ret && i < ARRAY_SIZE(seeds); i++) {
		ret = make_seed(&seeds[i], set, argv[1], &err);
		if (ret)
			fprintf(stderr, "%s: seed %s: %s\n", argv[0], seeds[i].name,
				err_str(&err, buf, sizeof(buf)));
	}
	img_set_remove(set, &err);
	rmdir(tmp);
	return ret ? 1 : 0;
}
