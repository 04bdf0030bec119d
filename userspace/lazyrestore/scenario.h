/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazyrestore scenario running-region: one region restored lazily while
 * the destination keeps running other threads that need THP. Which
 * strategies it takes, and its report.
 */
#ifndef LAZYRESTORE_SCENARIO_H
#define LAZYRESTORE_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "migrate.h"

#define SCENARIO_STRATEGIES	"prctl,clr,uffd-copy,uffd-move"
#define SCENARIO_RUNNING_MIB	64

/* CRIU restores a whole process of its own: there is no running region to keep. */
bool scenario_takes(const struct strategy *st);
void scenario_print_table(const struct result *r, int n, uint64_t running_bytes);
void scenario_print_json(const struct result *r, int n, uint64_t running_bytes);

#endif
