"""Browser tests: the page (web/) in a real headless Chromium, and the CORS
policy, against a totp-lambda that is ALREADY running.

`make test` (scripts/test.sh) serves the functions with `cargo lambda watch
--disable-cors` and ALLOWED_ORIGINS naming one origin, serves the built page
(web/serve.py) on that origin and on another one, then runs pytest here with:

  TOTP_BASE_URL         base URL of the functions, e.g. http://127.0.0.1:9000
  TOTP_PROJECT_ID       a project id they serve
  TOTP_WEB_URL          the page, on an origin that ALLOWED_ORIGINS names
  TOTP_BLOCKED_WEB_URL  the same page on an origin it does not name
  TOTP_ALLOWED_ORIGINS  the functions' ALLOWED_ORIGINS

Chromium and its driver are Debian's (`chromium`, `chromium-driver`; CHROMIUM
and CHROMEDRIVER override the paths) and the QR decoder is zbarimg
(`zbar-tools`): scripts/setup.sh --browser installs them. Screenshots of every
step go to target/browser/; the signed-in card also to docs/browser.png when
UPDATE_DOCS_SCREENSHOT=1. Files the page downloads land in the `downloads`
fixture's folder (a fresh one per test).
Missing settings or tools fail the tests (never skip them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from browser_support import SHOTS, Settings

# Selenium uses the driver it is given and never downloads one.
os.environ.setdefault("SE_OFFLINE", "true")


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


@pytest.fixture(scope="session")
def settings() -> Settings:
    names = ("TOTP_BASE_URL", "TOTP_PROJECT_ID", "TOTP_WEB_URL", "TOTP_BLOCKED_WEB_URL", "TOTP_ALLOWED_ORIGINS")
    missing = [n for n in names if not _env(n)]
    if missing:
        pytest.fail(f"environment variable(s) {', '.join(missing)} not set: run through `make test`", pytrace=False)
    settings = Settings(
        base_url=_env("TOTP_BASE_URL").rstrip("/"),
        project_id=_env("TOTP_PROJECT_ID"),
        web_url=_env("TOTP_WEB_URL"),
        blocked_web_url=_env("TOTP_BLOCKED_WEB_URL"),
        allowed_origins=tuple(o.strip() for o in _env("TOTP_ALLOWED_ORIGINS").split(",") if o.strip()),
    )
    for url in (f"{settings.base_url}/v2/keys/{settings.project_id}", settings.web_url, settings.blocked_web_url):
        try:
            requests.get(url, timeout=30)
        except requests.RequestException as exc:
            pytest.fail(f"{url} is not reachable: {exc}", pytrace=False)
    return settings


def _tool(env: str, default: str, package: str) -> str:
    path = _env(env) or default
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path} not found: install Debian's {package} (scripts/setup.sh --browser)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def zbarimg() -> str:
    return shutil.which("zbarimg") or _tool("ZBARIMG", "/usr/bin/zbarimg", "zbar-tools")


@pytest.fixture(scope="session")
def shots() -> Path:
    """target/browser/, emptied once per run."""
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    return SHOTS


@pytest.fixture()
def downloads(tmp_path: Path) -> Path:
    """Where the test's browser saves what the page downloads."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture()
def browser(shots: Path, downloads: Path) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium (its own empty profile) for each test."""
    chromium = _tool("CHROMIUM", "/usr/bin/chromium", "chromium")
    chromedriver = _tool("CHROMEDRIVER", "/usr/bin/chromedriver", "chromium-driver")
    with tempfile.TemporaryDirectory(prefix="totp-browser-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for argument in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--lang=en-US",
            "--window-size=720,900",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(argument)
        # Downloads saved without asking, into `downloads`.
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
                "download.directory_upgrade": True,
            },
        )
        # The console, to see why a request failed (CORS) when a test says so;
        # the performance log, for every URL the browser requested or opened.
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        service = Service(executable_path=chromedriver, log_output=str(shots / "chromedriver.log"))
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(60)
        # What the prefs say, as headless Chromium takes it.
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        try:
            yield driver
        finally:
            driver.quit()

