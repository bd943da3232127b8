"""What the browser suite's fixtures and tests share."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "browser"


@dataclass(frozen=True)
class Settings:
    base_url: str
    project_id: str
    web_url: str
    blocked_web_url: str
    allowed_origins: tuple[str, ...]


def origin_of(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def decode_qr(zbarimg: str, png: Path) -> str:
    """The text of the one QR code in a PNG, by zbar (independent of the service's encoder)."""
    result = subprocess.run([zbarimg, "-q", "--raw", str(png)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"zbarimg found no QR code in {png}: {result.stderr.strip()}"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one QR code in {png}, zbarimg read {lines!r}"
    return lines[0]


def csp_directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: [sources]}."""
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def meta_policy(html: str) -> str:
    """The policy of a page's <meta http-equiv="Content-Security-Policy">."""
    found = re.findall(r'<meta http-equiv="Content-Security-Policy"\s+content="([^"]*)"', html)
    assert len(found) == 1, found
    return found[0]


class _Recording(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.connections: list[tuple[str, int]] = []
        self.requests: list[str] = []

    def verify_request(self, request, client_address) -> bool:
        # Every connection, even one that never sends a whole request.
        self.connections.append(client_address)
        return True


class _Refuse(BaseHTTPRequestHandler):
    """Answers every request 404, after noting it."""

    def _note(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = _note

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@dataclass
class Listener:
    """An HTTP server on a free loopback port that serves nothing and notes
    every connection and request it gets: where a page must not send anything.
    `handler` replaces the one that answers 404."""

    handler: type = _Refuse
    server: _Recording = field(init=False)

    def __enter__(self) -> "Listener":
        self.server = _Recording(self.handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def connections(self) -> list[tuple[str, int]]:
        return list(self.server.connections)

    @property
    def requests(self) -> list[str]:
        return list(self.server.requests)


def static_page(dist: Path, config_js: bytes) -> type:
    """A handler serving `dist` as a plain static host would, config.js as given."""

    class Static(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(dist), **kwargs)

        def do_GET(self) -> None:  # noqa: N802
            self.server.requests.append(f"GET {self.path}")
            if self.path.split("?", 1)[0] == "/config.js":
                self.send_response(200)
                self.send_header("Content-Type", "text/javascript")
                self.send_header("Content-Length", str(len(config_js)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(config_js)
                return
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    Static.extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}
    return Static


# ---- the page, as a person uses it --------------------------------------------

WAIT_SECONDS = 30


class Page:
    """The page in one browser, with a screenshot of each step."""

    def __init__(self, driver: webdriver.Chrome, shots: Path, name: str) -> None:
        self.driver, self.shots, self.name, self.count = driver, shots, name, 0

    def open(self, url: str) -> None:
        self.driver.get(url)
        self.wait_state("start")

    def shot(self, step: str) -> Path:
        self.count += 1
        path = self.shots / f"{self.name}-{self.count:02d}-{step}.png"
        self.driver.save_screenshot(str(path))
        return path

    def el(self, element_id: str):
        return self.driver.find_element(By.ID, element_id)

    def state(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").get_attribute("data-state") or ""

    def wait_state(self, state: str) -> None:
        try:
            WebDriverWait(self.driver, WAIT_SECONDS).until(lambda _: self.state() == state)
        except Exception:
            self.shot(f"expected-{state}")
            raise AssertionError(f"page stayed in {self.state()!r}, expected {state!r}: {self.message()}")

    def message(self) -> str:
        return self.el("message-text").text

    def message_code(self) -> str:
        return self.el("message").get_attribute("data-code") or ""

    def click(self, element_id: str) -> None:
        """Clicks and waits for the page to finish the call it starts."""
        self.el(element_id).click()
        WebDriverWait(self.driver, WAIT_SECONDS).until(
            lambda d: "busy" not in (d.find_element(By.TAG_NAME, "body").get_attribute("class") or "")
        )

    def wait_message(self, code: str) -> str:
        try:
            WebDriverWait(self.driver, WAIT_SECONDS).until(lambda _: self.message_code() == code)
        except Exception:
            self.shot(f"expected-{code}")
            raise AssertionError(f"expected message {code!r}, page says {self.message_code()!r}: {self.message()}")
        return self.message()

    def type(self, element_id: str, text: str) -> None:
        field = self.el(element_id)
        field.clear()
        field.send_keys(text)

    def start_sign_up(self, login_id: str, name: str = "") -> None:
        self.type("login-id", login_id)
        self.type("name", name)
        self.click("sign-up")

    def submit_code(self, code: str) -> None:
        self.type("code", code)
        self.click("verify")

    def session_expiry(self) -> str:
        return self.el("session-expiry").text


def new_login_id(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


def read_enrollment(page: Page, zbarimg: str, label: str = "qr") -> tuple[str, pyotp.TOTP]:
    """Decodes the QR as the page shows it (a screenshot of the image, not its
    data, saved as <page>-<label>.png) and checks that it agrees with the key
    written under it."""
    qr = page.el("qr")
    WebDriverWait(page.driver, WAIT_SECONDS).until(
        lambda _: page.driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", qr)
    )
    png = page.shots / f"{page.name}-{label}.png"
    png.write_bytes(qr.screenshot_as_png)
    uri = decode_qr(zbarimg, png)
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp", uri
    params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    secret = params["secret"]
    shown_key = page.el("key").text.replace(" ", "")
    assert shown_key == secret, "the key under the QR code is not the one in it"
    return unquote(parsed.path.lstrip("/")), pyotp.TOTP(secret)


# ---- TOTP time steps ----------------------------------------------------------

STEP_SECONDS = 30


def code_at(totp: pyotp.TOTP, step: int) -> str:
    """The code of `totp` for 30-second time step `step` (pyotp: independent of the service)."""
    return totp.at(step * STEP_SECONDS)


class ReplayClock:
    """The newest time step the service accepted for one user (as
    tests/e2e/e2e_support.py's ReplayClock): the service takes the codes of
    the previous, current and next step, but only of a step newer than the
    last one it accepted from that user, whichever key or route the code was
    for. Call `fresh_step()` right before typing a code and `accepted(step)`
    once the page shows it was taken; a refused code does not count.

    A code of the previous step is used only while that step stays accepted
    for `margin` seconds more: a browser takes a few seconds per step."""

    def __init__(self, margin: float = 10.0) -> None:
        self.margin = margin
        self.last_accepted: int | None = None

    def fresh_step(self) -> int:
        while True:
            now = time.time()
            current = int(now // STEP_SECONDS)
            oldest = current - 1 if (current + 1) * STEP_SECONDS - now > self.margin else current
            step = oldest if self.last_accepted is None else max(oldest, self.last_accepted + 1)
            if step <= current + 1:
                return step
            # `step` comes in reach when the step before it begins.
            delay = max(0.0, (step - 1) * STEP_SECONDS + 0.5 - now)
            print(f"[browser] waiting {delay:.1f}s for the next TOTP time step")
            time.sleep(delay)

    def accepted(self, step: int) -> None:
        if self.last_accepted is None or step > self.last_accepted:
            self.last_accepted = step
