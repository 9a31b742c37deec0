#!/usr/bin/env bash
# Regenerates Proxima's generated code with the pinned generators in bin/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./hack/tools.sh controller-gen codegen >/dev/null
