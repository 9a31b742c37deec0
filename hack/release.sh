#!/usr/bin/env bash
# Builds a release's artefacts into OUT (make release):
#   install.yaml   the kustomize install rendered, its images set to
#                  IMAGE_REGISTRY/proxima-{scheduler,controller}:VERSION
#                  (kubectl apply --server-side -f install.yaml);
#   crds.yaml      the CRDs alone, for upgrading them by hand;
#   proxima-X.Y.Z.tgz  the Helm chart, version X.Y.Z (VERSION without its v),
#                  appVersion VERSION, images default to IMAGE_REGISTRY, VERSION;
#                  push it as an OCI artefact with helm push;
#   proxima-{scheduler,controller}.tar and .spdx.json  the image archives
#                  and SBOMs that `make image` wrote in $IMAGE_DIR, when set;
#   kubectl-proxima_VERSION_OS_ARCH.tar.gz, their checksums and the filled
#                  krew manifest proxima.yaml (hack/krew/archives.sh), when
#                  CLI=1;
#   SHA256SUMS     of them all.
# Renders with the kubectl and helm that hack/tools.sh builds from the pinned
# modules ($PROXIMA_BIN_DIR overrides where they are).
#
# usage: hack/release.sh VERSION OUT [IMAGE_REGISTRY]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=${1:?usage: hack/release.sh VERSION OUT [IMAGE_REGISTRY]}
out=${2:?usage: hack/release.sh VERSION OUT [IMAGE_REGISTRY]}
registry=${3:-ghcr.io/proxima-sched}
chart_version=${version#v}
if [[ $version != v* || ! $chart_version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
	echo "release: VERSION must be a tag vMAJOR.MINOR.PATCH[-PRERELEASE], not $version" >&2
	exit 2
fi
if [[ -n ${PROXIMA_BIN_DIR:-} ]]; then
	bin=$PROXIMA_BIN_DIR
else
	bin=$root/bin
	./hack/tools.sh kubectl helm >/dev/null
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/install.yaml "$out"/crds.yaml "$out"/proxima-*.tgz "$out"/proxima-*.tar "$out"/proxima-*.spdx.json "$out"/SHA256SUMS \
	"$out"/kubectl-proxima_* "$out"/proxima.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The install, with the release's image, through an overlay of the tree's.
mkdir -p "$work/overlay"
cat >"$work/overlay/kustomization.yaml" <<EOF2
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work/overlay" "$root/manifests/install")
images:
  - name: ghcr.io/proxima-sched/proxima-scheduler
    newName: $registry/proxima-scheduler
    newTag: $version
  - name: ghcr.io/proxima-sched/proxima-controller
    newName: $registry/proxima-controller
    newTag: $version
EOF2
"$bin/kubectl" kustomize "$work/overlay" >"$out/install.yaml"
"$bin/kubectl" kustomize manifests/crds >"$out/crds.yaml"

# The chart, its image defaults pointing at the release's images.
cp -r manifests/charts/proxima "$work/proxima"
sed -i -e "s#^  registry: .*#  registry: $registry#" -e "s#^  tag: .*#  tag: $version#" "$work/proxima/values.yaml"
grep -q "^  tag: $version\$" "$work/proxima/values.yaml" || { echo "release: could not set the chart's image tag" >&2; exit 1; }
"$bin/helm" package "$work/proxima" --version "$chart_version" --app-version "$version" -d "$out" >/dev/null

sums=(install.yaml crds.yaml "proxima-$chart_version.tgz")
if [[ -n ${IMAGE_DIR:-} ]]; then
	for c in proxima-scheduler proxima-controller; do
		cp "$IMAGE_DIR/$c.tar" "$IMAGE_DIR/$c.spdx.json" "$out/"
		sums+=("$c.tar" "$c.spdx.json")
	done
fi
if [[ ${CLI:-} == 1 ]]; then
	./hack/krew/archives.sh "$version" "$out" >/dev/null
	for f in "$out"/kubectl-proxima_"$version"_*.tar.gz; do
		sums+=("$(basename "$f")")
	done
	sums+=(proxima.yaml)
fi
(cd "$out" && sha256sum "${sums[@]}" >SHA256SUMS)
echo "release $version in $out:"
ls -1 "$out"
