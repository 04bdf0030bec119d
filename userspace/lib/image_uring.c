// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_uring.h"

struct slot {
	char *bounce;
	size_t entry;
	void *data;
};

static int uring_fail(struct err *err, int code, const char *what)
{
	snprintf(err->file, sizeof(err->file), "pages.img");
	err->offset = 0;
	snprintf(err->msg, sizeof(err->msg), "io_uring %s: %s", what, strerror(-code));
	return code;
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
		return ret == -ENOSYS || ret == -EPERM ? -ENOSYS : uring_fail(err, ret, "setup");
	for (size_t i = 0; i < img->n; i++)
		if (img->e[i].nr_pages * img->page_size > max_len)
			max_len = img->e[i].nr_pages * img->page_size;
	for (int s = 0; s < IMG_URING_DEPTH; s++) {
		slot[s].bounce = malloc(max_len ? max_len : 1);
		if (!slot[s].bounce) {
			ret = uring_fail(err, -ENOMEM, "bounce buffers");
			goto out;
		}
		free_slots[nfree++] = s;
	}
	while (done < img->n) {
		struct io_uring_cqe *cqe;
		size_t prepared = 0;

		while (next < img->n && nfree) {
			const struct page_entry *e = &img->e[next];
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			int s = free_slots[--nfree];

			slot[s].entry = next;
			slot[s].data = sink->place(sink->ctx, next, slot[s].bounce);
			io_uring_prep_read(sqe, img->pages_fd, slot[s].data, e->nr_pages * img->page_size,
					   e->offset);
			io_uring_sqe_set_data64(sqe, s);
			next++;
			inflight++;
			prepared++;
		}
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0) {
			inflight -= prepared;	/* none of this round reached the kernel */
			uring_fail(err, ret, "submit");
			goto out;
		}
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			int s = io_uring_cqe_get_data64(cqe), res = cqe->res;

			io_uring_cqe_seen(&ring, cqe);
			inflight--;
			/* A short read of a regular file is its end: the check says truncated. */
			ret = img_check_entry(img, slot[s].entry, slot[s].data, res, err);
			if (!ret)
				ret = sink->land(sink->ctx, slot[s].entry, slot[s].data);
			if (ret)
				goto out;
			free_slots[nfree++] = s;
			done++;
		}
	}
	ret = 0;
out:
	/* Reads still in flight write into the slots: let them land before freeing. */
	while (inflight) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&ring, &cqe))
			break;
		io_uring_cqe_seen(&ring, cqe);
		inflight--;
	}
	io_uring_queue_exit(&ring);
	for (int s = 0; s < IMG_URING_DEPTH; s++)
		free(slot[s].bounce);
	return ret;
}
