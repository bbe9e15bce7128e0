// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Latency histogram and balance figures. The histogram is log-linear: the
 * top HIST_SUB_BITS bits below a value's leading one pick the bucket, so
 * the relative error is the same at 50 us and at 5 s and a merge is a sum.
 */
#include <math.h>
#include <string.h>

#include "bench.h"

static unsigned int bucket_of(unsigned long long v)
{
	unsigned int msb, shift;

	if (v < HIST_SUB)
		return v;
	if (v >> HIST_MAX_LOG2)
		v = (1ULL << HIST_MAX_LOG2) - 1;
	msb = 63 - __builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	/* the leading one itself is implied by the group (shift + 1) */
	return ((shift + 1) << HIST_SUB_BITS) | ((v >> shift) & (HIST_SUB - 1));
}

void hist_bucket(unsigned int i, double *lo, double *hi)
{
	unsigned int shift;

	if (i < HIST_SUB) {
		*lo = i;
		*hi = i + 1;
		return;
	}
	shift = (i >> HIST_SUB_BITS) - 1;
	*lo = (double)(((unsigned long long)(i & (HIST_SUB - 1)) | HIST_SUB) << shift);
	*hi = *lo + (double)(1ULL << shift);
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = ~0ULL;
}

void hist_add(struct hist *h, unsigned long long ns)
{
	h->b[bucket_of(ns)]++;
	h->count++;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->sum += ns;
	h->sumsq += (double)ns * ns;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	unsigned int i;

	if (!from->count)
		return;
	for (i = 0; i < HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
	into->sum += from->sum;
	into->sumsq += from->sumsq;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

/*
 * Nearest rank: the smallest value with at least q * count values at or
 * below it. Within its bucket the midpoint is reported, clamped to the
 * exact min and max so p0 and p100 are never outside what was seen.
 */
double hist_quantile(const struct hist *h, double q)
{
	unsigned long long rank, seen = 0;
	double lo, hi, v;
	unsigned int i;

	if (!h->count)
		return 0;
	if (q >= 1)
		return h->max;
	rank = (unsigned long long)ceil(q * h->count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	hist_bucket(i, &lo, &hi);
	v = (lo + hi) / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

double hist_mean(const struct hist *h)
{
	return h->count ? h->sum / h->count : 0;
}

double hist_stdev(const struct hist *h)
{
	double m, var;

	if (h->count < 2)
		return 0;
	m = h->sum / h->count;
	var = h->sumsq / h->count - m * m;
	return var > 0 ? sqrt(var) : 0;
}

double jain_index(const long *x, int n)
{
	double s = 0, s2 = 0;
	int i;

	for (i = 0; i < n; i++) {
		s += x[i];
		s2 += (double)x[i] * x[i];
	}
	/* nothing to share is shared evenly */
	return s2 > 0 ? s * s / (n * s2) : 1;
}

double max_min(const long *x, int n)
{
	long lo, hi;
	int i;

	if (n <= 0)
		return 1;
	lo = hi = x[0];
	for (i = 1; i < n; i++) {
		if (x[i] < lo)
			lo = x[i];
		if (x[i] > hi)
			hi = x[i];
	}
	if (!hi)
		return 1;
	return (double)hi / (lo > 1 ? lo : 1);
}

void result_merge(struct result *into, const struct result *from)
{
	int i;

	into->conns += from->conns;
	into->ok += from->ok;
	into->errors += from->errors;
	for (i = 0; i < E_NR; i++)
		into->err[i] += from->err[i];
	if (!into->first_errno)
		into->first_errno = from->first_errno;
	into->elapsed_s += from->elapsed_s;
	for (i = 0; i < BENCH_MAX_WORKERS; i++)
		into->per_worker[i] += from->per_worker[i];
	hist_merge(&into->lat, &from->lat);
}
