/* SPDX-License-Identifier: GPL-2.0 */
/* The run's image directory: made new, and removed whatever ends the run. */
#ifndef LAZYRESTORE_IMAGE_DIR_H
#define LAZYRESTORE_IMAGE_DIR_H

#include <limits.h>

#include "err.h"

struct image_dir {
	char path[PATH_MAX];
	int created;		/* ours to remove */
};

/*
 * --images @given must not exist (the run writes and deletes in it, as
 * root): it is made 0700. Without it, a fresh mkdtemp() directory under
 * $TMPDIR or /tmp. -EEXIST, -ENOENT, ... with @e naming the path.
 */
int image_dir_make(struct image_dir *d, const char *given, struct err *e);
/*
 * Remove it and everything under it. Async-signal-safe (raw syscalls and
 * stack buffers only), so that a fatal signal's handler can call it.
 * Returns 0 or a negative errno.
 */
int image_dir_remove(struct image_dir *d);
/* The same with a void *, for fatal_signal_on(). */
void image_dir_remove_hook(void *d);

#endif
