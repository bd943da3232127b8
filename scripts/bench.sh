#!/usr/bin/env bash
# make bench: the numbers of issue 10, in one table (also target/bench/bench.json):
#   compute    per operation, no storage: cargo bench --bench compute (release)
#   cold start per function: the release binary spawned BENCH_COLD times through a
#              Lambda Runtime API emulator (bench/emulator.py, loopback only),
#              against DynamoDB Local: spawn → response posted, CPU, peak RSS
#   warm path  per function: BENCH_WARM invocations in a row on one instance, then
#              BENCH_INSTANCES instances × BENCH_PER_INSTANCE invocations at once
#   size       each arm64 bootstrap and its zip (cargo lambda build --release --arm64)
#   peer       the same for a Python Lambda doing signup's work (bench/peer)
#   floors     the same cold start and warm path of two floor programs built with
#              the same profile (examples/floor_*.rs): a lambda_http hello world,
#              and one with the default SDK set-up and a PutItem per request;
#              each function's cold start, CPU and RSS as a ratio to them
#   load       latency against concurrency (bench/load.py): verify and signup with
#              1, 2, 4, 8, 16 instances at once → target/bench/load.json
#   charts     docs/img/cold-start.png and docs/img/load.png from the two JSONs
#              (bench/charts.py)
# Settings (environment):
#   BENCH_SIZE=0         skip the arm64 build and the size columns (that build
#                        takes 10+ minutes when nothing is cached)
#   BENCH_KEYS=rsa       RSA-2048 (RS256) signing keys for the functions; default ec (P-256, ES256)
#   BENCH_COLD=20 BENCH_WARM=200 BENCH_INSTANCES=4 BENCH_PER_INSTANCE=50
#   BENCH_LOAD=0         skip the load simulation (and its chart)
#   BENCH_LOAD_LEVELS=1,2,4,8,16 BENCH_LOAD_PER_INSTANCE=40 BENCH_LOAD_FUNCTIONS=verify,signup
# Nothing here asserts a time; a function answering an unexpected status fails the run.
set -euo pipefail
# Every file this run writes (key files, watch.env) is this user's only from the
# moment it exists: no window between writing a key and a chmod.
umask 077
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh
mkdir -p .dev target/bench
trap 'stop_started' EXIT
trap 'exit 130' INT TERM

step() { printf '\n==> %s\n' "$*" >&2; }

# The Python peer of signup (bench/peer), in a venv of its own, from wheels only:
# reinstalled only when its pins change.
peer_stamp=.tools/bench-peer/.requirements.sha
want=$(sha256sum bench/peer/requirements.txt | cut -d' ' -f1)
if [ ! -x .tools/bench-peer/bin/python ] || [ "$(cat "$peer_stamp" 2>/dev/null)" != "$want" ]; then
  step "creating .tools/bench-peer (the Python peer of signup)"
  python3 -m venv --clear .tools/bench-peer
  .tools/bench-peer/bin/pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .tools/bench-peer/bin/pip install -q --disable-pip-version-check --only-binary=:all: -r bench/peer/requirements.txt
  echo "$want" >"$peer_stamp"
fi

step "release build: the functions, the floors and create_table"
cargo build --release --bins --example create_table --example floor_hello --example floor_put_item

step "compute per operation (cargo bench --bench compute)"
rm -f target/bench/compute.json
if ! cargo bench --bench compute -- --json target/bench/compute.json >target/bench/compute.txt; then
  cat target/bench/compute.txt >&2
  echo "make bench: cargo bench --bench compute failed" >&2
  exit 1
fi

size_args=()
if [ "${BENCH_SIZE:-1}" != 0 ]; then
  step "arm64 Lambda build for the sizes (cargo lambda build --release --arm64; BENCH_SIZE=0 skips it)"
  rustup target add aarch64-unknown-linux-gnu
  PATH="$ROOT/.venv/bin:$PATH" cargo lambda build --release --arm64
  size_args=(--lambda-dir target/lambda)
fi

step "DynamoDB Local"
use_dynamodb_local
table="bench-$(date +%s)"
target/release/examples/create_table "$table" >/dev/null

step "cold start and warm path of each function (bench/run.py)"
python3 bench/run.py --bins target/release --table "$table" --compute-json target/bench/compute.json \
  "${size_args[@]}" --out target/bench/bench.json

load_args=()
if [ "${BENCH_LOAD:-1}" != 0 ]; then
  step "latency against concurrency (bench/load.py; BENCH_LOAD=0 skips it)"
  python3 bench/load.py --bins target/release --table "$table" --out target/bench/load.json
  load_args=(--load target/bench/load.json)
fi

step "charts (bench/charts.py → docs/img)"
.venv/bin/python bench/charts.py --bench target/bench/bench.json "${load_args[@]}" --out-dir docs/img
