// SPDX-License-Identifier: GPL-2.0
/*
 * Stress MADV_NOHUGEPAGE / MADV_CLR_HUGEPAGE against khugepaged at full
 * speed, MADV_COLLAPSE, page faults, fork and munmap, and check that no
 * hole of a partially filled range is ever populated while the range is
 * VM_NOHUGEPAGE or registered with userfaultfd.
 *
 * Area "armed" is filled partially and registered with userfaultfd; its
 * advice keeps flipping. Area "toggled" is not registered: each of its PMD
 * ranges flips between VM_NOHUGEPAGE (holes zapped first) and neither
 * flag, where it may collapse. Fillers keep writing the filled pages, and
 * every filled page must hold its last value at the end.
 *
 * STRESS_SECONDS in the environment sets the duration (default 20).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "thp_settings.h"
#include "thp_vma.h"
#include "uffd-common.h"	/* and vm_util.h */

#define NR_PMDS		4
#define FILL_STRIDE	4	/* every 4th page is filled, the rest are holes */
#define NR_FILLERS	2

struct stress {
	size_t pmd, psize, size;
	char *armed, *toggled;
	void *armed_res, *toggled_res;
	size_t armed_res_size, toggled_res_size;
	int pagemap_fd;
	pthread_mutex_t lock[NR_PMDS];	/* guards nohuge[] of "toggled" */
	bool nohuge[NR_PMDS];
	uint64_t *expected;		/* last value written, per filled page */
	atomic_bool stop;
	atomic_ulong violations, toggles_armed, toggles, checks, collapses,
		     collapsed_toggled, collapsed_armed, forks, churns, fills;
};

static bool is_hole(unsigned long page)
{
	return page % FILL_STRIDE;
}

static unsigned long filled_index(struct stress *s, const char *area,
				  unsigned long page)
{
	unsigned long per_area = s->size / s->psize / FILL_STRIDE;

	return (area == s->toggled ? per_area : 0) + page / FILL_STRIDE;
}

/* Is a hole among pages [first, last) of @area present or swapped? */
static bool hole_populated(struct stress *s, char *area, unsigned long first,
			   unsigned long last, unsigned long *which)
{
	unsigned long p, i, n;
	uint64_t ent[512];
	off_t off;

	for (p = first; p < last; p += n) {
		n = last - p < 512 ? last - p : 512;
		off = ((unsigned long)area / s->psize + p) * sizeof(ent[0]);
		if (pread(s->pagemap_fd, ent, n * sizeof(ent[0]), off) != n * sizeof(ent[0]))
			ksft_exit_fail_msg("reading /proc/self/pagemap: %s\n", strerror(errno));
		for (i = 0; i < n; i++) {
			if (is_hole(p + i) && (ent[i] & (PM_PRESENT | PM_SWAP))) {
				*which = p + i;
				return true;
			}
		}
	}
	return false;
}

static void report(struct stress *s, const char *what, char *area, unsigned long page)
{
	if (atomic_fetch_add(&s->violations, 1) < 10)
		ksft_print_msg("%s: hole %p (page %lu of area %s) populated\n", what,
			       area + page * s->psize, page,
			       area == s->armed ? "armed" : "toggled");
}

static unsigned int rnd(unsigned int *seed, unsigned int n)
{
	return rand_r(seed) % n;
}

static void *toggle_armed(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 1;

	while (!s->stop) {
		size_t len = (1 + rnd(&seed, 2 * NR_PMDS)) * s->pmd / 2;
		size_t off = rnd(&seed, (s->size - len) / s->psize + 1) * s->psize;

		madvise(s->armed + off, len, MADV_NOHUGEPAGE);
		madvise(s->armed + off, len, MADV_CLR_HUGEPAGE);
		s->toggles_armed++;
	}
	return NULL;
}

static void *toggle(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 2;
	unsigned long p, per_pmd = s->pmd / s->psize;

	while (!s->stop) {
		int i = rnd(&seed, NR_PMDS);
		char *range = s->toggled + i * s->pmd;

		pthread_mutex_lock(&s->lock[i]);
		if (s->nohuge[i]) {
			madvise(range, s->pmd, MADV_CLR_HUGEPAGE);
			s->nohuge[i] = false;
		} else {
			madvise(range, s->pmd, MADV_NOHUGEPAGE);
			for (p = 0; p < per_pmd; p++)
				if (is_hole(p))
					madvise(range + p * s->psize, s->psize, MADV_DONTNEED);
			s->nohuge[i] = true;
		}
		pthread_mutex_unlock(&s->lock[i]);
		s->toggles++;
		usleep(rnd(&seed, 20000));
	}
	return NULL;
}

static void *check(void *arg)
{
	struct stress *s = arg;
	unsigned long per_pmd = s->pmd / s->psize, page;
	int i;

	while (!s->stop) {
		if (hole_populated(s, s->armed, 0, s->size / s->psize, &page))
			report(s, "armed range", s->armed, page);
		for (i = 0; i < NR_PMDS; i++) {
			pthread_mutex_lock(&s->lock[i]);
			if (s->nohuge[i] &&
			    hole_populated(s, s->toggled, i * per_pmd, (i + 1) * per_pmd, &page))
				report(s, "VM_NOHUGEPAGE range", s->toggled, page);
			pthread_mutex_unlock(&s->lock[i]);
		}
		s->checks++;
	}
	return NULL;
}

struct filler {
	struct stress *s;
	int id;
};

static void *fill(void *arg)
{
	struct filler *f = arg;
	struct stress *s = f->s;
	unsigned long npages = s->size / s->psize, p;
	uint64_t value = 0;
	char *areas[2] = { s->armed, s->toggled };
	int a;

	while (!s->stop) {
		value++;
		for (a = 0; a < 2; a++) {
			for (p = f->id * FILL_STRIDE; p < npages; p += NR_FILLERS * FILL_STRIDE) {
				*(uint64_t *)(areas[a] + p * s->psize) = value;
				s->expected[filled_index(s, areas[a], p)] = value;
			}
		}
		s->fills++;
	}
	return NULL;
}

static void *collapse(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 3;

	while (!s->stop) {
		bool armed = rnd(&seed, 2);
		char *range = (armed ? s->armed : s->toggled) + rnd(&seed, NR_PMDS) * s->pmd;

		if (!madvise(range, s->pmd, MADV_COLLAPSE)) {
			if (armed)
				s->collapsed_armed++;
			else
				s->collapsed_toggled++;
		}
		s->collapses++;
	}
	return NULL;
}

static void *fork_and_churn(void *arg)
{
	struct stress *s = arg;
	size_t len = 2 * s->pmd;
	pid_t pid;
	char *p;

	while (!s->stop) {
		pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0 && waitpid(pid, NULL, 0) == pid)
			s->forks++;

		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			continue;
		madvise(p, len, MADV_NOHUGEPAGE);
		memset(p, 1, len / 2);
		madvise(p, len, MADV_CLR_HUGEPAGE);
		madvise(p, len, MADV_COLLAPSE);
		munmap(p + s->psize, s->pmd);
		munmap(p, len);
		s->churns++;
	}
	return NULL;
}

static void unexpected_fault(void *page, unsigned long addr)
{
	memset(page, 0, getpagesize());
}

FIXTURE(stress)
{
	struct stress s;
	int uffd;
};

FIXTURE_SETUP(stress)
{
	struct stress *s = &self->s;
	struct thp_settings t;
	const char *why;
	int i;

	self->uffd = -1;
	if (!thp_configured())
		SKIP(return, "THP not configured: no " THP_SYSFS_DIR);
	if (!madv_clr_hugepage_supported())
		SKIP(return, "MADV_CLR_HUGEPAGE not supported by this kernel (EINVAL)");
	why = collapse_test_why_not();
	if (why)
		SKIP(return, "%s", why);
	s->pmd = read_pmd_pagesize();
	s->psize = getpagesize();
	why = userfaultfd_open_why_not();
	if (why)
		SKIP(return, "%s", why);
	self->uffd = uffd;
	s->size = NR_PMDS * s->pmd;
	s->pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_GE(s->pagemap_fd, 0);
	s->armed = mmap_pmd_aligned(s->size, s->pmd, &s->armed_res, &s->armed_res_size);
	ASSERT_NE(s->armed, MAP_FAILED);
	s->toggled = mmap_pmd_aligned(s->size, s->pmd, &s->toggled_res, &s->toggled_res_size);
	ASSERT_NE(s->toggled, MAP_FAILED);
	s->expected = calloc(2 * s->size / s->psize / FILL_STRIDE, sizeof(*s->expected));
	ASSERT_NE(s->expected, NULL);
	for (i = 0; i < NR_PMDS; i++) {
		pthread_mutex_init(&s->lock[i], NULL);
		s->nohuge[i] = true;
	}

	/* Last: the teardown that restores them runs only after a full setup. */
	thp_read_settings(&t);
	t.thp_enabled = THP_ALWAYS;
	for (i = 0; i < NR_ORDERS; i++)
		t.hugepages[i].enabled = THP_NEVER;
	t.hugepages[__builtin_ctzl(s->pmd / s->psize)].enabled = THP_INHERIT;
	t.khugepaged.scan_sleep_millisecs = 0;
	t.khugepaged.alloc_sleep_millisecs = 0;
	t.khugepaged.max_ptes_none = s->pmd / s->psize - 1;
	t.khugepaged.pages_to_scan = 16 * s->pmd / s->psize;
	thp_push_settings(&t);
}

FIXTURE_TEARDOWN(stress)
{
	thp_restore_settings();
}

TEST_F_TIMEOUT(stress, holes_stay_unpopulated, 600)
{
	const char *env = getenv("STRESS_SECONDS");
	int seconds = env ? atoi(env) : 20;
	struct filler fillers[NR_FILLERS];
	pthread_t threads[5 + NR_FILLERS];
	struct stress *s = &self->s;
	struct fault_server srv;
	unsigned long npages = s->size / s->psize, p;
	int i, n = 0;

	ASSERT_GT(seconds, 0);
	ASSERT_EQ(madvise(s->armed, s->size, MADV_NOHUGEPAGE), 0);
	ASSERT_EQ(madvise(s->toggled, s->size, MADV_NOHUGEPAGE), 0);
	for (p = 0; p < npages; p += FILL_STRIDE) {
		*(uint64_t *)(s->armed + p * s->psize) = 1;
		*(uint64_t *)(s->toggled + p * s->psize) = 1;
		s->expected[filled_index(s, s->armed, p)] = 1;
		s->expected[filled_index(s, s->toggled, p)] = 1;
	}
	ASSERT_EQ(uffd_register(self->uffd, s->armed, s->size, true, false, false), 0);
	ASSERT_EQ(madvise(s->armed, s->size, MADV_CLR_HUGEPAGE), 0);
	ASSERT_EQ(fault_server_start(&srv, self->uffd, unexpected_fault), 0);

	ASSERT_EQ(pthread_create(&threads[n++], NULL, toggle_armed, s), 0);
	ASSERT_EQ(pthread_create(&threads[n++], NULL, toggle, s), 0);
	ASSERT_EQ(pthread_create(&threads[n++], NULL, check, s), 0);
	ASSERT_EQ(pthread_create(&threads[n++], NULL, collapse, s), 0);
	ASSERT_EQ(pthread_create(&threads[n++], NULL, fork_and_churn, s), 0);
	for (i = 0; i < NR_FILLERS; i++) {
		fillers[i] = (struct filler){ .s = s, .id = i };
		ASSERT_EQ(pthread_create(&threads[n++], NULL, fill, &fillers[i]), 0);
	}
	sleep(seconds);
	s->stop = true;
	for (i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	ASSERT_EQ(fault_server_stop(&srv), 0);

	ksft_print_msg("%d s: %lu armed toggles, %lu toggles, %lu checks, %lu MADV_COLLAPSE\n",
		       seconds, s->toggles_armed, s->toggles, s->checks, s->collapses);
	ksft_print_msg("collapsed %lu toggled, %lu armed; %lu forks, %lu churns, %lu fills\n",
		       s->collapsed_toggled, s->collapsed_armed, s->forks, s->churns, s->fills);
	/* A harness that ends the test with _exit() would drop them. */
	fflush(stdout);
	EXPECT_EQ(s->violations, 0);
	EXPECT_EQ(s->collapsed_armed, 0);
	EXPECT_EQ(srv.faults, 0) TH_LOG("a hole of the armed range was touched");
	/* Otherwise the nh/clr flips were never raced against a collapse. */
	EXPECT_GT(s->collapsed_toggled, 0);
	EXPECT_GT(s->checks, 0);
	for (p = 0; p < npages; p += FILL_STRIDE) {
		EXPECT_EQ(*(uint64_t *)(s->armed + p * s->psize),
			  s->expected[filled_index(s, s->armed, p)]);
		EXPECT_EQ(*(uint64_t *)(s->toggled + p * s->psize),
			  s->expected[filled_index(s, s->toggled, p)]);
	}
}

int run_self_helper(const char *role)
{
	return 125;
}

int main(int argc, char **argv)
{
	return thp_vma_test_main(argc, argv, test_harness_run);
}
