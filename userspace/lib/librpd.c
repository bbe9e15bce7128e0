// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * librpd: a worker's side of an rpd group. Opening a group and claiming a
 * slot use bpf(); reporting load afterwards is an atomic add in an mmap of
 * the slot map, so the hot path makes no syscall and survives dropping
 * privileges and fork().
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "rpd_abi.h"
#include "rpd_util.h"
#include "rpd.h"

struct rpd_group {
	char name[RPD_GROUP_NAME_MAX + 1];
	char dir[256];
	int prog_fd;
	int socks_fd;
	int config_fd;
	int slots_fd;
	__u32 nr_slots;
	struct rpd_slot *slots;		/* mmap of the slot map */
	size_t slots_len;
};

struct rpd_worker {
	struct rpd_group *group;
	struct rpd_slot *slot;
	__u32 slot_nr;
	int fd;
};

static __thread char errmsg[512];

static int fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return err;
}

const char *rpd_errmsg(void)
{
	return errmsg[0] ? errmsg : "no error";
}

/* Two ways to lack privileges, one errno for the caller (-EPERM): bpf()
 * refuses callers without CAP_BPF where unprivileged bpf() is disabled
 * (EPERM; since 5.19 only to load programs and create maps, before for
 * every command), and the pins are files, root's 0600 unless 'rpdctl
 * load --owner' gave them away (EACCES).
 */
static int fail_bpf(int err, const char *what, const char *obj)
{
	if (err == -EPERM)
		return fail(-EPERM, "%s %s: operation not permitted (needs CAP_BPF; run as root)",
			    what, obj);
	if (err == -EACCES)
		return fail(-EPERM, "%s %s: permission denied (needs CAP_DAC_OVERRIDE, or the pins' owner: see 'rpdctl load --owner')",
			    what, obj);
	return fail(err, "%s %s: %s", what, obj, strerror(-err));
}

static int open_pin(struct rpd_group *g, const char *pin, int *fd)
{
	char path[320];

	snprintf(path, sizeof(path), "%s/%s", g->dir, pin);
	*fd = bpf_obj_get(path);
	if (*fd < 0) {
		int err = -errno;

		if (err == -ENOENT)
			return fail(err, "group '%s' is incomplete (no %s); reload it with 'rpdctl unload %s' and 'rpdctl load %s'",
				    g->name, path, g->name, g->name);
		return fail_bpf(err, "cannot open", path);
	}
	return 0;
}

int rpd_group_open(const char *name, const char *bpffs, struct rpd_group **out)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	struct rpd_config cfg;
	struct rpd_group *g;
	char root[256];
	__u32 zero = 0;
	int err;

	*out = NULL;
	if (!name || !rpdu_group_name_valid(name))
		return fail(-EINVAL, "invalid group name '%s': use " RPD_GROUP_NAME_RULE,
			    name ? name : "(null)");
	if (!bpffs)
		bpffs = RPD_BPFFS_DEFAULT;
	err = rpdu_bpffs_check(bpffs);
	if (err == -EMEDIUMTYPE)
		return fail(err, "%s is not a bpf filesystem; mount one with: mount -t bpf bpf %s",
			    bpffs, bpffs);
	if (err)
		return fail(err, "bpffs %s: %s", bpffs, strerror(-err));

	g = calloc(1, sizeof(*g));
	if (!g)
		return fail(-ENOMEM, "group '%s': out of memory", name);
	g->prog_fd = g->socks_fd = g->config_fd = g->slots_fd = -1;
	snprintf(g->name, sizeof(g->name), "%s", name);
	if (rpdu_group_path(g->dir, sizeof(g->dir), bpffs, name, NULL) ||
	    rpdu_root_dir(root, sizeof(root), bpffs)) {
		err = fail(-ENAMETOOLONG, "group '%s': bpffs path too long", name);
		goto err_free;
	}
	if (access(g->dir, F_OK)) {
		err = -errno;
		if (err == -ENOENT)
			fail(err, "group '%s' is not loaded (no %s); load it with 'rpdctl load %s'",
			     name, g->dir, name);
		else
			err = fail_bpf(err, "cannot open group", g->dir);
		goto err_free;
	}

	err = open_pin(g, RPD_PIN_CONFIG, &g->config_fd);
	if (err)
		goto err_close;
	if (bpf_map_lookup_elem(g->config_fd, &zero, &cfg)) {
		err = fail_bpf(-errno, "cannot read the config of group", name);
		goto err_close;
	}
	if (cfg.abi_version != RPD_ABI_VERSION) {
		err = fail(-EPROTO, "group '%s' was loaded with ABI version %u, this librpd speaks %u; reload it with this rpd's rpdctl",
			   name, cfg.abi_version, RPD_ABI_VERSION);
		goto err_close;
	}
	err = open_pin(g, RPD_PIN_PROG, &g->prog_fd);
	if (!err)
		err = open_pin(g, RPD_PIN_SOCKS, &g->socks_fd);
	if (!err)
		err = open_pin(g, RPD_PIN_SLOTS, &g->slots_fd);
	if (err)
		goto err_close;

	if (bpf_obj_get_info_by_fd(g->slots_fd, &info, &info_len)) {
		err = fail_bpf(-errno, "cannot inspect the slot map of group", name);
		goto err_close;
	}
	if (info.value_size != sizeof(struct rpd_slot) ||
	    !(info.map_flags & BPF_F_MMAPABLE) || info.max_entries != cfg.nr_slots) {
		err = fail(-EPROTO, "group '%s': slot map does not match ABI version %u",
			   name, RPD_ABI_VERSION);
		goto err_close;
	}
	g->nr_slots = info.max_entries;
	g->slots_len = (size_t)g->nr_slots * sizeof(struct rpd_slot);
	g->slots_len = (g->slots_len + getpagesize() - 1) & ~((size_t)getpagesize() - 1);
	g->slots = mmap(NULL, g->slots_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			g->slots_fd, 0);
	if (g->slots == MAP_FAILED) {
		g->slots = NULL;
		err = fail(-errno, "cannot map the slots of group '%s': %s",
			   name, strerror(errno));
		goto err_close;
	}
	*out = g;
	return 0;

err_close:
	rpd_group_close(g);
	return err;
err_free:
	free(g);
	return err;
}

void rpd_group_close(struct rpd_group *g)
{
	if (!g)
		return;
	if (g->slots)
		munmap(g->slots, g->slots_len);
	if (g->prog_fd >= 0)
		close(g->prog_fd);
	if (g->socks_fd >= 0)
		close(g->socks_fd);
	if (g->config_fd >= 0)
		close(g->config_fd);
	if (g->slots_fd >= 0)
		close(g->slots_fd);
	free(g);
}

const char *rpd_group_name(const struct rpd_group *g)
{
	return g->name;
}

int rpd_group_nr_slots(const struct rpd_group *g)
{
	return g->nr_slots;
}

static int make_listener(struct rpd_group *g, const char *addr,
			 const struct rpd_listen_opts *opts,
			 struct sockaddr_storage *ss)
{
	int one = 1, backlog = opts && opts->backlog ? opts->backlog : SOMAXCONN;
	const char *why;
	socklen_t len;
	int fd, err;

	if (!addr || rpdu_parse_addr(addr, ss, &len, &why))
		return fail(-EINVAL, "invalid listen address '%s': %s",
			    addr ? addr : "(null)", addr ? why : "missing");

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC |
		    (opts && opts->nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return fail(-errno, "socket for %s: %s", addr, strerror(errno));
	/* Keep IPv4 and IPv6 apart: one kernel reuseport group per address. */
	if ((ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) {
		err = fail(-errno, "socket options for %s: %s", addr, strerror(errno));
		goto err;
	}
	if (bind(fd, (struct sockaddr *)ss, len)) {
		err = -errno;
		if (err == -EADDRINUSE)
			fail(err, "address %s is in use by a socket outside group '%s'",
			     addr, g->name);
		else if (err == -EADDRNOTAVAIL)
			fail(err, "address %s is not an address of this host", addr);
		else
			fail(err, "bind %s: %s", addr, strerror(-err));
		goto err;
	}
	if (listen(fd, backlog)) {
		err = fail(-errno, "listen on %s: %s", addr, strerror(errno));
		goto err;
	}
	return fd;
err:
	close(fd);
	return err;
}

/* Start at a pid-derived slot so a crowd of workers starting together
 * does not contend on slot 0.
 */
static int claim_slot(struct rpd_group *g, int fd, __u32 *slot)
{
	int err = rpdu_slot_claim(g->socks_fd, g->nr_slots, fd, getpid(), slot);

	if (err == -ENOSPC)
		return fail(-ENOSPC, "group '%s' is full (%u of %u slots in use); load it with a larger --max-workers",
			    g->name, g->nr_slots, g->nr_slots);
	if (err)
		return fail_bpf(err, "cannot add the listener to group", g->name);
	return 0;
}

/* rpd_listen(), and with RPD_SLOT_OVERFLOW in @flags, the overflow queue */
static int listen_slot(struct rpd_group *g, const char *addr,
		       const struct rpd_listen_opts *opts, __u32 flags,
		       struct rpd_worker **out)
{
	unsigned int weight = opts && opts->weight ? opts->weight : RPD_WEIGHT_DEFAULT;
	struct rpdu_owner owner = { .flags = flags };
	struct sockaddr_storage ss;
	socklen_t clen = sizeof(__u64);
	struct rpd_worker *w;
	__u64 cookie = 0;
	int err;

	*out = NULL;
	if (weight > RPD_WEIGHT_MAX)
		return fail(-ERANGE, "weight %u out of range (1-%u)", weight, RPD_WEIGHT_MAX);
	w = calloc(1, sizeof(*w));
	if (!w)
		return fail(-ENOMEM, "group '%s': out of memory", g->name);
	w->group = g;
	w->fd = make_listener(g, addr, opts, &ss);
	if (w->fd < 0) {
		err = w->fd;
		goto err_free;
	}
	if (setsockopt(w->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &g->prog_fd,
		       sizeof(g->prog_fd))) {
		err = fail(-errno, "attaching group '%s' to %s: %s", g->name, addr,
			   strerror(errno));
		goto err_close;
	}
	if (getsockopt(w->fd, SOL_SOCKET, SO_COOKIE, &cookie, &clen)) {
		err = fail(-errno, "socket cookie of %s: %s", addr, strerror(errno));
		goto err_close;
	}
	err = claim_slot(g, w->fd, &w->slot_nr);
	if (err)
		goto err_close;

	owner.weight = weight;
	owner.pid = getpid();
	owner.cookie = cookie;
	owner.addr = ss;
	w->slot = &g->slots[w->slot_nr];
	rpdu_slot_publish(w->slot, &owner);
	*out = w;
	return 0;

err_close:
	close(w->fd);
err_free:
	free(w);
	return err;
}

int rpd_listen(struct rpd_group *g, const char *addr,
	       const struct rpd_listen_opts *opts, struct rpd_worker **out)
{
	return listen_slot(g, addr, opts, 0, out);
}

int rpd_listen_overflow(struct rpd_group *g, const char *addr,
			const struct rpd_listen_opts *opts, struct rpd_worker **out)
{
	struct rpd_listen_opts o = { .nonblock = 1 };

	/* several workers poll it and one wins: the others must not block */
	if (opts)
		o.backlog = opts->backlog;
	return listen_slot(g, addr, &o, RPD_SLOT_OVERFLOW, out);
}

int rpd_accept_overflow(struct rpd_worker *w, struct rpd_worker *ovf, int flags)
{
	int c;

	if (!(ovf->slot->flags & RPD_SLOT_OVERFLOW))
		return fail(-EINVAL, "slot %u of group '%s' is not an overflow queue",
			    ovf->slot_nr, ovf->group->name);
	c = accept4(ovf->fd, NULL, NULL, flags);
	if (c < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;		/* the common race, and no message */
	if (c < 0)
		return fail(-errno, "accepting from the overflow queue of group '%s': %s",
			    ovf->group->name, strerror(errno));
	/* it left the queue, and is the worker's from now on */
	__atomic_fetch_add(&ovf->slot->finished, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&w->slot->dispatched, 1, __ATOMIC_RELAXED);
	return c;
}

int rpd_worker_fd(const struct rpd_worker *w)
{
	return w->fd;
}

int rpd_worker_slot(const struct rpd_worker *w)
{
	return w->slot_nr;
}

void rpd_conn_done(struct rpd_worker *w)
{
	__atomic_fetch_add(&w->slot->finished, 1, __ATOMIC_RELAXED);
}

int rpd_set_drain(struct rpd_worker *w, int on)
{
	__atomic_store_n(&w->slot->drain, on ? 1 : 0, __ATOMIC_RELAXED);
	return 0;
}

int rpd_set_weight(struct rpd_worker *w, unsigned int weight)
{
	if (weight < 1 || weight > RPD_WEIGHT_MAX)
		return fail(-ERANGE, "slot %u of group '%s': weight %u out of range (1-%u)",
			    w->slot_nr, w->group->name, weight, RPD_WEIGHT_MAX);
	__atomic_store_n(&w->slot->weight, weight, __ATOMIC_RELAXED);
	return 0;
}

void rpd_worker_close(struct rpd_worker *w)
{
	if (!w)
		return;
	/* Not live first, so no new connection is dispatched to a listener
	 * that is about to close; closing it migrates what is queued.
	 */
	__atomic_store_n(&w->slot->live, 0, __ATOMIC_RELEASE);
	close(w->fd);
	free(w);
}
