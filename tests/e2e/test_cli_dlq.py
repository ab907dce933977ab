"""``csvpipe dlq list`` and ``csvpipe dlq replay`` as a user runs them, against a real local
stack started with ``csvpipe up --detach``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.aws import Clients
from pipeline.settings import Settings
from tests.conftest import SAMPLE, cli, running_stack, wait_for_record
from tests.functional.helpers import s3_event

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 60
DLQ = "csvpipe-raw-events-dlq"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], Settings]]:
    """A user's folder with a running stack on its own port; stopped at the end."""
    with running_stack(tmp_path_factory.mktemp("user")) as user:
        yield user.home, user.env, user.settings


def preprocess_record(clients: Clients, run: str, not_request: str | None = None) -> dict:
    """The run's preprocess record, once there is one not written by ``not_request``."""
    return wait_for_record(
        clients.s3,
        clients.settings.processed_bucket,
        run,
        "preprocess",
        seconds=DEADLINE_SECONDS,
        accept=lambda record: record["request_id"] != not_request,
    )


def test_list_replay_and_the_stack_processes_the_event_again(stack) -> None:
    home, env, settings = stack
    clients = Clients(settings)

    empty = cli("dlq", "list", cwd=home, env=env)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.strip() == "the dead-letter queue is empty"

    key = "movies/movies.csv"
    etag = clients.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=SAMPLE.read_bytes())["ETag"].strip(
        '"'
    )
    run = layout.run_id(settings.raw_bucket, key, etag)
    first = preprocess_record(clients, run)  # the upload's own event, processed by the stack
    # The same event, as SQS leaves it in the DLQ after the last failed attempt.
    body = json.dumps(s3_event(settings.raw_bucket, [(key, etag, SAMPLE.stat().st_size)]))
    dlq_url = clients.sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    clients.sqs.send_message(QueueUrl=dlq_url, MessageBody=body)

    listed = cli("dlq", "list", cwd=home, env=env)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if key in line]
    assert etag in row
    assert "1 event(s)" in listed.stdout

    replayed = cli("dlq", "replay", "--yes", cwd=home, env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.strip() == "re-drove 1 message(s) to csvpipe-raw-events"

    again = preprocess_record(clients, run, not_request=first["request_id"])
    assert again["status"] == "ok" and again["rows"]["in"] == 30
    assert cli("dlq", "list", cwd=home, env=env).stdout.strip() == "the dead-letter queue is empty"


def answering(answer: str, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI with ``answer`` typed on its stdin."""
    return cli(*args, cwd=cwd, env=env, timeout=120, stdin=answer)


def test_replay_asks_first_and_a_no_keeps_the_event(stack) -> None:
    home, env, settings = stack
    clients = Clients(settings)
    dlq_url = clients.sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    body = json.dumps(s3_event(settings.raw_bucket, [("movies/kept.csv", "0" * 32, 10)]))
    clients.sqs.send_message(QueueUrl=dlq_url, MessageBody=body)
    try:
        declined = answering("n\n", "dlq", "replay", cwd=home, env=env)
        closed = answering("", "dlq", "replay", cwd=home, env=env)
        still = cli("dlq", "list", cwd=home, env=env)
    finally:
        clients.sqs.purge_queue(QueueUrl=dlq_url)  # other tests expect an empty DLQ
    assert declined.returncode == 1
    assert declined.stdout.endswith(
        f"re-drive 1 events from {DLQ} to csvpipe-raw-events? [y/N]: nothing re-driven\n"
    )
    assert closed.returncode == 1
    assert closed.stderr.strip().splitlines() == [
        "error: no answer to the confirmation: pass --yes to re-drive without asking"
    ]
    assert "movies/kept.csv" in still.stdout


def test_replay_of_an_unknown_key_is_one_clear_line(stack) -> None:
    home, env, _settings = stack
    result = cli("dlq", "replay", "--key", "movies/nope.csv", "--yes", cwd=home, env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: no event for key 'movies/nope.csv' in the dead-letter queue {DLQ}"
    ]


def test_missing_dead_letter_queue_is_one_clear_line(stack) -> None:
    home, env, _settings = stack
    result = cli("--set", "queue_name=not-provisioned", "dlq", "list", cwd=home, env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: no dead-letter queue not-provisioned-dlq: start the stack with `csvpipe up --detach`"
    ]


def test_the_dead_letter_queue_is_still_there_after_down_and_up(tmp_path: Path) -> None:
    """Raise the limit, restart, replay: the events waiting in the DLQ survive the restart."""
    with running_stack(tmp_path) as user:
        clients = Clients(user.settings)
        dlq_url = clients.sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
        body = json.dumps(s3_event(user.settings.raw_bucket, [("movies/waiting.csv", "1" * 32, 10)]))
        clients.sqs.send_message(QueueUrl=dlq_url, MessageBody=body)
        assert cli("down", cwd=user.home, env=user.env).returncode == 0
        restarted = cli("up", "--detach", cwd=user.home, env=user.env)
        assert restarted.returncode == 0, restarted.stderr
        listed = cli("dlq", "list", cwd=user.home, env=user.env)
    assert listed.returncode == 0, listed.stderr
    assert "movies/waiting.csv" in listed.stdout and "1 event(s)" in listed.stdout
