// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpd-bench: every accept-balancing model on the same workers under the
 * same load, in one run, in a network namespace and bpffs of its own.
 *
 *	rpd-bench run latency			each model's full report
 *	rpd-bench compare latency --reps 3	one side-by-side table
 *
 * Models run interleaved (A B C A B C ...), so a drift of the machine
 * during the run spreads over all of them instead of favouring one.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libgen.h>

#include "bench.h"

volatile sig_atomic_t bench_stop;

struct scenario {
	const char *name;
	const char *about;
	enum load_kind load;
	int workers;
	long conns, concurrency;
	double rho, mean_ms, slow;
	enum dist dist;
};

static const struct scenario scenarios[] = {
	{ "latency", "tail latency: exp 2 ms at rho 0.85",
	  LOAD_OPEN, 8, 20000, 0, 0.85, 2, 1, DIST_EXP },
	{ "lowload", "the same at rho 0.3, where EPOLLEXCLUSIVE's wake order shows",
	  LOAD_OPEN, 8, 10000, 0, 0.3, 2, 1, DIST_EXP },
	{ "slow-worker", "worker 0 four times slower, rho 0.7",
	  LOAD_OPEN, 8, 10000, 0, 0.7, 2, 4, DIST_EXP },
	{ "persistent", "2000 long-lived connections opened at rho 0.3: open connections per worker",
	  LOAD_PERSISTENT, 8, 2000, 0, 0.3, 2, 1, DIST_EXP },
	{ "accept-rate", "zero work, closed loop, 64 in flight: connections per second",
	  LOAD_CLOSED, 8, 100000, 64, 0, 0, 1, DIST_CONST },
	{ "closed", "Cloudflare's run: closed loop, 100000 requests, 200 in flight, exp 2 ms",
	  LOAD_CLOSED, 8, 100000, 200, 0, 2, 1, DIST_EXP },
};

#define NR_SCENARIOS	(sizeof(scenarios) / sizeof(scenarios[0]))

enum command { CMD_RUN, CMD_COMPARE, CMD_MODEL };

struct opts {
	enum command cmd;
	bool json, detail;
	const char *save;
};

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f,
		"usage: rpd-bench run SCENARIO [OPTIONS]      each model's full report\n"
		"       rpd-bench compare SCENARIO [OPTIONS]  all models side by side\n"
		"       rpd-bench model SCENARIO [OPTIONS]    the same load on ideal workers,\n"
		"                                             simulated: each dispatch's floor\n"
		"       rpd-bench list                        scenarios and models\n"
		"\n"
		"Runs N worker processes under every accept-balancing model in turn, with\n"
		"the same load, in a private network namespace and bpffs (needs root).\n"
		"\n"
		"Scenarios:\n");
	for (i = 0; i < NR_SCENARIOS; i++)
		fprintf(f, "  %-12s %s\n", scenarios[i].name, scenarios[i].about);
	fprintf(f,
		"\n"
		"Options (each overrides the scenario's own value):\n"
		"  --models M,M,...     models to run (default: all; see 'rpd-bench list')\n"
		"  --workers N          worker processes, 1-%d\n"
		"  --conns N, -n N      connections per model and repetition, 1-1000000\n"
		"  --load KIND          open, closed or persistent\n"
		"  --concurrency N, -c N  closed loop: connections in flight, 1-10000\n"
		"  --rate R             open loop: arrivals per second\n"
		"  --rho X              open loop: arrivals as a share of the workers'\n"
		"                       capacity (sum over workers of 1 / mean service time)\n"
		"  --service DIST       const, exp or bimodal (90%% mean/2, 10%% 5.5 x mean)\n"
		"  --mean-ms MS         mean service time in ms, 0-10000\n"
		"  --work sleep|cpu     workers sleep (default) or burn CPU for it\n"
		"  --slow K             worker 0 takes K times longer, 1-1000\n"
		"  --reps R             repetitions, models interleaved (run: 1, compare: 2)\n"
		"  --client-threads T   client threads, 1-16 (closed loop: 2, else 1)\n"
		"  --timeout-ms MS      give up on a connection after MS (default 60000)\n"
		"  --seed S             arrivals and service times (default 1)\n"
		"  --json               print one JSON document instead of text\n"
		"  --detail             compare: each model's full report after the table\n"
		"  --save DIR           also write DIR/SCENARIO.txt, .json and plot data\n"
		"  --rpdctl PATH        rpdctl that loads the groups (default: beside rpd-bench)\n"
		"  --prog-cost          time the rpd program (BPF stats, adds ~50 ns a run)\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 done, 1 failure, 2 usage error, 130 interrupted.\n",
		BENCH_MAX_WORKERS);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rpd-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'rpd-bench --help')\n");
	exit(2);
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = (*s >= '0' && *s <= '9') ? strtol(s, &end, 10) : 0;
	if (*s < '0' || *s > '9' || *end || errno || v < min || v > max)
		usage_error("%s '%s': must be an integer from %ld to %ld", opt, s, min, max);
	return v;
}

/* @lo_open: the bound itself is not allowed */
static double parse_double(const char *opt, const char *s, double lo, bool lo_open,
			   double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v) || v < lo || (lo_open && v == lo) ||
	    v > hi)
		usage_error("%s '%s': must be a number %s %g and at most %g", opt, s,
			    lo_open ? "above" : "from", lo, hi);
	return v;
}

static void parse_models(struct cfg *c, const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL;
	int m;

	if (!copy)
		errx(1, "out of memory");
	memset(c->selected, 0, sizeof(c->selected));
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (m = 0; m < M_NR; m++)
			if (!strcmp(tok, models[m].name))
				break;
		if (m == M_NR) {
			char name[64];

			snprintf(name, sizeof(name), "%s", tok);
			free(copy);
			usage_error("--models: unknown model '%s'", name);
		}
		c->selected[m] = true;
	}
	free(copy);
	for (m = 0; m < M_NR && !c->selected[m]; m++)
		;
	if (m == M_NR)
		usage_error("--models '%s': no model named", list);
}

static void list(void)
{
	unsigned int i;

	printf("Scenarios:\n");
	for (i = 0; i < NR_SCENARIOS; i++)
		printf("  %-20s %s\n", scenarios[i].name, scenarios[i].about);
	printf("\nModels (in the order they run):\n");
	for (i = 0; i < M_NR; i++)
		printf("  %-20s %s\n", models[i].name, models[i].about);
}

double cfg_capacity(const struct cfg *c)
{
	double per = c->mean_ms > 0 ? 1000.0 / c->mean_ms : 0;
	double workers = c->workers - 1 + 1 / c->slow;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	/* burning CPU, no more workers progress at once than there are CPUs */
	if (c->cpu && ncpu > 0 && workers > ncpu)
		workers = ncpu;
	return per * workers;
}

static void parse_args(struct cfg *c, struct opts *o, int argc, char **argv)
{
	enum {
		O_MODELS = 256, O_WORKERS, O_LOAD, O_RATE, O_RHO, O_SERVICE, O_MEAN,
		O_WORK, O_SLOW, O_REPS, O_THREADS, O_TIMEOUT, O_SEED, O_JSON,
		O_DETAIL, O_SAVE, O_RPDCTL, O_PROG_COST,
	};
	static const struct option longopts[] = {
		{ "models",		required_argument, NULL, O_MODELS },
		{ "model",		required_argument, NULL, O_MODELS },
		{ "workers",		required_argument, NULL, O_WORKERS },
		{ "conns",		required_argument, NULL, 'n' },
		{ "load",		required_argument, NULL, O_LOAD },
		{ "concurrency",	required_argument, NULL, 'c' },
		{ "rate",		required_argument, NULL, O_RATE },
		{ "rho",		required_argument, NULL, O_RHO },
		{ "service",		required_argument, NULL, O_SERVICE },
		{ "mean-ms",		required_argument, NULL, O_MEAN },
		{ "work",		required_argument, NULL, O_WORK },
		{ "slow",		required_argument, NULL, O_SLOW },
		{ "reps",		required_argument, NULL, O_REPS },
		{ "client-threads",	required_argument, NULL, O_THREADS },
		{ "timeout-ms",		required_argument, NULL, O_TIMEOUT },
		{ "seed",		required_argument, NULL, O_SEED },
		{ "json",		no_argument,	   NULL, O_JSON },
		{ "detail",		no_argument,	   NULL, O_DETAIL },
		{ "save",		required_argument, NULL, O_SAVE },
		{ "rpdctl",		required_argument, NULL, O_RPDCTL },
		{ "prog-cost",		no_argument,	   NULL, O_PROG_COST },
		{ "help",		no_argument,	   NULL, 'h' },
		{}
	};
	const struct scenario *sc = NULL;
	bool rate_set = false, rho_set = false, conc_set = false;
	double rate = 0, rho = 0;
	long threads = 0, reps = 0;
	const char *cmd;
	unsigned int i;
	int opt, m, li = 0;

	/* --help and list need no root and no scenario */
	for (i = 1; i < (unsigned int)argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(argv[i], "--"))
			break;
	}
	if (argc < 2)
		usage_error("missing command: run, compare, model or list");
	cmd = argv[1];
	if (!strcmp(cmd, "list")) {
		if (argc > 2)
			usage_error("list: unexpected argument '%s'", argv[2]);
		list();
		exit(0);
	}
	if (!strcmp(cmd, "run"))
		o->cmd = CMD_RUN;
	else if (!strcmp(cmd, "compare"))
		o->cmd = CMD_COMPARE;
	else if (!strcmp(cmd, "model"))
		o->cmd = CMD_MODEL;
	else
		usage_error("unknown command '%s': use run, compare, model or list", cmd);
	if (argc < 3 || argv[2][0] == '-')
		usage_error("%s: missing SCENARIO (latency, lowload, slow-worker, persistent, accept-rate, closed)",
			    cmd);
	for (i = 0; i < NR_SCENARIOS; i++)
		if (!strcmp(argv[2], scenarios[i].name))
			sc = &scenarios[i];
	if (!sc)
		usage_error("unknown scenario '%s': use latency, lowload, slow-worker, persistent, accept-rate or closed",
			    argv[2]);

	c->scenario = sc->name;
	c->load = sc->load;
	c->workers = sc->workers;
	c->conns = sc->conns;
	c->concurrency = sc->concurrency;
	c->rho = sc->rho;
	c->mean_ms = sc->mean_ms;
	c->slow = sc->slow;
	c->dist = sc->dist;
	c->timeout_ms = 60000;
	c->seed = 1;
	for (m = 0; m < M_NR; m++)
		c->selected[m] = true;

	optind = 3;
	while ((opt = getopt_long(argc, argv, ":n:c:h", longopts, &li)) != -1) {
		/* a model has no machine, models to pick or runs to repeat */
		if (o->cmd == CMD_MODEL && (opt == O_MODELS || opt == O_LOAD ||
		    opt == 'c' || opt == O_WORK || opt == O_REPS ||
		    opt == O_THREADS || opt == O_TIMEOUT || opt == O_DETAIL ||
		    opt == O_SAVE || opt == O_RPDCTL || opt == O_PROG_COST))
			usage_error("model: %s%s is for run and compare",
				    opt == 'c' ? "-c" : "--", opt == 'c' ? "" : longopts[li].name);
		switch (opt) {
		case O_MODELS:
			parse_models(c, optarg);
			break;
		case O_WORKERS:
			c->workers = parse_long("--workers", optarg, 1, BENCH_MAX_WORKERS);
			break;
		case 'n':
			c->conns = parse_long("--conns", optarg, 1, 1000000);
			break;
		case O_LOAD:
			if (!strcmp(optarg, "open"))
				c->load = LOAD_OPEN;
			else if (!strcmp(optarg, "closed"))
				c->load = LOAD_CLOSED;
			else if (!strcmp(optarg, "persistent"))
				c->load = LOAD_PERSISTENT;
			else
				usage_error("--load '%s': must be open, closed or persistent", optarg);
			break;
		case 'c':
			c->concurrency = parse_long("--concurrency", optarg, 1, 10000);
			conc_set = true;
			break;
		case O_RATE:
			rate = parse_double("--rate", optarg, 0, true, 1e6);
			rate_set = true;
			break;
		case O_RHO:
			rho = parse_double("--rho", optarg, 0, true, 2);
			rho_set = true;
			break;
		case O_SERVICE:
			if (!strcmp(optarg, "const"))
				c->dist = DIST_CONST;
			else if (!strcmp(optarg, "exp"))
				c->dist = DIST_EXP;
			else if (!strcmp(optarg, "bimodal"))
				c->dist = DIST_BIMODAL;
			else
				usage_error("--service '%s': must be const, exp or bimodal", optarg);
			break;
		case O_MEAN:
			c->mean_ms = parse_double("--mean-ms", optarg, 0, false, 10000);
			break;
		case O_WORK:
			if (strcmp(optarg, "sleep") && strcmp(optarg, "cpu"))
				usage_error("--work '%s': must be sleep or cpu", optarg);
			c->cpu = !strcmp(optarg, "cpu");
			break;
		case O_SLOW:
			c->slow = parse_double("--slow", optarg, 1, false, 1000);
			break;
		case O_REPS:
			reps = parse_long("--reps", optarg, 1, 100);
			break;
		case O_THREADS:
			threads = parse_long("--client-threads", optarg, 1, 16);
			break;
		case O_TIMEOUT:
			c->timeout_ms = parse_long("--timeout-ms", optarg, 1, 3600000);
			break;
		case O_SEED:
			c->seed = parse_long("--seed", optarg, 0, LONG_MAX);
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_DETAIL:
			o->detail = true;
			break;
		case O_SAVE:
			o->save = optarg;
			break;
		case O_RPDCTL:
			c->rpdctl = optarg;
			break;
		case O_PROG_COST:
			c->prog_cost = true;
			break;
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);

	if (rate_set && rho_set)
		usage_error("--rate and --rho: give one or the other");
	if (c->load == LOAD_CLOSED && (rate_set || rho_set))
		usage_error("%s: a closed loop has no arrival rate; use --concurrency",
			    rate_set ? "--rate" : "--rho");
	if (c->load != LOAD_CLOSED && conc_set)
		usage_error("--concurrency: only for a closed loop (--load closed)");
	if (c->load == LOAD_CLOSED && !c->concurrency)
		c->concurrency = 64;
	if (c->load != LOAD_CLOSED) {
		if (rho_set)
			c->rho = rho;
		if (rate_set) {
			c->rate = rate;
		} else {
			if (!c->rho)
				c->rho = 0.5;
			if (cfg_capacity(c) <= 0)
				usage_error("--rho: with no service time the capacity is unbounded; use --rate");
			c->rate = c->rho * cfg_capacity(c);
		}
	}
	c->reps = reps ? reps : o->cmd == CMD_COMPARE ? 2 : 1;
	c->client_threads = threads ? threads : c->load == LOAD_CLOSED ? 2 : 1;
	if (o->cmd == CMD_MODEL && c->load != LOAD_OPEN)
		usage_error("model: %s is not an open loop; use latency, lowload or slow-worker",
			    c->scenario);
	if (o->save) {
		struct stat st;

		if (stat(o->save, &st) || !S_ISDIR(st.st_mode))
			usage_error("--save '%s': not a directory", o->save);
	}
}

/* rpdctl beside this binary, as 'make' builds them */
static const char *default_rpdctl(void)
{
	static char path[PATH_MAX];
	char exe[PATH_MAX];
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return "rpdctl";
	exe[n] = '\0';
	snprintf(path, sizeof(path), "%s/rpdctl", dirname(exe));
	return path;
}

/* ---- progress on stderr ------------------------------------------------- */

struct run_state {
	const struct cfg *c;
	enum model_id m;
	int rep, nth, total;	/* this run is the nth of total */
	bool tty;
};

static void tick(const struct progress *p, void *arg)
{
	const struct run_state *rs = arg;

	if (!rs->tty)
		return;
	fprintf(stderr, "\r\033[K[%d/%d] %s rep %d/%d: %ld/%ld conns, %ld errors",
		rs->nth, rs->total, models[rs->m].name, rs->rep + 1, rs->c->reps,
		p->done, rs->c->conns, p->errors);
}

static void done_line(const struct run_state *rs, const struct result *r)
{
	fprintf(stderr, "%s[%d/%d] %s rep %d/%d: %ld conns, %ld errors, p99 %.2f ms, %.0f/s%s",
		rs->tty ? "\r\033[K" : "", rs->nth, rs->total, models[rs->m].name,
		rs->rep + 1, rs->c->reps, r->conns, r->errors,
		hist_quantile(&r->lat, 0.99) / 1e6,
		r->elapsed_s > 0 ? r->ok / r->elapsed_s : 0, rs->tty ? "" : "\n");
}

/* ---- the run ------------------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	bench_stop = 1;
}

static void at_exit(void)
{
	server_kill_all();
	sandbox_leave();
}

static void setup_process(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct rlimit rl;

	/* persistent and open loops hold thousands of sockets */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL) ||
	    sigaction(SIGHUP, &sa, NULL) || signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(1, "signals");
	if (atexit(at_exit))
		errx(1, "atexit");
}

static int run_all(struct cfg *c, struct model_result *mr)
{
	struct run_state rs = { .c = c, .tty = isatty(2) };
	struct result *r;
	struct server *s;
	char why[256];
	bool fatal;
	int m, nsel = 0, rep;

	r = malloc(sizeof(*r));
	if (!r)
		errx(1, "out of memory");
	for (m = 0; m < M_NR; m++) {
		hist_init(&mr[m].sum.lat);
		nsel += c->selected[m];
	}
	rs.total = nsel * c->reps;
	for (rep = 0; rep < c->reps; rep++) {
		for (m = 0; m < M_NR; m++) {
			if (!c->selected[m] || mr[m].skipped[0])
				continue;
			rs.m = m;
			rs.rep = rep;
			rs.nth++;
			s = server_start(c, m, why, sizeof(why), &fatal);
			if (!s) {
				if (fatal) {
					free(r);
					errx(1, "%s: %s", models[m].name, why);
				}
				snprintf(mr[m].skipped, sizeof(mr[m].skipped), "%s", why);
				fprintf(stderr, "%s[%d/%d] %s: skipped: %s\n",
					rs.tty ? "\r\033[K" : "", rs.nth, rs.total,
					models[m].name, why);
				continue;
			}
			if (load_run(c, r, tick, &rs)) {
				server_stop(s);
				free(r);
				if (rs.tty)
					fputc('\n', stderr);
				return -1;
			}
			if (models[m].policy) {
				struct rpd_prog_counters pc;

				if (!rpd_group_counters(c, &pc)) {
					mr[m].prog.selected += pc.selected;
					mr[m].prog.fallback += pc.fallback;
					mr[m].prog.run_time_ns += pc.run_time_ns;
					mr[m].prog.run_cnt += pc.run_cnt;
				}
			}
			server_stop(s);
			done_line(&rs, r);
			if (mr[m].reps < 16) {
				mr[m].rep_p99[mr[m].reps] = hist_quantile(&r->lat, 0.99) / 1e6;
				mr[m].rep_rate[mr[m].reps] =
					r->elapsed_s > 0 ? r->ok / r->elapsed_s : 0;
			}
			mr[m].ran = true;
			mr[m].reps++;
			result_merge(&mr[m].sum, r);
		}
	}
	if (rs.tty)
		fputc('\n', stderr);
	free(r);
	return 0;
}

static void report(FILE *f, const struct cfg *c, const struct opts *o,
		   const struct model_result *mr, bool json)
{
	char desc[512];
	int m;

	if (json) {
		print_json(f, c, mr);
		return;
	}
	if (o->cmd == CMD_COMPARE) {
		print_table(f, c, mr);
		if (!o->detail)
			return;
		fputc('\n', f);
	} else {
		describe_cfg(desc, sizeof(desc), c);
		fprintf(f, "%s: %s\nmachine: %s\n\n", c->scenario, desc, machine_line());
	}
	for (m = 0; m < M_NR; m++)
		if (mr[m].ran || mr[m].skipped[0])
			print_detail(f, c, m, &mr[m]);
}

static int save(const struct cfg *c, const struct opts *o,
		const struct model_result *mr)
{
	char path[4096];
	FILE *f;
	int e;

	snprintf(path, sizeof(path), "%s/%s.txt", o->save, c->scenario);
	f = fopen(path, "w");
	if (!f)
		goto fail;
	report(f, c, o, mr, false);
	if (fclose(f))
		goto fail;
	snprintf(path, sizeof(path), "%s/%s.json", o->save, c->scenario);
	f = fopen(path, "w");
	if (!f)
		goto fail;
	print_json(f, c, mr);
	if (fclose(f))
		goto fail;
	e = write_plot_data(o->save, c, mr);
	if (e) {
		errno = -e;
		snprintf(path, sizeof(path), "%s/%s-*.dat", o->save, c->scenario);
		goto fail;
	}
	return 0;
fail:
	warn("%s", path);
	return -1;
}

int main(int argc, char **argv)
{
	struct cfg c = {};
	struct opts o = {};
	struct model_result *mr;
	int ret = 0, stats_fd = -1;

	setvbuf(stderr, NULL, _IOLBF, 0);
	parse_args(&c, &o, argc, argv);
	if (o.cmd == CMD_MODEL)
		return model_run(stdout, &c, o.json) || fflush(stdout) ? 1 : 0;
	if (!c.rpdctl)
		c.rpdctl = default_rpdctl();
	setup_process();
	sandbox_enter(&c);
	if (c.prog_cost) {
		stats_fd = prog_stats_enable();
		if (stats_fd < 0)
			errx(1, "--prog-cost: enabling BPF stats: %s", strerror(-stats_fd));
	}

	mr = calloc(M_NR, sizeof(*mr));
	if (!mr)
		errx(1, "out of memory");
	if (run_all(&c, mr)) {
		free(mr);
		fprintf(stderr, "rpd-bench: interrupted\n");
		return 130;
	}
	report(stdout, &c, &o, mr, o.json);
	if (fflush(stdout))
		ret = 1;
	if (o.save && save(&c, &o, mr))
		ret = 1;
	free(mr);
	if (stats_fd >= 0)
		close(stats_fd);
	return ret;
}
