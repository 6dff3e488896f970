#!/usr/bin/env bash
# Vault benchmark: Keyward's Vault (Swift, GRDB, libgcrypt wrapper) beside the C prototype
# ../shared/bench/vault-baseline.c doing the same work on the same machine, in the same run,
# at 1,000 and 10,000 entries (override with SIZES="1000 10000 100000"), each program RUNS=3 times,
# alternating, keeping each measure's best run.
# Both: synchronous=FULL, WAL, 256-bucket manifest, Argon2id t=3 m=64 MiB p=1 (the prototype's
# setting; Keyward creates t=3 p=2 in production). Keyward also writes the rollback anchor after
# every committed transaction (see docs/vault.md, "Rollback anchor"); the prototype has none.
# "unlock beyond KDF" is each program's unlock time minus its own Argon2id time: the target
# compares that (Argon2id itself is libgcrypt in both). The prototype is compiled from a copy
# whose two unlock timings print 6 decimals instead of 3 (same work, finer output).
# Prints a table with the ratio Keyward / C (higher is better for rates, lower for unlock).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"1000 10000"}
# SwiftPM build directory (e.g. SCRATCH=.build-release, to keep release builds apart from debug)
SCRATCH=${SCRATCH:-.build}
# BIN=DIR: use the release binaries already in DIR instead of building them (e.g. a copy kept
# from an earlier commit, to compare before and after in one run)
BIN=${BIN:-}
RUNS=${RUNS:-3}
SHARED=${SHARED:-../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sed 's/unlock total %\.3f s (argon2id t=3 m=64MiB p=1: %\.3f s/unlock total %.6f s (argon2id t=3 m=64MiB p=1: %.6f s/' \
    "$SHARED/bench/vault-baseline.c" > "$work/vault-baseline.c"
grep -q 'unlock total %.6f s' "$work/vault-baseline.c" || { echo "vault-baseline.c changed its unlock output" >&2; exit 1; }
gcc -O2 -Wall -o "$work/vault-baseline" "$work/vault-baseline.c" $(pkg-config --cflags --libs libgcrypt sqlite3)
if [ -z "$BIN" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product KeywardVaultBenchmark --static-swift-stdlib >/dev/null
    BIN=$(swift build -c release --scratch-path "$SCRATCH" --static-swift-stdlib --show-bin-path)
fi
SWIFT_BIN=$BIN/KeywardVaultBenchmark

# field PREFIX FILE: on the first line starting with PREFIX, the number before " s " (unlock)
# or before " ops/s" / " puts/s" (rates)
field() { grep -m1 "^$1" "$2" | sed -E 's/.*(: |total )([0-9.]+) (s |ops\/s|puts\/s).*/\2/'; }
# beyond_kdf FILE: unlock total minus the Argon2id time, in ms
beyond_kdf() {
    grep -m1 '^unlock total' "$1" | sed -E 's/^unlock total ([0-9.]+) s \(argon2id [^:]*: ([0-9.]+) s.*/\1 \2/' |
        awk '{ printf "%.2f\n", ($1 - $2) * 1000 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# best min|max VALUES...: the best of the runs (the machine is shared: noise only ever slows)
best() { local how=$1; shift; printf '%s\n' "$@" | sort -g | { if [ "$how" = min ]; then head -1; else tail -1; fi; }; }

printf 'best of %s alternating runs of each program per size\n' "$RUNS"
printf '%-8s %-30s %14s %14s %8s\n' "entries" "measure (target)" "C baseline" "Keyward" "ratio"
for n in $SIZES; do
    for run in $(seq "$RUNS"); do
        "$work/vault-baseline" "$work/c.db" "$n" FULL 2 > "$work/c.$run.out"
        "$SWIFT_BIN" "$work/s.db" "$n" > "$work/s.$run.out"
        rm -f "$work"/c.db* "$work"/s.db*
    done
    c=$(best min $(for f in "$work"/c.*.out; do beyond_kdf "$f"; done))
    s=$(best min $(for f in "$work"/s.*.out; do beyond_kdf "$f"; done))
    printf '%-8s %-30s %11s ms %11s ms %8s\n' "$n" "unlock beyond KDF (<= 1.5)" "$c" "$s" "$(ratio "$s" "$c")"
    while IFS='|' read -r label pattern; do
        c=$(best max $(for f in "$work"/c.*.out; do field "$pattern" "$f"; done))
        s=$(best max $(for f in "$work"/s.*.out; do field "$pattern" "$f"; done))
        printf '%-8s %-30s %12s /s %12s /s %8s\n' "$n" "$label" "$c" "$s" "$(ratio "$s" "$c")"
    done <<'TABLE'
get (>= 0.5)|get
durable put, update (>= 0.5)|put .update
durable put, insert (>= 0.5)|put .insert
batched put, 1,000/txn (>= 0.5)|put batch
TABLE
done
echo
echo "raw output of the last run:"
sed 's/^/  C:     /' "$work/c.$RUNS.out"
sed 's/^/  Swift: /' "$work/s.$RUNS.out"
