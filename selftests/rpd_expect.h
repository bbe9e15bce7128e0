/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Assertions on a finished rpdctl run, for tests built on
 * kselftest_harness.h (include it first).
 */
#ifndef RPD_EXPECT_H
#define RPD_EXPECT_H

#include <stdarg.h>
#include <stdio.h>

#include "rpd_test.h"

/* The run failed with @status: stdout empty, stderr exactly the one line
 * "rpdctl: MSG".
 */
static inline void __attribute__((format(printf, 4, 5)))
expect_error(struct __test_metadata *_metadata, const struct rpdt_out *o,
	     int status, const char *fmt, ...)
{
	char want[1200];
	va_list ap;
	int n;

	n = snprintf(want, sizeof(want), "rpdctl: ");
	va_start(ap, fmt);
	n += vsnprintf(want + n, sizeof(want) - n, fmt, ap);
	va_end(ap);
	snprintf(want + n, sizeof(want) - n, "\n");
	EXPECT_EQ(status, o->status) TH_LOG("stderr: %s", o->err);
	EXPECT_STREQ(want, o->err);
	EXPECT_STREQ("", o->out);
}

#endif /* RPD_EXPECT_H */
