"""Deploy, run and destroy against the real emulator (a moto server over HTTP), which answers the
same API calls AWS does: every resource is checked for its configuration after a deploy and
for its absence after a destroy.

The emulator cannot execute a Lambda (moto needs Docker for that) nor run a Glue crawler or job,
so "run" here is: the deployed function's configuration drives the real handler in this
process; csvpipe's own crawler and DuckDB job stand in for the Glue crawler and Spark job,
writing what those write (a catalog table, outputs with their run records); the records job
(``pipeline.deploy.glue_records``) then runs with the arguments deploy gave it, and
``csvpipe run``'s follower must see every stage done.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulators.aws_emulator import AwsEmulator
from pipeline import layout
from pipeline.aws import Clients
from pipeline.catalog.crawler import crawl_dataset, ensure_database
from pipeline.deploy import artifacts
from pipeline.deploy.executor import AwsClients, Executor, Outcome, resolve_target
from pipeline.deploy.glue_records import parse_options, write_records
from pipeline.deploy.plan import NO_QUEUE, Inputs, LambdaCode, deploy_plan, destroy_plan, names_of
from pipeline.events import parse_s3_event
from pipeline.follow import follow
from pipeline.ingest.upload import upload_file
from pipeline.package.build import build_lambda_zip, host_target
from pipeline.preprocess.handler import preprocess_object
from pipeline.provision import ensure_processed_queue
from pipeline.publish.manifest import parse_manifest
from pipeline.sample_events import s3_put_event
from pipeline.settings import Settings, load_settings
from pipeline.transform.dag import reading
from pipeline.transform.job import load_plan, run_steps
from tests.conftest import SAMPLE, SAMPLE_GENRE_COUNTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Lambda zip as `csvpipe package lambda --from-installed` builds it (offline)."""
    return build_lambda_zip(host_target(None, None), tmp_path_factory.mktemp("zip"), from_installed=True).path


def deploy_settings(emulator: AwsEmulator, data_dir: Path, unique: str, **overrides: str) -> Settings:
    """The aws profile pointed at the emulator: the only difference is the endpoint."""
    values = {
        "endpoint_url": emulator.endpoint,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "data_dir": str(data_dir),
        "stack_name": f"t{unique}",
        "raw_bucket": f"raw-{unique}",
        "processed_bucket": f"processed-{unique}",
        "final_bucket": f"final-{unique}",
        "artifacts_bucket": f"artifacts-{unique}",
        "glue_database": f"db_{unique}",
        "lambda_function_name": f"preprocess-{unique}",
        "lambda_timeout": "45",
        "lambda_memory_mb": "1024",
        "lambda_ephemeral_mb": "2048",
        **overrides,
    }
    return load_settings(profile="aws", environ={}, overrides=values, config_path=None)


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"the emulator answered 'not yet' (slept {seconds} s): nothing should wait on it")


class Deployer:
    """Deploys and destroys one stack; the clients are the emulator's, built from the settings."""

    def __init__(self, settings: Settings, zip_path: Path, work: Path) -> None:
        self.settings, self.names = settings, names_of(settings)
        self.clients = AwsClients(settings)
        self.target = resolve_target(self.clients["sts"], settings.region)
        self.code: LambdaCode = artifacts.given_zip(zip_path, settings)
        self.work = work

    def deploy(self, settings: Settings | None = None) -> list[Outcome]:
        settings = settings or self.settings
        names = names_of(settings)
        glue = artifacts.glue_assets(settings, names, self.work / "glue") if names.aws_glue else None
        inputs = Inputs(self.code, artifacts.transform_outputs(settings), glue)
        return Executor(AwsClients(settings), sleep=no_sleep).run(deploy_plan(settings, self.target, inputs))

    def destroy(self, force: bool) -> list[Outcome]:
        keys = artifacts.glue_keys(self.settings, self.names) if self.names.aws_glue else ()
        steps = destroy_plan(
            self.settings,
            self.target,
            outputs=artifacts.transform_outputs(self.settings),
            glue_keys=keys,
            force=force,
        )
        return Executor(self.clients, sleep=no_sleep).run(steps)


@pytest.fixture
def deployer(emulator: AwsEmulator, tmp_path: Path, unique: str, built_zip: Path) -> Iterator[Deployer]:
    settings = deploy_settings(emulator, tmp_path / "data", unique)
    deployer = Deployer(settings, built_zip, tmp_path)
    yield deployer
    deployer.destroy(force=True)  # whatever the test left


def missing(call: Any, **params: Any) -> str:
    """The error code of a read of something that must be gone."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    return str(caught.value.response["Error"]["Code"])


def check_deployed(d: Deployer) -> None:
    s3, iam, lam, glue, logs, events = (
        d.clients[s] for s in ("s3", "iam", "lambda", "glue", "logs", "events")
    )
    names, settings, account = d.names, d.settings, d.target.account

    for _, bucket, _ in names.buckets:
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        )

    services = {
        names.lambda_role: "lambda",
        names.glue_role: "glue",
        names.quicksight_role: "quicksight",
        names.events_role: "events",
    }
    for role, service in services.items():
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": f"{service}.amazonaws.com"}
        (policy,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        assert "*" not in json.dumps([s["Action"] for s in document["Statement"]])
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []  # no FullAccess

    function = lam.get_function_configuration(FunctionName=names.function)
    assert function["Role"] == f"arn:aws:iam::{account}:role/{names.lambda_role}"
    assert function["Handler"] == "pipeline.preprocess.handler.handler"
    assert (function["Runtime"], function["Architectures"]) == (d.code.runtime, [d.code.architecture])
    assert (function["Timeout"], function["MemorySize"], function["EphemeralStorage"]) == (
        45,
        1024,
        {"Size": 2048},
    )
    variables = function["Environment"]["Variables"]
    assert variables["CSVPIPE_RAW_BUCKET"] == names.raw and variables["CSVPIPE_ENDPOINT_URL"] == ""
    assert not any("SECRET" in name or "ACCESS_KEY" in name for name in variables)
    zip_object = s3.head_object(Bucket=names.artifacts, Key=names.code_key)
    assert zip_object["ContentLength"] == d.code.body.size

    (statement,) = json.loads(lam.get_policy(FunctionName=names.function)["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == f"arn:aws:s3:::{names.raw}"
    assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == account

    notifications = s3.get_bucket_notification_configuration(Bucket=names.raw)["LambdaFunctionConfigurations"]
    assert sorted(
        (n["LambdaFunctionArn"], n["Filter"]["Key"]["FilterRules"][0]["Value"]) for n in notifications
    ) == [(function["FunctionArn"], ".csv"), (function["FunctionArn"], ".csv.gz")]

    (group,) = logs.describe_log_groups(logGroupNamePrefix=names.log_group)["logGroups"]
    assert group["retentionInDays"] == 30

    # A failed asynchronous invocation: a try, two retries, then the dead-letter queue.
    sqs = d.clients["sqs"]
    queue = sqs.get_queue_url(QueueName=names.dead_letters)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    invoke = lam.get_function_event_invoke_config(FunctionName=names.function)
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn

    assert glue.get_database(Name=names.database)["Database"]["Name"] == names.database
    crawler = glue.get_crawler(Name=names.crawler)["Crawler"]
    assert crawler["Role"] == f"arn:aws:iam::{account}:role/{names.glue_role}"
    assert crawler["Targets"]["S3Targets"] == [
        {"Path": f"s3://{names.processed}/", "Exclusions": ["_runs/**", "_rejects/**"]}
    ]
    assert json.loads(crawler["Configuration"])["Grouping"] == {"TableLevelConfiguration": 2}
    for job_name in (names.transforms_job, names.records_job):
        job = glue.get_job(JobName=job_name)["Job"]
        assert job["Role"] == f"arn:aws:iam::{account}:role/{names.glue_role}"
        script = job["Command"]["ScriptLocation"].removeprefix(f"s3://{names.artifacts}/")
        assert s3.head_object(Bucket=names.artifacts, Key=script)["ContentLength"] > 0
    transforms = glue.get_job(JobName=names.transforms_job)["Job"]
    reference = transforms["DefaultArguments"]["--csvpipe_reference_root"]
    assert s3.head_object(
        Bucket=names.artifacts, Key=reference.removeprefix(f"s3://{names.artifacts}/") + "genre_classes.csv"
    )
    assert transforms["DefaultArguments"]["--csvpipe_final_root"] == f"s3://{names.final}/"
    assert glue.get_workflow(Name=names.workflow)["Workflow"]["MaxConcurrentRuns"] == 1
    start = glue.get_trigger(Name=names.start_trigger)["Trigger"]
    assert (start["Type"], start["WorkflowName"], start["Actions"]) == (
        "EVENT",
        names.workflow,
        [{"CrawlerName": names.crawler}],
    )
    after_crawl = glue.get_trigger(Name=names.transform_trigger)["Trigger"]
    assert after_crawl["Actions"] == [{"JobName": names.transforms_job}]
    assert after_crawl["Predicate"]["Conditions"][0]["CrawlState"] == "SUCCEEDED"
    records = glue.get_trigger(Name=names.records_trigger)["Trigger"]
    assert records["Actions"] == [{"JobName": names.records_job}]

    rule = events.describe_rule(Name=names.rule)
    assert json.loads(rule["EventPattern"])["detail"]["bucket"]["name"] == [names.processed]
    (target,) = events.list_targets_by_rule(Rule=names.rule)["Targets"]
    assert target["Arn"] == f"arn:aws:glue:{settings.region}:{account}:workflow/{names.workflow}"
    assert target["RoleArn"] == f"arn:aws:iam::{account}:role/{names.events_role}"

    for output in artifacts.transform_outputs(settings):
        body = s3.get_object(Bucket=names.final, Key=layout.final_manifest_key(output))["Body"].read()
        assert parse_manifest(json.loads(body)).uris == (f"s3://{names.final}/{output}/{output}.csv",)


def check_events_reach_the_rule(d: Deployer) -> None:
    """The processed bucket sends its events to EventBridge and the deployed rule matches
    preprocess run records only. The emulator cannot deliver to a Glue workflow (it gives up on
    every rule at such a target), so for this check the rule's target is a queue, then the
    workflow again."""
    sqs, events, s3 = d.clients["sqs"], d.clients["events"], d.clients["s3"]
    deployed = events.list_targets_by_rule(Rule=d.names.rule)["Targets"]
    queue = sqs.create_queue(QueueName=f"{d.names.stack}-seen")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.remove_targets(Rule=d.names.rule, Ids=[t["Id"] for t in deployed])
    events.put_targets(Rule=d.names.rule, Targets=[{"Id": "queue", "Arn": arn}])
    keys = ["movies/not-a-record.csv", "_runs/r1/preprocess.json", "_runs/r1/crawl.json"]
    try:
        for key in keys:
            s3.put_object(Bucket=d.names.processed, Key=key, Body=b"{}")
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        assert [json.loads(m["Body"])["detail"]["object"]["key"] for m in messages] == [
            "_runs/r1/preprocess.json"
        ]
    finally:
        events.remove_targets(Rule=d.names.rule, Ids=["queue"])
        events.put_targets(Rule=d.names.rule, Targets=deployed)
        sqs.delete_queue(QueueUrl=queue)
        s3.delete_objects(Bucket=d.names.processed, Delete={"Objects": [{"Key": key} for key in keys]})


def run_on_the_emulator(d: Deployer, emulator: AwsEmulator) -> None:
    """One file through the deployed configuration; see the module's docstring."""
    s3, glue, lam = d.clients["s3"], d.clients["glue"], d.clients["lambda"]
    names = d.names
    upload = upload_file(s3, names.raw, SAMPLE)

    # The Lambda's settings are its environment, plus the emulator's address (as LocalStack gives
    # its functions AWS_ENDPOINT_URL).
    environment = lam.get_function_configuration(FunctionName=names.function)["Environment"]["Variables"]
    in_lambda = load_settings(
        environ={
            **environment,
            "CSVPIPE_ENDPOINT_URL": emulator.endpoint,
            "CSVPIPE_AWS_ACCESS_KEY_ID": "testing",
            "CSVPIPE_AWS_SECRET_ACCESS_KEY": "testing",
        },
        config_path=None,
    )
    event = s3_put_event(names.raw, upload.key, size=upload.size, etag=upload.etag)
    (record,) = parse_s3_event(event)
    result = preprocess_object(record, in_lambda, s3, None)
    assert result["status"] == "ok", result

    # Stand-ins for the Glue crawler and the Spark job, started as the workflow would.
    dataset = result["dataset"]
    glue.start_crawler(Name=names.crawler)
    crawl_dataset(dataset, d.settings, s3, glue, d.work / "crawl")
    glue.start_job_run(JobName=names.transforms_job)
    steps, references = load_plan(d.settings)
    summary = run_steps(reading(steps, dataset), d.settings, s3, glue, d.work / "job", references)
    assert summary["status"] == "ok", summary

    # The records job, with the arguments deploy gave it.
    job = glue.get_job(JobName=names.records_job)["Job"]
    argv = [item for pair in job["DefaultArguments"].items() for item in pair]
    options = parse_options([*argv, "--csvpipe_endpoint", emulator.endpoint])
    assert write_records(s3, glue, options, log=lambda line: None) == [upload.run_id]

    (progress,) = follow(s3, names.processed, [upload], timeout=5, sleep=no_sleep)
    assert progress.done and not progress.failed, progress.error()
    crawl, transform = progress.records["crawl"], progress.records["transform"]
    assert (crawl["database"], crawl["table"]) == (names.database, "movies")
    assert [c["name"] for c in crawl["columns"]] == ["movie_id", "title", "genre", "year"]
    per_genre = next(o for o in transform["outputs"] if o["output"] == "movies_per_genre")
    assert per_genre["rows"] == len(SAMPLE_GENRE_COUNTS)
    # Run again: the same records (the job finds nothing left to record).
    assert write_records(s3, glue, options, log=lambda line: None) == []


def test_deploy_run_destroy(deployer: Deployer, emulator: AwsEmulator) -> None:
    outcomes = deployer.deploy()
    assert {o.result for o in outcomes} == {"created", "applied", "uploaded"}
    check_deployed(deployer)
    check_events_reach_the_rule(deployer)
    run_on_the_emulator(deployer, emulator)

    outcomes = deployer.destroy(force=True)
    assert {o.result for o in outcomes} <= {"deleted", "gone"}
    c, names = deployer.clients, deployer.names
    for _, bucket, _ in names.buckets:
        assert missing(c["s3"].head_bucket, Bucket=bucket) == "404"
    for role in (names.lambda_role, names.glue_role, names.quicksight_role, names.events_role):
        assert missing(c["iam"].get_role, RoleName=role) == "NoSuchEntity"
    assert missing(c["lambda"].get_function, FunctionName=names.function) == "ResourceNotFoundException"
    assert c["logs"].describe_log_groups(logGroupNamePrefix=names.log_group)["logGroups"] == []
    assert missing(c["glue"].get_database, Name=names.database) == "EntityNotFoundException"
    assert missing(c["glue"].get_crawler, Name=names.crawler) == "EntityNotFoundException"
    for job in (names.transforms_job, names.records_job):
        assert missing(c["glue"].get_job, JobName=job) == "EntityNotFoundException"
    for trigger in (names.start_trigger, names.transform_trigger, names.records_trigger):
        assert missing(c["glue"].get_trigger, Name=trigger) == "EntityNotFoundException"
    assert missing(c["glue"].get_workflow, Name=names.workflow) == "EntityNotFoundException"
    assert missing(c["events"].describe_rule, Name=names.rule) == "ResourceNotFoundException"
    assert missing(c["sqs"].get_queue_url, QueueName=names.dead_letters) in NO_QUEUE


def results(outcomes: list[Outcome]) -> dict[str, str]:
    return {o.step.what: o.result for o in outcomes}


def test_deploying_again_changes_only_what_changed(
    deployer: Deployer, emulator: AwsEmulator, tmp_path: Path, unique: str
) -> None:
    deployer.deploy()
    again = results(deployer.deploy())
    names = deployer.names
    assert "created" not in again.values()
    assert (
        again[f"function {names.function} ({deployer.code.runtime}, {deployer.code.architecture})"]
        == "updated"
    )
    assert again[f"Glue crawler {names.crawler} over s3://{names.processed}/"] == "unchanged"
    assert again[f"role {names.lambda_role} for the preprocessing Lambda"] == "unchanged"
    assert again[f"S3's permission to invoke {names.function} for the raw bucket"] == "unchanged"
    assert {again[what] for what in again if what.startswith("Glue trigger")} == {"unchanged"}

    longer = deploy_settings(emulator, tmp_path / "data", unique, lambda_timeout="300")
    deployer.deploy(longer)
    function = deployer.clients["lambda"].get_function_configuration(FunctionName=names.function)
    assert function["Timeout"] == 300
    (statement,) = json.loads(deployer.clients["lambda"].get_policy(FunctionName=names.function)["Policy"])[
        "Statement"
    ]
    assert statement["Sid"] == names.permission


def test_destroy_keeps_buckets_with_data_unless_forced(
    emulator: AwsEmulator, tmp_path: Path, unique: str, built_zip: Path
) -> None:
    settings = deploy_settings(emulator, tmp_path / "data", unique, glue_backend="csvpipe")
    d = Deployer(settings, built_zip, tmp_path)
    try:
        d.deploy()
        assert "glue" not in {o.step.call.service for o in d.destroy(force=False) if o.result != "gone"}
        d.deploy()
        # What the compose glue service (csvpipe glue-worker) makes for itself.
        service = Clients(settings)
        ensure_database(service.glue, settings.glue_database)
        glue_queue = ensure_processed_queue(service)
        d.clients["s3"].put_object(Bucket=d.names.processed, Key="movies/movies.csv", Body=b"a\n1\n")
        sqs = d.clients["sqs"]
        dead_letters = sqs.get_queue_url(QueueName=d.names.dead_letters)["QueueUrl"]
        sqs.send_message(QueueUrl=dead_letters, MessageBody='{"requestPayload": {"Records": []}}')
        outcomes = results(d.destroy(force=False))
        assert outcomes[f"processed bucket {d.names.processed}"] == "kept"
        assert outcomes[f"raw bucket {d.names.raw}"] == "deleted"
        assert outcomes[f"function {d.names.function}"] == "deleted"
        assert d.clients["s3"].head_bucket(Bucket=d.names.processed)
        # Its notifications are gone with the function and the glue service's queue; the data
        # and the failed events stay until --force.
        left = d.clients["s3"].get_bucket_notification_configuration(Bucket=d.names.processed)
        assert "LambdaFunctionConfigurations" not in left and "QueueConfigurations" not in left
        assert outcomes[f"dead-letter queue {d.names.dead_letters}"] == "kept"
        assert sqs.get_queue_url(QueueName=d.names.dead_letters)["QueueUrl"] == dead_letters
        assert outcomes[f"the glue service's queue {d.names.processed_queue}"] == "deleted"
        assert outcomes[f"the glue service's dead-letter queue {d.names.processed_queue}-dlq"] == "deleted"
        assert missing(sqs.get_queue_url, QueueName=d.names.processed_queue) in NO_QUEUE
        assert missing(sqs.get_queue_attributes, QueueUrl=glue_queue.dlq_url) in NO_QUEUE
        assert outcomes[f"Glue database {settings.glue_database} and its tables"] == "deleted"
        assert (
            missing(d.clients["glue"].get_database, Name=settings.glue_database) == "EntityNotFoundException"
        )
        forced = results(d.destroy(force=True))
        assert forced[f"processed bucket {d.names.processed}"] == "deleted"
        assert forced[f"function {d.names.function}"] == "gone"
        assert forced[f"dead-letter queue {d.names.dead_letters}"] == "deleted"
        assert missing(sqs.get_queue_url, QueueName=d.names.dead_letters) in NO_QUEUE
    finally:
        d.destroy(force=True)
