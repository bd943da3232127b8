"""The optional customer-managed key (KmsKeyArn): unset, nothing names a key
and no role may use one; set, every store of the stack names it and each
function's role gains that key's kms: actions and nothing else."""

from __future__ import annotations

from test_template import resources

KEY = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
NO_VALUE = object()


def resolve(node, conditions: dict[str, bool], parameters: dict[str, str]):
    """The template as CloudFormation would deploy it: each `Fn::If` on one of
    `conditions` resolved, `AWS::NoValue` dropped, `parameters` substituted."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"} and node["Fn::If"][0] in conditions:
            name, yes, no = node["Fn::If"]
            return resolve(yes if conditions[name] else no, conditions, parameters)
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        if set(node) == {"Ref"} and node["Ref"] in parameters:
            return parameters[node["Ref"]]
        out = {k: resolve(v, conditions, parameters) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}
    if isinstance(node, list):
        return [v for v in (resolve(x, conditions, parameters) for x in node) if v is not NO_VALUE]
    return node


def deployed(transformed, key: str) -> dict:
    output = transformed(KmsKeyArn=key) if key else transformed()
    # The other options off, as by default.
    conditions = {name: False for name in output["Conditions"]} | {"HasKmsKey": bool(key)}
    return resolve(output, conditions, {"KmsKeyArn": key})


def where_the_key_goes(output: dict) -> dict[str, object]:
    """Each resource that can take the key, and what it names (None: nothing)."""
    named: dict[str, object] = {}
    for name, table in resources(output, "AWS::DynamoDB::Table").items():
        named[name] = table["Properties"]["SSESpecification"].get("KMSMasterKeyId")
    for name, group in resources(output, "AWS::Logs::LogGroup").items():
        named[name] = group["Properties"].get("KmsKeyId")
    for name, function in resources(output, "AWS::Lambda::Function").items():
        named[name] = function["Properties"].get("KmsKeyArn")
    for name, queue in resources(output, "AWS::SQS::Queue").items():
        named[name] = queue["Properties"].get("KmsMasterKeyId")
    return named


def role_actions(output: dict) -> dict[str, set[tuple[str, str]]]:
    """(action, resource as text) that each role's inline statements allow."""
    allowed: dict[str, set[tuple[str, str]]] = {}
    for name, role in resources(output, "AWS::IAM::Role").items():
        pairs = set()
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                for action in actions:
                    pairs.add((action, repr(statement["Resource"]), repr(statement.get("Condition"))))
        allowed[name] = pairs
    return allowed


def test_without_a_key_nothing_names_one(transformed) -> None:
    output = deployed(transformed, "")
    named = where_the_key_goes(output)
    # 2 tables, 10 log groups, 9 functions, 1 queue.
    assert len(named) == 22, sorted(named)
    assert all(value is None for value in named.values()), named
    for name, table in resources(output, "AWS::DynamoDB::Table").items():
        # The AWS-managed key (aws/dynamodb), as before the parameter.
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}, name
    (queue,) = resources(output, "AWS::SQS::Queue").values()
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert not any(a.startswith("kms:") for pairs in role_actions(output).values() for a, _, _ in pairs)


def test_with_a_key_every_store_names_it_and_roles_gain_only_its_use(transformed) -> None:
    without, with_key = deployed(transformed, ""), deployed(transformed, KEY)
    named = where_the_key_goes(with_key)
    assert named and all(value == KEY for value in named.values()), named
    (queue,) = resources(with_key, "AWS::SQS::Queue").values()
    assert "SqsManagedSseEnabled" not in queue["Properties"]
    before, after = role_actions(without), role_actions(with_key)
    assert set(before) == set(after)
    for role in after:
        gained = after[role] - before[role]
        assert before[role] <= after[role], role
        # The CodeDeploy service role (AWS-managed policy) gains nothing.
        if role == "CodeDeployServiceRole":
            assert not gained
            continue
        assert gained, role
        for action, resource, condition in gained:
            assert action in ("kms:Decrypt", "kms:GenerateDataKey"), (role, action)
            assert resource == repr(KEY), (role, resource)
            # Only as the services the function uses call KMS.
            assert "kms:ViaService" in condition, (role, condition)
    # Read-only users of the key may not make data keys with it.
    for role in ("KeysFunctionRole", "PreTrafficHookFunctionRole"):
        assert {a for a, _, _ in after[role] - before[role]} == {"kms:Decrypt"}, role


def test_the_key_parameter_takes_a_key_arn_or_nothing(template) -> None:
    import re

    pattern = re.compile(template["Parameters"]["KmsKeyArn"]["AllowedPattern"])
    assert template["Parameters"]["KmsKeyArn"]["Default"] == ""
    assert pattern.fullmatch("") and pattern.fullmatch(KEY)
    for bad in ("alias/totp", "arn:aws:kms:eu-west-1:123456789012:alias/totp", "0f1e2d3c-4b5a"):
        assert not pattern.fullmatch(bad), bad
