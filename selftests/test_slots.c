// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Slots and their owners: atomic claims, a full group, a worker killed
 * with SIGKILL, a listener closing with queued connections, groups on
 * several addresses, and every error librpd can return.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "kselftest_harness.h"
#include "rpd.h"
#include "rpd_util.h"
#include "rpd_test.h"

FIXTURE(sandbox) {
	char bpffs[64];
};

FIXTURE_SETUP(sandbox)
{
	ASSERT_EQ(0, rpdt_sandbox(self->bpffs, sizeof(self->bpffs)));
}

FIXTURE_TEARDOWN(sandbox)
{
	rpdt_sandbox_done(self->bpffs);
}

/* A worker process: claims a slot, reports it on @report, then serves
 * one byte (its slot) per connection until killed.
 */
static void worker_main(const char *bpffs, const char *addr, int go, int report)
{
	struct rpd_group *g;
	struct rpd_worker *w;
	int slot, c;
	char b;

	if (go >= 0 && read(go, &b, 1) < 0)
		_exit(1);
	if (rpd_group_open("t", bpffs, &g)) {
		slot = -1;
		goto out;
	}
	slot = rpd_listen(g, addr, NULL, &w);
	if (!slot)
		slot = rpd_worker_slot(w);
out:
	if (write(report, &slot, sizeof(slot)) != sizeof(slot) || slot < 0)
		_exit(1);
	for (;;) {
		c = accept(rpd_worker_fd(w), NULL, NULL);
		if (c < 0)
			continue;
		b = (char)slot;
		if (write(c, &b, 1) != 1)
			_exit(1);
		close(c);
		rpd_conn_done(w);
	}
}

static pid_t spawn_worker(const char *bpffs, const char *addr, const int *go,
			  int report)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (go)
			close(go[1]);
		worker_main(bpffs, addr, go ? go[0] : -1, report);
	}
	return pid;
}

static void reap(pid_t *pids, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
	}
}

/* Connect, read the one byte a worker sends: its slot, or -errno. */
static int request(const char *addr)
{
	int fd = rpdt_connect(addr, 0), r;
	char b;

	if (fd < 0)
		return fd;
	r = read(fd, &b, 1);
	r = r == 1 ? (unsigned char)b : r < 0 ? -errno : -ECONNABORTED;
	close(fd);
	return r;
}

TEST_F(sandbox, sixteen_claim_at_once)
{
	int go[2], rep[2], i, j, slots[16];
	struct rpd_group *g;
	struct rpd_worker *w;
	pid_t pids[16] = {};

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 16, NULL));
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(rep));
	for (i = 0; i < 16; i++)
		pids[i] = spawn_worker(self->bpffs, "127.0.0.1:8080", go, rep[1]);
	/* release all 16 at once */
	close(go[1]);
	for (i = 0; i < 16; i++)
		ASSERT_EQ(sizeof(int), read(rep[0], &slots[i], sizeof(int)));
	for (i = 0; i < 16; i++) {
		EXPECT_LE(0, slots[i]);
		EXPECT_GT(16, slots[i]);
		for (j = 0; j < i; j++)
			EXPECT_NE(slots[i], slots[j]) TH_LOG("slot %d claimed twice", slots[i]);
	}

	/* the 17th: a clear error, and the 16 keep serving */
	ASSERT_EQ(0, rpd_group_open("t", self->bpffs, &g));
	EXPECT_EQ(-ENOSPC, rpd_listen(g, "127.0.0.1:8080", NULL, &w));
	EXPECT_NE(NULL, strstr(rpd_errmsg(), "group 't' is full (16 of 16 slots in use)"))
		TH_LOG("%s", rpd_errmsg());
	for (i = 0; i < 32; i++)
		EXPECT_LE(0, request("127.0.0.1:8080"));
	rpd_group_close(g);
	reap(pids, 16);
}

TEST_F(sandbox, sigkill_worker_no_client_error)
{
	struct rpd_counters c;
	struct rpd_slot s;
	int rep[2], i, r, slots[4], seen[RPD_DEFAULT_SLOTS] = {};
	pid_t pids[4] = {};

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 16, "round-robin"));
	ASSERT_EQ(0, pipe(rep));
	for (i = 0; i < 4; i++) {
		pids[i] = spawn_worker(self->bpffs, "127.0.0.1:8080", NULL, rep[1]);
		ASSERT_EQ(sizeof(int), read(rep[0], &slots[i], sizeof(int)));
		ASSERT_LE(0, slots[i]);
	}
	for (i = 0; i < 40; i++)
		ASSERT_LE(0, request("127.0.0.1:8080"));

	kill(pids[1], SIGKILL);
	waitpid(pids[1], NULL, 0);
	pids[1] = 0;
	/* round-robin meets the dead slot at once: no client may notice */
	for (i = 0; i < 200; i++) {
		r = request("127.0.0.1:8080");
		ASSERT_LE(0, r) TH_LOG("request %d: %s", i, strerror(-r));
		seen[r]++;
	}
	EXPECT_EQ(0, seen[slots[1]]);
	for (i = 0; i < 4; i++) {
		if (i == 1)
			continue;
		EXPECT_LT(60, seen[slots[i]]);
	}
	ASSERT_EQ(0, rpdt_counters(self->bpffs, "t", &c));
	EXPECT_LE(1, c.empty);
	EXPECT_EQ(0, c.errors);
	ASSERT_EQ(0, rpdt_slot(self->bpffs, "t", slots[1], &s));
	EXPECT_EQ(0, s.live);
	reap(pids, 4);
}

TEST_F(sandbox, migration_moves_queued_connections)
{
	int lfd, i, fd, which, got[20] = {}, clients[20], n;
	struct rpd_worker *w0, *w1;
	struct rpd_counters c;
	struct rpd_slot s;
	struct rpd_group *g;
	char buf[32];

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 16, NULL));
	ASSERT_EQ(0, rpd_group_open("t", self->bpffs, &g));
	ASSERT_EQ(0, rpd_listen(g, "127.0.0.1:8080", NULL, &w0));
	ASSERT_EQ(0, rpd_listen(g, "127.0.0.1:8080", NULL, &w1));
	/* everything queues on w0, nobody accepts */
	ASSERT_EQ(0, rpd_set_drain(w1, 1));
	for (i = 0; i < 20; i++) {
		clients[i] = rpdt_connect("127.0.0.1:8080", 0);
		ASSERT_LE(0, clients[i]);
		n = snprintf(buf, sizeof(buf), "hello %02d", i);
		ASSERT_EQ(n, write(clients[i], buf, n));
	}
	ASSERT_EQ(0, rpdt_slot(self->bpffs, "t", rpd_worker_slot(w0), &s));
	ASSERT_EQ(20, s.dispatched);

	/* w0 goes away with 20 queued: all 20 move to w1, with their data */
	rpd_worker_close(w0);
	lfd = rpd_worker_fd(w1);
	for (i = 0; i < 20; i++) {
		fd = rpdt_accept_any(&lfd, 1, 2000, &which);
		ASSERT_LE(0, fd) TH_LOG("only %d of 20 migrated", i);
		memset(buf, 0, sizeof(buf));
		ASSERT_EQ(8, read(fd, buf, sizeof(buf) - 1));
		ASSERT_EQ(1, sscanf(buf, "hello %d", &n));
		ASSERT_LE(0, n);
		ASSERT_GT(20, n);
		got[n]++;
		close(fd);
	}
	for (i = 0; i < 20; i++) {
		EXPECT_EQ(1, got[i]);
		close(clients[i]);
	}
	ASSERT_EQ(0, rpdt_counters(self->bpffs, "t", &c));
	EXPECT_EQ(20, c.migrated);
	EXPECT_EQ(20, c.selected);
	ASSERT_EQ(0, rpdt_slot(self->bpffs, "t", rpd_worker_slot(w1), &s));
	EXPECT_EQ(20, s.dispatched);
	rpd_worker_close(w1);
	rpd_group_close(g);
}

TEST_F(sandbox, addresses_do_not_mix)
{
	static const char *const addrs[3] = {
		"127.0.0.1:8080", "127.0.0.2:8080", "[::1]:8080",
	};
	struct rpd_worker *w[6];
	struct rpd_counters c;
	struct rpd_group *g;
	int i, a, which;

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 16, NULL));
	ASSERT_EQ(0, rpd_group_open("t", self->bpffs, &g));
	for (i = 0; i < 6; i++)
		ASSERT_EQ(0, rpd_listen(g, addrs[i / 2], NULL, &w[i]))
			TH_LOG("%s", rpd_errmsg());
	for (a = 0; a < 3; a++) {
		for (i = 0; i < 10; i++) {
			which = rpdt_which(w, 6, addrs[a], NULL);
			ASSERT_LE(0, which);
			EXPECT_EQ(a, which / 2) TH_LOG("%s went to %s", addrs[a], addrs[which / 2]);
		}
	}
	ASSERT_EQ(0, rpdt_counters(self->bpffs, "t", &c));
	EXPECT_EQ(30, c.selected);
	EXPECT_EQ(0, c.fallback);
	EXPECT_EQ(0, c.errors);
	for (i = 0; i < 6; i++)
		rpd_worker_close(w[i]);
	rpd_group_close(g);
}

TEST_F(sandbox, close_frees_the_slot)
{
	struct rpd_worker *w;
	struct rpd_group *g;
	int slot;

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 1, NULL));
	ASSERT_EQ(0, rpd_group_open("t", self->bpffs, &g));
	ASSERT_EQ(1, rpd_group_nr_slots(g));
	ASSERT_EQ(0, rpd_listen(g, "127.0.0.1:8080", NULL, &w));
	slot = rpd_worker_slot(w);
	rpd_worker_close(w);
	ASSERT_EQ(0, rpd_listen(g, "127.0.0.1:8080", NULL, &w)) TH_LOG("%s", rpd_errmsg());
	EXPECT_EQ(slot, rpd_worker_slot(w));
	rpd_worker_close(w);
	rpd_group_close(g);
}

TEST_F(sandbox, open_errors)
{
	char path[128];
	struct rpd_config cfg;
	struct rpd_group *g;
	__u32 zero = 0;
	int fd;

	EXPECT_EQ(-ENOENT, rpd_group_open("web", self->bpffs, &g));
	EXPECT_NE(NULL, strstr(rpd_errmsg(), "group 'web' is not loaded (no "))
		TH_LOG("%s", rpd_errmsg());
	EXPECT_EQ(-EINVAL, rpd_group_open("../x", self->bpffs, &g));
	EXPECT_NE(NULL, strstr(rpd_errmsg(), "invalid group name '../x'"));
	EXPECT_EQ(-EINVAL, rpd_group_open("a.b", self->bpffs, &g));
	EXPECT_EQ(-EMEDIUMTYPE, rpd_group_open("web", "/tmp", &g));
	EXPECT_NE(NULL, strstr(rpd_errmsg(), "/tmp is not a bpf filesystem; mount one with: mount -t bpf bpf /tmp"));

	/* a group loaded by an rpd of another ABI is refused */
	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 4, NULL));
	ASSERT_EQ(0, rpdu_group_path(path, sizeof(path), self->bpffs, "t", RPD_PIN_CONFIG));
	fd = bpf_obj_get(path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bpf_map_lookup_elem(fd, &zero, &cfg));
	cfg.abi_version = RPD_ABI_VERSION + 1;
	ASSERT_EQ(0, bpf_map_update_elem(fd, &zero, &cfg, 0));
	EXPECT_EQ(-EPROTO, rpd_group_open("t", self->bpffs, &g));
	snprintf(path, sizeof(path), "group 't' was loaded with ABI version %d, this librpd speaks %d",
		 RPD_ABI_VERSION + 1, RPD_ABI_VERSION);
	EXPECT_NE(NULL, strstr(rpd_errmsg(), path)) TH_LOG("%s", rpd_errmsg());
	close(fd);
}

TEST_F(sandbox, listen_errors)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9090),
				   .sin_addr.s_addr = htonl(0x7f000001) };
	struct rpd_worker *w;
	struct rpd_group *g;
	int fd;

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 4, NULL));
	ASSERT_EQ(0, rpd_group_open("t", self->bpffs, &g));
	EXPECT_EQ(-EINVAL, rpd_listen(g, "127.0.0.1", NULL, &w));
	EXPECT_STREQ("invalid listen address '127.0.0.1': expected ADDR:PORT", rpd_errmsg());
	EXPECT_EQ(-EINVAL, rpd_listen(g, "127.0.0.1:70000", NULL, &w));
	EXPECT_STREQ("invalid listen address '127.0.0.1:70000': port out of range (1-65535)", rpd_errmsg());
	EXPECT_EQ(-EINVAL, rpd_listen(g, "::1:80", NULL, &w));
	EXPECT_NE(NULL, strstr(rpd_errmsg(), "needs brackets"));
	EXPECT_EQ(-EINVAL, rpd_listen(g, "[::1:80", NULL, &w));
	EXPECT_EQ(-EINVAL, rpd_listen(g, "[zz]:80", NULL, &w));
	EXPECT_EQ(-EINVAL, rpd_listen(g, "1.2.3:80", NULL, &w));

	/* a plain listener outside the group holds the port */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bind(fd, (struct sockaddr *)&sin, sizeof(sin)));
	ASSERT_EQ(0, listen(fd, 1));
	EXPECT_EQ(-EADDRINUSE, rpd_listen(g, "127.0.0.1:9090", NULL, &w));
	EXPECT_STREQ("address 127.0.0.1:9090 is in use by a socket outside group 't'", rpd_errmsg());
	close(fd);

	EXPECT_EQ(-ERANGE, rpd_listen(g, "127.0.0.1:9090",
				      &(struct rpd_listen_opts){ .weight = 70000 }, &w));
	rpd_group_close(g);
}

TEST_F(sandbox, unprivileged_open_is_refused)
{
	struct rpd_group *g;

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 4, NULL));
	/* bpffs mounted mode 0700 would hide the group: open it up so the
	 * refusal comes from bpf() itself
	 */
	ASSERT_EQ(0, chmod(self->bpffs, 0755));
	ASSERT_EQ(0, setresgid(65534, 65534, 65534));
	ASSERT_EQ(0, setresuid(65534, 65534, 65534));
	EXPECT_EQ(-EPERM, rpd_group_open("t", self->bpffs, &g)) TH_LOG("%s", rpd_errmsg());
	EXPECT_NE(NULL, strstr(rpd_errmsg(), "permission denied (needs CAP_DAC_OVERRIDE, or the pins' owner: see 'rpdctl load --owner')"))
		TH_LOG("%s", rpd_errmsg());
}

TEST_HARNESS_MAIN
