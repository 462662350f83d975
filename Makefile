# Portcullis: API-security sidecar. `make demo` and `make test` work on a
# fresh machine with only Go installed.
GO        ?= go
BIN       := bin/portcullis
DEV_BIN   := bin/portcullis-dev
PKGS      := ./...
PGO       := cmd/portcullis/default.pgo
STATICCHECK_VERSION := v0.8.2

.PHONY: all build image demo test check bench bench-e2e bench-peers bench-compare fmt vet staticcheck clean

all: build

## build: the portcullis CLI (what every sidecar runs) and portcullis-dev, the etcd server that
## `portcullis dev` runs beside it, so that the sidecar binary does not link the etcd server.
## CGO off, as `make image` builds what ships: a static binary maps no libc, 1.5 MB less peak RSS
## under the bench load (docs/performance.md, **Memory**), and the bench measures what ships.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/portcullis
	CGO_ENABLED=0 $(GO) build -o $(DEV_BIN) ./cmd/portcullis-dev

## image: the container image without Docker: a static portcullis binary (CGO off, -trimpath,
## stripped) and the CA certificates on an empty base, as a tarball for `docker load` or
## `crane push` (internal/tools/mkimage, go-containerregistry). GOARCH picks the architecture.
image:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/image/portcullis ./cmd/portcullis
	$(GO) run ./internal/tools/mkimage --binary bin/image/portcullis --out bin/portcullis-image.tar --arch $$($(GO) env GOARCH)

## demo: build, then start the demo stack and walk through requests on screen.
demo: build
	$(GO) run ./examples/demo --bin $(BIN)

## test: every test with the race detector, then the tests that only build without it
## (allocation guards: the race detector allocates; rate tests that keep a schedule), one package
## at a time (-p 1): the rate tests count requests per second and must not share the CPUs
## with another package's tests (TestGlobalTenantLimit failed twice beside the raw-socket tests).
## staticcheck first (a prerequisite), so that CI (.ci/run) holds its findings at zero too.
test: staticcheck
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	cd interop && $(GO) test -race -count=1 -timeout 10m ./...
	$(GO) test -p 1 -count=1 -timeout 20m -run "^($$(grep -l '^//go:build.*!race' $$(git ls-files '*_test.go') | xargs grep -ho '^func Test[A-Za-z0-9_]*' | sed 's/^func //' | paste -sd'|'))$$" $(PKGS)

## check: what CI should hold: formatting, vet, staticcheck and race tests (test), one pass of every benchmark.
check: fmt vet test
	$(GO) test -run '^$$' -bench . -benchtime=1x $(PKGS)

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## staticcheck: honnef.co/go/tools at a fixed version, built from the Go module proxy by go run.
## A finding that is deliberate is ignored on its line: //lint:ignore CHECK reason.
staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

## bench: package micro-benchmarks with allocation counts, compiled with the binary's
## profile (cmd/portcullis/default.pgo, which `go build ./cmd/portcullis` applies by itself),
## so that they measure the code as the sidecar runs it.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -pgo=$(PGO) $(PKGS)

## bench-e2e: end-to-end load against direct, bare proxy, Portcullis, nginx, HAProxy; writes bench/results/.
bench-e2e: build
	$(GO) build -o bin/bench-harness ./bench/harness
	bin/bench-harness --bin $(BIN) --out bench/results

## bench-peers: install the peer proxies (nginx, HAProxy) and wrk from Debian packages; never starts services.
bench-peers:
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light haproxy wrk

## bench-compare: micro-benchmarks of BASE (default HEAD~1) against the working tree, through benchstat.
bench-compare:
	bench/compare $(BASE)

clean:
	rm -rf bin
