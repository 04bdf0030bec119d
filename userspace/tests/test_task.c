// SPDX-License-Identifier: GPL-2.0
/* The migrated task catches what a restore can get wrong, and nothing else. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "task.h"
#include "workload.h"
#include "tap.h"

#define MIB (1ULL << 20)

/* A task that has run @steps accesses, as the source has before its freeze. */
static struct task_state *running(struct layout *l, int steps)
{
	struct task_state *s;
	struct err e;

	layout_init(l, 4 * MIB, 7);
	if (task_map(l, task_hot_pages(l, 100, 0), &e)) {
		printf("# %s\n", e.msg);
		return NULL;
	}
	s = task_of(l);
	for (int i = 0; i < steps; i++)
		task_step(s);
	return s;
}

/* Page @a as generation @gen of it, written from outside the task. */
static void write_gen(uint64_t a, uint64_t gen)
{
	for (long w = 0; w < getpagesize() / 8; w++)
		((uint64_t *)a)[w] = page_word(a, gen, w);
}

static void teardown(struct layout *l)
{
	for (int i = 0; i < l->n; i++)
		munmap((void *)l->vma[i].start, l->vma[i].end - l->vma[i].start);
}

static void clean_run_sees_nothing(struct tap *t)
{
	struct task_plan p = { .steps = 5000, .actions = true };
	struct task_verdict v;
	struct layout l;
	struct task_state *s = running(&l, 20000);

	CHECK(t, s != NULL);
	if (!s)
		return;
	CHECK(t, s->v.wrong == 0);
	CHECK(t, task_resume(s, &p, &v) == 0);
	if (v.error)
		printf("# task_resume: %s\n", strerror((int)-v.error));
	CHECK(t, v.wrong == 0 && v.child_wrong == 0);
	CHECK(t, v.child_checked > 0 && v.checked > s->npages - s->state_pages);
	CHECK(t, v.steps == p.steps);
	teardown(&l);
}

static void hole_is_caught_as_zero(struct tap *t)
{
	struct task_plan p = { .steps = 0 };
	struct task_verdict v;
	struct layout l;
	struct task_state *s = running(&l, 20000);
	uint64_t a = l.vma[1].start + 5 * PMD_BYTES / 4;

	if (!s)
		return;
	a &= ~(uint64_t)(getpagesize() - 1);
	madvise((void *)a, getpagesize(), MADV_DONTNEED);
	CHECK(t, task_resume(s, &p, &v) == 0);
	CHECK(t, v.wrong == 1 && v.zero == 1 && v.first_bad == a);
	teardown(&l);
}

static void stale_page_is_caught(struct tap *t)
{
	struct task_plan p = { .steps = 0 };
	struct task_verdict v;
	struct layout l;
	struct task_state *s = running(&l, 20000);
	uint64_t k = 0, a;

	if (!s)
		return;
	while (k < s->hot && s->gen[k] < 2)
		k++;
	CHECK(t, k < s->hot);
	/* The generation before, as a stale pre-copy would hold it. */
	a = task_hot_addr(s, k);
	if (k < s->hot)
		write_gen(a, s->gen[k] - 1);
	CHECK(t, task_resume(s, &p, &v) == 0);
	CHECK(t, v.wrong == 1 && v.zero == 0 && v.first_bad == a);
	teardown(&l);
}

/* Frozen between the page and its generation: the resume finishes the write. */
static void interrupted_write_is_redone(struct tap *t)
{
	struct task_plan p = { .steps = 100 };
	struct task_verdict v;
	struct layout l;
	struct task_state *s = running(&l, 1000);

	if (!s)
		return;
	/* The page has its new generation, the table not yet. */
	s->pending_gen = s->gen[3] + 1;
	s->pending = 3 + 1;
	write_gen(task_hot_addr(s, 3), s->pending_gen);
	CHECK(t, task_resume(s, &p, &v) == 0);
	CHECK(t, v.wrong == 0 && s->pending == 0);
	teardown(&l);
}

static void lost_state_is_caught(struct tap *t)
{
	struct task_plan p = { .steps = 100 };
	struct task_verdict v;
	struct layout l;
	struct task_state *s = running(&l, 0);

	if (!s)
		return;
	madvise(s, getpagesize(), MADV_DONTNEED);
	CHECK(t, task_resume(s, &p, &v) == 0);
	CHECK(t, v.wrong == 1 && v.zero == 1);
	teardown(&l);
}

int main(void)
{
	struct tap t = { 0 };

	RUN(&t, clean_run_sees_nothing);
	RUN(&t, hole_is_caught_as_zero);
	RUN(&t, stale_page_is_caught);
	RUN(&t, interrupted_write_is_redone);
	RUN(&t, lost_state_is_caught);
	return tap_done(&t);
}
