/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __THP_VMA_H__
#define __THP_VMA_H__

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>

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

int uffd_open_api(void);
int fault_server_start(struct fault_server *srv, int uffd,
		       void (*fill)(void *page, unsigned long addr));
int fault_server_stop(struct fault_server *srv);

#endif /* __THP_VMA_H__ */
