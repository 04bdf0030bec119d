// SPDX-License-Identifier: GPL-2.0
/*
 * lib/uffd.c against the kernel: what a fault handler relies on when a
 * copy does not simply go in (the page is there, the range is cut short,
 * the process exited, an mremap is on its way), and errors that name what
 * is missing. Most cases fill this process's own memory through its own
 * userfaultfd and never touch a page still missing (that would wait for
 * ever); the exit case takes the userfaultfd of a child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "uffd.h"
#include "uffd_uapi.h"
#include "tap.h"
#include "word_sock.h"

#define NPAGES	4

static long ps;

/* Page @i of @buf holds byte @v + i. */
static void fill(char *buf, int npages, int v)
{
	for (int i = 0; i < npages; i++)
		memset(buf + i * ps, v + i, ps);
}

/*
 * Page @p holds byte @v everywhere. Asked first whether it is there at
 * all: reading a page still missing would wait for ever on our own
 * userfaultfd when a helper did not do what it said.
 */
static bool page_is(const char *p, int v)
{
	unsigned char in = 0;

	if (mincore((void *)p, ps, &in) || !(in & 1))
		return false;
	for (long i = 0; i < ps; i++)
		if (p[i] != (char)v)
			return false;
	return true;
}

/* @npages of fresh anonymous memory, registered missing with a new userfaultfd. */
struct area {
	int uffd;
	char *p;
	char *src;		/* what is copied from */
};

static int area_open(struct area *a, uint64_t features)
{
	struct err e;

	a->uffd = -1;
	a->p = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	a->src = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	if (a->p == MAP_FAILED || a->src == MAP_FAILED)
		abort();
	/* A huge page would bring the whole range in with the first copy. */
	madvise(a->p, NPAGES * ps, MADV_NOHUGEPAGE);
	a->uffd = uffd_open(features, &e);
	if (a->uffd < 0) {
		printf("# %s\n", e.msg);
		abort();
	}
	return uffd_register_missing(a->uffd, (uint64_t)a->p, NPAGES * ps);
}

/* @mapped: what is left of the area's memory. */
static void area_close(struct area *a, int mapped)
{
	close(a->uffd);
	if (mapped)
		munmap(a->p, mapped * ps);
	munmap(a->src, NPAGES * ps);
}

static uint64_t at(const struct area *a, int page)
{
	return (uint64_t)a->p + page * ps;
}

/* A feature the kernel lacks is refused, and named; those it has are not. */
static void features_named(struct tap *t)
{
	uint64_t unknown = 1ULL << 40;
	struct err e;
	int fd;

	fd = uffd_open(unknown | UFFD_FEATURE_MOVE, &e);
	CHECK(t, fd == -EINVAL);
	if (fd >= 0)
		close(fd);
	printf("# %s\n", e.msg);
	CHECK(t, e.code == EINVAL && strstr(e.msg, "feature bit 40"));
	/* Named only when lacking: UFFD_FEATURE_MOVE came with 6.8. */
	if (uffd_has_feature(UFFD_FEATURE_MOVE) == 1)
		CHECK(t, !strstr(e.msg, "MOVE"));
	else
		CHECK(t, strstr(e.msg, "UFFD_FEATURE_MOVE"));

	fd = uffd_open(UFFD_FEATURE_MOVE | UFFD_FEATURE_EVENT_REMAP, &e);
	CHECK(t, fd >= 0 || uffd_has_feature(UFFD_FEATURE_MOVE) != 1);
	if (fd >= 0)
		close(fd);
	fd = uffd_open_events(&e);
	CHECK(t, fd >= 0);
	if (fd >= 0)
		close(fd);
}

/* A page that is there already: EEXIST, nothing copied, its data kept. */
static void copy_onto_populated(struct tap *t)
{
	struct area a;
	uint64_t copied = 12345;

	CHECK(t, area_open(&a, 0) == 0);
	fill(a.src, NPAGES, 'a');
	CHECK(t, uffd_copy_once(a.uffd, at(&a, 0), a.src, ps, false, &copied) == 0);
	CHECK(t, copied == (uint64_t)ps);
	fill(a.src, NPAGES, 'A');
	copied = 12345;
	CHECK(t, uffd_copy_once(a.uffd, at(&a, 0), a.src, ps, false, &copied) == -EEXIST);
	CHECK(t, copied == 0);
	CHECK(t, uffd_copy_page(a.uffd, at(&a, 0), a.src, ps) == -EEXIST);
	CHECK(t, page_is(a.p, 'a'));
	/* uffd_copy() skips it and fills the rest. */
	CHECK(t, uffd_copy(a.uffd, at(&a, 0), a.src, NPAGES * ps, false) == 0);
	CHECK(t, page_is(a.p, 'a'));
	for (int i = 1; i < NPAGES; i++)
		CHECK(t, page_is(a.p + i * ps, 'A' + i));
	area_close(&a, NPAGES);
}

/*
 * Stopped short by a page that is there: how far it got, and the caller
 * goes on from there to learn why.
 */
static void copy_cut_short(struct tap *t)
{
	struct area a;
	uint64_t copied = 12345;
	int ret;

	CHECK(t, area_open(&a, 0) == 0);
	fill(a.src, NPAGES, 'b');
	CHECK(t, uffd_copy_once(a.uffd, at(&a, 2), a.src + 2 * ps, 2 * ps, false, &copied) == 0);
	CHECK(t, copied == 2 * (uint64_t)ps);
	fill(a.src, NPAGES, 'B');
	ret = uffd_copy_once(a.uffd, at(&a, 0), a.src, NPAGES * ps, false, &copied);
	printf("# 4 pages onto 2 missing + 2 there: %d (%s), copied %llu\n", ret,
	       strerror(-ret), (unsigned long long)copied);
	CHECK(t, ret == -EAGAIN);
	CHECK(t, copied == 2 * (uint64_t)ps);
	CHECK(t, page_is(a.p, 'B') && page_is(a.p + ps, 'B' + 1));
	CHECK(t, page_is(a.p + 2 * ps, 'b' + 2) && page_is(a.p + 3 * ps, 'b' + 3));
	/* Going on from *copied says why it stopped. */
	ret = uffd_copy_once(a.uffd, at(&a, 0) + copied, a.src + copied, NPAGES * ps - copied,
			     false, &copied);
	CHECK(t, ret == -EEXIST && copied == 0);
	area_close(&a, NPAGES);

	/* uffd_copy() goes round a page in the middle that is there. */
	CHECK(t, area_open(&a, 0) == 0);
	fill(a.src, NPAGES, 'c');
	CHECK(t, uffd_copy_page(a.uffd, at(&a, 1), a.src + ps, ps) == 0);
	fill(a.src, NPAGES, 'C');
	CHECK(t, uffd_copy(a.uffd, at(&a, 0), a.src, NPAGES * ps, false) == 0);
	CHECK(t, page_is(a.p, 'C') && page_is(a.p + ps, 'c' + 1));
	CHECK(t, page_is(a.p + 2 * ps, 'C' + 2) && page_is(a.p + 3 * ps, 'C' + 3));
	area_close(&a, NPAGES);
}

/*
 * Across the end of the registered VMA: the kernel takes the range whole
 * or not at all (ENOENT, nothing copied); page by page the mapped part
 * goes in and the rest is ENOENT, as for memory never mapped.
 */
static void copy_past_vma_end(struct tap *t)
{
	struct area a;
	uint64_t copied = 12345;

	CHECK(t, area_open(&a, 0) == 0);
	fill(a.src, NPAGES, 'd');
	CHECK(t, munmap(a.p + 2 * ps, 2 * ps) == 0);
	CHECK(t, uffd_copy_once(a.uffd, at(&a, 0), a.src, NPAGES * ps, false, &copied) == -ENOENT);
	CHECK(t, copied == 0);
	CHECK(t, uffd_copy(a.uffd, at(&a, 0), a.src, NPAGES * ps, false) == -ENOENT);
	CHECK(t, uffd_copy_once(a.uffd, at(&a, 0), a.src, 2 * ps, false, &copied) == 0);
	CHECK(t, copied == 2 * (uint64_t)ps && page_is(a.p + ps, 'd' + 1));
	CHECK(t, uffd_copy_once(a.uffd, at(&a, 2), a.src, ps, false, &copied) == -ENOENT);
	CHECK(t, copied == 0);
	CHECK(t, uffd_zeropage(a.uffd, at(&a, 3), ps, false) == -ENOENT);
	area_close(&a, 2);
}

/* A zero page only where nothing is: EEXIST over a page there, either way round. */
static void zeropage_onto_populated(struct tap *t)
{
	struct area a;
	uint64_t copied;

	CHECK(t, area_open(&a, 0) == 0);
	fill(a.src, NPAGES, 'e');
	CHECK(t, uffd_zeropage(a.uffd, at(&a, 0), ps, false) == 0);
	CHECK(t, page_is(a.p, 0));
	CHECK(t, uffd_zeropage(a.uffd, at(&a, 0), ps, false) == -EEXIST);
	CHECK(t, uffd_copy_once(a.uffd, at(&a, 0), a.src, ps, false, &copied) == -EEXIST);
	CHECK(t, page_is(a.p, 0));
	CHECK(t, uffd_copy_page(a.uffd, at(&a, 1), a.src + ps, ps) == 0);
	CHECK(t, uffd_zeropage(a.uffd, at(&a, 1), ps, false) == -EEXIST);
	CHECK(t, page_is(a.p + ps, 'e' + 1));
	area_close(&a, NPAGES);
}

/* One fd over a unix socket with a word; the fd, or -1 if none came in 10 s. */
static int recv_fd(int sock, uint64_t *word)
{
	int fd;

	return recv_word(sock, word, &fd, 10000) ? -1 : fd;
}

/* The child: two registered pages, its userfaultfd to the parent, then exit when told. */
static int esrch_child(int sock)
{
	char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct err e;
	char c;
	int uffd;

	if (p == MAP_FAILED)
		return 2;
	uffd = uffd_open(0, &e);
	if (uffd < 0 || uffd_register_missing(uffd, (uint64_t)p, 2 * ps))
		return 3;
	if (send_word(sock, uffd, (uint64_t)p))
		return 4;
	close(uffd);
	return read(sock, &c, 1) == 1 ? 0 : 5;
}

/*
 * The process behind the userfaultfd exited: every ioctl that needs its
 * memory is ESRCH, and uffd_alive() says so.
 */
static void esrch_after_exit(struct tap *t)
{
	static char src[4096] __attribute__((aligned(4096)));
	uint64_t addr = 0, copied = 12345;
	int sv[2], uffd = -1, status = -1;
	pid_t pid;

	memset(src, 'f', sizeof(src));
	CHECK(t, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	pid = fork();
	if (!pid) {
		close(sv[0]);
		_exit(esrch_child(sv[1]));
	}
	close(sv[1]);
	CHECK(t, pid > 0);
	uffd = recv_fd(sv[0], &addr);
	CHECK(t, uffd >= 0);
	if (uffd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(sv[0]);
		return;
	}
	/* Alive: the copy lands in the child. */
	CHECK(t, uffd_alive(uffd, addr) == 1);
	CHECK(t, uffd_copy_once(uffd, addr, src, ps, true, &copied) == 0 && copied == (uint64_t)ps);
	CHECK(t, write(sv[0], "x", 1) == 1);
	CHECK(t, waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status));

	CHECK(t, uffd_alive(uffd, addr) == 0);
	copied = 12345;
	CHECK(t, uffd_copy_once(uffd, addr + ps, src, ps, true, &copied) == -ESRCH);
	CHECK(t, copied == 0);
	CHECK(t, uffd_copy_page(uffd, addr + ps, src, ps) == -ESRCH);
	CHECK(t, uffd_copy(uffd, addr + ps, src, ps, true) == -ESRCH);
	CHECK(t, uffd_zeropage(uffd, addr + ps, ps, true) == -ESRCH);
	close(uffd);
	close(sv[0]);
}

struct mover {
	char *from, *to;
	void *ret;
};

static void *do_mremap(void *arg)
{
	struct mover *m = arg;

	m->ret = mremap(m->from, NPAGES * ps, NPAGES * ps, MREMAP_MAYMOVE | MREMAP_FIXED, m->to);
	return NULL;
}

/*
 * An mremap waits in the kernel until its event is read, its VMA at the
 * new place already. Meanwhile every copy is EAGAIN, at the new place,
 * the old one, or where nothing is mapped (the kernel checks for a
 * pending event first): the handler must read its events before it can
 * copy anywhere. Once read, the old place is ENOENT as any unmapped
 * address: uffd.c cannot tell them apart (one ioctl, one errno).
 */
static void mremap_event_pending(struct tap *t)
{
	struct area a;
	struct mover m;
	struct uffd_msg msg;
	struct pollfd p;
	pthread_t th;
	uint64_t copied = 12345;
	char *hole;

	CHECK(t, area_open(&a, UFFD_FEATURE_EVENT_REMAP) == 0);
	fill(a.src, NPAGES, 'g');
	m.from = a.p;
	m.to = mmap(NULL, NPAGES * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(t, m.to != MAP_FAILED);
	/* Where nothing is mapped: the ENOENT to compare with. */
	hole = mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole, ps);
	CHECK(t, pthread_create(&th, NULL, do_mremap, &m) == 0);

	p = (struct pollfd){ .fd = a.uffd, .events = POLLIN };
	CHECK(t, poll(&p, 1, 10000) == 1);
	CHECK(t, uffd_copy_once(a.uffd, (uint64_t)m.to, a.src, ps, true, &copied) == -EAGAIN);
	CHECK(t, copied == 0);
	copied = 12345;
	CHECK(t, uffd_copy_once(a.uffd, (uint64_t)m.from, a.src, ps, true, &copied) == -EAGAIN);
	CHECK(t, copied == 0);
	CHECK(t, uffd_copy_once(a.uffd, (uint64_t)hole, a.src, ps, true, &copied) == -EAGAIN);
	CHECK(t, uffd_zeropage(a.uffd, (uint64_t)m.to + ps, ps, true) == -EAGAIN);

	CHECK(t, read(a.uffd, &msg, sizeof(msg)) == sizeof(msg));
	CHECK(t, msg.event == UFFD_EVENT_REMAP && msg.arg.remap.from == (uint64_t)m.from &&
	      msg.arg.remap.to == (uint64_t)m.to && msg.arg.remap.len == (uint64_t)NPAGES * ps);
	pthread_join(th, NULL);
	CHECK(t, m.ret == m.to);
	/* Read: the new place takes copies, the old one stays ENOENT. */
	CHECK(t, uffd_copy_once(a.uffd, (uint64_t)m.to, a.src, ps, true, &copied) == 0);
	CHECK(t, page_is(m.to, 'g'));
	CHECK(t, uffd_copy_once(a.uffd, (uint64_t)m.from, a.src, ps, true, &copied) == -ENOENT);
	CHECK(t, uffd_copy_once(a.uffd, (uint64_t)hole, a.src, ps, true, &copied) == -ENOENT);
	munmap(m.to, NPAGES * ps);
	area_close(&a, m.ret == m.to ? 0 : NPAGES);
}

/* The small ones: alive on a live process, wake, register's own errors, move. */
static void alive_wake_register_move(struct tap *t)
{
	struct area a;
	uint64_t moved = 12345;
	char *own;

	CHECK(t, area_open(&a, 0) == 0);
	CHECK(t, uffd_alive(a.uffd, at(&a, 0)) == 1);
	CHECK(t, uffd_wake(a.uffd, at(&a, 0), NPAGES * ps) == 0);
	CHECK(t, uffd_register_missing(a.uffd, at(&a, 0) + 1, ps) == -EINVAL);

	own = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(t, own != MAP_FAILED);
	fill(own, 2, 'h');
	if (uffd_has_feature(UFFD_FEATURE_MOVE) == 1) {
		CHECK(t, uffd_move(a.uffd, at(&a, 0), own, 2 * ps, &moved) == 0);
		CHECK(t, moved == 2 * (uint64_t)ps);
		CHECK(t, page_is(a.p, 'h') && page_is(a.p + ps, 'h' + 1));
		fill(own, 2, 'H');
		moved = 12345;
		CHECK(t, uffd_move(a.uffd, at(&a, 1), own, ps, &moved) == -EEXIST);
		CHECK(t, moved == 0 && page_is(a.p + ps, 'h' + 1));
	}
	munmap(own, 2 * ps);
	area_close(&a, NPAGES);
}

int main(void)
{
	struct tap t = { 0 };
	struct err e;
	int fd;

	ps = sysconf(_SC_PAGESIZE);
	if (ps != 4096) {
		printf("1..0 # SKIP page size %ld\n", ps);
		return 0;
	}
	/* valgrind has no userfaultfd (ENOSYS): nothing here runs without one. */
	fd = uffd_open(0, &e);
	if (fd < 0) {
		printf("1..0 # SKIP %s\n", e.msg);
		return 0;
	}
	close(fd);
	RUN(&t, features_named);
	RUN(&t, copy_onto_populated);
	RUN(&t, copy_cut_short);
	RUN(&t, copy_past_vma_end);
	RUN(&t, zeropage_onto_populated);
	RUN(&t, esrch_after_exit);
	RUN(&t, mremap_event_pending);
	RUN(&t, alive_wake_register_move);
	return tap_done(&t);
}
