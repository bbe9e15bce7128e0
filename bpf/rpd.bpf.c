// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpd dispatcher: picks the listener of a SO_REUSEPORT group for every new
 * connection, and for every request moved off a closing listener.
 *
 * Slots are scanned with bpf_loop(): the verifier rejects a loop bounded by
 * a map value, and a constant bound of RPD_MAX_SLOTS would be walked whole.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "rpd_abi.h"

#define ENOENT		2
#define AF_INET		2
#define AF_INET6	10

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

/* Slots that may take the connection come in two classes: serving, and
 * draining (only used when no serving slot is left).
 */
enum { CLS_SERVING, CLS_DRAINING, CLS_MAX };

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
	sc->cnt[CLS_SERVING] = sc->cnt[CLS_DRAINING] = 0;
	sc->ties[CLS_SERVING] = sc->ties[CLS_DRAINING] = 0;
	sc->best[CLS_SERVING] = sc->best[CLS_DRAINING] = -1;
	bpf_loop(nr_slots, scan_least, NULL, 0);

	cls = sc->cnt[CLS_SERVING] ? CLS_SERVING : CLS_DRAINING;
	n = sc->cnt[cls];
	if (!n)
		return -1;
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
