// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * attach and detach: put the SO_REUSEPORT listeners of a running server
 * that does not link librpd (nginx, HAProxy, Envoy) into a group's slots,
 * and give them back to the kernel's hash.
 *
 * The listeners are taken with pidfd_getfd(): the copy is the server's
 * socket, so inserting it into the socket map and attaching the program
 * to it acts on the server's own reuseport group. The server never reports
 * its load; the slots are marked RPD_SLOT_ATTACHED and the kernel counts
 * the ends of their connections (bpf/rpd.bpf.c).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "json.h"
#include "rpdctl.h"

/* --follow looks again this often: a reload shows within a second. */
#define FOLLOW_INTERVAL_MS	1000

static const struct option attach_opts[] = {
	{ "pid",	required_argument,	NULL, 'P' },
	{ "listen",	required_argument,	NULL, 'l' },
	{ "follow",	no_argument,		NULL, 'f' },
	GLOBAL_LONGOPTS,
	{ NULL }
};

/* One listener of the server, and what attach does with it. */
struct target {
	struct proc_sock *ps;
	__u64 cookie;
	__s64 slot;		/* its slot in the group, -1 until it has one */
	bool added;		/* claimed by this pass */
	bool changed;		/* its worker's pid changed */
	bool librpd;		/* a worker of the group joined it itself */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int sock_cookie(const struct proc_sock *ps, __u64 *cookie)
{
	socklen_t len = sizeof(*cookie);

	if (!getsockopt(ps->fd, SOL_SOCKET, SO_COOKIE, cookie, &len))
		return 0;
	set_error("%s (pid %d fd %d): cannot read its socket cookie: %s",
		  ps->name, ps->pid, ps->fdnum, strerror(errno));
	return -errno;
}

static bool reuseport(const struct proc_sock *ps)
{
	socklen_t len = sizeof(int);
	int on = 0;

	return !getsockopt(ps->fd, SOL_SOCKET, SO_REUSEPORT, &on, &len) && on;
}

/* The slot of group @g holding the socket @cookie, or -1. */
static int find_cookie(const struct group *g, __u64 cookie, __s64 *slot)
{
	__u64 c;
	__u32 k;
	int r;

	*slot = -1;
	for (k = 0; k < g->nr_slots; k++) {
		r = group_slot_cookie(g, k, &c);
		if (r < 0)
			return r;
		if (r && c == cookie) {
			*slot = k;
			return 0;
		}
	}
	return 0;
}

static int group_entry(const struct dirent *d)
{
	return rpdu_group_name_valid(d->d_name) &&
	       (d->d_type == DT_DIR || d->d_type == DT_UNKNOWN);
}

/* Refuses a listener already in a slot of another group: one reuseport
 * group runs one program, and two groups would take it from each other.
 * Groups this rpdctl cannot read are not asked.
 */
static int check_other_groups(const char *name, struct target *t, size_t n)
{
	struct dirent **ents = NULL;
	char root[PATH_MAX];
	int i, nents, err = 0;
	struct group o;
	__s64 slot;
	size_t j;

	if (rpdu_root_dir(root, sizeof(root), opts.bpffs))
		return 0;
	nents = scandir(root, &ents, group_entry, alphasort);
	for (i = 0; i < nents; i++) {
		if (err || !strcmp(ents[i]->d_name, name) ||
		    group_open(&o, ents[i]->d_name))
			continue;
		for (j = 0; !err && j < n; j++) {
			if (find_cookie(&o, t[j].cookie, &slot) || slot < 0)
				continue;
			set_error("%s (pid %d fd %d): its socket is in slot %lld of group '%s'; run 'rpdctl detach %s' first",
				  t[j].ps->name, t[j].ps->pid, t[j].ps->fdnum,
				  (long long)slot, o.name, o.name);
			err = -EBUSY;
		}
		group_close(&o);
	}
	for (i = 0; i < nents; i++)
		free(ents[i]);
	free(ents);
	return err;
}

static int open_pin(const struct group *g, const char *pin)
{
	char path[PATH_MAX];
	int fd;

	if (rpdu_group_path(path, sizeof(path), opts.bpffs, g->name, pin)) {
		set_error("the path of group '%s' under %s is too long",
			  g->name, opts.bpffs);
		return -1;
	}
	fd = bpf_obj_get(path);
	if (fd < 0)
		set_error("cannot open %s: %s%s", path, strerror(errno),
			  root_hint(-errno));
	return fd;
}

/*
 * The group's end tracker runs from its first attached slot on: linked
 * here, before any slot is claimed, so no attached connection ends
 * unseen, and pinned with the owner and mode of the tracker's own pin.
 * Another attach may win the race to the pin; its link does the same.
 */
static int link_tracker(const struct group *g)
{
	char path[PATH_MAX], prog[PATH_MAX];
	struct stat st;
	int prog_fd, link_fd, err;

	if (rpdu_group_path(path, sizeof(path), opts.bpffs, g->name, RPD_PIN_TRACK) ||
	    rpdu_group_path(prog, sizeof(prog), opts.bpffs, g->name, RPD_PIN_TRACKER)) {
		set_error("the path of group '%s' under %s is too long",
			  g->name, opts.bpffs);
		return -ENAMETOOLONG;
	}
	if (!stat(path, &st))
		return 0;
	prog_fd = bpf_obj_get(prog);
	if (prog_fd < 0 || stat(prog, &st)) {
		err = -errno;
		set_error("cannot open %s: %s%s", prog, strerror(-err), root_hint(err));
		if (prog_fd >= 0)
			close(prog_fd);
		return err;
	}
	link_fd = bpf_raw_tracepoint_open(NULL, prog_fd);
	err = link_fd < 0 ? -errno : 0;
	close(prog_fd);
	if (err) {
		set_error("cannot link the end tracker of group '%s' to tp_btf/inet_sock_set_state: %s%s",
			  g->name, strerror(-err), root_hint(err));
		return err;
	}
	err = bpf_obj_pin(link_fd, path);
	if (err == -EEXIST) {
		err = 0;
	} else if (err) {
		set_error("cannot pin %s: %s%s", path, strerror(-err), root_hint(err));
	} else if (chown(path, st.st_uid, st.st_gid) ||
		   chmod(path, st.st_mode & 07777)) {
		err = -errno;
		set_error("cannot give %s the owner and mode of %s: %s", path,
			  prog, strerror(-err));
		unlink(path);
	}
	close(link_fd);
	return err;
}

static int attach_prog(const struct target *t, int prog_fd, const char *name)
{
	int err;

	if (!setsockopt(t->ps->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF,
			&prog_fd, sizeof(prog_fd)))
		return 0;
	err = -errno;
	set_error("%s (pid %d fd %d): cannot attach group '%s': %s%s",
		  t->ps->name, t->ps->pid, t->ps->fdnum, name, strerror(-err),
		  err == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
	return err;
}

/* Gives a slot claimed by this pass back: not live, then empty. */
static void unclaim(const struct group *g, struct rpd_slot *slots,
		    const struct target *t)
{
	__u32 k = t->slot;

	__atomic_store_n(&slots[k].live, 0, __ATOMIC_RELEASE);
	bpf_map_delete_elem(g->fd[GMAP_SOCKS], &k);
}

/* Slots for the listeners that have none; all of them or none. */
static int claim_all(const struct group *g, struct rpd_slot *slots,
		     struct target *t, size_t n, pid_t holder, int prog_fd)
{
	struct rpdu_owner o = { .weight = RPD_WEIGHT_DEFAULT,
				.flags = RPD_SLOT_ATTACHED, .holder = holder };
	__u32 k;
	size_t i;
	int err = 0;

	for (i = 0; !err && i < n; i++) {
		if (t[i].slot >= 0)
			continue;
		/* the program first: until the slot is live it passes
		 * every connection to the kernel's hash
		 */
		err = attach_prog(&t[i], prog_fd, g->name);
		if (err)
			break;
		err = rpdu_slot_claim(g->fd[GMAP_SOCKS], g->nr_slots,
				      t[i].ps->fd, 0, &k);
		if (err == -ENOSPC) {
			set_error("group '%s' is full (%u slots); load it with a larger --max-workers",
				  g->name, g->nr_slots);
			break;
		}
		if (err) {
			set_error("%s (pid %d fd %d): cannot add it to group '%s': %s",
				  t[i].ps->name, t[i].ps->pid, t[i].ps->fdnum,
				  g->name, strerror(-err));
			break;
		}
		t[i].slot = k;
		t[i].added = true;
		o.pid = t[i].ps->worker;
		o.cookie = t[i].cookie;
		o.addr = t[i].ps->addr;
		rpdu_slot_publish(&slots[k], &o);
	}
	if (!err)
		return 0;
	for (i = 0; i < n; i++) {
		if (t[i].added)
			unclaim(g, slots, &t[i]);
		t[i].added = false;
	}
	return err;
}

/* Listeners already attached: their worker may have changed (a reload,
 * a restarted worker), their program may have been detached by hand.
 */
static int refresh(const struct group *g, struct rpd_slot *slots,
		   struct target *t, size_t n, int prog_fd)
{
	struct rpd_slot *s;
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		if (t[i].slot < 0 || t[i].added)
			continue;
		s = &slots[t[i].slot];
		if (!(s->flags & RPD_SLOT_ATTACHED)) {
			t[i].librpd = true;
			continue;
		}
		err = attach_prog(&t[i], prog_fd, g->name);
		if (err)
			return err;
		if (s->pid != (__u32)t[i].ps->worker) {
			__atomic_store_n(&s->pid, t[i].ps->worker, __ATOMIC_RELAXED);
			t[i].changed = true;
		}
	}
	return 0;
}

static void print_attach(const char *name, pid_t pid, const struct target *t,
			 size_t n, bool follow)
{
	struct json j;
	size_t i;

	if (opts.json) {
		json_init(&j, stdout, opts.pretty);
		json_object_begin(&j);
		json_kstring(&j, "group", name);
		json_kbool(&j, "ok", true);
		json_kuint(&j, "pid", pid);
		json_key(&j, "slots");
		json_array_begin(&j);
		for (i = 0; i < n; i++) {
			json_object_begin(&j);
			json_kuint(&j, "slot", t[i].slot);
			json_kstring(&j, "address", t[i].ps->name);
			json_kuint(&j, "pid", t[i].ps->worker);
			json_kuint(&j, "cookie", t[i].cookie);
			json_kbool(&j, "new", t[i].added);
			json_kbool(&j, "librpd", t[i].librpd);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
		return;
	}
	for (i = 0; i < n; i++) {
		if (follow && !t[i].added && !t[i].changed)
			continue;
		printf("group '%s': slot %lld %s socket %llu, worker %d%s\n",
		       name, (long long)t[i].slot, t[i].ps->name,
		       (unsigned long long)t[i].cookie, t[i].ps->worker,
		       t[i].librpd ? " (joined through librpd)" :
		       t[i].added ? "" : t[i].changed ? " (new worker)" :
		       " (already attached)");
	}
	fflush(stdout);
}

/*
 * One look at the server: every reuseport listener of @pid (and below)
 * bound to @match ends up in a slot of the group. Running it again is
 * harmless: listeners already in a slot keep it, and their worker's pid
 * is brought up to date.
 */
static int attach_pass(const char *name, pid_t pid, const char *listen,
		       const struct sockaddr_storage *match, bool follow)
{
	struct proc_sock *socks = NULL;
	struct rpd_slot *slots = NULL;
	struct target *t = NULL;
	size_t i, n = 0, nt = 0, len = 0;
	int prog_fd = -1, rc = EXIT_FAIL;
	bool any = false;
	struct group g;

	if (group_open(&g, name))
		return fail_last();
	if (proc_find_listeners(pid, listen, match, &socks, &n)) {
		rc = fail_last();
		goto cleanup;
	}
	t = calloc(n, sizeof(*t));
	if (!t) {
		rc = fail("out of memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if (!reuseport(&socks[i]))
			continue;
		t[nt].ps = &socks[i];
		if (sock_cookie(&socks[i], &t[nt].cookie) ||
		    find_cookie(&g, t[nt].cookie, &t[nt].slot)) {
			rc = fail_last();
			goto cleanup;
		}
		nt++;
	}
	if (!nt) {
		rc = listen ? fail("process %d: no SO_REUSEPORT listener on %s (nginx: 'listen ... reuseport')",
				   pid, listen) :
			      fail("process %d: no SO_REUSEPORT listener (nginx: 'listen ... reuseport')",
				   pid);
		goto cleanup;
	}
	if (check_other_groups(name, t, nt)) {
		rc = fail_last();
		goto cleanup;
	}
	prog_fd = open_pin(&g, RPD_PIN_PROG);
	if (prog_fd < 0 || link_tracker(&g) || group_slots_map(&g, &slots, &len) ||
	    claim_all(&g, slots, t, nt, pid, prog_fd) ||
	    refresh(&g, slots, t, nt, prog_fd)) {
		rc = fail_last();
		goto cleanup;
	}
	for (i = 0; i < nt; i++)
		any |= t[i].added || t[i].changed;
	if (!follow || any)
		print_attach(name, pid, t, nt, follow);
	rc = EXIT_OK;
cleanup:
	if (slots)
		munmap(slots, len);
	if (prog_fd >= 0)
		close(prog_fd);
	free(t);
	proc_socks_free(socks, n);
	group_close(&g);
	return rc;
}

static void follow_sleep(void)
{
	struct timespec ts = {
		.tv_sec = FOLLOW_INTERVAL_MS / 1000,
		.tv_nsec = (FOLLOW_INTERVAL_MS % 1000) * 1000000L,
	};

	while (!stop && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Attach, then look again every second until the server exits or a
 * signal comes: listeners that appear (a reload with a changed listen
 * directive) get slots, and each slot's worker pid follows its
 * restarts.
 */
static int attach_follow(const char *name, pid_t pid, const char *listen,
			 const struct sockaddr_storage *match)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int rc;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = attach_pass(name, pid, listen, match, false);
	while (rc == EXIT_OK && !stop) {
		follow_sleep();
		if (stop)
			break;
		if (kill(pid, 0) && errno == ESRCH)
			break;
		rc = attach_pass(name, pid, listen, match, true);
	}
	return rc;
}

int cmd_attach(const struct cmd *cmd, int argc, char **argv)
{
	const char *pid_arg = NULL, *listen = NULL, *why;
	struct sockaddr_storage match;
	unsigned long pid;
	bool follow = false;
	socklen_t len;
	int opt;

	while ((opt = cli_getopt(cmd, argc, argv, attach_opts)) != -1) {
		if (opt == 'P')
			pid_arg = optarg;
		else if (opt == 'l')
			listen = optarg;
		else if (opt == 'f')
			follow = true;
	}
	if (cli_opts_done())
		return EXIT_USAGE;
	if (!cli_group_operand(cmd, argc, argv))
		return EXIT_USAGE;
	if (!pid_arg)
		return fail_usage("attach: missing --pid PID");
	if (!parse_ulong(pid_arg, 1, INT_MAX, &pid))
		return fail_usage("invalid --pid '%s': use a process id", pid_arg);
	if (listen && rpdu_parse_addr(listen, &match, &len, &why))
		return fail_usage("invalid --listen '%s': %s", listen, why);
	if (bpffs_ready())
		return fail_last();
	if (follow)
		return attach_follow(argv[optind], pid, listen,
				     listen ? &match : NULL);
	return attach_pass(argv[optind], pid, listen, listen ? &match : NULL,
			   false);
}

/* --- detach --------------------------------------------------------------- */

struct detached {
	__u32 slot;
	char addr[64];
	__u64 cookie;
	bool unhooked;		/* the program left its reuseport group */
};

/* Takes the program off the reuseport group of the listener @cookie,
 * found among the sockets of @pid (and below): true if it did.
 */
static bool unhook(pid_t pid, __u64 cookie)
{
	struct proc_sock *socks = NULL;
	bool done = false;
	size_t i, n = 0;
	int zero = 0;
	__u64 c;

	if (!pid || proc_listeners(pid, NULL, &socks, &n))
		return false;
	for (i = 0; i < n && !done; i++) {
		if (sock_cookie(&socks[i], &c) || c != cookie)
			continue;
		/* ENOENT: it has no program any more, which is the aim */
		done = !setsockopt(socks[i].fd, SOL_SOCKET,
				   SO_DETACH_REUSEPORT_BPF, &zero, sizeof(zero)) ||
		       errno == ENOENT;
	}
	proc_socks_free(socks, n);
	return done;
}

static void print_detach(const char *name, const struct detached *d, size_t n)
{
	struct json j;
	size_t i;

	if (opts.json) {
		json_init(&j, stdout, opts.pretty);
		json_object_begin(&j);
		json_kstring(&j, "group", name);
		json_kbool(&j, "ok", true);
		json_key(&j, "slots");
		json_array_begin(&j);
		for (i = 0; i < n; i++) {
			json_object_begin(&j);
			json_kuint(&j, "slot", d[i].slot);
			json_kstring(&j, "address", d[i].addr);
			json_kuint(&j, "cookie", d[i].cookie);
			json_kbool(&j, "unhooked", d[i].unhooked);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
		return;
	}
	for (i = 0; i < n; i++)
		printf("group '%s': slot %u %s socket %llu emptied%s\n", name,
		       d[i].slot, d[i].addr, (unsigned long long)d[i].cookie,
		       d[i].unhooked ? ", program detached" :
		       "; its server is gone from view, the program stays on its reuseport group and passes every connection to the kernel's hash");
}

/*
 * The program leaves the reuseport group of every attached listener
 * (SO_DETACH_REUSEPORT_BPF, through a copy of the listener taken again
 * from the process that was attached, or its worker), then the slots are
 * emptied. librpd workers' slots are left alone.
 */
static int detach(const char *name)
{
	struct rpd_slot *slots = NULL;
	struct slot_row *rows = NULL;
	struct detached *d = NULL;
	__u32 i, nrows = 0, k;
	int rc = EXIT_FAIL;
	size_t n = 0, len = 0;
	struct group g;

	if (group_open(&g, name))
		return fail_last();
	if (group_read_in_use(&g, &rows, &nrows) ||
	    group_slots_map(&g, &slots, &len)) {
		rc = fail_last();
		goto cleanup;
	}
	d = calloc(nrows ? nrows : 1, sizeof(*d));
	if (!d) {
		rc = fail("out of memory");
		goto cleanup;
	}
	for (i = 0; i < nrows; i++) {
		if (!(rows[i].s.flags & RPD_SLOT_ATTACHED))
			continue;
		d[n].slot = rows[i].slot;
		d[n].cookie = rows[i].s.cookie;
		snprintf(d[n].addr, sizeof(d[n].addr), "%s", rows[i].addr);
		d[n].unhooked = unhook(rows[i].s.holder, rows[i].s.cookie) ||
				unhook(rows[i].s.pid, rows[i].s.cookie);
		n++;
	}
	if (!n) {
		rc = fail("group '%s' has no attached slot; see 'rpdctl show %s'",
			  name, name);
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		k = d[i].slot;
		__atomic_store_n(&slots[k].live, 0, __ATOMIC_RELEASE);
		if (bpf_map_delete_elem(g.fd[GMAP_SOCKS], &k) && errno != ENOENT) {
			rc = fail("cannot empty slot %u of group '%s': %s", k,
				  name, strerror(errno));
			goto cleanup;
		}
	}
	print_detach(name, d, n);
	rc = EXIT_OK;
cleanup:
	if (slots)
		munmap(slots, len);
	free(d);
	free(rows);
	group_close(&g);
	return rc;
}

int cmd_detach(const struct cmd *cmd, int argc, char **argv)
{
	if (cli_no_options(cmd, argc, argv))
		return EXIT_USAGE;
	if (!cli_group_operand(cmd, argc, argv))
		return EXIT_USAGE;
	if (bpffs_ready())
		return fail_last();
	return detach(argv[optind]);
}
