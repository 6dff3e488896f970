#!/usr/bin/env bash
# Client benchmark: 1,000 sequential entity-token calls through Keyward's TokenServiceClient
# beside a plain AsyncHTTPClient POST loop to the same simulator, in the same run, twice:
#   1. simulator in the benchmark's process (as the issue asks; server CPU counted in both loops)
#   2. simulator in its own process (`keyward simulator`), so CPU figures are the clients' alone
# Target: Keyward's CPU per call within 1.5x of the plain loop's.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-1000}
swift build -c release --product KeywardBenchmarks --static-swift-stdlib >/dev/null
swift build -c release --product keyward --static-swift-stdlib -Xlinker --no-export-dynamic >/dev/null
BIN=.build/release

echo "== in-process simulator, $CALLS calls each"
$BIN/KeywardBenchmarks --calls "$CALLS"

echo "== simulator in its own process, $CALLS calls each"
work=$(mktemp -d)
trap 'kill "${sim:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
secret='bench+secret/with=punctuation'
cat > "$work/seed.yaml" <<YAML
users: []
entities:
  - id: FIU-BENCH-1
    secret: "$secret"
    expiresIn: 180d
YAML
$BIN/keyward simulator --port 0 --seed "$work/seed.yaml" --quiet > "$work/out" &
sim=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
base="$(sed -n 's/^listening on //p' "$work/out")/iam/v1"
$BIN/KeywardBenchmarks --calls "$CALLS" --base-url "$base" --secret "$secret" --entity FIU-BENCH-1
