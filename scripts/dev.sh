#!/usr/bin/env bash
# make dev: installs what is missing, starts DynamoDB Local (unless
# AWS_ENDPOINT_URL_DYNAMODB names another local DynamoDB: everything here
# uses the dummy credentials local/local, never the shell's), creates the table,
# serves every function with `cargo lambda watch` on the contract's
# paths, and the page (web/) on its own origin, which the functions allow
# (CORS as in AWS: only ALLOWED_ORIGINS). Ctrl-C stops everything it started.
set -euo pipefail
# Every file this run writes (key files, watch.env) is this user's only from the
# moment it exists: no window between writing a key and a chmod.
umask 077
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh
trap 'stop_started' EXIT
trap 'exit 130' INT TERM

export PROJECT_ID=${PROJECT_ID:-P2TotpLambdaLocalDev}
export TOTP_ISSUER=${TOTP_ISSUER:-totp-lambda local}
export TABLE_NAME=${TABLE_NAME:-totp-lambda-local}
export AUDIT_TABLE_NAME=${AUDIT_TABLE_NAME:-$TABLE_NAME-audit}
export PENDING_TTL_SECONDS=${PENDING_TTL_SECONDS:-600}
export SESSION_TTL_SECONDS=${SESSION_TTL_SECONDS:-600} REFRESH_TTL_SECONDS=${REFRESH_TTL_SECONDS:-2419200}
ensure_dev_keys "$PROJECT_ID"
ensure_dev_management_keys "$PROJECT_ID"
PORT=${PORT:-9000}
# The page's own origin (as a static host would serve it), added to the
# origins the functions allow; the shell's ALLOWED_ORIGINS are kept.
WEB_PORT=${WEB_PORT:-$((PORT + 1))}
web_url="http://127.0.0.1:$WEB_PORT"
export ALLOWED_ORIGINS="${ALLOWED_ORIGINS:+$ALLOWED_ORIGINS,}$web_url,http://localhost:$WEB_PORT"

if [ -z "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
  ddb_port=${DYNAMODB_LOCAL_PORT:-8000}
  start_dynamodb_local "$ddb_port"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
fi
cargo run -q --example create_table -- "$TABLE_NAME" "$AUDIT_TABLE_NAME"

# The functions see exactly these variables.
export SIGNING_KEYS_FILE="$ROOT/.dev/signing-keys.json" ENCRYPTION_KEYS_FILE="$ROOT/.dev/encryption-keys.json"
export PUBLIC_KEYS_FILE="$ROOT/.dev/public-keys.json"
export MANAGEMENT_KEYS_FILE="$ROOT/.dev/management-keys.json"
export RUST_LOG=${RUST_LOG:-info}
write_watch_env "$ROOT/.dev/watch.env"

# Every function built before anything is served (no request waits for a
# compile), and their configuration tried first: a refused value stops here
# with the function's own message instead of leaving requests waiting.
echo "building the functions (once; later starts reuse the build)"
cargo build -q --bins
(set -a; source "$ROOT/.dev/watch.env"; set +a; cargo run -q --example check_config) || {
  echo "make dev: fix the setting above and run it again" >&2; exit 1; }
build_web
start_web "$WEB_PORT" "http://127.0.0.1:$PORT" "${PROJECT_ID%%,*}" "$ROOT/.dev/web.log"

start_watch "$PORT" "$ROOT/.dev/watch.env"
wait_for_port "$PORT" 120 "cargo lambda watch"
# The audit function, fed with the table's stream (docs/audit.md).
start_stream_poller "$TABLE_NAME" "http://127.0.0.1:$PORT" "$ROOT/.dev/stream-poller.log"
cat <<MSG

  totp-lambda is ready (every function is built)
  base URL:   http://127.0.0.1:$PORT
  page:       $web_url/  (sign up and sign in in a browser)
  CORS:       ALLOWED_ORIGINS=$ALLOWED_ORIGINS
  project id: ${PROJECT_ID%%,*}
  DynamoDB:   $AWS_ENDPOINT_URL_DYNAMODB (table $TABLE_NAME, audit table $AUDIT_TABLE_NAME)
  management keys (Bearer <projectId>:<key> on /v1/mgmt/...; set MANAGEMENT_KEYS to choose):
$(printf '%s\n' "${DEV_MANAGEMENT_KEYS//,/$'\n'}" | sed 's/^/    /')

MSG
wait "${STARTED_PIDS[-1]}"
