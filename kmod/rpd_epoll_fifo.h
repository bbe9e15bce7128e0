/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rpd_epoll_fifo: FIFO wake order for EPOLLEXCLUSIVE waiters on a
 * listening TCP socket.  The interface shared by the module and its users.
 *
 * A listening socket opts in through the control device:
 *
 *	int ctl = open(RPD_EFIFO_DEV, O_RDWR | O_CLOEXEC);
 *	ioctl(ctl, RPD_EFIFO_ADD, listen_fd);	// the fd itself, not a pointer
 *
 * The registration belongs to the socket, not to either descriptor: it
 * lasts until RPD_EFIFO_DEL, until the socket is closed for good (its
 * last reference dropped), or until the module is unloaded.
 */
#ifndef RPD_EPOLL_FIFO_H
#define RPD_EPOLL_FIFO_H

#include <linux/ioctl.h>

#define RPD_EFIFO_NAME		"rpd_epoll_fifo"
#define RPD_EFIFO_DEV		"/dev/" RPD_EFIFO_NAME
#define RPD_EFIFO_SYSFS		"/sys/kernel/" RPD_EFIFO_NAME
#define RPD_EFIFO_MODE_PARAM	"/sys/module/" RPD_EFIFO_NAME "/parameters/mode"

#define RPD_EFIFO_IOC_MAGIC	0xe7

/*
 * Each takes a listening socket's fd as the ioctl argument (as FICLONE
 * does).  Errors: EBADF, ENOTSOCK, EPROTONOSUPPORT (not TCP over IPv4 or
 * IPv6), EINVAL (not listening), EEXIST (ADD: already registered),
 * ENOENT (DEL: not registered), EBUSY (the socket's data_ready callback
 * belongs to someone else), ENOSPC (RPD_EFIFO_MAX_SOCKS reached), EPERM
 * (no CAP_NET_ADMIN).  QUERY returns 1 if registered, else 0.
 */
#define RPD_EFIFO_ADD		_IOW(RPD_EFIFO_IOC_MAGIC, 1, int)
#define RPD_EFIFO_DEL		_IOW(RPD_EFIFO_IOC_MAGIC, 2, int)
#define RPD_EFIFO_QUERY		_IOW(RPD_EFIFO_IOC_MAGIC, 3, int)

#define RPD_EFIFO_MAX_SOCKS	4096

#endif /* RPD_EPOLL_FIFO_H */
