# tlsgate — build, test and benchmark. `make test` is what CI runs.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin

# Pinned tool versions (installed into ./bin on first use).
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
PEBBLE_VERSION      := v2.10.3

# Debian packages the integration tests talk to.
TEST_PACKAGES := curl openssl ca-certificates nginx-light chromium prometheus etcd-server etcd-client testssl.sh default-jdk-headless knot dnsutils

.PHONY: all build test test-deps lint-deps bench-lint tools vet lint vuln vuln-verbose unit fuzz fuzz-edge bench demo clean

all: build

build:
	$(GO) build -o $(BIN)/tlsgate ./cmd/tlsgate

demo:
	$(GO) run ./cmd/tlsgate demo

## test: install missing test peers and tools, then vet, lint, vuln and race tests.
test: test-deps tools vet lint vuln unit fuzz-edge

## test-deps: install the real programs integration tests talk to.
test-deps: lint-deps
	@missing=""; for p in curl openssl nginx chromium promtool etcd testssl java knotd nsupdate; do PATH="$$PATH:/usr/sbin:/sbin" command -v $$p >/dev/null || missing="$$missing $$p"; done; \
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

## vuln: govulncheck against the Go vulnerability database, the first of:
## GOVULNDB when set (https://…, file:///abs/path or a directory), else
## https://vuln.go.dev when reachable, else ../shared/vulndb (a copy of
## golang/vulndb in govulncheck's file:// layout, dated in its SOURCE). Prints
## the database and its date. Fails when no database is available and when
## the code calls a vulnerable symbol (govulncheck exit 3). vuln-verbose also
## lists the vulnerabilities in imported packages and required modules that
## the code does not call.
VULNDB_PUBLIC := https://vuln.go.dev
VULNDB_SHARED := $(abspath $(CURDIR)/../shared/vulndb)
vuln-verbose: VULN_FLAGS := -show verbose
vuln vuln-verbose: $(BIN)/govulncheck-$(GOVULNCHECK_VERSION)
	@db="$${GOVULNDB:-}"; index=""; date=""; \
	if [ -n "$$db" ]; then \
		case "$$db" in \
		https://*|http://*) index=$$(curl -fsS -m 10 "$$db/index/db.json" 2>/dev/null) \
			|| { echo "vuln: FAIL: GOVULNDB=$$db: $$db/index/db.json is unreachable"; exit 1; } ;; \
		*) dir="$${db#file://}"; \
			dir=$$(cd "$$dir" 2>/dev/null && pwd) || { echo "vuln: FAIL: GOVULNDB=$$db: no such directory"; exit 1; }; \
			db="file://$$dir" ;; \
		esac; \
	elif index=$$(curl -fsS -m 5 "$(VULNDB_PUBLIC)/index/db.json" 2>/dev/null); then \
		db="$(VULNDB_PUBLIC)"; \
	elif [ -d "$(VULNDB_SHARED)" ]; then \
		db="file://$(VULNDB_SHARED)"; \
	else \
		echo "vuln: FAIL: no vulnerability database: GOVULNDB is unset, $(VULNDB_PUBLIC) is unreachable and $(VULNDB_SHARED) does not exist."; \
		echo "vuln: set GOVULNDB to a mirror: an https:// URL, or a directory in govulncheck's file:// layout (index/db.json, index/modules.json, ID/*.json)."; \
		exit 1; \
	fi; \
	if [[ $$db == file://* ]]; then \
		dir="$${db#file://}"; \
		index=$$(cat "$$dir/index/db.json" 2>/dev/null) \
			|| { echo "vuln: FAIL: $$db is not a vulnerability database (no index/db.json)"; exit 1; }; \
		date=$$(sed -n 's/^\(golang\/vulndb\) .*at commit \([0-9a-f]\{7\}\)[0-9a-f]* (\([0-9-]\{10\}\).*/\1 \2, \3/p' "$$dir/SOURCE" 2>/dev/null | head -n 1); \
	fi; \
	[ -n "$${date:-}" ] || date="modified $$(sed -n 's/.*"modified": *"\([^"]*\)".*/\1/p' <<<"$$index")"; \
	echo "vuln: database $$db ($$date)"; \
	$(BIN)/govulncheck -db "$$db" $(VULN_FLAGS) ./...; rc=$$?; \
	case $$rc in \
	0) [ -n "$(VULN_FLAGS)" ] || echo "vuln: ok: the code calls no vulnerable symbol (make vuln-verbose lists the vulnerabilities it does not call)" ;; \
	3) echo "vuln: FAIL: the code calls vulnerable symbols (above): bump the modules to the fixed versions, or the Go toolchain for the standard library"; exit 1 ;; \
	*) echo "vuln: FAIL: govulncheck exited $$rc"; exit 1 ;; \
	esac

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

## fuzz: each fuzz target for FUZZTIME (default 20s). A package whose
## tests do not build fails the run (go test -list reports it).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		list=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "fuzz: listing $$pkg failed"; exit 1; }; \
		for f in $$(grep '^Fuzz' <<<"$$list"); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## fuzz-edge: the request-path fuzzers of the security boundary (issue 13),
## each for EDGE_FUZZTIME, as part of make test: path normalisation, route
## paths, the direct path against httputil.ReverseProxy, the upstream
## transport against http.Transport, the operation table, the prefix route
## tree against a scan of the routes, internal/h1's HTTP/1.1 server
## against net/http's, HTTP/2's write-behind against the socket's own
## writes, and internal/httphead's request and response
## parsers against http.ReadRequest and http.ReadResponse
## (package:target). make fuzz runs every target longer.
EDGE_FUZZTIME ?= 15s
EDGE_FUZZ := proxy:FuzzNormalisePath proxy:FuzzRoutePath proxy:FuzzDirect proxy:FuzzTransportDiff \
	proxy:FuzzOperationTable proxy:FuzzRouteMatch h1:FuzzDifferential h1:FuzzWriteBehind \
	httphead:FuzzParseRequest httphead:FuzzReadResponse
##
## Go 1.26's fuzz coordinator can fail a run with "context deadline
## exceeded" when -fuzztime ends while a worker is busy, having found
## nothing (go.dev/issue/75804, fixed in Go 1.27). A run that fails with
## only that message, no failing input written and no failing seed, is run
## once more; any other failure fails at once.
fuzz-edge:
	@for pf in $(EDGE_FUZZ); do \
		p=./internal/$${pf%%:*}/; f=$${pf#*:}; \
		$(GO) test -list '^Fuzz' $$p | grep -qx "$$f" || { echo "fuzz-edge: $$f is missing from $$p"; exit 1; }; \
		for try in 1 2; do \
			echo "fuzz-edge $$f ($(EDGE_FUZZTIME))"; \
			log=$$(mktemp); \
			if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(EDGE_FUZZTIME) $$p >$$log 2>&1; then cat $$log; rm -f $$log; break; fi; \
			cat $$log; \
			if [[ $$try == 1 ]] && grep -qx '    context deadline exceeded' $$log && \
				! grep -q 'Failing input written' $$log && ! grep -q -- "--- FAIL: $$f/" $$log; then \
				echo "fuzz-edge $$f: the fuzz coordinator's own deadline race (go.dev/issue/75804), nothing found: once more"; \
				rm -f $$log; continue; \
			fi; \
			rm -f $$log; exit 1; \
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
