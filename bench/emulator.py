"""A Lambda Runtime API emulator for the bench (Python 3 standard library only).

Each function instance gets its own emulator on 127.0.0.1 and a free port,
as each Lambda execution environment has its own Runtime API. It serves
what a custom runtime (`bootstrap`) calls:

  GET  /2018-06-01/runtime/invocation/next           the next event (long poll)
  POST /2018-06-01/runtime/invocation/<id>/response  the invocation's answer
  POST /2018-06-01/runtime/invocation/<id>/error     the invocation failed
  POST /2018-06-01/runtime/init/error                the runtime failed to start

Every event is handed out with the headers Lambda sends
(Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn,
-Trace-Id). Times are `time.monotonic_ns()`: `sent_ns` just before the event
is written to the runtime, `done_ns` when the response (or error) request
arrives. Nothing here measures or asserts how long anything takes; the bench
does the arithmetic.
"""

from __future__ import annotations

import http.server
import json
import queue
import socketserver
import sys
import threading
import time
import uuid
from typing import Callable, Optional

API_PREFIX = "/2018-06-01/runtime"
# The function timeout the deadline header announces (template.yaml: Timeout 10).
DEADLINE_MS = 10_000


class Invocation:
    """One event handed to the runtime, and what came back."""

    def __init__(self, make_event: Callable[[], bytes], label: str = ""):
        self.make_event = make_event
        self.label = label
        self.request_id = str(uuid.uuid4())
        self.event: Optional[bytes] = None
        self.sent_ns: Optional[int] = None
        self.done_ns: Optional[int] = None
        self.response: Optional[bytes] = None
        # Set when the runtime posted to /error (or init failed): (kind, body).
        self.error: Optional[tuple[str, str]] = None
        self.done = threading.Event()

    @property
    def latency_ns(self) -> int:
        if self.sent_ns is None or self.done_ns is None:
            raise RuntimeError(f"invocation {self.label or self.request_id} has not completed")
        return self.done_ns - self.sent_ns

    def lambda_response(self) -> dict:
        """The Lambda response document (API Gateway payload 2.0 answer)."""
        if self.error is not None:
            kind, body = self.error
            raise ValueError(f"the runtime reported {kind}: {body[:500]}")
        try:
            answer = json.loads(self.response or b"")
        except ValueError as e:
            raise ValueError(f"the response is not JSON ({e}): {(self.response or b'')[:300]!r}") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("statusCode"), int):
            raise ValueError(f"the response has no integer statusCode: {str(answer)[:300]}")
        return answer


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name; loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address) -> None:
        # A killed instance drops its connection mid-request: expected, not an error.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's
    # algorithm and delayed ACKs would add tens of milliseconds to some answers.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass

    @property
    def api(self) -> "RuntimeApi":
        return self.server.api  # type: ignore[attr-defined]

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, body: bytes = b"", headers: Optional[dict] = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._answer(404, b'{"errorMessage":"unknown path"}')
            return
        invocation = self.api._next()
        if invocation is None:  # the emulator is closing
            self.close_connection = True
            return
        try:
            event = invocation.make_event()
        except Exception as e:  # noqa: BLE001: reported to the bench, which fails loudly
            invocation.error = ("a bench error building the event", repr(e))
            invocation.done.set()
            self.close_connection = True
            return
        invocation.event = event
        deadline = int(time.time() * 1000) + DEADLINE_MS
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline),
            "Lambda-Runtime-Invoked-Function-Arn": self.api.function_arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
            f"Parent={uuid.uuid4().hex[:16]};Sampled=0",
        }
        with self.api._lock:
            self.api._in_flight[invocation.request_id] = invocation
        invocation.sent_ns = time.monotonic_ns()
        try:
            self._answer(200, event, headers)
        except OSError:
            self.close_connection = True

    def do_POST(self) -> None:
        arrived = time.monotonic_ns()
        body = self._read_body()
        path = self.path
        if path == f"{API_PREFIX}/init/error":
            self.api._init_failed(body.decode("utf-8", "replace"))
            self._answer(202, b'{"status":"OK"}')
            return
        prefix = f"{API_PREFIX}/invocation/"
        if path.startswith(prefix) and path.count("/") == 5:
            request_id, kind = path[len(prefix):].split("/", 1)
            if kind in ("response", "error"):
                with self.api._lock:
                    invocation = self.api._in_flight.pop(request_id, None)
                if invocation is None:
                    self._answer(400, b'{"errorMessage":"unknown or answered request id"}')
                    return
                invocation.done_ns = arrived
                if kind == "response":
                    invocation.response = body
                else:
                    error_type = self.headers.get("Lambda-Runtime-Function-Error-Type", "")
                    invocation.error = (f"an invocation error {error_type}".strip(), body.decode("utf-8", "replace"))
                self._answer(202, b'{"status":"OK"}')
                invocation.done.set()
                return
        self._answer(404, b'{"errorMessage":"unknown path"}')


class RuntimeApi:
    """One instance's Runtime API on 127.0.0.1, a free port."""

    def __init__(self, function_name: str):
        self.function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self._pending: "queue.Queue[Invocation]" = queue.Queue()
        self._in_flight: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.init_error: Optional[str] = None
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def submit(self, make_event: Callable[[], bytes], label: str = "") -> Invocation:
        """Queues one event; the runtime takes it with its next GET .../next."""
        invocation = Invocation(make_event, label)
        self._pending.put(invocation)
        return invocation

    def _next(self) -> Optional[Invocation]:
        while not self._closed.is_set():
            try:
                return self._pending.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def _init_failed(self, body: str) -> None:
        self.init_error = body
        # Nothing queued will be answered: fail whatever waits.
        with self._lock:
            waiting = list(self._in_flight.values())
            self._in_flight.clear()
        while True:
            try:
                waiting.append(self._pending.get_nowait())
            except queue.Empty:
                break
        for invocation in waiting:
            invocation.error = ("an init error", body)
            invocation.done.set()

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
