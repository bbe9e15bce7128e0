// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpdctl attach/detach on a server that knows nothing of rpd: a prefork
 * process tree laid out as nginx does it with 'reuseport' (the master
 * holds every listener, each worker only its own), and in-kernel counting
 * of the ends of its connections.
 *
 * The listeners are made here before the server forks, so this process
 * holds the same sockets and accepts on them to see which worker a
 * connection went to; the server's processes only hold them.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include "kselftest_harness.h"
#include "json.h"
#include "rpd.h"
#include "rpd_test.h"
#include "rpd_expect.h"
#include "rpd_util.h"

#define NW		4
#define ADDR		"127.0.0.1:8080"
#define PLAIN_ADDR	"127.0.0.1:8081"	/* a listener without SO_REUSEPORT */

FIXTURE(attach) {
	char bpffs[64];
	int lfd[NW];
	int plain;
	pid_t server;
	pid_t workers[NW];
	struct rpd_group *g;
	struct rpd_worker *w;
	struct rpdt_out o;
};

static int listener(const char *addr, bool reuseport)
{
	struct sockaddr_storage ss;
	const char *why;
	socklen_t len;
	int fd, one = 1;

	if (rpdu_parse_addr(addr, &ss, &len, &why))
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if ((reuseport &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 128)) {
		one = -errno;
		close(fd);
		return one;
	}
	return fd;
}

static volatile sig_atomic_t respawn;

static void on_usr1(int sig)
{
	(void)sig;
	respawn = 1;
}

/* A worker holds only its own listener, as nginx's do. */
static pid_t spawn_worker(const int *lfd, int me)
{
	pid_t pid = fork();
	int i;

	if (pid)
		return pid;
	for (i = 0; i < NW; i++)
		if (i != me)
			close(lfd[i]);
	for (;;)
		pause();
}

/* The master: NW workers; SIGUSR1 replaces worker 0 (a restarted
 * worker, serving the same listener under a new pid).
 */
static pid_t spawn_server(const int *lfd, int plain, int ready)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	pid_t pid = fork(), w[NW];
	int i;

	if (pid)
		return pid;
	(void)plain;	/* held open, unused: a listener attach must refuse */
	/* its own process group, so teardown reaches every worker it made */
	setpgid(0, 0);
	sigaction(SIGUSR1, &sa, NULL);
	for (i = 0; i < NW; i++)
		w[i] = spawn_worker(lfd, i);
	if (write(ready, w, sizeof(w)) != sizeof(w))
		_exit(1);
	for (;;) {
		pause();
		if (!respawn)
			continue;
		respawn = 0;
		kill(w[0], SIGKILL);
		waitpid(w[0], NULL, 0);
		w[0] = spawn_worker(lfd, 0);
		if (write(ready, w, sizeof(w)) != sizeof(w))
			_exit(1);
	}
}

FIXTURE_SETUP(attach)
{
	int i, p[2];

	self->server = -1;
	ASSERT_EQ(0, rpdt_sandbox(self->bpffs, sizeof(self->bpffs)));
	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 16, "least-conn"));
	for (i = 0; i < NW; i++) {
		self->lfd[i] = listener(ADDR, true);
		ASSERT_LE(0, self->lfd[i]);
	}
	self->plain = listener(PLAIN_ADDR, false);
	ASSERT_LE(0, self->plain);
	ASSERT_EQ(0, pipe(p));
	self->server = spawn_server(self->lfd, self->plain, p[1]);
	ASSERT_LT(0, self->server);
	close(p[1]);
	ASSERT_EQ(sizeof(self->workers), read(p[0], self->workers, sizeof(self->workers)));
	close(p[0]);
}

FIXTURE_TEARDOWN(attach)
{
	if (self->server > 0) {
		kill(-self->server, SIGKILL);
		waitpid(self->server, NULL, 0);
	}
	rpd_worker_close(self->w);
	rpd_group_close(self->g);
	rpdt_sandbox_done(self->bpffs);
}

#define CTL(...)	ASSERT_EQ(0, rpdt_ctl(&self->o, self->bpffs, __VA_ARGS__, NULL))
#define CTL_OK(...) do {							\
	CTL(__VA_ARGS__);							\
	ASSERT_EQ(0, self->o.status) TH_LOG("%s: %s", #__VA_ARGS__, self->o.err); \
	EXPECT_STREQ("", self->o.err);						\
} while (0)

static const char *pidstr(pid_t pid)
{
	static char buf[4][16];
	static int n;

	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]), "%d", pid);
	return buf[n];
}

static struct json_value *doc_of(struct __test_metadata *_metadata,
				 const struct rpdt_out *o)
{
	struct json_value *doc;
	char err[128];

	doc = json_parse(o->out, strlen(o->out), err, sizeof(err));
	if (!doc)
		TH_LOG("%s in: %s", err, o->out);
	return doc;
}

static double num(const struct json_value *doc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static double num(const struct json_value *doc, const char *fmt, ...)
{
	char path[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return json_num(doc, path);
}

static const char *str(const struct json_value *doc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *str(const struct json_value *doc, const char *fmt, ...)
{
	char path[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return json_str(doc, path);
}

static const char *fmt_path(const char *fmt, int k)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), fmt, k);
	return buf;
}

/* slot of listener i, from 'show -j' */
static void slots_of(struct __test_metadata *_metadata, FIXTURE_DATA(attach) *self,
		     int *slot, pid_t *pid)
{
	struct json_value *doc;
	int i, k, n;

	CTL_OK("-j", "show", "t");
	doc = doc_of(_metadata, &self->o);
	ASSERT_NE(NULL, doc);
	n = json_len(doc, "groups[0].slots");
	for (i = 0; i < NW; i++) {
		slot[i] = -1;
		for (k = 0; k < n; k++) {
			if (num(doc, "groups[0].slots[%d].cookie", k) != rpdt_cookie(self->lfd[i]))
				continue;
			slot[i] = num(doc, "groups[0].slots[%d].slot", k);
			pid[i] = num(doc, "groups[0].slots[%d].pid", k);
			EXPECT_STREQ("attached", str(doc, "groups[0].slots[%d].owner", k));
			EXPECT_EQ(self->server, num(doc, "groups[0].slots[%d].holder", k));
		}
	}
	json_free(doc);
}

/* In flight per listener, from 'stats -j' */
static void inflight(struct __test_metadata *_metadata, FIXTURE_DATA(attach) *self,
		     const int *slot, int *out)
{
	struct json_value *doc;
	int i, k, n;

	CTL_OK("-j", "stats", "t");
	doc = doc_of(_metadata, &self->o);
	ASSERT_NE(NULL, doc);
	n = json_len(doc, "slots");
	for (i = 0; i < NW; i++) {
		out[i] = -1;
		for (k = 0; k < n; k++)
			if (num(doc, "slots[%d].slot", k) == slot[i])
				out[i] = num(doc, "slots[%d].inflight", k);
	}
	json_free(doc);
}

/* The kernel counts an end in softirq context, after close() may have
 * returned: wait, boundedly, for listener @i to show @want in flight.
 */
static int wait_inflight(struct __test_metadata *_metadata,
			 FIXTURE_DATA(attach) *self, const int *slot, int i, int want)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int n[NW], tries;

	for (tries = 0; tries < 300; tries++) {
		inflight(_metadata, self, slot, n);
		if (n[i] == want)
			return want;
		nanosleep(&ts, NULL);
	}
	return n[i];
}

/* One connection, accepted here and kept open: its listener's index. */
static int connect_one(FIXTURE_DATA(attach) *self, int *client, int *server)
{
	int which = -1;

	*client = rpdt_connect(ADDR, 0);
	if (*client < 0)
		return *client;
	*server = rpdt_accept_any(self->lfd, NW, 2000, &which);
	if (*server < 0)
		return *server;
	return which;
}

TEST_F(attach, fills_slots_and_names_the_workers)
{
	struct json_value *doc;
	int slot[NW], i, k;
	pid_t pid[NW];

	CTL_OK("-j", "attach", "t", "--pid", pidstr(self->server), "--listen", ADDR);
	doc = doc_of(_metadata, &self->o);
	ASSERT_NE(NULL, doc);
	EXPECT_STREQ("t", str(doc, "group"));
	EXPECT_EQ(1, json_get_bool(doc, "ok"));
	EXPECT_EQ(self->server, num(doc, "pid"));
	ASSERT_EQ(NW, json_len(doc, "slots"));
	for (k = 0; k < NW; k++) {
		EXPECT_EQ(1, json_get_bool(doc, fmt_path("slots[%d].new", k)));
		EXPECT_STREQ(ADDR, str(doc, "slots[%d].address", k));
	}
	json_free(doc);

	slots_of(_metadata, self, slot, pid);
	for (i = 0; i < NW; i++) {
		EXPECT_LE(0, slot[i]) TH_LOG("listener %d has no slot", i);
		EXPECT_EQ(self->workers[i], pid[i]) TH_LOG("listener %d", i);
	}

	/* again: nothing new, same slots */
	CTL_OK("attach", "t", "--pid", pidstr(self->server));
	for (i = 0; i < NW; i++) {
		char want[256];

		snprintf(want, sizeof(want),
			 "group 't': slot %d %s socket %llu, worker %d (already attached)\n",
			 slot[i], ADDR, (unsigned long long)rpdt_cookie(self->lfd[i]),
			 self->workers[i]);
		EXPECT_NE(NULL, strstr(self->o.out, want)) TH_LOG("no '%s' in %s", want, self->o.out);
	}
	CTL_OK("-j", "show", "t");
	doc = doc_of(_metadata, &self->o);
	ASSERT_NE(NULL, doc);
	EXPECT_EQ(NW, num(doc, "groups[0].slots_in_use"));
	json_free(doc);
}

/* The end tracker runs on every TCP state change of the host: only a
 * group with attached slots pays for it, from its first attach to unload.
 */
TEST_F(attach, links_the_end_tracker_on_first_attach)
{
	char path[256];
	__u32 tracker;

	snprintf(path, sizeof(path), "%s/rpd/t/track", self->bpffs);
	tracker = rpdt_pinned_prog(self->bpffs, "t", "tracker", false);
	ASSERT_NE(0, tracker);
	EXPECT_EQ(-1, access(path, F_OK)) TH_LOG("%s exists before any attach", path);

	/* a refused attach links nothing */
	CTL("attach", "t", "--pid", pidstr(self->server), "--listen", PLAIN_ADDR);
	EXPECT_EQ(1, self->o.status);
	EXPECT_EQ(-1, access(path, F_OK)) TH_LOG("%s exists after a failed attach", path);

	CTL_OK("attach", "t", "--pid", pidstr(self->server), "--listen", ADDR);
	EXPECT_EQ(tracker, rpdt_pinned_prog(self->bpffs, "t", "track", true));
	/* a second attach keeps the one link, a detach leaves it */
	CTL_OK("attach", "t", "--pid", pidstr(self->server));
	EXPECT_EQ(tracker, rpdt_pinned_prog(self->bpffs, "t", "track", true));
	CTL_OK("detach", "t");
	EXPECT_EQ(tracker, rpdt_pinned_prog(self->bpffs, "t", "track", true));

	CTL_OK("unload", "t");
	EXPECT_EQ(-1, access(path, F_OK));
	EXPECT_EQ(0, rpdt_pinned_prog(self->bpffs, "t", "tracker", false));
}

/* The server never reports: least-conn still sees each end. */
TEST_F(attach, least_conn_counts_ends_in_the_kernel)
{
	int slot[NW], count[NW] = {}, n[NW], i, which;
	int cli[3 * NW + 3], srv[3 * NW + 3];
	pid_t pid[NW];

	CTL_OK("attach", "t", "--pid", pidstr(self->server));
	slots_of(_metadata, self, slot, pid);

	/* one at a time, all kept open: least-conn fills every slot evenly */
	for (i = 0; i < 3 * NW; i++) {
		which = connect_one(self, &cli[i], &srv[i]);
		ASSERT_LE(0, which) TH_LOG("connection %d: %s", i, strerror(-which));
		count[which]++;
		srv[i] = srv[i] | which << 16;
	}
	for (i = 0; i < NW; i++)
		EXPECT_EQ(3, count[i]) TH_LOG("listener %d", i);
	inflight(_metadata, self, slot, n);
	for (i = 0; i < NW; i++)
		EXPECT_EQ(3, n[i]) TH_LOG("listener %d", i);

	/* listener 2's connections end: served and closed on both sides */
	for (i = 0; i < 3 * NW; i++) {
		if (srv[i] >> 16 != 2)
			continue;
		close(srv[i] & 0xffff);
		close(cli[i]);
		srv[i] = -1;
	}
	EXPECT_EQ(0, wait_inflight(_metadata, self, slot, 2, 0));
	/* so the next three go to it */
	for (i = 3 * NW; i < 3 * NW + 3; i++) {
		which = connect_one(self, &cli[i], &srv[i]);
		EXPECT_EQ(2, which);
		srv[i] = srv[i] | which << 16;
	}
	/* a connection reset before accept() ends too */
	for (i = 0; i < NW; i++)
		count[i] = 0;
	{
		int c = rpdt_connect(ADDR, 0), tries;

		ASSERT_LE(0, c);
		/* least-conn: every slot ties at 3, so any one took it */
		for (tries = 0; tries < 300; tries++) {
			inflight(_metadata, self, slot, n);
			if (n[0] + n[1] + n[2] + n[3] == 4 * 3 + 1)
				break;
			usleep(10000);
		}
		EXPECT_EQ(4 * 3 + 1, n[0] + n[1] + n[2] + n[3]);
		rpdt_abort(c);
		for (tries = 0; tries < 300; tries++) {
			inflight(_metadata, self, slot, n);
			if (n[0] + n[1] + n[2] + n[3] == 4 * 3)
				break;
			usleep(10000);
		}
		EXPECT_EQ(4 * 3, n[0] + n[1] + n[2] + n[3]);
	}
	for (i = 0; i < 3 * NW + 3; i++) {
		if (srv[i] < 0)
			continue;
		close(srv[i] & 0xffff);
		close(cli[i]);
	}
	for (i = 0; i < NW; i++)
		EXPECT_EQ(0, wait_inflight(_metadata, self, slot, i, 0)) TH_LOG("listener %d", i);
}

/* A librpd worker and attached listeners in one group and one address:
 * the worker's ends are its own reports, never counted twice.
 */
TEST_F(attach, librpd_and_attached_share_a_group)
{
	int lfds[NW + 1], cli[NW + 1], srv[NW + 1], i, which;
	struct rpd_slot s;
	int slot[NW];
	pid_t pid[NW];

	ASSERT_EQ(0, rpd_group_open("t", self->bpffs, &self->g)) TH_LOG("%s", rpd_errmsg());
	ASSERT_EQ(0, rpd_listen(self->g, ADDR, NULL, &self->w)) TH_LOG("%s", rpd_errmsg());
	CTL_OK("attach", "t", "--pid", pidstr(self->server));
	slots_of(_metadata, self, slot, pid);

	for (i = 0; i < NW; i++)
		lfds[i] = self->lfd[i];
	lfds[NW] = rpd_worker_fd(self->w);
	/* one each, kept open */
	for (i = 0; i < NW + 1; i++) {
		cli[i] = rpdt_connect(ADDR, 0);
		ASSERT_LE(0, cli[i]);
		srv[i] = rpdt_accept_any(lfds, NW + 1, 2000, &which);
		ASSERT_LE(0, srv[i]);
		srv[i] |= which << 16;
	}
	/* the librpd worker's connection ends, and it says so once */
	for (i = 0; i < NW + 1; i++) {
		if (srv[i] >> 16 != NW)
			continue;
		close(srv[i] & 0xffff);
		close(cli[i]);
		rpd_conn_done(self->w);
		srv[i] = -1;
	}
	/* the next one goes to it, the only slot with nothing in flight */
	{
		int c = rpdt_connect(ADDR, 0), a;

		ASSERT_LE(0, c);
		a = rpdt_accept_any(lfds, NW + 1, 2000, &which);
		ASSERT_LE(0, a);
		EXPECT_EQ(NW, which);
		close(a);
		close(c);
	}
	for (i = 0; i < NW + 1; i++) {
		if (srv[i] < 0)
			continue;
		close(srv[i] & 0xffff);
		close(cli[i]);
	}
	/* attached ones reach 0 through the kernel; the librpd slot counts
	 * only what its worker reported: 1 finished of 2
	 */
	for (i = 0; i < NW; i++)
		EXPECT_EQ(0, wait_inflight(_metadata, self, slot, i, 0)) TH_LOG("listener %d", i);
	ASSERT_EQ(0, rpdt_slot(self->bpffs, "t", rpd_worker_slot(self->w), &s));
	EXPECT_EQ(2, s.dispatched);
	EXPECT_EQ(1, s.finished);
	EXPECT_EQ(0, s.flags);
}

TEST_F(attach, detach_gives_the_group_back_to_the_kernel)
{
	struct rpd_counters before, after;
	struct json_value *doc;
	int i, c, a, which;

	CTL_OK("attach", "t", "--pid", pidstr(self->server));
	CTL_OK("-j", "detach", "t");
	doc = doc_of(_metadata, &self->o);
	ASSERT_NE(NULL, doc);
	ASSERT_EQ(NW, json_len(doc, "slots"));
	for (i = 0; i < NW; i++)
		EXPECT_EQ(1, json_get_bool(doc, fmt_path("slots[%d].unhooked", i)));
	json_free(doc);
	CTL_OK("-j", "show", "t");
	doc = doc_of(_metadata, &self->o);
	ASSERT_NE(NULL, doc);
	EXPECT_EQ(0, num(doc, "groups[0].slots_in_use"));
	json_free(doc);

	/* the program no longer runs: not even a fallback is counted */
	ASSERT_EQ(0, rpdt_counters(self->bpffs, "t", &before));
	for (i = 0; i < 8; i++) {
		c = rpdt_connect(ADDR, 0);
		ASSERT_LE(0, c);
		a = rpdt_accept_any(self->lfd, NW, 2000, &which);
		ASSERT_LE(0, a);
		close(a);
		close(c);
	}
	ASSERT_EQ(0, rpdt_counters(self->bpffs, "t", &after));
	EXPECT_EQ(before.selected, after.selected);
	EXPECT_EQ(before.fallback, after.fallback);

	CTL("detach", "t");
	expect_error(_metadata, &self->o, 1, "group 't' has no attached slot; see 'rpdctl show t'");
	/* and it can be attached again */
	CTL_OK("attach", "t", "--pid", pidstr(self->server));
}

TEST_F(attach, follow_picks_up_a_restarted_worker)
{
	int slot[NW], tries;
	pid_t pid[NW], before, follower;
	char bin[512];

	CTL_OK("attach", "t", "--pid", pidstr(self->server));
	slots_of(_metadata, self, slot, pid);
	before = pid[0];

	snprintf(bin, sizeof(bin), "%s/rpdctl", rpdt_build_dir());
	follower = fork();
	ASSERT_LE(0, follower);
	if (!follower) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execl(bin, "rpdctl", "--bpffs", self->bpffs, "attach", "t",
		      "--pid", pidstr(self->server), "--follow", (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(0, kill(self->server, SIGUSR1));
	for (tries = 0; tries < 100; tries++) {
		slots_of(_metadata, self, slot, pid);
		if (pid[0] != before)
			break;
		usleep(50000);
	}
	kill(follower, SIGTERM);
	waitpid(follower, NULL, 0);
	EXPECT_NE(before, pid[0]);
	EXPECT_NE(0, pid[0]);
	EXPECT_EQ(self->workers[1], pid[1]);
}

/* A kernel before 5.6, as far as this process can tell: pidfd_getfd()
 * fails with ENOSYS, as a syscall the kernel lacks does.
 */
static int no_pidfd_getfd(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_getfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
}

TEST_F(attach, kernel_without_pidfd_getfd)
{
	const char *argv[] = { "rpdctl", "--bpffs", self->bpffs, "attach", "t",
			       "--pid", pidstr(self->server), NULL };
	struct json_value *doc;
	char path[256];

	ASSERT_EQ(0, rpdt_run_with(&self->o, "rpdctl", argv, no_pidfd_getfd));
	expect_error(_metadata, &self->o, 1,
		     "process %d: the kernel has no pidfd_getfd() (Linux 5.6 or later)",
		     self->server);
	/* nothing changed: no slot, no tracker linked */
	CTL_OK("-j", "show", "t");
	doc = doc_of(_metadata, &self->o);
	ASSERT_NE(NULL, doc);
	EXPECT_EQ(0, num(doc, "groups[0].slots_in_use"));
	json_free(doc);
	snprintf(path, sizeof(path), "%s/rpd/t/track", self->bpffs);
	EXPECT_EQ(-1, access(path, F_OK));
}

/* The end tracker cannot be linked: attach claims nothing */
TEST_F(attach, no_tracker_no_slots)
{
	struct json_value *doc;
	char path[256];

	snprintf(path, sizeof(path), "%s/rpd/t/tracker", self->bpffs);
	ASSERT_EQ(0, unlink(path));
	CTL("attach", "t", "--pid", pidstr(self->server));
	expect_error(_metadata, &self->o, 1, "cannot open %s: No such file or directory", path);
	CTL_OK("-j", "show", "t");
	doc = doc_of(_metadata, &self->o);
	ASSERT_NE(NULL, doc);
	EXPECT_EQ(0, num(doc, "groups[0].slots_in_use"));
	json_free(doc);
	snprintf(path, sizeof(path), "%s/rpd/t/track", self->bpffs);
	EXPECT_EQ(-1, access(path, F_OK));
}

TEST_F(attach, errors_change_nothing)
{
	struct json_value *doc;
	char want[512];
	int slot[NW];
	pid_t pid[NW];

	CTL("attach", "t");
	expect_error(_metadata, &self->o, 2, "attach: missing --pid PID");
	CTL("attach", "--pid", "1");
	expect_error(_metadata, &self->o, 2, "attach: missing GROUP; see 'rpdctl attach help'");
	CTL("attach", "t", "--pid", "x1");
	expect_error(_metadata, &self->o, 2, "invalid --pid 'x1': use a process id");
	CTL("attach", "t", "--pid", "1", "--listen", "127.0.0.1:99999");
	expect_error(_metadata, &self->o, 2, "invalid --listen '127.0.0.1:99999': port out of range (1-65535)");
	CTL("attach", "no", "--pid", pidstr(self->server));
	expect_error(_metadata, &self->o, 1, "group 'no' is not loaded (no %s/rpd/no)", self->bpffs);
	CTL("attach", "t", "--pid", "2147483646");
	expect_error(_metadata, &self->o, 1, "process 2147483646: no such process");
	CTL("attach", "t", "--pid", pidstr(self->server), "--listen", "127.0.0.1:9999");
	expect_error(_metadata, &self->o, 1, "process %d: no TCP listener on 127.0.0.1:9999",
		     self->server);
	CTL("attach", "t", "--pid", pidstr(self->server), "--listen", PLAIN_ADDR);
	expect_error(_metadata, &self->o, 1,
		     "process %d: no SO_REUSEPORT listener on %s (nginx: 'listen ... reuseport')",
		     self->server, PLAIN_ADDR);
	CTL("-j", "attach", "t", "--pid", "2147483646");
	EXPECT_EQ(1, self->o.status);
	EXPECT_STREQ("{\"error\": \"process 2147483646: no such process\"}\n", self->o.out);
	CTL("detach", "t", "x");
	expect_error(_metadata, &self->o, 2, "detach: unexpected argument 'x'; see 'rpdctl detach help'");
	CTL("detach", "t");
	expect_error(_metadata, &self->o, 1, "group 't' has no attached slot; see 'rpdctl show t'");
	CTL_OK("-j", "show", "t");
	doc = doc_of(_metadata, &self->o);
	ASSERT_NE(NULL, doc);
	EXPECT_EQ(0, num(doc, "groups[0].slots_in_use"));
	json_free(doc);

	/* sockets of another group */
	ASSERT_EQ(0, rpdt_load(self->bpffs, "u", 16, "least-conn"));
	CTL_OK("attach", "t", "--pid", pidstr(self->server));
	slots_of(_metadata, self, slot, pid);
	CTL("attach", "u", "--pid", pidstr(self->server));
	EXPECT_EQ(1, self->o.status);
	/* the first listener met is named: its fd in the master */
	snprintf(want, sizeof(want), "rpdctl: %s (pid %d fd ", ADDR, self->server);
	EXPECT_EQ(0, strncmp(want, self->o.err, strlen(want))) TH_LOG("%s", self->o.err);
	EXPECT_NE(NULL, strstr(self->o.err, "of group 't'; run 'rpdctl detach t' first\n"));
	CTL_OK("-j", "show", "u");
	doc = doc_of(_metadata, &self->o);
	ASSERT_NE(NULL, doc);
	EXPECT_EQ(0, num(doc, "groups[0].slots_in_use"));
	json_free(doc);
}

TEST_HARNESS_MAIN
