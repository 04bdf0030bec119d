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

#include "knobs.h"
#include "migrate.h"
#include "uffd.h"

#define MAX_RUNS 8

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "lazyrestore: %s\n", why);
	fprintf(stderr,
		"usage: lazyrestore run [--strategy clr|prctl|uffd-copy|nohuge-huge|none|auto|all]\n"
		"                       [--size MIB] [--dirty PERCENT] [--khugepaged aggressive|default]\n"
		"                       [--images DIR] [--seed N] [--json]\n"
		"                       [--inject kill-source-before-freeze|kill-source-lazy|\n"
		"                                 damage-flip|damage-truncate]   (test hooks)\n"
		"Migrates a workload with one VMA per THP state (default, MADV_HUGEPAGE,\n"
		"MADV_NOHUGEPAGE; --size MiB each) and checks every page, VmFlags, the VMA\n"
		"layout and THP coverage of the restored process against the source.\n"
		"Exit status: 0 when every strategy that protects the restore restored\n"
		"every page (\"none\" is the control: its losses are reported, and make\n"
		"the exit status 3 only when it is the one strategy asked for); 3 when a\n"
		"protecting strategy lost data; 1 on error; 2 on bad arguments.\n");
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
			printf("%-12s error: %s\n", r[i].st->name, r[i].error);
			continue;
		}
		printf("%-12s %9llu %7llu %7llu %8s %4d/%-4d %5llu/%-5llu %9.1f %8.1f %8.1f %9.1f\n",
		       r[i].st->name, (unsigned long long)r[i].corrupted,
		       (unsigned long long)r[i].lazy, (unsigned long long)r[i].faults,
		       r[i].flag_mismatches ? "DIFFER" : "same", r[i].src.vmas, r[i].dst.vmas,
		       (unsigned long long)r[i].src.thp_kb, (unsigned long long)r[i].dst.thp_kb,
		       r[i].fill_ms, r[i].downtime_ms, r[i].lazy_ms, r[i].fault_p99_us);
	}
	for (int i = 0; i < n; i++)
		if (!r[i].error[0]) {
			if (r[i].soft_dirty)
				printf("lazy = pages changed since the pre-copy; soft-dirty covered them "
				       "with %llu pages (it marks whole THPs)\n",
				       (unsigned long long)r[i].soft_dirty_pages);
			else
				printf("lazy = pages changed since the pre-copy (page checksums; "
				       "no CONFIG_MEM_SOFT_DIRTY in this kernel)\n");
			break;
		}
	for (int i = 0; i < n; i++)
		if (!r[i].error[0] && r[i].flag_mismatches)
			printf("  %s: %d VMA(s) differ, first %s\n", r[i].st->name,
			       r[i].flag_mismatches, r[i].first_mismatch);
}

static void print_json(const struct result *r, int n)
{
	printf("[");
	for (int i = 0; i < n; i++) {
		printf("%s\n {\"strategy\": \"%s\", ", i ? "," : "", r[i].st->name);
		if (r[i].error[0]) {
			printf("\"error\": \"");
			for (const char *c = r[i].error; *c; c++)
				printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
			printf("\"}");
			continue;
		}
		printf("\"pages\": %llu, \"precopied\": %llu, \"lazy\": %llu, \"corrupted\": %llu, "
		       "\"zero_filled\": %llu, \"faults\": %llu, \"background\": %llu, "
		       "\"soft_dirty\": %s, \"soft_dirty_pages\": %llu, \"vmflags_identical\": %s, \"vma_mismatches\": %d, "
		       "\"vmas_source\": %d, \"vmas_restored\": %d, "
		       "\"thp_kb_source\": %llu, \"thp_kb_restored\": %llu, "
		       "\"precopy_ms\": %.3f, \"fill_ms\": %.3f, \"downtime_ms\": %.3f, "
		       "\"lazy_ms\": %.3f, \"total_ms\": %.3f, \"fault_p50_us\": %.2f, \"fault_p99_us\": %.2f}",
		       (unsigned long long)r[i].pages, (unsigned long long)r[i].precopied,
		       (unsigned long long)r[i].lazy, (unsigned long long)r[i].corrupted,
		       (unsigned long long)r[i].zero_filled, (unsigned long long)r[i].faults,
		       (unsigned long long)r[i].background, r[i].soft_dirty ? "true" : "false",
		       (unsigned long long)r[i].soft_dirty_pages,
		       r[i].flag_mismatches ? "false" : "true",
		       r[i].flag_mismatches, r[i].src.vmas, r[i].dst.vmas,
		       (unsigned long long)r[i].src.thp_kb, (unsigned long long)r[i].dst.thp_kb,
		       r[i].precopy_ms, r[i].fill_ms, r[i].downtime_ms, r[i].lazy_ms, r[i].total_ms,
		       r[i].fault_p50_us, r[i].fault_p99_us);
	}
	printf("\n]\n");
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *strategy = "auto";
	char images[256], why[200];
	struct config cfg = { .region_bytes = 32ULL << 20, .hot_permille = 100, .seed = 1,
			      .wait_khugepaged = true };
	struct result res[MAX_RUNS];
	const struct strategy *runs[MAX_RUNS];
	struct knobs kn = { .n = 0 };
	unsigned long v;
	int n = 0, opt, json = 0, rc = 0;

	if (argc < 2 || strcmp(argv[1], "run"))
		return usage(argc < 2 ? "no command" : "the only command is 'run'");
	snprintf(images, sizeof(images), "/tmp/lazyrestore-images.%d", (int)getpid());
	cfg.image_dir = images;
	optind = 2;
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
		case 'x':
			if (strcmp(optarg, "kill-source-before-freeze") && strcmp(optarg, "kill-source-lazy") &&
			    strcmp(optarg, "damage-flip") && strcmp(optarg, "damage-truncate"))
				return usage("--inject takes kill-source-before-freeze, kill-source-lazy, "
					     "damage-flip or damage-truncate");
			cfg.inject = optarg;
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

	if (!strcmp(strategy, "all")) {
		for (int i = 0; strategy_at(i) && n < MAX_RUNS; i++)
			runs[n++] = strategy_at(i);
	} else if (!strcmp(strategy, "auto")) {
		runs[n++] = strategy_find(madv_clr_hugepage_supported() ? "clr" : "uffd-copy");
		if (!madv_clr_hugepage_supported())
			fprintf(stderr, "lazyrestore: MADV_CLR_HUGEPAGE not supported by this kernel (EINVAL): using uffd-copy\n");
	} else if ((runs[0] = strategy_find(strategy))) {
		n = 1;
	} else {
		return usage("unknown --strategy");
	}

	if (cfg.wait_khugepaged) {
		if (knobs_set_aggressive(&kn, why, sizeof(why))) {
			fprintf(stderr, "lazyrestore: --khugepaged=aggressive: %s\n", why);
			return 1;
		}
		knobs_restore_on_signal(&kn);
	}
	for (int i = 0; i < n; i++) {
		if (runs[i]->needs_clr && !madv_clr_hugepage_supported()) {
			memset(&res[i], 0, sizeof(res[i]));
			res[i].st = runs[i];
			snprintf(res[i].error, sizeof(res[i].error),
				 "MADV_CLR_HUGEPAGE not supported by this kernel (EINVAL)");
			continue;
		}
		migrate(&cfg, runs[i], &res[i]);
	}
	knobs_restore(&kn);

	if (json)
		print_json(res, n);
	else
		print_table(res, n);
	for (int i = 0; i < n; i++) {
		if (res[i].error[0] && !(runs[i]->needs_clr && n > 1))
			rc = rc ? rc : 1;
		if (!res[i].error[0] && res[i].corrupted && (n == 1 || strcmp(runs[i]->name, "none")))
			rc = 3;
	}
	return rc;
}
