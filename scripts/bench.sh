#!/usr/bin/env bash
# make bench: the numbers of issue 10, in one table (also target/bench/bench.json):
#   compute    per operation, no storage: cargo bench --bench compute (release)
#   cold start per function: the release binary spawned BENCH_COLD times through a
#              Lambda Runtime API emulator (bench/emulator.py, loopback only),
#              against DynamoDB Local: spawn → response posted, CPU, peak RSS
#   warm path  per function: BENCH_WARM invocations in a row on one instance, then
#              BENCH_INSTANCES instances × BENCH_PER_INSTANCE invocations at once
#   size       each arm64 bootstrap and its zip (cargo lambda build --release --arm64)
# Settings (environment):
#   BENCH_SIZE=0         skip the arm64 build and the size columns (that build
#                        takes 10+ minutes when nothing is cached)
#   BENCH_KEYS=rsa       RSA-2048 (RS256) signing keys for the functions; default ec (P-256, ES256)
#   BENCH_COLD=20 BENCH_WARM=200 BENCH_INSTANCES=4 BENCH_PER_INSTANCE=50
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

step "release build: the functions and create_table"
cargo build --release --bins --example create_table

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
