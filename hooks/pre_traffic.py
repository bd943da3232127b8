"""CodeDeploy pre-traffic hook: before any traffic reaches a new version of the
functions, each new version answers a request that cannot change a user, and
CodeDeploy is told whether every answer was the expected one. A failure rolls
the deployment back. hooks/README.md lists the requests and the answers.

The environment names the versions to test (qualified ARNs): SIGNUP_VERSION,
VERIFY_VERSION, UPDATE_VERSION, KEYS_VERSION_ARN, SESSIONS_VERSION,
MANAGEMENT_VERSION, USERS_VERSION, AUDIT_VERSION (unset or empty: not tested),
and PROJECT_ID, a served project id (the first of a comma-separated list).

Standard library and boto3 only: the Lambda Python runtime brings both.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# Each function and the variable naming its new version, in the order checked.
# (KEYS_VERSION already means something else to the functions.)
VERSION_VARIABLES = {
    "keys": "KEYS_VERSION_ARN",
    "verify": "VERIFY_VERSION",
    "signup": "SIGNUP_VERSION",
    "update": "UPDATE_VERSION",
    "sessions": "SESSIONS_VERSION",
    "management": "MANAGEMENT_VERSION",
    "users": "USERS_VERSION",
    "audit": "AUDIT_VERSION",
}

# Not a JSON object: every route that reads a body refuses it before anything is read or written.
MALFORMED_BODY = "{"
# A route for each function that gets the malformed body, and its answer: the
# auth routes check `Bearer <projectId>` and then the body (400 E011001); the
# management routes check the management key first, which the hook does not
# hold (401 E011003).
MALFORMED_BODY_ROUTES = {
    "signup": ("/v1/auth/totp/signup", 400, "E011001"),
    "update": ("/v1/auth/totp/update", 400, "E011001"),
    "sessions": ("/v1/auth/refresh", 400, "E011001"),
    "management": ("/v1/mgmt/user/signin/embeddedlink", 401, "E011003"),
    "users": ("/v1/mgmt/user/create", 401, "E011003"),
}
# An unknown user: verify answers before it writes anything.
USER_NOT_FOUND = (404, "E062108")
ERROR_FIELDS = ("errorCode", "errorDescription", "errorMessage")

USER_AGENT = "codedeploy-pre-traffic-hook"
API_ID = "pretraffic"
DOMAIN_NAME = "pretraffic.execute-api.invalid"

# The functions time out after 10 s, and a cold start may take as long again:
# an answer later than that is a failure. botocore retries nothing, so that one
# invoke's time is bounded; only a throttle is tried again (`invoke`).
LAMBDA_CONFIG = Config(connect_timeout=3, read_timeout=20, retries={"total_max_attempts": 1})
# Waits before each new try of a throttled invoke: a stack update runs this hook
# for every function at once, which a small account's concurrency may not take.
THROTTLE_BACKOFF_SECONDS = (1, 2)
# A check is started only while this much of the hook's own time is left: one
# invoke (throttle waits included) and the report still fit, so CodeDeploy always
# hears the outcome instead of waiting an hour for a hook that timed out.
RESERVE_SECONDS = 30


class WrongAnswer(Exception):
    """The function answered, but not what a healthy version answers."""


class ConfigurationError(Exception):
    """The hook's environment names no version to test, or no project for the HTTP requests."""


@dataclass(frozen=True)
class Probe:
    """One request to one function, and what its answer must be."""

    function: str
    payload: dict
    # Raises WrongAnswer, else says in a few words what the answer was.
    expect: Callable[[Any], str]


@dataclass(frozen=True)
class Check:
    """The outcome of one probe: `outcome` holds a status and an errorCode, never a body."""

    function: str
    target: str
    passed: bool
    outcome: str


def unknown_login_id() -> str:
    """A loginId no user has: random, at a domain that cannot exist (RFC 2606)."""
    return f"codedeploy-pre-traffic-{secrets.token_hex(8)}@invalid.example"


def http_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    bearer: str | None = None,
    body: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict:
    """An API Gateway HTTP API (payload 2.0) event, as API Gateway sends it to the functions."""
    now = time.time()
    route_key = route_key or f"{method} {path}"
    headers = {
        "accept": "application/json",
        "host": DOMAIN_NAME,
        "user-agent": USER_AGENT,
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if bearer is not None:
        headers["authorization"] = f"Bearer {bearer}"
    if body is not None:
        headers["content-type"] = "application/json"
        headers["content-length"] = str(len(body.encode()))
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "apiId": API_ID,
            "domainName": DOMAIN_NAME,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": USER_AGENT,
            },
            "requestId": f"pretraffic-{secrets.token_hex(8)}",
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
    return event


def http_answer(answer: Any) -> tuple[int, Any]:
    """The status and the JSON body of a function's HTTP API answer."""
    if not isinstance(answer, dict) or type(answer.get("statusCode")) is not int:
        raise WrongAnswer("not an HTTP API answer")
    status = answer["statusCode"]
    raw = answer.get("body") or ""
    if not isinstance(raw, str):
        raise WrongAnswer(f"{status} with a body that is not text")
    if answer.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    try:
        return status, json.loads(raw)
    except ValueError:
        raise WrongAnswer(f"{status} with a body that is not JSON") from None


def expect_error(status: int, error_code: str) -> Callable[[Any], str]:
    """The answer must be `status` with a Descope-shaped error body of `error_code`."""

    def expect(answer: Any) -> str:
        got_status, body = http_answer(answer)
        got_code = body.get("errorCode") if isinstance(body, dict) else None
        got = f"{got_status} {got_code if isinstance(got_code, str) else 'without an errorCode'}"
        if (got_status, got_code) != (status, error_code):
            raise WrongAnswer(f"expected {status} {error_code}, got {got}")
        if not all(isinstance(body.get(field), str) and body[field] for field in ERROR_FIELDS):
            raise WrongAnswer(f"{got} without the fields {', '.join(ERROR_FIELDS)}")
        return got

    return expect


def expect_jwks(answer: Any) -> str:
    """The answer must be 200 with a non-empty `keys` list."""
    status, body = http_answer(answer)
    if status != 200:
        code = body.get("errorCode") if isinstance(body, dict) else None
        raise WrongAnswer(f"expected 200, got {status} {code or 'without an errorCode'}")
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not keys:
        raise WrongAnswer("200 without a keys list")
    return f"200 with {len(keys)} key(s)"


def expect_no_batch_item_failures(answer: Any) -> str:
    """The audit function's answer to an empty batch: nothing failed."""
    if answer != {"batchItemFailures": []}:
        raise WrongAnswer("expected {\"batchItemFailures\": []}")
    return "no batch item failures"


def probes(project_id: str, login_id: str) -> dict[str, Probe]:
    """The probe of each function, by function name."""
    every = {
        "keys": Probe(
            "keys",
            http_event(
                "GET",
                f"/v2/keys/{project_id}",
                route_key="GET /v2/keys/{projectId}",
                path_parameters={"projectId": project_id},
            ),
            expect_jwks,
        ),
        "verify": Probe(
            "verify",
            http_event(
                "POST",
                "/v1/auth/totp/verify",
                bearer=project_id,
                body=json.dumps({"loginId": login_id, "code": "000000"}),
            ),
            expect_error(*USER_NOT_FOUND),
        ),
        "audit": Probe("audit", {"Records": []}, expect_no_batch_item_failures),
    }
    for function, (path, status, error_code) in MALFORMED_BODY_ROUTES.items():
        event = http_event("POST", path, bearer=project_id, body=MALFORMED_BODY)
        every[function] = Probe(function, event, expect_error(status, error_code))
    return every


def judge(response: dict, expect: Callable[[Any], str]) -> tuple[bool, str]:
    """Whether one invoke's response is what a healthy version answers, and what it was in a few words."""
    if response.get("FunctionError"):
        return False, f"FunctionError {response['FunctionError']}"
    payload = response.get("Payload")
    try:
        answer = json.loads(payload.read() if payload else b"")
    except ValueError:
        return False, "the answer is not JSON"
    try:
        return True, expect(answer)
    except WrongAnswer as wrong:
        return False, str(wrong)


def invoke(lambda_client: Any, target: str, payload: dict) -> dict:
    """One synchronous invoke, tried again only while Lambda throttles it."""

    def once() -> dict:
        return lambda_client.invoke(FunctionName=target, InvocationType="RequestResponse", Payload=json.dumps(payload))

    for backoff in THROTTLE_BACKOFF_SECONDS:
        try:
            return once()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TooManyRequestsException":
                raise
        time.sleep(backoff)
    return once()


def invoke_error(error: Exception) -> str:
    """What failed: the exception's type and AWS error code, not its message (it may quote what was sent)."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"invoke failed: {type(error).__name__}{f' {code}' if code else ''}"


def run_checks(
    lambda_client: Any,
    env: Mapping[str, str],
    login_id: str | None = None,
    seconds_left: Callable[[], float] | None = None,
) -> list[Check]:
    """Invokes each configured new version once, one after the other (a stack
    update runs this hook once per function at the same time: the account's
    concurrency is better spent on the functions than on parallel probes)."""
    targets = {f: env.get(v, "").strip() for f, v in VERSION_VARIABLES.items() if env.get(v, "").strip()}
    if not targets:
        raise ConfigurationError(f"none of {', '.join(VERSION_VARIABLES.values())} is set: nothing to test")
    project_id = env.get("PROJECT_ID", "").split(",")[0].strip()
    if not project_id and any(function != "audit" for function in targets):
        raise ConfigurationError("PROJECT_ID is not set: the HTTP requests need a served project id")
    every = probes(project_id, login_id or unknown_login_id())
    checks = []
    for function, target in targets.items():
        probe = every[function]
        if seconds_left is not None and seconds_left() < RESERVE_SECONDS:
            check = Check(function, target, False, "not run: the hook's time ran out")
        else:
            try:
                # Both inside the try: the answer is streamed, and reading it can fail too.
                check = Check(function, target, *judge(invoke(lambda_client, target, probe.payload), probe.expect))
            except Exception as error:  # no answer fails the check, and only this one
                check = Check(function, target, False, invoke_error(error))
        print(json.dumps({"check": function, "target": target, "passed": check.passed, "outcome": check.outcome}))
        checks.append(check)
    return checks


def handler(event: dict, context: Any, lambda_client: Any = None, codedeploy_client: Any = None) -> dict:
    """CodeDeploy's BeforeAllowTraffic hook: run the checks, report Succeeded or Failed."""
    deployment_id = event["DeploymentId"]
    hook_execution_id = event["LifecycleEventHookExecutionId"]
    login_id = unknown_login_id()
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    seconds_left = (lambda: remaining_ms() / 1000) if remaining_ms else None
    try:
        lambda_client = lambda_client or boto3.client("lambda", config=LAMBDA_CONFIG)
        checks = run_checks(lambda_client, os.environ, login_id, seconds_left)
    except Exception:  # a setting or a bug of the hook: fail now, not after CodeDeploy's hour-long wait
        traceback.print_exc()
        checks = []
    status = "Succeeded" if checks and all(c.passed for c in checks) else "Failed"
    # Not caught: a report that fails leaves CodeDeploy to time the hook out and roll back.
    (codedeploy_client or boto3.client("codedeploy")).put_lifecycle_event_hook_execution_status(
        deploymentId=deployment_id, lifecycleEventHookExecutionId=hook_execution_id, status=status
    )
    print(json.dumps({"deploymentId": deployment_id, "status": status}))
    return {
        "status": status,
        "checks": {c.function: {"passed": c.passed, "outcome": c.outcome} for c in checks},
        "verifyLoginId": login_id,
    }
