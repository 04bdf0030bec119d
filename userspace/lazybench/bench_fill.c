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
#include "image_uring.h"
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
	char path[PATH_MAX + 16];
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

/* A read that came up short: the image is shorter than its index says. */
static int short_read(struct err *err, const char *what, ssize_t got, uint64_t want, uint64_t off)
{
	if (got < 0)
		return err_sys(err, "%s of %llu bytes at %llu", what, (unsigned long long)want,
			       (unsigned long long)off);
	return err_at(err, "pages.img", off, EIO, "%s: %zd of %llu bytes", what, got,
		      (unsigned long long)want);
}

static int m_read(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t, (void)t0;
	for (size_t i = 0; i < f->img.n; i++) {
		ssize_t got = pread(f->fd, (void *)entry_addr(f, i), entry_len(f, i),
				    f->img.e[i].offset);

		if (got != (ssize_t)entry_len(f, i))
			return short_read(err, "pread", got, entry_len(f, i), f->img.e[i].offset);
	}
	return 0;
}

static int m_preadv(struct fill *f, char *t, double *t0, struct err *err)
{
	struct iovec iov[IOV_MAX];
	size_t i = 0;

	(void)t, (void)t0;
	while (i < f->img.n) {
		uint64_t off = f->img.e[i].offset, want = 0;
		ssize_t got;
		int n = 0;

		/* One call for entries that follow each other in the file. */
		while (i < f->img.n && n < IOV_MAX && f->img.e[i].offset == off + want) {
			iov[n++] = (struct iovec){ (void *)entry_addr(f, i), entry_len(f, i) };
			want += entry_len(f, i++);
		}
		got = preadv(f->fd, iov, n, off);
		if (got != (ssize_t)want)
			return short_read(err, "preadv", got, want, off);
	}
	return 0;
}

static int m_populate_read(struct fill *f, char *t, double *t0, struct err *err)
{
	if (madvise(t, f->bytes, MADV_POPULATE_WRITE))
		return err_sys(err, "MADV_POPULATE_WRITE");
	return m_read(f, t, t0, err);
}

/*
 * A free submission entry. The ring has one per read in flight, so there
 * is always one; were it full (entries the kernel left queued), submit
 * them and look again.
 */
static struct io_uring_sqe *uring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe && io_uring_submit(ring) >= 0)
		sqe = io_uring_get_sqe(ring);
	return sqe;
}

/* Reads of every entry through io_uring, QD in flight. */
static int uring_reads(struct fill *f, int fd, bool fixed, struct err *err)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	size_t next = 0, done = 0;
	unsigned int inflight = 0;
	int ret = io_uring_queue_init(QD, &ring, 0);

	if (ret)
		return err_set(err, -ret, "io_uring_queue_init: %s", strerror(-ret));
	ret = io_uring_register_files(&ring, &fd, 1);
	if (ret) {
		err_set(err, -ret, "io_uring_register_files: %s", strerror(-ret));
		goto out;
	}
	if (fixed) {
		struct iovec iov[64];
		unsigned int n = 0;

		for (uint64_t off = 0; off < f->bytes && n < 64; off += FIXED_MAX, n++)
			iov[n] = (struct iovec){ (char *)f->base + off,
						 f->bytes - off < FIXED_MAX ? f->bytes - off : FIXED_MAX };
		ret = io_uring_register_buffers(&ring, iov, n);
		if (ret) {
			err_set(err, -ret, "io_uring_register_buffers: %s", strerror(-ret));
			goto out;
		}
	}
	while (done < f->img.n) {
		while (next < f->img.n && inflight < QD) {
			struct io_uring_sqe *sqe = uring_sqe(&ring);
			uint64_t a = entry_addr(f, next);

			if (!sqe) {
				ret = err_set(err, EBUSY, "io_uring: no free submission entry");
				goto out;
			}
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
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR) {
			err_set(err, -ret, "io_uring_submit_and_wait: %s", strerror(-ret));
			goto out;
		}
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			size_t i = cqe->user_data;
			int res = cqe->res;

			io_uring_cqe_seen(&ring, cqe);
			inflight--;
			if (res < 0) {
				ret = err_at(err, "pages.img", f->img.e[i].offset, -res,
					     "io_uring read: %s", strerror(-res));
				goto out;
			}
			if (res != (int)entry_len(f, i)) {
				ret = short_read(err, "io_uring read", res, entry_len(f, i),
						 f->img.e[i].offset);
				goto out;
			}
			done++;
		}
	}
	ret = 0;
out:
	/* Entries never submitted are not in flight; the rest write into the target: wait. */
	img_uring_drain(&ring, inflight);
	io_uring_queue_exit(&ring);
	return ret;
}

static int m_uring(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t, (void)t0;
	return uring_reads(f, f->fd, false, err);
}

static int m_uring_fixed(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t, (void)t0;
	return uring_reads(f, f->fd, true, err);
}

static int m_uring_direct(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t, (void)t0;
	return uring_reads(f, f->dfd, false, err);
}

/* A userfaultfd with @t registered; the caller closes it. */
static int uffd_on(struct fill *f, char *t, struct err *err)
{
	int uffd = uffd_open(0, err), ret;

	if (uffd < 0)
		return uffd;
	ret = uffd_register_missing(uffd, (uint64_t)t, f->bytes);
	if (ret) {
		close(uffd);
		return err_set(err, -ret, "UFFDIO_REGISTER: %s", strerror(-ret));
	}
	return uffd;
}

/* Register first, then read into a bounce buffer and UFFDIO_COPY @chunk at a time. */
static int uffd_fill(struct fill *f, char *t, uint64_t chunk, struct err *err)
{
	char *bounce = aligned_alloc(f->ps, BOUNCE_BYTES);
	int uffd = bounce ? uffd_on(f, t, err) : err_set(err, ENOMEM, "bounce buffer"), ret = 0;

	for (size_t i = 0; uffd >= 0 && !ret && i < f->img.n; i++) {
		uint64_t a = entry_addr(f, i), len = entry_len(f, i), off = f->img.e[i].offset;

		for (uint64_t k = 0; !ret && k < len; k += BOUNCE_BYTES) {
			uint64_t n = len - k < BOUNCE_BYTES ? len - k : BOUNCE_BYTES;
			ssize_t got = pread(f->fd, bounce, n, off + k);

			if (got != (ssize_t)n) {
				ret = short_read(err, "pread", got, n, off + k);
				break;
			}
			for (uint64_t c = 0; !ret && c < n; c += chunk) {
				ret = uffd_copy(uffd, a + k + c, bounce + c, n - c < chunk ? n - c : chunk,
						false);
				if (ret)
					err_set(err, -ret, "UFFDIO_COPY: %s", strerror(-ret));
			}
		}
	}
	free(bounce);
	if (uffd < 0)
		return uffd;
	close(uffd);
	return ret;
}

static int m_uffd_4k(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t0;
	return uffd_fill(f, t, 4096, err);
}

static int m_uffd_64k(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t0;
	return uffd_fill(f, t, 64 << 10, err);
}

static int m_uffd_2m(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t0;
	return uffd_fill(f, t, 2 << 20, err);
}

/*
 * Register first, read into a staging buffer lined up with the target
 * (same offset in a 2 MiB range), then UFFDIO_MOVE what a 2 MiB range
 * holds, @chunk at a time. The entries of write_image() follow each other
 * in address and file order, so a range is complete at its last byte.
 * @thp: staging buffer and target MADV_HUGEPAGE, so a 2 MiB move takes a
 * whole THP as one PMD (the target of the other methods is 4 KiB only).
 */
static int uffd_move_fill(struct fill *f, char *t, uint64_t chunk, bool thp, struct err *err)
{
	char *map = mmap(NULL, 2 * BOUNCE_BYTES, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *stage = (char *)(((uint64_t)map + BOUNCE_BYTES - 1) & ~(BOUNCE_BYTES - 1));
	uint64_t from = (uint64_t)t, end = (uint64_t)t + f->bytes, moved;
	int uffd = -1, ret = 0;

	if (map == MAP_FAILED)
		return err_sys(err, "mmap of the staging buffer");
	if (madvise(stage, BOUNCE_BYTES, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) ||
	    (thp && madvise(t, f->bytes, MADV_HUGEPAGE)))
		ret = err_sys(err, "madvise");
	else
		ret = uffd = uffd_on(f, t, err);
	if (ret > 0)
		ret = 0;
	for (size_t i = 0; !ret && i < f->img.n; i++) {
		uint64_t a = entry_addr(f, i), len = entry_len(f, i), off = f->img.e[i].offset;

		for (uint64_t k = 0; !ret && k < len; ) {
			uint64_t at = (a + k) & (BOUNCE_BYTES - 1);
			uint64_t n = len - k < BOUNCE_BYTES - at ? len - k : BOUNCE_BYTES - at;
			ssize_t got = pread(f->fd, stage + at, n, off + k);

			if (got != (ssize_t)n) {
				ret = short_read(err, "pread", got, n, off + k);
				break;
			}
			k += n;
			if ((a + k) % BOUNCE_BYTES && a + k != end)
				continue;
			for (; !ret && from < a + k; from += chunk) {
				uint64_t c = a + k - from < chunk ? a + k - from : chunk;

				ret = uffd_move(uffd, from, stage + (from & (BOUNCE_BYTES - 1)), c, &moved);
				if (ret)
					err_set(err, -ret, "UFFDIO_MOVE: %s", strerror(-ret));
			}
		}
	}
	munmap(map, 2 * BOUNCE_BYTES);
	if (uffd >= 0)
		close(uffd);
	return ret;
}

static int m_move_4k(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t0;
	return uffd_move_fill(f, t, 4096, false, err);
}

static int m_move_64k(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t0;
	return uffd_move_fill(f, t, 64 << 10, false, err);
}

static int m_move_2m(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t0;
	return uffd_move_fill(f, t, 2 << 20, false, err);
}

static int m_move_2m_thp(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t0;
	return uffd_move_fill(f, t, 2 << 20, true, err);
}

/* References: what no restore can beat. */
static int r_memcpy_faulted(struct fill *f, char *t, double *t0, struct err *err)
{
	if (madvise(t, f->bytes, MADV_POPULATE_WRITE))
		return err_sys(err, "MADV_POPULATE_WRITE");
	*t0 = now_ns() / 1e9;	/* the faulting-in is not part of it */
	memcpy(t, f->src, f->bytes);
	return 0;
}

static int r_memcpy_fresh(struct fill *f, char *t, double *t0, struct err *err)
{
	(void)t0, (void)err;
	memcpy(t, f->src, f->bytes);
	return 0;
}

static int r_uffd_one(struct fill *f, char *t, double *t0, struct err *err)
{
	int uffd = uffd_on(f, t, err), ret;

	if (uffd < 0)
		return uffd;
	*t0 = now_ns() / 1e9;	/* nor is the registration */
	ret = uffd_copy(uffd, (uint64_t)t, f->src, f->bytes, false);
	close(uffd);
	return ret ? err_set(err, -ret, "UFFDIO_COPY: %s", strerror(-ret)) : 0;
}

static int r_seq_read(struct fill *f, char *t, double *t0, struct err *err)
{
	char *buf = aligned_alloc(f->ps, 1 << 20);
	uint64_t off = 0;
	ssize_t got = 1;

	(void)t, (void)t0;
	if (!buf)
		return err_set(err, ENOMEM, "a 1 MiB buffer");
	while (got > 0 && off < f->bytes)
		off += (got = pread(f->fd, buf, 1 << 20, off)) > 0 ? got : 0;
	free(buf);
	return off >= f->bytes ? 0 : short_read(err, "pread", got, f->bytes - off, off);
}

static const struct fill_method {
	const char *name;
	const char *what;
	bool reference;
	int (*run)(struct fill *f, char *t, double *t0, struct err *err);
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

static int write_image(struct fill *f, const char *dir, struct err *err)
{
	struct img_writer w;
	struct vma_rec v = { .start = f->base, .end = f->base + f->bytes, .prot = 3 };
	const uint64_t chunk = 256;
	int ret;

	for (uint64_t i = 0; i < f->bytes / 8; i++)
		((uint64_t *)f->src)[i] = i * 0x9e3779b97f4a7c15ULL;
	ret = img_writer_open(&w, dir, f->ps, err);
	for (uint64_t p = 0; !ret && p < f->bytes / f->ps; p += chunk) {
		ret = img_writer_add(&w, f->base / f->ps + p, chunk, f->src + p * f->ps, err);
		if (ret)
			img_writer_abort(&w);
	}
	if (!ret)
		ret = img_writer_finish(&w, &v, 1, err);
	if (!ret)
		ret = img_open(&f->img, dir, err);
	return ret ? err_wrap(err, "the image in %s", dir) : 0;
}

/* What each method needs of the kernel and the file system, known before any runs. */
struct fill_env {
	char uffd[sizeof(((struct err *)0)->msg)];	/* why no userfaultfd, "" if there is */
	bool move;		/* UFFDIO_MOVE */
	int uring;		/* io_uring_queue_init()'s result */
	int direct;		/* errno of the O_DIRECT open, 0 if it opened */
};

static bool uses_uffd(const char *name)
{
	return !strncmp(name, "uffd-", 5) || !strcmp(name, "ref:uffd-copy-one");
}

/* Why @name cannot run here, or NULL. */
static const char *unavailable(const struct fill_env *env, const char *name, char *buf, size_t len)
{
	if (uses_uffd(name) && env->uffd[0])
		return env->uffd;
	if (!strncmp(name, "uffd-move", 9) && !env->move)
		return "UFFDIO_MOVE not supported by this kernel (needs 6.8)";
	if (!strncmp(name, "io_uring", 8) && env->uring) {
		snprintf(buf, len, "io_uring_setup: %s (kernel without CONFIG_IO_URING, or "
			 "kernel.io_uring_disabled set)", strerror(-env->uring));
		return buf;
	}
	if (!strcmp(name, "io_uring-direct") && env->direct) {
		snprintf(buf, len, "O_DIRECT open of pages.img: %s (not supported by this file "
			 "system?)", strerror(env->direct));
		return buf;
	}
	return NULL;
}

static void fill_env_probe(struct fill *f, struct fill_env *env)
{
	struct io_uring probe;
	struct err e;
	int uffd = uffd_open(0, &e);

	env->uffd[0] = '\0';
	if (uffd >= 0)
		close(uffd);
	else
		snprintf(env->uffd, sizeof(env->uffd), "%s", e.msg);
	env->move = uffd_has_feature(UFFD_FEATURE_MOVE) == 1;
	env->uring = io_uring_queue_init(1, &probe, 0);
	if (!env->uring)
		io_uring_queue_exit(&probe);
	f->dfd = open(f->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	env->direct = f->dfd < 0 ? errno : 0;
}

/* Which methods are skipped and why, one note for each reason. */
static void notes(const struct bench_opts *o, const struct fill_env *env)
{
	static const char *const first[][2] = {
		{ "uffd-copy-4k", "userfaultfd methods" }, { "uffd-move-4k", "uffd-move methods" },
		{ "io_uring", "io_uring methods" }, { "io_uring-direct", "io_uring-direct" },
	};
	const char *prev = NULL;
	char buf[200];

	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
		const char *why = unavailable(env, first[i][0], buf, sizeof(buf));

		/* uffd-move and io_uring-direct fail for their family's reason too: said once. */
		if (why && (!prev || strcmp(why, prev)))
			bench_note(o, "fill", "%s skipped: %s", first[i][1], why);
		prev = why;
	}
}

/* Every repetition of method @m, one row; 0 or -errno. */
static int run_method(struct fill *f, const struct fill_method *m, bool cold, struct err *err)
{
	double secs[BENCH_REPEAT];
	int ret;

	for (int r = 0; r < BENCH_REPEAT; r++) {
		char *t = target(f);
		double t0;

		if (!t)
			return err_sys(err, "mmap of the target at %#llx", (unsigned long long)f->base);
		if (cold)
			make_cold(f);
		t0 = now_ns() / 1e9;
		ret = m->run(f, t, &t0, err);
		secs[r] = now_ns() / 1e9 - t0;
		if (!ret && memcmp(t, f->src, f->bytes) && strcmp(m->name, "ref:seq-read"))
			ret = err_set(err, EIO, "filled wrong data");
		drop(f, t);
		if (ret)
			return err_wrap(err, "%s", m->name);
	}
	bench_fill_row(f->o, m->name, m->what, cold, m->reference, f->bytes, secs, BENCH_REPEAT);
	return 0;
}

int bench_fill(const struct bench_opts *o, struct err *err)
{
	struct fill f = { .o = o, .fd = -1, .dfd = -1, .base = BENCH_BASE,
			  .bytes = o->fill_mib << 20, .ps = getpagesize() };
	struct fill_env env = { .uffd = "" };
	bool cold_possible;
	char why[200];
	const char *no;
	int ret = 0;

	f.src = aligned_alloc(f.ps, f.bytes);
	if (!f.src)
		return err_set(err, ENOMEM, "%llu MiB for the source data",
			       (unsigned long long)o->fill_mib);
	ret = write_image(&f, o->scratch, err);
	if (ret) {
		free(f.src);
		return ret;
	}
	f.fd = f.img.pages_fd;
	snprintf(f.path, sizeof(f.path), "%s/pages.img", o->scratch);
	fill_env_probe(&f, &env);
	/* The one method asked for: that it cannot run is the answer. */
	no = o->method ? unavailable(&env, o->method, why, sizeof(why)) : NULL;
	if (no) {
		ret = err_set(err, EOPNOTSUPP, "--method %s: %s", o->method, no);
		goto out;
	}
	if (!o->method)
		notes(o, &env);
	cold_possible = make_cold(&f);
	if (!cold_possible)
		bench_note(o, "fill", "cold page cache not possible: %s keeps its pages (tmpfs?); "
			   "only warm runs", o->dir);
	for (int cold = 0; !ret && cold <= 1; cold++) {
		if (cold && !cold_possible)
			break;
		for (size_t m = 0; !ret && m < sizeof(methods) / sizeof(methods[0]); m++) {
			if (o->method && strcmp(o->method, methods[m].name))
				continue;
			if (unavailable(&env, methods[m].name, why, sizeof(why)))
				continue;
			if (cold && methods[m].reference && strcmp(methods[m].name, "ref:seq-read"))
				continue;	/* memory-to-memory: no cache to be cold */
			ret = run_method(&f, &methods[m], cold, err);
		}
	}
out:
	if (f.dfd >= 0)
		close(f.dfd);
	img_close(&f.img);
	free(f.src);
	return ret;
}

const char *bench_fill_method(size_t i)
{
	return i < sizeof(methods) / sizeof(methods[0]) ? methods[i].name : NULL;
}
