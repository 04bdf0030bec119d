// SPDX-License-Identifier: GPL-2.0
/*
 * lazybench fill|faults|vmas [OPTIONS] (lazybench --help)
 * Writes JSON lines to stdout; scripts/bench runs it and reports.
 * Exit 2: bad usage, one line saying what; 1: a run failed, or the
 * kernel lacks what it needs, named.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <string.h>

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

int main(int argc, char **argv)
{
	static const char *const cmd_names[] = { "fill", "faults", "vmas" };
	struct bench_opts o = { .dir = "/tmp", .fill_mib = 256, .fault_pages = 4096,
				.placement = BENCH_SAME_CPU, .vma_counts = { 10, 1000, 10000 },
				.nr_vma_counts = 3, .vma_pages = 8, .out = stdout };
	struct err err = { .msg = "" };
	char buf[sizeof(err.msg) + 64];
	int ret = bench_parse_args(&o, argc, argv, &err);

	if (ret == 1) {
		bench_usage(stdout);
		return 0;
	}
	if (!ret)
		ret = bench_dir_open(&o, &err);
	if (ret) {
		fprintf(stderr, "lazybench: %s (lazybench --help)\n", err.msg);
		return 2;
	}
	ret = o.cmd == BENCH_FILL ? bench_fill(&o, &err) :
	      o.cmd == BENCH_FAULTS ? bench_faults(&o, &err) : bench_vmas(&o, &err);
	bench_dir_close(&o);
	if (ret) {
		fprintf(stderr, "lazybench: %s: %s\n", cmd_names[o.cmd], err_str(&err, buf, sizeof(buf)));
		return 1;
	}
	return 0;
}
