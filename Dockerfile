# Proxima's image: proxima-scheduler and proxima-controller, static, on
# distroless, as a non-root user. Build with `make image`.
FROM golang:1.25 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/proxima-sched/proxima/pkg/version.Version=${VERSION}" \
      -o /out/proxima-scheduler ./cmd/proxima-scheduler && \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/proxima-sched/proxima/pkg/version.Version=${VERSION}" \
      -o /out/proxima-controller ./cmd/proxima-controller

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/proxima-scheduler /out/proxima-controller /
USER 65532:65532
ENTRYPOINT ["/proxima-scheduler"]
