// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lazy_set.h"

/* Extents a block holds: small enough that a memmove inside one is cheap. */
#define BLOCK 64

struct lazy_set_block {
	size_t n;
	struct lazy_extent e[BLOCK];
};

/* An extent's place: block b, index i in it; b == nb is past the end. */
struct pos {
	size_t b, i;
};

static uint64_t end_of(const struct lazy_extent *e)
{
	return e->dst + e->len;
}

static struct lazy_extent *at(const struct lazy_set *s, struct pos p)
{
	return &s->b[p.b]->e[p.i];
}

/* Past the end of its block means the start of the next one. */
static struct pos norm(const struct lazy_set *s, struct pos p)
{
	if (p.b < s->nb && p.i >= s->b[p.b]->n) {
		p.b++;
		p.i = 0;
	}
	return p;
}

/* The first extent that ends after @addr: the one holding it, or the next. */
static struct pos lower(const struct lazy_set *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nb, l, h;
	const struct lazy_set_block *b;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		b = s->b[mid];
		if (end_of(&b->e[b->n - 1]) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->nb)
		return (struct pos){ s->nb, 0 };
	b = s->b[lo];
	l = 0;
	h = b->n;
	while (l < h) {
		size_t mid = l + (h - l) / 2;

		if (end_of(&b->e[mid]) <= addr)
			l = mid + 1;
		else
			h = mid;
	}
	return (struct pos){ lo, l };
}

static int reserve_blocks(struct lazy_set *s, size_t n)
{
	struct lazy_set_block **b;
	size_t cap;

	if (n <= s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 8;
	while (cap < n)
		cap *= 2;
	b = realloc(s->b, cap * sizeof(*b));
	if (!b)
		return -ENOMEM;
	s->b = b;
	s->cap = cap;
	return 0;
}

/* Insert @x before position @p. Allocates first, so a failure changes nothing. */
static int insert_at(struct lazy_set *s, struct pos p, const struct lazy_extent *x)
{
	struct lazy_set_block *b;

	if (p.b == s->nb && s->nb) {
		p.b = s->nb - 1;
		p.i = s->b[p.b]->n;
	}
	if (!s->nb || s->b[p.b]->n == BLOCK) {
		struct lazy_set_block *nb = malloc(sizeof(*nb));

		if (!nb || reserve_blocks(s, s->nb + 1)) {
			free(nb);
			return -ENOMEM;
		}
		if (!s->nb) {
			nb->n = 0;
			s->b[s->nb++] = nb;
			p = (struct pos){ 0, 0 };
		} else {
			/* Split the full block: its upper half goes to the new one. */
			b = s->b[p.b];
			nb->n = BLOCK - BLOCK / 2;
			memcpy(nb->e, &b->e[BLOCK / 2], nb->n * sizeof(*nb->e));
			b->n = BLOCK / 2;
			memmove(&s->b[p.b + 2], &s->b[p.b + 1], (s->nb - p.b - 1) * sizeof(*s->b));
			s->b[p.b + 1] = nb;
			s->nb++;
			if (p.i > b->n) {
				p.i -= b->n;
				p.b++;
			}
		}
	}
	b = s->b[p.b];
	memmove(&b->e[p.i + 1], &b->e[p.i], (b->n - p.i) * sizeof(*b->e));
	b->e[p.i] = *x;
	b->n++;
	s->n++;
	s->bytes += x->len;
	return 0;
}

/* Remove the extent at @p; returns where the one after it now is. */
static struct pos delete_at(struct lazy_set *s, struct pos p)
{
	struct lazy_set_block *b = s->b[p.b];

	s->bytes -= b->e[p.i].len;
	s->n--;
	memmove(&b->e[p.i], &b->e[p.i + 1], (b->n - p.i - 1) * sizeof(*b->e));
	if (--b->n)
		return norm(s, p);
	free(b);
	memmove(&s->b[p.b], &s->b[p.b + 1], (s->nb - p.b - 1) * sizeof(*s->b));
	s->nb--;
	return (struct pos){ p.b, 0 };
}

int lazy_set_add(struct lazy_set *s, uint64_t dst, uint64_t src, uint64_t len)
{
	struct lazy_extent x = { dst, src, len }, *prev = NULL, *next = NULL;
	struct pos p;

	if (!len)
		return 0;
	if (dst + len < dst || src + len < src)
		return -EINVAL;
	p = lower(s, dst);
	if (p.b < s->nb) {
		next = at(s, p);
		if (next->dst < dst + len)
			return -EEXIST;
		if (next->dst != dst + len || next->src != src + len)
			next = NULL;
	}
	if (p.i)
		prev = &s->b[p.b]->e[p.i - 1];
	else if (p.b)
		prev = &s->b[p.b - 1]->e[s->b[p.b - 1]->n - 1];
	if (prev && (end_of(prev) != dst || prev->src + prev->len != src))
		prev = NULL;
	if (prev && next) {
		prev->len += len + next->len;
		s->bytes += len + next->len;
		delete_at(s, p);
	} else if (prev) {
		prev->len += len;
		s->bytes += len;
	} else if (next) {
		next->dst = dst;
		next->src = src;
		next->len += len;
		s->bytes += len;
	} else {
		return insert_at(s, p, &x);
	}
	return 0;
}

bool lazy_set_find(const struct lazy_set *s, uint64_t addr, uint64_t *src)
{
	struct pos p = lower(s, addr);
	const struct lazy_extent *e;

	if (p.b == s->nb)
		return false;
	e = at(s, p);
	if (e->dst > addr)
		return false;
	if (src)
		*src = e->src + (addr - e->dst);
	return true;
}

int lazy_set_cut(struct lazy_set *s, uint64_t start, uint64_t end, struct lazy_extents *out)
{
	struct pos p;

	if (start >= end)
		return 0;
	for (p = lower(s, start); p.b < s->nb;) {
		struct lazy_extent *e = at(s, p), took;
		uint64_t es = e->dst > start ? e->dst : start;
		uint64_t ee = end_of(e) < end ? end_of(e) : end;
		bool last = false;

		if (e->dst >= end)
			break;
		took = (struct lazy_extent){ es, e->src + (es - e->dst), ee - es };
		if (e->dst < start && end_of(e) > end) {
			/* The hole is inside: the tail becomes an extent of its own. */
			struct lazy_extent tail = { end, e->src + (end - e->dst), end_of(e) - end };
			uint64_t len = e->len;

			e->len = start - e->dst;
			s->bytes -= len - e->len;
			if (insert_at(s, (struct pos){ p.b, p.i + 1 }, &tail)) {
				e->len = len;
				s->bytes += len - e->len;
				return -ENOMEM;
			}
			last = true;
		} else if (e->dst < start) {
			s->bytes -= end_of(e) - start;
			e->len = start - e->dst;
			p = norm(s, (struct pos){ p.b, p.i + 1 });
		} else if (end_of(e) > end) {
			uint64_t k = end - e->dst;

			e->dst += k;
			e->src += k;
			e->len -= k;
			s->bytes -= k;
			last = true;
		} else {
			p = delete_at(s, p);
		}
		if (out && lazy_extents_push(out, took.dst, took.src, took.len))
			return -ENOMEM;
		if (last)
			break;
	}
	return 0;
}

int lazy_set_move(struct lazy_set *s, uint64_t from, uint64_t to, uint64_t len,
		  uint64_t *dropped)
{
	struct lazy_extents moved = LAZY_EXTENTS_INIT;
	uint64_t before;
	int ret = lazy_set_cut(s, from, from + len, &moved);

	before = s->bytes;
	if (!ret)
		ret = lazy_set_cut(s, to, to + len, NULL);
	if (dropped)
		*dropped = before - s->bytes;
	for (size_t i = 0; !ret && i < moved.n; i++)
		ret = lazy_set_add(s, moved.v[i].dst - from + to, moved.v[i].src, moved.v[i].len);
	lazy_extents_free(&moved);
	return ret;
}

size_t lazy_set_take_front(struct lazy_set *s, uint64_t max_bytes, struct lazy_extent *out,
			   size_t max_out)
{
	size_t n = 0;

	while (s->nb && n < max_out && max_bytes) {
		struct lazy_extent *e = at(s, (struct pos){ 0, 0 });

		if (e->len <= max_bytes) {
			out[n++] = *e;
			max_bytes -= e->len;
			delete_at(s, (struct pos){ 0, 0 });
		} else {
			out[n++] = (struct lazy_extent){ e->dst, e->src, max_bytes };
			e->dst += max_bytes;
			e->src += max_bytes;
			e->len -= max_bytes;
			s->bytes -= max_bytes;
			max_bytes = 0;
		}
	}
	return n;
}

int lazy_set_copy(struct lazy_set *to, const struct lazy_set *from)
{
	if (reserve_blocks(to, from->nb))
		return -ENOMEM;
	for (size_t i = 0; i < from->nb; i++) {
		to->b[i] = malloc(sizeof(*to->b[i]));
		if (!to->b[i]) {
			to->nb = i;
			lazy_set_free(to);
			return -ENOMEM;
		}
		memcpy(to->b[i], from->b[i], sizeof(*to->b[i]));
	}
	to->nb = from->nb;
	to->n = from->n;
	to->bytes = from->bytes;
	return 0;
}

void lazy_set_walk(const struct lazy_set *s, void (*fn)(void *arg, const struct lazy_extent *e),
		   void *arg)
{
	for (size_t b = 0; b < s->nb; b++)
		for (size_t i = 0; i < s->b[b]->n; i++)
			fn(arg, &s->b[b]->e[i]);
}

void lazy_set_free(struct lazy_set *s)
{
	for (size_t i = 0; i < s->nb; i++)
		free(s->b[i]);
	free(s->b);
	*s = (struct lazy_set)LAZY_SET_INIT;
}

int lazy_extents_push(struct lazy_extents *v, uint64_t dst, uint64_t src, uint64_t len)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		struct lazy_extent *n = realloc(v->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		v->v = n;
		v->cap = cap;
	}
	v->v[v->n++] = (struct lazy_extent){ dst, src, len };
	return 0;
}

void lazy_extents_free(struct lazy_extents *v)
{
	free(v->v);
	*v = (struct lazy_extents)LAZY_EXTENTS_INIT;
}
