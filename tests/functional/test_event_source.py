"""S3 -> SQS -> local Lambda -> Glue stand-in, against the real emulator."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from emulators import memory
from emulators.event_source import EventSource
from emulators.glue_jobs import after_preprocess
from emulators.lambda_runtime import FunctionConfig, LocalLambda
from emulators.stack import function_config
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.provision import provision
from pipeline.settings import Settings
from tests.conftest import REPO, SAMPLE, SAMPLE_GENRE_COUNTS
from tests.functional.helpers import fixture_function, queue_depth

DEADLINE_SECONDS = 30


def poll_until(source: EventSource, done, what: str) -> None:
    """Drive the event source until ``done()``; the deadline keeps a broken path from hanging."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        source.poll_once(wait_seconds=1)


@pytest.mark.slow
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
    assert queue_depth(clients, source.queue_url) == 0  # deleted after the successful invocation
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_provisioning_is_idempotent(settings: Settings) -> None:
    clients = Clients(settings)
    first = provision(clients)
    second = provision(clients)
    assert first == second
    buckets = {b["Name"] for b in clients.s3.list_buckets()["Buckets"]}
    assert {settings.raw_bucket, settings.processed_bucket, settings.final_bucket} <= buckets
    config = clients.s3.get_bucket_notification_configuration(Bucket=settings.raw_bucket)
    assert len(config["QueueConfigurations"]) == 2


def probe(settings: Settings, tmp_path: Path, overlap: Path, n: int) -> LocalLambda:
    """An environment of a function that reports how many invocations ran at once with it."""
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


def probed_source(
    settings: Settings, tmp_path: Path
) -> tuple[Clients, list[LocalLambda], list[int], EventSource]:
    """Two probe environments behind an event source, S3's test event (sent when the
    notification was set) already handled; ``seen`` gets each invocation's overlap."""
    clients = Clients(settings)
    queue = provision(clients)
    overlap = tmp_path / "running"
    overlap.mkdir()
    functions = [probe(settings, tmp_path, overlap, n) for n in range(2)]
    seen: list[int] = []
    source = EventSource(
        clients, queue.url, functions, on_result=lambda result: seen.append(result["overlap"])
    )
    source.poll_once(wait_seconds=1)
    return clients, functions, seen, source


def upload_small_files(clients: Clients, count: int) -> None:
    for i in range(count):
        clients.s3.put_object(Bucket=clients.settings.raw_bucket, Key=f"m/{i}.csv", Body=b"id\n1\n")


def stop(source: EventSource, functions: list[LocalLambda]) -> None:
    source.stop()
    for function in functions:
        function.stop()


@pytest.mark.slow
def test_concurrency_is_bounded_by_the_execution_environments(settings: Settings, tmp_path: Path) -> None:
    clients, functions, seen, source = probed_source(settings, tmp_path)
    try:
        upload_small_files(clients, 8)
        deadline = time.monotonic() + 120
        while len(seen) < 8:
            assert time.monotonic() < deadline, f"only {len(seen)} of 8 invocations within 120 s"
            source.poll_once(wait_seconds=1)
    finally:
        stop(source, functions)
    assert max(seen) == 2  # two at once, never more


def counted_deletes(clients: Clients) -> list[tuple[str, int]]:
    """Each delete request ``clients.sqs`` makes from now on, with how many messages it names
    (boto3's own event hooks)."""
    requests: list[tuple[str, int]] = []
    hooks = clients.sqs.meta.events
    hooks.register("before-parameter-build.sqs.DeleteMessage", lambda **_: requests.append(("single", 1)))
    hooks.register(
        "before-parameter-build.sqs.DeleteMessageBatch",
        lambda params, **_: requests.append(("batch", len(params["Entries"]))),
    )
    return requests


def wait_for_empty_queue(clients: Clients, url: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while queue_depth(clients, url):
        assert time.monotonic() < deadline, f"messages left on the queue after {DEADLINE_SECONDS} s"
        time.sleep(0.1)  # polling the emulator's count; bounded by the deadline


@pytest.mark.slow
def test_handled_messages_are_deleted_in_batches(settings: Settings, tmp_path: Path) -> None:
    clients, functions, seen, source = probed_source(settings, tmp_path)
    try:
        upload_small_files(clients, 8)
        deletes = counted_deletes(clients)
        handled = source.poll_once(wait_seconds=1)
        # Before stop(), which sends whatever is pending.
        assert handled == len(seen) > 1  # S3 queued the events before the uploads returned
        assert {kind for kind, _ in deletes} == {"batch"}
        assert sum(size for _, size in deletes) == handled  # each handled message deleted once
        assert len(deletes) < handled  # several at a time: two environments finish together
        assert queue_depth(clients, source.queue_url) == 0
    finally:
        stop(source, functions)


@pytest.mark.slow
def test_run_keeps_the_bound_and_handles_every_message_once(settings: Settings, tmp_path: Path) -> None:
    """The stack's loop (``run``): it receives only what idle environments can take, so never
    more than two at once here, and each event is invoked once and deleted, in batches, without
    waiting for the source to stop."""
    clients, functions, seen, source = probed_source(settings, tmp_path)
    deletes = counted_deletes(clients)
    poller = threading.Thread(target=source.run, daemon=True)
    try:
        upload_small_files(clients, 12)  # more than one receive's worth
        poller.start()
        deadline = time.monotonic() + 120
        while len(seen) < 12 or source.busy():
            assert time.monotonic() < deadline, f"only {len(seen)} of 12 invocations within 120 s"
            time.sleep(0.1)  # polling the test's own list; bounded by the deadline
        wait_for_empty_queue(clients, source.queue_url)
        assert {kind for kind, _ in deletes} == {"batch"}
        assert sum(size for _, size in deletes) == 12  # each handled message deleted once
    finally:
        stop(source, functions)
        poller.join(timeout=10)
    assert len(seen) == 12 and max(seen) == 2


@pytest.mark.slow
def test_one_file_at_a_time_reuses_the_warm_environment(settings: Settings, tmp_path: Path) -> None:
    """As Lambda reuses a warm environment: a second one starts only when the first is busy."""
    clients, functions, seen, source = probed_source(settings, tmp_path)
    try:
        for i in range(3):
            clients.s3.put_object(Bucket=settings.raw_bucket, Key=f"m/{i}.csv", Body=b"id\n1\n")
            poll_until(source, lambda n=i: len(seen) > n, f"invocation {i}")
    finally:
        source.stop()
        pids = [function.pid for function in functions]
        for function in functions:
            function.stop()
    assert pids[0] is not None and pids[1] is None  # the second environment never started
