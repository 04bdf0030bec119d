/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAZYRESTORE_RESULT_TABLE_H
#define LAZYRESTORE_RESULT_TABLE_H

#include "migrate.h"

/* The table, a line per strategy, then what each run's lazy set, task and THP showed. */
void result_table_print(const struct result *r, int n);

#endif
