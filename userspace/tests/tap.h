/* SPDX-License-Identifier: GPL-2.0 */
/* Minimal TAP output for the unit tests: one "ok N name" line per test. */
#ifndef LAZYRESTORE_TAP_H
#define LAZYRESTORE_TAP_H

#include <stdio.h>

struct tap {
	int n;
	int failed;
	int case_failed;
};

#define CHECK(t, cond) do {						\
	if (!(cond)) {							\
		printf("# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		(t)->case_failed = 1;					\
	}								\
} while (0)

#define RUN(t, fn) do {							\
	(t)->case_failed = 0;						\
	fn(t);								\
	printf("%sok %d %s\n", (t)->case_failed ? "not " : "", ++(t)->n, #fn); \
	(t)->failed += (t)->case_failed;				\
} while (0)

static inline int tap_done(struct tap *t)
{
	printf("1..%d\n# %d passed, %d failed\n", t->n, t->n - t->failed, t->failed);
	return t->failed ? 1 : 0;
}

#endif
