/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What one worker's arena should look like: per page, whether it is
 * mapped, its protection, its THP advice, its userfaultfd registration,
 * the mapping it came from and what it holds. The checks compare the
 * kernel's VMAs, page table and contents with it.
 */
#ifndef MADVFUZZ_MODEL_H
#define MADVFUZZ_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procfs.h"

enum page_state {
	P_UNMAPPED,
	P_ZERO,		/* reads zeros: never written, zapped or collapsed over */
	P_FILLED,	/* holds the pattern of its key */
	P_LAZY,		/* registered hole: must stay unpopulated until served */
};

enum thp_adv { ADV_NONE, ADV_HG, ADV_NH };

struct page_model {
	uint8_t state, prot, adv, uffd;
	/*
	 * The mapping the page came from (an mmap, a move, a fork's copy):
	 * inside one, equal flags must be one VMA; between two the kernel
	 * may or may not merge (anon_vma and pgoff decide).
	 */
	uint32_t seg;
	uint32_t key;	/* the pattern of a P_FILLED page, the content a P_LAZY one is served */
};

struct arena {
	unsigned int id;	/* the worker's index: part of every pattern */
	uint64_t base;
	size_t npages;
	long ps;
	struct page_model *pg;
	uint32_t next_seg, next_key;
};

/* A check's finding, for the worker to print with its op. */
struct finding {
	unsigned int n;		/* how many this check found */
	char what[256];		/* the first of them */
};

int arena_init(struct arena *a, unsigned int id, uint64_t base, size_t npages, long ps);
void arena_free(struct arena *a);
static inline uint64_t arena_addr(const struct arena *a, size_t page)
{
	return a->base + page * (uint64_t)a->ps;
}

/* A new content key: never 0, the key of zeros, also after 2^32 of them. */
static inline uint32_t arena_new_key(struct arena *a)
{
	if (!a->next_key)
		a->next_key = 1;
	return a->next_key++;
}

/*
 * The model a fork leaves the child: no registration (no
 * UFFD_FEATURE_EVENT_FORK: its registered holes read zeros) and a new
 * anon_vma per VMA, so each VMA is a mapping of its own, which its pieces
 * share.
 */
void model_after_fork(struct arena *a);

/* Word @i of the pattern of key @key in arena @id: position-free, it survives a move. */
uint64_t pattern_word(unsigned int id, uint32_t key, size_t i);
void pattern_fill(void *page, long ps, unsigned int id, uint32_t key);
/* 0 if @page holds key @key's pattern (@full: every word, else 8 spread over it). */
int pattern_check(const void *page, long ps, unsigned int id, uint32_t key, bool full);

/* Two pages that must share a VMA if adjacent, mapped and of one mapping. */
bool same_vma_flags(const struct page_model *x, const struct page_model *y);

/*
 * The kernel's VMAs over the arena (@v sorted, as smaps lists them) against
 * the model: mapped or not, rd/wr, hg/nh, um per page, and no VMA boundary
 * between two pages of one mapping with equal flags (a merge missed).
 * *@nvmas: the kernel's VMA count in the arena.
 */
void model_check_vmas(const struct arena *a, const struct vma_info *v, size_t n,
		      struct finding *f, size_t *nvmas);
/* A pagemap entry's bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT	(1ULL << PM_PRESENT_BIT)
#define PM_SWAP		(1ULL << 62)

/*
 * @pm: the arena's pagemap entries. A P_LAZY page present or swapped is a
 * hole populated behind the server's back.
 */
void model_check_lazy(const struct arena *a, const uint64_t *pm, struct finding *f);

void finding_add(struct finding *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
