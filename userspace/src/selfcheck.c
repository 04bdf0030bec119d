// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "selfcheck.h"
#include "workload.h"

/* Set by SIGUSR1; a signal handler has nowhere else to put it. */
static volatile sig_atomic_t check_requested;

static void request_check(int sig)
{
	(void)sig;
	check_requested = 1;
}

struct selfcheck {
	const struct layout *l;
	long ps;
	uint64_t gen;		/* the pass being written, from 1 */
	uint64_t next;		/* the address that pass writes next */
	struct selfcheck_verdict v;
};

/* Pages below @next were rewritten by this pass, hot ones above by the last. */
static uint64_t expected_gen(const struct selfcheck *s, uint64_t addr)
{
	if (!layout_is_hot(s->l, addr))
		return 0;
	return addr < s->next ? s->gen : s->gen - 1;
}

static void note_bad(struct selfcheck *s, uint64_t addr, unsigned long long *count)
{
	if (!s->v.first_bad)
		s->v.first_bad = addr;
	(*count)++;
}

static int write_verdict(struct selfcheck *s, const char *path)
{
	char tmp[4096];
	FILE *f;

	for (int i = 0; i < s->l->n; i++)
		for (uint64_t a = s->l->vma[i].start; a < s->l->vma[i].end; a += s->ps) {
			enum page_state st = page_check(a, expected_gen(s, a), s->ps);

			s->v.pages++;
			if (st != PAGE_OK)
				note_bad(s, a, st == PAGE_ZERO ? &s->v.zero : &s->v.wrong);
		}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return 1;
	fprintf(f, "pages %llu\nwrong %llu\nzero %llu\nrewrites_wrong %llu\nfirst_bad %#llx\n",
		s->v.pages, s->v.wrong, s->v.zero, s->v.rewrites_wrong, s->v.first_bad);
	if (fclose(f) || rename(tmp, path))
		return 1;
	return 0;
}

static int touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	return fd < 0 ? -1 : close(fd);
}

int selfcheck_run(const struct layout *l, const char *ready_path, const char *verdict_path)
{
	struct selfcheck s = { .l = l, .ps = getpagesize(), .gen = 1 };
	struct sigaction sa = { .sa_handler = request_check };

	if (sigaction(SIGUSR1, &sa, NULL) || workload_map(l))
		return 1;
	s.next = l->vma[0].start;
	if (touch(ready_path)) {
		fprintf(stderr, "lazyrestore: workload: %s: %s\n", ready_path, strerror(errno));
		return 1;
	}
	for (;; s.gen++) {
		for (int i = 0; i < l->n; i++) {
			for (uint64_t a = l->vma[i].start; a < l->vma[i].end; a += s.ps) {
				if (check_requested)
					return write_verdict(&s, verdict_path);
				if (!layout_is_hot(l, a))
					continue;
				/* Read before write: a page lost in the restore shows here. */
				if (page_check(a, s.gen - 1, s.ps) != PAGE_OK)
					note_bad(&s, a, &s.v.rewrites_wrong);
				page_write(a, s.gen, s.ps);
				s.next = a + s.ps;
			}
		}
		s.next = l->vma[0].start;
	}
}

int selfcheck_read_verdict(const char *path, struct selfcheck_verdict *v)
{
	FILE *f = fopen(path, "re");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "pages %llu wrong %llu zero %llu rewrites_wrong %llu first_bad %llx",
		   &v->pages, &v->wrong, &v->zero, &v->rewrites_wrong, &v->first_bad);
	fclose(f);
	return n == 5 ? 0 : -1;
}
