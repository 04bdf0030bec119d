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
#include <fcntl.h>
#include <getopt.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "knobs.h"

#ifndef MADV_CLR_HUGEPAGE
#define MADV_CLR_HUGEPAGE 26
#endif

#define PMD_SIZE (2UL << 20)

enum protect { PROTECT_NONE, PROTECT_NOHUGEPAGE, PROTECT_CLR };

struct server {
	int uffd;
	int stop;
	unsigned long faults;
	char page[4096] __attribute__((aligned(4096)));
};

/* AnonHugePages (kB) and VmFlags of the VMA that starts at @addr. */
static int smaps_of(const char *addr, unsigned long *huge_kb, char *flags, size_t len)
{
	char line[512], want[32];
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, want, strlen(want))) {
			in = true;
			continue;
		}
		if (!in)
			continue;
		if (sscanf(line, "AnonHugePages: %lu kB", huge_kb) == 1)
			continue;
		if (!strncmp(line, "VmFlags:", 8)) {
			size_t n = strcspn(line + 9, "\n");

			if (n >= len)
				n = len - 1;
			memcpy(flags, line + 9, n);
			flags[n] = '\0';
			break;
		}
	}
	fclose(f);
	return in ? 0 : -1;
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
		struct uffdio_copy copy = {
			.dst = msg.arg.pagefault.address & ~4095UL,
			.src = (unsigned long)srv->page,
			.len = 4096,
		};
		memset(srv->page, 0xa5, sizeof(srv->page));
		if (!ioctl(srv->uffd, UFFDIO_COPY, &copy))
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
	struct uffdio_api api = { .api = UFFD_API };
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
	srv->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (srv->uffd < 0 || ioctl(srv->uffd, UFFDIO_API, &api)) {
		fprintf(stderr, "thp_hole_repro: userfaultfd: %s (run as root or set vm.unprivileged_userfaultfd=1)\n",
			strerror(errno));
		free(srv);
		return 1;
	}
	if (protect == PROTECT_CLR) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p != MAP_FAILED && madvise(p, 4096, MADV_CLR_HUGEPAGE)) {
			fprintf(stderr, "thp_hole_repro: MADV_CLR_HUGEPAGE not supported by this kernel (%s)\n",
				strerror(errno));
			munmap(p, 4096);
			close(srv->uffd);
			free(srv);
			return 4;
		}
		munmap(p, 4096);
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
	smaps_of(area, &huge_kb, flags, sizeof(flags));
	printf("protect=%s: %lu/%lu 2 MiB ranges collapsed before registration\n",
	       protect_names[protect], huge_kb / 2048, nr_pmds);

	struct uffdio_register reg = {
		.range = { .start = (unsigned long)area, .len = nr_pmds * PMD_SIZE },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (ioctl(srv->uffd, UFFDIO_REGISTER, &reg)) {
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
	smaps_of(area, &huge_kb, flags, sizeof(flags));
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
