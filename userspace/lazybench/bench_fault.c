// SPDX-License-Identifier: GPL-2.0
/*
 * Lazy fault service as the faulting thread sees it: from the touch of a
 * missing page until it continues. lazyrestore's handler (read the page
 * from the source, UFFDIO_COPY it) with its background fill running and
 * idle, against a bare handler that answers every fault with one
 * UFFDIO_COPY of a page it already holds: the floor of a uffd round trip,
 * measured in the same run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "clock.h"
#include "lazy.h"
#include "runs.h"
#include "uffd.h"

struct bare {
	int uffd;
	long ps;
	char *page;
	atomic_bool stop;
	int error;
};

static void *bare_handler(void *arg)
{
	struct bare *b = arg;
	struct pollfd p = { .fd = b->uffd, .events = POLLIN };
	struct uffd_msg msg;

	while (!b->stop) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		if (read(b->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (uffd_copy_page(b->uffd, msg.arg.pagefault.address & ~(uint64_t)(b->ps - 1),
				   b->page, b->ps)) {
			b->error = errno;
			break;
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Touch every other page of [t, t + n pages) from the end backwards (the
 * background fill goes forwards: the two meet in the middle), timing the
 * touches of pages that were missing.
 */
static size_t touch_missing(char *t, uint64_t n, long ps, uint64_t *lat)
{
	size_t k = 0;

	for (uint64_t i = n; i-- > 0;) {
		unsigned char in;
		uint64_t t0;

		if (i % 2 || (mincore(t + i * ps, ps, &in) == 0 && (in & 1)))
			continue;
		t0 = now_ns();
		*(volatile char *)(t + i * ps);
		lat[k++] = now_ns() - t0;
	}
	return k;
}

static void report(const struct bench_opts *o, const char *handler, const char *background,
		   uint64_t *lat, size_t n)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	fprintf(o->out, "{\"kind\": \"faults\", \"handler\": \"%s\", \"background\": \"%s\", "
		"\"faults\": %zu, \"p50_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.2f}\n",
		handler, background, n, n ? lat[n / 2] / 1e3 : 0, n ? lat[n * 99 / 100] / 1e3 : 0,
		n ? lat[n - 1] / 1e3 : 0);
	fflush(o->out);
}

static char *region(const struct bench_opts *o, long ps, int *uffd)
{
	char why[160];
	char *t = mmap((void *)BENCH_BASE, o->fault_pages * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (t == MAP_FAILED)
		return NULL;
	madvise(t, o->fault_pages * ps, MADV_NOHUGEPAGE);
	*uffd = uffd_create(why, sizeof(why));
	if (*uffd < 0 || uffd_register_missing(*uffd, (uint64_t)t, o->fault_pages * ps)) {
		fprintf(stderr, "lazybench: faults: %s\n", *uffd < 0 ? why : strerror(errno));
		if (*uffd >= 0)
			close(*uffd);
		munmap(t, o->fault_pages * ps);
		return NULL;
	}
	return t;
}

static int run_bare(const struct bench_opts *o, long ps, uint64_t *lat)
{
	struct bare b = { .ps = ps };
	pthread_t th;
	char *t = region(o, ps, &b.uffd);
	size_t n;

	b.page = aligned_alloc(ps, ps);
	if (!t || !b.page || pthread_create(&th, NULL, bare_handler, &b)) {
		free(b.page);
		return -1;
	}
	memset(b.page, 0x5a, ps);
	n = touch_missing(t, o->fault_pages, ps, lat);
	b.stop = true;
	pthread_join(th, NULL);
	report(o, "bare", "none", lat, n);
	close(b.uffd);
	munmap(t, o->fault_pages * ps);
	free(b.page);
	return b.error ? -1 : 0;
}

/* lazyrestore's handler, serving from this process's own copy (process_vm_readv of itself). */
static int run_lazy(const struct bench_opts *o, long ps, uint64_t *lat, bool background)
{
	struct runs all = RUNS_INIT;
	struct lazy_cfg cfg = { .pages = &all, .source = getpid(), .faults_only = !background };
	struct lazy lz;
	int uffd, ret = -1;
	char *t = region(o, ps, &uffd), *src;
	size_t n;

	src = t ? aligned_alloc(ps, o->fault_pages * ps) : NULL;
	if (!src || runs_add(&all, (uint64_t)t / ps, o->fault_pages))
		goto out;
	memset(src, 0x5a, o->fault_pages * ps);
	cfg.uffd = uffd;
	cfg.src_delta = (uint64_t)src - (uint64_t)t;
	if (lazy_start(&lz, &cfg))
		goto out;
	n = touch_missing(t, o->fault_pages, ps, lat);
	ret = lazy_stop(&lz) < 0 ? -1 : 0;
	lazy_free(&lz);
	report(o, "lazyrestore", background ? "running" : "idle", lat, n);
out:
	if (t) {
		close(uffd);
		munmap(t, o->fault_pages * ps);
	}
	free(src);
	runs_free(&all);
	return ret;
}

int bench_faults(const struct bench_opts *o)
{
	long ps = getpagesize();
	uint64_t *lat = calloc(o->fault_pages, sizeof(*lat));
	int ret = -1;

	if (!lat)
		return -1;
	/* Alternate, so that drift of the machine hits both alike. */
	for (int r = 0; r < BENCH_REPEAT; r++)
		if (run_bare(o, ps, lat) || run_lazy(o, ps, lat, false) || run_lazy(o, ps, lat, true))
			goto out;
	ret = 0;
out:
	free(lat);
	return ret;
}
