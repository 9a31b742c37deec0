#!/usr/bin/env bash
# Regenerates all of Proxima's generated code with pinned generators:
#   - controller-gen: deepcopy and CRD manifests (manifests/crds);
#   - code-generator's kube_codegen.sh: typed clientset, listers and
#     informers (pkg/generated);
#   - crd-ref-docs and hack/metricsdoc: the API, plugin args and metrics
#     references (docs/reference).
# The generator versions come from hack/tools/go.mod (see hack/versions.env).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
module=github.com/proxima-sched/proxima
boilerplate=hack/boilerplate.go.txt

./hack/tools.sh controller-gen crd-ref-docs >/dev/null

echo "codegen: deepcopy and CRDs (controller-gen)"
rm -f manifests/crds/placement.proxima.dev_*.yaml
bin/controller-gen \
	object:headerFile="$boilerplate" \
	crd:allowDangerousTypes=false \
	output:crd:artifacts:config=manifests/crds \
	paths=./apis/...

echo "codegen: RBAC (controller-gen)"
rm -rf manifests/install/rbac/generated
bin/controller-gen rbac:roleName=proxima-scheduler output:rbac:artifacts:config=manifests/install/rbac/generated/scheduler paths=./pkg/plugins/...
bin/controller-gen rbac:roleName=proxima-controller output:rbac:artifacts:config=manifests/install/rbac/generated/controller paths=./pkg/controller/...

echo "codegen: copying CRDs and RBAC into the Helm chart"
chart=manifests/charts/proxima
rm -rf "$chart/files"
mkdir -p "$chart/files/crds"
# files/crds, not crds/: templates/crds.yaml renders them, so that helm
# upgrade updates them (Helm never upgrades crds/).
cp manifests/crds/placement.proxima.dev_*.yaml "$chart/files/crds/"
cp manifests/install/rbac/generated/scheduler/role.yaml "$chart/files/rbac-scheduler.yaml"
cp manifests/install/rbac/generated/controller/role.yaml "$chart/files/rbac-controller.yaml"

echo "codegen: clientset, listers, informers (kube_codegen.sh)"
codegen_root=$(cd hack/tools && go list -m -f '{{.Dir}}' k8s.io/code-generator)
export GOBIN="$root/bin"
# shellcheck source=/dev/null
source "$codegen_root/kube_codegen.sh"
kube::codegen::gen_client \
	--with-watch \
	--output-dir pkg/generated \
	--output-pkg "$module/pkg/generated" \
	--boilerplate "$boilerplate" \
	apis

echo "codegen: plugin args deepcopy, defaults, conversion (kube_codegen.sh)"
kube::codegen::gen_helpers \
	--boilerplate "$boilerplate" \
	apis/config

# crd-ref-docs lists a type as a resource when it carries
# +kubebuilder:object:root=true: EdgePlacementArgs has it, with
# +kubebuilder:object:generate=false so that controller-gen leaves its
# deepcopy to code-generator.
echo "codegen: API, plugin args and metrics references (crd-ref-docs, hack/metricsdoc)"
mkdir -p docs/reference
bin/crd-ref-docs --config hack/crd-ref-docs.yaml --renderer markdown --log-level ERROR \
	--source-path apis/placement/v1alpha1 --output-path docs/reference/api.md
bin/crd-ref-docs --config hack/crd-ref-docs.yaml --renderer markdown --log-level ERROR \
	--source-path apis/config/v1 --output-path docs/reference/config.md
go run ./hack/metricsdoc docs/reference/metrics.md
