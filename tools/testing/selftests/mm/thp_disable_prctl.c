// SPDX-License-Identifier: GPL-2.0
/*
 * PR_SET_THP_DISABLE regression tests.
 *
 * Up to 4.12, PR_SET_THP_DISABLE put VM_NOHUGEPAGE in mm->def_flags: it
 * took effect only for VMAs created afterwards, and showed up in their
 * VmFlags, so a checkpoint/restore tool that used it around a restore
 * left "nh" behind in the restored task. Commit 1860033237d4 ("mm: make
 * PR_SET_THP_DISABLE immediately active") moved it to MMF_DISABLE_THP.
 * Check that it stays so, and that MADV_CLR_HUGEPAGE cannot override it.
 *
 * While the flag is set, khugepaged_enter_vma() refuses every VMA, so an
 * mm whose VMAs were all made or advised in that window was never handed
 * to khugepaged. Clearing the flag must hand it over, or its memory gets
 * no THP back until some later mmap, madvise or THP fault.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "thp_settings.h"
#include "thp_vma.h"
#include "vm_util.h"

FIXTURE(thp_disable)
{
	size_t pmd_size;
	char *before;		/* mapped before PR_SET_THP_DISABLE */
	void *before_res;
	size_t before_res_size;
	char *after;		/* mapped after it */
	void *after_res;
	size_t after_res_size;
};

FIXTURE_SETUP(thp_disable)
{
	if (!thp_configured())
		SKIP(return, "THP not configured: no " THP_SYSFS_DIR);
	self->pmd_size = read_pmd_pagesize();
	ASSERT_NE(self->pmd_size, 0);
	/* It is inherited over fork and exec: the runner may have set it. */
	if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0))
		SKIP(return, "PR_SET_THP_DISABLE already set when the test started");
	self->before = mmap_pmd_aligned(self->pmd_size, self->pmd_size,
					&self->before_res, &self->before_res_size);
	ASSERT_NE(self->before, MAP_FAILED);
	ASSERT_EQ(madvise(self->before, self->pmd_size, MADV_HUGEPAGE), 0);
	ASSERT_EQ(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 0);
	self->after = mmap_pmd_aligned(self->pmd_size, self->pmd_size,
				       &self->after_res, &self->after_res_size);
	ASSERT_NE(self->after, MAP_FAILED);
}

FIXTURE_TEARDOWN(thp_disable)
{
	if (self->before_res)
		munmap(self->before_res, self->before_res_size);
	if (self->after_res)
		munmap(self->after_res, self->after_res_size);
}

TEST_F(thp_disable, get_reports_it)
{
	EXPECT_EQ(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0), 1);
}

/* Neither VMA gains VM_NOHUGEPAGE: the VmFlags of a restored task stay. */
TEST_F(thp_disable, vmflags_unchanged)
{
	struct smaps_vma vma;

	ASSERT_TRUE(smaps_vma_at(self->before, &vma));
	EXPECT_TRUE(vma.hg);
	EXPECT_FALSE(vma.nh);
	ASSERT_TRUE(smaps_vma_at(self->after, &vma));
	EXPECT_FALSE(vma.hg);
	EXPECT_FALSE(vma.nh);
}

/* It applies at once to VMAs that existed before, MADV_HUGEPAGE or not. */
TEST_F(thp_disable, effect_immediate)
{
	struct smaps_vma vma;

	if (!thp_is_enabled())
		SKIP(return, "THP is disabled system-wide (enabled=never)");
	ASSERT_TRUE(smaps_vma_at(self->before, &vma));
	if (vma.thp_eligible < 0)
		SKIP(return, "smaps has no THPeligible field");
	EXPECT_EQ(vma.thp_eligible, 0);
	memset(self->before, 1, self->pmd_size);
	ASSERT_TRUE(smaps_vma_at(self->before, &vma));
	EXPECT_EQ(vma.anon_huge_kb, 0);
}

/* A child inherits it, with the same effect. */
TEST_F(thp_disable, inherited_over_fork)
{
	struct smaps_vma vma;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) != 1)
			_exit(1);
		if (!smaps_vma_at(self->before, &vma) || vma.nh || !vma.hg)
			_exit(2);
		if (vma.thp_eligible > 0)
			_exit(3);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0)
		TH_LOG("child: 1 = not inherited, 2 = VmFlags changed, 3 = THP eligible");
}

TEST_F(thp_disable, madv_collapse_refused)
{
	memset(self->before, 1, self->pmd_size);
	errno = 0;
	EXPECT_EQ(madvise(self->before, self->pmd_size, MADV_COLLAPSE), -1);
	EXPECT_EQ(errno, EINVAL);
}

/* MADV_CLR_HUGEPAGE resets the VMA flags, not the process-wide disable. */
TEST_F(thp_disable, clr_hugepage_does_not_override)
{
	struct smaps_vma vma;

	if (!madv_clr_hugepage_supported())
		SKIP(return, "MADV_CLR_HUGEPAGE not supported by this kernel (EINVAL)");
	ASSERT_EQ(madvise(self->before, self->pmd_size, MADV_NOHUGEPAGE), 0);
	ASSERT_EQ(madvise(self->before, self->pmd_size, MADV_CLR_HUGEPAGE), 0);
	ASSERT_TRUE(smaps_vma_at(self->before, &vma));
	EXPECT_FALSE(vma.hg);
	EXPECT_FALSE(vma.nh);
	EXPECT_LE(vma.thp_eligible, 0);
	memset(self->before, 1, self->pmd_size);
	errno = 0;
	EXPECT_EQ(madvise(self->before, self->pmd_size, MADV_COLLAPSE), -1);
	EXPECT_EQ(errno, EINVAL);
	ASSERT_TRUE(smaps_vma_at(self->before, &vma));
	EXPECT_EQ(vma.anon_huge_kb, 0);
}

/*
 * Helper side of thp_reenable.hands_mm_to_khugepaged, in a fresh mm that
 * khugepaged has never seen: THP off for the process, a MADV_HUGEPAGE
 * range filled with small pages, THP back on once the test says so.
 * Exits 0 when khugepaged collapsed the range within two full scans, 1
 * when it did not, 2 when khugepaged made no two full scans in 60 s, 3 on
 * a setup error.
 */
static int reenable_helper(void)
{
	size_t pmd = read_pmd_pagesize(), size = 2 * pmd;
	size_t reservation_size;
	struct smaps_vma vma;
	void *reservation;
	char *area, c;

	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		return 3;
	area = mmap_pmd_aligned(size, pmd, &reservation, &reservation_size);
	if (area == MAP_FAILED || madvise(area, size, MADV_HUGEPAGE))
		return 3;
	memset(area, 1, size);
	if (!smaps_vma_at(area, &vma) || vma.anon_huge_kb)
		return 3;
	if (write(1, "r", 1) != 1 || read(0, &c, 1) != 1)
		return 3;
	if (prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0))
		return 3;
	if (!wait_for_khugepaged_scans(2, 60))
		return 2;
	if (!smaps_vma_at(area, &vma))
		return 3;
	return vma.anon_huge_kb == size / 1024 ? 0 : 1;
}

FIXTURE(thp_reenable)
{
};

FIXTURE_SETUP(thp_reenable)
{
	const char *why;

	if (!thp_configured())
		SKIP(return, "THP not configured: no " THP_SYSFS_DIR);
	/* Before the collapse test: MADV_COLLAPSE fails under the flag. */
	if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0))
		SKIP(return, "PR_SET_THP_DISABLE already set when the test started");
	why = collapse_test_why_not();
	if (why)
		SKIP(return, "%s", why);
}

FIXTURE_TEARDOWN(thp_reenable)
{
	thp_restore_settings();
}

/*
 * prctl(PR_SET_THP_DISABLE, 0) hands the mm to khugepaged. The helper is
 * exec'ed, since fork() would copy this process's registration; a control
 * range of ours, MADV_HUGEPAGE and fully populated, must collapse in the
 * same wait, which shows that khugepaged scanned then. The control is
 * filled after the fork: fork() write-protects the PTEs for COW, and
 * khugepaged does not collapse a range without a writable PTE.
 */
TEST_F_TIMEOUT(thp_reenable, hands_mm_to_khugepaged, 120)
{
	size_t pmd = read_pmd_pagesize(), control_res_size;
	int to_helper, from_helper, status;
	struct thp_settings s;
	struct smaps_vma vma;
	void *control_res;
	char *control, c;
	pid_t pid;

	/* "madvise": nothing registers the helper before its MADV_HUGEPAGE. */
	s = *thp_current_settings();
	s.thp_enabled = THP_MADVISE;
	s.hugepages[__builtin_ctzl(pmd / getpagesize())].enabled = THP_INHERIT;
	s.khugepaged.scan_sleep_millisecs = 0;
	s.khugepaged.alloc_sleep_millisecs = 0;
	s.khugepaged.pages_to_scan = 16 * pmd / getpagesize();
	thp_push_settings(&s);

	pid = self_helper_spawn("reenable", &to_helper, &from_helper);
	ASSERT_GT(pid, 0);
	ASSERT_EQ(read(from_helper, &c, 1), 1);
	control = mmap_pmd_aligned(pmd, pmd, &control_res, &control_res_size);
	ASSERT_NE(control, MAP_FAILED);
	ASSERT_EQ(madvise(control, pmd, MADV_NOHUGEPAGE), 0);
	memset(control, 1, pmd);
	ASSERT_EQ(madvise(control, pmd, MADV_HUGEPAGE), 0);
	ASSERT_EQ(write(to_helper, "g", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0)
		TH_LOG("helper: %d (1 = not collapsed in two full scans after the prctl,%s",
		       WEXITSTATUS(status), " 2 = khugepaged too slow, 3 = setup error)");
	ASSERT_TRUE(smaps_vma_at(control, &vma));
	EXPECT_EQ(vma.anon_huge_kb, pmd / 1024)
		TH_LOG("khugepaged did not collapse the control range: nothing was scanned");
	close(to_helper);
	close(from_helper);
	munmap(control_res, control_res_size);
}

int run_self_helper(const char *role)
{
	if (!strcmp(role, "reenable"))
		return reenable_helper();
	return 125;
}

int main(int argc, char **argv)
{
	return thp_vma_test_main(argc, argv, test_harness_run);
}
