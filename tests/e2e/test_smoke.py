"""make smoke (scripts/smoke.py) against the served functions: every step
passes and the throwaway user is gone afterwards; against a project the
deployment does not serve, it reports the failing step and exits 1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from descope import AuthException

from e2e_support import sdk_error

SMOKE = Path(__file__).resolve().parents[2] / "scripts" / "smoke.py"


def run_smoke(base_url: str, project_id: str, management_key: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "BASE_URL": base_url, "PROJECT_ID": project_id, "MANAGEMENT_KEY": management_key}
    return subprocess.run(
        [sys.executable, str(SMOKE)], env=environment, capture_output=True, text=True, timeout=120
    )


def test_smoke_passes_every_step_and_leaves_no_user(settings, management_key, admin):
    result = run_smoke(settings.base_url, settings.project_id, management_key)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    steps = [line for line in lines if line.startswith(("PASS ", "FAIL "))]
    assert [s.split(" ", 1)[0] for s in steps] == ["PASS"] * 6, lines
    assert lines[-1] == "6 passed, 0 failed", lines
    login_id = re.search(r"throwaway user (\S+)", result.stdout).group(1)
    with pytest.raises(AuthException) as err:
        admin.mgmt.user.load(login_id)
    sdk_error(err.value, 404, "E062108")
    assert management_key not in result.stdout + result.stderr


def test_smoke_reports_the_step_that_fails(settings, management_key):
    result = run_smoke(settings.base_url, "P2NotServedHere", management_key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL sign up" in result.stdout, result.stdout
    # The clean-up still runs (and fails too: that project has no such key).
    assert "delete the throwaway user" in result.stdout, result.stdout
    assert result.stdout.splitlines()[-1] == "0 passed, 2 failed", result.stdout
