#!/usr/bin/env bash
# Scan benchmark (issue 16, DESIGN.md "Leak scanning and masked output"), in one run:
# `keyward scan corpus` against a vault of VALUES=1000 values (500 entity secrets, 500 tokens)
# beside `grep -F -f patterns.txt -r corpus` given the same values expanded into the same
# encoded forms (KeywardBenchmarks scan-setup writes both, and MEGABYTES=500 of log lines,
# base64 blobs and binary files with 200 planted forms). Paired A B A B by farm-bench (RUNS=5
# counted runs after one warm-up). Both read the corpus from the page cache. Rates in MB/s are
# corpus bytes / median wall seconds; Keyward's include unlocking the vault and compiling the
# forms, as a user's run does. Target: keyward >= grep.
# The binaries are the release build `make install` makes (static Swift runtime) in
# SCRATCH=DIR (default .build-release); BIN=DIR uses DIR/keyward and DIR/KeywardBenchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
VALUES=${VALUES:-1000}
MEGABYTES=${MEGABYTES:-500}
RUNS=${RUNS:-5}
SCRATCH=${SCRATCH:-.build-release}
BIN=${BIN:-}
flags=(-c release --static-swift-stdlib -Xlinker --no-export-dynamic --scratch-path "$SCRATCH")
if [ -z "$BIN" ]; then
    swift build "${flags[@]}" --product keyward >&2
    swift build "${flags[@]}" --product KeywardBenchmarks >&2
    BIN="$SCRATCH/release"
fi
BIN=$(cd "$BIN" && pwd)
[ -x "$BIN/keyward" ] && [ -x "$BIN/KeywardBenchmarks" ] || { echo "no keyward or KeywardBenchmarks in $BIN" >&2; exit 1; }

work=$(mktemp -d)
chmod 700 "$work"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
cd "$work"
echo "== setup: $VALUES values, $MEGABYTES MB corpus"
"$BIN/KeywardBenchmarks" scan-setup "$work" "$VALUES" "$MEGABYTES" | tee setup.txt
bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' setup.txt)
export KEYWARD_KEY_FILE=$work/key KEYWARD_CONFIG=$work/keyward.yaml LC_ALL=C

echo "== check: both find the planted forms"
set +e
"$BIN/keyward" scan --quiet corpus > keyward.out; kw_status=$?
grep -r -a -F -o -f patterns.txt corpus > grep.out; grep_status=$?
set -e
echo "keyward: exit $kw_status, $(wc -l < keyward.out) findings; grep: exit $grep_status, $(wc -l < grep.out) matches"
[ "$kw_status" = 7 ] && [ "$grep_status" = 0 ] || { echo "unexpected exit status" >&2; exit 1; }

echo "== timing: A = keyward scan, B = grep -F -f (same forms), $RUNS runs each"
farm-bench -n "$RUNS" --timeout 1800 --vs "sh -c 'exec grep -r -a -F -c -f patterns.txt corpus >/dev/null'" \
    -- sh -c "exec '$BIN/keyward' scan --quiet corpus >/dev/null" | tee timing.txt
echo "corpus bytes: $bytes"
