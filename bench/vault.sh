#!/usr/bin/env bash
# Vault benchmark: Keyward's Vault (Swift, GRDB, libgcrypt wrapper) beside the C prototype
# ../shared/bench/vault-baseline.c doing the same work on the same machine, in the same run,
# at 1,000 and 100,000 entries (override with SIZES="1000 100000").
# Both: synchronous=FULL, WAL, 256-bucket manifest, Argon2id m=64 MiB (C: t=3 p=1; Keyward's
# production setting t=3 p=2). Keyward also writes the rollback anchor (2 fsyncs) after every
# committed transaction; the prototype has no anchor.
# Prints a table with the ratio Keyward / C (higher is better for rates, lower for unlock).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"1000 100000"}
SHARED=${SHARED:-../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gcc -O2 -Wall -o "$work/vault-baseline" "$SHARED/bench/vault-baseline.c" $(pkg-config --cflags --libs libgcrypt sqlite3)
swift build -c release --product KeywardVaultBenchmark >/dev/null
SWIFT_BIN=$(swift build -c release --show-bin-path)/KeywardVaultBenchmark

# field PREFIX FILE: on the first line starting with PREFIX, the number before " s " (unlock)
# or before " ops/s" / " puts/s" (rates)
field() { grep -m1 "^$1" "$2" | sed -E 's/.*(: |total )([0-9.]+) (s |ops\/s|puts\/s).*/\2/'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

printf '%-8s %-28s %14s %14s %8s\n' "entries" "measure" "C baseline" "Keyward" "ratio"
for n in $SIZES; do
    "$work/vault-baseline" "$work/c.db" "$n" FULL 2 > "$work/c.out"
    "$SWIFT_BIN" "$work/s.db" "$n" > "$work/s.out"
    rm -f "$work"/c.db* "$work"/s.db*
    while IFS='|' read -r label cpat spat unit; do
        c=$(field "$cpat" "$work/c.out"); s=$(field "$spat" "$work/s.out")
        printf '%-8s %-28s %12s %s %12s %s %8s\n' "$n" "$label" "$c" "$unit" "$s" "$unit" "$(ratio "$s" "$c")"
    done <<'TABLE'
unlock|unlock total|unlock total|s 
get|get|get|/s
durable put (update)|put .update|put .update|/s
durable put (insert)|put .insert|put .insert|/s
batched put (1,000 per txn)|put batch|put batch|/s
TABLE
done
echo
echo "raw output of the last size:"
sed 's/^/  C:     /' "$work/c.out"
sed 's/^/  Swift: /' "$work/s.out"
