// SPDX-License-Identifier: GPL-2.0
/*
 * The message framing between lazyrestore's processes: whatever the peer
 * sends, or however it dies, the receiver returns an error that names it,
 * within its deadline, and never takes one message for part of another.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "tap.h"

struct verdictish {
	uint64_t words[9];	/* 72 bytes, the size of a verdict */
};

static int pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void round_trip(struct tap *t)
{
	struct verdictish out, in;
	struct err e;
	int sv[2];

	CHECK(t, !pair(sv));
	for (size_t i = 0; i < 9; i++)
		out.words[i] = 0x1111111111111111ULL * i;
	CHECK(t, !proto_send(sv[0], PROTO_VERDICT, &out, sizeof(out), &e));
	CHECK(t, !proto_send(sv[0], PROTO_BYE, NULL, 0, &e));
	CHECK(t, !proto_recv(sv[1], PROTO_VERDICT, &in, sizeof(in), 1000, NULL, &e));
	CHECK(t, !memcmp(&in, &out, sizeof(in)));
	CHECK(t, !proto_recv(sv[1], PROTO_BYE, NULL, 0, 1000, NULL, &e));
	close(sv[0]);
	close(sv[1]);
}

/*
 * v1's hang: the destination waited for an 8-byte count and the orchestrator
 * sent its one-byte "bye"; the byte was read as part of the count and both
 * waited. Now the receiver sees a bye where it wanted something else, at once.
 */
static void bye_is_not_part_of_a_count(struct tap *t)
{
	struct verdictish in;
	long long t0;
	struct err e;
	int sv[2], r;

	CHECK(t, !pair(sv));
	CHECK(t, !proto_send(sv[0], PROTO_BYE, NULL, 0, &e));
	t0 = now_ms();
	r = proto_recv(sv[1], PROTO_VERDICT, &in, sizeof(in), 5000, NULL, &e);
	CHECK(t, r == -EPROTO);
	CHECK(t, strstr(e.msg, "expected verdict, got bye") != NULL);
	CHECK(t, now_ms() - t0 < 2500);
	close(sv[0]);
	close(sv[1]);
}

static void peer_closes_mid_header(struct tap *t)
{
	struct proto_hdr h = { .magic = PROTO_MAGIC, .type = PROTO_GO };
	struct err e;
	int sv[2], r;

	CHECK(t, !pair(sv));
	CHECK(t, write(sv[0], &h, 5) == 5);
	close(sv[0]);
	r = proto_recv(sv[1], PROTO_GO, NULL, 0, 5000, NULL, &e);
	CHECK(t, r == -EPIPE);
	CHECK(t, strstr(e.msg, "closed after 5 of 12 bytes") != NULL);
	close(sv[1]);
}

static void peer_closes_mid_payload(struct tap *t)
{
	struct proto_hdr h = { .magic = PROTO_MAGIC, .type = PROTO_VERDICT, .len = 72 };
	struct verdictish in;
	char half[30] = { 0 };
	struct err e;
	int sv[2], r;

	CHECK(t, !pair(sv));
	CHECK(t, write(sv[0], &h, sizeof(h)) == sizeof(h));
	CHECK(t, write(sv[0], half, sizeof(half)) == sizeof(half));
	close(sv[0]);
	r = proto_recv(sv[1], PROTO_VERDICT, &in, sizeof(in), 5000, NULL, &e);
	CHECK(t, r == -EPIPE);
	CHECK(t, strstr(e.msg, "after 30 of 72 bytes of the verdict payload") != NULL);
	close(sv[1]);
}

static void peer_closes_before_anything(struct tap *t)
{
	struct err e;
	int sv[2];

	CHECK(t, !pair(sv));
	close(sv[0]);
	CHECK(t, proto_recv(sv[1], PROTO_READY, NULL, 0, -1, NULL, &e) == -EPIPE);
	CHECK(t, strstr(e.msg, "after 0 of") != NULL);
	close(sv[1]);
}

/* A header the receiver must refuse: @h sent raw, and the error it must name. */
static void refused(struct tap *t, struct proto_hdr h, size_t want_len, const char *says)
{
	char payload[64];
	struct err e;
	int sv[2], r;

	CHECK(t, !pair(sv));
	CHECK(t, write(sv[0], &h, sizeof(h)) == sizeof(h));
	r = proto_recv(sv[1], PROTO_FILLED, payload, want_len, 1000, NULL, &e);
	CHECK(t, r == -EPROTO);
	if (!strstr(e.msg, says)) {
		printf("# got \"%s\", expected \"%s\"\n", e.msg, says);
		t->case_failed = 1;
	}
	close(sv[0]);
	close(sv[1]);
}

static void bad_headers(struct tap *t)
{
	refused(t, (struct proto_hdr){ .magic = 0x12345678, .type = PROTO_FILLED, .len = 8 }, 8,
		"bad magic 0x12345678");
	refused(t, (struct proto_hdr){ .magic = PROTO_MAGIC, .type = PROTO_FILLED, .len = 4 }, 8,
		"a filled of 4 bytes, expected 8");
	refused(t, (struct proto_hdr){ .magic = PROTO_MAGIC, .type = 77, .len = 8 }, 8,
		"expected filled, got unknown (type 77)");
	refused(t, (struct proto_hdr){ .magic = PROTO_MAGIC, .type = PROTO_FILLED, .flags = 2,
				       .len = 8 }, 8, "unknown flags 0x2");
	refused(t, (struct proto_hdr){ .magic = PROTO_MAGIC, .type = PROTO_ERROR,
				       .len = 0x7fffffff }, 8, "more than the 4096");
}

static void times_out(struct tap *t)
{
	long long t0 = now_ms();
	struct err e;
	int sv[2];

	CHECK(t, !pair(sv));
	CHECK(t, proto_recv(sv[1], PROTO_GO, NULL, 0, 300, NULL, &e) == -ETIMEDOUT);
	CHECK(t, now_ms() - t0 >= 290);
	CHECK(t, strstr(e.msg, "waited 300 ms for the go header") != NULL);
	close(sv[0]);
	close(sv[1]);
}

static void *set_after(void *arg)
{
	usleep(200 * 1000);
	atomic_store((_Atomic bool *)arg, true);
	return NULL;
}

static void aborts(struct tap *t)
{
	_Atomic bool stop = false;
	pthread_t th;
	long long t0 = now_ms();
	struct err e;
	int sv[2];

	CHECK(t, !pair(sv));
	CHECK(t, !pthread_create(&th, NULL, set_after, &stop));
	CHECK(t, proto_recv(sv[1], PROTO_GO, NULL, 0, -1, &stop, &e) == -ECANCELED);
	CHECK(t, now_ms() - t0 < 2000);
	pthread_join(th, NULL);
	close(sv[0]);
	close(sv[1]);
}

/* The peer's reason for giving up reaches whoever waits for it. */
static void error_text_arrives(struct tap *t)
{
	static const char why[] = "refusing the image: 1/pagemap.img at 4096: bad magic";
	struct verdictish in;
	struct err e;
	int sv[2];

	CHECK(t, !pair(sv));
	CHECK(t, !proto_send(sv[0], PROTO_ERROR, why, strlen(why), &e));
	CHECK(t, proto_recv(sv[1], PROTO_VERDICT, &in, sizeof(in), 1000, NULL, &e) ==
		 -ECONNABORTED);
	CHECK(t, !strcmp(e.msg, why));
	/* Found by fuzz_proto: an error without text left the receiver's message empty. */
	CHECK(t, !proto_send(sv[0], PROTO_ERROR, "\0x", 2, &e));
	CHECK(t, proto_recv(sv[1], PROTO_GO, NULL, 0, 1000, NULL, &e) == -ECONNABORTED);
	CHECK(t, !strcmp(e.msg, "the peer gave up without saying why"));
	close(sv[0]);
	close(sv[1]);
}

/* A dead reader is an error for the sender, not a SIGPIPE that kills it. */
static void dead_reader(struct tap *t)
{
	struct err e;
	int sv[2], p[2];

	CHECK(t, !pair(sv));
	close(sv[1]);
	CHECK(t, proto_send(sv[0], PROTO_GO, NULL, 0, &e) == -EPIPE);
	CHECK(t, strstr(e.msg, "peer is gone") != NULL);
	close(sv[0]);

	CHECK(t, !pipe2(p, O_CLOEXEC));
	close(p[0]);
	CHECK(t, proto_send(p[1], PROTO_GO, NULL, 0, &e) == -EPIPE);
	close(p[1]);
	/* Nor is a SIGPIPE left pending for later. */
	sigset_t pending;

	sigpending(&pending);
	CHECK(t, !sigismember(&pending, SIGPIPE));
}

static void too_big_to_send(struct tap *t)
{
	static char big[PROTO_MAX_LEN + 1];
	struct err e;
	int sv[2];

	CHECK(t, !pair(sv));
	CHECK(t, proto_send(sv[0], PROTO_ERROR, big, sizeof(big), &e) == -EMSGSIZE);
	CHECK(t, proto_send(sv[0], PROTO_TYPE_MAX, NULL, 0, &e) == -EINVAL);
	close(sv[0]);
	close(sv[1]);
}

static void passes_a_descriptor(struct tap *t)
{
	uint64_t report = 0xfeedULL, got = 0;
	struct err e;
	int sv[2], p[2], fd;
	char c = 0;

	CHECK(t, !pair(sv));
	CHECK(t, !pipe2(p, O_CLOEXEC));
	CHECK(t, !proto_send_fd(sv[0], PROTO_UFFD, p[1], &report, sizeof(report), &e));
	close(p[1]);
	fd = proto_recv_fd(sv[1], PROTO_UFFD, &got, sizeof(got), 1000, &e);
	CHECK(t, fd >= 0);
	CHECK(t, got == report);
	CHECK(t, fd >= 0 && write(fd, "x", 1) == 1);
	CHECK(t, read(p[0], &c, 1) == 1 && c == 'x');
	CHECK(t, fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
	if (fd >= 0)
		close(fd);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

/* A refused descriptor-carrying message does not leak the descriptor. */
static void refused_descriptor_closed(struct tap *t)
{
	uint64_t report = 1, got;
	int sv[2], p[2], before;
	struct err e;

	CHECK(t, !pair(sv));
	CHECK(t, !pipe2(p, O_CLOEXEC));
	before = open_fds();
	CHECK(t, !proto_send_fd(sv[0], PROTO_UFFD, p[1], &report, sizeof(report), &e));
	CHECK(t, proto_recv_fd(sv[1], PROTO_UFFD, &got, 4, 1000, &e) == -EPROTO);
	CHECK(t, open_fds() == before);
	/* And a message that should carry one but does not is refused. */
	close(sv[0]);
	close(sv[1]);
	CHECK(t, !pair(sv));
	CHECK(t, !proto_send(sv[0], PROTO_UFFD, &report, sizeof(report), &e));
	CHECK(t, proto_recv_fd(sv[1], PROTO_UFFD, &got, sizeof(got), 1000, &e) == -EPROTO);
	CHECK(t, strstr(e.msg, "without the descriptor") != NULL);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* Frames that arrive a byte at a time are put together again. */
static void byte_by_byte(struct tap *t)
{
	struct proto_hdr h = { .magic = PROTO_MAGIC, .type = PROTO_FILLED, .len = 8 };
	unsigned char raw[sizeof(h) + 8];
	uint64_t ns = 123456789, got = 0;
	struct err e;
	int sv[2];
	pid_t pid;

	memcpy(raw, &h, sizeof(h));
	memcpy(raw + sizeof(h), &ns, 8);
	CHECK(t, !pair(sv));
	pid = fork();
	if (pid == 0) {
		for (size_t i = 0; i < sizeof(raw); i++) {
			if (write(sv[0], raw + i, 1) != 1)
				_exit(1);
			usleep(2000);
		}
		_exit(0);
	}
	CHECK(t, !proto_recv(sv[1], PROTO_FILLED, &got, sizeof(got), 5000, NULL, &e));
	CHECK(t, got == ns);
	waitpid(pid, NULL, 0);
	close(sv[0]);
	close(sv[1]);
}

static void names(struct tap *t)
{
	CHECK(t, !strcmp(proto_type_name(PROTO_LAZY_ROUND), "lazy-round"));
	CHECK(t, !strcmp(proto_type_name(0), "unknown"));
	CHECK(t, !strcmp(proto_type_name(PROTO_TYPE_MAX), "unknown"));
	CHECK(t, !strcmp(proto_type_name(60000), "unknown"));
}

int main(void)
{
	struct tap t = { 0 };

	RUN(&t, round_trip);
	RUN(&t, bye_is_not_part_of_a_count);
	RUN(&t, peer_closes_mid_header);
	RUN(&t, peer_closes_mid_payload);
	RUN(&t, peer_closes_before_anything);
	RUN(&t, bad_headers);
	RUN(&t, times_out);
	RUN(&t, aborts);
	RUN(&t, error_text_arrives);
	RUN(&t, dead_reader);
	RUN(&t, too_big_to_send);
	RUN(&t, passes_a_descriptor);
	RUN(&t, refused_descriptor_closed);
	RUN(&t, byte_by_byte);
	RUN(&t, names);
	return tap_done(&t);
}
