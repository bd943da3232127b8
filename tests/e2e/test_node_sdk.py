"""The management API through Descope's official Node SDK: runs
tests/node/management.test.mjs (`node --test`, the SDK pinned by
tests/node/package-lock.json) against the same server and project.

Its packages are installed by scripts/setup.sh (make test runs it) into
tests/node/node_modules; without them, or with a lockfile changed since, this
test fails and says to run scripts/setup.sh.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
TEST_FILE = NODE_DIR / "management.test.mjs"
LOCKFILE = NODE_DIR / "package-lock.json"
SDK_PACKAGE = NODE_DIR / "node_modules" / "@descope" / "node-sdk" / "package.json"
# Written by scripts/setup.sh after `npm ci`: the hash of the lockfile installed.
STAMP = NODE_DIR / "node_modules" / ".package-lock.sha"
TIMEOUT_SECONDS = 600
# The TAP summary lines of `node --test`.
SUMMARY = re.compile(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", re.MULTILINE)


def _installed_packages() -> None:
    """Fail unless node and the packages of tests/node/package-lock.json are installed."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed: run scripts/setup.sh (it installs npm and node)", pytrace=False)
    if not SDK_PACKAGE.is_file():
        pytest.fail(
            "tests/node/node_modules is missing (the Node SDK suite's packages): run scripts/setup.sh",
            pytrace=False,
        )
    want = hashlib.sha256(LOCKFILE.read_bytes()).hexdigest()
    have = STAMP.read_text().strip() if STAMP.is_file() else ""
    if have != want:
        pytest.fail(
            "tests/node/node_modules was not installed from the current tests/node/package-lock.json: "
            "run scripts/setup.sh",
            pytrace=False,
        )


def test_node_sdk_management(settings, management_key):
    _installed_packages()
    environment = {
        **os.environ,
        "TOTP_BASE_URL": settings.base_url,
        "TOTP_PROJECT_ID": settings.project_id,
        "TOTP_MANAGEMENT_KEY": management_key,
    }
    # Options from the caller's environment must not change how node runs the suite.
    environment.pop("NODE_OPTIONS", None)
    environment.pop("NODE_TEST_CONTEXT", None)
    try:
        result = subprocess.run(
            ["node", "--test", "--test-reporter=tap", TEST_FILE.name],
            cwd=NODE_DIR,
            env=environment,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as exc:
        # Captured output comes as bytes even with text=True.
        output = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"node --test did not finish in {TIMEOUT_SECONDS}s:\n{output}", pytrace=False)
    output = result.stdout + result.stderr
    assert management_key not in output, "the node suite printed the management key"
    if result.returncode != 0:
        pytest.fail(f"node --test {TEST_FILE.name} failed (exit {result.returncode}):\n{output}", pytrace=False)

    # Exit 0 is not enough: every test ran and passed (none skipped, none left out).
    summary = {name: int(count) for name, count in SUMMARY.findall(result.stdout)}
    assert set(summary) == {"tests", "pass", "fail", "cancelled", "skipped", "todo"}, output
    assert summary["tests"] >= 7, output
    assert summary["pass"] == summary["tests"], output
    assert summary["fail"] == summary["cancelled"] == summary["skipped"] == summary["todo"] == 0, output
