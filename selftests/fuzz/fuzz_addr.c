// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The parsers of what users type: ADDR:PORT, group names, policy names.
 * Whatever parses must format back to text that parses to the same
 * thing; whatever does not must say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "rpd_util.h"

#define INPUT_MAX	512

static void check_addr(const char *s)
{
	struct sockaddr_storage ss, ss2;
	__u32 addr[4], addr2[4];
	__u16 fam, fam2, port, port2;
	char text[128];
	const char *why = NULL;
	socklen_t len, len2;

	if (rpdu_parse_addr(s, &ss, &len, &why)) {
		if (!why || !why[0])
			abort();
		return;
	}
	if (ss.ss_family == AF_INET ? len != sizeof(struct sockaddr_in) :
	    ss.ss_family == AF_INET6 ? len != sizeof(struct sockaddr_in6) : 1)
		abort();
	rpdu_addr_fields(&ss, &fam, &port, addr);
	rpdu_format_addr(text, sizeof(text), fam, port, addr);
	if (rpdu_parse_addr(text, &ss2, &len2, &why))
		abort();
	rpdu_addr_fields(&ss2, &fam2, &port2, addr2);
	if (fam != fam2 || port != port2 || memcmp(addr, addr2, sizeof(addr)))
		abort();
}

static void check_names(const char *s)
{
	char path[RPD_GROUP_NAME_MAX + 64];
	int policy;

	if (rpdu_group_name_valid(s) &&
	    (strlen(s) > RPD_GROUP_NAME_MAX || strchr(s, '/') || strchr(s, '.') ||
	     rpdu_group_path(path, sizeof(path), "/b", s, RPD_PIN_SELECTED)))
		abort();
	policy = rpdu_policy_parse(s);
	if (policy >= 0 && strcmp(rpdu_policy_name(policy), s))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[INPUT_MAX + 1];

	if (size > INPUT_MAX)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_addr(s);
	check_names(s);
	return 0;
}
