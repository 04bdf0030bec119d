// SPDX-License-Identifier: GPL-2.0
/* The arena's model and the checks of the kernel against it. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "model.h"

int arena_init(struct arena *a, unsigned int id, uint64_t base, size_t npages, long ps)
{
	memset(a, 0, sizeof(*a));
	a->pg = calloc(npages, sizeof(*a->pg));
	if (!a->pg)
		return -1;
	a->id = id;
	a->base = base;
	a->npages = npages;
	a->ps = ps;
	a->next_seg = 1;
	a->next_key = 1;
	return 0;
}

void arena_free(struct arena *a)
{
	free(a->pg);
	a->pg = NULL;
}

/* splitmix64's finaliser: every bit of the input reaches every bit of the word. */
static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t pattern_word(unsigned int id, uint32_t key, size_t i)
{
	/* Never 0: a zeroed word is never a pattern's. */
	return mix(((uint64_t)id << 52) ^ ((uint64_t)key << 20) ^ i) | 1;
}

void pattern_fill(void *page, long ps, unsigned int id, uint32_t key)
{
	uint64_t *w = page;

	for (size_t i = 0; i < (size_t)ps / 8; i++)
		w[i] = pattern_word(id, key, i);
}

int pattern_check(const void *page, long ps, unsigned int id, uint32_t key, bool full)
{
	const volatile uint64_t *w = page;
	size_t nw = ps / 8, step = full ? 1 : nw / 8;

	for (size_t i = 0; i < nw; i += step)
		if (w[i] != (key ? pattern_word(id, key, i) : 0))
			return -1;
	return 0;
}

void model_after_fork(struct arena *a)
{
	uint32_t seg = 0, prev_old = 0;
	bool prev_mapped = false;

	for (size_t p = 0; p < a->npages; p++) {
		struct page_model *m = &a->pg[p];
		uint32_t old = m->seg;

		if (m->state == P_UNMAPPED) {
			prev_mapped = false;
			continue;
		}
		/* The page before still has its registration: it is cleared below. */
		if (!prev_mapped || prev_old != old || !same_vma_flags(&a->pg[p - 1], m))
			seg = a->next_seg++;
		m->seg = seg;
		prev_old = old;
		prev_mapped = true;
		if (m->state == P_LAZY) {
			m->state = P_ZERO;
			m->key = 0;
		}
	}
	for (size_t p = 0; p < a->npages; p++)
		a->pg[p].uffd = 0;
}

void finding_add(struct finding *f, const char *fmt, ...)
{
	va_list ap;

	if (f->n++)
		return;
	va_start(ap, fmt);
	vsnprintf(f->what, sizeof(f->what), fmt, ap);
	va_end(ap);
}

bool same_vma_flags(const struct page_model *x, const struct page_model *y)
{
	return x->prot == y->prot && x->adv == y->adv && x->uffd == y->uffd;
}

static bool has_flag(const char *flags, const char *f)
{
	size_t n = strlen(f);

	for (const char *p = flags; (p = strstr(p, f)); p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static const char *adv_name(int adv)
{
	return adv == ADV_HG ? "hg" : adv == ADV_NH ? "nh" : "neither";
}

/* The flags the model gives page @p, against the kernel's VMA @v. */
static void check_page_flags(const struct arena *a, size_t p, const struct vma_info *v,
			     struct finding *f)
{
	const struct page_model *m = &a->pg[p];
	int adv = v->hg ? ADV_HG : v->nh ? ADV_NH : ADV_NONE;
	bool rd = has_flag(v->flags, "rd"), wr = has_flag(v->flags, "wr");
	bool um = has_flag(v->flags, "um");

	if (adv != m->adv)
		finding_add(f, "page %#lx: VMA %#lx-%#lx is %s, the model says %s",
			    (unsigned long)arena_addr(a, p), (unsigned long)v->start,
			    (unsigned long)v->end, adv_name(adv), adv_name(m->adv));
	if (rd != !!(m->prot & PROT_READ) || wr != !!(m->prot & PROT_WRITE))
		finding_add(f, "page %#lx: VMA %#lx-%#lx has \"%s\", the model's protection is %d",
			    (unsigned long)arena_addr(a, p), (unsigned long)v->start,
			    (unsigned long)v->end, v->flags, m->prot);
	if (um != !!m->uffd)
		finding_add(f, "page %#lx: VMA %#lx-%#lx is %sregistered with userfaultfd, the model "
			    "says %s", (unsigned long)arena_addr(a, p), (unsigned long)v->start,
			    (unsigned long)v->end, um ? "" : "not ", m->uffd ? "it is" : "it is not");
}

void model_check_vmas(const struct arena *a, const struct vma_info *v, size_t n,
		      struct finding *f, size_t *nvmas)
{
	uint64_t end = arena_addr(a, a->npages);
	size_t k = 0;
	long prev = -1;		/* the kernel VMA of the page before, -1 none */

	*nvmas = 0;
	for (size_t i = 0; i < n; i++)
		*nvmas += v[i].start < end && v[i].end > a->base;
	for (size_t p = 0; p < a->npages; p++) {
		uint64_t addr = arena_addr(a, p);
		long cur = -1;

		while (k < n && v[k].end <= addr)
			k++;
		if (k < n && v[k].start <= addr)
			cur = (long)k;
		if ((cur >= 0) != (a->pg[p].state != P_UNMAPPED)) {
			finding_add(f, "page %#lx: %s, the model says it is %s", (unsigned long)addr,
				    cur >= 0 ? "mapped" : "not mapped",
				    cur >= 0 ? "not" : "mapped");
		} else if (cur >= 0) {
			check_page_flags(a, p, &v[cur], f);
			if (prev >= 0 && prev != cur && a->pg[p - 1].seg == a->pg[p].seg &&
			    same_vma_flags(&a->pg[p - 1], &a->pg[p]))
				finding_add(f, "VMAs %#lx-%#lx and %#lx-%#lx not merged: one mapping, "
					    "equal flags (\"%s\")", (unsigned long)v[prev].start,
					    (unsigned long)v[prev].end, (unsigned long)v[cur].start,
					    (unsigned long)v[cur].end, v[cur].flags);
		}
		prev = cur;
	}
}

void model_check_lazy(const struct arena *a, const uint64_t *pm, struct finding *f)
{
	for (size_t p = 0; p < a->npages; p++)
		if (a->pg[p].state == P_LAZY && (pm[p] & (PM_PRESENT | PM_SWAP)))
			finding_add(f, "page %#lx: a registered hole populated before the server served it "
				    "(pagemap %#llx)", (unsigned long)arena_addr(a, p),
				    (unsigned long long)pm[p]);
}
