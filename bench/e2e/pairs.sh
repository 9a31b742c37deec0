#!/usr/bin/env bash
# Runs scheduler_perf test cases (bench/e2e) as alternating pairs: on a
# shared, noisy machine one run of each is no measurement, so each pair runs
# the test cases one after the other, the order reversed every other pair
# (Default, Proxima; Proxima, Default; ...), and the report gives each pair's
# ratio and the median over the pairs.
#
# Each run is one test case on one workload in its own process (the test
# binary is built once, before the first run), so no run inherits another's
# heap, goroutines or informers; scheduler_perf starts a fresh etcd for each
# anyway. Test cases whose name starts with NetworkOverhead are
# scheduler-plugins' peers, which build against Kubernetes 1.34 in their own
# module: they run from that module's test binary (bench/peers/e2e, built
# once too), the others from Proxima's (bench/e2e); the alternation is the
# same. Before each run the script waits BENCH_E2E_PAUSE seconds (default
# 15) for the previous run's teardown to settle and records the 1-minute
# load average.
#
# Output: OUT/pair-NN/K-TESTCASE/ with scheduler_perf's data items, the
# residency result, bench.log and run.json ({"load1": ..., "seconds": ...});
# `go run ./bench/e2e/report OUT` prints the tables.
#
# usage: bench/e2e/pairs.sh OUT PAIRS WORKLOAD TESTCASE...
#   e.g. bench/e2e/pairs.sh out/bench-e2e-pairs 5 5000Nodes_500Sites Default Proxima
#        bench/e2e/pairs.sh out/bench-e2e-pairs 3 500Nodes_50Sites Proxima NetworkOverhead
set -euo pipefail

if [[ $# -lt 4 ]]; then
	echo "usage: $0 OUT PAIRS WORKLOAD TESTCASE..." >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1 pairs=$2 workload=$3
shift 3
cases=("$@")
[[ $pairs =~ ^[1-9][0-9]*$ ]] || { echo "PAIRS must be a positive number, not '$pairs'" >&2; exit 2; }
pause=${BENCH_E2E_PAUSE:-15}
GO=${GO:-go}

cd "$root"
rm -rf "$out" && mkdir -p "$out"
out=$(cd "$out" && pwd)
# is_peer TESTCASE: whether the test case runs from the peers' module.
is_peer() { [[ $1 == NetworkOverhead* ]]; }
own=0 peer=0
for tc in "${cases[@]}"; do
	if is_peer "$tc"; then peer=1; else own=1; fi
done
if ((own)); then
	echo "bench-e2e pairs: building the test binary (bench/e2e)"
	"$GO" test -c -tags schedperf -o "$out/e2e.test" ./bench/e2e
fi
if ((peer)); then
	echo "bench-e2e pairs: building the peers' test binary (bench/peers/e2e, Kubernetes 1.34)"
	(cd bench/peers && "$GO" test -c -tags schedperf -o "$out/peers-e2e.test" ./e2e)
fi

total=$SECONDS
for ((p = 1; p <= pairs; p++)); do
	order=("${cases[@]}")
	if ((p % 2 == 0)); then
		for ((i = 0, j = ${#cases[@]} - 1; j >= 0; i++, j--)); do order[i]=${cases[j]}; done
	fi
	for k in "${!order[@]}"; do
		tc=${order[k]}
		if is_peer "$tc"; then
			testbin=$out/peers-e2e.test testdir=bench/peers/e2e
		else
			testbin=$out/e2e.test testdir=bench/e2e
		fi
		dir=$(printf '%s/pair-%02d/%d-%s' "$out" "$p" "$((k + 1))" "$tc")
		mkdir -p "$dir"
		sleep "$pause"
		read -r load1 _ </proc/loadavg
		start=$SECONDS
		# The name filter picks the test case and the workload; the empty
		# label filter lets it pick any workload, "smoke" ones included.
		if ! (cd "$testdir" && "$testbin" -test.run '^$' \
			-test.bench "^BenchmarkPerfScheduling\$/^(${tc})\$/^(${workload})\$" \
			-test.benchtime=1x -test.timeout=3h \
			-perf-scheduling-label-filter= -data-items-dir="$dir") >"$dir/bench.log" 2>&1; then
			tail -50 "$dir/bench.log"
			echo "bench-e2e pairs: pair $p, $tc failed; log in $dir/bench.log" >&2
			exit 1
		fi
		secs=$((SECONDS - start))
		# A name filter that matches nothing runs nothing and passes.
		if ! grep -qs "\"Name\": \"BenchmarkPerfScheduling/${tc}/" "$dir"/*_benchmark_*.json; then
			echo "bench-e2e pairs: no data for test case '$tc' on workload '$workload' (not in $testdir/performance-config.yaml?); log in $dir/bench.log" >&2
			exit 1
		fi
		printf '{"load1": %s, "seconds": %d}\n' "$load1" "$secs" >"$dir/run.json"
		echo "bench-e2e pairs: pair $p/$pairs, $tc on $workload: ${secs}s (load before: $load1)"
	done
done
echo "bench-e2e pairs: $pairs pairs in $((SECONDS - total))s"
