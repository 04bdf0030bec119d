/* SPDX-License-Identifier: GPL-2.0 */
/* The part of a result's JSON object that every report shares. */
#ifndef LAZYRESTORE_RESULT_JSON_H
#define LAZYRESTORE_RESULT_JSON_H

#include <stdbool.h>

#include "migrate.h"

/*
 * Print the opening of result @i of a JSON array: its separator and
 * strategy, and for a result that did not run, the rest of the object
 * with its error. True when the object is complete.
 */
bool result_json_begin(const struct result *r, int i);

#endif
