// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What a run prints: a full report per model (the figures and the log2
 * histogram in the style of Cloudflare's "Why does one NGINX worker take
 * all the load?"), the side-by-side table of all models with their tails
 * as a multiple of shared-blocking's, one JSON document, and the data
 * files scripts/bench.sh plots.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define BAR_WIDTH	50

static const char *const err_names[E_NR] = {
	[E_REFUSED]	= "refused",
	[E_RESET]	= "reset",
	[E_TIMEOUT]	= "timeout",
	[E_BAD_REPLY]	= "bad reply",
	[E_OTHER]	= "other",
};

static double ms(double ns)
{
	return ns / 1e6;
}

static const char *dist_name(enum dist d)
{
	switch (d) {
	case DIST_CONST:
		return "constant";
	case DIST_EXP:
		return "exponential";
	case DIST_BIMODAL:
		return "bimodal";
	}
	return "?";
}

void describe_cfg(char *buf, size_t len, const struct cfg *c)
{
	char load[128], work[128], slow[64] = "";

	switch (c->load) {
	case LOAD_OPEN:
	case LOAD_PERSISTENT:
		snprintf(load, sizeof(load), "%s, Poisson arrivals %.0f/s (rho %.2f)",
			 c->load == LOAD_OPEN ? "open loop" : "long-lived connections",
			 c->rate, c->rate / cfg_capacity(c));
		break;
	case LOAD_CLOSED:
		snprintf(load, sizeof(load), "closed loop, %ld in flight", c->concurrency);
		break;
	}
	if (c->mean_ms > 0)
		snprintf(work, sizeof(work), "%s %g ms service (%s)", dist_name(c->dist),
			 c->mean_ms, c->cpu ? "cpu" : "sleep");
	else
		snprintf(work, sizeof(work), "no work");
	if (c->slow != 1)
		snprintf(slow, sizeof(slow), ", worker 0 %gx slower", c->slow);
	snprintf(buf, len, "%d workers, %s, %s%s; %ld conns x %d rep%s",
		 c->workers, load, work, slow, c->conns, c->reps, c->reps > 1 ? "s" : "");
}

/* Achieved connections per second: those that were ok over the time from
 * the first start to the last completion, all repetitions together.
 */
static double rate(const struct result *r)
{
	return r->elapsed_s > 0 ? r->ok / r->elapsed_s : 0;
}

static void print_histogram(FILE *f, const struct hist *h)
{
	unsigned long long rows[64] = {}, top = 0;
	int lo_row = 63, hi_row = 0, i, k, bar;
	double lo, hi, mid;

	if (!h->count)
		return;
	/*
	 * Rows are powers of two of a millisecond; a fine bucket goes to the
	 * row of its midpoint. Row k holds [2^(k-32), 2^(k-31)) ms.
	 */
	for (i = 0; i < HIST_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		hist_bucket(i, &lo, &hi);
		mid = ms((lo + hi) / 2);
		k = (int)floor(log2(mid)) + 32;
		if (k < 0)
			k = 0;
		if (k > 63)
			k = 63;
		rows[k] += h->b[i];
		if (k < lo_row)
			lo_row = k;
		if (k > hi_row)
			hi_row = k;
	}
	for (k = lo_row; k <= hi_row; k++)
		if (rows[k] > top)
			top = rows[k];
	fprintf(f, "%10s |", "value (ms)");
	for (i = 0; i < BAR_WIDTH; i++)
		fputc('-', f);
	fprintf(f, " count\n");
	for (k = lo_row; k <= hi_row; k++) {
		/* any nonzero row gets at least one star */
		bar = rows[k] ? (int)((rows[k] * BAR_WIDTH + top - 1) / top) : 0;
		fprintf(f, "%10g |", ldexp(1, k - 32));
		for (i = 0; i < BAR_WIDTH; i++)
			fputc(i < bar ? '*' : ' ', f);
		fprintf(f, " %llu\n", rows[k]);
	}
}

static void print_workers(FILE *f, const long *pw, int n)
{
	int i;

	for (i = 0; i < n; i++)
		fprintf(f, "%s%ld", i ? " " : "", pw[i]);
}

void print_detail(FILE *f, const struct cfg *c, enum model_id m,
		  const struct model_result *mr)
{
	const struct result *r = &mr->sum;
	const struct hist *h = &r->lat;
	int i;

	fprintf(f, "== %s: %s\n", models[m].name, models[m].about);
	if (mr->skipped[0]) {
		fprintf(f, "skipped: %s\n\n", mr->skipped);
		return;
	}
	fprintf(f, "connections %ld, ok %ld, errors %ld", r->conns, r->ok, r->errors);
	for (i = 0; i < E_NR; i++)
		if (r->err[i])
			fprintf(f, " (%s %ld)", err_names[i], r->err[i]);
	if (r->first_errno)
		fprintf(f, " [first other error: %s]", strerror(r->first_errno));
	fprintf(f, "\nachieved %.0f connections/s over %.2f s (%d rep%s)\n", rate(r),
		r->elapsed_s, mr->reps, mr->reps > 1 ? "s" : "");
	fprintf(f, "latency (ms): min %.3f  avg %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  stdev %.3f\n",
		ms(h->count ? h->min : 0), ms(hist_mean(h)), ms(hist_quantile(h, 0.5)),
		ms(hist_quantile(h, 0.9)), ms(hist_quantile(h, 0.99)),
		ms(hist_quantile(h, 0.999)), ms(h->max), ms(hist_stdev(h)));
	fprintf(f, "%s: ", c->load == LOAD_PERSISTENT ? "open connections per worker" :
						      "connections per worker");
	print_workers(f, r->per_worker, c->workers);
	fprintf(f, "\nbalance: max/min %.2f  jain %.4f\n",
		max_min(r->per_worker, c->workers), jain_index(r->per_worker, c->workers));
	if (models[m].policy) {
		fprintf(f, "rpd program: %llu selected by the policy, %llu left to the kernel's hash",
			mr->prog.selected, mr->prog.fallback);
		if (mr->prog.run_cnt)
			fprintf(f, "; %.0f ns per run over %llu runs",
				(double)mr->prog.run_time_ns / mr->prog.run_cnt,
				mr->prog.run_cnt);
		fputc('\n', f);
	}
	fprintf(f, "min:%.2f avg:%.2f med:%.2f max:%.2f dev:%.2f count:%llu\n",
		ms(h->count ? h->min : 0), ms(hist_mean(h)), ms(hist_quantile(h, 0.5)),
		ms(h->max), ms(hist_stdev(h)), h->count);
	print_histogram(f, h);
	fputc('\n', f);
}

/* @v as a multiple of @base, or "-" when there is no base */
static void ratio(FILE *f, double v, double base, int width)
{
	if (base > 0)
		fprintf(f, " %*.2f", width, v / base);
	else
		fprintf(f, " %*s", width, "-");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* What a repetition is paired on: p99 against shared-blocking's, or the
 * rate against reuseport-hash's.
 */
enum paired { PAIR_P99, PAIR_RATE };

static const struct {
	enum model_id base;
	const char *head;
} pairing[] = {
	[PAIR_P99]  = { M_SHARED_BLOCKING,
			"p99 as a ratio to shared-blocking's in the same repetition" },
	[PAIR_RATE] = { M_REUSEPORT_HASH,
			"rate/s as a share of reuseport-hash's in the same repetition" },
};

static double rep_value(const struct model_result *r, enum paired what, int i)
{
	return what == PAIR_P99 ? r->rep_p99[i] : r->rep_rate[i];
}

/*
 * Model @m against the base model, repetition by repetition: the models
 * of one repetition run back to back, so a slow spell of the machine
 * (another guest, a stalled vCPU) hits both sides of a ratio, and the
 * median over repetitions drops a spell that fell between them.
 * Returns how many repetitions were paired (0: no ratio).
 */
static int paired_ratio(const struct model_result *mr, int m, enum paired what,
			double *med, double *lo, double *hi)
{
	const struct model_result *b = &mr[pairing[what].base];
	double r[16];
	int i, n = 0;

	if (!b->ran || !mr[m].ran || m == (int)pairing[what].base)
		return 0;
	for (i = 0; i < mr[m].reps && i < b->reps && i < 16; i++)
		if (rep_value(b, what, i) > 0)
			r[n++] = rep_value(&mr[m], what, i) / rep_value(b, what, i);
	if (!n)
		return 0;
	qsort(r, n, sizeof(r[0]), cmp_double);
	*med = n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
	*lo = r[0];
	*hi = r[n - 1];
	return n;
}

static void print_paired(FILE *f, const struct model_result *mr, enum paired what)
{
	double med, lo, hi;
	bool head = false;
	int m;

	for (m = 0; m < M_NR; m++) {
		if (paired_ratio(mr, m, what, &med, &lo, &hi) < 2)
			continue;
		if (!head)
			fprintf(f, "\n%s: median (min-max)\n", pairing[what].head);
		head = true;
		fprintf(f, "%-20s %5.3f (%5.3f-%5.3f)\n", models[m].name, med, lo, hi);
	}
}

void print_table(FILE *f, const struct cfg *c, const struct model_result *mr)
{
	const struct model_result *sb = &mr[M_SHARED_BLOCKING];
	double sb99 = 0, sb999 = 0;
	char desc[512];
	int m, i;

	describe_cfg(desc, sizeof(desc), c);
	fprintf(f, "%s: %s\n", c->scenario, desc);
	fprintf(f, "machine: %s\n\n", machine_line());
	if (sb->ran) {
		sb99 = hist_quantile(&sb->sum.lat, 0.99);
		sb999 = hist_quantile(&sb->sum.lat, 0.999);
	}
	fprintf(f, "%-20s %7s %6s %8s %8s %8s %8s %8s %8s %6s %7s %6s %7s\n",
		"model", "conns", "errors", "rate/s", "p50 ms", "p90 ms", "p99 ms",
		"p99.9 ms", "max ms", "p99/sb", "p999/sb", "jain", "max/min");
	for (m = 0; m < M_NR; m++) {
		const struct result *r = &mr[m].sum;
		const struct hist *h = &r->lat;

		if (mr[m].skipped[0]) {
			fprintf(f, "%-20s skipped: %s\n", models[m].name, mr[m].skipped);
			continue;
		}
		if (!mr[m].ran)
			continue;
		fprintf(f, "%-20s %7ld %6ld %8.0f %8.2f %8.2f %8.2f %8.2f %8.2f",
			models[m].name, r->conns, r->errors, rate(r),
			ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.9)),
			ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)), ms(h->max));
		ratio(f, hist_quantile(h, 0.99), sb99, 6);
		ratio(f, hist_quantile(h, 0.999), sb999, 7);
		fprintf(f, " %6.4f %7.2f\n", jain_index(r->per_worker, c->workers),
			max_min(r->per_worker, c->workers));
	}

	fprintf(f, "\n%s per worker (worker 0 first):\n",
		c->load == LOAD_PERSISTENT ? "open connections" : "connections");
	for (m = 0; m < M_NR; m++) {
		if (!mr[m].ran)
			continue;
		fprintf(f, "%-20s ", models[m].name);
		print_workers(f, mr[m].sum.per_worker, c->workers);
		fputc('\n', f);
	}
	if (c->reps > 1) {
		fprintf(f, "\np99 ms and rate/s of each repetition:\n");
		for (m = 0; m < M_NR; m++) {
			if (!mr[m].ran)
				continue;
			fprintf(f, "%-20s", models[m].name);
			for (i = 0; i < mr[m].reps && i < 16; i++)
				fprintf(f, " %8.2f", mr[m].rep_p99[i]);
			fprintf(f, "   ");
			for (i = 0; i < mr[m].reps && i < 16; i++)
				fprintf(f, " %7.0f", mr[m].rep_rate[i]);
			fputc('\n', f);
		}
	}
	print_paired(f, mr, c->load == LOAD_CLOSED ? PAIR_RATE : PAIR_P99);
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

void print_json(FILE *f, const struct cfg *c, const struct model_result *mr)
{
	const char *sep = "";
	double med, lo, hi;
	int m, i;

	fprintf(f, "{\"scenario\": ");
	json_string(f, c->scenario);
	fprintf(f, ", \"machine\": ");
	json_string(f, machine_line());
	fprintf(f, ", \"models\": [");
	for (m = 0; m < M_NR; m++) {
		const struct result *r = &mr[m].sum;
		const struct hist *h = &r->lat;

		if (!mr[m].ran && !mr[m].skipped[0])
			continue;
		fprintf(f, "%s\n  {\"model\": \"%s\"", sep, models[m].name);
		sep = ",";
		if (mr[m].skipped[0]) {
			fprintf(f, ", \"skipped\": ");
			json_string(f, mr[m].skipped);
			fputc('}', f);
			continue;
		}
		fprintf(f, ", \"conns\": %ld, \"errors\": %ld, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f, \"jain\": %.4f, \"max_min\": %.3f, \"per_worker\": [",
			r->conns, r->errors, ms(hist_quantile(h, 0.5)),
			ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)), ms(h->max),
			jain_index(r->per_worker, c->workers),
			max_min(r->per_worker, c->workers));
		for (i = 0; i < c->workers; i++)
			fprintf(f, "%s%ld", i ? ", " : "", r->per_worker[i]);
		fprintf(f, "], \"rate\": %.1f", rate(r));
		if (paired_ratio(mr, m, PAIR_P99, &med, &lo, &hi))
			fprintf(f, ", \"p99_vs_sb_paired\": %.4f", med);
		if (c->load == LOAD_CLOSED && paired_ratio(mr, m, PAIR_RATE, &med, &lo, &hi))
			fprintf(f, ", \"rate_vs_hash\": %.4f", med);
		fputc('}', f);
	}
	fprintf(f, "\n]}\n");
}

int write_plot_data(const char *dir, const struct cfg *c,
		    const struct model_result *mr)
{
	char path[4096];
	unsigned long long seen;
	double lo, hi;
	FILE *f;
	int m, i;

	/* CDF: one block per model, "# name" first, gnuplot's index */
	snprintf(path, sizeof(path), "%s/%s-cdf.dat", dir, c->scenario);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	for (m = 0; m < M_NR; m++) {
		const struct hist *h = &mr[m].sum.lat;

		if (!mr[m].ran || !h->count)
			continue;
		fprintf(f, "# %s\n", models[m].name);
		seen = 0;
		for (i = 0; i < HIST_BUCKETS; i++) {
			if (!h->b[i])
				continue;
			seen += h->b[i];
			hist_bucket(i, &lo, &hi);
			fprintf(f, "%.6f %.9f\n", ms(hi < h->max ? hi : h->max),
				(double)seen / h->count);
		}
		fprintf(f, "\n\n");
	}
	if (fclose(f))
		return -errno;

	/* per worker: a row per model, a column per worker */
	snprintf(path, sizeof(path), "%s/%s-workers.dat", dir, c->scenario);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "model");
	for (i = 0; i < c->workers; i++)
		fprintf(f, " w%d", i);
	fputc('\n', f);
	for (m = 0; m < M_NR; m++) {
		if (!mr[m].ran)
			continue;
		fprintf(f, "%s", models[m].name);
		for (i = 0; i < c->workers; i++)
			fprintf(f, " %ld", mr[m].sum.per_worker[i]);
		fputc('\n', f);
	}
	if (fclose(f))
		return -errno;
	return 0;
}
