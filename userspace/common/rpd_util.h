/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers shared by librpd and rpdctl: group names and pin paths, bpffs,
 * listen addresses, policy names. Nothing here is exported from librpd.so.
 */
#ifndef RPD_UTIL_H
#define RPD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <linux/types.h>

/* Socket options older libc headers lack (asm-generic/socket.h values). */
#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF	52
#endif
#ifndef SO_COOKIE
#define SO_COOKIE			57
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF		68
#endif

#define RPD_BPFFS_DEFAULT	"/sys/fs/bpf"
#define RPD_GROUP_NAME_MAX	64

/* Names of the pins under BPFFS/rpd/GROUP/ (see bpf/rpd_abi.h). */
#define RPD_PIN_PROG		"prog"
#define RPD_PIN_SOCKS		"socks"
#define RPD_PIN_SLOTS		"slots"
#define RPD_PIN_CONFIG		"config"
#define RPD_PIN_COUNTERS	"counters"
#define RPD_PIN_SELECTED	"selected"
#define RPD_PIN_CONNS		"conns"
#define RPD_PIN_TRACKER		"tracker"	/* the end tracker program */
#define RPD_PIN_TRACK		"track"		/* its link, from the first attach */

/* 1-64 of [A-Za-z0-9_-]: one path component that bpffs accepts. */
#define RPD_GROUP_NAME_RULE	"1-64 of A-Z a-z 0-9 _ - (bpffs refuses dots)"
bool rpdu_group_name_valid(const char *name);

/* "BPFFS/rpd" and "BPFFS/rpd/GROUP[/PIN]"; -ENAMETOOLONG if it won't fit. */
int rpdu_root_dir(char *buf, size_t len, const char *bpffs);
int rpdu_group_path(char *buf, size_t len, const char *bpffs,
		    const char *group, const char *pin);

/* 0 if @dir is on a bpf filesystem, -ENOTDIR/-ENOENT/-EMEDIUMTYPE if not. */
int rpdu_bpffs_check(const char *dir);

/* Parse "ADDR:PORT": "127.0.0.1:80", "[::1]:8080", "*:80" (IPv4 any),
 * "[::]:80" (IPv6 any). On error returns -EINVAL and points @why at the
 * reason ("port out of range", ...).
 */
int rpdu_parse_addr(const char *s, struct sockaddr_storage *ss,
		    socklen_t *len, const char **why);

/* "127.0.0.1:80" / "[::1]:8080" from a slot's family, port, addr[4]. */
void rpdu_format_addr(char *buf, size_t len, __u16 family, __u16 port,
		      const __u32 addr[4]);

/* The same fields from a socket address, as the dispatcher compares them. */
void rpdu_addr_fields(const struct sockaddr_storage *ss, __u16 *family,
		      __u16 *port, __u32 addr[4]);

/* accept(2) reports a new connection's pending network errors (and an
 * interrupt or an abort before accept): the client's problem, not the
 * listener's, so the caller accepts again.  See accept(2), "Error handling".
 */
bool rpdu_accept_retry(int err);

/* "USER[:GROUP]", names or numbers; without GROUP, USER's own group (a
 * number's group is the same number). -EINVAL with @why on error.
 */
int rpdu_parse_owner(const char *s, uid_t *uid, gid_t *gid, const char **why);

/* The owner of a slot, as rpdu_slot_publish() writes it. */
struct rpdu_owner {
	__u32 weight;
	__u32 pid;		/* serving worker, 0 if unknown */
	__u64 cookie;		/* SO_COOKIE of the listener */
	__u32 flags;		/* RPD_SLOT_* */
	__u32 holder;		/* attached: the process named to attach */
	struct sockaddr_storage addr;
};

struct rpd_slot;

/* Insert @fd into the first free slot from @start on; 0 and *@slot, or
 * -ENOSPC when every slot is taken, or the bpf() error.
 */
int rpdu_slot_claim(int socks_fd, __u32 nr_slots, int fd, __u32 start,
		    __u32 *slot);
/* Make a claimed slot serve for @o, through the mmap of the slot map. */
void rpdu_slot_publish(struct rpd_slot *s, const struct rpdu_owner *o);

/* Policy names: "least-conn", "p2c", "round-robin", "hash". */
const char *rpdu_policy_name(__u32 policy);
int rpdu_policy_parse(const char *name);	/* -EINVAL if unknown */
extern const char *const rpdu_policy_list;	/* "least-conn, p2c, ..." */

#endif /* RPD_UTIL_H */
