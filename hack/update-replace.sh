#!/usr/bin/env bash
# Pins k8s.io/kubernetes and every k8s.io staging module it publishes to the
# versions in hack/versions.env, in each go.mod given (default: all of ours).
#
# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
# with ./staging paths, which a consumer cannot see; every consumer therefore
# has to replace them itself. The list comes from the release's own go.mod, so
# a Kubernetes bump picks up new staging modules without editing this script.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=versions.env
source hack/versions.env

kmod=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
[[ -f "$kmod" ]] || { echo "cannot find go.mod of k8s.io/kubernetes@${KUBERNETES_VERSION}" >&2; exit 1; }
staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$kmod" | sort -u)
[[ -n "$staging" ]] || { echo "no staging modules found in $kmod" >&2; exit 1; }

mods=("$@")
[[ ${#mods[@]} -gt 0 ]] || mods=(go.mod hack/tools/go.mod)
for m in "${mods[@]}"; do
	args=(-replace "k8s.io/kubernetes=k8s.io/kubernetes@${KUBERNETES_VERSION}")
	for s in $staging; do
		args+=(-replace "${s}=${s}@${KUBE_STAGING_VERSION}")
	done
	(cd "$(dirname "$m")" && go mod edit "${args[@]}" "$(basename "$m")")
done
