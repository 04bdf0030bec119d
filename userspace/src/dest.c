// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "checksum.h"
#include "dest.h"
#include "image.h"
#include "knobs.h"
#include "proto.h"
#include "uffd.h"

static int die(const char *what, int err)
{
	fprintf(stderr, "lazyrestore: destination: %s: %s\n", what, strerror(err));
	return 1;
}

/* Put the pages of entry @i that are not lazy in place. */
static int fill_entry(const struct image *img, size_t i, const struct runs *lazy, int uffd,
		      char *bounce, struct img_error *err)
{
	const struct page_entry *e = &img->e[i];
	struct runs all = RUNS_INIT, keep = RUNS_INIT;
	uint64_t ps = img->page_size, base = e->start_page * ps;
	int ret;

	if (runs_add(&all, e->start_page, e->nr_pages) || runs_subtract(&all, lazy, &keep)) {
		runs_free(&all);
		return -ENOMEM;
	}
	if (uffd < 0 && keep.n == 1 && keep.v[0].len == e->nr_pages) {
		/* Nothing lazy in it: straight into the target memory. */
		ret = img_read_entry(img, i, (void *)base, err);
	} else {
		ret = img_read_entry(img, i, bounce, err);
		for (size_t k = 0; !ret && k < keep.n; k++) {
			uint64_t addr = keep.v[k].start * ps, len = keep.v[k].len * ps;
			const char *src = bounce + (addr - base);

			if (uffd >= 0)
				ret = uffd_copy(uffd, addr, src, len, false);
			else
				memcpy((void *)addr, src, len);
		}
	}
	runs_free(&all);
	runs_free(&keep);
	return ret;
}

static int restore(const struct dest_args *a, const struct image *img, int uffd, uint64_t *fill_ns)
{
	const struct strategy *st = a->st;
	struct img_error err;
	struct timespec t0, t1;
	uint64_t max_entry = 0;
	char *bounce;

	if (st->process_before && st->process_before())
		return die("strategy setup", errno);
	for (size_t i = 0; i < img->nvmas; i++) {
		const struct vma_rec *v = &img->vmas[i];

		if (mmap((void *)v->start, v->end - v->start, v->prot, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_FIXED_NOREPLACE, -1, 0) != (void *)v->start)
			return die("mmap at the source's address", errno);
		if (st->before_fill && st->before_fill(v))
			return die("madvise before the fill", errno);
		if (st->register_first && uffd_register_missing(uffd, v->start, v->end - v->start))
			return die("UFFDIO_REGISTER", errno);
	}
	for (size_t i = 0; i < img->n; i++)
		if (img->e[i].nr_pages > max_entry)
			max_entry = img->e[i].nr_pages;
	bounce = malloc(max_entry * img->page_size + 1);
	if (!bounce)
		return die("bounce buffer", ENOMEM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < img->n; i++) {
		if (fill_entry(img, i, a->lazy, st->register_first ? uffd : -1, bounce, &err)) {
			fprintf(stderr, "lazyrestore: refusing the image: %s/%s at offset %llu: %s\n",
				a->image_dir, err.file, (unsigned long long)err.offset, err.msg);
			free(bounce);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(bounce);
	*fill_ns = (t1.tv_sec - t0.tv_sec) * 1000000000ULL + t1.tv_nsec - t0.tv_nsec;
	/* Give khugepaged two full scans of the partially filled memory. */
	if (a->wait_khugepaged)
		khugepaged_wait_scans(2, 30);
	for (size_t i = 0; i < img->nvmas; i++) {
		const struct vma_rec *v = &img->vmas[i];

		if (!st->register_first && uffd_register_missing(uffd, v->start, v->end - v->start))
			return die("UFFDIO_REGISTER", errno);
		if (st->after_register && st->after_register(v))
			return die("madvise after registration", errno);
	}
	if (st->process_after && st->process_after())
		return die("strategy teardown", errno);
	return 0;
}

int dest_run(const struct dest_args *a)
{
	struct image img;
	struct img_error err;
	uint64_t fill_ns = 0, *sums;
	char why[160], go;
	long ps = getpagesize();
	size_t npages = 0, k = 0;
	int uffd, rc;

	if (img_open(&img, a->image_dir, &err)) {
		fprintf(stderr, "lazyrestore: refusing the image: %s/%s at offset %llu: %s\n",
			a->image_dir, err.file, (unsigned long long)err.offset, err.msg);
		return 1;
	}
	uffd = uffd_create(why, sizeof(why));
	if (uffd < 0) {
		fprintf(stderr, "lazyrestore: destination: %s\n", why);
		img_close(&img);
		return 1;
	}
	rc = restore(a, &img, uffd, &fill_ns);
	if (!rc && proto_send_fd(a->sock, uffd, &fill_ns, sizeof(fill_ns)))
		rc = die("passing the userfaultfd", errno);
	close(uffd);
	if (!rc && read(a->sock, &go, 1) != 1)
		rc = die("waiting for go", errno ? errno : EPIPE);
	for (size_t i = 0; i < img.nvmas; i++)
		npages += (img.vmas[i].end - img.vmas[i].start) / ps;
	sums = rc ? NULL : malloc(npages * sizeof(*sums));
	if (!rc && !sums)
		rc = die("checksums", ENOMEM);
	/* Resumed: read every page as the workload would; lazy ones fault. */
	for (size_t i = 0; !rc && i < img.nvmas; i++)
		for (uint64_t p = img.vmas[i].start; p < img.vmas[i].end; p += ps)
			sums[k++] = page_checksum((void *)p, ps);
	if (!rc && proto_write_all(a->sock, sums, npages * sizeof(*sums)))
		rc = die("sending checksums", errno);
	if (!rc && read(a->sock, &go, 1) != 1)	/* "bye": smaps has been read */
		rc = 1;
	free(sums);
	img_close(&img);
	return rc;
}
