// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Claiming a slot and publishing its owner: the same steps for a worker
 * that joins through librpd and for a listener rpdctl attaches from
 * outside.
 */
#include <errno.h>
#include <bpf/bpf.h>

#include "rpd_abi.h"
#include "rpd_util.h"

int rpdu_slot_claim(int socks_fd, __u32 nr_slots, int fd, __u32 start,
		    __u32 *slot)
{
	__u64 val = fd;
	__u32 i, k;

	/* BPF_NOEXIST is the claim: two owners can never hold one slot */
	for (i = 0; i < nr_slots; i++) {
		k = (start + i) % nr_slots;
		if (!bpf_map_update_elem(socks_fd, &k, &val, BPF_NOEXIST)) {
			*slot = k;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -ENOSPC;
}

void rpdu_slot_publish(struct rpd_slot *s, const struct rpdu_owner *o)
{
	__u64 d, f;
	__u32 gen;

	/*
	 * The slot is claimed but not live, so the program does not
	 * dispatch to it. A new generation first: from here on the ends of
	 * the previous owner's connections are no longer counted for this
	 * slot, so writing off what it left in flight cannot count one
	 * twice. A buggy owner may also have reported more finishes than
	 * dispatches: modular arithmetic writes off both ways. Then the
	 * owner, then live.
	 */
	gen = __atomic_add_fetch(&s->gen, 1, __ATOMIC_RELAXED);
	if (!gen)
		gen = __atomic_add_fetch(&s->gen, 1, __ATOMIC_RELAXED);
	d = __atomic_load_n(&s->dispatched, __ATOMIC_RELAXED);
	f = __atomic_load_n(&s->finished, __ATOMIC_RELAXED);
	if (d != f)
		__atomic_fetch_add(&s->finished, d - f, __ATOMIC_RELAXED);
	s->weight = o->weight;
	s->drain = 0;
	s->pid = o->pid;
	s->cookie = o->cookie;
	s->flags = o->flags;
	s->holder = o->holder;
	rpdu_addr_fields(&o->addr, &s->family, &s->port, s->addr);
	__atomic_store_n(&s->live, gen, __ATOMIC_RELEASE);
}
