# keyquorum — see README.md.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
CONFIG ?= cluster.yaml

export CGO_ENABLED := 1

.PHONY: all build test-bins deps proto test test-short test-race run fixtures bench jepsen vet fmt clean fuzz fuzz-smoke drills dudect

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/kqd ./cmd/kq ./cmd/kqjepsen

# kqd and kq with the build tags tests need, each in $(BIN)/<tag>/: the
# deliberate bugs (kqd_bugs) and protocol version 1 (kqd_compat, the rolling
# upgrade test). See jepsen/testbin.
test-bins:
	$(GO) build -tags kqd_bugs -o $(BIN)/kqd_bugs/ ./cmd/kqd ./cmd/kq
	$(GO) build -tags kqd_compat -o $(BIN)/kqd_compat/ ./cmd/kqd ./cmd/kq

# System packages the tests use: swtpm (a TPM per node in integration tests),
# protoc (make proto), promtool (Debian's prometheus package: the alert
# rules' tests), and the consumers api/client's proofs run: openssl,
# ssh-keygen, node and npm. Installed only when missing. (go-ethereum, for
# the Ethereum proof, is a Go module of api/examples/eth: go fetches it.)
deps:
	@missing=""; \
	command -v swtpm >/dev/null || missing="$$missing swtpm swtpm-tools"; \
	command -v protoc >/dev/null || missing="$$missing protobuf-compiler"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v ssh-keygen >/dev/null || missing="$$missing openssh-client"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

proto: deps
	GOBIN=$(abspath $(BIN))/tools $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(abspath $(BIN))/tools $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH="$(abspath $(BIN))/tools:$$PATH" protoc -I api \
	  --go_out=api/kqpb --go_opt=paths=source_relative \
	  --go-grpc_out=api/kqpb --go-grpc_opt=paths=source_relative \
	  api/keyquorum.proto api/policy.proto api/membership.proto api/backup.proto api/ceremony.proto

# The replicated state machine is package consensus/fsm, with the policy
# document it decides by in consensus/policy: every replica applies the
# same log, so none of their files may import os, net, math/rand or
# crypto/rand, nor read the clock (time.Now, Since, Until); time comes from
# the entry's stamp (cmd/internal/purity). The list is every non-test Go
# file of PURE_PKGS under any build tag, so a new file is checked without
# being named here; the raft plumbing stays in consensus, unchecked.
PURE_PKGS = ./consensus/fsm ./consensus/policy ./consensus/fsm/fsmerr ./consensus/fsm/blame ./consensus/fsm/settings ./consensus/fsm/keys ./consensus/fsm/membership ./consensus/fsm/signs ./consensus/fsm/dedup ./consensus/fsm/pool ./consensus/fsm/handles ./consensus/fsm/strictjson ./consensus/fsm/ceremony ./consensus/fsm/tenants ./consensus/fsm/inforce ./consensus/fsm/auditchain ./consensus/fsm/protover ./consensus/fsm/freeze ./consensus/fsm/entry ./consensus/fsm/authz ./consensus/fsm/state ./consensus/fsm/commands
PURE_FSM = $(filter-out %_test.go,$(shell $(GO) list -f '{{$$d := .Dir}}{{range .GoFiles}}{{$$d}}/{{.}} {{end}}{{range .IgnoredGoFiles}}{{$$d}}/{{.}} {{end}}' $(PURE_PKGS)))

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	@test -n "$(strip $(PURE_FSM))" || { echo "no files in $(PURE_PKGS)"; exit 1; }
	$(GO) run ./cmd/internal/purity $(PURE_FSM)

# The default suite: every package's tests in one go test, two packages at
# a time. node, the longest, starts first; jepsen/scenarios and then the
# unit-test packages take the other slot while it runs. Both process
# packages start clusters of kqd processes over real sockets with swtpm or
# the simulator, which wait on raft, fsyncs and the harness's traffic more
# than they compute, and jepsen/cluster claims each port for the whole
# machine, so two packages' clusters never share one. Pre-params come from
# test fixtures. jepsen/scenarios holds short kqjepsen runs (partition,
# kill, clock) that must be valid, and runs on a kqd_bugs build that must
# be invalid.
# Process tests (node, jepsen/scenarios, api/client) start the kqd and kq
# that build and test-bins built, once for all (KQ_TEST_BIN); go test's own
# vet is off where `make vet` already ran the full go vet over the same
# files, tests included.
test: deps vet build test-bins
	# fuzz-smoke needs CPU, not time (it counts executions, and nothing in it
	# is timed): it runs at the lowest CPU priority beside node and
	# jepsen/scenarios, on the CPU their processes leave idle, and its output
	# follows theirs. (Plain
	# make, not $$(MAKE): make -n would run a line naming $$(MAKE), node and
	# jepsen/scenarios included.)
	nice -n 19 make --no-print-directory fuzz-smoke GO=$(GO) > $(BIN)/fuzz-smoke.log 2>&1 & fuzz=$$!; \
	KQ_TEST_BIN=$(abspath $(BIN)) GOTRACEBACK=all $(GO) test -count=1 -vet=off -timeout 20m -p 2 ./node/ ./jepsen/scenarios/ \
	  $$($(GO) list ./... | grep -v -e '/node$$' -e '/jepsen/scenarios$$'); rc=$$?; \
	wait $$fuzz; frc=$$?; echo "== make fuzz-smoke"; cat $(BIN)/fuzz-smoke.log; \
	[ $$rc = 0 ] && [ $$frc = 0 ]
	GOTRACEBACK=all $(GO) test -count=1 -vet=off -race -timeout 10m ./consensus/... ./sealing/... ./node/config/... ./node/pki/...
	# jwx verifies ES256K (secp256k1 JWTs) only when built with this tag.
	KQ_TEST_BIN=$(abspath $(BIN)) GOTRACEBACK=all $(GO) test -count=1 -tags jwx_es256k -run 'ES256K' -timeout 5m ./api/client/
	# The Prometheus alerting rules and their unit tests (docs/alerts_test.yaml).
	promtool check rules docs/alerts.yaml
	cd docs && promtool test rules alerts_test.yaml

# The disaster drills too long for the default suite (docs/OPERATIONS.md):
# a five-node cluster loses its majority and is recovered with
# kqd recover --force-new-cluster; every node's disk is lost and restored
# from one backup. The one-node restore drill also runs in make test. The
# membership drill grows 3 -> 5 nodes and back with the threshold 1 -> 2 -> 1,
# killing the leader during each change, then replaces a dead node whose
# disk is gone; the 3-node replace runs in make test.
drills: build
	KQ_LONG=1 GOTRACEBACK=all $(GO) test -count=1 -timeout 15m -run 'TestForceNewClusterDrill|TestFullRestoreDrill|TestBackupRestoreDrill|TestMembershipDrill' -v ./node/

# Fuzz targets (docs/FUZZING.md), one package:Target pair per line. Their
# seed corpora (f.Add and testdata/fuzz/) also run in the plain go test.
# make fuzz runs each for FUZZTIME; make test runs each for 500 executions (fuzz-smoke).
# One worker each (-parallel 1); new crashers land in the package's
# testdata/fuzz/<Target>/.
FUZZ_TARGETS := \
	consensus/fsm:FuzzDecodeCommand \
	consensus/fsm:FuzzRestoreSnapshot \
	api/handle:FuzzParse \
	node/config:FuzzParse \
	consensus/audit:FuzzVerifyJSONL \
	node:FuzzPeerMessage \
	tss:FuzzInboundMessage \
	tss:FuzzParsePublicKeyPEM \
	tss:FuzzVerifySignature \
	cmd/kq:FuzzParseHex
FUZZTIME ?= 60s
FUZZ_MINIMIZE ?= 5s
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== $${t%%:*} $${t##*:}"; \
	  $(GO) test -run '^$$' -fuzz "^$${t##*:}\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZ_MINIMIZE) -parallel 1 ./$${t%%:*}/; \
	done

# fuzz-smoke counts executions rather than seconds: a time budget can end
# while a worker is still on an input, which go test reports as a failure
# ("context deadline exceeded") although nothing crashed.
fuzz-smoke:
	$(MAKE) fuzz FUZZTIME=500x FUZZ_MINIMIZE=100x

# The dudect-style timing test of tss/frost's operations on secrets
# (docs/FUZZING.md): DUDECT_SAMPLES measurements per operation, in random
# order of two secret classes, judged by Welch's t-test. Minutes; run it on
# a quiet machine. make test runs only its statistics and a short smoke.
DUDECT_SAMPLES ?= 100000
dudect:
	KQ_DUDECT=1 KQ_DUDECT_SAMPLES=$(DUDECT_SAMPLES) $(GO) test -count=1 -run '^TestConstantTime$$' -v -timeout 60m ./tss/frost/

# Regenerates the TEST-ONLY pre-params fixtures (minutes of CPU).
fixtures:
	$(GO) run ./tss/internal/genpreparams -out tss/testdata/preparams -n 7

# Starts the 3-node cluster of $(CONFIG) on loopback with the embedded TPM
# simulator; Ctrl-C stops every node. Data persists in the config's data_dir.
run: build
	$(BIN)/kq --config $(CONFIG) up --reflection

# bench_node runs one of node's benchmark tests ($(1)) under a timeout ($(2)),
# writing its table into docs/BENCHMARKS.md.
bench_node = KQ_BENCH=1 KQ_BENCH_OUT=docs/BENCHMARKS.md $(GO) test -count=1 -run $(1) -v -timeout $(2) ./node/

bench: deps
	@mkdir -p $(BIN)
	set -o pipefail; if grep -qs '^func Benchmark' tss/*_test.go; then \
	  $(GO) test -count=1 -run '^$$' -bench Sign -benchtime 20x -timeout 30m ./tss/ | tee $(BIN)/bench-tss.txt; \
	else : > $(BIN)/bench-tss.txt; fi
	KQ_BENCH_GOBENCH=$(BIN)/bench-tss.txt $(call bench_node,TestBenchClusterSign,20m)
	$(call bench_node,TestBenchPresignPool,30m)
	$(call bench_node,TestBenchClusterFrost,30m)
	$(call bench_node,TestBenchKeygenUnderLoad,30m)
	$(call bench_node,TestBenchSignUnderFlood,30m)
	$(call bench_node,TestBenchReplaceNode,60m)
	$(call bench_node,TestBenchTenantQuotaIsolation,30m)

# The long fault-injection suite (docs/JEPSEN.md): 5 nodes, every nemesis.
# Reports land in $(BIN)/jepsen/; exit 1 means a violation, 2 inconclusive,
# 3 (with JEPSEN_MAX_RECOVERY) safe but too slow to recover from a fault.
# JEPSEN_WORKLOAD=lifecycle runs the key-lifecycle mix instead of signing.
# JEPSEN_MAX_RECOVERY=2s makes a slower recovery after a healed fault an
# availability violation; 0 only measures it (docs/JEPSEN.md).
JEPSEN_DURATION ?= 4m
JEPSEN_SEED     ?= 1
JEPSEN_WORKLOAD ?= sign
JEPSEN_CHECK_TIMEOUT ?= 10m
JEPSEN_MAX_RECOVERY ?= 0
jepsen: build
	$(BIN)/kqjepsen run --nodes 5 --duration $(JEPSEN_DURATION) --nemesis all --workload $(JEPSEN_WORKLOAD) \
	  --clients 8 --seed $(JEPSEN_SEED) --check-timeout $(JEPSEN_CHECK_TIMEOUT) --max-recovery $(JEPSEN_MAX_RECOVERY) \
	  --bin $(BIN) --out $(BIN)/jepsen/all-5-$(JEPSEN_WORKLOAD)

clean:
	rm -rf $(BIN)
