// SPDX-License-Identifier: GPL-2.0
/*
 * lazybench fill|faults [--dir DIR] [--fill-mib N] [--fault-pages N]
 * Writes JSON lines to stdout; scripts/bench runs it and reports.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++)
		fprintf(f, *s == '"' || *s == '\\' ? "\\%c" : (unsigned char)*s < 0x20 ? "\\u%04x" : "%c",
			*s);
	fputc('"', f);
}

void bench_note(const struct bench_opts *o, const char *part, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(o->out, "{\"kind\": \"note\", \"part\": ");
	json_str(o->out, part);
	fprintf(o->out, ", \"note\": ");
	json_str(o->out, msg);
	fprintf(o->out, "}\n");
	fflush(o->out);
}

void bench_fill_row(const struct bench_opts *o, const char *name, const char *what, int cold,
		    int reference, uint64_t bytes, const double *secs, int n)
{
	fprintf(o->out, "{\"kind\": \"fill\", \"method\": ");
	json_str(o->out, name);
	fprintf(o->out, ", \"what\": ");
	json_str(o->out, what);
	fprintf(o->out, ", \"cache\": \"%s\", \"reference\": %s, \"bytes\": %llu, \"secs\": [",
		cold ? "cold" : "warm", reference ? "true" : "false", (unsigned long long)bytes);
	for (int i = 0; i < n; i++)
		fprintf(o->out, "%s%.6f", i ? ", " : "", secs[i]);
	fprintf(o->out, "]}\n");
	fflush(o->out);
}

static int usage(const char *why)
{
	fprintf(stderr, "lazybench: %s\n"
		"usage: lazybench fill|faults [--dir DIR] [--fill-mib N] [--fault-pages N] [--method M]\n"
		"  fill    image files -> destination memory, every method and the limits\n"
		"  faults  lazy fault service: lazyrestore's handler vs a bare uffd round trip\n"
		"  --method M: fill with that method only (to profile it: perf record lazybench ...)\n"
		"Prints JSON lines; scripts/bench makes the table and plots.\n", why);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "fill-mib", required_argument, NULL, 'f' },
		{ "fault-pages", required_argument, NULL, 'p' },
		{ "method", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_opts o = { .dir = "/tmp", .fill_mib = 256, .fault_pages = 4096, .out = stdout };
	char *end;
	int opt;

	if (argc < 2 || (strcmp(argv[1], "fill") && strcmp(argv[1], "faults")))
		return usage("the commands are fill and faults");
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		unsigned long long v = 0;

		if (opt == 'f' || opt == 'p') {
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || !v || v > (1ULL << 20))
				return usage(opt == 'f' ? "--fill-mib takes a number of MiB, 1 to 1048576" :
					     "--fault-pages takes a number of pages, 1 to 1048576");
		}
		if (opt == 'd')
			o.dir = optarg;
		else if (opt == 'f')
			o.fill_mib = v;
		else if (opt == 'p')
			o.fault_pages = v;
		else if (opt == 'm')
			o.method = optarg;
		else
			return usage("unknown option");
	}
	if (optind != argc)
		return usage("unexpected argument");
	if (mkdir(o.dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "lazybench: --dir %s: %s\n", o.dir, strerror(errno));
		return 1;
	}
	return (!strcmp(argv[1], "fill") ? bench_fill(&o) : bench_faults(&o)) ? 1 : 0;
}
