// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "knobs.h"
#include "knobs_cmd.h"

/* One line naming what was wrong, as main.c's bad() says it. */
#define bad(...) err_usage("lazyrestore: knobs ", "lazyrestore --help", __VA_ARGS__)

static int restore(const struct knobs_where *w)
{
	struct knobs_recovery r;
	struct err e;

	if (knobs_recover_report(w, &r, &e)) {
		fprintf(stderr, "lazyrestore: knobs --restore: %s\n", e.msg);
		return 1;
	}
	if (!r.restored) {
		printf("nothing to restore\n");
		return 0;
	}
	printf("restored %d khugepaged knobs a killed run left", r.knobs);
	for (int i = 0; i < r.ndead; i++)
		printf("%s%d", i ? " " : " (pids ", (int)r.dead[i]);
	printf("%s\n", r.ndead ? ")" : " (no holder listed)");
	return 0;
}

int knobs_main(int argc, char **argv)
{
	struct knobs_where w;
	struct err e;

	if (argc < 3)
		return bad("takes --restore or --status");
	if (strcmp(argv[2], "--restore") && strcmp(argv[2], "--status"))
		return bad("takes --restore or --status, not '%s'", argv[2]);
	if (argc > 3)
		return bad("%s: unexpected argument '%s'", argv[2], argv[3]);
	knobs_where_env(&w);
	if (!strcmp(argv[2], "--restore"))
		return restore(&w);
	if (knobs_status(&w, stdout, &e)) {
		fprintf(stderr, "lazyrestore: knobs --status: %s\n", e.msg);
		return 1;
	}
	return 0;
}
