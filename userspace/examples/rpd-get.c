// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpd-get: a small HTTP load client for rpd demos and tests. It sends GET /
 * requests, one TCP connection each, keeps up to CONCURRENCY of them in
 * flight from one thread, and counts the responses per X-Rpd-Slot (the
 * worker slot of rpd-httpd that answered).
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpd_abi.h"
#include "rpd_util.h"
#include "ex_util.h"

#define RESPONSE_MAX	4096
#define EVENTS_MAX	64

/* How a request ended. RES_MORE: not yet, the response is incomplete. */
enum result {
	RES_MORE = -1,
	RES_OK,
	RES_REFUSED,
	RES_RESET,
	RES_TIMEOUT,
	RES_BAD,
	RES_OTHER,
	RES_MAX,
};

static const char *const result_names[RES_MAX] = {
	[RES_OK]	= "ok",
	[RES_REFUSED]	= "refused",
	[RES_RESET]	= "reset",
	[RES_TIMEOUT]	= "timeout",
	[RES_BAD]	= "bad",
	[RES_OTHER]	= "other",
};

struct conn {
	TAILQ_ENTRY(conn) link;
	int fd;
	bool connected;
	size_t sent, len;
	long long deadline;		/* CLOCK_MONOTONIC, ns */
	char buf[RESPONSE_MAX];
};

TAILQ_HEAD(conn_list, conn);

struct load {
	/* command line */
	long requests, concurrency, timeout_ms;
	bool json;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char req[256];
	size_t reqlen;

	int ep;
	struct conn *conns;
	/* Every connection gets the same timeout, so start order is also
	 * deadline order: the first active connection expires first.
	 */
	struct conn_list active, idle;
	long started, done;
	long count[RES_MAX];
	long per_slot[RPD_MAX_SLOTS];
	int other_errno;		/* the first error counted as "other" */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rpd-get [-n REQUESTS] [-c CONCURRENCY] [-j] [-t TIMEOUT_MS] ADDR:PORT\n"
		"\n"
		"  -n REQUESTS     GET / requests, one connection each (default 1)\n"
		"  -c CONCURRENCY  connections in flight at most, 1-10000 (default 1)\n"
		"  -j              print one JSON document\n"
		"  -t TIMEOUT_MS   time limit of each connection (default 5000)\n"
		"  ADDR:PORT       127.0.0.1:8080 or [::1]:8080\n"
		"\n"
		"A request is ok when it gets a whole 200 response naming its slot in\n"
		"X-Rpd-Slot. Exit 0 if every request was ok, 1 if not, 2 on usage errors.\n");
}

static long opt_long(char opt, const char *s, long min, long max)
{
	long v;

	if (!ex_parse_long(s, min, max, &v))
		usage_error("-%c '%s': must be %ld-%ld", opt, s, min, max);
	return v;
}

static void parse_args(struct load *l, int argc, char **argv)
{
	const char *why;
	int opt, n;

	l->requests = 1;
	l->concurrency = 1;
	l->timeout_ms = 5000;
	/* ':' first: errors are ours to print */
	while ((opt = getopt(argc, argv, ":n:c:jt:h")) != -1) {
		switch (opt) {
		case 'n':
			l->requests = opt_long(opt, optarg, 1, 100000000);
			break;
		case 'c':
			l->concurrency = opt_long(opt, optarg, 1, 10000);
			break;
		case 'j':
			l->json = true;
			break;
		case 't':
			l->timeout_ms = opt_long(opt, optarg, 1, 3600000);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			usage_error("-%c needs an argument", optopt);
		default:
			usage_error("unknown option '-%c'", optopt);
		}
	}
	if (optind != argc - 1)
		usage_error("%s", optind < argc ? "one ADDR:PORT only" : "missing ADDR:PORT");
	if (rpdu_parse_addr(argv[optind], &l->addr, &l->addrlen, &why))
		usage_error("'%s': %s", argv[optind], why);
	if (l->concurrency > l->requests)
		l->concurrency = l->requests;
	n = snprintf(l->req, sizeof(l->req),
		     "GET / HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "User-Agent: rpd-get\r\n"
		     "Connection: close\r\n"
		     "\r\n", argv[optind]);
	if (n < 0 || (size_t)n >= sizeof(l->req))
		usage_error("'%s': too long", argv[optind]);
	l->reqlen = n;
}

/* One descriptor per connection, plus stdio and epoll. */
static void raise_fd_limit(long concurrency)
{
	rlim_t need = concurrency + 16;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		err(1, "getrlimit(RLIMIT_NOFILE)");
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need)
		errx(1, "-c %ld: needs %lu open files, the limit is %lu",
		     concurrency, (unsigned long)need, (unsigned long)rl.rlim_max);
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		err(1, "setrlimit(RLIMIT_NOFILE, %lu)", (unsigned long)need);
}

static enum result errno_result(struct load *l, int e)
{
	switch (e) {
	case ECONNREFUSED:
		return RES_REFUSED;
	case ECONNRESET:
	case EPIPE:
		return RES_RESET;
	case ETIMEDOUT:
		return RES_TIMEOUT;
	}
	if (!l->other_errno)
		l->other_errno = e;
	return RES_OTHER;
}

/* Header @name among the lines [p, end) (each ending in CRLF) as a number:
 * 1 and *@val if it is one, 0 if there is no such header, -1 if malformed.
 */
static int header_num(const char *p, const char *end, const char *name, long *val)
{
	size_t nlen = strlen(name);
	const char *eol;

	for (; p < end; p = eol + 2) {
		eol = memmem(p, end - p, "\r\n", 2);
		if ((size_t)(eol - p) <= nlen || p[nlen] != ':' ||
		    strncasecmp(p, name, nlen))
			continue;
		p += nlen + 1;
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		if (p == eol)
			return -1;
		for (*val = 0; p < eol && *p >= '0' && *p <= '9'; p++) {
			*val = *val * 10 + (*p - '0');
			if (*val > INT_MAX)
				return -1;
		}
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		return p == eol ? 1 : -1;
	}
	return 0;
}

static enum result parse_response(const struct conn *c, bool eof, int *slot)
{
	const char *buf = c->buf, *hdr, *end;
	long clen, s;
	size_t body;
	int has_clen;

	end = memmem(buf, c->len, "\r\n\r\n", 4);
	if (!end)
		return eof ? RES_BAD : RES_MORE;
	end += 2;
	/* "HTTP/1.x 200 reason" */
	if (end - buf < 14 || memcmp(buf, "HTTP/1.", 7) ||
	    memcmp(buf + 8, " 200", 4) || (buf[12] != ' ' && buf[12] != '\r'))
		return RES_BAD;
	hdr = (const char *)memmem(buf, end - buf, "\r\n", 2) + 2;
	has_clen = header_num(hdr, end, "Content-Length", &clen);
	body = c->len - (end + 2 - buf);
	if (has_clen < 0)
		return RES_BAD;
	/* without Content-Length the body ends with the connection */
	if (!has_clen && !eof)
		return RES_MORE;
	if (has_clen && body < (size_t)clen)
		return eof ? RES_BAD : RES_MORE;
	if (has_clen && body > (size_t)clen)
		return RES_BAD;
	if (header_num(hdr, end, "X-Rpd-Slot", &s) != 1 || s >= RPD_MAX_SLOTS)
		return RES_BAD;
	*slot = s;
	return RES_OK;
}

static void finish(struct load *l, struct conn *c, enum result res, int slot)
{
	close(c->fd);
	TAILQ_REMOVE(&l->active, c, link);
	TAILQ_INSERT_TAIL(&l->idle, c, link);
	l->count[res]++;
	if (res == RES_OK)
		l->per_slot[slot]++;
	l->done++;
}

static void start(struct load *l, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };

	c->fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		err(1, "socket");
	c->connected = false;
	c->sent = c->len = 0;
	c->deadline = ex_now_ns(CLOCK_MONOTONIC) + l->timeout_ms * 1000000LL;
	TAILQ_REMOVE(&l->idle, c, link);
	TAILQ_INSERT_TAIL(&l->active, c, link);
	l->started++;
	if (connect(c->fd, (struct sockaddr *)&l->addr, l->addrlen) &&
	    errno != EINPROGRESS) {
		finish(l, c, errno_result(l, errno), -1);
		return;
	}
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev))
		err(1, "epoll_ctl");
}

/* Move @c on as far as it goes without blocking. */
static void step(struct load *l, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	int e, slot = -1;
	socklen_t elen = sizeof(e);
	enum result res;
	ssize_t n;

	if (!c->connected) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &elen))
			e = errno;
		if (e) {
			finish(l, c, errno_result(l, e), -1);
			return;
		}
		c->connected = true;
	}
	while (c->sent < l->reqlen) {
		n = send(c->fd, l->req + c->sent, l->reqlen - c->sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			finish(l, c, errno_result(l, errno), -1);
			return;
		}
		c->sent += n;
		if (c->sent == l->reqlen &&
		    epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev))
			err(1, "epoll_ctl");
	}
	for (;;) {
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			finish(l, c, errno_result(l, errno), -1);
			return;
		}
		c->len += n;
		res = parse_response(c, n == 0, &slot);
		/* a full buffer would read as EOF next time */
		if (res == RES_MORE && c->len == sizeof(c->buf))
			res = RES_BAD;
		if (res != RES_MORE) {
			finish(l, c, res, slot);
			return;
		}
	}
}

static void expire(struct load *l)
{
	long long now = ex_now_ns(CLOCK_MONOTONIC);
	struct conn *c;

	while ((c = TAILQ_FIRST(&l->active)) && c->deadline <= now)
		finish(l, c, RES_TIMEOUT, -1);
}

static void run_load(struct load *l)
{
	struct epoll_event evs[EVENTS_MAX];
	long long wait;
	struct conn *c;
	int i, n;

	while (l->done < l->requests) {
		while (l->started < l->requests && (c = TAILQ_FIRST(&l->idle)))
			start(l, c);
		c = TAILQ_FIRST(&l->active);
		if (!c)
			continue;
		/* round up: waking before the deadline would spin */
		wait = (c->deadline - ex_now_ns(CLOCK_MONOTONIC) + 999999) / 1000000;
		n = epoll_wait(l->ep, evs, EVENTS_MAX, wait > 0 ? (int)wait : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err(1, "epoll_wait");
		for (i = 0; i < n; i++)
			step(l, evs[i].data.ptr);
		expire(l);
	}
}

static void print_text(const struct load *l, double ms)
{
	int i;

	printf("requests %ld", l->requests);
	for (i = 0; i < RES_MAX; i++)
		printf(", %s %ld", result_names[i], l->count[i]);
	printf("\nelapsed %.1f ms, %.0f requests/s\n", ms,
	       ms > 0 ? l->requests * 1000.0 / ms : 0.0);
	for (i = 0; i < RPD_MAX_SLOTS; i++)
		if (l->per_slot[i])
			printf("slot %d: %ld\n", i, l->per_slot[i]);
}

static void print_json(const struct load *l, double ms)
{
	const char *sep = "";
	int i;

	printf("{\"requests\": %ld", l->requests);
	for (i = 0; i < RES_MAX; i++)
		printf(", \"%s\": %ld", result_names[i], l->count[i]);
	printf(", \"per_slot\": {");
	for (i = 0; i < RPD_MAX_SLOTS; i++) {
		if (!l->per_slot[i])
			continue;
		printf("%s\"%d\": %ld", sep, i, l->per_slot[i]);
		sep = ", ";
	}
	printf("}, \"elapsed_ms\": %.3f}\n", ms);
}

int main(int argc, char **argv)
{
	struct load l = {};
	long long t0;
	double ms;
	long i;

	parse_args(&l, argc, argv);
	raise_fd_limit(l.concurrency);
	l.ep = epoll_create1(EPOLL_CLOEXEC);
	if (l.ep < 0)
		err(1, "epoll_create1");
	l.conns = calloc(l.concurrency, sizeof(*l.conns));
	if (!l.conns)
		errx(1, "out of memory for %ld connections", l.concurrency);
	TAILQ_INIT(&l.active);
	TAILQ_INIT(&l.idle);
	for (i = 0; i < l.concurrency; i++)
		TAILQ_INSERT_TAIL(&l.idle, &l.conns[i], link);

	t0 = ex_now_ns(CLOCK_MONOTONIC);
	run_load(&l);
	ms = (ex_now_ns(CLOCK_MONOTONIC) - t0) / 1e6;

	if (l.json)
		print_json(&l, ms);
	else
		print_text(&l, ms);
	if (fflush(stdout))
		err(1, "stdout");
	if (l.other_errno)
		warnx("%ld requests failed with other errors, the first: %s",
		      l.count[RES_OTHER], strerror(l.other_errno));
	free(l.conns);
	close(l.ep);
	return l.count[RES_OK] == l.requests ? 0 : 1;
}
