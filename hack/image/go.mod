// The image builder (make image): Proxima's container image for
// linux/amd64 and linux/arm64 from the Go build, without a Docker engine,
// with go-containerregistry. A module of its own, so that its dependencies
// never move Proxima's. It imports nothing from Proxima's module; it runs
// `go build` in it. Its tests check the image and the kubectl-proxima
// archives hack/krew/archives.sh builds (make release).
module github.com/proxima-sched/proxima/hack/image

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
