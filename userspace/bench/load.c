// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The client: epoll-driven threads in the bench process, one TCP
 * connection per request, non-blocking all the way so a thread keeps
 * thousands in flight.
 *
 * Open loop: the arrival times are drawn before the run (Poisson at the
 * target rate) and latency counts from a request's intended start, not
 * from when the client got round to it: a client that falls behind, or a
 * server that stalls it, cannot hide the wait (no coordinated omission).
 * Closed loop: -c connections in flight, a new one as soon as one ends;
 * latency from its actual start, as wrk or ab report it. Persistent: open
 * loop arrivals whose connections stay open once the worker answered.
 *
 * Arrivals and service times come from the seed alone, so every model of
 * a run gets exactly the same load.
 */
#include <err.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "bench.h"

#define EVENTS_MAX		256
#define TICK_NS			200000000LL
/* Client source addresses 127.0.0.1-127.0.0.250, so a new connection's
 * 4-tuple rarely meets a server-side TIME_WAIT of an earlier one.
 */
#define SRC_ADDRS		250

enum cstate { C_CONNECTING, C_READING };

struct conn {
	TAILQ_ENTRY(conn) link;
	int fd;
	enum cstate state;
	long idx;		/* into the schedule */
	long long origin;	/* latency counts from here */
	long long deadline;
	int len;
	char buf[REPLY_MAX];
};

TAILQ_HEAD(conn_list, conn);

struct client {
	pthread_t thread;
	const struct cfg *c;
	const struct req *sched;
	long long t0;
	int id, nthreads;
	int ep;
	long assigned;		/* schedule entries id, id + T, id + 2T, ... */
	long next;		/* the next of them to start */
	long concurrency;	/* closed loop: this thread's share */
	long active_n;
	struct conn *conns;	/* one per assigned entry */
	struct conn_list active;	/* in start order, hence deadline order */
	int *held;		/* persistent: open connections */
	long nheld;
	struct result r;
	long long first_start, last_done;
	int stopped;
	/* read by the progress ticker while this thread runs */
	long done, errors;
	int finished;
};

void draw_schedule(const struct cfg *c, struct req *s)
{
	unsigned long long ra = c->seed ^ 0xa0761d6478bd642fULL;
	unsigned long long rs = c->seed ^ 0xe7037ed1a0b428dbULL;
	double t = 0, ms;
	long i;

	for (i = 0; i < c->conns; i++) {
		if (c->load != LOAD_CLOSED) {
			t += -log(rng_unit(&ra)) / c->rate * 1e9;
			s[i].t = (long long)t;
		}
		switch (c->dist) {
		case DIST_CONST:
			ms = c->mean_ms;
			break;
		case DIST_EXP:
			ms = -log(rng_unit(&rs)) * c->mean_ms;
			break;
		case DIST_BIMODAL:
		default:
			ms = rng_unit(&rs) <= 0.9 ? c->mean_ms / 2 : c->mean_ms * 5.5;
			break;
		}
		s[i].us = (unsigned int)(ms * 1000 + 0.5);
	}
}

/*
 * Out of the epoll set first: close() alone leaves the socket in it while
 * another copy of the fd lives, as in a child between fork() and exec()
 * (rpd-stress runs rpdctl while the load runs), and its next event would
 * reach a connection already counted.
 */
static void unwatch_close(struct client *cl, int fd)
{
	epoll_ctl(cl->ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

static void fail(struct client *cl, struct conn *cn, int e)
{
	enum err_kind k;

	switch (e) {
	case ECONNREFUSED:
		k = E_REFUSED;
		break;
	case ECONNRESET:
	case EPIPE:
		k = E_RESET;
		break;
	case ETIMEDOUT:
		k = E_TIMEOUT;
		break;
	case EBADMSG:
		k = E_BAD_REPLY;
		break;
	default:
		k = E_OTHER;
		if (!cl->r.first_errno)
			cl->r.first_errno = e;
		break;
	}
	if (cn->fd >= 0)
		unwatch_close(cl, cn->fd);
	cn->fd = -1;
	TAILQ_REMOVE(&cl->active, cn, link);
	cl->active_n--;
	cl->r.err[k]++;
	cl->r.errors++;
	__atomic_store_n(&cl->errors, cl->r.errors, __ATOMIC_RELAXED);
	__atomic_store_n(&cl->done, cl->done + 1, __ATOMIC_RELAXED);
}

static void start(struct client *cl, long k, long long now)
{
	long idx = cl->id + k * cl->nthreads;
	struct conn *cn = &cl->conns[k];
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = cn };
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = {
		.sin_family = AF_INET,
		.sin_port = htons(BENCH_PORT),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1;

	cn->idx = idx;
	cn->state = C_CONNECTING;
	cn->len = 0;
	cn->origin = cl->c->load == LOAD_CLOSED ? now : cl->t0 + cl->sched[idx].t;
	cn->deadline = now + cl->c->timeout_ms * 1000000LL;
	TAILQ_INSERT_TAIL(&cl->active, cn, link);
	cl->active_n++;
	if (!cl->first_start)
		cl->first_start = now;
	cl->r.conns++;

	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + idx % SRC_ADDRS);
	cn->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cn->fd < 0) {
		fail(cl, cn, errno);
		return;
	}
	/* the port is picked at connect(), knowing the whole 4-tuple */
	if (setsockopt(cn->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) ||
	    bind(cn->fd, (struct sockaddr *)&src, sizeof(src)) ||
	    (connect(cn->fd, (struct sockaddr *)&dst, sizeof(dst)) && errno != EINPROGRESS) ||
	    epoll_ctl(cl->ep, EPOLL_CTL_ADD, cn->fd, &ev))
		fail(cl, cn, errno);
}

/* closed loop: one ended, the next begins */
static void refill(struct client *cl, long long now)
{
	if (cl->c->load != LOAD_CLOSED)
		return;
	while (cl->next < cl->assigned && cl->active_n < cl->concurrency)
		start(cl, cl->next++, now);
}

/* The worker named in a complete reply, or -1 if it is not one: a bench
 * worker's (X-Worker, below --workers) or rpd-httpd's (X-Rpd-Slot, a slot
 * number, below BENCH_MAX_WORKERS).
 */
static int reply_worker(const struct client *cl, const struct conn *cn, bool hold)
{
	static const char bench[] = "\r\nX-Worker: ", httpd[] = "\r\nX-Rpd-Slot: ";
	const char *status = hold ? "HTTP/1.1 101 " : "HTTP/1.0 200 ";
	const char *p;
	long w, max;
	char *end;

	if (cn->len < 13)
		return -1;
	if (!memcmp(cn->buf, status, 13)) {
		p = strstr(cn->buf, bench);
		p = p ? p + sizeof(bench) - 1 : NULL;
		max = cl->c->workers;
	} else if (!hold && !memcmp(cn->buf, "HTTP/1.1 200 ", 13)) {
		p = strstr(cn->buf, httpd);
		p = p ? p + sizeof(httpd) - 1 : NULL;
		max = BENCH_MAX_WORKERS;
	} else {
		return -1;
	}
	if (!p)
		return -1;
	w = strtol(p, &end, 10);
	if (end == p || w < 0 || w >= max)
		return -1;
	return w;
}

static void complete(struct client *cl, struct conn *cn, int worker,
		     bool hold, long long now)
{
	TAILQ_REMOVE(&cl->active, cn, link);
	cl->active_n--;
	hist_add(&cl->r.lat, now > cn->origin ? now - cn->origin : 0);
	cl->r.per_worker[worker]++;
	cl->r.ok++;
	if (now > cl->last_done)
		cl->last_done = now;
	if (hold) {
		/* idle from now on: no need to watch it */
		epoll_ctl(cl->ep, EPOLL_CTL_DEL, cn->fd, NULL);
		cl->held[cl->nheld++] = cn->fd;
	} else {
		unwatch_close(cl, cn->fd);
	}
	cn->fd = -1;
	__atomic_store_n(&cl->done, cl->done + 1, __ATOMIC_RELAXED);
}

static void step(struct client *cl, struct conn *cn, long long now)
{
	bool hold = cl->c->load == LOAD_PERSISTENT;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = cn };
	char req[REQ_MAX];
	socklen_t elen = sizeof(int);
	int e = 0, n, w;
	ssize_t got;

	if (cn->state == C_CONNECTING) {
		if (getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &e, &elen))
			e = errno;
		if (e) {
			fail(cl, cn, e);
			return;
		}
		n = snprintf(req, sizeof(req), "GET /?us=%u&hold=%d HTTP/1.0\r\n\r\n",
			     cl->sched[cn->idx].us, hold);
		/* a fresh socket's send buffer always takes this much */
		if (send(cn->fd, req, n, MSG_NOSIGNAL) != n) {
			fail(cl, cn, errno ? errno : EIO);
			return;
		}
		cn->state = C_READING;
		if (epoll_ctl(cl->ep, EPOLL_CTL_MOD, cn->fd, &ev)) {
			fail(cl, cn, errno);
			return;
		}
		return;
	}
	for (;;) {
		got = recv(cn->fd, cn->buf + cn->len, sizeof(cn->buf) - 1 - cn->len, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN)
			return;
		if (got < 0) {
			fail(cl, cn, errno);
			return;
		}
		cn->len += got;
		cn->buf[cn->len] = '\0';
		/* a reply ends with the connection, a hold reply with its head */
		if ((got == 0 && !hold) || (hold && strstr(cn->buf, "\r\n\r\n"))) {
			w = reply_worker(cl, cn, hold);
			if (w < 0)
				fail(cl, cn, EBADMSG);
			else
				complete(cl, cn, w, hold, now);
			refill(cl, now);
			return;
		}
		if (got == 0 || cn->len == (int)sizeof(cn->buf) - 1) {
			fail(cl, cn, got == 0 ? ECONNRESET : EBADMSG);
			refill(cl, now);
			return;
		}
	}
}

static void expire(struct client *cl, long long now)
{
	struct conn *cn;

	while ((cn = TAILQ_FIRST(&cl->active)) && cn->deadline <= now) {
		fail(cl, cn, ETIMEDOUT);
		refill(cl, now);
	}
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct epoll_event evs[EVENTS_MAX];
	struct timespec ts;
	long long now, wake;
	struct conn *cn;
	int i, n;

	prctl(PR_SET_TIMERSLACK, 1UL);
	/* closed loop: every thread starts at t0, together */
	if (cl->c->load == LOAD_CLOSED) {
		ts.tv_sec = cl->t0 / 1000000000LL;
		ts.tv_nsec = cl->t0 % 1000000000LL;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		refill(cl, now_ns());
	}
	while (cl->done < cl->assigned) {
		if (bench_stop) {
			cl->stopped = 1;
			break;
		}
		now = now_ns();
		if (cl->c->load != LOAD_CLOSED) {
			while (cl->next < cl->assigned &&
			       cl->t0 + cl->sched[cl->id + cl->next * cl->nthreads].t <= now)
				start(cl, cl->next++, now);
		}
		/* sleep until the next arrival, timeout or a look at bench_stop */
		wake = now + 100000000LL;
		if (cl->c->load != LOAD_CLOSED && cl->next < cl->assigned) {
			long long t = cl->t0 + cl->sched[cl->id + cl->next * cl->nthreads].t;

			if (t < wake)
				wake = t;
		}
		cn = TAILQ_FIRST(&cl->active);
		if (cn && cn->deadline < wake)
			wake = cn->deadline;
		wake -= now;
		if (wake < 0)
			wake = 0;
		ts.tv_sec = wake / 1000000000LL;
		ts.tv_nsec = wake % 1000000000LL;
		n = epoll_pwait2(cl->ep, evs, EVENTS_MAX, &ts, NULL);
		if (n < 0 && errno != EINTR)
			err(1, "client: epoll_pwait2");
		now = now_ns();
		for (i = 0; i < n; i++)
			step(cl, evs[i].data.ptr, now);
		expire(cl, now);
	}
	while ((cn = TAILQ_FIRST(&cl->active))) {
		close(cn->fd);
		TAILQ_REMOVE(&cl->active, cn, link);
	}
	__atomic_store_n(&cl->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

int load_run(const struct cfg *c, struct result *r,
	     void (*tick)(const struct progress *p, void *arg), void *arg)
{
	int nt = c->client_threads, i, e, stopped = 0;
	struct client *cls;
	struct progress p;
	struct req *sched;
	long long t0, first = 0, last = 0, next_tick;
	bool all;
	long k;

	if (nt > c->conns)
		nt = c->conns;
	sched = calloc(c->conns, sizeof(*sched));
	cls = calloc(nt, sizeof(*cls));
	if (!sched || !cls)
		errx(1, "out of memory for %ld connections", c->conns);
	draw_schedule(c, sched);

	memset(r, 0, sizeof(*r));
	hist_init(&r->lat);
	/* one t0 for all threads, as the schedule is one Poisson process; a
	 * little ahead, so every thread is up before the first arrival
	 */
	t0 = now_ns() + 20000000LL;
	for (i = 0; i < nt; i++) {
		struct client *cl = &cls[i];

		cl->c = c;
		cl->sched = sched;
		cl->t0 = t0;
		cl->id = i;
		cl->nthreads = nt;
		cl->assigned = c->conns / nt + (i < c->conns % nt);
		cl->concurrency = c->concurrency / nt + (i < c->concurrency % nt);
		if (cl->concurrency < 1)
			cl->concurrency = 1;
		TAILQ_INIT(&cl->active);
		hist_init(&cl->r.lat);
		cl->ep = epoll_create1(EPOLL_CLOEXEC);
		cl->conns = calloc(cl->assigned, sizeof(*cl->conns));
		cl->held = c->load == LOAD_PERSISTENT ?
			   calloc(cl->assigned, sizeof(*cl->held)) : NULL;
		if (cl->ep < 0 || !cl->conns ||
		    (c->load == LOAD_PERSISTENT && !cl->held))
			errx(1, "client %d: out of memory or descriptors", i);
	}
	for (i = 0; i < nt; i++) {
		e = pthread_create(&cls[i].thread, NULL, client_main, &cls[i]);
		if (e)
			errx(1, "pthread_create: %s", strerror(e));
	}

	next_tick = now_ns() + TICK_NS;
	do {
		struct timespec ts = { 0, 20000000L };

		nanosleep(&ts, NULL);
		all = true;
		memset(&p, 0, sizeof(p));
		for (i = 0; i < nt; i++) {
			p.done += __atomic_load_n(&cls[i].done, __ATOMIC_RELAXED);
			p.errors += __atomic_load_n(&cls[i].errors, __ATOMIC_RELAXED);
			all &= __atomic_load_n(&cls[i].finished, __ATOMIC_ACQUIRE);
		}
		if (tick && (now_ns() >= next_tick || all)) {
			tick(&p, arg);
			next_tick += TICK_NS;
		}
	} while (!all);

	for (i = 0; i < nt; i++) {
		struct client *cl = &cls[i];

		pthread_join(cl->thread, NULL);
		stopped |= cl->stopped;
		result_merge(r, &cl->r);
		if (cl->first_start && (!first || cl->first_start < first))
			first = cl->first_start;
		if (cl->last_done > last)
			last = cl->last_done;
		/* persistent: every connection was open at once; now they go */
		for (k = 0; k < cl->nheld; k++)
			close(cl->held[k]);
		close(cl->ep);
		free(cl->held);
		free(cl->conns);
	}
	r->elapsed_s = last > first ? (last - first) / 1e9 : 0;
	free(cls);
	free(sched);
	return stopped ? -1 : 0;
}
