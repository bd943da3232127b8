"""The CodeDeploy pre-traffic hook (hooks/pre_traffic.py) without a server: the
events it builds, how it judges answers, which versions it checks, and what it
reports. Lambda is a fake client answering as the functions do; CodeDeploy a
stubbed boto3 client. tests/e2e/test_pre_traffic_hook.py runs it against the
real functions."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
import sys
import time
from types import ModuleType
from typing import Any, Callable

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber

from conftest import ROOT

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
PROJECT = "P2HookUnitProject"
EVENT = {"DeploymentId": "d-UNIT0001", "LifecycleEventHookExecutionId": "hook-execution-1"}
VARIABLES = {
    "signup": "SIGNUP_VERSION",
    "verify": "VERIFY_VERSION",
    "update": "UPDATE_VERSION",
    "keys": "KEYS_VERSION_ARN",
    "sessions": "SESSIONS_VERSION",
    "management": "MANAGEMENT_VERSION",
    "users": "USERS_VERSION",
    "audit": "AUDIT_VERSION",
}
# The contract: each HTTP function's request and the one answer that passes.
HTTP_PROBES = {
    "verify": ("POST", "/v1/auth/totp/verify", 404, "E062108"),
    "signup": ("POST", "/v1/auth/totp/signup", 400, "E011001"),
    "update": ("POST", "/v1/auth/totp/update", 400, "E011001"),
    "sessions": ("POST", "/v1/auth/refresh", 400, "E011001"),
    "management": ("POST", "/v1/mgmt/user/signin/embeddedlink", 401, "E011003"),
    "users": ("POST", "/v1/mgmt/user/create", 401, "E011003"),
}


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pre_traffic", ROOT / "hooks" / "pre_traffic.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["pre_traffic"] = module
    spec.loader.exec_module(module)
    return module


def arn(function: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:stack-{function}:7"


def every_version() -> dict[str, str]:
    return {"PROJECT_ID": PROJECT, **{variable: arn(function) for function, variable in VARIABLES.items()}}


# --------------------------------------------------------------------------
# answers as Lambda's Invoke API returns them
# --------------------------------------------------------------------------


def invoked(answer: Any, function_error: str | None = None) -> dict:
    response: dict = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}
    if function_error:
        response["FunctionError"] = function_error
    return response


def http(status: int, body: Any, *, encoded: bool = False) -> dict:
    """An HTTP API answer as lambda_http writes it."""
    text = json.dumps(body)
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {},
        "body": base64.b64encode(text.encode()).decode() if encoded else text,
        "isBase64Encoded": encoded,
        "cookies": [],
    }


def error_body(code: str) -> dict:
    return {"errorCode": code, "errorDescription": "Some description", "errorMessage": "Some message"}


def healthy(function: str) -> Any:
    """What the function answers to the hook's request when it works."""
    if function == "keys":
        return http(200, {"keys": [{"kid": "k1", "kty": "EC"}]})
    if function == "audit":
        return {"batchItemFailures": []}
    _, _, status, code = HTTP_PROBES[function]
    return http(status, error_body(code))


Answer = dict | Exception


class FakeLambda:
    """Lambda's invoke: each ARN answers with `answers[arn]` (a response, or an
    exception raised), or with the next of a list of them."""

    def __init__(self, answers: dict[str, Answer | list[Answer]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: str) -> dict:
        assert InvocationType == "RequestResponse"
        self.calls.append((FunctionName, json.loads(Payload)))
        answer = self.answers[FunctionName]
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def healthy_lambda(**overrides: Answer | list[Answer]) -> FakeLambda:
    answers: dict[str, Answer | list[Answer]] = {arn(f): invoked(healthy(f)) for f in VARIABLES}
    answers.update({arn(f): answer for f, answer in overrides.items()})
    return FakeLambda(answers)


def sent(fake: FakeLambda, function: str) -> dict:
    (payload,) = [p for target, p in fake.calls if target == arn(function)]
    return payload


# --------------------------------------------------------------------------
# the requests
# --------------------------------------------------------------------------


def test_the_hook_creates_no_client_when_imported(hook) -> None:
    assert not [name for name, value in vars(hook).items() if isinstance(value, BaseClient)]


def test_http_events_have_the_shape_api_gateway_sends(hook) -> None:
    sample = json.loads((ROOT / "events" / "verify-http-api.json").read_text())
    before = int(time.time() * 1000)
    body = json.dumps({"loginId": "a@b.example", "code": "000000"})
    event = hook.http_event("POST", "/v1/auth/totp/verify", bearer=PROJECT, body=body)
    assert set(event) == set(sample)
    assert set(event["requestContext"]) <= set(sample["requestContext"])
    assert set(event["requestContext"]["http"]) == set(sample["requestContext"]["http"])
    assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == (
        "2.0",
        "POST /v1/auth/totp/verify",
        "/v1/auth/totp/verify",
        "",
    )
    assert event["body"] == body and event["isBase64Encoded"] is False
    headers = event["headers"]
    assert all(name == name.lower() for name in headers), headers
    assert headers["authorization"] == f"Bearer {PROJECT}"
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(body))
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/v1/auth/totp/verify",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "codedeploy-pre-traffic-hook",
    }
    assert (context["stage"], context["routeKey"]) == ("$default", "POST /v1/auth/totp/verify")
    assert context["requestId"] and context["domainName"] and context["apiId"]
    assert before <= context["timeEpoch"] <= time.time() * 1000
    # Every request is its own.
    assert hook.http_event("POST", "/x")["requestContext"]["requestId"] != context["requestId"]


def test_the_keys_request_is_unauthenticated_and_names_its_project(hook) -> None:
    sample = json.loads((ROOT / "events" / "keys-http-api.json").read_text())
    fake = healthy_lambda()
    hook.run_checks(fake, every_version())
    event = sent(fake, "keys")
    assert set(event) == set(sample)
    assert "authorization" not in event["headers"] and "body" not in event
    assert (event["requestContext"]["http"]["method"], event["rawPath"]) == ("GET", f"/v2/keys/{PROJECT}")
    assert event["routeKey"] == "GET /v2/keys/{projectId}"
    assert event["pathParameters"] == {"projectId": PROJECT}


def test_each_function_gets_the_contracts_request(hook) -> None:
    fake = healthy_lambda()
    login_id = hook.unknown_login_id()
    hook.run_checks(fake, {**every_version(), "PROJECT_ID": f" {PROJECT} ,P2SecondProject"}, login_id)
    assert [target for target, _ in fake.calls] == [arn(f) for f in hook.VERSION_VARIABLES]
    for function, (method, path, _, _) in HTTP_PROBES.items():
        event = sent(fake, function)
        assert (event["requestContext"]["http"]["method"], event["rawPath"]) == (method, path), function
        # The first project id of the list.
        assert event["headers"]["authorization"] == f"Bearer {PROJECT}", function
        assert event["headers"]["content-type"] == "application/json", function
        if function != "verify":
            assert event["body"] == "{", function
    assert json.loads(sent(fake, "verify")["body"]) == {"loginId": login_id, "code": "000000"}
    assert sent(fake, "audit") == {"Records": []}


def test_the_verify_login_id_is_random_and_cannot_be_a_user(hook) -> None:
    ids = {hook.unknown_login_id() for _ in range(20)}
    assert len(ids) == 20
    for login_id in ids:
        assert re.fullmatch(r"codedeploy-pre-traffic-[0-9a-f]{16}@invalid\.example", login_id), login_id


# --------------------------------------------------------------------------
# judging the answers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("function", list(VARIABLES))
def test_the_healthy_answer_passes(hook, function: str) -> None:
    fake = healthy_lambda()
    (check,) = hook.run_checks(fake, {"PROJECT_ID": PROJECT, VARIABLES[function]: arn(function)})
    assert (check.function, check.target, check.passed) == (function, arn(function), True), check


def test_a_base64_encoded_body_is_read(hook) -> None:
    fake = healthy_lambda(verify=invoked(http(404, error_body("E062108"), encoded=True)))
    (check,) = hook.run_checks(fake, {"PROJECT_ID": PROJECT, "VERIFY_VERSION": arn("verify")})
    assert (check.passed, check.outcome) == (True, "404 E062108")


FAILURES: list[tuple[str, Callable[[], dict | Exception], str]] = [
    ("verify", lambda: invoked(http(500, error_body("E010000"))), "expected 404 E062108, got 500 E010000"),
    ("signup", lambda: invoked(http(503, error_body("E010001"))), "expected 400 E011001, got 503 E010001"),
    ("verify", lambda: invoked(http(200, {"sessionJwt": "x"})), "expected 404 E062108, got 200 without an errorCode"),
    ("verify", lambda: invoked(http(404, {"message": "Not Found"})), "expected 404 E062108, got 404 without"),
    ("verify", lambda: invoked(http(404, {"errorCode": "E062108"})), "404 E062108 without the fields"),
    ("signup", lambda: invoked(http(400, error_body("E011002"))), "expected 400 E011001, got 400 E011002"),
    ("users", lambda: invoked(http(400, error_body("E011001"))), "expected 401 E011003, got 400 E011001"),
    ("update", lambda: invoked(http(400, ["E011001"])), "expected 400 E011001, got 400 without an errorCode"),
    ("sessions", lambda: invoked(healthy("audit")), "not an HTTP API answer"),
    ("sessions", lambda: invoked({"statusCode": "400", "body": "{}"}), "not an HTTP API answer"),
    ("management", lambda: invoked({"statusCode": 401, "body": "<html>"}), "401 with a body that is not JSON"),
    ("verify", lambda: invoked({"errorType": "Runtime.ExitError"}, "Unhandled"), "FunctionError Unhandled"),
    ("keys", lambda: invoked(http(200, {"keys": []})), "200 without a keys list"),
    ("keys", lambda: invoked(http(200, {"jwks": [{}]})), "200 without a keys list"),
    ("keys", lambda: invoked(http(401, error_body("E011003"))), "expected 200, got 401 E011003"),
    ("audit", lambda: invoked({"batchItemFailures": [{"itemIdentifier": "1"}]}), "expected"),
    ("audit", lambda: invoked(http(200, {})), "expected"),
    ("audit", lambda: {"StatusCode": 200, "Payload": io.BytesIO(b"not json")}, "the answer is not JSON"),
    (
        "signup",
        lambda: ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "Invoke"),
        "invoke failed: ClientError ResourceNotFoundException",
    ),
    ("update", lambda: ReadTimeoutError(endpoint_url="x"), "invoke failed: ReadTimeoutError"),
]


@pytest.mark.parametrize(("function", "answer", "outcome"), FAILURES)
def test_a_wrong_answer_fails_its_check(hook, function: str, answer, outcome: str) -> None:
    fake = healthy_lambda(**{function: answer()})
    checks = {c.function: c for c in hook.run_checks(fake, every_version())}
    assert checks[function].passed is False, checks[function]
    assert checks[function].outcome.startswith(outcome), checks[function]
    # The other checks ran, and passed.
    assert all(c.passed for f, c in checks.items() if f != function), checks


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "TooManyRequestsException"}}, "Invoke")


@pytest.mark.parametrize(
    ("answers", "passed", "tries"),
    [
        ([throttled(), throttled(), invoked(healthy("verify"))], True, 3),
        ([throttled(), throttled(), throttled()], False, 3),
        ([ClientError({"Error": {"Code": "ServiceException"}}, "Invoke"), invoked(healthy("verify"))], False, 1),
    ],
)
def test_only_a_throttle_is_tried_again(hook, monkeypatch, answers: list, passed: bool, tries: int) -> None:
    monkeypatch.setattr(hook, "THROTTLE_BACKOFF_SECONDS", (0, 0))
    fake = healthy_lambda(verify=answers)
    (check,) = hook.run_checks(fake, {"PROJECT_ID": PROJECT, "VERIFY_VERSION": arn("verify")})
    assert check.passed is passed, check
    assert len(fake.calls) == tries


# --------------------------------------------------------------------------
# which versions, how long, what is reported
# --------------------------------------------------------------------------


def test_unset_or_empty_variables_are_skipped(hook) -> None:
    fake = healthy_lambda()
    env = {"PROJECT_ID": PROJECT, "VERIFY_VERSION": arn("verify"), "SIGNUP_VERSION": "", "USERS_VERSION": "  "}
    # KEYS_VERSION means something else: it names no version to test.
    env["KEYS_VERSION"] = arn("keys")
    assert [c.function for c in hook.run_checks(fake, env)] == ["verify"]
    assert [target for target, _ in fake.calls] == [arn("verify")]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PROJECT_ID": PROJECT}, "nothing to test"),
        ({"PROJECT_ID": PROJECT, "KEYS_VERSION": arn("keys")}, "nothing to test"),
        ({"VERIFY_VERSION": arn("verify")}, "PROJECT_ID"),
        ({"PROJECT_ID": " , ", "KEYS_VERSION_ARN": arn("keys")}, "PROJECT_ID"),
    ],
)
def test_an_environment_with_nothing_to_test_is_refused(hook, env: dict, message: str) -> None:
    with pytest.raises(hook.ConfigurationError, match=message):
        hook.run_checks(healthy_lambda(), env)


def test_the_audit_check_needs_no_project(hook) -> None:
    (check,) = hook.run_checks(healthy_lambda(), {"AUDIT_VERSION": arn("audit")})
    assert check.passed, check


def test_no_check_starts_once_the_hooks_time_runs_short(hook) -> None:
    fake = healthy_lambda()
    left = iter([59.0, 40.0, 20.0])
    checks = hook.run_checks(fake, every_version(), seconds_left=lambda: next(left, 10.0))
    assert [c.passed for c in checks] == [True, True] + [False] * 6
    assert {c.outcome for c in checks[2:]} == {"not run: the hook's time ran out"}
    assert len(fake.calls) == 2


def test_each_check_logs_one_line_without_a_body(hook, capsys) -> None:
    fake = healthy_lambda(signup=invoked(http(500, error_body("E010000"))))
    hook.run_checks(fake, every_version(), "codedeploy-pre-traffic-0123456789abcdef@invalid.example")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["check"] for line in lines] == list(hook.VERSION_VARIABLES)
    for line in lines:
        assert set(line) == {"check", "target", "passed", "outcome"}
        assert line["target"] == arn(line["check"])
    assert next(line for line in lines if line["check"] == "signup")["passed"] is False
    out = json.dumps(lines)
    for body_text in ("Some message", "Some description", "kty", "codedeploy-pre-traffic-0123"):
        assert body_text not in out


class LambdaContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def report(hook, fake: FakeLambda, status: str, context: Any = None) -> dict:
    """Runs the handler; the stub fails the test unless exactly one report of `status` is sent."""
    codedeploy = boto3.client("codedeploy", **CREDENTIALS)
    with Stubber(codedeploy) as stubber:
        stubber.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"]},
            {
                "deploymentId": EVENT["DeploymentId"],
                "lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"],
                "status": status,
            },
        )
        summary = hook.handler(dict(EVENT), context, lambda_client=fake, codedeploy_client=codedeploy)
        stubber.assert_no_pending_responses()
    assert summary["status"] == status
    return summary


@pytest.fixture()
def deployed(monkeypatch) -> None:
    """The hook's environment as template.yaml sets it."""
    for name, value in every_version().items():
        monkeypatch.setenv(name, value)


def test_every_healthy_version_reports_success(hook, deployed) -> None:
    fake = healthy_lambda()
    summary = report(hook, fake, "Succeeded", LambdaContext(60_000))
    assert set(summary["checks"]) == set(VARIABLES)
    assert all(c["passed"] for c in summary["checks"].values())
    assert json.loads(sent(fake, "verify")["body"])["loginId"] == summary["verifyLoginId"]


@pytest.mark.parametrize("function", list(VARIABLES))
def test_one_failed_check_reports_failure(hook, deployed, function: str) -> None:
    summary = report(hook, healthy_lambda(**{function: invoked(http(502, {"message": "Bad Gateway"}))}), "Failed")
    assert [f for f, c in summary["checks"].items() if not c["passed"]] == [function]


def test_a_hook_that_runs_out_of_time_reports_failure(hook, deployed) -> None:
    summary = report(hook, healthy_lambda(), "Failed", LambdaContext(20_000))
    assert not any(c["passed"] for c in summary["checks"].values())


def test_nothing_to_test_reports_failure(hook, monkeypatch) -> None:
    for variable in VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    fake = healthy_lambda()
    assert report(hook, fake, "Failed")["checks"] == {}
    assert fake.calls == []


def test_a_failed_report_is_raised(hook, deployed) -> None:
    codedeploy = boto3.client("codedeploy", **CREDENTIALS)
    with Stubber(codedeploy) as stubber:
        stubber.add_client_error("put_lifecycle_event_hook_execution_status", "DeploymentDoesNotExistException")
        with pytest.raises(ClientError):
            hook.handler(dict(EVENT), None, lambda_client=healthy_lambda(), codedeploy_client=codedeploy)
        stubber.assert_no_pending_responses()
