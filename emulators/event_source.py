"""The S3 -> SQS -> Lambda event source mapping of the local profile.

Why: moto's own Lambda needs Docker. S3 notifies an SQS queue instead; this poller receives the
events in batches, invokes the local Lambda with each event as S3 would send it, and deletes a
message only after its invocation succeeded. A failed invocation is retried with backoff; after
three receives SQS moves the message to the dead-letter queue.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from emulators.lambda_runtime import Invocation, LocalLambda
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.errors import UserInputError
from pipeline.events import parse_message_body
from pipeline.provision import MAX_RECEIVES

log = logging.getLogger("csvpipe.event_source")
MAX_BATCH = 10
RETRY_BASE_SECONDS = 2


class EventSource:
    def __init__(
        self,
        clients: Clients,
        queue_url: str,
        function: LocalLambda,
        on_result: Callable[[dict[str, Any]], None],
    ) -> None:
        self.clients = clients
        self.queue_url = queue_url
        self.function = function
        self.on_result = on_result
        self.stopping = threading.Event()

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive one batch and handle it; the number of messages handled."""
        response = self.clients.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=MAX_BATCH,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        for message in messages:
            if self.stopping.is_set():
                break
            self._handle(message)
        return len(messages)

    def _handle(self, message: dict[str, Any]) -> None:
        try:
            records = parse_message_body(message["Body"])
        except UserInputError as exc:
            log.warning("dropping a message that is not an S3 event: %s", exc)
            self._delete(message)
            return
        if not records:  # s3:TestEvent
            self._delete(message)
            return
        invocation = self.function.invoke(json.loads(message["Body"]))
        if invocation.ok:
            self._delete(message)
            for result in (invocation.payload or {}).get("records", []):
                self.on_result(result)
            return
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        self._record_failure(records, invocation, attempt)
        # Back off before a retry; after the last attempt there is nothing to wait for: visible
        # now, the next receive makes SQS move it to the dead-letter queue.
        backoff = RETRY_BASE_SECONDS**attempt if attempt < MAX_RECEIVES else 0
        self.clients.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=backoff
        )

    def _record_failure(self, records: list[Any], invocation: Invocation, attempt: int) -> None:
        log.error(
            "invocation %s failed (attempt %d of %d): %s: %s",
            invocation.request_id,
            attempt,
            MAX_RECEIVES,
            invocation.error_type,
            invocation.error_message,
        )
        for record in records:
            run = layout.run_id(record.bucket, record.key, record.etag)
            runs.write_stage_record(
                self.clients.s3,
                self.clients.settings.processed_bucket,
                run,
                "invoke",
                {
                    "status": "failed",
                    "source": {"bucket": record.bucket, "key": record.key, "etag": record.etag},
                    "request_id": invocation.request_id,
                    "error_type": invocation.error_type,
                    "error": invocation.error_message,
                    "max_memory_mb": invocation.max_memory_mb,
                    "memory_mb": self.function.config.memory_mb,
                    "attempt": attempt,
                    "max_attempts": MAX_RECEIVES,
                    "will_retry": attempt < MAX_RECEIVES,
                    "at": runs.now_iso(),
                },
            )

    def _delete(self, message: dict[str, Any]) -> None:
        self.clients.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def run(self) -> None:
        """Poll until ``stop()``; errors reaching the emulator are logged, not fatal."""
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("event source: polling failed; retrying")
                self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()
