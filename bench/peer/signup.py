"""The Python peer of the `signup` function, for `make bench`'s cold start comparison.

POST /v1/auth/totp/signup as a Python team would write it for Lambda's
python3.11 runtime: one module, boto3, a pure-Python QR library (segno), the
handler run by the AWS Lambda Runtime Interface Client (awslambdaric, what
the managed runtime itself runs):

    python -m awslambdaric signup.handler    # AWS_LAMBDA_RUNTIME_API set, this folder on PYTHONPATH

What it does per request is what `signup` does on its storage-free path:
a 20-byte secret from the OS CSPRNG, its base32 key, the otpauth URL, a QR
code PNG of that URL as base64, and ONE DynamoDB PutItem (a pending item with
a TTL, conditional on no such item yet); it answers the same JSON
(provisioningURL, image, key). It stores the secret in the clear under a key
prefix of its own (PEER#...): it is a benchmark peer, never a deployment, and
shares no data with the real functions.

Configuration, from the environment: TABLE_NAME (required), PROJECT_ID
(comma-separated projects served), TOTP_ISSUER, PENDING_TTL_SECONDS (600);
the DynamoDB endpoint is boto3's own AWS_ENDPOINT_URL_DYNAMODB (boto3 reads it
itself since 1.34), credentials and region the SDK's usual variables.
"""

import base64
import json
import os
import secrets
import time
import urllib.parse
from io import BytesIO

import boto3
import segno

# Created once per execution environment, outside the handler, as Lambda's
# guidance has it: a warm invocation reuses the client and its connections.
# The cold start pays for importing boto3 and building this client.
dynamodb = boto3.client("dynamodb")
TABLE_NAME = os.environ["TABLE_NAME"]
PROJECTS = {p.strip() for p in os.environ.get("PROJECT_ID", "").split(",") if p.strip()}
ISSUER = os.environ.get("TOTP_ISSUER", "totp-lambda")
PENDING_TTL_SECONDS = int(os.environ.get("PENDING_TTL_SECONDS", "600"))

SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation
# QR rendering as the Rust function draws it: 4 px per module, a 4-module quiet zone.
QR_SCALE = 4
QR_BORDER = 4


def handler(event, context):
    project = _project(event)
    if project is None:
        return _error(401, "E011003", "Invalid argument",
                      "The Authorization header must be 'Bearer <projectId>' with a project served here")
    try:
        body = _json_body(event)
    except ValueError:
        return _error(400, "E011001", "Bad request",
                      "The request body must be a JSON object with fields of the documented types")
    login_id = body.get("loginId")
    if login_id is None or login_id == "":
        return _error(400, "E011002", "Missing arguments", "The loginId argument is required")
    if not isinstance(login_id, str) or len(login_id) > 256:
        return _error(400, "E011003", "Invalid argument", "The loginId argument is invalid")

    secret = secrets.token_bytes(SECRET_BYTES)
    key = base64.b32encode(secret).decode("ascii").rstrip("=")
    url = provisioning_url(ISSUER, login_id, key)
    image = base64.b64encode(qr_png(url)).decode("ascii")

    try:
        dynamodb.put_item(
            TableName=TABLE_NAME,
            Item={
                "pk": {"S": f"PEER#{project}#{login_id}"},
                "k": {"S": key},
                "expiresAt": {"N": str(int(time.time()) + PENDING_TTL_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return _error(409, "E062107", "User already exists", "A sign-up for this loginId is already pending")

    return _answer(200, {"provisioningURL": url, "image": image, "key": key})


def provisioning_url(issuer: str, account: str, key: str) -> str:
    """otpauth://totp/Issuer:account?secret=...&issuer=Issuer&..., each label
    part percent-encoded (everything but RFC 3986's unreserved characters)."""
    issuer = urllib.parse.quote(issuer, safe="")
    account = urllib.parse.quote(account, safe="")
    return (f"otpauth://totp/{issuer}:{account}?secret={key}&issuer={issuer}"
            "&algorithm=SHA1&digits=6&period=30")


def qr_png(text: str) -> bytes:
    """A PNG of the QR code for `text`, error correction M (segno picks the
    version and, as QR libraries do by default, the best of the eight masks)."""
    out = BytesIO()
    segno.make_qr(text, error="m", boost_error=False).save(out, kind="png", scale=QR_SCALE, border=QR_BORDER)
    return out.getvalue()


def _project(event: dict):
    """The project of `Authorization: Bearer <projectId>[:...]`, if served here."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    scheme, _, credentials = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    project = credentials.strip().split(":", 1)[0]
    return project if project in PROJECTS else None


def _json_body(event: dict) -> dict:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8")
    body = json.loads(raw) if raw else {}
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    return body


def _answer(status: int, document: dict) -> dict:
    """A Lambda proxy response (API Gateway HTTP API, payload 2.0)."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json.dumps(document, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _error(status: int, code: str, description: str, message: str) -> dict:
    """Descope's error document, as the Rust functions answer it."""
    return _answer(status, {"errorCode": code, "errorDescription": description, "errorMessage": message})
