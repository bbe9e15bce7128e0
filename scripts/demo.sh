#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# rpd demo, what 'make demo' runs: four rpd-httpd workers in one rpd group,
# loaded by rpd-get, in a throw-away network namespace with a private bpffs.
# It compares least-conn with the kernel's own hash, first on even workers,
# then with one worker stopped. Nothing is left behind, even on Ctrl-C.
#
# Usage: scripts/demo.sh [BUILD]    (as root; BUILD defaults to build)
set -euo pipefail

GROUP=demo
ADDR=127.0.0.1:8080
WORKERS=4
WORK_MS=2
REQUESTS=4000
CONCURRENCY=32
STOP_REQUESTS=2000
STOP_S=1

die() {
	echo "demo: $*" >&2
	exit 1
}

heading() {
	printf '\n== %s ==\n' "$*"
}

# ---- outer: a network namespace for the inner part, deleted on any exit --
outer_cleanup() {
	local rc=$?

	if [ -n "$NS" ] && ! ip netns del "$NS"; then
		rc=1
	fi
	if [ "$rc" = 0 ]; then
		printf '\ndemo: ok\n'
	fi
	exit "$rc"
}

outer() {
	local build=${1:-build} self p

	[ "$(id -u)" = 0 ] || die "must run as root (network namespace, bpffs, bpf())"
	for p in rpdctl rpd-httpd rpd-get; do
		[ -x "$build/$p" ] || die "$build/$p: not built; run 'make'"
	done
	self=$(realpath "$0")
	build=$(realpath "$build")

	NS=''
	trap outer_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ip netns add "rpd-demo-$$"
	NS=rpd-demo-$$
	# ip netns exec remounts /sys privately; unshare keeps the bpffs mount
	# of the inner part out of the host's mount namespace too.
	ip netns exec "$NS" unshare --mount --propagation private \
		bash "$self" --inner "$build"
}

# ---- inner: the demo itself ------------------------------------------------
ctl() {
	"$BUILD/rpdctl" --bpffs "$BPFFS" "$@"
}

load() {
	"$BUILD/rpd-get" -n "$1" -c "$CONCURRENCY" "$ADDR"
}

cleanup() {
	local rc=$?

	set +e
	if [ -n "$GET" ]; then
		kill -TERM "$GET"
		wait "$GET"
	fi
	if [ -n "$SERVER" ]; then
		kill -TERM "$SERVER"
		wait "$SERVER" || { echo "demo: rpd-httpd did not stop cleanly" >&2; rc=1; }
	fi
	if [ -n "$LOADED" ]; then
		ctl unload "$GROUP" >/dev/null || rc=1
	fi
	if mountpoint -q "$BPFFS"; then
		umount "$BPFFS" || rc=1
	fi
	rm -f "$TMP/httpd.out" "$TMP/get.out"
	# rmdir, never rm -r: after a failed umount it must not empty the bpffs
	rmdir "$BPFFS" "$TMP"
	exit "$rc"
}

wait_ready() {
	local i

	for ((i = 0; i < 100; i++)); do
		if grep -q ' workers on ' "$TMP/httpd.out"; then
			cat "$TMP/httpd.out"
			return
		fi
		if ! kill -0 "$SERVER" 2>/dev/null; then
			SERVER=''
			die "rpd-httpd exited before it was ready (its error is above)"
		fi
		sleep 0.1
	done
	die "rpd-httpd: no ready line within 10 s"
}

# One worker stops (SIGSTOP) for STOP_S seconds while rpd-get runs; the
# stats taken just before it continues show where the connections went.
stopped_worker() {
	local workers victim rc=0

	# rpd-httpd's parent is single-threaded: its main task has every worker
	workers=$(<"/proc/$SERVER/task/$SERVER/children")
	victim=${workers%% *}
	[ -n "$victim" ] || die "rpd-httpd has no workers"
	kill -STOP "$victim"
	echo "worker $victim stopped for $STOP_S s"
	load "$STOP_REQUESTS" >"$TMP/get.out" &
	GET=$!
	sleep "$STOP_S"
	ctl stats "$GROUP"
	kill -CONT "$victim"
	echo "worker $victim continued"
	echo
	wait "$GET" || rc=$?
	GET=''
	cat "$TMP/get.out"
	[ "$rc" = 0 ] || die "rpd-get reported errors"
}

inner() {
	BUILD=$1
	SERVER='' LOADED='' GET=''
	TMP=$(mktemp -d /tmp/rpd-demo.XXXXXX)
	BPFFS=$TMP/bpffs
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# set -e alone would leave without a word
	set -E
	trap 'echo "demo: failed (exit $?): $BASH_COMMAND" >&2' ERR

	heading "setup: netns, private bpffs at $BPFFS, group '$GROUP'"
	ip link set lo up
	mkdir "$BPFFS"
	mount -t bpf bpf "$BPFFS"
	ctl load "$GROUP" --policy least-conn
	LOADED=1
	# In the background it ignores Ctrl-C; cleanup's SIGTERM stops it, and
	# it stops its workers.
	"$BUILD/rpd-httpd" --group "$GROUP" --listen "$ADDR" --workers "$WORKERS" \
		--work-ms "$WORK_MS" --bpffs "$BPFFS" >"$TMP/httpd.out" &
	SERVER=$!
	wait_ready

	heading "least-conn: $REQUESTS requests, $WORKERS workers, $CONCURRENCY in flight"
	load "$REQUESTS" || die "rpd-get reported errors"
	echo
	ctl stats "$GROUP"

	heading "hash (the kernel's own choice): $REQUESTS requests, $WORKERS workers"
	ctl set "$GROUP" policy hash
	load "$REQUESTS" || die "rpd-get reported errors"
	echo
	echo "(rpdctl stats counts since the group was loaded: this table includes the least-conn run)"
	ctl stats "$GROUP"

	heading "hash, one worker stopped for $STOP_S s: $STOP_REQUESTS requests"
	stopped_worker
	echo "hash keeps sending the stopped worker its share: its IN-FLIGHT above"
	echo "grows until all $CONCURRENCY connections of rpd-get wait on it"

	heading "least-conn, one worker stopped for $STOP_S s: $STOP_REQUESTS requests"
	ctl set "$GROUP" policy least-conn
	stopped_worker
	echo "least-conn stops choosing the stopped worker once its IN-FLIGHT is the"
	echo "highest: the other workers keep serving"
}

if [ "${1:-}" = --inner ]; then
	inner "$2"
	exit
fi
outer "$@"
