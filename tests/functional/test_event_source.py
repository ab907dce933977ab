"""S3 -> SQS -> local Lambda -> Glue stand-in, against the real emulator."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from emulators import memory
from emulators.event_source import EventSource
from emulators.glue_jobs import after_preprocess
from emulators.lambda_runtime import LocalLambda
from emulators.stack import function_config
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.provision import provision
from pipeline.settings import Settings
from tests.conftest import REPO, SAMPLE, SAMPLE_GENRE_COUNTS
from tests.functional.test_lambda_runtime import fixture_function

DEADLINE_SECONDS = 30


def queue_depth(clients: Clients, url: str) -> int:
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def poll_until(source: EventSource, done, what: str) -> None:
    """Drive the event source until ``done()``; the deadline keeps a broken path from hanging."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        source.poll_once(wait_seconds=1)


def test_upload_flows_to_final_output(settings: Settings, tmp_path: Path) -> None:
    clients = Clients(settings)
    queue = provision(clients)
    function = LocalLambda(function_config(settings)).start()
    results = []

    def on_result(result: dict) -> None:
        results.append(result)
        after_preprocess(clients, result, tmp_path / "work")

    source = EventSource(clients, queue.url, function, on_result)
    try:
        etag = clients.s3.put_object(
            Bucket=settings.raw_bucket, Key="movies/movies.csv", Body=SAMPLE.read_bytes()
        )["ETag"].strip('"')
        run = layout.run_id(settings.raw_bucket, "movies/movies.csv", etag)
        poll_until(
            source,
            lambda: (
                runs.read_stage_record(clients.s3, settings.processed_bucket, run, "transform") is not None
            ),
            "the transform",
        )
    finally:
        function.stop()

    assert [r["run_id"] for r in results] == [run]
    assert queue_depth(clients, queue.url) == 0  # deleted after the successful invocation
    crawl = runs.read_stage_record(clients.s3, settings.processed_bucket, run, "crawl")
    assert crawl["status"] == "ok" and crawl["table"] == "movies"
    assert crawl["columns"] == [
        {"name": "movie_id", "type": "bigint"},
        {"name": "title", "type": "string"},
        {"name": "genre", "type": "string"},
        {"name": "year", "type": "bigint"},  # taken from the titles
    ]
    final = (
        clients.s3.get_object(Bucket=settings.final_bucket, Key="movies_per_genre/movies_per_genre.csv")[
            "Body"
        ]
        .read()
        .decode()
    )
    counts = dict(line.split(",") for line in final.splitlines()[1:])
    assert {genre: int(n) for genre, n in counts.items()} == SAMPLE_GENRE_COUNTS


def test_failed_invocation_keeps_the_message_and_records_the_error(
    settings: Settings, tmp_path: Path
) -> None:
    clients = Clients(settings)
    queue = provision(clients)
    function = fixture_function(tmp_path, "fail")
    source = EventSource(clients, queue.url, function, on_result=lambda result: None)
    try:
        etag = clients.s3.put_object(Bucket=settings.raw_bucket, Key="movies/x.csv", Body=b"a,b\n1,2\n")[
            "ETag"
        ].strip('"')
        run = layout.run_id(settings.raw_bucket, "movies/x.csv", etag)
        poll_until(
            source,
            lambda: runs.read_stage_record(clients.s3, settings.processed_bucket, run, "invoke") is not None,
            "the failure record",
        )
    finally:
        function.stop()
    record = runs.read_stage_record(clients.s3, settings.processed_bucket, run, "invoke")
    assert record["error_type"] == "RuntimeError"
    assert record["attempt"] == 1 and record["will_retry"] is True
    assert record["memory_mb"] == 256
    if memory.available():
        assert 0 < record["max_memory_mb"] < 256
    assert queue_depth(clients, queue.url) == 1  # kept for a retry, not deleted


@pytest.mark.parametrize("key", ["notes.txt", "movies/data.json"])
def test_only_csv_objects_raise_events(settings: Settings, key: str) -> None:
    clients = Clients(settings)
    queue = provision(clients)
    clients.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=b"x")
    clients.s3.put_object(Bucket=settings.raw_bucket, Key="movies/y.csv.gz", Body=b"x")
    messages = clients.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    bodies = [m["Body"] for m in messages if "TestEvent" not in m["Body"]]
    assert len(bodies) == 1 and "y.csv.gz" in bodies[0]


def test_provisioning_is_idempotent(settings: Settings) -> None:
    clients = Clients(settings)
    first = provision(clients)
    second = provision(clients)
    assert first == second
    buckets = {b["Name"] for b in clients.s3.list_buckets()["Buckets"]}
    assert {settings.raw_bucket, settings.processed_bucket, settings.final_bucket} <= buckets
    config = clients.s3.get_bucket_notification_configuration(Bucket=settings.raw_bucket)
    assert len(config["QueueConfigurations"]) == 2


def test_concurrency_is_bounded_by_the_execution_environments(settings: Settings, tmp_path: Path) -> None:
    from emulators.lambda_runtime import FunctionConfig

    clients = Clients(settings)
    queue = provision(clients)
    overlap = tmp_path / "running"
    overlap.mkdir()

    def environment(n: int) -> LocalLambda:
        return LocalLambda(
            FunctionConfig(
                name=f"probe-{n}",
                handler="tests.functional.lambda_functions.count_overlap",
                timeout=30,
                memory_mb=256,
                region=settings.region,
                environment={"PYTHONPATH": str(REPO), "OVERLAP_DIR": str(overlap)},
                tmp_dir=tmp_path / "tmp",
                log_path=tmp_path / "lambda.log",
            )
        ).start()

    functions = [environment(n) for n in range(2)]
    seen: list[int] = []
    source = EventSource(
        clients, queue.url, functions, on_result=lambda result: seen.append(result["overlap"])
    )
    try:
        for i in range(8):
            clients.s3.put_object(Bucket=settings.raw_bucket, Key=f"m/{i}.csv", Body=b"id\n1\n")
        deadline = time.monotonic() + 120
        while len(seen) < 8:
            assert time.monotonic() < deadline, f"only {len(seen)} of 8 invocations within 120 s"
            source.poll_once(wait_seconds=1)
    finally:
        source.stop()
        for function in functions:
            function.stop()
    assert max(seen) == 2  # two at once, never more
