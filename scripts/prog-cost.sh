#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The dispatcher's cost per run, from the kernel's own accounting
# (kernel.bpf_stats_enabled=1: run_time_ns / run_cnt), for each policy at
# 8 and 64 workers in a 64-slot group and 256 workers' worth of slots.
# Runs in a private network namespace and bpffs; restores the sysctl.
#
# Usage: scripts/prog-cost.sh [BUILD] [REQUESTS]
set -euo pipefail

build=${1:-build}
requests=${2:-20000}
build=$(cd "$build" && pwd)

if [ "${RPD_COST_INNER:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "prog-cost: must run as root" >&2; exit 1; }
	old=$(sysctl -n kernel.bpf_stats_enabled)
	ns=rpd-cost-$$
	cleanup() {
		sysctl -qw kernel.bpf_stats_enabled="$old"
		ip netns del "$ns" 2>/dev/null || true
	}
	trap cleanup EXIT
	sysctl -qw kernel.bpf_stats_enabled=1
	ip netns add "$ns"
	RPD_COST_INNER=1 ip netns exec "$ns" unshare --mount --propagation private \
		bash "$0" "$build" "$requests"
	exit
fi

ip link set lo up
bpffs=$(mktemp -d /tmp/rpd-cost-XXXXXX)
mount -t bpf bpf "$bpffs"
server=
cleanup_inner() {
	[ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
	umount "$bpffs" 2>/dev/null || true
	rmdir "$bpffs" 2>/dev/null || true
}
trap cleanup_inner EXIT

ctl() { "$build/rpdctl" --bpffs "$bpffs" "$@"; }

# "run_cnt N run_time_ns T" of the group's program, as bpftool prints it
prog_stats() {
	local line
	line=$(bpftool prog show pinned "$bpffs/rpd/cost/prog")
	sed -nE 's/.*run_time_ns ([0-9]+) run_cnt ([0-9]+).*/\2 \1/p' <<<"$line" | head -n 1
}

printf '%-12s %8s %8s %10s %12s %8s\n' policy slots workers runs run_time_ns ns/run
for slots in 64 256; do
	for workers in 8 64; do
		[ "$workers" -le "$slots" ] || continue
		for policy in least-conn p2c round-robin hash; do
			ctl load cost --policy "$policy" --max-workers "$slots" >/dev/null
			out=$(mktemp)
			"$build/rpd-httpd" --group cost --listen 127.0.0.1:8080 \
				--workers "$workers" --work-ms 0 --bpffs "$bpffs" >"$out" &
			server=$!
			for _ in $(seq 100); do grep -q workers "$out" && break; sleep 0.1; done
			grep -q workers "$out" || { echo "prog-cost: rpd-httpd did not start" >&2; exit 1; }
			"$build/rpd-get" -n "$requests" -c 16 127.0.0.1:8080 >/dev/null
			read -r cnt ns < <(prog_stats)
			cnt=${cnt:-0} ns=${ns:-0}
			kill "$server"; wait "$server" 2>/dev/null || true
			server=
			rm -f "$out"
			ctl unload cost >/dev/null
			printf '%-12s %8s %8s %10s %12s %8s\n' "$policy" "$slots" "$workers" \
				"$cnt" "$ns" "$((cnt ? ns / cnt : 0))"
		done
	done
done
