#!/usr/bin/env bash
# make deploy: from a clone to a working API in one command, without a prompt.
#   1. checks the settings (samconfig.toml), the AWS region and credentials;
#   2. builds the functions (scripts/package.sh: sam build, no Docker);
#   3. makes sure the key secrets exist in AWS Secrets Manager
#      (scripts/deploy_aws.py: keys generated here, in memory, and sent
#      straight to Secrets Manager; a second run reuses them);
#   4. deploys the stack (sam deploy) with the secrets' ARNs as parameters;
#   5. prints the base URL and, once, the management keys this run made.
# CONFIG_ENV: the environment of samconfig.toml to use (default: default);
# CONFIG_FILE: another SAM CLI configuration file than ./samconfig.toml;
# SAM: another SAM CLI than the one pinned in .venv.
# AWS credentials and region: your AWS configuration (AWS_PROFILE,
# AWS_DEFAULT_REGION or AWS_REGION, ~/.aws/config).
set -euo pipefail
config_file=$(realpath "${CONFIG_FILE:-$(dirname "$0")/../samconfig.toml}")
cd "$(dirname "$0")/.."
root=$PWD
config_env=${CONFIG_ENV:-default}
export CONFIG_ENV=$config_env CONFIG_FILE=$config_file
# boto3 and the SAM CLI read AWS_DEFAULT_REGION, not AWS_REGION.
if [ -n "${AWS_REGION:-}" ] && [ -z "${AWS_DEFAULT_REGION:-}" ]; then export AWS_DEFAULT_REGION=$AWS_REGION; fi

step() { printf '\n==> %s\n' "$*" >&2; }
aws_py() { "$root/.venv/bin/python" "$root/scripts/deploy_aws.py" "$@" --config-file "$config_file" --config-env "$config_env"; }

bash scripts/setup.sh

step "settings, AWS region and credentials"
aws_py check

step "build (sam build)"
bash scripts/package.sh --no-setup

step "key secrets (AWS Secrets Manager)"
# The output holds the management keys made by this run, if any: it stays in
# this variable (memory) and reaches only the terminal, at the very end,
# however the run ends.
secrets=""
show_new_keys() {
  if [ -n "$secrets" ]; then
    printf '\n' >&2
    printf '%s' "$secrets" | "$root/.venv/bin/python" "$root/scripts/deploy_aws.py" keys >&2 || true
  fi
}
trap show_new_keys EXIT
trap 'exit 130' INT TERM
secrets=$(aws_py secrets)
printf '%s' "$secrets" | "$root/.venv/bin/python" -c '
import json, sys
out = json.load(sys.stdin)
for verb in ("created", "updated"):
    for name in out[verb]:
        print(f"  {verb} {name}")
if not out["created"] and not out["updated"]:
    print("  all present, unchanged")' >&2
overrides_text=$(printf '%s' "$secrets" | "$root/.venv/bin/python" "$root/scripts/deploy_aws.py" overrides)
mapfile -t overrides <<<"$overrides_text"

step "deploy (sam deploy)"
"${SAM:-$root/.venv/bin/sam}" deploy --config-file "$config_file" --config-env "$config_env" \
  --parameter-overrides "${overrides[@]}"

url=$(aws_py url)
# The release deployed: [package]'s version, the first `version = "…"` line of Cargo.toml.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
project=$(printf '%s' "$secrets" | "$root/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["parameters"]["ProjectId"].split(",")[0])')
cat >&2 <<MSG

  totp-lambda $version is deployed.
  base URL:   $url   (the base URL of Descope SDKs)
  project id: $project
  check:      curl -s $url/v2/keys/$project
MSG
