# tlsgate — build, test and benchmark. `make test` is what CI runs.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin

# Pinned tool versions (installed into ./bin on first use).
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
PEBBLE_VERSION      := v2.10.1

# Debian packages the integration tests talk to.
TEST_PACKAGES := curl openssl ca-certificates nginx-light chromium prometheus etcd-server etcd-client testssl.sh

.PHONY: all build test test-deps lint-deps bench-lint tools vet lint vuln unit fuzz bench demo clean

all: build

build:
	$(GO) build -o $(BIN)/tlsgate ./cmd/tlsgate

demo:
	$(GO) run ./cmd/tlsgate demo

## test: install missing test peers and tools, then vet, lint, vuln and race tests.
test: test-deps tools vet lint vuln unit

## test-deps: install the real programs integration tests talk to.
test-deps: lint-deps
	@missing=""; for p in curl openssl nginx chromium promtool etcd testssl; do PATH="$$PATH:/usr/sbin:/sbin" command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing test peers:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(TEST_PACKAGES) >/dev/null; \
	fi

## lint-deps: the real OpenAPI documents internal/oaslint's tests lint
## (npm packages pinned by package-lock.json; reinstalled when it changes).
LINT_SPECS := internal/oaslint/testdata/specs
lint-deps: $(LINT_SPECS)/node_modules/.package-lock.json

$(LINT_SPECS)/node_modules/.package-lock.json: $(LINT_SPECS)/package-lock.json
	@command -v npm >/dev/null || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
	cd $(LINT_SPECS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

tools: $(BIN)/staticcheck-$(STATICCHECK_VERSION) $(BIN)/govulncheck-$(GOVULNCHECK_VERSION) $(BIN)/pebble-$(PEBBLE_VERSION)

$(BIN)/staticcheck-$(STATICCHECK_VERSION):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@touch $@

$(BIN)/govulncheck-$(GOVULNCHECK_VERSION):
	GOBIN=$(BIN) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	@touch $@

$(BIN)/pebble-$(PEBBLE_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble@$(PEBBLE_VERSION) github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$(PEBBLE_VERSION)
	@touch $@

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

lint: $(BIN)/staticcheck-$(STATICCHECK_VERSION)
	$(BIN)/staticcheck ./...

## vuln: govulncheck against the Go vulnerability database. Set GOVULNDB
## to a mirror (file:// or https://) where vuln.go.dev is not reachable.
vuln: $(BIN)/govulncheck-$(GOVULNCHECK_VERSION)
	@db=$${GOVULNDB:-https://vuln.go.dev}; \
	if [[ $$db == https://* ]] && ! curl -fsS -m 10 -o /dev/null "$$db/index/db.json" 2>/dev/null; then \
		echo "vuln: NOT CHECKED: the vulnerability database $$db is unreachable from this machine (set GOVULNDB to a mirror)"; \
	else \
		$(BIN)/govulncheck -db "$$db" ./...; \
	fi

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

## fuzz: each fuzz target for FUZZTIME (default 20s).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## bench: tlsgate vs nginx, side by side (see bench/README.md).
bench:
	bash bench/run.sh

## bench-lint: tlsgate lint vs Spectral, CPU seconds (see bench/lint/run.sh).
bench-lint:
	bash bench/lint/run.sh

clean:
	rm -rf $(BIN)
