// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "numa_policy.h"
#include "uffd.h"
#include "uffd_move.h"
#include "thp_advice.h"

int uffd_mover_init(struct uffd_mover *m, int uffd, const struct vma_rec *v, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->uffd = uffd;
	m->ps = getpagesize();
	if (!n)
		return 0;
	m->lo = v[0].start & ~(PMD_BYTES - 1);
	m->nranges = (v[n - 1].end - m->lo + PMD_BYTES - 1) / PMD_BYTES;
	m->want = calloc(m->nranges, sizeof(*m->want));
	m->landed = calloc(m->nranges, sizeof(*m->landed));
	m->st = calloc(n, sizeof(*m->st));
	if (!m->want || !m->landed || !m->st) {
		uffd_mover_free(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct uffd_stage *s = &m->st[i];
		uint64_t len = v[i].end - v[i].start;
		struct vma_rec staged = v[i];
		char *map;

		/* Room for one 2 MiB shift: the copy lines up with the target's THP ranges. */
		map = mmap(NULL, len + PMD_BYTES, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (map == MAP_FAILED) {
			uffd_mover_free(m);
			return -errno;
		}
		m->n = i + 1;
		*s = (struct uffd_stage){ .start = v[i].start, .end = v[i].end, .map = map,
					  .map_len = len + PMD_BYTES,
					  .at = map + ((v[i].start - (uint64_t)map) & (PMD_BYTES - 1)),
					  /* UFFDIO_MOVE wants both VMAs with the same access flags, and writable */
					  .move = v[i].prot == (PROT_READ | PROT_WRITE),
					  .thp = v[i].thp };
		staged.start = (uint64_t)s->at;
		staged.end = staged.start + len;
		if (numa_apply(&staged)) {
			int err = errno;

			uffd_mover_free(m);
			return -err;
		}
	}
	return 0;
}

/* Range @r at @pmd comes whole from the image, and lies in one VMA: one move. */
static bool whole(const struct uffd_mover *m, const struct uffd_stage *s, size_t r, uint64_t pmd)
{
	return m->want[r] == PMD_BYTES / m->ps && s->start <= pmd && pmd + PMD_BYTES <= s->end;
}

/*
 * A whole range takes the VMA's advice: a THP the read gets there is one a
 * fault would have got, and it moves as one PMD. Anywhere else a THP would
 * only be zeroed to be split by the first move: MADV_NOHUGEPAGE.
 */
static int advise(const struct uffd_stage *s, uint64_t lo, uint64_t hi, bool whole_ranges)
{
	char *at = s->at + (lo - s->start);

	if (lo == hi)
		return 0;
	return whole_ranges ? madvise_advice((uint64_t)at, hi - lo, s->thp) :
	       madvise(at, hi - lo, MADV_NOHUGEPAGE);
}

int uffd_mover_advise(struct uffd_mover *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct uffd_stage *s = &m->st[i];
		uint64_t from = s->start;	/* ranges alike since here: one madvise */
		bool was = false;

		for (uint64_t pmd = s->start & ~(PMD_BYTES - 1); pmd < s->end; pmd += PMD_BYTES) {
			uint64_t lo = pmd > s->start ? pmd : s->start;
			bool is = whole(m, s, (pmd - m->lo) / PMD_BYTES, pmd);

			if (is != was) {
				if (advise(s, from, lo, was))
					return -errno;
				from = lo;
				was = is;
			}
		}
		if (advise(s, from, s->end, was))
			return -errno;
	}
	return 0;
}

static const struct uffd_stage *stage_of(const struct uffd_mover *m, uint64_t addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->st[i].start <= addr && addr < m->st[i].end)
			return &m->st[i];
	return NULL;
}

void *uffd_mover_stage(const struct uffd_mover *m, uint64_t addr)
{
	const struct uffd_stage *s = stage_of(m, addr);

	return s ? s->at + (addr - s->start) : NULL;
}

void uffd_mover_expect(struct uffd_mover *m, uint64_t addr, uint64_t len)
{
	for (uint64_t a = addr; a < addr + len; a += m->ps)
		m->want[(a - m->lo) / PMD_BYTES]++;
}

static int place(struct uffd_mover *m, const struct uffd_stage *s, uint64_t addr, uint64_t len,
		 bool pmd)
{
	char *src = s->at + (addr - s->start);
	uint64_t moved = 0;
	/* A target the kernel would refuse (not writable) is not even asked. */
	int ret = s->move ? uffd_move(m->uffd, addr, src, len, &moved) : -EBUSY;

	if (pmd && !ret)
		m->stats.pmd_moves++;
	else
		m->stats.pages_moved += moved / m->ps;
	if (ret != -EBUSY)
		return ret;
	/* What the kernel will not move is copied; UFFDIO_COPY skips what is there. */
	m->stats.pages_copied += (len - moved) / m->ps;
	return uffd_copy(m->uffd, addr + moved, src + moved, len - moved, false);
}

int uffd_mover_land(struct uffd_mover *m, uint64_t addr, uint64_t len)
{
	while (len) {
		uint64_t pmd = addr & ~(PMD_BYTES - 1);
		uint64_t n = pmd + PMD_BYTES - addr < len ? pmd + PMD_BYTES - addr : len;
		const struct uffd_stage *s = stage_of(m, addr);
		size_t r = (pmd - m->lo) / PMD_BYTES;
		int ret = 0;

		if (!s || addr + n > s->end)
			return -EINVAL;
		if (!whole(m, s, r, pmd))
			ret = place(m, s, addr, n, false);
		else if ((m->landed[r] += n / m->ps) == m->want[r])
			ret = place(m, s, pmd, PMD_BYTES, true);
		if (ret)
			return ret;
		addr += n;
		len -= n;
	}
	return 0;
}

void uffd_mover_free(struct uffd_mover *m)
{
	for (size_t i = 0; i < m->n; i++)
		munmap(m->st[i].map, m->st[i].map_len);
	free(m->st);
	free(m->want);
	free(m->landed);
	m->st = NULL;
	m->want = m->landed = NULL;
	m->n = 0;
}
