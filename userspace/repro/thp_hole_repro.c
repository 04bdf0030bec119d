// SPDX-License-Identifier: GPL-2.0
/*
 * thp_hole_repro: the THP/userfaultfd restore race, measured.
 *
 * Maps a MADV_HUGEPAGE region, fills every 4th page as a restore of
 * pre-copied pages would, lets khugepaged run at full speed, then
 * registers the region with userfaultfd and reads one hole per 2 MiB
 * range. A hole that reads without a fault was filled with zeros by a
 * collapse: the restored process would silently read zeros there.
 *
 *   thp_hole_repro [--size MIB] [--protect none|nohugepage|clr]
 *
 * Sets khugepaged to scan without sleeping (knobs.c) and restores it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "knobs.h"
#include "procfs.h"
#include "uffd.h"


#define PMD_SIZE (2UL << 20)

enum protect { PROTECT_NONE, PROTECT_NOHUGEPAGE, PROTECT_CLR };

struct server {
	int uffd;
	int stop;
	unsigned long faults;
	char page[4096] __attribute__((aligned(4096)));
};

/* AnonHugePages (kB) and VmFlags of the VMA at @addr. */
static void vma_at(const char *addr, unsigned long *huge_kb, char *flags, size_t len)
{
	size_t n;
	struct vma_info *v = proc_vmas(getpid(), (unsigned long)addr, (unsigned long)addr + 1, &n);

	*huge_kb = n ? v[0].anon_huge_kb : 0;
	snprintf(flags, len, "%s", n ? v[0].flags : "?");
	free(v);
}

static void *serve(void *arg)
{
	struct server *srv = arg;
	struct pollfd pfd = { .fd = srv->uffd, .events = POLLIN };
	struct uffd_msg msg;

	while (!__atomic_load_n(&srv->stop, __ATOMIC_ACQUIRE)) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(srv->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		memset(srv->page, 0xa5, sizeof(srv->page));
		if (!uffd_copy(srv->uffd, msg.arg.pagefault.address & ~4095UL, srv->page, 4096, true))
			srv->faults++;
	}
	return NULL;
}

static int usage(const char *why)
{
	fprintf(stderr, "thp_hole_repro: %s\nusage: thp_hole_repro [--size MIB] [--protect none|nohugepage|clr]\n",
		why);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "protect", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	static const char * const protect_names[] = { "none", "nohugepage", "clr" };
	enum protect protect = PROTECT_NONE;
	unsigned long size_mib = 64, i, nr_pmds, zeros = 0, huge_kb = 0;
	struct knobs kn = { .n = 0 };
	char why[200];
	struct server *srv;
	char flags[256] = "";
	pthread_t thread;
	char *raw, *area;
	int opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		if (opt == 's') {
			size_mib = strtoul(optarg, &end, 10);
			if (*end || !size_mib || size_mib % 2)
				return usage("--size takes an even number of MiB, at least 2");
		} else if (opt == 'p') {
			for (i = 0; i < 3 && strcmp(optarg, protect_names[i]); i++)
				;
			if (i == 3)
				return usage("--protect takes none, nohugepage or clr");
			protect = i;
		} else {
			return usage("unknown option");
		}
	}
	if (optind != argc)
		return usage("unexpected argument");

	srv = aligned_alloc(4096, sizeof(*srv));
	if (!srv)
		return 1;
	memset(srv, 0, sizeof(*srv));
	srv->uffd = uffd_create(why, sizeof(why));
	if (srv->uffd < 0) {
		fprintf(stderr, "thp_hole_repro: %s\n", why);
		free(srv);
		return 1;
	}
	if (protect == PROTECT_CLR && !madv_clr_hugepage_supported()) {
		fprintf(stderr, "thp_hole_repro: MADV_CLR_HUGEPAGE not supported by this kernel (EINVAL)\n");
		close(srv->uffd);
		free(srv);
		return 4;
	}

	nr_pmds = size_mib / 2;
	raw = mmap(NULL, (nr_pmds + 1) * PMD_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("thp_hole_repro: mmap");
		goto out_uffd;
	}
	area = (char *)(((unsigned long)raw + PMD_SIZE - 1) & ~(PMD_SIZE - 1));
	if (knobs_set_aggressive(&kn, why, sizeof(why))) {
		fprintf(stderr, "thp_hole_repro: %s\n", why);
		goto out_unmap;
	}
	knobs_restore_on_signal(&kn);

	madvise(area, nr_pmds * PMD_SIZE, MADV_HUGEPAGE);	/* the source's advice */
	if (protect != PROTECT_NONE)
		madvise(area, nr_pmds * PMD_SIZE, MADV_NOHUGEPAGE);
	for (i = 0; i < nr_pmds * PMD_SIZE; i += 4 * 4096)
		area[i] = 1;

	if (!khugepaged_wait_scans(2, 30))
		fprintf(stderr, "thp_hole_repro: khugepaged did not complete 2 full scans in 30 s (it does not scan while no mm has an eligible VMA)\n");
	vma_at(area, &huge_kb, flags, sizeof(flags));
	printf("protect=%s: %lu/%lu 2 MiB ranges collapsed before registration\n",
	       protect_names[protect], huge_kb / 2048, nr_pmds);

	if (uffd_register_missing(srv->uffd, (unsigned long)area, nr_pmds * PMD_SIZE)) {
		perror("thp_hole_repro: UFFDIO_REGISTER");
		goto out_knobs;
	}
	if (protect == PROTECT_CLR) {
		madvise(area, nr_pmds * PMD_SIZE, MADV_CLR_HUGEPAGE);
		madvise(area, nr_pmds * PMD_SIZE, MADV_HUGEPAGE);
	}
	if (pthread_create(&thread, NULL, serve, srv))
		goto out_knobs;
	for (i = 0; i < nr_pmds; i++)
		zeros += area[i * PMD_SIZE + 4096] == 0;	/* page 1 is a hole */
	__atomic_store_n(&srv->stop, 1, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	vma_at(area, &huge_kb, flags, sizeof(flags));
	printf("protect=%s: %lu/%lu hole reads raised a uffd fault, %lu read zeros; VmFlags: %s\n",
	       protect_names[protect], srv->faults, nr_pmds, zeros, flags);
	rc = zeros ? 3 : 0;
out_knobs:
	knobs_restore(&kn);
out_unmap:
	munmap(raw, (nr_pmds + 1) * PMD_SIZE);
out_uffd:
	close(srv->uffd);
	free(srv);
	return rc;
}
