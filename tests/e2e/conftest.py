"""End-to-end tests against a totp-lambda server that is ALREADY running.

`make test` starts the server and then runs pytest on this directory with:

  TOTP_BASE_URL          base URL serving all four routes, e.g. http://127.0.0.1:9000
  TOTP_PROJECT_ID        a project id the server is configured to serve
  TOTP_OTHER_PROJECT_ID  optional: a second served project id (enables the
                         cross-project isolation test, skipped otherwise)

Missing required variables make every test fail (not skip).
"""

from __future__ import annotations

import os

import pytest
import requests

from e2e_support import Api, Settings


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


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
