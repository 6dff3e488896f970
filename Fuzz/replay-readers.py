#!/usr/bin/env python3
"""Checks the files fuzz-exporters wrote (KEYWARD_FUZZ_DUMP=DIR fuzz-exporters -runs=0 CORPUS)
against the real readers the in-process models stand for: python-dotenv, node --env-file,
bash and dash (`set -a; . FILE`) for the portable dialect, sh for the shell format, and
docker-env-read (../shared/tools, the real docker CLI's parser) for the docker dialect.
Prints one line per disagreement and a summary; exits 1 when a reader reads another value.
Usage: Fuzz/replay-readers.py DIR"""
import json, os, subprocess, sys

DUMP_ENV = ("import json, os, sys\n"
            "print(json.dumps({k: os.environb[k.encode()].hex() for k in sys.argv[1:] if k.encode() in os.environb}))")
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
HERE = os.path.dirname(os.path.abspath(__file__))
DOCKER = os.environ.get("KEYWARD_DOCKER_ENV_READ", os.path.join(HERE, "..", "..", "shared", "tools", "docker-env-read"))


def run(argv):
    r = subprocess.run(argv, capture_output=True, env=ENV, timeout=30)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def python_dotenv(path, keys):
    script = ("import json, sys, dotenv\nvalues = dotenv.dotenv_values(sys.argv[1])\n"
              "print(json.dumps({k: v.encode('utf-8', 'surrogatepass').hex() for k, v in values.items() if v is not None}))")
    return run(["python3", "-c", script, path])


def node(path, keys):
    script = ("const o = {}; for (const k of process.argv.slice(1)) if (k in process.env) o[k] = Buffer.from(process.env[k]).toString('hex');"
              " console.log(JSON.stringify(o));")
    return run(["node", "--env-file=" + path, "-e", script] + keys)


def shell(name):
    def read(path, keys):
        return run([name, "-c", 'set -a; . "$1"; shift; exec python3 -c "$@"', name, path, DUMP_ENV] + keys)
    return read


def docker(path, keys):
    r = subprocess.run([DOCKER, path], capture_output=True, timeout=30)
    if r.returncode != 0:
        return None
    return {k: v.encode("utf-8", "surrogateescape").hex() for k, v in json.loads(r.stdout).items()}


READERS = {
    "dotenv-portable": [("python-dotenv", python_dotenv), ("node", node), ("bash", shell("bash")), ("dash", shell("dash"))],
    "shell": [("bash", shell("bash")), ("dash", shell("dash"))],
    "dotenv-docker": [("docker-env-read", docker)],
}


def main(directory):
    checked = disagreements = 0
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".env"):
            continue
        fmt = name.split("-", 1)[1][:-4]
        if fmt not in READERS:
            continue
        path = os.path.join(directory, name)
        expected = json.load(open(path[:-4] + ".json"))
        for reader, read in READERS[fmt]:
            got = read(path, sorted(expected))
            checked += 1
            if got is None:
                print(f"{name}: {reader} refused the file")
                disagreements += 1
                continue
            got = {k: v for k, v in got.items() if k in expected or reader in ("python-dotenv",)}
            if got != expected:
                print(f"{name}: {reader} read {got}, written {expected}")
                disagreements += 1
    print(f"{checked} reads checked, {disagreements} disagreements")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
