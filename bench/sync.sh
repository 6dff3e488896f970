#!/usr/bin/env bash
# Sync benchmark: 1,000 entities against the in-process simulator with 20 ms added to every call,
# key-file vault, concurrency 16; reported beside the ideal (calls x 20 ms / 16) and beside a
# sequential run (concurrency 1) of the same work in the same process, with peak RSS.
# Targets: within 1.5x of the ideal; peak RSS under 100 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product KeywardBenchmarks --static-swift-stdlib >/dev/null
.build/release/KeywardBenchmarks sync --entities "${ENTITIES:-1000}" --latency-ms "${LATENCY_MS:-20}" --concurrency "${CONCURRENCY:-16}"
