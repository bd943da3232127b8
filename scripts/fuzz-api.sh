#!/usr/bin/env bash
# make fuzz-api: a long property-based run of the API against openapi.yaml
# (Schemathesis, tests/e2e/test_schemathesis.py, which make test runs with a few
# examples and a fixed seed). Starts DynamoDB Local and the functions under
# `cargo lambda watch` on free loopback ports, runs it, and stops what it started.
#   FUZZ_EXAMPLES  random examples per operation (default 1000)
#   FUZZ_SEED      the seed (default: a new one, printed; give it to repeat a run)
set -euo pipefail
# Every file this run writes (key files, watch.env) is this user's only from the
# moment it exists: no window between writing a key and a chmod.
umask 077
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh
mkdir -p .dev
keys=""  # the run's key material: removed however it ends
trap 'stop_started; if [ -n "$keys" ]; then rm -rf "$keys"; fi' EXIT
trap 'exit 130' INT TERM

examples=${FUZZ_EXAMPLES:-1000}
seed=${FUZZ_SEED:-$(python3 -c 'import secrets; print(secrets.randbelow(2**32))')}
case "$examples$seed" in *[!0-9]*) echo "FUZZ_EXAMPLES and FUZZ_SEED are whole numbers" >&2; exit 2 ;; esac
project=P2FuzzApiProject

use_dynamodb_local
keys=$(mktemp -d)
scripts/gen-keys.sh signing fuzz-signing "$project" >"$keys/signing.json"
scripts/gen-keys.sh public <"$keys/signing.json" >"$keys/public.json"
scripts/gen-keys.sh encryption fuzz-encryption >"$keys/encryption.json"
scripts/gen-keys.sh management fuzz-support "$project" >"$keys/management.json" 2>"$keys/management-keys.txt"
table="fuzz-$(date +%s)"
cargo run -q --example create_table -- "$table"
# An allowed origin, so that the preflight operations answer 204 as documented.
ALLOWED_ORIGINS="https://app.example.com" PROJECT_ID="$project" TOTP_ISSUER="totp-lambda fuzz" TABLE_NAME="$table" \
  SIGNING_KEYS_FILE="$keys/signing.json" PUBLIC_KEYS_FILE="$keys/public.json" \
  ENCRYPTION_KEYS_FILE="$keys/encryption.json" MANAGEMENT_KEYS_FILE="$keys/management.json" \
  write_watch_env "$keys/watch.env"
# Built before anything is served; no rebuild while the run lasts, whatever is edited meanwhile.
cargo build -q --bins
port=$(free_port)
start_watch "$port" "$keys/watch.env" "$ROOT/.dev/watch-fuzz.log" 1 --ignore-changes
wait_for_port "$port" 120 "cargo lambda watch"
base="http://127.0.0.1:$port"
warm_functions "$base" "$project"

printf '\n==> Schemathesis: %s random examples per operation, seed %s (FUZZ_SEED=%s make fuzz-api repeats this run)\n' \
  "$examples" "$seed" "$seed"
status=0
TOTP_SCHEMATHESIS_MAX_EXAMPLES=$examples TOTP_SCHEMATHESIS_SEED=$seed \
TOTP_BASE_URL="$base" TOTP_PROJECT_ID="$project" \
TOTP_MANAGEMENT_KEY=$(awk -v p="$project" '$1 == p {print $2}' "$keys/management-keys.txt") \
  .venv/bin/pytest tests/e2e/test_schemathesis.py -q -s -p no:cacheprovider || status=$?
echo "seed $seed, $examples examples per operation; the functions' log: .dev/watch-fuzz.log"
exit "$status"
