// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpdctl stats' numbers and output on any slot contents (a worker may
 * write anything into its own slot): the JSON must parse, every share be
 * a percentage, the balance within its bounds.
 *
 * Input: a header (policy, nr_slots, the program's counters, pretty),
 * then rows of (slot, selected, struct rpd_slot); the group name is the
 * bytes left over.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../json.h"	/* the selftests' JSON reader */
#include "rpdctl.h"

#define ROWS_MAX	64

struct hdr {
	__u32 policy;
	__u32 nr_slots;
	struct rpd_counters counters;
	__u8 pretty;
} __attribute__((packed));

struct row {
	__u32 slot;
	__u64 selected;
	struct rpd_slot s;
} __attribute__((packed));

static void check_json(const char *text, size_t len, __u32 n)
{
	struct json_value *doc = json_parse(text, len, NULL, 0);
	char path[64];
	double share, sum = 0;
	__u32 i;

	if (!doc || json_len(doc, "slots") != (long)n)
		abort();
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "slots[%u].share", i);
		share = json_num(doc, path);
		if (!(share >= 0 && share <= 100))
			abort();
		sum += share;
	}
	/* %.6g rounds each share */
	if (n && sum > 100.01)
		abort();
	if (!(json_num(doc, "balance.max_min") >= 1) ||
	    !(json_num(doc, "balance.cov") >= 0) ||
	    !(json_num(doc, "balance.jain") > 0 && json_num(doc, "balance.jain") <= 1.000001))
		abort();
	json_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slot_row rows[ROWS_MAX];
	__u64 selected[ROWS_MAX];
	struct snapshot sn = { .rows = rows, .selected = selected };
	char *name, *text = NULL;
	size_t len = 0;
	struct row r;
	struct hdr h;
	FILE *f;

	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);
	sn.policy = h.policy;
	sn.nr_slots = h.nr_slots;
	sn.counters = h.counters;
	while (size >= sizeof(r) && sn.n < ROWS_MAX) {
		memcpy(&r, data, sizeof(r));
		data += sizeof(r);
		size -= sizeof(r);
		rows[sn.n].slot = r.slot;
		rows[sn.n].s = r.s;
		/* as group_read_in_use() names it */
		rpdu_format_addr(rows[sn.n].addr, sizeof(rows[sn.n].addr), r.s.family,
				 r.s.port, r.s.addr);
		selected[sn.n++] = r.selected;
	}
	name = strndup((const char *)data, size);
	if (!name)
		return 0;
	stats_sum(&sn);

	opts.pretty = h.pretty & 1;
	f = open_memstream(&text, &len);
	if (!f)
		abort();
	stats_print_json(f, &sn, name);
	fclose(f);
	check_json(text, len, sn.n);
	free(text);

	f = fopen("/dev/null", "w");
	if (!f)
		abort();
	stats_print_text(f, &sn, name);
	fclose(f);
	free(name);
	return 0;
}
