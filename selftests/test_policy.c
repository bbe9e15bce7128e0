// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The dispatcher's policies, on a real group: four workers in this process
 * listening on loopback, real TCP clients, and the listener that accepted
 * each connection tells which slot the program chose.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "kselftest_harness.h"
#include "rpd.h"
#include "rpd_test.h"

#define NW	4

FIXTURE(group) {
	char bpffs[64];
	struct rpd_group *g;
	struct rpd_worker *w[NW];
};

FIXTURE_VARIANT(group) {
	const char *addr;
};

FIXTURE_VARIANT_ADD(group, ipv4) {
	.addr = "127.0.0.1:8080",
};

FIXTURE_VARIANT_ADD(group, ipv6) {
	.addr = "[::1]:8080",
};

FIXTURE_SETUP(group)
{
	int i;

	ASSERT_EQ(0, rpdt_sandbox(self->bpffs, sizeof(self->bpffs)));
	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 16, "least-conn"));
	ASSERT_EQ(0, rpd_group_open("t", self->bpffs, &self->g))
		TH_LOG("%s", rpd_errmsg());
	for (i = 0; i < NW; i++)
		ASSERT_EQ(0, rpd_listen(self->g, variant->addr, NULL, &self->w[i]))
			TH_LOG("%s", rpd_errmsg());
}

FIXTURE_TEARDOWN(group)
{
	int i;

	for (i = 0; i < NW; i++)
		rpd_worker_close(self->w[i]);
	rpd_group_close(self->g);
	rpdt_sandbox_done(self->bpffs);
}

static void set_policy(struct __test_metadata *_metadata, const char *bpffs,
		       const char *policy)
{
	struct rpdt_out o;

	ASSERT_EQ(0, rpdt_ctl(&o, bpffs, "set", "t", "policy", policy, NULL));
	ASSERT_EQ(0, o.status) TH_LOG("%s", o.err);
}

TEST_F(group, least_conn_fills_evenly)
{
	int count[NW] = {}, i;

	/* nothing finishes: each round of 4 must go one to each worker */
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, 3 * NW, count, NULL));
	for (i = 0; i < NW; i++)
		EXPECT_EQ(3, count[i]) TH_LOG("worker %d", i);
}

TEST_F(group, least_conn_picks_fewest_in_flight)
{
	int count[NW] = {}, i, which;

	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, 2 * NW, NULL, NULL));
	/* worker 2 finishes both of its connections: it alone has 0 */
	rpd_conn_done(self->w[2]);
	rpd_conn_done(self->w[2]);
	for (i = 0; i < 2; i++) {
		which = rpdt_which(self->w, NW, variant->addr, NULL);
		ASSERT_EQ(2, which);
	}
	/* now all have 2 in flight again: the next 4 spread one each */
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, NW, count, NULL));
	for (i = 0; i < NW; i++)
		EXPECT_EQ(1, count[i]) TH_LOG("worker %d", i);
}

/* Late binding: the overflow queue takes a connection only when no
 * worker is idle, and a worker that takes one from it counts it as its own.
 */
TEST_F(group, overflow_queue_takes_what_no_idle_worker_can)
{
	struct rpd_worker *all[NW + 1];
	struct pollfd pfd = { .events = POLLIN };
	int seen[NW + 1] = {}, i, c, fd, which;
	static struct rpdt_out o;
	struct rpd_slot s;

	ASSERT_EQ(0, rpd_listen_overflow(self->g, variant->addr, NULL, &all[NW]))
		TH_LOG("%s", rpd_errmsg());
	for (i = 0; i < NW; i++)
		all[i] = self->w[i];

	/* one to each idle worker, none to the queue */
	for (i = 0; i < NW; i++) {
		which = rpdt_which(all, NW + 1, variant->addr, NULL);
		ASSERT_LE(0, which);
		seen[which]++;
	}
	for (i = 0; i < NW; i++)
		EXPECT_EQ(1, seen[i]) TH_LOG("worker %d", i);
	EXPECT_EQ(0, seen[NW]);
	/* every worker busy: the queue */
	EXPECT_EQ(NW, rpdt_which(all, NW + 1, variant->addr, NULL));

	/* worker 1 takes the next from the queue: it counts as worker 1's */
	c = rpdt_connect(variant->addr, 0);
	ASSERT_LE(0, c);
	pfd.fd = rpd_worker_fd(all[NW]);
	ASSERT_EQ(1, poll(&pfd, 1, 2000));
	fd = rpd_accept_overflow(self->w[1], all[NW], SOCK_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("%s", rpd_errmsg());
	close(fd);
	rpdt_abort(c);
	ASSERT_EQ(0, rpdt_slot(self->bpffs, "t", rpd_worker_slot(self->w[1]), &s));
	EXPECT_EQ(2, s.dispatched);
	EXPECT_EQ(0, s.finished);
	/* the queue: two in, one taken by a worker (rpdt_which took the
	 * other straight off the listener, as no worker should)
	 */
	ASSERT_EQ(0, rpdt_slot(self->bpffs, "t", rpd_worker_slot(all[NW]), &s));
	EXPECT_EQ(2, s.dispatched);
	EXPECT_EQ(1, s.finished);
	EXPECT_EQ(RPD_SLOT_OVERFLOW, s.flags);
	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "-j", "show", "t", NULL));
	EXPECT_NE(NULL, strstr(o.out, "\"owner\": \"overflow\"")) TH_LOG("%s", o.out);

	/* nothing queued: another worker was faster, nothing counted */
	EXPECT_EQ(-EAGAIN, rpd_accept_overflow(self->w[1], all[NW], 0));
	ASSERT_EQ(0, rpdt_slot(self->bpffs, "t", rpd_worker_slot(self->w[1]), &s));
	EXPECT_EQ(2, s.dispatched);
	EXPECT_EQ(-EINVAL, rpd_accept_overflow(self->w[1], self->w[2], 0));
	EXPECT_NE(NULL, strstr(rpd_errmsg(), "is not an overflow queue"));

	/* a worker frees: it, not the queue, takes the next */
	rpd_conn_done(self->w[3]);
	EXPECT_EQ(3, rpdt_which(all, NW + 1, variant->addr, NULL));

	/* round-robin binds at arrival, always: the queue is left alone */
	set_policy(_metadata, self->bpffs, "round-robin");
	for (i = 0; i < 2 * NW; i++) {
		which = rpdt_which(all, NW + 1, variant->addr, NULL);
		EXPECT_TRUE(which >= 0 && which < NW) TH_LOG("%d", which);
	}
	/* the queue gone, every connection is bound at arrival again */
	rpd_worker_close(all[NW]);
	set_policy(_metadata, self->bpffs, "least-conn");
	which = rpdt_which(self->w, NW, variant->addr, NULL);
	EXPECT_TRUE(which >= 0 && which < NW) TH_LOG("%d", which);
}

TEST_F(group, least_conn_ties_spread_evenly)
{
	int seen[NW] = {}, i, which;

	/* every connection finishes at once, so every choice is a 4-way
	 * tie: each worker must get about a quarter of 80 (a tie-break by
	 * position would starve the workers behind the first)
	 */
	for (i = 0; i < 80; i++) {
		which = rpdt_which(self->w, NW, variant->addr, NULL);
		ASSERT_LE(0, which);
		rpd_conn_done(self->w[which]);
		seen[which]++;
	}
	for (i = 0; i < NW; i++) {
		struct rpd_slot s = {};

		rpdt_slot(self->bpffs, "t", rpd_worker_slot(self->w[i]), &s);
		EXPECT_LE(5, seen[i])
			TH_LOG("%d %d %d %d; worker %d: slot %d dispatched %llu finished %llu",
			       seen[0], seen[1], seen[2], seen[3], i,
			       rpd_worker_slot(self->w[i]),
			       (unsigned long long)s.dispatched,
			       (unsigned long long)s.finished);
	}
}

TEST_F(group, least_conn_weight)
{
	int count[NW] = {};

	/* in flight / weight: weight 3 takes 3 for every 1 of the others */
	ASSERT_EQ(0, rpd_set_weight(self->w[1], 3));
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, 12, count, NULL));
	EXPECT_EQ(6, count[1]);
	EXPECT_EQ(2, count[0]);
	EXPECT_EQ(2, count[2]);
	EXPECT_EQ(2, count[3]);
	EXPECT_EQ(-ERANGE, rpd_set_weight(self->w[1], 0));
	EXPECT_EQ(-ERANGE, rpd_set_weight(self->w[1], 65536));
	EXPECT_NE(NULL, strstr(rpd_errmsg(), "weight 65536 out of range"));
}

TEST_F(group, drain)
{
	int count[NW] = {}, i;

	ASSERT_EQ(0, rpd_set_drain(self->w[0], 1));
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, 9, count, NULL));
	EXPECT_EQ(0, count[0]);
	EXPECT_EQ(3, count[1]);
	EXPECT_EQ(3, count[2]);
	EXPECT_EQ(3, count[3]);

	/* all draining: still served, by the policy over the draining */
	for (i = 0; i < NW; i++)
		ASSERT_EQ(0, rpd_set_drain(self->w[i], 1));
	memset(count, 0, sizeof(count));
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, 3, count, NULL));
	EXPECT_EQ(3, count[0]);

	ASSERT_EQ(0, rpd_set_drain(self->w[2], 0));
	memset(count, 0, sizeof(count));
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, 4, count, NULL));
	EXPECT_EQ(4, count[2]);
}

TEST_F(group, round_robin_exact_rotation)
{
	int seq[3 * NW], i, j;

	set_policy(_metadata, self->bpffs, "round-robin");
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, 3 * NW, NULL, seq));
	for (i = 0; i < NW; i++)
		for (j = i + 1; j < NW; j++)
			EXPECT_NE(seq[i], seq[j]) TH_LOG("first round repeats %d", seq[i]);
	for (i = NW; i < 3 * NW; i++)
		EXPECT_EQ(seq[i - NW], seq[i]) TH_LOG("position %d", i);
}

TEST_F(group, round_robin_skips_drained)
{
	int count[NW] = {}, i;

	set_policy(_metadata, self->bpffs, "round-robin");
	ASSERT_EQ(0, rpd_set_drain(self->w[3], 1));
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, 9, count, NULL));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(3, count[i]) TH_LOG("worker %d", i);
	EXPECT_EQ(0, count[3]);
}

TEST_F(group, p2c_never_takes_the_worse)
{
	int count[NW] = {}, i, which;

	/* one connection each, then all but worker 1 finish theirs */
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, NW, NULL, NULL));
	for (i = 0; i < NW; i++)
		if (i != 1)
			rpd_conn_done(self->w[i]);
	set_policy(_metadata, self->bpffs, "p2c");
	/* worker 1 has 1 in flight, every other 0: any pair that holds 1
	 * has a better member, so 1 is never chosen
	 */
	for (i = 0; i < 60; i++) {
		which = rpdt_which(self->w, NW, variant->addr, NULL);
		ASSERT_LE(0, which);
		rpd_conn_done(self->w[which]);
		count[which]++;
	}
	EXPECT_EQ(0, count[1]);
	EXPECT_LT(0, count[0]);
	EXPECT_LT(0, count[2]);
	EXPECT_LT(0, count[3]);
}

TEST_F(group, hash_same_tuple_same_slot)
{
	int lfds[NW], i, c, fd, which, first = -1, spread[NW] = {}, distinct = 0;

	set_policy(_metadata, self->bpffs, "hash");
	for (i = 0; i < NW; i++)
		lfds[i] = rpd_worker_fd(self->w[i]);
	/* one 4-tuple, again and again (RST close: no TIME_WAIT) */
	for (i = 0; i < 8; i++) {
		c = rpdt_connect(variant->addr, 40000);
		ASSERT_LE(0, c) TH_LOG("connect: %s", strerror(-c));
		fd = rpdt_accept_any(lfds, NW, 2000, &which);
		ASSERT_LE(0, fd);
		rpdt_abort(c);
		close(fd);
		if (first < 0)
			first = which;
		EXPECT_EQ(first, which) TH_LOG("try %d", i);
	}
	/* different tuples spread: the hash is not a constant */
	for (i = 0; i < 64; i++) {
		c = rpdt_connect(variant->addr, 41000 + i);
		ASSERT_LE(0, c);
		fd = rpdt_accept_any(lfds, NW, 2000, &which);
		ASSERT_LE(0, fd);
		rpdt_abort(c);
		close(fd);
		spread[which]++;
	}
	for (i = 0; i < NW; i++)
		distinct += spread[i] > 0;
	EXPECT_LE(3, distinct);
}

TEST_F(group, policy_switch_takes_effect_at_once)
{
	int seq[NW], count[NW] = {}, i, j;

	/* least-conn with worker 0 loaded: it gets nothing ... */
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, NW, NULL, NULL));
	for (i = 1; i < NW; i++)
		rpd_conn_done(self->w[i]);
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, 3, count, NULL));
	EXPECT_EQ(0, count[0]);
	/* ... round-robin ignores load: the very next 4 rotate over all */
	set_policy(_metadata, self->bpffs, "round-robin");
	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, NW, NULL, seq));
	for (i = 0; i < NW; i++)
		for (j = i + 1; j < NW; j++)
			EXPECT_NE(seq[i], seq[j]);
}

TEST_F(group, counted_in_program_counters)
{
	struct rpd_counters c;
	struct rpd_slot s;
	int count[NW] = {}, i, total = 0;

	ASSERT_EQ(0, rpdt_spread(self->w, NW, variant->addr, 10, count, NULL));
	ASSERT_EQ(0, rpdt_counters(self->bpffs, "t", &c));
	EXPECT_EQ(10, c.selected);
	EXPECT_EQ(0, c.fallback);
	EXPECT_EQ(0, c.errors);
	for (i = 0; i < NW; i++) {
		ASSERT_EQ(0, rpdt_slot(self->bpffs, "t", rpd_worker_slot(self->w[i]), &s));
		EXPECT_EQ(count[i], s.dispatched);
		EXPECT_EQ(0, s.finished);
		EXPECT_EQ(getpid(), s.pid);
		total += s.dispatched;
	}
	EXPECT_EQ(10, total);
}

TEST_HARNESS_MAIN
