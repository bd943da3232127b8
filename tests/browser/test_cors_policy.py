"""The CORS policy: what the served functions answer browsers (as `make dev`
and `make test` serve them, with cargo lambda watch's own CORS off), and what
template.yaml makes API Gateway answer in AWS. Both come from ALLOWED_ORIGINS
and must agree."""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest
import requests
from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform

from browser_support import ROOT, Settings, origin_of

# Every route with its method, as the HTTP API and Cargo.toml's router serve them.
ROUTES = [
    ("POST", "/v1/auth/totp/signup"),
    ("POST", "/v1/auth/totp/verify"),
    ("POST", "/v1/auth/totp/update"),
    ("POST", "/v1/auth/totp/recovery-codes"),
    ("POST", "/v1/auth/totp/recovery"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/logoutall"),
    ("GET", "/v1/auth/me"),
    ("GET", "/v2/keys/{project}"),
    ("POST", "/v1/mgmt/user/logout"),
    ("GET", "/v1/mgmt/user"),
]
# What @descope/web-js-sdk 1.53 sends on a TOTP call (read from its source).
SDK_HEADERS = "authorization,content-type,x-descope-project-id,x-descope-sdk-name,x-descope-sdk-session-id,x-descope-sdk-version"


def preflight(settings: Settings, path: str, origin: str, method: str = "POST") -> requests.Response:
    return requests.options(
        settings.base_url + path.format(project=settings.project_id),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": SDK_HEADERS,
        },
        timeout=30,
    )


def cors_headers(response: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def split(value: str) -> list[str]:
    return [v.strip().lower() for v in value.split(",") if v.strip()]


def served_policy(settings: Settings) -> dict:
    """The functions' answer to an allowed origin's preflight, in the template's terms."""
    origin = settings.allowed_origins[0]
    response = preflight(settings, "/v1/auth/totp/signup", origin)
    assert response.status_code == 204, response.text
    headers = cors_headers(response)
    post = requests.post(
        f"{settings.base_url}/v1/auth/totp/signup", headers={"Origin": origin}, data="{}", timeout=30
    )
    return {
        "allowMethods": split(headers["access-control-allow-methods"]),
        "allowHeaders": split(headers["access-control-allow-headers"]),
        "exposeHeaders": split(post.headers["access-control-expose-headers"]),
        "maxAge": int(headers["access-control-max-age"]),
        "allowCredentials": headers.get("access-control-allow-credentials") == "true",
    }


def test_the_allowed_origins_preflight_succeeds_on_every_route(settings: Settings) -> None:
    for origin in settings.allowed_origins:
        for method, path in ROUTES:
            response = preflight(settings, path, origin, method)
            assert response.status_code == 204, (path, response.status_code, response.text)
            headers = cors_headers(response)
            assert headers.get("access-control-allow-origin") == origin, (path, headers)
            assert headers.get("access-control-allow-credentials") == "true", (path, headers)
            assert method.lower() in split(headers["access-control-allow-methods"]), (path, headers)
            assert set(split(SDK_HEADERS)) <= set(split(headers["access-control-allow-headers"])), (path, headers)
            assert int(headers["access-control-max-age"]) > 0
            assert "origin" in split(response.headers.get("vary", "")), path


def test_another_origins_preflight_fails(settings: Settings) -> None:
    allowed = urlparse(settings.allowed_origins[0])
    blocked = origin_of(settings.blocked_web_url)
    others = [
        blocked,
        "https://evil.example.com",
        "null",
        f"https://{allowed.netloc}",  # same host and port, other scheme
        f"{allowed.scheme}://{allowed.netloc}.evil.example.com",
        f"{allowed.scheme}://{allowed.netloc}/",
    ]
    for origin in others:
        assert origin not in settings.allowed_origins
        for method, path in ROUTES:
            response = preflight(settings, path, origin, method)
            # API Gateway's way: an answer without any Access-Control-* header,
            # which the browser takes as a refusal.
            assert cors_headers(response) == {}, (origin, path, cors_headers(response))


def test_responses_are_readable_by_the_allowed_origin_only(settings: Settings) -> None:
    url = f"{settings.base_url}/v1/auth/totp/signup"
    allowed = requests.post(url, headers={"Origin": settings.allowed_origins[0]}, data="{}", timeout=30)
    assert allowed.status_code == 401  # no project: refused, but readable by the page
    assert allowed.headers["access-control-allow-origin"] == settings.allowed_origins[0]
    assert "retry-after" in split(allowed.headers["access-control-expose-headers"])
    other = requests.post(url, headers={"Origin": "https://evil.example.com"}, data="{}", timeout=30)
    assert other.status_code == 401
    assert cors_headers(other) == {}


# ---- template.yaml ----------------------------------------------------------


class NoManagedPolicies:
    """The functions' policies are inline statements: SAM looks no managed policy up."""

    def load(self) -> dict:
        return {}


def resolve(node, parameters: dict, conditions: dict):
    """Evaluates the few intrinsics the CORS configuration uses, as CloudFormation would."""
    if isinstance(node, list):
        return [resolve(n, parameters, conditions) for n in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return None if node["Ref"] == "AWS::NoValue" else parameters[node["Ref"]]
    if set(node) == {"Fn::Split"}:
        separator, text = node["Fn::Split"]
        return resolve(text, parameters, conditions).split(separator)
    if set(node) == {"Fn::If"}:
        name, yes, no = node["Fn::If"]
        return resolve(yes if resolve(conditions[name], parameters, conditions) else no, parameters, conditions)
    if set(node) == {"Fn::Not"}:
        return not resolve(node["Fn::Not"][0], parameters, conditions)
    if set(node) == {"Fn::Equals"}:
        a, b = node["Fn::Equals"]
        return resolve(a, parameters, conditions) == resolve(b, parameters, conditions)
    return {k: resolve(v, parameters, conditions) for k, v in node.items()}


def deployed(allowed_origins: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict | None, dict]:
    """The HTTP API's CORS configuration and the functions' ALLOWED_ORIGINS, as
    deployed from template.yaml with AllowedOrigins=allowed_origins: the SAM
    transform (what `sam deploy` runs), then CloudFormation's intrinsics."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template, errors = decode_str((ROOT / "template.yaml").read_text())
    assert not errors, errors
    template = json.loads(json.dumps(template))
    # What `sam package` does to CodeUri: the code as an S3 object.
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/totp-lambda.zip"
    parameters = {"AllowedOrigins": allowed_origins}
    output = transform(template, parameters, NoManagedPolicies())
    conditions = output.get("Conditions", {})
    apis = [r for r in output["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    assert len(apis) == 1
    cors = resolve(apis[0]["Properties"]["Body"].get("x-amazon-apigateway-cors"), parameters, conditions)
    functions = [r for r in output["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert functions
    environments = {
        resolve(f["Properties"]["Environment"]["Variables"]["ALLOWED_ORIGINS"], parameters, conditions)
        for f in functions
    }
    assert len(environments) == 1, environments
    return cors, {"ALLOWED_ORIGINS": environments.pop()}


def test_the_templates_cors_is_exactly_allowed_origins(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    served = served_policy(settings)
    for origins in ("https://app.example.com", "https://app.example.com,http://127.0.0.1:8080"):
        cors, environment = deployed(origins, monkeypatch)
        assert environment == {"ALLOWED_ORIGINS": origins}
        assert cors is not None
        assert cors.pop("allowOrigins") == origins.split(",")
        normalized = {k: ([x.lower() for x in v] if isinstance(v, list) else v) for k, v in cors.items()}
        # The rest is what the functions answer under make dev and make test.
        assert normalized == served, (normalized, served)

    # Default: no CORS configuration at all, so no browser origin is allowed.
    cors, environment = deployed("", monkeypatch)
    assert cors is None
    assert environment == {"ALLOWED_ORIGINS": ""}


def test_the_templates_allowed_origins_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parameter accepts only what the functions accept (src/config.rs's tests
    list the same cases), so a value that deploys also starts the functions."""
    template, _ = decode_str((ROOT / "template.yaml").read_text())
    parameter = template["Parameters"]["AllowedOrigins"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    good = [
        "",
        "https://app.example.com",
        "http://127.0.0.1:8080",
        "http://localhost:5173",
        "https://app.example.com,https://login.example.com",
        "http://a:65535",
        "https://x.example.com:4430",
        "http://x:180",
    ]
    bad = [
        "*",
        "null",
        "https://*.example.com",
        "https://app.example.com/",
        "https://app.example.com/login",
        "https://App.example.com",
        "app.example.com",
        "ftp://app.example.com",
        "http://127.0.0.1:0",
        "http://user@app.example.com",
        "https://app..example.com",
        "https://-app.example.com",
        "https://app.example.com, https://login.example.com",
        "https://app.example.com,",
        "https://app.example.com:443",
        "http://app.example.com:80",
        "https://a.example.com:443,https://b.example.com",
        "https://ok.example.com,http://app.example.com:80",
        "http://127.0.0.1:65536",
        "http://127.0.0.1:99999",
        "http://[::1]:8080",
        "https://" + "a" * 64 + ".example.com",
    ]
    for value in good:
        assert pattern.fullmatch(value), value
    for value in bad:
        assert not pattern.fullmatch(value), value


def test_the_page_is_served_from_its_own_origin(settings: Settings) -> None:
    page = origin_of(settings.web_url)
    api = origin_of(settings.base_url)
    assert page != api, "the page must be on another origin than the API, or CORS is never exercised"
    assert page in settings.allowed_origins
    config = requests.get(f"{settings.web_url.rstrip('/')}/config.js", timeout=30).text
    assert json.dumps(settings.base_url) in config


def test_the_built_page_names_no_path_of_this_machine() -> None:
    dist = ROOT / "web" / "dist"
    assert (dist / "app.js").is_file(), "build the page first (scripts/test.sh does)"
    for path in dist.iterdir():
        assert str(ROOT) not in path.read_text(errors="replace"), path
