"""End-to-end tests against a totp-lambda server that is ALREADY running.

`make test` starts the server and then runs pytest on this directory with:

  TOTP_BASE_URL          base URL serving all four routes, e.g. http://127.0.0.1:9000
  TOTP_PROJECT_ID        a project id the server is configured to serve
  TOTP_OTHER_PROJECT_ID  optional: a second served project id (enables the
                         cross-project isolation test, skipped otherwise)
  TOTP_SESSION_TTL_SECONDS, TOTP_REFRESH_TTL_SECONDS
                         optional: the server's SESSION_TTL_SECONDS and
                         REFRESH_TTL_SECONDS, checked exactly against the tokens
                         when given. The session tests wait for a session JWT to
                         expire, so the server should run with a session
                         lifetime of seconds (make test: 6).
  TOTP_MANAGEMENT_KEY    a management key of TOTP_PROJECT_ID: the management
                         tests fail without it (make test always sets it)
  TOTP_OTHER_MANAGEMENT_KEY
                         optional: a management key of TOTP_OTHER_PROJECT_ID
                         (enables the management key isolation test)
  TOTP_SCHEMATHESIS_MAX_EXAMPLES, TOTP_SCHEMATHESIS_SEED
                         optional: random examples per operation and the seed of
                         test_schemathesis.py (make fuzz-api sets both). Its
                         preflight operations expect the server to have allowed
                         origins (ALLOWED_ORIGINS), as make test and make dev do.

Missing required variables make every test fail (not skip).
"""

from __future__ import annotations

import os
from typing import Callable

import pytest
import requests
from descope import DescopeClient

from e2e_support import Api, Settings


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _env_seconds(name: str) -> int | None:
    raw = _env(name)
    if not raw:
        return None
    if not raw.isdigit():
        pytest.fail(f"{name}={raw!r} is not a number of seconds", pytrace=False)
    return int(raw)


@pytest.fixture(scope="session", autouse=True)
def settings() -> Settings:
    missing = [n for n in ("TOTP_BASE_URL", "TOTP_PROJECT_ID") if not _env(n)]
    if missing:
        pytest.fail(
            f"environment variable(s) {', '.join(missing)} not set: the e2e suite needs a running "
            "server (TOTP_BASE_URL) and a project id it serves (TOTP_PROJECT_ID)",
            pytrace=False,
        )
    settings = Settings(
        base_url=_env("TOTP_BASE_URL").rstrip("/"),
        project_id=_env("TOTP_PROJECT_ID"),
        other_project_id=_env("TOTP_OTHER_PROJECT_ID") or None,
        session_ttl_seconds=_env_seconds("TOTP_SESSION_TTL_SECONDS"),
        refresh_ttl_seconds=_env_seconds("TOTP_REFRESH_TTL_SECONDS"),
        management_key=_env("TOTP_MANAGEMENT_KEY") or None,
        other_management_key=_env("TOTP_OTHER_MANAGEMENT_KEY") or None,
    )
    try:
        requests.get(f"{settings.base_url}/v2/keys/{settings.project_id}", timeout=10)
    except requests.RequestException as exc:
        pytest.fail(f"server at {settings.base_url} is not reachable: {exc}", pytrace=False)
    return settings


@pytest.fixture()
def api(settings: Settings) -> Api:
    return Api(settings)


@pytest.fixture()
def jwks(api: Api) -> dict:
    resp = api.keys()
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture()
def sdk(settings: Settings, monkeypatch) -> Callable[..., DescopeClient]:
    """Builds official SDK clients pointed at the server: sdk(project_id=None, **options)."""
    # Environment that would change what the SDK does: a preloaded public key
    # (would skip the JWKS fetch), management keys (appended to the bearer,
    # trigger a license call), another base URL or project.
    for var in (
        "DESCOPE_PUBLIC_KEY",
        "DESCOPE_BASE_URI",
        "DESCOPE_MANAGEMENT_KEY",
        "DESCOPE_AUTH_MANAGEMENT_KEY",
        "DESCOPE_PROJECT_ID",
    ):
        monkeypatch.delenv(var, raising=False)

    def make(project_id: str | None = None, **options) -> DescopeClient:
        pid = settings.project_id if project_id is None else project_id
        return DescopeClient(project_id=pid, base_url=settings.base_url, **options)

    return make


@pytest.fixture()
def client(sdk) -> DescopeClient:
    return sdk()


@pytest.fixture()
def management_key(settings: Settings) -> str:
    """The management key of TOTP_PROJECT_ID; its absence fails the test."""
    if not settings.management_key:
        pytest.fail(
            "environment variable TOTP_MANAGEMENT_KEY not set: the management tests need a management "
            "key of TOTP_PROJECT_ID (make test passes one)",
            pytrace=False,
        )
    return settings.management_key


@pytest.fixture()
def other_management_key(settings: Settings) -> str:
    """The management key of TOTP_OTHER_PROJECT_ID; the test is skipped without both."""
    if not settings.other_project_id:
        pytest.skip("TOTP_OTHER_PROJECT_ID is not set")
    if not settings.other_management_key:
        pytest.skip("TOTP_OTHER_MANAGEMENT_KEY is not set")
    return settings.other_management_key


@pytest.fixture()
def admin(sdk, management_key: str) -> DescopeClient:
    """An SDK client of TOTP_PROJECT_ID holding its management key. Verbose, so that
    `admin.get_last_response()` shows what the server answered to a call that returns None."""
    return sdk(management_key=management_key, verbose=True)
