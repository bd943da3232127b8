#!/usr/bin/env bash
# make package: the functions built for Lambda by `sam build`
# (BuildMethod rust-cargolambda: `cargo lambda build --release --arm64` per
# function, cross-compiled with zig; no Docker) into .aws-sam/build, which
# `sam deploy` uploads. From a cold cache 10 to 20 minutes on 2 cores (the
# dependencies once, then each function's binary); a few minutes after that.
#   package.sh [--no-setup]   (--no-setup: scripts/setup.sh has run already)
# CONFIG_ENV: the environment of samconfig.toml to use (default: default);
# CONFIG_FILE: another SAM CLI configuration file than ./samconfig.toml;
# SAM: another SAM CLI than the one pinned in .venv.
set -euo pipefail
config_file=$(realpath "${CONFIG_FILE:-$(dirname "$0")/../samconfig.toml}")
cd "$(dirname "$0")/.."
root=$PWD
if [ "${1:-}" != "--no-setup" ]; then bash scripts/setup.sh; fi
# The Lambda target (cargo lambda cross-compiles to it with zig).
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi
# cargo-lambda (and zig) come from .venv.
PATH="$root/.venv/bin:$PATH" "${SAM:-$root/.venv/bin/sam}" build \
  --config-file "$config_file" --config-env "${CONFIG_ENV:-default}"
