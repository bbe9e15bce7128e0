// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stats: read a group's slots whole, once or every --watch interval; the
 * numbers and their printing are in stats_fmt.c.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rpdctl.h"

/* A day: anything longer is a typo, and it keeps the timespec sane. */
#define WATCH_MAX_SECONDS	86400.0

static const struct option stats_opts[] = {
	{ "watch", required_argument, NULL, 'w' },
	GLOBAL_LONGOPTS,
	{ NULL }
};

static volatile sig_atomic_t stop;

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
	}
	err = group_counters(&g, &sn->counters);
	if (err)
		goto cleanup;
	stats_sum(sn);
cleanup:
	group_close(&g);
	if (err)
		snapshot_free(sn);
	return err;
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
			stats_print_json(stdout, &sn, name);
		} else {
			if (watch > 0 && tty)
				fputs("\033[H\033[2J", stdout);
			else if (!first)
				putchar('\n');
			stats_print_text(stdout, &sn, name);
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
	if (!cli_group_operand(cmd, argc, argv))
		return EXIT_USAGE;
	return stats(argv[optind], watch);
}
