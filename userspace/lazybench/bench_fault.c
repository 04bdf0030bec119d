// SPDX-License-Identifier: GPL-2.0
/*
 * Lazy fault service as the faulting thread sees it: from the touch of a
 * missing page until it continues. lazyrestore's handler (read the page
 * from the source, UFFDIO_COPY it) with its background fill running and
 * idle, against a bare handler that answers every fault with one
 * UFFDIO_COPY of a page it already holds: the floor of a uffd round trip,
 * measured in the same run, the same way.
 *
 * The same way includes where the threads run. Left to the scheduler, a
 * handler thread sometimes shares the faulting thread's CPU and
 * sometimes not, and the two are different round trips: on one CPU the
 * fault hands the CPU over (about 6 us here), on two it wakes the other
 * CPU (an IPI; in a VM whose idle vCPUs halt, a trip through the host,
 * 60-90 us). Which one a run drew decided its p50: so the faulting
 * thread and the handler's threads (they inherit it from the thread
 * that makes them) are pinned, as --placement says.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "clock.h"
#include "lazy.h"
#include "runs.h"
#include "uffd.h"

struct bare {
	int uffd;
	char *t;		/* the region */
	uint64_t len;
	long ps;
	char *page;
	atomic_bool stop;
	int error;		/* the handler's failure, -errno */
	char what[64];		/* and what failed */
};

struct placement {
	cpu_set_t saved;	/* the calling thread's affinity, given back at the end */
	int fault_cpu, handler_cpu;
};

/*
 * Nothing serves the region any more: unregistered, so that the faulting
 * thread, woken by it, gets a kernel page instead of waiting for ever.
 */
static void bare_give_up(struct bare *b, int error, const char *what)
{
	struct uffdio_range r = { .start = (uint64_t)b->t, .len = b->len };

	b->error = error;
	snprintf(b->what, sizeof(b->what), "%s", what);
	ioctl(b->uffd, UFFDIO_UNREGISTER, &r);
}

static void *bare_handler(void *arg)
{
	struct bare *b = arg;
	struct pollfd p = { .fd = b->uffd, .events = POLLIN };
	struct uffd_msg msg;

	while (!b->stop) {
		ssize_t r;
		int ret;

		/* The timeout only lets it see stop: a fault wakes the poll at once. */
		ret = poll(&p, 1, 50);
		if (ret < 0 && errno != EINTR) {
			bare_give_up(b, -errno, "poll");
			break;
		}
		if (ret <= 0)
			continue;
		r = read(b->uffd, &msg, sizeof(msg));
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			bare_give_up(b, -errno, "read of the userfaultfd");
			break;
		}
		if (r != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		ret = uffd_copy_page(b->uffd, msg.arg.pagefault.address & ~(uint64_t)(b->ps - 1),
				     b->page, b->ps);
		if (ret) {
			bare_give_up(b, ret, "UFFDIO_COPY");
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

static int pin(int cpu, struct err *err)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s))
		return err_sys(err, "pinning to CPU %d", cpu);
	return 0;
}

/* The CPU this thread is on, and for cross-cpu another one it may use. */
static int placement_pick(const struct bench_opts *o, struct placement *pl, struct err *err)
{
	int cpu = sched_getcpu();

	if (sched_getaffinity(0, sizeof(pl->saved), &pl->saved))
		return err_sys(err, "sched_getaffinity");
	if (cpu < 0 || !CPU_ISSET(cpu, &pl->saved))
		for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &pl->saved); cpu++)
			;
	pl->fault_cpu = pl->handler_cpu = cpu;
	if (o->placement == BENCH_SAME_CPU)
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (c != cpu && CPU_ISSET(c, &pl->saved)) {
			pl->handler_cpu = c;
			return 0;
		}
	return err_set(err, ENODEV, "--placement cross-cpu: needs two CPUs to run on, this "
		       "process may use only CPU %d", cpu);
}

static const char *placement_name(const struct bench_opts *o)
{
	return o->placement == BENCH_SAME_CPU ? "same-cpu" : "cross-cpu";
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
		"\"placement\": \"%s\", \"faults\": %zu, \"p50_us\": %.2f, \"p99_us\": %.2f, "
		"\"max_us\": %.2f}\n", handler, background, placement_name(o), n,
		n ? lat[n / 2] / 1e3 : 0, n ? lat[n * 99 / 100] / 1e3 : 0, n ? lat[n - 1] / 1e3 : 0);
	fflush(o->out);
}

/* The fault region at BENCH_BASE, registered with a new userfaultfd: *uffd, or NULL. */
static char *region(const struct bench_opts *o, long ps, int *uffd, struct err *err)
{
	char *t = mmap((void *)BENCH_BASE, o->fault_pages * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	int ret;

	if (t == MAP_FAILED) {
		err_sys(err, "mmap of %llu pages at %#llx", (unsigned long long)o->fault_pages,
			BENCH_BASE);
		return NULL;
	}
	madvise(t, o->fault_pages * ps, MADV_NOHUGEPAGE);
	*uffd = uffd_open(0, err);
	if (*uffd < 0) {
		munmap(t, o->fault_pages * ps);
		return NULL;
	}
	ret = uffd_register_missing(*uffd, (uint64_t)t, o->fault_pages * ps);
	if (ret) {
		err_set(err, -ret, "UFFDIO_REGISTER: %s", strerror(-ret));
		close(*uffd);
		munmap(t, o->fault_pages * ps);
		return NULL;
	}
	return t;
}

static int run_bare(const struct bench_opts *o, const struct placement *pl, long ps,
		    uint64_t *lat, struct err *err)
{
	struct bare b = { .ps = ps, .len = o->fault_pages * ps };
	pthread_t th;
	size_t n = 0;
	int ret;

	b.t = region(o, ps, &b.uffd, err);
	if (!b.t)
		return -1;
	b.page = aligned_alloc(ps, ps);
	ret = b.page ? pin(pl->handler_cpu, err) : err_set(err, ENOMEM, "a page");
	if (ret)
		goto out;
	memset(b.page, 0x5a, ps);
	ret = pthread_create(&th, NULL, bare_handler, &b);
	if (ret) {
		ret = err_set(err, ret, "a thread for the bare handler: %s", strerror(ret));
		goto out;
	}
	ret = pin(pl->fault_cpu, err);
	if (!ret)
		n = touch_missing(b.t, o->fault_pages, ps, lat);
	b.stop = true;
	pthread_join(th, NULL);
	if (!ret && b.error)
		ret = err_set(err, -b.error, "bare handler: %s: %s", b.what, strerror(-b.error));
	if (!ret)
		report(o, "bare", "none", lat, n);
out:
	close(b.uffd);
	munmap(b.t, b.len);
	free(b.page);
	return ret;
}

/* lazyrestore's handler, serving from this process's own copy (process_vm_readv of itself). */
static int run_lazy(const struct bench_opts *o, const struct placement *pl, long ps,
		    uint64_t *lat, bool background, struct err *err)
{
	struct runs all = RUNS_INIT;
	struct lazy_cfg cfg = { .pages = &all, .source = getpid(), .faults_only = !background };
	struct lazy lz;
	char what[200];
	int uffd, ret, end;
	char *t = region(o, ps, &uffd, err), *src;
	size_t n;

	if (!t)
		return -1;
	src = aligned_alloc(ps, o->fault_pages * ps);
	ret = src ? runs_add(&all, (uint64_t)t / ps, o->fault_pages) : -ENOMEM;
	if (ret) {
		err_set(err, -ret, "the source copy");
		goto out;
	}
	memset(src, 0x5a, o->fault_pages * ps);
	cfg.uffd = uffd;
	cfg.src_delta = (uint64_t)src - (uint64_t)t;
	ret = pin(pl->handler_cpu, err);
	if (ret)
		goto out;
	ret = lazy_start(&lz, &cfg);
	if (ret) {
		err_set(err, -ret, "lazyrestore's handler: %s", strerror(-ret));
		goto out;
	}
	ret = pin(pl->fault_cpu, err);
	n = ret ? 0 : touch_missing(t, o->fault_pages, ps, lat);
	end = lazy_stop(&lz);
	if (!ret && end < 0) {
		lazy_error(&lz, what, sizeof(what));
		ret = err_set(err, -end, "lazyrestore's handler: %s", what);
	}
	lazy_free(&lz);
	if (!ret)
		report(o, "lazyrestore", background ? "running" : "idle", lat, n);
out:
	close(uffd);
	munmap(t, o->fault_pages * ps);
	free(src);
	runs_free(&all);
	return ret;
}

int bench_faults(const struct bench_opts *o, struct err *err)
{
	long ps = getpagesize();
	uint64_t *lat = calloc(o->fault_pages, sizeof(*lat));
	struct placement pl;
	int probe, ret;

	if (!lat)
		return err_set(err, ENOMEM, "latencies of %llu faults",
			       (unsigned long long)o->fault_pages);
	/* No userfaultfd, nothing to measure: said before any output. */
	probe = uffd_open(0, err);
	if (probe < 0) {
		free(lat);
		return probe;
	}
	close(probe);
	ret = placement_pick(o, &pl, err);
	if (ret) {
		free(lat);
		return ret;
	}
	bench_note(o, "faults", "faulting thread on CPU %d, the handlers' threads on CPU %d "
		   "(--placement %s)", pl.fault_cpu, pl.handler_cpu, placement_name(o));
	/* Alternate, so that drift of the machine hits both alike. */
	for (int r = 0; !ret && r < BENCH_REPEAT; r++) {
		ret = run_bare(o, &pl, ps, lat, err);
		if (!ret)
			ret = run_lazy(o, &pl, ps, lat, false, err);
		if (!ret)
			ret = run_lazy(o, &pl, ps, lat, true, err);
	}
	sched_setaffinity(0, sizeof(pl.saved), &pl.saved);
	free(lat);
	return ret;
}
