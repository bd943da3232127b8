"""The audit trail end to end: a scripted attack on one user through the
server, then the official SDK's `mgmt.audit.search` reads back exactly those
events in order; a scan of the audit table finds none of the secrets the
attack used; and the EventBridge feed delivered the lockout and the key
removal (and nothing else) to a queue subscribed with docs/audit.md's pattern.

make test runs the audit function under `cargo lambda watch`, fed by
scripts/stream_poller.py from DynamoDB Local's stream, and gives:
  TOTP_AUDIT_TABLE       the audit table on DynamoDB Local (AWS_ENDPOINT_URL_DYNAMODB)
  TOTP_AUDIT_QUEUE_URL   the SQS queue (on moto, TOTP_MOTO_ENDPOINT) behind the bus rule
"""

from __future__ import annotations

import json
import os
import time

import boto3
import pytest

from e2e_support import ReplayClock, code_at, new_login_id, wrong_code

# What the scripted attack leaves, oldest first.
EXPECTED = [
    "TOTPSignUpStarted",
    "UserCreated",
    "LoginSucceed",
    "TOTPKeyUpdateStarted",
    "TOTPKeyUpdated",
    "LoginFailed",
    "LoginFailed",
    "LoginFailed",
    "LoginFailed",
    "LoginExceedMaxAttempts",
    "Logout",
    "TOTPKeyRemoved",
]
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"{name} is not set: make test names the audit table, queue and endpoints", pytrace=False)
    return value


def test_a_scripted_attack_reads_back_in_order_without_a_secret_and_feeds_the_siem(api, settings, sdk):
    if not settings.management_key:
        pytest.fail("TOTP_MANAGEMENT_KEY is not set", pytrace=False)
    admin = sdk(management_key=settings.management_key)
    login_id = new_login_id()
    clock = ReplayClock()
    secrets = [login_id]

    signup = api.signup(login_id)
    assert signup.status_code == 200, signup.text
    key = signup.json()["key"]
    step = clock.fresh_step()
    first = api.verify(login_id, code_at(key, step))
    assert first.status_code == 200, first.text
    clock.accepted(step)
    user_id = first.json()["user"]["userId"]
    step = clock.fresh_step()
    signed_in = api.verify(login_id, code_at(key, step))
    assert signed_in.status_code == 200, signed_in.text
    clock.accepted(step)
    refresh = signed_in.json()["refreshJwt"]
    updated = api.update(login_id, refresh)
    assert updated.status_code == 200, updated.text
    new_key = updated.json()["key"]
    step = clock.fresh_step()
    confirmed = api.verify(login_id, code_at(new_key, step))
    assert confirmed.status_code == 200, confirmed.text
    clock.accepted(step)
    secrets += [key, new_key, refresh, confirmed.json()["refreshJwt"], first.json()["sessionJwt"]]
    # Wrong codes until the lockout (LOCKOUT_MAX_ATTEMPTS=5 in make test), and one refused unread.
    for _ in range(5):
        wrong = wrong_code(key, new_key)
        secrets.append(wrong)
        assert api.verify(login_id, wrong).status_code == 401
    assert api.verify(login_id, wrong_code(new_key)).status_code == 429
    admin.mgmt.user.logout_user(login_id)
    admin.mgmt.user.remove_totp_seed(login_id)

    # The stream reaches the audit function within a moment.
    deadline = time.time() + 90
    while True:
        audits = admin.mgmt.audit.search(login_ids=[login_id])["audits"]
        if len(audits) >= len(EXPECTED) or time.time() > deadline:
            break
        time.sleep(1)
    assert [a["action"] for a in audits] == list(reversed(EXPECTED)), [a["action"] for a in audits]
    assert all(a["projectId"] == settings.project_id for a in audits)
    assert all(a["userId"] == user_id for a in audits[:-1]), "the pending sign-up had no userId yet"
    assert all(a["method"] == "totp" for a in audits)
    times = [a["occurred"] for a in audits]
    assert times == sorted(times, reverse=True), "newest first"
    lockout = audits[2]
    assert lockout["action"] == "LoginExceedMaxAttempts" and lockout["data"] == {"attempts": 5, "dailyFailures": 5}
    by_user = admin.mgmt.audit.search(user_ids=[user_id], actions=["LoginFailed"])["audits"]
    assert len(by_user) == 4

    # No secret, code, token or loginId in any record (time and sequence digits aside).
    table = boto3.resource("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"], **CREDENTIALS).Table(
        _env("TOTP_AUDIT_TABLE")
    )
    items = table.scan()["Items"]
    text = json.dumps(
        [{k: v for k, v in item.items() if k not in ("sk", "occurred", "sequence", "expiresAt")} for item in items],
        default=str,
    )
    assert user_id in text, "the scan reads this user's records"
    for secret in secrets:
        assert secret not in text, "a secret, code, token or loginId is in the audit table"

    # The SIEM's queue got the lockout and the key removal, nothing else of this user.
    sqs = boto3.client("sqs", endpoint_url=_env("TOTP_MOTO_ENDPOINT"), **CREDENTIALS)
    delivered: list[str] = []
    deadline = time.time() + 30
    while time.time() < deadline and len(delivered) < 2:
        got = sqs.receive_message(QueueUrl=_env("TOTP_AUDIT_QUEUE_URL"), MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in got.get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail"].get("userId") == user_id:
                assert event["source"] == "totp-lambda.audit"
                delivered.append(event["detail-type"])
    assert sorted(delivered) == ["LoginExceedMaxAttempts", "TOTPKeyRemoved"], delivered
