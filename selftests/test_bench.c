// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpd-bench, briefly: every model under each kind of load with tiny
 * settings. The bench must finish, and its JSON must name every model and
 * account for every connection: as many as asked, none failed, each one
 * counted for exactly one worker. shared-epoll-fifo needs a kernel module
 * and may instead be skipped, with a reason. No timing is asserted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "json.h"
#include "rpd_test.h"

#define ARGS(...)	((const char *const []){ "rpd-bench", __VA_ARGS__, NULL })

/* Generous: each model's processes start one by one, and under ASan or in
 * an emulated VM that is slow.
 */
#define BENCH_TIMEOUT	300

static const char *const all_models[] = {
	"shared-blocking", "shared-epoll", "shared-epoll-jitter", "reuseport-hash",
	"acceptor-thread", "master-rr", "rpd-least-conn", "rpd-p2c",
	"rpd-round-robin", "rpd-overflow", "shared-epoll-fifo",
};

#define NR_MODELS	(sizeof(all_models) / sizeof(all_models[0]))

FIXTURE(bench) {
	struct rpdt_out o;
};

FIXTURE_SETUP(bench)
{
}

FIXTURE_TEARDOWN(bench)
{
}

static double num(const struct json_value *doc, int i, const char *key)
{
	char path[64];

	snprintf(path, sizeof(path), "models[%d].%s", i, key);
	return json_num(doc, path);
}

/*
 * The document in @out reports @models (NULL: all of them, in order), each
 * either with @conns connections on @workers workers and no error, or -
 * shared-epoll-fifo only - skipped with a reason.
 */
static void check_report(struct __test_metadata *_metadata, const char *out,
			 const char *const *models, int nmodels, long conns,
			 int workers)
{
	struct json_value *doc;
	const char *name, *why;
	char err[128], path[64];
	double sum, v;
	int i, k;

	doc = json_parse(out, strlen(out), err, sizeof(err));
	ASSERT_NE(NULL, doc) TH_LOG("%s: %s", err, out);
	ASSERT_NE(NULL, json_str(doc, "scenario"));
	ASSERT_NE(NULL, json_str(doc, "machine"));
	ASSERT_EQ(nmodels, json_len(doc, "models")) TH_LOG("%s", out);
	for (i = 0; i < nmodels; i++) {
		snprintf(path, sizeof(path), "models[%d].model", i);
		name = json_str(doc, path);
		ASSERT_NE(NULL, name);
		EXPECT_STREQ(models[i], name);

		snprintf(path, sizeof(path), "models[%d].skipped", i);
		why = json_str(doc, path);
		if (why) {
			EXPECT_STREQ("shared-epoll-fifo", name);
			EXPECT_LT(0, strlen(why));
			/* a skipped model has no numbers to be mistaken for a result */
			snprintf(path, sizeof(path), "models[%d]", i);
			EXPECT_EQ(2, json_len(doc, path));
			continue;
		}
		EXPECT_EQ(conns, num(doc, i, "conns")) TH_LOG("%s", name);
		EXPECT_EQ(0, num(doc, i, "errors")) TH_LOG("%s", name);
		snprintf(path, sizeof(path), "models[%d].per_worker", i);
		ASSERT_EQ(workers, json_len(doc, path)) TH_LOG("%s", name);
		for (sum = 0, k = 0; k < workers; k++) {
			snprintf(path, sizeof(path), "models[%d].per_worker[%d]", i, k);
			v = json_num(doc, path);
			EXPECT_LE(0, v);
			sum += v;
		}
		EXPECT_EQ(conns, sum) TH_LOG("%s", name);
		/* the figures are consistent, whatever their values */
		EXPECT_LE(num(doc, i, "p50_ms"), num(doc, i, "p99_ms")) TH_LOG("%s", name);
		EXPECT_LE(num(doc, i, "p99_ms"), num(doc, i, "p999_ms")) TH_LOG("%s", name);
		EXPECT_LE(num(doc, i, "p999_ms"), num(doc, i, "max_ms")) TH_LOG("%s", name);
		v = num(doc, i, "jain");
		EXPECT_TRUE(v > 0 && v <= 1) TH_LOG("%s: jain %g", name, v);
		EXPECT_LE(1, num(doc, i, "max_min")) TH_LOG("%s", name);
		EXPECT_LT(0, num(doc, i, "rate")) TH_LOG("%s", name);
	}
	json_free(doc);
}

TEST_F_TIMEOUT(bench, open_loop, BENCH_TIMEOUT)
{
	struct json_value *doc;
	char err[128], path[64];
	double sb, v;
	int i;

	ASSERT_EQ(0, rpdt_run(&self->o, "rpd-bench",
			      ARGS("compare", "latency", "--workers", "4", "--conns", "60",
				   "--rate", "400", "--reps", "1", "--json")));
	ASSERT_EQ(0, self->o.status) TH_LOG("%s", self->o.err);
	check_report(_metadata, self->o.out, all_models, NR_MODELS, 60, 4);
	/* one repetition: the paired p99 ratio is the table's own */
	doc = json_parse(self->o.out, strlen(self->o.out), err, sizeof(err));
	ASSERT_NE(NULL, doc) TH_LOG("%s", err);
	sb = num(doc, 0, "p99_ms");
	ASSERT_STREQ("shared-blocking", json_str(doc, "models[0].model"));
	EXPECT_TRUE(isnan(num(doc, 0, "p99_vs_sb_paired")));
	for (i = 1; i < NR_MODELS; i++) {
		snprintf(path, sizeof(path), "models[%d].skipped", i);
		if (json_str(doc, path))
			continue;
		v = num(doc, i, "p99_vs_sb_paired");
		EXPECT_TRUE(fabs(v - num(doc, i, "p99_ms") / sb) < 0.01 * v)
			TH_LOG("%s: %g against %g / %g", all_models[i], v,
			       num(doc, i, "p99_ms"), sb);
	}
	json_free(doc);
}

TEST_F_TIMEOUT(bench, closed_loop_repeated, BENCH_TIMEOUT)
{
	struct json_value *doc;
	char err[128], path[64];
	double v;
	int i;

	/* two repetitions are summed: twice the connections */
	ASSERT_EQ(0, rpdt_run(&self->o, "rpd-bench",
			      ARGS("compare", "accept-rate", "--workers", "3", "--conns", "100",
				   "-c", "8", "--reps", "2", "--json")));
	ASSERT_EQ(0, self->o.status) TH_LOG("%s", self->o.err);
	check_report(_metadata, self->o.out, all_models, NR_MODELS, 200, 3);
	/* a closed loop's rates are also given as shares of the hash's */
	doc = json_parse(self->o.out, strlen(self->o.out), err, sizeof(err));
	ASSERT_NE(NULL, doc) TH_LOG("%s", err);
	for (i = 0; i < NR_MODELS; i++) {
		snprintf(path, sizeof(path), "models[%d].rate_vs_hash", i);
		v = json_num(doc, path);
		snprintf(path, sizeof(path), "models[%d].skipped", i);
		if (!strcmp(all_models[i], "reuseport-hash") || json_str(doc, path)) {
			EXPECT_TRUE(isnan(v)) TH_LOG("%s: %g", all_models[i], v);
		} else {
			EXPECT_LT(0, v) TH_LOG("%s", all_models[i]);
		}
	}
	json_free(doc);
}

/* The model is arithmetic on a seeded draw: its order is queueing theory's */
TEST(model_orders_the_dispatches)
{
	static const char *const names[] = {
		"shared-queue", "least-conn", "p2c", "round-robin", "hash",
	};
	static struct rpdt_out o, again;
	struct json_value *doc;
	char err[128], path[64];
	size_t i;

	ASSERT_EQ(0, rpdt_run(&o, "rpd-bench", ARGS("model", "latency", "--json")));
	ASSERT_EQ(0, o.status) TH_LOG("%s", o.err);
	doc = json_parse(o.out, strlen(o.out), err, sizeof(err));
	ASSERT_NE(NULL, doc) TH_LOG("%s: %s", err, o.out);
	EXPECT_EQ(1000000, json_num(doc, "modelled"));
	ASSERT_EQ(5, json_len(doc, "models"));
	for (i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "models[%zu].model", i);
		EXPECT_STREQ(names[i], json_str(doc, path));
	}
	EXPECT_EQ(1, num(doc, 0, "p99_vs_shared"));
	/* one queue beats binding at arrival; knowing every queue beats
	 * knowing two, which beats knowing none
	 */
	EXPECT_LT(1.1, num(doc, 1, "p99_vs_shared"));
	EXPECT_GT(1.5, num(doc, 1, "p99_vs_shared"));
	EXPECT_LT(num(doc, 1, "p99_ms"), num(doc, 2, "p99_ms"));
	EXPECT_LT(num(doc, 2, "p99_ms"), num(doc, 3, "p99_ms"));
	EXPECT_LT(num(doc, 3, "p99_ms"), num(doc, 4, "p99_ms"));
	json_free(doc);
	/* the same seed, the same numbers; another seed, others */
	ASSERT_EQ(0, rpdt_run(&again, "rpd-bench", ARGS("model", "latency", "--json")));
	EXPECT_STREQ(o.out, again.out);
	ASSERT_EQ(0, rpdt_run(&again, "rpd-bench",
			      ARGS("model", "latency", "--json", "--seed", "2")));
	EXPECT_STRNE(o.out, again.out);
}

TEST_F_TIMEOUT(bench, persistent, BENCH_TIMEOUT)
{
	/* every connection stays open until all are: 40 open at once */
	ASSERT_EQ(0, rpdt_run(&self->o, "rpd-bench",
			      ARGS("compare", "persistent", "--workers", "4", "--conns", "40",
				   "--rate", "400", "--reps", "1", "--json")));
	ASSERT_EQ(0, self->o.status) TH_LOG("%s", self->o.err);
	check_report(_metadata, self->o.out, all_models, NR_MODELS, 40, 4);
}

TEST_F_TIMEOUT(bench, slow_worker_cpu_bimodal, BENCH_TIMEOUT)
{
	static const char *const some[] = { "reuseport-hash", "master-rr", "rpd-least-conn" };

	ASSERT_EQ(0, rpdt_run(&self->o, "rpd-bench",
			      ARGS("run", "slow-worker", "--models",
				   "rpd-least-conn,master-rr,reuseport-hash", "--workers", "2",
				   "--conns", "30", "--rate", "200", "--work", "cpu",
				   "--service", "bimodal", "--mean-ms", "0.5", "--json")));
	ASSERT_EQ(0, self->o.status) TH_LOG("%s", self->o.err);
	/* in the bench's own order, whatever the order asked */
	check_report(_metadata, self->o.out, some, 3, 30, 2);
}

TEST_F_TIMEOUT(bench, text_report, BENCH_TIMEOUT)
{
	ASSERT_EQ(0, rpdt_run(&self->o, "rpd-bench",
			      ARGS("run", "lowload", "--models", "shared-epoll,rpd-p2c",
				   "--workers", "2", "--conns", "20", "--rate", "300")));
	ASSERT_EQ(0, self->o.status) TH_LOG("%s", self->o.err);
	EXPECT_NE(NULL, strstr(self->o.out, "== shared-epoll: ")) TH_LOG("%s", self->o.out);
	EXPECT_NE(NULL, strstr(self->o.out, "== rpd-p2c: "));
	EXPECT_NE(NULL, strstr(self->o.out, "connections 20, ok 20, errors 0"));
	EXPECT_NE(NULL, strstr(self->o.out, " count:20\n"));
	EXPECT_NE(NULL, strstr(self->o.out, "value (ms) |"));
}

TEST(usage_errors)
{
	const struct {
		const char *const *argv;
		const char *msg;
	} cases[] = {
		{ ARGS("frobnicate"), "unknown command 'frobnicate'" },
		{ ARGS("run"), "run: missing SCENARIO" },
		{ ARGS("run", "fast"), "unknown scenario 'fast'" },
		{ ARGS("compare", "latency", "--rho", "0"), "--rho '0': must be a number above 0" },
		{ ARGS("compare", "latency", "--rho", "x"), "--rho 'x': must be a number" },
		{ ARGS("compare", "latency", "--workers", "65"), "--workers '65': must be an integer from 1 to 64" },
		{ ARGS("compare", "latency", "--conns", "-1"), "--conns '-1': must be an integer" },
		{ ARGS("compare", "latency", "--models", "nginx"), "--models: unknown model 'nginx'" },
		{ ARGS("compare", "latency", "--rate", "10", "--rho", "0.5"), "--rate and --rho" },
		{ ARGS("compare", "latency", "-c", "10"), "--concurrency: only for a closed loop" },
		{ ARGS("compare", "accept-rate", "--rate", "10"), "--rate: a closed loop has no arrival rate" },
		{ ARGS("compare", "latency", "--service", "pareto"), "--service 'pareto': must be const, exp or bimodal" },
		{ ARGS("compare", "latency", "--work", "idle"), "--work 'idle': must be sleep or cpu" },
		{ ARGS("compare", "latency", "--bogus"), "unknown option '--bogus'" },
		{ ARGS("compare", "latency", "--reps"), "option '--reps' needs an argument" },
		{ ARGS("compare", "latency", "extra"), "unexpected argument 'extra'" },
		{ ARGS("compare", "accept-rate", "--load", "open"), "--rho: with no service time" },
		{ ARGS("compare", "latency", "--save", "/nonexistent"), "--save '/nonexistent': not a directory" },
		{ ARGS("model", "accept-rate"), "model: accept-rate is not an open loop; use latency, lowload or slow-worker" },
		{ ARGS("model", "latency", "--reps", "3"), "model: --reps is for run and compare" },
		{ ARGS("model", "latency", "--models", "hash"), "model: --models is for run and compare" },
	};
	struct rpdt_out *o = malloc(sizeof(*o));
	unsigned int i;

	ASSERT_NE(NULL, o);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ASSERT_EQ(0, rpdt_run(o, "rpd-bench", cases[i].argv));
		EXPECT_EQ(2, o->status) TH_LOG("case %u: %s", i, o->err);
		EXPECT_NE(NULL, strstr(o->err, cases[i].msg)) TH_LOG("case %u: %s", i, o->err);
		/* one line, nothing on stdout */
		EXPECT_EQ(strlen(o->err) - 1, strcspn(o->err, "\n")) TH_LOG("case %u: %s", i, o->err);
		EXPECT_STREQ("", o->out);
	}
	ASSERT_EQ(0, rpdt_run(o, "rpd-bench", ARGS("--help")));
	EXPECT_EQ(0, o->status);
	EXPECT_NE(NULL, strstr(o->out, "usage: rpd-bench run SCENARIO"));
	ASSERT_EQ(0, rpdt_run(o, "rpd-bench", ARGS("list")));
	EXPECT_EQ(0, o->status);
	for (i = 0; i < NR_MODELS; i++)
		EXPECT_NE(NULL, strstr(o->out, all_models[i])) TH_LOG("model %u", i);
	free(o);
}

TEST_HARNESS_MAIN
