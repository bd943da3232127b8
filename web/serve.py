#!/usr/bin/env python3
"""Serves the built page (web/dist) on loopback, for `make dev` and the browser test.

    serve.py PORT BASE_URL PROJECT_ID [DIST]

Every file comes from DIST (default: web/dist next to this script) except
config.js, which points the page at BASE_URL and PROJECT_ID, and index.html,
whose Content-Security-Policy gets BASE_URL's origin as its only connect-src
(as `node build.mjs --base-url … --project-id …` writes them for a static
host). Every answer carries that policy as a header too, with
`frame-ancestors 'none'`, which only a header can set. No caching, so a rebuilt
page shows at the next reload.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

CONNECT_SRC = re.compile(r"connect-src [^;\"]*")
POLICY = re.compile(r'<meta http-equiv="Content-Security-Policy"\s+content="([^"]*)"')
ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d+)?")


def api_origin(base_url: str) -> str:
    """BASE_URL's origin, exactly as a browser (and connect-src) spells it."""
    parts = urlsplit(base_url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
            or parts.query or parts.fragment or port == -1:
        sys.exit(f"BASE_URL {base_url!r}: an http(s) URL without user, query or fragment")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")
    if not ORIGIN.fullmatch(origin):
        sys.exit(f"BASE_URL {base_url!r}: not an origin a Content-Security-Policy can name")
    return origin


class Handler(SimpleHTTPRequestHandler):
    config_js = b""
    origin = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path == "/config.js":
            self.send_body(self.config_js, "text/javascript; charset=utf-8")
        elif path in ("/", "/index.html"):
            self.send_body(self.page(), "text/html; charset=utf-8")
        else:
            super().do_GET()

    def page(self) -> bytes:
        """dist/index.html, its Content-Security-Policy's connect-src naming the API's origin only."""
        html = (Path(self.directory) / "index.html").read_text(encoding="utf-8")
        html, count = POLICY.subn(lambda m: m.group(0).replace(m.group(1), self.policy(m.group(1))), html)
        if count != 1:
            raise RuntimeError("index.html holds no Content-Security-Policy meta tag")
        return html.encode()

    def policy(self, policy: str) -> str:
        policy, count = CONNECT_SRC.subn(f"connect-src {self.origin}", policy)
        if count != 1:
            raise RuntimeError("the page's Content-Security-Policy holds no connect-src")
        return policy

    def header_policy(self) -> str:
        """The page's policy with `frame-ancestors 'none'`; that alone while index.html is unreadable (a rebuild)."""
        try:
            meta = POLICY.search((Path(self.directory) / "index.html").read_text(encoding="utf-8"))
            if meta:
                return f"{self.policy(meta.group(1))}; frame-ancestors 'none'"
        except (OSError, RuntimeError):
            pass
        return "default-src 'none'; frame-ancestors 'none'"

    def send_body(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        # What the meta tag says, and what it cannot: no page may frame this one.
        self.send_header("Content-Security-Policy", self.header_policy())
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        sys.stderr.write(f"[web] {self.address_string()} {format % args}\n")


def main() -> None:
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    port, base_url, project_id = int(sys.argv[1]), sys.argv[2].strip().rstrip("/"), sys.argv[3].strip()
    dist = Path(sys.argv[4]) if len(sys.argv) == 5 else Path(__file__).resolve().parent / "dist"
    if not (dist / "app.js").is_file():
        sys.exit(f"{dist}/app.js is missing: build the page first (npm --prefix web run build)")
    if not re.fullmatch(r"[A-Za-z0-9]+", project_id):
        sys.exit(f"PROJECT_ID {project_id!r}: letters and digits only")
    Handler.origin = api_origin(base_url)
    config = {"baseUrl": base_url, "projectId": project_id}
    Handler.config_js = f"window.TOTP_CONFIG = {json.dumps(config)};\n".encode()
    Handler.extensions_map = {**Handler.extensions_map, ".js": "text/javascript"}
    handler = functools.partial(Handler, directory=str(dist))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
