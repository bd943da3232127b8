"""The management API: support's tools behind a management key of the project.

  POST /v1/mgmt/user/totp/delete {"loginId"} -> {"user": {..., "TOTP": false}}  (lost phone)
  POST /v1/mgmt/user/delete      {"loginId"} -> {}                               (erasure)
  GET  /v1/mgmt/user?loginId=…               -> {"user": {...}}                  (look up)
  POST /v1/mgmt/user/logout      {"loginId"} -> {}                               (sign out everywhere)

Each takes `Authorization: Bearer <projectId>:<managementKey>`; anything else is
refused with 401 E011003 and changes nothing. The official SDK makes the calls
(`admin`: a DescopeClient holding the key, in verbose mode so that the answers of
the calls that return None can be seen); raw HTTP where a status, an errorCode or a
wrong header must be sent. A revoked refresh JWT gets 401 E064001, an unknown user
404 E062108, a code of a key that is gone 401 E061102.
"""

from __future__ import annotations

import secrets
import uuid

import pytest
import requests
from descope import AuthException, DescopeClient

from e2e_support import (
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
    verify_jwt_with_jwks,
)

REVOKED = "E064001"
NOT_FOUND = "E062108"
WRONG_CODE = "E061102"
KEY_REFUSED = "E011003"
ALREADY_REGISTERED = "E062107"
MISSING_ARGUMENT = "E011002"
UNKNOWN_PROJECT = "P" + "0" * 27

REMOVE_TOTP = "/v1/mgmt/user/totp/delete"
DELETE = "/v1/mgmt/user/delete"
LOGOUT = "/v1/mgmt/user/logout"
LOAD = "/v1/mgmt/user"
ROUTES = (REMOVE_TOTP, DELETE, LOGOUT, LOAD)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def management_auth(project_id: str, key: str) -> dict:
    return {"Authorization": f"Bearer {project_id}:{key}"}


def mgmt_call(api: Api, route: str, login_id: str | None, headers: dict) -> requests.Response:
    """One management call over raw HTTP: the loginId in the query for a load, else in the body."""
    if route == LOAD:
        params = {} if login_id is None else {"loginId": login_id}
        return api.request("GET", LOAD, params=params, headers=headers)
    body = {} if login_id is None else {"loginId": login_id}
    return api.post_json(route, body, headers=headers)


def ok_json(resp: requests.Response) -> dict:
    assert resp.status_code == 200, f"{resp.status_code}: {resp.text}"
    assert_json_content_type(resp)
    assert resp.headers.get("Cache-Control") == "no-store", resp.headers
    return resp.json()


def last_answer(admin: DescopeClient) -> dict:
    """What the server answered to the admin client's last call (verbose mode)."""
    resp = admin.get_last_response()
    assert resp is not None, "the admin client is not verbose"
    assert resp.status_code == 200, resp.text
    return resp.json()


def enrolled(client: DescopeClient, user: dict | None = None, login_id: str | None = None):
    """A new user, signed up but not signed in: (loginId, key, clock)."""
    login_id = login_id or new_login_id()
    key = assert_enrollment(client.totp.sign_up(login_id, user), login_id)
    return login_id, key, ReplayClock()


def sign_in(client: DescopeClient, login_id: str, key: str, clock: ReplayClock) -> dict:
    step = clock.fresh_step()
    resp = client.totp.sign_in_code(login_id, code_at(key, step))
    clock.accepted(step)
    return resp


def refresh_of(resp: dict) -> str:
    return resp["refreshSessionToken"]["jwt"]


def assert_refresh_works(client: DescopeClient, refresh_jwt: str, user_id: str, project_id: str, jwks: dict) -> None:
    resp = client.refresh_session(refresh_jwt)
    assert resp["refreshSessionToken"]["jwt"] == refresh_jwt
    assert resp["userId"] == user_id and resp["projectId"] == project_id
    assert_token_claims(resp["sessionToken"], project_id, user_id, "DS")
    assert verify_jwt_with_jwks(resp["sessionToken"]["jwt"], jwks, project_id)["sub"] == user_id
    assert client.validate_session(resp["sessionToken"]["jwt"])["userId"] == user_id


def assert_refresh_revoked(
    api: Api,
    client: DescopeClient,
    refresh_jwt: str,
    login_id: str,
    project_id: str | None = None,
) -> None:
    """Every route that takes a refresh JWT refuses this one as revoked (E064001),
    also once its user is deleted or the loginId belongs to a new user."""
    assert_error(api.refresh(refresh_jwt, project_id=project_id), 401, REVOKED)
    assert_error(api.me(refresh_jwt, project_id=project_id), 401, REVOKED)
    assert_error(api.update(login_id, refresh_jwt, project_id=project_id), 401, REVOKED)
    assert_error(api.logout(refresh_jwt, project_id=project_id), 401, REVOKED)
    assert_error(api.logout_all(refresh_jwt, project_id=project_id), 401, REVOKED)
    with pytest.raises(AuthException) as err:
        client.refresh_session(refresh_jwt)
    sdk_error(err.value, 401, REVOKED)


def assert_code_refused(api: Api, login_id: str, key: str, clock: ReplayClock, status: int, code: str) -> None:
    """A code of `key` for a step the server has not accepted yet (so not a replay) is refused."""
    assert_error(api.verify(login_id, code_at(key, clock.fresh_step())), status, code)


def without_totp(user: dict) -> dict:
    return {k: v for k, v in user.items() if k != "TOTP"}


# --------------------------------------------------------------------------
# a lost phone: remove the key, enrol again
# --------------------------------------------------------------------------


def test_lost_phone_remove_key_and_enrol_again(client, admin, api, settings, jwks):
    pid = settings.project_id
    profile = {"name": "Mary Jackson", "givenName": "Mary", "familyName": "Jackson", "phone": "+15555550199"}
    login_id, key1, clock = enrolled(client, profile)
    signed_in = sign_in(client, login_id, key1, clock)
    user_id = assert_sign_in(signed_in, client, pid, login_id, first_seen=True)
    old_refresh = refresh_of(signed_in)
    before = admin.mgmt.user.load(login_id)["user"]
    assert before == signed_in["user"] and before["TOTP"] is True
    # A key change under way (not confirmed yet): that key must go as well.
    update_key = assert_enrollment(client.totp.update_user(login_id, old_refresh), login_id)

    assert admin.mgmt.user.remove_totp_seed(login_id) is None
    answer = last_answer(admin)
    assert set(answer) == {"user"}, answer
    removed = answer["user"]
    assert_user_shape(removed)
    assert removed["TOTP"] is False
    assert removed["userId"] == user_id
    for field, value in profile.items():
        assert removed[field] == value, field
    # Nothing else about the user changed.
    assert without_totp(removed) == without_totp(before)
    assert admin.mgmt.user.load(login_id) == {"user": removed}

    # Every session ended; neither the old key nor the unconfirmed new one signs in.
    assert_refresh_revoked(api, client, old_refresh, login_id)
    assert_code_refused(api, login_id, key1, clock, 401, WRONG_CODE)
    assert_code_refused(api, login_id, update_key, clock, 401, WRONG_CODE)

    # Sign-up is refused (anyone could send it: it needs only the project id),
    # and writes nothing: the user is as support left them.
    with pytest.raises(AuthException) as err:
        client.totp.sign_up(login_id)
    sdk_error(err.value, 409, ALREADY_REGISTERED)
    assert admin.mgmt.user.load(login_id) == {"user": removed}
    assert_code_refused(api, login_id, key1, clock, 401, WRONG_CODE)

    # Support hands the user a sign-in link (an embedded link); the user
    # redeems it with the SDK's magic-link verify: a session of the same user.
    token = admin.mgmt.user.generate_embedded_link(login_id)
    assert isinstance(token, str) and len(token) >= 52, token
    linked = client.magiclink.verify(token)
    assert assert_sign_in(linked, client, pid, login_id, first_seen=False, amr=("embeddedlink",)) == user_id
    assert linked["user"] == removed
    link_refresh = refresh_of(linked)
    with pytest.raises(AuthException) as err:
        client.magiclink.verify(token)
    sdk_error(err.value, 401, WRONG_CODE)

    # With that session the user enrols a new key: update, then verify.
    key2 = assert_enrollment(client.totp.update_user(login_id, link_refresh), login_id)
    assert key2 not in (key1, update_key)
    resp = sign_in(client, login_id, key2, clock)
    # Not a new user: the same userId, profile and creation time, with a key again.
    assert assert_sign_in(resp, client, pid, login_id, first_seen=False) == user_id
    assert resp["user"] == before
    new_refresh = refresh_of(resp)
    assert_refresh_works(client, new_refresh, user_id, pid, jwks)
    assert admin.mgmt.user.load(login_id) == {"user": before}
    # The new key ended the link's session; the old key stays gone.
    assert_refresh_revoked(api, client, link_refresh, login_id)
    assert_code_refused(api, login_id, key1, clock, 401, WRONG_CODE)


def test_remove_key_of_unknown_or_pending_user_is_404(client, admin, api, management_key, settings):
    auth = management_auth(settings.project_id, management_key)
    with pytest.raises(AuthException) as err:
        admin.mgmt.user.remove_totp_seed(new_login_id())
    sdk_error(err.value, 404, NOT_FOUND)

    # Only signed up: not a user yet, and the pending sign-up survives the refusal.
    login_id, key, clock = enrolled(client)
    assert_error(mgmt_call(api, REMOVE_TOTP, login_id, auth), 404, NOT_FOUND)
    resp = sign_in(client, login_id, key, clock)
    assert_sign_in(resp, client, settings.project_id, login_id, first_seen=True)


# --------------------------------------------------------------------------
# erasure
# --------------------------------------------------------------------------


def test_delete_erases_registered_pending_and_unknown_users(client, admin, api, management_key, settings, jwks):
    pid = settings.project_id
    auth = management_auth(pid, management_key)
    profile = {"name": "Dorothy Vaughan", "givenName": "Dorothy", "familyName": "Vaughan"}
    registered, key, clock = enrolled(client, profile)
    signed_in = sign_in(client, registered, key, clock)
    old_user_id = assert_sign_in(signed_in, client, pid, registered, first_seen=True)
    old_refresh = refresh_of(signed_in)
    assert_refresh_works(client, old_refresh, old_user_id, pid, jwks)
    pending, pending_key, pending_clock = enrolled(client)
    never = new_login_id()

    for login_id in (registered, pending, never):
        assert admin.mgmt.user.delete(login_id) is None
        assert last_answer(admin) == {}
        # Deleting again is no error either.
        assert ok_json(mgmt_call(api, DELETE, login_id, auth)) == {}

    for login_id in (registered, pending, never):
        with pytest.raises(AuthException) as err:
            admin.mgmt.user.load(login_id)
        sdk_error(err.value, 404, NOT_FOUND)
        assert_error(mgmt_call(api, LOAD, login_id, auth), 404, NOT_FOUND)
        assert_error(mgmt_call(api, LOGOUT, login_id, auth), 404, NOT_FOUND)
        assert_error(mgmt_call(api, REMOVE_TOTP, login_id, auth), 404, NOT_FOUND)
    # Their keys are gone with them: codes that would have signed in find no user.
    assert_code_refused(api, registered, key, clock, 404, NOT_FOUND)
    assert_code_refused(api, pending, pending_key, pending_clock, 404, NOT_FOUND)
    assert_code_refused(api, never, key, ReplayClock(), 404, NOT_FOUND)
    with pytest.raises(AuthException) as err:
        client.totp.sign_in_code(registered, code_at(key, clock.fresh_step()))
    sdk_error(err.value, 404, NOT_FOUND)
    assert_refresh_revoked(api, client, old_refresh, registered)

    # The loginIds are free: signing up makes new users, with nothing of the old ones.
    new_key = assert_enrollment(client.totp.sign_up(registered), registered)
    assert new_key != key
    resp = sign_in(client, registered, new_key, clock)
    new_user_id = assert_sign_in(resp, client, pid, registered, first_seen=True)
    assert new_user_id != old_user_id
    for field in profile:
        assert resp["user"][field] == "", f"{field} of the deleted user came back: {resp['user'][field]!r}"
    assert resp["user"]["createdTime"] >= signed_in["user"]["createdTime"]
    assert admin.mgmt.user.load(registered) == {"user": resp["user"]}
    assert_refresh_works(client, refresh_of(resp), new_user_id, pid, jwks)
    # The deleted user's refresh JWT does not come back to life with the new user.
    assert_refresh_revoked(api, client, old_refresh, registered)

    for login_id in (pending, never):
        new_key = assert_enrollment(client.totp.sign_up(login_id), login_id)
        assert new_key != pending_key
        resp = sign_in(client, login_id, new_key, ReplayClock())
        assert_sign_in(resp, client, pid, login_id, first_seen=True)


# --------------------------------------------------------------------------
# sign out everywhere
# --------------------------------------------------------------------------


def test_logout_user_ends_every_session_but_not_the_key(client, admin, api, management_key, settings, jwks):
    pid = settings.project_id
    auth = management_auth(pid, management_key)
    login_id, key, clock = enrolled(client)
    first = sign_in(client, login_id, key, clock)
    user_id = assert_sign_in(first, client, pid, login_id, first_seen=True)
    second = sign_in(client, login_id, key, clock)
    assert assert_sign_in(second, client, pid, login_id, first_seen=False) == user_id
    refreshes = [refresh_of(first), refresh_of(second)]
    for refresh_jwt in refreshes:
        assert_refresh_works(client, refresh_jwt, user_id, pid, jwks)
    before = admin.mgmt.user.load(login_id)["user"]

    assert admin.mgmt.user.logout_user(login_id) is None
    assert last_answer(admin) == {}
    for refresh_jwt in refreshes:
        assert_refresh_revoked(api, client, refresh_jwt, login_id)
    # The user is untouched, and signed out already: a second sign-out is no error.
    assert admin.mgmt.user.load(login_id) == {"user": before}
    assert ok_json(mgmt_call(api, LOGOUT, login_id, auth)) == {}

    # The key still signs in, and that session lives.
    third = sign_in(client, login_id, key, clock)
    assert assert_sign_in(third, client, pid, login_id, first_seen=False) == user_id
    assert third["user"] == before
    assert_refresh_works(client, refresh_of(third), user_id, pid, jwks)
    for refresh_jwt in refreshes:
        assert_error(api.refresh(refresh_jwt), 401, REVOKED)

    # Nobody to sign out: an unknown loginId, a sign-up that was never verified.
    with pytest.raises(AuthException) as err:
        admin.mgmt.user.logout_user(new_login_id())
    sdk_error(err.value, 404, NOT_FOUND)
    assert_error(mgmt_call(api, LOGOUT, new_login_id(), auth), 404, NOT_FOUND)
    pending, pending_key, pending_clock = enrolled(client)
    assert_error(mgmt_call(api, LOGOUT, pending, auth), 404, NOT_FOUND)
    assert_sign_in(sign_in(client, pending, pending_key, pending_clock), client, pid, pending, first_seen=True)


# --------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------


def test_load_returns_the_user(client, admin, api, management_key, settings):
    pid = settings.project_id
    auth = management_auth(pid, management_key)
    profile = {
        "name": "Katherine Johnson",
        "givenName": "Katherine",
        "middleName": "Coleman",
        "familyName": "Johnson",
        "email": "kj@example.com",
        "phone": "+15555550123",
    }
    # A '+' and an '@' in the loginId: the query string must carry them intact.
    login_id, key, clock = enrolled(client, profile, login_id=f"e2e+{uuid.uuid4().hex}@example.com")
    signed_in = sign_in(client, login_id, key, clock)
    user_id = assert_sign_in(signed_in, client, pid, login_id, first_seen=True)

    loaded = admin.mgmt.user.load(login_id)
    assert set(loaded) == {"user"}, loaded
    user = loaded["user"]
    assert_user_shape(user)
    assert user["loginIds"] == [login_id]
    assert user["userId"] == user_id
    assert user["TOTP"] is True
    assert user["status"] == "enabled"
    for field, value in profile.items():
        assert user[field] == value, field
    assert user == signed_in["user"]
    assert user == client.me(refresh_of(signed_in))

    assert ok_json(mgmt_call(api, LOAD, login_id, auth)) == loaded
    # Loading changes nothing: the session lives on.
    assert api.refresh(refresh_of(signed_in)).status_code == 200

    # Only a registered user is a user: not a pending sign-up, not an unknown loginId.
    pending, pending_key, pending_clock = enrolled(client, {"name": "Not Yet"})
    for login_id in (pending, new_login_id()):
        with pytest.raises(AuthException) as err:
            admin.mgmt.user.load(login_id)
        sdk_error(err.value, 404, NOT_FOUND)
        assert_error(mgmt_call(api, LOAD, login_id, auth), 404, NOT_FOUND)
    assert_sign_in(sign_in(client, pending, pending_key, pending_clock), client, pid, pending, first_seen=True)
    assert admin.mgmt.user.load(pending)["user"]["name"] == "Not Yet"


def test_management_routes_need_a_login_id_and_their_method(client, api, management_key, settings):
    auth = management_auth(settings.project_id, management_key)
    login_id, key, clock = enrolled(client)
    signed_in = sign_in(client, login_id, key, clock)
    for route in ROUTES:
        assert_error(mgmt_call(api, route, None, auth), 400, MISSING_ARGUMENT)
    for route in (REMOVE_TOTP, DELETE, LOGOUT):
        assert_error(api.request("GET", route, params={"loginId": login_id}, headers=auth), 405, "E011001")
    assert_error(api.post_json(LOAD, {"loginId": login_id}, headers=auth), 405, "E011001")
    # None of that touched the user.
    assert ok_json(mgmt_call(api, LOAD, login_id, auth))["user"] == signed_in["user"]
    assert api.refresh(refresh_of(signed_in)).status_code == 200


# --------------------------------------------------------------------------
# management keys
# --------------------------------------------------------------------------


def refused_credentials(project_id: str, key: str, refresh_jwt: str) -> dict[str, dict]:
    """Authorization headers that must not pass, by what is wrong with them."""
    other_key = secrets.token_urlsafe(32)
    return {
        "no Authorization header": {},
        "no key": {"Authorization": f"Bearer {project_id}"},
        "an empty key": {"Authorization": f"Bearer {project_id}:"},
        "a wrong key": management_auth(project_id, other_key),
        "the key cut short": management_auth(project_id, key[:-1]),
        "the key and more": management_auth(project_id, key + "A"),
        "the key in another case": management_auth(project_id, key.swapcase()),
        "the key without the project": {"Authorization": f"Bearer {key}"},
        "the key with an empty project": {"Authorization": f"Bearer :{key}"},
        "the key of a project not served": management_auth(UNKNOWN_PROJECT, key),
        "the key under another scheme": {"Authorization": f"Basic {project_id}:{key}"},
        "the user's refresh JWT": management_auth(project_id, refresh_jwt),
        "the refresh JWT before the key": {"Authorization": f"Bearer {project_id}:{refresh_jwt}:{key}"},
    }


def test_management_routes_refuse_anything_but_the_projects_key(
    sdk, client, admin, api, management_key, settings, jwks
):
    pid = settings.project_id
    login_id, key, clock = enrolled(client, {"name": "Ada Lovelace"})
    signed_in = sign_in(client, login_id, key, clock)
    user_id = assert_sign_in(signed_in, client, pid, login_id, first_seen=True)
    refresh_jwt = refresh_of(signed_in)
    pending, pending_key, pending_clock = enrolled(client)
    before = admin.mgmt.user.load(login_id)

    refused = refused_credentials(pid, management_key, refresh_jwt)
    for what, headers in refused.items():
        for route in ROUTES:
            for target in (login_id, pending, new_login_id()):
                resp = mgmt_call(api, route, target, headers)
                assert resp.status_code == 401, f"{route} with {what}: {resp.status_code} {resp.text}"
                assert_error(resp, 401, KEY_REFUSED)

    # The SDK with a wrong key, or with the refresh JWT as its key, gets the same answer.
    for wrong in (secrets.token_urlsafe(32), refresh_jwt):
        stranger = sdk(management_key=wrong)
        for call in (
            stranger.mgmt.user.load,
            stranger.mgmt.user.remove_totp_seed,
            stranger.mgmt.user.logout_user,
            stranger.mgmt.user.delete,
        ):
            with pytest.raises(AuthException) as err:
                call(login_id)
            sdk_error(err.value, 401, KEY_REFUSED)
    # A project the deployment does not serve, with this project's key.
    with pytest.raises(AuthException) as err:
        sdk(UNKNOWN_PROJECT, management_key=management_key).mgmt.user.load(login_id)
    sdk_error(err.value, 401, KEY_REFUSED)

    # Nothing changed: the user, their key and session, the pending sign-up.
    assert admin.mgmt.user.load(login_id) == before
    assert_refresh_works(client, refresh_jwt, user_id, pid, jwks)
    resp = sign_in(client, login_id, key, clock)
    assert assert_sign_in(resp, client, pid, login_id, first_seen=False) == user_id
    assert resp["user"] == before["user"]
    resp = sign_in(client, pending, pending_key, pending_clock)
    assert_sign_in(resp, client, pid, pending, first_seen=True)


def test_management_keys_are_per_project(sdk, client, admin, api, management_key, other_management_key, settings, jwks):
    pid, other = settings.project_id, settings.other_project_id
    client_b = sdk(other)
    admin_b = sdk(other, management_key=other_management_key, verbose=True)

    # One loginId registered in both projects, and a user only in A.
    shared = new_login_id()
    _, key_a, clock_a = enrolled(client, {"name": "In A"}, login_id=shared)
    _, key_b, clock_b = enrolled(client_b, {"name": "In B"}, login_id=shared)
    in_a = sign_in(client, shared, key_a, clock_a)
    user_a = assert_sign_in(in_a, client, pid, shared, first_seen=True)
    in_b = sign_in(client_b, shared, key_b, clock_b)
    user_b = assert_sign_in(in_b, client_b, other, shared, first_seen=True)
    assert user_a != user_b
    only_a, key_only_a, clock_only_a = enrolled(client)
    signed_in_only_a = sign_in(client, only_a, key_only_a, clock_only_a)
    user_only_a = assert_sign_in(signed_in_only_a, client, pid, only_a, first_seen=True)
    before_a = admin.mgmt.user.load(shared)
    before_only_a = admin.mgmt.user.load(only_a)

    # B's key works for B, and shows B's user.
    loaded_b = admin_b.mgmt.user.load(shared)
    assert loaded_b["user"]["userId"] == user_b and loaded_b["user"]["name"] == "In B"
    assert loaded_b["user"] == in_b["user"]

    # ... but sees none of A's users.
    with pytest.raises(AuthException) as err:
        admin_b.mgmt.user.load(only_a)
    sdk_error(err.value, 404, NOT_FOUND)
    auth_b = management_auth(other, other_management_key)
    for route in (LOAD, REMOVE_TOTP, LOGOUT):
        assert_error(mgmt_call(api, route, only_a, auth_b), 404, NOT_FOUND)
    assert ok_json(mgmt_call(api, DELETE, only_a, auth_b)) == {}

    # A key is good only with its own project id.
    for headers in (management_auth(pid, other_management_key), management_auth(other, management_key)):
        for route in ROUTES:
            for target in (shared, only_a):
                assert_error(mgmt_call(api, route, target, headers), 401, KEY_REFUSED)
    with pytest.raises(AuthException) as err:
        sdk(management_key=other_management_key).mgmt.user.load(shared)
    sdk_error(err.value, 401, KEY_REFUSED)

    # A's users are untouched by all of that.
    assert admin.mgmt.user.load(only_a) == before_only_a
    assert_refresh_works(client, refresh_of(signed_in_only_a), user_only_a, pid, jwks)

    # B signs its user out and deletes them: A's user of the same loginId stays, with its session.
    assert admin_b.mgmt.user.logout_user(shared) is None
    assert_refresh_revoked(api, client_b, refresh_of(in_b), shared, project_id=other)
    assert_refresh_works(client, refresh_of(in_a), user_a, pid, jwks)
    assert admin_b.mgmt.user.delete(shared) is None
    assert last_answer(admin_b) == {}
    with pytest.raises(AuthException) as err:
        admin_b.mgmt.user.load(shared)
    sdk_error(err.value, 404, NOT_FOUND)
    assert admin.mgmt.user.load(shared) == before_a
    assert_refresh_works(client, refresh_of(in_a), user_a, pid, jwks)
    resp = sign_in(client, shared, key_a, clock_a)
    assert assert_sign_in(resp, client, pid, shared, first_seen=False) == user_a
    assert verify_jwt_with_jwks(refresh_of(resp), jwks, pid)["sub"] == user_a


# --------------------------------------------------------------------------
# recovery codes: the user's own way back after a lost phone
# --------------------------------------------------------------------------


def test_recovery_codes_bring_a_user_back_without_support(client, admin, api, settings, jwks):
    pid = settings.project_id
    login_id, key1, clock = enrolled(client)
    signed_in = sign_in(client, login_id, key1, clock)
    user_id = assert_sign_in(signed_in, client, pid, login_id, first_seen=True)
    refresh = refresh_of(signed_in)
    # A current code of the key (not the one that just signed in) creates the set.
    step = clock.fresh_step()
    created = ok_json(api.create_recovery_codes(login_id, code_at(key1, step), refresh))
    clock.accepted(step)
    codes = created["recoveryCodes"]
    assert len(codes) == 10 and len(set(codes)) == 10, codes
    assert all(len(c) == 14 and c[4] == c[9] == "-" for c in codes), codes
    assert client.me(refresh)["recoveryCodes"] == 10
    assert admin.mgmt.user.load(login_id)["user"]["recoveryCodes"] == 10

    # The phone is lost: a code, typed loosely, signs the user in (amr says how).
    answer = ok_json(api.redeem_recovery_code(login_id, codes[0].lower().replace("-", " ")))
    assert answer["firstSeen"] is False and answer["user"]["userId"] == user_id
    assert answer["user"]["recoveryCodes"] == 9
    session = verify_jwt_with_jwks(answer["sessionJwt"], jwks, pid)
    assert session["amr"] == ["recovery"] and session["drn"] == "DS"
    assert client.validate_session(answer["sessionJwt"])["userId"] == user_id
    assert_error(api.redeem_recovery_code(login_id, codes[0]), 401, WRONG_CODE)

    # The recovery session replaces the authenticator: update, then a code of the new key.
    key2 = assert_enrollment(client.totp.update_user(login_id, answer["refreshJwt"]), login_id)
    resp = sign_in(client, login_id, key2, clock)
    assert assert_sign_in(resp, client, pid, login_id, first_seen=False) == user_id
    assert resp["user"]["recoveryCodes"] == 9
    assert_code_refused(api, login_id, key1, clock, 401, WRONG_CODE)

    # Support can take the codes away (the SDK's remove_recovery_codes).
    assert admin.mgmt.user.remove_recovery_codes(login_id) is None
    assert last_answer(admin) == {}
    assert admin.mgmt.user.load(login_id)["user"]["recoveryCodes"] == 0
    assert_error(api.redeem_recovery_code(login_id, codes[1]), 401, WRONG_CODE)
    with pytest.raises(AuthException) as err:
        admin.mgmt.user.remove_recovery_codes(new_login_id())
    sdk_error(err.value, 404, NOT_FOUND)
