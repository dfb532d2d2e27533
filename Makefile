# Sluice build. `make run` runs the main example; `make test` runs every test.
# Both install what they need on a fresh machine: Go modules through the Go
# module proxy, build tools from tools/go.mod, Azurite from npm.

GO        ?= go
BIN       := bin
TOOLS     := $(BIN)/tools
SLUICE    := $(BIN)/sluice
export PATH := $(CURDIR)/$(TOOLS):$(PATH)

GO_SOURCES := $(shell find . -name '*.go' -not -path './tools/*' -not -path './bin/*' 2>/dev/null) go.mod go.sum

.PHONY: all build run test test-long bench proto proto-check lint tools azurite clean

all: build

build: $(SLUICE)

$(SLUICE): $(GO_SOURCES)
	$(GO) build -o $@ ./cmd/sluice

# The main example: Nexmark q14 (filter, CASE, a UDF) over one million events,
# written as JSON lines to out/nexmark/q14/ (cleared first: every run commits
# new files).
run: build
	@rm -rf out/nexmark/q14
	$(SLUICE) run examples/nexmark/q14.yaml
	@f=$$(ls out/nexmark/q14/part-*.jsonl | head -n 1); echo "first rows of $$f:"; head -n 3 $$f

# Build tools pinned in tools/go.mod (buf, protoc-gen-go, protoc-gen-connect-go, staticcheck).
tools: $(TOOLS)/.stamp
$(TOOLS)/.stamp: tools/go.mod tools/go.sum
	cd tools && GOBIN=$(CURDIR)/$(TOOLS) $(GO) install tool
	@touch $@

# Azurite (Azure Blob emulator) for the object-store tests.
azurite: tools/azurite/node_modules/.bin/azurite-blob
tools/azurite/node_modules/.bin/azurite-blob: tools/azurite/package.json tools/azurite/package-lock.json
	npm ci --prefix tools/azurite --no-audit --no-fund --loglevel=error
	@touch $@

proto: tools
	buf lint
	buf generate

# Fails when the committed generated code is not what `make proto` produces.
# (The copy goes to a folder starting with "_", which ./... ignores.)
proto-check: tools
	@rm -rf $(BIN)/_proto-check && mkdir -p $(BIN)/_proto-check
	buf lint
	buf generate --output $(BIN)/_proto-check
	@diff -r $(BIN)/_proto-check/gen gen || (echo "gen/ is stale: run 'make proto' and commit the result" >&2; exit 1)

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	cd tests/oracle && $(GO) vet ./...

# The whole test suite. Race detection runs on the concurrent core packages.
# tests/oracle is a separate module (cgo, DuckDB) that checks every Nexmark
# query against DuckDB running the nexmark-flink SQL.
test: proto-check azurite
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race ./compute/runtime/... ./compute/exchange/... ./compute/state/... ./compute/timer/... ./statestore/...
	cd tests/oracle && CGO_ENABLED=1 $(GO) test -count=1 -timeout 30m ./...

# Long soak and stress tests.
test-long: azurite
	$(GO) test -count=1 -tags long -timeout 60m ./...
	cd tests/oracle && CGO_ENABLED=1 $(GO) test -count=1 -tags long -timeout 60m ./...

# Nexmark: stateless queries on 10M events, stateful ones on 2M (in-memory
# state); the state store; q5/q7/q8 on the LSM with checkpoints vs in memory.
bench: build
	@mkdir -p bench/results
	$(SLUICE) bench nexmark --query generator,generator-all,q0,q1,q2,q14,q21,q22 --events 10000000 --report bench/results/nexmark-stateless.json
	$(SLUICE) bench nexmark --query q3,q4,q5,q7,q8,q9,q11,q12,q15,q16,q17,q18,q19,q20 --events 2000000 --report bench/results/nexmark-stateful.json
	$(SLUICE) bench statestore --quick --report bench/results/statestore.json
	$(SLUICE) bench checkpoint --report bench/results/checkpoint.json

clean:
	rm -rf $(BIN) out state bench/results
