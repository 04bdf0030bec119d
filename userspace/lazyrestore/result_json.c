// SPDX-License-Identifier: GPL-2.0
/*
 * The JSON of a run's results: one table of fields, each named once, so
 * that the name a reader (the judge, the bench) looks for and the value
 * printed under it cannot drift apart.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "result_json.h"

enum kind { U64, INT, LL, DBL, STR, SAME_FLAGS };

struct field {
	const char *name;
	enum kind kind;
	size_t off;
	int prec;		/* DBL: digits after the point */
};

#define F(name, kind, member)		{ name, kind, offsetof(struct result, member), 0 }
#define D(name, member, prec)		{ name, DBL, offsetof(struct result, member), prec }

static const struct field fields[] = {
	F("pages", U64, pages), F("precopied", U64, precopied), F("lazy", U64, lazy),
	F("corrupted", U64, corrupted), F("zero_filled", U64, zero_filled),
	F("faults", U64, faults), F("background", U64, background),
	F("tracker", STR, tracker), F("rounds", INT, rounds), F("written", U64, written),
	F("missed", U64, missed), D("scan_ms", scan_ms, 3), D("lazy_round_ms", lazy_round_ms, 3),
	F("task_steps", U64, task_steps), F("task_checked", U64, task_checked),
	F("child_checked", U64, child_checked), F("zero_pages", U64, zero_pages),
	F("copied_twice", U64, copied_twice), F("postcopy_pages", U64, postcopy_pages),
	F("dropped", U64, dropped), F("inherited", U64, inherited), F("abandoned", U64, abandoned),
	F("discarded", U64, discarded), F("ev_fork", U64, ev_fork), F("ev_remap", U64, ev_remap),
	F("ev_remove", U64, ev_remove), F("ev_unmap", U64, ev_unmap),
	F("vmflags_identical", SAME_FLAGS, flag_mismatches),
	F("vma_mismatches", INT, flag_mismatches),
	F("vmas_source", INT, src.vmas), F("vmas_restored", INT, dst.vmas),
	F("thp_kb_source", U64, src.thp_kb), F("thp_kb_restored", U64, dst.thp_kb),
	D("precopy_ms", precopy_ms, 3), D("fill_ms", fill_ms, 3),
	D("downtime_ms", downtime_ms, 3), D("lazy_ms", lazy_ms, 3), D("total_ms", total_ms, 3),
	D("fault_p50_us", fault_p50_us, 2), D("fault_p99_us", fault_p99_us, 2),
	F("collapse_pmds", U64, collapse_pmds), D("collapse_ms", collapse_ms, 3),
	D("thp_back_ms", thp_back_ms, 1), D("thp_first_ms", thp_first_ms, 1),
	F("numa_misplaced", LL, numa_misplaced),
	F("thp_hg_kb_source", U64, thp_hg_src_kb), F("thp_hg_kb_at_lazy_end", U64, thp_hg_lazy_kb),
	F("move_pmds", U64, move_pmds), F("move_pages", U64, move_pages),
	F("move_copied", U64, move_copied),
};

void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_field(const struct result *r, const struct field *f)
{
	const char *p = (const char *)r + f->off;
	double d;

	printf("\"%s\": ", f->name);
	switch (f->kind) {
	case U64:
		printf("%llu", (unsigned long long)*(const uint64_t *)p);
		break;
	case INT:
		printf("%d", *(const int *)p);
		break;
	case LL:
		printf("%lld", *(const long long *)p);
		break;
	case DBL:
		d = *(const double *)p;
		/* JSON has no NaN or infinity. */
		if (isfinite(d))
			printf("%.*f", f->prec, d);
		else
			printf("null");
		break;
	case STR:
		json_string(p);
		break;
	case SAME_FLAGS:
		printf("%s", *(const int *)p ? "false" : "true");
		break;
	}
}

bool result_json_begin(const struct result *r, int i)
{
	printf("%s\n {\"strategy\": ", i ? "," : "");
	json_string(r->st->name);
	printf(", ");
	if (!r->error[0])
		return false;
	printf("\"unavailable\": %s, \"error\": ", r->unavailable ? "true" : "false");
	json_string(r->error);
	printf("}");
	return true;
}

void result_json_print(const struct result *r, int n)
{
	printf("[");
	for (int i = 0; i < n; i++) {
		if (result_json_begin(&r[i], i))
			continue;
		for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			print_field(&r[i], &fields[k]);
			printf(", ");
		}
		printf("\"numa_misplaced_vma\": [");
		for (int k = 0; k < LAYOUT_MAX; k++)
			printf("%s%lld", k ? ", " : "", r[i].numa_misplaced_vma[k]);
		printf("], \"thp_sample_ms\": %d, \"thp_hg_kb\": [", THP_SAMPLE_MS);
		for (int k = 0; k < r[i].thp_samples; k++)
			printf("%s%llu", k ? ", " : "", (unsigned long long)r[i].thp_hg_kb[k]);
		printf("]}");
	}
	printf("\n]\n");
}
