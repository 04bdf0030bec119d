// SPDX-License-Identifier: GPL-2.0
/*
 * The lazy-pages handler, on the model of CRIU's lazy-pages daemon
 * (criu/uffd.c): per process a set of pages still to send, taken from on
 * a fault, moved by UFFD_EVENT_REMAP, cut by UFFD_EVENT_REMOVE/UNMAP,
 * copied for a child by UFFD_EVENT_FORK; a fault on a page no set holds
 * (delivered, or discarded by the task) gets a zero page; ESRCH/ENOSPC
 * means the process exited.
 *
 * The race that decides the design: the kernel lets the task that
 * called munmap/madvise(MADV_DONTNEED)/mremap go on as soon as the event
 * message is read, and only then zaps or moves the pages. A UFFDIO_COPY
 * of data chosen before the event was applied to the set, landing after
 * the zap, would bring back data the task threw away; one landing in a
 * range that moved would fill the wrong place. The kernel guards only
 * the time between the event being raised and being read (UFFDIO_COPY
 * fails with EAGAIN then), and kernels before 6.8 (map_changing_lock)
 * not even a copy that started before the event and still runs during
 * the zap.
 *
 * CRIU avoids it with one thread that does everything, so nothing is
 * copied while an event is read; but then a fault waits behind whatever
 * background copy that thread is in (CRIU's go up to 4 MiB). Here two
 * threads share one mutex instead:
 *  - the reader polls every userfaultfd and, holding the mutex, reads a
 *    batch of messages, applies its events to the sets, then serves its
 *    faults (one page each: read from the source, UFFDIO_COPY);
 *  - the filler takes a chunk (64 KiB doubling to 4 MiB) from a set,
 *    reads it from the source without the mutex, then copies it holding
 *    the mutex around each UFFDIO_COPY of at most SLICE bytes.
 * So no copy runs while a message is read, and every copy starts from a
 * set that has every event read so far applied. An event that concerns
 * the chunk in flight is applied to it too (the pages it drops are not
 * copied, a move gives the chunk back to the set). A fault waits for at
 * most one slice: the reader says it wants the mutex (want) and the
 * filler gives way between two copies; the long parts (reading 4 MiB
 * from the source) run unlocked. A fault on a page of the chunk in
 * flight is left to the filler, which copies that page next and wakes
 * the faulter with it: no page is copied twice. Such a fault waits for
 * the rest of the chunk's read at worst (about 0.3 ms for 4 MiB), and as
 * in CRIU a fault sends its process's chunks back to 64 KiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "lazy.h"
#include "uffd.h"

#define CHUNK_MIN	(64ULL << 10)
#define CHUNK_MAX	(4ULL << 20)
/* The most one UFFDIO_COPY under the mutex copies: what a fault may wait behind. */
#define SLICE		(64ULL << 10)
#define BATCH		16		/* messages per read() */
#define DRAIN_ROUNDS	8		/* reads per uffd per poll: none starves the others */
#define PROBE_NS	(50ULL * 1000 * 1000)
#define EAGAIN_WAIT_NS	(2ULL * 1000 * 1000)
/* How long a page with no VMA is given for the event that moved it to come. */
#define ENOENT_WAIT_NS	(200ULL * 1000 * 1000)
#define LAT_DEFAULT	(1u << 20)
#define MAX_PIECES	1024		/* IOV_MAX: one process_vm_readv per chunk */

struct proc {
	int uffd;
	bool own_fd;		/* a forked child's: ours to close */
	bool fd_closed;
	bool exited;
	unsigned int id;	/* 0: the destination */
	uint64_t chunk;		/* its next background chunk, bytes */
	uint64_t probe;		/* an address for uffd_alive() */
	struct lazy_set set;
};

/* A fault whose answer the kernel refused while an event was on its way. */
struct deferred {
	struct proc *p;
	uint64_t addr, t0;
};

/* The filler's chunk: read from the source in one go, copied in slices. */
struct flight {
	struct proc *p;		/* NULL: none */
	bool cancelled;		/* given back (or its process exited): copy no more */
	struct lazy_extent *v;	/* pieces, by ascending dst */
	size_t *first;		/* buffer page of each piece's first page */
	size_t n, pages;
	uint8_t *done;		/* per buffer page: copied, dropped, or found there */
	uint64_t *urgent;	/* per buffer page: a read fault waits on it since (ns), or 0 */
	size_t nurgent;
	size_t next;		/* every page below is done */
	size_t single_end;	/* below this copy page by page: a VMA boundary is in there */
	size_t enoent_page;	/* the page that found no VMA, since enoent_since */
	uint64_t enoent_since;
	bool gave_up;		/* a page was dropped for want of a VMA ... */
	uint64_t gave_up_gen;	/* ... and no event came since this one */
	struct iovec *remote;
	char *buf;
};

struct lazy_state {
	struct lazy *lz;
	struct lazy_cfg cfg;
	long ps;
	pthread_t reader, filler;
	bool have_reader, have_filler, stopped;
	int evfd;			/* wakes the reader's poll for lazy_stop */
	atomic_int want;		/* the reader waits for mu: the filler gives way */

	pthread_mutex_t mu;		/* everything below */
	pthread_cond_t work_cv;		/* filler: there may be work, or stop */
	pthread_cond_t event_cv;	/* filler: an event was applied, or stop */
	pthread_cond_t end_cv;		/* lazy_wait() */
	bool stop;
	struct proc **procs;
	size_t nprocs, cap_procs, rr;
	struct flight fl;
	struct deferred *def;
	size_t ndef, cap_def;
	uint64_t event_gen;
	enum lazy_end end;
	uint64_t end_ns;
	bool dest_gone_early;		/* the destination exited before completion */
	struct lazy_stats stats;
	uint64_t *lat;
	size_t nlat, cap_lat, max_lat;
	char *page;			/* the reader's: one page from the source */

	pthread_mutex_t err_mu;		/* a leaf lock, so the error reads without mu */
	int err;
	char what[128];
};

static bool failed(struct lazy_state *st)
{
	return atomic_load(&st->lz->failed);
}

static bool running(struct lazy_state *st)
{
	return !st->stop && !failed(st);
}

/* The first failure wins. Called with mu held, so waiters see it with their condition. */
static void __attribute__((format(printf, 3, 4)))
failf(struct lazy_state *st, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&st->err_mu);
	if (!st->err) {
		st->err = err > 0 ? err : EIO;
		va_start(ap, fmt);
		vsnprintf(st->what, sizeof(st->what), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&st->err_mu);
	atomic_store(&st->lz->failed, true);
	pthread_cond_broadcast(&st->work_cv);
	pthread_cond_broadcast(&st->event_cv);
	pthread_cond_broadcast(&st->end_cv);
}

static struct timespec deadline(uint64_t ns)
{
	uint64_t t = now_ns() + ns;

	return (struct timespec){ .tv_sec = t / 1000000000ULL, .tv_nsec = t % 1000000000ULL };
}

/* Best effort: a sample that finds no room is not kept. */
static void lat_add(struct lazy_state *st, uint64_t ns)
{
	if (st->nlat == st->cap_lat) {
		size_t cap = st->cap_lat ? 2 * st->cap_lat : 1024;
		uint64_t *v;

		if (cap > st->max_lat)
			cap = st->max_lat;
		if (cap <= st->nlat)
			return;
		v = realloc(st->lat, cap * sizeof(*v));
		if (!v)
			return;
		st->lat = v;
		st->cap_lat = cap;
	}
	st->lat[st->nlat++] = ns;
}

static struct proc *proc_new(struct lazy_state *st, int uffd, bool own_fd)
{
	struct proc *p;

	if (st->nprocs == st->cap_procs) {
		size_t cap = st->cap_procs ? 2 * st->cap_procs : 8;
		struct proc **v = realloc(st->procs, cap * sizeof(*v));

		if (!v)
			return NULL;
		st->procs = v;
		st->cap_procs = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->uffd = uffd;
	p->own_fd = own_fd;
	p->id = st->nprocs;
	p->chunk = CHUNK_MIN;
	st->procs[st->nprocs++] = p;
	st->stats.procs_seen++;
	return p;
}

/* A normal end for that process: what it still missed goes with it. */
static void proc_exit(struct lazy_state *st, struct proc *p)
{
	if (p->exited)
		return;
	p->exited = true;
	st->stats.procs_exited++;
	st->stats.abandoned += p->set.bytes / st->ps;
	lazy_set_free(&p->set);
	if (st->fl.p == p && !st->fl.cancelled) {
		for (size_t i = 0; i < st->fl.pages; i++)
			st->stats.abandoned += !st->fl.done[i];
		st->fl.cancelled = true;
	}
	if (!p->id) {
		st->stats.dest_exited = true;
		if (st->end == LAZY_RUNNING)
			st->dest_gone_early = true;
	}
}

/* Only the reader closes, and only between polls: never an fd it is polling. */
static void close_exited(struct lazy_state *st)
{
	for (size_t i = 0; i < st->nprocs; i++) {
		struct proc *p = st->procs[i];

		if (p->exited && p->own_fd && !p->fd_closed) {
			close(p->uffd);
			p->fd_closed = true;
		}
	}
}

static void check_end(struct lazy_state *st)
{
	if (st->end != LAZY_RUNNING || failed(st))
		return;
	if (st->fl.p && !st->fl.cancelled)
		return;
	for (size_t i = 0; i < st->nprocs; i++)
		if (!st->procs[i]->exited && st->procs[i]->set.bytes)
			return;
	st->end = st->dest_gone_early ? LAZY_DEST_EXITED : LAZY_DONE;
	st->end_ns = now_ns();
	pthread_cond_broadcast(&st->end_cv);
}

/* 0, or -errno and *bad: the source address it failed at. */
static int read_source(struct lazy_state *st, const struct iovec *remote, size_t n, void *buf,
		       uint64_t len, uint64_t *bad)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	ssize_t r = process_vm_readv(st->cfg.source, &local, 1, remote, n, 0);
	uint64_t off;

	if (r == (ssize_t)len)
		return 0;
	if (r < 0) {
		*bad = (uint64_t)remote[0].iov_base;
		return -errno;
	}
	/* Short: it stopped where the source has no page. */
	off = r;
	for (size_t i = 0; i < n; i++) {
		if (off < remote[i].iov_len) {
			*bad = (uint64_t)remote[i].iov_base + off;
			break;
		}
		off -= remote[i].iov_len;
	}
	return -EFAULT;
}

static void source_failed(struct lazy_state *st, int err, uint64_t bad)
{
	if (err == -ESRCH)
		failf(st, ESRCH, "the source process is gone (pid %d)", (int)st->cfg.source);
	else
		failf(st, -err, "reading the source (pid %d) at %#llx", (int)st->cfg.source,
		      (unsigned long long)bad);
}

/* --- the chunk in flight --- */

static size_t piece_end(const struct flight *fl, size_t k, long ps)
{
	return fl->first[k] + fl->v[k].len / ps;
}

static uint64_t page_dst(const struct flight *fl, size_t k, size_t i, long ps)
{
	return fl->v[k].dst + (i - fl->first[k]) * ps;
}

/* The buffer page that destination page @addr is, or -1. */
static ssize_t flight_page(const struct flight *fl, uint64_t addr, long ps)
{
	size_t lo = 0, hi = fl->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fl->v[mid].dst + fl->v[mid].len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == fl->n || fl->v[lo].dst > addr)
		return -1;
	return fl->first[lo] + (addr - fl->v[lo].dst) / ps;
}

/* The piece buffer page @i belongs to. */
static size_t flight_piece(const struct flight *fl, size_t i)
{
	size_t lo = 0, hi = fl->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (fl->first[mid] <= i)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static bool flight_overlaps(const struct flight *fl, uint64_t start, uint64_t end)
{
	for (size_t k = 0; k < fl->n; k++)
		if (fl->v[k].dst < end && start < fl->v[k].dst + fl->v[k].len)
			return true;
	return false;
}

/* Page @i will not be copied: its faulter, if one was read, must fault again. */
static void flight_forget(struct lazy_state *st, size_t k, size_t i)
{
	struct flight *fl = &st->fl;

	fl->done[i] = 1;
	if (fl->urgent[i]) {
		fl->urgent[i] = 0;
		fl->nurgent--;
		uffd_wake(fl->p->uffd, page_dst(fl, k, i, st->ps), st->ps);
	}
}

/* Add the pages not done to @to, as runs. */
static int flight_undone_to(struct lazy_state *st, struct lazy_set *to)
{
	struct flight *fl = &st->fl;
	long ps = st->ps;

	for (size_t k = 0; k < fl->n; k++) {
		size_t end = piece_end(fl, k, ps);

		for (size_t i = fl->first[k], j; i < end; i = j) {
			if (fl->done[i]) {
				j = i + 1;
				continue;
			}
			for (j = i; j < end && !fl->done[j]; j++)
				;
			if (lazy_set_add(to, page_dst(fl, k, i, ps),
					 fl->v[k].src + (i - fl->first[k]) * ps, (j - i) * ps))
				return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Hand what is left of the chunk back to its set (a move is easier to
 * apply there) and wake the faulters that were waiting on it: they fault
 * again and are served from the set.
 */
static void flight_give_back(struct lazy_state *st)
{
	struct flight *fl = &st->fl;

	if (flight_undone_to(st, &fl->p->set))
		failf(st, ENOMEM, "giving a chunk back");
	for (size_t k = 0; fl->nurgent && k < fl->n; k++)
		for (size_t i = fl->first[k]; i < piece_end(fl, k, st->ps); i++)
			if (fl->urgent[i])
				flight_forget(st, k, i);
	fl->cancelled = true;
	pthread_cond_signal(&st->work_cv);
}

/* REMOVE/UNMAP over the chunk: its pages there are not to be copied. */
static void flight_drop(struct lazy_state *st, uint64_t start, uint64_t end)
{
	struct flight *fl = &st->fl;
	long ps = st->ps;

	for (size_t k = 0; k < fl->n; k++) {
		uint64_t s = fl->v[k].dst > start ? fl->v[k].dst : start;
		uint64_t e = fl->v[k].dst + fl->v[k].len < end ? fl->v[k].dst + fl->v[k].len : end;

		for (uint64_t a = s; a < e; a += ps) {
			size_t i = fl->first[k] + (a - fl->v[k].dst) / ps;

			if (!fl->done[i]) {
				flight_forget(st, k, i);
				st->stats.dropped++;
			}
		}
	}
}

/* --- the reader: faults and events --- */

static void defer(struct lazy_state *st, struct proc *p, uint64_t addr, uint64_t t0)
{
	if (st->ndef == st->cap_def) {
		size_t cap = st->cap_def ? 2 * st->cap_def : 16;
		struct deferred *v = realloc(st->def, cap * sizeof(*v));

		if (!v) {
			failf(st, ENOMEM, "putting a fault off");
			return;
		}
		st->def = v;
		st->cap_def = cap;
	}
	st->def[st->ndef++] = (struct deferred){ p, addr, t0 };
	st->stats.eagain++;
}

static void serve_fault(struct lazy_state *st, struct proc *p, uint64_t addr, uint64_t t0)
{
	struct flight *fl = &st->fl;
	struct iovec remote;
	uint64_t src, copied, bad = 0;
	ssize_t i;
	int ret;

	addr &= ~(uint64_t)(st->ps - 1);
	if (p->exited)
		return;
	/* As CRIU does: a task that faults runs into missing pages, keep chunks short for it. */
	p->chunk = CHUNK_MIN;
	if (fl->p == p && !fl->cancelled && (i = flight_page(fl, addr, st->ps)) >= 0) {
		if (fl->done[i]) {
			/* Copied since the fault was raised: its wake may have come first. */
			uffd_wake(p->uffd, addr, st->ps);
			return;
		}
		/* The filler copies it next and wakes the faulter with that copy. */
		if (!fl->urgent[i]) {
			fl->urgent[i] = t0;
			fl->nurgent++;
		}
		st->stats.fault_inflight++;
		return;
	}
	if (lazy_set_find(&p->set, addr, &src)) {
		if (lazy_set_cut(&p->set, addr, addr + st->ps, NULL)) {
			failf(st, ENOMEM, "taking a page out of a set");
			return;
		}
		remote = (struct iovec){ .iov_base = (void *)src, .iov_len = st->ps };
		ret = read_source(st, &remote, 1, st->page, st->ps, &bad);
		if (ret) {
			source_failed(st, ret, bad);
			return;
		}
		ret = uffd_copy_once(p->uffd, addr, st->page, st->ps, true, &copied);
		if (!ret) {
			st->stats.fault_copied++;
			lat_add(st, now_ns() - t0);
			if (st->cfg.copied)
				st->cfg.copied(st->cfg.hook_arg, p->id, src, st->ps, true);
			return;
		}
		if (ret == -EAGAIN || ret == -ENOENT) {
			/*
			 * Back in the set, where the coming event applies to
			 * it. ENOENT too: mremap and munmap take the VMA away
			 * before their event can be read, and UFFDIO_COPY
			 * looks the VMA up before it checks for one. Woken
			 * (not put off), the faulter faults again, where the
			 * page is now, or gets its SIGSEGV.
			 */
			if (lazy_set_add(&p->set, addr, src, st->ps))
				failf(st, ENOMEM, "putting a page back");
			if (ret == -EAGAIN) {
				defer(st, p, addr, t0);
			} else {
				st->stats.eagain++;
				uffd_wake(p->uffd, addr, st->ps);
			}
			return;
		}
		if (ret == -ESRCH || ret == -ENOSPC)
			st->stats.abandoned++;
	} else {
		/* Delivered already, or discarded by the task: what it reads there is zeros. */
		ret = uffd_zeropage(p->uffd, addr, st->ps, true);
		if (!ret) {
			st->stats.zero_pages++;
			return;
		}
		if (ret == -EAGAIN) {
			defer(st, p, addr, t0);
			return;
		}
		if (ret == -EEXIST) {
			/* Raised while its copy went in: that copy's wake may have missed it. */
			st->stats.zero_eexist++;
			uffd_wake(p->uffd, addr, st->ps);
			return;
		}
	}
	switch (ret) {
	case -EEXIST:
		st->stats.eexist++;
		/* fallthrough */
	case -ENOENT:		/* no registered VMA there any more: let it fault for real */
		uffd_wake(p->uffd, addr, st->ps);
		break;
	case -ESRCH:
	case -ENOSPC:
		proc_exit(st, p);
		break;
	default:
		failf(st, -ret, "serving a fault at %#llx in process %u", (unsigned long long)addr,
		      p->id);
	}
}

static void retry_deferred(struct lazy_state *st)
{
	struct deferred *v = st->def;
	size_t n = st->ndef;

	if (!n)
		return;
	st->def = NULL;
	st->ndef = st->cap_def = 0;
	for (size_t i = 0; i < n && running(st); i++)
		serve_fault(st, v[i].p, v[i].addr, v[i].t0);
	free(v);
}

static void on_fork(struct lazy_state *st, struct proc *parent, int ufd)
{
	struct proc *c;
	int fl = fcntl(ufd, F_GETFL);

	/* Its flags are the parent's uffd's: poll() wants O_NONBLOCK. */
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(ufd, F_SETFL, fl | O_NONBLOCK);
	c = proc_new(st, ufd, true);
	if (!c) {
		close(ufd);
		failf(st, ENOMEM, "following a fork");
		return;
	}
	c->probe = parent->probe;
	/*
	 * The child misses what its parent still missed at the fork,
	 * including the undone part of a chunk in flight: copies into the
	 * parent fail with EAGAIN from the fork until this event is read.
	 */
	if (lazy_set_copy(&c->set, &parent->set) ||
	    (st->fl.p == parent && !st->fl.cancelled && flight_undone_to(st, &c->set))) {
		failf(st, ENOMEM, "copying a set for a fork");
		return;
	}
	st->stats.inherited += c->set.bytes / st->ps;
	pthread_cond_signal(&st->work_cv);
}

static void on_drop(struct lazy_state *st, struct proc *p, uint64_t start, uint64_t end)
{
	uint64_t before = p->set.bytes;

	if (st->fl.p == p && !st->fl.cancelled)
		flight_drop(st, start, end);
	if (lazy_set_cut(&p->set, start, end, NULL))
		failf(st, ENOMEM, "dropping %#llx-%#llx", (unsigned long long)start,
		      (unsigned long long)end);
	st->stats.dropped += (before - p->set.bytes) / st->ps;
}

static void on_remap(struct lazy_state *st, struct proc *p, uint64_t from, uint64_t to,
		     uint64_t len)
{
	uint64_t dropped = 0;

	if (st->fl.p == p && !st->fl.cancelled &&
	    (flight_overlaps(&st->fl, from, from + len) || flight_overlaps(&st->fl, to, to + len)))
		flight_give_back(st);
	if (lazy_set_move(&p->set, from, to, len, &dropped))
		failf(st, ENOMEM, "moving %#llx to %#llx", (unsigned long long)from,
		      (unsigned long long)to);
	st->stats.dropped += dropped / st->ps;
}

static void on_event(struct lazy_state *st, struct proc *p, const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_FORK:
		st->stats.ev_fork++;
		on_fork(st, p, (int)m->arg.fork.ufd);
		break;
	case UFFD_EVENT_REMAP:
		st->stats.ev_remap++;
		on_remap(st, p, m->arg.remap.from, m->arg.remap.to, m->arg.remap.len);
		break;
	case UFFD_EVENT_REMOVE:
		st->stats.ev_remove++;
		on_drop(st, p, m->arg.remove.start, m->arg.remove.end);
		break;
	case UFFD_EVENT_UNMAP:
		st->stats.ev_unmap++;
		on_drop(st, p, m->arg.remove.start, m->arg.remove.end);
		break;
	default:
		failf(st, EPROTO, "unexpected userfaultfd event %u", m->event);
	}
	st->event_gen++;
	pthread_cond_broadcast(&st->event_cv);
}

static void drain(struct lazy_state *st, struct proc *p)
{
	struct uffd_msg m[BATCH];

	for (int round = 0; round < DRAIN_ROUNDS && running(st) && !p->exited; round++) {
		ssize_t r = read(p->uffd, m, sizeof(m));
		uint64_t t0 = now_ns();
		size_t n;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				failf(st, errno, "reading the userfaultfd of process %u", p->id);
			return;
		}
		n = r / sizeof(*m);
		/*
		 * Events first: reading one let its task go on, so no copy
		 * may rely on the set as it was before it, not even for a
		 * fault read in the same batch ahead of it (the kernel
		 * hands out faults before events).
		 */
		for (size_t i = 0; i < n; i++)
			if (m[i].event != UFFD_EVENT_PAGEFAULT)
				on_event(st, p, &m[i]);
		for (size_t i = 0; i < n && running(st); i++) {
			if (m[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			st->stats.faults++;
			serve_fault(st, p, m[i].arg.pagefault.address, t0);
		}
		if (n < BATCH)
			return;
	}
}

/* An exit shows nowhere else when the process has nothing left to send. */
static void probe_all(struct lazy_state *st)
{
	for (size_t i = 0; i < st->nprocs; i++)
		if (!st->procs[i]->exited && !uffd_alive(st->procs[i]->uffd, st->procs[i]->probe))
			proc_exit(st, st->procs[i]);
}

static void *reader_main(void *arg)
{
	struct lazy_state *st = arg;
	struct pollfd *pfd = NULL;
	struct proc **pp = NULL;
	size_t cap = 0;
	uint64_t next_probe = now_ns() + PROBE_NS;

	pthread_mutex_lock(&st->mu);
	while (running(st)) {
		size_t n = 1;
		int r, err;

		close_exited(st);
		if (cap < st->nprocs + 1) {
			size_t c = 2 * (st->nprocs + 1);
			struct pollfd *a = realloc(pfd, c * sizeof(*a));
			struct proc **b = a ? realloc(pp, c * sizeof(*b)) : NULL;

			if (a)
				pfd = a;
			if (!b) {
				failf(st, ENOMEM, "poll set");
				break;
			}
			pp = b;
			cap = c;
		}
		pfd[0] = (struct pollfd){ .fd = st->evfd, .events = POLLIN };
		for (size_t i = 0; i < st->nprocs; i++) {
			if (st->procs[i]->exited)
				continue;
			pfd[n] = (struct pollfd){ .fd = st->procs[i]->uffd, .events = POLLIN };
			pp[n++] = st->procs[i];
		}
		pthread_mutex_unlock(&st->mu);
		r = poll(pfd, n, st->ndef ? 1 : (int)(PROBE_NS / 1000000));
		err = errno;
		atomic_fetch_add(&st->want, 1);
		pthread_mutex_lock(&st->mu);
		atomic_fetch_sub(&st->want, 1);
		if (r < 0 && err != EINTR) {
			failf(st, err, "polling the userfaultfds");
			break;
		}
		for (size_t i = 1; r > 0 && i < n && running(st); i++) {
			if (!pfd[i].revents || pp[i]->exited)
				continue;
			if (pfd[i].revents & (POLLERR | POLLNVAL)) {
				failf(st, EIO, "poll error on the userfaultfd of process %u",
				      pp[i]->id);
				break;
			}
			drain(st, pp[i]);
		}
		retry_deferred(st);
		if (now_ns() >= next_probe) {
			probe_all(st);
			next_probe = now_ns() + PROBE_NS;
		}
		check_end(st);
	}
	pthread_mutex_unlock(&st->mu);
	free(pfd);
	free(pp);
	return NULL;
}

/* --- the filler: the background copy --- */

static struct proc *pick(struct lazy_state *st)
{
	for (size_t k = 0; k < st->nprocs; k++) {
		size_t i = (st->rr + k) % st->nprocs;
		struct proc *p = st->procs[i];

		if (!p->exited && p->set.bytes) {
			st->rr = i + 1;
			return p;
		}
	}
	return NULL;
}

static void flight_load(struct lazy_state *st, struct proc *p)
{
	struct flight *fl = &st->fl;

	fl->n = lazy_set_take_front(&p->set, p->chunk, fl->v, MAX_PIECES);
	fl->pages = 0;
	for (size_t k = 0; k < fl->n; k++) {
		fl->first[k] = fl->pages;
		fl->pages += fl->v[k].len / st->ps;
		fl->remote[k] = (struct iovec){ .iov_base = (void *)fl->v[k].src,
						.iov_len = fl->v[k].len };
	}
	memset(fl->done, 0, fl->pages);
	memset(fl->urgent, 0, fl->pages * sizeof(*fl->urgent));
	fl->nurgent = fl->next = fl->single_end = 0;
	fl->enoent_page = SIZE_MAX;
	fl->gave_up = false;
	fl->cancelled = false;
	fl->p = p;
	p->chunk = p->chunk * 2 > CHUNK_MAX ? CHUNK_MAX : p->chunk * 2;
}

/* Pages a fault waits on first, then in address order; SIZE_MAX: none left. */
static size_t flight_next(struct flight *fl)
{
	if (fl->nurgent)
		for (size_t i = 0; i < fl->pages; i++)
			if (fl->urgent[i])
				return i;
	while (fl->next < fl->pages && fl->done[fl->next])
		fl->next++;
	return fl->next < fl->pages ? fl->next : SIZE_MAX;
}

static void flight_copied(struct lazy_state *st, size_t k, size_t i, size_t e)
{
	struct flight *fl = &st->fl;
	uint64_t now = 0;

	if (i == e)
		return;
	for (size_t q = i; q < e; q++) {
		fl->done[q] = 1;
		if (fl->urgent[q]) {
			if (!now)
				now = now_ns();
			lat_add(st, now - fl->urgent[q]);
			fl->urgent[q] = 0;
			fl->nurgent--;
		}
	}
	st->stats.bg_copied += e - i;
	if (st->cfg.copied)
		st->cfg.copied(st->cfg.hook_arg, fl->p->id,
			       fl->v[k].src + (i - fl->first[k]) * st->ps, (e - i) * st->ps, false);
}

static void wait_event(struct lazy_state *st)
{
	uint64_t gen = st->event_gen;
	struct timespec ts = deadline(EAGAIN_WAIT_NS);

	while (running(st) && st->event_gen == gen)
		if (pthread_cond_timedwait(&st->event_cv, &st->mu, &ts) == ETIMEDOUT)
			break;
}

/*
 * Page @i found no registered VMA: for good (the task unregistered it),
 * or for now (mremap and munmap take the VMA away before the event that
 * says so can be read, and UFFDIO_COPY looks up the VMA before it checks
 * for a pending event). Wait for events a while before dropping it; once
 * one page was dropped so, the next ones are too until an event comes.
 */
static bool flight_no_vma(struct lazy_state *st, size_t i)
{
	struct flight *fl = &st->fl;
	uint64_t now = now_ns();

	if (fl->enoent_page != i) {
		if (fl->gave_up && fl->gave_up_gen == st->event_gen)
			return true;
		fl->enoent_page = i;
		fl->enoent_since = now;
	}
	if (now - fl->enoent_since >= ENOENT_WAIT_NS) {
		fl->gave_up = true;
		fl->gave_up_gen = st->event_gen;
		fl->enoent_page = SIZE_MAX;
		return true;
	}
	st->stats.eagain++;
	wait_event(st);
	return false;
}

/* Copy the chunk in slices, mu held around each; returns with mu held. */
static void flight_copy(struct lazy_state *st)
{
	struct flight *fl = &st->fl;
	long ps = st->ps;

	while (running(st) && !fl->cancelled) {
		size_t i = flight_next(fl), k, j, lim;
		uint64_t dst, copied;
		int ret;

		if (i == SIZE_MAX)
			break;
		k = flight_piece(fl, i);
		lim = piece_end(fl, k, ps);
		if (i < fl->single_end)
			lim = i + 1;
		else if (lim > i + SLICE / ps)
			lim = i + SLICE / ps;
		for (j = i + 1; j < lim && !fl->done[j]; j++)
			;
		dst = page_dst(fl, k, i, ps);
		ret = uffd_copy_once(fl->p->uffd, dst, fl->buf + i * ps, (j - i) * ps, true,
				     &copied);
		flight_copied(st, k, i, i + copied / ps);
		i += copied / ps;
		switch (ret) {
		case 0:
			break;
		case -EAGAIN:
			/*
			 * Cut short (by a page there, most likely): the next copy
			 * says why. Nothing copied: an event is on its way, the
			 * reader applies it, maybe to this chunk.
			 */
			if (copied)
				break;
			st->stats.eagain++;
			wait_event(st);
			break;
		case -EEXIST:
			st->stats.eexist++;
			flight_forget(st, k, i);
			break;
		case -ENOENT:
			/* Across the end of a VMA? Go page by page to find the pages with none. */
			if (j - i > 1) {
				fl->single_end = j;
			} else if (flight_no_vma(st, i)) {
				flight_forget(st, k, i);
				st->stats.dropped++;
			}
			break;
		case -ESRCH:
		case -ENOSPC:
			proc_exit(st, fl->p);
			break;
		default:
			failf(st, -ret, "background copy to %#llx in process %u",
			      (unsigned long long)page_dst(fl, k, i, ps), fl->p->id);
		}
		if (atomic_load(&st->want)) {
			pthread_mutex_unlock(&st->mu);
			while (atomic_load(&st->want))
				sched_yield();
			pthread_mutex_lock(&st->mu);
		}
	}
}

static void *filler_main(void *arg)
{
	struct lazy_state *st = arg;
	struct flight *fl = &st->fl;

	pthread_mutex_lock(&st->mu);
	while (running(st)) {
		struct proc *p = pick(st);
		uint64_t bad = 0;
		int ret;

		if (!p) {
			check_end(st);
			pthread_cond_wait(&st->work_cv, &st->mu);
			continue;
		}
		flight_load(st, p);
		pthread_mutex_unlock(&st->mu);
		/* Unlocked: the pieces stay as they are, only done/urgent change under mu. */
		ret = read_source(st, fl->remote, fl->n, fl->buf, fl->pages * st->ps, &bad);
		if (!ret && st->cfg.after_read)
			st->cfg.after_read(st->cfg.hook_arg, p->id, fl->v, fl->n);
		pthread_mutex_lock(&st->mu);
		if (ret) {
			source_failed(st, ret, bad);
			fl->p = NULL;
			break;
		}
		flight_copy(st);
		fl->p = NULL;
		check_end(st);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* --- API --- */

static void state_free(struct lazy_state *st)
{
	for (size_t i = 0; i < st->nprocs; i++) {
		struct proc *p = st->procs[i];

		if (p->own_fd && !p->fd_closed)
			close(p->uffd);
		lazy_set_free(&p->set);
		free(p);
	}
	free(st->procs);
	st->procs = NULL;
	st->nprocs = 0;
	free(st->fl.v);
	free(st->fl.first);
	free(st->fl.done);
	free(st->fl.urgent);
	free(st->fl.remote);
	free(st->fl.buf);
	free(st->page);
	free(st->def);
	memset(&st->fl, 0, sizeof(st->fl));
	st->page = NULL;
	st->def = NULL;
	if (st->evfd >= 0)
		close(st->evfd);
	st->evfd = -1;
}

static void state_destroy(struct lazy_state *st)
{
	state_free(st);
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->err_mu);
	pthread_cond_destroy(&st->work_cv);
	pthread_cond_destroy(&st->event_cv);
	pthread_cond_destroy(&st->end_cv);
	free(st->lat);
	free(st);
}

int lazy_start(struct lazy *lz, const struct lazy_cfg *cfg)
{
	struct lazy_state *st;
	pthread_condattr_t ca;
	struct proc *p;
	int fl, ret = -ENOMEM;

	atomic_init(&lz->failed, false);
	lz->st = NULL;
	if (cfg->uffd < 0 || cfg->source <= 0)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->lz = lz;
	st->cfg = *cfg;
	st->cfg.pages = NULL;
	st->ps = sysconf(_SC_PAGESIZE);
	st->max_lat = cfg->max_lat ? cfg->max_lat : LAT_DEFAULT;
	st->evfd = -1;
	atomic_init(&st->want, 0);
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->err_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->work_cv, &ca);
	pthread_cond_init(&st->event_cv, &ca);
	pthread_cond_init(&st->end_cv, &ca);
	pthread_condattr_destroy(&ca);

	st->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	st->page = aligned_alloc(st->ps, st->ps);
	st->fl.buf = aligned_alloc(st->ps, CHUNK_MAX);
	st->fl.v = calloc(MAX_PIECES, sizeof(*st->fl.v));
	st->fl.first = calloc(MAX_PIECES, sizeof(*st->fl.first));
	st->fl.remote = calloc(MAX_PIECES, sizeof(*st->fl.remote));
	st->fl.done = calloc(CHUNK_MAX / st->ps, 1);
	st->fl.urgent = calloc(CHUNK_MAX / st->ps, sizeof(*st->fl.urgent));
	if (st->evfd < 0 || !st->page || !st->fl.buf || !st->fl.v || !st->fl.first ||
	    !st->fl.remote || !st->fl.done || !st->fl.urgent)
		goto fail;
	/* poll() on a userfaultfd without O_NONBLOCK reports only POLLERR. */
	fl = fcntl(cfg->uffd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(cfg->uffd, F_SETFL, fl | O_NONBLOCK))) {
		ret = -errno;
		goto fail;
	}
	p = proc_new(st, cfg->uffd, false);
	if (!p)
		goto fail;
	p->probe = 1ULL << 30;
	for (size_t i = 0; cfg->pages && i < cfg->pages->n; i++) {
		uint64_t dst = cfg->pages->v[i].start * st->ps, len = cfg->pages->v[i].len * st->ps;

		if (!i)
			p->probe = dst;
		ret = lazy_set_add(&p->set, dst, dst + cfg->src_delta, len);
		if (ret)
			goto fail;
	}
	st->stats.lazy = p->set.bytes / st->ps;
	lz->st = st;
	if (pthread_create(&st->reader, NULL, reader_main, st)) {
		ret = -EAGAIN;
		goto fail;
	}
	st->have_reader = true;
	if (!cfg->faults_only) {
		if (pthread_create(&st->filler, NULL, filler_main, st)) {
			lazy_stop(lz);
			lazy_free(lz);
			return -EAGAIN;
		}
		st->have_filler = true;
	}
	return 0;
fail:
	lz->st = NULL;
	state_destroy(st);
	return ret;
}

int lazy_wait(struct lazy *lz, int timeout_ms, uint64_t *done_ns)
{
	struct lazy_state *st = lz->st;
	struct timespec ts;
	int ret;

	if (!st)
		return -EINVAL;
	if (timeout_ms >= 0)
		ts = deadline(timeout_ms * 1000000ULL);
	pthread_mutex_lock(&st->mu);
	while (st->end == LAZY_RUNNING && !failed(st) && !st->stop) {
		if (timeout_ms < 0)
			pthread_cond_wait(&st->end_cv, &st->mu);
		else if (pthread_cond_timedwait(&st->end_cv, &st->mu, &ts) == ETIMEDOUT)
			break;
	}
	if (st->end != LAZY_RUNNING) {
		ret = st->end;
		if (done_ns)
			*done_ns = st->end_ns;
	} else if (failed(st)) {
		pthread_mutex_lock(&st->err_mu);
		ret = -st->err;
		pthread_mutex_unlock(&st->err_mu);
	} else {
		ret = st->stop ? LAZY_STOPPED : -ETIMEDOUT;
	}
	pthread_mutex_unlock(&st->mu);
	return ret;
}

int lazy_stop(struct lazy *lz)
{
	struct lazy_state *st = lz->st;
	uint64_t one = 1;
	int ret;

	if (!st)
		return -EINVAL;
	if (!st->stopped) {
		pthread_mutex_lock(&st->mu);
		st->stop = true;
		pthread_cond_broadcast(&st->work_cv);
		pthread_cond_broadcast(&st->event_cv);
		pthread_cond_broadcast(&st->end_cv);
		pthread_mutex_unlock(&st->mu);
		if (write(st->evfd, &one, sizeof(one)) < 0) {
			/* Cannot fail on a fresh eventfd; the reader's poll times out anyway. */
		}
		if (st->have_reader)
			pthread_join(st->reader, NULL);
		if (st->have_filler)
			pthread_join(st->filler, NULL);
		st->stopped = true;
		state_free(st);
	}
	pthread_mutex_lock(&st->err_mu);
	ret = -st->err;
	pthread_mutex_unlock(&st->err_mu);
	if (!ret)
		ret = st->end != LAZY_RUNNING ? (int)st->end :
		      st->stats.dest_exited ? LAZY_DEST_EXITED : LAZY_STOPPED;
	return ret;
}

void lazy_free(struct lazy *lz)
{
	if (!lz->st)
		return;
	lazy_stop(lz);
	state_destroy(lz->st);
	lz->st = NULL;
}

void lazy_get_stats(struct lazy *lz, struct lazy_stats *out)
{
	struct lazy_state *st = lz->st;

	if (!st) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&st->mu);
	*out = st->stats;
	out->nlat = st->nlat;
	pthread_mutex_unlock(&st->mu);
}

int lazy_error(struct lazy *lz, char *what, size_t len)
{
	struct lazy_state *st = lz->st;
	int err;

	if (!st) {
		if (len)
			*what = '\0';
		return 0;
	}
	pthread_mutex_lock(&st->err_mu);
	err = st->err;
	if (len)
		snprintf(what, len, "%s", st->what);
	pthread_mutex_unlock(&st->err_mu);
	return err;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t lazy_latency_percentile(struct lazy *lz, int pct)
{
	struct lazy_state *st = lz->st;
	uint64_t v = 0;

	if (!st)
		return 0;
	pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
	pthread_mutex_lock(&st->mu);
	if (st->nlat) {
		qsort(st->lat, st->nlat, sizeof(*st->lat), cmp_u64);
		v = st->lat[(st->nlat - 1) * pct / 100];
	}
	pthread_mutex_unlock(&st->mu);
	return v;
}
