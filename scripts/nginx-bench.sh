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
# Two scenarios, a table each:
#
#   persistent  wrk's 2000 connections, opened at once and kept open, and
#               how many each worker holds halfway through (ss), then
#               wrk's latency. nginx answers 'return 200'.
#   latency     nginx as a reverse proxy in front of a slow backend, a new
#               connection per request, so every request goes through the
#               accept balancing and each worker holds requests in flight.
#               The backend, rpd-httpd in a group of its own (64 workers,
#               5 ms sleep: slow, never the bottleneck), answers 32 KiB of
#               text; nginx gzips it for the client (level 5), the CPU
#               cost of a proxy serving pages to browsers, about 1 ms a
#               request here. rpd-httpd closes every connection, so nginx
#               talks HTTP/1.0 to it with no upstream keepalive: a connect
#               per request on that side too. wrk sends each request with
#               'Connection: close', from 4 connections (light load, where
#               EPOLLEXCLUSIVE's wake order shows), then from 12 (some
#               1200 requests/s, 3 in flight per worker, about 70% of 2
#               cores busy; 32 connections saturate them). The table has wrk's latency
#               (p99.9 from a wrk script), and each worker's CPU time over
#               the run (utime + stime from /proc/PID/stat) sorted, with
#               the ratio of the busiest to the idlest.
#   reload      rpd attached with --follow, 'nginx -s reload' 3 s into 8 s
#               of wrk (50 connections, a new one per request): requests,
#               failures, and how many slots ended with a worker of the
#               new generation.
#
# Usage: scripts/nginx-bench.sh [BUILD] [SCENARIO...]     (as root; 'make deps'
# first). Without a SCENARIO, all three.
set -euo pipefail

build=$(realpath "${1:-build}")
shift || true
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(persistent latency reload)
for s in "${scenarios[@]}"; do
	case $s in
	persistent | latency | reload) ;;
	*) echo "nginx-bench: unknown scenario '$s' (persistent, latency, reload)" >&2; exit 1 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "nginx-bench: must run as root" >&2; exit 1; }
for t in /usr/sbin/nginx wrk ss; do
	command -v "$t" >/dev/null || { echo "nginx-bench: no $t; run 'make deps'" >&2; exit 1; }
done
for t in rpdctl rpd-httpd; do
	[ -x "$build/$t" ] || { echo "nginx-bench: no $build/$t; run 'make'" >&2; exit 1; }
done

if [ "${RPD_NGINX_BENCH_INNER:-}" != 1 ]; then
	exec env RPD_NGINX_BENCH_INNER=1 unshare -n -m "$0" "$build" "${scenarios[@]}"
fi

ip link set lo up
mount --make-rprivate /
dir=$(mktemp -d /tmp/rpd-nginx-bench-XXXXXX)
mkdir "$dir/bpffs"
mount -t bpf bpf "$dir/bpffs"
master='' backend=''
cleanup() {
	[ -z "$master" ] || { kill "$master" 2>/dev/null; wait "$master"; } || true
	[ -z "$backend" ] || { kill "$backend" 2>/dev/null; wait "$backend"; } || true
	umount "$dir/bpffs"
	rm -rf "$dir"
}
trap cleanup EXIT
ulimit -n 16384

NGINX_VERSION=$(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||')
BACKEND=127.0.0.1:9000
BACKEND_WORKERS=64
BACKEND_WORK_MS=5
BODY_BYTES=32768
GZIP_LEVEL=5
# light load, where EPOLLEXCLUSIVE's wake order shows, then a busy one
LATENCY_CONNS=(4 12)
LATENCY_WRK=(-t2 -d10s)

# wrk's --latency stops at p99; its done() has every percentile
cat >"$dir/latency.lua" <<-'EOF'
	done = function(summary, latency, requests)
	  local e = summary.errors
	  io.write(string.format("latency: %d %.0f %d %d %d %d %d %.2f %.2f %.2f %.2f\n",
	    summary.requests, summary.requests / summary.duration * 1e6,
	    e.connect, e.read, e.write, e.timeout, e.status,
	    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
	    latency:percentile(99.9) / 1000, latency.max / 1000))
	end
EOF

# $1 listen parameters, $2 the location's directives
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
		    location / { $2 }
		  }
		}
	EOF
}

# $1 setup, $2 the location's directives: nginx running, its master in
# $master, rpd attached for 'rpd'
start_nginx() {
	conf "$([ "$1" = shared ] || echo reuseport)" "$2"
	: >"$dir/error.log"
	/usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" &
	master=$!
	sleep 1
	if [ "$1" = rpd ]; then
		"$build/rpdctl" --bpffs "$dir/bpffs" load nginx >/dev/null
		"$build/rpdctl" --bpffs "$dir/bpffs" attach nginx --pid "$master" >/dev/null
	fi
}

# $1 setup
stop_nginx() {
	if [ "$1" = rpd ]; then
		"$build/rpdctl" --bpffs "$dir/bpffs" unload nginx >/dev/null
	fi
	kill "$master"
	wait "$master" || true
	master=''
}

persistent() {
	local setup counts wrk rps p50 p99 c

	echo "nginx $NGINX_VERSION, wrk -t2 -c2000 -d6s; $(nproc) cores, Linux $(uname -r)"
	printf '%-10s  %-24s  %7s  %9s  %8s  %8s\n' setup "open conns per worker" max-min "req/s" p50 p99
	for setup in shared reuseport rpd; do
		start_nginx $setup 'return 200 "ok\n";'
		wrk -t2 -c2000 -d6s --latency http://127.0.0.1:8080/ >"$dir/wrk.txt" &
		wrk=$!
		sleep 3
		counts=$(for w in $(pgrep -P "$master"); do
			ss -Htnp state established '( sport = :8080 )' | grep -c "pid=$w," || true
		done | sort -n | tr '\n' ' ')
		wait $wrk
		read -r -a c <<<"$counts"
		rps=$(sed -n 's/^Requests\/sec: *//p' "$dir/wrk.txt")
		p50=$(awk '$1 == "50%" { print $2 }' "$dir/wrk.txt")
		p99=$(awk '$1 == "99%" { print $2 }' "$dir/wrk.txt")
		printf '%-10s  %-24s  %7d  %9s  %8s  %8s\n' $setup "$counts" \
			$((c[${#c[@]} - 1] - c[0])) "$rps" "$p50" "$p99"
		stop_nginx $setup
	done
}

# $1 master: "PID CPU-TICKS" for each worker, utime + stime
worker_ticks() {
	local w

	for w in $(pgrep -P "$1"); do
		# fields 14 and 15; the command, field 2, ends at the last ')'
		echo "$w $(sed 's/.*) //' "/proc/$w/stat" | awk '{ print $12 + $13 }')"
	done
}

latency() {
	local setup conns before after cpu hz c n rps ec er ew et es p50 p99 p999 max errs
	local complaints note notes=()
	local nginx_complaint='\[\(error\|crit\|alert\|emerg\)\]'

	hz=$(getconf CLK_TCK)
	"$build/rpdctl" --bpffs "$dir/bpffs" load backend >/dev/null
	"$build/rpd-httpd" --group backend --listen $BACKEND --workers $BACKEND_WORKERS \
		--work-ms $BACKEND_WORK_MS --body-bytes $BODY_BYTES --bpffs "$dir/bpffs" \
		>"$dir/backend.txt" &
	backend=$!
	for _ in $(seq 50); do
		[ -s "$dir/backend.txt" ] && break
		kill -0 $backend 2>/dev/null || { echo "nginx-bench: rpd-httpd failed" >&2; exit 1; }
		sleep 0.1
	done
	[ -s "$dir/backend.txt" ] || { echo "nginx-bench: rpd-httpd did not start" >&2; exit 1; }

	echo "nginx $NGINX_VERSION proxying to rpd-httpd ($BACKEND_WORKERS workers, $BACKEND_WORK_MS ms sleep," \
		"$((BODY_BYTES / 1024)) KiB text, gzip level $GZIP_LEVEL), wrk ${LATENCY_WRK[*]} -c CONNS" \
		"'Connection: close'; $(nproc) cores, Linux $(uname -r)"
	printf '%-10s  %5s  %8s  %6s  %7s  %7s  %7s  %7s  %7s  %-23s  %7s\n' setup conns requests \
		errors "req/s" "p50 ms" "p99" "p99.9" max "CPU ms per worker" max/min
	for conns in "${LATENCY_CONNS[@]}"; do
		for setup in shared reuseport rpd; do
			# proxy_buffers: room for the whole response, never a temp file
			start_nginx $setup "proxy_pass http://$BACKEND; proxy_buffers 16 4k;
			      gzip on; gzip_types text/plain; gzip_comp_level $GZIP_LEVEL;"
			before=$(worker_ticks "$master")
			wrk "${LATENCY_WRK[@]}" -c "$conns" -s "$dir/latency.lua" \
				-H 'Connection: close' -H 'Accept-Encoding: gzip' \
				http://127.0.0.1:8080/ >"$dir/wrk.txt"
			after=$(worker_ticks "$master")
			cpu=$(join <(sort <<<"$before") <(sort <<<"$after") |
				awk -v hz="$hz" '{ print ($3 - $2) * 1000 / hz }' | sort -n | tr '\n' ' ')
			read -r -a c <<<"$cpu"
			read -r _ n rps ec er ew et es p50 p99 p999 max < <(grep '^latency: ' "$dir/wrk.txt")
			errs=$((ec + er + ew + et + es))
			printf '%-10s  %5d  %8d  %6d  %7d  %7s  %7s  %7s  %7s  %-23s  %7s\n' $setup "$conns" \
				"$n" $errs "$rps" "$p50" "$p99" "$p999" "$max" "$cpu" \
				"$(awk -v a="${c[${#c[@]} - 1]}" -v b="${c[0]}" \
					'BEGIN { if (b) printf "%.2f", a / b; else printf "-" }')"
			[ $errs = 0 ] ||
				notes+=("$setup -c $conns: wrk: connect $ec, read $er, write $ew, timeout $et, status $es")
			complaints=$(grep -c "$nginx_complaint" "$dir/error.log" || true)
			[ "$complaints" = 0 ] ||
				notes+=("$setup -c $conns: nginx: $complaints complaints, first: $(grep -m1 "$nginx_complaint" "$dir/error.log")")
			stop_nginx $setup
		done
	done
	for note in "${notes[@]}"; do
		echo "  $note"
	done

	kill $backend
	wait $backend || true
	backend=''
	"$build/rpdctl" --bpffs "$dir/bpffs" unload backend >/dev/null
}

# 'nginx -s reload' halfway through a run with rpd attached and following
# the server: the requests, the failures, and whether every slot ended
# with a worker of the new generation
reload() {
	local old new follow wrk slots on_new=0 p ec er ew et es n rps

	echo "nginx $NGINX_VERSION + rpd least-conn, 'rpdctl attach --follow', 'nginx -s reload' after 3 s of" \
		"wrk -t2 -c50 -d8s 'Connection: close'; $(nproc) cores, Linux $(uname -r)"
	printf '%8s  %6s  %7s  %-24s  %s\n' requests errors "req/s" "slots on new workers" "wrk errors"
	start_nginx rpd 'return 200 "ok\n";'
	"$build/rpdctl" --bpffs "$dir/bpffs" attach nginx --pid "$master" --follow >/dev/null &
	follow=$!
	wrk -t2 -c50 -d8s -s "$dir/latency.lua" -H 'Connection: close' \
		http://127.0.0.1:8080/ >"$dir/wrk.txt" &
	wrk=$!
	sleep 3
	old=$(pgrep -P "$master" | sort)
	/usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -s reload 2>/dev/null ||
		{ echo "nginx-bench: nginx -s reload failed" >&2; exit 1; }
	wait $wrk
	new=$(pgrep -P "$master" | sort)
	# the old generation has left once the run is over; --follow looks
	# once a second
	sleep 1.5
	slots=$("$build/rpdctl" --bpffs "$dir/bpffs" -j show nginx |
		grep -o '"pid": *[0-9]*' | grep -o '[0-9]*$' || true)
	for p in $slots; do
		grep -qx "$p" <<<"$new" && ! grep -qx "$p" <<<"$old" && on_new=$((on_new + 1))
	done
	kill $follow
	wait $follow || true
	read -r _ n rps ec er ew et es _ < <(grep '^latency: ' "$dir/wrk.txt")
	printf '%8d  %6d  %7d  %-24s  %s\n' "$n" $((ec + er + ew + et + es)) "$rps" \
		"$on_new of $(wc -w <<<"$slots")" "connect $ec, read $er, write $ew, timeout $et, status $es"
	stop_nginx rpd
}

first=1
for s in "${scenarios[@]}"; do
	[ $first = 1 ] || echo
	first=0
	$s
done
