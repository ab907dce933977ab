"""The deploy and destroy plans as data: which calls, in which order, with which parameters,
for both Glue backends; no AWS needed (the plan is pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.deploy.plan import (
    IAM_RETRY_SECONDS,
    FileBody,
    GlueAssets,
    Inputs,
    LambdaCode,
    Retry,
    Step,
    Target,
    Upload,
    deploy_plan,
    destroy_plan,
    lambda_environment,
    names_of,
    plan_lines,
)
from pipeline.errors import ConfigError
from pipeline.settings import Settings, load_settings

TARGET = Target(account="123456789012", region="us-east-1")
OUTPUTS = ("movies_per_genre", "movies_per_year")


def aws_settings(**overrides: str) -> Settings:
    return load_settings(profile="aws", environ={}, overrides=overrides, config_path=None)


def inputs(glue: bool = True) -> Inputs:
    code = LambdaCode(FileBody(Path("build/fn.zip"), 1234, "ab" * 32), "python3.12", "x86_64")
    assets = GlueAssets(
        transforms_request={
            "Name": "csvpipe-transforms",
            "Command": {
                "Name": "glueetl",
                "ScriptLocation": "s3://csv-artifacts-bucket/glue/csvpipe_transforms.py",
            },
            "GlueVersion": "5.0",
            "DefaultArguments": {"--csvpipe_database": "csvpipe"},
        },
        uploads=(Upload("glue/csvpipe_transforms.py", b"print(1)", "text/x-python"),),
    )
    return Inputs(code, OUTPUTS, assets if glue else None)


def calls(steps: tuple[Step, ...]) -> list[str]:
    return [step.call.name for step in steps]


def index(steps: tuple[Step, ...], operation: str, **params: str) -> int:
    """The position of the first step calling ``operation`` with these parameters."""
    for number, step in enumerate(steps):
        if step.call.name == operation and all(step.call.params.get(k) == v for k, v in params.items()):
            return number
    raise AssertionError(f"no {operation} {params} in the plan")


def test_the_default_aws_profile_deploys_aws_glue_and_the_others_csvpipe() -> None:
    assert aws_settings().glue_backend == "aws-glue"
    assert load_settings(profile="localstack", environ={}, config_path=None).glue_backend == "csvpipe"
    assert load_settings(profile="local", environ={}, config_path=None).glue_backend == "csvpipe"


def test_deploy_order_puts_each_dependency_first() -> None:
    settings = aws_settings()
    names = names_of(settings)
    steps = deploy_plan(settings, TARGET, inputs())
    # Buckets, encrypted and closed, before anything is written to them.
    for _, bucket, _ in names.buckets:
        created = index(steps, "s3.create_bucket", Bucket=bucket)
        assert created < index(steps, "s3.put_bucket_encryption", Bucket=bucket)
        assert index(steps, "s3.put_public_access_block", Bucket=bucket) < min(
            (
                n
                for n, s in enumerate(steps)
                if s.call.name == "s3.put_object" and s.call.params["Bucket"] == bucket
            ),
            default=len(steps),
        )
    function = index(steps, "lambda.create_function")
    assert index(steps, "s3.put_object", Key=names.code_key) < function
    assert index(steps, "logs.create_log_group") < function
    assert index(steps, "iam.create_role", RoleName=names.lambda_role) < function
    assert index(steps, "iam.put_role_policy", RoleName=names.lambda_role) < function
    # S3 validates its permission when the notification is put: permission first.
    permission = index(steps, "lambda.add_permission")
    notification = index(steps, "s3.put_bucket_notification_configuration", Bucket=names.raw)
    assert function < permission < notification
    # Glue: roles and database before the crawler, crawler and jobs before the triggers,
    # the workflow and the events role before the rule's target, EventBridge switched on last.
    crawler = index(steps, "glue.create_crawler")
    assert index(steps, "iam.put_role_policy", RoleName=names.glue_role) < crawler
    assert index(steps, "glue.create_database") < crawler
    triggers = [n for n, s in enumerate(steps) if s.call.name == "glue.create_trigger"]
    jobs = [n for n, s in enumerate(steps) if s.call.name == "glue.create_job"]
    assert len(triggers) == 3 and len(jobs) == 2
    assert max([*jobs, crawler, index(steps, "glue.create_workflow")]) < min(triggers)
    targets = index(steps, "events.put_targets")
    assert index(steps, "iam.put_role_policy", RoleName=names.events_role) < targets
    assert max(triggers) < index(steps, "events.put_rule") < targets
    assert targets < index(steps, "s3.put_bucket_notification_configuration", Bucket=names.processed)
    # The manifests come last, one per output, where the transform job writes them.
    assert [s.call.params["Key"] for s in steps[-len(OUTPUTS) :]] == [f"{o}/manifest.json" for o in OUTPUTS]


def test_the_csvpipe_backend_deploys_no_glue_resources() -> None:
    settings = load_settings(profile="localstack", environ={}, config_path=None)
    steps = deploy_plan(settings, TARGET, inputs(glue=False))
    services = {step.call.service for step in steps}
    assert services == {"s3", "logs", "sqs", "iam", "lambda"}
    roles = [s.call.params["RoleName"] for s in steps if s.call.name == "iam.create_role"]
    assert roles == ["csvpipe-preprocess-role", "csvpipe-quicksight-role"]
    assert not any(s.call.params.get("Key", "").startswith("glue/") for s in steps)
    destroy = destroy_plan(settings, TARGET, outputs=(), glue_keys=(), force=False)
    assert "events" not in {s.call.service for s in destroy}
    # The glue service's database (csvpipe glue-worker makes it): the only Glue call.
    assert [s.call.name for s in destroy if s.call.service == "glue"] == ["glue.delete_database"]


def test_failed_invocations_go_to_a_dead_letter_queue_named_from_the_stack() -> None:
    settings = aws_settings(stack_name="sales")
    names = names_of(settings)
    steps = deploy_plan(settings, TARGET, inputs())
    queue = index(steps, "sqs.create_queue", QueueName="sales-preprocess-dlq")
    (put,) = [s.call for s in steps if s.call.name == "lambda.put_function_event_invoke_config"]
    config = put.params
    # Until IAM has the role's sqs:SendMessage everywhere, Lambda refuses the destination.
    assert Retry("InvalidParameterValueException", "SendMessage", IAM_RETRY_SECONDS) in put.retry
    arn = "arn:aws:sqs:us-east-1:123456789012:sales-preprocess-dlq"
    assert config == {
        "FunctionName": names.function,
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 21600,
        "DestinationConfig": {"OnFailure": {"Destination": arn}},
    }
    # The queue and the role's right to send to it before the destination; the destination
    # before the notification, so no event can fail with nowhere to go.
    (policy,) = [s.call.params for s in steps if s.call.params.get("PolicyName") == names.lambda_policy]
    (send,) = [
        s for s in json.loads(policy["PolicyDocument"])["Statement"] if "sqs:SendMessage" in s["Action"]
    ]
    assert (send["Action"], send["Resource"]) == (["sqs:SendMessage"], [arn])
    destination = index(steps, "lambda.put_function_event_invoke_config")
    assert queue < index(steps, "iam.put_role_policy", RoleName=names.lambda_role) < destination
    assert index(steps, "lambda.create_function") < destination
    assert destination < index(steps, "s3.put_bucket_notification_configuration", Bucket=names.raw)


def test_destroy_removes_the_queues_and_keeps_a_dead_letter_queue_with_events_unless_forced() -> None:
    settings = load_settings(
        profile="localstack", environ={}, config_path=None, overrides={"queue_name": "events"}
    )
    destroy = destroy_plan(settings, TARGET, outputs=(), glue_keys=(), force=False)
    queues = [
        (s.call.params["QueueUrl"].name, s.not_empty) for s in destroy if s.call.name == "sqs.delete_queue"
    ]
    assert queues == [
        ("csvpipe-preprocess-dlq", "keep"),
        ("events-processed", None),  # the glue service's work queue
        ("events-processed-dlq", "keep"),
    ]
    assert index(destroy, "lambda.delete_function") < min(
        n for n, s in enumerate(destroy) if s.call.name == "sqs.delete_queue"
    )
    # The glue service's notification of the processed bucket goes with its queue.
    assert index(
        destroy, "s3.put_bucket_notification_configuration", Bucket=settings.processed_bucket
    ) < index(destroy, "lambda.delete_function")
    forced = destroy_plan(settings, TARGET, outputs=(), glue_keys=(), force=True)
    assert {s.not_empty for s in forced if s.call.name == "sqs.delete_queue"} == {None}
    text = "\n".join(plan_lines(destroy))
    assert 'QueueUrl: "<the URL of queue csvpipe-preprocess-dlq>"' in text
    assert "holding messages: kept (destroy --force deletes it with them)" in text


def test_the_aws_glue_backend_needs_the_glue_job() -> None:
    with pytest.raises(ValueError, match="Glue job"):
        deploy_plan(aws_settings(), TARGET, inputs(glue=False))


def test_function_configuration_comes_from_settings() -> None:
    settings = aws_settings(
        lambda_timeout="120", lambda_memory_mb="2048", lambda_ephemeral_mb="4096", lambda_function_name="prep"
    )
    steps = deploy_plan(settings, TARGET, inputs())
    create = steps[index(steps, "lambda.create_function")]
    params = create.call.params
    assert (params["FunctionName"], params["Timeout"], params["MemorySize"]) == ("prep", 120, 2048)
    assert params["EphemeralStorage"] == {"Size": 4096}
    assert (params["Runtime"], params["Architectures"]) == ("python3.12", ["x86_64"])
    assert params["Handler"] == "pipeline.preprocess.handler.handler"
    assert params["Role"] == "arn:aws:iam::123456789012:role/csvpipe-preprocess-role"
    assert params["Code"] == {"S3Bucket": "csv-artifacts-bucket", "S3Key": "lambda/prep.zip"}
    update = {call.name: call.params for call in create.instead}
    assert update["lambda.update_function_configuration"]["Timeout"] == 120
    assert update["lambda.update_function_code"]["S3Key"] == "lambda/prep.zip"


def test_the_function_gets_settings_but_never_credentials() -> None:
    settings = aws_settings(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret-example")
    environment = lambda_environment(settings)
    assert environment["CSVPIPE_ENDPOINT_URL"] == ""  # AWS, or the emulator's AWS_ENDPOINT_URL
    assert environment["CSVPIPE_RAW_BUCKET"] == settings.raw_bucket
    assert environment["CSVPIPE_PROCESSED_BUCKET"] == settings.processed_bucket
    text = json.dumps(environment)
    assert "AKIAEXAMPLE" not in text and "secret-example" not in text
    assert not any("ACCESS_KEY" in name or "SECRET" in name for name in environment)
    rebuilt = load_settings(environ=environment, config_path=None)
    assert (rebuilt.profile, rebuilt.endpoint_url, rebuilt.aws_access_key_id) == ("aws", None, None)


def test_region_and_partition_reach_every_arn() -> None:
    settings = aws_settings(region="cn-north-1")
    target = Target(account="210987654321", region="cn-north-1", partition="aws-cn")
    steps = deploy_plan(settings, target, inputs())
    create = steps[index(steps, "s3.create_bucket", Bucket=settings.raw_bucket)].call.params
    assert create["CreateBucketConfiguration"] == {"LocationConstraint": "cn-north-1"}
    text = json.dumps([step.call.params for step in steps], default=str)
    arns = [word.strip('"\\,') for word in text.split() if word.strip('"\\').startswith("arn:")]
    assert arns and all(arn.startswith("arn:aws-cn:") for arn in arns)
    assert "123456789012" not in text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"glue_backend": "spark"},
            "setting 'glue_backend' (--set glue_backend) must be one of csvpipe, aws-glue",
        ),
        ({"stack_name": "My Stack"}, "setting 'stack_name' must be 1-30 lower-case letters"),
        (
            {"final_bucket": "csv-raw-data-bucket"},
            "the artifacts, raw, processed and final buckets must be four",
        ),
        ({"lambda_architecture": "sparc"}, "settings lambda_architecture and lambda_python_version: unknown"),
    ],
)
def test_bad_deploy_settings_are_one_line(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        names_of(aws_settings(**overrides))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_destroy_removes_what_deploy_creates_in_the_other_order() -> None:
    settings = aws_settings()
    names = names_of(settings)
    deploy = deploy_plan(settings, TARGET, inputs())
    destroy = destroy_plan(
        settings, TARGET, outputs=OUTPUTS, glue_keys=("glue/csvpipe_transforms.py",), force=False
    )
    created = {
        "role": {s.call.params["RoleName"] for s in deploy if s.call.name == "iam.create_role"},
        "bucket": {s.call.params["Bucket"] for s in deploy if s.call.name == "s3.create_bucket"},
        "object": {
            (s.call.params["Bucket"], s.call.params["Key"]) for s in deploy if s.call.name == "s3.put_object"
        },
        "glue job": {s.call.params["Name"] for s in deploy if s.call.name == "glue.create_job"},
        "trigger": {s.call.params["Name"] for s in deploy if s.call.name == "glue.create_trigger"},
    }
    deleted = {
        "role": {s.call.params["RoleName"] for s in destroy if s.call.name == "iam.delete_role"},
        "bucket": {s.call.params["Bucket"] for s in destroy if s.call.name == "s3.delete_bucket"},
        "object": {
            (s.call.params["Bucket"], s.call.params["Key"])
            for s in destroy
            if s.call.name == "s3.delete_object"
        },
        "glue job": {s.call.params["JobName"] for s in destroy if s.call.name == "glue.delete_job"},
        "trigger": {s.call.params["Name"] for s in destroy if s.call.name == "glue.delete_trigger"},
    }
    assert deleted == created
    for operation in ("lambda.delete_function", "lambda.remove_permission", "logs.delete_log_group"):
        assert operation in calls(destroy)
    for operation in (
        "glue.delete_crawler",
        "glue.delete_workflow",
        "glue.delete_database",
        "events.delete_rule",
    ):
        assert operation in calls(destroy)
    # Event sources first, so nothing fires into a half-removed pipeline; buckets last.
    first_compute = index(destroy, "glue.delete_trigger")
    assert index(destroy, "events.remove_targets") < first_compute
    assert index(destroy, "s3.put_bucket_notification_configuration", Bucket=names.raw) < first_compute
    assert index(destroy, "lambda.remove_permission") < index(destroy, "lambda.delete_function")
    assert index(destroy, "lambda.delete_function") < index(
        destroy, "iam.delete_role", RoleName=names.lambda_role
    )
    assert calls(destroy)[-4:] == ["s3.delete_bucket"] * 4
    assert {s.not_empty for s in destroy if s.call.name == "s3.delete_bucket"} == {"keep"}
    forced = destroy_plan(settings, TARGET, outputs=OUTPUTS, glue_keys=(), force=True)
    assert {s.not_empty for s in forced if s.call.name == "s3.delete_bucket"} == {"empty"}
    assert all(step.gone for step in destroy), "destroying twice must be harmless"


def test_every_create_knows_how_to_find_or_update_what_is_there() -> None:
    for step in deploy_plan(aws_settings(), TARGET, inputs()):
        if step.kind == "create":
            assert step.check is not None or step.exists, step.what


def test_dry_run_lines_show_every_call_and_parameter() -> None:
    steps = deploy_plan(aws_settings(), TARGET, inputs())
    text = "\n".join(plan_lines(steps))
    for number, step in enumerate(steps, 1):
        assert f"{number:>3}. {step.what}" in text
        for key in step.call.params:
            assert f"    {key}: " in text
    assert text.count("     s3.create_bucket") == 4
    # Policies read as documents, files as their description, small bodies as their JSON.
    assert '"s3:GetObject"' in text and "arn:aws:s3:::csv-raw-data-bucket/*" in text
    assert "<file build/fn.zip, 1,234 bytes, sha256 abababababababab...>" in text
    assert '"URIs": [' in text
    assert "first lambda.get_policy: when it is there" in text
