// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The server side. Every model runs the same worker: it serves one request
 * at a time (read the request, work, write the reply, close) and differs
 * only in how the next connection reaches it:
 *
 *   shared-blocking	blocks in accept() on the one listener; the kernel
 *			wakes the longest waiter first (FIFO)
 *   shared-epoll[-*]	the one listener, non-blocking, in the worker's own
 *			epoll with EPOLLEXCLUSIVE, as nginx does
 *   reuseport-hash,	a listener of its own in a SO_REUSEPORT group; rpd-*
 *   rpd-*		join the group through librpd
 *   acceptor-thread	a thread blocked in accept4() adds each connection
 *			to the worker's epoll with EPOLLONESHOT
 *   master-rr		receives accepted fds from the master over a unix
 *			socket
 *
 * Long-lived (hold=1) connections stay open after the reply. A worker must
 * go on accepting while it holds them, so every epoll model keeps them in
 * the same epoll set as its connection source and closes each when the
 * client does. shared-blocking has no such set: it keeps them in a list
 * and, since they are idle, only looks for closed ones (poll() with no
 * timeout) between two accepts.
 */
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "rpd.h"
#include "bench.h"
#include "rpd_util.h"

/* epoll data: what the fd is in the high half, the fd in the low half */
enum tag {
	TAG_LISTEN = 1,		/* a listener to accept from */
	TAG_SRC,		/* master-rr: the socket fds arrive on */
	TAG_NEW,		/* acceptor-thread: a connection to serve */
	TAG_HELD,		/* a long-lived connection, idle */
	TAG_OVERFLOW,		/* rpd-overflow: the group's queue */
};

#define EVDATA(tag, fd)	((unsigned long long)(tag) << 32 | (unsigned int)(fd))
#define EV_TAG(d)	((unsigned int)((d) >> 32))
#define EV_FD(d)	((int)(unsigned int)(d))

#define JITTER_MAX_NS	20000000LL

struct wstate {
	struct wctx *w;
	double slow;			/* service time factor of this worker */
	int ep;
	struct rpd_worker *rw;		/* rpd models */
	unsigned long long rng;		/* jitter */
	int *held;			/* shared-blocking's long-lived conns */
	int nheld, held_cap;
	char reply[REPLY_MAX], hold_reply[REPLY_MAX];
	int reply_len, hold_reply_len;
};

static void __attribute__((noreturn, format(printf, 2, 3)))
wdie(const struct wstate *st, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warnx("%s worker %d: %s", st->w->model->name, st->w->id, msg);
	_exit(1);
}

static void work(const struct wstate *st, unsigned long us)
{
	long long ns = (long long)(us * 1000.0 * st->slow), end;
	struct timespec ts;

	if (ns <= 0)
		return;
	if (st->w->cfg->cpu) {
		struct timespec now;

		/* this thread's CPU time: being preempted is not work done */
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
		end = now.tv_sec * 1000000000LL + now.tv_nsec + ns;
		do
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
		while (now.tv_sec * 1000000000LL + now.tv_nsec < end);
		return;
	}
	ts.tv_sec = ns / 1000000000LL;
	ts.tv_nsec = ns % 1000000000LL;
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static void conn_closed(struct wstate *st, int fd)
{
	close(fd);
	if (st->rw)
		rpd_conn_done(st->rw);
}

static unsigned long req_field(const char *req, const char *key)
{
	const char *p = strstr(req, key);

	return p ? strtoul(p + strlen(key), NULL, 10) : 0;
}

/*
 * One request on the blocking socket @fd. Returns true if the connection
 * is long-lived and now held open; otherwise it is closed.
 */
static bool serve(struct wstate *st, int fd)
{
	char req[REQ_MAX];
	size_t len = 0;
	bool hold;
	ssize_t n;

	/* the client sends the whole request at once; it is tiny */
	while (len < sizeof(req) - 1) {
		n = read(fd, req + len, sizeof(req) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			conn_closed(st, fd);
			return false;
		}
		len += n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[len] = '\0';
	hold = req_field(req, "hold=") == 1;
	work(st, req_field(req, "us="));
	if (hold) {
		n = send(fd, st->hold_reply, st->hold_reply_len, MSG_NOSIGNAL);
		if (n == st->hold_reply_len)
			return true;
	} else {
		/* a reset client is its own error; the reply is one segment */
		send(fd, st->reply, st->reply_len, MSG_NOSIGNAL);
	}
	conn_closed(st, fd);
	return false;
}

/* A held connection is readable: the client closed it (or sent data,
 * which a real server would handle and this one drops).
 */
static bool held_event(struct wstate *st, int fd)
{
	char buf[256];
	ssize_t n;

	do
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	while (n > 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	conn_closed(st, fd);
	return true;
}

static void hold_in_epoll(struct wstate *st, int fd, bool modify)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP,
		.data.u64 = EVDATA(TAG_HELD, fd),
	};

	if (epoll_ctl(st->ep, modify ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev))
		wdie(st, "epoll_ctl(held connection): %s", strerror(errno));
}

/* Accept one connection from @lfd and serve it; false if none was there. */
static bool accept_one(struct wstate *st, int lfd)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0) {
		/* EAGAIN: another worker took it */
		if (errno == EAGAIN || rpdu_accept_retry(errno))
			return false;
		wdie(st, "accept: %s", strerror(errno));
	}
	if (serve(st, c))
		hold_in_epoll(st, c, false);
	return true;
}

/* ---- shared-blocking ------------------------------------------------------ */

static void held_sweep(struct wstate *st)
{
	struct pollfd pfd[256];
	nfds_t n, k;
	int i, j;

	for (i = 0; i < st->nheld; i += n) {
		n = st->nheld - i < 256 ? (nfds_t)(st->nheld - i) : 256;
		for (k = 0; k < n; k++) {
			pfd[k].fd = st->held[i + k];
			pfd[k].events = POLLIN | POLLRDHUP;
		}
		if (poll(pfd, n, 0) <= 0)
			continue;
		for (k = 0; k < n; k++) {
			if (pfd[k].revents && held_event(st, pfd[k].fd))
				st->held[i + k] = -1;
		}
	}
	for (i = j = 0; i < st->nheld; i++)
		if (st->held[i] >= 0)
			st->held[j++] = st->held[i];
	st->nheld = j;
}

/* The next connection of a blocking listener; a worker without one dies. */
static int accept_wait(struct wstate *st)
{
	int c;

	for (;;) {
		c = accept4(st->w->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			return c;
		if (!rpdu_accept_retry(errno))
			wdie(st, "accept: %s", strerror(errno));
	}
}

static void __attribute__((noreturn)) run_blocking(struct wstate *st)
{
	int c;

	for (;;) {
		c = accept_wait(st);
		if (serve(st, c)) {
			if (st->nheld == st->held_cap) {
				st->held_cap = st->held_cap ? 2 * st->held_cap : 256;
				st->held = realloc(st->held, st->held_cap * sizeof(*st->held));
				if (!st->held)
					wdie(st, "out of memory");
			}
			st->held[st->nheld++] = c;
		}
		if (st->nheld)
			held_sweep(st);
	}
}

/* rpd-overflow: a connection from the group's queue, this worker's now */
static void accept_overflow(struct wstate *st)
{
	int c = rpd_accept_overflow(st->rw, st->w->overflow, SOCK_CLOEXEC);

	if (c < 0) {
		/* -EAGAIN: another worker took it */
		if (c == -EAGAIN || rpdu_accept_retry(-c))
			return;
		wdie(st, "%s", rpd_errmsg());
	}
	if (serve(st, c))
		hold_in_epoll(st, c, false);
}

/* ---- the epoll models ------------------------------------------------------- */

static void jitter(struct wstate *st)
{
	long long ns = (long long)(rng_unit(&st->rng) * JITTER_MAX_NS);
	struct timespec ts = { ns / 1000000000LL, ns % 1000000000LL };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

/* master-rr: one message, one fd */
static int recv_fd(struct wstate *st)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;
	ssize_t n;
	int fd;

	n = recvmsg(st->w->src, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0)
		wdie(st, "the master is gone");
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)))
		wdie(st, "a message from the master without an fd");
	memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	return fd;
}

static void *acceptor(void *arg)
{
	struct wstate *st = arg;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT };
	int c;

	for (;;) {
		c = accept_wait(st);
		ev.data.u64 = EVDATA(TAG_NEW, c);
		if (epoll_ctl(st->ep, EPOLL_CTL_ADD, c, &ev))
			wdie(st, "epoll_ctl(new connection): %s", strerror(errno));
	}
	return NULL;
}

static void __attribute__((noreturn)) run_epoll(struct wstate *st)
{
	struct epoll_event evs[64];
	bool waited = false;
	int i, n, fd;

	for (;;) {
		/*
		 * The jitter model pauses only when it had nothing to do and
		 * was woken for a new connection: an idle worker draws lots
		 * for it, a busy one with a backlog takes the next at once.
		 */
		n = 0;
		if (st->w->model->jitter) {
			n = epoll_wait(st->ep, evs, 64, 0);
			waited = n == 0;
		}
		if (!n)
			n = epoll_wait(st->ep, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			wdie(st, "epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			fd = EV_FD(evs[i].data.u64);
			switch (EV_TAG(evs[i].data.u64)) {
			case TAG_LISTEN:
				if (waited)
					jitter(st);
				/* one at a time: back to epoll_wait after each,
				 * as a worker with multi_accept off does
				 */
				accept_one(st, fd);
				break;
			case TAG_OVERFLOW:
				/* its own first: those were bound to it */
				if (!accept_one(st, st->w->lfd))
					accept_overflow(st);
				break;
			case TAG_SRC:
				fd = recv_fd(st);
				if (fd >= 0 && serve(st, fd))
					hold_in_epoll(st, fd, false);
				break;
			case TAG_NEW:
				/* EPOLLONESHOT: re-armed only if it is kept */
				if (serve(st, fd))
					hold_in_epoll(st, fd, true);
				break;
			case TAG_HELD:
				/* level-triggered, also for acceptor-thread's:
				 * holding it re-registered it without ONESHOT
				 */
				held_event(st, fd);
				break;
			}
		}
	}
}

static void watch(struct wstate *st, int fd, enum tag tag, unsigned int flags)
{
	struct epoll_event ev = {
		.events = EPOLLIN | flags,
		.data.u64 = EVDATA(tag, fd),
	};

	if (epoll_ctl(st->ep, EPOLL_CTL_ADD, fd, &ev))
		wdie(st, "epoll_ctl: %s", strerror(errno));
}

static int own_listener(struct wstate *st)
{
	struct rpd_listen_opts lo = { .backlog = BENCH_BACKLOG, .nonblock = 1 };
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(BENCH_PORT),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd, one = 1;

	if (st->w->group) {
		if (rpd_listen(st->w->group, BENCH_ADDR, &lo, &st->rw))
			wdie(st, "%s", rpd_errmsg());
		return rpd_worker_fd(st->rw);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(fd, BENCH_BACKLOG))
		wdie(st, "listener on %s: %s", BENCH_ADDR, strerror(errno));
	return fd;
}

void worker_main(struct wctx *w)
{
	struct wstate st = {
		.w = w,
		.slow = w->id == 0 ? w->cfg->slow : 1,
		.ep = -1,
		.rng = w->cfg->seed ^ (0x5851f42d4c957f2dULL * (w->id + 1)),
	};
	pthread_t t;
	int e;

	st.reply_len = snprintf(st.reply, sizeof(st.reply),
				"HTTP/1.0 200 OK\r\nX-Worker: %d\r\n\r\n", w->id);
	st.hold_reply_len = snprintf(st.hold_reply, sizeof(st.hold_reply),
				     "HTTP/1.1 101 Switching Protocols\r\nX-Worker: %d\r\n\r\n",
				     w->id);
	/* sleeps end when asked, not up to 50 us later: less noise */
	prctl(PR_SET_TIMERSLACK, 1UL);

	if (w->model->kind != WK_BLOCKING) {
		st.ep = epoll_create1(EPOLL_CLOEXEC);
		if (st.ep < 0)
			wdie(&st, "epoll_create1: %s", strerror(errno));
	}
	switch (w->model->kind) {
	case WK_BLOCKING:
		break;
	case WK_EPOLL_SHARED:
		watch(&st, w->lfd, TAG_LISTEN, EPOLLEXCLUSIVE);
		break;
	case WK_OWN_LISTENER:
		w->lfd = own_listener(&st);
		watch(&st, w->lfd, TAG_LISTEN, 0);
		/* one idle worker woken per connection queued there */
		if (w->overflow)
			watch(&st, rpd_worker_fd(w->overflow), TAG_OVERFLOW, EPOLLEXCLUSIVE);
		break;
	case WK_ACCEPTOR:
		e = pthread_create(&t, NULL, acceptor, &st);
		if (e)
			wdie(&st, "pthread_create: %s", strerror(e));
		break;
	case WK_PASSED:
		watch(&st, w->src, TAG_SRC, 0);
		break;
	}
	if (write(w->ready, "r", 1) != 1)
		wdie(&st, "telling the bench it is ready: %s", strerror(errno));
	close(w->ready);

	if (w->model->kind == WK_BLOCKING)
		run_blocking(&st);
	run_epoll(&st);
}

/* ---- master-rr's master ------------------------------------------------------ */

struct fdq {
	int *fd;
	int head, len, cap;
};

static int send_fd(int sock, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u = {};
	struct iovec iov = { .iov_base = "c", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	if (sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
		return 0;
	return -errno;
}

static void fdq_push(struct fdq *q, int fd)
{
	int i, cap, *n;

	if (q->len == q->cap) {
		cap = q->cap ? 2 * q->cap : 64;
		n = malloc(cap * sizeof(*n));
		if (!n)
			errx(1, "master-rr master: out of memory");
		for (i = 0; i < q->len; i++)
			n[i] = q->fd[(q->head + i) % q->cap];
		free(q->fd);
		q->fd = n;
		q->head = 0;
		q->cap = cap;
	}
	q->fd[(q->head + q->len++) % q->cap] = fd;
}

static void want_out(int ep, int sock, int i, bool on)
{
	struct epoll_event ev = {
		.events = on ? EPOLLOUT : 0,
		.data.u64 = EVDATA(TAG_SRC, i),
	};

	if (epoll_ctl(ep, EPOLL_CTL_MOD, sock, &ev))
		err(1, "master-rr master: epoll_ctl");
}

/* Send what is queued for worker @i until its socket is full. */
static void flush(int ep, const int *socks, struct fdq *q, int i)
{
	int e;

	while (q[i].len) {
		e = send_fd(socks[i], q[i].fd[q[i].head]);
		if (e == -EAGAIN)
			return;
		if (e)
			errx(1, "master-rr master: passing a connection to worker %d: %s",
			     i, strerror(-e));
		close(q[i].fd[q[i].head]);
		q[i].head = (q[i].head + 1) % q[i].cap;
		q[i].len--;
	}
	want_out(ep, socks[i], i, false);
}

/*
 * Node.js cluster's default: the master accepts everything and deals the
 * connections out in strict rotation, whatever each worker is doing. A
 * worker's socket holds only a few messages (net.unix.max_dgram_qlen), so
 * the rest wait in a queue here; the master itself never blocks.
 */
void master_main(const struct cfg *c, int lfd, const int *socks, int n,
		 int ready)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];
	struct fdq *q = calloc(n, sizeof(*q));
	unsigned long next = 0;
	int ep, i, k, nev, fd, e;

	(void)c;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || !q)
		err(1, "master-rr master: setup");
	ev.data.u64 = EVDATA(TAG_LISTEN, lfd);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev))
		err(1, "master-rr master: epoll_ctl");
	for (i = 0; i < n; i++) {
		ev.events = 0;
		ev.data.u64 = EVDATA(TAG_SRC, i);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, socks[i], &ev))
			err(1, "master-rr master: epoll_ctl");
	}
	if (write(ready, "r", 1) != 1)
		err(1, "master-rr master: ready");
	close(ready);

	for (;;) {
		nev = epoll_wait(ep, evs, 64, -1);
		if (nev < 0 && errno == EINTR)
			continue;
		if (nev < 0)
			err(1, "master-rr master: epoll_wait");
		for (k = 0; k < nev; k++) {
			if (EV_TAG(evs[k].data.u64) == TAG_SRC) {
				flush(ep, socks, q, EV_FD(evs[k].data.u64));
				continue;
			}
			for (;;) {
				fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
				if (fd < 0 && errno == EAGAIN)
					break;
				if (fd < 0 && rpdu_accept_retry(errno))
					continue;
				if (fd < 0)
					err(1, "master-rr master: accept");
				i = next++ % n;
				if (!q[i].len) {
					e = send_fd(socks[i], fd);
					if (!e) {
						close(fd);
						continue;
					}
					if (e != -EAGAIN)
						errx(1, "master-rr master: passing a connection to worker %d: %s",
						     i, strerror(-e));
					want_out(ep, socks[i], i, true);
				}
				fdq_push(&q[i], fd);
			}
		}
	}
}
