// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "knobs.h"

#define KHUGEPAGED "/sys/kernel/mm/transparent_hugepage/khugepaged/"

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int write_text(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

unsigned long khugepaged_full_scans(void)
{
	char buf[32];

	return read_text(KHUGEPAGED "full_scans", buf, sizeof(buf)) ? 0 : strtoul(buf, NULL, 10);
}

bool khugepaged_wait_scans(unsigned long n, int seconds)
{
	unsigned long target = khugepaged_full_scans() + n;

	for (int i = 0; i < seconds * 10; i++) {
		if (khugepaged_full_scans() >= target)
			return true;
		usleep(100 * 1000);
	}
	return false;
}

int knobs_set_aggressive(struct knobs *kn, char *why, size_t len)
{
	static const struct { const char *name, *value; } want[KNOBS_MAX] = {
		{ KHUGEPAGED "scan_sleep_millisecs", "0" },
		{ KHUGEPAGED "alloc_sleep_millisecs", "0" },
		{ KHUGEPAGED "pages_to_scan", "65536" },
		{ KHUGEPAGED "max_ptes_none", "511" },
	};

	memset(kn, 0, sizeof(*kn));
	for (int i = 0; i < KNOBS_MAX; i++) {
		kn->k[i].path = want[i].name;
		kn->n = i + 1;
		if (read_text(want[i].name, kn->k[i].saved, sizeof(kn->k[i].saved))) {
			snprintf(why, len, "cannot read %s: %s (kernel without THP?)", want[i].name,
				 strerror(errno));
			knobs_restore(kn);
			return -1;
		}
		if (write_text(want[i].name, want[i].value)) {
			snprintf(why, len, "cannot set %s: %s (needs root)", want[i].name,
				 strerror(errno));
			knobs_restore(kn);
			return -1;
		}
		kn->k[i].changed = true;
	}
	return 0;
}

void knobs_restore(struct knobs *kn)
{
	for (int i = 0; i < kn->n; i++) {
		if (kn->k[i].changed && write_text(kn->k[i].path, kn->k[i].saved))
			fprintf(stderr, "lazyrestore: could not restore %s to %s: %s\n",
				kn->k[i].path, kn->k[i].saved, strerror(errno));
		kn->k[i].changed = false;
	}
}

/* The one global: a signal handler has no other way to reach the knobs. */
static struct knobs *to_restore;

static void on_fatal_signal(int sig)
{
	if (to_restore)
		knobs_restore(to_restore);
	signal(sig, SIG_DFL);
	raise(sig);
}

void knobs_restore_on_signal(struct knobs *kn)
{
	to_restore = kn;
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGHUP, on_fatal_signal);
}
