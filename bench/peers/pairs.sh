#!/usr/bin/env bash
# Compares EdgePlacement's PreFilter (BenchmarkPlugins/EdgePlacement-PluginPreFilter
# in Proxima's bench/, built against Proxima's Kubernetes; the plugin's
# PreFilter called without the framework, as NetworkOverhead's is) with
# scheduler-plugins' NetworkOverhead PreFilter (BenchmarkNetworkOverheadPreFilter
# here, built against Kubernetes 1.34) in alternating pairs: two test
# binaries, each built once, run one after the other, the order reversed every
# other pair (EdgePlacement, NetworkOverhead; NetworkOverhead, EdgePlacement;
# ...), so that a drift of a shared machine's load favours neither. Prints
# each pair's ns/op and the ratio NetworkOverhead ÷ EdgePlacement per size,
# then the median ratio per size and its range.
#
# Each run starts its own etcd and kube-apiserver (bin/, `make tools`) per
# size and sets up only the sizes asked for.
#
# Output: OUT/pair-NN/K-{EdgePlacement,NetworkOverhead}.txt (go test's
# benchmark output).
#
# CASE=checkout compares a pod of the Online Boutique's checkoutservice
# instead, with seven dependencies (BenchmarkPlugins/
# EdgePlacement-PluginPreFilter-Checkout, BenchmarkNetworkOverheadPreFilterCheckout);
# the default, CASE=chain, a pod with one.
#
# usage: bench/peers/pairs.sh OUT PAIRS SIZE...
#   e.g. BENCHTIME=3s bench/peers/pairs.sh out/bench-peers-pairs 3 1000 5000 10000
set -euo pipefail

if [[ $# -lt 3 ]]; then
	echo "usage: $0 OUT PAIRS SIZE..." >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1 pairs=$2
shift 2
[[ $pairs =~ ^[1-9][0-9]*$ ]] || { echo "PAIRS must be a positive number, not '$pairs'" >&2; exit 2; }
for s in "$@"; do
	[[ $s =~ ^[1-9][0-9]*$ ]] || { echo "SIZE must be a node count (1000, 5000 or 10000), not '$s'" >&2; exit 2; }
done
sizes=$(IFS='|'; echo "$*")
benchtime=${BENCHTIME:-1s}
case ${CASE:-chain} in
chain) edgeCase=EdgePlacement-PluginPreFilter peerCase=BenchmarkNetworkOverheadPreFilter ;;
checkout) edgeCase=EdgePlacement-PluginPreFilter-Checkout peerCase=BenchmarkNetworkOverheadPreFilterCheckout ;;
*) echo "CASE must be chain or checkout, not '$CASE'" >&2; exit 2 ;;
esac
GO=${GO:-go}

cd "$root"
rm -rf "$out" && mkdir -p "$out"
out=$(cd "$out" && pwd)
echo "bench-peers pairs: building the test binaries (bench/, bench/peers)"
"$GO" test -c -o "$out/plugins.test" ./bench
(cd bench/peers && "$GO" test -c -o "$out/peers.test" .)

# run NAME DIR: one run of NAME's benchmark at every size, into DIR.
run() {
	local name=$1 file=$2 bin dir filter
	case $name in
	EdgePlacement)
		bin=$out/plugins.test dir=bench filter="^BenchmarkPlugins\$/^${edgeCase}\$/^nodes=(${sizes})\$"
		;;
	NetworkOverhead)
		bin=$out/peers.test dir=bench/peers filter="^${peerCase}\$/^nodes=(${sizes})\$"
		;;
	esac
	if ! (cd "$dir" && "$bin" -test.run '^$' -test.bench "$filter" -test.benchmem \
		-test.benchtime="$benchtime" -test.timeout=1h) >"$file" 2>&1; then
		tail -30 "$file"
		echo "bench-peers pairs: $name failed; output in $file" >&2
		exit 1
	fi
}

for ((p = 1; p <= pairs; p++)); do
	order=(EdgePlacement NetworkOverhead)
	if ((p % 2 == 0)); then order=(NetworkOverhead EdgePlacement); fi
	mkdir -p "$(printf '%s/pair-%02d' "$out" "$p")"
	for k in 0 1; do
		name=${order[k]}
		file=$(printf '%s/pair-%02d/%d-%s.txt' "$out" "$p" "$((k + 1))" "$name")
		start=$SECONDS
		run "$name" "$file"
		echo "bench-peers pairs: pair $p/$pairs, $name: $((SECONDS - start))s"
	done
done

# One line per pair, size and plugin: pair size plugin ns/op allocs/op.
for f in "$out"/pair-*/*.txt; do
	p=$(basename "$(dirname "$f")")
	p=${p#pair-}
	name=$(basename "$f" .txt)
	name=${name#*-}
	awk -v pair="$((10#$p))" -v name="$name" '/^Benchmark.*nodes=[0-9]+/ {
		match($1, /nodes=[0-9]+/); size = substr($1, RSTART + 6, RLENGTH - 6)
		ns = ""; allocs = ""
		for (i = 2; i <= NF; i++) { if ($i == "ns/op") ns = $(i-1); if ($i == "allocs/op") allocs = $(i-1) }
		print pair, size, name, ns, allocs
	}' "$f"
done >"$out/results.txt"

awk '
function median(list, n,    a, i, j, t) {
	n = split(list, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	lo = a[1]; hi = a[n]
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ ns[$1, $2, $3] = $4; allocs[$1, $2, $3] = $5; pairs[$1] = 1; sizes[$2] = 1 }
END {
	print "| Pair | nodes | EdgePlacement PreFilter (µs) | allocs | NetworkOverhead PreFilter (ms) | allocs | NetworkOverhead ÷ EdgePlacement |"
	print "|---:|---:|---:|---:|---:|---:|---:|"
	np = 0; for (p in pairs) np++
	ns_ = 0; for (s in sizes) ss[++ns_] = s + 0
	for (i = 1; i <= ns_; i++) for (j = i + 1; j <= ns_; j++) if (ss[j] < ss[i]) { t = ss[i]; ss[i] = ss[j]; ss[j] = t }
	for (p = 1; p <= np; p++) for (i = 1; i <= ns_; i++) {
		s = ss[i]; e = ns[p, s, "EdgePlacement"]; n = ns[p, s, "NetworkOverhead"]
		if (e == "" || n == "") continue
		r = n / e; ratios[s] = ratios[s] " " r
		printf "| %d | %d | %.1f | %s | %.2f | %s | %.0f× |\n", p, s, e / 1000, allocs[p, s, "EdgePlacement"], n / 1e6, allocs[p, s, "NetworkOverhead"], r
	}
	print ""
	print "| nodes | NetworkOverhead ÷ EdgePlacement, median | range |"
	print "|---:|---:|---:|"
	for (i = 1; i <= ns_; i++) {
		s = ss[i]; if (ratios[s] == "") continue
		m = median(ratios[s])
		printf "| %d | %.0f× | %.0f–%.0f× |\n", s, m, lo, hi
	}
}' "$out/results.txt" | tee "$out/report.md"
