// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>

#include "result_json.h"

bool result_json_begin(const struct result *r, int i)
{
	printf("%s\n {\"strategy\": \"%s\", ", i ? "," : "", r->st->name);
	if (!r->error[0])
		return false;
	printf("\"unavailable\": %s, \"error\": \"", r->unavailable ? "true" : "false");
	for (const char *c = r->error; *c; c++)
		printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
	printf("\"}");
	return true;
}
