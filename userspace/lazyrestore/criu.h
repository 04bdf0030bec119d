/* SPDX-License-Identifier: GPL-2.0 */
/* The same migration done by CRIU (pre-dump, dump, lazy-pages, restore). */
#ifndef LAZYRESTORE_CRIU_H
#define LAZYRESTORE_CRIU_H

#include "migrate.h"

/* @st->criu says how: "page-server" or "local" (images). */
void criu_migrate(const struct config *cfg, const struct strategy *st, struct result *res);

#endif
