// SPDX-License-Identifier: GPL-2.0
/*
 * rpd_epoll_fifo: FIFO wake order for EPOLLEXCLUSIVE waiters on a
 * listening TCP socket.
 *
 * Every epoll instance that watches a listening socket with EPOLLEXCLUSIVE
 * puts one exclusive entry on the socket's wait queue, in the order the
 * workers registered.  A new connection wakes the first entry whose epoll
 * has an idle waiter, and the entries never move: at low load the first
 * worker takes nearly every connection.  Jason Baron's EPOLLROUNDROBIN
 * patches (2015, not merged) moved the woken exclusive entry to the tail of
 * the queue.  This module does the same from outside, for the sockets that
 * opt in.
 *
 * How: a participating listener's sk_data_ready, normally
 * sock_def_readable(), is replaced by efifo_data_ready(), which performs
 * the same wakeup (the walk of __wake_up_common() with nr_exclusive = 1,
 * under the wait-queue lock) and then moves the woken entry to the tail if
 * it belongs to epoll.  Entries of other kinds are never touched after
 * their callback returns: a task blocked in accept() removes its own entry
 * and may free it as soon as it is woken.  epoll's entries are freed only
 * under the wait-queue lock, which this walk holds.  No private kernel
 * structure is read: ep_poll_callback() and sock_def_readable() are only
 * compared by address, found through kprobes' symbol lookup at load time.
 *
 * mode=off:    every participating socket wakes like an ordinary one.
 * mode=listed: sockets registered through /dev/rpd_epoll_fifo (default).
 * mode=all:    also every TCP listener that calls listen() while the mode
 *              is "all" (a kretprobe on inet_csk_listen_start()).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/kobject.h>
#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/sysfs.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/sock.h>
#include <net/tcp_states.h>

#include "rpd_epoll_fifo.h"

enum efifo_mode {
	EFIFO_OFF,
	EFIFO_LISTED,
	EFIFO_ALL,
};

static const char * const efifo_mode_names[] = {
	[EFIFO_OFF]	= "off",
	[EFIFO_LISTED]	= "listed",
	[EFIFO_ALL]	= "all",
};

static int efifo_mode = EFIFO_LISTED;

/* One participating listener.  The reference keeps @sk allocated, so a
 * socket closed behind our back is still safe to look at until the
 * collector drops it.
 */
struct efifo_sock {
	struct list_head node;
	struct sock *sk;
	bool listed;		/* registered by ioctl, not by mode=all */
};

static LIST_HEAD(efifo_socks);
static DEFINE_SPINLOCK(efifo_lock);	/* efifo_socks, efifo_nr_socks */
static unsigned int efifo_nr_socks;

static atomic_long_t efifo_excl_wakeups = ATOMIC_LONG_INIT(0);
static atomic_long_t efifo_rotations = ATOMIC_LONG_INIT(0);

static void (*efifo_def_readable)(struct sock *sk);
static wait_queue_func_t efifo_ep_callback;
static bool efifo_kretprobe_on;

/*
 * The wakeup of sock_def_readable() with a rotation: walk the queue as
 * __wake_up_common() does for one exclusive waiter, and move the epoll
 * entry that took the wakeup behind every other entry.
 */
static void efifo_wake(struct wait_queue_head *wqh)
{
	void *key = poll_to_key(EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND);
	struct wait_queue_entry *curr, *next;
	unsigned long flags;

	spin_lock_irqsave(&wqh->lock, flags);
	list_for_each_entry_safe(curr, next, &wqh->head, entry) {
		/* read before the callback: it may free a non-epoll entry */
		unsigned int wflags = curr->flags;
		wait_queue_func_t func = curr->func;
		int ret;

		if (wflags & WQ_FLAG_BOOKMARK)
			continue;
		ret = func(curr, TASK_INTERRUPTIBLE, 0, key);
		if (ret < 0)
			break;
		if (!ret || !(wflags & WQ_FLAG_EXCLUSIVE))
			continue;
		atomic_long_inc(&efifo_excl_wakeups);
		if (func == efifo_ep_callback &&
		    !list_is_last(&curr->entry, &wqh->head)) {
			list_move_tail(&curr->entry, &wqh->head);
			atomic_long_inc(&efifo_rotations);
		}
		break;
	}
	spin_unlock_irqrestore(&wqh->lock, flags);
}

static void efifo_readable(struct sock *sk, bool rotate)
{
	struct socket_wq *wq;

	if (!rotate) {
		efifo_def_readable(sk);
		return;
	}
	rcu_read_lock();
	wq = rcu_dereference(sk->sk_wq);
	if (skwq_has_sleeper(wq))
		efifo_wake(&wq->wait);
	sk_wake_async(sk, SOCK_WAKE_WAITD, POLL_IN);
	rcu_read_unlock();
}

/* Two callbacks, so that the hot path needs no lookup of the socket. */
static void efifo_data_ready_listed(struct sock *sk)
{
	efifo_readable(sk, READ_ONCE(efifo_mode) != EFIFO_OFF);
}

static void efifo_data_ready_auto(struct sock *sk)
{
	efifo_readable(sk, READ_ONCE(efifo_mode) == EFIFO_ALL);
}

static bool efifo_is_ours(void (*fn)(struct sock *sk))
{
	return fn == efifo_data_ready_listed || fn == efifo_data_ready_auto;
}

/* Put @sk's data_ready back if it is still one of ours. */
static void efifo_restore(struct sock *sk)
{
	write_lock_bh(&sk->sk_callback_lock);
	if (efifo_is_ours(sk->sk_data_ready))
		WRITE_ONCE(sk->sk_data_ready, efifo_def_readable);
	write_unlock_bh(&sk->sk_callback_lock);
}

static struct efifo_sock *efifo_find(struct sock *sk)
{
	struct efifo_sock *es;

	lockdep_assert_held(&efifo_lock);
	list_for_each_entry(es, &efifo_socks, node)
		if (es->sk == sk)
			return es;
	return NULL;
}

/*
 * Make @sk participate.  Called with @sk locked (the ioctl, or listen()
 * itself for mode=all), from process context; may not sleep because the
 * kretprobe handler runs with preemption off.
 */
static int efifo_attach(struct sock *sk, bool listed)
{
	struct efifo_sock *es, *old;
	int err = 0;

	es = kzalloc(sizeof(*es), GFP_ATOMIC);
	if (!es)
		return -ENOMEM;
	es->sk = sk;
	es->listed = listed;

	spin_lock_bh(&efifo_lock);
	old = efifo_find(sk);
	if (old) {
		/* an auto entry is promoted; a listed one is a duplicate */
		if (old->listed || !listed) {
			err = -EEXIST;
		} else {
			old->listed = true;
			write_lock_bh(&sk->sk_callback_lock);
			WRITE_ONCE(sk->sk_data_ready, efifo_data_ready_listed);
			write_unlock_bh(&sk->sk_callback_lock);
		}
		goto out_free;
	}
	if (efifo_nr_socks >= RPD_EFIFO_MAX_SOCKS) {
		err = -ENOSPC;
		goto out_free;
	}
	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_data_ready != efifo_def_readable) {
		/* someone else (TLS, sockmap, a driver) owns the callback */
		write_unlock_bh(&sk->sk_callback_lock);
		err = -EBUSY;
		goto out_free;
	}
	WRITE_ONCE(sk->sk_data_ready, listed ? efifo_data_ready_listed :
					       efifo_data_ready_auto);
	write_unlock_bh(&sk->sk_callback_lock);
	sock_hold(sk);
	list_add_tail(&es->node, &efifo_socks);
	efifo_nr_socks++;
	spin_unlock_bh(&efifo_lock);
	return 0;

out_free:
	spin_unlock_bh(&efifo_lock);
	kfree(es);
	return err;
}

static void efifo_release(struct list_head *gone)
{
	struct efifo_sock *es, *tmp;

	list_for_each_entry_safe(es, tmp, gone, node) {
		efifo_restore(es->sk);
		sock_put(es->sk);
		kfree(es);
	}
}

static int efifo_detach(struct sock *sk)
{
	struct efifo_sock *es;
	LIST_HEAD(gone);

	spin_lock_bh(&efifo_lock);
	es = efifo_find(sk);
	if (es && es->listed) {
		list_move(&es->node, &gone);
		efifo_nr_socks--;
	}
	spin_unlock_bh(&efifo_lock);
	if (list_empty(&gone))
		return -ENOENT;
	efifo_release(&gone);
	return 0;
}

/*
 * A registration ends when its socket is closed for good.  Closing orphans
 * the sock (SOCK_DEAD); the reference held here keeps it allocated until
 * this collector, run once a second and before every ioctl, lets it go.
 */
static void efifo_collect(void)
{
	struct efifo_sock *es, *tmp;
	LIST_HEAD(gone);

	spin_lock_bh(&efifo_lock);
	list_for_each_entry_safe(es, tmp, &efifo_socks, node) {
		if (sock_flag(es->sk, SOCK_DEAD)) {
			list_move(&es->node, &gone);
			efifo_nr_socks--;
		}
	}
	spin_unlock_bh(&efifo_lock);
	efifo_release(&gone);
}

static void efifo_gc_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(efifo_gc, efifo_gc_fn);

static void efifo_gc_fn(struct work_struct *work)
{
	efifo_collect();
	schedule_delayed_work(&efifo_gc, HZ);
}

/* --- control device -------------------------------------------------------- */

static long efifo_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct socket *sock;
	struct sock *sk;
	int err, fd;

	if (cmd != RPD_EFIFO_ADD && cmd != RPD_EFIFO_DEL &&
	    cmd != RPD_EFIFO_QUERY)
		return -ENOTTY;
	if (!capable(CAP_NET_ADMIN))
		return -EPERM;
	if (arg > INT_MAX)
		return -EBADF;
	fd = (int)arg;

	efifo_collect();
	sock = sockfd_lookup(fd, &err);
	if (!sock)
		return err;
	sk = sock->sk;
	if (!sk || sk->sk_type != SOCK_STREAM ||
	    sk->sk_protocol != IPPROTO_TCP ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6)) {
		err = -EPROTONOSUPPORT;
		goto out;
	}

	lock_sock(sk);
	switch (cmd) {
	case RPD_EFIFO_ADD:
		err = sk->sk_state == TCP_LISTEN ? efifo_attach(sk, true) : -EINVAL;
		break;
	case RPD_EFIFO_DEL:
		err = efifo_detach(sk);
		break;
	case RPD_EFIFO_QUERY: {
		struct efifo_sock *es;

		spin_lock_bh(&efifo_lock);
		es = efifo_find(sk);
		err = es && es->listed;
		spin_unlock_bh(&efifo_lock);
		break;
	}
	}
	release_sock(sk);
out:
	sockfd_put(sock);
	return err;
}

static const struct file_operations efifo_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= efifo_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice efifo_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= RPD_EFIFO_NAME,
	.fops	= &efifo_fops,
	.mode	= 0600,
};

/* --- mode=all: every new TCP listener -------------------------------------- */

static int efifo_listen_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	*(struct sock **)ri->data =
		(struct sock *)regs_get_kernel_argument(regs, 0);
	return 0;
}

static int efifo_listen_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct sock *sk = *(struct sock **)ri->data;

	if (READ_ONCE(efifo_mode) != EFIFO_ALL || regs_return_value(regs))
		return 0;
	if (sk->sk_protocol == IPPROTO_TCP && sk->sk_type == SOCK_STREAM)
		efifo_attach(sk, false);	/* best effort: EBUSY stays as is */
	return 0;
}

static struct kretprobe efifo_listen_probe = {
	.kp.symbol_name	= "inet_csk_listen_start",
	.entry_handler	= efifo_listen_entry,
	.handler	= efifo_listen_ret,
	.data_size	= sizeof(struct sock *),
	.maxactive	= 64,
};

/* --- mode parameter ---------------------------------------------------------- */

static int efifo_mode_set(const char *val, const struct kernel_param *kp)
{
	int i = sysfs_match_string(efifo_mode_names, val);

	if (i < 0) {
		pr_err("mode: not one of off, listed, all\n");
		return -EINVAL;
	}
	if (i == EFIFO_ALL && !efifo_kretprobe_on && efifo_ep_callback) {
		/* loaded, but the probe on listen() could not be placed */
		pr_err("mode: all needs the kretprobe on inet_csk_listen_start\n");
		return -EOPNOTSUPP;
	}
	WRITE_ONCE(efifo_mode, i);
	return 0;
}

static int efifo_mode_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", efifo_mode_names[READ_ONCE(efifo_mode)]);
}

static const struct kernel_param_ops efifo_mode_ops = {
	.set	= efifo_mode_set,
	.get	= efifo_mode_get,
};

module_param_cb(mode, &efifo_mode_ops, NULL, 0644);
MODULE_PARM_DESC(mode,
		 "off, listed (registered through the device; default) or all (also new listeners)");

/* --- counters under /sys/kernel/rpd_epoll_fifo ------------------------------- */

static ssize_t exclusive_wakeups_show(struct kobject *kobj,
				      struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(&efifo_excl_wakeups));
}

static ssize_t rotations_show(struct kobject *kobj, struct kobj_attribute *attr,
			      char *buf)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(&efifo_rotations));
}

static ssize_t registered_show(struct kobject *kobj, struct kobj_attribute *attr,
			       char *buf)
{
	unsigned int n;

	efifo_collect();
	spin_lock_bh(&efifo_lock);
	n = efifo_nr_socks;
	spin_unlock_bh(&efifo_lock);
	return sysfs_emit(buf, "%u\n", n);
}

static struct kobj_attribute efifo_attr_wakeups = __ATTR_RO(exclusive_wakeups);
static struct kobj_attribute efifo_attr_rotations = __ATTR_RO(rotations);
static struct kobj_attribute efifo_attr_registered = __ATTR_RO(registered);

static struct attribute *efifo_attrs[] = {
	&efifo_attr_wakeups.attr,
	&efifo_attr_rotations.attr,
	&efifo_attr_registered.attr,
	NULL,
};

static const struct attribute_group efifo_attr_group = {
	.attrs = efifo_attrs,
};

static struct kobject *efifo_kobj;

/* --- load and unload ------------------------------------------------------------ */

/*
 * The address of a kernel function that is not exported.  The probe is
 * registered disabled: it only resolves the symbol and is never armed, so
 * no code is patched.  Arming and disarming one on ep_poll_callback(),
 * which runs on every wakeup, crashed 6.1 under load (a call to 0 from
 * __wake_up_common(), seen in insmod_rmmod_under_load).
 */
static unsigned long efifo_lookup(const char *name)
{
	struct kprobe kp = {
		.symbol_name	= name,
		.flags		= KPROBE_FLAG_DISABLED,
	};
	unsigned long addr;

	if (register_kprobe(&kp))
		return 0;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	return addr;
}

static int __init efifo_init(void)
{
	int err;

	efifo_def_readable = (void *)efifo_lookup("sock_def_readable");
	efifo_ep_callback = (void *)efifo_lookup("ep_poll_callback");
	if (!efifo_def_readable || !efifo_ep_callback) {
		pr_err("cannot find sock_def_readable and ep_poll_callback (CONFIG_KPROBES?)\n");
		return -ENOENT;
	}

	err = register_kretprobe(&efifo_listen_probe);
	if (err) {
		if (efifo_mode == EFIFO_ALL) {
			pr_err("mode=all: kretprobe on inet_csk_listen_start: %d\n",
			       err);
			return err;
		}
		pr_warn("mode=all unavailable: kretprobe on inet_csk_listen_start: %d\n",
			err);
	} else {
		efifo_kretprobe_on = true;
	}

	efifo_kobj = kobject_create_and_add(RPD_EFIFO_NAME, kernel_kobj);
	if (!efifo_kobj) {
		err = -ENOMEM;
		goto out_probe;
	}
	err = sysfs_create_group(efifo_kobj, &efifo_attr_group);
	if (err)
		goto out_kobj;
	err = misc_register(&efifo_misc);
	if (err)
		goto out_kobj;
	schedule_delayed_work(&efifo_gc, HZ);
	return 0;

out_kobj:
	kobject_put(efifo_kobj);
out_probe:
	if (efifo_kretprobe_on)
		unregister_kretprobe(&efifo_listen_probe);
	return err;
}

static void __exit efifo_exit(void)
{
	LIST_HEAD(gone);

	/* no new registrations: the device is gone (no file can be open, it
	 * holds a module reference) and listen() is no longer probed
	 */
	misc_deregister(&efifo_misc);
	if (efifo_kretprobe_on)
		unregister_kretprobe(&efifo_listen_probe);
	cancel_delayed_work_sync(&efifo_gc);

	spin_lock_bh(&efifo_lock);
	list_splice_init(&efifo_socks, &gone);
	efifo_nr_socks = 0;
	spin_unlock_bh(&efifo_lock);
	efifo_release(&gone);

	/*
	 * A listener's sk_data_ready runs in softirq context or with BH
	 * disabled (tcp_child_process(), inet_csk_listen_stop()), inside an
	 * RCU read-side section; after this grace period no CPU is still in
	 * efifo_data_ready_*() and the module text can go.
	 */
	synchronize_rcu();
	kobject_put(efifo_kobj);
}

module_init(efifo_init);
module_exit(efifo_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("FIFO wake order for EPOLLEXCLUSIVE waiters on listening sockets");
