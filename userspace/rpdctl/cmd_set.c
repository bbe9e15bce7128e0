// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * set: a group's policy, a slot's weight or drain, changed while it serves.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>

#include "json.h"
#include "rpdctl.h"

enum slot_field {
	FIELD_WEIGHT,
	FIELD_DRAIN,
};

static const char *const field_name[] = {
	[FIELD_WEIGHT]	= "weight",
	[FIELD_DRAIN]	= "drain",
};

static void print_policy(const char *name, __u32 policy)
{
	struct json j;

	if (!opts.json) {
		printf("group '%s': policy %s\n", name, rpdu_policy_name(policy));
		return;
	}
	json_init(&j, stdout, opts.pretty);
	json_object_begin(&j);
	json_kstring(&j, "group", name);
	json_kbool(&j, "ok", true);
	json_kstring(&j, "policy", rpdu_policy_name(policy));
	json_object_end(&j);
	json_finish(&j);
}

static void print_slot(const char *name, unsigned long slot,
		       enum slot_field field, __u32 value)
{
	struct json j;

	if (!opts.json) {
		if (field == FIELD_DRAIN)
			printf("group '%s': slot %lu drain %s\n", name, slot,
			       value ? "on" : "off");
		else
			printf("group '%s': slot %lu weight %u\n", name, slot,
			       value);
		return;
	}
	json_init(&j, stdout, opts.pretty);
	json_object_begin(&j);
	json_kstring(&j, "group", name);
	json_kbool(&j, "ok", true);
	json_kuint(&j, "slot", slot);
	if (field == FIELD_DRAIN)
		json_kbool(&j, field_name[field], value);
	else
		json_kuint(&j, field_name[field], value);
	json_object_end(&j);
	json_finish(&j);
}

static int set_policy(const char *name, __u32 policy)
{
	struct rpd_config cfg;
	struct group g;
	__u32 zero = 0;
	int rc = EXIT_FAIL;
	int err;

	if (bpffs_ready() || group_open(&g, name))
		return fail_last();
	/* The dispatcher reads the policy on every SYN, so the next one
	 * obeys. Writing the whole value may undo a few rr_ticket steps
	 * taken since it was read: that only moves the rotation's start.
	 */
	cfg = g.cfg;
	cfg.policy = policy;
	err = bpf_map_update_elem(g.fd[GMAP_CONFIG], &zero, &cfg, BPF_EXIST);
	if (err) {
		rc = fail("cannot set the policy of group '%s': %s%s", name,
			  strerror(-err), root_hint(err));
		goto cleanup;
	}
	print_policy(name, policy);
	rc = EXIT_OK;
cleanup:
	group_close(&g);
	return rc;
}

static int set_slot(const char *name, unsigned long slot,
		    enum slot_field field, __u32 value)
{
	struct rpd_slot *slots = NULL;
	size_t len = 0;
	struct group g;
	int rc = EXIT_FAIL;
	__u32 *f;
	int err;

	if (bpffs_ready() || group_open(&g, name))
		return fail_last();
	if (slot >= g.nr_slots) {
		rc = fail("slot %lu is out of range for group '%s' (0-%u)",
			  slot, name, g.nr_slots - 1);
		goto cleanup;
	}
	err = group_slot_in_use(&g, slot);
	if (err < 0) {
		rc = fail_last();
		goto cleanup;
	}
	if (!err) {
		rc = fail("slot %lu of group '%s' is not in use; see 'rpdctl show %s'",
			  slot, name, name);
		goto cleanup;
	}

	/* Not bpf_map_update_elem(): it rewrites the whole slot
	 * and would lose the dispatcher's concurrent atomic adds to
	 * `dispatched`. Through the mapping only this one field is stored.
	 */
	if (group_slots_map(&g, &slots, &len)) {
		rc = fail_last();
		goto cleanup;
	}
	f = field == FIELD_WEIGHT ? &slots[slot].weight : &slots[slot].drain;
	__atomic_store_n(f, value, __ATOMIC_RELAXED);

	print_slot(name, slot, field, value);
	rc = EXIT_OK;
cleanup:
	if (slots)
		munmap(slots, len);
	group_close(&g);
	return rc;
}

static int parse_slot(const char *s, unsigned long *slot)
{
	/* the range is the group's, checked once it is open */
	if (parse_ulong(s, 0, ULONG_MAX, slot))
		return 0;
	return fail_usage("invalid slot '%s': use a slot number (see 'rpdctl show GROUP')",
			  s);
}

int cmd_set(const struct cmd *cmd, int argc, char **argv)
{
	unsigned long slot, weight;
	const char *name, *what;
	__u32 policy;
	char **arg;
	int n, want;

	if (cli_no_options(cmd, argc, argv))
		return EXIT_USAGE;
	/* GROUP WHAT ARGS... */
	arg = argv + optind;
	n = argc - optind;
	if (n < 2)
		return fail_usage("set: missing %s; see 'rpdctl set help'",
				  n < 1 ? "GROUP" : "what to set (policy, weight or drain)");
	name = arg[0];
	what = arg[1];
	if (parse_group(name))
		return EXIT_USAGE;
	if (!strcmp(what, "policy"))
		want = 3;
	else if (!strcmp(what, "weight") || !strcmp(what, "drain"))
		want = 4;
	else
		return fail_usage("set: unknown setting '%s': use policy, weight or drain",
				  what);
	if (n < want)
		return fail_usage("set: missing %s; see 'rpdctl set help'",
				  want == 3 ? "POLICY" :
				  n == 2 ? "SLOT" :
				  !strcmp(what, "weight") ? "WEIGHT" : "on or off");
	if (n > want)
		return fail_usage("set: unexpected argument '%s'; see 'rpdctl set help'",
				  arg[want]);

	if (want == 3) {
		if (parse_policy(arg[2], &policy))
			return EXIT_USAGE;
		return set_policy(name, policy);
	}
	if (parse_slot(arg[2], &slot))
		return EXIT_USAGE;
	if (!strcmp(what, "weight")) {
		if (!parse_ulong(arg[3], 1, RPD_WEIGHT_MAX, &weight))
			return fail_usage("invalid weight '%s': use 1-%d",
					  arg[3], RPD_WEIGHT_MAX);
		return set_slot(name, slot, FIELD_WEIGHT, weight);
	}
	if (strcmp(arg[3], "on") && strcmp(arg[3], "off"))
		return fail_usage("invalid drain '%s': use on or off", arg[3]);
	return set_slot(name, slot, FIELD_DRAIN, !strcmp(arg[3], "on"));
}
