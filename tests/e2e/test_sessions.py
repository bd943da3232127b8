"""Sessions: refresh, logout, logout-all, me, and everything that revokes a refresh JWT.

The official SDK makes every call it has (sign_in_code, refresh_session,
validate_and_refresh_session, me, logout, logout_all, update_user); raw HTTP
(`Api`) is used where the status and the errorCode must be seen. A revoked
refresh JWT is refused with 401 E064001 everywhere; a JWT that is not a valid
refresh JWT of the project with 401 E061004.

Each test signs in its own users. `ReplayClock.fresh_step` spends the server's
one step of clock skew either side, so a user signs in up to three times per
30 s step without waiting.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jwt
import pytest
import requests
from descope import AuthException, LoginOptions

from e2e_support import (
    JWT_RESPONSE_FIELDS,
    Api,
    ReplayClock,
    assert_enrollment,
    assert_error,
    assert_json_content_type,
    assert_sign_in,
    assert_token_claims,
    assert_user_shape,
    code_at,
    new_login_id,
    sdk_error,
    unverified_claims,
    verify_jwt_with_jwks,
)

REVOKED = "E064001"
INVALID_REFRESH = "E061004"
# A session JWT that lives longer than this cannot be waited out in a test run.
MAX_WAITABLE_SESSION_SECONDS = 30


def sign_in(client, login_id: str, key: str, clock: ReplayClock, options: LoginOptions | None = None) -> dict:
    """sign_in_code with a code of a fresh time step; returns the SDK's response."""
    step = clock.fresh_step()
    resp = client.totp.sign_in_code(login_id, code_at(key, step), options)
    clock.accepted(step)
    return resp


def enrolled(client, user: dict | None = None) -> tuple[str, str, ReplayClock]:
    """A new user, signed up but not signed in: (loginId, key, clock)."""
    login_id = new_login_id()
    key = assert_enrollment(client.totp.sign_up(login_id, user), login_id)
    return login_id, key, ReplayClock()


def tokens(resp: dict) -> tuple[str, str]:
    """(session JWT, refresh JWT) of an SDK sign-in response."""
    return resp["sessionToken"]["jwt"], resp["refreshSessionToken"]["jwt"]


def assert_refreshed(resp: dict, client, project_id: str, refresh_jwt: str, user_id: str, jwks: dict) -> str:
    """Check what the SDK's refresh_session (or validate_and_refresh_session that had
    to refresh) returned; return the new session JWT, checked also with PyJWT."""
    session_jwt = resp["sessionToken"]["jwt"]
    # The refresh JWT is the one sent (no rotation), the session JWT a new one.
    assert resp["refreshSessionToken"]["jwt"] == refresh_jwt
    assert session_jwt != refresh_jwt
    assert resp["userId"] == user_id and resp["projectId"] == project_id
    assert_token_claims(resp["sessionToken"], project_id, user_id, "DS")
    assert_token_claims(resp["refreshSessionToken"], project_id, user_id, "DSR")
    assert jwt.get_unverified_header(session_jwt)["kid"] in client._auth.public_keys

    validated = client.validate_session(session_jwt)
    assert validated["jwt"] == session_jwt
    assert validated["userId"] == user_id and validated["projectId"] == project_id
    assert validated["drn"] == "DS"
    claims = verify_jwt_with_jwks(session_jwt, jwks, project_id)
    assert claims["sub"] == user_id
    return session_jwt


def assert_jwt_response(resp: requests.Response, refresh_jwt: str, user: dict, settings, jwks: dict) -> dict:
    """A raw 200 refresh answer: the JWTResponse of the same refresh JWT and user."""
    assert resp.status_code == 200, resp.text
    assert_json_content_type(resp)
    assert resp.headers.get("Cache-Control") == "no-store", resp.headers
    body = resp.json()
    for field in JWT_RESPONSE_FIELDS:
        assert field in body, f"missing {field}: {sorted(body)}"
    assert body["refreshJwt"] == refresh_jwt
    assert body["firstSeen"] is False
    assert_user_shape(body["user"])
    assert body["user"] == user
    pid = settings.project_id
    session = verify_jwt_with_jwks(body["sessionJwt"], jwks, pid)
    refresh = verify_jwt_with_jwks(refresh_jwt, jwks, pid)
    assert_token_claims(session, pid, user["userId"], "DS")
    assert_token_claims(refresh, pid, user["userId"], "DSR", user["loginIds"][0])
    if settings.session_ttl_seconds is not None:
        assert session["exp"] - session["iat"] == settings.session_ttl_seconds
    # The cookie is the refresh JWT's: it expires with it, and only the rest of its life is left.
    assert body["cookieExpiration"] == refresh["exp"]
    assert 0 < body["cookieMaxAge"] <= refresh["exp"] - refresh["iat"]
    assert abs(body["cookieMaxAge"] - (refresh["exp"] - time.time())) <= 5
    return body


# --------------------------------------------------------------------------
# refresh, validate_and_refresh, me
# --------------------------------------------------------------------------


def test_refresh_session_returns_a_fresh_session(client, api, settings, jwks):
    pid = settings.project_id
    login_id, key, clock = enrolled(client)
    signed_in = sign_in(client, login_id, key, clock)
    user_id = assert_sign_in(signed_in, client, pid, login_id, first_seen=True)
    old_session, refresh_jwt = tokens(signed_in)
    old_iat = signed_in["sessionToken"]["iat"]

    # Let a second pass so the new session JWT cannot coincide with the old one.
    time.sleep(max(0.0, old_iat + 1.05 - time.time()))
    resp = client.refresh_session(refresh_jwt)
    new_session = assert_refreshed(resp, client, pid, refresh_jwt, user_id, jwks)
    assert new_session != old_session
    assert resp["sessionToken"]["iat"] > old_iat
    assert resp["sessionToken"]["exp"] > signed_in["sessionToken"]["exp"]
    assert resp["user"] == signed_in["user"]
    assert resp["firstSeen"] is False
    cookie = resp["cookieData"]
    assert cookie["exp"] == signed_in["refreshSessionToken"]["exp"], cookie

    # The same over raw HTTP, with `{}` and with no body at all.
    user = signed_in["user"]
    for body in ({}, None):
        assert_jwt_response(api.refresh(refresh_jwt, body=body), refresh_jwt, user, settings, jwks)

    # Refreshing does not use the refresh JWT up: it keeps working.
    assert_refreshed(client.refresh_session(refresh_jwt), client, pid, refresh_jwt, user_id, jwks)

    # Not a refresh JWT of this project: refused, by the SDK's own check or by the server.
    assert_error(api.refresh(old_session), 401, INVALID_REFRESH)
    assert_error(api.refresh("aaaa.bbbb.cccc"), 401, INVALID_REFRESH)
    resp = api.request("POST", "/v1/auth/refresh", headers=api.bearer())
    assert resp.status_code == 401, resp.text


def test_validate_and_refresh_session_replaces_an_expired_session(sdk, settings, jwks):
    pid = settings.project_id
    # No leeway: the session counts as expired as soon as its exp has passed.
    client = sdk(jwt_validation_leeway=0)
    login_id, key, clock = enrolled(client)
    signed_in = sign_in(client, login_id, key, clock)
    user_id = assert_sign_in(signed_in, client, pid, login_id, first_seen=True)
    session_jwt, refresh_jwt = tokens(signed_in)
    session = signed_in["sessionToken"]
    lifetime = session["exp"] - session["iat"]
    if lifetime > MAX_WAITABLE_SESSION_SECONDS:
        pytest.fail(
            f"the server issues session JWTs for {lifetime}s; run it with SESSION_TTL_SECONDS of a few "
            "seconds (make test does) so that an expired session can be tested",
            pytrace=False,
        )

    # While the session is valid, nothing is refreshed: the same session JWT comes back.
    resp = client.validate_and_refresh_session(session_jwt, refresh_jwt)
    assert resp["jwt"] == session_jwt and resp["userId"] == user_id

    time.sleep(max(0.0, session["exp"] + 1.0 - time.time()))
    with pytest.raises(AuthException) as err:
        client.validate_session(session_jwt)
    assert err.value.status_code == 401, err.value  # expired
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_jwt_with_jwks(session_jwt, jwks, pid)

    resp = client.validate_and_refresh_session(session_jwt, refresh_jwt)
    new_session = assert_refreshed(resp, client, pid, refresh_jwt, user_id, jwks)
    assert new_session != session_jwt
    assert resp["sessionToken"]["exp"] > time.time()
    assert resp["sessionToken"]["iat"] > session["iat"]


def test_me_returns_the_user(client, api, settings):
    profile = {
        "name": "Katherine Johnson",
        "givenName": "Katherine",
        "middleName": "Coleman",
        "familyName": "Johnson",
        "phone": "+15555550123",
    }
    login_id, key, clock = enrolled(client, {**profile, "email": "kj@example.com"})
    signed_in = sign_in(client, login_id, key, clock)
    user_id = assert_sign_in(signed_in, client, settings.project_id, login_id, first_seen=True)
    _, refresh_jwt = tokens(signed_in)

    me = client.me(refresh_jwt)
    assert_user_shape(me)
    assert me["loginIds"] == [login_id]
    assert me["userId"] == user_id
    assert me["TOTP"] is True
    assert me["status"] == "enabled"
    for field, value in profile.items():
        assert me[field] == value, field
    assert me["email"] == "kj@example.com"
    assert me["createdTime"] == signed_in["user"]["createdTime"]
    # The same user object as the sign-in answered.
    assert me == signed_in["user"]

    resp = api.me(refresh_jwt)
    assert resp.status_code == 200, resp.text
    assert_json_content_type(resp)
    assert resp.headers.get("Cache-Control") == "no-store", resp.headers
    assert resp.json() == me

    # Only a refresh JWT of this project will do.
    assert_error(api.me(signed_in["sessionToken"]["jwt"]), 401, INVALID_REFRESH)
    assert_error(api.me("aaaa.bbbb.cccc"), 401, INVALID_REFRESH)
    with pytest.raises(AuthException) as err:
        client.me("aaaa.bbbb.cccc")
    sdk_error(err.value, 401, INVALID_REFRESH)


def test_session_routes_take_only_their_method_and_an_object(client, api):
    login_id, key, clock = enrolled(client)
    _, refresh_jwt = tokens(sign_in(client, login_id, key, clock))
    auth = api.bearer(refresh_jwt)
    for path in ("/v1/auth/refresh", "/v1/auth/logout", "/v1/auth/logoutall"):
        assert_error(api.request("GET", path, headers=auth), 405, "E011001")
        json_headers = {**auth, "Content-Type": "application/json"}
        assert_error(api.request("POST", path, data="{not json", headers=json_headers), 400, "E011001")
        assert_error(api.post_json(path, ["x"], headers=auth), 400, "E011001")
    assert_error(api.request("POST", "/v1/auth/me", headers=auth), 405, "E011001")
    # None of that ended the session.
    assert api.me(refresh_jwt).json()["loginIds"] == [login_id]
    resp = api.refresh(refresh_jwt, body={"ignored": True})
    assert resp.status_code == 200, resp.text


# --------------------------------------------------------------------------
# logout, logout-all
# --------------------------------------------------------------------------


def test_logout_revokes_that_refresh_jwt_everywhere(client, api, settings, jwks):
    pid = settings.project_id
    login_id, key, clock = enrolled(client)
    kept = sign_in(client, login_id, key, clock)
    user_id = assert_sign_in(kept, client, pid, login_id, first_seen=True)
    gone = sign_in(client, login_id, key, clock)
    assert_sign_in(gone, client, pid, login_id, first_seen=False)
    _, kept_refresh = tokens(kept)
    _, gone_refresh = tokens(gone)
    assert gone_refresh != kept_refresh

    # Live until logged out.
    assert_refreshed(client.refresh_session(gone_refresh), client, pid, gone_refresh, user_id, jwks)
    resp = client.logout(gone_refresh)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}

    # Every route that takes a refresh JWT now refuses it as revoked.
    assert_error(api.refresh(gone_refresh), 401, REVOKED)
    assert_error(api.me(gone_refresh), 401, REVOKED)
    assert_error(api.update(login_id, gone_refresh), 401, REVOKED)
    assert_error(api.logout(gone_refresh), 401, REVOKED)
    assert_error(api.logout_all(gone_refresh), 401, REVOKED)
    # Step-up with a right, unused code: only the token can be the reason.
    step = clock.fresh_step()
    code = code_at(key, step)
    assert_error(api.verify(login_id, code, {"stepup": True}, refresh_jwt=gone_refresh), 401, REVOKED)

    # The SDK raises the server's answer.
    with pytest.raises(AuthException) as err:
        client.refresh_session(gone_refresh)
    sdk_error(err.value, 401, REVOKED)
    with pytest.raises(AuthException) as err:
        client.validate_and_refresh_session("not-a-session", gone_refresh)
    sdk_error(err.value, 401, REVOKED)
    with pytest.raises(AuthException) as err:
        client.me(gone_refresh)
    sdk_error(err.value, 401, REVOKED)
    with pytest.raises(AuthException) as err:
        client.logout(gone_refresh)
    sdk_error(err.value, 401, REVOKED)

    # The user's other session is untouched (neither logout nor the refused
    # logout-all ended it), and the refused step-up did not use the code up.
    assert_refreshed(client.refresh_session(kept_refresh), client, pid, kept_refresh, user_id, jwks)
    resp = client.totp.sign_in_code(login_id, code, LoginOptions(stepup=True), refresh_token=kept_refresh)
    clock.accepted(step)
    assert assert_sign_in(resp, client, pid, login_id, first_seen=False) == user_id
    assert client.me(kept_refresh)["userId"] == user_id


def test_logout_all_revokes_every_earlier_session(client, api, settings, jwks):
    pid = settings.project_id
    login_id, key, clock = enrolled(client)
    first = sign_in(client, login_id, key, clock)
    user_id = assert_sign_in(first, client, pid, login_id, first_seen=True)
    second = sign_in(client, login_id, key, clock)
    assert_sign_in(second, client, pid, login_id, first_seen=False)
    refreshes = [tokens(first)[1], tokens(second)[1]]
    for refresh_jwt in refreshes:
        assert_refreshed(client.refresh_session(refresh_jwt), client, pid, refresh_jwt, user_id, jwks)

    resp = client.logout_all(refreshes[0])
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}

    for refresh_jwt in refreshes:
        assert_error(api.refresh(refresh_jwt), 401, REVOKED)
        assert_error(api.me(refresh_jwt), 401, REVOKED)
        assert_error(api.logout(refresh_jwt), 401, REVOKED)
        assert_error(api.logout_all(refresh_jwt), 401, REVOKED)
        with pytest.raises(AuthException) as err:
            client.refresh_session(refresh_jwt)
        sdk_error(err.value, 401, REVOKED)

    # Only sessions issued so far end: a sign-in afterwards works.
    third = sign_in(client, login_id, key, clock)
    assert assert_sign_in(third, client, pid, login_id, first_seen=False) == user_id
    _, third_refresh = tokens(third)
    assert_refreshed(client.refresh_session(third_refresh), client, pid, third_refresh, user_id, jwks)
    assert client.me(third_refresh)["userId"] == user_id


# --------------------------------------------------------------------------
# refresh racing logout
# --------------------------------------------------------------------------

RACE_ROUNDS = 3
RACE_REFRESHERS = 8
# Per refresher and round: enough to outlast the logout, bounded if something hangs.
RACE_MAX_REFRESHES = 200
# After the first successful refresh, the logout goes out after this pause (per round).
RACE_LOGOUT_DELAYS = (0.0, 0.01, 0.05)


@dataclass(frozen=True)
class TimedCall:
    kind: str
    sent: float
    answered: float
    status: int
    body: dict

    @staticmethod
    def of(kind: str, send) -> "TimedCall":
        sent = time.time()
        resp = send()
        answered = time.time()
        try:
            body = resp.json()
        except ValueError:
            body = {"raw": resp.text}
        return TimedCall(kind, sent, answered, resp.status_code, body)


def race_refreshes_against_logout(settings, refresh_jwt: str, logout_delay: float):
    """RACE_REFRESHERS threads refresh `refresh_jwt` over and over; once one refresh has
    succeeded, one more thread logs it out. Every refresher keeps going until it has
    sent a refresh after the logout's answer arrived. Returns (logout, refreshes)."""
    first_success = threading.Event()
    logout_answered = threading.Event()
    logout: list[TimedCall] = []
    barrier = threading.Barrier(RACE_REFRESHERS + 1)

    def refresher() -> list[TimedCall]:
        api = Api(settings)
        calls = []
        barrier.wait(timeout=60)
        for _ in range(RACE_MAX_REFRESHES):
            call = TimedCall.of("refresh", lambda: api.refresh(refresh_jwt))
            calls.append(call)
            if call.status == 200:
                first_success.set()
            if logout_answered.is_set() and call.sent > logout[0].answered:
                break
        return calls

    def logouter() -> None:
        api = Api(settings)
        barrier.wait(timeout=60)
        first_success.wait(timeout=60)
        time.sleep(logout_delay)
        logout.append(TimedCall.of("logout", lambda: api.logout(refresh_jwt)))
        logout_answered.set()

    with ThreadPoolExecutor(max_workers=RACE_REFRESHERS + 1) as pool:
        futures = [pool.submit(refresher) for _ in range(RACE_REFRESHERS)]
        logout_future = pool.submit(logouter)
        logout_future.result(timeout=300)
        refreshes = [call for future in futures for call in future.result(timeout=300)]
    return logout[0], refreshes


def test_refresh_racing_logout_never_outlives_the_logout(client, api, settings, jwks):
    for round_no, delay in zip(range(RACE_ROUNDS), RACE_LOGOUT_DELAYS):
        # A new user per round: its first sign-in needs no wait.
        login_id, key, clock = enrolled(client)
        signed_in = sign_in(client, login_id, key, clock)
        user_id = assert_sign_in(signed_in, client, settings.project_id, login_id, first_seen=True)
        _, refresh_jwt = tokens(signed_in)

        logout, refreshes = race_refreshes_against_logout(settings, refresh_jwt, delay)
        assert logout.status == 200 and logout.body == {}, logout

        succeeded = [c for c in refreshes if c.status == 200]
        refused = [c for c in refreshes if c.status != 200]
        for call in refused:
            assert call.status == 401 and call.body.get("errorCode") == REVOKED, call
        for call in succeeded:
            assert call.body["refreshJwt"] == refresh_jwt, call
            assert verify_jwt_with_jwks(call.body["sessionJwt"], jwks, settings.project_id)["sub"] == user_id
        # Linearizable: no refresh sent after the logout's answer arrived succeeded ...
        late = [c for c in succeeded if c.sent >= logout.answered]
        assert not late, f"round {round_no}: refreshes sent after the logout answered succeeded: {late}"
        # ... and none answered before the logout was sent failed.
        early = [c for c in refused if c.answered <= logout.sent]
        assert not early, f"round {round_no}: refreshes refused before any logout was sent: {early}"
        # Both sides of the race happened.
        assert succeeded, f"round {round_no}: no refresh succeeded"
        after = [c for c in refreshes if c.sent > logout.answered]
        assert len(after) >= RACE_REFRESHERS, f"round {round_no}: only {len(after)} refreshes after the logout"
        overlapping = [c for c in refreshes if c.sent < logout.answered and c.answered > logout.sent]
        print(
            f"[e2e] race round {round_no}: {len(succeeded)} refreshes succeeded, {len(refused)} refused; "
            f"{len(overlapping)} overlapped the logout ({(logout.answered - logout.sent) * 1000:.0f} ms), "
            f"{sum(c.status == 200 for c in overlapping)} of them succeeded"
        )

        # Settled: the token is revoked for good.
        assert_error(api.refresh(refresh_jwt), 401, REVOKED)
        assert_error(api.me(refresh_jwt), 401, REVOKED)
        with pytest.raises(AuthException) as err:
            client.refresh_session(refresh_jwt)
        sdk_error(err.value, 401, REVOKED)


# --------------------------------------------------------------------------
# what else revokes: a new key, revokeOtherSessions
# --------------------------------------------------------------------------


def test_a_confirmed_new_key_revokes_earlier_sessions(client, api, settings, jwks):
    pid = settings.project_id
    login_id, key1, clock = enrolled(client)
    first = sign_in(client, login_id, key1, clock)
    user_id = assert_sign_in(first, client, pid, login_id, first_seen=True)
    second = sign_in(client, login_id, key1, clock)
    _, old_refresh = tokens(first)
    _, logged_out = tokens(second)

    # A logged-out refresh JWT cannot change the key.
    assert client.logout(logged_out).status_code == 200
    assert_error(api.update(login_id, logged_out), 401, REVOKED)
    with pytest.raises(AuthException) as err:
        client.totp.update_user(login_id, logged_out)
    sdk_error(err.value, 401, REVOKED)

    key2 = assert_enrollment(client.totp.update_user(login_id, old_refresh), login_id)
    assert key2 != key1
    # Until a code of the new key confirms it, the sessions live on.
    assert_refreshed(client.refresh_session(old_refresh), client, pid, old_refresh, user_id, jwks)

    confirmed = sign_in(client, login_id, key2, clock)
    assert assert_sign_in(confirmed, client, pid, login_id, first_seen=False) == user_id
    _, new_refresh = tokens(confirmed)

    # Every refresh JWT issued before the confirmation is revoked ...
    assert_error(api.refresh(old_refresh), 401, REVOKED)
    assert_error(api.me(old_refresh), 401, REVOKED)
    assert_error(api.update(login_id, old_refresh), 401, REVOKED)
    with pytest.raises(AuthException) as err:
        client.refresh_session(old_refresh)
    sdk_error(err.value, 401, REVOKED)
    # ... the one the confirming sign-in returned works.
    assert_refreshed(client.refresh_session(new_refresh), client, pid, new_refresh, user_id, jwks)
    assert client.me(new_refresh)["userId"] == user_id
    assert_enrollment(client.totp.update_user(login_id, new_refresh), login_id)


def test_revoke_other_sessions_on_sign_in(client, api, settings, jwks):
    pid = settings.project_id
    login_id, key, clock = enrolled(client)
    first = sign_in(client, login_id, key, clock)
    user_id = assert_sign_in(first, client, pid, login_id, first_seen=True)
    _, old_refresh = tokens(first)

    second = sign_in(client, login_id, key, clock, LoginOptions(revoke_other_sessions=True))
    assert assert_sign_in(second, client, pid, login_id, first_seen=False) == user_id
    _, new_refresh = tokens(second)

    assert_error(api.refresh(old_refresh), 401, REVOKED)
    assert_error(api.me(old_refresh), 401, REVOKED)
    with pytest.raises(AuthException) as err:
        client.refresh_session(old_refresh)
    sdk_error(err.value, 401, REVOKED)

    assert_refreshed(client.refresh_session(new_refresh), client, pid, new_refresh, user_id, jwks)
    assert client.me(new_refresh)["userId"] == user_id

    # An ordinary sign-in afterwards ends nothing: both later sessions stay.
    third = sign_in(client, login_id, key, clock, LoginOptions(revoke_other_sessions=False))
    _, third_refresh = tokens(third)
    for refresh_jwt in (new_refresh, third_refresh):
        assert_refreshed(client.refresh_session(refresh_jwt), client, pid, refresh_jwt, user_id, jwks)


# --------------------------------------------------------------------------
# projects
# --------------------------------------------------------------------------


def test_session_tokens_do_not_cross_projects(sdk, api, settings, jwks):
    pid, other = settings.project_id, settings.other_project_id
    if not other:
        pytest.skip("TOTP_OTHER_PROJECT_ID is not set")
    client_a, client_b = sdk(), sdk(other)

    login_id, key, clock = enrolled(client_b)
    signed_in_b = sign_in(client_b, login_id, key, clock)
    user_id = assert_sign_in(signed_in_b, client_b, other, login_id, first_seen=True)
    session_b, refresh_b = tokens(signed_in_b)
    for token in (session_b, refresh_b):
        claims = unverified_claims(token)
        assert claims["iss"] == other and claims["aud"] == other, claims

    # Each project signs with its own keys: the key sets share no kid and no key.
    jwks_b = api.keys(other).json()
    kids_a = {k["kid"] for k in jwks["keys"]}
    kids_b = {k["kid"] for k in jwks_b["keys"]}
    assert kids_a and kids_b
    assert not kids_a & kids_b, f"shared kids {kids_a & kids_b}"

    def public_parts(keys):  # RSA or EC: the public key material itself
        return {(k.get("n"), k.get("x"), k.get("y")) for k in keys["keys"]}

    assert not public_parts(jwks) & public_parts(jwks_b), "a key published for both"
    kid_b = jwt.get_unverified_header(session_b)["kid"]
    assert kid_b in kids_b and kid_b not in kids_a

    # B's client accepts B's session JWT; A's client refuses it.
    assert client_b.validate_session(session_b)["userId"] == user_id
    with pytest.raises(AuthException):
        client_a.validate_session(session_b)
    # Even holding B's public key, a client of A refuses it: the audience is B.
    jwk_b = next(k for k in jwks_b["keys"] if k["kid"] == kid_b)
    assert sdk(other, public_key=jwk_b).validate_session(session_b)["userId"] == user_id
    with pytest.raises(jwt.InvalidAudienceError):
        sdk(public_key=jwk_b).validate_session(session_b)

    # A's session routes refuse B's refresh JWT as invalid ...
    assert_error(api.refresh(refresh_b), 401, INVALID_REFRESH)
    assert_error(api.me(refresh_b), 401, INVALID_REFRESH)
    assert_error(api.logout(refresh_b), 401, INVALID_REFRESH)
    assert_error(api.logout_all(refresh_b), 401, INVALID_REFRESH)
    with pytest.raises(AuthException):
        client_a.refresh_session(refresh_b)
    # ... and none of that touched it: B's refresh route takes it.
    resp = api.refresh(refresh_b, project_id=other)
    assert resp.status_code == 200, resp.text
    assert verify_jwt_with_jwks(resp.json()["sessionJwt"], jwks_b, other)["sub"] == user_id
    assert client_b.me(refresh_b)["userId"] == user_id

    # The other way round: B's routes refuse A's refresh JWT.
    login_a, key_a, clock_a = enrolled(client_a)
    _, refresh_a = tokens(sign_in(client_a, login_a, key_a, clock_a))
    assert_error(api.refresh(refresh_a, project_id=other), 401, INVALID_REFRESH)
    assert_error(api.me(refresh_a, project_id=other), 401, INVALID_REFRESH)
    assert api.refresh(refresh_a).status_code == 200
