/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers shared by the example programs (rpd-httpd, rpd-get). Header-only
 * because every userspace/examples/NAME.c is linked as a program of its own.
 */
#ifndef RPD_EX_UTIL_H
#define RPD_EX_UTIL_H

#include <err.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Each program's usage text, to @f. */
static void usage(FILE *f);

/* A usage error: the message, the usage text, exit 2. */
static inline void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	usage(stderr);
	exit(2);
}

/* @s as a decimal integer in [@min, @max]; false if it is anything else. */
static inline bool ex_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	/* strtol() would take leading blanks and a sign */
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static inline long long ex_now_ns(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts))
		err(1, "clock_gettime");
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif /* RPD_EX_UTIL_H */
