#!/usr/bin/env bash
# Runs each fuzz target for $FUZZTIME (default 10s).
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin"
cd "$(dirname "$0")/.."
t="${FUZZTIME:-10s}"
targets=(
	"./events FuzzDecode"
	"./events FuzzDecodePayload"
	"./events FuzzParseUTC"
	"./events FuzzPlanMatchesEncodingJSON"
	"./events FuzzCanonicalPayload"
	"./ceremonies/backupkey FuzzDecodeRecord"
	"./ceremonies/hsmbackup FuzzDecodeFile"
	"./ceremonies/usercard FuzzParseSealed"
	"./adapters/openpgp FuzzParseResponse"
	"./adapters/openpgp FuzzParsePWStatus"
	"./adapters/openpgp FuzzParseAID"
	"./adapters/cardemu FuzzProcess"
)
for tg in "${targets[@]}"; do
	set -- $tg
	echo "-- fuzz $2 ($1, $t)"
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$t" -fuzzminimizetime 2s "$1"
done
