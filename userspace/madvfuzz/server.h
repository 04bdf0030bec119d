/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A worker's userfaultfd server: a fault on a registered hole is served
 * the content the model gave that hole at registration, the way a
 * lazy-pages daemon serves what changed after the pre-dump.
 */
#ifndef MADVFUZZ_SERVER_H
#define MADVFUZZ_SERVER_H
#include "worker.h"

/* 0, or -1 said on stderr. */
int server_start(struct worker *w);
void server_stop(struct worker *w);
#endif
