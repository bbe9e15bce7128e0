// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpdctl: load, inspect and tune rpd groups.
 *
 *	rpdctl [OPTIONS] COMMAND ARGS
 *
 * Every command is one row of the table below: its grammar and its help
 * live there and nowhere else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "json.h"
#include "rpdctl.h"

struct rpdctl_opts opts = {
	.bpffs = RPD_BPFFS_DEFAULT,
};

static int cmd_help(const struct cmd *cmd, int argc, char **argv);
static int cmd_version(const struct cmd *cmd, int argc, char **argv);

static const struct cmd cmds[] = {
	{
		.name = "load",
		.fn = cmd_load,
		.usage = "load GROUP [--policy POLICY] [--max-workers N]\n"
			 "     [--owner USER[:GROUP]] [--mode MODE]",
		.defs = DEF_GROUP | DEF_POLICY,
		.help =
"Load the dispatcher for GROUP and pin it with its maps under\n"
"BPFFS/rpd/GROUP/, where workers (librpd) join the group by name. The\n"
"pins appear all at once or not at all, and a loaded group is never\n"
"overwritten: unload it first.\n"
"\n"
"  --policy POLICY   how a new connection picks a worker (default least-conn)\n"
"  --max-workers N   slots in the group, 1-1024 (default 64)\n"
"  --owner USER[:GROUP]  owner of the pins (default: the caller, root)\n"
"  --mode MODE       the pins' mode, octal read/write bits (default 0600);\n"
"                    the group's directory and BPFFS/rpd get the search\n"
"                    bits that let those classes reach them\n",
	},
	{
		.name = "unload",
		.fn = cmd_unload,
		.usage = "unload GROUP",
		.defs = DEF_GROUP,
		.help =
"Remove the pins of GROUP. A group still serving keeps working: the\n"
"dispatcher stays attached to the workers' listeners and its maps live as\n"
"long as something holds them. But it can no longer be managed, and no new\n"
"worker can join it.\n",
	},
	{
		.name = "upgrade",
		.fn = cmd_upgrade,
		.usage = "upgrade GROUP",
		.defs = DEF_GROUP,
		.help =
"Replace the dispatcher of a loaded GROUP with the one this rpdctl was\n"
"built with, while it serves: the new program is loaded against the\n"
"group's pinned maps, so slots, counters, policy and weights carry over;\n"
"it is attached to every address the group serves (each attach replaces\n"
"the program of one kernel reuseport group at once: a connection meets\n"
"the old program or the new one, never none), then its pin replaces the\n"
"old one. rpdctl takes one listener per address from its worker with\n"
"pidfd_getfd(), which needs CAP_SYS_PTRACE over the worker. The group\n"
"must have this rpdctl's ABI.\n",
	},
	{
		.name = "show",
		.fn = cmd_show,
		.usage = "show [GROUP]",
		.defs = DEF_GROUP,
		.help =
"Without GROUP, list every group: its policy, slots and slots in use. With\n"
"GROUP, also each slot in use: the pid and listen address of its worker. A\n"
"slot is in use while its listener is in the group's socket map. With -j\n"
"both forms list the slots in use.\n",
	},
	{
		.name = "stats",
		.fn = cmd_stats,
		.usage = "stats GROUP [--watch SECONDS]",
		.defs = DEF_GROUP,
		.help =
"For each slot in use: connections dispatched to it, finished by its\n"
"worker, in flight (dispatched - finished, at least 0), its share of the\n"
"dispatched connections of the listed slots (percent, also in JSON),\n"
"weight and drain. Then the balance of the dispatched counts over the slots\n"
"in use:\n"
"  max/min  max / max(min, 1); 1.0 with no slot in use or no traffic\n"
"  cov      coefficient of variation, population stddev / mean; 0 if the\n"
"           mean is 0\n"
"  jain     Jain's fairness index, sum^2 / (n * sum of squares), from 1/n\n"
"           (one slot took all) to 1 (even); 1.0 with no slot in use or no\n"
"           traffic\n"
"Then the dispatcher's counters, summed over CPUs: selected (placed by the\n"
"policy), fallback (nothing selectable: the kernel's hash decided), empty\n"
"(a slot's listener was gone), migrated (requests moved off a closing\n"
"listener), errors.\n"
"\n"
"  --watch SECONDS   repaint every SECONDS (fractions allowed) until Ctrl-C;\n"
"                    with -j, one JSON document per interval\n",
	},
	{
		.name = "set",
		.fn = cmd_set,
		.usage = "set GROUP policy POLICY\n"
			 "set GROUP weight SLOT WEIGHT\n"
			 "set GROUP drain SLOT { on | off }",
		.defs = DEF_GROUP | DEF_POLICY,
		.help =
"policy  how new connections pick a worker, from the next SYN on\n"
"weight  1-65535: least-conn and p2c compare in flight / WEIGHT\n"
"drain   on: no new connection while another slot can take it\n"
"\n"
"SLOT must be in use (see 'rpdctl show GROUP'). Weight and drain are\n"
"stored alone, through a shared mapping of the slots, so the dispatcher's\n"
"concurrent updates of the slot's counters are never lost.\n",
	},
	{
		.name = "attach",
		.fn = cmd_attach,
		.usage = "attach GROUP --pid PID [--listen ADDR:PORT] [--follow]",
		.defs = DEF_GROUP,
		.help =
"Balance a running server that does not link librpd (nginx, HAProxy,\n"
"Envoy): take the SO_REUSEPORT TCP listeners of process PID and of every\n"
"process below it (a prefork server's master is enough) with\n"
"pidfd_getfd(), put each in a free slot of GROUP and attach GROUP's\n"
"program to their reuseport group. The server never reports its load: the\n"
"kernel counts the end of each connection of these slots. All listeners\n"
"get a slot or none does. Running it again is harmless: listeners already\n"
"attached keep their slot and their worker's pid is brought up to date.\n"
"\n"
"  --pid PID            the server (needs CAP_SYS_PTRACE over it)\n"
"  --listen ADDR:PORT   only listeners bound there; *:PORT or [::]:PORT\n"
"                       for any address\n"
"  --follow             keep watching, once a second, until PID exits or\n"
"                       a signal comes: new listeners get slots, and slots\n"
"                       follow their workers across reloads and restarts\n",
	},
	{
		.name = "detach",
		.fn = cmd_detach,
		.usage = "detach GROUP",
		.defs = DEF_GROUP,
		.help =
"Give the listeners attached to GROUP back to the kernel: the program\n"
"leaves their reuseport group, whose connections the kernel's hash spreads\n"
"again, and their slots are emptied. Slots of librpd workers stay.\n",
	},
	{
		.name = "epoll-fifo",
		.fn = cmd_epoll_fifo,
		.usage = "epoll-fifo status [--pid PID [--listen ADDR:PORT]]\n"
			 "epoll-fifo { enable | disable } --pid PID [--listen ADDR:PORT]\n"
			 "epoll-fifo mode { off | listed | all }",
		.help =
"Drive the optional rpd_epoll_fifo kernel module (kmod/), which wakes the\n"
"EPOLLEXCLUSIVE waiters of a listening socket in FIFO order, so that one\n"
"listener shared by every worker's epoll (nginx's default) spreads new\n"
"connections over the idle workers instead of waking the first one.\n"
"\n"
"status   whether the module is loaded, its mode and counters; with --pid,\n"
"         whether each listener of the process is registered\n"
"enable   register the TCP listeners of process PID and of every process\n"
"         below it (a prefork server's master is enough), all or none\n"
"disable  unregister them; the kernel's own wake order returns\n"
"mode     off: no socket rotates; listed: registered ones (default);\n"
"         all: also every TCP listener created from now on\n"
"\n"
"  --pid PID            the server process (its sockets are taken with\n"
"                       pidfd_getfd(), which needs CAP_SYS_PTRACE over it)\n"
"  --listen ADDR:PORT   only listeners bound there; *:PORT or [::]:PORT\n"
"                       for any address\n"
"\n"
"A registration belongs to the socket: it lasts until 'disable', until the\n"
"socket is closed by every process holding it, or until the module is\n"
"unloaded.\n",
	},
	{
		.name = "version",
		.fn = cmd_version,
		.usage = "version",
		.help = "Print rpdctl's version and the rpd ABI it speaks.\n",
	},
	{
		.name = "help",
		.fn = cmd_help,
		.usage = "help [COMMAND]\n"
			 "COMMAND { help | --help }",
		.help = "Print this text, or the help of COMMAND.\n",
	},
};

#define NR_CMDS		(sizeof(cmds) / sizeof(cmds[0]))

static const char options_help[] =
"Options (before COMMAND, or among its arguments):\n"
"  -j, --json       one JSON document on stdout, errors too ({\"error\": ...})\n"
"  -p, --pretty     indented JSON; implies -j\n"
"  -d, --debug      print libbpf's log and the verifier's\n"
"  --bpffs DIR      the bpf filesystem holding the pins (default /sys/fs/bpf)\n"
"\n"
"Exit status: 0 ok, 1 failure, 2 usage error.\n";

static void print_usage(FILE *f, const struct cmd *cmd, bool first)
{
	const char *line = cmd->usage;
	const char *nl;

	for (;;) {
		nl = strchr(line, '\n');
		fprintf(f, "%s rpdctl [OPTIONS] %.*s\n",
			first ? "Usage:" : "      ",
			nl ? (int)(nl - line) : (int)strlen(line), line);
		first = false;
		/* not nl + 1 past the last line: NULL + 1 is undefined */
		if (!nl)
			break;
		line = nl + 1;
	}
}

static void print_defs(FILE *f, unsigned int defs)
{
	int i;

	fputc('\n', f);
	if (defs & DEF_GROUP)
		fprintf(f, "       GROUP   := " RPD_GROUP_NAME_RULE "\n");
	if (defs & DEF_POLICY) {
		fprintf(f, "       POLICY  := {");
		for (i = 0; i < RPD_POLICY_MAX; i++)
			fprintf(f, "%s %s", i ? " |" : "", rpdu_policy_name(i));
		fprintf(f, " }\n");
	}
	fprintf(f, "       OPTIONS := { -j|--json | -p|--pretty | -d|--debug | --bpffs DIR }\n");
}

/* Help is text; with -j it goes to stderr so stdout stays one document. */
static FILE *help_stream(void)
{
	return opts.json ? stderr : stdout;
}

static int help_done(void)
{
	struct json j;

	if (opts.json) {
		json_init(&j, stdout, opts.pretty);
		json_null(&j);
		json_finish(&j);
	}
	return EXIT_OK;
}

static int print_cmd_help(const struct cmd *cmd)
{
	FILE *f = help_stream();

	print_usage(f, cmd, true);
	print_defs(f, cmd->defs);
	fprintf(f, "\n%s", cmd->help);
	return help_done();
}

static int print_help(void)
{
	FILE *f = help_stream();
	size_t i;

	for (i = 0; i < NR_CMDS; i++)
		print_usage(f, &cmds[i], i == 0);
	print_defs(f, DEF_GROUP | DEF_POLICY);
	fprintf(f, "\n%s", options_help);
	return help_done();
}

static const struct cmd *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < NR_CMDS; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

static int cmd_help(const struct cmd *cmd, int argc, char **argv)
{
	const struct cmd *c;

	if (cli_no_options(cmd, argc, argv))
		return EXIT_USAGE;
	if (argc - optind > 1)
		return fail_usage("help: unexpected argument '%s'; see 'rpdctl help'",
				  argv[optind + 1]);
	if (optind == argc)
		return print_help();
	c = find_cmd(argv[optind]);
	if (!c)
		return fail_usage("unknown command '%s'; see 'rpdctl help'",
				  argv[optind]);
	return print_cmd_help(c);
}

static int cmd_version(const struct cmd *cmd, int argc, char **argv)
{
	struct json j;

	if (cli_no_options(cmd, argc, argv))
		return EXIT_USAGE;
	if (optind < argc)
		return fail_usage("version: unexpected argument '%s'; see 'rpdctl version help'",
				  argv[optind]);
	if (!opts.json) {
		printf("rpdctl %s (ABI %d)\n", RPD_VERSION, RPD_ABI_VERSION);
		return EXIT_OK;
	}
	json_init(&j, stdout, opts.pretty);
	json_object_begin(&j);
	json_kstring(&j, "version", RPD_VERSION);
	json_kuint(&j, "abi", RPD_ABI_VERSION);
	json_object_end(&j);
	json_finish(&j);
	return EXIT_OK;
}

/* "COMMAND help" or a --help/-h among its options. */
/* COMMAND help, or --help/-h among its arguments. The command's own
 * arguments are not parsed for help, so take -j/-p from them here: help
 * is one JSON document too, wherever -j stands.
 */
static bool wants_help(int argc, char **argv)
{
	bool help = argc > 1 && !strcmp(argv[1], "help");
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			help = true;
		else if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))
			opts.json = true;
		else if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--pretty"))
			opts.json = opts.pretty = true;
	}
	return help;
}

static int print_libbpf(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	(void)level;
	if (!opts.debug)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Returns an exit code when rpdctl is done (help, usage error), else -1. */
static int parse_global(int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL }
	};
	int opt;

	opterr = 0;
	/* '+': stop at the command, whose arguments are its own */
	while ((opt = getopt_long(argc, argv, "+:h" GLOBAL_SHORTOPTS, longopts,
				  NULL)) != -1) {
		if (opt == 'h')
			return print_help();
		if (!cli_global_opt(opt))
			cli_bad_option(NULL, opt, argv);
	}
	return cli_opts_done() ? EXIT_USAGE : -1;
}

int main(int argc, char **argv)
{
	const struct cmd *cmd;
	int err;

	err = parse_global(argc, argv);
	if (err >= 0)
		return err;
	libbpf_set_print(print_libbpf);

	if (optind >= argc)
		return fail_usage("missing command; see 'rpdctl help'");
	cmd = find_cmd(argv[optind]);
	if (!cmd)
		return fail_usage("unknown command '%s'; see 'rpdctl help'",
				  argv[optind]);
	argc -= optind;
	argv += optind;
	if (wants_help(argc, argv))
		return print_cmd_help(cmd);
	/* 0, not 1: getopt_long starts over, permutation state included */
	optind = 0;
	return cmd->fn(cmd, argc, argv);
}
