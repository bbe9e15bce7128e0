/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A streaming JSON writer, just enough for rpdctl's documents: objects and
 * arrays nested up to JSON_MAX_DEPTH, strings, integers, doubles, booleans.
 */
#ifndef RPDCTL_JSON_H
#define RPDCTL_JSON_H

#include <stdbool.h>
#include <stdio.h>

#define JSON_MAX_DEPTH	8

struct json {
	FILE *f;
	bool pretty;
	int depth;
	bool empty[JSON_MAX_DEPTH];	/* nothing written yet in this container */
	bool after_key;
};

void json_init(struct json *j, FILE *f, bool pretty);
/* Ends the document with a newline and flushes it. */
int json_finish(struct json *j);

void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);

void json_string(struct json *j, const char *s);
void json_uint(struct json *j, unsigned long long v);
void json_double(struct json *j, double v);	/* non-finite is written as 0 */
void json_bool(struct json *j, bool v);
void json_null(struct json *j);

/* "key": value, inside an object */
void json_kstring(struct json *j, const char *key, const char *s);
void json_kuint(struct json *j, const char *key, unsigned long long v);
void json_kdouble(struct json *j, const char *key, double v);
void json_kbool(struct json *j, const char *key, bool v);

#endif /* RPDCTL_JSON_H */
