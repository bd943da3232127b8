#!/usr/bin/env bash
# make mutants: cargo-mutants over the files in .cargo/mutants.toml, against
# the real tests with DynamoDB Local and moto running. Long (hours on two
# cores: each mutant rebuilds and runs the suite), so not part of make test.
#   MUTANTS_ARGS   further cargo-mutants arguments, e.g. "--re src/totp.rs" for
#                  one file's mutants, "--iterate" to retry only what survived
#                  last time, "-j 2" for parallel jobs, "-- --lib" to run the
#                  unit tests only (a quick first pass)
# Results: mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt).
# The mutants build in a copy of the tree (what .gitignore ignores stays out),
# so this tree's files and builds are never touched.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup.sh
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
mkdir -p .dev
trap 'stop_started' EXIT
trap 'exit 130' INT TERM

use_dynamodb_local
use_moto
# shellcheck disable=SC2086 # MUTANTS_ARGS is a list of arguments
cargo mutants --no-shuffle ${MUTANTS_ARGS:-}
