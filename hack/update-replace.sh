#!/usr/bin/env bash
# Pins k8s.io/kubernetes and every k8s.io staging module it publishes to the
# versions in hack/versions.env, in each go.mod given (default: all of ours).
#
# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
# with ./staging paths, which a consumer cannot see; every consumer therefore
# has to replace them itself. The list comes from the release's own go.mod, so
# a Kubernetes bump picks up new staging modules without editing this script.
#
# hack/tools/kube-next/go.mod is pinned to KUBERNETES_NEXT_VERSION instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=versions.env
source hack/versions.env

# pin GO_MOD KUBERNETES STAGING
pin() {
	local m=$1 kver=$2 sver=$3
	local kmod staging
	kmod=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${kver}" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
	[[ -f "$kmod" ]] || { echo "cannot find go.mod of k8s.io/kubernetes@${kver}" >&2; exit 1; }
	staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$kmod" | sort -u)
	[[ -n "$staging" ]] || { echo "no staging modules found in $kmod" >&2; exit 1; }
	local args=(-replace "k8s.io/kubernetes=k8s.io/kubernetes@${kver}")
	for s in $staging; do
		args+=(-replace "${s}=${s}@${sver}")
	done
	(cd "$(dirname "$m")" && go mod edit "${args[@]}" "$(basename "$m")")
}

mods=("$@")
[[ ${#mods[@]} -gt 0 ]] || mods=(go.mod hack/tools/go.mod hack/tools/cli/go.mod hack/tools/kube-next/go.mod)
for m in "${mods[@]}"; do
	if [[ $m == hack/tools/kube-next/go.mod ]]; then
		pin "$m" "$KUBERNETES_NEXT_VERSION" "$KUBE_NEXT_STAGING_VERSION"
	else
		pin "$m" "$KUBERNETES_VERSION" "$KUBE_STAGING_VERSION"
	fi
done
