// SPDX-License-Identifier: GPL-2.0
/*
 * lazyrestore: a real pre-copy + post-copy migration of a running
 * workload between two processes of this machine, with each way of
 * keeping THP away from partially restored memory, side by side.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "criu.h"
#include "fatal_signal.h"
#include "image_dir.h"
#include "knobs.h"
#include "knobs_cmd.h"
#include "migrate.h"
#include "numa_policy.h"
#include "parse.h"
#include "result_json.h"
#include "result_table.h"
#include "scenario.h"
#include "selfcheck.h"
#include "uffd.h"

#define MAX_RUNS 10

/* A bad invocation: one line naming what was wrong, exit status 2. */
#define bad(...) err_usage("lazyrestore: ", "lazyrestore --help", __VA_ARGS__)

static int usage(void)
{
	printf(
		"usage: lazyrestore run [--strategy NAME[,NAME...]|auto|all]   NAME: clr, prctl,\n"
		"                       uffd-copy, uffd-move, nohuge-huge, none, criu-ps, criu-local\n"
		"                       [--size MIB] [--dirty PERCENT] [--khugepaged aggressive|default]\n"
		"                       [--images DIR] [--seed N] [--json] [--collapse]\n"
		"                       [--thp-watch SECONDS] [--numa] [--early-fill]\n"
		"                       [--hot-mib MIB] [--steps N] [--tracker auto|soft-dirty]\n"
		"                       [--inject FAULT]   (test hooks, see below)\n"
		"       lazyrestore scenario running-region [--strategy NAME[,NAME...]] [--size MIB]\n"
		"                       [--running MIB] [--dirty PERCENT] [--khugepaged aggressive|default]\n"
		"                       [--images DIR] [--seed N] [--json]\n"
		"       lazyrestore workload --size MIB --hot-pages N --steps N --seed N\n"
		"                            --ready FILE --verdict FILE   (what criu-* runs dump)\n"
		"       lazyrestore knobs --restore|--status   (khugepaged knobs a killed run left)\n"
		"Migrates a running task with one VMA per THP state (default, MADV_HUGEPAGE,\n"
		"MADV_NOHUGEPAGE; --size MiB each): pre-copy rounds of the pages it wrote\n"
		"since the last (userfaultfd WP_ASYNC + PAGEMAP_SCAN; soft-dirty where the\n"
		"kernel lacks them, or with --tracker soft-dirty), freeze, restore, then the\n"
		"task resumes on the restored memory: it rewrites random pages of its hot set\n"
		"(--dirty percent of the pages, or --hot-mib), forks, mremaps a region away and\n"
		"back and discards a range while its lazy pages come in, and checks every page\n"
		"it touches and, after --steps accesses, every page. Its verdict, VmFlags, the\n"
		"VMA layout and THP coverage are reported against the source.\n"
		"--collapse: after lazy completion, MADV_COLLAPSE the ranges the source had\n"
		"as THPs; --thp-watch: how long to watch THP coverage come back (3 s).\n"
		"--numa: the source binds one VMA to node 1 and interleaves another; the\n"
		"restore re-applies each VMA's policy (move_pages() checks every page).\n"
		"--early-fill: the destination fills from the images while the source still\n"
		"runs; at the freeze only the lazy set is discarded (MADV_DONTNEED) before\n"
		"registration, so the downtime no longer holds the fill.\n"
		"criu-ps and criu-local migrate the same layout with CRIU's lazy restore\n"
		"(page server, local images) as the yardstick; \"all\" reports them as\n"
		"unavailable where criu, MADV_CLR_HUGEPAGE or UFFDIO_MOVE is missing.\n"
		"scenario running-region: the same restore while a thread of the destination\n"
		"faults in a running region (--running MiB, MADV_HUGEPAGE) throughout the\n"
		"restore window; reports that region's THP coverage at the end of the window.\n"
		"--images DIR: where the images go; DIR must not exist (default: a new\n"
		"directory under $TMPDIR or /tmp); removed after the run.\n"
		"--inject FAULT (tests): kill-source-before-freeze, kill-source-lazy,\n"
		"kill-dest-lazy, damage-flip, damage-truncate, no-uffd-move.\n"
		"Exit status: 0 when every strategy that protects the restore restored\n"
		"every page (\"none\" is the control: its losses are reported, and make\n"
		"the exit status 3 only when it is the one strategy asked for); 3 when a\n"
		"protecting strategy lost data; 1 on error (or when the one strategy asked\n"
		"for is unavailable); 2 on bad arguments.\n");
	return 0;
}

/* What getopt_long() refused, in one line. */
static int bad_option(char **argv, int opt)
{
	const char *what = argv[optind - 1];

	if (opt == ':')
		return bad("%s needs a value", what);
	return bad("unknown option '%s'", what);
}

/* A decimal number in [min, max]: digits only, no sign, no blanks. */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long long v;

	if (parse_decimal(s, min, max, &v))
		return -1;
	*out = v;
	return 0;
}

/* lazyrestore workload: the process criu-* runs dump, restore and ask to check itself. */
static int workload_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 'm' },
		{ "hot-pages", required_argument, NULL, 'p' },
		{ "steps", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'r' },
		{ "ready", required_argument, NULL, 'R' },
		{ "verdict", required_argument, NULL, 'V' },
		{ "numa", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long size = 0, hot = 0, steps = 1000, seed = 1;
	bool numa = false, hot_given = false;
	const char *ready = NULL, *verdict = NULL;
	struct layout l;
	int opt;

	optind = 2;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (parse_uint(optarg, 2, 1 << 16, &size) || size % 2)
				return bad("workload: --size takes an even number of MiB, 2 to 65536, "
					   "not '%s'", optarg);
			break;
		case 'p':
			if (parse_uint(optarg, 0, 1UL << 40, &hot))
				return bad("workload: --hot-pages takes a number, not '%s'", optarg);
			hot_given = true;
			break;
		case 's':
			if (parse_uint(optarg, 1, 1UL << 40, &steps))
				return bad("workload: --steps takes a number, at least 1, not '%s'",
					   optarg);
			break;
		case 'r':
			if (parse_uint(optarg, 0, 1U << 31, &seed))
				return bad("workload: --seed takes a number, not '%s'", optarg);
			break;
		case 'R':
			ready = optarg;
			break;
		case 'V':
			verdict = optarg;
			break;
		case 'n':
			numa = true;
			break;
		default:
			return bad_option(argv, opt);
		}
	}
	if (!size || !hot_given || !ready || !verdict)
		return bad("workload needs --size, --hot-pages, --ready and --verdict");
	if (optind != argc)
		return bad("workload: unexpected argument '%s'", argv[optind]);
	layout_init(&l, (uint64_t)size << 20, seed);
	if (numa)
		layout_set_numa(&l);
	return selfcheck_run(&l, hot, steps, ready, verdict);
}

struct cli {
	struct config cfg;
	const char *strategy;
	const char *images;	/* --images, or NULL */
	bool scenario;
	bool json;
	const struct strategy *runs[MAX_RUNS];
	int n;
};

static int parse_options(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "strategy", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'm' },
		{ "dirty", required_argument, NULL, 'd' },
		{ "khugepaged", required_argument, NULL, 'k' },
		{ "images", required_argument, NULL, 'i' },
		{ "seed", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "inject", required_argument, NULL, 'x' },
		{ "collapse", no_argument, NULL, 'c' },
		{ "numa", no_argument, NULL, 'n' },
		{ "early-fill", no_argument, NULL, 'e' },
		{ "thp-watch", required_argument, NULL, 'w' },
		{ "running", required_argument, NULL, 'R' },
		{ "hot-mib", required_argument, NULL, 'H' },
		{ "steps", required_argument, NULL, 'S' },
		{ "tracker", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct config *cfg = &c->cfg;
	char names[160];
	unsigned long v;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			c->strategy = optarg;
			break;
		case 'm':
			if (parse_uint(optarg, 2, 1 << 16, &v) || v % 2)
				return bad("--size takes an even number of MiB per VMA, 2 to 65536, "
					   "not '%s'", optarg);
			cfg->region_bytes = (uint64_t)v << 20;
			break;
		case 'd':
			if (parse_uint(optarg, 0, 100, &v))
				return bad("--dirty takes a whole percentage, 0 to 100, not '%s'",
					   optarg);
			cfg->hot_permille = v * 10;
			break;
		case 'k':
			if (strcmp(optarg, "aggressive") && strcmp(optarg, "default"))
				return bad("--khugepaged takes aggressive or default, not '%s'", optarg);
			cfg->wait_khugepaged = !strcmp(optarg, "aggressive");
			break;
		case 'i':
			c->images = optarg;
			break;
		case 'r':
			if (parse_uint(optarg, 0, 1U << 31, &v))
				return bad("--seed takes a number, 0 to 2^31, not '%s'", optarg);
			cfg->seed = v;
			break;
		case 'j':
			c->json = true;
			break;
		case 'c':
			cfg->collapse = true;
			break;
		case 'n':
			cfg->numa = true;
			break;
		case 'e':
			cfg->early_fill = true;
			break;
		case 'w':
			if (parse_uint(optarg, 0, THP_SAMPLES * THP_SAMPLE_MS / 1000, &v))
				return bad("--thp-watch takes seconds, 0 to %d, not '%s'",
					   THP_SAMPLES * THP_SAMPLE_MS / 1000, optarg);
			cfg->thp_watch_ms = v * 1000;
			break;
		case 'x':
			cfg->inject = inject_parse(optarg);
			if (cfg->inject == INJECT_MAX || cfg->inject == INJECT_NONE)
				return bad("--inject takes one of %s, not '%s'",
					   inject_names(names, sizeof(names)), optarg);
			break;
		case 'R':
			if (!c->scenario)
				return bad("--running belongs to scenario running-region");
			if (parse_uint(optarg, 2, 1 << 16, &v) || v % 2)
				return bad("--running takes an even number of MiB, 2 to 65536, not '%s'",
					   optarg);
			cfg->running_bytes = (uint64_t)v << 20;
			break;
		case 'H':
			if (parse_uint(optarg, 1, 1 << 16, &v))
				return bad("--hot-mib takes a number of MiB, 1 to 65536, not '%s'",
					   optarg);
			cfg->hot_bytes = (uint64_t)v << 20;
			break;
		case 'S':
			if (parse_uint(optarg, 1, 1UL << 32, &v))
				return bad("--steps takes a number of accesses, at least 1, not '%s'",
					   optarg);
			cfg->post_steps = v;
			break;
		case 'T':
			if (strcmp(optarg, "auto") && strcmp(optarg, "soft-dirty"))
				return bad("--tracker takes auto or soft-dirty, not '%s'", optarg);
			cfg->soft_dirty = !strcmp(optarg, "soft-dirty");
			break;
		default:
			return bad_option(argv, opt);
		}
	}
	if (optind != argc)
		return bad("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* --strategy: names, comma-separated, or auto or all. */
static int parse_strategies(struct cli *c)
{
	if (!strcmp(c->strategy, "all")) {
		for (int i = 0; strategy_at(i) && c->n < MAX_RUNS; i++)
			if (!c->scenario || scenario_takes(strategy_at(i)))
				c->runs[c->n++] = strategy_at(i);
		return 0;
	}
	if (!strcmp(c->strategy, "auto")) {
		bool clr = madv_clr_hugepage_supported();

		c->runs[c->n++] = strategy_find(clr ? "clr" : "uffd-copy");
		if (!clr)
			fprintf(stderr, "lazyrestore: MADV_CLR_HUGEPAGE not supported by this kernel "
				"(EINVAL): using uffd-copy\n");
		return 0;
	}
	for (const char *p = c->strategy; *p; ) {
		size_t len = strcspn(p, ",");
		char name[32];

		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		if (c->n == MAX_RUNS)
			return bad("--strategy: %d strategies at most", MAX_RUNS);
		c->runs[c->n] = strategy_find(name);
		if (!c->runs[c->n])
			return bad("unknown strategy '%s' (--strategy takes clr, prctl, uffd-copy, "
				   "uffd-move, nohuge-huge, none, criu-ps, criu-local, auto or all)",
				   name);
		if (c->scenario && !scenario_takes(c->runs[c->n]))
			return bad("scenario running-region takes our own strategies: %s restores "
				   "a whole process of its own", name);
		c->n++;
		p += len + (p[len] == ',');
	}
	if (!c->n)
		return bad("--strategy takes strategy names, comma-separated, or auto or all");
	return 0;
}

/* Exit status: 1 on an error, 3 when a protecting strategy lost data. */
static int exit_status(const struct cli *c, const struct result *res)
{
	int rc = 0;

	for (int i = 0; i < c->n; i++) {
		if (res[i].error[0] && !(res[i].unavailable && c->n > 1))
			rc = rc ? rc : 1;
		if (!res[i].error[0] && res[i].corrupted &&
		    (c->n == 1 || strcmp(c->runs[i]->name, "none")))
			rc = 3;
	}
	return rc;
}

static void run_all(struct cli *c, const char *top, struct result *res)
{
	char dir[PATH_MAX + 32];

	for (int i = 0; i < c->n; i++) {
		const char *missing = strategy_missing(c->runs[i],
						       c->cfg.inject == INJECT_NO_UFFD_MOVE);

		if (missing) {
			memset(&res[i], 0, sizeof(res[i]));
			res[i].st = c->runs[i];
			res[i].unavailable = true;
			snprintf(res[i].error, sizeof(res[i].error), "%s", missing);
			continue;
		}
		/* A directory per run: each one's images are gone before the next. */
		snprintf(dir, sizeof(dir), "%s/%s", top, c->runs[i]->name);
		c->cfg.image_dir = dir;
		if (c->runs[i]->criu)
			criu_migrate(&c->cfg, c->runs[i], &res[i]);
		else
			migrate(&c->cfg, c->runs[i], &res[i]);
	}
}

int main(int argc, char **argv)
{
	struct cli c = {
		.cfg = { .region_bytes = 32ULL << 20, .hot_permille = 100, .seed = 1,
			 .wait_khugepaged = true, .thp_watch_ms = 3000 },
		.strategy = "auto",
	};
	struct result res[MAX_RUNS];
	struct knobs kn = { .held = 0 };
	struct image_dir top;
	struct err e;
	int rc;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
			  !strcmp(argv[1], "help")))
		return usage();
	if (argc >= 2 && !strcmp(argv[1], "workload"))
		return workload_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "knobs"))
		return knobs_main(argc, argv);
	if (argc < 2)
		return bad("no command: run, scenario, workload or knobs");
	c.scenario = !strcmp(argv[1], "scenario");
	if (strcmp(argv[1], "run") && !c.scenario)
		return bad("unknown command '%s': run, scenario, workload or knobs", argv[1]);
	optind = 2;
	if (c.scenario) {
		if (argc < 3 || strcmp(argv[2], "running-region"))
			return bad("the one scenario is 'running-region'");
		optind = 3;
		c.strategy = SCENARIO_STRATEGIES;
		c.cfg.running_bytes = (uint64_t)SCENARIO_RUNNING_MIB << 20;
		c.cfg.thp_watch_ms = 0;	/* its THP is the running region's, in the window */
	}
	rc = parse_options(&c, argc, argv);
	if (!rc)
		rc = parse_strategies(&c);
	if (rc)
		return rc;
	if (c.cfg.numa && numa_check(&e)) {
		fprintf(stderr, "lazyrestore: --numa: %s\n", e.msg);
		return 1;
	}
	if (image_dir_make(&top, c.images, &e)) {
		if (c.images)
			return bad("%s", e.msg);
		fprintf(stderr, "lazyrestore: %s\n", e.msg);
		return 1;
	}
	/* Registered before the knobs change: a signal from here on leaves nothing behind. */
	if (fatal_signal_on(image_dir_remove_hook, &top) ||
	    fatal_signal_on(knobs_release_hook, &kn)) {
		fprintf(stderr, "lazyrestore: cannot install the fatal signal handler\n");
		fatal_signal_off(image_dir_remove_hook, &top);
		image_dir_remove(&top);
		return 1;
	}
	if (c.cfg.wait_khugepaged && knobs_acquire(&kn, NULL, &e)) {
		fprintf(stderr, "lazyrestore: --khugepaged=aggressive: %s\n", e.msg);
		fatal_signal_off(knobs_release_hook, &kn);
		fatal_signal_off(image_dir_remove_hook, &top);
		image_dir_remove(&top);
		return 1;
	}
	run_all(&c, top.path, res);
	fatal_signal_off(image_dir_remove_hook, &top);
	/* Each run removed its images; what is left is a failed CRIU run's logs, said so. */
	if (rmdir(top.path) && errno != ENOTEMPTY)
		fprintf(stderr, "lazyrestore: removing %s: %s\n", top.path, strerror(errno));
	if (knobs_release(&kn, &e))
		fprintf(stderr, "lazyrestore: %s\n", e.msg);
	fatal_signal_off(knobs_release_hook, &kn);

	if (c.scenario && c.json)
		scenario_print_json(res, c.n, c.cfg.running_bytes);
	else if (c.scenario)
		scenario_print_table(res, c.n, c.cfg.running_bytes);
	else if (c.json)
		result_json_print(res, c.n);
	else
		result_table_print(res, c.n);
	return exit_status(&c, res);
}
