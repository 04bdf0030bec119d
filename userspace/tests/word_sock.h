/* SPDX-License-Identifier: GPL-2.0 */
/*
 * For the unit tests' helper processes: one 64-bit word, and maybe a
 * descriptor with it, over a unix socket. Not lib/proto.c, which some of
 * these tests are about.
 */
#ifndef LAZYRESTORE_TESTS_WORD_SOCK_H
#define LAZYRESTORE_TESTS_WORD_SOCK_H

#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* @word, with @fd attached unless it is negative; 0 or -1. */
static inline int send_word(int sock, int fd, uint64_t word)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &word, .iov_len = sizeof(word) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == sizeof(word) ? 0 : -1;
}

/*
 * The word, and in *fd the descriptor that came with it or -1 (one that
 * came when @fd is NULL is closed); -1 on timeout or EOF.
 */
static inline int recv_word(int sock, uint64_t *word, int *fd, int timeout_ms)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = word, .iov_len = sizeof(*word) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct pollfd p = { .fd = sock, .events = POLLIN };
	struct cmsghdr *c;

	if (fd)
		*fd = -1;
	if (poll(&p, 1, timeout_ms) != 1 || recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != sizeof(*word))
		return -1;
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
		int got;

		memcpy(&got, CMSG_DATA(c), sizeof(int));
		if (fd)
			*fd = got;
		else
			close(got);
	}
	return 0;
}

#endif
