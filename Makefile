# The two commands of the README: `make demo` and `make test`.
# Both install what they need on a fresh Debian 12 machine (.ci/deps.sh).
export PATH := $(PATH):/usr/local/go/bin
GO ?= go

.PHONY: demo test bench bench-cluster bench-open fuzz screenshot

demo:
	bash .ci/deps.sh build
	$(GO) run ./cmd/ceremony demo

test:
	bash .ci/deps.sh test
	bash .ci/test.sh

# Engine (and store) against raw JetStream, one operation of each in turn,
# 5 repetitions: ratio-median/min/max are engine/raw. Then memory, the
# audit export, and its peak RSS for 1M events (.ci/bench-export.sh).
bench:
	$(GO) test -run '^$$' -bench '^Benchmark(Append|Rebuild)$$' -benchtime 1x ./engine/
	$(GO) test -run '^$$' -bench 'Append|Replay' -benchtime 1x ./adapters/jetstream/
	$(GO) test -run '^$$' -bench Memory -benchtime 1x ./engine/
	$(GO) test -run '^$$' -bench ExportVerify -benchtime 1x ./events/export/
	bash .ci/bench-export.sh

# The same comparisons on a real 3-node NATS cluster (in-process
# nats-server, testdata/nats-cluster, R3 stream), and step latency p50/p99
# with 1, 10 and 100 ceremonies in flight (README.md, "Running on a NATS
# cluster"). Not part of 'make test'; go vet compiles it.
bench-cluster:
	$(GO) test -run '^$$' -bench '^BenchmarkCluster' -benchtime 1x -timeout 30m ./engine/

# 'ceremony list' and 'ceremony show ID' (the binary, median of 5 runs)
# on stores of 10k, 100k and 1M events; the stores are built once into
# BENCH_OPEN_DIR (the 1M one takes many minutes) and reused.
BENCH_OPEN_DIR ?= /tmp/ceremony-bench-open
bench-open:
	mkdir -p $(BENCH_OPEN_DIR)
	BENCH_OPEN_DIR=$(BENCH_OPEN_DIR) BENCH_OPEN_SIZES=10000,100000,1000000 \
		$(GO) test -run '^$$' -bench BenchmarkOpen -benchtime 1x -timeout 120m ./cmd/ceremony/

fuzz:
	FUZZTIME=60s bash .ci/fuzz.sh

# The README's screenshot of the console's live ceremony view, taken by
# the browser test (headless Chromium) at the first PIN prompt.
screenshot:
	bash .ci/deps.sh test
	UPDATE_SCREENSHOT=1 $(GO) test -count=1 -run TestConsoleInTheBrowser ./cmd/ceremony/
