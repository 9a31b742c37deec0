# Proxima's image: proxima-scheduler and proxima-controller, static, on
# distroless, as a non-root user. Build with `make image`, which passes the
# version, the pinned Kubernetes version and SOURCE_DATE_EPOCH (the commit's
# time) and asks BuildKit to rewrite file times to it, so that one commit
# builds the same image: the Go build is reproducible (-trimpath, no VCS
# stamping, fixed ldflags, CGO off). For bit-for-bit images across time,
# pin both base images by digest (docker buildx imagetools inspect IMAGE).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG KUBERNETES_VERSION=v1.34.3
ARG SOURCE_DATE_EPOCH=0
RUN ldflags="-s -w -X github.com/proxima-sched/proxima/pkg/version.Version=${VERSION} \
      -X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION} \
      -X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}" && \
    for cmd in proxima-scheduler proxima-controller; do \
      CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "$ldflags" -o /out/$cmd ./cmd/$cmd || exit 1; \
    done

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/proxima-scheduler /out/proxima-controller /
USER 65532:65532
ENTRYPOINT ["/proxima-scheduler"]
