# Proxima. `make help` lists the targets.
include hack/versions.env

GO ?= go
BIN := $(CURDIR)/bin
PKG := github.com/proxima-sched/proxima
# A tagged commit builds as its tag; any other as the release it leads to
# (PROXIMA_VERSION, hack/versions.env) marked dev with its commit.
VERSION ?= $(shell git describe --tags --exact-match 2>/dev/null || echo $(PROXIMA_VERSION)-dev.$$(git rev-parse --short HEAD 2>/dev/null || echo unknown))
LDFLAGS := -X $(PKG)/pkg/version.Version=$(VERSION) \
	-X k8s.io/component-base/version.gitVersion=$(KUBERNETES_VERSION) \
	-X k8s.io/client-go/pkg/version.gitVersion=$(KUBERNETES_VERSION)
GOTEST_FLAGS ?= -count=1 -timeout=45m

.DEFAULT_GOAL := help

SOAK_DURATION ?= 30m

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
# The demos build only the tools they run (the comparison: etcd and
# kube-apiserver; the outage scene also kube-controller-manager and
# Prometheus), not the whole of `make tools`.
demo: ## Run Proxima against the default scheduler and the optimum on a real control plane, then the dependency scene (charts in out/).
	./hack/tools.sh etcd kube-apiserver
	$(GO) run ./cmd/proxima-demo --out out $(DEMO_FLAGS)
	$(GO) run ./cmd/proxima-demo --out out --scene dependencies

.PHONY: demo-outage
demo-outage: ## Take a site down and back on the demo's world: Proxima with and without the rebalancer, and the default scheduler (chart in out/).
	./hack/tools.sh etcd kube-apiserver kube-controller-manager prometheus
	$(GO) run ./cmd/proxima-demo --out out --scene outage

.PHONY: build
build: ## Build bin/proxima-scheduler, bin/proxima-controller, bin/proxima-demo and bin/kubectl-proxima.
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/proxima-scheduler ./cmd/proxima-scheduler
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/proxima-controller ./cmd/proxima-controller
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/proxima-demo ./cmd/proxima-demo
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kubectl-proxima ./cmd/kubectl-proxima

.PHONY: tools
tools: ## Build etcd, kube-apiserver and kube-controller-manager (pinned and next minor), Prometheus, blackbox_exporter, controller-gen, crd-ref-docs, kubectl and helm from modules into bin/ (cached).
	./hack/tools.sh

.PHONY: generate
generate: ## Regenerate go.mod replaces, deepcopy, CRDs, RBAC, clients, args code, docs/reference, the monitoring package (hack/monitoring), and PROXIMA_VERSION in the chart and install.
	./hack/update-replace.sh
	./hack/update-codegen.sh
	./hack/update-version.sh

.PHONY: verify
verify: generate ## Regenerate everything and fail if the tree changed.
	./hack/update-version.sh --verify
	$(GO) mod tidy
	cd hack/tools && $(GO) mod tidy
	cd hack/tools/prometheus && $(GO) mod tidy
	cd hack/tools/cli && $(GO) mod tidy
	cd hack/tools/crd-ref-docs && $(GO) mod tidy
	cd hack/tools/blackbox && $(GO) mod tidy
	cd hack/tools/kube-next && $(GO) mod tidy
	cd bench/peers && $(GO) mod tidy
	cd hack/image && $(GO) mod tidy
	cd hack/monitoring && $(GO) mod tidy
	@git diff --exit-code || { echo "generated files are out of date: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- apis pkg/generated manifests go.mod go.sum hack docs/reference)" || \
		{ git status --porcelain -- apis pkg/generated manifests go.mod go.sum hack docs/reference; echo "untracked generated files: run 'make generate' and commit"; exit 1; }

# The images are IMAGE_REGISTRY/proxima-scheduler:IMAGE_TAG and
# IMAGE_REGISTRY/proxima-controller:IMAGE_TAG.
IMAGE_REGISTRY ?= ghcr.io/proxima-sched
IMAGE_TAG ?= $(VERSION)
IMAGE_DIR ?= out/image
# The commit's time: every time in the image, so that the same commit
# builds the same image.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: image
image: ## Build the proxima-scheduler and proxima-controller images for linux/amd64 and linux/arm64 without Docker (hack/image): per image an OCI layout, an archive and an SBOM in IMAGE_DIR.
	cd hack/image && $(GO) run . -repo ../.. -out $(abspath $(IMAGE_DIR)) -registry $(IMAGE_REGISTRY) -tag $(IMAGE_TAG) -version $(VERSION) \
		-kubernetes-version $(KUBERNETES_VERSION) -source-date-epoch $(SOURCE_DATE_EPOCH)

RELEASE_DIR ?= out/release

.PHONY: release
release: image ## Release artefacts for VERSION (a tag vX.Y.Z) in RELEASE_DIR: install.yaml, crds.yaml, the Helm chart, both image archives and their SBOMs, kubectl-proxima's archives and krew manifest, SHA256SUMS.
	IMAGE_DIR=$(abspath $(IMAGE_DIR)) CLI=1 SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) ./hack/release.sh $(VERSION) $(RELEASE_DIR) $(IMAGE_REGISTRY)

.PHONY: lint
lint: ## go vet (including the schedperf-tagged end-to-end benchmark and the soak-tagged soak), gofmt and license headers.
	$(GO) vet ./...
	$(GO) vet -tags schedperf ./bench/e2e/
	$(GO) vet -tags soak ./test/integration/
	cd bench/peers && $(GO) vet ./... && $(GO) vet -tags schedperf ./e2e/
	cd hack/image && $(GO) vet ./...
	cd hack/monitoring && $(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	@out=$$(for f in $$(git ls-files '*.go'); do head -20 "$$f" | grep -q 'Copyright The Proxima Authors' || echo "$$f"; done); \
		test -z "$$out" || { echo "license header (hack/boilerplate.go.txt) missing:"; echo "$$out"; exit 1; }

.PHONY: test
test: tools ## Run unit and integration tests, and each benchmark once (builds the tools first).
	$(GO) test $(GOTEST_FLAGS) ./...
	$(GO) test -count=1 -run '^$$' -bench . -benchtime=1x ./bench/...
	cd bench/peers && $(GO) test -count=1 ./...
	cd hack/image && $(GO) test -count=1 -timeout 30m ./...
	cd hack/monitoring && $(GO) test -count=1 ./...

.PHONY: test-race
test-race: tools ## Run the unit and integration tests under the race detector (slow; not part of make test).
	$(GO) test -race $(GOTEST_FLAGS) ./pkg/... ./test/...

.PHONY: test-unit
test-unit: ## Run the tests that need no control plane.
	$(GO) test $(GOTEST_FLAGS) $$($(GO) list ./... | grep -v -e /test/ -e /cmd/)

.PHONY: test-integration
test-integration: tools ## Run the tests on the real control plane.
	$(GO) test $(GOTEST_FLAGS) ./test/...

.PHONY: soak
soak: tools ## Churn policies, health, RTTs and prices under the rebalancer for SOAK_DURATION (30m) on the real control plane; not part of make test.
	PROXIMA_SOAK_DURATION=$(SOAK_DURATION) $(GO) test -tags soak -run TestSoakRebalancer -timeout 90m -count=1 -v ./test/integration/

.PHONY: bench
bench: ## Run the scoring and plugin benchmarks, then the peers' (bench/peers, Kubernetes 1.34).
	$(GO) test -run '^$$' -bench . -benchmem ./bench/...
	cd bench/peers && $(GO) test -run '^$$' -bench . -benchmem ./...

# scheduler-plugins' NetworkOverhead does not compile against the scheduler
# framework Proxima builds with; its PreFilter benchmark lives in bench/peers,
# a module pinned to Kubernetes 1.34 (needs bin/etcd and bin/kube-apiserver).
# With PEERS_PAIRS=N, bench/peers/pairs.sh builds both test binaries once and
# runs EdgePlacement's and NetworkOverhead's PreFilter alternately, N pairs at
# PEERS_SIZES nodes, and prints each pair's ratio and the median;
# PEERS_CASE=checkout for a pod with seven dependencies (the Online
# Boutique's checkoutservice) instead of one (chain).
PEERS_BENCHTIME ?= 1x
PEERS_PAIRS ?= 0
PEERS_CASE ?= chain
PEERS_SIZES ?= 1000 5000 10000
BENCH_PEERS_OUT ?= out/bench-peers-pairs

.PHONY: bench-peers
bench-peers: ## NetworkOverhead's PreFilter (bench/peers, Kubernetes 1.34), PEERS_BENCHTIME (1x); PEERS_PAIRS=N: N alternating pairs with EdgePlacement's, ratios.
	@if [ "$(PEERS_PAIRS)" = 0 ]; then \
		echo "cd bench/peers && $(GO) test -run '^$$' -bench . -benchmem -benchtime=$(PEERS_BENCHTIME) ./..."; \
		cd bench/peers && $(GO) test -run '^$$' -bench . -benchmem -benchtime=$(PEERS_BENCHTIME) ./...; \
	else \
		echo "bench/peers/pairs.sh $(BENCH_PEERS_OUT) $(PEERS_PAIRS) $(PEERS_SIZES)"; \
		GO=$(GO) BENCHTIME=$(PEERS_BENCHTIME) CASE=$(PEERS_CASE) bench/peers/pairs.sh $(BENCH_PEERS_OUT) $(PEERS_PAIRS) $(PEERS_SIZES); \
	fi

# The Online Boutique comparison: scheduler-plugins' NetworkOverhead example
# on a world of Sites in measured cities per seed (bench/boutique), placed
# by the default profile, Proxima and NetworkOverhead + TopologicalSort,
# judged per call edge on the measured RTTs. scheduler_perf needs only etcd.
BOUTIQUE_SEEDS ?= 1 2 3
BENCH_BOUTIQUE_OUT ?= out/bench-boutique

.PHONY: bench-boutique
bench-boutique: ## The Online Boutique on BOUTIQUE_SEEDS (1 2 3) worlds: default, NetworkOverhead, Proxima per call edge (~8 min a world).
	./hack/tools.sh etcd
	GO=$(GO) bench/boutique/run.sh $(BENCH_BOUTIQUE_OUT) $(BOUTIQUE_SEEDS)

# scheduler_perf's label filter: "performance" (500 and 5,000 nodes),
# "performance,short" (500 only) or "smoke".
BENCH_E2E_LABELS ?= performance
BENCH_E2E_OUT ?= out/bench-e2e

# Default and Proxima run from bench/e2e; NetworkOverhead, built against
# Kubernetes 1.34, from bench/peers/e2e after them, into the same directory,
# so that the report prints all of them.
.PHONY: bench-e2e
bench-e2e: tools ## Whole-scheduler throughput on kube-scheduler's scheduler_perf: default vs Proxima, then NetworkOverhead (bench/peers) (~15 min).
	rm -rf $(BENCH_E2E_OUT) && mkdir -p $(BENCH_E2E_OUT)
	cd bench/e2e && $(GO) test -tags schedperf -run '^$$' -bench BenchmarkPerfScheduling -benchtime=1x -timeout=3h . \
		-args -perf-scheduling-label-filter=$(BENCH_E2E_LABELS) -data-items-dir=$(CURDIR)/$(BENCH_E2E_OUT) > $(CURDIR)/$(BENCH_E2E_OUT)/bench.log 2>&1 \
		|| { tail -50 $(CURDIR)/$(BENCH_E2E_OUT)/bench.log; exit 1; }
	cd bench/peers/e2e && $(GO) test -tags schedperf -run '^$$' -bench BenchmarkPerfScheduling -benchtime=1x -timeout=3h . \
		-args -perf-scheduling-label-filter=$(BENCH_E2E_LABELS) -data-items-dir=$(CURDIR)/$(BENCH_E2E_OUT) > $(CURDIR)/$(BENCH_E2E_OUT)/bench-peers.log 2>&1 \
		|| { tail -50 $(CURDIR)/$(BENCH_E2E_OUT)/bench-peers.log; exit 1; }
	$(GO) run ./bench/e2e/report $(BENCH_E2E_OUT)

# Repeat mode: PAIRS pairs of BENCH_E2E_CASES on BENCH_E2E_WORKLOAD, each run
# in its own process, the order alternating (Default, Proxima; Proxima,
# Default; ...); the report gives each pair's ratio and the median over the
# pairs. Test cases named NetworkOverhead* run from the peers' test binary
# (bench/peers/e2e, Kubernetes 1.34), the others from bench/e2e's.
# scheduler_perf needs only etcd.
PAIRS ?= 5
BENCH_E2E_WORKLOAD ?= 5000Nodes_500Sites
BENCH_E2E_CASES ?= Default Proxima
BENCH_E2E_PAIRS_OUT ?= out/bench-e2e-pairs

.PHONY: bench-e2e-pairs
bench-e2e-pairs: ## PAIRS (5) alternating Default/Proxima pairs on BENCH_E2E_WORKLOAD (5000Nodes_500Sites): ratio per pair and median (8–13 min).
	./hack/tools.sh etcd
	GO=$(GO) bench/e2e/pairs.sh $(BENCH_E2E_PAIRS_OUT) $(PAIRS) $(BENCH_E2E_WORKLOAD) $(BENCH_E2E_CASES)
	$(GO) run ./bench/e2e/report $(BENCH_E2E_PAIRS_OUT)
