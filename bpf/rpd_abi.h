/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * rpd ABI: the layout of the pinned maps, shared by the BPF dispatcher,
 * librpd and rpdctl. Only __u*-style types so both sides compile it.
 *
 * Pins, under BPFFS/rpd/GROUP/:
 *   prog      the sk_reuseport/migrate dispatcher
 *   socks     REUSEPORT_SOCKARRAY, slot -> listening socket
 *   slots     ARRAY (BPF_F_MMAPABLE) of struct rpd_slot, one per slot
 *   config    ARRAY[1] of struct rpd_config
 *   counters  PERCPU_ARRAY[1] of struct rpd_counters
 *   selected  PERCPU_ARRAY of __u64, selections per slot
 *   conns     LRU_HASH, struct rpd_conn_key -> struct rpd_conn: the slot
 *             each connection to an attached slot was dispatched to
 *   tracker   the tp_btf/inet_sock_set_state program that counts those
 *             connections' ends
 *   track     its link: made by the first 'rpdctl attach', so a group of
 *             librpd workers alone never runs it; it stays until unload
 */
#ifndef RPD_ABI_H
#define RPD_ABI_H

#include <linux/types.h>

/* Bump on any change of a layout below; workers refuse another version. */
#define RPD_ABI_VERSION		2

#define RPD_DEFAULT_SLOTS	64
#define RPD_MAX_SLOTS		1024

/* Connections to attached slots whose end the kernel waits for. Beyond
 * this many in flight the oldest entries are evicted: their end is then
 * not counted, and their slot looks that much busier until a new owner
 * claims it.
 */
#define RPD_MAX_CONNS		65536

#define RPD_WEIGHT_DEFAULT	1
#define RPD_WEIGHT_MAX		65535

/* A slot's in-flight count is clamped to this before it is compared, so a
 * worker that writes nonsense into its own counters cannot overflow the
 * weighted comparison (2^32 * RPD_WEIGHT_MAX fits in 64 bits).
 */
#define RPD_INFLIGHT_CLAMP	0xffffffffULL

enum rpd_policy {
	RPD_POLICY_LEAST_CONN	= 0,
	RPD_POLICY_P2C		= 1,
	RPD_POLICY_ROUND_ROBIN	= 2,
	RPD_POLICY_HASH		= 3,
	RPD_POLICY_MAX,
};

struct rpd_config {
	__u32 abi_version;
	__u32 policy;		/* enum rpd_policy */
	__u32 nr_slots;		/* max_entries of socks, slots, selected */
	__u32 flags;		/* reserved, 0 */
	__u64 rr_ticket;	/* round-robin position, advanced by the program */
};

/*
 * Two 64-byte cache lines per slot, so workers never share a line; the
 * program's scan of every slot reads only the first. The program adds to
 * `dispatched` when it selects the slot; `finished` grows when a
 * connection ends, added by the worker that owns the slot (librpd) or, for
 * a slot attached from outside (RPD_SLOT_ATTACHED), by the kernel. Both
 * only grow: in flight = dispatched - finished.
 *
 * `live` is the owner's claim generation while the slot is serving and 0
 * once it is known to be empty. The owner sets it after inserting its
 * socket in `socks` and clears it before closing; the program clears it
 * (compare-and-swap on the value it read) when the socket is gone, e.g.
 * after a crash. `gen` only grows, so a stale clear can never hit a newer
 * owner, and the end of a connection dispatched to an earlier owner is
 * never counted for the new one.
 */
struct rpd_slot {
	__u64 dispatched;
	__u64 finished;
	__u32 live;
	__u32 gen;
	__u32 weight;		/* 1..RPD_WEIGHT_MAX, 0 is read as 1 */
	__u32 drain;		/* nonzero: no new connections while another slot can take them */
	__u32 pid;		/* the worker serving it, 0 if unknown; for show/stats */
	__u16 family;		/* AF_INET or AF_INET6 of the listener */
	__u16 port;		/* listener port, host order */
	__u32 addr[4];		/* listener address, network order; IPv4 in addr[0] */
	__u64 cookie;		/* SO_COOKIE of the listener */
	/* second line: read once a connection is dispatched, not per scan */
	__u32 flags;		/* RPD_SLOT_* */
	__u32 holder;		/* attached: the process named to 'rpdctl attach' */
} __attribute__((aligned(64)));

/* The listener was taken from a running server (rpdctl attach): its
 * workers never report, so the kernel counts the ends of its connections.
 */
#define RPD_SLOT_ATTACHED	(1U << 0)

/* The group's overflow queue for its address (rpd_listen_overflow()): a
 * listener every worker also takes from when it frees. least-conn sends a
 * connection here only when no serving slot of the address is idle, so
 * the connection goes to whichever worker frees first.
 */
#define RPD_SLOT_OVERFLOW	(1U << 1)

/*
 * A connection, as the dispatcher sees it in the SYN and as
 * inet_sock_set_state sees its socket: the server's address and port
 * (local), the client's (remote). IPv4, also v4-mapped in an IPv6 socket,
 * in addr[0] with family AF_INET. Ports in host order.
 */
struct rpd_conn_key {
	__u32 family;
	__u16 lport;
	__u16 rport;
	__u32 laddr[4];
	__u32 raddr[4];
};

struct rpd_conn {
	__u32 slot;
	__u32 gen;		/* the slot's owner when it was dispatched */
};

struct rpd_counters {
	__u64 selected;		/* new connections dispatched by a policy */
	__u64 fallback;		/* nothing selectable: left to the kernel's hash */
	__u64 empty;		/* slots met whose socket was gone */
	__u64 migrated;		/* requests moved off a closing listener */
	__u64 errors;		/* bpf_sk_select_reuseport() failures other than -ENOENT */
};

#endif /* RPD_ABI_H */
