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

static bool thp_enabled_somewhere(void)
{
	char buf[128] = "";
	FILE *f = fopen(THP_SYSFS_DIR "/enabled", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return !strstr(buf, "[never]");
}

FIXTURE_SETUP(thp_disable)
{
	if (!thp_configured())
		SKIP(return, "THP not configured: no " THP_SYSFS_DIR);
	self->pmd_size = read_pmd_pagesize();
	ASSERT_NE(self->pmd_size, 0);
	ASSERT_EQ(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0), 0);
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

	if (!thp_enabled_somewhere())
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

TEST_HARNESS_MAIN
