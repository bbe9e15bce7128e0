// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpd-httpd: a prefork HTTP/1.1 server whose workers are members of an rpd
 * group, so every new connection goes to the least-loaded worker.
 *
 * The parent opens the group, forks the workers and restarts those that
 * die; it never listens itself. Each worker creates its own SO_REUSEPORT
 * listener (claiming a slot), may then drop privileges, and answers one
 * request per connection with the slot and pid that served it:
 *
 *	HTTP/1.1 200 OK
 *	Content-Type: text/plain
 *	Content-Length: 7
 *	X-Rpd-Slot: 2
 *	X-Rpd-Pid: 4242
 *	Connection: close
 *
 *	slot 2
 *
 * With --body-bytes N the body goes on after that line with lines of words,
 * the same text in every response, up to N bytes: something for a proxy in
 * front to compress.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rpd.h"
#include "rpd_abi.h"
#include "rpd_util.h"
#include "ex_util.h"

#define REQUEST_MAX		8192
#define CLIENT_TIMEOUT_S	5
/* More worker deaths than this within a second pause restarts for a second. */
#define DEATHS_PER_S		10
#define RESTART_PAUSE_MS	1000
#define BODY_MAX		(1 << 20)

/*
 * How a worker exits. A worker that could not start (address in use,
 * group full, no such user) would fail the same way again, so the parent
 * gives up; after anything else it restarts the worker.
 */
enum {
	WORKER_STOPPED	= 0,	/* on SIGTERM */
	WORKER_NOSTART	= 1,
	WORKER_FAILED	= 3,	/* a serving error after it started */
};

struct worker {
	pid_t pid;		/* 0: free entry */
	int slot;		/* -1: not listening yet */
};

/* What a worker writes to the parent once it listens. */
struct ready_msg {
	pid_t pid;
	int slot;
};

struct server {
	/* command line */
	const char *group, *addr, *bpffs, *user;
	long nr_workers, work_ms, backlog, body_bytes;
	bool burn_cpu, overflow;
	char *text;		/* --body-bytes of text; each body's tail */
	uid_t uid;
	gid_t gid;

	/* parent */
	struct rpd_group *g;
	struct rpd_worker *ovf;	/* --overflow: the queue, every worker's */
	pid_t parent;
	struct worker *workers;
	int sigfd, ready_rd, ready_wr;
	int live;		/* forked and not reaped */
	int listening;		/* of those, said they listen */
	int pending;		/* to fork once restart_at has passed */
	long long restart_at;	/* CLOCK_MONOTONIC, ms */
	long long window_start;
	int window_deaths;
	bool announced, stopping;
	int status;		/* the parent's exit status */
};

static volatile sig_atomic_t stop_requested;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rpd-httpd --group G --listen ADDR:PORT --workers N [OPTIONS]\n"
		"\n"
		"  --group G           rpd group, loaded with 'rpdctl load G'\n"
		"  --listen ADDR:PORT  127.0.0.1:8080, [::1]:8080, *:8080\n"
		"  --workers N         worker processes, 1-%d\n"
		"  --work-ms MS        work per request in ms, 0-60000 (default 0)\n"
		"  --work sleep|cpu    sleep or burn CPU for --work-ms (default sleep)\n"
		"  --user USER         workers drop privileges to USER once listening\n"
		"  --bpffs DIR         bpf filesystem holding the group (default %s)\n"
		"  --backlog B         listen backlog, 1-65535 (default SOMAXCONN)\n"
		"  --body-bytes N      pad the body with text to N bytes, 0-%d\n"
		"                      (default 0: the slot line alone)\n"
		"  --overflow          also an overflow queue every worker takes from once\n"
		"                      free (late binding; the group needs a slot more)\n"
		"  --help              this text\n"
		"\n"
		"Prints 'rpd-httpd: N workers on ADDR:PORT (group G)' once every worker\n"
		"listens; SIGTERM or SIGINT stops the workers and exits 0.\n",
		RPD_MAX_SLOTS, RPD_BPFFS_DEFAULT, BODY_MAX);
}

static long opt_long(const char *opt, const char *s, long min, long max)
{
	long v;

	if (!ex_parse_long(s, min, max, &v))
		usage_error("--%s '%s': must be %ld-%ld", opt, s, min, max);
	return v;
}

static void parse_args(struct server *s, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "group",	required_argument,	NULL, 'g' },
		{ "listen",	required_argument,	NULL, 'l' },
		{ "workers",	required_argument,	NULL, 'n' },
		{ "work-ms",	required_argument,	NULL, 'm' },
		{ "work",	required_argument,	NULL, 'w' },
		{ "user",	required_argument,	NULL, 'u' },
		{ "bpffs",	required_argument,	NULL, 'b' },
		{ "backlog",	required_argument,	NULL, 'q' },
		{ "body-bytes",	required_argument,	NULL, 'y' },
		{ "overflow",	no_argument,		NULL, 'o' },
		{ "help",	no_argument,		NULL, 'h' },
		{}
	};
	struct sockaddr_storage ss;
	const struct passwd *pw;
	const char *why;
	socklen_t len;
	int opt;

	/* only --help has a short form; ':' first: errors are ours to print */
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'g':
			s->group = optarg;
			break;
		case 'l':
			s->addr = optarg;
			break;
		case 'n':
			s->nr_workers = opt_long("workers", optarg, 1, RPD_MAX_SLOTS);
			break;
		case 'm':
			s->work_ms = opt_long("work-ms", optarg, 0, 60000);
			break;
		case 'w':
			if (strcmp(optarg, "sleep") && strcmp(optarg, "cpu"))
				usage_error("--work '%s': must be sleep or cpu", optarg);
			s->burn_cpu = !strcmp(optarg, "cpu");
			break;
		case 'u':
			s->user = optarg;
			break;
		case 'b':
			s->bpffs = optarg;
			break;
		case 'q':
			s->backlog = opt_long("backlog", optarg, 1, 65535);
			break;
		case 'y':
			s->body_bytes = opt_long("body-bytes", optarg, 0, BODY_MAX);
			break;
		case 'o':
			s->overflow = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!s->group || !s->addr || !s->nr_workers)
		usage_error("--group, --listen and --workers are required");
	if (!rpdu_group_name_valid(s->group))
		usage_error("--group '%s': use %s", s->group, RPD_GROUP_NAME_RULE);
	if (rpdu_parse_addr(s->addr, &ss, &len, &why))
		usage_error("--listen '%s': %s", s->addr, why);
	if (s->user) {
		pw = getpwnam(s->user);
		if (!pw)
			usage_error("--user '%s': no such user", s->user);
		s->uid = pw->pw_uid;
		s->gid = pw->pw_gid;
	}
}

/*
 * --body-bytes of text: words from a fixed list picked by a fixed-seed
 * xorshift, in lines of about 72 columns. It compresses about as much as
 * prose or markup does (gzip: about 3 times), neither all repeats nor noise.
 */
static char *make_text(long n)
{
	static const char *const words[] = {
		"the", "of", "and", "a", "to", "in", "is", "you", "that", "it",
		"he", "was", "for", "on", "are", "as", "with", "his", "they",
		"at", "be", "this", "have", "from", "or", "one", "had", "by",
		"word", "but", "not", "what", "all", "were", "we", "when",
		"your", "can", "said", "there", "use", "an", "each", "which",
		"she", "do", "how", "their", "if", "will", "up", "other",
		"about", "out", "many", "then", "them", "these", "so", "some",
		"her", "would", "make", "like", "him", "into", "time", "has",
		"look", "two", "more", "write", "go", "see", "number", "no",
		"way", "could", "people", "my", "than", "first", "water",
		"been", "call", "who", "oil", "its", "now", "find", "long",
		"down", "day", "did", "get", "come", "made", "may", "part",
		"connection", "worker", "listener", "request", "response",
		"balance", "kernel", "socket", "queue", "latency", "server",
	};
	const size_t nr_words = sizeof(words) / sizeof(words[0]);
	unsigned int x = 2463534242u;
	long len = 0, col = 0;
	const char *w;
	char *t;

	t = malloc(n ? n : 1);
	if (!t)
		return NULL;
	while (len < n) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		for (w = words[x % nr_words]; *w && len < n; w++, col++)
			t[len++] = *w;
		if (len < n)
			t[len++] = col++ >= 72 ? '\n' : ' ';
		if (t[len - 1] == '\n')
			col = 0;
	}
	if (n)
		t[n - 1] = '\n';
	return t;
}

/* ---- worker ------------------------------------------------------------ */

static void on_sigterm(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int drop_privileges(const struct server *s)
{
	if (initgroups(s->user, s->gid) || setgid(s->gid) || setuid(s->uid)) {
		warn("worker: dropping privileges to '%s'", s->user);
		return -1;
	}
	/* A worker that is still root by mistake must not serve. */
	if (getuid() != s->uid || geteuid() != s->uid ||
	    getgid() != s->gid || getegid() != s->gid) {
		warnx("worker: still uid %d gid %d after switching to '%s' (uid %d gid %d)",
		      (int)geteuid(), (int)getegid(), s->user, (int)s->uid, (int)s->gid);
		return -1;
	}
	return 0;
}

static void do_work(const struct server *s)
{
	struct timespec ts = {
		.tv_sec = s->work_ms / 1000,
		.tv_nsec = s->work_ms % 1000 * 1000000,
	};
	long long end;

	if (!s->work_ms)
		return;
	if (s->burn_cpu) {
		/* CPU time of this thread: being preempted does not count as work */
		end = ex_now_ns(CLOCK_THREAD_CPUTIME_ID) + s->work_ms * 1000000LL;
		while (ex_now_ns(CLOCK_THREAD_CPUTIME_ID) < end)
			;
		return;
	}
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* "METHOD SP TARGET SP HTTP/1.x CRLF": all this server needs of a request. */
static bool request_line_ok(const char *req, size_t len, bool *head)
{
	const char *eol = memmem(req, len, "\r\n", 2);
	const char *p = req, *target;

	while (p < eol && *p >= 'A' && *p <= 'Z')
		p++;
	if (p == req || p == eol || *p != ' ')
		return false;
	*head = p - req == 4 && !memcmp(req, "HEAD", 4);
	target = ++p;
	while (p < eol && *p > ' ' && *p < 0x7f)
		p++;
	if (p == target || p == eol || *p != ' ')
		return false;
	p++;
	return eol - p == 8 && !memcmp(p, "HTTP/1.", 7) && p[7] >= '0' && p[7] <= '9';
}

/* @iov's @n buffers to @c, all of them unless the client goes away. */
static void write_all(int c, struct iovec *iov, int n)
{
	ssize_t done;

	while (n) {
		done = writev(c, iov, n);
		if (done < 0 && errno == EINTR)
			continue;
		/* the client is gone or stopped reading for 5 s: no one to tell */
		if (done < 0)
			return;
		for (; n && (size_t)done >= iov->iov_len; iov++, n--)
			done -= iov->iov_len;
		if (n) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
}

static void respond(const struct server *s, int c, bool ok, bool head,
		    int slot, pid_t pid)
{
	char body[32], msg[512];
	struct iovec iov[2];
	int blen, len;
	long pad = 0;

	if (ok)
		blen = snprintf(body, sizeof(body), "slot %d\n", slot);
	else
		blen = snprintf(body, sizeof(body), "bad request\n");
	if (ok && s->body_bytes > blen)
		pad = s->body_bytes - blen;
	len = snprintf(msg, sizeof(msg),
		       "HTTP/1.1 %s\r\n"
		       "Content-Type: text/plain\r\n"
		       "Content-Length: %ld\r\n"
		       "X-Rpd-Slot: %d\r\n"
		       "X-Rpd-Pid: %d\r\n"
		       "Connection: close\r\n"
		       "\r\n"
		       "%s",
		       ok ? "200 OK" : "400 Bad Request", blen + pad, slot, (int)pid,
		       head ? "" : body);
	/* one writev(): a second small write would wait for the first's ACK */
	iov[0] = (struct iovec){ .iov_base = msg, .iov_len = len };
	/* the text's tail, which ends its last line */
	iov[1] = (struct iovec){ .iov_base = s->text + (s->body_bytes - pad),
				.iov_len = head ? 0 : pad };
	write_all(c, iov, 2);
}

static void answer(const struct server *s, int c, int slot, pid_t pid)
{
	static const struct timeval tmo = { .tv_sec = CLIENT_TIMEOUT_S };
	char req[REQUEST_MAX], *end = NULL;
	size_t len = 0, from;
	bool ok, head = false;
	ssize_t n;

	/* a client that stops sending or reading must not wedge the worker */
	if (setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)) ||
	    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo))) {
		warn("worker slot %d: client socket timeouts", slot);
		return;
	}
	while (!end && len < sizeof(req)) {
		n = read(c, req + len, sizeof(req) - len);
		if (n < 0 && errno == EINTR)
			continue;
		/* gone, reset, or silent for 5 s: no one to answer */
		if (n <= 0)
			return;
		from = len < 3 ? 0 : len - 3;
		len += n;
		end = memmem(req + from, len - from, "\r\n\r\n", 4);
	}
	/* a request with no end within REQUEST_MAX is malformed too */
	ok = end && request_line_ok(req, end + 2 - req, &head);
	if (ok)
		do_work(s);
	respond(s, c, ok, head, slot, pid);
}

/* The next connection for worker @w, or -1 to look again. With an
 * overflow queue, its own listener first: what is there was bound to it.
 */
static int next_conn(const struct server *s, struct rpd_worker *w,
		     const struct pollfd *pfd, int *failed)
{
	int c = -1;

	if (pfd[0].revents) {
		c = accept4(pfd[0].fd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			return c;
		if (errno != EAGAIN && !rpdu_accept_retry(errno)) {
			warn("worker slot %d: accept", rpd_worker_slot(w));
			*failed = 1;
			return -1;
		}
	}
	if (s->ovf && pfd[1].revents) {
		c = rpd_accept_overflow(w, s->ovf, SOCK_CLOEXEC);
		/* -EAGAIN: another worker was first */
		if (c < 0 && c != -EAGAIN && !rpdu_accept_retry(-c)) {
			warnx("worker slot %d: %s", rpd_worker_slot(w), rpd_errmsg());
			*failed = 1;
		}
	}
	return c;
}

static int serve(const struct server *s, struct rpd_worker *w,
		 const sigset_t *waitmask)
{
	struct pollfd pfd[2] = {
		{ .fd = rpd_worker_fd(w), .events = POLLIN },
		{ .fd = s->ovf ? rpd_worker_fd(s->ovf) : -1, .events = POLLIN },
	};
	int slot = rpd_worker_slot(w), c, failed = 0;
	pid_t pid = getpid();

	/*
	 * SIGTERM is blocked except inside ppoll(): a request in progress
	 * is always finished, and a SIGTERM cannot land between the test of
	 * stop_requested and a blocking accept4() and be lost there.
	 */
	while (!stop_requested) {
		if (ppoll(pfd, s->ovf ? 2 : 1, NULL, waitmask) < 0) {
			if (errno == EINTR)
				continue;
			warn("worker slot %d: poll", slot);
			return WORKER_FAILED;
		}
		c = next_conn(s, w, pfd, &failed);
		if (failed)
			return WORKER_FAILED;
		if (c < 0)
			continue;
		answer(s, c, slot, pid);
		close(c);
		rpd_conn_done(w);
	}
	return WORKER_STOPPED;
}

static int worker_main(struct server *s)
{
	/* non-blocking: the queue's poll may wake it with nothing of its own */
	struct rpd_listen_opts lo = { .backlog = s->backlog, .nonblock = 1 };
	struct sigaction sa = { .sa_handler = on_sigterm };
	struct rpd_worker *w = NULL;
	struct ready_msg msg;
	sigset_t waitmask;
	int ret = WORKER_NOSTART;

	close(s->sigfd);
	close(s->ready_rd);
	/* The parent turns Ctrl-C into a SIGTERM for each worker. The mask
	 * inherited from the parent blocks SIGTERM until serve()'s ppoll().
	 */
	if (signal(SIGINT, SIG_IGN) == SIG_ERR || sigaction(SIGTERM, &sa, NULL) ||
	    sigprocmask(SIG_BLOCK, NULL, &waitmask)) {
		warn("worker: signals");
		goto out;
	}
	sigdelset(&waitmask, SIGTERM);

	if (rpd_listen(s->g, s->addr, &lo, &w)) {
		warnx("worker: %s", rpd_errmsg());
		goto out;
	}
	if (s->user && drop_privileges(s))
		goto out;
	/* after setuid(), which clears it: no worker outlives the parent */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM)) {
		warn("worker: prctl(PR_SET_PDEATHSIG)");
		goto out;
	}
	if (getppid() != s->parent) {
		ret = WORKER_STOPPED;
		goto out;
	}
	msg.pid = getpid();
	msg.slot = rpd_worker_slot(w);
	if (write(s->ready_wr, &msg, sizeof(msg)) != (ssize_t)sizeof(msg)) {
		warn("worker: telling the parent it listens");
		goto out;
	}
	close(s->ready_wr);
	ret = serve(s, w, &waitmask);
out:
	rpd_worker_close(w);
	rpd_group_close(s->g);
	return ret;
}

/* ---- parent -------------------------------------------------------------- */

static long long now_ms(void)
{
	return ex_now_ns(CLOCK_MONOTONIC) / 1000000;
}

static struct worker *find_worker(struct server *s, pid_t pid)
{
	long i;

	for (i = 0; i < s->nr_workers; i++)
		if (s->workers[i].pid == pid)
			return &s->workers[i];
	return NULL;
}

static int start_worker(struct server *s)
{
	struct worker *wk = find_worker(s, 0);
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		exit(worker_main(s));
	wk->pid = pid;
	wk->slot = -1;
	s->live++;
	return 0;
}

static void stop_all(struct server *s, int status)
{
	long i;

	if (s->stopping)
		return;
	s->stopping = true;
	s->status = status;
	s->pending = 0;
	for (i = 0; i < s->nr_workers; i++) {
		if (!s->workers[i].pid)
			continue;
		/*
		 * A stopped worker would hold SIGTERM pending, hence SIGCONT,
		 * and first: sent after, it could land while the exiting
		 * worker is being ptrace-attached (LeakSanitizer does that
		 * at exit) and cancel the attach's SIGSTOP, hanging both.
		 */
		if (kill(s->workers[i].pid, SIGCONT) ||
		    kill(s->workers[i].pid, SIGTERM))
			warn("stopping worker %d", (int)s->workers[i].pid);
	}
}

static void throttle_restarts(struct server *s)
{
	long long now = now_ms();

	if (now - s->window_start >= 1000) {
		s->window_start = now;
		s->window_deaths = 0;
	}
	if (++s->window_deaths == DEATHS_PER_S + 1) {
		s->restart_at = now + RESTART_PAUSE_MS;
		warnx("more than %d worker deaths within a second; pausing restarts for %d ms",
		      DEATHS_PER_S, RESTART_PAUSE_MS);
	}
}

static void reap(struct server *s)
{
	struct worker *wk;
	char how[32];
	int status, slot;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		wk = find_worker(s, pid);
		if (!wk)
			continue;
		slot = wk->slot;
		wk->pid = 0;
		s->live--;
		if (slot >= 0)
			s->listening--;
		if (s->stopping)
			continue;
		/* it said why on stderr */
		if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_NOSTART) {
			stop_all(s, 1);
			continue;
		}
		if (WIFSIGNALED(status))
			snprintf(how, sizeof(how), "signal %d", WTERMSIG(status));
		else
			snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(status));
		if (slot >= 0)
			warnx("worker %d (slot %d) died (%s); restarting", (int)pid, slot, how);
		else
			warnx("worker %d (not listening yet) died (%s); restarting", (int)pid, how);
		s->pending++;
		throttle_restarts(s);
	}
	if (pid < 0 && errno != ECHILD)
		warn("waitpid");
}

static void read_ready(struct server *s)
{
	struct ready_msg msg;
	struct worker *wk;
	ssize_t n;

	/* messages are PIPE_BUF-atomic: a read gets one whole or none */
	while ((n = read(s->ready_rd, &msg, sizeof(msg))) == (ssize_t)sizeof(msg)) {
		wk = find_worker(s, msg.pid);
		if (!wk || wk->slot >= 0)
			continue;
		wk->slot = msg.slot;
		s->listening++;
	}
	if (n < 0 && errno != EAGAIN)
		err(1, "reading the ready pipe");
	if (s->listening == s->nr_workers && !s->announced && !s->stopping) {
		s->announced = true;
		printf("rpd-httpd: %ld workers on %s (group %s)\n",
		       s->nr_workers, s->addr, s->group);
		if (fflush(stdout))
			warn("stdout");
	}
}

static void read_signal(struct server *s)
{
	struct signalfd_siginfo si;

	if (read(s->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		err(1, "reading the signalfd");
	if (si.ssi_signo == SIGCHLD)
		reap(s);
	else
		stop_all(s, 0);
}

static int supervise(struct server *s)
{
	struct pollfd pfd[2] = {
		{ .fd = s->ready_rd, .events = POLLIN },
		{ .fd = s->sigfd, .events = POLLIN },
	};
	long long wait;
	int ret;

	s->pending = s->nr_workers;
	while (!s->stopping || s->live) {
		wait = -1;
		while (s->pending && !s->stopping) {
			wait = s->restart_at - now_ms();
			if (wait > 0)
				break;
			ret = start_worker(s);
			if (!ret) {
				s->pending--;
				wait = -1;
				continue;
			}
			if (!s->announced) {
				warnx("fork: %s", strerror(-ret));
				stop_all(s, 1);
				wait = -1;
				break;
			}
			warnx("fork: %s; retrying in %d ms", strerror(-ret), RESTART_PAUSE_MS);
			s->restart_at = now_ms() + RESTART_PAUSE_MS;
		}
		if (poll(pfd, 2, (int)wait) < 0)
			err(1, "poll");
		/* ready messages first: a worker writes its own before it can die */
		if (pfd[0].revents & POLLIN)
			read_ready(s);
		if (pfd[1].revents & POLLIN)
			read_signal(s);
	}
	return s->status;
}

static int run(struct server *s)
{
	struct sigaction old;
	int fds[2], ret = 1;
	sigset_t mask;

	s->parent = getpid();
	s->sigfd = s->ready_rd = s->ready_wr = -1;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	if (sigaction(SIGINT, NULL, &old)) {
		warn("sigaction");
		return 1;
	}
	/* A shell starts background jobs with SIGINT ignored; keep it so. */
	if (old.sa_handler != SIG_IGN)
		sigaddset(&mask, SIGINT);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
	    sigprocmask(SIG_BLOCK, &mask, NULL)) {
		warn("signals");
		return 1;
	}
	s->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (s->sigfd < 0) {
		warn("signalfd");
		goto cleanup;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK)) {
		warn("pipe");
		goto cleanup;
	}
	s->ready_rd = fds[0];
	s->ready_wr = fds[1];
	s->workers = calloc(s->nr_workers, sizeof(*s->workers));
	if (!s->workers) {
		warnx("out of memory for %ld workers", s->nr_workers);
		goto cleanup;
	}
	ret = supervise(s);
cleanup:
	free(s->workers);
	if (s->ready_wr >= 0)
		close(s->ready_wr);
	if (s->ready_rd >= 0)
		close(s->ready_rd);
	if (s->sigfd >= 0)
		close(s->sigfd);
	return ret;
}

int main(int argc, char **argv)
{
	struct server s = {};
	int ret;

	/* one write() per message: workers report side by side on one stderr */
	setvbuf(stderr, NULL, _IOLBF, 0);
	parse_args(&s, argc, argv);
	s.text = make_text(s.body_bytes);
	if (!s.text)
		errx(1, "out of memory for --body-bytes %ld", s.body_bytes);
	if (rpd_group_open(s.group, s.bpffs, &s.g))
		errx(1, "%s", rpd_errmsg());
	if (s.nr_workers + s.overflow > rpd_group_nr_slots(s.g)) {
		warnx("--workers %ld%s: group '%s' has %d slots; load it with a larger --max-workers",
		      s.nr_workers, s.overflow ? " and --overflow" : "", s.group,
		      rpd_group_nr_slots(s.g));
		rpd_group_close(s.g);
		free(s.text);
		return 1;
	}
	if (s.overflow) {
		struct rpd_listen_opts lo = { .backlog = s.backlog };

		/* before any worker forks: each inherits it */
		if (rpd_listen_overflow(s.g, s.addr, &lo, &s.ovf)) {
			warnx("%s", rpd_errmsg());
			rpd_group_close(s.g);
			free(s.text);
			return 1;
		}
	}
	ret = run(&s);
	rpd_worker_close(s.ovf);
	rpd_group_close(s.g);
	free(s.text);
	return ret;
}
