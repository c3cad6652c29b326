#!/usr/bin/env bash
# instructions.sh PKG BENCH [OPS]: instructions per op of one Go benchmark,
# counted by valgrind's cachegrind (not timed, so the count does not move
# with other work on the machine): the benchmark runs twice, for 1,000 ops
# and for 1,000+OPS, and the difference is divided by OPS, which leaves the
# set-up out. Compare two builds by running it on each checkout. It counts
# instructions, not cycles: a cache miss costs one instruction here, so
# memory-bound changes still need a timed benchmark. The collector is off
# (GOGC=off): when it runs differs between the two runs and would count.
#
#	bash bench/instructions.sh ./server 'BenchmarkScreeningHandler/text' 200000
#
# A benchmark whose op is one ID of a batch runs whole batches only when
# OPS is a multiple of the batch size (1,000 here). A benchmark whose
# set-up builds a large Go map (BenchmarkLookup/n=1e6 builds the baseline
# of 1,000,000 entries) is not measured this way: the map's random seed
# moves the set-up's count by millions between the two runs. Smaller
# set-ups still move a little: at OPS 20,000 the same handler benchmark
# came out up to 15 an op apart from its count at the default 200,000.
# Valgrind hides AVX-512 from the program it runs, so the count is of the
# scalar paths only: the batch's vector forms (engine/wide_simd.go: the ID
# check, the hash and the bloom test eight IDs at a time) are not counted,
# and are timed instead.
set -euo pipefail
pkg=$1 bench=$2 ops=${3:-200000}
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
bin=$(mktemp -d)/bench.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" "$pkg"
count() {
	GOGC=off valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" \
		-test.run '^$' -test.bench "$bench" -test.benchtime "${1}x" -test.cpu 1 2>&1 |
		awk '/I +refs/{gsub(",", "", $NF); print $NF}'
}
a=$(count 1000)
b=$(count $((1000 + ops)))
awk -v a="$a" -v b="$b" -v n="$ops" -v name="$bench" 'BEGIN{printf "%s: %.1f instructions/op (%d ops)\n", name, (b-a)/n, n}'
