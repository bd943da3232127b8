"""The enrollment page (web/) in headless Chromium, as a person uses it:
sign up, scan the QR, type the code, see the session, refresh, sign out, see
the old session refused, sign in again; the errors a person meets; a page
on an origin that ALLOWED_ORIGINS does not name, which the browser stops; and
an address (?baseUrl=…) that tries to send the page's requests elsewhere."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pyotp
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser_support import (
    ROOT,
    WAIT_SECONDS,
    Listener,
    Page,
    Settings,
    csp_directives,
    meta_policy,
    new_login_id,
    origin_of,
    read_enrollment,
    static_page,
)

DOCS_SCREENSHOT = ROOT / "docs" / "browser.png"
def wrong_code(totp: pyotp.TOTP) -> str:
    """A code outside the service's window (one step either side)."""
    now = time.time()
    valid = {totp.at(now + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_sign_up_sign_in_refresh_and_sign_out(browser, shots: Path, settings: Settings, zbarimg: str) -> None:
    page = Page(browser, shots, "flow")
    page.open(settings.web_url)
    assert settings.base_url in page.el("service").text
    page.shot("start")

    login_id = new_login_id("alice")
    page.start_sign_up(login_id, "Alice Example")
    page.wait_state("code")
    assert page.el("enrollment").is_displayed()
    label, totp = read_enrollment(page, zbarimg)
    assert label.endswith(f":{login_id}"), label
    page.shot("enrollment")

    # The code an authenticator app shows now (pyotp: independent of the service).
    enrolled_at = time.time()
    page.submit_code(totp.at(enrolled_at))
    page.wait_state("session")
    assert page.wait_message("signed-in").startswith("Your authenticator app is set up")
    assert page.el("user-login").text == login_id
    assert page.el("user-name").text == "Alice Example"
    assert page.el("user-id").text not in ("", "—")
    assert re.search(r"\(in \d+ (seconds?|minutes?|hours?)", page.session_expiry()), page.session_expiry()
    page.shot("signed-in")
    # The README's picture: the page's card, signed in. Written into docs/ only
    # when asked (UPDATE_DOCS_SCREENSHOT=1 make test), so a test run leaves the
    # tracked file alone; target/browser/ always gets it.
    card = page.driver.find_element(By.TAG_NAME, "main").screenshot_as_png
    (ROOT / "target" / "browser" / "readme.png").write_bytes(card)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(card)

    # Refresh: a new session JWT, so a later expiry (make test's sessions last seconds).
    before = page.session_expiry().split(" ")[0]
    time.sleep(1.2)
    page.click("refresh")
    assert page.wait_message("signed-in").startswith("Session refreshed")
    assert page.session_expiry().split(" ")[0] != before, "refresh did not bring a new session token"
    page.shot("refreshed")

    page.click("me")
    assert login_id in page.wait_message("me")

    page.click("sign-out")
    page.wait_state("signed-out")
    page.wait_message("signed-out")
    page.shot("signed-out")
    page.click("old-session")
    assert "refuses the old session" in page.wait_message("E064001")
    page.shot("old-session-refused")

    # Back as a returning user: sign-up says the account exists and offers sign-in.
    page.click("again")
    page.wait_state("start")
    page.start_sign_up(login_id)
    assert "already has an authenticator app" in page.wait_message("E062107")
    page.shot("already-registered")
    page.click("message-action")
    page.wait_state("code")
    assert not page.el("enrollment").is_displayed()
    # The app's next code (each code works once; the service accepts one step ahead).
    page.submit_code(totp.at(enrolled_at + 30))
    page.wait_state("session")
    assert page.wait_message("signed-in") == "You are signed in."
    assert page.el("user-login").text == login_id
    page.shot("signed-in-again")


def test_wrong_codes_then_lockout_with_the_wait(browser, shots: Path, settings: Settings, zbarimg: str) -> None:
    page = Page(browser, shots, "lockout")
    page.open(settings.web_url)
    page.start_sign_up(new_login_id("bob"))
    page.wait_state("code")
    _, totp = read_enrollment(page, zbarimg)

    page.submit_code(wrong_code(totp))
    assert "That code is not right" in page.wait_message("E061102")
    page.shot("wrong-code")

    # make test's functions allow 5 codes per window; the next is refused with Retry-After.
    for _ in range(6):
        page.submit_code(wrong_code(totp))
        WebDriverWait(page.driver, WAIT_SECONDS).until(lambda _: page.message_code() in ("E061102", "E061103"))
        if page.message_code() == "E061103":
            break
    text = page.wait_message("E061103")
    page.shot("locked-out")
    # The wait comes from the Retry-After header, which only an exposed header lets the page read.
    assert re.search(r"try again in \d+ (seconds?|minutes?|hours?)", text), text
    # Even the right code is refused while locked out.
    page.submit_code(totp.now())
    page.wait_message("E061103")
    assert page.state() == "code"


def test_a_page_on_another_origin_cannot_call_the_api(browser, shots: Path, settings: Settings) -> None:
    origin = origin_of(settings.blocked_web_url)
    assert origin not in settings.allowed_origins
    page = Page(browser, shots, "blocked")
    page.open(settings.blocked_web_url)
    page.start_sign_up(new_login_id("mallory"))
    text = page.wait_message("network")
    page.shot("blocked")
    assert "Could not reach the sign-in service" in text and origin in text
    assert page.state() == "start"
    # The browser, not the service, stopped it: the console names the CORS policy.
    console = " ".join(entry.get("message", "") for entry in browser.get_log("browser"))
    assert "CORS policy" in console, console


# ---- where the page may send what a person types --------------------------

# The URLs the page fetched (the SDK's calls), from the browser's own record.
REQUESTED = """return performance.getEntriesByType('resource')
  .filter((e) => e.initiatorType === 'fetch' || e.initiatorType === 'xmlhttprequest')
  .map((e) => e.name);"""
# A fetch from the page's own context, as an injected script would try it.
TRY_FETCH = """const done = arguments[arguments.length - 1];
fetch(arguments[0], { method: 'POST', body: '{}' })
  .then((r) => done('answered ' + r.status), (e) => done('refused: ' + e));"""


def console(browser) -> str:
    return " ".join(entry.get("message", "") for entry in browser.get_log("browser"))


def test_the_page_may_connect_to_the_api_only_and_never_be_framed(settings: Settings) -> None:
    api = origin_of(settings.base_url)
    for url in (settings.web_url, settings.blocked_web_url):
        response = requests.get(url, timeout=30)
        assert response.status_code == 200, url
        # The meta tag the page carries, as a static host serves it ...
        meta = csp_directives(meta_policy(response.text))
        assert meta["connect-src"] == [api], (url, meta)
        assert meta["default-src"] == ["'none'"] and meta["script-src"] == ["'self'"], meta
        # ... and the header web/serve.py adds: the same, plus what only a header can say.
        header = csp_directives(response.headers["content-security-policy"])
        assert header["connect-src"] == [api], (url, header)
        assert header["frame-ancestors"] == ["'none'"], (url, header)


def test_the_address_cannot_send_the_page_elsewhere(browser, shots: Path, settings: Settings) -> None:
    """?baseUrl= names another server: the page ignores it, signs up with the
    configured API, and the other server receives nothing, not even a connection."""
    with Listener() as other:
        page = Page(browser, shots, "address")
        page.open(f"{settings.web_url}?{urlencode({'baseUrl': other.url, 'projectId': 'P2SomeoneElse'})}")
        service = page.el("service").text
        assert settings.base_url in service and other.url not in service, service
        page.start_sign_up(new_login_id("carol"))
        # Enrollment shown: the configured API answered the sign-up.
        page.wait_state("code")
        assert page.el("enrollment").is_displayed()
        page.shot("configured-api-answered")
        requested = browser.execute_script(REQUESTED)
        assert any(url.startswith(f"{settings.base_url}/v1/auth/totp/signup") for url in requested), requested
        assert all(origin_of(url) == origin_of(settings.base_url) for url in requested), requested

        # Even a script in the page could not reach the other server: connect-src forbids it.
        outcome = browser.execute_async_script(TRY_FETCH, f"{other.url}/v1/auth/totp/signup")
        assert outcome.startswith("refused"), outcome
        assert "Content Security Policy" in console(browser)
        time.sleep(0.5)
        assert other.connections == [], other.requests


def test_an_unconfigured_page_ignores_the_address(browser, shots: Path) -> None:
    """The built page on a plain static host with config.js left empty: it says
    it is not configured, whatever ?baseUrl= says, and connects nowhere."""
    dist = ROOT / "web" / "dist"
    assert (dist / "app.js").is_file(), "build the page first (scripts/test.sh does)"
    empty = b"window.TOTP_CONFIG = { baseUrl: '', projectId: '' };\n"
    with Listener() as other, Listener(static_page(dist, empty)) as host:
        query = urlencode({"baseUrl": other.url, "projectId": "P2SomeoneElse"})
        browser.get(f"{host.url}/?{query}")
        page = Page(browser, shots, "unconfigured")
        page.wait_state("unconfigured")
        assert page.el("service").text == "not configured"
        page.shot("unconfigured")
        time.sleep(0.5)
        assert other.connections == [], other.requests
        assert host.requests, "the page was not served by the test's host"
