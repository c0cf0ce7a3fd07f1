# concejo: the two commands a newcomer needs are `make demo` and `make test` (see README.md).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Caches live outside the repository, so a fresh clone reuses them.
CONCEJO_CACHE ?= $(HOME)/.cache/concejo
export CONCEJO_CACHE
export CARGO_TARGET_DIR ?= $(CONCEJO_CACHE)/target
CLUSTER := e2e/cluster/cluster.sh
CLUSTER_KUBECONFIG := $(shell CONCEJO_CACHE=$(CONCEJO_CACHE) $(CLUSTER) kubeconfig)
KUBECTL = $(CONCEJO_CACHE)/cluster/bin/kubectl --kubeconfig $(CLUSTER_KUBECONFIG)
CONCEJO := $(CARGO_TARGET_DIR)/debug/concejo

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## check and install what the build needs (rustfmt, clippy, openssl, curl, jq, Go)
	@command -v cargo >/dev/null || { echo "Rust is needed: https://rustup.rs"; exit 1; }
	@command -v go >/dev/null || { echo "Go 1.26+ is needed to build the local control plane"; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@for t in openssl curl setsid jq; do command -v $$t >/dev/null || { \
	  echo "installing $$t"; apt-get update -qq && apt-get install -y -qq openssl curl util-linux jq >/dev/null; break; }; done

.PHONY: build
build: tools ## build the operator and the kubectl plugin (kubectl-concejo)
	cargo build -p concejo --bin concejo --bin kubectl-concejo

.PHONY: image
image: tools ## the container image as an OCI layout (release build, no container engine needed)
	e2e/image/build.sh

.PHONY: image-check
image-check: image ## prove the image: layout, config, the binary run from its layers alone
	e2e/image/check.sh

.PHONY: crds
crds: ## regenerate crds/ (and the chart's copy) and the chart's tenant roles from the code
	cargo run -q -p concejo -- crds --out-dir crds
	cp crds/*.yaml charts/concejo/crds/
	cargo run -q -p concejo -- tenant-roles > charts/concejo/templates/tenant-roles.yaml

.PHONY: examples
examples: ## regenerate examples/leon/municipalities.yaml from the INE register
	cargo run -q -p concejo -- generate municipalities --province-code 24 --province leon --collaboration > examples/leon/municipalities.yaml

.PHONY: cluster-up
cluster-up: tools ## start the local control plane (builds it the first time: 15-25 min)
	@$(CLUSTER) up

.PHONY: cluster-down
cluster-down: ## stop the local control plane and remove its state
	@$(CLUSTER) down

.PHONY: run
run: build ## run the operator in the foreground against $KUBECONFIG (default: the local cluster)
	KUBECONFIG=$${KUBECONFIG:-$(CLUSTER_KUBECONFIG)} $(CONCEJO) run

.PHONY: demo
demo: build cluster-up ## local cluster + CRDs + operator + the León examples, shown Ready
	@e2e/demo.sh

.PHONY: demo-stop
demo-stop: ## stop the demo's operator (the cluster keeps running; `make cluster-down` stops it)
	@e2e/demo.sh stop

.PHONY: bench
bench: tools ## benchmarks (release build): León (211) and Castilla y León (2,248) against the floor; docs/benchmarks.md
	cargo bench -p concejo --bench certificates
	e2e/bench/scale.sh 24
	CONCEJO_BENCH_SUITE=1 e2e/bench/scale.sh 24
	e2e/bench/scale.sh 05 09 24 34 37 40 42 47 49

.PHONY: bench-spain
bench-spain: tools ## the scale benchmark for all of Spain: 52 provinces, 8,131 town halls (long)
	e2e/bench/scale.sh all

PROVINCES ?= 24
.PHONY: bench-scale
bench-scale: tools ## onboard whole provinces on a dedicated local control plane (PROVINCES="05 09 ...")
	e2e/bench/scale.sh $(PROVINCES)

# Fuzzing (issue 14): the identifier validators, the quantity and duration parsers and the decoding of every CRD
# (then validated and built as the operator would), each for FUZZ_SECONDS; operator/fuzz/ is its
# own cargo workspace, built with nightly. A crash fails the target and leaves its input in
# operator/fuzz/artifacts/<target>/; it becomes a unit test in the operator crate.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := identifiers quantity duration crd_json crd_yaml
FUZZ_TARGET_DIR := $(CONCEJO_CACHE)/target-fuzz

.PHONY: chaos-fuzz
chaos-fuzz: tools ## fuzz identifiers, quantities and every CRD's decoding, FUZZ_SECONDS each (default 60); fails on a crash
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	cd operator/fuzz && for target in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$target; \
	  echo "fuzzing $$target for $(FUZZ_SECONDS) s"; \
	  cargo +nightly fuzz run --sanitizer none --target-dir $(FUZZ_TARGET_DIR) $$target corpus/$$target seeds/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 || exit 1; \
	done

.PHONY: fmt
fmt: ## format the code
	cargo fmt --all

.PHONY: lint
lint: tools ## rustfmt and clippy, warnings are errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# The image's packaging, its config and its agreement with the Dockerfile and the chart, checked on the
# debug binary: about 10 s, where a release build would add 10 minutes (`make image-check` proves the release image).
IMAGE_DEBUG_DIR := $(CARGO_TARGET_DIR)/image-debug

.PHONY: test-unit
test-unit: tools ## unit tests, CRD, example and image drift checks, the Helm chart renders
	cargo test --workspace --exclude concejo-e2e
	cargo build -p concejo --bin concejo
	CONCEJO_BIN=$(CONCEJO) CONCEJO_IMAGE_DIR=$(IMAGE_DEBUG_DIR) e2e/image/build.sh >/dev/null
	CONCEJO_IMAGE_DIR=$(IMAGE_DEBUG_DIR) e2e/image/check.sh
	e2e/cluster/build.sh >/dev/null
	PATH=$$(e2e/cluster/build.sh --path):$$PATH helm lint --strict charts/concejo
	PATH=$$(e2e/cluster/build.sh --path):$$PATH helm template concejo charts/concejo --namespace concejo-system >/dev/null

.PHONY: test-e2e
test-e2e: build ## end-to-end tests on the local control plane (started and stopped if not up)
	cargo test -p concejo-e2e --no-run
	e2e/backup/install.sh >/dev/null
	CONCEJO_BIN=$(CONCEJO) CONCEJO_PLUGIN_BIN=$(CARGO_TARGET_DIR)/debug/kubectl-concejo e2e/cluster/with-cluster.sh cargo test -p concejo-e2e -- --test-threads=1

.PHONY: test
test: lint test-unit test-e2e ## everything CI checks

# The short form of e2e/tests/faults.rs runs in test-e2e; this is the full one (prints its seed:
# CONCEJO_FAULTS_SEED=<seed> repeats a run's random moments).
.PHONY: chaos-faults
chaos-faults: build ## faults in full: León's 211 town halls with their suite, 20 SIGKILLs, etcd and API server restarts, failover
	cargo test -p concejo-e2e --test faults --no-run
	CONCEJO_FAULTS=full CONCEJO_BIN=$(CONCEJO) e2e/cluster/with-cluster.sh \
	  cargo test -p concejo-e2e --test faults -- --test-threads=1 --nocapture

# Issue 14 in full: the short forms (tampering, bad input, faults) run in `make test`.
.PHONY: chaos
chaos: chaos-fuzz chaos-faults ## faults, fuzzing and hostile input in full (long): chaos-fuzz, then chaos-faults
	CONCEJO_BIN=$(CONCEJO) e2e/cluster/with-cluster.sh cargo test -p concejo-e2e --test tampering --test bad_input -- --test-threads=1
