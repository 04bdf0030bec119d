/* SPDX-License-Identifier: GPL-2.0 */
/* The orchestrator-destination socket: bytes, and one fd with a payload. */
#ifndef LAZYRESTORE_PROTO_H
#define LAZYRESTORE_PROTO_H

#include <stddef.h>

int proto_write_all(int sock, const void *buf, size_t len);
int proto_read_all(int fd, void *buf, size_t len, int timeout_ms);
/* Like proto_read_all, but gives up as soon as *abort (if any) is set, checked every 100 ms. */
int proto_read_all_unless(int fd, void *buf, size_t len, int timeout_ms,
			  const _Atomic _Bool *abort);
int proto_send_fd(int sock, int fd, const void *payload, size_t len);
int proto_recv_fd(int sock, void *payload, size_t len, int timeout_ms);

#endif
