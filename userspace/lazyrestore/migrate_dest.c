// SPDX-License-Identifier: GPL-2.0
/*
 * The destination side of a migration: the destination process started
 * (before the freeze with --early-fill), its userfaultfd taken over, the
 * task resumed there and its lazy pages served until it has checked every
 * page and the last lazy page is in.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "dest.h"
#include "lazy.h"
#include "migrate_run.h"
#include "proto.h"

static int dest_start(struct run_state *s)
{
	struct dest_args da = {
		.image_dir = s->cfg->image_dir, .st = s->res->st,
		.wait_khugepaged = s->cfg->wait_khugepaged, .early = s->cfg->early_fill,
		.running_bytes = s->cfg->running_bytes,
		.plan = { .steps = config_post_steps(s->cfg, s->hot_pages),
			  .actions = true },
	};
	int sv_pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv_pair))
		return run_fail(s, "socketpair: %s", strerror(errno));
	s->dest = fork();
	if (s->dest < 0)
		return run_fail(s, "fork: %s", strerror(errno));
	if (s->dest == 0) {
		close(sv_pair[0]);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
			_exit(1);
		if (s->source_mem >= 0)
			close(s->source_mem);
		da.sock = sv_pair[1];
		_exit(dest_run(&da));
	}
	close(sv_pair[1]);
	s->sock = sv_pair[0];
	return 0;
}

/*
 * No @waiting_for from the destination: its own reason when it sent one,
 * how it ended when it died, or what went wrong on the socket.
 */
static int dest_failed(struct run_state *s, const char *waiting_for, const struct err *e)
{
	char buf[64];
	int status;

	if (e->code == ECONNABORTED)
		return run_fail(s, "the destination gave up: %s", e->msg);
	if (e->code == EPIPE && waitpid(s->dest, &status, 0) == s->dest) {
		s->dest = 0;
		return run_fail(s, "the destination died (%s) before sending %s",
				exit_text(status, buf, sizeof(buf)), waiting_for);
	}
	return run_fail(s, "no %s from the destination: %s", waiting_for, e->msg);
}

/* --early-fill, before the freeze: the destination fills while the source runs. */
int dest_early_fill(struct run_state *s)
{
	uint64_t fill_ns;
	struct err e;

	if (dest_start(s))
		return -1;
	if (proto_recv(s->sock, PROTO_FILLED, &fill_ns, sizeof(fill_ns), 600000, NULL, &e))
		return dest_failed(s, "the end of the fill", &e);
	s->res->fill_ms = fill_ns / 1e6;
	return 0;
}

static void take_handler_stats(struct run_state *s, struct lazy *lz)
{
	struct lazy_stats st;

	lazy_get_stats(lz, &st);
	s->res->faults = st.faults;
	s->res->background = st.bg_copied;
	s->res->zero_pages = st.zero_pages;
	s->res->copied_twice = st.eexist;
	s->res->dropped = st.dropped;
	s->res->inherited = st.inherited;
	s->res->abandoned = st.abandoned;
	s->res->postcopy_pages = st.fault_copied + st.bg_copied;
	s->res->ev_fork = st.ev_fork;
	s->res->ev_remap = st.ev_remap;
	s->res->ev_remove = st.ev_remove;
	s->res->ev_unmap = st.ev_unmap;
	s->res->fault_p50_us = lazy_latency_percentile(lz, 50) / 1e3;
	s->res->fault_p99_us = lazy_latency_percentile(lz, 99) / 1e3;
}

/* The post-copy phase ended early: the handler's error first, the destination's end next. */
static int postcopy_failed(struct run_state *s, struct lazy *lz, const struct err *e)
{
	char what[160], buf[64];
	int status;

	if (lazy_error(lz, what, sizeof(what))) {
		kill(s->dest, SIGKILL);
		return run_fail(s, "the lazy-pages handler failed: %s; destination stopped", what);
	}
	if (e->code == ECONNABORTED)
		return run_fail(s, "the destination gave up in the post-copy phase: %s", e->msg);
	if (e->code == EPIPE && waitpid(s->dest, &status, 0) == s->dest) {
		s->dest = 0;
		return run_fail(s, "the destination died in the post-copy phase (%s); the handler "
				"ended cleanly", exit_text(status, buf, sizeof(buf)));
	}
	return run_fail(s, "no verdict from the resumed task: %s", e->msg);
}

static void take_report(struct run_state *s, const struct dest_report *rep)
{
	if (!s->cfg->early_fill)
		s->res->fill_ms = rep->fill_ns / 1e6;
	s->res->running_kb = rep->running.touched_kb;
	s->res->running_thp_kb = rep->running.thp_kb;
	s->res->move_pmds = rep->move_pmds;
	s->res->move_pages = rep->move_pages;
	s->res->move_copied = rep->move_copied;
}

static void take_verdict(struct run_state *s)
{
	s->res->corrupted = s->verdict.wrong + s->verdict.child_wrong;
	s->res->zero_filled = s->verdict.zero + s->verdict.child_zero;
	s->res->task_checked = s->verdict.checked;
	s->res->child_checked = s->verdict.child_checked;
	s->res->task_steps = s->verdict.steps;
	s->res->discarded = s->verdict.discarded;
}

/*
 * --inject kill-dest-lazy: the destination dies at its first served
 * fault, so it is in post-copy for certain and cannot have checked every
 * page yet. A timer after "go" raced a small lazy set served in full.
 */
static void kill_dest_at_fault(void *arg, unsigned int proc, uint64_t src, uint64_t len,
			       bool fault)
{
	struct run_state *s = arg;

	(void)src;
	(void)len;
	if (fault && proc == 0 && s->dest > 0)
		kill(s->dest, SIGKILL);
}

/*
 * The restore, then post-copy: the destination's userfaultfd to the
 * handler, "go", and the task's verdict once it has checked every page
 * while the handler served it. @t_lazy_done: when the last lazy page was in.
 */
int dest_restore_and_serve(struct run_state *s, double t_freeze, double *t_lazy_done)
{
	struct lazy_cfg lc = { .pages = &s->dirty };
	struct dest_report rep;
	struct lazy lz;
	struct err e;
	double t_go;
	uint64_t done_ns = 0;
	int uffd, ret = 0;

	if (!s->cfg->early_fill && dest_start(s))
		return -1;
	if (s->cfg->early_fill && proto_send(s->sock, PROTO_LAZY_ROUND, NULL, 0, &e))
		return dest_failed(s, "a word on the freeze's round", &e);
	uffd = proto_recv_fd(s->sock, PROTO_UFFD, &rep, sizeof(rep), 300000, &e);
	if (uffd < 0)
		return dest_failed(s, "its userfaultfd", &e);
	take_report(s, &rep);
	lc.uffd = uffd;
	lc.source = s->source;
	if (s->cfg->inject == INJECT_KILL_DEST_LAZY) {
		lc.faults_only = true;
		lc.copied = kill_dest_at_fault;
		lc.hook_arg = s;
	}
	if (s->cfg->inject == INJECT_KILL_SOURCE_LAZY) {
		kill(s->source, SIGKILL);
		waitpid(s->source, NULL, 0);
		s->source = 0;
	}
	ret = lazy_start(&lz, &lc);
	if (ret) {
		close(uffd);
		return run_fail(s, "starting the lazy-pages handler: %s", strerror(-ret));
	}
	t_go = now_ms();
	if (proto_send(s->sock, PROTO_GO, NULL, 0, &e))
		ret = run_fail(s, "resuming the destination: %s", e.msg);
	s->res->downtime_ms = t_go - t_freeze;
	/* The task's verdict, once it has checked every page; the handler watched meanwhile. */
	if (!ret && proto_recv(s->sock, PROTO_VERDICT, &s->verdict, sizeof(s->verdict), 600000,
			       &lz.failed, &e))
		ret = postcopy_failed(s, &lz, &e);
	if (!ret && lazy_wait(&lz, 60000, &done_ns) < 0)
		ret = run_fail(s, "the lazy pages were not all in 60 s after the task's closing check");
	*t_lazy_done = done_ns ? done_ns / 1e6 : now_ms();
	if (lazy_stop(&lz) && !ret) {
		char what[160];

		if (lazy_error(&lz, what, sizeof(what)))
			ret = run_fail(s, "lazy-pages handler: %s", what);
	}
	s->res->lazy_ms = *t_lazy_done - t_go;
	take_handler_stats(s, &lz);
	lazy_free(&lz);
	close(uffd);
	if (ret)
		return ret;
	if (s->verdict.error)
		return run_fail(s, "the resumed task's post-copy actions failed: %s",
				strerror((int)-s->verdict.error));
	take_verdict(s);
	return 0;
}

/* True when @pid ended within @ms. */
static bool reaped_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/*
 * Bye to the destination; one that does not end within 10 s (a task
 * blocked on a fault nobody serves any more) is killed.
 */
void dest_stop(struct run_state *s)
{
	struct err e;

	if (s->sock >= 0) {
		if (!proto_send(s->sock, PROTO_BYE, NULL, 0, &e) && s->dest > 0 &&
		    reaped_within(s->dest, 10000))
			s->dest = 0;
		close(s->sock);
		s->sock = -1;
	}
	if (s->dest > 0) {
		kill(s->dest, SIGKILL);
		waitpid(s->dest, NULL, 0);
		s->dest = 0;
	}
}
