// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A hostile worker: the slot map is mmap'd read-write by every worker, so
 * one can write anything into its own counters. The dispatcher reads a
 * slot's in flight as dispatched - finished taken as a signed number,
 * negative as 0, capped at RPD_INFLIGHT_CLAMP, and its weight capped at
 * RPD_WEIGHT_MAX; these tests check that whatever slot 0 writes, the
 * other slots keep receiving connections.
 *
 * The bound, for least-conn: a slot is passed over only while its own in
 * flight is above 0. With 0 in flight nothing can look lighter (a load is
 * never below 0), so it ties with every slot reading 0 and takes each new
 * connection with probability at least 1/n, n the live slots: with 4
 * slots, the chance that it waits more than 80 connections is
 * (3/4)^80 < 1e-10. The hostile slot itself gets what its numbers ask
 * for: everything while it reads 0, nothing while it reads huge.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "kselftest_harness.h"
#include "json.h"
#include "rpd.h"
#include "rpd_util.h"
#include "rpd_test.h"

#define NW	4
#define ADDR	"127.0.0.1:8080"

FIXTURE(hostile) {
	char bpffs[64];
	struct rpd_group *g;
	struct rpd_worker *w[NW];
	struct rpd_slot *slots;		/* the map, as a worker maps it */
	size_t len;
	struct rpd_slot *bad;		/* worker 0's slot */
	int held[256];
	int nheld;
};

FIXTURE_SETUP(hostile)
{
	char path[256];
	int i, fd;

	ASSERT_EQ(0, rpdt_sandbox(self->bpffs, sizeof(self->bpffs)));
	/* as many slots as workers: a new worker can only take slot 0's */
	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", NW, "least-conn"));
	ASSERT_EQ(0, rpd_group_open("t", self->bpffs, &self->g)) TH_LOG("%s", rpd_errmsg());
	for (i = 0; i < NW; i++)
		ASSERT_EQ(0, rpd_listen(self->g, ADDR, NULL, &self->w[i])) TH_LOG("%s", rpd_errmsg());
	ASSERT_EQ(0, rpdu_group_path(path, sizeof(path), self->bpffs, "t", RPD_PIN_SLOTS));
	fd = bpf_obj_get(path);
	ASSERT_LE(0, fd);
	self->len = (NW * sizeof(struct rpd_slot) + getpagesize() - 1) &
		    ~((size_t)getpagesize() - 1);
	self->slots = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, self->slots);
	self->bad = &self->slots[rpd_worker_slot(self->w[0])];
}

FIXTURE_TEARDOWN(hostile)
{
	int i;

	for (i = 0; i < self->nheld; i++)
		close(self->held[i]);
	if (self->slots && self->slots != MAP_FAILED)
		munmap(self->slots, self->len);
	for (i = 0; i < NW; i++)
		rpd_worker_close(self->w[i]);
	rpd_group_close(self->g);
	rpdt_sandbox_done(self->bpffs);
}

/* @n connections, one at a time, counted per worker in @count. @hold:
 * the worker keeps each open (it stays in flight); else it closes it and
 * reports it done before the next one starts.
 */
static int traffic(FIXTURE_DATA(hostile) *self, int n, bool hold, int *count)
{
	int i, which, fd;

	for (i = 0; i < n; i++) {
		which = rpdt_which(self->w, NW, ADDR, &fd);
		if (which < 0)
			return which;
		count[which]++;
		if (hold && self->nheld < (int)(sizeof(self->held) / sizeof(self->held[0]))) {
			self->held[self->nheld++] = fd;
			continue;
		}
		close(fd);
		rpd_conn_done(self->w[which]);
	}
	return 0;
}

/* Every held connection ends, each reported done by its worker. */
static void finish_held(FIXTURE_DATA(hostile) *self, const int *count)
{
	int i, j;

	for (i = 0; i < self->nheld; i++)
		close(self->held[i]);
	self->nheld = 0;
	for (i = 0; i < NW; i++)
		for (j = 0; j < count[i]; j++)
			rpd_conn_done(self->w[i]);
}

/* @key of slot @slot's row in `rpdctl -j stats`, or NAN */
static double slot_field(const char *stats, __u32 slot, const char *key)
{
	char path[64];
	int i;

	for (i = 0; i < jlen(stats, "slots"); i++) {
		snprintf(path, sizeof(path), "slots[%d].slot", i);
		if (jnum(stats, path) != slot)
			continue;
		snprintf(path, sizeof(path), "slots[%d].%s", i, key);
		return jnum(stats, path);
	}
	return NAN;
}

TEST_F(hostile, finished_beyond_dispatched_reads_as_idle)
{
	int count[NW] = {}, again[NW] = {}, i;

	self->bad->finished = self->bad->dispatched + (1ULL << 40);

	/* Slot 0 reads 0 in flight forever and takes every connection
	 * that finds no other slot at 0; each honest slot still gets the
	 * one it ties for while idle.
	 */
	ASSERT_EQ(0, traffic(self, 40, true, count));
	EXPECT_EQ(37, count[0]);
	for (i = 1; i < NW; i++)
		EXPECT_EQ(1, count[i]) TH_LOG("worker %d", i);

	/* idle again, each honest slot is served again within the bound */
	finish_held(self, count);
	ASSERT_EQ(0, traffic(self, 80, true, again));
	for (i = 1; i < NW; i++)
		EXPECT_EQ(1, again[i]) TH_LOG("worker %d", i);
	EXPECT_EQ(77, again[0]);
}

TEST_F(hostile, counters_that_wrap_still_count)
{
	struct rpdt_out o;
	int count[NW] = {}, i;

	self->bad->dispatched = self->bad->finished = ~0ULL - 1;

	/* nothing finishes: least-conn must fill evenly across the wrap */
	ASSERT_EQ(0, traffic(self, 3 * NW, true, count));
	for (i = 0; i < NW; i++)
		EXPECT_EQ(3, count[i]) TH_LOG("worker %d", i);
	EXPECT_EQ(1, self->bad->dispatched);

	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "-j", "stats", "t", NULL));
	ASSERT_EQ(0, o.status) TH_LOG("%s", o.err);
	for (i = 0; i < NW; i++)
		EXPECT_EQ(3, slot_field(o.out, rpd_worker_slot(self->w[i]), "inflight"))
			TH_LOG("worker %d", i);
}

TEST_F(hostile, huge_load_and_weight_cannot_overflow)
{
	struct rpdt_out o;
	int count[NW] = {}, i;

	for (i = 1; i < NW; i++)
		ASSERT_EQ(0, rpd_set_weight(self->w[i], 4));
	/* 2^62 in flight times a weight of 4 wraps to 0 in 64 bits: only
	 * the clamp keeps slot 0 from looking the lightest
	 */
	self->bad->finished = self->bad->dispatched - (1ULL << 62);
	self->bad->weight = 0xffffffff;

	ASSERT_EQ(0, traffic(self, 30, true, count));
	EXPECT_EQ(0, count[0]);
	for (i = 1; i < NW; i++)
		EXPECT_EQ(10, count[i]) TH_LOG("worker %d", i);

	ASSERT_EQ(0, rpdt_ctl(&o, self->bpffs, "-j", "stats", "t", NULL));
	ASSERT_EQ(0, o.status) TH_LOG("%s", o.err);
	i = rpd_worker_slot(self->w[0]);
	EXPECT_EQ(RPD_WEIGHT_MAX, slot_field(o.out, i, "weight"));
	EXPECT_EQ((double)RPD_INFLIGHT_CLAMP, slot_field(o.out, i, "inflight"));
}

TEST_F(hostile, next_owner_of_the_slot_starts_clean)
{
	int count[NW] = {}, i;
	__u32 slot = rpd_worker_slot(self->w[0]);

	self->bad->finished = self->bad->dispatched + (1ULL << 40);
	self->bad->weight = 0;
	rpd_worker_close(self->w[0]);
	ASSERT_EQ(0, rpd_listen(self->g, ADDR, NULL, &self->w[0])) TH_LOG("%s", rpd_errmsg());
	ASSERT_EQ(slot, rpd_worker_slot(self->w[0]));
	EXPECT_EQ(self->bad->dispatched, self->bad->finished);
	EXPECT_EQ(RPD_WEIGHT_DEFAULT, self->bad->weight);

	ASSERT_EQ(0, traffic(self, 3 * NW, true, count));
	for (i = 0; i < NW; i++)
		EXPECT_EQ(3, count[i]) TH_LOG("worker %d", i);
}

TEST_HARNESS_MAIN
