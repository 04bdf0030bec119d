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
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/kernel-page-flags.h>
#include <linux/userfaultfd.h>

#include "../kselftest_harness.h"
#include "thp_settings.h"
#include "thp_vma.h"
#include "uffd-common.h"	/* and vm_util.h */

#define NR_PMDS		4

static unsigned char pattern_of(unsigned long addr)
{
	return (addr / psize()) % 251 + 1;
}

static void fill_page(void *page, unsigned long addr)
{
	memset(page, pattern_of(addr), psize());
}

static bool page_has_pattern(const char *page)
{
	unsigned char want = pattern_of((unsigned long)page);
	unsigned long i;

	for (i = 0; i < psize(); i++)
		if ((unsigned char)page[i] != want)
			return false;
	return true;
}

static int pmd_order(void)
{
	return __builtin_ctzl(read_pmd_pagesize() / psize());
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
	s.khugepaged.max_ptes_none = read_pmd_pagesize() / psize() - 1;
	s.khugepaged.pages_to_scan = 16 * read_pmd_pagesize() / psize();
	thp_push_settings(&s);
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

/* False when it skipped the test; a failed assertion does not return. */
static bool area_setup(struct __test_metadata *_metadata, struct test_area *t)
{
	if (!thp_configured())
		SKIP(return false, "THP not configured: no " THP_SYSFS_DIR);
	if (!madv_clr_hugepage_supported())
		SKIP(return false, "MADV_CLR_HUGEPAGE not supported by this kernel (EINVAL)");
	t->pmd_size = read_pmd_pagesize();
	ASSERT_NE(t->pmd_size, 0);
	t->size = NR_PMDS * t->pmd_size;
	t->area = mmap_pmd_aligned(t->size, t->pmd_size, &t->reservation,
				   &t->reservation_size);
	ASSERT_NE(t->area, MAP_FAILED);
	t->vmas = vma_count();
	return true;
}

static void area_teardown(struct test_area *t)
{
	if (t->reservation)
		munmap(t->reservation, t->reservation_size);
	if (thp_settings_changeable())
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

	if (!area_setup(_metadata, &self->t) || !variant->advice)
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
	EXPECT_EQ(madvise(self->t.area + 1, psize(), MADV_CLR_HUGEPAGE), -1);
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

	if (!thp_settings_changeable())
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
 * complete and unregistered. A fully filled control range, advised the
 * same way but never registered, must collapse in the same wait: the
 * full-scan counter also advances for other processes, and without the
 * control the test would pass for an mm khugepaged never scanned.
 */
TEST_F_TIMEOUT(clr, restore_sequence_keeps_holes, 180)
{
	unsigned long npages = self->t.size / psize();
	size_t pmd = self->t.pmd_size, off;
	unsigned long i, holes = 0;
	struct fault_server srv;
	struct smaps_vma vma;
	void *control_res;
	size_t control_res_size;
	const char *why;
	char *control;
	int pagemap_fd;

	why = collapse_test_why_not();
	if (why)
		SKIP(return, "%s", why);
	why = userfaultfd_open_why_not();
	if (why)
		SKIP(return, "%s", why);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_GE(pagemap_fd, 0);
	control = mmap_pmd_aligned(pmd, pmd, &control_res, &control_res_size);
	ASSERT_NE(control, MAP_FAILED);
	set_thp(THP_ALWAYS);

	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_NOHUGEPAGE), 0);
	ASSERT_EQ(madvise(control, pmd, MADV_NOHUGEPAGE), 0);
	for (i = 0; i < npages; i += 4) {
		char *page = self->t.area + i * psize();

		fill_page(page, (unsigned long)page);
	}
	memset(control, 1, pmd);
	ASSERT_EQ(uffd_register(uffd, self->t.area, self->t.size, true, false, false), 0);
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_CLR_HUGEPAGE), 0);
	ASSERT_EQ(madvise(control, pmd, MADV_CLR_HUGEPAGE), 0);
	expect_default_vma(_metadata, self->t.area, self->t.size);

	ASSERT_TRUE(wait_for_khugepaged_scans(2, 60))
		TH_LOG("khugepaged did not complete two full scans in 60 s");
	ASSERT_TRUE(smaps_vma_at(control, &vma));
	ASSERT_EQ(vma.anon_huge_kb, pmd / 1024)
		TH_LOG("khugepaged did not collapse the control range: it never scanned this mm");
	for (off = 0; off < self->t.size; off += pmd) {
		errno = 0;
		EXPECT_EQ(madvise(self->t.area + off, pmd, MADV_COLLAPSE), -1)
			TH_LOG("MADV_COLLAPSE collapsed a uffd-armed range with holes");
		/* A pte_none in a uffd-armed VMA: SCAN_EXCEED_NONE_PTE. */
		EXPECT_EQ(errno, EBUSY);
	}
	ASSERT_TRUE(smaps_vma_at(self->t.area, &vma));
	EXPECT_EQ(vma.anon_huge_kb, 0);
	for (i = 0; i < npages; i++) {
		if (i % 4 == 0)
			continue;
		holes++;
		EXPECT_FALSE(pagemap_is_populated(pagemap_fd, self->t.area + i * psize()))
			TH_LOG("hole %lu was populated before userfaultfd served it", i);
	}

	ASSERT_EQ(fault_server_start(&srv, uffd, fill_page), 0);
	for (i = 0; i < npages; i++)
		EXPECT_TRUE(page_has_pattern(self->t.area + i * psize()))
			TH_LOG("page %lu has the wrong contents", i);
	ASSERT_EQ(fault_server_stop(&srv), 0);
	EXPECT_EQ(srv.faults, holes);

	ASSERT_EQ(uffd_unregister(uffd, self->t.area, self->t.size), 0);
	for (off = 0; off < self->t.size; off += pmd)
		EXPECT_EQ(madvise(self->t.area + off, pmd, MADV_COLLAPSE), 0);
	ASSERT_TRUE(smaps_vma_at(self->t.area, &vma));
	EXPECT_EQ(vma.anon_huge_kb, self->t.size / 1024);
	for (i = 0; i < npages; i++)
		EXPECT_TRUE(page_has_pattern(self->t.area + i * psize()));
	munmap(control_res, control_res_size);
	close(pagemap_fd);
	close(uffd);
}

/*
 * Child side of clears_nohugepage_registers_with_khugepaged: a process that
 * khugepaged has never seen fills a MADV_NOHUGEPAGE range, then clears the
 * advice once THP is on. Exits 0 when khugepaged collapsed the range within
 * two full scans, 1 when it did not, 2 when khugepaged was too slow to
 * finish them, 3 on a setup error.
 */
static int registration_helper(void)
{
	size_t pmd = read_pmd_pagesize(), size = 2 * pmd;
	void *reservation;
	size_t reservation_size;
	struct smaps_vma vma;
	char *area;
	char c;

	area = mmap_pmd_aligned(size, pmd, &reservation, &reservation_size);
	if (area == MAP_FAILED || madvise(area, size, MADV_NOHUGEPAGE))
		return 3;
	memset(area, 1, size);
	/* smaps_vma_at() allocates: let it grow the heap before THP is on. */
	if (!smaps_vma_at(area, &vma) || write(1, "r", 1) != 1 || read(0, &c, 1) != 1)
		return 3;
	if (madvise(area, size, MADV_CLR_HUGEPAGE))
		return 3;
	if (!wait_for_khugepaged_scans(2, 60))
		return 2;
	if (!smaps_vma_at(area, &vma))
		return 3;
	return vma.anon_huge_kb == size / 1024 ? 0 : 1;
}

/*
 * A range that becomes eligible because VM_NOHUGEPAGE was cleared is handed
 * to khugepaged at once: a process exec'ed while THP was off has no other
 * way to get registered here. A control range of ours, fully populated,
 * must collapse in the same wait, which shows that khugepaged scanned then;
 * it is filled after the helper's fork(), which would write-protect it.
 */
TEST_F_TIMEOUT(clr, clears_nohugepage_registers_with_khugepaged, 120)
{
	size_t pmd = self->t.pmd_size, control_res_size;
	int to_helper, from_helper, status;
	struct smaps_vma vma;
	void *control_res;
	const char *why;
	char *control;
	pid_t pid;
	char c;

	why = collapse_test_why_not();
	if (why)
		SKIP(return, "%s", why);
	set_thp(THP_NEVER);
	pid = self_helper_spawn("clr-registration", &to_helper, &from_helper);
	ASSERT_GT(pid, 0);
	ASSERT_EQ(read(from_helper, &c, 1), 1);
	control = mmap_pmd_aligned(pmd, pmd, &control_res, &control_res_size);
	ASSERT_NE(control, MAP_FAILED);
	memset(control, 1, pmd);
	thp_write_string("enabled", "always");
	ASSERT_EQ(madvise(control, pmd, MADV_HUGEPAGE), 0);
	ASSERT_EQ(write(to_helper, "g", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0)
		TH_LOG("helper: %d (1 = not collapsed in two full scans after MADV_CLR_HUGEPAGE,%s",
		       WEXITSTATUS(status), " 2 = khugepaged too slow, 3 = setup error)");
	ASSERT_TRUE(smaps_vma_at(control, &vma));
	EXPECT_EQ(vma.anon_huge_kb, pmd / 1024)
		TH_LOG("khugepaged did not collapse the control range: nothing was scanned");
	close(to_helper);
	close(from_helper);
	munmap(control_res, control_res_size);
}

/*
 * mmap(MAP_STACK) sets VM_NOHUGEPAGE (since 6.7), and the reset clears it
 * like any other: the kernel does not record where the flag came from. A
 * restore tool re-applies MADV_NOHUGEPAGE where the dumped VmFlags say nh.
 */
TEST_F(clr, map_stack_nohugepage_is_cleared_too)
{
	struct smaps_vma vma;

	ASSERT_EQ(mmap(self->t.area, self->t.size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_STACK, -1, 0),
		  self->t.area);
	ASSERT_TRUE(smaps_vma_at(self->t.area, &vma));
	if (!vma.nh)
		SKIP(return, "MAP_STACK does not set VM_NOHUGEPAGE on this kernel (before 6.7)");
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_CLR_HUGEPAGE), 0);
	expect_default_vma(_metadata, self->t.area, self->t.size);
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_NOHUGEPAGE), 0);
	ASSERT_TRUE(smaps_vma_at(self->t.area, &vma));
	EXPECT_TRUE(vma.nh);
	EXPECT_EQ(vma_count(), self->t.vmas);
}

/*
 * process_madvise() takes only advice that does not change VMA flags on
 * another process (MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED, MADV_COLLAPSE);
 * the reset is not among it. MADV_COLD on the same range shows that the
 * EINVAL is about the advice.
 */
TEST_F(clr, process_madvise_on_another_process_is_einval)
{
	struct iovec iov = { .iov_base = self->t.area, .iov_len = self->t.size };
	int status, pidfd;
	long ret;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	pidfd = syscall(__NR_pidfd_open, pid, 0);
	if (pidfd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		SKIP(return, "pidfd_open: %s", strerror(errno));
	}
	ret = syscall(__NR_process_madvise, pidfd, &iov, 1, MADV_COLD, 0);
	if (ret < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		SKIP(return, "process_madvise(MADV_COLD) on a child: %s", strerror(errno));
	}
	EXPECT_EQ(ret, (long)self->t.size);
	errno = 0;
	EXPECT_EQ(syscall(__NR_process_madvise, pidfd, &iov, 1, MADV_CLR_HUGEPAGE, 0), -1);
	EXPECT_EQ(errno, EINVAL);
	kill(pid, SIGKILL);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	close(pidfd);
}

/*
 * Is the page at @addr, which the caller has just touched, part of a large
 * folio? /proc/kpageflags says so of this page alone (KPF_THP is set for
 * every large anonymous folio, not only PMD-sized ones), where the
 * per-size fault counters in sysfs count other processes' faults too.
 */
static bool in_large_folio(struct __test_metadata *_metadata, char *addr)
{
	unsigned long pfn;
	uint64_t flags;
	int pagemap_fd, kpf_fd;

	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_GE(pagemap_fd, 0);
	pfn = pagemap_get_pfn(pagemap_fd, addr);
	close(pagemap_fd);
	ASSERT_NE(pfn, -1UL) TH_LOG("the page just touched is not present");
	kpf_fd = open("/proc/kpageflags", O_RDONLY);
	ASSERT_GE(kpf_fd, 0);
	ASSERT_EQ(pread(kpf_fd, &flags, sizeof(flags), pfn * sizeof(flags)), sizeof(flags));
	close(kpf_fd);
	return flags & (1ULL << KPF_THP);
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
	char *page;
	size_t off;
	int i;

	if (!thp_settings_changeable())
		SKIP(return, "changing THP settings needs root and a writable " THP_SYSFS_DIR);
	if (access(dir, F_OK) || psize() > block / 2)
		SKIP(return, "no 64kB anonymous mTHP size (%s)", dir);
	if (access("/proc/kpageflags", R_OK))
		SKIP(return, "/proc/kpageflags not readable: CONFIG_PROC_PAGE_MONITOR off?");

	s = *thp_current_settings();
	s.thp_enabled = THP_NEVER;
	for (i = 0; i < NR_ORDERS; i++)
		s.hugepages[i].enabled = THP_NEVER;
	s.hugepages[__builtin_ctzl(block / psize())].enabled = THP_MADVISE;
	thp_push_settings(&s);

	/* The source had hg: faults there do allocate 64kB folios. */
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_HUGEPAGE), 0);
	self->t.area[0] = 1;
	ASSERT_TRUE(in_large_folio(_metadata, self->t.area))
		TH_LOG("no 64kB folio allocated in a MADV_HUGEPAGE VMA: the test cannot tell");
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_DONTNEED), 0);

	/* Restore: the partial fill under nh allocates none. */
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_NOHUGEPAGE), 0);
	for (off = 0; off < self->t.size / 2; off += block) {
		self->t.area[off] = 1;
		EXPECT_FALSE(in_large_folio(_metadata, self->t.area + off))
			TH_LOG("a large folio at offset %zu under VM_NOHUGEPAGE", off);
	}

	/* Back to the default VMA: 64kB "madvise" allocates none... */
	ASSERT_EQ(madvise(self->t.area, self->t.size, MADV_CLR_HUGEPAGE), 0);
	page = self->t.area + self->t.size / 2;
	*page = 1;
	EXPECT_FALSE(in_large_folio(_metadata, page));
	/* ...and 64kB "always" does, as for any VMA with neither flag. */
	thp_write_string("hugepages-64kB/enabled", "always");
	page += 4 * block;
	*page = 1;
	EXPECT_TRUE(in_large_folio(_metadata, page));
}

int run_self_helper(const char *role)
{
	if (!strcmp(role, "clr-registration"))
		return registration_helper();
	return 125;
}

int main(int argc, char **argv)
{
	return thp_vma_test_main(argc, argv, test_harness_run);
}
