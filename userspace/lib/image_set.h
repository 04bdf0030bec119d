/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Iterated pre-copy, as CRIU's chain of pre-dumps: a set directory holds
 * rounds 1/, 2/, ... N/, each a complete image (image.h) with the VMAs of
 * its time. Round 1 holds every page, round k > 1 the pages written since
 * round k - 1; the last round, taken at the freeze, may hold lazy entries
 * (and only it may), often nothing else.
 *
 * A page's newest data is in the last round that holds it. The fill goes
 * through the rounds in order and leaves, in each, what a later round
 * holds: every page is written once, with its newest data, and the lazy
 * ones stay missing for the handler.
 */
#ifndef LAZYRESTORE_IMAGE_SET_H
#define LAZYRESTORE_IMAGE_SET_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "runs.h"

struct img_round {
	struct image img;	/* errors it gives name "k/pages.img" and so on */
	/*
	 * Data pages of img the fill must leave: a later round holds them
	 * (data or lazy), or the last round's VMAs no longer cover them.
	 * Empty for the last round.
	 */
	struct runs skip;
	uint64_t data_pages;	/* in its pages.img */
	uint64_t data_bytes;
	uint64_t fill_pages;	/* data_pages less skip: what the fill writes from it */
};

struct image_set {
	struct img_round *round;	/* round[0] is 1/ */
	size_t n;
	const struct vma_rec *vmas;	/* the last round's: what the destination maps */
	size_t nvmas;
	const struct runs *lazy;	/* the last round's lazy entries */
	uint64_t data_pages;		/* all rounds: a page sent in two counts twice */
	uint64_t data_bytes;
	uint64_t fill_pages;		/* each page the fill writes, once */
	uint64_t lazy_pages;
};

/*
 * Writer: round @round of the set in @dir, written with img_writer_add()
 * and img_writer_add_lazy(), finished by img_writer_finish() (a round is
 * finished once its mm.img is there) or dropped by img_writer_abort().
 * Round 1 creates @dir (0700) if need be and refuses one holding rounds
 * already (img_set_remove() an old set first); round k > 1 wants round
 * k - 1 finished and no k/ yet. Each round directory is made 0700.
 */
int img_set_round_open(struct img_writer *w, const char *dir, unsigned int round,
		       uint32_t page_size, struct err *err);

/*
 * Reader: every round, in order, each checked as img_open() does. Refuses
 * an empty set, a gap in the numbering, lazy entries before the last
 * round; err->file names the round ("2/pagemap.img", or "2" for its
 * directory, "." for the set's). Each round keeps its pages.img open.
 */
int img_set_open(struct image_set *set, const char *dir, struct err *err);
void img_set_close(struct image_set *set);

/*
 * Deletes a set: the files an image writer makes in each round, the
 * round directories, then @dir. Refuses, deleting nothing, when @dir holds
 * anything else (a symlink included); a missing @dir is already removed.
 */
int img_set_remove(const char *dir, struct err *err);

#endif
