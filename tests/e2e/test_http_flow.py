"""The wire format, checked with plain HTTP (`requests`) against the running server.

Codes come from pyotp; JWTs are verified with PyJWT against /v2/keys/{projectId}.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.parse
import uuid

import pyotp
import pytest

from e2e_support import (
    JWT_RESPONSE_FIELDS,
    ReplayClock,
    assert_enrollment,
    assert_error,
    assert_json_content_type,
    assert_token_claims,
    assert_user_shape,
    code_at,
    decode_qr_with_zbarimg,
    new_login_id,
    unverified_claims,
    verify_jwt_with_jwks,
    wrong_code,
)

SIGNUP = "/v1/auth/totp/signup"
VERIFY = "/v1/auth/totp/verify"
UPDATE = "/v1/auth/totp/update"


def test_pyotp_oracle_matches_rfc6238():
    # RFC 6238 appendix B, SHA1 seed "12345678901234567890": T=59 -> 94287082 (8 digits).
    seed = base64.b32encode(b"12345678901234567890").decode()
    assert pyotp.TOTP(seed, digits=8).at(59) == "94287082"
    assert pyotp.TOTP(seed).at(1111111109) == "081804"


def register(api, login_id: str, clock: ReplayClock | None = None, user: dict | None = None):
    """Sign up and complete the sign-up; return (key, verify response JSON)."""
    resp = api.signup(login_id, user)
    assert resp.status_code == 200, resp.text
    key = resp.json()["key"]
    clock = clock or ReplayClock()
    step = clock.fresh_step()
    resp = api.verify(login_id, code_at(key, step))
    assert resp.status_code == 200, resp.text
    clock.accepted(step)
    return key, resp.json()


# --------------------------------------------------------------------------
# Happy path
# --------------------------------------------------------------------------


def test_signup_verify_flow(api, settings, jwks, tmp_path):
    login_id = new_login_id()
    user_in = {
        "name": "Ada Lovelace",
        "givenName": "Ada",
        "familyName": "Lovelace",
        "email": login_id,
        "unknownKey": "is ignored",
    }
    clock = ReplayClock()

    # Signup returns the key three ways.
    resp = api.signup(login_id, user_in)
    assert resp.status_code == 200, resp.text
    assert_json_content_type(resp)
    first = resp.json()
    first_key = assert_enrollment(first, login_id)

    png = base64.b64decode(first["image"])
    # zbarimg (make test installs zbar-tools) reads the QR as a phone would.
    assert decode_qr_with_zbarimg(png, tmp_path) == first["provisioningURL"]

    # Signing up again while pending replaces the key: only the newest completes.
    resp = api.signup(login_id, user_in)
    assert resp.status_code == 200, resp.text
    key = assert_enrollment(resp.json(), login_id)
    assert key != first_key

    step = clock.fresh_step()
    stale = code_at(first_key, step)
    if stale != code_at(key, step):  # 1-in-a-million collision would make this meaningless
        err = assert_error(api.verify(login_id, stale), 401, "E061102")
        assert stale not in json.dumps(err) and first_key not in json.dumps(err)

    # The code of the newest key completes the sign-up.
    code = code_at(key, step)
    resp = api.verify(login_id, code, {"stepup": False, "mfa": False, "customClaims": None})
    assert resp.status_code == 200, resp.text
    clock.accepted(step)
    assert_json_content_type(resp)
    body = resp.json()
    for field in JWT_RESPONSE_FIELDS:
        assert field in body, f"missing {field}: {sorted(body)}"
    assert body["firstSeen"] is True
    user = body["user"]
    assert_user_shape(user)
    assert user["loginIds"] == [login_id]
    assert user["userId"]
    assert user["TOTP"] is True
    assert user["status"] == "enabled"
    assert user["name"] == "Ada Lovelace"
    assert user["givenName"] == "Ada"
    assert user["familyName"] == "Lovelace"
    assert user["email"] == login_id
    assert abs(user["createdTime"] - time.time()) < 3600
    assert "unknownKey" not in user

    session = verify_jwt_with_jwks(body["sessionJwt"], jwks, settings.project_id)
    refresh = verify_jwt_with_jwks(body["refreshJwt"], jwks, settings.project_id)
    assert_token_claims(session, settings.project_id, user["userId"], "DS")
    assert_token_claims(refresh, settings.project_id, user["userId"], "DSR", login_id)
    assert session["exp"] - session["iat"] <= refresh["exp"] - refresh["iat"]
    if settings.session_ttl_seconds is not None:
        assert session["exp"] - session["iat"] == settings.session_ttl_seconds
    if settings.refresh_ttl_seconds is not None:
        assert refresh["exp"] - refresh["iat"] == settings.refresh_ttl_seconds
    assert isinstance(body["cookieMaxAge"], int) and isinstance(body["cookieExpiration"], int)
    assert abs(body["cookieExpiration"] - refresh["exp"]) <= 5
    assert abs(body["cookieMaxAge"] - (refresh["exp"] - refresh["iat"])) <= 5
    assert isinstance(body["cookieDomain"], str) and isinstance(body["cookiePath"], str)

    # The same code again is a replay: same answer as a wrong code.
    assert_error(api.verify(login_id, code), 401, "E061102")

    # Registered now: signup is refused.
    assert_error(api.signup(login_id), 409, "E062107")

    # A later step signs in again; firstSeen is now false.
    step = clock.fresh_step()
    resp = api.verify(login_id, code_at(key, step), {})
    assert resp.status_code == 200, resp.text
    clock.accepted(step)
    again = resp.json()
    assert again["firstSeen"] is False
    assert_user_shape(again["user"])
    assert again["user"]["userId"] == user["userId"]
    assert again["user"]["createdTime"] == user["createdTime"]
    assert clock.waits <= 1


def test_the_issuer_is_the_projects_own(api):
    """make test gives each project its own issuer (PROJECT_SETTINGS for the
    second one) and says which through TOTP_EXPECTED_ISSUER."""
    expected = os.environ.get("TOTP_EXPECTED_ISSUER", "")
    assert expected, "TOTP_EXPECTED_ISSUER must name the issuer the server shows for this project"
    login_id = new_login_id()
    resp = api.signup(login_id)
    assert resp.status_code == 200, resp.text
    url = resp.json()["provisioningURL"]
    issuer = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["issuer"]
    assert issuer == [expected], url


def test_keys_endpoint(api, settings):
    resp = api.keys()
    assert resp.status_code == 200, resp.text
    assert_json_content_type(resp)
    keys = resp.json()["keys"]
    assert isinstance(keys, list) and keys
    kids = [k["kid"] for k in keys]
    assert len(set(kids)) == len(kids)
    expected = os.environ.get("TOTP_SIGNING_ALG", "ES256")
    for k in keys:
        assert k["alg"] == expected and k["use"] == "sig" and k["kid"], k
        if expected == "ES256":
            assert k["kty"] == "EC" and k["crv"] == "P-256" and k["x"] and k["y"], k
        else:
            assert k["kty"] == "RSA" and k["n"] and k["e"], k
        assert "d" not in k and "p" not in k and "q" not in k, "private key material published"


def test_update_returns_new_key_and_checks_refresh_jwt(api, settings):
    alice, bob = new_login_id(), new_login_id()
    alice_key, alice_body = register(api, alice)
    _, bob_body = register(api, bob)

    resp = api.update(alice, alice_body["refreshJwt"])
    assert resp.status_code == 200, resp.text
    new_key = assert_enrollment(resp.json(), alice)
    assert new_key != alice_key

    # Invalid JWT, a session JWT instead of a refresh JWT, another user's refresh JWT.
    assert_error(api.update(alice, "aaaa.bbbb.cccc"), 401, "E061004")
    assert_error(api.update(alice, alice_body["sessionJwt"]), 401, "E061004")
    assert_error(api.update(alice, bob_body["refreshJwt"]), 401, "E061004")
    # Tampered signature.
    head, payload, _sig = alice_body["refreshJwt"].split(".")
    forged = f"{head}.{payload}.{base64.urlsafe_b64encode(b'x' * 256).decode().rstrip('=')}"
    assert_error(api.update(alice, forged), 401, "E061004")
    # A management-key suffix after the JWT is accepted and ignored.
    resp = api.post_json(
        UPDATE,
        {"loginId": alice},
        headers={"Authorization": f"Bearer {settings.project_id}:{alice_body['refreshJwt']}:some-mgmt-key"},
    )
    assert resp.status_code == 200, resp.text
    # No refresh JWT at all.
    resp = api.post_json(UPDATE, {"loginId": alice})
    assert resp.status_code == 401, resp.text


def test_stepup_requires_the_users_refresh_jwt(api):
    alice, bob = new_login_id(), new_login_id()
    alice_clock = ReplayClock()
    alice_key, _ = register(api, alice, alice_clock)
    _, bob_body = register(api, bob)

    # A code that is valid and not yet used, so that only the missing/foreign refresh JWT can
    # be the reason for refusal: the next step's code (the server accepts one step either side),
    # which spares a 30 s wait.
    code = code_at(alice_key, alice_clock.last_accepted + 1)
    # Step-up without a refresh JWT is refused.
    resp = api.verify(alice, code, {"stepup": True})
    assert resp.status_code == 401, resp.text
    assert resp.json()["errorCode"] in {"E011003", "E061004"}
    # Step-up with another user's refresh JWT is refused.
    assert_error(api.verify(alice, code, {"stepup": True}, refresh_jwt=bob_body["refreshJwt"]), 401, "E061004")
    assert_error(api.verify(alice, code, {"mfa": True}, refresh_jwt=bob_body["refreshJwt"]), 401, "E061004")


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def test_unknown_project_and_bad_authorization(api):
    login_id = new_login_id()
    unknown = "P" + uuid.uuid4().hex[:27]
    assert_error(api.signup(login_id, project_id=unknown), 401, "E011003")
    assert_error(api.verify(login_id, "123456", project_id=unknown), 401, "E011003")
    assert_error(api.post_json(SIGNUP, {"loginId": login_id}, headers={}), 401, "E011003")
    assert_error(
        api.post_json(SIGNUP, {"loginId": login_id}, headers={"Authorization": "Basic Zm9vOmJhcg=="}),
        401,
        "E011003",
    )


def test_malformed_bodies(api):
    headers = {**api.bearer(), "Content-Type": "application/json"}
    for path in (SIGNUP, VERIFY):
        assert_error(api.request("POST", path, data="{not json", headers=headers), 400, "E011001")
        assert_error(api.post_json(path, ["loginId"]), 400, "E011001")
        assert_error(api.post_json(path, "alice"), 400, "E011001")
        assert_error(api.post_json(path, {"loginId": 12345, "code": "123456"}), 400, "E011001")
    assert_error(api.post_json(VERIFY, {"loginId": new_login_id(), "code": 123456}), 400, "E011001")


def test_missing_and_invalid_arguments(api):
    assert_error(api.post_json(SIGNUP, {"user": {"name": "x"}}), 400, "E011002")
    assert_error(api.post_json(SIGNUP, {"loginId": ""}), 400, "E011002")
    assert_error(api.post_json(VERIFY, {"code": "123456"}), 400, "E011002")
    assert_error(api.post_json(VERIFY, {"loginId": new_login_id()}), 400, "E011002")
    assert_error(api.post_json(VERIFY, {"loginId": new_login_id(), "code": ""}), 400, "E011002")

    login_id = new_login_id()
    assert api.signup(login_id).status_code == 200
    for bad in ("12ab56", "12345", "1234567", " 12345"):
        assert_error(api.verify(login_id, bad), 400, "E011003")
    assert_error(api.signup("a\u0000b@example.com"), 400, "E011003")
    assert_error(api.signup("x" * 5000 + "@example.com"), 400, "E011003")


def test_body_too_large(api):
    resp = api.post_json(SIGNUP, {"loginId": new_login_id(), "pad": "x" * (70 * 1024)})
    assert_error(resp, 413, "E011001")


def test_unknown_user_and_wrong_code(api):
    assert_error(api.verify(new_login_id(), "123456"), 404, "E062108")

    login_id = new_login_id()
    resp = api.signup(login_id)
    assert resp.status_code == 200
    key = resp.json()["key"]
    code = wrong_code(key)
    resp = api.verify(login_id, code)
    body = assert_error(resp, 401, "E061102")
    assert key not in resp.text and code not in resp.text
    assert "stack" not in json.dumps(body).lower()


def test_wrong_method(api):
    # The router sends every method of a contract path to its function,
    # which answers anything but its own method with 405.
    resp = api.request("GET", SIGNUP, headers=api.bearer())
    assert_error(resp, 405, "E011001")


def test_projects_are_isolated(api, settings):
    other = settings.other_project_id
    assert other, "make test sets TOTP_OTHER_PROJECT_ID"
    login_id = new_login_id()
    _, body = register(api, login_id)

    # Project B cannot see project A's user ...
    assert_error(api.verify(login_id, "123456", project_id=other), 404, "E062108")
    # ... cannot use A's refresh JWT ...
    assert_error(api.update(login_id, body["refreshJwt"], project_id=other), 401, "E061004")
    # ... and a sign-up of the same loginId in B starts independently.
    resp = api.signup(login_id, project_id=other)
    assert resp.status_code == 200, resp.text
    # The tokens of A name A.
    assert unverified_claims(body["sessionJwt"])["iss"] == settings.project_id
