// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "dest.h"
#include "image.h"
#include "image_set.h"
#include "image_uring.h"
#include "knobs.h"
#include "numa_policy.h"
#include "proto.h"
#include "running.h"
#include "task.h"
#include "uffd.h"
#include "uffd_move.h"

/* What failed and the errno behind it; returns -@code. */
static int fail(struct err *e, const char *what, int code)
{
	return err_set(e, code, "%s: %s", what, strerror(code));
}

struct fill {
	const struct image *img;
	const struct runs *skip;	/* a later round's or lazy: not from this round */
	int uffd;			/* >= 0: fill through UFFDIO_COPY */
	struct uffd_mover *mv;		/* uffd-move: read into its staging copy, moved from there */
};

/* The pages of run @i to fill: all of it, or what is left when the lazy ones are taken out. */
static int kept_of(const struct fill *f, size_t i, struct runs *keep)
{
	const struct page_entry *e = &f->img->e[i];
	struct runs all = RUNS_INIT;
	int ret = runs_add(&all, e->start_page, e->nr_pages) ? -ENOMEM :
		  runs_subtract(&all, f->skip, keep);

	runs_free(&all);
	return ret;
}

/* Straight into the target memory when all of run @i is kept and no uffd is in the way. */
static void *fill_place(void *ctx, size_t i, void *bounce)
{
	const struct fill *f = ctx;
	const struct page_entry *e = &f->img->e[i];
	struct runs keep = RUNS_INIT;
	bool whole = f->uffd < 0 && kept_of(f, i, &keep) == 0 && keep.n == 1 &&
		     keep.v[0].len == e->nr_pages;

	runs_free(&keep);
	/* img_open() checked that a run lies in one VMA: its staging copy is one piece too. */
	if (f->mv)
		return uffd_mover_stage(f->mv, e->start_page * f->img->page_size);
	return whole ? (void *)(e->start_page * f->img->page_size) : bounce;
}

/* Run @i has landed in @data: if in a bounce buffer, its kept pages go in place. */
static int fill_land(void *ctx, size_t i, void *data)
{
	const struct fill *f = ctx;
	const struct page_entry *e = &f->img->e[i];
	uint64_t ps = f->img->page_size, base = e->start_page * ps;
	struct runs keep = RUNS_INIT;
	int ret;

	if (data == (void *)base)
		return 0;
	ret = kept_of(f, i, &keep);
	for (size_t k = 0; !ret && k < keep.n; k++) {
		uint64_t addr = keep.v[k].start * ps, len = keep.v[k].len * ps;
		const char *src = (const char *)data + (addr - base);

		if (f->mv)
			ret = uffd_mover_land(f->mv, addr, len);
		else if (f->uffd >= 0)
			ret = uffd_copy(f->uffd, addr, src, len, false);
		else
			memcpy((void *)addr, src, len);
	}
	runs_free(&keep);
	return ret;
}

/* Every run of the image in place: io_uring where the kernel has it, pread otherwise. */
static int fill_all(struct fill *f, struct err *err)
{
	const struct img_sink sink = { fill_place, fill_land, f };
	uint64_t max_entry = 0;
	char *bounce;
	int ret = img_read_uring(f->img, &sink, err);

	if (ret != -ENOSYS)
		return ret;
	for (size_t i = 0; i < f->img->n; i++)
		if (f->img->e[i].nr_pages > max_entry)
			max_entry = f->img->e[i].nr_pages;
	bounce = malloc(max_entry * f->img->page_size + 1);
	if (!bounce)
		return -ENOMEM;
	for (size_t i = 0; !ret && i < f->img->n; i++) {
		void *to = fill_place(f, i, bounce);

		ret = img_read_entry(f->img, i, to, err);
		if (!ret)
			ret = fill_land(f, i, to);
	}
	free(bounce);
	return ret;
}

/*
 * MADV_DONTNEED of registered memory sends UFFD_EVENT_REMOVE and waits
 * until it is read; before the handler has the userfaultfd, the
 * destination reads those itself, and drops them: nothing is to be sent
 * there yet.
 */
struct drain {
	int uffd;
	volatile bool stop;
};

static void *drain_events(void *arg)
{
	struct drain *d = arg;
	struct pollfd p = { .fd = d->uffd, .events = POLLIN };
	char msg[32];

	while (!d->stop)
		if (poll(&p, 1, 20) > 0 && read(d->uffd, msg, sizeof(msg)) < 0 && errno != EAGAIN)
			break;
	return NULL;
}

/*
 * Early fill: say the fill is done, wait for the freeze's round (the one
 * after @set's, filled already), and make its lazy pages missing again. A THP that holds one of them is split;
 * the holes are what userfaultfd serves.
 */
static int discard_lazy(const struct dest_args *a, const struct image_set *set,
			const uint64_t *fill_ns, int uffd, bool registered, struct err *e)
{
	struct drain d = { .uffd = uffd, .stop = false };
	char dir[512], label[IMG_LABEL_MAX];
	struct image img;
	uint64_t ps = getpagesize();
	pthread_t t;
	int ret = 0;

	if (proto_send(a->sock, PROTO_FILLED, fill_ns, sizeof(*fill_ns), e) ||
	    proto_recv(a->sock, PROTO_LAZY_ROUND, NULL, 0, -1, NULL, e))
		return -1;
	/* That round alone: the others were opened and checked, and this is the downtime. */
	snprintf(dir, sizeof(dir), "%s/%zu", a->image_dir, set->n + 1);
	snprintf(label, sizeof(label), "%zu/", set->n + 1);
	if (img_open_as(&img, dir, label, e))
		return -1;
	if (registered && pthread_create(&t, NULL, drain_events, &d)) {
		img_close(&img);
		return fail(e, "a thread for the remove events", EAGAIN);
	}
	for (size_t i = 0; !ret && i < img.lazy.n; i++)
		if (madvise((void *)(img.lazy.v[i].start * ps), img.lazy.v[i].len * ps,
			    MADV_DONTNEED))
			ret = fail(e, "MADV_DONTNEED of the lazy set", errno);
	if (registered) {
		d.stop = true;
		pthread_join(t, NULL);
	}
	img_close(&img);
	return ret;
}

/* The mover is told every page the image fills before the first one lands. */
static int expect_kept(struct fill *f, const struct image_set *set)
{
	uint64_t ps = set->round[0].img.page_size;
	int ret = 0;

	for (size_t r = 0; !ret && r < set->n; r++) {
		f->img = &set->round[r].img;
		f->skip = &set->round[r].skip;
		for (size_t i = 0; !ret && i < f->img->n; i++) {
			struct runs keep = RUNS_INIT;

			ret = kept_of(f, i, &keep);
			for (size_t k = 0; !ret && k < keep.n; k++)
				uffd_mover_expect(f->mv, keep.v[k].start * ps, keep.v[k].len * ps);
			runs_free(&keep);
		}
	}
	return ret;
}

/* Map, fill and register the image's VMAs with the strategy's advice. */
static int fill_and_register(const struct dest_args *a, const struct image_set *set, int uffd,
			     struct dest_report *rep, struct err *e)
{
	const struct strategy *st = a->st;
	uint64_t t0;
	struct fill f = { .uffd = st->register_first ? uffd : -1 };
	struct uffd_mover mv;
	int ret;

	for (size_t i = 0; i < set->nvmas; i++) {
		const struct vma_rec *v = &set->vmas[i];

		if (mmap((void *)v->start, v->end - v->start, v->prot, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_FIXED_NOREPLACE, -1, 0) != (void *)v->start)
			return fail(e, "mmap at the source's address", errno);
		/* Before the fill: pages are placed when they are first touched. */
		if (numa_apply(v))
			return fail(e, "mbind to the source's NUMA policy", errno);
		if (st->before_fill && st->before_fill(v))
			return fail(e, "madvise before the fill", errno);
		if (st->register_first && uffd_register_missing(uffd, v->start, v->end - v->start))
			return fail(e, "UFFDIO_REGISTER", errno);
	}
	t0 = now_ns();
	ret = 0;
	if (st->fill_move) {
		ret = uffd_mover_init(&mv, uffd, set->vmas, set->nvmas);
		if (ret)
			return fail(e, "staging memory for UFFDIO_MOVE", -ret);
		f.mv = &mv;
		ret = expect_kept(&f, set);
		if (!ret)
			ret = uffd_mover_advise(&mv);
	}
	/* Round by round, each leaving what a later one holds: every page once, its newest. */
	for (size_t r = 0; !ret && r < set->n; r++) {
		f.img = &set->round[r].img;
		f.skip = &set->round[r].skip;
		ret = fill_all(&f, e);	/* its errors name the round: "2/pages.img" */
	}
	if (f.mv) {
		rep->move_pmds = mv.stats.pmd_moves;
		rep->move_pages = mv.stats.pages_moved;
		rep->move_copied = mv.stats.pages_copied;
		uffd_mover_free(&mv);
	}
	if (ret && e->file[0])
		return ret;
	if (ret)
		return fail(e, f.mv ? "filling from the image by UFFDIO_MOVE" : "filling from the image", -ret);
	rep->fill_ns = now_ns() - t0;
	if (a->early && discard_lazy(a, set, &rep->fill_ns, uffd, st->register_first, e))
		return -1;
	/* Give khugepaged two full scans of the partially filled memory. */
	if (a->wait_khugepaged)
		khugepaged_wait_scans(2, 30);
	for (size_t i = 0; i < set->nvmas; i++) {
		const struct vma_rec *v = &set->vmas[i];

		if (!st->register_first && uffd_register_missing(uffd, v->start, v->end - v->start))
			return fail(e, "UFFDIO_REGISTER", errno);
		if (st->after_register && st->after_register(v))
			return fail(e, "madvise after registration", errno);
	}
	return 0;
}

/*
 * The restore window: from the strategy's process setup to its teardown.
 * A running region, when asked for, is faulted in throughout it and
 * measured before the window closes.
 */
static int restore(const struct dest_args *a, const struct image_set *set, int uffd,
		   struct dest_report *rep, struct err *e)
{
	const struct strategy *st = a->st;
	struct running_region rr = { .map = NULL };
	int ret = 0, err;

	if (a->running_bytes && (err = running_region_map(&rr, a->running_bytes)))
		ret = fail(e, "mapping the running region", -err);
	if (!ret && st->process_before && st->process_before())
		ret = fail(e, "strategy setup", errno);
	if (!ret && a->running_bytes && (err = running_region_start(&rr)))
		ret = fail(e, "starting the running region's thread", -err);
	if (!ret)
		ret = fill_and_register(a, set, uffd, rep, e);
	if (!ret && a->running_bytes && (err = running_region_finish(&rr, &rep->running)))
		ret = fail(e, "reading the running region's THP from smaps", -err);
	if (!ret && st->process_after && st->process_after())
		ret = fail(e, "strategy teardown", errno);
	running_region_unmap(&rr);
	return ret;
}

/* Why the destination gives up, told to the orchestrator, which reports it. */
static int give_up(const struct dest_args *a, const struct err *e)
{
	char msg[PROTO_MAX_LEN];
	struct err ignored;
	int n;

	if (e->file[0])
		n = snprintf(msg, sizeof(msg), "refusing the image: %s/%s at offset %llu: %s",
			     a->image_dir, e->file, (unsigned long long)e->offset, e->msg);
	else
		n = snprintf(msg, sizeof(msg), "%s", e->msg);
	/* The orchestrator may be gone already: then nobody is left to tell. */
	proto_send(a->sock, PROTO_ERROR, msg, n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1,
		   &ignored);
	return 1;
}

int dest_run(const struct dest_args *a)
{
	struct image_set set;
	struct err e = { .code = 0 };
	struct dest_report rep = { .fill_ns = 0 };
	struct task_verdict v;
	int uffd, rc;

	if (img_set_open(&set, a->image_dir, &e))
		return give_up(a, &e);
	uffd = uffd_open_events(&e);
	if (uffd < 0) {
		img_set_close(&set);
		return give_up(a, &e);
	}
	rc = restore(a, &set, uffd, &rep, &e);
	if (!rc)
		rc = proto_send_fd(a->sock, PROTO_UFFD, uffd, &rep, sizeof(rep), &e);
	close(uffd);
	if (!rc)
		rc = proto_recv(a->sock, PROTO_GO, NULL, 0, -1, NULL, &e);
	/* Resumed: the task goes on where the source stopped; lazy pages fault as it meets them. */
	if (!rc) {
		task_resume(task_of_vma(set.vmas), &a->plan, &v);
		rc = proto_send(a->sock, PROTO_VERDICT, &v, sizeof(v), &e);
	}
	/* Bye: the orchestrator has read what it needed of this process (smaps). */
	if (!rc)
		rc = proto_recv(a->sock, PROTO_BYE, NULL, 0, -1, NULL, &e);
	img_set_close(&set);
	return rc ? give_up(a, &e) : 0;
}
