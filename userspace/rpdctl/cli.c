// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What every command shares: reporting a failure (text and JSON) and
 * taking its arguments apart.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rpdctl.h"

static char errbuf[ERRMSG_MAX];

static void set_error_va(const char *fmt, va_list ap)
{
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
}

void set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error_va(fmt, ap);
	va_end(ap);
}

const char *last_error(void)
{
	return errbuf;
}

const char *root_hint(int err)
{
	return err == -EPERM || err == -EACCES ? " (run as root)" : "";
}

static void report(void)
{
	struct json j;

	fprintf(stderr, "rpdctl: %s\n", errbuf);
	if (!opts.json)
		return;
	/* the one document on stdout, so a script never parses stderr */
	json_init(&j, stdout, opts.pretty);
	json_object_begin(&j);
	json_kstring(&j, "error", errbuf);
	json_object_end(&j);
	json_finish(&j);
}

int fail_last(void)
{
	report();
	return EXIT_FAIL;
}

int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error_va(fmt, ap);
	va_end(ap);
	report();
	return EXIT_FAIL;
}

int fail_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error_va(fmt, ap);
	va_end(ap);
	report();
	return EXIT_USAGE;
}

/* The first bad option is reported once the whole command line is read,
 * so a -j after it still turns the report into JSON.
 */
static void opt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void opt_fail(const char *fmt, ...)
{
	va_list ap;

	if (opts.bad_option)
		return;
	opts.bad_option = true;
	va_start(ap, fmt);
	set_error_va(fmt, ap);
	va_end(ap);
}

int cli_opts_done(void)
{
	if (!opts.bad_option)
		return 0;
	report();
	return EXIT_USAGE;
}

bool cli_global_opt(int opt)
{
	size_t n;

	switch (opt) {
	case 'j':
		opts.json = true;
		return true;
	case 'p':
		opts.json = opts.pretty = true;
		return true;
	case 'd':
		opts.debug = true;
		return true;
	case 'B':
		/* trailing slashes would double up in every path */
		n = strlen(optarg);
		while (n > 1 && optarg[n - 1] == '/')
			optarg[--n] = '\0';
		if (n)
			opts.bpffs = optarg;
		else
			opt_fail("--bpffs needs a directory");
		return true;
	default:
		return false;
	}
}

void cli_bad_option(const struct cmd *cmd, int opt, char **argv)
{
	const char *name = cmd ? cmd->name : NULL;
	char where[32] = "", help[32] = "rpdctl help";

	if (name) {
		snprintf(where, sizeof(where), "%s: ", name);
		snprintf(help, sizeof(help), "rpdctl %s help", name);
	}
	if (opt == ':')
		opt_fail("%soption '%s' needs an argument; see '%s'", where,
			 argv[optind - 1], help);
	else if (name && isdigit(optopt))
		opt_fail("%snegative numbers are never valid here; see '%s'",
			 where, help);
	else if (optopt)
		opt_fail("%sunknown option '-%c'; see '%s'", where, optopt, help);
	else
		opt_fail("%sunknown option '%s'; see '%s'", where,
			 argv[optind - 1], help);
}

int cli_getopt(const struct cmd *cmd, int argc, char **argv,
	       const struct option *longopts)
{
	int opt;

	/* ':' first: a missing argument comes back as ':', not '?' */
	opterr = 0;
	for (;;) {
		opt = getopt_long(argc, argv, ":" GLOBAL_SHORTOPTS, longopts,
				  NULL);
		if (opt == '?' || opt == ':')
			cli_bad_option(cmd, opt, argv);
		else if (!cli_global_opt(opt))
			return opt;
	}
}

int cli_no_options(const struct cmd *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		GLOBAL_LONGOPTS,
		{ NULL }
	};

	cli_getopt(cmd, argc, argv, longopts);
	return cli_opts_done();
}

bool parse_ulong(const char *s, unsigned long min, unsigned long max,
		 unsigned long *out)
{
	unsigned long v;
	char *end;

	/* strtoul() would take "-1", " 1" and "+1" */
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int parse_group(const char *name)
{
	if (rpdu_group_name_valid(name))
		return 0;
	return fail_usage("invalid group name '%s': use " RPD_GROUP_NAME_RULE,
			  name);
}

int parse_policy(const char *name, __u32 *policy)
{
	int p = rpdu_policy_parse(name);

	if (p < 0)
		return fail_usage("invalid policy '%s': use one of %s",
				  name, rpdu_policy_list);
	*policy = p;
	return 0;
}

const char *cli_group_operand(const struct cmd *cmd, int argc, char **argv)
{
	if (optind == argc) {
		fail_usage("%s: missing GROUP; see 'rpdctl %s help'", cmd->name,
			   cmd->name);
		return NULL;
	}
	if (argc - optind > 1) {
		fail_usage("%s: unexpected argument '%s'; see 'rpdctl %s help'",
			   cmd->name, argv[optind + 1], cmd->name);
		return NULL;
	}
	if (parse_group(argv[optind]))
		return NULL;
	return argv[optind];
}
