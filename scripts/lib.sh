# Shared by the dev and test scripts: start and stop local services.
# The scripts that write key files set `umask 077` at their top, so those
# files are never readable by others, not even for a moment.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DDB_DIR="$ROOT/.tools/dynamodb-local"
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-$AWS_REGION}
# DynamoDB Local and moto take any credentials: everything these scripts start
# (create_table, the functions, the tests) uses dummy ones, never the shell's
# real AWS credentials, which would otherwise end up in .dev/watch.env. One set
# for all, because DynamoDB Local keeps a separate database per access key id.
# Never probe instance metadata.
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN
export AWS_EC2_METADATA_DISABLED=true

STARTED_PIDS=()

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_port PORT SECONDS NAME
wait_for_port() {
  local port=$1 deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then echo "$3 did not start on port $port" >&2; return 1; fi
    sleep 0.2
  done
}

# start_dynamodb_local PORT: in-memory, loopback only.
start_dynamodb_local() {
  local port=$1
  (cd "$DDB_DIR" && exec java -Djava.library.path="$DDB_DIR/DynamoDBLocal_lib" -jar DynamoDBLocal.jar \
    -inMemory -port "$port" >"$ROOT/.dev/dynamodb-local.log" 2>&1) &
  STARTED_PIDS+=($!)
  wait_for_port "$port" 60 "DynamoDB Local"
}

# start_moto PORT: a local AWS Secrets Manager (and more), loopback only.
start_moto() {
  local port=$1
  "$ROOT/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$ROOT/.dev/moto.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_port "$port" 60 "moto"
}

# warm_functions BASE_URL PROJECT: one request to each function served at
# BASE_URL, so that each compiles (on its first request) before a suite runs.
warm_functions() {
  local base=$1 project=$2 route
  for route in totp/signup totp/verify totp/update refresh; do
    curl -s -o /dev/null -m 600 -X POST "$base/v1/auth/$route" -d '{}' || true
  done
  curl -s -o /dev/null -m 600 "$base/v2/keys/$project" || true
  curl -s -o /dev/null -m 600 -X POST "$base/v1/mgmt/user/logout" -d '{}' || true
  curl -s -o /dev/null -m 600 -X POST "$base/v1/mgmt/user/create" -d '{}' || true
  # The audit function is invoked (by the stream poller), not routed: an empty batch.
  curl -s -o /dev/null -m 600 -X POST "$base/2015-03-31/functions/audit/invocations" -d '{"Records": []}' || true
}

# use_dynamodb_local / use_moto: each on a free loopback port, its endpoint
# exported (AWS_ENDPOINT_URL_DYNAMODB, MOTO_ENDPOINT) for the SDK and the tests.
use_dynamodb_local() {
  local port
  port=$(free_port)
  start_dynamodb_local "$port"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
}

use_moto() {
  local port
  port=$(free_port)
  start_moto "$port"
  export MOTO_ENDPOINT="http://127.0.0.1:$port"
}

# start_watch PORT ENV_FILE [LOG [CONCURRENCY [WATCH_ARGS...]]]: every
# function under `cargo lambda watch` on loopback, routed by the contract
# paths in Cargo.toml; CONCURRENCY instances per function (1 unless given), so
# tests can race requests against each other as Lambda would; WATCH_ARGS go
# to `cargo lambda watch` as they are. Its own CORS answers are off: the
# functions apply ALLOWED_ORIGINS as API Gateway does in AWS (src/http/cors.rs).
start_watch() {
  local log=${3:-} concurrency=${4:-1}
  local command=("$ROOT/.venv/bin/cargo-lambda" lambda watch --invoke-address 127.0.0.1 -P "$1" --env-file "$2"
    --concurrency "$concurrency" --disable-cors "${@:5}")
  # Without a log file the watcher shares this script's output, unredirected:
  # reopening /dev/stdout would truncate a file that output goes to.
  # The watcher's own logging stays at warn (WATCH_RUST_LOG): at info it prints
  # its whole configuration as one line on exit. The functions get RUST_LOG
  # from the env file.
  if [ -n "$log" ]; then RUST_LOG=${WATCH_RUST_LOG:-warn} "${command[@]}" >"$log" 2>&1 &
  else RUST_LOG=${WATCH_RUST_LOG:-warn} "${command[@]}" & fi
  STARTED_PIDS+=($!)
}

# start_stream_poller TABLE BASE_URL LOG: the audit function fed with the
# table's stream on DynamoDB Local, as Lambda feeds it in AWS.
start_stream_poller() {
  "$ROOT/.venv/bin/python" "$ROOT/scripts/stream_poller.py" "$AWS_ENDPOINT_URL_DYNAMODB" "$1" \
    "$2/2015-03-31/functions/audit/invocations" >"$3" 2>&1 &
  STARTED_PIDS+=($!)
}

# set_e2e_watch_concurrency: how many processes per function `make test` runs
# under cargo lambda watch. Each one keeps an inotify watch on every folder of
# the crate (target/ and .venv/ included, even with --ignore-changes): 8
# functions x 4 x the ~8,000 folders of a fresh clone pass Linux's default
# of 192k watches, and the watcher then kills functions under requests. Where
# the limit may be raised (root), it is, for this run only; elsewhere 3.
INOTIFY_LIMIT=/proc/sys/fs/inotify/max_user_watches
INOTIFY_WAS=""
WATCH_CONCURRENCY=3
set_e2e_watch_concurrency() {
  local want=1048576 now
  now=$(cat "$INOTIFY_LIMIT" 2>/dev/null || echo 0)
  if [ "$now" -ge "$want" ]; then
    WATCH_CONCURRENCY=4
  elif [ -w "$INOTIFY_LIMIT" ] && echo "$want" >"$INOTIFY_LIMIT" 2>/dev/null; then
    INOTIFY_WAS=$now WATCH_CONCURRENCY=4
  fi
}

stop_started() {
  if [ -n "$INOTIFY_WAS" ]; then echo "$INOTIFY_WAS" >"$INOTIFY_LIMIT" 2>/dev/null || true; INOTIFY_WAS=""; fi
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    # Each service may have children (cargo lambda watch runs the functions).
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  STARTED_PIDS=()
}

# private_dev_dir: .dev, which holds key files and watch.env, this user's only
# (set before anything is written into it; each file is 0600 by the umask too).
private_dev_dir() {
  mkdir -p "$ROOT/.dev"
  chmod 700 "$ROOT/.dev"
}

# ensure_dev_keys PROJECTS: local key material, generated once (and again
# when a project has no signing key yet), never committed (.dev is ignored).
ensure_dev_keys() {
  private_dev_dir
  local signing="$ROOT/.dev/signing-keys.json"
  if [ ! -f "$signing" ] || ! python3 -c '
import json, sys
have = json.load(open(sys.argv[1])).get("projects", {})
sys.exit(0 if all(p.strip() in have for p in sys.argv[2].split(",") if p.strip()) else 1)' "$signing" "$1" 2>/dev/null; then
    "$ROOT/scripts/gen-keys.sh" signing "dev-$(date +%Y%m%d)" "$1" >"$signing"
  fi
  # The public halves, for the functions that only check or publish signatures.
  "$ROOT/scripts/gen-keys.sh" public <"$signing" >"$ROOT/.dev/public-keys.json"
  if [ ! -f "$ROOT/.dev/encryption-keys.json" ]; then
    "$ROOT/scripts/gen-keys.sh" encryption "dev-$(date +%Y%m%d)" >"$ROOT/.dev/encryption-keys.json"
  fi
}

# ensure_dev_management_keys PROJECTS: a management key per served project,
# from MANAGEMENT_KEYS ("projectId:key,…") where it names one, else the one
# generated for that project on an earlier run, else a new one (kept in .dev,
# never committed). Writes the hashes document the function reads and sets
# DEV_MANAGEMENT_KEYS to the pairs, for the start banner. The keys reach
# gen-keys.sh through a pipe, never as arguments (which `ps` shows).
ensure_dev_management_keys() {
  private_dev_dir
  local kept="$ROOT/.dev/management-keys.txt"
  DEV_MANAGEMENT_KEYS=$(python3 -c '
import os, secrets, sys
projects = [p.strip() for p in sys.argv[1].split(",") if p.strip()]
given = dict(p.strip().split(":", 1) for p in os.environ.get("MANAGEMENT_KEYS", "").split(",") if ":" in p)
kept = {}
if os.path.exists(sys.argv[2]):
    kept = dict(line.split(" ", 1) for line in open(sys.argv[2]).read().split("\n") if " " in line)
for project in projects:
    if project not in given and project not in kept:
        kept[project] = secrets.token_urlsafe(32)
with os.fdopen(os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
    out.write("".join(f"{p} {k}\n" for p, k in kept.items()))
print(",".join(f"{p}:{given.get(p) or kept[p]}" for p in projects))' "$1" "$kept")
  printf '%s' "$DEV_MANAGEMENT_KEYS" | "$ROOT/scripts/gen-keys.sh" management-from dev >"$ROOT/.dev/management-keys.json"
}

# write_watch_env FILE: the variables the served functions see, from this
# shell's PROJECT_ID, TOTP_ISSUER, PROJECT_SETTINGS, TABLE_NAME, key files and DynamoDB endpoint,
# with dummy AWS credentials (DynamoDB Local takes any; the shell's real ones
# are never copied). FILE is 0600 before anything is written into it, even
# where an older run left it readable by others.
write_watch_env() {
  : >"$1"
  chmod 600 "$1"
  {
    local name
    for name in PROJECT_ID TOTP_ISSUER TABLE_NAME PENDING_TTL_SECONDS LOCKOUT_MAX_ATTEMPTS LOCKOUT_WINDOW_SECONDS \
      SESSION_TTL_SECONDS REFRESH_TTL_SECONDS LOCKOUT_DAILY_MAX_FAILURES LOCKOUT_DAILY_WINDOW_SECONDS ALLOWED_ORIGINS \
      AWS_ENDPOINT_URL_DYNAMODB AWS_REGION AWS_EC2_METADATA_DISABLED \
      SIGNING_KEYS_FILE PUBLIC_KEYS_FILE ENCRYPTION_KEYS_FILE MANAGEMENT_KEYS_FILE RUST_LOG PROJECT_SETTINGS \
      AUDIT_TABLE_NAME AUDIT_RETENTION_DAYS AUDIT_EVENT_BUS_NAME AWS_ENDPOINT_URL_EVENTBRIDGE; do
      # Double-quoted, with the value's own backslashes and quotes escaped
      # (PROJECT_SETTINGS is JSON): the env file's dotenv reading undoes both.
      if [ -n "${!name:-}" ]; then
        local value=${!name//\\/\\\\}
        printf '%s="%s"\n' "$name" "${value//\"/\\\"}"
      fi
    done
    printf '%s\n' 'AWS_ACCESS_KEY_ID="local"' 'AWS_SECRET_ACCESS_KEY="local"'
  } >"$1"
}

# build_web: the page (web/) bundled into web/dist with its pinned SDK
# (node_modules installed by setup.sh). About a second.
build_web() {
  npm --prefix "$ROOT/web" run --silent build >/dev/null
}

# start_web PORT BASE_URL PROJECT_ID [LOG]: serves web/dist on loopback, its
# config.js pointing the page at BASE_URL and PROJECT_ID, and its
# Content-Security-Policy letting it connect to BASE_URL's origin only (the
# page never takes a service from its own address). The page's origin is
# http://127.0.0.1:PORT: it calls the API only if ALLOWED_ORIGINS names it.
start_web() {
  local log=${4:-/dev/null}
  python3 "$ROOT/web/serve.py" "$1" "$2" "$3" >>"$log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_port "$1" 30 "the web page server"
}
