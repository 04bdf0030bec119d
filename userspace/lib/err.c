// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static int ret_of(int code)
{
	return code > 0 ? -code : -1;
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->file[0] = '\0';
	e->offset = 0;
	e->code = code;
	return ret_of(code);
}

int err_sys(struct err *e, const char *fmt, ...)
{
	int code = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(code));
	e->file[0] = '\0';
	e->offset = 0;
	e->code = code;
	return ret_of(code);
}

int err_at(struct err *e, const char *file, uint64_t offset, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	snprintf(e->file, sizeof(e->file), "%s", file);
	e->offset = offset;
	e->code = code;
	return ret_of(code);
}

int err_wrap(struct err *e, const char *fmt, ...)
{
	char old[sizeof(e->msg)];
	va_list ap;
	int n;

	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - n, ": %.*s", (int)(sizeof(e->msg) - n), old);
	return ret_of(e->code);
}

const char *err_str(const struct err *e, char *buf, unsigned long len)
{
	if (e->file[0])
		snprintf(buf, len, "%s at %llu: %s", e->file, (unsigned long long)e->offset, e->msg);
	else
		snprintf(buf, len, "%s", e->msg);
	return buf;
}

int err_usage(const char *prefix, const char *hint, const char *fmt, ...)
{
	va_list ap;

	fputs(prefix, stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (%s)\n", hint);
	return 2;
}
