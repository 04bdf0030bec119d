// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fatal_signal.h"

static const int fatal[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT,
			     SIGFPE, SIGILL };
#define NFATAL (sizeof(fatal) / sizeof(fatal[0]))

struct hook {
	void (*fn)(void *);
	void *arg;
	pid_t pid;
};

/*
 * The one global: a signal handler has no other way to reach its work.
 * Written only with the fatal signals blocked in the writing thread, so
 * no handler interrupts a change half done in its own thread; a handler
 * in another thread reads it as a seqlock (@seq odd while it changes).
 */
static struct {
	struct hook hook[FATAL_SIGNAL_HOOKS];
	int n;
	unsigned int seq;
	pid_t installed;	/* the process whose handler is installed */
	pid_t running;		/* the thread running the hooks, 0 if none */
} fs;

static void fatal_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < NFATAL; i++)
		sigaddset(set, fatal[i]);
}

/* A consistent copy of the table, even while another thread changes it. */
static int snapshot(struct hook *h)
{
	unsigned int s1, s2;
	int n;

	do {
		s1 = __atomic_load_n(&fs.seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		n = __atomic_load_n(&fs.n, __ATOMIC_RELAXED);
		for (int i = 0; i < n && i < FATAL_SIGNAL_HOOKS; i++) {
			h[i].fn = __atomic_load_n(&fs.hook[i].fn, __ATOMIC_RELAXED);
			h[i].arg = __atomic_load_n(&fs.hook[i].arg, __ATOMIC_RELAXED);
			h[i].pid = __atomic_load_n(&fs.hook[i].pid, __ATOMIC_RELAXED);
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&fs.seq, __ATOMIC_RELAXED);
	} while ((s1 & 1) || s1 != s2);
	return n;
}

static void on_fatal(int sig)
{
	pid_t self = getpid(), tid = syscall(SYS_gettid), none = 0;
	struct hook h[FATAL_SIGNAL_HOOKS];
	sigset_t set;

	/*
	 * A second thread hit by a fatal signal while the first runs the hooks
	 * waits for the first to end the process: the hooks run once, whole.
	 */
	if (__atomic_compare_exchange_n(&fs.running, &none, tid, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		for (int i = snapshot(h) - 1; i >= 0; i--)
			if (h[i].pid == self)
				h[i].fn(h[i].arg);
	} else if (none != tid) {
		for (;;)
			pause();
	}
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	/* Not reached: the default action of each of them ends the process. */
	_exit(128 + sig);
}

static int install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	/* The other fatal signals wait: the hooks are never interrupted halfway by another. */
	fatal_set(&sa.sa_mask);
	for (size_t i = 0; i < NFATAL; i++)
		if (sigaction(fatal[i], &sa, NULL))
			return -errno;
	fs.installed = getpid();
	return 0;
}

static void write_begin(sigset_t *old)
{
	sigset_t set;

	fatal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, old);
	__atomic_store_n(&fs.seq, fs.seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(const sigset_t *old)
{
	__atomic_store_n(&fs.seq, fs.seq + 1, __ATOMIC_RELEASE);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void put(int i, void (*fn)(void *), void *arg, pid_t pid)
{
	__atomic_store_n(&fs.hook[i].fn, fn, __ATOMIC_RELAXED);
	__atomic_store_n(&fs.hook[i].arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&fs.hook[i].pid, pid, __ATOMIC_RELAXED);
}

int fatal_signal_on(void (*hook)(void *), void *arg)
{
	pid_t self = getpid();
	sigset_t old;
	int ret = 0, n;

	write_begin(&old);
	/* A forked child keeps the table, not the parent's hooks: they are not its to run. */
	n = 0;
	for (int i = 0; i < fs.n; i++)
		if (fs.hook[i].pid == self)
			put(n++, fs.hook[i].fn, fs.hook[i].arg, fs.hook[i].pid);
	__atomic_store_n(&fs.n, n, __ATOMIC_RELAXED);
	if (fs.installed != self)
		ret = install();
	if (!ret && fs.n == FATAL_SIGNAL_HOOKS)
		ret = -ENOSPC;
	if (!ret) {
		put(fs.n, hook, arg, self);
		__atomic_store_n(&fs.n, fs.n + 1, __ATOMIC_RELAXED);
	}
	write_end(&old);
	return ret;
}

void fatal_signal_off(void (*hook)(void *), void *arg)
{
	pid_t self = getpid();
	sigset_t old;
	int i;

	write_begin(&old);
	for (i = fs.n - 1; i >= 0; i--)
		if (fs.hook[i].fn == hook && fs.hook[i].arg == arg && fs.hook[i].pid == self)
			break;
	if (i >= 0) {
		for (; i + 1 < fs.n; i++)
			put(i, fs.hook[i + 1].fn, fs.hook[i + 1].arg, fs.hook[i + 1].pid);
		__atomic_store_n(&fs.n, fs.n - 1, __ATOMIC_RELAXED);
	}
	write_end(&old);
}
