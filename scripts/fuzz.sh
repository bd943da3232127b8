#!/usr/bin/env bash
# make fuzz: every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (default
# 600), one after another, starting from its seeds (fuzz/seeds/<target>/).
# New inputs collect in fuzz/corpus/<target>/ (not committed); a crash stops
# the run, leaves the input in fuzz/artifacts/<target>/, and is best kept as
# fuzz/seeds/<target>/crash-<what> once fixed: tests/fuzz_seeds.rs replays
# every seed in `make test`.
# Settings: FUZZ_SECONDS=600, FUZZ_TARGETS="http_request bearer ..." (default
# all), FUZZ_JOBS=1 (parallel fuzzing processes per target).
# Needs a nightly toolchain (libFuzzer's sanitizer flags) and cargo-fuzz:
# both are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[fuzz] %s\n' "$*" >&2; }

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

seconds=${FUZZ_SECONDS:-600}
jobs=${FUZZ_JOBS:-1}
targets=$(echo ${FUZZ_TARGETS:-$(cargo +nightly fuzz list)})
say "building the targets (release, AddressSanitizer)"
cargo +nightly fuzz build -O
for target in $targets; do
  say "$target: ${seconds}s from fuzz/seeds/$target"
  mkdir -p "fuzz/corpus/$target"
  # 2 GiB of RSS and 512 MiB per allocation are far past anything a request
  # should need: crossing either is a finding (an allocation blow-up), as is a
  # single input running over 10 s (a hang).
  parallel=()
  if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi
  cargo +nightly fuzz run -O "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
    -max_len=8192 -print_final_stats=1 "${parallel[@]}"
done
say "done: no crash, hang or blow-up in $targets"
