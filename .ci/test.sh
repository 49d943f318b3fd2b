#!/usr/bin/env bash
# The whole test suite: formatting, vet, the engine under the race
# detector, every package's tests (with each fuzz target's seed corpus).
# Every test that needs a real component starts it itself and fails (never
# skips) when it is missing.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin"
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi

echo "== go vet"
go vet ./...

echo "== go test -race (engine, events, store, ceremonies)"
go test -race -count=1 -timeout 15m ./engine/... ./events/... ./adapters/jetstream/... ./adapters/pkcs11hsm/... ./ceremonies/...

echo "== go test (all packages)"
go test -count=1 -timeout 15m ./...

# The fuzz targets' seed corpora run above as ordinary tests; 'make fuzz'
# fuzzes each target for a minute (not in CI: go's fuzzer can end a short
# run with a spurious "context deadline exceeded").
