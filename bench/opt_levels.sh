#!/usr/bin/env bash
# Issue 22 item 3, size by measurement: the AWS SDK crates (aws-config,
# aws-sdk-*, aws-smithy-*, aws-sigv4, aws-runtime, aws-types,
# aws-credential-types; not aws-lc, the crypto) built at each opt-level of
# OPT_LEVELS (default "3 s z"; 3 is today's release profile), everything else
# as the release profile says. For each level, in its own target directory
# (target/opt-<level>, so the everyday target/ stays warm; level 3 is target/):
#   - the arm64 bootstraps and their zips (cargo lambda build --release --arm64);
#   - signup's and verify's cold start (spawn → response), CPU and peak RSS,
#     and warm CPU per invocation, of the x86_64 release binaries on this
#     machine (bench/run.py), which cannot run arm64 code natively.
# Writes target/bench/opt-<level>.json and prints one line per level and function.
# OPT_LEVELS_STEPS=build or measure: only that half.
# Four builds of the SDK per level: about 25 minutes a level on 2 cores.
set -euo pipefail
umask 077
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
bash scripts/setup.sh
mkdir -p target/bench
trap 'stop_started' EXIT
trap 'exit 130' INT TERM
rustup target add aarch64-unknown-linux-gnu

crates=$(cargo metadata --format-version 1 --locked | python3 -c '
import json, sys
names = {p["name"] for p in json.load(sys.stdin)["packages"]}
print(" ".join(sorted(n for n in names if n.startswith("aws-") and not n.startswith("aws-lc"))))')
echo "SDK crates: $crates"

dir_of() { if [ "$1" = 3 ]; then echo target; else echo "target/opt-$1"; fi; }

# All builds first, then all measurements: the times are taken with nothing
# compiling beside them.
for level in ${OPT_LEVELS:-3 s z}; do
  [ "${OPT_LEVELS_STEPS:-all}" != measure ] || break
  # Level 3 is the everyday release build: it shares target/.
  dir=$(dir_of "$level")
  mkdir -p "$dir"
  config="$dir/sdk-opt-level-$level.toml"
  : >"$config"
  if [ "$level" != 3 ]; then
    for crate in $crates; do
      printf '[profile.release.package.%s]\nopt-level = "%s"\n' "$crate" "$level" >>"$config"
    done
  fi
  printf '\n==> SDK crates at opt-level %s: x86_64 build for the times\n' "$level"
  cargo build --release --bin signup --bin verify --example create_table --config "$config" --target-dir "$dir"
  printf '\n==> SDK crates at opt-level %s: arm64 Lambda build for the sizes\n' "$level"
  # cargo lambda hands --target-dir on to cargo metadata, which refuses it: the variable.
  CARGO_TARGET_DIR="$dir" PATH="$ROOT/.venv/bin:$PATH" cargo lambda build --release --arm64 --config "$config" \
    --lambda-dir "$dir/lambda"
done
[ "${OPT_LEVELS_STEPS:-all}" != build ] || exit 0

use_dynamodb_local
for level in ${OPT_LEVELS:-3 s z}; do
  dir=$(dir_of "$level")
  table="opt-$level-$(date +%s)"
  "$dir/release/examples/create_table" "$table" >/dev/null
  printf '\n==> SDK crates at opt-level %s: signup and verify (bench/run.py)\n' "$level"
  python3 bench/run.py --bins "$dir/release" --table "$table" --lambda-dir "$dir/lambda" --no-peer \
    --no-floors --functions signup,verify --cold "${BENCH_COLD:-30}" --warm "${BENCH_WARM:-400}" --instances 1 --per-instance 1 \
    --out "target/bench/opt-$level.json" >/dev/null
done

python3 - ${OPT_LEVELS:-3 s z} <<'EOF'
import json, sys
print(f"{'':<18} {'bootstrap':>10} {'zip':>9} {'cold p50':>9} {'cold CPU':>9} {'RSS':>9} {'warm CPU':>9}")
for level in sys.argv[1:]:
    report = json.load(open(f"target/bench/opt-{level}.json"))
    for name, r in report["functions"].items():
        c, w = r["cold"], r["warm"][0]
        print(f"opt-level {level:<2} {name:<6} {r['size']['bootstrap_bytes'] / 2**20:>8.2f} Mi "
              f"{r['size']['zip_bytes'] / 2**20:>6.2f} Mi {c['p50_ns'] / 1e6:>6.1f} ms {c['cpu_ns']['p50'] / 1e6:>6.1f} ms "
              f"{c['peak_rss_bytes']['p50'] / 2**20:>6.1f} Mi {w['cpu_ns_per_invocation'] / 1e6:>6.2f} ms")
EOF
