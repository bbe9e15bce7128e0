// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpdctl's whole command line: the input, split at NUL bytes, is argv
 * after "rpdctl", run through rpdctl's own main() in this process.
 *
 * A command line that parses may act, so the target first moves into
 * private mount and network namespaces and unmounts every bpf filesystem
 * there: a load or an unload can then only fail with its message.
 * Run it with -close_fd_mask=3, or rpdctl's output floods the terminal.
 */
#include <err.h>
#include <getopt.h>
#include <mntent.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "rpdctl.h"

#define ARGS_MAX	32

int rpdctl_main(int argc, char **argv);

/* 1 if a bpf filesystem was found and unmounted, 0 if none is left */
static int unmount_one_bpffs(void)
{
	struct mntent *m;
	char dir[4096] = "";
	FILE *f;

	f = setmntent("/proc/self/mounts", "r");
	if (!f)
		err(1, "fuzz_args: /proc/self/mounts");
	while ((m = getmntent(f)))
		if (!strcmp(m->mnt_type, "bpf"))
			snprintf(dir, sizeof(dir), "%s", m->mnt_dir);
	endmntent(f);
	if (!dir[0])
		return 0;
	if (umount2(dir, MNT_DETACH))
		err(1, "fuzz_args: umount %s", dir);
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (unshare(CLONE_NEWNS | CLONE_NEWNET))
		err(1, "fuzz_args: unshare (run as root)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		err(1, "fuzz_args: make / private");
	while (unmount_one_bpffs())
		;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *argv[ARGS_MAX + 2], *p, *end;
	int argc = 0;

	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "rpdctl";
	for (p = buf, end = buf + size; p <= end && argc <= ARGS_MAX; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;

	memset(&opts, 0, sizeof(opts));
	opts.bpffs = RPD_BPFFS_DEFAULT;
	optind = 0;
	rpdctl_main(argc, argv);
	fflush(stdout);
	free(buf);
	return 0;
}
