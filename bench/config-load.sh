#!/usr/bin/env bash
# Configuration loading against the size of a sink's entity list (issue 12, item 9): for
# N = 1,000, 10,000 and 20,000 entities, each listed by two dotenv sinks, the wall time of
# `keyward config check` and of `keyward vault get NAME` (a key-file vault, so no Argon2id;
# the vault commands load and validate the configuration too). Each a whole process, RUNS
# counted runs (default 5) after one warm-up; prints min / median / max seconds.
#
#   KEYWARD=path/to/keyward SIZES="1000 10000 20000" RUNS=5 bench/config-load.sh
#
# KEYWARD defaults to the debug build (`swift build --product keyward`); linear loading
# shows as the median growing in proportion to N (10x from 1,000 to 10,000, 2x to 20,000).
set -euo pipefail
cd "$(dirname "$0")/.."
KEYWARD=${KEYWARD:-$(swift build --show-bin-path)/keyward}
SIZES=${SIZES:-"1000 10000 20000"}
RUNS=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -m 700 "$work/home"
export HOME="$work/home" XDG_DATA_HOME="$work/home/data" XDG_STATE_HOME="$work/home/state" NO_COLOR=1
unset KEYWARD_CONFIG KEYWARD_VAULT KEYWARD_PASSPHRASE KEYWARD_PASSPHRASE_FILE

# The configuration: N entities under one provider, both sinks listing every one of them.
write_config() {
    local n=$1 file=$2
    {
        printf 'version: 1\nvault:\n  path: vault.db\nproviders:\n  sim:\n    baseURL: http://127.0.0.1:9/iam/v1\n    username: ops@example.com\nentities:\n'
        for ((i = 0; i < n; i++)); do printf '  FIU-BENCH-%06d: {}\n' "$i"; done
        printf 'sinks:\n'
        for sink in one two; do
            printf '  %s:\n    type: dotenv\n    path: %s.env\n    entities:\n' "$sink" "$sink"
            for ((i = 0; i < n; i++)); do printf '      - FIU-BENCH-%06d\n' "$i"; done
        done
    } > "$file"
}

# Median, min and max wall seconds of RUNS runs of "$@" (after one warm-up), output discarded.
time_runs() {
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@" >&2 || true; exit 1; }
    local times=()
    for ((r = 0; r < RUNS; r++)); do
        local start end
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s%N)
        times+=("$(( (end - start) / 1000000 ))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { printf "%8.3f %8.3f %8.3f", t[1] / 1000, t[int((NR + 1) / 2)] / 1000, t[NR] / 1000 }'
}

printf '%-10s %-18s %8s %8s %8s\n' entities command min median max
for n in $SIZES; do
    dir="$work/n$n"
    mkdir -p "$dir"
    write_config "$n" "$dir/keyward.yaml"
    (cd "$dir" && "$KEYWARD" vault init --quiet --new-key-file "$dir/vault.key" >/dev/null)
    export KEYWARD_KEY_FILE="$dir/vault.key"
    printf 'bench-value' | (cd "$dir" && "$KEYWARD" vault put --quiet bench/value >/dev/null)
    cd "$dir"
    printf '%-10s %-18s %s\n' "$n" "config check" "$(time_runs "$KEYWARD" config check --quiet)"
    printf '%-10s %-18s %s\n' "$n" "vault get" "$(time_runs "$KEYWARD" vault get bench/value)"
    cd - >/dev/null
done
