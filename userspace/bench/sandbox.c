// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Where the bench runs: a network namespace of its own (so port 8080, the
 * TIME_WAIT sockets and the sysctls below are its alone) and a mount
 * namespace with a fresh bpffs for the rpd groups. Both go away with the
 * last process in them, so even a SIGKILLed bench leaves nothing behind.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rpd_abi.h"
#include "rpd_util.h"
#include "bench.h"

/* Mounted over the host's /sys/fs/bpf inside the private mount namespace:
 * no directory has to be created (and removed) on the host.
 */
#define BENCH_BPFFS	"/sys/fs/bpf"

static bool mounted;

static void lo_up(void)
{
	struct ifreq ifr = {};
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		err(1, "socket");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		err(1, "lo: SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		err(1, "lo: SIOCSIFFLAGS");
	close(fd);
}

/* /proc/sys/net is the caller's namespace's, so these touch only ours. */
static void sysctl_set(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		warn("%s", path);
	if (fd >= 0)
		close(fd);
}

void sandbox_enter(struct cfg *c)
{
	struct stat st;

	if (geteuid())
		errx(1, "needs root: it creates a network namespace, mounts a bpffs and loads BPF");
	if (unshare(CLONE_NEWNET | CLONE_NEWNS))
		err(1, "unshare(CLONE_NEWNET | CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		err(1, "making / private in the new mount namespace");
	lo_up();
	/*
	 * accept-rate opens tens of thousands of connections a second from
	 * one client address; the servers close first, so their TIME_WAIT
	 * sockets pile up. A wide port range and spread source addresses
	 * (load.c) keep a new SYN from meeting a TIME_WAIT of the same
	 * 4-tuple, which would cost it a 1 s retransmission.
	 */
	sysctl_set("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535");
	sysctl_set("/proc/sys/net/core/somaxconn", "4096");

	if (stat(BENCH_BPFFS, &st) || !S_ISDIR(st.st_mode))
		errx(1, "%s: no such directory to mount the private bpffs on", BENCH_BPFFS);
	if (mount("rpd-bench", BENCH_BPFFS, "bpf", 0, "mode=0700"))
		err(1, "mounting a bpffs on %s", BENCH_BPFFS);
	mounted = true;
	c->bpffs = BENCH_BPFFS;
}

void sandbox_leave(void)
{
	/* the namespace would drop it anyway; a tidy exit does it itself */
	if (mounted && !umount2(BENCH_BPFFS, MNT_DETACH))
		mounted = false;
}

int rpdctl_run(const struct cfg *c, const char *const args[])
{
	const char *argv[32];
	char errbuf[1024];
	int p[2], status, argc = 0, i;
	ssize_t n, len = 0;
	pid_t pid;

	argv[argc++] = "rpdctl";
	argv[argc++] = "--bpffs";
	argv[argc++] = c->bpffs;
	for (i = 0; args[i] && argc < 31; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 1);
		dup2(p[1], 2);
		execv(c->rpdctl, (char *const *)argv);
		dprintf(2, "cannot run %s: %s", c->rpdctl, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], errbuf + len, sizeof(errbuf) - 1 - len)) > 0)
		len += n;
	errbuf[len] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	while (len && errbuf[len - 1] == '\n')
		errbuf[--len] = '\0';
	warnx("rpdctl %s %s: %s", args[0], args[1] ? args[1] : "",
	      len ? errbuf : "failed");
	return -1;
}

int rpd_group_counters(const struct cfg *c, struct rpd_prog_counters *pc)
{
	int ncpu = libbpf_num_possible_cpus(), fd, i;
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	struct rpd_counters *v;
	char path[512];
	__u32 zero = 0;

	memset(pc, 0, sizeof(*pc));
	if (ncpu <= 0 || rpdu_group_path(path, sizeof(path), c->bpffs,
					 BENCH_GROUP, RPD_PIN_COUNTERS))
		return -1;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	v = calloc(ncpu, sizeof(*v));
	if (!v || bpf_map_lookup_elem(fd, &zero, v)) {
		free(v);
		close(fd);
		return -1;
	}
	for (i = 0; i < ncpu; i++) {
		pc->selected += v[i].selected;
		pc->fallback += v[i].fallback;
	}
	free(v);
	close(fd);

	/* the kernel counts these only while someone enabled BPF stats */
	if (rpdu_group_path(path, sizeof(path), c->bpffs, BENCH_GROUP, RPD_PIN_PROG))
		return -1;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	if (!bpf_obj_get_info_by_fd(fd, &info, &info_len)) {
		pc->run_time_ns = info.run_time_ns;
		pc->run_cnt = info.run_cnt;
	}
	close(fd);
	return 0;
}

int prog_stats_enable(void)
{
	/* counted while this fd is open: gone with the bench, whatever happens */
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	return fd < 0 ? -errno : fd;
}

static void cpu_model(char *buf, size_t len)
{
	char line[256], *p;
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10))
			continue;
		p = strchr(line, ':');
		if (!p)
			break;
		p += strspn(p + 1, " \t") + 1;
		p[strcspn(p, "\n")] = '\0';
		snprintf(buf, len, "%.*s", (int)len - 1, p);
		break;
	}
	fclose(f);
}

static void os_name(char *buf, size_t len)
{
	char line[256], *p;
	FILE *f = fopen("/etc/os-release", "r");

	snprintf(buf, len, "unknown OS");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "PRETTY_NAME=", 12))
			continue;
		p = line + 12;
		p[strcspn(p, "\n")] = '\0';
		if (*p == '"') {
			p++;
			p[strcspn(p, "\"")] = '\0';
		}
		snprintf(buf, len, "%.*s", (int)len - 1, p);
		break;
	}
	fclose(f);
}

const char *machine_line(void)
{
	static char line[512];
	char cpu[160], os[128];
	struct utsname u;

	if (line[0])
		return line;
	cpu_model(cpu, sizeof(cpu));
	os_name(os, sizeof(os));
	if (uname(&u)) {
		snprintf(u.release, sizeof(u.release), "?");
		snprintf(u.machine, sizeof(u.machine), "?");
	}
	snprintf(line, sizeof(line), "%s, Linux %s %s, %ld CPUs (%s)",
		 os, u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN), cpu);
	return line;
}
