// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A loaded group as rpdctl sees it: the pins under BPFFS/rpd/GROUP/,
 * checked against this ABI before any value is read into an ABI struct.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rpdctl.h"

const char *const group_pins[] = {
	RPD_PIN_PROG, RPD_PIN_SOCKS, RPD_PIN_SLOTS, RPD_PIN_CONFIG,
	RPD_PIN_COUNTERS, RPD_PIN_SELECTED, RPD_PIN_CONNS, RPD_PIN_TRACKER,
	RPD_PIN_TRACK, NULL,
};

/* What each pinned map must be for this ABI; max_entries 0: nr_slots. */
static const struct {
	const char *pin;
	__u32 type;
	__u32 value_size;
	__u32 max_entries;
	__u32 flags;
} shape[GMAP_MAX] = {
	[GMAP_SOCKS]	= { RPD_PIN_SOCKS, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
			    sizeof(__u64), 0, 0 },
	[GMAP_SLOTS]	= { RPD_PIN_SLOTS, BPF_MAP_TYPE_ARRAY,
			    sizeof(struct rpd_slot), 0, BPF_F_MMAPABLE },
	[GMAP_CONFIG]	= { RPD_PIN_CONFIG, BPF_MAP_TYPE_ARRAY,
			    sizeof(struct rpd_config), 1, 0 },
	[GMAP_COUNTERS]	= { RPD_PIN_COUNTERS, BPF_MAP_TYPE_PERCPU_ARRAY,
			    sizeof(struct rpd_counters), 1, 0 },
	[GMAP_SELECTED]	= { RPD_PIN_SELECTED, BPF_MAP_TYPE_PERCPU_ARRAY,
			    sizeof(__u64), 0, 0 },
};

const char *slot_owner(const struct rpd_slot *s)
{
	if (s->flags & RPD_SLOT_OVERFLOW)
		return "overflow";
	return s->flags & RPD_SLOT_ATTACHED ? "attached" : "librpd";
}

/* A percpu lookup returns one value per possible CPU, each padded to 8. */
#define PERCPU_STRIDE(size)	(((size) + 7) & ~(size_t)7)

int bpffs_ready(void)
{
	int err = rpdu_bpffs_check(opts.bpffs);

	switch (err) {
	case 0:
		break;
	case -ENOENT:
		set_error("%s does not exist; create it and mount a bpf filesystem on it: mkdir -p %s && mount -t bpf bpf %s",
			  opts.bpffs, opts.bpffs, opts.bpffs);
		break;
	case -ENOTDIR:
		set_error("%s is not a directory; give a bpf filesystem with --bpffs",
			  opts.bpffs);
		break;
	case -EMEDIUMTYPE:
		set_error("%s is not a bpf filesystem; mount one with: mount -t bpf bpf %s",
			  opts.bpffs, opts.bpffs);
		break;
	default:
		set_error("cannot check %s: %s%s", opts.bpffs, strerror(-err),
			  root_hint(err));
		break;
	}
	return err;
}

int group_dir(char *buf, size_t len, const char *name)
{
	int err = rpdu_group_path(buf, len, opts.bpffs, name, NULL);

	if (err)
		set_error("the path of group '%s' under %s is too long",
			  name, opts.bpffs);
	return err;
}

static void set_mismatch(const struct group *g, const char *pin,
			 const char *what)
{
	set_error("group '%s' does not match rpd ABI %d: %s/%s %s; run 'rpdctl unload %s' and load it again",
		  g->name, RPD_ABI_VERSION, g->dir, pin, what, g->name);
}

static void set_mismatch_entries(const struct group *g, const char *pin,
				 __u32 has, __u32 want)
{
	char what[64];

	snprintf(what, sizeof(what), "has %u entries, not %u", has, want);
	set_mismatch(g, pin, what);
}

static int open_map(struct group *g, enum group_map m,
		    struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	char path[PATH_MAX];
	int fd, err;

	if (snprintf(path, sizeof(path), "%s/%s", g->dir, shape[m].pin) >=
	    (int)sizeof(path)) {
		set_error("the path of group '%s' under %s is too long",
			  g->name, opts.bpffs);
		return -ENAMETOOLONG;
	}
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = fd;
		if (err == -ENOENT)
			set_error("group '%s' is incomplete: no %s; run 'rpdctl unload %s' and load it again",
				  g->name, path, g->name);
		else if (err == -EACCES)
			/* a file's mode, not bpf(), said no */
			set_error("reading group '%s' needs CAP_DAC_OVERRIDE or the pins' owner (run as root, or see 'rpdctl load --owner')",
				  g->name);
		else if (err == -EPERM)
			set_error("reading group '%s' needs CAP_BPF (run as root)",
				  g->name);
		else
			set_error("cannot open %s: %s", path, strerror(-err));
		return err;
	}
	g->fd[m] = fd;
	memset(info, 0, sizeof(*info));
	err = bpf_obj_get_info_by_fd(fd, info, &len);
	if (err) {
		set_error("cannot inspect %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

static int check_shape(struct group *g, enum group_map m,
		       const struct bpf_map_info *info)
{
	__u32 max = shape[m].max_entries ? shape[m].max_entries : g->nr_slots;

	if (info->type != shape[m].type || info->key_size != sizeof(__u32) ||
	    info->value_size != shape[m].value_size ||
	    (info->map_flags & shape[m].flags) != shape[m].flags) {
		set_mismatch(g, shape[m].pin, "is not the map this ABI expects");
		return -EPROTO;
	}
	if (info->max_entries != max) {
		set_mismatch_entries(g, shape[m].pin, info->max_entries, max);
		return -EPROTO;
	}
	return 0;
}

/* The config goes first: its abi_version says whether the other maps can
 * be read with this ABI's structs at all.
 */
static int read_config(struct group *g)
{
	struct bpf_map_info info;
	void *buf = NULL;
	__u32 zero = 0;
	__u32 abi;
	int err;

	err = open_map(g, GMAP_CONFIG, &info);
	if (err)
		goto cleanup;
	/* Every ABI starts its config with abi_version: only that much is
	 * assumed before the version is known.
	 */
	if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != sizeof(zero) ||
	    info.max_entries < 1 || info.value_size < sizeof(abi)) {
		set_mismatch(g, RPD_PIN_CONFIG, "is not an rpd config map");
		err = -EPROTO;
		goto cleanup;
	}
	buf = calloc(1, info.value_size);
	if (!buf) {
		err = -ENOMEM;
		set_error("out of memory");
		goto cleanup;
	}
	err = bpf_map_lookup_elem(g->fd[GMAP_CONFIG], &zero, buf);
	if (err) {
		set_error("cannot read the config of group '%s': %s",
			  g->name, strerror(-err));
		goto cleanup;
	}
	memcpy(&abi, buf, sizeof(abi));
	if (abi != RPD_ABI_VERSION) {
		set_error("group '%s' was loaded with rpd ABI %u, this rpdctl speaks ABI %d; use a matching rpdctl, or unload the group and load it again",
			  g->name, abi, RPD_ABI_VERSION);
		err = -EPROTO;
		goto cleanup;
	}
	err = check_shape(g, GMAP_CONFIG, &info);
	if (err)
		goto cleanup;
	memcpy(&g->cfg, buf, sizeof(g->cfg));
	g->nr_slots = g->cfg.nr_slots;
	if (g->nr_slots < 1 || g->nr_slots > RPD_MAX_SLOTS) {
		set_mismatch(g, RPD_PIN_CONFIG, "has nr_slots out of range");
		err = -EPROTO;
	}
cleanup:
	free(buf);
	return err;
}

int group_open(struct group *g, const char *name)
{
	struct bpf_map_info info;
	struct stat st;
	int m, err;

	memset(g, 0, sizeof(*g));
	for (m = 0; m < GMAP_MAX; m++)
		g->fd[m] = -1;
	g->name = name;

	err = group_dir(g->dir, sizeof(g->dir), name);
	if (err)
		goto cleanup;
	if (stat(g->dir, &st)) {
		err = -errno;
		if (err == -ENOENT)
			set_error("group '%s' is not loaded (no %s)", name, g->dir);
		else
			set_error("cannot read %s: %s%s", g->dir,
				  strerror(-err), root_hint(err));
		goto cleanup;
	}
	err = read_config(g);
	if (err)
		goto cleanup;
	for (m = 0; m < GMAP_MAX; m++) {
		if (m == GMAP_CONFIG)
			continue;
		err = open_map(g, m, &info);
		if (err)
			goto cleanup;
		err = check_shape(g, m, &info);
		if (err)
			goto cleanup;
	}

	g->ncpus = libbpf_num_possible_cpus();
	if (g->ncpus < 0) {
		err = g->ncpus;
		set_error("cannot count the possible CPUs: %s", strerror(-err));
		goto cleanup;
	}
	g->percpu_buf = calloc(g->ncpus,
			       PERCPU_STRIDE(sizeof(struct rpd_counters)));
	if (!g->percpu_buf) {
		err = -ENOMEM;
		set_error("out of memory");
	}
cleanup:
	if (err)
		group_close(g);
	return err;
}

void group_close(struct group *g)
{
	int m;

	for (m = 0; m < GMAP_MAX; m++) {
		if (g->fd[m] >= 0)
			close(g->fd[m]);
		g->fd[m] = -1;
	}
	free(g->percpu_buf);
	g->percpu_buf = NULL;
}

int group_slot_in_use(const struct group *g, __u32 slot)
{
	__u64 cookie;

	return group_slot_cookie(g, slot, &cookie);
}

int group_slot_cookie(const struct group *g, __u32 slot, __u64 *cookie)
{
	int err;

	/* From a syscall the sockarray yields the socket's cookie, or
	 * ENOENT for an empty slot.
	 */
	err = bpf_map_lookup_elem(g->fd[GMAP_SOCKS], &slot, cookie);
	if (!err)
		return 1;
	if (err == -ENOENT)
		return 0;
	set_error("cannot read slot %u of group '%s': %s", slot, g->name,
		  strerror(-err));
	return err;
}

int group_slots_map(const struct group *g, struct rpd_slot **slots,
		    size_t *len)
{
	long page = sysconf(_SC_PAGESIZE);
	int err;

	*len = (g->nr_slots * sizeof(**slots) + page - 1) / page * page;
	*slots = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->fd[GMAP_SLOTS], 0);
	if (*slots != MAP_FAILED)
		return 0;
	err = -errno;
	*slots = NULL;
	set_error("cannot map the slots of group '%s': %s%s", g->name,
		  strerror(-err), root_hint(err));
	return err;
}

int group_slot_read(const struct group *g, __u32 slot, struct rpd_slot *s)
{
	int err = bpf_map_lookup_elem(g->fd[GMAP_SLOTS], &slot, s);

	if (err)
		set_error("cannot read slot %u of group '%s': %s", slot,
			  g->name, strerror(-err));
	return err;
}

int group_read_in_use(const struct group *g, struct slot_row **rows,
		      __u32 *n)
{
	struct slot_row *r;
	__u32 k;
	int err = 0;

	*rows = NULL;
	*n = 0;
	r = calloc(g->nr_slots, sizeof(*r));
	if (!r) {
		set_error("out of memory");
		return -ENOMEM;
	}
	for (k = 0; k < g->nr_slots; k++) {
		err = group_slot_in_use(g, k);
		if (err < 0)
			goto cleanup;
		if (!err)
			continue;
		err = group_slot_read(g, k, &r[*n].s);
		if (err)
			goto cleanup;
		r[*n].slot = k;
		rpdu_format_addr(r[*n].addr, sizeof(r[*n].addr), r[*n].s.family,
				 r[*n].s.port, r[*n].s.addr);
		(*n)++;
	}
	err = 0;
cleanup:
	if (err) {
		free(r);
		*n = 0;
		r = NULL;
	}
	*rows = r;
	return err;
}

/* Sum @n __u64 fields of a percpu map's value over every CPU. */
static int percpu_sum(struct group *g, enum group_map m, __u32 key,
		      __u64 *sums, size_t n)
{
	size_t stride = PERCPU_STRIDE(shape[m].value_size);
	const __u64 *v;
	size_t i;
	int cpu, err;

	err = bpf_map_lookup_elem(g->fd[m], &key, g->percpu_buf);
	if (err) {
		set_error("cannot read %s/%s: %s", g->dir, shape[m].pin,
			  strerror(-err));
		return err;
	}
	memset(sums, 0, n * sizeof(*sums));
	for (cpu = 0; cpu < g->ncpus; cpu++) {
		v = (const __u64 *)((const char *)g->percpu_buf + cpu * stride);
		for (i = 0; i < n; i++)
			sums[i] += v[i];
	}
	return 0;
}

int group_counters(struct group *g, struct rpd_counters *c)
{
	_Static_assert(sizeof(*c) % sizeof(__u64) == 0,
		       "struct rpd_counters is summed as an array of __u64");

	return percpu_sum(g, GMAP_COUNTERS, 0, (__u64 *)c,
			  sizeof(*c) / sizeof(__u64));
}

int group_selected(struct group *g, __u32 slot, __u64 *sum)
{
	return percpu_sum(g, GMAP_SELECTED, slot, sum, 1);
}

static bool is_pin(const char *name)
{
	int i;

	for (i = 0; group_pins[i]; i++)
		if (!strcmp(name, group_pins[i]))
			return true;
	return false;
}

/* Refuses before removing anything: a group is removed whole or left as
 * it was.
 */
static int check_only_pins(const char *dir)
{
	struct dirent *d;
	DIR *dp;
	int err = 0;

	dp = opendir(dir);
	if (!dp) {
		err = -errno;
		set_error("cannot read %s: %s%s", dir, strerror(-err),
			  root_hint(err));
		return err;
	}
	while ((d = readdir(dp))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..") ||
		    is_pin(d->d_name))
			continue;
		set_error("cannot remove %s: it holds '%s', which rpdctl did not pin; remove it by hand",
			  dir, d->d_name);
		err = -ENOTEMPTY;
		break;
	}
	closedir(dp);
	return err;
}

int group_dir_remove(const char *dir)
{
	char path[PATH_MAX];
	int i, err;

	err = check_only_pins(dir);
	if (err)
		return err;
	for (i = 0; group_pins[i]; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, group_pins[i]) >=
		    (int)sizeof(path)) {
			set_error("the path %s/%s is too long", dir,
				  group_pins[i]);
			return -ENAMETOOLONG;
		}
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			set_error("cannot remove %s: %s%s", path,
				  strerror(-err), root_hint(err));
			return err;
		}
	}
	if (rmdir(dir)) {
		err = -errno;
		if (err == -ENOTEMPTY || err == -EEXIST)
			set_error("cannot remove %s: it holds files rpdctl did not pin; remove them by hand",
				  dir);
		else
			set_error("cannot remove %s: %s%s", dir,
				  strerror(-err), root_hint(err));
		return err;
	}
	return 0;
}
