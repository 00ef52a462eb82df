# Herald — `make dev` runs it, `make test` tests it.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
# The packages that link the Temporal server test without -race: the race
# detector multiplies its memory and build time for no finding of ours.
HEAVY    := ./cmd/herald ./cmd/herald-bench ./cmd/herald-chaos ./e2e ./dashboard ./devserver
LIGHT     = $(shell $(GO) list ./... | grep -v -e /cmd/herald -e /e2e -e /devserver -e /dashboard)
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)

.PHONY: bench bench-smoke chaos chaos-short soak dev build test test-unit test-e2e fuzz fuzz-short lint fmt-check vet staticcheck tools clean

## dev: build and run everything in one process (Temporal + UI + SQLite + worker + API)
dev: build
	./bin/herald dev

## build: compile bin/herald
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/herald ./cmd/herald

## test: formatting, vet, unit tests with -race, the end-to-end tests, a short fuzz
test: fmt-check vet test-unit test-e2e fuzz-short

# Without PostgreSQL, `go test ./...` skips the tests that need it; here
# they fail instead.
test-unit:
	HERALD_REQUIRE_POSTGRES=1 $(GO) test -race -count=1 $(LIGHT)

test-e2e:
	HERALD_REQUIRE_POSTGRES=1 $(GO) test -count=1 -timeout 10m $(HEAVY)

# Fuzz targets, package:target. Their seed corpora run in every `go test`;
# fuzz-short mutates each for FUZZTIME in CI, `make fuzz` for longer.
FUZZ := ./api:FuzzPublishEvent ./api:FuzzCreateWebhook ./api:FuzzUpdateWebhook ./webhook:FuzzVerify ./netguard:FuzzCheckURL \
        ./filter:FuzzFilter ./payload:FuzzRender ./api:FuzzPublishBatch ./api:FuzzCreateIntegration ./api:FuzzUpdateIntegration \
        ./api:FuzzSubscribe ./api:FuzzCreateAPIKey ./api:FuzzRevokeAPIKey ./api:FuzzRetryCancel ./api:FuzzPutEventType ./api:FuzzListQuery \
        ./api:FuzzTestSend ./api:FuzzRotateSecret ./api:FuzzSession ./api:FuzzDeleteSubscriber
FUZZTIME ?= 8s

# Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a
# failure ("context deadline exceeded", no failing input written) when a
# worker is busy as time runs out (go.dev/issue/75804, fixed in Go 1.27):
# such a run is tried once more; any other failure fails at once.
fuzz-short:
	@log=$$(mktemp); for f in $(FUZZ); do \
		echo "fuzz $${f#*:} for $(FUZZTIME)"; \
		for try in 1 2 3; do \
			$(GO) test -run '^$$' -fuzz "^$${f#*:}$$" -fuzztime $(FUZZTIME) $${f%%:*} >$$log 2>&1 && break; \
			if [ $$try != 3 ] && grep -q 'context deadline exceeded' $$log && ! grep -q -e 'Failing input written' -e 'panic:' $$log; then \
				echo "  the fuzz coordinator timed out its own worker (go.dev/issue/75804): once more"; continue; fi; \
			cat $$log; rm -f $$log; exit 1; \
		done; \
	done; rm -f $$log

## fuzz: each fuzz target for five minutes (FUZZTIME=… to change)
fuzz:
	$(MAKE) fuzz-short FUZZTIME=$(if $(filter 8s,$(FUZZTIME)),5m,$(FUZZTIME))

## bench: Herald in every delivery mode beside plain Go fan-out, the engine's ceiling and a naive Temporal design, on the same receiver (BENCH_FLAGS=… to change)
bench:
	$(GO) run ./cmd/herald-bench $(BENCH_FLAGS)

## bench-smoke: a two-minute run of every scenario, small, that checks correctness, not speed
bench-smoke:
	$(GO) run ./cmd/herald-bench -smoke $(BENCH_FLAGS)

## chaos: 10,000 events through real processes while killing and restarting them (CHAOS_FLAGS=… to change)
chaos: build
	$(GO) run ./cmd/herald-chaos -herald bin/herald $(CHAOS_FLAGS)

## soak: an hour at 50 events/s x 3 webhooks, a tenth refused, no kills; every process sampled each minute (SOAK_FLAGS=... to change)
soak: build
	$(GO) run ./cmd/herald-chaos -herald bin/herald -soak -out bench/results/soak-$$(date -u +%Y%m%dT%H%M%SZ).json $(SOAK_FLAGS)

## chaos-short: the CI variant, 300 events and a few faults
chaos-short: build
	$(GO) run ./cmd/herald-chaos -herald bin/herald -short $(CHAOS_FLAGS)

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
