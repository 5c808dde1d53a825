# ftplab: `make demo` builds and runs the default lab, `make test` runs the
# tests, then again under the race detector (`make race`).
GO      ?= go
BIN     := bin/ftplab
PKGS    := ./...

.PHONY: all build demo test race vet bench fuzz clean
FUZZTIME ?= 30s

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ftplab

demo: build
	./$(BIN) run rfc478

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (gofmt -l . ; echo "gofmt needed"; exit 1)
	$(GO) vet $(PKGS)

test: vet
	$(GO) test -count=1 -timeout 14m $(PKGS)
	@$(MAKE) --no-print-directory race

# Every test under the race detector (a few minutes on two cores).
race:
	$(GO) test -race -count=1 -timeout 14m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./stack/ ./labs/ ./ftp/store/
	$(GO) test -run '^$$' -bench . -benchtime 3x ./ftp/server/ ./ftp/client/
	$(GO) test -run '^$$' -bench . -benchtime 1x ./tun/

# Runs every fuzz target for FUZZTIME (seed corpora live in testdata/fuzz).
fuzz:
	@set -e; for f in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go')); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "== $$t ($$(dirname $$f))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f); \
	  done; done

clean:
	rm -rf bin
