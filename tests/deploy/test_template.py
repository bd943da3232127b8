"""template.yaml as deployed: which function may read which key secret, every
method of every route reaching its function (405 in AWS as locally) within
Lambda's resource-policy limit, the alarms and the log metrics they count,
tracing, the audit trail's stream and tables, and what must not be lost."""

from __future__ import annotations

import json
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
    "/v1/mgmt/audit/search": ("ManagementFunction", "post"),
    "/v1/mgmt/user/create": ("UsersFunction", "post"),
    "/v1/mgmt/user/create/batch": ("UsersFunction", "post"),
    "/v1/mgmt/user/delete/batch": ("UsersFunction", "post"),
    "/v1/mgmt/user/update/status": ("UsersFunction", "post"),
    "/v2/mgmt/user/search": ("UsersFunction", "post"),
    "/v1/auth/try-refresh": ("SessionsFunction", "post"),
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
    # Users seals the seeds it imports: the encryption keys, never the signing ones.
    "UsersFunction": {"ManagementKeysSecretArn", "EncryptionKeysSecretArn"},
    # The audit trail hashes loginIds with the management document's auditKey.
    "AuditFunction": {"ManagementKeysSecretArn"},
    # CodeDeploy's pre-traffic hook only invokes the new versions.
    "PreTrafficHookFunction": set(),
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
            # A conditional statement (`Fn::If`), as if its condition held.
            statement = statement.get("Fn::If", [None, statement])[1]
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
            # The `live` alias, which CodeDeploy moves: never $LATEST.
            assert f"${{{function}Aliaslive}}" in uri, (path, method, uri)
            assert operation["x-amazon-apigateway-integration"]["payloadFormatVersion"] == "2.0"
    # `make dev` routes the same paths (every method) to the same functions.
    router = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["metadata"]["lambda"]["watch"]["router"]
    assert {p: f for p, f in router.items()} == {
        p: ROUTES[p][0].removesuffix("Function").lower() for p in ROUTES
    }
    # API Gateway may invoke each function on its own routes.
    permissions = resources(output, "AWS::Lambda::Permission")
    for function in {f for f, _ in ROUTES.values()}:
        assert any(p["Properties"]["FunctionName"] == {"Ref": f"{function}Aliaslive"} for p in permissions.values()), function


def test_what_must_outlive_a_mistake(transformed) -> None:
    output = transformed()
    # The users and their keys; the audit trail, which is evidence.
    for name in ("Table", "AuditTable"):
        table = output["Resources"][name]
        assert table["Properties"]["DeletionProtectionEnabled"] is True, name
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain", name
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert table["Properties"]["SSESpecification"] == {
            "SSEEnabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]},
        }, name
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
        "function": "totp-lambda-VerifyFunction-AbCdEfGhIjKl",
        "version": "7",
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

    # 5xx answers of every HTTP function, by error code (the audit function,
    # fed by the stream, writes no request line).
    server_errors = by_metric["ServerErrors"]
    # (The *ByVersion metrics of the rollback alarms: test_gradual_deploys.py.)
    groups = {f["LogGroupName"]["Ref"] for f in server_errors}
    http_functions = {function for function, _ in ROUTES.values()}
    assert groups == {
        name
        for name, group in resources(output, "AWS::Logs::LogGroup").items()
        if any(group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{f}}}"} for f in http_functions)
    }
    assert len(groups) == len(http_functions)
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
    # The rollback alarms of gradual deploys: tests/deploy/test_gradual_deploys.py.
    alarms = {n: a for n, a in resources(output, "AWS::CloudWatch::Alarm").items() if "NewVersion" not in n}
    expected = {
        "ApiServerErrorsAlarm": {("AWS/ApiGateway", "5xx")},
        "InternalErrorsAlarm": {("custom", "ServerErrors")},
        "StorageUnavailableAlarm": {("custom", "ServerErrors")},
        "UnauthorizedRateAlarm": {("AWS/ApiGateway", "Count"), ("custom", "Responses401")},
        "LockoutRateAlarm": {("AWS/ApiGateway", "Count"), ("custom", "Responses429")},
        "DynamoDbThrottlesAlarm": {("AWS/DynamoDB", "ReadThrottleEvents"), ("AWS/DynamoDB", "WriteThrottleEvents")},
        "LambdaThrottlesAlarm": {("AWS/Lambda", "Throttles")},
        "LambdaErrorsAlarm": {("AWS/Lambda", "Errors")},
        "AuditFailuresAlarm": {("AWS/SQS", "ApproximateNumberOfMessagesVisible")},
    }
    assert set(alarms) == set(expected)
    published = {
        t["MetricName"]
        for f in resources(output, "AWS::Logs::MetricFilter").values()
        for t in f["Properties"]["MetricTransformations"]
    }
    functions = set(resources(output, "AWS::Lambda::Function")) - {"PreTrafficHookFunction"}
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
            # CloudWatch takes at most 10 metrics in one metric math alarm.
            assert sum(1 for m in props["Metrics"] if "MetricStat" in m) <= 10, name
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
    # A user whose loginId contains `|revoked|`, `|link|` or `|uid|` is `<projectId>#…`:
    # never a revocation, a link or a userId pointer.
    user, evil_user = "P2Alpha#alice@example.com", "P2Alpha#x|revoked|y"
    revoked, link, pointer = "P2Alpha|revoked|J1", "P2Alpha|link|ab12", "P2Alpha|uid|U2ABC"
    evil_pointer = "P2Alpha#x|uid|y"
    cases = [
        ("SessionsFunction", "TablePutRevocationsOnly", ["P2Alpha|revoked|J1", "P2Bravo|revoked|J2"],
         [user, evil_user, "P2Other|revoked|J3", link, pointer, "*|revoked|J4"]),
        ("SessionsFunction", "TableDeleteSpentLinksOnly", ["P2Alpha|link|ab12", "P2Bravo|link|cd34"],
         [user, "P2Alpha#x|link|y", "P2Other|link|ab12", revoked, pointer]),
        ("ManagementFunction", "TablePutLinksOnly", [link],
         [user, "P2Alpha#x|link|y", "P2Other|link|ab12", revoked, pointer]),
        ("ManagementFunction", "TableManageUsers", [user, evil_user, evil_pointer, "P2Bravo#bob"],
         [link, revoked, pointer, "P2Other#carol"]),
        ("ManagementFunction", "TableReadAndDeleteUserIdPointers", [pointer, "P2Bravo|uid|U2DEF"],
         [user, evil_pointer, "P2Other|uid|U2ABC", link, revoked, "*|uid|U2ABC"]),
        ("UsersFunction", "TableManageUsers", [user, evil_user, evil_pointer, "P2Bravo#bob"],
         [link, revoked, pointer, "P2Other#carol"]),
        ("UsersFunction", "TableManageUserIdPointers", [pointer, "P2Bravo|uid|U2DEF"],
         [user, evil_pointer, "P2Other|uid|U2ABC", link, revoked, "*|uid|U2ABC"]),
        # The audit table's partition key is the project id itself.
        ("AuditFunction", "AuditTablePutRecordsOnly", ["P2Alpha", "P2Bravo"],
         ["P2Other", "P2Alpha#U2ABC", "P2AlphaX", user, "*"]),
        ("SignupFunction", "TablePutPendingEnrollment", [user, "P2Bravo#bob"],
         [revoked, link, pointer, "P2Other#carol"]),
        ("VerifyFunction", "TablePutUserIdPointersOnly", [pointer, "P2Bravo|uid|U2DEF"],
         [user, evil_pointer, "P2Other|uid|U2ABC", link, revoked]),
    ]
    cases += [
        ("VerifyFunction", "TableReadUsersAndRevocations", [user, revoked], [link, pointer, "P2Other#carol"]),
        ("VerifyFunction", "TableUpdateUsers", [user, evil_user], [revoked, link, pointer, "P2Other#carol"]),
        ("UpdateFunction", "TableReadUsersAndRevocations", [user, revoked], [link, pointer, "P2Other|revoked|J1"]),
        ("UpdateFunction", "TableUpdateUsers", [user], [revoked, link, pointer]),
        ("SessionsFunction", "TableReadUsersRevocationsAndLinks", [user, revoked, link], [pointer, "P2Other#carol"]),
        ("SessionsFunction", "TableUpdateUsers", [user], [revoked, link, pointer, "P2Other#carol"]),
    ]
    for function, sid, allowed, refused in cases:
        patterns = leading_keys(output, function, sid, "P2Alpha,P2Bravo")
        for key in allowed:
            assert any(fnmatchcase(key, p) for p in patterns), (function, sid, key, patterns)
        for key in refused:
            assert not any(fnmatchcase(key, p) for p in patterns), (function, sid, key, patterns)


def statements(output: dict, condition: str | None = None):
    """(function, statement, actions) of every statement of the functions' roles.
    A statement under `Fn::If` is there if its condition holds: every condition
    holds with `condition=None`, only the one named otherwise (`""`: none)."""
    for name, role in resources(output, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if set(statement) == {"Fn::If"}:
                    held, statement, otherwise = statement["Fn::If"]
                    assert otherwise == {"Ref": "AWS::NoValue"}, name
                    if condition not in (None, held):
                        continue
                yield name.removesuffix("Role"), statement, as_list(statement["Action"])


def dynamodb_statements(output: dict):
    """(function, statement, actions) of every statement granting a DynamoDB action."""
    for name, statement, actions in statements(output):
        if any(a.startswith("dynamodb:") or a == "*" for a in actions):
            yield name, statement, actions


# Reading the users table's stream: the audit function's mapping, not items.
STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}


def item_statements(output: dict):
    """dynamodb_statements but the stream reads (test_only_the_audit_function_reads_the_stream)."""
    for name, statement, actions in dynamodb_statements(output):
        if not set(actions) <= STREAM_ACTIONS:
            assert not set(actions) & STREAM_ACTIONS, (name, statement.get("Sid"))
            yield name, statement, actions


def test_no_function_may_touch_any_item_of_the_table(transformed) -> None:
    """Every DynamoDB item action is bounded by dynamodb:LeadingKeys, and every
    pattern is anchored at a served project id: no statement grants an item
    action on the whole table or on another project's items."""
    output = transformed(ProjectId="P2Alpha,P2Bravo")
    granted = list(item_statements(output))
    assert granted
    for function, statement, actions in granted:
        assert statement["Effect"] == "Allow", (function, statement.get("Sid"))
        assert all(a.startswith("dynamodb:") and "*" not in a for a in actions), (function, actions)
        condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
        assert "dynamodb:LeadingKeys" in condition, (function, statement.get("Sid"), actions)
        patterns = resolve(condition["dynamodb:LeadingKeys"], {"ProjectId": "P2Alpha,P2Bravo"})
        anchored = {re.fullmatch(r"(P2Alpha|P2Bravo)([#|].*)?", p) and p.split("#")[0].split("|")[0] for p in patterns}
        assert anchored == {"P2Alpha", "P2Bravo"}, (function, statement.get("Sid"), patterns)


def rust_constant(path: str, name: str) -> str:
    """A `const NAME: &str = "…";` of the Rust source at `path`."""
    match = re.search(rf'(?:pub(?:\(\w+\))? )?const {name}: &str = "([^"]+)";', (ROOT / path).read_text())
    assert match, (path, name)
    return match.group(1)


def resource_name(resource) -> str:
    """A DynamoDB resource of a statement, by its table: `Table`, `AuditTable/index/byUser`, …"""
    if resource in ({"Fn::GetAtt": ["Table", "Arn"]}, {"Fn::GetAtt": ["AuditTable", "Arn"]}):
        return resource["Fn::GetAtt"][0]
    if resource == {"Fn::GetAtt": ["Table", "StreamArn"]}:
        return "Table/stream"
    match = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.+)", resource.get("Fn::Sub", "") if isinstance(resource, dict) else "")
    assert match, resource
    return match.group(1) + match.group(2)


def test_only_the_search_functions_query_and_only_their_projects(transformed, template) -> None:
    """User search reads the `byProject` index, whose partition key is the project id:
    the users function may Query it with exactly the served ids as leading keys (no
    wildcard). The audit search reads the audit table (partition key: the project id)
    and its `byUser` index (`<projectId>#<userId>`): only the management function may
    Query them. Nothing else may Query, nothing may Scan, and the indexes are the ones
    the code queries (src/store/dynamo/item.rs, audit.rs)."""
    output = transformed(ProjectId="P2Alpha,P2Bravo")
    queries = {}
    for function, statement, actions in dynamodb_statements(output):
        assert "dynamodb:Scan" not in actions, (function, statement.get("Sid"))
        if "dynamodb:Query" in actions:
            assert actions == ["dynamodb:Query"], (function, statement.get("Sid"))
            keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            for resource in as_list(statement["Resource"]):
                queries[(function, resource_name(resource))] = resolve(keys, {"ProjectId": "P2Alpha,P2Bravo"})
    assert queries == {
        ("UsersFunction", "Table/index/byProject"): ["P2Alpha", "P2Bravo"],
        ("ManagementFunction", "AuditTable"): ["P2Alpha", "P2Bravo"],
        ("ManagementFunction", "AuditTable/index/byUser"): ["P2Alpha#*", "P2Bravo#*"],
    }

    item = "src/store/dynamo/item.rs"
    table = template["Resources"]["Table"]["Properties"]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == rust_constant(item, "BY_PROJECT_INDEX")
    assert index["KeySchema"] == [
        {"AttributeName": rust_constant(item, "PROJECT"), "KeyType": "HASH"},
        {"AttributeName": rust_constant(item, "PK"), "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": [rust_constant(item, "USER_STATUS"), rust_constant(item, "PROFILE")],
    }
    assert {"AttributeName": rust_constant(item, "PROJECT"), "AttributeType": "S"} in table["AttributeDefinitions"]


# ---- the audit trail (docs/audit.md) ---------------------------------------------


def test_the_audit_table_is_the_one_the_code_reads(template) -> None:
    audit, item = "src/store/dynamo/audit.rs", "src/store/dynamo/item.rs"
    pk, sk, user_key = rust_constant(item, "PK"), rust_constant(audit, "SK"), rust_constant(audit, "USER_KEY")
    table = template["Resources"]["AuditTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}]
    assert sorted(table["AttributeDefinitions"], key=lambda d: d["AttributeName"]) == sorted(
        [{"AttributeName": name, "AttributeType": "S"} for name in (pk, sk, user_key)],
        key=lambda d: d["AttributeName"],
    )
    (index,) = table["GlobalSecondaryIndexes"]
    assert index == {
        "IndexName": rust_constant(audit, "BY_USER_INDEX"),
        "KeySchema": [{"AttributeName": user_key, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    # Records expire after AUDIT_RETENTION_DAYS through TTL.
    assert table["TimeToLiveSpecification"] == {"AttributeName": rust_constant(item, "EXPIRES_AT"), "Enabled": True}


def test_the_users_table_streams_both_images(template) -> None:
    """The audit function derives an event from an item's old and new image."""
    table = template["Resources"]["Table"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_stream_mapping_retries_then_hands_over_never_skips(transformed) -> None:
    """One mapping from the users table's stream to the audit function: partial
    batch failures, bisection, bounded retries, then the batch's description on
    the failure queue, which an alarm watches (docs/operate.md)."""
    output = transformed()
    (mapping,) = resources(output, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": "AuditFunctionAliaslive"}
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 1 <= props["MaximumRetryAttempts"] <= 10
    # Within the stream's 24 hours: a record is handed over before it is gone.
    assert 60 <= props["MaximumRecordAgeInSeconds"] <= 86400
    assert props["BatchSize"] <= 100 and props["MaximumBatchingWindowInSeconds"] <= 5
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["AuditFailureQueue", "Arn"]}}}
    # The function holds the batch's whole retry budget: a batch is never cut off by the timeout.
    function = output["Resources"]["AuditFunction"]["Properties"]
    assert function["Timeout"] >= 30
    assert "Events" not in function

    # Whatever the parameters: a stack without its audit trail is not offered.
    for name in ("AuditTable", "AuditFunction", "AuditStreamMapping", "AuditFailureQueue", "AuditFailuresAlarm"):
        assert "Condition" not in output["Resources"][name], name
    queue = output["Resources"]["AuditFailureQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True or "KmsMasterKeyId" in queue
    assert queue["MessageRetentionPeriod"] == 14 * 86400
    alarm = output["Resources"]["AuditFailuresAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/SQS" and alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["AuditFailureQueue", "QueueName"]}}]
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    # Lambda sends to the destination with the function's role.
    sends = {
        (f, json.dumps(s["Resource"]))
        for f, s, actions in statements(output)
        if any(a.startswith("sqs:") for a in actions)
    }
    assert sends == {("AuditFunction", json.dumps({"Fn::GetAtt": ["AuditFailureQueue", "Arn"]}))}


def test_only_the_audit_function_reads_the_stream(transformed) -> None:
    """This table's stream only: SAM's DynamoDB event would add a managed policy
    reading every stream of the account (hence the explicit mapping)."""
    output = transformed()
    reads = {}
    for function, statement, actions in dynamodb_statements(output):
        if set(actions) & STREAM_ACTIONS:
            assert statement["Effect"] == "Allow" and "Condition" not in statement
            for action in actions:
                reads.setdefault(action, set()).add((function, resource_name(statement["Resource"])))
    assert reads == {
        "dynamodb:DescribeStream": {("AuditFunction", "Table/stream")},
        "dynamodb:GetRecords": {("AuditFunction", "Table/stream")},
        "dynamodb:GetShardIterator": {("AuditFunction", "Table/stream")},
        "dynamodb:ListStreams": {("AuditFunction", "Table/stream/*")},
    }


def test_only_the_audit_function_writes_the_audit_table(transformed) -> None:
    """The audit function may PutItem records and nothing else on it; the
    management function may only Query it (the search); no other function
    may touch it; and the audit function may touch no item of the users table."""
    output = transformed(ProjectId="P2Alpha,P2Bravo")
    on_audit, by_audit = set(), set()
    for function, statement, actions in item_statements(output):
        for resource in as_list(statement["Resource"]):
            name = resource_name(resource)
            if name.startswith("AuditTable"):
                on_audit |= {(function, name, a) for a in actions}
            if function == "AuditFunction":
                by_audit |= {(name, a) for a in actions}
    assert on_audit == {
        ("AuditFunction", "AuditTable", "dynamodb:PutItem"),
        ("ManagementFunction", "AuditTable", "dynamodb:Query"),
        ("ManagementFunction", "AuditTable/index/byUser", "dynamodb:Query"),
    }
    assert by_audit == {("AuditTable", "dynamodb:PutItem")}


def test_the_audit_feed_only_when_a_bus_is_named(transformed, template) -> None:
    """events:PutEvents on the named bus only, and only under HasAuditEventBus,
    which holds exactly when AuditEventBusName is set."""
    output = transformed()
    puts = [
        (f, s)
        for f, s, actions in statements(output, condition="HasAuditEventBus")
        if any(a.startswith("events:") or a == "*" for a in actions)
    ]
    assert [(f, s["Action"]) for f, s in puts] == [("AuditFunction", ["events:PutEvents"])]
    ((_, put),) = puts
    assert put["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${AuditEventBusName}"
    }
    # Without the condition, no statement may put events.
    unconditional = [
        f for f, _, actions in statements(output, condition="") if any(a.startswith("events:") for a in actions)
    ]
    assert unconditional == []
    assert output["Conditions"]["HasAuditEventBus"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AuditEventBusName"}, ""]}]
    }
    parameter = template["Parameters"]["AuditEventBusName"]
    assert parameter["Default"] == ""
    for name in ("", "default", "security-audit", "aws.partner/example.com/123/feed"):
        assert re.fullmatch(parameter["AllowedPattern"], name), name
    assert not re.fullmatch(parameter["AllowedPattern"], "arn:aws:events:eu-west-1:123456789012:event-bus/x")


def test_what_the_audit_and_management_functions_are_told(transformed, template) -> None:
    output = transformed()
    functions = resources(output, "AWS::Lambda::Function")
    audit = functions["AuditFunction"]["Properties"]["Environment"]["Variables"]
    assert audit["AUDIT_TABLE_NAME"] == {"Ref": "AuditTable"}
    assert audit["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}
    assert audit["AUDIT_EVENT_BUS_NAME"] == {"Ref": "AuditEventBusName"}
    assert audit["TABLE_NAME"] == {"Ref": "Table"}
    management = functions["ManagementFunction"]["Properties"]["Environment"]["Variables"]
    assert management["AUDIT_TABLE_NAME"] == {"Ref": "AuditTable"}
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        # Every function reads the configuration, per-project settings included.
        assert variables["PROJECT_SETTINGS"] == {"Ref": "ProjectSettings"}, name
        if name not in ("AuditFunction", "ManagementFunction"):
            assert "AUDIT_TABLE_NAME" not in variables, name
    parameters = template["Parameters"]
    retention = parameters["AuditRetentionDays"]
    assert (retention["Type"], retention["Default"], retention["MinValue"], retention["MaxValue"]) == (
        "Number", 400, 1, 3650
    )
    assert parameters["ProjectSettings"]["Default"] == ""
    grouped = [
        name
        for group in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        for name in group["Parameters"]
    ]
    assert sorted(grouped) == sorted(parameters)


# ---- Lambda's resource policy: one statement per routed method ------------------

# Lambda refuses a function policy above 20480 bytes (PolicyLengthExceededException).
POLICY_LIMIT = 20480


def resource_policy_sizes(output: dict, stack: str, region: str, api_id: str = "a1b2c3d4e5") -> dict[str, int]:
    """The size of each function's resource policy as Lambda stores it: one
    statement per AWS::Lambda::Permission SAM generates, its Sid and the
    function's name as CloudFormation makes them (`<stack>-<logicalId>-<random>`,
    cut to Lambda's 100 and 64 characters)."""
    statements: dict[str, list[dict]] = {}
    for name, permission in resources(output, "AWS::Lambda::Permission").items():
        props = permission["Properties"]
        # Each permission is on the `live` alias (its own policy, as Lambda keeps one per qualifier).
        function = props["FunctionName"]["Ref"].removesuffix("Aliaslive")
        source, variables = props["SourceArn"]["Fn::Sub"]
        assert variables == {"__ApiId__": {"Ref": "HttpApi"}, "__Stage__": "*"}, name
        for key, value in {
            "${AWS::Partition}": "aws",
            "${AWS::Region}": region,
            "${AWS::AccountId}": "123456789012",
            "${__ApiId__}": api_id,
            "${__Stage__}": "*",
        }.items():
            source = source.replace(key, value)
        function_name = f"{stack}-{function}-AbCdEfGhIjKl"[:64]
        statements.setdefault(function, []).append(
            {
                "Sid": f"{stack}-{name}-1A2B3C4D5E6F7"[:100],
                "Effect": "Allow",
                "Principal": {"Service": props["Principal"]},
                "Action": props["Action"],
                "Resource": f"arn:aws:lambda:{region}:123456789012:function:{function_name}:live",
                "Condition": {"ArnLike": {"AWS:SourceArn": source}},
            }
        )
    return {
        function: len(json.dumps({"Version": "2012-10-17", "Id": "default", "Statement": s}, separators=(",", ":")))
        for function, s in statements.items()
    }


def test_every_function_policy_fits_lambdas_limit(transformed) -> None:
    """SAM gives each routed method its own permission; too many routes on one
    function and the deploy fails with PolicyLengthExceededException. With this
    stack name (samconfig.toml) there is room for another path; with the longest
    stack name and region the policy still fits."""
    output = transformed()
    stack = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]["global"]["parameters"]["stack_name"]
    sizes = resource_policy_sizes(output, stack, "eu-west-1")
    assert set(sizes) == {f for f, _ in ROUTES.values()}
    for function, size in sizes.items():
        assert size < 18 * 1024, (function, size)
    worst = resource_policy_sizes(output, "x" * 128, "ap-southeast-5")
    for function, size in worst.items():
        assert size < POLICY_LIMIT, (function, size)
    # The measure itself: the management routes on one function, as before
    # the users function, broke a real deploy.
    assert sizes["ManagementFunction"] + sizes["UsersFunction"] > POLICY_LIMIT
