/* SPDX-License-Identifier: GPL-2.0 */
/* pages.img read with io_uring: many runs in flight, each checked as it lands. */
#ifndef LAZYRESTORE_IMAGE_URING_H
#define LAZYRESTORE_IMAGE_URING_H

#include "image.h"

struct img_sink {
	/* Where run @i goes: the target memory itself, or @bounce (room for any run). */
	void *(*place)(void *ctx, size_t i, void *bounce);
	/* Run @i is in @data and its CRC is right; 0 or -errno. */
	int (*land)(void *ctx, size_t i, void *data);
	void *ctx;
};

/*
 * Every run of @img, in order of submission, IMG_URING_DEPTH in flight.
 * Returns 0, a negative errno with *err saying where, or -ENOSYS when
 * this kernel has no io_uring (the caller falls back to pread).
 */
#define IMG_URING_DEPTH 32
int img_read_uring(const struct image *img, const struct img_sink *sink, struct err *err);

struct io_uring;
/*
 * Before the buffers of a ring that stops early are freed: waits for the
 * @inflight entries queued on @ring, less those never submitted (they
 * are in no one's hands). Returns how many may still be running (0 when
 * all landed): their buffers must not be freed.
 */
unsigned long img_uring_drain(struct io_uring *ring, unsigned long inflight);

#endif
