// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * show: the loaded groups, and the workers in one group's slots.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rpdctl.h"

/* One group as listed; everything is read before anything is printed, so
 * a failure never cuts a table or a JSON document short.
 */
struct view {
	const char *name;
	char *error;		/* why a listed group cannot be read */
	__u32 policy;
	__u32 nr_slots;
	struct slot_row *rows;
	__u32 n;
};

static int view_read(struct view *v, const char *name)
{
	struct group g;
	int err;

	v->name = name;
	err = group_open(&g, name);
	if (err)
		return err;
	v->policy = g.cfg.policy;
	v->nr_slots = g.nr_slots;
	err = group_read_in_use(&g, &v->rows, &v->n);
	group_close(&g);
	return err;
}

static void print_text(const struct view *v, size_t nv, bool slots)
{
	int w = (int)strlen("GROUP");
	size_t i;
	__u32 k;

	for (i = 0; i < nv; i++)
		if ((int)strlen(v[i].name) > w)
			w = strlen(v[i].name);
	printf("%-*s  %-11s  %5s  %6s\n", w, "GROUP", "POLICY", "SLOTS",
	       "IN USE");
	for (i = 0; i < nv; i++) {
		if (v[i].error)
			printf("%-*s  error: %s\n", w, v[i].name, v[i].error);
		else
			printf("%-*s  %-11s  %5u  %6u\n", w, v[i].name,
			       rpdu_policy_name(v[i].policy), v[i].nr_slots,
			       v[i].n);
	}
	if (!slots)
		return;
	for (i = 0; i < nv; i++) {
		if (!v[i].n) {
			printf("\nno slot in use\n");
			continue;
		}
		printf("\n%5s  %8s  %-8s  %20s  %s\n", "SLOT", "PID", "OWNER",
		       "SOCKET", "ADDRESS");
		for (k = 0; k < v[i].n; k++)
			printf("%5u  %8u  %-8s  %20llu  %s\n", v[i].rows[k].slot,
			       v[i].rows[k].s.pid, slot_owner(&v[i].rows[k].s),
			       (unsigned long long)v[i].rows[k].s.cookie,
			       v[i].rows[k].addr);
	}
}

static void print_json(const struct view *v, size_t nv)
{
	struct json j;
	size_t i;
	__u32 k;

	json_init(&j, stdout, opts.pretty);
	json_object_begin(&j);
	json_key(&j, "groups");
	json_array_begin(&j);
	for (i = 0; i < nv; i++) {
		json_object_begin(&j);
		json_kstring(&j, "group", v[i].name);
		if (v[i].error) {
			json_kstring(&j, "error", v[i].error);
			json_object_end(&j);
			continue;
		}
		json_kstring(&j, "policy", rpdu_policy_name(v[i].policy));
		json_kuint(&j, "nr_slots", v[i].nr_slots);
		json_kuint(&j, "slots_in_use", v[i].n);
		json_key(&j, "slots");
		json_array_begin(&j);
		for (k = 0; k < v[i].n; k++) {
			json_object_begin(&j);
			json_kuint(&j, "slot", v[i].rows[k].slot);
			json_kuint(&j, "pid", v[i].rows[k].s.pid);
			json_kstring(&j, "address", v[i].rows[k].addr);
			json_kstring(&j, "owner", slot_owner(&v[i].rows[k].s));
			json_kuint(&j, "cookie", v[i].rows[k].s.cookie);
			json_kuint(&j, "holder", v[i].rows[k].s.holder);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
}

static int is_group_entry(const struct dirent *d)
{
	/* load's temporary directories have names no group can have */
	return rpdu_group_name_valid(d->d_name) &&
	       (d->d_type == DT_DIR || d->d_type == DT_UNKNOWN);
}

static int show_all(void)
{
	struct dirent **ents = NULL;
	struct view *v = NULL;
	char root[PATH_MAX];
	int i, nents = 0;
	int rc = EXIT_FAIL;
	int err;

	if (bpffs_ready()) {
		rc = fail_last();
		goto cleanup;
	}
	if (rpdu_root_dir(root, sizeof(root), opts.bpffs)) {
		rc = fail("the path %s/rpd is too long", opts.bpffs);
		goto cleanup;
	}
	nents = scandir(root, &ents, is_group_entry, alphasort);
	if (nents < 0) {
		err = -errno;
		nents = 0;
		/* ENOENT: nothing was ever loaded here */
		if (err != -ENOENT) {
			rc = fail("cannot list %s: %s%s", root, strerror(-err),
				  root_hint(err));
			goto cleanup;
		}
	}
	v = calloc(nents ? nents : 1, sizeof(*v));
	if (!v) {
		rc = fail("out of memory");
		goto cleanup;
	}
	/* A group this rpdctl cannot read is listed with the reason, so one
	 * stale group does not hide the others.
	 */
	for (i = 0; i < nents; i++) {
		if (!view_read(&v[i], ents[i]->d_name))
			continue;
		v[i].error = strdup(last_error());
		if (!v[i].error) {
			rc = fail("out of memory");
			goto cleanup;
		}
	}
	if (opts.json)
		print_json(v, nents);
	else if (nents)
		print_text(v, nents, false);
	else
		printf("no group loaded under %s\n", root);
	rc = EXIT_OK;

cleanup:
	for (i = 0; v && i < nents; i++) {
		free(v[i].rows);
		free(v[i].error);
	}
	free(v);
	for (i = 0; i < nents; i++)
		free(ents[i]);
	free(ents);
	return rc;
}

static int show_one(const char *name)
{
	struct view v = {};
	int rc;

	if (bpffs_ready() || view_read(&v, name)) {
		rc = fail_last();
		goto cleanup;
	}
	if (opts.json)
		print_json(&v, 1);
	else
		print_text(&v, 1, true);
	rc = EXIT_OK;
cleanup:
	free(v.rows);
	return rc;
}

int cmd_show(const struct cmd *cmd, int argc, char **argv)
{
	if (cli_no_options(cmd, argc, argv))
		return EXIT_USAGE;
	if (argc - optind > 1)
		return fail_usage("show: unexpected argument '%s'; see 'rpdctl show help'",
				  argv[optind + 1]);
	if (optind == argc)
		return show_all();
	if (parse_group(argv[optind]))
		return EXIT_USAGE;
	return show_one(argv[optind]);
}
