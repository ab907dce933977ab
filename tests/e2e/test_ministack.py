"""The deployed pipeline on a second, independent emulator: MiniStack in host mode, no Docker.

Why: every other test runs the Lambda in csvpipe's own runtime, fed by csvpipe's own event source.
Here nothing of that runs: `csvpipe deploy` applies the real plan with a zip built offline (as the
Dockerfile builds it and compose's ``init`` service deploys it), MiniStack's own S3 notification
invokes that zip as a subprocess, and the Glue stand-in runs as compose's ``glue`` service would:
its command and environment are read from docker-compose.yml, so this test breaks when the file
drifts, with the emulator's service swapped for MiniStack. The most reported emulator bug (a
notification accepted and never fired) would show here as a missing run record.

Without ``ministack`` installed these tests skip with one line, except under CI=true, where they
fail: CI installs the test extra, which pins it (the ``ministack`` marker, tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
import yaml

from emulators.ministack import MiniStack
from pipeline import layout, runs
from pipeline.aws import Clients, client
from pipeline.deploy.plan import names_of
from pipeline.probe import PROBE_PREFIX, probe_trigger
from pipeline.provision import processed_queue_name
from pipeline.settings import Settings, load_settings
from tests.conftest import REPO, SAMPLE, SAMPLE_GENRE_COUNTS, cli, free_port, wait_for_record
from tests.e2e.helpers import statuses

pytestmark = [pytest.mark.slow, pytest.mark.ministack]

COMPOSE = REPO / "docker-compose.yml"
BINARY = REPO / "tests" / "corpus" / "files" / "png-image.csv"
EMULATOR_SERVICE = "localstack"  # compose's name for the AWS emulator
IMAGE_BUILD_DIR = "/opt/csvpipe/build"  # where the Dockerfile puts the Lambda zip
SECONDS = 60  # the deadline of every wait on another process


def compose_service(name: str) -> tuple[list[str], dict[str, str]]:
    """A compose service's command and environment, as docker compose would resolve them
    (YAML anchors and merge keys included)."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    service = services[name]
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), f"{name}'s environment is expected as a mapping"
    return list(service["command"]), {str(k): str(v) for k, v in environment.items()}


def as_host_process(environment: dict[str, str], endpoint: str, data_dir: Path) -> dict[str, str]:
    """A compose service's environment on this machine: the emulator's service swapped for
    MiniStack, the data volume for a folder."""
    emulator_url = f"http://{EMULATOR_SERVICE}:4566"
    assert environment.get("CSVPIPE_ENDPOINT_URL") == emulator_url, environment
    assert environment.get("CSVPIPE_DATA_DIR") == "/data", environment
    return {**environment, "CSVPIPE_ENDPOINT_URL": endpoint, "CSVPIPE_DATA_DIR": str(data_dir)}


def host_command(command: list[str]) -> list[str]:
    """``csvpipe ...`` as this environment runs it."""
    assert command[0] == "csvpipe", command
    return [sys.executable, "-m", "pipeline.cli", *command[1:]]


@dataclass(frozen=True)
class Inventory:
    """What exists on the emulator, by kind, to compare before and after."""

    buckets: frozenset[str]
    functions: frozenset[str]
    queues: frozenset[str]
    roles: frozenset[str]
    log_groups: frozenset[str]
    databases: frozenset[str]


def inventory(settings: Settings) -> Inventory:
    def c(service: str) -> Any:
        return client(settings, service)

    return Inventory(
        buckets=frozenset(b["Name"] for b in c("s3").list_buckets().get("Buckets", [])),
        functions=frozenset(f["FunctionName"] for f in c("lambda").list_functions().get("Functions", [])),
        queues=frozenset(u.rsplit("/", 1)[-1] for u in c("sqs").list_queues().get("QueueUrls", [])),
        roles=frozenset(r["RoleName"] for r in c("iam").list_roles().get("Roles", [])),
        log_groups=frozenset(g["logGroupName"] for g in c("logs").describe_log_groups().get("logGroups", [])),
        databases=frozenset(d["Name"] for d in c("glue").get_databases().get("DatabaseList", [])),
    )


@dataclass(frozen=True)
class Deployed:
    """The pipeline deployed on a running MiniStack, with compose's ``glue`` service running."""

    home: Path
    env: dict[str, str]  # the CLI's environment: the localstack profile pointed at MiniStack
    settings: Settings
    before: Inventory  # the emulator before the deploy
    worker: subprocess.Popen[str]
    worker_log: Path


def _wait_for_text(path: Path, text: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + SECONDS
    while text not in path.read_text():
        assert process.poll() is None, f"exited ({process.returncode}):\n{path.read_text()}"
        assert time.monotonic() < deadline, f"{text!r} not seen within {SECONDS} s:\n{path.read_text()}"
        time.sleep(0.2)  # polling another process's log; bounded by the deadline


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    home = tmp_path_factory.mktemp("ministack-user")
    server = MiniStack("127.0.0.1", free_port(), home / "ministack").start()
    unique = uuid.uuid4().hex[:8]
    names = {
        "CSVPIPE_STACK_NAME": f"e2e{unique}",
        "CSVPIPE_LAMBDA_FUNCTION_NAME": f"e2e{unique}-preprocess",
        "CSVPIPE_ARTIFACTS_BUCKET": f"artifacts-{unique}",
        "CSVPIPE_RAW_BUCKET": f"raw-{unique}",
        "CSVPIPE_PROCESSED_BUCKET": f"processed-{unique}",
        "CSVPIPE_FINAL_BUCKET": f"final-{unique}",
        "CSVPIPE_QUEUE_NAME": f"events-{unique}",
        "CSVPIPE_GLUE_DATABASE": f"db_{unique}",
    }
    env = {
        "CSVPIPE_PROFILE": "localstack",
        "CSVPIPE_ENDPOINT_URL": server.endpoint,
        "CSVPIPE_DATA_DIR": str(home / "data"),
        **names,
    }
    settings = load_settings(environ=env, config_path=None)
    worker: subprocess.Popen[str] | None = None
    try:
        before = inventory(settings)
        # The zip as the Dockerfile builds it, then compose's init command with the image's
        # folder swapped for this one.
        build = home / IMAGE_BUILD_DIR.strip("/")
        packaged = cli("package", "lambda", "--from-installed", "--out", str(build), cwd=home, env=env)
        assert packaged.returncode == 0, packaged.stdout + packaged.stderr
        init_command, init_env = compose_service("init")
        assert init_command[:2] == ["sh", "-c"] and IMAGE_BUILD_DIR in init_command[2], init_command
        script = init_command[2].replace(IMAGE_BUILD_DIR, shlex.quote(str(build)))
        bin_dir = Path(sys.executable).parent
        assert (bin_dir / "csvpipe").is_file(), f"no csvpipe command beside {sys.executable}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))}
        base["PATH"] = f"{bin_dir}{os.pathsep}{base.get('PATH', '')}"
        init = subprocess.run(
            [*init_command[:2], script],
            cwd=home,
            env={**base, **as_host_process(init_env, server.endpoint, home / "data"), **names},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert init.returncode == 0, init.stdout + init.stderr
        assert "deployed:" in init.stdout, init.stdout

        glue_command, glue_env = compose_service("glue")
        worker_log = home / "glue-worker.log"
        with worker_log.open("w") as out:
            worker = subprocess.Popen(
                host_command(glue_command),
                cwd=home,
                env={**base, **as_host_process(glue_env, server.endpoint, home / "data"), **names},
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        _wait_for_text(worker_log, "glue worker: listening on", worker)
        yield Deployed(home, env, settings, before, worker, worker_log)
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        server.stop()


def test_the_emulators_notification_runs_the_deployed_zip_to_exact_final_outputs(deployed: Deployed) -> None:
    settings = deployed.settings
    ran = cli("run", str(SAMPLE), cwd=deployed.home, env=deployed.env, timeout=180)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 file(s) went through every stage" in ran.stdout

    s3 = Clients(settings).s3
    key = layout.raw_key_for_upload(SAMPLE.name)
    etag = s3.head_object(Bucket=settings.raw_bucket, Key=key)["ETag"]
    record = runs.read_stage_record(
        s3, settings.processed_bucket, layout.run_id(settings.raw_bucket, key, etag), "preprocess"
    )
    assert record is not None and record["status"] == "ok", record
    # Written by the deployed function under MiniStack's Lambda context, not csvpipe's runtime.
    assert record["function"] == settings.lambda_function_name
    assert record["request_id"]

    body = s3.get_object(Bucket=settings.final_bucket, Key=layout.final_data_key("movies_per_genre"))["Body"]
    lines = body.read().decode().splitlines()
    assert lines[0] == "genre,movies"
    assert {genre: int(n) for genre, n in (line.split(",") for line in lines[1:])} == SAMPLE_GENRE_COUNTS


def test_a_binary_file_ends_in_a_failed_run_record_and_nothing_downstream(deployed: Deployed) -> None:
    settings = deployed.settings
    s3 = Clients(settings).s3
    key = "binary/png-image.csv"
    etag = s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=BINARY.read_bytes())["ETag"]
    run = layout.run_id(settings.raw_bucket, key, etag)
    record = wait_for_record(s3, settings.processed_bucket, run, "preprocess", seconds=SECONDS)
    assert record["status"] == "failed"
    assert record["error"] == f"{key}: binary content (NUL bytes), not a CSV text file"
    assert record["function"] == settings.lambda_function_name
    listed = s3.list_objects_v2(Bucket=settings.processed_bucket, Prefix="binary/")
    assert listed.get("KeyCount", 0) == 0, listed.get("Contents")


def _dead_letter(sqs: Any, queue: str, key: str) -> dict[str, Any]:
    """The body of the dead-letter message of an invocation for ``key``, waited for within
    SECONDS; every message is left in the queue."""
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)
        found = None
        for message in answer.get("Messages", []):
            sqs.change_message_visibility(
                QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
            body = json.loads(message["Body"])
            records = (body.get("requestPayload") or {}).get("Records") or [{}]
            if unquote_plus(records[0].get("s3", {}).get("object", {}).get("key", "")) == key:
                found = body
        if found is not None:
            return found
    raise AssertionError(f"no dead-letter message for {key} within {SECONDS} s")


def test_failed_invocations_reach_the_dead_letter_path_the_deploy_configures(deployed: Deployed) -> None:
    """On AWS a failed asynchronous invocation is retried twice, then sent to the function's
    on-failure destination: deploy makes it a queue. An object the function cannot read (SSE-C:
    encrypted with a key only its uploader has) makes the deployed handler raise, as any fault
    outside the file does, where a bad file ends in a failed run record instead. Once the cause
    is fixed, `csvpipe dlq replay` invokes the function with the event again."""
    settings = deployed.settings
    names = names_of(settings)
    s3, sqs, functions = Clients(settings).s3, client(settings, "sqs"), client(settings, "lambda")
    queue = sqs.get_queue_url(QueueName=names.dead_letters)["QueueUrl"]
    config = functions.get_function_event_invoke_config(FunctionName=names.function)
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == attributes["QueueArn"]
    assert config["MaximumRetryAttempts"] == 2

    key = "unreadable/customer-key.csv"
    secret = os.urandom(32)
    sealed = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": secret}
    etag = s3.put_object(Bucket=names.raw, Key=key, Body=SAMPLE.read_bytes(), **sealed)["ETag"]
    body = _dead_letter(sqs, queue, key)
    # MiniStack's message is the on-failure destination's invocation record, as AWS's, with
    # fewer fields (no version, timestamp or requestId): see docs/emulators.md.
    assert body["requestContext"]["condition"] == "RetriesExhausted"
    assert body["requestContext"]["functionArn"].endswith(f":function:{names.function}")
    assert body["responseContext"]["functionError"] == "Unhandled"
    # AWS names the exception's class (ClientError); MiniStack 1.5.33 says Runtime.HandlerError.
    assert body["responsePayload"]["errorType"] == "Runtime.HandlerError", body["responsePayload"]
    error = body["responsePayload"]["errorMessage"]
    assert error.startswith("An error occurred (InvalidRequest) when calling the GetObject operation"), error
    # It raised before writing a run record: the dead-letter queue is where the failure is.
    run = layout.run_id(names.raw, key, etag)
    assert runs.read_stage_record(s3, names.processed, run, "preprocess") is None

    listed = cli("dlq", "list", cwd=deployed.home, env=deployed.env, timeout=120)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f"dead-letter queue {names.dead_letters}" in listed.stdout
    assert key in listed.stdout and "Runtime.HandlerError" in listed.stdout, listed.stdout
    assert "1 event(s); re-drive them with `csvpipe dlq replay`" in listed.stdout

    # The cause fixed (the file uploaded readable), the same event is invoked again. The new
    # upload has its own ETag, so its own event is another run: only the replay makes this one.
    fixed = s3.put_object(Bucket=names.raw, Key=key, Body=SAMPLE.read_bytes() + b"\n")["ETag"]
    assert layout.run_id(names.raw, key, fixed) != run
    replayed = cli("dlq", "replay", "--yes", "--key", key, cwd=deployed.home, env=deployed.env, timeout=120)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.strip() == f"re-drove 1 message(s) to function {names.function}"
    record = wait_for_record(s3, names.processed, run, "preprocess", seconds=SECONDS)
    assert record["status"] == "ok" and record["function"] == names.function, record
    empty = cli("dlq", "list", cwd=deployed.home, env=deployed.env, timeout=120)
    assert empty.stdout.strip() == "the dead-letter queue is empty", empty.stdout + empty.stderr


def _doctor(deployed: Deployed, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {**deployed.env, "CSVPIPE_PROFILE": "ministack"}  # MiniStack's profile, at this endpoint
    env.update({f"CSVPIPE_{name.upper()}": value for name, value in settings.items()})
    return cli("doctor", cwd=deployed.home, env=env, timeout=180)


def _keys(s3: Any, bucket: str, prefix: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {obj["Key"] for obj in listed.get("Contents", [])}


def test_doctor_proves_the_trigger_fires_and_removes_its_probe(deployed: Deployed) -> None:
    settings = deployed.settings
    s3 = Clients(settings).s3
    records_before = _keys(s3, settings.processed_bucket, layout.RUNS_PREFIX)
    result = _doctor(deployed)
    assert result.returncode == 0, result.stdout + result.stderr
    found = statuses(result.stdout)
    assert found["trigger"] == "ok" and set(found.values()) == {"ok"}, result.stdout
    assert f"was processed by {settings.lambda_function_name} in " in result.stdout
    assert _keys(s3, settings.raw_bucket, PROBE_PREFIX) == set()
    assert _keys(s3, settings.processed_bucket, layout.RUNS_PREFIX) == records_before


def test_doctor_does_not_probe_where_a_probe_would_start_a_billed_glue_workflow(deployed: Deployed) -> None:
    settings = deployed.settings
    s3 = Clients(settings).s3
    records_before = _keys(s3, settings.processed_bucket, layout.RUNS_PREFIX)
    result = _doctor(deployed, glue_backend="aws-glue")
    assert statuses(result.stdout)["trigger"] == "skipped", result.stdout
    assert "not probed with glue_backend=aws-glue" in result.stdout
    assert _keys(s3, settings.processed_bucket, layout.RUNS_PREFIX) == records_before


def test_doctor_names_the_broken_link_when_the_notification_is_removed(deployed: Deployed) -> None:
    settings = deployed.settings
    s3 = Clients(settings).s3
    saved = s3.get_bucket_notification_configuration(Bucket=settings.raw_bucket)
    saved.pop("ResponseMetadata", None)
    assert saved.get("LambdaFunctionConfigurations"), saved
    s3.put_bucket_notification_configuration(Bucket=settings.raw_bucket, NotificationConfiguration={})
    try:
        result = _doctor(deployed)
    finally:
        s3.put_bucket_notification_configuration(Bucket=settings.raw_bucket, NotificationConfiguration=saved)
    assert result.returncode == 1
    assert statuses(result.stdout)["trigger"] == "PROBLEM"
    assert "broken link: raw bucket -> function (the bucket notification)" in result.stdout
    assert "fix trigger: deploy again to put the notification back: `csvpipe deploy`" in result.stdout
    assert _keys(s3, settings.raw_bucket, PROBE_PREFIX) == set()


def test_the_probe_names_a_notification_to_a_missing_function(deployed: Deployed) -> None:
    settings = deployed.settings
    s3, functions = Clients(settings).s3, client(settings, "lambda")
    saved = s3.get_bucket_notification_configuration(Bucket=settings.raw_bucket)
    saved.pop("ResponseMetadata", None)
    missing = saved["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"] + "-gone"
    elsewhere = {
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": missing, "Events": ["s3:ObjectCreated:*"]}]
    }
    s3.put_bucket_notification_configuration(Bucket=settings.raw_bucket, NotificationConfiguration=elsewhere)
    try:
        result = probe_trigger(s3, functions, settings.raw_bucket, settings.processed_bucket, wait_seconds=3)
    finally:
        s3.put_bucket_notification_configuration(Bucket=settings.raw_bucket, NotificationConfiguration=saved)
    assert not result.fired
    assert result.link == "notification -> function (the function or its permission)"
    assert f"{missing.rsplit(':', 1)[-1]} cannot be invoked" in result.detail
    assert _keys(s3, settings.raw_bucket, PROBE_PREFIX) == set()


def test_the_probe_names_a_function_that_runs_but_fails(deployed: Deployed) -> None:
    settings = deployed.settings
    s3, functions, sqs = Clients(settings).s3, client(settings, "lambda"), client(settings, "sqs")
    name = settings.lambda_function_name
    saved = functions.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    broken = {**saved, "CSVPIPE_PROCESSED_BUCKET": f"{settings.processed_bucket}-gone"}
    # The failed asynchronous attempt is reported to this queue, and not retried, so the test
    # knows when it is over: none is left to run into the destroy that follows.
    queue = sqs.create_queue(QueueName=f"{settings.queue_name}-probe-failures")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    deployed_config = functions.get_function_event_invoke_config(FunctionName=name)
    functions.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )
    functions.update_function_configuration(FunctionName=name, Environment={"Variables": broken})
    try:
        result = probe_trigger(s3, functions, settings.raw_bucket, settings.processed_bucket, wait_seconds=3)
        reported = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=20).get("Messages", [])
    finally:
        functions.update_function_configuration(FunctionName=name, Environment={"Variables": saved})
        functions.put_function_event_invoke_config(  # the deploy's, back
            FunctionName=name,
            MaximumRetryAttempts=deployed_config["MaximumRetryAttempts"],
            MaximumEventAgeInSeconds=deployed_config["MaximumEventAgeInSeconds"],
            DestinationConfig=deployed_config["DestinationConfig"],
        )
        sqs.delete_queue(QueueUrl=queue)
    assert not result.fired
    assert result.link == "function (it runs, but fails)", result
    assert "(NoSuchBucket)" in result.detail, result.detail
    assert len(reported) == 1, "the failed asynchronous attempt was not reported within 20 s"
    assert json.loads(reported[0]["Body"])["requestContext"]["condition"] == "RetriesExhausted"
    assert _keys(s3, settings.raw_bucket, PROBE_PREFIX) == set()


def test_destroy_removes_everything_deploy_created(deployed: Deployed) -> None:
    deployed.worker.send_signal(signal.SIGTERM)
    deployed.worker.wait(timeout=30)
    assert deployed.worker.returncode == 0, deployed.worker_log.read_text()
    assert "glue worker stopped" in deployed.worker_log.read_text()

    settings = deployed.settings
    during = inventory(settings)
    assert {settings.raw_bucket, settings.processed_bucket, settings.final_bucket} <= during.buckets
    assert settings.lambda_function_name in during.functions
    listened = processed_queue_name(settings)
    assert {names_of(settings).dead_letters, listened, f"{listened}-dlq"} <= during.queues
    assert settings.glue_database in during.databases

    destroyed = cli("destroy", "--force", cwd=deployed.home, env=deployed.env, timeout=120)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    after = inventory(settings)
    before = deployed.before
    assert after.buckets == before.buckets
    assert after.functions == before.functions
    assert after.roles == before.roles
    assert after.log_groups == before.log_groups
    # The dead-letter queue deploy made, the glue service's queues (the one it listens on and
    # its dead-letter queue) and the catalog database it registered tables in: gone too.
    assert after.queues == before.queues
    assert after.databases == before.databases
