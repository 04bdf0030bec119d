// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_uring.h"

struct slot {
	char *bounce;
	size_t entry;
	void *data;
};

/* An error in pages.img at @offset (of @img's round); returns -@code. */
static int fail_at(const struct image *img, struct err *err, uint64_t offset, int code,
		   const char *fmt, ...) ERR_PRINTF(5, 6);
static int fail_at(const struct image *img, struct err *err, uint64_t offset, int code,
		   const char *fmt, ...)
{
	char file[sizeof(err->file)], msg[sizeof(err->msg)];
	va_list ap;

	snprintf(file, sizeof(file), "%spages.img", img->label);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_at(err, file, offset, code, "%s", msg);
}

/*
 * A free submission entry. With a ring as deep as the slots, every
 * entry the kernel has not consumed holds a slot, so one is free
 * whenever a slot is; were the ring ever shorter, the queued entries
 * are submitted to make room. NULL if there is still none.
 */
static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe && io_uring_submit(ring) >= 0)
		sqe = io_uring_get_sqe(ring);
	return sqe;
}

int img_read_uring(const struct image *img, const struct img_sink *sink, struct err *err)
{
	struct slot slot[IMG_URING_DEPTH] = { 0 };
	int free_slots[IMG_URING_DEPTH], nfree = 0, ret;
	uint64_t max_len = 0;
	size_t next = 0, done = 0, inflight = 0;
	struct io_uring ring;

	ret = io_uring_queue_init(IMG_URING_DEPTH, &ring, 0);
	if (ret)
		return ret == -ENOSYS || ret == -EPERM ? -ENOSYS :
		       fail_at(img, err, 0, -ret, "io_uring setup: %s", strerror(-ret));
	for (size_t i = 0; i < img->n; i++)
		if (img->e[i].nr_pages * img->page_size > max_len)
			max_len = img->e[i].nr_pages * img->page_size;
	for (int s = 0; s < IMG_URING_DEPTH; s++) {
		slot[s].bounce = malloc(max_len ? max_len : 1);
		if (!slot[s].bounce) {
			ret = fail_at(img, err, 0, ENOMEM, "io_uring: bounce buffers: %s",
				      strerror(ENOMEM));
			goto out;
		}
		free_slots[nfree++] = s;
	}
	while (done < img->n) {
		struct io_uring_cqe *cqe;

		while (next < img->n && nfree) {
			const struct page_entry *e = &img->e[next];
			struct io_uring_sqe *sqe = get_sqe(&ring);
			int s;

			if (!sqe) {
				ret = fail_at(img, err, e->offset, EBUSY,
					      "io_uring: no submission entry free");
				goto out;
			}
			s = free_slots[--nfree];
			slot[s].entry = next;
			slot[s].data = sink->place(sink->ctx, next, slot[s].bounce);
			io_uring_prep_read(sqe, img->pages_fd, slot[s].data, e->nr_pages * img->page_size,
					   e->offset);
			io_uring_sqe_set_data64(sqe, s);
			next++;
			inflight++;
		}
		ret = io_uring_submit_and_wait(&ring, 1);
		/* A signal in the wait: what was queued went in, or goes in next time round. */
		if (ret < 0 && ret != -EINTR) {
			fail_at(img, err, 0, -ret, "io_uring submit: %s", strerror(-ret));
			goto out;
		}
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			int s = io_uring_cqe_get_data64(cqe), res = cqe->res;

			io_uring_cqe_seen(&ring, cqe);
			inflight--;
			/* A short read of a regular file is its end: the check says truncated. */
			ret = img_check_entry(img, slot[s].entry, slot[s].data, res, err);
			if (ret)
				goto out;
			/* The sink says 0 or -errno, and nothing of where: said here. */
			ret = sink->land(sink->ctx, slot[s].entry, slot[s].data);
			if (ret) {
				fail_at(img, err, img->e[slot[s].entry].offset, -ret,
					"run %zu read, but not put in place: %s", slot[s].entry,
					strerror(-ret));
				goto out;
			}
			free_slots[nfree++] = s;
			done++;
		}
	}
	ret = 0;
out:
	/* The rest write into the slots: let them land before freeing. */
	inflight = img_uring_drain(&ring, inflight);
	io_uring_queue_exit(&ring);
	/* Reads that may still be running keep their buffers: leaked rather than written after free. */
	for (int s = 0; !inflight && s < IMG_URING_DEPTH; s++)
		free(slot[s].bounce);
	return ret;
}

unsigned long img_uring_drain(struct io_uring *ring, unsigned long inflight)
{
	unsigned long unsubmitted = io_uring_sq_ready(ring);

	inflight -= inflight < unsubmitted ? inflight : unsubmitted;
	while (inflight) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(ring, &cqe);

		if (r == -EINTR)
			continue;
		if (r)
			break;
		io_uring_cqe_seen(ring, cqe);
		inflight--;
	}
	return inflight;
}
