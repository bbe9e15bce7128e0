// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpd with a real nginx (Debian's package), attached from outside:
 * 'worker_processes 4' and 'listen ... reuseport', in the test's own
 * network namespace with a private prefix. Skipped where nginx is not
 * installed (the VM's initramfs has none).
 *
 *	persistent	long-lived keepalive connections, opened one after
 *			another: the open connections per worker, counted
 *			from the workers' own fd tables, differ by at most 2
 *	reload		'nginx -s reload' under load: no connection fails, and
 *			re-running attach names the new workers
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "json.h"
#include "rpd_test.h"

#define NGINX		"/usr/sbin/nginx"
#define NW		4
#define ADDR		"127.0.0.1:8080"
#define PORT_HEX	":1F90 "	/* 8080 in /proc/net/tcp */
#define PERSISTENT	2000
#define REQUEST		"GET / HTTP/1.1\r\nHost: t\r\n\r\n"

FIXTURE(nginx) {
	char bpffs[64];
	char dir[64];
	pid_t master;
	struct rpdt_out o;
};

static int write_conf(const char *dir)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/nginx.conf", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"user root;\n"
		"daemon off;\n"
		"worker_processes %d;\n"
		"worker_rlimit_nofile 8192;\n"
		"pid %s/nginx.pid;\n"
		"error_log %s/error.log;\n"
		"events { worker_connections 4096; }\n"
		"http {\n"
		"  access_log off;\n"
		"  keepalive_timeout 300s;\n"
		"  keepalive_requests 100000;\n"
		"  client_body_temp_path %s;\n"
		"  proxy_temp_path %s;\n"
		"  fastcgi_temp_path %s;\n"
		"  uwsgi_temp_path %s;\n"
		"  scgi_temp_path %s;\n"
		"  server {\n"
		"    listen %s reuseport;\n"
		"    location / { return 200 \"ok\\n\"; }\n"
		"  }\n"
		"}\n", NW, dir, dir, dir, dir, dir, dir, dir, ADDR);
	return fclose(f) ? -errno : 0;
}

/* One request on @fd, its response read: 0, or -1. */
static int request(int fd)
{
	char buf[512];
	size_t n = 0;
	ssize_t r;

	if (write(fd, REQUEST, strlen(REQUEST)) != (ssize_t)strlen(REQUEST))
		return -1;
	/* "ok\n" ends the body of the only response nginx sends here */
	while (n < sizeof(buf) - 1) {
		r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r <= 0)
			return -1;
		n += r;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\nok\n"))
			return strncmp(buf, "HTTP/1.1 200", 12) ? -1 : 0;
	}
	return -1;
}

/* The children of @pid: nginx's workers (and its cache processes, of
 * which this configuration has none).
 */
static int workers_of(pid_t master, pid_t *w, int max)
{
	char path[300], buf[512], *p;
	struct dirent *de;
	int n = 0, ppid;
	DIR *d;
	FILE *f;

	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < max) {
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		if (!p || !(p = strrchr(buf, ')')) ||
		    sscanf(p + 1, " %*c %d", &ppid) != 1 || ppid != master)
			continue;
		w[n++] = atoi(de->d_name);
	}
	closedir(d);
	return n;
}

/* The inodes of the established server-side sockets on port 8080 in
 * this namespace, from /proc/net/tcp.
 */
static int established(unsigned long *ino, int max)
{
	char line[512], local[64];
	unsigned long i;
	int n = 0, st;
	FILE *f;

	f = fopen("/proc/net/tcp", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f) && n < max) {
		if (sscanf(line, " %*d: %63s %*s %x %*s %*s %*s %*s %*s %lu",
			   local, &st, &i) != 3)
			continue;
		if (st == 1 && strstr(strcat(local, " "), PORT_HEX))
			ino[n++] = i;
	}
	fclose(f);
	return n;
}

/* How many of @ino the process @pid holds. */
static int held_by(pid_t pid, const unsigned long *ino, int n)
{
	char path[300], link[64];
	unsigned long i;
	struct dirent *de;
	int k, cnt = 0;
	ssize_t len;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &i) != 1)
			continue;
		for (k = 0; k < n; k++)
			if (ino[k] == i)
				cnt++;
	}
	closedir(d);
	return cnt;
}

FIXTURE_SETUP(nginx)
{
	struct rlimit rl = { 8192, 8192 };
	pid_t w[8];
	int fd, tries;

	self->master = -1;
	/* each test skips: a SKIP() here counts as a failure in 6.1's harness */
	if (access(NGINX, X_OK))
		return;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	ASSERT_EQ(0, rpdt_sandbox(self->bpffs, sizeof(self->bpffs)));
	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 16, "least-conn"));
	snprintf(self->dir, sizeof(self->dir), "/tmp/rpdt-nginx-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, write_conf(self->dir));

	self->master = fork();
	ASSERT_LE(0, self->master);
	if (!self->master) {
		char conf[128];

		snprintf(conf, sizeof(conf), "%s/nginx.conf", self->dir);
		execl(NGINX, "nginx", "-p", self->dir, "-c", conf, (char *)NULL);
		_exit(127);
	}
	/* up: it answers, and its NW workers run */
	for (tries = 0; tries < 500; tries++) {
		fd = rpdt_connect(ADDR, 0);
		if (fd >= 0) {
			close(fd);
			if (workers_of(self->master, w, 8) == NW)
				break;
		}
		usleep(10000);
	}
	ASSERT_EQ(NW, workers_of(self->master, w, 8));
}

FIXTURE_TEARDOWN(nginx)
{
	char cmd[128];

	if (self->master > 0) {
		/* quit fast: the workers go with the master */
		kill(self->master, SIGTERM);
		waitpid(self->master, NULL, 0);
	}
	if (self->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
		if (system(cmd))
			TH_LOG("cannot remove %s", self->dir);
	}
	rpdt_sandbox_done(self->bpffs);
}

#define NEED_NGINX() do {						\
	if (self->master < 0)							\
		SKIP(return, "no " NGINX " (Debian's nginx; 'make deps' installs it)"); \
} while (0)

#define CTL_OK(...) do {							\
	ASSERT_EQ(0, rpdt_ctl(&self->o, self->bpffs, __VA_ARGS__, NULL));	\
	ASSERT_EQ(0, self->o.status) TH_LOG("%s", self->o.err);		\
} while (0)

static const char *pidstr(pid_t pid)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "%d", pid);
	return buf;
}

/* The workers' pids as attach reports them (0: not yet known). */
static int attach(struct __test_metadata *_metadata, FIXTURE_DATA(nginx) *self,
		  pid_t *pid)
{
	struct json_value *doc;
	char err[128], path[64];
	int i, n;

	CTL_OK("-j", "attach", "t", "--pid", pidstr(self->master), "--listen", ADDR);
	doc = json_parse(self->o.out, strlen(self->o.out), err, sizeof(err));
	if (!doc)
		return -1;
	n = json_len(doc, "slots");
	for (i = 0; i < n && i < NW; i++) {
		snprintf(path, sizeof(path), "slots[%d].pid", i);
		pid[i] = json_num(doc, path);
	}
	json_free(doc);
	return n;
}

TEST_F(nginx, persistent_connections_are_balanced)
{
	static int fds[PERSISTENT];
	static unsigned long ino[PERSISTENT + 64];
	int i, n, k, cnt[NW], min = PERSISTENT, max = 0, sum = 0;
	pid_t w[NW];

	NEED_NGINX();
	ASSERT_EQ(NW, attach(_metadata, self, w));
	for (i = 0; i < PERSISTENT; i++) {
		fds[i] = rpdt_connect(ADDR, 0);
		ASSERT_LE(0, fds[i]) TH_LOG("connection %d", i);
		ASSERT_EQ(0, request(fds[i])) TH_LOG("connection %d", i);
	}
	/* the workers' own fd tables: which worker holds each connection */
	ASSERT_EQ(NW, workers_of(self->master, w, NW));
	n = established(ino, PERSISTENT + 64);
	for (k = 0; k < NW; k++) {
		cnt[k] = held_by(w[k], ino, n);
		sum += cnt[k];
		if (cnt[k] < min)
			min = cnt[k];
		if (cnt[k] > max)
			max = cnt[k];
	}
	TH_LOG("open connections per worker: %d %d %d %d", cnt[0], cnt[1], cnt[2], cnt[3]);
	EXPECT_EQ(PERSISTENT, sum);
	EXPECT_GE(2, max - min);
	for (i = 0; i < PERSISTENT; i++)
		close(fds[i]);
}

/* A client that makes one request per connection until @stop's other
 * end (@stop_w) closes, then writes how many succeeded and failed to
 * @out.
 */
static pid_t load(int out, int stop, int stop_w)
{
	int counts[2] = {}, fd;
	pid_t pid = fork();
	char c;

	if (pid)
		return pid;
	close(stop_w);
	for (;;) {
		struct timeval tv = { 5, 0 };

		fd = rpdt_connect(ADDR, 0);
		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		counts[fd < 0 || request(fd) ? 1 : 0]++;
		if (fd >= 0)
			close(fd);
		if (read(stop, &c, 1) == 0)
			break;
	}
	_exit(write(out, counts, sizeof(counts)) != sizeof(counts));
}

TEST_F(nginx, reload_under_load_fails_nothing)
{
	pid_t before[NW], after[NW], now[16], client;
	int res[2], p[2], s[2], i, k, tries;

	NEED_NGINX();
	ASSERT_EQ(NW, attach(_metadata, self, before));
	ASSERT_EQ(NW, workers_of(self->master, before, NW));
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, pipe2(s, O_NONBLOCK));
	client = load(p[1], s[0], s[1]);
	ASSERT_LT(0, client);
	close(p[1]);
	close(s[0]);
	usleep(200000);

	/* nginx -s reload is SIGHUP to the master */
	ASSERT_EQ(0, kill(self->master, SIGHUP));
	/* the old workers leave, NW new ones come */
	for (tries = 0; tries < 1000; tries++) {
		k = workers_of(self->master, now, 16);
		for (i = 0; k == NW && i < NW; i++)
			if (now[i] == before[0] || now[i] == before[1] ||
			    now[i] == before[2] || now[i] == before[3])
				k = -1;
		if (k == NW)
			break;
		usleep(10000);
	}
	ASSERT_EQ(NW, k);
	usleep(300000);
	close(s[1]);
	ASSERT_EQ(sizeof(res), read(p[0], res, sizeof(res)));
	waitpid(client, NULL, 0);
	TH_LOG("during the reload: %d requests, %d failed", res[0] + res[1], res[1]);
	EXPECT_LT(0, res[0]);
	EXPECT_EQ(0, res[1]);

	/* the same listeners, in the same slots, now served by the new
	 * workers: attach again names them
	 */
	ASSERT_EQ(NW, attach(_metadata, self, after));
	for (i = 0; i < NW; i++) {
		for (k = 0; k < NW && after[i] != now[k]; k++)
			;
		EXPECT_LT(k, NW) TH_LOG("slot %d: pid %d is not a new worker", i, after[i]);
	}
	EXPECT_EQ(NULL, strstr(self->o.out, "\"new\": true"));
	CTL_OK("-j", "show", "t");
	EXPECT_NE(NULL, strstr(self->o.out, "\"slots_in_use\": 4,"));
}

TEST_HARNESS_MAIN
