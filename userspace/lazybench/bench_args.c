// SPDX-License-Identifier: GPL-2.0
/*
 * lazybench's command line: every value checked before anything runs, a
 * bad one named in one line; and --dir made ready (a scratch directory
 * of its own in it, so that a pages.img already there is never written).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "parse.h"

void bench_usage(FILE *f)
{
	fprintf(f, "usage: lazybench fill|faults|vmas [OPTIONS]\n"
		"  fill    image files -> destination memory, every method and the limits\n"
		"  faults  lazy fault service: lazyrestore's handler vs a bare uffd round trip\n"
		"  vmas    each strategy's madvise sequence over many VMAs, and the layout left\n"
		"  --dir DIR          where to work (made if missing; default /tmp); fill writes\n"
		"                     its image into a directory of its own there and removes it\n"
		"  --fill-mib N       fill: MiB to fill, 1 to %llu (default 256)\n"
		"  --method M         fill: only this method (to profile it: perf record ...)\n"
		"  --fault-pages N    faults: pages of the region, 1 to %llu (default 4096)\n"
		"  --placement P      faults: same-cpu (default: the faulting thread and the\n"
		"                     handler on one CPU) or cross-cpu (on two)\n"
		"  --vma-counts N,... vmas: VMA counts, ascending, 1 to %d, at most %d of them\n"
		"                     (default 10,1000,10000)\n"
		"  --vma-pages N      vmas: pages per VMA, 1 to %d (default 8)\n"
		"The fill methods:",
		BENCH_MAX_MIB, BENCH_MAX_PAGES, BENCH_MAX_VMAS, BENCH_MAX_VMA_COUNTS, BENCH_MAX_VMA_PAGES);
	for (size_t i = 0; bench_fill_method(i); i++)
		fprintf(f, "%s%s", i % 6 ? " " : "\n    ", bench_fill_method(i));
	fprintf(f, "\nPrints JSON lines; scripts/bench makes the table and plots.\n"
		"Exit: 0, 1 when a run failed or the kernel lacks what it needs, 2 on bad usage.\n");
}

static const struct option opts[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "fill-mib", required_argument, NULL, 'f' },
	{ "fault-pages", required_argument, NULL, 'p' },
	{ "method", required_argument, NULL, 'm' },
	{ "placement", required_argument, NULL, 'P' },
	{ "vma-counts", required_argument, NULL, 'c' },
	{ "vma-pages", required_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char *opt_name(int val)
{
	for (const struct option *o = opts; o->name; o++)
		if (o->val == val)
			return o->name;
	return "?";
}

/* A whole number from 1 to @max (parse_decimal()'s digits only). */
static int parse_count(const char *name, const char *s, uint64_t max, const char *unit,
		       uint64_t *out, struct err *err)
{
	unsigned long long v;

	if (parse_decimal(s, 1, max, &v))
		return err_set(err, EINVAL, "--%s takes a whole number of %s from 1 to %llu, not '%s'",
			       name, unit, (unsigned long long)max, s);
	*out = v;
	return 0;
}

static int method_known(const char *name, struct err *err)
{
	size_t n, i;

	for (i = 0; bench_fill_method(i); i++)
		if (!strcmp(bench_fill_method(i), name))
			return 0;
	n = (size_t)snprintf(err->msg, sizeof(err->msg), "--method: unknown method '%.40s' (", name);
	/* As many names as one message holds, and where the rest are. */
	for (i = 0; bench_fill_method(i) && n < sizeof(err->msg); i++) {
		const char *m = bench_fill_method(i);

		if (n + strlen(m) + 8 >= sizeof(err->msg)) {
			snprintf(err->msg + n, sizeof(err->msg) - n, ", ...)");
			break;
		}
		n += snprintf(err->msg + n, sizeof(err->msg) - n, "%s%s", i ? ", " : "", m);
	}
	if (!bench_fill_method(i) && n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ")");
	err->file[0] = '\0';
	err->offset = 0;
	err->code = EINVAL;
	return -EINVAL;
}

/* "10,1000,10000": ascending counts of VMAs. */
static int parse_counts(const char *s, struct bench_opts *o, struct err *err)
{
	char buf[128], *save = NULL, *tok;
	uint64_t prev = 0;

	if (strlen(s) >= sizeof(buf))
		return err_set(err, EINVAL, "--vma-counts: too long ('%.40s...')", s);
	strcpy(buf, s);
	o->nr_vma_counts = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v = 0;

		if (o->nr_vma_counts == BENCH_MAX_VMA_COUNTS)
			return err_set(err, EINVAL, "--vma-counts takes at most %d counts, not '%.60s'",
				       BENCH_MAX_VMA_COUNTS, s);
		if (parse_count("vma-counts", tok, BENCH_MAX_VMAS, "VMAs", &v, err))
			return -EINVAL;
		if (v <= prev)
			return err_set(err, EINVAL, "--vma-counts must be ascending: %llu after %llu in '%.60s'",
				       (unsigned long long)v, (unsigned long long)prev, s);
		o->vma_counts[o->nr_vma_counts++] = prev = v;
	}
	/* strtok_r() skips empty fields: ",5" and "5,,6" would pass unseen. */
	if (!o->nr_vma_counts || s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
		return err_set(err, EINVAL, "--vma-counts takes counts separated by commas, not '%.60s'", s);
	return 0;
}

/* Both copies of the data (the source and the target) must fit in memory at once. */
static int fits_memory(const char *name, uint64_t n, uint64_t unit, struct err *err)
{
	uint64_t mem = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE), need;

	if (__builtin_mul_overflow(n, 2 * unit, &need) || need > mem)
		return err_set(err, EINVAL, "--%s %llu: the run holds 2 x %llu MiB in memory, more than "
			       "this machine's %llu MiB", name, (unsigned long long)n,
			       (unsigned long long)(n * unit >> 20), (unsigned long long)(mem >> 20));
	return 0;
}

int bench_parse_args(struct bench_opts *o, int argc, char **argv, struct err *err)
{
	bool seen[128] = { false };
	int opt, ret;

	if (argc < 2)
		return err_set(err, EINVAL, "no command: fill, faults or vmas");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return 1;
	if (!strcmp(argv[1], "fill"))
		o->cmd = BENCH_FILL;
	else if (!strcmp(argv[1], "faults"))
		o->cmd = BENCH_FAULTS;
	else if (!strcmp(argv[1], "vmas"))
		o->cmd = BENCH_VMAS;
	else if (argv[1][0] == '-')
		return err_set(err, EINVAL, "the command comes first: fill, faults or vmas, not '%.60s'",
			       argv[1]);
	else
		return err_set(err, EINVAL, "unknown command '%.60s': fill, faults or vmas", argv[1]);

	/* Errors reported here, not by getopt: one line, and ours. */
	opterr = 0;
	optind = 2;
	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return 1;
		case ':':
			return err_set(err, EINVAL, "--%s needs a value", opt_name(optopt));
		case '?':
			if (optopt)
				return err_set(err, EINVAL, "unknown option '-%c'", optopt);
			return err_set(err, EINVAL, "unknown or ambiguous option '%.*s'",
				       (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
		case 'd':
			if (!optarg[0])
				return err_set(err, EINVAL, "--dir needs a directory, not ''");
			o->dir = optarg;
			break;
		case 'f':
			ret = parse_count("fill-mib", optarg, BENCH_MAX_MIB, "MiB", &o->fill_mib, err);
			if (ret)
				return ret;
			break;
		case 'p':
			ret = parse_count("fault-pages", optarg, BENCH_MAX_PAGES, "pages",
					  &o->fault_pages, err);
			if (ret)
				return ret;
			break;
		case 'm':
			if (method_known(optarg, err))
				return -EINVAL;
			o->method = optarg;
			break;
		case 'P':
			if (!strcmp(optarg, "same-cpu"))
				o->placement = BENCH_SAME_CPU;
			else if (!strcmp(optarg, "cross-cpu"))
				o->placement = BENCH_CROSS_CPU;
			else
				return err_set(err, EINVAL,
					       "--placement takes same-cpu or cross-cpu, not '%.60s'",
					       optarg);
			break;
		case 'c':
			ret = parse_counts(optarg, o, err);
			if (ret)
				return ret;
			break;
		case 'v':
			ret = parse_count("vma-pages", optarg, BENCH_MAX_VMA_PAGES, "pages", &o->vma_pages,
					  err);
			if (ret)
				return ret;
			break;
		}
		seen[opt & 127] = true;
	}
	if (optind < argc)
		return err_set(err, EINVAL, "unexpected argument '%.60s'", argv[optind]);
	/* An option the command does not use would be ignored: refused instead. */
	static const struct { int opt; enum bench_cmd cmd; } owner[] = {
		{ 'f', BENCH_FILL }, { 'm', BENCH_FILL }, { 'p', BENCH_FAULTS }, { 'P', BENCH_FAULTS },
		{ 'c', BENCH_VMAS }, { 'v', BENCH_VMAS },
	};
	static const char *const cmd_names[] = { "fill", "faults", "vmas" };

	for (size_t i = 0; i < sizeof(owner) / sizeof(owner[0]); i++)
		if (seen[owner[i].opt] && owner[i].cmd != o->cmd)
			return err_set(err, EINVAL, "--%s belongs to %s, not %s", opt_name(owner[i].opt),
				       cmd_names[owner[i].cmd], cmd_names[o->cmd]);
	if (o->cmd == BENCH_FILL)
		return fits_memory("fill-mib", o->fill_mib, 1ULL << 20, err);
	if (o->cmd == BENCH_VMAS)
		/* Half of each VMA is filled, but all of it may be: the whole counted once. */
		return fits_memory("vma-counts", o->vma_counts[o->nr_vma_counts - 1],
				   o->vma_pages * (uint64_t)getpagesize() / 2, err);
	return fits_memory("fault-pages", o->fault_pages, (uint64_t)getpagesize(), err);
}

int bench_dir_open(struct bench_opts *o, struct err *err)
{
	struct stat st;

	if (stat(o->dir, &st)) {
		if (errno != ENOENT)
			return err_sys(err, "--dir %.100s", o->dir);
		if (mkdir(o->dir, 0700))
			return err_sys(err, "--dir %.100s: cannot create it", o->dir);
		o->dir_made = true;
	} else if (!S_ISDIR(st.st_mode)) {
		return err_set(err, ENOTDIR, "--dir %.100s: not a directory", o->dir);
	}
	if (o->cmd != BENCH_FILL)
		return 0;
	/* Made here, not in the run: a directory it cannot write in is bad usage. */
	if ((size_t)snprintf(o->scratch, sizeof(o->scratch), "%s/lazybench-fill.XXXXXX", o->dir) >=
	    sizeof(o->scratch)) {
		o->scratch[0] = '\0';
		bench_dir_close(o);
		return err_set(err, ENAMETOOLONG, "--dir %.100s: path too long", o->dir);
	}
	if (!mkdtemp(o->scratch)) {
		int ret = err_sys(err, "--dir %.100s: cannot make a directory in it", o->dir);

		o->scratch[0] = '\0';
		bench_dir_close(o);
		return ret;
	}
	return 0;
}

void bench_dir_close(struct bench_opts *o)
{
	/* What an image writer leaves, by name: nothing else of the directory is ours. */
	static const char *const files[] = { "pages.img", "pagemap.img", "mm.img",
					     ".pagemap.img.tmp", ".mm.img.tmp" };
	char path[sizeof(o->scratch) + 32];

	if (o->scratch[0]) {
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", o->scratch, files[i]);
			unlink(path);
		}
		rmdir(o->scratch);
		o->scratch[0] = '\0';
	}
	if (o->dir_made)
		rmdir(o->dir);
	o->dir_made = false;
}
