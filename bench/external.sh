#!/usr/bin/env bash
# External-plugin benchmark (issue 15, DESIGN.md "Plugins", protocol 1), in one run:
#  1. per call: KeywardBenchmarks plugin-call sends the write request of ENTITIES=1000 entities
#     (5,000 keys) to an external sink through Keyward's plugin client, alternating with the same
#     plugin run alone on the same request bytes (posix_spawn, stdout read, waitpid); the
#     difference of the medians is the protocol's overhead per call. Twice: the POSIX-shell
#     example sink (Examples/plugins/keyward-sink-files: jq + sh, one file per key) and a minimal
#     shell sink that only reads its request and answers (so the overhead is not lost in the
#     example's own run time). Target: <= 5 ms per plugin call beyond the plugin's own run time.
#  2. whole command: `keyward sync` of the same 1,000 entities against `keyward simulator`,
#     A = through the example shell sink, B = through the built-in dotenv sink, paired A B A B
#     by farm-bench (RUNS=5 counted runs after one warm-up). Nothing changes between runs, so
#     each sync reads 1,000 secrets and makes one (unchanged) sink write.
# The binaries are the release build `make install` makes (static Swift runtime) in
# SCRATCH=DIR (default .build-release); BIN=DIR uses DIR/keyward and DIR/KeywardBenchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
ENTITIES=${ENTITIES:-1000}
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
KW=$BIN/keyward
SINK=$(pwd)/Examples/plugins/keyward-sink-files
[ -x "$KW" ] && [ -x "$BIN/KeywardBenchmarks" ] || { echo "no keyward or KeywardBenchmarks in $BIN" >&2; exit 1; }

work=$(mktemp -d)
chmod 700 "$work"
sim_pid=
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== 1. per call: the write of $ENTITIES entities ($((ENTITIES * 5)) keys)"
mkdir -m 700 "$work/files" "$work/minimal"
cat > "$work/minimal/keyward-sink-minimal" <<'SH'
#!/bin/sh
cat >/dev/null
printf '{"protocol":1,"outcome":"unchanged"}\n'
SH
chmod 755 "$work/minimal/keyward-sink-minimal"
(cd "$work" && "$BIN/KeywardBenchmarks" plugin-call --command "$SINK" --option "directory=$work/files" --entities "$ENTITIES" --runs 15)
(cd "$work" && "$BIN/KeywardBenchmarks" plugin-call --command "$work/minimal/keyward-sink-minimal" --entities "$ENTITIES" --runs 30)

echo "== 2. whole command: keyward sync of $ENTITIES entities, A = the shell sink, B = dotenv"
password="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ids=()
for i in $(seq -f '%04g' 1 "$ENTITIES"); do ids+=("FIU-$i"); done
list=$(IFS=,; echo "${ids[*]}" | sed 's/,/, /g')
{
    echo "entities:"
    for id in "${ids[@]}"; do echo "  - {id: $id, expiresIn: 180d}"; done
    echo "users:"
    echo "  - username: ops@example.com"
    echo "    password: \"$password\""
    echo "    entities: [$list]"
} > "$work/seed.yaml"
mkfifo "$work/sim.fifo"
"$KW" simulator --seed "$work/seed.yaml" --quiet > "$work/sim.fifo" 2> "$work/sim.log" &
sim_pid=$!
read -r -t 60 line < "$work/sim.fifo" || { echo "the simulator did not start: $(tail -5 "$work/sim.log")" >&2; exit 1; }
SIM=${line#listening on }

make_project() {
    local dir=$1 sink=$2
    mkdir -p -m 700 "$dir" "$dir/deploy"
    {
        echo "version: 1"
        echo "vault: {path: state/vault.db}"
        echo "providers:"
        echo "  sim: {baseURL: $SIM/iam/v1, username: ops@example.com}"
        echo "entities:"
        for id in "${ids[@]}"; do echo "  $id: {}"; done
        echo "sinks:"
        if [ "$sink" = external ]; then
            echo "  app: {type: external, command: [$SINK], directory: deploy/files, entities: [$list]}"
        else
            echo "  app: {type: dotenv, path: deploy/app.env, entities: [$list]}"
        fi
    } > "$dir/keyward.yaml"
    (
        cd "$dir"
        export HOME=$dir XDG_DATA_HOME=$dir/data XDG_STATE_HOME=$dir/state XDG_CACHE_HOME=$dir/cache NO_COLOR=1
        "$KW" vault init --new-key-file "$dir/vault.key" >/dev/null
        export KEYWARD_KEY_FILE=$dir/vault.key
        printf '%s\n' "$password" | "$KW" login sim >/dev/null
        "$KW" sync >/dev/null
    )
    cat > "$dir/sync.sh" <<SH
#!/bin/sh
cd "$dir" && HOME=$dir XDG_DATA_HOME=$dir/data XDG_STATE_HOME=$dir/state XDG_CACHE_HOME=$dir/cache NO_COLOR=1 KEYWARD_KEY_FILE=$dir/vault.key exec "$KW" sync >/dev/null
SH
    chmod 755 "$dir/sync.sh"
}
make_project "$work/A" external
make_project "$work/B" dotenv
farm-bench -n "$RUNS" --timeout 600 --vs "$work/B/sync.sh" -- "$work/A/sync.sh"
