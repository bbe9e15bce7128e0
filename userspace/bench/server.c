// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One model's server: the listener(s), the rpd group, the worker processes
 * and master-rr's master. Workers are started one after another, each once
 * the previous one is ready, so the order they register in (which decides
 * EPOLLEXCLUSIVE's wake order) is always worker 0, 1, 2, ...
 *
 * Every child dies with the bench (PR_SET_PDEATHSIG) and is SIGKILLed and
 * reaped by server_stop(), so no exit path leaves a process behind.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "rpd.h"
#include "rpd_epoll_fifo.h"
#include "bench.h"

#define READY_TIMEOUT_MS	10000

struct server {
	const struct cfg *cfg;
	enum model_id m;
	int npids;
	pid_t pids[BENCH_MAX_WORKERS + 1];
	bool loaded;		/* the rpd group */
	int fifo_ctl;
	/* rpd-overflow: the queue's slot is held here, as a prefork
	 * parent holds it, with the group it lives in
	 */
	struct rpd_group *g;
	struct rpd_worker *ovf;
};

static struct server *running;

const struct model models[M_NR] = {
	[M_SHARED_BLOCKING] = {
		.name = "shared-blocking", .kind = WK_BLOCKING,
		.about = "one listener, workers block in accept() (FIFO wake order)",
	},
	[M_SHARED_EPOLL] = {
		.name = "shared-epoll", .kind = WK_EPOLL_SHARED,
		.about = "one non-blocking listener in each worker's epoll, EPOLLEXCLUSIVE (nginx)",
	},
	[M_SHARED_EPOLL_JITTER] = {
		.name = "shared-epoll-jitter", .kind = WK_EPOLL_SHARED, .jitter = true,
		.about = "shared-epoll, a woken idle worker pauses 0-20 ms before accept()",
	},
	[M_REUSEPORT_HASH] = {
		.name = "reuseport-hash", .kind = WK_OWN_LISTENER,
		.about = "a SO_REUSEPORT listener per worker, the kernel's 4-tuple hash",
	},
	[M_ACCEPTOR_THREAD] = {
		.name = "acceptor-thread", .kind = WK_ACCEPTOR,
		.about = "one listener; a thread per worker accepts into its epoll (EPOLLONESHOT)",
	},
	[M_MASTER_RR] = {
		.name = "master-rr", .kind = WK_PASSED,
		.about = "a master accepts and passes fds round-robin over unix sockets (Node.js cluster)",
	},
	[M_RPD_LEAST_CONN] = {
		.name = "rpd-least-conn", .kind = WK_OWN_LISTENER, .policy = "least-conn",
		.about = "rpd, policy least-conn (fewest connections in flight)",
	},
	[M_RPD_P2C] = {
		.name = "rpd-p2c", .kind = WK_OWN_LISTENER, .policy = "p2c",
		.about = "rpd, policy p2c (the better of two random workers)",
	},
	[M_RPD_ROUND_ROBIN] = {
		.name = "rpd-round-robin", .kind = WK_OWN_LISTENER, .policy = "round-robin",
		.about = "rpd, policy round-robin",
	},
	[M_RPD_OVERFLOW] = {
		.name = "rpd-overflow", .kind = WK_OWN_LISTENER, .policy = "least-conn",
		.overflow = true,
		.about = "rpd least-conn, and an overflow queue every worker takes from when it frees",
	},
	[M_SHARED_EPOLL_FIFO] = {
		.name = "shared-epoll-fifo", .kind = WK_EPOLL_SHARED, .fifo = true,
		.about = "shared-epoll with FIFO wake order from the rpd_epoll_fifo module",
	},
};

static int shared_listener(bool nonblock)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(BENCH_PORT),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(fd, BENCH_BACKLOG)) {
		one = -errno;
		close(fd);
		return one;
	}
	return fd;
}

/* The model's kernel module, or why it cannot run. */
static int fifo_open(char *why, size_t len)
{
	int fd;

	if (access(RPD_EFIFO_DEV, F_OK)) {
		if (access("/proc/modules", F_OK))
			snprintf(why, len, "%s missing (module not loaded; this kernel has no module support)",
				 RPD_EFIFO_DEV);
		else
			snprintf(why, len, "%s missing (module not loaded: insmod rpd_epoll_fifo.ko)",
				 RPD_EFIFO_DEV);
		return -1;
	}
	fd = open(RPD_EFIFO_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		snprintf(why, len, "%s: %s", RPD_EFIFO_DEV, strerror(errno));
	return fd;
}

/* Wait for the byte a child writes once it is ready; false if it died. */
static bool wait_ready(int rd)
{
	struct pollfd pfd = { .fd = rd, .events = POLLIN };
	char b;

	if (poll(&pfd, 1, READY_TIMEOUT_MS) != 1)
		return false;
	return read(rd, &b, 1) == 1;
}

/* Fork a child of the server: 0 in the child, which reports on *@ready_wr;
 * its pid in the parent, which waits on *@ready_rd.
 */
static pid_t spawn(struct server *s, int *ready_rd, int *ready_wr)
{
	pid_t parent = getpid(), pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		/* the bench decides when its servers stop */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(1);
		*ready_wr = p[1];
		return 0;
	}
	close(p[1]);
	*ready_rd = p[0];
	s->pids[s->npids++] = pid;
	return pid;
}

struct server *server_start(const struct cfg *c, enum model_id m,
			    char *why, size_t whylen, bool *fatal)
{
	const struct model *mod = &models[m];
	int socks[BENCH_MAX_WORKERS][2], nsocks = 0;
	struct rpd_group *g = NULL;
	struct server *s;
	int lfd = -1, rd, wr, i, j;
	pid_t pid;

	*fatal = false;
	why[0] = '\0';
	s = calloc(1, sizeof(*s));
	if (!s)
		errx(1, "out of memory");
	s->cfg = c;
	s->m = m;
	s->fifo_ctl = -1;
	running = s;

	if (mod->fifo) {
		s->fifo_ctl = fifo_open(why, whylen);
		if (s->fifo_ctl < 0)
			goto fail;
	}
	if (mod->policy) {
		char n[16];
		const char *args[] = { "load", BENCH_GROUP, "--policy", mod->policy,
				       "--max-workers", n, NULL };

		/* as many slots as workers (and the overflow queue): the
		 * program scans every slot
		 */
		snprintf(n, sizeof(n), "%d", c->workers + (mod->overflow ? 1 : 0));
		if (rpdctl_run(c, args)) {
			snprintf(why, whylen, "cannot load the rpd group");
			*fatal = true;
			goto fail;
		}
		s->loaded = true;
		if (rpd_group_open(BENCH_GROUP, c->bpffs, &g)) {
			snprintf(why, whylen, "%s", rpd_errmsg());
			*fatal = true;
			goto fail;
		}
		if (mod->overflow) {
			struct rpd_listen_opts lo = { .backlog = BENCH_BACKLOG };

			if (rpd_listen_overflow(g, BENCH_ADDR, &lo, &s->ovf)) {
				snprintf(why, whylen, "%s", rpd_errmsg());
				*fatal = true;
				goto fail;
			}
		}
	}
	if (mod->kind != WK_OWN_LISTENER) {
		/* the master and the epoll models must never block in accept */
		lfd = shared_listener(mod->kind == WK_EPOLL_SHARED || mod->kind == WK_PASSED);
		if (lfd < 0) {
			snprintf(why, whylen, "listener on %s: %s", BENCH_ADDR, strerror(-lfd));
			*fatal = true;
			goto fail;
		}
	}
	if (mod->fifo && ioctl(s->fifo_ctl, RPD_EFIFO_ADD, lfd)) {
		snprintf(why, whylen, "ioctl(RPD_EFIFO_ADD): %s", strerror(errno));
		goto fail;
	}
	if (mod->kind == WK_PASSED) {
		for (nsocks = 0; nsocks < c->workers; nsocks++) {
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				       socks[nsocks])) {
				snprintf(why, whylen, "socketpair: %s", strerror(errno));
				*fatal = true;
				goto fail;
			}
		}
	}

	for (i = 0; i < c->workers; i++) {
		pid = spawn(s, &rd, &wr);
		if (pid < 0) {
			snprintf(why, whylen, "fork: %s", strerror(errno));
			*fatal = true;
			goto fail;
		}
		if (pid == 0) {
			struct wctx w = {
				.cfg = c, .model = mod, .id = i, .lfd = lfd,
				.src = -1, .ready = wr, .group = g,
				.overflow = s->ovf,
			};

			for (j = 0; j < nsocks; j++) {
				close(socks[j][0]);
				if (j != i)
					close(socks[j][1]);
			}
			if (nsocks) {
				w.src = socks[i][1];
				close(lfd);
				w.lfd = -1;
			}
			if (s->fifo_ctl >= 0)
				close(s->fifo_ctl);
			worker_main(&w);
		}
		if (!wait_ready(rd)) {
			close(rd);
			snprintf(why, whylen, "worker %d did not start", i);
			*fatal = true;
			goto fail;
		}
		close(rd);
	}
	if (mod->kind == WK_PASSED) {
		int msocks[BENCH_MAX_WORKERS];

		pid = spawn(s, &rd, &wr);
		if (pid < 0) {
			snprintf(why, whylen, "fork: %s", strerror(errno));
			*fatal = true;
			goto fail;
		}
		if (pid == 0) {
			for (j = 0; j < nsocks; j++) {
				close(socks[j][1]);
				msocks[j] = socks[j][0];
			}
			master_main(c, lfd, msocks, nsocks, wr);
		}
		if (!wait_ready(rd)) {
			close(rd);
			snprintf(why, whylen, "the master did not start");
			*fatal = true;
			goto fail;
		}
		close(rd);
	}
	/* the children hold what they need */
	for (j = 0; j < nsocks; j++) {
		close(socks[j][0]);
		close(socks[j][1]);
	}
	if (lfd >= 0)
		close(lfd);
	if (s->ovf)
		s->g = g;
	else
		rpd_group_close(g);
	return s;

fail:
	for (j = 0; j < nsocks; j++) {
		close(socks[j][0]);
		close(socks[j][1]);
	}
	if (lfd >= 0)
		close(lfd);
	if (s->ovf)
		s->g = g;
	else
		rpd_group_close(g);
	server_stop(s);
	return NULL;
}

void server_stop(struct server *s)
{
	const char *args[] = { "unload", BENCH_GROUP, NULL };
	int i;

	if (!s)
		return;
	for (i = 0; i < s->npids; i++)
		kill(s->pids[i], SIGKILL);
	for (i = 0; i < s->npids; i++)
		while (waitpid(s->pids[i], NULL, 0) < 0 && errno == EINTR)
			;
	s->npids = 0;
	rpd_worker_close(s->ovf);
	rpd_group_close(s->g);
	if (s->loaded)
		rpdctl_run(s->cfg, args);
	if (s->fifo_ctl >= 0)
		close(s->fifo_ctl);
	if (running == s)
		running = NULL;
	free(s);
}

void server_kill_all(void)
{
	int i;

	if (!running)
		return;
	for (i = 0; i < running->npids; i++)
		kill(running->pids[i], SIGKILL);
	for (i = 0; i < running->npids; i++)
		waitpid(running->pids[i], NULL, 0);
	running->npids = 0;
}
