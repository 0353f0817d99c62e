# vmo-cue — make targets. Every target installs or builds what it needs.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin/vmo-cue
# Where the test API servers (kube-apiserver, etcd) are built; git-ignored, reused across runs.
TESTBIN ?= $(CURDIR)/.cache/testbin
export VMO_TESTBIN := $(TESTBIN)
# The version `vmo-cue version` prints (and the image is labelled with).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build deps test test-unit bench bench-reconcile bench-agent bench-controller generate image lint testenv clusters clusters-down demo

all: build

## build: bin/vmo-cue and, beside it, bin/vmo-cue-agent (the agent's own binary, which `vmo-cue agent`
## hands over to: it does not link the fleet's evaluation, so an idle agent stays small).
build:
	$(GO) build -ldflags='$(LDFLAGS)' -o $(BIN) ./cmd/vmo-cue
	$(GO) build -ldflags='$(LDFLAGS)' -o $(dir $(BIN))vmo-cue-agent ./cmd/vmo-cue-agent

## generate: the CRDs of KubeVirt v1.4–v1.8 and CDI read from their releases' modules (downloaded through
## the module proxy: ~9 MB per KubeVirt release, CDI's 200 MB once; docs/kubevirt-schemas.md), the VM
## family's CUE from them, the other CUE schemas and CRDs from the Go API modules (hack/gen-schemas),
## and the controller's API with controller-gen, pinned in hack/tools/go.mod and built on first use:
## deepcopy in api/*/zz_generated.deepcopy.go, CRDs in deploy/crds (hack/gen-api). Tests fail when stale.
generate:
	$(GO) run ./hack/gen-schemas
	$(GO) run ./hack/gen-api

## image: the container image of vmo-cue, without a Docker daemon (hack/image, go-containerregistry): the
## static binaries (CGO_ENABLED=0, linux/IMAGE_ARCH) as /vmo-cue and /vmo-cue-agent on an empty base with a CA bundle, user
## 65532, written as an OCI layout into bin/image (push it with crane, skopeo or oras). Same commit, same digest.
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
IMAGE_VERSION ?= $(VERSION)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
image:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags='-s -w $(LDFLAGS)' -o bin/linux-$(IMAGE_ARCH)/vmo-cue ./cmd/vmo-cue
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags='-s -w $(LDFLAGS)' -o bin/linux-$(IMAGE_ARCH)/vmo-cue-agent ./cmd/vmo-cue-agent
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
		$(GO) run ./hack/image -binary bin/linux-$(IMAGE_ARCH)/vmo-cue -agent-binary bin/linux-$(IMAGE_ARCH)/vmo-cue-agent -arch $(IMAGE_ARCH) -out bin/image \
		-version $(IMAGE_VERSION) -revision "$(IMAGE_REVISION)" -ref vmo-cue:$(IMAGE_VERSION)

## deps: Debian packages the tests use (pre-commit), installed only if missing.
deps:
	hack/ci-deps.sh

## test: everything, against real kube-apiservers (built by `make testenv` on first use), with -race.
test: deps lint testenv build
	@echo "==> go test -race ./... (real kube-apiservers, git servers and pre-commit; several minutes)"
	VMO_CUE_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 45m ./...

## test-unit: the same tests without -race (quicker), for a change in progress.
test-unit: testenv build
	VMO_CUE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 ./...

## bench: generate a 10,000-VM fleet and compare vmo-cue with upstream cue vet.
bench: build
	hack/bench.sh

## bench-reconcile: the reconciler against real API servers, ~1,000 objects: first apply against
## `kubectl apply --server-side` and Flux's ApplyAllStaged (local, and 10 ms away; wall and CPU time,
## ratios, the median of BENCH_RUNS runs against the targets), a no-change re-apply against a dry-run
## of every object (Flux's drift detection), and drift exactness. Figures printed; minutes.
bench-reconcile: testenv
	@echo "==> go test -bench ./reconciler/ (each benchmark starts its own API servers)"
	set -o pipefail; $(GO) test ./reconciler/ -run '^$$' -bench . -benchtime 1x -count $${BENCH_RUNS:-1} -v 2>&1 | grep -E 'bench[a-z_]*_test.go:[0-9]+: |^Benchmark.*-[0-9]|^(ok|FAIL|---)'

## bench-agent: `vmo-cue agent` (a process) on a real API server with 1,000 applied objects: drift latency
## (edit to corrected: median, p99) and idle RSS (total, anonymous, file-backed) against the targets.
bench-agent: testenv build
	set -o pipefail; VMO_CUE_BIN=$(CURDIR)/$(BIN) $(GO) test ./internal/agent/ -run '^$$' -bench 'BenchmarkDriftLatency|BenchmarkAgentRSS' -benchtime 1x -timeout 30m -v 2>&1 | grep -E 'bench_test.go:[0-9]+: |^Benchmark.*-[0-9]|^(ok|FAIL|---)'

## bench-controller: `vmo-cue controller` (a process, with its evaluation worker) serving 10, 100 and 1,000
## simulated clusters and 10 real ones: peak RSS of the controller and of the worker, and each pass's time.
bench-controller: testenv build
	set -o pipefail; VMO_CUE_BIN=$(CURDIR)/$(BIN) $(GO) test ./internal/controller/ -run '^$$' -bench BenchmarkControllerScale -benchtime 1x -timeout 90m -v 2>&1 | grep -E 'bench_test.go:[0-9]+: |^Benchmark.*-[0-9]|^(ok|FAIL|---)'

## lint: gofmt, go vet and staticcheck (pinned in hack/tools/go.mod, built into .cache/bin on first use).
STATICCHECK := $(CURDIR)/.cache/bin/staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	@[ -x $(STATICCHECK) ] || { echo "==> building staticcheck (hack/tools; a minute the first time)"; $(GO) -C hack/tools build -o $(STATICCHECK) honnef.co/go/tools/cmd/staticcheck; }
	@echo "==> staticcheck ./... (a few minutes)"
	$(STATICCHECK) ./...

## testenv: build pinned kube-apiserver and etcd from source (minutes the first time, seconds after).
testenv:
	hack/testenv/build.sh "$(TESTBIN)"

## clusters: start local clusters for fleet/ (CLUSTERS=a,b to choose); clusters-down stops them.
clusters: testenv
	hack/clusters.sh up

clusters-down:
	hack/clusters.sh down

## demo: local clusters for the example fleet, synced from a local git repository, drift, a rollout,
## an offline site, then the dashboard serving it all (its URL printed); stops everything it started
## at the end (on a terminal, after Enter).
demo: testenv build
	hack/demo.sh
