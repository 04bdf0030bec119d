/* SPDX-License-Identifier: GPL-2.0 */
/* Faults lazyrestore can inject into its own run, for its tests. */
#ifndef LAZYRESTORE_INJECT_H
#define LAZYRESTORE_INJECT_H

enum inject {
	INJECT_NONE,
	INJECT_KILL_SOURCE_BEFORE_FREEZE,	/* SIGKILL the workload just before the freeze */
	INJECT_KILL_SOURCE_LAZY,		/* ... once the destination is restored */
	INJECT_KILL_DEST_LAZY,			/* SIGKILL the destination at its first served fault */
	INJECT_DAMAGE_FLIP,			/* flip a byte of round 1's pages.img */
	INJECT_DAMAGE_TRUNCATE,			/* cut 1000 bytes off its end */
	INJECT_NO_UFFD_MOVE,			/* act as if the kernel had no UFFDIO_MOVE */
	INJECT_MAX,
};

/* INJECT_MAX for an unknown name. */
enum inject inject_parse(const char *name);
const char *inject_name(enum inject i);
/* "kill-source-before-freeze, kill-source-lazy, ...", for usage and errors: into @buf. */
const char *inject_names(char *buf, unsigned long len);

#endif
