/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Cleanup that must happen even when the process is killed by a signal it
 * can catch: hooks run, newest first, from one handler for SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT, SIGFPE and SIGILL; then the
 * signal is re-raised with its default action, so the exit status still
 * says which signal it was. SIGKILL cannot be caught: what must survive it
 * is on disk (see knobs.h).
 *
 * A hook runs in a signal handler: async-signal-safe calls only (no stdio,
 * no malloc, no strerror, no locks the interrupted code may hold). It runs
 * only in the process that registered it: a forked child inherits the
 * handler, not the duty.
 */
#ifndef LAZYRESTORE_FATAL_SIGNAL_H
#define LAZYRESTORE_FATAL_SIGNAL_H

#define FATAL_SIGNAL_HOOKS 8

/* Registers @hook(@arg): 0, -ENOSPC beyond FATAL_SIGNAL_HOOKS, or -errno of sigaction(). */
int fatal_signal_on(void (*hook)(void *), void *arg);
/* Removes the newest registration of @hook(@arg); no-op when there is none. */
void fatal_signal_off(void (*hook)(void *), void *arg);

#endif
