"""The S3 -> SQS -> Lambda event source mapping of the local profile.

Why: moto's own Lambda needs Docker. S3 notifies an SQS queue instead; this poller receives the
events in batches, invokes the local Lambda with each event as S3 would send it, and deletes a
message only after its invocation succeeded. A failed invocation is retried with backoff; after
three receives SQS moves the message to the dead-letter queue.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    """Invokes ``functions`` (one execution environment each, so at most that many invocations
    at a time: Lambda's reserved concurrency) with the queue's events."""

    def __init__(
        self,
        clients: Clients,
        queue_url: str,
        functions: LocalLambda | Sequence[LocalLambda],
        on_result: Callable[[dict[str, Any]], None],
    ) -> None:
        self.clients = clients
        self.queue_url = queue_url
        self.functions = [functions] if isinstance(functions, LocalLambda) else list(functions)
        self.function = self.functions[0]
        self.on_result = on_result
        self.stopping = threading.Event()
        self._idle: queue.Queue[LocalLambda] = queue.Queue()
        for function in self.functions:
            self._idle.put(function)
        self._pool = ThreadPoolExecutor(max_workers=len(self.functions), thread_name_prefix="invoke")

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive one batch and handle it; the number of messages handled."""
        response = self.clients.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=MAX_BATCH,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        for done in [self._pool.submit(self._on_idle_function, message) for message in messages]:
            done.result()
        return len(messages)

    def _on_idle_function(self, message: dict[str, Any]) -> None:
        if self.stopping.is_set():
            return  # left on the queue: handed out again after its visibility timeout
        function = self._idle.get()
        try:
            self._handle(message, function)
        finally:
            self._idle.put(function)

    def _handle(self, message: dict[str, Any], function: LocalLambda) -> None:
        try:
            records = parse_message_body(message["Body"])
        except UserInputError as exc:
            log.warning("dropping a message that is not an S3 event: %s", exc)
            self._delete(message)
            return
        if not records:  # s3:TestEvent
            self._delete(message)
            return
        invocation = function.invoke(json.loads(message["Body"]))
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
        self._pool.shutdown(wait=False, cancel_futures=True)
