// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "rpd_abi.h"
#include "rpd_util.h"

bool rpdu_group_name_valid(const char *name)
{
	size_t n = strlen(name);

	/* No '.': bpffs refuses any name with a dot (bpf_lookup() in
	 * kernel/bpf/inode.c reserves them), so "." and ".." go too.
	 */
	if (n == 0 || n > RPD_GROUP_NAME_MAX)
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789_-") == n;
}

int rpdu_root_dir(char *buf, size_t len, const char *bpffs)
{
	int n = snprintf(buf, len, "%s/rpd", bpffs ? bpffs : RPD_BPFFS_DEFAULT);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int rpdu_group_path(char *buf, size_t len, const char *bpffs,
		    const char *group, const char *pin)
{
	int n = snprintf(buf, len, "%s/rpd/%s%s%s",
			 bpffs ? bpffs : RPD_BPFFS_DEFAULT, group,
			 pin ? "/" : "", pin ? pin : "");

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int rpdu_bpffs_check(const char *dir)
{
	struct statfs sfs;
	struct stat st;

	if (stat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (statfs(dir, &sfs))
		return -errno;
	if ((unsigned long)sfs.f_type != BPF_FS_MAGIC)
		return -EMEDIUMTYPE;
	return 0;
}

static int parse_port(const char *s, in_port_t *port, const char **why)
{
	unsigned long v;
	char *end;

	if (!*s) {
		*why = "missing port";
		return -EINVAL;
	}
	if (strspn(s, "0123456789") != strlen(s)) {
		*why = "port is not a number";
		return -EINVAL;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || v == 0 || v > 65535) {
		*why = "port out of range (1-65535)";
		return -EINVAL;
	}
	*port = htons((in_port_t)v);
	return 0;
}

int rpdu_parse_addr(const char *s, struct sockaddr_storage *ss,
		    socklen_t *len, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port, *colon;
	size_t hlen;
	in_port_t p;
	int err;

	*why = NULL;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close) {
			*why = "missing ']' after IPv6 address";
			return -EINVAL;
		}
		if (close[1] != ':') {
			*why = "missing ':PORT' after ']'";
			return -EINVAL;
		}
		hlen = close - s - 1;
		port = close + 2;
		if (hlen == 0 || hlen >= sizeof(host)) {
			*why = "bad IPv6 address";
			return -EINVAL;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		err = parse_port(port, &p, why);
		if (err)
			return err;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*why = "bad IPv6 address";
			return -EINVAL;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = p;
		*len = sizeof(*sin6);
		return 0;
	}

	colon = strrchr(s, ':');
	if (!colon) {
		*why = "expected ADDR:PORT";
		return -EINVAL;
	}
	if (strchr(s, ':') != colon) {
		*why = "an IPv6 address needs brackets: [ADDR]:PORT";
		return -EINVAL;
	}
	hlen = colon - s;
	if (hlen == 0 || hlen >= sizeof(host)) {
		*why = "bad IPv4 address";
		return -EINVAL;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	err = parse_port(colon + 1, &p, why);
	if (err)
		return err;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	if (!strcmp(host, "*")) {
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	} else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		*why = "bad IPv4 address";
		return -EINVAL;
	}
	sin->sin_family = AF_INET;
	sin->sin_port = p;
	*len = sizeof(*sin);
	return 0;
}

void rpdu_format_addr(char *buf, size_t len, __u16 family, __u16 port,
		      const __u32 addr[4])
{
	char host[INET6_ADDRSTRLEN];

	if (family == AF_INET6) {
		inet_ntop(AF_INET6, addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, port);
	} else if (family == AF_INET) {
		inet_ntop(AF_INET, addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, port);
	} else {
		snprintf(buf, len, "-");
	}
}

void rpdu_addr_fields(const struct sockaddr_storage *ss, __u16 *family,
		      __u16 *port, __u32 addr[4])
{
	memset(addr, 0, 4 * sizeof(__u32));
	*family = ss->ss_family;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		memcpy(addr, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
	} else {
		const struct sockaddr_in *sin = (const void *)ss;

		addr[0] = sin->sin_addr.s_addr;
		*port = ntohs(sin->sin_port);
	}
}

static const char *const policy_names[RPD_POLICY_MAX] = {
	[RPD_POLICY_LEAST_CONN]		= "least-conn",
	[RPD_POLICY_P2C]		= "p2c",
	[RPD_POLICY_ROUND_ROBIN]	= "round-robin",
	[RPD_POLICY_HASH]		= "hash",
};

const char *const rpdu_policy_list = "least-conn, p2c, round-robin, hash";

const char *rpdu_policy_name(__u32 policy)
{
	return policy < RPD_POLICY_MAX ? policy_names[policy] : "unknown";
}

int rpdu_policy_parse(const char *name)
{
	int i;

	for (i = 0; i < RPD_POLICY_MAX; i++)
		if (!strcmp(name, policy_names[i]))
			return i;
	return -EINVAL;
}

bool rpdu_accept_retry(int err)
{
	switch (err) {
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case ENOPROTOOPT:
	case ENETDOWN:
	case ENETUNREACH:
	case EHOSTDOWN:
	case EHOSTUNREACH:
	case ENONET:
	case EOPNOTSUPP:
		return true;
	}
	return false;
}

/* A decimal id below the "no change" value -1, or -1 if @s is not one. */
static long long parse_id(const char *s)
{
	unsigned long long n;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (*end || errno || n >= (uid_t)-1)
		return -1;
	return n;
}

int rpdu_parse_owner(const char *s, uid_t *uid, gid_t *gid, const char **why)
{
	char user[256], *group;
	const struct passwd *pw;
	const struct group *gr;
	long long id;

	if (snprintf(user, sizeof(user), "%s", s) >= (int)sizeof(user)) {
		*why = "too long";
		return -EINVAL;
	}
	group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	pw = user[0] ? getpwnam(user) : NULL;
	if (pw) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	} else if ((id = parse_id(user)) >= 0) {
		*uid = *gid = id;
	} else {
		*why = "no such user";
		return -EINVAL;
	}
	if (!group)
		return 0;
	gr = group[0] ? getgrnam(group) : NULL;
	if (gr) {
		*gid = gr->gr_gid;
	} else if ((id = parse_id(group)) >= 0) {
		*gid = id;
	} else {
		*why = "no such group";
		return -EINVAL;
	}
	return 0;
}
