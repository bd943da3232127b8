"""Property-based tests of the running server against openapi.yaml, with Schemathesis.

Schemathesis reads every operation of the spec (the CORS preflights included)
and sends it generated requests: the spec's examples, the
boundary and near-boundary values of every schema (its coverage phase), and
random ones, both valid and invalid (positive and negative generation). Each
answer must:

- not be a 5xx (`not_a_server_error`),
- have a status the operation documents (`status_code_conformance`),
- have the documented content type (`content_type_conformance`),
- have a body and headers that match the documented schemas
  (`response_schema_conformance`, `response_headers_conformance`),

along with the other checks Schemathesis runs by default (invalid requests
refused with a 4xx, valid ones not refused as invalid, an absent credential
or required header refused, methods the spec does not document for a path
answered 405 with `Allow`).

Credentials: the requests carry what each operation's security scheme asks for,
`Bearer <projectId>` (projectBearer), `Bearer <projectId>:<managementKey>`
(managementBearer), or `Bearer <projectId>:<refreshJwt>` (refreshBearer) with a
live refresh JWT of a user signed up and signed in for that operation alone,
so the generated inputs get past 401 (the negative cases still drop or spoil
the credential now and then).

The run is bounded and deterministic: a fixed number of random examples per
operation and a fixed seed, both overridable:

  TOTP_SCHEMATHESIS_MAX_EXAMPLES  random examples per operation (default 100)
  TOTP_SCHEMATHESIS_SEED          the seed (default 20251101)

`make fuzz-api` runs this file with many examples and a new seed it prints.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
import schemathesis

from e2e_support import (
    HTTP_TIMEOUT,
    Api,
    assert_error,
    code_at,
    is_emulator_fault,
    new_login_id,
    step_now,
)

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
# Hypothesis keeps caches on disk (no examples: the database is off); .dev is the
# repository's ignored scratch directory.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(SPEC_PATH.parent / ".dev" / "hypothesis"))
DEFAULT_MAX_EXAMPLES = 100
DEFAULT_SEED = 20251101
EMULATOR_RETRIES = 3


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw else default


BASE_URL = _env("TOTP_BASE_URL").rstrip("/") or "http://127.0.0.1:9"  # unset: conftest fails every test
PROJECT_ID = _env("TOTP_PROJECT_ID")
MAX_EXAMPLES = _env_int("TOTP_SCHEMATHESIS_MAX_EXAMPLES", DEFAULT_MAX_EXAMPLES)
SEED = _env_int("TOTP_SCHEMATHESIS_SEED", DEFAULT_SEED)
# A registered user the generator names now and then (besides the loginIds it makes up),
# so that support's routes find a user, signup meets one (409) and update its own.
KNOWN_LOGIN_ID = new_login_id()

config = schemathesis.Config.from_dict(
    {
        "base-url": BASE_URL,
        "seed": SEED,
        "request-timeout": HTTP_TIMEOUT,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            # Nothing learnt from one run steers the next: the same seed, the same requests.
            "database": "none",
        },
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
        "dictionaries": {
            "served-projects": {"values": [PROJECT_ID or "P2Unset"]},
            "known-users": {"values": [KNOWN_LOGIN_ID]},
        },
        "parameters": {
            "path.projectId": {"dictionary": "served-projects", "probability": 0.5},
            "query.loginId": {"dictionary": "known-users", "probability": 0.3},
            "body.loginId": {"dictionary": "known-users", "probability": 0.3},
        },
        "operations": [
            {
                # An OPTIONS without `Origin` or `Access-Control-Request-Method` is no
                # preflight but a method the route does not take: 405, as documented.
                "include-method": "OPTIONS",
                "checks": {"missing_required_header": {"expected-statuses": [405]}},
            }
        ],
    }
)
schema = schemathesis.openapi.from_path(SPEC_PATH, config=config)


@schema.hook
def map_case(context, case):
    """GET /v1/mgmt/user takes exactly one of `loginId` and `userId`, which OpenAPI
    cannot say (both are optional parameters): a case with neither asks for the
    known user, one with both keeps the userId (the server reads only `loginId`
    when both come, so an invalid userId beside it would go unnoticed)."""
    if case.operation.label != "GET /v1/mgmt/user":
        return case
    query = dict(case.query or {})
    if "loginId" in query and "userId" in query:
        del query["loginId"]
    elif "loginId" not in query and "userId" not in query:
        query["loginId"] = KNOWN_LOGIN_ID
    case.query = query
    return case

# Operation label -> the refresh JWT its requests carry (filled by the `signed_in` fixture).
REFRESH_JWTS: dict[str, str] = {}
# (operation, status) -> how many answers, for the last test.
ANSWERS: Counter[tuple[str, int]] = Counter()


def security_scheme(operation) -> str | None:
    """The operation's first security scheme (the one its requests use), if any."""
    requirements = operation.definition.raw.get("security", [])
    return next((name for requirement in requirements for name in requirement), None)


class Credentials:
    """The Authorization each operation's security scheme asks for (see the module docstring)."""

    def get(self, case, context) -> str | None:
        scheme = security_scheme(case.operation)
        if scheme is None or not PROJECT_ID:
            return None
        if scheme == "managementBearer":
            return f"{PROJECT_ID}:{_env('TOTP_MANAGEMENT_KEY')}"
        if scheme == "refreshBearer":
            return f"{PROJECT_ID}:{REFRESH_JWTS.get(case.operation.label, '')}"
        return PROJECT_ID

    def set(self, case, data: str, context) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


# No caching by Schemathesis: the credential depends on the operation.
schema.auth(refresh_interval=None)(Credentials)


def sign_up_and_in(api: Api, login_id: str) -> str:
    """Registers `login_id`; returns its refresh JWT."""
    signup = api.signup(login_id)
    assert signup.status_code == 200, signup.text
    # A new user: a code of the current step is accepted once.
    verify = api.verify(login_id, code_at(signup.json()["key"], step_now()))
    assert verify.status_code == 200, verify.text
    return verify.json()["refreshJwt"]


@pytest.fixture(scope="module", autouse=True)
def signed_in(settings):
    """The known user, and a live refresh JWT for every operation that takes one: update
    gets the known user's, each other one a user of its own, so that logout or logoutall
    revoking theirs leaves the others signed in."""
    api = Api(settings)
    for result in schema.get_all_operations():
        operation = result.ok()
        if security_scheme(operation) == "refreshBearer":
            login_id = KNOWN_LOGIN_ID if operation.label == "POST /v1/auth/totp/update" else new_login_id()
            REFRESH_JWTS[operation.label] = sign_up_and_in(api, login_id)
    assert REFRESH_JWTS, "openapi.yaml has no refreshBearer operation"


def _not_utf8(body) -> bool:
    """Whether `body` is bytes that are not UTF-8 (negative generation makes such bodies)."""
    if not isinstance(body, bytes):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@schema.parametrize()
def test_api_conforms_to_openapi_yaml(case):
    headers = None
    if _not_utf8(case.body) and case.media_type == "application/json":
        # `cargo lambda watch` answers a JSON (or text) body that is not UTF-8 with a 500
        # of its own, before any function runs (the emulator, not the service). It hands
        # other bodies to the function base64-encoded, and the service reads a body as
        # JSON whatever its Content-Type says: this way the function gets these bytes.
        headers = {"Content-Type": "application/octet-stream"}
    response = case.call(headers=headers)
    # The emulator's own 500 (e2e_support.is_emulator_fault) is not the service's
    # answer: the request is sent again, a few times at most.
    for _ in range(EMULATOR_RETRIES):
        content_type = next(iter(response.headers.get("content-type", [])), None)
        if not is_emulator_fault(response.status_code, content_type, response.content):
            break
        response = case.call(headers=headers)
    case.validate_response(response)
    ANSWERS[(case.operation.label, response.status_code)] += 1


@pytest.mark.parametrize("path", ["/v1/auth/totp/signup", "/v1/auth/refresh", "/v1/mgmt/user/delete"])
def test_a_body_that_is_not_utf8_is_refused(settings, path):
    """What the Schemathesis test relies on for bodies that are not UTF-8: the function
    gets them (base64-encoded, as `application/octet-stream`) and refuses them with 400."""
    api = Api(settings)
    bearer = api.bearer(settings.management_key) if path.startswith("/v1/mgmt/") else api.bearer()
    headers = {**bearer, "Content-Type": "application/octet-stream"}
    resp = api.request("POST", path, data=b'{"loginId": "\xff\xfe"}', headers=headers)
    assert_error(resp, 400, "E011001")


def test_generated_requests_get_past_authorization():
    """The credentials work: every operation that takes one got answers other than 401,
    and each that a live refresh JWT opens answered 200 at least once. Prints what each
    operation answered (pytest -s, or make fuzz-api)."""
    if not ANSWERS:
        pytest.skip("the Schemathesis test did not run")
    operations = sorted({label for label, _ in ANSWERS})
    print("\nstatuses answered per operation:")
    for label in operations:
        tally = ", ".join(f"{status}: {n}" for (op, status), n in sorted(ANSWERS.items()) if op == label)
        print(f"  {label:38} {tally}")
    for label in operations:
        statuses = {status for op, status in ANSWERS if op == label}
        if not label.startswith("OPTIONS "):
            assert statuses - {401}, f"{label}: only 401"
    signed_in_routes = {"POST /v1/auth/refresh", "GET /v1/auth/me", "POST /v1/auth/logout", "POST /v1/auth/logoutall"}
    for label in sorted(signed_in_routes & set(operations)):
        assert 200 in {status for op, status in ANSWERS if op == label}, f"{label}: never 200"
