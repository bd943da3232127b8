"""samconfig.toml as the SAM CLI reads it, and make deploy's helper
(scripts/deploy_aws.py) where the Rust suite (tests/deploy_secrets.rs, which
loads what it stores with the functions' own loaders) does not look: how
parameters reach `sam deploy`, and the failures a new user meets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import boto3
import pytest
from samcli.cli.types import CfnParameterOverridesType

from conftest import ROOT

SAMCONFIG = ROOT / "samconfig.toml"


def test_samconfig_deploys_without_a_prompt(template) -> None:
    config = tomllib.loads(SAMCONFIG.read_text())
    default = config["default"]
    assert default["global"]["parameters"]["stack_name"] == "totp-lambda"
    deploy = default["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is False
    assert deploy["fail_on_empty_changeset"] is False
    # The opt-in older SAM CLI releases need for BuildMethod rust-cargolambda.
    assert default["build"]["parameters"]["beta_features"] is True
    assert default["sync"]["parameters"]["beta_features"] is True
    # The region is the user's AWS configuration's.
    def keys(node) -> set[str]:
        return set(node) | {k for v in node.values() if isinstance(v, dict) for k in keys(v)}

    assert "region" not in keys(config)
    # Its parameters are ones the template takes, with values it accepts.
    overrides = CfnParameterOverridesType().convert(deploy["parameter_overrides"], None, None)
    assert set(overrides) == {"ProjectId", "TotpIssuer"}
    parameters = template["Parameters"]
    for name, value in overrides.items():
        assert name in parameters
        assert re.fullmatch(parameters[name]["AllowedPattern"], value), (name, value)
    # Every other parameter without a default is a key secret, which make deploy passes.
    required = {n for n, p in parameters.items() if "Default" not in p} - set(overrides)
    assert required == {
        "SigningKeysSecretArn",
        "PublicKeysSecretArn",
        "EncryptionKeysSecretArn",
        "ManagementKeysSecretArn",
    }


def test_the_pinned_sam_cli_needs_no_opt_in() -> None:
    """The README names this version; releases from 1.156.0 on build Rust without beta_features."""
    pins = (ROOT / "requirements-dev.txt").read_text()
    (version,) = re.findall(r"^aws-sam-cli==(\S+)$", pins, re.M)
    from samcli import __version__

    assert __version__ == version
    assert tuple(int(p) for p in version.split(".")) >= (1, 156, 0)
    from samcli.commands._utils.experimental import ExperimentalFlag

    assert not hasattr(ExperimentalFlag, "RustCargoLambda")


def test_parameters_reach_sam_deploy_unchanged(deploy_aws) -> None:
    parameters = {
        "ProjectId": "P2Alpha,P2Bravo",
        "TotpIssuer": 'Acme "Sign-in" Corp',
        "AllowedOrigins": "",
        "LogLevel": "info,totp_lambda=debug",
        "SigningKeysSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:totp-lambda/signing-keys-AbC123",
        "KeysVersion": "0123456789abcdef0123456789abcdef",
    }
    rendered = deploy_aws.render_overrides(parameters)
    # What `sam deploy --parameter-overrides <each>` reads back.
    assert CfnParameterOverridesType().convert(rendered, None, None) == parameters
    with pytest.raises(deploy_aws.DeployError):
        deploy_aws.render_overrides({"TotpIssuer": "back\\slash"})
    with pytest.raises(deploy_aws.DeployError):
        deploy_aws.render_overrides({"Not a name": "x"})


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "deploy_aws.py"), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def local_env(moto_endpoint: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
    )
    if moto_endpoint:
        env["AWS_ENDPOINT_URL"] = moto_endpoint
    return env


def moto_client(service: str, moto_endpoint: str):
    """A boto3 client of the local moto server, with the credentials local_env gives the scripts."""
    return boto3.client(
        service,
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def samconfig(tmp_path: Path, stack: str, overrides: str) -> Path:
    path = tmp_path / "samconfig.toml"
    path.write_text(
        f'version = 0.1\n[default.global.parameters]\nstack_name = "{stack}"\n'
        f"[default.deploy.parameters]\nparameter_overrides = {json.dumps(overrides)}\n"
    )
    return path


def test_without_a_region_it_stops_before_anything(tmp_path: Path) -> None:
    env = local_env(None)
    del env["AWS_DEFAULT_REGION"]
    result = run("check", "--config-file", str(samconfig(tmp_path, "s", 'ProjectId="P2A"')), env=env)
    assert result.returncode == 1
    assert "no AWS region" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_credentials_it_says_so(tmp_path: Path) -> None:
    env = local_env(None)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    result = run("check", "--config-file", str(samconfig(tmp_path, "s", 'ProjectId="P2A"')), env=env)
    assert result.returncode == 1
    assert "no AWS credentials" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_names_the_deployment(tmp_path: Path, moto_endpoint: str) -> None:
    config = samconfig(tmp_path, "totp-check", 'ProjectId="P2A,P2B" TotpIssuer="Acme"')
    result = run("check", "--config-file", str(config), env=local_env(moto_endpoint))
    assert result.returncode == 0, result.stderr
    assert "stack totp-check" in result.stdout and "region us-east-1" in result.stdout
    assert "projects P2A,P2B" in result.stdout


def test_a_project_id_is_required(tmp_path: Path, moto_endpoint: str) -> None:
    for overrides in ['TotpIssuer="Acme"', 'ProjectId="P2-bad" TotpIssuer="Acme"']:
        config = samconfig(tmp_path, f"totp-{uuid.uuid4().hex[:8]}", overrides)
        result = run("secrets", "--config-file", str(config), env=local_env(moto_endpoint))
        assert result.returncode == 1, overrides
        assert "ProjectId" in result.stderr, result.stderr
        assert result.stdout == ""


def test_a_secret_scheduled_for_deletion_is_named(tmp_path: Path, moto_endpoint: str) -> None:
    stack = f"totp-{uuid.uuid4().hex[:8]}"
    env = local_env(moto_endpoint)
    config = samconfig(tmp_path, stack, 'ProjectId="P2A"')
    assert run("secrets", "--config-file", str(config), env=env).returncode == 0
    client = moto_client("secretsmanager", moto_endpoint)
    client.delete_secret(SecretId=f"{stack}/encryption-keys", RecoveryWindowInDays=7)
    result = run("secrets", "--config-file", str(config), env=env)
    assert result.returncode == 1
    assert f"{stack}/encryption-keys is scheduled for deletion" in result.stderr
    assert "restore-secret" in result.stderr


def test_a_rotation_in_the_signing_secret_reaches_the_public_one(tmp_path: Path, moto_endpoint: str) -> None:
    stack = f"totp-{uuid.uuid4().hex[:8]}"
    env = local_env(moto_endpoint)
    config = samconfig(tmp_path, stack, 'ProjectId="P2A"')
    first = json.loads(run("secrets", "--config-file", str(config), env=env).stdout)
    client = moto_client("secretsmanager", moto_endpoint)
    signing = json.loads(client.get_secret_value(SecretId=f"{stack}/signing-keys")["SecretString"])
    new_key = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen-keys.sh"), "signing-key", "sig-next-P2A"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Rotation step 1: the new key appended, published before it signs.
    signing["projects"]["P2A"]["keys"].append(json.loads(new_key))
    client.put_secret_value(SecretId=f"{stack}/signing-keys", SecretString=json.dumps(signing))
    second = json.loads(run("secrets", "--config-file", str(config), env=env).stdout)
    assert second["created"] == [] and second["updated"] == [f"{stack}/public-keys"]
    assert second["managementKeys"] == []
    assert second["parameters"]["KeysVersion"] != first["parameters"]["KeysVersion"]
    public = json.loads(client.get_secret_value(SecretId=f"{stack}/public-keys")["SecretString"])
    assert [k["kid"] for k in public["projects"]["P2A"]["keys"]] == [
        k["kid"] for k in signing["projects"]["P2A"]["keys"]
    ]
    assert all(set(k) == {"kid", "publicKeyPem"} for k in public["projects"]["P2A"]["keys"])


def test_the_management_keys_are_shown_once_and_the_overrides_rendered(deploy_aws) -> None:
    output = {
        "parameters": {"ProjectId": "P2A", "TotpIssuer": "Acme Corp"},
        "managementKeys": [{"projectId": "P2A", "key": "k" * 43}],
    }
    env = local_env(None)
    keys = run("keys", env=env, stdin=json.dumps(output))
    assert keys.returncode == 0
    assert f"  P2A {'k' * 43}" in keys.stdout.splitlines()
    assert "stored nowhere" in keys.stdout
    none = run("keys", env=env, stdin=json.dumps(output | {"managementKeys": []}))
    assert none.returncode == 0 and none.stdout == ""
    rendered = run("overrides", env=env, stdin=json.dumps(output))
    assert rendered.stdout.splitlines() == ['ProjectId="P2A"', 'TotpIssuer="Acme Corp"']


FAKE_SAM = """#!{python}
# A stand-in for the SAM CLI: records its arguments; `deploy` creates the
# stack in moto with the one output make deploy reads back.
import json, os, sys
import boto3
with open(os.environ["FAKE_SAM_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == "deploy":
    boto3.client("cloudformation").create_stack(
        StackName=os.environ["FAKE_STACK"],
        TemplateBody=json.dumps({{
            "Resources": {{"Topic": {{"Type": "AWS::SNS::Topic"}}}},
            "Outputs": {{"ApiUrl": {{"Value": "https://api.example.com"}}}},
        }}),
    )
    print("Successfully created/updated stack")
"""


def test_make_deploy_end_to_end_with_a_stand_in_sam(tmp_path: Path, moto_endpoint: str) -> None:
    """scripts/deploy.sh as `make deploy` runs it, with the SAM CLI (which
    would need an AWS account) replaced by a recorder and AWS by moto: the
    secrets made before the deploy, their ARNs passed to it, the base URL
    printed, and the management keys shown last, on the terminal only."""
    import hashlib

    stack = f"totp-{uuid.uuid4().hex[:8]}"
    config = samconfig(tmp_path, stack, 'ProjectId="P2A,P2B" TotpIssuer="Acme Corp"')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sam").write_text(FAKE_SAM.format(python=sys.executable))
    # The Lambda target is make package's business, not this test's.
    (bin_dir / "rustup").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    log = tmp_path / "sam.log"
    env = local_env(moto_endpoint) | {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SAM": str(bin_dir / "sam"),
        "CONFIG_FILE": str(config),
        "FAKE_SAM_LOG": str(log),
        "FAKE_STACK": stack,
    }
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c[0] for c in calls] == ["build", "deploy"]
    assert calls[0][1:] == ["--config-file", str(config), "--config-env", "default"]
    deploy = calls[1]
    assert deploy[1:6] == ["--config-file", str(config), "--config-env", "default", "--parameter-overrides"]
    passed = CfnParameterOverridesType().convert(deploy[6:], None, None)
    assert passed["ProjectId"] == "P2A,P2B" and passed["TotpIssuer"] == "Acme Corp"
    for kind in ("signing", "public", "encryption", "management"):
        parameter = {"signing": "SigningKeysSecretArn", "public": "PublicKeysSecretArn",
                     "encryption": "EncryptionKeysSecretArn", "management": "ManagementKeysSecretArn"}[kind]
        assert f":secret:{stack}/{kind}-keys-" in passed[parameter]
    assert re.fullmatch(r"[0-9a-f]{32}", passed["KeysVersion"])
    assert "base URL:   https://api.example.com" in result.stderr
    # The release deployed, as Cargo.toml names it.
    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]
    assert f"totp-lambda {version} is deployed." in result.stderr

    # The management keys: last, one per project, matching the stored hashes.
    tail = result.stderr.rstrip().splitlines()[-2:]
    shown = dict(line.split() for line in tail)
    assert set(shown) == {"P2A", "P2B"}
    client = moto_client("secretsmanager", moto_endpoint)
    stored = json.loads(client.get_secret_value(SecretId=f"{stack}/management-keys")["SecretString"])
    for project, key in shown.items():
        assert stored["projects"][project]["keys"][0]["sha256"] == hashlib.sha256(key.encode()).hexdigest()
        assert key not in result.stdout
    for path in tmp_path.rglob("*"):
        if path.is_file():
            for key in shown.values():
                assert key not in path.read_text(errors="replace"), path

    # A second deploy reuses every secret and shows no key.
    log.unlink()
    client_cf = moto_client("cloudformation", moto_endpoint)
    client_cf.delete_stack(StackName=stack)
    again = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "all present, unchanged" in again.stderr
    assert "Management keys" not in again.stderr
    redeploy = [json.loads(line) for line in log.read_text().splitlines()][1]
    assert CfnParameterOverridesType().convert(redeploy[6:], None, None) == passed


def test_a_failed_deploy_still_shows_the_new_keys(tmp_path: Path, moto_endpoint: str) -> None:
    stack = f"totp-{uuid.uuid4().hex[:8]}"
    config = samconfig(tmp_path, stack, 'ProjectId="P2A"')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sam").write_text(
        "#!/bin/sh\nif [ \"$1\" = deploy ]; then echo 'Error: the changeset failed' >&2; exit 1; fi\n"
    )
    (bin_dir / "rustup").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = local_env(moto_endpoint) | {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SAM": str(bin_dir / "sam"),
        "CONFIG_FILE": str(config),
    }
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode != 0
    assert "the changeset failed" in result.stderr
    lines = result.stderr.rstrip().splitlines()
    assert lines[-1].split()[0] == "P2A" and len(lines[-1].split()[1]) >= 32, lines[-3:]


def test_the_secrets_take_the_customer_managed_key(tmp_path: Path, moto_endpoint: str) -> None:
    """With KmsKeyArn among the overrides, the secrets make deploy creates are
    encrypted with that key; without it, with Secrets Manager's own."""
    env = local_env(moto_endpoint)
    key = moto_client("kms", moto_endpoint).create_key(Description="totp-lambda test")["KeyMetadata"]["Arn"]
    client = moto_client("secretsmanager", moto_endpoint)
    for overrides, expected in [(f'ProjectId="P2A" KmsKeyArn="{key}"', key), ('ProjectId="P2A"', None)]:
        stack = f"totp-{uuid.uuid4().hex[:8]}"
        config = samconfig(tmp_path, stack, overrides)
        result = run("secrets", "--config-file", str(config), env=env)
        assert result.returncode == 0, result.stderr
        created = json.loads(result.stdout)["created"]
        assert len(created) == 4, created
        for name in created:
            assert client.describe_secret(SecretId=name).get("KmsKeyId") == expected, (name, overrides)


def test_a_stack_name_the_hook_cannot_carry_stops_before_anything(tmp_path: Path, moto_endpoint: str) -> None:
    stack = "t" * 50
    config = samconfig(tmp_path, stack, 'ProjectId="P2A"')
    result = run("secrets", "--config-file", str(config), env=local_env(moto_endpoint))
    assert result.returncode != 0
    assert "49 characters" in result.stderr, result.stderr
    names = [s["Name"] for s in moto_client("secretsmanager", moto_endpoint).list_secrets()["SecretList"]]
    assert not any(n.startswith(stack) for n in names)
