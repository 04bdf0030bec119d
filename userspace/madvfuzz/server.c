// SPDX-License-Identifier: GPL-2.0
/* The worker's userfaultfd server thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "server.h"
#include "uffd.h"

/*
 * The worker is blocked in the fault while its page is served, so the
 * model entry read here does not change under us.
 */
/* The first of the server's findings, for the worker to report after its operation. */
static void __attribute__((format(printf, 2, 3))) server_failed(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&w->server_bad, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(w->server_what, sizeof(w->server_what), fmt, ap);
	va_end(ap);
}

static void serve(struct worker *w, uint64_t addr)
{
	struct arena *a = &w->a;
	uint64_t page = addr & ~(uint64_t)(a->ps - 1);
	size_t p = (page - a->base) / a->ps;
	const char *state = "outside the arena";
	uint32_t key = 0;
	int ret;

	if (page >= a->base && p < a->npages) {
		const struct page_model *m = &a->pg[p];

		if (m->state == P_LAZY)
			key = m->key;
		state = m->state == P_UNMAPPED ? "unmapped" : m->state == P_ZERO ? "a hole it read" :
			m->state == P_FILLED ? "filled" : "lazy";
	}
	if (!key) {
		/* Unblocked with zeros; the worker reports it after its operation. */
		server_failed(w, "a userfault at %#lx on a page the model says is %s",
			      (unsigned long)addr, state);
		memset(w->page, 0, a->ps);
	} else {
		pattern_fill(w->page, a->ps, a->id, key);
	}
	ret = uffd_copy_page(w->uffd, page, w->page, a->ps);
	if (ret == -EEXIST) {
		uffd_wake(w->uffd, page, a->ps);
	} else if (ret) {
		/*
		 * The worker would sleep in the fault for good: zeros wake it
		 * (if even they fail, say so now, for the run will hang).
		 */
		server_failed(w, "UFFDIO_COPY at %#lx: %s", (unsigned long)page, strerror(-ret));
		ret = uffd_zeropage(w->uffd, page, a->ps, true);
		if (ret && ret != -EEXIST)
			fprintf(stderr, "madvfuzz: worker %u: UFFDIO_ZEROPAGE at %#lx: %s: the worker "
				"stays blocked in its fault\n", a->id, (unsigned long)page,
				strerror(-ret));
	}
	atomic_fetch_add(&w->cnt->served, 1);
}

static void *server_main(void *arg)
{
	struct worker *w = arg;
	struct pollfd pfd[2] = { { .fd = w->uffd, .events = POLLIN },
				 { .fd = w->stop_pipe[0], .events = POLLIN } };

	for (;;) {
		struct uffd_msg msg;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			/* No server: the next fault would hang; say why first. */
			fprintf(stderr, "madvfuzz: worker %u: the userfaultfd server's poll: %s\n",
				w->a.id, strerror(errno));
			server_failed(w, "the userfaultfd server stopped: poll: %s", strerror(errno));
			atomic_store(w->stop, true);
			break;
		}
		if (pfd[1].revents)
			break;
		if (read(w->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event == UFFD_EVENT_PAGEFAULT)
			serve(w, msg.arg.pagefault.address);
	}
	return NULL;
}

int server_start(struct worker *w)
{
	int ret;

	if (pipe2(w->stop_pipe, O_CLOEXEC)) {
		fprintf(stderr, "madvfuzz: pipe: %s\n", strerror(errno));
		return -1;
	}
	ret = pthread_create(&w->server, NULL, server_main, w);
	if (ret) {
		fprintf(stderr, "madvfuzz: the userfaultfd server thread: %s\n", strerror(ret));
		return -1;
	}
	w->server_started = true;
	return 0;
}

void server_stop(struct worker *w)
{
	if (w->server_started) {
		if (write(w->stop_pipe[1], "", 1) != 1)
			pthread_cancel(w->server);
		pthread_join(w->server, NULL);
		w->server_started = false;
	}
	for (int i = 0; i < 2; i++)
		if (w->stop_pipe[i] >= 0) {
			close(w->stop_pipe[i]);
			w->stop_pipe[i] = -1;
		}
}
