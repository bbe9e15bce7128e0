/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * librpd: take part in an rpd group as a worker.
 *
 *	struct rpd_group *g;
 *	struct rpd_worker *w;
 *
 *	if (rpd_group_open("web", NULL, &g) ||
 *	    rpd_listen(g, "127.0.0.1:8080", NULL, &w))
 *		errx(1, "%s", rpd_errmsg());
 *	for (;;) {
 *		int c = accept(rpd_worker_fd(w), NULL, NULL);
 *		serve(c);
 *		close(c);
 *		rpd_conn_done(w);	// no syscall: an atomic add in an mmap
 *	}
 *
 * rpd_group_open() and rpd_listen() call bpf() on the group's pins: they
 * need access to the pins (root's 0600 unless 'rpdctl load --owner' gave
 * them away) and, before Linux 5.19 with unprivileged bpf() disabled,
 * CAP_BPF. Everything after rpd_listen() works through the
 * listener fd and the mmap of the slot map, so a worker may drop its
 * privileges once it listens, and children inherit both across fork().
 *
 * Every call that can fail returns 0 or a negative errno and leaves a
 * one-line message for rpd_errmsg() naming the object and the cause.
 */
#ifndef RPD_H
#define RPD_H

#ifdef __cplusplus
extern "C" {
#endif

#define RPD_API __attribute__((visibility("default")))

struct rpd_group;
struct rpd_worker;

/* Open the group pinned at BPFFS/rpd/NAME (@bpffs NULL: /sys/fs/bpf).
 *  -ENOENT	the group is not loaded ("rpdctl load NAME")
 *  -EINVAL	bad group name
 *  -EMEDIUMTYPE @bpffs is not a bpf filesystem
 *  -EPROTO	the group was loaded by an rpd of another ABI version
 *  -EPERM	no access to the pins, or no CAP_BPF where bpf() wants it
 */
RPD_API int rpd_group_open(const char *name, const char *bpffs,
			   struct rpd_group **out);
RPD_API void rpd_group_close(struct rpd_group *g);
RPD_API const char *rpd_group_name(const struct rpd_group *g);
RPD_API int rpd_group_nr_slots(const struct rpd_group *g);

struct rpd_listen_opts {
	int backlog;		/* 0: SOMAXCONN */
	unsigned int weight;	/* 0: 1; at most 65535 */
	int nonblock;		/* nonzero: O_NONBLOCK listener */
};

/* Create a SO_REUSEPORT listener on @addr ("127.0.0.1:8080", "[::1]:8080",
 * "*:8080"), claim a free slot of the group for it (atomically: two workers
 * never share a slot), and attach the group's dispatcher to the listener's
 * reuseport group. IPv6 listeners are IPV6_V6ONLY so two addresses never
 * share a kernel group.
 *  -EINVAL	bad address (message says why)
 *  -EADDRINUSE	the address is held by a socket outside the group
 *  -ENOSPC	the group is full
 *  -EPERM	no access to the pins, or no CAP_BPF where bpf() wants it
 */
RPD_API int rpd_listen(struct rpd_group *g, const char *addr,
		       const struct rpd_listen_opts *opts,
		       struct rpd_worker **out);

/*
 * Late binding: an overflow queue for @addr, a listener in a slot of its
 * own. least-conn sends a connection there only when no worker of the
 * address is idle, so it goes to whichever worker frees first rather
 * than waiting for the busy one it would have been bound to (for equal
 * workers, the tail of one shared queue). Call it before fork() in the
 * parent of prefork workers: each worker then waits on its own listener
 * and this one (O_NONBLOCK; poll both), takes its own connections first,
 * and takes from this one with rpd_accept_overflow(). Same errors as
 * rpd_listen(); its weight is not used.
 */
RPD_API int rpd_listen_overflow(struct rpd_group *g, const char *addr,
				const struct rpd_listen_opts *opts,
				struct rpd_worker **out);

/* accept4(@ovf's listener, NULL, NULL, @flags) for worker @w: the
 * connection is @w's from then on, ended with rpd_conn_done(@w). The fd,
 * or -errno with nothing counted: -EAGAIN when another worker took it
 * first, -EINVAL if @ovf is not an overflow queue.
 */
RPD_API int rpd_accept_overflow(struct rpd_worker *w, struct rpd_worker *ovf,
				int flags);

RPD_API int rpd_worker_fd(const struct rpd_worker *w);
RPD_API int rpd_worker_slot(const struct rpd_worker *w);

/* One connection of this worker ended: lowers its load. No syscall. */
RPD_API void rpd_conn_done(struct rpd_worker *w);

/* Drain: no new connections while another slot can take them. */
RPD_API int rpd_set_drain(struct rpd_worker *w, int on);
/* Weight 1-65535: least-conn compares in-flight / weight. -ERANGE else. */
RPD_API int rpd_set_weight(struct rpd_worker *w, unsigned int weight);

/* Stop taking connections, close the listener (queued connections move to
 * the other workers) and free the slot.
 */
RPD_API void rpd_worker_close(struct rpd_worker *w);

/* The message of the last failed call in this thread. */
RPD_API const char *rpd_errmsg(void);

#ifdef __cplusplus
}
#endif

#endif /* RPD_H */
