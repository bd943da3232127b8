#!/usr/bin/env bash
# Prints a new keys document for totp-lambda, to store as an AWS Secrets
# Manager secret (or, locally, a file the dev scripts point at):
#   gen-keys.sh signing <kid> <projectId>[,<projectId>…] [ec|rsa]
#       {"projects":{<projectId>:{"keys":[{"kid":"<kid>-<projectId>","privateKeyPem":…}]}}}
#       one key per project (ec: P-256 → ES256, the default; rsa: RSA-2048 → RS256)
#   gen-keys.sh public < signing-document
#       {"projects":{<projectId>:{"keys":[{"kid":…,"publicKeyPem":…}]}}}: the public
#       keys document of a signing document, same projects, kids and order; what
#       the functions that only check or publish signatures (keys, update) read
#   gen-keys.sh signing-key <kid> [ec|rsa]
#       {"kid":…,"privateKeyPem":…}: one key, to put first in a project's ring (rotation)
#   gen-keys.sh encryption <kid>
#       {"current":…,"keys":{<kid>:<base64>}}: AES-256, seals TOTP secrets
#   gen-keys.sh encryption-add <kid> < document      phase 1 of a rotation: a new key, not sealing yet
#   gen-keys.sh encryption-switch <kid> < document   phase 2: the new key seals (after every instance has it)
#   gen-keys.sh encryption-remove <kid> < document   last: drop a key no item names any more
#   gen-keys.sh management <id> <projectId>[,<projectId>…]
#       {"auditKey":…,"projects":{<projectId>:{"keys":[{"id":"<id>-<projectId>","sha256":…}]}}}
#       a new 256-bit management key per project; the document holds only their
#       hashes, and each key is printed once, on stderr, as "<projectId> <key>"
#   gen-keys.sh management-from <id> < pairs
#       the same document for keys you already have (make dev's MANAGEMENT_KEYS):
#       stdin holds <projectId>:<key> pairs, separated by commas or newlines,
#       e.g. printf '%s' "$pairs" | gen-keys.sh management-from <id>. Never as
#       arguments: those show in `ps` and in shell history.
# Every document goes to stdout; run it under `umask 077` (as the make targets
# do) so that a file you redirect it to is never readable by others.
set -euo pipefail
# What this script and its tools create (openssl's temporary files) is this user's only.
umask 077
kind=${1:-}; kid=${2:-}
usage() {
  echo "usage: $0 signing <kid> <projectId>[,<projectId>…] [ec|rsa] | signing-key <kid> [ec|rsa] | encryption <kid>" >&2
  echo "       $0 public < signing-document" >&2
  echo "       $0 encryption-add|encryption-switch|encryption-remove <kid> < document" >&2
  echo "       $0 management <id> <projectId>[,<projectId>…] | management-from <id> < <projectId>:<key>[,…]" >&2
  exit 2
}

# management_document ID < PAIRS: the hashes document for the "project:key" pairs
# on stdin, separated by commas or newlines (new keys where a key is empty). The
# keys come through a pipe, never as arguments (which `ps` shows).
management_document() {
  python3 -c '
import base64, hashlib, json, secrets, sys
kid = sys.argv[1]
pairs = [p.strip() for p in sys.stdin.read().replace("\n", ",").split(",") if p.strip()]
if not pairs:
    sys.exit("management: no <projectId>:<key> pairs on stdin")
projects, printed = {}, []
for pair in pairs:
    project, _, key = pair.partition(":")
    if not key:
        key = secrets.token_urlsafe(32)
        printed.append(f"{project} {key}")
    if len(key) < 22 or not project.isalnum():
        sys.exit(f"management key of {project!r}: a project id of letters and digits and a key of 22 characters or more")
    entry = {"id": f"{kid}-{project}", "sha256": hashlib.sha256(key.encode()).hexdigest()}
    projects.setdefault(project, {"keys": []})["keys"].append(entry)
print(json.dumps({"auditKey": base64.b64encode(secrets.token_bytes(32)).decode(), "projects": projects}))
for line in printed:
    print(line, file=sys.stderr)' "$1"
}
# The public keys document of the signing document on stdin: each private
# key's public half (openssl, through pipes: no key touches the disk), each
# public key as it is.
if [ "$kind" = public ]; then
  [ -z "$kid" ] || usage
  exec python3 -c '
import json, subprocess, sys
shape = "public: stdin must be a signing keys document {\"projects\": {<projectId>: {\"keys\": [...]}}}"
try:
    projects = json.load(sys.stdin)["projects"]
except (ValueError, KeyError, TypeError):
    sys.exit(shape)
if not isinstance(projects, dict) or not projects:
    sys.exit(shape)
out = {}
for project, ring in projects.items():
    if not isinstance(ring, dict) or not isinstance(ring.get("keys"), list):
        sys.exit(shape)
    keys = []
    for entry in ring["keys"]:
        if not isinstance(entry, dict):
            sys.exit(shape)
        kid = entry.get("kid")
        if entry.get("privateKeyPem"):
            derived = subprocess.run(["openssl", "pkey", "-pubout"], input=entry["privateKeyPem"].encode(),
                                     capture_output=True)
            if derived.returncode != 0 or not derived.stdout:
                sys.exit(f"public: key {kid!r} of {project!r} is not a private key PEM")
            pem = derived.stdout.decode()
        elif entry.get("publicKeyPem"):
            pem = entry["publicKeyPem"]
        else:
            sys.exit(f"public: key {kid!r} of {project!r} has no PEM")
        keys.append({"kid": kid, "publicKeyPem": pem})
    out[project] = {"keys": keys}
print(json.dumps({"projects": out}))'
fi
[ -n "$kind" ] && [ -n "$kid" ] || usage

private_key() {
  case "${1:-rsa}" in
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null ;;
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null ;;
    *) echo "unknown key type: $1 (ec or rsa)" >&2; exit 2 ;;
  esac
}

case "$kind" in
  signing)
    projects=${3:-}; [ -n "$projects" ] || usage
    algorithm=${4:-ec}
    # One private key per project, each passed to python on its own line pair.
    IFS=',' read -r -a ids <<<"$projects"
    for id in "${ids[@]}"; do
      printf '%s\n' "$id"
      private_key "$algorithm" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'
    done | python3 -c '
import json, sys
kid = sys.argv[1]
lines = sys.stdin.read().splitlines()
projects = {}
for project, pem in zip(lines[0::2], lines[1::2]):
    projects[project] = {"keys": [{"kid": f"{kid}-{project}", "privateKeyPem": json.loads(pem)}]}
print(json.dumps({"projects": projects}))' "$kid" ;;
  signing-key)
    private_key "${3:-ec}" |
      python3 -c 'import json,sys; print(json.dumps({"kid":sys.argv[1],"privateKeyPem":sys.stdin.read()}))' "$kid" ;;
  encryption)
    openssl rand -base64 32 |
      python3 -c 'import json,sys; print(json.dumps({"current":sys.argv[1],"keys":{sys.argv[1]:sys.stdin.read().strip()}}))' "$kid" ;;
  encryption-add|encryption-switch|encryption-remove)
    # The document comes on stdin and the changed one goes to stdout: no key touches the disk here.
    python3 -c '
import base64, json, secrets, sys
action, kid = sys.argv[1], sys.argv[2]
doc = json.load(sys.stdin)
keys = doc.get("keys", {})
if action == "encryption-add":
    if kid in keys:
        sys.exit(f"key {kid!r} exists already")
    keys[kid] = base64.b64encode(secrets.token_bytes(32)).decode()
elif action == "encryption-switch":
    if kid not in keys:
        sys.exit(f"no key {kid!r}: add it first, and wait until every instance has it")
    doc["current"] = kid
else:
    if kid == doc.get("current"):
        sys.exit(f"{kid!r} is the current key: switch to another first")
    if keys.pop(kid, None) is None:
        sys.exit(f"no key {kid!r}")
doc["keys"] = keys
print(json.dumps(doc))' "$kind" "$kid" ;;
  management)
    projects=${3:-}; [ -n "$projects" ] || usage
    printf '%s' "$projects" | sed 's/,/:,/g; s/$/:/' | management_document "$kid" ;;
  management-from)
    if [ $# -gt 2 ]; then
      echo "management-from reads the <projectId>:<key> pairs from stdin, not from arguments (ps and shell history show those)" >&2
      usage
    fi
    if [ -t 0 ]; then echo "reading <projectId>:<key> pairs from stdin (end with Ctrl-D)" >&2; fi
    management_document "$kid" ;;
  *) usage ;;
esac
