// SPDX-License-Identifier: GPL-2.0
/*
 * The message decoder on whatever bytes a peer could send: the input's first
 * byte picks what the receiver waits for, the rest arrives on a socket whose
 * other end is then closed. Every outcome must be a message or a named error,
 * never a crash, an overrun of the payload buffer, or a wait past the close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

/* The payload sizes the real messages have, and a few around them. */
static const size_t lens[] = { 0, 1, 8, 16, 72, 200, PROTO_MAX_LEN };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t payload[PROTO_MAX_LEN];
	struct err e;
	int sv[2];

	if (size < 1 || size > 65536)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	/* A pure header check first, on the input's first header if it has one. */
	if (size >= 1 + sizeof(struct proto_hdr)) {
		struct proto_hdr h;

		memcpy(&h, data + 1, sizeof(h));
		if (proto_check(&h, data[0] % PROTO_TYPE_MAX, lens[data[0] % 7], &e) == 0 &&
		    (h.magic != PROTO_MAGIC || h.len != lens[data[0] % 7]))
			abort();
	}
	for (size_t off = 1; off < size;) {
		ssize_t n = send(sv[0], data + off, size - off, MSG_NOSIGNAL);

		if (n <= 0)
			abort();
		off += n;
	}
	close(sv[0]);
	for (int i = 0; i < 64; i++) {
		uint8_t pick = data[(i + 1) % size] ^ data[0];
		enum proto_type want = 1 + pick % (PROTO_TYPE_MAX - 1);
		size_t len = lens[(pick >> 3) % 7];
		int r = proto_recv(sv[1], want, payload, len, 1000, NULL, &e);

		if (r && r != -EPROTO && r != -EPIPE && r != -ECONNABORTED)
			abort();	/* a timeout here would be a wait past the close */
		if (r && !e.msg[0])
			abort();
		if (r)
			break;
	}
	close(sv[1]);
	return 0;
}
