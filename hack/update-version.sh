#!/usr/bin/env bash
# One version everywhere: writes PROXIMA_VERSION (hack/versions.env) into
# the chart (version without its v, appVersion with it, the default image
# tag) and the install's image tags (make generate); with --verify, also
# fails when README.md or docs/ name another Proxima version in an image
# tag, a chart version or archive, a kustomize ref or newTag, a
# VERSION=..., or a release download (make verify). Examples of
# pre-releases (v0.3.0-rc.1) are left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=versions.env
source hack/versions.env
v=$PROXIMA_VERSION
if [[ ! $v =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	echo "update-version: PROXIMA_VERSION=$v is not vMAJOR.MINOR.PATCH" >&2
	exit 2
fi
chart=manifests/charts/proxima
sed -i -E -e "s/^version: .*/version: ${v#v}/" -e "s/^appVersion: .*/appVersion: \"$v\"/" "$chart/Chart.yaml"
sed -i -E "s/^  tag: .*/  tag: $v/" "$chart/values.yaml"
sed -i -E "s#(image: ghcr.io/proxima-sched/proxima-(scheduler|controller)):[^ ]+#\1:$v#" manifests/install/scheduler.yaml manifests/install/controller.yaml
sed -i -E "s/^(    newTag: ).*/\1$v/" manifests/install/kustomization.yaml
if [[ ${1:-} == --verify ]]; then
	bad=$(grep -noP '(proxima(-scheduler|-controller)?[:-]v?|ref=|newTag: |image\.tag=|charts/proxima --version |VERSION=|IMAGE_TAG=|releases/download/)v?\d+\.\d+\.\d+(?![-\w.])' README.md docs/*.md |
		grep -vP "(?<![\d.])v?${v#v}\$" || true)
	if [[ -n $bad ]]; then
		echo "these name a Proxima version other than $v (hack/versions.env PROXIMA_VERSION):" >&2
		echo "$bad" >&2
		exit 1
	fi
fi
