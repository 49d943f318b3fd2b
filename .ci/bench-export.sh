#!/usr/bin/env bash
# Peak RSS and throughput of the audit export and verify for 1,000,000
# events (CEREMONY_BENCH_EVENTS), each in its own process under
# /usr/bin/time -v (Debian package "time"). Not part of make test.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin"
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/export.test" ./events/export/
export CEREMONY_BENCH_EXPORT_DIR="$work/export"
for b in ExportMemory VerifyMemory; do
	/usr/bin/time -v "$work/export.test" -test.run '^$' -test.bench "^Benchmark$b\$" -test.benchtime 1x 2>"$work/time.txt" | grep '^Benchmark'
	grep -E 'Maximum resident set size|Elapsed \(wall clock\)|User time|System time' "$work/time.txt"
done
