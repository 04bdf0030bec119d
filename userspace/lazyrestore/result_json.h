/* SPDX-License-Identifier: GPL-2.0 */
/* Results as JSON: the array lazyrestore run --json prints, and its parts. */
#ifndef LAZYRESTORE_RESULT_JSON_H
#define LAZYRESTORE_RESULT_JSON_H

#include <stdbool.h>

#include "migrate.h"

/* A JSON string, escaped. */
void json_string(const char *s);
/*
 * Print the opening of result @i of a JSON array: its separator and
 * strategy, and for a result that did not run, the rest of the object
 * with its error. True when the object is complete.
 */
bool result_json_begin(const struct result *r, int i);
/* All of @r, every field. */
void result_json_print(const struct result *r, int n);

#endif
