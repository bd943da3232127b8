#!/usr/bin/env bash
# Prints a new keys document for totp-lambda, to store as an AWS Secrets
# Manager secret (or, locally, a file the dev scripts point at):
#   gen-keys.sh signing <kid>      {"keys":[{"kid":…,"privateKeyPem":…}]}      RSA-2048, signs the JWTs
#   gen-keys.sh encryption <kid>   {"current":…,"keys":{<kid>:<base64>}}       AES-256, seals TOTP secrets
set -euo pipefail
kind=${1:-}; kid=${2:-}
if [ -z "$kind" ] || [ -z "$kid" ]; then
  echo "usage: $0 signing|encryption <key-id>" >&2; exit 2
fi
case "$kind" in
  signing)
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null |
      python3 -c 'import json,sys; print(json.dumps({"keys":[{"kid":sys.argv[1],"privateKeyPem":sys.stdin.read()}]}))' "$kid" ;;
  encryption)
    openssl rand -base64 32 |
      python3 -c 'import json,sys; print(json.dumps({"current":sys.argv[1],"keys":{sys.argv[1]:sys.stdin.read().strip()}}))' "$kid" ;;
  *) echo "unknown kind: $kind" >&2; exit 2 ;;
esac
