// SPDX-License-Identifier: GPL-2.0
/* madvfuzz's checks against kernels that break them, as smaps would show it. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "model.h"
#include "tap.h"

#define PS 4096
#define BASE 0x200000000000ULL

/* 8 pages: one mapping over 0-5 (rw, 0-2 hg, 3-5 neither), a hole at 6-7. */
static void arena8(struct arena *a)
{
	arena_init(a, 0, BASE, 8, PS);
	for (int p = 0; p < 6; p++)
		a->pg[p] = (struct page_model){ .state = P_ZERO, .prot = PROT_READ | PROT_WRITE,
						.adv = p < 3 ? ADV_HG : ADV_NONE, .seg = 1 };
}

static struct vma_info vma(int s, int e, const char *flags)
{
	struct vma_info v = { .start = BASE + s * PS, .end = BASE + e * PS };

	strcpy(v.flags, flags);
	v.hg = strstr(flags, "hg") != NULL;
	v.nh = strstr(flags, "nh") != NULL;
	return v;
}

static unsigned int check(struct arena *a, const struct vma_info *v, size_t n, size_t *nv)
{
	struct finding f = { 0 };

	model_check_vmas(a, v, n, &f, nv);
	return f.n;
}

static void vmas_as_modelled_pass(struct tap *t)
{
	struct vma_info v[] = { vma(0, 3, "rd wr mr mw me ac hg"), vma(3, 6, "rd wr mr mw me ac") };
	struct arena a;
	size_t nv;

	arena8(&a);
	CHECK(t, check(&a, v, 2, &nv) == 0 && nv == 2);
	arena_free(&a);
}

static void wrong_advice_is_found(struct tap *t)
{
	/* A MADV_CLR_HUGEPAGE that left VM_NOHUGEPAGE behind. */
	struct vma_info v[] = { vma(0, 3, "rd wr mr mw me ac hg"), vma(3, 6, "rd wr mr mw me ac nh") };
	struct arena a;
	size_t nv;

	arena8(&a);
	CHECK(t, check(&a, v, 2, &nv) == 3);
	arena_free(&a);
}

static void missed_merge_is_found(struct tap *t)
{
	/* Pages 3-5 equal flags, one mapping, but two VMAs. */
	struct vma_info v[] = { vma(0, 3, "rd wr mr mw me ac hg"), vma(3, 4, "rd wr mr mw me ac"),
				vma(4, 6, "rd wr mr mw me ac") };
	struct arena a;
	size_t nv;

	arena8(&a);
	CHECK(t, check(&a, v, 3, &nv) == 1 && nv == 3);
	/* From two mappings the kernel may keep them apart. */
	for (int p = 4; p < 6; p++)
		a.pg[p].seg = 2;
	CHECK(t, check(&a, v, 3, &nv) == 0);
	arena_free(&a);
}

static void mapping_and_registration_are_checked(struct tap *t)
{
	struct vma_info hole_mapped[] = { vma(0, 3, "rd wr mr mw me ac hg"),
					  vma(3, 7, "rd wr mr mw me ac") };
	struct vma_info unregistered[] = { vma(0, 3, "rd wr mr mw me ac hg"),
					   vma(3, 6, "rd wr mr mw me ac") };
	struct vma_info readonly[] = { vma(0, 3, "rd mr mw me ac hg"), vma(3, 6, "rd wr mr mw me ac") };
	struct arena a;
	size_t nv;

	arena8(&a);
	CHECK(t, check(&a, hole_mapped, 2, &nv) == 1);
	CHECK(t, check(&a, readonly, 2, &nv) == 3);
	for (int p = 3; p < 6; p++)
		a.pg[p].uffd = 1;
	CHECK(t, check(&a, unregistered, 2, &nv) == 3);
	arena_free(&a);
}

static void populated_lazy_page_is_found(struct tap *t)
{
	uint64_t pm[8] = { 0 };
	struct finding f = { 0 };
	struct arena a;

	arena8(&a);
	a.pg[4].state = P_LAZY;
	model_check_lazy(&a, pm, &f);
	CHECK(t, f.n == 0);
	pm[4] = 1ULL << 63;	/* khugepaged filled it with a zero page's worth */
	model_check_lazy(&a, pm, &f);
	CHECK(t, f.n == 1 && strstr(f.what, "populated before the server served it"));
	arena_free(&a);
}

static void fork_keeps_each_vma_one_mapping(struct tap *t)
{
	/* Parent: one mapping, pages 0-2 hg, 3-5 neither and registered, 4 a lazy hole. */
	struct vma_info split[] = { vma(0, 3, "rd wr mr mw me ac hg"), vma(3, 4, "rd wr mr mw me ac"),
				    vma(4, 6, "rd wr mr mw me ac") };
	struct arena a;
	size_t nv;

	arena8(&a);
	for (int p = 3; p < 6; p++)
		a.pg[p].uffd = 1;
	a.pg[4].state = P_LAZY;
	a.pg[4].key = 9;
	model_after_fork(&a);
	CHECK(t, a.pg[0].seg == a.pg[2].seg && a.pg[3].seg == a.pg[5].seg);
	CHECK(t, a.pg[2].seg != a.pg[3].seg);
	CHECK(t, a.pg[4].state == P_ZERO && a.pg[4].key == 0 && a.pg[4].uffd == 0);
	/* In the child the pieces of one VMA must still merge. */
	CHECK(t, check(&a, split, 3, &nv) == 1);
	arena_free(&a);
}

static void patterns_tell_pages_apart(struct tap *t)
{
	void *p = aligned_alloc(PS, PS);

	pattern_fill(p, PS, 1, 7);
	CHECK(t, pattern_check(p, PS, 1, 7, true) == 0);
	CHECK(t, pattern_check(p, PS, 1, 8, false) != 0);
	CHECK(t, pattern_check(p, PS, 2, 7, false) != 0);
	CHECK(t, pattern_check(p, PS, 1, 0, false) != 0);
	memset(p, 0, PS);
	CHECK(t, pattern_check(p, PS, 1, 0, true) == 0);
	CHECK(t, pattern_check(p, PS, 1, 7, false) != 0);
	free(p);
}

int main(void)
{
	struct tap t = { 0 };

	RUN(&t, vmas_as_modelled_pass);
	RUN(&t, wrong_advice_is_found);
	RUN(&t, missed_merge_is_found);
	RUN(&t, mapping_and_registration_are_checked);
	RUN(&t, populated_lazy_page_is_found);
	RUN(&t, fork_keeps_each_vma_one_mapping);
	RUN(&t, patterns_tell_pages_apart);
	return tap_done(&t);
}
