# The two commands of the README: `make demo` and `make test`.
# Both install what they need on a fresh Debian 12 machine (.ci/deps.sh).
export PATH := $(PATH):/usr/local/go/bin
GO ?= go

.PHONY: demo test bench fuzz

demo:
	bash .ci/deps.sh build
	$(GO) run ./cmd/ceremony demo

test:
	bash .ci/deps.sh test
	bash .ci/test.sh

bench:
	$(GO) test -run '^$$' -bench 'Append|Rebuild|Replay' -benchtime 2000x ./engine/ ./adapters/jetstream/
	$(GO) test -run '^$$' -bench Memory -benchtime 1x ./engine/

fuzz:
	FUZZTIME=60s bash .ci/fuzz.sh
