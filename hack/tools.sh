#!/usr/bin/env bash
# Builds Proxima's tool binaries from Go modules into bin/: the real etcd and
# kube-apiserver that integration tests, the demo and benchmarks run,
# kube-controller-manager (Deployments, ReplicaSets and PodDisruptionBudgets
# for the rebalancer's tests), the next minor's kube-apiserver and
# kube-controller-manager for the version-skew tests (hack/tools/kube-next,
# named with their version), the
# Prometheus server the telemetry tests query (from its own module in
# hack/tools/prometheus), blackbox_exporter, the RTT probe they measure with
# (hack/tools/blackbox), controller-gen and crd-ref-docs (docs/reference), and
# kubectl and helm (from hack/tools/cli) that the docs test runs the documented
# commands with and `make release` packages the chart with. Nothing is downloaded but Go
# modules.
#
# Each binary has a stamp (bin/.stamp-NAME) holding the version it was built
# from and the Go toolchain; a binary whose stamp matches is skipped, so only
# the first run on a machine pays for the cold build (15-20 minutes for
# kube-apiserver on 2 cores).
#
# usage: hack/tools.sh [name...]   (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=versions.env
source hack/versions.env
bin="$root/bin"
mkdir -p "$bin"
gover=$(go env GOVERSION)

# build NAME VERSION MODULE_DIR PACKAGE [go build flags...]
build() {
	local name=$1 version=$2 dir=$3 pkg=$4
	shift 4
	local toolsum
	toolsum=$(sha256sum "$dir/go.mod" | cut -c1-12)
	local stamp="$bin/.stamp-$name" want="$name $version $gover $toolsum"
	if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		echo "tools: $name $version is up to date"
		return
	fi
	echo "tools: building $name $version from $pkg ($(date +%H:%M:%S); a cold build can take many minutes)"
	local start=$SECONDS
	rm -f "$stamp"
	go build -C "$dir" -trimpath "$@" -o "$bin/$name" "$pkg"
	echo "$want" >"$stamp"
	echo "tools: built $name in $((SECONDS - start))s"
}

# kube_minor [VERSION]: the minor of a Kubernetes version (default
# KUBERNETES_VERSION; v1.36.3: 36).
kube_minor() {
	local minor=${1:-$KUBERNETES_VERSION}
	minor=${minor#v1.}
	echo "${minor%%.*}"
}

# kube_ldflags [VERSION]: the version stamps of a Kubernetes build
# (default KUBERNETES_VERSION), as its own release builds set them.
kube_ldflags() {
	local version=${1:-$KUBERNETES_VERSION}
	local minor
	minor=$(kube_minor "$version")
	local flags="-s -w" key val
	for kv in "gitVersion=${version}" gitMajor=1 "gitMinor=${minor}" gitTreeState=clean \
		"buildDate=1970-01-01T00:00:00Z"; do
		key=${kv%%=*}
		val=${kv#*=}
		flags+=" -X k8s.io/component-base/version.${key}=${val} -X k8s.io/client-go/pkg/version.${key}=${val}"
	done
	echo "$flags"
}

want=("$@")
[[ ${#want[@]} -gt 0 ]] || want=(controller-gen crd-ref-docs etcd kube-apiserver kube-controller-manager kube-apiserver-next kube-controller-manager-next prometheus blackbox_exporter kubectl helm)
for t in "${want[@]}"; do
	case $t in
	controller-gen) build controller-gen "$CONTROLLER_TOOLS_VERSION" hack/tools sigs.k8s.io/controller-tools/cmd/controller-gen ;;
	etcd) build etcd "$ETCD_VERSION" hack/tools go.etcd.io/etcd/server/v3 -ldflags "-s -w" ;;
	kube-apiserver) build kube-apiserver "$KUBERNETES_VERSION" hack/tools k8s.io/kubernetes/cmd/kube-apiserver -ldflags "$(kube_ldflags)" ;;
	kube-controller-manager) build kube-controller-manager "$KUBERNETES_VERSION" hack/tools k8s.io/kubernetes/cmd/kube-controller-manager -ldflags "$(kube_ldflags)" ;;
	# The next minor's, named with their version (the skew tests).
	kube-apiserver-next) build "kube-apiserver-${KUBERNETES_NEXT_VERSION}" "$KUBERNETES_NEXT_VERSION" hack/tools/kube-next \
		k8s.io/kubernetes/cmd/kube-apiserver -ldflags "$(kube_ldflags "$KUBERNETES_NEXT_VERSION")" ;;
	kube-controller-manager-next) build "kube-controller-manager-${KUBERNETES_NEXT_VERSION}" "$KUBERNETES_NEXT_VERSION" hack/tools/kube-next \
		k8s.io/kubernetes/cmd/kube-controller-manager -ldflags "$(kube_ldflags "$KUBERNETES_NEXT_VERSION")" ;;
	prometheus) build prometheus "$PROMETHEUS_VERSION" hack/tools/prometheus github.com/prometheus/prometheus/cmd/prometheus -ldflags "-s -w" ;;
	crd-ref-docs) build crd-ref-docs "$CRD_REF_DOCS_VERSION" hack/tools/crd-ref-docs github.com/elastic/crd-ref-docs -ldflags "-s -w" ;;
	kubectl) build kubectl "$KUBERNETES_VERSION" hack/tools/cli k8s.io/kubernetes/cmd/kubectl -ldflags "$(kube_ldflags)" ;;
	# As helm's own release builds: its version, and the Kubernetes version
	# `helm template` assumes without --kube-version (that of its client-go).
	helm) build helm "$HELM_VERSION" hack/tools/cli helm.sh/helm/v3/cmd/helm -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} \
		-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(kube_minor)" ;;
	blackbox_exporter) build blackbox_exporter "$BLACKBOX_EXPORTER_VERSION" hack/tools/blackbox github.com/prometheus/blackbox_exporter -ldflags "-s -w" ;;
	*) echo "tools: unknown tool $t" >&2; exit 2 ;;
	esac
done
