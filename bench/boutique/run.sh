#!/usr/bin/env bash
# The Online Boutique comparison (bench/README.md): for every seed, a world
# of Sites in measured cities (go run ./bench/boutique world), placed by the
# default profile and Proxima (BenchmarkOnlineBoutique in bench/e2e) and by
# NetworkOverhead + TopologicalSort (BenchmarkOnlineBoutique in
# bench/peers/e2e, Kubernetes 1.34), then judged on the measured RTTs
# (go run ./bench/boutique report). scheduler_perf needs bin/etcd.
#
# Output: OUT/seed-N/ (the world, the data items, placements_*.json, the
# logs) and the report on stdout.
#
# usage: bench/boutique/run.sh OUT SEED...
#   e.g. bench/boutique/run.sh out/bench-boutique 1 2 3
set -euo pipefail

if [[ $# -lt 2 ]]; then
	echo "usage: $0 OUT SEED..." >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
shift
for s in "$@"; do
	[[ $s =~ ^[0-9]+$ ]] || { echo "SEED must be a number, not '$s'" >&2; exit 2; }
done
GO=${GO:-go}
WORLD_FLAGS=${WORLD_FLAGS:-}

cd "$root"
rm -rf "$out" && mkdir -p "$out"
out=$(cd "$out" && pwd)
echo "bench-boutique: building the test binaries (bench/e2e, bench/peers/e2e)"
"$GO" test -c -tags schedperf -o "$out/proxima.test" ./bench/e2e
(cd bench/peers && "$GO" test -c -tags schedperf -o "$out/peers.test" ./e2e)

# run BIN DIR CONFIG LOG: BenchmarkOnlineBoutique of BIN, run from DIR.
run() {
	local bin=$1 dir=$2 config=$3 log=$4
	if ! (cd "$dir" && PROXIMA_BOUTIQUE_CONFIG=$config "$bin" -test.run '^$' -test.bench '^BenchmarkOnlineBoutique$' \
		-test.benchtime=1x -test.timeout=1h -data-items-dir="$(dirname "$config")") >"$log" 2>&1; then
		tail -30 "$log"
		echo "bench-boutique: $bin failed; output in $log" >&2
		exit 1
	fi
}

dirs=()
for seed in "$@"; do
	d=$out/seed-$seed
	# shellcheck disable=SC2086
	"$GO" run ./bench/boutique world -seed "$seed" $WORLD_FLAGS -out "$d"
	echo "bench-boutique: seed $seed: Default, Proxima"
	run "$out/proxima.test" bench/e2e "$d/proxima.yaml" "$d/bench.log"
	echo "bench-boutique: seed $seed: NetworkOverhead"
	run "$out/peers.test" bench/peers/e2e "$d/peers.yaml" "$d/bench-peers.log"
	dirs+=("$d")
done
"$GO" run ./bench/boutique report "${dirs[@]}"
