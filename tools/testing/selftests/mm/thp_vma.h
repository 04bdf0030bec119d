/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __THP_VMA_H__
#define __THP_VMA_H__

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <sys/types.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_CLR_HUGEPAGE
#define MADV_CLR_HUGEPAGE 26
#endif

#define THP_SYSFS_DIR "/sys/kernel/mm/transparent_hugepage"

/* What /proc/self/smaps says of one VMA. */
struct smaps_vma {
	unsigned long start;
	unsigned long end;
	bool hg;		/* VM_HUGEPAGE */
	bool nh;		/* VM_NOHUGEPAGE */
	int thp_eligible;	/* -1 when the kernel does not report it */
	unsigned long anon_huge_kb;
};

bool smaps_vma_at(const void *addr, struct smaps_vma *vma);
int vma_count(void);
bool thp_configured(void);
bool madv_clr_hugepage_supported(void);
void *mmap_pmd_aligned(size_t size, size_t pmd_size, void **reservation,
		       size_t *reservation_size);
bool wait_for_khugepaged_scans(int scans, int seconds);

/*
 * Tests that change THP settings do so in the harness's child processes,
 * which a timeout kills with SIGKILL; the process that called
 * thp_settings_guard() saves the settings and puts them back when it exits
 * and on SIGINT, SIGTERM and SIGHUP. Without root or with a read-only
 * sysfs nothing is saved and thp_settings_changeable() is false: the tests
 * that need to change settings skip.
 */
void thp_settings_guard(void);
bool thp_settings_changeable(void);

/*
 * Why a test that changes THP settings and needs a collapse cannot run
 * here (the settings cannot be changed, or no PMD-sized THP can be
 * allocated), or NULL.
 */
const char *collapse_test_why_not(void);

/*
 * main() of a test program: runs the helper role it was exec'ed for, or
 * @harness_run (the harness's test_harness_run) after thp_settings_guard().
 */
int thp_vma_test_main(int argc, char **argv,
		      int (*harness_run)(int argc, char **argv));

/*
 * A test of khugepaged registration needs an mm that was never registered:
 * fork() copies the registration (khugepaged_fork()), exec() does not. The
 * test binary runs itself again as a helper, named by its role; the
 * helper's stdin and stdout are pipes to the test. Each test program that
 * uses thp_vma_test_main() defines run_self_helper() for its roles.
 */
const char *self_helper_role(void);
int run_self_helper(const char *role);
pid_t self_helper_spawn(const char *role, int *to_helper, int *from_helper);

/*
 * uffd-common's userfaultfd_open() for a test: NULL when its global uffd
 * is open, or why the test must skip.
 */
const char *userfaultfd_open_why_not(void);

/*
 * A thread that resolves missing faults of a userfaultfd with UFFDIO_COPY
 * of the page fill() writes, and counts them.
 */
struct fault_server {
	int uffd;
	int stop_fd;
	pthread_t thread;
	size_t page_size;
	void (*fill)(void *page, unsigned long addr);
	char *page;
	unsigned long faults;
	int error;		/* errno of the first failure, 0 if none */
};

int fault_server_start(struct fault_server *srv, int uffd,
		       void (*fill)(void *page, unsigned long addr));
int fault_server_stop(struct fault_server *srv);

#endif /* __THP_VMA_H__ */
