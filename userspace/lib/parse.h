/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAZYRESTORE_PARSE_H
#define LAZYRESTORE_PARSE_H

/*
 * A command-line number: decimal digits only, in [@min, @max], into *@out.
 * 0, or -EINVAL (*@out untouched). strtoull() alone takes "-1" (as
 * 2^64 - 1), " 5" and "+5", and stops silently at "5x".
 */
int parse_decimal(const char *s, unsigned long long min, unsigned long long max,
		  unsigned long long *out);

#endif
