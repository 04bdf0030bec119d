// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "knobs.h"

/*
 * Everything from here to knobs_where_env() runs in the signal hook too:
 * raw syscalls, stack buffers, numbers formatted by hand.
 */

static const char *const names[KNOBS_MAX] = {
	"scan_sleep_millisecs", "alloc_sleep_millisecs", "pages_to_scan", "max_ptes_none",
};
static const char *const aggressive[KNOBS_MAX] = { "0", "0", "65536", "511" };

#define VALUE_LEN 24		/* a decimal u64 and its NUL */
#define SAVED_LEN 4096		/* the saved file, KNOBS_HOLDERS holders included */

struct holder {
	pid_t pid;
	unsigned long long start;
};

/* knobs.saved, parsed. */
struct saved {
	char val[KNOBS_MAX][VALUE_LEN];
	struct holder h[KNOBS_HOLDERS];
	int nh;
};

/* The first thing that failed, for the caller outside the hook to word. */
struct fail {
	int code;		/* errno */
	const char *path;
	const char *value;	/* what we tried to write to @path, or NULL */
	int line;		/* a malformed knobs.saved: the line, else 0 */
	bool nan;		/* @path did not read as a number */
};

static int failed(struct fail *f, int code, const char *path, const char *value)
{
	if (!f->code) {
		f->code = code;
		f->path = path;
		f->value = value;
	}
	return -code;
}

/* Up to @len - 1 bytes of @path, NUL-terminated: the length or -errno. */
static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -errno;
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += n;
	}
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[got] = '\0';
	return got;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= n;
	}
	return 0;
}

static int write_value(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = write_all(fd, value, strlen(value));
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

static bool is_number(const char *s, size_t len)
{
	if (!len || len >= VALUE_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* A decimal at *s, advancing it; false when there is none or it overflows. */
static bool take_u64(const char **s, unsigned long long *v)
{
	const char *p = *s;

	*v = 0;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (*v > (~0ULL - (*p - '0')) / 10)
			return false;
		*v = *v * 10 + (*p - '0');
	}
	*s = p;
	return true;
}

/* @v in decimal at @p: returns the end. */
static char *put_u64(char *p, unsigned long long v)
{
	char tmp[VALUE_LEN];
	int n = 0;

	do
		tmp[n++] = '0' + v % 10;
	while (v /= 10);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/*
 * Field 22 of /proc/PID/stat and whether the process is still running (a
 * zombie is not: it will never give the knobs back). -ESRCH when gone.
 */
static int proc_start(pid_t pid, unsigned long long *start, bool *running)
{
	char path[40] = "/proc/", buf[1024];
	const char *p;
	unsigned long long v;
	int n, field;

	*put_u64(path + 6, pid) = '\0';
	memcpy(path + strlen(path), "/stat", 6);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : n;
	/* The command name may hold anything, ')' too: the fields start after the last one. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -EINVAL;
	p += 2;
	*running = *p != 'Z' && *p != 'X' && *p != 'x';
	for (field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EINVAL;
		p++;
	}
	if (!take_u64(&p, &v))
		return -EINVAL;
	*start = v;
	return 0;
}

static bool holder_alive(const struct holder *h)
{
	unsigned long long start;
	bool running;

	return !proc_start(h->pid, &start, &running) && running && start == h->start;
}

/* knobs.saved into @s: 0, -ENOENT when there is none, -EINVAL with f->line. */
static int saved_read(const struct knobs *kn, struct saved *s, struct fail *f)
{
	char buf[SAVED_LEN];
	const char *p, *eol;
	bool have[KNOBS_MAX] = { false };
	int n, line = 0;

	memset(s, 0, sizeof(*s));
	n = read_small(kn->saved, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? n : failed(f, -n, kn->saved, NULL);
	for (p = buf; *p; p = eol + 1) {
		unsigned long long pid, start;
		int k;

		line++;
		eol = strchr(p, '\n');
		if (!eol)
			goto bad;
		if (*p == '#')
			continue;
		if (!strncmp(p, "holder ", 7)) {
			p += 7;
			if (s->nh == KNOBS_HOLDERS || !take_u64(&p, &pid) || *p++ != ' ' ||
			    !take_u64(&p, &start) || p != eol || !pid || pid > 0x7fffffff)
				goto bad;
			s->h[s->nh].pid = pid;
			s->h[s->nh++].start = start;
			continue;
		}
		for (k = 0; k < KNOBS_MAX; k++) {
			size_t len = strlen(names[k]);

			if (!strncmp(p, names[k], len) && p[len] == ' ')
				break;
		}
		if (k == KNOBS_MAX || have[k])
			goto bad;
		p += strlen(names[k]) + 1;
		if (!is_number(p, eol - p))
			goto bad;
		memcpy(s->val[k], p, eol - p);
		s->val[k][eol - p] = '\0';
		have[k] = true;
	}
	for (int k = 0; k < KNOBS_MAX; k++)
		if (!have[k])
			goto bad;
	return 0;
bad:
	f->line = line;
	return failed(f, EINVAL, kn->saved, NULL);
}

/* @s to knobs.saved, atomically: a temporary file, fsync()ed, renamed over it. */
static int saved_write(const struct knobs *kn, const struct saved *s, struct fail *f)
{
	char buf[SAVED_LEN], *p = buf;
	int fd, ret;

	p = put_str(p, "# khugepaged knobs lazyrestore changed: the values to put back when\n"
		       "# the last holder is gone (lazyrestore knobs --restore)\n");
	for (int k = 0; k < KNOBS_MAX; k++) {
		p = put_str(p, names[k]);
		*p++ = ' ';
		p = put_str(p, s->val[k]);
		*p++ = '\n';
	}
	for (int i = 0; i < s->nh; i++) {
		p = put_str(p, "holder ");
		p = put_u64(p, s->h[i].pid);
		*p++ = ' ';
		p = put_u64(p, s->h[i].start);
		*p++ = '\n';
	}
	fd = open(kn->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return failed(f, errno, kn->tmp, NULL);
	ret = write_all(fd, buf, p - buf);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(kn->tmp, kn->saved))
		return failed(f, errno, kn->saved, NULL);
	if (ret) {
		unlink(kn->tmp);
		return failed(f, -ret, kn->tmp, NULL);
	}
	return 0;
}

/* Drops the holders that are gone, into @dead (may be NULL). */
static void prune(struct saved *s, pid_t *dead, int *ndead)
{
	int n = 0;

	for (int i = 0; i < s->nh; i++) {
		if (holder_alive(&s->h[i]))
			s->h[n++] = s->h[i];
		else if (dead)
			dead[(*ndead)++] = s->h[i].pid;
	}
	s->nh = n;
}

/* The saved values back into knobs [0, @upto): all tried, the first failure kept. */
static int put_back(const struct knobs *kn, const struct saved *s, int upto, struct fail *f)
{
	int ret = 0, r;

	for (int k = 0; k < upto; k++) {
		r = write_value(kn->knob[k], s->val[k]);
		if (r && !ret)
			ret = failed(f, -r, kn->knob[k], s->val[k]);
	}
	return ret;
}

/*
 * The values back and the file gone; when a knob refuses, the file stays,
 * without holders, for the next run or knobs --restore to try again.
 */
static int put_back_all(const struct knobs *kn, struct saved *s, struct fail *f)
{
	int ret = put_back(kn, s, KNOBS_MAX, f);

	if (ret) {
		struct fail ignored = { 0 };

		s->nh = 0;
		saved_write(kn, s, &ignored);
		return ret;
	}
	if (unlink(kn->saved) && errno != ENOENT)
		return failed(f, errno, kn->saved, NULL);
	return 0;
}

static int lock(struct knobs *kn, struct fail *f)
{
	int fd = open(kn->lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return failed(f, errno, kn->lock, NULL);
	while (flock(fd, LOCK_EX)) {
		if (errno != EINTR) {
			failed(f, errno, kn->lock, NULL);
			close(fd);
			return -f->code;
		}
	}
	__atomic_store_n(&kn->lock_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	return fd;
}

static void unlock(struct knobs *kn, int fd)
{
	__atomic_store_n(&kn->lock_tid, 0, __ATOMIC_SEQ_CST);
	close(fd);
}

/* Our hold given up, under the lock: shared by knobs_release() and the hook. */
static int release_locked(struct knobs *kn, struct fail *f)
{
	struct saved s;
	int ret = saved_read(kn, &s, f);

	if (ret == -ENOENT)
		return 0;	/* removed by hand: nothing left to give back */
	if (ret)
		return ret;
	for (int i = 0; i < s.nh; i++) {
		if (s.h[i].pid == kn->pid && s.h[i].start == kn->start) {
			s.h[i] = s.h[--s.nh];
			break;
		}
	}
	prune(&s, NULL, NULL);
	return s.nh ? saved_write(kn, &s, f) : put_back_all(kn, &s, f);
}

void knobs_release_hook(void *arg)
{
	struct knobs *kn = arg;
	struct fail f = { 0 };
	int fd = -1;

	if (!__atomic_load_n(&kn->held, __ATOMIC_SEQ_CST) || getpid() != kn->pid)
		return;
	/*
	 * knobs_acquire() and knobs_release() block the fatal signals while
	 * they hold the lock; one that cannot be blocked (abort()) lands here
	 * with it held by this very thread: flock() on a new descriptor would
	 * wait for ever. The code it interrupted never resumes, and every
	 * change it makes on disk is whole (a rename), so going on without
	 * the lock is safe. Another thread holding it will let it go.
	 */
	if (__atomic_load_n(&kn->lock_tid, __ATOMIC_SEQ_CST) != (pid_t)syscall(SYS_gettid)) {
		fd = lock(kn, &f);
		if (fd < 0)
			return;
	}
	if (!release_locked(kn, &f))
		__atomic_store_n(&kn->held, 0, __ATOMIC_SEQ_CST);
	if (fd >= 0)
		unlock(kn, fd);
}

/* Signal-safe code ends here. */

void knobs_where_env(struct knobs_where *w)
{
	const char *sysfs = getenv("LAZYRESTORE_KNOBS_SYSFS");
	const char *state = getenv("LAZYRESTORE_STATE_DIR");

	w->sysfs = sysfs && *sysfs ? sysfs : KNOBS_SYSFS;
	w->state = state && *state ? state : KNOBS_STATE;
}

static int set_paths(struct knobs *kn, const struct knobs_where *w, struct err *e)
{
	struct knobs_where env;
	int n = 0;

	if (!w) {
		knobs_where_env(&env);
		w = &env;
	}
	memset(kn, 0, sizeof(*kn));
	for (int k = 0; k < KNOBS_MAX; k++)
		n |= snprintf(kn->knob[k], KNOBS_PATH, "%s/%s", w->sysfs, names[k]) >= KNOBS_PATH;
	n |= snprintf(kn->lock, KNOBS_PATH, "%s/knobs.lock", w->state) >= KNOBS_PATH;
	n |= snprintf(kn->saved, KNOBS_PATH, "%s/knobs.saved", w->state) >= KNOBS_PATH;
	n |= snprintf(kn->tmp, KNOBS_PATH, "%s/knobs.saved.tmp", w->state) >= KNOBS_PATH;
	if (n)
		return err_set(e, ENAMETOOLONG, "khugepaged knobs: %s or %s too long (%d bytes at "
			       "most a path)", w->sysfs, w->state, KNOBS_PATH - 1);
	return 0;
}

/* What failed, said so a person knows what to do. */
static int fail_err(const struct knobs *kn, const struct fail *f, struct err *e)
{
	const char *hint = "";

	if (f->line)
		return err_set(e, EINVAL, "%s line %d: not a file lazyrestore wrote; check the "
			       "khugepaged knobs in %.*s by hand, then remove it", f->path, f->line,
			       (int)(strrchr(kn->knob[0], '/') - kn->knob[0]), kn->knob[0]);
	if (f->code == EACCES || f->code == EPERM || f->code == EROFS)
		hint = " (needs root)";
	if (f->value)
		return err_set(e, f->code, "cannot set %s to %s: %s%s", f->path, f->value,
			       strerror(f->code), hint);
	return err_set(e, f->code, "%s: %s%s", f->path, strerror(f->code), hint);
}

/*
 * The signals a fatal_signal hook runs on wait while we hold the lock, so
 * that the hook never finds it held by its own thread; the ones a fault
 * raises cannot wait (the kernel would kill without a hook) and are the
 * hook's lock_tid case.
 */
static int begin(struct knobs *kn, sigset_t *old, struct fail *f)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &set, old);
	fd = lock(kn, f);
	if (fd < 0)
		pthread_sigmask(SIG_SETMASK, old, NULL);
	return fd;
}

static void end(struct knobs *kn, int fd, const sigset_t *old)
{
	unlock(kn, fd);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* The first holder: the current values saved, then the knobs set. */
static int first_hold(struct knobs *kn, struct saved *s, struct fail *f)
{
	char buf[VALUE_LEN + 2];
	int n, k, ret;

	for (k = 0; k < KNOBS_MAX; k++) {
		n = read_small(kn->knob[k], buf, sizeof(buf));
		if (n < 0)
			return failed(f, -n, kn->knob[k], NULL);
		if (n && buf[n - 1] == '\n')
			buf[--n] = '\0';
		if (!is_number(buf, n)) {
			f->nan = true;
			return failed(f, EINVAL, kn->knob[k], NULL);
		}
		memcpy(s->val[k], buf, n + 1);
	}
	s->nh = 1;
	s->h[0].pid = kn->pid;
	s->h[0].start = kn->start;
	ret = saved_write(kn, s, f);
	if (ret)
		return ret;
	for (k = 0; k < KNOBS_MAX; k++) {
		ret = write_value(kn->knob[k], aggressive[k]);
		if (ret)
			break;
	}
	if (!ret)
		return 0;
	failed(f, -ret, kn->knob[k], aggressive[k]);
	/* Undone: the ones set put back, the file gone (kept without holders if that fails). */
	if (put_back(kn, s, k, f)) {
		s->nh = 0;
		saved_write(kn, s, f);
	} else {
		unlink(kn->saved);
	}
	return ret;
}

int knobs_acquire(struct knobs *kn, const struct knobs_where *w, struct err *e)
{
	struct knobs_where env;
	struct fail f = { 0 };
	struct saved s;
	struct stat st;
	sigset_t old;
	bool running;
	int fd, ret;

	if (!w) {
		knobs_where_env(&env);
		w = &env;
	}
	ret = set_paths(kn, w, e);
	if (ret)
		return ret;
	if (stat(w->sysfs, &st))
		return err_set(e, errno, "cannot read %s: %s (kernel without THP?)", w->sysfs,
			       strerror(errno));
	kn->pid = getpid();
	ret = proc_start(kn->pid, &kn->start, &running);
	if (ret)
		return err_set(e, -ret, "/proc/%d/stat: %s (is /proc mounted?)", (int)kn->pid,
			       strerror(-ret));
	if (mkdir(w->state, 0700) && errno != EEXIST)
		return err_sys(e, "cannot create %s (needs root, or LAZYRESTORE_STATE_DIR set to "
			       "a directory of yours)", w->state);
	fd = begin(kn, &old, &f);
	if (fd < 0)
		return fail_err(kn, &f, e);
	ret = saved_read(kn, &s, &f);
	if (ret == -ENOENT) {
		memset(&s, 0, sizeof(s));
		ret = 0;
	} else if (!ret) {
		prune(&s, NULL, NULL);
		/* Every holder died (SIGKILL): their values back first. */
		if (!s.nh)
			ret = put_back_all(kn, &s, &f);
	}
	if (!ret && !s.nh) {
		ret = first_hold(kn, &s, &f);
	} else if (!ret && s.nh == KNOBS_HOLDERS) {
		ret = failed(&f, EBUSY, kn->saved, NULL);
	} else if (!ret) {
		/* The knobs are aggressive already; the saved values stay the originals. */
		s.h[s.nh].pid = kn->pid;
		s.h[s.nh++].start = kn->start;
		ret = saved_write(kn, &s, &f);
	}
	if (!ret)
		__atomic_store_n(&kn->held, 1, __ATOMIC_SEQ_CST);
	end(kn, fd, &old);
	if (ret == -EBUSY)
		return err_set(e, EBUSY, "%d runs hold the khugepaged knobs already (%s), %d at most",
			       KNOBS_HOLDERS, kn->saved, KNOBS_HOLDERS);
	if (ret && f.nan)
		return err_set(e, EINVAL, "%s: not a number (a kernel lazyrestore does not know?)",
			       f.path);
	if (ret && f.code == ENOENT && f.path != kn->saved && f.path != kn->tmp &&
	    f.path != kn->lock)
		return err_set(e, ENOENT, "cannot read %s: %s (kernel without THP?)", f.path,
			       strerror(ENOENT));
	return ret ? fail_err(kn, &f, e) : 0;
}

int knobs_release(struct knobs *kn, struct err *e)
{
	struct fail f = { 0 };
	sigset_t old;
	int fd, ret;

	if (!kn->held)
		return 0;
	fd = begin(kn, &old, &f);
	if (fd < 0)
		return fail_err(kn, &f, e);
	ret = release_locked(kn, &f);
	/* Held no more either way: a knob that refused is left to knobs --restore. */
	__atomic_store_n(&kn->held, 0, __ATOMIC_SEQ_CST);
	end(kn, fd, &old);
	if (ret) {
		fail_err(kn, &f, e);
		return err_wrap(e, "khugepaged knobs not all put back (lazyrestore knobs --restore "
				"tries again)");
	}
	return 0;
}

int knobs_recover_report(const struct knobs_where *w, struct knobs_recovery *r, struct err *e)
{
	struct knobs kn;
	struct fail f = { 0 };
	struct saved s;
	sigset_t old;
	int fd, ret, nlive = 0;
	char pids[120] = "";
	size_t len = 0;

	memset(r, 0, sizeof(*r));
	ret = set_paths(&kn, w, e);
	if (ret)
		return ret;
	if (access(kn.saved, F_OK) && errno == ENOENT)
		return 0;	/* not even the directory: nothing saved, nothing to create */
	fd = begin(&kn, &old, &f);
	if (fd < 0)
		return fail_err(&kn, &f, e);
	ret = saved_read(&kn, &s, &f);
	if (ret == -ENOENT) {
		end(&kn, fd, &old);
		return 0;
	}
	if (!ret) {
		prune(&s, r->dead, &r->ndead);
		nlive = s.nh;
		if (!nlive) {
			ret = put_back_all(&kn, &s, &f);
			r->restored = !ret;
			r->knobs = ret ? 0 : KNOBS_MAX;
		}
	}
	end(&kn, fd, &old);
	if (ret)
		return fail_err(&kn, &f, e);
	if (!nlive)
		return 0;
	for (int i = 0; i < s.nh && len < sizeof(pids) - 12; i++)
		len += snprintf(pids + len, sizeof(pids) - len, "%s%d", i ? " " : "", s.h[i].pid);
	return err_set(e, EBUSY, "%s %s (lazyrestore run%s) still hold%s the knobs; nothing "
		       "changed", nlive == 1 ? "pid" : "pids", pids, nlive == 1 ? "" : "s",
		       nlive == 1 ? "s" : "");
}

int knobs_recover(const struct knobs_where *w, bool *restored, struct err *e)
{
	struct knobs_recovery r;
	int ret = knobs_recover_report(w, &r, e);

	*restored = r.restored;
	return ret;
}

int knobs_status(const struct knobs_where *w, FILE *out, struct err *e)
{
	struct knobs kn;
	struct fail f = { 0 };
	struct saved s;
	char now[VALUE_LEN + 2];
	int ret, n;

	ret = set_paths(&kn, w, e);
	if (ret)
		return ret;
	ret = saved_read(&kn, &s, &f);
	if (ret && ret != -ENOENT)
		return fail_err(&kn, &f, e);
	fprintf(out, "khugepaged knobs in %.*s:\n",
		(int)(strrchr(kn.knob[0], '/') - kn.knob[0]), kn.knob[0]);
	for (int k = 0; k < KNOBS_MAX; k++) {
		n = read_small(kn.knob[k], now, sizeof(now));
		if (n > 0 && now[n - 1] == '\n')
			now[n - 1] = '\0';
		if (ret)
			fprintf(out, "  %-22s now %s\n", names[k], n < 0 ? "?" : now);
		else
			fprintf(out, "  %-22s now %-8s saved %s\n", names[k], n < 0 ? "?" : now,
				s.val[k]);
	}
	if (ret) {
		fprintf(out, "nothing saved in %s: no run holds the knobs\n", kn.saved);
		return 0;
	}
	fprintf(out, "saved in %s; holders:%s\n", kn.saved, s.nh ? "" : " none");
	for (int i = 0; i < s.nh; i++)
		fprintf(out, "  pid %d: %s\n", s.h[i].pid, holder_alive(&s.h[i]) ? "running" :
			"gone (lazyrestore knobs --restore puts the saved values back)");
	return 0;
}

unsigned long khugepaged_full_scans(void)
{
	char buf[32];

	return read_small(KNOBS_SYSFS "/full_scans", buf, sizeof(buf)) < 0 ? 0 :
		strtoul(buf, NULL, 10);
}

bool khugepaged_wait_scans(unsigned long n, int seconds)
{
	unsigned long target = khugepaged_full_scans() + n;

	for (int i = 0; i < seconds * 10; i++) {
		if (khugepaged_full_scans() >= target)
			return true;
		usleep(100 * 1000);
	}
	return false;
}
