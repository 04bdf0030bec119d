// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "selfcheck.h"

/* Set by SIGUSR1; a signal handler has nowhere else to put it. */
static volatile sig_atomic_t resume_requested;

static void request_resume(int sig)
{
	(void)sig;
	resume_requested = 1;
}

static int write_verdict(const struct task_verdict *v, const char *path)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return 1;
	fprintf(f, "checked %llu wrong %llu zero %llu first_bad %#llx child_checked %llu "
		"child_wrong %llu child_zero %llu steps %llu error %d\n",
		(unsigned long long)v->checked, (unsigned long long)v->wrong,
		(unsigned long long)v->zero, (unsigned long long)v->first_bad,
		(unsigned long long)v->child_checked, (unsigned long long)v->child_wrong,
		(unsigned long long)v->child_zero,
		(unsigned long long)v->steps, (int)v->error);
	if (fclose(f) || rename(tmp, path))
		return 1;
	return 0;
}

static int touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	return fd < 0 ? -1 : close(fd);
}

int selfcheck_run(const struct layout *l, uint64_t hot_pages, uint64_t post_steps,
		  const char *ready_path, const char *verdict_path)
{
	struct sigaction sa = { .sa_handler = request_resume };
	struct task_plan plan = { .steps = post_steps, .actions = true };
	struct task_state *s = task_of(l);
	struct task_verdict v;
	struct err e;

	if (sigaction(SIGUSR1, &sa, NULL))
		return 1;
	if (task_map(l, hot_pages, &e)) {
		fprintf(stderr, "lazyrestore: workload: %s\n", e.msg);
		return 1;
	}
	if (touch(ready_path)) {
		fprintf(stderr, "lazyrestore: workload: %s: %s\n", ready_path, strerror(errno));
		return 1;
	}
	while (!resume_requested)
		task_step(s);
	task_resume(s, &plan, &v);
	if (write_verdict(&v, verdict_path))
		return 1;
	for (;;)
		pause();
}

int selfcheck_read_verdict(const char *path, struct task_verdict *v)
{
	unsigned long long c, w, z, fb, cc, cw, cz, st;
	FILE *f = fopen(path, "re");
	int n, err;

	if (!f)
		return -1;
	n = fscanf(f, "checked %llu wrong %llu zero %llu first_bad %llx child_checked %llu "
		   "child_wrong %llu child_zero %llu steps %llu error %d", &c, &w, &z, &fb, &cc, &cw, &cz,
		   &st, &err);
	fclose(f);
	if (n != 9)
		return -1;
	*v = (struct task_verdict){ .checked = c, .wrong = w, .zero = z, .first_bad = fb,
				    .child_checked = cc, .child_wrong = cw,
				    .child_zero = cz, .steps = st, .error = err };
	return 0;
}
