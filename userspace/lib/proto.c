// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

int proto_write_all(int sock, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		/* MSG_NOSIGNAL: a peer that died is an error here, not a SIGPIPE. */
		ssize_t n = send(sock, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		errno = ETIMEDOUT;
	return r > 0 ? 0 : -1;
}

int proto_read_all(int fd, void *buf, size_t len, int timeout_ms)
{
	return proto_read_all_unless(fd, buf, len, timeout_ms, NULL);
}

int proto_read_all_unless(int fd, void *buf, size_t len, int timeout_ms,
			  const _Atomic _Bool *abort)
{
	char *p = buf;

	for (int waited = 0; len; ) {
		ssize_t n;

		if (abort && *abort) {
			errno = ECANCELED;
			return -1;
		}
		if (wait_readable(fd, 100)) {
			if (errno != ETIMEDOUT || (waited += 100) >= timeout_ms)
				return -1;
			continue;
		}
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = EPIPE;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int proto_send_fd(int sock, int fd, const void *payload, size_t len)
{
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)payload, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int proto_recv_fd(int sock, void *payload, size_t len, int timeout_ms)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = payload, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	if (wait_readable(sock, timeout_ms))
		return -1;
	n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	c = CMSG_FIRSTHDR(&m);
	if (n != (ssize_t)len || !c || c->cmsg_type != SCM_RIGHTS) {
		errno = n == 0 ? EPIPE : EPROTO;
		return -1;
	}
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}
