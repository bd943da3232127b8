#!/usr/bin/env bash
# make dev: installs what is missing, starts DynamoDB Local (unless
# AWS_ENDPOINT_URL_DYNAMODB names another DynamoDB), creates the table,
# and serves every function with `cargo lambda watch` on the contract's
# paths. Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh
trap 'stop_started' EXIT
trap 'exit 130' INT TERM

export PROJECT_ID=${PROJECT_ID:-P2TotpLambdaLocalDev}
export TOTP_ISSUER=${TOTP_ISSUER:-totp-lambda local}
export TABLE_NAME=${TABLE_NAME:-totp-lambda-local}
export PENDING_TTL_SECONDS=${PENDING_TTL_SECONDS:-600}
export SESSION_TTL_SECONDS=${SESSION_TTL_SECONDS:-600} REFRESH_TTL_SECONDS=${REFRESH_TTL_SECONDS:-2419200}
ensure_dev_keys "$PROJECT_ID"
ensure_dev_management_keys "$PROJECT_ID"
PORT=${PORT:-9000}

if [ -z "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
  ddb_port=${DYNAMODB_LOCAL_PORT:-8000}
  start_dynamodb_local "$ddb_port"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
fi
cargo run -q --example create_table -- "$TABLE_NAME"

# The functions see exactly these variables.
export SIGNING_KEYS_FILE="$ROOT/.dev/signing-keys.json" ENCRYPTION_KEYS_FILE="$ROOT/.dev/encryption-keys.json"
export MANAGEMENT_KEYS_FILE="$ROOT/.dev/management-keys.json"
export RUST_LOG=${RUST_LOG:-info}
write_watch_env "$ROOT/.dev/watch.env"

cat <<MSG

  totp-lambda is starting (each function compiles on its first request)
  base URL:   http://127.0.0.1:$PORT
  project id: ${PROJECT_ID%%,*}
  DynamoDB:   $AWS_ENDPOINT_URL_DYNAMODB (table $TABLE_NAME)
  management keys (Bearer <projectId>:<key> on /v1/mgmt/...; set MANAGEMENT_KEYS to choose):
$(printf '%s\n' "${DEV_MANAGEMENT_KEYS//,/$'\n'}" | sed 's/^/    /')

MSG
start_watch "$PORT" "$ROOT/.dev/watch.env"
wait "${STARTED_PIDS[-1]}"
