// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"

/*
 * VmFlags without "sd" and "uw": soft-dirty and the userfaultfd write
 * tracking are the dumper's, not the task's.
 */
static void keep_flags(struct vma_info *v, const char *line)
{
	char buf[128], *tok, *save = NULL;
	size_t used = 0;

	snprintf(buf, sizeof(buf), "%s", line);
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (!strcmp(tok, "sd") || !strcmp(tok, "uw"))
			continue;
		v->hg |= !strcmp(tok, "hg");
		v->nh |= !strcmp(tok, "nh");
		used += snprintf(v->flags + used, sizeof(v->flags) - used, "%s%s",
				 used ? " " : "", tok);
		if (used >= sizeof(v->flags))
			break;
	}
}

struct vma_info *proc_vmas(pid_t pid, uint64_t lo, uint64_t hi, size_t *n)
{
	struct vma_info *v = NULL, *cur = NULL;
	size_t cap = 0;
	char path[64], *line = NULL;
	size_t len = 0;
	unsigned long s, e;
	FILE *f;

	*n = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	while (getline(&line, &len, f) > 0) {
		char c;

		if (sscanf(line, "%lx-%lx %c", &s, &e, &c) == 3 && strchr(line, '-') &&
		    strchr(line, '-') < strchr(line, ' ')) {
			cur = NULL;
			if (e <= lo || s >= hi)
				continue;
			if (*n == cap) {
				struct vma_info *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

				if (!nv)
					break;
				v = nv;
			}
			cur = &v[(*n)++];
			memset(cur, 0, sizeof(*cur));
			cur->start = s;
			cur->end = e;
		} else if (cur && !strncmp(line, "Rss:", 4)) {
			cur->rss_kb = strtoull(line + 4, NULL, 10);
		} else if (cur && !strncmp(line, "AnonHugePages:", 14)) {
			cur->anon_huge_kb = strtoull(line + 14, NULL, 10);
		} else if (cur && !strncmp(line, "VmFlags:", 8)) {
			keep_flags(cur, line + 8);
		}
	}
	free(line);
	fclose(f);
	return v;
}

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h) */
#define KPF_COMPOUND_HEAD	15
#define KPF_THP			22

int proc_huge_pmds(pid_t pid, uint64_t lo, uint64_t hi, uint64_t *addrs, size_t max, size_t *n)
{
	long ps = getpagesize();
	const uint64_t pmd = 2ULL << 20;
	char path[64];
	int pm, kf, ret = 0;

	*n = 0;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	pm = open(path, O_RDONLY | O_CLOEXEC);
	kf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (pm < 0 || kf < 0) {
		ret = -errno;
		goto out;
	}
	for (uint64_t a = (lo + pmd - 1) & ~(pmd - 1); a + pmd <= hi && *n < max; a += pmd) {
		uint64_t e, flags, pfn;

		if (pread(pm, &e, 8, a / ps * 8) != 8) {
			ret = -EIO;
			break;
		}
		pfn = e & ((1ULL << 55) - 1);
		if (!(e >> PM_PRESENT_BIT & 1))
			continue;
		if (!pfn) {		/* PFNs are hidden without CAP_SYS_ADMIN */
			ret = -EPERM;
			break;
		}
		if (pread(kf, &flags, 8, pfn * 8) != 8) {
			ret = -EIO;
			break;
		}
		if (flags >> KPF_THP & 1 && flags >> KPF_COMPOUND_HEAD & 1)
			addrs[(*n)++] = a;
	}
out:
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return ret;
}
