// SPDX-License-Identifier: GPL-2.0
/*
 * MADV_CLR_HUGEPAGE: clears VM_HUGEPAGE and VM_NOHUGEPAGE, so that a range
 * follows the system-wide THP settings again.
 *
 * The restore sequence of a pre-copy + post-copy migration is what it is
 * for: mmap, MADV_NOHUGEPAGE, fill in the pre-copied pages, register with
 * userfaultfd, MADV_CLR_HUGEPAGE. Neither khugepaged nor MADV_COLLAPSE
 * may fill a hole of the range before userfaultfd serves it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>

#include "../kselftest_harness.h"
#include "thp_settings.h"
#include "thp_vma.h"
#include "vm_util.h"

#define NR_PMDS		4
#define HELPER_ENV	"MADV_CLR_HUGEPAGE_HELPER"

static bool thp_settings_saved;

static unsigned long page_size(void)
{
	return getpagesize();
}

static unsigned char pattern_of(unsigned long addr)
{
	return (addr / page_size()) % 251 + 1;
}

static void fill_page(void *page, unsigned long addr)
{
	memset(page, pattern_of(addr), page_size());
}

static bool page_has_pattern(const char *page)
{
	unsigned char want = pattern_of((unsigned long)page);
	unsigned long i;

	for (i = 0; i < page_size(); i++)
		if ((unsigned char)page[i] != want)
			return false;
	return true;
}

static bool can_change_thp_settings(void)
{
	return thp_settings_saved && access(THP_SYSFS_DIR "/enabled", W_OK) == 0;
}

static int pmd_order(void)
{
	return __builtin_ctzl(read_pmd_pagesize() / page_size());
}

/* THP on for the PMD size only, khugepaged at its most aggressive. */
static void set_thp(enum thp_enabled enabled)
{
	struct thp_settings s = *thp_current_settings();
	int i;

	s.thp_enabled = enabled;
	for (i = 0; i < NR_ORDERS; i++)
		s.hugepages[i].enabled = THP_NEVER;
	s.hugepages[pmd_order()].enabled = THP_INHERIT;
	s.khugepaged.defrag = 1;
	s.khugepaged.scan_sleep_millisecs = 0;
	s.khugepaged.alloc_sleep_millisecs = 0;
	s.khugepaged.max_ptes_none = read_pmd_pagesize() / page_size() - 1;
	s.khugepaged.pages_to_scan = 16 * read_pmd_pagesize() / page_size();
	thp_push_settings(&s);
}

/* Wait until khugepaged has scanned every registered mm twice more. */
static bool wait_for_khugepaged_scans(int seconds)
{
	unsigned long target = thp_read_num("khugepaged/full_scans") + 2;
	int i;

	for (i = 0; i < seconds * 10; i++) {
		if (thp_read_num("khugepaged/full_scans") >= target)
			return true;
		usleep(100 * 1000);
	}
	return false;
}

/* A PMD-aligned area whose VMA never merges with a neighbour. */
struct test_area {
	size_t pmd_size;
	size_t size;
	char *area;
	void *reservation;
	size_t reservation_size;
	int vmas;	/* VMAs of the process with the area mapped, unadvised */
};

static void area_setup(struct __test_metadata *_metadata, struct test_area *t)
{
	if (!thp_configured())
		SKIP(return, "THP not configured: no " THP_SYSFS_DIR);
	if (!madv_clr_hugepage_supported())
		SKIP(return, "MADV_CLR_HUGEPAGE not supported by this kernel (EINVAL)");
	t->pmd_size = read_pmd_pagesize();
	ASSERT_NE(t->pmd_size, 0);
	t->size = NR_PMDS * t->pmd_size;
	t->area = mmap_pmd_aligned(t->size, t->pmd_size, &t->reservation,
				   &t->reservation_size);
	ASSERT_NE(t->area, MAP_FAILED);
	t->vmas = vma_count();
}

static void area_teardown(struct test_area *t)
{
	if (t->reservation)
		munmap(t->reservation, t->reservation_size);
	if (can_change_thp_settings())
		thp_restore_settings();
}

static void expect_default_vma(struct __test_metadata *_metadata,
			       const char *start, size_t size)
{
	struct smaps_vma vma;

	ASSERT_TRUE(smaps_vma_at(start, &vma));
	EXPECT_FALSE(vma.hg);
	EXPECT_FALSE(vma.nh);
	EXPECT_EQ(vma.start, (unsigned long)start);
	EXPECT_EQ(vma.end, (unsigned long)start + size);
}

FIXTURE(clr)
{
	struct test_area t;
};

FIXTURE_SETUP(clr)
{
	area_setup(_metadata, &self->t);
}

FIXTURE_TEARDOWN(clr)
{
	area_teardown(&self->t);
}

/* The same area, advised first as the checkpointed VMA was. */
FIXTURE(advised)
{
	struct test_area t;
};

FIXTURE_VARIANT(advised)
{
	int advice;	/* 0: none, or MADV_HUGEPAGE or MADV_NOHUGEPAGE */
};

FIXTURE_VARIANT_ADD(advised, unadvised) { .advice = 0 };
FIXTURE_VARIANT_ADD(advised, hugepage) { .advice = MADV_HUGEPAGE };
FIXTURE_VARIANT_ADD(advised, nohugepage) { .advice = MADV_NOHUGEPAGE };

FIXTURE_SETUP(advised)
{
	struct smaps_vma vma;

	area_setup(_metadata, &self->t);
	if (_metadata->exit_code || !variant->advice)
		return;
	ASSERT_EQ(madvise(self->t.area, self->t.size, variant->advice), 0);
	ASSERT_TRUE(smaps_vma_at(self->t.area, &vma));
	ASSERT_EQ(vma.hg, variant->advice == MADV_HUGEPAGE);
	ASSERT_EQ(vma.nh, variant->advice == MADV_NOHUGEPAGE);
}

FIXTURE_TEARDOWN(advised)
{
	area_teardown(&self->t);
}

/* Each advice, then MADV_CLR_HUGEPAGE: neither flag, and one VMA again. */
TEST_F(advised, resets_flags)
{
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_CLR_HUGEPAGE), 0);
	expect_default_vma(_metadata, self->t.area, self->t.size);
	EXPECT_EQ(vma_count(), self->t.vmas);
}

/* Clearing part of an advised VMA splits it, clearing all merges it back. */
TEST_F(advised, partial_range_splits_and_merges)
{
	size_t pmd = self->t.pmd_size;
	struct smaps_vma vma;

	ASSERT_EQ(madvise(self->t.area + pmd, 2 * pmd, MADV_CLR_HUGEPAGE), 0);
	expect_default_vma(_metadata, variant->advice ? self->t.area + pmd : self->t.area,
			   variant->advice ? 2 * pmd : self->t.size);
	EXPECT_EQ(vma_count(), self->t.vmas + (variant->advice ? 2 : 0));
	if (variant->advice) {
		ASSERT_TRUE(smaps_vma_at(self->t.area, &vma));
		EXPECT_EQ(vma.end, (unsigned long)self->t.area + pmd);
		EXPECT_EQ(vma.hg, variant->advice == MADV_HUGEPAGE);
		EXPECT_EQ(vma.nh, variant->advice == MADV_NOHUGEPAGE);
	}
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_CLR_HUGEPAGE), 0);
	expect_default_vma(_metadata, self->t.area, self->t.size);
	EXPECT_EQ(vma_count(), self->t.vmas);
}

/* One call over default, hg and nh VMAs leaves one default VMA. */
TEST_F(clr, mixed_range_becomes_one_vma)
{
	size_t pmd = self->t.pmd_size;

	ASSERT_EQ(madvise(self->t.area + pmd, pmd, MADV_HUGEPAGE), 0);
	ASSERT_EQ(madvise(self->t.area + 2 * pmd, pmd, MADV_NOHUGEPAGE), 0);
	ASSERT_EQ(vma_count(), self->t.vmas + 3);
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_CLR_HUGEPAGE), 0);
	expect_default_vma(_metadata, self->t.area, self->t.size);
	EXPECT_EQ(vma_count(), self->t.vmas);
}

TEST_F(clr, unaligned_start_is_einval)
{
	errno = 0;
	EXPECT_EQ(madvise(self->t.area + 1, page_size(), MADV_CLR_HUGEPAGE), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(madvise(self->t.area, 0, MADV_CLR_HUGEPAGE), 0);
}

/* ENOMEM for the hole, and the mapped parts are cleared all the same. */
TEST_F(advised, unmapped_part_is_enomem)
{
	size_t pmd = self->t.pmd_size;
	struct smaps_vma vma;

	ASSERT_EQ(munmap(self->t.area + pmd, pmd), 0);
	errno = 0;
	EXPECT_EQ(madvise(self->t.area, self->t.size, MADV_CLR_HUGEPAGE), -1);
	EXPECT_EQ(errno, ENOMEM);
	ASSERT_TRUE(smaps_vma_at(self->t.area, &vma));
	EXPECT_FALSE(vma.hg || vma.nh);
	ASSERT_TRUE(smaps_vma_at(self->t.area + 2 * pmd, &vma));
	EXPECT_FALSE(vma.hg || vma.nh);
}

/* After the reset, THPeligible is what the sysfs mode says of a new VMA. */
TEST_F(advised, thp_eligible_follows_sysfs)
{
	static const struct {
		enum thp_enabled mode;
		int eligible;
	} modes[] = { { THP_ALWAYS, 1 }, { THP_MADVISE, 0 }, { THP_NEVER, 0 } };
	struct smaps_vma vma;
	unsigned int i;

	if (!can_change_thp_settings())
		SKIP(return, "changing THP settings needs root and a writable " THP_SYSFS_DIR);
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		set_thp(modes[i].mode);
		if (variant->advice)
			ASSERT_EQ(madvise(self->t.area, self->t.size, variant->advice), 0);
		ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_CLR_HUGEPAGE), 0);
		ASSERT_TRUE(smaps_vma_at(self->t.area, &vma));
		if (vma.thp_eligible < 0)
			SKIP(return, "smaps has no THPeligible field");
		EXPECT_EQ(vma.thp_eligible, modes[i].eligible)
			TH_LOG("mode %d", modes[i].mode);
		thp_pop_settings();
	}
}

/*
 * The restore sequence of a pre-copy + post-copy migration, against
 * khugepaged at its most aggressive and MADV_COLLAPSE: every hole still
 * raises a userfaultfd fault, and THP comes back once the range is
 * complete and unregistered.
 */
TEST_F_TIMEOUT(clr, restore_sequence_keeps_holes, 180)
{
	unsigned long npages = self->t.size / page_size();
	unsigned long i, holes = 0;
	struct fault_server srv;
	struct smaps_vma vma;
	int uffd, pagemap_fd;
	size_t off;

	if (!can_change_thp_settings())
		SKIP(return, "changing THP settings needs root and a writable " THP_SYSFS_DIR);
	uffd = uffd_open_api();
	if (uffd == -EPERM)
		SKIP(return, "userfaultfd not permitted: %s",
		     "run as root or set vm.unprivileged_userfaultfd=1");
	if (uffd < 0)
		SKIP(return, "userfaultfd unavailable (%s): CONFIG_USERFAULTFD off?",
		     strerror(-uffd));
	ASSERT_GE(uffd, 0);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_GE(pagemap_fd, 0);
	set_thp(THP_ALWAYS);

	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_NOHUGEPAGE), 0);
	for (i = 0; i < npages; i += 4) {
		char *page = self->t.area + i * page_size();

		fill_page(page, (unsigned long)page);
	}
	ASSERT_EQ(uffd_register(uffd, self->t.area, self->t.size, true, false, false), 0);
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_CLR_HUGEPAGE), 0);
	expect_default_vma(_metadata, self->t.area, self->t.size);

	ASSERT_TRUE(wait_for_khugepaged_scans(60))
		TH_LOG("khugepaged did not complete two full scans in 60 s");
	for (off = 0; off < self->t.size; off += self->t.pmd_size) {
		errno = 0;
		EXPECT_EQ(madvise(self->t.area + off, self->t.pmd_size, MADV_COLLAPSE), -1)
			TH_LOG("MADV_COLLAPSE collapsed a uffd-armed range with holes");
	}
	ASSERT_TRUE(smaps_vma_at(self->t.area, &vma));
	EXPECT_EQ(vma.anon_huge_kb, 0);
	for (i = 0; i < npages; i++) {
		if (i % 4 == 0)
			continue;
		holes++;
		EXPECT_FALSE(pagemap_is_populated(pagemap_fd, self->t.area + i * page_size()))
			TH_LOG("hole %lu was populated before userfaultfd served it", i);
	}

	ASSERT_EQ(fault_server_start(&srv, uffd, fill_page), 0);
	for (i = 0; i < npages; i++)
		EXPECT_TRUE(page_has_pattern(self->t.area + i * page_size()))
			TH_LOG("page %lu has the wrong contents", i);
	ASSERT_EQ(fault_server_stop(&srv), 0);
	EXPECT_EQ(srv.faults, holes);

	ASSERT_EQ(uffd_unregister(uffd, self->t.area, self->t.size), 0);
	for (off = 0; off < self->t.size; off += self->t.pmd_size)
		EXPECT_EQ(madvise(self->t.area + off, self->t.pmd_size, MADV_COLLAPSE), 0);
	ASSERT_TRUE(smaps_vma_at(self->t.area, &vma));
	EXPECT_EQ(vma.anon_huge_kb, self->t.size / 1024);
	for (i = 0; i < npages; i++)
		EXPECT_TRUE(page_has_pattern(self->t.area + i * page_size()));
	close(pagemap_fd);
	close(uffd);
}

/*
 * Child side of clears_nohugepage_registers_with_khugepaged: a process that
 * khugepaged has never seen fills a MADV_NOHUGEPAGE range, then clears the
 * advice once THP is on. Exits 0 when khugepaged collapsed the range.
 */
static int registration_helper(void)
{
	size_t pmd = read_pmd_pagesize(), size = 2 * pmd;
	void *reservation;
	size_t reservation_size;
	struct smaps_vma vma;
	char *area;
	char c;
	int i;

	area = mmap_pmd_aligned(size, pmd, &reservation, &reservation_size);
	if (area == MAP_FAILED || madvise(area, size, MADV_NOHUGEPAGE))
		return 2;
	memset(area, 1, size);
	/* smaps_vma_at() allocates: let it grow the heap before THP is on. */
	if (!smaps_vma_at(area, &vma) || write(1, "r", 1) != 1 || read(0, &c, 1) != 1)
		return 2;
	if (madvise(area, size, MADV_CLR_HUGEPAGE))
		return 2;
	for (i = 0; i < 600; i++) {
		if (smaps_vma_at(area, &vma) && vma.anon_huge_kb == size / 1024)
			return 0;
		usleep(100 * 1000);
	}
	return 1;
}

/*
 * A range that becomes eligible because VM_NOHUGEPAGE was cleared is handed
 * to khugepaged at once: a process exec'ed while THP was off has no other
 * way to get registered here.
 */
TEST_F_TIMEOUT(clr, clears_nohugepage_registers_with_khugepaged, 120)
{
	int to_child[2], from_child[2], status;
	pid_t pid;
	char c;

	if (!can_change_thp_settings())
		SKIP(return, "changing THP settings needs root and a writable " THP_SYSFS_DIR);
	set_thp(THP_NEVER);
	ASSERT_EQ(pipe(to_child), 0);
	ASSERT_EQ(pipe(from_child), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		setenv(HELPER_ENV, "1", 1);
		execl("/proc/self/exe", "madv_clr_hugepage", NULL);
		_exit(3);
	}
	close(to_child[0]);
	close(from_child[1]);
	ASSERT_EQ(read(from_child[0], &c, 1), 1);
	thp_write_string("enabled", "always");
	ASSERT_EQ(write(to_child[1], "g", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0)
		TH_LOG("khugepaged did not collapse the cleared range in 60 s (status %d)",
		       WEXITSTATUS(status));
	close(to_child[1]);
	close(from_child[0]);
}

static unsigned long mthp_fault_allocs(const char *size_dir)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/stats/anon_fault_alloc", size_dir);
	return read_num(path);
}

/*
 * Per-size THP: a partial fill under MADV_NOHUGEPAGE allocates no mTHP at
 * fault time, and after the reset the VMA follows that size's setting.
 */
TEST_F(clr, mthp_follows_per_size_setting)
{
	const char *dir = THP_SYSFS_DIR "/hugepages-64kB";
	size_t block = 64 * 1024;
	struct thp_settings s;
	unsigned long before;
	size_t off;
	int i;

	if (!can_change_thp_settings())
		SKIP(return, "changing THP settings needs root and a writable " THP_SYSFS_DIR);
	if (access(dir, F_OK) || page_size() > block / 2)
		SKIP(return, "no 64kB anonymous mTHP size (%s)", dir);

	s = *thp_current_settings();
	s.thp_enabled = THP_NEVER;
	for (i = 0; i < NR_ORDERS; i++)
		s.hugepages[i].enabled = THP_NEVER;
	s.hugepages[__builtin_ctzl(block / page_size())].enabled = THP_MADVISE;
	thp_push_settings(&s);

	/* The source had hg: faults there do allocate 64kB folios. */
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_HUGEPAGE), 0);
	before = mthp_fault_allocs(dir);
	self->t.area[0] = 1;
	ASSERT_GT(mthp_fault_allocs(dir), before)
		TH_LOG("no 64kB folio allocated in a MADV_HUGEPAGE VMA: the test cannot tell");
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_DONTNEED), 0);

	/* Restore: the partial fill under nh allocates none. */
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_NOHUGEPAGE), 0);
	before = mthp_fault_allocs(dir);
	for (off = 0; off < self->t.size / 2; off += block)
		self->t.area[off] = 1;
	EXPECT_EQ(mthp_fault_allocs(dir), before);

	/* Back to the default VMA: 64kB "madvise" allocates none... */
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_CLR_HUGEPAGE), 0);
	before = mthp_fault_allocs(dir);
	self->t.area[self->t.size / 2] = 1;
	EXPECT_EQ(mthp_fault_allocs(dir), before);
	/* ...and 64kB "always" does, as for any VMA with neither flag. */
	thp_write_string("hugepages-64kB/enabled", "always");
	before = mthp_fault_allocs(dir);
	self->t.area[self->t.size / 2 + 4 * block] = 1;
	EXPECT_GT(mthp_fault_allocs(dir), before);
}

static void restore_thp_settings_and_exit(int sig)
{
	thp_restore_settings();
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	int ret;

	if (getenv(HELPER_ENV))
		return registration_helper();
	if (thp_configured() && geteuid() == 0) {
		struct thp_settings current;

		thp_save_settings();
		thp_read_settings(&current);
		thp_push_settings(&current);
		thp_settings_saved = true;
		/* Tests change settings in their own children: undo after all. */
		signal(SIGINT, restore_thp_settings_and_exit);
		signal(SIGTERM, restore_thp_settings_and_exit);
	}
	ret = test_harness_run(argc, argv);
	if (thp_settings_saved)
		thp_restore_settings();
	return ret;
}
