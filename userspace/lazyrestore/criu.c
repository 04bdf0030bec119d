// SPDX-License-Identifier: GPL-2.0
/*
 * The yardstick: the same workload layout migrated by CRIU itself,
 * pre-dump then dump + lazy-pages + restore --lazy-pages, measured and
 * checked the way migrate() checks lazyrestore's own strategies. The
 * workload checks its own pages (selfcheck.c); it runs as the init of a
 * PID namespace of its own, so that its restored copy can have the same
 * PIDs while the frozen original still holds them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "criu.h"
#include "layout.h"
#include "selfcheck.h"
#include "task.h"
#include "vmacompare.h"

#define CRIU_TIMEOUT_MS	300000

struct criu_run {
	const struct config *cfg;
	struct result *res;
	struct layout l;
	bool page_server;
	char dir[256];		/* pre/, dump/, logs, ready and verdict files */
	int port;
	pid_t holder;		/* the workload's parent, outside its PID namespace */
	pid_t workload;		/* as seen from here */
	pid_t dump, lazy;	/* criu processes that serve while the restore runs */
	pid_t restored;
	bool keep;		/* something failed: the logs stay for a look */
};

static int criu_fail(struct criu_run *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	result_failv(c->res, fmt, ap);
	va_end(ap);
	c->keep = true;
	return -1;
}

/*
 * The first "Error" line criu logged: the cause; later ones are its
 * fallout. Helpers it probes with (modprobe for sock_diag) log "exited,
 * status=1" as errors even when criu goes on fine: those are no cause.
 */
static void first_error(const char *log, char *buf, size_t len)
{
	char *line = NULL;
	size_t n = 0;
	FILE *f = fopen(log, "re");

	snprintf(buf, len, "it logged no error (exit status only)");
	if (!f)
		return;
	while (getline(&line, &n, f) > 0)
		if (strstr(line, "Error (") && !strstr(line, "): exited, status=")) {
			line[strcspn(line, "\n")] = 0;
			snprintf(buf, len, "%s", strstr(line, "Error ("));
			break;
		}
	free(line);
	fclose(f);
}

static const char *step_error(struct criu_run *c, const char *step, char *why, size_t len)
{
	char log[320];

	snprintf(log, sizeof(log), "%s/%s.log", c->dir, step);
	first_error(log, why, len);
	return why;
}

static int criu_failed(struct criu_run *c, const char *step)
{
	char why[160];

	return criu_fail(c, "criu %s failed: %s (logs in %s)", step,
		     step_error(c, step, why, sizeof(why)), c->dir);
}

/*
 * Start "criu STEP ARGS... -o DIR/STEP.log -v4", its output in DIR/STEP.out;
 * with @status_wr >= 0 criu gets it as --status-fd and writes a byte
 * there once it serves.
 */
static pid_t criu_spawn(struct criu_run *c, const char *step, const char *const *args,
			int status_wr)
{
	const char *argv[32];
	char log[320], out[320], fdnum[16];
	int n = 0;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/%s.log", c->dir, step);
	snprintf(out, sizeof(out), "%s/%s.out", c->dir, step);
	snprintf(fdnum, sizeof(fdnum), "%d", status_wr);
	argv[n++] = "criu";
	argv[n++] = step;
	while (*args && n < 24)
		argv[n++] = *args++;
	argv[n++] = "-o";
	argv[n++] = log;
	argv[n++] = "-v4";
	if (status_wr >= 0) {
		argv[n++] = "--status-fd";
		argv[n++] = fdnum;
	}
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		if (status_wr >= 0 && fcntl(status_wr, F_SETFD, 0))
			_exit(127);
		execvp("criu", (char *const *)argv);
		_exit(127);
	}
	if (pid < 0)
		criu_fail(c, "fork: %s", strerror(errno));
	return pid;
}

/* Wait for @pid to exit within @timeout_ms; its status, or -1 on timeout. */
static int wait_exit(pid_t pid, int timeout_ms)
{
	int fd = syscall(SYS_pidfd_open, pid, 0), status;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (fd >= 0) {
		int r = poll(&p, 1, timeout_ms);

		close(fd);
		if (r == 0)
			return -1;
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* One criu step to its end: its exit status; -1 when it could not start, -2 on timeout. */
static int run_criu(struct criu_run *c, const char *step, const char *const *args)
{
	pid_t pid = criu_spawn(c, step, args, -1);
	int status;

	if (pid < 0)
		return -1;
	status = wait_exit(pid, CRIU_TIMEOUT_MS);
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -2;
	}
	return status;
}

static int run_step(struct criu_run *c, const char *step, const char *const *args)
{
	int status = run_criu(c, step, args);

	if (status == -2)
		return criu_fail(c, "criu %s did not finish in %d s (logs in %s)", step,
			     CRIU_TIMEOUT_MS / 1000, c->dir);
	return status <= 0 ? status : criu_failed(c, step);
}

/* Start a criu that serves (dump with a page server, lazy-pages) and wait until it does. */
static pid_t start_server(struct criu_run *c, const char *step, const char *const *args)
{
	int p[2], r;
	char ok;
	pid_t pid;
	struct pollfd pf;

	if (pipe2(p, O_CLOEXEC))
		return criu_fail(c, "pipe: %s", strerror(errno));
	pid = criu_spawn(c, step, args, p[1]);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	pf = (struct pollfd){ .fd = p[0], .events = POLLIN };
	r = poll(&pf, 1, CRIU_TIMEOUT_MS);
	r = r == 1 ? read(p[0], &ok, 1) : -1;
	close(p[0]);
	if (r == 1)
		return pid;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	criu_failed(c, step);
	return -1;
}

/* criu binds to 127.0.0.1: lo must be up (it is down in a fresh guest or netns). */
static int loopback_up(struct criu_run *c)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (sk < 0)
		return criu_fail(c, "socket: %s", strerror(errno));
	if (ioctl(sk, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(sk, SIOCSIFFLAGS, &ifr))
			ret = criu_fail(c, "bringing lo up for the page server: %s", strerror(errno));
	}
	close(sk);
	return ret;
}

/*
 * holder: unshare(CLONE_NEWPID), fork the workload as that namespace's
 * init, detached from our terminal and files (criu refuses to dump fds
 * that lead outside the tree), then wait for it.
 */
static int start_workload(struct criu_run *c)
{
	char size[32], hot[32], steps[32], seed[32], ready[300], verdict[300];
	uint64_t hot_pages = task_hot_pages(&c->l, c->cfg->hot_permille, c->cfg->hot_bytes);
	int p[2], status;

	snprintf(size, sizeof(size), "%llu", (unsigned long long)(c->cfg->region_bytes >> 20));
	snprintf(hot, sizeof(hot), "%llu", (unsigned long long)hot_pages);
	snprintf(steps, sizeof(steps), "%llu",
		 (unsigned long long)config_post_steps(c->cfg, hot_pages));
	snprintf(seed, sizeof(seed), "%u", c->cfg->seed);
	snprintf(ready, sizeof(ready), "%s/ready", c->dir);
	snprintf(verdict, sizeof(verdict), "%s/verdict", c->dir);
	if (pipe2(p, O_CLOEXEC))
		return criu_fail(c, "pipe: %s", strerror(errno));
	c->holder = fork();
	if (c->holder < 0)
		return criu_fail(c, "fork: %s", strerror(errno));
	if (c->holder == 0) {
		pid_t w;

		close(p[0]);
		if (unshare(CLONE_NEWPID)) {
			fprintf(stderr, "lazyrestore: criu: unshare(CLONE_NEWPID): %s\n", strerror(errno));
			_exit(1);
		}
		w = fork();
		if (w == 0) {
			int null = open("/dev/null", O_RDWR);

			/*
			 * A writable cwd: criu's parasite mounts a proc of the
			 * task's PID namespace on a directory it makes there.
			 */
			if (null < 0 || setsid() < 0 || chdir(c->dir) || dup2(null, 0) < 0 ||
			    dup2(null, 1) < 0 || dup2(null, 2) < 0)
				_exit(1);
			if (null > 2)
				close(null);
			execl("/proc/self/exe", "lazyrestore", "workload", "--size", size,
			      "--hot-pages", hot, "--steps", steps, "--seed", seed, "--ready", ready,
			      "--verdict", verdict, c->cfg->numa ? "--numa" : NULL, (char *)NULL);
			_exit(127);
		}
		if (w < 0 || write(p[1], &w, sizeof(w)) != sizeof(w))
			_exit(1);
		close(p[1]);
		_exit(waitpid(w, &status, 0) == w && WIFEXITED(status) ? WEXITSTATUS(status) : 1);
	}
	close(p[1]);
	if (read(p[0], &c->workload, sizeof(c->workload)) != sizeof(c->workload)) {
		close(p[0]);
		return criu_fail(c, "the workload did not start (no PID namespace?)");
	}
	close(p[0]);
	for (int i = 0; i < 6000; i++) {
		if (access(ready, F_OK) == 0)
			return 0;
		if (waitpid(c->holder, &status, WNOHANG) == c->holder) {
			c->holder = 0;
			return criu_fail(c, "the workload died before it was ready");
		}
		usleep(10000);
	}
	return criu_fail(c, "the workload did not get ready in 60 s");
}

/* Sum of the numbers after @key on the lines of @path that hold it. */
static unsigned long long log_count(const char *path, const char *key, bool sum_values)
{
	unsigned long long total = 0;
	char *line = NULL, *at;
	size_t n = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while (getline(&line, &n, f) > 0)
		if ((at = strstr(line, key)))
			total += sum_values ? strtoull(at + strlen(key), NULL, 10) : 1;
	free(line);
	fclose(f);
	return total;
}

static bool criu_installed(void)
{
	const char *path = getenv("PATH");
	char exe[512];

	for (const char *p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		snprintf(exe, sizeof(exe), "%.*s/criu", (int)n, p);
		if (access(exe, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

static int migrate_with_criu(struct criu_run *c)
{
	char pid_s[16], pre[300], dump[300], pidfile[300], port[16], path[320];
	struct vma_info *sv = NULL, *dv = NULL;
	struct task_verdict v;
	int *src_nodes = NULL;
	char why[160];
	struct err e;
	size_t nsv = 0, ndv = 0;
	double t0, t_freeze, t_restore, t_restored, t_lazy_done;
	FILE *f;
	int r;

	snprintf(pre, sizeof(pre), "%s/pre", c->dir);
	snprintf(dump, sizeof(dump), "%s/dump", c->dir);
	snprintf(pidfile, sizeof(pidfile), "%s/restored.pid", c->dir);
	snprintf(port, sizeof(port), "%d", c->port);
	if (mkdir(pre, 0700) || mkdir(dump, 0700))
		return criu_fail(c, "mkdir in %s: %s", c->dir, strerror(errno));
	/* criu's own feature detection binds to 127.0.0.1, too */
	if (loopback_up(c))
		return -1;
	if (run_criu(c, "check", (const char *[]){ NULL })) {
		/* A machine criu cannot run on: say why, keep no logs behind. */
		criu_fail(c, "criu check failed: %s", step_error(c, "check", why, sizeof(why)));
		c->res->unavailable = true;
		c->keep = false;
		return -1;
	}
	if (start_workload(c))
		return -1;
	snprintf(pid_s, sizeof(pid_s), "%d", (int)c->workload);

	t0 = now_ms();
	if (run_step(c, "pre-dump", (const char *[]){ "-t", pid_s, "-D", pre, "--track-mem", NULL }))
		return -1;
	c->res->precopy_ms = now_ms() - t0;
	usleep(200 * 1000);	/* the workload goes on dirtying its hot pages */

	vma_side_of(c->workload, &c->l, &c->res->src, &sv, &nsv);
	/* The dump takes the source away: where its pages sit is asked now. */
	if (c->cfg->numa && !(src_nodes = vma_nodes(c->workload, &c->l, c->res->pages, &e))) {
		r = criu_fail(c, "--numa: %s", e.msg);
		goto out;
	}
	c->res->thp_hg_src_kb = vma_thp_in(sv, nsv, c->l.vma[LAYOUT_HG].start,
					   c->l.vma[LAYOUT_HG].end);
	t_freeze = now_ms();
	if (c->page_server) {
		c->dump = start_server(c, "dump", (const char *[]){ "-t", pid_s, "-D", dump,
			"--prev-images-dir", "../pre", "--track-mem", "--lazy-pages",
			"--address", "127.0.0.1", "--port", port, NULL });
		r = c->dump > 0 ? 0 : -1;
		if (!r)
			c->lazy = start_server(c, "lazy-pages", (const char *[]){ "-D", dump,
				"--page-server", "--address", "127.0.0.1", "--port", port, NULL });
	} else {
		r = run_step(c, "dump", (const char *[]){ "-t", pid_s, "-D", dump,
			     "--prev-images-dir", "../pre", "--track-mem", NULL });
		if (!r)
			c->lazy = start_server(c, "lazy-pages", (const char *[]){ "-D", dump, NULL });
	}
	if (r || c->lazy <= 0)
		goto out;

	t_restore = now_ms();
	r = run_step(c, "restore", (const char *[]){ "-D", dump, "--lazy-pages", "-d",
		     "--pidfile", pidfile, NULL });
	t_restored = now_ms();
	/* criu restore fills what is not lazy: its "fill" */
	c->res->fill_ms = t_restored - t_restore;
	if (r)
		goto out;
	c->res->downtime_ms = t_restored - t_freeze;
	f = fopen(pidfile, "re");
	r = f && fscanf(f, "%d", &c->restored) == 1 ? 0 : criu_fail(c, "no PID in %s", pidfile);
	if (f)
		fclose(f);
	if (r)
		goto out;
	/* Resumed at once: the task's post-copy actions meet criu's lazy-pages daemon. */
	if (kill(c->restored, SIGUSR1)) {
		r = errno == ESRCH ?
		    criu_fail(c, "the restored workload (pid %d) is gone", (int)c->restored) :
		    criu_fail(c, "signalling the restored workload (pid %d): %s",
			      (int)c->restored, strerror(errno));
		goto out;
	}

	/* Lazy phase: the daemon exits once every page is in. */
	if (wait_exit(c->lazy, CRIU_TIMEOUT_MS) != 0) {
		r = criu_failed(c, "lazy-pages");
		goto out;
	}
	c->lazy = 0;
	t_lazy_done = now_ms();
	c->res->lazy_ms = t_lazy_done - t_restored;
	if (c->dump > 0) {
		if (wait_exit(c->dump, 60000) != 0) {
			r = criu_failed(c, "dump");
			goto out;
		}
		c->dump = 0;
	}
	/* The verdict comes once the task has checked every page; then its VMAs are read. */
	snprintf(path, sizeof(path), "%s/verdict", c->dir);
	for (r = -1; r && kill(c->restored, 0) == 0 && now_ms() - t_lazy_done < CRIU_TIMEOUT_MS;
	     usleep(20000))
		r = selfcheck_read_verdict(path, &v);
	if (r) {
		r = criu_fail(c, "the restored workload died before its self-check (%s)", path);
		goto out;
	}
	if (v.error) {
		r = criu_fail(c, "the restored workload's post-copy actions failed: %s",
			  strerror((int)-v.error));
		goto out;
	}
	c->res->corrupted = v.wrong + v.child_wrong;
	c->res->zero_filled = v.zero + v.child_zero;
	c->res->task_checked = v.checked + v.child_checked;
	c->res->task_steps = v.steps;
	c->res->total_ms = now_ms() - t0;
	vma_side_of(c->restored, &c->l, &c->res->dst, &dv, &ndv);
	vma_compare(c->res, sv, nsv, dv, ndv);
	c->res->thp_hg_lazy_kb = vma_thp_in(dv, ndv, c->l.vma[LAYOUT_HG].start,
					    c->l.vma[LAYOUT_HG].end);
	if (src_nodes) {
		int *dst_nodes = vma_nodes(c->restored, &c->l, c->res->pages, &e);

		if (!dst_nodes) {
			r = criu_fail(c, "--numa: %s", e.msg);
			goto out;
		}
		vma_nodes_differ(c->res, &c->l, src_nodes, dst_nodes);
		free(dst_nodes);
	}
	vma_watch_thp(c->res, c->restored, c->l.vma[LAYOUT_HG].start, c->l.vma[LAYOUT_HG].end,
		      c->res->thp_hg_src_kb, t_lazy_done, c->cfg->thp_watch_ms);

	snprintf(path, sizeof(path), "%s/lazy-pages.log", c->dir);
	c->res->faults = log_count(path, "#PF at", false);
	snprintf(path, sizeof(path), "%s/restore.log", c->dir);
	c->res->lazy = log_count(path, "nr_lazy:", true);
	/* criu's lazy-pages daemon sends every lazy page once: what the restore logged */
	c->res->postcopy_pages = c->res->lazy;
	snprintf(path, sizeof(path), "%s/pre-dump.log", c->dir);
	c->res->precopied = log_count(path, "Pagemap generated: ", true);
out:
	free(src_nodes);
	free(sv);
	free(dv);
	return r;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void reap(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

void criu_migrate(const struct config *cfg, const struct strategy *st, struct result *res)
{
	struct criu_run c = { .cfg = cfg, .res = res, .page_server = !strcmp(st->criu, "page-server"),
			      .port = 27000 + getpid() % 1000 };
	int was_subreaper = 0;

	result_start(cfg, st, res, &c.l);
	if (!criu_installed()) {
		res->unavailable = true;
		snprintf(res->error, sizeof(res->error), "criu not found in PATH (Debian package criu)");
		return;
	}
	/* Its own directory: logs of an earlier failed run stay where they were said to be. */
	snprintf(c.dir, sizeof(c.dir), "%s/criu-%s.XXXXXX", cfg->image_dir, st->criu);
	if (mkdir(cfg->image_dir, 0700) && errno != EEXIST) {
		criu_fail(&c, "mkdir %s: %s", cfg->image_dir, strerror(errno));
		return;
	}
	if (!mkdtemp(c.dir)) {
		criu_fail(&c, "mkdtemp %s: %s", c.dir, strerror(errno));
		return;
	}
	/* The restored tree is criu's child; once criu is gone, ours to reap. */
	prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	migrate_with_criu(&c);
	reap(&c.restored);
	reap(&c.lazy);
	reap(&c.dump);
	if (c.workload > 0)
		kill(c.workload, SIGKILL);
	reap(&c.holder);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	prctl(PR_SET_CHILD_SUBREAPER, was_subreaper);
	if (!c.keep) {
		nftw(c.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		rmdir(cfg->image_dir);
	}
}
