#!/usr/bin/env bash
# make mutants: cargo-mutants over the files in .cargo/mutants.toml, against
# the real tests with DynamoDB Local and moto running. Not part of make test:
# it takes over an hour on two cores.
#
# Two passes, because rebuilding and running every test binary for each mutant
# would take most of a day:
#   1. each mutant against the unit tests alone (seconds a mutant: one test
#      binary to relink);
#   2. only what pass 1 left alive (--iterate), against every Rust test, run
#      by cargo-nextest, which runs the tests of all binaries at once.
# Both build with Cargo.toml's [profile.mutants] (no debug info: faster links).
#
#   MUTANTS_ARGS   further cargo-mutants arguments for both passes, e.g.
#                  "--re src/totp.rs" for one file's mutants, "--in-place" to
#                  build in this tree instead of a copy (faster: the build is
#                  warm; don't edit src/ while it runs)
#   MUTANTS_PASS   1 or 2 to run one pass only (2 retries what survived last time)
# Results: mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
mkdir -p .dev
trap 'stop_started' EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2206 # MUTANTS_ARGS is a list of arguments
args=(--no-shuffle ${MUTANTS_ARGS:-})
pass=${MUTANTS_PASS:-both}

if [ "$pass" != 2 ]; then
  # Exit 2 (missed) and 3 (timeouts) are what pass 2 is for.
  status=0
  cargo mutants "${args[@]}" -C --lib --timeout 60 || status=$?
  case $status in 0 | 2 | 3) ;; *) exit "$status" ;; esac
  [ "$pass" = 1 ] && exit "$status"
fi

use_dynamodb_local
use_moto
# Library and integration tests; the binaries' own test targets are empty.
# Pass 1's two timeouts are `expression_names` with `+` turned into `-` or
# `*`: its parser then never advances, so the unit test hangs, and a hang is
# the catch. Pass 2 leaves them out rather than wait out their timeout again.
cargo mutants "${args[@]}" --iterate --exclude-re 'expression_names' --test-tool nextest -C --lib -C '--test=*'
