#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Run every fuzz target for SECONDS: first over its kept corpus
# (selftests/fuzz/corpus/NAME: seeds and every input that once crashed
# it), then fuzzing on from there. Prints kselftest-style lines and a
# "# Totals:" line, so selftests/run.sh counts it like a test program.
# New inputs go to a scratch directory; a crash is kept in
# BUILD/fuzz/artifacts/ for the corpus, once fixed.
# Usage: selftests/fuzz/run.sh [BUILD] [SECONDS]
set -u

build=${1:-build}
seconds=${2:-5}
corpus=$(dirname "$0")/corpus
art=$build/fuzz/artifacts
pass=0 fail=0 n=0

mkdir -p "$art"
fuzzers=("$build"/fuzz/fuzz_*)
echo "1..${#fuzzers[@]}"
for f in "${fuzzers[@]}"; do
	n=$((n + 1))
	name=${f##*/fuzz_}
	if [ ! -x "$f" ] || [ ! -d "$corpus/$name" ]; then
		echo "not ok $n fuzz_$name: not built, or no $corpus/$name"
		fail=$((fail + 1))
		continue
	fi
	work=$(mktemp -d)
	log=$(mktemp)
	# -close_fd_mask=3: rpdctl's own output would flood the log; the
	# sanitizers' reports still reach it through the fuzzer's stderr
	"$f" -max_total_time="$seconds" -close_fd_mask=3 -print_final_stats=1 \
		-artifact_prefix="$art/$name-" "$work" "$corpus/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ "$rc" = 0 ]; then
		echo "ok $n fuzz_$name # ${runs:-?} runs in ${seconds}s"
		pass=$((pass + 1))
	else
		grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | sed 's/^/# /' | head -n 20
		echo "not ok $n fuzz_$name # exit $rc"
		fail=$((fail + 1))
	fi
	rm -rf "$work" "$log"
done
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:0 error:0"
[ "$fail" = 0 ]
