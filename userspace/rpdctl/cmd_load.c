// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * load and unload: the only commands that create or remove pins.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "json.h"
#include "rpd.skel.h"
#include "rpdctl.h"

static const struct option load_opts[] = {
	{ "policy",	 required_argument, NULL, 'P' },
	{ "max-workers", required_argument, NULL, 'n' },
	GLOBAL_LONGOPTS,
	{ NULL }
};

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

static int pin_all(struct rpd *skel, const char *dir)
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
		{ RPD_PIN_TRACK,    bpf_link__fd(skel->links.rpd_conn_end) },
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
		if (chmod(path, 0600)) {
			err = -errno;
			set_error("cannot chmod %s: %s", path, strerror(-err));
			return err;
		}
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

/* open -> size the per-slot maps and the program's bound -> load -> fill */
static int load_skel(const char *name, __u32 policy, __u32 nr_slots,
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
	err = bpf_map__set_max_entries(skel->maps.socks, nr_slots);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.slots, nr_slots);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.selected, nr_slots);
	if (err) {
		set_error("cannot size the maps of group '%s': %s", name,
			  strerror(-err));
		goto cleanup;
	}
	skel->rodata->nr_slots = nr_slots;
	err = rpd__load(skel);
	if (err == -EPERM || err == -EACCES) {
		set_error("loading group '%s' needs CAP_BPF and CAP_NET_ADMIN (run as root)",
			  name);
		goto cleanup;
	}
	if (err) {
		set_error("loading group '%s' failed: %s; rerun with -d for libbpf's and the verifier's log",
			  name, strerror(-err));
		goto cleanup;
	}
	err = init_maps(skel, name, policy, nr_slots);
	if (err)
		goto cleanup;
	/* Counting the ends of attached slots' connections starts with the
	 * group, so a slot is never attached before its ends are seen.
	 */
	skel->links.rpd_conn_end = bpf_program__attach(skel->progs.rpd_conn_end);
	if (!skel->links.rpd_conn_end) {
		err = -errno;
		set_error("cannot attach the connection counter of group '%s' to tp_btf/inet_sock_set_state: %s%s",
			  name, strerror(-err),
			  err == -ENOENT || err == -ESRCH ? " (the kernel has no BTF?)" : "");
	}
cleanup:
	if (err)
		rpd__destroy(skel);
	else
		*out = skel;
	return err;
}

/*
 * Pin into a temporary directory and rename it into place: workers see
 * the whole group or none of it. Signals wait until it is done, so none
 * can strand a half group or the temporary directory. Its name has a '~',
 * never in a group's name, and no '.', which bpffs refuses.
 */
static int install(struct rpd *skel, const char *name, const char *root,
		   const char *dir)
{
	bool made_root = false, made_tmp = false;
	char tmp[PATH_MAX];
	sigset_t block, old;
	int err;

	if (snprintf(tmp, sizeof(tmp), "%s/%s~loading~%d", root, name,
		     (int)getpid()) >= (int)sizeof(tmp)) {
		set_error("the path of group '%s' under %s is too long",
			  name, opts.bpffs);
		return -ENAMETOOLONG;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &old);

	if (!mkdir(root, 0700)) {
		made_root = true;
	} else if (errno != EEXIST) {
		err = -errno;
		set_error("cannot create %s: %s%s", root, strerror(-err),
			  root_hint(err));
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
	if (chmod(tmp, 0700)) {
		err = -errno;
		set_error("cannot chmod %s: %s", tmp, strerror(-err));
		goto cleanup;
	}
	err = pin_all(skel, tmp);
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

static int load_group(const char *name, __u32 policy, __u32 nr_slots)
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
	if (load_skel(name, policy, nr_slots, &skel) || prog_id(skel, &id) ||
	    install(skel, name, root, dir)) {
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
	const char *policy_arg = NULL, *nr_arg = NULL;
	__u32 policy = RPD_POLICY_LEAST_CONN;
	unsigned long nr = RPD_DEFAULT_SLOTS;
	int opt;

	/* values are checked once every option is read: see cli_opts_done() */
	while ((opt = cli_getopt(cmd, argc, argv, load_opts)) != -1) {
		if (opt == 'P')
			policy_arg = optarg;
		else
			nr_arg = optarg;
	}
	if (cli_opts_done())
		return EXIT_USAGE;
	if (policy_arg && parse_policy(policy_arg, &policy))
		return EXIT_USAGE;
	if (nr_arg && !parse_ulong(nr_arg, 1, RPD_MAX_SLOTS, &nr))
		return fail_usage("invalid --max-workers '%s': use 1-%d",
				  nr_arg, RPD_MAX_SLOTS);
	if (optind == argc)
		return fail_usage("load: missing GROUP; see 'rpdctl load help'");
	if (argc - optind > 1)
		return fail_usage("load: unexpected argument '%s'; see 'rpdctl load help'",
				  argv[optind + 1]);
	if (parse_group(argv[optind]))
		return EXIT_USAGE;
	return load_group(argv[optind], policy, nr);
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
	if (optind == argc)
		return fail_usage("unload: missing GROUP; see 'rpdctl unload help'");
	if (argc - optind > 1)
		return fail_usage("unload: unexpected argument '%s'; see 'rpdctl unload help'",
				  argv[optind + 1]);
	name = argv[optind];
	if (parse_group(name))
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
