"""The Glue stand-in as a service (docker compose's `glue` service): it learns of preprocessed
files from the processed bucket's notifications, then crawls and transforms, as the embedded
stack does in-process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from emulators.glue_worker import GlueWorker
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.preprocess.handler import preprocess_file
from pipeline.preprocess.rules import load_rules
from pipeline.provision import ensure_processed_queue
from pipeline.settings import PACKAGED_RULES
from tests.conftest import SAMPLE, SAMPLE_GENRE_COUNTS

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow


def test_a_preprocess_record_sets_off_crawl_and_transforms(clients: Clients, tmp_path: Path) -> None:
    settings = clients.settings
    queue = ensure_processed_queue(clients)
    worker = GlueWorker(clients, queue.url, tmp_path / "work")
    # What the Lambda leaves in the processed bucket, wherever it ran.
    processed = preprocess_file(
        SAMPLE, "movies/movies.csv", load_rules(PACKAGED_RULES, "movies"), tmp_path, 256
    )
    clients.s3.upload_file(str(processed.output), settings.processed_bucket, "movies/movies.csv")
    runs.write_stage_record(
        clients.s3, settings.processed_bucket, "run1", "preprocess", {"status": "ok", "dataset": "movies"}
    )

    deadline = time.monotonic() + 30
    transform = None
    while transform is None:
        assert time.monotonic() < deadline, "no transform record within 30 s"
        worker.poll_once(wait_seconds=1)
        transform = runs.read_stage_record(clients.s3, settings.processed_bucket, "run1", "transform")

    crawl = runs.read_stage_record(clients.s3, settings.processed_bucket, "run1", "crawl")
    assert crawl is not None and crawl["status"] == "ok" and crawl["table"] == "movies"
    assert transform["status"] == "ok", transform
    body = clients.s3.get_object(Bucket=settings.final_bucket, Key=layout.final_data_key("movies_per_genre"))
    lines = body["Body"].read().decode().splitlines()[1:]
    assert {g: int(n) for g, n in (line.split(",") for line in lines)} == SAMPLE_GENRE_COUNTS
    # Done work is deleted from the queue; records of other stages notify nothing.
    assert worker.poll_once(wait_seconds=1) == 0
    assert queued(clients, queue.url) == 0


def test_a_message_that_is_not_an_s3_event_is_dropped(clients: Clients, tmp_path: Path) -> None:
    queue = ensure_processed_queue(clients)
    clients.sqs.send_message(QueueUrl=queue.url, MessageBody="not json")
    worker = GlueWorker(clients, queue.url, tmp_path / "work")
    assert worker.poll_once(wait_seconds=1) >= 1  # with S3's test event, sent on configuration
    assert queued(clients, queue.url) == 0  # deleted, not left to come back


def queued(clients: Clients, url: str) -> int:
    """Messages still on the queue, handed out or not."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)
