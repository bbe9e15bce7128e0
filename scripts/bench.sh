#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# What 'make bench' runs: every rpd-bench scenario, all models interleaved,
# and for each under BUILD/bench:
#
#   SCENARIO.txt          the comparison table and every model's report
#   SCENARIO.json         the same as one JSON document
#   SCENARIO-cdf.png      latency CDF per model, tail-weighted y axis
#   SCENARIO-workers.png  connections (persistent: open ones) per worker
#   SCENARIO-model.txt    latency, lowload, slow-worker: the same load on
#                         ideal workers (rpd-bench model)
#   nginx.txt             Debian's nginx: shared, reuseport, rpd attached,
#                         with keepalive connections and as a gzipping
#                         proxy; a reload under load with rpd attached
#                         (scripts/nginx-bench.sh)
#
# Usage: scripts/bench.sh [BUILD] [SCENARIO...]     (as root)
# BENCH_OPTS adds rpd-bench options to every scenario, e.g.
# BENCH_OPTS="--reps 3". Unless BENCH_OPTS says otherwise, 'closed'
# (100000 requests a model) runs one repetition, 'persistent' two,
# 'accept-rate' eleven of 20000 connections, the others three.
set -euo pipefail

die() {
	echo "bench: $*" >&2
	exit 1
}

build=${1:-build}
shift || true
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] ||
	scenarios=(latency lowload slow-worker persistent accept-rate closed)

[ "$(id -u)" = 0 ] || die "must run as root (network namespace, bpffs, bpf())"
[ -x "$build/rpd-bench" ] || die "$build/rpd-bench: not built; run 'make'"
command -v gnuplot >/dev/null || die "gnuplot not found; run 'make deps' (gnuplot-nox)"

out=$build/bench
mkdir -p "$out"
read -r -a opts <<<"${BENCH_OPTS:-}"

# Eleven distinct colours, one per model, the same in every plot.
COLOURS="set linetype 1 lc rgb '#000000'; set linetype 2 lc rgb '#e69f00';
set linetype 3 lc rgb '#f0c000'; set linetype 4 lc rgb '#56b4e9';
set linetype 5 lc rgb '#009e73'; set linetype 6 lc rgb '#8c564b';
set linetype 7 lc rgb '#d55e00'; set linetype 8 lc rgb '#cc79a7';
set linetype 9 lc rgb '#0072b2'; set linetype 10 lc rgb '#17becf';
set linetype 11 lc rgb '#7f7f7f'; set linetype cycle 11"

# $1 scenario: the CDF of every model that ran, one data block each
plot_cdf() {
	local s=$1 dat=$out/$1-cdf.dat plots='' i=0 name

	while read -r name; do
		plots+="${plots:+, }'$dat' index $i using 1:(-log10(1-\$2)) with lines lw 2 title '$name'"
		i=$((i + 1))
	done < <(sed -n 's/^# //p' "$dat")
	[ -n "$plots" ] || return 0
	gnuplot <<-EOF
		set terminal pngcairo size 1100,650 noenhanced font ',10'
		set output '$out/$s-cdf.png'
		$COLOURS
		set title "$(head -n 1 "$out/$s.txt" | sed 's/"/\\"/g')"
		set xlabel 'latency (ms), log scale'
		set ylabel 'share of connections at or below'
		set logscale x
		set grid
		set yrange [0:4.2]
		set ytics ('0%%' 0, '50%%' 0.30103, '90%%' 1, '99%%' 2, '99.9%%' 3, '99.99%%' 4)
		set key outside right top
		plot $plots
	EOF
}

# $1 scenario: one cluster of bars per model, a bar per worker
plot_workers() {
	local s=$1 dat=$out/$1-workers.dat n ylabel='connections'

	n=$(($(head -n 1 "$dat" | wc -w) - 1))
	[ "$s" = persistent ] && ylabel='open connections'
	ylabel+=' per worker (all repetitions)'
	gnuplot <<-EOF
		set terminal pngcairo size 1100,650 noenhanced font ',10'
		set output '$out/$s-workers.png'
		$COLOURS
		set title "$(head -n 1 "$out/$s.txt" | sed 's/"/\\"/g')"
		set ylabel '$ylabel'
		set style data histograms
		set style histogram clustered gap 2
		set style fill solid 0.9 noborder
		set xtics rotate by -25 scale 0
		set grid y
		set key outside right top title 'worker'
		set yrange [0:*]
		plot for [i=2:$((n + 1))] '$dat' using i:xtic(1) title columnheader(i)
	EOF
}

for s in "${scenarios[@]}"; do
	extra=()
	if [[ " ${opts[*]} " != *" --reps "* ]]; then
		# Several repetitions: each model's p99 (accept-rate: its rate)
		# is also paired with the baseline's of the same repetition and
		# the median of those ratios reported, which a stall of the
		# machine in one repetition does not move.
		case $s in
		closed) extra=(--reps 1) ;;
		latency | lowload | slow-worker) extra=(--reps 3) ;;
		accept-rate) extra=(--reps 11 --conns 20000) ;;
		esac
	fi
	echo "== $s"
	"$build/rpd-bench" compare "$s" --detail --save "$out" "${extra[@]}" "${opts[@]}" |
		sed -n '1,/^$/p;/^model /,/^$/p;/in the same repetition: median/,/^$/p'
	plot_cdf "$s"
	plot_workers "$s"
	# the same load on ideal workers: the floor of each way of dispatching
	# (the scenario's own parameters, whatever BENCH_OPTS says)
	case $s in
	latency | lowload | slow-worker)
		"$build/rpd-bench" model "$s" | tee "$out/$s-model.txt"
		echo
		;;
	esac
done

echo "== nginx"
"$(dirname "$0")"/nginx-bench.sh "$build" | tee "$out/nginx.txt"

echo "bench: tables, JSON and plots in $out/:"
for s in "${scenarios[@]}"; do
	m=''
	[ ! -e "$out/$s-model.txt" ] || m=" $s-model.txt"
	echo "  $s.txt $s.json $s-cdf.png $s-workers.png$m"
done
echo "  nginx.txt"
