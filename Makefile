# Herald — `make dev` runs it, `make test` tests it.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
# The packages that link the Temporal server test without -race: the race
# detector multiplies its memory and build time for no finding of ours.
HEAVY    := ./cmd/herald ./e2e
LIGHT     = $(shell $(GO) list ./... | grep -v -e /cmd/herald -e /e2e -e /devserver)
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)

.PHONY: dev build test test-unit test-e2e lint fmt-check vet staticcheck tools clean

## dev: build and run everything in one process (Temporal + UI + SQLite + worker + API)
dev: build
	./bin/herald dev

## build: compile bin/herald
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/herald ./cmd/herald

## test: formatting, vet, unit tests with -race, then the end-to-end tests
test: fmt-check vet test-unit test-e2e

test-unit:
	$(GO) test -race -count=1 $(LIGHT)

test-e2e:
	$(GO) test -count=1 -timeout 10m $(HEAVY)

## lint: gofmt, go vet, staticcheck
lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	@test -x "$(STATICCHECK)" || { echo "staticcheck missing: make tools"; exit 1; }
	$(STATICCHECK) ./...

## tools: install staticcheck
tools:
	GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

clean:
	rm -rf bin .herald
