/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A strict JSON reader for the selftests: rpdctl's -j output is parsed
 * whole into a tree and read by path, so a test fails on any malformed
 * document instead of finding a substring in it.
 *
 *	struct json_value *doc = json_parse(o.out, strlen(o.out), err, sizeof(err));
 *	json_num(doc, "slots[2].dispatched");
 *	json_str(doc, "balance.jain");		// NULL: not a string
 *	json_free(doc);
 *
 * Path: keys joined by '.', array elements by [N]; "" is the document.
 */
#ifndef RPDT_JSON_H
#define RPDT_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value {
	enum json_type type;
	bool boolean;
	double number;
	char *string;			/* NUL-terminated, UTF-8 */
	size_t len;			/* of string, or elements/members */
	char **keys;			/* of an object's members */
	struct json_value **items;	/* elements, or members' values */
};

/* The document in @text[0..len), or NULL with the reason and its offset
 * in @err. Rejects anything RFC 8259 does not allow, duplicate keys,
 * invalid UTF-8, and trailing bytes other than whitespace.
 */
struct json_value *json_parse(const char *text, size_t len, char *err,
			      size_t errlen);
void json_free(struct json_value *v);

/* The value at @path, or NULL if the path is malformed or leads nowhere. */
const struct json_value *json_get(const struct json_value *v, const char *path);

double json_num(const struct json_value *v, const char *path);	/* NAN if not a number */
const char *json_str(const struct json_value *v, const char *path);	/* NULL if not a string */
int json_get_bool(const struct json_value *v, const char *path);	/* 1, 0, or -1 if not a bool */
long json_len(const struct json_value *v, const char *path);	/* elements or members, -1 if neither */

/* json_num() and json_len() of a document still in text: NAN or -1 if it
 * does not parse.
 */
double jnum(const char *text, const char *path);
long jlen(const char *text, const char *path);

#endif /* RPDT_JSON_H */
