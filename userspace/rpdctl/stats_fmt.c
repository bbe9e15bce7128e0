// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stats' numbers and how they are printed, apart from reading the group
 * so that they can be checked (and fuzzed) on any slot contents: a worker
 * may write anything into its own slot.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"
#include "rpdctl.h"

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

void stats_sum(struct snapshot *sn)
{
	__u32 i;

	sn->total = 0;
	for (i = 0; i < sn->n; i++)
		sn->total += sn->rows[i].s.dispatched;
	balance(sn->rows, sn->n, &sn->bal);
}

/* As the dispatcher reads them (bpf/rpd.bpf.c): the counters may wrap,
 * and a worker may report a finish before the dispatch is counted, or
 * write anything at all into its own slot.
 */
static __u64 inflight(const struct rpd_slot *s)
{
	__s64 d = (__s64)(s->dispatched - s->finished);

	if (d < 0)
		return 0;
	return (__u64)d > RPD_INFLIGHT_CLAMP ? RPD_INFLIGHT_CLAMP : (__u64)d;
}

static double share(const struct snapshot *sn, __u32 i)
{
	return sn->total ? 100.0 * sn->rows[i].s.dispatched / sn->total : 0.0;
}

static __u32 weight(const struct rpd_slot *s)
{
	if (!s->weight)
		return 1;
	return s->weight > RPD_WEIGHT_MAX ? RPD_WEIGHT_MAX : s->weight;
}

void stats_print_text(FILE *f, const struct snapshot *sn, const char *name)
{
	const struct rpd_counters *c = &sn->counters;
	const struct rpd_slot *s;
	__u32 i;

	fprintf(f, "group %s: policy %s, %u slots, %u in use\n\n", name,
	       rpdu_policy_name(sn->policy), sn->nr_slots, sn->n);
	if (!sn->n) {
		fprintf(f, "no slot in use\n");
	} else {
		fprintf(f, "%5s  %8s  %12s  %12s  %9s  %6s  %6s  %5s  %-8s  %s\n",
		       "SLOT", "PID", "DISPATCHED", "FINISHED", "IN FLIGHT",
		       "SHARE", "WEIGHT", "DRAIN", "OWNER", "SOCKET");
		for (i = 0; i < sn->n; i++) {
			s = &sn->rows[i].s;
			fprintf(f, "%5u  %8u  %12llu  %12llu  %9llu  %5.1f%%  %6u  %5s  %-8s  %llu\n",
			       sn->rows[i].slot, s->pid,
			       (unsigned long long)s->dispatched,
			       (unsigned long long)s->finished,
			       (unsigned long long)inflight(s), share(sn, i),
			       weight(s), s->drain ? "on" : "off",
			       slot_owner(s), (unsigned long long)s->cookie);
		}
	}
	fprintf(f, "\nbalance   max/min %.2f  cov %.3f  jain %.3f\n",
	       sn->bal.max_min, sn->bal.cov, sn->bal.jain);
	fprintf(f, "counters  selected %llu  fallback %llu  empty %llu  migrated %llu  errors %llu\n",
	       (unsigned long long)c->selected, (unsigned long long)c->fallback,
	       (unsigned long long)c->empty, (unsigned long long)c->migrated,
	       (unsigned long long)c->errors);
}

void stats_print_json(FILE *f, const struct snapshot *sn, const char *name)
{
	const struct rpd_counters *c = &sn->counters;
	const struct rpd_slot *s;
	struct json j;
	__u32 i;

	json_init(&j, f, opts.pretty);
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
