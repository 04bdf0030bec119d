// SPDX-License-Identifier: GPL-2.0
/*
 * knobs.c on a fake khugepaged sysfs directory and state directory: the
 * originals saved before any knob changes, shared by overlapping holders,
 * put back by the last one, by the fatal signal hook, and by the next
 * run after a holder died.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fatal_signal.h"
#include "knobs.h"
#include "tap.h"

static const char *const knob_names[KNOBS_MAX] = {
	"scan_sleep_millisecs", "alloc_sleep_millisecs", "pages_to_scan", "max_ptes_none",
};
/* Not the kernel's defaults: what is put back must be what was there. */
static const char *const originals[KNOBS_MAX] = { "10007", "60007", "4093", "510" };
static const char *const aggressive[KNOBS_MAX] = { "0", "0", "65536", "511" };

struct fake {
	char dir[64];
	char sys[96], state[96];
	struct knobs_where w;
};

static void path_of(const struct fake *f, int k, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", f->sys, knob_names[k]);
}

static void set_knob(const struct fake *f, int k, const char *value)
{
	char path[160];
	FILE *fp;

	path_of(f, k, path, sizeof(path));
	fp = fopen(path, "w");
	if (fp) {
		fprintf(fp, "%s\n", value);
		fclose(fp);
	}
}

static void fake_make(struct fake *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_knobs.XXXXXX");
	if (!mkdtemp(f->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(f->sys, sizeof(f->sys), "%s/khugepaged", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	mkdir(f->sys, 0700);
	for (int k = 0; k < KNOBS_MAX; k++)
		set_knob(f, k, originals[k]);
	f->w.sysfs = f->sys;
	f->w.state = f->state;	/* made by knobs_acquire() */
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void fake_remove(struct fake *f)
{
	nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Knob @k's value, without its newline; "" if unreadable. */
static const char *knob(const struct fake *f, int k)
{
	static char buf[4][32];
	char path[160];
	FILE *fp;

	path_of(f, k, path, sizeof(path));
	buf[k][0] = '\0';
	fp = fopen(path, "r");
	if (fp) {
		if (!fgets(buf[k], sizeof(buf[k]), fp))
			buf[k][0] = '\0';
		fclose(fp);
	}
	buf[k][strcspn(buf[k], "\n")] = '\0';
	return buf[k];
}

static int knobs_are(const struct fake *f, const char *const *want)
{
	for (int k = 0; k < KNOBS_MAX; k++)
		if (strcmp(knob(f, k), want[k])) {
			printf("# %s is %s, want %s\n", knob_names[k], knob(f, k), want[k]);
			return 0;
		}
	return 1;
}

/* The saved file, whole, into @buf; false when there is none. */
static int saved(const struct fake *f, char *buf, size_t len)
{
	char path[160];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/knobs.saved", f->state);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return 1;
}

/* The saved file holds the originals, and holder @pid (0: any) is listed or not. */
static int saved_originals(const struct fake *f, pid_t pid, int listed)
{
	char buf[4096], line[64];

	if (!saved(f, buf, sizeof(buf)))
		return 0;
	for (int k = 0; k < KNOBS_MAX; k++) {
		snprintf(line, sizeof(line), "\n%s %s\n", knob_names[k], originals[k]);
		if (!strstr(buf, line)) {
			for (char *p = buf; (p = strchr(p, '\n')); )
				*p = '|';
			printf("# the saved file lacks '%s %s': %s\n", knob_names[k], originals[k], buf);
			return 0;
		}
	}
	snprintf(line, sizeof(line), "\nholder %d ", (int)pid);
	return !!strstr(buf, line) == listed;
}

static unsigned long long start_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	if (fgets(buf, sizeof(buf), fp) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
		       "%*s %*s %*s %llu", &start);
	fclose(fp);
	return start;
}

static void write_saved(const struct fake *f, pid_t pid, unsigned long long start)
{
	char path[160];
	FILE *fp;

	mkdir(f->state, 0700);
	snprintf(path, sizeof(path), "%s/knobs.saved", f->state);
	fp = fopen(path, "w");
	if (!fp)
		return;
	for (int k = 0; k < KNOBS_MAX; k++)
		fprintf(fp, "%s %s\n", knob_names[k], originals[k]);
	fprintf(fp, "holder %d %llu\n", (int)pid, start);
	fclose(fp);
}

/*
 * A holder in a child: acquires, says so on @ready, releases when @go says,
 * exits. Children end with exit(), not _exit(): libnuma's destructor frees
 * what valgrind would otherwise count as a leak in each of them.
 */
struct child {
	pid_t pid;
	int ready[2], go[2];
};

static void child_start(struct child *c, const struct fake *f, int release)
{
	char b = 0;

	if (pipe(c->ready) || pipe(c->go))
		exit(1);
	fflush(stdout);	/* or a child's exit under valgrind prints it again */
	c->pid = fork();
	if (c->pid == 0) {
		struct knobs kn;
		struct err e;

		b = knobs_acquire(&kn, &f->w, &e) ? 'E' : 'A';
		if (write(c->ready[1], &b, 1) != 1 || b == 'E')
			exit(1);
		if (read(c->go[0], &b, 1) != 1)
			exit(1);
		if (release && knobs_release(&kn, &e))
			exit(2);
		exit(0);	/* without release: a holder that died */
	}
	close(c->ready[1]);
	close(c->go[0]);
	if (read(c->ready[0], &b, 1) != 1 || b != 'A')
		printf("# the child holder could not acquire\n");
}

static int child_end(struct child *c)
{
	char b = 'g';
	int status = -1;

	if (write(c->go[1], &b, 1) != 1)
		printf("# the child holder is gone\n");
	waitpid(c->pid, &status, 0);
	close(c->ready[0]);
	close(c->go[1]);
	status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (status)
		printf("# the child holder ended with %d\n", status);
	return status;
}

/* The first holder saves the originals, then sets; its release puts them back. */
static void test_first_holder_saves_then_sets(struct tap *t)
{
	struct fake f;
	struct knobs kn;
	struct err e;

	fake_make(&f);
	CHECK(t, knobs_acquire(&kn, &f.w, &e) == 0);
	CHECK(t, knobs_are(&f, aggressive));
	CHECK(t, saved_originals(&f, getpid(), 1));
	CHECK(t, knobs_release(&kn, &e) == 0);
	CHECK(t, knobs_are(&f, originals));
	CHECK(t, !saved(&f, (char[8]){ 0 }, 8));
	fake_remove(&f);
}

/*
 * The concurrent-run finding: the second holder must not save the first
 * one's aggressive values as its originals, nor put anything back while
 * the first still runs; the last one out puts the originals back.
 */
static void test_second_holder_keeps_originals(struct tap *t)
{
	struct fake f;
	struct child c;
	struct knobs kn;
	struct err e;

	fake_make(&f);
	child_start(&c, &f, 1);
	CHECK(t, knobs_are(&f, aggressive));
	CHECK(t, knobs_acquire(&kn, &f.w, &e) == 0);
	CHECK(t, saved_originals(&f, getpid(), 1));
	CHECK(t, saved_originals(&f, c.pid, 1));
	CHECK(t, knobs_release(&kn, &e) == 0);
	CHECK(t, knobs_are(&f, aggressive));	/* the child still runs */
	CHECK(t, saved_originals(&f, getpid(), 0));
	CHECK(t, child_end(&c) == 0);		/* the last holder */
	CHECK(t, knobs_are(&f, originals));
	CHECK(t, !saved(&f, (char[8]){ 0 }, 8));
	fake_remove(&f);
}

/* A holder that died (kill -9): the next acquire puts its originals back first. */
static void test_dead_holder_recovered(struct tap *t)
{
	struct fake f;
	struct child c;
	struct knobs kn;
	struct err e;

	fake_make(&f);
	child_start(&c, &f, 0);
	CHECK(t, child_end(&c) == 0);		/* exited holding */
	CHECK(t, knobs_are(&f, aggressive));
	CHECK(t, saved_originals(&f, c.pid, 1));
	CHECK(t, knobs_acquire(&kn, &f.w, &e) == 0);
	/* Its originals back, then saved again as ours: not its aggressive values. */
	CHECK(t, saved_originals(&f, c.pid, 0));
	CHECK(t, saved_originals(&f, getpid(), 1));
	CHECK(t, knobs_release(&kn, &e) == 0);
	CHECK(t, knobs_are(&f, originals));
	CHECK(t, !saved(&f, (char[8]){ 0 }, 8));
	fake_remove(&f);
}

/* A zombie never gives the knobs back: dead, even before it is reaped. */
static void test_zombie_holder_is_dead(struct tap *t)
{
	struct fake f;
	bool restored = false;
	struct err e;
	pid_t pid;

	fake_make(&f);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		exit(0);
	/* A zombie once it exited: its state turns Z, waitid() says so without reaping. */
	waitid(P_PID, pid, &(siginfo_t){ 0 }, WEXITED | WNOWAIT);
	write_saved(&f, pid, start_of(pid));
	for (int k = 0; k < KNOBS_MAX; k++)
		set_knob(&f, k, aggressive[k]);
	CHECK(t, knobs_recover(&f.w, &restored, &e) == 0);
	CHECK(t, restored);
	CHECK(t, knobs_are(&f, originals));
	waitpid(pid, NULL, 0);
	fake_remove(&f);
}

/*
 * A recycled pid: a live process with the holder's pid but another start
 * time is not the holder. Ours, with its right start time, is alive:
 * knobs_recover() refuses.
 */
static void test_recycled_pid_is_dead(struct tap *t)
{
	struct fake f;
	bool restored = true;
	struct err e;
	char want[64];

	fake_make(&f);
	for (int k = 0; k < KNOBS_MAX; k++)
		set_knob(&f, k, aggressive[k]);
	write_saved(&f, getpid(), start_of(getpid()));
	CHECK(t, knobs_recover(&f.w, &restored, &e) == -EBUSY);
	snprintf(want, sizeof(want), "pid %d (lazyrestore run) still holds the knobs",
		 (int)getpid());
	CHECK(t, strstr(e.msg, want) != NULL);
	CHECK(t, !restored);
	CHECK(t, knobs_are(&f, aggressive));

	write_saved(&f, getpid(), start_of(getpid()) + 1);
	CHECK(t, knobs_recover(&f.w, &restored, &e) == 0);
	CHECK(t, restored);
	CHECK(t, knobs_are(&f, originals));
	CHECK(t, !saved(&f, (char[8]){ 0 }, 8));
	fake_remove(&f);
}

/* knobs --restore while a run holds the knobs: refused, nothing changed. */
static void test_recover_refuses_live_holder(struct tap *t)
{
	struct knobs_recovery r;
	struct fake f;
	struct child c;
	struct err e;
	char want[64];

	fake_make(&f);
	child_start(&c, &f, 1);
	CHECK(t, knobs_recover_report(&f.w, &r, &e) == -EBUSY);
	snprintf(want, sizeof(want), "pid %d (lazyrestore run) still holds the knobs", (int)c.pid);
	CHECK(t, strstr(e.msg, want) != NULL);
	CHECK(t, !r.restored);
	CHECK(t, knobs_are(&f, aggressive));
	CHECK(t, saved_originals(&f, c.pid, 1));
	CHECK(t, child_end(&c) == 0);
	CHECK(t, knobs_are(&f, originals));
	/* With nothing saved: nothing to do, and no error. */
	CHECK(t, knobs_recover_report(&f.w, &r, &e) == 0 && !r.restored);
	fake_remove(&f);
}

/* How a child died: the signal, or 0 when it exited. */
static int died_of(pid_t pid)
{
	int status = 0;

	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* A child that holds the knobs, its hook registered, then is killed by @how. */
static pid_t child_killed(const struct fake *f, int how)
{
	/* Mapped, so memcheck lets the write through to the fault it is. */
	void *ro_page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t pid;

	fflush(stdout);
	pid = fork();

	if (pid == 0) {
		struct knobs kn = { .held = 0 };
		struct err e;

		if (fatal_signal_on(knobs_release_hook, &kn) || knobs_acquire(&kn, &f->w, &e))
			exit(1);
		if (how == SIGSEGV)
			*(volatile int *)ro_page = 1;	/* a crash */
		else
			raise(how);
		exit(0);
	}
	munmap(ro_page, 4096);
	return pid;
}

/* The fatal signal hook puts the knobs back, and the signal still kills. */
static void test_signal_hook_restores(struct tap *t)
{
	struct fake f;

	fake_make(&f);
	CHECK(t, died_of(child_killed(&f, SIGTERM)) == SIGTERM);
	CHECK(t, knobs_are(&f, originals));
	CHECK(t, !saved(&f, (char[8]){ 0 }, 8));
	fake_remove(&f);
}

/* A crash: the thp_hole_repro --size overflow finding. */
static void test_crash_restores(struct tap *t)
{
	struct fake f;

	fake_make(&f);
	CHECK(t, died_of(child_killed(&f, SIGSEGV)) == SIGSEGV);
	CHECK(t, knobs_are(&f, originals));
	CHECK(t, !saved(&f, (char[8]){ 0 }, 8));
	fake_remove(&f);
}

static void replace_with_fifo(const struct fake *f, int k)
{
	char path[160];

	path_of(f, k, path, sizeof(path));
	unlink(path);
	if (mkfifo(path, 0600))
		perror("mkfifo");
}

/*
 * SIGTERM while the holder is inside knobs_release(), holding the lock:
 * its hook must not wait for a lock its own process holds. The first two
 * knobs are FIFOs: the parent's open of the first returns once the child
 * writes it under the lock, and the child then waits for the parent to
 * open the second, so the signal surely lands while the lock is held.
 */
static void test_signal_while_locked(struct tap *t)
{
	struct fake f;
	struct child c;
	char got[2][32] = { "", "" }, path[160];
	size_t len[2] = { 0, 0 };
	int fd[2], status = 0, done = 0;
	pid_t pid;

	fake_make(&f);
	c.pid = -1;
	if (pipe(c.ready) || pipe(c.go))
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct knobs kn = { .held = 0 };
		struct err e;
		char b = 'A';

		if (fatal_signal_on(knobs_release_hook, &kn) || knobs_acquire(&kn, &f.w, &e))
			b = 'E';
		if (write(c.ready[1], &b, 1) != 1 || read(c.go[0], &b, 1) != 1)
			exit(1);
		exit(knobs_release(&kn, &e) ? 2 : 0);	/* the SIGTERM ends it first */
	}
	close(c.ready[1]);
	close(c.go[0]);
	CHECK(t, read(c.ready[0], (char[1]){ 0 }, 1) == 1);
	CHECK(t, knobs_are(&f, aggressive));
	replace_with_fifo(&f, 0);
	replace_with_fifo(&f, 1);
	CHECK(t, write(c.go[1], "g", 1) == 1);
	path_of(&f, 0, path, sizeof(path));
	fd[0] = open(path, O_RDONLY);		/* returns once the child writes it */
	kill(pid, SIGTERM);
	path_of(&f, 1, path, sizeof(path));
	fd[1] = open(path, O_RDONLY | O_NONBLOCK);
	fcntl(fd[0], F_SETFL, O_NONBLOCK);
	/* Not a timing check: a deadlock never ends, this says so after 20 s. */
	for (int i = 0; i < 2000 && !done; i++) {
		for (int k = 0; k < 2; k++) {
			ssize_t n = read(fd[k], got[k] + len[k], sizeof(got[k]) - 1 - len[k]);

			if (n > 0)
				len[k] += n;
		}
		done = waitpid(pid, &status, WNOHANG) == pid;
		if (!done)
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	if (!done) {
		printf("# the child is stuck: its hook waits for its own lock\n");
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	CHECK(t, done);
	CHECK(t, WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	for (int k = 0; k < 2; k++) {
		got[k][len[k]] = '\0';
		CHECK(t, !strcmp(got[k], originals[k]));
		close(fd[k]);
	}
	CHECK(t, !strcmp(knob(&f, 2), originals[2]) && !strcmp(knob(&f, 3), originals[3]));
	CHECK(t, !saved(&f, (char[8]){ 0 }, 8));
	close(c.ready[0]);
	close(c.go[1]);
	fake_remove(&f);
}

/*
 * Saved before set: a knob that refuses (a read-only sysfs file as the
 * second) undoes the first and leaves no file; a save that fails changes
 * nothing.
 */
static void test_failed_set_undone(struct tap *t)
{
	static const char ro[] = "/sys/devices/system/cpu/kernel_max";
	char path[160], tmp[160], buf[32] = "";
	struct fake f;
	struct knobs kn;
	struct err e;
	FILE *fp;

	fake_make(&f);
	path_of(&f, 1, path, sizeof(path));
	unlink(path);
	fp = fopen(ro, "r");
	if (!fp || !fgets(buf, sizeof(buf), fp) || symlink(ro, path)) {
		printf("# SKIP %s unreadable\n", ro);
		if (fp)
			fclose(fp);
		fake_remove(&f);
		return;
	}
	fclose(fp);
	CHECK(t, knobs_acquire(&kn, &f.w, &e) < 0);
	CHECK(t, strstr(e.msg, "cannot set ") && strstr(e.msg, "/alloc_sleep_millisecs to 0: "));
	CHECK(t, !strcmp(knob(&f, 0), originals[0]));
	CHECK(t, !saved(&f, (char[8]){ 0 }, 8));
	CHECK(t, knobs_release(&kn, &e) == 0);	/* holds nothing */
	unlink(path);
	set_knob(&f, 1, originals[1]);

	snprintf(tmp, sizeof(tmp), "%s/knobs.saved.tmp", f.state);
	CHECK(t, mkdir(tmp, 0700) == 0);	/* f.state: made by the acquire above */
	CHECK(t, knobs_acquire(&kn, &f.w, &e) < 0);
	CHECK(t, strstr(e.msg, "knobs.saved.tmp") != NULL);
	CHECK(t, knobs_are(&f, originals));
	fake_remove(&f);
}

/* Errors say what to do. */
static void test_errors_name_the_file(struct tap *t)
{
	struct knobs_where w = { "/nonexistent/khugepaged", "/nonexistent/state" };
	struct knobs kn;
	struct err e;

	CHECK(t, knobs_acquire(&kn, &w, &e) == -ENOENT);
	CHECK(t, !strcmp(e.msg, "cannot read /nonexistent/khugepaged: No such file or directory "
			 "(kernel without THP?)"));
}

int main(void)
{
	struct tap t = { 0 };

	RUN(&t, test_first_holder_saves_then_sets);
	RUN(&t, test_second_holder_keeps_originals);
	RUN(&t, test_dead_holder_recovered);
	RUN(&t, test_zombie_holder_is_dead);
	RUN(&t, test_recycled_pid_is_dead);
	RUN(&t, test_recover_refuses_live_holder);
	RUN(&t, test_signal_hook_restores);
	RUN(&t, test_crash_restores);
	RUN(&t, test_signal_while_locked);
	RUN(&t, test_failed_set_undone);
	RUN(&t, test_errors_name_the_file);
	return tap_done(&t);
}
