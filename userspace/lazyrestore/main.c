// SPDX-License-Identifier: GPL-2.0
/*
 * lazyrestore: a real pre-copy + post-copy migration of a running
 * workload between two processes of this machine, with each way of
 * keeping THP away from partially restored memory, side by side.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "criu.h"
#include "knobs.h"
#include "migrate.h"
#include "numa_policy.h"
#include "result_json.h"
#include "scenario.h"
#include "selfcheck.h"
#include "uffd.h"

#define MAX_RUNS 10

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "lazyrestore: %s\n", why);
	fprintf(stderr,
		"usage: lazyrestore run [--strategy NAME[,NAME...]|auto|all]   NAME: clr, prctl,\n"
		"                       uffd-copy, uffd-move, nohuge-huge, none, criu-ps, criu-local\n"
		"                       [--size MIB] [--dirty PERCENT] [--khugepaged aggressive|default]\n"
		"                       [--images DIR] [--seed N] [--json] [--collapse]\n"
		"                       [--thp-watch SECONDS] [--numa] [--early-fill]\n"
		"                       [--hot-mib MIB] [--steps N] [--tracker auto|soft-dirty]\n"
		"                       [--inject kill-source-before-freeze|kill-source-lazy|kill-dest-lazy|\n"
		"                                 damage-flip|damage-truncate|no-uffd-move]   (test hooks)\n"
		"       lazyrestore scenario running-region [--strategy NAME[,NAME...]] [--size MIB]\n"
		"                       [--running MIB] [--dirty PERCENT] [--khugepaged aggressive|default]\n"
		"                       [--images DIR] [--seed N] [--json]\n"
		"       lazyrestore workload --size MIB --hot-pages N --steps N --seed N\n"
		"                            --ready FILE --verdict FILE   (what criu-* runs dump)\n"
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
		"Exit status: 0 when every strategy that protects the restore restored\n"
		"every page (\"none\" is the control: its losses are reported, and make\n"
		"the exit status 3 only when it is the one strategy asked for); 3 when a\n"
		"protecting strategy lost data; 1 on error (or when the one strategy asked\n"
		"for is unavailable); 2 on bad arguments.\n");
	return 2;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || end == s || *end || *out > max ? -1 : 0;
}

static void print_table(const struct result *r, int n)
{
	printf("\n%-12s %9s %7s %7s %8s %9s %11s %9s %8s %8s %9s\n", "strategy", "corrupted",
	       "lazy", "faults", "VmFlags", "VMAs s/d", "THP kB s/d", "fill ms", "down ms",
	       "lazy ms", "p99 us");
	for (int i = 0; i < n; i++) {
		if (r[i].error[0]) {
			printf("%-12s %s: %s\n", r[i].st->name,
			       r[i].unavailable ? "unavailable" : "error", r[i].error);
			continue;
		}
		printf("%-12s %9llu %7llu %7llu %8s %4d/%-4d %5llu/%-5llu %9.1f %8.1f %8.1f %9.1f\n",
		       r[i].st->name, (unsigned long long)r[i].corrupted,
		       (unsigned long long)r[i].lazy, (unsigned long long)r[i].faults,
		       r[i].flag_mismatches ? "DIFFER" : "same", r[i].src.vmas, r[i].dst.vmas,
		       (unsigned long long)r[i].src.thp_kb, (unsigned long long)r[i].dst.thp_kb,
		       r[i].fill_ms, r[i].downtime_ms, r[i].lazy_ms, r[i].fault_p99_us);
	}
	for (int i = 0; i < n; i++) {
		if (r[i].error[0] || r[i].st->criu)
			continue;
		printf("  %-12s lazy set by %s%s%s: %llu pages for %llu the task wrote since "
		       "round %d (x%.2f), %llu missed; rounds", r[i].st->name, r[i].tracker,
		       r[i].tracker_why[0] ? " -- " : "", r[i].tracker_why,
		       (unsigned long long)r[i].lazy, (unsigned long long)r[i].written, r[i].rounds,
		       r[i].written ? (double)r[i].lazy / r[i].written : 0.0,
		       (unsigned long long)r[i].missed);
		for (int k = 0; k < r[i].rounds; k++)
			printf(" %llu", (unsigned long long)r[i].round_pages[k]);
		printf("\n  %-12s task: %llu steps, %llu page checks (child %llu); handler: "
		       "%llu faults, %llu background, %llu zero, %llu copied twice; events fork %llu "
		       "remap %llu remove %llu unmap %llu\n", "",
		       (unsigned long long)r[i].task_steps, (unsigned long long)r[i].task_checked,
		       (unsigned long long)r[i].child_checked, (unsigned long long)r[i].faults,
		       (unsigned long long)r[i].background, (unsigned long long)r[i].zero_pages,
		       (unsigned long long)r[i].copied_twice, (unsigned long long)r[i].ev_fork,
		       (unsigned long long)r[i].ev_remap, (unsigned long long)r[i].ev_remove,
		       (unsigned long long)r[i].ev_unmap);
	}
	for (int i = 0, head = 0; i < n; i++) {
		if (r[i].error[0])
			continue;
		if (!head++)
			printf("THP kB of the MADV_HUGEPAGE VMA from lazy completion, every %d ms\n"
			       "(the source's before write tracking split it, in []; sampling starts "
			       "once the task has sent its verdict):\n", THP_SAMPLE_MS);
		printf("  %-12s [%llu] from +%.0f ms:", r[i].st->name,
		       (unsigned long long)r[i].thp_hg_src_kb, r[i].thp_first_ms);
		for (int k = 0; k < r[i].thp_samples && k < 12; k++)
			printf(" %llu", (unsigned long long)r[i].thp_hg_kb[k]);
		if (r[i].thp_back_ms >= 0)
			printf("%s: back in %.0f ms\n", r[i].thp_samples > 12 ? " ..." : "",
			       r[i].thp_back_ms);
		else
			printf("%s: not back in %d ms\n", r[i].thp_samples > 12 ? " ..." : "",
			       (r[i].thp_samples - 1) * THP_SAMPLE_MS);
	}
	for (int i = 0; i < n; i++)
		if (!r[i].error[0] && r[i].numa_misplaced >= 0)
			printf("  %s: %lld of %llu pages on another NUMA node than in the source "
			       "(per VMA: %lld %lld %lld)\n", r[i].st->name, r[i].numa_misplaced,
			       (unsigned long long)r[i].pages, r[i].numa_misplaced_vma[0],
			       r[i].numa_misplaced_vma[1], r[i].numa_misplaced_vma[2]);
	for (int i = 0; i < n; i++)
		if (!r[i].error[0] && !r[i].st->criu && !r[i].task_steps && r[i].corrupted)
			printf("  %s: the task's own state was lost (read as zeros): it could not "
			       "resume\n", r[i].st->name);
	for (int i = 0; i < n; i++)
		if (!r[i].error[0] && r[i].flag_mismatches)
			printf("  %s: %d VMA(s) differ, first %s\n", r[i].st->name,
			       r[i].flag_mismatches, r[i].first_mismatch);
}

static void print_json(const struct result *r, int n)
{
	printf("[");
	for (int i = 0; i < n; i++) {
		if (result_json_begin(&r[i], i))
			continue;
		printf("\"pages\": %llu, \"precopied\": %llu, \"lazy\": %llu, \"corrupted\": %llu, "
		       "\"zero_filled\": %llu, \"faults\": %llu, \"background\": %llu, "
		       "\"tracker\": \"%s\", \"rounds\": %d, \"written\": %llu, \"missed\": %llu, "
		       "\"scan_ms\": %.3f, \"lazy_round_ms\": %.3f, \"task_steps\": %llu, \"task_checked\": %llu, "
		       "\"child_checked\": %llu, \"zero_pages\": %llu, \"copied_twice\": %llu, "
		       "\"postcopy_pages\": %llu, \"discarded\": %llu, "
		       "\"ev_fork\": %llu, \"ev_remap\": %llu, \"ev_remove\": %llu, \"ev_unmap\": %llu, "
		       "\"vmflags_identical\": %s, \"vma_mismatches\": %d, "
		       "\"vmas_source\": %d, \"vmas_restored\": %d, "
		       "\"thp_kb_source\": %llu, \"thp_kb_restored\": %llu, "
		       "\"precopy_ms\": %.3f, \"fill_ms\": %.3f, \"downtime_ms\": %.3f, "
		       "\"lazy_ms\": %.3f, \"total_ms\": %.3f, \"fault_p50_us\": %.2f, \"fault_p99_us\": %.2f, "
		       "\"collapse_pmds\": %llu, \"collapse_ms\": %.3f, \"thp_back_ms\": %.1f, \"thp_first_ms\": %.1f, "
		       "\"numa_misplaced\": %lld, \"numa_misplaced_vma\": [%lld, %lld, %lld], "
		       "\"thp_sample_ms\": %d, \"thp_hg_kb_source\": %llu, \"thp_hg_kb_at_lazy_end\": %llu, "
		       "\"move_pmds\": %llu, \"move_pages\": %llu, \"move_copied\": %llu, "
		       "\"thp_hg_kb\": [",
		       (unsigned long long)r[i].pages, (unsigned long long)r[i].precopied,
		       (unsigned long long)r[i].lazy, (unsigned long long)r[i].corrupted,
		       (unsigned long long)r[i].zero_filled, (unsigned long long)r[i].faults,
		       (unsigned long long)r[i].background, r[i].tracker, r[i].rounds,
		       (unsigned long long)r[i].written, (unsigned long long)r[i].missed, r[i].scan_ms, r[i].lazy_round_ms,
		       (unsigned long long)r[i].task_steps, (unsigned long long)r[i].task_checked,
		       (unsigned long long)r[i].child_checked, (unsigned long long)r[i].zero_pages,
		       (unsigned long long)r[i].copied_twice, (unsigned long long)r[i].postcopy_pages,
		       (unsigned long long)r[i].discarded,
		       (unsigned long long)r[i].ev_fork,
		       (unsigned long long)r[i].ev_remap, (unsigned long long)r[i].ev_remove,
		       (unsigned long long)r[i].ev_unmap,
		       r[i].flag_mismatches ? "false" : "true",
		       r[i].flag_mismatches, r[i].src.vmas, r[i].dst.vmas,
		       (unsigned long long)r[i].src.thp_kb, (unsigned long long)r[i].dst.thp_kb,
		       r[i].precopy_ms, r[i].fill_ms, r[i].downtime_ms, r[i].lazy_ms, r[i].total_ms,
		       r[i].fault_p50_us, r[i].fault_p99_us,
		       (unsigned long long)r[i].collapse_pmds, r[i].collapse_ms, r[i].thp_back_ms,
		       r[i].thp_first_ms,
		       r[i].numa_misplaced, r[i].numa_misplaced_vma[0], r[i].numa_misplaced_vma[1],
		       r[i].numa_misplaced_vma[2],
		       THP_SAMPLE_MS, (unsigned long long)r[i].thp_hg_src_kb,
		       (unsigned long long)r[i].thp_hg_lazy_kb, (unsigned long long)r[i].move_pmds,
		       (unsigned long long)r[i].move_pages, (unsigned long long)r[i].move_copied);
		for (int k = 0; k < r[i].thp_samples; k++)
			printf("%s%llu", k ? ", " : "", (unsigned long long)r[i].thp_hg_kb[k]);
		printf("]}");
	}
	printf("\n]\n");
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
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((opt == 'm' && (parse_uint(optarg, 1 << 16, &size) || size < 2 || size % 2)) ||
		    (opt == 'p' && parse_uint(optarg, 1UL << 40, &hot)) ||
		    (opt == 's' && parse_uint(optarg, 1UL << 40, &steps)) ||
		    (opt == 'r' && parse_uint(optarg, 1U << 31, &seed)) || opt == '?')
			return usage("workload: bad --size, --hot-pages, --steps or --seed");
		if (opt == 'R')
			ready = optarg;
		if (opt == 'V')
			verdict = optarg;
		if (opt == 'n')
			numa = true;
		hot_given |= opt == 'p';
	}
	if (!size || !hot_given || !ready || !verdict || optind != argc)
		return usage("workload needs --size, --hot-pages, --ready and --verdict");
	layout_init(&l, (uint64_t)size << 20, seed);
	if (numa)
		layout_set_numa(&l);
	return selfcheck_run(&l, hot, steps, ready, verdict);
}

int main(int argc, char **argv)
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *strategy = "auto";
	char images[256], why[200];
	struct config cfg = { .region_bytes = 32ULL << 20, .hot_permille = 100, .seed = 1,
			      .wait_khugepaged = true, .thp_watch_ms = 3000 };
	struct result res[MAX_RUNS];
	const struct strategy *runs[MAX_RUNS];
	struct knobs kn = { .n = 0 };
	unsigned long v;
	int n = 0, opt, json = 0, rc = 0;
	bool scenario = argc >= 2 && !strcmp(argv[1], "scenario");

	if (argc >= 2 && !strcmp(argv[1], "workload"))
		return workload_main(argc, argv);
	if (argc < 2 || (strcmp(argv[1], "run") && !scenario))
		return usage(argc < 2 ? "no command" :
			     "the commands are 'run', 'scenario' and 'workload'");
	snprintf(images, sizeof(images), "/tmp/lazyrestore-images.%d", (int)getpid());
	cfg.image_dir = images;
	optind = 2;
	if (scenario) {
		if (argc < 3 || strcmp(argv[2], "running-region"))
			return usage("the one scenario is 'running-region'");
		optind = 3;
		strategy = SCENARIO_STRATEGIES;
		cfg.running_bytes = (uint64_t)SCENARIO_RUNNING_MIB << 20;
		cfg.thp_watch_ms = 0;	/* its THP is the running region's, in the window */
	}
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			strategy = optarg;
			break;
		case 'm':
			if (parse_uint(optarg, 1 << 16, &v) || v < 2 || v % 2)
				return usage("--size takes an even number of MiB per VMA, at least 2");
			cfg.region_bytes = (uint64_t)v << 20;
			break;
		case 'd':
			if (parse_uint(optarg, 100, &v))
				return usage("--dirty takes a whole percentage, 0 to 100");
			cfg.hot_permille = v * 10;
			break;
		case 'k':
			if (strcmp(optarg, "aggressive") && strcmp(optarg, "default"))
				return usage("--khugepaged takes aggressive or default");
			cfg.wait_khugepaged = !strcmp(optarg, "aggressive");
			break;
		case 'i':
			snprintf(images, sizeof(images), "%s", optarg);
			break;
		case 'r':
			if (parse_uint(optarg, 1U << 31, &v))
				return usage("--seed takes a number");
			cfg.seed = v;
			break;
		case 'j':
			json = 1;
			break;
		case 'c':
			cfg.collapse = true;
			break;
		case 'n':
			cfg.numa = true;
			break;
		case 'e':
			cfg.early_fill = true;
			break;
		case 'w':
			if (parse_uint(optarg, THP_SAMPLES * THP_SAMPLE_MS / 1000, &v))
				return usage("--thp-watch takes seconds, 0 to 60");
			cfg.thp_watch_ms = v * 1000;
			break;
		case 'x':
			if (strcmp(optarg, "kill-source-before-freeze") && strcmp(optarg, "kill-source-lazy") &&
			    strcmp(optarg, "damage-flip") && strcmp(optarg, "damage-truncate") &&
			    strcmp(optarg, "no-uffd-move") && strcmp(optarg, "kill-dest-lazy"))
				return usage("--inject takes kill-source-before-freeze, kill-source-lazy, "
					     "kill-dest-lazy, damage-flip, damage-truncate or no-uffd-move");
			cfg.inject = optarg;
			break;
		case 'R':
			if (!scenario || parse_uint(optarg, 1 << 16, &v) || v < 2 || v % 2)
				return usage("--running takes an even number of MiB, at least 2, "
					     "and belongs to scenario running-region");
			cfg.running_bytes = (uint64_t)v << 20;
			break;
		case 'H':
			if (parse_uint(optarg, 1 << 16, &v) || !v)
				return usage("--hot-mib takes a number of MiB, at least 1");
			cfg.hot_bytes = (uint64_t)v << 20;
			break;
		case 'S':
			if (parse_uint(optarg, 1UL << 32, &v) || !v)
				return usage("--steps takes a number of accesses, at least 1");
			cfg.post_steps = v;
			break;
		case 'T':
			if (strcmp(optarg, "auto") && strcmp(optarg, "soft-dirty"))
				return usage("--tracker takes auto or soft-dirty");
			cfg.soft_dirty = !strcmp(optarg, "soft-dirty");
			break;
		case 'h':
			usage(NULL);
			return 0;
		default:
			return usage("unknown option");
		}
	}
	if (optind != argc)
		return usage("unexpected argument");
	if (cfg.numa && numa_check(why, sizeof(why))) {
		fprintf(stderr, "lazyrestore: %s\n", why);
		return 1;
	}

	if (!strcmp(strategy, "all")) {
		for (int i = 0; strategy_at(i) && n < MAX_RUNS; i++)
			if (!scenario || scenario_takes(strategy_at(i)))
				runs[n++] = strategy_at(i);
	} else if (!strcmp(strategy, "auto")) {
		runs[n++] = strategy_find(madv_clr_hugepage_supported() ? "clr" : "uffd-copy");
		if (!madv_clr_hugepage_supported())
			fprintf(stderr, "lazyrestore: MADV_CLR_HUGEPAGE not supported by this kernel (EINVAL): using uffd-copy\n");
	} else {
		/* One name, or several separated by commas. */
		for (const char *p = strategy; *p; ) {
			size_t len = strcspn(p, ",");
			char name[32];

			snprintf(name, sizeof(name), "%.*s", (int)len, p);
			if (n == MAX_RUNS || !(runs[n++] = strategy_find(name))) {
				fprintf(stderr, "lazyrestore: unknown strategy '%s'\n", name);
				return usage("--strategy takes strategy names, comma-separated, or auto or all");
			}
			p += len + (p[len] == ',');
		}
		if (!n)
			return usage("--strategy takes strategy names, comma-separated, or auto or all");
	}
	for (int i = 0; scenario && i < n; i++)
		if (!scenario_takes(runs[i])) {
			fprintf(stderr, "lazyrestore: %s restores a whole process of its own: "
				"no running region to keep\n", runs[i]->name);
			return usage("scenario running-region takes our own strategies");
		}

	if (cfg.wait_khugepaged) {
		if (knobs_set_aggressive(&kn, why, sizeof(why))) {
			fprintf(stderr, "lazyrestore: --khugepaged=aggressive: %s\n", why);
			return 1;
		}
		knobs_restore_on_signal(&kn);
	}
	for (int i = 0; i < n; i++) {
		const char *missing = strategy_missing(runs[i], cfg.inject &&
						       !strcmp(cfg.inject, "no-uffd-move"));

		if (missing) {
			memset(&res[i], 0, sizeof(res[i]));
			res[i].st = runs[i];
			res[i].unavailable = true;
			snprintf(res[i].error, sizeof(res[i].error), "%s", missing);
			continue;
		}
		if (runs[i]->criu)
			criu_migrate(&cfg, runs[i], &res[i]);
		else
			migrate(&cfg, runs[i], &res[i]);
	}
	knobs_restore(&kn);

	if (scenario && json)
		scenario_print_json(res, n, cfg.running_bytes);
	else if (scenario)
		scenario_print_table(res, n, cfg.running_bytes);
	else if (json)
		print_json(res, n);
	else
		print_table(res, n);
	for (int i = 0; i < n; i++) {
		if (res[i].error[0] && !(res[i].unavailable && n > 1))
			rc = rc ? rc : 1;
		if (!res[i].error[0] && res[i].corrupted && (n == 1 || strcmp(runs[i]->name, "none")))
			rc = 3;
	}
	return rc;
}
