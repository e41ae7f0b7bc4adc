# teamtalk: a TeamTalk-compatible IM server appliance. `make help` lists the targets.
SHELL   := /bin/bash
GO      ?= go
PREFIX  ?= /usr/local
DESTDIR ?=
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X teamtalk/appliance.Version=$(VERSION)
DATA    ?= ./var
RUNARGS ?=
FUZZTIME ?= 60s

.PHONY: help build run test test-short tui-e2e systemd-test bench fuzz soak proto dist clean vet fmt

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build teamtalkd, ttctl and ttbench into ./bin
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

run: build ## run the appliance on its embedded default (data in ./var)
	@mkdir -p $(DATA)
	./$(BIN)/teamtalkd -data $(DATA) $(RUNARGS)

vet: ## go vet and gofmt check
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	 if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: vet ## vet, then every test with the race detector
	$(GO) test -race -timeout 30m -count=1 ./...

tui-e2e: ## the console's end-to-end check alone: real teamtalkd, `ttctl tui` driven in tmux (make test runs it too)
	CI=$${CI:-true} $(GO) test -race -count=1 -v -run TestConsoleInTmux ./tui/e2e

systemd-test: ## install.sh under a real systemd alone (root): a cached Debian root booted with systemd-nspawn -b; install, upgrade, restart, reboot, uninstall (make test runs it too; first run debootstraps, ~1.5 min)
	CI=$${CI:-true} $(GO) test -race -count=1 -v -timeout 20m -run '^TestSystemd$$' ./install

test-short: ## the tests without -race (quick local loop)
	$(GO) test -timeout 30m ./...

.PHONY: bench-go
bench: ## ttbench's standard set (login, p2p, idle, group, mixed) against a fresh teamtalkd (MYSQL=1: on a private mariadbd); prints the table
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/teamtalkd ./cmd/ttbench
	bench/run.sh $(BIN)

bench-go: ## the Go benchmarks of every package (long; not run in CI)
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

fuzz: ## run every fuzz target for FUZZTIME each (default 60s); a crasher fails it (commit testdata/fuzz as a regression test); prints execs and corpus per target
	@set -eo pipefail; sum=$$(mktemp); trap 'rm -f $$sum' EXIT; \
	 for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg 2>&1 | tee /dev/stderr | \
	      awk -v t="$$pkg $$f" '/execs:/{l=$$0} END{sub(/.*elapsed: /,"",l); printf "  %-60s %s\n", t, l}' >> $$sum; \
	  done; done; echo "== fuzz summary (elapsed, execs, new interesting (total corpus))"; cat $$sum

SOAK_CYCLES  ?= 20
SOAK_READERS ?= 10000
SOAK_FLOOD   ?= 10000
soak: ## long reliability runs of e2e: SOAK_CYCLES (20) SIGKILL cycles under load (bolt and MySQL), SOAK_READERS (10,000) stalled readers, SOAK_FLOOD (10,000) idle connections, the service faults, SIGTERM drain
	CI=$${CI:-true} TT_CRASH_CYCLES=$(SOAK_CYCLES) TT_SLOW_READERS=$(SOAK_READERS) TT_FLOOD_CONNS=$(SOAK_FLOOD) $(GO) test -count=1 -v -timeout 60m \
	  -run '^(TestCrashSafety.*|TestSlowReaders|TestFault.*|TestServicePanic|TestGracefulStop.*|TestConnectionFlood|TestAcceptEMFILE)$$' ./e2e

proto: ## regenerate wire/pb from its .proto files (needs protoc)
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler"; exit 1; }
	$(GO) build -o $(BIN)/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	cd wire/pb && protoc --plugin=protoc-gen-go=../../$(BIN)/protoc-gen-go \
	  --go_out=. --go_opt=paths=source_relative *.proto
	$(GO) generate ./wire/pb

DIST        ?= dist
DIST_ARCHES ?= amd64 arm64
DIST_FILES  := install.sh README.md teamtalkd.example.toml systemd/teamtalkd.service \
               systemd/teamtalk.sysusers.conf systemd/teamtalk.tmpfiles.conf

dist: ## static release tarballs (DIST_ARCHES, default amd64 arm64) + SHA256SUMS in ./dist
	@set -e; mkdir -p $(DIST); for arch in $(DIST_ARCHES); do \
	  name=teamtalk-$(VERSION)-linux-$$arch; d=$(DIST)/$$name; rm -rf $$d $$d.tar.gz; mkdir -p $$d/bin $$d/systemd; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$d/bin/ ./cmd/teamtalkd ./cmd/ttctl; \
	  for f in $(DIST_FILES); do install -m $$( [ -x $$f ] && echo 755 || echo 644 ) $$f $$d/$$f; done; \
	  tar -C $(DIST) --owner=0 --group=0 --numeric-owner -czf $$d.tar.gz $$name; rm -rf $$d; \
	  echo "dist: $$d.tar.gz"; done; \
	  cd $(DIST) && sha256sum teamtalk-$(VERSION)-linux-*.tar.gz > SHA256SUMS

clean: ## remove build outputs (keeps ./var)
	rm -rf $(BIN) dist
