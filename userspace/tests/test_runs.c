// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include "runs.h"
#include "tap.h"

static int same(const struct runs *r, const struct run *want, size_t n)
{
	return r->n == n && (!n || !memcmp(r->v, want, n * sizeof(*want)));
}

static void add_merges_adjacent_and_overlapping(struct tap *t)
{
	struct runs r = RUNS_INIT;

	runs_add(&r, 10, 5);	/* 10-14 */
	runs_add(&r, 20, 5);	/* 20-24 */
	runs_add(&r, 15, 5);	/* fills the gap: 10-24 */
	CHECK(t, same(&r, (struct run[]){ { 10, 15 } }, 1));
	runs_add(&r, 0, 3);
	runs_add(&r, 12, 1);	/* inside */
	runs_add(&r, 30, 1);
	CHECK(t, same(&r, (struct run[]){ { 0, 3 }, { 10, 15 }, { 30, 1 } }, 3));
	runs_add(&r, 2, 40);	/* swallows everything after 0 */
	CHECK(t, same(&r, (struct run[]){ { 0, 42 } }, 1));
	CHECK(t, runs_pages(&r) == 42);
	runs_free(&r);
}

static void add_rejects_wrap_and_ignores_empty(struct tap *t)
{
	struct runs r = RUNS_INIT;

	CHECK(t, runs_add(&r, 5, 0) == 0 && r.n == 0);
	CHECK(t, runs_add(&r, UINT64_MAX, 2) != 0 && r.n == 0);
	runs_free(&r);
}

static void subtract_splits_runs(struct tap *t)
{
	struct runs from = RUNS_INIT, drop = RUNS_INIT, out = RUNS_INIT;

	runs_add(&from, 0, 10);
	runs_add(&from, 20, 10);
	runs_add(&drop, 3, 2);		/* hole in the first */
	runs_add(&drop, 8, 14);		/* tail of the first, head of the second */
	runs_add(&drop, 29, 5);		/* last page of the second */
	CHECK(t, runs_subtract(&from, &drop, &out) == 0);
	CHECK(t, same(&out, (struct run[]){ { 0, 3 }, { 5, 3 }, { 22, 7 } }, 3));
	runs_free(&from);
	runs_free(&drop);
	runs_free(&out);
}

static void contains_and_intersect(struct tap *t)
{
	struct runs a = RUNS_INIT, b = RUNS_INIT, out = RUNS_INIT;

	runs_add(&a, 10, 10);
	runs_add(&b, 15, 10);
	CHECK(t, runs_contains(&a, 10) && runs_contains(&a, 19));
	CHECK(t, !runs_contains(&a, 9) && !runs_contains(&a, 20));
	CHECK(t, runs_intersect(&a, &b, &out) == 0);
	CHECK(t, same(&out, (struct run[]){ { 15, 5 } }, 1));
	runs_free(&a);
	runs_free(&b);
	runs_free(&out);
}

/* Random sets against a bitmap: runs stay canonical and mean the same pages. */
static void random_against_bitmap(struct tap *t)
{
	enum { PAGES = 512 };
	unsigned int seed = 42;

	for (int round = 0; round < 200; round++) {
		struct runs a = RUNS_INIT, b = RUNS_INIT, diff = RUNS_INIT, both = RUNS_INIT;
		unsigned char ma[PAGES] = { 0 }, mb[PAGES] = { 0 };

		for (int k = 0; k < 20; k++) {
			uint64_t s = rand_r(&seed) % PAGES, l = rand_r(&seed) % 16;

			if (s + l > PAGES)
				l = PAGES - s;
			runs_add(k % 2 ? &a : &b, s, l);
			memset((k % 2 ? ma : mb) + s, 1, l);
		}
		runs_subtract(&a, &b, &diff);
		runs_intersect(&a, &b, &both);
		for (uint64_t p = 0; p < PAGES; p++) {
			CHECK(t, runs_contains(&a, p) == ma[p]);
			CHECK(t, runs_contains(&diff, p) == (ma[p] && !mb[p]));
			CHECK(t, runs_contains(&both, p) == (ma[p] && mb[p]));
		}
		for (size_t i = 1; i < a.n; i++)
			CHECK(t, a.v[i - 1].start + a.v[i - 1].len < a.v[i].start);
		runs_free(&a);
		runs_free(&b);
		runs_free(&diff);
		runs_free(&both);
	}
}

int main(void)
{
	struct tap t = { 0 };

	RUN(&t, add_merges_adjacent_and_overlapping);
	RUN(&t, add_rejects_wrap_and_ignores_empty);
	RUN(&t, subtract_splits_runs);
	RUN(&t, contains_and_intersect);
	RUN(&t, random_against_bitmap);
	return tap_done(&t);
}
