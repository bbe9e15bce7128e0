/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * rpdctl internals: global options, the command table entry, error
 * reporting, and access to a loaded group's pinned maps.
 */
#ifndef RPDCTL_H
#define RPDCTL_H

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <linux/types.h>

#include "rpd_abi.h"
#include "rpd_util.h"

/* RPD_VERSION comes from the Makefile's VERSION. */

enum {
	EXIT_OK		= 0,
	EXIT_FAIL	= 1,
	EXIT_USAGE	= 2,
};

/* Set from the global options, before the command runs: all the state
 * of one command line, so a fresh struct starts a fresh one.
 */
struct rpdctl_opts {
	bool json;
	bool pretty;
	bool debug;
	const char *bpffs;
	bool bad_option;	/* one was recorded, see cli_opts_done() */
};

extern struct rpdctl_opts opts;

/* Which of the grammar's definitions a command's help prints. */
enum {
	DEF_GROUP	= 1 << 0,
	DEF_POLICY	= 1 << 1,
};

struct cmd {
	const char *name;
	int (*fn)(const struct cmd *cmd, int argc, char **argv);
	const char *usage;	/* grammar after "rpdctl [OPTIONS] ", one form a line */
	unsigned int defs;	/* DEF_* */
	const char *help;	/* what it does, its options */
};

int cmd_load(const struct cmd *cmd, int argc, char **argv);
int cmd_unload(const struct cmd *cmd, int argc, char **argv);
int cmd_upgrade(const struct cmd *cmd, int argc, char **argv);
int cmd_show(const struct cmd *cmd, int argc, char **argv);
int cmd_stats(const struct cmd *cmd, int argc, char **argv);
int cmd_set(const struct cmd *cmd, int argc, char **argv);
int cmd_epoll_fifo(const struct cmd *cmd, int argc, char **argv);
int cmd_attach(const struct cmd *cmd, int argc, char **argv);
int cmd_detach(const struct cmd *cmd, int argc, char **argv);

/* --- cli.c: errors and argument parsing ---------------------------------- */

/* Helpers below record why they failed; a command reports it once. */
#define ERRMSG_MAX	1024
void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *last_error(void);

/* " (run as root)" after a cause that privileges would lift, else "" */
const char *root_hint(int err);

/* One line on stderr, and {"error": ...} on stdout with -j; they return
 * the exit code: EXIT_FAIL, or EXIT_USAGE for fail_usage().
 */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fail_last(void);
int fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Options of every command, also accepted after the command's name. */
#define GLOBAL_SHORTOPTS	"jpd"
#define GLOBAL_LONGOPTS						\
	{ "json",	no_argument,		NULL, 'j' },	\
	{ "pretty",	no_argument,		NULL, 'p' },	\
	{ "debug",	no_argument,		NULL, 'd' },	\
	{ "bpffs",	required_argument,	NULL, 'B' }

/* Applies @opt if it is a global option: then true. */
bool cli_global_opt(int opt);
/* Records getopt_long()'s '?' or ':' as the bad option (the first wins);
 * @cmd NULL before the command.
 */
void cli_bad_option(const struct cmd *cmd, int opt, char **argv);
/* After the options: EXIT_USAGE once the bad option is reported, or 0. */
int cli_opts_done(void);

/* getopt_long over a command's arguments (main resets optind): the next
 * of the command's own options, or -1 at the end. Global options are
 * applied on the way, bad ones recorded for cli_opts_done(). @longopts
 * ends with GLOBAL_LONGOPTS.
 */
int cli_getopt(const struct cmd *cmd, int argc, char **argv,
	       const struct option *longopts);
/* For commands without options of their own: 0 and the positional
 * arguments in argv[optind..], or EXIT_USAGE after reporting.
 */
int cli_no_options(const struct cmd *cmd, int argc, char **argv);

bool parse_ulong(const char *s, unsigned long min, unsigned long max,
		 unsigned long *out);
/* 0, or EXIT_USAGE after reporting why */
int parse_group(const char *name);
/* The one GROUP operand after the options, checked; NULL once a usage
 * error naming @cmd is printed.
 */
const char *cli_group_operand(const struct cmd *cmd, int argc, char **argv);
int parse_policy(const char *name, __u32 *policy);

/* --- group.c: the pins of a loaded group -------------------------------- */

enum group_map {
	GMAP_SOCKS,
	GMAP_SLOTS,
	GMAP_CONFIG,
	GMAP_COUNTERS,
	GMAP_SELECTED,
	GMAP_MAX,
};

struct group {
	const char *name;
	char dir[PATH_MAX];
	int fd[GMAP_MAX];
	struct rpd_config cfg;
	__u32 nr_slots;
	int ncpus;
	void *percpu_buf;	/* one value per possible CPU */
};

/* A slot in use: its listener is in the socket map. */
struct slot_row {
	__u32 slot;
	struct rpd_slot s;
	char addr[64];		/* "[ADDR]:PORT", from s */
};

/* "attached" (rpdctl attach) or "librpd" (the worker joined itself) */
const char *slot_owner(const struct rpd_slot *s);

extern const char *const group_pins[];	/* every pin of a group, NULL-ended */

int bpffs_ready(void);
int group_dir(char *buf, size_t len, const char *name);
int group_open(struct group *g, const char *name);
void group_close(struct group *g);
int group_slot_in_use(const struct group *g, __u32 slot);
/* 1 and the listener's cookie, 0 if the slot is empty, or -errno. */
int group_slot_cookie(const struct group *g, __u32 slot, __u64 *cookie);
/* A shared mapping of the slot map: single fields can be stored without
 * losing the program's concurrent atomic adds. munmap(*slots, *len).
 */
int group_slots_map(const struct group *g, struct rpd_slot **slots,
		    size_t *len);
int group_slot_read(const struct group *g, __u32 slot, struct rpd_slot *s);
/* Every slot in use, in slot order, in *rows (free() it). */
int group_read_in_use(const struct group *g, struct slot_row **rows,
		      __u32 *n);
int group_counters(struct group *g, struct rpd_counters *c);
int group_selected(struct group *g, __u32 slot, __u64 *sum);
int group_dir_remove(const char *dir);

/* --- stats_fmt.c: stats' numbers and their printing ---------------------- */

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
	double total;		/* dispatched, over the rows; a __u64 sum could wrap */
	struct balance bal;
	struct rpd_counters counters;
};

/* total and bal of @sn, from its rows */
void stats_sum(struct snapshot *sn);
void stats_print_text(FILE *f, const struct snapshot *sn, const char *name);
void stats_print_json(FILE *f, const struct snapshot *sn, const char *name);

/* --- proc.c: the listeners of a running server ------------------------- */

struct proc_sock {
	pid_t pid;		/* the first process seen holding it */
	int fdnum;		/* its fd number in that process */
	int fd;			/* rpdctl's own copy (pidfd_getfd) */
	unsigned long ino;	/* socket inode: one entry per socket */
	struct sockaddr_storage addr;
	char name[64];		/* "127.0.0.1:8080", "[::1]:8080" */
	/* The worker that serves it: the one process whose epoll watches
	 * it; else the one process below the root that holds it (a prefork
	 * master holds every listener, each worker maybe only its own); else
	 * the first holder if nothing below holds it; else 0: unknown.
	 */
	pid_t worker;
	pid_t below;		/* the last process below the root holding it */
	int nbelow;		/* how many do */
	pid_t watcher;		/* the last process whose epoll watches it */
	int nwatch;		/* how many do */
};

/* Every TCP listener held by @pid or a process below it, one entry per
 * socket, those bound to @match only if it is not NULL ("*:PORT" and
 * "[::]:PORT" match any address). 0 (maybe none found) or -errno after
 * set_error().
 */
int proc_listeners(pid_t pid, const struct sockaddr_storage *match,
		   struct proc_sock **socks, size_t *n);
/* The same, but at least one: none found is an error set with
 * set_error() ("process PID: no TCP listener [on LISTEN]"), -ENOENT.
 */
int proc_find_listeners(pid_t pid, const char *listen,
			const struct sockaddr_storage *match,
			struct proc_sock **socks, size_t *n);
void proc_socks_free(struct proc_sock *socks, size_t n);
void proc_sock_name(char *buf, size_t len, const struct sockaddr_storage *ss);

#endif /* RPDCTL_H */
