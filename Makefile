# rxpool build, test and benchmark entry points.
# `make test` is the one command CI runs (.ci/run); it installs what it needs.

GO        ?= go
BIN       := bin
FUZZTIME  ?= 60s
BENCHTIME ?= 1s
# Debian packages the build and the tests need (real programs, never mocks);
# libuv1 libhwloc15 libssl3 are the libraries of the real xmrig that
# internal/xmrig runs (from ../shared/xmrig or $RXPOOL_XMRIG_DIR).
DEB_PACKAGES := librandomx-dev redis-server monero chromium nginx haproxy systemd libuv1 libhwloc15 libssl3

.PHONY: all deps build frontend devnet test fmt-check vet unit bench fuzz clean

all: build

deps:
	@scripts/deps.sh $(DEB_PACKAGES)
	@$(GO) mod download

build: deps frontend
	$(GO) build -o $(BIN)/ ./cmd/...

# The pool for real on a private chain: Redis, the daemon, two wallets, the
# pool with every module and a miner. COIN=monero (default): monerod
# --regtest, state in .devnet/; COIN=pastella: Pastellad and
# Pastella-Wallet-API (from RXPOOL_PASTELLA_BIN, else ../shared/pastella),
# state in .devnet-pastella/. State is reused by the next run.
COIN ?= monero
devnet: build
	$(BIN)/devnet -coin $(COIN)

# The web frontend (Vite + TypeScript) into frontend/dist, which the API
# serves at / (api.frontend) and nginx serves in production.
frontend:
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Tests run with the race detector: the pool is concurrent everywhere and a
# race is a money bug waiting to happen. RXPOOL_TEST_CACHE is a directory
# the test processes of the run share: the funded Pastella chain is mined
# once there and each package starts its own copy (internal/testenv).
unit:
	@cache=$$(mktemp -d) && trap 'rm -rf "$$cache"' EXIT && \
	echo "RXPOOL_TEST_CACHE=$$cache $(GO) test -race -count=1 -timeout 60m ./..." && \
	RXPOOL_TEST_CACHE=$$cache $(GO) test -race -count=1 -timeout 60m ./...

test: deps fmt-check vet frontend unit

# Micro-benchmarks; the whole-pool load benchmarks (internal/e2e, tens of
# minutes) have their own commands in BENCHMARKS.md.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) $$($(GO) list ./... | grep -v /internal/e2e)

# Each fuzz target runs for FUZZTIME (go test allows one -fuzz target per run).
fuzz: deps
	@scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf $(BIN) frontend/dist artifacts
