#!/usr/bin/env bash
# Builds the release archives hack/krew/proxima.yaml points to:
# out/krew/kubectl-proxima_TAG_OS_ARCH.tar.gz (binary and LICENSE) and their
# sha256 sums. Usage: hack/krew/archives.sh v0.2.0
set -euo pipefail
tag=${1:?usage: $0 TAG}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/out/krew"
mkdir -p "$out"
for platform in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64; do
	os=${platform%/*} arch=${platform#*/}
	bin=kubectl-proxima
	[ "$os" = windows ] && bin=kubectl-proxima.exe
	dir=$(mktemp -d)
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags "-s -w -X github.com/proxima-sched/proxima/pkg/version.Version=$tag" \
		-o "$dir/$bin" "$root/cmd/kubectl-proxima"
	cp "$root/LICENSE" "$dir/"
	tar -C "$dir" -czf "$out/kubectl-proxima_${tag}_${os}_${arch}.tar.gz" .
	rm -rf "$dir"
done
(cd "$out" && sha256sum ./*.tar.gz)
