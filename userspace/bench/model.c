// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpd-bench model: the scenario's arrivals and service times, drawn from
 * the same seed as a real run, played through ideal workers by each way
 * of handing out connections. No kernel, no sockets, no scheduler: what
 * is left is the queueing itself, the floor a real run can approach but
 * not beat. A worker serves one request at a time, in the order it got
 * them; worker 0 takes --slow times longer.
 *
 *   shared-queue  one FIFO queue; the worker free the longest takes the
 *                 next connection (shared-blocking's FIFO wake order)
 *   least-conn    bound at arrival to the worker with the fewest in
 *                 flight, ties at random (rpd-least-conn)
 *   p2c           the fewer in flight of two workers drawn at random
 *   round-robin   each worker in turn (rpd-round-robin, master-rr)
 *   hash          a worker at random (reuseport-hash)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Arrivals simulated per connection of the scenario, and at most. */
#define MODEL_SCALE	50
#define MODEL_MAX	2000000L

enum disc { D_SHARED, D_LEAST, D_P2C, D_RR, D_HASH, D_NR };

static const char *const disc_names[D_NR] = {
	[D_SHARED] = "shared-queue",
	[D_LEAST] = "least-conn",
	[D_P2C] = "p2c",
	[D_RR] = "round-robin",
	[D_HASH] = "hash",
};

/* The departure times, in order, of one worker's requests in flight. */
struct fifo {
	long long *t;
	long head, len, cap;
};

static int fifo_push(struct fifo *q, long long t)
{
	long long *n;

	if (q->head && q->len == q->cap) {
		memmove(q->t, q->t + q->head, (q->len - q->head) * sizeof(*q->t));
		q->len -= q->head;
		q->head = 0;
	}
	if (q->len == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 64;
		n = realloc(q->t, q->cap * sizeof(*q->t));
		if (!n)
			return -ENOMEM;
		q->t = n;
	}
	q->t[q->len++] = t;
	return 0;
}

/* In flight at @now: requests not yet departed. */
static long fifo_count(struct fifo *q, long long now)
{
	while (q->head < q->len && q->t[q->head] <= now)
		q->head++;
	return q->len - q->head;
}

static long long fifo_last(const struct fifo *q)
{
	return q->len > q->head ? q->t[q->len - 1] : 0;
}

struct outcome {
	struct hist lat;
	long per_worker[BENCH_MAX_WORKERS];
};

static long long service_ns(const struct cfg *c, const struct req *r, int w)
{
	return (long long)(r->us * 1000.0 * (w == 0 ? c->slow : 1));
}

/* One FIFO queue: each connection goes to the worker free the longest. */
static void run_shared(const struct cfg *c, const struct req *s, long n,
		       struct outcome *o)
{
	long long free_at[BENCH_MAX_WORKERS] = { 0 }, start, end;
	long i;
	int w, k;

	for (i = 0; i < n; i++) {
		/* ties (several idle since before the arrival) go to the
		 * one idle the longest, as a FIFO wait queue wakes them
		 */
		for (w = 0, k = 1; k < c->workers; k++)
			if (free_at[k] < free_at[w])
				w = k;
		start = s[i].t > free_at[w] ? s[i].t : free_at[w];
		end = start + service_ns(c, &s[i], w);
		free_at[w] = end;
		hist_add(&o->lat, end - s[i].t);
		o->per_worker[w]++;
	}
}

/* Bound at arrival: a queue per worker. */
static int run_bound(const struct cfg *c, enum disc d, const struct req *s,
		     long n, struct outcome *o)
{
	unsigned long long rng = c->seed ^ 0x8ebc6af09c88c6e3ULL;
	struct fifo q[BENCH_MAX_WORKERS] = { 0 };
	long in[BENCH_MAX_WORKERS], least, ties, i;
	long long start, end;
	int w = 0, k, a, b, err = 0;

	for (i = 0; i < n && !err; i++) {
		for (k = 0; k < c->workers; k++)
			in[k] = fifo_count(&q[k], s[i].t);
		switch (d) {
		case D_LEAST:
			/* reservoir sampling over the tied, as the program does */
			least = in[0];
			ties = 0;
			for (k = 0; k < c->workers; k++) {
				if (in[k] < least) {
					least = in[k];
					ties = 0;
				}
				if (in[k] == least &&
				    rng_next(&rng) % (unsigned long long)++ties == 0)
					w = k;
			}
			break;
		case D_P2C:
			a = rng_next(&rng) % c->workers;
			b = c->workers > 1 ? rng_next(&rng) % (c->workers - 1) : 0;
			if (c->workers > 1 && b >= a)
				b++;
			w = c->workers > 1 && in[b] < in[a] ? b : a;
			break;
		case D_RR:
			w = i % c->workers;
			break;
		default:
			w = rng_next(&rng) % c->workers;
			break;
		}
		start = s[i].t > fifo_last(&q[w]) ? s[i].t : fifo_last(&q[w]);
		end = start + service_ns(c, &s[i], w);
		err = fifo_push(&q[w], end);
		hist_add(&o->lat, end - s[i].t);
		o->per_worker[w]++;
	}
	for (k = 0; k < c->workers; k++)
		free(q[k].t);
	return err;
}

static void print_text(FILE *f, const struct cfg *c, long n,
		       const struct outcome *o)
{
	double q99 = hist_quantile(&o[D_SHARED].lat, 0.99);
	double q999 = hist_quantile(&o[D_SHARED].lat, 0.999);
	char desc[512];
	int d;

	describe_cfg(desc, sizeof(desc), c);
	/* the connections and repetitions of a real run do not apply */
	if (strrchr(desc, ';'))
		*strrchr(desc, ';') = '\0';
	fprintf(f, "%s, modelled: %s; %ld arrivals on ideal workers\n\n",
		c->scenario, desc, n);
	fprintf(f, "%-14s %8s %8s %8s %8s %8s %7s %7s %7s\n", "model", "p50 ms",
		"p90 ms", "p99 ms", "p99.9 ms", "max ms", "p99/sq", "p999/sq",
		"max/min");
	for (d = 0; d < D_NR; d++) {
		const struct hist *h = &o[d].lat;

		fprintf(f, "%-14s %8.2f %8.2f %8.2f %8.2f %8.2f %7.2f %7.2f %7.2f\n",
			disc_names[d], hist_quantile(h, 0.5) / 1e6,
			hist_quantile(h, 0.9) / 1e6, hist_quantile(h, 0.99) / 1e6,
			hist_quantile(h, 0.999) / 1e6, h->max / 1e6,
			hist_quantile(h, 0.99) / q99, hist_quantile(h, 0.999) / q999,
			max_min(o[d].per_worker, c->workers));
	}
	if (c->slow > 1)
		fprintf(f, "\nA worker given more than it can serve (a blind spread with a slow worker)\n"
			"has a queue that grows for the whole run: its figures grow with the\n"
			"length of the run, here %ld arrivals.\n", n);
}

static void print_json_model(FILE *f, const struct cfg *c, long n,
			     const struct outcome *o)
{
	double q99 = hist_quantile(&o[D_SHARED].lat, 0.99);
	int d;

	fprintf(f, "{\"scenario\": \"%s\", \"modelled\": %ld, \"models\": [", c->scenario, n);
	for (d = 0; d < D_NR; d++) {
		const struct hist *h = &o[d].lat;

		fprintf(f, "%s\n  {\"model\": \"%s\", \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f, \"p99_vs_shared\": %.4f, \"max_min\": %.3f}",
			d ? "," : "", disc_names[d], hist_quantile(h, 0.5) / 1e6,
			hist_quantile(h, 0.99) / 1e6, hist_quantile(h, 0.999) / 1e6,
			h->max / 1e6, hist_quantile(h, 0.99) / q99,
			max_min(o[d].per_worker, c->workers));
	}
	fprintf(f, "\n]}\n");
}

int model_run(FILE *f, const struct cfg *c, bool json)
{
	struct cfg mc = *c;
	struct outcome *o;
	struct req *s;
	int d, err = 0;

	mc.conns = c->conns * MODEL_SCALE < MODEL_MAX ? c->conns * MODEL_SCALE : MODEL_MAX;
	s = calloc(mc.conns, sizeof(*s));
	o = calloc(D_NR, sizeof(*o));
	if (!s || !o) {
		free(s);
		free(o);
		fprintf(stderr, "rpd-bench: model: out of memory\n");
		return -1;
	}
	draw_schedule(&mc, s);
	for (d = 0; d < D_NR && !err; d++) {
		hist_init(&o[d].lat);
		if (d == D_SHARED)
			run_shared(&mc, s, mc.conns, &o[d]);
		else
			err = run_bound(&mc, d, s, mc.conns, &o[d]);
	}
	if (err)
		fprintf(stderr, "rpd-bench: model: out of memory\n");
	else if (json)
		print_json_model(f, &mc, mc.conns, o);
	else
		print_text(f, &mc, mc.conns, o);
	free(s);
	free(o);
	return err ? -1 : 0;
}
