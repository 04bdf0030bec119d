// SPDX-License-Identifier: GPL-2.0
/*
 * How fast the pre-copied pages get from the image files into the
 * destination's memory, by each way a restore can do it, next to the
 * limits measured in the same run: memcpy into memory that is already
 * there, one UFFDIO_COPY for the whole range, and the file's own
 * sequential read rate.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench.h"
#include "clock.h"
#include "image.h"
#include "uffd.h"
#include "uffd_uapi.h"

#define QD		64
#define BOUNCE_BYTES	(2ULL << 20)
#define FIXED_MAX	(1ULL << 30)	/* io_uring's limit per registered buffer */

struct fill {
	const struct bench_opts *o;
	struct image img;
	int fd, dfd;		/* pages.img, buffered and O_DIRECT */
	uint64_t base, bytes;	/* where the pages go, how many */
	long ps;
	char *src;		/* the same bytes in memory, for the references */
	char path[300];
};

/* A fresh anonymous target at the image's addresses, 4K only (clr and prctl restore so). */
static char *target(struct fill *f)
{
	char *t = mmap((void *)f->base, f->bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (t == MAP_FAILED)
		return NULL;
	madvise(t, f->bytes, MADV_NOHUGEPAGE);
	return t;
}

static void drop(struct fill *f, char *t)
{
	munmap(t, f->bytes);
}

static uint64_t entry_addr(const struct fill *f, size_t i)
{
	return f->img.e[i].start_page * f->ps;
}

static uint64_t entry_len(const struct fill *f, size_t i)
{
	return f->img.e[i].nr_pages * f->ps;
}

static int m_read(struct fill *f, char *t, double *t0)
{
	(void)t, (void)t0;
	for (size_t i = 0; i < f->img.n; i++)
		if (pread(f->fd, (void *)entry_addr(f, i), entry_len(f, i), f->img.e[i].offset) !=
		    (ssize_t)entry_len(f, i))
			return -1;
	return 0;
}

static int m_preadv(struct fill *f, char *t, double *t0)
{
	struct iovec iov[IOV_MAX];
	size_t i = 0;

	(void)t, (void)t0;
	while (i < f->img.n) {
		uint64_t off = f->img.e[i].offset, want = 0;
		int n = 0;

		/* One call for entries that follow each other in the file. */
		while (i < f->img.n && n < IOV_MAX && f->img.e[i].offset == off + want) {
			iov[n++] = (struct iovec){ (void *)entry_addr(f, i), entry_len(f, i) };
			want += entry_len(f, i++);
		}
		if (preadv(f->fd, iov, n, off) != (ssize_t)want)
			return -1;
	}
	return 0;
}

static int m_populate_read(struct fill *f, char *t, double *t0)
{
	if (madvise(t, f->bytes, MADV_POPULATE_WRITE))
		return -1;
	return m_read(f, t, t0);
}

/* Reads of every entry through io_uring, @qd in flight. */
static int uring_reads(struct fill *f, int fd, bool fixed)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	size_t next = 0, done = 0;
	unsigned int inflight = 0;
	int ret = io_uring_queue_init(QD, &ring, 0);

	if (ret) {
		errno = -ret;
		return -1;
	}
	if ((ret = io_uring_register_files(&ring, &fd, 1)))
		goto out;
	if (fixed) {
		struct iovec iov[64];
		unsigned int n = 0;

		for (uint64_t off = 0; off < f->bytes && n < 64; off += FIXED_MAX, n++)
			iov[n] = (struct iovec){ (char *)f->base + off,
						 f->bytes - off < FIXED_MAX ? f->bytes - off : FIXED_MAX };
		if ((ret = io_uring_register_buffers(&ring, iov, n)))
			goto out;
	}
	while (done < f->img.n) {
		while (next < f->img.n && inflight < QD) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			uint64_t a = entry_addr(f, next);

			if (fixed)
				io_uring_prep_read_fixed(sqe, 0, (void *)a, entry_len(f, next),
							 f->img.e[next].offset, (a - f->base) / FIXED_MAX);
			else
				io_uring_prep_read(sqe, 0, (void *)a, entry_len(f, next),
						   f->img.e[next].offset);
			sqe->flags |= IOSQE_FIXED_FILE;
			sqe->user_data = next++;
			inflight++;
		}
		if ((ret = io_uring_submit_and_wait(&ring, 1)) < 0)
			goto out;
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			if (cqe->res != (int)entry_len(f, cqe->user_data)) {
				ret = cqe->res < 0 ? cqe->res : -EIO;
				goto out;
			}
			io_uring_cqe_seen(&ring, cqe);
			inflight--;
			done++;
		}
	}
	ret = 0;
out:
	io_uring_queue_exit(&ring);
	if (ret)
		errno = -ret;
	return ret ? -1 : 0;
}

static int m_uring(struct fill *f, char *t, double *t0)
{
	(void)t, (void)t0;
	return uring_reads(f, f->fd, false);
}

static int m_uring_fixed(struct fill *f, char *t, double *t0)
{
	(void)t, (void)t0;
	return uring_reads(f, f->fd, true);
}

static int m_uring_direct(struct fill *f, char *t, double *t0)
{
	(void)t, (void)t0;
	return uring_reads(f, f->dfd, false);
}

/* Register first, then read into a bounce buffer and UFFDIO_COPY @chunk at a time. */
static int uffd_fill(struct fill *f, char *t, uint64_t chunk)
{
	char why[160], *bounce = aligned_alloc(f->ps, BOUNCE_BYTES);
	int uffd = uffd_create(why, sizeof(why)), ret = -1;

	if (uffd < 0 || !bounce || uffd_register_missing(uffd, (uint64_t)t, f->bytes))
		goto out;
	for (size_t i = 0; i < f->img.n; i++) {
		uint64_t a = entry_addr(f, i), len = entry_len(f, i), off = f->img.e[i].offset;

		for (uint64_t k = 0; k < len; k += BOUNCE_BYTES) {
			uint64_t n = len - k < BOUNCE_BYTES ? len - k : BOUNCE_BYTES;

			if (pread(f->fd, bounce, n, off + k) != (ssize_t)n)
				goto out;
			for (uint64_t c = 0; c < n; c += chunk)
				if (uffd_copy(uffd, a + k + c, bounce + c, n - c < chunk ? n - c : chunk,
					      false))
					goto out;
		}
	}
	ret = 0;
out:
	free(bounce);
	if (uffd >= 0)
		close(uffd);
	return ret;
}

static int m_uffd_4k(struct fill *f, char *t, double *t0)
{
	(void)t0;
	return uffd_fill(f, t, 4096);
}

static int m_uffd_64k(struct fill *f, char *t, double *t0)
{
	(void)t0;
	return uffd_fill(f, t, 64 << 10);
}

static int m_uffd_2m(struct fill *f, char *t, double *t0)
{
	(void)t0;
	return uffd_fill(f, t, 2 << 20);
}

/*
 * Register first, read into a staging buffer lined up with the target
 * (same offset in a 2 MiB range), then UFFDIO_MOVE what a 2 MiB range
 * holds, @chunk at a time. The entries of write_image() follow each other
 * in address and file order, so a range is complete at its last byte.
 * @thp: staging buffer and target MADV_HUGEPAGE, so a 2 MiB move takes a
 * whole THP as one PMD (the target of the other methods is 4 KiB only).
 */
static int uffd_move_fill(struct fill *f, char *t, uint64_t chunk, bool thp)
{
	char why[160], *map = mmap(NULL, 2 * BOUNCE_BYTES, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *stage = (char *)(((uint64_t)map + BOUNCE_BYTES - 1) & ~(BOUNCE_BYTES - 1));
	uint64_t from = (uint64_t)t, end = (uint64_t)t + f->bytes, moved;
	int uffd = uffd_create(why, sizeof(why)), ret = -1;

	if (uffd < 0 || map == MAP_FAILED ||
	    madvise(stage, BOUNCE_BYTES, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) ||
	    (thp && madvise(t, f->bytes, MADV_HUGEPAGE)) ||
	    uffd_register_missing(uffd, (uint64_t)t, f->bytes))
		goto out;
	for (size_t i = 0; i < f->img.n; i++) {
		uint64_t a = entry_addr(f, i), len = entry_len(f, i), off = f->img.e[i].offset;

		for (uint64_t k = 0; k < len; ) {
			uint64_t at = (a + k) & (BOUNCE_BYTES - 1);
			uint64_t n = len - k < BOUNCE_BYTES - at ? len - k : BOUNCE_BYTES - at;

			if (pread(f->fd, stage + at, n, off + k) != (ssize_t)n)
				goto out;
			k += n;
			if ((a + k) % BOUNCE_BYTES && a + k != end)
				continue;
			for (; from < a + k; from += chunk) {
				uint64_t c = a + k - from < chunk ? a + k - from : chunk;
				int err = uffd_move(uffd, from, stage + (from & (BOUNCE_BYTES - 1)), c,
						    &moved);

				if (err) {
					errno = -err;
					goto out;
				}
			}
		}
	}
	ret = 0;
out:
	if (map != MAP_FAILED)
		munmap(map, 2 * BOUNCE_BYTES);
	if (uffd >= 0)
		close(uffd);
	return ret;
}

static int m_move_4k(struct fill *f, char *t, double *t0)
{
	(void)t0;
	return uffd_move_fill(f, t, 4096, false);
}

static int m_move_64k(struct fill *f, char *t, double *t0)
{
	(void)t0;
	return uffd_move_fill(f, t, 64 << 10, false);
}

static int m_move_2m(struct fill *f, char *t, double *t0)
{
	(void)t0;
	return uffd_move_fill(f, t, 2 << 20, false);
}

static int m_move_2m_thp(struct fill *f, char *t, double *t0)
{
	(void)t0;
	return uffd_move_fill(f, t, 2 << 20, true);
}

/* References: what no restore can beat. */
static int r_memcpy_faulted(struct fill *f, char *t, double *t0)
{
	if (madvise(t, f->bytes, MADV_POPULATE_WRITE))
		return -1;
	*t0 = now_ns() / 1e9;	/* the faulting-in is not part of it */
	memcpy(t, f->src, f->bytes);
	return 0;
}

static int r_memcpy_fresh(struct fill *f, char *t, double *t0)
{
	(void)t0;
	memcpy(t, f->src, f->bytes);
	return 0;
}

static int r_uffd_one(struct fill *f, char *t, double *t0)
{
	char why[160];
	int uffd = uffd_create(why, sizeof(why)), ret;

	if (uffd < 0 || uffd_register_missing(uffd, (uint64_t)t, f->bytes))
		return -1;
	*t0 = now_ns() / 1e9;	/* nor is the registration */
	ret = uffd_copy(uffd, (uint64_t)t, f->src, f->bytes, false);
	close(uffd);
	return ret ? -1 : 0;
}

static int r_seq_read(struct fill *f, char *t, double *t0)
{
	char *buf = aligned_alloc(f->ps, 1 << 20);
	uint64_t off = 0;
	ssize_t got = 1;

	(void)t, (void)t0;
	if (!buf)
		return -1;
	while (got > 0 && off < f->bytes)
		off += (got = pread(f->fd, buf, 1 << 20, off)) > 0 ? got : 0;
	free(buf);
	return off >= f->bytes ? 0 : -1;
}

static const struct fill_method {
	const char *name;
	const char *what;
	bool reference;
	int (*run)(struct fill *f, char *t, double *t0);
} methods[] = {
	{ "read", "pread() per image entry into the target (clr, prctl)", false, m_read },
	{ "preadv", "preadv() of consecutive entries into the target", false, m_preadv },
	{ "populate+read", "MADV_POPULATE_WRITE, then pread() into the target", false,
	  m_populate_read },
	{ "io_uring", "io_uring reads, 64 in flight, into the target", false, m_uring },
	{ "io_uring-fixed", "target registered as fixed buffers (pins it), READ_FIXED", false,
	  m_uring_fixed },
	{ "io_uring-direct", "O_DIRECT io_uring reads into the target", false, m_uring_direct },
	{ "uffd-copy-4k", "register first, pread to a bounce buffer, UFFDIO_COPY 4 KiB", false,
	  m_uffd_4k },
	{ "uffd-copy-64k", "the same, UFFDIO_COPY 64 KiB", false, m_uffd_64k },
	{ "uffd-copy-2m", "the same, UFFDIO_COPY 2 MiB", false, m_uffd_2m },
	{ "uffd-move-4k", "register first, pread to a 2 MiB staging buffer, UFFDIO_MOVE 4 KiB",
	  false, m_move_4k },
	{ "uffd-move-64k", "the same, UFFDIO_MOVE 64 KiB", false, m_move_64k },
	{ "uffd-move-2m", "the same, UFFDIO_MOVE 2 MiB", false, m_move_2m },
	{ "uffd-move-2m-thp", "the same, staging and target THP: one PMD per move", false,
	  m_move_2m_thp },
	{ "ref:memcpy-faulted", "memcpy into memory already faulted in", true,
	  r_memcpy_faulted },
	{ "ref:memcpy-fresh", "memcpy into fresh memory (a fault per 4 KiB)", true,
	  r_memcpy_fresh },
	{ "ref:uffd-copy-one", "one UFFDIO_COPY of the whole range from memory", true,
	  r_uffd_one },
	{ "ref:seq-read", "the image read sequentially into one 1 MiB buffer", true,
	  r_seq_read },
};

/* Page cache cold: written back and dropped; false when the file system keeps it (tmpfs). */
static bool make_cold(struct fill *f)
{
	unsigned char *vec;
	size_t pages = (f->bytes + f->ps - 1) / f->ps, resident = 0;
	void *m;

	fdatasync(f->fd);
	posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
	m = mmap(NULL, f->bytes, PROT_READ, MAP_SHARED, f->fd, 0);
	vec = malloc(pages);
	if (m == MAP_FAILED || !vec || mincore(m, f->bytes, vec)) {
		free(vec);
		if (m != MAP_FAILED)
			munmap(m, f->bytes);
		return false;
	}
	for (size_t i = 0; i < pages; i++)
		resident += vec[i] & 1;
	free(vec);
	munmap(m, f->bytes);
	return resident < pages / 10;
}

static int write_image(struct fill *f, const char *dir)
{
	struct img_writer w;
	struct err err;
	struct vma_rec v = { .start = f->base, .end = f->base + f->bytes, .prot = 3 };
	const uint64_t chunk = 256;

	for (uint64_t i = 0; i < f->bytes / 8; i++)
		((uint64_t *)f->src)[i] = i * 0x9e3779b97f4a7c15ULL;
	if (img_writer_open(&w, dir, f->ps, &err))
		goto fail;
	for (uint64_t p = 0; p < f->bytes / f->ps; p += chunk)
		if (img_writer_add(&w, f->base / f->ps + p, chunk, f->src + p * f->ps, &err))
			goto fail_abort;
	if (img_writer_finish(&w, &v, 1, &err))
		goto fail;
	if (img_open(&f->img, dir, &err))
		goto fail;
	return 0;
fail_abort:
	img_writer_abort(&w);
fail:
	fprintf(stderr, "lazybench: fill: %s/%s: %s\n", dir, err.file, err.msg);
	return -1;
}

int bench_fill(const struct bench_opts *o)
{
	struct fill f = { .o = o, .fd = -1, .dfd = -1, .base = BENCH_BASE,
			  .bytes = o->fill_mib << 20, .ps = getpagesize() };
	bool cold_possible, uring, move = uffd_has_feature(UFFD_FEATURE_MOVE) == 1;
	struct io_uring probe;
	int ret = 0;

	f.src = aligned_alloc(f.ps, f.bytes);
	if (!f.src || write_image(&f, o->dir)) {
		free(f.src);
		return -1;
	}
	f.fd = f.img.pages_fd;
	snprintf(f.path, sizeof(f.path), "%s/pages.img", o->dir);
	f.dfd = open(f.path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	cold_possible = make_cold(&f);
	uring = io_uring_queue_init(1, &probe, 0) == 0;
	if (uring)
		io_uring_queue_exit(&probe);
	else
		bench_note(o, "fill", "io_uring methods skipped: io_uring_setup() failed "
			   "(kernel without CONFIG_IO_URING, or io_uring_disabled set)");
	if (!move)
		bench_note(o, "fill", "uffd-move methods skipped: UFFDIO_MOVE not supported by "
			   "this kernel (needs 6.8)");
	if (!cold_possible)
		bench_note(o, "fill", "cold page cache not possible: %s keeps its pages (tmpfs?); "
			   "only warm runs", o->dir);
	for (int cold = 0; cold <= 1; cold++) {
		if (cold && !cold_possible)
			break;
		for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
			double best[BENCH_REPEAT];
			int reps = 0;

			if (!uring && !strncmp(methods[m].name, "io_uring", 8))
				continue;
			if (!move && !strncmp(methods[m].name, "uffd-move", 9))
				continue;
			if (o->method && strcmp(o->method, methods[m].name))
				continue;
			if (!strcmp(methods[m].name, "io_uring-direct") && f.dfd < 0) {
				bench_note(o, "fill", "io_uring-direct skipped: O_DIRECT open of %s: %s",
					   f.path, "not supported by this file system");
				continue;
			}
			if (cold && methods[m].reference && strcmp(methods[m].name, "ref:seq-read"))
				continue;	/* memory-to-memory: no cache to be cold */
			for (int r = 0; r < BENCH_REPEAT; r++) {
				char *t = target(&f);
				double t0;

				if (!t) {
					fprintf(stderr, "lazybench: fill: mmap at %#llx: %s\n",
						(unsigned long long)f.base, strerror(errno));
					ret = -1;
					goto out;
				}
				if (cold)
					make_cold(&f);
				t0 = now_ns() / 1e9;
				if (methods[m].run(&f, t, &t0)) {
					fprintf(stderr, "lazybench: fill: %s: %s\n", methods[m].name,
						strerror(errno));
					drop(&f, t);
					ret = -1;
					goto out;
				}
				best[reps++] = now_ns() / 1e9 - t0;
				if (memcmp(t, f.src, f.bytes) && strcmp(methods[m].name, "ref:seq-read")) {
					fprintf(stderr, "lazybench: fill: %s filled wrong data\n",
						methods[m].name);
					drop(&f, t);
					ret = -1;
					goto out;
				}
				drop(&f, t);
			}
			bench_fill_row(o, methods[m].name, methods[m].what, cold, methods[m].reference,
				       f.bytes, best, reps);
		}
	}
out:
	if (f.dfd >= 0)
		close(f.dfd);
	img_close(&f.img);
	free(f.src);
	return ret;
}
