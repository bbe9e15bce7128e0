// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpd dispatcher: picks the listener of a SO_REUSEPORT group for every new
 * connection, and for every request moved off a closing listener.
 *
 * Slots are scanned with bpf_loop(): the verifier rejects a loop bounded by
 * a map value, and a constant bound of RPD_MAX_SLOTS would be walked whole.
 *
 * A slot attached from outside (rpdctl attach) belongs to a server that
 * never reports its load. For those the dispatcher records which slot each
 * connection went to, keyed by its 4-tuple, and rpd_conn_end credits the
 * slot when the connection's socket closes; it is linked by the first
 * attach, as a group of librpd workers alone never needs it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "rpd_abi.h"

#define ENOENT		2
#define AF_INET		2
#define AF_INET6	10
#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define TCP_CLOSE	7

/* The few kernel fields rpd_conn_end reads, relocated by CO-RE against the
 * running kernel's BTF: the UAPI headers the dispatcher uses have no
 * struct sock, and vmlinux.h cannot be mixed with them.
 */
struct in6_addr___rpd {
	union {
		__u32 u6_addr32[4];
	} in6_u;
} __attribute__((preserve_access_index));

struct sock_common___rpd {
	__u32 skc_daddr;
	__u32 skc_rcv_saddr;
	__u16 skc_dport;
	unsigned short skc_family;
	struct in6_addr___rpd skc_v6_daddr;
	struct in6_addr___rpd skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock___rpd {
	struct sock_common___rpd __sk_common;
} __attribute__((preserve_access_index));

struct inet_sock___rpd {
	__u16 inet_sport;
} __attribute__((preserve_access_index));

/* Tries per connection: each failed try empties one dead slot. */
#define RPD_SELECT_TRIES	4

/* Set by the loader from --max-workers, the size of every per-slot map. */
const volatile __u32 nr_slots = RPD_DEFAULT_SLOTS;

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, RPD_DEFAULT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RPD_DEFAULT_SLOTS);
	__type(key, __u32);
	__type(value, struct rpd_slot);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rpd_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rpd_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RPD_DEFAULT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} selected SEC(".maps");

/* LRU: a connection that never reaches TCP_CLOSE under our eyes (its
 * handshake never completed, the group was detached) ages out instead of
 * filling the map.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RPD_MAX_CONNS);
	__type(key, struct rpd_conn_key);
	__type(value, struct rpd_conn);
} conns SEC(".maps");

/* Slots that may take the connection come in three classes: serving,
 * draining (only used when no serving slot is left), and the overflow
 * queue (least-conn: when no serving slot is idle; any policy: when no
 * other slot is left).
 */
enum { CLS_SERVING, CLS_DRAINING, CLS_OVERFLOW, CLS_MAX };

struct scan {
	/* the listener address of the reuseport group being served */
	__u32 family, port, addr[4];
	/* pass 1: count per class; with `least`, also the least-loaded and
	 * how many tie with it
	 */
	__u32 least;
	__u32 rnd;			/* xorshift32 state for tie-breaks */
	__u32 cnt[CLS_MAX];
	__u32 ties[CLS_MAX];
	__s32 best[CLS_MAX];
	__u64 best_load[CLS_MAX], best_weight[CLS_MAX];
	/* pass 2: find the want[j]-th eligible slot of class cls */
	__u32 cls, nwant, seen;
	__u32 want[2];
	__s32 found[2];
	__u64 found_load[2], found_weight[2];
};

/* The scan state lives in a per-CPU map, not on the stack: the verifier
 * does not track map-value contents, so bpf_loop() callbacks converge
 * instead of forking a state per counter value. The program runs with
 * bottom halves off, so one CPU never runs two scans at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scan);
} scratch SEC(".maps");

static __always_inline struct scan *scan_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline __u64 slot_load(const struct rpd_slot *s)
{
	__s64 d = (__s64)(s->dispatched - s->finished);

	if (d < 0)
		return 0;
	if ((__u64)d > RPD_INFLIGHT_CLAMP)
		return RPD_INFLIGHT_CLAMP;
	return d;
}

static __always_inline __u64 slot_weight(const struct rpd_slot *s)
{
	__u32 w = s->weight;

	if (w == 0)
		return 1;
	return w > RPD_WEIGHT_MAX ? RPD_WEIGHT_MAX : w;
}

/* load_a/weight_a < load_b/weight_b, without division */
static __always_inline int lighter(__u64 la, __u64 wa, __u64 lb, __u64 wb)
{
	return la * wb < lb * wa;
}

/* The class of slot @i for this group, or -1 if it cannot take it. */
static __always_inline int slot_class(const struct scan *sc,
				      const struct rpd_slot *s)
{
	if (!s->live || s->family != sc->family || s->port != sc->port)
		return -1;
	if (s->addr[0] != sc->addr[0] || s->addr[1] != sc->addr[1] ||
	    s->addr[2] != sc->addr[2] || s->addr[3] != sc->addr[3])
		return -1;
	/* flags lie on the slot's second line, which only its owner
	 * writes, once: a read here costs no cache line in flight
	 */
	if (s->flags & RPD_SLOT_OVERFLOW)
		return CLS_OVERFLOW;
	return s->drain ? CLS_DRAINING : CLS_SERVING;
}

static long scan_least(__u32 k, void *data)
{
	struct scan *sc = scan_get();
	struct rpd_slot *s;
	__u64 load, w;
	int c;

	if (!sc)
		return 1;
	s = bpf_map_lookup_elem(&slots, &k);
	if (!s)
		return 1;
	c = slot_class(sc, s);
	if (c < 0)
		return 0;
	load = slot_load(s);
	w = slot_weight(s);
	sc->cnt[c]++;
	if (sc->best[c] < 0) {
		sc->ties[c] = 1;
	} else if (!sc->least) {
		/* p2c, round-robin, hash: the count is all this pass is for */
		return 0;
	} else if (lighter(load, w, sc->best_load[c], sc->best_weight[c])) {
		sc->ties[c] = 1;
	} else if (!lighter(sc->best_load[c], sc->best_weight[c], load, w)) {
		/* A tie: keep each of the t tied slots with probability 1/t
		 * (reservoir sampling), so no slot is favoured by its
		 * position, whatever the gaps between live slots. At low
		 * load every slot ties, so a xorshift step seeded once per
		 * connection, not a helper call per slot; x * t < 2^32 has
		 * probability 1/t.
		 */
		__u32 x = sc->rnd;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		sc->rnd = x;
		sc->ties[c]++;
		if (((__u64)x * sc->ties[c]) >> 32)
			return 0;
	} else {
		return 0;
	}
	sc->best[c] = k;
	sc->best_load[c] = load;
	sc->best_weight[c] = w;
	return 0;
}

static long scan_nth(__u32 i, void *data)
{
	struct scan *sc = scan_get();
	struct rpd_slot *s;
	__u32 j;

	if (!sc)
		return 1;
	s = bpf_map_lookup_elem(&slots, &i);
	if (!s)
		return 1;
	if (slot_class(sc, s) != (int)sc->cls)
		return 0;
	for (j = 0; j < 2; j++) {
		if (j < sc->nwant && sc->want[j] == sc->seen) {
			sc->found[j] = i;
			sc->found_load[j] = slot_load(s);
			sc->found_weight[j] = slot_weight(s);
		}
	}
	sc->seen++;
	return sc->seen > sc->want[0] && sc->seen > sc->want[1];
}

static __always_inline void scan_init(struct scan *sc,
				      struct sk_reuseport_md *md)
{
	struct bpf_sock *sk = md->sk;

	__builtin_memset(sc, 0, sizeof(*sc));
	sc->family = sk->family;
	sc->port = sk->src_port;
	if (sk->family == AF_INET6) {
		sc->addr[0] = sk->src_ip6[0];
		sc->addr[1] = sk->src_ip6[1];
		sc->addr[2] = sk->src_ip6[2];
		sc->addr[3] = sk->src_ip6[3];
	} else {
		sc->addr[0] = sk->src_ip4;
	}
}

/* The eligible slot at positions @a (and @b, if @nwant is 2) of class @cls
 * in slot order; returns how many were found.
 */
static __always_inline int find_nth(struct scan *sc, __u32 cls, __u32 nwant,
				    __u32 a, __u32 b)
{
	sc->cls = cls;
	sc->nwant = nwant;
	sc->seen = 0;
	sc->want[0] = a;
	sc->want[1] = nwant > 1 ? b : a;
	sc->found[0] = sc->found[1] = -1;
	bpf_loop(nr_slots, scan_nth, NULL, 0);
	if (sc->found[0] < 0 || (nwant > 1 && sc->found[1] < 0))
		return 0;
	return nwant;
}

/* The slot to try for this connection, or -1 when none can take it. */
static __always_inline int choose(struct sk_reuseport_md *md, struct scan *sc,
				  struct rpd_config *cfg, __u32 policy)
{
	__u32 cls, n, a, b;

	sc->least = md->migrating_sk || policy == RPD_POLICY_LEAST_CONN;
	/* xorshift never leaves 0 */
	sc->rnd = sc->least ? bpf_get_prandom_u32() | 1 : 0;
	for (cls = 0; cls < CLS_MAX; cls++) {
		sc->cnt[cls] = sc->ties[cls] = 0;
		sc->best[cls] = -1;
	}
	bpf_loop(nr_slots, scan_least, NULL, 0);

	cls = sc->cnt[CLS_SERVING] ? CLS_SERVING : CLS_DRAINING;
	n = sc->cnt[cls];
	/* nobody to serve it now: it waits in the overflow queue, if any */
	if (!n)
		return sc->best[CLS_OVERFLOW];
	/* Late binding: with every worker busy, a connection bound to one
	 * waits for that worker's request; in the overflow queue it waits
	 * for the first worker to free. A migrated request stays bound.
	 */
	if (sc->least && !md->migrating_sk && sc->best_load[cls] &&
	    sc->best[CLS_OVERFLOW] >= 0)
		return sc->best[CLS_OVERFLOW];
	/* with one slot, best is the first and only one met */
	if (sc->least || n == 1)
		return sc->best[cls];

	switch (policy) {
	case RPD_POLICY_P2C:
		a = bpf_get_prandom_u32() % n;
		b = bpf_get_prandom_u32() % (n - 1);
		if (b >= a)
			b++;
		if (find_nth(sc, cls, 2, a, b) != 2)
			return -1;
		/* the better of the two; a tie keeps the first, itself random */
		if (lighter(sc->found_load[1], sc->found_weight[1],
			    sc->found_load[0], sc->found_weight[0]))
			return sc->found[1];
		return sc->found[0];
	case RPD_POLICY_ROUND_ROBIN:
		a = __sync_fetch_and_add(&cfg->rr_ticket, 1) % n;
		break;
	case RPD_POLICY_HASH:
		/* the kernel's own spread: reciprocal_scale(hash, n) */
		a = ((__u64)md->hash * n) >> 32;
		break;
	default:
		return sc->best[cls];
	}
	if (find_nth(sc, cls, 1, a, a) != 1)
		return -1;
	return sc->found[0];
}

/* An IPv4 peer of an IPv6 socket (::ffff:a.b.c.d) is keyed as IPv4, the
 * way its packets are.
 */
static __always_inline void conn_key_addrs(struct rpd_conn_key *key,
					   const __u32 *l6, const __u32 *r6)
{
	int i;

	if (!l6[0] && !l6[1] && l6[2] == bpf_htonl(0xffff)) {
		key->family = AF_INET;
		key->laddr[0] = l6[3];
		key->raddr[0] = r6[3];
		return;
	}
	key->family = AF_INET6;
	for (i = 0; i < 4; i++) {
		key->laddr[i] = l6[i];
		key->raddr[i] = r6[i];
	}
}

/* The connection a dispatch is for. A new one is read from its SYN, which
 * the md's data starts at the TCP header of; a migrated request has no
 * packet of its own (the kernel may pass an empty skb), so its socket.
 * Returns 0, or -1 if it cannot be told.
 */
static __always_inline int conn_key(struct sk_reuseport_md *md,
				    struct rpd_conn_key *key)
{
	struct bpf_sock *m = md->migrating_sk;
	__u32 l6[4], r6[4];
	__u16 ports[2];
	__u32 ip4[2];
	int i;

	__builtin_memset(key, 0, sizeof(*key));
	if (m) {
		key->lport = m->src_port;
		key->rport = bpf_ntohs(m->dst_port);
		if (m->family == AF_INET) {
			key->family = AF_INET;
			key->laddr[0] = m->src_ip4;
			key->raddr[0] = m->dst_ip4;
			return 0;
		}
		for (i = 0; i < 4; i++) {
			l6[i] = m->src_ip6[i];
			r6[i] = m->dst_ip6[i];
		}
		conn_key_addrs(key, l6, r6);
		return 0;
	}
	if (bpf_skb_load_bytes(md, 0, ports, sizeof(ports)))
		return -1;
	key->rport = bpf_ntohs(ports[0]);
	key->lport = bpf_ntohs(ports[1]);
	if (md->eth_protocol == bpf_htons(ETH_P_IP)) {
		/* saddr, daddr: 12 bytes into the IPv4 header */
		if (bpf_skb_load_bytes_relative(md, 12, ip4, sizeof(ip4),
						BPF_HDR_START_NET))
			return -1;
		key->family = AF_INET;
		key->raddr[0] = ip4[0];
		key->laddr[0] = ip4[1];
		return 0;
	}
	if (md->eth_protocol != bpf_htons(ETH_P_IPV6))
		return -1;
	/* saddr, daddr: 8 bytes into the IPv6 header */
	if (bpf_skb_load_bytes_relative(md, 8, r6, sizeof(r6),
					BPF_HDR_START_NET) ||
	    bpf_skb_load_bytes_relative(md, 24, l6, sizeof(l6),
					BPF_HDR_START_NET))
		return -1;
	key->family = AF_INET6;
	for (i = 0; i < 4; i++) {
		key->laddr[i] = l6[i];
		key->raddr[i] = r6[i];
	}
	return 0;
}

/* The connection left the slot it was recorded for: credit that slot,
 * once, unless a new owner took it since (the new owner wrote off what
 * the old one had in flight).
 */
static __always_inline void conn_end(struct rpd_conn_key *key)
{
	struct rpd_conn *c, v;
	struct rpd_slot *s;

	c = bpf_map_lookup_elem(&conns, key);
	if (!c)
		return;
	v = *c;
	/* whoever deletes the entry is the one that counts it */
	if (bpf_map_delete_elem(&conns, key))
		return;
	s = bpf_map_lookup_elem(&slots, &v.slot);
	if (s && s->gen == v.gen)
		__sync_fetch_and_add(&s->finished, 1);
}

/* After slot @k (owner @gen) took the connection. */
static __always_inline void conn_track(struct sk_reuseport_md *md, __u32 k,
				       const struct rpd_slot *s, __u32 gen)
{
	struct rpd_conn_key key;
	struct rpd_conn v = { .slot = k, .gen = gen };

	if (conn_key(md, &key))
		return;
	/* a migrated request was counted for the listener it leaves */
	if (md->migrating_sk)
		conn_end(&key);
	if (s->flags & RPD_SLOT_ATTACHED)
		bpf_map_update_elem(&conns, &key, &v, BPF_ANY);
}

SEC("sk_reuseport/migrate")
int rpd_dispatch(struct sk_reuseport_md *md)
{
	struct rpd_counters *cnt;
	struct rpd_config *cfg;
	struct rpd_slot *s;
	struct scan *sc;
	__u32 zero = 0, policy, k;
	__u64 *sel;
	int i, slot, err;
	__u32 live;

	cnt = bpf_map_lookup_elem(&counters, &zero);
	cfg = bpf_map_lookup_elem(&config, &zero);
	sc = scan_get();
	if (!cnt || !cfg || !sc)
		return SK_PASS;
	policy = cfg->policy;
	scan_init(sc, md);

	for (i = 0; i < RPD_SELECT_TRIES; i++) {
		slot = choose(md, sc, cfg, policy);
		if (slot < 0)
			break;
		k = slot;
		s = bpf_map_lookup_elem(&slots, &k);
		if (!s)
			break;
		live = s->live;
		err = bpf_sk_select_reuseport(md, &socks, &k, 0);
		if (!err) {
			__sync_fetch_and_add(&s->dispatched, 1);
			/* migrations too: they may leave an attached slot */
			if (md->migrating_sk || (s->flags & RPD_SLOT_ATTACHED))
				conn_track(md, k, s, live);
			sel = bpf_map_lookup_elem(&selected, &k);
			if (sel)
				*sel += 1;
			if (md->migrating_sk)
				cnt->migrated++;
			else
				cnt->selected++;
			return SK_PASS;
		}
		if (err != -ENOENT) {
			cnt->errors++;
			break;
		}
		/* The owner is gone (crash, or close before it cleared the
		 * slot): stop choosing it, unless a new owner took it since.
		 */
		cnt->empty++;
		if (live)
			__sync_val_compare_and_swap(&s->live, live, 0);
	}
	/* Never SK_DROP: without a choice the kernel's hash decides. */
	cnt->fallback++;
	return SK_PASS;
}

/*
 * The end of a connection: its socket reaches TCP_CLOSE once, whether it
 * was served and closed, reset before accept(), or dropped from the accept
 * queue of a closing listener. A tracepoint, not fentry/fexit: tp_btf
 * attaches where fentry is refused (EPERM on some kernels), and it needs
 * only BTF.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rpd_conn_end, const struct sock___rpd *sk, int oldstate,
	     int newstate)
{
	const struct sock_common___rpd *c = &sk->__sk_common;
	struct rpd_conn_key key;
	__u32 l6[4], r6[4];
	__u16 sport = 0;
	int i;

	if (newstate != TCP_CLOSE)
		return 0;
	__builtin_memset(&key, 0, sizeof(key));
	/* Not skc_num: tcp_set_state() gives the port back, zeroing it,
	 * just before the socket enters TCP_CLOSE. inet_sport stays (the
	 * tracepoint's own sport reads it); it lies beyond struct sock, so
	 * it is read with a probe.
	 */
	if (bpf_probe_read_kernel(&sport, sizeof(sport),
				  &((const struct inet_sock___rpd *)sk)->inet_sport))
		return 0;
	key.lport = bpf_ntohs(sport);
	key.rport = bpf_ntohs(c->skc_dport);
	if (c->skc_family == AF_INET) {
		key.family = AF_INET;
		key.laddr[0] = c->skc_rcv_saddr;
		key.raddr[0] = c->skc_daddr;
	} else if (c->skc_family == AF_INET6) {
		for (i = 0; i < 4; i++) {
			l6[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			r6[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
		}
		conn_key_addrs(&key, l6, r6);
	} else {
		return 0;
	}
	conn_end(&key);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
