/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The messages between the orchestrator, the source workload and the
 * destination: each one a header (magic, type, payload length) and its
 * payload, so that a receiver knows what it got, and a peer that dies or
 * says something unexpected is an error with a name, never a hang.
 */
#ifndef LAZYRESTORE_PROTO_H
#define LAZYRESTORE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum proto_type {
	PROTO_READY = 1,	/* source -> orchestrator: struct workload_ready */
	PROTO_FILLED,		/* destination -> orchestrator: fill time, u64 ns */
	PROTO_LAZY_ROUND,	/* orchestrator -> destination: the freeze's round is written */
	PROTO_UFFD,		/* destination -> orchestrator: the userfaultfd + struct dest_report */
	PROTO_GO,		/* orchestrator -> destination: resume the task */
	PROTO_VERDICT,		/* destination -> orchestrator: struct task_verdict */
	PROTO_BYE,		/* orchestrator -> destination: done with you, exit */
	/*
	 * Either way: why the sender gives up (text, not NUL-terminated). A
	 * receiver waiting for anything else returns -ECONNABORTED with the
	 * text as its error.
	 */
	PROTO_ERROR,
	PROTO_TYPE_MAX,
};

#define PROTO_MAGIC	0x4c5a5250u	/* "LZRP" */
#define PROTO_MAX_LEN	4096u		/* no payload is larger */

struct proto_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;		/* 0 */
	uint32_t len;		/* payload bytes after the header */
};

/* "ready", "filled", ...; "unknown" for anything else. */
const char *proto_type_name(unsigned int type);

/*
 * Checks a received header against what the receiver expects: @want and
 * exactly @len payload bytes. Pure, so the fuzzer can drive it: 0, or -EPROTO
 * with @e naming what was wrong ("expected go, got bye", "a verdict of 40
 * bytes, expected 72", "bad magic 0x...").
 */
int proto_check(const struct proto_hdr *h, enum proto_type want, size_t len, struct err *e);

/* One message; a dead peer is -EPIPE (no SIGPIPE). */
int proto_send(int fd, enum proto_type type, const void *payload, size_t len, struct err *e);
/* The same with @pass_fd attached (SCM_RIGHTS); @fd must be a unix socket. */
int proto_send_fd(int fd, enum proto_type type, int pass_fd, const void *payload, size_t len,
		  struct err *e);

/*
 * Receives one message of type @want with exactly @len payload bytes into
 * @payload, within @timeout_ms (-1: no limit). Gives up with -ECANCELED as
 * soon as *@abort (if non-NULL) is set, checked every 100 ms. A peer that
 * closes before or in the middle of a message is -EPIPE ("the peer closed
 * after 5 of 16 header bytes"), a timeout -ETIMEDOUT, anything else
 * proto_check()'s error.
 */
int proto_recv(int fd, enum proto_type want, void *payload, size_t len, int timeout_ms,
	       const _Atomic bool *abort, struct err *e);
/* The same for a message carrying a descriptor: returns it (>= 0). */
int proto_recv_fd(int fd, enum proto_type want, void *payload, size_t len, int timeout_ms,
		  struct err *e);

#endif
