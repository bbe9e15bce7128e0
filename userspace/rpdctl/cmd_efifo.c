// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * epoll-fifo: drive the optional rpd_epoll_fifo kernel module, which wakes
 * the EPOLLEXCLUSIVE waiters of a listening socket in FIFO order.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "json.h"
#include "rpdctl.h"
#include "rpd_epoll_fifo.h"

enum efifo_op {
	OP_STATUS,
	OP_ENABLE,
	OP_DISABLE,
};

static const struct option efifo_opts[] = {
	{ "pid",	required_argument,	NULL, 'P' },
	{ "listen",	required_argument,	NULL, 'l' },
	GLOBAL_LONGOPTS,
	{ NULL }
};

struct efifo_state {
	bool loaded;
	char mode[16];
	unsigned long long wakeups, rotations, registered;
};

static bool module_loaded(void)
{
	return access("/sys/module/" RPD_EFIFO_NAME, F_OK) == 0;
}

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int err = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, len, f))
		err = ferror(f) ? -EIO : -ENODATA;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return err;
}

static int read_counter(const char *name, unsigned long long *v)
{
	char path[128], buf[32], *end;
	int err;

	snprintf(path, sizeof(path), RPD_EFIFO_SYSFS "/%s", name);
	err = read_line(path, buf, sizeof(buf));
	if (err) {
		set_error("%s: %s", path, strerror(-err));
		return err;
	}
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (errno || end == buf) {
		set_error("%s: not a number: '%s'", path, buf);
		return -EINVAL;
	}
	return 0;
}

static int read_state(struct efifo_state *st)
{
	int err;

	memset(st, 0, sizeof(*st));
	st->loaded = module_loaded();
	if (!st->loaded)
		return 0;
	err = read_line(RPD_EFIFO_MODE_PARAM, st->mode, sizeof(st->mode));
	if (err) {
		set_error("%s: %s", RPD_EFIFO_MODE_PARAM, strerror(-err));
		return err;
	}
	return read_counter("exclusive_wakeups", &st->wakeups) ?:
	       read_counter("rotations", &st->rotations) ?:
	       read_counter("registered", &st->registered);
}

static int open_ctl(void)
{
	int fd = open(RPD_EFIFO_DEV, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		set_error(RPD_EFIFO_DEV ": missing: the " RPD_EFIFO_NAME
			  " module is not loaded (insmod rpd_epoll_fifo.ko)");
	else
		set_error(RPD_EFIFO_DEV ": %s%s", strerror(errno),
			  root_hint(-errno));
	return -errno;
}

static const char *ioctl_cause(int err)
{
	switch (err) {
	case EBUSY:
		return "its data_ready callback belongs to another kernel user (TLS, sockmap)";
	case ENOSPC:
		return "the module's table of sockets is full";
	case EPERM:
		return "permission denied (needs CAP_NET_ADMIN)";
	case EINVAL:
		return "not listening";
	default:
		return strerror(err);
	}
}

static void json_socket(struct json *j, const struct proc_sock *s,
			bool registered, bool changed)
{
	json_object_begin(j);
	json_kuint(j, "pid", s->pid);
	json_kuint(j, "fd", s->fdnum);
	json_kstring(j, "listen", s->name);
	json_kbool(j, "registered", registered);
	json_kbool(j, "changed", changed);
	json_object_end(j);
}

static int do_status(pid_t pid, const char *listen,
		     const struct sockaddr_storage *match)
{
	struct proc_sock *socks = NULL;
	struct efifo_state st;
	int ctl = -1, rc = EXIT_FAIL;
	bool *reg = NULL;
	size_t i, n = 0;
	struct json j;

	if (read_state(&st))
		return fail_last();
	if (pid > 0) {
		if (proc_find_listeners(pid, listen, match, &socks, &n))
			return fail_last();
		reg = calloc(n, sizeof(*reg));
		if (!reg) {
			rc = fail("out of memory");
			goto out;
		}
		if (st.loaded) {
			ctl = open_ctl();
			if (ctl < 0) {
				rc = fail_last();
				goto out;
			}
		}
		for (i = 0; ctl >= 0 && i < n; i++) {
			int r = ioctl(ctl, RPD_EFIFO_QUERY, socks[i].fd);

			if (r < 0) {
				rc = fail("%s (pid %d fd %d): %s", socks[i].name,
					  socks[i].pid, socks[i].fdnum,
					  ioctl_cause(errno));
				goto out;
			}
			reg[i] = r > 0;
		}
	}

	if (opts.json) {
		json_init(&j, stdout, opts.pretty);
		json_object_begin(&j);
		json_kbool(&j, "loaded", st.loaded);
		if (st.loaded) {
			json_kstring(&j, "mode", st.mode);
			json_kuint(&j, "registered", st.registered);
			json_kuint(&j, "exclusive_wakeups", st.wakeups);
			json_kuint(&j, "rotations", st.rotations);
		}
		if (pid > 0) {
			json_key(&j, "sockets");
			json_array_begin(&j);
			for (i = 0; i < n; i++)
				json_socket(&j, &socks[i], reg[i], false);
			json_array_end(&j);
		}
		json_object_end(&j);
		json_finish(&j);
	} else if (!st.loaded) {
		printf(RPD_EFIFO_NAME ": not loaded\n");
	} else {
		printf(RPD_EFIFO_NAME ": loaded, mode %s, %llu socket%s registered\n",
		       st.mode, st.registered, st.registered == 1 ? "" : "s");
		printf("exclusive wakeups %llu, rotations %llu\n", st.wakeups,
		       st.rotations);
	}
	for (i = 0; !opts.json && i < n; i++)
		printf("%s (pid %d fd %d): %s\n", socks[i].name, socks[i].pid,
		       socks[i].fdnum, reg[i] ? "registered" : "not registered");
	rc = EXIT_OK;
out:
	if (ctl >= 0)
		close(ctl);
	free(reg);
	proc_socks_free(socks, n);
	return rc;
}

/*
 * Register or unregister every listener found. All or nothing: if one
 * fails, the ones changed before it are put back.
 */
static int do_change(enum efifo_op op, pid_t pid, const char *listen,
		     const struct sockaddr_storage *match)
{
	unsigned long req = op == OP_ENABLE ? RPD_EFIFO_ADD : RPD_EFIFO_DEL;
	unsigned long undo = op == OP_ENABLE ? RPD_EFIFO_DEL : RPD_EFIFO_ADD;
	int same = op == OP_ENABLE ? EEXIST : ENOENT;
	struct proc_sock *socks = NULL;
	int ctl, rc = EXIT_FAIL;
	bool *changed = NULL;
	size_t i, n = 0;
	struct json j;

	ctl = open_ctl();
	if (ctl < 0)
		return fail_last();
	if (proc_find_listeners(pid, listen, match, &socks, &n)) {
		rc = fail_last();
		goto out;
	}
	changed = calloc(n, sizeof(*changed));
	if (!changed) {
		rc = fail("out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!ioctl(ctl, req, socks[i].fd)) {
			changed[i] = true;
			continue;
		}
		if (errno == same)
			continue;
		set_error("%s (pid %d fd %d): cannot %s FIFO wakeups: %s",
			  socks[i].name, socks[i].pid, socks[i].fdnum,
			  op == OP_ENABLE ? "enable" : "disable",
			  ioctl_cause(errno));
		while (i--)
			if (changed[i])
				ioctl(ctl, undo, socks[i].fd);
		rc = fail_last();
		goto out;
	}

	if (opts.json) {
		json_init(&j, stdout, opts.pretty);
		json_object_begin(&j);
		json_kbool(&j, "ok", true);
		json_key(&j, "sockets");
		json_array_begin(&j);
		for (i = 0; i < n; i++)
			json_socket(&j, &socks[i], op == OP_ENABLE, changed[i]);
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
	}
	for (i = 0; !opts.json && i < n; i++)
		printf("%s (pid %d fd %d): %s%s\n", socks[i].name, socks[i].pid,
		       socks[i].fdnum,
		       changed[i] ? "" : "already ",
		       op == OP_ENABLE ? "registered" : "not registered");
	rc = EXIT_OK;
out:
	close(ctl);
	free(changed);
	proc_socks_free(socks, n);
	return rc;
}

static int do_mode(const char *mode)
{
	struct json j;
	FILE *f;

	if (strcmp(mode, "off") && strcmp(mode, "listed") && strcmp(mode, "all"))
		return fail_usage("invalid mode '%s': use off, listed or all", mode);
	if (!module_loaded())
		return fail(RPD_EFIFO_NAME ": not loaded (insmod rpd_epoll_fifo.ko)");
	f = fopen(RPD_EFIFO_MODE_PARAM, "we");
	if (!f)
		return fail("%s: %s%s", RPD_EFIFO_MODE_PARAM, strerror(errno),
			    root_hint(-errno));
	/* the module refuses with an error at write or at close */
	if (fputs(mode, f) == EOF || fflush(f)) {
		int err = errno;

		fclose(f);
		return fail("%s: cannot set mode %s: %s", RPD_EFIFO_MODE_PARAM,
			    mode, err == EOPNOTSUPP ?
			    "the module could not probe listen() at load" :
			    strerror(err));
	}
	if (fclose(f))
		return fail("%s: cannot set mode %s: %s", RPD_EFIFO_MODE_PARAM,
			    mode, strerror(errno));
	if (opts.json) {
		json_init(&j, stdout, opts.pretty);
		json_object_begin(&j);
		json_kbool(&j, "ok", true);
		json_kstring(&j, "mode", mode);
		json_object_end(&j);
		json_finish(&j);
	} else {
		printf(RPD_EFIFO_NAME ": mode %s\n", mode);
	}
	return EXIT_OK;
}

int cmd_epoll_fifo(const struct cmd *cmd, int argc, char **argv)
{
	const char *pid_arg = NULL, *listen = NULL, *what, *why;
	struct sockaddr_storage match;
	unsigned long pid = 0;
	enum efifo_op op;
	socklen_t len;
	int opt;

	while ((opt = cli_getopt(cmd, argc, argv, efifo_opts)) != -1) {
		if (opt == 'P')
			pid_arg = optarg;
		else if (opt == 'l')
			listen = optarg;
	}
	if (cli_opts_done())
		return EXIT_USAGE;
	if (optind == argc)
		return fail_usage("epoll-fifo: missing what to do (status, enable, disable or mode); see 'rpdctl epoll-fifo help'");
	what = argv[optind];

	if (!strcmp(what, "mode")) {
		if (pid_arg || listen)
			return fail_usage("epoll-fifo mode: takes no --pid or --listen");
		if (argc - optind < 2)
			return fail_usage("epoll-fifo mode: missing MODE (off, listed or all)");
		if (argc - optind > 2)
			return fail_usage("epoll-fifo mode: unexpected argument '%s'",
					  argv[optind + 2]);
		return do_mode(argv[optind + 1]);
	}
	if (!strcmp(what, "status"))
		op = OP_STATUS;
	else if (!strcmp(what, "enable"))
		op = OP_ENABLE;
	else if (!strcmp(what, "disable"))
		op = OP_DISABLE;
	else
		return fail_usage("epoll-fifo: unknown action '%s': use status, enable, disable or mode",
				  what);
	if (argc - optind > 1)
		return fail_usage("epoll-fifo %s: unexpected argument '%s'", what,
				  argv[optind + 1]);
	if (pid_arg && !parse_ulong(pid_arg, 1, INT_MAX, &pid))
		return fail_usage("invalid --pid '%s': use a process id", pid_arg);
	if (op != OP_STATUS && !pid_arg)
		return fail_usage("epoll-fifo %s: missing --pid PID", what);
	if (listen && !pid_arg)
		return fail_usage("epoll-fifo %s: --listen needs --pid", what);
	if (listen && rpdu_parse_addr(listen, &match, &len, &why))
		return fail_usage("invalid --listen '%s': %s", listen, why);

	if (op == OP_STATUS)
		return do_status(pid, listen, listen ? &match : NULL);
	return do_change(op, pid, listen, listen ? &match : NULL);
}
