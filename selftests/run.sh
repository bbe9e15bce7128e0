#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Run every rpd selftest and end with "N passed, N failed, N skipped".
# Usage: selftests/run.sh [--vm] [--asan ABUILD] [--fuzz SECONDS] [BUILD] [TEST...]
#        (TEST: name without path)
# Each test program is a kselftest harness binary (TAP on stdout, a
# "# Totals:" line at the end); one that dies before printing its totals
# counts as one failure.
# --asan: then run every selftest again from ABUILD, the tree built with
# SANITIZE=1 (AddressSanitizer and UndefinedBehaviorSanitizer).
# --fuzz: then run each fuzz target of BUILD/fuzz for SECONDS
# (selftests/fuzz/run.sh), counted as one test each.
# --vm: then run every selftest again inside a VM on Debian 12's kernel
# (selftests/vm/vm.sh BUILD, which needs the static tree BUILD/static) and
# end with the sum of all runs.
set -u

vm=0 asan= fuzz=0
while [ $# -gt 0 ]; do
	case "$1" in
	--vm) vm=1; shift ;;
	--asan) asan=$2; shift 2 ;;
	--fuzz) fuzz=$2; shift 2 ;;
	*) break ;;
	esac
done
build=${1:-build}
shift || true
passed=0 failed=0 skipped=0

if [ "$(id -u)" != 0 ]; then
	echo "selftests: must run as root (network namespaces, bpffs, bpf())" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

if [ $# -gt 0 ]; then
	tests=()
	for t in "$@"; do tests+=("$build/selftests/$t"); done
else
	tests=("$build"/selftests/test_*)
fi

# run_one NAME CMD...: run a harness-style program, add up its totals
run_one() {
	local name=$1 log rc totals p f s e
	shift
	echo "# ---- $name"
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	totals=$(grep -E '^# Totals: pass:[0-9]+ fail:[0-9]+' "$log" | tail -n 1)
	rm -f "$log"
	if [ -z "$totals" ]; then
		echo "selftests: $name exited $rc without its totals" >&2
		failed=$((failed + 1))
		return
	fi
	p=$(sed -E 's/^# Totals: pass:([0-9]+).*/\1/' <<<"$totals")
	f=$(sed -E 's/.* fail:([0-9]+).*/\1/' <<<"$totals")
	s=$(sed -E 's/.* skip:([0-9]+).*/\1/' <<<"$totals")
	e=$(sed -E 's/.* error:([0-9]+).*/\1/' <<<"$totals")
	passed=$((passed + p))
	failed=$((failed + f + e))
	skipped=$((skipped + s))
	# a harness that failed without counting it still fails the run
	if [ "$rc" != 0 ] && [ "$rc" != 4 ] && [ $((f + e)) = 0 ]; then
		echo "selftests: $name exited $rc" >&2
		failed=$((failed + 1))
	fi
}

# run_tests PREFIX TEST...: every test program that exists
run_tests() {
	local prefix=$1 t
	shift
	for t in "$@"; do
		case "$t" in *.o|*.d) continue ;; esac
		[ -x "$t" ] || { echo "selftests: $t: not built" >&2; failed=$((failed + 1)); continue; }
		run_one "$prefix${t##*/}" "$t"
	done
}

run_tests "" "${tests[@]}"
if [ -n "$asan" ]; then
	run_tests "asan/" "${tests[@]/#"$build"\//$asan/}"
fi
if [ "$fuzz" != 0 ]; then
	run_one fuzz "$(dirname "$0")"/fuzz/run.sh "$build" "$fuzz"
fi

if [ "$vm" = 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
	exit
fi

host="$passed passed, $failed failed, $skipped skipped"
echo "host: $host"
log=$(mktemp)
"$(dirname "$0")"/vm/vm.sh "$build" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
vmsum=$(tail -n 1 "$log")
rm -f "$log"
if [[ "$vmsum" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
	passed=$((passed + BASH_REMATCH[1]))
	failed=$((failed + BASH_REMATCH[2]))
	skipped=$((skipped + BASH_REMATCH[3]))
	# vm.sh exits non-zero exactly when it counted a failure
	if [ "$rc" != 0 ] && [ "${BASH_REMATCH[2]}" = 0 ]; then
		failed=$((failed + 1))
	fi
else
	echo "selftests: vm.sh exited $rc without its totals" >&2
	vmsum="0 passed, 1 failed, 0 skipped"
	failed=$((failed + 1))
fi

echo "host: $host"
echo "vm: $vmsum"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
