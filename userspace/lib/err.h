/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one error idiom of userspace/: a function that can fail returns a
 * negative errno (-1 when none fits) and says why in a struct err its
 * caller passed; each caller up the stack may prefix its own context.
 * Nothing below main() prints an error.
 */
#ifndef LAZYRESTORE_ERR_H
#define LAZYRESTORE_ERR_H

#include <stdint.h>

struct err {
	char msg[256];
	char file[32];		/* the image file the error is in, "" if none */
	uint64_t offset;	/* where in @file */
	int code;		/* the errno behind it, 0 if none */
};

#define ERR_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* "fmt"; returns -@code, or -1 when @code is 0. */
int err_set(struct err *e, int code, const char *fmt, ...) ERR_PRINTF(3, 4);
/* "fmt: strerror(errno)"; returns -errno. */
int err_sys(struct err *e, const char *fmt, ...) ERR_PRINTF(2, 3);
/* An error in image file @file at @offset. */
int err_at(struct err *e, const char *file, uint64_t offset, int code,
	   const char *fmt, ...) ERR_PRINTF(5, 6);
/* Prefixes "fmt: " to the message; returns what err_set() returned. */
int err_wrap(struct err *e, const char *fmt, ...) ERR_PRINTF(2, 3);
/* The message with its file and offset, for printing: "2/pages.img at 4096: ...". */
const char *err_str(const struct err *e, char *buf, unsigned long len);

/*
 * A bad invocation, for main(): "@prefix<fmt> (@hint)" as one line on
 * stderr; returns 2, the exit status of bad usage.
 */
int err_usage(const char *prefix, const char *hint, const char *fmt, ...) ERR_PRINTF(3, 4);

#endif
