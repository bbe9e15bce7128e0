#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Debian's nginx (worker_processes 4) under wrk, three ways, in a private
# network namespace and bpffs:
#
#   shared     one listener, every worker's epoll on it (EPOLLEXCLUSIVE)
#   reuseport  'listen ... reuseport': the kernel's hash
#   rpd        the same, with 'rpdctl attach' and least-conn
#
# For each: wrk's 2000 connections, opened at once and kept open, and how
# many each worker holds halfway through (ss), then wrk's latency.
# Usage: scripts/nginx-bench.sh [BUILD]     (as root; 'make deps' first)
set -euo pipefail

build=$(realpath "${1:-build}")
[ "$(id -u)" = 0 ] || { echo "nginx-bench: must run as root" >&2; exit 1; }
for t in /usr/sbin/nginx wrk ss; do
	command -v "$t" >/dev/null || { echo "nginx-bench: no $t; run 'make deps'" >&2; exit 1; }
done

if [ "${RPD_NGINX_BENCH_INNER:-}" != 1 ]; then
	exec env RPD_NGINX_BENCH_INNER=1 unshare -n -m "$0" "$build"
fi

ip link set lo up
mount --make-rprivate /
dir=$(mktemp -d /tmp/rpd-nginx-bench-XXXXXX)
mkdir "$dir/bpffs"
mount -t bpf bpf "$dir/bpffs"
trap 'umount "$dir/bpffs"; rm -rf "$dir"' EXIT

conf() {
	cat >"$dir/nginx.conf" <<-EOF
		user root;
		daemon off;
		worker_processes 4;
		worker_rlimit_nofile 16384;
		pid $dir/nginx.pid;
		error_log $dir/error.log;
		events { worker_connections 8192; }
		http {
		  access_log off;
		  keepalive_timeout 300s;
		  keepalive_requests 1000000;
		  client_body_temp_path $dir; proxy_temp_path $dir;
		  fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
		  server {
		    listen 127.0.0.1:8080 $1;
		    location / { return 200 "ok\n"; }
		  }
		}
	EOF
}

echo "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'), wrk -t2 -c2000 -d6s; $(nproc) cores, Linux $(uname -r)"
printf '%-10s  %-24s  %7s  %9s  %8s  %8s\n' setup "open conns per worker" max-min "req/s" p50 p99
for setup in shared reuseport rpd; do
	conf "$([ $setup = shared ] || echo reuseport)"
	/usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" &
	master=$!
	sleep 1
	if [ $setup = rpd ]; then
		"$build/rpdctl" --bpffs "$dir/bpffs" load nginx >/dev/null
		"$build/rpdctl" --bpffs "$dir/bpffs" attach nginx --pid $master >/dev/null
	fi
	ulimit -n 16384
	wrk -t2 -c2000 -d6s --latency http://127.0.0.1:8080/ >"$dir/wrk.txt" &
	wrk=$!
	sleep 3
	counts=$(for w in $(pgrep -P $master); do
		ss -Htnp state established '( sport = :8080 )' | grep -c "pid=$w," || true
	done | sort -n | tr '\n' ' ')
	wait $wrk
	read -r -a c <<<"$counts"
	rps=$(sed -n 's/^Requests\/sec: *//p' "$dir/wrk.txt")
	p50=$(awk '$1 == "50%" { print $2 }' "$dir/wrk.txt")
	p99=$(awk '$1 == "99%" { print $2 }' "$dir/wrk.txt")
	printf '%-10s  %-24s  %7d  %9s  %8s  %8s\n' $setup "$counts" \
		$((c[${#c[@]} - 1] - c[0])) "$rps" "$p50" "$p99"
	[ $setup = rpd ] && "$build/rpdctl" --bpffs "$dir/bpffs" unload nginx >/dev/null
	kill $master
	wait $master || true
done
