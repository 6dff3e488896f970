#!/usr/bin/env bash
# Token endpoint benchmark (issue 17, DESIGN.md "Operability"), in one run against one
# simulator (`keyward simulator`, its own process) and one vault:
#   A = `GET /v1/entities/ID/token` on `keyward schedule run --token-listen 127.0.0.1:PORT`
#       under wrk (THREADS=2 threads, CONNECTIONS=16 connections, DURATION=10s, --latency,
#       with the Authorization and X-Keyward-Request headers): p50 / p99 and requests/s;
#   B = `keyward token ID` as a whole process, RUNS=200 times in a row (after one warm-up):
#       p50 / p99 from the sorted wall times, invocations/s = RUNS / total wall time.
# The entity's token is valid for a day, so neither mints: what is measured is serving a held
# token (the endpoint from memory, the process from the vault). The simulator's mint counter is
# printed before and after as a check. Prints one table.
# Binaries: the release build `make install` makes (static Swift runtime) in SCRATCH=DIR
# (default .build-release); BIN=DIR uses DIR/keyward as it is (e.g. BIN=.build/debug for a
# quick check of the script; its figures are not the release's). wrk comes from Debian and is
# installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-10s}
SCRATCH=${SCRATCH:-.build-release}
BIN=${BIN:-}
if [ -z "$BIN" ]; then
    swift build -c release --static-swift-stdlib -Xlinker --no-export-dynamic --scratch-path "$SCRATCH" --product keyward >&2
    BIN="$SCRATCH/release"
fi
BIN=$(cd "$BIN" && pwd)
KEYWARD=$BIN/keyward
[ -x "$KEYWARD" ] || { echo "no keyward in $BIN" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
    { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }; } >&2
fi

work=$(mktemp -d)
chmod 700 "$work"
cleanup() {
    [ -n "${service:-}" ] && kill "$service" 2>/dev/null && wait "$service" 2>/dev/null
    [ -n "${sim:-}" ] && kill "$sim" 2>/dev/null && wait "$sim" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$work"
entity=FIU-BENCH-1
password="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
cat > seed.yaml <<YAML
users:
  - username: bench@example.com
    password: "$password"
    entities: [$entity]
entities:
  - id: $entity
    expiresIn: 180d
YAML
"$KEYWARD" simulator --port 0 --seed seed.yaml --quiet > sim.out &
sim=$!
for _ in $(seq 300); do grep -q '^listening on ' sim.out 2>/dev/null && break; sleep 0.1; done
root=$(sed -n 's/^listening on //p' sim.out)
[ -n "$root" ] || { echo "the simulator did not start" >&2; exit 1; }
cat > keyward.yaml <<YAML
version: 1
vault:
  path: $work/vault.db
providers:
  sim:
    baseURL: $root/iam/v1
    username: bench@example.com
entities:
  $entity: {}
YAML
mkdir -m 700 home
export HOME="$work/home" XDG_DATA_HOME="$work/home/data" XDG_STATE_HOME="$work/home/state" KEYWARD_CONFIG="$work/keyward.yaml"
"$KEYWARD" vault init --new-key-file "$work/vault.key" >/dev/null
export KEYWARD_KEY_FILE="$work/vault.key"
printf '%s\n' "$password" | "$KEYWARD" login sim >/dev/null
"$KEYWARD" sync "$entity" >/dev/null
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > serve.token
chmod 600 serve.token

"$KEYWARD" schedule run "$entity" --token-listen 127.0.0.1:0 --serve-token-file serve.token 2> service.err &
service=$!
for _ in $(seq 300); do grep -q 'tokens served on ' service.err 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^keyward: tokens served on //p' service.err)
[ -n "$base" ] || { echo "schedule run did not start serving:" >&2; cat service.err >&2; exit 1; }
url="$base/v1/entities/$entity/token"
auth="Authorization: Bearer $(cat serve.token)"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" -H 'X-Keyward-Request: true' "$url")
[ "$status" = 200 ] || { echo "the endpoint answered $status" >&2; exit 1; }
"$KEYWARD" token "$entity" >/dev/null || { echo "keyward token failed" >&2; exit 1; }
mints_before=$(curl -s "$root/_sim/counters" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entityToken"])')

wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" --latency -H "$auth" -H 'X-Keyward-Request: true' "$url" > wrk.out
if grep -q 'Non-2xx' wrk.out; then echo "wrk saw answers other than 200:" >&2; cat wrk.out >&2; exit 1; fi

python3 - "$RUNS" "$KEYWARD" "$entity" wrk.out "$THREADS" "$CONNECTIONS" "$DURATION" <<'PY'
import re, subprocess, sys, time
runs, keyward, entity, wrk_out, threads, connections, duration = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
text = open(wrk_out).read()
def ms(value):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", text, re.M))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
subprocess.run([keyward, "token", entity], stdout=subprocess.DEVNULL, check=True)  # warm-up
times = []
start_all = time.perf_counter()
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run([keyward, "token", entity], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    times.append(time.perf_counter() - start)
elapsed = time.perf_counter() - start_all
times.sort()
def pick(sorted_values, fraction):
    return sorted_values[min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))]
print(f"{'what':<44} {'p50 ms':>8} {'p99 ms':>8} {'per second':>12} {'count':>8}")
print(f"{'GET /v1/entities/ID/token (wrk ' + threads + 't/' + connections + 'c, ' + duration + ')':<44} "
      f"{ms(percentiles['50']):8.3f} {ms(percentiles['99']):8.3f} {rate:12.1f} {total:8d}")
print(f"{'keyward token ID (a process, in a row)':<44} {pick(times, 0.5) * 1e3:8.3f} {pick(times, 0.99) * 1e3:8.3f} "
      f"{runs / elapsed:12.1f} {runs:8d}")
PY
mints_after=$(curl -s "$root/_sim/counters" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entityToken"])')
echo "simulator entityToken calls during the timed part: $((mints_after - mints_before)) (expected 0: a held token is served)"
echo "binary: $KEYWARD"
