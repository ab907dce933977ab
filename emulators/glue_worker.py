"""The Glue stand-in as a service of its own: crawl and transform after each preprocessed file,
learning of them from the processed bucket's notifications.

Why: in the embedded stack the event source calls the Glue stand-in right after each Lambda
invocation, in one process. With docker compose the Lambda runs inside LocalStack (or another
emulator), so the stand-in cannot be told directly; it listens instead. Each preprocess run
record written to ``_runs/<run>/preprocess.json`` notifies a queue; this worker reads the record
and runs exactly what the embedded stack runs (``glue_jobs.after_preprocess``). A message is
deleted only after its work is done, so a worker killed mid-way redoes it when it restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulators.glue_jobs import after_preprocess
from pipeline import runs
from pipeline.aws import Clients
from pipeline.errors import UserInputError
from pipeline.events import parse_message_body

log = logging.getLogger("csvpipe.glue_worker")
MAX_BATCH = 10


class GlueWorker:
    def __init__(self, clients: Clients, queue_url: str, work_dir: Path) -> None:
        self.clients = clients
        self.queue_url = queue_url
        self.work_dir = work_dir

    def poll_once(self, wait_seconds: int = 5) -> int:
        """Receive one batch and handle it; the number of messages handled."""
        messages = self.clients.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=MAX_BATCH, WaitTimeSeconds=wait_seconds
        ).get("Messages", [])
        for message in messages:
            self._handle(message)
        return len(messages)

    def _handle(self, message: dict[str, Any]) -> None:
        try:
            records = parse_message_body(message["Body"])
        except UserInputError as exc:  # not an S3 event: nothing will ever make it one
            log.warning("dropping a message that is not an S3 event: %s", exc)
            records = []
        try:
            for created in records:
                record = runs.get_json(self.clients.s3, created.bucket, created.key)
                if record is None:
                    log.warning("run record %s is gone; nothing to crawl", created.key)
                    continue
                after_preprocess(self.clients, record, self.work_dir)
        except Exception:
            # Left on the queue: it comes back after its visibility timeout, and goes to the
            # dead-letter queue after the last try.
            log.exception("crawl and transform failed for message %s", message.get("MessageId"))
            return
        self.clients.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def run(self, should_stop: Callable[[], bool], wait_seconds: int = 5) -> None:
        while not should_stop():
            self.poll_once(wait_seconds)
