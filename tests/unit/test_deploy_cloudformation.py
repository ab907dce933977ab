"""``csvpipe deploy --export cloudformation``: a template cfn-lint accepts, equivalent to the
deploy plan (same policies, function, crawler, jobs, triggers, rule), resource by resource."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from pipeline.deploy.cloudformation import template, write_export
from pipeline.deploy.plan import (
    FileBody,
    GlueAssets,
    Inputs,
    LambdaCode,
    Step,
    Target,
    Upload,
    deploy_plan,
    names_of,
)
from pipeline.settings import Settings, load_settings

ACCOUNT, REGION = "123456789012", "eu-west-1"
TARGET = Target(account=ACCOUNT, region=REGION)
ASSETS = GlueAssets(
    transforms_request={
        "Name": "csvpipe-transforms",
        "Description": "csvpipe transforms",
        "Command": {
            "Name": "glueetl",
            "ScriptLocation": "s3://csv-artifacts-bucket/glue/csvpipe_transforms.py",
            "PythonVersion": "3",
        },
        "GlueVersion": "5.0",
        "WorkerType": "G.1X",
        "NumberOfWorkers": 2,
        "Timeout": 60,
        "MaxRetries": 0,
        "ExecutionProperty": {"MaxConcurrentRuns": 1},
        "DefaultArguments": {"--csvpipe_database": "csvpipe"},
    },
    uploads=(Upload("glue/csvpipe_transforms.py", b"", "text/x-python"),),
)


def settings_for(profile: str) -> Settings:
    return load_settings(profile=profile, environ={}, config_path=None, overrides={"region": REGION})


def export(settings: Settings) -> dict[str, Any]:
    names = names_of(settings)
    glue = ASSETS if names.aws_glue else None
    return template(settings, names, runtime="python3.12", architecture="arm64", glue=glue)


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["aws", "localstack"])
def test_cfn_lint_accepts_the_template(profile: str, tmp_path: Path) -> None:
    path = write_export(export(settings_for(profile)), tmp_path)
    matches = lint(path.read_text(), config=ManualArgs(regions=["us-east-1", REGION]))
    assert [str(match) for match in matches] == []


@pytest.mark.slow
def test_cfn_lint_is_not_silent() -> None:
    document = export(settings_for("aws"))
    document["Resources"]["PreprocessFunction"]["Properties"]["MemorySize"] = 1
    assert any("E3034" in str(m) for m in lint(json.dumps(document), config=ManualArgs(regions=[REGION])))


def resolve(value: Any, document: dict[str, Any]) -> Any:
    """The template's values as CloudFormation would make them in ACCOUNT and REGION."""
    resources = document["Resources"]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return (
            value["Fn::Sub"]
            .replace("${AWS::AccountId}", ACCOUNT)
            .replace("${AWS::Region}", REGION)
            .replace("${AWS::Partition}", "aws")
        )
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        resource = resources[value["Fn::GetAtt"][0]]
        if resource["Type"] == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{resource['Properties']['RoleName']}"
        if resource["Type"] == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{resource['Properties']['QueueName']}"
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{resource['Properties']['FunctionName']}"
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name == "AWS::AccountId":
            return ACCOUNT
        if name in document["Parameters"]:
            return document["Parameters"][name]["Default"]
        properties = resources[name]["Properties"]
        return properties.get("Name") or properties.get("FunctionName") or properties["DatabaseInput"]["Name"]
    if isinstance(value, dict):
        return {k: resolve(v, document) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, document) for v in value]
    return value


def of_type(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [resolve(r["Properties"], document) for r in document["Resources"].values() if r["Type"] == kind]


def params(steps: tuple[Step, ...], operation: str) -> list[dict[str, Any]]:
    return [dict(step.call.params) for step in steps if step.call.name == operation]


def test_the_template_is_the_deploy_plan() -> None:
    settings = settings_for("aws")
    document = export(settings)
    code = LambdaCode(FileBody(Path("fn.zip"), 1, "00"), "python3.12", "arm64")
    steps = deploy_plan(settings, TARGET, Inputs(code, (), ASSETS))

    roles = {r["RoleName"]: r for r in of_type(document, "AWS::IAM::Role")}
    for create in params(steps, "iam.create_role"):
        assert roles[create["RoleName"]]["AssumeRolePolicyDocument"] == json.loads(
            create["AssumeRolePolicyDocument"]
        )
    for put in params(steps, "iam.put_role_policy"):
        (inline,) = roles[put["RoleName"]]["Policies"]
        assert inline == {
            "PolicyName": put["PolicyName"],
            "PolicyDocument": json.loads(put["PolicyDocument"]),
        }
    assert len(roles) == len(params(steps, "iam.create_role")) == 4

    (function,) = of_type(document, "AWS::Lambda::Function")
    (create,) = params(steps, "lambda.create_function")
    assert function == create

    (queue,) = of_type(document, "AWS::SQS::Queue")
    (create_queue,) = params(steps, "sqs.create_queue")
    assert queue == {
        "QueueName": create_queue["QueueName"],
        "MessageRetentionPeriod": int(create_queue["Attributes"]["MessageRetentionPeriod"]),
        "SqsManagedSseEnabled": create_queue["Attributes"]["SqsManagedSseEnabled"] == "true",
    }
    (invoke,) = of_type(document, "AWS::Lambda::EventInvokeConfig")
    (put_invoke,) = params(steps, "lambda.put_function_event_invoke_config")
    assert invoke == {**put_invoke, "Qualifier": "$LATEST"}
    raw_bucket = next(
        r
        for r in document["Resources"].values()
        if r["Type"] == "AWS::S3::Bucket"
        and "NotificationConfiguration" in r["Properties"]
        and "LambdaConfigurations" in r["Properties"]["NotificationConfiguration"]
    )
    assert "PreprocessEventInvokeConfig" in raw_bucket["DependsOn"]

    (permission,) = of_type(document, "AWS::Lambda::Permission")
    (add,) = params(steps, "lambda.add_permission")
    assert {**permission, "FunctionName": add["FunctionName"]} == {
        k: v for k, v in add.items() if k != "StatementId"
    }

    buckets = {b["BucketName"]: b for b in of_type(document, "AWS::S3::Bucket")}
    for put in params(steps, "s3.put_public_access_block"):
        if put["Bucket"] in buckets:
            assert (
                buckets[put["Bucket"]]["PublicAccessBlockConfiguration"]
                == put["PublicAccessBlockConfiguration"]
            )
    for put in params(steps, "s3.put_bucket_encryption"):
        if put["Bucket"] in buckets:
            (rule,) = put["ServerSideEncryptionConfiguration"]["Rules"]
            (cfn_rule,) = buckets[put["Bucket"]]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            assert cfn_rule == {
                "ServerSideEncryptionByDefault": rule["ApplyServerSideEncryptionByDefault"],
                "BucketKeyEnabled": rule["BucketKeyEnabled"],
            }
    raw, processed = (
        p["NotificationConfiguration"] for p in params(steps, "s3.put_bucket_notification_configuration")
    )
    assert buckets[settings.processed_bucket]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    } and processed == {"EventBridgeConfiguration": {}}
    assert [
        (c["Event"], c["Filter"]["S3Key"]["Rules"], c["Function"])
        for c in buckets[settings.raw_bucket]["NotificationConfiguration"]["LambdaConfigurations"]
    ] == [
        (event, c["Filter"]["Key"]["FilterRules"], c["LambdaFunctionArn"])
        for c in raw["LambdaFunctionConfigurations"]
        for event in c["Events"]
    ]
    assert settings.artifacts_bucket not in buckets  # it must exist before the stack

    (group,) = of_type(document, "AWS::Logs::LogGroup")
    assert (group["LogGroupName"], group["RetentionInDays"]) == (
        params(steps, "logs.create_log_group")[0]["logGroupName"],
        params(steps, "logs.put_retention_policy")[0]["retentionInDays"],
    )
    (database,) = of_type(document, "AWS::Glue::Database")
    assert database["DatabaseInput"] == params(steps, "glue.create_database")[0]["DatabaseInput"]
    assert of_type(document, "AWS::Glue::Crawler") == params(steps, "glue.create_crawler")
    assert of_type(document, "AWS::Glue::Job") == params(steps, "glue.create_job")
    assert of_type(document, "AWS::Glue::Workflow") == params(steps, "glue.create_workflow")
    assert of_type(document, "AWS::Glue::Trigger") == params(steps, "glue.create_trigger")
    (rule,) = of_type(document, "AWS::Events::Rule")
    (put_rule,) = params(steps, "events.put_rule")
    (put_targets,) = params(steps, "events.put_targets")
    assert rule == {
        **put_rule,
        "EventPattern": json.loads(put_rule["EventPattern"]),
        "Targets": put_targets["Targets"],
    }


def test_the_csvpipe_backend_template_has_no_glue() -> None:
    document = export(settings_for("localstack"))
    kinds = {resource["Type"] for resource in document["Resources"].values()}
    assert not any(kind.startswith(("AWS::Glue::", "AWS::Events::")) for kind in kinds)
    assert "NotificationConfiguration" not in document["Resources"]["ProcessedBucket"]["Properties"]
