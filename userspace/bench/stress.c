// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpd-stress: faults injected into an rpd group while rpd-httpd serves an
 * open-loop Poisson load (load.c, rpd-bench's client), in a private network
 * namespace and bpffs (sandbox.c). The client counts every connection:
 * completed, refused, reset, timed out.
 *
 *	rolling    every worker restarted in turn (SIGTERM: it drains and
 *	           closes its listener, rpd-httpd starts a new one)
 *	crash      a random worker SIGKILLed every 200 ms, rpd-httpd restarts it
 *	upgrade    'rpdctl upgrade' and a policy switch, again and again
 *	restart    a new rpd-httpd joins, then the old one stops
 *	hostile    a slot's counters overwritten with absurd values
 *	damage     a worker too many, pins deleted, bpffs unmounted, pins left
 *	           by a killed 'rpdctl load'; each found out and repaired
 *
 * A crash loses the connections its worker had accepted: no balancer can
 * save those. Before each SIGKILL the worker is stopped and the sockets it
 * holds besides its listener are counted; failures up to that count are
 * "lost in service", the rest "lost in queue". Every other failure, and
 * every check a scenario makes, counts as failed; the last line is
 * "stress: N scenarios, attempted A, failed F", and the exit status 1 if
 * F > 0.
 */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "rpd_abi.h"
#include "rpd_util.h"
#include "bench.h"

#define WORKERS		8
#define SLOTS		BENCH_MAX_WORKERS
#define TICK_MS		200
/* The hostile scenario's bound: no honest slot goes this long without a
 * new connection (the dispatcher passes a slot over only while it has
 * connections in flight; at 2000/s over 8 workers that is milliseconds).
 */
#define STARVE_BOUND_MS	1000

volatile sig_atomic_t bench_stop;

struct scenario;

struct run {
	const struct scenario *sc;
	struct cfg *cfg;
	const char *group;
	pid_t httpd;
	long ticks;
	long faults, want_faults;
	long held;		/* crash: sockets the killed workers held */
	int next;		/* rolling: the next of pids[] to restart */
	pid_t pids[WORKERS], pending;
	int rounds;
	__u64 last_disp[SLOTS];	/* hostile: dispatched at the last change */
	long last_change[SLOTS];
	long starved_ms;	/* the longest an honest slot waited */
	int hostile_slot;
	char fail[512];		/* the first failed check */
};

struct scenario {
	const char *name;
	double seconds, quick_seconds;
	long faults, quick_faults;	/* to be done within the time; 0: any */
	int slots;
	void (*tick)(struct run *r);
	/* the row's last column; may fail a check of its own */
	void (*report)(struct run *r, const struct result *res, char *buf, size_t len);
};

static const char *build_dir;

static void check_failed(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void check_failed(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->fail[0])
		return;
	va_start(ap, fmt);
	vsnprintf(r->fail, sizeof(r->fail), fmt, ap);
	va_end(ap);
}

/* ---- processes ------------------------------------------------------------- */

/* Run BUILD/NAME ARGS; its exit status, and its stderr in @errbuf. */
static int run_capture(const char *name, const char *const args[], char *errbuf,
		       size_t len)
{
	const char *argv[32];
	char path[PATH_MAX];
	int p[2], status, argc = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", build_dir, name);
	argv[argc++] = name;
	while (*args && argc < 31)
		argv[argc++] = *args++;
	argv[argc] = NULL;
	if (pipe2(p, O_CLOEXEC))
		err(1, "pipe");
	pid = fork();
	if (pid < 0)
		err(1, "fork");
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(p[1], 2);
		execv(path, (char *const *)argv);
		dprintf(2, "cannot run %s: %s", path, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	while (got + 1 < len && (n = read(p[0], errbuf + got, len - 1 - got)) > 0)
		got += n;
	errbuf[got] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) < 0)
		err(1, "waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int ctl(struct run *r, const char *const args[])
{
	char errbuf[1024];
	int rc = run_capture("rpdctl", args, errbuf, sizeof(errbuf));

	if (rc)
		check_failed(r, "rpdctl %s: exit %d: %s", args[0], rc, errbuf);
	return rc;
}

static void load_group(struct run *r, const char *group, int slots)
{
	char n[16];

	snprintf(n, sizeof(n), "%d", slots);
	ctl(r, (const char *const[]){ "--bpffs", r->cfg->bpffs, "load", group,
				      "--max-workers", n, NULL });
}

/* Start rpd-httpd with WORKERS workers and wait until every one listens. */
static pid_t httpd_start(struct run *r, const char *group)
{
	char path[PATH_MAX], line[256], n[16];
	int p[2], null;
	ssize_t got;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/rpd-httpd", build_dir);
	snprintf(n, sizeof(n), "%d", WORKERS);
	if (pipe2(p, O_CLOEXEC))
		err(1, "pipe");
	pid = fork();
	if (pid < 0)
		err(1, "fork");
	if (pid == 0) {
		null = open("/dev/null", O_WRONLY);
		dup2(p[1], 1);
		/* it reports every worker it restarts: expected here */
		dup2(null, 2);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(path, "rpd-httpd", "--group", group, "--bpffs", r->cfg->bpffs,
		      "--listen", BENCH_ADDR, "--workers", n, "--work-ms", "1",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	/* one line once every worker listens, or EOF if it gave up */
	got = read(p[0], line, sizeof(line) - 1);
	close(p[0]);
	if (got <= 0) {
		check_failed(r, "rpd-httpd on group '%s' did not start", group);
		waitpid(pid, NULL, 0);
		return 0;
	}
	return pid;
}

static void httpd_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* ---- the group as the program sees it ---------------------------------------- */

/* Slots in use of @group (their socket is in the map) in @s; how many. */
static int read_slots(const struct run *r, const char *group, struct rpd_slot *s,
		      bool *used)
{
	char path[PATH_MAX];
	int sfd, kfd, n = 0;
	__u64 cookie;
	__u32 k;

	memset(used, 0, SLOTS * sizeof(*used));
	rpdu_group_path(path, sizeof(path), r->cfg->bpffs, group, RPD_PIN_SLOTS);
	sfd = bpf_obj_get(path);
	rpdu_group_path(path, sizeof(path), r->cfg->bpffs, group, RPD_PIN_SOCKS);
	kfd = bpf_obj_get(path);
	for (k = 0; sfd >= 0 && kfd >= 0 && k < SLOTS; k++) {
		if (bpf_map_lookup_elem(kfd, &k, &cookie) ||
		    bpf_map_lookup_elem(sfd, &k, &s[k]))
			continue;
		used[k] = true;
		n++;
	}
	if (sfd >= 0)
		close(sfd);
	if (kfd >= 0)
		close(kfd);
	return n;
}

static int worker_pids(const struct run *r, pid_t *pids)
{
	struct rpd_slot s[SLOTS];
	bool used[SLOTS];
	int k, n = 0;

	read_slots(r, r->group, s, used);
	for (k = 0; k < SLOTS; k++)
		if (used[k] && n < WORKERS)
			pids[n++] = s[k].pid;
	return n;
}

static bool pid_in(pid_t pid, const pid_t *pids, int n)
{
	while (n--)
		if (pids[n] == pid)
			return true;
	return false;
}

/* Wait until @pid has stopped: kill() returns before the signal lands. */
static bool stopped(pid_t pid)
{
	char path[64], buf[512], *p;
	int i, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (i = 0; i < 1000; i++) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return false;
		buf[n] = '\0';
		/* "PID (COMM) STATE ...", COMM may hold ')' */
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'T')
			return true;
		usleep(100);
	}
	return false;
}

/* Sockets @pid holds besides its listener: connections it accepted. */
static long accepted_sockets(pid_t pid)
{
	char dir[64], path[PATH_MAX], link[64];
	struct dirent *e;
	long n = 0;
	ssize_t len;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len > 0 && !strncmp(link, "socket:", 7))
			n++;
	}
	closedir(d);
	return n > 0 ? n - 1 : 0;
}

/* ---- scenarios ------------------------------------------------------------------ */

/* Restart the next worker once the last one's replacement listens. */
static void tick_rolling(struct run *r)
{
	pid_t now[WORKERS];
	int n = worker_pids(r, now);

	if (r->pending && (n < WORKERS || pid_in(r->pending, now, n)))
		return;
	r->pending = 0;
	if (r->faults >= r->want_faults)
		return;
	if (r->next == 0 || r->next == WORKERS) {
		/* a round: the workers serving at its start, in slot order */
		if (n < WORKERS)
			return;
		memcpy(r->pids, now, sizeof(r->pids));
		r->next = 0;
		r->rounds++;
	}
	r->pending = r->pids[r->next++];
	kill(r->pending, SIGTERM);
	r->faults++;
}

static void tick_crash(struct run *r)
{
	pid_t now[WORKERS];
	int n = worker_pids(r, now);
	pid_t victim;

	if (!n)
		return;
	victim = now[rand() % n];
	/* stopped, it accepts nothing more: what it holds is what dies */
	if (kill(victim, SIGSTOP))
		return;
	/* not seen stopped: no count, so its losses show as failures */
	if (stopped(victim))
		r->held += accepted_sockets(victim);
	kill(victim, SIGKILL);
	r->faults++;
}

static const char *const policies[] = { "p2c", "round-robin", "hash", "least-conn" };

static void tick_upgrade(struct run *r)
{
	const char *policy = policies[r->faults % 4];

	if (r->faults >= r->want_faults)
		return;
	if (ctl(r, (const char *const[]){ "--bpffs", r->cfg->bpffs, "upgrade",
					  r->group, NULL }) ||
	    ctl(r, (const char *const[]){ "--bpffs", r->cfg->bpffs, "set", r->group,
					  "policy", policy, NULL }))
		return;
	r->faults++;
}

/* Every fifth tick: a new set, listening before the old one stops. */
static void tick_restart(struct run *r)
{
	pid_t fresh;

	if (r->ticks % 5 || r->faults >= r->want_faults)
		return;
	fresh = httpd_start(r, r->group);
	if (!fresh)
		return;
	httpd_stop(r->httpd);
	r->httpd = fresh;
	r->faults++;
}

/* Write nonsense into one slot's counters, as its worker could through
 * its mmap; a bpf() update of the whole value does the same here. Then
 * watch how long each other slot goes without a new connection.
 */
static void tick_hostile(struct run *r)
{
	struct rpd_slot s[SLOTS], bad;
	char path[PATH_MAX];
	bool used[SLOTS];
	__u32 k;
	int fd;

	read_slots(r, r->group, s, used);
	if (r->hostile_slot < 0) {
		for (k = 0; k < SLOTS && !used[k]; k++)
			;
		if (k == SLOTS)
			return;
		r->hostile_slot = k;
	}
	k = r->hostile_slot;
	if (!used[k])
		return;
	bad = s[k];
	switch (r->faults % 4) {
	case 0:
		bad.finished = bad.dispatched + (1ULL << 40);
		break;
	case 1:
		bad.weight = 0xffffffff;
		break;
	case 2:
		bad.dispatched = ~0ULL - 10;
		bad.finished = ~0ULL - 10;
		break;
	default:
		bad.finished = bad.dispatched - (1ULL << 62);
		break;
	}
	rpdu_group_path(path, sizeof(path), r->cfg->bpffs, r->group, RPD_PIN_SLOTS);
	fd = bpf_obj_get(path);
	if (fd >= 0 && !bpf_map_update_elem(fd, &k, &bad, BPF_EXIST))
		r->faults++;
	if (fd >= 0)
		close(fd);

	for (k = 0; k < SLOTS; k++) {
		if (!used[k] || (int)k == r->hostile_slot)
			continue;
		if (s[k].dispatched != r->last_disp[k] || !r->last_change[k]) {
			r->last_disp[k] = s[k].dispatched;
			r->last_change[k] = r->ticks;
		} else if ((r->ticks - r->last_change[k]) * TICK_MS > r->starved_ms) {
			r->starved_ms = (r->ticks - r->last_change[k]) * TICK_MS;
		}
	}
}

/* rpdctl's one line on stderr, which must contain @want */
static void expect_ctl_error(struct run *r, const char *const args[], const char *want)
{
	char errbuf[1024];
	int rc = run_capture("rpdctl", args, errbuf, sizeof(errbuf));

	if (rc != 1 || !strstr(errbuf, want))
		check_failed(r, "rpdctl %s %s: exit %d, '%s' without '%s'", args[2], args[3],
			     rc, errbuf, want);
}

/* The whole-group restart onto a group loaded afresh: how a server gets
 * back a group whose pins are gone.
 */
static void recover(struct run *r)
{
	pid_t fresh;

	load_group(r, r->group, WORKERS);
	fresh = httpd_start(r, r->group);
	if (!fresh)
		return;
	httpd_stop(r->httpd);
	r->httpd = fresh;
}

static void tick_damage(struct run *r)
{
	const char *bpffs = r->cfg->bpffs;
	char errbuf[1024], want[256], stale[PATH_MAX], pin[PATH_MAX];
	struct stat st;
	pid_t dead;
	int rc, fd;

	switch (r->ticks) {
	case 3:
		/* group full: the extra worker is told, the others serve on */
		rc = run_capture("rpd-httpd", (const char *const[]){
			"--group", r->group, "--bpffs", bpffs, "--listen", BENCH_ADDR,
			"--workers", "1", NULL }, errbuf, sizeof(errbuf));
		snprintf(want, sizeof(want), "group '%s' is full (%d of %d slots in use)",
			 r->group, WORKERS, WORKERS);
		if (rc != 1 || !strstr(errbuf, want))
			check_failed(r, "extra worker: exit %d, '%s'", rc, errbuf);
		break;
	case 6:
		/* pins deleted while serving */
		ctl(r, (const char *const[]){ "--bpffs", bpffs, "unload", r->group, NULL });
		snprintf(want, sizeof(want), "group '%s' is not loaded", r->group);
		expect_ctl_error(r, (const char *const[]){ "--bpffs", bpffs, "stats",
							   r->group, NULL }, want);
		break;
	case 9:
		recover(r);
		break;
	case 12:
		/* the bpffs itself gone */
		if (umount2(bpffs, MNT_DETACH))
			check_failed(r, "umount %s: %s", bpffs, strerror(errno));
		snprintf(want, sizeof(want), "%s is not a bpf filesystem; mount one with: mount -t bpf bpf %s",
			 bpffs, bpffs);
		expect_ctl_error(r, (const char *const[]){ "--bpffs", bpffs, "stats",
							   r->group, NULL }, want);
		break;
	case 15:
		if (mount("rpd-stress", bpffs, "bpf", 0, "mode=0700"))
			check_failed(r, "mount %s: %s", bpffs, strerror(errno));
		recover(r);
		break;
	case 18:
		/* what an 'rpdctl load' killed between its pins and their
		 * rename leaves: a temporary directory of a dead process
		 */
		dead = fork();
		if (dead == 0)
			_exit(0);
		waitpid(dead, NULL, 0);
		snprintf(stale, sizeof(stale), "%s/rpd/spare~loading~%d", bpffs, (int)dead);
		if (snprintf(pin, sizeof(pin), "%s/%s", stale, RPD_PIN_CONFIG) >= (int)sizeof(pin))
			break;
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 8, 1, NULL);
		if (mkdir(stale, 0700) || fd < 0 || bpf_obj_pin(fd, pin))
			check_failed(r, "making %s: %s", stale, strerror(errno));
		if (fd >= 0)
			close(fd);
		ctl(r, (const char *const[]){ "--bpffs", bpffs, "load", "spare", NULL });
		if (!stat(stale, &st))
			check_failed(r, "%s is still there after 'rpdctl load spare'", stale);
		ctl(r, (const char *const[]){ "--bpffs", bpffs, "unload", "spare", NULL });
		break;
	}
	/* each step that went through counts as one fault */
	switch (r->ticks) {
	case 3: case 6: case 12: case 15: case 18:
		r->faults++;
		break;
	}
}

static void report_rolling(struct run *r, const struct result *res, char *buf, size_t len)
{
	(void)res;
	snprintf(buf, len, "%ld restarts, %d rounds", r->faults, r->rounds);
}

static void report_crash(struct run *r, const struct result *res, char *buf, size_t len)
{
	(void)res;
	snprintf(buf, len, "%ld kills, %ld connections held by the killed", r->faults, r->held);
}

/* counters and slots survived every upgrade */
static void report_upgrade(struct run *r, const struct result *res, char *buf, size_t len)
{
	struct rpd_slot s[SLOTS];
	bool used[SLOTS];
	__u64 disp = 0;
	int k, n;

	n = read_slots(r, r->group, s, used);
	for (k = 0; k < SLOTS; k++)
		disp += used[k] ? s[k].dispatched : 0;
	if (n != WORKERS || disp < (__u64)res->ok)
		check_failed(r, "%d slots in use counting %llu dispatched; the client saw %ld served",
			     n, (unsigned long long)disp, res->ok);
	snprintf(buf, len, "%ld upgrades, each with a policy switch", r->faults);
}

static void report_restart(struct run *r, const struct result *res, char *buf, size_t len)
{
	(void)res;
	snprintf(buf, len, "%ld whole-group restarts", r->faults);
}

static void report_hostile(struct run *r, const struct result *res, char *buf, size_t len)
{
	(void)res;
	if (r->starved_ms > STARVE_BOUND_MS)
		check_failed(r, "a slot went %ld ms without a connection (bound %d ms)",
			     r->starved_ms, STARVE_BOUND_MS);
	snprintf(buf, len, "%ld writes; longest wait of a slot %ld ms (bound %d)",
		 r->faults, r->starved_ms, STARVE_BOUND_MS);
}

static void report_damage(struct run *r, const struct result *res, char *buf, size_t len)
{
	(void)r;
	(void)res;
	snprintf(buf, len, "group full, pins deleted, bpffs unmounted, stale pins");
}

static const struct scenario scenarios[] = {
	{ "rolling", 30, 5, 10 * WORKERS, WORKERS, SLOTS, tick_rolling, report_rolling },
	{ "crash", 30, 4, 0, 0, SLOTS, tick_crash, report_crash },
	{ "upgrade", 45, 4, 100, 5, SLOTS, tick_upgrade, report_upgrade },
	{ "restart", 15, 3, 10, 2, SLOTS, tick_restart, report_restart },
	{ "hostile", 20, 4, 0, 0, SLOTS, tick_hostile, report_hostile },
	/* its steps run on fixed ticks, the last on the 18th */
	{ "damage", 5, 5, 5, 5, WORKERS, tick_damage, report_damage },
};

#define NR_SCENARIOS	(sizeof(scenarios) / sizeof(scenarios[0]))

static void tick(const struct progress *p, void *arg)
{
	struct run *r = arg;

	(void)p;
	r->ticks++;
	r->sc->tick(r);
}

/* ---- the run ------------------------------------------------------------------- */

struct row {
	long attempted, completed, failed, in_queue, in_service;
	char detail[160];
};

static void run_scenario(struct cfg *c, const struct scenario *sc, bool quick,
			 struct row *row)
{
	struct run r = { .sc = sc, .cfg = c, .group = "stress", .hostile_slot = -1,
			 .want_faults = quick ? sc->quick_faults : sc->faults };
	double seconds = quick ? sc->quick_seconds : sc->seconds;
	struct result res = {};
	long lost;

	c->conns = (long)(c->rate * seconds);
	load_group(&r, r.group, sc->slots);
	r.httpd = httpd_start(&r, r.group);
	if (r.httpd && load_run(c, &res, tick, &r) < 0)
		check_failed(&r, "interrupted");

	row->attempted = res.conns;
	row->completed = res.ok;
	/* a reset, or an end without a reply: the connection was taken */
	lost = res.err[E_RESET] + res.err[E_BAD_REPLY];
	row->in_service = lost < r.held ? lost : r.held;
	row->in_queue = lost - row->in_service;
	row->failed = res.errors - row->in_service;
	sc->report(&r, &res, row->detail, sizeof(row->detail));
	if (r.want_faults && r.faults < r.want_faults)
		check_failed(&r, "%ld of %ld faults in %.0f s", r.faults, r.want_faults, seconds);
	if (r.fail[0]) {
		fprintf(stderr, "rpd-stress: %s: %s\n", sc->name, r.fail);
		row->failed++;
	}
	if (res.err[E_REFUSED] || res.err[E_TIMEOUT] || res.err[E_OTHER])
		fprintf(stderr, "rpd-stress: %s: %ld refused, %ld timed out, %ld other (%s)\n",
			sc->name, res.err[E_REFUSED], res.err[E_TIMEOUT], res.err[E_OTHER],
			strerror(res.first_errno));
	httpd_stop(r.httpd);
	ctl(&r, (const char *const[]){ "--bpffs", c->bpffs, "unload", r.group, NULL });
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rpd-stress [--quick] [--rate N] [SCENARIO...]\n"
		   "  --quick    each scenario briefly (make test)\n"
		   "  --rate N   connections per second, default 2000\n"
		   "scenarios: rolling crash upgrade restart hostile damage (default: all)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "rate", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL }
	};
	struct cfg c = {
		.load = LOAD_OPEN, .workers = WORKERS, .rate = 2000, .mean_ms = 1,
		.dist = DIST_CONST, .client_threads = 2, .timeout_ms = 3000,
		.seed = 1,
	};
	struct row rows[NR_SCENARIOS] = {};
	bool quick = false, want[NR_SCENARIOS] = {}, any = false;
	long attempted = 0, failed = 0;
	static char exe[PATH_MAX], rpdctl[PATH_MAX];
	char *slash, *end;
	int opt, n = 0;
	size_t i;
	ssize_t len;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'q':
			quick = true;
			break;
		case 'r':
			c.rate = strtod(optarg, &end);
			if (*end || !(c.rate >= 1 && c.rate <= 100000)) {
				fprintf(stderr, "rpd-stress: --rate '%s': use 1-100000\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	for (; optind < argc; optind++) {
		for (i = 0; i < NR_SCENARIOS && strcmp(scenarios[i].name, argv[optind]); i++)
			;
		if (i == NR_SCENARIOS) {
			fprintf(stderr, "rpd-stress: unknown scenario '%s'\n", argv[optind]);
			usage(stderr);
			return 2;
		}
		want[i] = any = true;
	}

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len < 0)
		err(1, "/proc/self/exe");
	exe[len] = '\0';
	slash = strrchr(exe, '/');
	*slash = '\0';
	build_dir = exe;
	if (snprintf(rpdctl, sizeof(rpdctl), "%s/rpdctl", build_dir) >= (int)sizeof(rpdctl))
		errx(1, "%s: path too long", build_dir);
	c.rpdctl = rpdctl;
	signal(SIGPIPE, SIG_IGN);
	sandbox_enter(&c);
	srand(1);

	for (i = 0; i < NR_SCENARIOS; i++) {
		if (any && !want[i])
			continue;
		run_scenario(&c, &scenarios[i], quick, &rows[i]);
	}
	sandbox_leave();

	printf("%-9s %9s %9s %7s %13s %15s  %s\n", "scenario", "attempted", "completed",
	       "failed", "lost-in-queue", "lost-in-service", "");
	for (i = 0; i < NR_SCENARIOS; i++) {
		if (any && !want[i])
			continue;
		printf("%-9s %9ld %9ld %7ld %13ld %15ld  %s\n", scenarios[i].name,
		       rows[i].attempted, rows[i].completed, rows[i].failed,
		       rows[i].in_queue, rows[i].in_service, rows[i].detail);
		attempted += rows[i].attempted;
		failed += rows[i].failed;
		n++;
	}
	printf("stress: %d scenarios, attempted %ld, failed %ld\n", n, attempted, failed);
	return failed ? 1 : 0;
}
