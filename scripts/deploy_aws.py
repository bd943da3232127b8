#!/usr/bin/env python3
"""The AWS side of `make deploy` (scripts/deploy.sh), with boto3.

    deploy_aws.py check   [--config-file F] [--config-env E]
        The deployment's settings (samconfig.toml), an AWS region and working
        credentials: fails in seconds, before the build.
    deploy_aws.py secrets [--config-file F] [--config-env E]
        Makes sure the key secrets exist, then prints (stdout, JSON) the
        parameters for `sam deploy`: the settings of samconfig.toml, the four
        secrets' ARNs and KeysVersion; and the management keys made in this run.
    deploy_aws.py url     [--config-file F] [--config-env E]
        The deployed stack's base URL (its ApiUrl output).
    deploy_aws.py overrides < secrets-output
        The parameters of `secrets`, one `Key="value"` a line, as
        `sam deploy --parameter-overrides` takes them.
    deploy_aws.py keys < secrets-output
        The management keys made by `secrets`, for the user to keep (stdout).

The secrets are named after the stack, `<stack>/signing-keys`,
`<stack>/public-keys`, `<stack>/encryption-keys` and `<stack>/management-keys`,
and found again by name, so a second run reuses them. A missing one is
created from `scripts/gen-keys.sh`: the keys are generated in memory and go
through pipes straight to Secrets Manager, never to a file. When the projects
grow (ProjectId), the signing and management documents get keys for the new
projects; the public keys document is derived from the signing one on every
run and rewritten when it differs (after a rotation, say). New management keys
exist nowhere but in this run's output: deploy.sh shows them once.

AWS settings come from the usual places (AWS_PROFILE, AWS_REGION,
~/.aws/config and credentials; AWS_ENDPOINT_URL for a local stand-in such as moto).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import boto3
import botocore.exceptions

ROOT = Path(__file__).resolve().parent.parent
GEN_KEYS = ROOT / "scripts" / "gen-keys.sh"

# secret kind -> (secret name suffix, template parameter)
SECRETS = {
    "signing": ("signing-keys", "SigningKeysSecretArn"),
    "public": ("public-keys", "PublicKeysSecretArn"),
    "encryption": ("encryption-keys", "EncryptionKeysSecretArn"),
    "management": ("management-keys", "ManagementKeysSecretArn"),
}
DESCRIPTIONS = {
    "signing": "totp-lambda: the JWT signing keys (private), a key ring per project. Read by verify and sessions.",
    "public": "totp-lambda: the public halves of the signing keys. Read by update and keys. Derived by make deploy.",
    "encryption": "totp-lambda: the AES-256 keys that seal TOTP secrets at rest.",
    "management": "totp-lambda: SHA-256 hashes of the management keys, per project, and the audit key.",
}


class DeployError(Exception):
    """A problem the user can act on: printed without a traceback."""


# ---- settings ----------------------------------------------------------------


def parse_overrides(value) -> dict[str, str]:
    """samconfig's parameter_overrides, read exactly as the SAM CLI reads them."""
    from samcli.cli.types import CfnParameterOverridesType

    if value in (None, "", []):
        return {}
    try:
        return dict(CfnParameterOverridesType().convert(value, None, None))
    except Exception as e:  # click's BadParameter, with SAM's explanation
        raise DeployError(f"samconfig.toml parameter_overrides: {e}") from e


def settings(config_file: Path, config_env: str) -> dict:
    """stack_name and parameter_overrides of one environment of samconfig.toml
    (its deploy section over its global one, as `sam deploy --config-env` reads them)."""
    try:
        config = tomllib.loads(config_file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DeployError(f"cannot read {config_file}: {e}") from e
    env = config.get(config_env)
    if not isinstance(env, dict):
        raise DeployError(f"{config_file} has no [{config_env}.…] environment")
    merged: dict = {}
    for command in ("global", "deploy"):
        merged.update(env.get(command, {}).get("parameters", {}))
    stack = merged.get("stack_name")
    if not stack:
        raise DeployError(f"{config_file}: set stack_name in [{config_env}.global.parameters]")
    check_stack_name(stack)
    return {"stack_name": stack, "overrides": parse_overrides(merged.get("parameter_overrides"))}


# The pre-traffic hook is named CodeDeployHook_<stack> (the only names
# CodeDeploy's managed role may invoke), and a function name has at most 64
# characters: 15 for the prefix leave 49 for the stack's.
MAX_STACK_NAME = 64 - len("CodeDeployHook_")


def check_stack_name(stack: str) -> None:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", stack) or len(stack) > MAX_STACK_NAME:
        raise DeployError(
            f"stack_name {stack!r}: a letter, then letters, digits and hyphens, {MAX_STACK_NAME} characters "
            "at most (the pre-traffic hook is named CodeDeployHook_<stack>)"
        )


def aws_session() -> boto3.session.Session:
    session = boto3.session.Session()
    if not session.region_name:
        raise DeployError(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your AWS profile (aws configure)"
        )
    return session


def check_credentials(session: boto3.session.Session) -> str:
    try:
        return session.client("sts").get_caller_identity()["Account"]
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError) as e:
        raise DeployError("no AWS credentials: set AWS_PROFILE, or run aws configure (or aws sso login)") from e
    except botocore.exceptions.ClientError as e:
        raise DeployError(f"the AWS credentials do not work: {e}") from e


def stack_parameters(session: boto3.session.Session, stack: str) -> dict[str, str]:
    """The parameters of the deployed stack, if it exists."""
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except botocore.exceptions.ClientError as e:
        if "does not exist" in str(e):
            return {}
        raise
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])}


def projects_of(session: boto3.session.Session, config: dict) -> list[str]:
    """ProjectId from samconfig.toml, else the deployed stack's."""
    raw = config["overrides"].get("ProjectId") or stack_parameters(session, config["stack_name"]).get("ProjectId")
    projects = [p.strip() for p in (raw or "").split(",") if p.strip()]
    if not projects:
        raise DeployError('set ProjectId in samconfig.toml\'s parameter_overrides (e.g. ProjectId="P2MyProject")')
    bad = [p for p in projects if not (p.isascii() and p.isalnum())]
    if bad:
        raise DeployError(f"ProjectId: {', '.join(bad)}: a project id is letters and digits")
    return projects


# ---- key documents (through gen-keys.sh, in memory) ------------------------------


def gen_keys(*args: str, stdin: str | None = None) -> tuple[str, str]:
    """stdout and stderr of scripts/gen-keys.sh, through pipes only."""
    result = subprocess.run(
        ["bash", str(GEN_KEYS), *args], input=(stdin or "").encode(), capture_output=True, check=False
    )
    if result.returncode != 0:
        # gen-keys.sh's own messages name no key material.
        raise DeployError(f"gen-keys.sh {args[0]} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode(), result.stderr.decode()


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")


def kids_of(signing: dict) -> set[str]:
    return {k.get("kid") for ring in signing.get("projects", {}).values() for k in ring.get("keys", [])}


def signing_document(projects: list[str], existing: dict | None) -> dict:
    """The signing document covering `projects`: the existing one, plus a key
    ring for each project it lacks."""
    document = existing if existing is not None else {"projects": {}}
    missing = [p for p in projects if p not in document.get("projects", {})]
    if missing:
        added = json.loads(gen_keys("signing", f"sig-{today()}", ",".join(missing))[0])
        clash = kids_of(added) & kids_of(document)
        if clash:
            raise DeployError(f"the signing keys document already uses the key id(s) {', '.join(sorted(clash))}")
        document.setdefault("projects", {}).update(added["projects"])
    return document


def management_document(projects: list[str], existing: dict | None) -> tuple[dict, list[tuple[str, str]]]:
    """The management document covering `projects`, and the new keys (project, key)."""
    document = existing if existing is not None else None
    missing = [p for p in projects if document is None or p not in document.get("projects", {})]
    if not missing:
        return document, []
    text, printed = gen_keys("management", f"support-{today()}", ",".join(missing))
    added = json.loads(text)
    keys = [tuple(line.split(" ", 1)) for line in printed.splitlines() if " " in line]
    if document is None:
        return added, keys
    ids = {k.get("id") for ring in document.get("projects", {}).values() for k in ring.get("keys", [])}
    clash = ids & {k["id"] for ring in added["projects"].values() for k in ring["keys"]}
    if clash:
        raise DeployError(f"the management keys document already uses the id(s) {', '.join(sorted(clash))}")
    document.setdefault("projects", {}).update(added["projects"])
    return document, keys


# ---- Secrets Manager ---------------------------------------------------------------


class Secrets:
    def __init__(self, session: boto3.session.Session, stack: str, kms_key: str = ""):
        self.client = session.client("secretsmanager")
        self.stack = stack
        # KmsKeyArn of the parameter overrides: the secrets created here use it too.
        self.kms_key = kms_key
        self.created: list[str] = []
        self.updated: list[str] = []

    def name(self, kind: str) -> str:
        return f"{self.stack}/{SECRETS[kind][0]}"

    def read(self, kind: str) -> dict | None:
        """The secret's JSON document, or None if there is no such secret."""
        name = self.name(kind)
        try:
            described = self.client.describe_secret(SecretId=name)
        except self.client.exceptions.ResourceNotFoundException:
            return None
        if described.get("DeletedDate"):
            raise DeployError(
                f"the secret {name} is scheduled for deletion: restore it "
                f"(aws secretsmanager restore-secret --secret-id {name}) or delete it for good "
                f"(aws secretsmanager delete-secret --secret-id {name} --force-delete-without-recovery), "
                "then run make deploy again"
            )
        value = self.client.get_secret_value(SecretId=name).get("SecretString")
        try:
            return json.loads(value or "")
        except json.JSONDecodeError as e:
            raise DeployError(f"the secret {name} does not hold a JSON document") from e

    def create(self, kind: str, document: dict) -> None:
        name = self.name(kind)
        self.client.create_secret(
            Name=name,
            Description=DESCRIPTIONS[kind],
            SecretString=json.dumps(document),
            Tags=[{"Key": "totp-lambda:stack", "Value": self.stack}],
            **({"KmsKeyId": self.kms_key} if self.kms_key else {}),
        )
        self.created.append(name)

    def put(self, kind: str, document: dict) -> None:
        self.client.put_secret_value(SecretId=self.name(kind), SecretString=json.dumps(document))
        self.updated.append(self.name(kind))

    def write(self, kind: str, document: dict, existed: bool) -> None:
        (self.put if existed else self.create)(kind, document)

    def arn_and_version(self, kind: str) -> tuple[str, str]:
        described = self.client.describe_secret(SecretId=self.name(kind))
        current = next(
            (v for v, stages in described.get("VersionIdsToStages", {}).items() if "AWSCURRENT" in stages), ""
        )
        return described["ARN"], current


def ensure_secrets(session: boto3.session.Session, config: dict) -> dict:
    projects = projects_of(session, config)
    secrets = Secrets(session, config["stack_name"], config["overrides"].get("KmsKeyArn", ""))

    signing_before = secrets.read("signing")
    signing = signing_document(projects, json.loads(json.dumps(signing_before)) if signing_before else None)
    if signing != signing_before:
        secrets.write("signing", signing, existed=signing_before is not None)

    # Derived on every run, so that it follows the signing document (rotations included).
    public = json.loads(gen_keys("public", stdin=json.dumps(signing))[0])
    public_before = secrets.read("public")
    if public != public_before:
        secrets.write("public", public, existed=public_before is not None)

    if secrets.read("encryption") is None:
        secrets.create("encryption", json.loads(gen_keys("encryption", f"enc-{today()}")[0]))

    management_before = secrets.read("management")
    management, new_keys = management_document(
        projects, json.loads(json.dumps(management_before)) if management_before else None
    )
    if management != management_before:
        secrets.write("management", management, existed=management_before is not None)

    try:
        parameters = dict(config["overrides"])
        parameters["ProjectId"] = ",".join(projects)
        versions = []
        for kind, (_, parameter) in SECRETS.items():
            arn, version = secrets.arn_and_version(kind)
            parameters[parameter] = arn
            versions.append(f"{kind}={version}")
        # Changes when any secret changes: the functions then start afresh and read it.
        parameters["KeysVersion"] = hashlib.sha256(",".join(versions).encode()).hexdigest()[:32]
    except Exception:
        # The new management keys are stored nowhere: show them before giving up.
        show_keys(new_keys)
        raise
    return {
        "stackName": config["stack_name"],
        "region": session.region_name,
        "created": secrets.created,
        "updated": secrets.updated,
        "parameters": parameters,
        "managementKeys": [{"projectId": p, "key": k} for p, k in new_keys],
    }


def render_overrides(parameters: dict[str, str]) -> list[str]:
    """`Key="value"` arguments that the SAM CLI reads back as `parameters`."""
    rendered = []
    for key, value in parameters.items():
        if not (key.isascii() and key.isalnum()):
            raise DeployError(f"{key!r} is not a parameter name")
        if "\\" in value:
            raise DeployError(f"parameter {key}: a backslash cannot be passed to sam deploy")
        escaped = value.replace('"', '\\"')
        rendered.append(f'{key}="{escaped}"')
    return rendered


def show_keys(keys: list[tuple[str, str]]) -> None:
    if keys:
        print("New management keys (shown once, stored nowhere; Bearer <projectId>:<key> on /v1/mgmt/...):",
              file=sys.stderr)
        for project, key in keys:
            print(f"  {project} {key}", file=sys.stderr)


def stack_url(session: boto3.session.Session, stack: str) -> str:
    try:
        outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except botocore.exceptions.ClientError as e:
        raise DeployError(f"cannot read the stack {stack}: {e}") from e
    url = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "ApiUrl"), None)
    if not url:
        raise DeployError(f"the stack {stack} has no ApiUrl output")
    return url


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["check", "secrets", "url", "overrides", "keys"])
    parser.add_argument("--config-file", type=Path, default=ROOT / "samconfig.toml")
    parser.add_argument("--config-env", default="default")
    args = parser.parse_args(argv)
    try:
        if args.command in ("overrides", "keys"):
            output = json.load(sys.stdin)
            if args.command == "overrides":
                print("\n".join(render_overrides(output["parameters"])))
            elif output["managementKeys"]:
                print("Management keys made by this deploy, one per project. They are stored nowhere and")
                print("cannot be shown again: keep them in your password manager now. Support calls")
                print("/v1/mgmt/... with `Authorization: Bearer <projectId>:<key>` (docs/operate.md, Support runbook).")
                for entry in output["managementKeys"]:
                    print(f"  {entry['projectId']} {entry['key']}")
            return 0
        config = settings(args.config_file, args.config_env)
        session = aws_session()
        if args.command == "check":
            account = check_credentials(session)
            projects = projects_of(session, config)
            print(
                f"stack {config['stack_name']} in account {account}, region {session.region_name}; "
                f"projects {','.join(projects)}"
            )
        elif args.command == "secrets":
            check_credentials(session)
            print(json.dumps(ensure_secrets(session, config)))
        else:
            print(stack_url(session, config["stack_name"]))
    except DeployError as e:
        print(f"make deploy: {e}", file=sys.stderr)
        return 1
    except botocore.exceptions.BotoCoreError as e:
        print(f"make deploy: AWS: {e}", file=sys.stderr)
        return 1
    except botocore.exceptions.ClientError as e:
        print(f"make deploy: AWS: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
