"""template.yaml as deployed: which function may read which key secret, every
method of every route reaching its function (405 in AWS as locally), the
alarms and the log metrics they count, tracing, and what must not be lost."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT

# The contract's routes: path -> (function, its own method).
ROUTES = {
    "/v1/auth/totp/signup": ("SignupFunction", "post"),
    "/v1/auth/totp/verify": ("VerifyFunction", "post"),
    "/v1/auth/totp/update": ("UpdateFunction", "post"),
    "/v2/keys/{projectId}": ("KeysFunction", "get"),
    "/v1/auth/refresh": ("SessionsFunction", "post"),
    "/v1/auth/logout": ("SessionsFunction", "post"),
    "/v1/auth/logoutall": ("SessionsFunction", "post"),
    "/v1/auth/me": ("SessionsFunction", "get"),
    "/v1/mgmt/user/totp/delete": ("ManagementFunction", "post"),
    "/v1/mgmt/user/delete": ("ManagementFunction", "post"),
    "/v1/mgmt/user": ("ManagementFunction", "get"),
    "/v1/mgmt/user/logout": ("ManagementFunction", "post"),
    "/v1/mgmt/user/signin/embeddedlink": ("ManagementFunction", "post"),
    "/v1/auth/magiclink/verify": ("SessionsFunction", "post"),
    "/v1/auth/totp/recovery": ("VerifyFunction", "post"),
    "/v1/auth/totp/recovery-codes": ("UpdateFunction", "post"),
    "/v1/mgmt/user/recovery-codes/delete": ("ManagementFunction", "post"),
}
# Every method an HTTP API route takes, but OPTIONS (CORS preflights are API Gateway's).
ROUTED_METHODS = {"get", "post", "put", "patch", "delete", "head"}

# What each function may read, and the variable that names it (src/app.rs).
SECRETS = {
    "SignupFunction": {"EncryptionKeysSecretArn"},
    "VerifyFunction": {"SigningKeysSecretArn", "EncryptionKeysSecretArn"},
    "UpdateFunction": {"PublicKeysSecretArn", "EncryptionKeysSecretArn"},
    "KeysFunction": {"PublicKeysSecretArn"},
    "SessionsFunction": {"SigningKeysSecretArn"},
    "ManagementFunction": {"ManagementKeysSecretArn"},
}
VARIABLES = {
    "SigningKeysSecretArn": "SIGNING_KEYS_SECRET_ARN",
    "PublicKeysSecretArn": "PUBLIC_KEYS_SECRET_ARN",
    "EncryptionKeysSecretArn": "ENCRYPTION_KEYS_SECRET_ARN",
    "ManagementKeysSecretArn": "MANAGEMENT_KEYS_SECRET_ARN",
}


def resources(output: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in output["Resources"].items() if r["Type"] == kind}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def secret_reads(role: dict) -> set[str]:
    """The parameters whose secrets a role's inline statements may read."""
    read = set()
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = as_list(statement["Action"])
            if any(a.lower().startswith("secretsmanager:") or a == "*" for a in actions):
                assert statement["Effect"] == "Allow"
                assert actions == ["secretsmanager:GetSecretValue"], statement
                for resource in as_list(statement["Resource"]):
                    assert set(resource) == {"Ref"}, f"a secret by its parameter only: {resource}"
                    read.add(resource["Ref"])
    return read


def test_the_private_signing_keys_reach_only_the_functions_that_sign(transformed) -> None:
    output = transformed()
    functions = resources(output, "AWS::Lambda::Function")
    assert set(functions) == set(SECRETS)
    roles = resources(output, "AWS::IAM::Role")
    for function, expected in SECRETS.items():
        role = roles[f"{function}Role"]
        assert secret_reads(role) == expected, function
        # No managed policy that could read secrets: logs only (X-Ray when traced).
        assert role["Properties"]["ManagedPolicyArns"] == [
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        ], function
        # The function is told exactly the secrets it may read, no other.
        variables = functions[function]["Properties"]["Environment"]["Variables"]
        named = {name for name in variables if name.endswith("_KEYS_SECRET_ARN")}
        assert named == {VARIABLES[p] for p in expected}, function
        for parameter in expected:
            assert variables[VARIABLES[parameter]] == {"Ref": parameter}
    signers = {f for f, read in SECRETS.items() if "SigningKeysSecretArn" in read}
    assert signers == {"VerifyFunction", "SessionsFunction"}


def test_the_key_parameters_take_full_secret_arns(template) -> None:
    parameters = template["Parameters"]
    for name in VARIABLES:
        pattern = re.compile(parameters[name]["AllowedPattern"])
        assert pattern.fullmatch("arn:aws:secretsmanager:eu-west-1:123456789012:secret:totp-lambda/public-keys-AbC123")
        assert not pattern.fullmatch("totp-lambda/public-keys")
    assert re.fullmatch(parameters["KeysVersion"]["AllowedPattern"], "")
    assert re.fullmatch(parameters["KeysVersion"]["AllowedPattern"], "0123456789abcdef0123456789abcdef")


def test_every_method_of_every_route_reaches_its_function(transformed) -> None:
    output = transformed()
    apis = resources(output, "AWS::ApiGatewayV2::Api")
    assert len(apis) == 1
    paths = next(iter(apis.values()))["Properties"]["Body"]["paths"]
    assert set(paths) == set(ROUTES)
    for path, (function, own) in ROUTES.items():
        methods = paths[path]
        # OPTIONS and ANY stay unrouted: API Gateway answers CORS preflights itself.
        assert set(methods) == ROUTED_METHODS, (path, sorted(methods))
        assert own in methods
        for method, operation in methods.items():
            uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            assert f"${{{function}.Arn}}" in uri, (path, method, uri)
            assert operation["x-amazon-apigateway-integration"]["payloadFormatVersion"] == "2.0"
    # `make dev` routes the same paths (every method) to the same functions.
    router = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["metadata"]["lambda"]["watch"]["router"]
    assert {p: f for p, f in router.items()} == {
        p: ROUTES[p][0].removesuffix("Function").lower() for p in ROUTES
    }
    # API Gateway may invoke each function on its own routes.
    permissions = resources(output, "AWS::Lambda::Permission")
    for function in {f for f, _ in ROUTES.values()}:
        assert any(p["Properties"]["FunctionName"] == {"Ref": function} for p in permissions.values()), function


def test_what_must_outlive_a_mistake(transformed) -> None:
    output = transformed()
    table = output["Resources"]["Table"]
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    for name, group in resources(output, "AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] in (30, 365), name


def test_tracing_is_optional(transformed) -> None:
    for tracing, traced in [("Disabled", False), ("Active", True), (None, False)]:
        output = transformed(**({"Tracing": tracing} if tracing else {}))
        for name, function in resources(output, "AWS::Lambda::Function").items():
            config = function["Properties"].get("TracingConfig")
            assert (config is not None) == traced, (tracing, name, config)
            policies = output["Resources"][f"{name}Role"]["Properties"]["ManagedPolicyArns"]
            assert any("AWSXrayWriteOnlyAccess" in p for p in policies) == traced, (tracing, name)


# ---- alarms and the metrics taken from log lines ---------------------------------


def pattern_terms(pattern: str) -> list[tuple[str, str, object]]:
    """The terms of a CloudWatch Logs JSON filter pattern of the form
    `{ $.a = "x" && $.b >= 500 }`: (field, operator, value)."""
    match = re.fullmatch(r"\{\s*(.*?)\s*\}", pattern)
    assert match, pattern
    terms = []
    for term in match.group(1).split("&&"):
        parsed = re.fullmatch(r'\s*\$\.(\w+)\s*(=|!=|>=|<=|>|<)\s*("[^"]*"|-?\d+(?:\.\d+)?)\s*', term)
        assert parsed, f"an unexpected term in {pattern!r}: {term!r}"
        field, operator, raw = parsed.groups()
        value = raw[1:-1] if raw.startswith('"') else float(raw)
        terms.append((field, operator, value))
    return terms


def matches(pattern: str, line: dict) -> bool:
    """As CloudWatch Logs evaluates those patterns: a quoted value compares with
    a string field, a number with a numeric field; a missing field never matches."""
    compare = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
    }
    for field, operator, value in pattern_terms(pattern):
        actual = line.get(field)
        if isinstance(value, str):
            if not isinstance(actual, str) or operator not in ("=", "!=") or not compare[operator](actual, value):
                return False
        elif isinstance(actual, bool) or not isinstance(actual, (int, float)) or not compare[operator](actual, value):
            return False
    return True


def request_line(status: int, error_code: str = "") -> dict:
    """A function's request line, as src/http/mod.rs `serve` writes it
    (tracing's JSON, fields flattened; tests/logs.rs reads the same shape)."""
    return {
        "timestamp": "2026-11-27T10:00:00.000000Z",
        "level": "INFO",
        "message": "request",
        "request_id": "8f2c",
        "route": "verify",
        "status": status,
        "error_code": error_code,
        "latency_ms": 3.2,
    }


def access_line(template: dict, status: int) -> dict:
    """An access log line, from the template's own format."""
    import json

    fmt = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
    values = {"$context.status": str(status)}
    text = re.sub(r"\$context\.[A-Za-z.]+", lambda m: values.get(m.group(0), "x"), fmt)
    return json.loads(text)


def test_the_metric_filters_count_the_lines_they_mean(transformed, template) -> None:
    output = transformed()
    filters = resources(output, "AWS::Logs::MetricFilter")
    by_metric: dict[str, list[dict]] = {}
    for f in filters.values():
        for t in f["Properties"]["MetricTransformations"]:
            assert t["MetricNamespace"] == {"Fn::Sub": "totp-lambda/${AWS::StackName}"}
            by_metric.setdefault(t["MetricName"], []).append(f["Properties"] | {"transformation": t})

    # 5xx answers of every function, by error code.
    server_errors = by_metric["ServerErrors"]
    groups = {f["LogGroupName"]["Ref"] for f in server_errors}
    assert groups == {r for r, v in resources(output, "AWS::Logs::LogGroup").items() if "/aws/lambda/" in str(v)}
    for f in server_errors:
        assert f["transformation"]["Dimensions"] == [{"Key": "ErrorCode", "Value": "$.error_code"}]
        pattern = f["FilterPattern"]
        assert matches(pattern, request_line(500, "E010000"))
        assert matches(pattern, request_line(503, "E010001"))
        assert not matches(pattern, request_line(401, "E061102"))
        assert not matches(pattern, request_line(200))
        assert not matches(pattern, {"message": "management call", "status": 500})

    # 401 and 429 answers of the API, from the access log.
    for metric, status in [("Responses401", 401), ("Responses429", 429)]:
        (f,) = by_metric[metric]
        assert f["LogGroupName"] == {"Ref": "HttpApiAccessLogGroup"}
        assert matches(f["FilterPattern"], access_line(template, status))
        for other in (200, 400, 403, 500, 4290):
            assert not matches(f["FilterPattern"], access_line(template, other)), (metric, other)


def alarm_metrics(alarm: dict) -> list[dict]:
    props = alarm["Properties"]
    if "Metrics" in props:
        return [m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]
    return [{k: props[k] for k in ("Namespace", "MetricName", "Dimensions") if k in props}]


def test_the_alarms(transformed) -> None:
    output = transformed()
    alarms = resources(output, "AWS::CloudWatch::Alarm")
    expected = {
        "ApiServerErrorsAlarm": {("AWS/ApiGateway", "5xx")},
        "InternalErrorsAlarm": {("custom", "ServerErrors")},
        "StorageUnavailableAlarm": {("custom", "ServerErrors")},
        "UnauthorizedRateAlarm": {("AWS/ApiGateway", "Count"), ("custom", "Responses401")},
        "LockoutRateAlarm": {("AWS/ApiGateway", "Count"), ("custom", "Responses429")},
        "DynamoDbThrottlesAlarm": {("AWS/DynamoDB", "ReadThrottleEvents"), ("AWS/DynamoDB", "WriteThrottleEvents")},
        "LambdaThrottlesAlarm": {("AWS/Lambda", "Throttles")},
        "LambdaErrorsAlarm": {("AWS/Lambda", "Errors")},
    }
    assert set(alarms) == set(expected)
    published = {
        t["MetricName"]
        for f in resources(output, "AWS::Logs::MetricFilter").values()
        for t in f["Properties"]["MetricTransformations"]
    }
    functions = set(resources(output, "AWS::Lambda::Function"))
    for name, metrics in expected.items():
        alarm = alarms[name]
        props = alarm["Properties"]
        seen = set()
        for metric in alarm_metrics(alarm):
            namespace = metric["Namespace"]
            if namespace == {"Fn::Sub": "totp-lambda/${AWS::StackName}"}:
                namespace = "custom"
                assert metric["MetricName"] in published, (name, metric)
            seen.add((namespace, metric["MetricName"]))
        assert seen == metrics, name
        # Notifications only with a topic; quiet without traffic.
        for actions in ("AlarmActions", "OKActions"):
            assert props[actions] == {
                "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
            }, name
        assert props["TreatMissingData"] == "notBreaching", name
        assert props["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), name
        if "Metrics" in props:
            assert sum(1 for m in props["Metrics"] if m["ReturnData"]) == 1, name
            for m in props["Metrics"]:
                if "MetricStat" in m:
                    assert m["MetricStat"]["Period"] == 300
        else:
            assert props["Period"] == 300
        if name.startswith("Lambda"):
            dimensioned = {
                m["Dimensions"][0]["Value"]["Ref"] for m in alarm_metrics(alarm) if m["Namespace"] == "AWS/Lambda"
            }
            assert dimensioned == functions, name
    # The rates count only with enough traffic.
    for name, errors in [("UnauthorizedRateAlarm", "unauthorized"), ("LockoutRateAlarm", "locked")]:
        (rate,) = [m for m in alarms[name]["Properties"]["Metrics"] if m["ReturnData"]]
        assert rate["Expression"] == {
            "Fn::Sub": f"IF(requests >= ${{RateAlarmMinRequests}}, 100 * FILL({errors}, 0) / requests, 0)"
        }
    assert output["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}


def test_the_alarm_parameters(template) -> None:
    parameters = template["Parameters"]
    topic = re.compile(parameters["AlarmTopicArn"]["AllowedPattern"])
    assert parameters["AlarmTopicArn"]["Default"] == ""
    assert topic.fullmatch("")
    assert topic.fullmatch("arn:aws:sns:eu-west-1:123456789012:totp-alarms")
    assert not topic.fullmatch("arn:aws:sqs:eu-west-1:123456789012:queue")
    assert parameters["Tracing"]["Default"] == "Disabled"
    for name in ("ServerErrorThreshold", "UnauthorizedRatePercent", "LockoutRatePercent", "RateAlarmMinRequests"):
        assert parameters[name]["Type"] == "Number" and parameters[name]["Default"] >= 1, name


# ---- which items each function may write: dynamodb:LeadingKeys per project --------


def resolve(value, parameters: dict):
    """The intrinsic functions the LeadingKeys patterns use, as CloudFormation evaluates them."""
    if isinstance(value, list):
        return [resolve(v, parameters) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return parameters[argument]
        if function == "Fn::Split":
            return resolve(argument[1], parameters).split(argument[0])
        if function == "Fn::Join":
            return argument[0].join(resolve(argument[1], parameters))
        if function == "Fn::Sub":
            text, variables = argument
            for name, variable in variables.items():
                text = text.replace("${" + name + "}", resolve(variable, parameters))
            return text
    return value


def leading_keys(output: dict, function: str, sid: str, projects: str) -> list[str]:
    role = output["Resources"][f"{function}Role"]
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement.get("Sid") == sid:
                condition = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                return resolve(condition, {"ProjectId": projects})
    raise AssertionError(f"{function} has no statement {sid}")


def test_each_function_writes_only_its_own_kind_of_item_of_a_served_project(transformed) -> None:
    from fnmatch import fnmatchcase

    output = transformed(ProjectId="P2Alpha,P2Bravo")
    # A user whose loginId contains `|revoked|` or `|link|` is `<projectId>#…`: never a revocation or a link.
    user, evil_user = "P2Alpha#alice@example.com", "P2Alpha#x|revoked|y"
    cases = [
        ("SessionsFunction", "TablePutRevocationsOnly", ["P2Alpha|revoked|J1", "P2Bravo|revoked|J2"],
         [user, evil_user, "P2Other|revoked|J3", "P2Alpha|link|h", "*|revoked|J4"]),
        ("SessionsFunction", "TableDeleteSpentLinksOnly", ["P2Alpha|link|ab12", "P2Bravo|link|cd34"],
         [user, "P2Alpha#x|link|y", "P2Other|link|ab12", "P2Alpha|revoked|J1"]),
        ("ManagementFunction", "TablePutLinksOnly", ["P2Alpha|link|ab12"],
         [user, "P2Alpha#x|link|y", "P2Other|link|ab12", "P2Alpha|revoked|J1"]),
        ("ManagementFunction", "TableManageUsers", [user, evil_user, "P2Bravo#bob"],
         ["P2Alpha|link|ab12", "P2Alpha|revoked|J1", "P2Other#carol"]),
        ("SignupFunction", "TablePutPendingEnrollment", [user, "P2Bravo#bob"],
         ["P2Alpha|revoked|J1", "P2Alpha|link|ab12", "P2Other#carol"]),
    ]
    revoked, link = "P2Alpha|revoked|J1", "P2Alpha|link|ab12"
    cases += [
        ("VerifyFunction", "TableReadUsersAndRevocations", [user, revoked], [link, "P2Other#carol"]),
        ("VerifyFunction", "TableUpdateUsers", [user, evil_user], [revoked, link, "P2Other#carol"]),
        ("UpdateFunction", "TableReadUsersAndRevocations", [user, revoked], [link, "P2Other|revoked|J1"]),
        ("UpdateFunction", "TableUpdateUsers", [user], [revoked, link]),
        ("SessionsFunction", "TableReadUsersRevocationsAndLinks", [user, revoked, link], ["P2Other#carol"]),
        ("SessionsFunction", "TableUpdateUsers", [user], [revoked, link, "P2Other#carol"]),
    ]
    for function, sid, allowed, refused in cases:
        patterns = leading_keys(output, function, sid, "P2Alpha,P2Bravo")
        for key in allowed:
            assert any(fnmatchcase(key, p) for p in patterns), (function, sid, key, patterns)
        for key in refused:
            assert not any(fnmatchcase(key, p) for p in patterns), (function, sid, key, patterns)


def test_no_function_may_touch_any_item_of_the_table(transformed) -> None:
    """Every DynamoDB item action is bounded by dynamodb:LeadingKeys: no
    statement grants an item action on the whole table."""
    output = transformed(ProjectId="P2Alpha")
    for name, role in resources(output, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = as_list(statement["Action"])
                if any(a.startswith("dynamodb:") for a in actions):
                    assert "dynamodb:LeadingKeys" in statement.get("Condition", {}).get(
                        "ForAllValues:StringLike", {}
                    ), (name, statement.get("Sid"), actions)
