# Portcullis: API-security sidecar. `make demo` and `make test` work on a
# fresh machine with only Go installed.
GO        ?= go
BIN       := bin/portcullis
PKGS      := ./...
STATICCHECK_VERSION := 2025.1.1

.PHONY: all build demo test check bench bench-e2e bench-peers fmt vet staticcheck clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/portcullis

## demo: build, then start the demo stack and walk through requests on screen.
demo: build
	$(GO) run ./examples/demo --bin $(BIN)

## test: every test with the race detector.
test:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## check: what CI should hold: formatting, vet, staticcheck, race tests, one pass of every benchmark.
check: fmt vet staticcheck test
	$(GO) test -run '^$$' -bench . -benchtime=1x $(PKGS)

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

## bench: package micro-benchmarks with allocation counts.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
