"""``csvpipe deploy --export cloudformation``: the deploy as one CloudFormation template.

Why: some teams deploy only through CloudFormation (reviews, drift detection, StackSets). The
template is built from the plan's own pieces (``pipeline.deploy.plan``: the same policy
documents, function configuration, crawler, jobs, triggers and event pattern), with ARNs
written through CloudFormation's pseudo parameters, so it cannot drift from ``csvpipe deploy``.
Pure: no AWS call, no file (``write_export`` writes it).

What the template leaves to you, as CloudFormation cannot do it without custom resources: the
artifacts bucket must exist and hold the Lambda zip (key parameter ``LambdaCodeKey``) and the Glue
jobs' files before the stack is created (``csvpipe deploy`` creates and fills it; or upload them
yourself, see ``upload_commands``); the QuickSight manifests are written by each transform run.
The three data buckets and the dead-letter queue are retained when the stack is deleted, as
``csvpipe destroy`` keeps a bucket with objects in it and a dead-letter queue with messages in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.deploy.plan import (
    LOG_RETENTION_DAYS,
    GlueAssets,
    Names,
    Target,
    crawler_definition,
    dead_letter_queue,
    event_invoke_config,
    function_configuration,
    preprocessed_event_pattern,
    raw_notification,
    records_job,
    roles,
    transforms_job,
    triggers,
    trust_policy,
)
from pipeline.settings import Settings

PSEUDO = Target(account="${AWS::AccountId}", region="${AWS::Region}", partition="${AWS::Partition}")
TEMPLATE_NAME = "cloudformation.json"

ENCRYPTION = {
    "ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
    ]
}
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def sub(value: Any) -> Any:
    """Strings naming a pseudo parameter become ``Fn::Sub``; everything else is kept."""
    if isinstance(value, str) and "${AWS::" in value:
        return {"Fn::Sub": value}
    if isinstance(value, Mapping):
        return {k: sub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sub(v) for v in value]
    return value


def logical_id(name: str) -> str:
    """``csvpipe-glue-role`` -> ``CsvpipeGlueRole``: CloudFormation ids are alphanumeric."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name) if part)


def _arn(resource: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, "Arn"]}


def _queue_attribute(value: str) -> Any:
    """An SQS attribute (text in the API) as CloudFormation's typed property."""
    if value in ("true", "false"):
        return value == "true"
    return int(value) if value.isdigit() else value


def _lambda_configurations(names: Names) -> list[dict[str, Any]]:
    """The S3 API's notification in CloudFormation's shape."""
    found = []
    for item in raw_notification(names, PSEUDO)["LambdaFunctionConfigurations"]:
        rules = item["Filter"]["Key"]["FilterRules"]
        for event in item["Events"]:
            found.append(
                {
                    "Event": event,
                    "Filter": {"S3Key": {"Rules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}},
                    "Function": _arn("PreprocessFunction"),
                }
            )
    return found


def template(
    settings: Settings, names: Names, *, runtime: str, architecture: str, glue: GlueAssets | None
) -> dict[str, Any]:
    """The CloudFormation template of what ``csvpipe deploy`` creates with these settings."""
    resources: dict[str, Any] = {}
    role_ids = {}
    for role in roles(names, PSEUDO):
        role_id = logical_id(role.name)
        role_ids[role.service] = role_id
        resources[role_id] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": role.name,
                "Description": f"csvpipe: {role.purpose}",
                "AssumeRolePolicyDocument": trust_policy(role.service),
                "Policies": [{"PolicyName": role.policy_name, "PolicyDocument": sub(role.policy)}],
            },
        }

    data_buckets = [(purpose, bucket) for purpose, bucket, _ in names.buckets if purpose != "artifacts"]
    for purpose, bucket in data_buckets:
        properties: dict[str, Any] = {
            "BucketName": bucket,
            "BucketEncryption": ENCRYPTION,
            "PublicAccessBlockConfiguration": PUBLIC_ACCESS_BLOCK,
        }
        resource: dict[str, Any] = {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": properties,
        }
        if purpose == "raw":
            properties["NotificationConfiguration"] = {"LambdaConfigurations": _lambda_configurations(names)}
            # S3 checks its permission to invoke the function when the notification is set; and
            # no event before a failed invocation has somewhere to go.
            resource["DependsOn"] = ["PreprocessPermission", "PreprocessEventInvokeConfig"]
        if purpose == "processed" and names.aws_glue:
            properties["NotificationConfiguration"] = {
                "EventBridgeConfiguration": {"EventBridgeEnabled": True}
            }
        resources[f"{purpose.capitalize()}Bucket"] = resource

    resources["PreprocessLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"LogGroupName": names.log_group, "RetentionInDays": LOG_RETENTION_DAYS},
    }
    configuration = function_configuration(settings, names, PSEUDO)
    resources["PreprocessFunction"] = {
        "Type": "AWS::Lambda::Function",
        "DependsOn": ["PreprocessLogGroup"],
        "Properties": {
            **sub(configuration),
            "Role": _arn(role_ids["lambda"]),
            "Runtime": runtime,
            "Architectures": [architecture],
            "Code": {"S3Bucket": names.artifacts, "S3Key": {"Ref": "LambdaCodeKey"}},
        },
    }
    queue = dead_letter_queue(names)
    resources["PreprocessDeadLetterQueue"] = {
        "Type": "AWS::SQS::Queue",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "QueueName": queue["QueueName"],
            **{name: _queue_attribute(value) for name, value in queue["Attributes"].items()},
        },
    }
    invoke = event_invoke_config(names, PSEUDO)
    resources["PreprocessEventInvokeConfig"] = {
        "Type": "AWS::Lambda::EventInvokeConfig",
        "Properties": {
            **invoke,
            "FunctionName": {"Ref": "PreprocessFunction"},
            "Qualifier": "$LATEST",
            "DestinationConfig": {"OnFailure": {"Destination": _arn("PreprocessDeadLetterQueue")}},
        },
    }
    resources["PreprocessPermission"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "FunctionName": {"Ref": "PreprocessFunction"},
            "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com",
            # Built from the name, not Ref'd: the bucket depends on this permission.
            "SourceArn": sub(PSEUDO.s3(names.raw)),
            "SourceAccount": {"Ref": "AWS::AccountId"},
        },
    }
    if names.aws_glue and glue is not None:
        _glue_resources(resources, settings, names, glue, role_ids["glue"], role_ids["events"])

    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"csvpipe stack {names.stack}: S3 -> Lambda -> "
            + ("Glue crawler and jobs -> " if names.aws_glue else "")
            + "final bucket for QuickSight. Generated by `csvpipe deploy --export cloudformation`: "
            f"upload the Lambda zip to s3://{names.artifacts}/<LambdaCodeKey> (and the Glue jobs' files "
            "under glue/) before creating the stack."
        ),
        "Parameters": {
            "LambdaCodeKey": {
                "Type": "String",
                "Default": names.code_key,
                "Description": f"Key of the Lambda zip in s3://{names.artifacts}/ (new key: new code)",
            }
        },
        "Resources": resources,
        "Outputs": {
            "PreprocessFunctionArn": {"Value": _arn("PreprocessFunction")},
            "DeadLetterQueueUrl": {"Value": {"Ref": "PreprocessDeadLetterQueue"}},
            "QuickSightRoleArn": {"Value": _arn(role_ids["quicksight"])},
            **{
                f"{purpose.capitalize()}BucketName": {"Value": {"Ref": f"{purpose.capitalize()}Bucket"}}
                for purpose, _ in data_buckets
            },
        },
    }


def _glue_resources(
    resources: dict[str, Any],
    settings: Settings,
    names: Names,
    glue: GlueAssets,
    glue_role: str,
    events_role: str,
) -> None:
    resources["GlueDatabase"] = {
        "Type": "AWS::Glue::Database",
        "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseInput": {"Name": names.database, "Description": "csvpipe: one table per dataset"},
        },
    }
    crawler = crawler_definition(settings, names, PSEUDO)
    resources["Crawler"] = {
        "Type": "AWS::Glue::Crawler",
        "Properties": {**sub(crawler), "Role": _arn(glue_role), "DatabaseName": {"Ref": "GlueDatabase"}},
    }
    for resource_id, job in (
        ("TransformsJob", transforms_job(glue, names, PSEUDO)),
        ("RecordsJob", records_job(settings, names, PSEUDO)),
    ):
        resources[resource_id] = {
            "Type": "AWS::Glue::Job",
            "Properties": {**sub(job), "Role": _arn(glue_role)},
        }
    resources["Workflow"] = {
        "Type": "AWS::Glue::Workflow",
        "Properties": {
            "Name": names.workflow,
            "Description": "csvpipe: crawl, transform, write run records",
            "MaxConcurrentRuns": 1,
        },
    }
    for trigger in triggers(names):
        properties = {**trigger, "WorkflowName": {"Ref": "Workflow"}}
        resources[logical_id(trigger["Name"]) + "Trigger"] = {
            "Type": "AWS::Glue::Trigger",
            # Actions and conditions name the crawler and jobs: they must exist first.
            "DependsOn": ["Crawler", "TransformsJob", "RecordsJob"],
            "Properties": properties,
        }
    resources["PreprocessedRule"] = {
        "Type": "AWS::Events::Rule",
        "DependsOn": ["Workflow"],
        "Properties": {
            "Name": names.rule,
            "Description": "csvpipe: a file was preprocessed; start the Glue workflow",
            "EventPattern": preprocessed_event_pattern(names),
            "State": "ENABLED",
            "Targets": [
                {
                    "Id": "glue-workflow",
                    "Arn": sub(PSEUDO.glue(f"workflow/{names.workflow}")),
                    "RoleArn": _arn(events_role),
                }
            ],
        },
    }


def upload_commands(names: Names, zip_path: str, glue_folder: str | None) -> list[str]:
    """The AWS CLI commands that put the artifacts where the template expects them."""
    commands = [
        f"aws s3 mb s3://{names.artifacts}   # once; or let `csvpipe deploy` create it",
        f"aws s3 cp {zip_path} s3://{names.artifacts}/{names.code_key}",
    ]
    if glue_folder is not None:
        commands.append(f"aws s3 sync {glue_folder} {names.glue_assets_uri}")
    return commands


def write_export(document: Mapping[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / TEMPLATE_NAME
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
