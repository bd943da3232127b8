"""make smoke: does a real deployment work? One throwaway user through the
official Descope SDK: sign up, sign in, refresh, check the session JWT
against the published keys, sign out, delete. One PASS or FAIL line a
step; the user is deleted whatever happens before.

  BASE_URL         the deployment's base URL (the stack's ApiUrl output)
  PROJECT_ID       a project it serves
  MANAGEMENT_KEY   a management key of that project (to delete the user)

Exit status 0 when every step passed, 1 otherwise. Nothing secret is printed.
"""

from __future__ import annotations

import os
import sys
import time
import uuid

import pyotp
from descope import DescopeClient


def env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        sys.exit(f"smoke: set {name} (see the docstring of scripts/smoke.py)")
    return value


def main() -> int:
    base_url, project_id, management_key = env("BASE_URL"), env("PROJECT_ID"), env("MANAGEMENT_KEY")
    client = DescopeClient(project_id=project_id, base_url=base_url)
    login_id = f"smoke-{uuid.uuid4().hex[:12]}@example.invalid"
    results: list[tuple[str, str | None]] = []
    state: dict = {}

    def step(name: str, action) -> bool:
        try:
            action()
        except Exception as error:  # every failure is reported, none stops the clean-up
            reason = f"{type(error).__name__}: {error}".replace("\n", " ")[:300]
            results.append((name, reason))
            print(f"FAIL {name}: {reason}", flush=True)
            return False
        results.append((name, None))
        print(f"PASS {name}", flush=True)
        return True

    def sign_up() -> None:
        state["key"] = client.totp.sign_up(login_id)["key"]

    def sign_in() -> None:
        code = pyotp.TOTP(state["key"]).now()
        response = client.totp.sign_in_code(login_id, code)
        assert response["firstSeen"] is True, "firstSeen should be true on the first sign-in"
        state["refresh"] = response["refreshSessionToken"]["jwt"]

    def refresh() -> None:
        response = client.refresh_session(state["refresh"])
        state["session"] = response["sessionToken"]["jwt"]

    def published_keys() -> None:
        # The SDK fetches /v2/keys/{projectId} and checks the signature, exp and aud.
        claims = client.validate_session(state["session"])
        assert claims.get("drn") == "DS", "a session JWT says drn DS"

    def sign_out() -> None:
        client.logout(state["refresh"])
        try:
            client.refresh_session(state["refresh"])
        except Exception:
            return
        raise AssertionError("the refresh JWT still works after logout")

    def delete() -> None:
        admin = DescopeClient(project_id=project_id, base_url=base_url, management_key=management_key)
        admin.mgmt.user.delete(login_id)

    print(f"smoke: {base_url} project {project_id}, throwaway user {login_id}", flush=True)
    started = time.monotonic()
    try:
        for name, action in [
            ("sign up", sign_up),
            ("sign in", sign_in),
            ("refresh", refresh),
            ("session JWT verified with the published keys", published_keys),
            ("sign out", sign_out),
        ]:
            if not step(name, action):
                break
    finally:
        step("delete the throwaway user", delete)
    failed = sum(1 for _, reason in results if reason is not None)
    print(f"smoke: {time.monotonic() - started:.1f} s")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
