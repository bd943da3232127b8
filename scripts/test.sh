#!/usr/bin/env bash
# make test: installs what is missing, starts DynamoDB Local, a local
# Secrets Manager (moto) and the functions under `cargo lambda watch` on
# free loopback ports, runs every check and test (the last ones in headless
# Chromium), and stops what it started.
set -euo pipefail
# Every file this run writes (key files, watch.env) is this user's only from the
# moment it exists: no window between writing a key and a chmod.
umask 077
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh --browser
mkdir -p .dev
keys=""  # the e2e key material: removed however the run ends
trap 'stop_started; if [ -n "$keys" ]; then rm -rf "$keys"; fi' EXIT
trap 'exit 130' INT TERM

step() { printf '\n==> %s\n' "$*"; }

step "format and lints"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings

step "supply chain (cargo deny: licences, bans, sources; offline)"
# cargo-deny reads the graph through cargo metadata, which wants every crate in
# Cargo.lock, the other platforms' too: fetch what the builds left out (nothing
# once they are here). No advisories: their database needs the network (make deny).
cargo fetch --locked --quiet
.tools/cargo-deny/bin/cargo-deny --offline --locked check --hide-inclusion-graph --show-stats licenses bans sources

step "template.yaml (cfn-lint)"
.venv/bin/cfn-lint template.yaml
echo "cfn-lint: no findings"
SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint

step "template.yaml (checkov: no failed check; each skip has its reason in the template)"
.tools/checkov/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet
echo "checkov: no failed check"

step "docs: every relative link and anchor resolves"
.venv/bin/pytest tests/docs -q -p no:cacheprovider

step "bench: the charts make bench draws, from sample JSON"
.venv/bin/pytest tests/bench -q -p no:cacheprovider

step "starting DynamoDB Local and moto (Secrets Manager)"
use_dynamodb_local
use_moto
echo "DynamoDB Local at $AWS_ENDPOINT_URL_DYNAMODB, moto at $MOTO_ENDPOINT"

step "cargo test (unit and integration, against DynamoDB Local)"
cargo test --all-targets --quiet

step "deploy: template.yaml as deployed, samconfig.toml, make deploy against moto"
.venv/bin/pytest tests/deploy -q -p no:cacheprovider

step "end-to-end: the functions under cargo lambda watch, the official Descope SDK"
keys=$(mktemp -d)
# Alpha signs with ES256 (the default), Bravo with RS256: the SDK suite runs against both.
scripts/gen-keys.sh signing e2e-signing P2E2eProjectAlpha >"$keys/signing-alpha.json"
scripts/gen-keys.sh signing e2e-signing P2E2eProjectBravo rsa >"$keys/signing-bravo.json"
python3 -c 'import json, sys; print(json.dumps({"projects": {p: k for f in sys.argv[1:] for p, k in json.load(open(f))["projects"].items()}}))' \
  "$keys/signing-alpha.json" "$keys/signing-bravo.json" >"$keys/signing.json"
scripts/gen-keys.sh public <"$keys/signing.json" >"$keys/public.json"
scripts/gen-keys.sh encryption e2e-encryption >"$keys/encryption.json"
# A management key per project: the document holds hashes, the keys go to the suites.
scripts/gen-keys.sh management e2e-support P2E2eProjectAlpha,P2E2eProjectBravo \
  >"$keys/management.json" 2>"$keys/management-keys.txt"
management_key() { awk -v p="$1" '$1 == p {print $2}' "$keys/management-keys.txt"; }
table="e2e-$(date +%s)"
cargo run -q --example create_table -- "$table" "$table-audit"
# The audit feed goes to an EventBridge bus on moto whose rule (docs/audit.md's
# lockout and key-removal pattern) forwards to an SQS queue the suite reads.
audit_bus="e2e-audit-$table"
audit_queue_url=$(.venv/bin/python scripts/audit_bus.py "$MOTO_ENDPOINT" "$audit_bus")
# Session JWTs of a few seconds, so that the suite can see one expire and be refreshed.
session_ttl=6 refresh_ttl=3600
# The browser suite's page is served on its own origin, which the functions
# allow; the same page on another origin must be refused.
web_port=$(free_port) blocked_web_port=$(free_port)
web_origin="http://127.0.0.1:$web_port"
# Bravo shows its own issuer (PROJECT_SETTINGS); Alpha the deployment's.
PROJECT_SETTINGS='{"P2E2eProjectBravo": {"issuer": "totp-lambda e2e Bravo"}}' \
ALLOWED_ORIGINS="$web_origin" PROJECT_ID="P2E2eProjectAlpha,P2E2eProjectBravo" TOTP_ISSUER="totp-lambda e2e" TABLE_NAME="$table" \
  SESSION_TTL_SECONDS=$session_ttl REFRESH_TTL_SECONDS=$refresh_ttl \
  LOCKOUT_MAX_ATTEMPTS=5 SIGNING_KEYS_FILE="$keys/signing.json" ENCRYPTION_KEYS_FILE="$keys/encryption.json" \
  PUBLIC_KEYS_FILE="$keys/public.json" AUDIT_TABLE_NAME="$table-audit" \
  AUDIT_EVENT_BUS_NAME="$audit_bus" AWS_ENDPOINT_URL_EVENTBRIDGE="$MOTO_ENDPOINT" \
  MANAGEMENT_KEYS_FILE="$keys/management.json" write_watch_env "$keys/watch.env"
port=$(free_port)
# No reloads: a file the suites write (or the watcher running out of inotify
# watches) must never restart a function under a request.
set_e2e_watch_concurrency
echo "cargo lambda watch: $WATCH_CONCURRENCY processes per function"
start_watch "$port" "$keys/watch.env" "$ROOT/.dev/watch-e2e.log" "$WATCH_CONCURRENCY" --ignore-changes
wait_for_port "$port" 120 "cargo lambda watch"
start_stream_poller "$table" "http://127.0.0.1:$port" "$ROOT/.dev/stream-poller-e2e.log"
# Each function compiles on its first request: pay that before the suites run.
warm_functions "http://127.0.0.1:$port" P2E2eProjectAlpha
TOTP_MANAGEMENT_KEY=$(management_key P2E2eProjectAlpha) TOTP_OTHER_MANAGEMENT_KEY=$(management_key P2E2eProjectBravo) \
TOTP_BASE_URL="http://127.0.0.1:$port" TOTP_PROJECT_ID=P2E2eProjectAlpha TOTP_OTHER_PROJECT_ID=P2E2eProjectBravo \
TOTP_SESSION_TTL_SECONDS=$session_ttl TOTP_REFRESH_TTL_SECONDS=$refresh_ttl TOTP_EXPECTED_ISSUER="totp-lambda e2e" \
TOTP_AUDIT_TABLE="$table-audit" TOTP_AUDIT_QUEUE_URL="$audit_queue_url" TOTP_MOTO_ENDPOINT="$MOTO_ENDPOINT" \
  .venv/bin/pytest tests/e2e -q -p no:cacheprovider
echo "the official SDK and the published keys again, against the RS256 project"
TOTP_MANAGEMENT_KEY=$(management_key P2E2eProjectBravo) TOTP_SIGNING_ALG=RS256 \
TOTP_BASE_URL="http://127.0.0.1:$port" TOTP_PROJECT_ID=P2E2eProjectBravo \
TOTP_SESSION_TTL_SECONDS=$session_ttl TOTP_REFRESH_TTL_SECONDS=$refresh_ttl TOTP_EXPECTED_ISSUER="totp-lambda e2e Bravo" \
  .venv/bin/pytest tests/e2e/test_descope_sdk.py tests/e2e/test_http_flow.py::test_keys_endpoint \
  tests/e2e/test_http_flow.py::test_the_issuer_is_the_projects_own -q -p no:cacheprovider

step "bench harness once (make bench's cold start and warm path; statuses only, no time is checked)"
cargo build -q --bins --example floor_hello --example floor_put_item
bench_table="bench-$(date +%s)"
cargo run -q --example create_table -- "$bench_table" >/dev/null
python3 bench/run.py --check --bins target/debug --table "$bench_table" --cold 1 --warm 3 --instances 2 --per-instance 2 \
  --no-peer
# The load simulation too (make bench's bench/load.py), its times thrown away.
python3 bench/load.py --bins target/debug --table "$bench_table" --functions signup,verify --levels 1,2 \
  --per-instance 2 >/dev/null
echo "load simulation: signup and verify answered every event at 1 and 2 instances (no time is checked)"

step "browser: the page (web/) in headless Chromium, and the CORS policy"
echo "screenshots of each step: target/browser/ (UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/browser.png)"
build_web
for page_port in "$web_port" "$blocked_web_port"; do
  start_web "$page_port" "http://127.0.0.1:$port" P2E2eProjectAlpha "$ROOT/.dev/web-e2e.log"
done
TOTP_BASE_URL="http://127.0.0.1:$port" TOTP_PROJECT_ID=P2E2eProjectAlpha TOTP_ALLOWED_ORIGINS="$web_origin" \
TOTP_WEB_URL="$web_origin/" TOTP_BLOCKED_WEB_URL="http://127.0.0.1:$blocked_web_port/" \
  .venv/bin/pytest tests/browser -q -p no:cacheprovider
