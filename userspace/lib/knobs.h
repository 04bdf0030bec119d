/* SPDX-License-Identifier: GPL-2.0 */
/* khugepaged sysfs knobs: saved, set, and restored even on failure. */
#ifndef LAZYRESTORE_KNOBS_H
#define LAZYRESTORE_KNOBS_H

#include <stdbool.h>

#define KNOBS_MAX 4

struct knobs {
	struct {
		const char *path;
		char saved[64];
		bool changed;
	} k[KNOBS_MAX];
	int n;
};

/* khugepaged at full speed; *why says what failed. */
int knobs_set_aggressive(struct knobs *kn, char *why, size_t len);
void knobs_restore(struct knobs *kn);
/* khugepaged's full_scans counter, 0 if unreadable. */
unsigned long khugepaged_full_scans(void);
/* Wait until khugepaged completed @n more full scans; false after @seconds. */
bool khugepaged_wait_scans(unsigned long n, int seconds);
/* Restore @kn if a fatal signal arrives before knobs_restore(). */
void knobs_restore_on_signal(struct knobs *kn);

#endif
