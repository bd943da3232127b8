"""Recovery codes in the page (issue 20), in headless Chromium: a user enrols,
creates ten recovery codes and saves them (copy, and a downloaded .txt),
"loses" the phone (the test stops using its key), signs in with a recovery
code, replaces the authenticator (update, then a code of the new key), and
afterwards the used recovery code and the old key are refused, by the page
and by the API. No code ever appears in a URL or on the console."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser_support import (
    WAIT_SECONDS,
    Page,
    ReplayClock,
    Settings,
    code_at,
    new_login_id,
    origin_of,
    read_enrollment,
)

# As the service shows a code: 12 base32 characters in groups of four.
CODE = re.compile(r"[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}")
CODES_PER_SET = 10

# navigator.clipboard refuses, and so does the old execCommand: the page's last resort.
NO_CLIPBOARD = """
Object.defineProperty(navigator.clipboard, 'writeText', {
  configurable: true,
  value: () => Promise.reject(new DOMException('denied', 'NotAllowedError')),
});
document.execCommand = () => false;
"""
READ_CLIPBOARD = """const done = arguments[arguments.length - 1];
navigator.clipboard.readText().then(done, (e) => done('unreadable: ' + e));"""


def listed_codes(page: Page) -> list[str]:
    return [item.text.strip() for item in page.driver.find_elements(By.CSS_SELECTOR, "#recovery-code-list li")]


def forms_of(code: str) -> set[str]:
    """The ways a code could be written into a URL or a log."""
    bare = code.replace("-", "")
    return {code, bare, code.lower(), bare.lower()}


def wait_for_download(folder: Path, name: str) -> Path:
    """The finished download `name` in `folder` (Chromium writes a .crdownload first)."""
    target = folder / name
    deadline = time.time() + WAIT_SECONDS
    while time.time() < deadline:
        if target.is_file() and not list(folder.glob("*.crdownload")):
            return target
        time.sleep(0.2)
    raise AssertionError(f"no {name} downloaded; the folder holds {sorted(p.name for p in folder.iterdir())}")


def visited_urls(browser) -> list[str]:
    """Every URL the browser requested, navigated to or downloaded from, from
    its performance log (which reading empties: call it once, at the end)."""
    urls: list[str] = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        method = message.get("method", "")
        if method == "Network.requestWillBeSent":
            urls += [params["request"]["url"], params.get("documentURL", "")]
        elif method == "Page.frameNavigated":
            urls.append(params["frame"]["url"])
        elif method in ("Page.downloadWillBegin", "Browser.downloadWillBegin"):
            urls.append(params["url"])
    urls += browser.execute_script("return performance.getEntries().map((e) => e.name);")
    urls.append(browser.current_url)
    return [u for u in urls if u]


def api_post(settings: Settings, path: str, body: dict, refresh_jwt: str = "") -> requests.Response:
    bearer = settings.project_id + (f":{refresh_jwt}" if refresh_jwt else "")
    return requests.post(
        f"{settings.base_url}{path}",
        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        data=json.dumps(body),
        timeout=30,
    )


def sign_out_to_start(page: Page) -> None:
    page.click("sign-out")
    page.wait_state("signed-out")
    page.click("again")
    page.wait_state("start")


def test_recovery_codes_a_lost_phone_and_a_new_authenticator(
    browser, shots: Path, settings: Settings, zbarimg: str, downloads: Path
) -> None:
    page = Page(browser, shots, "recovery")
    clock = ReplayClock()
    page.open(settings.web_url)
    login_id = new_login_id("dora")

    # ---- enrol and sign in ---------------------------------------------------
    page.start_sign_up(login_id, "Dora Example")
    page.wait_state("code")
    _, old_key = read_enrollment(page, zbarimg, "old-qr")
    step = clock.fresh_step()
    sign_in_code = code_at(old_key, step)
    page.submit_code(sign_in_code)
    page.wait_state("session")
    page.wait_message("signed-in")
    clock.accepted(step)
    assert page.el("signed-in-with").text == "your authenticator app"
    assert page.el("recovery-left").text == "none"
    assert page.el("recovery-offer").is_displayed()
    assert not page.el("replace-notice").is_displayed()
    page.shot("signed-in")

    # ---- create recovery codes ----------------------------------------------
    page.click("create-recovery-codes")
    form = page.el("recovery-codes-form")
    assert form.is_displayed()
    assert "works only once" in form.text and "next one" in form.text, form.text
    page.shot("asks-for-a-new-code")
    # The code that just signed in is spent: refused, and the page says to wait for the next.
    page.type("recovery-codes-totp", sign_in_code)
    page.click("create-codes")
    refused = page.wait_message("E061102")
    assert "used already" in refused and "Wait until your app shows a new code" in refused, refused
    assert page.state() == "session"
    page.shot("spent-code-refused")

    step = clock.fresh_step()
    page.type("recovery-codes-totp", code_at(old_key, step))
    page.click("create-codes")
    page.wait_state("recovery-codes")
    page.wait_message("recovery-codes")
    clock.accepted(step)
    codes = listed_codes(page)
    assert len(codes) == CODES_PER_SET and len(set(codes)) == CODES_PER_SET, codes
    assert all(CODE.fullmatch(code) for code in codes), codes
    warning = page.el("codes-warning").text
    assert "will not be shown again" in warning, warning
    page.shot("codes-shown-once")

    # Download: a .txt with the ten codes, from a blob: URL the page's policy lets through.
    page.click("download-codes")
    page.wait_message("downloaded")
    saved = wait_for_download(downloads, "recovery-codes.txt")
    text = saved.read_text(encoding="utf-8")
    assert CODE.findall(text) == codes, text
    assert login_id in text

    # Copy: with the clipboard allowed, the codes are on it ...
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": origin_of(settings.web_url), "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    page.click("copy-codes")
    page.wait_message("copied")
    clipboard = browser.execute_async_script(READ_CLIPBOARD)
    assert CODE.findall(clipboard) == codes, clipboard
    # ... and where the browser refuses every way to copy, the page selects them
    # for the person to copy by hand, and says so.
    browser.execute_script(NO_CLIPBOARD)
    page.click("copy-codes")
    manual = page.wait_message("copy-manual")
    assert "selected" in manual and page.el("message").get_attribute("class") == "error", manual
    assert CODE.findall(browser.execute_script("return window.getSelection().toString();")) == codes
    page.shot("copy-by-hand")

    page.click("codes-saved")
    page.wait_state("session")
    page.wait_message("codes-saved")
    # Shown once: gone from the page.
    assert listed_codes(page) == []
    source = browser.page_source
    assert not any(form in source for code in codes for form in forms_of(code))
    assert page.el("recovery-left").text == str(CODES_PER_SET)
    page.click("me")
    assert f"You have {CODES_PER_SET} recovery codes left" in page.wait_message("me")
    page.shot("codes-saved")

    # ---- the phone is lost: a recovery code -----------------------------------
    sign_out_to_start(page)
    page.type("login-id", login_id)
    page.click("use-recovery")
    page.wait_state("recovery")
    assert page.el("recovery-login-id").get_attribute("value") == login_id
    # Not a code at all: the page says so and sends nothing.
    page.type("recovery-code", "not a code")
    page.click("recover")
    assert "12 letters and digits" in page.wait_message("recoveryCode")
    used = codes[0]
    # Typed as a person might: lower case, spaces for dashes.
    page.type("recovery-code", used.lower().replace("-", " "))
    page.shot("recovery-form")
    page.click("recover")
    page.wait_state("session")
    recovered = page.wait_message("recovered")
    assert "recovery code" in recovered and f"You have {CODES_PER_SET - 1} left" in recovered, recovered
    assert page.el("recovery-code").get_attribute("value") == ""
    assert page.el("signed-in-with").text == "a recovery code"
    assert page.el("recovery-left").text == str(CODES_PER_SET - 1)
    assert page.el("replace-notice").is_displayed()
    # Creating codes needs the lost authenticator: the page offers the new one instead.
    assert not page.el("recovery-offer").is_displayed()
    assert page.el("replace-authenticator").is_displayed()
    page.shot("signed-in-with-a-recovery-code")

    # ---- a new authenticator: update, then a code of the new key --------------
    page.click("replace-authenticator")
    page.wait_state("code")
    page.wait_message("replacing")
    assert page.el("enrollment").is_displayed()
    assert "new authenticator" in page.el("code-title").text
    assert page.el("start-over").text == "Cancel"
    label, new_key = read_enrollment(page, zbarimg, "new-qr")
    assert label.endswith(f":{login_id}"), label
    assert new_key.secret != old_key.secret
    page.shot("new-authenticator")
    step = clock.fresh_step()
    page.submit_code(code_at(new_key, step))
    page.wait_state("session")
    assert "new authenticator app is set up" in page.wait_message("replaced")
    clock.accepted(step)
    assert page.el("signed-in-with").text == "your authenticator app"
    assert not page.el("replace-notice").is_displayed()
    assert page.el("recovery-offer").is_displayed()
    assert page.el("recovery-left").text == str(CODES_PER_SET - 1)
    page.shot("authenticator-replaced")

    # ---- afterwards: the used recovery code is refused ------------------------
    sign_out_to_start(page)
    page.click("use-recovery")
    page.wait_state("recovery")
    page.type("recovery-login-id", login_id)
    page.type("recovery-code", used)
    page.click("recover")
    refused = page.wait_message("E061102")
    assert "used already" in refused, refused
    assert not any(form in refused for form in forms_of(used)), "the error repeats the code"
    assert page.state() == "recovery"
    page.shot("used-code-refused")
    # And by the API itself (as any client would send it); malformed is a 400.
    again = api_post(settings, "/v1/auth/totp/recovery", {"loginId": login_id, "recoveryCode": used})
    assert again.status_code == 401 and again.json()["errorCode"] == "E061102", again.text
    malformed = api_post(settings, "/v1/auth/totp/recovery", {"loginId": login_id, "recoveryCode": "!!"})
    assert malformed.status_code == 400 and malformed.json()["errorCode"] == "E011003", malformed.text

    # ---- and so is the old key, with a code of a step the service would take ----
    page.click("recovery-back")
    page.wait_state("start")
    page.type("login-id", login_id)
    page.click("sign-in")
    page.wait_state("code")
    step = clock.fresh_step()
    while code_at(old_key, step) == code_at(new_key, step):  # one chance in a million
        clock.accepted(step)
        step = clock.fresh_step()
    page.submit_code(code_at(old_key, step))
    page.wait_message("E061102")
    assert page.state() == "code"
    page.shot("old-key-refused")
    # The new key's code of that very step signs in: the old one was refused for its key.
    page.submit_code(code_at(new_key, step))
    page.wait_state("session")
    assert page.wait_message("signed-in") == "You are signed in."
    clock.accepted(step)
    assert page.el("recovery-left").text == str(CODES_PER_SET - 1)
    page.shot("signed-in-with-the-new-key")

    # ---- no code in any URL, nor on the console --------------------------------
    urls = visited_urls(browser)
    assert any(u.startswith(f"{settings.base_url}/v1/auth/totp/recovery") for u in urls), urls
    assert any(u.startswith("blob:") for u in urls), "the download did not come from a blob: URL"
    for url in urls:
        for code in codes:
            assert not any(form in url for form in forms_of(code)), url
        assert old_key.secret not in url and new_key.secret not in url, url
    logged = " ".join(entry.get("message", "") for entry in browser.get_log("browser"))
    # The blob: download went through `default-src 'none'` without a violation.
    assert "Content Security Policy" not in logged, logged
    for code in codes:
        assert not any(form in logged for form in forms_of(code)), logged
    assert old_key.secret not in logged and new_key.secret not in logged
