"""The CodeDeploy pre-traffic hook (hooks/pre_traffic.py) against the running
functions: `cargo lambda watch` also serves Lambda's Invoke API, so the hook's
lambda client invokes the real functions by their binary names where a
deployment gives it the ARNs of the new versions. CodeDeploy is a stubbed
boto3 client that expects exactly one report. tests/deploy/test_pre_traffic_hook_unit.py
covers the event builder and the classification of answers without a server.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from e2e_support import Api, Settings, assert_error

HOOK = Path(__file__).resolve().parents[2] / "hooks" / "pre_traffic.py"
FUNCTIONS = ("signup", "verify", "update", "keys", "sessions", "management", "users", "audit")
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
# A deployment is its own check: no retry that could hide a refused invoke, and
# time for a function that `cargo lambda watch` starts on its first request.
INVOKE_CONFIG = Config(connect_timeout=10, read_timeout=120, retries={"total_max_attempts": 1})


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pre_traffic", HOOK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["pre_traffic"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def lambda_client(settings: Settings):
    return boto3.client("lambda", endpoint_url=settings.base_url, config=INVOKE_CONFIG, **CREDENTIALS)


@pytest.fixture()
def new_versions(hook: ModuleType, settings: Settings, monkeypatch) -> None:
    """The hook's environment as a deployment sets it, every function's "new
    version" being the function served here; tests change entries with monkeypatch."""
    monkeypatch.setenv("PROJECT_ID", settings.project_id)
    for function, variable in hook.VERSION_VARIABLES.items():
        monkeypatch.setenv(variable, function)


def run_hook(hook: ModuleType, lambda_client, expected_status: str) -> dict:
    """Runs the handler as CodeDeploy would; the stub fails the test unless the
    hook reports `expected_status` exactly once, for this deployment's hook execution."""
    event = {"DeploymentId": "d-PRETRAFFIC01", "LifecycleEventHookExecutionId": str(uuid.uuid4())}
    codedeploy = boto3.client("codedeploy", **CREDENTIALS)
    with Stubber(codedeploy) as stubber:
        stubber.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": event["LifecycleEventHookExecutionId"]},
            {
                "deploymentId": event["DeploymentId"],
                "lifecycleEventHookExecutionId": event["LifecycleEventHookExecutionId"],
                "status": expected_status,
            },
        )
        summary = hook.handler(event, None, lambda_client=lambda_client, codedeploy_client=codedeploy)
        stubber.assert_no_pending_responses()
    assert summary["status"] == expected_status, summary
    return summary


def test_every_new_version_answers_as_expected_and_the_hook_reports_success(
    hook, lambda_client, new_versions, capsys
) -> None:
    summary = run_hook(hook, lambda_client, "Succeeded")
    checks = summary["checks"]
    assert set(checks) == set(FUNCTIONS)
    assert all(check["passed"] for check in checks.values()), checks
    assert checks["keys"]["outcome"].startswith("200 with "), checks
    assert {f: c["outcome"] for f, c in checks.items() if f != "keys"} == {
        "verify": "404 E062108",
        "signup": "400 E011001",
        "update": "400 E011001",
        "sessions": "400 E011001",
        "management": "401 E011003",
        "users": "401 E011003",
        "audit": "no batch item failures",
    }
    # One line per function and one for the report; no answer's body.
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(FUNCTIONS) + 1, lines
    for function in FUNCTIONS:
        assert sum(f'"check": "{function}"' in line for line in lines) == 1, (function, lines)
    for body_text in ("Cannot find user", "errorMessage", "The request body must", "kty"):
        assert not any(body_text in line for line in lines), (body_text, lines)


def test_a_subset_of_versions_is_tested_alone(hook, lambda_client, new_versions, monkeypatch) -> None:
    for function in ("signup", "update", "sessions", "management", "users"):
        monkeypatch.setenv(hook.VERSION_VARIABLES[function], "")
    monkeypatch.delenv("AUDIT_VERSION")
    summary = run_hook(hook, lambda_client, "Succeeded")
    assert set(summary["checks"]) == {"keys", "verify"}


@pytest.mark.parametrize(
    ("variable", "target", "function", "outcome"),
    [
        # Another function's answer: the wrong status and errorCode for verify's request.
        ("VERIFY_VERSION", "keys", "verify", "expected 404 E062108, got 405 E011001"),
        # The stream consumer's answer where an HTTP answer belongs.
        ("KEYS_VERSION_ARN", "audit", "keys", "not an HTTP API answer"),
        # No such version: the invoke fails, and the failure is reported, not raised.
        ("SIGNUP_VERSION", "nosuchfunction", "signup", "invoke failed: ClientError"),
    ],
)
def test_a_broken_version_fails_the_deployment(
    hook, lambda_client, new_versions, monkeypatch, variable, target, function, outcome
) -> None:
    monkeypatch.setenv(variable, target)
    summary = run_hook(hook, lambda_client, "Failed")
    check = summary["checks"][function]
    assert check["passed"] is False, check
    assert check["outcome"].startswith(outcome), check
    # The other versions were still checked, and passed.
    others = {f: c["passed"] for f, c in summary["checks"].items() if f != function}
    assert others == {f: True for f in FUNCTIONS if f != function}


def test_the_verify_probe_writes_nothing(
    hook, lambda_client, new_versions, monkeypatch, api: Api, settings: Settings, management_key: str
) -> None:
    for function in FUNCTIONS:
        if function != "verify":
            monkeypatch.delenv(hook.VERSION_VARIABLES[function])
    summary = run_hook(hook, lambda_client, "Succeeded")
    login_id = summary["verifyLoginId"]
    assert login_id.startswith("codedeploy-pre-traffic-") and login_id.endswith("@invalid.example"), login_id
    # No user, pending or registered, exists under the probe's loginId.
    resp = api.request(
        "GET",
        "/v1/mgmt/user",
        params={"loginId": login_id},
        headers={"Authorization": f"Bearer {settings.project_id}:{management_key}"},
    )
    assert_error(resp, 404, "E062108")
