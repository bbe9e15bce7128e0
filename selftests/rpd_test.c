// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libgen.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rpd.h"
#include "rpd_util.h"
#include "rpd_test.h"

static int lo_up(void)
{
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
	close(fd);
	return err;
}

int rpdt_sandbox(char *bpffs, size_t len)
{
	if (unshare(CLONE_NEWNET | CLONE_NEWNS))
		return -errno;
	/* keep the bpffs mount out of the parent's namespace */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	if (lo_up())
		return -errno;
	snprintf(bpffs, len, "/tmp/rpdt-XXXXXX");
	if (!mkdtemp(bpffs))
		return -errno;
	if (mount("bpf", bpffs, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

void rpdt_sandbox_done(const char *bpffs)
{
	if (!bpffs[0])
		return;
	umount2(bpffs, MNT_DETACH);
	rmdir(bpffs);
}

const char *rpdt_build_dir(void)
{
	static char dir[PATH_MAX];
	char exe[PATH_MAX], *up, *slash;
	ssize_t n;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return "build";
	exe[n] = '\0';
	/* BUILD/selftests/test_x or BUILD/selftests/kmod/test_x -> BUILD */
	up = dirname(exe);
	slash = strrchr(up, '/');
	if (!strcmp(slash ? slash + 1 : up, "kmod"))
		up = dirname(up);
	snprintf(dir, sizeof(dir), "%s", dirname(up));
	return dir;
}

static void drain_fd(int fd, char *buf, size_t cap, size_t *len)
{
	char sink[4096];
	ssize_t n;

	for (;;) {
		if (*len + 1 < cap)
			n = read(fd, buf + *len, cap - 1 - *len);
		else
			n = read(fd, sink, sizeof(sink));
		if (n <= 0)
			break;
		if (*len + 1 < cap)
			*len += n;
	}
	buf[*len] = '\0';
}

int rpdt_run(struct rpdt_out *o, const char *name, const char *const argv[])
{
	return rpdt_run_with(o, name, argv, NULL);
}

int rpdt_run_with(struct rpdt_out *o, const char *name,
		  const char *const argv[], int (*before)(void))
{
	int out[2], err[2], status;
	size_t olen = 0, elen = 0;
	char path[PATH_MAX];
	pid_t pid;

	memset(o, 0, sizeof(*o));
	snprintf(path, sizeof(path), "%s/%s", rpdt_build_dir(), name);
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		status = before ? before() : 0;
		if (status) {
			dprintf(2, "before exec %s: %s\n", path, strerror(-status));
			_exit(127);
		}
		execv(path, (char *const *)argv);
		dprintf(2, "exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	/* stderr is small; read stdout first, then stderr, then reap */
	drain_fd(out[0], o->out, sizeof(o->out), &olen);
	drain_fd(err[0], o->err, sizeof(o->err), &elen);
	close(out[0]);
	close(err[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	o->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

int rpdt_ctl(struct rpdt_out *o, const char *bpffs, ...)
{
	const char *argv[64];
	int argc = 0;
	va_list ap;

	argv[argc++] = "rpdctl";
	argv[argc++] = "--bpffs";
	argv[argc++] = bpffs;
	va_start(ap, bpffs);
	while (argc < 63 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	return rpdt_run(o, "rpdctl", argv);
}

int rpdt_load(const char *bpffs, const char *group, int slots,
	      const char *policy)
{
	static struct rpdt_out o;
	char n[16];

	snprintf(n, sizeof(n), "%d", slots);
	if (rpdt_ctl(&o, bpffs, "load", group, "--max-workers", n,
		     "--policy", policy ? policy : "least-conn", NULL))
		return -1;
	if (o.status)
		fprintf(stderr, "rpdctl load %s: exit %d: %s", group, o.status, o.err);
	return o.status;
}

int rpdt_connect(const char *addr, int sport)
{
	struct sockaddr_storage ss, src;
	const char *why;
	socklen_t len;
	int fd, one = 1;

	if (rpdu_parse_addr(addr, &ss, &len, &why))
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sport) {
		memset(&src, 0, sizeof(src));
		src.ss_family = ss.ss_family;
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (void *)&src;

			s6->sin6_addr = ((struct sockaddr_in6 *)&ss)->sin6_addr;
			s6->sin6_port = htons(sport);
		} else {
			struct sockaddr_in *s4 = (void *)&src;

			s4->sin_addr = ((struct sockaddr_in *)&ss)->sin_addr;
			s4->sin_port = htons(sport);
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    bind(fd, (struct sockaddr *)&src, len))
			goto err;
	}
	if (connect(fd, (struct sockaddr *)&ss, len))
		goto err;
	return fd;
err:
	one = -errno;
	close(fd);
	return one;
}

void rpdt_abort(int fd)
{
	struct linger lin = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
	close(fd);
}

int rpdt_accept_any(const int *lfds, int n, int timeout_ms, int *which)
{
	struct pollfd pfd[RPD_MAX_SLOTS];
	int i, fd, r;

	if (n > RPD_MAX_SLOTS)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		pfd[i].fd = lfds[i];
		pfd[i].events = POLLIN;
	}
	r = poll(pfd, n, timeout_ms);
	if (r < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		if (!(pfd[i].revents & POLLIN))
			continue;
		fd = accept4(lfds[i], NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return -errno;
		*which = i;
		return fd;
	}
	return -ETIMEDOUT;
}

int rpdt_which(struct rpd_worker *const *w, int n, const char *addr,
	       int *keep)
{
	int lfds[RPD_MAX_SLOTS], i, c, fd, which = -1;

	if (n > RPD_MAX_SLOTS)
		return -EINVAL;
	for (i = 0; i < n; i++)
		lfds[i] = rpd_worker_fd(w[i]);
	c = rpdt_connect(addr, 0);
	if (c < 0)
		return c;
	fd = rpdt_accept_any(lfds, n, 2000, &which);
	rpdt_abort(c);
	if (fd < 0)
		return fd;
	if (keep)
		*keep = fd;
	else
		close(fd);
	return which;
}

int rpdt_spread(struct rpd_worker *const *w, int nw, const char *addr, int n,
		int *count, int *seq)
{
	int i, fd, which;

	for (i = 0; i < n; i++) {
		which = rpdt_which(w, nw, addr, &fd);
		if (which < 0) {
			fprintf(stderr, "# connection %d to %s: %s\n", i, addr,
				strerror(-which));
			return which;
		}
		close(fd);
		if (count)
			count[which]++;
		if (seq)
			seq[i] = which;
	}
	return 0;
}

static int open_pin(const char *bpffs, const char *group, const char *pin)
{
	char path[PATH_MAX];

	if (rpdu_group_path(path, sizeof(path), bpffs, group, pin))
		return -ENAMETOOLONG;
	return bpf_obj_get(path);
}

int rpdt_counters(const char *bpffs, const char *group,
		  struct rpd_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus(), fd, i;
	struct rpd_counters *v;
	__u32 zero = 0;

	memset(sum, 0, sizeof(*sum));
	if (ncpu < 0)
		return ncpu;
	fd = open_pin(bpffs, group, RPD_PIN_COUNTERS);
	if (fd < 0)
		return -errno;
	v = calloc(ncpu, sizeof(*v));
	if (!v || bpf_map_lookup_elem(fd, &zero, v)) {
		free(v);
		close(fd);
		return -EIO;
	}
	for (i = 0; i < ncpu; i++) {
		sum->selected += v[i].selected;
		sum->fallback += v[i].fallback;
		sum->empty += v[i].empty;
		sum->migrated += v[i].migrated;
		sum->errors += v[i].errors;
	}
	free(v);
	close(fd);
	return 0;
}

int rpdt_slot(const char *bpffs, const char *group, __u32 slot,
	      struct rpd_slot *s)
{
	int fd = open_pin(bpffs, group, RPD_PIN_SLOTS), err = 0;

	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &slot, s))
		err = -errno;
	close(fd);
	return err;
}

__u64 rpdt_cookie(int fd)
{
	socklen_t len = sizeof(__u64);
	__u64 c = 0;

	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len);
	return c;
}

__u32 rpdt_pinned_prog(const char *bpffs, const char *group, const char *pin,
		       bool link)
{
	struct bpf_link_info linfo = {};
	struct bpf_prog_info info = {};
	__u32 len = link ? sizeof(linfo) : sizeof(info), id = 0;
	char path[PATH_MAX];
	int fd;

	if (rpdu_group_path(path, sizeof(path), bpffs, group, pin))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (link && !bpf_obj_get_info_by_fd(fd, &linfo, &len))
		id = linfo.prog_id;
	else if (!link && !bpf_obj_get_info_by_fd(fd, &info, &len))
		id = info.id;
	close(fd);
	return id;
}
