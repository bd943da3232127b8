"""openapi.yaml against the running server: every request and response of a full
flow (and of a few refusals) validated with openapi-core, a ready-made OpenAPI 3.1
validator, and proof that the validation runs: altered copies of real answers
are refused.

openapi-core checks the document itself when it loads it (openapi-spec-validator),
then, for each exchange, finds the operation by path and method and validates the
response (status documented, headers, content type, body schema) and the request
(security scheme, parameters, body schema).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import uuid
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockResponse
from openapi_core.validation.response.exceptions import InvalidData, InvalidHeader, MissingRequiredHeader
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from e2e_support import Api, ReplayClock, code_at, new_login_id, wrong_code

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

SIGNUP = "/v1/auth/totp/signup"
VERIFY = "/v1/auth/totp/verify"
UPDATE = "/v1/auth/totp/update"
REFRESH = "/v1/auth/refresh"
LOGOUT = "/v1/auth/logout"
LOGOUT_ALL = "/v1/auth/logoutall"
ME = "/v1/auth/me"
MGMT_REMOVE_TOTP = "/v1/mgmt/user/totp/delete"
MGMT_DELETE = "/v1/mgmt/user/delete"
MGMT_LOAD = "/v1/mgmt/user"
MGMT_LOGOUT = "/v1/mgmt/user/logout"
MGMT_LINK = "/v1/mgmt/user/signin/embeddedlink"
MGMT_RECOVERY_DELETE = "/v1/mgmt/user/recovery-codes/delete"
MAGIC_LINK = "/v1/auth/magiclink/verify"
TRY_REFRESH = "/v1/auth/try-refresh"
MGMT_CREATE = "/v1/mgmt/user/create"
MGMT_CREATE_BATCH = "/v1/mgmt/user/create/batch"
MGMT_DELETE_BATCH = "/v1/mgmt/user/delete/batch"
MGMT_STATUS = "/v1/mgmt/user/update/status"
MGMT_SEARCH = "/v2/mgmt/user/search"
AUDIT_SEARCH = "/v1/mgmt/audit/search"


def spec_document() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text())


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    # Loading validates the document against the OpenAPI 3.1 schema (openapi-spec-validator).
    return OpenAPI.from_file_path(str(SPEC_PATH))


def path_template(document: dict, path: str) -> str:
    """The one path template of the spec that `path` matches."""
    matches = [
        template
        for template in document["paths"]
        if re.match("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$", path)
    ]
    assert len(matches) == 1, f"{path} matches {matches} in openapi.yaml"
    return matches[0]


def operations(document: dict) -> dict[tuple[str, str], str]:
    """(METHOD, path template) -> operationId of every named operation of the spec."""
    return {
        (method.upper(), path): op["operationId"]
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS and "operationId" in op
    }


class Checked:
    """Sends nothing itself: validates what `Api` exchanged with the server.

    `check(resp)` validates the response (always) and the request: a request the
    test sends on purpose against the spec (bad JSON, a missing loginId, another
    auth scheme) must be refused by the request validator, any other must pass.
    Every (method, path template, status) seen is recorded.
    """

    def __init__(self, openapi: OpenAPI, document: dict):
        self.openapi = openapi
        self.document = document
        self.seen: set[tuple[str, str, int]] = set()

    def template_of(self, path: str) -> str:
        return path_template(self.document, path)

    def __call__(
        self,
        resp: requests.Response,
        status: int,
        code: str | None = None,
        *,
        request_conforms: bool = True,
    ) -> requests.Response:
        request = RequestsOpenAPIRequest(resp.request)
        exchange = f"{resp.request.method} {resp.request.path_url} -> {resp.status_code} {resp.text[:300]}"
        assert resp.status_code == status, exchange
        if code is not None:
            assert resp.json()["errorCode"] == code, exchange
        errors = list(self.openapi.iter_response_errors(request, RequestsOpenAPIResponse(resp)))
        assert not errors, f"response does not conform to openapi.yaml: {exchange}: {describe(errors)}"
        request_errors = list(self.openapi.iter_request_errors(request))
        if request_conforms:
            assert not request_errors, f"request does not conform to openapi.yaml: {exchange}: {describe(request_errors)}"
        else:
            assert request_errors, f"openapi.yaml accepts a request it should refuse: {exchange}"
        path = resp.request.path_url.split("?", 1)[0]
        self.seen.add((resp.request.method, self.template_of(path), resp.status_code))
        return resp


def describe(errors: list[Exception]) -> str:
    """An error and its causes (openapi-core wraps the schema errors)."""
    parts = []
    for error in errors:
        parts.append(repr(error))
        cause = error.__cause__
        while cause is not None:
            parts.append(f"  caused by {cause!r}")
            for schema_error in getattr(cause, "schema_errors", ()) or ():
                parts.append(f"    {schema_error.message} at {list(schema_error.absolute_path)}")
            cause = cause.__cause__
    return "\n".join(parts)


@pytest.fixture(scope="module")
def checked(openapi: OpenAPI) -> Checked:
    return Checked(openapi, spec_document())


def not_a_method(resp: requests.Response) -> None:
    """A method the spec does not document for the path: 405 with `Allow` naming exactly
    the path's documented method (OPTIONS, the CORS preflight, aside) and, but for HEAD,
    the E011001 body of the spec's error schema."""
    document = spec_document()
    method = resp.request.method
    exchange = f"{method} {resp.request.path_url} -> {resp.status_code} {resp.text[:300]}"
    path = path_template(document, resp.request.path_url.split("?", 1)[0])
    documented = {m.upper() for m in document["paths"][path] if m in HTTP_METHODS} - {"OPTIONS"}
    assert method not in documented, f"{method} {path} is an operation of openapi.yaml"
    assert resp.status_code == 405, exchange
    assert set(resp.headers.get("Allow", "").replace(" ", "").split(",")) == documented, exchange
    assert resp.headers.get("Cache-Control") == "no-store", exchange
    if method == "HEAD":
        assert resp.content == b"", exchange
        return
    assert resp.headers.get("Content-Type", "").split(";")[0] == "application/json", exchange
    error_schema = {"$ref": "#/components/schemas/ErrorE011001", "components": document["components"]}
    jsonschema.validate(resp.json(), error_schema, cls=jsonschema.Draft202012Validator)


def management_bearer(project_id: str, key: str) -> dict:
    return {"Authorization": f"Bearer {project_id}:{key}"}


def new_seed() -> str:
    """A key as another system's authenticator holds it: 160 random bits, base32."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


# --------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(openapi):
    assert spec_document()["openapi"].startswith("3.1.")
    assert str(openapi.version) == "OpenAPIV3.1"


def test_a_broken_document_is_refused():
    """The document check runs: a response without its required description is refused."""
    broken = spec_document()
    del broken["paths"][SIGNUP]["post"]["responses"]["200"]["description"]
    # Quoted '…' by jsonschema, "…" by jsonschema-rs, which openapi-spec-validator uses when
    # it is installed (schemathesis brings it).
    with pytest.raises(OpenAPIValidationError, match="""["']description["'] is a required property"""):
        OpenAPI.from_dict(broken)


def test_every_route_of_cargo_toml_is_in_the_spec():
    """The router of `cargo lambda watch` (Cargo.toml) serves exactly the spec's paths."""
    cargo = (SPEC_PATH.parent / "Cargo.toml").read_text()
    router = cargo.split("[package.metadata.lambda.watch.router]", 1)[1].split("\n[", 1)[0]
    routes = set(re.findall(r'^"([^"]+)"\s*=', router, re.M))
    assert routes == set(spec_document()["paths"])


def test_every_operation_is_a_method_the_route_takes():
    """Only methods a route takes are operations: each answers 200 (or 204, the preflight).
    The 405 for every other method is described in the API's description and checked by
    `not_a_method` here and Schemathesis's unsupported-method check, not listed as
    operations (which would claim the methods are supported, against `Allow`)."""
    for path, item in spec_document()["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                success = {"204"} if method == "options" else {"200"}
                assert success <= set(operation["responses"]), f"{method.upper()} {path} answers no success"


def test_every_error_code_of_the_service_is_in_the_spec():
    """src/error.rs maps every error to its code: the spec's enumeration names them all."""
    error_rs = (SPEC_PATH.parent / "src" / "error.rs").read_text()
    mapping = error_rs.split("pub fn reply", 1)[1].split("#[cfg(test)]", 1)[0]
    codes = set(re.findall(r'"(E\d{6})"', mapping))
    assert codes and codes == set(spec_document()["components"]["schemas"]["Error"]["properties"]["errorCode"]["enum"])


# --------------------------------------------------------------------------
# A full flow: every exchange validated
# --------------------------------------------------------------------------


def test_full_flow_conforms(api: Api, settings, management_key, checked: Checked):
    pid = settings.project_id
    login_id = new_login_id()
    clock = ReplayClock()

    # Sign up, then a wrong code, then the first sign-in.
    user = {"name": "Ada", "email": login_id, "phone": "+44 20 7946 0958", "loginId": "ignored"}
    key = checked(api.post_json(SIGNUP, {"loginId": login_id, "user": user, "ssoAppId": "app-1"}), 200).json()["key"]
    checked(api.verify(login_id, wrong_code(key)), 401, "E061102")
    step = clock.fresh_step()
    first = checked(api.verify(login_id, code_at(key, step), {"customClaims": None}), 200).json()
    clock.accepted(step)
    assert first["firstSeen"] is True and first["user"]["ssoAppIds"] == ["app-1"]
    checked(api.signup(login_id), 409, "E062107")

    # A new key, confirmed by its first code.
    new_key = checked(api.update(login_id, first["refreshJwt"]), 200).json()["key"]
    step = clock.fresh_step()
    second = checked(api.verify(login_id, code_at(new_key, step), {}), 200).json()
    clock.accepted(step)
    assert second["firstSeen"] is False
    # Confirming it revoked the first session.
    checked(api.refresh(first["refreshJwt"]), 401, "E064001")

    # A step-up with the live refresh JWT and custom claims; the other sessions stay.
    step = clock.fresh_step()
    third = checked(
        api.verify(
            login_id,
            code_at(new_key, step),
            {"stepup": True, "customClaims": {"plan": "pro"}, "revokeOtherSessions": False},
            refresh_jwt=second["refreshJwt"],
        ),
        200,
    ).json()
    clock.accepted(step)

    # Sessions.
    refreshed = checked(api.refresh(third["refreshJwt"]), 200).json()
    assert refreshed["refreshJwt"] == third["refreshJwt"]
    checked(api.refresh(third["refreshJwt"], body=None), 200)
    me = checked(api.me(third["refreshJwt"]), 200).json()
    assert me["loginIds"] == [login_id] and me["TOTP"] is True

    # Recovery codes: created with a fresh code, one spent, once.
    step = clock.fresh_step()
    created = checked(api.create_recovery_codes(login_id, code_at(new_key, step), third["refreshJwt"]), 200)
    clock.accepted(step)
    codes = created.json()["recoveryCodes"]
    recovered = checked(api.redeem_recovery_code(login_id, codes[0]), 200).json()
    assert recovered["user"]["recoveryCodes"] == 9
    checked(api.redeem_recovery_code(login_id, codes[0]), 401, "E061102")
    checked(api.keys(), 200)
    if settings.other_project_id:  # make test signs its two projects with ES256 and RS256
        checked(api.keys(settings.other_project_id), 200)
    checked(api.logout(second["refreshJwt"]), 200)
    checked(api.me(second["refreshJwt"]), 401, "E064001")
    checked(api.logout_all(third["refreshJwt"], body=None), 200)
    checked(api.me(third["refreshJwt"]), 401, "E064001")

    # Support: load, sign out, remove the key, delete.
    auth = management_bearer(pid, management_key)
    loaded = checked(api.request("GET", MGMT_LOAD, params={"loginId": login_id}, headers=auth), 200).json()
    assert loaded["user"]["userId"] == first["user"]["userId"]
    checked(api.post_json(MGMT_LOGOUT, {"loginId": login_id}, headers=auth), 200)
    removed = checked(api.post_json(MGMT_REMOVE_TOTP, {"loginId": login_id}, headers=auth), 200).json()
    assert removed["user"]["TOTP"] is False and removed["user"]["recoveryCodes"] == 9
    checked(api.post_json(MGMT_RECOVERY_DELETE, {"loginId": login_id}, headers=auth), 200)
    # The way back in after the removal: a sign-in link, spent once.
    link = {"loginId": login_id, "customClaims": None, "timeout": 0}
    token = checked(api.post_json(MGMT_LINK, link, headers=auth), 200).json()["token"]
    checked(api.post_json(MAGIC_LINK, {"token": token}), 200)
    checked(api.post_json(MAGIC_LINK, {"token": token}), 401, "E061102")
    checked(api.post_json(MGMT_DELETE, {"loginId": login_id}, headers=auth), 200)
    checked(api.request("GET", MGMT_LOAD, params={"loginId": login_id}, headers=auth), 404, "E062108")
    checked(api.post_json(MGMT_LOGOUT, {"loginId": login_id}, headers=auth), 404, "E062108")
    checked(api.post_json(MGMT_REMOVE_TOTP, {"loginId": login_id}, headers=auth), 404, "E062108")
    checked(api.post_json(MGMT_DELETE, {"loginId": login_id}, headers=auth), 200)

    # Users support brings along: one created with the key their authenticator
    # holds signs in with its codes at once; a second create is 409.
    seed, imported = new_seed(), new_login_id()
    create = {"loginId": imported, "displayName": "Grace", "email": imported, "seed": seed, "roleNames": []}
    created = checked(api.post_json(MGMT_CREATE, create, headers=auth), 200).json()["user"]
    assert created["TOTP"] is True and created["status"] == "enabled" and created["name"] == "Grace"
    checked(api.post_json(MGMT_CREATE, {"loginId": imported}, headers=auth), 409, "E062107")
    imported_clock = ReplayClock()
    step = imported_clock.fresh_step()
    signed = checked(api.verify(imported, code_at(seed, step)), 200).json()
    imported_clock.accepted(step)
    assert signed["user"]["userId"] == created["userId"]

    # A batch: each user on its own, a bad seed fails alone, and no seed is echoed.
    batch = [
        {"loginId": new_login_id(), "seed": new_seed(), "status": "disabled"},
        {"loginId": new_login_id(), "seed": "AAAA"},
    ]
    answer = checked(api.post_json(MGMT_CREATE_BATCH, {"users": batch, "invite": True}, headers=auth), 200).json()
    assert [(u["loginIds"], u["status"]) for u in answer["createdUsers"]] == [([batch[0]["loginId"]], "disabled")]
    (failed,) = answer["failedUsers"]
    assert failed["user"]["loginIds"] == [batch[1]["loginId"]] and failed["failure"].startswith("E011003: ")
    assert batch[0]["seed"] not in json.dumps(answer)

    # Disabled: refused everywhere, try-refresh says no session; enabled: no session comes back.
    disabled = checked(api.post_json(MGMT_STATUS, {"loginId": imported, "status": "disabled"}, headers=auth), 200)
    assert disabled.json()["user"]["status"] == "disabled"
    checked(api.refresh(signed["refreshJwt"]), 403, "E064003")
    checked(api.me(signed["refreshJwt"]), 403, "E064003")
    checked(api.verify(imported, code_at(seed, imported_clock.fresh_step())), 403, "E064003")
    assert checked(api.post_json(TRY_REFRESH, {}, headers=api.bearer(signed["refreshJwt"])), 200).json() == {}
    enabled = checked(api.post_json(MGMT_STATUS, {"loginId": imported, "status": "enabled"}, headers=auth), 200)
    assert enabled.json()["user"]["status"] == "enabled"
    checked(api.refresh(signed["refreshJwt"]), 401, "E064001")
    step = imported_clock.fresh_step()
    again = checked(api.verify(imported, code_at(seed, step)), 200).json()
    imported_clock.accepted(step)
    live = checked(api.post_json(TRY_REFRESH, {}, headers=api.bearer(again["refreshJwt"])), 200).json()
    assert live["refreshJwt"] == again["refreshJwt"] and live["user"]["loginIds"] == [imported]
    assert checked(api.post_json(TRY_REFRESH, {}), 200).json() == {}

    # Found by userId and by search (enabled users only: the batch's one is disabled).
    by_id = checked(api.request("GET", MGMT_LOAD, params={"userId": created["userId"]}, headers=auth), 200).json()
    assert by_id["user"]["loginIds"] == [imported]
    search = {"loginIds": [imported, batch[0]["loginId"]], "statuses": ["enabled"], "limit": 10, "page": 0}
    page = checked(api.post_json(MGMT_SEARCH, search, headers=auth), 200).json()
    assert [u["loginIds"] for u in page["users"]] == [[imported]] and page["total"] == 1

    # Deleted by userId (an unknown one is already gone), then nowhere to be found.
    user_ids = [created["userId"], answer["createdUsers"][0]["userId"], "U2NOSUCHUSER"]
    checked(api.post_json(MGMT_DELETE_BATCH, {"userIds": user_ids}, headers=auth), 200)
    checked(api.request("GET", MGMT_LOAD, params={"userId": created["userId"]}, headers=auth), 404, "E062108")
    checked(api.post_json(MGMT_STATUS, {"loginId": imported, "status": "enabled"}, headers=auth), 404, "E062108")

    # The audit trail of the users above (what the stream has delivered so far).
    audits = checked(api.post_json(AUDIT_SEARCH, {"noTenants": False, "externalIds": [imported]}, headers=auth), 200)
    assert all(a["method"] == "totp" for a in audits.json()["audits"])
    checked(api.post_json(AUDIT_SEARCH, {"from": -1}, headers=auth), 400, "E011003", request_conforms=False)

    # Every named operation answered 200 at least once.
    named = operations(spec_document())
    answered = {(method, path) for method, path, status in checked.seen if status == 200}
    assert set(named) <= answered, f"not exercised: {sorted(named[k] for k in set(named) - answered)}"


# --------------------------------------------------------------------------
# Refusals: each answer conforms; requests that break the spec are refused by it too
# --------------------------------------------------------------------------


def test_refusals_conform(api: Api, settings, management_key, checked: Checked):
    pid = settings.project_id
    json_headers = {**api.bearer(), "Content-Type": "application/json"}
    unknown_project = "P" + uuid.uuid4().hex[:27]

    # Bodies and arguments.
    checked(api.request("POST", SIGNUP, data="{not json", headers=json_headers), 400, "E011001", request_conforms=False)
    checked(api.post_json(SIGNUP, ["loginId"]), 400, "E011001", request_conforms=False)
    checked(api.post_json(VERIFY, {"loginId": new_login_id(), "code": 123456}), 400, "E011001", request_conforms=False)
    checked(api.post_json(SIGNUP, {"user": {"name": "x"}}), 400, "E011002", request_conforms=False)
    checked(api.post_json(VERIFY, {"loginId": "", "code": "123456"}), 400, "E011002", request_conforms=False)
    checked(api.verify(new_login_id(), "12ab56"), 400, "E011003", request_conforms=False)
    checked(api.signup(" padded@example.com"), 400, "E011003", request_conforms=False)
    checked(api.signup(new_login_id(), {"email": "not-an-address"}), 400, "E011003", request_conforms=False)
    checked(api.post_json(SIGNUP, {"loginId": new_login_id(), "pad": "x" * (70 * 1024)}), 413, "E011001")
    checked(api.refresh("x.y.z", body=["not", "an", "object"]), 400, "E011001", request_conforms=False)

    # Authorization.
    checked(api.signup(new_login_id(), project_id=unknown_project), 401, "E011003")
    checked(api.post_json(SIGNUP, {"loginId": new_login_id()}, headers={}), 401, "E011003", request_conforms=False)
    basic = {"Authorization": "Basic Zm9vOmJhcg=="}
    checked(api.post_json(VERIFY, {"loginId": new_login_id(), "code": "123456"}, headers=basic), 401, "E011003", request_conforms=False)
    checked(api.keys(unknown_project), 401, "E011003")
    checked(api.update(new_login_id(), "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), 401, "E061004")
    checked(api.me("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), 401, "E061004")
    checked(api.logout("not-a-jwt"), 401, "E061004")
    mgmt_wrong = management_bearer(pid, "x" * 43)
    checked(api.post_json(MGMT_DELETE, {"loginId": new_login_id()}, headers=mgmt_wrong), 401, "E011003")
    checked(api.request("GET", MGMT_LOAD, params={"loginId": "a@example.com"}, headers=api.bearer()), 401, "E011003")
    auth = management_bearer(pid, management_key)
    # Neither loginId nor userId: OpenAPI cannot require one of two parameters, so
    # the spec takes the request (its description says 400).
    checked(api.request("GET", MGMT_LOAD, headers=auth), 400, "E011002")
    checked(api.request("GET", MGMT_LOAD, params={"userId": "U2-not-an-id"}, headers=auth), 400, "E011003", request_conforms=False)

    # Users: what the server refuses, the spec refuses too.
    checked(api.post_json(MGMT_CREATE, {"loginId": new_login_id(), "seed": "AAAA"}, headers=auth), 400, "E011003", request_conforms=False)
    checked(api.post_json(MGMT_CREATE, {"loginId": new_login_id(), "status": "invited"}, headers=auth), 400, "E011003", request_conforms=False)
    checked(api.post_json(MGMT_CREATE_BATCH, {"users": [{}] * 101}, headers=auth), 400, "E011003", request_conforms=False)
    checked(api.post_json(MGMT_CREATE_BATCH, {"users": []}, headers=auth), 400, "E011002", request_conforms=False)
    checked(api.post_json(MGMT_CREATE_BATCH, {"users": {"loginId": "a@example.com"}}, headers=auth), 400, "E011001", request_conforms=False)
    checked(api.post_json(MGMT_STATUS, {"loginId": new_login_id(), "status": "invited"}, headers=auth), 400, "E011003", request_conforms=False)
    checked(api.post_json(MGMT_STATUS, {"loginId": new_login_id()}, headers=auth), 400, "E011002", request_conforms=False)
    checked(api.post_json(MGMT_SEARCH, {"limit": 101}, headers=auth), 400, "E011003", request_conforms=False)
    checked(api.post_json(MGMT_SEARCH, {"page": -1}, headers=auth), 400, "E011003", request_conforms=False)
    checked(api.post_json(MGMT_SEARCH, {"statuses": ["active"]}, headers=auth), 400, "E011003", request_conforms=False)
    checked(api.post_json(MGMT_DELETE_BATCH, {"userIds": ["U2X"] * 101}, headers=auth), 400, "E011003", request_conforms=False)
    checked(api.post_json(MGMT_DELETE_BATCH, {"userIds": []}, headers=auth), 400, "E011002", request_conforms=False)
    checked(api.post_json(MGMT_CREATE, {"loginId": new_login_id()}, headers=api.bearer()), 401, "E011003")
    checked(api.post_json(TRY_REFRESH, {}, headers=api.bearer(project_id=unknown_project)), 401, "E011003")

    # Users.
    checked(api.verify(new_login_id(), "123456"), 404, "E062108")

    # Lockout: a pending user's codes are counted too; Retry-After comes with the 429.
    login_id = new_login_id()
    key = checked(api.signup(login_id), 200).json()["key"]
    for _ in range(50):
        resp = api.verify(login_id, wrong_code(key))
        if resp.status_code == 429:
            break
        checked(resp, 401, "E061102")
    checked(resp, 429, "E061103")
    assert int(resp.headers["Retry-After"]) >= 1

    # Methods: every route refuses the others with 405 and Allow, HEAD without a body.
    not_a_method(api.request("GET", SIGNUP, headers=api.bearer()))
    not_a_method(api.request("PUT", UPDATE))
    not_a_method(api.request("DELETE", LOGOUT_ALL))
    not_a_method(api.request("POST", ME, headers=api.bearer()))
    not_a_method(api.request("PATCH", f"/v2/keys/{pid}"))
    not_a_method(api.request("POST", MGMT_LOAD, headers=auth))
    not_a_method(api.request("GET", MGMT_LOGOUT, headers=auth))
    not_a_method(api.request("GET", MGMT_CREATE, headers=auth))
    not_a_method(api.request("PATCH", MGMT_SEARCH, headers=auth))
    not_a_method(api.request("PUT", TRY_REFRESH))
    not_a_method(api.request("TRACE", VERIFY))
    not_a_method(api.request("HEAD", f"/v2/keys/{pid}"))
    not_a_method(api.request("HEAD", REFRESH))

    # A preflight: 204 when the server has allowed origins (with the policy's headers
    # only for those), else the function's 405. This origin is never an allowed one.
    preflight = api.request(
        "OPTIONS",
        VERIFY,
        headers={"Origin": "https://not-allowed.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code in (204, 405), preflight.text
    checked(preflight, preflight.status_code)
    assert "Access-Control-Allow-Origin" not in preflight.headers


# --------------------------------------------------------------------------
# The validator refuses what the spec does not allow
# --------------------------------------------------------------------------


def altered(resp: requests.Response, body=None, *, headers: dict | None = None, status: int | None = None) -> MockResponse:
    """A copy of a real response, with another body, headers or status."""
    data = resp.content if body is None else json.dumps(body).encode()
    return MockResponse(
        data,
        status_code=resp.status_code if status is None else status,
        headers=dict(resp.headers) if headers is None else headers,
        content_type=resp.headers.get("Content-Type", ""),
    )


def response_errors(openapi: OpenAPI, resp: requests.Response, response) -> list[Exception]:
    return list(openapi.iter_response_errors(RequestsOpenAPIRequest(resp.request), response))


def test_altered_responses_are_refused(api: Api, openapi: OpenAPI):
    """Copies of real answers, each changed in one way the spec forbids, fail validation,
    while the unchanged copies pass: the validation really runs."""
    login_id = new_login_id()
    signup = api.signup(login_id)
    assert signup.status_code == 200, signup.text
    key = signup.json()["key"]
    clock = ReplayClock()
    step = clock.fresh_step()
    verify = api.verify(login_id, code_at(key, step))
    assert verify.status_code == 200, verify.text
    conflict = api.signup(login_id)
    assert conflict.status_code == 409, conflict.text
    lockout_id = new_login_id()
    lockout_key = api.signup(lockout_id).json()["key"]
    for _ in range(50):
        locked = api.verify(lockout_id, wrong_code(lockout_key))
        if locked.status_code == 429:
            break
    assert locked.status_code == 429, locked.text

    for real in (signup, verify, conflict, locked):
        assert response_errors(openapi, real, altered(real)) == [], real.text

    def refused(real, response, kind=InvalidData):
        errors = response_errors(openapi, real, response)
        assert errors, "the validator accepted an altered response"
        assert any(isinstance(e, kind) for e in errors), describe(errors)

    body = verify.json()
    no_totp = copy.deepcopy(body)
    del no_totp["user"]["TOTP"]
    refused(verify, altered(verify, no_totp))
    wrong_type = copy.deepcopy(body)
    wrong_type["firstSeen"] = "true"
    refused(verify, altered(verify, wrong_type))
    extra = copy.deepcopy(body)
    extra["user"]["isAdmin"] = True
    refused(verify, altered(verify, extra))
    integer_key = signup.json()
    integer_key["key"] = 12345
    refused(signup, altered(signup, integer_key))
    padded = signup.json()
    padded["key"] = padded["key"] + "===="
    refused(signup, altered(signup, padded))

    # An error body with another code than its status allows, or an extra field.
    other_code = {**conflict.json(), "errorCode": "E062108", "errorDescription": "User not found"}
    refused(conflict, altered(conflict, other_code))
    leaky = {**conflict.json(), "stack": "at src/service/totp.rs:123"}
    refused(conflict, altered(conflict, leaky))

    # Headers: a 429 without Retry-After, a user answer that may be cached.
    without_retry = {k: v for k, v in locked.headers.items() if k.lower() != "retry-after"}
    refused(locked, altered(locked, headers=without_retry), MissingRequiredHeader)
    cacheable = {k: v for k, v in signup.headers.items() if k.lower() != "cache-control"}
    cacheable["Cache-Control"] = "public, max-age=60"
    refused(signup, altered(signup, headers=cacheable), InvalidHeader)

    # A status the route never answers.
    assert response_errors(openapi, signup, altered(signup, status=418)), "an undocumented status passed"
