"""What the browser suite's fixtures and tests share."""

from __future__ import annotations

import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

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
