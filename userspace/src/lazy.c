// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "lazy.h"
#include "uffd.h"

static void fail(struct lazy *lz, const char *what, int err)
{
	if (!lz->error) {
		lz->error = err;
		snprintf(lz->what, sizeof(lz->what), "%s", what);
	}
	lz->stop = true;
}

/* Copy [addr, addr + len) from the frozen source into the destination. */
static int deliver(struct lazy *lz, uint64_t addr, uint64_t len, char *buf, bool wake)
{
	if (pread(lz->source_mem, buf, len, addr + lz->src_delta) != (ssize_t)len)
		return errno ? -errno : -EIO;
	return uffd_copy(lz->uffd, addr, buf, len, wake);
}

static void *serve_faults(void *arg)
{
	struct lazy *lz = arg;
	struct pollfd p = { .fd = lz->uffd, .events = POLLIN };
	char *page = aligned_alloc(lz->ps, lz->ps);
	struct uffd_msg msg;

	if (!page) {
		fail(lz, "fault buffer", ENOMEM);
		return NULL;
	}
	while (!lz->stop) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		if (read(lz->uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			if (errno != EAGAIN)
				fail(lz, "reading the userfaultfd", errno);
			continue;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			fail(lz, "unexpected userfaultfd event", EPROTO);
			break;
		}
		uint64_t t0 = now_ns(), addr = msg.arg.pagefault.address & ~(uint64_t)(lz->ps - 1);
		int ret = 0;

		if (pread(lz->source_mem, page, lz->ps, addr + lz->src_delta) != lz->ps)
			ret = errno ? -errno : -EIO;
		if (!ret)
			ret = uffd_copy_page(lz->uffd, addr, page, lz->ps);
		/* The background fill got there first: make sure this faulter wakes. */
		if (ret == -EEXIST)
			ret = uffd_wake(lz->uffd, addr, lz->ps);
		if (ret) {
			fail(lz, "serving a fault", -ret);
			break;
		}
		lz->faults++;
		if (lz->nlat < lz->cap)
			lz->lat_ns[lz->nlat++] = now_ns() - t0;
	}
	free(page);
	return NULL;
}

static void *fill_rest(void *arg)
{
	struct lazy *lz = arg;
	const size_t chunk = 64;
	char *buf = aligned_alloc(lz->ps, chunk * lz->ps);

	if (!buf) {
		fail(lz, "fill buffer", ENOMEM);
		return NULL;
	}
	for (size_t i = 0; i < lz->pages->n && !lz->stop; i++) {
		const struct run *r = &lz->pages->v[i];

		for (uint64_t p = r->start; p < r->start + r->len && !lz->stop; p += chunk) {
			uint64_t n = r->start + r->len - p < chunk ? r->start + r->len - p : chunk;
			int ret = deliver(lz, p * lz->ps, n * lz->ps, buf, true);

			if (ret) {
				fail(lz, "background fill", -ret);
				break;
			}
			lz->filled += n;
		}
	}
	free(buf);
	return NULL;
}

int lazy_start(struct lazy *lz, int uffd, int source_mem, const struct runs *pages)
{
	return lazy_start_at(lz, uffd, source_mem, pages, 0);
}

int lazy_start_at(struct lazy *lz, int uffd, int source_mem, const struct runs *pages,
		  uint64_t src_delta)
{
	memset(lz, 0, sizeof(*lz));
	lz->src_delta = src_delta;
	lz->uffd = uffd;
	lz->source_mem = source_mem;
	lz->pages = pages;
	lz->ps = getpagesize();
	lz->cap = runs_pages(pages) + 1;
	lz->lat_ns = calloc(lz->cap, sizeof(*lz->lat_ns));
	if (!lz->lat_ns)
		return -ENOMEM;
	if (pthread_create(&lz->fault_thread, NULL, serve_faults, lz)) {
		free(lz->lat_ns);
		return -EAGAIN;
	}
	if (pthread_create(&lz->fill_thread, NULL, fill_rest, lz)) {
		lz->stop = true;
		pthread_join(lz->fault_thread, NULL);
		free(lz->lat_ns);
		return -EAGAIN;
	}
	return 0;
}

int lazy_stop(struct lazy *lz)
{
	pthread_join(lz->fill_thread, NULL);
	lz->stop = true;
	pthread_join(lz->fault_thread, NULL);
	return -lz->error;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t lazy_latency_percentile(struct lazy *lz, int pct)
{
	if (!lz->nlat)
		return 0;
	qsort(lz->lat_ns, lz->nlat, sizeof(*lz->lat_ns), cmp_u64);
	return lz->lat_ns[(lz->nlat - 1) * pct / 100];
}
