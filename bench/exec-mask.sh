#!/usr/bin/env bash
# exec --mask throughput (issue 16, item 4): a SIZE_MB (100) MB stream through
# `keyward exec --mask E… -- cat FILE > /dev/null` (CMD's stdout a pipe, masked), beside
# `keyward exec E… -- cat FILE` (no mask: keyward replaces itself with cat) and plain `cat FILE`,
# in the same run. ENTITIES (3) entities, each a 44-byte secret and a ~290-byte token, so
# 2 × ENTITIES values in every encoded form. The file: base64 text lines (random, so every
# 8-byte window is new to the matcher) with one of the values, raw or in one of its encoded
# forms, every ~16 KB. Target: ≥ 200 MB/s through --mask.
# Figures: median wall time of RUNS (3) runs after one warm-up, MB/s = SIZE_MB × 10^6 bytes / s.
# The binaries are the release build `make install` makes (static Swift runtime) in
# SCRATCH=DIR (default .build-release); BIN=DIR uses DIR/keyward and DIR/KeywardBenchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
ENTITIES=${ENTITIES:-3}
SIZE_MB=${SIZE_MB:-100}
SCRATCH=${SCRATCH:-.build-release}
BIN=${BIN:-}
flags=(-c release --static-swift-stdlib -Xlinker --no-export-dynamic --scratch-path "$SCRATCH")
if [ -z "$BIN" ]; then
    swift build "${flags[@]}" --product KeywardBenchmarks >&2
    swift build "${flags[@]}" --product keyward >&2
    BIN="$SCRATCH/release"
fi
BIN=$(cd "$BIN" && pwd)
SETUP=${SETUP:-$BIN/KeywardBenchmarks}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$SETUP" export-setup "$work" "$ENTITIES" > "$work/ids"
mapfile -t ids < "$work/ids"
export KEYWARD_KEY_FILE="$work/key"
cd "$work"

# The stream, with the values the child is given planted in it (raw and encoded).
python3 - "$work/plain.env" "$work/stream" "$SIZE_MB" <<'PY'
import base64, json, os, random, sys, urllib.parse
values = [line.split("=", 1)[1].rstrip("\n").encode() for line in open(sys.argv[1])
          if line.split("=", 1)[0].endswith(("_SECRET", "_ACCESS_TOKEN"))]
def forms(v):
    return [v, base64.b64encode(v), base64.urlsafe_b64encode(v), json.dumps(v.decode()).encode(),
            urllib.parse.quote(v.decode(), safe="").encode(), urllib.parse.quote_plus(v.decode()).encode()]
planted = [f for v in values for f in forms(v)]
rng = random.Random(16)
size = int(sys.argv[3]) * 1_000_000
with open(sys.argv[2], "wb") as out:
    written = 0
    while written < size:
        block = base64.encodebytes(os.urandom(12_000)) + b"token=" + rng.choice(planted) + b"\n"
        out.write(block[: size - written])
        written += min(len(block), size - written)
PY
bytes=$(stat -c %s "$work/stream")

# measure LABEL CMD...: median wall seconds over $RUNS runs after one warm-up; stdout to /dev/null
measure() {
    python3 - "$RUNS" "$bytes" "$@" <<'PY'
import os, statistics, subprocess, sys, time
runs, size, label, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def once():
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0: sys.exit(f"{label}: exit status {status}")
    return wall, usage.ru_utime + usage.ru_stime
once()
rows = [once() for _ in range(runs)]
wall = statistics.median(r[0] for r in rows)
cpu = statistics.median(r[1] for r in rows)
print(f"{label:<34} {wall:7.3f} s  {size / 1e6 / wall:8.1f} MB/s  (cpu {cpu:.3f} s)")
PY
}

echo "$((bytes / 1000000)) MB through cat, $ENTITIES entities ($((2 * ENTITIES)) values), $RUNS runs each (median)"
measure "cat FILE" cat "$work/stream"
measure "keyward exec E… -- cat FILE" "$BIN/keyward" exec "${ids[@]}" -- cat "$work/stream"
measure "keyward exec --mask E… -- cat FILE" "$BIN/keyward" exec --mask "${ids[@]}" -- cat "$work/stream"

# The masked output holds none of the values and one marker per planted line.
"$BIN/keyward" exec --mask "${ids[@]}" -- cat "$work/stream" > "$work/masked"
python3 - "$work/plain.env" "$work/stream" "$work/masked" <<'PY'
import sys
values = [line.split("=", 1)[1].rstrip("\n").encode() for line in open(sys.argv[1])
          if line.split("=", 1)[0].endswith(("_SECRET", "_ACCESS_TOKEN"))]
original, masked = open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
planted = original.count(b"token=")
markers = masked.count(b"<redacted:")
leaked = sum(masked.count(v) for v in values)
print(f"check: {planted} planted lines, {markers} markers, {leaked} raw values left")
sys.exit(1 if leaked or markers < planted - 1 else 0)
PY
