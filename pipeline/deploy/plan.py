"""What ``csvpipe deploy`` and ``csvpipe destroy`` do, as data: the deployed names, the IAM policy
documents and the ordered list of API calls. Pure: no boto3, no files, no clock.

Why: as chalice's planner, a plan is a list of frozen records, so ``--dry-run`` prints exactly
what the executor (``pipeline.deploy.executor``) will call, tests check the order and every
policy without an account, and the CloudFormation export (``pipeline.deploy.cloudformation``)
is built from the same documents and parameters, so the two cannot drift apart.

Idempotence is in the records, not in a state file: a create step first reads the resource
(its ``check``); when it is there, the step's update calls (``instead``) are made only if it
differs from the plan, else nothing; when it is not, the create is made (and an "already
exists" answer to it, from a race, leads to the same update). Calls that replace a whole
configuration (``put_*``) are idempotent as they are. A dry run needs credentials only to learn
the account (``sts:GetCallerIdentity``): it reads nothing else.

The order of a deploy, and why:

1. the buckets (artifacts first), each encrypted and closed to the public before anything is
   written to it;
2. the artifacts (the Lambda zip, the Glue jobs' scripts): the function and jobs point at them;
3. the Lambda's log group: made by csvpipe, so the function needs no ``logs:CreateLogGroup``;
   and its dead-letter queue (SQS), where Lambda sends an asynchronous invocation that failed
   its try and two retries (on AWS, without one, such an event is dropped);
4. the IAM roles and their inline policies, early, since IAM changes take seconds to reach
   Lambda and Glue (the executor retries "cannot be assumed" for that reason);
5. the function, its asynchronous invocations' on-failure destination (the dead-letter queue:
   set before any event can arrive), then S3's permission to invoke it, then the raw bucket's
   notification: S3
   checks the permission when the notification is put, and refuses it otherwise ("Unable to
   validate the following destination configurations");
6. with ``glue_backend = "aws-glue"``: the Glue database, crawler, jobs, workflow and triggers,
   then the EventBridge rule that starts the workflow, and last the processed bucket's
   EventBridge switch, so no event is sent before its consumers exist;
7. the QuickSight manifests in the final bucket.

A destroy goes the other way: event sources first (the rule, the notifications), so nothing
fires into a half-removed pipeline; then functions, jobs and roles; the queues and the catalog
database, including those the compose ``glue`` service makes for itself (``csvpipe glue-worker``:
``<queue_name>-processed``, its dead-letter queue, the database); buckets last. A bucket with
objects in it, and a dead-letter queue with messages in it (events of files that failed), are
kept unless ``--force``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import layout
from pipeline.errors import ConfigError, UserInputError
from pipeline.package import lambda_zip
from pipeline.provision import dead_letter_queue_of, processed_queue_name
from pipeline.publish.manifest import quicksight_manifest
from pipeline.settings import Settings, env_var

GLUE_BACKENDS = ("csvpipe", "aws-glue")
STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
LOG_RETENTION_DAYS = 30
# Lambda's asynchronous invocation: one try and this many retries, then the on-failure
# destination; an event older than this is not retried (both AWS's defaults, said explicitly).
ASYNC_RETRIES = 2
ASYNC_EVENT_AGE_SECONDS = 6 * 3600
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's longest: time to fix the cause and replay
# SQS refuses a queue's name for 60 s after the queue was deleted (a deploy right after a destroy).
QUEUE_NAME_REUSE_SECONDS = 90.0
NO_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
LAMBDA_CODE_FOLDER = "lambda/"
GLUE_ASSETS_FOLDER = "glue/"
RECORDS_SCRIPT = "csvpipe_records.py"
RECORDS_PYTHON = "3.9"  # Glue Python shell jobs: Python 3.9 on Glue 3.0
# EventBridge -> Glue workflow: start after this many preprocessed files, or this many seconds
# after the first one, whichever comes first (Glue's event batching).
EVENT_BATCH_SIZE = 100
EVENT_BATCH_WINDOW = 60
# What the crawler must not take for data: csvpipe's own folders in the processed bucket.
CRAWLER_EXCLUSIONS = (f"{layout.RUNS_PREFIX}**", f"{layout.REJECTS_PREFIX}**")
# The table of a processed object is its top folder (the dataset): level 2 counts the bucket as 1.
CRAWLER_CONFIGURATION = {"Version": 1.0, "Grouping": {"TableLevelConfiguration": 2}}
IAM_RETRY_SECONDS = 120.0  # IAM is eventually consistent: a new role reaches Lambda within seconds
LAMBDA_READY_SECONDS = 300.0
POLICY_VERSION = "2012-10-17"
JSON_PARAMS = frozenset(
    {"AssumeRolePolicyDocument", "PolicyDocument", "EventPattern", "Configuration", "Policy"}
)


# -- names -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """Every name deploy gives a resource, derived from the settings (``stack_name`` first)."""

    stack: str
    raw: str
    processed: str
    final: str
    artifacts: str
    database: str
    function: str
    aws_glue: bool
    processed_queue: str  # the compose glue service's queue (csvpipe glue-worker makes it)

    @property
    def buckets(self) -> tuple[tuple[str, str, str], ...]:
        """(role in the pipeline, bucket, setting), artifacts first."""
        return (
            ("artifacts", self.artifacts, "artifacts_bucket"),
            ("raw", self.raw, "raw_bucket"),
            ("processed", self.processed, "processed_bucket"),
            ("final", self.final, "final_bucket"),
        )

    lambda_role = property(lambda self: f"{self.stack}-preprocess-role")
    glue_role = property(lambda self: f"{self.stack}-glue-role")
    quicksight_role = property(lambda self: f"{self.stack}-quicksight-role")
    events_role = property(lambda self: f"{self.stack}-events-role")
    lambda_policy = property(lambda self: f"{self.stack}-preprocess")
    glue_policy = property(lambda self: f"{self.stack}-glue")
    quicksight_policy = property(lambda self: f"{self.stack}-read-final")
    events_policy = property(lambda self: f"{self.stack}-start-glue-workflow")
    log_group = property(lambda self: f"/aws/lambda/{self.function}")
    permission = property(lambda self: f"{self.stack}-s3-raw-invoke")
    dead_letters = property(lambda self: f"{self.stack}-preprocess-dlq")
    crawler = property(lambda self: f"{self.stack}-processed")
    transforms_job = property(lambda self: f"{self.stack}-transforms")
    records_job = property(lambda self: f"{self.stack}-records")
    workflow = property(lambda self: f"{self.stack}-glue")
    start_trigger = property(lambda self: f"{self.stack}-on-preprocessed")
    transform_trigger = property(lambda self: f"{self.stack}-after-crawl")
    records_trigger = property(lambda self: f"{self.stack}-after-transforms")
    rule = property(lambda self: f"{self.stack}-preprocessed")
    code_key = property(lambda self: f"{LAMBDA_CODE_FOLDER}{self.function}.zip")
    records_key = property(lambda self: f"{GLUE_ASSETS_FOLDER}{RECORDS_SCRIPT}")

    @property
    def glue_assets_uri(self) -> str:
        return f"s3://{self.artifacts}/{GLUE_ASSETS_FOLDER}"


def names_of(settings: Settings) -> Names:
    """The names, once the deploy settings are checked: a clear ConfigError for a bad one."""
    if settings.glue_backend not in GLUE_BACKENDS:
        raise ConfigError(
            f"setting 'glue_backend' ({settings.sources.get('glue_backend', 'default')}) must be one of "
            f"{', '.join(GLUE_BACKENDS)}, got {settings.glue_backend!r}"
        )
    if not STACK_NAME.match(settings.stack_name):
        raise ConfigError(
            f"setting 'stack_name' must be 1-30 lower-case letters, digits or '-', starting with a letter "
            f"(it prefixes every deployed name), got {settings.stack_name!r}"
        )
    try:
        lambda_zip.target(settings.lambda_architecture, settings.lambda_python_version)
    except UserInputError as exc:
        raise ConfigError(f"settings lambda_architecture and lambda_python_version: {exc}") from None
    buckets = [
        settings.artifacts_bucket,
        settings.raw_bucket,
        settings.processed_bucket,
        settings.final_bucket,
    ]
    if len(set(buckets)) != len(buckets):
        raise ConfigError(
            "the artifacts, raw, processed and final buckets must be four different buckets, got "
            + ", ".join(buckets)
        )
    return Names(
        stack=settings.stack_name,
        raw=settings.raw_bucket,
        processed=settings.processed_bucket,
        final=settings.final_bucket,
        artifacts=settings.artifacts_bucket,
        database=settings.glue_database,
        function=settings.lambda_function_name,
        aws_glue=settings.glue_backend == "aws-glue",
        processed_queue=processed_queue_name(settings),
    )


@dataclass(frozen=True)
class Target:
    """Where a plan goes: ARNs need the account, the region and the partition (``aws``,
    ``aws-cn``, ``aws-us-gov``). The CloudFormation export uses its pseudo parameters here."""

    account: str
    region: str
    partition: str = "aws"

    def s3(self, bucket: str, objects: str | None = None) -> str:
        return f"arn:{self.partition}:s3:::{bucket}" + ("" if objects is None else f"/{objects}")

    def iam_role(self, name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{name}"

    def regional(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def function(self, name: str) -> str:
        return self.regional("lambda", f"function:{name}")

    def log_group(self, name: str) -> str:
        return self.regional("logs", f"log-group:{name}")

    def glue(self, resource: str) -> str:
        return self.regional("glue", resource)

    def queue(self, name: str) -> str:
        return self.regional("sqs", name)


# -- policy documents --------------------------------------------------------------------------


def _allow(sid: str, actions: Sequence[str], resources: Sequence[str], **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": list(resources),
    }
    if condition:
        statement["Condition"] = condition
    return statement


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def trust_policy(service: str) -> dict[str, Any]:
    """Who may assume a role: one AWS service, nothing else."""
    return _policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": f"{service}.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )


def lambda_policy(names: Names, t: Target) -> dict[str, Any]:
    """The preprocessing Lambda: read raw, write processed, write its own log group."""
    return _policy(
        _allow("ReadRawObjects", ["s3:GetObject"], [t.s3(names.raw, "*")]),
        # Without it a missing key answers 403, not 404, and the handler's retry with the key
        # as sent (a "+" in a name) never happens.
        _allow("ListRawSoMissingKeysAre404", ["s3:ListBucket"], [t.s3(names.raw)]),
        _allow(
            "WriteProcessedObjects",
            ["s3:PutObject", "s3:AbortMultipartUpload"],
            [t.s3(names.processed, "*")],
        ),
        # A file processed again without rejects removes its stale rejects file.
        _allow(
            "RemoveStaleRejects", ["s3:DeleteObject"], [t.s3(names.processed, f"{layout.REJECTS_PREFIX}*")]
        ),
        _allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [t.log_group(names.log_group) + ":*"],
        ),
        # Lambda sends a failed asynchronous invocation to the on-failure destination with the
        # function's role.
        _allow("SendFailedEventsToDeadLetterQueue", ["sqs:SendMessage"], [t.queue(names.dead_letters)]),
    )


GLUE_CATALOG_ACTIONS = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
    "glue:CreatePartition",
    "glue:BatchCreatePartition",
    "glue:UpdatePartition",
    "glue:BatchUpdatePartition",
)


def glue_policy(names: Names, t: Target) -> dict[str, Any]:
    """The crawler and both Glue jobs: read processed, write final, change only csvpipe's own
    catalog database, and write the run records of the files they handled."""
    return _policy(
        _allow("ReadProcessed", ["s3:GetObject"], [t.s3(names.processed, "*")]),
        _allow("ListProcessed", ["s3:ListBucket"], [t.s3(names.processed)]),
        # The records job writes the crawl and transform run records `csvpipe run` follows.
        _allow("WriteRunRecords", ["s3:PutObject"], [t.s3(names.processed, f"{layout.RUNS_PREFIX}*")]),
        # Transforms read other transforms' outputs (GetObject); Spark writes each output through
        # a scratch folder it deletes afterwards (DeleteObject).
        _allow(
            "WriteFinal",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [t.s3(names.final, "*")],
        ),
        _allow("ListFinal", ["s3:ListBucket"], [t.s3(names.final)]),
        _allow("ReadJobFiles", ["s3:GetObject"], [t.s3(names.artifacts, f"{GLUE_ASSETS_FOLDER}*")]),
        _allow(
            "ListJobFiles",
            ["s3:ListBucket"],
            [t.s3(names.artifacts)],
            StringLike={"s3:prefix": [f"{GLUE_ASSETS_FOLDER}*"]},
        ),
        _allow(
            "OwnCatalogDatabase",
            GLUE_CATALOG_ACTIONS,
            [
                t.glue("catalog"),
                t.glue(f"database/{names.database}"),
                t.glue(f"table/{names.database}/*"),
            ],
        ),
        _allow(
            "ReadCrawlOutcome", ["glue:GetCrawler", "glue:ListCrawls"], [t.glue(f"crawler/{names.crawler}")]
        ),
        _allow("ReadTransformRuns", ["glue:GetJobRuns"], [t.glue(f"job/{names.transforms_job}")]),
        _allow(
            "WriteGlueLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [
                t.log_group("/aws-glue/crawlers") + ":*",
                t.log_group("/aws-glue/jobs/*"),
                t.log_group("/aws-glue/python-jobs/*"),
            ],
        ),
    )


def quicksight_policy(names: Names, t: Target) -> dict[str, Any]:
    """QuickSight's access: read the final bucket (its manifests and the CSVs they name)."""
    return _policy(
        _allow("ReadFinalObjects", ["s3:GetObject"], [t.s3(names.final, "*")]),
        _allow("ListFinal", ["s3:ListBucket", "s3:GetBucketLocation"], [t.s3(names.final)]),
    )


def events_policy(names: Names, t: Target) -> dict[str, Any]:
    """EventBridge's access: start csvpipe's Glue workflow, nothing else."""
    return _policy(
        _allow("StartCsvpipeWorkflow", ["glue:NotifyEvent"], [t.glue(f"workflow/{names.workflow}")])
    )


@dataclass(frozen=True)
class Role:
    name: str
    service: str
    policy_name: str
    policy: dict[str, Any]
    purpose: str


def roles(names: Names, t: Target) -> tuple[Role, ...]:
    """The roles deploy creates, each with one inline policy (no managed FullAccess policy)."""
    found = [
        Role(
            names.lambda_role,
            "lambda",
            names.lambda_policy,
            lambda_policy(names, t),
            "the preprocessing Lambda",
        ),
        Role(
            names.quicksight_role,
            "quicksight",
            names.quicksight_policy,
            quicksight_policy(names, t),
            "QuickSight's access to the final bucket",
        ),
    ]
    if names.aws_glue:
        found += [
            Role(
                names.glue_role, "glue", names.glue_policy, glue_policy(names, t), "the Glue crawler and jobs"
            ),
            Role(
                names.events_role,
                "events",
                names.events_policy,
                events_policy(names, t),
                "EventBridge starting the Glue workflow",
            ),
        ]
    return tuple(found)


# -- what goes into the plan besides the settings ----------------------------------------------


@dataclass(frozen=True)
class FileBody:
    """A local file to upload, described (the executor reads it; the plan does not). A dry run
    that does not build the Lambda zip describes it by its path alone (size and hash None)."""

    path: Path
    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class QueueUrlOf:
    """A parameter whose value is the URL of the queue ``name`` (SQS's delete and attribute calls
    take a URL, which differs between AWS and an emulator): the executor asks SQS for it first,
    and a queue that is not there answers as the call would (``NO_QUEUE``)."""

    name: str


@dataclass(frozen=True)
class Upload:
    key: str
    body: FileBody | bytes
    content_type: str


@dataclass(frozen=True)
class LambdaCode:
    """The deployment zip (``csvpipe package lambda``) and the runtime it was built for."""

    body: FileBody
    runtime: str
    architecture: str


@dataclass(frozen=True)
class GlueAssets:
    """The transforms job as ``pipeline.spark`` plans it (its CreateJob request, without the
    role) and every file the Glue jobs read, with keys under ``glue/`` in the artifacts bucket."""

    transforms_request: Mapping[str, Any]
    uploads: tuple[Upload, ...]


@dataclass(frozen=True)
class Inputs:
    code: LambdaCode
    outputs: tuple[str, ...]  # the transforms' outputs: one QuickSight manifest each
    glue: GlueAssets | None = None  # needed with glue_backend = "aws-glue"


# -- the records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    """An error that means "not yet" rather than "no": the call is repeated until ``seconds``."""

    code: str
    message: str
    seconds: float


@dataclass(frozen=True)
class Wait:
    """After a call: read ``call`` until ``result[field]`` is in ``ready`` for every field;
    a value in ``failed`` stops with the reason found in ``reasons``."""

    call: Call
    result: str
    ready: tuple[tuple[str, tuple[str | None, ...]], ...]
    failed: tuple[tuple[str, tuple[str, ...]], ...]
    reasons: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class Call:
    """One API call: boto3's client ``service`` and method ``operation`` with ``params``."""

    service: str
    operation: str
    params: Mapping[str, Any]
    retry: tuple[Retry, ...] = ()
    wait: Wait | None = None

    @property
    def name(self) -> str:
        return f"{self.service}.{self.operation}"


@dataclass(frozen=True)
class Check:
    """Before a create, read the resource with ``call``: an error in ``missing`` means it is not
    there (the create follows); otherwise it is there (the resource is under ``result`` of the
    answer, ``""`` for the whole answer), and the step's ``instead`` calls are made when one of
    ``keys`` differs from the create's parameter of that name, or always when ``keys`` is empty.
    With ``statement``, ``result`` is a JSON policy and the resource is its statement of that id,
    compared with ``expected``."""

    call: Call
    result: str
    keys: tuple[str, ...]
    missing: tuple[str, ...]
    statement: str | None = None
    expected: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Step:
    """One step of a plan: a call, and what to do when the resource is already there (found by
    ``check``, or AWS answers the create with an ``exists`` code: run ``instead``, if any) or
    already gone (``gone`` codes: nothing to do). ``kind`` says how to report it: create, put,
    upload or delete."""

    what: str
    kind: str
    call: Call
    exists: tuple[str, ...] = ()
    check: Check | None = None
    instead: tuple[Call, ...] = ()
    gone: tuple[str, ...] = ()
    # Deleting a bucket with objects: "keep" it, or "empty" it first; a queue with messages:
    # "keep" it (None: delete it with them).
    not_empty: str | None = None
    explain: tuple[tuple[str, str], ...] = field(default=())  # error code -> what to do about it


def _json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def lambda_environment(settings: Settings) -> dict[str, str]:
    """The function's settings (``CSVPIPE_*``, read by ``load_settings`` in the handler). No
    credentials: the function uses its role's. An empty endpoint makes boto3 use AWS, or the
    ``AWS_ENDPOINT_URL`` an emulator gives its functions."""
    values = {
        "profile": settings.profile,
        "region": settings.region,
        "endpoint_url": "",
        "raw_bucket": settings.raw_bucket,
        "processed_bucket": settings.processed_bucket,
        "final_bucket": settings.final_bucket,
        "glue_database": settings.glue_database,
        "lambda_timeout": str(settings.lambda_timeout),
        "lambda_memory_mb": str(settings.lambda_memory_mb),
        "lambda_ephemeral_mb": str(settings.lambda_ephemeral_mb),
    }
    return {env_var(name): value for name, value in values.items()}


def function_configuration(settings: Settings, names: Names, t: Target) -> dict[str, Any]:
    """What ``create_function`` and ``update_function_configuration`` share."""
    return {
        "FunctionName": names.function,
        "Role": t.iam_role(names.lambda_role),
        "Handler": lambda_zip.HANDLER,
        "Description": "csvpipe: preprocess CSV files from the raw bucket into the processed bucket",
        "Timeout": settings.lambda_timeout,
        "MemorySize": settings.lambda_memory_mb,
        "EphemeralStorage": {"Size": settings.lambda_ephemeral_mb},
        "Environment": {"Variables": lambda_environment(settings)},
    }


def dead_letter_queue(names: Names) -> dict[str, Any]:
    """The dead-letter queue of the function's asynchronous invocations: encrypted, and keeping
    a failed event as long as SQS allows."""
    return {
        "QueueName": names.dead_letters,
        "Attributes": {
            "MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS),
            "SqsManagedSseEnabled": "true",
        },
    }


def event_invoke_config(names: Names, t: Target) -> dict[str, Any]:
    """The function's asynchronous invocations: a try and ``ASYNC_RETRIES`` retries, then the
    event and its error to the dead-letter queue (an on-failure destination: the message is the
    invocation record, with the error, where a DeadLetterConfig message has the event alone)."""
    return {
        "FunctionName": names.function,
        "MaximumRetryAttempts": ASYNC_RETRIES,
        "MaximumEventAgeInSeconds": ASYNC_EVENT_AGE_SECONDS,
        "DestinationConfig": {"OnFailure": {"Destination": t.queue(names.dead_letters)}},
    }


def raw_notification(names: Names, t: Target) -> dict[str, Any]:
    """The raw bucket's events to the function: ``.csv`` and ``.csv.gz`` only."""
    return {
        "LambdaFunctionConfigurations": [
            {
                "Id": f"{names.stack}-{suffix.strip('.').replace('.', '-')}",
                "LambdaFunctionArn": t.function(names.function),
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": suffix}]}},
            }
            for suffix in layout.CSV_SUFFIXES
        ]
    }


def preprocessed_event_pattern(names: Names) -> dict[str, Any]:
    """EventBridge's match for "a preprocess run record was written"."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [names.processed]},
            "object": {"key": [{"wildcard": f"{layout.RUNS_PREFIX}*/preprocess.json"}]},
        },
    }


def crawler_definition(settings: Settings, names: Names, t: Target) -> dict[str, Any]:
    schema_update = "LOG" if settings.crawler_schema_change == "log" else "UPDATE_IN_DATABASE"
    return {
        "Name": names.crawler,
        "Role": t.iam_role(names.glue_role),
        "DatabaseName": names.database,
        "Description": "csvpipe: one table per dataset folder of the processed bucket",
        "Targets": {
            "S3Targets": [{"Path": f"s3://{names.processed}/", "Exclusions": list(CRAWLER_EXCLUSIONS)}]
        },
        "SchemaChangePolicy": {"UpdateBehavior": schema_update, "DeleteBehavior": "LOG"},
        "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVERYTHING"},
        "Configuration": _json(CRAWLER_CONFIGURATION),
    }


def transforms_job(assets: GlueAssets, names: Names, t: Target) -> dict[str, Any]:
    """The transforms job as pipeline.spark asks for it, under csvpipe's name and role."""
    return {**assets.transforms_request, "Name": names.transforms_job, "Role": t.iam_role(names.glue_role)}


def records_job(settings: Settings, names: Names, t: Target) -> dict[str, Any]:
    """The small Python shell job that writes the crawl and transform run records."""
    return {
        "Name": names.records_job,
        "Role": t.iam_role(names.glue_role),
        "Description": "csvpipe: write the crawl and transform run records `csvpipe run` follows",
        "Command": {
            "Name": "pythonshell",
            "ScriptLocation": f"s3://{names.artifacts}/{names.records_key}",
            "PythonVersion": RECORDS_PYTHON,
        },
        "GlueVersion": "3.0",
        "MaxCapacity": 0.0625,
        "Timeout": 10,
        "MaxRetries": 0,
        "ExecutionProperty": {"MaxConcurrentRuns": 1},
        "DefaultArguments": {
            "--csvpipe_processed_bucket": names.processed,
            "--csvpipe_final_bucket": names.final,
            "--csvpipe_database": names.database,
            "--csvpipe_crawler": names.crawler,
            "--csvpipe_transforms_job": names.transforms_job,
            "--csvpipe_region": settings.region,
        },
    }


def triggers(names: Names) -> tuple[dict[str, Any], ...]:
    """Preprocessed files start the crawler; a successful crawl starts the transforms; the end
    of either (a failed crawl, the transforms' end) starts the records job."""
    crawl_done = [
        {"LogicalOperator": "EQUALS", "CrawlerName": names.crawler, "CrawlState": state}
        for state in ("FAILED", "CANCELLED")
    ]
    transforms_done = [
        {"LogicalOperator": "EQUALS", "JobName": names.transforms_job, "State": state}
        for state in ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED")  # all a trigger can watch
    ]
    return (
        {
            "Name": names.start_trigger,
            "WorkflowName": names.workflow,
            "Type": "EVENT",
            "Description": "csvpipe: crawl when preprocess run records arrive",
            "Actions": [{"CrawlerName": names.crawler}],
            "EventBatchingCondition": {"BatchSize": EVENT_BATCH_SIZE, "BatchWindow": EVENT_BATCH_WINDOW},
        },
        {
            "Name": names.transform_trigger,
            "WorkflowName": names.workflow,
            "Type": "CONDITIONAL",
            "Description": "csvpipe: run the transforms after a successful crawl",
            "StartOnCreation": True,
            "Actions": [{"JobName": names.transforms_job}],
            "Predicate": {
                "Logical": "AND",
                "Conditions": [
                    {"LogicalOperator": "EQUALS", "CrawlerName": names.crawler, "CrawlState": "SUCCEEDED"}
                ],
            },
        },
        {
            "Name": names.records_trigger,
            "WorkflowName": names.workflow,
            "Type": "CONDITIONAL",
            "Description": "csvpipe: write the run records after the crawl failed or the transforms ended",
            "StartOnCreation": True,
            "Actions": [{"JobName": names.records_job}],
            "Predicate": {"Logical": "ANY", "Conditions": crawl_done + transforms_done},
        },
    )


def manifest_upload(names: Names, output: str) -> Upload:
    """The QuickSight manifest of one output, as the transform job writes it."""
    document = quicksight_manifest([f"s3://{names.final}/{layout.final_data_key(output)}"])
    body = json.dumps(document, indent=2, sort_keys=True).encode()
    return Upload(layout.final_manifest_key(output), body, "application/json")


# -- deploy ------------------------------------------------------------------------------------

_ROLE_MISSING = Retry("InvalidParameterValueException", "cannot be assumed", IAM_RETRY_SECONDS)
_FUNCTION_PENDING = Retry("ResourceConflictException", "in progress", LAMBDA_READY_SECONDS)


def _function_ready(names: Names) -> Wait:
    return Wait(
        call=Call("lambda", "get_function_configuration", {"FunctionName": names.function}),
        result="",
        ready=(("State", ("Active",)), ("LastUpdateStatus", ("Successful", None))),
        failed=(("State", ("Failed",)), ("LastUpdateStatus", ("Failed",))),
        reasons=("StateReason", "LastUpdateStatusReason"),
        seconds=LAMBDA_READY_SECONDS,
    )


def _bucket_steps(names: Names, region: str) -> list[Step]:
    steps = []
    for purpose, bucket, setting in names.buckets:
        create: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        taken = (
            f"the bucket name {bucket} belongs to another AWS account (bucket names are global): "
            f"choose another with --set {setting}=<name> (or CSVPIPE_{setting.upper()})"
        )
        steps += [
            Step(
                f"{purpose} bucket {bucket}",
                "create",
                Call("s3", "create_bucket", create),
                # 403: someone else's bucket; the create then says so (BucketAlreadyExists).
                check=Check(
                    Call("s3", "head_bucket", {"Bucket": bucket}), "", (), ("404", "NoSuchBucket", "403")
                ),
                exists=("BucketAlreadyOwnedByYou",),
                explain=(("BucketAlreadyExists", taken),),
            ),
            Step(
                f"{purpose} bucket encryption (SSE-S3)",
                "put",
                Call(
                    "s3",
                    "put_bucket_encryption",
                    {
                        "Bucket": bucket,
                        "ServerSideEncryptionConfiguration": {
                            "Rules": [
                                {
                                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                                    "BucketKeyEnabled": True,
                                }
                            ]
                        },
                    },
                ),
            ),
            Step(
                f"{purpose} bucket closed to the public",
                "put",
                Call(
                    "s3",
                    "put_public_access_block",
                    {
                        "Bucket": bucket,
                        "PublicAccessBlockConfiguration": {
                            "BlockPublicAcls": True,
                            "IgnorePublicAcls": True,
                            "BlockPublicPolicy": True,
                            "RestrictPublicBuckets": True,
                        },
                    },
                ),
            ),
        ]
    return steps


def _upload_step(bucket: str, upload: Upload, what: str) -> Step:
    return Step(
        what,
        "upload",
        Call(
            "s3",
            "put_object",
            {"Bucket": bucket, "Key": upload.key, "Body": upload.body, "ContentType": upload.content_type},
        ),
    )


def _role_steps(role: Role) -> list[Step]:
    trust = _json(trust_policy(role.service))
    return [
        Step(
            f"role {role.name} for {role.purpose}",
            "create",
            Call(
                "iam",
                "create_role",
                {
                    "RoleName": role.name,
                    "AssumeRolePolicyDocument": trust,
                    "Description": f"csvpipe: {role.purpose}",
                },
            ),
            check=Check(
                Call("iam", "get_role", {"RoleName": role.name}),
                "Role",
                ("AssumeRolePolicyDocument",),
                ("NoSuchEntity",),
            ),
            exists=("EntityAlreadyExists",),
            instead=(
                Call("iam", "update_assume_role_policy", {"RoleName": role.name, "PolicyDocument": trust}),
            ),
        ),
        Step(
            f"inline policy {role.policy_name} of role {role.name}",
            "put",
            Call(
                "iam",
                "put_role_policy",
                {"RoleName": role.name, "PolicyName": role.policy_name, "PolicyDocument": _json(role.policy)},
            ),
        ),
    ]


def _function_steps(settings: Settings, names: Names, t: Target, code: LambdaCode) -> list[Step]:
    configuration = function_configuration(settings, names, t)
    ready = _function_ready(names)
    location = {"S3Bucket": names.artifacts, "S3Key": names.code_key}
    permission = {
        "FunctionName": names.function,
        "StatementId": names.permission,
        "Action": "lambda:InvokeFunction",
        "Principal": "s3.amazonaws.com",
        "SourceArn": t.s3(names.raw),
        "SourceAccount": t.account,
    }
    return [
        Step(
            f"function {names.function} ({code.runtime}, {code.architecture})",
            "create",
            Call(
                "lambda",
                "create_function",
                {
                    **configuration,
                    "Runtime": code.runtime,
                    "Architectures": [code.architecture],
                    "Code": location,
                },
                retry=(_ROLE_MISSING,),
                wait=ready,
            ),
            # Always updated when there: the code may have changed.
            check=Check(
                Call("lambda", "get_function_configuration", {"FunctionName": names.function}),
                "",
                (),
                ("ResourceNotFoundException",),
            ),
            exists=("ResourceConflictException",),
            instead=(
                Call(
                    "lambda",
                    "update_function_configuration",
                    {**configuration, "Runtime": code.runtime},
                    retry=(_ROLE_MISSING, _FUNCTION_PENDING),
                    wait=ready,
                ),
                Call(
                    "lambda",
                    "update_function_code",
                    {"FunctionName": names.function, **location, "Architectures": [code.architecture]},
                    retry=(_FUNCTION_PENDING,),
                    wait=ready,
                ),
            ),
        ),
        Step(
            f"failed invocations of {names.function} to queue {names.dead_letters} "
            f"after {ASYNC_RETRIES} retries",
            "put",
            Call(
                "lambda",
                "put_function_event_invoke_config",
                event_invoke_config(names, t),
                # The role's sqs:SendMessage, not yet seen by Lambda (IAM is eventually consistent).
                retry=(
                    Retry("InvalidParameterValueException", "SendMessage", IAM_RETRY_SECONDS),
                    _FUNCTION_PENDING,
                ),
            ),
        ),
        Step(
            f"S3's permission to invoke {names.function} for the raw bucket",
            "create",
            Call("lambda", "add_permission", permission),
            check=Check(
                Call("lambda", "get_policy", {"FunctionName": names.function}),
                "Policy",
                (),
                ("ResourceNotFoundException",),
                statement=names.permission,
                expected={
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Condition": {
                        "ArnLike": {"AWS:SourceArn": t.s3(names.raw)},
                        "StringEquals": {"AWS:SourceAccount": t.account},
                    },
                },
            ),
            exists=("ResourceConflictException",),
            instead=(
                Call(
                    "lambda",
                    "remove_permission",
                    {"FunctionName": names.function, "StatementId": names.permission},
                ),
                Call("lambda", "add_permission", permission),
            ),
        ),
        Step(
            f"raw bucket events (.csv, .csv.gz) to {names.function}",
            "put",
            Call(
                "s3",
                "put_bucket_notification_configuration",
                {"Bucket": names.raw, "NotificationConfiguration": raw_notification(names, t)},
                # The permission above, not yet seen by S3: the same error as without it.
                retry=(Retry("InvalidArgument", "Unable to validate", IAM_RETRY_SECONDS),),
            ),
        ),
    ]


_GLUE_EXISTS = ("AlreadyExistsException", "IdempotentParameterMismatchException")


def _glue_steps(settings: Settings, names: Names, t: Target, assets: GlueAssets) -> list[Step]:
    crawler = crawler_definition(settings, names, t)
    steps = [
        Step(
            f"Glue database {names.database}",
            "create",
            Call(
                "glue",
                "create_database",
                {"DatabaseInput": {"Name": names.database, "Description": "csvpipe: one table per dataset"}},
            ),
            check=Check(
                Call("glue", "get_database", {"Name": names.database}),
                "Database",
                (),
                ("EntityNotFoundException",),
            ),
            exists=("AlreadyExistsException",),
        ),
        Step(
            f"Glue crawler {names.crawler} over s3://{names.processed}/",
            "create",
            Call("glue", "create_crawler", crawler),
            exists=_GLUE_EXISTS,
            check=Check(
                Call("glue", "get_crawler", {"Name": names.crawler}),
                "Crawler",
                ("Role", "DatabaseName", "Targets", "SchemaChangePolicy", "RecrawlPolicy", "Configuration"),
                ("EntityNotFoundException",),
            ),
            instead=(Call("glue", "update_crawler", crawler),),
        ),
    ]
    for job, what in (
        (transforms_job(assets, names, t), "the transforms on Spark (pipeline.spark)"),
        (records_job(settings, names, t), "the run records"),
    ):
        update = {k: v for k, v in job.items() if k != "Name"}
        steps.append(
            Step(
                f"Glue job {job['Name']}: {what}",
                "create",
                Call("glue", "create_job", job),
                exists=_GLUE_EXISTS,
                check=Check(
                    Call("glue", "get_job", {"JobName": job["Name"]}),
                    "Job",
                    tuple(update),
                    ("EntityNotFoundException",),
                ),
                instead=(Call("glue", "update_job", {"JobName": job["Name"], "JobUpdate": update}),),
            )
        )
    workflow = {
        "Name": names.workflow,
        "Description": "csvpipe: crawl, transform, write run records",
        "MaxConcurrentRuns": 1,
    }
    steps.append(
        Step(
            f"Glue workflow {names.workflow}",
            "create",
            Call("glue", "create_workflow", workflow),
            check=Check(
                Call("glue", "get_workflow", {"Name": names.workflow}),
                "Workflow",
                ("Description", "MaxConcurrentRuns"),
                ("EntityNotFoundException",),
            ),
            exists=("AlreadyExistsException",),
            instead=(Call("glue", "update_workflow", workflow),),
        )
    )
    for trigger in triggers(names):
        update = {
            k: v
            for k, v in trigger.items()
            if k in ("Description", "Actions", "Predicate", "EventBatchingCondition")
        }
        steps.append(
            Step(
                f"Glue trigger {trigger['Name']} ({trigger['Type'].lower()})",
                "create",
                Call("glue", "create_trigger", trigger),
                exists=_GLUE_EXISTS,
                check=Check(
                    Call("glue", "get_trigger", {"Name": trigger["Name"]}),
                    "Trigger",
                    tuple(k for k in update if k != "Description"),
                    ("EntityNotFoundException",),
                ),
                instead=(Call("glue", "update_trigger", {"Name": trigger["Name"], "TriggerUpdate": update}),),
            )
        )
    steps += [
        Step(
            f"EventBridge rule {names.rule}: preprocess run records",
            "put",
            Call(
                "events",
                "put_rule",
                {
                    "Name": names.rule,
                    "EventPattern": _json(preprocessed_event_pattern(names)),
                    "State": "ENABLED",
                    "Description": "csvpipe: a file was preprocessed; start the Glue workflow",
                },
            ),
        ),
        Step(
            f"EventBridge rule {names.rule} starts workflow {names.workflow}",
            "put",
            Call(
                "events",
                "put_targets",
                {
                    "Rule": names.rule,
                    "Targets": [
                        {
                            "Id": "glue-workflow",
                            "Arn": t.glue(f"workflow/{names.workflow}"),
                            "RoleArn": t.iam_role(names.events_role),
                        }
                    ],
                },
            ),
        ),
        Step(
            "processed bucket events to EventBridge",
            "put",
            Call(
                "s3",
                "put_bucket_notification_configuration",
                {"Bucket": names.processed, "NotificationConfiguration": {"EventBridgeConfiguration": {}}},
            ),
        ),
    ]
    return steps


def deploy_plan(settings: Settings, t: Target, inputs: Inputs) -> tuple[Step, ...]:
    """Every call of a deploy, in order (see the module's docstring for why this order)."""
    names = names_of(settings)
    if names.aws_glue and inputs.glue is None:
        raise ValueError("glue_backend is aws-glue: the plan needs the Glue job's assets")
    steps = _bucket_steps(names, t.region)
    steps.append(
        _upload_step(
            names.artifacts,
            Upload(names.code_key, inputs.code.body, "application/zip"),
            f"Lambda code ({inputs.code.runtime}, {inputs.code.architecture})",
        )
    )
    if names.aws_glue and inputs.glue is not None:
        steps += [_upload_step(names.artifacts, u, f"Glue job file {u.key}") for u in inputs.glue.uploads]
    steps += [
        Step(
            f"log group {names.log_group}",
            "create",
            Call("logs", "create_log_group", {"logGroupName": names.log_group}),
            exists=("ResourceAlreadyExistsException",),
        ),
        Step(
            f"log retention {LOG_RETENTION_DAYS} days",
            "put",
            Call(
                "logs",
                "put_retention_policy",
                {"logGroupName": names.log_group, "retentionInDays": LOG_RETENTION_DAYS},
            ),
        ),
        Step(
            f"dead-letter queue {names.dead_letters}: events whose invocations of {names.function} failed",
            "create",
            Call(
                "sqs",
                "create_queue",
                dead_letter_queue(names),
                retry=tuple(
                    Retry(code, "", QUEUE_NAME_REUSE_SECONDS)
                    for code in ("AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently")
                ),
            ),
            check=Check(Call("sqs", "get_queue_url", {"QueueName": names.dead_letters}), "", (), NO_QUEUE),
            exists=("QueueAlreadyExists", "QueueNameExists"),
        ),
    ]
    for role in roles(names, t):
        steps += _role_steps(role)
    steps += _function_steps(settings, names, t, inputs.code)
    if names.aws_glue and inputs.glue is not None:
        steps += _glue_steps(settings, names, t, inputs.glue)
    steps += [
        _upload_step(names.final, manifest_upload(names, output), f"QuickSight manifest of {output}")
        for output in inputs.outputs
    ]
    return tuple(steps)


# -- destroy -----------------------------------------------------------------------------------


def destroy_plan(
    settings: Settings, t: Target, *, outputs: Sequence[str], glue_keys: Sequence[str], force: bool
) -> tuple[Step, ...]:
    """Every call of a destroy, in order: event sources, compute, roles, objects deploy wrote,
    buckets. ``glue_keys`` are the Glue job files deploy uploaded (their keys)."""
    names = names_of(settings)
    steps: list[Step] = []
    no_bucket = ("NoSuchBucket",)
    glue_gone = ("EntityNotFoundException",)
    if names.aws_glue:
        steps += [
            Step(
                f"EventBridge rule {names.rule}'s target",
                "delete",
                Call("events", "remove_targets", {"Rule": names.rule, "Ids": ["glue-workflow"]}),
                gone=("ResourceNotFoundException",),
            ),
            Step(
                f"EventBridge rule {names.rule}",
                "delete",
                Call("events", "delete_rule", {"Name": names.rule}),
                gone=("ResourceNotFoundException",),
            ),
        ]
    listener = "EventBridge" if names.aws_glue else f"the glue service's queue {names.processed_queue}"
    steps.append(
        Step(
            f"processed bucket events to {listener}",
            "delete",
            Call(
                "s3",
                "put_bucket_notification_configuration",
                {"Bucket": names.processed, "NotificationConfiguration": {}},
            ),
            gone=no_bucket,
        )
    )
    steps.append(
        Step(
            f"raw bucket events to {names.function}",
            "delete",
            Call(
                "s3",
                "put_bucket_notification_configuration",
                {"Bucket": names.raw, "NotificationConfiguration": {}},
            ),
            gone=no_bucket,
        )
    )
    if names.aws_glue:
        for trigger in triggers(names):
            steps.append(
                Step(
                    f"Glue trigger {trigger['Name']}",
                    "delete",
                    Call("glue", "delete_trigger", {"Name": trigger["Name"]}),
                    gone=glue_gone,
                )
            )
        steps += [
            Step(
                f"Glue workflow {names.workflow}",
                "delete",
                Call("glue", "delete_workflow", {"Name": names.workflow}),
                gone=glue_gone,
            ),
            *(
                Step(
                    f"Glue job {job}", "delete", Call("glue", "delete_job", {"JobName": job}), gone=glue_gone
                )
                for job in (names.records_job, names.transforms_job)
            ),
            Step(
                f"Glue crawler {names.crawler}",
                "delete",
                Call("glue", "delete_crawler", {"Name": names.crawler}),
                gone=glue_gone,
                explain=(("CrawlerRunningException", "the crawler is running: destroy again once it ends"),),
            ),
        ]
    # Made by deploy with aws-glue, by the glue service (csvpipe glue-worker) with csvpipe's.
    steps.append(
        Step(
            f"Glue database {names.database} and its tables",
            "delete",
            Call("glue", "delete_database", {"Name": names.database}),
            gone=glue_gone,
        )
    )
    steps += [
        Step(
            f"S3's permission to invoke {names.function}",
            "delete",
            Call(
                "lambda",
                "remove_permission",
                {"FunctionName": names.function, "StatementId": names.permission},
            ),
            gone=("ResourceNotFoundException",),
        ),
        Step(
            f"function {names.function}",
            "delete",
            Call("lambda", "delete_function", {"FunctionName": names.function}),
            gone=("ResourceNotFoundException",),
        ),
        Step(
            f"log group {names.log_group}",
            "delete",
            Call("logs", "delete_log_group", {"logGroupName": names.log_group}),
            gone=("ResourceNotFoundException",),
        ),
    ]
    # After the function, which sends to the first; a dead-letter queue holding failed events
    # is kept, as a bucket holding objects is, unless --force.
    dead_letters = "keep" if not force else None
    for queue, what, not_empty in (
        (names.dead_letters, f"dead-letter queue {names.dead_letters}", dead_letters),
        (names.processed_queue, f"the glue service's queue {names.processed_queue}", None),
        (
            dead_letter_queue_of(names.processed_queue),
            f"the glue service's dead-letter queue {dead_letter_queue_of(names.processed_queue)}",
            dead_letters,
        ),
    ):
        steps.append(
            Step(
                what,
                "delete",
                Call("sqs", "delete_queue", {"QueueUrl": QueueUrlOf(queue)}),
                gone=NO_QUEUE,
                not_empty=not_empty,
            )
        )
    for role in roles(names, t):
        steps += [
            Step(
                f"inline policy {role.policy_name} of role {role.name}",
                "delete",
                Call("iam", "delete_role_policy", {"RoleName": role.name, "PolicyName": role.policy_name}),
                gone=("NoSuchEntity",),
            ),
            Step(
                f"role {role.name}",
                "delete",
                Call("iam", "delete_role", {"RoleName": role.name}),
                gone=("NoSuchEntity",),
            ),
        ]
    deployed = [(names.artifacts, names.code_key)]
    if names.aws_glue:
        deployed += [(names.artifacts, key) for key in glue_keys]
    deployed += [(names.final, layout.final_manifest_key(output)) for output in outputs]
    steps += [
        Step(
            f"s3://{bucket}/{key} (written by deploy)",
            "delete",
            Call("s3", "delete_object", {"Bucket": bucket, "Key": key}),
            gone=no_bucket,
        )
        for bucket, key in deployed
    ]
    for purpose, bucket, _ in reversed(names.buckets):
        steps.append(
            Step(
                f"{purpose} bucket {bucket}",
                "delete",
                Call("s3", "delete_bucket", {"Bucket": bucket}),
                gone=no_bucket,
                not_empty="empty" if force else "keep",
            )
        )
    return tuple(steps)


# -- printing ----------------------------------------------------------------------------------


def shown(value: Any, key: str = "") -> Any:
    """A parameter as a dry run prints it: JSON text decoded (so policies read as documents),
    file bodies as their description, small byte bodies as text."""
    if isinstance(value, QueueUrlOf):
        return f"<the URL of queue {value.name}>"
    if isinstance(value, FileBody):
        if value.size is None or value.sha256 is None:
            return f"<file {value.path}, built when deploying>"
        return f"<file {value.path}, {value.size:,} bytes, sha256 {value.sha256[:16]}...>"
    if isinstance(value, bytes):
        if len(value) > 4096:
            return f"<{len(value):,} bytes>"
        try:
            return {"(JSON text)": json.loads(value)}
        except ValueError:
            return value.decode("utf-8", errors="replace")
    if key in JSON_PARAMS and isinstance(value, str):
        try:
            return {"(JSON text)": json.loads(value)}
        except ValueError:
            return value
    if isinstance(value, Mapping):
        return {k: shown(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shown(v) for v in value]
    return value


def call_lines(call: Call, indent: str) -> list[str]:
    lines = [f"{indent}{call.name}"]
    for key, value in call.params.items():
        text = json.dumps(shown(value, key), indent=2, ensure_ascii=False)
        first, *rest = text.splitlines()
        lines.append(f"{indent}    {key}: {first}")
        lines += [f"{indent}    {line}" for line in rest]
    return lines


def step_lines(number: int, step: Step) -> list[str]:
    """One step as a dry run prints it: the call with every parameter, then what happens when
    the resource is already there (or already gone)."""
    lines = [f"{number:>3}. {step.what}"]
    lines += call_lines(step.call, "     ")
    for retry in step.call.retry:
        lines.append(
            f"       retried for up to {retry.seconds:.0f} s while AWS answers {retry.code} ({retry.message})"
        )
    if step.call.wait is not None:
        lines.append(_wait_line(step.call.wait))
    if step.check is not None or step.exists:
        lines.append("       " + _there(step))
        for call in step.instead:
            lines += call_lines(call, "         ")
            if call.wait is not None:
                lines.append("  " + _wait_line(call.wait))
    if step.gone:
        lines.append(f"       already gone ({', '.join(step.gone)}): nothing to do")
    if step.not_empty == "keep" and step.call.service == "sqs":
        lines.append("       holding messages: kept (destroy --force deletes it with them)")
    elif step.not_empty == "keep":
        lines.append("       not empty: kept (destroy --force deletes its objects first)")
    elif step.not_empty == "empty":
        lines.append("       not empty: every object (and version) is deleted first (--force)")
    return lines


def _there(step: Step) -> str:
    """How a dry run says what happens when the resource is already there."""
    check = step.check
    found = f"first {check.call.name}: when it is there" if check else "when it is there"
    if step.exists:
        found += f" (or the create answers {' or '.join(step.exists)})"
    if not step.instead:
        return f"{found}, nothing to do"
    if check is not None and check.statement:
        return f"{found} and its statement {check.statement} differs, instead:"
    if check is not None and check.keys:
        return f"{found} and differs in {', '.join(check.keys)}, instead:"
    return f"{found}, instead:"


def _wait_line(wait: Wait) -> str:
    ready = ", ".join(f"{key} {' or '.join(str(v) for v in values)}" for key, values in wait.ready)
    return f"       then {wait.call.name} until {ready} (at most {wait.seconds:.0f} s)"


def plan_lines(steps: Sequence[Step]) -> list[str]:
    lines: list[str] = []
    for number, step in enumerate(steps, 1):
        lines += step_lines(number, step)
    return lines
