#!/usr/bin/env bash
# Builds kubectl-proxima's release archives and the krew manifest that
# points to them (make release):
#   OUT/kubectl-proxima_TAG_OS_ARCH.tar.gz  the stripped binary and LICENSE
#       for each of PLATFORMS (default linux and darwin × amd64 and arm64,
#       and windows/amd64), files in name order, every time the commit's
#       (SOURCE_DATE_EPOCH), owner 0: the same commit builds the same bytes;
#   OUT/kubectl-proxima_TAG_checksums.txt  their sha256 sums;
#   OUT/proxima.yaml  hack/krew/proxima.yaml filled in for TAG: each
#       platform's archive URL on the GitHub release and its sha256 (what
#       krew-release-bot would do), ready for krew-index or
#       `kubectl krew install --manifest=OUT/proxima.yaml --archive=...`.
# usage: hack/krew/archives.sh TAG OUT
set -euo pipefail
tag=${1:?usage: $0 TAG OUT}
out=${2:?usage: $0 TAG OUT}
root=$(cd "$(dirname "$0")/../.." && pwd)
platforms=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64}
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/kubectl-proxima_*.tar.gz "$out"/kubectl-proxima_*_checksums.txt "$out"/proxima.yaml
url="https://github.com/proxima-sched/proxima/releases/download/$tag"
manifest=$(sed -e "s/{{ .TagName }}/$tag/g" "$root/hack/krew/proxima.yaml" | grep -v '^#')
for platform in $platforms; do
	os=${platform%/*} arch=${platform#*/}
	bin=kubectl-proxima
	[ "$os" = windows ] && bin=kubectl-proxima.exe
	dir=$(mktemp -d)
	(cd "$root" && CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X github.com/proxima-sched/proxima/pkg/version.Version=$tag" -o "$dir/$bin" ./cmd/kubectl-proxima)
	cp "$root/LICENSE" "$dir/"
	touch -d "@$epoch" "$dir/$bin" "$dir/LICENSE"
	name="kubectl-proxima_${tag}_${os}_${arch}.tar.gz"
	tar -C "$dir" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf - LICENSE "$bin" | gzip -n >"$out/$name"
	rm -rf "$dir"
	sum=$(sha256sum "$out/$name" | cut -d' ' -f1)
	# krew-release-bot's addURIAndSha, done here.
	manifest=${manifest//"{{addURIAndSha \"$url/$name\" .TagName }}"/"uri: $url/$name
      sha256: $sum"}
done
if grep -q 'addURIAndSha' <<<"$manifest"; then
	# Platforms not built this time are left out of the manifest.
	manifest=$(awk '
		/^    - selector:/ { if (block != "" && block !~ /addURIAndSha/) printf "%s", block; block = $0 "\n"; inplat = 1; next }
		inplat && /^    [^ -]|^  [^ ]|^[^ ]/ { if (block !~ /addURIAndSha/) printf "%s", block; block = ""; inplat = 0 }
		inplat { block = block $0 "\n"; next }
		{ print }
		END { if (block != "" && block !~ /addURIAndSha/) printf "%s", block }' <<<"$manifest")
fi
printf '%s\n' "$manifest" >"$out/proxima.yaml"
(cd "$out" && sha256sum kubectl-proxima_*.tar.gz >"kubectl-proxima_${tag}_checksums.txt")
ls -1 "$out"
