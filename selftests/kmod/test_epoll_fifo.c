// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The rpd_epoll_fifo module, loaded for real: the Cloudflare experiment
 * (one listener in every worker's epoll with EPOLLEXCLUSIVE) with and
 * without it, balance over 8 workers, insmod/rmmod under load, the control
 * device's errors, the life of a registration, the modes, and rpdctl.
 *
 * These tests need a kernel that loads modules; make test-kmod runs them
 * in a VM on Debian's 6.1 kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "json.h"
#include "rpd_epoll_fifo.h"
#include "rpd_test.h"

#define ADDR		"127.0.0.1:8090"
#define MAX_WORKERS	16

/* --- the module ------------------------------------------------------------ */

/* $RPD_EFIFO_KO, BUILD/kmod/, or where the VM image puts it. */
static const char *ko_path(void)
{
	static char path[512];
	const char *env = getenv("RPD_EFIFO_KO");

	if (env)
		return env;
	snprintf(path, sizeof(path), "%s/kmod/rpd_epoll_fifo.ko",
		 rpdt_build_dir());
	if (access(path, R_OK) == 0)
		return path;
	return "/lib/rpd/rpd_epoll_fifo.ko";
}

static int kmod_load(const char *params)
{
	int fd = open(ko_path(), O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, params, 0))
		err = -errno;
	close(fd);
	return err;
}

static bool kmod_loaded(void)
{
	return access("/sys/module/" RPD_EFIFO_NAME, F_OK) == 0;
}

/* Unload, waiting out a reference still held by a closing file. */
static int kmod_unload(void)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (!syscall(SYS_delete_module, RPD_EFIFO_NAME, O_NONBLOCK))
			return 0;
		if (errno == ENOENT)
			return -ENOENT;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EBUSY)
			return -errno;
		usleep(50 * 1000);
	}
	return -EBUSY;
}

static long sysfs_counter(const char *name)
{
	char path[128], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), RPD_EFIFO_SYSFS "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static int set_mode(const char *mode)
{
	int fd = open(RPD_EFIFO_MODE_PARAM, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, mode, strlen(mode)) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* ADD/DEL/QUERY through a control fd opened and closed around it, so no
 * file pins the module afterwards. Returns ioctl()'s result or -errno.
 */
static int efifo_ioctl(unsigned long req, int fd)
{
	int ctl = open(RPD_EFIFO_DEV, O_RDWR | O_CLOEXEC), r;

	if (ctl < 0)
		return -errno;
	r = ioctl(ctl, req, fd);
	if (r < 0)
		r = -errno;
	close(ctl);
	return r;
}

/* --- the server: N workers, each its own epoll on one listener ----------------- */

struct pool {
	int lfd;
	int n;
	pid_t pid[MAX_WORKERS];
	unsigned long *served;		/* shared: per-worker accepted count */
};

static int listen_on(const char *addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char host[32];
	int fd, port, one = 1;

	if (sscanf(addr, "%31[^:]:%d", host, &port) != 2)
		return -EINVAL;
	sin.sin_port = htons(port);
	inet_pton(AF_INET, host, &sin.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 4096)) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Serve forever: wait in epoll, accept, reply with the worker's index. */
static void __attribute__((noreturn))
worker(int lfd, int id, unsigned long *served, int work_us, int ready)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	unsigned char b = id;

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev))
		_exit(1);
	if (write(ready, &b, 1) != 1)
		_exit(1);
	for (;;) {
		int c;

		if (epoll_wait(ep, &ev, 1, -1) < 1)
			continue;
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		__atomic_add_fetch(&served[id], 1, __ATOMIC_RELAXED);
		if (work_us)
			usleep(work_us);
		if (write(c, &b, 1) != 1)
			_exit(2);
		close(c);
	}
}

/* Start @n workers on @lfd, one after the other, so worker 0's epoll is
 * the first entry on the socket's wait queue, as in Cloudflare's test.
 */
static int pool_start(struct pool *p, int lfd, int n, int work_us)
{
	int i, pfd[2];
	char b;

	memset(p, 0, sizeof(*p));
	p->lfd = lfd;
	p->served = mmap(NULL, sizeof(unsigned long) * MAX_WORKERS,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p->served == MAP_FAILED || n > MAX_WORKERS || pipe2(pfd, O_CLOEXEC))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		p->pid[i] = fork();
		if (p->pid[i] < 0)
			return -errno;
		if (p->pid[i] == 0)
			worker(lfd, i, p->served, work_us, pfd[1]);
		p->n++;
		if (read(pfd[0], &b, 1) != 1)
			return -EIO;
	}
	close(pfd[0]);
	close(pfd[1]);
	return 0;
}

static void pool_stop(struct pool *p)
{
	int i;

	for (i = 0; i < p->n; i++) {
		kill(p->pid[i], SIGKILL);
		waitpid(p->pid[i], NULL, 0);
	}
	p->n = 0;
	if (p->served && p->served != MAP_FAILED)
		munmap(p->served, sizeof(unsigned long) * MAX_WORKERS);
	p->served = NULL;
}

/* One request: connect, read the worker's index, see the close. The
 * index, or -errno (-ETIMEDOUT after 5 s without the reply).
 */
static int request(void)
{
	unsigned char b;
	struct pollfd pfd;
	int fd, r;

	fd = rpdt_connect(ADDR, 0);
	if (fd < 0)
		return fd;
	pfd.fd = fd;
	pfd.events = POLLIN;
	r = poll(&pfd, 1, 5000);
	if (r == 1)
		r = read(fd, &b, 1) == 1 ? b : -EIO;
	else
		r = r == 0 ? -ETIMEDOUT : -errno;
	close(fd);
	return r;
}

/* @n requests one after another, @gap_ms apart; per-worker counts. */
static int sequential(int n, int gap_ms, int *count)
{
	int i, w;

	for (i = 0; i < n; i++) {
		w = request();
		if (w < 0)
			return w;
		if (w >= MAX_WORKERS)
			return -EPROTO;
		count[w]++;
		if (gap_ms)
			usleep(gap_ms * 1000);
	}
	return 0;
}

/* --- a load of parallel clients ---------------------------------------------------- */

struct load {
	int threads;
	int per_thread;			/* 0: until stop */
	volatile int stop;
	unsigned long ok, failed;	/* atomics */
	int first_err;
};

static void *load_thread(void *arg)
{
	struct load *l = arg;
	int i, r;

	for (i = 0; !l->stop && (!l->per_thread || i < l->per_thread); i++) {
		r = request();
		if (r >= 0) {
			__atomic_add_fetch(&l->ok, 1, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_add_fetch(&l->failed, 1, __ATOMIC_RELAXED);
		__atomic_compare_exchange_n(&l->first_err, &(int){ 0 }, r, false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int load_start(struct load *l, pthread_t *t)
{
	int i;

	for (i = 0; i < l->threads; i++)
		if (pthread_create(&t[i], NULL, load_thread, l))
			return -EAGAIN;
	return 0;
}

static void load_join(struct load *l, pthread_t *t)
{
	int i;

	for (i = 0; i < l->threads; i++)
		pthread_join(t[i], NULL);
}

static double jain(const unsigned long *x, int n)
{
	double sum = 0, sq = 0;
	int i;

	for (i = 0; i < n; i++) {
		sum += x[i];
		sq += (double)x[i] * x[i];
	}
	return sq ? sum * sum / (n * sq) : 1.0;
}

/* " 10 10 10": per-worker counts for a log line */
static const char *counts_str(const int *c, int n)
{
	static char line[256];
	int i, len = 0;

	for (i = 0; i < n; i++)
		len += snprintf(line + len, sizeof(line) - len, " %d", c[i]);
	return line;
}

/* --- fixture: a private netns; the module unloaded before and after ----------- */

FIXTURE(efifo) {
	char bpffs[64];
	struct pool pool;
};

FIXTURE_SETUP(efifo)
{
	memset(&self->pool, 0, sizeof(self->pool));
	ASSERT_EQ(0, rpdt_sandbox(self->bpffs, sizeof(self->bpffs)));
	if (kmod_loaded())
		ASSERT_EQ(0, kmod_unload());
	ASSERT_EQ(0, access(ko_path(), R_OK)) TH_LOG("%s: %s", ko_path(), strerror(errno));
}

FIXTURE_TEARDOWN(efifo)
{
	pool_stop(&self->pool);
	if (kmod_loaded())
		kmod_unload();
	rpdt_sandbox_done(self->bpffs);
}

/* Cloudflare's epoll-and-accept: 3 workers, 30 connections one at a time.
 * The kernel wakes the first registered idle epoll every time.
 */
TEST_F(efifo, cloudflare_without_module)
{
	int count[MAX_WORKERS] = {}, lfd = listen_on(ADDR);

	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, pool_start(&self->pool, lfd, 3, 0));
	ASSERT_EQ(0, sequential(30, 20, count));
	TH_LOG("without the module, per worker:%s", counts_str(count, 3));
	EXPECT_LE(28, count[0]);
	EXPECT_EQ(30, count[0] + count[1] + count[2]);
	close(lfd);
}

TEST_F(efifo, cloudflare_with_module)
{
	int count[MAX_WORKERS] = {}, lfd = listen_on(ADDR), i;

	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, kmod_load(""));
	ASSERT_EQ(0, efifo_ioctl(RPD_EFIFO_ADD, lfd));
	ASSERT_EQ(1, sysfs_counter("registered"));
	ASSERT_EQ(0, pool_start(&self->pool, lfd, 3, 0));
	ASSERT_EQ(0, sequential(30, 20, count));
	TH_LOG("with the module, per worker:%s", counts_str(count, 3));
	for (i = 0; i < 3; i++) {
		EXPECT_LE(9, count[i]);
		EXPECT_GE(11, count[i]);
	}
	/* one exclusive wakeup per connection, each one rotated */
	EXPECT_EQ(30, sysfs_counter("exclusive_wakeups"));
	EXPECT_LE(28, sysfs_counter("rotations"));
	close(lfd);
}

/* 8 workers, 5000 connections from 4 parallel clients, baseline and FIFO
 * in one run: nothing lost in either; FIFO spreads them evenly.
 */
TEST_F(efifo, eight_workers_jain)
{
	double j[2];
	int round;

	for (round = 0; round < 2; round++) {
		struct load l = { .threads = 4, .per_thread = 1250 };
		pthread_t t[4];
		unsigned long sum = 0;
		char line[256];
		int lfd, i, len = 0;

		lfd = listen_on(ADDR);
		ASSERT_LE(0, lfd);
		if (round == 1) {
			ASSERT_EQ(0, kmod_load(""));
			ASSERT_EQ(0, efifo_ioctl(RPD_EFIFO_ADD, lfd));
		}
		ASSERT_EQ(0, pool_start(&self->pool, lfd, 8, 200));
		ASSERT_EQ(0, load_start(&l, t));
		load_join(&l, t);
		EXPECT_EQ(0, l.failed) TH_LOG("first error: %s", strerror(-l.first_err));
		EXPECT_EQ(5000, l.ok);
		for (i = 0; i < 8; i++) {
			sum += self->pool.served[i];
			len += snprintf(line + len, sizeof(line) - len, " %lu",
					self->pool.served[i]);
		}
		EXPECT_EQ(5000, sum);
		j[round] = jain(self->pool.served, 8);
		TH_LOG("%s: per worker%s, Jain %.3f",
		       round ? "with the module" : "without", line, j[round]);
		pool_stop(&self->pool);
		close(lfd);
	}
	EXPECT_LE(0.95, j[1]);
}

/* 20 rounds of insmod, register, rmmod while 4 clients connect without
 * pause: every connection is accepted and answered.
 */
TEST_F(efifo, insmod_rmmod_under_load)
{
	struct load l = { .threads = 4 };
	unsigned long before;
	pthread_t t[4];
	int lfd, round;

	lfd = listen_on(ADDR);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, pool_start(&self->pool, lfd, 4, 0));
	ASSERT_EQ(0, load_start(&l, t));
	for (round = 0; round < 20; round++) {
		ASSERT_EQ(0, kmod_load(round % 2 ? "mode=all" : ""));
		ASSERT_EQ(0, efifo_ioctl(RPD_EFIFO_ADD, lfd));
		before = __atomic_load_n(&l.ok, __ATOMIC_RELAXED);
		usleep(100 * 1000);
		/* traffic went through the module's wakeup */
		EXPECT_LT(before, __atomic_load_n(&l.ok, __ATOMIC_RELAXED));
		ASSERT_EQ(0, kmod_unload());
		usleep(20 * 1000);
	}
	l.stop = 1;
	load_join(&l, t);
	TH_LOG("20 rounds: %lu connections answered, %lu failed", l.ok, l.failed);
	EXPECT_EQ(0, l.failed) TH_LOG("first error: %s", strerror(-l.first_err));
	EXPECT_LT(100, l.ok);
	EXPECT_FALSE(kmod_loaded());
	close(lfd);
}

TEST_F(efifo, ioctl_errors)
{
	int lfd, tcp, udp, p[2], ctl;

	ASSERT_EQ(0, kmod_load(""));
	lfd = listen_on(ADDR);
	ASSERT_LE(0, lfd);
	tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));

	EXPECT_EQ(-ENOTSOCK, efifo_ioctl(RPD_EFIFO_ADD, p[0]));
	EXPECT_EQ(-EBADF, efifo_ioctl(RPD_EFIFO_ADD, 9999));
	EXPECT_EQ(-EPROTONOSUPPORT, efifo_ioctl(RPD_EFIFO_ADD, udp));
	EXPECT_EQ(-EINVAL, efifo_ioctl(RPD_EFIFO_ADD, tcp));
	EXPECT_EQ(0, efifo_ioctl(RPD_EFIFO_QUERY, lfd));
	EXPECT_EQ(-ENOENT, efifo_ioctl(RPD_EFIFO_DEL, lfd));
	EXPECT_EQ(0, efifo_ioctl(RPD_EFIFO_ADD, lfd));
	EXPECT_EQ(-EEXIST, efifo_ioctl(RPD_EFIFO_ADD, lfd));
	EXPECT_EQ(1, efifo_ioctl(RPD_EFIFO_QUERY, lfd));
	EXPECT_EQ(1, sysfs_counter("registered"));
	EXPECT_EQ(0, efifo_ioctl(RPD_EFIFO_DEL, lfd));
	EXPECT_EQ(0, efifo_ioctl(RPD_EFIFO_QUERY, lfd));
	EXPECT_EQ(0, sysfs_counter("registered"));

	ctl = open(RPD_EFIFO_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, ctl);
	EXPECT_EQ(-1, ioctl(ctl, _IO(RPD_EFIFO_IOC_MAGIC, 99), lfd));
	EXPECT_EQ(ENOTTY, errno);
	close(ctl);

	EXPECT_EQ(-EINVAL, set_mode("sideways"));
	close(p[0]);
	close(p[1]);
	close(udp);
	close(tcp);
	close(lfd);
}

/* A registration belongs to the socket: it survives the closing of one of
 * its fds and ends when the last one goes.
 */
TEST_F(efifo, registration_ends_with_socket)
{
	int lfd, status;
	pid_t child;

	ASSERT_EQ(0, kmod_load(""));
	lfd = listen_on(ADDR);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, efifo_ioctl(RPD_EFIFO_ADD, lfd));
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		pause();
		_exit(0);
	}
	close(lfd);
	/* the child still holds it */
	EXPECT_EQ(1, sysfs_counter("registered"));
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	/* reading the counter collects registrations of closed sockets */
	EXPECT_EQ(0, sysfs_counter("registered"));
	/* the port is free again */
	lfd = listen_on(ADDR);
	EXPECT_LE(0, lfd);
	close(lfd);
}

/* mode=off: a registered socket wakes like any other; mode=all: a new
 * listener rotates without registering.
 */
TEST_F(efifo, modes)
{
	int count[MAX_WORKERS] = {}, lfd, i;

	ASSERT_EQ(0, kmod_load("mode=off"));
	lfd = listen_on(ADDR);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, efifo_ioctl(RPD_EFIFO_ADD, lfd));
	ASSERT_EQ(0, pool_start(&self->pool, lfd, 3, 0));
	ASSERT_EQ(0, sequential(30, 20, count));
	TH_LOG("mode=off, per worker:%s", counts_str(count, 3));
	EXPECT_LE(28, count[0]);
	EXPECT_EQ(0, sysfs_counter("rotations"));
	pool_stop(&self->pool);
	close(lfd);

	ASSERT_EQ(0, set_mode("all"));
	memset(count, 0, sizeof(count));
	lfd = listen_on(ADDR);
	ASSERT_LE(0, lfd);
	EXPECT_EQ(0, efifo_ioctl(RPD_EFIFO_QUERY, lfd));	/* not listed */
	ASSERT_EQ(0, pool_start(&self->pool, lfd, 3, 0));
	ASSERT_EQ(0, sequential(30, 20, count));
	TH_LOG("mode=all, per worker:%s", counts_str(count, 3));
	for (i = 0; i < 3; i++) {
		EXPECT_LE(9, count[i]);
		EXPECT_GE(11, count[i]);
	}
	/* a socket picked up by mode=all can still be listed explicitly */
	EXPECT_EQ(0, efifo_ioctl(RPD_EFIFO_ADD, lfd));
	EXPECT_EQ(1, efifo_ioctl(RPD_EFIFO_QUERY, lfd));
	close(lfd);
}

/* rmmod with a registered listener still open: its wakeups go back to the
 * kernel's own order and nothing queued is lost.
 */
TEST_F(efifo, unload_restores_listener)
{
	int count[MAX_WORKERS] = {}, lfd;

	lfd = listen_on(ADDR);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, kmod_load(""));
	ASSERT_EQ(0, efifo_ioctl(RPD_EFIFO_ADD, lfd));
	ASSERT_EQ(0, pool_start(&self->pool, lfd, 3, 0));
	ASSERT_EQ(0, sequential(6, 20, count));
	ASSERT_EQ(0, kmod_unload());
	memset(count, 0, sizeof(count));
	ASSERT_EQ(0, sequential(30, 20, count));
	TH_LOG("after rmmod, per worker:%s", counts_str(count, 3));
	EXPECT_EQ(30, count[0] + count[1] + count[2]);
	/* the first entry of the queue takes them all again */
	EXPECT_TRUE(count[0] >= 28 || count[1] >= 28 || count[2] >= 28);
	close(lfd);
}

/* rpdctl epoll-fifo against this process's own listener. */
TEST_F(efifo, rpdctl_epoll_fifo)
{
	char pid[16], want[512];
	struct rpdt_out o;
	int lfd;

	snprintf(pid, sizeof(pid), "%d", getpid());
	lfd = listen_on(ADDR);
	ASSERT_LE(0, lfd);

	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "epoll-fifo", "status", NULL));
	EXPECT_EQ(0, o.status);
	EXPECT_STREQ("rpd_epoll_fifo: not loaded\n", o.out);
	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "epoll-fifo", "enable", "--pid", pid, NULL));
	EXPECT_EQ(1, o.status);
	EXPECT_STREQ("rpdctl: /dev/rpd_epoll_fifo: missing: the rpd_epoll_fifo module is not loaded (insmod rpd_epoll_fifo.ko)\n",
		     o.err);

	ASSERT_EQ(0, kmod_load(""));
	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "epoll-fifo", "enable", "--pid", pid,
			      "--listen", ADDR, NULL));
	EXPECT_EQ(0, o.status) TH_LOG("%s", o.err);
	snprintf(want, sizeof(want), "%s (pid %s fd %d): registered\n", ADDR, pid, lfd);
	EXPECT_STREQ(want, o.out);
	EXPECT_EQ(1, efifo_ioctl(RPD_EFIFO_QUERY, lfd));

	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "-j", "epoll-fifo", "status", "--pid", pid, NULL));
	EXPECT_EQ(0, o.status);
	snprintf(want, sizeof(want),
		 "{\"loaded\": true, \"mode\": \"listed\", \"registered\": 1, \"exclusive_wakeups\": 0, \"rotations\": 0, \"sockets\": [{\"pid\": %s, \"fd\": %d, \"listen\": \"%s\", \"registered\": true, \"changed\": false}]}\n",
		 pid, lfd, ADDR);
	EXPECT_STREQ(want, o.out);

	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "epoll-fifo", "enable", "--pid", pid,
			      "--listen", "127.0.0.1:1", NULL));
	EXPECT_EQ(1, o.status);
	snprintf(want, sizeof(want), "rpdctl: process %s: no TCP listener on 127.0.0.1:1\n", pid);
	EXPECT_STREQ(want, o.err);

	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "epoll-fifo", "disable", "--pid", pid, NULL));
	EXPECT_EQ(0, o.status);
	EXPECT_EQ(0, efifo_ioctl(RPD_EFIFO_QUERY, lfd));

	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "epoll-fifo", "mode", "all", NULL));
	EXPECT_EQ(0, o.status);
	EXPECT_STREQ("rpd_epoll_fifo: mode all\n", o.out);
	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "epoll-fifo", "mode", "most", NULL));
	EXPECT_EQ(2, o.status);
	EXPECT_STREQ("rpdctl: invalid mode 'most': use off, listed or all\n", o.err);
	close(lfd);
}

/* rpd-bench's shared-epoll-fifo model, which only a kernel that loads the
 * module can run: it runs (not skipped), accounts for every connection,
 * and spreads a low load evenly where plain shared-epoll does not.
 */
TEST_F_TIMEOUT(efifo, bench_shared_epoll_fifo, 300)
{
	static const char *const argv[] = {
		"rpd-bench", "run", "lowload", "--models", "shared-epoll,shared-epoll-fifo",
		"--workers", "4", "--conns", "200", "--rate", "100", "--reps", "1",
		"--json", NULL,
	};
	struct json_value *doc;
	struct rpdt_out o;
	char err[128];
	double j[2];
	int m;

	ASSERT_EQ(0, kmod_load(""));
	ASSERT_EQ(0, rpdt_run(&o, "rpd-bench", argv));
	ASSERT_EQ(0, o.status) TH_LOG("%s", o.err);
	doc = json_parse(o.out, strlen(o.out), err, sizeof(err));
	ASSERT_NE(NULL, doc) TH_LOG("%s: %s", err, o.out);
	ASSERT_EQ(2, json_len(doc, "models"));
	for (m = 0; m < 2; m++) {
		char path[64];

		snprintf(path, sizeof(path), "models[%d].skipped", m);
		EXPECT_EQ(NULL, json_get(doc, path)) TH_LOG("%s", json_str(doc, path));
		snprintf(path, sizeof(path), "models[%d].conns", m);
		EXPECT_EQ(200, json_num(doc, path));
		snprintf(path, sizeof(path), "models[%d].errors", m);
		EXPECT_EQ(0, json_num(doc, path));
		snprintf(path, sizeof(path), "models[%d].jain", m);
		j[m] = json_num(doc, path);
	}
	EXPECT_STREQ("shared-epoll-fifo", json_str(doc, "models[1].model"));
	TH_LOG("lowload, 4 workers, 200 conns: Jain shared-epoll %.3f, shared-epoll-fifo %.3f",
	       j[0], j[1]);
	EXPECT_LE(0.95, j[1]);
	json_free(doc);
}

TEST_HARNESS_MAIN
