// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpd-httpd, the example server, driven by rpd-get: every worker serves
 * and is named in X-Rpd-Slot, workers that dropped privileges keep
 * reporting load through the inherited mmap, and a killed worker is
 * replaced without a client seeing an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "json.h"
#include "rpd_test.h"

#define WORKERS 4
#define ARGS(...)	((const char *const []){ __VA_ARGS__, NULL })

FIXTURE(httpd) {
	char bpffs[64];
	pid_t server;
	int out;		/* the server's stdout */
};

FIXTURE_SETUP(httpd)
{
	self->server = -1;
	ASSERT_EQ(0, rpdt_sandbox(self->bpffs, sizeof(self->bpffs)));
	ASSERT_EQ(0, rpdt_load(self->bpffs, "web", 16, NULL));
}

FIXTURE_TEARDOWN(httpd)
{
	if (self->server > 0) {
		kill(self->server, SIGTERM);
		waitpid(self->server, NULL, 0);
	}
	rpdt_sandbox_done(self->bpffs);
}

/* Start rpd-httpd and wait (5 s at most) for its ready line; @more, if
 * not NULL, is a NULL-terminated list of more arguments.
 */
static int start(FIXTURE_DATA(httpd) *self, const char *const *more)
{
	const char *argv[32] = { "rpd-httpd", "--group", "web", "--listen", "127.0.0.1:8080",
				 "--workers", NULL, "--bpffs", self->bpffs };
	int argc = 9;
	char path[256], line[256] = "", n[8];
	struct pollfd pfd;
	size_t len = 0;
	int p[2];

	snprintf(path, sizeof(path), "%s/rpd-httpd", rpdt_build_dir());
	snprintf(n, sizeof(n), "%d", WORKERS);
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	self->server = fork();
	if (self->server < 0)
		return -errno;
	if (self->server == 0) {
		dup2(p[1], 1);
		argv[6] = n;
		while (more && *more && argc < 31)
			argv[argc++] = *more++;
		argv[argc] = NULL;
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	self->out = p[0];
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (!strchr(line, '\n') && len < sizeof(line) - 1) {
		ssize_t r;

		if (poll(&pfd, 1, 5000) != 1)
			return -ETIMEDOUT;
		r = read(p[0], line + len, sizeof(line) - 1 - len);
		if (r <= 0)
			return -EIO;
		len += r;
	}
	snprintf(path, sizeof(path), "rpd-httpd: %d workers on 127.0.0.1:8080 (group web)\n",
		 WORKERS);
	return strcmp(line, path) ? -EBADMSG : 0;
}

/* rpd-get -n N -c 8 -j: 0 or its exit status; per-slot counts in @o */
static int get(struct rpdt_out *o, int n)
{
	char num[16];
	const char *argv[] = { "rpd-get", "-n", num, "-c", "8", "-j",
			       "127.0.0.1:8080", NULL };

	snprintf(num, sizeof(num), "%d", n);
	if (rpdt_run(o, "rpd-get", argv))
		return -1;
	return o->status;
}

static __u64 finished(const char *bpffs)
{
	struct rpd_slot s;
	__u64 sum = 0;
	__u32 k;

	for (k = 0; k < 16; k++)
		if (!rpdt_slot(bpffs, "web", k, &s))
			sum += s.finished;
	return sum;
}

TEST_F(httpd, every_worker_serves)
{
	struct rpdt_out o;

	ASSERT_EQ(0, start(self, NULL));
	ASSERT_EQ(0, get(&o, 400)) TH_LOG("%s%s", o.out, o.err);
	EXPECT_EQ(400, jnum(o.out, "ok")) TH_LOG("%s", o.out);
	EXPECT_EQ(WORKERS, jlen(o.out, "per_slot")) TH_LOG("%s", o.out);
	/* every response was reported finished by its worker */
	EXPECT_EQ(400, finished(self->bpffs));
}

/* The whole response, read until the server closes; its length or -errno */
static ssize_t fetch(char *buf, size_t size)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	size_t len = 0;
	ssize_t r;
	int fd;

	fd = rpdt_connect("127.0.0.1:8080", 0);
	if (fd < 0)
		return fd;
	if (write(fd, req, sizeof(req) - 1) != sizeof(req) - 1) {
		close(fd);
		return -EIO;
	}
	while (len < size && (r = read(fd, buf + len, size - len)) > 0)
		len += r;
	close(fd);
	return len;
}

/* Text for a compressing proxy in front: the slot line, then words */
TEST_F(httpd, pads_the_body_to_body_bytes)
{
	static char buf[65536];
	const char *body;
	struct rpdt_out o;
	ssize_t len;
	int slot;
	const char *bad[] = { "rpd-httpd", "--group", "web", "--listen", "127.0.0.1:8080",
			      "--workers", "1", "--body-bytes", "1048577", NULL };

	ASSERT_EQ(0, rpdt_run(&o, "rpd-httpd", bad));
	EXPECT_EQ(2, o.status);
	EXPECT_NE(NULL, strstr(o.err, "rpd-httpd: --body-bytes '1048577': must be 0-1048576\n"))
		TH_LOG("%s", o.err);

	ASSERT_EQ(0, start(self, ARGS("--body-bytes", "32768")));
	len = fetch(buf, sizeof(buf) - 1);
	ASSERT_LT(0, len);
	buf[len] = 0;
	EXPECT_NE(NULL, strstr(buf, "\r\nContent-Length: 32768\r\n")) TH_LOG("%.300s", buf);
	body = strstr(buf, "\r\n\r\n");
	ASSERT_NE(NULL, body);
	body += 4;
	EXPECT_EQ(32768, len - (body - buf));
	EXPECT_EQ(1, sscanf(body, "slot %d\n", &slot)) TH_LOG("%.40s", body);
	EXPECT_EQ('\n', buf[len - 1]);
	/* text, not zeros: printable with spaces and newlines */
	EXPECT_EQ(32768, (ssize_t)strlen(body));
	EXPECT_NE(NULL, strchr(body + 10, ' '));
}

/* Late binding: what arrives while every worker is busy waits in the
 * queue for the first to free; every request is served and every count
 * ends even.
 */
TEST_F(httpd, overflow_queue_serves_and_balances_the_books)
{
	__u64 queued = 0, dispatched = 0, done = 0;
	struct rpd_slot sl;
	struct rpdt_out o;
	int k, queues = 0;

	ASSERT_EQ(0, start(self, ARGS("--overflow", "--work-ms", "20")));
	ASSERT_EQ(0, get(&o, 200)) TH_LOG("%s%s", o.out, o.err);
	EXPECT_EQ(200, jnum(o.out, "ok")) TH_LOG("%s", o.out);
	/* the queue's slot serves nobody: responses name the workers' */
	EXPECT_EQ(WORKERS, jlen(o.out, "per_slot")) TH_LOG("%s", o.out);
	for (k = 0; k < 16; k++) {
		if (rpdt_slot(self->bpffs, "web", k, &sl) || !sl.live)
			continue;
		if (sl.flags & RPD_SLOT_OVERFLOW) {
			queues++;
			queued = sl.dispatched;
			/* all taken out again, by rpd_accept_overflow() */
			EXPECT_EQ(sl.dispatched, sl.finished);
			continue;
		}
		dispatched += sl.dispatched;
		done += sl.finished;
	}
	EXPECT_EQ(1, queues);
	/* 8 clients on 4 workers of 20 ms: the queue was used */
	EXPECT_LT(0, queued);
	EXPECT_EQ(200, dispatched);
	EXPECT_EQ(200, done);

	ASSERT_EQ(0, rpdt_run(&o, "rpd-httpd",
			      ARGS("rpd-httpd", "--group", "web", "--listen", "127.0.0.1:8081",
				   "--workers", "16", "--overflow", "--bpffs", self->bpffs)));
	EXPECT_EQ(1, o.status);
	EXPECT_STREQ("rpd-httpd: --workers 16 and --overflow: group 'web' has 16 slots; load it with a larger --max-workers\n",
		     o.err);
}

TEST_F(httpd, unprivileged_workers_keep_reporting)
{
	struct rpdt_out o;
	char status[64], line[128];
	int uid = -1;
	FILE *f;

	ASSERT_EQ(0, start(self, ARGS("--user", "nobody")));
	ASSERT_EQ(0, get(&o, 200)) TH_LOG("%s%s", o.out, o.err);
	EXPECT_EQ(200, jnum(o.out, "ok"));
	EXPECT_EQ(WORKERS, jlen(o.out, "per_slot"));
	EXPECT_EQ(200, finished(self->bpffs));

	/* and they really run as nobody: one worker's uid */
	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "-j", "show", "web", NULL));
	ASSERT_EQ(0, o.status);
	snprintf(status, sizeof(status), "/proc/%.0f/status",
		 jnum(o.out, "groups[0].slots[0].pid"));
	f = fopen(status, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %d", &uid) == 1)
			break;
	fclose(f);
	EXPECT_EQ(65534, uid);
}

/* In use, with none of them @pid: 1, or 0. */
static int replaced(const char *show, int pid)
{
	struct json_value *doc = json_parse(show, strlen(show), NULL, 0);
	char path[64];
	int i, ok;

	ok = json_num(doc, "groups[0].slots_in_use") == WORKERS;
	for (i = 0; ok && i < WORKERS; i++) {
		snprintf(path, sizeof(path), "groups[0].slots[%d].pid", i);
		ok = json_num(doc, path) != pid;
	}
	json_free(doc);
	return ok;
}

TEST_F(httpd, killed_worker_is_replaced)
{
	struct rpdt_out o;
	int pid, i;

	ASSERT_EQ(0, start(self, NULL));
	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "-j", "show", "web", NULL));
	pid = jnum(o.out, "groups[0].slots[1].pid");
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, kill(pid, SIGKILL));

	/* the parent notices and starts a new worker in a free slot */
	for (i = 0; i < 50; i++) {
		ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "-j", "show", "web", NULL));
		if (replaced(o.out, pid))
			break;
		usleep(100 * 1000);
	}
	ASSERT_GT(50, i) TH_LOG("no replacement worker: %s", o.out);
	ASSERT_EQ(0, get(&o, 400)) TH_LOG("%s%s", o.out, o.err);
	EXPECT_EQ(400, jnum(o.out, "ok"));
	EXPECT_EQ(WORKERS, jlen(o.out, "per_slot"));
}

TEST_HARNESS_MAIN
