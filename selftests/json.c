// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Recursive descent over the RFC 8259 grammar. Nesting is bounded so a
 * hostile document cannot exhaust the stack; every failure frees what was
 * built so far.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_DEPTH	64

struct parser {
	const char *start, *p, *end;
	char *err;
	size_t errlen;
	int depth;
};

static void *fail(struct parser *ps, const char *why)
{
	if (ps->err && ps->errlen && !ps->err[0])
		snprintf(ps->err, ps->errlen, "%s at offset %zu", why,
			 (size_t)(ps->p - ps->start));
	return NULL;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && *ps->p && strchr(" \t\r\n", *ps->p))
		ps->p++;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return false;
	ps->p += n;
	return true;
}

static void put_utf8(char **o, uint32_t cp)
{
	static const unsigned char lead[] = { 0, 0, 0xc0, 0xe0, 0xf0 };
	int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4, i;

	for (i = n - 1; i > 0; i--, cp >>= 6)
		(*o)[i] = 0x80 | (cp & 0x3f);
	(*o)[0] = lead[n] | cp;
	*o += n;
}

/* Length of the UTF-8 sequence at @s (at most @n bytes), 0 if invalid:
 * overlong forms, surrogates and code points past U+10FFFF included.
 */
static int utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp, min;
	int len, i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if ((size_t)len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool hex4(struct parser *ps, uint32_t *cp)
{
	static const char hex[] = "0123456789abcdef";
	const char *d;
	int i;

	if (ps->end - ps->p < 4)
		return false;
	for (*cp = 0, i = 0; i < 4; i++) {
		d = memchr(hex, tolower((unsigned char)*ps->p++), 16);
		if (!d)
			return false;
		*cp = *cp << 4 | (d - hex);
	}
	return true;
}

/* At the opening quote; decodes into a new string (never longer than its
 * source: every escape is at least as long as the bytes it stands for).
 */
static char *parse_string(struct parser *ps, size_t *outlen)
{
	const char *q = ps->p + 1;
	char *buf, *o;
	uint32_t cp, lo;
	int n;

	while (q < ps->end && *q != '"')
		q += *q == '\\' ? 2 : 1;
	if (q >= ps->end)
		return fail(ps, "unterminated string");
	buf = o = malloc(q - ps->p);
	if (!buf)
		return fail(ps, "out of memory");
	ps->p++;
	while (*ps->p != '"') {
		unsigned char c = *ps->p;

		if (c < 0x20)
			goto bad;
		if (c != '\\') {
			n = utf8_len((const unsigned char *)ps->p, ps->end - ps->p);
			if (!n)
				goto bad;
			memcpy(o, ps->p, n);
			o += n;
			ps->p += n;
			continue;
		}
		ps->p++;
		c = *ps->p++;
		switch (c) {
		case '"': case '\\': case '/':
			*o++ = c;
			break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (!hex4(ps, &cp) || !cp || (cp >= 0xdc00 && cp <= 0xdfff))
				goto bad;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (!literal(ps, "\\u") || !hex4(ps, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			put_utf8(&o, cp);
			break;
		default:
			goto bad;
		}
	}
	ps->p++;
	*o = '\0';
	*outlen = o - buf;
	return buf;
bad:
	free(buf);
	return fail(ps, "bad character or escape in string (\\u0000 refused)");
}

/* Skips digits; false if there were none. */
static bool digits(const char **p, const char *end)
{
	const char *d = *p;

	while (*p < end && **p >= '0' && **p <= '9')
		(*p)++;
	return *p > d;
}

static bool parse_number(struct parser *ps, double *out)
{
	const char *p = ps->p, *e = ps->end;
	char *tmp;

	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0')
		p++;
	else if (!digits(&p, e))
		goto bad;
	if (p < e && *p == '.') {
		p++;
		if (!digits(&p, e))
			goto bad;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (!digits(&p, e))
			goto bad;
	}
	/* strtod() wants a NUL; the text is not a C string */
	tmp = strndup(ps->p, p - ps->p);
	if (!tmp) {
		fail(ps, "out of memory");
		return false;
	}
	*out = strtod(tmp, NULL);
	free(tmp);
	if (!isfinite(*out)) {
		fail(ps, "number out of range");
		return false;
	}
	ps->p = p;
	return true;
bad:
	ps->p = p;
	fail(ps, "bad number");
	return false;
}

static bool push(struct json_value *v, char *key, struct json_value *item)
{
	size_t cap = v->len ? 2 * v->len : 4;
	struct json_value **items;
	char **keys;

	/* capacity: 4, then doubled each time len reaches a power of two */
	if (!v->len || (v->len >= 4 && !(v->len & (v->len - 1)))) {
		items = realloc(v->items, cap * sizeof(*items));
		if (!items)
			return false;
		v->items = items;
		if (v->type == JSON_OBJECT) {
			keys = realloc(v->keys, cap * sizeof(*keys));
			if (!keys)
				return false;
			v->keys = keys;
		}
	}
	if (v->type == JSON_OBJECT)
		v->keys[v->len] = key;
	v->items[v->len++] = item;
	return true;
}

static struct json_value *parse_value(struct parser *ps);

/* Array or object, at its opening bracket. */
static struct json_value *parse_container(struct parser *ps, struct json_value *v)
{
	char close = v->type == JSON_OBJECT ? '}' : ']';
	struct json_value *item;
	char *key = NULL;
	size_t i, klen;

	if (++ps->depth > MAX_DEPTH)
		return fail(ps, "nested too deep");
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close)
		goto done;
	for (;;) {
		skip_ws(ps);
		if (v->type == JSON_OBJECT) {
			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, "expected a key");
			key = parse_string(ps, &klen);
			if (!key)
				return NULL;
			for (i = 0; i < v->len; i++)
				if (!strcmp(v->keys[i], key))
					goto dup;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p++ != ':')
				goto colon;
		}
		item = parse_value(ps);
		if (!item) {
			free(key);
			return NULL;
		}
		if (!push(v, key, item)) {
			free(key);
			json_free(item);
			return fail(ps, "out of memory");
		}
		key = NULL;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close)
			break;
		return fail(ps, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
	}
done:
	ps->p++;
	ps->depth--;
	return v;
dup:
	free(key);
	return fail(ps, "duplicate key");
colon:
	free(key);
	return fail(ps, "expected ':'");
}

static struct json_value *parse_value(struct parser *ps)
{
	struct json_value *v = calloc(1, sizeof(*v));
	char c;

	if (!v)
		return fail(ps, "out of memory");
	skip_ws(ps);
	c = ps->p < ps->end ? *ps->p : '\0';
	if (c == '{' || c == '[') {
		v->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
		if (parse_container(ps, v))
			return v;
	} else if (c == '"') {
		v->type = JSON_STRING;
		v->string = parse_string(ps, &v->len);
		if (v->string)
			return v;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		v->type = JSON_NUMBER;
		if (parse_number(ps, &v->number))
			return v;
	} else if (literal(ps, "true") || literal(ps, "false")) {
		v->type = JSON_BOOL;
		v->boolean = c == 't';
		return v;
	} else if (literal(ps, "null")) {
		return v;
	} else {
		fail(ps, c ? "unexpected character" : "unexpected end");
	}
	json_free(v);
	return NULL;
}

struct json_value *json_parse(const char *text, size_t len, char *err,
			      size_t errlen)
{
	struct parser ps = { text, text, text + len, err, errlen, 0 };
	struct json_value *v;

	if (err && errlen)
		err[0] = '\0';
	v = parse_value(&ps);
	if (!v)
		return NULL;
	skip_ws(&ps);
	if (ps.p != ps.end) {
		json_free(v);
		return fail(&ps, "trailing bytes after the document");
	}
	return v;
}

void json_free(struct json_value *v)
{
	size_t i;

	if (!v)
		return;
	if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
		for (i = 0; i < v->len; i++) {
			if (v->keys)
				free(v->keys[i]);
			json_free(v->items[i]);
		}
	}
	free(v->keys);
	free(v->items);
	free(v->string);
	free(v);
}

const struct json_value *json_get(const struct json_value *v, const char *path)
{
	const char *p = path, *k;
	unsigned long idx;
	size_t i, n;
	char *end;

	while (v && *p) {
		if (*p == '[') {
			if (v->type != JSON_ARRAY || p[1] < '0' || p[1] > '9')
				return NULL;
			errno = 0;
			idx = strtoul(p + 1, &end, 10);
			if (errno || *end != ']' || idx >= v->len)
				return NULL;
			v = v->items[idx];
			p = end + 1;
			continue;
		}
		if (*p == '.') {
			if (p == path)
				return NULL;
			p++;
		} else if (p != path) {
			return NULL;
		}
		k = p;
		n = strcspn(k, ".[");
		if (!n || v->type != JSON_OBJECT)
			return NULL;
		for (i = 0; i < v->len; i++)
			if (strlen(v->keys[i]) == n && !memcmp(v->keys[i], k, n))
				break;
		v = i < v->len ? v->items[i] : NULL;
		p = k + n;
	}
	return v;
}

double json_num(const struct json_value *v, const char *path)
{
	v = json_get(v, path);
	return v && v->type == JSON_NUMBER ? v->number : NAN;
}

const char *json_str(const struct json_value *v, const char *path)
{
	v = json_get(v, path);
	return v && v->type == JSON_STRING ? v->string : NULL;
}

int json_get_bool(const struct json_value *v, const char *path)
{
	v = json_get(v, path);
	return v && v->type == JSON_BOOL ? v->boolean : -1;
}

long json_len(const struct json_value *v, const char *path)
{
	v = json_get(v, path);
	return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? (long)v->len : -1;
}

double jnum(const char *text, const char *path)
{
	struct json_value *doc = json_parse(text, strlen(text), NULL, 0);
	double v = json_num(doc, path);

	json_free(doc);
	return v;
}

long jlen(const char *text, const char *path)
{
	struct json_value *doc = json_parse(text, strlen(text), NULL, 0);
	long n = json_len(doc, path);

	json_free(doc);
	return n;
}
