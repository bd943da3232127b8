"""scripts/import-users against the served functions, then every imported user signs in.

One import of 1000 generated rows (a CSV file) and two small ones (a JSON list
and JSON Lines) run as subprocesses, the management key passed by environment
or by file. The rows:
  - most with a random 160-bit base32 seed (pyotp.random_base32(32)), some of
    them written in lower case with spaces (how authenticator screens show keys);
  - some as otpauth URLs: SHA256 / 8 digits / 60 s, SHA512 / 8 / 30, SHA1 / 6 / 30;
  - a few disabled, a few with a profile, one non-ASCII loginId, two without seed;
  - a few bad: a short seed, an unknown algorithm, a loginId holding a control
    character, 7 digits, a 45 s period, an HOTP URL, status "invited", not base32.
Then: the report says created for every good row and failed, with a reason, for
every bad one; no seed shows up in stdout, stderr, the report or the state; the
server refuses each bad row on its own too; importing the same loginIds again
with other seeds and statuses changes nothing (all `existed`); an import killed
(SIGINT) after two batches resumes without sending a row twice; and every
imported enabled user signs in through the official SDK with a code pyotp
computes from the seed it was imported with (a disabled one gets 403 E064003).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyotp
import pytest
from descope import AuthException
from descope.management.user import UserObj

from e2e_support import assert_sign_in, assert_user_shape, sdk_error

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "import-users"
RUN_TIMEOUT = 900
USER_DISABLED = "E064003"
INVALID_ARGUMENT = "E011003"
DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
# A code is computed only with at least this long left in its time step.
STEP_MARGIN_SECONDS = 2.0
WORKERS = 8
CSV_ROWS = 1000
RESUME_ROWS = 800
RESUME_BATCH = 10


@dataclass
class Person:
    """One input row and what it should become."""

    login_id: str
    row: dict  # the file's keys: loginId, seed, status, name, ...
    secret: str | None = None  # canonical base32, for pyotp
    algorithm: str = "SHA1"
    digits: int = 6
    period: int = 30
    status: str = "enabled"
    bad: str | None = None  # the field a bad row's reason must name

    def seed_texts(self) -> set[str]:
        """Every spelling of the seed that must never be printed or written."""
        texts = set()
        seed = self.row.get("seed")
        if seed:
            texts.add(seed)
            if seed.startswith("otpauth:"):
                texts.update(urllib.parse.parse_qs(urllib.parse.urlsplit(seed).query).get("secret", []))
            else:
                texts.add(seed.replace(" ", "").replace("=", "").upper())
        if self.secret:
            texts.add(self.secret)
        return {t for t in texts if len(t) >= 8}


def otpauth(secret: str, label: str, **params) -> str:
    query = urllib.parse.urlencode({"secret": secret, "issuer": "Legacy IdP", **params})
    return f"otpauth://totp/{urllib.parse.quote('Legacy IdP:' + label)}?{query}"


def good_person(login_id: str, i: int) -> Person:
    secret = pyotp.random_base32(32)  # 160 bits
    person = Person(login_id, {"loginId": login_id, "seed": secret}, secret=secret)
    if i % 50 == 1:
        person.algorithm, person.digits, person.period = "SHA256", 8, 60
        person.row["seed"] = otpauth(secret, login_id, algorithm="SHA256", digits=8, period=60)
    elif i % 100 == 3:
        person.algorithm, person.digits = "SHA512", 8
        person.row["seed"] = otpauth(secret, login_id, algorithm="SHA512", digits=8, period=30)
    elif i % 100 == 7:
        person.row["seed"] = otpauth(secret, login_id, algorithm="SHA1", digits=6, period=30)
    elif i % 97 == 11:
        person.row["seed"] = " ".join(secret[k : k + 4] for k in range(0, len(secret), 4)).lower()
    if i % 125 == 5:
        person.status = person.row["status"] = "disabled"
    elif i % 9 == 2:
        person.row["status"] = "enabled"
    if i % 10 == 4:
        person.row.update(
            {
                "name": f"Ada Lovelace {i}",
                "givenName": "Ada",
                "middleName": "King",
                "familyName": "Lovelace",
                "email": login_id,
                "phone": f"+1555555{i % 10000:04d}",
            }
        )
    return person


def bad_people(prefix: str) -> list[Person]:
    def seeded(suffix: str, seed: str, bad: str, **extra) -> Person:
        login_id = f"{prefix}-bad-{suffix}@example.com"
        return Person(login_id, {"loginId": login_id, "seed": seed, **extra}, bad=bad)

    control = f"{prefix}-bad-\x07bell@example.com"
    return [
        seeded("short", base64.b32encode(secrets.token_bytes(10)).decode(), "seed"),  # 80 bits
        seeded("md5", otpauth(pyotp.random_base32(32), "x", algorithm="MD5"), "seed"),
        Person(control, {"loginId": control, "seed": pyotp.random_base32(32)}, bad="loginId"),
        seeded("digits", otpauth(pyotp.random_base32(32), "x", digits=7), "seed"),
        seeded("period", otpauth(pyotp.random_base32(32), "x", period=45), "seed"),
        seeded("hotp", otpauth(pyotp.random_base32(32), "x").replace("//totp/", "//hotp/", 1), "seed"),
        seeded("invited", pyotp.random_base32(32), "status", status="invited"),
        seeded("notbase32", "not a seed at all 0189", "seed"),
    ]


def write_csv(path: Path, people: list[Person]) -> None:
    columns = ["loginId", "email", "phone", "name", "givenName", "middleName", "familyName", "seed", "status"]
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for person in people:
            writer.writerow(person.row)


def read_report(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == ["loginId", "outcome", "reason"], rows[:1]
    return rows


def read_state_text(text: str) -> tuple[dict, list[dict]]:
    """The state file: its header line, then one line a row sent."""
    lines = [json.loads(line) for line in text.splitlines()]
    return lines[0], lines[1:]


@dataclass
class Run:
    result: subprocess.CompletedProcess
    report: list[dict]
    state_text: str
    report_text: str

    def texts(self) -> dict[str, str]:
        return {
            "stdout": self.result.stdout,
            "stderr": self.result.stderr,
            "report": self.report_text,
            "state": self.state_text,
        }


@dataclass
class Imported:
    people: list[Person]  # every row of every file
    csv_people: list[Person]
    csv_run: Run
    dry_run: subprocess.CompletedProcess
    json_runs: list[tuple[list[Person], Run]] = field(default_factory=list)
    again_people: list[Person] = field(default_factory=list)
    again_run: Run | None = None


def script_env(settings, key_in_env: str | None = "TOTP_MANAGEMENT_KEY") -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DESCOPE_") and k not in ("TOTP_MANAGEMENT_KEY", "TOTP_BASE_URL", "TOTP_PROJECT_ID")
    }
    env["TOTP_BASE_URL"] = settings.base_url
    env["TOTP_PROJECT_ID"] = settings.project_id
    if key_in_env:
        env[key_in_env] = settings.management_key
    return env


def run_script(input_path: Path, env: dict, *args: str) -> Run:
    state = input_path.with_name(input_path.name + ".state.json")
    report = input_path.with_name(input_path.name + ".report.csv")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(input_path), "--state", str(state), "--report", str(report), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert report.exists(), f"no report: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return Run(result, read_report(report), state.read_text(encoding="utf-8"), report.read_text(encoding="utf-8"))


def assert_no_seed(people: list[Person], texts: dict[str, str]) -> None:
    lowered = {name: text.lower() for name, text in texts.items()}
    for person in people:
        for seed in person.seed_texts():
            for name, text in lowered.items():
                assert seed.lower() not in text, f"a seed of {person.login_id!r} appears in {name}"


@pytest.fixture(scope="module")
def imported(settings, tmp_path_factory) -> Imported:
    if not settings.management_key:
        pytest.fail("TOTP_MANAGEMENT_KEY is not set: the import tests need a management key", pytrace=False)
    assert os.access(SCRIPT, os.X_OK), f"{SCRIPT} is not executable"
    assert SCRIPT.read_text(encoding="utf-8").startswith("#!/usr/bin/env python3\n")
    tmp = tmp_path_factory.mktemp("import")
    prefix = f"imp-{uuid.uuid4().hex[:12]}"

    # 1000 CSV rows: the bad ones spread among the good ones.
    bad = bad_people(prefix)
    bad_at = {100 * k + 50: person for k, person in enumerate(bad)}
    csv_people = []
    for i in range(CSV_ROWS):
        if i in bad_at:
            csv_people.append(bad_at[i])
        elif i == 500:
            csv_people.append(good_person(unicodedata.normalize("NFC", f"zoë-{prefix}@example.com"), i))
        else:
            csv_people.append(good_person(f"{prefix}-{i:04d}@example.com", i))
    csv_path = tmp / "users.csv"
    write_csv(csv_path, csv_people)

    dry = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", str(csv_path)],
        env=script_env(settings, None),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    csv_run = run_script(csv_path, script_env(settings))
    imported = Imported(list(csv_people), csv_people, csv_run, dry)

    # A JSON list (the key in a file) and JSON Lines (the key in DESCOPE_MANAGEMENT_KEY).
    key_file = tmp / "management-key"
    key_file.write_text(settings.management_key + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    for kind in ("json", "jsonl"):
        people = [good_person(f"{prefix}-{kind}-{i:02d}@example.com", i) for i in range(10)]
        for person in people[8:]:  # without a seed: created, no TOTP
            person.row.pop("seed")
            person.secret = None
        objects = [dict(p.row) for p in people]
        path = tmp / f"users.{kind}"
        if kind == "json":
            path.write_text(json.dumps(objects, ensure_ascii=False, indent=1), encoding="utf-8")
            run = run_script(path, script_env(settings, None), "--management-key-file", str(key_file))
        else:
            path.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf-8")
            run = run_script(path, script_env(settings, "DESCOPE_MANAGEMENT_KEY"))
        imported.json_runs.append((people, run))
        imported.people += people

    # The first 100 CSV loginIds again, with other seeds and statuses: nothing may change.
    again = []
    for person in csv_people[:100]:
        if person.bad:
            again.append(person)
            continue
        row = dict(person.row, seed=pyotp.random_base32(32))
        row["status"] = "enabled" if person.status == "disabled" else "disabled"
        again.append(replace(person, row=row, secret=row["seed"]))
    again_path = tmp / "again.csv"
    write_csv(again_path, again)
    imported.again_people = again
    imported.again_run = run_script(again_path, script_env(settings))
    return imported


def test_the_report_has_every_row_created_or_failed_with_a_reason(imported, settings):
    run = imported.csv_run
    assert run.result.returncode == 1, run.result.stdout + run.result.stderr  # the bad rows failed
    assert [r["loginId"] for r in run.report] == [p.login_id for p in imported.csv_people]
    good = sum(1 for p in imported.csv_people if not p.bad)
    bad = len(imported.csv_people) - good
    # A batch whose answer was lost (the emulator drops a large answer now and
    # then) is sent again, says so, and its users come back `existed`.
    resent = sum(
        int(m.group(1)) for m in re.finditer(r"sending (\d+) rows again", run.result.stderr)
    )
    existed = 0
    for person, row in zip(imported.csv_people, run.report):
        if person.bad:
            assert row["outcome"] == "failed", row
            assert person.bad in row["reason"], (person.bad, row)
        elif row["outcome"] == "existed":
            existed += 1
            assert "E062107" in row["reason"], row
        else:
            assert (row["outcome"], row["reason"]) == ("created", ""), row
    assert existed <= resent, run.result.stderr
    assert run.result.stdout.strip().startswith(
        f"{good - existed} created, {existed} existed, {bad} failed"
    ), run.result.stdout
    # One progress line a batch when stderr is not a terminal.
    progress = [line for line in run.result.stderr.splitlines() if " rows done " in line]
    assert len(progress) == -(-good // 100), run.result.stderr
    assert progress[-1].startswith(f"import-users: {len(imported.csv_people)}/{len(imported.csv_people)} rows done")

    header, entries = read_state_text(run.state_text)
    assert header == {"importUsers": 1, "projectId": settings.project_id}
    assert sorted(e["loginId"] for e in entries) == sorted(p.login_id for p in imported.csv_people if not p.bad)
    assert sum(e["outcome"] == "existed" for e in entries) == existed
    assert {e["outcome"] for e in entries} <= {"created", "existed"}

    # --dry-run names exactly the bad rows, sends nothing, and exits 1.
    dry = imported.dry_run
    assert dry.returncode == 1, dry.stdout + dry.stderr
    listed = dry.stdout.splitlines()
    assert len(listed) == bad, listed
    for person, line in zip([p for p in imported.csv_people if p.bad], listed):
        assert ascii(person.login_id) in line and person.bad in line, (person.login_id, line)
    assert f"{len(imported.csv_people)} rows, {good} valid, {bad} invalid; nothing sent" in dry.stderr


def test_json_and_json_lines_files_import(imported, admin):
    for people, run in imported.json_runs:
        assert run.result.returncode == 0, run.result.stdout + run.result.stderr
        assert [(r["loginId"], r["outcome"]) for r in run.report] == [(p.login_id, "created") for p in people]
        for person in people:
            if person.secret is None:
                user = admin.mgmt.user.load(person.login_id)["user"]
                assert user["TOTP"] is False and user["status"] == "enabled", user


def test_no_seed_is_printed_or_written(imported):
    assert_no_seed(imported.csv_people, imported.csv_run.texts())
    assert_no_seed(imported.csv_people, {"dry-run stdout": imported.dry_run.stdout, "dry-run stderr": imported.dry_run.stderr})
    for people, run in imported.json_runs:
        assert_no_seed(people, run.texts())
    assert_no_seed(imported.again_people + imported.csv_people[:100], imported.again_run.texts())


def test_importing_existing_users_changes_nothing(imported, admin):
    run = imported.again_run
    assert run.result.returncode == 1, run.result.stdout + run.result.stderr  # the bad row among them
    for person, row in zip(imported.again_people, run.report):
        assert row["loginId"] == person.login_id
        if person.bad:
            assert row["outcome"] == "failed", row
        else:
            assert row["outcome"] == "existed", row
            assert row["reason"].startswith("E062107"), row
    # Statuses as first imported (the sign-in test shows the seeds are, too).
    originals = {p.login_id: p for p in imported.csv_people[:100] if not p.bad}
    for login_id, person in list(originals.items())[:20]:
        user = admin.mgmt.user.load(login_id)["user"]
        assert user["status"] == person.status and user["TOTP"] is True, user


def test_the_server_refuses_each_bad_row_too(imported, admin):
    """The script's local checks refuse nothing the server would take: each bad row, sent
    straight through the SDK in a batch of its own, is refused by the server (E011003)."""
    for person in [p for p in imported.csv_people if p.bad]:
        user = UserObj(login_id=person.login_id, seed=person.row.get("seed"), status=person.row.get("status"))
        try:
            answer = admin.mgmt.user.invite_batch(users=[user], send_mail=False, send_sms=False)
        except AuthException as err:  # a status the batch as a whole refuses
            sdk_error(err, 400, INVALID_ARGUMENT)
            continue
        assert answer["createdUsers"] == [], (person.bad, answer)
        [failed] = answer["failedUsers"]
        assert failed["failure"].startswith(INVALID_ARGUMENT + ":"), (person.bad, failed)
        assert failed["user"]["loginIds"] == [person.login_id], failed
        for seed in person.seed_texts():
            assert seed.lower() not in json.dumps(answer).lower()


def test_an_interrupted_import_resumes_without_sending_a_row_twice(settings, tmp_path, admin):
    if not settings.management_key:
        pytest.fail("TOTP_MANAGEMENT_KEY is not set", pytrace=False)
    prefix = f"imp-{uuid.uuid4().hex[:12]}"
    people = [good_person(f"{prefix}-resume-{i:04d}@example.com", i) for i in range(RESUME_ROWS)]
    path = tmp_path / "resume.csv"
    write_csv(path, people)
    state = tmp_path / "resume.state.json"
    report = tmp_path / "resume.report.csv"
    command = [
        sys.executable, str(SCRIPT), str(path), "--batch-size", str(RESUME_BATCH),
        "--state", str(state), "--report", str(report),
    ]
    env = script_env(settings)

    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while True:
            done = len(state.read_text(encoding="utf-8").splitlines()) - 1 if state.exists() else 0
            if done >= 2 * RESUME_BATCH:
                break
            assert process.poll() is None, "the import ended before it could be interrupted"
            assert time.monotonic() < deadline, "two batches took too long"
            time.sleep(0.02)
        assert process.poll() is None, "the import ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    first = Run(subprocess.CompletedProcess(command, process.returncode, out, err), read_report(report),
                state.read_text(encoding="utf-8"), report.read_text(encoding="utf-8"))
    assert process.returncode == 130, out + err
    assert "Traceback" not in err, err
    assert "interrupted" in err, err
    _, entries = read_state_text(first.state_text)
    assert 2 * RESUME_BATCH <= len(entries) < RESUME_ROWS, len(entries)
    assert {r["outcome"] for r in first.report} == {"created", "pending"}, first.report[:3]

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Traceback" not in resumed.stderr, resumed.stderr
    final = read_report(report)
    assert [r["loginId"] for r in final] == [p.login_id for p in people]
    outcomes = [r["outcome"] for r in final]
    assert set(outcomes) <= {"created", "existed"}, set(outcomes)
    # Only the batch whose answer the interruption lost can come back as existed.
    assert outcomes.count("existed") <= RESUME_BATCH, outcomes.count("existed")

    # Every row was recorded once: the resumed run skipped what the first had done.
    _, entries = read_state_text(state.read_text(encoding="utf-8"))
    recorded = [e["loginId"] for e in entries]
    assert len(recorded) == len(set(recorded)) == RESUME_ROWS
    assert_no_seed(people, first.texts())
    assert_no_seed(people, {"stdout": resumed.stdout, "stderr": resumed.stderr,
                            "report": report.read_text(encoding="utf-8"), "state": state.read_text(encoding="utf-8")})

    # One user a loginId, each with its key.
    def load(person: Person) -> dict:
        user = admin.mgmt.user.load(person.login_id)["user"]
        assert user["loginIds"] == [person.login_id] and user["TOTP"] is True, user
        assert user["status"] == person.status, user
        return user

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        users = list(pool.map(load, people))
    assert len({u["userId"] for u in users}) == RESUME_ROWS


def code_now(person: Person) -> str:
    """The current code of the person's key, never within STEP_MARGIN_SECONDS of the step's end."""
    left = person.period - time.time() % person.period
    if left < STEP_MARGIN_SECONDS:
        time.sleep(left + 0.1)
    totp = pyotp.TOTP(person.secret, digits=person.digits, digest=DIGESTS[person.algorithm], interval=person.period)
    return totp.now()


def test_every_imported_user_signs_in(imported, sdk, settings, admin):
    people = [p for p in imported.people if not p.bad and p.secret]
    assert len(people) >= CSV_ROWS - 10, len(people)
    local = threading.local()

    def client():
        if not hasattr(local, "client"):
            local.client = sdk()
        return local.client

    def sign_in(person: Person) -> str | None:
        c = client()
        if person.status == "disabled":
            with pytest.raises(AuthException) as err:
                c.totp.sign_in_code(person.login_id, code_now(person))
            sdk_error(err.value, 403, USER_DISABLED)
            return None
        resp = c.totp.sign_in_code(person.login_id, code_now(person))
        user_id = assert_sign_in(resp, c, settings.project_id, person.login_id, first_seen=False)
        user = resp["user"]
        assert user["status"] == "enabled" and user["TOTP"] is True, user
        for key in ("name", "givenName", "middleName", "familyName", "email", "phone"):
            assert user[key] == person.row.get(key, ""), (key, user)
        return user_id

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        user_ids = list(pool.map(sign_in, people))
    signed_in = [u for u in user_ids if u is not None]
    disabled = [p for p in people if p.status == "disabled"]
    assert disabled and len(signed_in) == len(people) - len(disabled)
    assert len(set(signed_in)) == len(signed_in)

    for person in disabled:
        user = admin.mgmt.user.load(person.login_id)["user"]
        assert_user_shape(user)
        assert user["status"] == "disabled" and user["TOTP"] is True, user
