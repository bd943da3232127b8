"""Helpers shared by the end-to-end suites (plain functions, no pytest fixtures).

pyotp is the independent TOTP implementation: every code sent to the server is
computed here from the key the server handed out, never by the server's code.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field as dataclass_field

import jwt
import pyotp
import requests

STEP_SECONDS = 30
# A code of the previous step is sent only if that step stays accepted this much longer.
PREVIOUS_STEP_MARGIN = 3.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ERROR_KEYS = {"errorCode", "errorDescription", "errorMessage"}
HTTP_TIMEOUT = 30

# Every field of the contract's user object, with the JSON type it must have.
# `int` means an integer that is not a bool.
USER_FIELDS: dict[str, type] = {
    "loginIds": list,
    "userId": str,
    "name": str,
    "givenName": str,
    "middleName": str,
    "familyName": str,
    "email": str,
    "verifiedEmail": bool,
    "phone": str,
    "verifiedPhone": bool,
    "roleNames": list,
    "userTenants": list,
    "status": str,
    "externalIds": list,
    "picture": str,
    "test": bool,
    "customAttributes": dict,
    "createdTime": int,
    "TOTP": bool,
    "SAML": bool,
    "OAuth": dict,
    "webauthn": bool,
    "password": bool,
    "ssoAppIds": list,
    "editable": bool,
    "SCIM": bool,
    # This service's own: recovery codes left.
    "recoveryCodes": int,
}

JWT_RESPONSE_FIELDS = {
    "sessionJwt",
    "refreshJwt",
    "cookieDomain",
    "cookiePath",
    "cookieMaxAge",
    "cookieExpiration",
    "user",
    "firstSeen",
}


@dataclass(frozen=True)
class Settings:
    base_url: str
    project_id: str
    other_project_id: str | None = None
    # The lifetimes the server was started with, when the runner says so
    # (TOTP_SESSION_TTL_SECONDS, TOTP_REFRESH_TTL_SECONDS): checked exactly if known.
    session_ttl_seconds: int | None = None
    refresh_ttl_seconds: int | None = None
    # Management keys (TOTP_MANAGEMENT_KEY of project_id, TOTP_OTHER_MANAGEMENT_KEY of
    # other_project_id): credentials, so left out of the repr that failures print.
    management_key: str | None = dataclass_field(default=None, repr=False)
    other_management_key: str | None = dataclass_field(default=None, repr=False)


def new_login_id() -> str:
    return f"e2e-{uuid.uuid4().hex}@example.com"


# --------------------------------------------------------------------------
# TOTP codes and the server's replay protection
# --------------------------------------------------------------------------


def step_now() -> int:
    return int(time.time() // STEP_SECONDS)


def code_at(key: str, step: int) -> str:
    """The RFC 6238 code (SHA1, 6 digits, 30 s) of `key` for time step `step`."""
    return pyotp.TOTP(key).at(step * STEP_SECONDS)


def wrong_code(*keys: str) -> str:
    """A well-formed 6-digit code that no given key produces near now."""
    now = step_now()
    taken = {code_at(k, s) for k in keys for s in range(now - 3, now + 4)}
    rng = random.SystemRandom()
    while True:
        candidate = f"{rng.randrange(10**6):06d}"
        if candidate not in taken:
            return candidate


class ReplayClock:
    """Tracks, for one user, the newest time step the server accepted.

    The server refuses a code whose step is not newer than the last accepted
    one. It accepts the codes of the previous, current and next 30-second step
    (one step of clock skew either side), so one user can sign in up to three
    times per step without waiting; after that we sleep until a newer step is
    in reach. Tests call `fresh_step()` right before computing a code and
    `accepted(step)` after the server took it. A refused code does not count:
    the server records only accepted steps.
    """

    def __init__(self) -> None:
        self.last_accepted: int | None = None
        self.waits = 0

    def fresh_step(self) -> int:
        """The oldest step the server accepts now that is newer than the last accepted one.

        The previous step is used only while its code stays valid for a while longer.
        """
        while True:
            now = time.time()
            current = int(now // STEP_SECONDS)
            left_in_step = (current + 1) * STEP_SECONDS - now
            oldest = current - 1 if left_in_step > PREVIOUS_STEP_MARGIN else current
            step = oldest if self.last_accepted is None else max(oldest, self.last_accepted + 1)
            if step <= current + 1:
                return step
            # `step` comes in reach when the step before it begins.
            delay = max(0.0, (step - 1) * STEP_SECONDS + 0.5 - now)
            self.waits += 1
            print(f"[e2e] waiting {delay:.1f}s for the next TOTP time step")
            time.sleep(delay)

    def accepted(self, step: int) -> None:
        if self.last_accepted is None or step > self.last_accepted:
            self.last_accepted = step


# The answer `cargo lambda watch` gives of its own when a function's answer does
# not reach it whole: a large answer (a search of hundreds of users or audit
# records) is sometimes lost under load, after the function has answered. The
# service itself never answers text/plain.
EMULATOR_FAULT = {"type": "https://httpstatuses.com/500", "status": 500, "title": "Internal Server Error"}


def is_emulator_fault(status: int, content_type: str | None, body: bytes) -> bool:
    if status != 500 or not (content_type or "").startswith("text/plain"):
        return False
    try:
        return json.loads(body) == EMULATOR_FAULT
    except ValueError:
        return False


# --------------------------------------------------------------------------
# Raw HTTP access
# --------------------------------------------------------------------------


_EMPTY_OBJECT: dict = {}


class Api:
    """Thin `requests` wrapper speaking the contract's routes.

    One instance per thread: it keeps a `requests.Session`.
    """

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.base_url
        self.project_id = settings.project_id
        self.session = requests.Session()

    def bearer(self, refresh_jwt: str | None = None, project_id: str | None = None) -> dict:
        pid = self.project_id if project_id is None else project_id
        value = pid if refresh_jwt is None else f"{pid}:{refresh_jwt}"
        return {"Authorization": f"Bearer {value}"}

    def request(self, method: str, path: str, *, headers=None, **kwargs) -> requests.Response:
        return self.session.request(
            method,
            f"{self.base_url}{path}",
            headers=headers or {},
            timeout=HTTP_TIMEOUT,
            allow_redirects=False,
            **kwargs,
        )

    def post_json(self, path: str, body, *, headers=None) -> requests.Response:
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(self.bearer() if headers is None else headers)
        return self.request("POST", path, data=json.dumps(body), headers=hdrs)

    def signup(self, login_id: str, user: dict | None = None, *, project_id=None) -> requests.Response:
        body: dict = {"loginId": login_id}
        if user is not None:
            body["user"] = user
        return self.post_json("/v1/auth/totp/signup", body, headers=self.bearer(project_id=project_id))

    def verify(
        self,
        login_id: str,
        code: str,
        login_options: dict | None = None,
        *,
        refresh_jwt: str | None = None,
        project_id: str | None = None,
    ) -> requests.Response:
        body: dict = {"loginId": login_id, "code": code}
        if login_options is not None:
            body["loginOptions"] = login_options
        return self.post_json(
            "/v1/auth/totp/verify",
            body,
            headers=self.bearer(refresh_jwt, project_id=project_id),
        )

    def update(self, login_id: str, refresh_jwt: str, *, project_id: str | None = None) -> requests.Response:
        return self.post_json(
            "/v1/auth/totp/update",
            {"loginId": login_id},
            headers=self.bearer(refresh_jwt, project_id=project_id),
        )

    def keys(self, project_id: str | None = None) -> requests.Response:
        pid = self.project_id if project_id is None else project_id
        return self.request("GET", f"/v2/keys/{pid}")

    # The session routes: the refresh JWT in the Authorization header, `{}` as the body
    # (what the SDKs send); `body=None` sends no body at all.

    def refresh(self, refresh_jwt: str, *, project_id: str | None = None, body=_EMPTY_OBJECT) -> requests.Response:
        return self._session_post("/v1/auth/refresh", refresh_jwt, project_id, body)

    def logout(self, refresh_jwt: str, *, project_id: str | None = None, body=_EMPTY_OBJECT) -> requests.Response:
        return self._session_post("/v1/auth/logout", refresh_jwt, project_id, body)

    def logout_all(self, refresh_jwt: str, *, project_id: str | None = None, body=_EMPTY_OBJECT) -> requests.Response:
        return self._session_post("/v1/auth/logoutall", refresh_jwt, project_id, body)

    def create_recovery_codes(self, login_id: str, code: str, refresh_jwt: str) -> requests.Response:
        return self.post_json(
            "/v1/auth/totp/recovery-codes", {"loginId": login_id, "code": code}, headers=self.bearer(refresh_jwt)
        )

    def redeem_recovery_code(self, login_id: str, recovery_code: str) -> requests.Response:
        return self.post_json("/v1/auth/totp/recovery", {"loginId": login_id, "recoveryCode": recovery_code})

    def me(self, refresh_jwt: str, *, project_id: str | None = None) -> requests.Response:
        return self.request("GET", "/v1/auth/me", headers=self.bearer(refresh_jwt, project_id=project_id))

    def _session_post(self, path: str, refresh_jwt: str, project_id: str | None, body) -> requests.Response:
        headers = self.bearer(refresh_jwt, project_id=project_id)
        if body is None:
            return self.request("POST", path, headers=headers)
        return self.post_json(path, body, headers=headers)


# --------------------------------------------------------------------------
# Assertions
# --------------------------------------------------------------------------


def assert_json_content_type(resp: requests.Response) -> None:
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == "application/json", f"Content-Type {ctype!r}"


def assert_error_body(body: dict, code: str) -> dict:
    assert isinstance(body, dict), body
    assert set(body) == ERROR_KEYS, f"error body keys {sorted(body)}"
    for k in ERROR_KEYS:
        assert isinstance(body[k], str) and body[k], f"{k} must be a non-empty string: {body!r}"
    assert body["errorCode"] == code, body
    return body


def sdk_error(exc, status: int, code: str) -> dict:
    """The server's error body carried by a descope AuthException raised for an HTTP error."""
    assert exc.status_code == status, f"expected {status} {code}, got {exc}"
    assert exc.error_type == "server error", exc
    return assert_error_body(json.loads(exc.error_message), code)


def assert_error(resp: requests.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, f"expected {status} {code}, got {resp.status_code}: {resp.text}"
    assert_json_content_type(resp)
    return assert_error_body(resp.json(), code)


def assert_key(key: str) -> None:
    assert isinstance(key, str)
    assert key == key.upper() and "=" not in key, key
    assert len(base64.b32decode(key)) == 20, "key must encode 20 bytes (160 bits)"


def assert_enrollment(enroll: dict, login_id: str) -> str:
    """Check a signup/update response; return the key."""
    for field in ("provisioningURL", "image", "key"):
        assert field in enroll, f"missing {field}: {sorted(enroll)}"
    key = enroll["key"]
    assert_key(key)

    url = enroll["provisioningURL"]
    parsed = urllib.parse.urlsplit(url)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp", url
    query = urllib.parse.parse_qs(parsed.query)
    assert query.get("secret") == [key], f"secret= must equal key: {url}"
    assert f"secret={key}" in url
    issuer = query.get("issuer")
    assert issuer and issuer[0], f"issuer= missing: {url}"
    label = urllib.parse.unquote(parsed.path.lstrip("/"))
    assert label == f"{issuer[0]}:{login_id}", f"label {label!r}"
    # Each label part is percent-encoded: the '@' of the email must not be raw.
    assert urllib.parse.quote(login_id, safe="") in parsed.path, parsed.path
    for name, expected in (("algorithm", "SHA1"), ("digits", "6"), ("period", "30")):
        if name in query:
            assert query[name] == [expected], f"{name}={query[name]}"

    image = enroll["image"]
    assert isinstance(image, str) and not image.startswith("data:"), image[:40]
    png = base64.b64decode(image, validate=True)
    assert png.startswith(PNG_SIGNATURE), "image is not a PNG"
    return key


def decode_qr_with_zbarimg(png: bytes, tmp_dir) -> str:
    """The text of the QR code in `png`, read by zbarimg (Debian's zbar-tools)."""
    exe = shutil.which("zbarimg")
    assert exe is not None, "zbarimg is missing: install zbar-tools (scripts/setup.sh --browser, which make test runs, does)"
    path = tmp_dir / "qr.png"
    path.write_bytes(png)
    out = subprocess.run([exe, "--raw", "-q", str(path)], capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def assert_user_shape(user: dict) -> None:
    lower = {k.lower(): k for k in USER_FIELDS}
    for key in user:
        if key.lower() in lower:
            assert key == lower[key.lower()], f"user field {key!r} must be spelled {lower[key.lower()]!r}"
    for field, typ in USER_FIELDS.items():
        assert field in user, f"user.{field} missing: {sorted(user)}"
        value = user[field]
        if typ is int:
            assert isinstance(value, int) and not isinstance(value, bool), f"user.{field}={value!r}"
        else:
            assert isinstance(value, typ), f"user.{field}={value!r} should be {typ.__name__}"


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def verify_jwt_with_jwks(token: str, jwks: dict, project_id: str) -> dict:
    """Verify `token` against the published JWKS with PyJWT (independently of the SDK):
    signed by a published key, unexpired, issued by and for (`aud`) `project_id`."""
    header = jwt.get_unverified_header(token)
    kid = header.get("kid")
    assert kid, header
    matches = [k for k in jwks["keys"] if k.get("kid") == kid]
    assert len(matches) == 1, f"kid {kid!r} not published exactly once"
    # The algorithm follows the key: the header must name the published key's.
    assert header.get("alg") in ("ES256", "RS256") and header["alg"] == matches[0]["alg"], (header, matches[0])
    key = jwt.PyJWK(matches[0])
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[matches[0]["alg"]],
        audience=project_id,
        issuer=project_id,
        options={"require": ["iss", "sub", "aud", "iat", "exp"]},
    )
    assert claims["aud"] == project_id, f"aud {claims['aud']!r}"
    return claims


# Claims only a refresh JWT carries (its id, whose it is, its session generation).
REFRESH_ONLY_CLAIMS = {"jti", "loginId", "gen"}


def assert_token_claims(
    claims: dict, project_id: str, user_id: str, drn: str, login_id: str | None = None, amr: tuple = ("totp",)
) -> None:
    now = time.time()
    assert claims["iss"] == project_id
    assert claims["aud"] == project_id, f"aud {claims.get('aud')!r}"
    assert claims["sub"] == user_id
    assert claims["amr"] == list(amr)
    assert claims["drn"] == drn
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert claims["iat"] <= now + 5
    assert claims["exp"] > now
    assert claims["exp"] > claims["iat"]
    if drn == "DSR":
        assert isinstance(claims["jti"], str) and claims["jti"], claims
        assert isinstance(claims["gen"], int) and not isinstance(claims["gen"], bool), claims
        assert claims["gen"] >= 0, claims
        assert isinstance(claims["loginId"], str) and claims["loginId"], claims
        if login_id is not None:
            assert claims["loginId"] == login_id, claims
        assert "scope" not in claims, claims
    else:
        assert not REFRESH_ONLY_CLAIMS & set(claims), f"a session JWT with {sorted(REFRESH_ONLY_CLAIMS & set(claims))}"
        # What an API Gateway JWT authorizer can require: only session JWTs have it.
        assert claims["scope"] == "session", claims


def assert_sign_in(
    resp: dict, client, project_id: str, login_id: str, first_seen: bool, amr: tuple = ("totp",)
) -> str:
    """Check what the SDK's sign_in_code (a descope.DescopeClient `client`) returned; return the userId."""
    for field in (
        "sessionToken",
        "refreshSessionToken",
        "permissions",
        "roles",
        "tenants",
        "projectId",
        "userId",
        "cookieData",
        "user",
        "firstSeen",
    ):
        assert field in resp, f"SDK response lacks {field}: {sorted(resp)}"
    assert resp["firstSeen"] is first_seen
    user = resp["user"]
    assert_user_shape(user)
    assert user["loginIds"] == [login_id]
    user_id = user["userId"]
    assert resp["userId"] == user_id
    assert resp["projectId"] == project_id
    assert resp["permissions"] == [] and resp["roles"] == [] and resp["tenants"] == {}

    session, refresh = resp["sessionToken"], resp["refreshSessionToken"]
    assert_token_claims(session, project_id, user_id, "DS", amr=amr)
    assert_token_claims(refresh, project_id, user_id, "DSR", login_id, amr=amr)
    for token in (session["jwt"], refresh["jwt"]):
        # The SDK verified the token with a key it fetched from /v2/keys/{projectId}
        # (no DESCOPE_PUBLIC_KEY is set, so the fetch is the only source of keys).
        assert jwt.get_unverified_header(token)["kid"] in client._auth.public_keys

    cookie = resp["cookieData"]
    assert abs(cookie["exp"] - refresh["exp"]) <= 5, cookie
    assert abs(cookie["maxAge"] - (refresh["exp"] - refresh["iat"])) <= 5, cookie
    return user_id
