// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lazy_set.h"
#include "tap.h"

#define PS	4096ULL
#define BASE	(1ULL << 32)

static uint64_t A(uint64_t page)
{
	return BASE + page * PS;
}

struct walk {
	struct lazy_extent prev;
	size_t n;
	uint64_t bytes;
	int bad;
};

/* Sorted, apart, and no two neighbours that should have merged. */
static void check_one(void *arg, const struct lazy_extent *e)
{
	struct walk *w = arg;

	if (!e->len || e->dst % PS || e->len % PS)
		w->bad++;
	if (w->n && (w->prev.dst + w->prev.len > e->dst ||
		     (w->prev.dst + w->prev.len == e->dst && w->prev.src + w->prev.len == e->src)))
		w->bad++;
	w->prev = *e;
	w->n++;
	w->bytes += e->len;
}

static int canonical(const struct lazy_set *s)
{
	struct walk w = { .n = 0 };

	lazy_set_walk(s, check_one, &w);
	return !w.bad && w.n == s->n && w.bytes == s->bytes;
}

static void add_merges_and_refuses_overlap(struct tap *t)
{
	struct lazy_set s = LAZY_SET_INIT;
	uint64_t src;

	CHECK(t, lazy_set_add(&s, A(10), A(110), 5 * PS) == 0);
	CHECK(t, lazy_set_add(&s, A(20), A(120), 5 * PS) == 0);
	/* Fills the gap, continuing both in destination and source: one extent. */
	CHECK(t, lazy_set_add(&s, A(15), A(115), 5 * PS) == 0);
	CHECK(t, s.n == 1 && s.bytes == 15 * PS && canonical(&s));
	/* Adjacent in the destination only: stays apart. */
	CHECK(t, lazy_set_add(&s, A(25), A(500), PS) == 0);
	CHECK(t, s.n == 2 && canonical(&s));
	CHECK(t, lazy_set_add(&s, A(24), A(0), 2 * PS) == -EEXIST && s.n == 2);
	CHECK(t, lazy_set_add(&s, ~0ULL - PS, 0, 4 * PS) == -EINVAL);
	CHECK(t, lazy_set_find(&s, A(12), &src) && src == A(112));
	CHECK(t, lazy_set_find(&s, A(25), &src) && src == A(500));
	CHECK(t, !lazy_set_find(&s, A(9), NULL) && !lazy_set_find(&s, A(26), NULL));
	lazy_set_free(&s);
}

static void cut_splits_and_reports(struct tap *t)
{
	struct lazy_set s = LAZY_SET_INIT;
	struct lazy_extents out = LAZY_EXTENTS_INIT;

	lazy_set_add(&s, A(0), A(100), 10 * PS);
	lazy_set_add(&s, A(20), A(200), 10 * PS);
	CHECK(t, lazy_set_cut(&s, A(3), A(5), &out) == 0);	/* hole in the first */
	CHECK(t, lazy_set_cut(&s, A(8), A(22), &out) == 0);	/* tail + head */
	CHECK(t, s.n == 3 && s.bytes == (3 + 3 + 8) * PS && canonical(&s));
	CHECK(t, out.n == 3);
	CHECK(t, out.n == 3 && out.v[0].dst == A(3) && out.v[0].src == A(103) &&
	      out.v[0].len == 2 * PS);
	CHECK(t, out.n == 3 && out.v[1].dst == A(8) && out.v[1].len == 2 * PS);
	CHECK(t, out.n == 3 && out.v[2].dst == A(20) && out.v[2].src == A(200) &&
	      out.v[2].len == 2 * PS);
	lazy_extents_free(&out);
	lazy_set_free(&s);
}

static void move_keeps_sources(struct tap *t)
{
	struct lazy_set s = LAZY_SET_INIT;
	uint64_t src, dropped;

	lazy_set_add(&s, A(0), A(0), 16 * PS);
	lazy_set_add(&s, A(100), A(1000), 4 * PS);	/* in the way of the move: dropped */
	CHECK(t, lazy_set_move(&s, A(4), A(98), 8 * PS, &dropped) == 0);
	CHECK(t, dropped == 4 * PS);
	CHECK(t, lazy_set_find(&s, A(98), &src) && src == A(4));
	CHECK(t, lazy_set_find(&s, A(105), &src) && src == A(11));
	CHECK(t, !lazy_set_find(&s, A(4), NULL) && !lazy_set_find(&s, A(106), NULL));
	CHECK(t, s.bytes == 16 * PS && canonical(&s));
	lazy_set_free(&s);
}

/* Every operation against a page map, on sets large enough to split blocks. */
static void random_against_model(struct tap *t)
{
	enum { PAGES = 6000 };
	static int64_t m[PAGES], m2[PAGES];
	unsigned int seed = 7;
	size_t most = 0;

	for (int round = 0; round < 20; round++) {
		struct lazy_set s = LAZY_SET_INIT, c = LAZY_SET_INIT;
		struct lazy_extent front[64];

		for (int p = 0; p < PAGES; p++)
			m[p] = -1;
		for (int op = 0; op < 3000; op++) {
			uint64_t a = rand_r(&seed) % PAGES, l = 1 + rand_r(&seed) % 40, src;
			int kind = rand_r(&seed) % 10;

			if (a + l > PAGES)
				l = PAGES - a;
			if (kind < 5) {
				bool free_ = true;

				/* Source: sometimes continuing a neighbour, so merges happen. */
				src = rand_r(&seed) % 2 ? a + 7 : a * 3 + 100000;
				for (uint64_t p = a; p < a + l; p++)
					free_ &= m[p] < 0;
				CHECK(t, lazy_set_add(&s, A(a), A(src), l * PS) ==
					 (free_ ? 0 : -EEXIST));
				for (uint64_t p = a; free_ && p < a + l; p++)
					m[p] = src + (p - a);
			} else if (kind < 7) {
				struct lazy_extents out = LAZY_EXTENTS_INIT;
				uint64_t want = 0, got = 0;

				for (uint64_t p = a; p < a + l; p++)
					want += m[p] >= 0;
				CHECK(t, lazy_set_cut(&s, A(a), A(a + l), &out) == 0);
				for (size_t i = 0; i < out.n; i++) {
					for (uint64_t q = 0; q < out.v[i].len / PS; q++) {
						uint64_t p = (out.v[i].dst - BASE) / PS + q;
						int64_t sp = (out.v[i].src - BASE) / PS + q;

						CHECK(t, p >= a && p < a + l && sp == m[p]);
						m[p] = -1;
					}
					got += out.v[i].len / PS;
				}
				CHECK(t, got == want);
				lazy_extents_free(&out);
			} else if (kind < 9) {
				uint64_t to = rand_r(&seed) % PAGES, dropped, want = 0;

				if (to + l > PAGES)
					to = PAGES - l;
				memcpy(m2, m, sizeof(m));
				for (uint64_t p = a; p < a + l; p++)
					m2[p] = -1;
				for (uint64_t p = to; p < to + l; p++)
					want += m2[p] >= 0;
				for (uint64_t p = 0; p < l; p++)
					m2[to + p] = m[a + p];
				CHECK(t, lazy_set_move(&s, A(a), A(to), l * PS, &dropped) == 0);
				CHECK(t, dropped == want * PS);
				memcpy(m, m2, sizeof(m));
			} else {
				size_t n = lazy_set_take_front(&s, l * PS, front, 1 + l % 8);
				uint64_t taken = 0;

				for (size_t i = 0; i < n; i++) {
					for (uint64_t q = 0; q < front[i].len / PS; q++) {
						uint64_t p = (front[i].dst - BASE) / PS + q;
						int64_t sp = (front[i].src - BASE) / PS + q;

						CHECK(t, sp == m[p]);
						m[p] = -1;
					}
					taken += front[i].len;
				}
				CHECK(t, taken <= l * PS);
				/* Nothing below what was taken is left. */
				if (n && s.n) {
					uint64_t lo = (front[n - 1].dst - BASE) / PS;

					for (uint64_t p = 0; p < lo; p++)
						CHECK(t, m[p] < 0);
				}
			}
			if (s.n > most)
				most = s.n;
		}
		CHECK(t, canonical(&s));
		CHECK(t, lazy_set_copy(&c, &s) == 0 && c.n == s.n && c.bytes == s.bytes);
		for (int p = 0; p < PAGES; p++) {
			uint64_t src = 0;
			bool in = lazy_set_find(&s, A(p), &src);

			CHECK(t, in == (m[p] >= 0));
			CHECK(t, !in || src == A(m[p]));
			CHECK(t, lazy_set_find(&c, A(p), NULL) == in);
		}
		lazy_set_free(&s);
		lazy_set_free(&c);
	}
	/* Enough extents that blocks split and empty out. */
	CHECK(t, most > 2 * 64);
	printf("# at most %zu extents\n", most);
}

int main(void)
{
	struct tap t = { 0 };

	RUN(&t, add_merges_and_refuses_overlap);
	RUN(&t, cut_splits_and_reports);
	RUN(&t, move_keeps_sources);
	RUN(&t, random_against_model);
	return tap_done(&t);
}
