"""Retries, the dead-letter queue, and pipeline.dlq's list and replay, against a real moto
server (which implements SQS's RedrivePolicy) and the real Lambda runtime."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emulators.event_source import EventSource
from emulators.lambda_runtime import LocalLambda
from emulators.stack import function_config
from pipeline import dlq, layout, runs
from pipeline.aws import Clients
from pipeline.errors import StackError
from pipeline.events import parse_message_body
from pipeline.provision import dead_letter_queue_name, provision
from pipeline.settings import Settings, load_settings
from tests.conftest import SAMPLE
from tests.functional.helpers import fixture_function, queue_depth, s3_event

# One try, a 2 s backoff, a retry, a 4 s backoff, the last retry, then the move to the DLQ on
# the next receive: about 7 s. The deadline only stops a broken path from hanging the suite.
RETRY_DEADLINE_SECONDS = 20
DEADLINE_SECONDS = 30


def dlq_url(clients: Clients) -> str:
    return clients.sqs.get_queue_url(QueueName=dead_letter_queue_name(clients.settings))["QueueUrl"]


def visible_and_hidden(clients: Clients, url: str) -> tuple[int, int]:
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def dead_letter(clients: Clients, key: str, etag: str = "0123456789abcdef0123456789abcdef") -> dict[str, Any]:
    """Put an S3 event for ``key`` in the DLQ, as SQS does after the last failed receive."""
    encoded = key.replace(" ", "+")
    body = json.dumps(s3_event(clients.settings.raw_bucket, [(encoded, etag, 10)]))
    clients.sqs.send_message(QueueUrl=dlq_url(clients), MessageBody=body)
    return json.loads(body)


@pytest.mark.slow
def test_failing_event_is_retried_twice_with_backoff_then_dead_lettered_then_replayed(
    clients: Clients, tmp_path: Path
) -> None:
    settings = clients.settings
    queue = provision(clients)
    started = time.monotonic()
    etag = clients.s3.put_object(
        Bucket=settings.raw_bucket, Key="movies/movies.csv", Body=SAMPLE.read_bytes()
    )["ETag"].strip('"')
    run = layout.run_id(settings.raw_bucket, "movies/movies.csv", etag)

    failing = fixture_function(tmp_path, "fail")
    source = EventSource(clients, queue.url, failing, on_result=lambda result: None)
    attempts: dict[int, tuple[float, dict[str, Any]]] = {}
    dead_lettered_at = None
    try:
        deadline = time.monotonic() + RETRY_DEADLINE_SECONDS
        while dead_lettered_at is None:
            assert time.monotonic() < deadline, f"not in the DLQ after {RETRY_DEADLINE_SECONDS} s: {attempts}"
            source.poll_once(wait_seconds=1)
            record = runs.read_stage_record(clients.s3, settings.processed_bucket, run, "invoke")
            if record is not None and record["attempt"] not in attempts:
                attempts[record["attempt"]] = (time.monotonic(), record)
            if queue_depth(clients, queue.dlq_url):
                dead_lettered_at = time.monotonic()
    finally:
        failing.stop()

    assert sorted(attempts) == [1, 2, 3]
    assert [attempts[n][1]["will_retry"] for n in (1, 2, 3)] == [True, True, False]
    assert {attempts[n][1]["error"] for n in (1, 2, 3)} == {"the handler failed on purpose"}
    # The backoff between attempts: 2 s, then 4 s (SQS cannot hand the message out sooner).
    assert attempts[2][0] - attempts[1][0] >= 1.9
    assert attempts[3][0] - attempts[2][0] >= 3.9
    # No backoff after the last attempt: the next receive moves it (not 8 s later).
    assert dead_lettered_at - attempts[3][0] < 5
    assert queue_depth(clients, queue.url) == 0
    assert queue_depth(clients, queue.dlq_url) == 1

    (letter,) = dlq.list_dead_letters(clients)
    assert (letter.bucket, letter.key, letter.etag) == (settings.raw_bucket, "movies/movies.csv", etag)
    assert letter.last_error == "RuntimeError: the handler failed on purpose"
    assert letter.receive_count == 3
    sent = datetime.fromisoformat(letter.sent_at.replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - sent).total_seconds()) < time.monotonic() - started + 2
    assert queue_depth(clients, queue.dlq_url) == 1  # listing consumed nothing

    assert dlq.replay(clients) == dlq.ReplayResult(replayed=1, kept=0)
    assert queue_depth(clients, queue.dlq_url) == 0
    assert dlq.list_dead_letters(clients) == []

    # The cause is fixed (the real handler now): the re-driven event goes through.
    working = LocalLambda(function_config(settings)).start()
    results: list[dict[str, Any]] = []
    source = EventSource(clients, queue.url, working, on_result=results.append)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not results:
            assert time.monotonic() < deadline, "the re-driven event was not processed"
            source.poll_once(wait_seconds=1)
    finally:
        working.stop()
    preprocess = runs.read_stage_record(clients.s3, settings.processed_bucket, run, "preprocess")
    assert [r["run_id"] for r in results] == [run]
    assert preprocess["status"] == "ok" and preprocess["rows"]["in"] == 30
    assert queue_depth(clients, queue.url) == 0
    assert queue_depth(clients, queue.dlq_url) == 0


@pytest.mark.slow
def test_listing_sees_every_message_once_and_leaves_them_visible(clients: Clients) -> None:
    keys = {f"movies/part {n:02d}.csv" for n in range(12)}  # more than one receive batch
    for key in keys:
        dead_letter(clients, key)

    first = dlq.list_dead_letters(clients)
    second = dlq.list_dead_letters(clients)

    assert sorted(letter.key for letter in first) == sorted(keys)
    assert {letter.key for letter in second} == keys and len(second) == 12
    assert all(letter.last_error is None for letter in first)  # no invocation recorded a failure
    assert visible_and_hidden(clients, dlq_url(clients)) == (12, 0)


@pytest.mark.slow
def test_replay_with_a_key_moves_only_that_objects_events(clients: Clients) -> None:
    settings = clients.settings
    main_url = clients.sqs.get_queue_url(QueueName=settings.queue_name)["QueueUrl"]
    clients.sqs.purge_queue(QueueUrl=main_url)  # S3's test event from provisioning
    dead_letter(clients, "movies/a b.csv")
    dead_letter(clients, "movies/other.csv")

    result = dlq.replay(clients, key="movies/a b.csv")

    assert result == dlq.ReplayResult(replayed=1, kept=1)
    assert [letter.key for letter in dlq.list_dead_letters(clients)] == ["movies/other.csv"]
    (message,) = clients.sqs.receive_message(QueueUrl=main_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)[
        "Messages"
    ]
    assert [record.key for record in parse_message_body(message["Body"])] == ["movies/a b.csv"]


@pytest.mark.slow
def test_a_message_that_is_not_an_s3_event_is_listed_and_kept(clients: Clients) -> None:
    clients.sqs.send_message(QueueUrl=dlq_url(clients), MessageBody="not json")

    (letter,) = dlq.list_dead_letters(clients)

    assert letter.key is None
    assert letter.last_error == "SQS message is not JSON: cannot read an S3 event from it"
    assert visible_and_hidden(clients, dlq_url(clients)) == (1, 0)


@pytest.mark.slow
def test_empty_dead_letter_queue(clients: Clients) -> None:
    assert dlq.list_dead_letters(clients) == []
    assert dlq.replay(clients) == dlq.ReplayResult(replayed=0, kept=0)


def test_missing_dead_letter_queue_is_one_clear_line(settings: Settings) -> None:
    clients = Clients(settings)  # nothing provisioned: the stack was never started
    expected = f"no dead-letter queue {settings.queue_name}-dlq: start the stack with `csvpipe up --detach`"
    with pytest.raises(StackError) as listed:
        dlq.list_dead_letters(clients)
    assert str(listed.value) == expected
    clients.sqs.create_queue(QueueName=settings.queue_name)
    with pytest.raises(StackError) as replayed:
        dlq.replay(clients)
    assert str(replayed.value) == expected


def invocation_record(bucket: str, key: str, etag: str, error: dict[str, str]) -> str:
    """What Lambda sends its on-failure destination after the last failed attempt."""
    function = "arn:aws:lambda:us-east-1:123456789012:function:csvpipe-preprocess"
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": "2026-12-07T18:00:00.000Z",
            "requestContext": {
                "requestId": "e4b4c2a2-0000-4000-8000-000000000000",
                "functionArn": f"{function}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": s3_event(bucket, [(key, etag, 10)]),
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": error,
        }
    )


@pytest.mark.slow
def test_a_deployed_pipelines_dead_letters_are_the_functions_failed_invocations(
    emulator: Any, tmp_path: Path, unique: str
) -> None:
    """On a deployed profile the dead-letter queue is the function's on-failure destination
    (``csvpipe deploy`` names it from the stack): its messages are invocation records, listed
    with the error they carry."""
    deployed = load_settings(
        profile="ministack",
        environ={},
        config_path=None,
        overrides={
            "endpoint_url": emulator.endpoint,
            "data_dir": str(tmp_path / "data"),
            "stack_name": f"s{unique}",
            "raw_bucket": f"raw-{unique}",
            "processed_bucket": f"processed-{unique}",
        },
    )
    clients = Clients(deployed)
    path = dlq.dead_letter_path(deployed)
    queue = f"s{unique}-preprocess-dlq"
    assert path == dlq.DeadLetterPath(queue, deployed.lambda_function_name, invokes=True)
    with pytest.raises(StackError) as missing:
        dlq.list_dead_letters(clients)
    assert str(missing.value) == (
        f"no dead-letter queue {queue}: is the pipeline deployed (`csvpipe deploy`) at {emulator.endpoint}?"
    )
    url = clients.sqs.create_queue(QueueName=queue)["QueueUrl"]
    reason = "An error occurred (InvalidRequest) when calling the GetObject operation"
    body = invocation_record(
        deployed.raw_bucket, "movies/a+b.csv", "0" * 32, {"errorType": "ClientError", "errorMessage": reason}
    )
    clients.sqs.send_message(QueueUrl=url, MessageBody=body)
    clients.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"requestPayload": {"Records": "?"}}))

    letters = dlq.list_dead_letters(clients)

    assert {(letter.key, letter.etag, letter.last_error) for letter in letters} == {
        ("movies/a b.csv", "0" * 32, f"ClientError: {reason}"),
        (None, None, "not an S3 event: expected a JSON object with a 'Records' list"),
    }
    assert visible_and_hidden(clients, url) == (2, 0)
