"""The official Descope Python SDK, pointed at the service by base_url only.

The SDK itself fetches /v2/keys/{projectId} and validates both JWTs of every
sign-in; these tests also assert on the exact shapes the SDK returns:

  sign_up / update_user -> the server's JSON as a dict: provisioningURL, image, key
  sign_in_code          -> {"sessionToken": {claims..., "jwt": str},
                            "refreshSessionToken": {claims..., "jwt": str},
                            "permissions": [], "roles": [], "tenants": {},
                            "projectId": iss, "userId": sub, "cookieData": {...},
                            "user": {...}, "firstSeen": bool}
  validate_session      -> {claims..., "jwt", "sessionToken": {claims...}, "permissions",
                            "roles", "tenants", "projectId", "userId"}
  errors                -> AuthException(status_code=<HTTP status>, error_type="server error",
                            error_message=<raw response body>)
                           429 -> RateLimitException(status_code=<errorCode>, ...,
                            rate_limit_parameters={"Retry-After": int})
"""

from __future__ import annotations

import base64

import pytest
from descope import AuthException, DescopeClient, LoginOptions, RateLimitException

from e2e_support import (
    PNG_SIGNATURE,
    ReplayClock,
    assert_enrollment,
    assert_sign_in,
    code_at,
    new_login_id,
    sdk_error,
    unverified_claims,
    wrong_code,
)

# Upper bound on wrong codes before the per-user lockout must have kicked in.
MAX_WRONG_CODES_BEFORE_LOCKOUT = 20


def test_sign_up_returns_key_three_ways(client):
    login_id = new_login_id()
    enroll = client.totp.sign_up(login_id, {"name": "Grace Hopper", "email": login_id})
    key = assert_enrollment(enroll, login_id)
    assert f"secret={key}" in enroll["provisioningURL"]
    png = base64.b64decode(enroll["image"], validate=True)  # raw base64, no data: prefix
    assert png.startswith(PNG_SIGNATURE)


def test_totp_lifecycle(client, settings):
    """sign_up -> sign_in_code -> validate_session -> update_user -> new key works,
    old key gone -> step-up. Each user needs three TOTP time steps; the server's one
    step of skew either side lets them fit in one 30 s step, or two with one wait.

    A second user (bob) rides along on the same steps to show that after
    update_user the current key keeps working until the new key is verified.
    """
    pid = settings.project_id
    alice, bob = new_login_id(), new_login_id()
    alice_clock, bob_clock = ReplayClock(), ReplayClock()

    # ---- time step S0 -------------------------------------------------------
    key1 = assert_enrollment(client.totp.sign_up(alice, {"name": "Alice"}), alice)
    bob_key1 = assert_enrollment(client.totp.sign_up(bob), bob)

    step = alice_clock.fresh_step()
    resp = client.totp.sign_in_code(alice, code_at(key1, step))
    alice_clock.accepted(step)
    user_id = assert_sign_in(resp, client, pid, alice, first_seen=True)
    assert resp["user"]["name"] == "Alice"
    session_jwt = resp["sessionToken"]["jwt"]
    refresh_jwt = resp["refreshSessionToken"]["jwt"]

    validated = client.validate_session(session_jwt)
    assert validated["jwt"] == session_jwt
    assert validated["sessionToken"]["sub"] == user_id
    assert validated["userId"] == user_id
    assert validated["projectId"] == pid
    assert validated["drn"] == "DS" and validated["amr"] == ["totp"]

    # A wrong code: AuthException carrying our error body.
    with pytest.raises(AuthException) as err:
        client.totp.sign_in_code(alice, wrong_code(key1))
    sdk_error(err.value, 401, "E061102")

    # The user is registered: sign_up again is refused.
    with pytest.raises(AuthException) as err:
        client.totp.sign_up(alice)
    sdk_error(err.value, 409, "E062107")

    # Step-up without a refresh token: the SDK refuses before sending anything.
    with pytest.raises(AuthException) as err:
        client.totp.sign_in_code(alice, code_at(key1, step + 1), LoginOptions(stepup=True))
    assert err.value.status_code == 400 and err.value.error_type == "invalid argument"

    upd = client.totp.update_user(alice, refresh_jwt)
    key2 = assert_enrollment(upd, alice)
    assert key2 != key1

    step = bob_clock.fresh_step()
    resp = client.totp.sign_in_code(bob, code_at(bob_key1, step))
    bob_clock.accepted(step)
    assert_sign_in(resp, client, pid, bob, first_seen=True)
    bob_key2 = assert_enrollment(client.totp.update_user(bob, resp["refreshSessionToken"]["jwt"]), bob)

    # ---- time step S1 -------------------------------------------------------
    step = alice_clock.fresh_step()
    resp = client.totp.sign_in_code(alice, code_at(key2, step))
    alice_clock.accepted(step)
    assert assert_sign_in(resp, client, pid, alice, first_seen=False) == user_id
    refresh_jwt = resp["refreshSessionToken"]["jwt"]
    assert client.validate_session(resp["sessionToken"]["jwt"])["userId"] == user_id

    # bob's new key is not verified yet: his current key still works.
    step = bob_clock.fresh_step()
    resp = client.totp.sign_in_code(bob, code_at(bob_key1, step))
    bob_clock.accepted(step)
    assert_sign_in(resp, client, pid, bob, first_seen=False)

    # ---- time step S2 -------------------------------------------------------
    step = alice_clock.fresh_step()
    # After the new key was verified, the old key is gone (a fresh step, so this is not a replay).
    with pytest.raises(AuthException) as err:
        client.totp.sign_in_code(alice, code_at(key1, step))
    sdk_error(err.value, 401, "E061102")

    # Step-up with the refresh token from the last sign-in.
    resp = client.totp.sign_in_code(alice, code_at(key2, step), LoginOptions(stepup=True), refresh_token=refresh_jwt)
    alice_clock.accepted(step)
    assert assert_sign_in(resp, client, pid, alice, first_seen=False) == user_id
    assert client.validate_session(resp["sessionToken"]["jwt"])["userId"] == user_id

    # bob's new key completes his update.
    step = bob_clock.fresh_step()
    resp = client.totp.sign_in_code(bob, code_at(bob_key2, step))
    bob_clock.accepted(step)
    assert_sign_in(resp, client, pid, bob, first_seen=False)

    assert alice_clock.waits <= 2 and bob_clock.waits <= 2


def test_custom_claims_land_under_nsec(client, settings):
    login_id = new_login_id()
    key = client.totp.sign_up(login_id)["key"]
    custom = {"tier": "gold", "n": 7, "nested": {"list": [1, "two"], "ok": True}}
    step = ReplayClock().fresh_step()
    resp = client.totp.sign_in_code(login_id, code_at(key, step), LoginOptions(custom_claims=custom))
    assert_sign_in(resp, client, settings.project_id, login_id, first_seen=True)

    session_jwt = resp["sessionToken"]["jwt"]
    assert resp["sessionToken"]["nsec"] == custom
    assert unverified_claims(session_jwt)["nsec"] == custom
    assert client.validate_session(session_jwt)["nsec"] == custom


def test_sdk_error_paths(client, settings):
    # Unknown user.
    with pytest.raises(AuthException) as err:
        client.totp.sign_in_code(new_login_id(), "123456")
    sdk_error(err.value, 404, "E062108")

    # Code that is not 6 digits.
    login_id = new_login_id()
    key = client.totp.sign_up(login_id)["key"]
    with pytest.raises(AuthException) as err:
        client.totp.sign_in_code(login_id, "12ab56")
    sdk_error(err.value, 400, "E011003")

    clock = ReplayClock()
    step = clock.fresh_step()
    resp = client.totp.sign_in_code(login_id, code_at(key, step))
    clock.accepted(step)
    assert_sign_in(resp, client, settings.project_id, login_id, first_seen=True)

    # update_user / step-up with a refresh token the server must reject.
    with pytest.raises(AuthException) as err:
        client.totp.update_user(login_id, "aaaa.bbbb.cccc")
    sdk_error(err.value, 401, "E061004")
    with pytest.raises(AuthException) as err:
        client.totp.update_user(login_id, resp["sessionToken"]["jwt"])  # a session JWT, not a refresh JWT
    sdk_error(err.value, 401, "E061004")
    with pytest.raises(AuthException) as err:
        # next step's code: valid and unused, so only the token can be the reason
        client.totp.sign_in_code(
            login_id, code_at(key, step + 1), LoginOptions(stepup=True), refresh_token="aaaa.bbbb.cccc"
        )
    sdk_error(err.value, 401, "E061004")

    # A project the deployment does not serve.
    stranger = DescopeClient(project_id="P" + "0" * 27, base_url=settings.base_url)
    with pytest.raises(AuthException) as err:
        stranger.totp.sign_up(new_login_id())
    sdk_error(err.value, 401, "E011003")


def test_lockout_raises_rate_limit_exception(client, settings):
    login_id = new_login_id()
    key = client.totp.sign_up(login_id)["key"]
    clock = ReplayClock()
    step = clock.fresh_step()
    assert_sign_in(client.totp.sign_in_code(login_id, code_at(key, step)), client, settings.project_id, login_id, True)
    clock.accepted(step)

    locked = None
    for _ in range(MAX_WRONG_CODES_BEFORE_LOCKOUT):
        try:
            client.totp.sign_in_code(login_id, wrong_code(key))
        except RateLimitException as exc:
            locked = exc
            break
        except AuthException as exc:
            sdk_error(exc, 401, "E061102")
    assert locked is not None, f"no lockout after {MAX_WRONG_CODES_BEFORE_LOCKOUT} wrong codes"
    # The SDK puts the body's errorCode into status_code for a 429.
    assert locked.status_code == "E061103", locked
    assert locked.error_type == "API rate limit exceeded"
    assert locked.error_description and locked.error_message
    retry_after = locked.rate_limit_parameters.get("Retry-After")
    assert isinstance(retry_after, int) and retry_after > 0, locked.rate_limit_parameters

    # While locked, even a right, unused code (the next step's) is refused the same way.
    with pytest.raises(RateLimitException) as err:
        client.totp.sign_in_code(login_id, code_at(key, step + 1))
    assert err.value.status_code == "E061103"
