"""Deploy tests: template.yaml as `sam deploy` turns it into CloudFormation
(the SAM translator), samconfig.toml as the SAM CLI reads it, and make
deploy's AWS helper (scripts/deploy_aws.py), against moto where it calls AWS.

`make test` (scripts/test.sh) runs pytest here with MOTO_ENDPOINT pointing at
moto's server; the tests that call AWS fail (never skip) without it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

# The SAM translator and boto3 want a region; nothing here reaches AWS.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def deploy_aws():
    """scripts/deploy_aws.py as a module."""
    spec = importlib.util.spec_from_file_location("deploy_aws", ROOT / "scripts" / "deploy_aws.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_aws"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    endpoint = os.environ.get("MOTO_ENDPOINT", "").strip()
    assert endpoint, "MOTO_ENDPOINT must point at moto's server: run the tests with `make test`"
    return endpoint


@pytest.fixture(scope="session")
def template() -> dict:
    """template.yaml, parsed with its short-form intrinsics (as cfn-lint reads it)."""
    from cfnlint.decode import decode_str

    parsed, errors = decode_str((ROOT / "template.yaml").read_text())
    assert not errors, errors
    return json.loads(json.dumps(parsed))


class NoManagedPolicies:
    """The functions' policies are inline statements: SAM looks no managed policy up."""

    def load(self) -> dict:
        return {}


@pytest.fixture(scope="session")
def transformed(template):
    """The CloudFormation that `sam deploy` creates from template.yaml with
    these parameter values (defaults for the others)."""
    from samtranslator.translator.transform import transform

    def run(**parameters: str) -> dict:
        copy = json.loads(json.dumps(template))
        # What `sam package` does to CodeUri: the code as an S3 object.
        copy["Globals"]["Function"]["CodeUri"] = "s3://bucket/totp-lambda.zip"
        return transform(copy, parameters, NoManagedPolicies())

    return run
