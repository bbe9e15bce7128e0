// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The TCP listeners of a running server: every socket held by a process or
 * any of its descendants (a prefork server's master is enough), taken into
 * rpdctl with pidfd_getfd() so they can be handed to the kernel.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "rpdctl.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open		434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd		438
#endif

struct pid_list {
	pid_t *v;
	size_t n, cap;
};

static int pid_push(struct pid_list *l, pid_t pid)
{
	pid_t *v;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		v = realloc(l->v, l->cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
	}
	l->v[l->n++] = pid;
	return 0;
}

/* The parent of @pid from /proc/PID/stat; the command name may hold ')'. */
static pid_t proc_ppid(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

/* @root and every process below it, parents before children. */
static int proc_tree(pid_t root, struct pid_list *out)
{
	struct pid_list all = {}, parent = {};
	struct dirent *de;
	size_t i, j;
	DIR *d;
	int err;

	err = pid_push(out, root);
	d = opendir("/proc");
	if (!d)
		return -errno;
	while (!err && (de = readdir(d))) {
		pid_t pid, ppid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = atoi(de->d_name);
		ppid = proc_ppid(pid);
		if (ppid > 0)
			err = pid_push(&all, pid) ?: pid_push(&parent, ppid);
	}
	closedir(d);
	/* breadth first: out grows while it is walked */
	for (i = 0; !err && i < out->n; i++)
		for (j = 0; !err && j < all.n; j++)
			if (parent.v[j] == out->v[i])
				err = pid_push(out, all.v[j]);
	free(all.v);
	free(parent.v);
	return err;
}

static bool addr_matches(const struct sockaddr_storage *a,
			 const struct sockaddr_storage *m)
{
	const struct sockaddr_in *a4 = (const void *)a, *m4 = (const void *)m;
	const struct sockaddr_in6 *a6 = (const void *)a, *m6 = (const void *)m;
	__u16 aport = a->ss_family == AF_INET ? a4->sin_port : a6->sin6_port;

	/* "*:PORT" and "[::]:PORT" match the port on any address */
	if (m->ss_family == AF_INET) {
		if (m4->sin_port != aport)
			return false;
		if (m4->sin_addr.s_addr == htonl(INADDR_ANY))
			return true;
		return a->ss_family == AF_INET &&
		       a4->sin_addr.s_addr == m4->sin_addr.s_addr;
	}
	if (m6->sin6_port != aport)
		return false;
	if (IN6_IS_ADDR_UNSPECIFIED(&m6->sin6_addr))
		return true;
	return a->ss_family == AF_INET6 &&
	       !memcmp(&a6->sin6_addr, &m6->sin6_addr, sizeof(m6->sin6_addr));
}

/* A TCP listener over IPv4 or IPv6: its address in @ss, else false. */
static bool tcp_listener(int fd, struct sockaddr_storage *ss)
{
	int acc = 0, proto = 0;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) || !acc)
		return false;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) ||
	    proto != IPPROTO_TCP)
		return false;
	len = sizeof(*ss);
	if (getsockname(fd, (struct sockaddr *)ss, &len))
		return false;
	return ss->ss_family == AF_INET || ss->ss_family == AF_INET6;
}

static int getfd_error(pid_t pid, int fdnum, int err)
{
	if (err == ENOSYS)
		set_error("process %d: the kernel has no pidfd_getfd() (Linux 5.6 or later)",
			  pid);
	else if (err == EPERM || err == EACCES)
		set_error("process %d: not allowed to take its fd %d (run as root, or CAP_SYS_PTRACE)",
			  pid, fdnum);
	else
		set_error("process %d: cannot take its fd %d: %s", pid, fdnum,
			  strerror(err));
	return -err;
}

/* Another process, below @root, holds @s too. */
static void proc_sock_held(struct proc_sock *s, pid_t root, pid_t pid)
{
	if (pid == root)
		return;
	s->nbelow++;
	s->below = pid;
}

/* The socket inode behind fd @fdnum of @pid, or 0. */
static unsigned long fd_inode(pid_t pid, int fdnum)
{
	char path[64], link[64];
	unsigned long ino;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fdnum);
	len = readlink(path, link, sizeof(link) - 1);
	if (len < 0)
		return 0;
	link[len] = '\0';
	return sscanf(link, "socket:[%lu]", &ino) == 1 ? ino : 0;
}

/*
 * Which process waits for each listener's connections: the one whose
 * epoll watches it ("tfd:" lines in /proc/PID/fdinfo of an epoll fd). A
 * prefork server's workers may all hold every listener (nginx 1.22 does,
 * with reuseport), but each watches only its own.
 */
static void proc_watchers(pid_t pid, struct proc_sock *socks, size_t n)
{
	char path[300], line[256];
	struct dirent *de;
	unsigned long ino;
	int tfd;
	size_t i;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid,
			 de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "tfd: %d", &tfd) != 1)
				continue;
			ino = fd_inode(pid, tfd);
			for (i = 0; ino && i < n; i++) {
				if (socks[i].ino != ino)
					continue;
				socks[i].nwatch++;
				socks[i].watcher = pid;
			}
		}
		fclose(f);
	}
	closedir(d);
}

/* The listeners in one process's fd table; sockets seen before are only
 * counted as held by it too.
 */
static int proc_scan(pid_t root, pid_t pid, const struct sockaddr_storage *match,
		     struct proc_sock **socks, size_t *n, size_t *cap)
{
	char path[64], link[64];
	struct dirent *de;
	int pidfd, err = 0;
	DIR *d;

	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return errno == ESRCH ? 0 : getfd_error(pid, -1, errno);
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d) {
		err = errno;
		close(pidfd);
		/* it exited meanwhile */
		if (err == ENOENT)
			return 0;
		set_error("process %d: cannot list its fds: %s%s", pid,
			  strerror(err), root_hint(-err));
		return -err;
	}
	while (!err && (de = readdir(d))) {
		struct sockaddr_storage ss;
		unsigned long ino;
		struct proc_sock *s;
		ssize_t len;
		size_t i;
		int fdnum, fd;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		fdnum = atoi(de->d_name);
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fdnum);
		len = readlink(path, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		for (i = 0; i < *n && (*socks)[i].ino != ino; i++)
			;
		if (i < *n) {
			/* shared with a process seen before */
			proc_sock_held(&(*socks)[i], root, pid);
			continue;
		}
		fd = syscall(SYS_pidfd_getfd, pidfd, fdnum, 0);
		if (fd < 0) {
			if (errno == EBADF)
				continue;	/* closed meanwhile */
			err = getfd_error(pid, fdnum, errno);
			break;
		}
		if (!tcp_listener(fd, &ss) || (match && !addr_matches(&ss, match))) {
			close(fd);
			continue;
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 8;
			s = realloc(*socks, *cap * sizeof(*s));
			if (!s) {
				close(fd);
				err = -ENOMEM;
				set_error("out of memory");
				break;
			}
			*socks = s;
		}
		s = &(*socks)[(*n)++];
		memset(s, 0, sizeof(*s));
		s->pid = pid;
		s->fdnum = fdnum;
		s->fd = fd;
		s->ino = ino;
		s->addr = ss;
		proc_sock_held(s, root, pid);
		proc_sock_name(s->name, sizeof(s->name), &ss);
	}
	closedir(d);
	close(pidfd);
	return err;
}

void proc_sock_name(char *buf, size_t len, const struct sockaddr_storage *ss)
{
	__u32 addr[4];
	__u16 family, port;

	rpdu_addr_fields(ss, &family, &port, addr);
	rpdu_format_addr(buf, len, family, port, addr);
}

int proc_listeners(pid_t pid, const struct sockaddr_storage *match,
		   struct proc_sock **out, size_t *n)
{
	struct pid_list tree = {};
	struct proc_sock *socks = NULL;
	size_t i, cnt = 0, cap = 0;
	int err;

	*out = NULL;
	*n = 0;
	if (kill(pid, 0) && errno == ESRCH) {
		set_error("process %d: no such process", pid);
		return -ESRCH;
	}
	err = proc_tree(pid, &tree);
	if (err) {
		set_error("cannot list processes: %s", strerror(-err));
		free(tree.v);
		return err;
	}
	for (i = 0; !err && i < tree.n; i++)
		err = proc_scan(pid, tree.v[i], match, &socks, &cnt, &cap);
	for (i = 0; !err && i < tree.n; i++)
		proc_watchers(tree.v[i], socks, cnt);
	free(tree.v);
	if (err) {
		proc_socks_free(socks, cnt);
		return err;
	}
	for (i = 0; i < cnt; i++) {
		if (socks[i].nwatch == 1)
			socks[i].worker = socks[i].watcher;
		else
			socks[i].worker = socks[i].nbelow == 1 ? socks[i].below :
					  socks[i].nbelow == 0 ? socks[i].pid : 0;
	}
	*out = socks;
	*n = cnt;
	return 0;
}

int proc_find_listeners(pid_t pid, const char *listen,
			const struct sockaddr_storage *match,
			struct proc_sock **socks, size_t *n)
{
	int err = proc_listeners(pid, match, socks, n);

	if (err)
		return err;
	if (*n)
		return 0;
	if (listen)
		set_error("process %d: no TCP listener on %s", pid, listen);
	else
		set_error("process %d: no TCP listener", pid);
	return -ENOENT;
}

void proc_socks_free(struct proc_sock *socks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		close(socks[i].fd);
	free(socks);
}
