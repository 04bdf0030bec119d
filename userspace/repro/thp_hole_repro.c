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
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fatal_signal.h"
#include "knobs.h"
#include "parse.h"
#include "procfs.h"
#include "uffd.h"

#define PMD_SIZE (2UL << 20)
/*
 * --size at most: 64 TiB, half of the 47-bit user address space mmap()
 * hands out by default, so (size / 2 + 1) * PMD_SIZE neither overflows
 * nor asks for more than an address space could hold.
 */
#define MAX_SIZE_MIB (1UL << 26)

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

/* A bad invocation: one line naming what was wrong, exit status 2. */
#define usage(...) err_usage("thp_hole_repro: ", \
			     "usage: thp_hole_repro [--size MIB] [--protect none|nohugepage|clr]", \
			     __VA_ARGS__)

/* An even number of MiB, 2 to MAX_SIZE_MIB: digits only, no sign, no blanks. */
static int parse_size(const char *s, unsigned long *mib)
{
	unsigned long long v;

	if (parse_decimal(s, 2, MAX_SIZE_MIB, &v) || v % 2)
		return -1;
	*mib = v;
	return 0;
}

/* madvise() or an error naming the advice. */
static int advise(void *addr, size_t len, int advice, const char *name)
{
	if (!madvise(addr, len, advice))
		return 0;
	fprintf(stderr, "thp_hole_repro: madvise(%s): %s\n", name, strerror(errno));
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "protect", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char * const protect_names[] = { "none", "nohugepage", "clr" };
	enum protect protect = PROTECT_NONE;
	unsigned long size_mib = 64, i, nr_pmds, zeros = 0, huge_kb = 0;
	struct knobs kn = { .held = 0 };
	struct err e;
	struct server *srv;
	char flags[256] = "";
	pthread_t thread;
	char *raw, *area;
	int opt, rc = 1;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (opt == 's') {
			if (parse_size(optarg, &size_mib))
				return usage("--size takes an even number of MiB, 2 to %lu, not '%s'",
					     MAX_SIZE_MIB, optarg);
		} else if (opt == 'p') {
			for (i = 0; i < 3 && strcmp(optarg, protect_names[i]); i++)
				;
			if (i == 3)
				return usage("--protect takes none, nohugepage or clr, not '%s'",
					     optarg);
			protect = i;
		} else if (opt == 'h') {
			printf("usage: thp_hole_repro [--size MIB] [--protect none|nohugepage|clr]\n"
			       "Fills every 4th page of a MADV_HUGEPAGE region (--size MiB, default 64),\n"
			       "lets khugepaged run at full speed, registers the region with userfaultfd\n"
			       "and reads one hole per 2 MiB: a hole read without a fault was collapsed\n"
			       "into zeros. --protect: nohugepage gives MADV_NOHUGEPAGE after the\n"
			       "source's MADV_HUGEPAGE; clr does too, then MADV_CLR_HUGEPAGE and\n"
			       "MADV_HUGEPAGE again once registered. Exit: 0 no hole read zeros, 3 some\n"
			       "did, 4 no MADV_CLR_HUGEPAGE in this kernel, 1 on error, 2 bad usage.\n");
			return 0;
		} else if (opt == ':') {
			return usage("%s needs a value", argv[optind - 1]);
		} else {
			return usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return usage("unexpected argument '%s'", argv[optind]);

	srv = aligned_alloc(4096, sizeof(*srv));
	if (!srv)
		return 1;
	memset(srv, 0, sizeof(*srv));
	srv->uffd = uffd_open(0, &e);
	if (srv->uffd < 0) {
		fprintf(stderr, "thp_hole_repro: %s\n", e.msg);
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
	/* Before the knobs change: from then on a crash or a signal puts them back. */
	if (fatal_signal_on(knobs_release_hook, &kn)) {
		fprintf(stderr, "thp_hole_repro: cannot install the fatal signal handler\n");
		goto out_unmap;
	}
	if (knobs_acquire(&kn, NULL, &e)) {
		fprintf(stderr, "thp_hole_repro: %s\n", e.msg);
		goto out_knobs;
	}

	/* The source's advice. */
	if (advise(area, nr_pmds * PMD_SIZE, MADV_HUGEPAGE, "MADV_HUGEPAGE"))
		goto out_knobs;
	if (protect != PROTECT_NONE &&
	    advise(area, nr_pmds * PMD_SIZE, MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE"))
		goto out_knobs;
	for (i = 0; i < nr_pmds * PMD_SIZE; i += 4 * 4096)
		area[i] = 1;

	if (!khugepaged_wait_scans(2, 30))
		fprintf(stderr, "thp_hole_repro: khugepaged did not complete 2 full scans in 30 s "
			"(it does not scan while no mm has an eligible VMA)\n");
	vma_at(area, &huge_kb, flags, sizeof(flags));
	printf("protect=%s: %lu/%lu 2 MiB ranges collapsed before registration\n",
	       protect_names[protect], huge_kb / 2048, nr_pmds);

	if (uffd_register_missing(srv->uffd, (unsigned long)area, nr_pmds * PMD_SIZE)) {
		perror("thp_hole_repro: UFFDIO_REGISTER");
		goto out_knobs;
	}
	if (protect == PROTECT_CLR &&
	    (advise(area, nr_pmds * PMD_SIZE, MADV_CLR_HUGEPAGE, "MADV_CLR_HUGEPAGE") ||
	     advise(area, nr_pmds * PMD_SIZE, MADV_HUGEPAGE, "MADV_HUGEPAGE")))
		goto out_knobs;
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
	if (knobs_release(&kn, &e)) {
		fprintf(stderr, "thp_hole_repro: %s\n", e.msg);
		rc = 1;
	}
	fatal_signal_off(knobs_release_hook, &kn);
out_unmap:
	munmap(raw, (nr_pmds + 1) * PMD_SIZE);
out_uffd:
	close(srv->uffd);
	free(srv);
	return rc;
}
