#!/usr/bin/env python3
"""The bench harness behind `make bench` (and, with --check, one step of `make test`).

Runs every function binary (src/bin) through the Lambda Runtime API emulator
of bench/emulator.py, against the DynamoDB table named by --table on
AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local), with the configuration the
functions read in dev and test (PROJECT_ID, TABLE_NAME, the *_KEYS_FILE
documents, which it generates with scripts/gen-keys.sh into a temporary
directory removed at exit):

- cold start: the binary spawned --cold times, one sample event each;
  spawn → response posted (monotonic clock), peak RSS (VmHWM) once it
  answered, CPU time (user + sys, wait4's rusage) of the process, killed
  (SIGTERM) after it answered;
- warm path: one instance serving --warm events in a row, then
  --instances instances serving --per-instance events each at the same
  time (Lambda runs one invocation at a time per instance: concurrency is
  instances); latency is event handed out → response posted, plus
  invocations/s and CPU per invocation;
- with --compute-json and --lambda-dir, the compute rows of
  `cargo bench --bench compute` and the size of each arm64 bootstrap and of
  its zip join the table.

It prints one table and writes it, with the samples, as JSON (--out).
Every answer's statusCode is checked: anything unexpected fails the run
loudly. No time is ever asserted. --check: statuses only, no table.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import datetime
import hashlib
import hmac
import io
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator import Invocation, RuntimeApi  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ["signup", "verify", "update", "keys", "sessions", "management"]
# The floors (examples/floor_*.rs, built with the same release profile): what
# any lambda_http program costs, and one that sets the AWS SDK up the default
# way and makes one DynamoDB PutItem per request. Each function's cold start,
# CPU and RSS are shown as a ratio to them.
FLOORS = {"floor-hello": "floor_hello", "floor-put-item": "floor_put_item"}
# A Python Lambda doing signup's work (bench/peer/signup.py, boto3 and segno,
# under awslambdaric as Lambda's python runtime runs it): peer → the function
# whose requests it answers. Its venv is made by scripts/bench.sh.
PEERS = {"signup-python": "signup"}
PEER_PYTHON = ROOT / ".tools" / "bench-peer" / "bin" / "python"
PROJECT = "P2TotpLambdaBench"
SAMPLE_PROJECT = "P2TotpLambdaSampleProject01"  # the project id in events/*.json
MEMORY_SIZE_MB = 256  # template.yaml's MemorySize, announced to the runtime
# A hang guard: an instance that neither answers nor exits within this long
# is reported as stuck. It is no performance limit.
HANG_SECONDS = 60
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# What each function is asked, and the status it must answer.
REQUESTS = {
    "signup": ("POST /v1/auth/totp/signup, a new loginId each time", 200),
    "verify": ("POST /v1/auth/totp/verify, the correct code of a pending user, a new one each time", 200),
    "update": ("POST /v1/auth/totp/update with a live refresh JWT", 200),
    "keys": (f"GET /v2/keys/{PROJECT}", 200),
    "sessions": ("POST /v1/auth/refresh with a live refresh JWT", 200),
    "management": ("GET /v1/mgmt/user?loginId=… with a management key", 200),
    "floor-hello": ("any event (the keys request); answers a constant", 200),
    "floor-put-item": ("any event (the keys request); one PutItem of a new item", 200),
    "signup-python": ("POST /v1/auth/totp/signup, a new loginId each time (bench/peer/signup.py)", 200),
}


class BenchError(Exception):
    """A failure of the run: a function answered something unexpected, or could not run."""


# ---------------------------------------------------------------- processes

_live: dict[int, str] = {}  # pid → description, of every instance not yet reaped
_live_lock = threading.Lock()


def _kill_all() -> None:
    with _live_lock:
        pids = list(_live)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    with _live_lock:
        _live.clear()


atexit.register(_kill_all)


def _on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a live process, in clock ticks (/proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError as e:
        raise BenchError(f"cannot read the CPU time of process {pid}: {e}") from None
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def _peak_rss_bytes(pid: int) -> int:
    """The process's peak RSS so far: VmHWM of /proc/<pid>/status.

    Not wait4's ru_maxrss: on Linux that counts the memory of the process
    image replaced by exec, which for a child of this harness is the
    harness's own (tens of MiB), not the function's.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError) as e:
        raise BenchError(f"cannot read the peak RSS of process {pid}: {e}") from None
    raise BenchError(f"/proc/{pid}/status has no VmHWM")


class Instance:
    """One function process (one Lambda execution environment) and its Runtime API."""

    def __init__(self, bench: "Bench", function: str, label: str):
        self.function = function
        self.label = label
        self.api = RuntimeApi(function)
        self.log = bench.logs / f"{label}.log"
        self.pid: Optional[int] = None
        self.spawned_ns: Optional[int] = None
        self.status: Optional[int] = None  # wait status, once reaped
        self.rusage = None
        self._env = bench.function_env(function, self.api.address)
        self._argv = bench.command(function)

    def spawn(self) -> None:
        log_flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(self.log), log_flags, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        self.spawned_ns = time.monotonic_ns()
        try:
            self.pid = os.posix_spawn(
                self._argv[0],
                self._argv,
                self._env,
                file_actions=actions,
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM),
            )
        except OSError as e:
            raise BenchError(f"cannot start {self._argv[0]}: {e}") from None
        with _live_lock:
            _live[self.pid] = self.label

    def _reap(self, options: int) -> bool:
        if self.pid is None or self.status is not None:
            return True
        pid, status, rusage = os.wait4(self.pid, options)
        if pid == 0:
            return False
        self.status, self.rusage = status, rusage
        with _live_lock:
            _live.pop(self.pid, None)
        return True

    def exited(self) -> bool:
        return self._reap(os.WNOHANG)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join("    " + line[:400] for line in text[-lines:]) or "    (empty log)"

    def _failure(self, what: str) -> BenchError:
        return BenchError(f"{self.label}: {what}\n  its log ({self.log.name}), last lines:\n{self.log_tail()}")

    def wait(self, invocation: Invocation) -> Invocation:
        """Waits until the invocation is answered; the process dying first, or
        hanging, fails the run."""
        deadline = time.monotonic() + HANG_SECONDS
        while not invocation.done.wait(0.02):
            if self.exited():
                detail = f"init error: {self.api.init_error}" if self.api.init_error else ""
                raise self._failure(f"the process exited ({_describe_status(self.status)}) before answering "
                                    f"{invocation.label or 'its event'} {detail}".rstrip())
            if time.monotonic() > deadline:
                raise self._failure(f"no answer to {invocation.label or 'its event'} after {HANG_SECONDS} s "
                                    "(a hang guard, not a time limit)")
        return invocation

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 5 s), reaped for its rusage; the emulator closed."""
        try:
            if self.pid is not None and not self.exited():
                os.kill(self.pid, signal.SIGTERM)
                deadline = time.monotonic() + 5
                while not self.exited():
                    if time.monotonic() > deadline:
                        os.kill(self.pid, signal.SIGKILL)
                        self._reap(0)
                        break
                    time.sleep(0.002)
        finally:
            self.api.close()

    def peak_rss_bytes(self) -> int:
        """Peak RSS so far (the process must be running)."""
        if self.pid is None or self.exited():
            raise self._failure("exited before its peak RSS was read")
        return _peak_rss_bytes(self.pid)

    @property
    def cpu_ns(self) -> int:
        return int((self.rusage.ru_utime + self.rusage.ru_stime) * 1e9)


def _describe_status(status: Optional[int]) -> str:
    if status is None:
        return "running"
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


# ---------------------------------------------------------------- TOTP (RFC 6238)


def totp_now(base32_key: str) -> str:
    """The current 6-digit SHA-1 code of a 30-second step (RFC 6238 / RFC 4226)."""
    key = base32_key.strip().replace(" ", "").upper()
    key += "=" * (-len(key) % 8)
    try:
        secret = base64.b32decode(key)
    except ValueError as e:
        raise BenchError(f"signup answered a key that is not base32: {e}") from None
    digest = hmac.new(secret, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


# ---------------------------------------------------------------- events


def _template(name: str) -> dict:
    path = ROOT / "events" / name
    try:
        return json.loads(path.read_text().replace(SAMPLE_PROJECT, PROJECT))
    except (OSError, ValueError) as e:
        raise BenchError(f"cannot read the sample event events/{name}: {e}") from None


class Events:
    """Sample API Gateway HTTP API (payload 2.0) events from events/*.json."""

    def __init__(self):
        self.signup_t = _template("signup-http-api.json")
        self.verify_t = _template("verify-http-api.json")
        self.update_t = _template("update-http-api.json")
        self.keys_t = _template("keys-http-api.json")
        self.refresh_t = _template("refresh-http-api.json")
        self.mgmt_t = _template("mgmt-load-user.json")
        self._count = 0
        self._lock = threading.Lock()

    def _fill(self, template: dict, body: Optional[dict] = None, authorization: Optional[str] = None) -> bytes:
        event = json.loads(json.dumps(template))
        with self._lock:
            self._count += 1
            n = self._count
        now = time.time()
        context = event["requestContext"]
        context["requestId"] = f"BeNcH{n:010d}="
        context["timeEpoch"] = int(now * 1000)
        context["time"] = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
        headers = event["headers"]
        headers["x-amzn-trace-id"] = f"Root=1-{int(now):08x}-{n:024x}"
        if authorization is not None:
            headers["authorization"] = authorization
        if body is not None:
            event["body"] = json.dumps(body, separators=(",", ":"))
            headers["content-length"] = str(len(event["body"].encode()))
        return json.dumps(event).encode()

    def signup(self, login_id: str) -> bytes:
        return self._fill(self.signup_t, {"loginId": login_id, "user": {"name": "Bench User", "email": login_id}})

    def verify(self, login_id: str, code: str) -> bytes:
        return self._fill(self.verify_t, {"loginId": login_id, "code": code})

    def update(self, login_id: str, refresh_jwt: str) -> bytes:
        return self._fill(self.update_t, {"loginId": login_id}, f"Bearer {PROJECT}:{refresh_jwt}")

    def keys(self) -> bytes:
        return self._fill(self.keys_t)

    def refresh(self, refresh_jwt: str) -> bytes:
        return self._fill(self.refresh_t, {}, f"Bearer {PROJECT}:{refresh_jwt}")

    def management_load(self, login_id: str, management_key: str) -> bytes:
        template = json.loads(json.dumps(self.mgmt_t))
        template["rawQueryString"] = "loginId=" + urllib.parse.quote(login_id, safe="")
        template["queryStringParameters"] = {"loginId": login_id}
        return self._fill(template, None, f"Bearer {PROJECT}:{management_key}")


# ---------------------------------------------------------------- statistics


def percentile(samples: list[int], fraction: float) -> int:
    """The sample at `fraction` of the sorted list (p50: the upper median), as benches/compute.rs reads them."""
    ordered = sorted(samples)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def fmt_ns(ns: Optional[float]) -> str:
    if ns is None:
        return "-"
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def fmt_mib(n_bytes: Optional[float], digits: int = 1) -> str:
    return "-" if n_bytes is None else f"{n_bytes / 1048576:.{digits}f} MiB"


# ---------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.bins = (ROOT / args.bins).resolve() if not Path(args.bins).is_absolute() else Path(args.bins)
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir()
        self.events = Events()
        self.base_env = self._base_env()
        self.helpers: dict[str, Instance] = {}
        self._users = 0
        self.run_tag = f"{int(time.time())}-{os.getpid()}"

    def command(self, function: str) -> list[str]:
        """The argv of one instance of `function`."""
        if function in PEERS:
            if not os.access(PEER_PYTHON, os.X_OK):
                raise BenchError("no .tools/bench-peer: scripts/bench.sh makes it from bench/peer/requirements.txt")
            return [str(PEER_PYTHON), "-m", "awslambdaric", f"{PEERS[function]}.handler"]
        return [self.binary(function)]

    def binary(self, function: str) -> str:
        if function in FLOORS:
            path = self.bins / "examples" / FLOORS[function]
            build = f"cargo build [--release] --example {FLOORS[function]}"
        else:
            path = self.bins / function
            build = "cargo build [--release] --bins"
        if not os.access(path, os.X_OK):
            raise BenchError(f"no binary {path}: build it first ({build})")
        return str(path)

    def _base_env(self) -> dict[str, str]:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", "")
        if not endpoint.startswith(("http://127.0.0.1:", "http://localhost:")):
            raise BenchError("AWS_ENDPOINT_URL_DYNAMODB must name a DynamoDB Local on loopback "
                             "(scripts/bench.sh starts one)")
        keys = self._generate_keys()
        region = os.environ.get("AWS_REGION", "us-east-1")
        env = {
            # What the functions read in dev and test (scripts/lib.sh write_watch_env).
            "PROJECT_ID": PROJECT,
            "TOTP_ISSUER": "totp-lambda bench",
            "TABLE_NAME": self.args.table,
            "SIGNING_KEYS_FILE": str(keys["signing"]),
            "PUBLIC_KEYS_FILE": str(keys["public"]),
            "ENCRYPTION_KEYS_FILE": str(keys["encryption"]),
            "MANAGEMENT_KEYS_FILE": str(keys["management"]),
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", region),
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "RUST_LOG": os.environ.get("BENCH_RUST_LOG", "info"),
            # As template.yaml sets it, and what Lambda itself sets.
            "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_SIZE_MB),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/totp-lambda-bench",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2025/01/01/[$LATEST]bench",
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
        }
        return env

    def function_env(self, function: str, runtime_api: str) -> dict[str, str]:
        env = dict(self.base_env)
        env["AWS_LAMBDA_RUNTIME_API"] = runtime_api
        env["AWS_LAMBDA_FUNCTION_NAME"] = f"totp-lambda-bench-{function}"
        if function in PEERS:
            # awslambdaric imports the handler from the path, as Lambda does from /var/task
            # (read-only there: no bytecode written, none left in the repository here).
            env["PYTHONPATH"] = str(ROOT / "bench" / "peer")
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env["AWS_EXECUTION_ENV"] = "AWS_Lambda_python3.11"
        return env

    def _generate_keys(self) -> dict[str, Path]:
        keys = self.workdir / "keys"
        keys.mkdir(mode=0o700)
        gen = str(ROOT / "scripts" / "gen-keys.sh")
        paths = {name: keys / f"{name}.json" for name in ("signing", "public", "encryption", "management")}

        def run(argv: list[str], out: Path, stdin: Optional[Path] = None) -> str:
            """Runs gen-keys.sh with stdout to `out`; returns what it printed on stderr."""
            with open(out, "wb") as o, open(stdin or os.devnull, "rb") as i:
                result = subprocess.run(argv, stdin=i, stdout=o, stderr=subprocess.PIPE)
            printed = result.stderr.decode(errors="replace")
            if result.returncode != 0:
                raise BenchError(f"scripts/gen-keys.sh {' '.join(argv[1:3])} failed: {printed.strip()}")
            return printed

        run([gen, "signing", "bench", PROJECT, self.args.keys], paths["signing"])
        run([gen, "public"], paths["public"], stdin=paths["signing"])
        run([gen, "encryption", "bench"], paths["encryption"])
        # The management keys themselves are printed once, on stderr, as "<projectId> <key>".
        printed = run([gen, "management", "bench", PROJECT], paths["management"])
        pairs = dict(line.split(" ", 1) for line in printed.splitlines() if " " in line)
        if PROJECT not in pairs:
            raise BenchError("scripts/gen-keys.sh management printed no key for the bench project")
        self.management_key = pairs[PROJECT].strip()
        return paths

    # ---- checking answers

    def check(self, function: str, invocation: Invocation, instance: Instance) -> dict:
        """The answer's body (parsed when JSON); an unexpected status fails the run."""
        expected = REQUESTS[function][1]
        try:
            answer = invocation.lambda_response()
        except ValueError as e:
            raise instance._failure(f"{invocation.label}: {e}") from None
        body_text = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            body_text = base64.b64decode(body_text).decode(errors="replace")
        if answer["statusCode"] != expected:
            raise instance._failure(f"{invocation.label}: answered {answer['statusCode']}, expected {expected}: "
                                    f"{body_text[:400]}")
        try:
            return json.loads(body_text) if body_text else {}
        except ValueError:
            return {"_text": body_text}

    # ---- state the requests need (through helper instances, never measured)

    def helper(self, function: str) -> Instance:
        if function not in self.helpers:
            instance = Instance(self, function, f"helper-{function}")
            instance.spawn()
            self.helpers[function] = instance
        return self.helpers[function]

    def call(self, function: str, event: bytes, label: str) -> dict:
        helper = self.helper(function)
        invocation = helper.wait(helper.api.submit(lambda: event, label))
        return self.check(function, invocation, helper)

    def new_login_id(self, kind: str) -> str:
        self._users += 1
        return f"bench-{kind}-{self.run_tag}-{self._users}@example.com"

    def pending_users(self, count: int) -> list[tuple[str, str]]:
        """`count` users signed up, not yet verified: (loginId, base32 key)."""
        users = []
        for _ in range(count):
            login_id = self.new_login_id("pending")
            answer = self.call("signup", self.events.signup(login_id), f"signup of {login_id}")
            if not isinstance(answer.get("key"), str):
                raise BenchError(f"signup answered no key: {str(answer)[:200]}")
            users.append((login_id, answer["key"]))
        return users

    def signed_in_users(self, count: int) -> list[tuple[str, str]]:
        """`count` registered users, each with a live refresh JWT: (loginId, refreshJwt)."""
        users = []
        for login_id, key in self.pending_users(count):
            answer = self.call("verify", self.events.verify(login_id, totp_now(key)), f"verify of {login_id}")
            if not isinstance(answer.get("refreshJwt"), str):
                raise BenchError(f"verify answered no refreshJwt: {str(answer)[:200]}")
            users.append((login_id, answer["refreshJwt"]))
        return users

    def event_source(self, function: str, count: int, slot: int = 0) -> Callable[[], Callable[[], bytes]]:
        """Prepares the state `count` events of `function` need; returns a
        maker of event builders (each called when its event is handed out,
        so a TOTP code is computed at that moment)."""
        events = self.events
        function = PEERS.get(function, function)
        if function == "signup":
            def source():
                login_id = self.new_login_id("signup")
                return lambda: events.signup(login_id)
        elif function == "verify":
            pending = iter(self.pending_users(count))

            def source():
                login_id, key = next(pending)
                return lambda: events.verify(login_id, totp_now(key))
        elif function == "keys" or function in FLOORS:
            def source():
                return events.keys
        else:
            login_id, refresh_jwt = self.session_users[slot % len(self.session_users)]
            if function == "update":
                def source():
                    return lambda: events.update(login_id, refresh_jwt)
            elif function == "sessions":
                def source():
                    return lambda: events.refresh(refresh_jwt)
            elif function == "management":
                def source():
                    return lambda: events.management_load(login_id, self.management_key)
            else:
                raise BenchError(f"no request for function {function!r}")
        return source

    # ---- measurements

    def cold_once(self, function: str, make: Callable[[], bytes], run: int) -> tuple[int, int, int]:
        """One cold start: (spawn → response posted ns, peak RSS bytes, CPU ns)."""
        instance = Instance(self, function, f"{function}-cold-{run + 1}")
        try:
            invocation = instance.api.submit(make, f"cold start {run + 1} of {function}")
            instance.spawn()
            instance.wait(invocation)
            peak_rss = instance.peak_rss_bytes()
            self.check(function, invocation, instance)
        finally:
            instance.stop()
        return invocation.done_ns - instance.spawned_ns, peak_rss, instance.cpu_ns

    def cold(self, functions: list[str], runs: int) -> dict[str, dict]:
        """`runs` cold starts of each function, taken in turns (one of each,
        then the next round), so a change in the machine's load while they
        run falls on every function alike and the ratios stay fair. Each
        round goes in its own shuffled order (seeded: the same every run), so
        no function always follows the one that just left DynamoDB Local busy."""
        sources = {function: self.event_source(function, runs) for function in functions}
        samples = {function: ([], [], []) for function in functions}
        for run in range(runs):
            order = list(functions)
            random.Random(run).shuffle(order)
            for function in order:
                for series, value in zip(samples[function], self.cold_once(function, sources[function](), run)):
                    series.append(value)
        return {
            function: {
                "runs": runs,
                "p50_ns": percentile(latencies, 0.5),
                "p99_ns": percentile(latencies, 0.99),
                "samples_ns": latencies,
                "peak_rss_bytes": {"p50": percentile(rss, 0.5), "max": max(rss), "samples": rss, "source": "VmHWM"},
                "cpu_ns": {"p50": percentile(cpu, 0.5), "samples": cpu},
            }
            for function, (latencies, rss, cpu) in samples.items()
        }

    def warm(self, function: str, instances: int, per_instance: int) -> dict:
        """`instances` processes, each first answering one unmeasured event
        (its cold start), then `per_instance` events queued at once."""
        started = []
        try:
            sources = []
            for slot in range(instances):
                sources.append(self.event_source(function, per_instance + 1, slot))
                instance = Instance(self, function, f"{function}-warm-{instances}x-{slot + 1}")
                started.append(instance)
                first = instance.api.submit(sources[-1](), f"first event of {instance.label}")
                instance.spawn()
                instance.wait(first)
                self.check(function, first, instance)
            cpu_before = [_cpu_ticks(i.pid) for i in started]
            t0 = time.monotonic_ns()
            queued = [[i.api.submit(source(), f"warm event {n + 1} of {i.label}") for n in range(per_instance)]
                      for i, source in zip(started, sources)]
            for instance, invocations in zip(started, queued):
                for invocation in invocations:
                    instance.wait(invocation)
            t1 = max(inv.done_ns for invocations in queued for inv in invocations)
            cpu_after = [_cpu_ticks(i.pid) for i in started]
            peak_rss = max(i.peak_rss_bytes() for i in started)
            for instance, invocations in zip(started, queued):
                for invocation in invocations:
                    self.check(function, invocation, instance)
        finally:
            for instance in started:
                instance.stop()
        latencies = [inv.latency_ns for invocations in queued for inv in invocations]
        total = len(latencies)
        cpu_ns = (sum(cpu_after) - sum(cpu_before)) * 1e9 / CLOCK_TICKS
        return {
            "instances": instances,
            "invocations": total,
            "p50_ns": percentile(latencies, 0.5),
            "p99_ns": percentile(latencies, 0.99),
            "invocations_per_s": total / ((t1 - t0) / 1e9),
            "cpu_ns_per_invocation": cpu_ns / total,
            "peak_rss_bytes": peak_rss,
        }

    def stop_helpers(self) -> None:
        for instance in self.helpers.values():
            instance.stop()
        self.helpers.clear()


# ---------------------------------------------------------------- sizes, machine


def sizes(lambda_dir: Path) -> dict:
    """Each arm64 bootstrap and its zip (deflate, level 9, the file named bootstrap)."""
    result = {}
    for function in FUNCTIONS:
        bootstrap = lambda_dir / function / "bootstrap"
        try:
            data = bootstrap.read_bytes()
        except OSError as e:
            raise BenchError(f"no arm64 bootstrap for {function} ({e}): run cargo lambda build --release --arm64")
        # ELF, e_machine 183: AArch64.
        if data[:4] != b"\x7fELF" or struct.unpack_from("<H", data, 18)[0] != 183:
            raise BenchError(f"{bootstrap} is not an arm64 ELF executable")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o100755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=9)
        result[function] = {"bootstrap_bytes": len(data), "zip_bytes": len(buffer.getvalue())}
    return result


def machine() -> dict:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    uname = os.uname()
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "kernel": f"{uname.sysname} {uname.release}",
        "arch": uname.machine,
        # Anything else running shares the cores: how busy they were in the
        # second before the measurements (nothing of the bench running).
        "busy_before_percent": _busy_percent(1.0),
    }


def _busy_percent(seconds: float) -> Optional[float]:
    """The share of all cores' time not idle over `seconds` (/proc/stat)."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return round(100 * (1 - (idle1 - idle0) / max(total1 - total0, 1)), 1)


def commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ---------------------------------------------------------------- the table


def table(report: dict) -> list[str]:
    m, s = report["machine"], report["settings"]
    lines = [
        f"totp-lambda make bench · {report['date']} · {m['cpu']}, {m['cores']} cores, {m['kernel']} {m['arch']}, "
        f"{m['busy_before_percent']}% busy before · commit {report['commit']}",
        f"functions: {s['binaries']}, signing keys {s['keys']}, DynamoDB Local and the Runtime API emulator on the "
        f"same machine, {s['memory_size_mb']} MB announced; p99 of {s['cold_runs']} cold starts is their maximum",
    ]
    header = ["", "p50", "p99", "n", "peak RSS", "CPU", "inv/s", "arm64 bootstrap", "zip"]
    rows = []
    for row in report["compute"]:
        rows.append([f"compute  {row['name']}", fmt_ns(row["median_ns"]), fmt_ns(row["p99_ns"]), str(row["runs"]),
                     "", "", "", "", ""])
    groups = [report["functions"], report.get("floors", {}), report.get("peer", {})]
    for function, result in [item for group in groups for item in group.items()]:
        cold, size = result.get("cold"), result.get("size") or {}
        if cold:
            rows.append([f"{function:<10} cold start: spawn → response", fmt_ns(cold["p50_ns"]), fmt_ns(cold["p99_ns"]),
                         str(cold["runs"]), fmt_mib(cold["peak_rss_bytes"]["p50"]), fmt_ns(cold["cpu_ns"]["p50"]), "",
                         fmt_mib(size.get("bootstrap_bytes"), 2), fmt_mib(size.get("zip_bytes"), 2)])
        for warm in result.get("warm", []):
            n = warm["instances"]
            what = "warm, 1 instance in a row" if n == 1 else f"warm, {n} instances at once"
            rows.append([f"{function:<10} {what}", fmt_ns(warm["p50_ns"]), fmt_ns(warm["p99_ns"]),
                         str(warm["invocations"]), fmt_mib(warm["peak_rss_bytes"]),
                         "≈" + fmt_ns(warm["cpu_ns_per_invocation"]),
                         f"{warm['invocations_per_s']:.0f}", "", ""])
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first] + rest).rstrip()

    lines.append(render(header))
    lines.append("-" * len(render(["x" * w for w in widths])))
    lines.extend(render(r) for r in rows)
    lines += [
        "cold start: process spawned → its first response posted to the emulator; CPU: user + sys of the whole "
        "process; peak RSS: VmHWM after the response (p50)",
        "warm: event handed out → response posted, each instance's first (cold) event excluded; CPU per invocation "
        "from /proc (10 ms ticks, ≈); peak RSS: the largest instance's VmHWM at the end",
        "requests (every answer's status is checked):",
    ]
    lines += [f"  {f:<10} {REQUESTS[f][0]} → {REQUESTS[f][1]}" for group in groups for f in group]
    lines += ratio_table(report)
    return lines


def ratios(report: dict) -> dict[str, dict[str, dict[str, float]]]:
    """Each function's cold start p50, its CPU and peak RSS (p50) divided by
    each floor's: {function: {floor: {"cold": …, "cpu": …, "rss": …}}}."""
    def figures(result: dict) -> dict[str, float]:
        cold = result["cold"]
        return {"cold": cold["p50_ns"], "cpu": cold["cpu_ns"]["p50"], "rss": cold["peak_rss_bytes"]["p50"]}

    floors = {name: figures(result) for name, result in report.get("floors", {}).items()}
    others = {**report["functions"], **report.get("peer", {})}
    return {
        function: {floor: {k: figures(result)[k] / max(base[k], 1) for k in base} for floor, base in floors.items()}
        for function, result in others.items()
    }


def ratio_table(report: dict) -> list[str]:
    """The cold starts as ratios to the floors (1.00×: as cheap as the floor)."""
    table_ratios = ratios(report)
    floors = list(report.get("floors", {}))
    if not floors or not table_ratios:
        return []
    header = ["cold start ÷ floor (p50)"] + [f"{what} ÷ {floor}" for floor in floors for what in ("time", "CPU", "RSS")]
    rows = [[function] + [f"{by_floor[floor][k]:.2f}×" for floor in floors for k in ("cold", "cpu", "rss")]
            for function, by_floor in table_ratios.items()]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        return "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]).rstrip()

    return ["", render(header), "-" * len(render(["x" * w for w in widths]))] + [render(r) for r in rows] + [
        "floor-hello: a lambda_http hello world; floor-put-item: the same with aws_config::load_from_env() and "
        "one DynamoDB PutItem per request (examples/floor_*.rs, the same release profile)",
    ]


def write_report(report: dict, out: Optional[str]) -> None:
    """The report as JSON at `out`, if one is named."""
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1) + "\n")
        print(f"\nwritten to {os.path.relpath(path.resolve(), ROOT)}", file=sys.stderr)


def run_guarded(name: str, body: Callable[[Path, list["Bench"]], int]) -> int:
    """Runs `body(workdir, started)` with a fresh temporary directory; a
    BenchError or an interrupt becomes a message and an exit status, and
    whatever ends it, every Bench the body put in `started` has its helpers
    stopped, no instance is left running and the directory is removed."""
    workdir = Path(tempfile.mkdtemp(prefix=f"totp-{name}-"))
    started: list[Bench] = []
    try:
        return body(workdir, started)
    except BenchError as e:
        print(f"\n{name}: FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return 130
    finally:
        for bench in started:
            try:
                bench.stop_helpers()
            except Exception:  # noqa: BLE001: cleaning up after a failure
                pass
        _kill_all()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bins", required=True, help="directory of the function binaries (target/release)")
    parser.add_argument("--table", required=True, help="the DynamoDB table (created already)")
    parser.add_argument("--cold", type=int, default=int(os.environ.get("BENCH_COLD", 20)))
    parser.add_argument("--warm", type=int, default=int(os.environ.get("BENCH_WARM", 200)))
    parser.add_argument("--instances", type=int, default=int(os.environ.get("BENCH_INSTANCES", 4)))
    parser.add_argument("--per-instance", type=int, default=int(os.environ.get("BENCH_PER_INSTANCE", 50)))
    parser.add_argument("--keys", choices=["ec", "rsa"], default=os.environ.get("BENCH_KEYS", "ec"),
                        help="signing keys: ec (P-256, ES256; default) or rsa (RSA-2048, RS256)")
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--no-floors", dest="floors", action="store_false",
                        help="leave out the floor programs (examples/floor_*.rs)")
    parser.add_argument("--no-peer", dest="peer", action="store_false",
                        help="leave out the Python peer of signup (bench/peer)")
    parser.add_argument("--compute-json", help="rows of cargo bench --bench compute -- --json")
    parser.add_argument("--lambda-dir", help="cargo lambda build's output (target/lambda): sizes")
    parser.add_argument("--out", help="write the report as JSON here")
    parser.add_argument("--check", action="store_true",
                        help="correctness only (make test): statuses checked, no table, no times printed")
    args = parser.parse_args()
    functions = [f.strip() for f in args.functions.split(",") if f.strip()]
    for function in functions:
        if function not in FUNCTIONS:
            parser.error(f"unknown function {function!r} (one of {', '.join(FUNCTIONS)})")
    if min(args.cold, args.warm, args.instances, args.per_instance) < 1:
        parser.error("--cold, --warm, --instances and --per-instance must be at least 1")

    def measure(workdir: Path, started: list[Bench]) -> int:
        bench = Bench(args, workdir)
        started.append(bench)
        # Refresh JWTs of users who signed up and in, one per concurrent instance.
        bench.session_users = bench.signed_in_users(max(args.instances, 1))
        report = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "commit": commit(),
            "settings": {
                "binaries": os.path.relpath(bench.bins, ROOT) if bench.bins.is_relative_to(ROOT) else bench.bins.name,
                "keys": "ES256 (P-256)" if args.keys == "ec" else "RS256 (RSA-2048)",
                "cold_runs": args.cold, "warm": args.warm, "instances": args.instances,
                "per_instance": args.per_instance, "memory_size_mb": MEMORY_SIZE_MB,
                "requests": {f: {"request": REQUESTS[f][0], "status": REQUESTS[f][1]} for f in functions},
            },
            "compute": [],
            "functions": {},
            "floors": {},
            "peer": {},
        }
        if args.compute_json:
            try:
                report["compute"] = json.loads(Path(args.compute_json).read_text())
            except (OSError, ValueError) as e:
                raise BenchError(f"cannot read the compute rows {args.compute_json}: {e}") from None
        size = sizes(Path(args.lambda_dir)) if args.lambda_dir else {}
        floors = list(FLOORS) if args.floors else []
        measured = functions + floors + (list(PEERS) if args.peer else [])
        print(f"bench: {args.cold} cold start(s) of each of {', '.join(measured)}, in turns",
              file=sys.stderr, flush=True)
        cold = bench.cold(measured, args.cold)
        for function in measured:
            print(f"bench: {function}: {args.warm} warm invocations, {args.instances}×{args.per_instance} concurrent",
                  file=sys.stderr, flush=True)
            result = {"cold": cold[function],
                      "warm": [bench.warm(function, 1, args.warm),
                               bench.warm(function, args.instances, args.per_instance)]}
            if function in size:
                result["size"] = size[function]
            group = "floors" if function in FLOORS else "peer" if function in PEERS else "functions"
            report[group][function] = result
        bench.stop_helpers()
        if args.check:
            total = sum(r["cold"]["runs"] + sum(w["invocations"] + w["instances"] for w in r["warm"])
                        for group in ("functions", "floors", "peer") for r in report[group].values())
            print(f"bench harness: {', '.join(measured)} answered every event as expected "
                  f"({total} invocations; statuses only, no time is checked)")
            return 0
        report["ratios"] = ratios(report)
        report["table"] = table(report)
        print("\n".join(report["table"]))
        write_report(report, args.out)
        return 0

    return run_guarded("bench", measure)


if __name__ == "__main__":
    sys.exit(main())
