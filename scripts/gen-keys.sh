#!/usr/bin/env bash
# Prints a new keys document for totp-lambda, to store as an AWS Secrets
# Manager secret (or, locally, a file the dev scripts point at):
#   gen-keys.sh signing <kid> <projectId>[,<projectId>…] [rsa|ec]
#       {"projects":{<projectId>:{"keys":[{"kid":"<kid>-<projectId>","privateKeyPem":…}]}}}
#       one key per project (RSA-2048 → RS256, the default; ec: P-256 → ES256)
#   gen-keys.sh signing-key <kid> [rsa|ec]
#       {"kid":…,"privateKeyPem":…}: one key, to put first in a project's ring (rotation)
#   gen-keys.sh encryption <kid>
#       {"current":…,"keys":{<kid>:<base64>}}: AES-256, seals TOTP secrets
set -euo pipefail
kind=${1:-}; kid=${2:-}
usage() { echo "usage: $0 signing <kid> <projectId>[,<projectId>…] [rsa|ec] | signing-key <kid> [rsa|ec] | encryption <kid>" >&2; exit 2; }
[ -n "$kind" ] && [ -n "$kid" ] || usage

private_key() {
  case "${1:-rsa}" in
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null ;;
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null ;;
    *) echo "unknown key type: $1 (rsa or ec)" >&2; exit 2 ;;
  esac
}

case "$kind" in
  signing)
    projects=${3:-}; [ -n "$projects" ] || usage
    algorithm=${4:-rsa}
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
    private_key "${3:-rsa}" |
      python3 -c 'import json,sys; print(json.dumps({"kid":sys.argv[1],"privateKeyPem":sys.stdin.read()}))' "$kid" ;;
  encryption)
    openssl rand -base64 32 |
      python3 -c 'import json,sys; print(json.dumps({"current":sys.argv[1],"keys":{sys.argv[1]:sys.stdin.read().strip()}}))' "$kid" ;;
  *) usage ;;
esac
