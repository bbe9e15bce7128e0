// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stats: how a group's connections are spread over its workers, and the
 * balance math that sums it up.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "rpdctl.h"

/* A day: anything longer is a typo, and it keeps the timespec sane. */
#define WATCH_MAX_SECONDS	86400.0

struct balance {
	double max_min;
	double cov;
	double jain;
};

/* One reading of the group, taken whole before it is printed. */
struct snapshot {
	__u32 policy;
	__u32 nr_slots;
	struct slot_row *rows;
	__u64 *selected;	/* per row, summed over CPUs */
	__u32 n;
	__u64 total;		/* dispatched, over the rows */
	struct balance bal;
	struct rpd_counters counters;
};

static const struct option stats_opts[] = {
	{ "watch", required_argument, NULL, 'w' },
	GLOBAL_LONGOPTS,
	{ NULL }
};

static volatile sig_atomic_t stop;

/*
 * max/min = max / max(min, 1); cov = population stddev / mean;
 * jain = sum^2 / (n * sum of squares). With no slot or no traffic there is
 * no imbalance to report: 1.0, 0 and 1.0.
 */
static void balance(const struct slot_row *rows, __u32 n, struct balance *b)
{
	double sum = 0, sumsq = 0, dev = 0, mean, x;
	__u64 max = 0, min = UINT64_MAX;
	__u32 i;

	b->max_min = 1.0;
	b->cov = 0.0;
	b->jain = 1.0;
	for (i = 0; i < n; i++) {
		x = rows[i].s.dispatched;
		sum += x;
		sumsq += x * x;
		if (rows[i].s.dispatched > max)
			max = rows[i].s.dispatched;
		if (rows[i].s.dispatched < min)
			min = rows[i].s.dispatched;
	}
	if (!n || sum == 0)
		return;
	b->max_min = (double)max / (double)(min > 1 ? min : 1);
	mean = sum / n;
	/* two passes: sumsq/n - mean^2 cancels badly for large counts */
	for (i = 0; i < n; i++) {
		x = rows[i].s.dispatched - mean;
		dev += x * x;
	}
	b->cov = sqrt(dev / n) / mean;
	b->jain = sum * sum / (n * sumsq);
}

static __u64 inflight(const struct rpd_slot *s)
{
	/* a worker may report a finish before the dispatch is counted */
	return s->dispatched > s->finished ? s->dispatched - s->finished : 0;
}

static double share(const struct snapshot *sn, __u32 i)
{
	return sn->total ? 100.0 * sn->rows[i].s.dispatched / sn->total : 0.0;
}

static __u32 weight(const struct rpd_slot *s)
{
	return s->weight ? s->weight : 1;
}

static void snapshot_free(struct snapshot *sn)
{
	free(sn->rows);
	free(sn->selected);
	memset(sn, 0, sizeof(*sn));
}

static int snapshot_read(struct snapshot *sn, const char *name)
{
	struct group g;
	__u32 i;
	int err;

	memset(sn, 0, sizeof(*sn));
	err = group_open(&g, name);
	if (err)
		return err;
	sn->policy = g.cfg.policy;
	sn->nr_slots = g.nr_slots;
	err = group_read_in_use(&g, &sn->rows, &sn->n);
	if (err)
		goto cleanup;
	sn->selected = calloc(sn->n ? sn->n : 1, sizeof(*sn->selected));
	if (!sn->selected) {
		err = -ENOMEM;
		set_error("out of memory");
		goto cleanup;
	}
	for (i = 0; i < sn->n; i++) {
		err = group_selected(&g, sn->rows[i].slot, &sn->selected[i]);
		if (err)
			goto cleanup;
		sn->total += sn->rows[i].s.dispatched;
	}
	err = group_counters(&g, &sn->counters);
	if (err)
		goto cleanup;
	balance(sn->rows, sn->n, &sn->bal);
cleanup:
	group_close(&g);
	if (err)
		snapshot_free(sn);
	return err;
}

static void print_text(const struct snapshot *sn, const char *name)
{
	const struct rpd_counters *c = &sn->counters;
	const struct rpd_slot *s;
	__u32 i;

	printf("group %s: policy %s, %u slots, %u in use\n\n", name,
	       rpdu_policy_name(sn->policy), sn->nr_slots, sn->n);
	if (!sn->n) {
		printf("no slot in use\n");
	} else {
		printf("%5s  %8s  %12s  %12s  %9s  %6s  %6s  %5s  %-8s  %s\n",
		       "SLOT", "PID", "DISPATCHED", "FINISHED", "IN FLIGHT",
		       "SHARE", "WEIGHT", "DRAIN", "OWNER", "SOCKET");
		for (i = 0; i < sn->n; i++) {
			s = &sn->rows[i].s;
			printf("%5u  %8u  %12llu  %12llu  %9llu  %5.1f%%  %6u  %5s  %-8s  %llu\n",
			       sn->rows[i].slot, s->pid,
			       (unsigned long long)s->dispatched,
			       (unsigned long long)s->finished,
			       (unsigned long long)inflight(s), share(sn, i),
			       weight(s), s->drain ? "on" : "off",
			       slot_owner(s), (unsigned long long)s->cookie);
		}
	}
	printf("\nbalance   max/min %.2f  cov %.3f  jain %.3f\n",
	       sn->bal.max_min, sn->bal.cov, sn->bal.jain);
	printf("counters  selected %llu  fallback %llu  empty %llu  migrated %llu  errors %llu\n",
	       (unsigned long long)c->selected, (unsigned long long)c->fallback,
	       (unsigned long long)c->empty, (unsigned long long)c->migrated,
	       (unsigned long long)c->errors);
}

static void print_json(const struct snapshot *sn, const char *name)
{
	const struct rpd_counters *c = &sn->counters;
	const struct rpd_slot *s;
	struct json j;
	__u32 i;

	json_init(&j, stdout, opts.pretty);
	json_object_begin(&j);
	json_kstring(&j, "group", name);
	json_kstring(&j, "policy", rpdu_policy_name(sn->policy));
	json_kuint(&j, "nr_slots", sn->nr_slots);
	json_key(&j, "slots");
	json_array_begin(&j);
	for (i = 0; i < sn->n; i++) {
		s = &sn->rows[i].s;
		json_object_begin(&j);
		json_kuint(&j, "slot", sn->rows[i].slot);
		json_kuint(&j, "pid", s->pid);
		json_kstring(&j, "address", sn->rows[i].addr);
		json_kuint(&j, "dispatched", s->dispatched);
		json_kuint(&j, "finished", s->finished);
		json_kuint(&j, "inflight", inflight(s));
		json_kdouble(&j, "share", share(sn, i));
		json_kuint(&j, "weight", weight(s));
		json_kbool(&j, "drain", s->drain);
		json_kuint(&j, "selected", sn->selected[i]);
		json_kstring(&j, "owner", slot_owner(s));
		json_kuint(&j, "cookie", s->cookie);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "balance");
	json_object_begin(&j);
	json_kdouble(&j, "max_min", sn->bal.max_min);
	json_kdouble(&j, "cov", sn->bal.cov);
	json_kdouble(&j, "jain", sn->bal.jain);
	json_object_end(&j);
	json_key(&j, "counters");
	json_object_begin(&j);
	json_kuint(&j, "selected", c->selected);
	json_kuint(&j, "fallback", c->fallback);
	json_kuint(&j, "empty", c->empty);
	json_kuint(&j, "migrated", c->migrated);
	json_kuint(&j, "errors", c->errors);
	json_object_end(&j);
	json_object_end(&j);
	json_finish(&j);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Sleeps @seconds unless a signal asks to stop first. */
static void watch_sleep(double seconds)
{
	struct timespec ts = {
		.tv_sec = (time_t)seconds,
		.tv_nsec = (long)((seconds - (time_t)seconds) * 1e9),
	};

	while (!stop && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int stats(const char *name, double watch)
{
	struct sigaction sa = { .sa_handler = on_signal };
	bool tty = isatty(STDOUT_FILENO);
	struct snapshot sn;
	bool first = true;

	if (bpffs_ready())
		return fail_last();
	/* no SA_RESTART: Ctrl-C must cut the sleep short */
	if (watch > 0) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	do {
		/* reopened every time: an unload or a reload shows at once */
		if (snapshot_read(&sn, name))
			return fail_last();
		if (opts.json) {
			print_json(&sn, name);
		} else {
			if (watch > 0 && tty)
				fputs("\033[H\033[2J", stdout);
			else if (!first)
				putchar('\n');
			print_text(&sn, name);
			fflush(stdout);
		}
		snapshot_free(&sn);
		first = false;
		if (watch > 0)
			watch_sleep(watch);
	} while (watch > 0 && !stop);
	return EXIT_OK;
}

int cmd_stats(const struct cmd *cmd, int argc, char **argv)
{
	const char *watch_arg = NULL;
	double watch = 0;
	char *end;

	/* its value is checked once every option is read, as in load */
	while (cli_getopt(cmd, argc, argv, stats_opts) != -1)
		watch_arg = optarg;
	if (cli_opts_done())
		return EXIT_USAGE;
	if (watch_arg) {
		errno = 0;
		watch = strtod(watch_arg, &end);
		if (errno || end == watch_arg || *end || !isfinite(watch) ||
		    watch <= 0 || watch > WATCH_MAX_SECONDS)
			return fail_usage("invalid --watch '%s': use a positive number of seconds, at most %.0f",
					  watch_arg, WATCH_MAX_SECONDS);
	}
	if (optind == argc)
		return fail_usage("stats: missing GROUP; see 'rpdctl stats help'");
	if (argc - optind > 1)
		return fail_usage("stats: unexpected argument '%s'; see 'rpdctl stats help'",
				  argv[optind + 1]);
	if (parse_group(argv[optind]))
		return EXIT_USAGE;
	return stats(argv[optind], watch);
}
