/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Support for rpd's selftests: a private network namespace and bpffs per
 * test, running rpdctl, and real TCP clients and listeners on loopback.
 */
#ifndef RPD_TEST_H
#define RPD_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "rpd_abi.h"

struct rpd_group;
struct rpd_worker;

/* unshare() a network and mount namespace, bring lo up, mount a bpffs on a
 * fresh directory (written to @bpffs). Returns 0 or -errno.
 */
int rpdt_sandbox(char *bpffs, size_t len);
void rpdt_sandbox_done(const char *bpffs);

/* The build directory (from /proc/self/exe: BUILD/selftests/test_x). */
const char *rpdt_build_dir(void);

struct rpdt_out {
	int status;		/* exit code, or 128+signal */
	char out[65536];	/* stdout, NUL-terminated, truncated if longer */
	char err[4096];		/* stderr */
};

/* Run BUILD/NAME with the NULL-terminated arguments; 0 or -errno. */
int rpdt_run(struct rpdt_out *o, const char *name, const char *const argv[]);

/* The same, with @before called in the child just before exec (a
 * seccomp filter, say); it returns 0 or -errno, which fails the child.
 */
int rpdt_run_with(struct rpdt_out *o, const char *name,
		  const char *const argv[], int (*before)(void));

/* "rpdctl --bpffs BPFFS ARGS..." with a NULL-terminated list. */
int rpdt_ctl(struct rpdt_out *o, const char *bpffs, ...)
	__attribute__((sentinel));

/* Load GROUP with --max-workers @slots; 0 or the exit status. */
int rpdt_load(const char *bpffs, const char *group, int slots,
	      const char *policy);

/* A connected TCP client to @addr ("127.0.0.1:8080", "[::1]:8080");
 * @sport nonzero binds that source port. Returns the fd or -errno.
 */
int rpdt_connect(const char *addr, int sport);

/* Close with a RST, leaving no TIME_WAIT, so a 4-tuple can be reused. */
void rpdt_abort(int fd);

/* SO_COOKIE of socket @fd, 0 if it has none. */
__u64 rpdt_cookie(int fd);

/* Wait up to @timeout_ms for a connection on one of @n listeners; accept
 * it and return its fd, with the listener's index in @which. -ETIMEDOUT
 * if none came.
 */
int rpdt_accept_any(const int *lfds, int n, int timeout_ms, int *which);

/* Connect to @addr and return the index of the worker that got it
 * (accepted and closed), or -errno. @keep: leave the accepted fd open,
 * returned in *keep.
 */
int rpdt_which(struct rpd_worker *const *w, int n, const char *addr,
	       int *keep);

/* @n connections to @addr, one at a time, each accepted by one of the @nw
 * workers and closed without rpd_conn_done(), so it stays in flight. Each
 * one's worker is counted in @count and/or listed in @seq (either may be
 * NULL). 0, or the -errno of the first connection that failed.
 */
int rpdt_spread(struct rpd_worker *const *w, int nw, const char *addr, int n,
		int *count, int *seq);

/* Pinned maps of a group, read the way rpdctl reads them. */
int rpdt_counters(const char *bpffs, const char *group,
		  struct rpd_counters *sum);
int rpdt_slot(const char *bpffs, const char *group, __u32 slot,
	      struct rpd_slot *s);

/* The id of the program pinned as BPFFS/rpd/GROUP/PIN, or with @link, of
 * the program of the link pinned there; 0 if there is none.
 */
__u32 rpdt_pinned_prog(const char *bpffs, const char *group, const char *pin,
		       bool link);

#endif /* RPD_TEST_H */
