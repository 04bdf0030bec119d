// SPDX-License-Identifier: GPL-2.0
/*
 * Framed messages between the orchestrator and its two children. The v1
 * protocol sent bare bytes and counts, so a one-byte "bye" could be read as
 * the first byte of an eight-byte count and both sides waited forever. Here
 * every message says what it is and how long it is, and every wait has an
 * end: a deadline, an abort flag, or the peer's end of the socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

/* How often a receiver with an abort flag looks at it. */
#define PROTO_ABORT_POLL_MS	100

static const char *const proto_names[PROTO_TYPE_MAX] = {
	[PROTO_READY] = "ready",
	[PROTO_FILLED] = "filled",
	[PROTO_LAZY_ROUND] = "lazy-round",
	[PROTO_UFFD] = "uffd",
	[PROTO_GO] = "go",
	[PROTO_VERDICT] = "verdict",
	[PROTO_BYE] = "bye",
	[PROTO_ERROR] = "error",
};

const char *proto_type_name(unsigned int type)
{
	if (type < PROTO_TYPE_MAX && proto_names[type])
		return proto_names[type];
	return "unknown";
}

int proto_check(const struct proto_hdr *h, enum proto_type want, size_t len, struct err *e)
{
	if (h->magic != PROTO_MAGIC)
		return err_set(e, EPROTO, "bad magic %#x (not a lazyrestore message)", h->magic);
	if (h->flags)
		return err_set(e, EPROTO, "a %s with unknown flags %#x", proto_type_name(h->type),
			       h->flags);
	if (h->len > PROTO_MAX_LEN)
		return err_set(e, EPROTO, "a %s of %u bytes, more than the %u any message has",
			       proto_type_name(h->type), h->len, PROTO_MAX_LEN);
	if (h->type != want)
		return err_set(e, EPROTO, "expected %s, got %s (type %u)", proto_type_name(want),
			       proto_type_name(h->type), h->type);
	if (h->len != len)
		return err_set(e, EPROTO, "a %s of %u bytes, expected %zu", proto_type_name(want),
			       h->len, len);
	return 0;
}

/*
 * write() to a pipe whose reader is gone raises SIGPIPE, which would kill the
 * sender instead of letting it report the dead peer: keep it blocked for the
 * write and swallow the one it raised.
 */
static ssize_t write_nosigpipe(int fd, const struct iovec *iov, int iovcnt)
{
	static const struct timespec zero;
	sigset_t pipe_set, old;
	ssize_t n;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = writev(fd, iov, iovcnt);
	saved = errno;
	if (n < 0 && errno == EPIPE && !sigismember(&old, SIGPIPE))
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

/* Sends all of @iov (consumed as it goes); the control message rides with the first byte. */
static int send_all(int fd, struct iovec *iov, int iovcnt, void *control, size_t control_len,
		    enum proto_type type, struct err *e)
{
	size_t total = 0, sent = 0;
	bool socket = true;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	while (sent < total) {
		struct msghdr m = {
			.msg_iov = iov,
			.msg_iovlen = iovcnt,
			.msg_control = sent ? NULL : control,
			.msg_controllen = sent ? 0 : control_len,
		};
		ssize_t n = -1;

		if (socket) {
			n = sendmsg(fd, &m, MSG_NOSIGNAL);
			if (n < 0 && errno == ENOTSOCK && !control) {
				socket = false;
				continue;
			}
		} else {
			n = write_nosigpipe(fd, iov, iovcnt);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return err_set(e, EPIPE, "sending %s: the peer is gone after %zu of %zu bytes",
				       proto_type_name(type), sent, total);
		if (n < 0)
			return err_sys(e, "sending %s", proto_type_name(type));
		sent += n;
		while (n > 0 && iovcnt) {
			size_t k = (size_t)n < iov->iov_len ? (size_t)n : iov->iov_len;

			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= k;
			n -= k;
			if (!iov->iov_len) {
				iov++;
				iovcnt--;
			}
		}
	}
	return 0;
}

static int send_msg(int fd, enum proto_type type, int pass_fd, const void *payload, size_t len,
		    struct err *e)
{
	struct proto_hdr h = { .magic = PROTO_MAGIC, .type = type, .len = len };
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;

	if (type <= 0 || type >= PROTO_TYPE_MAX)
		return err_set(e, EINVAL, "sending a message of unknown type %d", type);
	if (len > PROTO_MAX_LEN)
		return err_set(e, EMSGSIZE, "a %s of %zu bytes is more than the %u a message can carry",
			       proto_type_name(type), len, PROTO_MAX_LEN);
	if (pass_fd < 0)
		return send_all(fd, iov, len ? 2 : 1, NULL, 0, type, e);

	memset(&control, 0, sizeof(control));
	struct msghdr m = { .msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	return send_all(fd, iov, len ? 2 : 1, control.buf, sizeof(control.buf), type, e);
}

int proto_send(int fd, enum proto_type type, const void *payload, size_t len, struct err *e)
{
	return send_msg(fd, type, -1, payload, len, e);
}

int proto_send_fd(int fd, enum proto_type type, int pass_fd, const void *payload, size_t len,
		  struct err *e)
{
	if (pass_fd < 0)
		return err_set(e, EBADF, "sending %s: no descriptor to pass", proto_type_name(type));
	return send_msg(fd, type, pass_fd, payload, len, e);
}

struct wait {
	int timeout_ms;			/* -1: none */
	struct timespec deadline;
	const _Atomic bool *abort;
};

static void wait_init(struct wait *w, int timeout_ms, const _Atomic bool *abort)
{
	w->timeout_ms = timeout_ms;
	w->abort = abort;
	clock_gettime(CLOCK_MONOTONIC, &w->deadline);
	if (timeout_ms >= 0) {
		w->deadline.tv_sec += timeout_ms / 1000;
		w->deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (w->deadline.tv_nsec >= 1000000000) {
			w->deadline.tv_sec++;
			w->deadline.tv_nsec -= 1000000000;
		}
	}
}

/* Milliseconds poll() may sleep now: never past the deadline, never long with an abort flag. */
static int wait_slice(const struct wait *w)
{
	int ms = -1;

	if (w->timeout_ms >= 0) {
		struct timespec now;
		long long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (w->deadline.tv_sec - now.tv_sec) * 1000LL +
		       (w->deadline.tv_nsec - now.tv_nsec) / 1000000;
		ms = left < 0 ? 0 : left > 3600000 ? 3600000 : (int)left;
	}
	if (w->abort && (ms < 0 || ms > PROTO_ABORT_POLL_MS))
		ms = PROTO_ABORT_POLL_MS;
	return ms;
}

static bool wait_expired(const struct wait *w)
{
	struct timespec now;

	if (w->timeout_ms < 0)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > w->deadline.tv_sec ||
	       (now.tv_sec == w->deadline.tv_sec && now.tv_nsec >= w->deadline.tv_nsec);
}

/* 0 when @fd is readable, else the error that ends the wait. */
static int wait_readable(int fd, const struct wait *w, const char *what, struct err *e)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r;

		if (w->abort && *w->abort)
			return err_set(e, ECANCELED, "gave up waiting for %s", what);
		r = poll(&p, 1, wait_slice(w));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_sys(e, "waiting for %s", what);
		if (r > 0)
			return 0;
		if (wait_expired(w))
			return err_set(e, ETIMEDOUT, "waited %d ms for %s", w->timeout_ms, what);
	}
}

/* Where the descriptor of a descriptor-passing message lands. */
struct fd_catch {
	struct msghdr m;
	bool received;		/* recvmsg() returned: m's control part is the kernel's */
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} control;
};

/*
 * Reads exactly @n bytes. With @fc (the header of a descriptor-passing
 * message), the first read is a recvmsg() that picks up the descriptor.
 */
static int read_full(int fd, void *buf, size_t n, struct fd_catch *fc, const struct wait *w,
		     const char *what, struct err *e)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k;
		int r = wait_readable(fd, w, what, e);

		if (r)
			return r;
		if (fc && !fc->received) {
			struct iovec iov = { .iov_base = buf, .iov_len = n };

			fc->m = (struct msghdr){
				.msg_iov = &iov,
				.msg_iovlen = 1,
				.msg_control = fc->control.buf,
				.msg_controllen = sizeof(fc->control.buf),
			};
			k = recvmsg(fd, &fc->m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
			fc->m.msg_iov = NULL;
			fc->received = k >= 0;
		} else {
			k = read(fd, (char *)buf + got, n - got);
		}
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k < 0 && errno == ECONNRESET)
			k = 0;
		if (k < 0)
			return err_sys(e, "reading %s", what);
		if (k == 0)
			return err_set(e, EPIPE, "the peer closed after %zu of %zu bytes of %s", got,
				       n, what);
		got += k;
	}
	return 0;
}

/* The descriptor a recvmsg() delivered, or -1. */
static int taken_fd(struct msghdr *m)
{
	int fd = -1;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		/* More than one descriptor is not ours to keep: close the rest. */
		for (size_t off = 0; off + sizeof(int) <= cm->cmsg_len - CMSG_LEN(0);
		     off += sizeof(int)) {
			int got;

			memcpy(&got, CMSG_DATA(cm) + off, sizeof(int));
			if (fd < 0)
				fd = got;
			else
				close(got);
		}
	}
	return fd;
}

static int recv_msg(int fd, enum proto_type want, void *payload, size_t len, int timeout_ms,
		    const _Atomic bool *abort, int *passed, struct err *e)
{
	struct fd_catch fc = { .received = false };
	struct proto_hdr h;
	struct wait w;
	char what[48];
	int r;

	snprintf(what, sizeof(what), "the %s header", proto_type_name(want));
	wait_init(&w, timeout_ms, abort);
	r = read_full(fd, &h, sizeof(h), passed ? &fc : NULL, &w, what, e);
	if (passed) {
		/* The descriptor arrives with the header even when the header is not whole. */
		*passed = fc.received ? taken_fd(&fc.m) : -1;
		if (fc.received && (fc.m.msg_flags & MSG_CTRUNC) && !r)
			r = err_set(e, EPROTO, "the %s carried more descriptors than fit",
				    proto_type_name(want));
	}
	if (r)
		return r;

	if (h.magic == PROTO_MAGIC && h.type == PROTO_ERROR && want != PROTO_ERROR &&
	    !h.flags && h.len <= PROTO_MAX_LEN) {
		char text[PROTO_MAX_LEN + 1];

		r = read_full(fd, text, h.len, NULL, &w, "the peer's error text", e);
		if (r)
			return r;
		text[h.len] = '\0';
		if (!text[0])
			return err_set(e, ECONNABORTED, "the peer gave up without saying why");
		return err_set(e, ECONNABORTED, "%s", text);
	}
	r = proto_check(&h, want, len, e);
	if (r)
		return r;
	snprintf(what, sizeof(what), "the %s payload", proto_type_name(want));
	return read_full(fd, payload, len, NULL, &w, what, e);
}

int proto_recv(int fd, enum proto_type want, void *payload, size_t len, int timeout_ms,
	       const _Atomic bool *abort, struct err *e)
{
	return recv_msg(fd, want, payload, len, timeout_ms, abort, NULL, e);
}

int proto_recv_fd(int fd, enum proto_type want, void *payload, size_t len, int timeout_ms,
		  struct err *e)
{
	int passed = -1;
	int r = recv_msg(fd, want, payload, len, timeout_ms, NULL, &passed, e);

	if (r) {
		if (passed >= 0)
			close(passed);
		return r;
	}
	if (passed < 0)
		return err_set(e, EPROTO, "a %s without the descriptor it carries",
			       proto_type_name(want));
	return passed;
}
