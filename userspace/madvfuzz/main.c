// SPDX-License-Identifier: GPL-2.0
/*
 * madvfuzz: random madvise/mprotect/mremap/munmap/mmap/fork/userfaultfd
 * sequences on a few VMAs per worker, khugepaged at full speed, each
 * operation checked against a model of the VMAs, the page table and the
 * contents. Prints its seed; the same seed applies the same sequence
 * (worker K alone with --only K).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "fatal_signal.h"
#include "knobs.h"
#include "parse.h"
#include "uffd.h"
#include "worker.h"

#define MAX_WORKERS 16
/* Far below where glibc and the loader map, 1 GiB per worker. */
#define ARENA_BASE	0x200000000000ULL
#define ARENA_STRIDE	(1ULL << 30)

static const char usage[] =
	"usage: madvfuzz [--seed N] [--workers N] [--seconds S] [--ops N] [--only K]\n"
	"                [--arena-mib M] [--no-fork] [--no-knobs] [--trace PREFIX]\n"
	"  --seed N       the sequence (default: from the clock; printed)\n"
	"  --workers N    threads, each with its arena and server (default 2, at most 16)\n"
	"  --seconds S    how long (default 20); --ops N: at most N operations per worker\n"
	"  --only K       worker K alone, its sequence as in a run with more workers\n"
	"  --arena-mib M  each worker's arena, an even number of MiB (default 16)\n"
	"  --no-fork      no forked children\n"
	"  --no-knobs     leave khugepaged's knobs as they are (default: full speed while\n"
	"                 running, put back after, whatever ends the run)\n"
	"  --trace PREFIX worker K's operations to PREFIX.K\n"
	"Exit status: 0 no violation, 1 a violation, 2 bad arguments, 3 a setup error.\n";

struct run {
	struct fuzz_cfg cfg;
	bool knobs;
	struct knobs kn;
	struct fuzz_counts *cnt;
	struct worker w[MAX_WORKERS];
	unsigned int nw;
	atomic_bool stop;
};

static int bad_arg(const char *what, const char *val)
{
	fprintf(stderr, "madvfuzz: %s: '%s'\n%s", what, val, usage);
	return 2;
}

static int parse_args(struct run *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' }, { "workers", required_argument, NULL, 'w' },
		{ "seconds", required_argument, NULL, 't' }, { "ops", required_argument, NULL, 'n' },
		{ "only", required_argument, NULL, 'k' }, { "arena-mib", required_argument, NULL, 'a' },
		{ "no-fork", no_argument, NULL, 'F' }, { "no-knobs", no_argument, NULL, 'K' },
		{ "trace", required_argument, NULL, 'T' }, { "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned long long v;
	int c;

	r->cfg = (struct fuzz_cfg){ .workers = 2, .only = -1, .seconds = 20, .fork_children = true,
				    .arena_pages = (16UL << 20) / sysconf(_SC_PAGESIZE) };
	r->cfg.seed = (unsigned long long)time(NULL) * 2654435761ULL ^ (unsigned long long)getpid();
	r->knobs = true;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_decimal(optarg, 0, UINT64_MAX, &v))
				return bad_arg("--seed takes a whole number", optarg);
			r->cfg.seed = v;
			break;
		case 'w':
			if (parse_decimal(optarg, 1, MAX_WORKERS, &v))
				return bad_arg("--workers takes 1 to 16", optarg);
			r->cfg.workers = v;
			break;
		case 't':
			if (parse_decimal(optarg, 1, 7 * 24 * 3600, &v))
				return bad_arg("--seconds takes a whole number of seconds, at least 1", optarg);
			r->cfg.seconds = v;
			break;
		case 'n':
			if (parse_decimal(optarg, 1, ULONG_MAX, &v))
				return bad_arg("--ops takes a whole number, at least 1", optarg);
			r->cfg.max_ops = v;
			break;
		case 'k':
			if (parse_decimal(optarg, 0, MAX_WORKERS - 1, &v))
				return bad_arg("--only takes a worker index, 0 to 15", optarg);
			r->cfg.only = (int)v;
			break;
		case 'a':
			if (parse_decimal(optarg, 2, 512, &v) || v % 2)
				return bad_arg("--arena-mib takes an even number of MiB, 2 to 512", optarg);
			r->cfg.arena_pages = (v << 20) / sysconf(_SC_PAGESIZE);
			break;
		case 'F': r->cfg.fork_children = false; break;
		case 'K': r->knobs = false; break;
		case 'T': r->cfg.trace = optarg; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc)
		return bad_arg("unexpected argument", argv[optind]);
	if (r->cfg.only >= 0 && (unsigned int)r->cfg.only >= r->cfg.workers)
		return bad_arg("--only names a worker beyond --workers", argv[0]);
	return 0;
}

/*
 * khugepaged's own count of the PMD ranges it collapsed: there without
 * CONFIG_VM_EVENT_COUNTERS too (the guest's tinyconfig has no
 * thp_collapse_alloc in /proc/vmstat).
 */
static unsigned long khugepaged_collapsed(void)
{
	unsigned long v = 0;
	FILE *f = fopen(KNOBS_SYSFS "/pages_collapsed", "re");

	if (f && fscanf(f, "%lu", &v) != 1)
		v = 0;
	if (f)
		fclose(f);
	return v;
}

static void thp_enabled(char *buf, size_t len)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");

	if (!f || !fgets(buf, (int)len, f))
		snprintf(buf, len, "unknown\n");
	if (f)
		fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void report(const struct run *r, double secs, unsigned long khugepaged)
{
	const struct fuzz_counts *c = r->cnt;
	unsigned long total = 0;

	printf("%-16s %10s %8s\n", "operation", "done", "skipped");
	for (int op = 0; op < OP_N; op++) {
		total += c->ops[op];
		printf("%-16s %10lu %8lu%s\n", fuzz_op_name[op], (unsigned long)c->ops[op],
		       (unsigned long)c->skipped[op],
		       op == OP_CLR && !r->cfg.clr ? "  (MADV_CLR_HUGEPAGE not supported by this kernel)" : "");
	}
	printf("forked children %lu, faults served %lu, holes populated before their registration %lu\n",
	       (unsigned long)c->children, (unsigned long)c->served,
	       (unsigned long)c->populated_before_register);
	printf("MADV_COLLAPSE: success over %lu PMD ranges (already huge ones included); failed EINVAL %lu, "
	       "EAGAIN %lu, ENOMEM %lu, EBUSY %lu, other %lu\n", (unsigned long)c->collapsed,
	       (unsigned long)c->collapse_err[0], (unsigned long)c->collapse_err[1],
	       (unsigned long)c->collapse_err[2], (unsigned long)c->collapse_err[3],
	       (unsigned long)c->collapse_err[4]);
	printf("khugepaged: %lu PMD ranges collapsed meanwhile (its pages_collapsed, system-wide)\n",
	       khugepaged);
	printf("madvfuzz: seed %llu: %lu operations in %.0f s, %lu violations\n",
	       (unsigned long long)r->cfg.seed, total, secs, (unsigned long)c->violations);
}

static int run_workers(struct run *r)
{
	double t0 = now_ms() / 1e3, deadline = t0 + r->cfg.seconds;
	unsigned long k0 = khugepaged_collapsed();
	int ret = 0;

	for (unsigned int i = 0; i < r->cfg.workers; i++) {
		struct worker *w = &r->w[r->nw];

		if (r->cfg.only >= 0 && (int)i != r->cfg.only)
			continue;
		r->nw++;
		if (worker_init(w, &r->cfg, r->cnt, i, ARENA_BASE + i * ARENA_STRIDE, &r->stop,
				deadline))
			return 3;
	}
	for (unsigned int i = 0; i < r->nw; i++) {
		int e = pthread_create(&r->w[i].thread, NULL, worker_main, &r->w[i]);

		if (e) {
			fprintf(stderr, "madvfuzz: a worker thread: %s\n", strerror(e));
			atomic_store(&r->stop, true);
			r->nw = i;
			ret = 3;
			break;
		}
	}
	for (unsigned int i = 0; i < r->nw; i++) {
		pthread_join(r->w[i].thread, NULL);
		if (r->w[i].result && !ret)
			ret = 1;
	}
	if (!ret || ret == 1)
		report(r, now_ms() / 1e3 - t0, khugepaged_collapsed() - k0);
	return ret;
}

int main(int argc, char **argv)
{
	struct run *r = calloc(1, sizeof(*r));
	char enabled[128];
	struct err e;
	int ret;

	if (!r)
		return 3;
	ret = parse_args(r, argc, argv);
	if (ret)
		goto out;
	r->cnt = mmap(NULL, sizeof(*r->cnt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r->cnt == MAP_FAILED) {
		fprintf(stderr, "madvfuzz: mmap: %s\n", strerror(errno));
		r->cnt = NULL;
		ret = 3;
		goto out;
	}
	r->cfg.clr = madv_clr_hugepage_supported();
	thp_enabled(enabled, sizeof(enabled));
	printf("madvfuzz: seed %llu, %u worker(s)%s, %.0f s, %zu MiB arenas, MADV_CLR_HUGEPAGE %s, "
	       "THP enabled: %s\n", (unsigned long long)r->cfg.seed, r->cfg.workers,
	       r->cfg.only >= 0 ? " (one replayed)" : "", r->cfg.seconds,
	       r->cfg.arena_pages * sysconf(_SC_PAGESIZE) >> 20,
	       r->cfg.clr ? "yes" : "not supported by this kernel (EINVAL): not exercised", enabled);
	fflush(stdout);
	if (r->knobs) {
		if (knobs_acquire(&r->kn, NULL, &e)) {
			fprintf(stderr, "madvfuzz: khugepaged's knobs: %s (--no-knobs to leave them)\n", e.msg);
			ret = 3;
			goto out;
		}
		fatal_signal_on(knobs_release_hook, &r->kn);
	}
	ret = run_workers(r);
	for (unsigned int i = 0; i < r->nw; i++)
		worker_free(&r->w[i]);
	if (r->knobs) {
		fatal_signal_off(knobs_release_hook, &r->kn);
		if (knobs_release(&r->kn, &e)) {
			fprintf(stderr, "madvfuzz: putting khugepaged's knobs back: %s\n", e.msg);
			if (!ret)
				ret = 3;
		}
	}
out:
	if (r->cnt)
		munmap(r->cnt, sizeof(*r->cnt));
	free(r);
	return ret;
}
