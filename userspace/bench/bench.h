/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * rpd-bench: the same workers under the same load, once per way of handing
 * connections to them, side by side.
 *
 *	main.c		command line, scenarios, the run loop, progress
 *	sandbox.c	private netns and bpffs, rpdctl, the machine line
 *	server.c	starting and stopping one model's processes
 *	worker.c	what a worker (and master-rr's master) runs
 *	load.c		the client: open, closed and persistent loads
 *	stats.c		latency histogram, percentiles, balance
 *	output.c	text blocks, the comparison table, JSON, plot data
 */
#ifndef RPD_BENCH_H
#define RPD_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#define BENCH_PORT		8080
#define BENCH_ADDR		"127.0.0.1:8080"
#define BENCH_GROUP		"bench"
#define BENCH_MAX_WORKERS	64
#define BENCH_BACKLOG		4096

/*
 * The wire protocol, a sliver of HTTP/1.0 so the bytes look like what the
 * models usually serve. The client decides each request's service time, so
 * every model is given the very same sequence of work:
 *
 *	GET /?us=SERVICE_US&hold=0|1 HTTP/1.0\r\n\r\n
 *
 * hold=0: "HTTP/1.0 200 OK\r\nX-Worker: N\r\n\r\n", then the worker closes.
 * hold=1: "HTTP/1.1 101 Switching Protocols\r\nX-Worker: N\r\n\r\n", and the
 * connection stays open, idle, until the client closes it (websocket-like).
 *
 * The client also reads rpd-httpd's replies (rpd-stress drives it): an
 * "HTTP/1.1 200 OK" whose X-Rpd-Slot header names the slot that served
 * it, counted as worker N; it ignores the request's parameters.
 */
#define REQ_MAX			128
#define REPLY_MAX		256

/* ---- what is measured ------------------------------------------------- */

/* How a worker gets its connections. */
enum wkind {
	WK_BLOCKING,		/* blocking accept() on the shared listener */
	WK_EPOLL_SHARED,	/* EPOLLEXCLUSIVE on the shared listener */
	WK_OWN_LISTENER,	/* its own SO_REUSEPORT listener */
	WK_ACCEPTOR,		/* an accept thread feeding its epoll */
	WK_PASSED,		/* fds passed by a master process */
};

enum model_id {
	M_SHARED_BLOCKING,
	M_SHARED_EPOLL,
	M_SHARED_EPOLL_JITTER,
	M_REUSEPORT_HASH,
	M_ACCEPTOR_THREAD,
	M_MASTER_RR,
	M_RPD_LEAST_CONN,
	M_RPD_P2C,
	M_RPD_ROUND_ROBIN,
	M_RPD_OVERFLOW,
	M_SHARED_EPOLL_FIFO,
	M_NR,
};

struct model {
	const char *name;
	enum wkind kind;
	const char *policy;	/* rpd policy, or NULL: not an rpd model */
	bool jitter;		/* random pause before accept after a wait */
	bool fifo;		/* listener registered with rpd_epoll_fifo */
	bool overflow;		/* rpd: also an overflow queue (late binding) */
	const char *about;
};

extern const struct model models[M_NR];

enum load_kind {
	LOAD_OPEN,		/* Poisson arrivals, one connection each */
	LOAD_CLOSED,		/* -c connections in flight, -n in all */
	LOAD_PERSISTENT,	/* open-loop arrivals that stay connected */
};

enum dist {
	DIST_CONST,
	DIST_EXP,
	DIST_BIMODAL,		/* 90% mean/2, 10% 5.5 * mean */
};

struct cfg {
	const char *scenario;
	enum load_kind load;
	int workers;
	long conns;		/* connections per model and repetition */
	long concurrency;	/* closed loop */
	double rate;		/* open/persistent: arrivals per second */
	double rho;		/* or utilisation; rate = rho * capacity */
	double mean_ms;		/* service time mean */
	enum dist dist;
	bool cpu;		/* burn CPU instead of sleeping */
	double slow;		/* worker 0 takes this many times longer */
	int reps;
	int client_threads;
	int timeout_ms;		/* per connection */
	unsigned long long seed;
	bool selected[M_NR];	/* models to run */
	const char *rpdctl;	/* path of rpdctl */
	const char *bpffs;	/* private bpffs mount */
	bool prog_cost;		/* time the rpd program's runs */
};

/* Requests the workers can finish per second with every worker busy. */
double cfg_capacity(const struct cfg *c);

/* One connection of the load, drawn from the seed before a run. */
struct req {
	long long t;		/* intended start, ns after the run's t0 */
	unsigned int us;	/* service time asked of the worker */
};

/* c->conns arrivals (open loop) and service times into @s. */
void draw_schedule(const struct cfg *c, struct req *s);

/* ---- model.c ------------------------------------------------------------ */

/* The scenario's open-loop load on ideal workers, simulated: the floor
 * each way of dispatching has, without a kernel or a machine. 0, or -1
 * with a message.
 */
int model_run(FILE *f, const struct cfg *c, bool json);

/* ---- statistics (stats.c) ------------------------------------------------- */

/*
 * Log-linear latency histogram in nanoseconds: 2^HIST_SUB_BITS buckets per
 * power of two, so any value is known to within 1/128 (0.8%), up to
 * 2^HIST_MAX_LOG2 ns (73 minutes).
 */
#define HIST_SUB_BITS	7
#define HIST_SUB	(1u << HIST_SUB_BITS)
#define HIST_MAX_LOG2	42
#define HIST_BUCKETS	((int)((HIST_MAX_LOG2 - HIST_SUB_BITS + 1) * HIST_SUB))

struct hist {
	unsigned long long count;
	unsigned long long min, max;	/* ns */
	double sum, sumsq;		/* ns, ns^2 */
	unsigned long long b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, unsigned long long ns);
void hist_merge(struct hist *into, const struct hist *from);
/* The value at quantile @q in [0, 1], in ns (0 if empty). */
double hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);
double hist_stdev(const struct hist *h);
/* Bucket @i's bounds [lo, hi) in ns. */
void hist_bucket(unsigned int i, double *lo, double *hi);

/* Jain's index (sum x)^2 / (n sum x^2): 1 even, 1/n one took all. */
double jain_index(const long *x, int n);
/* max / max(min, 1), as rpdctl stats reports it. */
double max_min(const long *x, int n);

/* ---- one measured run and the sum of a model's runs ----------------------- */

enum err_kind {
	E_REFUSED,
	E_RESET,
	E_TIMEOUT,
	E_BAD_REPLY,
	E_OTHER,
	E_NR,
};

struct result {
	long conns;			/* attempted */
	long ok;
	long errors;
	long err[E_NR];
	int first_errno;		/* of the first E_OTHER */
	double elapsed_s;		/* first start to last completion */
	long per_worker[BENCH_MAX_WORKERS];
	struct hist lat;		/* of the connections that were ok */
};

struct rpd_prog_counters {
	unsigned long long selected, fallback;	/* the program's own counters */
	unsigned long long run_time_ns, run_cnt; /* with --prog-cost only */
};

struct model_result {
	bool ran;
	char skipped[256];		/* nonempty: the reason it did not run */
	int reps;
	double rep_p99[16];		/* ms, of the first 16 repetitions */
	double rep_rate[16];
	struct result sum;		/* repetitions merged */
	/* rpd models: the program's counters, summed over repetitions */
	struct rpd_prog_counters prog;
};

void result_merge(struct result *into, const struct result *from);

/* ---- sandbox.c ---------------------------------------------------------------- */

/* Private network and mount namespaces, lo up, a private bpffs. Exits
 * with a message on failure.
 */
void sandbox_enter(struct cfg *c);
void sandbox_leave(void);
/* Run rpdctl with these arguments; 0, or -1 with its stderr printed. */
int rpdctl_run(const struct cfg *c, const char *const args[]);
/* Read the counters of the bench group's program. */
int rpd_group_counters(const struct cfg *c, struct rpd_prog_counters *pc);
/* Have the kernel time every BPF program run (bpf_enable_stats()) for as
 * long as the returned fd is open; -errno on failure.
 */
int prog_stats_enable(void);
/* One line describing this machine, for output and JSON. */
const char *machine_line(void);

/* ---- server.c --------------------------------------------------------------- */

struct server;

/* Fork the model's workers (and master) and wait until every one is ready.
 * NULL with @why filled when the model cannot run here (skipped) and
 * *@fatal false, or when it failed and *@fatal true.
 */
struct server *server_start(const struct cfg *c, enum model_id m,
			    char *why, size_t whylen, bool *fatal);
/* Kill every process of the server and reap it; unload its rpd group. */
void server_stop(struct server *s);
/* Kill whatever server is running: for exit paths. */
void server_kill_all(void);

/* ---- worker.c --------------------------------------------------------------- */

struct wctx {
	const struct cfg *cfg;
	const struct model *model;
	int id;
	int lfd;			/* listener, or -1 */
	int src;			/* master-rr: the socket fds arrive on */
	int ready;			/* write one byte here once ready */
	struct rpd_group *group;	/* rpd models */
	struct rpd_worker *overflow;	/* rpd-overflow: the group's queue */
};

/* A worker's whole life; never returns. */
void worker_main(struct wctx *w) __attribute__((noreturn));
/* master-rr's master: accepts on @lfd, hands out over @socks. */
void master_main(const struct cfg *c, int lfd, const int *socks, int n,
		 int ready) __attribute__((noreturn));

/* ---- load.c ----------------------------------------------------------------- */

struct progress {
	long done;		/* connections finished, ok or not */
	long errors;
};

/* Drive the load against BENCH_ADDR; @progress is updated while it runs
 * and @tick called about every 200 ms from the calling thread.
 * 0, or -1 if stopped by a signal.
 */
int load_run(const struct cfg *c, struct result *r,
	     void (*tick)(const struct progress *p, void *arg), void *arg);

/* ---- output.c --------------------------------------------------------------- */

void print_detail(FILE *f, const struct cfg *c, enum model_id m,
		  const struct model_result *mr);
void print_table(FILE *f, const struct cfg *c,
		 const struct model_result *mr);
void print_json(FILE *f, const struct cfg *c,
		const struct model_result *mr);
/* gnuplot input: latency CDF per model and per-worker counts. */
int write_plot_data(const char *dir, const struct cfg *c,
		    const struct model_result *mr);
/* "8 workers, open loop 3400/s (rho 0.85), exp 2 ms sleep, ..." */
void describe_cfg(char *buf, size_t len, const struct cfg *c);

/* ---- small shared helpers ---------------------------------------------------- */

extern volatile sig_atomic_t bench_stop;	/* set by SIGINT/SIGTERM/SIGHUP */

static inline long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* splitmix64: small, fast, and good enough to draw arrivals and service
 * times; every model gets the same sequence from the same seed.
 */
static inline unsigned long long rng_next(unsigned long long *s)
{
	unsigned long long z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so -log(u) is finite. */
static inline double rng_unit(unsigned long long *s)
{
	return ((rng_next(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

#endif /* RPD_BENCH_H */
