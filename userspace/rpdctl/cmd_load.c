// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * load, unload and upgrade: the only commands that create, remove or
 * replace pins.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "json.h"
#include "rpd.skel.h"
#include "rpdctl.h"

static const struct option load_opts[] = {
	{ "policy",	 required_argument, NULL, 'P' },
	{ "max-workers", required_argument, NULL, 'n' },
	{ "owner",	 required_argument, NULL, 'o' },
	{ "mode",	 required_argument, NULL, 'm' },
	GLOBAL_LONGOPTS,
	{ NULL }
};

/*
 * Who may open the pins. Root only (0600) by default; --owner and --mode
 * hand them to a service account. The group's directory gets the same
 * owner and a search bit for each class the mode lets in; BPFFS/rpd,
 * shared by every group and owned by root, then gets o+x, which lets one
 * walk through it but not list it: each pin keeps its own mode.
 */
struct access {
	uid_t uid;		/* (uid_t)-1: the caller */
	gid_t gid;
	mode_t mode;
};

static mode_t search_bits(mode_t mode)
{
	return ((mode & 0060) ? 0010 : 0) | ((mode & 0006) ? 0001 : 0);
}

static bool widened(const struct access *acc)
{
	return acc->uid != (uid_t)-1 || acc->gid != (gid_t)-1 || search_bits(acc->mode);
}

/* Config and weights are written before the pins exist, so no worker and
 * no dispatcher run can see a half-initialized group.
 */
static int init_maps(struct rpd *skel, const char *name, __u32 policy,
		     __u32 nr_slots)
{
	struct rpd_config cfg = {
		.abi_version = RPD_ABI_VERSION,
		.policy = policy,
		.nr_slots = nr_slots,
	};
	struct rpd_slot slot = { .weight = RPD_WEIGHT_DEFAULT };
	__u32 k = 0;
	int err;

	err = bpf_map_update_elem(bpf_map__fd(skel->maps.config), &k, &cfg,
				  BPF_ANY);
	for (k = 0; !err && k < nr_slots; k++)
		err = bpf_map_update_elem(bpf_map__fd(skel->maps.slots), &k,
					  &slot, BPF_ANY);
	if (err)
		set_error("cannot initialize the maps of group '%s': %s",
			  name, strerror(-err));
	return err;
}

/* chown, then chmod: chown() may clear bits chmod() set */
static int set_access(const char *path, const struct access *acc, mode_t mode)
{
	if (chown(path, acc->uid, acc->gid)) {
		set_error("cannot chown %s to %u:%u: %s", path,
			  (unsigned int)acc->uid, (unsigned int)acc->gid,
			  strerror(errno));
		return -errno;
	}
	if (chmod(path, mode)) {
		set_error("cannot chmod %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int pin_all(struct rpd *skel, const char *dir, const struct access *acc)
{
	const struct {
		const char *pin;
		int fd;
	} objs[] = {
		{ RPD_PIN_PROG,	    bpf_program__fd(skel->progs.rpd_dispatch) },
		{ RPD_PIN_SOCKS,    bpf_map__fd(skel->maps.socks) },
		{ RPD_PIN_SLOTS,    bpf_map__fd(skel->maps.slots) },
		{ RPD_PIN_CONFIG,   bpf_map__fd(skel->maps.config) },
		{ RPD_PIN_COUNTERS, bpf_map__fd(skel->maps.counters) },
		{ RPD_PIN_SELECTED, bpf_map__fd(skel->maps.selected) },
		{ RPD_PIN_CONNS,    bpf_map__fd(skel->maps.conns) },
		{ RPD_PIN_TRACKER,  bpf_program__fd(skel->progs.rpd_conn_end) },
	};
	char path[PATH_MAX];
	size_t i;
	int err;

	for (i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, objs[i].pin) >=
		    (int)sizeof(path)) {
			set_error("the path %s/%s is too long", dir, objs[i].pin);
			return -ENAMETOOLONG;
		}
		err = bpf_obj_pin(objs[i].fd, path);
		if (err) {
			set_error("cannot pin %s: %s%s", path, strerror(-err),
				  root_hint(err));
			return err;
		}
		/* the pin's mode otherwise depends on the caller's umask */
		err = set_access(path, acc, acc->mode);
		if (err)
			return err;
	}
	return 0;
}

static int prog_id(struct rpd *skel, __u32 *id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int err;

	err = bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.rpd_dispatch),
				     &info, &len);
	if (err) {
		set_error("cannot read the id of the loaded program: %s",
			  strerror(-err));
		return err;
	}
	*id = info.id;
	return 0;
}

static void print_loaded(const char *name, const char *dir, __u32 policy,
			 __u32 nr_slots, __u32 id)
{
	struct json j;

	if (!opts.json) {
		printf("group '%s' loaded: policy %s, %u slots, prog id %u, pinned at %s\n",
		       name, rpdu_policy_name(policy), nr_slots, id, dir);
		return;
	}
	json_init(&j, stdout, opts.pretty);
	json_object_begin(&j);
	json_kstring(&j, "group", name);
	json_kbool(&j, "ok", true);
	json_kstring(&j, "policy", rpdu_policy_name(policy));
	json_kuint(&j, "nr_slots", nr_slots);
	json_kuint(&j, "prog_id", id);
	json_kstring(&j, "path", dir);
	json_object_end(&j);
	json_finish(&j);
}

/* The dispatcher records attached connections in the map the pinned
 * tp_btf program reads at their end: the new program must share it.
 */
static int reuse_conns(struct rpd *skel, const char *name)
{
	char path[PATH_MAX];
	int fd, err;

	err = rpdu_group_path(path, sizeof(path), opts.bpffs, name, RPD_PIN_CONNS);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	err = bpf_map__reuse_fd(skel->maps.conns, fd);
	close(fd);
	return err;
}

/* Open the dispatcher; with @reuse, bound to that group's pinned maps, so
 * the loaded program serves the very same slots and counters.
 */
static int open_skel(const char *name, __u32 nr_slots, const struct group *reuse,
		     struct rpd **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts,
		    /* a verbose log from the first try, so -d shows it even
		     * when the verifier accepts the program
		     */
		    .kernel_log_level = opts.debug ? 1 : 0);
	struct rpd *skel;
	int err;

	skel = rpd__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		set_error("cannot open the dispatcher of group '%s': %s",
			  name, strerror(-err));
		return err;
	}
	if (reuse) {
		err = bpf_map__reuse_fd(skel->maps.socks, reuse->fd[GMAP_SOCKS]);
		if (!err)
			err = bpf_map__reuse_fd(skel->maps.slots, reuse->fd[GMAP_SLOTS]);
		if (!err)
			err = bpf_map__reuse_fd(skel->maps.config, reuse->fd[GMAP_CONFIG]);
		if (!err)
			err = bpf_map__reuse_fd(skel->maps.counters, reuse->fd[GMAP_COUNTERS]);
		if (!err)
			err = bpf_map__reuse_fd(skel->maps.selected, reuse->fd[GMAP_SELECTED]);
		/* the group's tracker, which stays, credits ends from this map */
		if (!err)
			err = reuse_conns(skel, name);
	} else {
		err = bpf_map__set_max_entries(skel->maps.socks, nr_slots);
		if (!err)
			err = bpf_map__set_max_entries(skel->maps.slots, nr_slots);
		if (!err)
			err = bpf_map__set_max_entries(skel->maps.selected, nr_slots);
	}
	if (err) {
		set_error("cannot %s the maps of group '%s': %s",
			  reuse ? "reuse" : "size", name, strerror(-err));
		rpd__destroy(skel);
		return err;
	}
	skel->rodata->nr_slots = nr_slots;
	*out = skel;
	return 0;
}

static int load_prog(struct rpd *skel, const char *name)
{
	int err = rpd__load(skel);

	if (err == -EPERM || err == -EACCES)
		set_error("loading group '%s' needs CAP_BPF (run as root)", name);
	else if (err)
		set_error("loading group '%s' failed: %s; rerun with -d for libbpf's and the verifier's log",
			  name, strerror(-err));
	return err;
}

/* open -> size the per-slot maps and the program's bound -> load -> fill.
 * The end tracker is loaded (so a kernel without BTF fails here) but not
 * linked: 'rpdctl attach' links it, as only attached slots need it, and
 * it runs on every TCP state change of the host.
 */
static int load_skel(const char *name, __u32 policy, __u32 nr_slots,
		     struct rpd **out)
{
	struct rpd *skel;
	int err;

	err = open_skel(name, nr_slots, NULL, &skel);
	if (err)
		return err;
	err = load_prog(skel, name);
	if (!err)
		err = init_maps(skel, name, policy, nr_slots);
	if (err)
		rpd__destroy(skel);
	else
		*out = skel;
	return err;
}

/* Hold off the signals that end rpdctl (all but SIGKILL's kind) until
 * sigprocmask(SIG_SETMASK, @old): pins and their renames go together.
 */
static void hold_signals(sigset_t *old)
{
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, old);
}

/*
 * Pin into a temporary directory and rename it into place: workers see
 * the whole group or none of it. Signals wait until it is done, so none
 * can strand a half group or the temporary directory. Its name has a '~',
 * never in a group's name, and no '.', which bpffs refuses.
 */
static int install(struct rpd *skel, const char *name, const char *root,
		   const char *dir, const struct access *acc)
{
	struct stat st;
	bool made_root = false, made_tmp = false;
	char tmp[PATH_MAX];
	sigset_t old;
	int err;

	if (snprintf(tmp, sizeof(tmp), "%s/%s~loading~%d", root, name,
		     (int)getpid()) >= (int)sizeof(tmp)) {
		set_error("the path of group '%s' under %s is too long",
			  name, opts.bpffs);
		return -ENAMETOOLONG;
	}
	hold_signals(&old);

	if (!mkdir(root, 0700)) {
		made_root = true;
	} else if (errno != EEXIST) {
		err = -errno;
		set_error("cannot create %s: %s%s", root, strerror(-err),
			  root_hint(err));
		goto cleanup;
	}
	/* a service account must be able to walk down to its pins */
	if (widened(acc) && (stat(root, &st) || chmod(root, (st.st_mode & 07777) | 0001))) {
		err = -errno;
		set_error("cannot open %s to the pins' owner: %s", root, strerror(-err));
		goto cleanup;
	}
	if (mkdir(tmp, 0700)) {
		err = -errno;
		set_error("cannot create %s: %s%s", tmp, strerror(-err),
			  root_hint(err));
		goto cleanup;
	}
	made_tmp = true;
	/* modes of our own, whatever the caller's umask */
	err = set_access(tmp, acc, 0700 | search_bits(acc->mode));
	if (err)
		goto cleanup;
	err = pin_all(skel, tmp, acc);
	if (err)
		goto cleanup;
	if (rename(tmp, dir)) {
		err = -errno;
		if (err == -EEXIST || err == -ENOTEMPTY)
			set_error("group '%s' is already loaded (%s); run 'rpdctl unload %s' first",
				  name, dir, name);
		else
			set_error("cannot move %s to %s: %s", tmp, dir,
				  strerror(-err));
		goto cleanup;
	}
	made_tmp = false;
cleanup:
	if (made_tmp) {
		char why[ERRMSG_MAX], also[ERRMSG_MAX];

		/* the failure stays the message; a failed cleanup joins it */
		snprintf(why, sizeof(why), "%s", last_error());
		if (group_dir_remove(tmp)) {
			snprintf(also, sizeof(also), "%s", last_error());
			set_error("%s; and cleaning up failed: %s", why, also);
		} else {
			set_error("%s", why);
		}
	}
	/* fails, as it should, once another group lives there */
	if (err && made_root)
		rmdir(root);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return err;
}

/*
 * A load killed by SIGKILL (the one signal install() cannot hold off)
 * between its pins and their rename leaves NAME~loading~PID behind. A
 * later load of NAME removes those whose process is gone; one whose
 * process lives may be a load in progress and is left alone.
 */
static int remove_stale(const char *root, const char *name)
{
	char prefix[RPD_GROUP_NAME_MAX + 16], path[PATH_MAX], *end;
	size_t plen = snprintf(prefix, sizeof(prefix), "%s~loading~", name);
	struct dirent *e;
	unsigned long pid;
	int err = 0;
	DIR *d;

	d = opendir(root);
	if (!d)
		return 0;
	while (!err && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, plen))
			continue;
		errno = 0;
		pid = strtoul(e->d_name + plen, &end, 10);
		if (*end || errno || !pid || pid > INT_MAX ||
		    !kill((pid_t)pid, 0) || errno != ESRCH)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", root, e->d_name) >= (int)sizeof(path))
			continue;
		err = group_dir_remove(path);
		if (!err)
			fprintf(stderr, "rpdctl: removed %s, left by a load that was killed\n", path);
	}
	closedir(d);
	return err;
}

static int load_group(const char *name, __u32 policy, __u32 nr_slots,
		      const struct access *acc)
{
	char root[PATH_MAX], dir[PATH_MAX];
	struct rpd *skel = NULL;
	int rc = EXIT_FAIL;
	struct stat st;
	__u32 id;
	int err;

	if (bpffs_ready()) {
		rc = fail_last();
		goto cleanup;
	}
	if (rpdu_root_dir(root, sizeof(root), opts.bpffs) ||
	    group_dir(dir, sizeof(dir), name)) {
		rc = fail("the path of group '%s' under %s is too long",
			  name, opts.bpffs);
		goto cleanup;
	}
	/* Checked first for a clear message before any work; rename() in
	 * install() still refuses if another load wins the race.
	 */
	if (!lstat(dir, &st)) {
		rc = fail("group '%s' is already loaded (%s); run 'rpdctl unload %s' first",
			  name, dir, name);
		goto cleanup;
	}
	if (errno != ENOENT) {
		err = -errno;
		rc = fail("cannot read %s: %s%s", dir, strerror(-err),
			  root_hint(err));
		goto cleanup;
	}
	if (remove_stale(root, name) ||
	    load_skel(name, policy, nr_slots, &skel) || prog_id(skel, &id) ||
	    install(skel, name, root, dir, acc)) {
		rc = fail_last();
		goto cleanup;
	}
	print_loaded(name, dir, policy, nr_slots, id);
	rc = EXIT_OK;
cleanup:
	rpd__destroy(skel);
	return rc;
}

int cmd_load(const struct cmd *cmd, int argc, char **argv)
{
	const char *policy_arg = NULL, *nr_arg = NULL, *owner_arg = NULL, *mode_arg = NULL;
	/* -1: chown() leaves the owner as created, the caller */
	struct access acc = { .uid = (uid_t)-1, .gid = (gid_t)-1, .mode = 0600 };
	unsigned long mode;
	const char *why;
	char *end;
	__u32 policy = RPD_POLICY_LEAST_CONN;
	unsigned long nr = RPD_DEFAULT_SLOTS;
	int opt;

	/* values are checked once every option is read: see cli_opts_done() */
	while ((opt = cli_getopt(cmd, argc, argv, load_opts)) != -1) {
		if (opt == 'P')
			policy_arg = optarg;
		else if (opt == 'n')
			nr_arg = optarg;
		else if (opt == 'o')
			owner_arg = optarg;
		else
			mode_arg = optarg;
	}
	if (cli_opts_done())
		return EXIT_USAGE;
	if (policy_arg && parse_policy(policy_arg, &policy))
		return EXIT_USAGE;
	if (nr_arg && !parse_ulong(nr_arg, 1, RPD_MAX_SLOTS, &nr))
		return fail_usage("invalid --max-workers '%s': use 1-%d",
				  nr_arg, RPD_MAX_SLOTS);
	if (owner_arg && rpdu_parse_owner(owner_arg, &acc.uid, &acc.gid, &why))
		return fail_usage("invalid --owner '%s': %s", owner_arg, why);
	if (mode_arg) {
		/* read and write bits only: a pin is not run or searched */
		errno = 0;
		mode = strtoul(mode_arg, &end, 8);
		if (!mode_arg[0] || *end || errno || mode_arg[0] == '-' ||
		    (mode & ~0666UL) || (mode & 0600) != 0600)
			return fail_usage("invalid --mode '%s': use octal read/write bits, 0600 at least, e.g. 0660",
					  mode_arg);
		acc.mode = mode;
	}
	if (!cli_group_operand(cmd, argc, argv))
		return EXIT_USAGE;
	return load_group(argv[optind], policy, nr, &acc);
}

int cmd_unload(const struct cmd *cmd, int argc, char **argv)
{
	const char *name;
	char dir[PATH_MAX];
	struct stat st;
	struct json j;
	int err;

	if (cli_no_options(cmd, argc, argv))
		return EXIT_USAGE;
	name = cli_group_operand(cmd, argc, argv);
	if (!name)
		return EXIT_USAGE;
	if (bpffs_ready() || group_dir(dir, sizeof(dir), name))
		return fail_last();
	if (lstat(dir, &st)) {
		err = -errno;
		if (err == -ENOENT)
			return fail("group '%s' is not loaded (no %s)", name, dir);
		return fail("cannot read %s: %s%s", dir, strerror(-err),
			    root_hint(err));
	}
	/* Any ABI: unloading is how a group of another rpd goes away. */
	if (group_dir_remove(dir))
		return fail_last();

	if (!opts.json) {
		printf("group '%s' unloaded; workers still serving keep their dispatcher\n",
		       name);
		return EXIT_OK;
	}
	json_init(&j, stdout, opts.pretty);
	json_object_begin(&j);
	json_kstring(&j, "group", name);
	json_kbool(&j, "ok", true);
	json_object_end(&j);
	json_finish(&j);
	return EXIT_OK;
}

/* --- upgrade ------------------------------------------------------------- */

static bool same_address(const struct rpd_slot *a, const struct rpd_slot *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

/*
 * Attaching on any member replaces the program of the member's whole
 * kernel reuseport group, so one listener per address is enough. rpdctl
 * holds none: it takes the slot owner's own listener with pidfd_getfd()
 * (CAP_SYS_PTRACE over the owner), the one whose SO_COOKIE the slot
 * recorded.
 */
static int attach_row(const struct slot_row *row, int prog_fd)
{
	struct proc_sock *socks;
	socklen_t len;
	__u64 cookie;
	size_t n, i;
	int err;

	err = proc_listeners(row->s.pid, NULL, &socks, &n);
	if (err)
		return err;
	err = -ESRCH;
	for (i = 0; i < n; i++) {
		len = sizeof(cookie);
		if (getsockopt(socks[i].fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) ||
		    cookie != row->s.cookie)
			continue;
		err = setsockopt(socks[i].fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF,
				 &prog_fd, sizeof(prog_fd)) ? -errno : 0;
		if (err)
			set_error("cannot attach the new program to %s (slot %u, pid %u): %s",
				  row->addr, row->slot, row->s.pid, strerror(-err));
		break;
	}
	if (err == -ESRCH)
		set_error("the listener of slot %u (%s) is no longer held by pid %u",
			  row->slot, row->addr, row->s.pid);
	proc_socks_free(socks, n);
	return err;
}

/* Every address the group serves gets the program; 0 or -errno. */
static int attach_all(const struct group *g, int prog_fd, __u32 *naddr)
{
	struct slot_row *rows;
	__u32 n, i, j;
	int err;

	*naddr = 0;
	err = group_read_in_use(g, &rows, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (same_address(&rows[i].s, &rows[j].s))
				break;
		if (j < i)
			continue;
		err = attach_row(&rows[i], prog_fd);
		/* a worker that exited in between takes its group along or
		 * leaves others of its address: look at the next slot
		 */
		if (err == -ESRCH)
			continue;
		if (err)
			break;
		(*naddr)++;
	}
	free(rows);
	return err == -ESRCH ? 0 : err;
}

static void print_upgraded(const char *name, __u32 id, __u32 naddr)
{
	struct json j;

	if (!opts.json) {
		printf("group '%s' upgraded: prog id %u, attached on %u address%s\n",
		       name, id, naddr, naddr == 1 ? "" : "es");
		return;
	}
	json_init(&j, stdout, opts.pretty);
	json_object_begin(&j);
	json_kstring(&j, "group", name);
	json_kbool(&j, "ok", true);
	json_kuint(&j, "prog_id", id);
	json_kuint(&j, "addresses", naddr);
	json_object_end(&j);
	json_finish(&j);
}

/* Pin @fd as DIR/PIN~upgrading~PID, then rename it over DIR/PIN: a worker
 * opening the pin gets the old object or the new one, never none. The new
 * pin gets the old one's owner and mode (those of 'slots' if there was
 * none), which 'load --owner/--mode' set for the whole group.
 */
static int repin(int fd, const char *dir, const char *pin, const char *group)
{
	char tmp[PATH_MAX], path[PATH_MAX], like[PATH_MAX];
	struct access acc;
	struct stat st;
	int err;

	if (snprintf(path, sizeof(path), "%s/%s", dir, pin) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s~upgrading~%d", path, (int)getpid()) >=
	    (int)sizeof(tmp)) {
		set_error("the path of group '%s' under %s is too long", group,
			  opts.bpffs);
		return -ENAMETOOLONG;
	}
	snprintf(like, sizeof(like), "%s/%s", dir, RPD_PIN_SLOTS);
	if (stat(path, &st) && stat(like, &st)) {
		err = -errno;
		set_error("cannot read %s: %s%s", like, strerror(-err), root_hint(err));
		return err;
	}
	acc.uid = st.st_uid;
	acc.gid = st.st_gid;
	acc.mode = st.st_mode & 07777;
	err = bpf_obj_pin(fd, tmp);
	if (err) {
		set_error("cannot pin %s: %s%s", tmp, strerror(-err), root_hint(err));
		return err;
	}
	err = set_access(tmp, &acc, acc.mode);
	if (!err && rename(tmp, path)) {
		err = -errno;
		set_error("cannot move %s to %s: %s", tmp, path, strerror(-err));
	}
	if (err)
		unlink(tmp);
	return err;
}

/*
 * Load this rpdctl's dispatcher against the group's pinned maps (slots,
 * counters, policy and weights carry over), attach it to every address
 * the group serves, then rename its pin over the old one, so a worker
 * that joins later attaches the new program too. The end tracker's pin
 * is replaced the same way for the next first attach; a tracker already
 * linked keeps running, reading the same conns map.
 */
int cmd_upgrade(const struct cmd *cmd, int argc, char **argv)
{
	struct rpd *skel = NULL;
	const char *name;
	__u32 id, naddr = 0;
	sigset_t old;
	struct group g;
	int rc, err;

	if (cli_no_options(cmd, argc, argv))
		return EXIT_USAGE;
	name = cli_group_operand(cmd, argc, argv);
	if (!name)
		return EXIT_USAGE;
	if (bpffs_ready() || group_open(&g, name))
		return fail_last();
	err = open_skel(name, g.nr_slots, &g, &skel);
	if (!err)
		err = load_prog(skel, name);
	if (!err)
		err = prog_id(skel, &id);
	if (!err)
		err = attach_all(&g, bpf_program__fd(skel->progs.rpd_dispatch), &naddr);
	if (err) {
		rc = fail_last();
		goto cleanup;
	}
	/* as in install(): no signal between a pin and its rename */
	hold_signals(&old);
	err = repin(bpf_program__fd(skel->progs.rpd_dispatch), g.dir, RPD_PIN_PROG, name);
	if (!err)
		err = repin(bpf_program__fd(skel->progs.rpd_conn_end), g.dir,
			    RPD_PIN_TRACKER, name);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (err) {
		rc = fail_last();
		goto cleanup;
	}
	print_upgraded(name, id, naddr);
	rc = EXIT_OK;
cleanup:
	rpd__destroy(skel);
	group_close(&g);
	return rc;
}
