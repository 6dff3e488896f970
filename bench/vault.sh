#!/usr/bin/env bash
# Vault benchmark: Keyward's Vault (Swift, GRDB, libgcrypt wrapper) beside the C prototype
# ../shared/bench/vault-baseline.c doing the same work on the same machine, in the same run,
# at 1,000 and 100,000 entries (override with SIZES="1000 100000").
# Both: synchronous=FULL, WAL, 256-bucket manifest, Argon2id t=3 m=64 MiB p=1 (the prototype's
# setting; Keyward creates t=3 p=2 in production). Keyward also writes the rollback anchor after
# every committed transaction (see docs/vault.md, "Rollback anchor"); the prototype has none.
# "unlock beyond KDF" is each program's unlock time minus its own Argon2id time: the target
# compares that (Argon2id itself is libgcrypt in both). The prototype is compiled from a copy
# whose two unlock timings print 6 decimals instead of 3 (same work, finer output).
# Prints a table with the ratio Keyward / C (higher is better for rates, lower for unlock).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"1000 100000"}
SHARED=${SHARED:-../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sed 's/unlock total %\.3f s (argon2id t=3 m=64MiB p=1: %\.3f s/unlock total %.6f s (argon2id t=3 m=64MiB p=1: %.6f s/' \
    "$SHARED/bench/vault-baseline.c" > "$work/vault-baseline.c"
grep -q 'unlock total %.6f s' "$work/vault-baseline.c" || { echo "vault-baseline.c changed its unlock output" >&2; exit 1; }
gcc -O2 -Wall -o "$work/vault-baseline" "$work/vault-baseline.c" $(pkg-config --cflags --libs libgcrypt sqlite3)
swift build -c release --product KeywardVaultBenchmark >/dev/null
SWIFT_BIN=$(swift build -c release --show-bin-path)/KeywardVaultBenchmark

# field PREFIX FILE: on the first line starting with PREFIX, the number before " s " (unlock)
# or before " ops/s" / " puts/s" (rates)
field() { grep -m1 "^$1" "$2" | sed -E 's/.*(: |total )([0-9.]+) (s |ops\/s|puts\/s).*/\2/'; }
# beyond_kdf FILE: unlock total minus the Argon2id time, in ms
beyond_kdf() {
    grep -m1 '^unlock total' "$1" | sed -E 's/^unlock total ([0-9.]+) s \(argon2id [^:]*: ([0-9.]+) s.*/\1 \2/' |
        awk '{ printf "%.2f", ($1 - $2) * 1000 }'
}
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
TABLE
    c=$(beyond_kdf "$work/c.out"); s=$(beyond_kdf "$work/s.out")
    printf '%-8s %-28s %11s ms %11s ms %8s\n' "$n" "unlock beyond KDF (<=1.5)" "$c" "$s" "$(ratio "$s" "$c")"
    while IFS='|' read -r label cpat spat unit; do
        c=$(field "$cpat" "$work/c.out"); s=$(field "$spat" "$work/s.out")
        printf '%-8s %-28s %12s %s %12s %s %8s\n' "$n" "$label" "$c" "$unit" "$s" "$unit" "$(ratio "$s" "$c")"
    done <<'TABLE'
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
