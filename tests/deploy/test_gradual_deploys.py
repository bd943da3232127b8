"""Gradual deploys (template.yaml, as SAM turns it into CloudFormation): each
function behind its `live` alias, moved by CodeDeploy with the DeploymentType
parameter, after the pre-traffic hook, and rolled back by alarms that watch
only the new version. moto runs no CodeDeploy: the structure is what is
tested here; hooks/pre_traffic.py itself is tested against the running
functions (tests/e2e/test_pre_traffic_hook.py)."""

from __future__ import annotations

from test_template import SECRETS, matches, request_line, resources

FUNCTIONS = sorted(set(SECRETS) - {"PreTrafficHookFunction"})
HTTP_FUNCTIONS = [f for f in FUNCTIONS if f != "AuditFunction"]


def version_of(output: dict, function: str) -> str:
    """The logical id of the version SAM publishes for `function`."""
    (name,) = [
        n
        for n, r in resources(output, "AWS::Lambda::Version").items()
        if r["Properties"]["FunctionName"] == {"Ref": function}
    ]
    return name


def test_every_function_deploys_through_codedeploy_after_the_hook(transformed) -> None:
    output = transformed()
    groups = resources(output, "AWS::CodeDeploy::DeploymentGroup")
    assert set(groups) == {f"{f}DeploymentGroup" for f in FUNCTIONS}
    for function in FUNCTIONS:
        alias = output["Resources"][f"{function}Aliaslive"]
        assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_of(output, function), "Version"]}
        assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"] == {
            "ApplicationName": {"Ref": "ServerlessDeploymentApplication"},
            "DeploymentGroupName": {"Ref": f"{function}DeploymentGroup"},
            "BeforeAllowTrafficHook": {"Ref": "PreTrafficHookFunction"},
        }, function
        group = groups[f"{function}DeploymentGroup"]["Properties"]
        assert group["DeploymentConfigName"] == {
            "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "Canary10Percent5Minutes"}]
        }
        # An alarm stops the deployment and takes the traffic back.
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        assert "DEPLOYMENT_FAILURE" in group["AutoRollbackConfiguration"]["Events"]
        short = function.removesuffix("Function")
        wanted = [f"{short}NewVersionErrorsAlarm"]
        if function in HTTP_FUNCTIONS:
            wanted.append(f"{short}NewVersionServerErrorRateAlarm")
        assert group["AlarmConfiguration"] == {"Enabled": True, "Alarms": [{"Name": {"Ref": a}} for a in wanted]}


def test_the_deployment_type_is_a_parameter(transformed, template) -> None:
    parameter = template["Parameters"]["DeploymentType"]
    assert parameter["Default"] == "Canary10Percent5Minutes"
    assert "AllAtOnce" in parameter["AllowedValues"]
    output = transformed(DeploymentType="AllAtOnce")
    for name, group in resources(output, "AWS::CodeDeploy::DeploymentGroup").items():
        assert group["Properties"]["DeploymentConfigName"] == {
            "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "AllAtOnce"}]
        }, name


def test_the_rollback_alarms_watch_only_the_new_version(transformed) -> None:
    output = transformed()
    filters = resources(output, "AWS::Logs::MetricFilter")
    for function in FUNCTIONS:
        short = function.removesuffix("Function")
        version = {"Fn::GetAtt": [version_of(output, function), "Version"]}
        errors = output["Resources"][f"{short}NewVersionErrorsAlarm"]["Properties"]
        assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
        assert errors["Dimensions"] == [
            {"Name": "FunctionName", "Value": {"Ref": function}},
            {"Name": "Resource", "Value": {"Fn::Sub": f"${{{function}}}:live"}},
            {"Name": "ExecutedVersion", "Value": version},
        ]
        assert (errors["Period"], errors["Threshold"], errors["TreatMissingData"]) == (60, 1, "notBreaching")
        if function not in HTTP_FUNCTIONS:
            continue
        rate = output["Resources"][f"{short}NewVersionServerErrorRateAlarm"]["Properties"]
        assert rate["Threshold"] == {"Ref": "RollbackServerErrorPercent"}
        stats = {m["Id"]: m["MetricStat"] for m in rate["Metrics"] if "MetricStat" in m}
        assert {s["Metric"]["MetricName"] for s in stats.values()} == {"RequestsByVersion", "ServerErrorsByVersion"}
        for stat in stats.values():
            assert stat["Period"] == 60
            assert stat["Metric"]["Dimensions"] == [
                {"Name": "FunctionName", "Value": {"Ref": function}},
                {"Name": "Version", "Value": version},
            ]
        (expression,) = [m["Expression"] for m in rate["Metrics"] if m.get("ReturnData")]
        assert expression == "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)"
        # The metrics come from this function's own request lines, by the
        # fields the line carries (src/http/mod.rs `deployed`).
        own = {
            t["MetricName"]: (f["Properties"]["FilterPattern"], t)
            for f in filters.values()
            if f["Properties"]["LogGroupName"] == {"Ref": f"{short}LogGroup"}
            for t in f["Properties"]["MetricTransformations"]
        }
        for metric in ("RequestsByVersion", "ServerErrorsByVersion"):
            pattern, transformation = own[metric]
            assert transformation["Dimensions"] == [
                {"Key": "FunctionName", "Value": "$.function"},
                {"Key": "Version", "Value": "$.version"},
            ]
            line = request_line(200)
            assert {"function", "version"} <= set(line)
            assert matches(pattern, request_line(500, "E010000"))
            assert matches(pattern, line) == (metric == "RequestsByVersion"), metric
            assert not matches(pattern, {"message": "management call", "status": 500})


def test_the_hook_may_only_invoke_the_new_versions_and_report(transformed) -> None:
    output = transformed()
    hook = output["Resources"]["PreTrafficHookFunction"]["Properties"]
    # CodeDeploy's managed role invokes only hooks named so.
    assert hook["FunctionName"] == {"Fn::Sub": "CodeDeployHook_${AWS::StackName}"}
    assert (hook["Runtime"], hook["Handler"]) == ("python3.13", "pre_traffic.handler")
    variables = hook["Environment"]["Variables"]
    for function in FUNCTIONS:
        name = function.removesuffix("Function").upper()
        variable = "KEYS_VERSION_ARN" if name == "KEYS" else f"{name}_VERSION"
        assert variables[variable] == {"Ref": version_of(output, function)}, function
    role = output["Resources"]["PreTrafficHookFunctionRole"]["Properties"]
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    (policy,) = role["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    plain = [s for s in statements if "Fn::If" not in s]
    assert {s["Sid"]: s["Action"] for s in plain} == {
        "InvokeOnlyTheNewVersions": ["lambda:InvokeFunction"],
        "ReportToThisStacksDeployments": ["codedeploy:PutLifecycleEventHookExecutionStatus"],
    }
    invoke = next(s for s in plain if s["Sid"] == "InvokeOnlyTheNewVersions")
    assert sorted(r["Ref"] for r in invoke["Resource"]) == sorted(version_of(output, f) for f in FUNCTIONS)
    report = next(s for s in plain if s["Sid"] == "ReportToThisStacksDeployments")
    assert report["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}"
        ":deploymentgroup:${ServerlessDeploymentApplication}/*"
    }
    # The hook is no deployment of its own, and no other function is invoked by it.
    assert "PreTrafficHookFunctionDeploymentGroup" not in output["Resources"]


def test_the_stack_name_fits_the_hooks_name(deploy_aws) -> None:
    deploy_aws.check_stack_name("x" * 49)
    for bad in ("x" * 50, "1stack", "has_underscore"):
        try:
            deploy_aws.check_stack_name(bad)
        except deploy_aws.DeployError as error:
            assert "stack" in str(error)
        else:
            raise AssertionError(f"{bad!r} accepted")
