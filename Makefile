# ftplab: `make demo` builds and runs the default lab, `make test` runs the
# tests, then again under the race detector (`make race`).
GO      ?= go
BIN     := bin/ftplab
PKGS    := ./...

.PHONY: all build demo test race tools vet bench fuzz soak clean
FUZZTIME ?= 30s

# Debian keeps ip, nft and vsftpd in /usr/sbin, which a normal user's PATH
# lacks.
export PATH := $(PATH):/usr/sbin:/sbin

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ftplab

demo: build
	./$(BIN) run rfc478

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (gofmt -l . ; echo "gofmt needed"; exit 1)
	$(GO) vet $(PKGS)

# Installs the programs the tests drive where one is missing (as root or
# with password-less sudo; otherwise prints the apt-get line to run and
# fails). The list is in .ci/install-deps.
tools:
	@bash .ci/install-deps

test: tools vet
	$(GO) test -count=1 -timeout 14m $(PKGS)
	@$(MAKE) --no-print-directory race

# Every test under the race detector (a few minutes on two cores).
race:
	$(GO) test -race -count=1 -timeout 14m $(PKGS)

# A bounded soak: 1000 lab runs (the embedded labs in turn) in one process,
# checking that goroutines, file descriptors and the heap stay flat.
soak:
	FTPLAB_SOAK_RUNS=1000 $(GO) test -count=1 -timeout 60m -run '^TestSoak$$' -v ./labs/

bench:
	$(GO) test -run '^$$' -bench LabFXP -benchtime 3x ./labs/
	$(GO) test -run '^$$' -bench 'LabRun' -benchtime 2s ./labs/
	$(GO) test -run '^$$' -bench 'LabFTPS' -benchtime 2x ./labs/
	$(GO) test -run '^$$' -bench . -benchtime 2s ./stack/ ./ftp/store/
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
