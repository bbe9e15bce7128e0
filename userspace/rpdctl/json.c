// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <stdlib.h>

#include "json.h"

void json_init(struct json *j, FILE *f, bool pretty)
{
	j->f = f;
	j->pretty = pretty;
	j->depth = 0;
	j->after_key = false;
}

int json_finish(struct json *j)
{
	fputc('\n', j->f);
	return fflush(j->f) || ferror(j->f) ? -1 : 0;
}

static void newline(struct json *j)
{
	int i;

	if (!j->pretty)
		return;
	fputc('\n', j->f);
	for (i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* Separator before a member or an element of the current container. */
static void next_item(struct json *j)
{
	if (j->depth == 0)
		return;
	if (!j->empty[j->depth - 1])
		fputs(j->pretty ? "," : ", ", j->f);
	j->empty[j->depth - 1] = false;
	newline(j);
}

static void value_prefix(struct json *j)
{
	if (j->after_key)
		j->after_key = false;
	else
		next_item(j);
}

static void begin(struct json *j, char c)
{
	/* rpdctl's documents are fixed and shallow: deeper is a bug */
	if (j->depth == JSON_MAX_DEPTH)
		abort();
	value_prefix(j);
	fputc(c, j->f);
	j->empty[j->depth++] = true;
}

static void end(struct json *j, char c)
{
	bool empty = j->empty[--j->depth];

	if (!empty)
		newline(j);
	fputc(c, j->f);
}

void json_object_begin(struct json *j)
{
	begin(j, '{');
}

void json_object_end(struct json *j)
{
	end(j, '}');
}

void json_array_begin(struct json *j)
{
	begin(j, '[');
}

void json_array_end(struct json *j)
{
	end(j, ']');
}

/* Length of the valid UTF-8 sequence at @s, 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
	int n, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static void write_string(struct json *j, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	int n;

	fputc('"', j->f);
	while (*s) {
		switch (*s) {
		case '"':
			fputs("\\\"", j->f);
			break;
		case '\\':
			fputs("\\\\", j->f);
			break;
		case '\n':
			fputs("\\n", j->f);
			break;
		case '\t':
			fputs("\\t", j->f);
			break;
		case '\r':
			fputs("\\r", j->f);
			break;
		default:
			if (*s < 0x20) {
				fprintf(j->f, "\\u%04x", *s);
				break;
			}
			/* Paths from the command line may be any bytes; a
			 * JSON text must be UTF-8.
			 */
			n = utf8_len(s);
			if (!n) {
				fputs("\\ufffd", j->f);
				break;
			}
			fwrite(s, 1, n, j->f);
			s += n;
			continue;
		}
		s++;
	}
	fputc('"', j->f);
}

void json_key(struct json *j, const char *key)
{
	next_item(j);
	write_string(j, key);
	fputs(": ", j->f);
	j->after_key = true;
}

void json_string(struct json *j, const char *s)
{
	value_prefix(j);
	write_string(j, s);
}

void json_uint(struct json *j, unsigned long long v)
{
	value_prefix(j);
	fprintf(j->f, "%llu", v);
}

void json_double(struct json *j, double v)
{
	value_prefix(j);
	/* JSON has no inf or nan; callers never produce them on purpose */
	fprintf(j->f, "%.6g", isfinite(v) ? v : 0.0);
}

void json_bool(struct json *j, bool v)
{
	value_prefix(j);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j)
{
	value_prefix(j);
	fputs("null", j->f);
}

void json_kstring(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_string(j, s);
}

void json_kuint(struct json *j, const char *key, unsigned long long v)
{
	json_key(j, key);
	json_uint(j, v);
}

void json_kdouble(struct json *j, const char *key, double v)
{
	json_key(j, key);
	json_double(j, v);
}

void json_kbool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	json_bool(j, v);
}
