#!/usr/bin/env python3
"""Serves the built page (web/dist) on loopback, for `make dev` and the browser test.

    serve.py PORT BASE_URL PROJECT_ID [DIST]

Every file comes from DIST (default: web/dist next to this script) except
config.js, which points the page at BASE_URL and PROJECT_ID. No caching, so a
rebuilt page shows at the next reload. Any static host serves the page the same
way (see web/README-section.md); this one only saves writing config.js.
"""

from __future__ import annotations

import functools
import json
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(SimpleHTTPRequestHandler):
    config_js = b""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?", 1)[0] == "/config.js":
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript; charset=utf-8")
            self.send_header("Content-Length", str(len(self.config_js)))
            self.end_headers()
            self.wfile.write(self.config_js)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        sys.stderr.write(f"[web] {self.address_string()} {format % args}\n")


def main() -> None:
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    port, base_url, project_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist = Path(sys.argv[4]) if len(sys.argv) == 5 else Path(__file__).resolve().parent / "dist"
    if not (dist / "app.js").is_file():
        sys.exit(f"{dist}/app.js is missing: build the page first (npm --prefix web run build)")
    config = {"baseUrl": base_url, "projectId": project_id}
    Handler.config_js = f"window.TOTP_CONFIG = {json.dumps(config)};\n".encode()
    Handler.extensions_map = {**Handler.extensions_map, ".js": "text/javascript"}
    handler = functools.partial(Handler, directory=str(dist))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
