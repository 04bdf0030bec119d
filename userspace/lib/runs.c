// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runs.h"

static int reserve(struct runs *r, size_t n)
{
	struct run *v;
	size_t cap;

	if (n <= r->cap)
		return 0;
	cap = r->cap ? r->cap * 2 : 16;
	while (cap < n)
		cap *= 2;
	v = realloc(r->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->v = v;
	r->cap = cap;
	return 0;
}

/* Index of the first run that ends at or after @page (may touch it). */
static size_t first_touching(const struct runs *r, uint64_t page)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->v[mid].start + r->v[mid].len < page)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int runs_add(struct runs *r, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;
	size_t i, j;

	if (!len)
		return 0;
	if (end < start)
		return -EINVAL;
	i = first_touching(r, start);
	/* Runs i..j-1 overlap or touch [start, end): they merge into one. */
	for (j = i; j < r->n && r->v[j].start <= end; j++) {
		if (r->v[j].start < start)
			start = r->v[j].start;
		if (r->v[j].start + r->v[j].len > end)
			end = r->v[j].start + r->v[j].len;
	}
	if (j == i) {
		if (reserve(r, r->n + 1))
			return -ENOMEM;
		memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(*r->v));
		r->n++;
	} else {
		memmove(&r->v[i + 1], &r->v[j], (r->n - j) * sizeof(*r->v));
		r->n -= j - i - 1;
	}
	r->v[i] = (struct run){ start, end - start };
	return 0;
}

int runs_subtract(const struct runs *from, const struct runs *drop, struct runs *out)
{
	size_t i, j = 0;

	for (i = 0; i < from->n; i++) {
		uint64_t start = from->v[i].start, end = start + from->v[i].len;

		while (j < drop->n && drop->v[j].start + drop->v[j].len <= start)
			j++;
		for (size_t k = j; k < drop->n && drop->v[k].start < end; k++) {
			if (drop->v[k].start > start && runs_add(out, start, drop->v[k].start - start))
				return -ENOMEM;
			if (drop->v[k].start + drop->v[k].len > start)
				start = drop->v[k].start + drop->v[k].len;
		}
		if (start < end && runs_add(out, start, end - start))
			return -ENOMEM;
	}
	return 0;
}

int runs_intersect(const struct runs *a, const struct runs *b, struct runs *out)
{
	size_t i = 0, j = 0;

	while (i < a->n && j < b->n) {
		uint64_t s = a->v[i].start > b->v[j].start ? a->v[i].start : b->v[j].start;
		uint64_t ea = a->v[i].start + a->v[i].len, eb = b->v[j].start + b->v[j].len;
		uint64_t e = ea < eb ? ea : eb;

		if (s < e && runs_add(out, s, e - s))
			return -ENOMEM;
		if (ea < eb)
			i++;
		else
			j++;
	}
	return 0;
}

bool runs_contains(const struct runs *r, uint64_t page)
{
	size_t i = first_touching(r, page + 1);

	/* first_touching(page + 1) is the first run ending at or after page + 1. */
	return i < r->n && r->v[i].start <= page && page < r->v[i].start + r->v[i].len;
}

uint64_t runs_pages(const struct runs *r)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < r->n; i++)
		n += r->v[i].len;
	return n;
}

void runs_free(struct runs *r)
{
	free(r->v);
	*r = (struct runs)RUNS_INIT;
}
